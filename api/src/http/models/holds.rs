//! Bodies of the hold routes and of the extend routes.

use poem_openapi::Object;

use crate::http::types::{
    PositiveQuantity, ProductId, ReservationStatus, StoreId, Timestamp, TtlSeconds, UuidText,
};
use crate::ops::ShortLine;
use crate::ops::holds::Hold as HoldView;

use super::Reservation;

/// One requested line of a hold.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct HoldItemBody {
    /// Product id.
    pub product_id: ProductId,
    /// Store id.
    pub store_id: StoreId,
    /// Units, ≥ 1.
    pub quantity: PositiveQuantity,
}

/// Body of `POST /holds`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct CreateHoldBody {
    /// Customer the units are held for, 1–128 characters.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub customer_id: String,
    /// Seconds until every line expires (default `RESERVATION_TTL`), 1–86400.
    #[oai(nullable)]
    pub ttl_seconds: Option<TtlSeconds>,
    /// `false` (default): one short line and nothing is reserved (409). `true`: the lines that
    /// fit are reserved and the others listed in `unfulfilled` (409 only when none fits).
    #[oai(nullable)]
    pub allow_partial: Option<bool>,
    /// 1–100 lines, no (product_id, store_id) twice. They are reserved in (product, store)
    /// order whatever their order here.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub items: Vec<HoldItemBody>,
}

/// A line that could not be reserved: units asked for and units available at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct UnfulfilledLine {
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units asked for.
    pub requested: i64,
    /// Units that were available.
    pub available: i64,
}

impl From<ShortLine> for UnfulfilledLine {
    fn from(l: ShortLine) -> Self {
        Self {
            product_id: l.product_id,
            store_id: l.store_id,
            requested: l.requested,
            available: l.available,
        }
    }
}

/// A hold: several reservations for one customer with one deadline.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct Hold {
    /// UUIDv7.
    pub id: UuidText,
    /// Customer.
    pub customer_id: String,
    /// PENDING until confirmed, cancelled or expired as a whole.
    pub status: ReservationStatus,
    /// RFC 3339 deadline of every line.
    pub expires_at: Timestamp,
    /// RFC 3339.
    pub created_at: Timestamp,
    /// RFC 3339.
    pub updated_at: Timestamp,
    /// The lines: ordinary reservations (each with this hold's `hold_id`), in (product, store)
    /// order.
    pub items: Vec<Reservation>,
    /// Lines a partial hold could not reserve; `[]` otherwise.
    pub unfulfilled: Vec<UnfulfilledLine>,
}

impl From<HoldView> for Hold {
    fn from(h: HoldView) -> Self {
        let unfulfilled = h
            .hold
            .unfulfilled()
            .into_iter()
            .map(UnfulfilledLine::from)
            .collect();
        Self {
            status: h.hold.status,
            id: h.hold.id.into_inner().into(),
            customer_id: h.hold.customer_id,
            expires_at: h.hold.expires_at.into(),
            created_at: h.hold.created_at.into(),
            updated_at: h.hold.updated_at.into(),
            items: h.lines.into_iter().map(Reservation::from).collect(),
            unfulfilled,
        }
    }
}

/// Body of `POST /reservations/{id}/extend` and `POST /holds/{id}/extend`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct ExtendBody {
    /// The new deadline is now + this many seconds (1–86400), and at most
    /// `RESERVATION_MAX_LIFETIME` after the creation.
    pub ttl_seconds: TtlSeconds,
}
