-- Compression per level: level 0 and the upper levels use compression_upper
-- (default lz4), tables with nothing below them use compression (default
-- zstd).  lsm_fdw_verify counts the data blocks of each codec.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FUNCTION codecs(regclass) RETURNS jsonb LANGUAGE sql AS
	$$ SELECT lsm_fdw_verify($1)->'blocks_by_codec' $$;

CREATE FOREIGN TABLE c_default (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
INSERT INTO c_default SELECT g, repeat('compressible ', 20) || g FROM generate_series(1, 3000) g;
SELECT lsm_fdw_flush('c_default') IS NOT NULL AS flushed;
SELECT codecs('c_default')->'lz4' > '0' AS lz4, codecs('c_default')->'zstd' AS zstd,
       codecs('c_default')->'none' AS none;
SELECT (lsm_fdw_compact('c_default')->>'output_files')::int > 0 AS compacted;
SELECT codecs('c_default')->'lz4' AS lz4, codecs('c_default')->'zstd' > '0' AS zstd,
       codecs('c_default')->'none' AS none;
SELECT count(*), sum(length(v)) FROM c_default;

-- a load's files (a transaction past spill_threshold) go to the bottom level
-- with compression_upper, as a flush's do
CREATE FOREIGN TABLE c_load (k int4 OPTIONS (key 'true'), v text) SERVER lsm;
SET lsm_fdw.spill_threshold = '64kB';
INSERT INTO c_load SELECT g, repeat('compressible ', 20) || g FROM generate_series(1, 3000) g;
RESET lsm_fdw.spill_threshold;
SELECT (lsm_fdw_stats('c_load')->'levels'->6->>'files')::int > 0 AS bottom,
       (lsm_fdw_stats('c_load')->'levels'->0->>'files')::int AS level0,
       codecs('c_load')->'lz4' > '0' AS lz4, codecs('c_load')->'zstd' AS zstd;
SELECT count(*), sum(length(v)) FROM c_load;

-- the other way round, and no compression at all
CREATE FOREIGN TABLE c_swapped (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (compression 'lz4', compression_upper 'zstd');
CREATE FOREIGN TABLE c_none (k int4 OPTIONS (key 'true'), v text) SERVER lsm
	OPTIONS (compression 'none', compression_upper 'none');
INSERT INTO c_swapped SELECT g, repeat('compressible ', 20) || g FROM generate_series(1, 3000) g;
INSERT INTO c_none SELECT g, repeat('compressible ', 20) || g FROM generate_series(1, 3000) g;
SELECT lsm_fdw_flush('c_swapped') IS NOT NULL AS flushed, lsm_fdw_flush('c_none') IS NOT NULL AS flushed;
SELECT codecs('c_swapped')->'zstd' > '0' AS zstd, codecs('c_swapped')->'lz4' AS lz4,
       codecs('c_none')->'none' > '0' AS none, codecs('c_none')->'lz4' AS lz4,
       codecs('c_none')->'zstd' AS zstd;
SELECT (lsm_fdw_compact('c_swapped')->>'output_files')::int > 0 AS compacted;
SELECT codecs('c_swapped')->'lz4' > '0' AS lz4, codecs('c_swapped')->'zstd' AS zstd;
SELECT count(*), sum(length(v)) FROM c_swapped;

-- the server's default, overridden by a table
CREATE SERVER lsm_z FOREIGN DATA WRAPPER lsm_fdw OPTIONS (compression_upper 'zstd');
CREATE FOREIGN TABLE c_server (k int4 OPTIONS (key 'true'), v text) SERVER lsm_z;
CREATE FOREIGN TABLE c_table (k int4 OPTIONS (key 'true'), v text) SERVER lsm_z
	OPTIONS (compression_upper 'none');
INSERT INTO c_server SELECT g, repeat('compressible ', 20) FROM generate_series(1, 500) g;
INSERT INTO c_table SELECT g, repeat('compressible ', 20) FROM generate_series(1, 500) g;
SELECT lsm_fdw_flush('c_server') IS NOT NULL AS flushed, lsm_fdw_flush('c_table') IS NOT NULL AS flushed;
SELECT codecs('c_server')->'zstd' > '0' AS server_zstd, codecs('c_table')->'none' > '0' AS table_none,
       codecs('c_table')->'zstd' AS table_zstd;

-- bad values
CREATE FOREIGN TABLE c_bad (k int4 OPTIONS (key 'true')) SERVER lsm OPTIONS (compression_upper 'snappy');
CREATE FOREIGN TABLE c_bad (k int4 OPTIONS (key 'true')) SERVER lsm OPTIONS (compression 'lz5');
ALTER FOREIGN TABLE c_default OPTIONS (ADD compression_upper 'gzip');
ALTER FOREIGN TABLE c_default OPTIONS (ADD compression_upper 'none');
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'c_default'::regclass;

SET client_min_messages = warning;
DROP EXTENSION lsm_fdw CASCADE;
RESET client_min_messages;
DROP FUNCTION codecs(regclass);
