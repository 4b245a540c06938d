//! The PostgreSQL writer against a private server (`inventory_shared::test_support`): the
//! rules run through its unit of work give the answers and rows they give on SQLite, a failed
//! job leaves nothing while its neighbours commit, and two writers (two replicas) on one
//! database never oversell.

use std::sync::Arc;

use inventory_shared::test_support::PgServer;
use inventory_shared::time;
use sqlx::{Connection, PgConnection};

use super::PgWriter;
use crate::domain::{PositiveQuantity, ProductId, ReservationId, StoreId};
use crate::ops::OpError;
use crate::ops::reservations::{self, ConfirmOutcome, ReserveInput};
use crate::store::Declared;

struct Db {
    _server: PgServer,
    url: String,
    product: ProductId,
    store: StoreId,
}

/// A private server, a migrated database, one product with `units` on hand in store `s1`.
async fn database(units: i64) -> Db {
    let server = PgServer::start().expect("a private PostgreSQL server");
    let url = server.create_database().await.expect("a database");
    let mut conn = PgConnection::connect(&url).await.expect("connecting");
    inventory_shared::postgres::MIGRATOR
        .run(&mut conn)
        .await
        .expect("migrating");
    let product = ProductId::mint();
    let now = time::now();
    sqlx::query(
        "INSERT INTO products (id, sku, name, price_cents, created_at, updated_at) \
         VALUES ($1::uuid, 'sku-1', 'n', 0, $2, $2)",
    )
    .bind(product.as_str())
    .bind(now)
    .execute(&mut conn)
    .await
    .expect("a product");
    sqlx::query(
        "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
         updated_at) VALUES ($1::uuid, 's1', $2, 0, 1, $3, $3)",
    )
    .bind(product.as_str())
    .bind(units)
    .bind(now)
    .execute(&mut conn)
    .await
    .expect("a stock row");
    Db {
        _server: server,
        url,
        product,
        store: StoreId::parse("s1").expect("a store id"),
    }
}

fn input(db: &Db, units: i64, ttl_seconds: i64) -> ReserveInput {
    ReserveInput {
        product_id: db.product.clone(),
        store_id: db.store.clone(),
        customer_id: "c".into(),
        quantity: PositiveQuantity::parse(units).expect("positive"),
        ttl: chrono::Duration::seconds(ttl_seconds),
        hold_id: None,
    }
}

fn declared_pair(db: &Db) -> Declared {
    Declared {
        pairs: vec![(db.product.clone(), db.store.clone())],
        ..Declared::default()
    }
}

async fn reserve(writer: &PgWriter, db: &Db, units: i64) -> crate::ops::OpResult<ReservationId> {
    let input = input(db, units, 600);
    writer
        .write(declared_pair(db), move |tx| {
            reservations::reserve(tx, &input, &time::now()).map(|r| r.id)
        })
        .await
}

/// (quantity, reserved, version) of the stock row, and the number of events by type.
async fn state(db: &Db) -> ((i64, i64, i64), Vec<(String, i64)>) {
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    let stock: (i64, i64, i64) =
        sqlx::query_as("SELECT quantity, reserved, version FROM stock WHERE store_id = 's1'")
            .fetch_one(&mut conn)
            .await
            .expect("the stock row");
    let events: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY event_type",
    )
    .fetch_all(&mut conn)
    .await
    .expect("events");
    (stock, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_never_oversell_and_each_commits_its_event() {
    let db = Arc::new(database(50).await);
    let (writer, thread) = PgWriter::start(&db.url, 64).expect("writer");
    let mut calls = Vec::new();
    for _ in 0..200 {
        let (writer, db) = (writer.clone(), db.clone());
        calls.push(tokio::spawn(async move { reserve(&writer, &db, 1).await }));
    }
    let mut won = 0;
    for call in calls {
        match call.await.expect("joined") {
            Ok(_) => won += 1,
            Err(OpError::InsufficientStock { .. }) => {}
            Err(other) => panic!("unexpected answer: {other:?}"),
        }
    }
    thread.stop().await;
    assert_eq!(won, 50);
    let ((quantity, reserved, version), events) = state(&db).await;
    assert_eq!((quantity, reserved, version), (50, 50, 51));
    assert_eq!(events, vec![("reservation.created".to_owned(), 50)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_database_never_oversell() {
    let db = Arc::new(database(50).await);
    let (first, first_thread) = PgWriter::start(&db.url, 64).expect("writer 1");
    let (second, second_thread) = PgWriter::start(&db.url, 64).expect("writer 2");
    let mut calls = Vec::new();
    for n in 0..200 {
        let writer = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let db = db.clone();
        calls.push(tokio::spawn(async move { reserve(&writer, &db, 1).await }));
    }
    let mut won = 0;
    for call in calls {
        if call.await.expect("joined").is_ok() {
            won += 1;
        }
    }
    first_thread.stop().await;
    second_thread.stop().await;
    assert_eq!(won, 50);
    let ((_, reserved, version), events) = state(&db).await;
    assert_eq!((reserved, version), (50, 51));
    assert_eq!(events, vec![("reservation.created".to_owned(), 50)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_undone_and_its_neighbours_commit() {
    let db = database(10).await;
    let (writer, thread) = PgWriter::start(&db.url, 64).expect("writer");
    let pair = (db.product.clone(), db.store.clone());
    // Holds 4 units, appends nothing, then fails: nothing of it may stay.
    let failing = writer.write(declared_pair(&db), move |tx| {
        tx.hold_units(
            &pair.0,
            &pair.1,
            PositiveQuantity::parse(4).expect("4"),
            "2026-12-04T12:00:00.000000Z",
        )?;
        Err::<(), _>(OpError::SameStore {
            store_id: "s1".into(),
        })
    });
    let (kept, refused) = tokio::join!(reserve(&writer, &db, 3), failing);
    kept.expect("the neighbour commits");
    assert!(matches!(refused, Err(OpError::SameStore { .. })));
    let kept_after = reserve(&writer, &db, 7).await;
    assert!(
        kept_after.is_ok(),
        "the failed job's 4 units were given back: {kept_after:?}"
    );
    thread.stop().await;
    let ((_, reserved, version), events) = state(&db).await;
    assert_eq!((reserved, version), (10, 3));
    assert_eq!(events, vec![("reservation.created".to_owned(), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_cancel_and_expire_change_the_locked_rows_once() {
    let db = database(10).await;
    let (writer, thread) = PgWriter::start(&db.url, 64).expect("writer");
    let to_confirm = reserve(&writer, &db, 2).await.expect("reserved");
    let to_cancel = reserve(&writer, &db, 3).await.expect("reserved");
    let by_id = |id: &ReservationId| Declared {
        reservations: vec![id.clone()],
        ..Declared::default()
    };
    let id = to_confirm.clone();
    let confirmed = writer
        .write(by_id(&to_confirm), move |tx| {
            reservations::confirm(tx, &id, &time::now())
        })
        .await
        .expect("confirmed");
    assert!(matches!(confirmed, ConfirmOutcome::Confirmed(_)));
    let id = to_cancel.clone();
    writer
        .write(by_id(&to_cancel), move |tx| {
            reservations::cancel(tx, &id, Some("changed mind"), &time::now())
        })
        .await
        .expect("cancelled");
    let id = to_cancel.clone();
    let again = writer
        .write(by_id(&to_cancel), move |tx| {
            reservations::cancel(tx, &id, None, &time::now())
        })
        .await;
    assert!(
        matches!(again, Err(OpError::NotPending { .. })),
        "{again:?}"
    );
    // Created with a 0 s deadline: due at once; expired once, then not again.
    let due = {
        let input = input(&db, 1, 0);
        writer
            .write(declared_pair(&db), move |tx| {
                reservations::reserve(tx, &input, &time::now()).map(|r| r.id)
            })
            .await
            .expect("reserved")
    };
    for expected in [true, false] {
        let id = due.clone();
        let expired = writer
            .write(by_id(&due), move |tx| {
                reservations::expire_reservation(tx, &id, &time::now())
            })
            .await
            .expect("ran");
        assert_eq!(expired.is_some(), expected);
    }
    // Unknown reservation: refused, nothing written.
    let unknown = ReservationId::mint();
    let id = unknown.clone();
    let missing = writer
        .write(by_id(&unknown), move |tx| {
            reservations::cancel(tx, &id, None, &time::now())
        })
        .await;
    assert!(
        matches!(missing, Err(OpError::ReservationNotFound(_))),
        "{missing:?}"
    );
    thread.stop().await;
    let ((quantity, reserved, _), events) = state(&db).await;
    // 10 on hand, 2 sold; 3 cancelled and 1 expired given back.
    assert_eq!((quantity, reserved), (8, 0));
    let names: Vec<(&str, i64)> = events.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    assert_eq!(
        names,
        [
            ("reservation.cancelled", 1),
            ("reservation.confirmed", 1),
            ("reservation.created", 3),
            ("reservation.expired", 1),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_made_and_confirmed_in_one_batch_is_stored_confirmed() {
    let db = database(10).await;
    let (writer, thread) = PgWriter::start(&db.url, 64).expect("writer");
    let input = input(&db, 2, 600);
    let (id, outcome) = writer
        .write(declared_pair(&db), move |tx| {
            let row = reservations::reserve(tx, &input, &time::now())?;
            let outcome = reservations::confirm(tx, &row.id, &time::now())?;
            Ok((row.id, outcome))
        })
        .await
        .expect("both ran");
    assert!(matches!(outcome, ConfirmOutcome::Confirmed(_)));
    thread.stop().await;
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    let (status, pending): (String, i64) = sqlx::query_as(
        "SELECT r.status, (SELECT coalesce(sum(n), 0)::bigint FROM reservation_counts \
          WHERE status = 'PENDING') FROM reservations r WHERE r.id = $1::uuid",
    )
    .bind(id.as_str())
    .fetch_one(&mut conn)
    .await
    .expect("the row");
    assert_eq!((status.as_str(), pending), ("CONFIRMED", 0));
    let seqs: Vec<(String,)> = sqlx::query_as("SELECT event_type FROM events ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .expect("events");
    let seqs: Vec<&str> = seqs.iter().map(|(t,)| t.as_str()).collect();
    assert_eq!(seqs, ["reservation.created", "reservation.confirmed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_hold_leaves_nothing_and_a_held_one_confirms_whole() {
    use crate::ops::holds::{self, HoldInput, HoldItem, HoldOutcome};
    let db = database(5).await;
    // A second store of the same product, with 2 units.
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    sqlx::query(
        "INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, \
         updated_at) VALUES ($1::uuid, 's2', 2, 0, 1, now(), now())",
    )
    .bind(db.product.as_str())
    .execute(&mut conn)
    .await
    .expect("a second stock row");
    let s2 = StoreId::parse("s2").expect("a store id");
    let hold_of = |units_s1: i64, units_s2: i64| HoldInput {
        customer_id: "c".into(),
        ttl: chrono::Duration::seconds(600),
        allow_partial: false,
        items: vec![
            HoldItem {
                product_id: db.product.clone(),
                store_id: db.store.clone(),
                quantity: PositiveQuantity::parse(units_s1).expect("positive"),
            },
            HoldItem {
                product_id: db.product.clone(),
                store_id: s2.clone(),
                quantity: PositiveQuantity::parse(units_s2).expect("positive"),
            },
        ],
    };
    let declared = Declared {
        pairs: vec![
            (db.product.clone(), db.store.clone()),
            (db.product.clone(), s2.clone()),
        ],
        ..Declared::default()
    };
    let (writer, thread) = PgWriter::start(&db.url, 64).expect("writer");
    // The first line fits, the second does not: refused whole, while a reservation in the
    // same batch commits.
    let too_much = hold_of(2, 3);
    let refused = writer.write(declared.clone(), move |tx| {
        holds::create_hold(tx, &too_much, &time::now())
    });
    let (refused, neighbour) = tokio::join!(refused, reserve(&writer, &db, 1));
    assert!(
        matches!(refused, Err(OpError::ShortLines(_))),
        "{refused:?}"
    );
    neighbour.expect("the neighbour commits");
    let fits = hold_of(2, 2);
    let hold = writer
        .write(declared.clone(), move |tx| {
            holds::create_hold(tx, &fits, &time::now())
        })
        .await
        .expect("held");
    assert_eq!(hold.lines.len(), 2);
    let id = hold.hold.id.clone();
    let confirmed = writer
        .write(Declared::default(), move |tx| {
            holds::confirm_hold(tx, &id, &time::now())
        })
        .await
        .expect("confirmed");
    assert!(matches!(confirmed, HoldOutcome::Done(_)));
    thread.stop().await;
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT store_id, quantity, reserved FROM stock ORDER BY store_id")
            .fetch_all(&mut conn)
            .await
            .expect("stock");
    // s1: 5 on hand, 2 sold by the hold, 1 reserved by the neighbour; s2: 2 sold.
    assert_eq!(rows, [("s1".to_owned(), 3, 1), ("s2".to_owned(), 0, 0)]);
    let (holds, statuses): (i64, Vec<String>) = (
        sqlx::query_scalar("SELECT count(*) FROM holds")
            .fetch_one(&mut conn)
            .await
            .expect("holds"),
        sqlx::query_scalar("SELECT status FROM reservations ORDER BY status")
            .fetch_all(&mut conn)
            .await
            .expect("lines"),
    );
    assert_eq!(holds, 1, "the refused hold's row was undone");
    assert_eq!(statuses, ["CONFIRMED", "CONFIRMED", "PENDING"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_rows_are_created_once_changed_by_version_and_transferred_into_new_stores() {
    use crate::domain::{Adjustment, Quantity};
    use crate::ops::stock::{self, QuantityChange};
    let db = Arc::new(database(10).await);
    let (first, first_thread) = PgWriter::start(&db.url, 64).expect("writer 1");
    let (second, second_thread) = PgWriter::start(&db.url, 64).expect("writer 2");
    // Two replicas create the same new row at once: one creates it, the other is refused.
    let s2 = StoreId::parse("s2").expect("a store id");
    let create = |writer: PgWriter| {
        let (db, s2) = (db.clone(), s2.clone());
        async move {
            writer
                .write(Declared::default(), move |tx| {
                    stock::create_stock(
                        tx,
                        &db.product,
                        &s2,
                        Quantity::parse(4).expect("4"),
                        &time::now(),
                    )
                })
                .await
        }
    };
    let (a, b) = tokio::join!(create(first.clone()), create(second.clone()));
    let created = [&a, &b].iter().filter(|r| r.is_ok()).count();
    let refused = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(OpError::StockExists { .. })))
        .count();
    assert_eq!((created, refused), (1, 1), "{a:?} {b:?}");
    // If-Match: the stale version is refused, the current one applies.
    let change = |version: i64, delta: i64| {
        let db = db.clone();
        move |tx: &mut dyn crate::store::Tx| {
            stock::change_quantity(
                tx,
                &db.product,
                &db.store,
                QuantityChange::Add(Adjustment::parse(delta).expect("delta")),
                Some(version),
                None,
                &time::now(),
            )
        }
    };
    let stale = first.write(declared_pair(&db), change(7, 1)).await;
    assert!(
        matches!(stale, Err(OpError::VersionMismatch { .. })),
        "{stale:?}"
    );
    let row = second
        .write(declared_pair(&db), change(1, 5))
        .await
        .expect("adjusted");
    assert_eq!((row.quantity.get(), row.version), (15, 2));
    // A transfer into a store with no row creates it; one beyond what is available is refused.
    let s3 = StoreId::parse("s3").expect("a store id");
    let transfer = |units: i64| {
        let (db, s3) = (db.clone(), s3.clone());
        move |tx: &mut dyn crate::store::Tx| {
            stock::transfer(
                tx,
                &db.product,
                &db.store,
                &s3,
                PositiveQuantity::parse(units).expect("units"),
                None,
                &time::now(),
            )
        }
    };
    first
        .write(declared_pair(&db), transfer(6))
        .await
        .expect("moved");
    let short = second.write(declared_pair(&db), transfer(10)).await;
    assert!(
        matches!(short, Err(OpError::InsufficientStock { .. })),
        "{short:?}"
    );
    first_thread.stop().await;
    second_thread.stop().await;
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT store_id, quantity, version FROM stock ORDER BY store_id")
            .fetch_all(&mut conn)
            .await
            .expect("stock");
    assert_eq!(
        rows,
        [
            ("s1".to_owned(), 9, 3),
            ("s2".to_owned(), 4, 1),
            ("s3".to_owned(), 6, 1)
        ]
    );
    let events: Vec<String> = sqlx::query_scalar("SELECT event_type FROM events ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .expect("events");
    assert_eq!(
        events,
        ["stock.created", "stock.updated", "stock.transferred"]
    );
}
