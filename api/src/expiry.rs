//! The reservation-expiry task: every interval, expire the due PENDING reservations with their
//! `reservation.expired` events, a batch ([`BATCH`]) per write job and batch after batch until
//! none are due, so expiry keeps up with any rate the API creates reservations at while a
//! request waits behind at most one batch. Single reservations expire as a set
//! ([`expire_batch::expire_many`]); the lines of a hold together, one hold at a time
//! ([`holds::expire_hold`]), so a hold is never half expired. A reservation (or hold)
//! confirmed, cancelled or extended in the meantime is left alone: the transition is guarded
//! by `status = 'PENDING' AND expires_at <= now`.
//!
//! The rules it runs are written against the storage seam, and so is each batch: a job the
//! writer runs on its transaction, whatever the backend.

use std::time::Duration;

use inventory_shared::time;
use tokio_util::sync::CancellationToken;

use crate::domain::{HoldId, ReservationId, ReservationStatus};
use crate::ops::OpResult;
use crate::ops::expire_batch;
use crate::ops::holds::{self, Hold};
use crate::ops::reservations::{self, ReservationRow};
use crate::state::AppState;
use crate::store::{Declared, Tx};
use crate::writer::nested;

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

/// Most due reservations one write job takes (single reservations expired as a set, plus the
/// holds among them, each with all its lines).
///
/// Sized from measurement (`docs/performance.md`, "Expiry under a short TTL"): an expiry
/// costs the writer about 45 µs, so a batch of 100 holds it about 5 ms, near one group commit
/// of requests. While a batch runs, every connection waits on the writer and the request side
/// (HTTP, the clients) has nothing to do; short batches keep it working between them. In
/// the soak (`bench/soak.sh`, one shared and noisy sitting) the p99 at a 5 s TTL was 40–52 ms
/// with batches of 100 against 75–77 ms with 500; the rate ratio moved more between runs
/// (±0.1) than between sizes. The writer still expires about 20,000 a second, far above the
/// rate the API creates reservations.
pub const BATCH: i64 = 100;

/// Expires every reservation due now (a hold's lines with their hold), a batch at a time, until
/// none are due; returns how many reservations it expired.
///
/// Each batch is one job in the writer's queue, submitted only once the previous one committed,
/// so requests that arrived meanwhile get into the writer between two batches: a request waits
/// for at most one batch, however large the backlog. The pass stops early on shutdown, or when a
/// batch expired nothing (what it found was confirmed, cancelled or extended meanwhile).
pub async fn expire_due(state: &AppState, shutdown: &CancellationToken) -> OpResult<usize> {
    let mut expired = 0;
    loop {
        let started = std::time::Instant::now();
        let batch = match state
            .writer
            .write(Declared::default(), |tx| {
                expire_batch(tx, &time::now(), BATCH)
            })
            .await
        {
            Ok(batch) => batch,
            // One reservation whose expiry fails (a storage error on its row) must not stop the
            // others: the same window again, each in a savepoint of its own.
            Err(e) => {
                tracing::error!(error = %e, "expiry batch failed; expiring its reservations one by one");
                state
                    .writer
                    .write(Declared::default(), |tx| {
                        expire_one_by_one(tx, &time::now(), BATCH)
                    })
                    .await?
            }
        };
        batch.record(&time::now());
        // Writer time of a batch: what a request queued behind it waits (`docs/performance.md`).
        tracing::debug!(
            found = batch.found,
            expired = batch.expired(),
            micros = started.elapsed().as_micros() as u64,
            "expiry batch"
        );
        expired += batch.expired();
        if batch.found < BATCH as usize || batch.expired() == 0 || shutdown.is_cancelled() {
            break;
        }
    }
    Ok(expired)
}

/// What one batch found and expired.
#[derive(Debug, Default)]
struct Batch {
    /// Due reservations found (lines of a hold included).
    found: usize,
    /// Single reservations expired.
    singles: Vec<ReservationRow>,
    /// Holds expired, with their lines.
    holds: Vec<Hold>,
}

impl Batch {
    /// Reservations expired, lines of holds included.
    fn expired(&self) -> usize {
        self.singles.len()
            + self
                .holds
                .iter()
                .map(|h| {
                    h.lines
                        .iter()
                        .filter(|l| l.status == ReservationStatus::Expired)
                        .count()
                })
                .sum::<usize>()
    }

    /// The metrics of what it expired; counts as a finished pass, so the liveness gauge moves
    /// during a long drain too.
    fn record(&self, now: &time::Timestamp) {
        crate::metrics::record_expired("expire", self.singles.len() as u64);
        for row in &self.singles {
            crate::metrics::record_expiry_lag(&row.expires_at, now);
        }
        crate::metrics::record_expired("expire_hold", self.holds.len() as u64);
        for hold in &self.holds {
            crate::metrics::record_expiry_lag(&hold.hold.expires_at, now);
        }
        crate::metrics::record_expiry_pass();
    }
}

/// The `limit` most overdue reservations, in one write job: the single ones as a set
/// ([`expire_batch::expire_many`]), each hold among them whole ([`holds::expire_hold`]).
fn expire_batch<T: Tx + ?Sized>(tx: &mut T, at: &time::Timestamp, limit: i64) -> OpResult<Batch> {
    let due = expire_batch::due_reservations(tx, at, limit)?;
    let (single_ids, hold_ids) = split(&due);
    let singles = expire_batch::expire_many(tx, &single_ids, at)?;
    let mut holds = Vec::with_capacity(hold_ids.len());
    for id in hold_ids {
        holds.extend(holds::expire_hold(tx, &id, at)?);
    }
    Ok(Batch {
        found: due.len(),
        singles,
        holds,
    })
}

/// [`expire_batch`], each reservation (or hold) in a savepoint of its own: one that fails is
/// logged and left due, the others expire. Slower; for a batch that failed as a whole.
fn expire_one_by_one<T: Tx + ?Sized>(
    tx: &mut T,
    at: &time::Timestamp,
    limit: i64,
) -> OpResult<Batch> {
    let due = expire_batch::due_reservations(tx, at, limit)?;
    let (single_ids, hold_ids) = split(&due);
    let mut batch = Batch {
        found: due.len(),
        ..Batch::default()
    };
    for id in single_ids {
        match nested(tx, |tx| reservations::expire_reservation(tx, &id, at)) {
            Ok(row) => batch.singles.extend(row),
            Err(e) => {
                tracing::error!(error = %e, reservation.id = %id, "could not expire a reservation")
            }
        }
    }
    for id in hold_ids {
        match nested(tx, |tx| holds::expire_hold(tx, &id, at)) {
            Ok(hold) => batch.holds.extend(hold),
            Err(e) => tracing::error!(error = %e, hold.id = %id, "could not expire a hold"),
        }
    }
    Ok(batch)
}

/// The single reservations' ids, and each hold's id once, in the order found.
fn split(due: &[expire_batch::Due]) -> (Vec<ReservationId>, Vec<HoldId>) {
    let mut singles = Vec::new();
    let mut holds: Vec<HoldId> = Vec::new();
    for row in due {
        match &row.hold_id {
            Some(hold) if !holds.contains(hold) => holds.push(hold.clone()),
            Some(_) => {}
            None => singles.push(row.id.clone()),
        }
    }
    (singles, holds)
}
