//! Builds a large inventory database for scale measurements (issue 10; `bench/scale.sh`),
//! with the project's own schema (the embedded migrations) and its own write operations
//! (`inventory_api::ops`), so the rows and events are exactly what the API would have
//! written and folding the events reproduces every stock row (`--verify` checks it, with
//! the rules of `api/tests/replay.rs`).
//!
//! Default size (the issue's): 20,000 products × 50 stores = 1,000,000 stock rows,
//! 2,000,000 reservations, 5,000,000 events, spread over 120 days of history ending an hour
//! ago, every event synced, 1% of the reservations still PENDING (due in four months).
//! `--scale 0.1` builds a tenth of each (products, reservations, events; still 50 stores).
//!
//! Fast because nothing else has the file open while it runs: `synchronous=OFF`, the
//! rollback journal in memory, transactions of 50,000 operations; the file is switched back
//! to WAL at the end.
//!
//! `--schema VERSION` leaves the file at an older schema: only the migrations up to VERSION
//! (e.g. `20261130000001`, the first) are applied, so the API's next start runs the rest on a
//! large file, as an in-place upgrade would (`bench/upgrade_rss.sh`, issue 17). The rows are
//! built at the current schema in a scratch file next to PATH (the operations write the
//! current schema's columns and counters), then copied column by column into PATH, which has
//! only the older schema's tables; the scratch file is deleted. It needs twice the disk space
//! and about twice the time.
//!
//! Usage: `cargo run --release -p inventory-api --example gen_large_db -- PATH [--scale F]
//! [--verify] [--schema VERSION]`. PATH must not exist.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use inventory_api::domain::{
    Adjustment, PositiveQuantity, ProductId, Quantity, ReservationId, Sku, StoreId,
};
use inventory_api::ops::{products, reservations, stock};
use inventory_api::store::sqlite::SqliteTx;
use inventory_shared::config::DatabaseSettings;
use inventory_shared::db::MIGRATOR;
use inventory_shared::events::{EventType, NewEvent};
use inventory_shared::time::{self, Timestamp};
use sqlx::ConnectOptions;
use sqlx::migrate::Migrate;

/// Operations per transaction.
const PER_COMMIT: u64 = 50_000;
/// Days of history.
const DAYS: i64 = 120;

/// How big the database is.
#[derive(Debug, Clone, Copy)]
struct Size {
    products: u64,
    stores: u64,
    reservations: u64,
    events: u64,
}

impl Size {
    fn scaled(scale: f64) -> Self {
        let of = |n: f64| (n * scale).round().max(1.0) as u64;
        Self {
            products: of(20_000.0),
            stores: 50,
            reservations: of(2_000_000.0),
            events: of(5_000_000.0),
        }
    }
}

/// xorshift64: seeded, so two runs build the same shape.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n.max(1)
    }
}

/// What happens to a reservation once it is old enough.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Confirm,
    Cancel,
    Expire,
}

/// A reservation waiting for its fate.
struct Open {
    id: ReservationId,
    created: Timestamp,
    fate: Fate,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let (mut scale, mut verify, mut schema) = (1.0_f64, false, None::<i64>);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scale" => {
                scale = args
                    .next()
                    .context("--scale needs a number")?
                    .parse()
                    .context("--scale")?;
            }
            "--verify" => verify = true,
            "--schema" => {
                schema = Some(
                    args.next()
                        .context("--schema needs a migration version")?
                        .parse()
                        .context("--schema")?,
                );
            }
            other if path.is_none() => path = Some(PathBuf::from(other)),
            other => bail!("unexpected argument {other}"),
        }
    }
    let path =
        path.context("usage: gen_large_db PATH [--scale F] [--verify] [--schema VERSION]")?;
    if path.exists() {
        bail!("{} exists; choose a new path", path.display());
    }
    if let Some(version) = schema {
        if !MIGRATOR.iter().any(|m| m.version == version) {
            bail!("--schema {version}: no such migration in migrations/");
        }
        let mut scratch = path.clone().into_os_string();
        scratch.push(".current-schema");
        let scratch = PathBuf::from(scratch);
        if scratch.exists() {
            bail!("{} exists; remove it first", scratch.display());
        }
        build(&scratch, scale, verify)?;
        let copied = copy_at_schema(&scratch, &path, version);
        for suffix in ["", "-wal", "-shm"] {
            let mut file = scratch.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
        return copied;
    }
    build(&path, scale, verify)
}

/// Builds the database at PATH at the current schema.
fn build(path: &Path, scale: f64, verify: bool) -> anyhow::Result<()> {
    let size = Size::scaled(scale);
    let started = Instant::now();
    let settings = DatabaseSettings::at(path);
    tokio::runtime::Runtime::new()?.block_on(inventory_shared::db::migrate(&settings))?;
    let conn = rusqlite::Connection::open(path)?;
    // Nobody else has the file open: no fsync, no on-disk journal.
    conn.execute_batch(
        "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF; PRAGMA cache_size=-524288; \
         PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    let mut generator = Generator {
        conn: &conn,
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        since_commit: 0,
        done: 0,
    };
    generator.begin()?;
    let start = time::now() - chrono::Duration::days(DAYS);
    let rows = generator.catalogue(&size, &start)?;
    eprintln!(
        "catalogue: {} stock rows in {:.0?}",
        rows.len(),
        started.elapsed()
    );
    generator.history(&size, &rows, start)?;
    generator.commit()?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA optimize;")?;
    let stock_rows: i64 = conn.query_row("SELECT COUNT(*) FROM stock", [], |r| r.get(0))?;
    let reservation_rows: i64 =
        conn.query_row("SELECT COUNT(*) FROM reservations", [], |r| r.get(0))?;
    let events: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    drop(conn);
    println!(
        "built {}: {stock_rows} stock rows, {reservation_rows} reservations, {events} events, \
         {:.2} GB in {:.0?}",
        path.display(),
        std::fs::metadata(path)?.len() as f64 / 1e9,
        started.elapsed()
    );
    if verify {
        verify_replay(path)?;
    }
    Ok(())
}

/// Creates `to` with the migrations up to `version` only, and copies every row of `from` (at
/// the current schema) into it: for each table of the older schema, the columns both have.
/// A later migration's tables and columns (counters, holds, generated columns) are left out,
/// as they were before the upgrade; its backfills are the API's next start's job.
fn copy_at_schema(from: &Path, to: &Path, version: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    tokio::runtime::Runtime::new()?.block_on(async {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(to)
            .create_if_missing(true)
            .auto_vacuum(sqlx::sqlite::SqliteAutoVacuum::Incremental)
            .connect()
            .await?;
        conn.ensure_migrations_table().await?;
        for migration in MIGRATOR.iter().filter(|m| m.version <= version) {
            conn.apply(migration).await?;
        }
        sqlx::Connection::close(conn).await?;
        anyhow::Ok(())
    })?;
    let conn = rusqlite::Connection::open(to)?;
    conn.execute_batch(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-524288; \
         PRAGMA foreign_keys=OFF;",
    )?;
    conn.execute("ATTACH DATABASE ?1 AS source", [from.to_string_lossy()])?;
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM main.sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    conn.execute_batch("BEGIN")?;
    for table in &tables {
        // `hidden` is 0 for an ordinary column, 2 or 3 for a generated one (not copied).
        let columns: Vec<String> = conn
            .prepare(
                "SELECT t.name FROM pragma_table_xinfo(?1, 'main') AS t \
                 JOIN pragma_table_xinfo(?1, 'source') AS s ON s.name = t.name \
                 WHERE t.hidden = 0 ORDER BY t.cid",
            )?
            .query_map([table], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let columns = columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let copied = conn.execute(
            &format!(
                "INSERT INTO main.\"{table}\" ({columns}) SELECT {columns} FROM source.\"{table}\""
            ),
            [],
        )?;
        eprintln!("copied {copied} rows of {table}");
    }
    // `events.seq` is AUTOINCREMENT: its high-water mark comes along.
    conn.execute_batch(
        "DELETE FROM main.sqlite_sequence; \
         INSERT INTO main.sqlite_sequence SELECT * FROM source.sqlite_sequence; COMMIT; \
         DETACH DATABASE source; PRAGMA journal_mode=WAL; PRAGMA optimize;",
    )?;
    drop(conn);
    println!(
        "{} at schema {version} (the migrations after it not applied): {:.2} GB, copied in {:.0?}",
        to.display(),
        std::fs::metadata(to)?.len() as f64 / 1e9,
        started.elapsed()
    );
    Ok(())
}

/// The one connection and the running counts.
struct Generator<'c> {
    conn: &'c rusqlite::Connection,
    rng: Rng,
    since_commit: u64,
    done: u64,
}

impl Generator<'_> {
    fn begin(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("BEGIN")
    }

    /// Marks this transaction's events synced (as the relay would have) and commits.
    fn commit(&mut self) -> rusqlite::Result<()> {
        self.conn.execute_batch(
            "UPDATE events SET synced_at = created_at WHERE synced_at IS NULL AND dead_at IS NULL; \
             COMMIT",
        )?;
        self.since_commit = 0;
        Ok(())
    }

    /// Counts one operation; commits every [`PER_COMMIT`].
    fn step(&mut self) -> anyhow::Result<()> {
        self.since_commit += 1;
        self.done += 1;
        if self.since_commit >= PER_COMMIT {
            self.commit()?;
            self.begin()?;
            if self.done % 500_000 < PER_COMMIT {
                eprintln!("{} operations", self.done);
            }
        }
        Ok(())
    }

    /// Products and a stock row of each in every store (`stock.created`).
    fn catalogue(
        &mut self,
        size: &Size,
        at: &Timestamp,
    ) -> anyhow::Result<Vec<(ProductId, StoreId)>> {
        let stores = (0..size.stores)
            .map(|s| StoreId::parse(&format!("ST-{s:03}")).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut rows = Vec::with_capacity((size.products * size.stores) as usize);
        for p in 0..size.products {
            let input = products::ProductInput {
                sku: Sku::parse(&format!("GEN-{p:07}")).map_err(anyhow::Error::msg)?,
                name: format!("Generated product {p}"),
                description: Some("Built by api/examples/gen_large_db.rs".to_owned()),
                category: Some(format!("category-{:02}", p % 40)),
                price_cents: 100 + (p % 5000) as i64,
            };
            let product = products::insert_product(&mut SqliteTx::new(self.conn), &input, at)?;
            for store in &stores {
                let quantity = Quantity::from_stored(500 + self.rng.below(1500) as i64);
                stock::create_stock(
                    &mut SqliteTx::new(self.conn),
                    &product.id,
                    store,
                    quantity,
                    at,
                )?;
                rows.push((product.id.clone(), store.clone()));
                self.step()?;
            }
        }
        Ok(rows)
    }

    /// Reservations (each confirmed, cancelled or expired 15 minutes after it was made; the
    /// last 1% left PENDING) and stock adjustments, interleaved along the timeline.
    fn history(
        &mut self,
        size: &Size,
        rows: &[(ProductId, StoreId)],
        start: Timestamp,
    ) -> anyhow::Result<()> {
        let keep_pending = size.reservations / 100;
        let finishes = size.reservations - keep_pending;
        let fixed = rows.len() as u64 + size.reservations + finishes;
        let adjustments = size.events.saturating_sub(fixed);
        let operations = size.reservations + finishes + adjustments;
        let end = time::now() - chrono::Duration::hours(1);
        let tick = (end - start) / i32::try_from(operations.max(1)).unwrap_or(i32::MAX);
        let settle = chrono::Duration::minutes(15);
        let mut at = start;
        let mut open: VecDeque<Open> = VecDeque::new();
        let (mut reserved, mut adjusted) = (0, 0);
        while reserved < size.reservations || adjusted < adjustments {
            at += tick;
            while let Some(o) = open.pop_front() {
                if at - o.created < settle {
                    open.push_front(o);
                    break;
                }
                self.finish(&o, &at)?;
                at += tick;
            }
            let reserve_left = size.reservations - reserved;
            let adjust_left = adjustments - adjusted;
            let (product, store) = &rows[self.rng.below(rows.len() as u64) as usize];
            if self.rng.below(reserve_left + adjust_left) < reserve_left {
                let last_ones = reserve_left <= keep_pending;
                let fate = match self.rng.below(100) {
                    0..=59 => Fate::Confirm,
                    60..=79 => Fate::Cancel,
                    _ => Fate::Expire,
                };
                let ttl = match (last_ones, fate) {
                    (true, _) => chrono::Duration::days(DAYS),
                    (false, Fate::Expire) => chrono::Duration::minutes(10),
                    (false, _) => chrono::Duration::days(1),
                };
                let input = reservations::ReserveInput {
                    product_id: product.clone(),
                    store_id: store.clone(),
                    customer_id: format!("customer-{}", self.rng.below(100_000)),
                    quantity: PositiveQuantity::from_stored(1 + self.rng.below(3) as i64),
                    ttl,
                    hold_id: None,
                };
                let row = reservations::reserve(&mut SqliteTx::new(self.conn), &input, &at)?;
                if !last_ones {
                    open.push_back(Open {
                        id: row.id,
                        created: at,
                        fate,
                    });
                }
                reserved += 1;
            } else {
                let change = stock::QuantityChange::Add(Adjustment::from_stored(
                    1 + self.rng.below(20) as i64,
                ));
                stock::change_quantity(
                    &mut SqliteTx::new(self.conn),
                    product,
                    store,
                    change,
                    None,
                    None,
                    &at,
                )?;
                adjusted += 1;
            }
            self.step()?;
        }
        while let Some(o) = open.pop_front() {
            at = at.max(o.created + settle);
            self.finish(&o, &at)?;
        }
        Ok(())
    }

    fn finish(&mut self, open: &Open, at: &Timestamp) -> anyhow::Result<()> {
        match open.fate {
            Fate::Confirm => {
                reservations::confirm(&mut SqliteTx::new(self.conn), &open.id, at)?;
            }
            Fate::Cancel => {
                reservations::cancel(
                    &mut SqliteTx::new(self.conn),
                    &open.id,
                    Some("customer_request"),
                    at,
                )?;
            }
            Fate::Expire => {
                reservations::expire_reservation(&mut SqliteTx::new(self.conn), &open.id, at)?
                    .context("an expiring reservation was not due")?;
            }
        }
        self.step()
    }
}

/// Folds every event in `seq` order (the rules of `api/tests/replay.rs`) and compares the
/// result with the stock table.
fn verify_replay(path: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let conn = inventory_shared::db::open_reader(path)?;
    let mut state: HashMap<(String, String), (i64, i64)> = HashMap::new();
    let mut statement = conn.prepare("SELECT seq, event_type, payload FROM events ORDER BY seq")?;
    let mut rows = statement.query([])?;
    let mut events = 0_u64;
    while let Some(row) = rows.next()? {
        let (seq, kind, payload): (i64, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let kind = EventType::parse(&kind).with_context(|| format!("seq {seq}: type {kind}"))?;
        match NewEvent::from_stored(kind, &payload)? {
            NewEvent::StockCreated(e) => {
                state.insert((e.product_id, e.store_id), (e.quantity, 0));
            }
            NewEvent::StockUpdated(e) => {
                state.entry((e.product_id, e.store_id)).or_default().0 = e.new_quantity;
            }
            NewEvent::StockTransferred(e) => {
                state
                    .entry((e.product_id.clone(), e.from_store))
                    .or_default()
                    .0 -= e.quantity;
                state.entry((e.product_id, e.to_store)).or_default().0 += e.quantity;
            }
            NewEvent::ReservationCreated(e) => {
                state.entry((e.product_id, e.store_id)).or_default().1 += e.quantity;
            }
            NewEvent::ReservationConfirmed(e) => {
                let row = state.entry((e.product_id, e.store_id)).or_default();
                row.0 -= e.quantity;
                row.1 -= e.quantity;
            }
            NewEvent::ReservationCancelled(e) => {
                state.entry((e.product_id, e.store_id)).or_default().1 -= e.quantity;
            }
            NewEvent::ReservationExpired(e) => {
                state.entry((e.product_id, e.store_id)).or_default().1 -= e.quantity;
            }
            // A new deadline moves no units.
            NewEvent::ReservationExtended(_) => {}
        }
        events += 1;
    }
    let mut statement =
        conn.prepare("SELECT product_id, store_id, quantity, reserved FROM stock")?;
    let mut rows = statement.query([])?;
    let mut stock_rows = 0_usize;
    while let Some(row) = rows.next()? {
        let key: (String, String) = (row.get(0)?, row.get(1)?);
        let have: (i64, i64) = (row.get(2)?, row.get(3)?);
        anyhow::ensure!(
            state.get(&key) == Some(&have),
            "{key:?}: stock {have:?}, events fold to {:?}",
            state.get(&key)
        );
        stock_rows += 1;
    }
    anyhow::ensure!(
        stock_rows == state.len(),
        "rows without events or events without rows"
    );
    println!(
        "verified: folding {events} events reproduces all {stock_rows} stock rows ({:.0?})",
        started.elapsed()
    );
    Ok(())
}
