//! The batch's events, as parts of the batch's combined statement ([`Combined`]), after the
//! outbox's `seq` lock ([`SEQ_LOCK`]) taken in the same statement.
//!
//! A `seq` is drawn at `INSERT` and becomes visible at `COMMIT`, so two replicas' batches
//! could commit in the other order than their `seq`s, and a reader paging
//! `GET /events?after_seq=` past the later one would never see the earlier one. Held from
//! before the first `seq` is drawn until the commit (a transaction-level advisory lock is
//! released after the commit is visible), the `seq` lock makes `seq` order the commit order
//! of the whole database, as on SQLite, and so each product's `seq` order its commit order
//! (what the relay's visibility fence and the Kafka partition, keyed by product, rely on).
//! It serialises the events' insert and the commit across replicas, which `NOTIFY`'s
//! commit-time lock serialises anyway (`docs/postgres.md`).
//!
//! It closes no cycle: a batch waits for it holding its row locks but no counter row, and
//! the holder needs no row another batch holds. Taken after every other write of the
//! statement, the holder's own end-of-statement work (foreign-key checks on parents this
//! batch locked itself, the counters' triggers on `reservation_counts` and `event_counts`)
//! runs under it; a batch that waited for it must not hold such a counter row. Only a
//! product delete takes one earlier (its cascade fires `reservation_counts_delete` in its
//! own statement), so a batch that deletes a product takes the `seq` lock before its
//! product statements ([`lock_before_products`]); housekeeping, which holds counter rows,
//! never waits for the `seq` lock.
//!
//! The product rows the events are about are not locked for it: an earlier version locked
//! them (`FOR NO KEY UPDATE`) to order each product's `seq`s before the `seq` lock existed;
//! under the `seq` lock that order already holds, and each such row lock was a heap write
//! (and WAL) per product per batch.
//!
//! The order inside the statement is a data dependency, not the order of the parts (which
//! PostgreSQL does not promise; it runs the parts the main query reads first, and the
//! others after it): the lock's part (`MATERIALIZED`: evaluated once, as written) waits in
//! its `WHERE` for every other write of the batch ([`Combined::after_writes`]), so it is
//! taken last and held only for the events and the commit; and the `INSERT` joins it to its
//! rows, so no row is inserted, no `seq` drawn, before the lock is held.

use inventory_shared::outbox::postgres::{CHANNEL, EventRow, bind_rows, insert_rows_sql};

use super::statement::Combined;

/// The outbox's `seq` lock: one writing transaction at a time draws `seq`s and commits.
pub(super) const SEQ_LOCK: &str = "pg_advisory_xact_lock(hashtextextended('inventory.seq', 0))";

/// Takes the `seq` lock now, before the product statements, when the batch deletes a
/// product: see the module documentation. (An advisory lock taken twice in one transaction
/// is held once more; the events' part takes it again at no cost.)
pub(super) async fn lock_before_products(
    conn: &mut sqlx::PgConnection,
    deletes_products: bool,
) -> sqlx::Result<()> {
    if deletes_products {
        sqlx::query(&format!("SELECT {SEQ_LOCK}"))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Adds the events (none: nothing) with their locks, and the `NOTIFY` the relay wakes on.
pub(super) fn append(c: &mut Combined, events: &[EventRow]) {
    if events.is_empty() {
        return;
    }
    c.part(
        "seq_locked",
        true,
        &format!("SELECT {SEQ_LOCK} AS locked WHERE {}", c.after_writes()),
    );
    c.part(
        "events_inserted",
        false,
        &insert_rows_sql(" CROSS JOIN seq_locked"),
    );
    if let Err(e) = bind_rows(c.args(8), events) {
        c.fail(e);
    }
    c.last("SELECT pg_notify($1, '') FROM (SELECT 1 FROM events_inserted LIMIT 1) AS any_event")
        .bind(CHANNEL);
}
