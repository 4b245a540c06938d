//! The availability read model: its own SQLite file with three tables.
//!
//! - `availability`: one row per (product, store): quantity, reserved, version, the commit
//!   time and `seq` of the last event applied to it.
//! - `inbox`: one row per applied event id, written in the same transaction as its effect, so
//!   an event is applied at most once whatever the broker redelivers.
//! - `consumer_state`: the highest `seq` applied (for `/health` and `/metrics`).
//!
//! Why `synchronous = NORMAL`: in WAL mode a process crash never loses a commit (only a power
//! cut can drop the last ones), and the projection is rebuildable from the audit log; `FULL`
//! would cost an fsync per batch for nothing a consumer needs.

mod apply;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};

pub use apply::{BatchOutcome, Gap};

/// How long a statement waits for another member's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS availability (
    product_id TEXT NOT NULL,
    store_id   TEXT NOT NULL,
    quantity   INTEGER NOT NULL,
    reserved   INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    last_seq   INTEGER NOT NULL,
    PRIMARY KEY (product_id, store_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    event_id   TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    applied_us INTEGER NOT NULL,
    via        TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// One (product, store) row of the read model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// Store.
    pub store_id: String,
    /// On-hand units.
    pub quantity: i64,
    /// Units held by pending reservations.
    pub reserved: i64,
    /// `quantity - reserved`.
    pub available: i64,
    /// The primary's stock row version this row reflects.
    pub version: i64,
    /// Commit time of the last event applied to this row.
    pub updated_at: String,
}

/// Where an applied event came from (kept in the inbox, for operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The broker.
    Stream,
    /// The API's audit log (gap repair or rebuild).
    AuditLog,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::AuditLog => "audit_log",
        }
    }
}

/// An open projection (one connection; readers open their own).
#[derive(Debug)]
pub struct Projection {
    conn: Connection,
}

/// Opens a connection with the projection's settings.
fn connect(path: &Path) -> anyhow::Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder {}", dir.display()))?;
    }
    let conn = Connection::open(path)
        .with_context(|| format!("opening the projection {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Projection {
    /// Opens (creating when missing) the projection file and its tables. Members of one group
    /// share the file and often start together; switching a new file to WAL or creating its
    /// tables can then answer "database is locked" at once, without waiting on the busy
    /// timeout, so the opening is retried for a few seconds instead of ending the process.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut attempt = 0u32;
        loop {
            let opened = connect(path).and_then(|conn| {
                conn.execute_batch(SCHEMA)
                    .context("creating the projection tables")?;
                Ok(conn)
            });
            match opened {
                Ok(conn) => return Ok(Self { conn }),
                Err(e) if attempt < 40 => {
                    attempt += 1;
                    tracing::warn!(
                        error = format!("{e:#}"),
                        attempt,
                        "opening the projection failed, retrying"
                    );
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Empties every table (for `rebuild`), in one transaction.
    pub fn clear(&mut self) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DELETE FROM availability; DELETE FROM inbox; DELETE FROM consumer_state;",
        )?;
        tx.commit()
    }

    /// The highest `seq` applied so far (0 before the first).
    pub fn last_seq(&self) -> rusqlite::Result<i64> {
        last_seq(&self.conn)
    }

    /// `seq` of the last event applied to a row; `None` for a row never seen.
    pub fn row_last_seq(&self, product_id: &str, store_id: &str) -> rusqlite::Result<Option<i64>> {
        self.conn
            .prepare_cached(
                "SELECT last_seq FROM availability WHERE product_id = ? AND store_id = ?",
            )?
            .query_row(params![product_id, store_id], |r| r.get(0))
            .optional()
    }

    /// How many rows the read model holds.
    pub fn row_count(&self) -> rusqlite::Result<i64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM availability", [], |r| r.get(0))
    }
}

fn last_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT value FROM consumer_state WHERE key = 'last_seq'")?
        .query_row([], |r| r.get(0))
        .optional()
        .map(|v| v.unwrap_or(0))
}

/// A read-only connection for the HTTP routes (readers never wait for the writer in WAL).
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Opens a reader on an existing projection (call [`Projection::open`] first).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = connect(path)?;
        Ok(Self { conn })
    }

    /// Every store's row of a product, by store id.
    pub fn product(&self, product_id: &str) -> rusqlite::Result<Vec<Row>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT store_id, quantity, reserved, version, updated_at FROM availability \
             WHERE product_id = ? ORDER BY store_id",
        )?;
        let rows = statement.query_map([product_id], row_from)?;
        rows.collect()
    }

    /// One row.
    pub fn row(&self, product_id: &str, store_id: &str) -> rusqlite::Result<Option<Row>> {
        self.conn
            .prepare_cached(
                "SELECT store_id, quantity, reserved, version, updated_at FROM availability \
                 WHERE product_id = ? AND store_id = ?",
            )?
            .query_row(params![product_id, store_id], row_from)
            .optional()
    }

    /// Every row as `(product_id, row)`, for comparisons in tests and tools.
    pub fn all(&self) -> rusqlite::Result<Vec<(String, Row)>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT store_id, quantity, reserved, version, updated_at, product_id \
             FROM availability ORDER BY product_id, store_id",
        )?;
        let rows = statement.query_map([], |r| Ok((r.get(5)?, row_from(r)?)))?;
        rows.collect()
    }

    /// The highest `seq` applied so far.
    pub fn last_seq(&self) -> rusqlite::Result<i64> {
        last_seq(&self.conn)
    }
}

fn row_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let quantity: i64 = r.get(1)?;
    let reserved: i64 = r.get(2)?;
    Ok(Row {
        store_id: r.get(0)?,
        quantity,
        reserved,
        available: quantity - reserved,
        version: r.get(3)?,
        updated_at: r.get(4)?,
    })
}
