//! The statements that lock and read the rows a batch works on. Locks are taken in one global
//! order by every replica (reservations by id, then stock rows by (product, store)), so two
//! batches never wait for each other in a cycle over the rows they declared; a row a job
//! reaches without declaring it is locked when first asked for, out of that order, and a
//! deadlock that may cause is rerun by the writer (`docs/postgres.md`).
//!
//! Ids are the lower-case hyphenated UUID text the domain keeps, so their text order is the
//! `uuid` order PostgreSQL sorts by.

use inventory_shared::time::{self, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::unit::PairKey;
use crate::domain::{
    HoldId, HoldRow, HoldStatus, PositiveQuantity, ProductId, Quantity, ReservationId,
    ReservationRow, ReservationStatus, StockRow, StoreId,
};

/// The stock rows of `keys` (sorted, no duplicates), locked `FOR UPDATE` in that order.
pub(super) async fn stock_rows(
    conn: &mut PgConnection,
    keys: &[PairKey],
) -> sqlx::Result<Vec<StockRow>> {
    let products: Vec<&str> = keys.iter().map(|(p, _)| p.as_str()).collect();
    let stores: Vec<&str> = keys.iter().map(|(_, s)| s.as_str()).collect();
    sqlx::query(
        "SELECT s.product_id::text AS product_id, s.store_id, s.quantity, s.reserved, \
                s.version, s.updated_at \
         FROM stock AS s \
         JOIN unnest($1::uuid[], $2::text[]) AS k (product_id, store_id) \
           ON s.product_id = k.product_id AND s.store_id = k.store_id \
         ORDER BY s.product_id, s.store_id \
         FOR UPDATE OF s",
    )
    .bind(&products)
    .bind(&stores)
    .try_map(|row: PgRow| stock_row(&row))
    .fetch_all(conn)
    .await
}

/// The reservations `ids` (sorted, no duplicates), locked `FOR UPDATE` in that order.
pub(super) async fn reservations(
    conn: &mut PgConnection,
    ids: &[ReservationId],
) -> sqlx::Result<Vec<ReservationRow>> {
    let ids: Vec<&str> = ids.iter().map(ReservationId::as_str).collect();
    sqlx::query(
        "SELECT id::text AS id, product_id::text AS product_id, store_id, customer_id, \
                quantity, status, expires_at, created_at, updated_at, hold_id::text AS hold_id \
         FROM reservations WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .try_map(|row: PgRow| reservation_row(&row))
    .fetch_all(conn)
    .await
}

/// Locks the product rows `ids` (sorted) `FOR NO KEY UPDATE`: what a batch takes before it
/// creates a stock row of one, and before it draws the `seq` of an event about one.
pub(super) async fn lock_products(conn: &mut PgConnection, ids: &[ProductId]) -> sqlx::Result<()> {
    let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
    sqlx::query("SELECT 1 FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE")
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Which of `ids` are products.
pub(super) async fn existing_products(
    conn: &mut PgConnection,
    ids: &[ProductId],
) -> sqlx::Result<Vec<ProductId>> {
    let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
    sqlx::query_scalar("SELECT id::text FROM products WHERE id = ANY($1::uuid[])")
        .bind(&ids)
        .fetch_all(conn)
        .await
        .map(|found: Vec<String>| found.into_iter().map(ProductId::from_stored).collect())
}

fn stored_time(row: &PgRow, column: &str) -> sqlx::Result<String> {
    Ok(time::to_db(&row.try_get::<Timestamp, _>(column)?))
}

fn stock_row(row: &PgRow) -> sqlx::Result<StockRow> {
    Ok(StockRow {
        product_id: ProductId::from_stored(row.try_get("product_id")?),
        store_id: StoreId::from_stored(row.try_get("store_id")?),
        quantity: Quantity::from_stored(row.try_get("quantity")?),
        reserved: Quantity::from_stored(row.try_get("reserved")?),
        version: row.try_get("version")?,
        updated_at: stored_time(row, "updated_at")?,
    })
}

fn reservation_row(row: &PgRow) -> sqlx::Result<ReservationRow> {
    let status: String = row.try_get("status")?;
    let status =
        ReservationStatus::from_stored(&status).map_err(|why| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: why.into(),
        })?;
    Ok(ReservationRow {
        id: ReservationId::from_stored(row.try_get("id")?),
        product_id: ProductId::from_stored(row.try_get("product_id")?),
        store_id: StoreId::from_stored(row.try_get("store_id")?),
        customer_id: row.try_get("customer_id")?,
        quantity: PositiveQuantity::from_stored(row.try_get("quantity")?),
        status,
        expires_at: stored_time(row, "expires_at")?,
        created_at: stored_time(row, "created_at")?,
        updated_at: stored_time(row, "updated_at")?,
        hold_id: row
            .try_get::<Option<String>, _>("hold_id")?
            .map(HoldId::from_stored),
    })
}

/// Hold `id`, locked `FOR UPDATE`.
pub(super) async fn hold(conn: &mut PgConnection, id: &HoldId) -> sqlx::Result<Option<HoldRow>> {
    sqlx::query(
        "SELECT id::text AS id, customer_id, status, expires_at, unfulfilled, created_at, \
                updated_at \
         FROM holds WHERE id = $1::uuid FOR UPDATE",
    )
    .bind(id.as_str())
    .try_map(|row: PgRow| hold_row(&row))
    .fetch_optional(conn)
    .await
}

/// The lines of hold `id`, locked `FOR UPDATE` in (product, store) order.
pub(super) async fn hold_lines(
    conn: &mut PgConnection,
    id: &HoldId,
) -> sqlx::Result<Vec<ReservationRow>> {
    sqlx::query(
        "SELECT id::text AS id, product_id::text AS product_id, store_id, customer_id, \
                quantity, status, expires_at, created_at, updated_at, hold_id::text AS hold_id \
         FROM reservations WHERE hold_id = $1::uuid ORDER BY product_id, store_id FOR UPDATE",
    )
    .bind(id.as_str())
    .try_map(|row: PgRow| reservation_row(&row))
    .fetch_all(conn)
    .await
}

fn hold_row(row: &PgRow) -> sqlx::Result<HoldRow> {
    let status: String = row.try_get("status")?;
    let status = HoldStatus::from_stored(&status).map_err(|why| sqlx::Error::ColumnDecode {
        index: "status".into(),
        source: why.into(),
    })?;
    Ok(HoldRow {
        id: HoldId::from_stored(row.try_get("id")?),
        customer_id: row.try_get("customer_id")?,
        status,
        expires_at: stored_time(row, "expires_at")?,
        unfulfilled: row.try_get("unfulfilled")?,
        created_at: stored_time(row, "created_at")?,
        updated_at: stored_time(row, "updated_at")?,
    })
}
