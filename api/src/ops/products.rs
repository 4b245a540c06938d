//! Products: the catalogue. Products emit no events (as in the seed).

use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;
use uuid::Uuid;

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

/// A page of products (oldest first), optionally of one category, and the filtered total.
pub async fn list_products(
    db: &SqlitePool,
    category: Option<&str>,
    limit: i64,
    offset: i64,
) -> OpResult<(Vec<ProductRow>, i64)> {
    let rows = sqlx::query_as(
        "SELECT * FROM products WHERE (?1 IS NULL OR category = ?1) \
         ORDER BY created_at, id LIMIT ?2 OFFSET ?3",
    )
    .bind(category)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total =
        sqlx::query_scalar("SELECT COUNT(*) FROM products WHERE (?1 IS NULL OR category = ?1)")
            .bind(category)
            .fetch_one(db)
            .await?;
    Ok((rows, total))
}

/// Whether a product exists (inside a write transaction).
pub fn product_exists(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)")?
        .query_row([id], |row| row.get(0))
}
