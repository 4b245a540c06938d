//! Every page of every list is one range scan of an index: `EXPLAIN QUERY PLAN` of each list
//! statement, on the migrated database of a running API, names the intended index and never a
//! full scan or a sort (a temporary B-tree would mean reading the whole range before the first
//! row).

mod common;

use common::spawn_app;
use inventory_api::ops::{products, reservation_lists, stock_lists};

#[tokio::test]
async fn each_list_statement_walks_its_index() {
    if !common::sqlite_only("SQLite's EXPLAIN QUERY PLAN of the SQLite statements") {
        return;
    }
    let app = spawn_app().await;
    let cases = [
        (
            stock_lists::STORE_PAGE,
            "SEARCH stock USING INDEX stock_by_store (store_id=? AND product_id>?)",
        ),
        (
            stock_lists::PRODUCT_PAGE,
            "SEARCH stock USING PRIMARY KEY (product_id=? AND store_id>?)",
        ),
        (
            stock_lists::PRODUCT_TOTALS,
            "SEARCH stock USING PRIMARY KEY (product_id=?)",
        ),
        (
            stock_lists::LOW_PAGE,
            "SEARCH stock USING INDEX stock_by_available ((available,product_id,store_id)>(?,?,?) AND available<?)",
        ),
        (
            stock_lists::LOW_IN_STORE_PAGE,
            "SEARCH stock USING INDEX stock_by_store_available (store_id=? AND (available,product_id)>(?,?) AND available<?)",
        ),
        (
            reservation_lists::PENDING_FIRST_PAGE,
            "SEARCH reservations USING INDEX reservations_by_store (store_id=? AND status=? AND expires_at>?)",
        ),
        (
            reservation_lists::PENDING_NEXT_PAGE,
            "SEARCH reservations USING INDEX reservations_by_store (store_id=? AND status=? AND (expires_at,id)>(?,?))",
        ),
        (
            reservation_lists::NEWEST_FIRST_PAGE,
            "SEARCH reservations USING INDEX reservations_by_product_store (product_id=? AND store_id=?)",
        ),
        (
            reservation_lists::NEWEST_NEXT_PAGE,
            "SEARCH reservations USING INDEX reservations_by_product_store (product_id=? AND store_id=? AND (created_at,id)<(?,?))",
        ),
        (
            reservation_lists::NEWEST_OF_STATUS_FIRST_PAGE,
            "SEARCH reservations USING INDEX reservations_by_product_store (product_id=? AND store_id=?)",
        ),
        (
            reservation_lists::NEWEST_OF_STATUS_NEXT_PAGE,
            "SEARCH reservations USING INDEX reservations_by_product_store (product_id=? AND store_id=? AND (created_at,id)<(?,?))",
        ),
        (
            products::PRODUCTS_AFTER,
            "SEARCH products USING INDEX products_by_created ((created_at,id)>(?,?))",
        ),
        (
            products::CATEGORY_AFTER,
            "SEARCH products USING INDEX products_by_category (category=? AND (created_at,id)>(?,?))",
        ),
        (
            products::PRODUCTS_AT_OFFSET,
            "SCAN products USING INDEX products_by_created",
        ),
        (
            products::CATEGORY_AT_OFFSET,
            "SEARCH products USING INDEX products_by_category (category=?)",
        ),
    ];

    for (statement, expected) in cases {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {statement}"))
                .fetch_all(app.db.sqlite())
                .await
                .expect("the statement plans");
        let details: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();

        assert_eq!(details, vec![expected], "{statement}");
    }
}

/// The documented exception: a low-stock threshold above the partial indexes' 1,000 units reads
/// the whole table (or the whole store) and sorts it, since keeping every row in those indexes
/// would cost every reservation write.
#[tokio::test]
async fn a_low_stock_threshold_above_the_indexed_range_scans() {
    if !common::sqlite_only("SQLite's EXPLAIN QUERY PLAN of the SQLite statements") {
        return;
    }
    let app = spawn_app().await;

    for (statement, expected) in [
        (
            stock_lists::LOW_PAGE_SCAN,
            vec!["SCAN stock", "USE TEMP B-TREE FOR ORDER BY"],
        ),
        (
            stock_lists::LOW_IN_STORE_PAGE_SCAN,
            vec![
                "SEARCH stock USING INDEX stock_by_store (store_id=?)",
                "USE TEMP B-TREE FOR ORDER BY",
            ],
        ),
    ] {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {statement}"))
                .fetch_all(app.db.sqlite())
                .await
                .expect("the statement plans");
        let details: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();

        assert_eq!(details, expected, "{statement}");
    }
}
