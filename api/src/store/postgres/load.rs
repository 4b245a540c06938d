//! The statements that lock and read the rows a batch works on. Locks are taken in one global
//! order by every replica (reservations by id, then stock rows by (product, store)), so two
//! batches never wait for each other in a cycle over the rows they declared; a row a job
//! reaches without declaring it is locked when first asked for, out of that order, and a
//! deadlock that may cause is rerun by the writer (`docs/postgres.md`).
//!
//! Ids are the lower-case hyphenated UUID text the domain keeps, so their text order is the
//! `uuid` order PostgreSQL sorts by.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::rows::{
    hold_row, product_row, reservation_row, select_product, select_reservation, stock_row,
    stored_time,
};
use super::unit::{KeyId, KeyRow, PairKey};
use crate::domain::{
    HoldId, HoldRow, KeyRecord, ProductId, ProductRow, ReservationId, ReservationRow, Sku,
    StockRow, StoredAnswer,
};

/// The stock rows of `keys` (sorted, no duplicates), locked `FOR UPDATE` in that order.
pub(super) async fn stock_rows(
    conn: &mut PgConnection,
    keys: &[PairKey],
) -> sqlx::Result<Vec<StockRow>> {
    let products: Vec<&str> = keys.iter().map(|(p, _)| p.as_str()).collect();
    let stores: Vec<&str> = keys.iter().map(|(_, s)| s.as_str()).collect();
    sqlx::query(
        "SELECT s.product_id::text AS product_id, s.store_id, s.quantity, s.reserved, \
                s.version, s.updated_at \
         FROM stock AS s \
         JOIN unnest($1::uuid[], $2::text[]) AS k (product_id, store_id) \
           ON s.product_id = k.product_id AND s.store_id = k.store_id \
         ORDER BY s.product_id, s.store_id \
         FOR UPDATE OF s",
    )
    .bind(&products)
    .bind(&stores)
    .try_map(|row: PgRow| stock_row(&row))
    .fetch_all(conn)
    .await
}

/// The reservations `ids` (sorted, no duplicates), locked `FOR UPDATE` in that order.
pub(super) async fn reservations(
    conn: &mut PgConnection,
    ids: &[ReservationId],
) -> sqlx::Result<Vec<ReservationRow>> {
    let ids: Vec<&str> = ids.iter().map(ReservationId::as_str).collect();
    sqlx::query(concat!(
        select_reservation!(),
        " WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
    ))
    .bind(&ids)
    .try_map(|row: PgRow| reservation_row(&row))
    .fetch_all(conn)
    .await
}

/// Locks the product rows `ids` (sorted) `FOR NO KEY UPDATE`: what a batch takes before it
/// creates a stock row of one.
pub(super) async fn lock_products(conn: &mut PgConnection, ids: &[ProductId]) -> sqlx::Result<()> {
    let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
    sqlx::query("SELECT 1 FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE")
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// The products `ids` (sorted), locked `FOR UPDATE` in that order.
pub(super) async fn products(
    conn: &mut PgConnection,
    ids: &[ProductId],
) -> sqlx::Result<Vec<ProductRow>> {
    let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
    sqlx::query(concat!(
        select_product!(),
        " WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
    ))
    .bind(&ids)
    .try_map(|row: PgRow| product_row(&row))
    .fetch_all(conn)
    .await
}

/// Which of `ids` (sorted) are products, each locked `FOR KEY SHARE` (what a foreign key
/// takes: it keeps the product from being deleted, and blocks nobody who only updates it).
pub(super) async fn products_exist(
    conn: &mut PgConnection,
    ids: &[ProductId],
) -> sqlx::Result<Vec<ProductId>> {
    let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
    sqlx::query_scalar(
        "SELECT id::text FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR KEY SHARE",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await
    .map(|found: Vec<String>| found.into_iter().map(ProductId::from_stored).collect())
}

/// The product with `sku`, locked `FOR UPDATE`, after taking the SKU's transaction-level
/// advisory lock: two replicas giving one SKU to two products serialise on it, and the
/// second, reading after the first committed (a new statement, a new snapshot), sees it.
pub(super) async fn product_with_sku(
    conn: &mut PgConnection,
    sku: &Sku,
) -> sqlx::Result<Option<ProductRow>> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('inventory.sku:' || $1, 0))")
        .bind(sku.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query(concat!(select_product!(), " WHERE sku = $1 FOR UPDATE"))
        .bind(sku.as_str())
        .try_map(|row: PgRow| product_row(&row))
        .fetch_optional(conn)
        .await
}

/// Every stock row of product `id`, locked `FOR UPDATE` in (store) order.
pub(super) async fn stock_of_product(
    conn: &mut PgConnection,
    id: &ProductId,
) -> sqlx::Result<Vec<StockRow>> {
    sqlx::query(
        "SELECT product_id::text AS product_id, store_id, quantity, reserved, version, \
                updated_at \
         FROM stock WHERE product_id = $1::uuid ORDER BY store_id FOR UPDATE",
    )
    .bind(id.as_str())
    .try_map(|row: PgRow| stock_row(&row))
    .fetch_all(conn)
    .await
}

/// The PENDING reservations of product `id`, locked `FOR UPDATE` in id order.
pub(super) async fn pending_of_product(
    conn: &mut PgConnection,
    id: &ProductId,
) -> sqlx::Result<Vec<ReservationRow>> {
    sqlx::query(concat!(
        select_reservation!(),
        " WHERE product_id = $1::uuid AND status = 'PENDING' ORDER BY id FOR UPDATE"
    ))
    .bind(id.as_str())
    .try_map(|row: PgRow| reservation_row(&row))
    .fetch_all(conn)
    .await
}

/// Up to `limit` due reservations, most overdue first (ties by id, as SQLite's index orders
/// them; `reservations.id`, the uuid, not the text alias), locked `FOR UPDATE SKIP LOCKED`: the
/// expiry passes of several replicas take disjoint batches, and none waits for a request's
/// batch that holds a reservation (it is taken by a later pass).
pub(super) async fn due_reservations(
    conn: &mut PgConnection,
    now: &str,
    limit: i64,
) -> sqlx::Result<Vec<ReservationRow>> {
    sqlx::query(concat!(
        select_reservation!(),
        " WHERE status = 'PENDING' AND expires_at <= $1::timestamptz \
          ORDER BY expires_at, reservations.id LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(now)
    .bind(limit)
    .try_map(|row: PgRow| reservation_row(&row))
    .fetch_all(conn)
    .await
}

/// The record of an idempotency key, locked: first the key's transaction-level advisory lock
/// (a key another replica is writing makes this wait for that replica's commit), then, in a
/// new statement and so a new snapshot, its row.
pub(super) async fn key(conn: &mut PgConnection, id: &KeyId) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('inventory.key:' || $1 || chr(10) || $2, 0))",
    )
    .bind(&id.0)
    .bind(&id.1)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "SELECT fingerprint, status, content_type, location, etag, body, created_at, \
                expires_at \
         FROM idempotency_keys WHERE api_key_name = $1 AND idempotency_key = $2",
    )
    .bind(&id.0)
    .bind(&id.1)
    .try_map(|row: PgRow| {
        let status: i64 = row.try_get("status")?;
        Ok(KeyRow {
            record: KeyRecord {
                fingerprint: row.try_get("fingerprint")?,
                answer: StoredAnswer {
                    status: u16::try_from(status).unwrap_or(500),
                    content_type: row.try_get("content_type")?,
                    location: row.try_get("location")?,
                    etag: row.try_get("etag")?,
                    body: row.try_get("body")?,
                },
            },
            created_at: stored_time(&row, "created_at")?,
            expires_at: stored_time(&row, "expires_at")?,
        })
    })
    .fetch_optional(conn)
    .await
}

/// Hold `id`, locked `FOR UPDATE`.
pub(super) async fn hold(conn: &mut PgConnection, id: &HoldId) -> sqlx::Result<Option<HoldRow>> {
    sqlx::query(
        "SELECT id::text AS id, customer_id, status, expires_at, unfulfilled, created_at, \
                updated_at \
         FROM holds WHERE id = $1::uuid FOR UPDATE",
    )
    .bind(id.as_str())
    .try_map(|row: PgRow| hold_row(&row))
    .fetch_optional(conn)
    .await
}

/// The lines of hold `id`, locked `FOR UPDATE` in (product, store) order.
pub(super) async fn hold_lines(
    conn: &mut PgConnection,
    id: &HoldId,
) -> sqlx::Result<Vec<ReservationRow>> {
    sqlx::query(concat!(
        select_reservation!(),
        " WHERE hold_id = $1::uuid ORDER BY product_id, store_id FOR UPDATE"
    ))
    .bind(id.as_str())
    .try_map(|row: PgRow| reservation_row(&row))
    .fetch_all(conn)
    .await
}
