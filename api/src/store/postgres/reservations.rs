//! [`ReservationTx`] on PostgreSQL: reservations read from the rows the batch holds locked
//! (or created), changed in memory, written by the flush. Every guard the SQLite statements
//! carry (`status = 'PENDING'`, the deadline) is checked here on the locked row.

use super::PgTx;
use super::load;
use crate::domain::{ReservationId, ReservationRow, ReservationStatus};
use crate::store::{ReservationTx, StoreResult};

impl PgTx {
    /// Locks and loads reservation `id` unless the batch has it (or knows it is missing).
    fn ensure_reservation(&mut self, id: &ReservationId) -> StoreResult<()> {
        if self.unit.reservations.knows(id) {
            return Ok(());
        }
        let ids = [id.clone()];
        let found = self.run("locking a reservation", async |conn| {
            load::reservations(conn, &ids).await
        })?;
        self.unit
            .reservations
            .loaded(id.clone(), found.into_iter().next());
        Ok(())
    }

    /// Changes reservation `id` with `change` if it is PENDING and `guard` holds for it,
    /// answering the changed row; `None` (nothing changed) otherwise.
    fn change_pending(
        &mut self,
        id: &ReservationId,
        guard: impl FnOnce(&ReservationRow) -> bool,
        change: impl FnOnce(&mut ReservationRow),
    ) -> StoreResult<Option<ReservationRow>> {
        self.ensure_reservation(id)?;
        let applies = self
            .unit
            .reservations
            .get(id)
            .is_some_and(|row| row.status == ReservationStatus::Pending && guard(row));
        if !applies {
            return Ok(None);
        }
        Ok(self.unit.reservations.get_mut(id).map(|row| {
            change(row);
            row.clone()
        }))
    }
}

impl ReservationTx for PgTx {
    fn reservation(&mut self, id: &ReservationId) -> StoreResult<Option<ReservationRow>> {
        self.ensure_reservation(id)?;
        Ok(self.unit.reservations.get(id).cloned())
    }

    fn insert_reservation(&mut self, row: &ReservationRow) -> StoreResult<()> {
        debug_assert_eq!(
            row.status,
            ReservationStatus::Pending,
            "a new reservation is PENDING"
        );
        // Counted by the schema's statement-level trigger at the flush's INSERT.
        self.unit.reservations.insert(row.id.clone(), row.clone());
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
        self.change_pending(
            id,
            |_| true,
            |row| {
                row.status = status;
                row.updated_at = now.to_owned();
            },
        )
    }

    fn expire_reservation(
        &mut self,
        id: &ReservationId,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        // Stored times are fixed-width UTC text: text order is time order.
        self.change_pending(
            id,
            |row| row.expires_at.as_str() <= now,
            |row| {
                row.status = ReservationStatus::Expired;
                row.updated_at = now.to_owned();
            },
        )
    }

    fn extend_reservation(
        &mut self,
        id: &ReservationId,
        deadline: &str,
        now: &str,
    ) -> StoreResult<Option<ReservationRow>> {
        self.change_pending(
            id,
            |row| row.expires_at.as_str() > now,
            |row| {
                row.expires_at = deadline.to_owned();
                row.updated_at = now.to_owned();
            },
        )
    }
}
