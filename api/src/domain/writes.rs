//! What the write rules hand the storage seam, or get back from it, that is not a whole stored
//! row: a product's checked fields, a due reservation as the expiry task finds it, and the
//! idempotency records (a key's scope and the answer bound to it). Like the rows, they know
//! neither HTTP nor a driver; their `rusqlite` mapping is in `crate::store::sqlite`.

use super::{HoldId, ReservationId, Sku};

/// A checked product body.
#[derive(Debug, Clone)]
pub struct ProductInput {
    /// Unique stock-keeping unit.
    pub sku: Sku,
    /// 1–200 characters.
    pub name: String,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// At most 64 characters.
    pub category: Option<String>,
    /// Minor units, never negative.
    pub price_cents: i64,
}

/// A PENDING reservation past its deadline, as the expiry task finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The reservation.
    pub id: ReservationId,
    /// Its hold, whose lines expire together; `None` for a single reservation.
    pub hold_id: Option<HoldId>,
}

/// Who sent a key: the API key's name and the `Idempotency-Key` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScope {
    /// The name of the API key (`API_KEYS=key:name`), not the secret.
    pub api_key_name: String,
    /// The client's `Idempotency-Key`.
    pub key: String,
}

/// A stored answer, as it is sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// Status code (2xx, 404, 409, 412: the outcomes worth repeating).
    pub status: u16,
    /// `Content-Type`, absent for a 204.
    pub content_type: Option<String>,
    /// `Location`, for a 201.
    pub location: Option<String>,
    /// `ETag`, for a stock row.
    pub etag: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What the key is bound to: the request's fingerprint and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// SHA-256 (hex) of the first request's method, path and parsed body.
    pub fingerprint: String,
    /// The first request's answer.
    pub answer: StoredAnswer,
}
