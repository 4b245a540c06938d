//! The examples the spec shows for request bodies and the main responses (Swagger UI fills
//! its "Try it out" bodies with them; schemathesis runs them in its examples phase). They are
//! the README walk-through's values.

use poem_openapi::types::Example;

use super::*;
use crate::http::types::{Price, StoreId};

const PRODUCT: &str = "01936f0e-8a4b-7c3d-9e2f-1a2b3c4d5e6f";
const RESERVATION: &str = "01936f0f-2c1d-7a8b-9c0d-1e2f3a4b5c6d";
const AT: &str = "2026-01-15T10:30:00.000Z";

impl Example for ProductBody {
    fn example() -> Self {
        Self {
            sku: "TSHIRT-M-BLUE".to_owned(),
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
            product_id: PRODUCT.to_owned(),
            store_id: StoreId::example(),
            initial_quantity: 25,
        }
    }
}

impl Example for SetStockBody {
    fn example() -> Self {
        Self {
            quantity: 30,
            reason: Some("restock".to_owned()),
        }
    }
}

impl Example for AdjustStockBody {
    fn example() -> Self {
        Self {
            adjustment: -2,
            reason: Some("damaged".to_owned()),
        }
    }
}

impl Example for TransferBody {
    fn example() -> Self {
        Self {
            product_id: PRODUCT.to_owned(),
            from_store_id: StoreId::example(),
            to_store_id: StoreId::parse("BCN-001").unwrap_or_else(|_| StoreId::example()),
            quantity: 5,
            reason: None,
        }
    }
}

impl Example for Stock {
    fn example() -> Self {
        Self {
            product_id: PRODUCT.to_owned(),
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
            product_id: PRODUCT.to_owned(),
            store_id: StoreId::example(),
            customer_id: "cust-42".to_owned(),
            quantity: 2,
            ttl_seconds: Some(900),
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
            product_id: PRODUCT.to_owned(),
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
            product_id: PRODUCT.to_owned(),
            store_id: StoreId::example(),
            quantity: 2,
        }
    }
}

impl Example for CreateHoldBody {
    fn example() -> Self {
        Self {
            customer_id: "cust-42".to_owned(),
            ttl_seconds: Some(900),
            allow_partial: Some(false),
            items: vec![
                HoldItemBody::example(),
                HoldItemBody {
                    product_id: SECOND_PRODUCT.to_owned(),
                    store_id: StoreId::example(),
                    quantity: 1,
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
        Self { ttl_seconds: 600 }
    }
}

impl Example for BulkItemBody {
    fn example() -> Self {
        Self {
            product_id: PRODUCT.to_owned(),
            store_id: StoreId::example(),
            quantity: 40,
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
                    product_id: PRODUCT.to_owned(),
                    store_id: store("BCN-001"),
                    quantity: 12,
                    reason: Some("erp_sync".to_owned()),
                },
            ],
            mode: Some(BulkModeName::AllOrNothing),
        }
    }
}
