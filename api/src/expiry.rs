//! The reservation-expiry task: every interval, expire each due PENDING reservation in its
//! own atomic write (its own savepoint in the writer's group commit), with its
//! `reservation.expired` event. A reservation confirmed or cancelled in the meantime is left
//! alone: the transition is guarded by `status = 'PENDING'`.

use std::time::Duration;

use inventory_shared::time;
use tokio_util::sync::CancellationToken;

use crate::http::AppState;
use crate::metrics::record_reservation;
use crate::ops::OpResult;
use crate::ops::reservations;

/// Most reservations expired per tick (the next tick takes the rest).
const PER_TICK: i64 = 1000;

/// Runs until `shutdown` is cancelled.
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match expire_due(&state, &shutdown).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired reservations"),
            Err(e) => tracing::error!(error = format!("{e:#}"), "expiry pass failed"),
        }
    }
    tracing::info!("expiry task stopped");
}

/// Expires every reservation due now; returns how many it expired.
pub async fn expire_due(state: &AppState, shutdown: &CancellationToken) -> OpResult<usize> {
    let due = reservations::due_for_expiry(&state.reader, &time::now(), PER_TICK).await?;
    let mut waiting = Vec::with_capacity(due.len());
    for id in due {
        if shutdown.is_cancelled() {
            break;
        }
        let writer = state.writer.clone();
        // Submitted together so they share the next group commit, each its own savepoint.
        waiting.push(async move {
            writer
                .write(move |conn| reservations::expire(conn, &id, &time::now()))
                .await
        });
    }
    let mut expired = 0;
    for result in futures::future::join_all(waiting).await {
        if let Ok(Some(row)) = &result {
            expired += 1;
            record_reservation("expire", &result);
            crate::metrics::record_expiry_lag(&row.expires_at, &time::now());
        } else if let Err(e) = &result {
            tracing::error!(error = %e, "could not expire a reservation");
        }
    }
    crate::metrics::record_expiry_pass();
    Ok(expired)
}
