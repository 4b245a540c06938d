//! The relay binary SIGKILLed in the middle of draining a backlog, then restarted: every event
//! reaches the stream exactly once.

mod common;

use std::time::{Duration, Instant};

use common::{RedisServer, RelayProcess, STREAM, TestDb, wait_until};

const BACKLOG: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_drain_and_restarted_publishes_every_event_exactly_once() {
    let redis = RedisServer::start().await;
    let db = TestDb::new().await;
    let written = db.append(BACKLOG, 1000).await;
    let env = [
        ("DATABASE_URL", db.path().display().to_string()),
        ("REDIS_URL", redis.url()),
        ("RELAY_BATCH_SIZE", "100".to_owned()),
    ];

    // Kill it three times at different points of the drain, restarting each time.
    let mut killed_at = Vec::new();
    for threshold in [2_000, 8_000, 14_000] {
        let mut relay = RelayProcess::spawn(db.dir.path(), &env);
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
    eprintln!("killed at (marked, in stream): {killed_at:?}");

    let _relay = RelayProcess::spawn(db.dir.path(), &env);
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
