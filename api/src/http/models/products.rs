//! Bodies of the product routes.

use poem_openapi::Object;

use crate::http::types::{Price, Sku, Timestamp, UuidText};

use crate::domain::ProductRow;

/// Body of `POST /products` and `PUT /products/{id}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct ProductBody {
    /// Unique stock-keeping unit, 1–64 characters, not blank.
    pub sku: Sku,
    /// Display name, 1–200 characters.
    #[oai(validator(min_length = 1, max_length = 200, pattern = r"[^ \t\n\r\f\v]"))]
    pub name: String,
    /// Up to 2000 characters.
    #[oai(nullable, validator(max_length = 2000))]
    pub description: Option<String>,
    /// Up to 64 characters.
    #[oai(nullable, validator(max_length = 64))]
    pub category: Option<String>,
    /// Price, at most two decimals, never negative.
    pub price: Price,
}

/// A catalogue product.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct Product {
    /// UUIDv7.
    pub id: UuidText,
    /// Unique SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description; `null` when none was given.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Category; `null` when none was given.
    #[oai(nullable)]
    pub category: Option<String>,
    /// Price (two decimals).
    pub price: f64,
    /// RFC 3339.
    pub created_at: Timestamp,
    /// RFC 3339.
    pub updated_at: Timestamp,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Self {
            id: r.id.into(),
            sku: r.sku.into_inner(),
            name: r.name,
            description: r.description,
            category: r.category,
            price: r.price_cents as f64 / 100.0,
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
        }
    }
}

/// A page of products, oldest first (`created_at`, then `id`).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct ProductPage {
    /// The products of this page.
    pub data: Vec<Product>,
    /// Page size asked for.
    pub limit: i64,
    /// Offset asked for (0 when paging with `cursor`).
    pub offset: i64,
    /// Products matching the filter, over all pages.
    pub total: i64,
    /// Pass as `cursor` (without `offset`) to read the next page; `null` on the last page.
    /// Unlike an offset, it neither repeats nor skips a product when others are added or
    /// deleted meanwhile.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}
