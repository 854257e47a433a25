-- Maintenance functions: lsm_fdw_stats, lsm_fdw_flush, lsm_fdw_verify,
-- lsm_fdw_compact, and what each returns (figures that vary between runs
-- are printed as comparisons).
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE m (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
CREATE TABLE heap_t (k int4);

INSERT INTO m SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;
SELECT (s->>'files')::int AS files, (s->>'memtable_bytes')::int > 0 AS memtable_used,
       (s->>'last_sequence')::int >= 5000 AS last_sequence_covers_rows,
       (s->>'bytes_written_wal')::int > 5000 * 100 AS wal_holds_the_rows,
       (s->>'write_amplification')::float8 = 1 AS nothing_rewritten_yet
  FROM lsm_fdw_stats('m') s;
SELECT (f->>'memtable_bytes_before')::int > 0 AS had_memtable,
       (f->>'files_written')::int AS files_written, (f->>'bytes_written')::int > 0 AS wrote,
       (f->>'level0_files')::int AS l0_files, (f->>'files')::int AS files
  FROM lsm_fdw_flush('m') f;
SELECT (s->'levels'->0->>'files')::int AS l0_files, (s->>'bytes')::int > 0 AS has_bytes,
       (s->>'flushes')::int AS flushes, (s->>'bytes_flushed')::int > 0 AS flushed_bytes,
       (s->>'write_amplification')::float8 > 1 AS flush_counts_in_write_amplification
  FROM lsm_fdw_stats('m') s;
-- verify says what it checked: every file, every entry
SELECT (v->>'files')::int = (s->>'files')::int AS every_file,
       (v->>'bytes')::int = (s->>'bytes')::int AS every_byte,
       (v->>'blocks')::int > 1 AS blocks,
       (v->>'entries')::int AS entries, (v->>'problems')::int AS problems, v->'messages' AS messages
  FROM lsm_fdw_verify('m') v, lsm_fdw_stats('m') s;
SELECT count(*), min(k), max(k) FROM m;
DELETE FROM m WHERE k % 2 = 0;
SELECT (f->>'files_written')::int AS files_written, (f->>'files')::int AS files FROM lsm_fdw_flush('m') f;
-- nothing left to flush
SELECT (f->>'files_written')::int AS files_written, (f->>'bytes_written')::int AS bytes_written
  FROM lsm_fdw_flush('m') f;
SELECT (s->'levels'->0->>'files')::int AS l0_files FROM lsm_fdw_stats('m') s;
SELECT count(*) FROM m;
SELECT * FROM m WHERE k IN (1, 2, 4999, 5000);
-- a point get's block comes from disk once, then from the block cache, whose
-- lookups lsm_fdw_server_stats counts; lsm_fdw_stats sums each backend's gets
CREATE TEMP TABLE stats0 AS SELECT lsm_fdw_server_stats() AS s, lsm_fdw_stats('m') AS t;
SELECT v = repeat('x', 100) AS found FROM m WHERE k = 4999;
SELECT v = repeat('x', 100) AS found FROM m WHERE k = 4999;
SELECT (n.s->>'block_cache_hits')::int8 > (o.s->>'block_cache_hits')::int8 AS cache_hit,
       (n.s->>'block_cache_misses')::int8 >= (o.s->>'block_cache_misses')::int8 AS misses,
       (n.s->>'block_cache_hit_rate')::float8 BETWEEN 0 AND 1 AS hit_rate,
       (n.t->>'gets')::int8 - (o.t->>'gets')::int8 >= 2 AS gets_counted
  FROM stats0 o, (SELECT lsm_fdw_server_stats() AS s, lsm_fdw_stats('m') AS t) n;
DROP TABLE stats0;
SELECT (v->>'files')::int AS files, (v->>'entries')::int AS entries, (v->>'problems')::int AS problems
  FROM lsm_fdw_verify('m') v;

-- compaction: everything into one level, deleted rows gone for good
SELECT (c->>'files_before')::int AS files_before, (c->>'input_files')::int AS input_files,
       (c->>'input_bytes')::int = (c->>'bytes_before')::int AS read_every_byte,
       (c->>'output_files')::int = (c->>'files')::int AS outputs_are_the_files,
       (c->>'output_bytes')::int = (c->>'bytes')::int AS outputs_are_the_bytes,
       (c->>'output_level')::int >= 1 AS below_level0,
       (c->>'entries_dropped')::int AS entries_dropped, (c->>'bytes_flushed')::int AS bytes_flushed,
       c->'trivial_move' AS trivial_move
  FROM lsm_fdw_compact('m') c;
SELECT (s->>'bytes_compacted_read')::int > 0 AS compacted_read,
       (s->>'bytes_compacted_written')::int > 0 AS compacted_written,
       (s->>'write_amplification')::float8 >
         ((s->>'bytes_written_wal')::float8 + (s->>'bytes_flushed')::float8) / (s->>'bytes_written_wal')::float8
         AS compaction_counts_in_write_amplification
  FROM lsm_fdw_stats('m') s;
SELECT (SELECT count(*) FROM jsonb_array_elements(s->'levels') l WHERE (l->>'files')::int > 0) AS nonempty_levels,
       (s->'levels'->0->>'files')::int AS l0_files,
       (s->>'compactions')::int > 0 AS compacted,
       (SELECT sum((l->>'entries')::int) FROM jsonb_array_elements(s->'levels') l) AS entries,
       (SELECT sum((l->>'tombstones')::int) FROM jsonb_array_elements(s->'levels') l) AS tombstones
  FROM lsm_fdw_stats('m') s;
SELECT count(*), sum(k) FROM m;
SELECT (v->>'entries')::int AS entries, (v->>'problems')::int AS problems FROM lsm_fdw_verify('m') v;

-- EXPLAIN ANALYZE counts the engine's work for every access: point gets,
-- ranges and full scans (a full scan reads every block verify checks)
CREATE FUNCTION lsm_explain(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	j jsonb;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q INTO j;
	RETURN j->0->'Plan';
END
$$;
SELECT p->>'LSM Access' AS access, (p->>'LSM Engine Gets')::int AS gets,
       (p->>'LSM SSTables Probed')::int > 0 AS probed,
       (p->>'LSM Blocks From Cache')::int + (p->>'LSM Blocks From Disk')::int > 0 AS read_blocks
  FROM (VALUES ('SELECT * FROM m WHERE k = 501'),
               ('SELECT * FROM m WHERE k BETWEEN 100 AND 300'),
               ('SELECT * FROM m')) q(q), lsm_explain(q) p;
SELECT (p->>'LSM Blocks From Cache')::int + (p->>'LSM Blocks From Disk')::int =
       (v->>'blocks')::int AS full_scan_reads_every_block
  FROM lsm_explain('SELECT * FROM m') p, lsm_fdw_verify('m') v;
-- direct modify (read and rewrite by key) counts its get
SELECT p->'Plans'->0->>'LSM Direct Modify' AS direct, (p->'Plans'->0->>'LSM Engine Gets')::int AS gets,
       (p->'Plans'->0->>'LSM SSTables Probed')::int AS probed
  FROM lsm_explain('UPDATE m SET v = ''y'' WHERE k = 3') p;
DROP FUNCTION lsm_explain(text);

-- a tiered table compacts too
CREATE FOREIGN TABLE tiered (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (compaction 'tiered', memtable_size '1MB');
INSERT INTO tiered SELECT g, repeat('t', 200) FROM generate_series(1, 20000) g;
UPDATE tiered SET v = 'u' WHERE k % 3 = 0;
SELECT (c->>'input_files')::int > 1 AS merged, (c->>'entries_dropped')::int > 0 AS dropped
  FROM lsm_fdw_compact('tiered') c;
SELECT count(*), count(*) FILTER (WHERE v = 'u') FROM tiered;
SELECT (v->>'entries')::int AS entries, (v->>'problems')::int AS problems FROM lsm_fdw_verify('tiered') v;

-- wrong objects and missing rights
SELECT lsm_fdw_stats('heap_t');
SELECT lsm_fdw_flush('pg_class');
SELECT lsm_fdw_stats(0);
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
