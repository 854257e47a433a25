-- Direct modify: UPDATE/DELETE by key run as a point get plus a write.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE c (name text OPTIONS (key 'true'), n int4, m numeric, note text) SERVER lsm;
INSERT INTO c SELECT 'c' || g, g, g * 1.5, 'x' FROM generate_series(1, 10) g;

EXPLAIN (COSTS OFF) UPDATE c SET n = n + 1 WHERE name = 'c1';
UPDATE c SET n = n + 1 WHERE name = 'c1';
UPDATE c SET n = n + 1, m = m - 0.5 WHERE name = 'c1';
UPDATE c SET note = 'set ' || n WHERE name = 'c2';
UPDATE c SET n = n + 1 WHERE name = 'missing';
SELECT * FROM c WHERE name IN ('c1', 'c2') ORDER BY name;
EXPLAIN (COSTS OFF) DELETE FROM c WHERE name = 'c3';
DELETE FROM c WHERE name = 'c3';
DELETE FROM c WHERE name = 'c3';
SELECT count(*) FROM c;

-- row counts
CREATE FUNCTION rows_of(stmt text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	EXECUTE stmt;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
SELECT rows_of($$UPDATE c SET n = n + 1 WHERE name = 'c9'$$) AS upd_hit,
       rows_of($$UPDATE c SET n = n + 1 WHERE name = 'zz'$$) AS upd_miss,
       rows_of($$DELETE FROM c WHERE name = 'c10'$$) AS del_hit,
       rows_of($$DELETE FROM c WHERE name = 'c10'$$) AS del_again;

-- overflow is the usual error, and nothing is written
UPDATE c SET n = 2147483647 WHERE name = 'c4';
UPDATE c SET n = n + 1 WHERE name = 'c4';
SELECT n FROM c WHERE name = 'c4';

-- inside a transaction: sees its own writes, rolls back
BEGIN;
UPDATE c SET n = n + 10 WHERE name = 'c5';
UPDATE c SET n = n + 10 WHERE name = 'c5';
SELECT n FROM c WHERE name = 'c5';
DELETE FROM c WHERE name = 'c6';
UPDATE c SET n = 0 WHERE name = 'c6';
ROLLBACK;
SELECT name, n FROM c WHERE name IN ('c5', 'c6') ORDER BY name;

-- forms that are not direct: other quals, key changes, RETURNING
EXPLAIN (COSTS OFF) UPDATE c SET n = n + 1 WHERE name = 'c7' AND n > 0;
EXPLAIN (COSTS OFF) UPDATE c SET name = 'c77' WHERE name = 'c7';
EXPLAIN (COSTS OFF) UPDATE c SET n = n + 1 WHERE name = 'c7' RETURNING n;
UPDATE c SET n = n + 1 WHERE name = 'c7' RETURNING n;
UPDATE c SET n = n + 1 WHERE name = 'c7' AND n > 100;

-- a prepared statement with a parameter key
PREPARE bump(text) AS UPDATE c SET n = n + 1 WHERE name = $1;
EXECUTE bump('c8');
EXECUTE bump('c8');
EXECUTE bump('nope');
SELECT n FROM c WHERE name = 'c8';
DEALLOCATE bump;

DROP FUNCTION rows_of(text);
SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
