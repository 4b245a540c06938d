-- Performance (issue 13): the two INSERT counters move from triggers into the one statement
-- that inserts each row (shared/src/outbox.rs `append_event`, api/src/ops/reservations.rs
-- `reserve`), in the same transaction.
--
-- Why: SQLite gives a statement that fires a trigger a statement journal (it may have to undo
-- part of its work), and a statement journal copies every page the statement touches: for
-- the two INSERTs of a reservation that was about a fifth of its instructions
-- (docs/performance.md). A plain single-row INSERT needs none.
--
-- What stays exact, and how: an event is inserted in exactly one place (`append_event`,
-- always as pending), a reservation in exactly one place (`reserve`, always as PENDING); each
-- counts its row right after inserting it. Every UPDATE and DELETE path (the relay's marks,
-- parking, `dead retry`, status changes, retention, cascades) is many places, so those stay
-- triggers (20261203000001_counters.sql). relay/tests/counters.rs and the API's counter tests
-- check the counts against the rows.
DROP TRIGGER event_counts_insert;
DROP TRIGGER reservation_counts_insert;
