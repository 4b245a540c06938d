//! [`ProductTx`](crate::store::ProductTx) on SQLite: the product statements, run at once on the writer's connection.

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteTx;
use crate::domain::{ProductId, ProductInput, ProductRow, Sku};
use crate::store::products::SkuTaken;
use crate::store::{ProductTx, StoreResult};

impl ProductTx for SqliteTx<'_> {
    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool> {
        Ok(product_exists(self.conn, product_id)?)
    }

    fn product(&mut self, id: &ProductId) -> StoreResult<Option<ProductRow>> {
        Ok(self
            .conn
            .prepare_cached("SELECT * FROM products WHERE id = ?")?
            .query_row([id.as_str()], ProductRow::from_row)
            .optional()?)
    }

    fn product_with_sku(&mut self, sku: &Sku) -> StoreResult<Option<ProductRow>> {
        Ok(self
            .conn
            .prepare_cached("SELECT * FROM products WHERE sku = ?")?
            .query_row([sku.as_str()], ProductRow::from_row)
            .optional()?)
    }

    fn insert_product(
        &mut self,
        id: &ProductId,
        input: &ProductInput,
        now: &str,
    ) -> StoreResult<Result<ProductRow, SkuTaken>> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO products (id, sku, name, description, category, price_cents, \
                 created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            )?
            .query_row(
                params![
                    id.as_str(),
                    input.sku.as_str(),
                    input.name,
                    input.description,
                    input.category,
                    input.price_cents,
                    now,
                    now
                ],
                ProductRow::from_row,
            );
        match inserted {
            Ok(row) => Ok(Ok(row)),
            Err(e) if sku_taken(&e) => Ok(Err(SkuTaken)),
            Err(e) => Err(e.into()),
        }
    }

    fn replace_product(
        &mut self,
        id: &ProductId,
        input: &ProductInput,
        now: &str,
    ) -> StoreResult<Result<Option<ProductRow>, SkuTaken>> {
        let replaced = self
            .conn
            .prepare_cached(
                "UPDATE products SET sku = ?, name = ?, description = ?, category = ?, \
                 price_cents = ?, updated_at = ? WHERE id = ? RETURNING *",
            )?
            .query_row(
                params![
                    input.sku.as_str(),
                    input.name,
                    input.description,
                    input.category,
                    input.price_cents,
                    now,
                    id.as_str()
                ],
                ProductRow::from_row,
            )
            .optional();
        match replaced {
            Ok(row) => Ok(Ok(row)),
            Err(e) if sku_taken(&e) => Ok(Err(SkuTaken)),
            Err(e) => Err(e.into()),
        }
    }

    fn product_in_use(&mut self, id: &ProductId) -> StoreResult<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM stock WHERE product_id = ?1 AND quantity > 0) \
                 OR EXISTS (SELECT 1 FROM reservations WHERE product_id = ?1 \
                 AND status = 'PENDING')",
            )?
            .query_row([id.as_str()], |row| row.get(0))?)
    }

    fn delete_product(&mut self, id: &ProductId) -> StoreResult<bool> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM products WHERE id = ?")?
            .execute([id.as_str()])?;
        Ok(deleted != 0)
    }
}

/// Whether a product exists (inside a write transaction).
pub fn product_exists(conn: &Connection, id: &ProductId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)")?
        .query_row([id.as_str()], |row| row.get(0))
}

/// `SQLITE_CONSTRAINT_UNIQUE` on `products.sku`: another product has the SKU. The violation
/// undoes its statement only (`ON CONFLICT ABORT`), so the refusal changed nothing.
fn sku_taken(err: &rusqlite::Error) -> bool {
    match err {
        rusqlite::Error::SqliteFailure(e, Some(message)) => {
            e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                && message.contains("products.sku")
        }
        _ => false,
    }
}

impl ProductRow {
    /// Maps a `products` row read with `rusqlite` (`SELECT *` or `RETURNING *`).
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: ProductId::from_stored(row.get("id")?),
            sku: Sku::from_stored(row.get("sku")?),
            name: row.get("name")?,
            description: row.get("description")?,
            category: row.get("category")?,
            price_cents: row.get("price_cents")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The promises of [`ProductTx`] on SQLite the product rules rely on: a SKU another product
    //! has is a refusal ([`SkuTaken`]), not a failure, and a refusal changes nothing.

    use inventory_shared::config::DatabaseSettings;
    use rusqlite::Connection;

    use super::SqliteTx;
    use crate::domain::{ProductId, ProductInput, Sku};
    use crate::store::ProductTx;
    use crate::store::products::SkuTaken;

    const NOW: &str = "2026-12-04T12:00:00.000Z";
    const LATER: &str = "2026-12-04T13:00:00.000Z";

    async fn database() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = DatabaseSettings::at(dir.path().join("store.db"));
        inventory_shared::db::migrate(&settings)
            .await
            .expect("migrating");
        let conn = inventory_shared::db::open_writer(&settings).expect("writer connection");
        (dir, conn)
    }

    fn input(sku: &str) -> ProductInput {
        ProductInput {
            sku: Sku::parse(sku).expect("a SKU"),
            name: format!("product {sku}"),
            description: None,
            category: Some("c".into()),
            price_cents: 100,
        }
    }

    #[tokio::test]
    async fn a_taken_sku_is_a_refusal_that_changes_nothing() {
        let (_dir, conn) = database().await;
        let mut tx = SqliteTx::new(&conn);
        let first = tx
            .insert_product(&ProductId::mint(), &input("SKU-1"), NOW)
            .expect("ran")
            .expect("a free SKU");
        let other = tx
            .insert_product(&ProductId::mint(), &input("SKU-2"), NOW)
            .expect("ran")
            .expect("a free SKU");
        let changes = conn.total_changes();

        let again = tx.insert_product(&ProductId::mint(), &input("SKU-1"), LATER);
        assert_eq!(again.expect("ran"), Err(SkuTaken));
        let renamed = tx.replace_product(&other.id, &input("SKU-1"), LATER);
        assert_eq!(renamed.expect("ran"), Err(SkuTaken));
        assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
        assert_eq!(tx.product(&other.id).expect("ran"), Some(other.clone()));
        let by_sku = tx.product_with_sku(&first.sku).expect("ran");
        assert_eq!(by_sku, Some(first.clone()));

        // Its own SKU is not taken.
        let replaced = tx
            .replace_product(&first.id, &input("SKU-1"), LATER)
            .expect("ran")
            .expect("its own SKU");
        assert_eq!(replaced.map(|r| r.updated_at), Some(LATER.to_owned()));
    }

    #[tokio::test]
    async fn a_missing_product_is_answered_not_failed() {
        let (_dir, conn) = database().await;
        let mut tx = SqliteTx::new(&conn);
        let missing = ProductId::mint();
        let changes = conn.total_changes();
        assert_eq!(tx.product(&missing).expect("ran"), None);
        let replaced = tx.replace_product(&missing, &input("SKU-1"), NOW);
        assert_eq!(replaced.expect("ran"), Ok(None));
        assert!(!tx.product_in_use(&missing).expect("ran"));
        assert!(!tx.delete_product(&missing).expect("ran"));
        assert_eq!(conn.total_changes(), changes, "a refusal changed rows");
    }
}
