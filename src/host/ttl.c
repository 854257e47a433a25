/*
 * ttl.c
 *		Expiry of rows (the ttl_column table option): the time a
 *		transaction reads at, and the compaction filter that drops rows no
 *		transaction can see any more.
 *
 * A row whose expiry time is at or before a transaction's TTL read time
 * is invisible to it.  The read time is the transaction's start time (as
 * now()), published in this process's ttl_time slot when the transaction
 * first reads an lsm table (with its horizon, snapshot.c) and kept until
 * it ends.  A compaction drops only rows expired before its cutoff: the
 * oldest published read time, and at most a second before the wall clock.
 *
 * A transaction may publish after a compaction looked at the slots, with
 * a start time older than that compaction's cutoff: it would miss rows
 * expiring between the two.  So a compaction first announces its upper
 * bound (ttl_cutoff, which only grows), then reads the slots; a process
 * first publishes its start time, then reads ttl_cutoff and reads at the
 * later of the two.  With a full barrier on each side one of them sees the
 * other: either the compaction's cutoff is at most the start time, or the
 * process reads at or after the cutoff.  The read time thus exceeds the
 * start time only for a transaction whose first lsm read comes more than
 * a second after it started, with a compaction of a TTL table in between.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/timestamp.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"

/* Compaction keeps rows expired this recently (microseconds). */
#define TTL_CUTOFF_MARGIN	USECS_PER_SEC

static bool have_time = false;
static int64 read_time = 0;

/*
 * lsm_ttl_publish
 *		Called when a transaction first takes a read point.
 */
void
lsm_ttl_publish(void)
{
	LsmShared  *s = lsm_shared;
	int64		start = Max(GetCurrentTransactionStartTimestamp(), 0);
	int64		cutoff;

	pg_atomic_write_u64(&s->ttl_time[lsm_my_procno()], (uint64) start);
	pg_memory_barrier();
	cutoff = (int64) pg_atomic_read_u64(&s->ttl_cutoff);
	read_time = Max(start, cutoff);
	have_time = true;
}

void
lsm_ttl_xact_end(void)
{
	if (have_time && lsm_shared != NULL)
		pg_atomic_write_u64(&lsm_shared->ttl_time[lsm_my_procno()], PG_UINT64_MAX);
	have_time = false;
}

/*
 * lsm_ttl_read_time
 *		The time the current transaction's reads expire rows at.
 */
int64
lsm_ttl_read_time(void)
{
	if (!have_time)
		(void) lsm_newest_point();	/* publishes */
	Assert(have_time);
	return read_time;
}

/*
 * lsm_ttl_confirm
 *		A backend opening a table checks the expiry rule its engine was
 *		opened with (from the OPTIONS file, written even by an ALTER that
 *		rolled back) against the committed catalog; the filter drops
 *		nothing until one has, and stays off when they differ.
 */
void
lsm_ttl_confirm(LsmTableSlot *slot, Oid relid)
{
	LsmTableSettings settings;

	if (slot->ttl_confirmed)
		return;
	lsm_settings_for_table(relid, &settings);
	if (slot->ttl_attno != settings.ttl_attno || slot->ttl_usecs != settings.ttl_usecs)
		slot->ttl_attno = 0;
	pg_write_barrier();
	slot->ttl_confirmed = true;
}

/*
 * lsm_ttl_filter_start
 *		The engine's filter_start_fn: this compaction's cutoff (see above).
 */
uint64_t
lsm_ttl_filter_start(void *arg)
{
	LsmShared  *s = lsm_shared;
	uint64		bound = (uint64) Max(GetCurrentTimestamp() - TTL_CUTOFF_MARGIN, 1);
	uint64		cutoff = bound;

	lsm_atomic_raise_u64(&s->ttl_cutoff, bound);
	pg_memory_barrier();
	for (int i = 0; i < s->n_procs; i++)
	{
		uint64		t = pg_atomic_read_u64(&s->ttl_time[i]);

		if (t < cutoff)
			cutoff = t;
	}
	return cutoff;
}

/*
 * lsm_ttl_filter
 *		The engine's filter_fn: drop a row that expired before the cutoff.
 *		arg is the table's slot.
 */
bool
lsm_ttl_filter(void *arg, uint64_t start, LsmSlice key, LsmSlice value)
{
	LsmTableSlot *slot = (LsmTableSlot *) arg;
	int			attno;
	int64		expires;

	if (!slot->ttl_confirmed)
		return false;
	pg_read_barrier();
	attno = slot->ttl_attno;
	if (attno <= 0 || attno > LSM_TTL_MAX_ATTNO || start == 0)
		return false;
	if (!lsm_row_peek_int64((const char *) value.data, value.len, attno,
							slot->ttl_typlens, &expires) ||
		!lsm_ttl_expiry(expires, slot->ttl_usecs, &expires))
		return false;
	return expires < (int64) start;
}
