//! `/api/v1/stock`: create, reads, set, adjust, transfer, their events, and the version bump of
//! every change.

mod common;

use common::{TestApp, send, spawn_app, wait_until_past};
use serde_json::{Value, json};

/// Asserts the stock row body.
#[track_caller]
fn assert_stock(
    body: &Value,
    product_id: &str,
    store_id: &str,
    quantity: i64,
    reserved: i64,
    version: i64,
) {
    assert_eq!(body["product_id"], json!(product_id), "{body}");
    assert_eq!(body["store_id"], json!(store_id), "{body}");
    assert_eq!(body["quantity"], json!(quantity), "{body}");
    assert_eq!(body["reserved"], json!(reserved), "{body}");
    assert_eq!(body["available"], json!(quantity - reserved), "{body}");
    assert_eq!(body["version"], json!(version), "{body}");
    assert!(body["updated_at"].as_str().is_some(), "{body}");
}

/// Asserts the newest event is a stock event of the product in the store with this payload.
async fn assert_last_stock_event(
    app: &TestApp,
    event_type: &str,
    product_id: &str,
    store_id: &str,
    payload: Value,
) {
    let event = app.last_event().await;
    assert_eq!(event.event_type, event_type);
    assert_eq!(event.aggregate_type, "stock");
    assert_eq!(event.aggregate_id, product_id);
    assert_eq!(event.store_id.as_deref(), Some(store_id));
    assert_eq!(event.partition_key, product_id);
    assert_eq!(event.payload(), payload);
}

#[tokio::test]
async fn creating_stock_answers_201_and_writes_stock_created() {
    let app = spawn_app().await;
    let product = app.product_id("STK-1").await;

    let reply = app
        .post(
            "/api/v1/stock",
            json!({"product_id": product, "store_id": "MAD-001", "initial_quantity": 10}),
        )
        .await;

    reply.expect_status(201);
    assert_stock(&reply.body, &product, "MAD-001", 10, 0, 1);
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/stock/{product}/MAD-001").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        common::StockDbRow {
            quantity: 10,
            reserved: 0,
            version: 1
        }
    );
    assert_eq!(app.event_count().await, 1);
    assert_last_stock_event(
        &app,
        "stock.created",
        &product,
        "MAD-001",
        json!({"product_id": product, "store_id": "MAD-001", "quantity": 10,
               "reason": "initial_stock", "version": 1}),
    )
    .await;
}

#[tokio::test]
async fn stock_may_start_at_zero() {
    let app = spawn_app().await;
    let product = app.product_id("STK-ZERO").await;

    let reply = app
        .post(
            "/api/v1/stock",
            json!({"product_id": product, "store_id": "VAL-001", "initial_quantity": 0}),
        )
        .await;

    reply.expect_status(201);
    assert_stock(&reply.body, &product, "VAL-001", 0, 0, 1);
    assert_eq!(app.last_event().await.payload()["quantity"], json!(0));
}

#[tokio::test]
async fn a_second_row_for_the_same_store_is_409_stock_exists() {
    let app = spawn_app().await;
    let product = app.product_with_stock("STK-DUP", "MAD-001", 5).await;
    let before = app.snapshot().await;

    let reply = app
        .post(
            "/api/v1/stock",
            json!({"product_id": product, "store_id": "MAD-001", "initial_quantity": 7}),
        )
        .await;

    reply.expect_problem(409, "STOCK_EXISTS");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn stock_of_an_unknown_product_is_404() {
    let app = spawn_app().await;

    let reply = app
        .post(
            "/api/v1/stock",
            json!({"product_id": "0193a000-0000-7000-8000-000000000000", "store_id": "MAD-001", "initial_quantity": 1}),
        )
        .await;

    reply.expect_problem(404, "PRODUCT_NOT_FOUND");
    assert_eq!(app.count("SELECT COUNT(*) FROM stock").await, 0);
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn a_products_stock_lists_every_store_with_totals() {
    let app = spawn_app().await;
    let product = app.product_with_stock("BYPROD-1", "MAD-001", 10).await;
    app.create_stock(&product, "BCN-001", 4).await;
    app.reserve(&product, "MAD-001", 3, None).await;

    let reply = app.get(&format!("/api/v1/stock/product/{product}")).await;

    reply.expect_status(200);
    assert_eq!(reply.str("product_id"), product);
    let stores = reply.body["stores"].as_array().expect("stores");
    assert_eq!(stores.len(), 2);
    assert_stock(&stores[0], &product, "BCN-001", 4, 0, 1);
    assert_stock(&stores[1], &product, "MAD-001", 10, 3, 2);
    assert_eq!(reply.int("total_quantity"), 14);
    assert_eq!(reply.int("total_reserved"), 3);
    assert_eq!(reply.int("total_available"), 11);
}

#[tokio::test]
async fn a_product_without_stock_has_no_stores_and_an_unknown_one_is_404() {
    let app = spawn_app().await;
    let product = app.product_id("NOSTOCK-1").await;

    let empty = app.get(&format!("/api/v1/stock/product/{product}")).await;
    let unknown = app
        .get("/api/v1/stock/product/0193a000-0000-7000-8000-000000000000")
        .await;

    empty.expect_status(200);
    assert_eq!(
        empty.body,
        json!({"product_id": product, "stores": [], "total_quantity": 0,
               "total_reserved": 0, "total_available": 0, "next_cursor": null})
    );
    unknown.expect_problem(404, "PRODUCT_NOT_FOUND");
}

#[tokio::test]
async fn a_stores_stock_lists_its_rows_only() {
    let app = spawn_app().await;
    let first = app.product_with_stock("BYSTORE-1", "MAD-001", 1).await;
    let second = app.product_with_stock("BYSTORE-2", "MAD-001", 2).await;
    app.create_stock(&first, "BCN-001", 9).await;

    let mad = app.get("/api/v1/stock/store/MAD-001").await;
    let empty = app.get("/api/v1/stock/store/SEV-001").await;

    mad.expect_status(200);
    assert_eq!(mad.str("store_id"), "MAD-001");
    assert_eq!(mad.int("count"), 2);
    let items = mad.body["items"].as_array().expect("items");
    let mut by_product: Vec<(String, i64)> = items
        .iter()
        .map(|i| {
            (
                i["product_id"].as_str().expect("id").to_owned(),
                i["quantity"].as_i64().expect("q"),
            )
        })
        .collect();
    by_product.sort();
    let mut expected = vec![(first.clone(), 1), (second.clone(), 2)];
    expected.sort();
    assert_eq!(by_product, expected);
    assert!(items.iter().all(|i| i["store_id"] == json!("MAD-001")));
    empty.expect_status(200);
    assert_eq!(
        empty.body,
        json!({"store_id": "SEV-001", "count": 0, "items": [], "next_cursor": null})
    );
}

#[tokio::test]
async fn low_stock_lists_rows_below_the_threshold_lowest_first() {
    let app = spawn_app().await;
    let a = app.product_with_stock("LOW-A", "MAD-001", 5).await;
    let b = app.product_with_stock("LOW-B", "MAD-001", 20).await;
    let c = app.product_with_stock("LOW-C", "BCN-001", 9).await;
    app.create_stock(&b, "BCN-001", 10).await;
    // 20 on hand, 18 held: 2 available, the lowest.
    app.reserve(&b, "MAD-001", 18, None).await;

    let default = app.get("/api/v1/stock/low-stock").await;
    let three = app.get("/api/v1/stock/low-stock?threshold=3").await;
    let in_bcn = app
        .get("/api/v1/stock/low-stock?threshold=100&store_id=BCN-001")
        .await;
    let zero = app.get("/api/v1/stock/low-stock?threshold=0").await;

    let rows = |v: &Value| -> Vec<(String, String, i64)> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["product_id"].as_str().expect("p").to_owned(),
                    i["store_id"].as_str().expect("s").to_owned(),
                    i["available"].as_i64().expect("a"),
                )
            })
            .collect()
    };
    default.expect_status(200);
    assert_eq!(default.int("threshold"), 10);
    assert_eq!(
        rows(&default.body),
        vec![
            (b.clone(), "MAD-001".to_owned(), 2),
            (a.clone(), "MAD-001".to_owned(), 5),
            (c.clone(), "BCN-001".to_owned(), 9),
        ]
    );
    assert_eq!(default.int("count"), 3);
    assert_eq!(
        rows(&three.body),
        vec![(b.clone(), "MAD-001".to_owned(), 2)]
    );
    assert_eq!(three.int("count"), 1);
    assert_eq!(
        rows(&in_bcn.body),
        vec![
            (c.clone(), "BCN-001".to_owned(), 9),
            (b.clone(), "BCN-001".to_owned(), 10)
        ]
    );
    assert_eq!(
        zero.body,
        json!({"threshold": 0, "count": 0, "items": [], "next_cursor": null})
    );
}

#[tokio::test]
async fn low_stock_refuses_bad_parameters() {
    let app = spawn_app().await;

    for (query, field) in [
        ("threshold=-1", "threshold"),
        ("threshold=abc", "threshold"),
        ("threshold=1000000001", "threshold"),
        ("store_id=bad%20store", "store_id"),
    ] {
        let reply = app.get(&format!("/api/v1/stock/low-stock?{query}")).await;

        reply.expect_invalid_fields(&[field]);
    }
}

#[tokio::test]
async fn one_row_is_read_with_its_version_as_etag() {
    let app = spawn_app().await;
    let product = app.product_with_stock("ONE-1", "MAD-001", 8).await;
    app.post(
        &format!("/api/v1/stock/{product}/MAD-001/adjust"),
        json!({"adjustment": 2}),
    )
    .await
    .expect_status(200);

    let reply = app.get(&format!("/api/v1/stock/{product}/MAD-001")).await;
    let missing_store = app.get(&format!("/api/v1/stock/{product}/BCN-001")).await;
    let missing_product = app
        .get("/api/v1/stock/0193a000-0000-7000-8000-000000000000/MAD-001")
        .await;

    reply.expect_status(200);
    assert_stock(&reply.body, &product, "MAD-001", 10, 0, 2);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    missing_store.expect_problem(404, "STOCK_NOT_FOUND");
    missing_product.expect_problem(404, "STOCK_NOT_FOUND");
}

#[tokio::test]
async fn availability_compares_the_request_with_available_units() {
    let app = spawn_app().await;
    let product = app.product_with_stock("AVAIL-1", "MAD-001", 10).await;
    app.reserve(&product, "MAD-001", 4, None).await;
    let path = format!("/api/v1/stock/{product}/MAD-001/availability");

    let enough = app.get(&format!("{path}?quantity=6")).await;
    let too_many = app.get(&format!("{path}?quantity=7")).await;
    let default = app.get(&path).await;

    enough.expect_status(200);
    assert_eq!(
        enough.body,
        json!({"product_id": product, "store_id": "MAD-001", "requested": 6,
               "available": 6, "sufficient": true})
    );
    assert_eq!(too_many.body["sufficient"], json!(false));
    assert_eq!(too_many.int("requested"), 7);
    assert_eq!(default.int("requested"), 1);
    assert_eq!(default.body["sufficient"], json!(true));
    for bad in [
        "quantity=0",
        "quantity=-1",
        "quantity=x",
        "quantity=1000000001",
    ] {
        app.get(&format!("{path}?{bad}"))
            .await
            .expect_invalid_fields(&["quantity"]);
    }
    app.get(&format!("/api/v1/stock/{product}/BCN-001/availability"))
        .await
        .expect_problem(404, "STOCK_NOT_FOUND");
}

#[tokio::test]
async fn put_sets_the_quantity_and_writes_stock_updated() {
    let app = spawn_app().await;
    let product = app.product_with_stock("SET-1", "MAD-001", 10).await;
    let path = format!("/api/v1/stock/{product}/MAD-001");

    let up = app.put(&path, json!({"quantity": 25})).await;

    up.expect_status(200);
    assert_stock(&up.body, &product, "MAD-001", 25, 0, 2);
    assert_eq!(up.header("etag"), Some("\"2\""));
    assert_eq!(app.stock(&product, "MAD-001").await.quantity, 25);
    assert_last_stock_event(
        &app,
        "stock.updated",
        &product,
        "MAD-001",
        json!({"product_id": product, "store_id": "MAD-001", "previous_quantity": 10,
               "new_quantity": 25, "change": 15, "reason": "restock", "reserved": 0, "version": 2}),
    )
    .await;

    let down = app.put(&path, json!({"quantity": 20})).await;

    down.expect_status(200);
    assert_eq!(
        app.last_event().await.payload()["reason"],
        json!("adjustment")
    );
    assert_eq!(app.last_event().await.payload()["change"], json!(-5));

    let custom = app
        .put(
            &path,
            json!({"quantity": 21, "reason": "inventario anual ✓"}),
        )
        .await;

    custom.expect_status(200);
    assert_eq!(
        app.last_event().await.payload()["reason"],
        json!("inventario anual ✓")
    );
    assert_eq!(app.event_count_of("stock.updated").await, 3);
}

#[tokio::test]
async fn put_honours_if_match() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IFM-1", "MAD-001", 10).await;
    let path = format!("/api/v1/stock/{product}/MAD-001");

    let fresh = common::send(
        app.client
            .put(app.url(&path))
            .header("x-api-key", &app.key)
            .header("if-match", "\"1\"")
            .json(&json!({"quantity": 11})),
    )
    .await;

    fresh.expect_status(200);
    assert_stock(&fresh.body, &product, "MAD-001", 11, 0, 2);
    let before = app.snapshot().await;

    let stale = common::send(
        app.client
            .put(app.url(&path))
            .header("x-api-key", &app.key)
            .header("if-match", "\"1\"")
            .json(&json!({"quantity": 12})),
    )
    .await;

    stale.expect_problem(412, "VERSION_MISMATCH");
    assert_eq!(
        app.snapshot().await,
        before,
        "a stale write changes nothing"
    );
    assert_eq!(app.stock(&product, "MAD-001").await.quantity, 11);
}

#[tokio::test]
async fn put_below_the_reserved_units_is_409() {
    let app = spawn_app().await;
    let product = app.product_with_stock("BELOW-1", "MAD-001", 10).await;
    app.reserve(&product, "MAD-001", 5, None).await;
    let before = app.snapshot().await;

    let reply = app
        .put(
            &format!("/api/v1/stock/{product}/MAD-001"),
            json!({"quantity": 4}),
        )
        .await;

    reply.expect_problem(409, "QUANTITY_BELOW_RESERVED");
    assert_eq!(app.snapshot().await, before);
    let exact = app
        .put(
            &format!("/api/v1/stock/{product}/MAD-001"),
            json!({"quantity": 5}),
        )
        .await;
    exact.expect_status(200);
    assert_stock(&exact.body, &product, "MAD-001", 5, 5, 3);
}

#[tokio::test]
async fn put_of_a_missing_row_is_404() {
    let app = spawn_app().await;
    let product = app.product_id("PUT404-1").await;

    let reply = app
        .put(
            &format!("/api/v1/stock/{product}/MAD-001"),
            json!({"quantity": 4}),
        )
        .await;

    reply.expect_problem(404, "STOCK_NOT_FOUND");
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn adjust_adds_and_removes_atomically_with_an_event() {
    let app = spawn_app().await;
    let product = app.product_with_stock("ADJ-1", "MAD-001", 10).await;
    let path = format!("/api/v1/stock/{product}/MAD-001/adjust");

    let added = app.post(&path, json!({"adjustment": 5})).await;

    added.expect_status(200);
    assert_stock(&added.body, &product, "MAD-001", 15, 0, 2);
    assert_eq!(added.header("etag"), Some("\"2\""));
    assert_last_stock_event(
        &app,
        "stock.updated",
        &product,
        "MAD-001",
        json!({"product_id": product, "store_id": "MAD-001", "previous_quantity": 10,
               "new_quantity": 15, "change": 5, "reason": "adjustment", "reserved": 0, "version": 2}),
    )
    .await;

    let removed = app
        .post(&path, json!({"adjustment": -15, "reason": "damaged"}))
        .await;

    removed.expect_status(200);
    assert_stock(&removed.body, &product, "MAD-001", 0, 0, 3);
    let payload = app.last_event().await.payload();
    assert_eq!(
        (payload["change"].clone(), payload["reason"].clone()),
        (json!(-15), json!("damaged"))
    );
}

#[tokio::test]
async fn adjust_below_reserved_or_below_zero_is_409() {
    let app = spawn_app().await;
    let product = app.product_with_stock("ADJ-2", "MAD-001", 10).await;
    let path = format!("/api/v1/stock/{product}/MAD-001/adjust");
    app.reserve(&product, "MAD-001", 5, None).await;
    let before = app.snapshot().await;

    let below_reserved = app.post(&path, json!({"adjustment": -6})).await;
    let negative = app.post(&path, json!({"adjustment": -11})).await;

    below_reserved.expect_problem(409, "QUANTITY_BELOW_RESERVED");
    negative.expect_problem(409, "QUANTITY_BELOW_RESERVED");
    assert_eq!(app.snapshot().await, before);

    let product2 = app.product_with_stock("ADJ-3", "MAD-001", 3).await;
    let before = app.snapshot().await;
    let negative_unreserved = app
        .post(
            &format!("/api/v1/stock/{product2}/MAD-001/adjust"),
            json!({"adjustment": -4}),
        )
        .await;
    negative_unreserved.expect_problem(409, "QUANTITY_BELOW_RESERVED");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_put_or_adjust_that_changes_nothing_is_200_with_the_row_unchanged_and_no_event() {
    let app = spawn_app().await;
    let product = app.product_with_stock("NOOP-1", "MAD-001", 10).await;
    let path = format!("/api/v1/stock/{product}/MAD-001");
    let before = app.snapshot().await;

    let same = app.put(&path, json!({"quantity": 10})).await;
    let zero = app
        .post(&format!("{path}/adjust"), json!({"adjustment": 0}))
        .await;
    let stale = common::send(
        app.client
            .put(app.url(&path))
            .header("x-api-key", &app.key)
            .header("if-match", "\"7\"")
            .json(&json!({"quantity": 10})),
    )
    .await;

    for reply in [&same, &zero] {
        reply.expect_status(200);
        assert_eq!(reply.int("quantity"), 10);
        assert_eq!(reply.int("version"), 1, "no version bump: {}", reply.text);
        assert_eq!(reply.header("etag"), Some("\"1\""));
    }
    stale.expect_problem(412, "VERSION_MISMATCH");
    assert_eq!(app.snapshot().await, before, "no row change, no event");
}

#[tokio::test]
async fn adjust_honours_if_match_and_404s_a_missing_row() {
    let app = spawn_app().await;
    let product = app.product_with_stock("ADJ-IFM", "MAD-001", 10).await;
    let path = format!("/api/v1/stock/{product}/MAD-001/adjust");
    app.post(&path, json!({"adjustment": 1}))
        .await
        .expect_status(200);
    let before = app.snapshot().await;

    let stale = common::send(
        app.client
            .post(app.url(&path))
            .header("x-api-key", &app.key)
            .header("if-match", "\"1\"")
            .json(&json!({"adjustment": 1})),
    )
    .await;
    stale.expect_problem(412, "VERSION_MISMATCH");
    assert_eq!(app.snapshot().await, before);

    let fresh = common::send(
        app.client
            .post(app.url(&path))
            .header("x-api-key", &app.key)
            .header("if-match", "\"2\"")
            .json(&json!({"adjustment": 1})),
    )
    .await;
    fresh.expect_status(200);
    assert_stock(&fresh.body, &product, "MAD-001", 12, 0, 3);

    let missing = app
        .post(
            &format!("/api/v1/stock/{product}/BCN-001/adjust"),
            json!({"adjustment": 1}),
        )
        .await;
    missing.expect_problem(404, "STOCK_NOT_FOUND");
}

#[tokio::test]
async fn transfer_creates_the_destination_and_writes_one_event() {
    let app = spawn_app().await;
    let product = app.product_with_stock("TRF-1", "MAD-001", 10).await;
    let events_before = app.event_count().await;

    let reply = app
        .post(
            "/api/v1/stock/transfer",
            json!({"product_id": product, "from_store_id": "MAD-001", "to_store_id": "BCN-001", "quantity": 4}),
        )
        .await;

    reply.expect_status(200);
    assert_eq!(reply.str("product_id"), product);
    assert_eq!(reply.int("quantity"), 4);
    assert_stock(&reply.body["from"], &product, "MAD-001", 6, 0, 2);
    assert_stock(&reply.body["to"], &product, "BCN-001", 4, 0, 1);
    assert_eq!(app.stock(&product, "MAD-001").await.quantity, 6);
    assert_eq!(app.stock(&product, "BCN-001").await.quantity, 4);
    assert_eq!(
        app.event_count().await,
        events_before + 1,
        "exactly one event"
    );
    assert_last_stock_event(
        &app,
        "stock.transferred",
        &product,
        "MAD-001",
        json!({"product_id": product, "from_store": "MAD-001", "to_store": "BCN-001",
               "quantity": 4, "reason": "transfer", "from_new_quantity": 6, "to_new_quantity": 4,
               "from_version": 2, "to_version": 1, "to_created": true}),
    )
    .await;

    let back = app
        .post(
            "/api/v1/stock/transfer",
            json!({"product_id": product, "from_store_id": "BCN-001", "to_store_id": "MAD-001",
                   "quantity": 1, "reason": "rebalance"}),
        )
        .await;

    back.expect_status(200);
    assert_stock(&back.body["from"], &product, "BCN-001", 3, 0, 2);
    assert_stock(&back.body["to"], &product, "MAD-001", 7, 0, 3);
    let payload = app.last_event().await.payload();
    assert_eq!(payload["reason"], json!("rebalance"));
    assert_eq!(payload["to_created"], json!(false));
}

#[tokio::test]
async fn transfer_refuses_bad_requests_and_writes_nothing() {
    let app = spawn_app().await;
    let product = app.product_with_stock("TRF-2", "MAD-001", 10).await;
    app.reserve(&product, "MAD-001", 8, None).await;
    let no_stock = app.product_id("TRF-3").await;
    let before = app.snapshot().await;
    let transfer = |product: &str, from: &str, to: &str, quantity: i64| json!({"product_id": product, "from_store_id": from, "to_store_id": to, "quantity": quantity});

    let same_store = app
        .post(
            "/api/v1/stock/transfer",
            transfer(&product, "MAD-001", "MAD-001", 1),
        )
        .await;
    let zero = app
        .post(
            "/api/v1/stock/transfer",
            transfer(&product, "MAD-001", "BCN-001", 0),
        )
        .await;
    let negative = app
        .post(
            "/api/v1/stock/transfer",
            transfer(&product, "MAD-001", "BCN-001", -2),
        )
        .await;
    let held = app
        .post(
            "/api/v1/stock/transfer",
            transfer(&product, "MAD-001", "BCN-001", 3),
        )
        .await;
    let unknown_product = app
        .post(
            "/api/v1/stock/transfer",
            transfer(
                "0193a000-0000-7000-8000-000000000000",
                "MAD-001",
                "BCN-001",
                1,
            ),
        )
        .await;
    let missing_source = app
        .post(
            "/api/v1/stock/transfer",
            transfer(&no_stock, "MAD-001", "BCN-001", 1),
        )
        .await;

    // Issue 17: moving units to the store they are in is refused, not a 200 that a client
    // would book as units moved.
    same_store.expect_problem(422, "SAME_STORE");
    zero.expect_invalid_fields(&["quantity"]);
    negative.expect_invalid_fields(&["quantity"]);
    held.expect_problem(409, "INSUFFICIENT_STOCK");
    unknown_product.expect_problem(404, "PRODUCT_NOT_FOUND");
    missing_source.expect_problem(404, "STOCK_NOT_FOUND");
    assert_eq!(app.snapshot().await, before);

    let all_available = app
        .post(
            "/api/v1/stock/transfer",
            transfer(&product, "MAD-001", "BCN-001", 2),
        )
        .await;
    all_available.expect_status(200);
    assert_stock(&all_available.body["from"], &product, "MAD-001", 8, 8, 3);
}

#[tokio::test]
async fn every_stock_change_bumps_the_version() {
    let app = spawn_app().await;
    let product = app.product_with_stock("VER-1", "MAD-001", 10).await;
    let mut versions = vec![app.stock(&product, "MAD-001").await.version];
    let path = format!("/api/v1/stock/{product}/MAD-001");

    app.put(&path, json!({"quantity": 20}))
        .await
        .expect_status(200);
    versions.push(app.stock(&product, "MAD-001").await.version);
    app.post(&format!("{path}/adjust"), json!({"adjustment": -1}))
        .await
        .expect_status(200);
    versions.push(app.stock(&product, "MAD-001").await.version);
    let confirmed = app.reserve(&product, "MAD-001", 2, None).await;
    versions.push(app.stock(&product, "MAD-001").await.version);
    app.post_empty(&format!("/api/v1/reservations/{confirmed}/confirm"))
        .await
        .expect_status(200);
    versions.push(app.stock(&product, "MAD-001").await.version);
    let cancelled = app.reserve(&product, "MAD-001", 2, None).await;
    versions.push(app.stock(&product, "MAD-001").await.version);
    app.post_empty(&format!("/api/v1/reservations/{cancelled}/cancel"))
        .await
        .expect_status(200);
    versions.push(app.stock(&product, "MAD-001").await.version);
    app.post(
        "/api/v1/stock/transfer",
        json!({"product_id": product, "from_store_id": "MAD-001", "to_store_id": "BCN-001", "quantity": 1}),
    )
    .await
    .expect_status(200);
    versions.push(app.stock(&product, "MAD-001").await.version);
    let expiring = app
        .post(
            "/api/v1/reservations",
            json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1, "ttl_seconds": 1}),
        )
        .await;
    expiring.expect_status(201);
    versions.push(app.stock(&product, "MAD-001").await.version);
    wait_until_past(expiring.str("expires_at")).await;
    app.post_empty(&format!(
        "/api/v1/reservations/{}/confirm",
        expiring.str("id")
    ))
    .await
    .expect_problem(409, "RESERVATION_EXPIRED");
    versions.push(app.stock(&product, "MAD-001").await.version);

    assert_eq!(
        versions,
        (1..=10).collect::<Vec<i64>>(),
        "create, put, adjust, reserve, confirm, reserve, cancel, transfer, reserve, expire"
    );
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        common::StockDbRow {
            quantity: 16,
            reserved: 0,
            version: 10
        }
    );
    // The destination row of the transfer starts at version 1 and the next transfer bumps it.
    assert_eq!(app.stock(&product, "BCN-001").await.version, 1);
}

#[tokio::test]
async fn if_match_accepts_weak_and_any_and_refuses_garbage() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IFM-2", "MAD-001", 10).await;
    let path = format!("/api/v1/stock/{product}/MAD-001");
    let put = |if_match: &'static str, quantity: i64| {
        common::send(
            app.client
                .put(app.url(&path))
                .header("x-api-key", &app.key)
                .header("if-match", if_match)
                .json(&json!({"quantity": quantity})),
        )
    };

    let weak = put("W/\"1\"", 11).await;
    let any = put("*", 12).await;
    let before = app.snapshot().await;
    let garbage = put("\"two\"", 13).await;

    weak.expect_status(200);
    assert_eq!(weak.int("version"), 2);
    any.expect_status(200);
    assert_eq!(any.int("version"), 3);
    garbage.expect_invalid_fields(&["If-Match"]);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn no_change_may_push_a_row_past_one_billion_units() {
    let app = spawn_app().await;
    let product = app
        .product_with_stock("MAX-1", "MAD-001", 1_000_000_000)
        .await;
    app.create_stock(&product, "BCN-001", 1).await;
    let before = app.snapshot().await;

    let adjust = app
        .post(
            &format!("/api/v1/stock/{product}/MAD-001/adjust"),
            json!({"adjustment": 1}),
        )
        .await;
    let transfer = app
        .post(
            "/api/v1/stock/transfer",
            json!({"product_id": product, "from_store_id": "BCN-001", "to_store_id": "MAD-001", "quantity": 1}),
        )
        .await;

    // Issue 9: the cap depends on the stored quantity, so it is a 409 (a conflict with the
    // state), not a 400 for a request the schema calls valid.
    adjust.expect_problem(409, "QUANTITY_LIMIT_EXCEEDED");
    transfer.expect_problem(409, "QUANTITY_LIMIT_EXCEEDED");
    assert_eq!(app.snapshot().await, before);
    let put = app
        .put(
            &format!("/api/v1/stock/{product}/BCN-001"),
            json!({"quantity": 1_000_000_000}),
        )
        .await;
    put.expect_status(200);
    assert_eq!(put.int("quantity"), 1_000_000_000);
}

#[tokio::test]
async fn a_transfer_from_a_store_to_itself_is_422_same_store_writes_nothing_and_keeps_no_key() {
    let app = spawn_app().await;
    let product = app.product_with_stock("TRF-SAME", "MAD-001", 10).await;
    let row_before = app.stock(&product, "MAD-001").await;
    let events_before = app.event_count().await;
    let same_store = json!({"product_id": product, "from_store_id": "MAD-001",
                            "to_store_id": "MAD-001", "quantity": 5});

    let reply = send(
        app.client
            .post(app.url("/api/v1/stock/transfer"))
            .header("x-api-key", &app.key)
            .header("idempotency-key", "same-store-1")
            .json(&same_store),
    )
    .await;

    reply.expect_problem(422, "SAME_STORE");
    assert!(
        reply.str("detail").contains("MAD-001"),
        "the detail names the store: {}",
        reply.text
    );
    assert_eq!(app.stock(&product, "MAD-001").await, row_before);
    assert_eq!(app.event_count().await, events_before, "no event");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM idempotency_keys").await,
        0,
        "a 422 SAME_STORE is not kept with its Idempotency-Key"
    );

    // The key was not kept, so the corrected request runs under it.
    let fixed = send(
        app.client
            .post(app.url("/api/v1/stock/transfer"))
            .header("x-api-key", &app.key)
            .header("idempotency-key", "same-store-1")
            .json(&json!({"product_id": product, "from_store_id": "MAD-001",
                          "to_store_id": "BCN-001", "quantity": 5})),
    )
    .await;
    fixed.expect_status(200);
    assert_eq!(fixed.int("quantity"), 5);
    assert_eq!(app.stock(&product, "BCN-001").await.quantity, 5);
}
