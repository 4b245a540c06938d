//! `inventory-consumer rebuild` on a database of 100,000 events equals the API's state. The
//! events come from the API's own inventory operations, called in-process on one writer
//! connection (HTTP would take minutes for this many); the rebuild reads them over HTTP.

mod common;

use std::time::Instant;

use common::{Rng, projection, stock_table, workspace_bin};
use inventory_api::domain::{Adjustment, PositiveQuantity, Quantity, ReservationId, Sku, StoreId};
use inventory_api::ops::{products, reservations, stock};
use inventory_api::store::sqlite::SqliteTx;
use inventory_shared::config::DatabaseSettings;
use inventory_shared::time;
use tokio_util::sync::CancellationToken;

const EVENTS: i64 = 100_000;

/// Runs `op` inside a savepoint: a refused operation (409-style) leaves no trace.
fn attempt<T, E>(
    conn: &rusqlite::Connection,
    op: impl FnOnce(&rusqlite::Connection) -> Result<T, E>,
) -> Option<T> {
    conn.execute_batch("SAVEPOINT op").expect("savepoint");
    match op(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE op").expect("release");
            Some(value)
        }
        Err(_) => {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")
                .expect("rollback");
            None
        }
    }
}

fn write_history(settings: &DatabaseSettings) {
    let conn = inventory_shared::db::open_writer(settings).expect("writer");
    let count = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count")
    };
    let stores = ["MAD-001", "BCN-001", "SEV-001", "VLC-001", "BIO-001"]
        .map(|s| StoreId::parse(s).expect("a valid store id"));
    let mut rng = Rng::new(99);
    let now = time::now();
    let later = now + chrono::Duration::hours(2);
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    let mut ids = Vec::new();
    for i in 0..200 {
        let input = products::ProductInput {
            sku: Sku::parse(&format!("RB-{i}")).expect("a valid SKU"),
            name: "Rebuilt".to_owned(),
            description: None,
            category: None,
            price_cents: 100,
        };
        let product = attempt(&conn, |c| {
            products::insert_product(&mut SqliteTx::new(c), &input, &now)
        })
        .expect("product");
        for store in &stores[..3] {
            attempt(&conn, |c| {
                stock::create_stock(
                    &mut SqliteTx::new(c),
                    &product.id,
                    store,
                    Quantity::parse(1_000).expect("1000"),
                    &now,
                )
            })
            .expect("stock");
        }
        ids.push(product.id);
    }
    let mut pending: Vec<ReservationId> = Vec::new();
    let one = PositiveQuantity::parse(1).expect("1");
    let mut written = count(&conn);
    let mut since_commit = 0;
    while written < EVENTS {
        let product = &ids[rng.below(ids.len() as u64) as usize];
        let store = &stores[rng.below(3) as usize];
        let done = match rng.below(7) {
            0 => attempt(&conn, |c| {
                stock::change_quantity(
                    &mut SqliteTx::new(c),
                    product,
                    store,
                    stock::QuantityChange::Add(
                        Adjustment::parse(rng.below(9) as i64 + 1).expect("1..=9"),
                    ),
                    None,
                    None,
                    &now,
                )
            })
            .is_some(),
            1 => {
                let to = &stores[rng.below(stores.len() as u64) as usize];
                to != store
                    && attempt(&conn, |c| {
                        stock::transfer(&mut SqliteTx::new(c), product, store, to, one, None, &now)
                    })
                    .is_some()
            }
            2 | 3 => {
                let input = reservations::ReserveInput {
                    product_id: product.clone(),
                    store_id: store.clone(),
                    customer_id: "c".to_owned(),
                    quantity: one,
                    ttl: chrono::Duration::minutes(10),
                    hold_id: None,
                };
                match attempt(&conn, |c| {
                    reservations::reserve(&mut SqliteTx::new(c), &input, &now)
                }) {
                    Some(row) => {
                        pending.push(row.id);
                        true
                    }
                    None => false,
                }
            }
            kind if !pending.is_empty() => {
                let id = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                match kind {
                    4 => attempt(&conn, |c| {
                        reservations::confirm(&mut SqliteTx::new(c), &id, &now)
                    })
                    .is_some(),
                    5 => attempt(&conn, |c| {
                        reservations::cancel(&mut SqliteTx::new(c), &id, None, &now)
                    })
                    .is_some(),
                    _ => attempt(&conn, |c| {
                        reservations::expire_reservation(&mut SqliteTx::new(c), &id, &later)
                    })
                    .is_some(),
                }
            }
            _ => false,
        };
        if done {
            written += 1;
            since_commit += 1;
        }
        if since_commit >= 5_000 {
            conn.execute_batch("COMMIT; BEGIN IMMEDIATE")
                .expect("commit");
            since_commit = 0;
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_from_a_100k_event_audit_log_equals_the_api_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("inventory.db");
    let settings = DatabaseSettings::at(&db_path);
    inventory_shared::db::migrate(&settings)
        .await
        .expect("migrated");
    let started = Instant::now();
    let writer_settings = settings.clone();
    tokio::task::spawn_blocking(move || write_history(&writer_settings))
        .await
        .expect("history");
    eprintln!(
        "wrote the history in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let api =
        inventory_api::Application::build(inventory_api::config::Settings::for_database(&db_path))
            .await
            .expect("API builds");
    let base = format!("http://{}", api.local_addr());
    let stop = CancellationToken::new();
    let server = tokio::spawn(api.run(stop.clone()));

    let projection_path = dir.path().join("availability.db");
    let started = Instant::now();
    let output = tokio::process::Command::new(workspace_bin("inventory-consumer"))
        .arg("rebuild")
        .env("CONSUMER_DATABASE_URL", &projection_path)
        .env("INVENTORY_API_URL", &base)
        .env("LOG_LEVEL", "warn")
        .output()
        .await
        .expect("rebuild runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rebuild failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "rebuild: {} ({:.1}s)",
        stdout.trim(),
        started.elapsed().as_secs_f64()
    );
    let events: i64 = {
        let conn = inventory_shared::db::open_reader(&db_path).expect("db");
        conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count")
    };
    assert!(events >= EVENTS);
    assert!(
        stdout.starts_with(&format!("rebuilt {events} events into ")),
        "{stdout}"
    );

    let expected = stock_table(&db_path);
    let got = projection(&projection_path);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the rebuilt projection differs from the API's stock"
    );

    stop.cancel();
    server.await.expect("API task").expect("API stops");
}
