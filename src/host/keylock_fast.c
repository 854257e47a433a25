/*
 * keylock_fast.c
 *		The fast path of weak (shared) key locks, outside the lock manager.
 *
 * Blind writers (increments written as merge operands, INSERTs into an
 * on_duplicate 'overwrite' table) commute with each other: they only need
 * to keep out the read-modify-write writers of their key, which are rarer.
 * Taking a lock-manager lock per blind write (a partition LWLock, two
 * shared hash tables, a PROCLOCK) was most of their cost, so a weak lock is
 * recorded in the backend's own slot of a shared array instead, modelled on
 * Postgres's fast-path relation locks (lock.c, FastPathStrongRelationLocks),
 * with one difference: a strong locker never transfers the entries it finds
 * into the lock manager, it waits for the holder's whole transaction with
 * VirtualXactLock, which is a lock-manager wait (deadlock detection,
 * lock_timeout, cancellation and pg_locks keep working).  Weak locks are
 * held to the end of the transaction anyway, so nothing is lost by waiting
 * for it.
 *
 * Shared state:
 *
 * - parts[LSM_FASTLOCK_PARTS]: per partition of key tags (a hash of
 *   database, table and key hash), "strong", the number of strong lock
 *   announcements of transactions in progress, and "weak", the number of
 *   fast-path entries.  Both are atomics changed by any backend.  The weak
 *   count only lets a strong locker skip the scan of every backend's slot
 *   when nobody holds a key of the partition weakly.
 * - tables[LSM_FASTLOCK_TABLE_PARTS]: the strong count of table-level
 *   partitions (a hash of database and table), announced by a transaction
 *   that escalates to a table lock.
 * - slots[n_procs]: per backend (by pgprocno) the tags it holds weakly and
 *   the virtual transaction that holds them.  Written only by its owner,
 *   under its spinlock; read by strong lockers under the same spinlock (the
 *   owner reads its own without it).
 *
 * The race between a weak and a strong locker is closed as in lock.c: the
 * weak locker bumps the partition's weak count (a full barrier), then reads
 * the strong counts, and records its entry only if they are zero, all under
 * its slot's spinlock; the strong locker bumps its strong count (a full
 * barrier), then reads the weak count and scans the slots under their
 * spinlocks.  Either the strong locker sees the entry, or the weak locker
 * sees the count and falls back to the lock manager, where the strong
 * locker's ExclusiveLock makes it wait.  An entry is recorded only once it
 * is certain, so a strong locker never waits for a transaction that then
 * gives the lock up.
 *
 * Entries and strong counts are dropped at the end of the transaction,
 * after its commit was published (xact.c calls lsm_fastlock_xact_end after
 * lsm_commit_resolve): a strong locker that stops waiting, or finds no
 * entry, reads every blind write that committed.  They are kept across a
 * rolled-back subtransaction (the lock is held a little longer than the
 * lock manager would, never shorter).  Memory is fixed at start: a backend
 * whose slot is full takes further weak locks in the lock manager.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"

/* partitions of key tags and of tables (powers of two) */
#define LSM_FASTLOCK_PARTS			4096
#define LSM_FASTLOCK_TABLE_PARTS	256

typedef struct LsmFastLockPart
{
	pg_atomic_uint32 strong;
	pg_atomic_uint32 weak;
} LsmFastLockPart;

typedef struct LsmFastLockTag
{
	Oid			dboid;
	Oid			relid;
	uint32		keyhash;
} LsmFastLockTag;

typedef struct LsmFastLockSlot
{
	slock_t		mutex;
	int			n;				/* entries in use */
	VirtualTransactionId vxid;	/* the transaction holding them */
	LsmFastLockTag tags[LSM_FASTLOCK_SLOT_ENTRIES];
} LsmFastLockSlot;

typedef struct LsmFastLockShared
{
	int			n_procs;
	LsmFastLockPart parts[LSM_FASTLOCK_PARTS];
	pg_atomic_uint32 tables[LSM_FASTLOCK_TABLE_PARTS];
	LsmFastLockSlot slots[FLEXIBLE_ARRAY_MEMBER];
} LsmFastLockShared;

static LsmFastLockShared *fastlock = NULL;

/*
 * Strong announcements of this backend's transaction, to take back at its
 * end: partition numbers, table partitions as LSM_FASTLOCK_PARTS + n.  One
 * per key strongly locked (keylock.c announces a key once and escalates
 * past lsm_fdw.max_key_locks_per_transaction), so bounded per transaction.
 */
static uint32 *strong_held = NULL;
static int	n_strong_held = 0;
static int	max_strong_held = 0;

/*
 * lsm_fastlock_shmem_size
 *		Bytes of shared memory for the fast path.
 */
Size
lsm_fastlock_shmem_size(void)
{
	return add_size(offsetof(LsmFastLockShared, slots),
					mul_size(lsm_total_procs(), sizeof(LsmFastLockSlot)));
}

/*
 * lsm_fastlock_shmem_init
 *		Create or attach to the fast path's shared memory (at startup, under
 *		AddinShmemInitLock).
 */
void
lsm_fastlock_shmem_init(void)
{
	bool		found;

	fastlock = ShmemInitStruct("lsm_fdw key locks", lsm_fastlock_shmem_size(), &found);
	if (found)
		return;
	fastlock->n_procs = lsm_total_procs();
	for (int i = 0; i < LSM_FASTLOCK_PARTS; i++)
	{
		pg_atomic_init_u32(&fastlock->parts[i].strong, 0);
		pg_atomic_init_u32(&fastlock->parts[i].weak, 0);
	}
	for (int i = 0; i < LSM_FASTLOCK_TABLE_PARTS; i++)
		pg_atomic_init_u32(&fastlock->tables[i], 0);
	for (int i = 0; i < fastlock->n_procs; i++)
	{
		SpinLockInit(&fastlock->slots[i].mutex);
		fastlock->slots[i].n = 0;
	}
}

static inline uint32
key_part(Oid dboid, Oid relid, uint32 keyhash)
{
	return murmurhash32(keyhash ^ murmurhash32(relid ^ murmurhash32(dboid))) &
		(LSM_FASTLOCK_PARTS - 1);
}

static inline uint32
table_part(Oid dboid, Oid relid)
{
	return murmurhash32(relid ^ murmurhash32(dboid)) & (LSM_FASTLOCK_TABLE_PARTS - 1);
}

static LsmFastLockSlot *
my_slot(void)
{
	int			me = lsm_my_procno();

	if (fastlock == NULL || me < 0 || me >= fastlock->n_procs)
		return NULL;
	return &fastlock->slots[me];
}

/* The backend's own entries in partition p (read without the lock: its own) */
static uint32
my_entries_in_part(uint32 p)
{
	LsmFastLockSlot *slot = my_slot();
	uint32		mine = 0;

	if (slot == NULL)
		return 0;
	for (int i = 0; i < slot->n; i++)
		if (key_part(slot->tags[i].dboid, slot->tags[i].relid, slot->tags[i].keyhash) == p)
			mine++;
	return mine;
}

/*
 * lsm_fastlock_weak
 *		Take the weak lock of (dboid, relid, keyhash) on the fast path, for
 *		the rest of the transaction.  False when a strong locker of its
 *		partition or of its table is in progress, or the slot is full: the
 *		caller then takes the lock in the lock manager.
 */
bool
lsm_fastlock_weak(Oid dboid, Oid relid, uint32 keyhash)
{
	LsmFastLockSlot *slot = my_slot();
	LsmFastLockPart *part;
	pg_atomic_uint32 *table;
	bool		ok;

	if (slot == NULL)
		return false;
	for (int i = 0; i < slot->n; i++)
		if (slot->tags[i].keyhash == keyhash && slot->tags[i].relid == relid &&
			slot->tags[i].dboid == dboid)
			return true;
	if (slot->n >= LSM_FASTLOCK_SLOT_ENTRIES)
		return false;
	part = &fastlock->parts[key_part(dboid, relid, keyhash)];
	table = &fastlock->tables[table_part(dboid, relid)];
	/* no need for the barrier dance while a strong locker is known */
	if (pg_atomic_read_u32(&part->strong) != 0 || pg_atomic_read_u32(table) != 0)
		return false;

	SpinLockAcquire(&slot->mutex);
	pg_atomic_fetch_add_u32(&part->weak, 1);
	ok = pg_atomic_read_u32(&part->strong) == 0 && pg_atomic_read_u32(table) == 0;
	if (ok)
	{
		if (slot->n == 0)
			GET_VXID_FROM_PGPROC(slot->vxid, *MyProc);
		slot->tags[slot->n].dboid = dboid;
		slot->tags[slot->n].relid = relid;
		slot->tags[slot->n].keyhash = keyhash;
		slot->n++;
	}
	else
		pg_atomic_fetch_sub_u32(&part->weak, 1);
	SpinLockRelease(&slot->mutex);
	return ok;
}

/*
 * lsm_fastlock_announce_strong
 *		Announce a strong lock of a key (table false) or of a whole table
 *		(escalation) until the transaction ends: from now on weak lockers of
 *		its partition go through the lock manager.  The caller then takes
 *		the lock there and calls lsm_fastlock_wait_weak.
 */
void
lsm_fastlock_announce_strong(Oid dboid, Oid relid, uint32 keyhash, bool table)
{
	uint32		p;

	if (fastlock == NULL)
		return;
	p = table ? LSM_FASTLOCK_PARTS + table_part(dboid, relid)
		: key_part(dboid, relid, keyhash);
	/* remember first, so that an ERROR cannot leak the count */
	if (n_strong_held == max_strong_held)
	{
		int			n = Max(16, 2 * max_strong_held);

		strong_held = strong_held == NULL
			? MemoryContextAlloc(TopMemoryContext, n * sizeof(uint32))
			: repalloc(strong_held, n * sizeof(uint32));
		max_strong_held = n;
	}
	strong_held[n_strong_held++] = p;
	if (table)
		pg_atomic_fetch_add_u32(&fastlock->tables[p - LSM_FASTLOCK_PARTS], 1);
	else
		pg_atomic_fetch_add_u32(&fastlock->parts[p].strong, 1);
}

/*
 * lsm_fastlock_withdraw_strong
 *		Take back the latest announcement (a try that failed).
 */
void
lsm_fastlock_withdraw_strong(void)
{
	uint32		p;

	if (fastlock == NULL || n_strong_held == 0)
		return;
	p = strong_held[--n_strong_held];
	if (p >= LSM_FASTLOCK_PARTS)
		pg_atomic_fetch_sub_u32(&fastlock->tables[p - LSM_FASTLOCK_PARTS], 1);
	else
		pg_atomic_fetch_sub_u32(&fastlock->parts[p].strong, 1);
}

/*
 * lsm_fastlock_wait_weak
 *		Wait for the end of every other transaction holding the key (table
 *		false) or any key of the table (table true) on the fast path; the
 *		caller announced its strong lock first.  With wait false, return
 *		false at once if there is one.
 */
bool
lsm_fastlock_wait_weak(Oid dboid, Oid relid, uint32 keyhash, bool table, bool wait)
{
	VirtualTransactionId *holders;
	int			n = 0;
	int			me = lsm_my_procno();

	if (fastlock == NULL)
		return true;
	/*
	 * Nobody else holds a key of the partition: any weak locker that comes
	 * after this read sees the announcement.  The backend's own entries are
	 * counted too (an increment folding its key holds it weakly).
	 */
	if (!table &&
		pg_atomic_read_u32(&fastlock->parts[key_part(dboid, relid, keyhash)].weak) <=
		my_entries_in_part(key_part(dboid, relid, keyhash)))
		return true;

	holders = palloc(sizeof(VirtualTransactionId) * fastlock->n_procs);
	for (int i = 0; i < fastlock->n_procs; i++)
	{
		LsmFastLockSlot *slot = &fastlock->slots[i];

		if (i == me)
			continue;
		SpinLockAcquire(&slot->mutex);
		for (int j = 0; j < slot->n; j++)
		{
			if (slot->tags[j].relid == relid && slot->tags[j].dboid == dboid &&
				(table || slot->tags[j].keyhash == keyhash))
			{
				holders[n++] = slot->vxid;
				break;
			}
		}
		SpinLockRelease(&slot->mutex);
		if (n > 0 && !wait)
			break;
	}
	if (!wait)
	{
		pfree(holders);
		return n == 0;
	}
	/* a lock-manager wait on each holder's transaction (deadlock detection) */
	for (int i = 0; i < n; i++)
		(void) VirtualXactLock(holders[i], true);
	pfree(holders);
	return true;
}

/*
 * lsm_fastlock_xact_end
 *		Drop this backend's weak entries and strong announcements: its
 *		transaction ended and its commit, if any, is published.
 */
void
lsm_fastlock_xact_end(void)
{
	LsmFastLockSlot *slot = my_slot();

	if (slot != NULL && slot->n > 0)
	{
		SpinLockAcquire(&slot->mutex);
		for (int i = 0; i < slot->n; i++)
			pg_atomic_fetch_sub_u32(&fastlock->parts[key_part(slot->tags[i].dboid,
															   slot->tags[i].relid,
															   slot->tags[i].keyhash)].weak, 1);
		slot->n = 0;
		SpinLockRelease(&slot->mutex);
	}
	while (n_strong_held > 0)
		lsm_fastlock_withdraw_strong();
}

/*
 * lsm_fastlock_strong_held
 *		Whether this backend's transaction announced a strong lock.
 */
bool
lsm_fastlock_strong_held(void)
{
	return n_strong_held > 0;
}

/*
 * lsm_fastlock_others_weak
 *		Whether, as far as a glance at the counts tells, another backend
 *		holds a key of the partition of (dboid, relid, keyhash) weakly on
 *		the fast path.  No barrier and no guarantee: a cheap refusal before
 *		the real protocol for lsm_try_lock_key, whose failure is common on
 *		hot keys.
 */
bool
lsm_fastlock_others_weak(Oid dboid, Oid relid, uint32 keyhash)
{
	uint32		p;

	if (fastlock == NULL)
		return false;
	p = key_part(dboid, relid, keyhash);
	return pg_atomic_read_u32(&fastlock->parts[p].weak) > my_entries_in_part(p);
}
