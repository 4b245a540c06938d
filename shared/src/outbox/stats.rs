//! How big the outbox is, read from the `event_counts` table instead of counting `events`.
//!
//! `event_counts` holds one row per (event type, state) and is kept exact in the transaction
//! of every insert ([`super::append_event`], [`super::append_events`]), mark, park, revive and
//! delete (triggers) of an event (see `migrations/20261203000001_counters.sql` and
//! `..._insert_counters_in_code.sql`), so these reads cost a few rows however long the
//! history grows (a full count took 6.4 s on 5,000,000 events, issue 10). The oldest pending
//! event is the first entry of the partial index `events_pending`, one B-tree descent.
//!
//! Each function is one statement, so its numbers come from one snapshot: the counts and the
//! oldest pending event always agree.

use std::collections::HashMap;

use sqlx::SqliteExecutor;

use crate::time::{self, Timestamp};

/// How much is waiting to be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PendingSummary {
    /// Pending events.
    pub count: i64,
    /// Commit time of the oldest of them.
    pub oldest: Option<Timestamp>,
}

/// The pending count and the oldest pending event's commit time (the relay's `/health` and
/// backlog gauges).
pub async fn pending_summary(db: impl SqliteExecutor<'_>) -> Result<PendingSummary, sqlx::Error> {
    let (count, oldest): (i64, Option<String>) = sqlx::query_as(
        "SELECT COALESCE(SUM(n), 0), (SELECT created_at FROM events INDEXED BY events_pending \
         WHERE synced_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT 1) \
         FROM event_counts WHERE state = 'pending'",
    )
    .fetch_one(db)
    .await?;
    Ok(PendingSummary {
        count,
        oldest: oldest.and_then(|t| time::from_db(&t).ok()),
    })
}

/// Outbox counters by state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxStats {
    /// All events.
    pub total: i64,
    /// Neither synced nor parked.
    pub pending: i64,
    /// Acknowledged by the broker.
    pub synced: i64,
    /// Parked.
    pub dead: i64,
    /// Commit time of the oldest pending event.
    pub oldest_pending: Option<Timestamp>,
    /// Pending count per type (types with none pending are left out).
    pub pending_by_type: HashMap<String, i64>,
}

/// Counts the outbox by state and type.
pub async fn outbox_stats(db: impl SqliteExecutor<'_>) -> Result<OutboxStats, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT event_type, state, n, (SELECT created_at FROM events INDEXED BY events_pending \
         WHERE synced_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT 1) \
         FROM event_counts WHERE n > 0",
    )
    .fetch_all(db)
    .await?;
    let mut stats = OutboxStats {
        oldest_pending: rows
            .first()
            .and_then(|(.., oldest)| oldest.as_deref())
            .and_then(|t| time::from_db(t).ok()),
        ..OutboxStats::default()
    };
    for (event_type, state, n, _) in rows {
        stats.total += n;
        match state.as_str() {
            "pending" => {
                stats.pending += n;
                stats.pending_by_type.insert(event_type, n);
            }
            "synced" => stats.synced += n,
            _ => stats.dead += n,
        }
    }
    Ok(stats)
}
