-- The background workers run lsm_fdw.worker_nice below the backends' CPU
-- priority (the nice value is field 19 of /proc/<pid>/stat), also after a
-- reload raised the setting.  They are the postmaster's children whose
-- process title names them.
CREATE FUNCTION nice_of(pid int) RETURNS int LANGUAGE sql AS
	$$ SELECT (string_to_array(split_part(pg_read_file('/proc/' || pid || '/stat'), ') ', 2), ' '))[17]::int $$;
CREATE FUNCTION worker_nice() RETURNS TABLE (worker text, workers bigint, nice_above_backend int)
	LANGUAGE sql AS $$
	SELECT w, count(*), min(nice_of(c) - nice_of(pg_backend_pid()))
	  FROM (SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)::int AS pm) p,
	       unnest(string_to_array(btrim(pg_read_file('/proc/' || pm || '/task/' || pm || '/children')),
	                              ' ')::int[]) c,
	       pg_read_binary_file('/proc/' || c || '/cmdline', 0, 200, true) cmd,
	       LATERAL (SELECT CASE WHEN position('lsm_fdw compaction'::bytea IN cmd) > 0 THEN 'compaction'
	                            WHEN position('lsm_fdw maintenance'::bytea IN cmd) > 0 THEN 'maintenance'
	                       END AS w) k
	 WHERE w IS NOT NULL
	 GROUP BY w ORDER BY w $$;
SHOW lsm_fdw.worker_nice;
SELECT * FROM worker_nice();
ALTER SYSTEM SET lsm_fdw.worker_nice = 13;
SELECT pg_reload_conf();
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN (SELECT min(nice_above_backend) FROM worker_nice()) = 13;
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT * FROM worker_nice();
ALTER SYSTEM RESET lsm_fdw.worker_nice;
SELECT pg_reload_conf();
DROP FUNCTION worker_nice();
DROP FUNCTION nice_of(int);
