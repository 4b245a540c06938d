//! Helpers of `tests/idempotency.rs`: keyed requests, a client that hangs up before reading
//! its answer, the stored key rows, and one arranged case per state-changing route.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::common::{Reply, TestApp, eventually, send};

/// The response header of a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// Sends a request with the app's key, an `Idempotency-Key`, and a JSON body when given.
pub async fn keyed(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&Value>,
    idempotency_key: &str,
) -> Reply {
    let mut request = app
        .client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("a method"),
            app.url(path),
        )
        .header("x-api-key", &app.key)
        .header("idempotency-key", idempotency_key);
    if let Some(body) = body {
        request = request.json(body);
    }
    send(request).await
}

/// Sends raw body bytes (another spelling of the same JSON) with a key.
pub async fn keyed_raw(app: &TestApp, path: &str, body: &str, idempotency_key: &str) -> Reply {
    let request = app
        .client
        .post(app.url(path))
        .header("x-api-key", &app.key)
        .header("idempotency-key", idempotency_key)
        .header("content-type", "application/json")
        .body(body.to_owned());
    send(request).await
}

/// The stored answer of a key: (status, body text).
pub async fn stored(app: &TestApp, idempotency_key: &str) -> Option<(i64, String)> {
    let row: Option<(i64, Vec<u8>)> = app
        .db
        .optional(
            "SELECT status, body FROM idempotency_keys WHERE idempotency_key = ?",
            &[idempotency_key.into()],
        )
        .await;
    row.map(|(status, body)| (status, String::from_utf8(body).expect("a UTF-8 body")))
}

pub async fn key_rows(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM idempotency_keys").await
}

/// When a raw client hangs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangUp {
    /// Once the server has committed the write (its key row exists), without reading a byte
    /// of the answer: the answer was lost on the way back.
    AfterTheCommit,
    /// Right after sending, before the server could answer at all.
    AtOnce,
}

/// Writes the whole request on a raw TCP connection and hangs up without reading the answer:
/// the client of a network that timed out, who cannot know whether the write happened.
pub async fn send_and_hang_up(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&Value>,
    idempotency_key: &str,
    when: HangUp,
) {
    let addr = app.base.strip_prefix("http://").expect("an http base");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting");
    let body = body
        .map(|b| serde_json::to_vec(b).expect("a JSON body"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {}\r\n\
         Idempotency-Key: {idempotency_key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        app.key,
        body.len()
    );
    stream
        .write_all(&[head.as_bytes(), &body].concat())
        .await
        .expect("sending");
    if when == HangUp::AfterTheCommit {
        eventually(Duration::from_secs(30), "the write to commit", || async {
            stored(app, idempotency_key).await.map(|_| ())
        })
        .await;
    }
    drop(stream);
}

/// One state-changing route, arranged so its first call succeeds.
pub struct Case {
    /// `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The route, with its ids.
    pub path: String,
    /// The JSON body, if the route takes one.
    pub body: Option<Value>,
    /// The status of the first call.
    pub status: u16,
    /// Events the first call writes.
    pub events: i64,
}

/// Arranges a product with stock in two stores, a product to delete, two pending
/// reservations and three holds, and returns one case per state-changing route (all sixteen).
pub async fn every_write(app: &TestApp) -> Vec<Case> {
    let product = app.product_with_stock("IDEM-1", "MAD-001", 50).await;
    app.create_stock(&product, "BCN-001", 5).await;
    let doomed = app.product_id("IDEM-DOOMED").await;
    let to_confirm = app.reserve(&product, "MAD-001", 2, None).await;
    let to_cancel = app.reserve(&product, "MAD-001", 3, None).await;
    let to_extend = app.reserve(&product, "MAD-001", 1, None).await;
    let hold = |customer: &'static str| {
        json!({"customer_id": customer, "items": [
            {"product_id": product, "store_id": "MAD-001", "quantity": 1}]})
    };
    let mut holds = Vec::new();
    for customer in ["h-confirm", "h-cancel", "h-extend"] {
        let made = app.post("/api/v1/holds", hold(customer)).await;
        made.expect_status(201);
        holds.push(made.str("id").to_owned());
    }
    let case = |method, path: String, body: Option<Value>, status, events| Case {
        method,
        path,
        body,
        status,
        events,
    };
    vec![
        case(
            "POST",
            "/api/v1/products".into(),
            Some(json!({"sku": "IDEM-NEW", "name": "New", "price": 1.5})),
            201,
            0,
        ),
        case(
            "PUT",
            format!("/api/v1/products/{product}"),
            Some(json!({"sku": "IDEM-1", "name": "Renamed", "price": 2.25})),
            200,
            0,
        ),
        case("DELETE", format!("/api/v1/products/{doomed}"), None, 204, 0),
        case(
            "POST",
            "/api/v1/stock".into(),
            Some(json!({"product_id": product, "store_id": "VAL-001", "initial_quantity": 7})),
            201,
            1,
        ),
        case(
            "PUT",
            format!("/api/v1/stock/{product}/MAD-001"),
            Some(json!({"quantity": 60})),
            200,
            1,
        ),
        case(
            "POST",
            format!("/api/v1/stock/{product}/MAD-001/adjust"),
            Some(json!({"adjustment": 4})),
            200,
            1,
        ),
        case(
            "POST",
            "/api/v1/stock/transfer".into(),
            Some(json!({"product_id": product, "from_store_id": "MAD-001",
                        "to_store_id": "BCN-001", "quantity": 1})),
            200,
            1,
        ),
        case(
            "POST",
            "/api/v1/reservations".into(),
            Some(json!({"product_id": product, "store_id": "MAD-001",
                        "customer_id": "c-9", "quantity": 1})),
            201,
            1,
        ),
        case(
            "POST",
            format!("/api/v1/reservations/{to_confirm}/confirm"),
            None,
            200,
            1,
        ),
        case(
            "POST",
            format!("/api/v1/reservations/{to_cancel}/cancel"),
            Some(json!({"reason": "changed mind"})),
            200,
            1,
        ),
        case(
            "POST",
            format!("/api/v1/reservations/{to_extend}/extend"),
            Some(json!({"ttl_seconds": 1200})),
            200,
            1,
        ),
        case("POST", "/api/v1/holds".into(), Some(hold("h-new")), 201, 1),
        case(
            "POST",
            format!("/api/v1/holds/{}/confirm", holds[0]),
            None,
            200,
            1,
        ),
        case(
            "POST",
            format!("/api/v1/holds/{}/cancel", holds[1]),
            Some(json!({"reason": "cart emptied"})),
            200,
            1,
        ),
        case(
            "POST",
            format!("/api/v1/holds/{}/extend", holds[2]),
            Some(json!({"ttl_seconds": 1200})),
            200,
            1,
        ),
        case(
            "POST",
            "/api/v1/stock/bulk".into(),
            Some(json!({"items": [{"product_id": product, "store_id": "BCN-001", "quantity": 9}]})),
            200,
            1,
        ),
    ]
}

/// Asserts that `retry` is `first` again, marked as replayed.
#[track_caller]
pub fn assert_replay_of(retry: &Reply, status: u16, body: &str, what: &str) {
    assert_eq!(retry.status, status, "{what}: status; body {}", retry.text);
    assert_eq!(retry.text, body, "{what}: the same body");
    assert_eq!(
        retry.header(REPLAYED),
        Some("true"),
        "{what}: marked replayed"
    );
}
