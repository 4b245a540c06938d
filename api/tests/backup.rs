//! `inventory-api backup PATH`: a copy taken while requests keep writing opens, passes
//! `PRAGMA integrity_check`, and holds every event committed before it began.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{TestApp, spawn_app};

/// Fills the file past a few backup steps (4 MiB each) through the API's own writer.
async fn history(app: &TestApp, product: &str) {
    use inventory_api::domain::{Adjustment, ProductId, StoreId};
    use inventory_api::ops::stock;
    use inventory_api::store::Declared;
    for _ in 0..40 {
        let product = ProductId::parse(product).expect("a product id");
        let store = StoreId::parse("MAD-001").expect("a store id");
        app.state
            .writer
            .write(Declared::default(), move |tx| {
                for _ in 0..1000 {
                    stock::change_quantity(
                        tx,
                        &product,
                        &store,
                        stock::QuantityChange::Add(Adjustment::new_const(1)),
                        None,
                        None,
                        &inventory_shared::time::now(),
                    )?;
                }
                Ok(())
            })
            .await
            .expect("history written");
    }
}

/// `(seq, id)` of every event up to `max_seq`, from the file at `path`.
fn events_up_to(path: &std::path::Path, max_seq: i64) -> Vec<(i64, String)> {
    let conn = inventory_shared::db::open_reader(path).expect("open");
    let mut statement = conn
        .prepare("SELECT seq, id FROM events WHERE seq <= ? ORDER BY seq")
        .expect("prepare");
    statement
        .query_map([max_seq], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_write_load_is_whole_and_holds_every_earlier_event() {
    if !common::sqlite_only("the online backup of the SQLite file (PostgreSQL has pg_dump)") {
        return;
    }
    let app = Arc::new(spawn_app().await);
    let product = app.product_with_stock("BAK-1", "MAD-001", 1_000_000).await;
    history(&app, &product).await;
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (app, product, stop, written) =
            (app.clone(), product.clone(), stop.clone(), written.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                app.reserve(&product, "MAD-001", 1, Some(600)).await;
                written.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before: i64 = app.count("SELECT MAX(seq) FROM events").await;
    let dir = tempfile::tempdir().expect("dir");
    let dest = dir.path().join("copy.db");
    let writes_before = written.load(Ordering::Relaxed);

    let (source, target) = (app.db_path.clone(), dest.clone());
    let copied = tokio::task::spawn_blocking(move || {
        inventory_api::backup::backup(&source, &target, |_, _| {})
    })
    .await
    .expect("backup task")
    .expect("the backup succeeds");

    let writes_during = written.load(Ordering::Relaxed) - writes_before;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    assert!(writes_during > 0, "requests kept writing during the backup");
    assert_eq!(copied.restarts, 0, "the pinned snapshot never starts over");
    assert!(copied.pages > 1024, "several steps: {copied:?}");
    assert!(!dir.path().join("copy.db.partial").exists());
    let conn = rusqlite::Connection::open(&dest).expect("the copy opens");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let copy_max: i64 = conn
        .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))
        .expect("max seq");
    assert!(copy_max >= before);
    assert_eq!(
        events_up_to(&dest, before),
        events_up_to(&app.db_path, before),
        "every event committed before the backup began"
    );
    let stock_copy: i64 = conn
        .query_row("SELECT version FROM stock", [], |r| r.get(0))
        .expect("stock");
    let events_copy: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE partition_key = ?",
            [&product],
            |r| r.get(0),
        )
        .expect("events");
    assert_eq!(
        stock_copy, events_copy,
        "a consistent snapshot: the stock row's version counts its events"
    );
}

#[tokio::test]
async fn the_command_prints_what_it_copied_and_never_overwrites() {
    if !common::sqlite_only("`inventory-api backup` copies the SQLite file") {
        return;
    }
    let app = spawn_app().await;
    app.product_with_stock("BAK-2", "MAD-001", 5).await;
    let dir = tempfile::tempdir().expect("dir");
    let dest = dir.path().join("copy.db");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_inventory-api"))
            .arg("backup")
            .arg(&dest)
            .env("DATABASE_URL", &app.db_path)
            .env("LOG_LEVEL", "warn")
            .output()
            .expect("the command runs")
    };

    let first = run();

    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.starts_with("backed up ") && stdout.contains(&dest.display().to_string()),
        "{stdout}"
    );
    let conn = rusqlite::Connection::open(&dest).expect("opens");
    let stock: i64 = conn
        .query_row("SELECT quantity FROM stock", [], |r| r.get(0))
        .expect("stock");
    assert_eq!(stock, 5);
    drop(conn);
    let size = std::fs::metadata(&dest).expect("copy").len();

    let second = run();

    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("exists; a backup never overwrites"),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(&dest).expect("copy").len(), size);
}
