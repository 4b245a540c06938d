//! The domain types' own promises: what the operations and the stored rows rely on.

use super::*;

#[test]
fn every_status_round_trips_through_its_stored_text() {
    for status in ReservationStatus::ALL {
        assert_eq!(ReservationStatus::parse(status.as_str()), Ok(*status));
        assert_eq!(status.to_string(), status.as_str());
    }
    assert_eq!(
        ReservationStatus::parse("pending"),
        Err("must be one of PENDING, CONFIRMED, CANCELLED, EXPIRED".to_owned())
    );
}

#[test]
fn a_minted_id_parses_back_as_itself() {
    let id = ReservationId::mint();
    assert_eq!(ReservationId::parse(id.as_str()), Ok(id.clone()));
    assert_eq!(id.as_str(), id.as_str().to_lowercase());
    assert_eq!(id.to_string(), id.as_str());
}

#[test]
fn an_id_list_serialises_as_plain_strings() {
    // `ops::expire_batch` binds a batch's ids as this JSON list for `json_each`.
    let ids = [ReservationId::example(), ReservationId::example()];
    let json = serde_json::to_string(&ids).expect("ids serialise");
    assert_eq!(json, format!("[\"{0}\",\"{0}\"]", ids[0].as_str()));
}

#[test]
fn quantities_hold_their_ranges() {
    assert_eq!(Quantity::parse(0).map(Quantity::get), Ok(0));
    assert_eq!(
        Quantity::parse(MAX_QUANTITY + 1),
        Err("must be between 0 and 1000000000".to_owned())
    );
    assert!(PositiveQuantity::parse(0).is_err());
    assert_eq!(
        Adjustment::parse(-MAX_QUANTITY).map(Adjustment::get),
        Ok(-MAX_QUANTITY)
    );
    assert_eq!(
        TtlSeconds::new_const(90).duration(),
        chrono::Duration::seconds(90)
    );
}

#[test]
fn a_stock_rows_available_units_are_on_hand_minus_reserved() {
    let row = StockRow {
        product_id: ProductId::example(),
        store_id: StoreId::example(),
        quantity: Quantity::new_const(10),
        reserved: Quantity::new_const(3),
        version: 2,
        updated_at: "2026-01-15T10:30:00.000Z".to_owned(),
    };
    assert_eq!(row.available(), 7);
}
