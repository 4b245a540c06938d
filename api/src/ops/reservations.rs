//! Reservations: units held for a customer until confirmed (a sale), cancelled, or expired.
//!
//! Reserving is one conditional statement (`... WHERE quantity - reserved >= q`), so two
//! requests for the last unit cannot both win. Every transition is guarded by
//! `status = 'PENDING'` in the statement that makes it, so confirm / cancel / expire races
//! apply their stock change exactly once.

use inventory_shared::events::{
    NewEvent, ReservationCancelled, ReservationConfirmed, ReservationCreated, ReservationExpired,
};
use inventory_shared::outbox::append_event;
use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::stock::{insufficient, stock_row};
use super::{OpError, OpResult, products::product_exists};
pub use crate::domain::ReservationRow;
use crate::domain::{
    HoldId, PositiveQuantity, ProductId, ReservationId, ReservationStatus, StoreId,
};

/// A checked reservation request.
#[derive(Debug, Clone)]
pub struct ReserveInput {
    /// Product.
    pub product_id: ProductId,
    /// Store.
    pub store_id: StoreId,
    /// Customer.
    pub customer_id: String,
    /// Units.
    pub quantity: PositiveQuantity,
    /// Time to live.
    pub ttl: chrono::Duration,
    /// The hold it is a line of (its row must exist already).
    pub hold_id: Option<HoldId>,
}

/// A stored status as the domain's value; the schema's `CHECK (status IN (...))` holds the
/// same set, so an unknown text is a broken database, reported as a storage error.
pub(crate) fn stored_status(text: &str) -> Result<ReservationStatus, String> {
    ReservationStatus::parse(text).map_err(|why| format!("stored status {text:?} {why}"))
}

impl ReservationRow {
    /// Maps a `reservations` row read with `rusqlite` (`SELECT *` or `RETURNING *`).
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let status = row.get_ref("status")?.as_str()?;
        let status = stored_status(status).map_err(|why| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, why.into())
        })?;
        Ok(Self {
            id: ReservationId::from_stored(row.get("id")?),
            product_id: ProductId::from_stored(row.get("product_id")?),
            store_id: StoreId::from_stored(row.get("store_id")?),
            customer_id: row.get("customer_id")?,
            quantity: PositiveQuantity::from_stored(row.get("quantity")?),
            status,
            expires_at: row.get("expires_at")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            hold_id: row
                .get::<_, Option<String>>("hold_id")?
                .map(HoldId::from_stored),
        })
    }
}

/// Maps a `reservations` row read with sqlx (the lists).
impl<'r> sqlx::FromRow<'r, SqliteRow> for ReservationRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Self> {
        let status: &str = row.try_get("status")?;
        let status = stored_status(status).map_err(|why| sqlx::Error::ColumnDecode {
            index: "status".to_owned(),
            source: why.into(),
        })?;
        Ok(Self {
            id: ReservationId::from_stored(row.try_get("id")?),
            product_id: ProductId::from_stored(row.try_get("product_id")?),
            store_id: StoreId::from_stored(row.try_get("store_id")?),
            customer_id: row.try_get("customer_id")?,
            quantity: PositiveQuantity::from_stored(row.try_get("quantity")?),
            status,
            expires_at: row.try_get("expires_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            hold_id: row
                .try_get::<Option<String>, _>("hold_id")?
                .map(HoldId::from_stored),
        })
    }
}

/// Holds `quantity` units for a customer (`reservation.created`).
///
/// Refuses before writing: its first change is the conditional `UPDATE` that refuses it, and
/// nothing after it can be refused, so the writer runs it without a savepoint
/// ([`crate::writer::Containment::RefusesBeforeWriting`]). Keep it that way.
pub fn reserve(
    conn: &Connection,
    input: &ReserveInput,
    at: &Timestamp,
) -> OpResult<ReservationRow> {
    let now = time::to_db(at);
    // No `RETURNING version`: SQLite runs RETURNING through a temporary table per statement,
    // which cost more than reading the version back from the page the UPDATE just touched.
    let held = conn
        .prepare_cached(
            "UPDATE stock SET reserved = reserved + ?1, version = version + 1, updated_at = ?2 \
             WHERE product_id = ?3 AND store_id = ?4 AND quantity - reserved >= ?1",
        )?
        .execute(params![
            input.quantity.get(),
            now,
            input.product_id.as_str(),
            input.store_id.as_str()
        ])?;
    let version = if held == 1 {
        Some(
            conn.prepare_cached("SELECT version FROM stock WHERE product_id = ? AND store_id = ?")?
                .query_row(
                    params![input.product_id.as_str(), input.store_id.as_str()],
                    |row| row.get::<_, i64>(0),
                )?,
        )
    } else {
        None
    };
    let Some(version) = version else {
        let (product_id, store_id) = (&input.product_id, &input.store_id);
        return Err(match stock_row(conn, product_id, store_id)? {
            Some(row) => insufficient(input.quantity.get(), row.available(), store_id),
            None if !product_exists(conn, product_id)? => {
                OpError::ProductNotFound(product_id.as_str().to_owned())
            }
            None => OpError::stock_not_found(product_id, store_id),
        });
    };
    let expires_at = *at + input.ttl;
    let row = ReservationRow {
        id: ReservationId::mint(),
        product_id: input.product_id.clone(),
        store_id: input.store_id.clone(),
        customer_id: input.customer_id.clone(),
        quantity: input.quantity,
        status: ReservationStatus::Pending,
        expires_at: time::to_db(&expires_at),
        created_at: now.clone(),
        updated_at: now,
        hold_id: input.hold_id.clone(),
    };
    conn.prepare_cached(
        "INSERT INTO reservations (id, product_id, store_id, customer_id, quantity, status, \
         expires_at, created_at, updated_at, hold_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        row.id.as_str(),
        row.product_id.as_str(),
        row.store_id.as_str(),
        row.customer_id,
        row.quantity.get(),
        row.status.as_str(),
        row.expires_at,
        row.created_at,
        row.updated_at,
        row.hold_id.as_ref().map(HoldId::as_str)
    ])?;
    // The only INSERT into `reservations`, so it keeps the count itself (a trigger would give
    // the INSERT a statement journal: migrations/20261203000006_insert_counters_in_code.sql).
    conn.prepare_cached(
        "INSERT INTO reservation_counts (store_id, status, n) VALUES (?, 'PENDING', 1) \
         ON CONFLICT (store_id, status) DO UPDATE SET n = n + 1",
    )?
    .execute([row.store_id.as_str()])?;
    let event = NewEvent::ReservationCreated(ReservationCreated {
        reservation_id: row.id.as_str().to_owned(),
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        customer_id: row.customer_id.clone(),
        expires_at,
        version,
        hold_id: row.hold_id.as_ref().map(|h| h.as_str().to_owned()),
    });
    append_event(conn, &event, at)?;
    Ok(row)
}

/// What a confirm did.
#[derive(Debug, Clone)]
pub enum ConfirmOutcome {
    /// PENDING → CONFIRMED; the units left the shelf.
    Confirmed(ReservationRow),
    /// It was past its deadline: it was expired instead (and that is committed).
    Expired(ReservationRow),
}

pub(crate) fn reservation_row(conn: &Connection, id: &ReservationId) -> OpResult<ReservationRow> {
    conn.prepare_cached("SELECT * FROM reservations WHERE id = ?")?
        .query_row([id.as_str()], ReservationRow::from_row)
        .optional()?
        .ok_or_else(|| OpError::ReservationNotFound(id.as_str().to_owned()))
}

pub(crate) fn not_pending(row: &ReservationRow) -> OpError {
    OpError::NotPending {
        id: row.id.as_str().to_owned(),
        status: row.status,
    }
}

/// Moves a PENDING reservation to `status`; `None` when it was no longer PENDING.
fn transition(
    conn: &Connection,
    id: &ReservationId,
    status: ReservationStatus,
    at: &Timestamp,
) -> rusqlite::Result<Option<ReservationRow>> {
    conn.prepare_cached(
        "UPDATE reservations SET status = ?, updated_at = ? WHERE id = ? AND status = 'PENDING' \
         RETURNING *",
    )?
    .query_row(
        params![status.as_str(), time::to_db(at), id.as_str()],
        ReservationRow::from_row,
    )
    .optional()
}

/// Gives the held units back to `available` (cancel, expire); returns the stock row's new
/// version (carried by the event).
fn release_units(conn: &Connection, row: &ReservationRow, at: &Timestamp) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "UPDATE stock SET reserved = reserved - ?, version = version + 1, updated_at = ? \
         WHERE product_id = ? AND store_id = ? RETURNING version",
    )?
    .query_row(
        params![
            row.quantity.get(),
            time::to_db(at),
            row.product_id.as_str(),
            row.store_id.as_str()
        ],
        |r| r.get(0),
    )
}

/// PENDING → CONFIRMED: the units leave on-hand and reserved (`reservation.confirmed`). Past
/// its deadline the reservation is expired instead.
pub fn confirm(conn: &Connection, id: &ReservationId, at: &Timestamp) -> OpResult<ConfirmOutcome> {
    let row = reservation_row(conn, id)?;
    if row.status != ReservationStatus::Pending {
        return Err(not_pending(&row));
    }
    if row.expires_at <= time::to_db(at) {
        return match expire(conn, id, at)? {
            Some(expired) => Ok(ConfirmOutcome::Expired(expired)),
            None => Err(not_pending(&row)),
        };
    }
    let row =
        transition(conn, id, ReservationStatus::Confirmed, at)?.ok_or_else(|| not_pending(&row))?;
    let version: i64 = conn
        .prepare_cached(
            "UPDATE stock SET quantity = quantity - ?1, reserved = reserved - ?1, \
             version = version + 1, updated_at = ?2 WHERE product_id = ?3 AND store_id = ?4 \
             RETURNING version",
        )?
        .query_row(
            params![
                row.quantity.get(),
                time::to_db(at),
                row.product_id.as_str(),
                row.store_id.as_str()
            ],
            |r| r.get(0),
        )?;
    let event = NewEvent::ReservationConfirmed(ReservationConfirmed {
        reservation_id: row.id.as_str().to_owned(),
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        confirmed_at: *at,
        version,
    });
    append_event(conn, &event, at)?;
    Ok(ConfirmOutcome::Confirmed(row))
}

/// PENDING → CANCELLED: the units become available again (`reservation.cancelled`).
pub fn cancel(
    conn: &Connection,
    id: &ReservationId,
    reason: Option<&str>,
    at: &Timestamp,
) -> OpResult<ReservationRow> {
    let current = reservation_row(conn, id)?;
    let row = transition(conn, id, ReservationStatus::Cancelled, at)?
        .ok_or_else(|| not_pending(&current))?;
    let version = release_units(conn, &row, at)?;
    let event = NewEvent::ReservationCancelled(ReservationCancelled {
        reservation_id: row.id.as_str().to_owned(),
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        reason: reason.unwrap_or("manual_cancellation").to_owned(),
        version,
    });
    append_event(conn, &event, at)?;
    Ok(row)
}

/// PENDING and due → EXPIRED (`reservation.expired`). `None` when it was not PENDING or not
/// yet due (someone else got there first). One reservation: a late confirm, or a hold's line.
pub fn expire(
    conn: &Connection,
    id: &ReservationId,
    at: &Timestamp,
) -> OpResult<Option<ReservationRow>> {
    let now = time::to_db(at);
    let row = conn
        .prepare_cached(
            "UPDATE reservations SET status = 'EXPIRED', updated_at = ?1 \
             WHERE id = ?2 AND status = 'PENDING' AND expires_at <= ?1 RETURNING *",
        )?
        .query_row(params![now, id.as_str()], ReservationRow::from_row)
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    let version = release_units(conn, &row, at)?;
    append_event(conn, &expired_event(&row, version, at), at)?;
    Ok(Some(row))
}

/// The event of an expiry: the reservation, its units, and the stock row's version after its
/// units went back. The one definition of what `reservation.expired` says, for one expiry and
/// for a batch alike.
pub fn expired_event(row: &ReservationRow, version: i64, at: &Timestamp) -> NewEvent {
    NewEvent::ReservationExpired(ReservationExpired {
        reservation_id: row.id.as_str().to_owned(),
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        expired_at: *at,
        version,
    })
}

/// One reservation (a point read).
pub fn get_reservation(conn: &Connection, id: &ReservationId) -> OpResult<ReservationRow> {
    reservation_row(conn, id)
}

/// Count of reservations per status, optionally in one store, from `reservation_counts`
/// (kept exact in the transaction of every insert, by [`reserve`], and every status change and
/// delete, by triggers: `migrations/20261203000001_counters.sql`), so it costs a few rows per store
/// instead of a scan of every reservation. Two fixed statements, one per filter.
pub async fn stats(
    db: &SqlitePool,
    store_id: Option<&StoreId>,
) -> OpResult<Vec<(ReservationStatus, i64)>> {
    let rows: Vec<(String, i64)> = match store_id {
        Some(store_id) => {
            sqlx::query_as("SELECT status, n FROM reservation_counts WHERE store_id = ? AND n > 0")
                .bind(store_id.as_str())
                .fetch_all(db)
                .await?
        }
        None => {
            sqlx::query_as(
                "SELECT status, SUM(n) FROM reservation_counts GROUP BY status HAVING SUM(n) > 0",
            )
            .fetch_all(db)
            .await?
        }
    };
    rows.into_iter()
        .map(|(status, n)| {
            stored_status(&status)
                .map(|status| (status, n))
                .map_err(|why| {
                    OpError::storage("reading the reservation counts", anyhow::anyhow!(why))
                })
        })
        .collect()
}
