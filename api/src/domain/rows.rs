//! The typed rows the operations return. Times stay in their stored text form (RFC 3339 with
//! milliseconds, `inventory_shared::time::to_db`), which is also what responses carry.

use super::{
    HoldId, HoldStatus, PositiveQuantity, ProductId, Quantity, ReservationId, ReservationStatus,
    Sku, StoreId,
};

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    /// UUIDv7.
    pub id: ReservationId,
    /// Product.
    pub product_id: ProductId,
    /// Store.
    pub store_id: StoreId,
    /// Customer the units are held for.
    pub customer_id: String,
    /// Units held.
    pub quantity: PositiveQuantity,
    /// Where it is in its life.
    pub status: ReservationStatus,
    /// Deadline (stored format).
    pub expires_at: String,
    /// Creation (stored format).
    pub created_at: String,
    /// Last change (stored format).
    pub updated_at: String,
    /// The hold this reservation is a line of; `None` for a single reservation.
    pub hold_id: Option<HoldId>,
}

/// A hold as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    /// UUIDv7.
    pub id: HoldId,
    /// Customer the units are held for.
    pub customer_id: String,
    /// Where it is in its life; its PENDING lines follow it.
    pub status: HoldStatus,
    /// The deadline of every line (stored format).
    pub expires_at: String,
    /// Lines a partial hold could not reserve (a JSON list of `ops::ShortLine`).
    pub unfulfilled: String,
    /// Creation (stored format).
    pub created_at: String,
    /// Last change (stored format).
    pub updated_at: String,
}

/// A stock row as stored: one per (product, store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    /// Product.
    pub product_id: ProductId,
    /// Store.
    pub store_id: StoreId,
    /// Units on hand.
    pub quantity: Quantity,
    /// Units held by pending reservations (never above `quantity`).
    pub reserved: Quantity,
    /// Bumped by every change.
    pub version: i64,
    /// Last change (stored format).
    pub updated_at: String,
}

impl StockRow {
    /// Units that can still be reserved or moved.
    pub fn available(&self) -> i64 {
        self.quantity.get() - self.reserved.get()
    }
}

/// A product as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    /// UUIDv7.
    pub id: ProductId,
    /// Unique stock-keeping unit.
    pub sku: Sku,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Category used by the list filter.
    pub category: Option<String>,
    /// Price in minor units (cents).
    pub price_cents: i64,
    /// Creation time (stored format).
    pub created_at: String,
    /// Last change (stored format).
    pub updated_at: String,
}
