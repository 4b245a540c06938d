//! `/api/v1/products`: paging, lookups, create, replace, delete, and the 409s.

mod common;

use common::spawn_app;
use serde_json::json;

#[tokio::test]
async fn an_empty_catalogue_lists_an_empty_page() {
    let app = spawn_app().await;

    let reply = app.get_public("/api/v1/products").await;

    reply.expect_status(200);
    assert_eq!(
        reply.body,
        json!({"data": [], "limit": 20, "offset": 0, "total": 0, "next_cursor": null})
    );
}

#[tokio::test]
async fn the_list_pages_and_the_total_honours_the_category_filter() {
    let app = spawn_app().await;
    let mut skus = Vec::new();
    for i in 1..=5 {
        let category = if i % 2 == 1 {
            "electronics"
        } else {
            "accessories"
        };
        app.create_product_in(&format!("LIST-{i}"), category).await;
        skus.push(format!("LIST-{i}"));
    }

    let first = app.get_public("/api/v1/products?limit=2").await;
    let last = app.get_public("/api/v1/products?limit=2&offset=4").await;
    let beyond = app.get_public("/api/v1/products?limit=2&offset=10").await;
    let electronics = app
        .get_public("/api/v1/products?category=electronics&limit=2")
        .await;
    let electronics_rest = app
        .get_public("/api/v1/products?category=electronics&limit=2&offset=2")
        .await;
    let none = app.get_public("/api/v1/products?category=toys").await;

    let page_skus = |v: &serde_json::Value| -> Vec<String> {
        v["data"]
            .as_array()
            .expect("data array")
            .iter()
            .map(|p| p["sku"].as_str().expect("sku").to_owned())
            .collect()
    };
    first.expect_status(200);
    assert_eq!(page_skus(&first.body), vec!["LIST-1", "LIST-2"]);
    assert_eq!(
        (first.int("limit"), first.int("offset"), first.int("total")),
        (2, 0, 5)
    );
    assert_eq!(page_skus(&last.body), vec!["LIST-5"]);
    assert_eq!(last.int("total"), 5);
    assert_eq!(page_skus(&beyond.body), Vec::<String>::new());
    assert_eq!(beyond.int("total"), 5);
    assert_eq!(page_skus(&electronics.body), vec!["LIST-1", "LIST-3"]);
    assert_eq!(electronics.int("total"), 3);
    assert_eq!(page_skus(&electronics_rest.body), vec!["LIST-5"]);
    assert_eq!(electronics_rest.int("total"), 3);
    assert_eq!(none.body["data"], json!([]));
    assert_eq!(none.int("total"), 0);
}

#[tokio::test]
async fn the_page_size_must_be_between_1_and_200() {
    let app = spawn_app().await;
    app.create_product("LIMIT-1").await;

    let smallest = app.get_public("/api/v1/products?limit=1").await;
    let largest = app.get_public("/api/v1/products?limit=200").await;

    smallest.expect_status(200);
    assert_eq!(smallest.int("limit"), 1);
    largest.expect_status(200);
    assert_eq!(largest.int("limit"), 200);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-5", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
    ] {
        let reply = app.get_public(&format!("/api/v1/products?{query}")).await;

        reply.expect_invalid_fields(&[field]);
    }
}

#[tokio::test]
async fn creating_a_product_answers_201_with_location_and_writes_no_event() {
    let app = spawn_app().await;

    let reply = app
        .post(
            "/api/v1/products",
            json!({
                "sku": "KB-001",
                "name": "Teclado Mecánico 🎹",
                "description": "Switches rojos",
                "category": "accessories",
                "price": 89.99
            }),
        )
        .await;

    reply.expect_status(201);
    let id = reply.str("id");
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/products/{id}").as_str())
    );
    assert_eq!(reply.str("sku"), "KB-001");
    assert_eq!(reply.str("name"), "Teclado Mecánico 🎹");
    assert_eq!(reply.str("description"), "Switches rojos");
    assert_eq!(reply.str("category"), "accessories");
    assert_eq!(reply.body["price"], json!(89.99));
    assert!(uuid::Uuid::parse_str(id).is_ok(), "the id is a UUID: {id}");
    common::instant(reply.str("created_at"));
    assert_eq!(reply.str("created_at"), reply.str("updated_at"));
    let (name, price_cents): (String, i64) = app
        .db
        .one(
            "SELECT name, price_cents FROM products WHERE id = ?",
            &[common::id(id)],
        )
        .await;
    assert_eq!((name.as_str(), price_cents), ("Teclado Mecánico 🎹", 8999));
    assert_eq!(app.event_count().await, 0, "products emit no events");
}

#[tokio::test]
async fn optional_fields_may_be_left_out_and_read_back_as_null() {
    let app = spawn_app().await;

    let reply = app
        .post(
            "/api/v1/products",
            json!({"sku": "MIN-1", "name": "Minimal", "price": 0}),
        )
        .await;

    reply.expect_status(201);
    assert_eq!(reply.body["description"], json!(null));
    assert_eq!(reply.body["category"], json!(null));
    assert_eq!(reply.body["price"], json!(0.0));
}

#[tokio::test]
async fn a_product_is_found_by_id_and_by_sku() {
    let app = spawn_app().await;
    let created = app.create_product("FIND-1").await;
    let id = created["id"].as_str().expect("id");

    let by_id = app.get_public(&format!("/api/v1/products/{id}")).await;
    let by_sku = app.get_public("/api/v1/products/sku/FIND-1").await;

    by_id.expect_status(200);
    assert_eq!(by_id.body, created);
    by_sku.expect_status(200);
    assert_eq!(by_sku.body, created);
}

#[tokio::test]
async fn an_unknown_product_is_404_by_id_and_by_sku() {
    let app = spawn_app().await;

    let by_id = app
        .get_public("/api/v1/products/0190aaaa-0000-7000-8000-000000000000")
        .await;
    let by_sku = app.get_public("/api/v1/products/sku/NOPE-1").await;

    by_id.expect_problem(404, "PRODUCT_NOT_FOUND");
    by_sku.expect_problem(404, "PRODUCT_NOT_FOUND");
}

#[tokio::test]
async fn a_taken_sku_is_409_on_create_and_nothing_is_written() {
    let app = spawn_app().await;
    app.create_product("DUP-1").await;
    let before = app.snapshot().await;

    let reply = app
        .post(
            "/api/v1/products",
            json!({"sku": "DUP-1", "name": "Again", "price": 1}),
        )
        .await;

    reply.expect_problem(409, "SKU_TAKEN");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn put_replaces_every_field() {
    let app = spawn_app().await;
    let created = app.create_product("OLD-1").await;
    let id = created["id"].as_str().expect("id");

    let reply = app
        .put(
            &format!("/api/v1/products/{id}"),
            json!({"sku": "NEW-1", "name": "Renamed", "price": 12.5}),
        )
        .await;

    reply.expect_status(200);
    assert_eq!(reply.str("id"), id);
    assert_eq!(reply.str("sku"), "NEW-1");
    assert_eq!(reply.str("name"), "Renamed");
    assert_eq!(
        reply.body["description"],
        json!(null),
        "replaced, not merged"
    );
    assert_eq!(reply.body["category"], json!(null), "replaced, not merged");
    assert_eq!(reply.body["price"], json!(12.5));
    assert_eq!(reply.body["created_at"], created["created_at"]);
    assert!(common::instant(reply.str("updated_at")) >= common::instant(reply.str("created_at")));
    let stored: (String, i64) = app
        .db
        .one(
            "SELECT sku, price_cents FROM products WHERE id = ?",
            &[common::id(id)],
        )
        .await;
    assert_eq!(stored, ("NEW-1".to_owned(), 1250));
    app.get_public("/api/v1/products/sku/OLD-1")
        .await
        .expect_problem(404, "PRODUCT_NOT_FOUND");
}

#[tokio::test]
async fn put_keeping_its_own_sku_is_allowed() {
    let app = spawn_app().await;
    let id = app.product_id("SAME-1").await;

    let reply = app
        .put(
            &format!("/api/v1/products/{id}"),
            json!({"sku": "SAME-1", "name": "Same SKU", "category": "x", "price": 3}),
        )
        .await;

    reply.expect_status(200);
    assert_eq!(reply.str("name"), "Same SKU");
}

#[tokio::test]
async fn put_with_another_products_sku_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_product("TAKEN-1").await;
    let id = app.product_id("MINE-1").await;
    let before = app.snapshot().await;

    let reply = app
        .put(
            &format!("/api/v1/products/{id}"),
            json!({"sku": "TAKEN-1", "name": "Clash", "price": 1}),
        )
        .await;

    reply.expect_problem(409, "SKU_TAKEN");
    let sku: String = app
        .db
        .scalar("SELECT sku FROM products WHERE id = ?", &[common::id(&id)])
        .await;
    assert_eq!(sku, "MINE-1");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn put_of_an_unknown_product_is_404() {
    let app = spawn_app().await;

    let reply = app
        .put(
            "/api/v1/products/0193a000-0000-7000-8000-000000000000",
            json!({"sku": "GHOST-1", "name": "Ghost", "price": 1}),
        )
        .await;

    reply.expect_problem(404, "PRODUCT_NOT_FOUND");
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 0);
}

#[tokio::test]
async fn delete_answers_204_and_the_product_is_gone() {
    let app = spawn_app().await;
    let id = app.product_id("DEL-1").await;

    let reply = app.delete(&format!("/api/v1/products/{id}")).await;

    reply.expect_status(204);
    assert_eq!(reply.text, "");
    app.get_public(&format!("/api/v1/products/{id}"))
        .await
        .expect_problem(404, "PRODUCT_NOT_FOUND");
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 0);
}

#[tokio::test]
async fn delete_of_an_unknown_product_is_404() {
    let app = spawn_app().await;

    let reply = app
        .delete("/api/v1/products/0193a000-0000-7000-8000-000000000000")
        .await;

    reply.expect_problem(404, "PRODUCT_NOT_FOUND");
}

#[tokio::test]
async fn delete_is_refused_while_stock_is_on_hand_and_allowed_once_it_is_zero() {
    let app = spawn_app().await;
    let id = app.product_with_stock("INUSE-1", "MAD-001", 3).await;
    let before = app.snapshot().await;

    let refused = app.delete(&format!("/api/v1/products/{id}")).await;

    refused.expect_problem(409, "PRODUCT_IN_USE");
    assert_eq!(app.snapshot().await, before);

    app.put(
        &format!("/api/v1/stock/{id}/MAD-001"),
        json!({"quantity": 0}),
    )
    .await
    .expect_status(200);
    let events_before = app.event_count().await;

    let allowed = app.delete(&format!("/api/v1/products/{id}")).await;

    allowed.expect_status(204);
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM stock").await,
        0,
        "its empty rows go with it"
    );
    assert_eq!(
        app.event_count().await,
        events_before,
        "its events stay in the audit log"
    );
}

#[tokio::test]
async fn delete_is_refused_while_a_reservation_is_pending() {
    let app = spawn_app().await;
    let id = app.product_with_stock("INUSE-2", "MAD-001", 2).await;
    app.create_stock(&id, "BCN-001", 0).await;
    let reservation = app.reserve(&id, "MAD-001", 2, None).await;
    let before = app.snapshot().await;

    let refused = app.delete(&format!("/api/v1/products/{id}")).await;

    refused.expect_problem(409, "PRODUCT_IN_USE");
    assert_eq!(app.snapshot().await, before);

    app.post_empty(&format!("/api/v1/reservations/{reservation}/confirm"))
        .await
        .expect_status(200);
    assert_eq!(app.stock(&id, "MAD-001").await.quantity, 0);

    let allowed = app.delete(&format!("/api/v1/products/{id}")).await;

    allowed.expect_status(204);
    assert_eq!(app.count("SELECT COUNT(*) FROM reservations").await, 0);
}

#[tokio::test]
async fn a_price_with_more_than_two_decimals_or_negative_is_refused() {
    let app = spawn_app().await;

    let three_decimals = app
        .post(
            "/api/v1/products",
            json!({"sku": "P-1", "name": "n", "price": 1.999}),
        )
        .await;
    let negative = app
        .post(
            "/api/v1/products",
            json!({"sku": "P-1", "name": "n", "price": -0.01}),
        )
        .await;

    three_decimals.expect_invalid_fields(&["price"]);
    negative.expect_invalid_fields(&["price"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 0);
}
