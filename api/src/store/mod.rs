//! The storage seam (issue 18, step 2): [`Tx`], what the inventory rules need from a write
//! transaction, and one implementation per backend ([`sqlite`] today; PostgreSQL's unit of
//! work later, `docs/postgres.md`).
//!
//! Layers: `crate::ops` (the rules) sits above this module and writes every ported rule against
//! [`Tx`]; this module sits above `crate::domain`, whose ids, quantities and typed rows are
//! what [`Tx`] takes and returns. So every import points one way, `ops → store → domain`:
//! the trait cannot name an `ops` type (hence its own error, [`StoreError`], which
//! `ops::OpError` converts from), and a backend implements the trait without knowing the rules
//! that call it. A backend module (`sqlite`, `postgres`) is this layer's code too; the rules
//! never name it: the writers hand each job a `&mut dyn Tx` (`crate::writer`), and only the
//! point reads and the SQLite-only housekeeping build a [`sqlite::SqliteTx`] themselves.
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

pub mod events;
pub mod holds;
pub mod keys;
pub mod nesting;
pub mod postgres;
pub mod products;
pub mod reservations;
pub mod sqlite;
pub mod stock;

pub use events::EventTx;
pub use holds::HoldTx;
pub use keys::KeyTx;
pub use nesting::NestTx;
pub use products::ProductTx;
pub use reservations::ReservationTx;
pub use stock::StockTx;

use crate::domain::{ProductId, ReservationId, StoreId};

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

/// The rows a write will act on, said before it runs. SQLite ignores it (its writer holds
/// the whole file); PostgreSQL's writer locks a batch's declared rows up front in one global
/// order, so batches on two replicas never wait for each other in a cycle. Declaring is an
/// optimisation and a deadlock guard, not a promise: a row not declared is locked when a
/// job first reaches it (and a deadlock that causes reruns the batch).
#[derive(Debug, Default, Clone)]
pub struct Declared {
    /// Stock rows, as (product, store).
    pub pairs: Vec<(ProductId, StoreId)>,
    /// Reservations acted on by id (confirm, cancel, extend, expire); their stock rows are
    /// locked after them.
    pub reservations: Vec<ReservationId>,
    /// Products whose existence a job checks.
    pub products: Vec<ProductId>,
}

impl Declared {
    /// Adds `other`'s rows.
    pub fn extend(&mut self, other: &Declared) {
        self.pairs.extend(other.pairs.iter().cloned());
        self.reservations.extend(other.reservations.iter().cloned());
        self.products.extend(other.products.iter().cloned());
    }
}

/// A write transaction, as the inventory rules see it: every part below, one per area (a file
/// each, so a backend's code for one area reads in one place). Every method acts inside the
/// transaction the caller runs (the writer's batch); nothing here commits.
///
/// Times: `now` is the change's time in the stored form (`inventory_shared::time::to_db`),
/// which every row already carries; `at` is the same instant, for the event's envelope.
/// A backend whose column is a timestamp type converts at its edge (PostgreSQL binds the text
/// as `timestamptz`, which reads that form exactly, and formats what it reads back with
/// `to_db`), so the rules and the typed rows see one form on both backends.
pub trait Tx: StockTx + ProductTx + ReservationTx + HoldTx + KeyTx + EventTx + NestTx {}

impl<T> Tx for T where
    T: StockTx + ProductTx + ReservationTx + HoldTx + KeyTx + EventTx + NestTx + ?Sized
{
}
