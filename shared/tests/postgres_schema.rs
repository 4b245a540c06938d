//! The PostgreSQL schema (`migrations/postgres/`) on a private server: it applies, applies once
//! when several processes migrate at the same moment, refuses every row that breaks an
//! invariant by the constraint's name, and keeps its slotted counters exact.

use inventory_shared::postgres::MIGRATOR;
use inventory_shared::test_support::{PgServer, StopMode, is_running};
use sqlx::postgres::{PgPool, PgPoolOptions};

const PRODUCT: &str = "018f0000-0000-7000-8000-000000000001";

/// A private server with one migrated database.
async fn migrated() -> (PgServer, PgPool) {
    let server = PgServer::start().expect("a private PostgreSQL server");
    let url = server.create_database().await.expect("database");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .expect("connect");
    MIGRATOR.run(&pool).await.expect("migrations apply");
    (server, pool)
}

async fn insert_product(pool: &PgPool, id: &str, sku: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO products (id, sku, name, price_cents, created_at, updated_at)
         VALUES ($1::uuid, $2, 'A product', 100, now(), now())",
    )
    .bind(id)
    .bind(sku)
    .execute(pool)
    .await
    .map(drop)
}

async fn insert_stock(
    pool: &PgPool,
    store: &str,
    quantity: i64,
    reserved: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stock (product_id, store_id, quantity, reserved, created_at, updated_at)
         VALUES ($1::uuid, $2, $3, $4, now(), now())",
    )
    .bind(PRODUCT)
    .bind(store)
    .bind(quantity)
    .bind(reserved)
    .execute(pool)
    .await
    .map(drop)
}

async fn insert_reservation(
    pool: &PgPool,
    id: &str,
    quantity: i64,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reservations
             (id, product_id, store_id, customer_id, quantity, status, expires_at, created_at, updated_at)
         VALUES ($1::uuid, $2::uuid, 'store-1', 'customer-1', $3, $4, now(), now(), now())",
    )
    .bind(id)
    .bind(PRODUCT)
    .bind(quantity)
    .bind(status)
    .execute(pool)
    .await
    .map(drop)
}

/// The name of the constraint that refused `result`.
fn refused_by(result: Result<(), sqlx::Error>) -> String {
    let err = result.expect_err("the database refuses the row");
    err.as_database_error()
        .and_then(|e| e.constraint())
        .unwrap_or_else(|| panic!("not a constraint violation: {err}"))
        .to_owned()
}

#[tokio::test]
async fn each_invariant_refuses_a_bad_row_by_its_constraint_name() {
    let (_server, pool) = migrated().await;
    insert_product(&pool, PRODUCT, "SKU-1")
        .await
        .expect("product");
    insert_stock(&pool, "store-1", 10, 2).await.expect("stock");

    assert_eq!(
        refused_by(insert_stock(&pool, "store-2", 5, 6).await),
        "stock_reserved_within_quantity"
    );
    assert_eq!(
        refused_by(insert_stock(&pool, "store-3", 5, -1).await),
        "stock_reserved_within_quantity"
    );
    assert_eq!(
        refused_by(insert_stock(&pool, "store-4", -1, 0).await),
        "stock_quantity_nonnegative"
    );
    // The guarded path too: an UPDATE that would oversell is refused, the row unchanged.
    let oversell =
        sqlx::query("UPDATE stock SET reserved = reserved + 9 WHERE store_id = 'store-1'")
            .execute(&pool)
            .await
            .map(drop);
    assert_eq!(refused_by(oversell), "stock_reserved_within_quantity");
    assert_eq!(
        refused_by(insert_product(&pool, "018f0000-0000-7000-8000-000000000002", "SKU-1").await),
        "products_sku_unique"
    );
    assert_eq!(
        refused_by(
            insert_reservation(&pool, "018f0000-0000-7000-8000-0000000000a1", 0, "PENDING").await
        ),
        "reservations_quantity_positive"
    );
    assert_eq!(
        refused_by(
            insert_reservation(&pool, "018f0000-0000-7000-8000-0000000000a2", -3, "PENDING").await
        ),
        "reservations_quantity_positive"
    );
    assert_eq!(
        refused_by(
            insert_reservation(&pool, "018f0000-0000-7000-8000-0000000000a3", 1, "LOST").await
        ),
        "reservations_status_known"
    );
    let bad_hold = sqlx::query(
        "INSERT INTO holds (id, customer_id, status, expires_at, created_at, updated_at)
         VALUES (gen_random_uuid(), 'c', 'pending', now(), now(), now())",
    )
    .execute(&pool)
    .await
    .map(drop);
    assert_eq!(refused_by(bad_hold), "holds_status_known");

    let (quantity, reserved, available): (i64, i64, i64) = sqlx::query_as(
        "SELECT quantity, reserved, available FROM stock WHERE store_id = 'store-1'",
    )
    .fetch_one(&pool)
    .await
    .expect("stock row");
    assert_eq!((quantity, reserved, available), (10, 2, 8));
    insert_reservation(&pool, "018f0000-0000-7000-8000-0000000000a4", 2, "PENDING")
        .await
        .expect("a good reservation is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrators_apply_each_migration_once() {
    let server = PgServer::start().expect("a private PostgreSQL server");
    let url = server.create_database().await.expect("database");
    // Four processes' worth of migrators, each on its own connection, started together.
    let mut pools = Vec::new();
    for _ in 0..4 {
        pools.push(
            PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("connect"),
        );
    }

    let migrators: Vec<_> = pools
        .iter()
        .cloned()
        .map(|pool| tokio::spawn(async move { MIGRATOR.run(&pool).await }))
        .collect();

    for migrator in migrators {
        migrator
            .await
            .expect("task")
            .expect("every migrator succeeds (the others waited on the lock)");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pools[0])
        .await
        .expect("count");
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'events'",
    )
    .fetch_one(&pools[0])
    .await
    .expect("count");
    assert_eq!(tables, 1);
}

#[tokio::test]
async fn slotted_counters_equal_the_rows_after_inserts_updates_and_deletes() {
    let (_server, pool) = migrated().await;
    insert_product(&pool, PRODUCT, "SKU-1")
        .await
        .expect("product");
    insert_stock(&pool, "store-1", 100, 0).await.expect("stock");
    // Several connections (so several slots), batched and single-row statements.
    let append = "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id,
                                      partition_key, payload, created_at)
                  SELECT gen_random_uuid(), $1, 'stock', 'a', 'store-1', 'p', '{}', now()
                  FROM generate_series(1, $2)";
    let mut tasks = Vec::new();
    for (event_type, n) in [
        ("stock.reserved", 40),
        ("stock.released", 7),
        ("stock.reserved", 3),
    ] {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            sqlx::query(append)
                .bind(event_type)
                .bind(n)
                .execute(&pool)
                .await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("insert");
    }
    for (i, status) in ["PENDING", "PENDING", "PENDING", "CONFIRMED"]
        .iter()
        .enumerate()
    {
        insert_reservation(
            &pool,
            &format!("018f0000-0000-7000-8000-0000000000b{i}"),
            1,
            status,
        )
        .await
        .expect("reservation");
    }
    let changes = [
        "UPDATE events SET synced_at = now() WHERE seq % 3 = 0",
        "UPDATE events SET attempts = attempts + 1",
        "UPDATE events SET dead_at = now() WHERE seq % 5 = 0",
        "UPDATE events SET synced_at = NULL, dead_at = NULL WHERE seq % 7 = 0",
        "DELETE FROM events WHERE seq % 11 = 0",
        "UPDATE reservations SET status = 'EXPIRED' WHERE id = '018f0000-0000-7000-8000-0000000000b0'",
        "UPDATE reservations SET status = 'CANCELLED' WHERE status = 'PENDING'",
        "DELETE FROM reservations WHERE status = 'EXPIRED'",
    ];
    // With the planner settings of the API's writer session, in which the counters' triggers
    // run for its statements (`api/src/store/postgres/connect.rs`): no hash or merge join.
    let mut writer = pool.acquire().await.expect("a connection");
    sqlx::raw_sql(
        "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off",
    )
    .execute(&mut *writer)
    .await
    .expect("the writer's settings");
    for change in changes {
        sqlx::query(change)
            .execute(&mut *writer)
            .await
            .expect(change);
    }
    // Not back into the pool with those settings.
    writer.close().await.expect("closing the connection");

    let counted: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT event_type, state, sum(n)::bigint FROM event_counts
         GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("counters");
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT event_type, event_state(synced_at, dead_at), count(*) FROM events
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    assert_eq!(counted, rows);
    assert_eq!(rows.iter().map(|r| r.2).sum::<i64>(), 50 - 4); // seq 11, 22, 33, 44 deleted

    let counted: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT store_id, status, sum(n)::bigint FROM reservation_counts
         GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("counters");
    assert_eq!(
        counted,
        [
            ("store-1".to_owned(), "CANCELLED".to_owned(), 2),
            ("store-1".to_owned(), "CONFIRMED".to_owned(), 1),
        ]
    );
}

#[tokio::test]
async fn events_take_seq_and_their_transaction_id_by_themselves() {
    let (_server, pool) = migrated().await;
    let mut tx = pool.begin().await.expect("begin");
    let current: String = sqlx::query_scalar("SELECT pg_current_xact_id()::text")
        .fetch_one(&mut *tx)
        .await
        .expect("xid");
    let stored: (i64, String) = sqlx::query_as(
        "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, partition_key,
                             payload, created_at)
         VALUES (gen_random_uuid(), 't', 'a', 'a', 'p', '{\"b\": 1,  \"a\": 2}', now())
         RETURNING seq, xid::text",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(stored, (1, current));

    let by_hand = sqlx::query(
        "INSERT INTO events (seq, id, event_type, aggregate_type, aggregate_id, partition_key,
                             payload, created_at)
         VALUES (99, gen_random_uuid(), 't', 'a', 'a', 'p', '{}', now())",
    )
    .execute(&pool)
    .await;
    assert!(by_hand.is_err(), "seq is the sequence's alone");
    // The payload's bytes come back as written (text, not jsonb).
    let payload: String = sqlx::query_scalar("SELECT payload FROM events WHERE seq = 1")
        .fetch_one(&pool)
        .await
        .expect("payload");
    assert_eq!(payload, "{\"b\": 1,  \"a\": 2}");
}

#[tokio::test]
async fn the_server_stops_by_pid_on_drop_and_restarts_after_a_crash() {
    let mut server = PgServer::start().expect("a private PostgreSQL server");
    let url = server.create_database().await.expect("database");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect");
    sqlx::query("CREATE TABLE acknowledged (n int)")
        .execute(&pool)
        .await
        .expect("create");
    sqlx::query("INSERT INTO acknowledged VALUES (1)")
        .execute(&pool)
        .await
        .expect("insert");
    pool.close().await;

    server.stop(StopMode::Immediate).expect("crash");
    server.start_again().expect("restart replays the WAL");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&server.url(url.rsplit('/').next().expect("name")))
        .await
        .expect("reconnect");
    let n: i32 = sqlx::query_scalar("SELECT n FROM acknowledged")
        .fetch_one(&pool)
        .await
        .expect("row");
    assert_eq!(
        n, 1,
        "a committed row survives an immediate stop (fsync on)"
    );
    pool.close().await;

    let pid = server.pid().expect("running");
    assert!(is_running(pid));
    drop(server);
    assert!(!is_running(pid), "the postmaster is gone after drop");
}

#[test]
fn a_missing_postgresql_names_the_program_instead_of_passing() {
    let err = PgServer::start_with_bindir("/nonexistent/postgresql/bin").expect_err("no server");
    let message = format!("{err:#}");
    assert!(
        message.contains("`initdb`") && message.contains("postgresql"),
        "{message}"
    );
}
