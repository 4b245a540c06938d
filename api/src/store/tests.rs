//! The promises of [`Tx`] the rules rely on, on SQLite: a refused change writes nothing, and a
//! failure keeps the context the driver's error had before the seam ("database (rusqlite)",
//! which `ops::OpError` carries into its log line).

use inventory_shared::config::DatabaseSettings;
use rusqlite::Connection;

use super::sqlite::SqliteTx;
use super::{ReservationTx, StockTx, StoreError};
use crate::domain::{
    PositiveQuantity, ProductId, ReservationId, ReservationRow, ReservationStatus, StoreId,
};

const NOW: &str = "2026-12-04T12:00:00.000Z";
const EARLIER: &str = "2026-12-04T11:00:00.000Z";
const LATER: &str = "2026-12-04T13:00:00.000Z";

/// A migrated database with one product and its stock row in `s1` (5 on hand, 2 reserved).
async fn database() -> (tempfile::TempDir, Connection, ProductId, StoreId) {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = DatabaseSettings::at(dir.path().join("store.db"));
    inventory_shared::db::migrate(&settings)
        .await
        .expect("migrating");
    let conn = inventory_shared::db::open_writer(&settings).expect("writer connection");
    let product = ProductId::mint();
    conn.execute(
        "INSERT INTO products (id, sku, name, price_cents, created_at, updated_at) \
         VALUES (?1, 'sku-1', 'n', 0, ?2, ?2)",
        [product.as_str(), EARLIER],
    )
    .expect("a product");
    conn.execute(
        "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
         updated_at) VALUES (?1, 's1', 5, 2, 1, ?2, ?2)",
        [product.as_str(), EARLIER],
    )
    .expect("a stock row");
    (dir, conn, product, StoreId::from_stored("s1".into()))
}

fn stock(conn: &Connection) -> (i64, i64, i64, String) {
    conn.query_row(
        "SELECT quantity, reserved, version, updated_at FROM stock",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .expect("the stock row")
}

/// A PENDING reservation of one unit, due at `expires_at`, stored through the seam.
fn pending(tx: &mut SqliteTx<'_>, product: &ProductId, expires_at: &str) -> ReservationRow {
    let row = ReservationRow {
        id: ReservationId::mint(),
        product_id: product.clone(),
        store_id: StoreId::from_stored("s1".into()),
        customer_id: "c".into(),
        quantity: PositiveQuantity::new_const(1),
        status: ReservationStatus::Pending,
        expires_at: expires_at.into(),
        created_at: EARLIER.into(),
        updated_at: EARLIER.into(),
        hold_id: None,
    };
    tx.insert_reservation(&row).expect("inserted");
    row
}

#[tokio::test]
async fn holding_more_than_is_available_writes_nothing() {
    let (_dir, conn, product, store) = database().await;
    let mut tx = SqliteTx::new(&conn);
    let before = stock(&conn);
    // What the writer checks for a job run without a savepoint (`writer::contained`).
    let changes = conn.total_changes();
    let four = PositiveQuantity::new_const(4);
    assert_eq!(
        tx.hold_units(&product, &store, four, NOW).expect("ran"),
        None
    );
    let missing = StoreId::from_stored("nowhere".into());
    assert_eq!(
        tx.hold_units(&product, &missing, four, NOW).expect("ran"),
        None
    );
    assert_eq!(stock(&conn), before);
    assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
    let three = PositiveQuantity::new_const(3);
    assert_eq!(
        tx.hold_units(&product, &store, three, NOW).expect("ran"),
        Some(2)
    );
    assert_eq!(stock(&conn), (5, 5, 2, NOW.to_owned()));
}

#[tokio::test]
async fn a_reservation_that_is_no_longer_pending_is_left_alone() {
    let (_dir, conn, product, _) = database().await;
    let mut tx = SqliteTx::new(&conn);
    let row = pending(&mut tx, &product, LATER);
    let cancelled = tx
        .finish_reservation(&row.id, ReservationStatus::Cancelled, NOW)
        .expect("ran")
        .expect("it was PENDING");
    assert_eq!(cancelled.status, ReservationStatus::Cancelled);
    let changes = conn.total_changes();
    let again = tx.finish_reservation(&row.id, ReservationStatus::Confirmed, LATER);
    assert_eq!(again.expect("ran"), None);
    assert_eq!(tx.expire_reservation(&row.id, LATER).expect("ran"), None);
    assert_eq!(
        tx.extend_reservation(&row.id, LATER, NOW).expect("ran"),
        None
    );
    assert_eq!(tx.reservation(&row.id).expect("ran"), Some(cancelled));
    assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
}

#[tokio::test]
async fn expiry_and_extension_each_refuse_the_other_side_of_the_deadline() {
    let (_dir, conn, product, _) = database().await;
    let mut tx = SqliteTx::new(&conn);
    let row = pending(&mut tx, &product, NOW);
    let changes = conn.total_changes();
    // Not yet due a moment before its deadline; due at it, so no longer extendable.
    assert_eq!(tx.expire_reservation(&row.id, EARLIER).expect("ran"), None);
    assert_eq!(
        tx.extend_reservation(&row.id, LATER, NOW).expect("ran"),
        None
    );
    assert_eq!(tx.reservation(&row.id).expect("ran"), Some(row.clone()));
    assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
    let extended = tx
        .extend_reservation(&row.id, LATER, EARLIER)
        .expect("ran")
        .expect("not yet due");
    assert_eq!(extended.expires_at, LATER);
    let expired = tx.expire_reservation(&row.id, LATER).expect("ran");
    assert_eq!(expired.map(|r| r.status), Some(ReservationStatus::Expired));
}

#[tokio::test]
async fn a_failure_behind_the_seam_keeps_its_context() {
    let (_dir, conn, product, _) = database().await;
    conn.execute_batch("DROP TABLE reservation_counts")
        .expect("a broken schema");
    let mut tx = SqliteTx::new(&conn);
    let err = tx
        .insert_reservation(&ReservationRow {
            id: ReservationId::mint(),
            product_id: product,
            store_id: StoreId::from_stored("s1".into()),
            customer_id: "c".into(),
            quantity: PositiveQuantity::new_const(1),
            status: ReservationStatus::Pending,
            expires_at: LATER.into(),
            created_at: NOW.into(),
            updated_at: NOW.into(),
            hold_id: None,
        })
        .expect_err("no counts table");
    match err {
        StoreError::Failed(cause) => {
            assert_eq!(cause.to_string(), "database (rusqlite)", "{cause:#}");
            assert!(
                format!("{cause:#}").contains("reservation_counts"),
                "{cause:#}"
            );
        }
        other => panic!("expected a storage failure, got {other:?}"),
    }
}
