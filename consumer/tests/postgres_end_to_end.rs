//! The whole chain on PostgreSQL (issue 19), as real processes on private servers: two
//! replicas of the API binary on a private PostgreSQL server (`PgServer`), two relay binaries
//! on that database (one leads, one stands by) publishing to a private `redis-server`, and the
//! reference consumer reading the stream. A random workload runs through each replica's HTTP
//! routes (products, stock set / adjust / transfer, reservations confirmed, cancelled,
//! extended and expired; each replica its own products, so their batches interleave and the
//! relay, which reads behind its visibility fence in transaction order, may publish two
//! products' events out of `seq` order) while the leading relay is `kill -9`ed with a batch
//! published but not yet marked. Then:
//!
//! - the standby leads and publishes within 5 s of the kill;
//! - every event of the API's audit log (`GET /events`) is in the stream exactly once, with
//!   its id, and each product's events are in `seq` order;
//! - the consumer's read model (`GET /availability/{product}`) equals the API's stock rows
//!   (`GET /stock/product/{product}`), both read over HTTP, with no duplicate and no gap seen
//!   by the consumer.
//!
//! Needs the API and relay binaries next to the test's (`cargo build --bins`, or
//! `cargo test --workspace`), `redis-server` and PostgreSQL's programs.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::brokers::Redis;
use common::relay::Relay;
use common::{Api, ConsumerProc, inbox_count, metric, random_workload, wait_until};
use inventory_shared::test_support::PgServer;
use sqlx::postgres::PgPoolOptions;

const STREAM: &str = "inventory-events";

/// How long the standby may take to publish after the leader's `kill -9`.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(5);

/// How long the events table stays locked before the leader's kill: it reads and publishes a
/// batch meanwhile, and waits to mark it.
const MARKS_HELD_FOR: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_whole_chain_survives_the_leading_relays_kill_9() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = PgServer::start().expect("a private PostgreSQL server");
    let url = pg.create_database().await.expect("a database");
    let redis = Redis::start(dir.path());
    // Two API replicas on the database, each driven by a workload of its own (its own
    // products): their batches interleave.
    let api = Arc::new(Api::start_on(dir.path(), &url).await);
    let replica = Arc::new(Api::start_on(dir.path(), &url).await);
    let relays = [
        Relay::spawn(dir.path(), "relay-a", &url, &redis),
        Relay::spawn(dir.path(), "relay-b", &url, &redis),
    ];
    let projection_path = dir.path().join("availability.db");
    let consumer = ConsumerProc::spawn(
        dir.path(),
        "c1",
        &[
            (
                "CONSUMER_DATABASE_URL",
                projection_path.display().to_string(),
            ),
            ("REDIS_URL", redis.url()),
            ("INVENTORY_API_URL", api.base.clone()),
        ],
    );

    // Exactly one relay leads.
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        match [relays[0].leader().await, relays[1].leader().await] {
            [Some(1.0), Some(0.0)] => break 0,
            [Some(0.0), Some(1.0)] => break 1,
            roles => assert!(
                Instant::now() < deadline,
                "no single leader among two relays: relay_leader {roles:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let ready = started.elapsed();

    // The workload runs through the API while the leader publishes, then dies.
    let writers = [(api.clone(), 19), (replica.clone(), 20)]
        .map(|(api, seed)| tokio::spawn(async move { random_workload(&api, seed, 6, 600).await }));
    wait_until(
        Duration::from_secs(30),
        "the leader publishing 150 events",
        || async { redis.xlen(STREAM).await >= 150 },
    )
    .await;
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "the workloads must still be writing when the leader dies"
    );
    let [a, b] = relays;
    let (mut dead, survivor) = if leader == 0 { (a, b) } else { (b, a) };
    assert_eq!(
        survivor.sent().await,
        Some(0.0),
        "the standby published nothing while the leader lived"
    );
    // Kill it with a batch published but not marked, as a crash between the broker's ack and
    // the mark leaves it: stop it while events pile up, lock the events table (marks and
    // appends wait, reads go on), let it run: it reads, publishes a batch and waits to mark it.
    // (A leader stopped inside its mark's transaction holds the table: the lock then times
    // out, and the test lets it go on and tries again.)
    let locker = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect");
    let mut attempts = 0;
    let lock = loop {
        dead.proc.signal("STOP");
        wait_until(
            Duration::from_secs(10),
            "events pending behind the stopped leader",
            || async { api.stats().await["pending"].as_i64().unwrap_or(0) >= 40 },
        )
        .await;
        let mut tx = locker.begin().await.expect("begin");
        sqlx::query("SET LOCAL lock_timeout = '1s'")
            .execute(&mut *tx)
            .await
            .expect("lock_timeout");
        let locked = sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await;
        match locked {
            Ok(_) => break tx,
            Err(e) => {
                attempts += 1;
                assert!(attempts < 5, "locking the events table: {e}");
                tx.rollback().await.ok();
                dead.proc.signal("CONT");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    dead.proc.signal("CONT");
    tokio::time::sleep(MARKS_HELD_FOR).await;
    dead.proc.kill();
    let killed_at = Instant::now();
    let in_stream_at_kill = redis.xlen(STREAM).await;
    let marked_at_kill = api.stats().await["synced"].as_i64().expect("synced");
    lock.rollback().await.expect("releasing the lock");
    let takeover = loop {
        if survivor.leader().await == Some(1.0)
            && survivor.sent().await.is_some_and(|sent| sent > 0.0)
        {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < TAKEOVER_LIMIT,
            "the standby did not publish within {TAKEOVER_LIMIT:?} of the leader's kill -9"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut writes = 0;
    for writer in writers {
        writes += writer.await.expect("workload");
    }

    // Everything the API wrote is published.
    wait_until(Duration::from_secs(30), "nothing pending", || async {
        api.stats().await["pending"] == 0
    })
    .await;
    let stats = api.stats().await;
    assert_eq!(stats["dead"], 0, "{stats}");
    let events = api.events().await;
    assert_eq!(
        Some(events.len() as i64),
        stats["total"].as_i64(),
        "{stats}"
    );
    let product_of: HashMap<i64, (&str, &str)> = events
        .iter()
        .map(|e| {
            let seq = e["seq"].as_i64().expect("seq");
            let product = e["partition_key"].as_str().expect("partition key");
            (seq, (product, e["id"].as_str().expect("id")))
        })
        .collect();

    // ... exactly once, with its id, each product's events in seq order.
    let entries: Vec<(i64, String)> = redis
        .entries(STREAM)
        .await
        .into_iter()
        .map(|e| (e.seq, e.id))
        .collect();
    let unique: HashSet<i64> = entries.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        entries.len(),
        unique.len(),
        "an event reached the stream twice"
    );
    let written: HashSet<i64> = product_of.keys().copied().collect();
    assert_eq!(unique, written, "the stream holds exactly the audit log");
    let mut last_of_product: HashMap<&str, i64> = HashMap::new();
    let mut crossed = 0;
    for (at, (seq, id)) in entries.iter().enumerate() {
        let (product, stored_id) = product_of[seq];
        assert_eq!(id, stored_id, "entry {at}: seq {seq}'s id");
        if let Some(last) = last_of_product.insert(product, *seq) {
            assert!(
                last < *seq,
                "entry {at}: seq {seq} of product {product} follows its seq {last}"
            );
        }
        if at > 0 && entries[at - 1].0 > *seq {
            crossed += 1;
        }
    }

    // The consumer's read model equals the API's stock rows, both over HTTP.
    let products = api.product_ids().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let expected = api.stock_over_http().await;
        let got = consumer.rows_over_http(&products).await;
        if expected == got {
            break expected.len();
        }
        if Instant::now() > deadline {
            let differing: BTreeMap<_, _> = expected
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(*v))
                .take(5)
                .map(|(k, v)| (k.clone(), (*v, got.get(k).copied())))
                .collect();
            panic!(
                "the read model did not converge: {} rows in the API, {} in the consumer; \
                 first differences (API, consumer): {differing:?}",
                expected.len(),
                got.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(inbox_count(&projection_path), events.len() as i64);
    let text = consumer.metrics().await;
    assert_eq!(
        metric(&text, "consumer_duplicates_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(metric(&text, "consumer_gaps_total"), Some(0.0), "{text}");
    let survivor_metrics = survivor.metrics().await.expect("survivor /metrics");
    // What the dead leader left in the stream without marking it: the survivor found it there
    // (reconciled) instead of sending it again.
    let sent_by_survivor = survivor.sent().await.expect("survivor /metrics") as i64;
    let left_unmarked = events.len() as i64 - sent_by_survivor - marked_at_kill;
    assert!(
        left_unmarked > 0,
        "the leader must die with events published but unmarked, or the takeover's \
         reconciliation went untested"
    );
    assert_eq!(
        metric(&survivor_metrics, "relay_leadership_changes_total"),
        Some(1.0),
        "the survivor became leader once"
    );
    let types: HashSet<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect();
    for kind in [
        "stock.created",
        "stock.updated",
        "stock.transferred",
        "reservation.created",
        "reservation.confirmed",
        "reservation.cancelled",
        "reservation.expired",
        "reservation.extended",
    ] {
        assert!(types.contains(kind), "no {kind} among {types:?}");
    }
    eprintln!(
        "postgres end to end: {writes} writes, {} events, {in_stream_at_kill} in the stream at \
         the kill ({marked_at_kill} marked, {left_unmarked} published but unmarked, reconciled; \
         {attempts} lock attempts timed out); standby published {takeover:?} after it; {crossed} entries follow a larger \
         seq (of another product); {rows} rows equal; chain up in {ready:?}, test took {:?}",
        events.len(),
        started.elapsed()
    );
}
