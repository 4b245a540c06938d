//! The event contract: the committed `asyncapi.yaml` is what the code generates, and every
//! event the API emits, from a run that performs every operation, validates against its
//! message schema there.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Api, random_workload, wait_until};
use serde_json::Value;

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../asyncapi.yaml"))
        .expect("asyncapi.yaml exists at the repository root")
}

#[test]
fn committed_asyncapi_matches_the_generated_document() {
    let generated = inventory_consumer::asyncapi::yaml().expect("document builds");
    assert!(
        generated == committed(),
        "asyncapi.yaml differs from the event types; regenerate it with \
         `cargo run -p inventory-consumer -- asyncapi > asyncapi.yaml` and review the diff"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_the_api_emits_validates_against_its_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = Api::start(dir.path()).await;
    random_workload(&api, 11, 4, 300).await;
    wait_until(
        Duration::from_secs(10),
        "the reservations left to expire expired",
        || async {
            let conn = inventory_shared::db::open_reader(&api.db).expect("db");
            conn.query_row(
                "SELECT COUNT(*) FROM events WHERE event_type = 'reservation.expired'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .expect("count")
                >= 2
        },
    )
    .await;

    let document: Value = serde_yaml::from_str(&committed()).expect("asyncapi.yaml is YAML");
    let schemas = &document["components"]["schemas"];
    let conn = inventory_shared::db::open_reader(&api.db).expect("db");
    let events = inventory_shared::outbox::fetch_pending(&conn, 1_000_000).expect("events");
    assert_eq!(
        events.len() as i64,
        api.event_count(),
        "no relay ran: all events are pending"
    );
    let mut types = BTreeSet::new();
    let mut created_destination = false;
    for event in &events {
        let kind =
            inventory_shared::events::EventType::parse(&event.event_type).expect("known type");
        let name = format!(
            "{}Envelope",
            inventory_consumer::asyncapi::message_name(kind)
        );
        let schema = &schemas[&name];
        assert!(schema.is_object(), "asyncapi.yaml has no schema {name}");
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .expect("the schema compiles");
        let envelope: Value = serde_json::from_str(&event.envelope_json()).expect("envelope JSON");
        let errors: Vec<String> = validator
            .iter_errors(&envelope)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "seq {} ({}) does not match {name}: {errors:?}\n{envelope}",
            event.seq,
            event.event_type
        );
        created_destination |= envelope["payload"]["to_created"] == Value::Bool(true);
        types.insert(event.event_type.clone());
    }
    assert_eq!(types.len(), 8, "every event type was emitted: {types:?}");
    assert!(
        created_destination,
        "a transfer created its destination row"
    );
}
