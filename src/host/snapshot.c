/*
 * snapshot.c
 *		The sequence number a statement or transaction reads at, and the
 *		horizon of every process's reads, for compaction.
 *
 * A read point is a published sequence number: everything at or below it
 * is committed and applied, nothing above it is visible.  READ COMMITTED
 * takes one per statement, REPEATABLE READ and SERIALIZABLE one per
 * transaction (SERIALIZABLE is REPEATABLE READ for lsm tables; see the
 * README).  The oldest point a transaction took stays published in this
 * process's horizon slot until the transaction ends, so compaction keeps
 * the versions it may read.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"

static LocalTransactionId point_lxid = InvalidLocalTransactionId;
static TimestampTz point_stmt = 0;
static LsmSeq point = 0;
static bool published = false;

/*
 * Publish first, read after: a compaction that scanned the slots before
 * the publish read the visible number no later than this read, so its
 * horizon is at or below the point.
 */
static LsmSeq
take_point(void)
{
	LsmShared  *s = lsm_shared;

	if (!published)
	{
		pg_atomic_write_u64(&s->horizon[lsm_my_procno()],
							pg_atomic_read_u64(&s->visible_seq));
		pg_memory_barrier();
		published = true;
		lsm_ttl_publish();
	}
	return pg_atomic_read_u64(&s->visible_seq);
}

/*
 * lsm_read_point
 *		The sequence number the current statement reads lsm tables at.
 */
LsmSeq
lsm_read_point(void)
{
	LocalTransactionId lxid = MyProc->lxid;
	TimestampTz stmt = GetCurrentStatementStartTimestamp();

	if (point_lxid == lxid &&
		(IsolationUsesXactSnapshot() || point_stmt == stmt))
		return point;
	point = take_point();
	point_lxid = lxid;
	point_stmt = stmt;
	return point;
}

/*
 * lsm_newest_point
 *		The newest published state, for reads under a key lock (the row a
 *		write must build on is the newest committed one, as with heap's
 *		EvalPlanQual).
 */
LsmSeq
lsm_newest_point(void)
{
	return take_point();
}

/*
 * lsm_snapshot_xact_end
 *		Transaction end: this process reads nothing any more.
 */
void
lsm_snapshot_xact_end(void)
{
	if (published && lsm_shared != NULL)
		pg_atomic_write_u64(&lsm_shared->horizon[lsm_my_procno()], PG_UINT64_MAX);
	published = false;
	lsm_ttl_xact_end();
	point_lxid = InvalidLocalTransactionId;
}

/*
 * lsm_horizon
 *		The engine's horizon_fn: the oldest sequence number any process may
 *		still read at.
 */
uint64_t
lsm_horizon(void *arg)
{
	LsmShared  *s = lsm_shared;
	uint64		h;

	/*
	 * Nobody reads before the replay ends (backends wait for it), and every
	 * reader after it reads at or above all the replay applied, so the
	 * flushes and compactions of the replay need keep only the newest
	 * version of a key: the engine caps this at its own last number.  The
	 * unpublished visible number, 0, made them keep every version, and a
	 * restart with a long log left them all in the tables.  The engine read
	 * its last number before calling this, so a state read here as not
	 * done bounds it by what the replay applied, at or below every point
	 * taken after the replay.
	 */
	pg_memory_barrier();
	if (*(volatile int *) &s->recovery_state != LSM_RECOVERY_DONE)
		return PG_UINT64_MAX;
	pg_read_barrier();
	h = pg_atomic_read_u64(&s->visible_seq);
	pg_memory_barrier();
	for (int i = 0; i < s->n_procs; i++)
	{
		uint64		v = pg_atomic_read_u64(&s->horizon[i]);

		if (v < h)
			h = v;
	}
	return h;
}
