//! [`KeyTx`]: the idempotency keys: the stored answers of keyed writes. Part of [`super::Tx`].

use super::StoreResult;
use crate::domain::{KeyRecord, KeyScope};

/// The idempotency keys: the stored answers of keyed writes. Every method acts inside the caller's transaction (see [`super::Tx`]).
///
/// What the `Idempotency-Key` rule needs from them (`crate::http::idempotency`): a key's
/// record is looked up before its write runs and stored in the same transaction as the write,
/// so the same key with the same request is replayed, with another request refused (422), and
/// a duplicate sent while the first is in flight waits for it and is replayed, never applied
/// twice nor answered "in use". On SQLite the one writer gives that by order: the duplicate is
/// looked up after the first committed or in the same transaction. A PostgreSQL unit of work
/// (several replicas) must give it by locks (`docs/postgres.md`, "unit of work"): before any
/// rule of the batch runs it inserts the batch's key rows first, in sorted key order
/// (`INSERT … ON CONFLICT DO NOTHING RETURNING`), so a key another replica is writing makes it
/// wait for that replica's commit and then read its record; [`KeyTx::find_key`] answers from
/// what that step read (a record it found, or none for a key it inserted), and
/// [`KeyTx::store_key`] fills the row it inserted, at the flush.
pub trait KeyTx {
    /// The live record of `scope`, if any: one whose deadline is after `now` (stored form). A
    /// record past its deadline that the purge has not removed yet counts as absent, so a
    /// key's lifetime does not depend on the purge's timing.
    fn find_key(&mut self, scope: &KeyScope, now: &str) -> StoreResult<Option<KeyRecord>>;

    /// Binds `scope` to `record` from `now` until `expires_at` (stored forms), replacing an
    /// expired record of the same key that was not purged yet ([`KeyTx::find_key`] already
    /// treated it as absent).
    fn store_key(
        &mut self,
        scope: &KeyScope,
        record: &KeyRecord,
        now: &str,
        expires_at: &str,
    ) -> StoreResult<()>;
}
