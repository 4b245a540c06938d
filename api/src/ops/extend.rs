//! Extending a PENDING reservation: a checkout that takes longer than its TTL keeps its units.
//!
//! The new deadline is `now + ttl`, never later than `RESERVATION_MAX_LIFETIME` after the
//! reservation's creation (else [`OpError::LifetimeExceeded`]), so a client cannot hold stock
//! forever by extending in a loop. The change that moves the deadline
//! ([`ReservationTx::extend_reservation`](crate::store::ReservationTx::extend_reservation)) is guarded by `status = 'PENDING' AND expires_at > now`, and
//! expiry by `expires_at <= now`: an extend and
//! the expiry task racing over one reservation cannot both apply (the single writer runs them
//! one after the other; whichever comes second finds nothing to do).
//!
//! The rules are written against the storage seam ([`crate::store::Tx`]) and hold no SQL.
//!
//! A line of a hold is extended through its hold ([`crate::ops::holds::extend_hold`]), which
//! calls [`extend_line`] per line: a hold has one deadline.

use inventory_shared::events::{NewEvent, ReservationExtended};
use inventory_shared::time::{self, Timestamp};

use super::reservations::{ReservationRow, expire_reservation, not_pending, reservation_row};
use super::{OpError, OpResult};
use crate::domain::{ReservationId, ReservationStatus};
use crate::store::Tx;

/// What an extend did.
#[derive(Debug, Clone)]
pub enum ExtendOutcome<T> {
    /// The deadline moved.
    Extended(T),
    /// It was past its deadline: it was expired instead (and that is committed).
    Expired(T),
}

/// The deadline an extension asks for, checked against the lifetime cap.
pub(crate) fn new_deadline(
    id: &impl std::fmt::Display,
    created_at: &str,
    ttl: chrono::Duration,
    max_lifetime: chrono::Duration,
    at: &Timestamp,
) -> OpResult<Timestamp> {
    let created = time::from_db(created_at)
        .map_err(|e| OpError::storage("reading a stored creation time", e))?;
    let latest = created + max_lifetime;
    let deadline = *at + ttl;
    if deadline > latest {
        return Err(OpError::LifetimeExceeded {
            id: id.to_string(),
            latest: time::to_db(&latest),
        });
    }
    Ok(deadline)
}

/// Moves one PENDING, not yet due reservation's deadline (`reservation.extended`); `None`
/// when it is no longer PENDING or already due.
pub(crate) fn extend_line<T: Tx + ?Sized>(
    tx: &mut T,
    id: &ReservationId,
    deadline: &Timestamp,
    at: &Timestamp,
) -> OpResult<Option<ReservationRow>> {
    let row = tx.extend_reservation(id, &time::to_db(deadline), &time::to_db(at))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let event = NewEvent::ReservationExtended(ReservationExtended {
        reservation_id: row.id.as_str().to_owned(),
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        expires_at: *deadline,
        hold_id: row.hold_id.as_ref().map(|h| h.as_str().to_owned()),
    });
    tx.append_event(&event, at)?;
    Ok(Some(row))
}

/// Extends a single reservation to `now + ttl`. Past its deadline it is expired instead, as a
/// confirm would do.
pub fn extend<T: Tx + ?Sized>(
    tx: &mut T,
    id: &ReservationId,
    ttl: chrono::Duration,
    max_lifetime: chrono::Duration,
    at: &Timestamp,
) -> OpResult<ExtendOutcome<ReservationRow>> {
    let row = reservation_row(tx, id)?;
    if let Some(hold_id) = &row.hold_id {
        return Err(OpError::InHold {
            id: row.id.as_str().to_owned(),
            hold_id: hold_id.as_str().to_owned(),
        });
    }
    if row.status != ReservationStatus::Pending {
        return Err(not_pending(&row));
    }
    if row.expires_at <= time::to_db(at) {
        return match expire_reservation(tx, id, at)? {
            Some(expired) => Ok(ExtendOutcome::Expired(expired)),
            None => Err(not_pending(&row)),
        };
    }
    let deadline = new_deadline(id, &row.created_at, ttl, max_lifetime, at)?;
    extend_line(tx, id, &deadline, at)?
        .map(ExtendOutcome::Extended)
        .ok_or_else(|| not_pending(&row))
}
