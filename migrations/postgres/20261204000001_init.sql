-- The inventory schema for PostgreSQL, in one migration: the state the SQLite migrations in
-- migrations/*.sql build today (20261130000001_init … 20261203000006_insert_counters_in_code),
-- translated. Applied by sqlx's migrator, which takes an advisory lock first, so when several
-- API replicas and the relay start together exactly one applies it and the others wait.
--
-- The same rules as SQLite, enforced by the database (a bug in the service cannot store an
-- oversold row): 0 <= reserved <= quantity, quantity >= 0, reservation quantity > 0, closed
-- status sets, unique SKU, price >= 0, idempotency status 200–499. The constraints carry names
-- so the backend maps a refusal by name (products_sku_unique → 409), as on SQLite.
--
-- What differs from SQLite, and why:
-- - Ids are `uuid` (the service makes v7 UUIDs; 16 bytes instead of 36 of text, and a value
--   that is not one is refused by the column). The backend must parse path ids before they
--   reach SQL: `WHERE id = 'abc'` is an error here, not "no row". Store, customer and
--   aggregate ids stay text: they are the client's names or mixed kinds.
-- - Timestamps are `timestamptz` (microseconds, the precision SQLite's text already keeps:
--   shared/src/time.rs), so ordering and comparisons are native, not text order.
-- - Integers are `bigint` (SQLite's INTEGER is 64-bit; the code reads i64 on both).
-- - `events.seq` is an identity column (a sequence). A sequence value is taken at INSERT and
--   becomes visible at COMMIT, so positions commit out of order: on PostgreSQL `seq` is not
--   "the global commit order" it is on SQLite. Per stock row it still is, because the row
--   lock orders writers of one row and each writer inserts its event after its stock UPDATE,
--   in the same transaction. `events.xid` (the inserting transaction's id, `xid8`) is for
--   the relay's visibility fence (issue 19, watermill's rule): a reader that keeps a position
--   reads in `(xid, seq)` order only rows with `xid < pg_snapshot_xmin(pg_current_snapshot())`;
--   every such transaction has ended, so nothing can later appear before its position. A
--   position in `seq` alone is not safe: a transaction may take a smaller `seq` and commit
--   after a larger one is visible. Nor is `(xid, seq)` per-row commit order: a batch that got
--   its xid early and then waited on a row lock commits after the holder but sorts first.
--   Which order the relay publishes in is issue 19's to settle. `GENERATED ALWAYS`: nothing
--   writes `seq` by hand.
-- - Event payloads and a hold's `unfulfilled` list are `text`, not `jsonb`: the bytes the
--   service wrote are the bytes the relay publishes and the API answers (jsonb would reorder
--   keys and drop whitespace). An idempotency answer's body is `bytea`.
-- - `stock.available` is a STORED generated column (PostgreSQL 15 has no virtual ones): the
--   same name the low-stock lists read on SQLite. Like SQLite's partial indexes on it, an
--   index over a column every reservation changes makes that UPDATE non-HOT; the two indexes
--   stay partial (available < 1000) so well-stocked rows are not in them.
-- - Counters are slotted (16 rows per counter, `SUM(n)` on read) and kept by statement-level
--   triggers for every change, inserts included. One row per counter would be a lock every
--   writing transaction on every replica queues for; a slot is chosen per connection
--   (`pg_backend_pid() % 16`), so one transaction touches one slot of each counter, and a
--   statement updates its counters in key order. A single slot may go below zero (a row
--   counted in one slot leaves through another); only the sum means anything, and it is exact
--   in the writing transaction. SQLite counts inserts in code (a trigger there costs a
--   statement journal); PostgreSQL has no statement journal and a transition table makes one
--   batched INSERT one counter update, so here the backend's code must not count anything.
--   Residual risk: two transactions on connections that share a slot, touching two counters
--   in opposite orders across separate statements, can deadlock (40P01); the backend retries
--   40P01 a bounded number of times (issue 18).
-- - Every table has a primary key (logical replication and pg_repack need one); SQLite's
--   rowid tables (`idempotency_keys`) get their unique key as primary key, same name.
-- - No `WITHOUT ROWID`, no `auto_vacuum`: PostgreSQL's heap and autovacuum play those parts.

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    description text,
    category    text,
    price_cents bigint NOT NULL CONSTRAINT products_price_nonnegative CHECK (price_cents >= 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT products_sku_unique UNIQUE (sku)
);
-- GET /products: oldest first (created_at, id), with or without a category.
CREATE INDEX products_by_category ON products (category, created_at, id);
CREATE INDEX products_by_created ON products (created_at, id);

CREATE TABLE stock (
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    store_id   text NOT NULL,
    quantity   bigint NOT NULL CONSTRAINT stock_quantity_nonnegative CHECK (quantity >= 0),
    reserved   bigint NOT NULL DEFAULT 0
               CONSTRAINT stock_reserved_within_quantity CHECK (reserved >= 0 AND reserved <= quantity),
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    available  bigint NOT NULL GENERATED ALWAYS AS (quantity - reserved) STORED,
    PRIMARY KEY (product_id, store_id)
);
-- GET /stock/store/{store_id}: store, product.
CREATE INDEX stock_by_store ON stock (store_id, product_id);
-- GET /stock/low-stock (every store): available, product, store.
CREATE INDEX stock_by_available ON stock (available, product_id, store_id)
    WHERE available < 1000;
-- GET /stock/low-stock?store_id=: available, product within the store.
CREATE INDEX stock_by_store_available ON stock (store_id, available, product_id)
    WHERE available < 1000;

CREATE TABLE holds (
    id          uuid PRIMARY KEY,
    customer_id text NOT NULL,
    status      text NOT NULL
                CONSTRAINT holds_status_known CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    expires_at  timestamptz NOT NULL,
    unfulfilled text NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE reservations (
    id          uuid PRIMARY KEY,
    product_id  uuid NOT NULL,
    store_id    text NOT NULL,
    customer_id text NOT NULL,
    quantity    bigint NOT NULL CONSTRAINT reservations_quantity_positive CHECK (quantity > 0),
    status      text NOT NULL
                CONSTRAINT reservations_status_known CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- NULL for a single reservation.
    hold_id     uuid REFERENCES holds (id),
    FOREIGN KEY (product_id, store_id) REFERENCES stock (product_id, store_id) ON DELETE CASCADE
);
-- The expiry task's scan.
CREATE INDEX reservations_pending_by_expiry ON reservations (expires_at) WHERE status = 'PENDING';
-- GET /reservations/store/{store_id}/pending: soonest deadline first, id breaks ties.
CREATE INDEX reservations_by_store ON reservations (store_id, status, expires_at, id);
-- GET /reservations/product/{product_id}/store/{store_id}: newest first, id breaks ties.
CREATE INDEX reservations_by_product_store ON reservations (product_id, store_id, created_at, id);
-- Retention: finished reservations, oldest finish first.
CREATE INDEX reservations_finished_by_update ON reservations (updated_at) WHERE status <> 'PENDING';
-- A hold's lines.
CREATE INDEX reservations_by_hold ON reservations (hold_id, product_id, store_id)
    WHERE hold_id IS NOT NULL;

-- The transactional outbox and audit log; `synced_at` stays NULL until the relay published it.
CREATE TABLE events (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             uuid NOT NULL CONSTRAINT events_id_unique UNIQUE,
    event_type     text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    store_id       text,
    partition_key  text NOT NULL,
    payload        text NOT NULL,
    created_at     timestamptz NOT NULL,
    synced_at      timestamptz,
    attempts       bigint NOT NULL DEFAULT 0,
    last_error     text,
    dead_at        timestamptz,
    xid            xid8 NOT NULL DEFAULT pg_current_xact_id()
);
-- The relay's scan: only pending rows, in seq order.
CREATE INDEX events_pending ON events (seq) WHERE synced_at IS NULL AND dead_at IS NULL;
CREATE INDEX events_by_type ON events (event_type, seq);
CREATE INDEX events_by_aggregate ON events (aggregate_id, seq);
CREATE INDEX events_by_store ON events (store_id, seq);
CREATE INDEX events_by_store_type ON events (store_id, event_type, seq);
CREATE INDEX events_dead ON events (seq) WHERE dead_at IS NOT NULL;

-- Idempotency keys (issue 11): the first answer to a write sent with an `Idempotency-Key`,
-- scoped to the API key's name; `fingerprint` is the SHA-256 (hex) of method, path and body.
CREATE TABLE idempotency_keys (
    api_key_name    text NOT NULL,
    idempotency_key text NOT NULL,
    fingerprint     text NOT NULL,
    status          bigint NOT NULL CONSTRAINT idempotency_keys_status_stored CHECK (status BETWEEN 200 AND 499),
    content_type    text,
    location        text,
    etag            text,
    body            bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    CONSTRAINT idempotency_keys_unique PRIMARY KEY (api_key_name, idempotency_key)
);
-- The purge task's scan: the oldest deadlines first.
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- Slotted counters (see the header). Readers: SUM(n) GROUP BY the counter's key.
CREATE TABLE event_counts (
    event_type text NOT NULL,
    state      text NOT NULL CONSTRAINT event_counts_state_known CHECK (state IN ('pending', 'synced', 'dead')),
    slot       smallint NOT NULL CONSTRAINT event_counts_slot_range CHECK (slot BETWEEN 0 AND 15),
    n          bigint NOT NULL,
    PRIMARY KEY (event_type, state, slot)
);

CREATE TABLE reservation_counts (
    store_id text NOT NULL,
    status   text NOT NULL,
    slot     smallint NOT NULL CONSTRAINT reservation_counts_slot_range CHECK (slot BETWEEN 0 AND 15),
    n        bigint NOT NULL,
    PRIMARY KEY (store_id, status, slot)
);

-- This connection's slot: the same for every statement of a transaction.
CREATE FUNCTION counter_slot() RETURNS smallint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (pg_backend_pid() % 16)::smallint;

-- An event's state, exactly as the stats define it: synced wins over dead.
CREATE FUNCTION event_state(synced_at timestamptz, dead_at timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN synced_at IS NOT NULL THEN 'synced'
                WHEN dead_at IS NOT NULL THEN 'dead'
                ELSE 'pending' END;

CREATE FUNCTION event_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts AS c (event_type, state, slot, n)
    SELECT event_type, event_state(synced_at, dead_at), counter_slot(), count(*)
    FROM new_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (event_type, state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

-- Only rows whose state (or type) really changed count: a rejection that only bumps
-- `attempts` leaves the counters alone.
CREATE FUNCTION event_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts AS c (event_type, state, slot, n)
    SELECT event_type, state, counter_slot(), sum(delta)
    FROM (
        SELECT o.event_type, event_state(o.synced_at, o.dead_at) AS state, -1 AS delta,
               n.event_type AS other_type, event_state(n.synced_at, n.dead_at) AS other_state
        FROM old_rows o JOIN new_rows n USING (seq)
        UNION ALL
        SELECT n.event_type, event_state(n.synced_at, n.dead_at), 1,
               o.event_type, event_state(o.synced_at, o.dead_at)
        FROM old_rows o JOIN new_rows n USING (seq)
    ) AS change
    WHERE (event_type, state) IS DISTINCT FROM (other_type, other_state)
    GROUP BY 1, 2
    HAVING sum(delta) <> 0
    ORDER BY 1, 2
    ON CONFLICT (event_type, state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION event_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_counts AS c (event_type, state, slot, n)
    SELECT event_type, event_state(synced_at, dead_at), counter_slot(), -count(*)
    FROM old_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (event_type, state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER event_counts_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_counts_insert();
CREATE TRIGGER event_counts_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_counts_update();
CREATE TRIGGER event_counts_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_counts_delete();

CREATE FUNCTION reservation_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reservation_counts AS c (store_id, status, slot, n)
    SELECT store_id, status, counter_slot(), count(*)
    FROM new_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (store_id, status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION reservation_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reservation_counts AS c (store_id, status, slot, n)
    SELECT store_id, status, counter_slot(), sum(delta)
    FROM (
        SELECT o.store_id, o.status, -1 AS delta, n.store_id AS other_store, n.status AS other_status
        FROM old_rows o JOIN new_rows n USING (id)
        UNION ALL
        SELECT n.store_id, n.status, 1, o.store_id, o.status
        FROM old_rows o JOIN new_rows n USING (id)
    ) AS change
    WHERE (store_id, status) IS DISTINCT FROM (other_store, other_status)
    GROUP BY 1, 2
    HAVING sum(delta) <> 0
    ORDER BY 1, 2
    ON CONFLICT (store_id, status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

-- Also fires for the rows a product delete removes through the stock → reservations cascade.
CREATE FUNCTION reservation_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reservation_counts AS c (store_id, status, slot, n)
    SELECT store_id, status, counter_slot(), -count(*)
    FROM old_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (store_id, status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER reservation_counts_insert AFTER INSERT ON reservations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reservation_counts_insert();
CREATE TRIGGER reservation_counts_update AFTER UPDATE ON reservations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reservation_counts_update();
CREATE TRIGGER reservation_counts_delete AFTER DELETE ON reservations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reservation_counts_delete();
