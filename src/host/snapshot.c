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

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_foreign_server.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "optimizer/planner.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
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
		/* capped as the point is (pg_visible.c) */
		pg_atomic_write_u64(&s->horizon[lsm_my_procno()],
							lsm_pg_visible_cap(pg_atomic_read_u64(&s->visible_seq)));
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
	/* whole heap+lsm transactions only, as the Postgres snapshot has them */
	lsm_pg_visible_wait();
	point = lsm_pg_visible_cap(take_point());
	point_lxid = lxid;
	point_stmt = stmt;
	return point;
}

/*
 * Statements take their point when the executor starts, right after their
 * Postgres snapshot, rather than at their first lsm read: a reader could
 * otherwise be held up between the two long enough for a heap+lsm
 * transaction its snapshot shows in progress to commit and publish its lsm
 * rows, and see those and not its heap rows (pg_visible.c covers such a
 * transaction only while it is still publishing).  A READ COMMITTED
 * statement takes it when it names an lsm table; a REPEATABLE READ
 * transaction at its first statement, whatever it reads, in a database
 * where the extension exists, since later statements read at that point.
 */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static planner_hook_type prev_planner = NULL;
static Oid	lsm_fdw_oid = InvalidOid;
static Oid	lsm_fdw_oid_db = InvalidOid;	/* database it was looked up in */

static Oid
our_fdw_oid(void)
{
	/* a syscache lookup each time until the wrapper exists */
	if (lsm_fdw_oid_db != MyDatabaseId || !OidIsValid(lsm_fdw_oid))
	{
		lsm_fdw_oid = get_foreign_data_wrapper_oid("lsm_fdw", true);
		lsm_fdw_oid_db = MyDatabaseId;
	}
	return lsm_fdw_oid;
}

static bool
names_lsm_table(PlannedStmt *ps, Oid fdw)
{
	ListCell   *lc;

	foreach(lc, ps->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);
		HeapTuple	tup;
		Oid			server;
		bool		ours;

		if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_FOREIGN_TABLE)
			continue;
		server = GetForeignServerIdByRelId(rte->relid);
		tup = SearchSysCache1(FOREIGNSERVEROID, ObjectIdGetDatum(server));
		if (!HeapTupleIsValid(tup))
			continue;
		ours = ((Form_pg_foreign_server) GETSTRUCT(tup))->srvfdw == fdw;
		ReleaseSysCache(tup);
		if (ours)
			return true;
	}
	return false;
}

/* Whether a point may be taken now, eagerly; *fdw: the wrapper's OID. */
static bool
may_take_point(Oid *fdw)
{
	LsmShared  *s = lsm_shared;

	if (s == NULL || s->recovery_state != LSM_RECOVERY_DONE || IsParallelWorker() ||
		!ActiveSnapshotSet() || !IsTransactionState() || RecoveryInProgress())
		return false;
	*fdw = our_fdw_oid();
	if (!OidIsValid(*fdw))
		return false;
	pg_read_barrier();			/* the replay's work before its state */
	return true;
}

static void
lsm_executor_start(QueryDesc *queryDesc, int eflags)
{
	Oid			fdw;

	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY) && may_take_point(&fdw) &&
		(IsolationUsesXactSnapshot() || names_lsm_table(queryDesc->plannedstmt, fdw)))
		(void) lsm_read_point();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * REPEATABLE READ: the transaction's snapshot is taken before its first
 * statement is planned, so the point is taken when planning starts (with a
 * cached plan, at the executor's start).  Taken at the executor's start,
 * after planning, one point in five missed that snapshot by a commit in a
 * run of four writers and two readers.
 */
static PlannedStmt *
lsm_planner(Query *parse, const char *query_string, int cursorOptions,
			ParamListInfo boundParams)
{
	Oid			fdw;

	if (IsolationUsesXactSnapshot() && may_take_point(&fdw))
		(void) lsm_read_point();
	if (prev_planner)
		return prev_planner(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

void
lsm_snapshot_install_hook(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = lsm_executor_start;
	prev_planner = planner_hook;
	planner_hook = lsm_planner;
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
