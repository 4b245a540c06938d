//! The PostgreSQL writer alone (no HTTP): reservations/s through `PgWriter` with 1 and 2
//! writers (replicas) on one private server (`fsync=on`, `synchronous_commit=on`), on one hot
//! (product, store) pair and on 64 pairs, 32 concurrent callers in all. Checks afterwards that
//! `reserved` equals the PENDING reservations. The API on PostgreSQL is measured with
//! `bench/pg.sh` once it serves; this isolates the writer's unit of work.
//!
//! `cargo run --release -p inventory-api --example pg_writer_bench -- [seconds=10] [callers=32]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inventory_api::domain::{PositiveQuantity, ProductId, StoreId};
use inventory_api::ops::reservations::{self, ReserveInput};
use inventory_api::store::Declared;
use inventory_api::writer::postgres::PgWriter;
use inventory_shared::test_support::PgServer;
use inventory_shared::time;
use sqlx::{Connection, PgConnection};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).map_or(Ok(10), |s| s.parse())?;
    let callers: usize = args.get(2).map_or(Ok(32), |s| s.parse())?;
    let server = PgServer::start()?;
    println!("shape      writers  reservations/s   p50 ms   p99 ms  errors");
    for pairs in [1usize, 64] {
        for writers in [1usize, 2] {
            let url = server.create_database().await?;
            let products = setup(&url, pairs).await?;
            let r = run(
                &url,
                &products,
                writers,
                callers,
                Duration::from_secs(seconds),
            )
            .await?;
            println!(
                "{:<10} {:>7}  {:>14.0}  {:>7.2}  {:>7.2}  {:>6}",
                format!("{pairs} pair{}", if pairs == 1 { "" } else { "s" }),
                writers,
                r.rate,
                r.p50_ms,
                r.p99_ms,
                r.errors
            );
            check(&url).await?;
        }
    }
    Ok(())
}

async fn setup(url: &str, pairs: usize) -> anyhow::Result<Vec<ProductId>> {
    let mut conn = PgConnection::connect(url).await?;
    inventory_shared::postgres::MIGRATOR.run(&mut conn).await?;
    let mut products = Vec::new();
    for n in 0..pairs {
        let id = ProductId::mint();
        let now = time::now();
        sqlx::query(
            "INSERT INTO products (id, sku, name, price_cents, created_at, updated_at) \
             VALUES ($1::uuid, $2, 'p', 0, $3, $3)",
        )
        .bind(id.as_str())
        .bind(format!("sku-{n}"))
        .bind(now)
        .execute(&mut conn)
        .await?;
        sqlx::query(
            "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
             updated_at) VALUES ($1::uuid, 'store-1', 1000000000000, 0, 1, $2, $2)",
        )
        .bind(id.as_str())
        .bind(now)
        .execute(&mut conn)
        .await?;
        products.push(id);
    }
    Ok(products)
}

struct Outcome {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

async fn run(
    url: &str,
    products: &[ProductId],
    writers: usize,
    callers: usize,
    length: Duration,
) -> anyhow::Result<Outcome> {
    let mut handles = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..writers {
        let (writer, thread) = PgWriter::start(url, 256)?;
        handles.push(writer);
        threads.push(thread);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let store = StoreId::parse("store-1").map_err(anyhow::Error::msg)?;
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let writer = handles[caller % writers].clone();
        let stop = stop.clone();
        let products = products.to_vec();
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut n = caller;
            while !stop.load(Ordering::Relaxed) {
                let product = products[n % products.len()].clone();
                n += callers;
                let input = ReserveInput {
                    product_id: product.clone(),
                    store_id: store.clone(),
                    customer_id: "bench".into(),
                    quantity: PositiveQuantity::parse(1).expect("1"),
                    ttl: chrono::Duration::seconds(3600),
                    hold_id: None,
                };
                let declared = Declared {
                    pairs: vec![(product, store.clone())],
                    ..Declared::default()
                };
                let started = Instant::now();
                let result = writer
                    .write(declared, move |tx| {
                        reservations::reserve(tx, &input, &time::now()).map(|_| ())
                    })
                    .await;
                latencies.push(started.elapsed());
                if result.is_err() {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let took = started.elapsed();
    for thread in threads {
        thread.stop().await;
    }
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Outcome {
        rate: (latencies.len() - errors) as f64 / took.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        errors,
    })
}

/// `reserved` equals the PENDING reservations' units, and every reservation has its event.
async fn check(url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    let (reserved, pending, created): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT coalesce(sum(reserved), 0)::bigint FROM stock), \
                (SELECT coalesce(sum(quantity), 0)::bigint FROM reservations \
                  WHERE status = 'PENDING'), \
                (SELECT count(*) FROM events WHERE event_type = 'reservation.created')",
    )
    .fetch_one(&mut conn)
    .await?;
    anyhow::ensure!(
        reserved == pending && pending == created,
        "reserved {reserved}, pending {pending}, events {created}"
    );
    Ok(())
}
