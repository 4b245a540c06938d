//! The `inventory-relay` binary with `MESSAGE_BROKER=kafka` against a real Kafka-protocol
//! broker (`tansu`).

mod brokers;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use brokers::{
    KafkaRecord, Relay, Tansu, TestDb, create_topic, expected_envelope, free_port, read_kafka,
    wait_for_port, within,
};
use inventory_relay::publisher::kafka::partition_for;

const TOPIC: &str = "inventory-events";
const PARTITIONS: i32 = 3;

fn kafka_env(brokers: &str, batch: u32) -> Vec<(&'static str, String)> {
    vec![
        ("MESSAGE_BROKER", "kafka".to_owned()),
        ("KAFKA_BROKERS", brokers.to_owned()),
        ("KAFKA_TOPIC", TOPIC.to_owned()),
        ("KAFKA_TIMEOUT", "5s".to_owned()),
        ("RELAY_BATCH_SIZE", batch.to_string()),
    ]
}

/// Every `seq` exactly once, the whole outbox, and each product's records in `seq` order on
/// one partition.
fn assert_once_in_order(records: &[KafkaRecord], all_seqs: &BTreeSet<i64>) {
    let seqs: BTreeSet<i64> = records.iter().map(KafkaRecord::seq).collect();
    assert_eq!(seqs.len(), records.len(), "a seq arrived twice");
    assert_eq!(&seqs, all_seqs, "the topic holds exactly the outbox");
    let mut per_key: HashMap<&str, Vec<(i32, i64, i64)>> = HashMap::new();
    for r in records {
        per_key
            .entry(r.key.as_str())
            .or_default()
            .push((r.partition, r.offset, r.seq()));
    }
    for (key, mut placed) in per_key {
        let partitions: BTreeSet<i32> = placed.iter().map(|p| p.0).collect();
        assert_eq!(
            partitions.len(),
            1,
            "{key} spread over partitions {partitions:?}"
        );
        placed.sort_unstable();
        assert!(
            placed.windows(2).all(|w| w[0].2 < w[1].2),
            "{key} out of seq order: {placed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_sends_every_event_once_in_order_with_key_and_headers() {
    within(Duration::from_secs(150), async {
        let db = TestDb::new().await;
        let tansu = Tansu::start_with_topic(db.dir(), TOPIC, PARTITIONS).await;
        let total = db.seed_mixed(6, 50).await;
        let events = db.pending(10_000).await;

        let _relay = Relay::start(&db, &kafka_env(&tansu.brokers_addr(), 64));
        db.wait_drained(Duration::from_secs(60)).await;

        let records = read_kafka(&tansu.brokers_addr(), TOPIC, total, Duration::from_secs(2)).await;
        assert_eq!(records.len(), 300);
        assert_once_in_order(&records, &events.iter().map(|e| e.seq).collect());
        let by_seq: HashMap<i64, &KafkaRecord> = records.iter().map(|r| (r.seq(), r)).collect();
        for event in &events {
            let record = by_seq[&event.seq];
            assert_eq!(record.key, event.partition_key);
            assert_eq!(
                record.partition,
                partition_for(event.partition_key.as_bytes(), PARTITIONS)
            );
            assert_eq!(record.headers["event_id"], event.id);
            assert_eq!(record.headers["event_type"], event.event_type);
            assert_eq!(record.headers["seq"], event.seq.to_string());
            let payload: serde_json::Value = serde_json::from_str(&record.payload).expect("JSON");
            assert_eq!(payload, expected_envelope(event));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_started_ten_seconds_after_the_relay_gets_every_event_once_in_order() {
    within(Duration::from_secs(180), async {
        let db = TestDb::new().await;
        let total = db.seed_mixed(5, 40).await;
        let all: BTreeSet<i64> = db.pending(10_000).await.iter().map(|e| e.seq).collect();
        let port = free_port();
        let brokers = Tansu::brokers(port);

        let mut relay = Relay::start(&db, &kafka_env(&brokers, 50));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            relay.process.is_running(),
            "the relay keeps running without its broker"
        );
        assert_eq!(
            db.count_pending().await,
            200,
            "nothing counts as published yet"
        );

        let _tansu = Tansu::spawn(port, db.dir());
        wait_for_port(port, Duration::from_secs(30));
        create_topic(&brokers, TOPIC, PARTITIONS).await;
        db.wait_drained(Duration::from_secs(90)).await;

        let records = read_kafka(&brokers, TOPIC, total, Duration::from_secs(2)).await;
        assert_eq!(records.len(), 200);
        assert_once_in_order(&records, &all);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_drain_and_restarted_sends_nothing_twice_and_misses_nothing() {
    within(Duration::from_secs(180), async {
        let db = TestDb::new().await;
        let tansu = Tansu::start_with_topic(db.dir(), TOPIC, PARTITIONS).await;
        let total = db.seed_mixed(10, 1_000).await;
        let all: BTreeSet<i64> = db.pending(100_000).await.iter().map(|e| e.seq).collect();

        let mut relay = Relay::start(&db, &kafka_env(&tansu.brokers_addr(), 200));
        db.wait_published_at_least(3_000, Duration::from_secs(60))
            .await;
        relay.process.kill();
        assert!(
            db.count_pending().await > 0,
            "the kill must happen mid-drain"
        );

        let _restarted = Relay::start(&db, &kafka_env(&tansu.brokers_addr(), 200));
        db.wait_drained(Duration::from_secs(120)).await;

        let records = read_kafka(&tansu.brokers_addr(), TOPIC, total, Duration::from_secs(3)).await;
        assert_eq!(records.len(), 10_000, "no event missing, none twice");
        assert_once_in_order(&records, &all);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_by_a_relay_that_died_before_marking_them_are_not_sent_again() {
    use inventory_relay::publisher::Publisher;
    use inventory_relay::publisher::kafka::{KafkaPublisher, KafkaSettings};
    within(Duration::from_secs(150), async {
        let db = TestDb::new().await;
        let tansu = Tansu::start_with_topic(db.dir(), TOPIC, PARTITIONS).await;
        let total = db.seed_mixed(7, 100).await;
        let pending = db.pending(100_000).await;
        let all: BTreeSet<i64> = pending.iter().map(|e| e.seq).collect();

        // The crashed relay: its last batch (events 0..333) reached Kafka, the marks did not
        // reach the database.
        let settings = KafkaSettings::new(tansu.brokers_addr(), TOPIC);
        let mut crashed = KafkaPublisher::new(&settings).expect("publisher");
        crashed
            .publish(&pending[..333])
            .await
            .expect("acknowledged");
        drop(crashed);

        let _relay = Relay::start(&db, &kafka_env(&tansu.brokers_addr(), 100));
        db.wait_drained(Duration::from_secs(60)).await;

        let records = read_kafka(&tansu.brokers_addr(), TOPIC, total, Duration::from_secs(3)).await;
        assert_eq!(
            records.len(),
            700,
            "the 333 events already in Kafka were not sent again"
        );
        assert_once_in_order(&records, &all);
    })
    .await;
}
