//! Leadership: at most one relay per database publishes; every other one is a standby.
//!
//! Two relays publishing one outbox send every event twice and interleave their batches, so
//! a product's events reach the broker out of `seq` order. Before publishing anything a relay
//! wins an election through its [`Elector`]; until then it is a standby: it serves `/health`
//! (`standby`, 200) and `/metrics` (`relay_leader 0`), reads nothing for publishing, marks
//! nothing, and asks again every [`STANDBY_RETRY`]. Once it leads, the publish loop starts
//! with the same start-up reconciliation as a restarted relay (the step asks the broker what
//! it already holds before sending), so events the old leader published but never marked are
//! not sent twice.
//!
//! [`Elector`] is the seam between databases: SQLite uses [`FileElector`]; PostgreSQL a session
//! advisory lock on a dedicated connection ([`PgSession`], which explains the choice), with
//! the same two questions: "may I lead now?" and, before each batch, "do I still lead?".

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use inventory_shared::config::DatabaseSettings;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::pg_session::{self, PgSession};
use crate::status::Status;

/// How often a standby asks to lead. A dead leader's lock is released by the kernel at once,
/// so a standby takes over within this delay (plus its reconciliation).
pub const STANDBY_RETRY: Duration = Duration::from_millis(500);

/// How a relay is elected leader of its database.
#[derive(Debug)]
pub enum Elector {
    /// SQLite: an exclusive lock on a file beside the database.
    File(FileElector),
    /// PostgreSQL: a session advisory lock held by the relay's dedicated session, which also
    /// carries every read and mark of the leader (the fence).
    Postgres(PgSession),
}

impl Elector {
    /// The elector for the database `settings` name (SQLite only, for now). The path is made
    /// canonical first (the database is open by then, so it exists): two relays that reach one
    /// file through a symlink and through its real path must lock the same lock file.
    pub fn for_database(settings: &DatabaseSettings) -> Self {
        let path = settings.path();
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        Self::File(FileElector::beside(&path))
    }

    /// Tries once to become leader (without waiting). `Ok(true)`: this relay leads (also
    /// when it already did).
    pub async fn try_acquire(&mut self) -> anyhow::Result<bool> {
        match self {
            Self::File(file) => file.try_acquire(),
            Self::Postgres(session) => session.try_lock().await,
        }
    }

    /// Whether this relay still leads; asked before each batch. A deposed leader must stop
    /// before publishing or marking anything else. The file lock cannot be lost while the
    /// process lives; the PostgreSQL lock can (its session ends), and there the marks are
    /// fenced too: they go through the session that holds the lock.
    pub async fn still_leads(&mut self) -> anyhow::Result<bool> {
        match self {
            // A lock held by this process's open file cannot be taken from it while the
            // process lives: only closing the file (or dying) releases it.
            Self::File(file) => Ok(file.holds()),
            // Asked of the server; a session that does not answer counts as lost.
            Self::Postgres(session) => session.still_leads().await,
        }
    }

    /// What the election goes through, for logs.
    pub fn describe(&self) -> String {
        match self {
            Self::File(file) => format!("lock file {}", file.path.display()),
            Self::Postgres(_) => {
                format!("PostgreSQL session advisory lock {}", pg_session::LOCK_KEY)
            }
        }
    }
}

/// An exclusive OS lock (`flock`) on `<database>.relay.lock`.
///
/// Why a file lock for SQLite: every process that opens a SQLite database runs on the host
/// that holds the file (SQLite over a network file system is unsupported), so a host-local
/// lock sees every candidate; the kernel releases it when the holder dies, however it dies
/// (`kill -9` included), so there is no lease to expire and no clock to trust; and it needs
/// no table, no write transaction and nothing from the API. The file itself holds nothing: it
/// is never deleted (deleting it would let a second relay lock a new file of the same name).
#[derive(Debug)]
pub struct FileElector {
    path: PathBuf,
    held: Option<File>,
}

impl FileElector {
    /// The elector for the SQLite database at `database`: its lock file is
    /// `<database>.relay.lock`.
    pub fn beside(database: &Path) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push(".relay.lock");
        Self {
            path: PathBuf::from(path),
            held: None,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn try_acquire(&mut self) -> anyhow::Result<bool> {
        if self.held.is_some() {
            return Ok(true);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .with_context(|| format!("opening the lock file {}", self.path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                self.held = Some(file);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", self.path.display()))
            }
        }
    }

    fn holds(&self) -> bool {
        self.held.is_some()
    }
}

/// Waits as a standby until `elector` makes this relay leader, then records it (`/health`,
/// `relay_leader`, `relay_leadership_changes_total`) and returns the elector, which the
/// publish loop keeps (dropping it gives leadership up). `None` when `shutdown` fired first.
pub async fn lead(
    mut elector: Elector,
    metrics: &Metrics,
    status: &Status,
    shutdown: &CancellationToken,
) -> Option<Elector> {
    let mut announced = false;
    // Whether the last attempt failed: an outage is logged once, not every retry.
    let mut failing = false;
    loop {
        match elector.try_acquire().await {
            Ok(true) => {
                tracing::info!(
                    through = elector.describe(),
                    "leading: this relay publishes"
                );
                // Already recorded when the first election, at build, was won.
                if !status.is_leader() {
                    became_leader(metrics, status);
                }
                return Some(elector);
            }
            Ok(false) => {
                if failing {
                    tracing::info!("standby: the election answers again");
                    failing = false;
                }
                if !announced {
                    tracing::info!(
                        through = elector.describe(),
                        retry_ms = STANDBY_RETRY.as_millis() as u64,
                        "standby: another relay leads this database; waiting to take over"
                    );
                    announced = true;
                }
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    error = format!("{error:#}"),
                    "standby: cannot take part in the election; retrying quietly until it answers"
                );
            }
            Err(error) => tracing::debug!(error = format!("{error:#}"), "election still failing"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(STANDBY_RETRY) => {}
        }
    }
}

/// Records that this relay became leader.
pub fn became_leader(metrics: &Metrics, status: &Status) {
    status.set_leader(true);
    metrics.leader.set(1.0);
    metrics.leadership_changes.increment(1);
}

/// Records that this relay no longer leads.
pub fn stepped_down(metrics: &Metrics, status: &Status) {
    status.set_leader(false);
    metrics.leader.set(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_elector_on_one_database_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("inventory.db");
        let mut first = Elector::File(FileElector::beside(&db));
        let mut second = Elector::File(FileElector::beside(&db));
        assert!(first.try_acquire().await.expect("first try"));
        assert!(
            first
                .try_acquire()
                .await
                .expect("asking again while leading")
        );
        assert!(!second.try_acquire().await.expect("second try"));
        assert!(first.still_leads().await.expect("still leads"));
        assert!(!second.still_leads().await.expect("standby"));
        drop(first);
        assert!(second.try_acquire().await.expect("takes over"));
        assert!(dir.path().join("inventory.db.relay.lock").exists());
    }
}
