//! The counters behind `/events/stats` and `/reservations/stats` (kept by triggers, see
//! `migrations/20261203000001_counters.sql`) equal full `COUNT(*)`s of the tables: after a
//! random mix of concurrent writes (refusals rolled back inside group-commit batches
//! included), marks, parks, revivals, deletes and a product delete cascading to its
//! reservations; and after the API process is killed with SIGKILL in the middle of a load.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{DEV_KEY, TestDb, spawn_app_with};
use inventory_shared::time;
use serde_json::{Value, json};

const STORES: [&str; 3] = ["MAD-001", "BCN-001", "VAL-001"];

/// `(event_type, state) → n` and `(store_id, status) → n`.
type Counts = (
    BTreeMap<(String, String), i64>,
    BTreeMap<(String, String), i64>,
);

/// What full scans of `events` and `reservations` count.
async fn scanned(db: &TestDb) -> Counts {
    let events: Vec<(String, String, i64)> = db
        .query(
            "SELECT event_type, CASE WHEN synced_at IS NOT NULL THEN 'synced' \
             WHEN dead_at IS NOT NULL THEN 'dead' ELSE 'pending' END, COUNT(*) \
             FROM events GROUP BY 1, 2",
            &[],
        )
        .await;
    let reservations: Vec<(String, String, i64)> = db
        .query(
            "SELECT store_id, status, COUNT(*) FROM reservations GROUP BY 1, 2",
            &[],
        )
        .await;
    (keyed(events), keyed(reservations))
}

/// What the counter tables hold (counts at 0 left out). The sum of a key's rows: one row per
/// key on SQLite, slots on PostgreSQL.
async fn counters(db: &TestDb) -> Counts {
    let events = db
        .query(
            "SELECT event_type, state, CAST(SUM(n) AS BIGINT) FROM event_counts \
             GROUP BY 1, 2 HAVING SUM(n) <> 0",
            &[],
        )
        .await;
    let reservations = db
        .query(
            "SELECT store_id, status, CAST(SUM(n) AS BIGINT) FROM reservation_counts \
             GROUP BY 1, 2 HAVING SUM(n) <> 0",
            &[],
        )
        .await;
    (keyed(events), keyed(reservations))
}

fn keyed(rows: Vec<(String, String, i64)>) -> BTreeMap<(String, String), i64> {
    rows.into_iter().map(|(a, b, n)| ((a, b), n)).collect()
}

/// Asserts the counters equal the scans, and returns the scans.
async fn assert_exact(db: &TestDb, when: &str) -> Counts {
    let scans = scanned(db).await;
    assert_eq!(counters(db).await, scans, "counters vs COUNT(*) {when}");
    scans
}

/// An API reached over HTTP: the in-process app or the binary.
#[derive(Clone)]
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn new(base: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self { base, client }
    }

    /// Sends a request; `None` when the API is gone (killed).
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Option<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", DEV_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Some((status, body))
    }

    async fn must(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let (got, body) = self.send(method, path, body).await.expect("an answer");
        assert_eq!(got, status, "{method} {path}: {body}");
        body
    }

    /// Products with stock in every store; their ids.
    async fn catalogue(&self, prefix: &str, products: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..products {
            let body = json!({"sku": format!("{prefix}-{i}"), "name": "Thing", "price": 1.5});
            let product = self.must("POST", "/api/v1/products", Some(body), 201).await;
            let id = product["id"].as_str().expect("id").to_owned();
            for store in STORES {
                let body = json!({"product_id": id, "store_id": store, "initial_quantity": 40});
                self.must("POST", "/api/v1/stock", Some(body), 201).await;
            }
            ids.push(id);
        }
        ids
    }

    /// `ops` random writes over `products` (reserve, confirm, cancel, adjust, set, transfer,
    /// short reservations left to expire); refusals (409) are part of the mix. Stops early,
    /// returning how many it sent, when the API goes away.
    async fn mix(&self, products: &[String], seed: u64, ops: usize) -> usize {
        let mut rng = seed | 1;
        let mut next = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let mut held: Vec<String> = Vec::new();
        for done in 0..ops {
            let product = &products[next(products.len())];
            let store = STORES[next(STORES.len())];
            let stock = format!("/api/v1/stock/{product}/{store}");
            let answer = match next(7) {
                0 | 1 => {
                    let ttl = if next(4) == 0 { 1 } else { 600 };
                    let body = json!({"product_id": product, "store_id": store,
                        "customer_id": "c", "quantity": 1 + next(3), "ttl_seconds": ttl});
                    let answer = self.send("POST", "/api/v1/reservations", Some(body)).await;
                    // The 1 s ones are left for the expiry task.
                    if let Some((201, body)) = &answer
                        && ttl > 1
                    {
                        held.push(body["id"].as_str().expect("id").to_owned());
                    }
                    answer
                }
                2 if !held.is_empty() => {
                    let id = held.swap_remove(next(held.len()));
                    let path = format!("/api/v1/reservations/{id}/confirm");
                    self.send("POST", &path, None).await
                }
                3 if !held.is_empty() => {
                    let id = held.swap_remove(next(held.len()));
                    let path = format!("/api/v1/reservations/{id}/cancel");
                    self.send("POST", &path, Some(json!({}))).await
                }
                4 => {
                    let body = json!({"adjustment": next(11) as i64 - 5});
                    self.send("POST", &format!("{stock}/adjust"), Some(body))
                        .await
                }
                5 => {
                    let body = json!({"quantity": next(60)});
                    self.send("PUT", &stock, Some(body)).await
                }
                _ => {
                    let to = STORES.iter().find(|s| **s != store).expect("another store");
                    let body = json!({"product_id": product, "from_store_id": store,
                        "to_store_id": to, "quantity": 1 + next(4)});
                    self.send("POST", "/api/v1/stock/transfer", Some(body))
                        .await
                }
            };
            match answer {
                None => return done,
                Some((status, body)) => {
                    assert!(status < 500 || status == 503, "{status}: {body}")
                }
            }
        }
        ops
    }
}

fn n(counts: &BTreeMap<(String, String), i64>, keep: impl Fn(&str, &str) -> bool) -> i64 {
    counts
        .iter()
        .filter(|((a, b), _)| keep(a, b))
        .map(|(_, n)| n)
        .sum()
}

/// Asserts both stats endpoints answer what the scans counted.
async fn assert_endpoints_agree(api: &Api, (events, reservations): &Counts) {
    let stats = api.must("GET", "/api/v1/events/stats", None, 200).await;
    let state = |s: &'static str| n(events, move |_, state| state == s);
    assert_eq!(stats["total"], json!(n(events, |_, _| true)), "{stats}");
    assert_eq!(stats["pending"], json!(state("pending")), "{stats}");
    assert_eq!(stats["synced"], json!(state("synced")), "{stats}");
    assert_eq!(stats["published"], json!(state("synced")), "{stats}");
    assert_eq!(stats["dead"], json!(state("dead")), "{stats}");
    let by_type: BTreeMap<String, i64> = events
        .iter()
        .filter(|((_, state), n)| state == "pending" && **n > 0)
        .map(|((t, _), n)| (t.clone(), *n))
        .collect();
    assert_eq!(stats["pending_by_type"], json!(by_type), "{stats}");
    assert_eq!(
        stats["oldest_pending_age_seconds"].is_null(),
        state("pending") == 0,
        "{stats}"
    );
    for store in [
        None,
        Some("MAD-001"),
        Some("BCN-001"),
        Some("VAL-001"),
        Some("NONE-1"),
    ] {
        let path = match store {
            Some(s) => format!("/api/v1/reservations/stats?store_id={s}"),
            None => "/api/v1/reservations/stats".to_owned(),
        };
        let got = api.must("GET", &path, None, 200).await;
        let of = |status: &'static str| {
            n(reservations, move |s, st| {
                store.is_none_or(|want| want == s) && st == status
            })
        };
        let expected = json!({
            "pending": of("PENDING"), "confirmed": of("CONFIRMED"),
            "cancelled": of("CANCELLED"), "expired": of("EXPIRED"),
            "total": n(reservations, |s, _| store.is_none_or(|want| want == s)),
        });
        assert_eq!(got, expected, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_equal_full_counts_after_a_random_mix_marks_parks_deletes_and_a_cascade() {
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_millis(100)).await;
    let api = Api::new(app.base.clone());
    let products = api.catalogue("MIX", 4).await;
    let seed = u64::from(std::process::id()) ^ time::now().timestamp_micros() as u64;
    eprintln!("mix seed {seed}");
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (api, products) = (api.clone(), products.clone());
            tokio::spawn(async move { api.mix(&products, seed.wrapping_add(i), 150).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("a mix task"), 150);
    }
    // Let the 1 s reservations expire through the expiry task.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let scans = assert_exact(&app.db, "after the mix").await;
    assert!(
        n(&scans.1, |_, status| status == "EXPIRED") > 0,
        "the mix expired some reservations: {scans:?}"
    );
    assert_endpoints_agree(&api, &scans).await;

    // What the relay's statements do to the rows (shared/src/outbox.rs on SQLite): mark
    // synced, reject until parked, revive; then retention-like deletes of synced events.
    let seqs: Vec<i64> = app
        .db
        .column("SELECT seq FROM events ORDER BY seq", &[])
        .await;
    let now = time::now();
    let half = seqs.len() / 2;
    app.db
        .execute(
            "UPDATE events SET synced_at = ? WHERE seq <= ? AND synced_at IS NULL",
            &[common::at(now), seqs[half - 1].into()],
        )
        .await;
    let poison = &seqs[half..half + 6];
    for seq in poison {
        for _ in 0..3 {
            app.db
                .execute(
                    "UPDATE events SET attempts = attempts + 1, last_error = 'too large', \
                     dead_at = CASE WHEN attempts + 1 >= 3 THEN ? ELSE NULL END \
                     WHERE seq = ? AND synced_at IS NULL",
                    &[common::at(now), (*seq).into()],
                )
                .await;
        }
    }
    let scans = assert_exact(&app.db, "after marks and parks").await;
    assert_eq!(n(&scans.0, |_, s| s == "dead"), 6);
    app.db
        .execute(
            "UPDATE events SET dead_at = NULL, attempts = 0 \
             WHERE seq = ? AND dead_at IS NOT NULL AND synced_at IS NULL",
            &[poison[0].into()],
        )
        .await;
    app.db
        .execute(
            "DELETE FROM events WHERE seq IN \
             (SELECT seq FROM events WHERE synced_at IS NOT NULL LIMIT 25)",
            &[],
        )
        .await;
    let scans = assert_exact(&app.db, "after a revival and deletes").await;
    assert_eq!(n(&scans.0, |_, s| s == "dead"), 5);
    assert_endpoints_agree(&api, &scans).await;

    // A product whose reservations are all finished can be deleted; the stock → reservations
    // cascade takes its reservations, and their counts, with it.
    let gone = api.catalogue("GONE", 1).await.remove(0);
    let reserve =
        json!({"product_id": gone, "store_id": "MAD-001", "customer_id": "c", "quantity": 2});
    let held = api
        .must("POST", "/api/v1/reservations", Some(reserve), 201)
        .await;
    let id = held["id"].as_str().expect("id");
    api.must(
        "POST",
        &format!("/api/v1/reservations/{id}/cancel"),
        Some(json!({})),
        200,
    )
    .await;
    for store in STORES {
        let body = json!({"quantity": 0});
        api.must(
            "PUT",
            &format!("/api/v1/stock/{gone}/{store}"),
            Some(body),
            200,
        )
        .await;
    }
    let before = assert_exact(&app.db, "before the delete").await;
    api.must("DELETE", &format!("/api/v1/products/{gone}"), None, 204)
        .await;
    let after = assert_exact(&app.db, "after the cascade").await;
    assert_eq!(
        n(&after.1, |s, st| s == "MAD-001" && st == "CANCELLED"),
        n(&before.1, |s, st| s == "MAD-001" && st == "CANCELLED") - 1,
        "the cascaded reservation left the counts"
    );
    assert_endpoints_agree(&api, &after).await;
    app.stop().await;
}

/// The API binary on `port` over the database `url` (run in `dir`), expiring due
/// reservations every `expiry_interval`.
fn spawn_binary(dir: &std::path::Path, url: &str, port: u16, expiry_interval: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_inventory-api"))
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env("SERVER_HOST", "127.0.0.1")
        .env("SERVER_PORT", port.to_string())
        .env("RESERVATION_EXPIRY_INTERVAL", expiry_interval)
        .env("LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the API binary")
}

async fn wait_healthy(api: &Api) {
    common::eventually(
        Duration::from_secs(60),
        "the API to answer /health",
        || async { matches!(api.send("GET", "/health", None).await, Some((200, _))).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_stay_exact_when_the_api_is_killed_mid_load_and_restarted() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let api = Api::new(format!("http://127.0.0.1:{port}"));
    let url = common::new_database_url(dir.path()).await;
    let mut child = spawn_binary(dir.path(), &url, port, "100ms");
    wait_healthy(&api).await;
    let products = api.catalogue("KILL", 4).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (api, products) = (api.clone(), products.clone());
            tokio::spawn(async move { api.mix(&products, 0x9E37 + i, 100_000).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL");
    child.wait().expect("the killed API exits");
    let mut sent = 0;
    for task in tasks {
        sent += task.await.expect("a mix task");
    }
    assert!(
        sent > 0 && sent < 8 * 100_000,
        "killed mid-load after {sent} requests"
    );

    let pool = TestDb::connect(&url).await;
    let scans = assert_exact(&pool, "after SIGKILL").await;
    eprintln!(
        "{sent} requests before the kill; events by state: {:?}",
        scans.0
    );

    // Restarted with the expiry task ticking once, at start (then hourly), so nothing changes
    // between a scan and the endpoints' answers but the test's own requests.
    let mut child = spawn_binary(dir.path(), &url, port, "1h");
    wait_healthy(&api).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_endpoints_agree(&api, &scanned(&pool).await).await;
    assert_eq!(api.mix(&products, 77, 200).await, 200);
    assert_endpoints_agree(&api, &assert_exact(&pool, "after the restart").await).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM");
    child.wait().expect("the API stops");
}
