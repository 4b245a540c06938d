//! The reservation-expiry task: every interval, expire each due PENDING reservation in its
//! own atomic write (its own savepoint in the writer's group commit), with its
//! `reservation.expired` event. The lines of a hold are expired together instead: one write
//! per hold ([`holds::expire_hold`]), so a hold is never half expired. A reservation (or hold)
//! confirmed, cancelled or extended in the meantime is left alone: the transition is guarded
//! by `status = 'PENDING' AND expires_at <= now`.

use std::time::Duration;

use inventory_shared::time;
use tokio_util::sync::CancellationToken;

use crate::metrics::record_reservation;
use crate::ops::OpResult;
use crate::ops::{holds, reservations};
use crate::state::AppState;

/// Most reservations expired per tick (the next tick takes the rest).
const PER_TICK: i64 = 1000;

/// Runs a pass every `interval` until `shutdown` is cancelled ([`crate::tasks::every`]).
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    crate::tasks::every(
        "expiry",
        interval,
        &shutdown,
        || {
            let (state, shutdown) = (state.clone(), shutdown.clone());
            async move { expire_due(&state, &shutdown).await }
        },
        |&expired| {
            if expired > 0 {
                tracing::info!(expired, "expired reservations");
            }
        },
    )
    .await;
}

/// Expires every reservation due now (a hold's lines with their hold); returns how many
/// reservations it expired.
pub async fn expire_due(state: &AppState, shutdown: &CancellationToken) -> OpResult<usize> {
    let due = reservations::due_for_expiry(&state.reader, &time::now(), PER_TICK).await?;
    let mut singles = Vec::new();
    let mut hold_ids = Vec::new();
    for (id, hold_id) in due {
        match hold_id {
            Some(hold_id) if !hold_ids.contains(&hold_id) => hold_ids.push(hold_id),
            Some(_) => {}
            None => singles.push(id),
        }
    }
    let mut waiting = Vec::with_capacity(singles.len());
    for id in singles {
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
    let mut waiting_holds = Vec::with_capacity(hold_ids.len());
    for id in hold_ids {
        if shutdown.is_cancelled() {
            break;
        }
        let writer = state.writer.clone();
        waiting_holds.push(async move {
            writer
                .write(move |conn| holds::expire_hold(conn, &id, &time::now()))
                .await
        });
    }
    let (singles, holds) = futures::future::join(
        futures::future::join_all(waiting),
        futures::future::join_all(waiting_holds),
    )
    .await;
    let mut expired = 0;
    for result in singles {
        if let Ok(Some(row)) = &result {
            expired += 1;
            record_reservation("expire", &result);
            crate::metrics::record_expiry_lag(&row.expires_at, &time::now());
        } else if let Err(e) = &result {
            tracing::error!(error = %e, "could not expire a reservation");
        }
    }
    for result in holds {
        if let Ok(Some(hold)) = &result {
            expired += hold.lines.iter().filter(|l| l.status == "EXPIRED").count();
            record_reservation("expire_hold", &result);
            crate::metrics::record_expiry_lag(&hold.hold.expires_at, &time::now());
        } else if let Err(e) = &result {
            tracing::error!(error = %e, "could not expire a hold");
        }
    }
    crate::metrics::record_expiry_pass();
    Ok(expired)
}
