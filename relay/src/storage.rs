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
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options.clone())
                    .await
                    .with_context(|| format!("connecting to PostgreSQL ({url})"))?;
                inventory_shared::postgres::MIGRATOR
                    .run(&pool)
                    .await
                    .context("applying the PostgreSQL migrations")?;
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
    /// answer.
    pub async fn pending_summary(&self) -> Option<PendingSummary> {
        match self {
            Self::Sqlite(pool) => outbox::pending_summary(pool).await.ok(),
            Self::Postgres(pool) => outbox::postgres::pending_summary(pool).await.ok(),
        }
    }

    /// Like [`Self::pending_summary`], after checking the database answers at all (SQLite:
    /// the counters live in the file, so a read of them alone proves little).
    pub async fn checked_summary(&self) -> Option<PendingSummary> {
        if let Self::Sqlite(pool) = self {
            db::ping(pool).await.ok()?;
        }
        self.pending_summary().await
    }

    /// How long the oldest transaction holding the visibility fence has run (PostgreSQL
    /// only; SQLite has no fence).
    pub async fn fence_age(&self) -> Option<f64> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(pool) => outbox::postgres::fence_age(pool).await.ok(),
        }
    }
}
