//! Replaying the audit log reproduces the state: after a random mix of every kind of change,
//! folding the events of each (product, store) from seq 1 gives its current `quantity` and
//! `reserved` exactly (`docs/architecture.md`, "Event schema").

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Reply, TestApp, eventually, spawn_app_with};
use futures::future::join_all;
use inventory_shared::events::{EventType, NewEvent};
use serde_json::json;

/// xorshift64: small, seeded, good enough to pick operations.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % ((high - low + 1) as u64)) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const STORES: [&str; 3] = ["MAD-001", "BCN-001", "VAL-001"];
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// One random request and the answers it may get.
fn random_request(
    rng: &mut XorShift,
    products: &[String],
    reservations: &[String],
) -> (
    &'static str,
    String,
    Option<serde_json::Value>,
    &'static [&'static str],
) {
    let product = rng.pick(products).clone();
    let store = *rng.pick(&STORES);
    let other = *rng.pick(&STORES);
    match rng.between(0, 99) {
        0..=9 => (
            "POST",
            "/api/v1/stock".to_owned(),
            Some(
                json!({"product_id": product, "store_id": store, "initial_quantity": rng.between(0, 40)}),
            ),
            &["201", "409 STOCK_EXISTS"],
        ),
        10..=19 => (
            "PUT",
            format!("/api/v1/stock/{product}/{store}"),
            Some(json!({"quantity": rng.between(0, 60)})),
            &["200", "404 STOCK_NOT_FOUND", "409 QUANTITY_BELOW_RESERVED"],
        ),
        20..=34 => {
            let mut adjustment = rng.between(-10, 15);
            if adjustment == 0 {
                adjustment = 1;
            }
            (
                "POST",
                format!("/api/v1/stock/{product}/{store}/adjust"),
                Some(json!({"adjustment": adjustment})),
                &["200", "404 STOCK_NOT_FOUND", "409 QUANTITY_BELOW_RESERVED"],
            )
        }
        35..=49 if store != other => (
            "POST",
            "/api/v1/stock/transfer".to_owned(),
            Some(
                json!({"product_id": product, "from_store_id": store, "to_store_id": other,
                        "quantity": rng.between(1, 8)}),
            ),
            &["200", "404 STOCK_NOT_FOUND", "409 INSUFFICIENT_STOCK"],
        ),
        50..=74 => {
            // A third of the reservations are short, for the expiry task (and late confirms).
            let ttl = if rng.between(0, 2) == 0 { 1 } else { 600 };
            (
                "POST",
                "/api/v1/reservations".to_owned(),
                Some(
                    json!({"product_id": product, "store_id": store, "customer_id": "replay",
                            "quantity": rng.between(1, 4), "ttl_seconds": ttl}),
                ),
                &["201", "404 STOCK_NOT_FOUND", "409 INSUFFICIENT_STOCK"],
            )
        }
        75..=99 if !reservations.is_empty() => {
            let id = rng.pick(reservations);
            let (action, body) = match rng.between(0, 2) {
                0 => ("confirm", None),
                1 => ("cancel", None),
                _ => ("extend", Some(json!({"ttl_seconds": 600}))),
            };
            (
                "POST",
                format!("/api/v1/reservations/{id}/{action}"),
                body,
                &[
                    "200",
                    "409 INVALID_RESERVATION_STATE",
                    "409 RESERVATION_EXPIRED",
                ],
            )
        }
        _ => (
            "POST",
            format!("/api/v1/stock/{product}/{store}/adjust"),
            Some(json!({"adjustment": rng.between(1, 5)})),
            &["200", "404 STOCK_NOT_FOUND"],
        ),
    }
}

fn outcome(reply: &Reply) -> String {
    match reply.body["code"].as_str() {
        Some(code) => format!("{} {code}", reply.status),
        None => reply.status.to_string(),
    }
}

/// Folds every event in seq order into (product, store) → (quantity, reserved), checking the
/// "after" values the payloads carry against the fold as it goes.
async fn fold_events(app: &TestApp) -> BTreeMap<(String, String), (i64, i64)> {
    let mut state: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for row in app.events().await {
        let kind = EventType::parse(&row.event_type).expect("a known event type");
        let event = NewEvent::from_stored(kind, &row.payload).expect("a well-formed payload");
        match event {
            NewEvent::StockCreated(e) => {
                let old = state.insert((e.product_id, e.store_id), (e.quantity, 0));
                assert_eq!(old, None, "seq {}: created twice", row.seq);
            }
            NewEvent::StockUpdated(e) => {
                let entry = state
                    .get_mut(&(e.product_id, e.store_id))
                    .expect("updated after created");
                assert_eq!(entry.0, e.previous_quantity, "seq {}", row.seq);
                assert_eq!(entry.1, e.reserved, "seq {}", row.seq);
                assert_eq!(e.change, e.new_quantity - e.previous_quantity);
                entry.0 = e.new_quantity;
            }
            NewEvent::StockTransferred(e) => {
                let from = state
                    .get_mut(&(e.product_id.clone(), e.from_store))
                    .expect("transfer from an existing row");
                from.0 -= e.quantity;
                assert_eq!(from.0, e.from_new_quantity, "seq {}", row.seq);
                let to = state.entry((e.product_id, e.to_store)).or_insert((0, 0));
                to.0 += e.quantity;
                assert_eq!(to.0, e.to_new_quantity, "seq {}", row.seq);
            }
            NewEvent::ReservationCreated(e) => {
                state
                    .get_mut(&(e.product_id, e.store_id))
                    .expect("reserved from an existing row")
                    .1 += e.quantity;
            }
            NewEvent::ReservationConfirmed(e) => {
                let entry = state
                    .get_mut(&(e.product_id, e.store_id))
                    .expect("confirmed on an existing row");
                entry.0 -= e.quantity;
                entry.1 -= e.quantity;
            }
            NewEvent::ReservationCancelled(e) => {
                state
                    .get_mut(&(e.product_id, e.store_id))
                    .expect("cancelled on an existing row")
                    .1 -= e.quantity;
            }
            NewEvent::ReservationExpired(e) => {
                state
                    .get_mut(&(e.product_id, e.store_id))
                    .expect("expired on an existing row")
                    .1 -= e.quantity;
            }
            // Only the deadline moved.
            NewEvent::ReservationExtended(e) => {
                assert!(
                    state.contains_key(&(e.product_id, e.store_id)),
                    "seq {}: extended on a missing row",
                    row.seq
                );
            }
        }
        for (key, (quantity, reserved)) in &state {
            assert!(
                0 <= *reserved && reserved <= quantity,
                "seq {}: {key:?} folds to quantity {quantity}, reserved {reserved}",
                row.seq
            );
        }
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folding_the_events_reproduces_every_stock_row() {
    let app = spawn_app_with(|s| s.reservation_expiry_interval = Duration::from_millis(200)).await;
    let mut rng = XorShift(SEED);
    let mut products = Vec::new();
    for i in 0..3 {
        let id = app.product_id(&format!("REPLAY-{i}")).await;
        app.create_stock(&id, "MAD-001", 20).await;
        products.push(id);
    }
    let mut reservations: Vec<String> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();

    for _ in 0..75 {
        // Four requests at a time, so commit order and request order can differ.
        let requests: Vec<_> = (0..4)
            .map(|_| random_request(&mut rng, &products, &reservations))
            .collect();
        let replies = join_all(
            requests
                .iter()
                .map(|(method, path, body, _)| app.call(method, path, body.clone())),
        )
        .await;
        for ((method, path, _, allowed), reply) in requests.iter().zip(&replies) {
            let got = outcome(reply);
            assert!(
                allowed.contains(&got.as_str()),
                "seed {SEED:#x}: {method} {path} answered {got}: {}",
                reply.text
            );
            if path == "/api/v1/reservations" && reply.status == 201 {
                reservations.push(reply.str("id").to_owned());
            }
            let kind = path
                .rsplit('/')
                .next()
                .filter(|k| {
                    [
                        "adjust",
                        "confirm",
                        "cancel",
                        "extend",
                        "transfer",
                        "stock",
                        "reservations",
                    ]
                    .contains(k)
                })
                .unwrap_or("set");
            *seen.entry(format!("{method} {kind} {got}")).or_insert(0) += 1;
        }
        // Give the 1 s reservations a chance to come due while the mix goes on.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Quiesce: every short reservation still pending comes due and the task expires it.
    eventually(
        Duration::from_secs(30),
        "short reservations to expire",
        || async {
            let due: i64 = app
                .db
                .scalar(
                    "SELECT COUNT(*) FROM reservations WHERE status = 'PENDING' \
                     AND expires_at < ?",
                    &[common::at(
                        chrono::Utc::now() + chrono::Duration::seconds(60),
                    )],
                )
                .await;
            (due == 0).then_some(())
        },
    )
    .await;

    let folded = fold_events(&app).await;
    let stored: Vec<(String, String, i64, i64)> = app
        .db
        .query(
            "SELECT product_id, store_id, quantity, reserved FROM stock",
            &[],
        )
        .await;
    let stored: BTreeMap<(String, String), (i64, i64)> = stored
        .into_iter()
        .map(|(p, s, q, r)| ((p, s), (q, r)))
        .collect();
    assert_eq!(folded, stored, "seed {SEED:#x}");
    let held: i64 = app
        .count("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM reservations WHERE status = 'PENDING'")
        .await;
    let reserved: i64 = stored.values().map(|(_, r)| r).sum();
    assert_eq!(
        held, reserved,
        "reserved units are exactly the pending reservations"
    );
    for event_type in EventType::ALL {
        assert!(
            app.event_count_of(event_type.as_str()).await > 0,
            "seed {SEED:#x}: the mix produced no {event_type} event ({seen:?})"
        );
    }
}
