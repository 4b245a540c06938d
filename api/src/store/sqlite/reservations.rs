//! [`ReservationTx`](crate::store::ReservationTx) on SQLite: the reservation statements, run at once on the writer's connection.

use rusqlite::{OptionalExtension, params};

use super::SqliteTx;
use crate::domain::{HoldId, ReservationId, ReservationRow, ReservationStatus};
use crate::store::{ReservationTx, StoreResult};

impl ReservationTx for SqliteTx<'_> {
    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<ReservationRow>> {
        Ok(self
            .conn
            .prepare_cached("SELECT * FROM reservations WHERE id = ?")?
            .query_row([id.as_str()], ReservationRow::from_row)
            .optional()?)
    }

    fn insert_reservation(&mut self, row: &ReservationRow) -> StoreResult<()> {
        debug_assert_eq!(
            row.status,
            ReservationStatus::Pending,
            "a new reservation is PENDING"
        );
        self.conn
            .prepare_cached(
                "INSERT INTO reservations (id, product_id, store_id, customer_id, quantity, \
                 status, expires_at, created_at, updated_at, hold_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                row.id.as_str(),
                row.product_id.as_str(),
                row.store_id.as_str(),
                row.customer_id,
                row.quantity.get(),
                row.status.as_str(),
                row.expires_at,
                row.created_at,
                row.updated_at,
                row.hold_id.as_ref().map(HoldId::as_str)
            ])?;
        // The only INSERT into `reservations`, so it keeps the count itself (a trigger would
        // give the INSERT a statement journal: migrations/20261203000006_insert_counters_in_code.sql).
        self.conn
            .prepare_cached(
                "INSERT INTO reservation_counts (store_id, status, n) VALUES (?, 'PENDING', 1) \
                 ON CONFLICT (store_id, status) DO UPDATE SET n = n + 1",
            )?
            .execute([row.store_id.as_str()])?;
        Ok(())
    }

    fn finish_reservation(
        &mut self,
        id: &ReservationId,
        status: ReservationStatus,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        debug_assert!(
            matches!(
                status,
                ReservationStatus::Confirmed | ReservationStatus::Cancelled
            ),
            "finish_reservation takes a final status other than EXPIRED"
        );
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE reservations SET status = ?, updated_at = ? WHERE id = ? \
                 AND status = 'PENDING' RETURNING *",
            )?
            .query_row(
                params![status.as_str(), now, id.as_str()],
                ReservationRow::from_row,
            )
            .optional()?)
    }

    fn expire_reservation(
        &mut self,
        id: &ReservationId,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE reservations SET status = 'EXPIRED', updated_at = ?1 \
                 WHERE id = ?2 AND status = 'PENDING' AND expires_at <= ?1 RETURNING *",
            )?
            .query_row(params![now, id.as_str()], ReservationRow::from_row)
            .optional()?)
    }

    fn extend_reservation(
        &mut self,
        id: &ReservationId,
        deadline: &str,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE reservations SET expires_at = ?1, updated_at = ?2 \
                 WHERE id = ?3 AND status = 'PENDING' AND expires_at > ?2 RETURNING *",
            )?
            .query_row(
                params![deadline, now, id.as_str()],
                ReservationRow::from_row,
            )
            .optional()?)
    }

    fn due_reservations(&mut self, now: &str, limit: i64) -> StoreResult<Vec<crate::domain::Due>> {
        // Walks `reservations_pending_by_expiry`: `limit` index entries, whatever the backlog.
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, hold_id FROM reservations WHERE status = 'PENDING' \
                 AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            )?
            .query_map(params![now, limit], |row| {
                Ok(crate::domain::Due {
                    id: ReservationId::from_stored(row.get(0)?),
                    hold_id: row.get::<_, Option<String>>(1)?.map(HoldId::from_stored),
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// One statement moves the reservations to EXPIRED, then one statement per stock row gives
    /// back the units of all its reservations, moving its version by as many (a measured
    /// optimisation of the expiry batch: `bench/profile_expiry.sh`, `docs/performance.md`).
    fn expire_singles(
        &mut self,
        ids: &[ReservationId],
        now: &str,
    ) -> StoreResult<Vec<(ReservationRow, i64)>> {
        let mut rows = mark_expired(self.conn, ids, now)?;
        // RETURNING gives no order; the answer follows the deadlines, as one-by-one expiry did.
        rows.sort_by(|a, b| (&a.expires_at, &a.id).cmp(&(&b.expires_at, &b.id)));
        let mut versions = Vec::with_capacity(rows.len());
        for release in plan_releases(&rows) {
            let last = release_many_units(self.conn, &release, now)?;
            let first = last - release.count + 1;
            versions.extend(release.members.iter().copied().zip(first..));
        }
        versions.sort_unstable();
        Ok(rows
            .into_iter()
            .zip(versions)
            .map(|(row, (_, version))| (row, version))
            .collect())
    }
}

/// The units a batch of expiries gives back to one stock row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Release {
    product_id: crate::domain::ProductId,
    store_id: crate::domain::StoreId,
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
/// their hold's expiry, so a hold is never half expired); the rows as changed.
fn mark_expired(
    conn: &rusqlite::Connection,
    ids: &[ReservationId],
    now: &str,
) -> rusqlite::Result<Vec<ReservationRow>> {
    let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
    conn.prepare_cached(
        "UPDATE reservations SET status = 'EXPIRED', updated_at = ?1 \
         WHERE id IN (SELECT value FROM json_each(?2)) AND status = 'PENDING' \
         AND expires_at <= ?1 AND hold_id IS NULL RETURNING *",
    )?
    .query_map(params![now, list], ReservationRow::from_row)?
    .collect()
}

/// Gives a batch's units back to one stock row, its version moving once per reservation;
/// returns the row's new version.
fn release_many_units(
    conn: &rusqlite::Connection,
    release: &Release,
    now: &str,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "UPDATE stock SET reserved = reserved - ?, version = version + ?, updated_at = ? \
         WHERE product_id = ? AND store_id = ? RETURNING version",
    )?
    .query_row(
        params![
            release.units,
            release.count,
            now,
            release.product_id.as_str(),
            release.store_id.as_str()
        ],
        |r| r.get(0),
    )
}
