//! Test harness: private brokers on free ports, the API, relay and consumer as real
//! processes (killed by PID on drop), a random workload through the API's HTTP routes, and
//! the comparison of the consumer's projection with the API's stock rows.
#![allow(dead_code)]

mod api;
pub mod brokers;
pub mod relay;
mod workload;

pub use api::Api;
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

    /// Sends `SIGname` (`STOP`, `CONT`, …) by PID.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {}", self.name);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Adds the `stores` of an answer about `product` (the API's stock page, the consumer's
/// availability) to `rows`, keyed like [`stock_table`]; checks each row's `available`.
pub fn add_store_rows(
    rows: &mut BTreeMap<(String, String), (i64, i64, i64)>,
    product: &str,
    answer: &Value,
) {
    for row in answer["stores"].as_array().expect("stores") {
        let number = |k: &str| row[k].as_i64().expect("a number");
        assert_eq!(number("available"), number("quantity") - number("reserved"));
        rows.insert(
            (
                product.to_owned(),
                row["store_id"].as_str().expect("store").to_owned(),
            ),
            (number("quantity"), number("reserved"), number("version")),
        );
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
            add_store_rows(&mut rows, product, &body);
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
