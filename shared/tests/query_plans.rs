//! Every audit-log filter walks an index, never the whole table: `EXPLAIN QUERY PLAN` of the
//! statement `list_events` picks for each combination of filters, on a migrated database.
//! The table in `shared/src/outbox/audit.rs` says which index serves which combination; these
//! tests pin it, so a statement edited back to `(? IS NULL OR …)` or an index dropped fails
//! here.

use inventory_shared::config::DatabaseSettings;
use inventory_shared::events::{NewEvent, StockUpdated};
use inventory_shared::outbox::{self, EventFilter};
use inventory_shared::{db, time};

/// A migrated database with a few events, and a read-only connection to it.
async fn migrated() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let settings = DatabaseSettings::at(dir.path().join("plans.db"));
    db::migrate(&settings).await.expect("migrations apply");
    let writer = db::open_writer(&settings).expect("writer");
    for i in 0..20 {
        let event = NewEvent::StockUpdated(StockUpdated {
            product_id: format!("prod-{}", i % 4),
            store_id: ["MAD-001", "BCN-001"][(i / 4) % 2].to_owned(),
            previous_quantity: i as i64,
            new_quantity: i as i64 + 1,
            change: 1,
            reason: "restock".to_owned(),
            reserved: 0,
            version: i as i64 + 1,
        });
        outbox::append_event(&writer, &event, &time::now()).expect("append");
    }
    let reader = db::open_reader(&settings.path()).expect("reader");
    (dir, reader)
}

/// The `detail` column of `EXPLAIN QUERY PLAN`, one line per step.
fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("the statement prepares");
    stmt.query_map(
        rusqlite::params![0_i64, "stock.updated", "prod-1", "MAD-001", 100_i64],
        |row| row.get::<_, String>(3),
    )
    .expect("explain runs")
    .collect::<Result<_, _>>()
    .expect("plan rows")
}

fn filter(event_type: bool, aggregate_id: bool, store_id: bool) -> EventFilter {
    EventFilter {
        after_seq: 0,
        event_type: event_type.then(|| "stock.updated".to_owned()),
        aggregate_id: aggregate_id.then(|| "prod-1".to_owned()),
        store_id: store_id.then(|| "MAD-001".to_owned()),
    }
}

#[tokio::test]
async fn each_combination_of_filters_searches_its_index_in_seq_order_without_sorting() {
    let (_dir, conn) = migrated().await;
    // (type, aggregate, store) → the only step of the plan.
    let expected = [
        (
            (false, false, false),
            "SEARCH events USING INTEGER PRIMARY KEY (rowid>?)",
        ),
        (
            (true, false, false),
            "SEARCH events USING INDEX events_by_type (event_type=? AND seq>?)",
        ),
        (
            (false, false, true),
            "SEARCH events USING INDEX events_by_store (store_id=? AND seq>?)",
        ),
        (
            (true, false, true),
            "SEARCH events USING INDEX events_by_store_type (store_id=? AND event_type=? AND seq>?)",
        ),
        (
            (false, true, false),
            "SEARCH events USING INDEX events_by_aggregate (aggregate_id=? AND seq>?)",
        ),
        (
            (true, true, false),
            "SEARCH events USING INDEX events_by_aggregate (aggregate_id=? AND seq>?)",
        ),
        (
            (false, true, true),
            "SEARCH events USING INDEX events_by_aggregate (aggregate_id=? AND seq>?)",
        ),
        (
            (true, true, true),
            "SEARCH events USING INDEX events_by_aggregate (aggregate_id=? AND seq>?)",
        ),
    ];
    for ((event_type, aggregate, store), step) in expected {
        let sql = outbox::list_events_statement(&filter(event_type, aggregate, store));
        assert_eq!(
            plan(&conn, sql),
            vec![step.to_owned()],
            "type={event_type} aggregate={aggregate} store={store}: {sql}"
        );
    }
}

#[tokio::test]
async fn each_statement_returns_exactly_the_matching_events_after_the_cursor() {
    let (_dir, conn) = migrated().await;
    let all = outbox::list_events(&conn, &EventFilter::default(), 1000).expect("all events");
    assert_eq!(all.len(), 20);
    for bits in 0..8 {
        let mut filter = filter(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        filter.after_seq = all[4].seq;
        let expected: Vec<i64> = all
            .iter()
            .filter(|e| e.seq > filter.after_seq)
            .filter(|e| {
                filter
                    .event_type
                    .as_ref()
                    .is_none_or(|t| &e.event_type == t)
            })
            .filter(|e| {
                filter
                    .aggregate_id
                    .as_ref()
                    .is_none_or(|a| &e.aggregate_id == a)
            })
            .filter(|e| {
                filter
                    .store_id
                    .as_ref()
                    .is_none_or(|s| e.store_id.as_ref() == Some(s))
            })
            .map(|e| e.seq)
            .collect();
        let got: Vec<i64> = outbox::list_events(&conn, &filter, 1000)
            .expect("a filtered page")
            .into_iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(got, expected, "{filter:?}");
        assert!(!expected.is_empty(), "{filter:?} matches something");
    }
}
