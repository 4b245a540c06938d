//! The statements that write a batch's changes, set-based, just before `COMMIT`: one round
//! trip for each kind of product change ([`products`]: deletes, renames, inserts, in that
//! order), then one for everything else, as a single combined statement ([`Combined`]): stock
//! rows, holds, reservations and the idempotency keys' answers ([`rows`]), and the events
//! with the lock that orders them ([`events`]). A batch of reservations is written in one
//! round trip where it took seven statements before: on this 2-core machine a round trip
//! costs the writer about 0.3 ms of waiting (the writer thread is woken again after the
//! server answered), which was most of a batch (`docs/postgres.md`).
//!
//! Times travel as the stored text (`inventory_shared::time::to_db`), which PostgreSQL reads
//! as `timestamptz` exactly.

mod events;
mod products;
mod rows;
mod statement;

use sqlx::PgConnection;

use super::unit::Unit;
use crate::domain::StockRow;
use statement::Combined;

/// Writes everything `unit` changed or created, on the batch's open transaction.
pub(super) async fn flush(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    events::lock_before_products(&mut *conn, unit.products.deleted().next().is_some()).await?;
    products::write_products(conn, unit).await?;
    let mut combined = Combined::default();
    rows::insert_stock(&mut combined, unit);
    rows::update_stock(&mut combined, unit, "");
    write_rest(combined, unit, conn).await
}

/// Writes a batch that ran on remembered stock rows (`super::cache`) as one statement, with
/// no transaction open: it commits on its own. Its first part locks those rows in the global
/// order and checks that each is still as in `expected`
/// ([`rows::check_stock`]); the stock updates wait for that check, and the `seq` lock for
/// them. A batch with any other kind of change (products, new stock rows, keys, changed
/// reservations or holds) never gets here: its jobs read the database first, which sends
/// the batch back to be run locked.
pub(super) async fn flush_unlocked(
    conn: &mut PgConnection,
    unit: &Unit,
    expected: &[StockRow],
) -> sqlx::Result<()> {
    if !rows::unlocked_writes_only(unit) {
        // Nothing was sent: a bug, not a lost connection; the batch runs again locked.
        return Err(sqlx::Error::InvalidArgument(
            "a batch run on remembered rows changed more than stock rows and new rows".to_owned(),
        ));
    }
    let mut combined = Combined::default();
    rows::check_stock(&mut combined, expected);
    rows::update_stock(&mut combined, unit, rows::AFTER_CHECK);
    if unit.events.is_empty() {
        combined.last("SELECT ok FROM stock_checked");
    }
    write_rest(combined, unit, conn).await
}

/// The parts both ways share, and the statement's execution.
async fn write_rest(
    mut combined: Combined,
    unit: &Unit,
    conn: &mut PgConnection,
) -> sqlx::Result<()> {
    rows::insert_holds(&mut combined, unit);
    rows::update_holds(&mut combined, unit);
    rows::insert_reservations(&mut combined, unit);
    rows::update_reservations(&mut combined, unit);
    rows::store_keys(&mut combined, unit);
    events::append(&mut combined, &unit.events);
    combined.execute(conn).await
}
