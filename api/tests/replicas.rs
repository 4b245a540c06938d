//! Several API replicas on one PostgreSQL database (issue 18): real `inventory-api` processes,
//! each with its own writer and pools, on a private PostgreSQL server (`PgServer`), driven
//! over HTTP as a load balancer would. What the SQLite build guarantees must hold across
//! them: no oversell, an `Idempotency-Key` applied once, holds over the same rows in opposite
//! orders never surfacing a deadlock, each reservation expired once, and on time with a
//! replica killed; and no acknowledged write
//! lost when a replica is killed (`kill -9`) or when PostgreSQL itself crashes
//! (`pg_ctl stop -m immediate`) under load, after which the events still fold into the stock
//! rows.
//!
//! These run on PostgreSQL whatever `INVENTORY_TEST_BACKEND` says: several replicas on one
//! database is what only PostgreSQL offers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use inventory_shared::test_support::{PgServer, StopMode};
use serde_json::{Value, json};

/// Accepted on a loopback listener when `API_KEYS` is unset.
const KEY: &str = "dev-key-change-me";
const STORE: &str = "MAD-001";

/// One `inventory-api` process; killed (SIGKILL) when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    /// Starts the binary on `url` with `env`, and waits until it logs its address.
    fn start(url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_inventory-api"));
        command
            .env("DATABASE_URL", url)
            .env_remove("SQLITE_PATH")
            .env_remove("API_KEYS")
            .env("SERVER_HOST", "127.0.0.1")
            .env("SERVER_PORT", "0")
            .env("LOG_FORMAT", "text")
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("inventory-api starts");
        let stderr = child.stderr.take().expect("stderr");
        // Killed on drop from here on, even when the start fails.
        let mut replica = Self {
            child,
            base: String::new(),
        };
        let (found, addr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if line.contains("inventory API listening") {
                    let addr = line
                        .split("addr=")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .map(str::to_owned);
                    let _ = found.send(addr);
                    break;
                }
            }
            // Keep draining the log so the replica never blocks on a full pipe.
            for _ in lines {}
        });
        let addr = addr
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("the replica logged its address within 60 s");
        replica.base = format!("http://{addr}/api/v1");
        replica
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private server, one database on it, and replicas of the API on that database.
struct Cluster {
    /// Behind a lock so a test can crash and restart it while requests run.
    server: std::sync::Mutex<PgServer>,
    replicas: Vec<Replica>,
    client: reqwest::Client,
}

impl Cluster {
    async fn start(replicas: usize, env: &[(&str, &str)]) -> Self {
        let mut server = PgServer::start().expect("a private PostgreSQL server");
        // Stopped even when the test binary is killed (a CI timeout).
        server.stop_when_process_exits().expect("a watchdog");
        let url = server.create_database().await.expect("a database");
        let started = (0..replicas).map(|_| Replica::start(&url, env)).collect();
        Self {
            server: std::sync::Mutex::new(server),
            replicas: started,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a client"),
        }
    }

    fn base(&self, replica: usize) -> &str {
        &self.replicas[replica % self.replicas.len()].base
    }

    /// `(status, body)`; a transport error (a killed replica, a refused connection) is
    /// status 0.
    async fn call(
        &self,
        replica: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base(replica)))
            .header("X-API-Key", KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.json().await.unwrap_or(Value::Null);
                (status, body)
            }
            Err(_) => (0, Value::Null),
        }
    }

    async fn post(&self, replica: usize, path: &str, body: Value) -> (u16, Value) {
        self.call(replica, reqwest::Method::POST, path, Some(body), None)
            .await
    }

    async fn get(&self, replica: usize, path: &str) -> (u16, Value) {
        self.call(replica, reqwest::Method::GET, path, None, None)
            .await
    }

    /// A product with `quantity` units in [`STORE`]; its id.
    async fn product_with_stock(&self, sku: &str, quantity: i64) -> String {
        let (status, product) = self
            .post(
                0,
                "/products",
                json!({"sku": sku, "name": sku, "price": 1.5}),
            )
            .await;
        assert_eq!(status, 201, "{product}");
        let id = product["id"].as_str().expect("an id").to_owned();
        let (status, stock) = self
            .post(
                0,
                "/stock",
                json!({"product_id": id, "store_id": STORE, "initial_quantity": quantity}),
            )
            .await;
        assert_eq!(status, 201, "{stock}");
        id
    }

    /// The stock row as replica `replica` reads it: `(quantity, reserved)`.
    async fn stock(&self, replica: usize, product: &str) -> (i64, i64) {
        let (status, row) = self
            .get(replica, &format!("/stock/{product}/{STORE}"))
            .await;
        assert_eq!(status, 200, "{row}");
        (
            row["quantity"].as_i64().expect("quantity"),
            row["reserved"].as_i64().expect("reserved"),
        )
    }

    /// Every event of the audit log, in `seq` order, read from `replica`.
    async fn events(&self, replica: usize) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let (status, page) = self
                .get(replica, &format!("/events?after_seq={after}&limit=1000"))
                .await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next_after_seq"].as_i64() {
                Some(next) => after = next,
                None => return all,
            }
        }
    }

    fn reservation_body(product: &str, ttl: i64) -> Value {
        json!({"product_id": product, "store_id": STORE, "customer_id": "c-1",
               "quantity": 1, "ttl_seconds": ttl})
    }
}

/// Folds the events (stock created, reservations) into `(quantity, reserved)` per stock row,
/// checking `0 <= reserved <= quantity` after each.
fn fold(events: &[Value]) -> BTreeMap<(String, String), (i64, i64)> {
    let mut rows: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for event in events {
        let payload = &event["payload"];
        let key = (
            payload["product_id"]
                .as_str()
                .expect("product_id")
                .to_owned(),
            payload["store_id"].as_str().expect("store_id").to_owned(),
        );
        let quantity = payload["quantity"].as_i64().unwrap_or(0);
        match event["event_type"].as_str().expect("a type") {
            "stock.created" => {
                rows.insert(key.clone(), (quantity, 0));
            }
            "reservation.created" => rows.get_mut(&key).expect("a row").1 += quantity,
            "reservation.expired" | "reservation.cancelled" => {
                rows.get_mut(&key).expect("a row").1 -= quantity;
            }
            "reservation.confirmed" => {
                let row = rows.get_mut(&key).expect("a row");
                row.0 -= quantity;
                row.1 -= quantity;
            }
            other => panic!("seq {}: not expected here: {other}", event["seq"]),
        }
        let (quantity, reserved) = rows[&key];
        assert!(
            0 <= reserved && reserved <= quantity,
            "seq {}: {key:?} folds to quantity {quantity}, reserved {reserved}",
            event["seq"]
        );
    }
    rows
}

/// Reservations sent while `stop` is unset, round-robin over `replicas`, `callers` at a time;
/// returns every `(status, reservation id)` answered.
async fn reserve_until(
    cluster: &Cluster,
    product: &str,
    replicas: &[usize],
    callers: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(u16, Option<String>)> {
    let tasks = (0..callers).map(|caller| {
        let stop = stop.clone();
        async move {
            let mut answers = Vec::new();
            let mut n = caller;
            while !stop.load(Ordering::Relaxed) {
                let replica = replicas[n % replicas.len()];
                n += 1;
                let (status, body) = cluster
                    .post(
                        replica,
                        "/reservations",
                        Cluster::reservation_body(product, 86_400),
                    )
                    .await;
                answers.push((status, body["id"].as_str().map(str::to_owned)));
                if status != 201 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            answers
        }
    });
    join_all(tasks).await.into_iter().flatten().collect()
}

/// Every acknowledged reservation is there (read from `replica`), the stock row's `reserved`
/// equals the PENDING reservations, and the events fold into the stock row.
async fn nothing_acknowledged_was_lost(
    cluster: &Cluster,
    replica: usize,
    product: &str,
    answers: &[(u16, Option<String>)],
) {
    let acknowledged: Vec<&String> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .filter_map(|(_, id)| id.as_ref())
        .collect();
    assert!(!acknowledged.is_empty(), "no reservation was acknowledged");
    for id in &acknowledged {
        let (status, body) = cluster.get(replica, &format!("/reservations/{id}")).await;
        assert_eq!(status, 200, "acknowledged reservation {id} lost: {body}");
    }
    let (quantity, reserved) = cluster.stock(replica, product).await;
    let (_, stats) = cluster.get(replica, "/reservations/stats").await;
    assert_eq!(stats["pending"].as_i64(), Some(reserved), "{stats}");
    // A write in flight when its replica died may have committed without an answer: never
    // fewer than the acknowledged ones.
    assert!(
        reserved >= acknowledged.len() as i64,
        "{reserved} reserved < {} acknowledged",
        acknowledged.len()
    );
    let folded = fold(&cluster.events(replica).await);
    assert_eq!(
        folded.get(&(product.to_owned(), STORE.to_owned())),
        Some(&(quantity, reserved)),
        "the events fold into the stock row"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sell_exactly_the_stock() {
    let cluster = Cluster::start(2, &[]).await;
    let product = cluster.product_with_stock("REPL-50", 50).await;

    let answers = join_all((0..200).map(|i| {
        let body = Cluster::reservation_body(&product, 600);
        let cluster = &cluster;
        async move { cluster.post(i % 2, "/reservations", body).await }
    }))
    .await;

    let won = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(won, 50, "exactly the 50 units are sold");
    for (status, body) in &answers {
        assert!(
            *status == 201 || (*status == 409 && body["code"] == "INSUFFICIENT_STOCK"),
            "{status} {body}"
        );
    }
    for replica in 0..2 {
        assert_eq!(cluster.stock(replica, &product).await, (50, 50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_sent_to_both_replicas_at_once_applies_once() {
    let cluster = Cluster::start(2, &[]).await;
    let product = cluster.product_with_stock("REPL-KEY", 1_000).await;

    for round in 0..20 {
        let key = format!("order-{round}");
        let body = Cluster::reservation_body(&product, 600);
        let (a, b) = tokio::join!(
            cluster.call(
                0,
                reqwest::Method::POST,
                "/reservations",
                Some(body.clone()),
                Some(&key)
            ),
            cluster.call(
                1,
                reqwest::Method::POST,
                "/reservations",
                Some(body),
                Some(&key)
            ),
        );
        assert_eq!((a.0, b.0), (201, 201), "round {round}: {} / {}", a.1, b.1);
        assert_eq!(
            a.1["id"], b.1["id"],
            "round {round}: one reservation, replayed"
        );
    }
    assert_eq!(cluster.stock(1, &product).await, (1_000, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_over_the_same_rows_in_opposite_orders_never_fail_the_client() {
    let cluster = Cluster::start(2, &[]).await;
    let first = cluster.product_with_stock("REPL-HOLD-A", 100).await;
    let second = cluster.product_with_stock("REPL-HOLD-B", 100).await;
    let line = |product: &str| json!({"product_id": product, "store_id": STORE, "quantity": 1});

    let answers = join_all((0..60).map(|i| {
        let items = if i % 2 == 0 {
            vec![line(&first), line(&second)]
        } else {
            vec![line(&second), line(&first)]
        };
        let body = json!({"customer_id": format!("cart-{i}"), "ttl_seconds": 600, "items": items});
        let cluster = &cluster;
        async move { cluster.post(i % 2, "/holds", body).await }
    }))
    .await;

    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
    }
    assert_eq!(cluster.stock(0, &first).await, (100, 60));
    assert_eq!(cluster.stock(1, &second).await, (100, 60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_expire_each_reservation_exactly_once() {
    let cluster = Cluster::start(2, &[("RESERVATION_EXPIRY_INTERVAL", "1s")]).await;
    let product = cluster.product_with_stock("REPL-EXP", 1_000).await;
    let created = join_all((0..300).map(|i| {
        let body = Cluster::reservation_body(&product, 1);
        let cluster = &cluster;
        async move { cluster.post(i % 2, "/reservations", body).await }
    }))
    .await;
    assert!(created.iter().all(|(status, _)| *status == 201));

    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.stock(0, &product).await.1 > 0 {
        assert!(Instant::now() < deadline, "not all expired within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let events = cluster.events(1).await;
    let expired: Vec<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "reservation.expired")
        .map(|e| e["aggregate_id"].as_str().expect("an id"))
        .collect();
    let distinct: BTreeSet<&str> = expired.iter().copied().collect();
    assert_eq!(
        expired.len(),
        300,
        "one reservation.expired per reservation"
    );
    assert_eq!(distinct.len(), 300);
}

/// Expiry keeps its deadline with a replica gone (issue 18: "still within ~1 s of its
/// deadline when one replica is killed"). Each replica's expiry task takes the due
/// reservations `FOR UPDATE SKIP LOCKED`, so none waits for the other; here one replica is
/// `kill -9`ed just as the first reservations fall due, perhaps in the middle of a pass (its
/// transaction then rolls back and its locks go with its connection), and the other expires
/// every reservation, each once, at most a pass interval (1 s) and the pass's own time after
/// its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_replica_killed_the_other_expires_every_reservation_on_time() {
    let mut cluster = Cluster::start(2, &[("RESERVATION_EXPIRY_INTERVAL", "1s")]).await;
    let product = cluster.product_with_stock("REPL-EXP-KILL", 1_000).await;
    let started = Instant::now();
    let created = join_all((0..200).map(|i| {
        let body = Cluster::reservation_body(&product, 2);
        let cluster = &cluster;
        async move { cluster.post(i % 2, "/reservations", body).await }
    }))
    .await;
    assert!(created.iter().all(|(status, _)| *status == 201));
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(started.elapsed())).await;
    cluster.replicas[0].kill(); // SIGKILL (`Child::kill`), then reaped

    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.stock(1, &product).await.1 > 0 {
        assert!(Instant::now() < deadline, "not all expired within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let at = |event: &Value, field: &str| {
        chrono::DateTime::parse_from_rfc3339(field_of(event, field)).expect("an RFC 3339 time")
    };
    let events = cluster.events(1).await;
    let due: BTreeMap<&str, _> = events
        .iter()
        .filter(|e| e["event_type"] == "reservation.created")
        .map(|e| (field_of(e, "aggregate_id"), at(&e["payload"], "expires_at")))
        .collect();
    let mut lags = Vec::new();
    for event in events
        .iter()
        .filter(|e| e["event_type"] == "reservation.expired")
    {
        let id = field_of(event, "aggregate_id");
        let lag = at(event, "created_at") - due[id];
        lags.push(lag.num_milliseconds());
    }
    lags.sort_unstable();
    eprintln!(
        "expiry lag after the kill, ms: min {:?}, median {:?}, max {:?}",
        lags.first(),
        lags.get(lags.len() / 2),
        lags.last()
    );
    assert_eq!(lags.len(), 200, "one reservation.expired per reservation");
    assert!(lags[0] >= 0, "expired before its deadline: {lags:?}");
    assert!(
        *lags.last().expect("lags") < 2_000,
        "expired more than 2 s after its deadline: {lags:?}"
    );
}

/// The text field `name` of `value`.
fn field_of<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(2, &[]).await;
    let product = cluster.product_with_stock("REPL-KILL", 1_000_000).await;
    let stop = Arc::new(AtomicBool::new(false));

    let load = reserve_until(&cluster, &product, &[0, 1], 16, stop.clone());
    let kill = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pid = cluster.replicas[0].child.id();
        // SIGKILL, as a host losing power would.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.store(true, Ordering::Relaxed);
    };
    let (answers, ()) = tokio::join!(load, kill);
    cluster.replicas[0].kill();

    let statuses: BTreeSet<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert!(
        statuses.iter().all(|s| [0, 201].contains(s)),
        "only answers or dropped connections: {statuses:?}"
    );
    nothing_acknowledged_was_lost(&cluster, 1, &product, &answers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_crash_under_load_loses_no_acknowledged_write_and_the_api_recovers() {
    let cluster = Cluster::start(1, &[]).await;
    let product = cluster.product_with_stock("REPL-CRASH", 1_000_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let server = |act: &dyn Fn(&mut PgServer) -> anyhow::Result<()>| {
        tokio::task::block_in_place(|| act(&mut cluster.server.lock().expect("the server")))
    };

    let load = reserve_until(&cluster, &product, &[0], 8, stop.clone());
    let crash = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server(&|s| s.stop(StopMode::Immediate)).expect("crash PostgreSQL");
        let health = cluster.base(0).replace("/api/v1", "/health");
        let (down_status, down_body) = match cluster.client.get(&health).send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        server(&|s| {
            s.start_again()?;
            s.stop_when_process_exits()
        })
        .expect("PostgreSQL starts again");
        let restarted = Instant::now();
        let mut recovered = None;
        while restarted.elapsed() < Duration::from_secs(30) {
            let (status, _) = cluster
                .post(
                    0,
                    "/reservations",
                    Cluster::reservation_body(&product, 86_400),
                )
                .await;
            if status == 201 {
                recovered = Some(restarted.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        stop.store(true, Ordering::Relaxed);
        (down_status, down_body, recovered)
    };
    let (answers, (down_status, down_body, recovered)) = tokio::join!(load, crash);

    assert_eq!(
        down_status, 503,
        "/health while PostgreSQL is down: {down_body}"
    );
    let recovered = recovered.expect("the API took writes again within 30 s");
    eprintln!("writes accepted again {recovered:?} after PostgreSQL restarted");
    assert!(
        recovered <= Duration::from_secs(5),
        "recovered after {recovered:?}"
    );
    let statuses: BTreeSet<u16> = answers.iter().map(|(status, _)| *status).collect();
    // 503 while down (nothing applied); 500 only for a commit whose outcome is unknown.
    assert!(
        statuses.iter().all(|s| [201, 500, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&503), "no 503 while PostgreSQL was down");
    nothing_acknowledged_was_lost(&cluster, 0, &product, &answers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_the_audit_log_while_two_replicas_write_misses_no_event() {
    let cluster = Cluster::start(2, &[]).await;
    let first = cluster.product_with_stock("REPL-PAGE-A", 1_000_000).await;
    let second = cluster.product_with_stock("REPL-PAGE-B", 1_000_000).await;
    let stop = Arc::new(AtomicBool::new(false));

    // A reader following the tail with `after_seq`, as a consumer catching up would.
    let follow = async {
        let mut seen = Vec::new();
        let mut after = 0;
        let mut done = false;
        loop {
            let (status, page) = cluster
                .get(0, &format!("/events?after_seq={after}&limit=50"))
                .await;
            assert_eq!(status, 200, "{page}");
            let events = page["events"].as_array().expect("events").clone();
            for event in &events {
                let seq = event["seq"].as_i64().expect("seq");
                assert!(seq > after, "seq {seq} after {after}");
                after = seq;
                seen.push(seq);
            }
            if events.is_empty() {
                if done {
                    return seen;
                }
                done = stop.load(Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let load = async {
        let (a, b, ()) = tokio::join!(
            reserve_until(&cluster, &first, &[0, 1], 8, stop.clone()),
            reserve_until(&cluster, &second, &[1, 0], 8, stop.clone()),
            async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                stop.store(true, Ordering::Relaxed);
            }
        );
        a.len() + b.len()
    };
    let (seen, sent) = tokio::join!(follow, load);

    let all: Vec<i64> = cluster
        .events(1)
        .await
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(sent > 0);
    let seen: BTreeSet<i64> = seen.into_iter().collect();
    let missed: Vec<&i64> = all.iter().filter(|seq| !seen.contains(seq)).collect();
    assert!(missed.is_empty(), "the tail reader never saw {missed:?}");
}
