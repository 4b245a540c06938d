//! The `idempotency_keys` table: the stored answer of each keyed write, looked up and written
//! on the writer's connection inside the write's own transaction, and purged once expired.
//!
//! Nothing here knows HTTP: an answer is a status, a few header values and the body bytes,
//! captured and replayed by [`crate::http::idempotency`].

use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::OpResult;

/// Who sent a key: the API key's name and the `Idempotency-Key` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScope {
    /// The name of the API key (`API_KEYS=key:name`), not the secret.
    pub api_key_name: String,
    /// The client's `Idempotency-Key`.
    pub key: String,
}

/// A stored answer, as it is sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// Status code (2xx, 404, 409, 412: the outcomes worth repeating).
    pub status: u16,
    /// `Content-Type`, absent for a 204.
    pub content_type: Option<String>,
    /// `Location`, for a 201.
    pub location: Option<String>,
    /// `ETag`, for a stock row.
    pub etag: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What the key is bound to: the request's fingerprint and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// SHA-256 (hex) of the first request's method, path and parsed body.
    pub fingerprint: String,
    /// The first request's answer.
    pub answer: StoredAnswer,
}

/// The live record of `scope`, if any. A record past its deadline that the purge task has not
/// removed yet counts as absent, so a key's lifetime does not depend on the purge's timing.
pub fn find_key(
    conn: &Connection,
    scope: &KeyScope,
    now: &Timestamp,
) -> OpResult<Option<KeyRecord>> {
    let found = conn
        .prepare_cached(
            "SELECT fingerprint, status, content_type, location, etag, body FROM idempotency_keys \
             WHERE api_key_name = ?1 AND idempotency_key = ?2 AND expires_at > ?3",
        )?
        .query_row(
            params![scope.api_key_name, scope.key, time::to_db(now)],
            |row| {
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
            },
        )
        .optional()?;
    Ok(found)
}

/// Binds `scope` to `record` until `expires_at`, replacing an expired record of the same key
/// that was not purged yet ([`find_key`] already treated it as absent).
pub fn store_key(
    conn: &Connection,
    scope: &KeyScope,
    record: &KeyRecord,
    now: &Timestamp,
    expires_at: &Timestamp,
) -> OpResult<()> {
    let answer = &record.answer;
    conn.prepare_cached(
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
        time::to_db(now),
        time::to_db(expires_at),
    ])?;
    Ok(())
}

/// Deletes at most `limit` records whose deadline is past, oldest first; returns how many.
/// Bounded so one purge never holds the write lock for long (the caller loops).
pub fn purge_expired_keys(conn: &Connection, now: &Timestamp, limit: i64) -> OpResult<usize> {
    let deleted = conn
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys \
             WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
        )?
        .execute(params![time::to_db(now), limit])?;
    Ok(deleted)
}
