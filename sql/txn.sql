-- Transaction edge cases found by the differential test (t/002_differential.pl).
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
-- a transaction whose own writes outgrow their index while a scan reads it
CREATE FOREIGN TABLE b1 (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
BEGIN;
INSERT INTO b1 SELECT g, repeat('x', 1000) FROM generate_series(1, 300) g;
UPDATE b1 SET v = repeat('y', 1000) WHERE k > 0;
ROLLBACK;
DROP FOREIGN TABLE b1;
-- a cursor across ROLLBACK TO SAVEPOINT
CREATE FOREIGN TABLE b2 (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
CREATE FOREIGN TABLE b3 (k int8 OPTIONS (key 'true'), v text) SERVER lsm;
INSERT INTO b2 VALUES (1, 'one'), (3, 'three');
BEGIN;
INSERT INTO b2 VALUES (2, 'two');
DECLARE c CURSOR FOR SELECT * FROM b2 ORDER BY k;
FETCH 1 FROM c;
SAVEPOINT s;
INSERT INTO b2 VALUES (4, 'four');
ROLLBACK TO SAVEPOINT s;
INSERT INTO b3 VALUES (5, 'five');
FETCH ALL FROM c;
ROLLBACK;
DROP FOREIGN TABLE b2, b3;
-- a statement never sees its own writes, also through rescanned subqueries (heap: 0,1,1,1,1)
CREATE FOREIGN TABLE b4 (k int8 OPTIONS (key 'true'), n int) SERVER lsm;
CREATE TABLE h4b (k int8 PRIMARY KEY, n int);
INSERT INTO b4 SELECT g, 0 FROM generate_series(1, 5) g;
INSERT INTO h4b SELECT g, 0 FROM generate_series(1, 5) g;
BEGIN;
INSERT INTO b4 VALUES (100, 0);
UPDATE b4 SET n = (SELECT t2.n FROM b4 t2 WHERE t2.k = b4.k - 1) + 1 WHERE k BETWEEN 2 AND 5;
SELECT k, n FROM b4 WHERE k <= 5 ORDER BY k;
ROLLBACK;
BEGIN;
INSERT INTO h4b VALUES (100, 0);
UPDATE h4b SET n = (SELECT t2.n FROM h4b t2 WHERE t2.k = h4b.k - 1) + 1 WHERE k BETWEEN 2 AND 5;
SELECT k, n FROM h4b WHERE k <= 5 ORDER BY k;
ROLLBACK;
DROP FOREIGN TABLE b4; DROP TABLE h4b;
-- an explicit ON CONFLICT DO NOTHING wins over on_duplicate 'overwrite'
CREATE FOREIGN TABLE b5 (k int8 OPTIONS (key 'true'), v text) SERVER lsm OPTIONS (on_duplicate 'overwrite');
INSERT INTO b5 VALUES (1, 'first');
INSERT INTO b5 VALUES (1, 'second') ON CONFLICT DO NOTHING RETURNING *;
SELECT * FROM b5;
DROP FOREIGN TABLE b5;
-- key order with a constant leading key column needs no Sort
CREATE FOREIGN TABLE ev (tenant int4 OPTIONS (key 'true'), seq int4 OPTIONS (key 'true'), v text) SERVER lsm;
INSERT INTO ev SELECT t, s, t || ':' || s FROM generate_series(1, 3) t, generate_series(1, 50) s;
EXPLAIN (COSTS OFF) SELECT v FROM ev WHERE tenant = 2 ORDER BY seq DESC LIMIT 3;
SELECT v FROM ev WHERE tenant = 2 ORDER BY seq DESC LIMIT 3;
EXPLAIN (COSTS OFF) SELECT v FROM ev WHERE tenant = 2 ORDER BY seq LIMIT 3;
SELECT v FROM ev WHERE tenant = 2 ORDER BY seq LIMIT 3;

SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
