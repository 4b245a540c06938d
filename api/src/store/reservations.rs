//! [`ReservationTx`]: the reservations: reading one, storing a new one, moving one to another status or deadline. Part of [`super::Tx`].

use super::StoreResult;
use crate::domain::{ReservationId, ReservationRow, ReservationStatus};

/// The reservations: reading one, storing a new one, moving one to another status or deadline. Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait ReservationTx {
    /// One reservation, if there is one.
    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<ReservationRow>>;

    /// Stores a new reservation (the caller made its row, PENDING, and held its units) and
    /// counts it in its store's PENDING count.
    fn insert_reservation(&mut self, row: &ReservationRow) -> StoreResult<()>;

    /// Moves a PENDING reservation to `status` (a final one: CONFIRMED or CANCELLED; EXPIRED
    /// goes through [`ReservationTx::expire_reservation`], which checks the deadline), answering the
    /// changed row; `None` (nothing changed) when it is missing or no longer PENDING.
    fn finish_reservation(
        &mut self,
        id: &ReservationId,
        status: ReservationStatus,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>>;

    /// Moves a PENDING reservation whose deadline is not after `now` to EXPIRED, answering the
    /// changed row; `None` (nothing changed) when it is missing, no longer PENDING or not yet
    /// due. Its units are not given back here ([`StockTx::release_units`]).
    fn expire_reservation(
        &mut self,
        id: &ReservationId,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>>;

    /// Moves a PENDING reservation's deadline to `deadline` (stored form) if it is not yet due
    /// at `now`, answering the changed row; `None` (nothing changed) when it is missing, no
    /// longer PENDING or already due.
    fn extend_reservation(
        &mut self,
        id: &ReservationId,
        deadline: &str,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>>;

    /// Up to `limit` reservations due at `now`, most overdue first: PENDING, with a deadline
    /// not after `now` (the expiry rule). Reads as many as it answers however large the
    /// backlog, so a batch costs the same at any backlog.
    fn due_reservations(&mut self, now: &str, limit: i64) -> StoreResult<Vec<crate::domain::Due>>;

    /// Expires, in one set-based step, those of `ids` that are single reservations (no hold)
    /// still PENDING and due at `now`; the others are left alone (confirmed, cancelled or
    /// extended since they were found; a hold's lines expire with their hold). Their units go
    /// back to their stock rows, each row's version moving once per reservation. Answers the
    /// expired rows in deadline order (then id), each with the version its stock row reached
    /// when its own units went back, as expiring them one by one in that order would have
    /// left it ([`ReservationTx::expire_reservation`], then [`StockTx::release_units`]).
    ///
    /// [`StockTx::release_units`]: super::StockTx::release_units
    fn expire_singles(
        &mut self,
        ids: &[ReservationId],
        now: &str,
    ) -> StoreResult<Vec<(ReservationRow, i64)>>;
}
