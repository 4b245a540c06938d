//! [`ReservationTx`] on PostgreSQL: reservations read from the rows the batch holds locked
//! (or created), changed in memory, written by the flush. Every guard the SQLite statements
//! carry (`status = 'PENDING'`, the deadline) is checked here on the locked row.

use super::PgTx;
use super::load;
use std::collections::BTreeSet;

use super::unit::PairKey;
use crate::domain::{Due, Quantity, ReservationId, ReservationRow, ReservationStatus};
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

impl PgTx {
    /// Locks and loads, in one statement and in (product, store) order, the stock rows of
    /// `keys` the batch does not hold yet.
    fn ensure_stocks(&mut self, keys: BTreeSet<PairKey>) -> StoreResult<()> {
        let missing: Vec<PairKey> = keys
            .into_iter()
            .filter(|key| !self.unit.stock.knows(key))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let found = self.run("locking stock rows", async |conn| {
            load::stock_rows(conn, &missing).await
        })?;
        for key in missing {
            self.unit.stock.loaded(key, None);
        }
        for row in found {
            let key = (row.product_id.clone(), row.store_id.clone());
            self.unit.stock.loaded(key, Some(row));
        }
        Ok(())
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

    fn due_reservations(&mut self, now: &str, limit: i64) -> StoreResult<Vec<Due>> {
        let found = self.run("taking due reservations", async |conn| {
            load::due_reservations(conn, now, limit).await
        })?;
        let mut due = Vec::with_capacity(found.len());
        for row in found {
            if !self.unit.reservations.knows(&row.id) {
                self.unit
                    .reservations
                    .loaded(row.id.clone(), Some(row.clone()));
            }
            // As this batch sees it: one it already confirmed, cancelled or expired is not due.
            if self
                .unit
                .reservations
                .get(&row.id)
                .is_some_and(|seen| seen.status == ReservationStatus::Pending)
            {
                due.push(Due {
                    id: row.id.clone(),
                    hold_id: row.hold_id.clone(),
                });
            }
        }
        Ok(due)
    }

    fn expire_singles(
        &mut self,
        ids: &[ReservationId],
        now: &str,
    ) -> StoreResult<Vec<(ReservationRow, i64)>> {
        for id in ids {
            self.ensure_reservation(id)?;
        }
        let mut rows: Vec<ReservationRow> = ids
            .iter()
            .filter_map(|id| self.unit.reservations.get(id))
            .filter(|row| {
                row.status == ReservationStatus::Pending
                    && row.hold_id.is_none()
                    && row.expires_at.as_str() <= now
            })
            .cloned()
            .collect();
        rows.sort_by(|a, b| (&a.expires_at, &a.id).cmp(&(&b.expires_at, &b.id)));
        rows.dedup_by(|a, b| a.id == b.id);
        // Their stock rows first, all in one statement and in order.
        self.ensure_stocks(
            rows.iter()
                .map(|r| (r.product_id.clone(), r.store_id.clone()))
                .collect(),
        )?;
        let mut expired = Vec::with_capacity(rows.len());
        for row in rows {
            let key = (row.product_id.clone(), row.store_id.clone());
            let Some(stock) = self.unit.stock.get_mut(&key) else {
                return Err(crate::store::StoreError::Failed(anyhow::anyhow!(
                    "reservation {} holds units of a stock row that does not exist",
                    row.id
                )));
            };
            stock.reserved = Quantity::from_stored(stock.reserved.get() - row.quantity.get());
            stock.version += 1;
            stock.updated_at = now.to_owned();
            let version = stock.version;
            let Some(changed) = self.unit.reservations.get_mut(&row.id) else {
                continue;
            };
            changed.status = ReservationStatus::Expired;
            changed.updated_at = now.to_owned();
            expired.push((changed.clone(), version));
        }
        Ok(expired)
    }
}
