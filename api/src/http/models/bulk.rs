//! Bodies of `POST /stock/bulk`.

use poem_openapi::Object;

pub use crate::http::types::{BulkModeName, BulkOutcome};
use crate::http::types::{ProductId, Quantity, StoreId};

use super::Stock;

/// One row to set.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct BulkItemBody {
    /// Product id.
    pub product_id: ProductId,
    /// Store id; the row is created when missing.
    pub store_id: StoreId,
    /// The on-hand quantity to set (not below `reserved`).
    pub quantity: Quantity,
    /// Why (the `stock.updated` reason; default `restock` when it grows, else `adjustment`).
    #[oai(nullable, validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Body of `POST /stock/bulk`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct BulkStockBody {
    /// 1–1000 rows, no (product_id, store_id) twice.
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub items: Vec<BulkItemBody>,
    /// Default `all_or_nothing`.
    #[oai(nullable)]
    pub mode: Option<BulkModeName>,
}

/// The result of one item, in request order.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct BulkItemResult {
    /// Position in `items`.
    pub index: i64,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// The status this item alone would have had: 201, 200, 404 or 409.
    pub status: u16,
    /// What happened.
    pub outcome: BulkOutcome,
    /// The problem code when refused (`PRODUCT_NOT_FOUND`, `QUANTITY_BELOW_RESERVED`); `null`
    /// otherwise.
    #[oai(nullable)]
    pub code: Option<String>,
    /// Why it was refused; `null` otherwise.
    #[oai(nullable)]
    pub detail: Option<String>,
    /// The row after; left out when refused.
    #[oai(skip_serializing_if_is_none)]
    pub stock: Option<Stock>,
}

/// Answer of `POST /stock/bulk`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct BulkStockResult {
    /// The mode applied.
    pub mode: BulkModeName,
    /// Items applied (created, updated or unchanged).
    pub applied: i64,
    /// Items refused (always 0 in `all_or_nothing`, which answers 409 instead).
    pub refused: i64,
    /// One result per item, in request order.
    pub results: Vec<BulkItemResult>,
}

/// A refused item of an all-or-nothing bulk sync (in the 409 problem body's `items`).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ItemProblem {
    /// Position in `items`.
    pub index: i64,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// The status this item alone would have had (404, 409).
    pub status: u16,
    /// Its problem code (`PRODUCT_NOT_FOUND`, `QUANTITY_BELOW_RESERVED`).
    pub code: String,
    /// Why.
    pub detail: String,
}
