//! [`StockTx`] on PostgreSQL: the rules' stock changes, applied to the rows the batch holds
//! locked (in memory; written by the flush).

use super::PgTx;
use super::load;
use super::unit::PairKey;
use crate::domain::{PositiveQuantity, ProductId, Quantity, ReservationRow, StockRow, StoreId};
use crate::store::{StockTx, StoreError, StoreResult};

impl PgTx {
    /// Before creating the stock row `key`: locks its product (`FOR NO KEY UPDATE`), which
    /// every creator of that product's rows takes first, so two replicas never both create
    /// it; then reads the row again if the batch only knew it as missing (another replica may
    /// have created it before this lock was granted), and loads it otherwise.
    fn lock_product_to_create(&mut self, key: &PairKey) -> StoreResult<()> {
        if self.unit.locked_products.contains(&key.0) {
            return self.ensure_stock(key);
        }
        let ids = [key.0.clone()];
        self.run("locking a product", async |conn| {
            load::lock_products(conn, &ids).await
        })?;
        self.unit.locked_products.insert(key.0.clone());
        // Rows of this product the batch saw missing before the lock may exist now.
        let product = key.0.clone();
        self.unit.stock.forget_missing(|(p, _)| *p == product);
        self.ensure_stock(key)
    }

    /// Locks and loads the stock row of `key` unless the batch has it (or knows it is missing).
    fn ensure_stock(&mut self, key: &PairKey) -> StoreResult<()> {
        if self.unit.stock.knows(key) {
            return Ok(());
        }
        let keys = [key.clone()];
        let found = self.run("locking a stock row", async |conn| {
            load::stock_rows(conn, &keys).await
        })?;
        self.unit
            .stock
            .loaded(key.clone(), found.into_iter().next());
        Ok(())
    }

    /// The locked row of a PENDING reservation's (product, store), to change. It exists: a
    /// PENDING reservation's units are in its `reserved`.
    fn held_row(&mut self, row: &ReservationRow) -> StoreResult<&mut StockRow> {
        let key = (row.product_id.clone(), row.store_id.clone());
        self.ensure_stock(&key)?;
        self.unit.stock.get_mut(&key).ok_or_else(|| {
            StoreError::Failed(anyhow::anyhow!(
                "reservation {} holds units of a stock row that does not exist",
                row.id
            ))
        })
    }
}

impl StockTx for PgTx {
    fn hold_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<Option<i64>> {
        let key = (product_id.clone(), store_id.clone());
        self.ensure_stock(&key)?;
        let Some(available) = self.unit.stock.get(&key).map(StockRow::available) else {
            return Ok(None);
        };
        if available < quantity.get() {
            return Ok(None);
        }
        let Some(row) = self.unit.stock.get_mut(&key) else {
            return Ok(None);
        };
        row.reserved = Quantity::from_stored(row.reserved.get() + quantity.get());
        row.version += 1;
        row.updated_at = now.to_owned();
        Ok(Some(row.version))
    }

    fn release_units(&mut self, reservation: &ReservationRow, now: &str) -> StoreResult<i64> {
        let quantity = reservation.quantity.get();
        let row = self.held_row(reservation)?;
        holds_enough(row, quantity, &reservation.id)?;
        row.reserved = Quantity::from_stored(row.reserved.get() - quantity);
        row.version += 1;
        row.updated_at = now.to_owned();
        Ok(row.version)
    }

    fn sell_units(&mut self, reservation: &ReservationRow, now: &str) -> StoreResult<i64> {
        let quantity = reservation.quantity.get();
        let row = self.held_row(reservation)?;
        holds_enough(row, quantity, &reservation.id)?;
        row.quantity = Quantity::from_stored(row.quantity.get() - quantity);
        row.reserved = Quantity::from_stored(row.reserved.get() - quantity);
        row.version += 1;
        row.updated_at = now.to_owned();
        Ok(row.version)
    }

    fn stock_row(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
    ) -> StoreResult<Option<StockRow>> {
        let key = (product_id.clone(), store_id.clone());
        self.ensure_stock(&key)?;
        Ok(self.unit.stock.get(&key).cloned())
    }

    fn create_stock_row(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: Quantity,
        now: &str,
    ) -> StoreResult<Option<StockRow>> {
        let key = (product_id.clone(), store_id.clone());
        self.lock_product_to_create(&key)?;
        if self.unit.stock.get(&key).is_some() {
            return Ok(None);
        }
        let row = StockRow {
            product_id: product_id.clone(),
            store_id: store_id.clone(),
            quantity,
            reserved: Quantity::from_stored(0),
            version: 1,
            updated_at: now.to_owned(),
        };
        self.unit.stock.insert(key, row.clone());
        Ok(Some(row))
    }

    fn set_quantity(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: Quantity,
        expected_version: i64,
        now: &str,
    ) -> StoreResult<Option<StockRow>> {
        let key = (product_id.clone(), store_id.clone());
        self.ensure_stock(&key)?;
        let applies = self.unit.stock.get(&key).is_some_and(|row| {
            row.version == expected_version && quantity.get() >= row.reserved.get()
        });
        if !applies {
            return Ok(None);
        }
        Ok(self.unit.stock.get_mut(&key).map(|row| {
            row.quantity = quantity;
            row.version += 1;
            row.updated_at = now.to_owned();
            row.clone()
        }))
    }

    fn transfer_out_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<Option<StockRow>> {
        let key = (product_id.clone(), store_id.clone());
        self.ensure_stock(&key)?;
        if self
            .unit
            .stock
            .get(&key)
            .is_none_or(|row| row.available() < quantity.get())
        {
            return Ok(None);
        }
        Ok(self.unit.stock.get_mut(&key).map(|row| {
            row.quantity = Quantity::from_stored(row.quantity.get() - quantity.get());
            row.version += 1;
            row.updated_at = now.to_owned();
            row.clone()
        }))
    }

    fn transfer_in_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<StockRow> {
        let key = (product_id.clone(), store_id.clone());
        self.ensure_stock(&key)?;
        if self.unit.stock.get(&key).is_none() {
            self.lock_product_to_create(&key)?;
        }
        if let Some(row) = self.unit.stock.get_mut(&key) {
            row.quantity = Quantity::from_stored(row.quantity.get() + quantity.get());
            row.version += 1;
            row.updated_at = now.to_owned();
            return Ok(row.clone());
        }
        let row = StockRow {
            product_id: product_id.clone(),
            store_id: store_id.clone(),
            quantity: Quantity::from_stored(quantity.get()),
            reserved: Quantity::from_stored(0),
            version: 1,
            updated_at: now.to_owned(),
        };
        self.unit.stock.insert(key, row.clone());
        Ok(row)
    }
}

/// The premise of giving a reservation's units back or selling them: the row holds them. A
/// damaged row fails this job here (as the schema's `CHECK` fails its statement on SQLite),
/// not the whole batch at the flush.
fn holds_enough(
    row: &StockRow,
    quantity: i64,
    reservation: &crate::domain::ReservationId,
) -> StoreResult<()> {
    if row.reserved.get() < quantity || row.quantity.get() < quantity {
        return Err(StoreError::Failed(anyhow::anyhow!(
            "reservation {reservation} holds {quantity} units its stock row does not hold"
        )));
    }
    Ok(())
}
