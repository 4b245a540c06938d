//! The `events` table: the transactional outbox and the audit log.
//!
//! The API appends with [`append_event`] inside the transaction that changes state, so a
//! committed change always has its event and a rolled-back one never does. The relay reads
//! [`fetch_pending`] in `seq` order, publishes, then [`mark_published`]; a broker that rejects
//! an event for itself leads to [`record_rejection`], which parks the event after too many tries.

use serde_json::value::RawValue;
use sqlx::{SqliteConnection, SqliteExecutor};
use uuid::Uuid;

use crate::events::{EventEnvelope, NewEvent};
use crate::time::{self, Timestamp};

/// One row of the outbox as the relay sees it.
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
    /// How many times a broker rejected it so far.
    pub attempts: i64,
}

impl StoredEvent {
    /// The published envelope (DESIGN §5).
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
pub async fn append_event(
    conn: &mut SqliteConnection,
    event: &NewEvent,
    at: &Timestamp,
) -> Result<i64, sqlx::Error> {
    let event_type = event.event_type();
    sqlx::query_scalar(
        "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id, \
         partition_key, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(event_type.as_str())
    .bind(event_type.aggregate_type())
    .bind(event.aggregate_id())
    .bind(event.store_id())
    .bind(event.partition_key())
    .bind(event.payload_json())
    .bind(time::to_db(at))
    .fetch_one(conn)
    .await
}

/// [`append_event`] for the API's writer thread, which drives its one connection with
/// `rusqlite` directly (see `api/src/writer.rs` for why): same row, same transaction rule.
pub fn append_event_blocking(
    conn: &rusqlite::Connection,
    event: &NewEvent,
    at: &Timestamp,
) -> rusqlite::Result<i64> {
    let event_type = event.event_type();
    conn.prepare_cached(
        "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id, \
         partition_key, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )?
    .query_row(
        rusqlite::params![
            Uuid::now_v7().to_string(),
            event_type.as_str(),
            event_type.aggregate_type(),
            event.aggregate_id(),
            event.store_id(),
            event.partition_key(),
            event.payload_json(),
            time::to_db(at),
        ],
        |row| row.get(0),
    )
}

type PendingRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
);

/// Up to `limit` unpublished, unparked events in `seq` order.
pub async fn fetch_pending(
    db: impl SqliteExecutor<'_>,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let rows: Vec<PendingRow> = sqlx::query_as(
        "SELECT seq, id, event_type, aggregate_type, aggregate_id, store_id, partition_key, \
         payload, created_at, attempts FROM events \
         WHERE synced_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT ?",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredEvent {
                seq: r.0,
                id: r.1,
                event_type: r.2,
                aggregate_type: r.3,
                aggregate_id: r.4,
                store_id: r.5,
                partition_key: r.6,
                payload: RawValue::from_string(r.7)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                created_at: time::from_db(&r.8).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                attempts: r.9,
            })
        })
        .collect()
}

/// [`fetch_pending`] on a plain `rusqlite` connection: the relay reads its batches this way
/// (in a blocking task), because sqlx hands rows over one by one through its worker thread
/// (about 7 ms for 500 events here, against about 1 ms).
pub fn fetch_pending_blocking(
    conn: &rusqlite::Connection,
    limit: i64,
) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, id, event_type, aggregate_type, aggregate_id, store_id, partition_key, \
         payload, created_at, attempts FROM events \
         WHERE synced_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT ?",
    )?;
    let rows = statement.query_map([limit], |row| {
        let decode = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
        };
        let payload: String = row.get(7)?;
        let created_at: String = row.get(8)?;
        Ok(StoredEvent {
            seq: row.get(0)?,
            id: row.get(1)?,
            event_type: row.get(2)?,
            aggregate_type: row.get(3)?,
            aggregate_id: row.get(4)?,
            store_id: row.get(5)?,
            partition_key: row.get(6)?,
            payload: RawValue::from_string(payload).map_err(|e| decode(7, Box::new(e)))?,
            created_at: time::from_db(&created_at).map_err(|e| decode(8, Box::new(e)))?,
            attempts: row.get(9)?,
        })
    })?;
    rows.collect()
}

/// Marks the given events published at `at`. One statement, so one short transaction.
pub async fn mark_published(
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
/// attempts. Returns how many were revived.
pub async fn revive_dead(
    db: impl SqliteExecutor<'_>,
    seq: Option<i64>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE events SET dead_at = NULL, attempts = 0 \
         WHERE dead_at IS NOT NULL AND synced_at IS NULL AND (?1 IS NULL OR seq = ?1)",
    )
    .bind(seq)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// One parked event, for operators.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadEvent {
    /// Global order.
    pub seq: i64,
    /// UUIDv7.
    pub id: String,
    /// Type.
    pub event_type: String,
    /// Times the broker rejected it.
    pub attempts: i64,
    /// The broker's last answer.
    pub last_error: Option<String>,
    /// When it was parked.
    pub dead_at: String,
}

/// The parked events, oldest first.
pub async fn list_dead(
    db: impl SqliteExecutor<'_>,
    limit: i64,
) -> Result<Vec<DeadEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, id, event_type, attempts, last_error, dead_at FROM events \
         WHERE dead_at IS NOT NULL AND synced_at IS NULL ORDER BY seq LIMIT ?",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// How much is waiting to be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PendingSummary {
    /// Unpublished, unparked events.
    pub count: i64,
    /// Commit time of the oldest of them.
    pub oldest: Option<Timestamp>,
}

/// Counts the pending events and finds the oldest one's commit time.
pub async fn pending_summary(db: impl SqliteExecutor<'_>) -> Result<PendingSummary, sqlx::Error> {
    let (count, oldest): (i64, Option<String>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM events WHERE synced_at IS NULL AND dead_at IS NULL",
    )
    .fetch_one(db)
    .await?;
    Ok(PendingSummary {
        count,
        oldest: oldest.and_then(|t| time::from_db(&t).ok()),
    })
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
