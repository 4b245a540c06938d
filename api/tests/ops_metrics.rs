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
        "db_write_batch_unlocked_total{outcome=\"committed\"}",
        "db_write_batch_unlocked_total{outcome=\"locked_instead\"}",
        "reservation_expiry_lag_seconds_count",
        "reservation_expiry_last_run_timestamp_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
        "db_read_pool_wait_seconds_count",
        "db_read_pool_timeouts_total",
        "db_read_pool_connections{state=\"in_use\"}",
        "db_read_pool_connections{state=\"idle\"}",
        "db_read_pool_max_connections",
    ] {
        assert!(value(text, series).is_some(), "{series} missing:\n{text}");
    }
    for histogram in [
        "db_write_batch_size",
        "db_commit_duration_seconds",
        "reservation_expiry_lag_seconds",
        "db_read_pool_wait_seconds",
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

/// A list is read on a pooled connection (on both backends): its wait for the connection is
/// a sample, and the scrape shows the pool's size and its open connections. (The recorder is
/// the process's, shared by this binary's tests, all with the default four connections.)
#[tokio::test]
async fn a_list_read_waits_for_a_read_connection_and_the_scrape_shows_the_pool() {
    let app = spawn_app().await;
    let before = app.get_public("/metrics").await.text;
    let waits_before = value(&before, "db_read_pool_wait_seconds_count").expect("waits");

    app.get("/api/v1/products?limit=5").await.expect_status(200);

    let text = app.get_public("/metrics").await.text;
    let waits = value(&text, "db_read_pool_wait_seconds_count").expect("waits");
    assert!(waits >= waits_before + 1.0, "{waits_before} -> {waits}");
    assert_eq!(
        value(&text, "db_read_pool_max_connections"),
        Some(4.0),
        "{text}"
    );
    let in_use = value(&text, "db_read_pool_connections{state=\"in_use\"}").expect("in use");
    let idle = value(&text, "db_read_pool_connections{state=\"idle\"}").expect("idle");
    assert!(in_use + idle >= 1.0, "no read connection open:\n{text}");
    assert!(in_use + idle <= 4.0, "more than the pool's size:\n{text}");
    app.stop().await;
}

/// A PostgreSQL batch that waited past `lock_timeout` (5 s) is rolled back and run again,
/// and a keyed write's answer is built inside its job: the job, and the answer's building,
/// run twice when the wait comes after them (here, for the outbox's `seq` lock, which the
/// batch's write statement takes after the jobs ran). The outcome is still counted once,
/// after the commit; it used to be counted inside the job, once per run. A hold is used so
/// that no other test of this binary counts the same series.
#[tokio::test]
async fn a_keyed_write_in_a_rerun_batch_is_counted_once() {
    if common::backend() != common::Backend::Postgres {
        eprintln!("PostgreSQL-only: SQLite's writer never reruns a batch; not run on SQLite");
        return;
    }
    let app = spawn_app().await;
    let product = app.product_with_stock("OPS-RERUN-1", "MAD-001", 5).await;
    let series = "reservations_total{operation=\"create_hold\",outcome=\"ok\"}";
    let before = app.get_public("/metrics").await.text;
    let holds_before = value(&before, series).unwrap_or(0.0);
    let reruns_before = value(&before, "db_write_batch_reruns_total").unwrap_or(0.0);

    // Another session holds the outbox's `seq` lock past the writer's lock_timeout.
    let common::TestDb::Postgres(pool) = &app.db else {
        unreachable!("checked above")
    };
    let mut holder = pool.begin().await.expect("a transaction");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('inventory.seq', 0))")
        .execute(&mut *holder)
        .await
        .expect("the seq lock taken");
    let request = app
        .client
        .post(app.url("/api/v1/holds"))
        .header("x-api-key", &app.key)
        .header("Idempotency-Key", "rerun-1")
        .json(&serde_json::json!({
            "customer_id": "customer-1",
            "items": [{"product_id": product, "store_id": "MAD-001", "quantity": 2}],
        }));
    let reply = tokio::spawn(common::send(request));
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    holder.rollback().await.expect("the lock released");

    reply.await.expect("the request task").expect_status(201);
    let after = app.get_public("/metrics").await.text;
    assert!(
        value(&after, "db_write_batch_reruns_total") > Some(reruns_before),
        "the batch was not rerun:\n{after}"
    );
    assert_eq!(
        value(&after, series),
        Some(holds_before + 1.0),
        "counted once"
    );
    assert_eq!(
        app.stock(&product, "MAD-001").await.reserved,
        2,
        "applied once"
    );
    app.stop().await;
}

/// On PostgreSQL a replica remembers the stock rows its batches committed; a later batch on
/// those rows alone runs without locking them first (one statement instead of four round
/// trips, `docs/postgres.md`), and says so in `db_write_batch_unlocked_total`.
#[tokio::test]
async fn a_second_reservation_on_a_remembered_row_runs_unlocked_on_postgres() {
    if common::backend() != common::Backend::Postgres {
        eprintln!("PostgreSQL-only: SQLite's one writer locks the file; not run on SQLite");
        return;
    }
    let app = spawn_app().await;
    let product = app
        .product_with_stock("OPS-UNLOCKED-1", "MAD-001", 20)
        .await;
    let series = "db_write_batch_unlocked_total{outcome=\"committed\"}";
    let before = value(&app.get_public("/metrics").await.text, series).unwrap_or(0.0);

    // A batch is tried this way only within 250 ms of the previous one: a stall of the
    // machine between two requests may send one the usual way, so allow a few.
    let mut reserved = 0;
    let mut after = before;
    while reserved < 10 && after < before + 2.0 {
        app.reserve(&product, "MAD-001", 1, None).await;
        reserved += 1;
        after = value(&app.get_public("/metrics").await.text, series).unwrap_or(0.0);
    }

    assert!(
        after >= before + 2.0,
        "{before} -> {after} in {reserved} reservations"
    );
    let stock = app.stock(&product, "MAD-001").await;
    assert_eq!((stock.quantity, stock.reserved), (20, reserved));
    app.stop().await;
}
