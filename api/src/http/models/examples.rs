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
            product_id: PRODUCT.to_owned(),
            stores: vec![Stock::example()],
            total_quantity: 25,
            total_reserved: 2,
            total_available: 23,
            next_cursor: None,
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
            product_id: PRODUCT.to_owned(),
            store_id: "MAD-001".to_owned(),
            status: Some(ReservationStatus::Pending),
            count: 1,
            reservations: vec![Reservation::example()],
            next_cursor: None,
        }
    }
}
