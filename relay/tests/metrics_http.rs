//! `/metrics`, `/livez` and `/health`: every metric from the start, and the backlog gauges
//! following a backlog down to 0.

mod common;

use std::time::Duration;

use common::{RedisServer, RunningRelay, TestDb, metric, settings, wait_until};
use inventory_relay::metrics::names;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_is_exposed_at_zero_before_anything_happens() {
    let redis = RedisServer::start().await;
    let db = TestDb::new().await;
    let relay = RunningRelay::start(settings(&db.path(), redis.port, &[])).await;

    let text = relay.metrics().await;
    for name in names::ALL {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
    for event_type in [
        "stock.created",
        "stock.updated",
        "stock.transferred",
        "reservation.created",
        "reservation.confirmed",
        "reservation.cancelled",
        "reservation.expired",
    ] {
        let series = format!("relay_events_published_total{{event_type=\"{event_type}\"}}");
        assert_eq!(metric(&text, &series), Some(0.0), "{series}");
    }
    for reason in ["transient", "rejected", "database"] {
        let series = format!("relay_publish_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&text, &series), Some(0.0), "{series}");
    }
    for series in [
        "relay_events_dead_total",
        "relay_pending_events",
        "relay_oldest_pending_age_seconds",
        "relay_backoff_seconds",
        "relay_last_publish_timestamp_seconds",
        "relay_publish_lag_seconds_count",
        "relay_batch_size_count",
    ] {
        assert_eq!(metric(&text, series), Some(0.0), "{series}");
    }
    assert!(metric(&text, "relay_broker_up").is_some());

    let livez = reqwest::get(relay.url("/livez")).await.expect("GET /livez");
    assert_eq!(livez.status(), 200);
    assert_eq!(livez.text().await.expect("body"), "ok");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_gauges_follow_a_backlog_down_to_zero() {
    let mut redis = RedisServer::start().await;
    redis.stop();
    let db = TestDb::new().await;
    let relay = RunningRelay::start(settings(
        &db.path(),
        redis.port,
        &["--relay-batch-size", "10"],
    ))
    .await;
    db.append(300, 300).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let text = relay.metrics().await;
    assert_eq!(metric(&text, "relay_pending_events"), Some(300.0));
    let age = metric(&text, "relay_oldest_pending_age_seconds").expect("age");
    assert!((0.2..30.0).contains(&age), "oldest age {age}");

    redis.restart().await;
    let mut seen = vec![300.0];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.last() != Some(&0.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "pending never reached 0: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        seen.push(metric(&relay.metrics().await, "relay_pending_events").expect("pending"));
    }
    assert!(
        seen.windows(2).all(|w| w[1] <= w[0]),
        "pending never goes up: {seen:?}"
    );

    let text = relay.metrics().await;
    assert_eq!(metric(&text, "relay_oldest_pending_age_seconds"), Some(0.0));
    for event_type in [
        "stock.created",
        "stock.updated",
        "reservation.created",
        "stock.transferred",
    ] {
        let series = format!("relay_events_published_total{{event_type=\"{event_type}\"}}");
        assert_eq!(metric(&text, &series), Some(75.0), "{series}");
    }
    assert_eq!(
        metric(&text, "relay_publish_lag_seconds_count"),
        Some(300.0)
    );
    assert_eq!(metric(&text, "relay_batch_size_count"), Some(30.0));
    assert_eq!(metric(&text, "relay_batch_size_sum"), Some(300.0));
    assert!(metric(&text, "relay_last_publish_timestamp_seconds") > Some(1.7e9));

    wait_until(Duration::from_secs(5), "health 200", || async {
        relay.health().await.0 == 200
    })
    .await;
    let (_, body) = relay.health().await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["broker"]["name"], "redis");
    assert_eq!(body["broker"]["status"], "up");
    assert_eq!(body["broker"]["error"], serde_json::Value::Null);
    assert_eq!(body["database"], "up");
    assert_eq!(body["pending"], 0);
    assert_eq!(body["oldest_pending_age_seconds"], 0.0);
    assert!(
        body["last_publish_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    relay.stop().await;
}
