//! Bulk stock sync: an ERP/WMS sets the on-hand quantity of many rows in one call.
//!
//! Each item is exactly a `PUT /stock/{product}/{store}` ([`change_quantity`] with
//! [`QuantityChange::Set`]: no-op when unchanged, `stock.updated` otherwise, refused below
//! `reserved`), or a `POST /stock` ([`create_stock`], `stock.created`) when the row does not
//! exist yet. The whole call is one write job, so it is one transaction (one savepoint of the
//! writer's group commit): in all-or-nothing mode one refused item makes the job fail and
//! nothing is applied. In per-item mode the refused items are reported and the others kept;
//! that is safe because every refusal happens before its item writes anything. A storage
//! failure always fails the whole call.

use inventory_shared::time::Timestamp;
use rusqlite::Connection;

use super::error::ItemRefusal;
use super::stock::{QuantityChange, StockRow, change_quantity, create_stock, stock_row};
use super::{OpError, OpResult};
use crate::domain::{ProductId, Quantity, StoreId};

/// How refusals are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMode {
    /// Any refused item: nothing is applied ([`OpError::BulkRefused`]).
    AllOrNothing,
    /// Each item on its own: the refused ones are reported, the others applied.
    PerItem,
}

/// One row to set.
#[derive(Debug, Clone)]
pub struct BulkItem {
    /// Product.
    pub product_id: ProductId,
    /// Store.
    pub store_id: StoreId,
    /// The on-hand quantity to set.
    pub quantity: Quantity,
    /// Why (the `stock.updated` reason; default as for `PUT`).
    pub reason: Option<String>,
}

/// What happened to one applied item.
#[derive(Debug, Clone)]
pub enum ItemOutcome {
    /// The row did not exist and was created (`stock.created`).
    Created(StockRow),
    /// The quantity changed (`stock.updated`).
    Updated(StockRow),
    /// It already had that quantity: no version bump, no event.
    Unchanged(StockRow),
}

/// One item's result, in request order.
#[derive(Debug)]
pub struct ItemResult {
    /// Position in the request.
    pub index: usize,
    /// Product.
    pub product_id: ProductId,
    /// Store.
    pub store_id: StoreId,
    /// The row after, or why the item was refused.
    pub outcome: Result<ItemOutcome, OpError>,
}

fn set_one(conn: &Connection, item: &BulkItem, at: &Timestamp) -> OpResult<ItemOutcome> {
    let Some(before) = stock_row(conn, &item.product_id, &item.store_id)? else {
        return create_stock(conn, &item.product_id, &item.store_id, item.quantity, at)
            .map(ItemOutcome::Created);
    };
    let set = QuantityChange::Set(item.quantity);
    let reason = item.reason.as_deref();
    let row = change_quantity(
        conn,
        &item.product_id,
        &item.store_id,
        set,
        None,
        reason,
        at,
    )?;
    Ok(if row.version == before.version {
        ItemOutcome::Unchanged(row)
    } else {
        ItemOutcome::Updated(row)
    })
}

/// Sets every item's quantity in request order (see the module docs for the modes).
pub fn sync_stock(
    conn: &Connection,
    items: &[BulkItem],
    mode: BulkMode,
    at: &Timestamp,
) -> OpResult<Vec<ItemResult>> {
    let mut results = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let outcome = match set_one(conn, item, at) {
            Err(e @ (OpError::Storage(_) | OpError::ShuttingDown)) => return Err(e),
            other => other,
        };
        results.push(ItemResult {
            index,
            product_id: item.product_id.clone(),
            store_id: item.store_id.clone(),
            outcome,
        });
    }
    if mode == BulkMode::AllOrNothing && results.iter().any(|r| r.outcome.is_err()) {
        let refused = results
            .into_iter()
            .filter_map(|r| {
                r.outcome.err().map(|error| ItemRefusal {
                    index: r.index,
                    product_id: r.product_id.into_inner(),
                    store_id: r.store_id.into_inner(),
                    error,
                })
            })
            .collect();
        return Err(OpError::BulkRefused(refused));
    }
    Ok(results)
}
