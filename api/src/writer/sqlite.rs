//! The writer on SQLite: every write of the process runs on one connection owned by one
//! thread, and writes that arrive together share one transaction (group commit). Each job gets
//! the transaction as a `&mut dyn Tx` ([`SqliteTx`] on the connection); it runs exactly once.
//!
//! Why one writer: SQLite allows one writer at a time anyway; queueing in Rust is cheaper and
//! fairer than contending for the file lock (`database is locked`).
//!
//! Why group commit: with `synchronous=FULL` every commit waits for an fsync (about 2 ms on
//! this kind of disk), so one transaction per request caps the API near 500 writes/s. The
//! writer takes every job that is waiting (up to `max_batch`), runs them inside one
//! `BEGIN IMMEDIATE` transaction, each in its own SAVEPOINT, and commits once. A job that
//! fails rolls back to its savepoint, so its change and its event vanish together while its
//! neighbours commit. Callers get their answer only after the COMMIT succeeded, so a 2xx still
//! means "durable". (`BEGIN IMMEDIATE` takes the write lock up front: the relay process also
//! writes, and a deferred transaction that later writes can fail with SQLITE_BUSY.)
//!
//! Why a plain thread with `rusqlite` and not sqlx: a statement through sqlx's per-connection
//! worker costs tens of microseconds of channel hand-offs (measured 27–40 µs here against
//! 4 µs with rusqlite), and one reservation is five statements. Reads stay off this thread.
//!
//! Failure: when the batch's own statements fail (BEGIN, a SAVEPOINT, a RELEASE, COMMIT),
//! the whole transaction is rolled back and every caller of the batch, whether its job ran
//! yet or not, is answered the same internal error: nothing of the batch was applied.
//!
//! Savepoints are not free: SQLite copies every page a job first touches inside one into its
//! statement journal (396k → 371k instructions per reservation without it,
//! `docs/performance.md`). A
//! job whose refusals all come before its first change (a reservation: its first write is the
//! conditional `UPDATE` that refuses it) runs without one, [`Containment::RefusesBeforeWriting`];
//! should such a job fail after all once it changed rows (a storage error), the whole batch is
//! rolled back and every caller answered an internal error, so nothing is half-applied either
//! way.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use anyhow::{Context, anyhow};
use inventory_shared::config::DatabaseSettings;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::Containment;
use crate::ops::{OpError, OpResult};
use crate::store::sqlite::SqliteTx;
use crate::store::{Declared, Tx};

/// What the writer does with a job's changes once its work ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The work succeeded: release its savepoint, its changes commit with the batch.
    Keep,
    /// The work failed (or panicked): roll back to its savepoint.
    Undo,
}

/// Why a batch was not committed; every caller of the batch is answered with it.
#[derive(Debug, Clone)]
struct BatchFailed(String);

impl From<rusqlite::Error> for BatchFailed {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

/// One caller's write, type-erased so writes of any result type share one queue.
trait Job: Send {
    /// How the job's failure is contained.
    fn containment(&self) -> Containment;
    /// Runs the work inside the job's savepoint and says whether its changes stay.
    fn run(&mut self, conn: &Connection) -> Verdict;
    /// Answers the caller once the batch's fate is known.
    fn answer(self: Box<Self>, batch: Result<(), &BatchFailed>);
}

/// A [`Job`] for [`SqliteWriter::write`] and [`SqliteWriter::write_sqlite`]: the work, then its result
/// until the commit is known.
struct WriteJob<T, F> {
    containment: Containment,
    work: Option<F>,
    result: Option<OpResult<T>>,
    reply: oneshot::Sender<OpResult<T>>,
}

impl<T, F> Job for WriteJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> OpResult<T> + Send,
{
    fn containment(&self) -> Containment {
        self.containment
    }

    fn run(&mut self, conn: &Connection) -> Verdict {
        let Some(work) = self.work.take() else {
            return Verdict::Undo;
        };
        // A panicking job is rolled back and its caller gets an internal error.
        let result = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
            tracing::error!("a write job panicked; rolled back");
            Err(OpError::Storage(anyhow!("the write panicked")))
        });
        let verdict = if result.is_ok() {
            Verdict::Keep
        } else {
            Verdict::Undo
        };
        self.result = Some(result);
        verdict
    }

    fn answer(self: Box<Self>, batch: Result<(), &BatchFailed>) {
        let outcome = match (batch, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(OpError::Storage(anyhow!("the write was never run"))),
            (Err(BatchFailed(e)), _) => Err(OpError::Storage(anyhow!(
                "the write batch was rolled back: {e}"
            ))),
        };
        let _ = self.reply.send(outcome);
    }
}

type Message = super::queue::Message<Box<dyn Job>>;

/// The statements a batch is wrapped in. A value, not literals in the code, so the unit tests
/// can break one of them and check that every caller is answered the same way.
#[derive(Debug, Clone, Copy)]
pub(super) struct Statements {
    pub(super) begin: &'static str,
    pub(super) savepoint: &'static str,
    pub(super) release: &'static str,
    pub(super) rollback_to: &'static str,
    pub(super) commit: &'static str,
}

pub(super) const STATEMENTS: Statements = Statements {
    begin: "BEGIN IMMEDIATE",
    savepoint: "SAVEPOINT job",
    release: "RELEASE job",
    rollback_to: "ROLLBACK TO job",
    commit: "COMMIT",
};

/// Handle to the writer thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteWriter {
    jobs: mpsc::Sender<Message>,
}

/// The writer thread; [`SqliteWriterThread::stop`] finishes the queued jobs and joins it.
#[derive(Debug)]
pub struct SqliteWriterThread {
    writer: SqliteWriter,
    thread: JoinHandle<()>,
}

impl SqliteWriterThread {
    /// Asks the thread to finish what is queued, then waits for it.
    pub async fn stop(self) {
        let _ = self.writer.jobs.send(Message::Stop).await;
        match tokio::task::spawn_blocking(move || self.thread.join()).await {
            Ok(Ok(())) => tracing::debug!("writer stopped"),
            _ => tracing::error!("writer thread panicked"),
        }
    }
}

impl SqliteWriter {
    /// Opens the writer connection and starts its thread.
    pub fn start(
        settings: &DatabaseSettings,
        max_batch: usize,
    ) -> anyhow::Result<(Self, SqliteWriterThread)> {
        Self::start_with(settings, max_batch, STATEMENTS)
    }

    pub(super) fn start_with(
        settings: &DatabaseSettings,
        max_batch: usize,
        statements: Statements,
    ) -> anyhow::Result<(Self, SqliteWriterThread)> {
        let conn = inventory_shared::db::open_writer(settings)?;
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 8);
        let thread = std::thread::Builder::new()
            .name("db-writer".to_owned())
            .spawn(move || run(conn, queue, max_batch, statements))
            .context("starting the writer thread")?;
        let writer = Self { jobs };
        Ok((writer.clone(), SqliteWriterThread { writer, thread }))
    }

    /// A writer with no thread behind it: every write answers 503. For building the spec.
    pub fn detached() -> Self {
        let (jobs, _) = mpsc::channel(1);
        Self { jobs }
    }

    /// Runs `work` inside a write transaction and returns its result after the commit.
    /// An `Err` from `work` rolls back everything `work` did (and only that). `declared`, the
    /// rows `work` acts on, is for PostgreSQL's writer ([`super::postgres`]); this one holds
    /// the whole file and ignores it, and runs `work` exactly once.
    pub async fn write<T, F>(&self, declared: Declared, work: F) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Tx) -> OpResult<T> + Send + 'static,
    {
        self.write_contained(Containment::Savepoint, declared, work)
            .await
    }

    /// [`SqliteWriter::write`] with the given [`Containment`].
    pub async fn write_contained<T, F>(
        &self,
        containment: Containment,
        _declared: Declared,
        mut work: F,
    ) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Tx) -> OpResult<T> + Send + 'static,
    {
        self.submit(containment, move |conn: &Connection| {
            work(&mut SqliteTx::new(conn) as &mut dyn Tx)
        })
        .await
    }

    /// Runs `work` on the writer's own SQLite connection, in a savepoint of its own inside the
    /// batch, like [`SqliteWriter::write`]. Only for the SQLite-only housekeeping that is not an
    /// inventory rule and has no place on the storage seam: retention's deletes and its
    /// incremental vacuum, the purge of expired idempotency keys. On PostgreSQL those will not
    /// go through the writer at all (a replica runs them under an advisory lock, on a
    /// connection of its own), so they need no backend-neutral job; every other write goes
    /// through [`SqliteWriter::write`].
    pub async fn write_sqlite<T, F>(&self, work: F) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> OpResult<T> + Send + 'static,
    {
        self.submit(Containment::Savepoint, work).await
    }

    /// Queues `work` and waits for its answer, given after the batch's commit.
    async fn submit<T, F>(&self, containment: Containment, work: F) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> OpResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<OpResult<T>>();
        let job = WriteJob {
            containment,
            work: Some(work),
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

/// Whether a failed job without a savepoint left something behind: rows it changed, or no
/// transaction at all (SQLite rolls the whole transaction back on some errors, after which
/// the next statements would run in autocommit mode).
fn left_changes(conn: &Connection, changes_before: u64) -> bool {
    conn.total_changes() != changes_before || conn.is_autocommit()
}

fn run(
    conn: Connection,
    mut queue: mpsc::Receiver<Message>,
    max_batch: usize,
    statements: Statements,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    let mut stopping = false;
    while !stopping {
        stopping = super::queue::next_batch(&mut queue, &mut batch, max_batch);
        if !batch.is_empty() {
            let jobs = batch.len();
            let started = std::time::Instant::now();
            commit_batch(&conn, &mut batch, &statements);
            crate::metrics::record_write_batch(jobs, started.elapsed(), queue.len());
        }
    }
}

/// Runs one batch in one transaction and answers every caller: each its own result after a
/// successful COMMIT, all the same internal error when the batch failed.
fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, sql: &Statements) {
    let jobs = batch.len();
    let span = tracing::debug_span!("write_batch", jobs, micros = tracing::field::Empty);
    let _entered = span.enter();
    let started = std::time::Instant::now();
    let outcome = execute(conn, batch, sql);
    if let Err(BatchFailed(e)) = &outcome {
        tracing::error!(error = %e, jobs, "write batch failed; rolled back");
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            // Also when the failure ended the transaction already ("no transaction is active").
            tracing::debug!(error = %e, "rollback after a failed batch");
        }
    }
    span.record("micros", started.elapsed().as_micros() as u64);
    for job in batch.drain(..) {
        job.answer(outcome.as_ref().map(|_| ()));
    }
}

/// BEGIN, each job in its own savepoint, COMMIT. Stops at the first failing statement.
fn execute(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    sql: &Statements,
) -> Result<(), BatchFailed> {
    let statement = |text: &str| -> Result<(), BatchFailed> {
        conn.prepare_cached(text)?.execute([])?;
        Ok(())
    };
    conn.execute_batch(sql.begin)?;
    for job in batch.iter_mut() {
        match job.containment() {
            Containment::Savepoint => {
                statement(sql.savepoint)?;
                match job.run(conn) {
                    Verdict::Keep => statement(sql.release)?,
                    Verdict::Undo => {
                        statement(sql.rollback_to)?;
                        statement(sql.release)?;
                    }
                }
            }
            Containment::RefusesBeforeWriting => {
                let before = conn.total_changes();
                if job.run(conn) == Verdict::Undo && left_changes(conn, before) {
                    return Err(BatchFailed(
                        "a write that refuses before writing failed after changing rows".into(),
                    ));
                }
            }
        }
    }
    conn.execute_batch(sql.commit)?;
    Ok(())
}
