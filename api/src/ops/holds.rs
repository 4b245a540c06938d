//! Holds: several reservations for one customer made together, with one deadline.
//!
//! Each line is an ordinary reservation made, confirmed, cancelled, expired and extended by
//! the single-reservation operations ([`reservations`], [`extend_line`]), so its stock change
//! and its event are exactly those of a single reservation, with `hold_id` set. The `holds`
//! row adds the shared deadline and the hold's own status; every transition of a hold runs in
//! one write job, so its lines change together or not at all (the writer rolls the job's
//! savepoint back on an error).
//!
//! The rules are written against the storage seam ([`crate::store::Tx`]) and hold no SQL: the
//! `holds` row is read and moved through [`HoldTx`](crate::store::HoldTx) (each transition
//! guarded by `status = 'PENDING'` in the change that makes it, as a reservation's is), the
//! lines through the reservation rules on the same transaction.
//!
//! Lines are always taken in (product, store) order. The single writer already serialises
//! holds, so two holds over the same rows cannot wedge each other today; the fixed order also
//! makes the order of a hold's events independent of how the client listed its items, and
//! would keep holds deadlock-free under row locks.

use inventory_shared::time::{self, Timestamp};

use super::error::ShortLine;
use super::extend::{ExtendOutcome, extend_line, new_deadline};
use super::reservations::{self, ConfirmOutcome, ReservationRow, ReserveInput};
use super::{OpError, OpResult};
pub use crate::domain::HoldRow;
use crate::domain::{HoldId, HoldStatus, PositiveQuantity, ProductId, ReservationStatus, StoreId};
use crate::store::Tx;

impl HoldRow {
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

fn not_pending(hold: &HoldRow) -> OpError {
    OpError::HoldNotPending {
        id: hold.id.as_str().to_owned(),
        status: hold.status,
    }
}

/// The hold `id`, or [`OpError::HoldNotFound`].
fn hold_row<T: Tx + ?Sized>(tx: &mut T, id: &HoldId) -> OpResult<HoldRow> {
    tx.hold(id)?
        .ok_or_else(|| OpError::HoldNotFound(id.as_str().to_owned()))
}

/// Reserves every line (`reservation.created` each, with `hold_id`). All-or-nothing unless
/// `allow_partial`: a short line then fails the whole hold with every short line listed
/// ([`OpError::ShortLines`]); with `allow_partial` the short lines are kept in `unfulfilled`,
/// and the hold fails only when no line fits. A missing product or stock row is a 404 for the
/// whole hold in both modes: it is a wrong request, not a shortage.
///
/// **Refuses after writing.** The hold row is stored first and the lines that fit are
/// reserved before a short line is known to fail the hold, so a refused hold has written: it
/// relies on its job being undone as a whole. The writer runs it in a savepoint of its own
/// ([`crate::writer::Containment::Savepoint`], the default of every hold route), never as
/// [`crate::writer::Containment::RefusesBeforeWriting`]. PostgreSQL's unit of work must give it
/// the same: a job mark to which a refused job's buffered writes (the hold row, its
/// reservations, their events) are dropped and the stock rows it changed restored, while
/// its neighbours in the batch keep theirs. The rows it needs are known before it runs: the
/// (product, store) pair of every item (`input.items`), which the batch locks up front in its
/// (product, store) order, the order the lines are taken in here.
pub fn create_hold<T: Tx + ?Sized>(
    tx: &mut T,
    input: &HoldInput,
    at: &Timestamp,
) -> OpResult<Hold> {
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
    tx.insert_hold(&hold)?;
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
        match reservations::reserve(tx, &line, at) {
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
        tx.record_unfulfilled(&hold.id, &hold.unfulfilled)?;
    }
    Ok(Hold { hold, lines })
}

/// One hold with its lines (a point read: the caller's [`Tx`] is on a read connection).
pub fn get_hold<T: Tx + ?Sized>(tx: &mut T, id: &HoldId) -> OpResult<Hold> {
    let hold = hold_row(tx, id)?;
    let lines = tx.hold_lines(id)?;
    Ok(Hold { hold, lines })
}

/// PENDING and due → EXPIRED with every PENDING line (`reservation.expired` each). `None`
/// when the hold is not PENDING or not yet due (someone else got there first).
pub fn expire_hold<T: Tx + ?Sized>(
    tx: &mut T,
    id: &HoldId,
    at: &Timestamp,
) -> OpResult<Option<Hold>> {
    let now = time::to_db(at);
    let Some(hold) = tx.expire_hold(id, &now)? else {
        return Ok(None);
    };
    for line in pending_lines(tx, id)? {
        reservations::expire_reservation(tx, &line.id, at)?;
    }
    let lines = tx.hold_lines(id)?;
    Ok(Some(Hold { hold, lines }))
}

/// The hold's lines that are still PENDING ((product, store) order).
fn pending_lines<T: Tx + ?Sized>(tx: &mut T, id: &HoldId) -> OpResult<Vec<ReservationRow>> {
    Ok(tx
        .hold_lines(id)?
        .into_iter()
        .filter(|l| l.status == ReservationStatus::Pending)
        .collect())
}

/// Reads a PENDING hold for a transition; past its deadline it is expired on the spot and
/// returned as `Ok(Err(expired))` for the caller to answer 409 (committed, not rolled back).
fn pending_hold<T: Tx + ?Sized>(
    tx: &mut T,
    id: &HoldId,
    at: &Timestamp,
) -> OpResult<Result<HoldRow, Hold>> {
    let hold = hold_row(tx, id)?;
    if hold.status != HoldStatus::Pending {
        return Err(not_pending(&hold));
    }
    if hold.expires_at <= time::to_db(at) {
        return match expire_hold(tx, id, at)? {
            Some(expired) => Ok(Err(expired)),
            None => Err(not_pending(&hold)),
        };
    }
    Ok(Ok(hold))
}

/// PENDING → CONFIRMED: every PENDING line is confirmed (`reservation.confirmed` each). Past
/// its deadline the hold is expired instead ([`HoldOutcome::Expired`]).
pub fn confirm_hold<T: Tx + ?Sized>(
    tx: &mut T,
    id: &HoldId,
    at: &Timestamp,
) -> OpResult<HoldOutcome> {
    let hold = match pending_hold(tx, id, at)? {
        Ok(hold) => hold,
        Err(expired) => return Ok(HoldOutcome::Expired(expired)),
    };
    let hold = tx
        .finish_hold(id, HoldStatus::Confirmed, &time::to_db(at))?
        .ok_or_else(|| not_pending(&hold))?;
    for line in pending_lines(tx, id)? {
        // Lines share the hold's deadline, which is not past: each one confirms.
        if let ConfirmOutcome::Expired(row) = reservations::confirm(tx, &line.id, at)? {
            return Err(OpError::ReservationExpired {
                id: row.id.into_inner(),
                expires_at: row.expires_at,
            });
        }
    }
    let lines = tx.hold_lines(id)?;
    Ok(HoldOutcome::Done(Hold { hold, lines }))
}

/// PENDING → CANCELLED: every PENDING line is cancelled (`reservation.cancelled` each).
pub fn cancel_hold<T: Tx + ?Sized>(
    tx: &mut T,
    id: &HoldId,
    reason: Option<&str>,
    at: &Timestamp,
) -> OpResult<Hold> {
    let current = hold_row(tx, id)?;
    let hold = tx
        .finish_hold(id, HoldStatus::Cancelled, &time::to_db(at))?
        .ok_or_else(|| not_pending(&current))?;
    for line in pending_lines(tx, id)? {
        reservations::cancel(tx, &line.id, reason, at)?;
    }
    let lines = tx.hold_lines(id)?;
    Ok(Hold { hold, lines })
}

/// Moves the deadline of the hold and of every PENDING line to `now + ttl`
/// (`reservation.extended` each), within `RESERVATION_MAX_LIFETIME` of the hold's creation.
pub fn extend_hold<T: Tx + ?Sized>(
    tx: &mut T,
    id: &HoldId,
    ttl: chrono::Duration,
    max_lifetime: chrono::Duration,
    at: &Timestamp,
) -> OpResult<ExtendOutcome<Hold>> {
    let hold = match pending_hold(tx, id, at)? {
        Ok(hold) => hold,
        Err(expired) => return Ok(ExtendOutcome::Expired(expired)),
    };
    let deadline = new_deadline(id, &hold.created_at, ttl, max_lifetime, at)?;
    let hold = tx.set_hold_deadline(id, &time::to_db(&deadline), &time::to_db(at))?;
    for line in pending_lines(tx, id)? {
        extend_line(tx, &line.id, &deadline, at)?;
    }
    let lines = tx.hold_lines(id)?;
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
