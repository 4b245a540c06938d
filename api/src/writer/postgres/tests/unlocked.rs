//! Batches run on the stock rows a writer remembers from its own commits, without locking
//! them first (`store::postgres::cache`): a remembered row that changed since, by another
//! replica or by hand, is found changed under its lock, and the batch runs again the usual
//! way before anything is applied, so every answer is the one a locked batch would give.

use sqlx::{Connection, PgConnection};

use super::{PgWriter, database, reserve, state};
use crate::ops::OpError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_row_another_replica_changed_is_read_again_before_the_rules_decide() {
    let db = database(10).await;
    let (a, a_thread) = PgWriter::start(&db.url, 64).expect("writer a");
    let (b, b_thread) = PgWriter::start(&db.url, 64).expect("writer b");
    reserve(&a, &db, 1)
        .await
        .expect("a remembers the row: 9 available");
    reserve(&b, &db, 8).await.expect("b takes 8: 1 available");

    // As remembered, 2 of 9 would fit.
    let refused = reserve(&a, &db, 2).await;
    let last = reserve(&a, &db, 1).await;

    a_thread.stop().await;
    b_thread.stop().await;
    assert!(
        matches!(refused, Err(OpError::InsufficientStock { .. })),
        "{refused:?}"
    );
    last.expect("the last unit");
    let (stock, events) = state(&db).await;
    assert_eq!(stock, (10, 10, 4), "(quantity, reserved, version)");
    assert_eq!(events, vec![("reservation.created".to_owned(), 3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_changed_by_hand_without_its_version_is_never_written_over() {
    let db = database(10).await;
    let (a, a_thread) = PgWriter::start(&db.url, 64).expect("writer");
    reserve(&a, &db, 1)
        .await
        .expect("the row remembered: 10 on hand");
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    sqlx::query("UPDATE stock SET quantity = 3")
        .execute(&mut conn)
        .await
        .expect("a count corrected by hand, version left as it was");

    // As remembered, 5 of 9 would fit; 2 are available.
    let refused = reserve(&a, &db, 5).await;
    let fits = reserve(&a, &db, 2).await;

    a_thread.stop().await;
    assert!(
        matches!(refused, Err(OpError::InsufficientStock { .. })),
        "{refused:?}"
    );
    fits.expect("2 units fit");
    let (stock, _) = state(&db).await;
    assert_eq!(stock, (3, 3, 3), "(quantity, reserved, version)");
}
