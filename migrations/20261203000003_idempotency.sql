-- Idempotency keys (issue 11): the answer to the first write a client sent with an
-- `Idempotency-Key`, stored by the API's writer in the same transaction as the change, so a retry
-- gets the same answer and changes nothing. Scoped to the API key's name: two callers may use
-- the same key for different requests. `fingerprint` is the SHA-256 (hex) of the request's
-- method, path and parsed body; a retry with another fingerprint is refused (422).
-- A plain rowid table rather than WITHOUT ROWID: `body` can be large.
CREATE TABLE idempotency_keys (
    api_key_name    TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    status          INTEGER NOT NULL CHECK (status BETWEEN 200 AND 499),
    content_type    TEXT,
    location        TEXT,
    etag            TEXT,
    body            BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    CONSTRAINT idempotency_keys_unique UNIQUE (api_key_name, idempotency_key)
);
-- The purge task's scan: the oldest deadlines first.
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
