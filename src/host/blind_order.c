/*
 * blind_order.c
 *		Blind writes of a key, committed in Postgres's commit order.
 *
 * Blind overwrites (on_duplicate 'overwrite' INSERTs) do not commute, yet
 * hold only the key's weak lock (keylock.c), so they do not wait for each
 * other: the later commit wins,
 * in the order of the lsm sequence numbers.  A transaction that wrote only
 * lsm tables takes its sequence numbers at PRE_COMMIT, where its commit is
 * decided.  One that also wrote Postgres data ("PG-decided", commit.c)
 * takes them in its COMMIT callback, after Postgres already shows it
 * committed.  A second transaction that saw it committed in that moment
 * (through its heap row, say) and then wrote the key blindly must not take
 * its sequence numbers first, or the lsm table would keep the older row
 * while heap keeps the newer (t/005_pgbench.pl found that).
 *
 * So a PG-decided transaction opens a *commit window* at PRE_COMMIT, before
 * Postgres commits it: an entry here (a ticket, its virtual transaction and
 * a summary of its blind keys) that stays until the transaction ends, after
 * its sequence numbers are published.  A transaction about to commit blind
 * writes first waits for the end of every open window of a lower ticket
 * whose keys may overlap its own; an LSM-decided one has no ticket and
 * waits for every such window.  Whoever saw a PG-decided transaction
 * committed sees its window, and waits only go from higher tickets to lower
 * ones.  A window never waits for a transaction that has not reached its
 * commit.  A strong lock taken at PRE_COMMIT instead did: two transactions
 * that each wrote the key blindly and a heap row, the second waiting for
 * the first's heap row while the first's commit waited for the second's
 * weak lock, deadlocked.
 *
 * The summary is the tables (up to LSM_WINDOW_TABLES, else any table of
 * the database) and a 64-bit mask of key hashes: a false overlap costs a
 * wait for a commit in progress, never a wrong order.  A count of open
 * windows lets commits skip the scan while there are none.  It is raised
 * before the entry is written, before Postgres commits the window's
 * transaction, and read after a barrier by a commit that may have seen that
 * transaction committed, so such a commit finds the entry.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"

#define LSM_WINDOW_TABLES	8

typedef struct LsmWindow
{
	slock_t		mutex;
	bool		open;
	uint64		ticket;
	VirtualTransactionId vxid;
	Oid			dboid;
	int			ntables;		/* -1: any table of the database */
	Oid			tables[LSM_WINDOW_TABLES];
	uint64		keymask;
} LsmWindow;

typedef struct LsmBlindOrder
{
	int			n_procs;
	pg_atomic_uint32 n_open;
	pg_atomic_uint64 next_ticket;
	LsmWindow	windows[FLEXIBLE_ARRAY_MEMBER];
} LsmBlindOrder;

static LsmBlindOrder *order = NULL;

/* whether this backend's transaction opened its window */
static bool window_open = false;

/*
 * For tests only: a commit that opened its window then waits for the
 * advisory lock (pg_advisory_lock(n)) with this number, so that a test can
 * hold a window open.
 */
static int	debug_window_lock = 0;

void
lsm_blind_order_define_gucs(void)
{
	DefineCustomIntVariable("lsm_fdw.debug_commit_window_lock",
							"For tests only: a commit that opened its blind-write commit window waits for this advisory lock.",
							"0, the default, waits for nothing.",
							&debug_window_lock,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
}

/* as pg_advisory_lock(n) then pg_advisory_unlock(n) would */
static void
debug_wait(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, (uint32) debug_window_lock, 1);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	LockRelease(&tag, ExclusiveLock, false);
}

Size
lsm_blind_order_shmem_size(void)
{
	return add_size(offsetof(LsmBlindOrder, windows),
					mul_size(lsm_total_procs(), sizeof(LsmWindow)));
}

/* at startup, under AddinShmemInitLock */
void
lsm_blind_order_shmem_init(void)
{
	bool		found;

	order = ShmemInitStruct("lsm_fdw blind write order", lsm_blind_order_shmem_size(), &found);
	if (found)
		return;
	order->n_procs = lsm_total_procs();
	pg_atomic_init_u32(&order->n_open, 0);
	pg_atomic_init_u64(&order->next_ticket, 1);
	for (int i = 0; i < order->n_procs; i++)
	{
		SpinLockInit(&order->windows[i].mutex);
		order->windows[i].open = false;
	}
}

/*
 * lsm_blind_order_bit
 *		The bit of a key in a window's mask.
 */
uint64
lsm_blind_order_bit(uint32 keyhash)
{
	/* the key alone (tables are compared apart): the same bit in every run */
	return UINT64CONST(1) << (murmurhash32(keyhash) & 63);
}

static bool
tables_overlap(const LsmWindow *w, int ntables, const Oid *tables)
{
	if (w->ntables < 0)
		return true;
	for (int i = 0; i < w->ntables; i++)
		for (int j = 0; j < ntables; j++)
			if (w->tables[i] == tables[j])
				return true;
	return false;
}

/*
 * lsm_blind_order_commit
 *		Called at PRE_COMMIT by a transaction that wrote keys blindly
 *		(keymask, in the given tables), before it takes sequence numbers:
 *		open its window if Postgres decides its commit, then wait for the
 *		transactions of the earlier open windows that may share a key.
 */
void
lsm_blind_order_commit(bool pg_decided, uint64 keymask, int ntables, const Oid *tables)
{
	int			me = lsm_my_procno();
	uint64		ticket = PG_UINT64_MAX;
	VirtualTransactionId *holders;
	int			n = 0;

	if (order == NULL || me < 0 || me >= order->n_procs)
		return;
	if (pg_decided && !window_open)
	{
		LsmWindow  *w = &order->windows[me];

		window_open = true;		/* first, so that an ERROR cannot leak the count */
		pg_atomic_fetch_add_u32(&order->n_open, 1);
		ticket = pg_atomic_fetch_add_u64(&order->next_ticket, 1);
		SpinLockAcquire(&w->mutex);
		w->ticket = ticket;
		GET_VXID_FROM_PGPROC(w->vxid, *MyProc);
		w->dboid = MyDatabaseId;
		w->ntables = ntables > LSM_WINDOW_TABLES ? -1 : ntables;
		for (int i = 0; i < w->ntables; i++)
			w->tables[i] = tables[i];
		w->keymask = keymask;
		w->open = true;
		SpinLockRelease(&w->mutex);
		if (debug_window_lock != 0)
			debug_wait();
	}
	pg_memory_barrier();
	if (pg_atomic_read_u32(&order->n_open) <= (window_open ? 1 : 0))
		return;

	holders = palloc(sizeof(VirtualTransactionId) * order->n_procs);
	for (int i = 0; i < order->n_procs; i++)
	{
		LsmWindow  *w = &order->windows[i];

		if (i == me)
			continue;
		SpinLockAcquire(&w->mutex);
		if (w->open && w->ticket < ticket && w->dboid == MyDatabaseId &&
			(w->keymask & keymask) != 0 && tables_overlap(w, ntables, tables))
			holders[n++] = w->vxid;
		SpinLockRelease(&w->mutex);
	}
	/* a lock-manager wait on each (deadlock detection, lock_timeout, cancel) */
	for (int i = 0; i < n; i++)
		(void) VirtualXactLock(holders[i], true);
	pfree(holders);
}

/*
 * lsm_blind_order_xact_end
 *		Close this backend's window: its transaction ended and its commit,
 *		if any, is published.
 */
void
lsm_blind_order_xact_end(void)
{
	LsmWindow  *w;

	if (!window_open)
		return;
	w = &order->windows[lsm_my_procno()];
	SpinLockAcquire(&w->mutex);
	w->open = false;
	SpinLockRelease(&w->mutex);
	pg_atomic_fetch_sub_u32(&order->n_open, 1);
	window_open = false;
}
