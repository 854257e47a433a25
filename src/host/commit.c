/*
 * commit.c
 *		Making a transaction's writes durable in the server log and applying
 *		them to the shared engines; replaying the log after a restart.
 *
 * A transaction that wrote only lsm tables has no xid, and its COMMIT
 * record in the lsm_fdw log is its commit ("LSM-decided"): append, fsync
 * (shared with every backend committing at the same moment: group commit
 * in xlog.c), apply to each table's memtable, publish.  A transaction that
 * also wrote Postgres data has an xid, and Postgres may still fail it after
 * our PRE_COMMIT callback, so it writes a PREPARE record at PRE_COMMIT and
 * applies only in the COMMIT callback, after Postgres's commit record is
 * durable ("PG-decided"); a RESOLVE record carries its sequence numbers.
 * Recovery applies a PREPARE whose RESOLVE is missing when pg_xact says its
 * xid committed.  docs/design.md, "The shared engine", has the argument;
 * docs/format.md has the record layout.
 *
 * Order: sequence numbers, per-table apply tickets and a commit-ring entry
 * are taken in the log append's fill callback, under the log's insert
 * lock, so their order is the log's.  A table applies commits in ticket
 * order, which keeps every memtable a contiguous stretch of the log (what
 * recovery's "skip what the tables already hold" needs).  Sequence numbers
 * become visible in ring order, once every earlier commit has applied.
 */
#include "postgres.h"

#include <sched.h>
#include <signal.h>

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "replication/message.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "batch.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_commit.h"
#include "lsm_wait.h"
#include "lsm_spill.h"

/* Record types (first payload byte). */
#define REC_COMMIT		1
#define REC_PREPARE		2
#define REC_RESOLVE		3

/* Per-table flags. */
#define TBL_TRUNCATE	0x01
#define TBL_INGEST		0x02	/* the batch names files to ingest */

/*
 * Payload layouts (little-endian fixed-width integers):
 *	COMMIT	type(1) ntables(4) { dboid(4) relid(4) flags(1) batch_len(4) batch }
 *	PREPARE	type(1) xid(4) ntables(4) { same as COMMIT }
 *	RESOLVE	type(1) xid(4) ntables(4) { first_seq(8) }, in PREPARE's order
 * A batch is in the engine's wire format (batch.h) and begins with its first
 * sequence number; COMMIT's are filled in under the insert lock, PREPARE's
 * stay 0 and take RESOLVE's.  With TBL_INGEST (a bulk commit, spill.c) the
 * batch header's count is the number of files and the entries are replaced
 * by { name_len(4) name } per file, names in $PGDATA/lsm_fdw/bulk: file i
 * gets sequence number first_seq + i (lsm_db_ingest).
 */
#define TABLE_HEAD		13

/* What fill() hands back: everything it took, so errors can give it back. */
typedef struct FillState
{
	int			ntables;
	LsmCommitTable *tables;
	size_t	   *seq_offsets;	/* offsets in the payload of each first_seq */
	bool		filled;
	uint64		ring_pos;
	uint64		hi;

	/* for written(): where the batches are, and how the entry is done */
	uint8	   *batches;		/* base of the tables' batch_offset */
	bool		stamp_seq;		/* set first_seq in each batch (RESOLVE) */
	bool		need_flush;		/* the commit waits for its fsync */
	bool		done;			/* written() applied it all and marked it */
	bool		written_ran;	/* written() ran: the record had its place */
} FillState;

/* This backend's prepared batches, between PRE_COMMIT and COMMIT. */
static uint8 *prepared_payload = NULL;
static size_t prepared_len = 0;
static int	prepared_ntables = 0;
static LsmCommitTable *prepared_tables = NULL;
static TransactionId prepared_xid = InvalidTransactionId;

/*
 * A segment switch used the log's spare segment (or had none): the
 * maintenance worker makes the next one, off the insert lock.
 */
static inline void
want_spare(LsmShared *s)
{
	if (lsm_xlog_spare_wanted(s->xlog))
		lsm_wake_maintenance();
}

static void
put32(uint8 *p, uint32 v)
{
	memcpy(p, &v, 4);
}

static uint32
get32(const uint8 *p)
{
	uint32		v;

	memcpy(&v, p, 4);
	return v;
}

static uint64
get64(const uint8 *p)
{
	uint64		v;

	memcpy(&v, p, 8);
	return v;
}

/*
 * Called by the log under its insert lock: take the sequence numbers, the
 * apply tickets and a ring entry.  Runs inside the engine's mutex: no
 * ereport, no allocation.
 */
static void
fill(void *arg, uint8_t *payload, size_t len, uint64_t lsn)
{
	FillState  *fs = arg;
	LsmShared  *s = lsm_shared;
	uint64		seq = pg_atomic_read_u64(&s->next_seq);

	for (int i = 0; i < fs->ntables; i++)
	{
		LsmCommitTable *t = &fs->tables[i];
		uint64		n = Max(t->count, 1);	/* a TRUNCATE needs a number too */

		t->first_seq = seq;
		lsm_batch_contents_set_seq(payload + fs->seq_offsets[i], seq);
		seq += n;
		t->ticket = pg_atomic_fetch_add_u64(&t->slot->next_ticket, 1);
	}
	if (fs->stamp_seq)
		lsm_pg_visible_numbered(pg_atomic_read_u64(&s->next_seq));
	pg_atomic_write_u64(&s->next_seq, seq);
	fs->hi = seq - 1;
	SpinLockAcquire(&s->ring_lock);
	fs->ring_pos = s->ring_tail++;
	s->ring[fs->ring_pos % s->ring_size].hi = fs->hi;
	s->ring[fs->ring_pos % s->ring_size].procno = lsm_my_procno();
	s->ring[fs->ring_pos % s->ring_size].done = false;
	SpinLockRelease(&s->ring_lock);
	fs->filled = true;
}

/*
 * How many times a waiter yields the CPU before it sleeps.
 * The commit it waits for is usually applying right now (a few
 * microseconds), and a sleep costs two system calls and a wake-up.
 */
#define SPIN_YIELDS		10

/*
 * Wait for the table's turn to apply.  Interrupts are held (the record is
 * in the log): lsm_wait_check only warns past lsm_fdw.commit_wait_timeout.
 */
static void
wait_turn(LsmTableSlot *slot, uint64 ticket)
{
	pg_atomic_uint32 *waiter = &slot->apply_waiter[ticket % LSM_APPLY_WAITERS];
	uint32		me = (uint32) lsm_my_procno() + 1;

	for (int i = 0; i < SPIN_YIELDS; i++)
	{
		if (pg_atomic_read_u64(&slot->applied_ticket) == ticket)
			return;
		sched_yield();
	}

	/*
	 * Announce, then look again (the write, a full barrier, the read), while
	 * end_turn advances the ticket (an atomic add, a full barrier), then
	 * reads the announcement: one of the two sees the other.
	 */
	pg_atomic_write_u32(waiter, me);
	for (;;)
	{
		lsm_wakeup_prepare();	/* a full barrier after both writes */
		if (pg_atomic_read_u64(&slot->applied_ticket) == ticket)
		{
			lsm_wakeup_cancel();
			break;
		}
		(void) lsm_wakeup_sleep(LSM_WAIT_COMMIT_APPLY, 10, NULL);
	}
	/* take it back unless a colliding ticket's sleeper took the entry */
	(void) pg_atomic_compare_exchange_u32(waiter, &me, 0);
}

static void
end_turn(LsmTableSlot *slot)
{
	uint64		next = pg_atomic_add_fetch_u64(&slot->applied_ticket, 1);
	uint32		who = pg_atomic_read_u32(&slot->apply_waiter[next % LSM_APPLY_WAITERS]);

	if (who != 0)
		lsm_wakeup_proc((int) who - 1);
}

/*
 * Publish every sequence number up to the first ring entry that is not
 * done yet, on behalf of whichever committers own the entries passed: an
 * entry is done once applied and, when it waits for durability, once the
 * log is synced past its record.  Each owner gets its own wake-up (a
 * broadcast would wake every waiting committer for each publish).
 */
static void
try_publish(void)
{
	LsmShared  *s = lsm_shared;
	uint64		flushed = lsm_xlog_flushed_lsn(s->xlog);
	int			me = lsm_my_procno();
	int			wake[64 + 1];
	int			n_wake;
	int			n_published;

	/* in rounds, so that the wake-ups happen outside the spinlock */
	do
	{
		n_wake = 0;
		n_published = 0;
		SpinLockAcquire(&s->ring_lock);
		while (s->ring_head < s->ring_tail && n_published < 64)
		{
			LsmCommitSlot *e = &s->ring[s->ring_head % s->ring_size];

			if (!e->done)
				break;
			if (e->need_flush && e->end_lsn > flushed)
			{
				/*
				 * It waits for an fsync: when none is running, its owner
				 * (asleep in wait_visible) leads the next one.
				 */
				if (e->procno != me && !lsm_xlog_flush_running(s->xlog))
					wake[n_wake++] = e->procno;
				break;
			}
			pg_atomic_write_u64(&s->visible_seq, e->hi);
			if (e->procno != me)
				wake[n_wake++] = e->procno;
			s->ring_head++;
			n_published++;
		}
		SpinLockRelease(&s->ring_lock);
		for (int i = 0; i < n_wake; i++)
			lsm_wakeup_proc(wake[i]);
	} while (n_published == 64);
}

/* The entry's batches are applied; it is done once end_lsn is synced. */
static void
mark_done(uint64 ring_pos, uint64 end_lsn, bool need_flush)
{
	LsmShared  *s = lsm_shared;
	LsmCommitSlot *e = &s->ring[ring_pos % s->ring_size];

	SpinLockAcquire(&s->ring_lock);
	e->end_lsn = end_lsn;
	e->need_flush = need_flush;
	e->done = true;
	SpinLockRelease(&s->ring_lock);
	try_publish();
}

/*
 * Batches up to this size are applied under the log's insert lock when
 * their table's turn has come (written()).
 */
#define INLOCK_APPLY_MAX	(64 * 1024)

/*
 * Called by the log under its insert lock, right after the record was
 * written: apply each small batch whose table has no earlier commit still
 * applying, and when all are applied, mark the ring entry done.
 *
 * Why here: applying after the lock was let go made every commit wait for
 * its table's turn, and with more committers than CPUs the commit ahead
 * was often preempted between its append and its apply, so the ones
 * behind slept and were woken one by one (16 clients on 2 CPUs: about one
 * commit in two slept for its turn).  Under the lock the turn is always
 * there and no wake-up is needed; the lock is held a few microseconds
 * longer.  What makes it safe: the engine call never waits
 * (lsm_db_try_write_at; LSM_BUSY leaves the batch to apply_table after
 * the lock), since a wait for room would wait for a flush, and a flush
 * syncs the log, which takes this lock.  Any failure also leaves the batch
 * to apply_table, which reports it as before.  Runs inside the log's
 * mutex: no ereport, no palloc.
 */
static void
written(void *arg, uint64_t start_lsn, uint64_t end_lsn)
{
	FillState  *fs = arg;
	LsmShared  *s = lsm_shared;
	LsmCommitSlot *e;
	bool		all = true;

	fs->written_ran = true;

	for (int i = 0; i < fs->ntables; i++)
	{
		LsmCommitTable *t = &fs->tables[i];
		uint8	   *batch = fs->batches + t->batch_offset;
		size_t		blen = LSM_BATCH_HEADER + t->entries_len;
		LsmStatus	st;

		if (t->truncate || t->n_ingest > 0 || blen > INLOCK_APPLY_MAX ||
			pg_atomic_read_u64(&t->slot->applied_ticket) != t->ticket)
		{
			all = false;
			continue;
		}
		if (fs->stamp_seq)
			lsm_batch_contents_set_seq(batch, t->first_seq);
		if (t->count > 0 &&
			lsm_db_write_at_hinted(t->slot->db, lsm_slice(batch, blen), t->first_seq,
								   t->hints, t->n_hints, true, &st) != LSM_OK)
		{
			all = false;
			continue;
		}
		t->applied = true;
		end_turn(t->slot);
	}
	if (!all)
		return;
	e = &s->ring[fs->ring_pos % s->ring_size];
	SpinLockAcquire(&s->ring_lock);
	e->end_lsn = fs->need_flush ? end_lsn : 0;
	e->need_flush = fs->need_flush;
	e->done = true;
	SpinLockRelease(&s->ring_lock);
	fs->done = true;
}

/*
 * Wait until the commit's sequence numbers up to hi are published.  When
 * it waits for durability (end: the LSN after its record; 0 if not), its
 * entry is published only once the log is synced past end, so this is
 * also the wait for the fsync, which is group commit as in Postgres's
 * XLogFlush: whoever finds no fsync running leads one for everything
 * appended so far, then publishes and wakes the owners of what it covered
 * (and the owner of the first entry it did not cover, to lead the next);
 * the others sleep meanwhile (wakeup.c).  Waiting in the log's own
 * flush instead (a mutex per round) woke its waiters one after another,
 * each after the one before had run: ten thousand context switches a
 * second at 16 clients, and small groups.
 */
static void
wait_visible(uint64 hi, uint64 end)
{
	LsmShared  *s = lsm_shared;
	LsmStatus	st;

	for (;;)
	{
		if (pg_atomic_read_u64(&s->visible_seq) >= hi)
			return;
		if (end > lsm_xlog_flushed_lsn(s->xlog) &&
			!lsm_xlog_flush_running(s->xlog) &&
			lsm_xlog_flush(s->xlog, end, &st) != LSM_OK)
			ereport(PANIC,
					(errcode(lsm_errcode(st.code)),
					 errmsg("lsm_fdw could not fsync its log"),
					 errdetail("%s", st.msg)));
		try_publish();

		/*
		 * Sleep unless published, or a flush this commit needs could start:
		 * the two things try_publish wakes an owner for.
		 */
		lsm_wakeup_prepare();
		if (pg_atomic_read_u64(&s->visible_seq) >= hi ||
			(end > lsm_xlog_flushed_lsn(s->xlog) &&
			 !lsm_xlog_flush_running(s->xlog)))
		{
			lsm_wakeup_cancel();
			continue;
		}
		/* interrupts are held: this only warns past the commit's bound */
		(void) lsm_wakeup_sleep(LSM_WAIT_COMMIT_PUBLISH, 10, NULL);
	}
}

/*
 * lsm_commit_publish
 *		After a log flush outside a commit (the maintenance worker's, a
 *		memtable flush's): publish what it made durable, waking its owners.
 */
void
lsm_commit_publish(void)
{
	if (lsm_shared != NULL && lsm_shared->xlog != NULL)
		try_publish();
}

/*
 * Entries per engine write: a batch goes into the memtables in chunks of
 * about this many bytes, each atomically into one memtable, so that a
 * transaction bigger than a memtable (a COPY) never needs one memtable
 * that large.  Readers see none of it before the whole commit is
 * published.  A constant, so that replay cuts a batch exactly as its
 * commit did and can skip the chunks a table file already holds.
 */
#define APPLY_CHUNK		(512 * 1024)

/*
 * lsm_maintain_now
 *		Flush every frozen memtable of db, then compact it until nothing is
 *		due, in this process.  Replay needs it because it is the process that
 *		would flush, and level 0 would otherwise reach the write stop and
 *		replay wait for a compaction that never comes.
 */
LsmCode
lsm_maintain_now(LsmDb *db, LsmStatus *st)
{
	bool		did = true;
	LsmCode		rc = LSM_OK;

	while (rc == LSM_OK && did && lsm_db_flush_needed(db))
		rc = lsm_db_flush_pending(db, &did, st);
	did = true;
	while (rc == LSM_OK && did && lsm_db_compaction_needed(db))
		rc = lsm_db_compact_step(db, &did, st);
	return rc;
}

/* What apply_chunk needs besides the chunk. */
typedef struct ApplyState
{
	LsmDb	   *db;
	bool		skip_held;
	bool		flush_between;
	const LsmBaseHint *hints;
	int			n_hints;
} ApplyState;

/* lsm_batch_split callback: write one chunk into the table's memtable. */
static LsmCode
apply_chunk(void *arg, LsmSlice chunk, LsmSeq first_seq, uint32_t count,
			LsmStatus *st)
{
	ApplyState *as = arg;
	LsmCode		rc;

	if (as->skip_held && first_seq + count - 1 <= lsm_db_last_seq(as->db))
		return LSM_OK;
	rc = lsm_db_write_at_hinted(as->db, chunk, first_seq, as->hints, as->n_hints,
								false, st);
	if (rc == LSM_OK && as->flush_between)
		rc = lsm_maintain_now(as->db, st);
	return rc;
}

/*
 * Apply a batch (engine format, first_seq in its header is ignored) in
 * chunks (lsm_batch_split; the batch's bytes are borrowed during the call).
 * skip_held: leave out chunks the table already holds (replay);
 * flush_between: flush frozen memtables after each chunk (replay, where
 * this process is the one that would flush).
 */
static LsmCode
apply_chunks(LsmDb *db, uint8 *batch, size_t batch_len, uint64 first_seq,
			 bool skip_held, bool flush_between, const LsmBaseHint *hints,
			 int n_hints, LsmStatus *st)
{
	ApplyState	as;

	as.db = db;
	as.skip_held = skip_held;
	as.flush_between = flush_between;
	as.hints = hints;
	as.n_hints = n_hints;
	return lsm_batch_split(batch, batch_len, first_seq, APPLY_CHUNK,
						   apply_chunk, &as, st);
}

/*
 * ingest_files
 *		Ingest a bulk commit's files into db at first_seq.  Each file is
 *		hard-linked into the table directory and the link handed to the
 *		engine, which renames it: the file in lsm_fdw/bulk stays until the
 *		ingest is in the table's MANIFEST, so a crash at any point leaves
 *		the replay a file to ingest again.  names is the record's list.
 */
static LsmCode
ingest_files(LsmDb *db, Oid dboid, Oid relid, const uint8 *names, size_t len,
			 uint32 n, uint64 first_seq, LsmStatus *st)
{
	char	   *dir = lsm_table_dir(dboid, relid);
	char	   *bulk = lsm_bulk_dir();
	char	  **srcs = palloc(sizeof(char *) * Max(n, 1));
	const char **links = palloc(sizeof(char *) * Max(n, 1));
	const uint8 *p = names;
	LsmCode		rc;

	for (uint32 i = 0; i < n; i++)
	{
		uint32		nl;

		if ((size_t) (names + len - p) < 4 ||
			(memcpy(&nl, p, 4), (size_t) (names + len - p - 4) < nl))
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "malformed file list in a bulk commit record of table %u", relid);
		srcs[i] = psprintf("%s/%.*s", bulk, (int) nl, (const char *) p + 4);
		links[i] = psprintf("%s/%.*s.ingest", dir, (int) nl, (const char *) p + 4);
		p += 4 + nl;
		(void) unlink(links[i]);	/* of an ingest a crash interrupted */
		if (link(srcs[i], links[i]) != 0)
			return lsm_status_set(st, errno == ENOSPC ? LSM_NO_SPACE : LSM_IO_ERROR, errno,
								  "could not link \"%s\" to \"%s\": %s",
								  srcs[i], links[i], strerror(errno));
	}
	rc = lsm_db_ingest(db, links, (int) n, first_seq, NULL, st);

	/*
	 * A running lsm_fdw_backup() may have pinned the table before this
	 * ingest and copy the log past its record: it copies lsm_fdw/bulk after
	 * that, so the originals stay (the next start removes them).  The
	 * barrier pairs with the backup's increment before its pins.
	 */
	pg_memory_barrier();
	if (rc == LSM_OK && lsm_shared->xlog != NULL &&
		pg_atomic_read_u32(&lsm_shared->bulk_backups) == 0)
		for (uint32 i = 0; i < n; i++)
			(void) unlink(srcs[i]);
	return rc;
}

/*
 * Apply one table's batch at its turn.  The record is durable (or, with
 * lsm_fdw.synchronous_commit off, in the log): a failure here cannot be
 * reported to the client as "not committed", so it is a PANIC, and
 * recovery applies the record again.
 */
static void
apply_table(LsmCommitTable *t, uint8 *batch, size_t batch_len, uint64 lsn)
{
	LsmTableSlot *slot = t->slot;
	LsmStatus	st;

	if (t->applied)
		return;					/* by written(), under the log's lock */
	wait_turn(slot, t->ticket);
	if (t->truncate)
		lsm_truncate_slot_in_commit(slot, t->first_seq - 1);
	/* for t/018: a crash between the durable record and the ingest */
	if (t->n_ingest > 0 && lsm_debug_ingest_delay > 0)
		pg_usleep((long) lsm_debug_ingest_delay * 1000L);
	if (t->n_ingest > 0 &&
		ingest_files(slot->db, t->dboid, t->relid, batch + LSM_BATCH_HEADER,
					 batch_len - LSM_BATCH_HEADER, t->n_ingest, t->first_seq, &st) != LSM_OK)
		ereport(PANIC,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not ingest the files of a committed bulk load into table %u",
						t->relid),
				 errdetail("%s", st.msg)));
	else if (t->n_ingest == 0 && t->count > 0 &&
		apply_chunks(slot->db, batch, batch_len, t->first_seq, false, false,
					 t->hints, t->n_hints, &st) != LSM_OK)
		ereport(PANIC,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not apply a committed batch to table %u",
						t->relid),
				 errdetail("%s", st.msg)));
	end_turn(slot);
}

/*
 * Build a COMMIT or PREPARE payload of the tables (batches copied in with a
 * zero first sequence number).
 */
static uint8 *
build_payload(int type, TransactionId xid, int ntables, LsmCommitTable *tables,
			  size_t *len_out, size_t *seq_offsets)
{
	size_t		len = 1 + (type == REC_PREPARE ? 4 : 0) + 4;
	uint8	   *payload;
	uint8	   *p;

	for (int i = 0; i < ntables; i++)
	{
		LsmCommitTable *t = &tables[i];

		if (t->n_ingest > 0)
		{
			StringInfoData names;

			initStringInfo(&names);
			for (int f = 0; f < t->n_ingest; f++)
			{
				const char *base = strrchr(t->ingest_paths[f], '/') + 1;
				uint32		nl = strlen(base);

				appendBinaryStringInfo(&names, (char *) &nl, 4);
				appendBinaryStringInfo(&names, base, nl);
			}
			t->entries = (const uint8 *) names.data;
			t->entries_len = names.len;
		}
		len += TABLE_HEAD + LSM_BATCH_HEADER + t->entries_len;
	}
	payload = MemoryContextAllocHuge(TopTransactionContext, len);
	p = payload;
	*p++ = (uint8) type;
	if (type == REC_PREPARE)
	{
		put32(p, xid);
		p += 4;
	}
	put32(p, ntables);
	p += 4;
	for (int i = 0; i < ntables; i++)
	{
		LsmCommitTable *t = &tables[i];

		put32(p, t->dboid);
		put32(p + 4, t->relid);
		p[8] = (t->truncate ? TBL_TRUNCATE : 0) | (t->n_ingest > 0 ? TBL_INGEST : 0);
		put32(p + 9, (uint32) (LSM_BATCH_HEADER + t->entries_len));
		p += TABLE_HEAD;
		t->batch_offset = p - payload;
		if (seq_offsets)
			seq_offsets[i] = p - payload;
		lsm_batch_encode_header(p, 0, t->count);
		memcpy(p + LSM_BATCH_HEADER, t->entries, t->entries_len);
		p += LSM_BATCH_HEADER + t->entries_len;
	}
	*len_out = len;
	return payload;
}

/*
 * Before a commit's record goes into the log (while the commit can still
 * be cancelled): wait while the memtable pool is over lsm_fdw.memtable_memory
 * and some table has a frozen memtable the maintenance worker will flush.
 * When nothing is waiting to be flushed (the pool is full of tables' active
 * memtables), waiting would not end: the commit goes ahead over the limit.
 * Applying after the append never waits for the pool (it must not fail or
 * hang once the record is in the log).  A cancel, or a wait longer than
 * lsm_fdw.commit_wait_timeout, fails the commit here.
 */
static void
wait_for_memtable_room(void)
{
	LsmShared  *s = lsm_shared;
	uint64		limit = (uint64) lsm_memtable_memory * 1024;
	bool		counted = false;
	LsmStatus	st;

	while (pg_atomic_read_u64(&s->memtable_bytes) > limit && lsm_flush_pending_anywhere())
	{
		if (!counted)
			pg_atomic_fetch_add_u64(&s->memtable_waiters, 1);
		counted = true;
		lsm_wake_maintenance();
		if (lsm_wait_latch(LSM_WAIT_MEMTABLE_ROOM, 10, &st) != LSM_OK)
			lsm_report_wait_end(ERROR, &st);
	}
}

/*
 * Give back what fill() took when the record did not make it into the log:
 * the tables' turns pass without an apply and the ring entry publishes
 * nothing new.
 */
static void
give_back(FillState *fs)
{
	for (int i = 0; i < fs->ntables; i++)
	{
		wait_turn(fs->tables[i].slot, fs->tables[i].ticket);
		end_turn(fs->tables[i].slot);
	}
	mark_done(fs->ring_pos, 0, false);
}

/*
 * lsm_commit_lsm_decided
 *		Commit the writes of a transaction without an xid (PRE_COMMIT).
 */
void
lsm_commit_lsm_decided(int ntables, LsmCommitTable *tables)
{
	LsmShared  *s = lsm_shared;
	FillState	fs;
	uint8	   *payload;
	size_t		len;
	uint64		start;
	uint64		end;
	LsmStatus	st;
	bool		sync = lsm_sync_commit();
	bool		ingest = false;

	/*
	 * A bulk commit's files join the table's MANIFEST, which no replay can
	 * take back: its record must be durable before, whatever
	 * synchronous_commit says.
	 */
	for (int i = 0; i < ntables; i++)
		ingest |= tables[i].n_ingest > 0;
	sync |= ingest;
	memset(&fs, 0, sizeof(fs));
	fs.ntables = ntables;
	fs.tables = tables;
	fs.seq_offsets = palloc(sizeof(size_t) * ntables);
	payload = build_payload(REC_COMMIT, InvalidTransactionId, ntables, tables,
							&len, fs.seq_offsets);
	fs.batches = payload;
	fs.need_flush = sync;
	for (int i = 0; i < ntables; i++)
		lsm_slot_check_writable(tables[i].slot);
	lsm_commit_waits_begin();
	wait_for_memtable_room();

	/*
	 * From the append on, the record may become durable through another
	 * backend's fsync, so this backend must not stop before it has applied
	 * and published it: a cancel would tell the client "not committed"
	 * about a commit that recovery replays.
	 */
	HOLD_INTERRUPTS();
	lsm_region_unlimited(true);
	if (lsm_xlog_append_ex(s->xlog, payload, len, fill, ingest ? NULL : written,
						   &fs, &start, &end, &st) != LSM_OK)
	{
		/*
		 * The record's write failed after written() may have applied it:
		 * its entries would be published with no record behind them.  The
		 * log is broken anyway (xlog.h); recovery starts from what is in it.
		 */
		if (fs.written_ran)
			ereport(PANIC,
					(errcode(lsm_errcode(st.code)),
					 errmsg("lsm_fdw could not write a commit record it had applied"),
					 errdetail("%s", st.msg)));
		lsm_region_unlimited(false);
		if (fs.filled)
			give_back(&fs);
		RESUME_INTERRUPTS();
		lsm_report(ERROR, &st, "write the commit record");
	}
	want_spare(s);

	/*
	 * Apply first, then wait for the fsync: the entries are invisible until
	 * published (their sequence numbers are above every read point), a
	 * memtable is never written to a table file before the log is synced
	 * up to it (lsm_pre_flush), and applying right after the append means
	 * the commits ahead of this one in the table are applying too, not
	 * waiting for an fsync, so the turn comes at once.
	 */
	if (ingest &&
		lsm_xlog_flush(s->xlog, end, &st) != LSM_OK)
		ereport(PANIC,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not fsync its log"),
				 errdetail("%s", st.msg)));
	for (int i = 0; i < ntables; i++)
		apply_table(&tables[i], payload + tables[i].batch_offset,
					LSM_BATCH_HEADER + tables[i].entries_len, end);
	lsm_region_unlimited(false);
	if (fs.done)
		try_publish();
	else
		mark_done(fs.ring_pos, end, sync);
	wait_visible(fs.hi, sync ? end : 0);
	lsm_commit_waits_end();
	RESUME_INTERRUPTS();
}

/*
 * lsm_commit_prepare
 *		PRE_COMMIT of a transaction with an xid: make its batches durable
 *		as a PREPARE record; they are applied at COMMIT (lsm_commit_resolve).
 */
void
lsm_commit_prepare(TransactionId xid, int ntables, LsmCommitTable *tables)
{
	LsmShared  *s = lsm_shared;
	int			me = lsm_my_procno();
	uint64		start;
	uint64		end;
	LsmStatus	st;

	prepared_payload = build_payload(REC_PREPARE, xid, ntables, tables,
									 &prepared_len, NULL);
	for (int i = 0; i < ntables; i++)
		lsm_slot_check_writable(tables[i].slot);
	lsm_commit_waits_begin();
	wait_for_memtable_room();
	lsm_commit_waits_end();

	/*
	 * The xid names this transaction in the PREPARE only once Postgres's
	 * WAL holds a durable record of it: a crash forgets an xid no durable
	 * record carries and hands it out again, and a replay then took the
	 * PREPARE of a transaction that never committed for that of the later
	 * one that got the same xid and did (its rows came back after a crash,
	 * or two).  A transaction that wrote only temporary or unlogged tables
	 * has no WAL record at all, hence one of our own.
	 */
#if PG_VERSION_NUM >= 170000
	XLogFlush(LogLogicalMessage("lsm_fdw", "", 0, false, false));
#else
	XLogFlush(LogLogicalMessage("lsm_fdw", "", 0, false));
#endif

	/* before Postgres can show it committed (pg_visible.c) */
	lsm_pg_visible_begin(xid);

	/*
	 * Published before the append, so the log's retention never passes a
	 * record that is still waiting for its RESOLVE.
	 */
	pg_atomic_write_u64(&s->prepared_lsn[me], lsm_xlog_insert_lsn(s->xlog));
	if (lsm_xlog_append(s->xlog, prepared_payload, prepared_len, NULL, NULL,
						&start, &end, &st) != LSM_OK)
	{
		pg_atomic_write_u64(&s->prepared_lsn[me], PG_UINT64_MAX);
		prepared_payload = NULL;
		lsm_report(ERROR, &st, "write the commit record");
	}
	want_spare(s);
	/*
	 * Always synced, whatever synchronous_commit says: Postgres's commit
	 * record, which decides this transaction, may reach disk at any moment
	 * after this (at once, or by the WAL writer when asynchronous), and a
	 * durable heap commit whose lsm PREPARE was lost would be half a
	 * transaction after a machine crash.
	 */
	if (lsm_xlog_flush(s->xlog, end, &st) != LSM_OK)
		ereport(PANIC,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not fsync its log"),
				 errdetail("%s", st.msg)));
	try_publish();				/* commits this fsync covered */
	if (lsm_debug_kill_at == LSM_DEBUG_KILL_PREPARED)
		(void) kill(MyProcPid, SIGKILL);
	prepared_ntables = ntables;
	prepared_tables = tables;
	prepared_xid = xid;
}

/*
 * lsm_commit_resolve
 *		COMMIT (committed = true) or ABORT of a transaction that prepared.
 *		At COMMIT Postgres's commit is durable: nothing may fail any more.
 */
void
lsm_commit_resolve(bool committed)
{
	LsmShared  *s = lsm_shared;
	int			me = lsm_my_procno();
	FillState	fs;
	uint8	   *payload;
	size_t		len;
	uint64		start;
	uint64		end;
	LsmStatus	st;
	bool		ingest = false;
	bool		truncate = false;

	if (prepared_payload == NULL)
		return;
	if (!committed)
	{
		pg_atomic_write_u64(&s->prepared_lsn[me], PG_UINT64_MAX);
		prepared_payload = NULL;
		lsm_pg_visible_end();
		return;
	}
	if (lsm_debug_resolve_lock != 0)
	{
		LOCKTAG		tag;

		/* as pg_advisory_lock(n) then pg_advisory_unlock(n) would */
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, (uint32) lsm_debug_resolve_lock, 1);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		LockRelease(&tag, ExclusiveLock, false);
	}

	len = 1 + 4 + 4 + 8 * prepared_ntables;
	payload = MemoryContextAlloc(TopTransactionContext, len);
	payload[0] = REC_RESOLVE;
	put32(payload + 1, prepared_xid);
	put32(payload + 5, prepared_ntables);
	memset(&fs, 0, sizeof(fs));
	fs.ntables = prepared_ntables;
	fs.tables = prepared_tables;
	fs.seq_offsets = MemoryContextAlloc(TopTransactionContext,
										sizeof(size_t) * prepared_ntables);
	for (int i = 0; i < prepared_ntables; i++)
		fs.seq_offsets[i] = 9 + 8 * i;
	fs.batches = prepared_payload;
	fs.stamp_seq = true;
	for (int i = 0; i < prepared_ntables; i++)
	{
		ingest |= prepared_tables[i].n_ingest > 0;
		truncate |= prepared_tables[i].truncate;
	}

	/*
	 * An ingest or a truncate changes table files at once, which nothing
	 * takes back: Postgres's commit record, asynchronous under
	 * synchronous_commit off, must be durable first (lsm_pre_flush does
	 * the same for the rows of a memtable).
	 */
	if (ingest || truncate)
		XLogFlush(XactLastCommitEnd);
	else
	{
		/* for lsm_pre_flush: a table file must not hold rows before this */
		lsm_atomic_raise_u64(&s->pg_commit_lsn, XactLastCommitEnd);
	}

	HOLD_INTERRUPTS();
	lsm_commit_waits_begin();
	lsm_region_unlimited(true);
	if (lsm_xlog_append_ex(s->xlog, payload, len, fill, ingest ? NULL : written,
						   &fs, &start, &end, &st) != LSM_OK)
		ereport(PANIC,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not log the commit of a prepared batch"),
				 errdetail("%s", st.msg)));
	want_spare(s);

	/*
	 * An ingest cannot be taken back by replay: its RESOLVE (its sequence
	 * numbers) must be durable before the files join the table, or a crash
	 * would let recovery number the PREPARE again below what the table
	 * holds.
	 */
	if (ingest &&
		lsm_xlog_flush(s->xlog, end, &st) != LSM_OK)
		ereport(PANIC,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not fsync its log"),
				 errdetail("%s", st.msg)));
	for (int i = 0; i < prepared_ntables; i++)
	{
		LsmCommitTable *t = &prepared_tables[i];
		uint8	   *batch = prepared_payload + t->batch_offset;

		if (!t->applied)
			lsm_batch_contents_set_seq(batch, t->first_seq);
		apply_table(t, batch, LSM_BATCH_HEADER + t->entries_len, end);
	}
	lsm_region_unlimited(false);
	if (fs.done)
		try_publish();
	else
		mark_done(fs.ring_pos, 0, false);
	pg_atomic_write_u64(&s->prepared_lsn[me], PG_UINT64_MAX);
	wait_visible(fs.hi, 0);
	lsm_pg_visible_end();
	lsm_commit_waits_end();
	RESUME_INTERRUPTS();
	prepared_payload = NULL;
}

/*
 * lsm_commit_forget
 *		Transaction end: drop pointers into transaction memory.
 */
void
lsm_commit_forget(void)
{
	if (prepared_payload != NULL && lsm_shared != NULL)
		pg_atomic_write_u64(&lsm_shared->prepared_lsn[lsm_my_procno()], PG_UINT64_MAX);
	lsm_pg_visible_end();
	prepared_payload = NULL;
	prepared_tables = NULL;
	prepared_ntables = 0;
	lsm_commit_waits_end();		/* a commit that failed */
}

/* ---------------------------------------------------------------------
 * Replay (the maintenance worker, before any backend is let in)
 * ---------------------------------------------------------------------
 */

typedef struct PreparedEntry
{
	TransactionId xid;			/* hash key */
	uint8	   *payload;		/* malloc'd copy */
	size_t		len;
	uint64		lsn;			/* of the PREPARE record */
} PreparedEntry;

static HTAB *replay_prepared = NULL;
static uint64 replay_max_seq = 0;

/* Keep the files a skipped bulk commit record names from the sweep. */
static void
keep_files(const uint8 *names, size_t len, uint32 n)
{
	const uint8 *p = names;

	for (uint32 i = 0; i < n && (size_t) (names + len - p) >= 4; i++)
	{
		uint32		nl;

		memcpy(&nl, p, 4);
		if ((size_t) (names + len - p - 4) < nl)
			break;
		lsm_bulk_keep(pnstrdup((const char *) p + 4, nl));
		p += 4 + nl;
	}
}

/*
 * lsm_xid_outcome
 *		What pg_xact says of xid, after Postgres's own recovery (a
 *		transaction not committed then never will be): LSM_XID_COMMITTED,
 *		LSM_XID_NOT_COMMITTED, LSM_XID_IN_PROGRESS, or LSM_XID_TOO_OLD when
 *		pg_xact no longer holds it.  The replay and drop markers ask.
 */
int
lsm_xid_outcome(TransactionId xid)
{
	int			outcome;

	LWLockAcquire(XactTruncationLock, LW_SHARED);
#if PG_VERSION_NUM >= 170000
	if (TransactionIdPrecedes(xid, TransamVariables->oldestClogXid))
#else
	if (TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid))
#endif
		outcome = LSM_XID_TOO_OLD;
	else if (TransactionIdIsInProgress(xid))
		outcome = LSM_XID_IN_PROGRESS;
	else
		outcome = TransactionIdDidCommit(xid) ? LSM_XID_COMMITTED : LSM_XID_NOT_COMMITTED;
	LWLockRelease(XactTruncationLock);
	return outcome;
}

/*
 * Whether Postgres committed the xid of a replayed record.  One older than
 * pg_xact is older than anything the log keeps unapplied: committed.
 */
static bool
pg_committed(TransactionId xid)
{
	int			outcome = lsm_xid_outcome(xid);

	return outcome == LSM_XID_COMMITTED || outcome == LSM_XID_TOO_OLD;
}

/*
 * Apply one table part of a replayed record when the table still exists
 * and does not hold it yet.
 */
static void
replay_table(Oid dboid, Oid relid, int flags, uint8 *batch, size_t batch_len,
			 uint64 first_seq, uint64 lsn)
{
	LsmTableSlot *slot;
	uint32		count = lsm_batch_contents_count(lsm_slice(batch, batch_len));
	LsmStatus	st;
	char	   *dir = lsm_table_dir(dboid, relid);

	replay_max_seq = Max(replay_max_seq, first_seq + Max(count, 1) - 1);
	/* whole batches only: a malformed one must not be applied in part */
	if (!(flags & TBL_INGEST) &&
		lsm_batch_validate(lsm_slice(batch, batch_len), &st) != LSM_OK)
		lsm_report(ERROR, &st, "replay the log");
	if (!lsm_env_posix()->exists(lsm_env_posix(), dir))
		return;					/* dropped after this commit */
	slot = lsm_slot_for_replay(dboid, relid, lsn);
	if (slot == NULL)
	{
		/* its files are damaged: skipped, log kept, and a load's files too */
		if (flags & TBL_INGEST)
			keep_files(batch + LSM_BATCH_HEADER, batch_len - LSM_BATCH_HEADER, count);
		return;
	}
	if (first_seq + Max(count, 1) - 1 <= lsm_db_last_seq(slot->db))
		return;					/* already in its tables */

	/*
	 * A TRUNCATE comes before the batch's first chunk; once a chunk is in
	 * the table's files, the truncate was too.
	 */
	if ((flags & TBL_TRUNCATE) && first_seq > lsm_db_last_seq(slot->db))
		lsm_truncate_slot_in_commit(slot, first_seq - 1);

	/* a bulk commit: its files are still in lsm_fdw/bulk (ingest_files) */
	if (flags & TBL_INGEST)
	{
		if (count > 0 &&
			ingest_files(slot->db, dboid, relid, batch + LSM_BATCH_HEADER,
						 batch_len - LSM_BATCH_HEADER, count, first_seq, &st) != LSM_OK)
			lsm_report(ERROR, &st, "replay the log");
		return;
	}

	/* recovery flushes for itself: the worker that would is this process */
	if (count > 0 &&
		apply_chunks(slot->db, batch, batch_len, first_seq, true, true, NULL, 0, &st) != LSM_OK)
		lsm_report(ERROR, &st, "replay the log");
}

/* Walk the table parts of a COMMIT/PREPARE payload. */
static void
replay_tables(uint8 *p, uint8 *end, const uint64 *seqs, uint64 lsn)
{
	uint32		ntables = get32(p);

	p += 4;
	for (uint32 i = 0; i < ntables; i++)
	{
		Oid			dboid;
		Oid			relid;
		int			flags;
		uint32		blen;

		if (end - p < TABLE_HEAD)
			elog(ERROR, "lsm_fdw log record is malformed");
		dboid = get32(p);
		relid = get32(p + 4);
		flags = p[8];
		blen = get32(p + 9);
		p += TABLE_HEAD;
		if ((size_t) (end - p) < blen || blen < LSM_BATCH_HEADER)
			elog(ERROR, "lsm_fdw log record is malformed");
		replay_table(dboid, relid, flags, p, blen,
					 seqs ? seqs[i] : lsm_batch_contents_seq(lsm_slice(p, blen)),
					 lsn);
		p += blen;
	}
}

/*
 * lsm_replay_record
 *		The log replay callback (xlog.c), in log order.
 */
LsmCode
lsm_replay_record(void *arg, uint64_t lsn, LsmSlice payload, LsmStatus *st)
{
	uint8	   *p = (uint8 *) payload.data;
	uint8	   *end = p + payload.len;

	if (payload.len < 5)
		elog(ERROR, "lsm_fdw log record is too short");
	if (replay_prepared == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(TransactionId);
		ctl.entrysize = sizeof(PreparedEntry);
		replay_prepared = hash_create("lsm_fdw replay", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS);
	}
	switch (p[0])
	{
		case REC_COMMIT:
			replay_tables(p + 1, end, NULL, lsn);
			break;
		case REC_PREPARE:
			{
				TransactionId xid = get32(p + 1);
				PreparedEntry *e = hash_search(replay_prepared, &xid, HASH_ENTER, NULL);

				e->payload = MemoryContextAllocHuge(TopMemoryContext, payload.len);
				memcpy(e->payload, p, payload.len);
				e->len = payload.len;
				e->lsn = lsn;
				break;
			}
		case REC_RESOLVE:
			{
				TransactionId xid = get32(p + 1);
				uint32		n = get32(p + 5);
				PreparedEntry *e = hash_search(replay_prepared, &xid, HASH_FIND, NULL);
				uint64	   *seqs;

				if (e == NULL)
					break;		/* its PREPARE is older than the log: applied */
				if (payload.len < 9 + 8 * (size_t) n)
					elog(ERROR, "lsm_fdw log record is malformed");
				if (!pg_committed(xid))
				{
					/*
					 * Postgres's commit record, asynchronous, was lost in
					 * the crash, this RESOLVE was not: the transaction did
					 * not commit, and no table file holds its rows
					 * (lsm_pre_flush).
					 */
					pfree(e->payload);
					hash_search(replay_prepared, &xid, HASH_REMOVE, NULL);
					break;
				}
				seqs = palloc(sizeof(uint64) * Max(n, 1));
				for (uint32 i = 0; i < n; i++)
					seqs[i] = get64(p + 9 + 8 * i);
				replay_tables(e->payload + 5, e->payload + e->len, seqs, e->lsn);
				pfree(seqs);
				pfree(e->payload);
				hash_search(replay_prepared, &xid, HASH_REMOVE, NULL);
				break;
			}
		default:
			elog(ERROR, "lsm_fdw log record has unknown type %d", p[0]);
	}
	return LSM_OK;
}

/*
 * lsm_replay_finish
 *		After the last record: PREPAREs without a RESOLVE are decided by
 *		pg_xact; committed ones get sequence numbers after everything else
 *		(their RESOLVE was lost, so nothing durable can depend on them).
 *		Then the sequence counters start above everything seen.
 */
void
lsm_replay_finish(void)
{
	LsmShared  *s = lsm_shared;
	uint64		next;

	if (replay_prepared != NULL)
	{
		HASH_SEQ_STATUS seq;
		PreparedEntry *e;

		hash_seq_init(&seq, replay_prepared);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			if (pg_committed(e->xid))
			{
				uint32		n = get32(e->payload + 5);
				uint64	   *seqs = palloc(sizeof(uint64) * Max(n, 1));
				uint8	   *p = e->payload + 9;

				/* number the batches after everything seen so far */
				for (uint32 i = 0; i < n; i++)
				{
					uint32		blen = get32(p + 9);
					uint32		count = lsm_batch_contents_count(lsm_slice(p + TABLE_HEAD, blen));

					seqs[i] = replay_max_seq + 1;
					replay_max_seq += Max(count, 1);
					p += TABLE_HEAD + blen;
				}
				replay_tables(e->payload + 5, e->payload + e->len, seqs, e->lsn);
				pfree(seqs);
			}
			pfree(e->payload);
		}
		hash_destroy(replay_prepared);
		replay_prepared = NULL;
	}

	/* the tables may hold numbers above the log's (its tail was removed) */
	for (int i = 0; i < s->max_tables; i++)
		if (s->slots[i].state == LSM_SLOT_OPEN)
			replay_max_seq = Max(replay_max_seq, lsm_db_last_seq(s->slots[i].db));
	next = Max(replay_max_seq + 1, pg_atomic_read_u64(&s->next_seq));
	pg_atomic_write_u64(&s->next_seq, next);
	pg_atomic_write_u64(&s->visible_seq, next - 1);
	replay_max_seq = 0;
}

/*
 * lsm_pre_flush
 *		Before a memtable becomes a table file, the log records of its
 *		entries must be durable: with lsm_fdw.synchronous_commit off a
 *		commit is applied before its fsync, and a table file holding it
 *		after a crash that lost the record would break the all-or-nothing
 *		of a commit that wrote several tables.
 */
bool
lsm_pre_flush(void *arg, LsmSeq max_seq)
{
	LsmShared  *s = lsm_shared;
	LsmStatus	st;

	if (s->xlog == NULL)
		return true;			/* recovery: the records came from the disk */

	/*
	 * Nor before Postgres's commit records of the transactions that were
	 * decided there: with synchronous_commit off their rows are applied
	 * before those are durable, and a crash that lost one must find none
	 * of its rows in a table file (the replay then leaves them out).
	 */
	if (!RecoveryInProgress())
	{
		XLogRecPtr	upto = (XLogRecPtr) pg_atomic_read_u64(&s->pg_commit_lsn);
		volatile bool ok = true;

		/*
		 * The end of a commit record, not the insert position: that one,
		 * on a page boundary, points past the page header of a page not
		 * yet begun, and XLogFlush raised an ERROR through the engine's
		 * flush (which then never flushed that table again).
		 */
		if (upto > 0 && upto > GetFlushRecPtr(NULL))
		{
			MemoryContext cxt = CurrentMemoryContext;

			PG_TRY();
			{
				XLogFlush(upto);
			}
			PG_CATCH();
			{
				MemoryContextSwitchTo(cxt);
				EmitErrorReport();
				FlushErrorState();
				ok = false;
			}
			PG_END_TRY();
		}
		if (!ok)
			return false;		/* the flush fails, and is tried again */
	}
	if (lsm_xlog_flush(s->xlog, lsm_xlog_insert_lsn(s->xlog), &st) != LSM_OK)
		ereport(PANIC,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not fsync its log"),
				 errdetail("%s", st.msg)));
	lsm_commit_publish();
	return true;
}

/*
 * lsm_flush_wanted
 *		The engine froze a memtable (or waits for room): wake the worker.
 */
void
lsm_flush_wanted(void *arg)
{
	lsm_wake_maintenance();
}
