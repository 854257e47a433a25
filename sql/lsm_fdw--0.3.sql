/* lsm_fdw--0.3.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lsm_fdw" to load this file. \quit

CREATE FUNCTION lsm_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION lsm_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER lsm_fdw
  HANDLER lsm_fdw_handler
  VALIDATOR lsm_fdw_validator;

CREATE FUNCTION lsm_fdw_stats(regclass)
RETURNS jsonb
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION lsm_fdw_server_stats()
RETURNS jsonb
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION lsm_fdw_flush(regclass)
RETURNS jsonb
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION lsm_fdw_verify(regclass)
RETURNS jsonb
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION lsm_fdw_compact(regclass)
RETURNS jsonb
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION lsm_fdw_handler() IS 'foreign-data wrapper handler of lsm_fdw';
COMMENT ON FUNCTION lsm_fdw_validator(text[], oid) IS 'validates the options of lsm_fdw servers, foreign tables and columns';
COMMENT ON FUNCTION lsm_fdw_stats(regclass) IS 'engine statistics of one lsm_fdw table: levels, files, bytes, counters (see the README for every field)';
COMMENT ON FUNCTION lsm_fdw_server_stats() IS 'server-wide lsm_fdw statistics: shared memory, memtable pool, block cache, server log (superusers and pg_read_all_stats)';
COMMENT ON FUNCTION lsm_fdw_flush(regclass) IS 'writes the memtables of an lsm_fdw table to SSTables (owner or superuser)';
COMMENT ON FUNCTION lsm_fdw_verify(regclass) IS 'reads and checks every SSTable of an lsm_fdw table against its checksums (owner or superuser)';
COMMENT ON FUNCTION lsm_fdw_compact(regclass) IS 'compacts an lsm_fdw table fully (owner or superuser)';

-- Server-wide statistics are for monitoring roles only, as pg_stat_* server views are.
REVOKE ALL ON FUNCTION lsm_fdw_server_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lsm_fdw_server_stats() TO pg_read_all_stats;

CREATE FUNCTION lsm_fdw_rebuild(regclass)
RETURNS bigint
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION lsm_fdw_rebuild(regclass) IS 're-encodes the keys of an lsm_fdw table with the current collation versions, bringing it to key format 2 (owner or superuser)';

CREATE FUNCTION lsm_fdw_backup(target_dir text)
RETURNS jsonb
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION lsm_fdw_backup(text) IS 'writes a consistent copy of every lsm_fdw table of the server, with the server log up to one point, into a new directory while writes go on (superusers and pg_write_server_files)';
-- It writes server files, as COPY TO a file does: the same roles may.
REVOKE ALL ON FUNCTION lsm_fdw_backup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lsm_fdw_backup(text) TO pg_write_server_files;

CREATE FUNCTION lsm_fdw_orphans(remove boolean DEFAULT false)
RETURNS TABLE (table_oid oid, path text, bytes bigint, removed boolean)
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION lsm_fdw_orphans(boolean) IS 'lists the lsm_fdw directories of the current database that belong to no lsm_fdw table (a crash during an open CREATE FOREIGN TABLE that wrote to it leaves one), and removes them when remove is true (superusers)';
-- It removes files in the data directory: superusers only.
REVOKE ALL ON FUNCTION lsm_fdw_orphans(boolean) FROM PUBLIC;
