//! The stock lists on PostgreSQL (`ops::stock_lists` on SQLite).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::positions::{after, floor, uuid};
use crate::domain::{ProductId, Quantity, StockRow, StoreId};
use crate::ops::page::{AfterAvailable, AfterText, Page, fetch_count};
use crate::ops::stock_lists::{LOW_STOCK_INDEXED_BELOW, ProductStockPage};
use crate::ops::{OpError, OpResult};
use crate::store::postgres::rows::stock_row;

/// A page of one product's rows by store id, with its totals over every store and the
/// product's existence, from one statement (one snapshot, as SQLite's read transaction);
/// [`OpError::ProductNotFound`] when the page is empty and the product does not exist
/// (`ops::stock_lists::stock_of_product`).
pub async fn stock_of_product(
    db: &mut PgConnection,
    product_id: &ProductId,
    after: Option<&AfterText>,
    limit: i64,
) -> OpResult<ProductStockPage> {
    let rows = sqlx::query(
        "SELECT s.product_id::text AS product_id, s.store_id, s.quantity, s.reserved, \
                s.version, s.updated_at, t.total_quantity, t.total_reserved, t.product_exists \
         FROM (SELECT COALESCE(SUM(quantity), 0)::bigint AS total_quantity, \
                      COALESCE(SUM(reserved), 0)::bigint AS total_reserved, \
                      EXISTS (SELECT 1 FROM products WHERE id = $1::uuid) AS product_exists \
               FROM stock WHERE product_id = $1::uuid) AS t \
         LEFT JOIN LATERAL (SELECT * FROM stock WHERE product_id = $1::uuid \
                            AND store_id COLLATE \"C\" > $2 \
                            ORDER BY store_id COLLATE \"C\" LIMIT $3) AS s ON true \
         ORDER BY s.store_id COLLATE \"C\"",
    )
    .bind(product_id.as_str())
    .bind(after.map_or("", |a| a.0.as_str()))
    .bind(fetch_count(limit))
    .fetch_all(db)
    .await?;
    let (total_quantity, total_reserved, exists) = match rows.first() {
        Some(row) => (
            row.try_get("total_quantity")?,
            row.try_get("total_reserved")?,
            row.try_get::<bool, _>("product_exists")?,
        ),
        None => (0, 0, false),
    };
    let mut stock = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<String>, _>("product_id")?.is_some() {
            stock.push(stock_row(row)?);
        }
    }
    if stock.is_empty() && !exists {
        return Err(OpError::ProductNotFound(product_id.as_str().to_owned()));
    }
    Ok(ProductStockPage {
        page: Page::from_rows(stock, limit, |r| AfterText(r.store_id.as_str().to_owned())),
        total_quantity,
        total_reserved,
    })
}

/// A page of one store's rows by product id (`ops::stock_lists::stock_of_store`).
pub async fn stock_of_store(
    db: &mut PgConnection,
    store_id: &StoreId,
    after: Option<&AfterText>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterText>> {
    // SQLite: `product_id > ?` on text, '' on the first page.
    let Some(from) = after.map_or(Some(0), |a| self::after(&a.0)) else {
        return Ok(Page {
            rows: Vec::new(),
            next: None,
        });
    };
    let rows = sqlx::query(
        "SELECT product_id::text AS product_id, store_id, quantity, reserved, version, \
                updated_at \
         FROM stock WHERE store_id = $1 AND product_id >= $2 ORDER BY stock.product_id LIMIT $3",
    )
    .bind(store_id.as_str())
    .bind(uuid(from))
    .bind(fetch_count(limit))
    .try_map(|row: PgRow| stock_row(&row))
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, limit, |r: &StockRow| {
        AfterText(r.product_id.as_str().to_owned())
    }))
}

/// Low rows of every store after (available, product, store).
const LOW_PAGE: &str = "SELECT product_id::text AS product_id, store_id, quantity, reserved, \
     version, updated_at FROM stock \
     WHERE (available, product_id, store_id COLLATE \"C\") > ($1, $2, $3) \
     AND available < $4 AND available < 1000 \
     ORDER BY stock.available, stock.product_id, stock.store_id COLLATE \"C\" LIMIT $5";

/// Low rows of one store after (available, product).
const LOW_IN_STORE_PAGE: &str = "SELECT product_id::text AS product_id, store_id, quantity, \
     reserved, version, updated_at FROM stock \
     WHERE store_id = $1 AND (available, product_id) > ($2, $3) \
     AND available < $4 AND available < 1000 \
     ORDER BY stock.available, stock.product_id LIMIT $5";

/// [`LOW_PAGE`] for a threshold above [`LOW_STOCK_INDEXED_BELOW`].
const LOW_PAGE_SCAN: &str = "SELECT product_id::text AS product_id, store_id, quantity, \
     reserved, version, updated_at FROM stock \
     WHERE (available, product_id, store_id COLLATE \"C\") > ($1, $2, $3) AND available < $4 \
     ORDER BY stock.available, stock.product_id, stock.store_id COLLATE \"C\" LIMIT $5";

/// [`LOW_IN_STORE_PAGE`] for a threshold above [`LOW_STOCK_INDEXED_BELOW`].
const LOW_IN_STORE_PAGE_SCAN: &str = "SELECT product_id::text AS product_id, store_id, \
     quantity, reserved, version, updated_at FROM stock \
     WHERE store_id = $1 AND (available, product_id) > ($2, $3) AND available < $4 \
     ORDER BY stock.available, stock.product_id LIMIT $5";

/// A page of the rows with fewer than `threshold` units available, lowest first, then by
/// product, then store, in every store or one (`ops::stock_lists::low_stock`). The literal
/// `available < 1000` repeats the partial indexes' `WHERE` (PostgreSQL proves a partial index
/// usable only from what the statement states, as SQLite does).
pub async fn low_stock(
    db: &mut PgConnection,
    threshold: Quantity,
    store_id: Option<&StoreId>,
    after: Option<&AfterAvailable>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterAvailable>> {
    // SQLite's first page starts after (-1, '', '').
    let (available, product, store) = after.map_or((-1, "", ""), |a| {
        (a.available, a.product_id.as_str(), a.store_id.as_str())
    });
    let threshold = threshold.get();
    let indexed = threshold <= LOW_STOCK_INDEXED_BELOW;
    let query = match store_id {
        Some(store_id) => {
            // (available, product text) > (A, P): (available, product) > (A, floor(P)), or
            // every row with available >= A when no id's text is at most P.
            let (a, p) = match floor(product) {
                Some(f) => (available, uuid(f)),
                None => (available - 1, Uuid::max()),
            };
            sqlx::query(if indexed {
                LOW_IN_STORE_PAGE
            } else {
                LOW_IN_STORE_PAGE_SCAN
            })
            .bind(store_id.as_str())
            .bind(a)
            .bind(p)
        }
        None => {
            // A canonical product id: the same position. Another text: no product equals it,
            // so the rows after it are those with available > A, or = A and a product at or
            // after after(P): after (A, after(P), '') since a store id is never empty; and
            // when no id's text is greater than P, the rows with available > A: after
            // (A + 1, nil, '').
            let (a, p, s) = match floor(product) {
                Some(f) if uuid(f).hyphenated().to_string() == product => {
                    (available, uuid(f), store)
                }
                _ => match self::after(product) {
                    Some(first) => (available, uuid(first), ""),
                    None => (available + 1, Uuid::nil(), ""),
                },
            };
            sqlx::query(if indexed { LOW_PAGE } else { LOW_PAGE_SCAN })
                .bind(a)
                .bind(p)
                .bind(s)
        }
    };
    let rows = query
        .bind(threshold)
        .bind(fetch_count(limit))
        .try_map(|row: PgRow| stock_row(&row))
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
