//! The Kafka publisher against a real Kafka-protocol broker (`tansu`), driven directly.

mod brokers;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use brokers::{Tansu, TestDb, expected_envelope, free_port, read_kafka, within};
use inventory_relay::publisher::kafka::{KafkaPublisher, KafkaSettings, partition_for};
use inventory_relay::publisher::{PublishError, Publisher};

const TOPIC: &str = "inventory-events";
const PARTITIONS: i32 = 3;

fn settings(brokers: &str) -> KafkaSettings {
    let mut settings = KafkaSettings::new(brokers, TOPIC);
    settings.kafka_timeout = Duration::from_secs(10);
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_in_order_per_product_with_key_headers_and_envelope() {
    within(Duration::from_secs(120), async {
        let db = TestDb::new().await;
        let tansu = Tansu::start_with_topic(db.dir(), TOPIC, PARTITIONS).await;
        let total = db.seed(7, 30).await;
        let events = db.pending(10_000).await;
        assert_eq!(events.len(), total);

        let mut publisher =
            KafkaPublisher::new(&settings(&tansu.brokers_addr())).expect("publisher");
        for batch in events.chunks(64) {
            publisher.publish(batch).await.expect("batch acknowledged");
            db.mark(&batch.iter().map(|e| e.seq).collect::<Vec<_>>())
                .await;
        }

        let records = read_kafka(&tansu.brokers_addr(), TOPIC, total, Duration::from_secs(2)).await;
        assert_eq!(records.len(), total, "every event exactly once");
        let by_seq: HashMap<i64, _> = records.iter().map(|r| (r.seq(), r)).collect();
        assert_eq!(by_seq.len(), total, "no seq twice");
        for event in &events {
            let record = by_seq[&event.seq];
            assert_eq!(record.key, event.partition_key);
            assert_eq!(
                record.partition,
                partition_for(event.partition_key.as_bytes(), PARTITIONS)
            );
            assert_eq!(record.headers.len(), 3, "{:?}", record.headers);
            assert_eq!(record.headers["event_id"], event.id);
            assert_eq!(record.headers["event_type"], "stock.updated");
            assert_eq!(record.headers["seq"], event.seq.to_string());
            let payload: serde_json::Value =
                serde_json::from_str(&record.payload).expect("JSON value");
            assert_eq!(payload, expected_envelope(event));
        }
        // Per product, the order on its partition is the commit order.
        let mut per_key: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
        for record in &records {
            per_key
                .entry(record.key.as_str())
                .or_default()
                .push((record.offset, record.seq()));
        }
        assert_eq!(per_key.len(), 7);
        for (key, mut offsets_and_seqs) in per_key {
            offsets_and_seqs.sort_unstable();
            let seqs: Vec<i64> = offsets_and_seqs.iter().map(|(_, s)| *s).collect();
            let mut sorted = seqs.clone();
            sorted.sort_unstable();
            assert_eq!(seqs, sorted, "records of {key} out of seq order");
            assert_eq!(seqs.len(), 30);
        }
        assert_eq!(db.count_pending().await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_already_published_names_exactly_the_events_the_topic_holds() {
    within(Duration::from_secs(120), async {
        let db = TestDb::new().await;
        let tansu = Tansu::start_with_topic(db.dir(), TOPIC, PARTITIONS).await;
        db.seed(5, 20).await;
        let pending = db.pending(1_000).await;

        // A relay published the first 37 events and died before marking them.
        let mut crashed = KafkaPublisher::new(&settings(&tansu.brokers_addr())).expect("publisher");
        crashed
            .publish(&pending[..37])
            .await
            .expect("first 37 acknowledged");
        drop(crashed);

        let mut restarted =
            KafkaPublisher::new(&settings(&tansu.brokers_addr())).expect("publisher");
        let found = restarted
            .already_published(pending[0].seq, 1_000)
            .await
            .expect("tail read");
        let expected: Vec<i64> = pending[..37].iter().map(|e| e.seq).collect();
        assert_eq!(found, expected);

        // The restarted relay marks them and publishes only the rest: nothing twice.
        db.mark(&found).await;
        let rest = db.pending(1_000).await;
        assert_eq!(rest.len(), 63);
        restarted.publish(&rest).await.expect("rest acknowledged");
        let records = read_kafka(&tansu.brokers_addr(), TOPIC, 100, Duration::from_secs(2)).await;
        let seqs: BTreeSet<i64> = records.iter().map(|r| r.seq()).collect();
        assert_eq!(records.len(), 100);
        assert_eq!(seqs, pending.iter().map(|e| e.seq).collect());

        // With everything published, all pending events of a replayed page are found.
        let found_again = restarted
            .already_published(pending[0].seq, 1_000)
            .await
            .expect("tail read");
        assert_eq!(found_again.len(), 100);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_event_is_rejected_after_the_events_before_it_are_acknowledged() {
    within(Duration::from_secs(120), async {
        let db = TestDb::new().await;
        let tansu = Tansu::start_with_topic(db.dir(), TOPIC, PARTITIONS).await;
        // The third event carries 2 MB, over librdkafka's 1 MB `message.max.bytes`.
        db.seed_with(1, 4, |_, round| {
            if round == 2 {
                "x".repeat(2_000_000)
            } else {
                "restock".into()
            }
        })
        .await;
        let events = db.pending(10).await;

        let mut publisher =
            KafkaPublisher::new(&settings(&tansu.brokers_addr())).expect("publisher");
        let failure = publisher
            .publish(&events)
            .await
            .expect_err("the big one is refused");
        assert_eq!(failure.published, 2);
        assert!(
            matches!(failure.error, PublishError::Rejected(_)),
            "{:?}",
            failure.error
        );
        assert!(
            failure.error.to_string().contains("too large"),
            "{}",
            failure.error
        );

        // The event after it goes through on its own; nothing was stored twice.
        publisher.publish(&events[3..]).await.expect("the last one");
        let records = read_kafka(&tansu.brokers_addr(), TOPIC, 3, Duration::from_secs(2)).await;
        let seqs: Vec<i64> = records.iter().map(|r| r.seq()).collect();
        assert_eq!(seqs, vec![events[0].seq, events[1].seq, events[3].seq]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_down_gives_transient_errors_not_a_start_failure() {
    within(Duration::from_secs(60), async {
        let db = TestDb::new().await;
        db.seed(1, 3).await;
        let events = db.pending(10).await;
        let mut unreachable = settings(&format!("127.0.0.1:{}", free_port()));
        unreachable.kafka_timeout = Duration::from_secs(2);

        let mut publisher =
            KafkaPublisher::new(&unreachable).expect("construction does not need the broker");
        let failure = publisher
            .publish(&events)
            .await
            .expect_err("nobody listens");
        assert_eq!(failure.published, 0);
        assert!(
            matches!(failure.error, PublishError::Transient(_)),
            "{:?}",
            failure.error
        );
        assert!(matches!(
            publisher.ping().await,
            Err(PublishError::Transient(_))
        ));
        assert!(matches!(
            publisher.already_published(events[0].seq, 1_000).await,
            Err(PublishError::Transient(_))
        ));
    })
    .await;
}
