//! The writer on PostgreSQL: per replica, one thread and one connection, and jobs that
//! arrive together share one transaction (group commit), as on SQLite. What differs is how a
//! batch runs (`docs/postgres.md`): the jobs say which rows they act on ([`Declared`]), the
//! batch locks those rows up front in one global order, the jobs' rules run against the
//! loaded rows in memory ([`PgTx`]), and the changes are written set-based before the one
//! `COMMIT`. Callers are answered after the commit, so a 2xx is durable.
//!
//! Failures: a job that fails is undone in memory and its neighbours commit (no `SAVEPOINT`
//! is ever taken). A statement that fails aborts PostgreSQL's transaction: the batch is
//! rolled back; a deadlock or serialization failure (`40P01`, `40001`; possible between
//! replicas when a job reaches rows it did not declare, or in the counters' slots) reruns the
//! whole batch from the start, at most [`RERUNS`] times, so every job is a closure the writer
//! can call again (`FnMut`). The reruns used up, or PostgreSQL unreachable, answers every
//! caller of the batch 503 (`OpError::Unavailable`: nothing was applied, sending it again is
//! safe); any other failure the same storage error (500). A connection found gone at `BEGIN`
//! is reopened and the batch run on the new one; a connection lost at `COMMIT` leaves the
//! outcome unknown, which is answered as a storage error, not as "nothing applied".

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::sync::{mpsc, oneshot};

use crate::ops::{OpError, OpResult};
use crate::store::Declared;
use crate::store::Tx;
use crate::store::postgres::settle::Settled;
use crate::store::postgres::{Failure, PgTx};
use gather::Gather;
use unlocking::Unlocking;

mod gather;
mod unlocking;

/// How long a busy writer's batch waits for more jobs unless told otherwise (`WRITE_GATHER`).
pub const DEFAULT_GATHER: Duration = Duration::from_micros(500);

/// How many times a batch that hit a deadlock or serialization failure is run again.
pub const RERUNS: usize = 3;

/// One caller's write, type-erased so writes of any result type share one queue.
trait Job: Send {
    /// The rows the job acts on.
    fn declared(&self) -> &Declared;
    /// Runs the work (again, on a rerun); answers whether its changes stay.
    fn run(&mut self, tx: &mut PgTx) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn answer(self: Box<Self>, batch: Result<(), &BatchError>);
}

/// Why a batch was not committed, as its callers are answered.
#[derive(Debug)]
struct BatchError {
    /// For the log line of each caller's error.
    message: String,
    /// PostgreSQL unreachable, or the reruns used up: nothing was applied, answered 503.
    unavailable: bool,
}

impl BatchError {
    fn of(failure: &Failure) -> Self {
        let message = format!("{:#}", failure.error);
        // A connection lost at COMMIT leaves the outcome unknown: not "nothing applied".
        let unavailable = (failure.connection_lost && !failure.at_commit) || failure.retryable;
        Self {
            message,
            unavailable,
        }
    }
}

struct WriteJob<T, F> {
    declared: Declared,
    work: F,
    result: Option<OpResult<T>>,
    reply: oneshot::Sender<OpResult<T>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send,
    F: FnMut(&mut dyn Tx) -> OpResult<T> + Send,
{
    fn declared(&self) -> &Declared {
        &self.declared
    }

    fn run(&mut self, tx: &mut PgTx) -> bool {
        let work = &mut self.work;
        let result = catch_unwind(AssertUnwindSafe(|| work(tx))).unwrap_or_else(|_| {
            tracing::error!("a write job panicked; rolled back");
            Err(OpError::Storage(anyhow!("the write panicked")))
        });
        let keep = result.is_ok();
        self.result = Some(result);
        keep
    }

    fn answer(self: Box<Self>, batch: Result<(), &BatchError>) {
        let outcome = match (batch, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(OpError::Storage(anyhow!("the write was never run"))),
            (Err(e), _) if e.unavailable => Err(OpError::Unavailable),
            (Err(e), _) => Err(OpError::Storage(anyhow!(
                "the write batch was not committed: {}",
                e.message
            ))),
        };
        let _ = self.reply.send(outcome);
    }
}

type Message = super::queue::Message<Box<dyn Job>>;

/// Handle to the PostgreSQL writer thread. Cheap to clone.
#[derive(Clone)]
pub struct PgWriter {
    jobs: mpsc::Sender<Message>,
}

impl std::fmt::Debug for PgWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgWriter")
    }
}

/// The writer thread; [`PgWriterThread::stop`] finishes the queued jobs and joins it.
#[derive(Debug)]
pub struct PgWriterThread {
    writer: PgWriter,
    thread: JoinHandle<()>,
}

impl PgWriterThread {
    /// Asks the thread to finish what is queued, then waits for it.
    pub async fn stop(self) {
        let _ = self.writer.jobs.send(Message::Stop).await;
        match tokio::task::spawn_blocking(move || self.thread.join()).await {
            Ok(Ok(())) => tracing::debug!("postgres writer stopped"),
            _ => tracing::error!("postgres writer thread panicked"),
        }
    }
}

impl PgWriter {
    /// Starts the writer thread, which connects to `url` (and reconnects when the connection
    /// is lost), gathering batches for up to [`DEFAULT_GATHER`]. Fails when the first
    /// connection cannot be made.
    pub fn start(url: &str, max_batch: usize) -> anyhow::Result<(Self, PgWriterThread)> {
        Self::start_gathering(url, max_batch, DEFAULT_GATHER)
    }

    /// [`PgWriter::start`], with a busy writer's batch waiting up to `gather` for more jobs
    /// (`WRITE_GATHER`, [`gather`]; zero: never).
    pub fn start_gathering(
        url: &str,
        max_batch: usize,
        gather: Duration,
    ) -> anyhow::Result<(Self, PgWriterThread)> {
        let url = url.to_owned();
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 8);
        let (connected, first) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("pg-writer".to_owned())
            .spawn(move || {
                let tx = match PgTx::connect(&url) {
                    Ok(tx) => {
                        let _ = connected.send(Ok(()));
                        tx
                    }
                    Err(e) => {
                        let _ = connected.send(Err(e));
                        return;
                    }
                };
                run(tx, &url, queue, max_batch, Gather::new(gather));
            })
            .context("starting the PostgreSQL writer thread")?;
        first
            .recv()
            .context("the PostgreSQL writer thread stopped")??;
        let writer = Self { jobs };
        Ok((writer.clone(), PgWriterThread { writer, thread }))
    }

    /// Runs `work` in the next batch and returns its result after the commit. `declared`
    /// names the rows it acts on (locked up front, in order); `work` may be run again when
    /// the batch is rerun, so it must not consume what it captured.
    pub async fn write<T, F>(&self, declared: Declared, work: F) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Tx) -> OpResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<OpResult<T>>();
        let job = WriteJob {
            declared,
            work,
            result: None,
            reply,
        };
        self.jobs
            .send(Message::Job(Box::new(job)))
            .await
            .map_err(|_| OpError::ShuttingDown)?;
        answer
            .await
            .map_err(|_| OpError::Storage(anyhow!("the writer stopped before answering")))?
    }
}

fn run(
    tx: PgTx,
    url: &str,
    mut queue: mpsc::Receiver<Message>,
    max_batch: usize,
    mut gather: Gather,
) {
    let mut tx = Some(tx);
    let mut unlocking = Unlocking::default();
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    let mut stopping = false;
    while !stopping {
        let waiting = std::time::Instant::now();
        stopping = super::queue::next_batch(&mut queue, &mut batch, max_batch);
        if batch.is_empty() {
            continue;
        }
        if !stopping {
            stopping = gather.more(&mut queue, &mut batch, max_batch, waiting.elapsed());
        }
        let jobs = batch.len();
        let started = std::time::Instant::now();
        let outcome = commit_batch(&mut tx, url, &mut batch, &mut unlocking);
        unlocking.batch_ended();
        let failed = outcome.as_ref().err().map(BatchError::of);
        if let Some(e) = &failed {
            tracing::error!(error = %e.message, jobs, "write batch failed; rolled back");
        }
        for job in batch.drain(..) {
            job.answer(match &failed {
                None => Ok(()),
                Some(e) => Err(e),
            });
        }
        let took = started.elapsed();
        gather.ended(jobs, took, unlocking.rows_shared());
        crate::metrics::record_write_batch(jobs, took, queue.len());
    }
}

/// A new connection, or `None` (logged) while PostgreSQL cannot be reached.
fn reconnect(url: &str) -> Option<PgTx> {
    match PgTx::connect(url) {
        Ok(tx) => {
            tracing::info!("postgres writer reconnected");
            Some(tx)
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "postgres writer cannot connect");
            // Do not spin: the next batch tries again.
            std::thread::sleep(Duration::from_millis(100));
            None
        }
    }
}

/// Runs the batch: first unlocked when the writer remembers its rows and [`Unlocking`]
/// allows it, and the usual way when that was not tried or missed; rerunning it after a
/// deadlock or serialization failure (at most [`RERUNS`] times), and once on a new
/// connection when the old one turned out to be gone at `BEGIN` (nothing of the batch had
/// reached the database). A connection lost anywhere is dropped; the next batch opens a new
/// one.
fn commit_batch(
    tx: &mut Option<PgTx>,
    url: &str,
    batch: &mut [Box<dyn Job>],
    unlocking: &mut Unlocking,
) -> Result<(), Failure> {
    let mut declared = Declared::default();
    for job in batch.iter() {
        declared.extend(job.declared());
    }
    if let Some(conn) = tx.as_mut()
        && unlocking.try_now()
        && conn.begin_unlocked(&declared)
    {
        match run_jobs(conn, batch) {
            Ok(()) => {
                unlocking.committed();
                return Ok(());
            }
            Err(failure) if failure.unlocked => {
                tracing::debug!(error = %format!("{:#}", failure.error), "batch runs again with its rows locked");
                unlocking.locked_instead(failure.stale);
            }
            Err(failure) if failure.connection_lost => {
                // The statement may have committed: find out on a new connection.
                let lost = conn.take_lost();
                *tx = reconnect(url);
                let settled = match (tx.as_mut(), lost) {
                    (Some(conn), Some(lost)) => conn.settle(&lost).ok(),
                    _ => None,
                };
                match settled {
                    Some(Settled::Committed) => {
                        tracing::info!("a batch lost with its connection had committed");
                        unlocking.committed();
                        return Ok(());
                    }
                    Some(Settled::NotApplied) => {
                        tracing::info!("a batch lost with its connection runs again");
                        unlocking.locked_instead(false);
                    }
                    None => return Err(failure),
                }
            }
            Err(failure) => return Err(failure),
        }
    }
    let mut reruns = 0;
    let mut reconnected = false;
    loop {
        if tx.is_none() {
            *tx = reconnect(url);
        }
        let Some(conn) = tx.as_mut() else {
            return Err(Failure {
                error: anyhow!("PostgreSQL is unreachable"),
                retryable: false,
                connection_lost: true,
                at_begin: true,
                at_commit: false,
                unlocked: false,
                stale: false,
            });
        };
        match run_once(conn, &declared, batch) {
            Ok(()) => return Ok(()),
            Err(failure) if failure.connection_lost => {
                *tx = None;
                if failure.at_begin && !reconnected {
                    reconnected = true;
                    continue;
                }
                return Err(failure);
            }
            Err(failure) if failure.retryable && reruns < RERUNS => {
                reruns += 1;
                crate::metrics::record_write_rerun();
                tracing::debug!(error = %format!("{:#}", failure.error), reruns, "write batch rerun");
            }
            Err(failure) => return Err(failure),
        }
    }
}

fn run_once(tx: &mut PgTx, declared: &Declared, batch: &mut [Box<dyn Job>]) -> Result<(), Failure> {
    tx.begin(declared)?;
    run_jobs(tx, batch)
}

/// Runs the jobs on the begun batch, each undone in memory when it fails, and commits.
fn run_jobs(tx: &mut PgTx, batch: &mut [Box<dyn Job>]) -> Result<(), Failure> {
    for job in batch.iter_mut() {
        let mark = tx.mark();
        let keep = job.run(tx);
        if tx.failure().is_some() {
            break;
        }
        if !keep {
            tx.undo_to(mark);
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests;
