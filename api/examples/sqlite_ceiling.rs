//! The SQLite ceiling for the API's reservation statements (bench/api.sh prints the API's
//! rate as a ratio of it): the same operation the route runs ([`reservations::reserve`], with
//! its event), on a connection opened exactly like the writer's
//! ([`inventory_shared::db::open_writer`]: WAL, `synchronous=FULL`, the same cache), wrapped
//! the way the writer wraps a group commit (`BEGIN IMMEDIATE`, a savepoint per job,
//! `COMMIT`), in a tight loop with no HTTP, no channel and no other thread.
//!
//! Usage: `sqlite_ceiling DIR [--pairs N] [--batch B] [--seconds S]`; creates `DIR/ceiling.db`
//! (removed afterwards). Prints one line: `ceiling: <reservations/s> ...`. `CEILING_PRAGMAS`
//! runs extra statements on the connection first (to try a setting: `PRAGMA ...`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use inventory_api::domain::{PositiveQuantity, Quantity, Sku, StoreId};
use inventory_api::ops::{products, reservations, stock};
use inventory_api::store::sqlite::SqliteTx;
use inventory_shared::config::DatabaseSettings;
use inventory_shared::time;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .context("usage: sqlite_ceiling DIR [--pairs N] [--batch B] [--seconds S]")?,
    );
    let (mut pairs, mut batch, mut seconds) = (1usize, 32usize, 5u64);
    while let Some(flag) = args.next() {
        let value: u64 = args.next().context("a flag needs a value")?.parse()?;
        match flag.as_str() {
            "--pairs" => pairs = value.max(1) as usize,
            "--batch" => batch = value.max(1) as usize,
            "--seconds" => seconds = value.max(1),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let path = dir.join("ceiling.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let settings = DatabaseSettings::at(&path);
    tokio::runtime::Runtime::new()?.block_on(inventory_shared::db::migrate(&settings))?;
    let conn = inventory_shared::db::open_writer(&settings)?;
    // For experiments: extra PRAGMAs after the writer's own, e.g. "PRAGMA wal_autocheckpoint=0".
    if let Ok(pragmas) = std::env::var("CEILING_PRAGMAS") {
        conn.execute_batch(&pragmas)?;
    }

    let at = time::now();
    let mut inputs = Vec::with_capacity(pairs);
    for p in 0..pairs {
        let product = products::insert_product(
            &mut SqliteTx::new(&conn),
            &products::ProductInput {
                sku: Sku::parse(&format!("CEIL-{p}")).map_err(anyhow::Error::msg)?,
                name: format!("Ceiling product {p}"),
                description: None,
                category: None,
                price_cents: 150,
            },
            &at,
        )?;
        let store =
            StoreId::parse(&format!("BENCH-STORE-{}", p % 8)).map_err(anyhow::Error::msg)?;
        let units = Quantity::new_const(1_000_000_000);
        stock::create_stock(&mut SqliteTx::new(&conn), &product.id, &store, units, &at)?;
        inputs.push(reservations::ReserveInput {
            product_id: product.id,
            store_id: store,
            customer_id: "bench".to_owned(),
            quantity: PositiveQuantity::new_const(1),
            ttl: chrono::Duration::seconds(86_400),
            hold_id: None,
        });
    }

    let (mut done, mut commits) = (0u64, 0u64);
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    while Instant::now() < until {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for _ in 0..batch {
            let input = &inputs[(done as usize) % pairs];
            conn.prepare_cached("SAVEPOINT job")?.execute([])?;
            reservations::reserve(&mut SqliteTx::new(&conn), input, &time::now())?;
            conn.prepare_cached("RELEASE job")?.execute([])?;
            done += 1;
        }
        conn.execute_batch("COMMIT")?;
        commits += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    println!(
        "ceiling: {:.0} reservations/s ({done} in {commits} commits of {batch}, {pairs} pair(s), \
         {:.0} commits/s, {:.1} µs of statements+commit per reservation)",
        done as f64 / elapsed,
        commits as f64 / elapsed,
        elapsed * 1e6 / done as f64
    );
    Ok(())
}
