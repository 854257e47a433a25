/*
 * keylock.c
 *		Write locks on keys, in Postgres's heavyweight lock manager.
 *
 * Every write to a key holds a lock on (database, table, hash of the key)
 * until the transaction ends; a commit publishes its writes before the
 * locks go, so whoever takes the lock next reads the previous writer's row
 * as the newest committed one.  That is what makes concurrent "n = n * 2"
 * and "n = n + 1" add up.  Writers that read the key take it strongly
 * (ExclusiveLock); blind writers, which commute, weakly: on the fast path
 * of keylock_fast.c, outside the lock manager, or in ShareLock when a
 * strong locker is about.  Using the lock manager gives deadlock detection,
 * lock_timeout, pg_locks and release at (sub)transaction abort for free;
 * the fast path keeps the first three by waiting there for its holders'
 * transactions.  Hash collisions only cause waits, never wrong results.
 *
 * Every locker first takes the table's tag in RowExclusiveLock; past
 * lsm_fdw.max_key_locks_per_transaction key locks a transaction takes the
 * table tag in ExclusiveLock instead and stops taking key locks, which
 * bounds the shared lock table for bulk statements.
 *
 * Whether a table is escalated is asked of the lock manager, not remembered
 * here: a rolled-back subtransaction (ROLLBACK TO SAVEPOINT, a PL/pgSQL
 * exception block) releases the table lock it took, and a write after that
 * must take key locks again.  Likewise the key-lock count drops back to its
 * value at the start of an aborted subtransaction, whose locks are gone.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/memutils.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"

/* field4 of our advisory tags; pg_advisory_lock uses 1 and 2 */
#define LSM_LOCK_SPACE_KEY		0x4c53
#define LSM_LOCK_SPACE_TABLE	0x4c54

int			lsm_max_key_locks_per_transaction = 1000;

/*
 * Per-transaction state of this backend, reset when MyProc->lxid changes.
 * key_locks counts the key locks the transaction holds (as far as they
 * count against the limit); escalations says whether it ever escalated,
 * so that transactions that never did skip the lock-manager lookup.
 */
static LocalTransactionId counted_lxid = InvalidLocalTransactionId;
static int	key_locks = 0;
static bool escalations = false;

/*
 * The key-lock count at the start of each open subtransaction that took a
 * key lock, innermost last: what key_locks goes back to when that
 * subtransaction aborts.  Pushed lazily by lsm_lock_key, so subtransactions
 * that lock nothing cost nothing.
 */
typedef struct SubxactCount
{
	SubTransactionId subid;
	int			key_locks;
} SubxactCount;

static SubxactCount *subxact_counts = NULL;
static int	n_subxact_counts = 0;
static int	max_subxact_counts = 0;

/*
 * What this transaction wrote blindly in tables that take blind
 * overwrites, for lsm_keylock_commit_blind: the tables, and a 64-bit mask
 * of their keys' hashes.  Emptied when the transaction ends.
 */
static Oid *blind_tables = NULL;
static int	n_blind_tables = 0;
static int	max_blind_tables = 0;
static uint64 blind_mask = 0;

static void lock_key(Oid relid, LsmSlice key, LOCKMODE mode);
static void lock_key_hash(Oid relid, uint32 keyhash, LOCKMODE mode);
static void keylock_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									 SubTransactionId parentSubid, void *arg);

/*
 * Whether this backend holds tag in mode, in any (sub)transaction still
 * open.  A lookup in the backend's own lock table: no shared memory.
 */
static bool
held_by_me(const LOCKTAG *tag, LOCKMODE mode)
{
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(tag, mode, false);
#else
	return LockHeldByMe(tag, mode);
#endif
}

/*
 * Remember the key-lock count at the start of the current subtransaction,
 * once per subtransaction.
 */
static void
remember_subxact_count(void)
{
	SubTransactionId subid = GetCurrentSubTransactionId();

	if (subid == TopSubTransactionId ||
		(n_subxact_counts > 0 && subxact_counts[n_subxact_counts - 1].subid == subid))
		return;
	if (n_subxact_counts == max_subxact_counts)
	{
		int			n = Max(8, 2 * max_subxact_counts);

		if (subxact_counts == NULL)
		{
			static bool registered = false;

			subxact_counts = MemoryContextAlloc(TopMemoryContext, n * sizeof(SubxactCount));
			if (!registered)
			{
				RegisterSubXactCallback(keylock_subxact_callback, NULL);
				registered = true;
			}
		}
		else
			subxact_counts = repalloc(subxact_counts, n * sizeof(SubxactCount));
		max_subxact_counts = n;
	}
	subxact_counts[n_subxact_counts].subid = subid;
	subxact_counts[n_subxact_counts].key_locks = key_locks;
	n_subxact_counts++;
}

/*
 * An aborted subtransaction's key locks are released: its count goes.  A
 * committed one's stay, now held by the parent: its entry becomes the
 * parent's, unless the parent has its own (older, so lower) one.
 */
static void
keylock_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	SubxactCount *top;

	if (n_subxact_counts == 0 || counted_lxid != MyProc->lxid ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	top = &subxact_counts[n_subxact_counts - 1];
	if (top->subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		key_locks = top->key_locks;
		n_subxact_counts--;
	}
	else if (parentSubid == TopSubTransactionId ||
			 (n_subxact_counts > 1 && top[-1].subid == parentSubid))
		n_subxact_counts--;
	else
		top->subid = parentSubid;
}

/*
 * lsm_lock_key
 *		Take the write lock of key in relid for the rest of the transaction,
 *		waiting for its holders: a strong lock, for writers that read the
 *		row (UPDATE, DELETE, INSERT's existence check, "n = n * 2").
 */
void
lsm_lock_key(Oid relid, LsmSlice key)
{
	lock_key(relid, key, ExclusiveLock);
}

/*
 * lsm_lock_key_shared
 *		The key's weak lock, for blind writes that commute: increments
 *		(merge operands) and sums (on_duplicate 'sum' of every non-key
 *		column); lsm_lock_key_blind takes it for overwrites.  They do not
 *		wait for each other, but a strong locker waits for them and they for
 *		it, so that it reads every committed blind write and none is lost.  Taken
 *		on the fast path (keylock_fast.c) unless a strong locker of the key's
 *		partition is in progress; then in the lock manager in ShareLock.
 */
void
lsm_lock_key_shared(Oid relid, LsmSlice key)
{
	lock_key(relid, key, ShareLock);
}

/*
 * lsm_lock_key_blind
 *		The weak lock of a blind overwrite (an on_duplicate 'overwrite'
 *		INSERT).  Overwrites do not commute, but they do not wait for each
 *		other: the later commit wins, in the order of their sequence
 *		numbers, which lsm_keylock_commit_blind keeps in Postgres's commit
 *		order.  (An increment in such a table takes the strong lock: it
 *		reads whether its row exists, which an overwrite may be creating.)
 */
void
lsm_lock_key_blind(Oid relid, LsmSlice key)
{
	uint32		keyhash = hash_bytes((const unsigned char *) key.data, (int) key.len);
	int			i;

	lock_key_hash(relid, keyhash, ShareLock);
	blind_mask |= lsm_blind_order_bit(keyhash);
	for (i = 0; i < n_blind_tables; i++)
		if (blind_tables[i] == relid)
			return;
	if (n_blind_tables == max_blind_tables)
	{
		int			n = Max(4, 2 * max_blind_tables);

		blind_tables = blind_tables == NULL
			? MemoryContextAlloc(TopMemoryContext, n * sizeof(Oid))
			: repalloc(blind_tables, n * sizeof(Oid));
		max_blind_tables = n;
	}
	blind_tables[n_blind_tables++] = relid;
}

/*
 * lsm_keylock_commit_blind
 *		At PRE_COMMIT, before the transaction takes its sequence numbers:
 *		if it wrote keys with lsm_lock_key_blind, wait for the commits of
 *		those keys that Postgres has decided or is deciding before it
 *		(blind_order.c).  An ERROR here (deadlock, lock_timeout, cancel)
 *		still aborts the transaction.
 */
void
lsm_keylock_commit_blind(bool pg_decided)
{
	if (n_blind_tables == 0 || counted_lxid != MyProc->lxid)
		return;
	lsm_blind_order_commit(pg_decided, blind_mask, n_blind_tables, blind_tables);
}

/*
 * lsm_try_lock_key
 *		The key's strong lock if no other transaction holds the key, without
 *		waiting; the caller holds its weak lock already.
 */
bool
lsm_try_lock_key(Oid relid, LsmSlice key)
{
	LOCKTAG		table_tag;
	LOCKTAG		key_tag;
	uint32		keyhash;

	SET_LOCKTAG_ADVISORY(table_tag, MyDatabaseId, relid, 0, LSM_LOCK_SPACE_TABLE);
	if (escalations && held_by_me(&table_tag, ExclusiveLock))
		return true;
	keyhash = hash_bytes((const unsigned char *) key.data, (int) key.len);
	SET_LOCKTAG_ADVISORY(key_tag, MyDatabaseId, relid, keyhash, LSM_LOCK_SPACE_KEY);
	if (held_by_me(&key_tag, ExclusiveLock))
		return true;

	/*
	 * Only a single-statement transaction takes the lock opportunistically:
	 * one in a transaction block may go on to wait for another key's lock
	 * while holding this one, and two such transactions folding each
	 * other's hot keys deadlocked (t/017_counter_crash.pl, 40P01 between
	 * transactions that only increment).  A key incremented only in
	 * transaction blocks is left to compaction and the next single-statement
	 * increment (docs/design.md, "Blind increments").
	 */
	if (IsTransactionBlock())
		return false;
	/* the common failure on a hot key, without touching the lock manager */
	if (lsm_fastlock_others_weak(MyDatabaseId, relid, keyhash))
		return false;
	lsm_fastlock_announce_strong(MyDatabaseId, relid, keyhash, false);
	if (LockAcquire(&key_tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		lsm_fastlock_withdraw_strong();
		return false;
	}
	if (!lsm_fastlock_wait_weak(MyDatabaseId, relid, keyhash, false, false))
	{
		LockRelease(&key_tag, ExclusiveLock, false);
		lsm_fastlock_withdraw_strong();
		return false;
	}
	return true;
}

static void
lock_key(Oid relid, LsmSlice key, LOCKMODE mode)
{
	lock_key_hash(relid, hash_bytes((const unsigned char *) key.data, (int) key.len), mode);
}

static void
lock_key_hash(Oid relid, uint32 keyhash, LOCKMODE mode)
{
	LOCKTAG		table_tag;
	LOCKTAG		key_tag;

	if (counted_lxid != MyProc->lxid)
	{
		counted_lxid = MyProc->lxid;
		key_locks = 0;
		escalations = false;
		n_subxact_counts = 0;
		n_blind_tables = 0;
		blind_mask = 0;
	}

	SET_LOCKTAG_ADVISORY(table_tag, MyDatabaseId, relid, 0, LSM_LOCK_SPACE_TABLE);
	if (escalations && held_by_me(&table_tag, ExclusiveLock))
		return;
	if (mode == ShareLock && lsm_fastlock_weak(MyDatabaseId, relid, keyhash))
		return;
	SET_LOCKTAG_ADVISORY(key_tag, MyDatabaseId, relid, keyhash, LSM_LOCK_SPACE_KEY);
	if (key_locks >= lsm_max_key_locks_per_transaction)
	{
		/* a key locked before (an UPDATE locks a row to read it, then to write it) */
		if (held_by_me(&key_tag, ExclusiveLock) || held_by_me(&key_tag, mode))
			return;
		/* fast-path holders first, as for a key below */
		lsm_fastlock_announce_strong(MyDatabaseId, relid, 0, true);
		(void) lsm_fastlock_wait_weak(MyDatabaseId, relid, 0, true, true);
		(void) LockAcquire(&table_tag, ExclusiveLock, false, false);
		escalations = true;
		return;
	}
	if (mode == ExclusiveLock)
	{
		/* announced once per key: the waits for weak holders were done */
		if (held_by_me(&key_tag, ExclusiveLock))
			return;
		lsm_fastlock_announce_strong(MyDatabaseId, relid, keyhash, false);

		/*
		 * Wait for the fast-path holders before taking the lock-manager
		 * lock, not while holding it: a holder that then wants the key
		 * strongly itself (an increment, then n = n * 2 in the same
		 * transaction) must get it, as it would have in the lock manager,
		 * where a lock upgrade goes ahead of a waiter it conflicts with.
		 * Holding ExclusiveLock here made that a deadlock.  Weak lockers
		 * arriving meanwhile see the announcement and queue in the lock
		 * manager, where the ExclusiveLock below waits for them.
		 */
		(void) lsm_fastlock_wait_weak(MyDatabaseId, relid, keyhash, false, true);
	}
	(void) LockAcquire(&table_tag, RowExclusiveLock, false, false);
	if (LockAcquire(&key_tag, mode, false, false) == LOCKACQUIRE_OK)
	{
		remember_subxact_count();
		key_locks++;
	}
}

/*
 * lsm_keylock_check_prepare
 *		A prepared transaction keeps its lock-manager locks, but the strong
 *		announcements that make blind writers queue behind them belong to
 *		this backend (keylock_fast.c): a transaction holding a key strongly
 *		(SELECT FOR UPDATE of an lsm table) may not PREPARE.
 */
void
lsm_keylock_check_prepare(void)
{
	if (lsm_fastlock_strong_held())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that has locked keys of lsm_fdw tables"),
				 errdetail("SELECT FOR UPDATE, UPDATE and DELETE lock the keys of lsm_fdw tables until the transaction ends.")));
}

/*
 * lsm_keylock_xact_end
 *		The transaction ended and its commit, if any, is published: drop
 *		the locks taken outside the lock manager (it releases its own ones
 *		right after).
 */
void
lsm_keylock_xact_end(void)
{
	lsm_blind_order_xact_end();
	lsm_fastlock_xact_end();
	n_blind_tables = 0;
	blind_mask = 0;
}

/*
 * lsm_check_serializable
 *		Under REPEATABLE READ, a write to a key whose newest committed
 *		version is newer than the transaction's snapshot fails, as with
 *		heap tables.
 */
void
lsm_check_serializable(Oid relid, LsmSeq found_seq)
{
	if (IsolationUsesXactSnapshot() && found_seq > lsm_read_point())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
}
