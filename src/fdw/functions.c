/*
 * functions.c
 *		SQL-callable maintenance functions: lsm_fdw_stats, lsm_fdw_flush
 *		and lsm_fdw_verify.
 *
 * Flush and verify are for the table's owner (or a superuser); stats are
 * readable by anyone who may read the table.
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "shm_heap.h"

PG_FUNCTION_INFO_V1(lsm_fdw_stats);
PG_FUNCTION_INFO_V1(lsm_fdw_server_stats);
PG_FUNCTION_INFO_V1(lsm_fdw_flush);
PG_FUNCTION_INFO_V1(lsm_fdw_verify);
PG_FUNCTION_INFO_V1(lsm_fdw_compact);

/*
 * Open relid for a maintenance function, checking that it is a lsm_fdw
 * table and that the user may do what is asked.
 */
static Relation
open_for_function(Oid relid, bool need_owner, const char *fname)
{
	Relation	rel;

	if (!lsm_is_lsm_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a lsm_fdw foreign table",
						get_rel_name(relid) ? get_rel_name(relid) : "?"),
				 errhint("%s() takes a foreign table of a lsm_fdw server.", fname)));
	if (need_owner)
	{
#if PG_VERSION_NUM >= 160000
		if (!object_ownercheck(RelationRelationId, relid, GetUserId()))
#else
		if (!pg_class_ownercheck(relid, GetUserId()))
#endif
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_FOREIGN_TABLE, get_rel_name(relid));
	}
	else if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FOREIGN_TABLE, get_rel_name(relid));
	rel = relation_open(relid, AccessShareLock);
	return rel;
}

/*
 * lsm_fdw_stats(regclass) returns jsonb
 *		The engine's counters and shape of one table.
 */
Datum
lsm_fdw_stats(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = open_for_function(relid, false, "lsm_fdw_stats");
	LsmDb	   *db = lsm_open_table(rel);
	LsmDbStats	s;
	StringInfoData buf;
	uint64		files = 0,
				bytes = 0;

	lsm_db_stats(db, &s);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"levels\": [");
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
	{
		appendStringInfo(&buf, "%s{\"level\": %d, \"files\": " UINT64_FORMAT ", \"bytes\": " UINT64_FORMAT
						 ", \"entries\": " UINT64_FORMAT ", \"tombstones\": " UINT64_FORMAT "}",
						 i ? ", " : "", i, s.files_per_level[i], s.bytes_per_level[i],
						 s.entries_per_level[i], s.tombstones_per_level[i]);
		files += s.files_per_level[i];
		bytes += s.bytes_per_level[i];
	}
	appendStringInfo(&buf,
					 "], \"files\": " UINT64_FORMAT ", \"bytes\": " UINT64_FORMAT
					 ", \"memtable_bytes\": " UINT64_FORMAT
					 ", \"immutable_memtables\": " UINT64_FORMAT
					 ", \"last_sequence\": " UINT64_FORMAT
					 ", \"gets\": " UINT64_FORMAT
					 ", \"memtable_hits\": " UINT64_FORMAT
					 ", \"sstables_probed\": " UINT64_FORMAT
					 ", \"bloom_useful\": " UINT64_FORMAT
					 ", \"bloom_not_useful\": " UINT64_FORMAT
					 ", \"block_cache_hits\": " UINT64_FORMAT
					 ", \"block_reads\": " UINT64_FORMAT
					 ", \"bytes_written_wal\": " UINT64_FORMAT
					 ", \"bytes_flushed\": " UINT64_FORMAT
					 ", \"bytes_compacted_read\": " UINT64_FORMAT
					 ", \"bytes_compacted_written\": " UINT64_FORMAT
					 ", \"write_amplification\": %.3f"
					 ", \"read_amplification\": %.3f"
					 ", \"sorted_runs\": " UINT64_FORMAT
					 ", \"compactions\": " UINT64_FORMAT
					 ", \"trivial_moves\": " UINT64_FORMAT
					 ", \"compaction_entries_dropped\": " UINT64_FORMAT
					 ", \"compaction_failures\": " UINT64_FORMAT
					 ", \"pending_compaction_bytes\": " UINT64_FORMAT
					 ", \"stall_slowdowns\": " UINT64_FORMAT
					 ", \"stall_stops\": " UINT64_FORMAT
					 ", \"stall_micros\": " UINT64_FORMAT "}",
					 files, bytes, s.memtable_bytes, s.imm_memtables, s.last_seq,
					 s.gets, s.memtable_hits, s.sst_probes, s.bloom_useful,
					 s.bloom_not_useful, s.block_cache_hits, s.block_reads,
					 s.bytes_written_wal, s.bytes_flushed, s.bytes_compacted_read,
					 s.bytes_compacted_written, s.write_amplification,
					 s.read_amplification,
					 s.sorted_runs, s.compactions, s.trivial_moves,
					 s.compaction_entries_dropped, s.compaction_failures,
					 s.pending_compaction_bytes, s.stall_slowdowns,
					 s.stall_stops, s.stall_micros);
	relation_close(rel, AccessShareLock);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * lsm_fdw_server_stats() returns jsonb
 *		Server-wide figures: shared memory, the memtable pool, the log and
 *		its group commit (syncs against commits), sequence numbers.
 */
Datum
lsm_fdw_server_stats(PG_FUNCTION_ARGS)
{
	LsmShared  *sh;
	LsmXlogStats xs;
	StringInfoData buf;
	int			open_tables = 0;
	uint64		memtable_waits = 0;
	uint64		memtable_wait_micros = 0;

	lsm_wait_ready();
	sh = lsm_shared;
	lsm_xlog_stats(sh->xlog, &xs);
	LWLockAcquire(sh->registry_lock, LW_SHARED);
	for (int i = 0; i < sh->max_tables; i++)
		if (sh->slots[i].state == LSM_SLOT_OPEN)
		{
			LsmDbStats	ds;

			open_tables++;
			lsm_db_stats(sh->slots[i].db, &ds);
			memtable_waits += ds.memtable_waits;
			memtable_wait_micros += ds.memtable_wait_micros;
		}
	LWLockRelease(sh->registry_lock);
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"shared_memory_bytes\": %zu"
					 ", \"heap_bytes\": %zu, \"heap_used\": %zu, \"heap_high_water\": %zu"
					 ", \"memtable_pool_bytes\": " UINT64_FORMAT
					 ", \"memtable_pool_used\": " UINT64_FORMAT
					 ", \"memtable_waits\": " UINT64_FORMAT
					 ", \"memtable_wait_micros\": " UINT64_FORMAT
					 ", \"block_cache_bytes\": " UINT64_FORMAT
					 ", \"block_cache_used\": %zu"
					 ", \"open_tables\": %d, \"max_tables\": %d"
					 ", \"visible_sequence\": " UINT64_FORMAT
					 ", \"log_records\": " UINT64_FORMAT
					 ", \"log_bytes\": " UINT64_FORMAT
					 ", \"log_flush_calls\": " UINT64_FORMAT
					 ", \"log_syncs\": " UINT64_FORMAT
					 ", \"log_segments\": " UINT64_FORMAT
					 ", \"log_insert_lsn\": " UINT64_FORMAT
					 ", \"log_flushed_lsn\": " UINT64_FORMAT "}",
					 lsm_shmem_size(),
					 lsm_shm_heap_total(sh->heap), lsm_shm_heap_used(sh->heap),
					 lsm_shm_heap_high_water(sh->heap),
					 (uint64) lsm_memtable_memory * 1024,
					 pg_atomic_read_u64(&sh->memtable_bytes),
					 memtable_waits + pg_atomic_read_u64(&sh->memtable_waiters),
					 memtable_wait_micros,
					 (uint64) lsm_block_cache_size * 1024,
					 lsm_block_cache_usage(sh->cache),
					 open_tables, sh->max_tables,
					 pg_atomic_read_u64(&sh->visible_seq),
					 xs.appends, xs.append_bytes, xs.flush_calls, xs.syncs,
					 xs.segments, xs.insert_lsn, xs.flushed_lsn);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

typedef enum LsmMaintenance
{
	LSM_MAINT_FLUSH,
	LSM_MAINT_VERIFY,
	LSM_MAINT_COMPACT
} LsmMaintenance;

/*
 * Run one owner-only maintenance operation on the table relid.
 */
static void
run_maintenance(Oid relid, LsmMaintenance op)
{
	static const char *const fnames[] = {"lsm_fdw_flush", "lsm_fdw_verify", "lsm_fdw_compact"};
	static const char *const verbs[] = {"flush", "verify", "compact"};
	Relation	rel = open_for_function(relid, true, fnames[op]);
	LsmDb	   *db = lsm_open_table(rel);
	LsmStatus	st;
	volatile LsmCode rc;

	/*
	 * Freezing the memtable for the flush takes a small new one; it may go
	 * over the pool's limit, like the maintenance worker, since waiting for
	 * room could last forever when the pool is full of tables' active
	 * memtables, and the flush gives back more than it takes.
	 */
	lsm_region_unlimited(op != LSM_MAINT_VERIFY);
	PG_TRY();
	{
		if (op == LSM_MAINT_FLUSH)
			rc = lsm_db_flush(db, &st);
		else if (op == LSM_MAINT_VERIFY)
			rc = lsm_db_verify(db, &st);
		else
			rc = lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st);
	}
	PG_FINALLY();
	{
		lsm_region_unlimited(false);
	}
	PG_END_TRY();
	if (rc != LSM_OK)
		lsm_report(ERROR, &st, verbs[op]);
	relation_close(rel, AccessShareLock);
}

/*
 * lsm_fdw_flush(regclass)
 *		Write the table's memtable to an SSTable now.
 */
Datum
lsm_fdw_flush(PG_FUNCTION_ARGS)
{
	run_maintenance(PG_GETARG_OID(0), LSM_MAINT_FLUSH);
	PG_RETURN_VOID();
}

/*
 * lsm_fdw_verify(regclass)
 *		Read every block of every SSTable of the table, checking checksums
 *		and key order, as amcheck does for indexes.  Raises XX001 naming the
 *		file and offset of the first problem.
 */
Datum
lsm_fdw_verify(PG_FUNCTION_ARGS)
{
	run_maintenance(PG_GETARG_OID(0), LSM_MAINT_VERIFY);
	PG_RETURN_VOID();
}

/*
 * lsm_fdw_compact(regclass)
 *		Flush the memtable and compact the whole table into its bottom
 *		level, dropping every version and tombstone no reader needs.
 */
Datum
lsm_fdw_compact(PG_FUNCTION_ARGS)
{
	run_maintenance(PG_GETARG_OID(0), LSM_MAINT_COMPACT);
	PG_RETURN_VOID();
}
