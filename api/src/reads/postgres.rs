//! PLACEHOLDER until the PostgreSQL reads land (helper branch `pgreads` replaces this file).
#![allow(unused_variables, missing_docs, clippy::unused_async)]

use inventory_shared::outbox::{EventFilter, StoredEvent};
use inventory_shared::time::Timestamp;
use sqlx::PgPool;

use crate::domain::{HoldId, ProductId, Quantity, ReservationId, ReservationStatus, Sku, StoreId};
use crate::domain::{ProductRow, ReservationRow, StockRow};
use crate::ops::holds::Hold;
use crate::ops::page::{AfterAvailable, AfterInstant, AfterText, Page};
use crate::ops::products::ProductsFrom;
use crate::ops::stock_lists::ProductStockPage;
use crate::ops::{OpError, OpResult};

fn todo<T>() -> OpResult<T> {
    Err(OpError::Unavailable)
}
pub async fn reservation(db: &PgPool, id: &ReservationId) -> OpResult<ReservationRow> {
    todo()
}
pub async fn hold(db: &PgPool, id: &HoldId) -> OpResult<Hold> {
    todo()
}
pub async fn stock(db: &PgPool, p: &ProductId, s: &StoreId) -> OpResult<StockRow> {
    todo()
}
pub async fn product(db: &PgPool, id: &ProductId) -> OpResult<ProductRow> {
    todo()
}
pub async fn product_by_sku(db: &PgPool, sku: &Sku) -> OpResult<ProductRow> {
    todo()
}
pub async fn events(db: &PgPool, f: &EventFilter, limit: i64) -> OpResult<Vec<StoredEvent>> {
    todo()
}
pub async fn reservation_stats(
    db: &PgPool,
    s: Option<&StoreId>,
) -> OpResult<Vec<(ReservationStatus, i64)>> {
    todo()
}
pub async fn stock_of_product(
    db: &PgPool,
    p: &ProductId,
    a: Option<&AfterText>,
    limit: i64,
) -> OpResult<ProductStockPage> {
    todo()
}
pub async fn stock_of_store(
    db: &PgPool,
    s: &StoreId,
    a: Option<&AfterText>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterText>> {
    todo()
}
pub async fn low_stock(
    db: &PgPool,
    t: Quantity,
    s: Option<&StoreId>,
    a: Option<&AfterAvailable>,
    limit: i64,
) -> OpResult<Page<StockRow, AfterAvailable>> {
    todo()
}
pub async fn pending_in_store(
    db: &PgPool,
    s: &StoreId,
    at: &Timestamp,
    a: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    todo()
}
pub async fn of_product_in_store(
    db: &PgPool,
    p: &ProductId,
    s: &StoreId,
    st: Option<ReservationStatus>,
    b: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    todo()
}
pub async fn list_products(
    db: &PgPool,
    c: Option<&str>,
    f: ProductsFrom<'_>,
    limit: i64,
) -> OpResult<(Page<ProductRow, AfterInstant>, i64)> {
    todo()
}
pub async fn ping(db: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(db).await.map(drop)
}
pub async fn open_read_pool(
    url: &str,
    size: u32,
    budget: inventory_shared::db::ReadBudget,
) -> anyhow::Result<PgPool> {
    Ok(PgPool::connect(url).await?)
}
pub async fn open_health(url: &str) -> anyhow::Result<PgPool> {
    Ok(PgPool::connect(url).await?)
}
