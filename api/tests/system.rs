//! System routes and cross-cutting HTTP behaviour: health, docs, spec, metrics, request ids,
//! unknown routes, wrong methods, and authentication of every protected route.

mod common;

use common::{Backend, Reply, send, spawn_app, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn health_answers_200_with_the_database_status() {
    let app = spawn_app().await;

    let reply = app.get_public("/health").await;

    reply.expect_status(200);
    assert_eq!(
        reply.body,
        json!({"status": "ok", "database": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
    app.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app().await;

    let reply = app.get_public("/docs").await;

    reply.expect_status(200);
    assert!(
        reply.text.to_lowercase().contains("swagger"),
        "the docs page is Swagger UI: {}",
        reply.text
    );
}

#[tokio::test]
async fn the_spec_is_served_as_json_with_every_resource() {
    let app = spawn_app().await;

    let reply = app.get_public("/openapi.json").await;

    reply.expect_status(200);
    assert!(
        reply.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let paths = reply.body["paths"].as_object().expect("paths object");
    for path in [
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/stock",
        "/api/v1/stock/transfer",
        "/api/v1/reservations",
        "/api/v1/reservations/{id}/confirm",
        "/api/v1/events",
        "/api/v1/events/stats",
        "/health",
    ] {
        assert!(paths.contains_key(path), "the spec lists {path}");
    }
}

#[tokio::test]
async fn metrics_expose_request_and_reservation_counters() {
    let app = spawn_app().await;
    let product = app.product_with_stock("METRICS-1", "MAD-001", 5).await;
    app.reserve(&product, "MAD-001", 1, None).await;

    let reply = app.get_public("/metrics").await;

    reply.expect_status(200);
    let created_ok = reply.text.lines().find(|line| {
        line.starts_with("reservations_total{")
            && line.contains("operation=\"create\"")
            && line.contains("outcome=\"ok\"")
    });
    let created_ok = created_ok.unwrap_or_else(|| panic!("no create/ok counter in {}", reply.text));
    let value: f64 = created_ok
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a counter value");
    assert!(value >= 1.0, "the reservation was counted: {created_ok}");
    assert!(
        reply
            .text
            .lines()
            .any(|line| line.starts_with("http_requests_total{")
                && line.contains("route=\"create_reservation\"")
                && line.contains("status=\"201\"")),
        "requests are counted per operation id and status: {}",
        reply.text
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    let app = spawn_app().await;

    let answers: Vec<Reply> = vec![
        app.get_public("/health").await,
        app.get_public("/api/v1/products/0193a000-0000-7000-8000-000000000000")
            .await,
        app.get_public("/api/v1/stock/store/MAD-001").await,
        app.get_public("/nowhere").await,
        app.call("PATCH", "/api/v1/products", None).await,
        app.post("/api/v1/products", json!({})).await,
    ];

    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 404, 401, 404, 405, 400]);
    for reply in &answers {
        let id = reply
            .header("x-request-id")
            .expect("an X-Request-Id header");
        assert!(!id.is_empty());
    }
    let first = answers[0].header("x-request-id");
    let second = answers[1].header("x-request-id");
    assert_ne!(first, second, "each request gets its own id");

    let echoed = send(
        app.client
            .get(app.url("/api/v1/products"))
            .header("x-request-id", "trace-42-abc"),
    )
    .await;
    echoed.expect_status(200);
    assert_eq!(echoed.header("x-request-id"), Some("trace-42-abc"));

    let echoed_error = send(
        app.client
            .get(app.url("/api/v1/products/0193a000-0000-7000-8000-000000000000"))
            .header("x-request-id", "trace-43"),
    )
    .await;
    echoed_error.expect_problem(404, "PRODUCT_NOT_FOUND");
    assert_eq!(echoed_error.header("x-request-id"), Some("trace-43"));
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;

    for path in ["/nowhere", "/api/v1/nothing-here", "/api/v2/products"] {
        let reply = app.get(path).await;

        reply.expect_problem(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let app = spawn_app().await;
    let cases = [
        ("PATCH", "/api/v1/products", "GET, POST"),
        ("DELETE", "/api/v1/stock/transfer", "POST"),
        ("GET", "/api/v1/reservations", "POST"),
        ("POST", "/api/v1/events", "GET"),
        ("DELETE", "/api/v1/stock/p-1/MAD-001", "GET, PUT"),
        ("PUT", "/api/v1/reservations/r-1/confirm", "POST"),
    ];

    for (method, path, allow) in cases {
        let reply = app.call(method, path, None).await;

        reply.expect_problem(405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
}

/// Every route that needs a key, with a body that would be valid.
fn protected_routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    let stock = json!({"product_id": "p", "store_id": "MAD-001", "initial_quantity": 1});
    let product = json!({"sku": "S-1", "name": "n", "price": 1.0});
    vec![
        ("POST", "/api/v1/products", Some(product.clone())),
        ("PUT", "/api/v1/products/p", Some(product)),
        ("DELETE", "/api/v1/products/p", None),
        ("POST", "/api/v1/stock", Some(stock)),
        ("GET", "/api/v1/stock/product/p", None),
        ("GET", "/api/v1/stock/store/MAD-001", None),
        ("GET", "/api/v1/stock/low-stock", None),
        ("GET", "/api/v1/stock/p/MAD-001", None),
        ("GET", "/api/v1/stock/p/MAD-001/availability", None),
        (
            "PUT",
            "/api/v1/stock/p/MAD-001",
            Some(json!({"quantity": 1})),
        ),
        (
            "POST",
            "/api/v1/stock/p/MAD-001/adjust",
            Some(json!({"adjustment": 1})),
        ),
        (
            "POST",
            "/api/v1/stock/transfer",
            Some(
                json!({"product_id": "p", "from_store_id": "A", "to_store_id": "B", "quantity": 1}),
            ),
        ),
        (
            "POST",
            "/api/v1/reservations",
            Some(json!({"product_id": "p", "store_id": "A", "customer_id": "c", "quantity": 1})),
        ),
        ("GET", "/api/v1/reservations/r", None),
        ("POST", "/api/v1/reservations/r/confirm", None),
        ("POST", "/api/v1/reservations/r/cancel", Some(json!({}))),
        ("GET", "/api/v1/reservations/store/MAD-001/pending", None),
        ("GET", "/api/v1/reservations/product/p/store/MAD-001", None),
        ("GET", "/api/v1/reservations/stats", None),
        ("GET", "/api/v1/events", None),
        ("GET", "/api/v1/events/stats", None),
    ]
}

#[tokio::test]
async fn protected_routes_refuse_a_missing_or_wrong_key_with_401() {
    let app = spawn_app_with(|s| s.api_keys = Some("test-key-0123456789:tests".into())).await;
    let before = app.snapshot().await;

    for (method, path, body) in protected_routes() {
        for key in [
            None,
            Some("wrong-key-0123456789"),
            Some("dev-key-change-me"),
        ] {
            let mut request = app.client.request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                app.url(path),
            );
            if let Some(key) = key {
                request = request.header("x-api-key", key);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }

            let reply = send(request).await;

            assert_eq!(
                reply.status, 401,
                "{method} {path} with {key:?}: {}",
                reply.text
            );
            reply.expect_problem(401, "UNAUTHORIZED");
            assert_eq!(
                reply.header("www-authenticate"),
                Some("ApiKey header=\"X-API-Key\""),
                "{method} {path}: a 401 names its challenge"
            );
        }
    }
    assert_eq!(app.snapshot().await, before, "nothing was written");
}

#[tokio::test]
async fn two_api_key_headers_are_refused_even_when_both_are_valid() {
    let app = spawn_app_with(|s| s.api_keys = Some("test-key-0123456789:tests".into())).await;
    let before = app.snapshot().await;

    let reply = send(
        app.client
            .post(app.url("/api/v1/products"))
            .header("x-api-key", &app.key)
            .header("x-api-key", &app.key)
            .json(&json!({"sku": "TWO-KEYS", "name": "Two keys", "price": 1.0})),
    )
    .await;

    reply.expect_problem(401, "UNAUTHORIZED");
    assert!(reply.header("www-authenticate").is_some());
    assert_eq!(app.snapshot().await, before, "nothing was written");
}

#[tokio::test]
async fn a_configured_key_is_accepted_on_protected_routes() {
    let app = spawn_app_with(|s| s.api_keys = Some("test-key-0123456789:tests".into())).await;
    assert_eq!(app.key, "test-key-0123456789");

    let created = app
        .post(
            "/api/v1/products",
            json!({"sku": "KEYED-1", "name": "Keyed", "price": 1.5}),
        )
        .await;
    let stats = app.get("/api/v1/reservations/stats").await;

    created.expect_status(201);
    stats.expect_status(200);
    assert_eq!(
        stats.body,
        json!({"pending": 0, "confirmed": 0, "cancelled": 0, "expired": 0, "total": 0})
    );
}

#[tokio::test]
async fn product_reads_health_docs_and_metrics_are_public() {
    let app = spawn_app().await;
    let product = app.create_product("PUBLIC-1").await;
    let id = product["id"].as_str().expect("id");

    let list = app.get_public("/api/v1/products").await;
    let by_id = app.get_public(&format!("/api/v1/products/{id}")).await;
    let by_sku = app.get_public("/api/v1/products/sku/PUBLIC-1").await;

    list.expect_status(200);
    assert_eq!(list.int("total"), 1);
    by_id.expect_status(200);
    assert_eq!(by_id.body, product);
    by_sku.expect_status(200);
    assert_eq!(by_sku.body, product);
    for path in [
        "/health",
        "/docs",
        "/metrics",
        "/openapi.json",
        "/openapi.yaml",
    ] {
        app.get_public(path).await.expect_status(200);
    }
}

#[tokio::test]
async fn without_a_database_health_is_503_and_errors_leak_no_driver_text() {
    let app = spawn_app().await;
    app.create_product("DOWN-1").await;
    // A dead database: every read and the health ping fail.
    match app.backend() {
        // Closing the app's read pool and health connection (a file cannot be taken away
        // from connections that have it open).
        Backend::Sqlite => {
            app.state.reads.close().await;
        }
        // The database refuses new connections and ends the open ones.
        Backend::Postgres => app.db.cut_off().await,
    }

    let health = app.get_public("/health").await;
    let read = app.get_public("/api/v1/products").await;

    health.expect_problem(503, "SERVICE_UNAVAILABLE");
    read.expect_problem(500, "INTERNAL_ERROR");
    let text = read.text.to_lowercase();
    for leak in ["sqlx", "sqlite", "pool", "select", "closed"] {
        assert!(
            !text.contains(leak),
            "the 500 body leaks {leak:?}: {}",
            read.text
        );
    }
    assert!(read.header("x-request-id").is_some());
}
