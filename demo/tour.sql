-- A short scripted tour of lsm_fdw (demo.sh runs it when stdin is not a terminal).
\timing off
\pset footer off
\echo
\echo '== 1. The demo: a session store (sessions), counters, and a heap table of users.'
\echo '   sessions and counters are lsm_fdw foreign tables: each has its own LSM engine in the server.'
\d sessions
SELECT count(*) AS sessions FROM sessions;

\echo
\echo '== 2. A point get: the key qual becomes one engine lookup, no scan.'
\echo '   EXPLAIN ANALYZE shows the access and what the engine did (memtable, SSTables, bloom, blocks).'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT data FROM sessions WHERE id = 's:004242';
SELECT data FROM sessions WHERE id = 's:004242';

\echo
\echo '== 3. A range over the key, in key order, stopping after 5 rows (no Sort node).'
EXPLAIN (COSTS OFF) SELECT id, seen_at FROM sessions WHERE id >= 's:050000' ORDER BY id LIMIT 5;
SELECT id, seen_at FROM sessions WHERE id >= 's:050000' ORDER BY id LIMIT 5;

\echo
\echo '== 4. A multi-get (IN) and a key prefix (LIKE ''s:0999%'').'
SELECT id, user_id FROM sessions WHERE id IN ('s:000001', 's:099999', 's:nope');
SELECT count(*) FROM sessions WHERE id LIKE 's:0999%';

\echo
\echo '== 5. A join with the heap table users: a nested loop of point gets into sessions.'
EXPLAIN (COSTS OFF)
SELECT u.name, s.data->>'agent' AS agent FROM users u JOIN sessions s ON s.id = u.session_id WHERE u.id < 5;
SELECT u.name, s.data->>'agent' AS agent FROM users u JOIN sessions s ON s.id = u.session_id WHERE u.id < 5;

\echo
\echo '== 6. Writes are transactional: this UPDATE and DELETE are rolled back.'
BEGIN;
UPDATE counters SET n = n + 1 WHERE name = 'page:1';
DELETE FROM sessions WHERE id = 's:000002';
SELECT * FROM counters WHERE name = 'page:1';
ROLLBACK;
SELECT * FROM counters WHERE name = 'page:1';
SELECT count(*) AS "s:000002 still there" FROM sessions WHERE id = 's:000002';

\echo
\echo '== 7. counters has on_duplicate ''overwrite'': an INSERT of an existing key is a blind upsert.'
INSERT INTO counters VALUES ('page:1', 0);
SELECT * FROM counters WHERE name = 'page:1';
\echo '   sessions has the default (on_duplicate ''error''): the same INSERT fails with 23505,'
\echo '   and ON CONFLICT DO NOTHING skips the row instead.'
INSERT INTO sessions VALUES ('s:000001', 1, '{}', now()) ON CONFLICT DO NOTHING;

\echo
\echo '== 8. What the engine holds: flush the memtable to an SSTable, then look at the table''s statistics.'
SELECT lsm_fdw_flush('sessions');
SELECT l->>'level' AS level, l->>'files' AS files, l->>'entries' AS entries, l->>'bytes' AS bytes
  FROM jsonb_array_elements(lsm_fdw_stats('sessions')->'levels') l
 WHERE (l->>'files')::int > 0;
SELECT s->'gets' AS gets, s->'bloom_useful' AS bloom_skips, s->'block_cache_hits' AS cache_hits,
       s->'block_reads' AS block_reads, s->'compactions' AS compactions
  FROM lsm_fdw_stats('sessions') s;
\echo
\echo '== End of the tour.  Run "bash demo.sh" from a terminal to get psql on this demo instead.'
