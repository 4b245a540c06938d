//! The Redis publisher against a real `redis-server`: fields, order, exactly-once, and the
//! step's answers when Redis is up, already holds events, or is down.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{RedisServer, RunningRelay, STREAM, TestDb, settings, wait_until};
use inventory_relay::metrics::Metrics;
use inventory_relay::publisher::Publisher;
use inventory_relay::publisher::redis::RedisPublisher;
use inventory_relay::status::Status;
use inventory_relay::step::{PublishStep, StepOutcome, StepSettings};
use inventory_shared::outbox;
use inventory_shared::time;

type Row = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
);

fn step_over(db: &TestDb, redis: &RedisServer, batch_size: u32) -> PublishStep {
    let settings = settings(&db.path(), redis.port, &[]);
    let publisher = RedisPublisher::new(&settings.redis).expect("publisher");
    PublishStep::new(
        &db.path(),
        db.db.writer.clone(),
        Box::new(publisher),
        StepSettings {
            batch_size,
            max_attempts: 3,
        },
        Metrics::new().expect("metrics"),
        Arc::new(Status::new("redis")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_stream_once_in_order_with_the_design_fields() {
    let redis = RedisServer::start().await;
    let db = TestDb::new().await;
    let backlog = db.append(300, 50).await;
    let relay = RunningRelay::start(settings(
        &db.path(),
        redis.port,
        &["--relay-batch-size", "64"],
    ))
    .await;
    let live = db.append(200, 1).await;

    wait_until(Duration::from_secs(30), "500 events published", || async {
        db.counts().await == (500, 0, 0)
    })
    .await;
    relay.stop().await;

    let entries = redis.entries(STREAM).await;
    let expected: Vec<i64> = backlog.iter().chain(&live).copied().collect();
    assert_eq!(expected, (1..=500).collect::<Vec<i64>>());
    let seqs: Vec<i64> = entries
        .iter()
        .map(|e| e["seq"].parse().expect("seq"))
        .collect();
    assert_eq!(seqs, expected, "every event once, in seq order");

    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, id, event_type, aggregate_type, aggregate_id, store_id, payload, created_at \
         FROM events ORDER BY seq",
    )
    .fetch_all(&db.db.reader)
    .await
    .expect("rows");
    let field_names: BTreeSet<&str> = [
        "id",
        "seq",
        "event_type",
        "aggregate_type",
        "aggregate_id",
        "store_id",
        "created_at",
        "payload",
        "timestamp",
    ]
    .into();
    for (entry, row) in entries.iter().zip(&rows) {
        let names: BTreeSet<&str> = entry.keys().map(String::as_str).collect();
        assert_eq!(names, field_names);
        assert_eq!(entry["seq"], row.0.to_string());
        assert_eq!(entry["id"], row.1);
        assert_eq!(entry["event_type"], row.2);
        assert_eq!(entry["aggregate_type"], row.3);
        assert_eq!(entry["aggregate_id"], row.4);
        assert_eq!(Some(entry["store_id"].clone()), row.5);
        assert_eq!(entry["payload"], row.6, "payload byte for byte as stored");
        let created = time::from_db(&row.7).expect("stored time");
        assert_eq!(entry["created_at"], time::to_wire(&created));
        let sent = time::from_db(&entry["timestamp"]).expect("timestamp is RFC 3339");
        assert!(sent >= created - chrono::Duration::milliseconds(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_publishes_batches_then_reports_empty() {
    let redis = RedisServer::start().await;
    let db = TestDb::new().await;
    db.append(5, 5).await;
    let mut step = step_over(&db, &redis, 2);

    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(2));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(2));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(1));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Empty);

    assert_eq!(redis.seqs(STREAM).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(db.counts().await, (5, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lingering_marks_are_finished_when_due_and_nothing_is_sent_twice_meanwhile() {
    let redis = RedisServer::start().await;
    let db = TestDb::new().await;
    db.append(4, 4).await;
    let mut step = step_over(&db, &redis, 3).lingering_marks();

    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(3));
    // Within the interval of the first mark: the last event waits to be marked, and the
    // steps that find nothing new do not read it again.
    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(1));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Empty);
    assert_eq!(step.step().await.expect("step"), StepOutcome::Empty);
    assert_eq!(redis.seqs(STREAM).await, vec![1, 2, 3, 4]);
    let due = step.mark_due().expect("a mark is due later");

    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
    step.settle().await.expect("settle");
    assert_eq!(step.mark_due(), None);
    assert_eq!(db.counts().await, (4, 0, 0));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Empty);
    assert_eq!(redis.seqs(STREAM).await, vec![1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_already_in_the_stream_after_a_crash_are_marked_not_sent_again() {
    let redis = RedisServer::start().await;
    let db = TestDb::new().await;
    db.append(8, 8).await;
    // A previous relay published the first five, then died before marking them.
    let settings = settings(&db.path(), redis.port, &[]);
    let mut earlier = RedisPublisher::new(&settings.redis).expect("publisher");
    let reader = inventory_shared::db::open_reader(&db.path()).expect("reader");
    let first_five = outbox::fetch_pending(&reader, 5).expect("pending");
    earlier.publish(&first_five).await.expect("publish");
    assert_eq!(db.counts().await, (0, 8, 0));

    let mut step = step_over(&db, &redis, 100);
    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(8));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Empty);

    assert_eq!(redis.seqs(STREAM).await, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(db.counts().await, (8, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_while_redis_is_down_reports_broker_down_and_changes_nothing() {
    let mut redis = RedisServer::start().await;
    let db = TestDb::new().await;
    db.append(3, 3).await;
    let mut step = step_over(&db, &redis, 100);
    redis.stop();

    for _ in 0..3 {
        match step.step().await.expect("step") {
            StepOutcome::BrokerDown {
                published: 0,
                error,
            } => assert!(!error.is_empty()),
            other => panic!("expected BrokerDown, got {other:?}"),
        }
    }
    let attempts: Vec<(i64, i64, Option<String>)> =
        sqlx::query_as("SELECT seq, attempts, dead_at FROM events ORDER BY seq")
            .fetch_all(&db.db.reader)
            .await
            .expect("rows");
    assert_eq!(attempts, vec![(1, 0, None), (2, 0, None), (3, 0, None)]);

    redis.restart().await;
    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(3));
    assert_eq!(redis.seqs(STREAM).await, vec![1, 2, 3]);
}
