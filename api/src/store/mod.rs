//! The storage seam (issue 18, step 2): [`Tx`], what the inventory rules need from a write
//! transaction, and one implementation per backend ([`sqlite`] today; PostgreSQL's unit of
//! work later, `docs/postgres.md`).
//!
//! Layers: `crate::ops` (the rules) sits above this module and writes every ported rule against
//! [`Tx`]; this module sits above `crate::domain`, whose ids, quantities and typed rows are
//! what [`Tx`] takes and returns. So every import points one way, `ops → store → domain`:
//! the trait cannot name an `ops` type (hence its own error, [`StoreError`], which
//! `ops::OpError` converts from), and a backend implements the trait without knowing the rules
//! that call it. A backend module (`sqlite`) is this layer's code too; the rules never name it
//! (only their callers do, to build a [`sqlite::SqliteTx`] on the writer's connection, until
//! the writer hands its jobs a `&mut dyn Tx`, a later slice).
//!
//! The methods are "what a rule needs", not "run this SQL": hold n units of a (product, store)
//! if they are available, read a stock row, move a PENDING reservation to a final status, …
//! On SQLite each runs its statement at once, inside the writer's `BEGIN IMMEDIATE`. On
//! PostgreSQL a batch will run them against rows it locked up front and flush the changes
//! set-based; so a method promises a result (the row, the new version, `None`), never how many
//! statements it takes.
//!
//! **Refusals before writes.** A method that can refuse (answers `None` or `false`) changes
//! nothing when it does: the guard is part of the change (`... WHERE quantity - reserved >=
//! n`, `... AND status = 'PENDING'`), so a rule that is refused by its first write leaves
//! nothing to undo, and the writer runs it without a savepoint
//! (`writer::Containment::RefusesBeforeWriting`). A method that fails (`Err`) may have written;
//! the writer's savepoint or rollback undoes it.
//!
//! `Tx` is synchronous on purpose: SQLite's writer thread runs a statement in a few µs and
//! must not pay for an async hand-off per statement (`docs/postgres.md`).

use inventory_shared::events::NewEvent;
use inventory_shared::time::Timestamp;

use crate::domain::{
    PositiveQuantity, ProductId, ReservationId, ReservationRow, StockRow, StoreId,
};

pub mod sqlite;

#[cfg(test)]
mod tests;

/// Why a [`Tx`] method did not answer: the storage failed. A refusal is never an error here
/// (it is `None` or `false`); the rules decide which refusal is which `OpError`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The statement was interrupted because its time budget ran out (a read's budget);
    /// answered as `QUERY_TIMEOUT`.
    #[error("interrupted: over its time budget")]
    OverBudget,
    /// The storage failed (or a bug), with what the backend was doing; logged, never shown.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// The result of a [`Tx`] method.
pub type StoreResult<T> = Result<T, StoreError>;

/// A write transaction, as the inventory rules see it. Every method acts inside the
/// transaction the caller runs (the writer's batch); nothing here commits.
///
/// Times: `now` is the change's time in the stored form (`inventory_shared::time::to_db`),
/// which every row already carries; `at` is the same instant, for the event's envelope.
pub trait Tx {
    /// Holds `quantity` units of (product, store) if at least that many are available
    /// (`quantity - reserved >= n`), bumping the row's version; answers the new version, or
    /// `None` (nothing changed) when the row is missing or has too few units.
    fn hold_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<Option<i64>>;

    /// Gives a reservation's held units back to `available` (cancel, expire), bumping the stock
    /// row's version; answers the new version. The row exists and holds them (the reservation
    /// was PENDING, and a PENDING reservation's units are in `reserved`).
    fn release_units(&mut self, row: &ReservationRow, now: &str) -> StoreResult<i64>;

    /// Takes a confirmed reservation's units off the shelf (out of both `quantity` and
    /// `reserved`), bumping the stock row's version; answers the new version. Same premise as
    /// [`Tx::release_units`].
    fn sell_units(&mut self, row: &ReservationRow, now: &str) -> StoreResult<i64>;

    /// The stock row of (product, store), if there is one.
    fn stock_row(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
    ) -> StoreResult<Option<StockRow>>;

    /// Whether the product exists.
    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool>;

    /// One reservation, if there is one.
    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<ReservationRow>>;

    /// Stores a new reservation (the caller made its row, PENDING, and held its units) and
    /// counts it in its store's PENDING count.
    fn insert_reservation(&mut self, row: &ReservationRow) -> StoreResult<()>;

    /// Moves a PENDING reservation to `status` (a final one: CONFIRMED or CANCELLED; EXPIRED
    /// goes through [`Tx::expire_reservation`], which checks the deadline), answering the
    /// changed row; `None` (nothing changed) when it is missing or no longer PENDING.
    fn finish_reservation(
        &mut self,
        id: &ReservationId,
        status: crate::domain::ReservationStatus,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>>;

    /// Moves a PENDING reservation whose deadline is not after `now` to EXPIRED, answering the
    /// changed row; `None` (nothing changed) when it is missing, no longer PENDING or not yet
    /// due. Its units are not given back here ([`Tx::release_units`]).
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

    /// Appends an event to the outbox in this transaction (it commits or rolls back with the
    /// change it is about). It answers no `seq`: PostgreSQL's unit of work inserts a batch's
    /// events in one statement at the end (`docs/postgres.md`), so no rule may depend on it.
    fn append_event(&mut self, event: &NewEvent, at: &Timestamp) -> StoreResult<()>;
}
