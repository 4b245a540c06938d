//! Every read the routes and the background tasks make, on the backend `DATABASE_URL` chose:
//! [`Reads`] holds that backend's read connections and answers each read with the same typed
//! rows, pages and errors whichever backend it is, so no response differs between them.
//!
//! - [`point`]: SQLite's point reads (one row by its key) inline on the calling worker
//!   thread, on that thread's own read-only connection, and the audit log's pages; the lists
//!   and stats on SQLite are the sqlx statements in `ops` (`stock_lists`,
//!   `reservation_lists`, `products`, `reservations::stats`), run on the read pool.
//! - [`postgres`]: the same reads on PostgreSQL, on a pool whose connections carry the read
//!   budget as `statement_timeout`.
//! - [`pool`]: how full the read pool is: every pooled read takes its connection through
//!   it (the wait timed, the waits that ran out counted), and each scrape sets the gauges
//!   ([`Reads::record_pool_gauges`]).
//!
//! Each backend also has `/health`'s own connection ([`Reads::ping`]), so the ping never waits
//! behind lists.

pub mod point;
pub mod pool;
pub mod postgres;

use inventory_shared::outbox::{self, EventFilter, OutboxStats, StoredEvent};
use sqlx::{PgPool, SqlitePool};

use crate::domain::{HoldId, ProductId, Quantity, ReservationId, ReservationStatus, Sku, StoreId};
use crate::domain::{ProductRow, ReservationRow, StockRow};
use crate::ops::holds::{self, Hold};
use crate::ops::page::{AfterAvailable, AfterInstant, AfterText, Page};
use crate::ops::products::{self, ProductsFrom};
use crate::ops::stock_lists::{self, ProductStockPage};
use crate::ops::{OpError, OpResult, reservation_lists, reservations, stock};
use crate::store::sqlite::SqliteTx;
use inventory_shared::time::Timestamp;

pub use point::PointReader;
use pool::acquire;

/// Runs the read `$read` (an expression of the connection `$c`, awaited here) on a connection
/// of the PostgreSQL read pool, its wait recorded ([`pool::acquire`]). The pool lends its
/// connections without pinging them first ([`postgres::open_read_pool`]), so one that died
/// while idle (the server restarted) fails the read at once as a lost connection
/// ([`OpError::Unavailable`]); the read then runs again on the next, at most once per
/// connection the pool holds, then on a new one. A read changes nothing, so running it again
/// is safe; while the server is down, getting a connection fails and the read answers 503 as
/// before. (A macro, not a function taking an async closure: such a closure's future is not
/// `Send` for every lifetime, which the routes need.)
macro_rules! on_pg {
    ($pool:expr, |$c:ident| $read:expr) => {{
        let mut tries_left = $pool.options().get_max_connections();
        loop {
            let mut connection = acquire($pool).await?;
            let $c = &mut *connection;
            match $read.await {
                Err(OpError::Unavailable) if tries_left > 0 => tries_left -= 1,
                answer => break answer,
            }
        }
    }};
}

/// The read side of one backend. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Reads {
    /// A SQLite file: point reads on per-thread connections, lists on a sqlx pool.
    Sqlite {
        /// Point reads and audit-log pages.
        point: PointReader,
        /// sqlx read pool (`DB_READ_CONNECTIONS`), every read under `DB_READ_TIMEOUT`.
        pool: SqlitePool,
        /// `/health`'s own connection.
        health: SqlitePool,
    },
    /// A PostgreSQL database.
    Postgres {
        /// Read pool (`DB_READ_CONNECTIONS`), `statement_timeout` = `DB_READ_TIMEOUT`.
        pool: PgPool,
        /// `/health`'s own connection, with a short connect timeout.
        health: PgPool,
    },
}

impl Reads {
    /// Reservation `id`.
    pub async fn reservation(&self, id: &ReservationId) -> OpResult<ReservationRow> {
        match self {
            Self::Sqlite { point, .. } => {
                point.read(|c| reservations::get_reservation(&mut SqliteTx::new(c), id))
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::reservation(c, id))
            }
        }
    }

    /// Hold `id` and its lines.
    pub async fn hold(&self, id: &HoldId) -> OpResult<Hold> {
        match self {
            Self::Sqlite { point, .. } => {
                point.read(|c| holds::get_hold(&mut SqliteTx::new(c), id))
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::hold(c, id))
            }
        }
    }

    /// The stock row of (product, store).
    pub async fn stock(&self, product_id: &ProductId, store_id: &StoreId) -> OpResult<StockRow> {
        match self {
            Self::Sqlite { point, .. } => {
                point.read(|c| stock::get_stock(&mut SqliteTx::new(c), product_id, store_id))
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::stock(c, product_id, store_id))
            }
        }
    }

    /// Product `id`.
    pub async fn product(&self, id: &ProductId) -> OpResult<ProductRow> {
        match self {
            Self::Sqlite { point, .. } => {
                point.read(|c| products::product_by_id(&mut SqliteTx::new(c), id))
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::product(c, id))
            }
        }
    }

    /// The product with SKU `sku`.
    pub async fn product_by_sku(&self, sku: &Sku) -> OpResult<ProductRow> {
        match self {
            Self::Sqlite { point, .. } => {
                point.read(|c| products::product_by_sku(&mut SqliteTx::new(c), sku))
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::product_by_sku(c, sku))
            }
        }
    }

    /// Up to `limit` events of the audit log after `filter.after_seq`, in `seq` order.
    pub async fn events(&self, filter: EventFilter, limit: i64) -> OpResult<Vec<StoredEvent>> {
        match self {
            Self::Sqlite { point, .. } => {
                point
                    .scan(move |conn| Ok(outbox::list_events(conn, &filter, limit)?))
                    .await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::events(c, &filter, limit))
            }
        }
    }

    /// The outbox counters (pending, synced, parked, per event type).
    pub async fn outbox_stats(&self) -> OpResult<OutboxStats> {
        match self {
            Self::Sqlite { pool, .. } => {
                Ok(outbox::outbox_stats(&mut *acquire(pool).await?).await?)
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::outbox_stats(c))
            }
        }
    }

    /// Reservations per status, in one store or in all.
    pub async fn reservation_stats(
        &self,
        store_id: Option<&StoreId>,
    ) -> OpResult<Vec<(ReservationStatus, i64)>> {
        match self {
            Self::Sqlite { pool, .. } => {
                reservations::stats(&mut *acquire(pool).await?, store_id).await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::reservation_stats(c, store_id))
            }
        }
    }

    /// A page of one product's stock rows and its totals ([`stock_lists::stock_of_product`]).
    pub async fn stock_of_product(
        &self,
        product_id: &ProductId,
        after: Option<&AfterText>,
        limit: i64,
    ) -> OpResult<ProductStockPage> {
        match self {
            Self::Sqlite { pool, .. } => {
                stock_lists::stock_of_product(&mut *acquire(pool).await?, product_id, after, limit)
                    .await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::stock_of_product(
                    c, product_id, after, limit
                ))
            }
        }
    }

    /// A page of one store's stock rows ([`stock_lists::stock_of_store`]).
    pub async fn stock_of_store(
        &self,
        store_id: &StoreId,
        after: Option<&AfterText>,
        limit: i64,
    ) -> OpResult<Page<StockRow, AfterText>> {
        match self {
            Self::Sqlite { pool, .. } => {
                stock_lists::stock_of_store(&mut *acquire(pool).await?, store_id, after, limit)
                    .await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::stock_of_store(
                    c, store_id, after, limit
                ))
            }
        }
    }

    /// A page of the rows with few units available ([`stock_lists::low_stock`]).
    pub async fn low_stock(
        &self,
        threshold: Quantity,
        store_id: Option<&StoreId>,
        after: Option<&AfterAvailable>,
        limit: i64,
    ) -> OpResult<Page<StockRow, AfterAvailable>> {
        match self {
            Self::Sqlite { pool, .. } => {
                stock_lists::low_stock(
                    &mut *acquire(pool).await?,
                    threshold,
                    store_id,
                    after,
                    limit,
                )
                .await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::low_stock(
                    c, threshold, store_id, after, limit
                ))
            }
        }
    }

    /// A page of a store's pending reservations not yet due
    /// ([`reservation_lists::pending_in_store`]).
    pub async fn pending_in_store(
        &self,
        store_id: &StoreId,
        at: &Timestamp,
        after: Option<&AfterInstant>,
        limit: i64,
    ) -> OpResult<Page<ReservationRow, AfterInstant>> {
        match self {
            Self::Sqlite { pool, .. } => {
                reservation_lists::pending_in_store(
                    &mut *acquire(pool).await?,
                    store_id,
                    at,
                    after,
                    limit,
                )
                .await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::pending_in_store(
                    c, store_id, at, after, limit
                ))
            }
        }
    }

    /// A page of a product's reservations in a store, newest first
    /// ([`reservation_lists::of_product_in_store`]).
    pub async fn of_product_in_store(
        &self,
        product_id: &ProductId,
        store_id: &StoreId,
        status: Option<ReservationStatus>,
        before: Option<&AfterInstant>,
        limit: i64,
    ) -> OpResult<Page<ReservationRow, AfterInstant>> {
        match self {
            Self::Sqlite { pool, .. } => {
                reservation_lists::of_product_in_store(
                    &mut *acquire(pool).await?,
                    product_id,
                    store_id,
                    status,
                    before,
                    limit,
                )
                .await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::of_product_in_store(
                    c, product_id, store_id, status, before, limit
                ))
            }
        }
    }

    /// A page of products and the filtered total ([`products::list_products`]).
    pub async fn products(
        &self,
        category: Option<&str>,
        from: ProductsFrom<'_>,
        limit: i64,
    ) -> OpResult<(Page<ProductRow, AfterInstant>, i64)> {
        match self {
            Self::Sqlite { pool, .. } => {
                products::list_products(&mut *acquire(pool).await?, category, from, limit).await
            }
            Self::Postgres { pool, .. } => {
                on_pg!(pool, |c| postgres::list_products(c, category, from, limit))
            }
        }
    }

    /// Sets the read pool's gauges (connections in use, idle, the most it opens) for the
    /// scrape about to be rendered.
    pub fn record_pool_gauges(&self) {
        match self {
            Self::Sqlite { pool, .. } => pool::record_gauges(pool),
            Self::Postgres { pool, .. } => pool::record_gauges(pool),
        }
    }

    /// The PostgreSQL read pool, for the housekeeping statements that run beside the writer
    /// there (`store::postgres::housekeeping`); `None` on SQLite.
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres { pool, .. } => Some(pool),
        }
    }

    /// Pings the database on `/health`'s own connection.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite { health, .. } => inventory_shared::db::ping(health).await,
            Self::Postgres { health, .. } => postgres::ping(health).await,
        }
    }

    /// Closes the pools (at shutdown).
    pub async fn close(&self) {
        match self {
            Self::Sqlite { pool, health, .. } => {
                pool.close().await;
                health.close().await;
            }
            Self::Postgres { pool, health } => {
                pool.close().await;
                health.close().await;
            }
        }
    }
}
