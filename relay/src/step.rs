//! One publish step: read the oldest pending batch, publish it in one round trip, record the
//! outcome in one short transaction. The loop ([`crate::pump`]) decides when to step again.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::path::{Path, PathBuf};

use anyhow::Context;
use inventory_shared::db;
use inventory_shared::outbox::{self, StoredEvent};
use inventory_shared::time::{self, Timestamp};
use sqlx::SqlitePool;
use tracing::Instrument;

use crate::metrics::{FailureReason, Metrics};
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

/// Tunables of a step.
#[derive(Debug, Clone, Copy)]
pub struct StepSettings {
    /// Events per round trip (`RELAY_BATCH_SIZE`).
    pub batch_size: u32,
    /// Rejections before an event is parked (`RELAY_MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

/// The publish step and the little state it carries between calls.
pub struct PublishStep {
    publisher: Box<dyn Publisher>,
    ledger: Ledger,
    /// Set until a step's outcome is fully recorded: at start (a previous process may have
    /// crashed between publishing and marking) and after a failure with an unknown outcome.
    /// While set, the next step asks the broker what it already holds before sending.
    reconcile: bool,
    pending: PendingReader,
}

/// Reads batches of pending events on a read-only `rusqlite` connection in a blocking task
/// (see [`db::open_reader`] for why); opened on first use.
struct PendingReader {
    path: PathBuf,
    conn: Arc<std::sync::Mutex<Option<rusqlite::Connection>>>,
}

impl PendingReader {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            conn: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    async fn fetch(&self, limit: i64) -> anyhow::Result<Vec<outbox::StoredEvent>> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow::anyhow!("pending reader poisoned"))?;
            let conn = match guard.take() {
                Some(conn) => conn,
                None => db::open_reader(&path)?,
            };
            let result = outbox::fetch_pending(&conn, limit);
            if result.is_ok() {
                *guard = Some(conn);
            }
            Ok(result?)
        })
        .await?
    }
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
    /// A step reading pending events from the database file at `database`, marking them on
    /// `marker` (the relay's marking connection, [`db::open_marker`]), publishing through
    /// `publisher`.
    pub fn new(
        database: &Path,
        marker: SqlitePool,
        publisher: Box<dyn Publisher>,
        settings: StepSettings,
        metrics: Metrics,
        status: Arc<Status>,
    ) -> Self {
        let pending = PendingReader::new(database);
        Self {
            publisher,
            ledger: Ledger {
                marker,
                settings,
                metrics,
                status,
            },
            reconcile: true,
            pending,
        }
    }

    /// Rejections before an event is parked.
    pub fn max_attempts(&self) -> u32 {
        self.ledger.settings.max_attempts
    }

    /// The publisher, for pings between steps.
    pub fn publisher(&mut self) -> &mut dyn Publisher {
        self.publisher.as_mut()
    }

    /// Publishes the oldest pending batch. An `Err` is a database failure (nothing was
    /// marked; the next step starts over from the same events).
    #[tracing::instrument(level = "debug", name = "relay_step", skip(self), fields(broker = self.publisher.name()))]
    pub async fn step(&mut self) -> anyhow::Result<StepOutcome> {
        let started = std::time::Instant::now();
        let mut batch = self
            .pending
            .fetch(i64::from(self.ledger.settings.batch_size))
            .await
            .context("reading pending events")?;
        if batch.is_empty() {
            return Ok(StepOutcome::Empty);
        }
        let mut already = 0;
        if self.reconcile {
            let held = match self.publisher.already_published(&batch).await {
                Ok(held) => held,
                Err(error) => return Ok(self.broker_down(0, error)),
            };
            if !held.is_empty() {
                already = self.ledger.mark(&held, &time::now()).await?;
                tracing::info!(
                    count = held.len(),
                    first_seq = held.first(),
                    last_seq = held.last(),
                    "events already in the broker marked synced instead of re-sent"
                );
                batch.retain(|e| !held.contains(&e.seq));
            }
            if batch.is_empty() {
                // The broker held the whole batch: the next one may be held too (a crashed
                // relay can leave more than one batch unmarked), so keep asking.
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
                self.ledger.record_published(&batch, &acked_at).await?;
                tracing::debug!(
                    count = batch.len(),
                    read_ms = read.as_secs_f64() * 1e3,
                    publish_ms = (published - read).as_secs_f64() * 1e3,
                    mark_ms = (started.elapsed() - published).as_secs_f64() * 1e3,
                    "batch published"
                );
                StepOutcome::Published(already + batch.len())
            }
            Err(BatchFailure { published, error }) => {
                let published = published.min(batch.len());
                let (acked, rest) = batch.split_at(published);
                match (error, rest.first()) {
                    (PublishError::Rejected(error), Some(rejected)) => {
                        self.ledger
                            .record_rejection(acked, rejected, &error, &acked_at)
                            .await?
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

/// The database and metrics side of a step: `Sync`, unlike the publisher, so it can be
/// borrowed across awaits in a spawned task.
struct Ledger {
    marker: SqlitePool,
    settings: StepSettings,
    metrics: Metrics,
    status: Arc<Status>,
}

impl Ledger {
    /// Starts the write transaction that records a step's outcome. `BEGIN IMMEDIATE` takes the
    /// write lock up front; when the API holds it, we retry every millisecond rather than leave
    /// it to SQLite's busy handler, whose sleeps grow to 100 ms and, against an API committing
    /// hundreds of times a second, showed up as 100–250 ms publish-lag spikes. The relay gives
    /// its marking connection a zero busy timeout for this reason ([`db::open_marker`]).
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        let deadline = std::time::Instant::now() + db::BUSY_TIMEOUT;
        loop {
            match self.marker.begin_with("BEGIN IMMEDIATE").await {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                result => return result,
            }
        }
    }

    async fn mark(&self, seqs: &[i64], at: &Timestamp) -> anyhow::Result<usize> {
        let mut tx = self.begin().await.context("marking events")?;
        let marked = outbox::mark_synced(&mut *tx, seqs, at)
            .await
            .context("marking events")?;
        tx.commit().await.context("marking events")?;
        Ok(usize::try_from(marked).unwrap_or(usize::MAX))
    }

    async fn record_published(
        &self,
        events: &[StoredEvent],
        acked_at: &Timestamp,
    ) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        self.mark(&seqs, acked_at).await?;
        self.count_published(events, acked_at);
        Ok(())
    }

    /// Marks the acknowledged prefix and records the rejection in one transaction.
    async fn record_rejection(
        &self,
        acked: &[StoredEvent],
        rejected: &StoredEvent,
        error: &str,
        at: &Timestamp,
    ) -> anyhow::Result<StepOutcome> {
        let seqs: Vec<i64> = acked.iter().map(|e| e.seq).collect();
        let mut tx = self.begin().await.context("recording a rejection")?;
        outbox::mark_synced(&mut *tx, &seqs, at)
            .await
            .context("recording a rejection")?;
        let parked = outbox::record_rejection(
            &mut *tx,
            rejected.seq,
            error,
            i64::from(self.settings.max_attempts),
            at,
        )
        .await
        .context("recording a rejection")?;
        tx.commit().await.context("recording a rejection")?;
        self.count_published(acked, at);
        self.metrics.failures(FailureReason::Rejected).increment(1);
        if parked {
            self.metrics.dead.increment(1);
        }
        Ok(StepOutcome::Rejected {
            published: acked.len(),
            seq: rejected.seq,
            parked,
            error: error.to_owned(),
        })
    }

    fn count_published(&self, events: &[StoredEvent], acked_at: &Timestamp) {
        if events.is_empty() {
            return;
        }
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for event in events {
            *by_type.entry(event.event_type.as_str()).or_default() += 1;
            let lag = (*acked_at - event.created_at)
                .num_microseconds()
                .unwrap_or(0)
                .max(0);
            self.metrics.lag.record(lag as f64 / 1e6);
        }
        for (event_type, count) in by_type {
            self.metrics.published(event_type).increment(count);
        }
        let unix = acked_at.timestamp_micros() as f64 / 1e6;
        self.metrics.last_publish.set(unix);
        self.status.published_at(*acked_at);
    }
}

/// SQLITE_BUSY and its extended codes (`database is locked`).
fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => e
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5),
        _ => false,
    }
}
