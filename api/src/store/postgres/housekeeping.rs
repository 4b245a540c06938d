//! The housekeeping statements on PostgreSQL: the idempotency-key purge and retention's
//! deletes. They are not inventory rules (no event, no counter a rule reads), so they are not
//! on [`Tx`](crate::store::Tx) and do not go through the writer: each runs on a read-pool
//! connection of its own, in short transactions, while the writer keeps committing.
//!
//! Once across replicas, not N times: every API replica runs these tasks on its timer, and
//! each pass first takes an advisory lock that only one session holds at a time
//! (`pg_try_advisory_lock`, never waiting). The replica that does not get it skips its pass:
//! the holder is doing the work. The key purge takes a transaction-level lock per batch; a
//! retention pass holds a session-level lock on a connection of its own
//! ([`RetentionLock`]), which is closed, not returned to the pool, when the pass ends, so the
//! lock can never outlive the pass on a pooled connection.
//!
//! Each `DELETE` repeats its condition on the row itself, not only in the subquery that finds
//! the rows: under READ COMMITTED a `DELETE` that waited for a row lock re-checks only its own
//! `WHERE` against the row's new version. Without the repeat, an idempotency key reused (and
//! its record rewritten) by a writer while the purge waited for it would be deleted fresh, and
//! a retry with that key applied twice. Rows a writer holds are skipped (`SKIP LOCKED`): the
//! next pass takes them if they are still due.
//!
//! Each runs in a transaction of its own with `statement_timeout` lifted to
//! [`HOUSEKEEPING_TIMEOUT`]: the read pool's connections carry the read budget, which is for
//! requests, not for a batch of deletes that may wait for the writer's row locks.

use inventory_shared::time::Timestamp;
use sqlx::{Connection, PgConnection, PgPool};

/// Lifts the read budget for a housekeeping transaction: its statements may run 60 s.
pub const HOUSEKEEPING_TIMEOUT: &str = "SET LOCAL statement_timeout = '60s'";

/// The purge's lock: one replica purges at a time.
const KEY_PURGE_LOCK: &str =
    "SELECT pg_try_advisory_xact_lock(hashtextextended('inventory.key_purge', 0))";

/// Retention's lock: one replica runs a pass at a time.
const RETENTION_LOCK: &str =
    "SELECT pg_try_advisory_lock(hashtextextended('inventory.retention', 0))";

/// Deletes up to `limit` idempotency keys expired by `now`, oldest first, in one transaction
/// under the purge lock. `None` when another replica holds the lock (it is purging).
pub async fn purge_expired_keys(
    pool: &PgPool,
    now: &Timestamp,
    limit: i64,
) -> sqlx::Result<Option<u64>> {
    let mut tx = pool.begin().await?;
    sqlx::query(HOUSEKEEPING_TIMEOUT).execute(&mut *tx).await?;
    let locked: bool = sqlx::query_scalar(KEY_PURGE_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let deleted = sqlx::query(
        "DELETE FROM idempotency_keys WHERE expires_at <= $1 \
         AND (api_key_name, idempotency_key) IN \
         (SELECT api_key_name, idempotency_key FROM idempotency_keys \
          WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(deleted))
}

/// Retention's lock, held by this replica for one pass, on a connection of its own.
#[derive(Debug)]
pub struct RetentionLock {
    conn: PgConnection,
}

impl RetentionLock {
    /// Takes the lock on a new connection; `None` when another replica holds it.
    pub async fn try_take(pool: &PgPool) -> sqlx::Result<Option<Self>> {
        let options = pool.connect_options();
        let mut conn = super::connect::connect(&options).await?;
        let locked: bool = sqlx::query_scalar(RETENTION_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if !locked {
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(Self { conn }))
    }

    /// Ends the pass: closing the connection ends its session, and with it the lock (also
    /// when the unlock itself cannot be sent).
    pub async fn release(self) {
        let _ = self.conn.close().await;
    }
}

/// Deletes the events among `seqs` that are synced and older than `cutoff` (the rule again
/// in the statement: a pending or parked event is never deleted). Returns how many went.
pub async fn delete_synced_events(
    pool: &PgPool,
    seqs: &[i64],
    cutoff: &Timestamp,
) -> sqlx::Result<u64> {
    if seqs.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    sqlx::query(HOUSEKEEPING_TIMEOUT).execute(&mut *tx).await?;
    let deleted = sqlx::query(
        "DELETE FROM events WHERE seq = ANY($1) AND synced_at IS NOT NULL AND created_at < $2",
    )
    .bind(seqs)
    .bind(cutoff)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}

/// Deletes up to `limit` reservations that finished (confirmed, cancelled, expired) before
/// `cutoff`, oldest first. Returns how many went.
pub async fn delete_finished_reservations(
    pool: &PgPool,
    cutoff: &Timestamp,
    limit: i64,
) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    sqlx::query(HOUSEKEEPING_TIMEOUT).execute(&mut *tx).await?;
    let deleted = sqlx::query(
        "DELETE FROM reservations WHERE status <> 'PENDING' AND updated_at < $1 \
         AND id IN (SELECT id FROM reservations \
          WHERE status <> 'PENDING' AND updated_at < $1 ORDER BY updated_at LIMIT $2 \
          FOR UPDATE SKIP LOCKED)",
    )
    .bind(cutoff)
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use inventory_shared::test_support::PgServer;
    use inventory_shared::time::{self, Timestamp};
    use sqlx::{Connection, PgConnection, PgPool};

    use super::{RetentionLock, purge_expired_keys};

    /// A migrated database on a private server: the server, the database's URL, a pool on it.
    async fn database() -> (PgServer, String, PgPool) {
        let server = PgServer::start().expect("a private PostgreSQL server");
        let url = server.create_database().await.expect("a database");
        let pool = PgPool::connect(&url).await.expect("a pool");
        inventory_shared::postgres::MIGRATOR
            .run(&pool)
            .await
            .expect("migrating");
        (server, url, pool)
    }

    /// Stores the answer of key `key` (API key `k`), expired 25 hours before `now`.
    async fn expired_key(pool: &PgPool, key: &str, now: &Timestamp) {
        sqlx::query(
            "INSERT INTO idempotency_keys (api_key_name, idempotency_key, fingerprint, status, \
             body, created_at, expires_at) VALUES ('k', $1, 'f', 201, '\\x7b7d', $2, $2)",
        )
        .bind(key)
        .bind(*now - chrono::Duration::hours(25))
        .execute(pool)
        .await
        .expect("an expired key");
    }

    /// Once across replicas: while one replica's purge holds its lock (a batch in its
    /// transaction), another replica's purge deletes nothing and says so (`None`); and while
    /// one replica runs a retention pass, another cannot take retention's lock. Each lock is
    /// free again once its holder ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn housekeeping_runs_on_one_replica_at_a_time() {
        let (_server, _url, pool) = database().await;
        let now = time::now();
        expired_key(&pool, "old-1", &now).await;

        // Another replica's purge, in the middle of its batch.
        let mut other = pool.begin().await.expect("a transaction");
        let locked: bool = sqlx::query_scalar(super::KEY_PURGE_LOCK)
            .fetch_one(&mut *other)
            .await
            .expect("the purge lock");
        assert!(locked);
        let purged = purge_expired_keys(&pool, &now, 500).await.expect("a purge");
        assert_eq!(purged, None, "skipped while the other replica purges");
        other.rollback().await.expect("ROLLBACK");
        let purged = purge_expired_keys(&pool, &now, 500).await.expect("a purge");
        assert_eq!(purged, Some(1));

        let first = RetentionLock::try_take(&pool)
            .await
            .expect("the lock tried")
            .expect("taken");
        let second = RetentionLock::try_take(&pool)
            .await
            .expect("the lock tried");
        assert!(second.is_none(), "a second pass while the first runs");
        first.release().await;
        let again = RetentionLock::try_take(&pool)
            .await
            .expect("the lock tried")
            .expect("free once the first pass ended");
        again.release().await;
    }

    /// A key whose record a writer is rewriting (reused after it expired: new answer, new
    /// deadline) while the purge runs is not deleted: the purge skips the row the writer holds
    /// instead of waiting for it and deleting the new version.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_rewritten_while_the_purge_runs_survives_it() {
        let (_server, url, pool) = database().await;
        let now = time::now();
        expired_key(&pool, "order-1", &now).await;

        // The writer reuses the key: its record is rewritten, not yet committed.
        let mut writer = PgConnection::connect(&url).await.expect("the writer");
        sqlx::query("BEGIN")
            .execute(&mut writer)
            .await
            .expect("BEGIN");
        sqlx::query(
            "UPDATE idempotency_keys SET expires_at = $1 WHERE idempotency_key = 'order-1'",
        )
        .bind(now + chrono::Duration::hours(24))
        .execute(&mut writer)
        .await
        .expect("the rewrite");
        let purge = tokio::spawn({
            let pool = pool.clone();
            async move { purge_expired_keys(&pool, &now, 500).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlx::query("COMMIT")
            .execute(&mut writer)
            .await
            .expect("COMMIT");
        let purged = purge.await.expect("the purge task").expect("the purge");

        assert_eq!(purged, Some(0), "the held row is skipped");
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(kept, 1, "the rewritten record is still there");
        // Once due again, the next pass purges it.
        let later = now + chrono::Duration::hours(25);
        let purged = purge_expired_keys(&pool, &later, 500)
            .await
            .expect("a purge");
        assert_eq!(purged, Some(1));
    }
}
