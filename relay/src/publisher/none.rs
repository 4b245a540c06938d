//! `MESSAGE_BROKER=none`: marks events synced without sending them (database-only installs,
//! where consumers read `GET /api/v1/events` instead).

use futures::future::BoxFuture;
use inventory_shared::outbox::StoredEvent;

use super::{BatchFailure, PublishError, Publisher};

/// Publishes nowhere; every event counts as published.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonePublisher;

impl Publisher for NonePublisher {
    fn name(&self) -> &'static str {
        "none"
    }

    fn publish<'a>(
        &'a mut self,
        _events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(async { Ok(()) })
    }

    fn already_published(
        &mut self,
        _oldest: i64,
        _window: usize,
    ) -> BoxFuture<'_, Result<Vec<i64>, PublishError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async { Ok(()) })
    }
}
