//! [`Tx`](super::Tx) on PostgreSQL: a batch of jobs is one unit of work (`docs/postgres.md`).
//!
//! The writer opens a transaction and [`PgTx::begin`]s a batch with what its jobs declared
//! ([`Declared`]: the reservations and stock rows they will act on), which locks those rows
//! in one global order and loads them ([`load`]). The jobs then run their rules against
//! [`PgTx`] one after the other, as on SQLite, but every change lands in memory ([`unit`]):
//! "hold 3 units if available" checks and changes the loaded row, a new reservation and an
//! event are buffered. A job that fails is undone in memory ([`PgTx::undo_to`]), so no
//! `SAVEPOINT` (a subtransaction) is ever taken. [`PgTx::commit`] writes everything
//! set-based ([`flush`]) and commits. A row a job reaches without having declared it is
//! locked and loaded when first asked for (one round trip, out of the global order).
//!
//! A batch whose declared rows are stock rows this replica remembers from its own commits
//! ([`cache`]) can instead run on them without `BEGIN` or locks and be sent as one statement
//! that checks them under lock and commits on its own ([`unlocked`]; a statement lost with
//! its connection is settled on the next one, [`settle`]). Connections are opened with a
//! deadline, the writer's with its session settings ([`connect`]).
//!
//! `Tx` is synchronous; this backend drives sqlx's async driver with the writer thread's own
//! current-thread runtime (`block_on`), which it owns with the connection.
//!
//! A statement that fails leaves PostgreSQL's transaction aborted: [`PgTx::failure`] then
//! says so, and the writer rolls the batch back (and reruns it when the failure was a
//! deadlock or a serialization failure, [`Failure::retryable`]).

mod cache;
pub mod connect;
mod events;
mod flush;
mod holds;
pub mod housekeeping;
mod keys;
mod load;
mod nesting;
mod products;
mod reservations;
pub(crate) mod rows;
pub mod settle;
mod stock;
pub mod unit;
mod unlocked;

use std::collections::BTreeSet;

use anyhow::Context;
use sqlx::PgConnection;
use tokio::runtime::Runtime;

use self::unit::{Mark, PairKey, Unit};
use super::{Declared, StoreError, StoreResult};
use crate::domain::{ProductId, ReservationId, StockRow};

/// Why a batch cannot commit.
#[derive(Debug)]
pub struct Failure {
    /// What failed, for the log (never shown to a client).
    pub error: anyhow::Error,
    /// A deadlock (`40P01`) or serialization failure (`40001`): rerunning the batch from the
    /// start is expected to succeed.
    pub retryable: bool,
    /// The connection itself is gone (not a statement's error): open a new one.
    pub connection_lost: bool,
    /// Failed at `BEGIN`: nothing of the batch reached the database, so after a lost
    /// connection the batch can run again on a new one.
    pub at_begin: bool,
    /// Failed at `COMMIT` with the connection lost: the outcome is unknown.
    pub at_commit: bool,
    /// The batch ran without its row locks ([`PgTx::begin_unlocked`]) and must run again
    /// with them: a row had changed since the replica remembered it, or a job needed the
    /// database. Nothing of it was applied.
    pub unlocked: bool,
    /// Of an unlocked batch: a row it took from the cache had changed (`40001` from its
    /// check), as opposed to a job that needed the database or another failure.
    pub stale: bool,
}

impl Failure {
    fn of(error: sqlx::Error, doing: &str) -> Self {
        let code = match &error {
            sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
            _ => None,
        };
        let code = code.as_deref().unwrap_or("");
        // 40P01 deadlock, 40001 serialization failure, 55P03 lock wait over `lock_timeout`,
        // 23505 a unique key another replica took since this batch looked (a backstop: the
        // batch checks keys under locks, so a rerun reads the winner and refuses properly).
        let retryable = matches!(code, "40P01" | "40001" | "55P03" | "23505");
        // 08xxx connection exceptions, 57P01–57P03 the server shutting down or restarting.
        let connection_lost = code.starts_with("08")
            || code.starts_with("57P")
            || matches!(
                &error,
                sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::PoolClosed
            );
        Self {
            error: anyhow::Error::new(error).context(format!("database (postgres): {doing}")),
            retryable,
            connection_lost,
            at_begin: doing == "BEGIN",
            at_commit: doing == "COMMIT",
            unlocked: false,
            stale: false,
        }
    }

    /// A batch run without its row locks whose job asked the database for something (a row
    /// it did not declare, a key, a due reservation): nothing was sent.
    fn needs_locks(doing: &str) -> Self {
        Self {
            error: anyhow::anyhow!("{doing}: the batch needs its rows locked"),
            retryable: true,
            connection_lost: false,
            at_begin: true,
            at_commit: false,
            unlocked: true,
            stale: false,
        }
    }
}

/// A batch's transaction on PostgreSQL: the writer's connection, the runtime that drives
/// it, and the batch's [`Unit`].
pub struct PgTx {
    runtime: Runtime,
    conn: PgConnection,
    unit: Unit,
    /// The marks of the open nested parts (`NestTx`), innermost last.
    nests: Vec<Mark>,
    failure: Option<Failure>,
    /// The stock rows this replica's committed batches left ([`cache`]).
    cache: cache::StockCache,
    /// When the batch runs without its row locks: the rows it took from the cache, as the
    /// write statement must find them.
    unlocked: Option<Vec<StockRow>>,
    /// The server session of `conn`.
    session: settle::Session,
    /// An unlocked batch whose statement was lost with the connection, to settle on the
    /// next one ([`settle`]).
    lost: Option<settle::Lost>,
}

impl std::fmt::Debug for PgTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTx")
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl PgTx {
    /// Connects to `url` with a runtime of its own. Call it on the thread that will use it
    /// (the runtime's `block_on` must not run inside another runtime).
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the PostgreSQL writer's runtime")?;
        let (conn, session) = runtime
            .block_on(connect::writer(url))
            .context("connecting the PostgreSQL writer")?;
        Ok(Self {
            runtime,
            conn,
            unit: Unit::default(),
            nests: Vec::new(),
            failure: None,
            cache: cache::StockCache::default(),
            unlocked: None,
            session,
            lost: None,
        })
    }

    /// Opens the batch's transaction and locks and loads the rows `declared` names: the
    /// reservations (by id), then every stock row named or under a loaded reservation (by
    /// product, store). On an error the transaction is rolled back.
    pub fn begin(&mut self, declared: &Declared) -> Result<(), Failure> {
        self.unit.clear();
        self.nests.clear();
        self.failure = None;
        self.unlocked = None;
        let result = self.runtime.block_on(async {
            sqlx::raw_sql("BEGIN")
                .execute(&mut self.conn)
                .await
                .map_err(|e| Failure::of(e, "BEGIN"))?;
            let ids: Vec<ReservationId> = sorted(declared.reservations.iter().cloned());
            let mut pairs: BTreeSet<PairKey> = declared.pairs.iter().cloned().collect();
            if !ids.is_empty() {
                let found = load::reservations(&mut self.conn, &ids)
                    .await
                    .map_err(|e| Failure::of(e, "locking reservations"))?;
                for id in &ids {
                    self.unit.reservations.loaded(id.clone(), None);
                }
                for row in found {
                    pairs.insert((row.product_id.clone(), row.store_id.clone()));
                    self.unit.reservations.loaded(row.id.clone(), Some(row));
                }
            }
            let pairs: Vec<PairKey> = pairs.into_iter().collect();
            if !pairs.is_empty() {
                let found = load::stock_rows(&mut self.conn, &pairs)
                    .await
                    .map_err(|e| Failure::of(e, "locking stock rows"))?;
                for key in pairs {
                    self.unit.stock.loaded(key, None);
                }
                for row in found {
                    let key = (row.product_id.clone(), row.store_id.clone());
                    self.unit.stock.loaded(key, Some(row));
                }
            }
            let products: Vec<ProductId> = sorted(declared.products.iter().cloned());
            if !products.is_empty() {
                let found = load::products_exist(&mut self.conn, &products)
                    .await
                    .map_err(|e| Failure::of(e, "reading products"))?;
                for id in products {
                    self.unit.products_seen.insert(id, false);
                }
                for id in found {
                    self.unit.products_seen.insert(id, true);
                }
            }
            Ok(())
        });
        if result.is_err() {
            self.rollback();
        }
        result
    }

    /// Where the batch stands: a job's start, to undo it to.
    pub fn mark(&self) -> Mark {
        self.unit.mark()
    }

    /// Undoes every change since `mark` (a failed job's), in memory.
    pub fn undo_to(&mut self, mark: Mark) {
        self.unit.undo_to(mark);
    }

    /// Why the batch cannot commit, once a statement failed (the transaction is aborted).
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Writes the batch's changes and commits. On an error the transaction is rolled back.
    /// A batch begun [unlocked](PgTx::begin_unlocked) is one statement, which commits on its
    /// own; its failure says [`Failure::unlocked`].
    pub fn commit(&mut self) -> Result<(), Failure> {
        if let Some(failure) = self.failure.take() {
            if failure.unlocked {
                // A job needed the database: nothing was sent, the cache still holds.
                self.unit.clear();
                self.unlocked = None;
            } else {
                self.rollback();
            }
            return Err(failure);
        }
        let unlocked = self.unlocked.take();
        let was_unlocked = unlocked.is_some();
        let result = match unlocked {
            Some(expected) => self.runtime.block_on(async {
                flush::flush_unlocked(&mut self.conn, &self.unit, &expected)
                    .await
                    .map_err(|e| {
                        let stale = e
                            .as_database_error()
                            .and_then(|d| d.code())
                            .is_some_and(|code| code == "40001");
                        let failure = Failure::of(e, "writing the batch (rows as remembered)");
                        // The statement commits on its own: a connection lost during it
                        // leaves the outcome unknown, as one lost at COMMIT does, until
                        // the batch is settled on a new connection (`settle`).
                        let lost = failure.connection_lost;
                        Failure {
                            unlocked: !lost,
                            at_commit: lost,
                            stale,
                            ..failure
                        }
                    })
            }),
            None => self.runtime.block_on(async {
                flush::flush(&mut self.conn, &self.unit)
                    .await
                    .map_err(|e| Failure::of(e, "writing the batch"))?;
                sqlx::raw_sql("COMMIT")
                    .execute(&mut self.conn)
                    .await
                    .map_err(|e| Failure::of(e, "COMMIT"))?;
                Ok(())
            }),
        };
        match &result {
            Ok(()) => self.cache.committed(&self.unit),
            // No transaction was opened.
            Err(failure) if was_unlocked => {
                self.cache.clear();
                if failure.connection_lost {
                    self.lost = Some(settle::Lost {
                        session: self.session.clone(),
                        witness: self.unit.events.first().map(|e| e.id()),
                        wrote: self.unit.change_count() > 0,
                    });
                }
            }
            Err(_) => self.rollback(),
        }
        self.unit.clear();
        result
    }

    /// Rolls the batch's transaction back (harmless when none is open).
    pub fn rollback(&mut self) {
        self.unit.clear();
        self.cache.clear();
        if self.unlocked.take().is_some() {
            // No transaction was opened.
            return;
        }
        if let Err(e) = self
            .runtime
            .block_on(sqlx::raw_sql("ROLLBACK").execute(&mut self.conn))
        {
            tracing::debug!(error = %e, "rollback of a failed write batch");
        }
    }

    /// Runs a statement of a job (a row not declared, read when first asked for): its error
    /// becomes the batch's [`Failure`] and the job's [`StoreError`].
    fn run<T>(
        &mut self,
        doing: &str,
        statement: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> StoreResult<T> {
        if self.failure.is_some() {
            return Err(StoreError::Failed(anyhow::anyhow!(
                "the batch's transaction failed earlier"
            )));
        }
        if self.unlocked.is_some() {
            // Nothing may be read or locked outside the batch's one statement: run the
            // batch again with its rows locked.
            self.failure = Some(Failure::needs_locks(doing));
            return Err(StoreError::Failed(anyhow::anyhow!(
                "{doing}: the batch runs again with its rows locked"
            )));
        }
        match self.runtime.block_on(statement(&mut self.conn)) {
            Ok(value) => Ok(value),
            Err(e) => {
                let failure = Failure::of(e, doing);
                let shown = anyhow::anyhow!("{:#}", failure.error);
                self.failure = Some(failure);
                Err(StoreError::Failed(shown))
            }
        }
    }
}

fn sorted<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    items.collect::<BTreeSet<T>>().into_iter().collect()
}
