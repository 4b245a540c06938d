//! The statements that write a batch's changes, set-based: one statement per kind of change,
//! whatever the batch's size, run just before `COMMIT`. Order: products (deleted, renamed,
//! new), stock rows (new, then changed), holds (new, then changed), new reservations (their
//! foreign keys name the stock row and the hold), changed reservations; then the product rows
//! the events are about are locked (`FOR NO KEY UPDATE`, in id order), then the outbox's
//! `seq` lock ([`SEQ_LOCK`]), and the events inserted; last, the idempotency keys' answers.
//!
//! Why the `seq` lock: a sequence value is drawn at `INSERT` and becomes visible at `COMMIT`,
//! so two replicas' batches could commit in the other order than their `seq`s, and a reader
//! paging `GET /events?after_seq=` past the later one would never see the earlier one. Held
//! from before the first `seq` is drawn until the commit (a transaction-level advisory lock
//! is released after the commit is visible), it makes `seq` order the commit order of the
//! whole database, as on SQLite. It is the batch's last lock, taken after every row lock, so
//! it closes no cycle; it serialises only the events' insert and the commit across replicas,
//! which `NOTIFY`'s commit-time lock serialises anyway (`docs/postgres.md`).
//!
//! Times travel as the stored text (`inventory_shared::time::to_db`), which PostgreSQL reads
//! as `timestamptz` exactly.

use std::collections::BTreeSet;

use inventory_shared::outbox::postgres::{EventRow, append_rows};
use sqlx::PgConnection;

use super::unit::Unit;
use crate::domain::HoldId;

/// Writes everything `unit` changed or created, on the batch's open transaction.
pub(super) async fn flush(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    write_products(conn, unit).await?;
    insert_stock(conn, unit).await?;
    update_stock(conn, unit).await?;
    insert_holds(conn, unit).await?;
    update_holds(conn, unit).await?;
    insert_reservations(conn, unit).await?;
    update_reservations(conn, unit).await?;
    append_events(conn, &unit.events).await?;
    store_keys(conn, unit).await
}

/// Products: deletes first, then renames, then inserts, so a SKU one job freed and another
/// took in the same batch is free when it is taken (`products_sku_unique` is checked row by
/// row); renamed rows pass through a placeholder SKU (66 characters with their id, longer than
/// any SKU the API accepts, so never one in use), so renames that swap SKUs succeed too.
async fn write_products(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    delete_products(conn, unit).await?;
    let renamed: Vec<&str> = unit
        .products
        .entries()
        .filter(|e| e.changed)
        .map(|e| e.row.id.as_str())
        .collect();
    if !renamed.is_empty() {
        sqlx::query(
            "UPDATE products SET sku = 'renaming:' || id::text || ':' || repeat('-', 20) \
             WHERE id = ANY($1::uuid[])",
        )
        .bind(&renamed)
        .execute(&mut *conn)
        .await?;
    }
    for new in [false, true] {
        let rows: Vec<_> = unit
            .products
            .entries()
            .filter(|e| if new { e.new } else { e.changed })
            .map(|e| &e.row)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let statement = if new {
            "INSERT INTO products (id, sku, name, description, category, price_cents, \
                                   created_at, updated_at) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::bigint[], $7::timestamptz[], $8::timestamptz[])"
        } else {
            "UPDATE products AS p SET sku = u.sku, name = u.name, description = u.description, \
                    category = u.category, price_cents = u.price_cents, \
                    updated_at = u.updated_at \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                         $6::bigint[], $7::timestamptz[], $8::timestamptz[]) \
                  AS u (id, sku, name, description, category, price_cents, created_at, \
                        updated_at) \
             WHERE p.id = u.id"
        };
        sqlx::query(statement)
            .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.sku.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.description.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.category.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.price_cents).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.created_at.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.updated_at.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn delete_products(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let ids: Vec<&str> = unit.products.deleted().map(|e| e.row.id.as_str()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM products WHERE id = ANY($1::uuid[])")
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(())
}

async fn store_keys(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let stored: Vec<_> = unit.keys.new_with_keys().collect();
    if stored.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = stored.iter().map(|(id, _)| id.0.as_str()).collect();
    let keys: Vec<&str> = stored.iter().map(|(id, _)| id.1.as_str()).collect();
    let rows: Vec<_> = stored.iter().map(|(_, row)| row).collect();
    sqlx::query(
        "INSERT INTO idempotency_keys (api_key_name, idempotency_key, fingerprint, status, \
                                       content_type, location, etag, body, created_at, \
                                       expires_at) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], \
                              $6::text[], $7::text[], $8::bytea[], $9::timestamptz[], \
                              $10::timestamptz[]) \
         ON CONFLICT (api_key_name, idempotency_key) DO UPDATE SET \
             fingerprint = excluded.fingerprint, status = excluded.status, \
             content_type = excluded.content_type, location = excluded.location, \
             etag = excluded.etag, body = excluded.body, created_at = excluded.created_at, \
             expires_at = excluded.expires_at",
    )
    .bind(&names)
    .bind(&keys)
    .bind(
        rows.iter()
            .map(|r| r.record.fingerprint.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| i64::from(r.record.answer.status))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.content_type.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.location.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.etag.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.record.answer.body.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.created_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_stock(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let rows: Vec<_> = unit
        .stock
        .entries()
        .filter(|e| e.new)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // A row created and changed in one batch is inserted as it ends; its creation time is
    // then its last change in the batch (a few milliseconds later at most).
    sqlx::query(
        "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
                            updated_at) \
         SELECT product_id, store_id, quantity, reserved, version, updated_at, updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                     $6::timestamptz[]) \
              AS u (product_id, store_id, quantity, reserved, version, updated_at)",
    )
    .bind(
        rows.iter()
            .map(|r| r.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.store_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.quantity.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reserved.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn update_stock(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let rows: Vec<_> = unit
        .stock
        .entries()
        .filter(|e| e.changed)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE stock AS s SET quantity = u.quantity, reserved = u.reserved, \
                version = u.version, updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], \
                     $6::timestamptz[]) \
              AS u (product_id, store_id, quantity, reserved, version, updated_at) \
         WHERE s.product_id = u.product_id AND s.store_id = u.store_id",
    )
    .bind(
        rows.iter()
            .map(|r| r.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.store_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.quantity.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reserved.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_holds(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let rows: Vec<_> = unit
        .holds
        .entries()
        .filter(|e| e.new)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO holds (id, customer_id, status, expires_at, unfulfilled, created_at, \
                            updated_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], \
                              $5::text[], $6::timestamptz[], $7::timestamptz[])",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.customer_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.unfulfilled.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.created_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn update_holds(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let rows: Vec<_> = unit
        .holds
        .entries()
        .filter(|e| e.changed)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE holds AS h SET status = u.status, expires_at = u.expires_at, \
                unfulfilled = u.unfulfilled, updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], \
                     $5::timestamptz[]) \
              AS u (id, status, expires_at, unfulfilled, updated_at) \
         WHERE h.id = u.id",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.unfulfilled.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_reservations(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let rows: Vec<_> = unit
        .reservations
        .entries()
        .filter(|e| e.new)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO reservations (id, product_id, store_id, customer_id, quantity, status, \
                                   expires_at, created_at, updated_at, hold_id) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], \
                              $6::text[], $7::timestamptz[], $8::timestamptz[], \
                              $9::timestamptz[], $10::uuid[])",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.product_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.store_id.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.customer_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.quantity.get()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.created_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.hold_id.as_ref().map(HoldId::as_str))
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn update_reservations(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let rows: Vec<_> = unit
        .reservations
        .entries()
        .filter(|e| e.changed)
        .map(|e| &e.row)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE reservations AS r SET status = u.status, expires_at = u.expires_at, \
                updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[]) \
              AS u (id, status, expires_at, updated_at) \
         WHERE r.id = u.id",
    )
    .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.expires_at.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.updated_at.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The outbox's `seq` lock: one writing transaction at a time draws `seq`s and commits.
pub(super) const SEQ_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('inventory.seq', 0))";

async fn append_events(conn: &mut PgConnection, events: &[EventRow]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Every event's partition key is its product's id (`NewEvent::partition_key`).
    let products: Vec<&str> = events
        .iter()
        .map(EventRow::partition_key)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    sqlx::query("SELECT 1 FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE")
        .bind(&products)
        .execute(&mut *conn)
        .await?;
    sqlx::query(SEQ_LOCK).execute(&mut *conn).await?;
    append_rows(conn, events).await?;
    Ok(())
}
