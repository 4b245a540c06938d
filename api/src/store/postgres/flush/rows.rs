//! The batch's rows, written as parts of the batch's one combined statement
//! ([`Combined`]): stock rows (new, changed), holds (new, changed), reservations (new,
//! changed) and the idempotency keys' answers, each set-based (`unnest` of arrays), each
//! part only when the batch has such rows. New and changed rows are different rows, so no
//! row is written twice in the statement.

use super::statement::Combined;
use crate::domain::{HoldId, StockRow};
use crate::store::postgres::unit::Unit;

pub(super) fn insert_stock(c: &mut Combined, unit: &Unit) {
    let rows: Vec<_> = unit
        .stock
        .entries()
        .filter(|e| e.new)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return;
    }
    // A row created and changed in one batch is inserted as it ends; its creation time is
    // then its last change in the batch (a few milliseconds later at most).
    c.write(
        "insert_stock",
        "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
                            updated_at) \
         SELECT product_id, store_id, quantity, reserved, version, updated_at, updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                     $6::timestamptz[]) \
              AS u (product_id, store_id, quantity, reserved, version, updated_at)",
    )
    .bind(
        rows.iter()
            .map(|r| r.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.store_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.quantity.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reserved.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    );
}

/// What the stock updates of a batch run on remembered rows wait for ([`check_stock`]).
pub(super) const AFTER_CHECK: &str = " AND (SELECT ok FROM stock_checked)";

/// The part `stock_checked` of a batch run on remembered stock rows: locks `expected`'s rows
/// `FOR UPDATE` in (product, store) order, as the locking `SELECT` of a batch does, and
/// fails the statement (`40001`, `inventory_expect_rows`) unless every one of them still has
/// the version, quantity and reserved units remembered (not the version alone: a change made
/// with SQL by hand may leave it). Under `READ COMMITTED` a row that another transaction
/// changed while this one waited for its lock is read again as changed, so the check is
/// against what is committed, not against the statement's snapshot.
pub(super) fn check_stock(c: &mut Combined, expected: &[StockRow]) {
    c.gate(
        "stock_checked",
        "SELECT inventory_expect_rows(count(*), $6) AS ok \
         FROM (SELECT 1 FROM stock AS s \
               JOIN unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) \
                    AS k (product_id, store_id, version, quantity, reserved) \
                 ON s.product_id = k.product_id AND s.store_id = k.store_id \
                AND s.version = k.version AND s.quantity = k.quantity \
                AND s.reserved = k.reserved \
               ORDER BY s.product_id, s.store_id \
               FOR UPDATE OF s) AS locked",
    )
    .bind(
        expected
            .iter()
            .map(|r| r.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        expected
            .iter()
            .map(|r| r.store_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(expected.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(
        expected
            .iter()
            .map(|r| r.quantity.get())
            .collect::<Vec<_>>(),
    )
    .bind(
        expected
            .iter()
            .map(|r| r.reserved.get())
            .collect::<Vec<_>>(),
    )
    .bind(expected.len() as i64);
}

/// Whether `unit` holds only what a batch run on remembered rows may write: changed stock
/// rows, new holds and reservations, events.
pub(super) fn unlocked_writes_only(unit: &Unit) -> bool {
    unit.products.entries().next().is_none()
        && unit.products.deleted().next().is_none()
        && unit.keys.entries().next().is_none()
        && unit.stock.entries().all(|e| !e.new)
        && unit.stock.deleted().next().is_none()
        && unit.reservations.entries().all(|e| e.new)
        && unit.holds.entries().all(|e| e.new)
}

/// The changed stock rows; `gate` is added to the `WHERE` (empty, or [`AFTER_CHECK`]).
pub(super) fn update_stock(c: &mut Combined, unit: &Unit, gate: &str) {
    let rows: Vec<_> = unit
        .stock
        .entries()
        .filter(|e| e.changed)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return;
    }
    c.write(
        "update_stock",
        &format!(
            "UPDATE stock AS s SET quantity = u.quantity, reserved = u.reserved, \
                version = u.version, updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                     $6::timestamptz[]) \
              AS u (product_id, store_id, quantity, reserved, version, updated_at) \
         WHERE s.product_id = u.product_id AND s.store_id = u.store_id{gate}"
        ),
    )
    .bind(
        rows.iter()
            .map(|r| r.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.store_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.quantity.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reserved.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    );
}

pub(super) fn insert_holds(c: &mut Combined, unit: &Unit) {
    let rows: Vec<_> = unit
        .holds
        .entries()
        .filter(|e| e.new)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return;
    }
    c.write(
        "insert_holds",
        "INSERT INTO holds (id, customer_id, status, expires_at, unfulfilled, created_at, \
                            updated_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], \
                              $5::text[], $6::timestamptz[], $7::timestamptz[])",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.customer_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.unfulfilled.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.created_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    );
}

pub(super) fn update_holds(c: &mut Combined, unit: &Unit) {
    let rows: Vec<_> = unit
        .holds
        .entries()
        .filter(|e| e.changed)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return;
    }
    c.write(
        "update_holds",
        "UPDATE holds AS h SET status = u.status, expires_at = u.expires_at, \
                unfulfilled = u.unfulfilled, updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], \
                     $5::timestamptz[]) \
              AS u (id, status, expires_at, unfulfilled, updated_at) \
         WHERE h.id = u.id",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.unfulfilled.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    );
}

pub(super) fn insert_reservations(c: &mut Combined, unit: &Unit) {
    let rows: Vec<_> = unit
        .reservations
        .entries()
        .filter(|e| e.new)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return;
    }
    c.write(
        "insert_reservations",
        "INSERT INTO reservations (id, product_id, store_id, customer_id, quantity, status, \
                                   expires_at, created_at, updated_at, hold_id) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], \
                              $6::text[], $7::timestamptz[], $8::timestamptz[], \
                              $9::timestamptz[], $10::uuid[])",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.store_id.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.customer_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.quantity.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.created_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.hold_id.as_ref().map(HoldId::as_str))
            .collect::<Vec<_>>(),
    );
}

pub(super) fn update_reservations(c: &mut Combined, unit: &Unit) {
    let rows: Vec<_> = unit
        .reservations
        .entries()
        .filter(|e| e.changed)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return;
    }
    c.write(
        "update_reservations",
        "UPDATE reservations AS r SET status = u.status, expires_at = u.expires_at, \
                updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[]) \
              AS u (id, status, expires_at, updated_at) \
         WHERE r.id = u.id",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    );
}

pub(super) fn store_keys(c: &mut Combined, unit: &Unit) {
    let stored: Vec<_> = unit.keys.new_with_keys().collect();
    if stored.is_empty() {
        return;
    }
    let names: Vec<&str> = stored.iter().map(|(id, _)| id.0.as_str()).collect();
    let keys: Vec<&str> = stored.iter().map(|(id, _)| id.1.as_str()).collect();
    let rows: Vec<_> = stored.iter().map(|(_, row)| row).collect();
    c.write(
        "store_keys",
        "INSERT INTO idempotency_keys (api_key_name, idempotency_key, fingerprint, status, \
                                       content_type, location, etag, body, created_at, \
                                       expires_at) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], \
                              $6::text[], $7::text[], $8::bytea[], $9::timestamptz[], \
                              $10::timestamptz[]) \
         ON CONFLICT (api_key_name, idempotency_key) DO UPDATE SET \
             fingerprint = excluded.fingerprint, status = excluded.status, \
             content_type = excluded.content_type, location = excluded.location, \
             etag = excluded.etag, body = excluded.body, created_at = excluded.created_at, \
             expires_at = excluded.expires_at",
    )
    .bind(&names)
    .bind(&keys)
    .bind(
        rows.iter()
            .map(|r| r.record.fingerprint.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| i64::from(r.record.answer.status))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.content_type.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.location.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.etag.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.body.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.created_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    );
}
