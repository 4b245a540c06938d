//! [`StockTx`](crate::store::StockTx) on SQLite: the stock statements, run at once on the writer's connection.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteTx;
use crate::domain::{PositiveQuantity, ProductId, Quantity, ReservationRow, StockRow, StoreId};
use crate::store::{StockTx, StoreResult};

impl StockTx for SqliteTx<'_> {
    fn hold_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<Option<i64>> {
        // No `RETURNING version`: SQLite runs RETURNING through a temporary table per
        // statement, which cost more than reading the version back from the page the UPDATE
        // just touched.
        let held = self
            .conn
            .prepare_cached(
                "UPDATE stock SET reserved = reserved + ?1, version = version + 1, updated_at = ?2 \
                 WHERE product_id = ?3 AND store_id = ?4 AND quantity - reserved >= ?1",
            )?
            .execute(params![
                quantity.get(),
                now,
                product_id.as_str(),
                store_id.as_str()
            ])?;
        if held != 1 {
            return Ok(None);
        }
        let version = self
            .conn
            .prepare_cached("SELECT version FROM stock WHERE product_id = ? AND store_id = ?")?
            .query_row(params![product_id.as_str(), store_id.as_str()], |row| {
                row.get::<_, i64>(0)
            })?;
        Ok(Some(version))
    }

    fn release_units(&mut self, row: &ReservationRow, now: &str) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE stock SET reserved = reserved - ?, version = version + 1, updated_at = ? \
                 WHERE product_id = ? AND store_id = ? RETURNING version",
            )?
            .query_row(
                params![
                    row.quantity.get(),
                    now,
                    row.product_id.as_str(),
                    row.store_id.as_str()
                ],
                |r| r.get(0),
            )?)
    }

    fn sell_units(&mut self, row: &ReservationRow, now: &str) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE stock SET quantity = quantity - ?1, reserved = reserved - ?1, \
                 version = version + 1, updated_at = ?2 WHERE product_id = ?3 AND store_id = ?4 \
                 RETURNING version",
            )?
            .query_row(
                params![
                    row.quantity.get(),
                    now,
                    row.product_id.as_str(),
                    row.store_id.as_str()
                ],
                |r| r.get(0),
            )?)
    }

    fn stock_row(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
    ) -> StoreResult<Option<StockRow>> {
        Ok(stock_row(self.conn, product_id, store_id)?)
    }

    fn create_stock_row(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: Quantity,
        now: &str,
    ) -> StoreResult<Option<StockRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, 0, 1, ?4, ?4) ON CONFLICT (product_id, store_id) \
                 DO NOTHING RETURNING product_id, store_id, quantity, reserved, version, updated_at",
            )?
            .query_row(
                params![product_id.as_str(), store_id.as_str(), quantity.get(), now],
                StockRow::from_row,
            )
            .optional()?)
    }

    fn set_quantity(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: Quantity,
        expected_version: i64,
        now: &str,
    ) -> StoreResult<Option<StockRow>> {
        // The version is guarded in the statement; "not below reserved" is the schema's
        // `CHECK (reserved <= quantity)`, whose failure SQLite backs out of the statement alone
        // (nothing changed), so it is a refusal here, not a failure.
        let set = self
            .conn
            .prepare_cached(
                "UPDATE stock SET quantity = ?, version = version + 1, updated_at = ? \
                 WHERE product_id = ? AND store_id = ? AND version = ? \
                 RETURNING product_id, store_id, quantity, reserved, version, updated_at",
            )?
            .query_row(
                params![
                    quantity.get(),
                    now,
                    product_id.as_str(),
                    store_id.as_str(),
                    expected_version
                ],
                StockRow::from_row,
            )
            .optional();
        match set {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_CHECK =>
            {
                Ok(None)
            }
            other => Ok(other?),
        }
    }

    fn transfer_out_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<Option<StockRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE stock SET quantity = quantity - ?1, version = version + 1, updated_at = ?2 \
                 WHERE product_id = ?3 AND store_id = ?4 AND quantity - reserved >= ?1 \
                 RETURNING product_id, store_id, quantity, reserved, version, updated_at",
            )?
            .query_row(
                params![quantity.get(), now, product_id.as_str(), store_id.as_str()],
                StockRow::from_row,
            )
            .optional()?)
    }

    fn transfer_in_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<StockRow> {
        Ok(self
            .conn
            .prepare_cached(
                "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, 0, 1, ?4, ?4) \
                 ON CONFLICT (product_id, store_id) DO UPDATE SET \
                 quantity = quantity + excluded.quantity, version = version + 1, \
                 updated_at = excluded.updated_at \
                 RETURNING product_id, store_id, quantity, reserved, version, updated_at",
            )?
            .query_row(
                params![product_id.as_str(), store_id.as_str(), quantity.get(), now],
                StockRow::from_row,
            )?)
    }
}

/// The row of (product, store) inside a write transaction.
pub fn stock_row(
    conn: &Connection,
    product_id: &ProductId,
    store_id: &StoreId,
) -> rusqlite::Result<Option<StockRow>> {
    conn.prepare_cached(
        "SELECT product_id, store_id, quantity, reserved, version, updated_at FROM stock \
         WHERE product_id = ? AND store_id = ?",
    )?
    .query_row([product_id.as_str(), store_id.as_str()], StockRow::from_row)
    .optional()
}

/// The promises of the stock changes the rules rely on: a refusal writes nothing (the row and
/// `total_changes`, what the writer's no-savepoint containment checks, stay as they were).
#[cfg(test)]
mod tests {
    use inventory_shared::config::DatabaseSettings;
    use rusqlite::Connection;

    use super::SqliteTx;
    use crate::domain::{PositiveQuantity, ProductId, Quantity, StoreId};
    use crate::store::StockTx;

    const EARLIER: &str = "2026-12-04T11:00:00.000Z";
    const NOW: &str = "2026-12-04T12:00:00.000Z";

    /// A migrated database with one product and its stock row in `s1` (5 on hand, 2 reserved,
    /// version 1).
    async fn database() -> (tempfile::TempDir, Connection, ProductId) {
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
        (dir, conn, product)
    }

    fn store(name: &str) -> StoreId {
        StoreId::from_stored(name.into())
    }

    /// (quantity, reserved, version) of every stock row, by store.
    fn rows(conn: &Connection) -> Vec<(String, i64, i64, i64)> {
        let mut statement = conn
            .prepare("SELECT store_id, quantity, reserved, version FROM stock ORDER BY store_id")
            .expect("prepared");
        statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[tokio::test]
    async fn creating_a_row_that_exists_writes_nothing() {
        let (_dir, conn, product) = database().await;
        let mut tx = SqliteTx::new(&conn);
        let (before, changes) = (rows(&conn), conn.total_changes());
        let seven = Quantity::new_const(7);
        let existing = tx.create_stock_row(&product, &store("s1"), seven, NOW);
        assert_eq!(existing.expect("ran"), None);
        assert_eq!(rows(&conn), before);
        assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
        let created = tx
            .create_stock_row(&product, &store("s2"), seven, NOW)
            .expect("ran")
            .expect("there was no row");
        assert_eq!(
            (created.quantity, created.reserved, created.version),
            (seven, Quantity::new_const(0), 1)
        );
        assert_eq!(created.updated_at, NOW);
    }

    #[tokio::test]
    async fn setting_at_another_version_or_below_reserved_writes_nothing() {
        let (_dir, conn, product) = database().await;
        let mut tx = SqliteTx::new(&conn);
        let (before, changes) = (rows(&conn), conn.total_changes());
        let (seven, one) = (Quantity::new_const(7), Quantity::new_const(1));
        let stale = tx.set_quantity(&product, &store("s1"), seven, 2, NOW);
        assert_eq!(stale.expect("ran"), None);
        let below_reserved = tx.set_quantity(&product, &store("s1"), one, 1, NOW);
        assert_eq!(below_reserved.expect("a refusal, not a failure"), None);
        let missing = tx.set_quantity(&product, &store("s2"), seven, 1, NOW);
        assert_eq!(missing.expect("ran"), None);
        assert_eq!(rows(&conn), before);
        assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
        let set = tx
            .set_quantity(&product, &store("s1"), seven, 1, NOW)
            .expect("ran")
            .expect("at version 1");
        assert_eq!((set.quantity, set.version), (seven, 2));
        assert_eq!(rows(&conn), [("s1".to_owned(), 7, 2, 2)]);
    }

    #[tokio::test]
    async fn moving_out_more_than_is_available_writes_nothing() {
        let (_dir, conn, product) = database().await;
        let mut tx = SqliteTx::new(&conn);
        let (before, changes) = (rows(&conn), conn.total_changes());
        let (three, four) = (
            PositiveQuantity::new_const(3),
            PositiveQuantity::new_const(4),
        );
        let short = tx.transfer_out_units(&product, &store("s1"), four, NOW);
        assert_eq!(short.expect("ran"), None);
        let missing = tx.transfer_out_units(&product, &store("s2"), three, NOW);
        assert_eq!(missing.expect("ran"), None);
        assert_eq!(rows(&conn), before);
        assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
        let out = tx
            .transfer_out_units(&product, &store("s1"), three, NOW)
            .expect("ran")
            .expect("3 available");
        assert_eq!((out.quantity.get(), out.version), (2, 2));
        // The destination is created by the first transfer in, added to by the next.
        let created = tx.transfer_in_units(&product, &store("s2"), three, NOW);
        assert_eq!(created.expect("ran").version, 1);
        let added = tx.transfer_in_units(&product, &store("s2"), three, NOW);
        assert_eq!(added.expect("ran").version, 2);
        assert_eq!(
            rows(&conn),
            [("s1".to_owned(), 2, 2, 2), ("s2".to_owned(), 6, 0, 2)]
        );
    }
}
