//! The projection's apply rules, event by event: exactly-once through the inbox, per-row
//! version order, gaps reported (and nothing applied past them), transfers on two rows.

use inventory_consumer::event::Incoming;
use inventory_consumer::projection::{Projection, Reader, Via};
use serde_json::json;

fn event(id: &str, seq: i64, event_type: &str, payload: serde_json::Value) -> Incoming {
    Incoming::from_parts(
        id,
        &seq.to_string(),
        event_type,
        "2026-01-02T03:04:05.000Z",
        &payload.to_string(),
    )
    .expect("valid event")
}

fn created(id: &str, seq: i64, store: &str, quantity: i64) -> Incoming {
    event(
        id,
        seq,
        "stock.created",
        json!({"product_id": "p", "store_id": store, "quantity": quantity, "reason": "initial_stock", "version": 1}),
    )
}

fn reserved(id: &str, seq: i64, quantity: i64, version: i64) -> Incoming {
    event(
        id,
        seq,
        "reservation.created",
        json!({"reservation_id": id, "product_id": "p", "store_id": "MAD", "quantity": quantity,
        "customer_id": "c", "expires_at": "2026-01-02T03:14:05Z", "version": version}),
    )
}

fn row(path: &std::path::Path, store: &str) -> Option<(i64, i64, i64)> {
    Reader::open(path)
        .expect("reader")
        .row("p", store)
        .expect("read")
        .map(|r| (r.quantity, r.reserved, r.version))
}

#[test]
fn a_redelivered_event_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("p.db");
    let mut projection = Projection::open(&path).expect("open");
    let batch = [created("e1", 1, "MAD", 10), reserved("e2", 2, 3, 2)];
    let first = projection.apply_batch(&batch, Via::Stream).expect("apply");
    assert_eq!((first.applied.len(), first.duplicates), (2, 0));
    let again = projection.apply_batch(&batch, Via::Stream).expect("apply");
    assert_eq!((again.applied.len(), again.duplicates), (0, 2));
    assert_eq!(row(&path, "MAD"), Some((10, 3, 2)));
    assert_eq!(projection.last_seq().expect("seq"), 2);
}

#[test]
fn a_version_jump_stops_the_batch_at_the_gap() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("p.db");
    let mut projection = Projection::open(&path).expect("open");
    let batch = [
        created("e1", 1, "MAD", 10),
        reserved("e3", 3, 1, 3),
        reserved("e4", 4, 1, 4),
    ];
    let outcome = projection.apply_batch(&batch, Via::Stream).expect("apply");
    assert_eq!(outcome.applied.len(), 1);
    let gap = outcome.gap.expect("a gap");
    assert_eq!((gap.index, gap.have, gap.got, gap.seq), (1, 1, 3, 3));
    assert_eq!(
        row(&path, "MAD"),
        Some((10, 0, 1)),
        "nothing past the gap applied"
    );
    // The missing event arrives (from the audit log): then the rest applies in order.
    let repaired = projection
        .apply_batch(
            &[reserved("e2", 2, 2, 2), batch[1].clone(), batch[2].clone()],
            Via::AuditLog,
        )
        .expect("apply");
    assert!(repaired.gap.is_none());
    assert_eq!(row(&path, "MAD"), Some((10, 4, 4)));
}

#[test]
fn an_event_for_a_row_never_seen_past_version_one_is_a_gap() {
    let dir = tempfile::tempdir().expect("dir");
    let mut projection = Projection::open(&dir.path().join("p.db")).expect("open");
    let outcome = projection
        .apply_batch(&[reserved("e9", 9, 1, 5)], Via::Stream)
        .expect("apply");
    assert_eq!(outcome.gap.map(|g| (g.have, g.got)), Some((0, 5)));
}

#[test]
fn a_transfer_moves_units_and_creates_the_destination() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("p.db");
    let mut projection = Projection::open(&path).expect("open");
    let transfer = event(
        "e3",
        3,
        "stock.transferred",
        json!({"product_id": "p", "from_store": "MAD", "to_store": "BCN",
        "quantity": 4, "reason": "transfer", "from_new_quantity": 6, "to_new_quantity": 4,
        "from_version": 3, "to_version": 1, "to_created": true}),
    );
    let batch = [
        created("e1", 1, "MAD", 10),
        reserved("e2", 2, 2, 2),
        transfer,
    ];
    let outcome = projection.apply_batch(&batch, Via::Stream).expect("apply");
    assert_eq!(outcome.applied.len(), 3);
    assert_eq!(
        row(&path, "MAD"),
        Some((6, 2, 3)),
        "reserved units stay at the source"
    );
    assert_eq!(row(&path, "BCN"), Some((4, 0, 1)));
}

#[test]
fn an_extension_is_applied_once_and_changes_no_row() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("p.db");
    let mut projection = Projection::open(&path).expect("open");
    let extended = event(
        "e3",
        3,
        "reservation.extended",
        json!({"reservation_id": "e2", "product_id": "p", "store_id": "MAD", "quantity": 3,
        "expires_at": "2026-01-02T03:24:05Z", "hold_id": null}),
    );
    let batch = [
        created("e1", 1, "MAD", 10),
        reserved("e2", 2, 3, 2),
        extended,
    ];
    let first = projection.apply_batch(&batch, Via::Stream).expect("apply");
    assert_eq!((first.applied.len(), first.duplicates), (3, 0));
    assert_eq!(
        row(&path, "MAD"),
        Some((10, 3, 2)),
        "no quantity, no version change"
    );
    let again = projection
        .apply_batch(&batch[2..], Via::Stream)
        .expect("apply");
    assert_eq!((again.applied.len(), again.duplicates), (0, 1));
    assert_eq!(projection.last_seq().expect("seq"), 3);
}
