//! Bulk stock sync (`POST /api/v1/stock/bulk`): all-or-nothing applies nothing when one item
//! is refused, per-item mode reports each item, every changed row gets its event.

mod common;

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

fn item(product: &str, store: &str, quantity: i64) -> Value {
    json!({"product_id": product, "store_id": store, "quantity": quantity})
}

async fn bulk(app: &TestApp, body: Value) -> common::Reply {
    app.post("/api/v1/stock/bulk", body).await
}

/// A product with 10 units in MAD-001, 4 of them reserved.
async fn reserved_row(app: &TestApp, sku: &str) -> String {
    let product = app.product_with_stock(sku, "MAD-001", 10).await;
    app.reserve(&product, "MAD-001", 4, None).await;
    product
}

#[tokio::test]
async fn all_or_nothing_with_refused_items_applies_nothing_and_lists_each() {
    let app = spawn_app().await;
    let product = reserved_row(&app, "BULK-1").await;
    let before = app.snapshot().await;

    let reply = bulk(
        &app,
        json!({"items": [
            item(&product, "MAD-001", 3),
            item(&product, "BCN-001", 7),
            item("0193a000-0000-7000-8000-000000000000", "MAD-001", 1),
        ]}),
    )
    .await;

    reply.expect_problem(409, "BULK_ITEMS_REFUSED");
    let items = reply.body["items"].as_array().expect("items");
    let summary: Vec<(i64, &str, u64, &str)> = items
        .iter()
        .map(|i| {
            (
                i["index"].as_i64().expect("index"),
                i["product_id"].as_str().expect("product"),
                i["status"].as_u64().expect("status"),
                i["code"].as_str().expect("code"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, product.as_str(), 409, "QUANTITY_BELOW_RESERVED"),
            (
                2,
                "0193a000-0000-7000-8000-000000000000",
                404,
                "PRODUCT_NOT_FOUND"
            ),
        ]
    );
    assert!(items.iter().all(|i| i["detail"].as_str().is_some()));
    assert_eq!(app.snapshot().await, before, "no row created, no event");
    assert_eq!(app.stock_row(&product, "BCN-001").await, None);
}

#[tokio::test]
async fn all_or_nothing_creates_updates_and_skips_unchanged_rows_with_one_event_per_change() {
    let app = spawn_app().await;
    let product = reserved_row(&app, "BULK-2").await;
    let other = app.product_with_stock("BULK-3", "MAD-001", 5).await;
    let events_before = app.event_count().await;

    let reply = bulk(
        &app,
        json!({"mode": "all_or_nothing", "items": [
            {"product_id": product, "store_id": "MAD-001", "quantity": 25, "reason": "erp_sync"},
            item(&product, "BCN-001", 7),
            item(&other, "MAD-001", 5),
        ]}),
    )
    .await;

    reply.expect_status(200);
    assert_eq!(reply.str("mode"), "all_or_nothing");
    assert_eq!((reply.int("applied"), reply.int("refused")), (3, 0));
    let results = reply.body["results"].as_array().expect("results");
    let summary: Vec<(u64, &str, i64, i64)> = results
        .iter()
        .map(|r| {
            (
                r["status"].as_u64().expect("status"),
                r["outcome"].as_str().expect("outcome"),
                r["stock"]["quantity"].as_i64().expect("quantity"),
                r["stock"]["version"].as_i64().expect("version"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (200, "UPDATED", 25, 3),
            (201, "CREATED", 7, 1),
            (200, "UNCHANGED", 5, 1),
        ]
    );
    assert!(results.iter().all(|r| r["code"].is_null()));
    let mad = app.stock(&product, "MAD-001").await;
    assert_eq!((mad.quantity, mad.reserved, mad.version), (25, 4, 3));
    assert_eq!(app.stock(&product, "BCN-001").await.quantity, 7);
    assert_eq!(app.stock(&other, "MAD-001").await.version, 1);

    let events = app.events().await;
    let new: Vec<_> = events[events_before as usize..].iter().collect();
    assert_eq!(
        new.len(),
        2,
        "one event per changed row, none when unchanged"
    );
    assert_eq!(new[0].event_type, "stock.updated");
    assert_eq!(
        new[0].payload(),
        json!({"product_id": product, "store_id": "MAD-001", "previous_quantity": 10,
               "new_quantity": 25, "change": 15, "reason": "erp_sync", "reserved": 4,
               "version": 3})
    );
    assert_eq!(new[1].event_type, "stock.created");
    assert_eq!(
        new[1].payload(),
        json!({"product_id": product, "store_id": "BCN-001", "quantity": 7,
               "reason": "initial_stock", "version": 1})
    );
}

#[tokio::test]
async fn per_item_mode_applies_the_good_items_and_reports_the_refused_ones() {
    let app = spawn_app().await;
    let product = reserved_row(&app, "BULK-4").await;

    let reply = bulk(
        &app,
        json!({"mode": "per_item", "items": [
            item(&product, "MAD-001", 2),
            item(&product, "VAL-001", 9),
            item("0193a000-0000-7000-8000-0000000000ff", "MAD-001", 1),
        ]}),
    )
    .await;

    reply.expect_status(200);
    assert_eq!((reply.int("applied"), reply.int("refused")), (1, 2));
    let results = &reply.body["results"];
    assert_eq!(results[0]["status"], json!(409));
    assert_eq!(results[0]["outcome"], json!("REFUSED"));
    assert_eq!(results[0]["code"], json!("QUANTITY_BELOW_RESERVED"));
    assert_eq!(results[0]["stock"], Value::Null);
    assert_eq!(results[1]["status"], json!(201));
    assert_eq!(results[1]["stock"]["quantity"], json!(9));
    assert_eq!(results[2]["status"], json!(404));
    assert_eq!(results[2]["code"], json!("PRODUCT_NOT_FOUND"));
    assert_eq!(app.stock(&product, "MAD-001").await.quantity, 10, "refused");
    assert_eq!(app.stock(&product, "VAL-001").await.quantity, 9, "applied");
    assert_eq!(app.last_event().await.event_type, "stock.created");
}

#[tokio::test]
async fn bad_bulk_bodies_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let product = app.product_with_stock("BULK-5", "MAD-001", 1).await;
    let too_many: Vec<Value> = (0..1001)
        .map(|i| item(&product, &format!("S-{i}"), 1))
        .collect();
    let before = app.snapshot().await;

    for (body, fields) in [
        (json!({"items": []}), vec!["items"]),
        (json!({"items": too_many}), vec!["items"]),
        (
            json!({"items": [item(&product, "MAD-001", 1), item(&product, "MAD-001", 2)]}),
            vec!["items[1]"],
        ),
        (
            json!({"items": [item(&product, "MAD-001", -1)], "mode": "sometimes"}),
            vec!["items[0].quantity", "mode"],
        ),
    ] {
        bulk(&app, body).await.expect_invalid_fields(&fields);
    }
    assert_eq!(app.snapshot().await, before);
}
