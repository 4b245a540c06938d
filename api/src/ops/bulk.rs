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
//!
//! Written against the storage seam ([`crate::store::Tx`]), through the stock rules; no SQL.

use inventory_shared::time::Timestamp;

use super::error::ItemRefusal;
use super::stock::{QuantityChange, StockRow, change_quantity, create_stock};
use super::{OpError, OpResult};
use crate::domain::{ProductId, Quantity, StoreId};
use crate::store::Tx;

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

fn set_one<T: Tx + ?Sized>(tx: &mut T, item: &BulkItem, at: &Timestamp) -> OpResult<ItemOutcome> {
    let Some(before) = tx.stock_row(&item.product_id, &item.store_id)? else {
        return create_stock(tx, &item.product_id, &item.store_id, item.quantity, at)
            .map(ItemOutcome::Created);
    };
    let set = QuantityChange::Set(item.quantity);
    let reason = item.reason.as_deref();
    let row = change_quantity(tx, &item.product_id, &item.store_id, set, None, reason, at)?;
    Ok(if row.version == before.version {
        ItemOutcome::Unchanged(row)
    } else {
        ItemOutcome::Updated(row)
    })
}

/// Sets every item's quantity in request order (see the module docs for the modes).
///
/// What it needs from a PostgreSQL unit of work: every row it touches is known from the input
/// before it runs, so the job declares them all up front: each item's (product, store) stock
/// row, locked `FOR UPDATE` in (product, store) order (a pair with no row yet is created by the
/// item, under the product's lock), and each item's product row, locked before any event
/// `seq` is drawn (it answers `product_exists` for a creation, and orders the product's events).
/// The items run in request order against those held rows; the HTTP edge refuses a request
/// naming a (product, store) twice, so no item reads another's change.
pub fn sync_stock<T: Tx + ?Sized>(
    tx: &mut T,
    items: &[BulkItem],
    mode: BulkMode,
    at: &Timestamp,
) -> OpResult<Vec<ItemResult>> {
    let mut results = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let outcome = match set_one(tx, item, at) {
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
