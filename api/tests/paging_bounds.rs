//! Paging bounds: the page size defaults to 100 and stays within 1–1000, the last page has
//! `next_cursor: null`, a cursor this list did not issue is a 400 `INVALID_CURSOR`, and products
//! page by offset or cursor.

mod common;
mod pages;

use common::{Reply, spawn_app};
use pages::{products, rows, stock_all, walk};
use serde_json::json;

#[tokio::test]
async fn products_page_by_cursor_or_by_offset_with_the_same_next_cursor() {
    let app = spawn_app().await;
    for i in 0..23 {
        let category = if i % 2 == 0 { "even" } else { "odd" };
        app.create_product_in(&format!("CUR-{i:02}"), category)
            .await;
    }

    let all = walk(&app, "/api/v1/products", "data", 5, "sku").await;
    let odd = walk(&app, "/api/v1/products?category=odd", "data", 4, "sku").await;
    let by_offset = app.get_public("/api/v1/products?limit=5&offset=5").await;
    let continued = app
        .get_public(&format!(
            "/api/v1/products?limit=5&cursor={}",
            by_offset.str("next_cursor")
        ))
        .await;
    let both = app
        .get_public(&format!(
            "/api/v1/products?offset=5&cursor={}",
            by_offset.str("next_cursor")
        ))
        .await;

    let skus: Vec<String> = (0..23).map(|i| format!("CUR-{i:02}")).collect();
    assert_eq!(all, skus);
    let odd_skus: Vec<String> = skus.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(odd, odd_skus);
    let page_skus = |r: &Reply| -> Vec<String> {
        rows(r, "data")
            .iter()
            .map(|p| p["sku"].as_str().expect("sku").to_owned())
            .collect()
    };
    assert_eq!(page_skus(&continued), skus[10..15].to_vec());
    assert_eq!((continued.int("offset"), continued.int("total")), (0, 23));
    both.expect_invalid_fields(&["offset"]);
}

#[tokio::test]
async fn the_page_size_defaults_to_100_and_stays_within_1_to_1000() {
    let app = spawn_app().await;
    let ids = products(&app, "LIMIT", 1_001).await;
    stock_all(&app, &ids, "MAD-001", 1).await;

    let default = app.get("/api/v1/stock/store/MAD-001").await;
    let largest = app.get("/api/v1/stock/store/MAD-001?limit=1000").await;
    let rest = app
        .get(&format!(
            "/api/v1/stock/store/MAD-001?limit=1000&cursor={}",
            largest.str("next_cursor")
        ))
        .await;

    assert_eq!(rows(&default, "items").len(), 100);
    assert_eq!(default.int("count"), 100);
    assert_eq!(rows(&largest, "items").len(), 1000);
    assert_eq!(rows(&rest, "items").len(), 1);
    assert_eq!(rest.body["next_cursor"], json!(null));
    assert_eq!(rest.body["items"][0]["product_id"], json!(ids[1000]));
    let product = &ids[0];
    for path in [
        "/api/v1/stock/store/MAD-001".to_owned(),
        "/api/v1/stock/low-stock".to_owned(),
        format!("/api/v1/stock/product/{product}"),
        "/api/v1/reservations/store/MAD-001/pending".to_owned(),
        format!("/api/v1/reservations/product/{product}/store/MAD-001"),
    ] {
        for limit in ["0", "1001", "-1", "ten"] {
            app.get(&format!("{path}?limit={limit}"))
                .await
                .expect_invalid_fields(&["limit"]);
        }
    }
}

#[tokio::test]
async fn a_cursor_this_list_did_not_issue_is_refused_with_invalid_cursor() {
    let app = spawn_app().await;
    let ids = products(&app, "BADCUR", 3).await;
    stock_all(&app, &ids, "MAD-001", 1).await;
    let store_cursor = app
        .get("/api/v1/stock/store/MAD-001?limit=1")
        .await
        .str("next_cursor")
        .to_owned();
    let mut edited = store_cursor.clone().into_bytes();
    let middle = edited.len() / 2;
    edited[middle] = if edited[middle] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).expect("ascii");
    let product = &ids[0];

    for path in [
        "/api/v1/stock/store/MAD-001",
        "/api/v1/stock/low-stock",
        &format!("/api/v1/stock/product/{product}"),
        "/api/v1/reservations/store/MAD-001/pending",
        &format!("/api/v1/reservations/product/{product}/store/MAD-001"),
        "/api/v1/products",
    ] {
        let is_store_stock = path.ends_with("/stock/store/MAD-001");
        for cursor in ["garbage!", "AAAA", edited.as_str(), &store_cursor] {
            if is_store_stock && cursor == store_cursor {
                continue;
            }
            let reply = app.get(&format!("{path}?cursor={cursor}")).await;

            reply.expect_problem(400, "INVALID_CURSOR");
        }
    }
    let valid = app
        .get(&format!(
            "/api/v1/stock/store/MAD-001?cursor={store_cursor}"
        ))
        .await;
    valid.expect_status(200);
    assert_eq!(rows(&valid, "items").len(), 2);
}

#[tokio::test]
async fn the_last_page_of_an_empty_list_has_no_cursor() {
    let app = spawn_app().await;

    let stock = app.get("/api/v1/stock/store/SEV-001").await;
    let low = app.get("/api/v1/stock/low-stock").await;
    let pending = app.get("/api/v1/reservations/store/SEV-001/pending").await;

    assert_eq!(
        stock.body,
        json!({"store_id": "SEV-001", "count": 0, "items": [], "next_cursor": null})
    );
    assert_eq!(
        low.body,
        json!({"threshold": 10, "count": 0, "items": [], "next_cursor": null})
    );
    assert_eq!(
        pending.body,
        json!({"store_id": "SEV-001", "count": 0, "reservations": [], "next_cursor": null})
    );
}
