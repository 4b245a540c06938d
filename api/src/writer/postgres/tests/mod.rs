//! The PostgreSQL writer against a private server (`inventory_shared::test_support`): the
//! rules run through its unit of work give the answers and rows they give on SQLite, a failed
//! job leaves nothing while its neighbours commit, and two writers (two replicas) on one
//! database never oversell.

use std::sync::Arc;

use inventory_shared::test_support::PgServer;
use inventory_shared::time;
use sqlx::{Connection, PgConnection};

use super::{PgWriter, PgWriterThread};
use crate::domain::{PositiveQuantity, ProductId, ReservationId, StoreId};
use crate::ops::OpError;
use crate::ops::reservations::{self, ConfirmOutcome, ReserveInput};
use crate::store::Declared;

struct Db {
    server: PgServer,
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
        server,
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

mod catalog;
mod holds_stock;
mod plans;
mod unlocked;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_answers_unavailable_then_the_writer_recovers_and_loses_nothing() {
    use inventory_shared::test_support::StopMode;
    let mut db = database(100).await;
    let (writer, thread) = PgWriter::start(&db.url, 64).expect("writer");
    for _ in 0..5 {
        reserve(&writer, &db, 1).await.expect("reserved");
    }
    db.server.stop(StopMode::Immediate).expect("crashed");
    // Past the writer's idle limit (`Unlocking::BUSY_WITHIN`): its next batch begins with
    // `BEGIN`, which finds the connection dead before anything was sent. (Right after a
    // batch it would be sent as one statement, whose outcome a dead connection leaves
    // unknown: a storage error, as at `COMMIT`.)
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let down = reserve(&writer, &db, 1).await;
    assert!(matches!(down, Err(OpError::Unavailable)), "{down:?}");
    db.server.start_again().expect("restarted");
    assert_eq!(
        db.url,
        db.server
            .url(db.url.rsplit('/').next().expect("a database name")),
        "the server came back on its port"
    );
    // Within 5 s the writer answers again, on a new connection.
    let started = std::time::Instant::now();
    let mut acknowledged = 5;
    loop {
        match reserve(&writer, &db, 1).await {
            Ok(_) => {
                acknowledged += 1;
                break;
            }
            Err(OpError::Unavailable) if started.elapsed() < std::time::Duration::from_secs(5) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(other) => panic!("not recovered after {:?}: {other:?}", started.elapsed()),
        }
    }
    thread.stop().await;
    let ((_, reserved, _), events) = state(&db).await;
    assert_eq!(reserved, acknowledged);
    assert_eq!(
        events,
        vec![("reservation.created".to_owned(), acknowledged)]
    );
}
