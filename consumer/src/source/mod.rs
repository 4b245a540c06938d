//! Where events come from: one [`Source`] per broker. A source hands out batches of
//! deliveries and acknowledges them once the caller committed their effect locally; until
//! then a crash means redelivery (at-least-once), which the inbox turns into exactly-once.

pub mod kafka;
pub mod nats;
pub mod redis;

use futures::future::BoxFuture;

use crate::event::{Incoming, ParseError};

/// How to acknowledge one delivery on its broker.
#[derive(Debug)]
pub enum AckToken {
    /// A Redis stream entry id.
    Redis(String),
    /// A Kafka partition and offset.
    Kafka {
        /// Partition.
        partition: i32,
        /// Offset of the message.
        offset: i64,
    },
    /// A JetStream message (acknowledged through its reply subject).
    Nats(Box<async_nats::jetstream::Message>),
}

/// One message from the broker.
#[derive(Debug)]
pub struct Delivery {
    /// The event, or why the message is not one.
    pub event: Result<Incoming, ParseError>,
    /// Acknowledges it.
    pub ack: AckToken,
}

/// A broker subscription.
pub trait Source: Send {
    /// `redis`, `kafka` or `nats`.
    fn name(&self) -> &'static str;

    /// Up to `max` deliveries; waits about a second at most, so an empty batch is normal.
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, anyhow::Result<Vec<Delivery>>>;

    /// Acknowledges deliveries whose effect is committed.
    fn ack(&mut self, tokens: Vec<AckToken>) -> BoxFuture<'_, anyhow::Result<()>>;
}
