/*
 * keylock.c
 *		Write locks on keys, in Postgres's heavyweight lock manager.
 *
 * Every write to a key holds an exclusive lock on (database, table, hash of
 * the key) until the transaction ends; a commit publishes its writes before
 * Postgres releases the locks, so whoever takes the lock next reads the
 * previous writer's row as the newest committed one.  That is what makes
 * concurrent "n = n + 1" add up.  Using the lock manager gives deadlock
 * detection, lock_timeout, pg_locks and release at (sub)transaction abort
 * for free.  Hash collisions only cause waits, never wrong results.
 *
 * Every locker first takes the table's tag in RowExclusiveLock; past
 * lsm_fdw.max_key_locks_per_transaction key locks a transaction takes the
 * table tag in ExclusiveLock instead and stops taking key locks, which
 * bounds the shared lock table for bulk statements.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"

/* field4 of our advisory tags; pg_advisory_lock uses 1 and 2 */
#define LSM_LOCK_SPACE_KEY		0x4c53
#define LSM_LOCK_SPACE_TABLE	0x4c54

int			lsm_max_key_locks_per_transaction = 1000;

static LocalTransactionId counted_lxid = InvalidLocalTransactionId;
static int	key_locks = 0;
static Oid	escalated[8];
static int	n_escalated = 0;

static bool
is_escalated(Oid relid)
{
	for (int i = 0; i < n_escalated; i++)
		if (escalated[i] == relid)
			return true;
	return false;
}

/*
 * lsm_lock_key
 *		Take the write lock of key in relid for the rest of the transaction,
 *		waiting for its holder.
 */
void
lsm_lock_key(Oid relid, LsmSlice key)
{
	LOCKTAG		tag;

	if (counted_lxid != MyProc->lxid)
	{
		counted_lxid = MyProc->lxid;
		key_locks = 0;
		n_escalated = 0;
	}
	if (is_escalated(relid))
		return;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, relid, 0, LSM_LOCK_SPACE_TABLE);
	if (key_locks >= lsm_max_key_locks_per_transaction &&
		n_escalated < (int) lengthof(escalated))
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		escalated[n_escalated++] = relid;
		return;
	}
	(void) LockAcquire(&tag, RowExclusiveLock, false, false);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, relid,
						 hash_bytes((const unsigned char *) key.data, (int) key.len),
						 LSM_LOCK_SPACE_KEY);
	if (LockAcquire(&tag, ExclusiveLock, false, false) == LOCKACQUIRE_OK)
		key_locks++;
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
