-- The read path's glue (issue 16): cached options, projection, rows read
-- once by UPDATE and DELETE, and ANALYZE by sampling.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;

-- Cached options (relcache.c) follow ALTER in the next statement.
CREATE FOREIGN TABLE oc (a int4 OPTIONS (key 'true'), b int4, t timestamptz) SERVER lsm;
INSERT INTO oc VALUES (1, 10, now() - interval '2 hours'), (2, 20, now());
INSERT INTO oc VALUES (1, 11, now());		-- duplicate key
ALTER FOREIGN TABLE oc OPTIONS (ADD on_duplicate 'overwrite');
INSERT INTO oc VALUES (1, 11, now() - interval '2 hours');		-- now overwrites
SELECT a, b FROM oc ORDER BY a;
ALTER FOREIGN TABLE oc OPTIONS (ADD ttl_column 't', ADD ttl '1 hour');
SELECT a, b FROM oc ORDER BY a;
-- a rolled-back change is forgotten too
BEGIN;
ALTER FOREIGN TABLE oc OPTIONS (DROP ttl_column, DROP ttl);
SELECT a, b FROM oc ORDER BY a;
ROLLBACK;
SELECT a, b FROM oc ORDER BY a;
-- key columns, while the table is empty
CREATE FOREIGN TABLE ok (a int4 OPTIONS (key 'true'), b int4) SERVER lsm;
SELECT * FROM ok;
ALTER FOREIGN TABLE ok ALTER COLUMN a OPTIONS (SET key 'false'), ALTER COLUMN b OPTIONS (ADD key 'true');
INSERT INTO ok VALUES (1, 5), (2, 5);		-- b is the key now
INSERT INTO ok VALUES (1, 5), (2, 6);
SELECT * FROM ok ORDER BY b;
-- the server's options
CREATE SERVER lsm2 FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE os (a int4 OPTIONS (key 'true'), b int4) SERVER lsm2;
INSERT INTO os VALUES (1, 1);
INSERT INTO os VALUES (1, 2);
ALTER SERVER lsm2 OPTIONS (ADD on_duplicate 'overwrite');
INSERT INTO os VALUES (1, 2);
SELECT * FROM os;
DROP FOREIGN TABLE os;
DROP SERVER lsm2;

-- Projection: a scan decodes only the columns a query reads, and every
-- query still sees every column it names.
CREATE FOREIGN TABLE p (k int4 OPTIONS (key 'true'), a int4, b text, c int8, d text) SERVER lsm;
INSERT INTO p SELECT g, g * 10, 'b' || g, g * 100, 'd' || g FROM generate_series(1, 20) g;
SELECT a FROM p WHERE k = 3;
SELECT d FROM p WHERE k = 3;
SELECT k, c FROM p WHERE k IN (4, 5) ORDER BY k;
SELECT count(*) FROM p;
SELECT b FROM p WHERE a = 70;						-- a qual on a column not output
SELECT p FROM p WHERE k = 6;						-- whole-row reference
SELECT row_to_json(p.*) FROM p WHERE k = 7;
SELECT (SELECT max(x.d) FROM p x WHERE x.k = p.k + 1) FROM p WHERE k BETWEEN 8 AND 9 ORDER BY k;
SELECT p.b, q.d FROM p JOIN p q ON q.k = p.k + 1 WHERE p.k = 10;
-- the transaction's own rows, projected too
BEGIN;
UPDATE p SET d = 'changed' WHERE k = 11;
SELECT d FROM p WHERE k = 11;
SELECT k, d FROM p WHERE k BETWEEN 10 AND 12 ORDER BY k;
ROLLBACK;
-- UPDATE needs every column of the old row
UPDATE p SET a = a + 1 WHERE k = 12 AND c > 0;
SELECT * FROM p WHERE k = 12;
-- dropped and added columns
ALTER FOREIGN TABLE p DROP COLUMN b;
ALTER FOREIGN TABLE p ADD COLUMN e text;
UPDATE p SET e = 'e' || k WHERE k = 13;
SELECT d, e FROM p WHERE k IN (13, 14) ORDER BY k;
SELECT e FROM p WHERE k = 13;
SELECT p FROM p WHERE k = 13;
SELECT * FROM p WHERE k = 14;
-- with a ttl_column the expiry is read even when not selected
CREATE FOREIGN TABLE pt (k int4 OPTIONS (key 'true'), v int4, t timestamptz)
	SERVER lsm OPTIONS (ttl_column 't', ttl '1 hour');
INSERT INTO pt VALUES (1, 1, now() - interval '2 hours'), (2, 2, now());
SELECT v FROM pt ORDER BY k;
SELECT k FROM pt WHERE k IN (1, 2);

-- UPDATE and DELETE read each row once: the scan locks and reads it, the
-- modification does not read it again unless RETURNING needs the row.
CREATE FOREIGN TABLE r (k int4 OPTIONS (key 'true'), v int4) SERVER lsm;
INSERT INTO r SELECT g, g FROM generate_series(1, 10) g;
CREATE TABLE ids (id int4);
INSERT INTO ids VALUES (1), (2), (3), (3);
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	DELETE FROM r USING ids WHERE r.k = ids.id;
SELECT count(*) FROM r;
ROLLBACK;
BEGIN;
DELETE FROM r USING ids WHERE r.k = ids.id;			-- key 3 is found twice, deleted once
DELETE FROM r USING ids WHERE r.k = ids.id RETURNING r.*;
DELETE FROM r WHERE k IN (4, 5) AND v > 0 RETURNING *;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	DELETE FROM r WHERE k IN (6, 7) AND v > 0 RETURNING v;
SELECT * FROM r ORDER BY k;
ROLLBACK;
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	UPDATE r SET v = v + 1 FROM ids WHERE r.k = ids.id;
SELECT * FROM r WHERE k <= 4 ORDER BY k;
ROLLBACK;
-- the command's count: the row found twice is deleted once
BEGIN;
DO $$
DECLARE n int;
BEGIN
	DELETE FROM r USING ids WHERE r.k = ids.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RAISE NOTICE 'deleted %', n;
END $$;
ROLLBACK;

-- ANALYZE of a table much larger than its sample reads about as many rows
-- as it keeps (a row from each of as many random points of the key range),
-- and takes the row count from the engine; a small table is still read whole.
CREATE FOREIGN TABLE an (k int4 OPTIONS (key 'true'), m int4, n int4, s text) SERVER lsm;
INSERT INTO an SELECT g, g % 10, CASE WHEN g % 2 = 0 THEN g END, 'v' || g
	FROM generate_series(1, 20000) g;
SELECT lsm_fdw_flush('an') IS NOT NULL AS flushed;
SET default_statistics_target = 1;		-- a sample of 300 rows
\set VERBOSITY terse
ANALYZE VERBOSE an;
\set VERBOSITY default
SELECT reltuples BETWEEN 19000 AND 21000 AS reltuples_ok FROM pg_class WHERE relname = 'an';
SELECT attname, null_frac BETWEEN 0.4 AND 0.6 AS half_null, n_distinct
  FROM pg_stats WHERE tablename = 'an' AND attname IN ('k', 'm') ORDER BY attname;
SELECT null_frac BETWEEN 0.4 AND 0.6 AS half_null FROM pg_stats WHERE tablename = 'an' AND attname = 'n';
CREATE FOREIGN TABLE an_small (k int4 OPTIONS (key 'true'), v int4) SERVER lsm;
INSERT INTO an_small SELECT g, g FROM generate_series(1, 500) g;
ANALYZE VERBOSE an_small;
SELECT reltuples FROM pg_class WHERE relname = 'an_small';
RESET default_statistics_target;

-- "= ANY (array)" on the whole key is a multi-get that enforces it: no
-- Filter re-checks it, also with a parameter (a generic plan), where the
-- check searched the whole array for each row.
SET plan_cache_mode = force_generic_plan;
PREPARE anyp(int4[]) AS SELECT k, v FROM an_small WHERE k = ANY ($1) ORDER BY k;
EXPLAIN (COSTS OFF) EXECUTE anyp('{3,1,NULL,3,999,-2}');
EXECUTE anyp('{3,1,NULL,3,999,-2}');
EXECUTE anyp(NULL);
EXECUTE anyp('{}');
SELECT count(*) FROM an_small WHERE k = ANY ((SELECT array_agg(g) FROM generate_series(1, 1000) g)::int4[]);
DEALLOCATE anyp;
RESET plan_cache_mode;
