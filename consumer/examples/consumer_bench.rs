//! Consumer benchmark (run through `bench/consumer.sh`, release build):
//!
//! 1. apply rate: a 100,000-event history made by the API's operations is published by the
//!    relay into a private Redis stream; then a fresh consumer starts and the time until it
//!    applied the last `seq` gives events/s;
//! 2. end-to-end lag: API, relay and consumer processes; writes through the API's HTTP routes
//!    at a fixed rate; commit (`created_at`) to applied (`inbox.applied_us`) per event, p50/p99.
//!
//! Settings: `BENCH_EVENTS` (100000), `BENCH_RATE` writes/s (1000), `BENCH_SECONDS` (15).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inventory_api::domain::{Adjustment, PositiveQuantity, Quantity, Sku, StoreId};
use inventory_api::ops::{products, reservations, stock};
use inventory_api::store::sqlite::SqliteTx;
use inventory_shared::config::DatabaseSettings;
use inventory_shared::time;
use serde_json::json;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &Path, args: &[&str], env: &[(&str, String)], dir: &Path, log: &str) -> Guard {
    let file = std::fs::File::create(dir.join(log)).expect("log");
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file);
    Guard(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display())),
    )
}

fn redis(dir: &Path) -> (Guard, String) {
    let port = free_port();
    let guard = spawn(
        Path::new("redis-server"),
        &[
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        &[],
        dir,
        "redis.log",
    );
    std::thread::sleep(Duration::from_millis(300));
    (guard, format!("redis://127.0.0.1:{port}"))
}

fn scalar(db: &Path, sql: &str) -> i64 {
    let conn = inventory_shared::db::open_reader(db).expect("db");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

async fn wait_last_seq(port: u16, seq: i64, within: Duration) {
    let deadline = Instant::now() + within;
    let url = format!("http://127.0.0.1:{port}/health");
    loop {
        if let Ok(response) = reqwest::get(&url).await
            && let Ok(body) = response.json::<serde_json::Value>().await
            && body["last_seq"].as_i64() >= Some(seq)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "consumer did not reach seq {seq}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn write_history(settings: &DatabaseSettings, events: i64) {
    let conn = inventory_shared::db::open_writer(settings).expect("writer");
    let now = time::now();
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    let mad = StoreId::parse("MAD-001").expect("a valid store id");
    let bcn = StoreId::parse("BCN-001").expect("a valid store id");
    let million = Quantity::parse(1_000_000).expect("in range");
    let one = PositiveQuantity::parse(1).expect("1");
    let mut ids = Vec::new();
    for i in 0..500 {
        let input = products::ProductInput {
            sku: Sku::parse(&format!("B-{i}")).expect("a valid SKU"),
            name: "b".into(),
            description: None,
            category: None,
            price_cents: 1,
        };
        let product =
            products::insert_product(&mut SqliteTx::new(&conn), &input, &now).expect("product");
        for store in [&mad, &bcn] {
            stock::create_stock(&mut SqliteTx::new(&conn), &product.id, store, million, &now)
                .expect("stock");
        }
        ids.push(product.id);
    }
    let mut written = 1000;
    let mut i = 0usize;
    while written < events {
        let product = &ids[i % ids.len()];
        let store = if i.is_multiple_of(3) { &mad } else { &bcn };
        match i % 4 {
            0 | 1 => {
                stock::change_quantity(
                    &mut SqliteTx::new(&conn),
                    product,
                    store,
                    stock::QuantityChange::Add(Adjustment::parse(1).expect("1")),
                    None,
                    None,
                    &now,
                )
                .expect("adjust");
                written += 1;
            }
            _ => {
                let input = reservations::ReserveInput {
                    product_id: product.clone(),
                    store_id: store.clone(),
                    customer_id: "c".into(),
                    quantity: one,
                    ttl: chrono::Duration::minutes(10),
                    hold_id: None,
                };
                let row = reservations::reserve(&mut SqliteTx::new(&conn), &input, &now)
                    .expect("reserve");
                reservations::cancel(&mut SqliteTx::new(&conn), &row.id, None, &now)
                    .expect("cancel");
                written += 2;
            }
        }
        i += 1;
        if i.is_multiple_of(5000) {
            conn.execute_batch("COMMIT; BEGIN IMMEDIATE")
                .expect("commit");
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
}

async fn apply_rate(events: i64) {
    let dir = tempfile::tempdir().expect("dir");
    let (_redis, redis_url) = redis(dir.path());
    let db = dir.path().join("inventory.db");
    let settings = DatabaseSettings::at(&db);
    inventory_shared::db::migrate(&settings).await.expect("db");
    write_history(&settings, events);
    let total = scalar(&db, "SELECT COUNT(*) FROM events");
    let last = scalar(&db, "SELECT MAX(seq) FROM events");
    let relay = spawn(
        &bin("inventory-relay"),
        &[],
        &[
            ("DATABASE_URL", db.display().to_string()),
            ("REDIS_URL", redis_url.clone()),
            ("RELAY_HTTP_ADDR", "127.0.0.1:0".into()),
        ],
        dir.path(),
        "relay.log",
    );
    while scalar(&db, "SELECT COUNT(*) FROM events WHERE synced_at IS NULL") > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(relay);
    let port = free_port();
    let started = Instant::now();
    let _consumer = spawn(
        &bin("inventory-consumer"),
        &[],
        &[
            (
                "CONSUMER_DATABASE_URL",
                dir.path().join("availability.db").display().to_string(),
            ),
            ("CONSUMER_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("REDIS_URL", redis_url),
            (
                "CONSUMER_BATCH_SIZE",
                env_or("BENCH_BATCH", 1000).to_string(),
            ),
        ],
        dir.path(),
        "consumer.log",
    );
    wait_last_seq(port, last, Duration::from_secs(600)).await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "apply rate: {total} events from a Redis backlog in {secs:.2}s = {:.0} events/s",
        total as f64 / secs
    );
}

async fn end_to_end_lag(rate: u64, seconds: u64) {
    let dir = tempfile::tempdir().expect("dir");
    let (_redis, redis_url) = redis(dir.path());
    let db = dir.path().join("inventory.db");
    let api_port = free_port();
    let _api = spawn(
        &bin("inventory-api"),
        &[],
        &[
            ("DATABASE_URL", db.display().to_string()),
            ("SERVER_PORT", api_port.to_string()),
            ("SERVER_HOST", "127.0.0.1".into()),
        ],
        dir.path(),
        "api.log",
    );
    let base = format!("http://127.0.0.1:{api_port}/api/v1");
    let client = reqwest::Client::new();
    while client
        .get(format!("http://127.0.0.1:{api_port}/health"))
        .send()
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _relay = spawn(
        &bin("inventory-relay"),
        &[],
        &[
            ("DATABASE_URL", db.display().to_string()),
            ("REDIS_URL", redis_url.clone()),
            ("RELAY_HTTP_ADDR", "127.0.0.1:0".into()),
        ],
        dir.path(),
        "relay.log",
    );
    let consumer_port = free_port();
    let projection = dir.path().join("availability.db");
    let _consumer = spawn(
        &bin("inventory-consumer"),
        &[],
        &[
            ("CONSUMER_DATABASE_URL", projection.display().to_string()),
            ("CONSUMER_HTTP_ADDR", format!("127.0.0.1:{consumer_port}")),
            ("REDIS_URL", redis_url),
            ("INVENTORY_API_URL", format!("http://127.0.0.1:{api_port}")),
        ],
        dir.path(),
        "consumer.log",
    );
    let mut products = Vec::new();
    for i in 0..50 {
        let body: serde_json::Value = client
            .post(format!("{base}/products"))
            .header("X-API-Key", "dev-key-change-me")
            .json(&json!({"sku": format!("L-{i}"), "name": "l", "price": 1.0}))
            .send()
            .await
            .expect("product")
            .json()
            .await
            .expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        client
            .post(format!("{base}/stock"))
            .header("X-API-Key", "dev-key-change-me")
            .json(&json!({"product_id": id, "store_id": "MAD-001", "initial_quantity": 100}))
            .send()
            .await
            .expect("stock");
        products.push(id);
    }
    let warmup = scalar(&db, "SELECT MAX(seq) FROM events");
    let tasks = 16u64;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (client, base, products) = (client.clone(), base.clone(), products.clone());
        handles.push(tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(tasks as f64 / rate as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let end = Instant::now() + Duration::from_secs(seconds);
            let mut i = t as usize;
            while Instant::now() < end {
                tick.tick().await;
                let product = &products[i % products.len()];
                let _ = client
                    .post(format!("{base}/stock/{product}/MAD-001/adjust"))
                    .header("X-API-Key", "dev-key-change-me")
                    .json(&json!({"adjustment": 1}))
                    .send()
                    .await;
                i += tasks as usize;
            }
        }));
    }
    for h in handles {
        h.await.expect("writer");
    }
    let last = scalar(&db, "SELECT MAX(seq) FROM events");
    wait_last_seq(consumer_port, last, Duration::from_secs(60)).await;
    let conn = rusqlite::Connection::open(&projection).expect("projection");
    let mut lags: Vec<i64> = conn
        .prepare("SELECT applied_us - created_us FROM inbox WHERE seq > ?")
        .expect("sql")
        .query_map([warmup], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    lags.sort_unstable();
    let pick = |q: f64| lags[((lags.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    println!(
        "end-to-end lag at {rate} writes/s for {seconds}s ({} events, {:.0} writes/s achieved): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lags.len(),
        lags.len() as f64 / seconds as f64,
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

#[tokio::main]
async fn main() {
    apply_rate(env_or("BENCH_EVENTS", 100_000) as i64).await;
    end_to_end_lag(env_or("BENCH_RATE", 1000), env_or("BENCH_SECONDS", 15)).await;
}
