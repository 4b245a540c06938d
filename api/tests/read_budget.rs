//! Health cannot be starved (issue 10): with a slow read in flight on every read connection,
//! `/health` (its own connection) and writes (the writer's own connection, WAL) answer at
//! once; the slow reads themselves are interrupted at `DB_READ_TIMEOUT` instead of running
//! on; and a request whose read runs past its budget, or finds no connection within it,
//! answers 503 `QUERY_TIMEOUT`.

mod common;

use std::time::{Duration, Instant};

use common::spawn_app_with;
use serde_json::json;

const BUDGET: Duration = Duration::from_millis(1500);

/// How late an interrupt may come on a loaded 2-core test machine (an endless read would
/// never come back at all).
const SLACK: Duration = Duration::from_millis(1500);

/// A read that never ends on its own: counting an endless recursive sequence.
const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_writes_answer_while_slow_reads_hold_every_read_connection() {
    if !common::sqlite_only(
        "SQLite's read pool and its progress handler (the slow reads run on the app's own pool)",
    ) {
        return;
    }
    let app = spawn_app_with(|s| {
        s.db_read_connections = 3;
        s.db_read_timeout = BUDGET;
    })
    .await;
    let product = app.product_with_stock("SLOW-1", "MAD-001", 10).await;

    // One endless read per read connection of the app's own read pool.
    let inventory_api::reads::Reads::Sqlite { pool: reader, .. } = app.state.reads.clone() else {
        unreachable!("guarded SQLite-only above");
    };
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let pool = reader.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let result = sqlx::query_scalar::<_, i64>(ENDLESS).fetch_one(&pool).await;
                (result, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reader.num_idle(), 0, "every read connection is busy");

    let started = Instant::now();
    let health = app.get_public("/health").await;
    let health_took = started.elapsed();
    health.expect_status(200);
    assert_eq!(health.body["database"], "ok");
    assert!(
        health_took < Duration::from_millis(100),
        "/health took {health_took:?}"
    );

    let started = Instant::now();
    let adjusted = app
        .post(
            &format!("/api/v1/stock/{product}/MAD-001/adjust"),
            json!({"adjustment": 5}),
        )
        .await;
    let write_took = started.elapsed();
    adjusted.expect_status(200);
    assert_eq!(adjusted.int("quantity"), 15);
    assert!(
        write_took < Duration::from_millis(300),
        "the write took {write_took:?}"
    );

    // A list needs a read connection: none frees up within the budget.
    for task in slow {
        let (result, took) = task.await.expect("a slow read task");
        let error = result.expect_err("the endless read is interrupted");
        assert!(
            inventory_shared::db::is_over_budget(&error),
            "interrupted by its budget: {error}"
        );
        assert!(
            took >= BUDGET && took < BUDGET + SLACK,
            "interrupted at its budget, after {took:?}"
        );
    }
    // The connections went back to the pool: reads answer again.
    let stats = app.get("/api/v1/reservations/stats").await;
    stats.expect_status(200);
    assert_eq!(stats.int("total"), 0);

    // Every read connection taken: a list waits no longer than its budget, then answers 503.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(reader.acquire().await.expect("a read connection"));
    }
    let started = Instant::now();
    let stats = app.get("/api/v1/reservations/stats").await;
    let stats_took = started.elapsed();
    stats.expect_problem(503, "QUERY_TIMEOUT");
    assert!(
        stats_took >= BUDGET && stats_took < BUDGET + SLACK,
        "the refusal came at the budget, after {stats_took:?}"
    );
    assert_eq!(app.get_public("/health").await.status, 200);
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn a_page_that_runs_past_its_budget_answers_503_query_timeout() {
    let app = spawn_app_with(|s| s.db_read_timeout = Duration::from_millis(1)).await;
    let product = app.product_with_stock("PAGE-1", "MAD-001", 10).await;
    for i in 0..1_100 {
        let path = format!("/api/v1/stock/{product}/MAD-001/adjust");
        let change = if i % 2 == 0 { 1 } else { -1 };
        app.post(&path, json!({"adjustment": change}))
            .await
            .expect_status(200);
    }
    // A thousand rows, each decoded in Rust, take longer than a millisecond.
    let page = app.get("/api/v1/events?limit=1000").await;
    page.expect_problem(503, "QUERY_TIMEOUT");
    assert_eq!(
        page.str("detail"),
        "the read did not finish within its time budget; try again or narrow it"
    );
    // A one-row page fits (on a loaded machine a read can lose its millisecond to the
    // scheduler now and then: one of a few tries must fit).
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let status = app.get("/api/v1/events?limit=1").await.status;
        statuses.push(status);
        if status == 200 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_audit_log_read_past_its_budget_is_interrupted_and_answers_query_timeout() {
    if !common::sqlite_only("the audit log's rusqlite reader and its progress handler") {
        return;
    }
    let app = spawn_app_with(|s| s.db_read_timeout = Duration::from_millis(300)).await;
    let point = app_point_reader(&app);
    let started = Instant::now();
    let result = point
        .scan(|conn| Ok(conn.query_row(ENDLESS, [], |row| row.get::<_, i64>(0))?))
        .await;
    let took = started.elapsed();
    let error = result.expect_err("the endless read is interrupted");
    assert_eq!(error.code(), "QUERY_TIMEOUT", "{error}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(300) + SLACK,
        "interrupted at its budget, after {took:?}"
    );
    // The same thread's connection serves the next read normally.
    let page = app.get("/api/v1/events?limit=5").await;
    page.expect_status(200);
    app.stop().await;
}

/// The app's audit-log reader (built on the same file with the same budget).
fn app_point_reader(app: &common::TestApp) -> inventory_api::reads::PointReader {
    inventory_api::reads::PointReader::new(
        &inventory_shared::config::DatabaseSettings::at(&app.db_path),
        inventory_shared::db::ReadBudget(Duration::from_millis(300)),
    )
}
