//! One build of `inventory-relay`, four brokers: switching `MESSAGE_BROKER` between `redis`,
//! `kafka`, `nats` and `none` is configuration only.

mod brokers;

use std::collections::BTreeSet;
use std::time::Duration;

use brokers::{NatsServer, RedisServer, Relay, Tansu, TestDb, read_kafka, read_nats, within};

const EVENTS: usize = 40;

/// A fresh outbox with 40 events, and the `seq`s it holds.
async fn outbox() -> (TestDb, BTreeSet<i64>) {
    let db = TestDb::new().await;
    assert_eq!(db.seed_mixed(4, 10).await, EVENTS);
    let seqs = db.pending(1_000).await.iter().map(|e| e.seq).collect();
    (db, seqs)
}

/// Runs the binary on `db` with `envs` until every event is marked published.
async fn relay_until_drained(db: &TestDb, envs: &[(&str, String)]) {
    let mut relay = Relay::start(db, envs);
    db.wait_drained(Duration::from_secs(60)).await;
    assert!(
        relay.process.is_running(),
        "the relay keeps running after draining"
    );
    relay.process.terminate(Duration::from_secs(15));
}

async fn read_redis_seqs(port: u16, stream: &str) -> Vec<i64> {
    use redis::AsyncCommands;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let reply: redis::streams::StreamRangeReply = conn.xrange_all(stream).await.expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|entry| {
            entry
                .get::<String>("seq")
                .expect("seq field")
                .parse()
                .expect("numeric seq")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_binary_publishes_to_redis_kafka_nats_or_nowhere_by_configuration() {
    within(Duration::from_secs(240), async {
        // redis
        let (db, seqs) = outbox().await;
        let redis = RedisServer::start(db.dir());
        relay_until_drained(
            &db,
            &[
                ("MESSAGE_BROKER", "redis".to_owned()),
                ("REDIS_URL", format!("redis://127.0.0.1:{}/", redis.port)),
                ("REDIS_STREAM", "inventory-events".to_owned()),
            ],
        )
        .await;
        let redis_seqs = read_redis_seqs(redis.port, "inventory-events").await;
        assert_eq!(redis_seqs, seqs.iter().copied().collect::<Vec<_>>());

        // kafka
        let (db, seqs) = outbox().await;
        let tansu = Tansu::start_with_topic(db.dir(), "inventory-events", 3).await;
        relay_until_drained(
            &db,
            &[
                ("MESSAGE_BROKER", "kafka".to_owned()),
                ("KAFKA_BROKERS", tansu.brokers_addr()),
                ("KAFKA_TOPIC", "inventory-events".to_owned()),
            ],
        )
        .await;
        let records = read_kafka(
            &tansu.brokers_addr(),
            "inventory-events",
            EVENTS,
            Duration::from_secs(1),
        )
        .await;
        let kafka_seqs: BTreeSet<i64> = records.iter().map(|r| r.seq()).collect();
        assert_eq!(records.len(), EVENTS);
        assert_eq!(kafka_seqs, seqs);

        // nats
        let (db, seqs) = outbox().await;
        let nats = NatsServer::start(db.dir());
        relay_until_drained(
            &db,
            &[
                ("MESSAGE_BROKER", "nats".to_owned()),
                ("NATS_URL", nats.url()),
                ("NATS_STREAM", "INVENTORY_EVENTS".to_owned()),
            ],
        )
        .await;
        let records = read_nats(&nats.url(), "INVENTORY_EVENTS", EVENTS as u64).await;
        let nats_seqs: Vec<i64> = records.iter().map(|r| r.seq()).collect();
        assert_eq!(nats_seqs, seqs.iter().copied().collect::<Vec<_>>());

        // none: marked published, sent nowhere
        let (db, _) = outbox().await;
        relay_until_drained(&db, &[("MESSAGE_BROKER", "none".to_owned())]).await;
        assert_eq!(db.count_pending().await, 0);
        assert_eq!(db.count_all().await, EVENTS as i64);
    })
    .await;
}
