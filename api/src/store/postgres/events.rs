//! [`EventTx`] on PostgreSQL: an event is made ready (its payload serialised) when the rule
//! appends it, and inserted with the batch's others by the flush.

use inventory_shared::events::NewEvent;
use inventory_shared::outbox::postgres::EventRow;
use inventory_shared::time::Timestamp;

use super::PgTx;
use crate::store::{EventTx, StoreResult};

impl EventTx for PgTx {
    fn append_event(&mut self, event: &NewEvent, at: &Timestamp) -> StoreResult<()> {
        self.unit.events.push(EventRow::new(event, at));
        Ok(())
    }

    fn append_events(&mut self, events: &[NewEvent], at: &Timestamp) -> StoreResult<()> {
        self.unit
            .events
            .extend(events.iter().map(|e| EventRow::new(e, at)));
        Ok(())
    }
}
