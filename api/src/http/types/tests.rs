//! Parsing of every edge type: good, bad and boundary values.

use super::*;
use poem_openapi::types::{ParseFromJSON, ParseFromParameter};
use serde_json::Value;

#[test]
fn blank_means_ascii_whitespace_only_as_the_spec_pattern_says() {
    let pattern = regex::Regex::new(NOT_BLANK_PATTERN).expect("the pattern compiles");
    for text in ["", " ", "\t\n", "\r\x0b\x0c "] {
        assert!(is_blank(text), "{text:?}");
        assert!(!pattern.is_match(text), "{text:?}");
    }
    // U+0085 and U+00A0 are whitespace to Rust and Python but not to ECMA-262 `\s`:
    // a client reading the spec sends them as ordinary characters, so they are not blank.
    for text in ["\u{85}", "\u{a0}", " a ", "SKU-1"] {
        assert!(!is_blank(text), "{text:?}");
        assert!(pattern.is_match(text), "{text:?}");
    }
}

#[test]
fn store_ids_parse_at_their_limits() {
    for good in ["MAD-001", "a", "x.y_z-9", &"A".repeat(64)] {
        assert_eq!(
            StoreId::parse(good).map(|s| s.into_inner()).as_deref(),
            Ok(good)
        );
    }
    for bad in ["", "café", "MAD 001", "a/b", &"A".repeat(65), "%00"] {
        assert_eq!(StoreId::parse(bad), Err(STORE_ID_MESSAGE), "{bad:?}");
    }
    assert_eq!(pattern_message(STORE_ID_PATTERN), Some(STORE_ID_MESSAGE));
}

#[test]
fn store_ids_from_json_refuse_null_and_non_strings() {
    assert!(StoreId::parse_from_json(Some(Value::from("MAD-001"))).is_ok());
    assert!(StoreId::parse_from_json(Some(Value::Null)).is_err());
    assert!(StoreId::parse_from_json(Some(Value::from(7))).is_err());
}

#[test]
fn statuses_and_event_types_parse_only_their_values() {
    assert_eq!(
        ReservationStatus::parse("PENDING"),
        Ok(ReservationStatus::Pending)
    );
    assert!(ReservationStatus::parse("pending").is_err());
    assert_eq!(
        ReservationStatus::parse("x"),
        Err("must be one of PENDING, CONFIRMED, CANCELLED, EXPIRED".to_owned())
    );
    for t in inventory_shared::events::EventType::ALL {
        assert_eq!(
            EventTypeName::parse(t.as_str()).map(|e| e.as_str()),
            Ok(t.as_str())
        );
    }
    assert_eq!(
        EventTypeName::ALL.len(),
        inventory_shared::events::EventType::ALL.len()
    );
    assert!(EventTypeName::parse("stock.deleted").is_err());
}

#[test]
fn if_match_takes_the_etag_forms_and_star() {
    assert_eq!(IfMatch::parse("\"3\"").map(|m| m.version()), Ok(Some(3)));
    assert_eq!(IfMatch::parse("W/\"3\"").map(|m| m.version()), Ok(Some(3)));
    assert_eq!(IfMatch::parse("3").map(|m| m.version()), Ok(Some(3)));
    assert_eq!(IfMatch::parse("*").map(|m| m.version()), Ok(None));
    for bad in ["", "\"\"", "\"3", "abc", "-1", &"9".repeat(19)] {
        assert!(IfMatch::parse(bad).is_err(), "{bad:?}");
    }
    let re = regex::Regex::new(IF_MATCH_PATTERN).expect("pattern");
    for good in ["\"3\"", "W/\"3\"", "3", "*"] {
        assert!(re.is_match(good), "{good}");
    }
}

#[test]
fn prices_have_at_most_two_decimals_within_range() {
    assert_eq!(Price::parse(19.9).map(Price::cents), Ok(1990));
    assert_eq!(Price::parse(0.0).map(Price::cents), Ok(0));
    assert_eq!(Price::parse(1e10).map(Price::cents), Ok(1_000_000_000_000));
    assert_eq!(
        Price::parse(5233970400.65).map(Price::cents),
        Ok(523397040065)
    );
    assert_eq!(Price::parse(0.07).map(Price::cents), Ok(7));
    assert!(Price::parse(0.001).is_err());
    assert!(Price::parse(1e-7).is_err());
    assert!(Price::parse(-0.01).is_err());
    assert!(Price::parse(1e10 + 1.0).is_err());
}

#[test]
fn timestamps_and_uuids_check_their_format() {
    assert!(Timestamp::parse("2026-01-15T10:30:00.000Z").is_ok());
    assert!(Timestamp::parse("yesterday").is_err());
    assert!(UuidText::parse("01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f").is_ok());
    assert!(UuidText::parse("nope").is_err());
}

#[test]
fn product_and_reservation_ids_are_hyphenated_uuids_kept_in_lower_case() {
    let id = "01936F0E-8A4B-7C3D-9E2F-1A2B3C4D5E6F";
    assert_eq!(
        ProductId::parse(id).map(ProductId::into_inner).as_deref(),
        Ok("01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f")
    );
    assert!(ReservationId::parse("01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f").is_ok());
    let re = regex::Regex::new(ids::UUID_PATTERN).expect("pattern");
    for bad in [
        "",
        "nope",
        "does-not-exist",
        "01936f0e8a4b7c3d9e2f1a2b3c4d5e6f",
        "{01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f}",
        "urn:uuid:01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6g",
        "01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f0",
    ] {
        assert_eq!(ProductId::parse(bad), Err(ids::UUID_MESSAGE), "{bad:?}");
        assert!(ReservationId::parse(bad).is_err(), "{bad:?}");
        assert!(
            !re.is_match(bad),
            "the spec's pattern must refuse {bad:?} too"
        );
    }
    assert!(re.is_match(id));
    assert_eq!(pattern_message(ids::UUID_PATTERN), Some(ids::UUID_MESSAGE));
}

#[test]
fn skus_are_one_to_64_characters_not_blank() {
    for good in ["A", "TSHIRT-M-BLUE", " a ", "\u{85}", &"é".repeat(64)] {
        assert_eq!(Sku::parse(good).map(Sku::into_inner).as_deref(), Ok(good));
    }
    assert_eq!(Sku::parse(""), Err("must not be empty"));
    assert_eq!(Sku::parse("  \t"), Err("must not be blank"));
    assert_eq!(
        Sku::parse(&"é".repeat(65)),
        Err("must be at most 64 characters")
    );
}

#[test]
fn quantities_hold_their_ranges_in_json_and_parameters() {
    assert_eq!(Quantity::parse(0).map(Quantity::get), Ok(0));
    assert_eq!(
        Quantity::parse(1_000_000_000).map(Quantity::get),
        Ok(1_000_000_000)
    );
    assert_eq!(
        Quantity::parse(-1),
        Err("must be between 0 and 1000000000".to_owned())
    );
    assert!(Quantity::parse(1_000_000_001).is_err());
    assert!(PositiveQuantity::parse(0).is_err());
    assert_eq!(PositiveQuantity::parse(1).map(PositiveQuantity::get), Ok(1));
    assert_eq!(
        Adjustment::parse(-1_000_000_000).map(Adjustment::get),
        Ok(-1_000_000_000)
    );
    assert!(Adjustment::parse(-1_000_000_001).is_err());
    assert_eq!(TtlSeconds::parse(86_400).map(TtlSeconds::get), Ok(86_400));
    assert_eq!(
        TtlSeconds::parse(0),
        Err("must be between 1 and 86400".to_owned())
    );
    assert_eq!(
        TtlSeconds::parse(86_401),
        Err("must be between 1 and 86400".to_owned())
    );
    // JSON: whole numbers only; a parameter: its text.
    assert!(PositiveQuantity::parse_from_json(Some(Value::from(2))).is_ok());
    assert!(PositiveQuantity::parse_from_json(Some(Value::from(2.5))).is_err());
    assert!(PositiveQuantity::parse_from_json(Some(Value::from("2"))).is_err());
    assert!(PositiveQuantity::parse_from_json(Some(Value::Null)).is_err());
    assert!(Quantity::parse_from_parameter("10").is_ok());
    assert!(Quantity::parse_from_parameter("-1").is_err());
    assert!(Quantity::parse_from_parameter("ten").is_err());
}

#[test]
fn the_spec_carries_each_types_limits() {
    use poem_openapi::registry::MetaSchemaRef;
    use poem_openapi::types::Type;
    let inline = |r: MetaSchemaRef| match r {
        MetaSchemaRef::Inline(s) => *s,
        MetaSchemaRef::Reference(name) => panic!("{name} should be inline"),
    };
    let ttl = inline(TtlSeconds::schema_ref());
    assert_eq!((ttl.ty, ttl.format), ("integer", Some("int64")));
    assert_eq!((ttl.minimum, ttl.maximum), (Some(1.0), Some(86_400.0)));
    let id = inline(ProductId::schema_ref());
    assert_eq!(id.format, Some("uuid"));
    assert_eq!(id.pattern.as_deref(), Some(ids::UUID_PATTERN));
    let sku = inline(Sku::schema_ref());
    assert_eq!((sku.min_length, sku.max_length), (Some(1), Some(64)));
    assert_eq!(sku.pattern.as_deref(), Some(NOT_BLANK_PATTERN));
}
