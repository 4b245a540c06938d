//! `inventory-consumer rebuild --archive DIR` after the API's retention archived and deleted
//! the older half of the history: the archive plus what the audit log kept (including old
//! events still pending, which are never archived) rebuild the API's exact state; the audit
//! log alone no longer can.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Rng, projection, stock_table, workspace_bin};
use inventory_api::domain::{
    Adjustment, PositiveQuantity, ProductId, Quantity, ReservationId, Sku, StoreId,
};
use inventory_api::ops::{products, reservations, stock};
use inventory_api::retention::{Policy, Retention};
use inventory_api::store::sqlite::SqliteTx;
use inventory_shared::config::DatabaseSettings;
use inventory_shared::time::{self, Timestamp};
use tokio_util::sync::CancellationToken;

const STORES: [&str; 3] = ["MAD-001", "BCN-001", "SEV-001"];

fn store(text: &str) -> StoreId {
    StoreId::parse(text).expect("a valid store id")
}

/// Runs `op` inside a savepoint: a refused operation leaves no trace.
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

/// `changes` random stock changes and reservations at `at` (products created first when
/// `ids` is empty).
fn write_history(
    conn: &rusqlite::Connection,
    ids: &mut Vec<ProductId>,
    rng: &mut Rng,
    at: &Timestamp,
    changes: usize,
) {
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    if ids.is_empty() {
        for i in 0..30 {
            let input = products::ProductInput {
                sku: Sku::parse(&format!("AR-{i}")).expect("a valid SKU"),
                name: "Archived".to_owned(),
                description: None,
                category: None,
                price_cents: 100,
            };
            let product = attempt(conn, |c| {
                products::insert_product(&mut SqliteTx::new(c), &input, at)
            })
            .expect("product");
            for name in STORES {
                attempt(conn, |c| {
                    stock::create_stock(
                        &mut SqliteTx::new(c),
                        &product.id,
                        &store(name),
                        Quantity::parse(500).expect("500"),
                        at,
                    )
                })
                .expect("stock");
            }
            ids.push(product.id);
        }
    }
    let mut pending: Vec<ReservationId> = Vec::new();
    let mut done = 0;
    while done < changes {
        let product = &ids[rng.below(ids.len() as u64) as usize];
        let store = store(STORES[rng.below(3) as usize]);
        let ok = match rng.below(5) {
            0 => attempt(conn, |c| {
                let delta = stock::QuantityChange::Add(
                    Adjustment::parse(rng.below(9) as i64 + 1).expect("1..=9"),
                );
                stock::change_quantity(
                    &mut SqliteTx::new(c),
                    product,
                    &store,
                    delta,
                    None,
                    None,
                    at,
                )
            })
            .is_some(),
            1 | 2 => {
                let input = reservations::ReserveInput {
                    product_id: product.clone(),
                    store_id: store.clone(),
                    customer_id: "c".to_owned(),
                    quantity: PositiveQuantity::parse(1).expect("1"),
                    ttl: chrono::Duration::days(30),
                    hold_id: None,
                };
                attempt(conn, |c| {
                    reservations::reserve(&mut SqliteTx::new(c), &input, at)
                })
                .map(|row| pending.push(row.id))
                .is_some()
            }
            3 if !pending.is_empty() => {
                let id = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                attempt(conn, |c| {
                    reservations::confirm(&mut SqliteTx::new(c), &id, at)
                })
                .is_some()
            }
            _ if !pending.is_empty() => {
                let id = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                attempt(conn, |c| {
                    reservations::cancel(&mut SqliteTx::new(c), &id, None, at)
                })
                .is_some()
            }
            _ => false,
        };
        done += usize::from(ok);
    }
    conn.execute_batch("COMMIT").expect("commit");
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = inventory_shared::db::open_reader(db).expect("reader");
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

async fn rebuild(
    base: &str,
    projection_path: &Path,
    archive: Option<&Path>,
) -> std::process::Output {
    let mut command = tokio::process::Command::new(workspace_bin("inventory-consumer"));
    command.arg("rebuild");
    if let Some(dir) = archive {
        command.arg("--archive").arg(dir);
    }
    command
        .env("CONSUMER_DATABASE_URL", projection_path)
        .env("INVENTORY_API_URL", base)
        .env("CONSUMER_BATCH_SIZE", "97")
        .env("CONSUMER_CATCHUP_PAGE", "100")
        .env("LOG_LEVEL", "warn")
        .output()
        .await
        .expect("rebuild runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_from_the_archive_and_the_remaining_log_equals_the_api_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("inventory.db");
    let settings = DatabaseSettings::at(&db_path);
    inventory_shared::db::migrate(&settings)
        .await
        .expect("migrated");
    let now = time::now();
    let (old, cutoff) = (
        now - chrono::Duration::days(3),
        now - chrono::Duration::days(1),
    );
    {
        let conn = inventory_shared::db::open_writer(&settings).expect("writer");
        let (mut ids, mut rng) = (Vec::new(), Rng::new(7));
        write_history(&conn, &mut ids, &mut rng, &old, 3_000);
        write_history(&conn, &mut ids, &mut rng, &now, 1_000);
        // Everything published but a few old events the relay has not got to.
        conn.execute(
            "UPDATE events SET synced_at = created_at WHERE NOT (seq % 211 = 0 AND created_at < ?)",
            [time::to_db(&cutoff)],
        )
        .expect("synced");
    }
    let total = count(&db_path, "SELECT COUNT(*) FROM events");
    let old_pending = count(
        &db_path,
        "SELECT COUNT(*) FROM events WHERE synced_at IS NULL",
    );
    assert!(old_pending > 5, "{old_pending}");

    let api =
        inventory_api::Application::build(inventory_api::config::Settings::for_database(&db_path))
            .await
            .expect("API builds");
    let archive_dir = dir.path().join("archive");
    let pass = Retention::build(Policy {
        events: Some(Duration::from_secs(86_400)),
        reservations: None,
        archive_dir: Some(archive_dir.clone()),
        interval: Duration::from_secs(3600),
        batch: 1000,
    })
    .expect("retention")
    .pass(
        api.state(),
        &(cutoff + chrono::Duration::days(1)),
        &CancellationToken::new(),
    )
    .await
    .expect("retention pass");
    let kept = count(&db_path, "SELECT COUNT(*) FROM events");
    assert_eq!(pass.events_archived, pass.events_deleted);
    assert_eq!(kept + pass.events_deleted as i64, total);
    assert!(pass.events_deleted > 2_000, "{pass:?}");
    let base = format!("http://{}", api.local_addr());
    let stop = CancellationToken::new();
    let server = tokio::spawn(api.run(stop.clone()));

    let from_log_alone = rebuild(&base, &dir.path().join("log-only.db"), None).await;
    assert!(
        !from_log_alone.status.success(),
        "the audit log alone lacks the deleted events"
    );

    let projection_path = dir.path().join("availability.db");
    let output = rebuild(&base, &projection_path, Some(&archive_dir)).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rebuild failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with(&format!("rebuilt {total} events into ")),
        "each event read once: {stdout}"
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
