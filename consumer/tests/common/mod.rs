//! Test harness: private brokers on free ports, the API, relay and consumer as real
//! processes (killed by PID on drop), a random workload through the API's HTTP routes, and
//! the comparison of the consumer's projection with the API's stock rows.
#![allow(dead_code)]

pub mod brokers;
mod workload;

// Each test binary uses a different part of the harness.
#[allow(unused_imports)]
pub use workload::{Rng, random_workload};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const KEY: &str = "dev-key-change-me";

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A workspace binary next to this test's (`target/<profile>/<name>`); `cargo test
/// --workspace` builds them all. For `cargo test -p inventory-consumer`, run `cargo build
/// --bins` first.
pub fn workspace_bin(name: &str) -> PathBuf {
    if name == "inventory-consumer" {
        return PathBuf::from(env!("CARGO_BIN_EXE_inventory-consumer"));
    }
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --bins`)",
        path.display()
    );
    path
}

/// Polls `check` every 20 ms until it holds or `timeout` passes (then panics naming `what`).
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A child process killed by PID on drop; its output goes to a log file in `dir`.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
        dir: &Path,
    ) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{name}.log")))
            .expect("log file");
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(dir)
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Self {
            name: name.to_owned(),
            child,
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The API as a process on its own port and database.
pub struct Api {
    pub proc: Proc,
    pub base: String,
    /// The SQLite file (`dir/inventory.db`); unused when the API runs on PostgreSQL.
    pub db: PathBuf,
    /// What the API's (and its relays') `DATABASE_URL` says: `db`'s path, or `postgres://…`.
    pub database_url: String,
    pub client: reqwest::Client,
}

impl Api {
    /// The API on an SQLite file in `dir`.
    pub async fn start(dir: &Path) -> Self {
        let db = dir.join("inventory.db");
        Self::start_on(dir, &db.display().to_string()).await
    }

    /// The API on `database_url` (a path, or `postgres://…`), its log in `dir`. The methods
    /// that read the SQLite file directly ([`Api::stock`], [`Api::pending`],
    /// [`Api::event_count`]) work only on SQLite; the HTTP ones ([`Api::stats`],
    /// [`Api::events`], [`Api::stock_over_http`]) on both.
    pub async fn start_on(dir: &Path, database_url: &str) -> Self {
        let port = free_port();
        let db = dir.join("inventory.db");
        let env = [
            ("DATABASE_URL", database_url.to_owned()),
            ("SERVER_HOST", "127.0.0.1".to_owned()),
            ("SERVER_PORT", port.to_string()),
            ("RESERVATION_EXPIRY_INTERVAL", "200ms".to_owned()),
            ("SQLITE_SYNCHRONOUS", "normal".to_owned()),
        ];
        let proc = Proc::spawn("api", &workspace_bin("inventory-api"), &[], &env, dir);
        let api = Self {
            proc,
            base: format!("http://127.0.0.1:{port}"),
            db,
            database_url: database_url.to_owned(),
            client: reqwest::Client::new(),
        };
        let url = format!("{}/health", api.base);
        wait_until(Duration::from_secs(30), "the API answers", || {
            let (client, url) = (api.client.clone(), url.clone());
            async move { client.get(&url).send().await.is_ok() }
        })
        .await;
        api
    }

    /// Sends a request; returns (status, body).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .header("X-API-Key", KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API request");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// `GET path`, which must answer 200; its body.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `GET /events/stats`: the outbox's `total`, `pending`, `synced`, `dead`.
    pub async fn stats(&self) -> Value {
        self.get("/events/stats").await
    }

    /// The whole audit log (`GET /events`), in `seq` order.
    pub async fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!("/events?after_seq={after}&limit=1000"))
                .await;
            all.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next_after_seq"].as_i64() {
                Some(next) => after = next,
                None => return all,
            }
        }
    }

    /// Every product id (`GET /products`, page by page).
    pub async fn product_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/products?limit=200&cursor={c}"),
                None => "/products?limit=200".to_owned(),
            };
            let page = self.get(&path).await;
            for product in page["data"].as_array().expect("data") {
                ids.push(product["id"].as_str().expect("id").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// Every stock row as the API serves it (`GET /stock/product/{id}` for every product),
    /// keyed like [`stock_table`]: (quantity, reserved, version). On either engine.
    pub async fn stock_over_http(&self) -> BTreeMap<(String, String), (i64, i64, i64)> {
        let mut rows = BTreeMap::new();
        for product in self.product_ids().await {
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/stock/product/{product}?limit=1000&cursor={c}"),
                    None => format!("/stock/product/{product}?limit=1000"),
                };
                let page = self.get(&path).await;
                for row in page["stores"].as_array().expect("stores") {
                    let number = |k: &str| row[k].as_i64().expect("a number");
                    assert_eq!(number("available"), number("quantity") - number("reserved"));
                    rows.insert(
                        (
                            product.clone(),
                            row["store_id"].as_str().expect("store").to_owned(),
                        ),
                        (number("quantity"), number("reserved"), number("version")),
                    );
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
        }
        rows
    }

    /// Every stock row of the API's database, keyed by (product, store):
    /// (quantity, reserved, version).
    pub fn stock(&self) -> BTreeMap<(String, String), (i64, i64, i64)> {
        stock_table(&self.db)
    }

    /// Number of events in the API's outbox.
    pub fn event_count(&self) -> i64 {
        let conn = inventory_shared::db::open_reader(&self.db).expect("open API db");
        conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count")
    }

    /// Number of events not yet published.
    pub fn pending(&self) -> i64 {
        let conn = inventory_shared::db::open_reader(&self.db).expect("open API db");
        conn.query_row(
            "SELECT COUNT(*) FROM events WHERE synced_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count")
    }
}

/// The `stock` table of an inventory database.
pub fn stock_table(db: &Path) -> BTreeMap<(String, String), (i64, i64, i64)> {
    let conn = inventory_shared::db::open_reader(db).expect("open API db");
    let mut statement = conn
        .prepare("SELECT product_id, store_id, quantity, reserved, version FROM stock")
        .expect("prepare");
    statement
        .query_map([], |r| {
            Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?, r.get(4)?)))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// The consumer's projection, keyed like [`stock_table`]; empty when the file does not exist.
pub fn projection(path: &Path) -> BTreeMap<(String, String), (i64, i64, i64)> {
    if !path.exists() {
        return BTreeMap::new();
    }
    let Ok(reader) = inventory_consumer::projection::Reader::open(path) else {
        return BTreeMap::new();
    };
    reader
        .all()
        .unwrap_or_default()
        .into_iter()
        .map(|(p, r)| ((p, r.store_id), (r.quantity, r.reserved, r.version)))
        .collect()
}

/// Inbox rows of the projection: (all, distinct event ids).
pub fn inbox_count(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("open projection");
    conn.query_row("SELECT COUNT(*) FROM inbox", [], |r| r.get(0))
        .expect("count")
}

/// Waits until the projection equals the API's stock table and every projection row equals
/// `GET /api/v1/stock/{p}/{s}` (retrying while the API still changes, e.g. expiries).
pub async fn assert_converges(api: &Api, projection_path: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let expected = api.stock();
        let got = projection(projection_path);
        if expected == got && api.pending() == 0 && rows_match_the_api(api, projection_path).await {
            return;
        }
        if Instant::now() > deadline {
            let differing: Vec<_> = expected
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(*v))
                .take(5)
                .map(|(k, v)| (k.clone(), *v, got.get(k).copied()))
                .collect();
            panic!(
                "the projection did not converge: {} rows expected, {} present; first differences \
                 (key, API, consumer): {differing:?}",
                expected.len(),
                got.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether every projection row equals the API's answer for it.
async fn rows_match_the_api(api: &Api, projection_path: &Path) -> bool {
    let reader = inventory_consumer::projection::Reader::open(projection_path).expect("reader");
    for (product, row) in reader.all().expect("rows") {
        let (status, body) = api
            .send(
                reqwest::Method::GET,
                &format!("/stock/{product}/{}", row.store_id),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let same = body["quantity"] == row.quantity
            && body["reserved"] == row.reserved
            && body["available"] == row.available
            && body["version"] == row.version;
        if !same {
            return false;
        }
    }
    true
}

/// The consumer binary with its own projection and HTTP port.
pub struct ConsumerProc {
    pub proc: Proc,
    pub port: u16,
}

impl ConsumerProc {
    pub fn spawn(dir: &Path, name: &str, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut all: Vec<(&str, String)> = vec![
            ("CONSUMER_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("CONSUMER_NAME", name.to_owned()),
            ("CONSUMER_CLAIM_IDLE", "1s".to_owned()),
        ];
        all.extend(env.iter().cloned());
        let proc = Proc::spawn(name, &workspace_bin("inventory-consumer"), &[], &all, dir);
        Self { proc, port }
    }

    /// The read model as the consumer serves it (`GET /availability/{product}` for each of
    /// `products`; a product it has not seen has no rows), keyed like [`stock_table`].
    pub async fn rows_over_http(
        &self,
        products: &[String],
    ) -> BTreeMap<(String, String), (i64, i64, i64)> {
        let mut rows = BTreeMap::new();
        for product in products {
            let response = reqwest::get(format!(
                "http://127.0.0.1:{}/availability/{product}",
                self.port
            ))
            .await
            .expect("GET /availability");
            if response.status() == 404 {
                continue;
            }
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.expect("availability JSON");
            for row in body["stores"].as_array().expect("stores") {
                let number = |k: &str| row[k].as_i64().expect("a number");
                assert_eq!(number("available"), number("quantity") - number("reserved"));
                rows.insert(
                    (
                        product.clone(),
                        row["store_id"].as_str().expect("store").to_owned(),
                    ),
                    (number("quantity"), number("reserved"), number("version")),
                );
            }
        }
        rows
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }
}

/// The value of one series in a Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The relay binary.
pub fn spawn_relay(dir: &Path, api: &Api, env: &[(&str, String)]) -> Proc {
    let mut all: Vec<(&str, String)> = vec![
        ("DATABASE_URL", api.database_url.clone()),
        ("RELAY_HTTP_ADDR", "127.0.0.1:0".to_owned()),
    ];
    all.extend(env.iter().cloned());
    Proc::spawn("relay", &workspace_bin("inventory-relay"), &[], &all, dir)
}
