//! Domain types at the HTTP edge (STYLE 5): each one carries its pattern, format or enum into
//! the spec *and* parses the same way in a body, a path and a query parameter, from one
//! definition of its limits.
//!
//! Their schemas are inline (no `$ref`): a field's description or `nullable` then merges into
//! the schema itself instead of an `allOf` wrapper, which client generators refuse around a
//! non-object.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

/// The store id pattern: 1–64 of `[A-Za-z0-9._-]`.
pub const STORE_ID_PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";
/// Why a store id was refused (the same text in a body, path or query).
pub const STORE_ID_MESSAGE: &str = "must be 1–64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

/// The readable reason for a failed `pattern`, where the pattern belongs to a domain type.
pub fn pattern_message(pattern: &str) -> Option<&'static str> {
    match pattern {
        STORE_ID_PATTERN => Some(STORE_ID_MESSAGE),
        NOT_BLANK_PATTERN => Some("must not be blank"),
        _ => None,
    }
}

/// A text that is not only whitespace (SKU, name): at least one character that is not ASCII
/// whitespace. Spelled out rather than `\S` because JSON Schema (ECMA-262), Python and Rust
/// regexes disagree on which Unicode characters are whitespace (U+0085 is one for Rust and
/// Python, not for ECMA-262), and a client must be able to tell from the spec alone.
pub const NOT_BLANK_PATTERN: &str = r"[^ \t\n\r\f\v]";

/// Whether `text` is blank in the sense of [`NOT_BLANK_PATTERN`]: only ASCII whitespace.
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
}

/// Implements poem-openapi's traits for a string-backed type from its schema and parser.
macro_rules! string_type {
    ($ty:ident, $name:literal, $schema:expr, $parse:path) => {
        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromJSON for $ty {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value {
                    Some(Value::String(text)) => $parse(&text).map_err(ParseError::custom),
                    Some(Value::Null) | None => Err(ParseError::custom("is required")),
                    Some(_) => Err(ParseError::custom("must be a string")),
                }
            }
        }

        impl ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                $parse(value).map_err(ParseError::custom)
            }
        }

        impl ToJSON for $ty {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.as_str().to_owned()))
            }
        }
    };
}

fn string_schema(f: impl FnOnce(&mut MetaSchema)) -> MetaSchema {
    let mut schema = MetaSchema::new("string");
    f(&mut schema);
    schema
}

/// A store id: 1–64 of `[A-Za-z0-9._-]`, e.g. `MAD-001`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreId(String);

impl StoreId {
    /// Parses a store id.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(STORE_ID_MESSAGE)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// `MAD-001`, the spec's example.
    pub fn example() -> Self {
        Self("MAD-001".to_owned())
    }
}

string_type!(
    StoreId,
    "StoreId",
    string_schema(|s| {
        s.pattern = Some(STORE_ID_PATTERN.to_owned());
        s.min_length = Some(1);
        s.max_length = Some(64);
        s.example = Some(Value::from("MAD-001"));
    }),
    StoreId::parse
);

/// The `If-Match` pattern: `*`, or a stock version as sent in `ETag` (`"3"`, `W/"3"`, `3`).
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$"#;

/// An `If-Match` header: any version (`*`) or one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatch(String, Option<i64>);

impl IfMatch {
    /// Parses `"7"`, `7`, `W/"7"` or `*`.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        const WHY: &str = "must be a stock version as sent in ETag, e.g. \"3\", or *";
        let raw = text.trim();
        if raw == "*" {
            return Ok(Self(raw.to_owned(), None));
        }
        let bare = raw.strip_prefix("W/").unwrap_or(raw);
        let digits = match bare.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"').ok_or(WHY)?,
            None => bare,
        };
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WHY);
        }
        let version = digits.parse().map_err(|_| WHY)?;
        Ok(Self(raw.to_owned(), Some(version)))
    }

    /// The version asked for; `None` for `*`.
    pub fn version(&self) -> Option<i64> {
        self.1
    }

    /// The header text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_type!(
    IfMatch,
    "IfMatch",
    string_schema(|s| {
        s.pattern = Some(IF_MATCH_PATTERN.to_owned());
        s.example = Some(Value::from("\"1\""));
    }),
    IfMatch::parse
);

/// Whether the number as written (its shortest round-trip decimal form, which is what JSON
/// carried) has at most two decimals. Scaling by 100 instead is off by float error for large
/// prices (5233970400.65 * 100 is not a whole number).
pub fn has_at_most_two_decimals(value: f64) -> bool {
    if !value.is_finite() {
        return false;
    }
    let text = format!("{value}");
    text.split_once('.')
        .is_none_or(|(_, decimals)| decimals.len() <= 2)
}

/// A price in the request: at most two decimals, 0 – 10^10 (`multipleOf: 0.01`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price(f64);

impl Price {
    /// Parses a price.
    pub fn parse(value: f64) -> Result<Self, &'static str> {
        if !(0.0..=1e10).contains(&value) {
            return Err("must be between 0 and 10000000000");
        }
        if !has_at_most_two_decimals(value) {
            return Err("must have at most two decimals");
        }
        Ok(Self(value))
    }

    /// 19.90, the spec's example.
    pub fn example() -> Self {
        Self(19.9)
    }

    /// Whole cents.
    pub fn cents(self) -> i64 {
        (self.0 * 100.0).round() as i64
    }
}

impl Type for Price {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "Price".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("number", "double");
        schema.minimum = Some(0.0);
        schema.maximum = Some(1e10);
        schema.multiple_of = Some(0.01);
        schema.example = Some(Value::from(19.9));
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Price {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.as_ref().and_then(Value::as_f64) {
            Some(n) => Price::parse(n).map_err(ParseError::custom),
            None => Err(ParseError::custom("must be a number")),
        }
    }
}

impl ToJSON for Price {
    fn to_json(&self) -> Option<Value> {
        serde_json::Number::from_f64(self.0).map(Value::Number)
    }
}

/// An RFC 3339 instant as the server writes it (`format: date-time`). Response-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp(String);

impl Timestamp {
    fn parse(text: &str) -> Result<Self, &'static str> {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|_| Self(text.to_owned()))
            .map_err(|_| "must be an RFC 3339 date-time")
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Timestamp {
    fn from(text: String) -> Self {
        Self(text)
    }
}

string_type!(
    Timestamp,
    "Timestamp",
    string_schema(|s| {
        s.format = Some("date-time");
        s.example = Some(Value::from("2026-01-15T10:30:00.000Z"));
    }),
    Timestamp::parse
);

/// A UUID as the server writes it (`format: uuid`). Response-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UuidText(String);

impl UuidText {
    fn parse(text: &str) -> Result<Self, &'static str> {
        uuid::Uuid::parse_str(text)
            .map(|_| Self(text.to_owned()))
            .map_err(|_| "must be a UUID")
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for UuidText {
    fn from(text: String) -> Self {
        Self(text)
    }
}

string_type!(
    UuidText,
    "UuidText",
    string_schema(|s| {
        s.format = Some("uuid");
        s.example = Some(Value::from("01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f"));
    }),
    UuidText::parse
);

/// An enum of fixed strings, inline in the spec (`type: string, enum: [...]`).
macro_rules! string_enum {
    ($(#[$meta:meta])* $ty:ident, $name:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $ty {
            $($(#[$vmeta])* $variant),+
        }

        impl $ty {
            /// Every value, in spec order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The wire (and stored) text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }

            /// Parses the wire text.
            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "must be one of {}",
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }

        string_type!(
            $ty,
            $name,
            string_schema(|s| {
                s.enum_items = $ty::ALL.iter().map(|v| Value::from(v.as_str())).collect();
                s.example = Some(Value::from($ty::ALL[0].as_str()));
            }),
            $ty::parse
        );
    };
}

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

#[cfg(test)]
mod tests;
