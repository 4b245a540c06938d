//! Typed rows from PostgreSQL rows: the one mapping of each table's columns to the domain's
//! rows, shared by the writer's loads ([`super::load`]) and the read side
//! (`crate::reads::postgres`). Ids are selected as text (`id::text AS id`), the lower-case
//! hyphenated form the domain keeps; timestamps are read as `timestamptz` and rendered with
//! [`time::to_db`], the text SQLite stores, so a row reads the same from either backend.

use inventory_shared::time::{self, Timestamp};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::domain::{
    HoldId, HoldRow, HoldStatus, PositiveQuantity, ProductId, ProductRow, Quantity, ReservationId,
    ReservationRow, ReservationStatus, Sku, StockRow, StoreId,
};

/// `SELECT <every column of ProductRow> FROM products`, as one literal.
macro_rules! select_product {
    () => {
        "SELECT id::text AS id, sku, name, description, category, price_cents, created_at, \
                updated_at FROM products"
    };
}
pub(crate) use select_product;

/// `SELECT <every column of ReservationRow> FROM reservations`, as one literal.
macro_rules! select_reservation {
    () => {
        "SELECT id::text AS id, product_id::text AS product_id, store_id, customer_id, \
                quantity, status, expires_at, created_at, updated_at, hold_id::text AS hold_id \
         FROM reservations"
    };
}
pub(crate) use select_reservation;

/// A `timestamptz` column in the stored text form ([`time::to_db`]).
pub(crate) fn stored_time(row: &PgRow, column: &str) -> sqlx::Result<String> {
    Ok(time::to_db(&row.try_get::<Timestamp, _>(column)?))
}

/// A stock row (`product_id::text AS product_id, store_id, quantity, reserved, version,
/// updated_at`).
pub(crate) fn stock_row(row: &PgRow) -> sqlx::Result<StockRow> {
    Ok(StockRow {
        product_id: ProductId::from_stored(row.try_get("product_id")?),
        store_id: StoreId::from_stored(row.try_get("store_id")?),
        quantity: Quantity::from_stored(row.try_get("quantity")?),
        reserved: Quantity::from_stored(row.try_get("reserved")?),
        version: row.try_get("version")?,
        updated_at: stored_time(row, "updated_at")?,
    })
}

/// A reservation (the columns of `select_reservation!`).
pub(crate) fn reservation_row(row: &PgRow) -> sqlx::Result<ReservationRow> {
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

/// A hold (`id::text AS id, customer_id, status, expires_at, unfulfilled, created_at,
/// updated_at`).
pub(crate) fn hold_row(row: &PgRow) -> sqlx::Result<HoldRow> {
    hold_row_prefixed(row, "")
}

/// A hold whose columns carry `prefix` (`h_id`, `h_status`, ...): read in one row with
/// other columns of the same names (a hold joined to its lines).
pub(crate) fn hold_row_prefixed(row: &PgRow, prefix: &str) -> sqlx::Result<HoldRow> {
    let column = |name: &str| format!("{prefix}{name}");
    let status: String = row.try_get(column("status").as_str())?;
    let status = HoldStatus::from_stored(&status).map_err(|why| sqlx::Error::ColumnDecode {
        index: column("status"),
        source: why.into(),
    })?;
    Ok(HoldRow {
        id: HoldId::from_stored(row.try_get(column("id").as_str())?),
        customer_id: row.try_get(column("customer_id").as_str())?,
        status,
        expires_at: stored_time(row, &column("expires_at"))?,
        unfulfilled: row.try_get(column("unfulfilled").as_str())?,
        created_at: stored_time(row, &column("created_at"))?,
        updated_at: stored_time(row, &column("updated_at"))?,
    })
}

/// A product (the columns of `select_product!`).
pub(crate) fn product_row(row: &PgRow) -> sqlx::Result<ProductRow> {
    Ok(ProductRow {
        id: ProductId::from_stored(row.try_get("id")?),
        sku: Sku::from_stored(row.try_get("sku")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        category: row.try_get("category")?,
        price_cents: row.try_get("price_cents")?,
        created_at: stored_time(row, "created_at")?,
        updated_at: stored_time(row, "updated_at")?,
    })
}
