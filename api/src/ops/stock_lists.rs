//! The stock lists, a keyset page at a time (see [`super::page`]): a product's rows, a store's
//! rows, and the rows with few units available. Each page is one range scan of an index whose
//! columns are the list's order (`migrations/20261203000005_paging.sql`).
//!
//! The first page starts after the smallest key: `''` sorts before every id, and `-1` below
//! every `available` (the schema keeps `reserved <= quantity`), so one statement serves the first
//! page and the next ones.

use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, SqliteConnection};

use super::page::{AfterAvailable, AfterText, Page, fetch_count};
use super::stock::StockRow;
use super::{OpError, OpResult};
use crate::domain::{ProductId, Quantity, StoreId};

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

/// A product's rows after a store id (`''` for the first page).
pub const PRODUCT_PAGE: &str = "SELECT product_id, store_id, quantity, reserved, version, \
     updated_at FROM stock WHERE product_id = ? AND store_id > ? ORDER BY store_id LIMIT ?";

/// A product's totals over every store.
pub const PRODUCT_TOTALS: &str = "SELECT COALESCE(SUM(quantity), 0), COALESCE(SUM(reserved), 0) \
     FROM stock WHERE product_id = ?";

/// A store's rows after a product id (`''` for the first page).
pub const STORE_PAGE: &str = "SELECT product_id, store_id, quantity, reserved, version, \
     updated_at FROM stock WHERE store_id = ? AND product_id > ? ORDER BY product_id LIMIT ?";

/// The low-stock indexes hold only rows with fewer available units than this (their `WHERE`
/// in `migrations/20261203000005_paging.sql`), so that a reservation on a well-stocked row
/// does not pay for them. A threshold up to this is served by them; a higher one by a scan.
pub const LOW_STOCK_INDEXED_BELOW: i64 = 1000;

/// Low rows of every store after (available, product, store). The literal `available < 1000`
/// repeats the partial index's `WHERE`: SQLite uses a partial index only for a query that
/// states its condition, and a bound threshold does not.
pub const LOW_PAGE: &str = "SELECT product_id, store_id, quantity, reserved, version, \
     updated_at FROM stock WHERE (available, product_id, store_id) > (?, ?, ?) \
     AND available < ? AND available < 1000 ORDER BY available, product_id, store_id LIMIT ?";

/// Low rows of one store after (available, product): within a store the store is constant.
pub const LOW_IN_STORE_PAGE: &str = "SELECT product_id, store_id, quantity, reserved, version, \
     updated_at FROM stock WHERE store_id = ? AND (available, product_id) > (?, ?) \
     AND available < ? AND available < 1000 ORDER BY available, product_id LIMIT ?";

/// [`LOW_PAGE`] for a threshold above [`LOW_STOCK_INDEXED_BELOW`]: a scan of the table.
pub const LOW_PAGE_SCAN: &str = "SELECT product_id, store_id, quantity, reserved, version, \
     updated_at FROM stock WHERE (available, product_id, store_id) > (?, ?, ?) \
     AND available < ? ORDER BY available, product_id, store_id LIMIT ?";

/// [`LOW_IN_STORE_PAGE`] for a threshold above [`LOW_STOCK_INDEXED_BELOW`]: a scan of the
/// store's rows.
pub const LOW_IN_STORE_PAGE_SCAN: &str = "SELECT product_id, store_id, quantity, reserved, \
     version, updated_at FROM stock WHERE store_id = ? AND (available, product_id) > (?, ?) \
     AND available < ? ORDER BY available, product_id LIMIT ?";

/// A page of one product's rows, by store id.
#[derive(Debug, Clone)]
pub struct ProductStockPage {
    /// The page.
    pub page: Page<StockRow, AfterText>,
    /// Sum of `quantity` over every store, not only this page.
    pub total_quantity: i64,
    /// Sum of `reserved` over every store.
    pub total_reserved: i64,
}

/// A page of one product's rows, by store id, and its totals over every store, read in one
/// transaction so that they agree; 404 when the product does not exist.
///
/// The totals are one pass over the product's primary-key range with no row kept: their cost
/// grows with the number of stores stocking the product, never with the rest of the table.
pub async fn stock_of_product(
    db: &mut SqliteConnection,
    product_id: &ProductId,
    after: Option<&AfterText>,
    limit: i64,
) -> OpResult<ProductStockPage> {
    let product_id = product_id.as_str();
    let mut tx = db.begin().await?;
    let rows: Vec<StockRow> = sqlx::query_as(PRODUCT_PAGE)
        .bind(product_id)
        .bind(after.map_or("", |a| a.0.as_str()))
        .bind(fetch_count(limit))
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)")
                .bind(product_id)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Err(OpError::ProductNotFound(product_id.to_owned()));
        }
    }
    let (total_quantity, total_reserved): (i64, i64) = sqlx::query_as(PRODUCT_TOTALS)
        .bind(product_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ProductStockPage {
        page: Page::from_rows(rows, limit, |r| AfterText(r.store_id.as_str().to_owned())),
        total_quantity,
        total_reserved,
    })
}

/// A page of one store's rows, by product id.
pub async fn stock_of_store(
    db: &mut SqliteConnection,
    store_id: &StoreId,
    after: Option<&AfterText>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterText>> {
    let rows = sqlx::query_as(STORE_PAGE)
        .bind(store_id.as_str())
        .bind(after.map_or("", |a| a.0.as_str()))
        .bind(fetch_count(limit))
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, limit, |r: &StockRow| {
        AfterText(r.product_id.as_str().to_owned())
    }))
}

/// A page of the rows whose available units are below `threshold`, lowest first (then by
/// product, then store), in every store or in one.
///
/// `available` is a generated column (`quantity - reserved`) with its own indexes: SQLite seeks
/// a row value like `(available, product_id) > (?, ?)` only on real columns. Thresholds above
/// [`LOW_STOCK_INDEXED_BELOW`] scan (every row of the store, or of the table).
pub async fn low_stock(
    db: &mut SqliteConnection,
    threshold: Quantity,
    store_id: Option<&StoreId>,
    after: Option<&AfterAvailable>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterAvailable>> {
    let (available, product_id, after_store) = after.map_or((-1, "", ""), |a| {
        (a.available, a.product_id.as_str(), a.store_id.as_str())
    });
    let threshold = threshold.get();
    let indexed = threshold <= LOW_STOCK_INDEXED_BELOW;
    let rows = match store_id {
        Some(store_id) => sqlx::query_as(if indexed {
            LOW_IN_STORE_PAGE
        } else {
            LOW_IN_STORE_PAGE_SCAN
        })
        .bind(store_id.as_str())
        .bind(available)
        .bind(product_id),
        None => sqlx::query_as(if indexed { LOW_PAGE } else { LOW_PAGE_SCAN })
            .bind(available)
            .bind(product_id)
            .bind(after_store),
    }
    .bind(threshold)
    .bind(fetch_count(limit))
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, limit, |r: &StockRow| {
        AfterAvailable {
            available: r.available(),
            product_id: r.product_id.as_str().to_owned(),
            store_id: r.store_id.as_str().to_owned(),
        }
    }))
}
