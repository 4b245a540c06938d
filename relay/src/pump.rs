//! The loop around [`PublishStep`]: it owns waiting, waking, backoff and shutdown.
//!
//! - Something published: step again at once (drain).
//! - Nothing pending: wait for a commit (the watcher's wake-up), the poll interval, or
//!   shutdown; ping the broker every second meanwhile so `/health` stays current. Pending
//!   events held back by PostgreSQL's visibility fence: read again after [`FENCE_RECHECK`]
//!   (doubling while it stays held, up to [`FENCE_RECHECK_MAX`]).
//! - Broker down, an event rejected, or the database failing: wait a full-jitter backoff delay,
//!   then try the same events again. A success resets the backoff.
//!
//! The loop runs only on the leading relay ([`crate::leader`]); it asks its elector before
//! each step, and every second while idle, whether it still leads, and stops (without
//! publishing or marking again) when it does not.
//!
//! Shutdown is only observed between steps, never inside one, so the batch in flight is
//! finished and marked before the loop returns (the last batch's mark, which runs in the
//! background while the next step publishes, is waited for with [`PublishStep::settle`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, BackoffPolicy};
use crate::leader::{self, Elector};
use crate::metrics::{FailureReason, Metrics};
use crate::status::Status;
use crate::step::{PublishStep, StepOutcome};

/// How often an idle relay checks that the broker still answers.
pub const IDLE_PING_INTERVAL: Duration = Duration::from_secs(1);

/// How soon an idle relay reads again when PostgreSQL's visibility fence held pending events
/// back ([`PublishStep::held_back`]): the transaction holding it may end without a
/// notification (a rollback, or a transaction that wrote no event). The delay doubles while
/// the fence stays held, up to [`FENCE_RECHECK_MAX`], so a transaction left open for minutes
/// does not cost a read every 20 ms.
pub const FENCE_RECHECK: Duration = Duration::from_millis(20);

/// The longest delay between two reads while the fence holds events back.
pub const FENCE_RECHECK_MAX: Duration = Duration::from_secs(1);

/// Tunables of the loop.
#[derive(Debug, Clone, Copy)]
pub struct LoopSettings {
    /// Longest idle wait without a wake-up (`RELAY_POLL_INTERVAL`).
    pub poll_interval: Duration,
    /// Retry schedule.
    pub backoff: BackoffPolicy,
}

/// Runs steps until `shutdown` is cancelled or `elector` says this relay no longer leads
/// (then it returns without another step: the caller treats that as a failure). Never
/// returns because of the broker or the database: those are retried with backoff.
pub async fn run(
    mut step: PublishStep,
    settings: LoopSettings,
    wake: Arc<Notify>,
    mut elector: Elector,
    metrics: Metrics,
    status: Arc<Status>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(settings.backoff);
    let mut fence_wait = FENCE_RECHECK;
    let mut down_since: Option<Instant> = None;
    // Set when leadership is lost: the loop then stops without marking again (the next leader
    // reconciles the last batch with the broker's tail).
    let mut deposed = false;
    while !shutdown.is_cancelled() {
        match elector.still_leads().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(
                    through = elector.describe(),
                    "this relay no longer leads; stopping the publish loop"
                );
                leader::stepped_down(&metrics, &status);
                deposed = true;
                break;
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "cannot tell whether this relay still leads; stopping the publish loop"
                );
                leader::stepped_down(&metrics, &status);
                deposed = true;
                break;
            }
        }
        let outcome = step.step().await;
        if matches!(
            outcome,
            Ok(StepOutcome::Published(_) | StepOutcome::Empty | StepOutcome::Rejected { .. })
        ) && let Some(since) = down_since.take()
        {
            tracing::info!(
                broker = status.broker(),
                down_for_ms = since.elapsed().as_millis() as u64,
                "broker reachable again"
            );
        }
        let delay = match outcome {
            Ok(StepOutcome::Published(count)) => {
                tracing::debug!(count, "published");
                fence_wait = FENCE_RECHECK;
                backoff.reset();
                metrics.backoff.set(0.0);
                continue;
            }
            Ok(StepOutcome::Empty) => {
                backoff.reset();
                metrics.backoff.set(0.0);
                let poll_interval = if step.held_back() {
                    let wait = fence_wait;
                    fence_wait = (fence_wait * 2).min(FENCE_RECHECK_MAX);
                    wait.min(settings.poll_interval)
                } else {
                    fence_wait = FENCE_RECHECK;
                    settings.poll_interval
                };
                if idle(
                    &mut step,
                    &mut elector,
                    poll_interval,
                    &wake,
                    &metrics,
                    &status,
                    &shutdown,
                )
                .await
                {
                    break;
                }
                continue;
            }
            Ok(StepOutcome::Rejected {
                seq,
                parked: true,
                error,
                ..
            }) => {
                tracing::error!(
                    event.seq = seq,
                    error,
                    max_attempts = step.max_attempts(),
                    "event parked after repeated rejections; skipping it (see `inventory-relay dead list`)"
                );
                backoff.reset();
                continue;
            }
            Ok(StepOutcome::Rejected {
                seq,
                parked: false,
                error,
                ..
            }) => {
                tracing::warn!(
                    event.seq = seq,
                    error,
                    "broker rejected an event; will retry it"
                );
                backoff.next_delay()
            }
            Ok(StepOutcome::BrokerDown { published, error }) => {
                let delay = backoff.next_delay();
                if down_since.is_none() {
                    down_since = Some(Instant::now());
                    tracing::warn!(
                        broker = status.broker(),
                        error,
                        published,
                        "broker unavailable; retrying with backoff"
                    );
                } else {
                    tracing::debug!(
                        error,
                        delay_ms = delay.as_millis() as u64,
                        "broker still unavailable"
                    );
                }
                delay
            }
            Err(error) => {
                metrics.failures(FailureReason::Database).increment(1);
                tracing::error!(
                    error = format!("{error:#}"),
                    "publish step failed on the database; retrying"
                );
                backoff.next_delay()
            }
        };
        metrics.backoff.set(delay.as_secs_f64());
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    // The last published batch may still be committing its mark: finish it before returning,
    // unless this relay no longer leads.
    if deposed {
        return;
    }
    if let Err(error) = step.settle().await {
        metrics.failures(FailureReason::Database).increment(1);
        tracing::error!(
            error = format!("{error:#}"),
            "marking the last batch failed; the next start reconciles it with the broker"
        );
    }
}

/// Waits for a reason to step again. Returns `true` on shutdown.
async fn idle(
    step: &mut PublishStep,
    elector: &mut Elector,
    poll_interval: Duration,
    wake: &Notify,
    metrics: &Metrics,
    status: &Status,
    shutdown: &CancellationToken,
) -> bool {
    let poll_at = tokio::time::Instant::now() + poll_interval;
    // A broker not yet known to answer (at start, or down) is asked at once.
    let mut ping_at = tokio::time::Instant::now();
    if status.broker_up() {
        ping_at += IDLE_PING_INTERVAL;
    }
    loop {
        let mark_due = step.mark_due().map(tokio::time::Instant::from_std);
        tokio::select! {
            () = shutdown.cancelled() => return true,
            () = wake.notified() => return false,
            () = tokio::time::sleep_until(poll_at) => return false,
            () = tokio::time::sleep_until(mark_due.unwrap_or(poll_at)), if mark_due.is_some() => {
                if let Err(error) = step.settle().await {
                    metrics.failures(FailureReason::Database).increment(1);
                    tracing::error!(
                        error = format!("{error:#}"),
                        "marking published events failed; reconciling with the broker"
                    );
                }
                return false;
            }
            () = tokio::time::sleep_until(ping_at) => {}
        }
        let answer = tokio::time::timeout(IDLE_PING_INTERVAL, step.publisher().ping()).await;
        ping_at = tokio::time::Instant::now() + IDLE_PING_INTERVAL;
        match answer {
            Ok(Ok(())) => {
                if !status.broker_up() {
                    tracing::info!(broker = status.broker(), "broker answers");
                }
                status.broker_answered();
                metrics.broker_up.set(1.0);
            }
            Ok(Err(error)) => broker_silent(status, metrics, &error.to_string()),
            Err(_) => broker_silent(status, metrics, "ping timed out"),
        }
        // An idle leader whose PostgreSQL session ended learns it here, within a second,
        // rather than at the next commit: the loop's check then stops it. (The file lock
        // cannot be lost; for it this is a field read.)
        if !matches!(elector.still_leads().await, Ok(true)) {
            return false;
        }
    }
}

fn broker_silent(status: &Status, metrics: &Metrics, error: &str) {
    // Logged once per outage (and once at start when the broker is not there yet).
    if status.broker_up() || status.last_error().is_none() {
        tracing::warn!(broker = status.broker(), error, "broker is not answering");
    }
    status.broker_failed(error);
    metrics.broker_up.set(0.0);
}
