//! `MESSAGE_BROKER=nats` (to be written).

use clap::Args;
use futures::future::BoxFuture;
use inventory_shared::outbox::StoredEvent;

use super::{BatchFailure, PublishError, Publisher};

/// Nats connection settings.
#[derive(Debug, Clone, Args)]
pub struct NatsSettings {}

/// Publishes to Nats.
#[derive(Debug)]
pub struct NatsPublisher {}

impl NatsPublisher {
    /// Builds the publisher; connects lazily.
    pub fn new(_settings: &NatsSettings) -> anyhow::Result<Self> {
        anyhow::bail!("MESSAGE_BROKER=nats is not built yet")
    }
}

impl Publisher for NatsPublisher {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn publish<'a>(&'a mut self, _events: &'a [StoredEvent]) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(async { Ok(()) })
    }

    fn already_published<'a>(
        &'a mut self,
        _pending: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<Vec<i64>, PublishError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async { Ok(()) })
    }
}
