//! A random mix of every API operation, through the HTTP routes.

use serde_json::json;

use super::Api;

/// A small deterministic PRNG (xorshift), seeded per test.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A random mix of every operation through the API: products, stock rows, set, adjust,
/// transfers (some creating the destination), reservations confirmed, cancelled, and some
/// with a 1 s TTL left to expire. Returns the number of successful writes.
pub async fn random_workload(api: &Api, seed: u64, products: usize, operations: usize) -> usize {
    let mut rng = Rng::new(seed);
    let stores = ["MAD-001", "BCN-001", "SEV-001", "VLC-001"];
    let mut ids = Vec::new();
    let mut writes = 0;
    for i in 0..products {
        let (status, body) = api
            .post(
                "/products",
                json!({"sku": format!("SKU-{seed}-{i}"), "name": "Thing", "price": 9.5}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("id").to_owned();
        for store in &stores[..2] {
            let (status, body) = api
                .post(
                    "/stock",
                    json!({"product_id": id, "store_id": store, "initial_quantity": 200}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            writes += 1;
        }
        ids.push(id);
    }
    let mut pending: Vec<String> = Vec::new();
    for _ in 0..operations {
        let product = &ids[rng.below(ids.len() as u64) as usize];
        let store = stores[rng.below(2) as usize];
        let (status, body) = match rng.below(8) {
            0 => {
                let adjustment = rng.below(20) as i64 - 5;
                let body = json!({"adjustment": if adjustment == 0 { 7 } else { adjustment }, "reason": "recount"});
                api.post(&format!("/stock/{product}/{store}/adjust"), body)
                    .await
            }
            1 => {
                let body = json!({"quantity": 100 + rng.below(100) as i64});
                api.send(
                    reqwest::Method::PUT,
                    &format!("/stock/{product}/{store}"),
                    Some(body),
                )
                .await
            }
            2 => {
                let to = stores[rng.below(stores.len() as u64) as usize];
                if to == store {
                    continue;
                }
                let body = json!({"product_id": product, "from_store_id": store, "to_store_id": to, "quantity": 1 + rng.below(3)});
                api.post("/stock/transfer", body).await
            }
            3 | 4 => {
                let mut body = json!({"product_id": product, "store_id": store, "customer_id": "c", "quantity": 1 + rng.below(2)});
                if rng.below(4) == 0 {
                    body["ttl_seconds"] = json!(1);
                }
                let (status, body) = api.post("/reservations", body).await;
                if status == 201 && body["expires_at"].is_string() {
                    pending.push(body["id"].as_str().unwrap_or_default().to_owned());
                }
                (status, body)
            }
            5 | 6 if !pending.is_empty() => {
                let id = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                api.post(&format!("/reservations/{id}/confirm"), json!({}))
                    .await
            }
            _ if !pending.is_empty() => {
                let id = pending.swap_remove(rng.below(pending.len() as u64) as usize);
                api.post(&format!("/reservations/{id}/cancel"), json!({}))
                    .await
            }
            _ => continue,
        };
        // 409s (insufficient stock, already expired) are part of a random mix.
        assert!(
            status < 500 && status != 400 && status != 422,
            "{status}: {body}"
        );
        if (200..300).contains(&status) {
            writes += 1;
        }
    }
    // One reservation extended (`reservation.extended`).
    let body =
        json!({"product_id": ids[0], "store_id": "MAD-001", "customer_id": "c", "quantity": 1});
    let (status, body) = api.post("/reservations", body).await;
    if status == 201 {
        let id = body["id"].as_str().unwrap_or_default();
        let (status, body) = api
            .post(
                &format!("/reservations/{id}/extend"),
                json!({"ttl_seconds": 900}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        writes += 2;
    }
    // Two reservations nobody touches: they expire a second later (`reservation.expired`).
    let mut late = Vec::new();
    for product in ids.iter().take(2) {
        let body = json!({"product_id": product, "store_id": "MAD-001", "customer_id": "late", "quantity": 1, "ttl_seconds": 1});
        let (status, body) = api.post("/reservations", body).await;
        assert!(status == 201 || status == 409, "{status}: {body}");
        if status == 201 {
            late.push(body["id"].as_str().expect("id").to_owned());
        }
    }
    // Let them expire before returning, so callers see a settled history (read over HTTP:
    // the same on SQLite and PostgreSQL).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    for id in late {
        while api.get(&format!("/reservations/{id}")).await["status"] == "PENDING" {
            assert!(
                std::time::Instant::now() < deadline,
                "reservations did not expire"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    writes
}
