//! The stock rows a replica remembers from its own commits, so that a batch whose rows are
//! all remembered can run without locking and loading them first (`docs/postgres.md`,
//! "Batches from the replica's cache").
//!
//! A batch usually costs four round trips: `BEGIN`, the locking `SELECT`, the write
//! statement and `COMMIT`. With one replica (or one replica writing a row at a time), the
//! rows it loaded under lock and wrote are still what the database holds when its next batch
//! comes: the jobs' rules can run on them as remembered, and the batch be sent as its one
//! statement, which commits on its own. The statement locks the rows in the global order
//! and checks that each still has the version remembered (`inventory_expect_rows`), so a row
//! another replica (or anything else) changed meanwhile fails the whole statement with a
//! serialization failure and nothing of it is applied; the writer then runs the batch again
//! the usual way. No guarantee rests on the cache being right: it only decides which of the
//! two ways is tried first.
//!
//! Remembered: the rows of committed batches, as committed. Forgotten: everything, after any
//! batch that failed, and when it holds more than [`CAPACITY`] rows (so its memory stays
//! bounded; the rows in use come back with their next locked batch).

use std::collections::HashMap;

use super::unit::{PairKey, Unit};
use crate::domain::StockRow;

/// Most rows remembered; past it the cache starts again empty.
pub const CAPACITY: usize = 4096;

/// The remembered rows, by (product, store).
#[derive(Debug, Default)]
pub struct StockCache {
    rows: HashMap<PairKey, StockRow>,
}

impl StockCache {
    /// The remembered rows of `keys`, all of them or `None`.
    pub fn rows_of(&self, keys: &[PairKey]) -> Option<Vec<StockRow>> {
        keys.iter().map(|key| self.rows.get(key).cloned()).collect()
    }

    /// After `unit` committed: its stock rows as the database now holds them; rows it
    /// deleted, or saw missing, are forgotten.
    pub fn committed(&mut self, unit: &Unit) {
        for (key, row) in unit.stock.known() {
            match row {
                Some(row) => self.rows.insert(key.clone(), row.clone()),
                None => self.rows.remove(key),
            };
        }
        // A product deleted takes its stock rows with it (`ON DELETE CASCADE`), loaded or not.
        if unit.products.deleted().next().is_some() || self.rows.len() > CAPACITY {
            self.rows.clear();
        }
    }

    /// Forgets every row.
    pub fn clear(&mut self) {
        self.rows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProductId, Quantity, StoreId};

    fn key(n: u8) -> PairKey {
        (
            ProductId::parse(&format!("00000000-0000-7000-8000-0000000000{n:02}")).expect("id"),
            StoreId::parse("MAD-001").expect("store"),
        )
    }

    fn row(key: &PairKey, version: i64) -> StockRow {
        StockRow {
            product_id: key.0.clone(),
            store_id: key.1.clone(),
            quantity: Quantity::from_stored(10),
            reserved: Quantity::from_stored(0),
            version,
            updated_at: "2026-12-05T00:00:00.000000Z".to_owned(),
        }
    }

    #[test]
    fn a_committed_batch_s_rows_are_remembered_and_missing_ones_forgotten() {
        let (a, b) = (key(1), key(2));
        let mut unit = Unit::default();
        unit.stock.loaded(a.clone(), Some(row(&a, 1)));
        unit.stock.loaded(b.clone(), Some(row(&b, 4)));
        unit.stock.get_mut(&a).expect("a").version = 2;
        let mut cache = StockCache::default();

        cache.committed(&unit);

        let rows = cache.rows_of(&[a.clone(), b.clone()]).expect("both");
        assert_eq!((rows[0].version, rows[1].version), (2, 4));
        assert!(
            cache.rows_of(&[a.clone(), key(3)]).is_none(),
            "all or nothing"
        );

        let mut gone = Unit::default();
        gone.stock.loaded(b.clone(), None);
        cache.committed(&gone);
        assert!(cache.rows_of(&[b]).is_none());
        assert!(cache.rows_of(&[a]).is_some());
    }
}
