//! Products, idempotency keys and the expiry batch on the PostgreSQL writer, with two writers
//! (two replicas) on one database: a SKU is given to one product, a key is applied once and
//! replayed, each due reservation is expired once.

use std::sync::Arc;

use inventory_shared::time;
use sqlx::{Connection, PgConnection};

use super::{Db, database, reserve};
use crate::domain::{KeyRecord, KeyScope, ProductInput, Sku, StoredAnswer};
use crate::ops::{OpError, expire_batch, idempotency, products};
use crate::store::Declared;
use crate::writer::postgres::PgWriter;

fn product_input(sku: &str) -> ProductInput {
    ProductInput {
        sku: Sku::parse(sku).expect("a SKU"),
        name: "n".into(),
        description: None,
        category: None,
        price_cents: 100,
    }
}

async fn two_writers(db: &Db) -> (PgWriter, PgWriter, Vec<super::PgWriterThread>) {
    let (a, ta) = PgWriter::start(&db.url, 64).expect("writer 1");
    let (b, tb) = PgWriter::start(&db.url, 64).expect("writer 2");
    (a, b, vec![ta, tb])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sku_goes_to_one_product_across_replicas_and_a_product_in_use_stays() {
    let db = database(10).await;
    let (a, b, threads) = two_writers(&db).await;
    let insert = |writer: PgWriter| async move {
        let input = product_input("NEW-1");
        writer
            .write(Declared::default(), move |tx| {
                products::insert_product(tx, &input, &time::now())
            })
            .await
    };
    let (first, second) = tokio::join!(insert(a.clone()), insert(b.clone()));
    let taken = [&first, &second]
        .iter()
        .filter(|r| matches!(r, Err(OpError::SkuTaken(_))))
        .count();
    assert_eq!(taken, 1, "{first:?} {second:?}");
    let created = first.or(second).expect("one was created");
    // Renaming the fixture's product to the new SKU is refused; to a free one it applies.
    let rename = |sku: &'static str| {
        let id = db.product.clone();
        move |tx: &mut dyn crate::store::Tx| {
            products::replace_product(tx, &id, &product_input(sku), &time::now())
        }
    };
    let refused = a.write(Declared::default(), rename("NEW-1")).await;
    assert!(matches!(refused, Err(OpError::SkuTaken(_))), "{refused:?}");
    b.write(Declared::default(), rename("FREE-1"))
        .await
        .expect("renamed");
    // The fixture's product has 10 on hand: in use. The new one has no stock: deleted.
    let delete = |id: crate::domain::ProductId| {
        move |tx: &mut dyn crate::store::Tx| products::delete_product(tx, &id)
    };
    let in_use = a
        .write(Declared::default(), delete(db.product.clone()))
        .await;
    assert!(
        matches!(in_use, Err(OpError::ProductInUse(_))),
        "{in_use:?}"
    );
    b.write(Declared::default(), delete(created.id.clone()))
        .await
        .expect("deleted");
    for thread in threads {
        thread.stop().await;
    }
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    let skus: Vec<String> = sqlx::query_scalar("SELECT sku FROM products ORDER BY sku")
        .fetch_all(&mut conn)
        .await
        .expect("products");
    assert_eq!(skus, ["FREE-1"]);
}

/// What the `Idempotency-Key` wrapper does in one job: replay a stored answer, or reserve and
/// store the answer.
async fn keyed_reserve(writer: &PgWriter, db: &Arc<Db>, key: &str) -> (bool, String) {
    let scope = KeyScope {
        api_key_name: "pos".into(),
        key: key.into(),
    };
    let input = super::input(db, 1, 600);
    writer
        .write(super::declared_pair(db), move |tx| {
            let now = time::now();
            if let Some(found) = idempotency::find_key(tx, &scope, &now)? {
                return Ok((
                    true,
                    String::from_utf8_lossy(&found.answer.body).into_owned(),
                ));
            }
            let row = crate::ops::reservations::reserve(tx, &input, &now)?;
            let record = KeyRecord {
                fingerprint: "f".into(),
                answer: StoredAnswer {
                    status: 201,
                    content_type: Some("application/json".into()),
                    location: None,
                    etag: None,
                    body: row.id.as_str().as_bytes().to_vec(),
                },
            };
            idempotency::store_key(
                tx,
                &scope,
                &record,
                &now,
                &(now + chrono::Duration::hours(1)),
            )?;
            Ok((false, row.id.as_str().to_owned()))
        })
        .await
        .expect("answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_sent_to_two_replicas_at_once_applies_once_and_replays() {
    let db = Arc::new(database(10).await);
    let (a, b, threads) = two_writers(&db).await;
    for round in 0..5 {
        let key = format!("k-{round}");
        let (x, y) = tokio::join!(keyed_reserve(&a, &db, &key), keyed_reserve(&b, &db, &key));
        assert_eq!(x.1, y.1, "both answers name the one reservation");
        assert!(x.0 != y.0, "one applied, one replayed: {x:?} {y:?}");
    }
    for thread in threads {
        thread.stop().await;
    }
    let ((_, reserved, _), events) = super::state(&db).await;
    assert_eq!(reserved, 5);
    assert_eq!(events, vec![("reservation.created".to_owned(), 5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_expiring_at_once_expire_each_reservation_once() {
    let db = Arc::new(database(1000).await);
    let (a, b, threads) = two_writers(&db).await;
    // 300 reservations due at once (0 s to live).
    for _ in 0..300 {
        let input = super::input(&db, 1, 0);
        a.write(super::declared_pair(&db), move |tx| {
            crate::ops::reservations::reserve(tx, &input, &time::now()).map(|_| ())
        })
        .await
        .expect("reserved");
    }
    let pass = |writer: PgWriter| async move {
        let mut expired = 0;
        loop {
            let n = writer
                .write(Declared::default(), |tx| {
                    let at = time::now();
                    let due = expire_batch::due_reservations(tx, &at, 50)?;
                    let ids: Vec<_> = due.into_iter().map(|d| d.id).collect();
                    Ok(expire_batch::expire_many(tx, &ids, &at)?.len())
                })
                .await
                .expect("an expiry batch");
            if n == 0 {
                return expired;
            }
            expired += n;
        }
    };
    let (x, y) = tokio::join!(pass(a.clone()), pass(b.clone()));
    assert_eq!(x + y, 300, "{x} + {y}");
    // Still usable: one more reservation holds.
    reserve(&b, &db, 1).await.expect("reserved after expiry");
    for thread in threads {
        thread.stop().await;
    }
    let ((_, reserved, version), events) = super::state(&db).await;
    assert_eq!((reserved, version), (1, 1 + 300 + 300 + 1));
    assert_eq!(
        events,
        vec![
            ("reservation.created".to_owned(), 301),
            ("reservation.expired".to_owned(), 300)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sku_freed_and_taken_in_one_batch_is_taken() {
    let db = database(0).await;
    let (writer, thread) = PgWriter::start(&db.url, 64).expect("writer");
    let first = product_input("FIRST");
    let spare = writer
        .write(Declared::default(), move |tx| {
            products::insert_product(tx, &first, &time::now())
        })
        .await
        .expect("created");
    // One unit of work: the fixture's product (SKU "sku-1") is renamed, a new product takes
    // "sku-1"; "FIRST" is deleted and a new product takes "FIRST".
    let id = db.product.clone();
    let spare_id = spare.id.clone();
    writer
        .write(Declared::default(), move |tx| {
            let now = time::now();
            products::replace_product(tx, &id, &product_input("RENAMED"), &now)?;
            products::insert_product(tx, &product_input("sku-1"), &now)?;
            products::delete_product(tx, &spare_id)?;
            products::insert_product(tx, &product_input("FIRST"), &now)
        })
        .await
        .expect("every SKU was free when taken");
    thread.stop().await;
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    let skus: Vec<String> = sqlx::query_scalar("SELECT sku FROM products ORDER BY sku")
        .fetch_all(&mut conn)
        .await
        .expect("products");
    assert_eq!(skus, ["FIRST", "RENAMED", "sku-1"]);
}
