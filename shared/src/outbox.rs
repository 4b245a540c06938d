//! The `events` table: the transactional outbox and the audit log. Every statement that
//! touches it lives here.
//!
//! Vocabulary: the relay *publishes* an event to the broker; once the broker acknowledged it
//! the event is *synced* (`synced_at` is set, [`mark_synced`]). An event the broker kept
//! refusing is *parked* (`dead_at` is set). *Pending* means neither.
//!
//! The API appends with [`append_event`] (many at once: [`append_events`]) inside the
//! transaction that changes state, so a committed change always has its event and a
//! rolled-back one never does. The relay reads [`fetch_pending`] in `seq` order, publishes,
//! then [`mark_synced`]; a broker that rejects an event for itself leads to
//! [`record_rejection`], which parks the event after too many tries. The API's audit log
//! reads [`list_events`] (one indexed statement per combination of filters, `audit.rs`) and
//! [`outbox_stats`] (the `event_counts` table, `stats.rs`).
//!
//! Everything above is SQLite; [`postgres`] holds the same operations for PostgreSQL (set-based
//! append with `NOTIFY`, reads behind the visibility fence), on the same [`StoredEvent`].
//!
//! Reads that return event rows run on a plain `rusqlite` connection (see
//! [`crate::db::open_reader`] for why), all through one column list and one row mapper,
//! [`StoredEvent::from_row`]; the relay's marks and the counters run on sqlx.

use std::sync::LazyLock;

use serde_json::value::RawValue;
use sqlx::SqliteExecutor;
use uuid::Uuid;

use crate::events::{EventEnvelope, NewEvent};
use crate::time::{self, Timestamp};

/// `SELECT <every column of StoredEvent> FROM events <rest>`, as one literal.
macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT seq, id, event_type, aggregate_type, aggregate_id, store_id, partition_key, \
             payload, created_at, synced_at, attempts, last_error, dead_at FROM events ",
            $rest
        )
    };
}

mod audit;
pub mod postgres;
mod stats;

pub use audit::{EventFilter, list_events, list_events_statement};
pub use stats::{OutboxStats, PendingSummary, outbox_stats, pending_summary};

/// One row of the `events` table.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Global commit order.
    pub seq: i64,
    /// UUIDv7.
    pub id: String,
    /// e.g. `stock.updated`.
    pub event_type: String,
    /// `stock` or `reservation`.
    pub aggregate_type: String,
    /// Product or reservation id.
    pub aggregate_id: String,
    /// Store the event is about.
    pub store_id: Option<String>,
    /// Product id: the broker partition key.
    pub partition_key: String,
    /// The payload JSON, as stored.
    pub payload: Box<RawValue>,
    /// Commit time.
    pub created_at: Timestamp,
    /// When the broker acknowledged it; `None` while pending or parked.
    pub synced_at: Option<Timestamp>,
    /// How many times a broker rejected it so far.
    pub attempts: i64,
    /// The broker's last rejection.
    pub last_error: Option<String>,
    /// When it was parked after too many rejections.
    pub dead_at: Option<Timestamp>,
}

impl StoredEvent {
    /// Maps a row selected with the `select_events!` column list.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        fn decode(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        }
        let instant = |i: usize| -> rusqlite::Result<Option<Timestamp>> {
            row.get::<_, Option<String>>(i)?
                .map(|text| time::from_db(&text).map_err(|e| decode(i, e)))
                .transpose()
        };
        let payload: String = row.get(7)?;
        Ok(Self {
            seq: row.get(0)?,
            id: row.get(1)?,
            event_type: row.get(2)?,
            aggregate_type: row.get(3)?,
            aggregate_id: row.get(4)?,
            store_id: row.get(5)?,
            partition_key: row.get(6)?,
            payload: RawValue::from_string(payload).map_err(|e| decode(7, e))?,
            created_at: instant(8)?.ok_or(rusqlite::Error::InvalidColumnType(
                8,
                "created_at".to_owned(),
                rusqlite::types::Type::Null,
            ))?,
            synced_at: instant(9)?,
            attempts: row.get(10)?,
            last_error: row.get(11)?,
            dead_at: instant(12)?,
        })
    }

    /// The published envelope (see `docs/architecture.md`, "Event schema").
    pub fn envelope(&self) -> EventEnvelope {
        EventEnvelope {
            id: self.id.clone(),
            seq: self.seq,
            event_type: self.event_type.clone(),
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            store_id: self.store_id.clone(),
            created_at: time::to_wire(&self.created_at),
            payload: self.payload.clone(),
        }
    }

    /// The envelope as JSON text (what Kafka and NATS carry as the message value).
    pub fn envelope_json(&self) -> String {
        serde_json::to_string(&self.envelope()).unwrap_or_default()
    }
}

/// Appends `event` to the outbox on the caller's connection (inside its transaction) and
/// returns its `seq`.
///
/// The seq is the row's rowid (`seq INTEGER PRIMARY KEY`), read with `last_insert_rowid`
/// rather than `RETURNING` (which SQLite implements with a temporary table per statement).
/// It also counts the event in `event_counts` (as [`append_events`] does for many).
pub fn append_event(
    conn: &rusqlite::Connection,
    event: &NewEvent,
    at: &Timestamp,
) -> rusqlite::Result<i64> {
    let event_type = event.event_type();
    let seq = conn
        .prepare_cached(
            "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id, \
             partition_key, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )?
        .insert(rusqlite::params![
            Uuid::now_v7().to_string(),
            event_type.as_str(),
            event_type.aggregate_type(),
            event.aggregate_id(),
            event.store_id(),
            event.partition_key(),
            event.payload_json(),
            time::to_db(at),
        ])?;
    // One of the two INSERTs into `events` (with [`append_events`]), so it keeps the pending
    // count itself (a trigger would give the INSERT a statement journal:
    // migrations/20261203000006_insert_counters_in_code.sql).
    count_pending(conn, event_type.as_str(), 1)?;
    Ok(seq)
}

/// Appends `events` to the outbox in their order (consecutive seqs), as [`append_event`] would
/// one by one, and counts them in `event_counts` once per event type: for a write that appends
/// many events at once (the expiry task's batches).
///
/// Why not a loop over [`append_event`]: each execution of the INSERT opens a cursor on the
/// table and on each of its indexes and walks every B-tree down from its root; a multi-row
/// INSERT keeps them open, and SQLite appends to an index's last page without walking down
/// again. Rows go in by chunks of [`APPEND_CHUNKS`] rows, one cached statement per size.
pub fn append_events(
    conn: &rusqlite::Connection,
    events: &[NewEvent],
    at: &Timestamp,
) -> rusqlite::Result<()> {
    let created_at = time::to_db(at);
    let mut rest = events;
    for size in APPEND_CHUNKS {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            insert_events(conn, chunk, &created_at)?;
            rest = tail;
        }
    }
    let mut counts: Vec<(&'static str, i64)> = Vec::new();
    for event in events {
        let event_type = event.event_type().as_str();
        match counts.iter_mut().find(|(t, _)| *t == event_type) {
            Some((_, n)) => *n += 1,
            None => counts.push((event_type, 1)),
        }
    }
    for (event_type, n) in counts {
        count_pending(conn, event_type, n)?;
    }
    Ok(())
}

/// The row counts of [`append_events`]'s multi-row INSERTs, largest first; the last is 1, so
/// any number of events is covered.
const APPEND_CHUNKS: [usize; 3] = [64, 8, 1];

/// The multi-row INSERT of `size` events, one per size of [`APPEND_CHUNKS`], built once (and
/// then found by `prepare_cached` by its text).
static INSERT_EVENTS: LazyLock<[String; APPEND_CHUNKS.len()]> = LazyLock::new(|| {
    APPEND_CHUNKS.map(|size| {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; size].join(", ");
        format!(
            "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id, \
             partition_key, payload, created_at) VALUES {rows}"
        )
    })
});

/// One multi-row INSERT of `events` (a size of [`APPEND_CHUNKS`]).
fn insert_events(
    conn: &rusqlite::Connection,
    events: &[NewEvent],
    created_at: &str,
) -> rusqlite::Result<()> {
    let Some(chunk) = APPEND_CHUNKS.iter().position(|&size| size == events.len()) else {
        return Err(rusqlite::Error::InvalidParameterCount(
            events.len(),
            APPEND_CHUNKS[0],
        ));
    };
    let sql = &INSERT_EVENTS[chunk];
    let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(events.len() * 8);
    for event in events {
        let event_type = event.event_type();
        values.extend([
            Uuid::now_v7().to_string().into(),
            event_type.as_str().to_owned().into(),
            event_type.aggregate_type().to_owned().into(),
            event.aggregate_id().to_owned().into(),
            event.store_id().to_owned().into(),
            event.partition_key().to_owned().into(),
            event.payload_json().into(),
            created_at.to_owned().into(),
        ]);
    }
    conn.prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

/// Adds `n` pending events of `event_type` to `event_counts`.
fn count_pending(conn: &rusqlite::Connection, event_type: &str, n: i64) -> rusqlite::Result<()> {
    // UPDATE first: the row exists after a type's first event, and an UPDATE of `n` skips the
    // `state IN (...)` CHECK, which SQLite evaluates with a temporary table per statement.
    let counted = conn
        .prepare_cached(
            "UPDATE event_counts SET n = n + ? WHERE event_type = ? AND state = 'pending'",
        )?
        .execute(rusqlite::params![n, event_type])?;
    if counted == 0 {
        conn.prepare_cached(
            "INSERT INTO event_counts (event_type, state, n) VALUES (?, 'pending', ?) \
             ON CONFLICT (event_type, state) DO UPDATE SET n = n + excluded.n",
        )?
        .execute(rusqlite::params![event_type, n])?;
    }
    Ok(())
}

/// Up to `limit` pending (unsynced, unparked) events in `seq` order.
pub fn fetch_pending(
    conn: &rusqlite::Connection,
    limit: i64,
) -> rusqlite::Result<Vec<StoredEvent>> {
    fetch_pending_after(conn, 0, limit)
}

/// Up to `limit` pending events with a `seq` above `after`, in `seq` order: the relay reads
/// its next batch while the previous one's mark is still committing (`relay/src/step.rs`).
pub fn fetch_pending_after(
    conn: &rusqlite::Connection,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<StoredEvent>> {
    conn.prepare_cached(select_events!(
        "WHERE synced_at IS NULL AND dead_at IS NULL AND seq > ? ORDER BY seq LIMIT ?"
    ))?
    .query_map([after, limit], StoredEvent::from_row)?
    .collect()
}

/// The parked events, oldest first.
pub fn list_dead(conn: &rusqlite::Connection, limit: i64) -> rusqlite::Result<Vec<StoredEvent>> {
    conn.prepare_cached(select_events!(
        "WHERE dead_at IS NOT NULL AND synced_at IS NULL ORDER BY seq LIMIT ?"
    ))?
    .query_map([limit], StoredEvent::from_row)?
    .collect()
}

/// Marks the given events synced at `at` (the broker acknowledged them). One statement, so
/// one short transaction.
pub async fn mark_synced(
    db: impl SqliteExecutor<'_>,
    seqs: &[i64],
    at: &Timestamp,
) -> Result<u64, sqlx::Error> {
    if seqs.is_empty() {
        return Ok(0);
    }
    let list = serde_json::to_string(seqs).unwrap_or_else(|_| "[]".to_owned());
    let done = sqlx::query(
        "UPDATE events SET synced_at = ? \
         WHERE seq IN (SELECT value FROM json_each(?)) AND synced_at IS NULL",
    )
    .bind(time::to_db(at))
    .bind(list)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Records that the broker rejected event `seq` for itself (not a transient failure). Parks it
/// (`dead_at`) once it reached `max_attempts`. Returns whether it is now parked.
pub async fn record_rejection(
    db: impl SqliteExecutor<'_>,
    seq: i64,
    error: &str,
    max_attempts: i64,
    at: &Timestamp,
) -> Result<bool, sqlx::Error> {
    let parked: Option<bool> = sqlx::query_scalar(
        "UPDATE events SET attempts = attempts + 1, last_error = ?, \
         dead_at = CASE WHEN attempts + 1 >= ? THEN ? ELSE NULL END \
         WHERE seq = ? AND synced_at IS NULL RETURNING dead_at IS NOT NULL",
    )
    .bind(truncate(error, 1000))
    .bind(max_attempts)
    .bind(time::to_db(at))
    .bind(seq)
    .fetch_optional(db)
    .await?;
    Ok(parked.unwrap_or(false))
}

/// Un-parks dead events (all, or the one with `seq`) so the relay tries them again from zero
/// attempts. Returns how many were revived. (Two fixed statements: the one-event case looks
/// the row up by its key.)
pub async fn revive_dead(
    db: impl SqliteExecutor<'_>,
    seq: Option<i64>,
) -> Result<u64, sqlx::Error> {
    let done = match seq {
        Some(seq) => {
            sqlx::query(
                "UPDATE events SET dead_at = NULL, attempts = 0 \
                 WHERE seq = ? AND dead_at IS NOT NULL AND synced_at IS NULL",
            )
            .bind(seq)
            .execute(db)
            .await?
        }
        None => {
            sqlx::query(
                "UPDATE events SET dead_at = NULL, attempts = 0 \
                 WHERE dead_at IS NOT NULL AND synced_at IS NULL",
            )
            .execute(db)
            .await?
        }
    };
    Ok(done.rows_affected())
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
