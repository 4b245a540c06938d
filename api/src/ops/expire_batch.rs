//! Expiring due reservations as a set, for the expiry task's batches ([`crate::expiry`]):
//! which reservations are due (the one rule, `status = 'PENDING' AND expires_at <= now`), and
//! the set-based expiry of single reservations with one `reservation.expired` event each.
//! One reservation at a time is [`super::reservations::expire`]; a hold's lines expire with
//! their hold ([`super::holds::expire_hold`]).

use inventory_shared::outbox::append_events;
use inventory_shared::time::{self, Timestamp};
use rusqlite::{Connection, params};

use super::OpResult;
use super::reservations::{ReservationRow, expired_event};
use crate::domain::{HoldId, ProductId, ReservationId, StoreId};

/// A PENDING reservation past its deadline, as the expiry task finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The reservation.
    pub id: ReservationId,
    /// Its hold, whose lines expire together; `None` for a single reservation.
    pub hold_id: Option<HoldId>,
}

/// Up to `limit` due reservations, most overdue first: the expiry rule, `status = 'PENDING'
/// AND expires_at <= at` (walks `reservations_pending_by_expiry`, so it reads `limit` index
/// entries however large the backlog).
pub fn due_reservations(conn: &Connection, at: &Timestamp, limit: i64) -> OpResult<Vec<Due>> {
    let due = conn
        .prepare_cached(
            "SELECT id, hold_id FROM reservations WHERE status = 'PENDING' AND expires_at <= ? \
             ORDER BY expires_at LIMIT ?",
        )?
        .query_map(params![time::to_db(at), limit], |row| {
            Ok(Due {
                id: ReservationId::from_stored(row.get(0)?),
                hold_id: row.get::<_, Option<String>>(1)?.map(HoldId::from_stored),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(due)
}

/// Expires the given reservations as a set, each only if it is still PENDING and due (the
/// guard of [`expire`], in the statement that makes the change, so one confirmed, cancelled or
/// extended since it was found is left alone): one statement moves them to EXPIRED, one
/// statement per (product, store) gives their units back, and each gets its own
/// `reservation.expired` event, exactly as [`super::reservations::expire`] would have written
/// them one by one (the stock version moves once per reservation; each event carries the
/// version its own release reached), appended in multi-row INSERTs ([`append_events`]).
/// Returns the expired rows, in deadline order. For single reservations: a hold's lines expire
/// with their hold ([`super::holds::expire_hold`]).
///
/// The status counters stay exact through the update trigger of `reservations`, the event
/// counters through [`append_events`].
pub fn expire_many(
    conn: &Connection,
    ids: &[ReservationId],
    at: &Timestamp,
) -> OpResult<Vec<ReservationRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = mark_expired(conn, ids, at)?;
    // RETURNING gives no order; events follow the deadlines, as one-by-one expiry did.
    rows.sort_by(|a, b| (&a.expires_at, &a.id).cmp(&(&b.expires_at, &b.id)));
    let mut versions = Vec::with_capacity(rows.len());
    for release in plan_releases(&rows) {
        let last = release_many_units(conn, &release, at)?;
        let first = last - release.count + 1;
        versions.extend(release.members.iter().copied().zip(first..));
    }
    versions.sort_unstable();
    let events: Vec<_> = versions
        .into_iter()
        .map(|(i, version)| expired_event(&rows[i], version, at))
        .collect();
    append_events(conn, &events, at)?;
    Ok(rows)
}

/// The units a batch of expiries gives back to one stock row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Release {
    product_id: ProductId,
    store_id: StoreId,
    /// Units given back, summed.
    units: i64,
    /// Reservations expired on the row: the version moves by as many.
    count: i64,
    /// Their positions in the batch, in order.
    members: Vec<usize>,
}

/// Groups a batch's reservations by stock row, keeping the batch's order within each row.
fn plan_releases(rows: &[ReservationRow]) -> Vec<Release> {
    let mut releases: Vec<Release> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let key = (row.product_id.as_str(), row.store_id.as_str());
        let at = *index.entry(key).or_insert_with(|| {
            releases.push(Release {
                product_id: row.product_id.clone(),
                store_id: row.store_id.clone(),
                units: 0,
                count: 0,
                members: Vec::new(),
            });
            releases.len() - 1
        });
        let release = &mut releases[at];
        release.units += row.quantity.get();
        release.count += 1;
        release.members.push(i);
    }
    releases
}

/// PENDING and due → EXPIRED for the listed single reservations (a hold's lines are left to
/// [`super::holds::expire_hold`], so a hold is never half expired); the rows as changed.
fn mark_expired(
    conn: &Connection,
    ids: &[ReservationId],
    at: &Timestamp,
) -> rusqlite::Result<Vec<ReservationRow>> {
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
    conn.prepare_cached(
        "UPDATE reservations SET status = 'EXPIRED', updated_at = ?1 \
         WHERE id IN (SELECT value FROM json_each(?2)) AND status = 'PENDING' \
         AND expires_at <= ?1 AND hold_id IS NULL RETURNING *",
    )?
    .query_map(params![time::to_db(at), list], ReservationRow::from_row)?
    .collect()
}

/// Gives a batch's units back to one stock row, its version moving once per reservation;
/// returns the row's new version.
fn release_many_units(
    conn: &Connection,
    release: &Release,
    at: &Timestamp,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "UPDATE stock SET reserved = reserved - ?, version = version + ?, updated_at = ? \
         WHERE product_id = ? AND store_id = ? RETURNING version",
    )?
    .query_row(
        params![
            release.units,
            release.count,
            time::to_db(at),
            release.product_id.as_str(),
            release.store_id.as_str()
        ],
        |r| r.get(0),
    )
}
