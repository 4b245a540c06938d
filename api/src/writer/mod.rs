//! The one writer: every write of the process runs on one connection owned by one thread, and
//! writes that arrive together share one transaction (group commit). One writer per backend:
//! SQLite's ([`Writer`], today's, in `sqlite.rs`) and PostgreSQL's ([`postgres::PgWriter`]).
//! Their jobs are the same closures, `FnMut(&mut dyn Tx) -> OpResult<T>`, each with the rows
//! it acts on ([`Declared`](crate::store::Declared)): a job is written once, against the
//! storage seam, and either writer can run it.
//!
//! Here, what both share: how a job keeps a failing part from leaving changes behind
//! ([`Containment`], [`nested`], [`contained`]), written on [`crate::store::NestTx`] (a
//! `SAVEPOINT` on SQLite, a mark in the unit of work on PostgreSQL).

use anyhow::anyhow;

use crate::ops::{OpError, OpResult};
use crate::store::Tx;

pub mod postgres;
mod sqlite;

pub use sqlite::{Writer, WriterThread};

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
