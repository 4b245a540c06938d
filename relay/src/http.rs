//! The relay's own HTTP listener: `/metrics` (Prometheus text), `/livez`, `/health`.
//!
//! Idle and stuck look alike to a broker ping: a broker that answers `PING` but stalls every
//! publish until the call times out still reads "up". So `/health` (and `relay_stuck`) also
//! look at the backlog itself: events pending with the oldest older than `RELAY_STUCK_AFTER`
//! is "stuck", whatever the ping says.
//!
//! A standby ([`crate::leader`]) answers `standby` with 200: it is healthy, and it is not its
//! job to move the backlog (it never reports `stuck`; the leader does). It does not talk to the
//! broker until it leads, so its `broker` part says `down` with no error.

use std::time::Duration;

use std::sync::Arc;

use inventory_shared::time;
use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use serde::Serialize;

use crate::metrics::Metrics;
use crate::status::Status;
use crate::storage::OutboxReader;

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// For the pending counts (and PostgreSQL's fence age).
    pub reader: OutboxReader,
    /// The relay's metrics.
    pub metrics: Metrics,
    /// The broker's state as the publish loop saw it.
    pub status: Arc<Status>,
    /// `RELAY_STUCK_AFTER`: the oldest pending event's age above which the relay is stuck.
    pub stuck_after: Duration,
}

/// The routes, with their state attached.
pub fn routes(state: HttpState) -> impl poem::Endpoint {
    Route::new()
        .at("/metrics", get(metrics))
        .at("/livez", get(livez))
        .at("/health", get(health))
        .data(state)
}

/// `/health` body (documented in `docs/relay.md`), the same shape for 200 and 503.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` when the database and the broker answer and the backlog moves; `stuck` when events
    /// are pending and the oldest is older than `RELAY_STUCK_AFTER` (whatever the broker's
    /// ping says); `standby` (with 200) when another relay leads this database and the
    /// database answers; else `unavailable`.
    pub status: &'static str,
    /// Whether the backlog is stuck (see `status`); always `false` on a standby.
    pub stuck: bool,
    /// `leader` (this relay publishes) or `standby`.
    pub role: &'static str,
    /// The broker's state.
    pub broker: BrokerHealth,
    /// `up` or `down`.
    pub database: &'static str,
    /// Events waiting to be published (`null` when the database does not answer).
    pub pending: Option<i64>,
    /// Age of the oldest of them, 0 when none (`null` when the database does not answer).
    pub oldest_pending_age_seconds: Option<f64>,
    /// When the relay last published an event (RFC 3339), `null` before the first.
    pub last_publish_at: Option<String>,
}

/// The broker part of `/health`.
#[derive(Debug, Serialize)]
pub struct BrokerHealth {
    /// `redis`, `kafka`, `nats` or `none`.
    pub name: &'static str,
    /// `up` or `down`.
    pub status: &'static str,
    /// The last error while down.
    pub error: Option<String>,
}

#[handler]
async fn livez() -> &'static str {
    "ok"
}

#[handler]
async fn health(Data(state): Data<&HttpState>) -> Response {
    let summary = state.reader.checked_summary().await;
    let broker_up = state.status.broker_up();
    let leader = state.status.is_leader();
    let stuck = leader && summary.is_some_and(|s| is_stuck(s.count, s.oldest, state.stuck_after));
    state.metrics.stuck.set(if stuck { 1.0 } else { 0.0 });
    let body = Health {
        status: match (summary.is_some(), leader, stuck, broker_up) {
            (true, false, _, _) => "standby",
            (true, true, true, _) => "stuck",
            (true, true, false, true) => "ok",
            _ => "unavailable",
        },
        stuck,
        role: if leader { "leader" } else { "standby" },
        broker: BrokerHealth {
            name: state.status.broker(),
            status: if broker_up { "up" } else { "down" },
            error: if broker_up {
                None
            } else {
                state.status.last_error()
            },
        },
        database: if summary.is_some() { "up" } else { "down" },
        pending: summary.map(|s| s.count),
        oldest_pending_age_seconds: summary.map(|s| oldest_age_seconds(s.oldest)),
        last_publish_at: state.status.last_publish_at().map(|t| time::to_wire(&t)),
    };
    let code = if matches!(body.status, "ok" | "standby") {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(body).with_status(code).into_response()
}

/// Refreshes the backlog gauges from the database, then renders every metric. The gauges are
/// read at scrape time from the outbox counters (a few rows, and one index entry for the
/// oldest pending event) rather than after every batch; on PostgreSQL also the fence's age
/// (`pg_stat_activity`).
#[handler]
async fn metrics(Data(state): Data<&HttpState>) -> Response {
    let (fence_age, summary) =
        tokio::join!(state.reader.fence_age(), state.reader.pending_summary());
    if let Some(age) = fence_age {
        // Unknown (the database did not answer) is NaN, never the last value read.
        state.metrics.fence_age.set(age.unwrap_or(f64::NAN));
    }
    if let Some(summary) = summary {
        state.metrics.pending.set(summary.count as f64);
        state
            .metrics
            .oldest_pending_age
            .set(oldest_age_seconds(summary.oldest));
        let stuck =
            state.status.is_leader() && is_stuck(summary.count, summary.oldest, state.stuck_after);
        state.metrics.stuck.set(if stuck { 1.0 } else { 0.0 });
    }
    state
        .metrics
        .render()
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .into_response()
}

/// Events are pending and the oldest has waited longer than `stuck_after`.
fn is_stuck(pending: i64, oldest: Option<time::Timestamp>, stuck_after: Duration) -> bool {
    pending > 0 && oldest_age_seconds(oldest) > stuck_after.as_secs_f64()
}

fn oldest_age_seconds(oldest: Option<time::Timestamp>) -> f64 {
    oldest.map_or(0.0, |t| {
        let micros = (time::now() - t).num_microseconds().unwrap_or(0).max(0);
        micros as f64 / 1e6
    })
}
