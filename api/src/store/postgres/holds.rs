//! [`HoldTx`] on PostgreSQL: holds locked when first reached (a hold's lines with it, in
//! (product, store) order), changed in memory with the guards the SQLite statements carry,
//! written by the flush.

use super::PgTx;
use super::load;
use crate::domain::{HoldId, HoldRow, HoldStatus, ReservationRow};
use crate::store::{HoldTx, StoreError, StoreResult};

impl PgTx {
    /// Locks and loads hold `id` unless the batch has it (or knows it is missing).
    fn ensure_hold(&mut self, id: &HoldId) -> StoreResult<()> {
        if self.unit.holds.knows(id) {
            return Ok(());
        }
        let found = self.run("locking a hold", async |conn| load::hold(conn, id).await)?;
        self.unit.holds.loaded(id.clone(), found);
        Ok(())
    }

    /// Changes PENDING hold `id` with `change` when `guard` holds, answering the changed row.
    fn change_pending_hold(
        &mut self,
        id: &HoldId,
        guard: impl FnOnce(&HoldRow) -> bool,
        change: impl FnOnce(&mut HoldRow),
    ) -> StoreResult<Option<HoldRow>> {
        self.ensure_hold(id)?;
        let applies = self
            .unit
            .holds
            .get(id)
            .is_some_and(|row| row.status == HoldStatus::Pending && guard(row));
        if !applies {
            return Ok(None);
        }
        Ok(self.unit.holds.get_mut(id).map(|row| {
            change(row);
            row.clone()
        }))
    }
}

impl HoldTx for PgTx {
    fn hold(&mut self, id: &HoldId) -> StoreResult<Option<HoldRow>> {
        self.ensure_hold(id)?;
        Ok(self.unit.holds.get(id).cloned())
    }

    fn hold_lines(&mut self, id: &HoldId) -> StoreResult<Vec<ReservationRow>> {
        if !self.unit.hold_lines_loaded.contains(id) {
            let found = self.run("locking a hold's lines", async |conn| {
                load::hold_lines(conn, id).await
            })?;
            for row in found {
                // A line this batch already holds keeps its in-batch state.
                if !self.unit.reservations.knows(&row.id) {
                    self.unit.reservations.loaded(row.id.clone(), Some(row));
                }
            }
            self.unit.hold_lines_loaded.insert(id.clone());
        }
        let mut lines: Vec<ReservationRow> = self
            .unit
            .reservations
            .entries()
            .filter(|e| e.row.hold_id.as_ref() == Some(id))
            .map(|e| e.row.clone())
            .collect();
        lines.sort_by(|a, b| (&a.product_id, &a.store_id).cmp(&(&b.product_id, &b.store_id)));
        Ok(lines)
    }

    fn insert_hold(&mut self, row: &HoldRow) -> StoreResult<()> {
        self.unit.holds.insert(row.id.clone(), row.clone());
        // A new hold has no lines in the database: every line is created in this batch.
        self.unit.hold_lines_loaded.insert(row.id.clone());
        Ok(())
    }

    fn record_unfulfilled(&mut self, id: &HoldId, lines: &str) -> StoreResult<()> {
        self.ensure_hold(id)?;
        let row = self
            .unit
            .holds
            .get_mut(id)
            .ok_or_else(|| StoreError::Failed(anyhow::anyhow!("hold {id} does not exist")))?;
        row.unfulfilled = lines.to_owned();
        Ok(())
    }

    fn finish_hold(
        &mut self,
        id: &HoldId,
        status: HoldStatus,
        now: &str,
    ) -> StoreResult<Option<HoldRow>> {
        self.change_pending_hold(
            id,
            |_| true,
            |row| {
                row.status = status;
                row.updated_at = now.to_owned();
            },
        )
    }

    fn expire_hold(&mut self, id: &HoldId, now: &str) -> StoreResult<Option<HoldRow>> {
        self.change_pending_hold(
            id,
            |row| row.expires_at.as_str() <= now,
            |row| {
                row.status = HoldStatus::Expired;
                row.updated_at = now.to_owned();
            },
        )
    }

    fn set_hold_deadline(
        &mut self,
        id: &HoldId,
        deadline: &str,
        now: &str,
    ) -> StoreResult<HoldRow> {
        self.ensure_hold(id)?;
        let row = self
            .unit
            .holds
            .get_mut(id)
            .ok_or_else(|| StoreError::Failed(anyhow::anyhow!("hold {id} does not exist")))?;
        row.expires_at = deadline.to_owned();
        row.updated_at = now.to_owned();
        Ok(row.clone())
    }
}
