//! Redis going away: writes keep succeeding, the relay says the broker is down, and everything
//! arrives exactly once, in order, when Redis is back.

mod common;

use std::time::Duration;

use common::{RedisServer, RunningRelay, STREAM, TestDb, metric, settings, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_during_a_redis_outage_arrive_once_in_order_when_it_returns() {
    let mut redis = RedisServer::start().await;
    let db = TestDb::new().await;
    let relay = RunningRelay::start(settings(&db.path(), redis.port, &[])).await;
    wait_until(
        Duration::from_secs(10),
        "health 200 before the outage",
        || async { relay.health().await.0 == 200 },
    )
    .await;

    redis.stop();
    let written = db.append(500, 1).await;
    assert_eq!(
        written,
        (1..=500).collect::<Vec<i64>>(),
        "every write succeeded"
    );

    wait_until(
        Duration::from_secs(10),
        "the relay reports the broker down",
        || async {
            let (status, body) = relay.health().await;
            let text = relay.metrics().await;
            status == 503
                && body["broker"]["status"] == "down"
                && metric(&text, "relay_broker_up") == Some(0.0)
        },
    )
    .await;
    let (_, body) = relay.health().await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["pending"], 500);
    assert_eq!(
        db.counts().await,
        (0, 500, 0),
        "nothing marked while Redis is down"
    );
    let text = relay.metrics().await;
    assert!(metric(&text, "relay_publish_failures_total{reason=\"transient\"}") >= Some(1.0));

    redis.restart().await;
    wait_until(
        Duration::from_secs(30),
        "the backlog drains after Redis returns",
        || async { db.counts().await == (500, 0, 0) },
    )
    .await;
    assert_eq!(
        redis.seqs(STREAM).await,
        written,
        "every event once, in order"
    );
    wait_until(Duration::from_secs(5), "health 200 again", || async {
        relay.health().await.0 == 200
    })
    .await;
    let text = relay.metrics().await;
    assert_eq!(metric(&text, "relay_broker_up"), Some(1.0));
    assert_eq!(metric(&text, "relay_backoff_seconds"), Some(0.0));
    assert_eq!(metric(&text, "relay_events_dead_total"), Some(0.0));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_starts_while_redis_is_down_and_drains_when_it_appears() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let db = TestDb::new().await;
    let written = db.append(50, 10).await;

    let relay = RunningRelay::start(settings(&db.path(), redis.port, &[])).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = relay.health().await;
    assert_eq!(status, 503);
    assert_eq!(body["broker"]["name"], "redis");
    assert_eq!(body["broker"]["status"], "down");
    assert_eq!(body["database"], "up");
    assert_eq!(body["pending"], 50);
    assert!(
        relay.handle.as_ref().is_some_and(|h| !h.is_finished()),
        "still running"
    );

    redis.restart().await;
    wait_until(Duration::from_secs(30), "the backlog drains", || async {
        db.counts().await == (50, 0, 0)
    })
    .await;
    assert_eq!(redis.seqs(STREAM).await, written);
    relay.stop().await;
}
