//! [`ProductTx`] on PostgreSQL.

use super::PgTx;
use super::load;
use crate::domain::ProductId;
use crate::store::{ProductTx, StoreResult};

impl ProductTx for PgTx {
    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool> {
        if let Some(exists) = self.unit.products.get(product_id) {
            return Ok(*exists);
        }
        let ids = [product_id.clone()];
        let found = self.run("reading a product", async |conn| {
            load::existing_products(conn, &ids).await
        })?;
        let exists = !found.is_empty();
        self.unit.products.insert(product_id.clone(), exists);
        Ok(exists)
    }
}
