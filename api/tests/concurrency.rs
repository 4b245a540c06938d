//! Concurrent requests: no oversell, transitions applied once, no lost update, transfers that
//! conserve units, and never a 5xx.

mod common;

use std::collections::BTreeMap;

use common::{Reply, StockDbRow, spawn_app};
use futures::future::join_all;
use serde_json::json;

/// Counts answers by `status code` (`"201"`, `"409 INSUFFICIENT_STOCK"` ...).
fn tally(replies: &[Reply]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for reply in replies {
        let key = match reply.body["code"].as_str() {
            Some(code) => format!("{} {code}", reply.status),
            None => reply.status.to_string(),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_reservations_of_fifty_units_never_oversell() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RACE-1", "MAD-001", 50).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});

    let replies = join_all((0..200).map(|_| app.post("/api/v1/reservations", body.clone()))).await;

    assert_eq!(
        tally(&replies),
        BTreeMap::from([
            ("201".to_owned(), 50),
            ("409 INSUFFICIENT_STOCK".to_owned(), 150)
        ])
    );
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 50,
            reserved: 50,
            version: 51
        }
    );
    assert_eq!(app.event_count_of("reservation.created").await, 50);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM reservations WHERE status = 'PENDING'")
            .await,
        50
    );
    let stock = app.get(&format!("/api/v1/stock/{product}/MAD-001")).await;
    assert_eq!(stock.int("available"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_confirm_cancel_confirm_applies_exactly_one() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RACE-2", "MAD-001", 1000).await;
    let mut expected = StockDbRow {
        quantity: 1000,
        reserved: 0,
        version: 1,
    };

    for round in 0..20 {
        let id = app.reserve(&product, "MAD-001", 3, None).await;
        expected.reserved += 3;
        expected.version += 1;
        let events_before = app.event_count().await;
        let confirm = format!("/api/v1/reservations/{id}/confirm");
        let cancel = format!("/api/v1/reservations/{id}/cancel");

        let (first, second, third) = tokio::join!(
            app.post_empty(&confirm),
            app.post_empty(&cancel),
            app.post_empty(&confirm)
        );

        let replies = [first, second, third];
        let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: {:?}", tally(&replies));
        for loser in replies.iter().filter(|r| r.status != 200) {
            loser.expect_problem(409, "INVALID_RESERVATION_STATE");
        }
        let status = winners[0].str("status").to_owned();
        assert_eq!(app.reservation_status(&id).await, status);
        expected.reserved -= 3;
        expected.version += 1;
        if status == "CONFIRMED" {
            expected.quantity -= 3;
        } else {
            assert_eq!(status, "CANCELLED");
        }
        assert_eq!(
            app.stock(&product, "MAD-001").await,
            expected,
            "round {round}"
        );
        assert_eq!(
            app.event_count().await,
            events_before + 1,
            "round {round}: one event"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_adjusts_lose_no_update() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RACE-3", "MAD-001", 7).await;
    let path = format!("/api/v1/stock/{product}/MAD-001/adjust");

    let replies = join_all((0..100).map(|_| app.post(&path, json!({"adjustment": 1})))).await;

    assert_eq!(tally(&replies), BTreeMap::from([("200".to_owned(), 100)]));
    let mut versions: Vec<i64> = replies.iter().map(|r| r.int("version")).collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=101).collect::<Vec<i64>>(),
        "each adjust saw its own version"
    );
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 107,
            reserved: 0,
            version: 101
        }
    );
    assert_eq!(app.event_count_of("stock.updated").await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_both_ways_conserve_units() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RACE-4", "MAD-001", 30).await;
    app.create_stock(&product, "BCN-001", 30).await;
    let transfer = |i: usize| {
        let (from, to) = if i.is_multiple_of(2) {
            ("MAD-001", "BCN-001")
        } else {
            ("BCN-001", "MAD-001")
        };
        let quantity = 1 + (i * 7) % 13;
        app.post(
            "/api/v1/stock/transfer",
            json!({"product_id": product, "from_store_id": from, "to_store_id": to, "quantity": quantity}),
        )
    };
    let totals_path = format!("/api/v1/stock/product/{product}");
    let watcher = async {
        let mut seen = Vec::new();
        for _ in 0..30 {
            let reply = app.get(&totals_path).await;
            reply.expect_status(200);
            seen.push(reply.int("total_quantity"));
        }
        seen
    };

    let (replies, seen) = tokio::join!(join_all((0..120).map(transfer)), watcher);

    let counts = tally(&replies);
    assert!(
        counts
            .keys()
            .all(|k| k == "200" || k == "409 INSUFFICIENT_STOCK"),
        "only 200 or 409 INSUFFICIENT_STOCK: {counts:?}"
    );
    let moved = counts.get("200").copied().unwrap_or(0);
    assert!(moved > 0, "some transfers went through: {counts:?}");
    assert!(
        seen.iter().all(|&total| total == 60),
        "the total never changes: {seen:?}"
    );
    let mad = app.stock(&product, "MAD-001").await;
    let bcn = app.stock(&product, "BCN-001").await;
    assert_eq!(mad.quantity + bcn.quantity, 60);
    assert_eq!(app.event_count_of("stock.transferred").await, moved as i64);
    // Each successful transfer bumped both rows once.
    assert_eq!(mad.version + bcn.version, 2 + 2 * moved as i64);
    for reply in replies.iter().filter(|r| r.status == 200) {
        assert!(reply.body["from"]["quantity"].as_i64().expect("from") >= 0);
    }
}
