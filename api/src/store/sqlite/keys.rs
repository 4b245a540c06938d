//! [`KeyTx`](crate::store::KeyTx) on SQLite: the idempotency-key statements, run at once on the
//! writer's connection; and the purge of expired keys, a background task's statement that is
//! not part of [`Tx`](crate::store::Tx) ([`SqliteTx::purge_expired_keys`]).

use rusqlite::{OptionalExtension, params};

use super::SqliteTx;
use crate::domain::{KeyRecord, KeyScope, StoredAnswer};
use crate::store::{KeyTx, StoreResult};

impl KeyTx for SqliteTx<'_> {
    fn find_key(&mut self, scope: &KeyScope, now: &str) -> StoreResult<Option<KeyRecord>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT fingerprint, status, content_type, location, etag, body \
                 FROM idempotency_keys WHERE api_key_name = ?1 AND idempotency_key = ?2 AND expires_at > ?3",
            )?
            .query_row(params![scope.api_key_name, scope.key, now], |row| {
                Ok(KeyRecord {
                    fingerprint: row.get(0)?,
                    answer: StoredAnswer {
                        status: row.get(1)?,
                        content_type: row.get(2)?,
                        location: row.get(3)?,
                        etag: row.get(4)?,
                        body: row.get(5)?,
                    },
                })
            })
            .optional()?)
    }

    fn store_key(
        &mut self,
        scope: &KeyScope,
        record: &KeyRecord,
        now: &str,
        expires_at: &str,
    ) -> StoreResult<()> {
        let answer = &record.answer;
        self.conn
            .prepare_cached(
                "INSERT INTO idempotency_keys (api_key_name, idempotency_key, fingerprint, status, \
                 content_type, location, etag, body, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (api_key_name, idempotency_key) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, status = excluded.status, \
                 content_type = excluded.content_type, location = excluded.location, \
                 etag = excluded.etag, body = excluded.body, created_at = excluded.created_at, \
                 expires_at = excluded.expires_at",
            )?
            .execute(params![
                scope.api_key_name,
                scope.key,
                record.fingerprint,
                answer.status,
                answer.content_type,
                answer.location,
                answer.etag,
                answer.body,
                now,
                expires_at,
            ])?;
        Ok(())
    }
}

impl SqliteTx<'_> {
    /// Deletes at most `limit` key records whose deadline is not after `now` (stored form),
    /// oldest first; answers how many. Bounded so one purge never holds the write lock for long
    /// (the caller loops).
    ///
    /// Not a [`KeyTx`] method: no rule runs it, only the purge task (`crate::key_purge`), as a
    /// job of its own. On PostgreSQL that task will run its own `DELETE` in a transaction of
    /// its own under an advisory lock (one replica per tick, `docs/postgres.md`), outside the
    /// writer's unit of work, so the statement stays with the SQLite backend.
    pub fn purge_expired_keys(&self, now: &str, limit: i64) -> StoreResult<usize> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys \
                 WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
            )?
            .execute(params![now, limit])?)
    }
}
