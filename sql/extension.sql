-- The extension's SQL objects: privileges, comments, and the upgrades from 0.1.
-- Runs in its own database, so that it can drop and recreate the extension.
CREATE DATABASE lsm_extension_test;
\c lsm_extension_test

-- The upgrade path: 0.1 + ALTER EXTENSION UPDATE must give exactly what a
-- fresh install of the default version gives (signatures, results,
-- strictness, volatility, comments, privileges).
CREATE EXTENSION lsm_fdw VERSION '0.1';
ALTER EXTENSION lsm_fdw UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lsm_fdw';
-- the extension's functions as the catalogs describe them (the view stays
-- valid across DROP/CREATE EXTENSION: it names no extension object)
CREATE VIEW lsm_objects AS
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       pg_get_function_result(p.oid) AS result, p.proisstrict, p.provolatile,
       obj_description(p.oid, 'pg_proc') AS comment, p.proacl::text AS acl
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'lsm_fdw';
CREATE TABLE upgraded AS SELECT * FROM lsm_objects;
DROP EXTENSION lsm_fdw;
CREATE EXTENSION lsm_fdw;
SELECT count(*) > 0 AS has_functions FROM lsm_objects;
-- no difference either way
(SELECT * FROM lsm_objects EXCEPT SELECT * FROM upgraded)
UNION ALL
(SELECT * FROM upgraded EXCEPT SELECT * FROM lsm_objects);

-- every function is documented
SELECT proname FROM lsm_objects WHERE comment IS NULL;

-- lsm_fdw_server_stats() is for superusers and pg_read_all_stats only
CREATE ROLE lsm_ext_user;
SET ROLE lsm_ext_user;
SELECT lsm_fdw_server_stats() IS NOT NULL AS allowed;
RESET ROLE;
GRANT pg_read_all_stats TO lsm_ext_user;
SET ROLE lsm_ext_user;
SELECT lsm_fdw_server_stats() ? 'shared_memory_bytes' AS allowed;
RESET ROLE;

-- lsm_fdw_backup() is for superusers and pg_write_server_files only, and
-- checks its directory before it writes anything
SET ROLE lsm_ext_user;
SELECT lsm_fdw_backup('/tmp/lsm_backup_not_allowed');
RESET ROLE;
GRANT pg_write_server_files TO lsm_ext_user;
SET ROLE lsm_ext_user;
SELECT lsm_fdw_backup('relative/dir');
RESET ROLE;

-- lsm_fdw_orphans() removes files in the data directory: superusers only
SET ROLE lsm_ext_user;
SELECT * FROM lsm_fdw_orphans();
RESET ROLE;
DROP ROLE lsm_ext_user;

\c regression
DROP DATABASE lsm_extension_test;
