//! The API's settings: environment variables (and `.env`), each also a flag (`--help`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use inventory_shared::config::{DatabaseSettings, LogSettings, Secret, parse_duration};

use crate::keys::ApiKeys;

/// Keys accepted when `API_KEYS` is unset and the listener is on loopback (local trials only).
pub const DEV_API_KEYS: &str = "dev-key-change-me:local-dev";

/// Everything the API reads at start.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "inventory-api",
    version,
    about = "Multi-store inventory HTTP API (products, stock, reservations)."
)]
pub struct Settings {
    /// Address to listen on. Default keys are only allowed on a loopback address.
    #[arg(long, env = "SERVER_HOST", default_value = "127.0.0.1")]
    pub server_host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "SERVER_PORT", default_value_t = 8080)]
    pub server_port: u16,

    /// The SQLite database.
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Logging.
    #[command(flatten)]
    pub log: LogSettings,

    /// Default reservation time to live: seconds (`600`) or a duration (`10m`), 1 s – 24 h.
    #[arg(long, env = "RESERVATION_TTL", default_value = "600", value_parser = parse_ttl)]
    pub reservation_ttl: Duration,

    /// Longest a reservation or hold may live, counted from its creation: an extension past it
    /// is refused (409 `RESERVATION_LIFETIME_EXCEEDED`). Seconds or a duration, 1 s – 30 days.
    #[arg(long, env = "RESERVATION_MAX_LIFETIME", default_value = "24h", value_parser = parse_max_lifetime)]
    pub reservation_max_lifetime: Duration,

    /// How often the expiry task looks for due reservations.
    #[arg(long, env = "RESERVATION_EXPIRY_INTERVAL", default_value = "1s", value_parser = parse_positive_duration)]
    pub reservation_expiry_interval: Duration,

    /// How long an `Idempotency-Key` and its stored answer are kept (1 s – 30 days); a retry
    /// after that runs as a new request.
    #[arg(long, env = "IDEMPOTENCY_KEY_TTL", default_value = "24h", value_parser = parse_key_ttl)]
    pub idempotency_key_ttl: Duration,

    /// How often expired idempotency keys are purged (in batches, through the writer).
    #[arg(long, env = "IDEMPOTENCY_PURGE_INTERVAL", default_value = "1m", value_parser = parse_positive_duration)]
    pub idempotency_purge_interval: Duration,

    /// API keys as `key:name,key:name` (keys of 8+ characters). Required unless listening on
    /// loopback, where the development key `dev-key-change-me` is used when unset.
    #[arg(long, env = "API_KEYS", hide_env_values = true)]
    pub api_keys: Option<Secret>,

    /// Load the demo catalogue and stock (four stores) at start; existing rows are skipped.
    #[arg(long = "seed-demo", env = "SEED_DEMO_DATA", num_args = 0..=1, default_missing_value = "true",
          default_value = "false", value_parser = clap::builder::BoolishValueParser::new())]
    pub seed_demo: bool,

    /// Read connections to the database (lists and stats; `/health` has one of its own).
    #[arg(long, env = "DB_READ_CONNECTIONS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub db_read_connections: u32,

    /// Longest a read may run (and wait for a read connection) before it is interrupted and
    /// answered 503 `QUERY_TIMEOUT`, so a slow read cannot hold a connection for long.
    #[arg(long, env = "DB_READ_TIMEOUT", default_value = "3s", value_parser = parse_positive_duration)]
    pub db_read_timeout: Duration,

    /// Most writes committed together in one transaction (group commit).
    #[arg(long, env = "WRITE_BATCH_MAX", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub write_batch_max: u32,

    /// PostgreSQL only: while another replica writes the same rows, how long a busy writer's
    /// batch may wait for more writes, so fewer, larger batches commit (`docs/postgres.md`,
    /// "Gathering a batch"). `0` never waits; a write that finds the writer idle never waits.
    #[arg(long, env = "WRITE_GATHER", default_value = "500us", value_parser = parse_duration)]
    pub write_gather: Duration,

    /// How long graceful shutdown may take.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Delete synced events created longer ago than this (`90d`); pending and parked events
    /// always stay. Unset: keep every event (the audit log's promise).
    #[arg(long, env = "EVENTS_RETENTION", value_parser = parse_positive_duration)]
    pub events_retention: Option<Duration>,

    /// Before deleting events, append them to one gzip JSON Lines file per UTC day in this
    /// folder (`docs/operations.md`, "Archive"). Needs EVENTS_RETENTION.
    #[arg(long, env = "EVENTS_ARCHIVE_DIR")]
    pub events_archive_dir: Option<PathBuf>,

    /// Delete confirmed, cancelled and expired reservations that finished longer ago than
    /// this (`30d`). Unset: keep them.
    #[arg(long, env = "RESERVATIONS_RETENTION", value_parser = parse_positive_duration)]
    pub reservations_retention: Option<Duration>,

    /// How often the retention task looks for rows past their retention period.
    #[arg(long, env = "RETENTION_INTERVAL", default_value = "1m", value_parser = parse_positive_duration)]
    pub retention_interval: Duration,

    /// Rows the retention task deletes per write transaction.
    #[arg(long, env = "RETENTION_BATCH", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub retention_batch: u32,

    /// A one-off command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `inventory-api <command>`: one-off jobs on the database the settings name.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Copy the database to PATH while the API and relay keep running (a consistent
    /// snapshot; `docs/operations.md`, "Backup and restore").
    Backup {
        /// Where to write the copy; must not exist yet.
        path: PathBuf,
    },
}

impl Settings {
    /// Settings for tests and tools: the database at `path`, port 0, defaults elsewhere.
    pub fn for_database(path: impl Into<std::path::PathBuf>) -> Self {
        let mut settings = Self::parse_from(["inventory-api"]);
        settings.database = DatabaseSettings::at(path);
        settings.server_port = 0;
        settings.api_keys = None;
        settings.seed_demo = false;
        settings.command = None;
        settings
    }

    /// The time budget of every read.
    pub fn read_budget(&self) -> inventory_shared::db::ReadBudget {
        inventory_shared::db::ReadBudget(self.db_read_timeout)
    }

    /// The address to bind.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.server_host, self.server_port)
    }

    /// The keys in force: `API_KEYS`, or the development key on a loopback listener.
    pub fn keys(&self) -> anyhow::Result<ApiKeys> {
        match &self.api_keys {
            Some(text) => {
                ApiKeys::parse(text.expose()).map_err(|e| anyhow::anyhow!("API_KEYS: {e}"))
            }
            None if self.server_host.is_loopback() => {
                ApiKeys::parse(DEV_API_KEYS).map_err(|e| anyhow::anyhow!("built-in keys: {e}"))
            }
            None => anyhow::bail!(
                "API_KEYS: required when SERVER_HOST ({}) is not a loopback address",
                self.server_host
            ),
        }
    }
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(86_400) {
        return Err("must be between 1 second and 24 hours".to_owned());
    }
    Ok(ttl)
}

fn parse_max_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = parse_duration(text)?;
    if lifetime < Duration::from_secs(1) || lifetime > Duration::from_secs(30 * 86_400) {
        return Err("must be between 1 second and 30 days".to_owned());
    }
    Ok(lifetime)
}

fn parse_key_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(30 * 86_400) {
        return Err("must be between 1 second and 30 days".to_owned());
    }
    Ok(ttl)
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err("must be greater than 0".to_owned());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = Settings::try_parse_from(["inventory-api", "--reservation-ttl", "0"])
            .expect_err("0 is refused");
        assert!(err.to_string().contains("reservation-ttl"), "{err}");
    }

    #[test]
    fn keys_default_only_on_loopback() {
        let mut s = Settings::for_database("x.db");
        assert_eq!(s.keys().expect("dev keys").names(), vec!["local-dev"]);
        s.server_host = "0.0.0.0".parse().expect("ip");
        let err = s.keys().expect_err("no default keys off loopback");
        assert!(err.to_string().starts_with("API_KEYS"), "{err}");
    }

    #[test]
    fn printing_the_settings_shows_no_api_key() {
        let mut s = Settings::for_database("x.db");
        s.api_keys = Some("very-secret-key-0123:pos".into());
        let printed = format!("{s:?}");
        assert!(!printed.contains("very-secret-key"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
