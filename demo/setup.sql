-- The demo's schema: the extension, a server and a foreign table.
CREATE EXTENSION lsm_fdw;
CREATE SERVER lsm FOREIGN DATA WRAPPER lsm_fdw;
CREATE FOREIGN TABLE sessions (
	id      text OPTIONS (key 'true'),
	user_id int8,
	data    jsonb,
	seen_at timestamptz
) SERVER lsm OPTIONS (compaction 'leveled', compression 'zstd');
