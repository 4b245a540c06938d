//! Every read the HTTP routes make, on PostgreSQL: the same rows, order, paging positions and
//! errors as the SQLite reads (`crate::ops::*`, [`super::PointReader`],
//! `inventory_shared::outbox::list_events`), so no response byte depends on the backend.
//!
//! What the SQL does differently from SQLite's, and why:
//! - **Ids are `uuid` columns**, selected as text (`id::text`, the lower-case hyphenated form
//!   the domain keeps, whose text order is the `uuid` order). A page position carries an id as
//!   text that SQLite compares as text; here it becomes a `uuid` bound that selects exactly the
//!   rows SQLite's text comparison selects ([`floor`], [`ceiling`]), also for a cursor whose id
//!   is not a UUID (a cursor is checksummed, not validated as a UUID; see `http/cursor.rs`).
//! - **Store ids sort with `COLLATE "C"`** (byte order, SQLite's `BINARY`): a database whose
//!   default collation is a language's (`en_US.UTF-8`) would sort `MAD-002` and `MAD001`, or
//!   `a` and `B`, the other way round. Equality needs no collation.
//! - **Timestamps are `timestamptz`**, rendered with `time::to_db`, SQLite's stored text. A
//!   cursor's instant (checked by the cursor to be exactly that text) is bound as
//!   `timestamptz`, which orders like the text.
//! - **One statement where SQLite used a transaction or two statements**: a product's stock page
//!   with its totals and the product's existence, a page of products with its total, a hold
//!   with its lines: one snapshot and one round trip each.
//! - **Counters are slotted**: the reservation counts are `SUM(n)` per status.
//! - The budget is `statement_timeout` on every read connection ([`open_read_pool`]); a
//!   cancelled statement (57014) is `OpError::QueryTimeout`, as SQLite's interrupt is.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use inventory_shared::db::{MIN_ACQUIRE_WAIT, ReadBudget};
use inventory_shared::outbox::{EventFilter, StoredEvent};
use inventory_shared::time::{self, Timestamp};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::domain::{
    HoldId, ProductId, ProductRow, Quantity, ReservationId, ReservationRow, ReservationStatus, Sku,
    StockRow, StoreId,
};
use crate::ops::holds::Hold;
use crate::ops::page::{AfterAvailable, AfterInstant, AfterText, Page, fetch_count};
use crate::ops::products::ProductsFrom;
use crate::ops::stock_lists::{LOW_STOCK_INDEXED_BELOW, ProductStockPage};
use crate::ops::{OpError, OpResult};
use crate::store::postgres::rows::{
    hold_row_prefixed, product_row, reservation_row, select_product, select_reservation, stock_row,
};

#[cfg(test)]
mod tests;

/// How long `/health` waits for its connection (and for its ping's answer).
pub const HEALTH_WAIT: Duration = Duration::from_secs(1);

/// The read pool: `size` connections, each with `statement_timeout` = the budget (sent at
/// connect, so no statement runs without it), so a statement still running at the budget is
/// cancelled (57014, answered [`OpError::QueryTimeout`]). Waiting for a free connection is
/// bounded like SQLite's read pool (the budget, at least [`MIN_ACQUIRE_WAIT`]); running out
/// of it is a `QUERY_TIMEOUT` too.
pub async fn open_read_pool(url: &str, size: u32, budget: ReadBudget) -> anyhow::Result<PgPool> {
    // 0 would switch the timeout off on PostgreSQL; SQLite's 0 interrupts at once.
    let millis = budget.0.as_millis().clamp(1, i32::MAX as u128);
    let options = PgConnectOptions::from_str(url)
        .context("parsing the PostgreSQL URL")?
        .options([("statement_timeout", millis.to_string())]);
    PgPoolOptions::new()
        .max_connections(size.max(1))
        .min_connections(1)
        .acquire_timeout(budget.0.max(MIN_ACQUIRE_WAIT))
        .connect_with(options)
        .await
        .context("opening the PostgreSQL read connections")
}

/// The `/health` connection: one of its own (a health check never queues behind slow lists),
/// found or opened within [`HEALTH_WAIT`], so that while PostgreSQL is down `/health` answers
/// in about a second.
pub async fn open_health(url: &str) -> anyhow::Result<PgPool> {
    let millis = HEALTH_WAIT.as_millis().to_string();
    let options = PgConnectOptions::from_str(url)
        .context("parsing the PostgreSQL URL")?
        .options([("statement_timeout", millis)]);
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(HEALTH_WAIT)
        .connect_with(options)
        .await
        .context("opening the health check's PostgreSQL connection")
}

/// Answers whether PostgreSQL responds (for `/health`), within [`HEALTH_WAIT`] once the
/// connection is there: a server that accepts but never answers is down too.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    match tokio::time::timeout(HEALTH_WAIT * 2, ping).await {
        Ok(answer) => answer.map(|_| ()),
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "PostgreSQL did not answer the health check in time",
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Point reads.

/// One reservation, or [`OpError::ReservationNotFound`] (`ops::reservations::get_reservation`).
pub async fn reservation(db: &PgPool, id: &ReservationId) -> OpResult<ReservationRow> {
    sqlx::query(concat!(select_reservation!(), " WHERE id = $1::uuid"))
        .bind(id.as_str())
        .try_map(|row: PgRow| reservation_row(&row))
        .fetch_optional(db)
        .await?
        .ok_or_else(|| OpError::ReservationNotFound(id.as_str().to_owned()))
}

/// One hold with its lines in (product, store) order, or [`OpError::HoldNotFound`]
/// (`ops::holds::get_hold`). One statement: the hold joined to its lines (SQLite reads them
/// in two statements on one connection).
pub async fn hold(db: &PgPool, id: &HoldId) -> OpResult<Hold> {
    let rows = sqlx::query(
        "SELECT h.id::text AS h_id, h.customer_id AS h_customer_id, h.status AS h_status, \
                h.expires_at AS h_expires_at, h.unfulfilled AS h_unfulfilled, \
                h.created_at AS h_created_at, h.updated_at AS h_updated_at, \
                r.id::text AS id, r.product_id::text AS product_id, r.store_id, \
                r.customer_id, r.quantity, r.status, r.expires_at, r.created_at, \
                r.updated_at, r.hold_id::text AS hold_id \
         FROM holds AS h LEFT JOIN reservations AS r ON r.hold_id = h.id \
         WHERE h.id = $1::uuid \
         ORDER BY r.product_id, r.store_id COLLATE \"C\"",
    )
    .bind(id.as_str())
    .fetch_all(db)
    .await?;
    let Some(first) = rows.first() else {
        return Err(OpError::HoldNotFound(id.as_str().to_owned()));
    };
    let hold = hold_row_prefixed(first, "h_")?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<String>, _>("id")?.is_some() {
            lines.push(reservation_row(row)?);
        }
    }
    Ok(Hold { hold, lines })
}

/// One stock row, or [`OpError::StockNotFound`] whether or not the product exists, as on
/// SQLite (`ops::stock::get_stock`).
pub async fn stock(db: &PgPool, product_id: &ProductId, store_id: &StoreId) -> OpResult<StockRow> {
    sqlx::query(
        "SELECT product_id::text AS product_id, store_id, quantity, reserved, version, \
                updated_at \
         FROM stock WHERE product_id = $1::uuid AND store_id = $2",
    )
    .bind(product_id.as_str())
    .bind(store_id.as_str())
    .try_map(|row: PgRow| stock_row(&row))
    .fetch_optional(db)
    .await?
    .ok_or_else(|| OpError::stock_not_found(product_id, store_id))
}

/// One product by id, or [`OpError::ProductNotFound`] (`ops::products::product_by_id`).
pub async fn product(db: &PgPool, id: &ProductId) -> OpResult<ProductRow> {
    sqlx::query(concat!(select_product!(), " WHERE id = $1::uuid"))
        .bind(id.as_str())
        .try_map(|row: PgRow| product_row(&row))
        .fetch_optional(db)
        .await?
        .ok_or_else(|| OpError::ProductNotFound(id.as_str().to_owned()))
}

/// One product by SKU, or [`OpError::SkuNotFound`] (`ops::products::product_by_sku`).
pub async fn product_by_sku(db: &PgPool, sku: &Sku) -> OpResult<ProductRow> {
    sqlx::query(concat!(select_product!(), " WHERE sku = $1"))
        .bind(sku.as_str())
        .try_map(|row: PgRow| product_row(&row))
        .fetch_optional(db)
        .await?
        .ok_or_else(|| OpError::SkuNotFound(sku.as_str().to_owned()))
}

// ---------------------------------------------------------------------------------------------
// The audit log and the counters.

/// Up to `limit` events after the filter's `after_seq`, in `seq` order
/// (`inventory_shared::outbox::list_events`): payloads are the stored text, byte for byte.
pub async fn events(db: &PgPool, filter: &EventFilter, limit: i64) -> OpResult<Vec<StoredEvent>> {
    Ok(inventory_shared::outbox::postgres::list_events(db, filter, limit).await?)
}

/// Reservations per status, in one store or all, statuses with none left out, in status order
/// (`ops::reservations::stats`): the slotted counters summed.
pub async fn reservation_stats(
    db: &PgPool,
    store_id: Option<&StoreId>,
) -> OpResult<Vec<(ReservationStatus, i64)>> {
    let rows: Vec<(String, i64)> = match store_id {
        Some(store_id) => {
            sqlx::query_as(
                "SELECT status, SUM(n)::bigint FROM reservation_counts WHERE store_id = $1 \
                 GROUP BY status HAVING SUM(n) > 0 ORDER BY status COLLATE \"C\"",
            )
            .bind(store_id.as_str())
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT status, SUM(n)::bigint FROM reservation_counts \
                 GROUP BY status HAVING SUM(n) > 0 ORDER BY status COLLATE \"C\"",
            )
            .fetch_all(db)
            .await?
        }
    };
    rows.into_iter()
        .map(|(status, n)| {
            ReservationStatus::from_stored(&status)
                .map(|status| (status, n))
                .map_err(|why| {
                    OpError::storage("reading the reservation counts", anyhow::anyhow!(why))
                })
        })
        .collect()
}

/// The outbox counters (`inventory_shared::outbox::outbox_stats`).
pub async fn outbox_stats(db: &PgPool) -> OpResult<inventory_shared::outbox::OutboxStats> {
    Ok(inventory_shared::outbox::postgres::outbox_stats(db).await?)
}

// ---------------------------------------------------------------------------------------------
// Page positions: SQLite compares an id in a position as text; here ids are `uuid`.

/// The largest UUID whose canonical text (lower-case, hyphenated) is at most `text` in byte
/// order, or `None` when every UUID's text is greater. For a canonical `text`, that UUID.
///
/// Why: for every canonical UUID text `u`, `u > text` exactly when `u > floor(text)` (text order
/// of canonical texts is `uuid` order), so a position's id, whatever it is, becomes a `uuid`
/// bound that selects the rows SQLite's text comparison selects.
fn floor(text: &str) -> Option<u128> {
    const HEX: &[u8] = b"0123456789abcdef";
    let is_hyphen = |i: usize| matches!(i, 8 | 13 | 18 | 23);
    let allowed = |i: usize, c: u8| {
        if is_hyphen(i) {
            c == b'-'
        } else {
            HEX.contains(&c)
        }
    };
    // The largest character allowed at `i` below `c`.
    let below = |i: usize, c: u8| -> Option<u8> {
        if is_hyphen(i) {
            (b'-' < c).then_some(b'-')
        } else {
            HEX.iter().rev().copied().find(|&h| h < c)
        }
    };
    let bytes = text.as_bytes();
    // Returns prefix[..i] + c + the largest completion.
    let build = |i: usize, c: u8| -> Option<u128> {
        let mut out: Vec<u8> = bytes[..i].to_vec();
        out.push(c);
        for j in i + 1..36 {
            out.push(if is_hyphen(j) { b'-' } else { b'f' });
        }
        let text = std::str::from_utf8(&out).ok()?;
        Uuid::try_parse(text).ok().map(|u| u.as_u128())
    };
    // Backtracks: the last position before `i` where a smaller character fits.
    let backtrack = |i: usize| -> Option<u128> {
        (0..i)
            .rev()
            .find_map(|j| below(j, bytes[j]).and_then(|c| build(j, c)))
    };
    for i in 0..36 {
        let Some(&c) = bytes.get(i) else {
            // `text` is a proper prefix of every completion, which is thus greater.
            return backtrack(i);
        };
        if !allowed(i, c) {
            return match below(i, c) {
                Some(smaller) => build(i, smaller),
                None => backtrack(i),
            };
        }
    }
    // The first 36 bytes are a canonical UUID: equal to `text`, or a prefix of it (smaller).
    std::str::from_utf8(&bytes[..36])
        .ok()
        .and_then(|t| Uuid::try_parse(t).ok())
        .map(|u| u.as_u128())
}

/// The smallest UUID whose canonical text is at least `text`, or `None` when every UUID's
/// text is smaller: `u < text` exactly when `u < ceiling(text)`.
fn ceiling(text: &str) -> Option<u128> {
    match floor(text) {
        Some(f) if Uuid::from_u128(f).hyphenated().to_string() == text => Some(f),
        Some(f) => f.checked_add(1),
        None => Some(0),
    }
}

/// The smallest UUID whose canonical text is greater than `text`: `u > text` exactly when
/// `u >= after(text)`; `None` when no UUID's text is.
fn after(text: &str) -> Option<u128> {
    floor(text).map_or(Some(0), |f| f.checked_add(1))
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A position's instant (the cursor checked that it is exactly `time::to_db`'s text).
fn instant(at: &str) -> OpResult<Timestamp> {
    time::from_db(at).map_err(|e| OpError::storage("a page position's instant", e))
}

/// The rows after (`at`, `id`) in (instant, id) order, where SQLite compares `id` as text:
/// `(instant, id) > (bound)` with a `uuid` bound.
fn after_instant(position: &AfterInstant) -> OpResult<(Timestamp, Uuid)> {
    let at = instant(&position.at)?;
    Ok(match floor(&position.id) {
        Some(f) => (at, uuid(f)),
        // Every id's text is greater: every row at `at` or later, i.e. after (at - 1 µs, the
        // largest UUID) (instants are whole microseconds).
        None => (at - chrono::Duration::microseconds(1), Uuid::max()),
    })
}

/// The rows before (`at`, `id`) in (instant, id) order: `(instant, id) < (bound)`.
fn before_instant(position: &AfterInstant) -> OpResult<(Timestamp, Uuid)> {
    let at = instant(&position.at)?;
    Ok(match ceiling(&position.id) {
        Some(c) => (at, uuid(c)),
        // Every id's text is smaller: every row at `at` or earlier.
        None => (at + chrono::Duration::microseconds(1), Uuid::nil()),
    })
}

// ---------------------------------------------------------------------------------------------
// The stock lists.

/// A page of one product's rows by store id, with its totals over every store and the
/// product's existence, from one statement (one snapshot, as SQLite's read transaction);
/// [`OpError::ProductNotFound`] when the page is empty and the product does not exist
/// (`ops::stock_lists::stock_of_product`).
pub async fn stock_of_product(
    db: &PgPool,
    product_id: &ProductId,
    after: Option<&AfterText>,
    limit: i64,
) -> OpResult<ProductStockPage> {
    let rows = sqlx::query(
        "SELECT s.product_id::text AS product_id, s.store_id, s.quantity, s.reserved, \
                s.version, s.updated_at, t.total_quantity, t.total_reserved, t.product_exists \
         FROM (SELECT COALESCE(SUM(quantity), 0)::bigint AS total_quantity, \
                      COALESCE(SUM(reserved), 0)::bigint AS total_reserved, \
                      EXISTS (SELECT 1 FROM products WHERE id = $1::uuid) AS product_exists \
               FROM stock WHERE product_id = $1::uuid) AS t \
         LEFT JOIN LATERAL (SELECT * FROM stock WHERE product_id = $1::uuid \
                            AND store_id COLLATE \"C\" > $2 \
                            ORDER BY store_id COLLATE \"C\" LIMIT $3) AS s ON true \
         ORDER BY s.store_id COLLATE \"C\"",
    )
    .bind(product_id.as_str())
    .bind(after.map_or("", |a| a.0.as_str()))
    .bind(fetch_count(limit))
    .fetch_all(db)
    .await?;
    let (total_quantity, total_reserved, exists) = match rows.first() {
        Some(row) => (
            row.try_get("total_quantity")?,
            row.try_get("total_reserved")?,
            row.try_get::<bool, _>("product_exists")?,
        ),
        None => (0, 0, false),
    };
    let mut stock = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<String>, _>("product_id")?.is_some() {
            stock.push(stock_row(row)?);
        }
    }
    if stock.is_empty() && !exists {
        return Err(OpError::ProductNotFound(product_id.as_str().to_owned()));
    }
    Ok(ProductStockPage {
        page: Page::from_rows(stock, limit, |r| AfterText(r.store_id.as_str().to_owned())),
        total_quantity,
        total_reserved,
    })
}

/// A page of one store's rows by product id (`ops::stock_lists::stock_of_store`).
pub async fn stock_of_store(
    db: &PgPool,
    store_id: &StoreId,
    after: Option<&AfterText>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterText>> {
    // SQLite: `product_id > ?` on text, '' on the first page.
    let Some(from) = after.map_or(Some(0), |a| self::after(&a.0)) else {
        return Ok(Page {
            rows: Vec::new(),
            next: None,
        });
    };
    let rows = sqlx::query(
        "SELECT product_id::text AS product_id, store_id, quantity, reserved, version, \
                updated_at \
         FROM stock WHERE store_id = $1 AND product_id >= $2 ORDER BY stock.product_id LIMIT $3",
    )
    .bind(store_id.as_str())
    .bind(uuid(from))
    .bind(fetch_count(limit))
    .try_map(|row: PgRow| stock_row(&row))
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, limit, |r: &StockRow| {
        AfterText(r.product_id.as_str().to_owned())
    }))
}

/// Low rows of every store after (available, product, store).
const LOW_PAGE: &str = "SELECT product_id::text AS product_id, store_id, quantity, reserved, \
     version, updated_at FROM stock \
     WHERE (available, product_id, store_id COLLATE \"C\") > ($1, $2, $3) \
     AND available < $4 AND available < 1000 \
     ORDER BY stock.available, stock.product_id, stock.store_id COLLATE \"C\" LIMIT $5";

/// Low rows of one store after (available, product).
const LOW_IN_STORE_PAGE: &str = "SELECT product_id::text AS product_id, store_id, quantity, \
     reserved, version, updated_at FROM stock \
     WHERE store_id = $1 AND (available, product_id) > ($2, $3) \
     AND available < $4 AND available < 1000 \
     ORDER BY stock.available, stock.product_id LIMIT $5";

/// [`LOW_PAGE`] for a threshold above [`LOW_STOCK_INDEXED_BELOW`].
const LOW_PAGE_SCAN: &str = "SELECT product_id::text AS product_id, store_id, quantity, \
     reserved, version, updated_at FROM stock \
     WHERE (available, product_id, store_id COLLATE \"C\") > ($1, $2, $3) AND available < $4 \
     ORDER BY stock.available, stock.product_id, stock.store_id COLLATE \"C\" LIMIT $5";

/// [`LOW_IN_STORE_PAGE`] for a threshold above [`LOW_STOCK_INDEXED_BELOW`].
const LOW_IN_STORE_PAGE_SCAN: &str = "SELECT product_id::text AS product_id, store_id, \
     quantity, reserved, version, updated_at FROM stock \
     WHERE store_id = $1 AND (available, product_id) > ($2, $3) AND available < $4 \
     ORDER BY stock.available, stock.product_id LIMIT $5";

/// A page of the rows with fewer than `threshold` units available, lowest first, then by
/// product, then store, in every store or one (`ops::stock_lists::low_stock`). The literal
/// `available < 1000` repeats the partial indexes' `WHERE` (PostgreSQL proves a partial index
/// usable only from what the statement states, as SQLite does).
pub async fn low_stock(
    db: &PgPool,
    threshold: Quantity,
    store_id: Option<&StoreId>,
    after: Option<&AfterAvailable>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterAvailable>> {
    // SQLite's first page starts after (-1, '', '').
    let (available, product, store) = after.map_or((-1, "", ""), |a| {
        (a.available, a.product_id.as_str(), a.store_id.as_str())
    });
    let threshold = threshold.get();
    let indexed = threshold <= LOW_STOCK_INDEXED_BELOW;
    let query = match store_id {
        Some(store_id) => {
            // (available, product text) > (A, P): (available, product) > (A, floor(P)), or
            // every row with available >= A when no id's text is at most P.
            let (a, p) = match floor(product) {
                Some(f) => (available, uuid(f)),
                None => (available - 1, Uuid::max()),
            };
            sqlx::query(if indexed {
                LOW_IN_STORE_PAGE
            } else {
                LOW_IN_STORE_PAGE_SCAN
            })
            .bind(store_id.as_str())
            .bind(a)
            .bind(p)
        }
        None => {
            // A canonical product id: the same position. Another text: no product equals it,
            // so the rows after it are those with available > A, or = A and a product at or
            // after after(P): after (A, after(P), '') since a store id is never empty; and
            // when no id's text is greater than P, the rows with available > A: after
            // (A + 1, nil, '').
            let (a, p, s) = match floor(product) {
                Some(f) if uuid(f).hyphenated().to_string() == product => {
                    (available, uuid(f), store)
                }
                _ => match self::after(product) {
                    Some(first) => (available, uuid(first), ""),
                    None => (available + 1, Uuid::nil(), ""),
                },
            };
            sqlx::query(if indexed { LOW_PAGE } else { LOW_PAGE_SCAN })
                .bind(a)
                .bind(p)
                .bind(s)
        }
    };
    let rows = query
        .bind(threshold)
        .bind(fetch_count(limit))
        .try_map(|row: PgRow| stock_row(&row))
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, limit, |r: &StockRow| {
        AfterAvailable {
            available: r.available(),
            product_id: r.product_id.as_str().to_owned(),
            store_id: r.store_id.as_str().to_owned(),
        }
    }))
}

// ---------------------------------------------------------------------------------------------
// The reservation lists.

/// A page of a store's PENDING reservations not yet due, soonest deadline first, ties by id
/// (`ops::reservation_lists::pending_in_store`): a next page starts after the previous one's
/// last (deadline, id) while that deadline is still ahead, else at "not yet due".
pub async fn pending_in_store(
    db: &PgPool,
    store_id: &StoreId,
    at: &Timestamp,
    after: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    let now = time::to_db(at);
    let query = match after.filter(|a| a.at > now) {
        Some(after) => {
            let (instant, id) = after_instant(after)?;
            sqlx::query(concat!(
                select_reservation!(),
                " WHERE store_id = $1 AND status = 'PENDING' AND (expires_at, id) > ($2, $3) \
                  ORDER BY reservations.expires_at, reservations.id LIMIT $4"
            ))
            .bind(store_id.as_str())
            .bind(instant)
            .bind(id)
        }
        None => sqlx::query(concat!(
            select_reservation!(),
            " WHERE store_id = $1 AND status = 'PENDING' AND expires_at > $2 \
              ORDER BY reservations.expires_at, reservations.id LIMIT $3"
        ))
        .bind(store_id.as_str())
        .bind(*at),
    };
    let rows = query
        .bind(fetch_count(limit))
        .try_map(|row: PgRow| reservation_row(&row))
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, limit, |r: &ReservationRow| {
        AfterInstant {
            at: r.expires_at.clone(),
            id: r.id.as_str().to_owned(),
        }
    }))
}

/// A page of one product's reservations in one store, newest first, ties by id descending,
/// optionally of one status (`ops::reservation_lists::of_product_in_store`).
pub async fn of_product_in_store(
    db: &PgPool,
    product_id: &ProductId,
    store_id: &StoreId,
    status: Option<ReservationStatus>,
    before: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    let (product_id, store_id) = (product_id.as_str(), store_id.as_str());
    let before = before.map(before_instant).transpose()?;
    let query = match (status.map(ReservationStatus::as_str), before) {
        (None, None) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 \
              ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $3"
        ))
        .bind(product_id)
        .bind(store_id),
        (None, Some((instant, id))) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 AND (created_at, id) < ($3, $4) \
              ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $5"
        ))
        .bind(product_id)
        .bind(store_id)
        .bind(instant)
        .bind(id),
        (Some(status), None) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 AND status = $3 \
              ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $4"
        ))
        .bind(product_id)
        .bind(store_id)
        .bind(status),
        (Some(status), Some((instant, id))) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 AND status = $3 \
              AND (created_at, id) < ($4, $5) ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $6"
        ))
        .bind(product_id)
        .bind(store_id)
        .bind(status)
        .bind(instant)
        .bind(id),
    };
    let rows = query
        .bind(fetch_count(limit))
        .try_map(|row: PgRow| reservation_row(&row))
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, limit, |r: &ReservationRow| {
        AfterInstant {
            at: r.created_at.clone(),
            id: r.id.as_str().to_owned(),
        }
    }))
}

// ---------------------------------------------------------------------------------------------
// The products.

/// A page of products, oldest first (`created_at`, then `id`), optionally of one category, and
/// the filtered total, from one statement (`ops::products::list_products`). A negative offset
/// counts as 0, as SQLite's `OFFSET` does.
pub async fn list_products(
    db: &PgPool,
    category: Option<&str>,
    from: ProductsFrom<'_>,
    limit: i64,
) -> OpResult<(Page<ProductRow, AfterInstant>, i64)> {
    let (position, offset) = match from {
        ProductsFrom::Offset(offset) => (None, offset.max(0)),
        ProductsFrom::After(after) => (Some(after_instant(after)?), 0),
    };
    // `$1` the number of rows to fetch, then the offset or the position, then the category.
    let rows = match (category, position) {
        (None, None) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " ORDER BY products.created_at, products.id LIMIT $1 OFFSET $2) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(offset),
        (Some(category), None) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products \
                                       WHERE category = $3) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " WHERE category = $3 ORDER BY products.created_at, products.id LIMIT $1 OFFSET $2) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(offset)
        .bind(category),
        (None, Some((instant, id))) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " WHERE (created_at, id) > ($2, $3) ORDER BY products.created_at, products.id LIMIT $1) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(instant)
        .bind(id),
        (Some(category), Some((instant, id))) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products \
                                       WHERE category = $4) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " WHERE category = $4 AND (created_at, id) > ($2, $3) \
              ORDER BY products.created_at, products.id LIMIT $1) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(instant)
        .bind(id)
        .bind(category),
    }
    .fetch_all(db)
    .await?;
    let total = match rows.first() {
        Some(row) => row.try_get("total")?,
        None => 0,
    };
    let mut products = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<String>, _>("id")?.is_some() {
            products.push(product_row(row)?);
        }
    }
    let page = Page::from_rows(products, limit, |r: &ProductRow| AfterInstant {
        at: r.created_at.clone(),
        id: r.id.as_str().to_owned(),
    });
    Ok((page, total))
}
