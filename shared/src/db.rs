//! The SQLite database: one file shared by the API and the relay processes, and the one place
//! that opens connections to it. Each kind of connection has its own function, named after
//! what it is for (see `docs/architecture.md`, "Storage"):
//!
//! | function | driver | who | for |
//! |---|---|---|---|
//! | [`migrate`] | sqlx, one short-lived connection, temporary data on disk | both, at start | creating the file and applying `migrations/` |
//! | [`open_writer`] | rusqlite | the API's writer thread | every write of the API (group commit) |
//! | [`open_reader`] | rusqlite, read-only | the API's point reads, the relay's batch reads | one-row lookups, pending batches, audit-log pages |
//! | [`open_read_pool`] | sqlx pool | the relay, tests | stats and health pings on async tasks |
//! | [`open_budgeted_read_pool`] | sqlx pool, a time budget per checkout | the API | lists and stats |
//! | [`open_health`] | sqlx, one connection | the API | `/health` only, never behind a list |
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
//! - The API's reads run under a time budget ([`ReadBudget`]): SQLite's progress handler
//!   interrupts a statement past it, so a slow read gives its connection back instead of
//!   holding it for seconds, and `/health` pings on a connection of its own.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

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

/// The writer connection's page cache, in KiB (`PRAGMA cache_size = -N`): 32 MiB at most,
/// allocated as pages are used.
pub const WRITER_CACHE_KIB: i64 = 32 * 1024;

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
    // Temporary data goes to files here, not memory: with `temp_store=MEMORY` SQLite's sorter
    // never spills, so a migration's `CREATE INDEX` on a large table sorts every key in RAM
    // (about 100 MB for 1.25M events), and the allocator kept those pages after the
    // connection closed (issue 17: 516 MB resident after upgrading a 4 GB file, against 59 MB
    // for a plain start). On files the sorter works in runs of the page cache's size.
    let mut conn = connect_options(settings)?
        .pragma("temp_store", "file")
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

/// How many SQLite virtual-machine instructions run between two looks at the clock of a read
/// under a budget: a look costs about 20 ns, a thousand instructions some tens of
/// microseconds, so a read overruns its budget by well under a millisecond.
const BUDGET_CHECK_EVERY: i32 = 1_000;

/// The shortest wait for a read connection, whatever the budget: opening one takes a few
/// milliseconds.
pub const MIN_ACQUIRE_WAIT: Duration = Duration::from_secs(1);

/// How long one read may take (`DB_READ_TIMEOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBudget(pub Duration);

impl ReadBudget {
    /// Installs the budget on a `rusqlite` connection, starting now: a statement still running
    /// at the deadline fails with `SQLITE_INTERRUPT` ([`is_interrupted`]).
    pub fn start(self, conn: &rusqlite::Connection) {
        let deadline = Instant::now() + self.0;
        conn.progress_handler(BUDGET_CHECK_EVERY, Some(move || Instant::now() >= deadline));
    }

    /// The same on a sqlx connection (whose handler answers the other way round: `false`
    /// interrupts).
    async fn start_sqlx(self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let deadline = Instant::now() + self.0;
        conn.lock_handle()
            .await?
            .set_progress_handler(BUDGET_CHECK_EVERY, move || Instant::now() < deadline);
        Ok(())
    }
}

/// Whether a `rusqlite` read failed because its [`ReadBudget`] ran out.
pub fn is_interrupted(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.code == rusqlite::ErrorCode::OperationInterrupted)
}

/// Whether a read on an [`open_budgeted_read_pool`] pool ran out of its budget: interrupted
/// (`SQLITE_INTERRUPT`, 9) or no connection freed up within the budget.
pub fn is_over_budget(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(e) => e.code().as_deref() == Some("9"),
        _ => false,
    }
}

/// The API's read pool: `size` connections (`DB_READ_CONNECTIONS`), every checkout under
/// `budget` (`DB_READ_TIMEOUT`). Waiting for a free connection is bounded by the budget too
/// (but at least [`MIN_ACQUIRE_WAIT`], which also covers opening a connection), so a read
/// answers within about twice the budget whatever else runs. The budget starts each time a
/// connection leaves the pool (one statement for every read of the API). Call [`migrate`]
/// first.
pub async fn open_budgeted_read_pool(
    settings: &DatabaseSettings,
    size: u32,
    budget: ReadBudget,
) -> anyhow::Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(size.max(1))
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(budget.0.max(MIN_ACQUIRE_WAIT))
        // Installing the budget is itself a round trip to the connection's worker: a ping.
        .test_before_acquire(false)
        .after_connect(move |conn, _| Box::pin(budget.start_sqlx(conn)))
        .before_acquire(move |conn, _| {
            Box::pin(async move { budget.start_sqlx(conn).await.map(|()| true) })
        })
        .connect_with(connect_options(settings)?)
        .await
        .with_context(|| format!("opening read connections to {}", settings.path().display()))
}

/// The API's `/health` connection: one of its own, so a health check never queues behind
/// slow lists on the read pool (issue 10: four stats calls made `/health` answer 503).
pub async fn open_health(settings: &DatabaseSettings) -> anyhow::Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect_options(settings)?)
        .await
        .context("opening the health check's connection")
}

/// The relay's marking connection: one sqlx connection, in a pool of one so it can be borrowed
/// by a transaction. Its busy timeout is zero: the relay retries taking the write lock itself,
/// every millisecond, because SQLite's busy handler sleeps up to 100 ms between tries, which
/// against an API committing hundreds of times a second showed up as 100–250 ms publish-lag
/// spikes.
///
/// It commits with `synchronous=NORMAL` whatever the settings say: a mark needs no fsync of
/// its own (in WAL mode the API writer's next `FULL` commit, or a checkpoint, syncs the WAL
/// with the mark in it), and a mark lost to a power cut only leaves a published batch
/// unmarked, which the relay reconciles with the broker at start (`docs/relay.md`). Without
/// the fsync the mark holds the write lock, which the API's writer waits for, for
/// microseconds instead of milliseconds.
pub async fn open_marker(settings: &DatabaseSettings) -> anyhow::Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(
            connect_options(settings)?
                .busy_timeout(Duration::ZERO)
                .synchronous(SqliteSynchronous::Normal),
        )
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
    // SQLite's default page cache is 2 MiB. A reservation touches a dozen B-trees (stock,
    // reservations and events with their indexes, the counters); spread over many products
    // and stores their pages no longer fit, and every miss is a `pread` of the WAL or the
    // database file on the one thread every write waits for (perf: as much kernel time as
    // SQLite's own CPU on that thread; docs/performance.md). The writer keeps its pages.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
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
