//! The SQLite database: one file shared by the API and the relay processes.
//!
//! Why these settings:
//! - WAL lets readers run while one writer commits; `busy_timeout` makes the other process wait
//!   for the write lock instead of failing with SQLITE_BUSY.
//! - Writes go through exactly one connection (the writer pool has size 1), so inside a process
//!   writers queue in Rust instead of fighting over the file lock, and every write transaction
//!   starts with `BEGIN IMMEDIATE` (a deferred transaction that later writes can fail with
//!   SQLITE_BUSY when the other process committed in between).
//! - Reads use their own pool and never wait for the writer.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::{DatabaseSettings, Synchronous};

/// How long a connection waits for the other process's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The migrations in `migrations/`, embedded in both binaries.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The two pools of one process.
#[derive(Debug, Clone)]
pub struct Database {
    /// Exactly one connection: every write of this process goes through it.
    pub writer: SqlitePool,
    /// Read-only work: lists, single-row reads, stats.
    pub reader: SqlitePool,
}

impl Database {
    /// Opens (creating when missing) the database file, applies the migrations and returns the
    /// writer and reader pools.
    pub async fn open(settings: &DatabaseSettings, readers: u32) -> anyhow::Result<Self> {
        let path = settings.path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the database folder {}", dir.display()))?;
        }
        let options = connect_options(settings)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening the database {}", path.display()))?;
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .with_context(|| format!("opening read connections to {}", path.display()))?;
        Ok(Self { writer, reader })
    }

    /// Closes both pools (waits for connections in use to come back).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// The connection options both pools use.
pub fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<SqliteConnectOptions> {
    let path = settings.path();
    let synchronous = match settings.sqlite_synchronous {
        Synchronous::Full => SqliteSynchronous::Full,
        Synchronous::Normal => SqliteSynchronous::Normal,
    };
    Ok(SqliteConnectOptions::from_str("sqlite://")
        .context("building SQLite options")?
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        .statement_cache_capacity(256))
}

/// Applies the embedded migrations. Both binaries call this at start; when they start together
/// one of them may lose the race for the write lock, so a failure is retried a few times.
pub async fn migrate(pool: &SqlitePool) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "migration failed, retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(e).context("applying database migrations"),
        }
    }
}

/// `PRAGMA data_version`: changes when another connection commits to the file. Cheap enough
/// to poll every few milliseconds; the relay uses it to wake up on new events.
pub async fn data_version(conn: &mut sqlx::SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
}

/// Answers whether the database responds (for `/health`): reads the schema page, so an
/// unreadable file fails too, not only a closed pool.
pub async fn ping(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sqlite_schema")
        .fetch_one(pool)
        .await
        .map(|_| ())
}

/// Opens a plain `rusqlite` connection to the same file with the same settings (WAL, busy
/// timeout, foreign keys, `synchronous`). The API's writer thread uses it: a statement costs
/// a few microseconds there, against tens through sqlx's per-connection worker thread, and
/// the writer runs every write of the process. Call [`Database::open`] first (it creates the
/// file and applies the migrations).
pub fn open_blocking_writer(settings: &DatabaseSettings) -> anyhow::Result<rusqlite::Connection> {
    let path = settings.path();
    let conn = rusqlite::Connection::open(&path)
        .with_context(|| format!("opening the database {} for writing", path.display()))?;
    // SQLite's own busy handler sleeps up to 100 ms between tries; the relay holds the write
    // lock for a few milliseconds at a time, so retry every millisecond instead.
    conn.busy_handler(Some(retry_every_millisecond))?;
    let synchronous = match settings.sqlite_synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Busy handler of the writer connection: wait 1 ms and retry, for up to [`BUSY_TIMEOUT`].
fn retry_every_millisecond(attempt: i32) -> bool {
    if u128::from(attempt.unsigned_abs()) >= BUSY_TIMEOUT.as_millis() {
        return false;
    }
    std::thread::sleep(Duration::from_millis(1));
    true
}

/// Opens a read-only `rusqlite` connection to an existing database file (for bulk reads that
/// sqlx would hand over row by row).
pub fn open_blocking_reader(path: &std::path::Path) -> anyhow::Result<rusqlite::Connection> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {} for reading", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}
