//! Retention's statements: deleting synced events and finished reservations past their
//! retention period, and handing freed pages back to the file system. Run by the API's
//! retention task (`api/src/retention/`) on the writer connection, one batch per job.
//!
//! Each delete states the whole rule in its own `WHERE` (synced, older than the cutoff;
//! finished, older than the cutoff), so a caller passing the wrong rows cannot delete a
//! pending or parked event, nor a PENDING reservation.

use crate::time::{self, Timestamp};

/// Pages one [`incremental_vacuum`] call frees at most (4 MiB with 4 KiB pages): a short
/// write transaction, so API writes queued behind it wait only milliseconds.
pub const VACUUM_PAGES_PER_STEP: i64 = 1024;

/// Deletes the events among `seqs` that are synced and were created before `cutoff`; the
/// others (pending, parked, recent) stay whatever the caller asked. Returns how many went.
pub fn delete_synced_events(
    conn: &rusqlite::Connection,
    seqs: &[i64],
    cutoff: &Timestamp,
) -> rusqlite::Result<usize> {
    if seqs.is_empty() {
        return Ok(0);
    }
    let list = serde_json::to_string(seqs).unwrap_or_else(|_| "[]".to_owned());
    conn.prepare_cached(
        "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?1)) \
         AND synced_at IS NOT NULL AND created_at < ?2",
    )?
    .execute(rusqlite::params![list, time::to_db(cutoff)])
}

/// Deletes up to `limit` reservations that finished (confirmed, cancelled, expired) before
/// `cutoff`, oldest first, through the `reservations_finished_by_update` index. Returns how
/// many went.
pub fn delete_finished_reservations(
    conn: &rusqlite::Connection,
    cutoff: &Timestamp,
    limit: i64,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM reservations WHERE id IN (SELECT id FROM reservations \
         WHERE status <> 'PENDING' AND updated_at < ?1 ORDER BY updated_at LIMIT ?2)",
    )?
    .execute(rusqlite::params![time::to_db(cutoff), limit])
}

/// Whether the file reclaims space on `PRAGMA incremental_vacuum` (`auto_vacuum` is
/// `INCREMENTAL`, which only a new file or a `VACUUM` can switch on; `docs/operations.md`).
pub fn has_incremental_vacuum(conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
    Ok(mode == 2)
}

/// Moves up to [`VACUUM_PAGES_PER_STEP`] free pages to the end of the file and truncates
/// them away; returns the free pages left.
pub fn incremental_vacuum(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    // A pragma's argument cannot be a bound parameter; the literal matches the constant.
    const _: () = assert!(VACUUM_PAGES_PER_STEP == 1024);
    conn.execute_batch("PRAGMA incremental_vacuum(1024)")?;
    free_pages(conn)
}

/// Pages of the file on the free list (deleted rows' space not yet returned).
pub fn free_pages(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA freelist_count", [], |row| row.get(0))
}
