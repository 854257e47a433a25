/*
 * analyze.c
 *		ANALYZE of lsm_fdw tables.  A table of up to a few times the sample
 *		size is read whole (reservoir sampling, as file_fdw does); a larger
 *		one by a seek to each of as many random points of its key space as
 *		the sample has rows, so that ANALYZE reads about as many rows as it
 *		keeps, and the row count comes from the engine's counts.
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
#include "common/pg_prng.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"

static void
release_iter(void *arg)
{
	LsmIter   **it = (LsmIter **) arg;

	lsm_iter_destroy(*it);
	*it = NULL;
}

/*
 * A table estimated at more than this many times the sample is sampled by
 * runs; below, reading it whole costs little more and counts exactly.
 */
#define LSM_ANALYZE_FULL_SCAN_RATIO	3

/*
 * Consecutive rows read from each random point.  Runs of 100 took a third
 * of the time of single rows on a cached 1M-row table, but a column that
 * neighbouring keys share values of (c = 2k, some k updated twice) then
 * got n_distinct -0.91 instead of -0.9987: neighbours come in pairs.
 */
#define LSM_ANALYZE_RUN_ROWS	1

/*
 * Rows in the table from the engine's counts: entries of the SSTables less
 * their tombstones (each usually hides one older entry), plus the memtable
 * at avg_row bytes a row.  Overwritten keys are counted once per version
 * until compaction merges them.
 */
static double
engine_rows(LsmDb *db, double avg_row)
{
	LsmDbStats	s;
	double		rows = 0;

	lsm_db_stats(db, &s);
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		rows += (double) s.entries_per_level[i] - 2.0 * (double) s.tombstones_per_level[i];
	return Max(rows, 0) + (double) s.memtable_bytes / Max(avg_row, 1.0);
}

static int
compare_uint64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

/* The 8 bytes of s from offset off, big-endian, zero-padded. */
static uint64
bytes_at(LsmSlice s, size_t off)
{
	uint64		v = 0;

	for (size_t i = off; i < off + 8; i++)
		v = (v << 8) | (i < s.len ? ((const uint8 *) s.data)[i] : 0);
	return v;
}

/*
 * Seek targets spread at random between the first key and the last: their
 * common prefix followed by 8 random bytes between theirs, sorted.
 */
static StringInfoData *
random_targets(LsmSlice first, LsmSlice last, int n)
{
	size_t		cp = 0;
	uint64		lo,
				hi;
	uint64	   *pos = palloc(sizeof(uint64) * n);
	StringInfoData *targets = palloc(sizeof(StringInfoData) * n);

	while (cp < first.len && cp < last.len && first.data[cp] == last.data[cp])
		cp++;
	lo = bytes_at(first, cp);
	hi = bytes_at(last, cp);
	for (int i = 0; i < n; i++)
		pos[i] = hi > lo ? lo + pg_prng_uint64_range(&pg_global_prng_state, 0, hi - lo) : lo;
	qsort(pos, n, sizeof(uint64), compare_uint64);
	for (int i = 0; i < n; i++)
	{
		initStringInfo(&targets[i]);
		appendBinaryStringInfo(&targets[i], (const char *) first.data, (int) cp);
		for (int b = 7; b >= 0; b--)
			appendStringInfoChar(&targets[i], (char) ((pos[i] >> (8 * b)) & 0xff));
	}
	pfree(pos);
	return targets;
}

/*
 * Sample by runs: LSM_ANALYZE_RUN_ROWS consecutive live rows from each of
 * targrows / LSM_ANALYZE_RUN_ROWS random points between the first and the
 * last key, in key order.  A point inside a run already read continues
 * after it, and a run that reaches the end goes on from the first key (up
 * to where sampling began), so no row is taken twice and, in a table
 * larger than the sample, exactly targrows rows are read.  Expired rows are
 * skipped and counted in *dead.  Returns the rows kept; *avg_row gets their
 * mean stored size.
 */
static int
sample_runs(Relation rel, const LsmKeyInfo *ki, LsmIter *it, TupleTableSlot *slot,
			MemoryContext row_cxt, HeapTuple *rows, int targrows,
			int *nruns, double *dead, double *avg_row)
{
	MemoryContext caller = CurrentMemoryContext;
	StringInfoData first;
	StringInfoData last;
	StringInfoData start;
	StringInfoData *targets;
	int			numrows = 0;
	double		bytes = 0;
	bool		wrapped = false;

	*nruns = Max(1, targrows / LSM_ANALYZE_RUN_ROWS);
	*dead = 0;
	*avg_row = 100;
	initStringInfo(&first);
	initStringInfo(&last);
	initStringInfo(&start);
	lsm_iter_seek_first(it);
	if (!lsm_iter_valid(it))
		return 0;
	appendBinaryStringInfo(&first, (const char *) lsm_iter_key(it).data, lsm_iter_key(it).len);
	lsm_iter_seek_last(it);
	appendBinaryStringInfo(&last, (const char *) lsm_iter_key(it).data, lsm_iter_key(it).len);
	targets = random_targets(lsm_slice(first.data, first.len),
							 lsm_slice(last.data, last.len), *nruns);

	lsm_iter_seek(it, lsm_slice(targets[0].data, targets[0].len));
	if (!lsm_iter_valid(it))
		lsm_iter_seek_first(it);
	appendBinaryStringInfo(&start, (const char *) lsm_iter_key(it).data, lsm_iter_key(it).len);

	for (int run = 0; run < *nruns && numrows < targrows; run++)
	{
		LsmSlice	target = lsm_slice(targets[run].data, targets[run].len);
		int			taken = 0;

		/* a point behind the iterator continues where it stands */
		if (run > 0 && !wrapped && lsm_iter_valid(it) &&
			lsm_slice_cmp(lsm_iter_key(it), target) < 0)
			lsm_iter_seek(it, target);
		while (taken < LSM_ANALYZE_RUN_ROWS && numrows < targrows)
		{
			LsmSlice	value;

			vacuum_delay_point();
			if (!lsm_iter_valid(it))
			{
				if (wrapped)
					break;
				wrapped = true;
				lsm_iter_seek_first(it);
				continue;
			}
			if (wrapped &&
				lsm_slice_cmp(lsm_iter_key(it), lsm_slice(start.data, start.len)) >= 0)
				return numrows;	/* came round to the first run */
			value = lsm_iter_value(it);
			if (ki->ttl_attno != InvalidAttrNumber &&
				lsm_row_expired(ki, RelationGetDescr(rel), value))
				*dead += 1;
			else
			{
				MemoryContextReset(row_cxt);
				MemoryContextSwitchTo(row_cxt);
				(void) lsm_store_row(slot, ki, lsm_iter_key(it), value);
				MemoryContextSwitchTo(caller);
				rows[numrows++] = ExecCopySlotHeapTuple(slot);
				bytes += lsm_iter_key(it).len + value.len;
				*avg_row = bytes / numrows;
				taken++;
			}
			lsm_iter_next(it);
		}
		if (wrapped && !lsm_iter_valid(it))
			break;
	}
	return numrows;
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
	double		estimate = engine_rows(db, 100.0);
	bool		by_runs = estimate > (double) LSM_ANALYZE_FULL_SCAN_RATIO * targrows;
	int			nruns = 0;
	double		avg_row = 100;

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

	if (by_runs)
		numrows = sample_runs(rel, &ki, it, slot, row_cxt, rows, targrows,
							  &nruns, totaldeadrows, &avg_row);
	else
	{
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
	}
	if (lsm_iter_status(it, &st) != LSM_OK)
		lsm_report(ERROR, &st, "scan for ANALYZE");
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(row_cxt);
	MemoryContextDelete(scan_cxt);	/* destroys the iterator */

	if (by_runs)
	{
		/*
		 * The count from the engine, less the share of expired rows seen;
		 * the memtable's rows at the sample's mean size (plus the entry's
		 * overhead in the skiplist).
		 */
		double		dead_seen = *totaldeadrows;
		double		all = engine_rows(db, avg_row + 32);

		*totalrows = all * numrows / Max(numrows + dead_seen, 1.0);
		*totaldeadrows = all - *totalrows;
		ereport(elevel,
				(errmsg("\"%s\": read %.0f rows from %d random points of the key range, %d rows in sample",
						RelationGetRelationName(rel), numrows + dead_seen,
						nruns, numrows),
				 errdetail("The table holds about %.0f rows by the engine's counts.",
						   *totalrows)));
		return numrows;
	}
	ereport(elevel,
			(errmsg("\"%s\": table contains %.0f rows; %d rows in sample",
					RelationGetRelationName(rel), *totalrows, numrows)));
	return numrows;
}

/*
 * lsmAnalyzeForeignTable
 *		Offer the sampler; the page count is the table's bytes on disk.
 */
static int
acquire_no_rows(Relation rel, int elevel, HeapTuple *rows, int targrows,
				double *totalrows, double *totaldeadrows)
{
	*totalrows = 0;
	*totaldeadrows = 0;
	return 0;
}

bool
lsmAnalyzeForeignTable(Relation rel, AcquireSampleRowsFunc *func,
					   BlockNumber *totalpages)
{
	LsmDb	   *db;
	LsmDbStats	s;
	LsmKeyInfo	ki;
	uint64		bytes = 0;

	if (!lsm_key_info_if_any(rel, &ki))
	{
		/* no key column, no row (plan.c) */
		*totalpages = 1;
		*func = acquire_no_rows;
		return true;
	}
	db = lsm_open_table(rel);

	lsm_db_stats(db, &s);
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		bytes += s.bytes_per_level[i];
	bytes += s.memtable_bytes + s.blob_file_bytes;
	*totalpages = (BlockNumber) Max(1, bytes / BLCKSZ);
	*func = lsm_acquire_sample_rows;
	return true;
}
