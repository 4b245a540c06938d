//! The PostgreSQL outbox (`outbox::postgres`): a set-based append that notifies at commit,
//! reads behind the visibility fence, marks, parking and the counters the relay reads.
//!
//! Each test runs on a private server: the fence is cluster-wide, so a transaction some other
//! test leaves open on a shared server would hold these reads back.

use std::time::Duration;

use inventory_shared::events::{NewEvent, StockUpdated};
use inventory_shared::outbox::postgres as outbox;
use inventory_shared::postgres::MIGRATOR;
use inventory_shared::test_support::PgServer;
use inventory_shared::time;
use sqlx::Connection;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

async fn migrated() -> (PgServer, String, PgPool) {
    let server = PgServer::start().expect("a private PostgreSQL server");
    let url = server.create_database().await.expect("a fresh database");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .expect("connect");
    MIGRATOR.run(&pool).await.expect("migrations apply");
    (server, url, pool)
}

fn event(product: &str, n: i64) -> NewEvent {
    NewEvent::StockUpdated(StockUpdated {
        product_id: product.to_owned(),
        store_id: "MAD-001".to_owned(),
        previous_quantity: n,
        new_quantity: n + 1,
        change: 1,
        reason: "restock".to_owned(),
        reserved: 0,
        version: n + 1,
    })
}

async fn append_committed(pool: &PgPool, events: &[NewEvent]) -> Vec<i64> {
    let mut tx = pool.begin().await.expect("begin");
    let seqs = outbox::append_events(&mut tx, events, &time::now())
        .await
        .expect("append");
    tx.commit().await.expect("commit");
    seqs
}

#[tokio::test]
async fn a_batch_is_appended_in_order_read_marked_and_counted() {
    let (_server, _, pool) = migrated().await;
    let events: Vec<NewEvent> = (0..5).map(|n| event("p-1", n)).collect();

    let seqs = append_committed(&pool, &events).await;

    assert_eq!(seqs.len(), 5);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let (read, held) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");
    assert!(!held);
    assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    assert_eq!(read[2].payload.get(), events[2].payload_json());
    assert_eq!(read[0].partition_key, "p-1");
    let summary = outbox::pending_summary(&pool).await.expect("summary");
    assert_eq!(summary.count, 5);
    assert_eq!(summary.oldest, Some(read[0].created_at));

    let marked = outbox::mark_synced(&pool, &seqs[..3], &time::now())
        .await
        .expect("mark");

    assert_eq!(marked, 3);
    let (rest, _) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[3..]);
    let stats = outbox::outbox_stats(&pool).await.expect("stats");
    assert_eq!((stats.total, stats.pending, stats.synced), (5, 2, 3));
    assert_eq!(stats.pending_by_type.get("stock.updated"), Some(&2));
}

#[tokio::test]
async fn a_later_seq_committed_first_waits_behind_the_open_transaction_of_an_earlier_one() {
    let (_server, url, pool) = migrated().await;
    let mut a = sqlx::PgConnection::connect(&url).await.expect("connect A");
    let mut b = sqlx::PgConnection::connect(&url).await.expect("connect B");

    // A takes seq 1 and stays open; B takes seq 2 and commits.
    let mut tx_a = a.begin().await.expect("begin A");
    let first = outbox::append_events(&mut tx_a, &[event("p-1", 0)], &time::now())
        .await
        .expect("append A");
    let mut tx_b = b.begin().await.expect("begin B");
    let second = outbox::append_events(&mut tx_b, &[event("p-2", 0)], &time::now())
        .await
        .expect("append B");
    tx_b.commit().await.expect("commit B");
    assert!(first[0] < second[0]);

    let (read, held) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");
    assert!(read.is_empty(), "read past the fence: {read:?}");
    assert!(held, "the cut must be reported");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let age = outbox::fence_age(&pool).await.expect("fence age");
    assert!(age >= 0.3, "A has held the fence for 300 ms: {age}");

    tx_a.commit().await.expect("commit A");
    let (read, held) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");
    assert!(!held);
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [first[0], second[0]]
    );
    assert_eq!(outbox::fence_age(&pool).await.expect("fence age"), 0.0);
}

#[tokio::test]
async fn a_batch_stops_before_the_first_row_not_yet_behind_the_fence() {
    let (_server, url, pool) = migrated().await;
    let early = append_committed(&pool, &[event("p-1", 0), event("p-1", 1)]).await;
    // `older` takes its xid before the fence's holder, and writes last.
    let mut older_conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    let mut older = older_conn.begin().await.expect("begin");
    let mut holder = sqlx::PgConnection::connect(&url).await.expect("connect");
    let mut open = holder.begin().await.expect("begin");
    // Taking an xid makes a transaction hold the fence from then on.
    let xid = "SELECT pg_current_xact_id()";
    sqlx::query(xid).execute(&mut *older).await.expect("xid");
    sqlx::query(xid).execute(&mut *open).await.expect("xid");
    let late = append_committed(&pool, &[event("p-2", 2)]).await;
    let after_the_cut = outbox::append_events(&mut older, &[event("p-3", 3)], &time::now())
        .await
        .expect("append");
    older.commit().await.expect("commit");

    let (read, held) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");

    // `after_the_cut` is behind the fence (its xid is older than the holder's) but comes
    // after `late`, which is not: the batch stops at `late`, it does not skip it.
    assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), early);
    assert!(held);
    open.rollback().await.expect("rollback");
    let (read, _) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [early[0], early[1], late[0], after_the_cut[0]]
    );
}

#[tokio::test]
async fn a_products_later_event_from_an_older_transaction_never_overtakes_its_earlier_one() {
    let (_server, url, pool) = migrated().await;
    let connect = || sqlx::PgConnection::connect(&url);
    let (mut p, mut x, mut r) = (
        connect().await.expect("P"),
        connect().await.expect("X"),
        connect().await.expect("R"),
    );
    // P takes its xid first (a batch that wrote other rows), X second and stays open, R third.
    let mut tx_p = p.begin().await.expect("begin P");
    let xid = "SELECT pg_current_xact_id()::text";
    sqlx::query(xid).execute(&mut *tx_p).await.expect("xid P");
    let mut tx_x = x.begin().await.expect("begin X");
    sqlx::query(xid).execute(&mut *tx_x).await.expect("xid X");
    // R writes product K's event and commits; then P (which waited for K's row lock) writes
    // K's next event and commits.
    let mut tx_r = r.begin().await.expect("begin R");
    let earlier = outbox::append_events(&mut tx_r, &[event("K", 0)], &time::now())
        .await
        .expect("append R");
    tx_r.commit().await.expect("commit R");
    let later = outbox::append_events(&mut tx_p, &[event("K", 1)], &time::now())
        .await
        .expect("append P");
    tx_p.commit().await.expect("commit P");

    // P's xid is behind the fence (older than X), R's is not: publishing P's row now would
    // put K's events out of order, so the batch stops at R's.
    let (read, held) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");
    assert!(
        read.is_empty(),
        "K's later event overtook its earlier one: {read:?}"
    );
    assert!(held);

    tx_x.commit().await.expect("commit X");
    let (read, _) = outbox::fetch_pending_after(&pool, 0, 100)
        .await
        .expect("read");
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [earlier[0], later[0]]
    );
}

#[tokio::test]
async fn the_notification_arrives_at_commit_and_never_for_a_rollback() {
    let (_server, _, pool) = migrated().await;
    let mut listener = PgListener::connect_with(&pool).await.expect("listener");
    listener.listen(outbox::CHANNEL).await.expect("listen");

    let mut rolled_back = pool.begin().await.expect("begin");
    outbox::append_events(&mut rolled_back, &[event("p-1", 0)], &time::now())
        .await
        .expect("append");
    rolled_back.rollback().await.expect("rollback");
    let nothing = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(nothing.is_err(), "a rollback notified: {nothing:?}");

    append_committed(&pool, &[event("p-1", 1)]).await;
    let woken = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("notified within 5 s")
        .expect("notification");
    assert_eq!(woken.channel(), outbox::CHANNEL);
}

#[tokio::test]
async fn an_event_rejected_max_attempts_times_is_parked_listed_and_revived() {
    let (_server, _, pool) = migrated().await;
    let seqs = append_committed(&pool, &[event("p-1", 0), event("p-1", 1)]).await;

    let first = outbox::record_rejection(&pool, seqs[0], "too big", 2, &time::now())
        .await
        .expect("reject");
    let second = outbox::record_rejection(&pool, seqs[0], "too big", 2, &time::now())
        .await
        .expect("reject");

    assert_eq!((first, second), (false, true));
    let dead = outbox::list_dead(&pool, 10).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].seq, dead[0].attempts, dead[0].last_error.as_deref()),
        (seqs[0], 2, Some("too big"))
    );
    let stats = outbox::outbox_stats(&pool).await.expect("stats");
    assert_eq!((stats.pending, stats.dead), (1, 1));
    let (read, _) = outbox::fetch_pending_after(&pool, 0, 10)
        .await
        .expect("read");
    assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), [seqs[1]]);

    assert_eq!(
        outbox::revive_dead(&pool, Some(seqs[1]))
            .await
            .expect("revive"),
        0
    );
    assert_eq!(outbox::revive_dead(&pool, None).await.expect("revive"), 1);
    assert!(outbox::list_dead(&pool, 10).await.expect("list").is_empty());
    assert_eq!(
        outbox::pending_summary(&pool).await.expect("summary").count,
        2
    );
}
