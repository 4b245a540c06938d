-- The counters' UPDATE triggers without a join: each counts every old row -1 under its old
-- key and every new row +1 under its new key, summed per key; a row whose key did not change
-- cancels out, and `HAVING sum <> 0` drops it (what the join's `IS DISTINCT FROM` filter did
-- before), so the counters move exactly as before.
--
-- Why: the old versions joined the statement's two transition tables on the row's id. A
-- transition table has no index, so that join is a hash join or a nested loop, and the API's
-- writer session turns hash and merge joins off (its own statements are key lookups:
-- api/src/store/postgres/connect.rs, WRITER_SESSION; a trigger runs in the session of the
-- statement that fires it). A nested loop over the reservations one batch updates (a batch of
-- hold confirmations can change thousands) grows with their square, and runs at the end of
-- the batch's statement, under the outbox's `seq` lock that every replica waits for. Without
-- the join, each trigger reads each transition table once, whatever the planner settings.

CREATE OR REPLACE FUNCTION event_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts AS c (event_type, state, slot, n)
    SELECT event_type, state, counter_slot(), sum(delta)
    FROM (
        SELECT event_type, event_state(synced_at, dead_at) AS state, -1 AS delta FROM old_rows
        UNION ALL
        SELECT event_type, event_state(synced_at, dead_at), 1 FROM new_rows
    ) AS change
    GROUP BY 1, 2
    HAVING sum(delta) <> 0
    ORDER BY 1, 2
    ON CONFLICT (event_type, state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION reservation_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reservation_counts AS c (store_id, status, slot, n)
    SELECT store_id, status, counter_slot(), sum(delta)
    FROM (
        SELECT store_id, status, -1 AS delta FROM old_rows
        UNION ALL
        SELECT store_id, status, 1 FROM new_rows
    ) AS change
    GROUP BY 1, 2
    HAVING sum(delta) <> 0
    ORDER BY 1, 2
    ON CONFLICT (store_id, status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;
