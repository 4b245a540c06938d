//! How a publish step ([`crate::step`]) records acknowledged batches (`synced_at`).
//!
//! **On SQLite marks overlap the next batches.** After a fully acknowledged batch, its mark
//! (the `synced_at` transaction) runs in a task of its own while the next steps read and
//! publish the following batches. Batches acknowledged while a mark is still committing (it
//! waits for the API's writer to release the write lock) are collected and marked together by
//! the next mark, once the one in flight has finished; at most one mark is in flight, and once
//! the collected batches reach `RELAY_BATCH_SIZE` events the step waits for it (so at most
//! about three batches are ever published but unmarked). With lingering marks
//! ([`Marks::linger`]) marks start at most every [`MARK_INTERVAL`]: every mark is a write the
//! API's writer waits for, and in WAL mode a commit by another connection makes the writer
//! drop its page cache, so fewer marks mean a faster API.
//!
//! **On PostgreSQL each batch is marked in line**, before the next read: every read starts
//! from the oldest pending event, which would find a batch whose mark is still in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use inventory_shared::outbox::StoredEvent;
use inventory_shared::time::Timestamp;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::ledger::Ledger;

/// With lingering marks, the shortest time between two marks (unless a batch's worth of
/// events is waiting).
pub const MARK_INTERVAL: Duration = Duration::from_millis(50);

/// Acknowledged batches on their way to `synced_at`.
pub(crate) struct Marks {
    ledger: Arc<Ledger>,
    /// Whether marks run beside the next reads (SQLite) or before them (PostgreSQL).
    overlap: bool,
    /// Whether marks wait for [`MARK_INTERVAL`] (only when they overlap).
    linger: bool,
    /// The mark in flight, while it commits.
    marking: Option<JoinHandle<anyhow::Result<()>>>,
    /// Acknowledged batches (with their acknowledgement time) waiting for the next mark.
    unmarked: Vec<(Vec<StoredEvent>, Timestamp)>,
    /// When the last mark started.
    last_mark: Option<Instant>,
}

impl Marks {
    /// Marks through `ledger`; `overlap`: beside the next reads (SQLite) or in line.
    pub(crate) fn new(ledger: Arc<Ledger>, overlap: bool) -> Self {
        Self {
            ledger,
            overlap,
            linger: false,
            marking: None,
            unmarked: Vec::new(),
            last_mark: None,
        }
    }

    /// Lets marks wait for [`MARK_INTERVAL`] (only where they overlap).
    pub(crate) fn linger(&mut self) {
        self.linger = self.overlap;
    }

    /// Whether marks run beside the next reads.
    pub(crate) fn overlaps(&self) -> bool {
        self.overlap
    }

    /// With lingering marks, when the collected batches are due to be marked, if any wait.
    pub(crate) fn due(&self) -> Option<Instant> {
        if !self.linger || self.unmarked.is_empty() {
            return None;
        }
        Some(
            self.last_mark
                .map_or_else(Instant::now, |t| t + MARK_INTERVAL),
        )
    }

    /// Records an acknowledged batch: marked in line, or handed to the next mark in the
    /// background (see the module documentation).
    pub(crate) async fn push(
        &mut self,
        batch: Vec<StoredEvent>,
        acked_at: Timestamp,
    ) -> anyhow::Result<()> {
        self.unmarked.push((batch, acked_at));
        if self.overlap {
            self.mark_in_background().await
        } else {
            self.settle().await
        }
    }

    /// Waits for the mark in flight, then marks the collected batches. On failure those
    /// batches stay published but unmarked (the caller reconciles, as after a crash).
    pub(crate) async fn settle(&mut self) -> anyhow::Result<()> {
        self.wait_for_mark().await?;
        let batches = std::mem::take(&mut self.unmarked);
        if !batches.is_empty() {
            self.last_mark = Some(Instant::now());
        }
        self.ledger.record_published_batches(&batches).await
    }

    /// Waits for the mark in flight, if any. A failed mark drops the collected batches too:
    /// the caller reconciles them with the broker.
    async fn wait_for_mark(&mut self) -> anyhow::Result<()> {
        let Some(marking) = self.marking.take() else {
            return Ok(());
        };
        let result = match marking.await {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("the marking task failed: {e}")),
        };
        if result.is_err() {
            self.unmarked.clear();
        }
        result
    }

    /// Hands the collected batches to a new mark when the one in flight has finished, or
    /// waits for it first when they reached a batch's worth of events.
    async fn mark_in_background(&mut self) -> anyhow::Result<()> {
        let busy = self.marking.as_ref().is_some_and(|m| !m.is_finished());
        let collected: usize = self.unmarked.iter().map(|(b, _)| b.len()).sum();
        let early = self.linger && self.last_mark.is_some_and(|t| t.elapsed() < MARK_INTERVAL);
        if (busy || early) && collected < self.ledger.settings.batch_size as usize {
            return Ok(());
        }
        self.wait_for_mark().await?;
        self.last_mark = Some(Instant::now());
        let batches = std::mem::take(&mut self.unmarked);
        let ledger = self.ledger.clone();
        self.marking = Some(tokio::spawn(
            async move { ledger.record_published_batches(&batches).await }.in_current_span(),
        ));
        Ok(())
    }
}
