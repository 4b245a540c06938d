//! [`StockTx`]: the stock rows: holding, giving back and selling units, reading a row,
//! creating one, setting its on-hand units, moving units between two stores. Part of
//! [`super::Tx`].
//!
//! The rules read a row and then change it in the same transaction (`crate::ops::stock`); the
//! transaction holds the row from before the read until commit (SQLite's write lock; on
//! PostgreSQL the unit of work's `FOR UPDATE` lock, taken up front), so what a rule checked on
//! the row it read is still true when it writes. The changes' guards (`expected_version`,
//! "at least n available") still refuse rather than write when it is not.

use super::StoreResult;
use crate::domain::{PositiveQuantity, ProductId, Quantity, ReservationRow, StockRow, StoreId};

/// The stock rows: holding, giving back and selling units, reading, creating and changing a
/// row. Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait StockTx {
    /// Holds `quantity` units of (product, store) if at least that many are available
    /// (`quantity - reserved >= n`), bumping the row's version; answers the new version, or
    /// `None` (nothing changed) when the row is missing or has too few units.
    fn hold_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<Option<i64>>;

    /// Gives a reservation's held units back to `available` (cancel, expire), bumping the stock
    /// row's version; answers the new version. The row exists and holds them (the reservation
    /// was PENDING, and a PENDING reservation's units are in `reserved`).
    fn release_units(&mut self, row: &ReservationRow, now: &str) -> StoreResult<i64>;

    /// Takes a confirmed reservation's units off the shelf (out of both `quantity` and
    /// `reserved`), bumping the stock row's version; answers the new version. Same premise as
    /// [`StockTx::release_units`].
    fn sell_units(&mut self, row: &ReservationRow, now: &str) -> StoreResult<i64>;

    /// The stock row of (product, store), if there is one.
    fn stock_row(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
    ) -> StoreResult<Option<StockRow>>;

    /// Creates the stock row of (product, store) with `quantity` units on hand, none reserved,
    /// at version 1, unless there is one; answers the new row, or `None` (nothing changed)
    /// when the row exists already. The caller checked that the product exists.
    fn create_stock_row(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: Quantity,
        now: &str,
    ) -> StoreResult<Option<StockRow>>;

    /// Sets the on-hand units of (product, store) to `quantity` (a `PUT` or an adjustment),
    /// bumping the row's version, if the row is still at `expected_version` and `quantity` is
    /// not below its reserved units; answers the row after, or `None` (nothing changed) when
    /// the row is missing, at another version, or holds more reserved units than `quantity`.
    /// (A backend refuses the last case itself rather than leave it to the schema's `CHECK`:
    /// on PostgreSQL a `CHECK` failing at the flush would fail the whole batch.)
    fn set_quantity(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: Quantity,
        expected_version: i64,
        now: &str,
    ) -> StoreResult<Option<StockRow>>;

    /// Takes `quantity` units off the on-hand of (product, store), a transfer's source, if at
    /// least that many are available (`quantity - reserved >= n`), bumping the row's version;
    /// answers the row after, or `None` (nothing changed) when the row is missing or has too
    /// few available units.
    fn transfer_out_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<Option<StockRow>>;

    /// Adds `quantity` units to the on-hand of (product, store), a transfer's destination,
    /// bumping the row's version, or creates the row with them (none reserved, version 1) when
    /// there is none; answers the row after. The caller checked that the product exists and
    /// that the sum stays within [`crate::domain::MAX_QUANTITY`].
    fn transfer_in_units(
        &mut self,
        product_id: &ProductId,
        store_id: &StoreId,
        quantity: PositiveQuantity,
        now: &str,
    ) -> StoreResult<StockRow>;
}
