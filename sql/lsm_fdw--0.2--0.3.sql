/* lsm_fdw--0.2--0.3.sql: from 0.2 to 0.3 (ALTER EXTENSION lsm_fdw UPDATE) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lsm_fdw UPDATE TO '0.3'" to load this file. \quit

CREATE FUNCTION lsm_fdw_orphans(remove boolean DEFAULT false)
RETURNS TABLE (table_oid oid, path text, bytes bigint, removed boolean)
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION lsm_fdw_orphans(boolean) IS 'lists the lsm_fdw directories of the current database that belong to no lsm_fdw table (a crash during an open CREATE FOREIGN TABLE that wrote to it leaves one), and removes them when remove is true (superusers)';
-- It removes files in the data directory: superusers only.
REVOKE ALL ON FUNCTION lsm_fdw_orphans(boolean) FROM PUBLIC;
