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
}
