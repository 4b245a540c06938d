//! PostgreSQL: the schema, as migrations embedded in the binaries (`migrations/postgres/`;
//! SQLite's stay in `migrations/`, which sqlx reads without descending into subfolders). The
//! API (its backend: `api/src/store/postgres`, `api/src/reads/postgres/`) and the relay
//! (its outbox side: [`crate::outbox::postgres`]) both apply them at start.

/// The PostgreSQL migrations. sqlx's migrator takes an advisory lock before it applies them,
/// so several API replicas and the relay starting together apply each migration once.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
