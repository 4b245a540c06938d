//! Safe retries with `Idempotency-Key` (issue 11, part 1), against the real API on a real
//! database (the harness's backend): on every state-changing route a retry after a lost
//! answer, or after a restart, gets the first answer again and writes nothing; a key reused
//! for another request is 422; keys are per API key; concurrent duplicates apply once;
//! expired keys are purged.

mod common;
#[path = "idempotency/support.rs"]
mod support;

use std::time::Duration;

use common::{eventually, send, spawn_app, spawn_app_with};
use inventory_shared::config::{Engine, Synchronous};
use serde_json::json;
use support::{
    HangUp, REPLAYED, assert_replay_of, every_write, key_rows, keyed, keyed_raw, send_and_hang_up,
    stored,
};

#[tokio::test]
async fn a_retry_after_a_lost_answer_gets_the_stored_answer_on_every_write_route() {
    let app = spawn_app().await;
    for (i, case) in every_write(&app).await.iter().enumerate() {
        let what = format!("{} {}", case.method, case.path);
        let key = format!("lost-{i}");
        let events = app.event_count().await;

        send_and_hang_up(
            &app,
            case.method,
            &case.path,
            case.body.as_ref(),
            &key,
            HangUp::AfterTheCommit,
        )
        .await;
        assert_eq!(
            app.event_count().await,
            events + case.events,
            "{what}: the first request applied although its answer was lost"
        );
        let (status, body) = stored(&app, &key).await.expect("a stored answer");
        assert_eq!(
            status,
            i64::from(case.status),
            "{what}: stored status; {body}"
        );
        let before = app.snapshot().await;

        let retry = keyed(&app, case.method, &case.path, case.body.as_ref(), &key).await;
        assert_replay_of(&retry, case.status, &body, &what);
        let again = keyed(&app, case.method, &case.path, case.body.as_ref(), &key).await;
        assert_replay_of(&again, case.status, &body, &what);
        assert_eq!(again.header("location"), retry.header("location"), "{what}");
        assert_eq!(again.header("etag"), retry.header("etag"), "{what}");
        assert_eq!(
            app.snapshot().await,
            before,
            "{what}: the retries changed nothing"
        );
    }
}

/// A client that hangs up right after sending, before any answer: the write still happens
/// once (the handler hands its job to the writer as soon as the request is read, and a job in
/// the writer commits whether or not anyone waits for it), and the retry gets its answer.
#[tokio::test]
async fn a_client_that_hangs_up_at_once_gets_the_one_answer_on_retry() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IDEM-GONE", "MAD-001", 10).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let reserve = "/api/v1/reservations";
    send_and_hang_up(&app, "POST", reserve, Some(&body), "gone", HangUp::AtOnce).await;
    let (status, answer) = eventually(Duration::from_secs(30), "the write to commit", || {
        stored(&app, "gone")
    })
    .await;
    assert_eq!(status, 201, "{answer}");

    let retry = keyed(&app, "POST", reserve, Some(&body), "gone").await;
    assert_replay_of(&retry, 201, &answer, "after a hang-up");
    assert_eq!(app.count("SELECT COUNT(*) FROM reservations").await, 1);
    assert_eq!(app.event_count_of("reservation.created").await, 1);
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 1);
}

#[tokio::test]
async fn a_retry_after_a_restart_gets_the_same_answer_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("a folder that outlives both runs");
    // The same database for both runs (a file in `dir`, or one on the PostgreSQL server).
    let url = common::new_database_url(dir.path()).await;
    let on_the_file = |s: &mut inventory_api::config::Settings| {
        s.database.database_url = Some(Engine::parse(&url).expect("a database URL"));
        s.database.sqlite_synchronous = Synchronous::Normal;
    };
    let app = spawn_app_with(on_the_file).await;
    let cases = every_write(&app).await;
    let mut first = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let reply = keyed(
            &app,
            case.method,
            &case.path,
            case.body.as_ref(),
            &format!("k-{i}"),
        )
        .await;
        reply.expect_status(case.status);
        assert_eq!(
            reply.header(REPLAYED),
            None,
            "a first answer is not a replay"
        );
        first.push(reply);
    }
    let before = app.snapshot().await;
    app.stop().await;

    let app = spawn_app_with(on_the_file).await;
    for (i, (case, first)) in cases.iter().zip(&first).enumerate() {
        let what = format!("{} {}", case.method, case.path);
        let retry = keyed(
            &app,
            case.method,
            &case.path,
            case.body.as_ref(),
            &format!("k-{i}"),
        )
        .await;
        assert_replay_of(&retry, first.status, &first.text, &what);
        for header in ["location", "etag", "content-type"] {
            assert_eq!(
                retry.header(header),
                first.header(header),
                "{what}: {header}"
            );
        }
    }
    assert_eq!(app.snapshot().await, before, "the retries changed nothing");
}

#[tokio::test]
async fn the_same_key_with_another_request_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IDEM-422", "MAD-001", 10).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    keyed(&app, "POST", "/api/v1/reservations", Some(&body), "k")
        .await
        .expect_status(201);
    let before = app.snapshot().await;

    let other_body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 2});
    keyed(&app, "POST", "/api/v1/reservations", Some(&other_body), "k")
        .await
        .expect_problem(422, "IDEMPOTENCY_KEY_REUSED");
    let other_route = json!({"adjustment": 1});
    let adjust = format!("/api/v1/stock/{product}/MAD-001/adjust");
    keyed(&app, "POST", &adjust, Some(&other_route), "k")
        .await
        .expect_problem(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.snapshot().await, before);

    // The body is compared as parsed JSON: another spelling of the same request is a replay.
    let respelled = format!(
        "{{ \"quantity\": 1,\n \"customer_id\": \"c\", \"store_id\": \"MAD-001\", \
         \"product_id\": \"{product}\", \"ttl_seconds\": null }}"
    );
    let retry = keyed_raw(&app, "/api/v1/reservations", &respelled, "k").await;
    retry.expect_status(201);
    assert_eq!(retry.header(REPLAYED), Some("true"));
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_quoted_key_and_a_bare_key_are_the_same_key() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IDEM-Q", "MAD-001", 10).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let first = keyed(
        &app,
        "POST",
        "/api/v1/reservations",
        Some(&body),
        "\"order-7\"",
    )
    .await;
    first.expect_status(201);
    let retry = keyed(&app, "POST", "/api/v1/reservations", Some(&body), "order-7").await;
    assert_replay_of(&retry, 201, &first.text, "bare after quoted");
    assert_eq!(app.count("SELECT COUNT(*) FROM reservations").await, 1);
}

#[tokio::test]
async fn a_malformed_key_is_a_400_and_nothing_runs() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IDEM-BAD", "MAD-001", 10).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let before = app.snapshot().await;
    let too_long = "k".repeat(256);
    for bad in ["", "two words", "\"\"", "a\"b", too_long.as_str()] {
        let reply = keyed(&app, "POST", "/api/v1/reservations", Some(&body), bad).await;
        reply.expect_invalid_fields(&["Idempotency-Key"]);
    }
    let confirm = "/api/v1/reservations/0193a000-0000-7000-8000-000000000000/confirm";
    keyed(&app, "POST", confirm, None, "two words")
        .await
        .expect_invalid_fields(&["Idempotency-Key"]);
    assert_eq!(app.snapshot().await, before);
    assert_eq!(key_rows(&app).await, 0);
}

#[tokio::test]
async fn a_400_stores_nothing_so_the_fixed_request_runs_with_the_same_key() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IDEM-400", "MAD-001", 10).await;
    let broken =
        json!({"product_id": product, "store_id": "MAD 001", "customer_id": "c", "quantity": 1});
    keyed(
        &app,
        "POST",
        "/api/v1/reservations",
        Some(&broken),
        "fix-me",
    )
    .await
    .expect_invalid_fields(&["store_id"]);
    assert_eq!(key_rows(&app).await, 0);

    let fixed =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let reply = keyed(&app, "POST", "/api/v1/reservations", Some(&fixed), "fix-me").await;
    reply.expect_status(201);
    assert_eq!(reply.header(REPLAYED), None, "the fixed request ran");
    assert_eq!(app.event_count_of("reservation.created").await, 1);
}

#[tokio::test]
async fn a_refused_write_is_stored_so_a_retry_cannot_apply_it_later() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IDEM-409", "MAD-001", 2).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 5});
    let first = keyed(&app, "POST", "/api/v1/reservations", Some(&body), "short").await;
    first.expect_problem(409, "INSUFFICIENT_STOCK");
    assert_eq!(stored(&app, "short").await, Some((409, first.text.clone())));

    // Stock arrives; the retry still gets the refusal: the key names that first decision.
    app.post(
        &format!("/api/v1/stock/{product}/MAD-001/adjust"),
        json!({"adjustment": 10}),
    )
    .await
    .expect_status(200);
    let retry = keyed(&app, "POST", "/api/v1/reservations", Some(&body), "short").await;
    assert_replay_of(&retry, 409, &first.text, "a stored 409");
    assert_eq!(app.count("SELECT COUNT(*) FROM reservations").await, 0);
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 0);

    keyed(&app, "POST", "/api/v1/reservations", Some(&body), "new-key")
        .await
        .expect_status(201);
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 5);
}

#[tokio::test]
async fn the_same_key_under_two_api_keys_is_two_requests() {
    let app = spawn_app_with(|s| {
        s.api_keys = Some("pos-key-0123456789:pos,web-key-0123456789:web".into());
    })
    .await;
    let product = app.product_with_stock("IDEM-2K", "MAD-001", 10).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let by = |api_key: &'static str| {
        let request = app
            .client
            .post(app.url("/api/v1/reservations"))
            .header("x-api-key", api_key)
            .header("idempotency-key", "shared")
            .json(&body);
        send(request)
    };
    let pos = by("pos-key-0123456789").await;
    let web = by("web-key-0123456789").await;
    pos.expect_status(201);
    web.expect_status(201);
    assert_eq!(
        web.header(REPLAYED),
        None,
        "another caller's key is not replayed"
    );
    assert_ne!(pos.str("id"), web.str("id"));
    assert_eq!(app.count("SELECT COUNT(*) FROM reservations").await, 2);

    assert_replay_of(&by("pos-key-0123456789").await, 201, &pos.text, "pos again");
    assert_replay_of(&by("web-key-0123456789").await, 201, &web.text, "web again");
    let names: Vec<String> = app
        .db
        .column(
            "SELECT api_key_name FROM idempotency_keys ORDER BY api_key_name",
            &[],
        )
        .await;
    assert_eq!(names, ["pos", "web"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_with_one_key_apply_once() {
    let app = spawn_app().await;
    let product = app.product_with_stock("IDEM-50", "MAD-001", 100).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let events = app.event_count().await;

    let replies = futures::future::join_all(
        (0..50).map(|_| keyed(&app, "POST", "/api/v1/reservations", Some(&body), "burst")),
    )
    .await;

    for reply in &replies {
        reply.expect_status(201);
        assert_eq!(
            reply.text, replies[0].text,
            "every caller gets the one answer"
        );
    }
    let replayed = replies
        .iter()
        .filter(|r| r.header(REPLAYED) == Some("true"))
        .count();
    assert_eq!(replayed, 49, "one ran, the others were replayed");
    assert_eq!(app.count("SELECT COUNT(*) FROM reservations").await, 1);
    assert_eq!(app.stock(&product, "MAD-001").await.reserved, 1);
    assert_eq!(app.event_count().await, events + 1);
}

#[tokio::test]
async fn keys_past_their_ttl_are_purged_and_the_key_runs_again() {
    let app = spawn_app_with(|s| {
        s.idempotency_key_ttl = Duration::from_secs(1);
        s.idempotency_purge_interval = Duration::from_millis(200);
    })
    .await;
    let product = app.product_with_stock("IDEM-TTL", "MAD-001", 10).await;
    let body =
        json!({"product_id": product, "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let first = keyed(&app, "POST", "/api/v1/reservations", Some(&body), "brief").await;
    first.expect_status(201);
    assert_eq!(key_rows(&app).await, 1);

    eventually(Duration::from_secs(30), "the key to be purged", || async {
        (key_rows(&app).await == 0).then_some(())
    })
    .await;
    let later = keyed(&app, "POST", "/api/v1/reservations", Some(&body), "brief").await;
    later.expect_status(201);
    assert_eq!(
        later.header(REPLAYED),
        None,
        "an expired key runs as a new request"
    );
    assert_ne!(later.str("id"), first.str("id"));
    assert_eq!(app.count("SELECT COUNT(*) FROM reservations").await, 2);
}

#[tokio::test]
async fn the_spec_declares_the_header_and_the_422_on_every_write() {
    let app = spawn_app().await;
    let spec = app.get_public("/openapi.json").await.body;
    let mut writes = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if !path.starts_with("/api/v1") || !["post", "put", "delete"].contains(&method.as_str())
            {
                continue;
            }
            writes += 1;
            let what = format!("{method} {path}");
            let header = op["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"))
                .unwrap_or_else(|| panic!("{what} does not declare Idempotency-Key"));
            assert_eq!(header["in"], "header", "{what}");
            assert_eq!(header["required"], false, "{what}");
            assert!(header["schema"]["pattern"].is_string(), "{what}");
            assert!(op["responses"].get("422").is_some(), "{what}: 422 listed");
        }
    }
    assert_eq!(writes, 16, "every state-changing route");
}
