-- CREATE DATABASE ... TEMPLATE: the rows of lsm_fdw tables live outside the
-- database directory and are not copied, so a template whose lsm tables
-- were used is refused; one whose lsm tables were never used is copied.
CREATE DATABASE lsm_tmpl;
\c lsm_tmpl
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE unused (k int OPTIONS (key 'true'), v text) SERVER lsm;
\c regression
CREATE DATABASE lsm_copy1 TEMPLATE lsm_tmpl;
\c lsm_copy1
INSERT INTO unused VALUES (1, 'new');
SELECT * FROM unused;
\c lsm_tmpl
CREATE FOREIGN TABLE kv (k int OPTIONS (key 'true'), v text) SERVER lsm;
INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 100) g;
\c regression
CREATE DATABASE lsm_copy2 TEMPLATE lsm_tmpl;
CREATE DATABASE lsm_copy2 WITH TEMPLATE = lsm_tmpl STRATEGY = file_copy;
SELECT count(*) FROM pg_database WHERE datname = 'lsm_copy2';
-- template1 is the default template
\c template1
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE t1 (k int OPTIONS (key 'true')) SERVER lsm;
INSERT INTO t1 VALUES (1);
\c regression
CREATE DATABASE lsm_copy3;
\c template1
DROP EXTENSION lsm_fdw CASCADE;
\c regression
CREATE DATABASE lsm_copy3;
DROP DATABASE lsm_copy3;
DROP DATABASE lsm_copy1;
DROP DATABASE lsm_tmpl;
