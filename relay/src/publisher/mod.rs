//! The one interface every broker implements, and one module per broker. Each module owns its
//! settings (the connection shared with the consumer, `inventory_shared::broker`, plus its
//! publisher-only knobs); [`crate::config`] composes them and [`crate::app::build_publisher`] picks one, so
//! nothing here depends on the relay's configuration.
//!
//! Adding a broker is a new module here plus one `BrokerKind` value: the publish loop only
//! talks to `dyn Publisher`.

use futures::future::BoxFuture;
use inventory_shared::outbox::StoredEvent;

pub mod kafka;
pub mod nats;
pub mod none;
pub mod redis;

/// Why a publish did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The broker could not be reached, timed out, or the outcome is unknown. Retried with
    /// backoff forever; never counts towards parking; never skips the event.
    #[error("broker unavailable: {0}")]
    Transient(String),
    /// The broker refused this one event for itself (too large, invalid). Counts towards
    /// `RELAY_MAX_ATTEMPTS`, after which the event is parked.
    #[error("event rejected by the broker: {0}")]
    Rejected(String),
}

/// A batch that did not fully go through: the first `published` events are acknowledged by the
/// broker (in order); the event at index `published` failed with `error`; the rest were not
/// acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    /// How many events at the start of the batch the broker acknowledged.
    pub published: usize,
    /// What happened to the next one.
    pub error: PublishError,
}

/// A message broker the relay publishes to.
pub trait Publisher: Send {
    /// Short name for logs and `/health` (`redis`, `kafka`, `nats`, `none`).
    fn name(&self) -> &'static str;

    /// Publishes `events` (in `seq` order) in as few round trips as the broker allows, and
    /// returns only once every event is acknowledged, or says how far it got.
    fn publish<'a>(
        &'a mut self,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>>;

    /// After a start or an error with an unknown outcome: the `seq`s at or above `oldest` (the
    /// oldest pending event) that the broker's last `window` records carry (on every partition
    /// of a partitioned broker), in ascending order, so the caller marks the pending ones among
    /// them instead of sending them twice. **Membership, never "at most the last `seq`"**: on
    /// PostgreSQL events reach the broker out of `seq` order (`docs/relay.md`), so an event
    /// below one already in the broker may still be missing. Brokers that cannot tell return
    /// an empty list.
    fn already_published(
        &mut self,
        oldest: i64,
        window: usize,
    ) -> BoxFuture<'_, Result<Vec<i64>, PublishError>>;

    /// Answers whether the broker is reachable right now (for `/health`).
    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>>;
}
