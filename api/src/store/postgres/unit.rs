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

use std::collections::HashMap;

use inventory_shared::outbox::postgres::EventRow;

use crate::domain::{ProductId, ReservationId, ReservationRow, StockRow, StoreId};

/// A stock row's key.
pub(super) type PairKey = (ProductId, StoreId);

/// A stock row the batch holds locked, and whether the batch changed it.
#[derive(Debug, Clone)]
pub(super) struct StockEntry {
    pub row: StockRow,
    pub changed: bool,
}

/// A reservation the batch holds locked or created, and what the flush must do with it.
#[derive(Debug, Clone)]
pub(super) struct ReservationEntry {
    pub row: ReservationRow,
    /// Created by this batch: the flush inserts it (in its final state).
    pub new: bool,
    /// An existing row this batch changed: the flush updates it.
    pub changed: bool,
}

/// What a change replaced, to be put back if its job fails. `None` outside: the key was not
/// in the cache at all; `Some(None)`: known not to exist.
#[derive(Debug)]
enum Undo {
    Stock(PairKey, Option<Option<StockEntry>>),
    Reservation(ReservationId, Option<Option<ReservationEntry>>),
}

/// A point in the unit a job can be undone to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    undo: usize,
    events: usize,
}

/// The batch's rows and buffered writes.
#[derive(Debug, Default)]
pub(super) struct Unit {
    /// Stock rows by (product, store): `None` = no such row (known, locked out of nothing).
    pub stock: HashMap<PairKey, Option<StockEntry>>,
    /// Reservations by id: `None` = no such reservation.
    pub reservations: HashMap<ReservationId, Option<ReservationEntry>>,
    /// Whether each product asked about exists.
    pub products: HashMap<ProductId, bool>,
    /// The events to append, in the order the jobs appended them.
    pub events: Vec<EventRow>,
    undo: Vec<Undo>,
}

impl Unit {
    /// Forgets everything: the start of a batch (or of its rerun).
    pub fn clear(&mut self) {
        self.stock.clear();
        self.reservations.clear();
        self.products.clear();
        self.events.clear();
        self.undo.clear();
    }

    /// Where the unit stands now.
    pub fn mark(&self) -> Mark {
        Mark {
            undo: self.undo.len(),
            events: self.events.len(),
        }
    }

    /// Puts back every value changed since `mark` and drops the events appended since.
    /// Rows loaded since stay cached (they are what the database holds, and stay locked).
    pub fn undo_to(&mut self, mark: Mark) {
        while self.undo.len() > mark.undo {
            match self.undo.pop() {
                Some(Undo::Stock(key, before)) => restore(&mut self.stock, key, before),
                Some(Undo::Reservation(id, before)) => restore(&mut self.reservations, id, before),
                None => break,
            }
        }
        self.events.truncate(mark.events);
    }

    /// The loaded stock row of `key`, to change: its old value goes to the undo log and the
    /// flush will write it. `None` when the row does not exist (or was not loaded).
    pub fn stock_mut(&mut self, key: &PairKey) -> Option<&mut StockRow> {
        let before = self.stock.get(key).cloned();
        match self.stock.get_mut(key) {
            Some(Some(entry)) => {
                self.undo.push(Undo::Stock(key.clone(), before));
                entry.changed = true;
                Some(&mut entry.row)
            }
            _ => None,
        }
    }

    /// The reservation `id` (loaded or created by this batch), to change, with the same
    /// bookkeeping as [`Unit::stock_mut`].
    pub fn reservation_mut(&mut self, id: &ReservationId) -> Option<&mut ReservationRow> {
        let before = self.reservations.get(id).cloned();
        match self.reservations.get_mut(id) {
            Some(Some(entry)) => {
                self.undo.push(Undo::Reservation(id.clone(), before));
                if !entry.new {
                    entry.changed = true;
                }
                Some(&mut entry.row)
            }
            _ => None,
        }
    }

    /// Adds a reservation this batch creates.
    pub fn insert_reservation(&mut self, row: ReservationRow) {
        let before = self.reservations.get(&row.id).cloned();
        self.undo.push(Undo::Reservation(row.id.clone(), before));
        self.reservations.insert(
            row.id.clone(),
            Some(ReservationEntry {
                row,
                new: true,
                changed: false,
            }),
        );
    }
}

fn restore<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, Option<V>>,
    key: K,
    before: Option<Option<V>>,
) {
    match before {
        Some(value) => {
            map.insert(key, value);
        }
        None => {
            map.remove(&key);
        }
    }
}
