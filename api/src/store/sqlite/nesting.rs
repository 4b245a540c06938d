//! [`NestTx`](crate::store::NestTx) on SQLite: a `SAVEPOINT`, and the connection's change
//! counter.

use super::SqliteTx;
use crate::store::{NestTx, StoreResult};

impl NestTx for SqliteTx<'_> {
    fn nest(&mut self) -> StoreResult<()> {
        self.conn.prepare_cached("SAVEPOINT op")?.execute([])?;
        Ok(())
    }

    fn unnest(&mut self, keep: bool) -> StoreResult<()> {
        if !keep {
            self.conn.prepare_cached("ROLLBACK TO op")?.execute([])?;
        }
        self.conn.prepare_cached("RELEASE op")?.execute([])?;
        Ok(())
    }

    fn change_count(&mut self) -> u64 {
        // SQLite rolls the whole transaction back on some errors; the statements after it
        // would run in autocommit mode: that counts as a change, the transaction is gone.
        if self.conn.is_autocommit() {
            return u64::MAX;
        }
        self.conn.total_changes()
    }
}
