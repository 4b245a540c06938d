//! The operations metrics on `/metrics`: every series is there from the start; a write shows
//! up as a group commit, an expired reservation as an expiry-lag sample.

mod common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with};

/// The value of the first sample line that starts with `series` (labels included, if given).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn every_operations_metric_is_exposed_from_the_start() {
    let app = spawn_app().await;

    let reply = app.get_public("/metrics").await;

    reply.expect_status(200);
    let text = &reply.text;
    for series in [
        "db_write_batch_size_count",
        "db_commit_duration_seconds_count",
        "db_writer_queue_depth",
        "reservation_expiry_lag_seconds_count",
        "reservation_expiry_last_run_timestamp_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(value(text, series).is_some(), "{series} missing:\n{text}");
    }
    for histogram in [
        "db_write_batch_size",
        "db_commit_duration_seconds",
        "reservation_expiry_lag_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is a histogram (with buckets), not a summary"
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        value(
            text,
            &format!("inventory_build_info{{version=\"{version}\"}}")
        ),
        Some(1.0)
    );
    assert!(value(text, "process_resident_memory_bytes") > Some(1e6));
    assert!(value(text, "process_start_time_seconds") > Some(1.7e9));
    app.stop().await;
}

#[tokio::test]
async fn a_write_is_a_group_commit_and_an_expiry_records_its_lag() {
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_millis(200)).await;
    let before = app.get_public("/metrics").await.text;
    let commits_before = value(&before, "db_write_batch_size_count").unwrap_or(0.0);
    let expiries_before = value(&before, "reservation_expiry_lag_seconds_count").unwrap_or(0.0);

    let product = app.product_with_stock("OPS-METRICS-1", "MAD-001", 5).await;
    app.reserve(&product, "MAD-001", 1, Some(1)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = app.get_public("/metrics").await.text;
        if value(&text, "reservation_expiry_lag_seconds_count") > Some(expiries_before) {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no expiry recorded:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // product, stock, reservation, expiry: at least four writes, each in some commit.
    let commits = value(&text, "db_write_batch_size_count").expect("commits");
    assert!(
        commits >= commits_before + 4.0,
        "{commits_before} -> {commits}"
    );
    let writes = value(&text, "db_write_batch_size_sum").expect("writes");
    assert!(writes >= 4.0, "{writes}");
    assert!(value(&text, "db_commit_duration_seconds_sum") > Some(0.0));
    let last_pass = value(&text, "reservation_expiry_last_run_timestamp_seconds").expect("pass");
    assert!(last_pass > 1.7e9, "{last_pass}");
    app.stop().await;
}
