//! `/api/v1/reservations`: create, read, confirm, cancel, expire-on-confirm, the lists and stats.

mod common;

use common::{StockDbRow, TestApp, instant, spawn_app, wait_until_past};
use serde_json::{Value, json};

fn reservation_body(product_id: &str, store_id: &str, quantity: i64) -> Value {
    json!({"product_id": product_id, "store_id": store_id, "customer_id": "cust-42", "quantity": quantity})
}

/// Asserts the newest event is a reservation event with the envelope of `docs/architecture.md`, "Event schema".
async fn assert_last_reservation_event(
    app: &TestApp,
    event_type: &str,
    reservation_id: &str,
    product_id: &str,
    store_id: &str,
) -> Value {
    let event = app.last_event().await;
    assert_eq!(event.event_type, event_type);
    assert_eq!(event.aggregate_type, "reservation");
    assert_eq!(event.aggregate_id, reservation_id);
    assert_eq!(event.store_id.as_deref(), Some(store_id));
    assert_eq!(event.partition_key, product_id);
    let payload = event.payload();
    assert_eq!(payload["reservation_id"], json!(reservation_id));
    assert_eq!(payload["product_id"], json!(product_id));
    assert_eq!(payload["store_id"], json!(store_id));
    payload
}

#[tokio::test]
async fn reserving_answers_201_pending_holds_units_and_writes_reservation_created() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-1", "MAD-001", 10).await;

    let reply = app
        .post(
            "/api/v1/reservations",
            reservation_body(&product, "MAD-001", 3),
        )
        .await;

    reply.expect_status(201);
    let id = reply.str("id").to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/reservations/{id}").as_str())
    );
    assert_eq!(reply.str("status"), "PENDING");
    assert_eq!(reply.str("product_id"), product);
    assert_eq!(reply.str("store_id"), "MAD-001");
    assert_eq!(reply.str("customer_id"), "cust-42");
    assert_eq!(reply.int("quantity"), 3);
    let ttl = instant(reply.str("expires_at")) - instant(reply.str("created_at"));
    assert_eq!(
        ttl,
        chrono::Duration::seconds(600),
        "the default RESERVATION_TTL"
    );
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 10,
            reserved: 3,
            version: 2
        }
    );
    assert_eq!(app.reservation_status(&id).await, "PENDING");
    let payload =
        assert_last_reservation_event(&app, "reservation.created", &id, &product, "MAD-001").await;
    assert_eq!(payload["quantity"], json!(3));
    assert_eq!(payload["customer_id"], json!("cust-42"));
    assert_eq!(
        instant(payload["expires_at"].as_str().expect("expires_at")),
        instant(reply.str("expires_at"))
    );
}

#[tokio::test]
async fn a_reservation_may_set_its_own_ttl() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-TTL", "MAD-001", 10).await;
    let mut body = reservation_body(&product, "MAD-001", 1);
    body["ttl_seconds"] = json!(45);

    let reply = app.post("/api/v1/reservations", body).await;

    reply.expect_status(201);
    let ttl = instant(reply.str("expires_at")) - instant(reply.str("created_at"));
    assert_eq!(ttl, chrono::Duration::seconds(45));
}

#[tokio::test]
async fn reserving_more_than_available_is_409_and_writes_nothing() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-INS", "MAD-001", 5).await;
    app.reserve(&product, "MAD-001", 3, None).await;
    let before = app.snapshot().await;

    let reply = app
        .post(
            "/api/v1/reservations",
            reservation_body(&product, "MAD-001", 3),
        )
        .await;

    reply.expect_problem(409, "INSUFFICIENT_STOCK");
    assert_eq!(app.snapshot().await, before);
    app.post(
        "/api/v1/reservations",
        reservation_body(&product, "MAD-001", 2),
    )
    .await
    .expect_status(201);
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 5);
}

#[tokio::test]
async fn reserving_an_unknown_product_or_store_is_404() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-404", "MAD-001", 5).await;
    let before = app.snapshot().await;

    let unknown_product = app
        .post(
            "/api/v1/reservations",
            reservation_body("0193a000-0000-7000-8000-000000000000", "MAD-001", 1),
        )
        .await;
    let unknown_store = app
        .post(
            "/api/v1/reservations",
            reservation_body(&product, "BCN-001", 1),
        )
        .await;

    unknown_product.expect_problem(404, "PRODUCT_NOT_FOUND");
    unknown_store.expect_problem(404, "STOCK_NOT_FOUND");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_reservation_is_read_back_with_its_customer() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-GET", "MAD-001", 5).await;
    let created = app
        .post(
            "/api/v1/reservations",
            reservation_body(&product, "MAD-001", 2),
        )
        .await;

    let reply = app
        .get(&format!("/api/v1/reservations/{}", created.str("id")))
        .await;
    let missing = app
        .get("/api/v1/reservations/0193a000-0000-7000-8000-000000000000")
        .await;

    reply.expect_status(200);
    assert_eq!(reply.body, created.body);
    assert_eq!(reply.str("customer_id"), "cust-42");
    missing.expect_problem(404, "RESERVATION_NOT_FOUND");
}

#[tokio::test]
async fn confirming_removes_the_units_and_writes_reservation_confirmed() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-CONF", "MAD-001", 10).await;
    let id = app.reserve(&product, "MAD-001", 4, None).await;

    let reply = app
        .post_empty(&format!("/api/v1/reservations/{id}/confirm"))
        .await;

    reply.expect_status(200);
    assert_eq!(reply.str("id"), id);
    assert_eq!(reply.str("status"), "CONFIRMED");
    assert_eq!(reply.int("quantity"), 4);
    assert_eq!(app.reservation_status(&id).await, "CONFIRMED");
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 6,
            reserved: 0,
            version: 3
        }
    );
    let payload =
        assert_last_reservation_event(&app, "reservation.confirmed", &id, &product, "MAD-001")
            .await;
    assert_eq!(payload["quantity"], json!(4));
    instant(payload["confirmed_at"].as_str().expect("confirmed_at"));
}

#[tokio::test]
async fn cancelling_releases_the_units_with_the_default_reason() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-CAN", "MAD-001", 10).await;
    let id = app.reserve(&product, "MAD-001", 4, None).await;

    let reply = app
        .post_empty(&format!("/api/v1/reservations/{id}/cancel"))
        .await;

    reply.expect_status(200);
    assert_eq!(reply.str("status"), "CANCELLED");
    assert_eq!(app.reservation_status(&id).await, "CANCELLED");
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 10,
            reserved: 0,
            version: 3
        }
    );
    let payload =
        assert_last_reservation_event(&app, "reservation.cancelled", &id, &product, "MAD-001")
            .await;
    assert_eq!(payload["quantity"], json!(4));
    assert_eq!(payload["reason"], json!("manual_cancellation"));
}

#[tokio::test]
async fn cancelling_with_an_empty_object_or_a_reason() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-CAN2", "MAD-001", 10).await;
    let first = app.reserve(&product, "MAD-001", 1, None).await;
    let second = app.reserve(&product, "MAD-001", 1, None).await;

    let empty = app
        .post(&format!("/api/v1/reservations/{first}/cancel"), json!({}))
        .await;
    let empty_reason = app.last_event().await.payload()["reason"].clone();
    let custom = app
        .post(
            &format!("/api/v1/reservations/{second}/cancel"),
            json!({"reason": "cliente cambió de idea"}),
        )
        .await;

    empty.expect_status(200);
    assert_eq!(empty_reason, json!("manual_cancellation"));
    custom.expect_status(200);
    assert_eq!(
        app.last_event().await.payload()["reason"],
        json!("cliente cambió de idea")
    );
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 0);
}

#[tokio::test]
async fn confirm_or_cancel_of_a_finished_reservation_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-STATE", "MAD-001", 10).await;
    let confirmed = app.reserve(&product, "MAD-001", 2, None).await;
    let cancelled = app.reserve(&product, "MAD-001", 3, None).await;
    app.post_empty(&format!("/api/v1/reservations/{confirmed}/confirm"))
        .await
        .expect_status(200);
    app.post_empty(&format!("/api/v1/reservations/{cancelled}/cancel"))
        .await
        .expect_status(200);
    let before = app.snapshot().await;

    for (id, action) in [
        (&confirmed, "confirm"),
        (&confirmed, "cancel"),
        (&cancelled, "confirm"),
        (&cancelled, "cancel"),
    ] {
        let reply = app
            .post_empty(&format!("/api/v1/reservations/{id}/{action}"))
            .await;

        reply.expect_problem(409, "INVALID_RESERVATION_STATE");
    }
    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 8,
            reserved: 0,
            version: 5
        }
    );
}

#[tokio::test]
async fn confirm_or_cancel_of_an_unknown_reservation_is_404() {
    let app = spawn_app().await;

    let confirm = app
        .post_empty("/api/v1/reservations/0193a000-0000-7000-8000-000000000000/confirm")
        .await;
    let cancel = app
        .post_empty("/api/v1/reservations/0193a000-0000-7000-8000-000000000000/cancel")
        .await;

    confirm.expect_problem(404, "RESERVATION_NOT_FOUND");
    cancel.expect_problem(404, "RESERVATION_NOT_FOUND");
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn confirming_after_the_deadline_expires_the_reservation_instead() {
    // The expiry task of spawn_app ticks once an hour, so only the confirm can expire it.
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-LATE", "MAD-001", 10).await;
    let mut body = reservation_body(&product, "MAD-001", 4);
    body["ttl_seconds"] = json!(1);
    let created = app.post("/api/v1/reservations", body).await;
    created.expect_status(201);
    let id = created.str("id").to_owned();
    wait_until_past(created.str("expires_at")).await;
    assert_eq!(app.reservation_status(&id).await, "PENDING");

    let reply = app
        .post_empty(&format!("/api/v1/reservations/{id}/confirm"))
        .await;

    reply.expect_problem(409, "RESERVATION_EXPIRED");
    let read = app.get(&format!("/api/v1/reservations/{id}")).await;
    assert_eq!(read.str("status"), "EXPIRED");
    assert_eq!(app.reservation_status(&id).await, "EXPIRED");
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 10,
            reserved: 0,
            version: 3
        },
        "the units were released, not sold"
    );
    let payload =
        assert_last_reservation_event(&app, "reservation.expired", &id, &product, "MAD-001").await;
    assert_eq!(payload["quantity"], json!(4));
    instant(payload["expired_at"].as_str().expect("expired_at"));
    assert_eq!(app.event_count_of("reservation.confirmed").await, 0);

    app.post_empty(&format!("/api/v1/reservations/{id}/confirm"))
        .await
        .expect_problem(409, "INVALID_RESERVATION_STATE");
}

#[tokio::test]
async fn pending_by_store_lists_only_live_reservations_soonest_first() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-PEND", "MAD-001", 100).await;
    app.create_stock(&product, "BCN-001", 10).await;
    let late = app.reserve(&product, "MAD-001", 1, Some(300)).await;
    let soon = app.reserve(&product, "MAD-001", 1, Some(100)).await;
    let middle = app.reserve(&product, "MAD-001", 1, Some(200)).await;
    let cancelled = app.reserve(&product, "MAD-001", 1, Some(50)).await;
    app.post_empty(&format!("/api/v1/reservations/{cancelled}/cancel"))
        .await
        .expect_status(200);
    app.reserve(&product, "BCN-001", 1, Some(60)).await;
    let mut overdue = reservation_body(&product, "MAD-001", 1);
    overdue["ttl_seconds"] = json!(1);
    let overdue = app.post("/api/v1/reservations", overdue).await;
    wait_until_past(overdue.str("expires_at")).await;

    let reply = app.get("/api/v1/reservations/store/MAD-001/pending").await;
    let empty = app.get("/api/v1/reservations/store/SEV-001/pending").await;

    reply.expect_status(200);
    assert_eq!(reply.str("store_id"), "MAD-001");
    assert_eq!(reply.int("count"), 3);
    let ids: Vec<&str> = reply.body["reservations"]
        .as_array()
        .expect("reservations")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![soon.as_str(), middle.as_str(), late.as_str()]);
    assert_eq!(
        empty.body,
        json!({"store_id": "SEV-001", "count": 0, "reservations": [], "next_cursor": null})
    );
    app.get("/api/v1/reservations/store/bad%20store/pending")
        .await
        .expect_invalid_fields(&["store_id"]);
}

#[tokio::test]
async fn reservations_of_a_product_in_a_store_filter_by_status_newest_first() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-LIST", "MAD-001", 100).await;
    app.create_stock(&product, "BCN-001", 10).await;
    let first = app.reserve(&product, "MAD-001", 1, None).await;
    let second = app.reserve(&product, "MAD-001", 2, None).await;
    let third = app.reserve(&product, "MAD-001", 3, None).await;
    app.reserve(&product, "BCN-001", 1, None).await;
    app.post_empty(&format!("/api/v1/reservations/{second}/confirm"))
        .await
        .expect_status(200);
    let path = format!("/api/v1/reservations/product/{product}/store/MAD-001");
    let ids = |reply: &common::Reply| -> Vec<String> {
        reply.body["reservations"]
            .as_array()
            .expect("reservations")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect()
    };

    let all = app.get(&path).await;
    let pending = app.get(&format!("{path}?status=PENDING")).await;
    let confirmed = app.get(&format!("{path}?status=CONFIRMED")).await;
    let expired = app.get(&format!("{path}?status=EXPIRED")).await;
    let unknown = app.get(&format!("{path}?status=LOST")).await;

    all.expect_status(200);
    assert_eq!(
        ids(&all),
        vec![third.clone(), second.clone(), first.clone()]
    );
    assert_eq!(all.int("count"), 3);
    assert_eq!(all.body["status"], json!(null));
    assert_eq!(all.str("product_id"), product);
    assert_eq!(all.str("store_id"), "MAD-001");
    assert_eq!(ids(&pending), vec![third, first]);
    assert_eq!(pending.str("status"), "PENDING");
    assert_eq!(ids(&confirmed), vec![second]);
    assert_eq!(confirmed.int("count"), 1);
    assert_eq!(expired.int("count"), 0);
    assert_eq!(expired.body["reservations"], json!([]));
    unknown.expect_invalid_fields(&["status"]);
}

#[tokio::test]
async fn stats_count_reservations_by_state_overall_and_per_store() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RSV-STATS", "MAD-001", 100).await;
    app.create_stock(&product, "BCN-001", 10).await;
    app.reserve(&product, "MAD-001", 1, None).await;
    let confirmed = app.reserve(&product, "MAD-001", 1, None).await;
    let cancelled = app.reserve(&product, "MAD-001", 1, None).await;
    app.reserve(&product, "BCN-001", 1, None).await;
    app.post_empty(&format!("/api/v1/reservations/{confirmed}/confirm"))
        .await
        .expect_status(200);
    app.post_empty(&format!("/api/v1/reservations/{cancelled}/cancel"))
        .await
        .expect_status(200);

    let all = app.get("/api/v1/reservations/stats").await;
    let mad = app.get("/api/v1/reservations/stats?store_id=MAD-001").await;
    let sev = app.get("/api/v1/reservations/stats?store_id=SEV-001").await;
    let bad = app
        .get("/api/v1/reservations/stats?store_id=%27%20OR%201%3D1%20--")
        .await;

    all.expect_status(200);
    assert_eq!(
        all.body,
        json!({"pending": 2, "confirmed": 1, "cancelled": 1, "expired": 0, "total": 4})
    );
    assert_eq!(
        mad.body,
        json!({"pending": 1, "confirmed": 1, "cancelled": 1, "expired": 0, "total": 3})
    );
    assert_eq!(
        sev.body,
        json!({"pending": 0, "confirmed": 0, "cancelled": 0, "expired": 0, "total": 0})
    );
    bad.expect_invalid_fields(&["store_id"]);
}
