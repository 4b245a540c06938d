//! Bodies of the reservation routes.

use poem_openapi::Object;

pub use crate::http::types::ReservationStatus;
use crate::http::types::{PositiveQuantity, ProductId, StoreId, Timestamp, TtlSeconds, UuidText};

use crate::domain::ReservationRow;

/// Body of `POST /reservations`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct CreateReservationBody {
    /// Product id.
    pub product_id: ProductId,
    /// Store id.
    pub store_id: StoreId,
    /// Customer the units are held for, 1–128 characters.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub customer_id: String,
    /// Units, ≥ 1.
    pub quantity: PositiveQuantity,
    /// Seconds until it expires, 1–86400; `null` or absent: `RESERVATION_TTL`.
    #[oai(nullable)]
    pub ttl_seconds: Option<TtlSeconds>,
}

/// Body of `POST /reservations/{id}/cancel` (optional).
#[derive(Debug, Clone, Default, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct CancelBody {
    /// Why (default `manual_cancellation`).
    #[oai(nullable, validator(min_length = 1, max_length = 200))]
    pub reason: Option<String>,
}

/// A reservation.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct Reservation {
    /// UUIDv7.
    pub id: UuidText,
    /// Product.
    pub product_id: UuidText,
    /// Store.
    pub store_id: String,
    /// Customer.
    pub customer_id: String,
    /// Units held.
    pub quantity: i64,
    /// State.
    pub status: ReservationStatus,
    /// RFC 3339 deadline.
    pub expires_at: Timestamp,
    /// RFC 3339.
    pub created_at: Timestamp,
    /// RFC 3339.
    pub updated_at: Timestamp,
    /// The hold this reservation is a line of; `null` for a single reservation.
    #[oai(nullable)]
    pub hold_id: Option<UuidText>,
}

impl From<ReservationRow> for Reservation {
    fn from(r: ReservationRow) -> Self {
        Self {
            status: r.status,
            id: r.id.into_inner().into(),
            product_id: r.product_id.into_inner().into(),
            store_id: r.store_id.into_inner(),
            customer_id: r.customer_id,
            quantity: r.quantity.get(),
            expires_at: r.expires_at.into(),
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
            hold_id: r.hold_id.map(|h| UuidText::from(h.into_inner())),
        }
    }
}

/// A page of a store's pending reservations.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct StorePending {
    /// Store.
    pub store_id: String,
    /// Reservations on this page (at most `limit`).
    pub count: i64,
    /// Soonest deadline first (ties by id).
    pub reservations: Vec<Reservation>,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A page of the reservations of one product in one store.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct ProductStoreReservations {
    /// Product.
    pub product_id: UuidText,
    /// Store.
    pub store_id: String,
    /// The status filter; `null` when none was given.
    #[oai(nullable)]
    pub status: Option<ReservationStatus>,
    /// Reservations on this page (at most `limit`).
    pub count: i64,
    /// Newest first (ties by id, descending).
    pub reservations: Vec<Reservation>,
    /// Pass as `cursor` to read the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Reservation counts per state.
#[derive(Debug, Clone, Default, Object)]
#[oai(rename_all = "snake_case", example)]
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
