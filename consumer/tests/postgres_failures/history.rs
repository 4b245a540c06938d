//! The end state, and the checks on it: the database's snapshot once everything settled;
//! the stream against the events table (each event once, with its id, each product's events
//! in `seq` order); the stream replayed into stock rows, strictly (each row's versions one
//! by one), against the stock table; and every acknowledged write found in that history and
//! in the database.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use inventory_consumer::event::Incoming;
use inventory_shared::events::NewEvent;
use sqlx::PgPool;

use super::load::Ack;
use crate::common::wait_until;

/// (product, store).
type Key = (String, String);

/// The database once the load stopped and everything settled.
pub struct Snapshot {
    /// Every event: `seq` → (id, product).
    pub events: BTreeMap<i64, (String, String)>,
    /// Events parked by a relay.
    pub dead: i64,
    /// Every stock row: (quantity, reserved, version).
    pub stock: BTreeMap<Key, (i64, i64, i64)>,
    /// Every reservation's status.
    pub reservations: HashMap<String, String>,
}

/// Waits until the reservations left to expire have expired (the ones with a long TTL stay
/// pending and change nothing) and every event is published and marked.
pub async fn settle(db: &PgPool) {
    wait_until(
        Duration::from_secs(30),
        "short reservations expired",
        || async move {
            count(
                db,
                "SELECT count(*) FROM reservations \
             WHERE status = 'PENDING' AND expires_at < now() + interval '10 minutes'",
            )
            .await
                == 0
        },
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "every event published",
        || async move {
            count(
                db,
                "SELECT count(*) FROM events WHERE synced_at IS NULL AND dead_at IS NULL",
            )
            .await
                == 0
        },
    )
    .await;
}

async fn count(db: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(db)
        .await
        .expect("a count")
}

/// Reads the whole end state in one transaction.
pub async fn snapshot(db: &PgPool) -> Snapshot {
    let mut tx = db.begin().await.expect("begin");
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .expect("one snapshot");
    let events: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT seq, id::text, partition_key FROM events")
            .fetch_all(&mut *tx)
            .await
            .expect("events");
    let dead = sqlx::query_scalar("SELECT count(*) FROM events WHERE dead_at IS NOT NULL")
        .fetch_one(&mut *tx)
        .await
        .expect("dead events");
    let stock: Vec<(String, String, i64, i64, i64)> =
        sqlx::query_as("SELECT product_id::text, store_id, quantity, reserved, version FROM stock")
            .fetch_all(&mut *tx)
            .await
            .expect("stock rows");
    let reservations: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, status FROM reservations")
            .fetch_all(&mut *tx)
            .await
            .expect("reservations");
    tx.rollback().await.expect("end the snapshot");
    Snapshot {
        events: events
            .into_iter()
            .map(|(seq, id, product)| (seq, (id, product)))
            .collect(),
        dead,
        stock: stock
            .into_iter()
            .map(|(p, s, q, r, v)| ((p, s), (q, r, v)))
            .collect(),
        reservations: reservations.into_iter().collect(),
    }
}

/// Checks the stream against the events table; returns how many entries follow a larger
/// `seq` (of another product: the relay publishes in visibility order, which only keeps
/// each product's order).
pub fn check_stream(snapshot: &Snapshot, entries: &[Incoming]) -> usize {
    let mut seen: HashSet<i64> = HashSet::new();
    let twice: Vec<i64> = entries
        .iter()
        .filter(|e| !seen.insert(e.seq))
        .map(|e| e.seq)
        .collect();
    assert!(
        twice.is_empty(),
        "{} stream entries repeat an event; the first seqs: {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    let missing: Vec<&i64> = snapshot
        .events
        .keys()
        .filter(|seq| !seen.contains(seq))
        .collect();
    assert!(
        missing.is_empty(),
        "{} events of the table never reached the stream; the first: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(
        entries.len(),
        snapshot.events.len(),
        "the stream holds events the table does not"
    );
    let mut last_of_product: HashMap<&str, i64> = HashMap::new();
    let mut crossed = 0;
    for (at, entry) in entries.iter().enumerate() {
        let (id, product) = &snapshot.events[&entry.seq];
        assert_eq!(&entry.id, id, "entry {at}: seq {}'s id", entry.seq);
        assert_eq!(
            entry.event.partition_key(),
            product.as_str(),
            "entry {at}: product"
        );
        if let Some(last) = last_of_product.insert(product.as_str(), entry.seq) {
            assert!(
                last < entry.seq,
                "entry {at}: seq {} of product {product} follows its seq {last}",
                entry.seq
            );
        }
        if at > 0 && entries[at - 1].seq > entry.seq {
            crossed += 1;
        }
    }
    crossed
}

/// The stock rows the stream folds into, each state each row passed through, and the
/// reservations each event type names.
#[derive(Default)]
pub struct History {
    pub rows: BTreeMap<Key, (i64, i64, i64)>,
    /// (product, store, version) → (quantity, reserved).
    states: HashMap<(String, String, i64), (i64, i64)>,
    created: HashSet<String>,
    confirmed: HashSet<String>,
    cancelled: HashSet<String>,
    pub expired: usize,
}

impl History {
    /// Replays `entries` in stream order. Strict: each event must bring each row it touches
    /// to exactly the next version (a missing, repeated or reordered event stops it), and
    /// `0 <= reserved <= quantity` must hold after each.
    pub fn replay(entries: &[Incoming]) -> Self {
        let mut history = Self::default();
        for entry in entries {
            history.apply(entry);
        }
        history
    }

    fn apply(&mut self, entry: &Incoming) {
        let seq = entry.seq;
        match &entry.event {
            NewEvent::StockCreated(p) => {
                self.step(seq, &p.product_id, &p.store_id, p.version, |_, _| {
                    (p.quantity, 0)
                });
            }
            NewEvent::StockUpdated(p) => {
                self.step(seq, &p.product_id, &p.store_id, p.version, |_, _| {
                    (p.new_quantity, p.reserved)
                });
            }
            NewEvent::StockTransferred(p) => {
                self.step(seq, &p.product_id, &p.from_store, p.from_version, |_, r| {
                    (p.from_new_quantity, r)
                });
                self.step(seq, &p.product_id, &p.to_store, p.to_version, |_, r| {
                    (p.to_new_quantity, r)
                });
            }
            NewEvent::ReservationCreated(p) => {
                self.step(seq, &p.product_id, &p.store_id, p.version, |q, r| {
                    (q, r + p.quantity)
                });
                self.created.insert(p.reservation_id.clone());
            }
            NewEvent::ReservationConfirmed(p) => {
                self.step(seq, &p.product_id, &p.store_id, p.version, |q, r| {
                    (q - p.quantity, r - p.quantity)
                });
                self.confirmed.insert(p.reservation_id.clone());
            }
            NewEvent::ReservationCancelled(p) => {
                self.step(seq, &p.product_id, &p.store_id, p.version, |q, r| {
                    (q, r - p.quantity)
                });
                self.cancelled.insert(p.reservation_id.clone());
            }
            NewEvent::ReservationExpired(p) => {
                self.step(seq, &p.product_id, &p.store_id, p.version, |q, r| {
                    (q, r - p.quantity)
                });
                self.expired += 1;
            }
            // Only the deadline moved.
            NewEvent::ReservationExtended(_) => {}
        }
    }

    fn step(
        &mut self,
        seq: i64,
        product: &str,
        store: &str,
        version: i64,
        change: impl FnOnce(i64, i64) -> (i64, i64),
    ) {
        let key = (product.to_owned(), store.to_owned());
        let (quantity, reserved, had) = self.rows.get(&key).copied().unwrap_or((0, 0, 0));
        assert_eq!(
            version,
            had + 1,
            "seq {seq}: {key:?} goes from version {had} to {version}: an event of this row is \
             missing, repeated or out of order in the stream"
        );
        let (quantity, reserved) = change(quantity, reserved);
        assert!(
            0 <= reserved && reserved <= quantity,
            "seq {seq}: {key:?} replays to quantity {quantity}, reserved {reserved}"
        );
        self.states.insert(
            (key.0.clone(), key.1.clone(), version),
            (quantity, reserved),
        );
        self.rows.insert(key, (quantity, reserved, version));
    }
}

/// Acknowledged writes by kind, all found.
#[derive(Debug, Default)]
pub struct Found {
    pub row_states: usize,
    pub reserved: usize,
    pub confirmed: usize,
    pub cancelled: usize,
}

/// Finds every acknowledged write in the history the stream replays to, and the
/// reservations with their status in the database; panics naming the first few lost.
pub fn find_acks(acks: &[Ack], history: &History, snapshot: &Snapshot) -> Found {
    let mut found = Found::default();
    let mut lost = Vec::new();
    let status = |id: &str| snapshot.reservations.get(id).map(String::as_str);
    for ack in acks {
        let ok = match ack {
            Ack::Row {
                product,
                store,
                quantity,
                reserved,
                version,
            } => {
                found.row_states += 1;
                history
                    .states
                    .get(&(product.clone(), store.clone(), *version))
                    == Some(&(*quantity, *reserved))
            }
            Ack::Reserved(id) => {
                found.reserved += 1;
                history.created.contains(id) && status(id).is_some()
            }
            Ack::Confirmed(id) => {
                found.confirmed += 1;
                history.confirmed.contains(id) && status(id) == Some("CONFIRMED")
            }
            Ack::Cancelled(id) => {
                found.cancelled += 1;
                history.cancelled.contains(id) && status(id) == Some("CANCELLED")
            }
        };
        if !ok {
            lost.push(ack);
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes are not in the database and its events; the first: {:?}",
        lost.len(),
        acks.len(),
        &lost[..lost.len().min(5)]
    );
    found
}
