//! The expiry task: due PENDING reservations become EXPIRED with their event and release
//! their units; nothing else is touched.

mod common;

use std::time::Duration;

use common::{StockDbRow, TestApp, eventually, spawn_app, spawn_app_with};
use inventory_api::domain::{PositiveQuantity, ProductId, ReservationId, StoreId};
use inventory_api::ops::expire_batch;
use inventory_api::ops::reservations::{self, ReserveInput};
use inventory_api::store::Declared;
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

/// Reserves `per_row` reservations of 1 unit on each stock row, created an hour ago with a
/// 1 s TTL: all already due, the moment their one write commits. Through the real
/// reservation operation, so their events and counters are those of HTTP reservations.
async fn reserve_already_due(app: &TestApp, rows: &[(String, String)], per_row: usize) {
    let rows = rows.to_vec();
    app.state
        .writer
        .write(Declared::default(), move |tx| {
            let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
            for _ in 0..per_row {
                for (product_id, store_id) in &rows {
                    let input = ReserveInput {
                        product_id: ProductId::from_stored(product_id.clone()),
                        store_id: StoreId::from_stored(store_id.clone()),
                        customer_id: "abandoned-cart".to_owned(),
                        quantity: PositiveQuantity::new_const(1),
                        ttl: chrono::Duration::seconds(1),
                        hold_id: None,
                    };
                    reservations::reserve(tx, &input, &an_hour_ago)?;
                }
            }
            Ok(())
        })
        .await
        .expect("the due reservations are written");
}

#[tokio::test]
async fn a_backlog_of_5000_due_reservations_is_expired_within_3_seconds() {
    // The production interval: before batches were taken back to back, one pass expired at
    // most 1,000, so 5,000 took five passes (about 5 s).
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_secs(1)).await;
    let mut rows = Vec::new();
    for (i, store) in ["MAD-001", "BCN-001", "MAD-001", "VLC-001"]
        .iter()
        .enumerate()
    {
        let product = app
            .product_with_stock(&format!("EXP-BACKLOG-{i}"), store, 10_000)
            .await;
        rows.push((product, (*store).to_owned()));
    }
    reserve_already_due(&app, &rows, 1250).await;
    let started = std::time::Instant::now();

    eventually(
        Duration::from_secs(3),
        "5,000 due reservations to expire",
        || async {
            let left = app
                .count("SELECT COUNT(*) FROM reservations WHERE status = 'PENDING'")
                .await;
            (left == 0).then_some(())
        },
    )
    .await;
    let took = started.elapsed();

    assert_eq!(
        app.count("SELECT COUNT(*) FROM reservations WHERE status = 'EXPIRED'")
            .await,
        5000,
        "all expired after {took:?}"
    );
    assert_eq!(app.event_count_of("reservation.expired").await, 5000);
    assert_eq!(
        app.count(
            "SELECT COUNT(DISTINCT aggregate_id) FROM events \
             WHERE event_type = 'reservation.expired'"
        )
        .await,
        5000,
        "one event per reservation"
    );
    for (product, store) in &rows {
        assert_eq!(
            app.stock(product, store).await,
            StockDbRow {
                quantity: 10_000,
                reserved: 0,
                version: 1 + 1250 + 1250
            },
            "every unit back; the version moved once per reservation and once per expiry"
        );
        // Each expiry's event carries the version its own release reached: 1252..=2501, once each.
        let versions: Vec<i64> = app
            .db
            .column::<String>(
                "SELECT payload FROM events \
                 WHERE event_type = 'reservation.expired' AND partition_key = ? AND store_id = ? \
                 ORDER BY seq",
                &[product.into(), store.into()],
            )
            .await
            .iter()
            .map(|payload| {
                let payload: serde_json::Value =
                    serde_json::from_str(payload).expect("JSON payload");
                payload["version"].as_i64().expect("a version")
            })
            .collect();
        assert_eq!(versions, (1252..=2501).collect::<Vec<i64>>());
    }
    assert_eq!(
        app.get("/api/v1/reservations/stats").await.body,
        json!({"pending": 0, "confirmed": 0, "cancelled": 0, "expired": 5000, "total": 5000})
    );
    assert_eq!(
        app.count(
            "SELECT CAST(SUM(n) AS BIGINT) FROM event_counts \
             WHERE event_type = 'reservation.expired' AND state = 'pending'"
        )
        .await,
        5000,
        "the outbox counter is exact"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_batch_leaves_alone_what_was_confirmed_cancelled_or_extended_since_it_was_found() {
    let app = spawn_app().await;
    let product = app.product_with_stock("EXP-RACE", "MAD-001", 100).await;
    let rows = vec![(product.clone(), "MAD-001".to_owned())];
    reserve_already_due(&app, &rows, 4).await;

    let (expired, ids) = app
        .state
        .writer
        .write(Declared::default(), |tx| {
            let now = inventory_shared::time::now();
            let due = expire_batch::due_reservations(tx, &now, 100)?;
            let ids: Vec<ReservationId> = due.into_iter().map(|d| d.id).collect();
            // Between finding and expiring: a late confirm (which expires it on the spot), a
            // cancel, a deadline moved into the future (as another replica's extend would,
            // before it was due: at its creation, so `updated_at` stays as it was).
            reservations::confirm(tx, &ids[0], &now)?;
            reservations::cancel(tx, &ids[1], None, &now)?;
            let created = tx
                .reservation(&ids[2])?
                .expect("the reservation")
                .created_at;
            tx.extend_reservation(&ids[2], "2999-01-01T00:00:00.000000Z", &created)?
                .expect("a deadline moved before it was due");
            let expired = expire_batch::expire_many(tx, &ids, &now)?;
            Ok((expired, ids))
        })
        .await
        .expect("the batch commits");

    let expired: Vec<&str> = expired.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        expired,
        vec![ids[3].as_str()],
        "only the one still pending and due"
    );
    assert_eq!(app.reservation_status(ids[0].as_str()).await, "EXPIRED");
    assert_eq!(app.reservation_status(ids[1].as_str()).await, "CANCELLED");
    assert_eq!(app.reservation_status(ids[2].as_str()).await, "PENDING");
    assert_eq!(
        app.event_count_of("reservation.expired").await,
        2,
        "the late confirm's and the batch's, none twice"
    );
    assert_eq!(app.event_count_of("reservation.cancelled").await, 1);
    assert_eq!(
        app.stock(&product, "MAD-001").await,
        StockDbRow {
            quantity: 100,
            reserved: 1,
            version: 1 + 4 + 3
        },
        "only the pending one still holds its unit"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_due_hold_in_a_backlog_expires_whole_with_one_event_per_line() {
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_secs(1)).await;
    let a = app
        .product_with_stock("EXP-HOLD-A", "MAD-001", 10_000)
        .await;
    let b = app.product_with_stock("EXP-HOLD-B", "MAD-001", 50).await;
    let hold = app
        .post(
            "/api/v1/holds",
            json!({"customer_id": "c-1", "ttl_seconds": 1, "items": [
                {"product_id": a, "store_id": "MAD-001", "quantity": 2},
                {"product_id": b, "store_id": "MAD-001", "quantity": 3}]}),
        )
        .await;
    hold.expect_status(201);
    let hold_id = hold.str("id").to_owned();
    reserve_already_due(&app, &[(a.clone(), "MAD-001".to_owned())], 4000).await;

    eventually(
        Duration::from_secs(3),
        "the backlog and the hold to expire",
        || async {
            let left = app
                .count("SELECT COUNT(*) FROM reservations WHERE status = 'PENDING'")
                .await;
            (left == 0).then_some(())
        },
    )
    .await;

    let read = app.get(&format!("/api/v1/holds/{hold_id}")).await;
    assert_eq!(read.str("status"), "EXPIRED");
    assert_eq!(app.event_count_of("reservation.expired").await, 4002);
    let lines: Vec<String> = app
        .db
        .column(
            "SELECT id FROM reservations WHERE hold_id = ?",
            &[common::id(&hold_id)],
        )
        .await;
    let hold_events = app
        .db
        .column::<String>(
            "SELECT payload FROM events WHERE event_type = 'reservation.expired'",
            &[],
        )
        .await
        .iter()
        .filter(|payload| {
            let payload: serde_json::Value = serde_json::from_str(payload).expect("JSON payload");
            lines
                .iter()
                .any(|id| payload["reservation_id"] == json!(id))
        })
        .count();
    assert_eq!(hold_events, 2, "one event per line of the hold");
    assert_eq!(app.stock(&a, "MAD-001").await.reserved, 0);
    assert_eq!(app.stock(&b, "MAD-001").await.reserved, 0);
    app.stop().await;
}

/// An event row as the test reads it: seq, aggregate type, aggregate id, store, partition key,
/// payload, created at.
type EventRow = (i64, String, String, Option<String>, String, String, String);

#[tokio::test]
async fn a_batch_appends_the_events_one_by_one_expiry_would_in_deadline_order() {
    let app = spawn_app().await;
    let product = app.product_with_stock("EXP-SHAPE", "MAD-001", 1_000).await;
    // 1 expired alone, then 150 as a set: 2 × 64 + 2 × 8 + 6 × 1 rows, every chunk size of the
    // multi-row INSERTs.
    reserve_already_due(&app, &[(product.clone(), "MAD-001".to_owned())], 151).await;

    let ids = app
        .state
        .writer
        .write(Declared::default(), |tx| {
            let now = inventory_shared::time::now();
            let due = expire_batch::due_reservations(tx, &now, 1_000)?;
            let ids: Vec<ReservationId> = due.into_iter().map(|d| d.id).collect();
            reservations::expire_reservation(tx, &ids[0], &now)?;
            expire_batch::expire_many(tx, &ids[1..], &now)?;
            Ok(ids)
        })
        .await
        .expect("the expiries commit");

    let rows: Vec<EventRow> = app
        .db
        .query(
            "SELECT seq, aggregate_type, aggregate_id, store_id, partition_key, payload, created_at \
             FROM events WHERE event_type = 'reservation.expired' ORDER BY seq",
            &[],
        )
        .await;
    assert_eq!(rows.len(), 151, "one event per reservation");
    let first_seq = rows[0].0;
    for (i, (seq, aggregate_type, aggregate_id, store_id, partition_key, payload, created_at)) in
        rows.iter().enumerate()
    {
        assert_eq!(*seq, first_seq + i as i64, "consecutive seqs");
        assert_eq!(
            aggregate_id,
            &ids[i].to_string(),
            "deadline order, as found"
        );
        assert_eq!(aggregate_type, "reservation");
        assert_eq!(store_id.as_deref(), Some("MAD-001"));
        assert_eq!(partition_key, &product);
        assert_eq!(created_at, &rows[0].6, "one transaction, one time");
        let payload: serde_json::Value = serde_json::from_str(payload).expect("JSON payload");
        assert_eq!(
            payload,
            json!({
                "reservation_id": ids[i],
                "product_id": product,
                "store_id": "MAD-001",
                "quantity": 1,
                "expired_at": payload["expired_at"],
                "version": 1 + 151 + 1 + i as i64,
            }),
            "the one-by-one expiry's payload (event {i})"
        );
    }
    assert_eq!(
        app.count(
            "SELECT CAST(SUM(n) AS BIGINT) FROM event_counts \
             WHERE event_type = 'reservation.expired' AND state = 'pending'"
        )
        .await,
        151,
        "the outbox counter is exact"
    );
    app.stop().await;
}
