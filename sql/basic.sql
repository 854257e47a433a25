-- Storing and reading rows: point gets, multi-gets, ranges, key order,
-- DML, transactions, errors.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;

CREATE FUNCTION sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE FOREIGN TABLE kv (
	k int8 OPTIONS (key 'true'),
	v text,
	n int4
) SERVER lsm;

INSERT INTO kv SELECT g, 'v' || g, g % 7 FROM generate_series(1, 1000) g;
SELECT count(*), sum(k), sum(n), min(v), max(v) FROM kv;

-- point get
SELECT * FROM kv WHERE k = 42;
EXPLAIN (COSTS OFF) SELECT * FROM kv WHERE k = 42;
SELECT * FROM kv WHERE k = 42::int4;
SELECT * FROM kv WHERE 43 = k;
SELECT * FROM kv WHERE k = 5000;
SELECT * FROM kv WHERE k = NULL;

-- multi-get: sorted, distinct, missing keys skipped
SELECT k, v FROM kv WHERE k IN (5, 3, 999, 5000, 3);
EXPLAIN (COSTS OFF) SELECT k, v FROM kv WHERE k IN (5, 3, 999);
SELECT k FROM kv WHERE k = ANY(ARRAY[7, NULL, 8]::int8[]);

-- ranges
SELECT k FROM kv WHERE k >= 10 AND k < 15;
EXPLAIN (COSTS OFF) SELECT k FROM kv WHERE k >= 10 AND k < 15;
SELECT k FROM kv WHERE k BETWEEN 995 AND 2000;
SELECT k FROM kv WHERE k > 997;
SELECT k FROM kv WHERE k <= 2;
SELECT k FROM kv WHERE k < -5;
SELECT k FROM kv WHERE k > 10 AND k < 11;
SELECT k FROM kv WHERE k >= 3000000000 OR k = 1;

-- key order: no Sort node, LIMIT stops early
EXPLAIN (COSTS OFF) SELECT k FROM kv ORDER BY k LIMIT 3;
SELECT k FROM kv ORDER BY k LIMIT 3;
EXPLAIN (COSTS OFF) SELECT k FROM kv ORDER BY k DESC LIMIT 3;
SELECT k FROM kv ORDER BY k DESC LIMIT 3;
SELECT k FROM kv WHERE k < 500 ORDER BY k DESC LIMIT 2;
SELECT k FROM kv WHERE k > 100 AND k <= 103 ORDER BY k DESC;

-- local quals on non-key columns
SELECT count(*) FROM kv WHERE n = 3;
SELECT k, v FROM kv WHERE v LIKE 'v99%' ORDER BY k;

-- UPDATE, DELETE, RETURNING
UPDATE kv SET v = 'updated' WHERE k = 7;
SELECT * FROM kv WHERE k = 7;
UPDATE kv SET n = n + 100 WHERE k <= 3 RETURNING *;
UPDATE kv SET k = k + 10000 WHERE k = 8;
SELECT * FROM kv WHERE k IN (8, 10008);
DELETE FROM kv WHERE k > 990 RETURNING k, v;
SELECT count(*) FROM kv;
-- each row moves once, even though its new key is ahead of the scan
UPDATE kv SET k = k + 100000 WHERE k BETWEEN 20 AND 25;
SELECT k FROM kv WHERE k > 99999 ORDER BY k;

-- duplicates, NULL keys
INSERT INTO kv VALUES (1, 'dup', 0);
INSERT INTO kv VALUES (1, 'dup', 0) ON CONFLICT DO NOTHING;
SELECT * FROM kv WHERE k = 1;
INSERT INTO kv VALUES (NULL, 'x', 0);
UPDATE kv SET k = 9 WHERE k = 10;
SELECT sqlstate_of($$INSERT INTO kv VALUES (1, 'dup', 0)$$);
SELECT sqlstate_of($$INSERT INTO kv VALUES (NULL, 'x', 0)$$);
SELECT sqlstate_of($$UPDATE kv SET k = NULL WHERE k = 11$$);
-- keys are limited to 8 kB once encoded
CREATE FOREIGN TABLE longkey (k text OPTIONS (key 'true')) SERVER lsm;
INSERT INTO longkey VALUES (repeat('k', 8000));
INSERT INTO longkey VALUES (repeat('k', 9000));
SELECT sqlstate_of($$INSERT INTO longkey VALUES (repeat('k', 9000))$$);
SELECT length(k) FROM longkey;
DROP FOREIGN TABLE longkey;

-- transactions: read your writes, savepoints, rollback
BEGIN;
INSERT INTO kv VALUES (2001, 'a', 1), (2002, 'b', 2);
SELECT * FROM kv WHERE k >= 2000 ORDER BY k;
SAVEPOINT s1;
DELETE FROM kv WHERE k = 2001;
INSERT INTO kv VALUES (2003, 'c', 3);
UPDATE kv SET v = 'B' WHERE k = 2002;
SELECT * FROM kv WHERE k >= 2000 ORDER BY k;
SELECT * FROM kv WHERE k >= 2000 ORDER BY k DESC;
ROLLBACK TO SAVEPOINT s1;
SELECT * FROM kv WHERE k >= 2000 ORDER BY k;
SAVEPOINT s2;
INSERT INTO kv VALUES (2004, 'd', 4);
RELEASE SAVEPOINT s2;
COMMIT;
SELECT * FROM kv WHERE k >= 2000 ORDER BY k;
BEGIN;
INSERT INTO kv VALUES (3001, 'gone', 0);
DELETE FROM kv WHERE k = 2001;
ROLLBACK;
SELECT * FROM kv WHERE k IN (2001, 3001);
BEGIN;
INSERT INTO kv VALUES (3002, 'p', 0);
PREPARE TRANSACTION 'lsm_p';
SELECT * FROM kv WHERE k = 3002;
-- nor one that locked keys (blind writers queue behind them outside the lock manager)
BEGIN;
SELECT k FROM kv WHERE k = 3001 FOR UPDATE;
PREPARE TRANSACTION 'lsm_p';

-- text keys, LIKE and ^@ prefixes
CREATE FOREIGN TABLE sessions (
	id text OPTIONS (key 'true'),
	user_id int8,
	data jsonb
) SERVER lsm OPTIONS (on_duplicate 'overwrite');
INSERT INTO sessions SELECT 's:' || g, g % 10, jsonb_build_object('g', g)
	FROM generate_series(1, 200) g;
INSERT INTO sessions VALUES ('s:1', 99, '{"over": "written"}');
SELECT * FROM sessions WHERE id = 's:1';
SELECT id FROM sessions WHERE id LIKE 's:19%' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT id FROM sessions WHERE id LIKE 's:19%';
SELECT id FROM sessions WHERE id ^@ 's:10' ORDER BY id;
SELECT id FROM sessions WHERE id >= 's:198' ORDER BY id;
SELECT count(*) FROM sessions WHERE id LIKE 's:1_';
SELECT count(*) FROM sessions WHERE id LIKE '%0';

-- composite keys
CREATE FOREIGN TABLE events (
	tenant int4 OPTIONS (key 'true'),
	ts timestamptz OPTIONS (key 'true'),
	payload text
) SERVER lsm;
INSERT INTO events SELECT t, '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', t || '/' || g
	FROM generate_series(1, 3) t, generate_series(1, 48) g;
SELECT count(*) FROM events WHERE tenant = 2;
EXPLAIN (COSTS OFF) SELECT * FROM events WHERE tenant = 2;
SELECT payload FROM events WHERE tenant = 2 AND ts >= '2026-01-02 22:00:00+00' ORDER BY tenant, ts;
EXPLAIN (COSTS OFF) SELECT payload FROM events WHERE tenant = 2 AND ts >= '2026-01-02 22:00:00+00';
SELECT payload FROM events WHERE tenant = 3 AND ts = '2026-01-01 05:00:00+00';
SELECT tenant, max(ts) FROM events GROUP BY tenant ORDER BY tenant;

-- joins with a heap table: nested loop of point gets
CREATE TABLE users (id int8 PRIMARY KEY, name text);
INSERT INTO users SELECT g, 'user' || g FROM generate_series(1, 100) g;
ANALYZE users;
EXPLAIN (COSTS OFF) SELECT u.name, kv.v FROM users u JOIN kv ON kv.k = u.id WHERE u.id < 5;
SELECT u.name, kv.v FROM users u JOIN kv ON kv.k = u.id WHERE u.id < 5 ORDER BY u.id;
SELECT count(*) FROM users u JOIN kv ON kv.k = u.id;

-- ALTER FOREIGN TABLE ADD COLUMN: old rows read NULL
ALTER FOREIGN TABLE kv ADD COLUMN extra text;
SELECT * FROM kv WHERE k = 42;
UPDATE kv SET extra = 'x' WHERE k = 42;
SELECT * FROM kv WHERE k IN (42, 43);

-- DROP removes the files at commit, not before, and not on rollback
SELECT (pg_stat_file('lsm_fdw/' || d.oid || '/' || 'sessions'::regclass::oid)).isdir AS dir_exists
  FROM pg_database d WHERE d.datname = current_database();
BEGIN;
DROP FOREIGN TABLE sessions;
ROLLBACK;
SELECT count(*) FROM sessions;
CREATE TEMP TABLE dropped AS SELECT 'lsm_fdw/' || d.oid || '/' || 'sessions'::regclass::oid AS path
  FROM pg_database d WHERE d.datname = current_database();
DROP FOREIGN TABLE sessions;
SELECT pg_stat_file(path, true) IS NULL AS files_gone FROM dropped;

-- clean up for the next test file
SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
DROP FUNCTION sqlstate_of(text);
DROP TABLE users;
