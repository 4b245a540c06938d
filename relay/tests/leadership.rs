//! Two relay binaries on one database and a private Redis, on SQLite and on PostgreSQL: one
//! leads and publishes, the other is a standby that publishes nothing until the leader is
//! `kill -9`ed, then takes over within 5 s. Under steady writes throughout, the stream ends
//! with every event exactly once and each product's events in `seq` order.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    PgTestDb, RedisServer, RelayProcess, STREAM, TestBackend, TestDb, metric, sample_event,
};

/// Writer transactions of [`EVENTS_PER_TX`] events, one every [`WRITE_EVERY`]: about 4 s of
/// writes, 4,000 events.
const WRITES: usize = 80;
const EVENTS_PER_TX: usize = 50;
const WRITE_EVERY: Duration = Duration::from_millis(50);

/// How long a standby may take to publish after the leader died.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(5);

/// A relay binary and the port its `/metrics` and `/health` listen on.
struct Relay {
    process: RelayProcess,
    port: u16,
}

impl Relay {
    fn spawn(db: &TestBackend, redis: &RedisServer) -> Self {
        let port = common::free_port();
        let env = [
            ("DATABASE_URL", db.database_url()),
            ("REDIS_URL", redis.url()),
            ("RELAY_BATCH_SIZE", "100".to_owned()),
            ("RELAY_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ];
        Self {
            process: RelayProcess::spawn(db.dir(), &env),
            port,
        }
    }

    /// `/metrics` as text, `None` while the relay does not answer.
    async fn metrics(&self) -> Option<String> {
        let response = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .ok()?;
        response.text().await.ok()
    }

    /// `relay_leader`, `None` while the relay does not answer.
    async fn leader(&self) -> Option<f64> {
        metric(&self.metrics().await?, "relay_leader")
    }

    /// `/health`'s status code and JSON body.
    async fn health(&self) -> (u16, serde_json::Value) {
        let response = reqwest::get(format!("http://127.0.0.1:{}/health", self.port))
            .await
            .expect("GET /health");
        let code = response.status().as_u16();
        (code, response.json().await.expect("health JSON"))
    }
}

/// Writes [`WRITES`] transactions in a task of its own; their seqs, once done.
fn start_writer(
    db: Arc<TestBackend>,
    written: Arc<std::sync::Mutex<Vec<i64>>>,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for w in 0..WRITES {
            let first = w * EVENTS_PER_TX;
            let seqs = db
                .append((first..first + EVENTS_PER_TX).map(sample_event).collect())
                .await;
            written.lock().expect("written").extend(seqs);
            tokio::time::sleep(WRITE_EVERY).await;
        }
        done.store(true, Ordering::SeqCst);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_relay_waits_as_a_standby_and_takes_over_within_5_s_after_kill_9() {
    standby_takes_over_after_kill_9(TestBackend::Sqlite(TestDb::new().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_second_relay_waits_as_a_standby_and_takes_over_within_5_s_after_kill_9() {
    standby_takes_over_after_kill_9(TestBackend::Postgres(PgTestDb::new().await)).await;
}

async fn standby_takes_over_after_kill_9(db: TestBackend) {
    let redis = RedisServer::start().await;
    let db = Arc::new(db);
    let relays = [Relay::spawn(&db, &redis), Relay::spawn(&db, &redis)];

    // Both answer; exactly one leads.
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        let roles = [relays[0].leader().await, relays[1].leader().await];
        match roles {
            [Some(1.0), Some(0.0)] => break 0,
            [Some(0.0), Some(1.0)] => break 1,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no single leader among two relays on one database: relay_leader {roles:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let standby = 1 - leader;

    let written = Arc::new(std::sync::Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let writer = start_writer(db.clone(), written.clone(), done.clone());

    // Under writes: the leader publishes, the standby stays a standby.
    common::wait_until(
        Duration::from_secs(30),
        "the leader publishes 1,000 events",
        || async { redis.seqs(STREAM).await.len() >= 1_000 },
    )
    .await;
    let standby_metrics = relays[standby].metrics().await.expect("standby /metrics");
    assert_eq!(metric(&standby_metrics, "relay_leader"), Some(0.0));
    assert_eq!(
        metric(&standby_metrics, "relay_leadership_changes_total"),
        Some(0.0)
    );
    let (code, body) = relays[standby].health().await;
    assert_eq!(code, 200, "a standby is healthy: {body}");
    assert_eq!(body["status"], "standby", "{body}");
    assert_eq!(body["role"], "standby", "{body}");
    let (_, body) = relays[leader].health().await;
    assert_eq!(body["role"], "leader", "{body}");

    // kill -9 the leader mid-writes; the standby must publish within 5 s.
    assert!(
        !done.load(Ordering::SeqCst),
        "the writer must still be writing when the leader dies"
    );
    let [a, b] = relays;
    let (mut dead, survivor) = if leader == 0 { (a, b) } else { (b, a) };
    dead.process.signal("KILL");
    let killed_at = Instant::now();
    dead.process
        .wait_timeout(Duration::from_secs(5))
        .expect("the killed leader exits");
    let in_stream_at_kill = redis.seqs(STREAM).await.len();
    let takeover = loop {
        let leads = survivor.leader().await == Some(1.0);
        if leads && redis.seqs(STREAM).await.len() > in_stream_at_kill {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < TAKEOVER_LIMIT,
            "the standby did not publish within {TAKEOVER_LIMIT:?} of the leader's kill -9"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    writer.await.expect("writer task");
    let written = written.lock().expect("written").clone();
    let total = written.len() as i64;
    common::wait_until(
        Duration::from_secs(60),
        "every event is published and marked",
        || async { db.counts().await == (total, 0, 0) },
    )
    .await;

    let entries = redis.entries(STREAM).await;
    let seqs: Vec<i64> = entries
        .iter()
        .map(|e| e["seq"].parse().expect("numeric seq"))
        .collect();
    let unique: HashSet<i64> = seqs.iter().copied().collect();
    let duplicates = seqs.len() - unique.len();
    let mut last_of_product: HashMap<&str, i64> = HashMap::new();
    let mut out_of_order = 0;
    for (entry, &seq) in entries.iter().zip(&seqs) {
        let product = entry["aggregate_id"].as_str();
        if let Some(&last) = last_of_product.get(product)
            && last >= seq
        {
            out_of_order += 1;
        }
        last_of_product.insert(product, seq);
    }
    eprintln!(
        "leadership ({}): {} events written, {} stream entries, {duplicates} duplicates, \
         {out_of_order} behind an earlier seq of their product; takeover after kill -9: {takeover:?}",
        db.name(),
        written.len(),
        seqs.len()
    );
    assert_eq!(duplicates, 0, "no event published twice");
    assert_eq!(out_of_order, 0, "each product's events in seq order");
    let expected: HashSet<i64> = written.iter().copied().collect();
    assert_eq!(unique, expected, "every written event is in the stream");

    let survivor_metrics = survivor.metrics().await.expect("survivor /metrics");
    assert_eq!(metric(&survivor_metrics, "relay_leader"), Some(1.0));
    assert_eq!(
        metric(&survivor_metrics, "relay_leadership_changes_total"),
        Some(1.0),
        "the survivor became leader once"
    );
}
