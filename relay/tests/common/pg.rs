//! A test database on PostgreSQL: a private server per test (the visibility fence is
//! cluster-wide, so a transaction another test leaves open on a shared server would hold this
//! test's events back), its schema applied, and appending events the way the API does
//! (`outbox::postgres::append_events`, one set-based INSERT per transaction, after locking the
//! products the events are about).

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

    /// Appends `events` in one transaction, the way the API's writer does; returns their seqs.
    ///
    /// Like the API (`api/src/store/postgres/flush.rs`), it first locks the products the
    /// events are about, in one order, and holds them until the commit: that is what makes
    /// one product's `seq` order its commit order, the order the relay publishes in
    /// (`inventory_shared::outbox::postgres`). The test products have no `products` row, so
    /// a transaction-scoped advisory lock per product id stands in for the row lock. Without
    /// it, two appends running at once (a test's writer task and a burst) draw interleaved
    /// `seq`s for the same products and may commit in the other order; the relay then
    /// rightly publishes them in commit order, which is not `seq` order.
    pub async fn append(&self, events: impl IntoIterator<Item = NewEvent>) -> Vec<i64> {
        let events: Vec<NewEvent> = events.into_iter().collect();
        let mut tx = self.pool.begin().await.expect("begin");
        lock_products(&mut tx, &events).await;
        let seqs = outbox::append_events(&mut tx, &events, &time::now())
            .await
            .expect("append events");
        tx.commit().await.expect("commit");
        seqs
    }

    /// Every event's `(seq, xid, synced_at)`, as text where PostgreSQL's types are not i64,
    /// in `seq` order: for diagnosing order failures.
    pub async fn seq_xids(&self) -> Vec<(i64, String, Option<String>)> {
        sqlx::query_as("SELECT seq, xid::text, synced_at::text FROM events ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .expect("read seq and xid")
    }

    /// Whether a relay's mark (`UPDATE events SET synced_at …`) waits for a lock: it has
    /// events in the broker that the database does not show as published yet.
    pub async fn a_mark_waits(&self) -> bool {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
             AND query LIKE 'UPDATE events SET synced_at%')",
        )
        .fetch_one(&self.pool)
        .await
        .expect("read pg_stat_activity")
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

/// Locks (until the transaction ends) the products `events` are about, in the order of their
/// lock keys so that two appends never wait on each other in a cycle, before their events
/// draw their `seq`s: what orders each product's events, which is what the relay relies on
/// (the API's writer takes the outbox's `seq` lock instead, which orders all events).
async fn lock_products(conn: &mut sqlx::PgConnection, events: &[NewEvent]) {
    let products: Vec<&str> = events.iter().map(NewEvent::partition_key).collect();
    let mut keys: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT hashtextextended(p, 0) FROM unnest($1::text[]) AS p")
            .bind(&products)
            .fetch_all(&mut *conn)
            .await
            .expect("product lock keys");
    keys.sort_unstable();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await
            .expect("locking a product");
    }
}
