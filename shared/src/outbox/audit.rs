//! The audit log: pages of the `events` table in `seq` order, filtered by type, aggregate and
//! store.
//!
//! One fixed statement per combination of filters actually given, each pinned to the index it
//! walks with `INDEXED BY` (a missing index is an error, never a silent full scan), instead of
//! one statement with `(? IS NULL OR column = ?)` terms, which SQLite cannot plan on an index:
//! that made `?aggregate_id=` scan the whole table (830 ms on 5,000,000 events, issue 10).
//!
//! | filters given | index walked | rows visited per page |
//! |---|---|---|
//! | none | the table itself (`seq` is its rowid) | the page |
//! | `event_type` | `events_by_type (event_type, seq)` | the page |
//! | `store_id` | `events_by_store (store_id, seq)` | the page |
//! | `store_id` + `event_type` | `events_by_store_type (store_id, event_type, seq)` | the page |
//! | `aggregate_id` (with anything) | `events_by_aggregate (aggregate_id, seq)` | at most that aggregate's events |
//!
//! An aggregate is one product or one reservation, so adding the type or the store to an
//! `aggregate_id` filter only narrows a short history; an index per such combination would
//! cost every write an extra index entry for little gain. `tests/query_plans.rs` pins each row
//! of this table with `EXPLAIN QUERY PLAN`.
//!
//! Every statement binds the same numbered parameters (`?1` after_seq, `?2` event_type, `?3`
//! aggregate_id, `?4` store_id, `?5` limit); each uses the ones it needs.

use super::StoredEvent;

/// Filters of the audit log.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events after this seq.
    pub after_seq: i64,
    /// Only this type.
    pub event_type: Option<String>,
    /// Only this aggregate.
    pub aggregate_id: Option<String>,
    /// Only this store.
    pub store_id: Option<String>,
}

const ALL: &str = select_events!("NOT INDEXED WHERE seq > ?1 ORDER BY seq LIMIT ?5");
const BY_TYPE: &str = select_events!(
    "INDEXED BY events_by_type WHERE event_type = ?2 AND seq > ?1 ORDER BY seq LIMIT ?5"
);
const BY_STORE: &str = select_events!(
    "INDEXED BY events_by_store WHERE store_id = ?4 AND seq > ?1 ORDER BY seq LIMIT ?5"
);
const BY_STORE_TYPE: &str = select_events!(
    "INDEXED BY events_by_store_type WHERE store_id = ?4 AND event_type = ?2 AND seq > ?1 \
     ORDER BY seq LIMIT ?5"
);
const BY_AGGREGATE: &str = select_events!(
    "INDEXED BY events_by_aggregate WHERE aggregate_id = ?3 AND seq > ?1 ORDER BY seq LIMIT ?5"
);
const BY_AGGREGATE_TYPE: &str = select_events!(
    "INDEXED BY events_by_aggregate WHERE aggregate_id = ?3 AND event_type = ?2 AND seq > ?1 \
     ORDER BY seq LIMIT ?5"
);
const BY_AGGREGATE_STORE: &str = select_events!(
    "INDEXED BY events_by_aggregate WHERE aggregate_id = ?3 AND store_id = ?4 AND seq > ?1 \
     ORDER BY seq LIMIT ?5"
);
const BY_AGGREGATE_STORE_TYPE: &str = select_events!(
    "INDEXED BY events_by_aggregate WHERE aggregate_id = ?3 AND store_id = ?4 \
     AND event_type = ?2 AND seq > ?1 ORDER BY seq LIMIT ?5"
);

/// The statement [`list_events`] runs for `filter` (public for the query-plan tests).
pub fn list_events_statement(filter: &EventFilter) -> &'static str {
    match (
        filter.aggregate_id.is_some(),
        filter.store_id.is_some(),
        filter.event_type.is_some(),
    ) {
        (false, false, false) => ALL,
        (false, false, true) => BY_TYPE,
        (false, true, false) => BY_STORE,
        (false, true, true) => BY_STORE_TYPE,
        (true, false, false) => BY_AGGREGATE,
        (true, false, true) => BY_AGGREGATE_TYPE,
        (true, true, false) => BY_AGGREGATE_STORE,
        (true, true, true) => BY_AGGREGATE_STORE_TYPE,
    }
}

/// Up to `limit` events of the audit log after the filter's cursor, in seq order.
pub fn list_events(
    conn: &rusqlite::Connection,
    filter: &EventFilter,
    limit: i64,
) -> rusqlite::Result<Vec<StoredEvent>> {
    conn.prepare_cached(list_events_statement(filter))?
        .query_map(
            rusqlite::params![
                filter.after_seq,
                filter.event_type,
                filter.aggregate_id,
                filter.store_id,
                limit
            ],
            StoredEvent::from_row,
        )?
        .collect()
}
