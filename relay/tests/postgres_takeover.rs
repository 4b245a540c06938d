//! The relay on PostgreSQL across restarts and takeovers while transactions commit out of `seq`
//! order ("crossed xids": a transaction that took its xid first draws a later `seq` and
//! commits first, so that later `seq` is published before the earlier one is visible). The
//! broker then holds events out of `seq` order, and reconciliation must go by membership:
//! nothing is skipped as "already there" (Kafka) and nothing the previous relay left unmarked
//! is sent twice (Redis), even with a SIGKILL in the middle of a stream of crossing writers.

#![expect(
    clippy::duplicate_mod,
    reason = "`brokers` (tansu) and `common` (PostgreSQL, the relay binary) both load common/db.rs"
)]

mod brokers;
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brokers::{Tansu, read_kafka};
use common::{PgTestDb, RedisServer, RelayProcess, RunningRelay, STREAM, sample_event};
use inventory_relay::publisher::Publisher;
use inventory_relay::publisher::redis::RedisPublisher;
use inventory_shared::outbox::postgres as outbox;
use inventory_shared::time;
use sqlx::{Connection, PgConnection};

const TOPIC: &str = "inventory-events";

/// Opens a transaction on `conn` and gives it an xid now (before anything it writes).
async fn begin_with_xid(conn: &mut PgConnection) -> sqlx::Transaction<'_, sqlx::Postgres> {
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .expect("take an xid");
    tx
}

/// Relay settings on `db` publishing to a one-partition Kafka topic on `brokers`.
fn kafka_settings(db: &PgTestDb, brokers: &str) -> inventory_relay::Settings {
    common::settings_for(
        &db.url,
        common::free_port(),
        &[
            "--message-broker",
            "kafka",
            "--kafka-brokers",
            brokers,
            "--kafka-topic",
            TOPIC,
            "--kafka-timeout",
            "5s",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_an_earlier_seq_committed_after_a_restart_is_sent_not_taken_as_in_the_topic() {
    let db = PgTestDb::new().await;
    let tansu = Tansu::start_with_topic(db.dir.path(), TOPIC, 1).await;
    let mut early = PgConnection::connect(&db.url).await.expect("connect");
    let mut late = PgConnection::connect(&db.url).await.expect("connect");

    // `early` takes its xid first; `late` draws the smaller seq and stays open; `early`
    // draws the larger one and commits. Its row is behind the fence (its xid is older than
    // `late`'s), so the relay publishes it: the partition's last seq is now the larger one.
    let mut tx_early = begin_with_xid(&mut early).await;
    let mut tx_late = late.begin().await.expect("begin");
    let smaller = outbox::append_events(&mut tx_late, &[sample_event(0)], &time::now())
        .await
        .expect("append late")[0];
    let larger = outbox::append_events(&mut tx_early, &[sample_event(1)], &time::now())
        .await
        .expect("append early")[0];
    tx_early.commit().await.expect("commit early");
    assert!(smaller < larger);
    let relay = RunningRelay::start(kafka_settings(&db, &tansu.brokers_addr())).await;
    common::wait_until(
        Duration::from_secs(20),
        "the larger seq published",
        || async { db.counts().await.0 == 1 },
    )
    .await;
    relay.stop().await;

    // The smaller seq commits while no relay runs; the restarted relay reconciles first.
    tx_late.commit().await.expect("commit late");
    let relay = RunningRelay::start(kafka_settings(&db, &tansu.brokers_addr())).await;
    common::wait_until(Duration::from_secs(20), "both marked", || async {
        db.counts().await == (2, 0, 0)
    })
    .await;
    relay.stop().await;

    let records = read_kafka(&tansu.brokers_addr(), TOPIC, 2, Duration::from_secs(2)).await;
    let seqs: Vec<i64> = records.iter().map(|r| r.seq()).collect();
    assert_eq!(seqs, [larger, smaller], "each once, in publish order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_takeover_marks_what_the_old_leader_left_even_past_the_first_batch() {
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    let settings = common::settings_for(&db.url, redis.port, &["--relay-batch-size", "10"]);
    let mut early = PgConnection::connect(&db.url).await.expect("connect");
    let mut late = PgConnection::connect(&db.url).await.expect("connect");

    // 30 smaller seqs stay invisible while 10 larger ones (older xid) commit.
    let mut tx_early = begin_with_xid(&mut early).await;
    let mut tx_late = late.begin().await.expect("begin");
    let smaller = outbox::append_events(
        &mut tx_late,
        &(0..30).map(sample_event).collect::<Vec<_>>(),
        &time::now(),
    )
    .await
    .expect("append late");
    let larger = outbox::append_events(
        &mut tx_early,
        &(30..40).map(sample_event).collect::<Vec<_>>(),
        &time::now(),
    )
    .await
    .expect("append early");
    tx_early.commit().await.expect("commit early");

    // The old leader read and published the 10 larger ones, then died before marking them.
    let (batch, held_back) = outbox::fetch_pending_after(&db.pool, 0, 10)
        .await
        .expect("read");
    assert!(!held_back);
    assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), larger);
    let mut old_leader = RedisPublisher::new(&settings.redis).expect("publisher");
    old_leader.publish(&batch).await.expect("published");
    drop(old_leader);

    // The 30 smaller ones become visible: the new leader's first batch is 10 of them, and
    // what the old leader left unmarked lies two batches past its end.
    tx_late.commit().await.expect("commit late");
    let relay = RunningRelay::start(settings).await;
    common::wait_until(Duration::from_secs(20), "all 40 marked", || async {
        db.counts().await == (40, 0, 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.stop().await;

    let mut expected = larger.clone();
    expected.extend(&smaller);
    assert_eq!(
        redis.seqs(STREAM).await,
        expected,
        "each once: the old leader's, then the rest"
    );
}

/// A writer that keeps committing transactions that took their xid a moment before drawing
/// their seqs, so that concurrent writers cross; returns the seqs it committed.
async fn crossing_writer(url: String, writer: usize, transactions: usize) -> Vec<i64> {
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let mut written = Vec::new();
    for t in 0..transactions {
        let mut tx = begin_with_xid(&mut conn).await;
        tokio::time::sleep(Duration::from_millis(((t * 7 + writer * 5) % 13) as u64)).await;
        let first = (writer * transactions + t) * 5;
        let events: Vec<_> = (first..first + 5).map(sample_event).collect();
        written.extend(
            outbox::append_events(&mut tx, &events, &time::now())
                .await
                .expect("append"),
        );
        tokio::time::sleep(Duration::from_millis(((t * 3 + writer) % 7) as u64)).await;
        tx.commit().await.expect("commit");
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crossing_writers_and_a_leader_killed_three_times_deliver_each_event_once() {
    const WRITERS: usize = 3;
    const TRANSACTIONS: usize = 200;
    let redis = RedisServer::start().await;
    let db = PgTestDb::new().await;
    let env = [
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", redis.url()),
        ("RELAY_BATCH_SIZE", "10".to_owned()),
        ("RELAY_POLL_INTERVAL", "100ms".to_owned()),
    ];
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(crossing_writer(db.url.clone(), w, TRANSACTIONS)))
        .collect();

    // Kill the relay three times while the writers run, restarting it each time.
    let total = (WRITERS * TRANSACTIONS * 5) as i64;
    for threshold in [total / 8, total / 3, total / 2] {
        let mut relay = RelayProcess::spawn(db.dir.path(), &env);
        let deadline = Instant::now() + Duration::from_secs(60);
        while db.counts().await.0 < threshold {
            assert!(
                Instant::now() < deadline,
                "the relay did not reach {threshold}"
            );
            assert!(
                relay.child.try_wait().expect("try_wait").is_none(),
                "relay exited"
            );
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        relay.signal("KILL");
        relay.wait_timeout(Duration::from_secs(5)).expect("killed");
    }
    let mut written = BTreeSet::new();
    for writer in writers {
        written.extend(writer.await.expect("writer"));
    }
    let _relay = RelayProcess::spawn(db.dir.path(), &env);
    common::wait_until(Duration::from_secs(60), "everything marked", || async {
        db.counts().await == (total, 0, 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let seqs = redis.seqs(STREAM).await;
    let unique: BTreeSet<i64> = seqs.iter().copied().collect();
    assert_eq!(
        seqs.len(),
        unique.len(),
        "an event reached the stream twice"
    );
    assert_eq!(unique, written, "the stream holds exactly the outbox");
}
