//! Configuration pieces shared by both binaries. Each binary has one settings struct (clap with
//! `env`), flattening these; a bad value stops the start with a message naming the variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

mod database_url;

use database_url::{DatabaseUrlParser, parse_sqlite_path};
pub use database_url::{Engine, EngineRefused, PostgresUrl};

/// Which database the service runs on and how hard SQLite syncs.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// The database [default: data/inventory.db]: a path or `sqlite://PATH` (`sqlite:PATH`)
    /// selects SQLite (the file and its folder are created when missing); `postgres://` or
    /// `postgresql://` selects PostgreSQL (its migrations are applied at start).
    /// Any other scheme is refused. A path that contains a colon is written `./name:x.db`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, value_parser = DatabaseUrlParser)]
    pub database_url: Option<Engine>,

    /// The seed's name for the database path; used when DATABASE_URL is not set.
    #[arg(long = "sqlite-path", env = "SQLITE_PATH", value_parser = parse_sqlite_path)]
    pub sqlite_path: Option<PathBuf>,

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
            database_url: Some(Engine::Sqlite(path.into())),
            sqlite_path: None,
            sqlite_synchronous: Synchronous::Full,
        }
    }

    /// The engine the settings name: `DATABASE_URL`, else `SQLITE_PATH`, else the default file.
    pub fn engine(&self) -> Engine {
        match (&self.database_url, &self.sqlite_path) {
            (Some(engine), _) => engine.clone(),
            (None, Some(path)) => Engine::Sqlite(path.clone()),
            (None, None) => Engine::Sqlite(PathBuf::from(DEFAULT_DATABASE_PATH)),
        }
    }

    /// Refuses a PostgreSQL URL, for the commands that work on a SQLite file only; called
    /// before they open or create anything, so a refusal leaves the disk as it found it.
    pub fn require_sqlite(&self) -> Result<(), EngineRefused> {
        match self.engine() {
            Engine::Sqlite(_) => Ok(()),
            Engine::Postgres(url) => Err(EngineRefused::SqliteOnly(url)),
        }
    }

    /// The SQLite file the settings name. Only meaningful once [`Self::require_sqlite`]
    /// passed: for a PostgreSQL URL it is empty (no folder to create, no file to open), never
    /// the URL read as a path.
    pub fn path(&self) -> PathBuf {
        match self.engine() {
            Engine::Sqlite(path) => path,
            Engine::Postgres(_) => PathBuf::new(),
        }
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

/// A configuration value that must never reach a log line: its `Debug` prints `<redacted>`.
/// Read it with [`Secret::expose`] where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
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
            "SQLite://data/x.db",
            "  data/x.db  ",
        ] {
            assert_eq!(
                Engine::parse(url),
                Ok(Engine::Sqlite(PathBuf::from("data/x.db"))),
                "{url}"
            );
        }
        assert_eq!(
            Engine::parse("sqlite:///var/lib/inv.db"),
            Ok(Engine::Sqlite(PathBuf::from("/var/lib/inv.db")))
        );
        assert_eq!(
            Engine::parse(":memory:"),
            Ok(Engine::Sqlite(PathBuf::from(":memory:")))
        );
        assert_eq!(
            Engine::parse("./name:x.db"),
            Ok(Engine::Sqlite(PathBuf::from("./name:x.db")))
        );
        assert_eq!(
            Engine::parse(r"C:\data\x.db"),
            Ok(Engine::Sqlite(PathBuf::from(r"C:\data\x.db")))
        );
        let seed_name = DatabaseSettings {
            database_url: None,
            sqlite_path: Some("other.db".into()),
            sqlite_synchronous: Synchronous::Full,
        };
        assert_eq!(seed_name.path(), PathBuf::from("other.db"));
        let default = DatabaseSettings {
            database_url: None,
            sqlite_path: None,
            sqlite_synchronous: Synchronous::Full,
        };
        assert_eq!(default.path(), PathBuf::from(DEFAULT_DATABASE_PATH));
    }

    #[test]
    fn postgres_schemes_select_postgres() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/inv",
            "postgresql://u:secret@db.example:5432/inv?sslmode=require",
            "POSTGRES://h/inv",
        ] {
            let engine = Engine::parse(url).expect(url);
            let Engine::Postgres(pg) = &engine else {
                panic!("{url} selected {engine:?}");
            };
            assert_eq!(pg.expose(), url);
        }
        // A PostgreSQL URL is never a file: no path to create a folder for.
        let settings = DatabaseSettings {
            database_url: Some(Engine::parse("postgres://h/inv").expect("url")),
            sqlite_path: None,
            sqlite_synchronous: Synchronous::Full,
        };
        assert_eq!(settings.path(), PathBuf::new());
        assert!(matches!(
            settings.require_sqlite(),
            Err(EngineRefused::SqliteOnly(_))
        ));
        assert!(DatabaseSettings::at("x.db").require_sqlite().is_ok());
    }

    #[test]
    fn other_schemes_are_refused_naming_the_variable() {
        for url in [
            "mysql://x",
            "http://h/db",
            "file:data/x.db",
            "postgres:inv",
            "",
            "sqlite://",
        ] {
            let err = Engine::parse(url).expect_err(url);
            assert!(err.contains("DATABASE_URL"), "{url}: {err}");
        }
        assert!(
            Engine::parse("mysql://x")
                .expect_err("refused")
                .contains("`mysql://`")
        );
        assert_eq!(
            parse_sqlite_path("postgres://h/inv"),
            Err("SQLITE_PATH names a PostgreSQL server; set DATABASE_URL instead".to_owned())
        );
        assert!(
            parse_sqlite_path("mysql://x")
                .expect_err("refused")
                .starts_with("SQLITE_PATH")
        );
    }

    /// The settings as a binary flattens them, to see clap's own errors.
    #[derive(Debug, clap::Parser)]
    struct Binary {
        #[command(flatten)]
        database: DatabaseSettings,
    }

    #[test]
    fn a_refused_database_url_is_not_repeated_in_the_error() {
        use clap::Parser;
        for url in [
            "postgress://app:s3cret@db/inv",
            "postgres:app:s3cret@db/inv",
        ] {
            let err = Binary::try_parse_from(["binary", "--database-url", url])
                .expect_err(url)
                .to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("DATABASE_URL"), "{err}");
        }
        let ok = Binary::try_parse_from(["binary", "--database-url", "sqlite://x.db"])
            .expect("a SQLite URL");
        assert_eq!(ok.database.path(), PathBuf::from("x.db"));
    }
}
