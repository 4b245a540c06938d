//! End to end over Redis with real processes (API, relay, a private redis-server, consumer):
//! after a random mix of operations every projection row equals the API's stock row, also
//! with the relay or the consumer SIGKILLed mid-way, with two members in one group, and with
//! a trimmed stream.

mod common;

use std::time::Duration;

use common::brokers::Redis;
use common::{
    Api, ConsumerProc, assert_converges, inbox_count, metric, random_workload, spawn_relay,
    wait_until,
};

const STREAM: &str = "inventory-events";
const GROUP: &str = "inventory-availability";

fn consumer_env(
    dir: &std::path::Path,
    redis: &Redis,
    api: &Api,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "CONSUMER_DATABASE_URL",
            dir.join("availability.db").display().to_string(),
        ),
        ("REDIS_URL", redis.url()),
        ("INVENTORY_API_URL", api.base.clone()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_mix_ends_with_every_row_equal_to_the_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = Redis::start(dir.path());
    let api = Api::start(dir.path()).await;
    let _relay = spawn_relay(dir.path(), &api, &[("REDIS_URL", redis.url())]);
    let consumer = ConsumerProc::spawn(
        dir.path(),
        "c1",
        &consumer_env(dir.path(), &redis, &api, &[]),
    );

    random_workload(&api, 1, 6, 400).await;
    // Reservations with a 1 s TTL expire meanwhile (`reservation.expired`).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_converges(
        &api,
        &dir.path().join("availability.db"),
        Duration::from_secs(60),
    )
    .await;

    let events = api.event_count();
    assert_eq!(inbox_count(&dir.path().join("availability.db")), events);
    let text = consumer.metrics().await;
    assert_eq!(metric(&text, "consumer_gaps_total"), Some(0.0), "{text}");
    assert_eq!(metric(&text, "consumer_duplicates_total"), Some(0.0));
    assert_eq!(metric(&text, "consumer_last_seq"), Some(events as f64));
    assert!(
        metric(
            &text,
            "consumer_events_applied_total{event_type=\"reservation.expired\"}"
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_from_a_relay_killed_mid_drain_are_never_applied_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = Redis::start(dir.path());
    let api = Api::start(dir.path()).await;
    let consumer = ConsumerProc::spawn(
        dir.path(),
        "c1",
        &consumer_env(dir.path(), &redis, &api, &[]),
    );
    random_workload(&api, 2, 6, 1200).await;
    let events = api.event_count();

    let relay_env = [
        ("REDIS_URL", redis.url()),
        ("RELAY_BATCH_SIZE", "20".to_owned()),
    ];
    for threshold in [events / 4, events / 2] {
        let mut relay = spawn_relay(dir.path(), &api, &relay_env);
        wait_until(Duration::from_secs(60), "the relay publishing", || async {
            redis.xlen(STREAM).await >= threshold
        })
        .await;
        relay.kill();
    }
    let _relay = spawn_relay(dir.path(), &api, &relay_env);
    assert_converges(
        &api,
        &dir.path().join("availability.db"),
        Duration::from_secs(60),
    )
    .await;
    // Re-publish 50 entries as a relay that lost its marks would.
    let mut conn = redis.connection().await;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(STREAM)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(50)
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    for entry in &entries.ids {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(STREAM).arg("*");
        for k in entry.map.keys() {
            let v: String = entry.get(k).expect("string field");
            cmd.arg(k).arg(v);
        }
        let _: String = cmd.query_async(&mut conn).await.expect("XADD");
    }
    // Counted now: the workload's last reservations expired meanwhile (two more events).
    let events = api.event_count();
    let in_stream = redis.xlen(STREAM).await;
    wait_until(
        Duration::from_secs(30),
        "every duplicate counted",
        || async {
            metric(&consumer.metrics().await, "consumer_duplicates_total")
                == Some((in_stream - events) as f64)
        },
    )
    .await;
    assert_eq!(
        inbox_count(&dir.path().join("availability.db")),
        events,
        "each event applied once"
    );
    assert_converges(
        &api,
        &dir.path().join("availability.db"),
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_and_restarted_several_times_ends_equal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = Redis::start(dir.path());
    let api = Api::start(dir.path()).await;
    let _relay = spawn_relay(dir.path(), &api, &[("REDIS_URL", redis.url())]);
    let env = consumer_env(dir.path(), &redis, &api, &[("CONSUMER_BATCH_SIZE", "20")]);
    let api = std::sync::Arc::new(api);
    let writer = {
        let api = api.clone();
        tokio::spawn(async move { random_workload(&api, 3, 6, 1200).await })
    };
    for _ in 0..4 {
        let mut consumer = ConsumerProc::spawn(dir.path(), "c1", &env);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(consumer.proc.running(), "consumer exited by itself");
        consumer.proc.kill();
    }
    writer.await.expect("workload");
    let _consumer = ConsumerProc::spawn(dir.path(), "c1", &env);
    assert_converges(
        &api,
        &dir.path().join("availability.db"),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        inbox_count(&dir.path().join("availability.db")),
        api.event_count()
    );
    wait_until(Duration::from_secs(10), "nothing left pending", || async {
        redis.pending(STREAM, GROUP).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_share_a_group_and_the_survivor_claims_the_dead_ones_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = Redis::start(dir.path());
    let api = Api::start(dir.path()).await;
    let _relay = spawn_relay(dir.path(), &api, &[("REDIS_URL", redis.url())]);
    random_workload(&api, 4, 6, 600).await;
    wait_until(
        Duration::from_secs(30),
        "the backlog in the stream",
        || async { api.pending() == 0 },
    )
    .await;

    let env = consumer_env(dir.path(), &redis, &api, &[("CONSUMER_BATCH_SIZE", "10")]);
    let mut a = ConsumerProc::spawn(dir.path(), "member-a", &env);
    // Freeze A while it holds delivered, unacknowledged entries, then start B beside it and
    // kill A. (B used to start together with A; on a fast machine it could take the whole
    // backlog before A was ever caught holding entries, and the test failed for that.)
    let mut conn = redis.connection().await;
    let mut held = 0;
    for _ in 0..500 {
        a.proc.signal("STOP");
        let reply: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg(STREAM)
            .arg(GROUP)
            .arg("-")
            .arg("+")
            .arg(1000)
            .arg("member-a")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        held = reply.len();
        if held > 0 {
            break;
        }
        a.proc.signal("CONT");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(held > 0, "member A never held pending entries");
    let b = ConsumerProc::spawn(dir.path(), "member-b", &env);
    a.proc.kill();
    random_workload(&api, 44, 2, 100).await;

    assert_converges(
        &api,
        &dir.path().join("availability.db"),
        Duration::from_secs(60),
    )
    .await;
    wait_until(
        Duration::from_secs(20),
        "A's entries claimed and acknowledged by B",
        || async { redis.pending(STREAM, GROUP).await == 0 },
    )
    .await;
    assert_eq!(
        inbox_count(&dir.path().join("availability.db")),
        api.event_count()
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_started_behind_a_trimmed_stream_repairs_from_the_audit_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = Redis::start(dir.path());
    let api = Api::start(dir.path()).await;
    let _relay = spawn_relay(
        dir.path(),
        &api,
        &[
            ("REDIS_URL", redis.url()),
            ("REDIS_STREAM_MAXLEN", "100".to_owned()),
        ],
    );
    random_workload(&api, 5, 6, 800).await;
    wait_until(Duration::from_secs(30), "everything published", || async {
        api.pending() == 0
    })
    .await;
    let events = api.event_count();
    assert!(
        redis.xlen(STREAM).await < events / 2,
        "the stream was trimmed"
    );

    let consumer = ConsumerProc::spawn(
        dir.path(),
        "late",
        &consumer_env(dir.path(), &redis, &api, &[]),
    );
    assert_converges(
        &api,
        &dir.path().join("availability.db"),
        Duration::from_secs(60),
    )
    .await;
    let text = consumer.metrics().await;
    assert!(
        metric(&text, "consumer_gaps_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    // And it keeps consuming from the stream afterwards.
    random_workload(&api, 55, 2, 100).await;
    assert_converges(
        &api,
        &dir.path().join("availability.db"),
        Duration::from_secs(30),
    )
    .await;
}
