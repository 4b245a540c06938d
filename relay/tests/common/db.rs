//! The tests' own connections to a test database, and appending events the way the API does.
//! Shared by the `common` and `brokers` harnesses.

use std::path::Path;

use inventory_shared::config::DatabaseSettings;
use inventory_shared::events::NewEvent;
use inventory_shared::{outbox, time};

/// A test's own sqlx connections to its database: `reader` for queries, `writer` for the
/// writes a test arranges by hand (marking events as a relay would).
#[derive(Debug, Clone)]
pub struct Pools {
    pub reader: sqlx::SqlitePool,
    pub writer: sqlx::SqlitePool,
}

impl Pools {
    /// Migrates the database at `path` and opens both pools.
    pub async fn open(path: &Path) -> Self {
        let settings = DatabaseSettings::at(path);
        inventory_shared::db::migrate(&settings)
            .await
            .expect("migrating the test database");
        Self {
            reader: inventory_shared::db::open_read_pool(&settings, 2)
                .await
                .expect("opening read connections"),
            writer: inventory_shared::db::open_read_pool(&settings, 1)
                .await
                .expect("opening a write connection"),
        }
    }
}

/// Appends `events` in one `BEGIN IMMEDIATE` transaction on a writer connection, the way the
/// API's writer does; returns their seqs.
pub fn append_in_one_tx(path: &Path, events: impl IntoIterator<Item = NewEvent>) -> Vec<i64> {
    let conn = inventory_shared::db::open_writer(&DatabaseSettings::at(path)).expect("writer");
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    let seqs = events
        .into_iter()
        .map(|e| outbox::append_event(&conn, &e, &time::now()).expect("append event"))
        .collect();
    conn.execute_batch("COMMIT").expect("commit");
    seqs
}
