//! The broker a takeover test publishes to, each a private server on a free port: Redis
//! (`common::RedisServer`), Kafka (`tansu`, `brokers::Tansu`) or NATS JetStream
//! (`brokers::NatsServer`). Each says how a relay reaches it and reads back what it holds, so
//! one takeover test runs against all three.

use std::path::Path;
use std::time::Duration;

use crate::brokers::{NatsServer, Tansu, read_kafka, read_nats};
use crate::common::{RedisServer, STREAM};

/// The Kafka topic and its partition count (more than one: each product must stay on one).
const TOPIC: &str = "inventory-events";
pub const PARTITIONS: i32 = 3;
/// The JetStream stream.
const NATS_STREAM: &str = "INVENTORY_EVENTS";
/// How long the Kafka read-back goes on after the expected count, to catch duplicates.
const KAFKA_SETTLE: Duration = Duration::from_secs(1);

/// Which broker a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Redis,
    Kafka,
    Nats,
}

/// A running private broker.
pub enum Broker {
    Redis(RedisServer),
    Kafka(Tansu),
    Nats(NatsServer),
}

/// One event as the broker holds it.
#[derive(Debug, Clone)]
pub struct Held {
    /// The product (the broker key: the unit of ordering).
    pub product: String,
    pub seq: i64,
}

impl Broker {
    /// Starts the broker, its logs and store (if any) under `dir`, and waits until it serves.
    pub async fn start(kind: Kind, dir: &Path) -> Self {
        match kind {
            Kind::Redis => Self::Redis(RedisServer::start().await),
            Kind::Kafka => Self::Kafka(Tansu::start_with_topic(dir, TOPIC, PARTITIONS).await),
            Kind::Nats => Self::Nats(NatsServer::start(dir)),
        }
    }

    /// `redis`, `kafka` or `nats`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::Kafka(_) => "kafka",
            Self::Nats(_) => "nats",
        }
    }

    /// The relay's environment for this broker.
    pub fn relay_env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Redis(redis) => vec![
                ("MESSAGE_BROKER", "redis".to_owned()),
                ("REDIS_URL", redis.url()),
            ],
            Self::Kafka(tansu) => vec![
                ("MESSAGE_BROKER", "kafka".to_owned()),
                ("KAFKA_BROKERS", tansu.brokers_addr()),
                ("KAFKA_TOPIC", TOPIC.to_owned()),
                ("KAFKA_TIMEOUT", "5s".to_owned()),
            ],
            Self::Nats(nats) => vec![
                ("MESSAGE_BROKER", "nats".to_owned()),
                ("NATS_URL", nats.url()),
                ("NATS_STREAM", NATS_STREAM.to_owned()),
                ("NATS_TIMEOUT", "2s".to_owned()),
            ],
        }
    }

    /// Every event the broker holds (at least `expected` of them), each product's in the
    /// order a consumer of that product reads them: the stream's order (Redis, NATS), the
    /// offset order of the product's partition (Kafka).
    pub async fn held(&self, expected: usize) -> Vec<Held> {
        match self {
            Self::Redis(redis) => redis
                .entries(STREAM)
                .await
                .iter()
                .map(|entry| Held {
                    product: product_of(&entry["payload"]),
                    seq: entry["seq"].parse().expect("numeric seq"),
                })
                .collect(),
            Self::Kafka(tansu) => read_kafka(&tansu.brokers_addr(), TOPIC, expected, KAFKA_SETTLE)
                .await
                .iter()
                .map(|record| Held {
                    product: record.key.clone(),
                    seq: record.seq(),
                })
                .collect(),
            Self::Nats(nats) => read_nats(&nats.url(), NATS_STREAM, expected as u64)
                .await
                .iter()
                .map(|record| {
                    let envelope: serde_json::Value =
                        serde_json::from_str(&record.payload).expect("envelope JSON");
                    Held {
                        product: product_of(&envelope["payload"].to_string()),
                        seq: record.seq(),
                    }
                })
                .collect(),
        }
    }
}

/// The `product_id` of an event payload (JSON text).
fn product_of(payload: &str) -> String {
    let payload: serde_json::Value = serde_json::from_str(payload).expect("payload JSON");
    payload["product_id"]
        .as_str()
        .expect("a payload with a product_id")
        .to_owned()
}
