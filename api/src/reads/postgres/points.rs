//! Point reads on PostgreSQL: one row (or one hold with its lines) by its key, as SQLite's
//! [`crate::reads::point`] reads answer.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::domain::{
    HoldId, ProductId, ProductRow, ReservationId, ReservationRow, Sku, StockRow, StoreId,
};
use crate::ops::holds::Hold;
use crate::ops::{OpError, OpResult};
use crate::store::postgres::rows::{
    hold_row_prefixed, product_row, reservation_row, select_product, select_reservation, stock_row,
};

/// One reservation, or [`OpError::ReservationNotFound`] (`ops::reservations::get_reservation`).
pub async fn reservation(db: &mut PgConnection, id: &ReservationId) -> OpResult<ReservationRow> {
    sqlx::query(concat!(select_reservation!(), " WHERE id = $1::uuid"))
        .bind(id.as_str())
        .try_map(|row: PgRow| reservation_row(&row))
        .fetch_optional(db)
        .await?
        .ok_or_else(|| OpError::ReservationNotFound(id.as_str().to_owned()))
}

/// One hold with its lines in (product, store) order, or [`OpError::HoldNotFound`]
/// (`ops::holds::get_hold`). One statement: the hold joined to its lines (SQLite reads them
/// in two statements on one connection).
pub async fn hold(db: &mut PgConnection, id: &HoldId) -> OpResult<Hold> {
    let rows = sqlx::query(
        "SELECT h.id::text AS h_id, h.customer_id AS h_customer_id, h.status AS h_status, \
                h.expires_at AS h_expires_at, h.unfulfilled AS h_unfulfilled, \
                h.created_at AS h_created_at, h.updated_at AS h_updated_at, \
                r.id::text AS id, r.product_id::text AS product_id, r.store_id, \
                r.customer_id, r.quantity, r.status, r.expires_at, r.created_at, \
                r.updated_at, r.hold_id::text AS hold_id \
         FROM holds AS h LEFT JOIN reservations AS r ON r.hold_id = h.id \
         WHERE h.id = $1::uuid \
         ORDER BY r.product_id, r.store_id COLLATE \"C\"",
    )
    .bind(id.as_str())
    .fetch_all(db)
    .await?;
    let Some(first) = rows.first() else {
        return Err(OpError::HoldNotFound(id.as_str().to_owned()));
    };
    let hold = hold_row_prefixed(first, "h_")?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<String>, _>("id")?.is_some() {
            lines.push(reservation_row(row)?);
        }
    }
    Ok(Hold { hold, lines })
}

/// One stock row, or [`OpError::StockNotFound`] whether or not the product exists, as on
/// SQLite (`ops::stock::get_stock`).
pub async fn stock(
    db: &mut PgConnection,
    product_id: &ProductId,
    store_id: &StoreId,
) -> OpResult<StockRow> {
    sqlx::query(
        "SELECT product_id::text AS product_id, store_id, quantity, reserved, version, \
                updated_at \
         FROM stock WHERE product_id = $1::uuid AND store_id = $2",
    )
    .bind(product_id.as_str())
    .bind(store_id.as_str())
    .try_map(|row: PgRow| stock_row(&row))
    .fetch_optional(db)
    .await?
    .ok_or_else(|| OpError::stock_not_found(product_id, store_id))
}

/// One product by id, or [`OpError::ProductNotFound`] (`ops::products::product_by_id`).
pub async fn product(db: &mut PgConnection, id: &ProductId) -> OpResult<ProductRow> {
    sqlx::query(concat!(select_product!(), " WHERE id = $1::uuid"))
        .bind(id.as_str())
        .try_map(|row: PgRow| product_row(&row))
        .fetch_optional(db)
        .await?
        .ok_or_else(|| OpError::ProductNotFound(id.as_str().to_owned()))
}

/// One product by SKU, or [`OpError::SkuNotFound`] (`ops::products::product_by_sku`).
pub async fn product_by_sku(db: &mut PgConnection, sku: &Sku) -> OpResult<ProductRow> {
    sqlx::query(concat!(select_product!(), " WHERE sku = $1"))
        .bind(sku.as_str())
        .try_map(|row: PgRow| product_row(&row))
        .fetch_optional(db)
        .await?
        .ok_or_else(|| OpError::SkuNotFound(sku.as_str().to_owned()))
}
