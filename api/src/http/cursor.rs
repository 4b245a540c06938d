//! Page cursors: the opaque `cursor` / `next_cursor` strings of the paged lists.
//!
//! A cursor is the base64url (no padding) of a small JSON array, `[list, key parts...]`,
//! followed by an 8-byte FNV-1a checksum of that array. It names the list it came from, so one
//! list's cursor is refused by another, and the checksum refuses an edited one. Any cursor that
//! does not decode to a key of this list is a 400 `INVALID_CURSOR` (never a 500, never a page
//! from the wrong place).
//!
//! The checksum is not a secret: a cursor only names a position in a list the caller may read
//! from its start anyway, so forging one gains nothing; it exists so that a mangled or
//! hand-edited cursor fails loudly instead of silently starting somewhere else. Cursors carry no
//! server state and stay valid across restarts and instances.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inventory_shared::time;
use poem::http::StatusCode;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use crate::domain::MAX_QUANTITY;
use crate::ops::page::{AfterAvailable, AfterInstant, AfterText};

/// Longest cursor accepted (the longest real one is about 300 characters).
const MAX_CURSOR_CHARS: usize = 1024;

/// Longest text key part: ids are UUIDs, store ids at most 64 characters.
const MAX_TEXT_PART: usize = 128;

/// The lists that page with a cursor; a cursor names its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `GET /stock/product/{product_id}`, by store.
    ProductStock,
    /// `GET /stock/store/{store_id}`, by product.
    StoreStock,
    /// `GET /stock/low-stock`, by available units, product, store.
    LowStock,
    /// `GET /reservations/store/{store_id}/pending`, by deadline, id.
    PendingReservations,
    /// `GET /reservations/product/{product_id}/store/{store_id}`, newest first.
    ProductStoreReservations,
    /// `GET /products`, oldest first.
    Products,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            Self::ProductStock => "product-stock",
            Self::StoreStock => "store-stock",
            Self::LowStock => "low-stock",
            Self::PendingReservations => "pending-reservations",
            Self::ProductStoreReservations => "product-store-reservations",
            Self::Products => "products",
        }
    }
}

/// A list position that travels in a cursor.
pub trait CursorKey: Sized {
    /// The key as JSON values, in sort order.
    fn to_parts(&self) -> Vec<Value>;
    /// The key back, or `None` when the parts are not a key of this kind.
    fn from_parts(parts: &[Value]) -> Option<Self>;
}

/// The cursor of `key` in `list`.
pub fn encode<K: CursorKey>(list: List, key: &K) -> String {
    let mut parts = vec![Value::from(list.tag())];
    parts.extend(key.to_parts());
    let mut bytes = Value::Array(parts).to_string().into_bytes();
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a client's `cursor` names in `list`: `None` for no cursor (or an empty one),
/// the first page; 400 `INVALID_CURSOR` when it is not a cursor of this list.
pub fn decode<K: CursorKey>(list: List, cursor: Option<&str>) -> ApiResult<Option<K>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(text) => parse(list, text).map(Some).ok_or_else(|| {
            ApiError::Other(
                StatusCode::BAD_REQUEST,
                "INVALID_CURSOR",
                "cursor is not a next_cursor of this list; start again without it".to_owned(),
            )
        }),
    }
}

/// The `next_cursor` of a page whose next position is `next`.
pub fn next<K: CursorKey>(list: List, next: Option<&K>) -> Option<String> {
    next.map(|key| encode(list, key))
}

fn parse<K: CursorKey>(list: List, text: &str) -> Option<K> {
    if text.len() > MAX_CURSOR_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let (payload, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if checksum(payload).to_be_bytes() != sum {
        return None;
    }
    let Value::Array(parts) = serde_json::from_slice(payload).ok()? else {
        return None;
    };
    let (tag, key) = parts.split_first()?;
    if tag.as_str()? != list.tag() {
        return None;
    }
    K::from_parts(key)
}

/// FNV-1a, 64 bits: a fixed, dependency-free checksum (std's hasher may change between
/// releases, and a cursor must outlive an upgrade).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn text_part(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    (!text.is_empty() && text.len() <= MAX_TEXT_PART).then(|| text.to_owned())
}

/// A stored instant exactly as [`time::to_db`] writes it, so text order stays time order.
fn instant_part(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let parsed = time::from_db(text).ok()?;
    (time::to_db(&parsed) == text).then(|| text.to_owned())
}

impl CursorKey for AfterText {
    fn to_parts(&self) -> Vec<Value> {
        vec![Value::from(self.0.as_str())]
    }

    fn from_parts(parts: &[Value]) -> Option<Self> {
        match parts {
            [text] => Some(Self(text_part(text)?)),
            _ => None,
        }
    }
}

impl CursorKey for AfterAvailable {
    fn to_parts(&self) -> Vec<Value> {
        vec![
            Value::from(self.available),
            Value::from(self.product_id.as_str()),
            Value::from(self.store_id.as_str()),
        ]
    }

    fn from_parts(parts: &[Value]) -> Option<Self> {
        match parts {
            [available, product_id, store_id] => Some(Self {
                available: available
                    .as_i64()
                    .filter(|a| (0..=MAX_QUANTITY).contains(a))?,
                product_id: text_part(product_id)?,
                store_id: text_part(store_id)?,
            }),
            _ => None,
        }
    }
}

impl CursorKey for AfterInstant {
    fn to_parts(&self) -> Vec<Value> {
        vec![Value::from(self.at.as_str()), Value::from(self.id.as_str())]
    }

    fn from_parts(parts: &[Value]) -> Option<Self> {
        match parts {
            [at, id] => Some(Self {
                at: instant_part(at)?,
                id: text_part(id)?,
            }),
            _ => None,
        }
    }
}

/// Page size when the client does not name one ([`crate::ops::page::DEFAULT_LIMIT`]).
pub fn default_limit() -> i64 {
    crate::ops::page::DEFAULT_LIMIT
}

/// The spec's example of a `cursor` parameter (a store-stock cursor).
pub fn example() -> Option<String> {
    Some(encode(
        List::StoreStock,
        &AfterText("01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f".to_owned()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant() -> AfterInstant {
        AfterInstant {
            at: "2026-01-15T10:45:00.000000Z".to_owned(),
            id: "01936f0f-2c1d-7a8b-9c0d-1e2f3a4b5c6d".to_owned(),
        }
    }

    #[test]
    fn a_cursor_round_trips_in_its_own_list() {
        let key = AfterAvailable {
            available: 3,
            product_id: "p-1".to_owned(),
            store_id: "MAD-001".to_owned(),
        };
        let cursor = encode(List::LowStock, &key);

        let back = decode::<AfterAvailable>(List::LowStock, Some(&cursor)).expect("decodes");

        assert_eq!(back, Some(key));
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn no_cursor_or_an_empty_one_is_the_first_page() {
        assert_eq!(decode::<AfterText>(List::StoreStock, None).ok(), Some(None));
        assert_eq!(
            decode::<AfterText>(List::StoreStock, Some("")).ok(),
            Some(None)
        );
    }

    #[test]
    fn another_lists_cursor_is_refused() {
        let cursor = encode(List::Products, &instant());

        let reply = decode::<AfterInstant>(List::PendingReservations, Some(&cursor));

        assert_eq!(reply.err().map(|e| e.code()), Some("INVALID_CURSOR"));
    }

    #[test]
    fn an_edited_cursor_is_refused() {
        let cursor = encode(List::Products, &instant());
        for at in [0, cursor.len() / 2, cursor.len() - 1] {
            let mut bytes = cursor.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(bytes).expect("ascii");

            let reply = decode::<AfterInstant>(List::Products, Some(&edited));

            assert_eq!(
                reply.err().map(|e| e.code()),
                Some("INVALID_CURSOR"),
                "{at}"
            );
        }
    }

    #[test]
    fn a_well_formed_cursor_with_a_bad_key_is_refused() {
        let forged = |parts: Value| {
            let mut bytes = parts.to_string().into_bytes();
            let sum = checksum(&bytes);
            bytes.extend_from_slice(&sum.to_be_bytes());
            URL_SAFE_NO_PAD.encode(bytes)
        };
        for (list, parts) in [
            (
                List::Products,
                serde_json::json!(["products", "yesterday", "id"]),
            ),
            (
                List::Products,
                serde_json::json!(["products", "2026-01-15T10:45:00Z", "id"]),
            ),
            (
                List::Products,
                serde_json::json!(["products", "2026-01-15T10:45:00.000000Z"]),
            ),
            (
                List::LowStock,
                serde_json::json!(["low-stock", -1, "p", "s"]),
            ),
            (List::StoreStock, serde_json::json!(["store-stock", ""])),
            (List::StoreStock, serde_json::json!(["store-stock", 7])),
        ] {
            let cursor = forged(parts.clone());

            let refused = match list {
                List::LowStock => decode::<AfterAvailable>(list, Some(&cursor)).is_err(),
                List::StoreStock => decode::<AfterText>(list, Some(&cursor)).is_err(),
                _ => decode::<AfterInstant>(list, Some(&cursor)).is_err(),
            };

            assert!(refused, "{parts}");
        }
        assert!(decode::<AfterText>(List::StoreStock, Some("not a cursor!")).is_err());
        assert!(decode::<AfterText>(List::StoreStock, Some(&"A".repeat(2000))).is_err());
    }
}
