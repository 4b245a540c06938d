//! [`Tx`] on SQLite: each method runs today's statement at once on the writer's connection,
//! already inside `BEGIN IMMEDIATE` (`crate::writer`), with `prepare_cached` (the writer
//! prepares each statement once per connection). The statements moved here from `ops` without
//! a change, so the SQLite build runs the same statements in the same order as before the seam.
//!
//! Also here: the `rusqlite` row mappings of the typed rows, and the statements the rules
//! not yet on the seam still call directly ([`stock_row`], [`product_exists`]).

use inventory_shared::events::NewEvent;
use inventory_shared::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, StoreResult, Tx};
use crate::domain::{
    HoldId, PositiveQuantity, ProductId, Quantity, ReservationId, ReservationRow,
    ReservationStatus, StockRow, StoreId,
};

/// A write transaction on SQLite: the writer's connection, inside its `BEGIN IMMEDIATE`.
/// Costs nothing to build (a reference), so a caller builds one per job.
pub struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteTx<'c> {
    /// The transaction the caller has open on `conn`.
    pub fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if inventory_shared::db::is_interrupted(&e) {
            return Self::OverBudget;
        }
        Self::Failed(anyhow::Error::new(e).context("database (rusqlite)"))
    }
}

impl Tx for SqliteTx<'_> {
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

    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool> {
        Ok(product_exists(self.conn, product_id)?)
    }

    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<ReservationRow>> {
        Ok(self
            .conn
            .prepare_cached("SELECT * FROM reservations WHERE id = ?")?
            .query_row([id.as_str()], ReservationRow::from_row)
            .optional()?)
    }

    fn insert_reservation(&mut self, row: &ReservationRow) -> StoreResult<()> {
        debug_assert_eq!(
            row.status,
            ReservationStatus::Pending,
            "a new reservation is PENDING"
        );
        self.conn
            .prepare_cached(
                "INSERT INTO reservations (id, product_id, store_id, customer_id, quantity, \
                 status, expires_at, created_at, updated_at, hold_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                row.id.as_str(),
                row.product_id.as_str(),
                row.store_id.as_str(),
                row.customer_id,
                row.quantity.get(),
                row.status.as_str(),
                row.expires_at,
                row.created_at,
                row.updated_at,
                row.hold_id.as_ref().map(HoldId::as_str)
            ])?;
        // The only INSERT into `reservations`, so it keeps the count itself (a trigger would
        // give the INSERT a statement journal: migrations/20261203000006_insert_counters_in_code.sql).
        self.conn
            .prepare_cached(
                "INSERT INTO reservation_counts (store_id, status, n) VALUES (?, 'PENDING', 1) \
                 ON CONFLICT (store_id, status) DO UPDATE SET n = n + 1",
            )?
            .execute([row.store_id.as_str()])?;
        Ok(())
    }

    fn finish_reservation(
        &mut self,
        id: &ReservationId,
        status: ReservationStatus,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        debug_assert!(
            matches!(
                status,
                ReservationStatus::Confirmed | ReservationStatus::Cancelled
            ),
            "finish_reservation takes a final status other than EXPIRED"
        );
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE reservations SET status = ?, updated_at = ? WHERE id = ? \
                 AND status = 'PENDING' RETURNING *",
            )?
            .query_row(
                params![status.as_str(), now, id.as_str()],
                ReservationRow::from_row,
            )
            .optional()?)
    }

    fn expire_reservation(
        &mut self,
        id: &ReservationId,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE reservations SET status = 'EXPIRED', updated_at = ?1 \
                 WHERE id = ?2 AND status = 'PENDING' AND expires_at <= ?1 RETURNING *",
            )?
            .query_row(params![now, id.as_str()], ReservationRow::from_row)
            .optional()?)
    }

    fn extend_reservation(
        &mut self,
        id: &ReservationId,
        deadline: &str,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE reservations SET expires_at = ?1, updated_at = ?2 \
                 WHERE id = ?3 AND status = 'PENDING' AND expires_at > ?2 RETURNING *",
            )?
            .query_row(
                params![deadline, now, id.as_str()],
                ReservationRow::from_row,
            )
            .optional()?)
    }

    fn append_event(&mut self, event: &NewEvent, at: &Timestamp) -> StoreResult<()> {
        inventory_shared::outbox::append_event(self.conn, event, at)?;
        Ok(())
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

/// Whether a product exists (inside a write transaction).
pub fn product_exists(conn: &Connection, id: &ProductId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)")?
        .query_row([id.as_str()], |row| row.get(0))
}

impl ReservationRow {
    /// Maps a `reservations` row read with `rusqlite` (`SELECT *` or `RETURNING *`).
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let status = row.get_ref("status")?.as_str()?;
        let status = ReservationStatus::from_stored(status).map_err(|why| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, why.into())
        })?;
        Ok(Self {
            id: ReservationId::from_stored(row.get("id")?),
            product_id: ProductId::from_stored(row.get("product_id")?),
            store_id: StoreId::from_stored(row.get("store_id")?),
            customer_id: row.get("customer_id")?,
            quantity: PositiveQuantity::from_stored(row.get("quantity")?),
            status,
            expires_at: row.get("expires_at")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            hold_id: row
                .get::<_, Option<String>>("hold_id")?
                .map(HoldId::from_stored),
        })
    }
}

impl StockRow {
    /// Maps the six columns every stock statement reads, in their order.
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            product_id: ProductId::from_stored(row.get(0)?),
            store_id: StoreId::from_stored(row.get(1)?),
            quantity: Quantity::from_stored(row.get(2)?),
            reserved: Quantity::from_stored(row.get(3)?),
            version: row.get(4)?,
            updated_at: row.get(5)?,
        })
    }
}
