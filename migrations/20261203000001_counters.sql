-- Counters instead of scans (issue 10, part A): the outbox by event type and state, and the
-- reservations by store and status, kept exact by triggers in the transaction of every change.
--
-- Why triggers rather than counting in the code: every write path keeps them exact without
-- knowing about them: the API's operations, the relay's marks and parks, an operator's
-- `inventory-relay dead retry`, retention deletes, and a product delete cascading to its
-- reservations. A statement that rolls back takes its counter change with it.
--
-- An event's state is one of three, exactly as the stats have always defined them:
--   synced   synced_at IS NOT NULL (the broker acknowledged it; wins over dead_at)
--   dead     synced_at IS NULL AND dead_at IS NOT NULL (parked)
--   pending  synced_at IS NULL AND dead_at IS NULL (the relay's partial index events_pending)
-- Rows whose count fell to 0 stay; readers skip them.

CREATE TABLE event_counts (
    event_type TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'synced', 'dead')),
    n          INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (event_type, state)
) WITHOUT ROWID;

CREATE TABLE reservation_counts (
    store_id TEXT NOT NULL,
    status   TEXT NOT NULL,
    n        INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (store_id, status)
) WITHOUT ROWID;

-- Backfill from the rows already there, before the triggers exist: the migration runs in one
-- transaction holding the write lock, so no change can slip between the count and the triggers.
INSERT INTO event_counts (event_type, state, n)
SELECT event_type,
       CASE WHEN synced_at IS NOT NULL THEN 'synced'
            WHEN dead_at IS NOT NULL THEN 'dead'
            ELSE 'pending' END,
       COUNT(*)
FROM events
GROUP BY 1, 2;

INSERT INTO reservation_counts (store_id, status, n)
SELECT store_id, status, COUNT(*) FROM reservations GROUP BY 1, 2;

CREATE TRIGGER event_counts_insert AFTER INSERT ON events
BEGIN
    INSERT INTO event_counts (event_type, state, n)
    VALUES (NEW.event_type,
            CASE WHEN NEW.synced_at IS NOT NULL THEN 'synced'
                 WHEN NEW.dead_at IS NOT NULL THEN 'dead'
                 ELSE 'pending' END,
            1)
    ON CONFLICT (event_type, state) DO UPDATE SET n = n + 1;
END;

-- Fires only when the state (or the type) really changes: a rejection that only bumps
-- `attempts` costs nothing here.
CREATE TRIGGER event_counts_update AFTER UPDATE OF synced_at, dead_at, event_type ON events
WHEN OLD.event_type IS NOT NEW.event_type
  OR (CASE WHEN OLD.synced_at IS NOT NULL THEN 'synced'
           WHEN OLD.dead_at IS NOT NULL THEN 'dead'
           ELSE 'pending' END)
     IS NOT
     (CASE WHEN NEW.synced_at IS NOT NULL THEN 'synced'
           WHEN NEW.dead_at IS NOT NULL THEN 'dead'
           ELSE 'pending' END)
BEGIN
    UPDATE event_counts SET n = n - 1
    WHERE event_type = OLD.event_type
      AND state = CASE WHEN OLD.synced_at IS NOT NULL THEN 'synced'
                       WHEN OLD.dead_at IS NOT NULL THEN 'dead'
                       ELSE 'pending' END;
    INSERT INTO event_counts (event_type, state, n)
    VALUES (NEW.event_type,
            CASE WHEN NEW.synced_at IS NOT NULL THEN 'synced'
                 WHEN NEW.dead_at IS NOT NULL THEN 'dead'
                 ELSE 'pending' END,
            1)
    ON CONFLICT (event_type, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER event_counts_delete AFTER DELETE ON events
BEGIN
    UPDATE event_counts SET n = n - 1
    WHERE event_type = OLD.event_type
      AND state = CASE WHEN OLD.synced_at IS NOT NULL THEN 'synced'
                       WHEN OLD.dead_at IS NOT NULL THEN 'dead'
                       ELSE 'pending' END;
END;

CREATE TRIGGER reservation_counts_insert AFTER INSERT ON reservations
BEGIN
    INSERT INTO reservation_counts (store_id, status, n)
    VALUES (NEW.store_id, NEW.status, 1)
    ON CONFLICT (store_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER reservation_counts_update AFTER UPDATE OF status, store_id ON reservations
WHEN OLD.status IS NOT NEW.status OR OLD.store_id IS NOT NEW.store_id
BEGIN
    UPDATE reservation_counts SET n = n - 1
    WHERE store_id = OLD.store_id AND status = OLD.status;
    INSERT INTO reservation_counts (store_id, status, n)
    VALUES (NEW.store_id, NEW.status, 1)
    ON CONFLICT (store_id, status) DO UPDATE SET n = n + 1;
END;

-- Also fires for the rows a product delete removes through the stock → reservations cascade.
CREATE TRIGGER reservation_counts_delete AFTER DELETE ON reservations
BEGIN
    UPDATE reservation_counts SET n = n - 1
    WHERE store_id = OLD.store_id AND status = OLD.status;
END;

-- The audit log filtered by store and type together walks this index in seq order (the other
-- combinations are served by the indexes of the first migration; see shared/src/outbox.rs).
CREATE INDEX events_by_store_type ON events (store_id, event_type, seq);
