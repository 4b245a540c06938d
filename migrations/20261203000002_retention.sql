-- Retention (api/src/retention): finished reservations are deleted oldest first by the time
-- they finished (`updated_at`). This partial index holds only finished rows, so each batch is
-- an index range walk, and PENDING rows (the hot ones) cost nothing extra to maintain.
-- Old synced events are found by walking `seq` (commit order), which needs no new index.
CREATE INDEX reservations_finished_by_update ON reservations (updated_at)
    WHERE status <> 'PENDING';
