//! The writer's statements find their rows by key: no batch scans a table, however small it
//! is when a statement's plan is made (`store::postgres::connect::WRITER_SESSION`).

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::{PgWriter, database, reserve};

/// Sequential scans of each table so far, as the server's statistics count them.
async fn seq_scans(url: &str) -> Vec<(String, i64)> {
    let mut conn = PgConnection::connect(url).await.expect("connecting");
    sqlx::query_as(
        "SELECT relname::text, seq_scan FROM pg_stat_user_tables \
         WHERE relname IN ('stock', 'reservations', 'events', 'products') ORDER BY relname",
    )
    .fetch_all(&mut conn)
    .await
    .expect("statistics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_locked_or_from_the_cache_never_scan_a_table() {
    // One stock row on one page: where a sequential scan looks cheapest to the planner.
    let db = database(1_000).await;
    // A session reports its statistics when it ends (the set-up's connection has), and when
    // idle only after up to 10 s: so both counts are read after the sessions ended.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = seq_scans(&db.url).await;

    // Two writers taking turns on the row: each batch finds the other's change, so both
    // ways run, from the cache (then found changed) and locked; more than five times each,
    // after which PostgreSQL may keep a statement's generic plan.
    let (a, a_thread) = PgWriter::start(&db.url, 64).expect("writer a");
    let (b, b_thread) = PgWriter::start(&db.url, 64).expect("writer b");
    for _ in 0..20 {
        reserve(&a, &db, 1).await.expect("a reserves");
        reserve(&a, &db, 1)
            .await
            .expect("a reserves from its cache");
        reserve(&b, &db, 1).await.expect("b reserves");
    }
    // Stopping a writer ends its session.
    a_thread.stop().await;
    b_thread.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let after = seq_scans(&db.url).await;
    assert_eq!(
        after, before,
        "sequential scans (table, count) before and after"
    );
    assert_eq!(before.len(), 4, "{before:?}");
}
