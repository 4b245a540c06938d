//! Reservations: units held for a customer until confirmed (a sale), cancelled, or expired.
//!
//! The write rules are written against the storage seam ([`crate::store::Tx`]) and hold no
//! SQL; the reservation counts by status ([`stats`]) are still an sqlx read here, until the
//! read side gets its seam.
//! Reserving is one conditional change ([`StockTx::hold_units`](crate::store::StockTx::hold_units): `quantity - reserved >= q`), so
//! two requests for the last unit cannot both win. Every transition is guarded by
//! `status = 'PENDING'` in the change that makes it ([`ReservationTx::finish_reservation`](crate::store::ReservationTx::finish_reservation),
//! [`ReservationTx::expire_reservation`](crate::store::ReservationTx::expire_reservation)), so confirm / cancel / expire races apply their stock change
//! exactly once.

use inventory_shared::events::{
    NewEvent, ReservationCancelled, ReservationConfirmed, ReservationCreated, ReservationExpired,
};
use inventory_shared::time::{self, Timestamp};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::stock::insufficient;
use super::{OpError, OpResult};
pub use crate::domain::ReservationRow;
use crate::domain::{
    HoldId, PositiveQuantity, ProductId, ReservationId, ReservationStatus, StoreId,
};
use crate::store::Tx;

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

/// Maps a `reservations` row read with sqlx (the lists).
impl<'r> sqlx::FromRow<'r, SqliteRow> for ReservationRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Self> {
        let status: &str = row.try_get("status")?;
        let status =
            ReservationStatus::from_stored(status).map_err(|why| sqlx::Error::ColumnDecode {
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
/// Refuses before writing: its first change is [`StockTx::hold_units`](crate::store::StockTx::hold_units), which refuses it without
/// writing, and nothing after it can be refused, so the writer runs it without a savepoint
/// ([`crate::writer::Containment::RefusesBeforeWriting`]). Keep it that way.
pub fn reserve<T: Tx + ?Sized>(
    tx: &mut T,
    input: &ReserveInput,
    at: &Timestamp,
) -> OpResult<ReservationRow> {
    let now = time::to_db(at);
    let (product_id, store_id) = (&input.product_id, &input.store_id);
    let Some(version) = tx.hold_units(product_id, store_id, input.quantity, &now)? else {
        return Err(match tx.stock_row(product_id, store_id)? {
            Some(row) => insufficient(input.quantity.get(), row.available(), store_id),
            None if !tx.product_exists(product_id)? => {
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
    tx.insert_reservation(&row)?;
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
    tx.append_event(&event, at)?;
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

/// The reservation `id`, or [`OpError::ReservationNotFound`].
pub(crate) fn reservation_row<T: Tx + ?Sized>(
    tx: &mut T,
    id: &ReservationId,
) -> OpResult<ReservationRow> {
    tx.reservation(id)?
        .ok_or_else(|| OpError::ReservationNotFound(id.as_str().to_owned()))
}

pub(crate) fn not_pending(row: &ReservationRow) -> OpError {
    OpError::NotPending {
        id: row.id.as_str().to_owned(),
        status: row.status,
    }
}

/// PENDING → CONFIRMED: the units leave on-hand and reserved (`reservation.confirmed`). Past
/// its deadline the reservation is expired instead.
pub fn confirm<T: Tx + ?Sized>(
    tx: &mut T,
    id: &ReservationId,
    at: &Timestamp,
) -> OpResult<ConfirmOutcome> {
    let row = reservation_row(tx, id)?;
    if row.status != ReservationStatus::Pending {
        return Err(not_pending(&row));
    }
    let now = time::to_db(at);
    if row.expires_at <= now {
        return match expire_reservation(tx, id, at)? {
            Some(expired) => Ok(ConfirmOutcome::Expired(expired)),
            None => Err(not_pending(&row)),
        };
    }
    let row = tx
        .finish_reservation(id, ReservationStatus::Confirmed, &now)?
        .ok_or_else(|| not_pending(&row))?;
    let version = tx.sell_units(&row, &now)?;
    let event = NewEvent::ReservationConfirmed(ReservationConfirmed {
        reservation_id: row.id.as_str().to_owned(),
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        confirmed_at: *at,
        version,
    });
    tx.append_event(&event, at)?;
    Ok(ConfirmOutcome::Confirmed(row))
}

/// PENDING → CANCELLED: the units become available again (`reservation.cancelled`).
pub fn cancel<T: Tx + ?Sized>(
    tx: &mut T,
    id: &ReservationId,
    reason: Option<&str>,
    at: &Timestamp,
) -> OpResult<ReservationRow> {
    let current = reservation_row(tx, id)?;
    let now = time::to_db(at);
    let row = tx
        .finish_reservation(id, ReservationStatus::Cancelled, &now)?
        .ok_or_else(|| not_pending(&current))?;
    let version = tx.release_units(&row, &now)?;
    let event = NewEvent::ReservationCancelled(ReservationCancelled {
        reservation_id: row.id.as_str().to_owned(),
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        reason: reason.unwrap_or("manual_cancellation").to_owned(),
        version,
    });
    tx.append_event(&event, at)?;
    Ok(row)
}

/// PENDING and due → EXPIRED (`reservation.expired`). `None` when it was not PENDING or not
/// yet due (someone else got there first). One reservation: a late confirm or extend, or a
/// hold's line.
pub fn expire_reservation<T: Tx + ?Sized>(
    tx: &mut T,
    id: &ReservationId,
    at: &Timestamp,
) -> OpResult<Option<ReservationRow>> {
    let now = time::to_db(at);
    let Some(row) = tx.expire_reservation(id, &now)? else {
        return Ok(None);
    };
    let version = tx.release_units(&row, &now)?;
    tx.append_event(&expired_event(&row, version, at), at)?;
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

/// One reservation (a point read: the caller's [`Tx`] is on a read connection).
pub fn get_reservation<T: Tx + ?Sized>(tx: &mut T, id: &ReservationId) -> OpResult<ReservationRow> {
    reservation_row(tx, id)
}

/// Count of reservations per status, optionally in one store, from `reservation_counts`
/// (kept exact in the transaction of every insert, by `ReservationTx::insert_reservation`, and every
/// status change and delete, by triggers: `migrations/20261203000001_counters.sql`), so it
/// costs a few rows per store instead of a scan of every reservation. Two fixed statements, one per filter.
pub async fn stats(
    db: &mut SqliteConnection,
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
    counts_by_status(rows)
}

/// Stored (status, count) rows as typed counts, on either backend: a status outside the
/// four the schema allows (a damaged database) is a storage error.
pub fn counts_by_status(rows: Vec<(String, i64)>) -> OpResult<Vec<(ReservationStatus, i64)>> {
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
