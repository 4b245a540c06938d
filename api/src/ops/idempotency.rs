//! The idempotency keys: the stored answer of each keyed write, looked up and stored inside
//! the write's own transaction, through the storage seam ([`KeyTx`](crate::store::KeyTx), no
//! SQL here). Expired records are purged by a background task ([`crate::key_purge`]), whose
//! statement is not a rule's and stays with the SQLite backend.
//!
//! Nothing here knows HTTP: an answer is a status, a few header values and the body bytes,
//! captured and replayed by [`crate::http::idempotency`], which holds the rule (same key and
//! same request: replay; another request: 422; a duplicate in flight: it waits and replays).
//! What a PostgreSQL unit of work must do to keep that rule across replicas is on
//! [`KeyTx`](crate::store::KeyTx).

use inventory_shared::time::{self, Timestamp};

use super::OpResult;
pub use crate::domain::{KeyRecord, KeyScope, StoredAnswer};
use crate::store::Tx;

/// The live record of `scope`, if any. A record past its deadline that the purge task has not
/// removed yet counts as absent, so a key's lifetime does not depend on the purge's timing.
pub fn find_key<T: Tx + ?Sized>(
    tx: &mut T,
    scope: &KeyScope,
    now: &Timestamp,
) -> OpResult<Option<KeyRecord>> {
    Ok(tx.find_key(scope, &time::to_db(now))?)
}

/// Binds `scope` to `record` until `expires_at`, replacing an expired record of the same key
/// that was not purged yet ([`find_key`] already treated it as absent).
pub fn store_key<T: Tx + ?Sized>(
    tx: &mut T,
    scope: &KeyScope,
    record: &KeyRecord,
    now: &Timestamp,
    expires_at: &Timestamp,
) -> OpResult<()> {
    tx.store_key(scope, record, &time::to_db(now), &time::to_db(expires_at))?;
    Ok(())
}
