//! The one writer: every write of the process runs on the single writer connection, and
//! writes that arrive together share one transaction (group commit).
//!
//! Why: with `synchronous=FULL` every commit waits for an fsync (about 2 ms on this kind of
//! disk), so one transaction per request caps the API near 500 writes/s. The writer task takes
//! every job that is waiting (up to `max_batch`), runs them inside one `BEGIN IMMEDIATE`
//! transaction, each in its own SAVEPOINT, and commits once. A job that fails rolls back to
//! its savepoint, so its change and its event vanish together while its neighbours commit.
//! Callers get their answer only after the COMMIT succeeded, so a 2xx still means "durable".

use std::future::Future;
use std::pin::Pin;

use anyhow::anyhow;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};

/// A boxed future borrowing the writer connection.
pub type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Sends a job's result to its caller once the batch's commit is known.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A job: runs on the connection, says whether it succeeded, and how to deliver its result.
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Deliver)> + Send>;

/// Handle to the writer task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on `pool` (which must have exactly one connection).
    pub fn start(
        pool: SqlitePool,
        max_batch: usize,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(max_batch.max(1) * 8);
        let task = tokio::spawn(run(pool, queue, max_batch.max(1), shutdown));
        (Self { jobs }, task)
    }

    /// Runs `work` inside a write transaction and returns its result after the commit.
    /// An `Err` from `work` rolls back everything `work` did (and only that).
    pub async fn write<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, ApiResult<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<ApiResult<T>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = work(conn).await;
                let ok = result.is_ok();
                let deliver: Deliver = Box::new(move |commit| {
                    let outcome = match commit {
                        Ok(()) => result,
                        Err(e) => Err(ApiError::Internal(anyhow!("commit failed: {e}"))),
                    };
                    let _ = reply.send(outcome);
                });
                (ok, deliver)
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::Unavailable("the service is shutting down".to_owned()))?;
        answer.await.map_err(|_| {
            ApiError::Internal(anyhow!("the write was abandoned (storage unavailable)"))
        })?
    }
}

async fn run(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let received = tokio::select! {
            // Drain what is queued before stopping: those callers are waiting for an answer.
            biased;
            n = queue.recv_many(&mut batch, max_batch) => n,
            () = shutdown.cancelled() => {
                queue.close();
                queue.recv_many(&mut batch, max_batch).await
            }
        };
        if received == 0 {
            break;
        }
        if let Err(e) = run_batch(&pool, &mut batch).await {
            tracing::error!(error = format!("{e:#}"), "write batch failed");
        }
        batch.clear();
    }
    tracing::debug!("writer stopped");
}

/// Runs one batch in one transaction. Jobs dropped without running (when BEGIN fails) make
/// their callers see an internal error.
async fn run_batch(pool: &SqlitePool, batch: &mut Vec<Job>) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut deliveries = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if let Err(e) = sqlx::query("SAVEPOINT job").execute(&mut *conn).await {
            rollback(&mut conn).await;
            return Err(e.into());
        }
        let (ok, deliver) = job(&mut conn).await;
        let end = if ok { "RELEASE job" } else { "ROLLBACK TO job" };
        let mut ended = sqlx::query(end).execute(&mut *conn).await.map(|_| ());
        if !ok && ended.is_ok() {
            ended = sqlx::query("RELEASE job")
                .execute(&mut *conn)
                .await
                .map(|_| ());
        }
        deliveries.push(deliver);
        if let Err(e) = ended {
            rollback(&mut conn).await;
            let reason = e.to_string();
            for deliver in deliveries {
                deliver(Err(reason.clone()));
            }
            return Err(e.into());
        }
    }
    let committed = sqlx::query("COMMIT").execute(&mut *conn).await;
    let result = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
    if result.is_err() {
        rollback(&mut conn).await;
    }
    for deliver in deliveries {
        deliver(result.clone());
    }
    committed.map(|_| ()).map_err(Into::into)
}

async fn rollback(conn: &mut SqliteConnection) {
    if let Err(e) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
        tracing::warn!(error = %e, "rollback failed; closing the writer connection");
        let _ = conn.ping().await;
    }
}
