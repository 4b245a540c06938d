//! Test harness: a private `redis-server` per test, a temp database, event writers, stream
//! readers, a relay running in-process, and the relay binary as a child process.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test file uses a different part of the harness"
)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use inventory_relay::publisher::Publisher;
use inventory_relay::{Relay, Settings};
use inventory_shared::config::DatabaseSettings;
use inventory_shared::events::{
    NewEvent, ReservationCreated, StockCreated, StockTransferred, StockUpdated,
};
use inventory_shared::outbox;
use inventory_shared::time;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod backend;
mod db;
mod pg;
mod redis_server;
pub use backend::{TestBackend, WriteLock};
pub use db::{Pools, append_in_one_tx};
pub use pg::PgTestDb;
pub use redis_server::RedisServer;

/// Stream name the tests publish to.
pub const STREAM: &str = "inventory-events";

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A temp database with the schema applied.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub db: Pools,
}

impl TestDb {
    /// A fresh database file in a temp dir.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the database");
        let db = Pools::open(&dir.path().join("inventory.db")).await;
        Self { dir, db }
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("inventory.db")
    }

    /// Appends `count` events, `per_tx` per `BEGIN IMMEDIATE` transaction, the way the API
    /// does; returns their seqs.
    pub async fn append(&self, count: usize, per_tx: usize) -> Vec<i64> {
        let mut seqs = Vec::with_capacity(count);
        let mut i = 0;
        while i < count {
            let n = per_tx.max(1).min(count - i);
            seqs.extend(append_in_one_tx(&self.path(), (i..i + n).map(sample_event)));
            i += n;
        }
        seqs
    }

    /// `(published, pending, dead)` counts.
    pub async fn counts(&self) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT COALESCE(SUM(synced_at IS NOT NULL), 0), \
             COALESCE(SUM(synced_at IS NULL AND dead_at IS NULL), 0), \
             COALESCE(SUM(dead_at IS NOT NULL), 0) FROM events",
        )
        .fetch_one(&self.db.reader)
        .await
        .expect("count events")
    }

    /// Seqs marked published, in order.
    pub async fn published_seqs(&self) -> Vec<i64> {
        sqlx::query_scalar("SELECT seq FROM events WHERE synced_at IS NOT NULL ORDER BY seq")
            .fetch_all(&self.db.reader)
            .await
            .expect("published seqs")
    }
}

/// Event number `i` of a test: a mix of event types over a few products and stores.
pub fn sample_event(i: usize) -> NewEvent {
    let product_id = format!("prod-{:04}", i % 37);
    let store_id = ["MAD-001", "BCN-001", "VAL-001"][i % 3].to_owned();
    let n = i as i64;
    match i % 4 {
        0 => NewEvent::StockCreated(StockCreated {
            product_id,
            store_id,
            quantity: n,
            reason: "initial_stock".into(),
            version: 1,
        }),
        1 => NewEvent::StockUpdated(StockUpdated {
            product_id,
            store_id,
            previous_quantity: n,
            new_quantity: n + 5,
            change: 5,
            reason: "restock".into(),
            reserved: 0,
            version: 2,
        }),
        2 => NewEvent::ReservationCreated(ReservationCreated {
            reservation_id: format!("res-{i}"),
            product_id,
            store_id,
            quantity: 1,
            customer_id: format!("cust-{i}"),
            expires_at: time::now(),
            version: 0,
            hold_id: None,
        }),
        _ => NewEvent::StockTransferred(StockTransferred {
            product_id,
            from_store: store_id,
            to_store: "SEV-001".into(),
            quantity: 2,
            reason: "transfer".into(),
            from_new_quantity: n,
            to_new_quantity: 2,
            from_version: 3,
            to_version: 1,
            to_created: false,
        }),
    }
}

/// Relay settings for tests: the given database and Redis, an ephemeral HTTP port, short
/// intervals. `extra` are more `--flag value` pairs (one of the defaults given again replaces
/// it).
pub fn settings(db: &Path, redis_port: u16, extra: &[&str]) -> Settings {
    settings_for(&db.display().to_string(), redis_port, extra)
}

/// [`settings`] for any `DATABASE_URL` (a path or a `postgres://` URL).
pub fn settings_for(database_url: &str, redis_port: u16, extra: &[&str]) -> Settings {
    let mut args: Vec<String> = [
        "inventory-relay",
        "--database-url",
        database_url,
        "--redis-url",
        &format!("redis://127.0.0.1:{redis_port}"),
        "--relay-http-addr",
        "127.0.0.1:0",
        "--relay-poll-interval",
        "1s",
        "--relay-backoff-initial",
        "20ms",
        "--relay-backoff-max",
        "200ms",
        "--redis-timeout",
        "1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A flag in `extra` that is also a default above replaces the default's value.
    let mut extra = extra.iter().map(|s| s.to_string()).peekable();
    while let Some(arg) = extra.next() {
        match args.iter().position(|a| *a == arg) {
            Some(at) if arg.starts_with("--") && extra.peek().is_some() => {
                args[at + 1] = extra.next().expect("peeked");
            }
            _ => args.push(arg),
        }
    }
    Settings::try_parse_from(args).expect("test settings parse")
}

/// A relay running in this process; cancelled on drop.
pub struct RunningRelay {
    pub addr: SocketAddr,
    pub token: CancellationToken,
    pub handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl RunningRelay {
    /// Builds (with the configured broker) and runs a relay.
    pub async fn start(settings: Settings) -> Self {
        Self::run(Relay::build(settings).await.expect("build relay")).await
    }

    /// Builds a relay around `publisher` and runs it.
    pub async fn start_with(settings: Settings, publisher: Box<dyn Publisher>) -> Self {
        Self::run(
            Relay::build_with_publisher(settings, publisher)
                .await
                .expect("build relay"),
        )
        .await
    }

    async fn run(relay: Relay) -> Self {
        let addr = relay.local_http_addr();
        let token = CancellationToken::new();
        let handle = tokio::spawn(relay.run(token.clone()));
        Self {
            addr,
            token,
            handle: Some(handle),
        }
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `/metrics` as text.
    pub async fn metrics(&self) -> String {
        let response = reqwest::get(self.url("/metrics"))
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200);
        response.text().await.expect("metrics body")
    }

    /// GET `/health`: status code and JSON body.
    pub async fn health(&self) -> (u16, serde_json::Value) {
        let response = reqwest::get(self.url("/health"))
            .await
            .expect("GET /health");
        let status = response.status().as_u16();
        (status, response.json().await.expect("health JSON"))
    }

    /// Cancels and waits for a clean stop.
    pub async fn stop(mut self) {
        self.token.cancel();
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), handle)
                .await
                .expect("relay stops within 15 s")
                .expect("relay task joins")
                .expect("relay stops cleanly");
        }
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// The value of an unlabelled (or fully labelled, e.g. `name{label="x"}`) sample in a
/// Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Polls `check` every 20 ms until it returns true; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The relay binary as a child process; SIGKILLed on drop if still running.
pub struct RelayProcess {
    pub child: Child,
}

impl RelayProcess {
    /// Starts `inventory-relay` with `env` (plus a quiet log level) in `dir`.
    pub fn spawn(dir: &Path, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_inventory-relay"));
        command
            .current_dir(dir)
            .env("LOG_LEVEL", "warn")
            .env("RELAY_HTTP_ADDR", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        Self {
            child: command.spawn().expect("start the relay binary"),
        }
    }

    /// Sends `signal` (`KILL`, `TERM`) to the process by PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `timeout` for the process to exit; its exit status, or `None`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A shared list the test doubles record into.
pub type Sent = Arc<std::sync::Mutex<Vec<i64>>>;
