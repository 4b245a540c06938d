//! The test harness: [`spawn_app`] starts the real API on port 0 over a fresh SQLite file in a
//! temporary folder, and hands back a client, the key, and a pool on the same file so tests can
//! assert the rows and events a request wrote (or did not write).
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

use std::future::Future;
use std::time::Duration;

use inventory_api::Application;
use inventory_api::config::Settings;
use inventory_shared::config::Synchronous;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::SqlitePool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The development key, accepted on a loopback listener when `API_KEYS` is unset.
pub const DEV_KEY: &str = "dev-key-change-me";

/// Longest a single request may take before the test fails (generous: 2 loaded cores).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A running API and what a test needs to talk to it and look at its database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Shared HTTP client.
    pub client: reqwest::Client,
    /// A key the app accepts.
    pub key: String,
    /// The app's reader pool: for asserting rows, never for arranging state behind its back
    /// (except where a test says so, e.g. marking events published as the relay would).
    pub db: SqlitePool,
    /// The app's `/health` connection (closed by the tests of a dead database).
    pub health: SqlitePool,
    /// The app's state (writer, readers), for tests that drive a background task's pass
    /// directly (retention) instead of waiting for its timer.
    pub state: inventory_api::state::AppState,
    /// The database file.
    pub db_path: std::path::PathBuf,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Starts the API with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the API after `configure` adjusted the settings (expiry interval, keys ...).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary folder for the database");
    let mut settings = Settings::for_database(dir.path().join("inventory.db"));
    // Durability on power loss is not what these tests check; NORMAL keeps them fast.
    settings.database.sqlite_synchronous = Synchronous::Normal;
    // The expiry task is tested on its own (tests/expiry.rs); elsewhere it must not race the
    // test's own confirm of an overdue reservation, so it only ticks once at start.
    settings.reservation_expiry_interval = Duration::from_secs(3600);
    configure(&mut settings);
    let key = match &settings.api_keys {
        Some(keys) => keys
            .expose()
            .split(',')
            .next()
            .and_then(|entry| entry.split(':').next())
            .expect("the first configured key")
            .trim()
            .to_owned(),
        None => DEV_KEY.to_owned(),
    };
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let base = format!("http://{}", app.local_addr());
    let inventory_api::reads::Reads::Sqlite { pool, health, .. } = &app.state().reads else {
        panic!("the harness runs on SQLite");
    };
    let (db, health) = (pool.clone(), health.clone());
    let state = app.state().clone();
    let db_path = dir.path().join("inventory.db");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("an HTTP client");
    TestApp {
        base,
        client,
        key,
        db,
        health,
        state,
        db_path,
        shutdown,
        task: Some(task),
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One answer: status, headers and the body (parsed when it is JSON, else `Value::Null`).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Parsed JSON body (`Null` when empty or not JSON).
    pub body: Value,
    /// Raw body text.
    pub text: String,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body field `name` as a string (panics with the body when absent).
    pub fn str(&self, name: &str) -> &str {
        self.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("field {name} is not a string in {}", self.body))
    }

    /// The body field `name` as an integer (panics with the body when absent).
    pub fn int(&self, name: &str) -> i64 {
        self.body[name]
            .as_i64()
            .unwrap_or_else(|| panic!("field {name} is not an integer in {}", self.body))
    }

    /// Asserts the status, with the body in the failure message.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status and code, and every mandatory member.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.text
        );
        assert_eq!(self.body["code"], json!(code), "code; body: {}", self.text);
        assert_eq!(
            self.body["status"],
            json!(status),
            "status member; body: {}",
            self.text
        );
        for member in ["type", "title", "detail"] {
            assert!(
                self.body[member].as_str().is_some_and(|s| !s.is_empty()),
                "problem member {member} missing in {}",
                self.text
            );
        }
        self
    }

    /// Asserts 400 VALIDATION_FAILED whose `errors[]` names exactly `fields` (any order).
    #[track_caller]
    pub fn expect_invalid_fields(&self, fields: &[&str]) -> &Self {
        self.expect_problem(400, "VALIDATION_FAILED");
        let mut named = self.error_fields();
        named.sort();
        let mut wanted: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        wanted.sort();
        assert_eq!(named, wanted, "errors[] fields; body: {}", self.text);
        for error in self.body["errors"].as_array().into_iter().flatten() {
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "every field error has a message: {}",
                self.text
            );
        }
        self
    }

    /// The `field` of every entry of `errors[]`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A stock row as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StockDbRow {
    /// Units on hand.
    pub quantity: i64,
    /// Units held.
    pub reserved: i64,
    /// Version.
    pub version: i64,
}

/// An event row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventDbRow {
    /// Global order.
    pub seq: i64,
    /// Type.
    pub event_type: String,
    /// `stock` or `reservation`.
    pub aggregate_type: String,
    /// Product or reservation id.
    pub aggregate_id: String,
    /// Store.
    pub store_id: Option<String>,
    /// Product id.
    pub partition_key: String,
    /// JSON text.
    pub payload: String,
}

impl EventDbRow {
    /// The payload as JSON.
    pub fn payload(&self) -> Value {
        serde_json::from_str(&self.payload).expect("stored payloads are JSON")
    }
}

/// Counts of every table, to prove a refused request wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Products.
    pub products: i64,
    /// Stock rows with their quantity, reserved and version.
    pub stock: Vec<(String, String, i64, i64, i64)>,
    /// Reservations with their status.
    pub reservations: Vec<(String, String)>,
    /// Events.
    pub events: i64,
}

impl TestApp {
    /// Stops the app and waits (bounded) for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let ended = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the app stops within 30 s")
                .expect("the app task does not panic");
            ended.expect("the app ends without error");
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the key (and a JSON body when given).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method"),
                self.url(path),
            )
            .header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// GET with the key.
    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    /// GET without any key.
    pub async fn get_public(&self, path: &str) -> Reply {
        send(self.client.get(self.url(path))).await
    }

    /// POST a JSON body with the key.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    /// POST with no body at all.
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.call("POST", path, None).await
    }

    /// PUT a JSON body with the key.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    /// DELETE with the key.
    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// Sends raw bytes as `application/json` (malformed JSON, huge bodies).
    pub async fn send_raw(&self, method: &str, path: &str, body: impl Into<Vec<u8>>) -> Reply {
        let request = self
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method"),
                self.url(path),
            )
            .header("x-api-key", &self.key)
            .header("content-type", "application/json")
            .body(body.into());
        send(request).await
    }

    /// Creates a product (201 asserted) and returns its body.
    pub async fn create_product(&self, sku: &str) -> Value {
        self.create_product_in(sku, "electronics").await
    }

    /// Creates a product of a category (201 asserted) and returns its body.
    pub async fn create_product_in(&self, sku: &str, category: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/products",
                json!({"sku": sku, "name": format!("Product {sku}"), "category": category, "price": 9.99}),
            )
            .await;
        reply.expect_status(201);
        reply.body
    }

    /// Creates a product and returns its id.
    pub async fn product_id(&self, sku: &str) -> String {
        self.create_product(sku).await["id"]
            .as_str()
            .expect("product id")
            .to_owned()
    }

    /// Creates a stock row (201 asserted).
    pub async fn create_stock(&self, product_id: &str, store_id: &str, quantity: i64) -> Value {
        let reply = self
            .post(
                "/api/v1/stock",
                json!({"product_id": product_id, "store_id": store_id, "initial_quantity": quantity}),
            )
            .await;
        reply.expect_status(201);
        reply.body
    }

    /// Creates a product with stock in one store; returns the product id.
    pub async fn product_with_stock(&self, sku: &str, store_id: &str, quantity: i64) -> String {
        let id = self.product_id(sku).await;
        self.create_stock(&id, store_id, quantity).await;
        id
    }

    /// Reserves units (201 asserted); returns the reservation id.
    pub async fn reserve(
        &self,
        product_id: &str,
        store_id: &str,
        quantity: i64,
        ttl_seconds: Option<i64>,
    ) -> String {
        let mut body = json!({
            "product_id": product_id,
            "store_id": store_id,
            "customer_id": "customer-1",
            "quantity": quantity,
        });
        if let Some(ttl) = ttl_seconds {
            body["ttl_seconds"] = json!(ttl);
        }
        let reply = self.post("/api/v1/reservations", body).await;
        reply.expect_status(201);
        reply.str("id").to_owned()
    }

    /// The stored stock row, if any.
    pub async fn stock_row(&self, product_id: &str, store_id: &str) -> Option<StockDbRow> {
        sqlx::query_as(
            "SELECT quantity, reserved, version FROM stock WHERE product_id = ? AND store_id = ?",
        )
        .bind(product_id)
        .bind(store_id)
        .fetch_optional(&self.db)
        .await
        .expect("reading a stock row")
    }

    /// The stored stock row (panics when missing).
    pub async fn stock(&self, product_id: &str, store_id: &str) -> StockDbRow {
        self.stock_row(product_id, store_id)
            .await
            .unwrap_or_else(|| panic!("no stock row for {product_id} in {store_id}"))
    }

    /// The stored status of a reservation.
    pub async fn reservation_status(&self, id: &str) -> String {
        sqlx::query_scalar("SELECT status FROM reservations WHERE id = ?")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .expect("reading a reservation")
    }

    /// Number of event rows.
    pub async fn event_count(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM events").await
    }

    /// Number of event rows of one type.
    pub async fn event_count_of(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = ?")
            .bind(event_type)
            .fetch_one(&self.db)
            .await
            .expect("counting events")
    }

    /// Runs a `SELECT COUNT(*)`.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db)
            .await
            .expect("counting rows")
    }

    /// Every event, in seq order.
    pub async fn events(&self) -> Vec<EventDbRow> {
        sqlx::query_as(
            "SELECT seq, event_type, aggregate_type, aggregate_id, store_id, partition_key, \
             payload FROM events ORDER BY seq",
        )
        .fetch_all(&self.db)
        .await
        .expect("reading events")
    }

    /// The newest event (panics when there is none).
    pub async fn last_event(&self) -> EventDbRow {
        self.events().await.pop().expect("at least one event")
    }

    /// Every table at once, to compare before and after a refused request.
    pub async fn snapshot(&self) -> Snapshot {
        Snapshot {
            products: self.count("SELECT COUNT(*) FROM products").await,
            stock: sqlx::query_as(
                "SELECT product_id, store_id, quantity, reserved, version FROM stock \
                 ORDER BY product_id, store_id",
            )
            .fetch_all(&self.db)
            .await
            .expect("reading stock"),
            reservations: sqlx::query_as("SELECT id, status FROM reservations ORDER BY id")
                .fetch_all(&self.db)
                .await
                .expect("reading reservations"),
            events: self.event_count().await,
        }
    }
}

/// Sends a request and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the request gets an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("the body can be read");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the wall clock is past an RFC 3339 instant (a reservation's `expires_at`).
pub async fn wait_until_past(rfc3339: &str) {
    let deadline = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 instant")
        .with_timezone(&chrono::Utc);
    eventually(Duration::from_secs(30), "the deadline to pass", || async {
        (chrono::Utc::now() > deadline + chrono::Duration::milliseconds(20)).then_some(())
    })
    .await;
}

/// Parses an RFC 3339 instant.
pub fn instant(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339} is not RFC 3339: {e}"))
        .with_timezone(&chrono::Utc)
}
