-- The demo's schema and data: a session store in lsm_fdw next to a heap
-- table of users.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;

CREATE FOREIGN TABLE sessions (
	id      text OPTIONS (key 'true'),
	user_id int8,
	data    jsonb,
	seen_at timestamptz
) SERVER lsm OPTIONS (compaction 'leveled', compression 'zstd');

CREATE FOREIGN TABLE counters (
	name text OPTIONS (key 'true'),
	n    int8
) SERVER lsm OPTIONS (on_duplicate 'overwrite');

CREATE TABLE users (id int8 PRIMARY KEY, name text, session_id text);

INSERT INTO users
SELECT g, 'user ' || g, 's:' || lpad((g * 7 % 100000)::text, 6, '0')
  FROM generate_series(1, 10000) g;

INSERT INTO sessions
SELECT 's:' || lpad(g::text, 6, '0'),
       g % 10000 + 1,
       jsonb_build_object('cart', g % 17, 'agent', 'browser/' || (g % 5), 'ip', '10.0.' || (g % 256) || '.' || (g % 199)),
       '2026-11-01'::timestamptz + g * interval '13 seconds'
  FROM generate_series(1, 100000) g;

INSERT INTO counters SELECT 'page:' || g, g * 3 FROM generate_series(1, 1000) g;
ANALYZE users;
