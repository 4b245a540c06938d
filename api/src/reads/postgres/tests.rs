//! The PostgreSQL reads against the SQLite ones: the same data written through each backend's
//! writer with the real operations (fixed instants), then every read on both, compared after
//! the minted ids are replaced by labels (the ids differ; everything else must not). Also the
//! read budget (`statement_timeout` → `QUERY_TIMEOUT`), `/health` while the server is down, and
//! the page positions whose id is not a UUID.

use std::time::{Duration, Instant};

use inventory_shared::config::DatabaseSettings;
use inventory_shared::db::ReadBudget;
use inventory_shared::outbox::EventFilter;
use inventory_shared::test_support::{PgServer, StopMode};
use inventory_shared::time::{self, Timestamp};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::*;
use crate::domain::{
    HoldId, PositiveQuantity, ProductId, ProductInput, Quantity, ReservationId, ReservationStatus,
    Sku, StoreId,
};
use crate::ops::OpError;
use crate::ops::holds::{self, HoldInput, HoldItem};
use crate::ops::page::{AfterAvailable, AfterInstant, AfterText};
use crate::ops::products;
use crate::ops::products::ProductsFrom;
use crate::ops::reservations::{self, ReserveInput};
use crate::ops::stock::{self as stock_ops, QuantityChange};
use crate::reads::{PointReader, Reads};
use crate::store::Declared;
use crate::writer::postgres::PgWriter;
use crate::writer::{SqliteWriter, Writer};

const BUDGET: ReadBudget = ReadBudget(Duration::from_secs(10));

fn t(seconds: i64) -> Timestamp {
    time::from_db("2026-12-01T00:00:00.000000Z").expect("an instant")
        + chrono::Duration::seconds(seconds)
}

/// One backend: its writer, its reads, and what it keeps alive.
struct Backend {
    writer: Writer,
    reads: Reads,
    _dir: Option<tempfile::TempDir>,
    _server: Option<PgServer>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("a temp dir");
    let settings = DatabaseSettings::at(dir.path().join("reads.db"));
    inventory_shared::db::migrate(&settings)
        .await
        .expect("migrating");
    let (writer, _thread) = SqliteWriter::start(&settings, 64).expect("the SQLite writer");
    let pool = inventory_shared::db::open_read_pool(&settings, 2)
        .await
        .expect("the read pool");
    Backend {
        writer: Writer::Sqlite(writer),
        reads: Reads::Sqlite {
            point: PointReader::new(&settings, BUDGET),
            health: pool.clone(),
            pool,
        },
        _dir: Some(dir),
        _server: None,
    }
}

/// A private server with a migrated database; its URL.
async fn pg_database() -> (PgServer, String) {
    let server = PgServer::start().expect("a private PostgreSQL server");
    let url = server.create_database().await.expect("a database");
    let mut conn = PgConnection::connect(&url).await.expect("connecting");
    inventory_shared::postgres::MIGRATOR
        .run(&mut conn)
        .await
        .expect("migrating");
    (server, url)
}

async fn postgres() -> Backend {
    let (server, url) = pg_database().await;
    let (writer, _thread) = PgWriter::start(&url, 64).expect("the PostgreSQL writer");
    let pool = open_read_pool(&url, 2, BUDGET)
        .await
        .expect("the read pool");
    Backend {
        writer: Writer::Postgres(writer),
        reads: Reads::Postgres {
            health: pool.clone(),
            pool,
        },
        _dir: None,
        _server: Some(server),
    }
}

/// Store ids whose byte order differs from a language's order (`MAD-001` < `MAD001`, `B2` <
/// `a1`).
const STORES: [&str; 5] = ["MAD-001", "MAD001", "a1", "B2", "mad-001"];

fn store(name: &str) -> StoreId {
    StoreId::parse(name).expect("a store id")
}

/// The ids the writes minted, in the order they were made (the same order on both backends).
#[derive(Default)]
struct Ids {
    products: Vec<ProductId>,
    reservations: Vec<ReservationId>,
    holds: Vec<HoldId>,
}

impl Ids {
    /// `text` with every minted id replaced by its label.
    fn label(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (i, id) in self.products.iter().enumerate() {
            text = text.replace(id.as_str(), &format!("P{i}"));
        }
        for (i, id) in self.reservations.iter().enumerate() {
            text = text.replace(id.as_str(), &format!("R{i}"));
        }
        for (i, id) in self.holds.iter().enumerate() {
            text = text.replace(id.as_str(), &format!("H{i}"));
        }
        text
    }
}

async fn fill(w: &Writer) -> Ids {
    let mut ids = Ids::default();
    // Products: two with the same instant (ordered by id), categories a, a, b, none, a, a.
    for (i, (category, at)) in [
        (Some("a"), 0),
        (Some("a"), 0),
        (Some("b"), 1),
        (None, 2),
        (Some("a"), 2),
        (Some("a"), 3),
    ]
    .into_iter()
    .enumerate()
    {
        let input = ProductInput {
            sku: Sku::parse(&format!("SKU-{i}")).expect("a SKU"),
            name: format!("product {i}"),
            description: (i % 2 == 0).then(|| format!("the {i}th")),
            category: category.map(str::to_owned),
            price_cents: 100 * i as i64,
        };
        let row = w
            .write(Declared::default(), move |tx| {
                products::insert_product(tx, &input, &t(at))
            })
            .await
            .expect("a product");
        ids.products.push(row.id);
    }
    let p = ids.products.clone();
    let stock: Vec<(usize, &str, i64)> = vec![
        (0, "MAD-001", 5),
        (0, "MAD001", 3),
        (0, "a1", 1200),
        (0, "B2", 0),
        (0, "mad-001", 7),
        (1, "MAD-001", 2),
        (1, "B2", 1500),
        (2, "a1", 999),
        (2, "MAD001", 1000),
        (3, "MAD-001", 4),
        (4, "MAD-001", 1),
    ];
    for (n, (product, store_name, units)) in stock.into_iter().enumerate() {
        let (id, s) = (p[product].clone(), store(store_name));
        let q = Quantity::parse(units).expect("units");
        w.write(Declared::default(), move |tx| {
            stock_ops::create_stock(tx, &id, &s, q, &t(5 + n as i64))
        })
        .await
        .expect("a stock row");
    }
    // Reservations: two with the same creation and deadline (ordered by id).
    let reserve = |product: usize, store_name: &str, units: i64, ttl: i64, at: i64| {
        let input = ReserveInput {
            product_id: p[product].clone(),
            store_id: store(store_name),
            customer_id: format!("customer-{at}"),
            quantity: PositiveQuantity::parse(units).expect("units"),
            ttl: chrono::Duration::seconds(ttl),
            hold_id: None,
        };
        async move {
            w.write(Declared::default(), move |tx| {
                reservations::reserve(tx, &input, &t(at))
            })
            .await
            .expect("a reservation")
            .id
        }
    };
    for (product, store_name, units, ttl, at) in [
        (0, "MAD-001", 1, 60, 20),
        (0, "MAD-001", 1, 60, 20),
        (0, "MAD-001", 1, 30, 21),
        (0, "MAD-001", 1, 120, 22),
        (0, "a1", 10, 60, 20),
        (0, "MAD-001", 1, 5, 23),
    ] {
        ids.reservations
            .push(reserve(product, store_name, units, ttl, at).await);
    }
    let r = ids.reservations.clone();
    let id = r[1].clone();
    w.write(Declared::default(), move |tx| {
        reservations::confirm(tx, &id, &t(30)).map(|_| ())
    })
    .await
    .expect("confirmed");
    let id = r[2].clone();
    w.write(Declared::default(), move |tx| {
        reservations::cancel(tx, &id, Some("changed mind"), &t(31)).map(|_| ())
    })
    .await
    .expect("cancelled");
    let id = r[5].clone();
    w.write(Declared::default(), move |tx| {
        reservations::expire_reservation(tx, &id, &t(32)).map(|_| ())
    })
    .await
    .expect("expired");
    // A hold of three lines and one short one (allowed).
    let input = HoldInput {
        customer_id: "holder".into(),
        ttl: chrono::Duration::seconds(300),
        allow_partial: true,
        items: [
            (2, "a1", 2),
            (1, "MAD-001", 1),
            (0, "MAD001", 1),
            (3, "MAD-001", 100),
        ]
        .into_iter()
        .map(|(product, store_name, units)| HoldItem {
            product_id: p[product].clone(),
            store_id: store(store_name),
            quantity: PositiveQuantity::parse(units).expect("units"),
        })
        .collect(),
    };
    let hold = w
        .write(Declared::default(), move |tx| {
            holds::create_hold(tx, &input, &t(40))
        })
        .await
        .expect("a hold");
    ids.holds.push(hold.hold.id.clone());
    ids.reservations
        .extend(hold.lines.iter().map(|l| l.id.clone()));
    let (id, s) = (p[3].clone(), store("MAD-001"));
    w.write(Declared::default(), move |tx| {
        stock_ops::change_quantity(
            tx,
            &id,
            &s,
            QuantityChange::Set(Quantity::parse(8).expect("8")),
            None,
            None,
            &t(41),
        )
    })
    .await
    .expect("restocked");
    ids
}

/// Every page of a list, from the first, `limit` rows a page.
macro_rules! walk {
    ($out:expr, $name:expr, |$after:ident| $read:expr) => {{
        let mut $after = None;
        let mut pages = 0;
        loop {
            let page = $read;
            $out.push(format!("{} page {pages}: {:?}", $name, page));
            pages += 1;
            match page {
                Ok(page) => match page.next {
                    Some(next) => $after = Some(next),
                    None => break,
                },
                Err(_) => break,
            }
            assert!(pages < 50, "{} does not end", $name);
        }
        pages
    }};
}

/// Positions whose id is not a stored id: SQLite compares them as text. Only texts whose
/// order among the stored ids is the same on both backends (the ids differ; each side's
/// `real` is the same row's id); `floor`'s own test covers every other kind.
fn odd_ids(real: &str) -> Vec<String> {
    vec![
        String::new(),
        "0".into(),
        "zzz".into(),
        "-".into(),
        "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
        "ffffffff-ffff-ffff-ffff-ffffffffffffz".into(),
        "00000000-0000-0000-0000-000000000000".into(),
        "é".into(),
        format!("{real}x"),
        format!("{}g", &real[..35]),
        format!("{}/", &real[..35]),
        real.to_owned(),
    ]
}

/// Every read, one line each, ids as minted.
async fn read_everything(reads: &Reads, ids: &Ids) -> Vec<String> {
    let mut out = Vec::new();
    let p = &ids.products;
    let r = &ids.reservations;
    // Point reads, found and missing.
    for id in p.iter().chain([&ProductId::example()]) {
        out.push(format!("product: {:?}", reads.product(id).await));
    }
    for sku in ["SKU-0", "SKU-5", "nope"] {
        let sku = Sku::parse(sku).expect("a SKU");
        out.push(format!("by sku: {:?}", reads.product_by_sku(&sku).await));
    }
    for (i, id) in p.iter().enumerate() {
        for s in STORES {
            out.push(format!(
                "stock {i} {s}: {:?}",
                reads.stock(id, &store(s)).await
            ));
        }
    }
    out.push(format!(
        "stock of nothing: {:?}",
        reads.stock(&ProductId::example(), &store("MAD-001")).await
    ));
    for id in r.iter().chain([&ReservationId::example()]) {
        out.push(format!("reservation: {:?}", reads.reservation(id).await));
    }
    for id in ids.holds.iter().chain([&HoldId::example()]) {
        out.push(format!("hold: {:?}", reads.hold(id).await));
    }
    // The audit log under every combination of filters.
    let p0 = Some(p[0].as_str().to_owned());
    let mad = Some("MAD-001".to_owned());
    let created = Some("reservation.created".to_owned());
    for (after_seq, event_type, aggregate_id, store_id, limit) in [
        (0, None, None, None, 1000),
        (3, None, None, None, 4),
        (0, None, None, None, -1),
        (0, created.clone(), None, None, 1000),
        (0, None, p0.clone(), None, 1000),
        (0, None, None, mad.clone(), 1000),
        (0, created.clone(), None, mad.clone(), 1000),
        (0, created.clone(), p0.clone(), None, 1000),
        (0, None, p0.clone(), mad.clone(), 1000),
        (2, created.clone(), p0.clone(), mad.clone(), 2),
        (
            0,
            Some("stock.updated".into()),
            None,
            Some("nowhere".into()),
            1000,
        ),
    ] {
        let filter = EventFilter {
            after_seq,
            event_type,
            aggregate_id,
            store_id,
        };
        let events = reads.events(filter.clone(), limit).await.map(|events| {
            events
                .into_iter()
                .map(|e| {
                    assert!(Uuid::try_parse(&e.id).is_ok(), "{}", e.id);
                    format!(
                        "{} {} {} {} {:?} {} {} {:?} {:?} {} {:?} {:?}",
                        e.seq,
                        e.event_type,
                        e.aggregate_type,
                        e.aggregate_id,
                        e.store_id,
                        e.partition_key,
                        e.payload.get(),
                        e.created_at,
                        e.synced_at,
                        e.attempts,
                        e.last_error,
                        e.dead_at
                    )
                })
                .collect::<Vec<_>>()
        });
        out.push(format!("events {filter:?} {limit}: {events:?}"));
    }
    out.push(format!("stats: {:?}", reads.reservation_stats(None).await));
    for s in STORES.into_iter().chain(["nowhere"]) {
        out.push(format!(
            "stats {s}: {:?}",
            reads.reservation_stats(Some(&store(s))).await
        ));
    }
    let stats = reads.outbox_stats().await.map(|s| {
        let by_type: std::collections::BTreeMap<_, _> = s.pending_by_type.iter().collect();
        format!(
            "{} {} {} {} {:?} {by_type:?}",
            s.total, s.pending, s.synced, s.dead, s.oldest_pending
        )
    });
    out.push(format!("outbox stats: {stats:?}"));
    // The stock lists, a page of 1, 2 and 1000 at a time.
    for limit in [1, 2, 1000] {
        for (i, id) in p.iter().chain([&ProductId::example()]).enumerate() {
            walk!(out, format!("stock of product {i} by {limit}"), |after| {
                reads
                    .stock_of_product(id, after.as_ref(), limit)
                    .await
                    .map(|p| {
                        out.push(format!("totals {} {}", p.total_quantity, p.total_reserved));
                        p.page
                    })
            });
        }
        for s in STORES.into_iter().chain(["nowhere"]) {
            walk!(out, format!("stock of store {s} by {limit}"), |after| reads
                .stock_of_store(&store(s), after.as_ref(), limit)
                .await);
        }
        for threshold in [0, 1, 5, 1000, 1001, 1500, 1501, 5000] {
            for s in [None, Some("MAD-001"), Some("a1"), Some("B2")] {
                let s = s.map(store);
                walk!(
                    out,
                    format!("low stock {threshold} in {s:?} by {limit}"),
                    |after| reads
                        .low_stock(
                            Quantity::from_stored(threshold),
                            s.as_ref(),
                            after.as_ref(),
                            limit
                        )
                        .await
                );
            }
        }
        // The reservation lists.
        for now in [0, 25, 55, 100, 400] {
            for s in STORES {
                walk!(
                    out,
                    format!("pending in {s} at {now} by {limit}"),
                    |after| reads
                        .pending_in_store(&store(s), &t(now), after.as_ref(), limit)
                        .await
                );
            }
        }
        for (i, id) in p.iter().enumerate() {
            for s in ["MAD-001", "a1", "MAD001"] {
                for status in [
                    None,
                    Some(ReservationStatus::Pending),
                    Some(ReservationStatus::Confirmed),
                    Some(ReservationStatus::Expired),
                ] {
                    walk!(
                        out,
                        format!("reservations of {i} in {s} ({status:?}) by {limit}"),
                        |after| reads
                            .of_product_in_store(id, &store(s), status, after.as_ref(), limit)
                            .await
                    );
                }
            }
        }
        // The products, by cursor and by offset.
        for category in [None, Some("a"), Some("b"), Some("none")] {
            walk!(
                out,
                format!("products in {category:?} by {limit}"),
                |after| reads
                    .products(
                        category,
                        after
                            .as_ref()
                            .map_or(ProductsFrom::Offset(0), ProductsFrom::After),
                        limit
                    )
                    .await
                    .map(|(page, total)| {
                        out.push(format!("total {total}"));
                        page
                    })
            );
            for offset in [-1, 0, 1, 3, 6, 10] {
                out.push(format!(
                    "products in {category:?} from {offset} by {limit}: {:?}",
                    reads
                        .products(category, ProductsFrom::Offset(offset), limit)
                        .await
                ));
            }
        }
    }
    // Positions whose id is no stored id, around real rows.
    let reservation = reads.reservation(&r[0]).await.expect("R0");
    let product = reads.product(&p[1]).await.expect("P1");
    for (k, odd) in odd_ids(r[0].as_str())
        .into_iter()
        .chain(odd_ids(p[1].as_str()))
        .enumerate()
    {
        let around_deadline = AfterInstant {
            at: reservation.expires_at.clone(),
            id: odd.clone(),
        };
        let around_creation = AfterInstant {
            at: reservation.created_at.clone(),
            id: odd.clone(),
        };
        let around_product = AfterInstant {
            at: product.created_at.clone(),
            id: odd.clone(),
        };
        out.push(format!(
            "pending after #{k}: {:?}",
            reads
                .pending_in_store(&store("MAD-001"), &t(25), Some(&around_deadline), 10)
                .await
        ));
        out.push(format!(
            "reservations before #{k}: {:?}",
            reads
                .of_product_in_store(&p[0], &store("MAD-001"), None, Some(&around_creation), 10)
                .await
        ));
        for category in [None, Some("a")] {
            out.push(format!(
                "products after #{k} in {category:?}: {:?}",
                reads
                    .products(category, ProductsFrom::After(&around_product), 10)
                    .await
            ));
        }
        out.push(format!(
            "store stock after #{k}: {:?}",
            reads
                .stock_of_store(&store("MAD-001"), Some(&AfterText(odd.clone())), 10)
                .await
        ));
        out.push(format!(
            "product stock after #{k}: {:?}",
            reads
                .stock_of_product(&p[0], Some(&AfterText(odd.clone())), 10)
                .await
        ));
        for available in [1, 2, 5] {
            for (s, after_store) in [(None, "MAD-001"), (None, ""), (Some("MAD-001"), "x")] {
                let s = s.map(store);
                let after = AfterAvailable {
                    available,
                    product_id: odd.clone(),
                    store_id: after_store.to_owned(),
                };
                out.push(format!(
                    "low stock after {available} #{k} {after_store} in {s:?}: {:?}",
                    reads
                        .low_stock(Quantity::from_stored(2000), s.as_ref(), Some(&after), 10)
                        .await
                ));
            }
        }
    }
    out.into_iter().map(|line| ids.label(&line)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_answers_on_postgresql_what_it_answers_on_sqlite() {
    let lite = sqlite().await;
    let pg = postgres().await;
    let lite_ids = fill(&lite.writer).await;
    let pg_ids = fill(&pg.writer).await;
    let expected = read_everything(&lite.reads, &lite_ids).await;
    let got = read_everything(&pg.reads, &pg_ids).await;
    assert_eq!(expected.len(), got.len());
    let mut differ = 0;
    for (e, g) in expected.iter().zip(&got) {
        if e != g {
            differ += 1;
            if differ <= 40 {
                eprintln!("SQLite:     {e}\nPostgreSQL: {g}\n");
            }
        }
    }
    assert_eq!(differ, 0, "{differ} of {} reads differ", expected.len());
    // A few answers spelled out, so that "the same" is not "the same mistake".
    let joined = got.join("\n");
    assert!(joined.contains("stock of store MAD-001 by 1 page 3: Ok(Page { rows: [StockRow"));
    assert!(!joined.contains("stock of store MAD-001 by 1 page 4"));
    let line = got
        .iter()
        .find(|l| l.starts_with("stock of product 0 by 1000 page 0"))
        .expect("product 0's stock");
    let at = |s: &str| {
        line.find(&format!("StoreId(\"{s}\")"))
            .unwrap_or_else(|| panic!("{s} in {line}"))
    };
    assert!(at("B2") < at("MAD-001") && at("MAD-001") < at("MAD001"));
    assert!(at("MAD001") < at("a1") && at("a1") < at("mad-001"));
    assert!(joined.contains("ProductNotFound"));
    assert!(joined.contains("StockNotFound"));
    assert!(joined.contains("ReservationNotFound"));
    assert!(joined.contains("HoldNotFound"));
    assert!(joined.contains("SkuNotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_over_its_budget_is_a_query_timeout_and_health_fails_fast_while_down() {
    let (mut server, url) = pg_database().await;
    let pool = open_read_pool(&url, 2, ReadBudget(Duration::from_millis(100)))
        .await
        .expect("the read pool");
    let started = Instant::now();
    let slow = sqlx::query("SELECT pg_sleep(2)").execute(&pool).await;
    let answer = slow.map_err(OpError::from);
    assert!(matches!(answer, Err(OpError::QueryTimeout)), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The connection is fine afterwards, and a quick read still answers.
    assert!(matches!(
        product(
            &mut pool.acquire().await.expect("a connection"),
            &ProductId::example()
        )
        .await,
        Err(OpError::ProductNotFound(_))
    ));
    let health = open_health(&url).await.expect("the health connection");
    ping(&health).await.expect("up");
    server.stop(StopMode::Immediate).expect("stopped");
    let started = Instant::now();
    assert!(ping(&health).await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    server.start_again().expect("restarted");
    let started = Instant::now();
    while ping(&health).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "not back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The read pool lends connections without pinging them first: every connection that died
/// while idle (here both, when the server restarted) fails its read as a lost connection, and
/// the read runs again on the next, then on a new one, so the first read after a restart is
/// answered, not a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_read_after_a_server_restart_is_answered() {
    let (mut server, url) = pg_database().await;
    let pool = open_read_pool(&url, 2, ReadBudget(Duration::from_secs(5)))
        .await
        .expect("the read pool");
    let reads = Reads::Postgres {
        pool: pool.clone(),
        health: open_health(&url).await.expect("the health connection"),
    };
    let (first, second) = (
        pool.acquire().await.expect("one"),
        pool.acquire().await.expect("two"),
    );
    drop((first, second));
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.num_idle() < 2 {
        assert!(
            Instant::now() < deadline,
            "both connections back in the pool"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    server.stop(StopMode::Fast).expect("stopped");
    server.start_again().expect("restarted");
    let answer = reads.product(&ProductId::example()).await;
    assert!(
        matches!(answer, Err(OpError::ProductNotFound(_))),
        "{answer:?}"
    );
}

/// `u > text` exactly when `u > floor(text)`, and `u < text` exactly when `u < ceiling(text)`,
/// for UUIDs around the boundaries.
#[test]
fn uuid_bounds_select_what_a_text_comparison_selects() {
    let seeds = [
        "01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "0193a000-0000-7000-8000-00000000000f",
        "0193a000-0000-7000-8000-0000000000f0",
    ];
    let mut texts: Vec<String> = vec![String::new(), "-".into(), "g".into(), "~".into()];
    let mut uuids: Vec<u128> = vec![0, u128::MAX];
    for seed in seeds {
        let u = Uuid::parse_str(seed).expect("a uuid").as_u128();
        uuids.extend([
            u,
            u.saturating_sub(1),
            u.saturating_add(1),
            u ^ 0xff,
            u ^ (1 << 100),
        ]);
        for cut in [0, 1, 8, 9, 10, 35, 36] {
            let prefix = &seed[..cut];
            texts.push(prefix.to_owned());
            for c in [
                "0", "9", "a", "f", "g", "-", "/", ":", "`", "A", "z", "é", "\u{7f}",
            ] {
                texts.push(format!("{prefix}{c}"));
                if cut < 36 {
                    texts.push(format!("{prefix}{c}{}", &seed[cut + 1..]));
                }
            }
        }
        texts.push(seed.to_uppercase());
    }
    for text in &texts {
        let (low, high) = (floor(text), ceiling(text));
        for &n in &uuids {
            let u = Uuid::from_u128(n).hyphenated().to_string();
            let above = u.as_bytes() > text.as_bytes();
            assert_eq!(above, low.is_none_or(|f| n > f), "{u} > {text:?}");
            let below = u.as_bytes() < text.as_bytes();
            assert_eq!(below, high.is_none_or(|c| n < c), "{u} < {text:?}");
            assert_eq!(
                above,
                after(text).is_some_and(|a| n >= a),
                "{u} after {text:?}"
            );
        }
    }
}
