//! The one writer: every write of the process runs on one connection owned by one thread, and
//! writes that arrive together share one transaction (group commit). One writer per backend:
//! SQLite's ([`SqliteWriter`], in `sqlite.rs`) and PostgreSQL's ([`PgWriter`], in
//! `postgres.rs`); [`Writer`] is the one the settings chose, and what the routes and the
//! background tasks hold. Their jobs are the same closures, `FnMut(&mut dyn Tx) ->
//! OpResult<T>`, each with the rows it acts on ([`Declared`]): a job is written once, against
//! the storage seam, and either writer can run it.
//!
//! Here, what both share: their queue and how a batch is taken from it (`queue.rs`), and how
//! a job keeps a failing part from leaving changes behind ([`Containment`], [`nested`],
//! [`contained`]), written on [`crate::store::NestTx`] (a `SAVEPOINT` on SQLite, a mark in
//! the unit of work on PostgreSQL).

use anyhow::anyhow;
use rusqlite::Connection;

use crate::ops::{OpError, OpResult};
use crate::store::{Declared, Tx};

pub mod postgres;
mod queue;
mod sqlite;

pub use postgres::{PgWriter, PgWriterThread};
pub use sqlite::{SqliteWriter, SqliteWriterThread};

/// The process's writer, on the backend `DATABASE_URL` chose. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Writer {
    /// The writer thread on the SQLite file.
    Sqlite(SqliteWriter),
    /// The writer thread on PostgreSQL (one per replica).
    Postgres(PgWriter),
}

/// The writer's thread, stopped once the server has stopped.
#[derive(Debug)]
pub enum WriterThread {
    /// SQLite's.
    Sqlite(SqliteWriterThread),
    /// PostgreSQL's.
    Postgres(PgWriterThread),
}

impl WriterThread {
    /// Finishes what is queued, then joins the thread.
    pub async fn stop(self) {
        match self {
            Self::Sqlite(thread) => thread.stop().await,
            Self::Postgres(thread) => thread.stop().await,
        }
    }
}

impl Writer {
    /// A writer with no thread behind it: every write answers 503. For building the spec.
    pub fn detached() -> Self {
        Self::Sqlite(SqliteWriter::detached())
    }

    /// Runs `work` in the next batch and returns its result after the commit; an `Err` from
    /// `work` undoes what `work` did, and only that. `declared` names the rows `work` acts on:
    /// PostgreSQL's writer locks them up front, in order, and may run `work` again when it
    /// reruns a batch after a deadlock (so `work` must not consume what it captured);
    /// SQLite's ignores it and runs `work` once.
    pub async fn write<T, F>(&self, declared: Declared, work: F) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Tx) -> OpResult<T> + Send + 'static,
    {
        match self {
            Self::Sqlite(writer) => writer.write(declared, work).await,
            Self::Postgres(writer) => writer.write(declared, work).await,
        }
    }

    /// [`Writer::write`] with the given [`Containment`]. PostgreSQL's writer undoes a failed
    /// job in memory whatever its containment (there is no savepoint to spare), so the
    /// choice only changes SQLite's statements; the answers are the same.
    pub async fn write_contained<T, F>(
        &self,
        containment: Containment,
        declared: Declared,
        work: F,
    ) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Tx) -> OpResult<T> + Send + 'static,
    {
        match self {
            Self::Sqlite(writer) => writer.write_contained(containment, declared, work).await,
            Self::Postgres(writer) => writer.write(declared, work).await,
        }
    }

    /// Runs `work` on SQLite's writer connection ([`SqliteWriter::write_sqlite`]): only for
    /// SQLite's own housekeeping. On PostgreSQL that housekeeping runs elsewhere (under an
    /// advisory lock, on a connection of its own), so asking for it there is a bug: a storage
    /// error, never a silent no-op.
    pub async fn write_sqlite<T, F>(&self, work: F) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> OpResult<T> + Send + 'static,
    {
        match self {
            Self::Sqlite(writer) => writer.write_sqlite(work).await,
            Self::Postgres(_) => Err(OpError::Storage(anyhow!(
                "a SQLite-only job was sent to the PostgreSQL writer"
            ))),
        }
    }
}

/// How the writer keeps a failing job from leaving part of its changes behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Containment {
    /// The job runs in a savepoint of its own; its failure undoes only its own changes and its
    /// neighbours in the batch commit. Right for any job.
    #[default]
    Savepoint,
    /// No savepoint: the job promises that every refusal comes before its first change (its
    /// first write is the statement that refuses). A job that fails after changing rows anyway
    /// (a storage error, or a broken promise) fails its whole batch: rolled back, every caller
    /// answered an internal error.
    RefusesBeforeWriting,
}

/// Runs `work` in a nested part of its own inside the current job ([`crate::store::NestTx`]:
/// a savepoint on SQLite) and undoes only what `work` did when it fails, leaving the rest of
/// the job in place. For a job that keeps a row even when its operation is refused: the
/// idempotency record of a write answered 404 or 409 (see [`crate::http::idempotency`]). A
/// failure of the nesting itself is a storage error, which undoes the whole job.
pub fn nested<T, R>(tx: &mut T, work: impl FnOnce(&mut T) -> OpResult<R>) -> OpResult<R>
where
    T: Tx + ?Sized,
{
    tx.nest()?;
    let result = work(tx);
    tx.unnest(result.is_ok())?;
    result
}

/// [`nested`] for a [`Containment::Savepoint`] operation; a
/// [`Containment::RefusesBeforeWriting`] one runs as it is, and its failure after a change
/// becomes a storage error (which fails the batch: the job cannot undo only that change).
pub fn contained<T, R>(
    tx: &mut T,
    containment: Containment,
    work: impl FnOnce(&mut T) -> OpResult<R>,
) -> OpResult<R>
where
    T: Tx + ?Sized,
{
    match containment {
        Containment::Savepoint => nested(tx, work),
        Containment::RefusesBeforeWriting => {
            let before = tx.change_count();
            let result = work(tx);
            if result.is_err() && tx.change_count() != before {
                return Err(OpError::Storage(anyhow!(
                    "a write that refuses before writing failed after changing rows"
                )));
            }
            result
        }
    }
}

#[cfg(test)]
mod tests;
