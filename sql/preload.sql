-- Without shared_preload_libraries the extension refuses to load.
CREATE EXTENSION lsm_fdw;
SELECT count(*) AS lsm_extensions FROM pg_extension WHERE extname = 'lsm_fdw';
