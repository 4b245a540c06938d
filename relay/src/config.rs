//! The relay's settings: environment variables (and `.env`), each also a flag (`--help`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use inventory_shared::config::{DatabaseSettings, LogSettings, parse_duration};

use crate::publisher::{kafka::KafkaSettings, nats::NatsSettings, redis::RedisSettings};

/// Which broker the relay publishes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BrokerKind {
    /// Redis Streams.
    Redis,
    /// Kafka (any Kafka-protocol broker).
    Kafka,
    /// NATS JetStream.
    Nats,
    /// Mark events published without sending (database-only installs).
    None,
}

/// Everything the relay reads at start.
#[derive(Debug, Clone, Parser)]
#[command(name = "inventory-relay", version, about = "Publishes the inventory outbox to a message broker, in order.")]
pub struct Settings {
    /// The database the API writes.
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Logging.
    #[command(flatten)]
    pub log: LogSettings,

    /// Broker to publish to.
    #[arg(long, env = "MESSAGE_BROKER", value_enum, default_value_t = BrokerKind::Redis, ignore_case = true)]
    pub message_broker: BrokerKind,

    /// Longest wait between two looks at the outbox when nothing wakes the relay earlier.
    #[arg(long, env = "RELAY_POLL_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub relay_poll_interval: Duration,

    /// How often the relay checks `PRAGMA data_version` for new commits (the early wake-up).
    #[arg(long, env = "RELAY_WATCH_INTERVAL", default_value = "2ms", value_parser = parse_duration)]
    pub relay_watch_interval: Duration,

    /// Events published per round trip.
    #[arg(long, env = "RELAY_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub relay_batch_size: u32,

    /// Rejections by the broker before an event is parked.
    #[arg(long, env = "RELAY_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub relay_max_attempts: u32,

    /// First backoff delay after a failure (doubles, full jitter).
    #[arg(long, env = "RELAY_BACKOFF_INITIAL", default_value = "250ms", value_parser = parse_duration)]
    pub relay_backoff_initial: Duration,

    /// Backoff cap.
    #[arg(long, env = "RELAY_BACKOFF_MAX", default_value = "30s", value_parser = parse_duration)]
    pub relay_backoff_max: Duration,

    /// Address of `/metrics`, `/livez` and `/health`.
    #[arg(long, env = "RELAY_HTTP_ADDR", default_value = "127.0.0.1:9091")]
    pub relay_http_addr: SocketAddr,

    /// How long shutdown may take (finishing the batch in flight) before the process exits anyway.
    #[arg(long, env = "RELAY_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub relay_shutdown_timeout: Duration,

    /// Redis settings (`MESSAGE_BROKER=redis`).
    #[command(flatten)]
    pub redis: RedisSettings,

    /// Kafka settings (`MESSAGE_BROKER=kafka`).
    #[command(flatten)]
    pub kafka: KafkaSettings,

    /// NATS settings (`MESSAGE_BROKER=nats`).
    #[command(flatten)]
    pub nats: NatsSettings,
}
