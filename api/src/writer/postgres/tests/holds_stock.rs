//! Holds and stock changes on the PostgreSQL writer: a refused multi-line hold leaves
//! nothing, stock rows are created once across replicas, changed by version, transferred into
//! new stores.

use std::sync::Arc;

use inventory_shared::time;
use sqlx::{Connection, PgConnection};

use super::{database, declared_pair, reserve};
use crate::domain::{PositiveQuantity, StoreId};
use crate::ops::OpError;
use crate::store::Declared;
use crate::writer::postgres::PgWriter;

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
