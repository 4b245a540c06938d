//! Products: the catalogue. Products emit no events (as in the seed).

use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::page::{AfterInstant, Page, fetch_count};
use super::{OpError, OpResult, unique_violation};

/// A product as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRow {
    /// UUIDv7.
    pub id: String,
    /// Unique stock-keeping unit.
    pub sku: String,
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

/// A checked product body.
#[derive(Debug, Clone)]
pub struct ProductInput {
    /// 1–64 characters.
    pub sku: String,
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
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            sku: row.get("sku")?,
            name: row.get("name")?,
            description: row.get("description")?,
            category: row.get("category")?,
            price_cents: row.get("price_cents")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
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
            Uuid::now_v7().to_string(),
            input.sku,
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
            OpError::SkuTaken(input.sku.clone())
        } else {
            e.into()
        }
    })
}

/// Replaces a product's fields.
pub fn replace_product(
    conn: &Connection,
    id: &str,
    input: &ProductInput,
    at: &Timestamp,
) -> OpResult<ProductRow> {
    conn.prepare_cached(
        "UPDATE products SET sku = ?, name = ?, description = ?, category = ?, price_cents = ?, \
         updated_at = ? WHERE id = ? RETURNING *",
    )?
    .query_row(
        params![
            input.sku,
            input.name,
            input.description,
            input.category,
            input.price_cents,
            time::to_db(at),
            id
        ],
        ProductRow::from_row,
    )
    .optional()
    .map_err(|e| {
        if unique_violation(&e, "products.sku") {
            OpError::SkuTaken(input.sku.clone())
        } else {
            e.into()
        }
    })?
    .ok_or_else(|| OpError::ProductNotFound(id.to_owned()))
}

/// Whether the product still has units on hand or pending reservations anywhere.
fn product_in_use(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM stock WHERE product_id = ?1 AND quantity > 0) \
         OR EXISTS (SELECT 1 FROM reservations WHERE product_id = ?1 AND status = 'PENDING')",
    )?
    .query_row([id], |row| row.get(0))
}

/// Deletes a product with nothing on hand and nothing pending. Its empty stock rows and
/// finished reservations go with it (ON DELETE CASCADE); its events stay in the audit log.
pub fn delete_product(conn: &Connection, id: &str) -> OpResult<()> {
    if product_in_use(conn, id)? {
        return Err(OpError::ProductInUse(id.to_owned()));
    }
    let deleted = conn
        .prepare_cached("DELETE FROM products WHERE id = ?")?
        .execute([id])?;
    if deleted == 0 {
        return Err(OpError::ProductNotFound(id.to_owned()));
    }
    Ok(())
}

/// One product by id (a point read).
pub fn product_by_id(conn: &Connection, id: &str) -> OpResult<ProductRow> {
    conn.prepare_cached("SELECT * FROM products WHERE id = ?")?
        .query_row([id], ProductRow::from_row)
        .optional()?
        .ok_or_else(|| OpError::ProductNotFound(id.to_owned()))
}

/// One product by SKU (a point read).
pub fn product_by_sku(conn: &Connection, sku: &str) -> OpResult<ProductRow> {
    conn.prepare_cached("SELECT * FROM products WHERE sku = ?")?
        .query_row([sku], ProductRow::from_row)
        .optional()?
        .ok_or_else(|| OpError::SkuNotFound(sku.to_owned()))
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
        id: r.id.clone(),
    });
    Ok((page, total))
}

/// Whether a product exists (inside a write transaction).
pub fn product_exists(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)")?
        .query_row([id], |row| row.get(0))
}
