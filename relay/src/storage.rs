//! Which database the relay serves, chosen by `DATABASE_URL`'s scheme: the connections each
//! engine needs, opened once at build, and the reads `/health` and `/metrics` make on either.
//!
//! | | SQLite | PostgreSQL |
//! |---|---|---|
//! | leadership | lock file beside the database | session advisory lock ([`PgSession`]) |
//! | pending reads | read-only `rusqlite` connection | the leader's session, behind the `xid` fence |
//! | marks | a one-connection pool, `BEGIN IMMEDIATE` | the leader's session (fenced) |
//! | early wake-up | `PRAGMA data_version` | `LISTEN` (`NOTIFY` at commit) |
//! | `/health`, `/metrics` | a read pool | a small pool |

use std::time::Duration;

use anyhow::Context;
use inventory_shared::config::{DatabaseSettings, Engine};
use inventory_shared::db;
use inventory_shared::outbox::{self, PendingSummary};
use sqlx::SqlitePool;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::pg_session::{self, PgSession};

/// The relay's connections to its database.
#[derive(Debug)]
pub enum Storage {
    /// A SQLite file.
    Sqlite {
        /// Reads for `/health` and `/metrics`.
        reader: SqlitePool,
        /// The step's marking connection ([`db::open_marker`]).
        marker: SqlitePool,
    },
    /// A PostgreSQL database.
    Postgres {
        /// Reads for `/health`, `/metrics`, and the `LISTEN` connection.
        pool: PgPool,
        /// The dedicated leadership session (reads and marks while leading).
        session: PgSession,
    },
}

impl Storage {
    /// Opens the database `settings` name and applies its migrations (the relay may start
    /// before the API).
    pub async fn open(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        match settings.engine() {
            Engine::Sqlite(_) => {
                db::migrate(settings).await?;
                Ok(Self::Sqlite {
                    reader: db::open_read_pool(settings, 1).await?,
                    marker: db::open_marker(settings).await?,
                })
            }
            Engine::Postgres(url) => {
                let options = pg_session::connect_options(&url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(3)
                    // `/health` and `/metrics` answer within about READ_TIMEOUT while
                    // PostgreSQL is unreachable, not after a long wait for a connection.
                    .acquire_timeout(READ_TIMEOUT)
                    .connect_with(options.clone())
                    .await
                    .with_context(|| format!("connecting to PostgreSQL ({url})"))?;
                inventory_shared::postgres::MIGRATOR
                    .run(&pool)
                    .await
                    .context("applying the PostgreSQL migrations")?;
                warn_without_stats_grant(&pool).await;
                Ok(Self::Postgres {
                    pool,
                    session: PgSession::new(options),
                })
            }
        }
    }

    /// The reader `/health` and `/metrics` use.
    pub fn reader(&self) -> OutboxReader {
        match self {
            Self::Sqlite { reader, .. } => OutboxReader::Sqlite(reader.clone()),
            Self::Postgres { pool, .. } => OutboxReader::Postgres(pool.clone()),
        }
    }

    /// Closes the pools (after every task stopped).
    pub async fn close(self) {
        match self {
            Self::Sqlite { reader, marker } => {
                marker.close().await;
                reader.close().await;
            }
            Self::Postgres { pool, .. } => pool.close().await,
        }
    }
}

/// The longest `/health` and `/metrics` wait for any one database read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// `relay_fence_age_seconds` sees other users' transactions only with `pg_read_all_stats`
/// (or as a superuser): say so once at start rather than report a fence that looks free.
async fn warn_without_stats_grant(pool: &PgPool) {
    let granted: Result<bool, sqlx::Error> = sqlx::query_scalar(
        "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') \
         OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
    )
    .fetch_one(pool)
    .await;
    if let Ok(false) = granted {
        tracing::warn!(
            "the relay's PostgreSQL role lacks pg_read_all_stats: relay_fence_age_seconds \
             sees only its own user's transactions (GRANT pg_read_all_stats TO <role>)"
        );
    }
}

/// Runs one read for `/health` or `/metrics`: `None` when it fails or takes longer than
/// [`READ_TIMEOUT`].
async fn within<T>(read: impl Future<Output = Result<T, sqlx::Error>>) -> Option<T> {
    tokio::time::timeout(READ_TIMEOUT, read).await.ok()?.ok()
}

/// What `/health` and `/metrics` read, on either engine.
#[derive(Debug, Clone)]
pub enum OutboxReader {
    /// A SQLite read pool.
    Sqlite(SqlitePool),
    /// A PostgreSQL pool.
    Postgres(PgPool),
}

impl OutboxReader {
    /// The pending count and the oldest pending event; `None` when the database does not
    /// answer within [`READ_TIMEOUT`].
    pub async fn pending_summary(&self) -> Option<PendingSummary> {
        match self {
            Self::Sqlite(pool) => within(outbox::pending_summary(pool)).await,
            Self::Postgres(pool) => within(outbox::postgres::pending_summary(pool)).await,
        }
    }

    /// Like [`Self::pending_summary`], after checking the database answers at all (SQLite:
    /// the counters live in the file, so a read of them alone proves little).
    pub async fn checked_summary(&self) -> Option<PendingSummary> {
        if let Self::Sqlite(pool) = self {
            within(db::ping(pool)).await?;
        }
        self.pending_summary().await
    }

    /// How long the oldest transaction holding the visibility fence has run: `Some(None)`
    /// when the database did not answer within [`READ_TIMEOUT`], `None` on SQLite (no fence).
    pub async fn fence_age(&self) -> Option<Option<f64>> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(pool) => Some(within(outbox::postgres::fence_age(pool)).await),
        }
    }
}
