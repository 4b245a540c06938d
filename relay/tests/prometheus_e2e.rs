//! End to end with a real Prometheus (the `prometheus` binary on PATH): it scrapes a real API
//! and a real relay (publishing to a private `redis-server`) every second, with the shipped
//! `prometheus.yml` (targets pointed at the test's ports) and the shipped rule files (the
//! alerts' `for:` shortened to a few seconds). While traffic flows:
//! - both targets are up;
//! - every PromQL expression of `deploy/grafana/dashboards/inventory.json` returns data;
//! - with Redis stopped, `RelayBrokerDown` becomes firing; with Redis back, it resolves.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{RedisServer, RunningRelay, free_port, settings, wait_until};
use inventory_api::{Application, config::Settings as ApiSettings};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const KEY: &str = "dev-key-change-me";

/// `$__rate_interval` as Grafana would pick it for a 1 s scrape interval on a short range.
const RATE_INTERVAL: &str = "30s";

/// A private Prometheus on a free port and a temp dir, killed (by PID) on drop.
struct Prometheus {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus on `config` (written to a temp dir with the rule files) and waits
    /// until it is ready. Fails the test when `prometheus` is not on PATH.
    async fn start(config: &str, rules: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for prometheus");
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        for (name, text) in rules {
            std::fs::write(dir.path().join(name), text).expect("write rules");
        }
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `prometheus` ({e}); this test needs it on PATH \
                     (e.g. `apt-get install prometheus`)"
                )
            });
        let prometheus = Self {
            port,
            child,
            _dir: dir,
        };
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        wait_until(Duration::from_secs(30), "prometheus ready", || async {
            reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        prometheus
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .query(query)
            .send()
            .await
            .expect("prometheus answers");
        let body: Value = response.json().await.expect("prometheus JSON");
        assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
        body["data"].clone()
    }

    /// The instant query's result vector.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.get("/api/v1/query", &[("query", expr)]).await;
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// `state` of the alert `name` (`pending`, `firing`), `None` when inactive.
    async fn alert_state(&self, name: &str) -> Option<String> {
        let data = self.get("/api/v1/alerts", &[]).await;
        data["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .map(|a| a["state"].as_str().unwrap_or_default().to_owned())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// `text` with `from` replaced by `to`; fails when `from` is absent (the shipped file changed).
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "expected {from:?} in the shipped file");
    text.replace(from, to)
}

/// The shipped alerts with every `for:` cut to 3 s, so they fire within the test.
fn fast_alerts() -> String {
    let text = read("deploy/prometheus/alerts.yml");
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 3s", &line[..line.len() - line.trim_start().len()]),
            None => line.to_owned(),
        })
        .collect();
    assert!(lines.iter().any(|l| l.ends_with("for: 3s")));
    lines.join("\n") + "\n"
}

/// Every `targets[].expr` of the dashboard, with Grafana's variables filled in.
fn dashboard_exprs() -> Vec<(String, String)> {
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/inventory.json")).expect("JSON");
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            out.push((
                panel["title"].as_str().unwrap_or_default().to_owned(),
                expr.replace("$__rate_interval", RATE_INTERVAL),
            ));
        }
    }
    out
}

/// Writes a mix of everything the dashboard shows, until `stop`: products, stock, reservations
/// confirmed, cancelled, refused and left to expire (1 s TTL), reads and a 404.
async fn drive_traffic(base: String, stop: CancellationToken) {
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("X-API-Key", KEY)
            .json(&body)
            .send()
    };
    let mut round = 0u32;
    while !stop.is_cancelled() {
        round += 1;
        let product: Value = match post(
            "/products".into(),
            json!({"sku": format!("E2E-{round}"), "name": "Prometheus e2e", "price": 1.5}),
        )
        .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => break,
        };
        let Some(id) = product["id"].as_str().map(str::to_owned) else {
            break;
        };
        let stock = json!({"product_id": id, "store_id": "MAD-001", "initial_quantity": 10});
        let _ = post("/stock".into(), stock).await;
        let reserve = |ttl: u32, quantity: u32| {
            post(
                "/reservations".into(),
                json!({"product_id": id, "store_id": "MAD-001", "customer_id": "c",
                       "quantity": quantity, "ttl_seconds": ttl}),
            )
        };
        let confirm = body(reserve(600, 1).await).await;
        let cancel = body(reserve(600, 1).await).await;
        let _ = reserve(1, 1).await; // expires a second later
        let _ = reserve(600, 1000).await; // 409 INSUFFICIENT_STOCK
        for (reservation, action) in [(&confirm, "confirm"), (&cancel, "cancel")] {
            if let Some(rid) = reservation["id"].as_str() {
                let _ = post(format!("/reservations/{rid}/{action}"), json!({})).await;
            }
        }
        let _ = client
            .get(format!("{base}/stock/{id}/MAD-001"))
            .header("X-API-Key", KEY)
            .send()
            .await;
        let _ = client
            .get(format!("{base}/products/no-such-product"))
            .header("X-API-Key", KEY)
            .send()
            .await;
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn body(response: reqwest::Result<reqwest::Response>) -> Value {
    match response {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_both_fills_every_panel_and_pages_when_the_broker_is_down() {
    let started = Instant::now();
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("inventory.db");
    let api = Application::build(ApiSettings::for_database(&db_path))
        .await
        .expect("API builds");
    let api_addr = api.local_addr();
    let stop_api = CancellationToken::new();
    let api_task = tokio::spawn(api.run(stop_api.clone()));
    let relay = RunningRelay::start(settings(&db_path, redis.port, &[])).await;

    let config = read("deploy/prometheus/prometheus.yml");
    let config = replaced(&config, "\"api:8080\"", &format!("\"{api_addr}\""));
    let config = replaced(&config, "\"relay:9091\"", &format!("\"{}\"", relay.addr));
    let config = replaced(&config, "scrape_interval: 15s", "scrape_interval: 1s");
    let config = replaced(
        &config,
        "evaluation_interval: 15s",
        "evaluation_interval: 1s",
    );
    let config = replaced(&config, "scrape_timeout: 5s", "scrape_timeout: 1s");
    let prometheus = Prometheus::start(
        &config,
        &[
            (
                "recording_rules.yml",
                read("deploy/prometheus/recording_rules.yml"),
            ),
            ("alerts.yml", fast_alerts()),
        ],
    )
    .await;

    let stop_traffic = CancellationToken::new();
    let traffic = tokio::spawn(drive_traffic(
        format!("http://{api_addr}/api/v1"),
        stop_traffic.clone(),
    ));

    // Both targets up.
    wait_until(Duration::from_secs(20), "both targets up", || async {
        let up = prometheus.query("up{job=~\"api|relay\"} == 1").await;
        up.len() == 2
    })
    .await;
    let targets = prometheus.get("/api/v1/targets", &[]).await;
    let active = targets["activeTargets"].as_array().expect("targets");
    let mut jobs: Vec<&str> = active
        .iter()
        .map(|t| t["labels"]["job"].as_str().unwrap_or_default())
        .collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["api", "relay"]);
    assert!(active.iter().all(|t| t["health"] == "up"), "{targets}");

    // Every dashboard expression returns data (retried while rates and rules warm up).
    let exprs = dashboard_exprs();
    assert!(exprs.len() > 20, "{} expressions", exprs.len());
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut missing;
    loop {
        missing = Vec::new();
        for (title, expr) in &exprs {
            if prometheus.query(expr).await.is_empty() {
                missing.push(format!("{title}: {expr}"));
            }
        }
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        missing.is_empty(),
        "dashboard expressions without data:\n{}",
        missing.join("\n")
    );
    // And the new metrics carry real numbers, not just zeros.
    wait_until(
        Duration::from_secs(20),
        "an expired reservation",
        || async {
            !prometheus
                .query("reservation_expiry_lag_seconds_count{job=\"api\"} > 0")
                .await
                .is_empty()
        },
    )
    .await;
    for expr in [
        "db_write_batch_size_count{job=\"api\"} > 0",
        "db_commit_duration_seconds_sum{job=\"api\"} > 0",
        "sum(relay_events_published_total{job=\"relay\"}) > 0",
        "process_resident_memory_bytes{job=\"api\"} > 1e6",
        "process_resident_memory_bytes{job=\"relay\"} > 1e6",
        "process_start_time_seconds{job=\"relay\"} > 1.7e9",
        "inventory_build_info{job=\"api\"} == 1",
        "inventory_build_info{job=\"relay\"} == 1",
        "relay_stuck{job=\"relay\"} == 0",
    ] {
        assert_eq!(prometheus.query(expr).await.len(), 1, "{expr}");
    }
    assert_eq!(prometheus.alert_state("RelayBrokerDown").await, None);
    for name in ["InventoryApiDown", "InventoryRelayDown", "ApiHighErrorRate"] {
        assert_eq!(prometheus.alert_state(name).await, None, "{name}");
    }
    let data_ready = started.elapsed();

    // The broker goes away: the alert fires (for: 3 s in the test copy; 1 m shipped).
    redis.stop();
    wait_until(
        Duration::from_secs(30),
        "RelayBrokerDown firing",
        || async { prometheus.alert_state("RelayBrokerDown").await.as_deref() == Some("firing") },
    )
    .await;
    let down = prometheus.query("relay_broker_up == 0").await;
    assert_eq!(down.len(), 1, "{down:?}");

    // It comes back: the alert resolves.
    redis.restart().await;
    wait_until(
        Duration::from_secs(30),
        "RelayBrokerDown resolved",
        || async { prometheus.alert_state("RelayBrokerDown").await.is_none() },
    )
    .await;
    assert_eq!(prometheus.query("relay_broker_up == 1").await.len(), 1);

    stop_traffic.cancel();
    traffic.await.expect("traffic task");
    relay.stop().await;
    stop_api.cancel();
    api_task
        .await
        .expect("API task joins")
        .expect("API stops cleanly");
    eprintln!(
        "prometheus e2e: every panel had data after {data_ready:?}, whole test {:?}",
        started.elapsed()
    );
}
