//! Every read the HTTP routes make, on PostgreSQL: the same rows, order, paging positions and
//! errors as the SQLite reads (`crate::ops::*`, [`super::PointReader`],
//! `inventory_shared::outbox::list_events`), so no response byte depends on the backend.
//!
//! What the SQL does differently from SQLite's, and why:
//! - **Ids are `uuid` columns**, selected as text (`id::text`, the lower-case hyphenated form
//!   the domain keeps, whose text order is the `uuid` order). A page position carries an id as
//!   text that SQLite compares as text; here it becomes a `uuid` bound that selects exactly the
//!   rows SQLite's text comparison selects (`positions.rs`), also for a cursor whose id
//!   is not a UUID (a cursor is checksummed, not validated as a UUID; see `http/cursor.rs`).
//! - **Store ids sort with `COLLATE "C"`** (byte order, SQLite's `BINARY`): a database whose
//!   default collation is a language's (`en_US.UTF-8`) would sort `MAD-002` and `MAD001`, or
//!   `a` and `B`, the other way round. Equality needs no collation.
//! - **Timestamps are `timestamptz`**, rendered with `time::to_db`, SQLite's stored text. A
//!   cursor's instant (checked by the cursor to be exactly that text) is bound as
//!   `timestamptz`, which orders like the text.
//! - **One statement where SQLite used a transaction or two statements**: a product's stock page
//!   with its totals and the product's existence, a page of products with its total, a hold
//!   with its lines: one snapshot and one round trip each.
//! - **Counters are slotted**: the reservation counts are `SUM(n)` per status.
//! - The budget is `statement_timeout` on every read connection ([`open_read_pool`]); a
//!   cancelled statement (57014) is `OpError::QueryTimeout`, as SQLite's interrupt is.
//!
//! This file opens the connections (the read pool, `/health`'s own); the reads are in
//! `points` (one row by its key), `counts` (the audit log and the counters), `stock_lists`,
//! `reservation_lists` and `products`, the pages' positions in `positions`.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use inventory_shared::db::{MIN_ACQUIRE_WAIT, ReadBudget};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod counts;
mod points;
mod positions;
mod products;
mod reservation_lists;
mod stock_lists;
#[cfg(test)]
mod tests;

pub use counts::{events, outbox_stats, reservation_stats};
pub use points::{hold, product, product_by_sku, reservation, stock};
#[cfg(test)]
use positions::{after, ceiling, floor};
pub use products::list_products;
pub use reservation_lists::{of_product_in_store, pending_in_store};
pub use stock_lists::{low_stock, stock_of_product, stock_of_store};

/// How long `/health` waits for its connection (and for its ping's answer).
pub const HEALTH_WAIT: Duration = Duration::from_secs(1);

/// The read pool: `size` connections, each with `statement_timeout` = the budget (sent at
/// connect, so no statement runs without it), so a statement still running at the budget is
/// cancelled (57014, answered [`crate::ops::OpError::QueryTimeout`]). Waiting for a free
/// connection is bounded like SQLite's read pool (the budget, at least [`MIN_ACQUIRE_WAIT`]);
/// running out of it is a `QUERY_TIMEOUT` too.
///
/// A connection is lent without a ping first (`test_before_acquire(false)`): sqlx pings every
/// connection it takes back into the pool, so an idle one answered when it was last
/// returned, and a second ping before every read was a round trip per read (point reads
/// without it: 1.21 times the rate, `docs/postgres.md`, "Reads on PostgreSQL"). One that
/// died while idle (the server restarted) fails its read as a lost connection, and
/// [`super::Reads`] runs the read again on the next connection (`on_pg!`). The housekeeping
/// statements that borrow a connection of this pool do not: a pass that meets a dead one
/// fails, is logged, and the next tick runs on a live one.
pub async fn open_read_pool(url: &str, size: u32, budget: ReadBudget) -> anyhow::Result<PgPool> {
    // 0 would switch the timeout off on PostgreSQL; SQLite's 0 interrupts at once.
    let millis = budget.0.as_millis().clamp(1, i32::MAX as u128);
    let options = PgConnectOptions::from_str(url)
        .context("parsing the PostgreSQL URL")?
        .options([("statement_timeout", millis.to_string())]);
    PgPoolOptions::new()
        .test_before_acquire(false)
        .max_connections(size.max(1))
        .min_connections(1)
        .acquire_timeout(budget.0.max(MIN_ACQUIRE_WAIT))
        .connect_with(options)
        .await
        .context("opening the PostgreSQL read connections")
}

/// The `/health` connection: one of its own (a health check never queues behind slow lists),
/// found or opened within [`HEALTH_WAIT`], so that while PostgreSQL is down `/health` answers
/// in about a second.
pub async fn open_health(url: &str) -> anyhow::Result<PgPool> {
    let millis = HEALTH_WAIT.as_millis().to_string();
    let options = PgConnectOptions::from_str(url)
        .context("parsing the PostgreSQL URL")?
        .options([("statement_timeout", millis)]);
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(HEALTH_WAIT)
        .connect_with(options)
        .await
        .context("opening the health check's PostgreSQL connection")
}

/// Answers whether PostgreSQL responds (for `/health`), within [`HEALTH_WAIT`] once the
/// connection is there: a server that accepts but never answers is down too.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    match tokio::time::timeout(HEALTH_WAIT * 2, ping).await {
        Ok(answer) => answer.map(|_| ()),
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "PostgreSQL did not answer the health check in time",
        ))),
    }
}
