//! [`HoldTx`](crate::store::HoldTx) on SQLite: the hold statements, run at once on the writer's connection.

use rusqlite::{OptionalExtension, params};

use super::SqliteTx;
use crate::domain::{HoldId, HoldRow, HoldStatus, ReservationRow, ReservationStatus};
use crate::store::{HoldTx, StoreResult};

impl HoldRow {
    /// Maps a `holds` row (`SELECT *` or `RETURNING *`).
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let status = row.get_ref("status")?.as_str()?;
        let status = ReservationStatus::from_stored(status).map_err(|why| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, why.into())
        })?;
        Ok(Self {
            id: HoldId::from_stored(row.get("id")?),
            customer_id: row.get("customer_id")?,
            status,
            expires_at: row.get("expires_at")?,
            unfulfilled: row.get("unfulfilled")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

impl HoldTx for SqliteTx<'_> {
    fn hold(&mut self, id: &HoldId) -> StoreResult<Option<HoldRow>> {
        Ok(self
            .conn
            .prepare_cached("SELECT * FROM holds WHERE id = ?")?
            .query_row([id.as_str()], HoldRow::from_row)
            .optional()?)
    }

    fn hold_lines(&mut self, id: &HoldId) -> StoreResult<Vec<ReservationRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT * FROM reservations WHERE hold_id = ? ORDER BY product_id, store_id",
            )?
            .query_map([id.as_str()], ReservationRow::from_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn insert_hold(&mut self, row: &HoldRow) -> StoreResult<()> {
        debug_assert_eq!(row.status, HoldStatus::Pending, "a new hold is PENDING");
        self.conn
            .prepare_cached(
                "INSERT INTO holds (id, customer_id, status, expires_at, unfulfilled, created_at, \
                 updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                row.id.as_str(),
                row.customer_id,
                row.status.as_str(),
                row.expires_at,
                row.unfulfilled,
                row.created_at,
                row.updated_at
            ])?;
        Ok(())
    }

    fn record_unfulfilled(&mut self, id: &HoldId, lines: &str) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE holds SET unfulfilled = ? WHERE id = ?")?
            .execute(params![lines, id.as_str()])?;
        Ok(())
    }

    fn finish_hold(
        &mut self,
        id: &HoldId,
        status: HoldStatus,
        now: &str,
    ) -> StoreResult<Option<HoldRow>> {
        debug_assert!(
            matches!(status, HoldStatus::Confirmed | HoldStatus::Cancelled),
            "finish_hold takes a final status other than EXPIRED"
        );
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE holds SET status = ?, updated_at = ? WHERE id = ? AND status = 'PENDING' \
                 RETURNING *",
            )?
            .query_row(
                params![status.as_str(), now, id.as_str()],
                HoldRow::from_row,
            )
            .optional()?)
    }

    fn expire_hold(&mut self, id: &HoldId, now: &str) -> StoreResult<Option<HoldRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE holds SET status = 'EXPIRED', updated_at = ?1 \
                 WHERE id = ?2 AND status = 'PENDING' AND expires_at <= ?1 RETURNING *",
            )?
            .query_row(params![now, id.as_str()], HoldRow::from_row)
            .optional()?)
    }

    fn set_hold_deadline(
        &mut self,
        id: &HoldId,
        deadline: &str,
        now: &str,
    ) -> StoreResult<HoldRow> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE holds SET expires_at = ?, updated_at = ? WHERE id = ? RETURNING *",
            )?
            .query_row(params![deadline, now, id.as_str()], HoldRow::from_row)?)
    }
}

/// The promises of [`HoldTx`] the hold rules rely on: a refused transition writes nothing, a
/// hold's lines come in (product, store) order, the unguarded deadline change fails on a
/// missing hold instead of answering nothing.
#[cfg(test)]
mod tests {
    use inventory_shared::config::DatabaseSettings;
    use rusqlite::Connection;

    use super::*;
    use crate::domain::{PositiveQuantity, ProductId, ReservationId, StoreId};
    use crate::store::{ReservationTx, StoreError};

    const NOW: &str = "2026-12-04T12:00:00.000Z";
    const EARLIER: &str = "2026-12-04T11:00:00.000Z";
    const LATER: &str = "2026-12-04T13:00:00.000Z";

    /// A migrated database with `n` products, each with a stock row in `s1` and `s2`.
    async fn database(n: usize) -> (tempfile::TempDir, Connection, Vec<ProductId>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = DatabaseSettings::at(dir.path().join("store.db"));
        inventory_shared::db::migrate(&settings)
            .await
            .expect("migrating");
        let conn = inventory_shared::db::open_writer(&settings).expect("writer connection");
        let mut products = Vec::new();
        for i in 0..n {
            let product = ProductId::mint();
            conn.execute(
                "INSERT INTO products (id, sku, name, price_cents, created_at, updated_at) \
                 VALUES (?1, ?2, 'n', 0, ?3, ?3)",
                [product.as_str(), &format!("sku-{i}"), EARLIER],
            )
            .expect("a product");
            for store in ["s1", "s2"] {
                conn.execute(
                    "INSERT INTO stock (product_id, store_id, quantity, reserved, version, \
                     created_at, updated_at) VALUES (?1, ?2, 5, 0, 1, ?3, ?3)",
                    [product.as_str(), store, EARLIER],
                )
                .expect("a stock row");
            }
            products.push(product);
        }
        (dir, conn, products)
    }

    /// A PENDING hold due at `expires_at`, stored through the seam.
    fn pending(tx: &mut SqliteTx<'_>, expires_at: &str) -> HoldRow {
        let row = HoldRow {
            id: HoldId::mint(),
            customer_id: "c".into(),
            status: HoldStatus::Pending,
            expires_at: expires_at.into(),
            unfulfilled: "[]".into(),
            created_at: EARLIER.into(),
            updated_at: EARLIER.into(),
        };
        tx.insert_hold(&row).expect("inserted");
        row
    }

    #[tokio::test]
    async fn a_hold_that_is_not_pending_or_not_due_is_left_alone() {
        let (_dir, conn, _) = database(0).await;
        let mut tx = SqliteTx::new(&conn);
        let hold = pending(&mut tx, NOW);
        let missing = HoldId::mint();
        // What the writer checks for a job run without a savepoint (`writer::contained`).
        let changes = conn.total_changes();
        assert_eq!(tx.expire_hold(&hold.id, EARLIER).expect("ran"), None);
        assert_eq!(tx.expire_hold(&missing, LATER).expect("ran"), None);
        let finished = tx.finish_hold(&missing, HoldStatus::Cancelled, NOW);
        assert_eq!(finished.expect("ran"), None);
        assert_eq!(tx.hold(&missing).expect("ran"), None);
        assert_eq!(tx.hold(&hold.id).expect("ran"), Some(hold.clone()));
        assert_eq!(conn.total_changes(), changes, "a refusal changed rows");

        let confirmed = tx
            .finish_hold(&hold.id, HoldStatus::Confirmed, NOW)
            .expect("ran")
            .expect("it was PENDING");
        assert_eq!(confirmed.status, HoldStatus::Confirmed);
        assert_eq!(confirmed.updated_at, NOW);
        let changes = conn.total_changes();
        let again = tx.finish_hold(&hold.id, HoldStatus::Cancelled, LATER);
        assert_eq!(again.expect("ran"), None);
        assert_eq!(tx.expire_hold(&hold.id, LATER).expect("ran"), None);
        assert_eq!(tx.hold(&hold.id).expect("ran"), Some(confirmed));
        assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
    }

    #[tokio::test]
    async fn a_due_hold_expires_and_a_deadline_moves_only_on_an_existing_hold() {
        let (_dir, conn, _) = database(0).await;
        let mut tx = SqliteTx::new(&conn);
        let hold = pending(&mut tx, NOW);
        let extended = tx
            .set_hold_deadline(&hold.id, LATER, EARLIER)
            .expect("it exists");
        assert_eq!(
            (extended.expires_at.as_str(), extended.updated_at.as_str()),
            (LATER, EARLIER)
        );
        let expired = tx.expire_hold(&hold.id, LATER).expect("ran");
        assert_eq!(expired.map(|h| h.status), Some(HoldStatus::Expired));
        match tx.set_hold_deadline(&HoldId::mint(), LATER, NOW) {
            Err(StoreError::Failed(_)) => {}
            other => panic!("expected a storage failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_holds_lines_come_in_product_and_store_order_with_its_unfulfilled_lines() {
        let (_dir, conn, mut products) = database(2).await;
        products.sort();
        let mut tx = SqliteTx::new(&conn);
        let hold = pending(&mut tx, LATER);
        let other = pending(&mut tx, LATER);
        let mut stored = Vec::new();
        // Stored in reverse order; one line of another hold and a single reservation around.
        for (product, store, hold_id) in [
            (&products[1], "s2", Some(&hold.id)),
            (&products[1], "s1", Some(&hold.id)),
            (&products[0], "s2", Some(&other.id)),
            (&products[0], "s1", None),
            (&products[0], "s2", Some(&hold.id)),
        ] {
            let row = ReservationRow {
                id: ReservationId::mint(),
                product_id: product.clone(),
                store_id: StoreId::from_stored(store.into()),
                customer_id: "c".into(),
                quantity: PositiveQuantity::new_const(1),
                status: ReservationStatus::Pending,
                expires_at: LATER.into(),
                created_at: NOW.into(),
                updated_at: NOW.into(),
                hold_id: hold_id.cloned(),
            };
            tx.insert_reservation(&row).expect("inserted");
            if hold_id == Some(&hold.id) {
                stored.push(row);
            }
        }
        stored.reverse();
        assert_eq!(tx.hold_lines(&hold.id).expect("ran"), stored);
        assert_eq!(tx.hold_lines(&HoldId::mint()).expect("ran"), Vec::new());

        let lines = r#"[{"product_id":"p","store_id":"s3","requested":2,"available":0}]"#;
        tx.record_unfulfilled(&hold.id, lines).expect("ran");
        let read = tx.hold(&hold.id).expect("ran").expect("it exists");
        assert_eq!(read.unfulfilled, lines);
        assert_eq!(
            tx.hold(&other.id).expect("ran").map(|h| h.unfulfilled),
            Some("[]".into())
        );
    }
}
