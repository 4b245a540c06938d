//! [`StockTx`](crate::store::StockTx) on SQLite: the stock statements, run at once on the writer's connection.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteTx;
use crate::domain::{PositiveQuantity, ProductId, ReservationRow, StockRow, StoreId};
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
