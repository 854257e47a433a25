/*
 * functions.c
 *		SQL-callable maintenance functions: lsm_fdw_stats,
 *		lsm_fdw_server_stats, lsm_fdw_flush, lsm_fdw_verify and
 *		lsm_fdw_compact.  Each returns jsonb: the README lists every field.
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
#include "utils/json.h"
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

	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("%s() takes a foreign table of a lsm_fdw server.", fname)));
	if (!lsm_is_lsm_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a lsm_fdw foreign table", get_rel_name(relid)),
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

/* What the table takes on disk: its table files and its blob files. */
static uint64
total_files(const LsmDbStats *s)
{
	uint64		n = s->blob_files;

	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		n += s->files_per_level[i];
	return n;
}

static uint64
total_bytes(const LsmDbStats *s)
{
	uint64		n = s->blob_file_bytes;

	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		n += s->bytes_per_level[i];
	return n;
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

	lsm_db_stats(db, &s);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"levels\": [");
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
	{
		appendStringInfo(&buf, "%s{\"level\": %d, \"files\": " UINT64_FORMAT ", \"bytes\": " UINT64_FORMAT
						 ", \"entries\": " UINT64_FORMAT ", \"tombstones\": " UINT64_FORMAT "}",
						 i ? ", " : "", i, s.files_per_level[i], s.bytes_per_level[i],
						 s.entries_per_level[i], s.tombstones_per_level[i]);
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
					 ", \"flushes\": " UINT64_FORMAT
					 ", \"bytes_flushed\": " UINT64_FORMAT
					 ", \"flush_entries_dropped\": " UINT64_FORMAT
					 ", \"bytes_compacted_read\": " UINT64_FORMAT
					 ", \"bytes_compacted_written\": " UINT64_FORMAT
					 ", \"write_amplification\": %.3f"
					 ", \"read_amplification\": %.3f"
					 ", \"sorted_runs\": " UINT64_FORMAT
					 ", \"compactions\": " UINT64_FORMAT
					 ", \"trivial_moves\": " UINT64_FORMAT
					 ", \"compaction_entries_dropped\": " UINT64_FORMAT
					 ", \"compaction_failures\": " UINT64_FORMAT
					 ", \"ttl_entries_dropped\": " UINT64_FORMAT
					 ", \"ttl_bytes_dropped\": " UINT64_FORMAT
					 ", \"pending_compaction_bytes\": " UINT64_FORMAT
					 ", \"stall_slowdowns\": " UINT64_FORMAT
					 ", \"stall_stops\": " UINT64_FORMAT
					 ", \"stall_micros\": " UINT64_FORMAT
					 ", \"merge_folds\": " UINT64_FORMAT
					 ", \"merge_base_folds\": " UINT64_FORMAT
					 ", \"blob_files\": " UINT64_FORMAT
					 ", \"blob_bytes\": " UINT64_FORMAT
					 ", \"blob_live_bytes\": " UINT64_FORMAT
					 ", \"blob_file_bytes\": " UINT64_FORMAT
					 ", \"blob_files_written\": " UINT64_FORMAT
					 ", \"bytes_blob_written\": " UINT64_FORMAT
					 ", \"bytes_blob_relocated\": " UINT64_FORMAT
					 ", \"blob_reads\": " UINT64_FORMAT
					 ", \"blob_dict_bytes\": " UINT64_FORMAT "}",
					 total_files(&s), total_bytes(&s), s.memtable_bytes, s.imm_memtables, s.last_seq,
					 s.gets, s.memtable_hits, s.sst_probes, s.bloom_useful,
					 s.bloom_not_useful, s.block_cache_hits, s.block_reads,
					 s.bytes_written_wal, s.flushes, s.bytes_flushed,
					 s.flush_entries_dropped, s.bytes_compacted_read,
					 s.bytes_compacted_written, s.write_amplification,
					 s.read_amplification,
					 s.sorted_runs, s.compactions, s.trivial_moves,
					 s.compaction_entries_dropped, s.compaction_failures,
					 s.filter_entries_dropped, s.filter_bytes_dropped,
					 s.pending_compaction_bytes, s.stall_slowdowns,
					 s.stall_stops, s.stall_micros, s.merge_folds, s.merge_base_folds,
					 s.blob_files, s.blob_bytes, s.blob_live_bytes, s.blob_file_bytes,
					 s.blob_files_written,
					 s.bytes_blob_written, s.bytes_blob_relocated, s.blob_reads,
					 s.blob_dict_bytes);
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
	uint64		cache_hits;
	uint64		cache_misses;
	char		hit_rate[32];

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
	lsm_block_cache_counters(sh->cache, &cache_hits, &cache_misses);
	if (cache_hits + cache_misses > 0)
		snprintf(hit_rate, sizeof(hit_rate), "%.4f",
				 (double) cache_hits / (double) (cache_hits + cache_misses));
	else
		strlcpy(hit_rate, "null", sizeof(hit_rate));
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
					 ", \"block_cache_hits\": " UINT64_FORMAT
					 ", \"block_cache_misses\": " UINT64_FORMAT
					 ", \"block_cache_hit_rate\": %s"
					 ", \"open_tables\": %d, \"max_tables\": %d"
					 ", \"visible_sequence\": " UINT64_FORMAT
					 ", \"log_records\": " UINT64_FORMAT
					 ", \"log_bytes\": " UINT64_FORMAT
					 ", \"log_flush_calls\": " UINT64_FORMAT
					 ", \"log_syncs\": " UINT64_FORMAT
					 ", \"log_flush_rounds\": " UINT64_FORMAT
					 ", \"log_sync_micros\": " UINT64_FORMAT
					 ", \"log_flush_round_micros\": " UINT64_FORMAT
					 ", \"log_segments\": " UINT64_FORMAT
					 ", \"log_segments_made_at_switch\": " UINT64_FORMAT
					 ", \"log_spare_segments_used\": " UINT64_FORMAT
					 ", \"log_segments_recycled\": " UINT64_FORMAT
					 ", \"log_spare_segments_recycled\": " UINT64_FORMAT
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
					 cache_hits, cache_misses, hit_rate,
					 open_tables, sh->max_tables,
					 pg_atomic_read_u64(&sh->visible_seq),
					 xs.appends, xs.append_bytes, xs.flush_calls, xs.syncs,
					 xs.flush_rounds, xs.sync_micros, xs.round_micros,
					 xs.segments, xs.segments_created, xs.spares_used,
					 xs.segments_recycled, xs.spares_recycled,
					 xs.insert_lsn, xs.flushed_lsn);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * Open relid for an owner-only maintenance function and its engine.
 */
static LsmDb *
open_for_maintenance(Oid relid, const char *fname, Relation *rel)
{
	*rel = open_for_function(relid, true, fname);
	return lsm_open_table(*rel);
}

static Datum
jsonb_from_buf(StringInfo buf)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data));
}


/*
 * lsm_fdw_flush(regclass) returns jsonb
 *		Write the table's memtables to SSTables now, and say what that
 *		wrote.  Flushes are done by whoever gets there first (this backend
 *		or the maintenance worker), so the figures are those of the table's
 *		flushes while the call ran.
 */
Datum
lsm_fdw_flush(PG_FUNCTION_ARGS)
{
	Relation	rel;
	LsmDb	   *db = open_for_maintenance(PG_GETARG_OID(0), "lsm_fdw_flush", &rel);
	LsmDbStats	before,
				after;
	LsmStatus	st;
	volatile LsmCode rc;
	StringInfoData buf;

	lsm_db_stats(db, &before);

	/*
	 * Freezing the memtable takes a small new one; it may go over the pool's
	 * limit, like the maintenance worker, since waiting for room could last
	 * forever when the pool is full of tables' active memtables, and the
	 * flush gives back more than it takes.
	 */
	lsm_region_unlimited(true);
	PG_TRY();
	{
		rc = lsm_db_flush(db, &st);
	}
	PG_FINALLY();
	{
		lsm_region_unlimited(false);
	}
	PG_END_TRY();
	if (rc != LSM_OK)
		lsm_report(ERROR, &st, "flush");
	lsm_db_stats(db, &after);
	relation_close(rel, AccessShareLock);

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"memtable_bytes_before\": " UINT64_FORMAT
					 ", \"files_written\": " UINT64_FORMAT
					 ", \"bytes_written\": " UINT64_FORMAT
					 ", \"memtable_bytes\": " UINT64_FORMAT
					 ", \"level0_files\": " UINT64_FORMAT
					 ", \"files\": " UINT64_FORMAT "}",
					 before.memtable_bytes,
					 after.flushes - before.flushes +
					 (after.blob_files_written - before.blob_files_written),
					 after.bytes_flushed - before.bytes_flushed +
					 (after.bytes_blob_written - before.bytes_blob_written),
					 after.memtable_bytes,
					 after.files_per_level[0],
					 total_files(&after));
	PG_RETURN_DATUM(jsonb_from_buf(&buf));
}

/*
 * The problems lsm_fdw_verify reports one by one (the count has them all).
 * The engine calls back while it holds a version: no palloc or ereport
 * there, which could leave by longjmp.
 */
#define VERIFY_MAX_REPORTED 16

typedef struct VerifyProblems
{
	int			n;
	LsmStatus	first[VERIFY_MAX_REPORTED];
} VerifyProblems;

static void
verify_problem(void *arg, const LsmStatus *problem)
{
	VerifyProblems *vp = arg;

	if (vp->n < VERIFY_MAX_REPORTED)
		vp->first[vp->n++] = *problem;
}

/*
 * lsm_fdw_verify(regclass) returns jsonb
 *		Read every block of every SSTable of the table, checking checksums,
 *		key order and the recorded properties, as amcheck does for indexes.
 *		A damaged file is a problem: a WARNING (XX001 for corruption, 58P01
 *		for a missing file, 58030 for an unreadable one) and an entry in
 *		the result's messages (the first 16), and
 *		the check goes on with the next file.  The result says what was
 *		checked, so that "problems": 0 means something.
 */
Datum
lsm_fdw_verify(PG_FUNCTION_ARGS)
{
	Relation	rel;
	LsmDb	   *db = open_for_maintenance(PG_GETARG_OID(0), "lsm_fdw_verify", &rel);
	LsmVerifyResult r;
	VerifyProblems *vp = palloc0(sizeof(VerifyProblems));
	StringInfoData messages;
	LsmStatus	st;
	StringInfoData buf;

	if (lsm_db_verify_all(db, &r, verify_problem, vp, &st) != LSM_OK)
		lsm_report(ERROR, &st, "verify");

	initStringInfo(&messages);
	appendStringInfoChar(&messages, '[');
	for (int i = 0; i < vp->n; i++)
	{
		LsmStatus  *p = &vp->first[i];

		ereport(WARNING,
				(errcode(p->code == LSM_CORRUPTION ? ERRCODE_DATA_CORRUPTED :
						 p->code == LSM_NOT_FOUND ? ERRCODE_UNDEFINED_FILE :
						 ERRCODE_IO_ERROR),
				 errmsg("foreign table \"%s\" has a damaged file",
						RelationGetRelationName(rel)),
				 errdetail("%s", p->msg)));
		if (i > 0)
			appendStringInfoString(&messages, ", ");
		escape_json(&messages, p->msg);
	}
	appendStringInfoChar(&messages, ']');
	relation_close(rel, AccessShareLock);

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"files\": " UINT64_FORMAT
					 ", \"bytes\": " UINT64_FORMAT
					 ", \"blocks\": " UINT64_FORMAT
					 ", \"blocks_by_codec\": {\"none\": " UINT64_FORMAT
					 ", \"zstd\": " UINT64_FORMAT ", \"lz4\": " UINT64_FORMAT "}"
					 ", \"entries\": " UINT64_FORMAT
					 ", \"problems\": " UINT64_FORMAT
					 ", \"messages\": %s}",
					 r.files, r.bytes, r.blocks,
					 r.blocks_by_codec[LSM_COMPRESSION_NONE],
					 r.blocks_by_codec[LSM_COMPRESSION_ZSTD],
					 r.blocks_by_codec[LSM_COMPRESSION_LZ4],
					 r.entries, r.problems, messages.data);
	PG_RETURN_DATUM(jsonb_from_buf(&buf));
}

/*
 * lsm_fdw_compact(regclass) returns jsonb
 *		Flush the memtable and compact the whole table into its bottom
 *		level, dropping every version and tombstone no reader needs; say
 *		what the compaction read and wrote and the table's shape after it.
 */
Datum
lsm_fdw_compact(PG_FUNCTION_ARGS)
{
	Relation	rel;
	LsmDb	   *db = open_for_maintenance(PG_GETARG_OID(0), "lsm_fdw_compact", &rel);
	LsmCompactionInfo info;
	LsmCompactionInfo blob_info;
	LsmDbStats	before,
				after;
	LsmStatus	st;
	volatile LsmCode rc;
	StringInfoData buf;

	lsm_db_stats(db, &before);
	/* its flush may go over the pool's limit, as lsm_fdw_flush's */
	lsm_region_unlimited(true);
	PG_TRY();
	{
		rc = lsm_db_compact_range_info(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &info,
									   &st);
		/* then the blob garbage that compaction made visible */
		if (rc == LSM_OK)
			rc = lsm_db_compact_blob_garbage(db, &blob_info, &st);
	}
	PG_FINALLY();
	{
		lsm_region_unlimited(false);
	}
	PG_END_TRY();
	if (rc != LSM_OK)
		lsm_report(ERROR, &st, "compact");
	lsm_db_stats(db, &after);
	relation_close(rel, AccessShareLock);

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"files_before\": " UINT64_FORMAT
					 ", \"bytes_before\": " UINT64_FORMAT
					 ", \"bytes_flushed\": " UINT64_FORMAT
					 ", \"input_files\": %d"
					 ", \"input_bytes\": " UINT64_FORMAT
					 ", \"output_files\": %d"
					 ", \"output_bytes\": " UINT64_FORMAT
					 ", \"output_level\": %d"
					 ", \"entries_dropped\": " UINT64_FORMAT
					 ", \"trivial_move\": %s"
					 ", \"blob_bytes_relocated\": " UINT64_FORMAT
					 ", \"files\": " UINT64_FORMAT
					 ", \"bytes\": " UINT64_FORMAT "}",
					 total_files(&before), total_bytes(&before),
					 after.bytes_flushed - before.bytes_flushed,
					 info.n_inputs, info.input_bytes,
					 info.n_outputs, info.output_bytes,
					 info.n_inputs > 0 ? info.output_level : 0,
					 info.entries_dropped,
					 info.trivial_move ? "true" : "false",
					 after.bytes_blob_relocated - before.bytes_blob_relocated,
					 total_files(&after), total_bytes(&after));
	PG_RETURN_DATUM(jsonb_from_buf(&buf));
}
