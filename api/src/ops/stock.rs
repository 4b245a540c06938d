//! Stock rows (one per product × store) and the changes to them: create, set, adjust,
//! transfer. Every change bumps `version` and appends its event in the same transaction.
//!
//! The rules are written against the storage seam ([`crate::store::Tx`]) and hold no SQL.
//! Read-then-write is safe here because of what the seam promises: a rule reads the row and
//! changes it inside one transaction that holds the row from before the read until commit
//! (SQLite's write lock, taken by the writer's `BEGIN IMMEDIATE`; PostgreSQL's `FOR UPDATE` row
//! lock, taken up front by the unit of work), so no other writer changes it in between, nor
//! creates a row read as missing (a transfer's destination: on PostgreSQL the product's row,
//! which the unit of work locks too, serialises that). The changes still carry their guards
//! ([`StockTx::set_quantity`]'s expected version, [`StockTx::transfer_out_units`]'s "at least n
//! available"); a refusal there would mean the row changed while held, which is a storage
//! failure, not an answer.
//!
//! [`StockTx::set_quantity`]: crate::store::StockTx::set_quantity
//! [`StockTx::transfer_out_units`]: crate::store::StockTx::transfer_out_units

use inventory_shared::events::{NewEvent, StockCreated, StockTransferred, StockUpdated};
use inventory_shared::time::{self, Timestamp};

use super::{MAX_QUANTITY, OpError, OpResult};
pub use crate::domain::StockRow;
use crate::domain::{Adjustment, PositiveQuantity, ProductId, Quantity, StoreId};
use crate::store::Tx;

/// A guarded change refused on a row the transaction holds: the seam's promise broke, so it is
/// a storage failure (500), as the driver's "no row" was before the seam.
fn changed_while_held(product_id: &ProductId, store_id: &StoreId) -> OpError {
    OpError::Storage(anyhow::anyhow!(
        "stock row ({}, {}) changed while the transaction held it",
        product_id.as_str(),
        store_id.as_str()
    ))
}

/// Creates the stock row of a product in a store (`stock.created`).
pub fn create_stock<T: Tx + ?Sized>(
    tx: &mut T,
    product_id: &ProductId,
    store_id: &StoreId,
    quantity: Quantity,
    at: &Timestamp,
) -> OpResult<StockRow> {
    if !tx.product_exists(product_id)? {
        return Err(OpError::ProductNotFound(product_id.as_str().to_owned()));
    }
    let now = time::to_db(at);
    let row = tx.create_stock_row(product_id, store_id, quantity, &now)?;
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
    tx.append_event(&event, at)?;
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
pub fn change_quantity<T: Tx + ?Sized>(
    tx: &mut T,
    product_id: &ProductId,
    store_id: &StoreId,
    change: QuantityChange,
    expected_version: Option<i64>,
    reason: Option<&str>,
    at: &Timestamp,
) -> OpResult<StockRow> {
    let current = tx
        .stock_row(product_id, store_id)?
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
    // Not below `reserved` (never negative), so out of range means above the largest.
    let Ok(target) = Quantity::parse(new_quantity) else {
        let field = match change {
            QuantityChange::Set(_) => "quantity",
            QuantityChange::Add(_) => "adjustment",
        };
        return Err(OpError::OutOfRange {
            field,
            message: format!("the result ({new_quantity}) would exceed {MAX_QUANTITY} units"),
        });
    };
    // Nothing changes: no version bump, no `stock.updated` with `change: 0`; the caller gets
    // the row as it is (If-Match was still checked above).
    if new_quantity == quantity {
        return Ok(current);
    }
    let row = tx
        .set_quantity(
            product_id,
            store_id,
            target,
            current.version,
            &time::to_db(at),
        )?
        .ok_or_else(|| changed_while_held(product_id, store_id))?;
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
    tx.append_event(&event, at)?;
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
pub fn transfer<T: Tx + ?Sized>(
    tx: &mut T,
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
    let source = match tx.stock_row(product_id, from_store)? {
        Some(row) => row,
        None if !tx.product_exists(product_id)? => {
            return Err(OpError::ProductNotFound(product_id.as_str().to_owned()));
        }
        None => return Err(OpError::stock_not_found(product_id, from_store)),
    };
    let units = quantity.get();
    if source.available() < units {
        return Err(insufficient(units, source.available(), from_store));
    }
    let destination = tx.stock_row(product_id, to_store)?;
    if destination.as_ref().map_or(0, |d| d.quantity.get()) + units > MAX_QUANTITY {
        return Err(OpError::OutOfRange {
            field: "quantity",
            message: format!("the destination would exceed {MAX_QUANTITY} units"),
        });
    }
    let now = time::to_db(at);
    let from = tx
        .transfer_out_units(product_id, from_store, quantity, &now)?
        .ok_or_else(|| changed_while_held(product_id, from_store))?;
    let to = tx.transfer_in_units(product_id, to_store, quantity, &now)?;
    let event = NewEvent::StockTransferred(StockTransferred {
        product_id: product_id.as_str().to_owned(),
        from_store: from_store.as_str().to_owned(),
        to_store: to_store.as_str().to_owned(),
        quantity: units,
        reason: reason.unwrap_or("transfer").to_owned(),
        from_new_quantity: from.quantity.get(),
        to_new_quantity: to.quantity.get(),
        from_version: from.version,
        to_version: to.version,
        to_created: destination.is_none(),
    });
    tx.append_event(&event, at)?;
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
pub fn get_stock<T: Tx + ?Sized>(
    tx: &mut T,
    product_id: &ProductId,
    store_id: &StoreId,
) -> OpResult<StockRow> {
    tx.stock_row(product_id, store_id)?
        .ok_or_else(|| OpError::stock_not_found(product_id, store_id))
}
