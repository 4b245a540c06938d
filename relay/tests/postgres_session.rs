//! The leader's PostgreSQL session under lock waits: a mark that waits on a counter slot row
//! lock held by a long API transaction fails as an SQL error (the session's `lock_timeout`)
//! and is retried; the relay keeps leading, and nothing is published twice. With PostgreSQL
//! unreachable, `/health` and `/metrics` still answer quickly and report nothing stale.

mod common;

use std::time::{Duration, Instant};

use common::{PgTestDb, RedisServer, RunningRelay, STREAM, sample_event};
use inventory_relay::pg_session::LOCK_KEY;
use inventory_shared::test_support::StopMode;
use sqlx::{Connection, PgConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_waiting_on_a_long_transactions_row_lock_is_retried_and_the_leader_stays() {
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    let relay = RunningRelay::start(common::settings_for(&db.url, redis.port, &[])).await;
    let relay_pid: i32 = sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 \
         AND objid::bigint = $1 AND granted",
    )
    .bind(LOCK_KEY)
    .fetch_one(&db.pool)
    .await
    .expect("the leader's session");

    // A transaction holding an xid keeps the events behind the fence while they are written.
    let mut fence = PgConnection::connect(&db.url).await.expect("connect");
    let mut tx_fence = fence.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx_fence)
        .await
        .expect("take an xid");
    let written = db.append((0..8).map(sample_event)).await;

    // A long "API" transaction holds the counter slots the leader's marks write to.
    let mut api = PgConnection::connect(&db.url).await.expect("connect");
    let mut tx_api = api.begin().await.expect("begin");
    let types: Vec<&str> = (0..8)
        .map(|i| sample_event(i).event_type().as_str())
        .collect();
    sqlx::query(
        "INSERT INTO event_counts (event_type, state, slot, n) \
         SELECT t, s, ($2 % 16)::smallint, 0 FROM unnest($1::text[]) AS t, \
         unnest(ARRAY['pending', 'synced']) AS s ON CONFLICT DO NOTHING",
    )
    .bind(&types)
    .bind(relay_pid)
    .execute(&mut *tx_api)
    .await
    .expect("slot rows");
    sqlx::query("SELECT 1 FROM event_counts WHERE slot = ($1 % 16)::smallint FOR UPDATE")
        .bind(relay_pid)
        .execute(&mut *tx_api)
        .await
        .expect("lock the slot");

    // The fence lifts: the leader publishes, and its mark waits on the slot for 4 s, longer
    // than the old 3 s session limit that made the leader give up.
    tx_fence.commit().await.expect("commit the fence");
    common::wait_until(Duration::from_secs(5), "published", || async {
        redis.seqs(STREAM).await.len() == 8
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(db.counts().await, (0, 8, 0), "the marks waited");
    assert!(
        !relay.handle.as_ref().expect("running").is_finished(),
        "the leader gave up its session over a lock wait"
    );
    tx_api.commit().await.expect("commit the API transaction");

    common::wait_until(Duration::from_secs(5), "all marked", || async {
        db.counts().await == (8, 0, 0)
    })
    .await;
    assert_eq!(redis.seqs(STREAM).await, written, "each once");
    let (code, health) = relay.health().await;
    assert_eq!((code, &health["role"]), (200, &"leader".into()), "{health}");
    let text = relay.metrics().await;
    assert_eq!(
        common::metric(&text, "relay_leadership_changes_total"),
        Some(1.0)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_unreachable_health_and_metrics_answer_within_two_seconds() {
    let redis = RedisServer::start().await;
    let mut db = PgTestDb::new().await;
    // The leader exits when its session is lost; the standby stays up and keeps answering.
    let _leader = RunningRelay::start(common::settings_for(&db.url, redis.port, &[])).await;
    let relay = RunningRelay::start(common::settings_for(&db.url, redis.port, &[])).await;
    assert_eq!(relay.health().await.1["role"], "standby");
    assert_eq!(
        common::metric(&relay.metrics().await, "relay_fence_age_seconds"),
        Some(0.0)
    );

    db.server
        .stop(StopMode::Immediate)
        .expect("stop PostgreSQL");
    let asked = Instant::now();
    let (code, health) = relay.health().await;
    let health_took = asked.elapsed();
    let asked = Instant::now();
    let text = relay.metrics().await;
    let metrics_took = asked.elapsed();
    eprintln!("PostgreSQL down: /health took {health_took:?}, /metrics {metrics_took:?}");

    assert_eq!(
        (code, &health["database"]),
        (503, &"down".into()),
        "{health}"
    );
    assert!(
        health_took < Duration::from_secs(2),
        "/health took {health_took:?}"
    );
    assert!(
        metrics_took < Duration::from_secs(2),
        "/metrics took {metrics_took:?}"
    );
    let age = common::metric(&text, "relay_fence_age_seconds").expect("fence age");
    assert!(age.is_nan(), "a stale fence age after an error: {age}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_as_the_listen_connection_is_cut_is_published_well_before_the_poll() {
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    let relay = RunningRelay::start(common::settings_for(
        &db.url,
        redis.port,
        &["--relay-poll-interval", "10s"],
    ))
    .await;
    let first = db.append([sample_event(0)]).await;
    common::wait_until(Duration::from_secs(3), "woken by NOTIFY", || async {
        redis.seqs(STREAM).await == first
    })
    .await;

    // The server ends the LISTEN connection, and an event commits before it is back: its
    // notification goes nowhere.
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'inventory-relay' AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("end the LISTEN connection");
    let second = db.append([sample_event(1)]).await;

    assert_eq!(ended, 1);
    // The rebuilt listener wakes the loop: well before the 10 s poll.
    common::wait_until(
        Duration::from_secs(4),
        "published after the reconnect",
        || async { redis.seqs(STREAM).await.len() == 2 },
    )
    .await;
    assert_eq!(redis.seqs(STREAM).await, [first[0], second[0]]);
    relay.stop().await;
}
