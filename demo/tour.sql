-- A short scripted tour of lsm_fdw.
\timing off
\d sessions
SELECT count(*) AS sessions FROM sessions;

-- A point get: one key, no scan.
EXPLAIN (COSTS OFF) SELECT data FROM sessions WHERE id = 's:004242';
SELECT data FROM sessions WHERE id = 's:004242';

-- A range over the key, in key order, stopping after 5 rows.
EXPLAIN (COSTS OFF) SELECT id, seen_at FROM sessions WHERE id >= 's:050000' ORDER BY id LIMIT 5;
SELECT id, seen_at FROM sessions WHERE id >= 's:050000' ORDER BY id LIMIT 5;

-- A multi-get and a prefix.
SELECT id, user_id FROM sessions WHERE id IN ('s:000001', 's:099999', 's:nope');
SELECT count(*) FROM sessions WHERE id LIKE 's:0999%';

-- A join with a heap table: a nested loop of point gets.
EXPLAIN (COSTS OFF)
SELECT u.name, s.data->>'agent' AS agent FROM users u JOIN sessions s ON s.id = u.session_id WHERE u.id < 5;
SELECT u.name, s.data->>'agent' AS agent FROM users u JOIN sessions s ON s.id = u.session_id WHERE u.id < 5;

-- Writes are transactional.
BEGIN;
UPDATE counters SET n = n + 1 WHERE name = 'page:1';
DELETE FROM sessions WHERE id = 's:000002';
SELECT * FROM counters WHERE name = 'page:1';
ROLLBACK;
SELECT * FROM counters WHERE name = 'page:1';
SELECT count(*) FROM sessions WHERE id = 's:000002';
INSERT INTO counters VALUES ('page:1', 0);   -- on_duplicate 'overwrite': a blind upsert
SELECT * FROM counters WHERE name = 'page:1';
INSERT INTO sessions VALUES ('s:000001', 1, '{}', now());   -- default: unique_violation
