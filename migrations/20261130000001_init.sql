-- Inventory schema. The database enforces the invariants too, so a bug in the service cannot
-- store an oversold row: 0 <= reserved <= quantity, reservation quantity > 0, known statuses.
-- Timestamps are fixed-width RFC 3339 UTC text (see shared/src/time.rs), so text order is time order.

CREATE TABLE products (
    id          TEXT PRIMARY KEY NOT NULL,
    sku         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    category    TEXT,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT products_sku_unique UNIQUE (sku)
);
CREATE INDEX products_by_category ON products (category, created_at);

CREATE TABLE stock (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    store_id   TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity >= 0),
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= quantity),
    version    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (product_id, store_id)
) WITHOUT ROWID;
CREATE INDEX stock_by_store ON stock (store_id, product_id);

CREATE TABLE reservations (
    id          TEXT PRIMARY KEY NOT NULL,
    product_id  TEXT NOT NULL,
    store_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    status      TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    FOREIGN KEY (product_id, store_id) REFERENCES stock (product_id, store_id) ON DELETE CASCADE
);
-- The expiry task's scan and the per-store pending list.
CREATE INDEX reservations_pending_by_expiry ON reservations (expires_at) WHERE status = 'PENDING';
CREATE INDEX reservations_by_store ON reservations (store_id, status, expires_at);
CREATE INDEX reservations_by_product_store ON reservations (product_id, store_id, created_at);

-- The transactional outbox and audit log. `seq` is the global commit order (AUTOINCREMENT:
-- never reused, even after deletes); `synced_at` stays NULL until the relay has published it.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    event_type     TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id   TEXT NOT NULL,
    store_id       TEXT,
    partition_key  TEXT NOT NULL,
    payload        TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    synced_at      TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    dead_at        TEXT
);
-- The relay's scan: only pending rows, in seq order.
CREATE INDEX events_pending ON events (seq) WHERE synced_at IS NULL AND dead_at IS NULL;
CREATE INDEX events_by_type ON events (event_type, seq);
CREATE INDEX events_by_aggregate ON events (aggregate_id, seq);
CREATE INDEX events_by_store ON events (store_id, seq);
CREATE INDEX events_dead ON events (seq) WHERE dead_at IS NOT NULL;
