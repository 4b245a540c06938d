//! The examples the spec shows for request bodies and the main responses (Swagger UI fills
//! its "Try it out" bodies with them; schemathesis runs them in its examples phase). They are
//! the README walk-through's values.

use poem_openapi::types::Example;

use super::*;
use crate::http::types::{
    Adjustment, PositiveQuantity, Price, ProductId, Quantity, Sku, StoreId, TtlSeconds,
};

const PRODUCT: &str = "01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f";
const RESERVATION: &str = "01936f0f-2c1d-7a8b-9c0d-1e2f3a4b5c6d";
const AT: &str = "2026-01-15T10:30:00.000Z";

impl Example for ProductBody {
    fn example() -> Self {
        Self {
            sku: Sku::example(),
            name: "T-shirt M blue".to_owned(),
            description: None,
            category: Some("apparel".to_owned()),
            price: Price::example(),
        }
    }
}

impl Example for Product {
    fn example() -> Self {
        Self {
            id: PRODUCT.to_owned().into(),
            sku: "TSHIRT-M-BLUE".to_owned(),
            name: "T-shirt M blue".to_owned(),
            description: None,
            category: Some("apparel".to_owned()),
            price: 19.9,
            created_at: AT.to_owned().into(),
            updated_at: AT.to_owned().into(),
        }
    }
}

impl Example for InitStockBody {
    fn example() -> Self {
        Self {
            product_id: ProductId::example(),
            store_id: StoreId::example(),
            initial_quantity: Quantity::new_const(25),
        }
    }
}

impl Example for SetStockBody {
    fn example() -> Self {
        Self {
            quantity: Quantity::new_const(30),
            reason: Some("restock".to_owned()),
        }
    }
}

impl Example for AdjustStockBody {
    fn example() -> Self {
        Self {
            adjustment: Adjustment::new_const(-2),
            reason: Some("damaged".to_owned()),
        }
    }
}

impl Example for TransferBody {
    fn example() -> Self {
        Self {
            product_id: ProductId::example(),
            from_store_id: StoreId::example(),
            to_store_id: StoreId::parse("BCN-001").unwrap_or_else(|_| StoreId::example()),
            quantity: PositiveQuantity::new_const(5),
            reason: None,
        }
    }
}

impl Example for Stock {
    fn example() -> Self {
        Self {
            product_id: PRODUCT.to_owned().into(),
            store_id: "MAD-001".to_owned(),
            quantity: 25,
            reserved: 2,
            available: 23,
            version: 2,
            updated_at: AT.to_owned().into(),
        }
    }
}

impl Example for CreateReservationBody {
    fn example() -> Self {
        Self {
            product_id: ProductId::example(),
            store_id: StoreId::example(),
            customer_id: "cust-42".to_owned(),
            quantity: PositiveQuantity::new_const(2),
            ttl_seconds: Some(TtlSeconds::new_const(900)),
        }
    }
}

impl Example for CancelBody {
    fn example() -> Self {
        Self {
            reason: Some("customer_request".to_owned()),
        }
    }
}

impl Example for Reservation {
    fn example() -> Self {
        Self {
            id: RESERVATION.to_owned().into(),
            product_id: PRODUCT.to_owned().into(),
            store_id: "MAD-001".to_owned(),
            customer_id: "cust-42".to_owned(),
            quantity: 2,
            status: ReservationStatus::Pending,
            expires_at: "2026-01-15T10:45:00.000Z".to_owned().into(),
            created_at: AT.to_owned().into(),
            updated_at: AT.to_owned().into(),
            hold_id: None,
        }
    }
}

const HOLD: &str = "01936f10-4d5e-7f60-8a9b-0c1d2e3f4a5b";
const SECOND_PRODUCT: &str = "01936f0e-9b5c-7d4e-8f30-2b3c4d5e6f70";

fn store(id: &str) -> StoreId {
    StoreId::parse(id).unwrap_or_else(|_| StoreId::example())
}

impl Example for HoldItemBody {
    fn example() -> Self {
        Self {
            product_id: ProductId::example(),
            store_id: StoreId::example(),
            quantity: PositiveQuantity::new_const(2),
        }
    }
}

impl Example for CreateHoldBody {
    fn example() -> Self {
        Self {
            customer_id: "cust-42".to_owned(),
            ttl_seconds: Some(TtlSeconds::new_const(900)),
            allow_partial: Some(false),
            items: vec![
                HoldItemBody::example(),
                HoldItemBody {
                    product_id: ProductId::parse(SECOND_PRODUCT)
                        .unwrap_or_else(|_| ProductId::example()),
                    store_id: StoreId::example(),
                    quantity: PositiveQuantity::new_const(1),
                },
            ],
        }
    }
}

impl Example for UnfulfilledLine {
    fn example() -> Self {
        Self {
            product_id: SECOND_PRODUCT.to_owned(),
            store_id: "MAD-001".to_owned(),
            requested: 3,
            available: 1,
        }
    }
}

impl Example for Hold {
    fn example() -> Self {
        let line = Reservation {
            hold_id: Some(HOLD.to_owned().into()),
            ..Reservation::example()
        };
        Self {
            id: HOLD.to_owned().into(),
            customer_id: "cust-42".to_owned(),
            status: ReservationStatus::Pending,
            expires_at: "2026-01-15T10:45:00.000Z".to_owned().into(),
            created_at: AT.to_owned().into(),
            updated_at: AT.to_owned().into(),
            items: vec![line],
            unfulfilled: vec![],
        }
    }
}

impl Example for ExtendBody {
    fn example() -> Self {
        Self {
            ttl_seconds: TtlSeconds::new_const(600),
        }
    }
}

impl Example for BulkItemBody {
    fn example() -> Self {
        Self {
            product_id: ProductId::example(),
            store_id: StoreId::example(),
            quantity: Quantity::new_const(40),
            reason: Some("erp_sync".to_owned()),
        }
    }
}

impl Example for BulkStockBody {
    fn example() -> Self {
        Self {
            items: vec![
                BulkItemBody::example(),
                BulkItemBody {
                    product_id: ProductId::example(),
                    store_id: store("BCN-001"),
                    quantity: Quantity::new_const(12),
                    reason: Some("erp_sync".to_owned()),
                },
            ],
            mode: Some(BulkModeName::AllOrNothing),
        }
    }
}

impl Example for Event {
    fn example() -> Self {
        Self {
            seq: 3,
            id: "01936f0f-2c1e-7a8b-9c0d-1e2f3a4b5c6d".to_owned().into(),
            event_type: "reservation.created".to_owned(),
            aggregate_type: "reservation".to_owned(),
            aggregate_id: RESERVATION.to_owned().into(),
            store_id: Some("MAD-001".to_owned()),
            partition_key: PRODUCT.to_owned().into(),
            created_at: AT.to_owned().into(),
            payload: serde_json::json!({
                "reservation_id": RESERVATION,
                "product_id": PRODUCT,
                "store_id": "MAD-001",
                "customer_id": "cust-42",
                "quantity": 2,
                "expires_at": "2026-01-15T10:45:00.000Z",
                "version": 2
            }),
            synced_at: Some("2026-01-15T10:30:00.004Z".to_owned().into()),
            published_at: Some("2026-01-15T10:30:00.004Z".to_owned().into()),
            attempts: 0,
            last_error: None,
            dead_at: None,
        }
    }
}

impl Example for EventPage {
    fn example() -> Self {
        Self {
            events: vec![Event::example()],
            next_after_seq: Some(3),
        }
    }
}

impl Example for EventStats {
    fn example() -> Self {
        Self {
            total: 120,
            pending: 2,
            synced: 118,
            published: 118,
            dead: 0,
            oldest_pending_age_seconds: Some(0.004),
            pending_by_type: [("reservation.created".to_owned(), 2)].into(),
        }
    }
}

impl Example for ReservationStats {
    fn example() -> Self {
        Self {
            pending: 3,
            confirmed: 40,
            cancelled: 5,
            expired: 2,
            total: 50,
        }
    }
}

/// A `next_cursor` as the lists send it.
fn next_cursor() -> Option<String> {
    crate::http::cursor::example()
}

impl Example for ProductPage {
    fn example() -> Self {
        Self {
            data: vec![Product::example()],
            limit: 1,
            offset: 0,
            total: 2,
            next_cursor: next_cursor(),
        }
    }
}

impl Example for ProductStock {
    fn example() -> Self {
        Self {
            product_id: PRODUCT.to_owned().into(),
            stores: vec![Stock::example()],
            total_quantity: 25,
            total_reserved: 2,
            total_available: 23,
            next_cursor: None,
        }
    }
}

impl Example for Availability {
    fn example() -> Self {
        Self {
            product_id: PRODUCT.to_owned().into(),
            store_id: "MAD-001".to_owned(),
            requested: 2,
            available: 23,
            sufficient: true,
        }
    }
}

impl Example for StoreStock {
    fn example() -> Self {
        Self {
            store_id: "MAD-001".to_owned(),
            count: 1,
            items: vec![Stock::example()],
            next_cursor: next_cursor(),
        }
    }
}

impl Example for TransferResult {
    fn example() -> Self {
        let to = Stock {
            store_id: "BCN-001".to_owned(),
            quantity: 5,
            reserved: 0,
            available: 5,
            version: 1,
            ..Stock::example()
        };
        Self {
            product_id: PRODUCT.to_owned().into(),
            quantity: 5,
            from: Stock {
                quantity: 20,
                available: 18,
                version: 3,
                ..Stock::example()
            },
            to,
        }
    }
}

impl Example for LowStock {
    fn example() -> Self {
        Self {
            threshold: 30,
            count: 1,
            items: vec![Stock::example()],
            next_cursor: None,
        }
    }
}

impl Example for Health {
    fn example() -> Self {
        Self {
            status: "ok".to_owned(),
            database: "ok".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl Example for StorePending {
    fn example() -> Self {
        Self {
            store_id: "MAD-001".to_owned(),
            count: 1,
            reservations: vec![Reservation::example()],
            next_cursor: None,
        }
    }
}

impl Example for ProductStoreReservations {
    fn example() -> Self {
        Self {
            product_id: PRODUCT.to_owned().into(),
            store_id: "MAD-001".to_owned(),
            status: Some(ReservationStatus::Pending),
            count: 1,
            reservations: vec![Reservation::example()],
            next_cursor: None,
        }
    }
}
