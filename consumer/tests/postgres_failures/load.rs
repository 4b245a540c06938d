//! The steady write mix: a few workers, each paced, sending every kind of write over the
//! 64 (product, store) rows, round-robin over the API replicas, with one retry on the other
//! replica as a load balancer would. What came back is kept: every acknowledged (2xx)
//! write, which must be in the database at the end, and every failure with its time, which
//! must fall inside a fault.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::common::{KEY, Rng};

/// The stores of every product: 16 products × 4 stores = the 64 rows.
pub const STORES: [&str; 4] = ["MAD-001", "BCN-001", "SEV-001", "VLC-001"];

/// Concurrent writers.
const WORKERS: usize = 4;

/// Each worker sends at most one write per `PACE` (4 × 50/s = 200 writes/s at most).
const PACE: Duration = Duration::from_millis(20);

/// A request that gets no answer within this counts as failed (status 0).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A write the API acknowledged (2xx): it must be in the database at the end.
#[derive(Debug, Clone)]
pub enum Ack {
    /// `POST /reservations` answered 201 with this id.
    Reserved(String),
    /// `POST /reservations/{id}/confirm` answered 200.
    Confirmed(String),
    /// `POST /reservations/{id}/cancel` answered 200.
    Cancelled(String),
    /// A stock row as a set, an adjustment or either side of a transfer answered it: the
    /// row's history must pass through this state at this version.
    Row {
        product: String,
        store: String,
        quantity: i64,
        reserved: i64,
        version: i64,
    },
}

/// What the load saw, all workers together.
#[derive(Debug, Default)]
pub struct Tally {
    /// Writes tried.
    pub writes: u64,
    /// Requests sent (a retry counts again).
    pub sent: u64,
    /// Answers by status; 0 is a transport error (refused, reset, timed out).
    pub statuses: BTreeMap<u16, u64>,
    /// Every acknowledged write.
    pub acks: Vec<Ack>,
    /// When each 5xx or transport error came, since the load started, and its status.
    pub failures: Vec<(Duration, u16)>,
    /// The longest a failed request took (a client waiting on a replica that hangs).
    pub slowest_failure: Duration,
    /// The first few answers no write mix should get (400, 404, 422, …), for the message.
    pub odd: Vec<String>,
}

/// The running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    workers: Vec<JoinHandle<Tally>>,
    /// When the load started: the origin of [`Tally::failures`] and of the fault windows.
    pub started: Instant,
}

impl Load {
    /// Starts the workers on `products` (each with a row in every store of [`STORES`]),
    /// sending to the replicas at `bases` (`http://127.0.0.1:PORT`) in turn.
    pub fn start(bases: Vec<String>, products: Vec<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("an HTTP client");
        let (bases, products): (Arc<[String]>, Arc<[String]>) = (bases.into(), products.into());
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers = (0..WORKERS)
            .map(|index| {
                let worker = Worker {
                    index,
                    client: client.clone(),
                    bases: bases.clone(),
                    products: products.clone(),
                    started,
                };
                tokio::spawn(worker.run(stop.clone(), acked.clone()))
            })
            .collect();
        Self {
            stop,
            acked,
            workers,
            started,
        }
    }

    /// Writes acknowledged so far (to see writes flow again after a fault).
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Stops the workers after their write in flight; what they saw, together.
    pub async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for worker in self.workers {
            let tally = worker.await.expect("a load worker");
            all.writes += tally.writes;
            all.sent += tally.sent;
            for (status, n) in tally.statuses {
                *all.statuses.entry(status).or_default() += n;
            }
            all.acks.extend(tally.acks);
            all.failures.extend(tally.failures);
            all.slowest_failure = all.slowest_failure.max(tally.slowest_failure);
            all.odd.extend(tally.odd);
        }
        all.failures.sort();
        all
    }
}

/// One write.
enum Op {
    Adjust(String, &'static str, i64),
    Set(String, &'static str, i64),
    Transfer(String, &'static str, &'static str, i64),
    /// Product, store, units, TTL in seconds.
    Reserve(String, &'static str, i64, u64),
    Confirm(String),
    Cancel(String),
}

impl Op {
    fn request(&self) -> (Method, String, Value) {
        match self {
            Self::Adjust(product, store, by) => (
                Method::POST,
                format!("/stock/{product}/{store}/adjust"),
                json!({"adjustment": by, "reason": "recount"}),
            ),
            Self::Set(product, store, quantity) => (
                Method::PUT,
                format!("/stock/{product}/{store}"),
                json!({"quantity": quantity}),
            ),
            Self::Transfer(product, from, to, quantity) => (
                Method::POST,
                "/stock/transfer".to_owned(),
                json!({"product_id": product, "from_store_id": from, "to_store_id": to,
                       "quantity": quantity}),
            ),
            Self::Reserve(product, store, quantity, ttl) => (
                Method::POST,
                "/reservations".to_owned(),
                json!({"product_id": product, "store_id": store, "customer_id": "chaos",
                       "quantity": quantity, "ttl_seconds": ttl}),
            ),
            Self::Confirm(id) => (
                Method::POST,
                format!("/reservations/{id}/confirm"),
                json!({}),
            ),
            Self::Cancel(id) => (
                Method::POST,
                format!("/reservations/{id}/cancel"),
                json!({}),
            ),
        }
    }

    /// What a 2xx answer to this write acknowledges.
    fn acks(&self, body: &Value) -> Vec<Ack> {
        match self {
            Self::Adjust(..) | Self::Set(..) => vec![row(body)],
            Self::Transfer(..) => vec![row(&body["from"]), row(&body["to"])],
            Self::Reserve(..) => vec![Ack::Reserved(text(body, "id"))],
            Self::Confirm(id) => vec![Ack::Confirmed(id.clone())],
            Self::Cancel(id) => vec![Ack::Cancelled(id.clone())],
        }
    }
}

fn text(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no `{field}` in {body}"))
        .to_owned()
}

/// A stock row of an answer.
fn row(body: &Value) -> Ack {
    let number = |field: &str| {
        body[field]
            .as_i64()
            .unwrap_or_else(|| panic!("no `{field}` in {body}"))
    };
    Ack::Row {
        product: text(body, "product_id"),
        store: text(body, "store_id"),
        quantity: number("quantity"),
        reserved: number("reserved"),
        version: number("version"),
    }
}

struct Worker {
    index: usize,
    client: reqwest::Client,
    bases: Arc<[String]>,
    products: Arc<[String]>,
    started: Instant,
}

impl Worker {
    async fn run(self, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) -> Tally {
        let mut rng = Rng::new(0xC4A0_5000 + self.index as u64);
        // Acknowledged reservations with a long TTL, to confirm or cancel later.
        let mut open: Vec<String> = Vec::new();
        let mut tally = Tally::default();
        let mut pace = tokio::time::interval(PACE);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut turn = self.index;
        while !stop.load(Ordering::Relaxed) {
            pace.tick().await;
            turn += 1;
            let op = self.next_op(&mut rng, &mut open);
            tally.writes += 1;
            // Round-robin, and like a load balancer: a write that failed on one replica
            // (no answer, or a 5xx) is sent once more, to the other one.
            for attempt in 0..2 {
                let base = &self.bases[(turn + attempt) % self.bases.len()];
                let sent = Instant::now();
                let (status, answer) = self.send(base, &op).await;
                tally.sent += 1;
                *tally.statuses.entry(status).or_default() += 1;
                match status {
                    200..=299 => {
                        acked.fetch_add(1, Ordering::Relaxed);
                        let acks = op.acks(&answer);
                        if let (Op::Reserve(_, _, _, ttl), Some(Ack::Reserved(id))) =
                            (&op, acks.first())
                            && *ttl > 1
                        {
                            open.push(id.clone());
                        }
                        tally.acks.extend(acks);
                    }
                    // Not enough stock, a retried write that had gone through, and the
                    // like: part of a random mix.
                    409 => {}
                    0 | 500..=599 => {
                        tally.failures.push((self.started.elapsed(), status));
                        tally.slowest_failure = tally.slowest_failure.max(sent.elapsed());
                        continue;
                    }
                    _ if tally.odd.len() < 5 => {
                        let (_, path, _) = op.request();
                        tally.odd.push(format!("{path}: {status} {answer}"));
                    }
                    _ => {}
                }
                break;
            }
        }
        tally
    }

    /// Sends `op` to the replica at `base`: (status, body); status 0 when no answer came.
    async fn send(&self, base: &str, op: &Op) -> (u16, Value) {
        let (method, path, body) = op.request();
        let request = self
            .client
            .request(method, format!("{base}/api/v1{path}"))
            .header("X-API-Key", KEY)
            .json(&body);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// The next write: reservations (a quarter of them left to expire after 1 s), confirms
    /// and cancels of open ones, adjustments, sets and transfers.
    fn next_op(&self, rng: &mut Rng, open: &mut Vec<String>) -> Op {
        let product = self.products[rng.below(self.products.len() as u64) as usize].clone();
        let store = STORES[rng.below(STORES.len() as u64) as usize];
        let units = 1 + rng.below(3) as i64;
        match rng.below(20) {
            5..=7 if !open.is_empty() => {
                Op::Confirm(open.swap_remove(rng.below(open.len() as u64) as usize))
            }
            8..=9 if !open.is_empty() => {
                Op::Cancel(open.swap_remove(rng.below(open.len() as u64) as usize))
            }
            10..=13 => {
                let by = 1 + rng.below(10) as i64;
                Op::Adjust(product, store, if rng.below(2) == 0 { by } else { -by })
            }
            14..=16 => Op::Set(product, store, 500 + rng.below(1000) as i64),
            17..=19 => {
                let to = STORES[(STORES.iter().position(|s| *s == store).expect("a store")
                    + 1
                    + rng.below(3) as usize)
                    % STORES.len()];
                Op::Transfer(product, store, to, 1 + rng.below(5) as i64)
            }
            _ => {
                let ttl = if rng.below(4) == 0 { 1 } else { 3_600 };
                Op::Reserve(product, store, units, ttl)
            }
        }
    }
}
