//! Text-backed edge types: the schemas of store ids and SKUs ([`crate::domain::ids`]), the
//! not-blank pattern, and `If-Match`.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use super::string_schema;
use crate::domain::{Sku, StoreId};

/// The store id pattern: 1–64 of `[A-Za-z0-9._-]`.
pub const STORE_ID_PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";
/// A text that is not only whitespace (SKU, name; [`crate::domain::is_blank`]): at least one
/// character that is not ASCII whitespace. Spelled out rather than `\S` because JSON Schema (ECMA-262), Python and Rust
/// regexes disagree on which Unicode characters are whitespace (U+0085 is one for Rust and
/// Python, not for ECMA-262), and a client must be able to tell from the spec alone.
pub const NOT_BLANK_PATTERN: &str = r"[^ \t\n\r\f\v]";

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

string_type!(
    Sku,
    "Sku",
    string_schema(|s| {
        s.pattern = Some(NOT_BLANK_PATTERN.to_owned());
        s.min_length = Some(1);
        s.max_length = Some(Sku::MAX_CHARS);
        s.example = Some(Value::from("TSHIRT-M-BLUE"));
    }),
    Sku::parse
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
