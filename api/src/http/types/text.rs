//! Text-backed edge types: store ids, SKUs, `If-Match`, and the not-blank rule.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use super::string_schema;

/// The store id pattern: 1–64 of `[A-Za-z0-9._-]`.
pub const STORE_ID_PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";
/// Why a store id was refused (the same text in a body, path or query).
pub const STORE_ID_MESSAGE: &str = "must be 1–64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

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

/// A store id: 1–64 of `[A-Za-z0-9._-]`, e.g. `MAD-001`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// A store id read back from the database, where only parsed ids are written.
    pub fn from_stored(text: String) -> Self {
        Self(text)
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

/// A stock-keeping unit: 1–64 characters, not blank, e.g. `TSHIRT-M-BLUE`. Unique per product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    /// Longest SKU, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses a SKU.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let chars = text.chars().count();
        if chars == 0 {
            return Err("must not be empty");
        }
        if chars > Self::MAX_CHARS {
            return Err("must be at most 64 characters");
        }
        if is_blank(text) {
            return Err("must not be blank");
        }
        Ok(Self(text.to_owned()))
    }

    /// A SKU read back from the database, where only parsed SKUs are written.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SKU as an owned string.
    pub fn into_inner(self) -> String {
        self.0
    }

    /// `TSHIRT-M-BLUE`, the spec's example.
    pub fn example() -> Self {
        Self("TSHIRT-M-BLUE".to_owned())
    }
}

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
