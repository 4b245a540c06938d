//! The idempotency-key purge task: every interval, delete the keys past their
//! `IDEMPOTENCY_KEY_TTL`, in batches of [`PER_BATCH`], each batch its own write through the
//! writer, so a large purge never holds the write lock for long and requests interleave.
//! (An expired key is already ignored by the lookup; purging only reclaims the space.)
//!
//! The `DELETE` is this task's own statement, not a rule's, so it is not on the storage seam's
//! `Tx`: on SQLite it is [`SqliteTx::purge_expired_keys`], on the writer's connection
//! ([`crate::writer::Writer::write_sqlite`], the writer's door for SQLite-only jobs); on
//! PostgreSQL [`housekeeping::purge_expired_keys`], on a connection of its own under an
//! advisory lock, so one replica purges while the others skip (`docs/postgres.md`).

use std::time::Duration;

use inventory_shared::time;
use tokio_util::sync::CancellationToken;

use crate::ops::OpResult;
use crate::state::AppState;
use crate::store::postgres::housekeeping;
use crate::store::sqlite::SqliteTx;

/// Most keys deleted by one write.
pub const PER_BATCH: i64 = 500;

/// Runs a purge every `interval` until `shutdown` is cancelled ([`crate::tasks::every`]).
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    crate::tasks::every(
        "idempotency key purge",
        interval,
        &shutdown,
        || {
            let (state, shutdown) = (state.clone(), shutdown.clone());
            async move { purge_expired(&state, &shutdown).await }
        },
        |&purged| {
            if purged > 0 {
                tracing::info!(purged, "purged expired idempotency keys");
            }
        },
    )
    .await;
}

/// Deletes every key expired by now, a batch at a time; returns how many it deleted.
pub async fn purge_expired(state: &AppState, shutdown: &CancellationToken) -> OpResult<usize> {
    let now = time::now();
    let mut purged = 0;
    while !shutdown.is_cancelled() {
        let deleted = match state.reads.postgres() {
            None => {
                state
                    .writer
                    .write_sqlite(move |conn| {
                        Ok(
                            SqliteTx::new(conn)
                                .purge_expired_keys(&time::to_db(&now), PER_BATCH)?,
                        )
                    })
                    .await?
            }
            Some(pool) => match housekeeping::purge_expired_keys(pool, &now, PER_BATCH).await? {
                Some(deleted) => deleted as usize,
                // Another replica is purging.
                None => break,
            },
        };
        purged += deleted;
        if deleted < PER_BATCH as usize {
            break;
        }
    }
    Ok(purged)
}
