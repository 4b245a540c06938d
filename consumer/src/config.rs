//! The consumer's settings: environment variables (and `.env`), each also a flag (`--help`).
//!
//! Broker variables are the relay's own definitions (`inventory_shared::broker`:
//! `REDIS_*`, `KAFKA_*`, `NATS_*`; `MESSAGE_BROKER` has the same name), so one `.env`
//! configures both ends of the pipe. Printing the settings with `{:?}` shows no secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use inventory_shared::broker::{KafkaConnection, NatsConnection, REDACTED, RedisConnection};
use inventory_shared::config::{LogSettings, parse_duration};

/// Which broker the consumer reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BrokerKind {
    /// Redis Streams, through a consumer group.
    Redis,
    /// Kafka, through a consumer group.
    Kafka,
    /// NATS JetStream, through a durable pull consumer.
    Nats,
}

impl BrokerKind {
    /// The name used in `MESSAGE_BROKER`, logs and `/health`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Kafka => "kafka",
            Self::Nats => "nats",
        }
    }
}

/// Everything the consumer reads at start.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "inventory-consumer",
    version,
    about = "Keeps an availability read model from the inventory event stream."
)]
pub struct Settings {
    /// What to do; consuming when absent.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The projection's own SQLite file (a path or `sqlite://` URL); created when missing.
    #[arg(
        long,
        env = "CONSUMER_DATABASE_URL",
        default_value = "data/availability.db"
    )]
    pub consumer_database_url: String,

    /// Address of `/availability`, `/health` and `/metrics` (port 0 picks a free port).
    #[arg(long, env = "CONSUMER_HTTP_ADDR", default_value = "127.0.0.1:9092")]
    pub consumer_http_addr: SocketAddr,

    /// Broker to read from.
    #[arg(long, env = "MESSAGE_BROKER", value_enum, default_value_t = BrokerKind::Redis, ignore_case = true)]
    pub message_broker: BrokerKind,

    /// Consumer group (Redis, Kafka) or durable consumer name (NATS). Members of one group
    /// share the work and must share one CONSUMER_DATABASE_URL; a second read replica uses
    /// its own group and its own file.
    #[arg(long, env = "CONSUMER_GROUP", default_value = "inventory-availability")]
    pub consumer_group: String,

    /// This member's name in the group [default: the host name].
    #[arg(long, env = "CONSUMER_NAME")]
    pub consumer_name: Option<String>,

    /// Events read and applied per local transaction.
    #[arg(long, env = "CONSUMER_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub consumer_batch_size: u32,

    /// Redis: entries another member left unacknowledged this long are claimed (`XAUTOCLAIM`).
    #[arg(long, env = "CONSUMER_CLAIM_IDLE", default_value = "30s", value_parser = parse_duration)]
    pub consumer_claim_idle: Duration,

    /// How long shutdown may take (finishing the batch in flight).
    #[arg(long, env = "CONSUMER_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub consumer_shutdown_timeout: Duration,

    /// The inventory API, for catching up from its audit log after a gap and for `rebuild`.
    #[command(flatten)]
    pub api: ApiSettings,

    /// Logging.
    #[command(flatten)]
    pub log: LogSettings,

    /// Redis settings (`MESSAGE_BROKER=redis`).
    #[command(flatten)]
    pub redis: RedisConnection,

    /// Kafka settings (`MESSAGE_BROKER=kafka`).
    #[command(flatten)]
    pub kafka: KafkaConnection,

    /// NATS settings (`MESSAGE_BROKER=nats`).
    #[command(flatten)]
    pub nats: NatsConnection,
}

/// The consumer's subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Consume the stream and serve the read model (the default).
    Run,
    /// Drop the projection and rebuild it from the API's audit log, then exit.
    Rebuild {
        /// First read the events the API archived before deleting them (its
        /// `EVENTS_ARCHIVE_DIR`), then the audit log.
        #[arg(long, value_name = "DIR")]
        archive: Option<std::path::PathBuf>,
    },
    /// Print the AsyncAPI 3.0 document of the published events (the committed `asyncapi.yaml`).
    Asyncapi,
}

/// Where the inventory API is.
#[derive(Clone, Args)]
pub struct ApiSettings {
    /// Base URL of the inventory API.
    #[arg(
        long,
        env = "INVENTORY_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub inventory_api_url: String,

    /// API key sent as `X-API-Key` (never logged).
    #[arg(
        long,
        env = "INVENTORY_API_KEY",
        default_value = "dev-key-change-me",
        hide_env_values = true
    )]
    pub inventory_api_key: String,

    /// Audit-log page size (1–1000).
    #[arg(long, env = "CONSUMER_CATCHUP_PAGE", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub consumer_catchup_page: i64,
}

impl fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSettings")
            .field("inventory_api_url", &self.inventory_api_url)
            .field("inventory_api_key", &REDACTED)
            .field("consumer_catchup_page", &self.consumer_catchup_page)
            .finish()
    }
}

impl Settings {
    /// The projection file path the settings name.
    pub fn database_path(&self) -> PathBuf {
        let raw = self.consumer_database_url.trim();
        let raw = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        PathBuf::from(raw.split('?').next().unwrap_or(raw))
    }

    /// This member's name: `CONSUMER_NAME`, else the host name, else `consumer`.
    pub fn member_name(&self) -> String {
        if let Some(name) = self
            .consumer_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
        {
            return name.trim().to_owned();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "consumer".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_issue() {
        let s = Settings::try_parse_from(["inventory-consumer"]).expect("defaults parse");
        assert_eq!(s.database_path(), PathBuf::from("data/availability.db"));
        assert_eq!(s.consumer_http_addr.to_string(), "127.0.0.1:9092");
        assert_eq!(s.consumer_group, "inventory-availability");
        assert_eq!(s.message_broker, BrokerKind::Redis);
        assert_eq!(s.redis.url(), "redis://127.0.0.1:6379");
        assert!(!s.member_name().is_empty());
    }

    #[test]
    fn printing_the_settings_shows_no_secret() {
        let s = Settings::try_parse_from([
            "inventory-consumer",
            "--inventory-api-key",
            "api-key-secret",
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
        for secret in [
            "api-key-secret",
            "redis-pw",
            "kafka-pw",
            "nats-token",
            "nats-pw",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("http://127.0.0.1:8080"), "{printed}");
    }

    #[test]
    fn subcommands_parse() {
        let s = Settings::try_parse_from(["inventory-consumer", "rebuild"]).expect("parses");
        assert!(matches!(
            s.command,
            Some(Command::Rebuild { archive: None })
        ));
        let s = Settings::try_parse_from(["inventory-consumer", "rebuild", "--archive", "a"])
            .expect("parses");
        assert!(
            matches!(s.command, Some(Command::Rebuild { archive: Some(dir) }) if dir.as_os_str() == "a")
        );
    }
}
