//! End to end: writes made through the API's HTTP routes reach the Redis stream exactly once,
//! in `seq` order, with the fields of `docs/relay.md` and the payload equal to the stored one.

mod common;

use std::time::Duration;

use common::{RedisServer, RunningRelay, STREAM, settings, wait_until};
use inventory_api::{Application, config::Settings as ApiSettings};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const KEY: &str = "dev-key-change-me";

/// seq, id, event_type, aggregate_type, aggregate_id, store_id, payload
type StoredRow = (i64, String, String, String, String, Option<String>, String);

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("X-API-Key", KEY)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON body");
        assert!(status.is_success(), "{path} answered {status}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, body).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_writes_reach_the_stream_once_in_order_with_the_stored_payloads() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("inventory.db");
    let api = Application::build(ApiSettings::for_database(&db_path))
        .await
        .expect("API builds");
    let client = Api {
        base: format!("http://{}/api/v1", api.local_addr()),
        client: reqwest::Client::new(),
    };
    let inventory_api::reads::Reads::Sqlite { pool: reader, .. } = api.state().reads.clone() else {
        panic!("this test runs the API on SQLite");
    };
    let stop_api = CancellationToken::new();
    let api_task = tokio::spawn(api.run(stop_api.clone()));
    let relay = RunningRelay::start(settings(&db_path, redis.port, &[])).await;

    // A little of everything: every event type.
    let product = client
        .post(
            "/products",
            json!({"sku": "E2E-1", "name": "End to end", "price": 9.99}),
        )
        .await;
    let product_id = product["id"].as_str().expect("id").to_owned();
    for store in ["MAD-001", "BCN-001"] {
        let body = json!({"product_id": product_id, "store_id": store, "initial_quantity": 40});
        client.post("/stock", body).await;
    }
    let adjust = json!({"adjustment": 5, "reason": "recount"});
    client
        .post(&format!("/stock/{product_id}/MAD-001/adjust"), adjust)
        .await;
    let transfer = json!({"product_id": product_id, "from_store_id": "MAD-001", "to_store_id": "BCN-001", "quantity": 3});
    client.post("/stock/transfer", transfer).await;
    let mut reservations = Vec::new();
    for i in 0..6 {
        let body = json!({"product_id": product_id, "store_id": "BCN-001", "customer_id": format!("c{i}"), "quantity": 1});
        let created = client.post("/reservations", body).await;
        reservations.push(created["id"].as_str().expect("id").to_owned());
    }
    for id in &reservations[..3] {
        client
            .post(&format!("/reservations/{id}/confirm"), json!({}))
            .await;
    }
    for id in &reservations[3..] {
        client
            .post(&format!("/reservations/{id}/cancel"), json!({}))
            .await;
    }
    let expected_events = 2 + 1 + 1 + 6 + 3 + 3;

    wait_until(
        Duration::from_secs(30),
        "every API event published",
        || async {
            let pending: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE synced_at IS NULL")
                    .fetch_one(&reader)
                    .await
                    .expect("count pending");
            pending == 0
        },
    )
    .await;

    let stored: Vec<StoredRow> = sqlx::query_as(
        "SELECT seq, id, event_type, aggregate_type, aggregate_id, store_id, payload \
             FROM events ORDER BY seq",
    )
    .fetch_all(&reader)
    .await
    .expect("stored events");
    let entries = redis.entries(STREAM).await;
    assert_eq!(stored.len(), expected_events);
    assert_eq!(entries.len(), stored.len(), "one stream entry per event");
    for (entry, (seq, id, event_type, aggregate_type, aggregate_id, store_id, payload)) in
        entries.iter().zip(&stored)
    {
        assert_eq!(entry["seq"], seq.to_string());
        assert_eq!(&entry["id"], id);
        assert_eq!(&entry["event_type"], event_type);
        assert_eq!(&entry["aggregate_type"], aggregate_type);
        assert_eq!(&entry["aggregate_id"], aggregate_id);
        assert_eq!(entry["store_id"], store_id.clone().unwrap_or_default());
        let sent: Value = serde_json::from_str(&entry["payload"]).expect("payload JSON");
        let kept: Value = serde_json::from_str(payload).expect("stored payload JSON");
        assert_eq!(sent, kept, "payload of seq {seq}");
        assert!(entry.contains_key("created_at") && entry.contains_key("timestamp"));
    }
    let types: Vec<&str> = stored.iter().map(|e| e.2.as_str()).collect();
    for kind in [
        "stock.created",
        "stock.updated",
        "stock.transferred",
        "reservation.created",
        "reservation.confirmed",
        "reservation.cancelled",
    ] {
        assert!(
            types.contains(&kind),
            "{kind} is among the published events"
        );
    }

    relay.stop().await;
    stop_api.cancel();
    api_task
        .await
        .expect("API task")
        .expect("API stops cleanly");
}
