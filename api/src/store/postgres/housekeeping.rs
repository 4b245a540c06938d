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

use inventory_shared::time::Timestamp;
use sqlx::{Connection, PgConnection, PgPool};

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
    let locked: bool = sqlx::query_scalar(KEY_PURGE_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let deleted = sqlx::query(
        "DELETE FROM idempotency_keys WHERE (api_key_name, idempotency_key) IN \
         (SELECT api_key_name, idempotency_key FROM idempotency_keys \
          WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
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
        let mut conn = PgConnection::connect_with(&options).await?;
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
    Ok(sqlx::query(
        "DELETE FROM events WHERE seq = ANY($1) AND synced_at IS NOT NULL AND created_at < $2",
    )
    .bind(seqs)
    .bind(cutoff)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Deletes up to `limit` reservations that finished (confirmed, cancelled, expired) before
/// `cutoff`, oldest first. Returns how many went.
pub async fn delete_finished_reservations(
    pool: &PgPool,
    cutoff: &Timestamp,
    limit: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM reservations WHERE id IN (SELECT id FROM reservations \
         WHERE status <> 'PENDING' AND updated_at < $1 ORDER BY updated_at LIMIT $2)",
    )
    .bind(cutoff)
    .bind(limit)
    .execute(pool)
    .await?
    .rows_affected())
}
