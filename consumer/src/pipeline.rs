//! The consuming loop: [`Pipeline::step`] takes one batch from the broker, applies it
//! (repairing a gap from the audit log when one shows up) and acknowledges it; the loop in
//! [`Pipeline::run`] owns backoff and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context;
use inventory_shared::time;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, AuditLog, SharedProjection};
use crate::event::Incoming;
use crate::metrics::Metrics;
use crate::projection::Via;
use crate::source::{Delivery, Source};

/// What `/health` reports, updated by the pipeline.
#[derive(Debug)]
pub struct Status {
    /// `redis`, `kafka` or `nats`.
    pub broker: &'static str,
    /// Whether the last broker call succeeded.
    pub broker_up: AtomicBool,
    /// Highest `seq` applied.
    pub last_seq: AtomicI64,
    /// Commit-to-applied lag of the last batch, in microseconds.
    pub lag_us: AtomicI64,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A batch was applied and acknowledged.
    Consumed {
        /// Events applied.
        applied: usize,
        /// Duplicates skipped.
        duplicates: u64,
        /// Gaps repaired.
        gaps: u64,
    },
    /// Nothing arrived.
    Idle,
}

/// The broker subscription, the projection and the audit log, put together.
pub struct Pipeline {
    source: Box<dyn Source>,
    projection: SharedProjection,
    audit: AuditLog,
    metrics: Metrics,
    status: Arc<Status>,
    batch_size: usize,
    /// A batch received but not yet fully applied (kept across a failed step).
    held: Option<Vec<Delivery>>,
}

impl Pipeline {
    /// Puts the parts together.
    pub fn new(
        source: Box<dyn Source>,
        projection: SharedProjection,
        audit: AuditLog,
        metrics: Metrics,
        status: Arc<Status>,
        batch_size: usize,
    ) -> Self {
        Self {
            source,
            projection,
            audit,
            metrics,
            status,
            batch_size,
            held: None,
        }
    }

    /// One batch: receive, apply (repairing gaps), acknowledge.
    pub async fn step(&mut self) -> anyhow::Result<Step> {
        let batch = match self.held.take() {
            Some(batch) => batch,
            None => {
                let received = self.source.next_batch(self.batch_size).await;
                self.broker_up(received.is_ok());
                received?
            }
        };
        if batch.is_empty() {
            return Ok(Step::Idle);
        }
        let events: Vec<Incoming> = batch
            .iter()
            .filter_map(|d| match &d.event {
                Ok(event) => Some(event.clone()),
                Err(_) => None,
            })
            .collect();
        match self.apply(events).await {
            Ok((applied, duplicates, gaps)) => {
                for delivery in &batch {
                    if let Err(e) = &delivery.event {
                        self.metrics.malformed.increment(1);
                        tracing::error!(error = %e, "a message is not an event; acknowledged and skipped");
                    }
                }
                let tokens = batch.into_iter().map(|d| d.ack).collect();
                let acked = self.source.ack(tokens).await;
                self.broker_up(acked.is_ok());
                // A failed acknowledgement only means redelivery, which the inbox absorbs.
                if let Err(e) = acked {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "acknowledgement failed; the batch will be redelivered"
                    );
                }
                Ok(Step::Consumed {
                    applied,
                    duplicates,
                    gaps,
                })
            }
            Err(e) => {
                self.held = Some(batch);
                Err(e)
            }
        }
    }

    async fn apply(&mut self, mut events: Vec<Incoming>) -> anyhow::Result<(usize, u64, u64)> {
        let (mut applied, mut duplicates, mut gaps) = (0, 0, 0);
        let mut repaired_at: Option<i64> = None;
        loop {
            let outcome = audit::apply(&self.projection, events.clone(), Via::Stream).await?;
            for event_type in &outcome.applied {
                self.metrics.applied(*event_type);
            }
            applied += outcome.applied.len();
            duplicates += outcome.duplicates;
            self.metrics.duplicates.increment(outcome.duplicates);
            if let Some((seq, created_at)) = outcome.last {
                let lag_us = (time::now() - created_at)
                    .num_microseconds()
                    .unwrap_or(0)
                    .max(0);
                self.status.last_seq.fetch_max(seq, Ordering::Relaxed);
                self.status.lag_us.store(lag_us, Ordering::Relaxed);
                self.metrics
                    .last_seq
                    .set(self.status.last_seq.load(Ordering::Relaxed) as f64);
                self.metrics.lag.set(lag_us as f64 / 1e6);
            }
            let Some(gap) = outcome.gap else {
                return Ok((applied, duplicates, gaps));
            };
            anyhow::ensure!(
                repaired_at != Some(gap.seq),
                "event seq {} still misses versions of ({}, {}) after a catch-up",
                gap.seq,
                gap.product_id,
                gap.store_id
            );
            repaired_at = Some(gap.seq);
            gaps += 1;
            self.metrics.gaps.increment(1);
            let from =
                audit::row_last_seq(&self.projection, &gap.product_id, &gap.store_id).await?;
            tracing::warn!(
                event.seq = gap.seq,
                product.id = %gap.product_id,
                store.id = %gap.store_id,
                have = gap.have,
                got = gap.got,
                from_seq = from,
                "gap: events missing for a row; catching up from the audit log"
            );
            let done = audit::catch_up(&self.projection, &self.audit, &self.metrics, from, |_| {})
                .await
                .context("catching up from the audit log")?;
            tracing::info!(
                read = done.read,
                applied = done.applied,
                "caught up from the audit log"
            );
            events.drain(..gap.index);
        }
    }

    fn broker_up(&self, up: bool) {
        self.status.broker_up.store(up, Ordering::Relaxed);
        self.metrics.broker_up.set(if up { 1.0 } else { 0.0 });
    }

    /// Steps until `shutdown`, backing off (250 ms doubling to 10 s) after failures.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(250);
        loop {
            let step = tokio::select! {
                _ = shutdown.cancelled() => break,
                step = self.step() => step,
            };
            match step {
                Ok(_) => backoff = Duration::from_millis(250),
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        backoff_ms = backoff.as_millis() as u64,
                        "consumer step failed; retrying"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        tracing::info!(source = self.source.name(), "consumer loop stopped");
    }
}
