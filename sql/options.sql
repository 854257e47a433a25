-- Option validation on servers, foreign tables and columns.
CREATE EXTENSION lsm_fdw;

-- Reports the SQLSTATE and message of a statement, or 'ok'.
CREATE FUNCTION sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE SERVER lsm_tuned FOREIGN DATA WRAPPER lsm_fdw
	OPTIONS (compression 'none', memtable_size '16MB', compaction 'tiered');

CREATE FOREIGN TABLE sessions (
	id      text OPTIONS (key 'true'),
	user_id int8,
	data    jsonb
) SERVER lsm OPTIONS (compaction 'leveled', compression 'zstd',
	compression_level '5', block_size '8kB', bloom_bits_per_key '12',
	memtable_size '32MB', on_duplicate 'overwrite');

SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'sessions'::regclass;
SELECT attname, attfdwoptions FROM pg_attribute
 WHERE attrelid = 'sessions'::regclass AND attnum > 0 ORDER BY attnum;

-- Unknown options name the valid ones.
CREATE FOREIGN TABLE bad1 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (compresion 'zstd');
CREATE FOREIGN TABLE bad2 (k int OPTIONS (primary 'true')) SERVER lsm;
CREATE FOREIGN DATA WRAPPER lsm_fdw2 HANDLER lsm_fdw_handler VALIDATOR lsm_fdw_validator OPTIONS (x '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER lsm OPTIONS (user 'x');
CREATE SERVER bad_server FOREIGN DATA WRAPPER lsm_fdw OPTIONS (on_duplicate 'ignore');

-- Bad values name the allowed ones.
CREATE FOREIGN TABLE bad3 (k int OPTIONS (key 'yes please')) SERVER lsm;
CREATE FOREIGN TABLE bad4 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (compaction 'universal');
CREATE FOREIGN TABLE bad5 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (compression 'snappy');
CREATE FOREIGN TABLE bad6 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (compression_level '0');
CREATE FOREIGN TABLE bad7 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (block_size '100');
CREATE FOREIGN TABLE bad8 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (memtable_size '2GB');
CREATE FOREIGN TABLE bad9 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (bloom_bits_per_key 'ten');

-- Sizes and integers are whole numbers: no fractions, exponents or hex.
CREATE FOREIGN TABLE bad10 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (block_size '1.5kB');
CREATE FOREIGN TABLE bad11 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (memtable_size '1.5MB');
CREATE FOREIGN TABLE bad12 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (block_size '4e3');
CREATE FOREIGN TABLE bad13 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (block_size '0x1000');
CREATE FOREIGN TABLE bad14 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (compression_level '3.5');
CREATE FOREIGN TABLE bad15 (k int OPTIONS (key 'true')) SERVER lsm OPTIONS (bloom_bits_per_key '1e1');
ALTER SERVER lsm OPTIONS (ADD block_size '2.5kB');
CREATE FOREIGN TABLE sizes_ok (k int OPTIONS (key 'true')) SERVER lsm
	OPTIONS (block_size ' 2048 ', memtable_size '2 MB', compression_level '+4');
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'sizes_ok'::regclass;
DROP FOREIGN TABLE sizes_ok;

-- The SQLSTATEs.
SELECT sqlstate_of($$CREATE FOREIGN TABLE bad (k int) SERVER lsm OPTIONS (nonsense '1')$$);
SELECT sqlstate_of($$CREATE FOREIGN TABLE bad (k int) SERVER lsm OPTIONS (compression 'snappy')$$);
SELECT sqlstate_of($$ALTER FOREIGN TABLE sessions OPTIONS (SET block_size '3 parsecs')$$);

-- ALTER validates too, and good values are accepted.
ALTER FOREIGN TABLE sessions OPTIONS (SET compression 'none');
ALTER FOREIGN TABLE sessions ALTER COLUMN user_id OPTIONS (ADD key 'false');
ALTER SERVER lsm OPTIONS (ADD bloom_bits_per_key '0');
ALTER SERVER lsm OPTIONS (ADD memtable_size 'big');

DROP FOREIGN TABLE sessions;
DROP SERVER lsm_tuned;
DROP SERVER lsm;
DROP EXTENSION lsm_fdw;
DROP FUNCTION sqlstate_of(text);
