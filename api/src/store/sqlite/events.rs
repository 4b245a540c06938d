//! [`EventTx`](crate::store::EventTx) on SQLite: the outbox insert, run at once on the writer's connection.

use inventory_shared::events::NewEvent;
use inventory_shared::time::Timestamp;

use super::SqliteTx;
use crate::store::{EventTx, StoreResult};

impl EventTx for SqliteTx<'_> {
    fn append_event(&mut self, event: &NewEvent, at: &Timestamp) -> StoreResult<()> {
        inventory_shared::outbox::append_event(self.conn, event, at)?;
        Ok(())
    }

    /// [`inventory_shared::outbox::append_events`]: multi-row INSERTs in chunks of fixed sizes,
    /// each statement built once (a measured optimisation of the expiry batch,
    /// `bench/profile_expiry.sh`).
    fn append_events(&mut self, events: &[NewEvent], at: &Timestamp) -> StoreResult<()> {
        inventory_shared::outbox::append_events(self.conn, events, at)?;
        Ok(())
    }
}
