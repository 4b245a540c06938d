//! `MESSAGE_BROKER=redis` (to be written).

use clap::Args;
use futures::future::BoxFuture;
use inventory_shared::outbox::StoredEvent;

use super::{BatchFailure, PublishError, Publisher};

/// Redis connection settings.
#[derive(Debug, Clone, Args)]
pub struct RedisSettings {}

/// Publishes to Redis.
#[derive(Debug)]
pub struct RedisPublisher {}

impl RedisPublisher {
    /// Builds the publisher; connects lazily.
    pub fn new(_settings: &RedisSettings) -> anyhow::Result<Self> {
        anyhow::bail!("MESSAGE_BROKER=redis is not built yet")
    }
}

impl Publisher for RedisPublisher {
    fn name(&self) -> &'static str {
        "redis"
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
