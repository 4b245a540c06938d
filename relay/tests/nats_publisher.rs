//! The NATS JetStream publisher against a real `nats-server -js`, driven directly.

mod brokers;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brokers::{
    NatsServer, TestDb, expected_envelope, free_port, nats_stream_count, read_nats, within,
};
use inventory_relay::publisher::nats::{NatsPublisher, NatsSettings};
use inventory_relay::publisher::{PublishError, Publisher};

const STREAM: &str = "INVENTORY_EVENTS";

fn settings(url: &str) -> NatsSettings {
    let mut settings = NatsSettings::new(url, STREAM);
    settings.connection.nats_timeout = Duration::from_secs(2);
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_stored_once_in_order_with_subject_headers_and_envelope() {
    within(Duration::from_secs(120), async {
        let db = TestDb::new().await;
        let nats = NatsServer::start(db.dir());
        let total = db.seed(6, 50).await;
        let events = db.pending(10_000).await;

        let mut publisher = NatsPublisher::new(&settings(&nats.url())).expect("publisher");
        for batch in events.chunks(70) {
            publisher.publish(batch).await.expect("batch acknowledged");
            db.mark(&batch.iter().map(|e| e.seq).collect::<Vec<_>>())
                .await;
        }

        let records = read_nats(&nats.url(), STREAM, total as u64).await;
        assert_eq!(records.len(), total, "every event exactly once");
        let seqs: Vec<i64> = records.iter().map(|r| r.seq()).collect();
        assert_eq!(
            seqs,
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            "stream order = seq order"
        );
        for (record, event) in records.iter().zip(&events) {
            assert_eq!(record.subject, "inventory.events.stock.updated");
            assert_eq!(record.headers["Nats-Msg-Id"], event.id);
            assert_eq!(record.headers["event_type"], "stock.updated");
            assert_eq!(record.headers["seq"], event.seq.to_string());
            let payload: serde_json::Value =
                serde_json::from_str(&record.payload).expect("JSON value");
            assert_eq!(payload, expected_envelope(event));
        }
        assert_eq!(nats_stream_count(&nats.url(), STREAM).await, total as u64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_relay_neither_loses_nor_duplicates_events() {
    within(Duration::from_secs(120), async {
        let db = TestDb::new().await;
        let nats = NatsServer::start(db.dir());
        db.seed(4, 25).await;
        let pending = db.pending(1_000).await;

        // A relay published the first 41 events and died before marking them.
        let mut crashed = NatsPublisher::new(&settings(&nats.url())).expect("publisher");
        crashed.publish(&pending[..41]).await.expect("acknowledged");
        drop(crashed);

        let mut restarted = NatsPublisher::new(&settings(&nats.url())).expect("publisher");
        let found = restarted
            .already_published(pending[0].seq, 1_000)
            .await
            .expect("tail read");
        assert_eq!(
            found,
            pending[..41].iter().map(|e| e.seq).collect::<Vec<_>>()
        );

        // Even a blind re-publish of all of them stores nothing twice (Nats-Msg-Id).
        restarted.publish(&pending).await.expect("acknowledged");
        assert_eq!(nats_stream_count(&nats.url(), STREAM).await, 100);
        let records = read_nats(&nats.url(), STREAM, 100).await;
        let seqs: Vec<i64> = records.iter().map(|r| r.seq()).collect();
        assert_eq!(seqs, pending.iter().map(|e| e.seq).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_stream_loses_nothing() {
    within(Duration::from_secs(180), async {
        let db = TestDb::new().await;
        let nats = NatsServer::start(db.dir());
        let url = nats.url();
        let total = db.seed(5, 200).await;
        let mut publisher = NatsPublisher::new(&settings(&url)).expect("publisher");

        // Half-way through, another thread kills the server and starts it again 2 s later on
        // the same port and store, while batches keep going out.
        let half_way = Arc::new(AtomicBool::new(false));
        let restarter = {
            let half_way = Arc::clone(&half_way);
            let mut nats = nats;
            std::thread::spawn(move || {
                while !half_way.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                nats.restart(Duration::from_secs(2));
                nats
            })
        };
        let mut transient_failures = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let batch = db.pending(40).await;
            if batch.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "relaying did not finish"
            );
            let done = match publisher.publish(&batch).await {
                Ok(()) => batch.len(),
                Err(failure) => {
                    assert!(
                        matches!(failure.error, PublishError::Transient(_)),
                        "{:?}",
                        failure.error
                    );
                    transient_failures += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    failure.published
                }
            };
            db.mark(&batch[..done].iter().map(|e| e.seq).collect::<Vec<_>>())
                .await;
            if db.count_pending().await < (total as i64) / 2 {
                half_way.store(true, Ordering::SeqCst);
            }
        }
        let nats = restarter.join().expect("restart thread");
        assert!(transient_failures >= 1, "the restart was noticed");

        let records = read_nats(&nats.url(), STREAM, total as u64).await;
        let seqs: BTreeSet<i64> = records.iter().map(|r| r.seq()).collect();
        assert_eq!(records.len(), total, "nothing lost, nothing twice");
        assert_eq!(seqs.len(), total);
        // Per subject-and-product, in order.
        let mut per_product: HashMap<String, Vec<i64>> = HashMap::new();
        for record in &records {
            let envelope: serde_json::Value = serde_json::from_str(&record.payload).expect("JSON");
            let product = envelope["aggregate_id"]
                .as_str()
                .expect("aggregate id")
                .to_owned();
            per_product.entry(product).or_default().push(record.seq());
        }
        for (product, seqs) in per_product {
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{product}: {seqs:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_gives_transient_errors_not_a_start_failure() {
    within(Duration::from_secs(60), async {
        let db = TestDb::new().await;
        db.seed(1, 3).await;
        let events = db.pending(10).await;
        let mut publisher =
            NatsPublisher::new(&settings(&format!("nats://127.0.0.1:{}", free_port())))
                .expect("no connection needed");
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
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_server_payload_limit_is_rejected_after_the_ones_before_it() {
    within(Duration::from_secs(60), async {
        let db = TestDb::new().await;
        let nats = NatsServer::start(db.dir());
        // The third event carries 2 MB, over the server's 1 MB max_payload.
        db.seed_with(1, 4, |_, round| {
            if round == 2 {
                "x".repeat(2_000_000)
            } else {
                "restock".into()
            }
        })
        .await;
        let events = db.pending(10).await;
        let mut publisher = NatsPublisher::new(&settings(&nats.url())).expect("publisher");
        // The first publish learns the server's limit on connecting.
        publisher.publish(&events[..1]).await.expect("first");
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
        assert_eq!(nats_stream_count(&nats.url(), STREAM).await, 2);
    })
    .await;
}
