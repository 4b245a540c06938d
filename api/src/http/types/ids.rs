//! Identifiers and instants: the schema of the product, reservation and hold ids
//! ([`crate::domain::ids`]), and the response-only `Timestamp` and `UuidText`.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use super::string_schema;
use crate::domain::ids::parse_uuid;
use crate::domain::{HoldId, ProductId, ReservationId};

/// A UUID in its hyphenated form, any case (what `format: uuid` means in JSON Schema).
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
pub use crate::domain::UUID_MESSAGE;
const UUID_EXAMPLE: &str = "01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f";

/// `format: uuid` with its pattern and its exact length. The length is not redundant: a
/// Python or Rust `$` also matches before a trailing newline, and fuzzers that build strings
/// from the pattern send `<uuid>\n`; 36 characters rules that out for every reader.
fn uuid_schema() -> MetaSchema {
    string_schema(|s| {
        s.format = Some("uuid");
        s.min_length = Some(36);
        s.max_length = Some(36);
        s.pattern = Some(UUID_PATTERN.to_owned());
        s.example = Some(Value::from(UUID_EXAMPLE));
    })
}

string_type!(ProductId, "ProductId", uuid_schema(), ProductId::parse);
string_type!(
    ReservationId,
    "ReservationId",
    uuid_schema(),
    ReservationId::parse
);
string_type!(HoldId, "HoldId", uuid_schema(), HoldId::parse);

/// A response field typed `UuidText` carries a domain id as it is.
macro_rules! uuid_text_from {
    ($($ty:ident),+) => {
        $(impl From<$ty> for UuidText {
            fn from(id: $ty) -> Self {
                Self(id.into_inner())
            }
        })+
    };
}

uuid_text_from!(ProductId, ReservationId, HoldId);

/// An RFC 3339 instant as the server writes it (`format: date-time`). Response-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp(String);

impl Timestamp {
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
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

/// A UUID of any kind (an event's id, an audit-log aggregate, the `aggregate_id` filter),
/// hyphenated (`format: uuid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UuidText(String);

impl UuidText {
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        parse_uuid(text).map(Self)
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

string_type!(UuidText, "UuidText", uuid_schema(), UuidText::parse);
