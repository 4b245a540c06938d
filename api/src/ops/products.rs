//! Products: the catalogue. Products emit no events (as in the seed).
//!
//! The writes and the point reads are written against the storage seam
//! ([`crate::store::Tx`], [`ProductTx`](crate::store::ProductTx)) and hold no SQL; a SKU that
//! another product has is a refusal of the store ([`SkuTaken`]), answered here as
//! [`OpError::SkuTaken`]. The list is still an sqlx read here, until the read side gets its
//! seam.

use inventory_shared::time::{self, Timestamp};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::page::{AfterInstant, Page, fetch_count};
use super::{OpError, OpResult};
use crate::domain::{ProductId, Sku};
pub use crate::domain::{ProductInput, ProductRow};
use crate::store::Tx;
use crate::store::products::SkuTaken;

/// Maps a `products` row read with sqlx (the list).
impl<'r> sqlx::FromRow<'r, SqliteRow> for ProductRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: ProductId::from_stored(row.try_get("id")?),
            sku: Sku::from_stored(row.try_get("sku")?),
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            category: row.try_get("category")?,
            price_cents: row.try_get("price_cents")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The refusal of a write whose SKU another product has.
fn sku_taken(input: &ProductInput) -> OpError {
    OpError::SkuTaken(input.sku.as_str().to_owned())
}

/// Inserts a product.
pub fn insert_product<T: Tx + ?Sized>(
    tx: &mut T,
    input: &ProductInput,
    at: &Timestamp,
) -> OpResult<ProductRow> {
    let now = time::to_db(at);
    tx.insert_product(&ProductId::mint(), input, &now)?
        .map_err(|SkuTaken| sku_taken(input))
}

/// Replaces a product's fields.
pub fn replace_product<T: Tx + ?Sized>(
    tx: &mut T,
    id: &ProductId,
    input: &ProductInput,
    at: &Timestamp,
) -> OpResult<ProductRow> {
    tx.replace_product(id, input, &time::to_db(at))?
        .map_err(|SkuTaken| sku_taken(input))?
        .ok_or_else(|| OpError::ProductNotFound(id.as_str().to_owned()))
}

/// Deletes a product with nothing on hand and nothing pending. Its empty stock rows and
/// finished reservations go with it (ON DELETE CASCADE); its events stay in the audit log.
pub fn delete_product<T: Tx + ?Sized>(tx: &mut T, id: &ProductId) -> OpResult<()> {
    if tx.product_in_use(id)? {
        return Err(OpError::ProductInUse(id.as_str().to_owned()));
    }
    if !tx.delete_product(id)? {
        return Err(OpError::ProductNotFound(id.as_str().to_owned()));
    }
    Ok(())
}

/// One product by id (a point read: the caller's [`Tx`] may be on a read connection).
pub fn product_by_id<T: Tx + ?Sized>(tx: &mut T, id: &ProductId) -> OpResult<ProductRow> {
    tx.product(id)?
        .ok_or_else(|| OpError::ProductNotFound(id.as_str().to_owned()))
}

/// One product by SKU (a point read: the caller's [`Tx`] may be on a read connection).
pub fn product_by_sku<T: Tx + ?Sized>(tx: &mut T, sku: &Sku) -> OpResult<ProductRow> {
    tx.product_with_sku(sku)?
        .ok_or_else(|| OpError::SkuNotFound(sku.as_str().to_owned()))
}

/// Products, oldest first, after skipping some.
pub const PRODUCTS_AT_OFFSET: &str =
    "SELECT * FROM products ORDER BY created_at, id LIMIT ? OFFSET ?";

/// Products of a category, oldest first, after skipping some.
pub const CATEGORY_AT_OFFSET: &str =
    "SELECT * FROM products WHERE category = ? ORDER BY created_at, id LIMIT ? OFFSET ?";

/// Products after (created, id).
pub const PRODUCTS_AFTER: &str = "SELECT * FROM products WHERE (created_at, id) > (?, ?) \
     ORDER BY created_at, id LIMIT ?";

/// Products of a category after (created, id).
pub const CATEGORY_AFTER: &str = "SELECT * FROM products WHERE category = ? \
     AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?";

/// Where a page of products starts.
#[derive(Debug, Clone, Copy)]
pub enum ProductsFrom<'a> {
    /// After skipping this many products (offset paging, kept for existing clients).
    Offset(i64),
    /// After this product (keyset paging: stable under inserts and deletes).
    After(&'a AfterInstant),
}

/// A page of products, oldest first (`created_at`, then `id`), optionally of one category, and
/// the filtered total. Either way the page carries the key of its last row when more follow,
/// so an offset walk can switch to the cursor at any page.
pub async fn list_products(
    db: &mut SqliteConnection,
    category: Option<&str>,
    from: ProductsFrom<'_>,
    limit: i64,
) -> OpResult<(Page<ProductRow, AfterInstant>, i64)> {
    let fetch = fetch_count(limit);
    let query = match (category, from) {
        (None, ProductsFrom::Offset(offset)) => {
            sqlx::query_as(PRODUCTS_AT_OFFSET).bind(fetch).bind(offset)
        }
        (Some(category), ProductsFrom::Offset(offset)) => sqlx::query_as(CATEGORY_AT_OFFSET)
            .bind(category)
            .bind(fetch)
            .bind(offset),
        (None, ProductsFrom::After(after)) => sqlx::query_as(PRODUCTS_AFTER)
            .bind(after.at.as_str())
            .bind(after.id.as_str())
            .bind(fetch),
        (Some(category), ProductsFrom::After(after)) => sqlx::query_as(CATEGORY_AFTER)
            .bind(category)
            .bind(after.at.as_str())
            .bind(after.id.as_str())
            .bind(fetch),
    };
    let rows = query.fetch_all(&mut *db).await?;
    let total = match category {
        None => sqlx::query_scalar("SELECT COUNT(*) FROM products"),
        Some(category) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM products WHERE category = ?").bind(category)
        }
    }
    .fetch_one(db)
    .await?;
    let page = Page::from_rows(rows, limit, |r: &ProductRow| AfterInstant {
        at: r.created_at.clone(),
        id: r.id.as_str().to_owned(),
    });
    Ok((page, total))
}
