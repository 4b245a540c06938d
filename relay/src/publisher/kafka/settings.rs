//! `KAFKA_*` settings and the librdkafka client configuration built from them.

use std::fmt;
use std::time::Duration;

use clap::Args;
use inventory_shared::config::parse_duration;
use rdkafka::ClientConfig;

/// Kafka connection settings (any Kafka-protocol broker).
#[derive(Clone, Args)]
pub struct KafkaSettings {
    /// Bootstrap brokers, comma-separated `host:port`.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092")]
    pub kafka_brokers: String,

    /// Topic the events go to. It must exist (or the broker must auto-create it).
    #[arg(long, env = "KAFKA_TOPIC", default_value = "inventory-events")]
    pub kafka_topic: String,

    /// `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl` [default: plaintext].
    #[arg(long, env = "KAFKA_SECURITY_PROTOCOL")]
    pub kafka_security_protocol: Option<String>,

    /// `sasl.mechanism`, e.g. `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    #[arg(long, env = "KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,

    /// SASL user name.
    #[arg(long, env = "KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,

    /// SASL password (never logged).
    #[arg(long, env = "KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,

    /// CA certificate file (PEM) to verify the brokers' TLS certificates.
    #[arg(long, env = "KAFKA_SSL_CA_LOCATION")]
    pub kafka_ssl_ca_location: Option<String>,

    /// How long a record may wait for the broker's acknowledgement (librdkafka
    /// `message.timeout.ms`) before the batch fails and is retried with backoff.
    #[arg(long, env = "KAFKA_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub kafka_timeout: Duration,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("kafka_brokers", &self.kafka_brokers)
            .field("kafka_topic", &self.kafka_topic)
            .field("kafka_security_protocol", &self.kafka_security_protocol)
            .field("kafka_sasl_mechanism", &self.kafka_sasl_mechanism)
            .field("kafka_sasl_username", &self.kafka_sasl_username)
            .field(
                "kafka_sasl_password",
                &self.kafka_sasl_password.as_ref().map(|_| "<redacted>"),
            )
            .field("kafka_ssl_ca_location", &self.kafka_ssl_ca_location)
            .field("kafka_timeout", &self.kafka_timeout)
            .finish()
    }
}

impl KafkaSettings {
    /// Settings for `brokers` and `topic`, everything else at its default.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            kafka_brokers: brokers.into(),
            kafka_topic: topic.into(),
            kafka_security_protocol: None,
            kafka_sasl_mechanism: None,
            kafka_sasl_username: None,
            kafka_sasl_password: None,
            kafka_ssl_ca_location: None,
            kafka_timeout: Duration::from_secs(30),
        }
    }

    /// The connection part of the librdkafka configuration (shared by the producer and the
    /// tail reader).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.kafka_brokers)
            .set("client.id", "inventory-relay");
        let optional = [
            ("security.protocol", &self.kafka_security_protocol),
            ("sasl.mechanism", &self.kafka_sasl_mechanism),
            ("sasl.username", &self.kafka_sasl_username),
            ("sasl.password", &self.kafka_sasl_password),
            ("ssl.ca.location", &self.kafka_ssl_ca_location),
        ];
        for (key, value) in optional {
            if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                config.set(key, value.trim());
            }
        }
        config
    }

    /// Metadata look-ups and tail reads wait at most this long.
    pub(super) fn metadata_timeout(&self) -> Duration {
        self.kafka_timeout
            .clamp(Duration::from_millis(500), Duration::from_secs(5))
    }
}
