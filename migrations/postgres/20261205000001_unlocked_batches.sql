-- A write batch run without taking its row locks first (api/src/store/postgres/cache.rs,
-- docs/postgres.md "Batches from the replica's cache"): the replica ran the batch's rules on
-- stock rows it remembers from its own last commits, and its one statement checks, under
-- the rows' locks, that each row still has the version it remembered. A row another replica
-- changed meanwhile fails the whole statement (nothing of it is applied) with a
-- serialization failure, and the replica runs the batch again the usual way, locks first.

-- (`found` would not do as a parameter's name: PL/pgSQL's FOUND is a boolean.)
CREATE FUNCTION inventory_expect_rows(rows_found bigint, rows_expected bigint) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    IF rows_found IS DISTINCT FROM rows_expected THEN
        RAISE EXCEPTION 'stock rows changed since this replica read them: % of % as read',
            rows_found, rows_expected
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END $$;
