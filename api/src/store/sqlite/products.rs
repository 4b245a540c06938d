//! [`ProductTx`](crate::store::ProductTx) on SQLite: the product statements, run at once on the writer's connection.

use rusqlite::Connection;

use super::SqliteTx;
use crate::domain::ProductId;
use crate::store::{ProductTx, StoreResult};

impl ProductTx for SqliteTx<'_> {
    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool> {
        Ok(product_exists(self.conn, product_id)?)
    }
}

/// Whether a product exists (inside a write transaction).
pub fn product_exists(conn: &Connection, id: &ProductId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)")?
        .query_row([id.as_str()], |row| row.get(0))
}
