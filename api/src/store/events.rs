//! [`EventTx`]: the outbox: appending an event in the transaction of the change it is about. Part of [`super::Tx`].

use inventory_shared::events::NewEvent;
use inventory_shared::time::Timestamp;

use super::StoreResult;

/// The outbox: appending an event in the transaction of the change it is about. Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait EventTx {
    /// Appends an event to the outbox in this transaction (it commits or rolls back with the
    /// change it is about). It answers no `seq`: PostgreSQL's unit of work inserts a batch's
    /// events in one statement at the end (`docs/postgres.md`), so no rule may depend on it.
    fn append_event(&mut self, event: &NewEvent, at: &Timestamp) -> StoreResult<()>;

    /// Appends `events` to the outbox in this transaction, in their order, as
    /// [`EventTx::append_event`] would one by one: for a write that appends many at once (the
    /// expiry task's batches), which a backend may insert in fewer statements.
    fn append_events(&mut self, events: &[NewEvent], at: &Timestamp) -> StoreResult<()>;
}
