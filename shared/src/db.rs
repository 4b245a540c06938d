//! The SQLite database: one file shared by the API and the relay processes, and the one place
//! that opens connections to it. Each kind of connection has its own function, named after
//! what it is for (see `docs/architecture.md`, "Storage"):
//!
//! | function | driver | who | for |
//! |---|---|---|---|
//! | [`migrate`] | sqlx, one short-lived connection | both, at start | creating the file and applying `migrations/` |
//! | [`open_writer`] | rusqlite | the API's writer thread | every write of the API (group commit) |
//! | [`open_reader`] | rusqlite, read-only | the API's point reads, the relay's batch reads | one-row lookups, pending batches, audit-log pages |
//! | [`open_read_pool`] | sqlx pool | both | lists, stats and health pings on async tasks |
//! | [`open_marker`] | sqlx, one connection, no busy timeout | the relay | marking events synced or rejected |
//! | [`open_admin`] | sqlx, one connection | `inventory-relay dead` | an operator's one-off change |
//! | [`open_watcher`] | sqlx, one connection | the relay | polling `PRAGMA data_version` |
//!
//! Why these settings:
//! - WAL lets readers run while one writer commits; a busy timeout makes the other process
//!   wait for the write lock instead of failing with SQLITE_BUSY.
//! - Inside a process, writes go through exactly one connection, so writers queue in Rust
//!   instead of fighting over the file lock, and every write transaction starts with
//!   `BEGIN IMMEDIATE` (a deferred transaction that later writes can fail with SQLITE_BUSY
//!   when the other process committed in between).
//! - Reads use their own connections and never wait for the writer.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::{DatabaseSettings, Synchronous};

/// How long a connection waits for the other process's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Size the `-wal` file is cut back to after a checkpoint reset (`journal_size_limit`).
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The migrations in `migrations/`, embedded in both binaries.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Creates the database file (and its folder) when missing, with incremental auto-vacuum,
/// and applies the embedded migrations on a connection of its own, closed afterwards. Both
/// binaries call this at start; when they start together one of them may lose the race for
/// the write lock, so a failure is retried a few times.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let path = settings.path();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database folder {}", dir.display()))?;
    }
    // A new file gets `auto_vacuum=INCREMENTAL` (it must be set before the first table), so
    // the retention task can hand deleted rows' space back; an existing file keeps its mode.
    let mut conn = connect_options(settings)?
        .auto_vacuum(SqliteAutoVacuum::Incremental)
        .connect()
        .await
        .with_context(|| format!("opening the database {}", path.display()))?;
    let mut attempt = 0;
    let result = loop {
        match MIGRATOR.run(&mut conn).await {
            Ok(()) => break Ok(()),
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "migration failed, retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => break Err(e).context("applying database migrations"),
        }
    };
    if let Err(e) = sqlx::Connection::close(conn).await {
        tracing::debug!(error = %e, "closing the migration connection");
    }
    result
}

/// The sqlx pool of `size` connections for reads on async tasks: lists, stats, health pings.
/// Call [`migrate`] first.
pub async fn open_read_pool(settings: &DatabaseSettings, size: u32) -> anyhow::Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(size.max(1))
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect_options(settings)?)
        .await
        .with_context(|| format!("opening read connections to {}", settings.path().display()))
}

/// The relay's marking connection: one sqlx connection, in a pool of one so it can be borrowed
/// by a transaction. Its busy timeout is zero: the relay retries taking the write lock itself,
/// every millisecond, because SQLite's busy handler sleeps up to 100 ms between tries, which
/// against an API committing hundreds of times a second showed up as 100–250 ms publish-lag
/// spikes.
pub async fn open_marker(settings: &DatabaseSettings) -> anyhow::Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect_options(settings)?.busy_timeout(Duration::ZERO))
        .await
        .context("opening the relay's marking connection")
}

/// One sqlx connection for an operator's one-off change (`inventory-relay dead retry`), with
/// the usual busy timeout so it waits for a running API's writer.
pub async fn open_admin(settings: &DatabaseSettings) -> anyhow::Result<SqliteConnection> {
    connect_options(settings)?
        .connect()
        .await
        .with_context(|| format!("opening the database {}", settings.path().display()))
}

/// The relay's commit watcher's own connection. `PRAGMA data_version` is per connection: it
/// only reports commits made by *other* connections since this one last looked, so it cannot
/// share a pool.
pub async fn open_watcher(settings: &DatabaseSettings) -> anyhow::Result<SqliteConnection> {
    connect_options(settings)?
        .connect()
        .await
        .context("opening the commit watcher's connection")
}

/// The sqlx connection options every sqlx connection above uses.
fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<SqliteConnectOptions> {
    let synchronous = match settings.sqlite_synchronous {
        Synchronous::Full => SqliteSynchronous::Full,
        Synchronous::Normal => SqliteSynchronous::Normal,
    };
    Ok(SqliteConnectOptions::from_str("sqlite://")
        .context("building SQLite options")?
        .filename(settings.path())
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        .statement_cache_capacity(256))
}

/// The API's writer connection (plain `rusqlite`, same settings as above). The writer thread
/// drives it: a statement costs a few microseconds there, against tens through sqlx's
/// per-connection worker thread, and the writer runs every write of the process. Call
/// [`migrate`] first.
pub fn open_writer(settings: &DatabaseSettings) -> anyhow::Result<rusqlite::Connection> {
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
    // The WAL is checkpointed every 1,000 pages (~4 MB) and then reused from its start, so it
    // stays near 4 MB under steady load (bench/wal.sh). A long reader (a backup, a big
    // export) can pin it meanwhile and let it grow; this limit cuts it back to 64 MiB at the
    // next reset, instead of leaving the file at its high-water mark for good.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
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

/// A read-only `rusqlite` connection to an existing database file: the API's point reads and
/// audit-log pages, the relay's pending batches (sqlx would hand the rows over one by one
/// through its worker thread: about 7 ms for 500 events here, against about 1 ms).
pub fn open_reader(path: &Path) -> anyhow::Result<rusqlite::Connection> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {} for reading", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// `PRAGMA data_version`: changes when another connection commits to the file. Cheap enough
/// to poll every few milliseconds; the relay uses it to wake up on new events.
pub async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
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
