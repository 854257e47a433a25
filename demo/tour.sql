-- A short scripted tour of lsm_fdw.
\dx lsm_fdw
\des+
\d sessions
-- The storage engine is not yet connected to the executor: this fails
-- cleanly (0A000) until it is.
SELECT * FROM sessions WHERE id = 's:1';
