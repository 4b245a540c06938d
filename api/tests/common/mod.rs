//! The test harness: [`spawn_app`] starts the real API on port 0 over a fresh database, and
//! hands back a client, the key, and a pool of its own on the same database ([`TestDb`]) so
//! tests can assert the rows and events a request wrote (or did not write).
//!
//! One harness, two backends: `INVENTORY_TEST_BACKEND=sqlite` (the default) gives each app a
//! SQLite file in a temporary folder; `INVENTORY_TEST_BACKEND=postgres` gives each app a fresh
//! database on a private PostgreSQL server, one per test process, started on first use and
//! stopped by a watchdog when the process ends ([`PgServer::stop_when_process_exits`]). Tests
//! write their SQL once, with `?` placeholders, and read it through [`TestDb`], which answers
//! the same values on both (ids and instants as the text SQLite stores). A test that checks
//! something only SQLite has starts with [`sqlite_only`].
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use inventory_api::Application;
use inventory_api::config::Settings;
use inventory_shared::config::{Engine, Synchronous};
use inventory_shared::test_support::PgServer;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Row, TypeInfo, ValueRef};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The development key, accepted on a loopback listener when `API_KEYS` is unset.
pub const DEV_KEY: &str = "dev-key-change-me";

/// Longest a single request may take before the test fails (generous: 2 loaded cores).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The variable that picks the backend the suite runs on.
pub const BACKEND_VAR: &str = "INVENTORY_TEST_BACKEND";

/// The database the suite runs the API on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file per app (the default).
    Sqlite,
    /// A database per app on the process's private PostgreSQL server.
    Postgres,
}

/// The backend `INVENTORY_TEST_BACKEND` names (`sqlite` when unset; anything else than
/// `sqlite` or `postgres` fails the test rather than silently running SQLite).
pub fn backend() -> Backend {
    match std::env::var(BACKEND_VAR).as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres" | "postgresql") => Backend::Postgres,
        other => panic!("{BACKEND_VAR}={other:?}: expected `sqlite` or `postgres`"),
    }
}

/// The guard of a test that checks something only SQLite has: `true` on SQLite; on
/// PostgreSQL it prints `SQLite-only: <reason>` and answers `false`, and the test returns.
///
/// ```ignore
/// if !common::sqlite_only("PRAGMA integrity_check of the backup file") {
///     return;
/// }
/// ```
pub fn sqlite_only(reason: &str) -> bool {
    match backend() {
        Backend::Sqlite => true,
        Backend::Postgres => {
            eprintln!("SQLite-only: {reason}; not run on PostgreSQL");
            false
        }
    }
}

/// The process's private PostgreSQL server (started on first use, stopped by its watchdog
/// when the process ends: a `static` is never dropped).
fn pg_server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        // No fsync: these tests check behaviour, never what survives a crash.
        let mut server =
            PgServer::start_without_fsync().expect("a private PostgreSQL server for the tests");
        server
            .stop_when_process_exits()
            .expect("a watchdog for the test server");
        server
    })
}

/// A new, empty database for an app of the current backend, as the value `DATABASE_URL`
/// takes: a SQLite file in `dir` (`inventory.db`), or a fresh database on the private server.
pub async fn new_database_url(dir: &Path) -> String {
    match backend() {
        Backend::Sqlite => dir.join("inventory.db").display().to_string(),
        Backend::Postgres => pg_server()
            .create_database()
            .await
            .expect("a fresh PostgreSQL database"),
    }
}

/// A value bound to a `?` of a [`TestDb`] statement.
#[derive(Debug, Clone)]
pub enum Arg {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// An id the service made (a `uuid` column on PostgreSQL, text on SQLite): [`id`].
    Uuid(String),
    /// An instant (a `timestamptz` on PostgreSQL, the stored text on SQLite): [`at`].
    Instant(chrono::DateTime<chrono::Utc>),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

/// Binds a product, reservation, hold or event id: compared with a `uuid` column on
/// PostgreSQL (a text bind there is an error, not "no row").
pub fn id(value: &str) -> Arg {
    Arg::Uuid(value.to_owned())
}

/// Binds an instant, to compare with a timestamp column.
pub fn at(instant: chrono::DateTime<chrono::Utc>) -> Arg {
    Arg::Instant(instant)
}

/// One column of a row read through [`TestDb`], the same on both backends: a `uuid` reads as
/// its text, a `timestamptz` as the fixed-width RFC 3339 text SQLite stores
/// (`inventory_shared::time::to_db`).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// An integer (a boolean reads as 0 or 1).
    Int(i64),
    /// A float.
    Real(f64),
    /// Text (ids and instants included).
    Text(String),
    /// Bytes (a BLOB, a `bytea`).
    Blob(Vec<u8>),
}

/// A Rust value one [`Val`] converts to (panics, naming the value, when it does not fit).
pub trait FromVal: Sized {
    /// The conversion.
    fn from_val(value: Val) -> Self;
}

impl FromVal for Val {
    fn from_val(value: Val) -> Self {
        value
    }
}

impl FromVal for i64 {
    fn from_val(value: Val) -> Self {
        match value {
            Val::Int(n) => n,
            other => panic!("expected an integer, read {other:?}"),
        }
    }
}

impl FromVal for f64 {
    fn from_val(value: Val) -> Self {
        match value {
            Val::Real(x) => x,
            Val::Int(n) => n as f64,
            other => panic!("expected a number, read {other:?}"),
        }
    }
}

impl FromVal for String {
    fn from_val(value: Val) -> Self {
        match value {
            Val::Text(text) => text,
            other => panic!("expected text, read {other:?}"),
        }
    }
}

impl FromVal for Vec<u8> {
    fn from_val(value: Val) -> Self {
        match value {
            Val::Blob(bytes) => bytes,
            other => panic!("expected bytes, read {other:?}"),
        }
    }
}

impl<T: FromVal> FromVal for Option<T> {
    fn from_val(value: Val) -> Self {
        match value {
            Val::Null => None,
            other => Some(T::from_val(other)),
        }
    }
}

/// A row [`TestDb::query`] converts to: a tuple of [`FromVal`]s, one per column.
pub trait FromVals: Sized {
    /// The conversion (panics when the column count differs).
    fn from_vals(values: Vec<Val>) -> Self;
}

macro_rules! tuple_from_vals {
    ($n:literal; $($t:ident),+) => {
        impl<$($t: FromVal),+> FromVals for ($($t,)+) {
            fn from_vals(values: Vec<Val>) -> Self {
                assert_eq!(values.len(), $n, "columns read: {values:?}");
                let mut values = values.into_iter();
                ($($t::from_val(values.next().expect("a column")),)+)
            }
        }
    };
}
tuple_from_vals!(1; A);
tuple_from_vals!(2; A, B);
tuple_from_vals!(3; A, B, C);
tuple_from_vals!(4; A, B, C, D);
tuple_from_vals!(5; A, B, C, D, E);
tuple_from_vals!(6; A, B, C, D, E, F);
tuple_from_vals!(7; A, B, C, D, E, F, G);

/// The harness's own pool on an app's database (not the app's: tests must not depend on how
/// the app reads). For asserting rows, never for arranging state behind the app's back
/// (except where a test says so, e.g. marking events published as the relay would).
///
/// Statements are written once, in the SQL both backends share, with `?` placeholders
/// (turned into `$1`, `$2` … on PostgreSQL). Bind service-made ids with [`id`]; compare
/// instants as columns, not with text binds; cast a `SUM` to `BIGINT` (PostgreSQL sums
/// `bigint` into `numeric`).
#[derive(Debug, Clone)]
pub enum TestDb {
    /// A pool on the SQLite file.
    Sqlite(SqlitePool),
    /// A pool on the PostgreSQL database.
    Postgres(PgPool),
}

impl TestDb {
    /// Connects to the database `url` names (a value [`new_database_url`] gave), which must
    /// exist (an app created or migrated it).
    pub async fn connect(url: &str) -> Self {
        match Engine::parse(url).expect("a database URL") {
            Engine::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .busy_timeout(Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await
                    .expect("the harness's SQLite pool");
                Self::Sqlite(pool)
            }
            Engine::Postgres(url) => {
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    .connect(url.expose())
                    .await
                    .expect("the harness's PostgreSQL pool");
                Self::Postgres(pool)
            }
        }
    }

    /// The backend of this database.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool, for a test that [`sqlite_only`] guards (panics on PostgreSQL).
    pub fn sqlite(&self) -> &SqlitePool {
        match self {
            Self::Sqlite(pool) => pool,
            Self::Postgres(_) => {
                panic!("a SQLite-only test ran on PostgreSQL: guard it with sqlite_only")
            }
        }
    }

    /// Every row of a statement, as [`Val`]s.
    pub async fn rows(&self, sql: &str, args: &[Arg]) -> Vec<Vec<Val>> {
        match self {
            Self::Sqlite(pool) => {
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = match arg {
                        Arg::Int(n) => query.bind(*n),
                        Arg::Text(text) | Arg::Uuid(text) => query.bind(text.clone()),
                        Arg::Instant(at) => query.bind(inventory_shared::time::to_db(at)),
                    };
                }
                let rows = query
                    .fetch_all(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter().map(sqlite_vals).collect()
            }
            Self::Postgres(pool) => {
                let sql = numbered_placeholders(sql);
                let mut query = sqlx::query(&sql);
                for arg in args {
                    query = match arg {
                        Arg::Int(n) => query.bind(*n),
                        Arg::Text(text) => query.bind(text.clone()),
                        Arg::Uuid(text) => query.bind(
                            uuid::Uuid::parse_str(text)
                                .unwrap_or_else(|e| panic!("id {text:?} is not a UUID: {e}")),
                        ),
                        Arg::Instant(at) => query.bind(*at),
                    };
                }
                let rows = query
                    .fetch_all(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter().map(pg_vals).collect()
            }
        }
    }

    /// Every row, as tuples: `db.query::<(String, i64)>("SELECT …", &[])`.
    pub async fn query<T: FromVals>(&self, sql: &str, args: &[Arg]) -> Vec<T> {
        self.rows(sql, args)
            .await
            .into_iter()
            .map(T::from_vals)
            .collect()
    }

    /// The one row of a statement (panics on none or several).
    pub async fn one<T: FromVals>(&self, sql: &str, args: &[Arg]) -> T {
        let mut rows = self.query(sql, args).await;
        assert_eq!(rows.len(), 1, "{sql} reads one row");
        rows.remove(0)
    }

    /// The row of a statement, if any (panics on several).
    pub async fn optional<T: FromVals>(&self, sql: &str, args: &[Arg]) -> Option<T> {
        let mut rows = self.query(sql, args).await;
        assert!(rows.len() <= 1, "{sql} reads one row at most");
        rows.pop()
    }

    /// The first column of every row.
    pub async fn column<T: FromVal>(&self, sql: &str, args: &[Arg]) -> Vec<T> {
        self.query::<(T,)>(sql, args)
            .await
            .into_iter()
            .map(|(value,)| value)
            .collect()
    }

    /// The one value of a one-row, one-column statement (`SELECT COUNT(*) …`).
    pub async fn scalar<T: FromVal>(&self, sql: &str, args: &[Arg]) -> T {
        self.one::<(T,)>(sql, args).await.0
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    pub async fn execute(&self, sql: &str, args: &[Arg]) -> u64 {
        match self {
            Self::Sqlite(pool) => {
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = match arg {
                        Arg::Int(n) => query.bind(*n),
                        Arg::Text(text) | Arg::Uuid(text) => query.bind(text.clone()),
                        Arg::Instant(at) => query.bind(inventory_shared::time::to_db(at)),
                    };
                }
                query
                    .execute(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .rows_affected()
            }
            Self::Postgres(pool) => {
                let sql = numbered_placeholders(sql);
                let mut query = sqlx::query(&sql);
                for arg in args {
                    query = match arg {
                        Arg::Int(n) => query.bind(*n),
                        Arg::Text(text) => query.bind(text.clone()),
                        Arg::Uuid(text) => query.bind(
                            uuid::Uuid::parse_str(text)
                                .unwrap_or_else(|e| panic!("id {text:?} is not a UUID: {e}")),
                        ),
                        Arg::Instant(at) => query.bind(*at),
                    };
                }
                query
                    .execute(pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .rows_affected()
            }
        }
    }

    /// Makes the database unreachable for the app, as a dead database would be: on
    /// PostgreSQL it refuses new connections and ends the open ones (the harness's own pool
    /// included). On SQLite only the app's own pools can be closed: a test does that itself.
    pub async fn cut_off(&self) {
        let Self::Postgres(pool) = self else {
            panic!("cut_off is PostgreSQL's; on SQLite close the app's pools");
        };
        pool.close().await;
        // From the server's `postgres` database: a session cannot shut its own out.
        let options = pool.connect_options();
        let name = options
            .get_database()
            .expect("the app's database name")
            .to_owned();
        let mut admin = sqlx::PgConnection::connect_with(&(*options).clone().database("postgres"))
            .await
            .expect("an admin connection");
        // A name we made (letters, digits, `_`): nothing to quote.
        sqlx::raw_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
            .execute(&mut admin)
            .await
            .expect("refusing new connections");
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .execute(&mut admin)
            .await
            .expect("ending the open connections");
        admin.close().await.ok();
    }
}

/// `?` → `$1`, `$2` … outside quoted text and identifiers.
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut n, mut quote) = (0, None);
    for c in sql.chars() {
        match (c, quote) {
            ('\'' | '"', None) => {
                quote = Some(c);
                out.push(c);
            }
            (c, Some(q)) if c == q => {
                quote = None;
                out.push(c);
            }
            ('?', None) => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            _ => out.push(c),
        }
    }
    out
}

fn sqlite_vals(row: &sqlx::sqlite::SqliteRow) -> Vec<Val> {
    (0..row.columns().len())
        .map(|i| {
            let raw = row.try_get_raw(i).expect("a column");
            if raw.is_null() {
                return Val::Null;
            }
            let kind = raw.type_info().name().to_owned();
            match kind.as_str() {
                "INTEGER" | "BOOLEAN" => Val::Int(row.get(i)),
                "REAL" => Val::Real(row.get(i)),
                "TEXT" => Val::Text(row.get(i)),
                "BLOB" => Val::Blob(row.get(i)),
                other => panic!("column {i}: SQLite type {other} is not read by the harness"),
            }
        })
        .collect()
}

fn pg_vals(row: &sqlx::postgres::PgRow) -> Vec<Val> {
    (0..row.columns().len())
        .map(|i| {
            let raw = row.try_get_raw(i).expect("a column");
            if raw.is_null() {
                return Val::Null;
            }
            let kind = raw.type_info().name().to_owned();
            match kind.as_str() {
                "INT8" => Val::Int(row.get(i)),
                "INT4" => Val::Int(row.get::<i32, _>(i).into()),
                "INT2" => Val::Int(row.get::<i16, _>(i).into()),
                "BOOL" => Val::Int(row.get::<bool, _>(i).into()),
                "FLOAT8" => Val::Real(row.get(i)),
                "FLOAT4" => Val::Real(row.get::<f32, _>(i).into()),
                "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => Val::Text(row.get(i)),
                "BYTEA" => Val::Blob(row.get(i)),
                "UUID" => Val::Text(row.get::<uuid::Uuid, _>(i).to_string()),
                "TIMESTAMPTZ" => {
                    Val::Text(inventory_shared::time::to_db(&row.get::<chrono::DateTime<
                        chrono::Utc,
                    >, _>(
                        i
                    )))
                }
                "NUMERIC" => panic!(
                    "column {i} is NUMERIC on PostgreSQL (a SUM of bigint): CAST it AS BIGINT"
                ),
                other => panic!("column {i}: PostgreSQL type {other} is not read by the harness"),
            }
        })
        .collect()
}

/// A running API and what a test needs to talk to it and look at its database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Shared HTTP client.
    pub client: reqwest::Client,
    /// A key the app accepts.
    pub key: String,
    /// The harness's own pool on the app's database (see [`TestDb`]).
    pub db: TestDb,
    /// The app's state, for tests that drive a background task's pass directly (retention,
    /// expiry, backup) instead of waiting for its timer.
    pub state: inventory_api::state::AppState,
    /// The value of `DATABASE_URL` for this app's database (to start the binary on it).
    pub database_url: String,
    /// The SQLite file (on PostgreSQL: a path in the app's temporary folder that is never
    /// created; only SQLite-only tests read it).
    pub db_path: std::path::PathBuf,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Starts the API with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the API after `configure` adjusted the settings (expiry interval, keys ...), on a
/// fresh database of the current [`backend`].
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary folder for the database");
    let db_path = dir.path().join("inventory.db");
    let database_url = new_database_url(dir.path()).await;
    let mut settings = Settings::for_database(&db_path);
    settings.database.database_url = Some(Engine::parse(&database_url).expect("a database URL"));
    // Durability on power loss is not what these tests check; NORMAL keeps them fast.
    settings.database.sqlite_synchronous = Synchronous::Normal;
    // The expiry task is tested on its own (tests/expiry.rs); elsewhere it must not race the
    // test's own confirm of an overdue reservation, so it only ticks once at start.
    settings.reservation_expiry_interval = Duration::from_secs(3600);
    configure(&mut settings);
    let key = match &settings.api_keys {
        Some(keys) => keys
            .expose()
            .split(',')
            .next()
            .and_then(|entry| entry.split(':').next())
            .expect("the first configured key")
            .trim()
            .to_owned(),
        None => DEV_KEY.to_owned(),
    };
    // What `configure` left (a test that restarts an app names its own database).
    let engine = settings.database.engine();
    let (database_url, db_path) = match &engine {
        Engine::Sqlite(path) => (path.display().to_string(), path.clone()),
        Engine::Postgres(url) => (url.expose().to_owned(), db_path),
    };
    let app = Application::build(settings)
        .await
        .unwrap_or_else(|e| panic!("the application builds on {}: {e:#}", engine.name()));
    let base = format!("http://{}", app.local_addr());
    // After the build: the app created and migrated the database.
    let db = TestDb::connect(&database_url).await;
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("an HTTP client");
    TestApp {
        base,
        client,
        key,
        db,
        state,
        database_url,
        db_path,
        shutdown,
        task: Some(task),
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One answer: status, headers and the body (parsed when it is JSON, else `Value::Null`).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Parsed JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// Raw body text.
    pub text: String,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body field `name` as a string (panics with the body when absent).
    pub fn str(&self, name: &str) -> &str {
        self.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("field {name} is not a string in {}", self.body))
    }

    /// The body field `name` as an integer (panics with the body when absent).
    pub fn int(&self, name: &str) -> i64 {
        self.body[name]
            .as_i64()
            .unwrap_or_else(|| panic!("field {name} is not an integer in {}", self.body))
    }

    /// Asserts the status, with the body in the failure message.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status and code, and every mandatory member.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.text
        );
        assert_eq!(self.body["code"], json!(code), "code; body: {}", self.text);
        assert_eq!(
            self.body["status"],
            json!(status),
            "status member; body: {}",
            self.text
        );
        for member in ["type", "title", "detail"] {
            assert!(
                self.body[member].as_str().is_some_and(|s| !s.is_empty()),
                "problem member {member} missing in {}",
                self.text
            );
        }
        self
    }

    /// Asserts 400 VALIDATION_FAILED whose `errors[]` names exactly `fields` (any order).
    #[track_caller]
    pub fn expect_invalid_fields(&self, fields: &[&str]) -> &Self {
        self.expect_problem(400, "VALIDATION_FAILED");
        let mut named = self.error_fields();
        named.sort();
        let mut wanted: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        wanted.sort();
        assert_eq!(named, wanted, "errors[] fields; body: {}", self.text);
        for error in self.body["errors"].as_array().into_iter().flatten() {
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "every field error has a message: {}",
                self.text
            );
        }
        self
    }

    /// The `field` of every entry of `errors[]`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A stock row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockDbRow {
    /// Units on hand.
    pub quantity: i64,
    /// Units held.
    pub reserved: i64,
    /// Version.
    pub version: i64,
}

/// An event row as stored.
#[derive(Debug, Clone)]
pub struct EventDbRow {
    /// Global order.
    pub seq: i64,
    /// Type.
    pub event_type: String,
    /// `stock` or `reservation`.
    pub aggregate_type: String,
    /// Product or reservation id.
    pub aggregate_id: String,
    /// Store.
    pub store_id: Option<String>,
    /// Product id.
    pub partition_key: String,
    /// JSON text.
    pub payload: String,
}

impl EventDbRow {
    /// The payload as JSON.
    pub fn payload(&self) -> Value {
        serde_json::from_str(&self.payload).expect("stored payloads are JSON")
    }
}

/// Counts of every table, to prove a refused request wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Products.
    pub products: i64,
    /// Stock rows with their quantity, reserved and version.
    pub stock: Vec<(String, String, i64, i64, i64)>,
    /// Reservations with their status.
    pub reservations: Vec<(String, String)>,
    /// Events.
    pub events: i64,
}

impl TestApp {
    /// Stops the app and waits (bounded) for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let ended = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the app stops within 30 s")
                .expect("the app task does not panic");
            ended.expect("the app ends without error");
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the key (and a JSON body when given).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method"),
                self.url(path),
            )
            .header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// GET with the key.
    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    /// GET without any key.
    pub async fn get_public(&self, path: &str) -> Reply {
        send(self.client.get(self.url(path))).await
    }

    /// POST a JSON body with the key.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    /// POST with no body at all.
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.call("POST", path, None).await
    }

    /// PUT a JSON body with the key.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    /// DELETE with the key.
    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// Sends raw bytes as `application/json` (malformed JSON, huge bodies).
    pub async fn send_raw(&self, method: &str, path: &str, body: impl Into<Vec<u8>>) -> Reply {
        let request = self
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method"),
                self.url(path),
            )
            .header("x-api-key", &self.key)
            .header("content-type", "application/json")
            .body(body.into());
        send(request).await
    }

    /// Creates a product (201 asserted) and returns its body.
    pub async fn create_product(&self, sku: &str) -> Value {
        self.create_product_in(sku, "electronics").await
    }

    /// Creates a product of a category (201 asserted) and returns its body.
    pub async fn create_product_in(&self, sku: &str, category: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/products",
                json!({"sku": sku, "name": format!("Product {sku}"), "category": category, "price": 9.99}),
            )
            .await;
        reply.expect_status(201);
        reply.body
    }

    /// Creates a product and returns its id.
    pub async fn product_id(&self, sku: &str) -> String {
        self.create_product(sku).await["id"]
            .as_str()
            .expect("product id")
            .to_owned()
    }

    /// Creates a stock row (201 asserted).
    pub async fn create_stock(&self, product_id: &str, store_id: &str, quantity: i64) -> Value {
        let reply = self
            .post(
                "/api/v1/stock",
                json!({"product_id": product_id, "store_id": store_id, "initial_quantity": quantity}),
            )
            .await;
        reply.expect_status(201);
        reply.body
    }

    /// Creates a product with stock in one store; returns the product id.
    pub async fn product_with_stock(&self, sku: &str, store_id: &str, quantity: i64) -> String {
        let id = self.product_id(sku).await;
        self.create_stock(&id, store_id, quantity).await;
        id
    }

    /// Reserves units (201 asserted); returns the reservation id.
    pub async fn reserve(
        &self,
        product_id: &str,
        store_id: &str,
        quantity: i64,
        ttl_seconds: Option<i64>,
    ) -> String {
        let mut body = json!({
            "product_id": product_id,
            "store_id": store_id,
            "customer_id": "customer-1",
            "quantity": quantity,
        });
        if let Some(ttl) = ttl_seconds {
            body["ttl_seconds"] = json!(ttl);
        }
        let reply = self.post("/api/v1/reservations", body).await;
        reply.expect_status(201);
        reply.str("id").to_owned()
    }

    /// The backend this app runs on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The stored stock row, if any.
    pub async fn stock_row(&self, product_id: &str, store_id: &str) -> Option<StockDbRow> {
        self.db
            .optional::<(i64, i64, i64)>(
                "SELECT quantity, reserved, version FROM stock WHERE product_id = ? AND store_id = ?",
                &[id(product_id), store_id.into()],
            )
            .await
            .map(|(quantity, reserved, version)| StockDbRow {
                quantity,
                reserved,
                version,
            })
    }

    /// The stored stock row (panics when missing).
    pub async fn stock(&self, product_id: &str, store_id: &str) -> StockDbRow {
        self.stock_row(product_id, store_id)
            .await
            .unwrap_or_else(|| panic!("no stock row for {product_id} in {store_id}"))
    }

    /// The stored status of a reservation.
    pub async fn reservation_status(&self, reservation_id: &str) -> String {
        self.db
            .scalar(
                "SELECT status FROM reservations WHERE id = ?",
                &[id(reservation_id)],
            )
            .await
    }

    /// Number of event rows.
    pub async fn event_count(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM events").await
    }

    /// Number of event rows of one type.
    pub async fn event_count_of(&self, event_type: &str) -> i64 {
        self.db
            .scalar(
                "SELECT COUNT(*) FROM events WHERE event_type = ?",
                &[event_type.into()],
            )
            .await
    }

    /// Runs a one-value statement without binds (`SELECT COUNT(*) …`; a `SUM` cast to BIGINT).
    pub async fn count(&self, sql: &str) -> i64 {
        self.db.scalar(sql, &[]).await
    }

    /// Every event, in seq order.
    pub async fn events(&self) -> Vec<EventDbRow> {
        self.db
            .query::<(i64, String, String, String, Option<String>, String, String)>(
                "SELECT seq, event_type, aggregate_type, aggregate_id, store_id, partition_key, \
                 payload FROM events ORDER BY seq",
                &[],
            )
            .await
            .into_iter()
            .map(
                |(
                    seq,
                    event_type,
                    aggregate_type,
                    aggregate_id,
                    store_id,
                    partition_key,
                    payload,
                )| {
                    EventDbRow {
                        seq,
                        event_type,
                        aggregate_type,
                        aggregate_id,
                        store_id,
                        partition_key,
                        payload,
                    }
                },
            )
            .collect()
    }

    /// The newest event (panics when there is none).
    pub async fn last_event(&self) -> EventDbRow {
        self.events().await.pop().expect("at least one event")
    }

    /// Every table at once, to compare before and after a refused request.
    pub async fn snapshot(&self) -> Snapshot {
        Snapshot {
            products: self.count("SELECT COUNT(*) FROM products").await,
            stock: self
                .db
                .query(
                    "SELECT product_id, store_id, quantity, reserved, version FROM stock \
                     ORDER BY product_id, store_id",
                    &[],
                )
                .await,
            reservations: self
                .db
                .query("SELECT id, status FROM reservations ORDER BY id", &[])
                .await,
            events: self.event_count().await,
        }
    }
}

/// Sends a request and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the request gets an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("the body can be read");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the wall clock is past an RFC 3339 instant (a reservation's `expires_at`).
pub async fn wait_until_past(rfc3339: &str) {
    let deadline = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 instant")
        .with_timezone(&chrono::Utc);
    eventually(Duration::from_secs(30), "the deadline to pass", || async {
        (chrono::Utc::now() > deadline + chrono::Duration::milliseconds(20)).then_some(())
    })
    .await;
}

/// Parses an RFC 3339 instant.
pub fn instant(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}
