//! Numeric edge types: the schemas of quantities, adjustments and reservation TTLs (whose
//! ranges are defined once, in [`crate::domain::quantity`], and reach the spec
//! (`minimum`/`maximum`), the body checker's message and the parse of a path or query
//! parameter from that one definition), and prices.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use crate::domain::{Adjustment, PositiveQuantity, Quantity, TtlSeconds};

int_type!(Quantity, "Quantity", 25);
int_type!(PositiveQuantity, "PositiveQuantity", 2);
int_type!(Adjustment, "Adjustment", 10);
int_type!(TtlSeconds, "TtlSeconds", 900);

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
