//! The inventory operations: small SQL functions plus the rules around them.
//!
//! Writes are plain functions on the writer thread's `rusqlite::Connection`, already inside
//! `BEGIN IMMEDIATE` (see [`crate::writer`]), and append their event with
//! [`inventory_shared::outbox::append_event_blocking`] on that same connection, so the change
//! and its event commit or roll back together. Reads are async and take the sqlx reader pool.

pub mod events;
pub mod products;
pub mod reservations;
pub mod stock;

use crate::error::ApiError;

/// Largest quantity a stock row or request may hold.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// `SQLITE_CONSTRAINT_UNIQUE` naming `table.column`: callers turn it into their own 409.
pub(crate) fn unique_violation(err: &rusqlite::Error, column: &str) -> bool {
    match err {
        rusqlite::Error::SqliteFailure(e, Some(message)) => {
            e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE && message.contains(column)
        }
        _ => false,
    }
}

/// 404 PRODUCT_NOT_FOUND.
pub(crate) fn product_not_found(id: &str) -> ApiError {
    ApiError::NotFound("PRODUCT_NOT_FOUND", format!("product {id} does not exist"))
}

/// 404 STOCK_NOT_FOUND.
pub(crate) fn stock_not_found(product_id: &str, store_id: &str) -> ApiError {
    ApiError::NotFound(
        "STOCK_NOT_FOUND",
        format!("product {product_id} has no stock row in store {store_id}"),
    )
}
