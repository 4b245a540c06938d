//! Request and response bodies as the spec shows them (snake_case everywhere). Limits are
//! declared with `validator(...)` so they appear in the spec and [`super::body::JsonBody`]
//! enforces them, every field at once.

use std::collections::HashMap;

use poem_openapi::{Enum, Object};

use crate::ops::events::{EventRow, OutboxStats};
use crate::ops::products::ProductRow;
use crate::ops::reservations::ReservationRow;
use crate::ops::stock::StockRow;

/// Body of `POST /products` and `PUT /products/{id}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ProductBody {
    /// Unique stock-keeping unit, 1–64 characters.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub sku: String,
    /// Display name, 1–200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Up to 2000 characters.
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
    /// Up to 64 characters.
    #[oai(validator(max_length = 64))]
    pub category: Option<String>,
    /// Price, at most two decimals, never negative.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000000")))]
    pub price: f64,
}

/// A catalogue product.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Product {
    /// UUIDv7.
    pub id: String,
    /// Unique SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Price (two decimals).
    pub price: f64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        Self {
            id: r.id,
            sku: r.sku,
            name: r.name,
            description: r.description,
            category: r.category,
            price: r.price_cents as f64 / 100.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A page of products.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ProductPage {
    /// The products of this page.
    pub data: Vec<Product>,
    /// Page size asked for.
    pub limit: i64,
    /// Offset asked for.
    pub offset: i64,
    /// Products matching the filter, over all pages.
    pub total: i64,
}

/// Body of `POST /stock`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct InitStockBody {
    /// Product id.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub product_id: String,
    /// Store id: 1–64 of `[A-Za-z0-9._-]`.
    #[oai(validator(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub store_id: String,
    /// Units on hand to start with (0 allowed).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    pub initial_quantity: i64,
}

/// Body of `PUT /stock/{product_id}/{store_id}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct SetStockBody {
    /// New on-hand quantity (not below `reserved`).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    pub quantity: i64,
    /// Why (default `restock` when it grows, else `adjustment`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Body of `POST /stock/{product_id}/{store_id}/adjust`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AdjustStockBody {
    /// Units to add (negative removes); not 0.
    #[oai(validator(minimum(value = "-1000000000"), maximum(value = "1000000000")))]
    pub adjustment: i64,
    /// Why (default `adjustment`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Body of `POST /stock/transfer`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct TransferBody {
    /// Product id.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub product_id: String,
    /// Source store.
    #[oai(validator(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub from_store_id: String,
    /// Destination store (its row is created when missing).
    #[oai(validator(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub to_store_id: String,
    /// Units to move, ≥ 1, from the source's available units.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
    pub quantity: i64,
    /// Why (default `transfer`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Stock of one product in one store.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Stock {
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units on hand.
    pub quantity: i64,
    /// Units held by pending reservations.
    pub reserved: i64,
    /// `quantity - reserved`.
    pub available: i64,
    /// Bumped by every change; use it in `If-Match`.
    pub version: i64,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<StockRow> for Stock {
    fn from(r: StockRow) -> Self {
        Self {
            available: r.available(),
            product_id: r.product_id,
            store_id: r.store_id,
            quantity: r.quantity,
            reserved: r.reserved,
            version: r.version,
            updated_at: r.updated_at,
        }
    }
}

/// A product's stock in every store.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ProductStock {
    /// Product.
    pub product_id: String,
    /// One row per store.
    pub stores: Vec<Stock>,
    /// Sum of `quantity`.
    pub total_quantity: i64,
    /// Sum of `reserved`.
    pub total_reserved: i64,
    /// Sum of `available`.
    pub total_available: i64,
}

/// A store's stock of every product.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct StoreStock {
    /// Store.
    pub store_id: String,
    /// Rows.
    pub count: i64,
    /// One row per product.
    pub items: Vec<Stock>,
}

/// Rows with few available units.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct LowStock {
    /// Rows with `available < threshold` are listed.
    pub threshold: i64,
    /// Rows listed (at most 1000).
    pub count: i64,
    /// Lowest available first.
    pub items: Vec<Stock>,
}

/// Whether a quantity can be reserved now.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Availability {
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units asked about.
    pub requested: i64,
    /// Units available.
    pub available: i64,
    /// `available >= requested`.
    pub sufficient: bool,
}

/// A completed transfer.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct TransferResult {
    /// Product.
    pub product_id: String,
    /// Units moved.
    pub quantity: i64,
    /// Source row after.
    pub from: Stock,
    /// Destination row after.
    pub to: Stock,
}

/// Body of `POST /reservations`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct CreateReservationBody {
    /// Product id.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub product_id: String,
    /// Store id.
    #[oai(validator(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub store_id: String,
    /// Customer the units are held for, 1–128 characters.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub customer_id: String,
    /// Units, ≥ 1.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
    pub quantity: i64,
    /// Seconds until it expires (default `RESERVATION_TTL`), 1–86400.
    #[oai(validator(minimum(value = "1"), maximum(value = "86400")))]
    pub ttl_seconds: Option<i64>,
}

/// Body of `POST /reservations/{id}/cancel` (optional).
#[derive(Debug, Clone, Default, Object)]
#[oai(rename_all = "snake_case")]
pub struct CancelBody {
    /// Why (default `manual_cancellation`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// Reservation states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "UPPERCASE")]
pub enum ReservationStatus {
    /// Holding units until confirmed, cancelled or expired.
    Pending,
    /// Sold: the units left on-hand.
    Confirmed,
    /// Cancelled: the units were released.
    Cancelled,
    /// Ran out of time: the units were released.
    Expired,
}

impl ReservationStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }

    fn from_stored(text: &str) -> Self {
        match text {
            "CONFIRMED" => Self::Confirmed,
            "CANCELLED" => Self::Cancelled,
            "EXPIRED" => Self::Expired,
            _ => Self::Pending,
        }
    }
}

/// A reservation.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Reservation {
    /// UUIDv7.
    pub id: String,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Customer.
    pub customer_id: String,
    /// Units held.
    pub quantity: i64,
    /// State.
    pub status: ReservationStatus,
    /// RFC 3339 deadline.
    pub expires_at: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<ReservationRow> for Reservation {
    fn from(r: ReservationRow) -> Self {
        Self {
            status: ReservationStatus::from_stored(&r.status),
            id: r.id,
            product_id: r.product_id,
            store_id: r.store_id,
            customer_id: r.customer_id,
            quantity: r.quantity,
            expires_at: r.expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A store's pending reservations.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct StorePending {
    /// Store.
    pub store_id: String,
    /// Reservations listed (at most 1000).
    pub count: i64,
    /// Soonest deadline first.
    pub reservations: Vec<Reservation>,
}

/// Reservations of one product in one store.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ProductStoreReservations {
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// The status filter, if any.
    pub status: Option<ReservationStatus>,
    /// Reservations listed (at most 1000).
    pub count: i64,
    /// Newest first.
    pub reservations: Vec<Reservation>,
}

/// Reservation counts per state.
#[derive(Debug, Clone, Default, Object)]
#[oai(rename_all = "snake_case")]
pub struct ReservationStats {
    /// PENDING.
    pub pending: i64,
    /// CONFIRMED.
    pub confirmed: i64,
    /// CANCELLED.
    pub cancelled: i64,
    /// EXPIRED.
    pub expired: i64,
    /// All.
    pub total: i64,
}

/// One event of the audit log (the DESIGN §5 envelope plus its publishing state).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Event {
    /// Global commit order; the cursor of `GET /events`.
    pub seq: i64,
    /// UUIDv7: the consumers' deduplication key.
    pub id: String,
    /// e.g. `reservation.created`.
    pub event_type: String,
    /// `stock` or `reservation`.
    pub aggregate_type: String,
    /// Product id (stock events) or reservation id.
    pub aggregate_id: String,
    /// Store (a transfer's source store).
    pub store_id: Option<String>,
    /// Product id: the broker partition key.
    pub partition_key: String,
    /// RFC 3339 commit time.
    pub created_at: String,
    /// The event payload (DESIGN §5).
    pub payload: serde_json::Value,
    /// When the relay published it; `null` while pending.
    pub published_at: Option<String>,
    /// Broker rejections so far.
    pub attempts: i64,
    /// The broker's last rejection.
    pub last_error: Option<String>,
    /// When it was parked after too many rejections.
    pub dead_at: Option<String>,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Self {
            payload: serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null),
            seq: r.seq,
            id: r.id,
            event_type: r.event_type,
            aggregate_type: r.aggregate_type,
            aggregate_id: r.aggregate_id,
            store_id: r.store_id,
            partition_key: r.partition_key,
            created_at: r.created_at,
            published_at: r.synced_at,
            attempts: r.attempts,
            last_error: r.last_error,
            dead_at: r.dead_at,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct EventPage {
    /// Events in seq order.
    pub events: Vec<Event>,
    /// Pass as `after_seq` for the next page; `null` on the last page.
    pub next_after_seq: Option<i64>,
}

/// Outbox counters.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct EventStats {
    /// `pending + published + dead`.
    pub total: i64,
    /// Waiting for the relay.
    pub pending: i64,
    /// Published to the broker.
    pub published: i64,
    /// Parked after too many broker rejections.
    pub dead: i64,
    /// Age of the oldest pending event; `null` when none is pending.
    pub oldest_pending_age_seconds: Option<f64>,
    /// Pending events per type.
    pub pending_by_type: HashMap<String, i64>,
}

impl From<OutboxStats> for EventStats {
    fn from(s: OutboxStats) -> Self {
        Self {
            total: s.total,
            pending: s.pending,
            published: s.published,
            dead: s.dead,
            oldest_pending_age_seconds: s.oldest_pending_age_seconds,
            pending_by_type: s.pending_by_type,
        }
    }
}

/// `GET /health`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `ok` or the reason the database does not answer.
    pub database: String,
    /// Crate version.
    pub version: String,
}
