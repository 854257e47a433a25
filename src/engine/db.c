/*
 * db.c
 *		The database object: open and recovery, writes, snapshots, point
 *		gets, iterators, flush, verify, statistics and close.
 *
 * State.  Writes go to the WAL (one record per batch) and then into the
 * active memtable.  When a batch does not fit, the memtable is frozen
 * (becomes immutable), a new WAL file and memtable are started, and the
 * frozen one is written to a level-0 SSTable and recorded in the MANIFEST;
 * then the WAL files only it needed are deleted.  Standalone, that flush
 * runs synchronously in the writer that needed the room, and so do the
 * compactions it made due when auto_compact is on (compaction.c); a host
 * moves both to its own threads (background_flush, below), and so does a
 * standalone database with background_threads, whose own threads play the
 * host's workers (db_background.c).
 *
 * Write stalls.  Before a batch is accepted the writer looks at the
 * pressure of the current version (compaction.c): past the slowdown
 * thresholds it sleeps slowdown_micros once; past the stop thresholds it
 * "stops": it runs compactions itself, holding the write lock, until the
 * pressure is below the stop thresholds, waiting (without the lock) only
 * while other threads' compactions hold the files it would need, and
 * giving up the wait when nothing at all can make progress.
 *
 * Readers pin a superversion (memtable, immutable memtables, version) and
 * the visible sequence number in one step under mu, then read without
 * locks.  See db_internal.h for what each lock protects.
 *
 * Host mode (lsm.h).  With external_wal there are no WAL files: the host
 * logs each batch in its own log and applies it with lsm_db_write_at at the
 * sequence number it chose; recovery reads only the MANIFEST, and the host
 * re-applies what its log holds above lsm_db_last_seq.  With
 * background_flush a writer that finds the memtable full only freezes it
 * and tells the host (flush_wanted_fn); the host's workers write frozen
 * memtables out with lsm_db_flush_pending, holding no lock but for the
 * install, and compact with lsm_db_compact_step.  A writer that cannot get
 * room (four frozen memtables wait, the host's region pool is full, or a
 * write stop holds) waits in 1 ms waits without write_mu; it never fails
 * for lack of room, only when the env's wait hook ends a wait (a host's
 * query cancel or timeout), before anything of the batch is applied.  Such a flush records in the MANIFEST the highest
 * sequence number of the memtable it wrote, not the database's latest: the
 * newer memtables are not in tables yet, and whoever replays a log (our
 * recovery, or the host) must start right above what the tables hold.
 *
 * Crash safety.  The order of durable steps is what makes every crash
 * point recoverable:
 *	- a batch is visible only after its WAL record is written (and synced
 *	  when sync_writes), so recovery replays exactly the acknowledged ones;
 *	- a flushed table is synced, and its directory entry synced, before the
 *	  MANIFEST edit naming it, and the WAL files it replaces are deleted
 *	  only after that edit is synced;
 *	- recovery replays only batches above the highest sequence number the
 *	  tables hold, so a flush during recovery that is interrupted and redone
 *	  never applies a batch twice (merge operands would be counted twice);
 *	- every open starts a new WAL file, so new records never follow a torn
 *	  tail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lsm_alloc.h"
#include "blob.h"
#include "db_internal.h"
#include "iter_merge.h"

/* Keys up to this size are turned into seek keys without a malloc. */
#define GET_STACK_KEY 256

/*
 * Options
 */

void
lsm_options_init(LsmOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->env = NULL;
	opts->create_if_missing = true;
	opts->write_buffer_size = 4 * 1024 * 1024;
	opts->block_size = 4096;
	opts->block_restart_interval = 16;
	opts->compression = LSM_COMPRESSION_ZSTD;
	opts->compression_upper = LSM_COMPRESSION_LZ4;
	opts->compression_level = 3;
	opts->bloom_bits_per_key = 10;
	opts->blob_min_size = 0;
	opts->blob_gc_percent = 50;
	opts->block_cache_size = 8 * 1024 * 1024;
	opts->sync_writes = true;
	opts->merge = NULL;
	opts->merge_arg = NULL;
	opts->merge_fold_every = 0;
	opts->compaction_style = LSM_COMPACT_LEVELED;
	opts->auto_compact = true;
	/* docs/design.md, "Level shape": measured with bench/compaction_bench.sh */
	opts->l0_compaction_trigger = 8;
	opts->l0_slowdown_writes_trigger = 20;
	opts->l0_stop_writes_trigger = 36;
	opts->max_bytes_for_level_base = 256 * 1024 * 1024;
	opts->level_size_multiplier = 10;
	opts->level_dynamic = false;
	opts->target_file_size = 16 * 1024 * 1024;
	opts->soft_pending_compaction_bytes = (uint64_t) 64 << 30;
	opts->hard_pending_compaction_bytes = (uint64_t) 256 << 30;
	opts->slowdown_micros = 1000;
	opts->tiered_size_ratio = 2.0;
	opts->tiered_max_merge_width = 16;
	opts->horizon_fn = NULL;
	opts->horizon_arg = NULL;
	opts->file_horizon_fn = NULL;
	opts->file_horizon_arg = NULL;
	opts->external_wal = false;
	opts->background_flush = false;
	opts->flush_wanted_fn = NULL;
	opts->flush_wanted_arg = NULL;
	opts->pre_flush_fn = NULL;
	opts->pre_flush_arg = NULL;
	opts->region_alloc = NULL;
	opts->region_free = NULL;
	opts->region_arg = NULL;
	opts->reader_slots = 64;
	opts->block_cache = NULL;
	opts->cache_id = 0;
}

void
lsm_read_options_init(LsmReadOptions *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->snapshot = NULL;
	ro->lower_bound = lsm_slice(NULL, 0);
	ro->upper_bound = lsm_slice(NULL, 0);
	ro->fill_cache = true;
	ro->read_seq = 0;
	ro->found_seq = NULL;
	ro->read_at = NULL;
}

/*
 * lsm_merge_int64_add
 *		Sum 8-byte little-endian signed integers: the base (0 when absent)
 *		and every operand.  Anything else, or overflow, fails the read.
 */
LsmCode
lsm_merge_int64_add(void *arg, LsmSlice key, const LsmSlice *base,
					const LsmSlice *operands, int n_operands,
					LsmBuf *out, LsmStatus *st)
{
	int64_t		sum = 0;
	uint8_t		enc[8];
	int			i;

	if (base != NULL)
	{
		if (base->len != 8)
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "cannot add to a value of %zu bytes: int64 add needs 8",
								  base->len);
		sum = (int64_t) lsm_get_fixed64(base->data);
	}
	for (i = 0; i < n_operands; i++)
	{
		int64_t		v;

		if (operands[i].len != 8)
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "int64 add operand of %zu bytes: it needs 8",
								  operands[i].len);
		v = (int64_t) lsm_get_fixed64(operands[i].data);
		if (__builtin_add_overflow(sum, v, &sum))
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "int64 add overflows");
	}
	lsm_put_fixed64(enc, (uint64_t) sum);
	if (!lsm_buf_set(out, enc, sizeof(enc)))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory folding a merge");
	return LSM_OK;
}

/*
 * Memtables and superversions
 */

/* A memtable region from the host's pool, or lsm_malloc; NULL when none. */
static void *
region_get(LsmDb *db, size_t size)
{
	if (db->opts.region_alloc != NULL)
		return db->opts.region_alloc(db->opts.region_arg, size);
	return lsm_malloc(size);
}

void
lsm_db_region_put(LsmDb *db, void *p, size_t size)
{
	if (p == NULL)
		return;
	if (db->opts.region_free != NULL)
		db->opts.region_free(db->opts.region_arg, p, size);
	else
		lsm_free(p);
}

/*
 * lsm_db_memref_new
 *		A memtable in a fresh region with at least need bytes free:
 *		write_buffer_size, or more for a batch that would not fit in that.
 *		*pool_full (nullable) tells LSM_NO_MEMORY from the host's region
 *		pool being full, which a background-flush writer waits out, apart
 *		from other failures.
 */
LsmCode
lsm_db_memref_new(LsmDb *db, size_t need, uint64_t log_number, LsmMemRef **out,
		   bool *pool_full, bool first, LsmStatus *st)
{
	size_t		size = db->opts.write_buffer_size;

	/*
	 * The memtable an open or a flush starts with (first) may be smaller: a
	 * host with many mostly idle tables then does not pay a full memtable
	 * for each.
	 */
	if (first && db->opts.initial_write_buffer_size > 0 &&
		db->opts.initial_write_buffer_size < size)
		size = db->opts.initial_write_buffer_size;
	LsmMemRef  *m;
	int			attempt;

	*out = NULL;
	if (pool_full != NULL)
		*pool_full = false;
	m = lsm_calloc(1, sizeof(LsmMemRef));
	if (m == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating a memtable");
	for (attempt = 0; attempt < 8; attempt++)
	{
		size_t		overhead;

		m->region = region_get(db, size);
		if (m->region == NULL)
		{
			lsm_free(m);
			if (pool_full != NULL)
				*pool_full = db->opts.region_alloc != NULL;
			return lsm_status_set(st, LSM_NO_MEMORY, 0,
								  "out of memory allocating a memtable of %zu bytes", size);
		}
		m->mt = lsm_memtable_init(m->region, size);
		if (m->mt == NULL)
			break;
		if (lsm_memtable_bytes_free(m->mt) >= need)
		{
			m->size = size;
			m->log_number = log_number;
			*out = m;
			return LSM_OK;
		}
		overhead = size - lsm_memtable_bytes_free(m->mt);
		lsm_db_region_put(db, m->region, size);
		m->region = NULL;
		size = need + overhead + 64;
	}
	lsm_db_region_put(db, m->region, size);
	lsm_free(m);
	return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
						  "a memtable cannot hold %zu bytes of entries", need);
}

/* Drop a reference to a memtable; caller holds mu. */
void
lsm_db_memref_unref(LsmDb *db, LsmMemRef *m)
{
	if (m != NULL && --m->refs == 0)
	{
		lsm_db_region_put(db, m->region, m->size);
		lsm_free(m);
	}
}

/* Drop a reference to a superversion; caller holds mu. */
void
lsm_db_sv_unref_locked(LsmDb *db, LsmSuperVersion *sv)
{
	int			i;

	if (sv == NULL || --sv->refs > 0)
		return;
	lsm_db_memref_unref(db, sv->mem);
	for (i = 0; i < sv->n_imm; i++)
		lsm_db_memref_unref(db, sv->imm[i]);
	lsm_version_unref(sv->version);
	lsm_free(sv);
}

/*
 * defer_locked
 *		Put obsolete files on the deferred list, tagged with the current
 *		version number (file_horizon_fn).  Caller holds mu.  When the list
 *		cannot grow the files are left on disk for the next open.
 */
static void
defer_locked(LsmDb *db, LsmFileMeta **files, int n)
{
	int			i;

	if (db->n_deferred + n > db->cap_deferred)
	{
		int			cap = (db->n_deferred + n) * 2;
		LsmFileMeta **f = lsm_realloc(db->deferred, (size_t) cap * sizeof(LsmFileMeta *));
		uint64_t   *r;

		if (f != NULL)
			db->deferred = f;
		r = f != NULL ? lsm_realloc(db->deferred_retire, (size_t) cap * sizeof(uint64_t)) : NULL;
		if (r == NULL)
		{
			lsm_versionset_free_files(files, n);
			return;
		}
		db->deferred_retire = r;
		db->cap_deferred = cap;
	}
	for (i = 0; i < n; i++)
	{
		db->deferred[db->n_deferred] = files[i];
		db->deferred_retire[db->n_deferred] = db->vs->current->number;
		db->n_deferred++;
	}
	lsm_free(files);
}

/*
 * purge_deferred
 *		Unlink the deferred files the host's file horizon allows.  The
 *		callback runs without locks held.
 */
static void
purge_deferred(LsmDb *db)
{
	uint64_t	horizon = db->opts.file_horizon_fn(db->opts.file_horizon_arg);
	LsmFileMeta **go = NULL;
	int			n_go = 0;
	int			i;
	int			k = 0;
	uint64_t   *blobs = NULL;
	int			n_blobs = 0;

	db->env->mutex_lock(db->mu);
	if (db->n_deferred > 0)
		go = lsm_malloc((size_t) db->n_deferred * sizeof(LsmFileMeta *));
	for (i = 0; i < db->n_deferred; i++)
	{
		if (go != NULL && db->deferred_retire[i] <= horizon)
			go[n_go++] = db->deferred[i];
		else
		{
			db->deferred[k] = db->deferred[i];
			db->deferred_retire[k] = db->deferred_retire[i];
			k++;
		}
	}
	db->n_deferred = k;
	if (n_go > 0)
		lsm_blob_unreferenced_locked(db, go, n_go, &blobs, &n_blobs);
	db->env->mutex_unlock(db->mu);
	if (go != NULL)
		lsm_versionset_delete_files(db->vs, go, n_go);
	lsm_blob_delete(db, blobs, n_blobs);
	lsm_free(blobs);
}

/*
 * lsm_db_unlock_and_delete_obsolete
 *		Called with mu held: take the obsolete-file list, release mu, then
 *		delete the files, because unlinking is I/O and must not block
 *		readers.  With a host file horizon the files wait on the deferred
 *		list instead, until the horizon has passed them.
 */
void
lsm_db_unlock_and_delete_obsolete(LsmDb *db)
{
	LsmFileMeta **files = NULL;
	int			n = 0;
	uint64_t   *blobs = NULL;
	int			n_blobs = 0;

	if (db->vs->n_obsolete > 0)
		lsm_versionset_take_obsolete(db->vs, &files, &n);
	if (files != NULL && n > 0 && db->opts.file_horizon_fn != NULL)
	{
		defer_locked(db, files, n);
		db->env->mutex_unlock(db->mu);
		purge_deferred(db);
		return;
	}
	if (n > 0)
		lsm_blob_unreferenced_locked(db, files, n, &blobs, &n_blobs);
	db->env->mutex_unlock(db->mu);
	if (files != NULL)
		lsm_versionset_delete_files(db->vs, files, n);
	lsm_blob_delete(db, blobs, n_blobs);
	lsm_free(blobs);
}

uint64_t
lsm_db_version_number(LsmDb *db)
{
	uint64_t	n;

	db->env->mutex_lock(db->mu);
	n = db->vs->current->number;
	db->env->mutex_unlock(db->mu);
	return n;
}

void
lsm_db_delete_obsolete_files(LsmDb *db)
{
	db->env->mutex_lock(db->mu);
	lsm_db_unlock_and_delete_obsolete(db);
	if (db->opts.file_horizon_fn != NULL)
		purge_deferred(db);
}

/*
 * lsm_db_install_sv
 *		Make {mem, imm, current version} the current superversion.  The
 *		struct is allocated by the caller before the change it publishes,
 *		so that publishing cannot fail after the change became durable.
 *		The compaction pressure of the version is refreshed with it (the
 *		caller holds write_mu, or is recovery, alone).
 */
void
lsm_db_install_sv(LsmDb *db, LsmSuperVersion *nsv, LsmMemRef *mem, LsmMemRef **imm,
		   int n_imm)
{
	LsmSuperVersion *old;
	int			i;

	db->env->mutex_lock(db->mu);
	nsv->refs = 1;
	nsv->mem = mem;
	mem->refs++;
	nsv->n_imm = n_imm;
	for (i = 0; i < n_imm; i++)
	{
		nsv->imm[i] = imm[i];
		imm[i]->refs++;
	}
	nsv->version = lsm_versionset_current(db->vs);
	/* every entry above last_seq goes into the new active memtable */
	if (db->sv == NULL || db->sv->mem != mem)
		db->hint_floor = db->last_seq;
	/* the open trigger holds until level 0 was compacted below it */
	if (db->l0_trigger < db->opts.l0_compaction_trigger &&
		nsv->version->n_files[0] < db->l0_trigger)
		db->l0_trigger = db->opts.l0_compaction_trigger;
	lsm_compaction_pressure(&db->opts, db->l0_trigger, nsv->version, &db->pressure);
	old = db->sv;
	/* release: a lock-free reader that sees nsv sees it filled in */
	__atomic_store_n(&db->sv, nsv, __ATOMIC_RELEASE);
	lsm_db_scrape_slots_locked(db, false);
	lsm_db_sv_unref_locked(db, old);
	lsm_db_unlock_and_delete_obsolete(db);
}

LsmCode
lsm_db_sv_alloc(LsmSuperVersion **nsv, LsmStatus *st)
{
	*nsv = lsm_calloc(1, sizeof(LsmSuperVersion));
	if (*nsv == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory switching memtables");
	return LSM_OK;
}

/*
 * lsm_db_pin_sv
 *		Pin the current superversion and read the visible sequence number
 *		in the same critical section, so the two agree.
 */
LsmSuperVersion *
lsm_db_pin_sv(LsmDb *db, LsmSeq *seq)
{
	LsmSuperVersion *sv;

	db->env->mutex_lock(db->mu);
	sv = db->sv;
	sv->refs++;
	*seq = db->last_seq;
	db->env->mutex_unlock(db->mu);
	return sv;
}

void
lsm_db_unpin_sv(LsmDb *db, LsmSuperVersion *sv)
{
	db->env->mutex_lock(db->mu);
	lsm_db_sv_unref_locked(db, sv);
	lsm_db_unlock_and_delete_obsolete(db);
}

/*
 * Reader slots (see LsmReaderSlot in db_internal.h)
 */

LsmReaderSlot *
lsm_db_reader_slot(LsmDb *db)
{
	int			n;

	if (db->slots == NULL || db->env->reader_slot == NULL)
		return NULL;
	n = db->env->reader_slot(db->env);
	if (n < 0 || n >= db->opts.reader_slots)
		return NULL;
	return &db->slots[n];
}

/* Drop a reference some slot held or a get left; takes mu. */
static void
slot_unref(LsmDb *db, LsmSuperVersion *sv)
{
	db->env->mutex_lock(db->mu);
	lsm_db_sv_unref_locked(db, sv);
	lsm_db_unlock_and_delete_obsolete(db);
}

/*
 * lsm_db_slot_pin
 *		Pin the current superversion through the caller's slot and read the
 *		visible sequence number.  The common case is two atomic operations
 *		on the caller's own cache line and two loads of shared words that
 *		change only at installs and writes: a compare and swap that marks
 *		the cached superversion in use, a load of last_seq and a load of
 *		db->sv to check the cached one is still current.
 *
 * last_seq is read before db->sv is compared: a write is published
 * (last_seq, release) after the superversion holding its memtable was
 * installed, so a superversion current after the load of last_seq holds
 * every entry up to it, in a memtable or in a table flushed from one.
 * The comparison by address is safe because the slot's reference keeps p
 * alive: no other superversion can have its address meanwhile.
 *
 * When the cached one is stale (or there is none), mu is taken once, as
 * the locked path does, and the slot takes the current one in use: the
 * next get of this thread is lock-free again.  Storing it under mu orders
 * it with installs, which scrape the slots under mu.
 */
LsmSuperVersion *
lsm_db_slot_pin(LsmDb *db, LsmReaderSlot *s, LsmSeq *seq)
{
	uintptr_t	v = __atomic_load_n(&s->sv, __ATOMIC_ACQUIRE);
	LsmSuperVersion *p = (LsmSuperVersion *) (v & ~LSM_SLOT_TAGS);

	if ((v & LSM_SLOT_STALE) != 0)
	{
		/* a get that never ended, outlived by an install: its reference */
		__atomic_store_n(&s->sv, (uintptr_t) 0, __ATOMIC_RELEASE);
		slot_unref(db, p);
		p = NULL;
	}
	else if (v != 0 && (v & LSM_SLOT_IN_USE) == 0 &&
			 !__atomic_compare_exchange_n(&s->sv, &v, v | LSM_SLOT_IN_USE, false,
										  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		p = NULL;				/* an install took it (v is now 0) */
	/* else IN_USE: a get that never ended left p to this thread */

	if (p != NULL)
	{
		*seq = __atomic_load_n(&db->last_seq, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&db->sv, __ATOMIC_ACQUIRE) == p)
			return p;
		/* stale: IN_USE or STALE now, either way the reference is ours */
		__atomic_store_n(&s->sv, (uintptr_t) 0, __ATOMIC_RELEASE);
		db->env->mutex_lock(db->mu);
		lsm_db_sv_unref_locked(db, p);
	}
	else
		db->env->mutex_lock(db->mu);

	p = db->sv;
	p->refs++;
	*seq = db->last_seq;
	__atomic_store_n(&s->sv, (uintptr_t) p | LSM_SLOT_IN_USE, __ATOMIC_RELEASE);
	lsm_db_unlock_and_delete_obsolete(db);
	return p;
}

/*
 * lsm_db_slot_unpin
 *		Give the reference back to the slot, unless an install marked it
 *		stale meanwhile: then drop it.
 */
void
lsm_db_slot_unpin(LsmDb *db, LsmReaderSlot *s, LsmSuperVersion *sv)
{
	uintptr_t	expect = (uintptr_t) sv | LSM_SLOT_IN_USE;

	if (__atomic_compare_exchange_n(&s->sv, &expect, (uintptr_t) sv, false,
									__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&s->sv, (uintptr_t) 0, __ATOMIC_RELEASE);
	slot_unref(db, sv);
}

/*
 * lsm_db_scrape_slots_locked
 *		After an install (mu held): drop the references slots cache to
 *		older superversions, and mark the ones in use stale for their gets
 *		to drop.  closing: nobody reads any more, so every reference goes,
 *		also those of gets that never ended.
 */
void
lsm_db_scrape_slots_locked(LsmDb *db, bool closing)
{
	int			i;

	if (db->slots == NULL)
		return;
	for (i = 0; i < db->opts.reader_slots; i++)
	{
		LsmReaderSlot *s = &db->slots[i];
		uintptr_t	v = __atomic_load_n(&s->sv, __ATOMIC_ACQUIRE);

		if (closing)
		{
			__atomic_store_n(&s->sv, (uintptr_t) 0, __ATOMIC_RELAXED);
			if (v != 0)
				lsm_db_sv_unref_locked(db, (LsmSuperVersion *) (v & ~LSM_SLOT_TAGS));
			continue;
		}
		for (;;)
		{
			uintptr_t	to;

			if (v == 0 || (v & LSM_SLOT_STALE) != 0 ||
				(LsmSuperVersion *) (v & ~LSM_SLOT_TAGS) == db->sv)
				break;
			to = (v & LSM_SLOT_IN_USE) != 0 ? v | LSM_SLOT_STALE : 0;
			if (__atomic_compare_exchange_n(&s->sv, &v, to, false,
											__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			{
				if (to == 0)
					lsm_db_sv_unref_locked(db, (LsmSuperVersion *) v);
				break;
			}
		}
	}
}

size_t
lsm_db_memtable_bytes(LsmDb *db)
{
	size_t		bytes;

	db->env->mutex_lock(db->mu);
	bytes = db->sv->mem->size;
	for (int i = 0; i < db->sv->n_imm; i++)
		bytes += db->sv->imm[i]->size;
	db->env->mutex_unlock(db->mu);
	return bytes;
}

/*
 * lsm_db_apply_edit_locked
 *		Log an edit to the set of files and publish it to readers, keeping
 *		the memtables as they are: the install step of a compaction (tests
 *		also use it to place files on deeper levels).  Caller holds
 *		write_mu, which serialises it with flushes.
 */
LsmCode
lsm_db_apply_edit_locked(LsmDb *db, LsmVersionEdit *edit, LsmStatus *st)
{
	LsmSuperVersion *nsv;
	LsmCode		rc;

	rc = lsm_db_sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		return rc;
	rc = lsm_versionset_log_and_apply(db->vs, edit, st);
	if (rc == LSM_OK)
		lsm_db_install_sv(db, nsv, db->sv->mem, db->sv->imm, db->sv->n_imm);
	else
		lsm_free(nsv);
	return rc;
}

LsmCode
lsm_db_apply_edit(LsmDb *db, LsmVersionEdit *edit, LsmStatus *st)
{
	LsmCode		rc;

	db->env->mutex_lock(db->write_mu);
	rc = lsm_db_apply_edit_locked(db, edit, st);
	db->env->mutex_unlock(db->write_mu);
	return rc;
}

/*
 * lsm_db_raise_last_seq
 *		Record, durably, that the database holds every entry up to seq.
 *		For a host whose own log numbers the writes: an empty database
 *		that replaced a truncated one holds, in that sense, everything the
 *		log has for it up to the truncate, and a replay must not apply
 *		those records again (their files may be gone).  Lower seqs change
 *		nothing.
 */
LsmCode
lsm_db_raise_last_seq(LsmDb *db, LsmSeq seq, LsmStatus *st)
{
	LsmVersionEdit edit;
	LsmCode		rc = LSM_OK;

	db->env->mutex_lock(db->write_mu);
	if (seq > db->last_seq)
	{
		lsm_edit_init(&edit);
		lsm_edit_set_last_seq(&edit, seq);
		rc = lsm_db_apply_edit_locked(db, &edit, st);
		lsm_edit_free(&edit);
		if (rc == LSM_OK)
		{
			db->env->mutex_lock(db->mu);
			db->last_seq = seq;
			if (db->hint_floor < seq)
				db->hint_floor = seq;
			db->env->mutex_unlock(db->mu);
		}
	}
	db->env->mutex_unlock(db->write_mu);
	return rc;
}

/*
 * Snapshots
 */

LsmSnapshot *
lsm_db_snapshot(LsmDb *db)
{
	LsmSnapshot *s = lsm_malloc(sizeof(LsmSnapshot));

	if (s == NULL)
		return NULL;
	db->env->mutex_lock(db->mu);
	s->seq = db->last_seq;
	/* last_seq never decreases, so appending keeps the list oldest first */
	s->next = &db->snapshots;
	s->prev = db->snapshots.prev;
	db->snapshots.prev->next = s;
	db->snapshots.prev = s;
	db->env->mutex_unlock(db->mu);
	return s;
}

void
lsm_db_release_snapshot(LsmDb *db, LsmSnapshot *snap)
{
	if (snap == NULL)
		return;
	db->env->mutex_lock(db->mu);
	snap->prev->next = snap->next;
	snap->next->prev = snap->prev;
	db->env->mutex_unlock(db->mu);
	lsm_free(snap);
}

LsmSeq
lsm_snapshot_seq(const LsmSnapshot *snap)
{
	return snap->seq;
}

LsmSeq
lsm_db_oldest_snapshot_locked(LsmDb *db)
{
	if (db->snapshots.next != &db->snapshots)
		return db->snapshots.next->seq;
	return db->last_seq;
}

/*
 * Verify and statistics
 */

/* Problems of one file; anything else stops a verification. */
static bool
verify_problem(LsmCode rc)
{
	return rc == LSM_CORRUPTION || rc == LSM_IO_ERROR || rc == LSM_NOT_FOUND;
}

/*
 * verify_outcome
 *		One file's verification: a problem with the file is counted and
 *		handed to fn, and the run goes on (LSM_OK); any other error ends it.
 */
static LsmCode
verify_outcome(LsmCode rc, const LsmStatus *pst, LsmVerifyResult *out,
			   LsmVerifyProblemFn fn, void *arg, LsmStatus *st)
{
	if (verify_problem(rc))
	{
		out->problems++;
		if (fn != NULL)
			fn(arg, pst);
		return LSM_OK;
	}
	if (rc != LSM_OK && st != NULL)
		*st = *pst;
	return rc;
}

/*
 * verify_blobs
 *		lsm_db_verify_all's part for the blob files v references: each is
 *		read whole, and a table referencing more of one than it holds is a
 *		problem too.
 */
static LsmCode
verify_blobs(LsmDb *db, LsmVersion *v, LsmVerifyResult *out, LsmVerifyProblemFn fn,
			 void *arg, LsmStatus *st)
{
	LsmBlobUses us;
	LsmStatus	pst;
	LsmCode		rc = LSM_OK;
	int			i;

	if (!lsm_blob_version_uses(v, &us))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory verifying \"%s\"", db->dir);
	for (i = 0; rc == LSM_OK && i < us.n; i++)
	{
		lsm_status_clear(&pst);
		rc = lsm_blob_verify(db, &us.u[i], out, &pst);
		if (rc == LSM_OK && us.u[i].bytes > us.u[i].total)
			rc = lsm_status_set(&pst, LSM_CORRUPTION, 0,
								"tables of \"%s\" reference %llu bytes of blob file %llu, which holds %llu",
								db->dir, (unsigned long long) us.u[i].bytes,
								(unsigned long long) us.u[i].number,
								(unsigned long long) us.u[i].total);
		out->files++;
		rc = verify_outcome(rc, &pst, out, fn, arg, st);
	}
	lsm_blob_uses_free(&us);
	return rc;
}

/*
 * lsm_db_verify_all
 *		Check the current version's invariants, then every file of it,
 *		going on past the damaged ones.
 */
LsmCode
lsm_db_verify_all(LsmDb *db, LsmVerifyResult *out, LsmVerifyProblemFn fn, void *arg,
				  LsmStatus *st)
{
	LsmVersion *v;
	LsmStatus	pst;
	LsmCode		rc = LSM_OK;
	int			level;
	int			i;

	memset(out, 0, sizeof(*out));
	db->env->mutex_lock(db->mu);
	v = lsm_versionset_current(db->vs);
	db->env->mutex_unlock(db->mu);

	lsm_status_clear(&pst);
	if (lsm_version_check_invariants(v, &pst) != LSM_OK)
	{
		out->problems++;
		if (fn != NULL)
			fn(arg, &pst);
	}
	for (level = 0; rc == LSM_OK && level < LSM_NUM_LEVELS; level++)
	{
		for (i = 0; rc == LSM_OK && i < v->n_files[level]; i++)
		{
			LsmSst   *t;

			lsm_status_clear(&pst);
			rc = lsm_versionset_table(db->vs, v->files[level][i], &t, &pst);
			if (rc == LSM_OK)
				rc = lsm_table_verify_counted(t, out, &pst);
			out->files++;
			rc = verify_outcome(rc, &pst, out, fn, arg, st);
		}
	}
	if (rc == LSM_OK)
		rc = verify_blobs(db, v, out, fn, arg, st);

	db->env->mutex_lock(db->mu);
	lsm_version_unref(v);
	lsm_db_unlock_and_delete_obsolete(db);
	return rc;
}

/* lsm_db_verify's problem callback: keep the first one. */
static void
verify_first_problem(void *arg, const LsmStatus *problem)
{
	LsmStatus  *first = arg;

	if (first->code == LSM_OK)
		*first = *problem;
}

LsmCode
lsm_db_verify(LsmDb *db, LsmStatus *st)
{
	LsmVerifyResult r;
	LsmStatus	first;
	LsmCode		rc;

	lsm_status_clear(&first);
	rc = lsm_db_verify_all(db, &r, verify_first_problem, &first, st);
	if (rc == LSM_OK && first.code != LSM_OK)
	{
		if (st != NULL)
			*st = first;
		rc = first.code;
	}
	return rc;
}

#define STAT_LOAD(field) \
	out->field = __atomic_load_n(&db->stats.field, __ATOMIC_RELAXED)

void
lsm_db_stats(LsmDb *db, LsmDbStats *out)
{
	LsmSuperVersion *sv;
	int			level;
	int			i;

	memset(out, 0, sizeof(*out));
	STAT_LOAD(gets);
	STAT_LOAD(memtable_hits);
	STAT_LOAD(sst_probes);
	STAT_LOAD(bloom_useful);
	STAT_LOAD(bloom_not_useful);
	STAT_LOAD(block_cache_hits);
	STAT_LOAD(block_reads);
	STAT_LOAD(flushes);
	STAT_LOAD(bytes_flushed);
	STAT_LOAD(bytes_written_wal);
	STAT_LOAD(bytes_compacted_written);
	STAT_LOAD(bytes_compacted_read);
	STAT_LOAD(compactions);
	STAT_LOAD(trivial_moves);
	STAT_LOAD(ingested_files);
	STAT_LOAD(merge_folds);
	STAT_LOAD(merge_base_folds);
	STAT_LOAD(compaction_entries_dropped);
	STAT_LOAD(filter_entries_dropped);
	STAT_LOAD(filter_bytes_dropped);
	STAT_LOAD(flush_entries_dropped);
	STAT_LOAD(compaction_failures);
	STAT_LOAD(running_compactions);
	STAT_LOAD(stall_slowdowns);
	STAT_LOAD(stall_stops);
	STAT_LOAD(stall_micros);
	STAT_LOAD(memtable_waits);
	STAT_LOAD(memtable_wait_micros);
	STAT_LOAD(blob_files_written);
	STAT_LOAD(bytes_blob_written);
	STAT_LOAD(bytes_blob_relocated);
	STAT_LOAD(blob_reads);
	/* the gets' counters of each reader slot */
	for (i = 0; db->slots != NULL && i < db->opts.reader_slots; i++)
	{
		LsmReaderSlot *s = &db->slots[i];

		out->gets += __atomic_load_n(&s->gets, __ATOMIC_RELAXED);
		out->memtable_hits += __atomic_load_n(&s->memtable_hits, __ATOMIC_RELAXED);
		out->sst_probes += __atomic_load_n(&s->sst_probes, __ATOMIC_RELAXED);
		out->bloom_useful += __atomic_load_n(&s->bloom_useful, __ATOMIC_RELAXED);
		out->bloom_not_useful += __atomic_load_n(&s->bloom_not_useful, __ATOMIC_RELAXED);
		out->block_cache_hits += __atomic_load_n(&s->block_cache_hits, __ATOMIC_RELAXED);
		out->block_reads += __atomic_load_n(&s->block_reads, __ATOMIC_RELAXED);
	}
	if (out->bytes_written_wal > 0)
		out->write_amplification =
			(double) (out->bytes_written_wal + out->bytes_flushed +
					  out->bytes_compacted_written + out->bytes_blob_written) /
			(double) out->bytes_written_wal;
	if (out->gets > 0)
		out->read_amplification = (double) out->sst_probes / (double) out->gets;

	db->env->mutex_lock(db->mu);
	sv = db->sv;
	for (level = 0; level < LSM_NUM_LEVELS; level++)
	{
		LsmVersion *v = sv->version;

		out->files_per_level[level] = (uint64_t) v->n_files[level];
		out->bytes_per_level[level] = lsm_version_level_bytes(v, level);
		for (i = 0; i < v->n_files[level]; i++)
		{
			out->entries_per_level[level] += v->files[level][i]->entries;
			out->tombstones_per_level[level] += v->files[level][i]->tombstones;
		}
		if (level == 0)
			out->sorted_runs += (uint64_t) v->n_files[0];
		else if (v->n_files[level] > 0)
			out->sorted_runs++;
	}
	{
		LsmBlobUses us;

		/* no I/O: the tables' lists */
		if (lsm_blob_version_uses(sv->version, &us))
		{
			for (i = 0; i < us.n; i++)
			{
				out->blob_files++;
				out->blob_bytes += us.u[i].total;
				out->blob_live_bytes += us.u[i].bytes;
				out->blob_file_bytes += us.u[i].file_size;
			}
			lsm_blob_uses_free(&us);
		}
	}
	/* blob_mu is a leaf: taken under mu */
	db->env->mutex_lock(db->blob_mu);
	out->blob_dict_bytes = db->blob_dict_len;
	db->env->mutex_unlock(db->blob_mu);
	out->pending_compaction_bytes = db->pressure.pending_bytes;
	out->memtable_bytes = lsm_memtable_entry_bytes(sv->mem->mt);
	for (i = 0; i < sv->n_imm; i++)
		out->memtable_bytes += lsm_memtable_entry_bytes(sv->imm[i]->mt);
	out->imm_memtables = (uint64_t) sv->n_imm;
	out->last_seq = db->last_seq;
	db->env->mutex_unlock(db->mu);
}

void
lsm_db_recovery_report(LsmDb *db, LsmRecoveryReport *out)
{
	*out = db->recovery;
}
