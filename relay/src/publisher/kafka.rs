//! `MESSAGE_BROKER=kafka` (to be written).

use clap::Args;
use futures::future::BoxFuture;
use inventory_shared::outbox::StoredEvent;

use super::{BatchFailure, PublishError, Publisher};

/// Kafka connection settings.
#[derive(Debug, Clone, Args)]
pub struct KafkaSettings {}

/// Publishes to Kafka.
#[derive(Debug)]
pub struct KafkaPublisher {}

impl KafkaPublisher {
    /// Builds the publisher; connects lazily.
    pub fn new(_settings: &KafkaSettings) -> anyhow::Result<Self> {
        anyhow::bail!("MESSAGE_BROKER=kafka is not built yet")
    }
}

impl Publisher for KafkaPublisher {
    fn name(&self) -> &'static str {
        "kafka"
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
