-- Blob files (key-value separation): rows whose stored value is at least
-- blob_min_size bytes keep it in blob files; the tree holds references.
-- Reads of every kind, overwrites, deletes, compaction (which moves values
-- out of blob files with much garbage), verification and bad options.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FUNCTION blob_stats(regclass) RETURNS TABLE (blob_files int8, live_le_total bool)
LANGUAGE sql AS $$
	SELECT (s->>'blob_files')::int8, (s->>'blob_live_bytes')::int8 <= (s->>'blob_bytes')::int8
	FROM lsm_fdw_stats($1) s $$;

CREATE FOREIGN TABLE b (k int4 OPTIONS (key 'true'), v text, n int4) SERVER lsm
	OPTIONS (blob_min_size '200', on_duplicate 'overwrite');
CREATE TABLE b_heap (k int4 PRIMARY KEY, v text, n int4);
-- short rows stay in the tree, long ones go to blob files
INSERT INTO b SELECT g, CASE WHEN g % 3 = 0 THEN 'short' || g ELSE repeat(md5(g::text), 4 + g % 20) END, g
	FROM generate_series(1, 3000) g;
INSERT INTO b_heap SELECT * FROM b;
SELECT lsm_fdw_flush('b') IS NOT NULL AS flushed;
SELECT blob_files > 0 AS has_blobs, live_le_total FROM blob_stats('b');
-- point gets, a multi-get, ranges both ways, a join: the same as heap
SELECT k, length(v), n FROM b WHERE k IN (1, 2, 3, 2999);
SELECT v = repeat(md5('7'), 11) AS same FROM b WHERE k = 7;
SELECT count(*), sum(length(v)), sum(n) FROM b;
SELECT (SELECT array_agg(md5(v) ORDER BY k) FROM b WHERE k BETWEEN 100 AND 400) =
       (SELECT array_agg(md5(v) ORDER BY k) FROM b_heap WHERE k BETWEEN 100 AND 400) AS range_same;
SELECT (SELECT array_agg(md5(v) ORDER BY k DESC) FROM (SELECT k, v FROM b WHERE k < 500 ORDER BY k DESC LIMIT 50) s) =
       (SELECT array_agg(md5(v) ORDER BY k DESC) FROM (SELECT k, v FROM b_heap WHERE k < 500 ORDER BY k DESC LIMIT 50) s) AS reverse_same;
SELECT count(*) FROM b JOIN b_heap h USING (k) WHERE b.v = h.v;

-- overwrites (half of them now short), deletes, then compaction
UPDATE b SET v = repeat('u' || k, 60) WHERE k % 2 = 0;
UPDATE b_heap SET v = repeat('u' || k, 60) WHERE k % 2 = 0;
INSERT INTO b SELECT g, 'now short', 0 FROM generate_series(1, 3000, 5) g;
INSERT INTO b_heap SELECT g, 'now short', 0 FROM generate_series(1, 3000, 5) g
	ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, n = EXCLUDED.n;
DELETE FROM b WHERE k % 7 = 0;
DELETE FROM b_heap WHERE k % 7 = 0;
SELECT lsm_fdw_flush('b') IS NOT NULL AS flushed;
-- garbage counts from the tables of the current version: the references
-- its compaction drops make a second compaction move the live values out
SELECT (c->>'output_files')::int > 0 AS compacted, (c->>'blob_bytes_relocated')::int8 > 0 AS relocated
	FROM lsm_fdw_compact('b') c;
SELECT blob_files > 0 AS has_blobs, live_le_total FROM blob_stats('b');
SELECT (lsm_fdw_stats('b')->>'blob_live_bytes') = (lsm_fdw_stats('b')->>'blob_bytes') AS no_garbage;
SELECT (c->>'blob_bytes_relocated')::int8 AS relocated_again FROM lsm_fdw_compact('b') c;
SELECT (SELECT array_agg(md5(coalesce(v, '')) || n ORDER BY k) FROM b) =
       (SELECT array_agg(md5(coalesce(v, '')) || n ORDER BY k) FROM b_heap) AS all_same;
SELECT (lsm_fdw_verify('b')->>'problems')::int AS problems;

-- increments over a row whose value is in a blob file
CREATE FOREIGN TABLE bs (k int4 OPTIONS (key 'true'), pad text, n int8) SERVER lsm
	OPTIONS (blob_min_size '100', on_duplicate 'sum');
INSERT INTO bs VALUES (1, repeat('p', 500), 10), (2, 'tiny', 20);
SELECT lsm_fdw_flush('bs') IS NOT NULL AS flushed;
INSERT INTO bs VALUES (1, NULL, 5), (2, NULL, 5), (1, NULL, 1);
SELECT k, length(pad), n FROM bs ORDER BY k;
SELECT (lsm_fdw_compact('bs')->>'output_files')::int > 0 AS compacted;
SELECT k, length(pad), n FROM bs ORDER BY k;

-- 512 bytes by default; 0 keeps every value in the tree; a bad value is refused
CREATE FOREIGN TABLE b_def (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
CREATE FOREIGN TABLE b_off (k int4 OPTIONS (key 'true'), v text) SERVER lsm OPTIONS (blob_min_size '0');
INSERT INTO b_def SELECT g, repeat('x', CASE WHEN g % 2 = 0 THEN 1000 ELSE 400 END) FROM generate_series(1, 100) g;
INSERT INTO b_off SELECT * FROM b_def;
SELECT lsm_fdw_flush('b_def') IS NOT NULL AS flushed, lsm_fdw_flush('b_off') IS NOT NULL AS flushed;
SELECT blob_files, (lsm_fdw_stats('b_def')->>'blob_bytes')::int8 BETWEEN 50 * 1000 AND 50 * 1100 AS only_long
	FROM blob_stats('b_def');
SELECT blob_files FROM blob_stats('b_off');
SELECT count(*), sum(length(v)) FROM b_def;
SELECT count(*), sum(length(v)) FROM b_off;
CREATE FOREIGN TABLE b_bad (k int4 OPTIONS (key 'true')) SERVER lsm OPTIONS (blob_min_size '-1');
CREATE FOREIGN TABLE b_bad (k int4 OPTIONS (key 'true')) SERVER lsm OPTIONS (blob_min_size '1GB');
-- blob_gc_percent: 1 to 99 (50 by default)
CREATE FOREIGN TABLE b_gc (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (blob_min_size '100', blob_gc_percent '20', on_duplicate 'overwrite');
INSERT INTO b_gc SELECT g, repeat(md5(g::text), 10) FROM generate_series(1, 200) g;
SELECT lsm_fdw_flush('b_gc') IS NOT NULL AS flushed;
INSERT INTO b_gc SELECT g, repeat(md5((g + 1)::text), 10) FROM generate_series(1, 200, 2) g;
SELECT lsm_fdw_flush('b_gc') IS NOT NULL AS flushed;
SELECT count(*), sum(length(v)), bool_and(v = repeat(md5((k + k % 2)::text), 10)) AS values_right FROM b_gc;
ALTER FOREIGN TABLE b_gc OPTIONS (SET blob_gc_percent '0');
ALTER FOREIGN TABLE b_gc OPTIONS (SET blob_gc_percent '100');
ALTER FOREIGN TABLE b_gc OPTIONS (SET blob_gc_percent 'half');
ALTER FOREIGN TABLE b_gc OPTIONS (SET blob_gc_percent '99');

-- Dictionaries: the first flush's blob file has none yet (LZ4) and trains
-- one from its values; later flushes write zstd with it, far smaller for
-- values that share their structure.  A new session, which has digested no
-- dictionary, reads them back.
CREATE FOREIGN TABLE b_dict (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (blob_min_size '100', on_duplicate 'overwrite');
CREATE TABLE b_dict_heap (k int4 PRIMARY KEY, v text);
INSERT INTO b_dict_heap SELECT g, format('{"session_id":"%s","user_id":%s,"email":"%s@mail.test",'
	'"agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36",'
	'"locale":"%s","theme":"%s","csrf":"%s","cart":[{"sku":"SKU-%s","qty":%s}]}',
	md5(g::text) || md5((g + 1)::text), 1000000 + g * 7, left(md5((g * 3)::text), 10),
	CASE WHEN g % 2 = 0 THEN 'en-US' ELSE 'ja-JP' END, CASE WHEN g % 5 = 0 THEN 'dark' ELSE 'light' END,
	md5((g * 5)::text), g % 9000, 1 + g % 5) FROM generate_series(1, 2000) g;
SELECT lsm_fdw_stats('b_dict')->>'blob_dict_bytes' AS dict_bytes;
INSERT INTO b_dict SELECT * FROM b_dict_heap WHERE k <= 1000;
SELECT lsm_fdw_flush('b_dict') IS NOT NULL AS flushed;
SELECT (lsm_fdw_stats('b_dict')->>'blob_dict_bytes')::int > 1000 AS has_dict;
SELECT (lsm_fdw_stats('b_dict')->>'blob_file_bytes')::int8 AS first_file \gset
INSERT INTO b_dict SELECT * FROM b_dict_heap WHERE k > 1000;
SELECT lsm_fdw_flush('b_dict') IS NOT NULL AS flushed;
SELECT (lsm_fdw_stats('b_dict')->>'blob_file_bytes')::int8 - :first_file < :first_file / 2 AS second_file_under_half;
\c
SELECT (SELECT array_agg(md5(v) ORDER BY k) FROM b_dict) =
       (SELECT array_agg(md5(v) ORDER BY k) FROM b_dict_heap) AS all_same;
SELECT v = (SELECT v FROM b_dict_heap WHERE k = 1500) AS same FROM b_dict WHERE k = 1500;
SELECT (lsm_fdw_verify('b_dict')->>'problems')::int AS problems,
	(lsm_fdw_verify('b_dict')->'blocks_by_codec'->>'zstd')::int >= 1000 AS zstd_values;

-- A bulk load (past lsm_fdw.spill_threshold) writes its values into the
-- table files, not blob files; the first compaction that rewrites those
-- files moves them to a blob file in zstd with a dictionary it trains from
-- them first (the table had none), far under the values' size.
CREATE FOREIGN TABLE b_load (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (blob_min_size '100');
CREATE VIEW b_load_src AS SELECT k + n * 10000 AS k, v FROM b_dict_heap, generate_series(0, 3) n;
SET lsm_fdw.spill_threshold = '1MB';
INSERT INTO b_load SELECT * FROM b_load_src;
RESET lsm_fdw.spill_threshold;
SELECT (lsm_fdw_stats('b_load')->>'blob_files')::int AS blob_files_after_load,
	(lsm_fdw_stats('b_load')->>'blob_dict_bytes')::int AS dict_after_load,
	(lsm_fdw_stats('b_load')->>'memtable_bytes')::int AS memtable_bytes,
	(lsm_fdw_stats('b_load')->>'files')::int > 0 AS in_files;
SELECT lsm_fdw_compact('b_load') IS NOT NULL AS compacted;
SELECT (lsm_fdw_stats('b_load')->>'blob_files')::int AS blob_files,
	(lsm_fdw_stats('b_load')->>'blob_dict_bytes')::int > 1000 AS has_dict,
	(lsm_fdw_stats('b_load')->>'bytes_blob_relocated')::int8 >=
		(SELECT sum(octet_length(v)) FROM b_load_src) AS all_values_moved,
	(lsm_fdw_stats('b_load')->>'blob_file_bytes')::int8 * 3 <
		(SELECT sum(octet_length(v)) FROM b_load_src) AS under_a_third;
\c
SELECT (SELECT array_agg(md5(v) ORDER BY k) FROM b_load) =
       (SELECT array_agg(md5(v) ORDER BY k) FROM b_load_src) AS all_same;
SELECT (lsm_fdw_verify('b_load')->>'problems')::int AS problems;

SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
DROP VIEW b_load_src;
DROP TABLE b_heap, b_dict_heap;
DROP FUNCTION blob_stats(regclass);
