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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_from_remembered_rows_is_checked_too() {
    let db = database(10).await;
    let (a, a_thread) = PgWriter::start(&db.url, 64).expect("writer");
    reserve(&a, &db, 9)
        .await
        .expect("the row remembered: 1 available");
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    sqlx::query("UPDATE stock SET quantity = 20, version = version + 1")
        .execute(&mut conn)
        .await
        .expect("restocked elsewhere");

    // As remembered, 5 would not fit; 11 are available. The batch writes nothing when it
    // refuses, so only its check can catch the change.
    let fits = reserve(&a, &db, 5).await;

    a_thread.stop().await;
    fits.expect("5 units fit");
    let (stock, _) = state(&db).await;
    assert_eq!(stock, (20, 14, 4), "(quantity, reserved, version)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_lost_with_its_connection_is_settled_on_a_new_one() {
    let db = database(10).await;
    let (a, a_thread) = PgWriter::start(&db.url, 64).expect("writer");
    reserve(&a, &db, 1).await.expect("the row remembered");
    // The writer's session ends (a restarted pooler, an administrator): its next batch, sent
    // as one statement right away, meets a dead connection and cannot know what happened.
    let mut conn = PgConnection::connect(&db.url).await.expect("connecting");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut conn)
    .await
    .expect("the writer's session ended");

    let second = reserve(&a, &db, 2).await;
    let third = reserve(&a, &db, 3).await;

    a_thread.stop().await;
    second.expect("settled as not applied, then run again on a new connection");
    third.expect("and the writer goes on");
    let (stock, events) = state(&db).await;
    assert_eq!(
        stock,
        (10, 6, 4),
        "(quantity, reserved, version): each applied once"
    );
    assert_eq!(events, vec![("reservation.created".to_owned(), 3)]);
}
