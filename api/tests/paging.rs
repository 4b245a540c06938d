//! Keyset paging while writes happen: a walk lists each row that exists throughout exactly
//! once, in the list's order; rows added behind the walk's position are not listed, rows added
//! ahead are (an offset would repeat or skip rows instead).

mod common;
mod pages;

use std::collections::{BTreeSet, HashMap};

use common::spawn_app;
use pages::{page_path, products, rows, stock_all, walk};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_of_5000_rows_sees_each_once_while_rows_are_added_and_changed() {
    let app = &spawn_app().await;
    // 5,500 products; 5,000 stocked in MAD-001 up front. Every 11th is stocked only during the
    // walk, so those rows land between the others in the list's (product id) order: some
    // behind the walk's position, some ahead of it.
    let ids = products(app, "WALK", 5_500).await;
    let (late, early): (Vec<_>, Vec<_>) = ids
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 11 == 10);
    let late: Vec<String> = late.into_iter().map(|(_, id)| id).collect();
    let early: Vec<String> = early.into_iter().map(|(_, id)| id).collect();
    assert_eq!(early.len(), 5_000);
    stock_all(app, &early, "MAD-001", 5).await;
    let limit = 97;

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pending_late = late.iter();
    let (mut added_behind, mut added_ahead) = (BTreeSet::new(), BTreeSet::new());
    let mut pages = 0;
    loop {
        let reply = app
            .get(&page_path(
                "/api/v1/stock/store/MAD-001",
                limit,
                cursor.as_deref(),
            ))
            .await;
        reply.expect_status(200);
        pages += 1;
        let page = rows(&reply, "items");
        assert!(page.len() <= limit);
        assert_eq!(reply.int("count"), page.len() as i64);
        seen.extend(
            page.iter()
                .map(|r| r["product_id"].as_str().expect("id").to_owned()),
        );
        let Some(next) = reply.body["next_cursor"].as_str() else {
            break;
        };
        cursor = Some(next.to_owned());
        // Writes between two pages: ten rows added (wherever they fall), and, concurrently,
        // ten existing rows changed and ten rows added in another store.
        let position = seen.last().cloned().unwrap_or_default();
        let batch: Vec<&String> = pending_late.by_ref().take(10).collect();
        for id in &batch {
            if **id < position {
                added_behind.insert((*id).clone());
            } else {
                added_ahead.insert((*id).clone());
            }
        }
        let adds =
            futures::future::join_all(batch.iter().map(|id| app.create_stock(id, "MAD-001", 1)));
        let changes = futures::future::join_all(early.iter().skip(pages * 10).take(10).map(
            |id| async move {
                let path = format!("/api/v1/stock/{id}/MAD-001/adjust");
                app.post(&path, json!({"adjustment": 1})).await
            },
        ));
        let elsewhere = futures::future::join_all(
            early
                .iter()
                .skip(pages * 10)
                .take(10)
                .map(|id| app.create_stock(id, "BCN-001", 1)),
        );
        let (_, changed, _) = tokio::join!(adds, changes, elsewhere);
        assert!(changed.iter().all(|r| r.status == 200));
    }

    let mut times_seen: HashMap<&str, usize> = HashMap::new();
    for id in &seen {
        *times_seen.entry(id.as_str()).or_default() += 1;
    }
    let repeated: Vec<_> = times_seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "rows listed twice: {repeated:?}");
    let missing: Vec<_> = early
        .iter()
        .filter(|id| !times_seen.contains_key(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "{} rows never listed", missing.len());
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the walk is in product id order"
    );
    assert!(
        !added_behind.is_empty() && !added_ahead.is_empty(),
        "writes fell on both sides"
    );
    for id in &added_behind {
        assert!(
            !times_seen.contains_key(id.as_str()),
            "a row added behind the walk is not listed"
        );
    }
    for id in &added_ahead {
        assert_eq!(
            times_seen.get(id.as_str()),
            Some(&1),
            "a row added ahead is listed once"
        );
    }
    assert_eq!(seen.len(), early.len() + added_ahead.len());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM stock WHERE store_id = 'MAD-001'")
            .await,
        (early.len() + added_behind.len() + added_ahead.len()) as i64
    );
}

#[tokio::test]
async fn pending_reservations_page_by_deadline_and_skip_the_ones_cancelled_mid_walk() {
    let app = spawn_app().await;
    let product = app.product_with_stock("PEND-WALK", "MAD-001", 10_000).await;
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(app.reserve(&product, "MAD-001", 1, Some(1_000 + i)).await);
    }
    let limit = 40;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut cancelled = BTreeSet::new();
    let mut added = 0;
    loop {
        let reply = app
            .get(&page_path(
                "/api/v1/reservations/store/MAD-001/pending",
                limit,
                cursor.as_deref(),
            ))
            .await;
        reply.expect_status(200);
        seen.extend(
            rows(&reply, "reservations")
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned()),
        );
        let Some(next) = reply.body["next_cursor"].as_str() else {
            break;
        };
        cursor = Some(next.to_owned());
        // Cancel the reservation 5 places ahead of the walk; add one with a later deadline.
        let position = seen
            .last()
            .and_then(|last| ids.iter().position(|id| id == last));
        if let Some(ahead) = position.and_then(|p| ids.get(p + 5)) {
            app.post_empty(&format!("/api/v1/reservations/{ahead}/cancel"))
                .await
                .expect_status(200);
            cancelled.insert(ahead.clone());
        }
        app.reserve(&product, "MAD-001", 1, Some(50_000 + seen.len() as i64))
            .await;
        added += 1;
    }

    let kept: Vec<&String> = ids.iter().filter(|id| !cancelled.contains(*id)).collect();
    let originals: Vec<&String> = seen.iter().filter(|id| ids.contains(id)).collect();
    assert_eq!(
        originals, kept,
        "every live reservation once, soonest deadline first"
    );
    assert!(!cancelled.is_empty());
    assert_eq!(
        seen.len() - originals.len(),
        added,
        "the later ones come last, all of them"
    );
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), seen.len());
}

#[tokio::test]
async fn a_products_reservations_page_newest_first_and_new_ones_do_not_shift_the_walk() {
    let app = spawn_app().await;
    let product = app
        .product_with_stock("NEWEST-WALK", "MAD-001", 10_000)
        .await;
    let mut ids = Vec::new();
    for _ in 0..120 {
        ids.push(app.reserve(&product, "MAD-001", 1, None).await);
    }
    let path = format!("/api/v1/reservations/product/{product}/store/MAD-001");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let reply = app.get(&page_path(&path, 25, cursor.as_deref())).await;
        reply.expect_status(200);
        seen.extend(
            rows(&reply, "reservations")
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned()),
        );
        let Some(next) = reply.body["next_cursor"].as_str() else {
            break;
        };
        cursor = Some(next.to_owned());
        // A newer reservation sorts before the walk's position: an offset would now repeat a row.
        app.reserve(&product, "MAD-001", 1, None).await;
    }
    let confirmed = app
        .get(&page_path(&format!("{path}?status=CONFIRMED"), 25, None))
        .await;

    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    assert_eq!(confirmed.body["reservations"], json!([]));
    assert_eq!(confirmed.body["next_cursor"], json!(null));
}

#[tokio::test]
async fn low_stock_and_a_products_stores_page_in_their_order() {
    let app = spawn_app().await;
    let ids = products(&app, "LOWP", 60).await;
    for (i, id) in ids.iter().enumerate() {
        app.create_stock(id, "MAD-001", (i % 7) as i64).await;
        app.create_stock(id, "BCN-001", 3).await;
    }
    let spread = &ids[0];
    let mut stores = vec!["BCN-001".to_owned(), "MAD-001".to_owned()];
    for s in 0..25 {
        let store = format!("S{s:02}");
        app.create_stock(spread, &store, 2).await;
        stores.push(store);
    }
    stores.sort();
    // Above the partial indexes' 1,000 units: listed only by a threshold above 1,000 (a scan).
    let plenty = app
        .product_with_stock("LOWP-PLENTY", "MAD-001", 2_000)
        .await;

    let low = walk(
        &app,
        "/api/v1/stock/low-stock?threshold=5",
        "items",
        9,
        "product_id",
    )
    .await;
    let low_mad = walk(
        &app,
        "/api/v1/stock/low-stock?threshold=5&store_id=MAD-001",
        "items",
        4,
        "product_id",
    )
    .await;
    let high = walk(
        &app,
        "/api/v1/stock/low-stock?threshold=5000",
        "items",
        11,
        "product_id",
    )
    .await;
    let high_mad = walk(
        &app,
        "/api/v1/stock/low-stock?threshold=5000&store_id=MAD-001",
        "items",
        11,
        "product_id",
    )
    .await;
    let spread_stores = walk(
        &app,
        &format!("/api/v1/stock/product/{spread}"),
        "stores",
        4,
        "store_id",
    )
    .await;
    let last = app
        .get(&format!("/api/v1/stock/product/{spread}?limit=1000"))
        .await;

    // Expected order: available, then product id, then store id.
    let mut expected: Vec<(i64, String, String)> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        expected.push(((i % 7) as i64, id.clone(), "MAD-001".to_owned()));
        expected.push((3, id.clone(), "BCN-001".to_owned()));
    }
    expected.extend((0..25).map(|s| (2, spread.clone(), format!("S{s:02}"))));
    expected.sort();
    let expected_products: Vec<String> = expected
        .iter()
        .filter(|(a, _, _)| *a < 5)
        .map(|(_, p, _)| p.clone())
        .collect();
    assert_eq!(low, expected_products);
    let mut expected_high: Vec<String> = expected.iter().map(|(_, p, _)| p.clone()).collect();
    expected_high.push(plenty.clone());
    assert_eq!(high, expected_high);
    let mut expected_high_mad: Vec<String> = expected
        .iter()
        .filter(|(_, _, s)| s == "MAD-001")
        .map(|(_, p, _)| p.clone())
        .collect();
    expected_high_mad.push(plenty);
    assert_eq!(high_mad, expected_high_mad);
    let expected_mad: Vec<String> = expected
        .iter()
        .filter(|(a, _, s)| *a < 5 && s == "MAD-001")
        .map(|(_, p, _)| p.clone())
        .collect();
    assert_eq!(low_mad, expected_mad);
    assert_eq!(spread_stores, stores);
    assert_eq!(last.body["next_cursor"], json!(null));
    assert_eq!(
        (
            last.int("total_quantity"),
            last.int("total_reserved"),
            last.int("total_available")
        ),
        (25 * 2 + 3, 0, 25 * 2 + 3)
    );
    let first = app
        .get(&format!("/api/v1/stock/product/{spread}?limit=2"))
        .await;
    assert_eq!(rows(&first, "stores").len(), 2);
    assert_eq!(
        first.int("total_quantity"),
        53,
        "totals cover every store, not the page"
    );
}
