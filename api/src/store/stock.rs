//! [`StockTx`]: the stock rows: holding, giving back and selling units, reading a row. Part of [`super::Tx`].

use super::StoreResult;
use crate::domain::{PositiveQuantity, ProductId, ReservationRow, StockRow, StoreId};

/// The stock rows: holding, giving back and selling units, reading a row. Every method acts inside the caller's transaction (see [`super::Tx`]).
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
}
