//! Stock rows (one per product × store) and the changes to them: create, set, adjust,
//! transfer. Every change bumps `version` and appends its event in the same transaction.
//!
//! Read-then-write inside one write transaction is safe here: the transaction holds SQLite's
//! write lock from `BEGIN IMMEDIATE`, so no other writer can change the row in between. The
//! updates still carry `version = ?` as a second guard.

use inventory_shared::events::{NewEvent, StockCreated, StockTransferred, StockUpdated};
use inventory_shared::outbox::append_event;
use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{MAX_QUANTITY, OpError, OpResult};
pub use crate::domain::StockRow;
use crate::domain::{Adjustment, PositiveQuantity, ProductId, Quantity, StoreId};
pub use crate::store::sqlite::{product_exists, stock_row};

/// Maps a stock row read with sqlx (the lists), by column name.
impl<'r> sqlx::FromRow<'r, SqliteRow> for StockRow {
    fn from_row(row: &'r SqliteRow) -> sqlx::Result<Self> {
        Ok(Self {
            product_id: ProductId::from_stored(row.try_get("product_id")?),
            store_id: StoreId::from_stored(row.try_get("store_id")?),
            quantity: Quantity::from_stored(row.try_get("quantity")?),
            reserved: Quantity::from_stored(row.try_get("reserved")?),
            version: row.try_get("version")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Creates the stock row of a product in a store (`stock.created`).
pub fn create_stock(
    conn: &Connection,
    product_id: &ProductId,
    store_id: &StoreId,
    quantity: Quantity,
    at: &Timestamp,
) -> OpResult<StockRow> {
    if !product_exists(conn, product_id)? {
        return Err(OpError::ProductNotFound(product_id.as_str().to_owned()));
    }
    let now = time::to_db(at);
    let row = conn
        .prepare_cached(
            "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
             updated_at) VALUES (?1, ?2, ?3, 0, 1, ?4, ?4) ON CONFLICT (product_id, store_id) \
             DO NOTHING RETURNING product_id, store_id, quantity, reserved, version, updated_at",
        )?
        .query_row(
            params![product_id.as_str(), store_id.as_str(), quantity.get(), now],
            StockRow::from_row,
        )
        .optional()?;
    let row = row.ok_or_else(|| OpError::StockExists {
        product_id: product_id.as_str().to_owned(),
        store_id: store_id.as_str().to_owned(),
    })?;
    let event = NewEvent::StockCreated(StockCreated {
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        quantity: row.quantity.get(),
        reason: "initial_stock".to_owned(),
        version: row.version,
    });
    append_event(conn, &event, at)?;
    Ok(row)
}

/// How a quantity change is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityChange {
    /// `PUT`: set on-hand to this value.
    Set(Quantity),
    /// `adjust`: add this delta (0 changes nothing).
    Add(Adjustment),
}

/// Sets or adjusts on-hand units (`stock.updated`), honouring `If-Match`.
pub fn change_quantity(
    conn: &Connection,
    product_id: &ProductId,
    store_id: &StoreId,
    change: QuantityChange,
    expected_version: Option<i64>,
    reason: Option<&str>,
    at: &Timestamp,
) -> OpResult<StockRow> {
    let current = stock_row(conn, product_id, store_id)?
        .ok_or_else(|| OpError::stock_not_found(product_id, store_id))?;
    if let Some(expected) = expected_version
        && expected != current.version
    {
        return Err(OpError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    let (quantity, reserved) = (current.quantity.get(), current.reserved.get());
    let new_quantity = match change {
        QuantityChange::Set(q) => q.get(),
        QuantityChange::Add(delta) => quantity + delta.get(),
    };
    if new_quantity < reserved {
        return Err(OpError::QuantityBelowReserved {
            quantity: new_quantity,
            reserved,
        });
    }
    if new_quantity > MAX_QUANTITY {
        let field = match change {
            QuantityChange::Set(_) => "quantity",
            QuantityChange::Add(_) => "adjustment",
        };
        return Err(OpError::OutOfRange {
            field,
            message: format!("the result ({new_quantity}) would exceed {MAX_QUANTITY} units"),
        });
    }
    // Nothing changes: no version bump, no `stock.updated` with `change: 0`; the caller gets
    // the row as it is (If-Match was still checked above).
    if new_quantity == quantity {
        return Ok(current);
    }
    let row = conn
        .prepare_cached(
            "UPDATE stock SET quantity = ?, version = version + 1, updated_at = ? \
             WHERE product_id = ? AND store_id = ? AND version = ? \
             RETURNING product_id, store_id, quantity, reserved, version, updated_at",
        )?
        .query_row(
            params![
                new_quantity,
                time::to_db(at),
                product_id.as_str(),
                store_id.as_str(),
                current.version
            ],
            StockRow::from_row,
        )?;
    let default_reason = match change {
        QuantityChange::Set(q) if q.get() > quantity => "restock",
        _ => "adjustment",
    };
    let event = NewEvent::StockUpdated(StockUpdated {
        product_id: row.product_id.as_str().to_owned(),
        store_id: row.store_id.as_str().to_owned(),
        previous_quantity: quantity,
        new_quantity: row.quantity.get(),
        change: row.quantity.get() - quantity,
        reason: reason.unwrap_or(default_reason).to_owned(),
        reserved: row.reserved.get(),
        version: row.version,
    });
    append_event(conn, &event, at)?;
    Ok(row)
}

/// A completed transfer.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Source row after.
    pub from: StockRow,
    /// Destination row after.
    pub to: StockRow,
}

/// Moves available units between two stores of one product in one transaction, creating the
/// destination row when missing (`stock.transferred`). The two stores must differ
/// ([`OpError::SameStore`], refused before anything is read or written).
pub fn transfer(
    conn: &Connection,
    product_id: &ProductId,
    from_store: &StoreId,
    to_store: &StoreId,
    quantity: PositiveQuantity,
    reason: Option<&str>,
    at: &Timestamp,
) -> OpResult<Transfer> {
    if from_store == to_store {
        return Err(OpError::SameStore {
            store_id: from_store.as_str().to_owned(),
        });
    }
    let source = match stock_row(conn, product_id, from_store)? {
        Some(row) => row,
        None if !product_exists(conn, product_id)? => {
            return Err(OpError::ProductNotFound(product_id.as_str().to_owned()));
        }
        None => return Err(OpError::stock_not_found(product_id, from_store)),
    };
    let quantity = quantity.get();
    if source.available() < quantity {
        return Err(insufficient(quantity, source.available(), from_store));
    }
    let destination = stock_row(conn, product_id, to_store)?;
    if destination.as_ref().map_or(0, |d| d.quantity.get()) + quantity > MAX_QUANTITY {
        return Err(OpError::OutOfRange {
            field: "quantity",
            message: format!("the destination would exceed {MAX_QUANTITY} units"),
        });
    }
    let now = time::to_db(at);
    let from = conn
        .prepare_cached(
            "UPDATE stock SET quantity = quantity - ?1, version = version + 1, updated_at = ?2 \
             WHERE product_id = ?3 AND store_id = ?4 AND quantity - reserved >= ?1 \
             RETURNING product_id, store_id, quantity, reserved, version, updated_at",
        )?
        .query_row(
            params![quantity, now, product_id.as_str(), from_store.as_str()],
            StockRow::from_row,
        )?;
    let to = conn
        .prepare_cached(
            "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
             updated_at) VALUES (?1, ?2, ?3, 0, 1, ?4, ?4) \
             ON CONFLICT (product_id, store_id) DO UPDATE SET \
             quantity = quantity + excluded.quantity, version = version + 1, \
             updated_at = excluded.updated_at \
             RETURNING product_id, store_id, quantity, reserved, version, updated_at",
        )?
        .query_row(
            params![product_id.as_str(), to_store.as_str(), quantity, now],
            StockRow::from_row,
        )?;
    let event = NewEvent::StockTransferred(StockTransferred {
        product_id: product_id.as_str().to_owned(),
        from_store: from_store.as_str().to_owned(),
        to_store: to_store.as_str().to_owned(),
        quantity,
        reason: reason.unwrap_or("transfer").to_owned(),
        from_new_quantity: from.quantity.get(),
        to_new_quantity: to.quantity.get(),
        from_version: from.version,
        to_version: to.version,
        to_created: destination.is_none(),
    });
    append_event(conn, &event, at)?;
    Ok(Transfer { from, to })
}

/// Fewer units available than requested.
pub(crate) fn insufficient(requested: i64, available: i64, store_id: &StoreId) -> OpError {
    OpError::InsufficientStock {
        requested,
        available,
        store_id: store_id.as_str().to_owned(),
    }
}

/// One stock row (a point read).
pub fn get_stock(
    conn: &Connection,
    product_id: &ProductId,
    store_id: &StoreId,
) -> OpResult<StockRow> {
    stock_row(conn, product_id, store_id)?
        .ok_or_else(|| OpError::stock_not_found(product_id, store_id))
}
