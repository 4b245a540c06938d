//! One publish step: read the oldest pending batch, publish it in one round trip, record the
//! outcome in one short transaction. The loop ([`crate::pump`]) decides when to step again.
//!
//! **Marks** ([`crate::marks`]): on SQLite a batch's mark overlaps the next reads and
//! publishes, which skip what is published but unmarked with a cursor (`seq >` the last
//! published seq); a step that reconciles, fails or finds nothing pending first settles the
//! marks and reads from the oldest pending event again (so does a step when the cursor is
//! older than [`RESCAN_AFTER`], which picks up events an operator revived with `dead retry`
//! under continuous load). A mark that fails leaves its batch published but unmarked, exactly
//! like a crash between the two: the next step reconciles with the broker before sending
//! anything. [`PublishStep::settle`] waits for the mark in flight (the loop calls it before it
//! returns).
//!
//! **On PostgreSQL** ([`PublishStep::on_postgres`]) a batch is marked before the next read, and
//! every read starts from the oldest pending event behind the visibility fence
//! (`inventory_shared::outbox::postgres`): there, a row can become visible below a `seq`
//! already published, and a cursor would read past it. Both go through the leader's session
//! ([`PgSession`]), so a deposed relay can neither read nor mark. A read from the oldest
//! pending event would find a batch whose mark is still in flight, hence no overlap. A mark
//! there can wait on a row lock (the `event_counts` trigger's counter slot, held by a long
//! API transaction); the session's `lock_timeout` turns a long wait into an error the loop
//! retries. When the fence cut a batch short ([`PublishStep::held_back`]) the loop looks
//! again soon rather than idling until a wake-up.
//!
//! **Reconciliation** (after a start, a failed mark, or an unknown outcome) asks the broker
//! for the `seq`s among its last [`reconcile_window`] records and marks *every* pending event
//! among them, not only the current batch's: on PostgreSQL the first batch can start with
//! events that became visible after the previous relay's last read, and what that relay left
//! published but unmarked can lie past the batch's end. Everything a relay leaves unmarked is
//! the broker's last records (marks go in order), so the window covers it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use inventory_shared::time;
use sqlx::SqlitePool;
use tracing::Instrument;

pub use crate::ledger::StepSettings;
use crate::ledger::{Ledger, Marker};
pub use crate::marks::MARK_INTERVAL;
use crate::marks::Marks;
use crate::metrics::{FailureReason, Metrics};
use crate::pending::PendingReader;
use crate::pg_session::PgSession;
use crate::publisher::{BatchFailure, PublishError, Publisher};
use crate::status::Status;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Nothing was pending.
    Empty,
    /// This many events were published (or found already in the broker) and marked.
    Published(usize),
    /// The broker refused the event `seq` for itself after acknowledging the first `published`
    /// events of the batch (which are marked). `parked` when that was its last allowed attempt.
    Rejected {
        /// Events of the batch acknowledged before the rejected one.
        published: usize,
        /// The rejected event.
        seq: i64,
        /// Whether the event is now parked (`dead_at` set) and will be skipped.
        parked: bool,
        /// The broker's answer.
        error: String,
    },
    /// The broker could not be reached, or the outcome is unknown. The first `published`
    /// events were acknowledged and are marked; nothing after them is skipped.
    BrokerDown {
        /// Events of the batch acknowledged before the failure.
        published: usize,
        /// What went wrong.
        error: String,
    },
}

/// How long the read cursor is trusted before a step reads from the oldest pending event
/// again (see the module documentation).
pub const RESCAN_AFTER: Duration = Duration::from_secs(1);

/// How many of the broker's last records (per partition) a reconciliation reads: more than a
/// relay leaves published but unmarked (one batch on PostgreSQL, about three with overlapping
/// marks on SQLite), with room for a `RELAY_BATCH_SIZE` lowered across a restart.
pub fn reconcile_window(batch_size: u32) -> usize {
    usize::try_from(batch_size)
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        .max(1_000)
}

/// The publish step and the little state it carries between calls.
pub struct PublishStep {
    publisher: Box<dyn Publisher>,
    ledger: Arc<Ledger>,
    /// Acknowledged batches on their way to `synced_at`.
    marks: Marks,
    /// The last seq handed to a mark, and since when reads start after it; `None`: read from
    /// the oldest pending event.
    cursor: Option<(i64, Instant)>,
    /// Set until a step's outcome is fully recorded: at start (a previous process may have
    /// crashed between publishing and marking) and after a failure with an unknown outcome.
    /// While set, the next step asks the broker what it already holds before sending.
    reconcile: bool,
    pending: PendingReader,
    /// Whether the last read stopped at the visibility fence with pending events behind it.
    held_back: bool,
}

/// How a step marks: its settings, and whether marks overlap the next reads.
struct Tunables {
    settings: StepSettings,
    overlap: bool,
}

impl std::fmt::Debug for PublishStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishStep")
            .field("publisher", &self.publisher.name())
            .field("settings", &self.ledger.settings)
            .field("reconcile", &self.reconcile)
            .finish_non_exhaustive()
    }
}

impl PublishStep {
    /// A step reading pending events from the SQLite database file at `database`, marking
    /// them on `marker` (the relay's marking connection,
    /// [`inventory_shared::db::open_marker`]), publishing through `publisher`.
    pub fn new(
        database: &Path,
        marker: SqlitePool,
        publisher: Box<dyn Publisher>,
        settings: StepSettings,
        metrics: Metrics,
        status: Arc<Status>,
    ) -> Self {
        let pending = PendingReader::Sqlite {
            path: database.to_path_buf(),
            conn: Arc::new(std::sync::Mutex::new(None)),
        };
        Self::with(
            pending,
            Marker::Sqlite(marker),
            publisher,
            Tunables {
                settings,
                overlap: true,
            },
            metrics,
            status,
        )
    }

    /// A step on PostgreSQL: reads and marks through the leader's `session` (see the module
    /// documentation).
    pub fn on_postgres(
        session: PgSession,
        publisher: Box<dyn Publisher>,
        settings: StepSettings,
        metrics: Metrics,
        status: Arc<Status>,
    ) -> Self {
        Self::with(
            PendingReader::Postgres(session.clone()),
            Marker::Postgres(session),
            publisher,
            Tunables {
                settings,
                overlap: false,
            },
            metrics,
            status,
        )
    }

    fn with(
        pending: PendingReader,
        marker: Marker,
        publisher: Box<dyn Publisher>,
        Tunables { settings, overlap }: Tunables,
        metrics: Metrics,
        status: Arc<Status>,
    ) -> Self {
        let ledger = Arc::new(Ledger {
            marker,
            settings,
            metrics,
            status,
        });
        Self {
            publisher,
            marks: Marks::new(ledger.clone(), overlap),
            ledger,
            cursor: None,
            reconcile: true,
            pending,
            held_back: false,
        }
    }

    /// Whether the last read found pending events it may not publish yet: rows behind a
    /// transaction still running (PostgreSQL's visibility fence). The loop then looks again
    /// after [`crate::pump::FENCE_RECHECK`]: the transaction holding the fence may end
    /// without notifying anyone (a rollback, or one that wrote no event).
    pub fn held_back(&self) -> bool {
        self.held_back
    }

    /// Rejections before an event is parked.
    pub fn max_attempts(&self) -> u32 {
        self.ledger.settings.max_attempts
    }

    /// The publisher, for pings between steps.
    pub fn publisher(&mut self) -> &mut dyn Publisher {
        self.publisher.as_mut()
    }

    /// Marks at most every [`MARK_INTERVAL`] (unless a batch's worth is waiting), and lets
    /// [`PublishStep::step`] report `Empty` with events published but not yet marked: the loop
    /// calls [`PublishStep::settle`] at [`PublishStep::mark_due`]. The relay's loop uses this
    /// on SQLite (see [`crate::marks`]); on PostgreSQL it changes nothing.
    pub fn lingering_marks(mut self) -> Self {
        self.marks.linger();
        self
    }

    /// With lingering marks, when the collected batches are due to be marked, if any wait.
    pub fn mark_due(&self) -> Option<Instant> {
        self.marks.due()
    }

    /// Marks everything published: waits for the mark in flight, then marks the collected
    /// batches. On failure the next step reconciles with the broker and reads from the oldest
    /// pending event (those batches are published, not marked).
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        let result = self.marks.settle().await;
        self.after_mark(result)
    }

    /// A failed mark leaves its batches published but unmarked, as a crash would.
    fn after_mark(&mut self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        if result.is_err() {
            self.reconcile = true;
            self.cursor = None;
        }
        result
    }

    /// Publishes the oldest pending batch. An `Err` is a database failure (nothing more was
    /// marked; the next step starts over from the oldest pending event).
    #[tracing::instrument(level = "debug", name = "relay_step", skip(self), fields(broker = self.publisher.name()))]
    pub async fn step(&mut self) -> anyhow::Result<StepOutcome> {
        let started = Instant::now();
        let stale = self
            .cursor
            .is_some_and(|(_, since)| since.elapsed() >= RESCAN_AFTER);
        if self.reconcile || stale {
            self.settle().await?;
            self.cursor = None;
        }
        let after = self.cursor.map_or(0, |(seq, _)| seq);
        let (mut batch, held_back) = self
            .pending
            .fetch(after, i64::from(self.ledger.settings.batch_size))
            .await
            .context("reading pending events")?;
        self.held_back = held_back;
        if batch.is_empty() {
            // With lingering marks, the loop marks what waits when it is due; the cursor
            // stays past it meanwhile.
            if self.mark_due().is_some_and(|due| due > Instant::now()) {
                return Ok(StepOutcome::Empty);
            }
            // Everything published is marked before the relay calls itself idle.
            self.settle().await?;
            self.cursor = None;
            return Ok(StepOutcome::Empty);
        }
        let mut already = 0;
        if self.reconcile {
            // Every pending event the broker's tail holds is marked, not only this batch's:
            // on PostgreSQL the batch can start with events that became visible after the
            // previous relay's last read, and the events it left published but unmarked can
            // lie past the batch's end (module documentation).
            let window = reconcile_window(self.ledger.settings.batch_size);
            let mut held = match self.publisher.already_published(batch[0].seq, window).await {
                Ok(held) => held,
                Err(error) => return Ok(self.broker_down(0, error)),
            };
            held.sort_unstable();
            if !held.is_empty() {
                already = self.ledger.mark(&held, &time::now()).await?;
                tracing::info!(
                    count = already,
                    first_seq = held.first(),
                    last_seq = held.last(),
                    "events already in the broker marked synced instead of re-sent"
                );
                batch.retain(|e| held.binary_search(&e.seq).is_err());
            }
            if batch.is_empty() {
                // The broker held the whole batch; read again (past what was just marked).
                self.reconcile = false;
                return Ok(StepOutcome::Published(already));
            }
        }
        // Until this batch's outcome is recorded, a crash or an error leaves it unknown.
        self.reconcile = true;
        self.ledger.metrics.batch_size.record(batch.len() as f64);

        let read = started.elapsed();
        let round_trip = tracing::debug_span!(
            "publish",
            events = batch.len(),
            first_seq = batch.first().map(|e| e.seq),
            last_seq = batch.last().map(|e| e.seq)
        );
        let result = self.publisher.publish(&batch).instrument(round_trip).await;
        let acked_at = time::now();
        let published = started.elapsed();
        let outcome = match result {
            Ok(()) => {
                let count = batch.len();
                let last = batch.last().map_or(after, |e| e.seq);
                let since = self.cursor.map_or_else(Instant::now, |(_, since)| since);
                self.cursor = Some((last, since));
                let marked = self.marks.push(batch, acked_at).await;
                self.after_mark(marked)?;
                if !self.marks.overlaps() {
                    self.cursor = None;
                }
                tracing::debug!(
                    count,
                    read_ms = read.as_secs_f64() * 1e3,
                    publish_ms = (published - read).as_secs_f64() * 1e3,
                    "batch published; marking it"
                );
                StepOutcome::Published(already + count)
            }
            Err(BatchFailure { published, error }) => {
                // Failures are recorded in line, after the mark in flight, and the next step
                // reads from the oldest pending event.
                self.settle().await?;
                self.cursor = None;
                let published = published.min(batch.len());
                let (acked, rest) = batch.split_at(published);
                match (error, rest.first()) {
                    (PublishError::Rejected(error), Some(rejected)) => {
                        let parked = self
                            .ledger
                            .record_rejection(acked, rejected, &error, &acked_at)
                            .await?;
                        StepOutcome::Rejected {
                            published: acked.len(),
                            seq: rejected.seq,
                            parked,
                            error,
                        }
                    }
                    (PublishError::Transient(error), _) | (PublishError::Rejected(error), None) => {
                        self.ledger.record_published(acked, &acked_at).await?;
                        // Outcome of the rest unknown: `reconcile` stays set.
                        return Ok(
                            self.broker_down(already + published, PublishError::Transient(error))
                        );
                    }
                }
            }
        };
        self.reconcile = false;
        self.ledger.status.broker_answered();
        self.ledger.metrics.broker_up.set(1.0);
        Ok(outcome)
    }

    fn broker_down(&mut self, published: usize, error: PublishError) -> StepOutcome {
        let error = match error {
            PublishError::Transient(e) | PublishError::Rejected(e) => e,
        };
        self.ledger
            .metrics
            .failures(FailureReason::Transient)
            .increment(1);
        self.ledger.metrics.broker_up.set(0.0);
        self.ledger.status.broker_failed(&error);
        StepOutcome::BrokerDown { published, error }
    }
}
