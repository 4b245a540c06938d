//! The product list on PostgreSQL (`ops::products::list_products` on SQLite).

use sqlx::{PgConnection, Row};

use super::positions::after_instant;
use crate::domain::ProductRow;
use crate::ops::OpResult;
use crate::ops::page::{AfterInstant, Page, fetch_count};
use crate::ops::products::ProductsFrom;
use crate::store::postgres::rows::{product_row, select_product};

/// A page of products, oldest first (`created_at`, then `id`), optionally of one category, and
/// the filtered total, from one statement (`ops::products::list_products`). A negative offset
/// counts as 0, as SQLite's `OFFSET` does.
pub async fn list_products(
    db: &mut PgConnection,
    category: Option<&str>,
    from: ProductsFrom<'_>,
    limit: i64,
) -> OpResult<(Page<ProductRow, AfterInstant>, i64)> {
    let (position, offset) = match from {
        ProductsFrom::Offset(offset) => (None, offset.max(0)),
        ProductsFrom::After(after) => (Some(after_instant(after)?), 0),
    };
    // `$1` the number of rows to fetch, then the offset or the position, then the category.
    let rows = match (category, position) {
        (None, None) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " ORDER BY products.created_at, products.id LIMIT $1 OFFSET $2) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(offset),
        (Some(category), None) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products \
                                       WHERE category = $3) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " WHERE category = $3 ORDER BY products.created_at, products.id LIMIT $1 OFFSET $2) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(offset)
        .bind(category),
        (None, Some((instant, id))) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " WHERE (created_at, id) > ($2, $3) ORDER BY products.created_at, products.id LIMIT $1) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(instant)
        .bind(id),
        (Some(category), Some((instant, id))) => sqlx::query(concat!(
            "SELECT p.*, t.total FROM (SELECT count(*) AS total FROM products \
                                       WHERE category = $4) AS t \
             LEFT JOIN LATERAL (",
            select_product!(),
            " WHERE category = $4 AND (created_at, id) > ($2, $3) \
              ORDER BY products.created_at, products.id LIMIT $1) AS p ON true \
             ORDER BY p.created_at, p.id COLLATE \"C\""
        ))
        .bind(fetch_count(limit))
        .bind(instant)
        .bind(id)
        .bind(category),
    }
    .fetch_all(db)
    .await?;
    let total = match rows.first() {
        Some(row) => row.try_get("total")?,
        None => 0,
    };
    let mut products = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<String>, _>("id")?.is_some() {
            products.push(product_row(row)?);
        }
    }
    let page = Page::from_rows(products, limit, |r: &ProductRow| AfterInstant {
        at: r.created_at.clone(),
        id: r.id.as_str().to_owned(),
    });
    Ok((page, total))
}
