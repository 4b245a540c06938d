//! Bodies of the audit-log routes.

use std::collections::HashMap;

use inventory_shared::outbox::{OutboxStats, StoredEvent};
use inventory_shared::time;
use poem_openapi::Object;

use crate::http::types::{Timestamp, UuidText};

/// One event of the audit log: the published envelope plus its outbox state.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct Event {
    /// Global commit order; the cursor of `GET /events`.
    pub seq: i64,
    /// UUIDv7: the consumers' deduplication key.
    pub id: UuidText,
    /// e.g. `reservation.created`.
    pub event_type: String,
    /// `stock` or `reservation`.
    pub aggregate_type: String,
    /// Product id (stock events) or reservation id.
    pub aggregate_id: UuidText,
    /// Store (a transfer's source store).
    #[oai(nullable)]
    pub store_id: Option<String>,
    /// Product id: the broker partition key.
    pub partition_key: UuidText,
    /// RFC 3339 commit time.
    pub created_at: Timestamp,
    /// The event payload (per type: `docs/architecture.md`, "Event schema").
    pub payload: serde_json::Value,
    /// When the broker acknowledged it (the `synced_at` column); `null` while pending or parked.
    #[oai(nullable)]
    pub synced_at: Option<Timestamp>,
    /// The same instant as `synced_at`, under its earlier name; kept so existing clients keep
    /// working. Deprecated: read `synced_at`.
    #[oai(deprecated, nullable)]
    pub published_at: Option<Timestamp>,
    /// Broker rejections so far.
    pub attempts: i64,
    /// The broker's last rejection; `null` when none.
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// When it was parked after too many rejections.
    #[oai(nullable)]
    pub dead_at: Option<Timestamp>,
}

impl From<StoredEvent> for Event {
    fn from(r: StoredEvent) -> Self {
        let synced_at = r
            .synced_at
            .as_ref()
            .map(|t| Timestamp::from(time::to_db(t)));
        Self {
            payload: serde_json::from_str(r.payload.get()).unwrap_or(serde_json::Value::Null),
            seq: r.seq,
            id: r.id.into(),
            event_type: r.event_type,
            aggregate_type: r.aggregate_type,
            aggregate_id: r.aggregate_id.into(),
            store_id: r.store_id,
            partition_key: r.partition_key.into(),
            created_at: time::to_db(&r.created_at).into(),
            published_at: synced_at.clone(),
            synced_at,
            attempts: r.attempts,
            last_error: r.last_error,
            dead_at: r.dead_at.as_ref().map(|t| time::to_db(t).into()),
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct EventPage {
    /// Events in seq order.
    pub events: Vec<Event>,
    /// Pass as `after_seq` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_after_seq: Option<i64>,
}

/// Outbox counters.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct EventStats {
    /// `pending + synced + dead`.
    pub total: i64,
    /// Waiting for the relay.
    pub pending: i64,
    /// Acknowledged by the broker (`synced_at` set).
    pub synced: i64,
    /// The same count as `synced`, under its earlier name. Deprecated: read `synced`.
    #[oai(deprecated)]
    pub published: i64,
    /// Parked after too many broker rejections.
    pub dead: i64,
    /// Age of the oldest pending event (the first in commit order); `null` when none is
    /// pending.
    #[oai(nullable)]
    pub oldest_pending_age_seconds: Option<f64>,
    /// Pending events per type.
    pub pending_by_type: HashMap<String, i64>,
}

impl From<OutboxStats> for EventStats {
    fn from(s: OutboxStats) -> Self {
        Self {
            total: s.total,
            pending: s.pending,
            synced: s.synced,
            published: s.synced,
            dead: s.dead,
            oldest_pending_age_seconds: s
                .oldest_pending
                .map(|at| ((time::now() - at).num_milliseconds().max(0) as f64) / 1000.0),
            pending_by_type: s.pending_by_type,
        }
    }
}
