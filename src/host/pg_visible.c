/*
 * pg_visible.c
 *		Reads see a transaction that wrote heap and lsm tables whole.
 *
 * Such a transaction ("PG-decided", commit.c) becomes visible in two
 * steps: Postgres shows it committed (ProcArrayEndTransaction), then its
 * COMMIT callback numbers and applies its lsm rows and publishes them.  A
 * read point is a published sequence number, so a reader could see one
 * half of it: the heap rows and not the lsm rows (its Postgres snapshot
 * taken after the first step, its read point before the second), or the
 * reverse (the snapshot taken before the first step, the point after the
 * second).  A pgbench run of four such writers and two readers comparing
 * the counts of both tables saw both within seconds; points taken at the
 * executor's start and pending commits waited for, but no ended ones
 * kept, still left 1% (READ COMMITTED) and 19% (REPEATABLE READ).
 *
 * So from its PRE_COMMIT until its rows are published such a transaction
 * is *pending* here: its xid and, once numbered, its first sequence
 * number; after that its process keeps it among its last few *ended* ones.
 * A reader taking a new point, right after its Postgres snapshot
 * (snapshot.c), waits for the pending transactions its snapshot shows
 * finished (they publish within moments, or their abort clears them), and
 * caps its point below the first number of every pending or ended one its
 * snapshot shows in progress.  Readers skip the scan while no transaction
 * is pending and no ended one is young enough to be in progress for them,
 * which is always so when only lsm tables are written.
 *
 * A capped point must not read below the reader's horizon, which lets
 * compaction drop versions older than it: the horizon is capped the same
 * way (lsm_pg_visible_cap with the snapshot of the transaction's first
 * point).  A transaction in progress for a later snapshot of the same
 * reader was numbered after that first point, above the horizon.
 *
 * What remains: a point is a prefix of the lsm numbering, and a transaction
 * takes its numbers after Postgres showed it committed, so the two orders
 * can differ.  If T committed before the reader's snapshot and T' after it,
 * but T' took its numbers first, no point has T without T': the cap hides
 * T's lsm rows.  This needs two such commits racing a reader within
 * microseconds; the README says so.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "storage/shmem.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_wait.h"

/* Ended transactions a process keeps: far more than commit during a read's setup. */
#define LSM_ENDED_KEPT	4

typedef struct LsmNumbered
{
	pg_atomic_uint32 xid;		/* InvalidTransactionId: none */
	pg_atomic_uint64 first_seq; /* 0 until numbered */
} LsmNumbered;

typedef struct LsmPending
{
	LsmNumbered now;			/* pending */
	LsmNumbered ended[LSM_ENDED_KEPT];
	uint32		next_ended;		/* written by the owner only */
} LsmPending;

typedef struct LsmPgVisible
{
	int			n_procs;
	pg_atomic_uint32 n_pending;
	pg_atomic_uint32 newest_ended;	/* the highest xid of the ended ones */
	LsmPending	pending[FLEXIBLE_ARRAY_MEMBER];
} LsmPgVisible;

static LsmPgVisible *pv = NULL;

/* whether this backend's transaction is pending */
static bool mine = false;

Size
lsm_pg_visible_shmem_size(void)
{
	return add_size(offsetof(LsmPgVisible, pending),
					mul_size(lsm_total_procs(), sizeof(LsmPending)));
}

static void
numbered_init(LsmNumbered *n)
{
	pg_atomic_init_u32(&n->xid, InvalidTransactionId);
	pg_atomic_init_u64(&n->first_seq, 0);
}

/* at startup, under AddinShmemInitLock */
void
lsm_pg_visible_shmem_init(void)
{
	bool		found;

	pv = ShmemInitStruct("lsm_fdw pending heap+lsm commits",
						 lsm_pg_visible_shmem_size(), &found);
	if (found)
		return;
	pv->n_procs = lsm_total_procs();
	pg_atomic_init_u32(&pv->n_pending, 0);
	pg_atomic_init_u32(&pv->newest_ended, InvalidTransactionId);
	for (int i = 0; i < pv->n_procs; i++)
	{
		numbered_init(&pv->pending[i].now);
		for (int j = 0; j < LSM_ENDED_KEPT; j++)
			numbered_init(&pv->pending[i].ended[j]);
		pv->pending[i].next_ended = 0;
	}
}

/* Write (xid, first) so that a reader that sees xid sees first too. */
static void
numbered_set(LsmNumbered *n, TransactionId xid, uint64 first)
{
	pg_atomic_write_u32(&n->xid, InvalidTransactionId);
	pg_write_barrier();
	pg_atomic_write_u64(&n->first_seq, first);
	pg_write_barrier();
	pg_atomic_write_u32(&n->xid, xid);
}

/* Read it: false when it changed under the read or holds nothing. */
static bool
numbered_get(LsmNumbered *n, TransactionId *xid, uint64 *first)
{
	*xid = pg_atomic_read_u32(&n->xid);
	if (!TransactionIdIsValid(*xid))
		return false;
	pg_read_barrier();
	*first = pg_atomic_read_u64(&n->first_seq);
	pg_read_barrier();
	return pg_atomic_read_u32(&n->xid) == *xid;
}

/*
 * lsm_pg_visible_begin
 *		At PRE_COMMIT, before Postgres can show the transaction committed.
 */
void
lsm_pg_visible_begin(TransactionId xid)
{
	int			me = lsm_my_procno();

	if (pv == NULL || me < 0 || me >= pv->n_procs)
		return;
	numbered_set(&pv->pending[me].now, xid, 0);
	if (!mine)
		pg_atomic_fetch_add_u32(&pv->n_pending, 1);
	mine = true;
	pg_memory_barrier();
}

/*
 * lsm_pg_visible_numbered
 *		Its sequence numbers start at first_seq, before any is published.
 *		Called under the log's insert lock: atomics only.
 */
void
lsm_pg_visible_numbered(uint64 first_seq)
{
	int			me = lsm_my_procno();

	if (mine)
	{
		pg_atomic_write_u64(&pv->pending[me].now.first_seq, first_seq);
		pg_memory_barrier();
	}
}

/*
 * lsm_pg_visible_end
 *		Its rows are published, or it aborted.  A published one moves to
 *		the ended ones before it stops being pending, so that a reader finds
 *		it in one place or the other.
 */
void
lsm_pg_visible_end(void)
{
	int			me = lsm_my_procno();
	LsmPending *p;
	TransactionId xid;
	uint64		first;

	if (!mine)
		return;
	mine = false;
	p = &pv->pending[me];
	if (numbered_get(&p->now, &xid, &first) && first != 0)
	{
		uint32		cur = pg_atomic_read_u32(&pv->newest_ended);

		numbered_set(&p->ended[p->next_ended++ % LSM_ENDED_KEPT], xid, first);
		/* the highest xid, whatever the order the transactions end in */
		while ((!TransactionIdIsValid(cur) || TransactionIdFollows(xid, cur)) &&
			   !pg_atomic_compare_exchange_u32(&pv->newest_ended, &cur, xid))
			;
	}
	pg_memory_barrier();
	pg_atomic_write_u32(&p->now.xid, InvalidTransactionId);
	pg_atomic_fetch_sub_u32(&pv->n_pending, 1);
}

/* The snapshot a new read point goes with; NULL: none (no cap, no wait). */
static Snapshot
reader_snapshot(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;
}

/*
 * lsm_pg_visible_wait
 *		Before a reader reads the published number: wait for the pending
 *		transactions its snapshot shows finished.  Their COMMIT callbacks
 *		hold interrupts and wait for nothing a reader holds.
 */
void
lsm_pg_visible_wait(void)
{
	Snapshot	snap;
	TimestampTz start = 0;
	bool		warned = false;

	if (pv == NULL || pg_atomic_read_u32(&pv->n_pending) == 0 ||
		(snap = reader_snapshot()) == NULL)
		return;
	for (int i = 0; i < pv->n_procs; i++)
	{
		TransactionId xid = pg_atomic_read_u32(&pv->pending[i].now.xid);
		int			spins = 0;

		if (!TransactionIdIsValid(xid) || XidInMVCCSnapshot(xid, snap))
			continue;
		while (pg_atomic_read_u32(&pv->pending[i].now.xid) == xid)
		{
			if (++spins < 100)
			{
				SPIN_DELAY();
				continue;
			}
			if (start == 0)
				start = GetCurrentTimestamp();

			/*
			 * A cancel or statement_timeout ends the wait; past a minute
			 * (a commit's publication takes microseconds to, with a bulk
			 * load's fsyncs, seconds) the read goes on without it, so that
			 * nothing left behind could hang readers.
			 */
			if (!warned && TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 60 * 1000))
			{
				ereport(WARNING,
						(errmsg("lsm_fdw gave up waiting for the lsm rows of transaction %u, which Postgres shows committed", xid),
						 errdetail("This read may see that transaction's heap rows without its lsm rows.")));
				warned = true;
			}
			if (warned)
				break;
			pgstat_report_wait_start(lsm_wait_event_info(LSM_WAIT_COMMIT_PUBLISH));
			pg_usleep(100L);
			pgstat_report_wait_end();
			CHECK_FOR_INTERRUPTS();

			/*
			 * A postmaster killed with the committer leaves its entry: an
			 * orphan waiting here kept the shared memory, and no new
			 * server could start (t/001_crash.pl).
			 */
			if (!PostmasterIsAlive())
				proc_exit(1);
		}
	}
	pg_memory_barrier();
}

static uint64
cap_one(LsmNumbered *n, Snapshot snap, uint64 point)
{
	TransactionId xid;
	uint64		first;

	if (numbered_get(n, &xid, &first) && first != 0 && first <= point &&
		XidInMVCCSnapshot(xid, snap))
		return first - 1;
	return point;
}

/*
 * lsm_pg_visible_cap
 *		point, lowered below the numbers of the pending and ended
 *		transactions the reader's snapshot shows in progress.
 */
uint64
lsm_pg_visible_cap(uint64 point)
{
	Snapshot	snap;
	TransactionId newest;

	if (pv == NULL || (snap = reader_snapshot()) == NULL)
		return point;
	newest = pg_atomic_read_u32(&pv->newest_ended);
	if (pg_atomic_read_u32(&pv->n_pending) == 0 &&
		(!TransactionIdIsValid(newest) || TransactionIdPrecedes(newest, snap->xmin)))
		return point;			/* nothing anyone shows in progress */
	pg_read_barrier();
	for (int i = 0; i < pv->n_procs; i++)
	{
		LsmPending *p = &pv->pending[i];

		point = cap_one(&p->now, snap, point);
		for (int j = 0; j < LSM_ENDED_KEPT; j++)
			point = cap_one(&p->ended[j], snap, point);
	}
	return point;
}
