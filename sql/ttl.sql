-- TTL: rows whose ttl_column is at or before the transaction's start time
-- are invisible to every read; compaction drops them (t/015_ttl.pl).
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
-- option validation
CREATE FOREIGN TABLE t_bad (k int4 OPTIONS (key 'true'), e timestamptz) SERVER lsm
  OPTIONS (ttl_column 'nope');
CREATE FOREIGN TABLE t_bad (k int4 OPTIONS (key 'true'), e timestamp) SERVER lsm
  OPTIONS (ttl_column 'e');
CREATE FOREIGN TABLE t_bad (k timestamptz OPTIONS (key 'true'), v text) SERVER lsm
  OPTIONS (ttl_column 'k');
CREATE SERVER lsm_bad FOREIGN DATA WRAPPER lsm_fdw OPTIONS (ttl_column 'e');
CREATE FOREIGN TABLE t (k int4 OPTIONS (key 'true'), v text, e timestamptz) SERVER lsm
  OPTIONS (ttl_column 'e');
ALTER FOREIGN TABLE t OPTIONS (SET ttl_column 'v');
ALTER FOREIGN TABLE t DROP COLUMN e;
-- visibility: expired, NULL (never expires), future
INSERT INTO t VALUES (1, 'gone', now() - interval '1 hour'),
                     (2, 'forever', NULL),
                     (3, 'later', now() + interval '1 hour'),
                     (4, 'gone too', now() - interval '1 second'),
                     (5, 'later too', now() + interval '1 day');
SELECT k, v FROM t ORDER BY k;
SELECT count(*) FROM t;
SELECT k, v FROM t WHERE k = 1;
SELECT k, v FROM t WHERE k = 2;
SELECT k, v FROM t WHERE k IN (1, 3, 4) ORDER BY k;
SELECT k, v FROM t WHERE k BETWEEN 1 AND 4 ORDER BY k;
-- pushed-down key order and LIMIT see only live rows
SELECT k FROM t ORDER BY k LIMIT 2;
SELECT k FROM t ORDER BY k DESC LIMIT 2;
-- UPDATE and DELETE do not find expired rows
UPDATE t SET v = 'revived' WHERE k = 1;
UPDATE t SET v = 'revived' WHERE k IN (1, 4);
DELETE FROM t WHERE k = 4;
DELETE FROM t WHERE k < 3 RETURNING k, v;
SELECT k, v FROM t ORDER BY k;
-- INSERT over an expired key succeeds: the key holds no row
INSERT INTO t VALUES (1, 'new', NULL);
SELECT k, v, e FROM t WHERE k = 1;
INSERT INTO t VALUES (1, 'dup', NULL);
-- a row inserted already expired is invisible, also to its own transaction
BEGIN;
INSERT INTO t VALUES (6, 'born dead', now() - interval '1 minute');
SELECT k FROM t WHERE k = 6;
SELECT count(*) FROM t;
INSERT INTO t VALUES (6, 'again', now() + interval '1 minute');
SELECT k, v FROM t WHERE k = 6;
COMMIT;
-- expiry inside a transaction: the read time is the transaction's start
-- (now()), so a row that expires during a transaction stays visible to it
BEGIN;
INSERT INTO t VALUES (7, 'soon', now() + interval '1 second'),
                     (8, 'soon, moved', now() + interval '1 second');
SELECT k, v FROM t WHERE k IN (7, 8) ORDER BY k;
-- an UPDATE that moves expires_at forward keeps a row alive
UPDATE t SET e = e + interval '1 hour' WHERE k = 8;
SELECT pg_sleep(1.2);
SELECT k, v FROM t WHERE k IN (7, 8) ORDER BY k;
SELECT count(*) FROM t WHERE k >= 7;
COMMIT;
-- a later transaction no longer sees row 7
SELECT k, v FROM t WHERE k IN (7, 8) ORDER BY k;
SELECT k, v FROM t WHERE k >= 7 ORDER BY k;
UPDATE t SET v = 'late' WHERE k = 7;
-- without the option every row shows again
ALTER FOREIGN TABLE t OPTIONS (DROP ttl_column);
SELECT k, v FROM t ORDER BY k;
ALTER FOREIGN TABLE t OPTIONS (ADD ttl_column 'e');
SELECT k, v FROM t ORDER BY k;
-- ttl: rows expire that long after the time in ttl_column
CREATE FOREIGN TABLE sess (id int4 OPTIONS (key 'true'), seen timestamptz) SERVER lsm
  OPTIONS (ttl_column 'seen', ttl '30 minutes');
INSERT INTO sess VALUES (1, now() - interval '31 minutes'), (2, now() - interval '29 minutes'),
                        (3, NULL), (4, 'infinity'), (5, '-infinity'),
                        (6, now() - interval '30 minutes');
SELECT id FROM sess ORDER BY id;
UPDATE sess SET seen = now() WHERE id = 1;
INSERT INTO sess VALUES (1, now());
SELECT id FROM sess WHERE id IN (1, 2, 6) ORDER BY id;
ALTER FOREIGN TABLE sess OPTIONS (SET ttl '1 hour');
SELECT id FROM sess ORDER BY id;
ALTER FOREIGN TABLE sess OPTIONS (SET ttl '1 day');
ALTER FOREIGN TABLE sess OPTIONS (SET ttl '-5 minutes');
ALTER FOREIGN TABLE sess OPTIONS (SET ttl 'soon');
ALTER FOREIGN TABLE sess OPTIONS (DROP ttl_column);
CREATE FOREIGN TABLE t_bad (k int4 OPTIONS (key 'true'), e timestamptz) SERVER lsm
  OPTIONS (ttl '1 hour');
-- Renaming the ttl_column renames it in the option too (until round 2
-- session 18 the option kept the old name and every access failed).
CREATE FOREIGN TABLE ren (k int OPTIONS (key 'true'), exp timestamptz, v int) SERVER lsm
  OPTIONS (ttl_column 'exp');
INSERT INTO ren VALUES (1, now() + interval '1 hour', 1), (2, now() - interval '1 hour', 2);
ALTER FOREIGN TABLE ren RENAME COLUMN exp TO "expires At";
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'ren'::regclass;
SELECT k, v FROM ren ORDER BY k;
ALTER TABLE ren RENAME COLUMN v TO exp;
SELECT k, exp FROM ren ORDER BY k;
INSERT INTO ren VALUES (3, NULL, 3);
SELECT count(*) FROM ren;
DROP FOREIGN TABLE ren;
DROP FOREIGN TABLE sess;
DROP FOREIGN TABLE t;
DROP SERVER lsm;
DROP EXTENSION lsm_fdw;
