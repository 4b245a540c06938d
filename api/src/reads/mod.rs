//! Point reads (one row by its key) run inline on the calling worker thread, on that thread's
//! own read-only `rusqlite` connection.
//!
//! Why: such a lookup costs a few microseconds in SQLite, less than handing it to sqlx's
//! per-connection worker thread and back (measured at 27–40 µs per statement here). Under WAL
//! a reader never waits for the writer, so the worker thread is not held up. Pages of the
//! audit log (up to 1,000 rows) run on the same kind of connection in a blocking task
//! ([`PointReader::scan`]); the other lists and the stats stay on the sqlx read pool.
//!
//! Every read runs under the read budget (`DB_READ_TIMEOUT`, [`ReadBudget`]): past it SQLite
//! interrupts the statement and the caller gets [`OpError::QueryTimeout`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use inventory_shared::config::DatabaseSettings;
use inventory_shared::db::ReadBudget;
use rusqlite::Connection;

use crate::ops::{OpError, OpResult};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// One connection per (thread, database): several apps can share a process in tests.
    static CONNECTIONS: RefCell<HashMap<u64, Connection>> = RefCell::new(HashMap::new());
}

/// Runs point reads on per-thread read-only connections to one database file.
#[derive(Debug, Clone)]
pub struct PointReader {
    id: u64,
    path: Arc<PathBuf>,
    budget: ReadBudget,
}

impl PointReader {
    /// A reader of the database the settings name, each read under `budget`; connections
    /// open on first use.
    pub fn new(settings: &DatabaseSettings, budget: ReadBudget) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path: Arc::new(settings.path()),
            budget,
        }
    }

    /// Runs `read` on this thread's connection (opening it the first time), under the budget.
    pub fn read<T>(&self, read: impl FnOnce(&Connection) -> OpResult<T>) -> OpResult<T> {
        CONNECTIONS.with(|cell| {
            let mut connections = cell.borrow_mut();
            let conn = match connections.entry(self.id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(self.open()?),
            };
            self.budget.start(conn);
            read(conn)
        })
    }

    /// Runs `read` on a blocking thread's connection: for reads of many rows, which would hold
    /// an async worker thread too long.
    pub async fn scan<T, F>(&self, read: F) -> OpResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> OpResult<T> + Send + 'static,
    {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.read(read))
            .await
            .map_err(|e| OpError::storage("a read task failed", e))?
    }

    fn open(&self) -> OpResult<Connection> {
        inventory_shared::db::open_reader(&self.path)
            .map_err(|e| OpError::Storage(e.context("opening a read connection")))
    }
}

pub mod postgres;
