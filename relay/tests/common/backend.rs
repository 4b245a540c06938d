//! A test database on either engine, for tests that run on both.

use std::path::Path;

use inventory_shared::config::DatabaseSettings;
use inventory_shared::events::NewEvent;

use super::{PgTestDb, TestDb, append_in_one_tx};

/// The events table's write lock, held by a test: marks (and appends) wait, reads go on.
pub enum WriteLock {
    /// A `BEGIN IMMEDIATE` transaction on a connection of the test's own.
    Sqlite(rusqlite::Connection),
    /// A transaction holding `LOCK TABLE events IN EXCLUSIVE MODE`.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl WriteLock {
    /// Rolls the holding transaction back: whoever waits goes on.
    pub async fn release(self) {
        match self {
            Self::Sqlite(conn) => conn.execute_batch("ROLLBACK").expect("rollback"),
            Self::Postgres(tx) => tx.rollback().await.expect("rollback"),
        }
    }
}

/// A test database on either engine, for tests that run on both.
pub enum TestBackend {
    /// A SQLite file in a temp dir.
    Sqlite(TestDb),
    /// A private PostgreSQL server.
    Postgres(PgTestDb),
}

impl TestBackend {
    /// `sqlite` or `postgres`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// What `DATABASE_URL` says for this database.
    pub fn database_url(&self) -> String {
        match self {
            Self::Sqlite(db) => db.path().display().to_string(),
            Self::Postgres(db) => db.url.clone(),
        }
    }

    /// A working folder for relay processes.
    pub fn dir(&self) -> &Path {
        match self {
            Self::Sqlite(db) => db.dir.path(),
            Self::Postgres(db) => db.dir.path(),
        }
    }

    /// Appends `events` in one transaction, the way the API does; returns their seqs.
    pub async fn append(&self, events: Vec<NewEvent>) -> Vec<i64> {
        match self {
            Self::Sqlite(db) => {
                let path = db.path();
                tokio::task::spawn_blocking(move || append_in_one_tx(&path, events))
                    .await
                    .expect("append task")
            }
            Self::Postgres(db) => db.append(events).await,
        }
    }

    /// Takes the events table's write lock until [`WriteLock::release`]: a relay that
    /// publishes meanwhile cannot mark what it published (nor can the API append). SQLite
    /// waits up to its busy timeout for the lock.
    pub async fn lock_writes(&self) -> WriteLock {
        match self {
            Self::Sqlite(db) => {
                let settings = DatabaseSettings::at(db.path());
                let conn = inventory_shared::db::open_writer(&settings).expect("writer");
                tokio::task::block_in_place(|| conn.execute_batch("BEGIN IMMEDIATE"))
                    .expect("taking the write lock");
                WriteLock::Sqlite(conn)
            }
            Self::Postgres(db) => {
                let mut tx = db.pool.begin().await.expect("begin");
                sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await
                    .expect("locking the events table");
                WriteLock::Postgres(tx)
            }
        }
    }

    /// On PostgreSQL every event's `(seq, xid, synced_at)`; empty on SQLite.
    pub async fn seq_xids(&self) -> Vec<(i64, String, Option<String>)> {
        match self {
            Self::Sqlite(_) => Vec::new(),
            Self::Postgres(db) => db.seq_xids().await,
        }
    }

    /// On PostgreSQL, waits (up to `limit`) until a relay's mark waits for the lock
    /// [`TestBackend::lock_writes`] took; on SQLite, returns at once (its mark's wait cannot
    /// be seen from outside).
    pub async fn until_a_mark_waits(&self, limit: std::time::Duration) {
        let Self::Postgres(db) = self else {
            return;
        };
        let deadline = std::time::Instant::now() + limit;
        while !db.a_mark_waits().await && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// `(published, pending, dead)` counts.
    pub async fn counts(&self) -> (i64, i64, i64) {
        match self {
            Self::Sqlite(db) => db.counts().await,
            Self::Postgres(db) => db.counts().await,
        }
    }
}
