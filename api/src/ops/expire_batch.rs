//! Expiring due reservations as a set, for the expiry task's batches ([`crate::expiry`]):
//! which reservations are due (the one rule, PENDING with a deadline not after now), and the
//! set-based expiry of single reservations with one `reservation.expired` event each.
//! One reservation at a time is [`super::reservations::expire_reservation`]; a hold's lines
//! expire with their hold ([`super::holds::expire_hold`]).
//!
//! Written against the storage seam ([`crate::store::Tx`], no SQL): the set-based statements
//! and their sizes (a measured optimisation, `bench/profile_expiry.sh`) are the SQLite
//! backend's ([`ReservationTx::expire_singles`](crate::store::ReservationTx::expire_singles),
//! [`EventTx::append_events`](crate::store::EventTx::append_events)).

use inventory_shared::time::{self, Timestamp};

use super::OpResult;
use super::reservations::{ReservationRow, expired_event};
pub use crate::domain::Due;
use crate::domain::ReservationId;
use crate::store::Tx;

/// Up to `limit` due reservations, most overdue first: the expiry rule, PENDING with a
/// deadline not after `at` (reads `limit` of them however large the backlog).
pub fn due_reservations<T: Tx + ?Sized>(
    tx: &mut T,
    at: &Timestamp,
    limit: i64,
) -> OpResult<Vec<Due>> {
    Ok(tx.due_reservations(&time::to_db(at), limit)?)
}

/// Expires the given reservations as a set, each only if it is still PENDING and due (the
/// guard of [`super::reservations::expire_reservation`], in the change itself, so one
/// confirmed, cancelled or extended since it was found is left alone): their units go back
/// and each gets its own `reservation.expired` event, exactly as one-by-one expiry would have
/// written them (the stock version moves once per reservation; each event carries the version
/// its own release reached), appended together ([`EventTx::append_events`]). Returns the
/// expired rows, in deadline order. For single reservations: a hold's lines expire with their
/// hold ([`super::holds::expire_hold`]).
///
/// The status counters stay exact through the update trigger of `reservations`, the event
/// counters through [`EventTx::append_events`].
///
/// [`EventTx::append_events`]: crate::store::EventTx::append_events
pub fn expire_many<T: Tx + ?Sized>(
    tx: &mut T,
    ids: &[ReservationId],
    at: &Timestamp,
) -> OpResult<Vec<ReservationRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let expired = tx.expire_singles(ids, &time::to_db(at))?;
    let events: Vec<_> = expired
        .iter()
        .map(|(row, version)| expired_event(row, *version, at))
        .collect();
    tx.append_events(&events, at)?;
    Ok(expired.into_iter().map(|(row, _)| row).collect())
}
