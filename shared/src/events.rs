//! Event types and payloads, and the envelope the relay publishes (the event schema:
//! `docs/architecture.md`, "Event schema").
//!
//! Every state change of stock or of a reservation appends exactly one event, built here, in
//! the transaction that makes the change. The partition key is always the product id, so every
//! event about one product's stock stays in order on one Kafka partition.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::time::Timestamp;

/// The kinds of event the service emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A stock row was created (`POST /stock`).
    #[serde(rename = "stock.created")]
    StockCreated,
    /// On-hand quantity was set or adjusted.
    #[serde(rename = "stock.updated")]
    StockUpdated,
    /// Units moved between two stores of one product.
    #[serde(rename = "stock.transferred")]
    StockTransferred,
    /// Units were reserved for a customer.
    #[serde(rename = "reservation.created")]
    ReservationCreated,
    /// A reservation became a sale.
    #[serde(rename = "reservation.confirmed")]
    ReservationConfirmed,
    /// A reservation was cancelled and its units released.
    #[serde(rename = "reservation.cancelled")]
    ReservationCancelled,
    /// A reservation ran out of time and its units were released.
    #[serde(rename = "reservation.expired")]
    ReservationExpired,
    /// A pending reservation's deadline moved (it changes no quantity).
    #[serde(rename = "reservation.extended")]
    ReservationExtended,
}

impl EventType {
    /// Every event type, for metrics registration and stats.
    pub const ALL: [EventType; 8] = [
        Self::StockCreated,
        Self::StockUpdated,
        Self::StockTransferred,
        Self::ReservationCreated,
        Self::ReservationConfirmed,
        Self::ReservationCancelled,
        Self::ReservationExpired,
        Self::ReservationExtended,
    ];

    /// The wire name, e.g. `stock.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StockCreated => "stock.created",
            Self::StockUpdated => "stock.updated",
            Self::StockTransferred => "stock.transferred",
            Self::ReservationCreated => "reservation.created",
            Self::ReservationConfirmed => "reservation.confirmed",
            Self::ReservationCancelled => "reservation.cancelled",
            Self::ReservationExpired => "reservation.expired",
            Self::ReservationExtended => "reservation.extended",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// `stock` or `reservation`.
    pub fn aggregate_type(self) -> &'static str {
        match self {
            Self::StockCreated | Self::StockUpdated | Self::StockTransferred => "stock",
            _ => "reservation",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `stock.created` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockCreated {
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Initial on-hand quantity.
    pub quantity: i64,
    /// Always `initial_stock`.
    pub reason: String,
    /// Stock row version after the change.
    pub version: i64,
}

/// `stock.updated` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockUpdated {
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// On-hand quantity before.
    pub previous_quantity: i64,
    /// On-hand quantity after.
    pub new_quantity: i64,
    /// `new_quantity - previous_quantity`.
    pub change: i64,
    /// `restock`, `adjustment` or the client's reason.
    pub reason: String,
    /// Reserved units (unchanged by this event).
    pub reserved: i64,
    /// Stock row version after the change.
    pub version: i64,
}

/// `stock.transferred` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockTransferred {
    /// Product.
    pub product_id: String,
    /// Source store.
    pub from_store: String,
    /// Destination store.
    pub to_store: String,
    /// Units moved.
    pub quantity: i64,
    /// `transfer` or the client's reason.
    pub reason: String,
    /// Source on-hand quantity after.
    pub from_new_quantity: i64,
    /// Destination on-hand quantity after.
    pub to_new_quantity: i64,
    /// Source stock version after.
    pub from_version: i64,
    /// Destination stock version after.
    pub to_version: i64,
    /// Whether the destination row was created by this transfer.
    pub to_created: bool,
}

/// `reservation.created` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationCreated {
    /// Reservation.
    pub reservation_id: String,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units reserved.
    pub quantity: i64,
    /// Customer the units are held for.
    pub customer_id: String,
    /// When the reservation expires unless confirmed.
    pub expires_at: Timestamp,
    /// Stock row version after the change (added in 0.2; absent, read as 0, in older events).
    #[serde(default)]
    pub version: i64,
    /// The hold the reservation is a line of; `null` for a single reservation (added in 0.3;
    /// absent, read as `null`, in older events).
    #[serde(default)]
    pub hold_id: Option<String>,
}

/// `reservation.confirmed` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationConfirmed {
    /// Reservation.
    pub reservation_id: String,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units sold (removed from on-hand and from reserved).
    pub quantity: i64,
    /// When.
    pub confirmed_at: Timestamp,
    /// Stock row version after the change (added in 0.2; absent, read as 0, in older events).
    #[serde(default)]
    pub version: i64,
}

/// `reservation.cancelled` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationCancelled {
    /// Reservation.
    pub reservation_id: String,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units released.
    pub quantity: i64,
    /// `manual_cancellation` or the client's reason.
    pub reason: String,
    /// Stock row version after the change (added in 0.2; absent, read as 0, in older events).
    #[serde(default)]
    pub version: i64,
}

/// `reservation.expired` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationExpired {
    /// Reservation.
    pub reservation_id: String,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units released.
    pub quantity: i64,
    /// When it was expired.
    pub expired_at: Timestamp,
    /// Stock row version after the change (added in 0.2; absent, read as 0, in older events).
    #[serde(default)]
    pub version: i64,
}

/// `reservation.extended` payload. Only the deadline moves: no stock row changes, so it
/// carries no `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationExtended {
    /// Reservation.
    pub reservation_id: String,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units held (unchanged).
    pub quantity: i64,
    /// The new deadline.
    pub expires_at: Timestamp,
    /// The hold the reservation is a line of; `null` for a single reservation.
    pub hold_id: Option<String>,
}

/// One event about to be appended to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum NewEvent {
    /// See [`StockCreated`].
    StockCreated(StockCreated),
    /// See [`StockUpdated`].
    StockUpdated(StockUpdated),
    /// See [`StockTransferred`].
    StockTransferred(StockTransferred),
    /// See [`ReservationCreated`].
    ReservationCreated(ReservationCreated),
    /// See [`ReservationConfirmed`].
    ReservationConfirmed(ReservationConfirmed),
    /// See [`ReservationCancelled`].
    ReservationCancelled(ReservationCancelled),
    /// See [`ReservationExpired`].
    ReservationExpired(ReservationExpired),
    /// See [`ReservationExtended`].
    ReservationExtended(ReservationExtended),
}

impl NewEvent {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::StockCreated(_) => EventType::StockCreated,
            Self::StockUpdated(_) => EventType::StockUpdated,
            Self::StockTransferred(_) => EventType::StockTransferred,
            Self::ReservationCreated(_) => EventType::ReservationCreated,
            Self::ReservationConfirmed(_) => EventType::ReservationConfirmed,
            Self::ReservationCancelled(_) => EventType::ReservationCancelled,
            Self::ReservationExpired(_) => EventType::ReservationExpired,
            Self::ReservationExtended(_) => EventType::ReservationExtended,
        }
    }

    /// The product id for stock events, the reservation id for reservation events.
    pub fn aggregate_id(&self) -> &str {
        match self {
            Self::StockCreated(p) => &p.product_id,
            Self::StockUpdated(p) => &p.product_id,
            Self::StockTransferred(p) => &p.product_id,
            Self::ReservationCreated(p) => &p.reservation_id,
            Self::ReservationConfirmed(p) => &p.reservation_id,
            Self::ReservationCancelled(p) => &p.reservation_id,
            Self::ReservationExpired(p) => &p.reservation_id,
            Self::ReservationExtended(p) => &p.reservation_id,
        }
    }

    /// The store the event is about; a transfer names its source store.
    pub fn store_id(&self) -> &str {
        match self {
            Self::StockCreated(p) => &p.store_id,
            Self::StockUpdated(p) => &p.store_id,
            Self::StockTransferred(p) => &p.from_store,
            Self::ReservationCreated(p) => &p.store_id,
            Self::ReservationConfirmed(p) => &p.store_id,
            Self::ReservationCancelled(p) => &p.store_id,
            Self::ReservationExpired(p) => &p.store_id,
            Self::ReservationExtended(p) => &p.store_id,
        }
    }

    /// Always the product id: one product's events stay in order on one partition.
    pub fn partition_key(&self) -> &str {
        match self {
            Self::StockCreated(p) => &p.product_id,
            Self::StockUpdated(p) => &p.product_id,
            Self::StockTransferred(p) => &p.product_id,
            Self::ReservationCreated(p) => &p.product_id,
            Self::ReservationConfirmed(p) => &p.product_id,
            Self::ReservationCancelled(p) => &p.product_id,
            Self::ReservationExpired(p) => &p.product_id,
            Self::ReservationExtended(p) => &p.product_id,
        }
    }

    /// The payload as JSON text.
    pub fn payload_json(&self) -> String {
        let result = match self {
            Self::StockCreated(p) => serde_json::to_string(p),
            Self::StockUpdated(p) => serde_json::to_string(p),
            Self::StockTransferred(p) => serde_json::to_string(p),
            Self::ReservationCreated(p) => serde_json::to_string(p),
            Self::ReservationConfirmed(p) => serde_json::to_string(p),
            Self::ReservationCancelled(p) => serde_json::to_string(p),
            Self::ReservationExpired(p) => serde_json::to_string(p),
            Self::ReservationExtended(p) => serde_json::to_string(p),
        };
        // Plain structs of strings, integers and timestamps always serialize.
        result.unwrap_or_else(|_| "{}".to_owned())
    }

    /// Parses a stored payload back into its typed event (used by replay checks and consumers).
    pub fn from_stored(event_type: EventType, payload: &str) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            EventType::StockCreated => Self::StockCreated(serde_json::from_str(payload)?),
            EventType::StockUpdated => Self::StockUpdated(serde_json::from_str(payload)?),
            EventType::StockTransferred => Self::StockTransferred(serde_json::from_str(payload)?),
            EventType::ReservationCreated => {
                Self::ReservationCreated(serde_json::from_str(payload)?)
            }
            EventType::ReservationConfirmed => {
                Self::ReservationConfirmed(serde_json::from_str(payload)?)
            }
            EventType::ReservationCancelled => {
                Self::ReservationCancelled(serde_json::from_str(payload)?)
            }
            EventType::ReservationExpired => {
                Self::ReservationExpired(serde_json::from_str(payload)?)
            }
            EventType::ReservationExtended => {
                Self::ReservationExtended(serde_json::from_str(payload)?)
            }
        })
    }
}

/// The published form of an event: what consumers receive on every broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// UUIDv7; the consumers' deduplication key.
    pub id: String,
    /// Global commit order.
    pub seq: i64,
    /// e.g. `stock.updated`.
    pub event_type: String,
    /// `stock` or `reservation`.
    pub aggregate_type: String,
    /// Product id (stock events) or reservation id (reservation events).
    pub aggregate_id: String,
    /// Store the event is about (a transfer's source store).
    pub store_id: Option<String>,
    /// RFC 3339 commit time.
    pub created_at: String,
    /// The event's payload, as stored.
    pub payload: Box<RawValue>,
}
