//! Holds: several reservations for one customer made together, with one deadline.
//!
//! Each line is an ordinary reservation made, confirmed, cancelled, expired and extended by
//! the single-reservation operations ([`reservations`], [`extend_line`]), so its stock change
//! and its event are exactly those of a single reservation, with `hold_id` set. The `holds`
//! row adds the shared deadline and the hold's own status; every transition of a hold runs in
//! one write job, so its lines change together or not at all (the writer rolls the job's
//! savepoint back on an error).
//!
//! Lines are always taken in (product, store) order. The single writer already serialises
//! holds, so two holds over the same rows cannot wedge each other today; the fixed order also
//! makes the order of a hold's events independent of how the client listed its items, and
//! would keep holds deadlock-free under row locks.

use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::error::ShortLine;
use super::extend::{ExtendOutcome, extend_line, new_deadline};
use super::reservations::{self, ConfirmOutcome, ReservationRow, ReserveInput};
use super::{OpError, OpResult};
pub use crate::domain::HoldRow;
use crate::domain::{HoldId, HoldStatus, PositiveQuantity, ProductId, ReservationStatus, StoreId};
use crate::store::sqlite::SqliteTx;

impl HoldRow {
    /// Maps a `holds` row (`SELECT *` or `RETURNING *`).
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let status = row.get_ref("status")?.as_str()?;
        let status = ReservationStatus::from_stored(status).map_err(|why| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, why.into())
        })?;
        Ok(Self {
            id: HoldId::from_stored(row.get("id")?),
            customer_id: row.get("customer_id")?,
            status,
            expires_at: row.get("expires_at")?,
            unfulfilled: row.get("unfulfilled")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }

    /// The lines a partial hold could not reserve.
    pub fn unfulfilled(&self) -> Vec<ShortLine> {
        serde_json::from_str(&self.unfulfilled).unwrap_or_default()
    }
}

/// A hold with its lines ((product, store) order).
#[derive(Debug, Clone)]
pub struct Hold {
    /// The hold.
    pub hold: HoldRow,
    /// Its reservations.
    pub lines: Vec<ReservationRow>,
}

/// One requested line.
#[derive(Debug, Clone)]
pub struct HoldItem {
    /// Product.
    pub product_id: ProductId,
    /// Store.
    pub store_id: StoreId,
    /// Units.
    pub quantity: PositiveQuantity,
}

/// A checked hold request (no (product, store) twice: the HTTP edge refuses that).
#[derive(Debug, Clone)]
pub struct HoldInput {
    /// Customer.
    pub customer_id: String,
    /// Time to live of every line.
    pub ttl: chrono::Duration,
    /// Reserve the lines that fit instead of nothing.
    pub allow_partial: bool,
    /// 1–100 lines.
    pub items: Vec<HoldItem>,
}

fn insert_hold(conn: &Connection, hold: &HoldRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO holds (id, customer_id, status, expires_at, unfulfilled, created_at, \
         updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        hold.id.as_str(),
        hold.customer_id,
        hold.status.as_str(),
        hold.expires_at,
        hold.unfulfilled,
        hold.created_at,
        hold.updated_at
    ])?;
    Ok(())
}

fn record_unfulfilled(conn: &Connection, id: &HoldId, lines: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE holds SET unfulfilled = ? WHERE id = ?")?
        .execute(params![lines, id.as_str()])?;
    Ok(())
}

fn hold_row(conn: &Connection, id: &HoldId) -> OpResult<HoldRow> {
    conn.prepare_cached("SELECT * FROM holds WHERE id = ?")?
        .query_row([id.as_str()], HoldRow::from_row)
        .optional()?
        .ok_or_else(|| OpError::HoldNotFound(id.as_str().to_owned()))
}

fn lines_of(conn: &Connection, hold_id: &HoldId) -> rusqlite::Result<Vec<ReservationRow>> {
    conn.prepare_cached(
        "SELECT * FROM reservations WHERE hold_id = ? ORDER BY product_id, store_id",
    )?
    .query_map([hold_id.as_str()], ReservationRow::from_row)?
    .collect()
}

/// Moves a PENDING hold to `status`; `None` when it was no longer PENDING.
fn transition(
    conn: &Connection,
    id: &HoldId,
    status: HoldStatus,
    at: &Timestamp,
) -> rusqlite::Result<Option<HoldRow>> {
    conn.prepare_cached(
        "UPDATE holds SET status = ?, updated_at = ? WHERE id = ? AND status = 'PENDING' \
         RETURNING *",
    )?
    .query_row(
        params![status.as_str(), time::to_db(at), id.as_str()],
        HoldRow::from_row,
    )
    .optional()
}

fn set_deadline(
    conn: &Connection,
    id: &HoldId,
    deadline: &Timestamp,
    at: &Timestamp,
) -> rusqlite::Result<HoldRow> {
    conn.prepare_cached("UPDATE holds SET expires_at = ?, updated_at = ? WHERE id = ? RETURNING *")?
        .query_row(
            params![time::to_db(deadline), time::to_db(at), id.as_str()],
            HoldRow::from_row,
        )
}

fn not_pending(hold: &HoldRow) -> OpError {
    OpError::HoldNotPending {
        id: hold.id.as_str().to_owned(),
        status: hold.status,
    }
}

/// Reserves every line (`reservation.created` each, with `hold_id`). All-or-nothing unless
/// `allow_partial`: a short line then fails the whole hold with every short line listed
/// ([`OpError::ShortLines`]); with `allow_partial` the short lines are kept in `unfulfilled`,
/// and the hold fails only when no line fits. A missing product or stock row is a 404 for the
/// whole hold in both modes: it is a wrong request, not a shortage.
pub fn create_hold(conn: &Connection, input: &HoldInput, at: &Timestamp) -> OpResult<Hold> {
    let now = time::to_db(at);
    let mut hold = HoldRow {
        id: HoldId::mint(),
        customer_id: input.customer_id.clone(),
        status: HoldStatus::Pending,
        expires_at: time::to_db(&(*at + input.ttl)),
        unfulfilled: "[]".to_owned(),
        created_at: now.clone(),
        updated_at: now,
    };
    // The hold row first: the lines reference it.
    insert_hold(conn, &hold)?;
    let mut items: Vec<&HoldItem> = input.items.iter().collect();
    items.sort_by(|a, b| (&a.product_id, &a.store_id).cmp(&(&b.product_id, &b.store_id)));
    let mut lines = Vec::with_capacity(items.len());
    let mut short = Vec::new();
    for item in items {
        let line = ReserveInput {
            product_id: item.product_id.clone(),
            store_id: item.store_id.clone(),
            customer_id: input.customer_id.clone(),
            quantity: item.quantity,
            ttl: input.ttl,
            hold_id: Some(hold.id.clone()),
        };
        match reservations::reserve(&mut SqliteTx::new(conn), &line, at) {
            Ok(row) => lines.push(row),
            Err(OpError::InsufficientStock {
                requested,
                available,
                ..
            }) => short.push(ShortLine {
                product_id: item.product_id.as_str().to_owned(),
                store_id: item.store_id.as_str().to_owned(),
                requested,
                available,
            }),
            Err(other) => return Err(other),
        }
    }
    if !short.is_empty() && (!input.allow_partial || lines.is_empty()) {
        return Err(OpError::ShortLines(short));
    }
    if !short.is_empty() {
        hold.unfulfilled = serde_json::to_string(&short)
            .map_err(|e| OpError::storage("encoding the unfulfilled lines", e))?;
        record_unfulfilled(conn, &hold.id, &hold.unfulfilled)?;
    }
    Ok(Hold { hold, lines })
}

/// One hold with its lines (a point read).
pub fn get_hold(conn: &Connection, id: &HoldId) -> OpResult<Hold> {
    let hold = hold_row(conn, id)?;
    let lines = lines_of(conn, id)?;
    Ok(Hold { hold, lines })
}

/// PENDING and due → EXPIRED with every PENDING line (`reservation.expired` each). `None`
/// when the hold is not PENDING or not yet due (someone else got there first).
pub fn expire_hold(conn: &Connection, id: &HoldId, at: &Timestamp) -> OpResult<Option<Hold>> {
    let now = time::to_db(at);
    let hold = conn
        .prepare_cached(
            "UPDATE holds SET status = 'EXPIRED', updated_at = ?1 \
             WHERE id = ?2 AND status = 'PENDING' AND expires_at <= ?1 RETURNING *",
        )?
        .query_row(params![now, id.as_str()], HoldRow::from_row)
        .optional()?;
    let Some(hold) = hold else {
        return Ok(None);
    };
    for line in pending_lines(conn, id)? {
        reservations::expire_reservation(&mut SqliteTx::new(conn), &line.id, at)?;
    }
    let lines = lines_of(conn, id)?;
    Ok(Some(Hold { hold, lines }))
}

fn pending_lines(conn: &Connection, id: &HoldId) -> rusqlite::Result<Vec<ReservationRow>> {
    Ok(lines_of(conn, id)?
        .into_iter()
        .filter(|l| l.status == ReservationStatus::Pending)
        .collect())
}

/// Reads a PENDING hold for a transition; past its deadline it is expired on the spot and
/// returned as `Ok(Err(expired))` for the caller to answer 409 (committed, not rolled back).
fn pending_hold(conn: &Connection, id: &HoldId, at: &Timestamp) -> OpResult<Result<HoldRow, Hold>> {
    let hold = hold_row(conn, id)?;
    if hold.status != HoldStatus::Pending {
        return Err(not_pending(&hold));
    }
    if hold.expires_at <= time::to_db(at) {
        return match expire_hold(conn, id, at)? {
            Some(expired) => Ok(Err(expired)),
            None => Err(not_pending(&hold)),
        };
    }
    Ok(Ok(hold))
}

/// PENDING → CONFIRMED: every PENDING line is confirmed (`reservation.confirmed` each). Past
/// its deadline the hold is expired instead ([`HoldOutcome::Expired`]).
pub fn confirm_hold(conn: &Connection, id: &HoldId, at: &Timestamp) -> OpResult<HoldOutcome> {
    let hold = match pending_hold(conn, id, at)? {
        Ok(hold) => hold,
        Err(expired) => return Ok(HoldOutcome::Expired(expired)),
    };
    let hold =
        transition(conn, id, HoldStatus::Confirmed, at)?.ok_or_else(|| not_pending(&hold))?;
    for line in pending_lines(conn, id)? {
        // Lines share the hold's deadline, which is not past: each one confirms.
        if let ConfirmOutcome::Expired(row) =
            reservations::confirm(&mut SqliteTx::new(conn), &line.id, at)?
        {
            return Err(OpError::ReservationExpired {
                id: row.id.into_inner(),
                expires_at: row.expires_at,
            });
        }
    }
    let lines = lines_of(conn, id)?;
    Ok(HoldOutcome::Done(Hold { hold, lines }))
}

/// PENDING → CANCELLED: every PENDING line is cancelled (`reservation.cancelled` each).
pub fn cancel_hold(
    conn: &Connection,
    id: &HoldId,
    reason: Option<&str>,
    at: &Timestamp,
) -> OpResult<Hold> {
    let current = hold_row(conn, id)?;
    let hold =
        transition(conn, id, HoldStatus::Cancelled, at)?.ok_or_else(|| not_pending(&current))?;
    for line in pending_lines(conn, id)? {
        reservations::cancel(&mut SqliteTx::new(conn), &line.id, reason, at)?;
    }
    let lines = lines_of(conn, id)?;
    Ok(Hold { hold, lines })
}

/// Moves the deadline of the hold and of every PENDING line to `now + ttl`
/// (`reservation.extended` each), within `RESERVATION_MAX_LIFETIME` of the hold's creation.
pub fn extend_hold(
    conn: &Connection,
    id: &HoldId,
    ttl: chrono::Duration,
    max_lifetime: chrono::Duration,
    at: &Timestamp,
) -> OpResult<ExtendOutcome<Hold>> {
    let hold = match pending_hold(conn, id, at)? {
        Ok(hold) => hold,
        Err(expired) => return Ok(ExtendOutcome::Expired(expired)),
    };
    let deadline = new_deadline(id, &hold.created_at, ttl, max_lifetime, at)?;
    let hold = set_deadline(conn, id, &deadline, at)?;
    for line in pending_lines(conn, id)? {
        extend_line(&mut SqliteTx::new(conn), &line.id, &deadline, at)?;
    }
    let lines = lines_of(conn, id)?;
    Ok(ExtendOutcome::Extended(Hold { hold, lines }))
}

/// What a confirm of a hold did.
#[derive(Debug, Clone)]
pub enum HoldOutcome {
    /// Every PENDING line was confirmed.
    Done(Hold),
    /// It was past its deadline: it was expired instead (and that is committed).
    Expired(Hold),
}
