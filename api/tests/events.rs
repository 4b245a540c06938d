//! `/api/v1/events`: the audit log with its cursor and filters, and the outbox stats.

mod common;

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

/// Writes 6 events: 2 × stock.created, 2 × stock.updated, 1 reservation.created, 1 cancelled.
async fn six_events(app: &TestApp) -> (String, String, String) {
    let first = app.product_with_stock("EVT-1", "MAD-001", 10).await;
    let second = app.product_with_stock("EVT-2", "BCN-001", 10).await;
    app.post(
        &format!("/api/v1/stock/{first}/MAD-001/adjust"),
        json!({"adjustment": 1}),
    )
    .await
    .expect_status(200);
    app.put(
        &format!("/api/v1/stock/{second}/BCN-001"),
        json!({"quantity": 3}),
    )
    .await
    .expect_status(200);
    let reservation = app.reserve(&first, "MAD-001", 2, None).await;
    app.post_empty(&format!("/api/v1/reservations/{reservation}/cancel"))
        .await
        .expect_status(200);
    assert_eq!(app.event_count().await, 6);
    (first, second, reservation)
}

fn seqs(page: &Value) -> Vec<i64> {
    page["events"]
        .as_array()
        .expect("events array")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect()
}

fn types(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .expect("events array")
        .iter()
        .map(|e| e["event_type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test]
async fn an_empty_log_is_one_last_page() {
    let app = spawn_app().await;

    let reply = app.get("/api/v1/events").await;

    reply.expect_status(200);
    assert_eq!(reply.body, json!({"events": [], "next_after_seq": null}));
}

#[tokio::test]
async fn the_log_is_paged_by_seq_and_the_last_page_has_no_cursor() {
    let app = spawn_app().await;
    six_events(&app).await;
    let all: Vec<i64> = app.events().await.iter().map(|e| e.seq).collect();

    let first = app.get("/api/v1/events?limit=4").await;
    let second = app
        .get(&format!(
            "/api/v1/events?limit=4&after_seq={}",
            first.int("next_after_seq")
        ))
        .await;
    let exact_first = app.get("/api/v1/events?limit=3").await;
    let exact_last = app
        .get(&format!(
            "/api/v1/events?limit=3&after_seq={}",
            exact_first.int("next_after_seq")
        ))
        .await;

    first.expect_status(200);
    assert_eq!(seqs(&first.body), all[..4].to_vec());
    assert_eq!(first.int("next_after_seq"), all[3]);
    assert_eq!(seqs(&second.body), all[4..].to_vec());
    assert_eq!(second.body["next_after_seq"], json!(null));
    assert_eq!(seqs(&exact_first.body), all[..3].to_vec());
    assert_eq!(seqs(&exact_last.body), all[3..].to_vec());
    assert_eq!(
        exact_last.body["next_after_seq"],
        json!(null),
        "a page that ends exactly at the last event is the last page"
    );
}

#[tokio::test]
async fn an_event_shows_its_envelope_and_payload() {
    let app = spawn_app().await;
    let product = app.product_with_stock("EVT-ENV", "MAD-001", 7).await;

    let reply = app.get("/api/v1/events").await;

    reply.expect_status(200);
    let event = &reply.body["events"][0];
    let stored = app.last_event().await;
    assert_eq!(event["seq"], json!(stored.seq));
    assert_eq!(event["event_type"], json!("stock.created"));
    assert_eq!(event["aggregate_type"], json!("stock"));
    assert_eq!(event["aggregate_id"], json!(product));
    assert_eq!(event["store_id"], json!("MAD-001"));
    assert_eq!(event["partition_key"], json!(product));
    assert_eq!(event["payload"], stored.payload());
    assert_eq!(event["published_at"], json!(null));
    assert_eq!(event["synced_at"], json!(null));
    assert_eq!(event["attempts"], json!(0));
    assert_eq!(event["dead_at"], json!(null));
    let id = event["id"].as_str().expect("id");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
        7
    );
    common::instant(event["created_at"].as_str().expect("created_at"));
}

#[tokio::test]
async fn the_log_filters_by_type_aggregate_and_store() {
    let app = spawn_app().await;
    let (first, second, reservation) = six_events(&app).await;

    let updated = app.get("/api/v1/events?event_type=stock.updated").await;
    let of_first = app
        .get(&format!("/api/v1/events?aggregate_id={first}"))
        .await;
    let of_reservation = app
        .get(&format!("/api/v1/events?aggregate_id={reservation}"))
        .await;
    let in_bcn = app.get("/api/v1/events?store_id=BCN-001").await;
    let combined = app
        .get(&format!(
            "/api/v1/events?store_id=BCN-001&event_type=stock.created&aggregate_id={second}"
        ))
        .await;
    let nothing = app.get("/api/v1/events?store_id=SEV-001").await;

    assert_eq!(types(&updated.body), vec!["stock.updated", "stock.updated"]);
    assert_eq!(
        types(&of_first.body),
        vec!["stock.created", "stock.updated"]
    );
    assert_eq!(
        types(&of_reservation.body),
        vec!["reservation.created", "reservation.cancelled"]
    );
    assert_eq!(types(&in_bcn.body), vec!["stock.created", "stock.updated"]);
    assert!(
        in_bcn.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["aggregate_id"] == json!(second))
    );
    assert_eq!(types(&combined.body), vec!["stock.created"]);
    assert_eq!(nothing.body, json!({"events": [], "next_after_seq": null}));
}

#[tokio::test]
async fn a_filtered_page_has_a_cursor_when_more_match() {
    let app = spawn_app().await;
    six_events(&app).await;

    let first = app
        .get("/api/v1/events?event_type=stock.created&limit=1")
        .await;
    let second = app
        .get(&format!(
            "/api/v1/events?event_type=stock.created&limit=1&after_seq={}",
            first.int("next_after_seq")
        ))
        .await;

    assert_eq!(types(&first.body), vec!["stock.created"]);
    assert_eq!(types(&second.body), vec!["stock.created"]);
    assert_eq!(second.body["next_after_seq"], json!(null));
    assert!(seqs(&second.body)[0] > seqs(&first.body)[0]);
}

#[tokio::test]
async fn bad_log_parameters_are_400() {
    let app = spawn_app().await;

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after_seq=-1", "after_seq"),
        ("after_seq=x", "after_seq"),
        ("event_type=stock.deleted", "event_type"),
        ("store_id=%27%20OR%201%3D1%20--", "store_id"),
    ] {
        let reply = app.get(&format!("/api/v1/events?{query}")).await;

        reply.expect_invalid_fields(&[field]);
    }
    app.get("/api/v1/events?limit=1000")
        .await
        .expect_status(200);
}

#[tokio::test]
async fn stats_add_up_and_count_pending_by_type() {
    let app = spawn_app().await;

    let empty = app.get("/api/v1/events/stats").await;

    empty.expect_status(200);
    assert_eq!(
        empty.body,
        json!({"total": 0, "pending": 0, "synced": 0, "published": 0, "dead": 0,
               "oldest_pending_age_seconds": null, "pending_by_type": {}})
    );

    six_events(&app).await;
    let seqs: Vec<i64> = app.events().await.iter().map(|e| e.seq).collect();
    // Arrange what the relay would have done: the first two published, the third parked
    // (the rows the relay's statements leave, on either backend).
    let synced = app
        .db
        .execute(
            "UPDATE events SET synced_at = created_at WHERE seq IN (?, ?)",
            &[seqs[0].into(), seqs[1].into()],
        )
        .await;
    assert_eq!(synced, 2);
    let parked = app
        .db
        .execute(
            "UPDATE events SET attempts = 1, last_error = 'too large', dead_at = created_at \
             WHERE seq = ? AND synced_at IS NULL",
            &[seqs[2].into()],
        )
        .await;
    assert_eq!(parked, 1);

    let reply = app.get("/api/v1/events/stats").await;

    reply.expect_status(200);
    assert_eq!(reply.int("total"), 6);
    assert_eq!(reply.int("synced"), 2);
    assert_eq!(
        reply.int("published"),
        2,
        "the deprecated name keeps the same count"
    );
    assert_eq!(reply.int("dead"), 1);
    assert_eq!(reply.int("pending"), 3);
    assert_eq!(
        reply.int("total"),
        reply.int("pending") + reply.int("published") + reply.int("dead")
    );
    assert_eq!(
        reply.body["pending_by_type"],
        json!({"reservation.created": 1, "reservation.cancelled": 1, "stock.updated": 1})
    );
    let age = reply.body["oldest_pending_age_seconds"]
        .as_f64()
        .expect("an age while events are pending");
    assert!(age >= 0.0, "{age}");
}
