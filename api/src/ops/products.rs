//! Products: the catalogue. Products emit no events (as in the seed).

use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::page::{AfterInstant, Page, fetch_count};
use super::{OpError, OpResult, unique_violation};
pub use crate::domain::ProductRow;
use crate::domain::{ProductId, Sku};

/// A checked product body.
#[derive(Debug, Clone)]
pub struct ProductInput {
    /// Unique stock-keeping unit.
    pub sku: Sku,
    /// 1–200 characters.
    pub name: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// At most 64 characters.
    pub category: Option<String>,
    /// Minor units, never negative.
    pub price_cents: i64,
}

impl ProductRow {
    /// Maps a `products` row (`SELECT *` or `RETURNING *`).
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: ProductId::from_stored(row.get("id")?),
            sku: Sku::from_stored(row.get("sku")?),
            name: row.get("name")?,
            description: row.get("description")?,
            category: row.get("category")?,
            price_cents: row.get("price_cents")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

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

/// Inserts a product.
pub fn insert_product(
    conn: &Connection,
    input: &ProductInput,
    at: &Timestamp,
) -> OpResult<ProductRow> {
    let now = time::to_db(at);
    conn.prepare_cached(
        "INSERT INTO products (id, sku, name, description, category, price_cents, created_at, \
         updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )?
    .query_row(
        params![
            ProductId::mint().as_str(),
            input.sku.as_str(),
            input.name,
            input.description,
            input.category,
            input.price_cents,
            now,
            now
        ],
        ProductRow::from_row,
    )
    .map_err(|e| {
        if unique_violation(&e, "products.sku") {
            OpError::SkuTaken(input.sku.as_str().to_owned())
        } else {
            e.into()
        }
    })
}

/// Replaces a product's fields.
pub fn replace_product(
    conn: &Connection,
    id: &ProductId,
    input: &ProductInput,
    at: &Timestamp,
) -> OpResult<ProductRow> {
    conn.prepare_cached(
        "UPDATE products SET sku = ?, name = ?, description = ?, category = ?, price_cents = ?, \
         updated_at = ? WHERE id = ? RETURNING *",
    )?
    .query_row(
        params![
            input.sku.as_str(),
            input.name,
            input.description,
            input.category,
            input.price_cents,
            time::to_db(at),
            id.as_str()
        ],
        ProductRow::from_row,
    )
    .optional()
    .map_err(|e| {
        if unique_violation(&e, "products.sku") {
            OpError::SkuTaken(input.sku.as_str().to_owned())
        } else {
            e.into()
        }
    })?
    .ok_or_else(|| OpError::ProductNotFound(id.as_str().to_owned()))
}

/// Whether the product still has units on hand or pending reservations anywhere.
fn product_in_use(conn: &Connection, id: &ProductId) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM stock WHERE product_id = ?1 AND quantity > 0) \
         OR EXISTS (SELECT 1 FROM reservations WHERE product_id = ?1 AND status = 'PENDING')",
    )?
    .query_row([id.as_str()], |row| row.get(0))
}

/// Deletes a product with nothing on hand and nothing pending. Its empty stock rows and
/// finished reservations go with it (ON DELETE CASCADE); its events stay in the audit log.
pub fn delete_product(conn: &Connection, id: &ProductId) -> OpResult<()> {
    if product_in_use(conn, id)? {
        return Err(OpError::ProductInUse(id.as_str().to_owned()));
    }
    let deleted = conn
        .prepare_cached("DELETE FROM products WHERE id = ?")?
        .execute([id.as_str()])?;
    if deleted == 0 {
        return Err(OpError::ProductNotFound(id.as_str().to_owned()));
    }
    Ok(())
}

/// One product by id (a point read).
pub fn product_by_id(conn: &Connection, id: &ProductId) -> OpResult<ProductRow> {
    conn.prepare_cached("SELECT * FROM products WHERE id = ?")?
        .query_row([id.as_str()], ProductRow::from_row)
        .optional()?
        .ok_or_else(|| OpError::ProductNotFound(id.as_str().to_owned()))
}

/// One product by SKU (a point read).
pub fn product_by_sku(conn: &Connection, sku: &Sku) -> OpResult<ProductRow> {
    conn.prepare_cached("SELECT * FROM products WHERE sku = ?")?
        .query_row([sku.as_str()], ProductRow::from_row)
        .optional()?
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
    db: &SqlitePool,
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
    let rows = query.fetch_all(db).await?;
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
