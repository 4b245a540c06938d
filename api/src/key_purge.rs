//! The idempotency-key purge task: every interval, delete the keys past their
//! `IDEMPOTENCY_KEY_TTL`, in batches of [`PER_BATCH`], each batch its own write through the
//! writer, so a large purge never holds the write lock for long and requests interleave.
//! (An expired key is already ignored by the lookup; purging only reclaims the space.)

use std::time::Duration;

use inventory_shared::time;
use tokio_util::sync::CancellationToken;

use crate::ops::OpResult;
use crate::ops::idempotency::purge_expired_keys;
use crate::state::AppState;

/// Most keys deleted by one write.
pub const PER_BATCH: i64 = 500;

/// Runs until `shutdown` is cancelled.
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match purge_expired(&state, &shutdown).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired idempotency keys"),
            Err(e) => tracing::error!(error = format!("{e:#}"), "idempotency key purge failed"),
        }
    }
    tracing::info!("idempotency key purge stopped");
}

/// Deletes every key expired by now, a batch at a time; returns how many it deleted.
pub async fn purge_expired(state: &AppState, shutdown: &CancellationToken) -> OpResult<usize> {
    let now = time::now();
    let mut purged = 0;
    while !shutdown.is_cancelled() {
        let deleted = state
            .writer
            .write(move |conn| purge_expired_keys(conn, &now, PER_BATCH))
            .await?;
        purged += deleted;
        if deleted < PER_BATCH as usize {
            break;
        }
    }
    Ok(purged)
}
