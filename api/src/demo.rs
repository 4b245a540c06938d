//! `--seed-demo`: the earlier system's sample catalogue and stock, loaded through
//! the normal operations so every stock row has its `stock.created` event. What exists already
//! (same SKU, same product × store) is skipped, so running it twice changes nothing.

use inventory_shared::time;

use crate::domain::{Quantity, Sku, StoreId};
use crate::ops::{OpError, OpResult};
use crate::ops::{products, stock};
use crate::state::AppState;
use crate::store::Declared;

/// The four demo stores.
pub const STORES: [&str; 4] = ["MAD-001", "BCN-001", "VAL-001", "SEV-001"];

/// (sku, name, category, price in cents, units per store in `STORES` order)
const CATALOGUE: [(&str, &str, &str, i64, [i64; 4]); 5] = [
    (
        "PROD-001",
        "Laptop HP Pavilion 15",
        "electronics",
        59_999,
        [10, 15, 5, 20],
    ),
    (
        "PROD-002",
        "Mouse Logitech MX Master 3",
        "accessories",
        9_999,
        [50, 30, 40, 35],
    ),
    (
        "PROD-003",
        "Teclado Mecánico RGB",
        "accessories",
        8_999,
        [20, 25, 0, 18],
    ),
    (
        "PROD-004",
        "Monitor LG 27\" 4K",
        "electronics",
        34_999,
        [5, 8, 3, 6],
    ),
    (
        "PROD-005",
        "Webcam Logitech C920",
        "accessories",
        7_999,
        [15, 20, 12, 10],
    ),
];

/// What the seeding did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// Products created.
    pub products: usize,
    /// Stock rows created.
    pub stock_rows: usize,
}

/// A store and quantity of the demo data as domain values (literals of this file).
fn demo_stock(store: &str, quantity: i64) -> OpResult<(StoreId, Quantity)> {
    let store = StoreId::parse(store).map_err(|why| {
        OpError::storage(
            "parsing a demo store id",
            anyhow::anyhow!("{store:?} {why}"),
        )
    })?;
    let quantity = Quantity::parse(quantity).map_err(|why| {
        OpError::storage(
            "parsing a demo quantity",
            anyhow::anyhow!("{quantity} {why}"),
        )
    })?;
    Ok((store, quantity))
}

/// Loads the demo data, skipping what exists.
pub async fn seed(state: &AppState) -> OpResult<Seeded> {
    let mut seeded = Seeded::default();
    for (sku, name, category, price_cents, units) in CATALOGUE {
        // A literal of this file: a SKU that does not parse is a bug here, found by the tests.
        let sku = Sku::parse(sku).map_err(|why| {
            OpError::storage("parsing a demo SKU", anyhow::anyhow!("{sku:?} {why}"))
        })?;
        let product_id = match state.reads.product_by_sku(&sku).await {
            Ok(existing) => existing.id,
            Err(OpError::SkuNotFound(_)) => {
                let input = products::ProductInput {
                    sku: sku.clone(),
                    name: name.to_owned(),
                    description: None,
                    category: Some(category.to_owned()),
                    price_cents,
                };
                let row = state
                    .writer
                    .write(Declared::default(), move |tx| {
                        products::insert_product(tx, &input, &time::now())
                    })
                    .await?;
                seeded.products += 1;
                row.id
            }
            Err(e) => return Err(e),
        };
        for (store, quantity) in STORES.into_iter().zip(units) {
            let product_id = product_id.clone();
            let (store, quantity) = demo_stock(store, quantity)?;
            let created = state
                .writer
                .write(Declared::default(), move |tx| {
                    stock::create_stock(tx, &product_id, &store, quantity, &time::now())
                })
                .await;
            match created {
                Ok(_) => seeded.stock_rows += 1,
                Err(OpError::StockExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(seeded)
}
