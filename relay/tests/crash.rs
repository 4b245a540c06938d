//! The relay binary SIGKILLed in the middle of draining a backlog, then restarted: every event
//! reaches the stream exactly once, on SQLite and on PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{
    PgTestDb, RedisServer, RelayProcess, STREAM, TestBackend, TestDb, sample_event, wait_until,
};

const BACKLOG: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_drain_and_restarted_publishes_every_event_exactly_once() {
    killed_mid_drain_and_restarted(TestBackend::Sqlite(TestDb::new().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_relay_killed_mid_drain_and_restarted_publishes_every_event_exactly_once() {
    killed_mid_drain_and_restarted(TestBackend::Postgres(PgTestDb::new().await)).await;
}

async fn killed_mid_drain_and_restarted(db: TestBackend) {
    let redis = RedisServer::start().await;
    let mut written = Vec::with_capacity(BACKLOG);
    for first in (0..BACKLOG).step_by(1000) {
        written.extend(
            db.append((first..first + 1000).map(sample_event).collect())
                .await,
        );
    }
    let env = [
        ("DATABASE_URL", db.database_url()),
        ("REDIS_URL", redis.url()),
        ("RELAY_BATCH_SIZE", "100".to_owned()),
    ];

    // Kill it three times at different points of the drain, restarting each time.
    let mut killed_at = Vec::new();
    for threshold in [2_000, 8_000, 14_000] {
        let mut relay = RelayProcess::spawn(db.dir(), &env);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (published, _, _) = db.counts().await;
            if published >= threshold {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the relay did not reach {threshold} events"
            );
            assert!(
                relay.child.try_wait().expect("try_wait").is_none(),
                "relay exited early"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        relay.signal("KILL");
        relay
            .wait_timeout(Duration::from_secs(5))
            .expect("killed relay exits");
        let (published, pending, _) = db.counts().await;
        let in_stream = redis.seqs(STREAM).await.len() as i64;
        assert!(pending > 0, "killed mid-drain (published {published})");
        assert!(
            in_stream >= published,
            "the stream holds at least what is marked"
        );
        killed_at.push((published, in_stream));
    }
    eprintln!(
        "{}: killed at (marked, in stream): {killed_at:?}",
        db.name()
    );

    let _relay = RelayProcess::spawn(db.dir(), &env);
    wait_until(
        Duration::from_secs(60),
        "the whole backlog is published",
        || async { db.counts().await == (BACKLOG as i64, 0, 0) },
    )
    .await;
    let seqs = redis.seqs(STREAM).await;
    assert_eq!(seqs.len(), BACKLOG, "no event missing, none twice");
    assert_eq!(seqs, written, "in seq order");
}
