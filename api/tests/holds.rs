//! Multi-line holds (`/api/v1/holds`): all-or-nothing and partial creation, atomic confirm /
//! cancel / expiry, no overselling under concurrency, no wedging between opposite orders.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{TestApp, eventually, spawn_app, spawn_app_with, wait_until_past};
use futures::future::join_all;
use inventory_shared::events::{EventType, NewEvent};
use serde_json::{Value, json};

/// Creates `n` products with `quantity` units in MAD-001; ids in ascending order.
async fn rows(app: &TestApp, prefix: &str, n: usize, quantity: i64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            app.product_with_stock(&format!("{prefix}-{i}"), "MAD-001", quantity)
                .await,
        );
    }
    ids.sort();
    ids
}

fn line(product: &str, quantity: i64) -> Value {
    json!({"product_id": product, "store_id": "MAD-001", "quantity": quantity})
}

async fn hold_count(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM holds").await
}

#[tokio::test]
async fn a_hold_reserves_every_line_with_its_own_event_in_product_order() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-OK", 2, 10).await;
    let events_before = app.event_count().await;

    // Listed in reverse order: the lines are still taken (and answered) in product order.
    let reply = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "cart-1", "ttl_seconds": 600,
                   "items": [line(&ids[1], 3), line(&ids[0], 2)]}),
        )
        .await;

    reply.expect_status(201);
    let hold_id = reply.str("id").to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/holds/{hold_id}").as_str())
    );
    assert_eq!(reply.str("status"), "PENDING");
    assert_eq!(reply.str("customer_id"), "cart-1");
    assert_eq!(reply.body["unfulfilled"], json!([]));
    let items = reply.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for (item, (product, quantity)) in items.iter().zip([(&ids[0], 2), (&ids[1], 3)]) {
        assert_eq!(item["product_id"], json!(product));
        assert_eq!(item["quantity"], json!(quantity));
        assert_eq!(item["hold_id"], json!(hold_id));
        assert_eq!(item["status"], json!("PENDING"));
        assert_eq!(item["expires_at"], reply.body["expires_at"]);
    }
    assert_eq!(app.stock(&ids[0], "MAD-001").await.reserved, 2);
    assert_eq!(app.stock(&ids[1], "MAD-001").await.reserved, 3);

    let events = app.events().await;
    let created: Vec<_> = events[events_before as usize..].iter().collect();
    assert_eq!(created.len(), 2, "one event per line");
    for (event, item) in created.iter().zip(items) {
        assert_eq!(event.event_type, "reservation.created");
        assert_eq!(event.aggregate_id, item["id"].as_str().expect("id"));
        assert_eq!(event.payload()["hold_id"], json!(hold_id));
        assert_eq!(event.payload()["product_id"], item["product_id"]);
    }

    // Each line is an ordinary reservation; the hold reads back as it was answered.
    let line = app
        .get(&format!(
            "/api/v1/reservations/{}",
            items[0]["id"].as_str().expect("id")
        ))
        .await;
    line.expect_status(200);
    assert_eq!(line.body["hold_id"], json!(hold_id));
    let got = app.get(&format!("/api/v1/holds/{hold_id}")).await;
    got.expect_status(200);
    assert_eq!(got.body, reply.body);

    // A single reservation says it belongs to no hold, and its event too.
    let single = app.reserve(&ids[0], "MAD-001", 1, None).await;
    let single = app.get(&format!("/api/v1/reservations/{single}")).await;
    assert_eq!(single.body["hold_id"], Value::Null);
    assert_eq!(app.last_event().await.payload()["hold_id"], Value::Null);
}

#[tokio::test]
async fn all_or_nothing_with_short_lines_changes_nothing_and_lists_every_short_line() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-SHORT", 3, 5).await;
    let before = app.snapshot().await;

    let reply = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "cart-2",
                   "items": [line(&ids[0], 2), line(&ids[1], 6), line(&ids[2], 9)]}),
        )
        .await;

    reply.expect_problem(409, "INSUFFICIENT_STOCK");
    assert_eq!(
        reply.body["lines"],
        json!([
            {"product_id": ids[1], "store_id": "MAD-001", "requested": 6, "available": 5},
            {"product_id": ids[2], "store_id": "MAD-001", "requested": 9, "available": 5},
        ])
    );
    assert_eq!(app.snapshot().await, before, "nothing reserved, no event");
    assert_eq!(hold_count(&app).await, 0, "no hold row either");
}

#[tokio::test]
async fn partial_mode_reserves_what_fits_and_lists_the_rest() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-PART", 3, 5).await;

    let reply = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "cart-3", "allow_partial": true,
                   "items": [line(&ids[0], 2), line(&ids[1], 6), line(&ids[2], 5)]}),
        )
        .await;

    reply.expect_status(201);
    let reserved: Vec<&str> = reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["product_id"].as_str().expect("product"))
        .collect();
    assert_eq!(reserved, vec![ids[0].as_str(), ids[2].as_str()]);
    let unfulfilled =
        json!([{"product_id": ids[1], "store_id": "MAD-001", "requested": 6, "available": 5}]);
    assert_eq!(reply.body["unfulfilled"], unfulfilled);
    assert_eq!(app.stock(&ids[1], "MAD-001").await.reserved, 0);
    let got = app.get(&format!("/api/v1/holds/{}", reply.str("id"))).await;
    assert_eq!(got.body["unfulfilled"], unfulfilled);

    // None fits: 409 with every line, nothing written.
    let before = app.snapshot().await;
    let none = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "cart-3", "allow_partial": true,
                   "items": [line(&ids[1], 6), line(&ids[2], 1)]}),
        )
        .await;
    none.expect_problem(409, "INSUFFICIENT_STOCK");
    assert_eq!(none.body["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn bad_holds_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-BAD", 1, 5).await;
    let too_many: Vec<Value> = (0..101).map(|i| line(&format!("p-{i}"), 1)).collect();

    for (body, fields) in [
        (json!({"customer_id": "c", "items": []}), vec!["items"]),
        (
            json!({"customer_id": "c", "items": too_many}),
            vec!["items"],
        ),
        (json!({"customer_id": "c"}), vec!["items"]),
        (
            json!({"customer_id": "c", "items": [line(&ids[0], 1), line(&ids[0], 2)]}),
            vec!["items[1]"],
        ),
        (
            json!({"customer_id": "c", "items": [line(&ids[0], 0), {"product_id": ids[0], "store_id": "bad store", "quantity": 1}]}),
            vec!["items[0].quantity", "items[1].store_id"],
        ),
        (
            json!({"customer_id": "", "ttl_seconds": 0, "items": [line(&ids[0], 1)]}),
            vec!["customer_id", "ttl_seconds"],
        ),
    ] {
        let reply = app.post("/api/v1/holds", body.clone()).await;
        reply.expect_invalid_fields(&fields);
    }
    assert_eq!(hold_count(&app).await, 0);

    app.get("/api/v1/holds/0193a000-0000-7000-8000-000000000000")
        .await
        .expect_problem(404, "HOLD_NOT_FOUND");
    app.post_empty("/api/v1/holds/0193a000-0000-7000-8000-000000000000/confirm")
        .await
        .expect_problem(404, "HOLD_NOT_FOUND");
    app.post_empty("/api/v1/holds/0193a000-0000-7000-8000-000000000000/cancel")
        .await
        .expect_problem(404, "HOLD_NOT_FOUND");
    // A missing stock row is a wrong request for the whole hold, not a short line.
    let reply = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "c", "allow_partial": true,
                   "items": [line(&ids[0], 1), {"product_id": ids[0], "store_id": "BCN-001", "quantity": 1}]}),
        )
        .await;
    reply.expect_problem(404, "STOCK_NOT_FOUND");
    assert_eq!(app.stock(&ids[0], "MAD-001").await.reserved, 0);
}

async fn create_hold(app: &TestApp, ids: &[String], ttl: i64) -> Value {
    let items: Vec<Value> = ids.iter().map(|id| line(id, 2)).collect();
    let reply = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "cart", "ttl_seconds": ttl, "items": items}),
        )
        .await;
    reply.expect_status(201);
    reply.body
}

async fn line_statuses(app: &TestApp, hold_id: &str) -> Vec<String> {
    app.db
        .column(
            "SELECT status FROM reservations WHERE hold_id = ? ORDER BY product_id",
            &[common::id(hold_id)],
        )
        .await
}

/// The types of the events after `from`, and whether their seqs are consecutive.
async fn events_since(app: &TestApp, from: i64) -> (Vec<String>, bool) {
    let events = app.events().await;
    let new = &events[from as usize..];
    let consecutive = new.windows(2).all(|w| w[1].seq == w[0].seq + 1);
    (
        new.iter().map(|e| e.event_type.clone()).collect(),
        consecutive,
    )
}

#[tokio::test]
async fn confirm_and_cancel_act_on_every_line_at_once() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-CC", 3, 10).await;
    let sold = create_hold(&app, &ids, 600).await;
    let sold_id = sold["id"].as_str().expect("id");

    let before = app.event_count().await;
    let reply = app
        .post_empty(&format!("/api/v1/holds/{sold_id}/confirm"))
        .await;

    reply.expect_status(200);
    assert_eq!(reply.str("status"), "CONFIRMED");
    assert_eq!(line_statuses(&app, sold_id).await, vec!["CONFIRMED"; 3]);
    for id in &ids {
        let row = app.stock(id, "MAD-001").await;
        assert_eq!((row.quantity, row.reserved), (8, 0));
    }
    let (types, consecutive) = events_since(&app, before).await;
    assert_eq!(types, vec!["reservation.confirmed"; 3]);
    assert!(consecutive, "one transaction");
    app.post_empty(&format!("/api/v1/holds/{sold_id}/confirm"))
        .await
        .expect_problem(409, "INVALID_RESERVATION_STATE");
    app.post_empty(&format!("/api/v1/holds/{sold_id}/cancel"))
        .await
        .expect_problem(409, "INVALID_RESERVATION_STATE");

    let dropped = create_hold(&app, &ids, 600).await;
    let dropped_id = dropped["id"].as_str().expect("id");
    let before = app.event_count().await;
    let reply = app
        .post(
            &format!("/api/v1/holds/{dropped_id}/cancel"),
            json!({"reason": "cart_abandoned"}),
        )
        .await;
    reply.expect_status(200);
    assert_eq!(reply.str("status"), "CANCELLED");
    assert_eq!(line_statuses(&app, dropped_id).await, vec!["CANCELLED"; 3]);
    for id in &ids {
        let row = app.stock(id, "MAD-001").await;
        assert_eq!((row.quantity, row.reserved), (8, 0));
    }
    let (types, _) = events_since(&app, before).await;
    assert_eq!(types, vec!["reservation.cancelled"; 3]);
    assert_eq!(app.last_event().await.payload()["reason"], "cart_abandoned");
}

#[tokio::test]
async fn confirming_a_hold_past_its_deadline_expires_it_whole() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-LATE", 2, 10).await;
    let hold = create_hold(&app, &ids, 1).await;
    let hold_id = hold["id"].as_str().expect("id");
    wait_until_past(hold["expires_at"].as_str().expect("deadline")).await;

    let before = app.event_count().await;
    let reply = app
        .post_empty(&format!("/api/v1/holds/{hold_id}/confirm"))
        .await;

    reply.expect_problem(409, "RESERVATION_EXPIRED");
    assert_eq!(line_statuses(&app, hold_id).await, vec!["EXPIRED"; 2]);
    let got = app.get(&format!("/api/v1/holds/{hold_id}")).await;
    assert_eq!(got.str("status"), "EXPIRED");
    for id in &ids {
        assert_eq!(app.stock(id, "MAD-001").await.reserved, 0);
    }
    let (types, consecutive) = events_since(&app, before).await;
    assert_eq!(types, vec!["reservation.expired"; 2]);
    assert!(consecutive);
}

#[tokio::test]
async fn the_expiry_task_expires_a_holds_lines_together() {
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_millis(100)).await;
    let ids = rows(&app, "HOLD-EXP", 3, 10).await;
    let before = app.event_count().await;
    let hold = create_hold(&app, &ids, 1).await;
    let hold_id = hold["id"].as_str().expect("id").to_owned();

    eventually(Duration::from_secs(15), "the hold to expire", || async {
        let got = app.get(&format!("/api/v1/holds/{hold_id}")).await;
        (got.str("status") == "EXPIRED").then_some(())
    })
    .await;

    assert_eq!(line_statuses(&app, &hold_id).await, vec!["EXPIRED"; 3]);
    for id in &ids {
        assert_eq!(app.stock(id, "MAD-001").await.reserved, 0);
    }
    let (types, _) = events_since(&app, before).await;
    assert_eq!(types[3..], vec!["reservation.expired"; 3]);
    let seqs: Vec<i64> = app.events().await[before as usize + 3..]
        .iter()
        .map(|e| e.seq)
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "one transaction: {seqs:?}"
    );
}

/// Folds the audit log into (product, store) → (quantity, reserved).
async fn fold(app: &TestApp) -> BTreeMap<(String, String), (i64, i64)> {
    let mut state = BTreeMap::new();
    for row in app.events().await {
        let kind = EventType::parse(&row.event_type).expect("known type");
        match NewEvent::from_stored(kind, &row.payload).expect("payload") {
            NewEvent::StockCreated(e) => {
                state.insert((e.product_id, e.store_id), (e.quantity, 0));
            }
            NewEvent::ReservationCreated(e) => {
                let entry = state.get_mut(&(e.product_id, e.store_id)).expect("row");
                entry.1 += e.quantity;
            }
            NewEvent::ReservationConfirmed(e) => {
                let entry = state.get_mut(&(e.product_id, e.store_id)).expect("row");
                entry.0 -= e.quantity;
                entry.1 -= e.quantity;
            }
            NewEvent::ReservationCancelled(e) => {
                state.get_mut(&(e.product_id, e.store_id)).expect("row").1 -= e.quantity;
            }
            NewEvent::ReservationExpired(e) => {
                state.get_mut(&(e.product_id, e.store_id)).expect("row").1 -= e.quantity;
            }
            other => panic!("seq {}: unexpected {other:?}", row.seq),
        }
        for (key, (quantity, reserved)) in &state {
            assert!(
                0 <= *reserved && reserved <= quantity,
                "seq {}: {key:?} oversold",
                row.seq
            );
        }
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_holds_over_five_hot_rows_never_oversell() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-HOT", 5, 60).await;

    // Hold i takes 3 of the 5 rows, in a rotating order, 1–2 units each.
    let requests = (0..200).map(|i: usize| {
        let items: Vec<Value> = (0..3)
            .map(|k| line(&ids[(i + k * (1 + i % 2)) % 5], 1 + (i % 2) as i64))
            .collect();
        let body =
            json!({"customer_id": format!("c-{i}"), "allow_partial": i.is_multiple_of(3), "items": items});
        app.post("/api/v1/holds", body)
    });
    let replies = join_all(requests).await;

    let mut held = 0;
    for reply in &replies {
        match reply.status {
            201 => held += 1,
            409 => {
                reply.expect_problem(409, "INSUFFICIENT_STOCK");
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert!(
        held > 0 && held < 200,
        "some holds fit, some did not: {held}"
    );
    let pending: i64 = app
        .count("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM reservations WHERE status = 'PENDING'")
        .await;
    let mut reserved = 0;
    for id in &ids {
        let row = app.stock(id, "MAD-001").await;
        assert!(row.reserved <= row.quantity, "{id} oversold: {row:?}");
        reserved += row.reserved;
    }
    assert_eq!(
        reserved, pending,
        "reserved units are exactly the pending lines"
    );

    // Confirm and cancel half of them concurrently, then the log must still replay.
    let holds: Vec<String> = replies
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.str("id").to_owned())
        .collect();
    let finish = holds.iter().enumerate().map(|(i, id)| {
        let action = if i.is_multiple_of(2) {
            "confirm"
        } else {
            "cancel"
        };
        let path = format!("/api/v1/holds/{id}/{action}");
        let app = &app;
        async move { app.post_empty(&path).await }
    });
    for reply in join_all(finish).await {
        reply.expect_status(200);
    }
    let stored: Vec<(String, String, i64, i64)> = app
        .db
        .query(
            "SELECT product_id, store_id, quantity, reserved FROM stock",
            &[],
        )
        .await;
    let stored: BTreeMap<_, _> = stored
        .into_iter()
        .map(|(p, s, q, r)| ((p, s), (q, r)))
        .collect();
    assert_eq!(
        fold(&app).await,
        stored,
        "the replay of the events is the stock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_over_the_same_rows_in_opposite_orders_never_wedge() {
    let app = spawn_app().await;
    let ids = rows(&app, "HOLD-ORDER", 2, 1000).await;

    let requests = (0..100).map(|i: usize| {
        let (a, b) = if i.is_multiple_of(2) { (0, 1) } else { (1, 0) };
        app.post(
            "/api/v1/holds",
            json!({"customer_id": format!("c-{i}"), "items": [line(&ids[a], 1), line(&ids[b], 1)]}),
        )
    });
    let replies = tokio::time::timeout(Duration::from_secs(30), join_all(requests))
        .await
        .expect("no hold waits on another");

    for reply in &replies {
        reply.expect_status(201);
    }
    for id in &ids {
        assert_eq!(app.stock(id, "MAD-001").await.reserved, 100);
    }
}
