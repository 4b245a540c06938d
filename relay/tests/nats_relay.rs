//! The `inventory-relay` binary with `MESSAGE_BROKER=nats` against a real `nats-server -js`.

mod brokers;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use brokers::{
    NatsRecord, NatsServer, Relay, TestDb, expected_envelope, nats_stream_count, read_nats, within,
};

const STREAM: &str = "INVENTORY_EVENTS";

fn nats_env(server: &NatsServer, batch: u32) -> Vec<(&'static str, String)> {
    vec![
        ("MESSAGE_BROKER", "nats".to_owned()),
        ("NATS_URL", server.url()),
        ("NATS_STREAM", STREAM.to_owned()),
        ("NATS_TIMEOUT", "2s".to_owned()),
        ("RELAY_BATCH_SIZE", batch.to_string()),
    ]
}

/// Every subject's and every product's messages are in `seq` order, and no `seq` is there twice.
fn assert_in_order_once(records: &[NatsRecord]) {
    let mut per_subject: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut per_product: HashMap<String, Vec<i64>> = HashMap::new();
    for record in records {
        per_subject
            .entry(record.subject.as_str())
            .or_default()
            .push(record.seq());
        let envelope: serde_json::Value = serde_json::from_str(&record.payload).expect("JSON");
        let product = envelope["payload"]["product_id"]
            .as_str()
            .expect("product id")
            .to_owned();
        per_product.entry(product).or_default().push(record.seq());
    }
    for (key, seqs) in per_subject
        .iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(per_product.iter().map(|(k, v)| (k.clone(), v)))
    {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {seqs:?}"
        );
    }
    let unique: BTreeSet<i64> = records.iter().map(NatsRecord::seq).collect();
    assert_eq!(unique.len(), records.len(), "a seq is in the stream twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_stores_every_event_once_in_order_per_subject() {
    within(Duration::from_secs(120), async {
        let db = TestDb::new().await;
        let nats = NatsServer::start(db.dir());
        let total = db.seed_mixed(4, 60).await;
        let events = db.pending(10_000).await;

        let _relay = Relay::start(&db, &nats_env(&nats, 50));
        db.wait_drained(Duration::from_secs(60)).await;

        let records = read_nats(&nats.url(), STREAM, total as u64).await;
        assert_eq!(records.len(), 240);
        assert_in_order_once(&records);
        // The relay publishes in commit order, so the stream holds exactly the outbox, in order.
        for (record, event) in records.iter().zip(&events) {
            assert_eq!(
                record.subject,
                format!("inventory.events.{}", event.event_type)
            );
            assert_eq!(record.headers["Nats-Msg-Id"], event.id);
            assert_eq!(record.headers["seq"], event.seq.to_string());
            assert_eq!(record.headers["event_type"], event.event_type);
            let payload: serde_json::Value = serde_json::from_str(&record.payload).expect("JSON");
            assert_eq!(payload, expected_envelope(event));
        }
        let subjects: BTreeSet<&str> = records.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(
            subjects,
            BTreeSet::from([
                "inventory.events.reservation.cancelled",
                "inventory.events.stock.updated"
            ])
        );
        // Nothing more arrives later.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(nats_stream_count(&nats.url(), STREAM).await, 240);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_stream_loses_nothing() {
    within(Duration::from_secs(180), async {
        let db = TestDb::new().await;
        let mut nats = NatsServer::start(db.dir());
        let total = db.seed_mixed(10, 1_000).await;

        let _relay = Relay::start(&db, &nats_env(&nats, 50));
        db.wait_published_at_least(2_000, Duration::from_secs(60))
            .await;
        assert!(
            db.count_pending().await > 0,
            "the restart must happen mid-stream"
        );
        tokio::task::block_in_place(|| nats.restart(Duration::from_secs(2)));
        db.wait_drained(Duration::from_secs(120)).await;

        let records = read_nats(&nats.url(), STREAM, total as u64).await;
        assert_eq!(records.len(), 10_000, "nothing lost, nothing twice");
        assert_in_order_once(&records);
        assert_eq!(nats_stream_count(&nats.url(), STREAM).await, 10_000);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_drain_and_restarted_stores_no_duplicates() {
    within(Duration::from_secs(180), async {
        let db = TestDb::new().await;
        let nats = NatsServer::start(db.dir());
        let total = db.seed_mixed(10, 1_000).await;

        let mut relay = Relay::start(&db, &nats_env(&nats, 200));
        db.wait_published_at_least(3_000, Duration::from_secs(60))
            .await;
        relay.process.kill();
        let left = db.count_pending().await;
        assert!(left > 0, "the kill must happen mid-drain");

        let _restarted = Relay::start(&db, &nats_env(&nats, 200));
        db.wait_drained(Duration::from_secs(120)).await;

        let records = read_nats(&nats.url(), STREAM, total as u64).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            nats_stream_count(&nats.url(), STREAM).await,
            10_000,
            "message count = event count"
        );
        assert_eq!(records.len(), 10_000);
        assert_in_order_once(&records);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_by_a_relay_that_died_before_marking_them_are_not_stored_again() {
    use inventory_relay::publisher::Publisher;
    use inventory_relay::publisher::nats::{NatsPublisher, NatsSettings};
    within(Duration::from_secs(120), async {
        let db = TestDb::new().await;
        let nats = NatsServer::start(db.dir());
        let total = db.seed_mixed(7, 100).await;
        let pending = db.pending(100_000).await;

        // The crashed relay: its last batch (events 0..333) reached the stream, the marks did
        // not reach the database.
        let mut crashed =
            NatsPublisher::new(&NatsSettings::new(nats.url(), STREAM)).expect("publisher");
        crashed
            .publish(&pending[..333])
            .await
            .expect("acknowledged");
        drop(crashed);

        let _relay = Relay::start(&db, &nats_env(&nats, 100));
        db.wait_drained(Duration::from_secs(60)).await;

        let records = read_nats(&nats.url(), STREAM, total as u64).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(nats_stream_count(&nats.url(), STREAM).await, 700);
        assert_eq!(records.len(), 700);
        assert_in_order_once(&records);
        let seqs: Vec<i64> = records.iter().map(NatsRecord::seq).collect();
        assert_eq!(seqs, pending.iter().map(|e| e.seq).collect::<Vec<_>>());
    })
    .await;
}
