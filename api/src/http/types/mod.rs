//! The schemas of the domain types at the HTTP edge (STYLE 5): each type of
//! [`crate::domain`] carries its pattern, range, enum or format into the spec *and* parses the
//! same way in a body, a path and a query parameter, from one definition of its limits (the
//! parse is the domain's own; poem-openapi's traits are implemented here, so the domain knows
//! no HTTP). Edge-only types (`If-Match`, prices, timestamps, event types) live here whole.
//!
//! - [`text`]: the schemas of store ids and SKUs, the not-blank pattern, `If-Match`.
//! - [`ids`]: the schemas of product, reservation and hold ids (UUIDs), and the response-only
//!   `Timestamp` and `UuidText`.
//! - [`numbers`]: the schemas of quantities, adjustments and TTLs, and prices.
//! - [`enums`]: the schema of reservation statuses; event types, bulk modes and outcomes.
//!
//! Their schemas are inline (no `$ref`): a field's description or `nullable` then merges into
//! the schema itself instead of an `allOf` wrapper, which client generators refuse around a
//! non-object. A body's fields are first checked against these schemas by
//! [`super::body`], which words every failure as a sentence ([`pattern_message`] names the
//! patterns below); the type's own `parse` then builds the value with the same limits.

use poem_openapi::registry::MetaSchema;

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

/// Implements poem-openapi's traits for an `i64`-backed type with an inclusive range.
macro_rules! int_type {
    ($ty:ident, $name:literal, $example:expr) => {
        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> MetaSchemaRef {
                let mut schema = MetaSchema::new_with_format("integer", "int64");
                schema.minimum = Some($ty::MIN as f64);
                schema.maximum = Some($ty::MAX as f64);
                schema.example = Some(Value::from($example));
                MetaSchemaRef::Inline(Box::new(schema))
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
                    Some(Value::Number(n)) => match n.as_i64() {
                        Some(n) => $ty::parse(n).map_err(ParseError::custom),
                        None => Err(ParseError::custom($ty::range_message())),
                    },
                    Some(Value::Null) | None => Err(ParseError::custom("is required")),
                    Some(_) => Err(ParseError::custom("must be an integer")),
                }
            }
        }

        impl ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                match value.parse::<i64>() {
                    Ok(n) => $ty::parse(n).map_err(ParseError::custom),
                    Err(_) => Err(ParseError::custom($ty::range_message())),
                }
            }
        }

        impl ToJSON for $ty {
            fn to_json(&self) -> Option<Value> {
                Some(Value::from(self.get()))
            }
        }
    };
}

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

            /// The wire text.
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

        enum_schema!($ty, $name);
    };
}

/// Implements poem-openapi's traits for an enum with `ALL`, `as_str` and `parse` (an edge-only
/// enum above, or a closed set of [`crate::domain`]).
macro_rules! enum_schema {
    ($ty:ident, $name:literal) => {
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

mod enums;
pub(crate) mod ids;
mod numbers;
mod text;

pub use crate::domain::ReservationStatus;
pub use crate::domain::ids::STORE_ID_MESSAGE;
pub use crate::domain::{Adjustment, PositiveQuantity, Quantity, TtlSeconds};
pub use crate::domain::{HoldId, ProductId, ReservationId};
pub use crate::domain::{Sku, StoreId, is_blank};
pub use enums::{BulkModeName, BulkOutcome, EventTypeName};
pub use ids::{Timestamp, UuidText};
pub use numbers::{Price, has_at_most_two_decimals};
pub use text::{IF_MATCH_PATTERN, IfMatch, NOT_BLANK_PATTERN, STORE_ID_PATTERN};

/// The readable reason for a failed `pattern`, where the pattern belongs to a domain type.
pub fn pattern_message(pattern: &str) -> Option<&'static str> {
    match pattern {
        STORE_ID_PATTERN => Some(STORE_ID_MESSAGE),
        NOT_BLANK_PATTERN => Some("must not be blank"),
        ids::UUID_PATTERN => Some(ids::UUID_MESSAGE),
        _ => None,
    }
}

fn string_schema(f: impl FnOnce(&mut MetaSchema)) -> MetaSchema {
    let mut schema = MetaSchema::new("string");
    f(&mut schema);
    schema
}

#[cfg(test)]
mod tests;
