-- TRUNCATE, COPY, batch insert, ANALYZE and EXPLAIN ANALYZE.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE tr (k int4 OPTIONS (key 'true'), v text) SERVER lsm;

-- TRUNCATE is transactional and hides committed rows at once
INSERT INTO tr SELECT g, 'old' FROM generate_series(1, 100) g;
BEGIN;
TRUNCATE tr;
SELECT count(*) FROM tr;
SELECT * FROM tr WHERE k = 5;
INSERT INTO tr VALUES (5, 'new');
SELECT * FROM tr;
ROLLBACK;
SELECT count(*), min(v), max(v) FROM tr;
BEGIN;
INSERT INTO tr VALUES (1000, 'before truncate');
TRUNCATE tr;
INSERT INTO tr VALUES (1, 'after'), (2, 'after');
UPDATE tr SET v = 'updated' WHERE k = 2;
SELECT * FROM tr ORDER BY k;
COMMIT;
SELECT * FROM tr ORDER BY k;
-- a TRUNCATE rolled back to a savepoint
BEGIN;
SAVEPOINT a;
TRUNCATE tr;
ROLLBACK TO SAVEPOINT a;
SELECT count(*) FROM tr;
COMMIT;
SELECT count(*) FROM tr;
-- a second TRUNCATE rolled back to its savepoint leaves the first one
-- standing: the committed rows stay gone (they came back before round 2
-- session 14)
BEGIN;
TRUNCATE tr;
INSERT INTO tr VALUES (3, 'after first');
SAVEPOINT a;
TRUNCATE tr;
INSERT INTO tr VALUES (4, 'after second');
ROLLBACK TO SAVEPOINT a;
SELECT * FROM tr ORDER BY k;
COMMIT;
SELECT * FROM tr ORDER BY k;
-- released savepoints hand their TRUNCATE to the parent; rolling back an
-- outer one undoes both
INSERT INTO tr VALUES (1, 'after'), (2, 'after');
BEGIN;
INSERT INTO tr VALUES (5, 'five');
SAVEPOINT a;
TRUNCATE tr;
INSERT INTO tr VALUES (6, 'six');
SAVEPOINT b;
TRUNCATE tr;
INSERT INTO tr VALUES (7, 'seven');
RELEASE SAVEPOINT b;
SELECT * FROM tr ORDER BY k;
ROLLBACK TO SAVEPOINT a;
SELECT * FROM tr ORDER BY k;
COMMIT;
SELECT * FROM tr ORDER BY k;
DELETE FROM tr WHERE k IN (3, 5);
-- a duplicate key after TRUNCATE is no duplicate
BEGIN;
TRUNCATE tr;
INSERT INTO tr VALUES (1, 'again');
COMMIT;
SELECT * FROM tr;

-- COPY FROM
COPY tr FROM stdin;
10	ten
11	eleven
12	twelve
\.
SELECT * FROM tr ORDER BY k;
COPY tr FROM stdin;
12	dup
\.
SELECT count(*) FROM tr;

-- multi-row insert (batched by the executor)
INSERT INTO tr SELECT g, 'batch' FROM generate_series(100, 1099) g;
SELECT count(*) FROM tr WHERE v = 'batch';
INSERT INTO tr SELECT g, 'batch dup' FROM generate_series(1090, 1200) g;
INSERT INTO tr SELECT g, 'batch dup' FROM generate_series(1090, 1200) g ON CONFLICT DO NOTHING;
SELECT count(*) FROM tr WHERE v = 'batch dup';

-- ANALYZE gives the planner real counts
ANALYZE tr;
SELECT reltuples FROM pg_class WHERE relname = 'tr';
SELECT attname, n_distinct FROM pg_stats WHERE tablename = 'tr' ORDER BY attname;

-- EXPLAIN ANALYZE shows engine counters
SELECT (lsm_fdw_flush('tr')->>'files')::int > 0 AS flushed;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM tr WHERE k = 500;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM tr WHERE k = 999999;
INSERT INTO tr VALUES (-1, 'in memtable');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM tr WHERE k = -1;

-- lsm_fdw.synchronous_commit = off: commits are visible at once
SET lsm_fdw.synchronous_commit = off;
INSERT INTO tr VALUES (-2, 'async');
SELECT * FROM tr WHERE k = -2;
RESET lsm_fdw.synchronous_commit;
SHOW lsm_fdw.wal_sync_delay;

-- the default, auto, follows Postgres's synchronous_commit: one log fsync per
-- commit when it is on, none of the commit's own when it is off
SHOW lsm_fdw.synchronous_commit;
CREATE TEMP TABLE sync_probe AS SELECT (lsm_fdw_server_stats()->>'log_syncs')::bigint AS n;
DO $$ BEGIN FOR i IN 1..30 LOOP INSERT INTO tr VALUES (-100 - i, 'sync'); COMMIT; END LOOP; END $$;
SELECT (lsm_fdw_server_stats()->>'log_syncs')::bigint - n >= 30 AS synced_each_commit FROM sync_probe;
-- the fsyncs are timed, inside the flush rounds that ran them
SELECT (s->>'log_flush_rounds')::bigint >= 30 AS rounds,
       (s->>'log_sync_micros')::bigint > 0 AS sync_timed,
       (s->>'log_flush_round_micros')::bigint >= (s->>'log_sync_micros')::bigint AS rounds_hold_syncs
  FROM (SELECT lsm_fdw_server_stats() AS s) x;
SET synchronous_commit = off;
UPDATE sync_probe SET n = (lsm_fdw_server_stats()->>'log_syncs')::bigint;
DO $$ BEGIN FOR i IN 1..30 LOOP INSERT INTO tr VALUES (-200 - i, 'async'); COMMIT; END LOOP; END $$;
SELECT (lsm_fdw_server_stats()->>'log_syncs')::bigint - n < 15 AS not_synced_each_commit FROM sync_probe;
SELECT count(*) FROM tr WHERE k BETWEEN -230 AND -101;
SET lsm_fdw.synchronous_commit = on;   -- an explicit setting wins
UPDATE sync_probe SET n = (lsm_fdw_server_stats()->>'log_syncs')::bigint;
DO $$ BEGIN FOR i IN 1..30 LOOP INSERT INTO tr VALUES (-300 - i, 'sync'); COMMIT; END LOOP; END $$;
SELECT (lsm_fdw_server_stats()->>'log_syncs')::bigint - n >= 30 AS synced_each_commit FROM sync_probe;
RESET synchronous_commit;
RESET lsm_fdw.synchronous_commit;
DELETE FROM tr WHERE k BETWEEN -330 AND -101;
DROP TABLE sync_probe;

-- an ERROR in the middle of scans and writes leaves the table usable
SELECT k, 10 / (k - 500) FROM tr WHERE k BETWEEN 490 AND 510 ORDER BY k;
SELECT k FROM tr WHERE k IN (1, 500, 2) AND 1 / (k - 500) > 0;
UPDATE tr SET v = (10 / (k - 505))::text WHERE k BETWEEN 500 AND 510;
BEGIN;
DELETE FROM tr WHERE k = 501;
SELECT 1 / 0;
ROLLBACK;
SELECT count(*) FROM tr WHERE k BETWEEN 500 AND 510;
SELECT * FROM tr WHERE k = 505;

-- DROP DATABASE removes the database's lsm_fdw files
SELECT current_database() AS orig_db \gset
CREATE DATABASE lsm_dropme;
\c lsm_dropme
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE d (k int4 OPTIONS (key 'true')) SERVER lsm;
INSERT INTO d VALUES (1);
SELECT oid AS dboid FROM pg_database WHERE datname = current_database() \gset
SELECT (pg_stat_file('lsm_fdw/' || :dboid)).isdir AS files_exist;
\c :orig_db
DROP DATABASE lsm_dropme;
SELECT pg_stat_file('lsm_fdw/' || :dboid, true) IS NULL AS files_gone;

SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
