//! [`HoldTx`]: the holds (multi-line reservations). Part of [`super::Tx`].
//!
//! A hold's lines are ordinary reservations (with `hold_id` set), stored and moved through
//! [`super::ReservationTx`] and [`super::StockTx`]; this part is the `holds` row itself (its
//! shared deadline, its own status, the lines a partial hold could not reserve) and the read
//! of a hold's lines.

use super::StoreResult;
use crate::domain::{HoldId, HoldRow, HoldStatus, ReservationRow};

/// The holds (multi-line reservations). Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait HoldTx {
    /// One hold, if there is one.
    fn hold(&mut self, id: &HoldId) -> StoreResult<Option<HoldRow>>;

    /// The lines of a hold (every status), in (product, store) order; empty when it has none
    /// (or there is no such hold).
    fn hold_lines(&mut self, id: &HoldId) -> StoreResult<Vec<ReservationRow>>;

    /// Stores a new hold (the caller made its row, PENDING, before any of its lines: a line
    /// names its hold).
    fn insert_hold(&mut self, row: &HoldRow) -> StoreResult<()>;

    /// Records the lines a partial hold could not reserve (`unfulfilled`, the stored JSON
    /// list) on a hold this transaction stored. Premise: the hold exists.
    fn record_unfulfilled(&mut self, id: &HoldId, lines: &str) -> StoreResult<()>;

    /// Moves a PENDING hold to `status` (a final one: CONFIRMED or CANCELLED; EXPIRED goes
    /// through [`HoldTx::expire_hold`], which checks the deadline), answering the changed row;
    /// `None` (nothing changed) when it is missing or no longer PENDING. Its lines are not
    /// moved here: the rule moves each one.
    fn finish_hold(
        &mut self,
        id: &HoldId,
        status: HoldStatus,
        now: &str,
    ) -> StoreResult<Option<HoldRow>>;

    /// Moves a PENDING hold whose deadline is not after `now` to EXPIRED, answering the
    /// changed row; `None` (nothing changed) when it is missing, no longer PENDING or not yet
    /// due. Its lines are not expired here.
    fn expire_hold(&mut self, id: &HoldId, now: &str) -> StoreResult<Option<HoldRow>>;

    /// Sets a hold's deadline to `deadline` (stored form), answering the changed row. Not
    /// guarded: premise, the caller read the hold PENDING and not yet due in this transaction
    /// (a missing hold is a failure, `Err`). Its lines' deadlines are moved one by one.
    fn set_hold_deadline(&mut self, id: &HoldId, deadline: &str, now: &str)
    -> StoreResult<HoldRow>;
}
