//! The batch's unit of work, in memory: the rows the batch holds locked (loaded once, changed
//! here), the rows and events it will insert, and the undo log that makes a job's failure
//! undo only that job. Nothing here talks to PostgreSQL: `load` fills it, the `Tx` methods
//! change it, `flush` writes what changed.
//!
//! Why in memory: a job's statements would otherwise cost a round trip each (five for a
//! reservation), and a job's failure would need a `SAVEPOINT` (a subtransaction; more than 64
//! in one transaction overflow every backend's cache). Here a job that fails is rolled back
//! by putting the values it changed back ([`Unit::undo_to`]), and the batch's writes go to the
//! database set-based, once, at the end.

use std::collections::{HashMap, HashSet};

use std::hash::Hash;

use inventory_shared::outbox::postgres::EventRow;

use crate::domain::{
    HoldId, HoldRow, KeyRecord, ProductId, ProductRow, ReservationId, ReservationRow, Sku,
    StockRow, StoreId,
};

/// A stock row's key.
pub(super) type PairKey = (ProductId, StoreId);

/// A row the batch holds locked or created, and what the flush must do with it.
#[derive(Debug, Clone)]
pub(super) struct Entry<R> {
    pub row: R,
    /// Created by this batch: the flush inserts it (in its final state).
    pub new: bool,
    /// An existing row this batch changed: the flush updates it.
    pub changed: bool,
    /// Deleted by this batch: no longer seen; the flush deletes it (or, for rows that go
    /// with a deleted parent, the parent's `ON DELETE CASCADE` does).
    pub deleted: bool,
}

impl<R> Entry<R> {
    /// A row as loaded from the database.
    pub fn loaded(row: R) -> Self {
        Self {
            row,
            new: false,
            changed: false,
            deleted: false,
        }
    }
}

/// One table's rows in the batch: by key, `None` = known not to exist. Each change records
/// what it replaced (`None` outside: the key was not cached at all) so a job can be undone.
#[derive(Debug)]
pub(super) struct Table<K, R> {
    rows: HashMap<K, Option<Entry<R>>>,
    undo: Vec<(K, Option<Option<Entry<R>>>)>,
}

impl<K, R> Default for Table<K, R> {
    fn default() -> Self {
        Self {
            rows: HashMap::new(),
            undo: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, R: Clone> Table<K, R> {
    fn clear(&mut self) {
        self.rows.clear();
        self.undo.clear();
    }

    /// Whether the batch knows `key` (loaded, created, or known missing).
    pub fn knows(&self, key: &K) -> bool {
        self.rows.contains_key(key)
    }

    /// The row of `key`, when the batch knows it exists.
    pub fn get(&self, key: &K) -> Option<&R> {
        self.rows
            .get(key)
            .and_then(|e| e.as_ref().filter(|e| !e.deleted).map(|e| &e.row))
    }

    /// Records what the database holds for `key` (a load: not a change, never undone).
    pub fn loaded(&mut self, key: K, row: Option<R>) {
        self.rows.insert(key, row.map(Entry::loaded));
    }

    /// The row of `key`, to change: its old value goes to the undo log and the flush will
    /// write it. `None` when the row does not exist (or was not loaded).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut R> {
        let before = self.rows.get(key).cloned();
        match self.rows.get_mut(key) {
            Some(Some(entry)) if !entry.deleted => {
                self.undo.push((key.clone(), before));
                if !entry.new {
                    entry.changed = true;
                }
                Some(&mut entry.row)
            }
            _ => None,
        }
    }

    /// Deletes the row of `key`; `false` when the batch knows no such row.
    pub fn delete(&mut self, key: &K) -> bool {
        let before = self.rows.get(key).cloned();
        match self.rows.get_mut(key) {
            Some(Some(entry)) if !entry.deleted => {
                self.undo.push((key.clone(), before));
                entry.deleted = true;
                true
            }
            _ => false,
        }
    }

    /// The rows this batch created (and did not delete), with their keys.
    pub fn new_with_keys(&self) -> impl Iterator<Item = (&K, &R)> {
        self.rows.iter().filter_map(|(key, entry)| {
            entry
                .as_ref()
                .filter(|e| e.new && !e.deleted)
                .map(|e| (key, &e.row))
        })
    }

    /// The rows deleted by this batch that the database holds (not created by it).
    pub fn deleted(&self) -> impl Iterator<Item = &Entry<R>> {
        self.rows.values().flatten().filter(|e| e.deleted && !e.new)
    }

    /// Adds a row this batch creates.
    pub fn insert(&mut self, key: K, row: R) {
        let before = self.rows.get(&key).cloned();
        self.undo.push((key.clone(), before));
        self.rows.insert(
            key,
            Some(Entry {
                row,
                new: true,
                changed: false,
                deleted: false,
            }),
        );
    }

    /// Forgets every key the batch knows only as missing and `matches` (cache entries, not
    /// changes: they are read again when asked for).
    pub fn forget_missing(&mut self, matches: impl Fn(&K) -> bool) {
        self.rows
            .retain(|key, entry| entry.is_some() || !matches(key));
    }

    /// Every key the batch knows, with its row (`None`: missing, or deleted by the batch).
    pub fn known(&self) -> impl Iterator<Item = (&K, Option<&R>)> {
        self.rows
            .iter()
            .map(|(key, entry)| (key, entry.as_ref().filter(|e| !e.deleted).map(|e| &e.row)))
    }

    /// Every row the batch knows exists.
    pub fn entries(&self) -> impl Iterator<Item = &Entry<R>> {
        self.rows.values().flatten().filter(|e| !e.deleted)
    }

    fn undo_to(&mut self, len: usize) {
        while self.undo.len() > len {
            let Some((key, before)) = self.undo.pop() else {
                break;
            };
            match before {
                Some(value) => {
                    self.rows.insert(key, value);
                }
                None => {
                    self.rows.remove(&key);
                }
            }
        }
    }
}

/// An idempotency key's row: (API key name, `Idempotency-Key`).
pub(super) type KeyId = (String, String);

/// A stored answer and its lifetime.
#[derive(Debug, Clone)]
pub(super) struct KeyRow {
    pub record: KeyRecord,
    pub created_at: String,
    pub expires_at: String,
}

/// A point in the unit a job can be undone to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    stock: usize,
    reservations: usize,
    holds: usize,
    products: usize,
    keys: usize,
    events: usize,
}

/// The batch's rows and buffered writes.
#[derive(Debug, Default)]
pub(super) struct Unit {
    /// Stock rows by (product, store).
    pub stock: Table<PairKey, StockRow>,
    /// Reservations by id.
    pub reservations: Table<ReservationId, ReservationRow>,
    /// Holds by id.
    pub holds: Table<HoldId, HoldRow>,
    /// Products by id (loaded `FOR UPDATE`, created, changed or deleted by the batch).
    pub products: Table<ProductId, ProductRow>,
    /// Idempotency keys: the answers the batch read or stores.
    pub keys: Table<KeyId, KeyRow>,
    /// The holds whose lines were loaded (so every line of theirs is in `reservations`).
    pub hold_lines_loaded: HashSet<HoldId>,
    /// The SKUs whose holder the batch read under the SKU's advisory lock.
    pub skus_checked: HashSet<Sku>,
    /// The products whose stock rows and PENDING reservations were all loaded.
    pub product_rows_loaded: HashSet<ProductId>,
    /// Whether products asked about by `product_exists` exist (read `FOR KEY SHARE`), for
    /// those the batch has not loaded into `products`.
    pub products_seen: HashMap<ProductId, bool>,
    /// The products this batch locked (`FOR NO KEY UPDATE`) before creating a stock row.
    pub locked_products: HashSet<ProductId>,
    /// The events to append, in the order the jobs appended them.
    pub events: Vec<EventRow>,
}

impl Unit {
    /// Forgets everything: the start of a batch (or of its rerun).
    pub fn clear(&mut self) {
        self.stock.clear();
        self.reservations.clear();
        self.holds.clear();
        self.hold_lines_loaded.clear();
        self.locked_products.clear();
        self.skus_checked.clear();
        self.products_seen.clear();
        self.product_rows_loaded.clear();
        self.products.clear();
        self.keys.clear();
        self.events.clear();
    }

    /// Where the unit stands now.
    pub fn mark(&self) -> Mark {
        Mark {
            stock: self.stock.undo.len(),
            reservations: self.reservations.undo.len(),
            holds: self.holds.undo.len(),
            products: self.products.undo.len(),
            keys: self.keys.undo.len(),
            events: self.events.len(),
        }
    }

    /// A number that grows with every change the unit records (see `NestTx::change_count`).
    pub fn change_count(&self) -> u64 {
        (self.stock.undo.len()
            + self.reservations.undo.len()
            + self.holds.undo.len()
            + self.products.undo.len()
            + self.keys.undo.len()
            + self.events.len()) as u64
    }

    /// Puts back every value changed since `mark` and drops the events appended since.
    /// Rows loaded since stay cached (they are what the database holds, and stay locked).
    pub fn undo_to(&mut self, mark: Mark) {
        self.stock.undo_to(mark.stock);
        self.reservations.undo_to(mark.reservations);
        self.holds.undo_to(mark.holds);
        self.products.undo_to(mark.products);
        self.keys.undo_to(mark.keys);
        self.events.truncate(mark.events);
    }
}
