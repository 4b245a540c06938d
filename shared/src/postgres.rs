//! PostgreSQL: the schema, as migrations embedded in the binaries (`migrations/postgres/`;
//! SQLite's stay in `migrations/`, which sqlx reads without descending into subfolders). The
//! relay serves PostgreSQL (its outbox side: [`crate::outbox::postgres`]); the API's backend is
//! under way (issue 18), so the API still refuses a `postgres://` `DATABASE_URL`
//! ([`crate::config::DatabaseSettings::require_sqlite`]).

/// The PostgreSQL migrations. sqlx's migrator takes an advisory lock before it applies them,
/// so several API replicas and the relay starting together apply each migration once.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
