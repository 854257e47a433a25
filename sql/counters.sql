-- Counters (issue 13): numeric increments as merge operands, and the
-- on_duplicate 'sum' upsert.
CREATE EXTENSION IF NOT EXISTS lsm_fdw;
CREATE SERVER IF NOT EXISTS lsm FOREIGN DATA WRAPPER lsm_fdw;

-- numeric increments are merge operands, exact at any scale
CREATE FOREIGN TABLE nctr (k int OPTIONS (key 'true'), n numeric, m numeric(6,2), i int8)
	SERVER lsm;
INSERT INTO nctr VALUES (1, 0, 0, 0), (2, NULL, 1.5, 1), (3, 1e20, 0, 0);
EXPLAIN (COSTS OFF) UPDATE nctr SET n = n + 0.1 WHERE k = 1;
EXPLAIN (COSTS OFF) UPDATE nctr SET n = n - 1, i = i + 1 WHERE k = 1;
-- a column with a typmod rounds the sum: read path
EXPLAIN (COSTS OFF) UPDATE nctr SET m = m + 0.1 WHERE k = 1;
DO $$ BEGIN FOR j IN 1..10 LOOP UPDATE nctr SET n = n + 0.1 WHERE k = 1; END LOOP; END $$;
SELECT k, n FROM nctr WHERE k = 1;
UPDATE nctr SET n = n + 0.000000000000000000001, i = i - 5 WHERE k = 3;
UPDATE nctr SET n = n - 1 WHERE k = 3;
SELECT * FROM nctr ORDER BY k;
-- NULL + x is NULL; a missing key is UPDATE 0
UPDATE nctr SET n = n + 1 WHERE k = 2;
UPDATE nctr SET n = n + 1 WHERE k = 99;
SELECT * FROM nctr ORDER BY k;
-- in one transaction, with its own increments, rolled back to a savepoint
BEGIN;
UPDATE nctr SET n = n + 2.5 WHERE k = 1;
UPDATE nctr SET n = n - 0.25, i = i + 1 WHERE k = 1;
SELECT k, n, i FROM nctr WHERE k = 1;
SAVEPOINT s;
UPDATE nctr SET n = n + 1000 WHERE k = 1;
ROLLBACK TO SAVEPOINT s;
SELECT k, n, i FROM nctr ORDER BY k;
COMMIT;
SELECT k, n, i FROM nctr WHERE k = 1;
-- operands in SSTables, folded by reads and by compaction
DO $$ BEGIN FOR j IN 1..50 LOOP UPDATE nctr SET n = n + 0.01 WHERE k = 1; END LOOP; END $$;
SELECT lsm_fdw_flush('nctr') IS NOT NULL AS flushed;
DO $$ BEGIN FOR j IN 1..50 LOOP UPDATE nctr SET n = n - 0.02 WHERE k = 1; END LOOP; END $$;
SELECT k, n FROM nctr WHERE k = 1;
SELECT lsm_fdw_compact('nctr') IS NOT NULL AS compacted;
SELECT k, n FROM nctr ORDER BY k;
-- NaN and infinities: as numeric's +; Infinity + -Infinity is NaN
UPDATE nctr SET n = n + 'Infinity' WHERE k = 1;
SELECT k, n FROM nctr WHERE k = 1;
UPDATE nctr SET n = n + 5 WHERE k = 1;
SELECT k, n FROM nctr WHERE k = 1;
UPDATE nctr SET n = n - 'Infinity' WHERE k = 1;
SELECT k, n FROM nctr WHERE k = 1;
UPDATE nctr SET n = n + 1 WHERE k = 1;
SELECT k, n FROM nctr WHERE k = 1;
UPDATE nctr SET n = 7 WHERE k = 1;
UPDATE nctr SET n = n + 'NaN' WHERE k = 1;
SELECT k, n FROM nctr WHERE k = 1;
-- beyond numeric's range fails at write time (22003)
UPDATE nctr SET n = 9e131071 WHERE k = 3;
UPDATE nctr SET n = n + 9e131071 WHERE k = 3;
SELECT k, n = 9e131071 AS unchanged FROM nctr WHERE k = 3;

-- on_duplicate 'sum': an INSERT of an existing key adds the numeric columns
-- and overwrites the others
CREATE FOREIGN TABLE hits (page text OPTIONS (key 'true'), day int OPTIONS (key 'true'),
	views int8, uniq int4, small int2, amount numeric, price numeric(5,2), last_ref text)
	SERVER lsm OPTIONS (on_duplicate 'sum');
EXPLAIN (COSTS OFF) INSERT INTO hits VALUES ('a', 1, 1, 1, 1, 1, 1, 'r');
INSERT INTO hits VALUES ('a', 1, 1, 1, 1, 0.5, 1.25, 'first');
INSERT INTO hits VALUES ('a', 1, 2, 0, 1, 0.25, 2.50, 'second');
SELECT * FROM hits ORDER BY page, day;
-- multi-row INSERT, with the same key several times in one statement
INSERT INTO hits VALUES ('a', 1, 10, 0, 0, 1, 0, 'm1'), ('b', 1, 1, 1, 1, 1, 1, 'b'),
	('a', 1, 100, 0, 0, 1, 0, 'm2'), ('a', 2, 5, 5, 5, 5, 5, 'a2');
SELECT * FROM hits ORDER BY page, day;
-- INSERT ... SELECT: 1000 rows onto 10 keys
INSERT INTO hits SELECT 'sel', g % 10, 1, g, 0, 0.001, 0.01, 'sel' || g
	FROM generate_series(1, 1000) g;
SELECT page, day, views, uniq, amount, price FROM hits WHERE page = 'sel' ORDER BY day;
SELECT sum(views), sum(uniq), sum(amount) FROM hits WHERE page = 'sel';
-- COPY
COPY hits FROM stdin;
a	1	1000	0	0	0	0	copy1
c	1	7	7	7	7	7	copy2
a	1	1000	0	0	0	0	copy3
\.
SELECT * FROM hits WHERE page IN ('a', 'c') ORDER BY page, day;
-- NULL: an inserted NULL adds nothing, a stored NULL takes the inserted
-- value (as the aggregate sum() ignores NULLs); a non-numeric NULL overwrites
INSERT INTO hits VALUES ('n', 1, NULL, 5, NULL, NULL, NULL, 'x');
INSERT INTO hits VALUES ('n', 1, 3, NULL, 2, 1.5, NULL, NULL);
INSERT INTO hits VALUES ('n', 1, NULL, NULL, NULL, NULL, NULL, 'y');
SELECT * FROM hits WHERE page = 'n';
-- increments and sums of one key in one transaction, then a rollback
BEGIN;
INSERT INTO hits VALUES ('t', 1, 1, 1, 1, 1, 1, 't1');
UPDATE hits SET views = views + 10 WHERE page = 't' AND day = 1;
SELECT page, views, last_ref FROM hits WHERE page = 't';
INSERT INTO hits VALUES ('t', 1, 100, 0, 0, 0, 0, 't2');
UPDATE hits SET views = views + 1000, amount = amount + 0.5 WHERE page = 't' AND day = 1;
SELECT page, views, amount, last_ref FROM hits WHERE page = 't';
SELECT page, views FROM hits WHERE page >= 's' ORDER BY page;
SAVEPOINT s;
INSERT INTO hits VALUES ('t', 1, 5000, 0, 0, 0, 0, 't3');
SELECT page, views, last_ref FROM hits WHERE page = 't';
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT page, views, amount, last_ref FROM hits WHERE page = 't';
BEGIN;
INSERT INTO hits VALUES ('t', 1, 1, 1, 1, 1, 1, 'gone');
ROLLBACK;
SELECT page, views, last_ref FROM hits WHERE page = 't';
-- a committed row, then increments and sums in one transaction: folded in order
BEGIN;
UPDATE hits SET views = views + 1 WHERE page = 't' AND day = 1;
INSERT INTO hits VALUES ('t', 1, 10, 0, 0, 0, 0, 'u1');
UPDATE hits SET views = views + 100 WHERE page = 't' AND day = 1;
INSERT INTO hits VALUES ('t', 1, 1000, 0, 0, 0, 0, 'u2');
SELECT page, views, last_ref FROM hits WHERE page = 't';
COMMIT;
SELECT page, views, last_ref FROM hits WHERE page = 't';
-- an increment of a summed column the transaction's sum row left NULL: the
-- stored value decides (a sequence operand), over no stored row it stays NULL
BEGIN;
INSERT INTO hits VALUES ('t', 1, NULL, 0, 0, 0, 0, 'v1'), ('v', 1, NULL, 0, 0, 0, 0, 'v1');
UPDATE hits SET views = views + 5 WHERE page = 't' AND day = 1;
UPDATE hits SET views = views + 5 WHERE page = 'v' AND day = 1;
INSERT INTO hits VALUES ('t', 1, 1, 0, 0, 0, 0, 'v2');
SELECT page, views, last_ref FROM hits WHERE page IN ('t', 'v') ORDER BY page;
COMMIT;
SELECT page, views, last_ref FROM hits WHERE page IN ('t', 'v') ORDER BY page;
DELETE FROM hits WHERE page = 'v' AND day = 1;
-- DELETE of the transaction's own summed row, and an insert after a delete
BEGIN;
INSERT INTO hits VALUES ('d', 1, 1, 1, 1, 1, 1, 'd');
DELETE FROM hits WHERE page = 'd' AND day = 1;
SELECT count(*) FROM hits WHERE page = 'd';
DELETE FROM hits WHERE page = 'c' AND day = 1;
INSERT INTO hits VALUES ('c', 1, 1, 1, 1, 1, 1, 'c-again');
COMMIT;
SELECT * FROM hits WHERE page IN ('c', 'd');
-- ON CONFLICT DO NOTHING wins over on_duplicate
INSERT INTO hits VALUES ('c', 1, 99, 99, 99, 99, 99, 'skip') ON CONFLICT DO NOTHING;
SELECT page, views FROM hits WHERE page = 'c';
-- flushed and compacted: the folds are the same
SELECT lsm_fdw_flush('hits') IS NOT NULL AS flushed;
INSERT INTO hits VALUES ('a', 1, 1, 1, 1, 1, 1, 'after flush');
SELECT * FROM hits WHERE page = 'a' AND day = 1;
SELECT lsm_fdw_compact('hits') IS NOT NULL AS compacted;
SELECT * FROM hits ORDER BY page, day;
SELECT lsm_fdw_verify('hits') IS NOT NULL AS verified;
-- overflow never wraps: over a committed row it shows at read time (22003),
-- DELETE is the way out; over the transaction's own row at write time
INSERT INTO hits VALUES ('o', 1, 1, 2147483000, 1, 0, 0, 'o');
INSERT INTO hits VALUES ('o', 1, 1, 1000, 1, 0, 0, 'o');
\set VERBOSITY default
SELECT uniq FROM hits WHERE page = 'o';
BEGIN;
INSERT INTO hits VALUES ('p', 1, 1, 1, 32767, 0, 0, 'p');
INSERT INTO hits VALUES ('p', 1, 1, 1, 1, 0, 0, 'p');
ROLLBACK;
-- a numeric(5,2) sum beyond its precision
INSERT INTO hits VALUES ('q', 1, 1, 1, 1, 0, 999.99, 'q');
INSERT INTO hits VALUES ('q', 1, 1, 1, 1, 0, 0.01, 'q');
SELECT price FROM hits WHERE page = 'q';
\set VERBOSITY terse
DELETE FROM hits WHERE page = 'o' AND day = 1;
DELETE FROM hits WHERE page = 'q' AND day = 1;
SELECT count(*) FROM hits WHERE page IN ('o', 'q');
-- a hot key's sum rows do not pile up: every 32nd summing insert of a
-- backend checks the operands a read folds and writes the folded row
\c
CREATE FUNCTION folded(q text) RETURNS int8 LANGUAGE plpgsql AS $$
DECLARE p json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF) ' || q INTO p;
	RETURN (p->0->'Plan'->>'LSM Merge Operands Folded')::int8;
END $$;
DO $$ BEGIN FOR j IN 1..300 LOOP INSERT INTO hits VALUES ('hot', 1, 1, 1, 0, 0.5, 0, 'h' || j); COMMIT; END LOOP; END $$;
SELECT folded($$SELECT * FROM hits WHERE page = 'hot' AND day = 1$$) < 64 AS few_operands;
SELECT * FROM hits WHERE page = 'hot';
-- an increment whose row nothing changed between its read and its commit
-- goes in as the folded row (the read is the commit's base hint), so a
-- read folds no operand, in transaction blocks too
CREATE FOREIGN TABLE hotc (k int OPTIONS (key 'true'), n int8) SERVER lsm;
INSERT INTO hotc VALUES (1, 0);
\set ECHO none
\o /dev/null
SELECT 'BEGIN; UPDATE hotc SET n = n + 1 WHERE k = 1; COMMIT' FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT coalesce(folded($$SELECT n FROM hotc WHERE k = 1$$), 0) AS operands;
SELECT n FROM hotc;
SELECT (lsm_fdw_stats('hotc')->>'merge_folds')::int AS merge_folds,
	(lsm_fdw_stats('hotc')->>'merge_base_folds')::int AS merge_base_folds;
-- a memtable switch after the read: the new memtable holds every entry
-- above the switch, which is below the read, so the hint still holds (an
-- increment committed in between is specs/increments.spec's first case)
BEGIN;
UPDATE hotc SET n = n + 1 WHERE k = 1;
SELECT lsm_fdw_flush('hotc') IS NOT NULL AS flushed;
COMMIT;
SELECT n, coalesce(folded($$SELECT n FROM hotc WHERE k = 1$$), 0) AS operands FROM hotc;
SELECT (lsm_fdw_stats('hotc')->>'merge_base_folds')::int AS merge_base_folds;
-- with a heap write in the transaction (Postgres's commit decides it), and
-- after a rollback to a savepoint that took back a second increment
CREATE TABLE hotc_heap (i int);
BEGIN;
UPDATE hotc SET n = n + 1 WHERE k = 1;
INSERT INTO hotc_heap VALUES (1);
COMMIT;
BEGIN;
UPDATE hotc SET n = n + 1 WHERE k = 1;
SAVEPOINT s;
UPDATE hotc SET n = n + 1 WHERE k = 1;
ROLLBACK TO s;
COMMIT;
SELECT n, coalesce(folded($$SELECT n FROM hotc WHERE k = 1$$), 0) AS operands FROM hotc;
SELECT (lsm_fdw_stats('hotc')->>'merge_base_folds')::int AS merge_base_folds;
DROP TABLE hotc_heap;
DROP FOREIGN TABLE hotc;
-- summing inserts read nothing, so they carry no hint; committed in
-- transaction blocks, where no opportunistic fold lock is taken, they are
-- folded as they are applied: every 16th operand of a key in the memtable
-- goes in as the folded row, so a read folds few
CREATE FOREIGN TABLE hots (k int OPTIONS (key 'true'), n int8) SERVER lsm
	OPTIONS (on_duplicate 'sum');
\set ECHO none
\o /dev/null
SELECT 'BEGIN; INSERT INTO hots VALUES (1, 1); COMMIT' FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT folded($$SELECT n FROM hots WHERE k = 1$$) < 16 AS few_operands;
SELECT n FROM hots;
SELECT (lsm_fdw_stats('hots')->>'merge_folds')::int AS merge_folds,
	(lsm_fdw_stats('hots')->>'merge_base_folds')::int AS merge_base_folds;
DROP FOREIGN TABLE hots;
-- an ERROR inside the merge function (what an out-of-memory in palloc
-- would raise; simulated) becomes a status: a commit whose apply would
-- fold the key applies the operand as it is and still holds off
-- interrupts to its end (and they work afterwards); a read reports it
CREATE FOREIGN TABLE hotd (k int OPTIONS (key 'true'), n int8) SERVER lsm;
INSERT INTO hotd VALUES (1, 0);
\set ECHO none
\o /dev/null
SELECT 'BEGIN; UPDATE hotd SET n = n + 1 WHERE k = 1; SET LOCAL lsm_fdw.debug_merge_error = on; COMMIT' FROM generate_series(1, 20) \gexec
\o
\set ECHO all
SELECT n, (lsm_fdw_stats('hotd')->>'merge_folds')::int AS merge_folds FROM hotd;
SET statement_timeout = '100ms';
SELECT pg_sleep(5);
RESET statement_timeout;
SET lsm_fdw.debug_merge_error = on;
SELECT n FROM hotd;
RESET lsm_fdw.debug_merge_error;
DROP FOREIGN TABLE hotd;
DROP FUNCTION folded(text);
-- the option is checked
ALTER FOREIGN TABLE hits OPTIONS (SET on_duplicate 'add');
ALTER FOREIGN TABLE hits OPTIONS (SET on_duplicate 'error');
INSERT INTO hits VALUES ('a', 1, 1, 1, 1, 1, 1, 'dup');
ALTER FOREIGN TABLE hits OPTIONS (SET on_duplicate 'sum');

-- with a TTL the sum reads the row: an expired row is not summed
CREATE FOREIGN TABLE hits_ttl (k int OPTIONS (key 'true'), n int, t timestamptz)
	SERVER lsm OPTIONS (on_duplicate 'sum', ttl_column 't');
INSERT INTO hits_ttl VALUES (1, 5, now() + interval '1 day'), (2, 5, now() - interval '1 day');
INSERT INTO hits_ttl VALUES (1, 1, now() + interval '1 day'), (2, 1, now() + interval '1 day');
SELECT k, n FROM hits_ttl ORDER BY k;

SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
