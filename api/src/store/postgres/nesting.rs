//! [`NestTx`] on PostgreSQL: a mark in the unit of work, no `SAVEPOINT` (`docs/postgres.md`).

use super::PgTx;
use crate::store::{NestTx, StoreError, StoreResult};

impl NestTx for PgTx {
    fn nest(&mut self) -> StoreResult<()> {
        self.nests.push(self.unit.mark());
        Ok(())
    }

    fn unnest(&mut self, keep: bool) -> StoreResult<()> {
        let mark = self
            .nests
            .pop()
            .ok_or_else(|| StoreError::Failed(anyhow::anyhow!("unnest without a nest")))?;
        if !keep {
            self.unit.undo_to(mark);
        }
        Ok(())
    }

    fn change_count(&mut self) -> u64 {
        self.unit.change_count()
    }
}
