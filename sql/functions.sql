-- Maintenance functions: lsm_fdw_stats, lsm_fdw_flush, lsm_fdw_verify.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE m (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
CREATE TABLE heap_t (k int4);

INSERT INTO m SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;
SELECT (s->>'files')::int AS files, (s->>'memtable_bytes')::int > 0 AS memtable_used,
       (s->>'last_sequence')::int >= 5000 AS last_sequence_covers_rows
  FROM lsm_fdw_stats('m') s;
SELECT lsm_fdw_flush('m');
SELECT (s->'levels'->0->>'files')::int AS l0_files, (s->>'bytes')::int > 0 AS has_bytes
  FROM lsm_fdw_stats('m') s;
SELECT lsm_fdw_verify('m');
SELECT count(*), min(k), max(k) FROM m;
DELETE FROM m WHERE k % 2 = 0;
SELECT lsm_fdw_flush('m');
SELECT (s->'levels'->0->>'files')::int AS l0_files FROM lsm_fdw_stats('m') s;
SELECT count(*) FROM m;
SELECT * FROM m WHERE k IN (1, 2, 4999, 5000);
SELECT lsm_fdw_verify('m');

-- compaction: everything into one level, deleted rows gone for good
SELECT lsm_fdw_compact('m');
SELECT (SELECT count(*) FROM jsonb_array_elements(s->'levels') l WHERE (l->>'files')::int > 0) AS nonempty_levels,
       (s->'levels'->0->>'files')::int AS l0_files,
       (s->>'compactions')::int > 0 AS compacted,
       (SELECT sum((l->>'entries')::int) FROM jsonb_array_elements(s->'levels') l) AS entries,
       (SELECT sum((l->>'tombstones')::int) FROM jsonb_array_elements(s->'levels') l) AS tombstones
  FROM lsm_fdw_stats('m') s;
SELECT count(*), sum(k) FROM m;
SELECT lsm_fdw_verify('m');

-- a tiered table compacts too
CREATE FOREIGN TABLE tiered (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (compaction 'tiered', memtable_size '1MB');
INSERT INTO tiered SELECT g, repeat('t', 200) FROM generate_series(1, 20000) g;
UPDATE tiered SET v = 'u' WHERE k % 3 = 0;
SELECT lsm_fdw_compact('tiered');
SELECT count(*), count(*) FILTER (WHERE v = 'u') FROM tiered;
SELECT lsm_fdw_verify('tiered');

-- wrong objects and missing rights
SELECT lsm_fdw_stats('heap_t');
SELECT lsm_fdw_flush('pg_class');
CREATE ROLE lsm_nobody;
SET ROLE lsm_nobody;
SELECT lsm_fdw_flush('m');
SELECT lsm_fdw_verify('m');
SELECT lsm_fdw_compact('m');
SELECT lsm_fdw_stats('m');
RESET ROLE;
DROP ROLE lsm_nobody;

-- clean up for the next test file
SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
DROP TABLE heap_t;
