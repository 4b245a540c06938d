//! Drain benchmark (not a timed test; `#[ignore]`d): a 100,000-event backlog relayed by the
//! release binary to a NATS JetStream server (`nats-server -js`). Run through `bench/nats_drain.sh`.

mod brokers;

use std::time::{Duration, Instant};

use brokers::{NatsServer, Relay, TestDb, nats_stream_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with bench/nats_drain.sh"]
async fn drain_a_100k_backlog_to_nats() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let batch = std::env::var("RELAY_BATCH_SIZE").unwrap_or_else(|_| "1000".to_owned());
    let db = TestDb::new().await;
    let nats = NatsServer::start(db.dir());
    let seeded = db.seed_mixed(100, events / 100).await;

    let started = Instant::now();
    let relay = Relay::start(
        &db,
        &[
            ("MESSAGE_BROKER", "nats".to_owned()),
            ("NATS_URL", nats.url()),
            ("RELAY_BATCH_SIZE", batch.clone()),
            ("LOG_LEVEL", "warn".to_owned()),
        ],
    );
    db.wait_drained(Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let relay_cpu = brokers::cpu_seconds(relay.process.pid());
    let broker_cpu = brokers::cpu_seconds(nats.process.pid());
    let (first, last): (String, String) =
        sqlx::query_as("SELECT MIN(synced_at), MAX(synced_at) FROM events")
            .fetch_one(&db.db.reader)
            .await
            .expect("synced_at range");
    let spread = inventory_shared::time::from_db(&last).expect("ts")
        - inventory_shared::time::from_db(&first).expect("ts");
    let spread = spread.to_std().unwrap_or_default();
    println!(
        "CPU seconds used: relay {relay_cpu:.2}, broker {broker_cpu:.2} ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "nats drain: {seeded} events, RELAY_BATCH_SIZE={batch}: {:.2} s from relay start to drained = {:.0} events/s; \
         first to last mark {:.2} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        seeded as f64 / elapsed.as_secs_f64(),
        spread.as_secs_f64(),
        seeded as f64 / spread.as_secs_f64().max(1e-9),
    );
    assert_eq!(
        nats_stream_count(&nats.url(), "INVENTORY_EVENTS").await,
        seeded as u64,
        "every event once"
    );
}
