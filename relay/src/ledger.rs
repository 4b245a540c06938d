//! The database side of a publish step ([`crate::step`]): recording what the broker
//! acknowledged (`synced_at`, in short transactions: `BEGIN IMMEDIATE` on SQLite's marking
//! connection, or on PostgreSQL the leader's session, which fences the marks), rejections and
//! parking, and the metrics and status that follow a mark.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use inventory_shared::db;
use inventory_shared::outbox::{self, StoredEvent};
use inventory_shared::time::Timestamp;
use sqlx::{Connection, SqlitePool};

use crate::metrics::{FailureReason, Metrics};
use crate::pg_session::PgSession;
use crate::status::Status;

/// Tunables of a step.
#[derive(Debug, Clone, Copy)]
pub struct StepSettings {
    /// Events per round trip (`RELAY_BATCH_SIZE`).
    pub batch_size: u32,
    /// Rejections before an event is parked (`RELAY_MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

/// The database and metrics side of a step: `Sync`, unlike the publisher, so it can be
/// borrowed across awaits in a spawned task.
pub(crate) struct Ledger {
    pub(crate) marker: Marker,
    pub(crate) settings: StepSettings,
    pub(crate) metrics: Metrics,
    pub(crate) status: Arc<Status>,
}

/// Where marks are written.
pub(crate) enum Marker {
    /// SQLite: the relay's one marking connection.
    Sqlite(SqlitePool),
    /// PostgreSQL: the leader's session; a deposed relay's marks fail (see [`PgSession`]).
    Postgres(PgSession),
}

/// One change a mark transaction makes.
enum Change<'a> {
    Synced(&'a [i64], &'a Timestamp),
    Rejected {
        seq: i64,
        error: &'a str,
        max_attempts: i64,
        at: &'a Timestamp,
    },
}

impl Ledger {
    /// Applies `changes` in one transaction; returns the rows each touched (for a rejection,
    /// 1 when the event is now parked).
    async fn apply(&self, what: &'static str, changes: &[Change<'_>]) -> anyhow::Result<Vec<u64>> {
        match &self.marker {
            Marker::Sqlite(_) => {
                let mut tx = self.begin().await.context(what)?;
                let mut done = Vec::with_capacity(changes.len());
                for change in changes {
                    done.push(match change {
                        Change::Synced(seqs, at) => outbox::mark_synced(&mut *tx, seqs, at)
                            .await
                            .context(what)?,
                        Change::Rejected {
                            seq,
                            error,
                            max_attempts,
                            at,
                        } => u64::from(
                            outbox::record_rejection(&mut *tx, *seq, error, *max_attempts, at)
                                .await
                                .context(what)?,
                        ),
                    });
                }
                tx.commit().await.context(what)?;
                Ok(done)
            }
            Marker::Postgres(session) => {
                session
                    .run(what, async |conn| {
                        let mut tx = conn.begin().await?;
                        let mut done = Vec::with_capacity(changes.len());
                        for change in changes {
                            done.push(match change {
                                Change::Synced(seqs, at) => {
                                    outbox::postgres::mark_synced(&mut *tx, seqs, at).await?
                                }
                                Change::Rejected {
                                    seq,
                                    error,
                                    max_attempts,
                                    at,
                                } => u64::from(
                                    outbox::postgres::record_rejection(
                                        &mut *tx,
                                        *seq,
                                        error,
                                        *max_attempts,
                                        at,
                                    )
                                    .await?,
                                ),
                            });
                        }
                        tx.commit().await?;
                        Ok(done)
                    })
                    .await
            }
        }
    }

    /// Starts the write transaction that records a step's outcome. `BEGIN IMMEDIATE` takes the
    /// write lock up front; when the API holds it, we retry every millisecond rather than leave
    /// it to SQLite's busy handler, whose sleeps grow to 100 ms and, against an API committing
    /// hundreds of times a second, showed up as 100–250 ms publish-lag spikes. The relay gives
    /// its marking connection a zero busy timeout for this reason ([`db::open_marker`]).
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        let Marker::Sqlite(marker) = &self.marker else {
            return Err(sqlx::Error::Protocol("not a SQLite marker".to_owned()));
        };
        let deadline = std::time::Instant::now() + db::BUSY_TIMEOUT;
        loop {
            match marker.begin_with("BEGIN IMMEDIATE").await {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                result => return result,
            }
        }
    }

    pub(crate) async fn mark(&self, seqs: &[i64], at: &Timestamp) -> anyhow::Result<usize> {
        let marked = self
            .apply("marking events", &[Change::Synced(seqs, at)])
            .await?;
        Ok(usize::try_from(marked[0]).unwrap_or(usize::MAX))
    }

    /// Marks the batches acknowledged while a mark was in flight, in one transaction, each
    /// with its own acknowledgement time.
    pub(crate) async fn record_published_batches(
        &self,
        batches: &[(Vec<StoredEvent>, Timestamp)],
    ) -> anyhow::Result<()> {
        let batches: Vec<(&[StoredEvent], &Timestamp)> =
            batches.iter().map(|(e, at)| (e.as_slice(), at)).collect();
        self.mark_batches(&batches).await
    }

    /// Marks one acknowledged batch.
    pub(crate) async fn record_published(
        &self,
        events: &[StoredEvent],
        acked_at: &Timestamp,
    ) -> anyhow::Result<()> {
        self.mark_batches(&[(events, acked_at)]).await
    }

    async fn mark_batches(&self, batches: &[(&[StoredEvent], &Timestamp)]) -> anyhow::Result<()> {
        if batches.iter().all(|(events, _)| events.is_empty()) {
            return Ok(());
        }
        let seqs: Vec<Vec<i64>> = batches
            .iter()
            .map(|(events, _)| events.iter().map(|e| e.seq).collect())
            .collect();
        let changes: Vec<Change<'_>> = seqs
            .iter()
            .zip(batches)
            .map(|(seqs, (_, acked_at))| Change::Synced(seqs, acked_at))
            .collect();
        self.apply("marking events", &changes).await?;
        for (events, acked_at) in batches {
            self.count_published(events, acked_at);
        }
        Ok(())
    }

    /// Marks the acknowledged prefix and records the rejection in one transaction. Returns
    /// whether the rejected event is now parked.
    pub(crate) async fn record_rejection(
        &self,
        acked: &[StoredEvent],
        rejected: &StoredEvent,
        error: &str,
        at: &Timestamp,
    ) -> anyhow::Result<bool> {
        let seqs: Vec<i64> = acked.iter().map(|e| e.seq).collect();
        let done = self
            .apply(
                "recording a rejection",
                &[
                    Change::Synced(&seqs, at),
                    Change::Rejected {
                        seq: rejected.seq,
                        error,
                        max_attempts: i64::from(self.settings.max_attempts),
                        at,
                    },
                ],
            )
            .await?;
        let parked = done[1] == 1;
        self.count_published(acked, at);
        self.metrics.failures(FailureReason::Rejected).increment(1);
        if parked {
            self.metrics.dead.increment(1);
        }
        Ok(parked)
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
