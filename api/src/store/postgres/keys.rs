//! [`KeyTx`] on PostgreSQL: a key is looked up under its own advisory lock (`load::key`), so
//! a duplicate sent to another replica while the first is in flight waits for that commit
//! and then replays its answer; the answer is stored (upserted) by the flush.

use super::PgTx;
use super::load;
use super::unit::KeyRow;
use crate::domain::{KeyRecord, KeyScope};
use crate::store::{KeyTx, StoreResult};

impl KeyTx for PgTx {
    fn find_key(&mut self, scope: &KeyScope, now: &str) -> StoreResult<Option<KeyRecord>> {
        let id = (scope.api_key_name.clone(), scope.key.clone());
        if !self.unit.keys.knows(&id) {
            let found = self.run("locking an idempotency key", async |conn| {
                load::key(conn, &id).await
            })?;
            self.unit.keys.loaded(id.clone(), found);
        }
        Ok(self
            .unit
            .keys
            .get(&id)
            .filter(|row| row.expires_at.as_str() > now)
            .map(|row| row.record.clone()))
    }

    fn store_key(
        &mut self,
        scope: &KeyScope,
        record: &KeyRecord,
        now: &str,
        expires_at: &str,
    ) -> StoreResult<()> {
        let id = (scope.api_key_name.clone(), scope.key.clone());
        self.unit.keys.insert(
            id,
            KeyRow {
                record: record.clone(),
                created_at: now.to_owned(),
                expires_at: expires_at.to_owned(),
            },
        );
        Ok(())
    }
}
