//! Bodies of the stock routes.

use poem_openapi::Object;

use crate::http::types::{
    Adjustment, PositiveQuantity, ProductId, Quantity, StoreId, Timestamp, UuidText,
};

use crate::domain::StockRow;

/// Body of `POST /stock`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct InitStockBody {
    /// Product id.
    pub product_id: ProductId,
    /// Store id: 1–64 of `[A-Za-z0-9._-]`.
    pub store_id: StoreId,
    /// Units on hand to start with (0 allowed).
    pub initial_quantity: Quantity,
}

/// Body of `PUT /stock/{product_id}/{store_id}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct SetStockBody {
    /// New on-hand quantity (not below `reserved`).
    pub quantity: Quantity,
    /// Why (default `restock` when it grows, else `adjustment`).
    #[oai(nullable, validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Body of `POST /stock/{product_id}/{store_id}/adjust`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct AdjustStockBody {
    /// Units to add (negative removes); 0 changes nothing.
    pub adjustment: Adjustment,
    /// Why (default `adjustment`).
    #[oai(nullable, validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Body of `POST /stock/transfer`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct TransferBody {
    /// Product id.
    pub product_id: ProductId,
    /// Source store.
    pub from_store_id: StoreId,
    /// Destination store, another than the source (its row is created when missing).
    pub to_store_id: StoreId,
    /// Units to move, ≥ 1, from the source's available units.
    pub quantity: PositiveQuantity,
    /// Why (default `transfer`).
    #[oai(nullable, validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Stock of one product in one store.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct Stock {
    /// Product.
    pub product_id: UuidText,
    /// Store.
    pub store_id: String,
    /// Units on hand.
    pub quantity: i64,
    /// Units held by pending reservations.
    pub reserved: i64,
    /// `quantity - reserved`.
    pub available: i64,
    /// Bumped by every change; use it in `If-Match`.
    pub version: i64,
    /// RFC 3339.
    pub updated_at: Timestamp,
}

impl From<StockRow> for Stock {
    fn from(r: StockRow) -> Self {
        Self {
            available: r.available(),
            product_id: r.product_id.into(),
            store_id: r.store_id.into_inner(),
            quantity: r.quantity.get(),
            reserved: r.reserved.get(),
            version: r.version,
            updated_at: r.updated_at.into(),
        }
    }
}

/// A product's stock in every store, a page of stores at a time; the totals cover every store.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct ProductStock {
    /// Product.
    pub product_id: UuidText,
    /// One row per store, by store id (at most `limit`).
    pub stores: Vec<Stock>,
    /// Sum of `quantity` over every store (not only this page).
    pub total_quantity: i64,
    /// Sum of `reserved` over every store.
    pub total_reserved: i64,
    /// Sum of `available` over every store.
    pub total_available: i64,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A page of a store's stock, one row per product.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct StoreStock {
    /// Store.
    pub store_id: String,
    /// Rows on this page (at most `limit`).
    pub count: i64,
    /// One row per product, by product id.
    pub items: Vec<Stock>,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A page of the rows with few available units. A row whose available units change during a
/// walk moves in this order, so it may be listed twice or not at all; every other row once.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct LowStock {
    /// Rows with `available < threshold` are listed.
    pub threshold: i64,
    /// Rows on this page (at most `limit`).
    pub count: i64,
    /// Lowest available first, then by product id, then store id.
    pub items: Vec<Stock>,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Whether a quantity can be reserved now.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct Availability {
    /// Product.
    pub product_id: UuidText,
    /// Store.
    pub store_id: String,
    /// Units asked about.
    pub requested: i64,
    /// Units available.
    pub available: i64,
    /// `available >= requested`.
    pub sufficient: bool,
}

/// A completed transfer.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct TransferResult {
    /// Product.
    pub product_id: UuidText,
    /// Units moved.
    pub quantity: i64,
    /// Source row after.
    pub from: Stock,
    /// Destination row after.
    pub to: Stock,
}
