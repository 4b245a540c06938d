//! The relay's settings: environment variables (and `.env`), each also a flag (`--help`).
//!
//! With no subcommand the binary runs the relay; `dead list` / `dead retry` are the operator's
//! tools for parked events (see `docs/relay.md`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
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
    /// Mark events synced without sending (database-only installs).
    None,
}

impl BrokerKind {
    /// The name used in `MESSAGE_BROKER`, logs and `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Kafka => "kafka",
            Self::Nats => "nats",
            Self::None => "none",
        }
    }
}

/// Everything the relay reads at start.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "inventory-relay",
    version,
    about = "Publishes the inventory outbox to a message broker, in order."
)]
pub struct Settings {
    /// What to do; running the relay when absent.
    #[command(subcommand)]
    pub command: Option<Command>,

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

    /// How often the relay checks `PRAGMA data_version` for new commits (the early wake-up;
    /// SQLite only: on PostgreSQL the writers' `NOTIFY` wakes it).
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

    /// Address of `/metrics`, `/livez` and `/health` (port 0 picks a free port).
    #[arg(long, env = "RELAY_HTTP_ADDR", default_value = "127.0.0.1:9091")]
    pub relay_http_addr: SocketAddr,

    /// How long shutdown may take (finishing the batch in flight) before the process exits anyway.
    #[arg(long, env = "RELAY_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub relay_shutdown_timeout: Duration,

    /// Events pending with the oldest older than this make `/health` and `relay_stuck` say
    /// "stuck", whatever the broker's ping says.
    #[arg(long, env = "RELAY_STUCK_AFTER", default_value = "30s", value_parser = parse_duration)]
    pub relay_stuck_after: Duration,

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

/// The relay's subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the relay (the default when no subcommand is given).
    Run,
    /// Inspect or retry parked (dead) events.
    #[command(subcommand)]
    Dead(DeadCommand),
}

/// Operator tools for events the broker kept rejecting.
#[derive(Debug, Clone, Subcommand)]
pub enum DeadCommand {
    /// Print the parked events, oldest first.
    List {
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Un-park events (all of them, or one with `--seq`) so the running relay publishes them
    /// again, from zero attempts.
    Retry {
        /// Only this event.
        #[arg(long)]
        seq: Option<i64>,
    },
}

impl Settings {
    /// The backoff schedule these settings describe.
    pub fn backoff(&self) -> crate::backoff::BackoffPolicy {
        crate::backoff::BackoffPolicy {
            initial: self.relay_backoff_initial,
            max: self.relay_backoff_max.max(self.relay_backoff_initial),
        }
    }

    /// The broker-specific target for the start-up log line, secrets masked.
    pub fn broker_target(&self) -> String {
        match self.message_broker {
            BrokerKind::Redis => format!(
                "{} stream={} maxlen~{}",
                self.redis.connection.url_for_logs(),
                self.redis.connection.redis_stream,
                self.redis.redis_stream_maxlen
            ),
            BrokerKind::Kafka => format!(
                "brokers={} topic={}",
                self.kafka.connection.kafka_brokers, self.kafka.connection.kafka_topic
            ),
            BrokerKind::Nats => format!(
                "{} stream={}",
                self.nats.connection.url_for_logs(),
                self.nats.connection.nats_stream
            ),
            BrokerKind::None => "events are marked synced without sending".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_design() {
        let s = Settings::try_parse_from(["inventory-relay"]).expect("defaults parse");
        assert!(s.command.is_none());
        assert_eq!(s.message_broker, BrokerKind::Redis);
        assert_eq!(s.relay_poll_interval, Duration::from_secs(10));
        assert_eq!(s.relay_backoff_initial, Duration::from_millis(250));
        assert_eq!(s.relay_backoff_max, Duration::from_secs(30));
        assert_eq!(s.relay_http_addr.to_string(), "127.0.0.1:9091");
        assert_eq!(s.redis.connection.url(), "redis://127.0.0.1:6379");
        assert_eq!(s.redis.connection.redis_stream, "inventory-events");
        assert_eq!(s.redis.redis_stream_maxlen, 1_000_000);
        assert_eq!(s.kafka.kafka_timeout, Duration::from_secs(30));
        assert_eq!(s.nats.nats_duplicate_window, Duration::from_secs(120));
    }

    #[test]
    fn printing_the_settings_shows_no_secret() {
        let s = Settings::try_parse_from([
            "inventory-relay",
            "--redis-url",
            "redis://:redis-pw@cache:6379",
            "--kafka-sasl-password",
            "kafka-pw",
            "--nats-token",
            "nats-token",
            "--nats-password",
            "nats-pw",
        ])
        .expect("parses");
        let printed = format!("{s:?}");
        for secret in ["redis-pw", "kafka-pw", "nats-token", "nats-pw"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("redis://:***@cache:6379"), "{printed}");
        assert!(!s.broker_target().contains("redis-pw"));
    }

    #[test]
    fn dead_subcommands_parse() {
        let s = Settings::try_parse_from(["inventory-relay", "dead", "retry", "--seq", "42"])
            .expect("parses");
        assert!(matches!(
            s.command,
            Some(Command::Dead(DeadCommand::Retry { seq: Some(42) }))
        ));
        let s = Settings::try_parse_from(["inventory-relay", "dead", "list"]).expect("parses");
        assert!(matches!(
            s.command,
            Some(Command::Dead(DeadCommand::List { limit: 100 }))
        ));
    }
}
