/*
 * lsm_fdw.c
 *		Module entry points of lsm_fdw: library load and the FDW handler.
 *
 * lsm_fdw keeps its engine state in shared memory reserved at server start,
 * so the library must be listed in shared_preload_libraries.  Loading it any
 * other way (CREATE EXTENSION, or a first call of one of its functions in a
 * server that did not preload it) fails with a hint that says what to set.
 */
#include "postgres.h"

#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "lsm_fdw.h"
#include "lsm_spill.h"
#include "lsm_shared.h"
#include "lsm_wait.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(lsm_fdw_handler);

/* The spellings Postgres accepts for its own synchronous_commit, plus auto. */
static const struct config_enum_entry sync_commit_options[] = {
	{"auto", LSM_SYNC_COMMIT_AUTO, false},
	{"on", LSM_SYNC_COMMIT_ON, false},
	{"off", LSM_SYNC_COMMIT_OFF, false},
	{"true", LSM_SYNC_COMMIT_ON, true},
	{"false", LSM_SYNC_COMMIT_OFF, true},
	{"yes", LSM_SYNC_COMMIT_ON, true},
	{"no", LSM_SYNC_COMMIT_OFF, true},
	{"1", LSM_SYNC_COMMIT_ON, true},
	{"0", LSM_SYNC_COMMIT_OFF, true},
	{NULL, 0, false}
};

/*
 * _PG_init
 *		Refuse to load outside shared_preload_libraries.
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lsm_fdw must be loaded via shared_preload_libraries"),
				 errdetail("lsm_fdw keeps its tables' engine state in shared memory, which is reserved at server start."),
				 errhint("Add lsm_fdw to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'lsm_fdw') and restart the server.")));

	DefineCustomIntVariable("lsm_fdw.max_transaction_memory",
							"Memory one transaction may use for its writes to lsm_fdw tables.",
							"Writes are kept in backend memory until commit.",
							&lsm_max_transaction_memory,
							256 * 1024, 64, INT_MAX / 4,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lsm_fdw.spill_threshold",
							"Size of a transaction's writes to one table past which they spill to sorted files.",
							"A bigger transaction writes sorted runs in temporary files and commits by "
							"ingesting SSTables into the table (bulk load); 0 never spills.",
							&lsm_spill_threshold,
							64 * 1024, 0, INT_MAX / 4,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lsm_fdw.debug_ingest_delay",
							"Sleep before a bulk commit's ingest, once its record is durable (tests only).",
							NULL,
							&lsm_debug_ingest_delay,
							0, 0, 60000,
							PGC_SUSET, GUC_UNIT_MS | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lsm_fdw.bulk_build_workers",
							"Background workers that write a bulk commit's files beside the committing backend.",
							"A commit of a load that spilled two runs or more cuts its merge into key ranges; "
							"each worker writes one (a worker that cannot start leaves its range to the backend). "
							"0 writes everything in the backend.",
							&lsm_bulk_build_workers,
							1, 0, 8,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lsm_fdw.debug_bulk_build_fault",
							"Make a bulk commit's worker fail (1), not start (2) or wait 60 s after its files (3) (tests only).",
							NULL,
							&lsm_debug_bulk_build_fault,
							0, 0, 3,
							PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("lsm_fdw.synchronous_commit",
							 "Whether a commit to lsm_fdw tables waits for its log to reach disk.",
							 "auto follows synchronous_commit. When off, a commit survives a crash of "
							 "Postgres but not of the machine until the log is synced (lsm_fdw.wal_sync_delay).",
							 &lsm_synchronous_commit,
							 LSM_SYNC_COMMIT_AUTO,
							 sync_commit_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("lsm_fdw.wal_sync_delay",
							"With lsm_fdw.synchronous_commit off, how old unsynced commits may get before a commit syncs them.",
							NULL,
							&lsm_wal_sync_delay,
							200, 1, 10000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lsm_fdw.max_key_locks_per_transaction",
							"Key locks a transaction takes before it locks each further lsm_fdw table it writes as a whole.",
							NULL,
							&lsm_max_key_locks_per_transaction,
							1000, 0, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	lsm_shmem_define_gucs();
	lsm_wait_define_gucs();
	lsm_blind_order_define_gucs();
	lsm_idle_close_define_gucs();

	lsm_install_drop_hook();
	lsm_install_ddl_hook();
	lsm_shmem_install_hooks();
	lsm_register_workers();
	lsm_xact_init();
	lsm_snapshot_install_hook();

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("lsm_fdw");
#else
	EmitWarningsOnPlaceholders("lsm_fdw");
#endif
}

/*
 * lsm_fdw_handler
 *		The FdwRoutine with lsm_fdw's callbacks.
 */
Datum
lsm_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = lsmGetForeignRelSize;
	routine->GetForeignPaths = lsmGetForeignPaths;
	routine->GetForeignPlan = lsmGetForeignPlan;
	routine->BeginForeignScan = lsmBeginForeignScan;
	routine->IterateForeignScan = lsmIterateForeignScan;
	routine->ReScanForeignScan = lsmReScanForeignScan;
	routine->EndForeignScan = lsmEndForeignScan;
	routine->ExplainForeignScan = lsmExplainForeignScan;
	routine->AnalyzeForeignTable = lsmAnalyzeForeignTable;
	lsm_set_modify_callbacks(routine);
	lsm_set_direct_modify_callbacks(routine);

	PG_RETURN_POINTER(routine);
}
