-- Multi-line holds (issue 11): several reservations for one customer made together, with one
-- deadline. Each line stays an ordinary row of `reservations` (so stock, events, replay and
-- consumers are unchanged); the hold row carries what the lines share and the hold's own
-- status. `unfulfilled` is the JSON list of lines a partial hold could not reserve, kept so
-- `GET /holds/{id}` answers what `POST /holds` answered.

CREATE TABLE holds (
    id          TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    expires_at  TEXT NOT NULL,
    unfulfilled TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- NULL for a single reservation.
ALTER TABLE reservations ADD COLUMN hold_id TEXT REFERENCES holds (id);
CREATE INDEX reservations_by_hold ON reservations (hold_id, product_id, store_id)
    WHERE hold_id IS NOT NULL;
