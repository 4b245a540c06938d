//! A test database on PostgreSQL: a private server per test (the visibility fence is
//! cluster-wide, so a transaction another test leaves open on a shared server would hold this
//! test's events back), its schema applied, and appending events the way the API will
//! (`outbox::postgres::append_events`, one set-based INSERT per transaction).

use inventory_shared::events::NewEvent;
use inventory_shared::outbox::postgres as outbox;
use inventory_shared::test_support::PgServer;
use inventory_shared::time;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// A private PostgreSQL server with one migrated database.
pub struct PgTestDb {
    pub server: PgServer,
    /// `postgres://…` of the database.
    pub url: String,
    /// The test's own connections.
    pub pool: PgPool,
    /// A working folder for relay processes.
    pub dir: tempfile::TempDir,
}

impl PgTestDb {
    /// Starts a server (a few seconds) and migrates a fresh database on it.
    pub async fn new() -> Self {
        let server = PgServer::start().expect("a private PostgreSQL server");
        let url = server.create_database().await.expect("a test database");
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("connecting to the test database");
        inventory_shared::postgres::MIGRATOR
            .run(&pool)
            .await
            .expect("migrating the test database");
        Self {
            server,
            url,
            pool,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Appends `events` in one transaction; returns their seqs.
    pub async fn append(&self, events: impl IntoIterator<Item = NewEvent>) -> Vec<i64> {
        let events: Vec<NewEvent> = events.into_iter().collect();
        let mut tx = self.pool.begin().await.expect("begin");
        let seqs = outbox::append_events(&mut tx, &events, &time::now())
            .await
            .expect("append events");
        tx.commit().await.expect("commit");
        seqs
    }

    /// `(published, pending, dead)` counts.
    pub async fn counts(&self) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE synced_at IS NOT NULL), \
             count(*) FILTER (WHERE synced_at IS NULL AND dead_at IS NULL), \
             count(*) FILTER (WHERE dead_at IS NOT NULL) FROM events",
        )
        .fetch_one(&self.pool)
        .await
        .expect("count events")
    }
}
