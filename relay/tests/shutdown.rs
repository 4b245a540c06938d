//! SIGTERM while the relay binary drains a backlog: it finishes and marks the batch in flight,
//! exits within RELAY_SHUTDOWN_TIMEOUT, and the stream and the table agree.

mod common;

use std::time::{Duration, Instant};

use common::{RedisServer, RelayProcess, STREAM, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_drain_exits_in_time_with_stream_and_table_in_agreement() {
    let redis = RedisServer::start().await;
    let db = TestDb::new().await;
    db.append(20_000, 1000).await;
    let shutdown_timeout = Duration::from_secs(5);
    let env = [
        ("DATABASE_URL", db.path().display().to_string()),
        ("REDIS_URL", redis.url()),
        ("RELAY_BATCH_SIZE", "100".to_owned()),
        ("RELAY_SHUTDOWN_TIMEOUT", "5s".to_owned()),
    ];
    let mut relay = RelayProcess::spawn(db.dir.path(), &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.counts().await.0 < 3_000 {
        assert!(
            Instant::now() < deadline,
            "the relay did not start draining"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    relay.signal("TERM");
    let asked = Instant::now();
    let status = relay
        .wait_timeout(shutdown_timeout + Duration::from_secs(1))
        .expect("the relay exits within the shutdown timeout");
    let took = asked.elapsed();
    assert!(status.success(), "clean exit, got {status}");
    assert!(took < shutdown_timeout, "exited after {took:?}");

    let (published, pending, dead) = db.counts().await;
    assert!(pending > 0, "stopped mid-drain (published {published})");
    assert_eq!(dead, 0);
    assert_eq!(
        redis.seqs(STREAM).await,
        db.published_seqs().await,
        "the stream holds exactly the events marked published"
    );
}
