//! Fixed-value edge types: reservation statuses and event types.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use super::string_schema;

string_enum!(
    /// Reservation states.
    ReservationStatus, "ReservationStatus", {
        /// Holding units until confirmed, cancelled or expired.
        Pending => "PENDING",
        /// Sold: the units left on-hand.
        Confirmed => "CONFIRMED",
        /// Cancelled: the units were released.
        Cancelled => "CANCELLED",
        /// Ran out of time: the units were released.
        Expired => "EXPIRED",
    }
);

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
    }
);
