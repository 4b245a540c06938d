//! [`ProductTx`] on PostgreSQL: products locked `FOR UPDATE` when first reached, changed in
//! memory, written by the flush. A SKU is checked under its own advisory lock
//! (`load::product_with_sku`), so two replicas never give one SKU to two products; within a
//! batch the flush frees SKUs (deletes, then renames through a placeholder) before it takes
//! them, so a SKU freed and reused in one batch does not meet the `UNIQUE` constraint.

use super::PgTx;
use super::load;
use crate::domain::{ProductId, ProductInput, ProductRow, ReservationStatus, Sku};
use crate::store::products::SkuTaken;
use crate::store::{ProductTx, StoreResult};

impl PgTx {
    /// Locks and loads product `id` unless the batch has it (or knows it is missing).
    fn ensure_product(&mut self, id: &ProductId) -> StoreResult<()> {
        if self.unit.products.knows(id) {
            return Ok(());
        }
        let ids = [id.clone()];
        let found = self.run("locking a product", async |conn| {
            load::products(conn, &ids).await
        })?;
        self.unit
            .products
            .loaded(id.clone(), found.into_iter().next());
        Ok(())
    }

    /// The product the batch sees with `sku`, if any: the database's (locked, under the SKU's
    /// advisory lock) unless this batch changed it, and the ones this batch created or renamed.
    fn holder_of_sku(&mut self, sku: &Sku) -> StoreResult<Option<ProductRow>> {
        if !self.unit.skus_checked.contains(sku) {
            let found = self.run("locking a SKU", async |conn| {
                load::product_with_sku(conn, sku).await
            })?;
            if let Some(row) = found
                && !self.unit.products.knows(&row.id)
            {
                self.unit.products.loaded(row.id.clone(), Some(row));
            }
            self.unit.skus_checked.insert(sku.clone());
        }
        Ok(self
            .unit
            .products
            .entries()
            .find(|e| &e.row.sku == sku)
            .map(|e| e.row.clone()))
    }
}

impl ProductTx for PgTx {
    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool> {
        // This batch's own view first (a product it created, changed or deleted).
        if self.unit.products.knows(product_id) {
            return Ok(self.unit.products.get(product_id).is_some());
        }
        if let Some(exists) = self.unit.products_seen.get(product_id) {
            return Ok(*exists);
        }
        let ids = [product_id.clone()];
        let found = self.run("reading a product", async |conn| {
            load::products_exist(conn, &ids).await
        })?;
        let exists = !found.is_empty();
        self.unit.products_seen.insert(product_id.clone(), exists);
        Ok(exists)
    }

    fn product(&mut self, id: &ProductId) -> StoreResult<Option<ProductRow>> {
        self.ensure_product(id)?;
        Ok(self.unit.products.get(id).cloned())
    }

    fn product_with_sku(&mut self, sku: &Sku) -> StoreResult<Option<ProductRow>> {
        self.holder_of_sku(sku)
    }

    fn insert_product(
        &mut self,
        id: &ProductId,
        input: &ProductInput,
        now: &str,
    ) -> StoreResult<Result<ProductRow, SkuTaken>> {
        if self.holder_of_sku(&input.sku)?.is_some() {
            return Ok(Err(SkuTaken));
        }
        let row = ProductRow {
            id: id.clone(),
            sku: input.sku.clone(),
            name: input.name.clone(),
            description: input.description.clone(),
            category: input.category.clone(),
            price_cents: input.price_cents,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        };
        self.unit.products.insert(id.clone(), row.clone());
        Ok(Ok(row))
    }

    fn replace_product(
        &mut self,
        id: &ProductId,
        input: &ProductInput,
        now: &str,
    ) -> StoreResult<Result<Option<ProductRow>, SkuTaken>> {
        self.ensure_product(id)?;
        if self.unit.products.get(id).is_none() {
            return Ok(Ok(None));
        }
        if self
            .holder_of_sku(&input.sku)?
            .is_some_and(|holder| &holder.id != id)
        {
            return Ok(Err(SkuTaken));
        }
        Ok(Ok(self.unit.products.get_mut(id).map(|row| {
            row.sku = input.sku.clone();
            row.name = input.name.clone();
            row.description = input.description.clone();
            row.category = input.category.clone();
            row.price_cents = input.price_cents;
            row.updated_at = now.to_owned();
            row.clone()
        })))
    }

    fn product_in_use(&mut self, id: &ProductId) -> StoreResult<bool> {
        // The product first: every creator of its stock rows locks it before creating one, so
        // once it is held no new row can appear. Then every stock row and PENDING reservation
        // of it, locked and loaded, so the answer (and a delete after it) sees this batch's
        // own changes to them.
        self.ensure_product(id)?;
        if !self.unit.product_rows_loaded.contains(id) {
            let stock = self.run("locking a product's stock rows", async |conn| {
                load::stock_of_product(conn, id).await
            })?;
            let pending = self.run("locking a product's reservations", async |conn| {
                load::pending_of_product(conn, id).await
            })?;
            for row in stock {
                let key = (row.product_id.clone(), row.store_id.clone());
                if !self.unit.stock.knows(&key) {
                    self.unit.stock.loaded(key, Some(row));
                }
            }
            for row in pending {
                if !self.unit.reservations.knows(&row.id) {
                    self.unit.reservations.loaded(row.id.clone(), Some(row));
                }
            }
            self.unit.product_rows_loaded.insert(id.clone());
        }
        let on_hand = self
            .unit
            .stock
            .entries()
            .any(|e| &e.row.product_id == id && e.row.quantity.get() > 0);
        let pending = self
            .unit
            .reservations
            .entries()
            .any(|e| &e.row.product_id == id && e.row.status == ReservationStatus::Pending);
        Ok(on_hand || pending)
    }

    fn delete_product(&mut self, id: &ProductId) -> StoreResult<bool> {
        self.ensure_product(id)?;
        if !self.unit.products.delete(id) {
            return Ok(false);
        }
        // Its stock rows and reservations go with it (`ON DELETE CASCADE` at the flush); the
        // batch stops seeing the ones it holds, as SQLite's cascade would.
        let stock: Vec<_> = self
            .unit
            .stock
            .entries()
            .filter(|e| &e.row.product_id == id)
            .map(|e| (e.row.product_id.clone(), e.row.store_id.clone()))
            .collect();
        for key in stock {
            self.unit.stock.delete(&key);
        }
        let reservations: Vec<_> = self
            .unit
            .reservations
            .entries()
            .filter(|e| &e.row.product_id == id)
            .map(|e| e.row.id.clone())
            .collect();
        for key in reservations {
            self.unit.reservations.delete(&key);
        }
        Ok(true)
    }
}
