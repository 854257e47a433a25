/*
 * analyze.c
 *		ANALYZE of lsm_fdw tables: a uniform sample of rows from a full scan
 *		of the engine (reservoir sampling, as file_fdw does), so the planner
 *		gets real row counts and column statistics.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/vacuum.h"
#include "executor/tuptable.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"

static void
release_iter(void *arg)
{
	LsmIter   **it = (LsmIter **) arg;

	lsm_iter_destroy(*it);
	*it = NULL;
}

static int
lsm_acquire_sample_rows(Relation rel, int elevel, HeapTuple *rows, int targrows,
						double *totalrows, double *totaldeadrows)
{
	LsmDb	   *db = lsm_open_table(rel);
	LsmKeyInfo	ki;
	LsmReadOptions ro;
	LsmIter    *it;
	LsmIter   **itp;
	LsmStatus	st;
	ReservoirStateData rstate;
	MemoryContextCallback *cleanup;
	MemoryContext scan_cxt;
	double		rowstoskip = -1;
	int			numrows = 0;
	TupleTableSlot *slot;
	MemoryContext row_cxt;
	MemoryContext caller = CurrentMemoryContext;

	lsm_key_info(rel, &ki);
	lsm_read_options_init(&ro);
	ro.read_seq = lsm_read_point();
	ro.fill_cache = false;
	/*
	 * The iterator pins engine state: a callback on scan_cxt releases it
	 * also when decoding a row fails.
	 */
	scan_cxt = AllocSetContextCreate(CurrentMemoryContext, "lsm_fdw analyze scan",
									 ALLOCSET_SMALL_SIZES);
	itp = MemoryContextAllocZero(scan_cxt, sizeof(LsmIter *));
	cleanup = MemoryContextAlloc(scan_cxt, sizeof(MemoryContextCallback));
	cleanup->func = release_iter;
	cleanup->arg = itp;
	MemoryContextRegisterResetCallback(scan_cxt, cleanup);
	if (lsm_db_iter(db, &ro, itp, &st) != LSM_OK)
		lsm_report(ERROR, &st, "scan for ANALYZE");
	it = *itp;
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "lsm_fdw analyze row",
									ALLOCSET_DEFAULT_SIZES);
	reservoir_init_selection_state(&rstate, targrows);
	*totalrows = 0;
	*totaldeadrows = 0;

	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
	{
		int			pos = -1;

		vacuum_delay_point();
		if (ki.ttl_attno != InvalidAttrNumber &&
			lsm_row_expired(&ki, RelationGetDescr(rel), lsm_iter_value(it)))
		{
			*totaldeadrows += 1;	/* expired: compaction removes it */
			continue;
		}
		if (numrows < targrows)
			pos = numrows++;
		else
		{
			if (rowstoskip < 0)
				rowstoskip = reservoir_get_next_S(&rstate, *totalrows, targrows);
			if (rowstoskip <= 0)
			{
				pos = (int) (targrows * sampler_random_fract(&rstate.randstate));
				heap_freetuple(rows[pos]);
			}
			rowstoskip -= 1;
		}
		*totalrows += 1;
		if (pos < 0)
			continue;

		MemoryContextReset(row_cxt);
		MemoryContextSwitchTo(row_cxt);
		(void) lsm_store_row(slot, &ki, lsm_iter_key(it), lsm_iter_value(it));
		MemoryContextSwitchTo(caller);
		rows[pos] = ExecCopySlotHeapTuple(slot);
	}
	if (lsm_iter_status(it, &st) != LSM_OK)
		lsm_report(ERROR, &st, "scan for ANALYZE");
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(row_cxt);
	MemoryContextDelete(scan_cxt);	/* destroys the iterator */

	ereport(elevel,
			(errmsg("\"%s\": table contains %.0f rows; %d rows in sample",
					RelationGetRelationName(rel), *totalrows, numrows)));
	return numrows;
}

/*
 * lsmAnalyzeForeignTable
 *		Offer the sampler; the page count is the table's bytes on disk.
 */
bool
lsmAnalyzeForeignTable(Relation rel, AcquireSampleRowsFunc *func,
					   BlockNumber *totalpages)
{
	LsmDb	   *db = lsm_open_table(rel);
	LsmDbStats	s;
	uint64		bytes = 0;

	lsm_db_stats(db, &s);
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		bytes += s.bytes_per_level[i];
	bytes += s.memtable_bytes;
	*totalpages = (BlockNumber) Max(1, bytes / BLCKSZ);
	*func = lsm_acquire_sample_rows;
	return true;
}
