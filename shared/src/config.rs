//! Configuration pieces shared by both binaries. Each binary has one settings struct (clap with
//! `env`), flattening these; a bad value stops the start with a message naming the variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Where the SQLite file is and how hard it syncs.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// SQLite database: a path or a `sqlite://` URL [default: data/inventory.db]. The file and
    /// its folder are created when missing.
    #[arg(long = "database-url", env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// The seed's name for the database path; used when DATABASE_URL is not set.
    #[arg(long = "sqlite-path", env = "SQLITE_PATH")]
    pub sqlite_path: Option<String>,

    /// `full` (default): a 2xx answer survives power loss. `normal`: faster, may lose the last
    /// commits on power loss (never corrupts).
    #[arg(long, env = "SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full, ignore_case = true)]
    pub sqlite_synchronous: Synchronous,
}

/// The database file used when neither `DATABASE_URL` nor `SQLITE_PATH` is set.
pub const DEFAULT_DATABASE_PATH: &str = "data/inventory.db";

impl DatabaseSettings {
    /// Settings for a database file at `path` with the defaults.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            database_url: Some(path.into().display().to_string()),
            sqlite_path: None,
            sqlite_synchronous: Synchronous::Full,
        }
    }

    /// The file path the settings name.
    pub fn path(&self) -> PathBuf {
        let raw = self
            .database_url
            .as_deref()
            .or(self.sqlite_path.as_deref())
            .unwrap_or(DEFAULT_DATABASE_PATH)
            .trim();
        let raw = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        let raw = raw.split('?').next().unwrap_or(raw);
        PathBuf::from(raw)
    }
}

/// SQLite `PRAGMA synchronous` levels we allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Synchronous {
    /// Durable on power loss.
    Full,
    /// Durable on process crash; the last transactions may roll back on power loss.
    Normal,
}

/// Log output settings.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log filter: a level (`info`) or a `tracing` directive list (`info,sqlx=warn`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, ignore_case = true)]
    pub log_format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object a line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Parses a duration written as `500ms`, `10s`, `2m`, `1h` or plain seconds (`10`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!("`{text}` is not a non-negative number of seconds"))
        };
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 500ms, 10s or 2m ({e})"))
}

/// Loads `.env` when present. A malformed `.env` is reported, not ignored.
pub fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        Err(e) => Err(anyhow::anyhow!("could not read .env: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn database_url_forms_name_the_same_file() {
        for url in [
            "data/x.db",
            "sqlite://data/x.db",
            "sqlite:data/x.db?mode=rwc",
        ] {
            let s = DatabaseSettings::at(url);
            assert_eq!(s.path(), PathBuf::from("data/x.db"), "{url}");
        }
        let seed_name = DatabaseSettings {
            database_url: None,
            sqlite_path: Some("other.db".into()),
            sqlite_synchronous: Synchronous::Full,
        };
        assert_eq!(seed_name.path(), PathBuf::from("other.db"));
    }
}
