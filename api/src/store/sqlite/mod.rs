//! [`Tx`] on SQLite: each method runs today's statement at once on the writer's connection,
//! already inside `BEGIN IMMEDIATE` (`crate::writer`), with `prepare_cached` (the writer
//! prepares each statement once per connection). The statements moved here from `ops` without
//! a change, so the SQLite build runs the same statements in the same order as before the seam.
//!
//! Also here: the `rusqlite` row mappings of the typed rows, and the statements the rules
//! not yet on the seam still call directly ([`stock_row`], [`product_exists`]).

mod events;
mod holds;
mod keys;
mod nesting;
mod products;
mod reservations;
mod stock;

pub use products::product_exists;
pub use stock::stock_row;

use rusqlite::Connection;

use super::StoreError;
use crate::domain::{
    HoldId, PositiveQuantity, ProductId, Quantity, ReservationId, ReservationRow,
    ReservationStatus, StockRow, StoreId,
};

/// A write transaction on SQLite: the writer's connection, inside its `BEGIN IMMEDIATE`.
/// Costs nothing to build (a reference), so a caller builds one per job.
pub struct SqliteTx<'c> {
    pub(in crate::store) conn: &'c Connection,
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
