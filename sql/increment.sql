-- Blind increments (issue 13): UPDATE t SET c = c + e WHERE <key> = c writes
-- one merge operand (an add vector) and reads fold it.
CREATE EXTENSION IF NOT EXISTS lsm_fdw;
CREATE SERVER IF NOT EXISTS lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE ctr (k text OPTIONS (key 'true'), note text, a int2, b int4, c int8, d int4)
	SERVER lsm;
INSERT INTO ctr VALUES ('x', 'hello', 1, 10, 100, NULL), ('y', NULL, 0, 0, 0, 0);

-- which path
EXPLAIN (COSTS OFF) UPDATE ctr SET b = b + 1 WHERE k = 'x';
EXPLAIN (COSTS OFF) UPDATE ctr SET b = b + 1, c = c - 2 WHERE k = 'x';
EXPLAIN (COSTS OFF) UPDATE ctr SET b = b * 2 WHERE k = 'x';
EXPLAIN (COSTS OFF) UPDATE ctr SET b = b + 1, note = 'n' WHERE k = 'x';
EXPLAIN (COSTS OFF) UPDATE ctr SET b = b + 1 WHERE k = 'x' AND b > 0;
EXPLAIN (COSTS OFF) UPDATE ctr SET b = b + 1 WHERE k = 'x' RETURNING b;
EXPLAIN (COSTS OFF) UPDATE ctr SET b = b + c WHERE k = 'x';

-- every integer width, both signs, int8 + int4 constants; NULL stays NULL
UPDATE ctr SET a = a + 1::int2, b = b + 5, c = c - 7, d = d + 1 WHERE k = 'x';
UPDATE ctr SET c = c + 1 WHERE k = 'x';
SELECT * FROM ctr ORDER BY k;
SELECT * FROM ctr WHERE k = 'x';

-- a missing key: UPDATE 0 and nothing created
UPDATE ctr SET b = b + 1 WHERE k = 'nope';
SELECT count(*) FROM ctr;
SELECT * FROM ctr WHERE k = 'nope';

-- a NULL increment takes the read path: the column becomes NULL, as in heap
UPDATE ctr SET b = b + NULL::int4 WHERE k = 'y';
SELECT * FROM ctr WHERE k = 'y';
UPDATE ctr SET b = 0 WHERE k = 'y';

-- the transaction's own increments fold over the committed row
BEGIN;
UPDATE ctr SET b = b + 1 WHERE k = 'x';
UPDATE ctr SET b = b + 1, c = c + 10 WHERE k = 'x';
SELECT k, b, c FROM ctr WHERE k = 'x';
SELECT k, b, c FROM ctr WHERE k >= 'a' ORDER BY k;
SELECT k, b, c FROM ctr ORDER BY k DESC;
SAVEPOINT s;
UPDATE ctr SET b = b + 100 WHERE k = 'x';
SELECT k, b FROM ctr WHERE k = 'x';
ROLLBACK TO SAVEPOINT s;
SELECT k, b FROM ctr WHERE k = 'x';
-- a read-modify-write over the transaction's increments
UPDATE ctr SET b = b * 2 WHERE k = 'x';
SELECT k, b FROM ctr WHERE k = 'x';
UPDATE ctr SET b = b + 1 WHERE k = 'x';
COMMIT;
SELECT k, b, c FROM ctr ORDER BY k;

-- over the transaction's own insert; after its own delete: UPDATE 0
BEGIN;
INSERT INTO ctr VALUES ('z', NULL, 0, 0, 0, 0);
UPDATE ctr SET b = b + 3 WHERE k = 'z';
DELETE FROM ctr WHERE k = 'y';
UPDATE ctr SET b = b + 3 WHERE k = 'y';
SELECT k, b FROM ctr ORDER BY k;
COMMIT;
SELECT k, b FROM ctr ORDER BY k;

-- increment then DELETE ... RETURNING in one transaction returns the sum
BEGIN;
UPDATE ctr SET b = b + 1 WHERE k = 'z';
DELETE FROM ctr WHERE k = 'z' RETURNING k, b;
ROLLBACK;
SELECT k, b FROM ctr WHERE k = 'z';

-- operands in SSTables fold on read, and compaction folds them into rows
DO $$ BEGIN FOR i IN 1..300 LOOP UPDATE ctr SET c = c + 1 WHERE k = 'x'; END LOOP; END $$;
SELECT lsm_fdw_flush('ctr') IS NOT NULL AS flushed;
DO $$ BEGIN FOR i IN 1..200 LOOP UPDATE ctr SET c = c + 1 WHERE k = 'x'; END LOOP; END $$;
SELECT k, c FROM ctr WHERE k = 'x';
SELECT k, c FROM ctr ORDER BY k;
SELECT lsm_fdw_compact('ctr') IS NOT NULL AS compacted;
SELECT k, c FROM ctr WHERE k = 'x';
SELECT lsm_fdw_verify('ctr') IS NOT NULL AS verified;

-- a hot key's reads fold a bounded number of operands: an increment whose
-- row is as it read it goes in as the folded row (base hint), so here the
-- read folds none (an increment whose check folded 32 would rewrite the
-- row when nobody else holds the key's lock)
UPDATE ctr SET c = 0 WHERE k = 'x';
DO $$ BEGIN FOR i IN 1..100 LOOP UPDATE ctr SET c = c + 1 WHERE k = 'x'; COMMIT; END LOOP; END $$;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT c FROM ctr WHERE k = 'x';
SELECT k, c FROM ctr WHERE k = 'x';

-- overflow never wraps: known at write time, it fails the UPDATE (22003)
UPDATE ctr SET b = 2147483600 WHERE k = 'z';
\set VERBOSITY default
UPDATE ctr SET b = b + 100 WHERE k = 'z';
UPDATE ctr SET a = a + 32767::int2 WHERE k = 'x';
UPDATE ctr SET c = c - (-9223372036854775807 - 1) WHERE k = 'x';
\set VERBOSITY terse
UPDATE ctr SET b = b + 47 WHERE k = 'z';
SELECT k, b FROM ctr WHERE k = 'z';
UPDATE ctr SET b = b - 2147483647 WHERE k = 'z';
SELECT k, b FROM ctr WHERE k = 'z';

-- REPEATABLE READ: increments never fail with 40001
BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE ctr SET b = b + 1 WHERE k = 'x';
SELECT k, b FROM ctr WHERE k = 'x';
COMMIT;


SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
