//! The expiry task: due PENDING reservations become EXPIRED with their event and release
//! their units; nothing else is touched.

mod common;

use std::time::Duration;

use common::{StockDbRow, TestApp, eventually, spawn_app_with};
use serde_json::json;

async fn app_with_fast_expiry() -> TestApp {
    spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_millis(200)).await
}

/// Waits (bounded) until the reservation has the status.
async fn wait_for_status(app: &TestApp, id: &str, status: &str) {
    eventually(
        Duration::from_secs(20),
        &format!("reservation {id} to be {status}"),
        || async { (app.reservation_status(id).await == status).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_due_reservation_expires_with_its_event_and_releases_its_units() {
    let app = app_with_fast_expiry().await;
    let product = app.product_with_stock("EXP-1", "MAD-001", 10).await;
    let short = app.reserve(&product, "MAD-001", 3, Some(1)).await;
    let long = app.reserve(&product, "MAD-001", 2, Some(600)).await;
    let confirmed = app.reserve(&product, "MAD-001", 1, Some(1)).await;
    app.post_empty(&format!("/api/v1/reservations/{confirmed}/confirm"))
        .await
        .expect_status(200);
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 9,
            reserved: 5,
            version: 5
        }
    );

    wait_for_status(&app, &short, "EXPIRED").await;

    let read = app.get(&format!("/api/v1/reservations/{short}")).await;
    assert_eq!(read.str("status"), "EXPIRED");
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 9,
            reserved: 2,
            version: 6
        },
        "its 3 units are available again; the stock version moved once"
    );
    let expired: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.event_type == "reservation.expired")
        .collect();
    assert_eq!(expired.len(), 1);
    let event = &expired[0];
    assert_eq!(event.aggregate_type, "reservation");
    assert_eq!(event.aggregate_id, short);
    assert_eq!(event.store_id.as_deref(), Some("MAD-001"));
    assert_eq!(event.partition_key, product);
    let payload = event.payload();
    assert_eq!(payload["reservation_id"], json!(short));
    assert_eq!(payload["product_id"], json!(product));
    assert_eq!(payload["store_id"], json!("MAD-001"));
    assert_eq!(payload["quantity"], json!(3));
    let expired_at = common::instant(payload["expired_at"].as_str().expect("expired_at"));
    assert!(expired_at >= common::instant(read.str("expires_at")));
    assert_eq!(app.reservation_status(&long).await, "PENDING");
    assert_eq!(app.reservation_status(&confirmed).await, "CONFIRMED");
    assert_eq!(
        app.get("/api/v1/reservations/stats").await.body,
        json!({"pending": 1, "confirmed": 1, "cancelled": 0, "expired": 1, "total": 3})
    );
    app.post_empty(&format!("/api/v1/reservations/{short}/confirm"))
        .await
        .expect_problem(409, "INVALID_RESERVATION_STATE");
    app.post_empty(&format!("/api/v1/reservations/{short}/cancel"))
        .await
        .expect_problem(409, "INVALID_RESERVATION_STATE");
    app.stop().await;
}

#[tokio::test]
async fn many_due_reservations_all_expire_once() {
    let app = app_with_fast_expiry().await;
    let product = app.product_with_stock("EXP-MANY", "MAD-001", 100).await;
    app.create_stock(&product, "BCN-001", 100).await;
    let mut ids = Vec::new();
    for i in 0..20_u32 {
        let store = if i.is_multiple_of(2) {
            "MAD-001"
        } else {
            "BCN-001"
        };
        ids.push(app.reserve(&product, store, 2, Some(1)).await);
    }

    eventually(Duration::from_secs(30), "all 20 to expire", || async {
        let left = app
            .count("SELECT COUNT(*) FROM reservations WHERE status = 'PENDING'")
            .await;
        (left == 0).then_some(())
    })
    .await;

    for id in &ids {
        assert_eq!(app.reservation_status(id).await, "EXPIRED");
    }
    assert_eq!(app.event_count_of("reservation.expired").await, 20);
    let expired_ids: i64 = app
        .count(
            "SELECT COUNT(DISTINCT aggregate_id) FROM events WHERE event_type = 'reservation.expired'",
        )
        .await;
    assert_eq!(expired_ids, 20, "one event per reservation");
    for store in ["MAD-001", "BCN-001"] {
        assert_eq!(
            app.stock(&product, store).await,
            StockDbRow {
                quantity: 100,
                reserved: 0,
                version: 21
            }
        );
    }
    let pending = app.get("/api/v1/reservations/store/MAD-001/pending").await;
    assert_eq!(pending.int("count"), 0);
    app.stop().await;
}
