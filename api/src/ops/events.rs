//! Reading the audit log (`GET /events`, `/events/stats`). The relay owns publishing.

use std::collections::HashMap;

use inventory_shared::time;
use sqlx::SqlitePool;

use crate::error::ApiResult;

/// One stored event as the audit log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Global commit order.
    pub seq: i64,
    /// UUIDv7.
    pub id: String,
    /// Type.
    pub event_type: String,
    /// `stock` or `reservation`.
    pub aggregate_type: String,
    /// Product or reservation id.
    pub aggregate_id: String,
    /// Store.
    pub store_id: Option<String>,
    /// Product id.
    pub partition_key: String,
    /// Payload JSON text.
    pub payload: String,
    /// Commit time.
    pub created_at: String,
    /// When the relay published it.
    pub synced_at: Option<String>,
    /// Broker rejections so far.
    pub attempts: i64,
    /// Last broker rejection.
    pub last_error: Option<String>,
    /// When it was parked.
    pub dead_at: Option<String>,
}

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

/// Up to `limit` events after the cursor, in seq order.
pub async fn list_events(
    db: &SqlitePool,
    filter: &EventFilter,
    limit: i64,
) -> ApiResult<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT seq, id, event_type, aggregate_type, aggregate_id, store_id, partition_key, payload, \
         created_at, synced_at, attempts, last_error, dead_at FROM events \
         WHERE seq > ?1 AND (?2 IS NULL OR event_type = ?2) AND (?3 IS NULL OR aggregate_id = ?3) \
         AND (?4 IS NULL OR store_id = ?4) ORDER BY seq LIMIT ?5",
    )
    .bind(filter.after_seq)
    .bind(&filter.event_type)
    .bind(&filter.aggregate_id)
    .bind(&filter.store_id)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Outbox counters.
#[derive(Debug, Clone, Default)]
pub struct OutboxStats {
    /// All events.
    pub total: i64,
    /// Not yet published, not parked.
    pub pending: i64,
    /// Published.
    pub published: i64,
    /// Parked.
    pub dead: i64,
    /// Age of the oldest pending event.
    pub oldest_pending_age_seconds: Option<f64>,
    /// Pending count per type.
    pub pending_by_type: HashMap<String, i64>,
}

/// Counts the outbox by state.
pub async fn outbox_stats(db: &SqlitePool) -> ApiResult<OutboxStats> {
    let (total, published, dead): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(synced_at), \
         COALESCE(SUM(synced_at IS NULL AND dead_at IS NOT NULL), 0) FROM events",
    )
    .fetch_one(db)
    .await?;
    let by_type: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT event_type, COUNT(*), MIN(created_at) FROM events \
         WHERE synced_at IS NULL AND dead_at IS NULL GROUP BY event_type",
    )
    .fetch_all(db)
    .await?;
    let now = time::now();
    let oldest = by_type
        .iter()
        .filter_map(|(_, _, at)| time::from_db(at).ok())
        .min()
        .map(|at| ((now - at).num_milliseconds().max(0) as f64) / 1000.0);
    Ok(OutboxStats {
        total,
        pending: by_type.iter().map(|(_, n, _)| n).sum(),
        published,
        dead,
        oldest_pending_age_seconds: oldest,
        pending_by_type: by_type.into_iter().map(|(t, n, _)| (t, n)).collect(),
    })
}
