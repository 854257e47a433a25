/*
 * db_write.c
 *		Writes: write stalls, waiting for room, applying a batch to the WAL
 *		and the memtable (lsm_db_write, and lsm_db_write_at for a host that
 *		logs batches itself), and WAL syncs.
 *
 * See db.c for write stalls and the host mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lsm_alloc.h"
#include "db_internal.h"
#include "iter_merge.h"

/*
 * Write stalls
 */

typedef enum StallLevel
{
	STALL_NONE,
	STALL_SLOWDOWN,
	STALL_STOP
} StallLevel;

/* How far the current version is behind; caller holds write_mu. */
static StallLevel
stall_level(LsmDb *db)
{
	const LsmOptions *o = &db->opts;
	const LsmPressure *p = &db->pressure;

	if ((o->l0_stop_writes_trigger > 0 && p->stall_count >= o->l0_stop_writes_trigger) ||
		(o->hard_pending_compaction_bytes > 0 &&
		 p->pending_bytes >= o->hard_pending_compaction_bytes))
		return STALL_STOP;
	if ((o->l0_slowdown_writes_trigger > 0 &&
		 p->stall_count >= o->l0_slowdown_writes_trigger) ||
		(o->soft_pending_compaction_bytes > 0 &&
		 p->pending_bytes >= o->soft_pending_compaction_bytes))
		return STALL_SLOWDOWN;
	return STALL_NONE;
}

/*
 * stall_writer
 *		Slow down or stop the writer holding write_mu, as the file header
 *		describes.  write_mu is released while sleeping, so that other
 *		threads' compactions can install meanwhile.  A compaction error
 *		while stopped fails the write: the database cannot accept it; so
 *		does a wait the env's hook ends (cancel, timeout).
 */
static LsmCode
stall_writer(LsmDb *db, LsmStatus *st)
{
	StallLevel	level = stall_level(db);
	uint64_t	t0;
	LsmCode		rc = LSM_OK;

	if (level == STALL_NONE)
		return LSM_OK;
	t0 = db->env->now_micros(db->env);
	if (level == STALL_SLOWDOWN)
	{
		LSM_STAT_ADD(db, stall_slowdowns, 1);
		db->env->mutex_unlock(db->write_mu);
		rc = lsm_env_wait(db->env, LSM_WAIT_WRITE_STALL, db->opts.slowdown_micros, st);
		db->env->mutex_lock(db->write_mu);
	}
	else
	{
		LSM_STAT_ADD(db, stall_stops, 1);
		while (rc == LSM_OK && stall_level(db) == STALL_STOP)
		{
			bool		did;
			int			others;

			rc = lsm_db_compact_one(db, true, &did, st);
			if (rc != LSM_OK || did)
				continue;
			db->env->mutex_lock(db->mu);
			others = db->n_running;
			db->env->mutex_unlock(db->mu);
			if (others == 0)
				break;			/* nothing can make progress: accept the write */
			db->env->mutex_unlock(db->write_mu);
			rc = lsm_env_wait(db->env, LSM_WAIT_WRITE_STALL, 1000, st);
			db->env->mutex_lock(db->write_mu);
		}
	}
	LSM_STAT_ADD(db, stall_micros, db->env->now_micros(db->env) - t0);
	return rc;
}

/*
 * Writes
 */

static LsmCode
add_entry_size(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
			   LsmStatus *st)
{
	*(size_t *) arg += lsm_memtable_entry_size(key.len, value.len);
	return LSM_OK;
}

LsmCode
lsm_db_insert_entry(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
			 LsmStatus *st)
{
	if (!lsm_memtable_add((LsmMemTable *) arg, seq, kind, key, value))
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "memtable full despite reserving room for the batch");
	return LSM_OK;
}

/*
 * lsm_db_batch_room
 *		Upper bound of the memtable bytes a serialized batch needs; also
 *		validates it.
 */
LsmCode
lsm_db_batch_room(LsmSlice contents, size_t *need, LsmStatus *st)
{
	*need = 0;
	return lsm_batch_iterate(contents, add_entry_size, need, st);
}

/*
 * InsertAt: lsm_db_insert_entry for lsm_db_write_at, which moves the sequence
 * numbers of the contents (from from) to where the host put them (to).
 */
typedef struct InsertAt
{
	LsmDb	   *db;
	LsmMemTable *mt;
	LsmSeq		from;
	LsmSeq		to;
	size_t		need_left;		/* room reserved for the entries not yet added */
	LsmBuf		below;			/* fold_operand's buffers */
	LsmBuf		folded;
	const LsmBaseHint *hints;	/* sorted by key; see lsm.h */
	int			n_hints;
} InsertAt;

/*
 * Whether ia->folded, in place of an operand, leaves the room reserved
 * for the rest of the batch.
 */
static bool
folded_fits(const InsertAt *ia, LsmSlice key)
{
	return lsm_memtable_bytes_free(ia->mt) >=
		lsm_memtable_entry_size(key.len, ia->folded.len) + ia->need_left;
}

/* The hint for key, or NULL (binary search; hints are sorted by key). */
static const LsmBaseHint *
find_hint(const InsertAt *ia, LsmSlice key)
{
	int			lo = 0;
	int			hi = ia->n_hints;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = lsm_slice_cmp(ia->hints[mid].key, key);

		if (c == 0)
			return &ia->hints[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * fold_over_hint
 *		Add the merge operand op at seq folded over its hint's base, when
 *		the hint still holds (*done); see LsmBaseHint.  Nothing of the key
 *		changed after read_seq when the active memtable holds every entry
 *		above read_seq (hint_floor) and its newest entry of the key, if
 *		any, is at or below read_seq.  Every entry below seq is applied
 *		(caller holds write_mu, the host applies in sequence order), so the
 *		base is what a get at seq - 1 reads.
 */
static LsmCode
fold_over_hint(InsertAt *ia, LsmSeq seq, LsmSlice key, LsmSlice op, bool *done,
			   LsmStatus *st)
{
	LsmDb	   *db = ia->db;
	const LsmBaseHint *h = find_hint(ia, key);
	LsmMemIter	it;
	LsmParsedKey pk;
	LsmStatus	ignore;

	*done = false;
	if (h == NULL || h->read_seq < db->hint_floor || h->read_seq >= seq)
		return LSM_OK;
	if (!lsm_buf_make_private(&ia->below, 256) ||
		!lsm_buf_make_private(&ia->folded, 256))
		return LSM_OK;
	lsm_buf_reset(&ia->below);
	if (!lsm_ikey_append(&ia->below, key, LSM_MAX_SEQ, LSM_KIND_FOR_SEEK))
		return LSM_OK;
	lsm_memtable_iter_init(&it, ia->mt);
	lsm_memtable_iter_seek_key(&it, lsm_buf_slice(&ia->below));
	if (lsm_iter_valid(&it.base) &&
		lsm_ikey_parse(lsm_iter_key(&it.base), &pk) &&
		lsm_slice_eq(pk.user_key, key) && pk.seq > h->read_seq)
		return LSM_OK;			/* the key changed after the read */
	lsm_buf_reset(&ia->folded);
	if (db->opts.merge(db->opts.merge_arg, key, &h->base, &op, 1, &ia->folded,
					   &ignore) != LSM_OK || !folded_fits(ia, key))
		return LSM_OK;			/* an overflow (readers report it), or no room */
	*done = true;
	LSM_STAT_ADD(db, merge_base_folds, 1);
	return lsm_db_insert_entry(ia->mt, seq, LSM_KIND_PUT, key,
							   lsm_buf_slice(&ia->folded), st);
}

/*
 * fold_operand
 *		Add the merge operand op at seq as the value a get at seq reads:
 *		the value below seq with op folded in.  Caller holds write_mu, so
 *		db->sv stays, and the host applies in sequence order, so every entry
 *		below seq is in it.  op goes in as it is when the merge fails (an
 *		overflow, which a reader then reports) or the value would take room
 *		reserved for the rest of the batch.
 */
static LsmCode
fold_operand(InsertAt *ia, LsmSeq seq, LsmSlice key, LsmSlice op, LsmStatus *st)
{
	LsmDb	   *db = ia->db;
	LsmSlice	base;
	LsmStatus	ignore;
	LsmCode		rc;

	/* process memory: a host's shared heap is for what processes share */
	if (!lsm_buf_make_private(&ia->below, 256) ||
		!lsm_buf_make_private(&ia->folded, 256))
		return lsm_db_insert_entry(ia->mt, seq, LSM_KIND_MERGE, key, op, st);
	rc = lsm_db_get_applying(db, key, seq - 1, &ia->below, &ignore);
	if (rc == LSM_OK || rc == LSM_NOT_FOUND)
	{
		base = lsm_buf_slice(&ia->below);
		lsm_buf_reset(&ia->folded);
		rc = db->opts.merge(db->opts.merge_arg, key, rc == LSM_OK ? &base : NULL,
							&op, 1, &ia->folded, &ignore);
	}
	if (rc != LSM_OK || !folded_fits(ia, key))
		return lsm_db_insert_entry(ia->mt, seq, LSM_KIND_MERGE, key, op, st);
	LSM_STAT_ADD(db, merge_folds, 1);
	return lsm_db_insert_entry(ia->mt, seq, LSM_KIND_PUT, key,
							   lsm_buf_slice(&ia->folded), st);
}

static LsmCode
insert_entry_at(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
				LsmStatus *st)
{
	InsertAt   *ia = arg;
	size_t		size = lsm_memtable_entry_size(key.len, value.len);
	bool		fold_due;

	ia->need_left -= size < ia->need_left ? size : ia->need_left;
	seq = seq - ia->from + ia->to;
	if (kind == LSM_KIND_MERGE && ia->n_hints > 0)
	{
		bool		done;
		LsmCode		rc = fold_over_hint(ia, seq, key, value, &done, st);

		if (done || rc != LSM_OK)
			return rc;
	}
	if (kind != LSM_KIND_MERGE || ia->db->opts.merge_fold_every == 0)
		return lsm_db_insert_entry(ia->mt, seq, kind, key, value, st);
	if (lsm_memtable_add_op(ia->mt, seq, kind, key, value,
							ia->db->opts.merge_fold_every, &fold_due))
		return LSM_OK;
	if (fold_due)
		return fold_operand(ia, seq, key, value, st);
	return lsm_status_set(st, LSM_NO_MEMORY, 0,
						  "memtable full despite reserving room for the batch");
}

/*
 * wait_for_room
 *		background_flush: get need bytes of room in the active memtable
 *		without flushing or compacting.  The slowdown sleep happens once, as
 *		in stall_writer; a write stop (unless no compaction is due or
 *		running), LSM_MAX_IMM waiting memtables or a full region pool make
 *		the writer wait until the host's workers changed that: release
 *		write_mu, call flush_wanted_fn, wait 1 ms (the env's wait hook, which
 *		may end the wait and with it the write: nothing was applied yet),
 *		look again.  *froze: a memtable was frozen (the caller tells the
 *		host once it released write_mu).  nowait: LSM_BUSY instead of any
 *		sleep.  Caller holds write_mu.
 */
static LsmCode
wait_for_room(LsmDb *db, size_t need, bool nowait, bool *froze, LsmStatus *st)
{
	bool		slowed = false;
	bool		stopped = false;
	bool		waited = false;

	for (;;)
	{
		StallLevel	level = stall_level(db);
		bool		stop = false;
		uint64_t	t0;
		uint64_t	dt;
		LsmCode		rc;

		if (db->bg_error.code != LSM_OK)
			return lsm_db_refuse_write(db, st);
		if (level != STALL_NONE && nowait)
			return LSM_BUSY;
		if (level == STALL_SLOWDOWN && !slowed)
		{
			slowed = true;
			LSM_STAT_ADD(db, stall_slowdowns, 1);
			t0 = db->env->now_micros(db->env);
			db->env->mutex_unlock(db->write_mu);
			rc = lsm_env_wait(db->env, LSM_WAIT_WRITE_STALL, db->opts.slowdown_micros, st);
			db->env->mutex_lock(db->write_mu);
			LSM_STAT_ADD(db, stall_micros, db->env->now_micros(db->env) - t0);
			if (rc != LSM_OK)
				return rc;
			continue;
		}
		if (level == STALL_STOP)
		{
			int			running;

			/*
			 * As in stall_writer: when no compaction is due or running,
			 * nothing will lower the pressure, so waiting would be forever.
			 */
			db->env->mutex_lock(db->mu);
			running = db->n_running;
			db->env->mutex_unlock(db->mu);
			if (!db->pressure.due && running == 0)
				level = STALL_NONE;
		}
		if (level == STALL_STOP)
		{
			stop = true;
			if (!stopped)
				LSM_STAT_ADD(db, stall_stops, 1);
			stopped = true;
		}
		else
		{
			rc = lsm_db_room_background(db, need, froze, st);
			if (rc != LSM_BUSY || nowait)
				return rc;
			if (!waited)
				LSM_STAT_ADD(db, memtable_waits, 1);
			waited = true;
		}
		t0 = db->env->now_micros(db->env);
		db->env->mutex_unlock(db->write_mu);
		if (db->opts.flush_wanted_fn != NULL)
			db->opts.flush_wanted_fn(db->opts.flush_wanted_arg);
		rc = lsm_env_wait(db->env, stop ? LSM_WAIT_WRITE_STALL : LSM_WAIT_MEMTABLE_ROOM,
						  1000, st);
		db->env->mutex_lock(db->write_mu);
		dt = db->env->now_micros(db->env) - t0;
		if (stop)
			LSM_STAT_ADD(db, stall_micros, dt);
		else
			LSM_STAT_ADD(db, memtable_wait_micros, dt);
		if (rc != LSM_OK)
			return rc;
	}
}

/*
 * apply_batch
 *		The body of lsm_db_write (batch set; contents are its bytes) and of
 *		lsm_db_write_at (batch NULL; the entries get first_at onwards):
 *		room in the memtable (stalling, flushing or waiting as the options
 *		say), sequence numbers, the WAL record unless external_wal, the
 *		memtable, then publication of the new last_seq, which is the moment
 *		readers can see the batch, all at once.  contents was validated and
 *		needs need bytes of memtable.
 *
 * A WAL failure drops the WAL writer (the next write starts a new file,
 * so no record follows one of unknown fate) and uses up the batch's
 * sequence numbers: its record may still surface after a crash, and must
 * not collide with a later batch.
 *
 * Compactions that a stop or a flush runs happen before the batch gets its
 * sequence numbers, so when one fails the write fails without a trace;
 * nothing is sticky, and the next write tries again.
 */
static LsmCode
apply_batch(LsmDb *db, LsmBatch *batch, LsmSlice contents, uint32_t count,
			size_t need, LsmSeq first_at, const LsmBaseHint *hints, int n_hints,
			bool nowait, LsmStatus *st)
{
	LsmSeq		first;
	uint64_t	end;
	uint64_t	flushes;
	bool		froze = false;
	LsmCode		rc;

	db->env->mutex_lock(db->write_mu);
	if (db->opts.background_flush)
		rc = wait_for_room(db, need, nowait, &froze, st);
	else if (nowait)
		rc = LSM_BUSY;
	else
	{
		rc = stall_writer(db, st);
		if (rc == LSM_OK && db->bg_error.code != LSM_OK)
			rc = lsm_db_refuse_write(db, st);
		flushes = db->flushes;
		if (rc == LSM_OK)
			rc = lsm_db_make_room(db, need, !db->opts.external_wal, st);
		/* a compaction error fails the write, which is then not applied */
		if (rc == LSM_OK && db->opts.auto_compact && db->flushes != flushes)
			rc = lsm_db_compact_until_done(db, true, st);
	}
	if (rc != LSM_OK)
		goto out;

	if (batch == NULL)
	{
		/* the host's numbers; lsm_db_write_at checked their range */
		if (first_at <= db->last_seq)
		{
			rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								"sequence number %llu is not above the last one of \"%s\", %llu",
								(unsigned long long) first_at, db->dir,
								(unsigned long long) db->last_seq);
			goto out;
		}
		first = first_at;
	}
	else
		first = db->last_seq + 1;
	if (first + count - 1 > LSM_MAX_SEQ)
	{
		rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							"sequence numbers of \"%s\" are exhausted", db->dir);
		goto out;
	}

	if (batch == NULL)
	{
		InsertAt	ia;

		ia.db = db;
		ia.mt = db->sv->mem->mt;
		ia.from = lsm_batch_contents_seq(contents);
		ia.to = first;
		ia.need_left = need;
		memset(&ia.below, 0, sizeof(ia.below));	/* LSM_BUF_INIT */
		memset(&ia.folded, 0, sizeof(ia.folded));
		ia.hints = hints;
		ia.n_hints = hints != NULL ? n_hints : 0;
		rc = lsm_batch_iterate(contents, insert_entry_at, &ia, st);
		lsm_buf_free(&ia.below);
		lsm_buf_free(&ia.folded);
		/* the host logged these bytes for this database (design.md) */
		if (rc == LSM_OK)
			LSM_STAT_ADD(db, bytes_written_wal, contents.len);
	}
	else
	{
		lsm_batch_set_seq(batch, first);
		contents = lsm_batch_contents(batch);
		if (db->log == NULL)
		{
			rc = lsm_db_open_new_log(db, &db->log, st);
			if (rc != LSM_OK)
				goto out;
		}
		rc = lsm_log_append(db->log, LSM_LOG_BATCH, contents, &end, st);
		if (rc == LSM_OK && db->opts.sync_writes)
			rc = lsm_log_sync(db->log, end, st);
		if (rc != LSM_OK)
		{
			lsm_db_retire_log(db);
			db->env->mutex_lock(db->mu);
			__atomic_store_n(&db->last_seq, first + count - 1, __ATOMIC_RELEASE);
			db->env->mutex_unlock(db->mu);
			goto out;
		}
		LSM_STAT_ADD(db, bytes_written_wal, contents.len + LSM_LOG_HEADER);
		rc = lsm_batch_iterate(contents, lsm_db_insert_entry, db->sv->mem->mt, st);
	}
	if (rc != LSM_OK)
	{
		/*
		 * Part of the batch may be in the memtable; publishing any later
		 * sequence number would expose it, so stop all writes.
		 */
		if (st != NULL)
			db->bg_error = *st;
		else
			lsm_status_set(&db->bg_error, rc, 0, "memtable insert failed");
		goto out;
	}
	db->env->mutex_lock(db->mu);
	/* release: lock-free gets read it without mu (lsm_db_slot_pin) */
	__atomic_store_n(&db->last_seq, first + count - 1, __ATOMIC_RELEASE);
	db->env->mutex_unlock(db->mu);

out:
	db->env->mutex_unlock(db->write_mu);
	if (froze && db->opts.flush_wanted_fn != NULL)
		db->opts.flush_wanted_fn(db->opts.flush_wanted_arg);
	return rc;
}

/*
 * lsm_db_write
 *		Apply a batch through the WAL (apply_batch).
 */
LsmCode
lsm_db_write(LsmDb *db, LsmBatch *batch, LsmStatus *st)
{
	uint32_t	count;
	size_t		need;
	LsmCode		rc;

	if (batch == NULL)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0, "no batch to write");
	if (db->opts.external_wal)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database \"%s\" has an external WAL: write with lsm_db_write_at",
							  db->dir);
	count = lsm_batch_count(batch);
	if (count == 0)
		return LSM_OK;
	rc = lsm_db_batch_room(lsm_batch_contents(batch), &need, st);
	if (rc != LSM_OK)
		return rc;
	return apply_batch(db, batch, lsm_batch_contents(batch), count, need, 0, NULL, 0,
					   false, st);
}

/*
 * lsm_db_write_at_hinted
 *		Apply a batch the host logged, at the sequence numbers it chose.
 *		Everything about the contents is checked before anything is
 *		applied.  Its sequence number field means nothing here; when it is
 *		out of the range the batch walker accepts, a copy with a zero there
 *		is walked instead (hosts that leave it zero, as lsm_batch_create
 *		does, never pay for that).
 */
LsmCode
lsm_db_write_at_hinted(LsmDb *db, LsmSlice contents, LsmSeq first_seq,
					   const LsmBaseHint *hints, int n_hints, bool nowait,
					   LsmStatus *st)
{
	uint8_t    *copy = NULL;
	uint32_t	count;
	size_t		need;
	LsmCode		rc;

	if (!db->opts.external_wal)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "lsm_db_write_at needs external_wal; database \"%s\" has its own WAL",
							  db->dir);
	if (contents.data == NULL || contents.len < LSM_BATCH_HEADER)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "batch contents of %zu bytes are shorter than a batch header",
							  contents.data == NULL ? 0 : contents.len);
	count = lsm_batch_contents_count(contents);
	if (count > 0)
	{
		LsmSeq		hdr = lsm_batch_contents_seq(contents);

		if (hdr > LSM_MAX_SEQ || count - 1 > LSM_MAX_SEQ - hdr)
		{
			copy = lsm_malloc(contents.len);
			if (copy == NULL)
				return lsm_status_set(st, LSM_NO_MEMORY, 0,
									  "out of memory copying a batch of %zu bytes",
									  contents.len);
			memcpy(copy, contents.data, contents.len);
			lsm_put_fixed64(copy, 0);
			contents = lsm_slice(copy, contents.len);
		}
	}
	rc = lsm_db_batch_room(contents, &need, st);	/* validates it whole */
	if (rc == LSM_OK && count > 0 &&
		(first_seq == 0 || first_seq > LSM_MAX_SEQ || count - 1 > LSM_MAX_SEQ - first_seq))
		rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							"sequence numbers %llu.. of a batch of %u entries are outside 1..2^56-1",
							(unsigned long long) first_seq, count);
	if (rc == LSM_OK && count > 0)
		rc = apply_batch(db, NULL, contents, count, need, first_seq, hints, n_hints,
						 nowait, st);
	lsm_free(copy);
	return rc;
}

LsmCode
lsm_db_write_at(LsmDb *db, LsmSlice contents, LsmSeq first_seq, LsmStatus *st)
{
	return lsm_db_write_at_hinted(db, contents, first_seq, NULL, 0, false, st);
}

/*
 * lsm_db_try_write_at
 *		lsm_db_write_at, or LSM_BUSY where it would wait.
 */
LsmCode
lsm_db_try_write_at(LsmDb *db, LsmSlice contents, LsmSeq first_seq, LsmStatus *st)
{
	return lsm_db_write_at_hinted(db, contents, first_seq, NULL, 0, true, st);
}

LsmSeq
lsm_db_last_seq(LsmDb *db)
{
	LsmSeq		seq;

	db->env->mutex_lock(db->mu);
	seq = db->last_seq;
	db->env->mutex_unlock(db->mu);
	return seq;
}

/*
 * lsm_db_set_sync_writes
 *		Change whether each write fsyncs the WAL (the host's
 *		synchronous_commit).  Writes already acknowledged without a sync
 *		become durable at the next synced write or lsm_db_sync_wal.
 */
void
lsm_db_set_sync_writes(LsmDb *db, bool sync)
{
	db->env->mutex_lock(db->write_mu);
	db->opts.sync_writes = sync;
	db->env->mutex_unlock(db->write_mu);
}

/*
 * lsm_db_sync_wal
 *		Make every write so far durable (fsync the WAL up to its end).
 */
LsmCode
lsm_db_sync_wal(LsmDb *db, LsmStatus *st)
{
	LsmCode		rc = LSM_OK;

	db->env->mutex_lock(db->write_mu);
	if (db->log != NULL)
		rc = lsm_log_sync(db->log, lsm_log_size(db->log), st);
	db->env->mutex_unlock(db->write_mu);
	return rc;
}
