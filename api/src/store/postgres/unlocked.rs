//! [`PgTx`] for a batch run on the stock rows the replica remembers ([`super::cache`],
//! `docs/postgres.md`): beginning one, and settling one whose statement was lost with its
//! connection ([`super::settle`]). Its commit is [`PgTx::commit`]'s, which sends it as the
//! one statement `flush::flush_unlocked` builds.

use super::unit::PairKey;
use super::{Failure, PgTx, settle, sorted};
use crate::store::Declared;

impl PgTx {
    /// The unlocked batch whose statement was lost with the connection, if the last one was.
    pub fn take_lost(&mut self) -> Option<settle::Lost> {
        self.lost.take()
    }

    /// Settles `lost` (a batch lost with another connection of this writer) on this one.
    pub fn settle(&mut self, lost: &settle::Lost) -> Result<settle::Settled, Failure> {
        self.runtime
            .block_on(settle::settle(&mut self.conn, lost))
            .map_err(|e| Failure::of(e, "settling a batch lost with its connection"))
    }

    /// Opens the batch without a transaction, locks or loads, when the rows `declared`
    /// names are only stock rows and the cache remembers every one of them: the jobs then
    /// run on the remembered rows, and [`PgTx::commit`] sends the batch as one statement that
    /// checks them under their locks and commits on its own ([`cache`]). `false` (nothing
    /// done): begin the usual way.
    pub fn begin_unlocked(&mut self, declared: &Declared) -> bool {
        if !declared.reservations.is_empty()
            || !declared.products.is_empty()
            || declared.pairs.is_empty()
        {
            return false;
        }
        let keys: Vec<PairKey> = sorted(declared.pairs.iter().cloned());
        let Some(rows) = self.cache.rows_of(&keys) else {
            return false;
        };
        self.unit.clear();
        self.nests.clear();
        self.failure = None;
        for (key, row) in keys.into_iter().zip(rows.iter()) {
            self.unit.stock.loaded(key, Some(row.clone()));
        }
        self.unlocked = Some(rows);
        true
    }
}
