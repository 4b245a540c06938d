//! Fixed-value edge types: the schema of reservation statuses ([`crate::domain::status`]),
//! event types and the bulk sync's modes and outcomes.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use super::string_schema;
use crate::domain::ReservationStatus;

enum_schema!(ReservationStatus, "ReservationStatus");

string_enum!(
    /// The event types of the audit log (`inventory_shared::events::EventType`).
    EventTypeName, "EventTypeName", {
        /// `stock.created`
        StockCreated => "stock.created",
        /// `stock.updated`
        StockUpdated => "stock.updated",
        /// `stock.transferred`
        StockTransferred => "stock.transferred",
        /// `reservation.created`
        ReservationCreated => "reservation.created",
        /// `reservation.confirmed`
        ReservationConfirmed => "reservation.confirmed",
        /// `reservation.cancelled`
        ReservationCancelled => "reservation.cancelled",
        /// `reservation.expired`
        ReservationExpired => "reservation.expired",
        /// `reservation.extended`
        ReservationExtended => "reservation.extended",
    }
);

string_enum!(
    /// How `POST /stock/bulk` handles refused items.
    BulkModeName, "BulkModeName", {
        /// One transaction: any refused item → 409 listing every refused item, nothing applied.
        AllOrNothing => "all_or_nothing",
        /// Each item on its own: 200 with a result per item, the refused ones included.
        PerItem => "per_item",
    }
);

string_enum!(
    /// What happened to one item of `POST /stock/bulk`.
    BulkOutcome, "BulkOutcome", {
        /// The row was created (`stock.created`); `status` 201.
        Created => "CREATED",
        /// The quantity changed (`stock.updated`); `status` 200.
        Updated => "UPDATED",
        /// It already had that quantity: no version bump, no event; `status` 200.
        Unchanged => "UNCHANGED",
        /// Refused (per-item mode only); `status` and `code` say why.
        Refused => "REFUSED",
    }
);
