-- What a scan pushes down: EXPLAIN VERBOSE shows the access with its key
-- conditions; IN on the leading column of a composite key reads one range
-- per value.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE c (a int4 OPTIONS (key 'true'), b text OPTIONS (key 'true'), v int4) SERVER lsm;
INSERT INTO c SELECT a, 'b' || b, a * 100 + b FROM generate_series(1, 50) a, generate_series(1, 9) b;
CREATE TABLE hc (a int4, b text, v int4, PRIMARY KEY (a, b));
INSERT INTO hc SELECT * FROM c;
CREATE FOREIGN TABLE s (k text OPTIONS (key 'true'), v int4) SERVER lsm;
INSERT INTO s SELECT 'k' || g, g FROM generate_series(1, 100) g;

-- every access kind, with its conditions
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM c WHERE a = 3 AND b = 'b2';
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM c WHERE a = 3 AND b IN ('b2', 'b4');
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM c WHERE a = 3 AND b >= 'b2' AND b < 'b5';
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM c WHERE a > 40;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM c WHERE a IN (3, 1, 7);
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM c WHERE v = 3;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM s WHERE k LIKE 'k1%';
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM s WHERE k ^@ 'k1';
PREPARE q(text) AS SELECT * FROM s WHERE k >= $1 ORDER BY k LIMIT 3;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE q('k5');
EXECUTE q('k5');
RESET plan_cache_mode;
-- without VERBOSE, the short form
EXPLAIN (COSTS OFF) SELECT * FROM c WHERE a IN (3, 1, 7);

-- IN on the leading column: the rows of heap, in key order both ways, also
-- with the transaction's own writes, NULLs and duplicates in the list
SELECT (SELECT array_agg((a, b, v)::text ORDER BY a, b) FROM c WHERE a IN (7, 3, NULL, 3, 49, 99))
	= (SELECT array_agg((a, b, v)::text ORDER BY a, b) FROM hc WHERE a IN (7, 3, NULL, 3, 49, 99)) AS same,
	(SELECT array_agg((a, b, v)::text ORDER BY a DESC, b DESC) FROM c WHERE a IN (7, 3, NULL, 3, 49, 99))
	= (SELECT array_agg((a, b, v)::text ORDER BY a DESC, b DESC) FROM hc WHERE a IN (7, 3, NULL, 3, 49, 99)) AS same_desc;
EXPLAIN (COSTS OFF) SELECT * FROM c WHERE a IN (7, 3, 49) ORDER BY a DESC, b DESC LIMIT 4;
SELECT * FROM c WHERE a IN (7, 3, 49) ORDER BY a DESC, b DESC LIMIT 4;
SELECT * FROM c WHERE a IN (7, 3, 49) AND b > 'b7' ORDER BY a, b;
BEGIN;
DELETE FROM c WHERE a = 3 AND b < 'b8';
INSERT INTO c VALUES (3, 'a0', 0), (4, 'x', 0), (49, 'zz', 0);
UPDATE c SET v = -v WHERE a IN (49, 7) AND b IN ('b1', 'b9');
SELECT * FROM c WHERE a IN (3, 4, 49) ORDER BY a, b;
SELECT * FROM c WHERE a = ANY (ARRAY[7, 49]) AND v < 0 ORDER BY a DESC, b DESC;
ROLLBACK;
SELECT count(*) FROM c WHERE a IN (3, 4, 49);
SELECT count(*) FROM c WHERE a IN (SELECT 2 UNION SELECT 5);

DROP EXTENSION lsm_fdw CASCADE;
DROP TABLE hc;
