//! The relay on PostgreSQL, in process, publishing to a private Redis: the delayed-commit trap
//! stays closed (nothing passes an open transaction's `seq`, nothing is skipped), a steady
//! stream arrives exactly once and in order (and how soon after its commit), `dead list` /
//! `dead retry` work, and a leader whose session the server cut stops while the standby takes
//! over without a duplicate.

mod common;

use std::time::{Duration, Instant};

use common::{PgTestDb, RedisServer, RunningRelay, STREAM, metric, sample_event, settings_for};
use inventory_relay::config::DeadCommand;
use inventory_relay::pg_session::LOCK_KEY;
use inventory_shared::outbox::postgres as outbox;
use inventory_shared::time;
use sqlx::Connection;

/// A relay on `db` publishing to `redis`, polling only every 10 s (the default): whatever it
/// publishes sooner came from a notification or a fence re-check.
async fn relay(db: &PgTestDb, redis: &RedisServer) -> RunningRelay {
    RunningRelay::start(settings_for(
        &db.url,
        redis.port,
        &["--relay-poll-interval", "10s"],
    ))
    .await
}

/// The `seq` of the stream's newest entry (one `XREVRANGE … COUNT 1`: reading the whole
/// stream would cost the debug build more than the latency being measured).
async fn last_seq(conn: &mut redis::aio::MultiplexedConnection) -> Option<i64> {
    let newest: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(STREAM)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await
        .expect("XREVRANGE");
    let entry = newest.ids.first()?;
    let seq: String = entry.get("seq")?;
    seq.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_seq_committed_first_is_held_until_the_earlier_commits_then_both_go_in_order() {
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    let relay = relay(&db, &redis).await;
    let mut a = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("connect A");
    let mut b = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("connect B");

    // A takes seq 1 and stays open; B takes seq 2 and commits (and notifies the relay).
    let mut tx_a = a.begin().await.expect("begin A");
    let first = outbox::append_events(&mut tx_a, &[sample_event(0)], &time::now())
        .await
        .expect("append A");
    let mut tx_b = b.begin().await.expect("begin B");
    let second = outbox::append_events(&mut tx_b, &[sample_event(1)], &time::now())
        .await
        .expect("append B");
    tx_b.commit().await.expect("commit B");
    assert!(first[0] < second[0], "A drew the earlier seq");

    // Nothing past the fence while A is open.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        redis.seqs(STREAM).await,
        Vec::<i64>::new(),
        "published past an open transaction's seq"
    );
    let (code, health) = relay.health().await;
    assert_eq!(
        (code, health["pending"].as_i64()),
        (200, Some(1)),
        "{health}"
    );
    let age = metric(&relay.metrics().await, "relay_fence_age_seconds").expect("fence age");
    assert!(age >= 1.0, "the fence has been held for 1.5 s: {age}");

    // A commits: both, in seq order, well before the 10 s poll.
    tx_a.commit().await.expect("commit A");
    common::wait_until(Duration::from_secs(3), "both events published", || async {
        redis.seqs(STREAM).await.len() == 2
    })
    .await;
    assert_eq!(redis.seqs(STREAM).await, [first[0], second[0]]);
    common::wait_until(Duration::from_secs(3), "both marked", || async {
        db.counts().await == (2, 0, 0)
    })
    .await;
    assert_eq!(
        metric(&relay.metrics().await, "relay_fence_age_seconds"),
        Some(0.0)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_stream_exactly_once_in_seq_order() {
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    let relay = relay(&db, &redis).await;
    let mut written = Vec::new();

    for t in 0..40 {
        written.extend(db.append((t * 50..t * 50 + 50).map(sample_event)).await);
    }

    common::wait_until(
        Duration::from_secs(30),
        "2,000 events published and marked",
        || async { db.counts().await == (2_000, 0, 0) },
    )
    .await;
    assert_eq!(redis.seqs(STREAM).await, written, "once each, in seq order");

    // Commit to stream, one event at a time (woken by NOTIFY; the poll is 10 s).
    let mut conn = redis.connection().await.expect("redis");
    let mut latencies = Vec::new();
    for i in 0..50 {
        let committed = Instant::now();
        let seq = db.append([sample_event(2_000 + i)]).await[0];
        while last_seq(&mut conn).await != Some(seq) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(
                committed.elapsed() < Duration::from_secs(5),
                "event {seq} not published"
            );
        }
        latencies.push(committed.elapsed());
    }
    latencies.sort();
    eprintln!(
        "postgres relay: commit to stream entry over 50 single events: p50 {:?}, max {:?}",
        latencies[25], latencies[49]
    );
    let (code, health) = relay.health().await;
    assert_eq!(code, 200, "{health}");
    assert_eq!(
        (&health["status"], &health["role"], &health["database"]),
        (&"ok".into(), &"leader".into(), &"up".into()),
        "{health}"
    );
    common::wait_until(Duration::from_secs(3), "all marked", || async {
        db.counts().await == (2_050, 0, 0)
    })
    .await;
    let text = relay.metrics().await;
    assert_eq!(metric(&text, "relay_leader"), Some(1.0));
    assert_eq!(metric(&text, "relay_pending_events"), Some(0.0));
    assert_eq!(
        metric(
            &text,
            "relay_events_published_total{event_type=\"stock.created\"}"
        ),
        Some(513.0)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_event_is_listed_and_published_once_retried() {
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    let seqs = db.append((0..3).map(sample_event)).await;
    // The broker refused the middle one for good (one attempt allowed).
    assert!(
        outbox::record_rejection(&db.pool, seqs[1], "message too large", 1, &time::now())
            .await
            .expect("park")
    );
    let settings = settings_for(&db.url, redis.port, &["--relay-poll-interval", "10s"]);

    let mut listed = Vec::new();
    inventory_relay::dead::run(&settings, &DeadCommand::List { limit: 10 }, &mut listed)
        .await
        .expect("dead list");

    let listed = String::from_utf8(listed).expect("utf-8");
    assert!(listed.contains("message too large"), "{listed}");
    assert!(listed.contains("1 parked event(s)"), "{listed}");
    let relay = relay(&db, &redis).await;
    common::wait_until(Duration::from_secs(5), "the others published", || async {
        db.counts().await == (2, 0, 1)
    })
    .await;
    assert_eq!(redis.seqs(STREAM).await, [seqs[0], seqs[2]]);

    let mut retried = Vec::new();
    inventory_relay::dead::run(
        &settings,
        &DeadCommand::Retry { seq: Some(seqs[1]) },
        &mut retried,
    )
    .await
    .expect("dead retry");

    assert!(
        String::from_utf8_lossy(&retried).contains("revived 1 event(s)"),
        "{retried:?}"
    );
    // Woken by the retry's notification, not the 10 s poll.
    common::wait_until(
        Duration::from_secs(3),
        "the revived event published",
        || async { db.counts().await == (3, 0, 0) },
    )
    .await;
    assert_eq!(redis.seqs(STREAM).await, [seqs[0], seqs[2], seqs[1]]);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_session_is_cut_stops_and_the_standby_takes_over_without_a_duplicate() {
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    // The first one built wins the election at build.
    let mut leader = relay(&db, &redis).await;
    let standby = relay(&db, &redis).await;
    assert_eq!(leader.health().await.1["role"], "leader");
    assert_eq!(standby.health().await.1["status"], "standby");
    let mut written = db.append((0..100).map(sample_event)).await;
    common::wait_until(Duration::from_secs(5), "the leader publishes", || async {
        redis.seqs(STREAM).await.len() == 100
    })
    .await;

    // The server ends the session that holds the lock (as when an operator or a network
    // failure cuts it).
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
         WHERE locktype = 'advisory' AND classid = 0 AND objid::bigint = $1 AND granted",
    )
    .bind(LOCK_KEY)
    .fetch_one(&db.pool)
    .await
    .expect("terminate the leader's session");
    assert_eq!(cut, 1, "exactly one session holds the lock");

    // The deposed leader stops (its run ends with an error: its supervisor restarts it).
    let ended = tokio::time::timeout(
        Duration::from_secs(5),
        leader.handle.take().expect("running"),
    )
    .await
    .expect("the deposed leader stops within 5 s")
    .expect("joins");
    assert!(ended.is_err(), "a deposed relay reports a failure");
    // The standby leads and publishes what comes next.
    written.extend(db.append((100..200).map(sample_event)).await);
    common::wait_until(
        Duration::from_secs(5),
        "the new leader publishes",
        || async { redis.seqs(STREAM).await.len() >= 200 },
    )
    .await;
    common::wait_until(Duration::from_secs(3), "all marked", || async {
        db.counts().await == (200, 0, 0)
    })
    .await;
    assert_eq!(redis.seqs(STREAM).await, written, "once each, in order");
    let text = standby.metrics().await;
    assert_eq!(metric(&text, "relay_leader"), Some(1.0));
    assert_eq!(metric(&text, "relay_leadership_changes_total"), Some(1.0));
    standby.stop().await;
}
