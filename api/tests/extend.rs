//! Extending a reservation or a hold: the deadline moves (with a `reservation.extended`
//! event), the expiry task respects it, `RESERVATION_MAX_LIFETIME` caps it, and an extend
//! racing the expiry task applies at most one of the two.

mod common;

use std::time::Duration;

use common::{TestApp, eventually, instant, spawn_app, spawn_app_with, wait_until_past};
use futures::future::join_all;
use serde_json::{Value, json};

async fn extend(app: &TestApp, id: &str, ttl: i64) -> common::Reply {
    app.post(
        &format!("/api/v1/reservations/{id}/extend"),
        json!({"ttl_seconds": ttl}),
    )
    .await
}

async fn expires_at(app: &TestApp, id: &str) -> String {
    app.db
        .scalar(
            "SELECT expires_at FROM reservations WHERE id = ?",
            &[common::id(id)],
        )
        .await
}

#[tokio::test]
async fn extending_moves_the_deadline_and_writes_the_event() {
    let app = spawn_app().await;
    let product = app.product_with_stock("EXT-1", "MAD-001", 10).await;
    let id = app.reserve(&product, "MAD-001", 3, Some(60)).await;

    let asked = chrono::Utc::now();
    let reply = extend(&app, &id, 3600).await;

    reply.expect_status(200);
    let deadline = instant(reply.str("expires_at"));
    let wanted = asked + chrono::Duration::seconds(3600);
    assert!(
        deadline >= wanted && deadline < wanted + chrono::Duration::seconds(5),
        "now + ttl: {deadline}"
    );
    assert_eq!(reply.str("status"), "PENDING");
    assert_eq!(instant(&expires_at(&app, &id).await), deadline);
    let event = app.last_event().await;
    assert_eq!(event.event_type, "reservation.extended");
    assert_eq!(event.aggregate_id, id);
    let mut payload = event.payload();
    assert_eq!(
        instant(payload["expires_at"].as_str().expect("expires_at")),
        deadline
    );
    payload
        .as_object_mut()
        .expect("object")
        .remove("expires_at");
    assert_eq!(
        payload,
        json!({"reservation_id": id, "product_id": product, "store_id": "MAD-001",
               "quantity": 3, "hold_id": null})
    );
    assert_eq!(
        app.stock(&product, "MAD-001").await.reserved,
        3,
        "no stock change"
    );
}

#[tokio::test]
async fn the_expiry_task_respects_the_new_deadline() {
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_millis(100)).await;
    let product = app.product_with_stock("EXT-2", "MAD-001", 10).await;
    let id = app.reserve(&product, "MAD-001", 1, Some(1)).await;
    let first = expires_at(&app, &id).await;

    let reply = extend(&app, &id, 3).await;
    reply.expect_status(200);

    wait_until_past(&instant(&first).to_rfc3339()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.reservation_status(&id).await,
        "PENDING",
        "not expired early"
    );
    eventually(Duration::from_secs(15), "the new deadline", || async {
        (app.reservation_status(&id).await == "EXPIRED").then_some(())
    })
    .await;
    assert!(
        chrono::Utc::now() >= instant(reply.str("expires_at")),
        "expired only after the extended deadline"
    );
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 0);
}

#[tokio::test]
async fn the_lifetime_cap_holds() {
    let app = spawn_app_with(|s| s.reservation_max_lifetime = Duration::from_secs(120)).await;
    let product = app.product_with_stock("EXT-3", "MAD-001", 10).await;
    let id = app.reserve(&product, "MAD-001", 1, Some(60)).await;
    let before = app.snapshot().await;

    let reply = extend(&app, &id, 600).await;

    reply.expect_problem(409, "RESERVATION_LIFETIME_EXCEEDED");
    assert_eq!(app.snapshot().await, before, "nothing changed, no event");
    extend(&app, &id, 100).await.expect_status(200);
}

#[tokio::test]
async fn finished_or_expired_reservations_cannot_be_extended() {
    let app = spawn_app().await;
    let product = app.product_with_stock("EXT-4", "MAD-001", 10).await;
    let sold = app.reserve(&product, "MAD-001", 1, None).await;
    app.post_empty(&format!("/api/v1/reservations/{sold}/confirm"))
        .await
        .expect_status(200);
    extend(&app, &sold, 60)
        .await
        .expect_problem(409, "INVALID_RESERVATION_STATE");

    let late = app.reserve(&product, "MAD-001", 2, Some(1)).await;
    wait_until_past(&instant(&expires_at(&app, &late).await).to_rfc3339()).await;
    extend(&app, &late, 60)
        .await
        .expect_problem(409, "RESERVATION_EXPIRED");
    assert_eq!(app.reservation_status(&late).await, "EXPIRED");
    assert_eq!(app.last_event().await.event_type, "reservation.expired");
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 0);

    extend(&app, "0193a000-0000-7000-8000-000000000000", 60)
        .await
        .expect_problem(404, "RESERVATION_NOT_FOUND");
    extend(&app, &late, 0)
        .await
        .expect_invalid_fields(&["ttl_seconds"]);
    app.post(&format!("/api/v1/reservations/{late}/extend"), json!({}))
        .await
        .expect_invalid_fields(&["ttl_seconds"]);
}

#[tokio::test]
async fn a_hold_is_extended_whole_and_its_lines_only_with_it() {
    let app = spawn_app().await;
    let a = app.product_with_stock("EXT-H1", "MAD-001", 10).await;
    let b = app.product_with_stock("EXT-H2", "MAD-001", 10).await;
    let hold = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "c", "ttl_seconds": 60, "items": [
                {"product_id": a, "store_id": "MAD-001", "quantity": 1},
                {"product_id": b, "store_id": "MAD-001", "quantity": 1}]}),
        )
        .await;
    hold.expect_status(201);
    let hold_id = hold.str("id").to_owned();
    let line = hold.body["items"][0]["id"]
        .as_str()
        .expect("line")
        .to_owned();

    let before = app.event_count().await;
    let reply = app
        .post(
            &format!("/api/v1/holds/{hold_id}/extend"),
            json!({"ttl_seconds": 900}),
        )
        .await;

    reply.expect_status(200);
    let deadline = reply.str("expires_at").to_owned();
    for item in reply.body["items"].as_array().expect("items") {
        assert_eq!(item["expires_at"], json!(deadline));
    }
    let events = app.events().await;
    let extended: Vec<Value> = events[before as usize..]
        .iter()
        .map(|e| {
            assert_eq!(e.event_type, "reservation.extended");
            e.payload()
        })
        .collect();
    assert_eq!(extended.len(), 2);
    assert!(extended.iter().all(|p| p["hold_id"] == json!(hold_id)));

    extend(&app, &line, 60)
        .await
        .expect_problem(409, "RESERVATION_IN_HOLD");
    app.post(
        &format!("/api/v1/holds/{hold_id}/extend"),
        json!({"ttl_seconds": 86_400}),
    )
    .await
    .expect_problem(409, "RESERVATION_LIFETIME_EXCEEDED");
    app.post_empty(&format!("/api/v1/holds/{hold_id}/cancel"))
        .await
        .expect_status(200);
    app.post(
        &format!("/api/v1/holds/{hold_id}/extend"),
        json!({"ttl_seconds": 60}),
    )
    .await
    .expect_problem(409, "INVALID_RESERVATION_STATE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extend_racing_the_expiry_task_applies_once() {
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_millis(20)).await;
    let product = app.product_with_stock("EXT-RACE", "MAD-001", 100).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(app.reserve(&product, "MAD-001", 1, Some(1)).await);
    }
    let mut deadlines = Vec::new();
    for id in &ids {
        deadlines.push(instant(&expires_at(&app, id).await));
    }

    // Each extend is sent around its reservation's deadline, 40 ms early to 40 ms late,
    // while the expiry task runs every 20 ms.
    let races = ids
        .iter()
        .zip(&deadlines)
        .enumerate()
        .map(|(i, (id, due))| {
            let app = &app;
            let at = *due + chrono::Duration::milliseconds(i as i64 * 4 - 40);
            async move {
                let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                extend(app, id, 60).await
            }
        });
    let replies = join_all(races).await;

    // Let the task expire whatever was not extended.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extended = 0;
    for (id, reply) in ids.iter().zip(&replies) {
        let status = app.reservation_status(id).await;
        let count = |kind: &'static str| {
            let app = &app;
            async move {
                app.db
                    .scalar::<i64>(
                        "SELECT COUNT(*) FROM events WHERE aggregate_id = ? AND event_type = ?",
                        &[id.into(), kind.into()],
                    )
                    .await
            }
        };
        let (ext, exp) = (
            count("reservation.extended").await,
            count("reservation.expired").await,
        );
        match reply.status {
            200 => {
                extended += 1;
                assert_eq!((status.as_str(), ext, exp), ("PENDING", 1, 0), "{id}");
            }
            // Expired by the extend itself (past due) or by the task just before it.
            409 => {
                let code = reply.body["code"].as_str().unwrap_or_default();
                assert!(
                    ["RESERVATION_EXPIRED", "INVALID_RESERVATION_STATE"].contains(&code),
                    "{}",
                    reply.text
                );
                assert_eq!((status.as_str(), ext, exp), ("EXPIRED", 0, 1), "{id}");
            }
            other => panic!("{other}: {}", reply.text),
        }
    }
    let row = app.stock(&product, "MAD-001").await;
    assert_eq!(
        row.reserved, extended,
        "reserved units are the extended ones"
    );
}
