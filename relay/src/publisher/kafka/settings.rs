//! The Kafka publisher's settings (the shared `KAFKA_*` connection plus `KAFKA_TIMEOUT`) and
//! the librdkafka client configuration built from them.

use std::time::Duration;

use clap::Args;
use inventory_shared::broker::KafkaConnection;
use inventory_shared::config::parse_duration;
use rdkafka::ClientConfig;

/// Kafka settings of the relay: where to publish, and how long an acknowledgement may take.
#[derive(Debug, Clone, Args)]
pub struct KafkaSettings {
    /// Brokers, topic, TLS and SASL (the same variables the consumer reads).
    #[command(flatten)]
    pub connection: KafkaConnection,

    /// How long a record may wait for the broker's acknowledgement (librdkafka
    /// `message.timeout.ms`) before the batch fails and is retried with backoff.
    #[arg(long, env = "KAFKA_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub kafka_timeout: Duration,
}

impl KafkaSettings {
    /// Settings for `brokers` and `topic`, everything else at its default.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            connection: KafkaConnection::new(brokers, topic),
            kafka_timeout: Duration::from_secs(30),
        }
    }

    /// The connection part of the librdkafka configuration (shared by the producer and the
    /// tail reader).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in self.connection.client_properties() {
            config.set(key, value);
        }
        config.set("client.id", "inventory-relay");
        config
    }

    /// Metadata look-ups and tail reads wait at most this long.
    pub(super) fn metadata_timeout(&self) -> Duration {
        self.kafka_timeout
            .clamp(Duration::from_millis(500), Duration::from_secs(5))
    }
}
