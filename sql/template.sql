-- CREATE DATABASE ... TEMPLATE copies the files of the template's lsm_fdw
-- tables (they live outside the database directory): the copy's tables
-- hold the template's rows, and the two are independent afterwards.
CREATE DATABASE lsm_tmpl;
\c lsm_tmpl
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE unused (k int OPTIONS (key 'true'), v text) SERVER lsm;
CREATE FOREIGN TABLE kv (k int OPTIONS (key 'true'), v text) SERVER lsm;
INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 100) g;
SELECT lsm_fdw_flush('kv')->>'files_written' AS files_written;
-- these stay in the memtable until the copy flushes them
INSERT INTO kv SELECT g, 'w' || g FROM generate_series(101, 150) g;
DELETE FROM kv WHERE k % 10 = 0;
CREATE FOREIGN TABLE comp (a text OPTIONS (key 'true'), b int OPTIONS (key 'true'), v text) SERVER lsm;
INSERT INTO comp VALUES ('x', 2, 'x2'), ('x', 1, 'x1'), ('a', 9, 'a9');
\c regression
CREATE DATABASE lsm_copy TEMPLATE lsm_tmpl;
\c lsm_copy
SELECT count(*), sum(k), min(v), max(v) FROM kv;
SELECT * FROM comp;
SELECT * FROM unused;
INSERT INTO kv VALUES (1000, 'copy only');
UPDATE comp SET v = 'changed' WHERE a = 'x' AND b = 1;
INSERT INTO unused VALUES (1, 'copy');
\c lsm_tmpl
SELECT count(*), sum(k), min(v), max(v) FROM kv;
SELECT * FROM comp;
SELECT * FROM unused;
INSERT INTO kv VALUES (2000, 'template only');
\c lsm_copy
SELECT k, v FROM kv WHERE k >= 1000;
SELECT * FROM comp;
-- a second copy, with the template's tables closed by the first one
\c regression
CREATE DATABASE lsm_copy2 WITH TEMPLATE = lsm_tmpl STRATEGY = file_copy;
\c lsm_copy2
SELECT count(*), sum(k) FROM kv;
SELECT k, v FROM kv WHERE k >= 1000;
-- template1 is the default template
\c template1
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE t1 (k int OPTIONS (key 'true')) SERVER lsm;
INSERT INTO t1 VALUES (1), (2);
\c regression
CREATE DATABASE lsm_copy3;
\c lsm_copy3
SELECT * FROM t1;
\c template1
DROP EXTENSION lsm_fdw CASCADE;
\c regression
DROP DATABASE lsm_copy3;
DROP DATABASE lsm_copy2;
DROP DATABASE lsm_copy;
DROP DATABASE lsm_tmpl;
