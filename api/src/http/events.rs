//! `/api/v1/events`: the audit log of every stock and reservation change, and outbox stats.

use inventory_shared::outbox::EventFilter;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;

use super::auth::ApiKeyAuth;
use super::models::{Event, EventPage, EventStats};
use super::statuses::{self, Answer};
use super::tags::ApiTags;
use super::types::{EventTypeName, StoreId, UuidText};
use crate::state::AppState;

/// Event routes.
pub struct EventsApi(pub AppState);

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// The audit log, oldest first, paged by `seq`
    #[oai(path = "/events", method = "get", operation_id = "list_events")]
    async fn list(
        &self,
        _auth: ApiKeyAuth,
        /// Only events with a larger `seq` (the previous page's `next_after_seq`).
        #[oai(default, validator(minimum(value = "0")))]
        after_seq: Query<i64>,
        /// Page size, 1–1000.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<i64>,
        /// Only this type, e.g. `stock.updated`.
        event_type: Query<Option<EventTypeName>>,
        /// Only this product (stock events) or reservation.
        aggregate_id: Query<Option<UuidText>>,
        /// Only this store.
        store_id: Query<Option<StoreId>>,
    ) -> Answer<Json<EventPage>, statuses::ReadParams> {
        let filter = EventFilter {
            after_seq: after_seq.0,
            event_type: event_type.0.map(|t| t.as_str().to_owned()),
            aggregate_id: aggregate_id.0.map(|id| id.as_str().to_owned()),
            store_id: store_id.0.map(StoreId::into_inner),
        };
        // One extra row tells whether another page exists.
        let page = limit.0 + 1;
        let mut rows = self.0.reads.events(filter, page).await?;
        let more = rows.len() as i64 > limit.0;
        rows.truncate(limit.0 as usize);
        let next_after_seq = if more {
            rows.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(Json(EventPage {
            events: rows.into_iter().map(Event::from).collect(),
            next_after_seq,
        }))
    }

    /// Outbox counters: pending, synced, parked
    #[oai(path = "/events/stats", method = "get", operation_id = "event_stats")]
    async fn stats(&self, _auth: ApiKeyAuth) -> Answer<Json<EventStats>, statuses::Read> {
        let stats = self.0.reads.outbox_stats().await?;
        Ok(Json(stats.into()))
    }
}

fn default_limit() -> i64 {
    100
}
