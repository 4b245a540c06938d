//! The retention task: every `RETENTION_INTERVAL`, deletes synced events older than
//! `EVENTS_RETENTION` (archiving them first when `EVENTS_ARCHIVE_DIR` is set) and finished
//! reservations older than `RESERVATIONS_RETENTION`, then hands the freed pages back to the
//! file system when the file has incremental auto-vacuum. Unset periods keep everything.
//!
//! Why batches through the writer (SQLite): each batch (`RETENTION_BATCH` rows, 1,000 by
//! default) is one job on the writer queue, so API writes queued meanwhile share its group
//! commit or the next one and wait milliseconds, never a whole pass; nothing else writes the
//! file from this process. Its statements are SQLite's own, not rules on the storage seam, so
//! they run on the writer's connection ([`crate::writer::Writer::write_sqlite`]).
//!
//! On PostgreSQL the same batches run beside the writer, on read-pool connections
//! ([`housekeeping`]), and a pass runs on one replica at a time: it starts by taking
//! retention's advisory lock, and a replica that does not get it skips the pass. Each
//! replica's `EVENTS_ARCHIVE_DIR` therefore holds the events of the passes it ran; the
//! archive of the chain is the union of the replicas' folders (`docs/operations.md`). There is
//! no vacuum step: autovacuum reuses the space.
//!
//! Why walk `seq`: events are found oldest first by their primary key, a page at a time
//! (commit order is creation order), so a pass reads only the rows it deletes plus the
//! pending and parked ones it steps over, and stops at the first event inside the period. The
//! rule (synced, older than the cutoff) is repeated in the `DELETE` itself
//! ([`inventory_shared::retention::delete_synced_events`]): a pending or parked event is never
//! deleted whatever this loop reads.

pub mod archive;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use inventory_shared::outbox::{EventFilter, StoredEvent};
use inventory_shared::retention;
use inventory_shared::time::{self, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::reads;
use crate::state::AppState;
use crate::store::postgres::housekeeping::{self, RetentionLock};

pub use archive::Archive;

/// What to keep, and how to delete the rest.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Synced events older than this go; `None` keeps them all.
    pub events: Option<Duration>,
    /// Finished reservations older than this go; `None` keeps them all.
    pub reservations: Option<Duration>,
    /// Where events are archived before they are deleted.
    pub archive_dir: Option<PathBuf>,
    /// Time between passes.
    pub interval: Duration,
    /// Rows per write transaction.
    pub batch: i64,
}

impl Policy {
    /// The policy the settings describe; refuses an archive folder without event retention
    /// (nothing would ever be archived, which is surely not what was meant).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        if settings.events_archive_dir.is_some() && settings.events_retention.is_none() {
            anyhow::bail!(
                "EVENTS_ARCHIVE_DIR is set but EVENTS_RETENTION is not: nothing would be archived"
            );
        }
        Ok(Self {
            events: settings.events_retention,
            reservations: settings.reservations_retention,
            archive_dir: settings.events_archive_dir.clone(),
            interval: settings.retention_interval,
            batch: i64::from(settings.retention_batch),
        })
    }

    /// Whether anything is ever deleted.
    pub fn deletes(&self) -> bool {
        self.events.is_some() || self.reservations.is_some()
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Events appended to the archive.
    pub events_archived: u64,
    /// Events deleted.
    pub events_deleted: u64,
    /// Reservations deleted.
    pub reservations_deleted: u64,
    /// Pages returned to the file system by incremental vacuum.
    pub pages_freed: i64,
}

/// The retention task, built at start (so a bad archive folder stops the start) and run by
/// [`crate::Application::run`].
#[derive(Debug)]
pub struct Retention {
    policy: Policy,
    archive: Option<Arc<Mutex<Archive>>>,
}

impl Retention {
    /// Opens the archive folder (undoing a torn append, see [`archive`]) when one is set.
    pub fn build(policy: Policy) -> anyhow::Result<Self> {
        let archive = match &policy.archive_dir {
            Some(dir) => Some(Arc::new(Mutex::new(Archive::open(dir)?))),
            None => None,
        };
        Ok(Self { policy, archive })
    }

    /// Runs a pass every interval until `shutdown` is cancelled; does nothing when the policy
    /// keeps everything.
    pub async fn run(self, state: AppState, shutdown: CancellationToken) {
        if !self.policy.deletes() {
            return;
        }
        let interval = self.policy.interval;
        let this = Arc::new(self);
        crate::tasks::every(
            "retention",
            interval,
            &shutdown,
            || {
                let (this, state, shutdown) = (this.clone(), state.clone(), shutdown.clone());
                async move { this.pass(&state, &time::now(), &shutdown).await }
            },
            |pass| {
                if *pass != Pass::default() {
                    tracing::info!(
                        events_archived = pass.events_archived,
                        events_deleted = pass.events_deleted,
                        reservations_deleted = pass.reservations_deleted,
                        pages_freed = pass.pages_freed,
                        "retention pass"
                    );
                }
            },
        )
        .await;
    }

    /// One pass as of `now`: events, then reservations, then incremental vacuum.
    pub async fn pass(
        &self,
        state: &AppState,
        now: &Timestamp,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Pass> {
        let lock = match state.reads.postgres() {
            None => None,
            Some(pool) => match RetentionLock::try_take(pool)
                .await
                .context("taking retention's lock")?
            {
                Some(lock) => Some(lock),
                // Another replica is running a pass.
                None => return Ok(Pass::default()),
            },
        };
        let pass = self.pass_locked(state, now, shutdown).await;
        if let Some(lock) = lock {
            lock.release().await;
        }
        pass
    }

    async fn pass_locked(
        &self,
        state: &AppState,
        now: &Timestamp,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Pass> {
        let mut pass = Pass::default();
        if let Some(keep) = self.policy.events {
            let cutoff = *now - chrono::Duration::from_std(keep).context("EVENTS_RETENTION")?;
            self.events(state, &cutoff, shutdown, &mut pass).await?;
        }
        if let Some(keep) = self.policy.reservations {
            let cutoff =
                *now - chrono::Duration::from_std(keep).context("RESERVATIONS_RETENTION")?;
            pass.reservations_deleted = self.reservations(state, cutoff, shutdown).await?;
        }
        if pass.events_deleted + pass.reservations_deleted > 0 {
            pass.pages_freed = vacuum(state, shutdown).await?;
        }
        crate::metrics::record_retention_pass(
            &[
                ("events", "archived", pass.events_archived),
                ("events", "deleted", pass.events_deleted),
                ("reservations", "deleted", pass.reservations_deleted),
            ],
            pass.pages_freed,
        );
        Ok(pass)
    }

    async fn events(
        &self,
        state: &AppState,
        cutoff: &Timestamp,
        shutdown: &CancellationToken,
        pass: &mut Pass,
    ) -> anyhow::Result<()> {
        let batch = self.policy.batch;
        let mut after_seq = 0;
        while !shutdown.is_cancelled() {
            let filter = EventFilter {
                after_seq,
                ..EventFilter::default()
            };
            let page = state
                .reads
                .events(filter, batch)
                .await
                .context("reading the oldest events")?;
            let read = page.len();
            let old: Vec<StoredEvent> = page
                .into_iter()
                .take_while(|e| e.created_at < *cutoff)
                .collect();
            let Some(last) = old.last() else { break };
            after_seq = last.seq;
            let inside_period = old.len() < read || (read as i64) < batch;
            let synced: Vec<StoredEvent> =
                old.into_iter().filter(|e| e.synced_at.is_some()).collect();
            if !synced.is_empty() {
                if let Some(archive) = &self.archive {
                    pass.events_archived += append(archive, synced.clone()).await? as u64;
                }
                let seqs: Vec<i64> = synced.iter().map(|e| e.seq).collect();
                let cutoff = *cutoff;
                let deleted = match state.reads.postgres() {
                    None => {
                        state
                            .writer
                            .write_sqlite(move |conn| {
                                Ok(retention::delete_synced_events(conn, &seqs, &cutoff)?)
                            })
                            .await
                    }
                    Some(pool) => housekeeping::delete_synced_events(pool, &seqs, &cutoff)
                        .await
                        .map(|n| n as usize)
                        .map_err(Into::into),
                }
                .context("deleting old events")?;
                pass.events_deleted += deleted as u64;
            }
            if inside_period {
                break;
            }
        }
        if let Some(archive) = &self.archive {
            let archive = archive.clone();
            tokio::task::spawn_blocking(move || lock(&archive)?.seal())
                .await
                .context("archive seal task")??;
        }
        Ok(())
    }

    async fn reservations(
        &self,
        state: &AppState,
        cutoff: Timestamp,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<u64> {
        let batch = self.policy.batch;
        let mut deleted = 0;
        while !shutdown.is_cancelled() {
            let n = match state.reads.postgres() {
                None => {
                    state
                        .writer
                        .write_sqlite(move |conn| {
                            Ok(retention::delete_finished_reservations(
                                conn, &cutoff, batch,
                            )?)
                        })
                        .await
                }
                Some(pool) => housekeeping::delete_finished_reservations(pool, &cutoff, batch)
                    .await
                    .map(|n| n as usize)
                    .map_err(Into::into),
            }
            .context("deleting finished reservations")?;
            deleted += n as u64;
            if (n as i64) < batch {
                break;
            }
        }
        Ok(deleted)
    }
}

/// Archives `events` on a blocking thread; returns how many were appended.
async fn append(archive: &Arc<Mutex<Archive>>, events: Vec<StoredEvent>) -> anyhow::Result<usize> {
    let archive = archive.clone();
    tokio::task::spawn_blocking(move || lock(&archive)?.append(&events))
        .await
        .context("archive task")?
}

fn lock(archive: &Mutex<Archive>) -> anyhow::Result<std::sync::MutexGuard<'_, Archive>> {
    archive
        .lock()
        .map_err(|_| anyhow::anyhow!("archive lock poisoned"))
}

/// Hands free pages back to the file system, a step per writer job, when the file has
/// incremental auto-vacuum; returns how many pages went. A file without it keeps its free
/// pages for new rows (see `docs/operations.md`, "Space").
async fn vacuum(state: &AppState, shutdown: &CancellationToken) -> anyhow::Result<i64> {
    let reads::Reads::Sqlite { point, .. } = &state.reads else {
        // PostgreSQL: autovacuum.
        return Ok(0);
    };
    let (incremental, mut free) = point
        .read(|conn| {
            Ok((
                retention::has_incremental_vacuum(conn)?,
                retention::free_pages(conn)?,
            ))
        })
        .context("reading the vacuum mode")?;
    if !incremental {
        return Ok(0);
    }
    let start = free;
    while free > 0 && !shutdown.is_cancelled() {
        let left = state
            .writer
            .write_sqlite(|conn| Ok(retention::incremental_vacuum(conn)?))
            .await
            .context("incremental vacuum")?;
        if left >= free {
            break;
        }
        free = left;
    }
    Ok(start - free)
}
