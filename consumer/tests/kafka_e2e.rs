//! End to end over Kafka (a private `tansu` broker, 3 partitions): API, relay and consumer as
//! processes; after a random mix every projection row equals the API's.

mod common;

use std::time::Duration;

use common::brokers::Tansu;
use common::{Api, ConsumerProc, assert_converges, inbox_count, random_workload, spawn_relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_kafka_every_row_ends_equal_to_the_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tansu = Tansu::start_with_topic(dir.path(), "inventory-events", 3).await;
    let api = Api::start(dir.path()).await;
    let broker = [
        ("MESSAGE_BROKER", "kafka".to_owned()),
        ("KAFKA_BROKERS", tansu.brokers()),
    ];
    let mut relay = spawn_relay(dir.path(), &api, &broker);
    let projection_path = dir.path().join("availability.db");
    let mut env = broker.to_vec();
    env.push((
        "CONSUMER_DATABASE_URL",
        projection_path.display().to_string(),
    ));
    env.push(("INVENTORY_API_URL", api.base.clone()));
    let mut consumer = ConsumerProc::spawn(dir.path(), "k1", &env);
    random_workload(&api, 21, 4, 300).await;
    // A consumer restart resumes from the group's committed offsets.
    consumer.proc.kill();
    let _consumer = ConsumerProc::spawn(dir.path(), "k1", &env);
    random_workload(&api, 22, 2, 100).await;
    assert_converges(&api, &projection_path, Duration::from_secs(60)).await;
    assert_eq!(inbox_count(&projection_path), api.event_count());
    relay.kill();
}
