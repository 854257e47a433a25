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
 * moves both to its own threads (background_flush, below).
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
	opts->block_cache_size = 8 * 1024 * 1024;
	opts->sync_writes = true;
	opts->merge = NULL;
	opts->merge_arg = NULL;
	opts->compaction_style = LSM_COMPACT_LEVELED;
	opts->auto_compact = true;
	opts->l0_compaction_trigger = 4;
	opts->l0_slowdown_writes_trigger = 8;
	opts->l0_stop_writes_trigger = 12;
	opts->max_bytes_for_level_base = 64 * 1024 * 1024;
	opts->level_size_multiplier = 10;
	opts->target_file_size = 4 * 1024 * 1024;
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

static void
region_put(LsmDb *db, void *p, size_t size)
{
	if (p == NULL)
		return;
	if (db->opts.region_free != NULL)
		db->opts.region_free(db->opts.region_arg, p, size);
	else
		lsm_free(p);
}

/*
 * memref_new
 *		A memtable in a fresh region with at least need bytes free:
 *		write_buffer_size, or more for a batch that would not fit in that.
 *		*pool_full (nullable) tells LSM_NO_MEMORY from the host's region
 *		pool being full, which a background-flush writer waits out, apart
 *		from other failures.
 */
static LsmCode
memref_new(LsmDb *db, size_t need, uint64_t log_number, LsmMemRef **out,
		   bool *pool_full, bool first, LsmStatus *st)
{
	size_t		size = db->opts.write_buffer_size;

	/*
	 * The memtable an open starts with may be smaller: a host with many
	 * mostly idle tables then does not pay a full memtable for each.
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
		region_put(db, m->region, size);
		m->region = NULL;
		size = need + overhead + 64;
	}
	region_put(db, m->region, size);
	lsm_free(m);
	return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
						  "a memtable cannot hold %zu bytes of entries", need);
}

/* Drop a reference to a memtable; caller holds mu. */
static void
memref_unref(LsmDb *db, LsmMemRef *m)
{
	if (m != NULL && --m->refs == 0)
	{
		region_put(db, m->region, m->size);
		lsm_free(m);
	}
}

/* Drop a reference to a superversion; caller holds mu. */
static void
sv_unref_locked(LsmDb *db, LsmSuperVersion *sv)
{
	int			i;

	if (sv == NULL || --sv->refs > 0)
		return;
	memref_unref(db, sv->mem);
	for (i = 0; i < sv->n_imm; i++)
		memref_unref(db, sv->imm[i]);
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
	db->env->mutex_unlock(db->mu);
	if (go != NULL)
		lsm_versionset_delete_files(db->vs, go, n_go);
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

	if (db->vs->n_obsolete > 0)
		lsm_versionset_take_obsolete(db->vs, &files, &n);
	if (files != NULL && n > 0 && db->opts.file_horizon_fn != NULL)
	{
		defer_locked(db, files, n);
		db->env->mutex_unlock(db->mu);
		purge_deferred(db);
		return;
	}
	db->env->mutex_unlock(db->mu);
	if (files != NULL)
		lsm_versionset_delete_files(db->vs, files, n);
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
 * install_sv
 *		Make {mem, imm, current version} the current superversion.  The
 *		struct is allocated by the caller before the change it publishes,
 *		so that publishing cannot fail after the change became durable.
 *		The compaction pressure of the version is refreshed with it (the
 *		caller holds write_mu, or is recovery, alone).
 */
static void
install_sv(LsmDb *db, LsmSuperVersion *nsv, LsmMemRef *mem, LsmMemRef **imm,
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
	lsm_compaction_pressure(&db->opts, nsv->version, &db->pressure);
	old = db->sv;
	db->sv = nsv;
	sv_unref_locked(db, old);
	lsm_db_unlock_and_delete_obsolete(db);
}

static LsmCode
sv_alloc(LsmSuperVersion **nsv, LsmStatus *st)
{
	*nsv = lsm_calloc(1, sizeof(LsmSuperVersion));
	if (*nsv == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory switching memtables");
	return LSM_OK;
}

/*
 * pin_sv
 *		Pin the current superversion and read the visible sequence number
 *		in the same critical section, so the two agree.
 */
static LsmSuperVersion *
pin_sv(LsmDb *db, LsmSeq *seq)
{
	LsmSuperVersion *sv;

	db->env->mutex_lock(db->mu);
	sv = db->sv;
	sv->refs++;
	*seq = db->last_seq;
	db->env->mutex_unlock(db->mu);
	return sv;
}

static void
unpin_sv(LsmDb *db, LsmSuperVersion *sv)
{
	db->env->mutex_lock(db->mu);
	sv_unref_locked(db, sv);
	lsm_db_unlock_and_delete_obsolete(db);
}

/*
 * WAL files
 */

/*
 * open_new_log
 *		Create the next WAL file (lsm_log_create syncs the directory).
 */
static LsmCode
open_new_log(LsmDb *db, LsmLogWriter **w, LsmStatus *st)
{
	uint64_t	number = lsm_versionset_new_file_number(db->vs);
	char		path[LSM_PATH_MAX];

	if (!lsm_file_path(path, db->dir, LSM_FILE_LOG, number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	return lsm_log_create(db->env, path, number, w, st);
}

/* Remember a WAL file for deletion once no memtable needs it. */
static void
remember_old_log(LsmDb *db, uint64_t number)
{
	if (db->n_old_logs == db->cap_old_logs)
	{
		int			cap = db->cap_old_logs ? db->cap_old_logs * 2 : 8;
		uint64_t   *n = lsm_realloc(db->old_logs, (size_t) cap * sizeof(uint64_t));

		if (n == NULL)
			return;				/* the next open deletes it */
		db->old_logs = n;
		db->cap_old_logs = cap;
	}
	db->old_logs[db->n_old_logs++] = number;
}

/*
 * retire_log
 *		Close the current WAL writer (without sync: what it holds is either
 *		about to be flushed or was already acknowledged as unsynced).
 */
static void
retire_log(LsmDb *db)
{
	if (db->log == NULL)
		return;
	remember_old_log(db, lsm_log_number(db->log));
	lsm_log_close(db->log, NULL);
	db->log = NULL;
}

/*
 * delete_old_logs
 *		Unlink the WAL files below the version set's log number: the
 *		MANIFEST says their contents are all in tables.
 */
static void
delete_old_logs(LsmDb *db)
{
	char		path[LSM_PATH_MAX];
	int			i;
	int			k = 0;

	for (i = 0; i < db->n_old_logs; i++)
	{
		uint64_t	n = db->old_logs[i];

		if (n < db->vs->log_number)
		{
			if (lsm_file_path(path, db->dir, LSM_FILE_LOG, n))
				db->env->unlink(db->env, path, NULL);
		}
		else
			db->old_logs[k++] = n;
	}
	db->n_old_logs = k;
}

/*
 * Flush
 */

/*
 * flush_read_points
 *		The read points a flush keeps versions for, as compaction's pick
 *		takes them (compaction.c's header): the live snapshots and C =
 *		min(last_seq, the host's horizon), ascending, C last.  Snapshots and
 *		last_seq are read under mu and the horizon after, so a reader the
 *		host registers meanwhile reads at or above C.
 */
static LsmCode
flush_read_points(LsmDb *db, LsmSeq **points, int *n_points, LsmStatus *st)
{
	LsmSnapshot *s;
	LsmSeq	   *p;
	LsmSeq		cap;
	int			n = 0;

	*points = NULL;
	*n_points = 0;
	db->env->mutex_lock(db->mu);
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		n++;
	p = lsm_malloc((size_t) (n + 1) * sizeof(LsmSeq));
	if (p == NULL)
	{
		db->env->mutex_unlock(db->mu);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in a flush");
	}
	n = 0;
	for (s = db->snapshots.next; s != &db->snapshots; s = s->next)
		if (n == 0 || p[n - 1] != s->seq)
			p[n++] = s->seq;
	cap = db->last_seq;
	db->env->mutex_unlock(db->mu);
	if (db->opts.horizon_fn != NULL)
	{
		LsmSeq		ext = db->opts.horizon_fn(db->opts.horizon_arg);

		if (ext < cap)
			cap = ext;
	}
	while (n > 0 && p[n - 1] >= cap)
		n--;
	p[n++] = cap;
	*points = p;
	*n_points = n;
	return LSM_OK;
}

/* The stripe of seq (at or below the last point): the first point >= seq. */
static int
flush_stripe_of(const LsmSeq *points, int n_points, LsmSeq seq)
{
	int			lo = 0;
	int			hi = n_points - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (points[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * write_level0_table
 *		Write the entries of mt as a new table and add it to edit at level
 *		0.  An empty memtable writes nothing.  The table and its directory
 *		entry are durable when this returns.
 *
 * Versions no reader can see are left out, by compaction's stripe rule
 * (compaction.c's header): of a key's entries in one stripe only the
 * newest PUT or DELETE is kept, with the MERGE operands above it (they are
 * not folded here: a flush keeps its work to a filter).  Entries above C
 * are all kept, and so is every DELETE, as older tables may hold its key.
 * Without this a key rewritten many times between flushes reached level 0
 * once per write and cost a rewrite per version in each compaction until
 * one dropped it.
 */
static LsmCode
write_level0_table(LsmDb *db, LsmMemTable *mt, LsmVersionEdit *edit, LsmStatus *st)
{
	uint64_t	number;
	char		path[LSM_PATH_MAX];
	LsmSstBuilder *b;
	LsmSstProps props;
	LsmMemIter	mi;
	LsmFileMeta meta;
	LsmCode		rc;
	LsmSstOptions topts;
	LsmSeq	   *points;
	int			n_points;
	LsmSlice	ukey = lsm_slice(NULL, 0);	/* points into mt */
	bool		has_ukey = false;
	int			stripe = -1;
	bool		decided = false;
	uint64_t	dropped = 0;

	if (lsm_memtable_count(mt) == 0)
		return LSM_OK;
	rc = flush_read_points(db, &points, &n_points, st);
	if (rc != LSM_OK)
		return rc;
	number = lsm_versionset_new_file_number(db->vs);
	if (!lsm_file_path(path, db->dir, LSM_FILE_TABLE, number))
	{
		lsm_free(points);
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	}
	/* level 0 is rewritten soon: the upper levels' codec */
	topts = db->topts;
	topts.compression = db->opts.compression_upper;
	rc = lsm_sst_builder_open(db->env, path, &topts, &b, st);
	if (rc != LSM_OK)
	{
		lsm_free(points);
		return rc;
	}
	lsm_memtable_iter_init(&mi, mt);
	for (lsm_iter_seek_first(&mi.base); lsm_iter_valid(&mi.base); lsm_iter_next(&mi.base))
	{
		LsmSlice	ikey = lsm_iter_key(&mi.base);
		LsmParsedKey pk;

		if (!lsm_ikey_parse(ikey, &pk))
		{
			rc = lsm_status_set(st, LSM_CORRUPTION, 0,
								"malformed internal key of %zu bytes in a memtable of \"%s\"",
								ikey.len, db->dir);
			break;
		}
		if (!has_ukey || !lsm_slice_eq(pk.user_key, ukey))
		{
			ukey = pk.user_key;
			has_ukey = true;
			stripe = -1;
			decided = false;
		}
		if (pk.seq <= points[n_points - 1])
		{
			int			s = flush_stripe_of(points, n_points, pk.seq);

			if (s != stripe)
			{
				stripe = s;
				decided = false;
			}
			if (decided)
			{
				dropped++;
				continue;
			}
			decided = pk.kind != LSM_KIND_MERGE;
		}
		rc = lsm_sst_builder_add(b, ikey, lsm_iter_value(&mi.base), st);
		if (rc != LSM_OK)
			break;
	}
	lsm_free(points);
	if (rc == LSM_OK)
		rc = lsm_iter_status(&mi.base, st);
	if (rc != LSM_OK)
	{
		lsm_sst_builder_abandon(b);
		return rc;
	}
	if (dropped > 0)
		LSM_STAT_ADD(db, flush_entries_dropped, dropped);
	memset(&props, 0, sizeof(props));
	rc = lsm_sst_builder_finish(b, &props, st);
	if (rc != LSM_OK)
		return rc;
	rc = db->env->sync_dir(db->env, db->dir, st);
	if (rc == LSM_OK)
	{
		memset(&meta, 0, sizeof(meta));
		meta.number = number;
		meta.level = 0;
		meta.size = props.file_bytes;
		meta.smallest = props.smallest;
		meta.largest = props.largest;
		meta.min_seq = props.min_seq;
		meta.max_seq = props.max_seq;
		meta.entries = props.entries;
		meta.tombstones = props.tombstones;
		rc = lsm_edit_add_file(edit, 0, &meta, st);
	}
	if (rc == LSM_OK)
	{
		LSM_STAT_ADD(db, flushes, 1);
		LSM_STAT_ADD(db, bytes_flushed, props.file_bytes);
	}
	else
		db->env->unlink(db->env, path, NULL);
	lsm_sst_props_free(&props);
	return rc;
}

/*
 * install_flush
 *		Log edit (which adds the table written from m) and publish the
 *		superversion without m, which must be the oldest immutable
 *		memtable.  nsv is allocated by the caller and consumed.  Caller
 *		holds write_mu.
 */
static LsmCode
install_flush(LsmDb *db, LsmMemRef *m, LsmSuperVersion *nsv, LsmVersionEdit *edit,
			  LsmStatus *st)
{
	LsmSuperVersion *sv = db->sv;
	LsmCode		rc;

	if (sv->n_imm == 0 || sv->imm[sv->n_imm - 1] != m)
	{
		lsm_free(nsv);
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "the memtable flushed in \"%s\" is no longer the oldest one",
							  db->dir);
	}
	rc = lsm_versionset_log_and_apply(db->vs, edit, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		return rc;
	}
	install_sv(db, nsv, sv->mem, sv->imm, sv->n_imm - 1);
	db->flushes++;
	delete_old_logs(db);
	return LSM_OK;
}

/*
 * flush_imm
 *		Write every immutable memtable, oldest first, to level 0.  Each
 *		table's edit moves the log number up to the first WAL file of the
 *		next newer memtable, which makes the older WAL files deletable.
 *		Caller holds write_mu, across the writing too: writers flush
 *		synchronously (not background_flush), or recovery.
 */
static LsmCode
flush_imm(LsmDb *db, LsmStatus *st)
{
	while (db->sv->n_imm > 0)
	{
		LsmSuperVersion *sv = db->sv;
		int			n = sv->n_imm;
		LsmMemRef  *m = sv->imm[n - 1];
		uint64_t	next_log = n >= 2 ? sv->imm[n - 2]->log_number : sv->mem->log_number;
		LsmSuperVersion *nsv;
		LsmVersionEdit edit;
		LsmCode		rc;

		rc = sv_alloc(&nsv, st);
		if (rc != LSM_OK)
			return rc;
		lsm_edit_init(&edit);
		lsm_edit_set_log_number(&edit, next_log);
		lsm_edit_set_last_seq(&edit, db->last_seq);
		rc = write_level0_table(db, m->mt, &edit, st);
		if (rc == LSM_OK)
			rc = install_flush(db, m, nsv, &edit, st);
		else
			lsm_free(nsv);
		lsm_edit_free(&edit);
		if (rc != LSM_OK)
			return rc;
	}
	return LSM_OK;
}

/* The refusal of a write after a failure that left the memtable unsure. */
static LsmCode
refuse_write(LsmDb *db, LsmStatus *st)
{
	return lsm_status_set(st, db->bg_error.code, db->bg_error.sys_errno,
						  "database \"%s\" refuses writes after an earlier failure: %s",
						  db->dir, db->bg_error.msg);
}

/*
 * lsm_db_flush_pending
 *		Write the oldest immutable memtable to level 0 and install it.
 *
 * With background_flush the table is written holding no lock: the
 * memtable is frozen, so it can be read like any reader does, and writers
 * go on into the active one.  The flushing flag keeps a second flush out,
 * which also keeps this memtable the oldest until it is installed (only
 * flushes remove immutable memtables in this mode).  The MANIFEST records
 * the memtable's own highest sequence number as the database's last one
 * (file header).  Without background_flush writers flush under write_mu,
 * so this does too.
 */
LsmCode
lsm_db_flush_pending(LsmDb *db, bool *did, LsmStatus *st)
{
	LsmSuperVersion *sv;
	LsmSuperVersion *nsv = NULL;
	LsmMemRef  *m;
	LsmVersionEdit edit;
	uint64_t	next_log;
	LsmSeq		max_seq;
	LsmCode		rc = LSM_OK;
	int			n;

	*did = false;
	db->env->mutex_lock(db->write_mu);
	if (db->bg_error.code != LSM_OK)
	{
		rc = refuse_write(db, st);
		db->env->mutex_unlock(db->write_mu);
		return rc;
	}
	if (!db->opts.background_flush)
	{
		if (db->sv->n_imm > 0)
		{
			/* flush_imm's loop, once */
			sv = db->sv;
			n = sv->n_imm;
			m = sv->imm[n - 1];
			rc = sv_alloc(&nsv, st);
			if (rc == LSM_OK)
			{
				lsm_edit_init(&edit);
				lsm_edit_set_log_number(&edit, n >= 2 ? sv->imm[n - 2]->log_number :
										sv->mem->log_number);
				lsm_edit_set_last_seq(&edit, n >= 2 ?
									  lsm_memtable_max_seq(m->mt) : db->last_seq);
				rc = write_level0_table(db, m->mt, &edit, st);
				if (rc == LSM_OK)
					rc = install_flush(db, m, nsv, &edit, st);
				else
					lsm_free(nsv);
				lsm_edit_free(&edit);
				*did = rc == LSM_OK;
			}
		}
		db->env->mutex_unlock(db->write_mu);
		return rc;
	}

	db->env->mutex_lock(db->mu);
	sv = db->sv;
	n = sv->n_imm;
	if (db->flushing || n == 0)
	{
		db->env->mutex_unlock(db->mu);
		db->env->mutex_unlock(db->write_mu);
		return LSM_OK;
	}
	db->flushing = true;
	m = sv->imm[n - 1];
	m->refs++;
	/* the next newer memtable's WAL files outlive this flush */
	next_log = n >= 2 ? sv->imm[n - 2]->log_number : sv->mem->log_number;
	db->env->mutex_unlock(db->mu);
	db->env->mutex_unlock(db->write_mu);

	max_seq = lsm_memtable_max_seq(m->mt);
	if (db->opts.pre_flush_fn != NULL &&
		!db->opts.pre_flush_fn(db->opts.pre_flush_arg, max_seq))
		rc = lsm_status_set(st, LSM_IO_ERROR, 0,
							"the host could not make its log durable up to sequence number %llu before a flush of \"%s\"",
							(unsigned long long) max_seq, db->dir);
	if (rc == LSM_OK)
		rc = sv_alloc(&nsv, st);
	if (rc == LSM_OK)
	{
		lsm_edit_init(&edit);
		lsm_edit_set_log_number(&edit, next_log);
		lsm_edit_set_last_seq(&edit, max_seq);
		rc = write_level0_table(db, m->mt, &edit, st);
		if (rc == LSM_OK)
		{
			db->env->mutex_lock(db->write_mu);
			rc = install_flush(db, m, nsv, &edit, st);
			db->env->mutex_unlock(db->write_mu);
		}
		else
			lsm_free(nsv);
		lsm_edit_free(&edit);
	}

	db->env->mutex_lock(db->mu);
	db->flushing = false;
	memref_unref(db, m);
	db->env->mutex_unlock(db->mu);
	*did = rc == LSM_OK;
	return rc;
}

bool
lsm_db_flush_needed(LsmDb *db)
{
	bool		needed;

	db->env->mutex_lock(db->mu);
	needed = db->sv->n_imm > 0;
	db->env->mutex_unlock(db->mu);
	return needed;
}

/*
 * switch_memtable
 *		Freeze the active memtable and start a new one with room for need
 *		bytes.  With new_log, a new WAL file is started as well, so that the
 *		frozen memtable's entries sit in WAL files of their own; recovery
 *		replay and external_wal switch without one.  LSM_BUSY when
 *		LSM_MAX_IMM memtables wait already; *pool_full (nullable) as for
 *		memref_new.  Caller holds write_mu.
 */
static LsmCode
switch_memtable(LsmDb *db, size_t need, bool new_log, bool *pool_full, LsmStatus *st)
{
	LsmSuperVersion *sv = db->sv;
	LsmSuperVersion *nsv;
	LsmLogWriter *w = NULL;
	LsmMemRef  *imm[LSM_MAX_IMM];
	LsmMemRef  *m;
	LsmCode		rc;
	int			i;

	if (pool_full != NULL)
		*pool_full = false;
	if (sv->n_imm >= LSM_MAX_IMM)
		return lsm_status_set(st, LSM_BUSY, 0,
							  "too many memtables wait for a flush in \"%s\"", db->dir);
	rc = sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		return rc;

	/*
	 * The region first: a writer waiting for the host's pool retries this,
	 * and should not create and delete a WAL file every time.
	 */
	rc = memref_new(db, need, sv->mem->log_number, &m, pool_full, false, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		return rc;
	}
	if (new_log)
	{
		rc = open_new_log(db, &w, st);
		if (rc != LSM_OK)
		{
			region_put(db, m->region, m->size);
			lsm_free(m);
			lsm_free(nsv);
			return rc;
		}
		m->log_number = lsm_log_number(w);
		retire_log(db);
		db->log = w;
	}
	imm[0] = sv->mem;
	for (i = 0; i < sv->n_imm; i++)
		imm[i + 1] = sv->imm[i];
	install_sv(db, nsv, m, imm, sv->n_imm + 1);
	return LSM_OK;
}

/*
 * replace_empty_memtable
 *		Swap the empty active memtable, too small for a huge batch, for one
 *		with need bytes free; its WAL file stays the same.  Caller holds
 *		write_mu.
 */
static LsmCode
replace_empty_memtable(LsmDb *db, size_t need, bool *pool_full, LsmStatus *st)
{
	LsmSuperVersion *nsv;
	LsmMemRef  *m;
	LsmCode		rc;

	rc = sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		return rc;
	rc = memref_new(db, need, db->sv->mem->log_number, &m, pool_full, false, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		return rc;
	}
	install_sv(db, nsv, m, db->sv->imm, db->sv->n_imm);
	return LSM_OK;
}

/*
 * make_room
 *		Make sure the active memtable has need bytes free, flushing when it
 *		is full.  A leftover immutable memtable (its flush failed earlier)
 *		is flushed first, so that failures cannot pile memtables up.  An
 *		empty memtable too small for a huge batch is swapped for a bigger
 *		one.
 */
static LsmCode
make_room(LsmDb *db, size_t need, bool new_log, LsmStatus *st)
{
	LsmMemTable *mt;
	LsmCode		rc;

	if (db->sv->n_imm > 0)
	{
		rc = flush_imm(db, st);
		if (rc != LSM_OK)
			return rc;
	}
	mt = db->sv->mem->mt;
	if (lsm_memtable_bytes_free(mt) >= need)
		return LSM_OK;
	if (lsm_memtable_count(mt) > 0)
	{
		rc = switch_memtable(db, need, new_log, NULL, st);
		if (rc == LSM_OK)
			rc = flush_imm(db, st);
		return rc;
	}
	return replace_empty_memtable(db, need, NULL, st);
}

/*
 * room_background
 *		make_room for background_flush: freeze a full memtable and start a
 *		new one, never flush.  LSM_BUSY (st not to be looked at) when the
 *		writer has to wait for a flush: LSM_MAX_IMM memtables wait, or the
 *		host's region pool is full.  *froze is set when a memtable was
 *		frozen.  Caller holds write_mu.
 */
static LsmCode
room_background(LsmDb *db, size_t need, bool *froze, LsmStatus *st)
{
	LsmMemTable *mt = db->sv->mem->mt;
	bool		pool_full = false;
	LsmCode		rc;

	if (lsm_memtable_bytes_free(mt) >= need)
		return LSM_OK;
	if (lsm_memtable_count(mt) > 0)
	{
		if (db->sv->n_imm >= LSM_MAX_IMM)
			return LSM_BUSY;
		rc = switch_memtable(db, need, !db->opts.external_wal, &pool_full, st);
		if (rc == LSM_OK)
			*froze = true;
	}
	else
		rc = replace_empty_memtable(db, need, &pool_full, st);
	if (rc != LSM_OK && pool_full)
		return LSM_BUSY;
	return rc;
}

/*
 * flush_background
 *		lsm_db_flush under background_flush: freeze the active memtable
 *		when it holds writes made before the call, then flush frozen
 *		memtables until none holding such writes is left.  Another thread's
 *		flush, a full list of frozen memtables or a full region pool make it
 *		wait (1 ms waits through the env's hook, no lock held; a wait the
 *		hook ends ends the flush with its code).
 */
static LsmCode
flush_background(LsmDb *db, LsmStatus *st)
{
	LsmSeq		target;
	LsmCode		rc = LSM_OK;

	db->env->mutex_lock(db->write_mu);
	if (db->bg_error.code != LSM_OK)
		rc = refuse_write(db, st);
	target = db->last_seq;
	db->env->mutex_unlock(db->write_mu);
	if (rc != LSM_OK)
		return rc;
	for (;;)
	{
		LsmSuperVersion *sv;
		LsmMemTable *mt;
		bool		freeze;
		bool		pending;
		bool		did = false;

		db->env->mutex_lock(db->write_mu);
		mt = db->sv->mem->mt;
		freeze = lsm_memtable_count(mt) > 0 && lsm_memtable_min_seq(mt) <= target;
		if (freeze && db->sv->n_imm < LSM_MAX_IMM)
		{
			bool		pool_full;

			rc = switch_memtable(db, 0, !db->opts.external_wal, &pool_full, st);
			if (rc == LSM_OK)
				freeze = false;
			else if (pool_full)
				rc = LSM_OK;
			else
			{
				db->env->mutex_unlock(db->write_mu);
				return rc;
			}
		}
		sv = db->sv;
		pending = sv->n_imm > 0 &&
			lsm_memtable_min_seq(sv->imm[sv->n_imm - 1]->mt) <= target;
		db->env->mutex_unlock(db->write_mu);
		if (!freeze && !pending)
			return LSM_OK;
		if (pending)
		{
			rc = lsm_db_flush_pending(db, &did, st);
			if (rc != LSM_OK)
				return rc;
		}
		if (!did &&
			(rc = lsm_env_wait(db->env, LSM_WAIT_FLUSH, 1000, st)) != LSM_OK)
			return rc;
	}
}

LsmCode
lsm_db_flush(LsmDb *db, LsmStatus *st)
{
	LsmCode		rc = LSM_OK;

	if (db->opts.background_flush)
		return flush_background(db, st);
	db->env->mutex_lock(db->write_mu);
	if (db->bg_error.code != LSM_OK)
		rc = lsm_status_set(st, db->bg_error.code, db->bg_error.sys_errno, "%s",
							db->bg_error.msg);
	if (rc == LSM_OK && db->sv->n_imm > 0)
		rc = flush_imm(db, st);
	if (rc == LSM_OK && lsm_memtable_count(db->sv->mem->mt) > 0)
	{
		rc = switch_memtable(db, 0, !db->opts.external_wal, NULL, st);
		if (rc == LSM_OK)
			rc = flush_imm(db, st);
	}
	if (rc == LSM_OK && db->opts.auto_compact)
		rc = lsm_db_compact_until_done(db, true, st);
	db->env->mutex_unlock(db->write_mu);
	return rc;
}

LsmCode
lsm_db_compact_step(LsmDb *db, bool *did, LsmStatus *st)
{
	return lsm_db_compact_one(db, false, did, st);
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

	rc = sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		return rc;
	rc = lsm_versionset_log_and_apply(db->vs, edit, st);
	if (rc == LSM_OK)
		install_sv(db, nsv, db->sv->mem, db->sv->imm, db->sv->n_imm);
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

static LsmCode
insert_entry(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
			 LsmStatus *st)
{
	if (!lsm_memtable_add((LsmMemTable *) arg, seq, kind, key, value))
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "memtable full despite reserving room for the batch");
	return LSM_OK;
}

/*
 * batch_room
 *		Upper bound of the memtable bytes a serialized batch needs; also
 *		validates it.
 */
static LsmCode
batch_room(LsmSlice contents, size_t *need, LsmStatus *st)
{
	*need = 0;
	return lsm_batch_iterate(contents, add_entry_size, need, st);
}

/*
 * InsertAt: insert_entry for lsm_db_write_at, which moves the sequence
 * numbers of the contents (from from) to where the host put them (to).
 */
typedef struct InsertAt
{
	LsmMemTable *mt;
	LsmSeq		from;
	LsmSeq		to;
} InsertAt;

static LsmCode
insert_entry_at(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
				LsmStatus *st)
{
	InsertAt   *ia = arg;

	return insert_entry(ia->mt, seq - ia->from + ia->to, kind, key, value, st);
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
 *		host once it released write_mu).  Caller holds write_mu.
 */
static LsmCode
wait_for_room(LsmDb *db, size_t need, bool *froze, LsmStatus *st)
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
			return refuse_write(db, st);
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
			rc = room_background(db, need, froze, st);
			if (rc != LSM_BUSY)
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
			size_t need, LsmSeq first_at, LsmStatus *st)
{
	LsmSeq		first;
	uint64_t	end;
	uint64_t	flushes;
	bool		froze = false;
	LsmCode		rc;

	db->env->mutex_lock(db->write_mu);
	if (db->opts.background_flush)
		rc = wait_for_room(db, need, &froze, st);
	else
	{
		rc = stall_writer(db, st);
		if (rc == LSM_OK && db->bg_error.code != LSM_OK)
			rc = refuse_write(db, st);
		flushes = db->flushes;
		if (rc == LSM_OK)
			rc = make_room(db, need, !db->opts.external_wal, st);
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

		ia.mt = db->sv->mem->mt;
		ia.from = lsm_batch_contents_seq(contents);
		ia.to = first;
		rc = lsm_batch_iterate(contents, insert_entry_at, &ia, st);
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
			rc = open_new_log(db, &db->log, st);
			if (rc != LSM_OK)
				goto out;
		}
		rc = lsm_log_append(db->log, LSM_LOG_BATCH, contents, &end, st);
		if (rc == LSM_OK && db->opts.sync_writes)
			rc = lsm_log_sync(db->log, end, st);
		if (rc != LSM_OK)
		{
			retire_log(db);
			db->env->mutex_lock(db->mu);
			db->last_seq = first + count - 1;
			db->env->mutex_unlock(db->mu);
			goto out;
		}
		LSM_STAT_ADD(db, bytes_written_wal, contents.len + LSM_LOG_HEADER);
		rc = lsm_batch_iterate(contents, insert_entry, db->sv->mem->mt, st);
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
	db->last_seq = first + count - 1;
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
	rc = batch_room(lsm_batch_contents(batch), &need, st);
	if (rc != LSM_OK)
		return rc;
	return apply_batch(db, batch, lsm_batch_contents(batch), count, need, 0, st);
}

/*
 * lsm_db_write_at
 *		Apply a batch the host logged, at the sequence numbers it chose.
 *		Everything about the contents is checked before anything is
 *		applied.  Its sequence number field means nothing here; when it is
 *		out of the range the batch walker accepts, a copy with a zero there
 *		is walked instead (hosts that leave it zero, as lsm_batch_create
 *		does, never pay for that).
 */
LsmCode
lsm_db_write_at(LsmDb *db, LsmSlice contents, LsmSeq first_seq, LsmStatus *st)
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
	rc = batch_room(contents, &need, st);	/* validates it whole */
	if (rc == LSM_OK && count > 0 &&
		(first_seq == 0 || first_seq > LSM_MAX_SEQ || count - 1 > LSM_MAX_SEQ - first_seq))
		rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							"sequence numbers %llu.. of a batch of %u entries are outside 1..2^56-1",
							(unsigned long long) first_seq, count);
	if (rc == LSM_OK && count > 0)
		rc = apply_batch(db, NULL, contents, count, need, first_seq, st);
	lsm_free(copy);
	return rc;
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
 * Point get
 */

typedef struct GetCtx
{
	LsmSlice	key;			/* user key */
	LsmBuf	   *out;			/* caller's buffer */
	bool		done;			/* met a PUT or DELETE */
	bool		found_put;
	bool		seen;			/* the current source had an entry of key */
	LsmSeq		newest;			/* seq of the first entry of key met, 0 = none */
	bool		has_base;
	LsmBuf		base;
	LsmBuf		ops;			/* operands, newest first, back to back */
	size_t	   *op_len;
	int			n_ops;
	int			cap_ops;
	LsmCode		err;			/* LSM_NO_MEMORY or LSM_CORRUPTION from visit */
	LsmReadCounters *counters;	/* the caller's, nullable */
} GetCtx;

/*
 * get_visit
 *		Consume one entry at or after the seek key; false to stop the
 *		source.  The first PUT or DELETE decides the key; MERGE operands
 *		above it are collected, newest first.
 */
static bool
get_visit(void *arg, LsmSlice ikey, LsmSlice value)
{
	GetCtx	   *g = arg;
	LsmParsedKey pk;

	if (!lsm_ikey_parse(ikey, &pk))
	{
		g->err = LSM_CORRUPTION;
		return false;
	}
	if (!lsm_slice_eq(pk.user_key, g->key))
		return false;
	g->seen = true;
	if (g->newest == 0)
		g->newest = pk.seq;
	switch (pk.kind)
	{
		case LSM_KIND_PUT:
			if (!lsm_buf_set(g->n_ops > 0 ? &g->base : g->out, value.data, value.len))
				g->err = LSM_NO_MEMORY;
			g->has_base = g->n_ops > 0;
			g->found_put = true;
			g->done = true;
			return false;
		case LSM_KIND_DELETE:
			g->done = true;
			return false;
		case LSM_KIND_MERGE:
			if (g->n_ops == g->cap_ops)
			{
				int			cap = g->cap_ops ? g->cap_ops * 2 : 8;
				size_t	   *n = lsm_realloc(g->op_len, (size_t) cap * sizeof(size_t));

				if (n == NULL)
				{
					g->err = LSM_NO_MEMORY;
					return false;
				}
				g->op_len = n;
				g->cap_ops = cap;
			}
			if (!lsm_buf_append(&g->ops, value.data, value.len))
			{
				g->err = LSM_NO_MEMORY;
				return false;
			}
			g->op_len[g->n_ops++] = value.len;
			return true;
	}
	return false;
}

/* Search a memtable; false when the key is decided or an error occurred. */
static bool
get_from_memtable(GetCtx *g, LsmMemTable *mt, LsmSlice target)
{
	LsmMemIter	mi;

	lsm_memtable_iter_init(&mi, mt);
	for (lsm_iter_seek(&mi.base, target); lsm_iter_valid(&mi.base);
		 lsm_iter_next(&mi.base))
	{
		if (!get_visit(g, lsm_iter_key(&mi.base), lsm_iter_value(&mi.base)))
			break;
	}
	return !g->done && g->err == LSM_OK;
}

/*
 * get_from_table
 *		Search one file, counting what the probe cost.
 */
static LsmCode
get_from_table(LsmDb *db, GetCtx *g, LsmFileMeta *f, LsmSlice target, bool fill_cache,
			   LsmStatus *st)
{
	LsmReadStats rs;
	LsmSst   *t;
	LsmCode		rc;

	rc = lsm_versionset_table(db->vs, f, &t, st);
	if (rc != LSM_OK)
		return rc;
	memset(&rs, 0, sizeof(rs));
	g->seen = false;
	rc = lsm_sst_get(t, target, get_visit, g, &rs, st);
	LSM_STAT_ADD(db, block_reads, rs.block_reads);
	LSM_STAT_ADD(db, block_cache_hits, rs.block_cache_hits);
	if (rs.bloom_useful > 0)
		LSM_STAT_ADD(db, bloom_useful, rs.bloom_useful);
	else
	{
		LSM_STAT_ADD(db, sst_probes, 1);
		if (!g->seen)
			LSM_STAT_ADD(db, bloom_not_useful, 1);
	}
	if (g->counters != NULL)
	{
		g->counters->block_reads += rs.block_reads;
		g->counters->block_cache_hits += rs.block_cache_hits;
		if (rs.bloom_useful > 0)
			g->counters->bloom_useful += rs.bloom_useful;
		else
		{
			g->counters->sst_probes++;
			if (!g->seen)
				g->counters->bloom_not_useful++;
		}
	}
	if (rc == LSM_OK && g->err == LSM_CORRUPTION)
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"malformed internal key in table %llu of \"%s\"",
							(unsigned long long) f->number, db->dir);
	return rc;
}

/*
 * read_point
 *		The sequence number a read with ro sees: the lowest of the latest
 *		(read with the superversion pin), the snapshot's and read_seq.
 */
static LsmSeq
read_point(const LsmReadOptions *ro, LsmSeq latest)
{
	LsmSeq		seq = latest;

	if (ro->snapshot != NULL && ro->snapshot->seq < seq)
		seq = ro->snapshot->seq;
	if (ro->read_seq != 0 && ro->read_seq < seq)
		seq = ro->read_seq;
	return seq;
}

/*
 * lsm_db_get
 *		Look the key up in every source from newest to oldest, stopping at
 *		the first PUT or DELETE; merge operands met on the way are folded
 *		over it at the end.
 */
LsmCode
lsm_db_get(LsmDb *db, const LsmReadOptions *ro, LsmSlice key, LsmBuf *value,
		   LsmStatus *st)
{
	LsmReadOptions defaults;
	LsmSuperVersion *sv;
	LsmVersion *v;
	LsmSeq		seq;
	GetCtx		g;
	uint8_t		stack_key[GET_STACK_KEY];
	LsmBuf		heap_key = LSM_BUF_INIT;
	LsmSlice	target;
	LsmCode		rc = LSM_OK;
	bool		in_memtable = false;
	int			level;
	int			i;

	if (ro == NULL)
	{
		lsm_read_options_init(&defaults);
		ro = &defaults;
	}
	if (ro->found_seq != NULL)
		*ro->found_seq = 0;
	sv = pin_sv(db, &seq);
	seq = read_point(ro, seq);
	LSM_STAT_ADD(db, gets, 1);

	if (key.len + LSM_IKEY_TRAILER <= sizeof(stack_key))
	{
		if (key.len > 0)
			memcpy(stack_key, key.data, key.len);
		lsm_put_fixed64(stack_key + key.len, lsm_pack_seq_kind(seq, LSM_KIND_FOR_SEEK));
		target = lsm_slice(stack_key, key.len + LSM_IKEY_TRAILER);
	}
	else
	{
		if (!lsm_ikey_append(&heap_key, key, seq, LSM_KIND_FOR_SEEK))
		{
			unpin_sv(db, sv);
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in get");
		}
		target = lsm_buf_slice(&heap_key);
	}

	memset(&g, 0, sizeof(g));
	g.key = key;
	g.out = value;
	g.counters = ro->counters;
	if (g.counters != NULL)
		g.counters->gets++;

	/* memtables, newest first */
	if (get_from_memtable(&g, sv->mem->mt, target))
	{
		for (i = 0; i < sv->n_imm; i++)
			if (!get_from_memtable(&g, sv->imm[i]->mt, target))
				break;
	}
	in_memtable = g.done;
	if (g.err != LSM_OK)
	{
		rc = lsm_status_set(st, g.err, 0, "%s while reading a memtable of \"%s\"",
							g.err == LSM_NO_MEMORY ? "out of memory" : "malformed key",
							db->dir);
		goto done;
	}

	/* level 0, newest first: any file whose key range covers the key */
	v = sv->version;
	for (i = 0; !g.done && i < v->n_files[0]; i++)
	{
		LsmFileMeta *f = v->files[0][i];

		if (lsm_slice_cmp(key, lsm_file_smallest_user_key(f)) < 0 ||
			lsm_slice_cmp(key, lsm_file_largest_user_key(f)) > 0)
			continue;
		rc = get_from_table(db, &g, f, target, ro->fill_cache, st);
		if (rc != LSM_OK)
			goto done;
		if (g.err != LSM_OK)
			break;
	}

	/* deeper levels: at most one file each */
	for (level = 1; !g.done && g.err == LSM_OK && level < LSM_NUM_LEVELS; level++)
	{
		LsmFileMeta *f;

		i = lsm_version_find_file(v, level, key);
		if (i >= v->n_files[level])
			continue;
		f = v->files[level][i];
		if (lsm_slice_cmp(key, lsm_file_smallest_user_key(f)) < 0)
			continue;
		rc = get_from_table(db, &g, f, target, ro->fill_cache, st);
		if (rc != LSM_OK)
			goto done;
	}
	if (g.err != LSM_OK)
	{
		rc = lsm_status_set(st, g.err, 0, "out of memory in get from \"%s\"", db->dir);
		goto done;
	}

	if (g.n_ops > 0)
	{
		LsmSlice   *ops = lsm_malloc((size_t) g.n_ops * sizeof(LsmSlice));
		LsmSlice	base = lsm_buf_slice(&g.base);
		size_t		off = 0;

		if (ops == NULL)
		{
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory in get");
			goto done;
		}
		/* collected newest first; the merge function wants oldest first */
		for (i = 0; i < g.n_ops; i++)
		{
			ops[g.n_ops - 1 - i] = lsm_slice(g.ops.data + off, g.op_len[i]);
			off += g.op_len[i];
		}
		lsm_buf_reset(value);
		rc = db->opts.merge(db->opts.merge_arg, key, g.has_base ? &base : NULL,
							ops, g.n_ops, value, st);
		lsm_free(ops);
	}
	else if (!g.found_put)
		rc = LSM_NOT_FOUND;
	if (rc == LSM_OK && in_memtable)
	{
		LSM_STAT_ADD(db, memtable_hits, 1);
		if (g.counters != NULL)
			g.counters->memtable_hits++;
	}

done:
	if (ro->found_seq != NULL)
		*ro->found_seq = g.newest;
	lsm_buf_free(&heap_key);
	lsm_buf_free(&g.base);
	lsm_buf_free(&g.ops);
	lsm_free(g.op_len);
	unpin_sv(db, sv);
	return rc;
}

/*
 * Iterators
 */

/*
 * What a user-level iterator pins; released by its destroy.  Its table
 * iterators count into *stats: the caller's LsmReadCounters when it asked
 * (it sees them as the scan goes), else own.  The database's counters get
 * what this iterator added (stats - at_start) when it goes.
 */
typedef struct IterPin
{
	LsmDb	   *db;
	LsmSuperVersion *sv;
	LsmReadStats *stats;
	LsmReadStats own;
	LsmReadStats at_start;
} IterPin;

static void
iter_release(void *arg)
{
	IterPin    *pin = arg;

	LSM_STAT_ADD(pin->db, block_reads, pin->stats->block_reads - pin->at_start.block_reads);
	LSM_STAT_ADD(pin->db, block_cache_hits,
				 pin->stats->block_cache_hits - pin->at_start.block_cache_hits);
	unpin_sv(pin->db, pin->sv);
	lsm_free(pin);
}

/*
 * lsm_db_iter
 *		Merge every source (memtables, each level-0 file, one concatenating
 *		iterator per deeper level) and wrap it in the user-level iterator.
 */
LsmCode
lsm_db_iter(LsmDb *db, const LsmReadOptions *ro, LsmIter **itp, LsmStatus *st)
{
	LsmReadOptions defaults;
	IterPin    *pin;
	LsmSuperVersion *sv;
	LsmVersion *v;
	LsmIter   **children;
	LsmIter    *merged;
	LsmSeq		seq;
	int			n = 0;
	int			max;
	int			level;
	int			i;
	LsmCode		rc;

	*itp = NULL;
	if (ro == NULL)
	{
		lsm_read_options_init(&defaults);
		ro = &defaults;
	}
	pin = lsm_calloc(1, sizeof(IterPin));
	if (pin == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	pin->db = db;
	pin->stats = ro->counters != NULL ? ro->counters : &pin->own;
	pin->at_start = *pin->stats;
	sv = pin->sv = pin_sv(db, &seq);
	seq = read_point(ro, seq);
	v = sv->version;

	max = 1 + sv->n_imm + LSM_NUM_LEVELS + v->n_files[0];
	children = lsm_malloc((size_t) max * sizeof(LsmIter *));
	if (children == NULL)
	{
		iter_release(pin);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	}

	children[n++] = lsm_memtable_iter_new(sv->mem->mt);
	for (i = 0; i < sv->n_imm; i++)
		children[n++] = lsm_memtable_iter_new(sv->imm[i]->mt);
	for (i = 0; i < v->n_files[0]; i++)
	{
		LsmSst   *t;

		rc = lsm_versionset_table(db->vs, v->files[0][i], &t, st);
		if (rc != LSM_OK)
			goto fail;
		children[n] = lsm_sst_iter(t, ro->fill_cache, pin->stats);
		if (children[n] == NULL)
			goto oom;
		pin->stats->sst_probes++;
		n++;
	}
	for (level = 1; level < LSM_NUM_LEVELS; level++)
	{
		if (v->n_files[level] == 0)
			continue;
		children[n] = lsm_version_level_iter(db->vs, v, level, ro->fill_cache,
											 pin->stats);
		if (children[n] == NULL)
			goto oom;
		n++;
	}

	merged = lsm_merge_iter_new(children, n, lsm_ikey_cmp);
	lsm_free(children);
	if (merged == NULL)
	{
		iter_release(pin);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	}
	*itp = lsm_db_iter_new(merged, seq, ro->lower_bound, ro->upper_bound,
						   db->opts.merge, db->opts.merge_arg, iter_release, pin);
	if (*itp == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
	return LSM_OK;

oom:
	rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory creating an iterator");
fail:
	for (i = 0; i < n; i++)
		lsm_iter_destroy(children[i]);
	lsm_free(children);
	iter_release(pin);
	return rc;
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
			if (verify_problem(rc))
			{
				out->problems++;
				if (fn != NULL)
					fn(arg, &pst);
				rc = LSM_OK;
			}
			else if (rc != LSM_OK && st != NULL)
				*st = pst;
		}
	}

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
	STAT_LOAD(compaction_entries_dropped);
	STAT_LOAD(flush_entries_dropped);
	STAT_LOAD(compaction_failures);
	STAT_LOAD(running_compactions);
	STAT_LOAD(stall_slowdowns);
	STAT_LOAD(stall_stops);
	STAT_LOAD(stall_micros);
	STAT_LOAD(memtable_waits);
	STAT_LOAD(memtable_wait_micros);
	if (out->bytes_written_wal > 0)
		out->write_amplification =
			(double) (out->bytes_written_wal + out->bytes_flushed +
					  out->bytes_compacted_written) / (double) out->bytes_written_wal;
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
	out->pending_compaction_bytes = db->pressure.pending_bytes;
	out->memtable_bytes = lsm_memtable_bytes_used(sv->mem->mt);
	for (i = 0; i < sv->n_imm; i++)
		out->memtable_bytes += lsm_memtable_bytes_used(sv->imm[i]->mt);
	out->imm_memtables = (uint64_t) sv->n_imm;
	out->last_seq = db->last_seq;
	db->env->mutex_unlock(db->mu);
}

void
lsm_db_recovery_report(LsmDb *db, LsmRecoveryReport *out)
{
	*out = db->recovery;
}

/*
 * Open and recovery
 */

/* What the directory listing found. */
typedef struct DirScan
{
	uint64_t   *logs;
	int			n_logs;
	int			cap_logs;
	uint64_t   *tables;
	int			n_tables;
	int			cap_tables;
	uint64_t   *manifests;
	int			n_manifests;
	int			cap_manifests;
	bool		has_temp;
	bool		oom;
} DirScan;

static bool
scan_push(uint64_t **arr, int *n, int *cap, uint64_t v)
{
	if (*n == *cap)
	{
		int			ncap = *cap ? *cap * 2 : 16;
		uint64_t   *p = lsm_realloc(*arr, (size_t) ncap * sizeof(uint64_t));

		if (p == NULL)
			return false;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = v;
	return true;
}

static bool
scan_entry(void *arg, const char *name)
{
	DirScan    *ds = arg;
	LsmFileType type;
	uint64_t	number;
	bool		ok = true;

	if (!lsm_parse_file_name(name, &type, &number))
		return true;
	switch (type)
	{
		case LSM_FILE_LOG:
			ok = scan_push(&ds->logs, &ds->n_logs, &ds->cap_logs, number);
			break;
		case LSM_FILE_TABLE:
			ok = scan_push(&ds->tables, &ds->n_tables, &ds->cap_tables, number);
			break;
		case LSM_FILE_MANIFEST:
			ok = scan_push(&ds->manifests, &ds->n_manifests, &ds->cap_manifests, number);
			break;
		case LSM_FILE_TEMP:
			ds->has_temp = true;
			break;
		case LSM_FILE_CURRENT:
			break;
	}
	if (!ok)
		ds->oom = true;
	return ok;
}

static void
scan_free(DirScan *ds)
{
	lsm_free(ds->logs);
	lsm_free(ds->tables);
	lsm_free(ds->manifests);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static bool
scan_has(const uint64_t *arr, int n, uint64_t v)
{
	return n > 0 && bsearch(&v, arr, (size_t) n, sizeof(uint64_t), cmp_u64) != NULL;
}

/* State of WAL replay into the memtable. */
typedef struct ReplayCtx
{
	LsmDb	   *db;
	const char *path;
	LsmSeq		flushed_max;	/* highest seq in tables: skip batches below */
	LsmSeq		last;			/* highest seq replayed */
} ReplayCtx;

/*
 * replay_record
 *		Apply one WAL record.  The batch is validated whole before any
 *		entry is inserted, so a damaged batch is never half applied.
 */
static LsmCode
replay_record(void *arg, uint8_t type, LsmSlice payload, uint64_t end_pos,
			  LsmStatus *st)
{
	ReplayCtx  *rc_ = arg;
	LsmDb	   *db = rc_->db;
	LsmStatus	inner;
	uint32_t	count;
	LsmSeq		first;
	LsmSeq		last;
	size_t		need;
	LsmCode		rc;

	if (type != LSM_LOG_BATCH)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "log \"%s\": record of type %u ending at offset %llu",
							  rc_->path, (unsigned) type, (unsigned long long) end_pos);
	lsm_status_clear(&inner);
	if (lsm_batch_validate(payload, &inner) != LSM_OK ||
		batch_room(payload, &need, &inner) != LSM_OK)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "log \"%s\": bad batch in record ending at offset %llu: %s",
							  rc_->path, (unsigned long long) end_pos, inner.msg);
	count = lsm_batch_contents_count(payload);
	if (count == 0)
		return LSM_OK;
	first = lsm_batch_contents_seq(payload);
	if (first == 0 || first > LSM_MAX_SEQ - (count - 1))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "log \"%s\": impossible sequence number %llu in record ending at offset %llu",
							  rc_->path, (unsigned long long) first,
							  (unsigned long long) end_pos);
	last = first + count - 1;
	if (last <= rc_->flushed_max)
		return LSM_OK;			/* already in a table */
	if (first <= rc_->flushed_max || first <= rc_->last)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "log \"%s\": sequence numbers %llu..%llu of the record ending at offset %llu overlap earlier data",
							  rc_->path, (unsigned long long) first,
							  (unsigned long long) last, (unsigned long long) end_pos);

	/* a full memtable is flushed with the log number unchanged */
	db->last_seq = rc_->last;
	rc = make_room(db, need, false, st);
	if (rc != LSM_OK)
		return rc;
	rc = lsm_batch_iterate(payload, insert_entry, db->sv->mem->mt, st);
	if (rc != LSM_OK)
		return rc;
	rc_->last = last;
	db->last_seq = last;
	db->recovery.records_applied++;
	return LSM_OK;
}

/*
 * bad_record_at_end
 *		Replay of path stopped early: is the bad record the file's tail
 *		(what an interrupted append leaves) rather than damage followed by
 *		more records?
 */
static LsmCode
bad_record_at_end(LsmDb *db, const char *path, const LsmLogReplayReport *rep,
				  bool *at_end, LsmStatus *st)
{
	uint64_t	left = rep->file_bytes - rep->valid_bytes;
	uint8_t		header[LSM_LOG_HEADER];
	LsmFile    *f;
	LsmCode		rc;

	*at_end = true;
	if (left < LSM_LOG_HEADER)
		return LSM_OK;
	rc = db->env->open_file(db->env, path, LSM_OPEN_READ, &f, st);
	if (rc != LSM_OK)
		return rc;
	rc = db->env->read_at(f, header, sizeof(header), rep->valid_bytes, st);
	db->env->close_file(f, NULL);
	if (rc != LSM_OK)
		return rc;
	*at_end = (uint64_t) lsm_get_fixed32(header + 4) + LSM_LOG_HEADER >= left;
	return LSM_OK;
}

/*
 * replay_logs
 *		Replay the WAL files numbered at or above the version set's log
 *		number, in order.  Each is read up to its first bad record.  A bad
 *		tail is expected of a file whose last append failed or was cut by
 *		a crash, and replay goes on with the next file; damage with records
 *		after it ends the replay there, so the recovered state is always a
 *		prefix of the history.
 */
static LsmCode
replay_logs(LsmDb *db, DirScan *ds, LsmStatus *st)
{
	ReplayCtx	ctx;
	char		path[LSM_PATH_MAX];
	bool		stopped = false;
	int			i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.db = db;
	ctx.flushed_max = lsm_version_max_seq(db->vs->current);
	ctx.last = db->last_seq;
	for (i = 0; i < ds->n_logs; i++)
	{
		LsmLogReplayReport rep;
		LsmCode		rc;
		bool		at_end;

		if (ds->logs[i] < db->vs->log_number)
			continue;
		if (!lsm_file_path(path, db->dir, LSM_FILE_LOG, ds->logs[i]))
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "database path \"%s\" is too long", db->dir);
		if (stopped)
		{
			LsmFile    *f;
			uint64_t	size = 0;

			/* after damage: count what is dropped, apply nothing */
			if (db->env->open_file(db->env, path, LSM_OPEN_READ, &f, NULL) == LSM_OK)
			{
				db->env->file_size(f, &size, NULL);
				db->env->close_file(f, NULL);
			}
			db->recovery.bytes_dropped += size;
			continue;
		}
		ctx.path = path;
		rc = lsm_log_replay(db->env, path, ds->logs[i], replay_record, &ctx, &rep, st);
		if (rc != LSM_OK)
			return rc;
		if (!rep.torn)
			continue;
		db->recovery.tail_was_torn = true;
		db->recovery.bytes_dropped += rep.dropped_bytes;
		rc = bad_record_at_end(db, path, &rep, &at_end, st);
		if (rc != LSM_OK)
			return rc;
		if (!at_end)
			stopped = true;
	}
	if (ctx.last > db->last_seq)
		db->last_seq = ctx.last;
	return LSM_OK;
}

/*
 * remove_leftovers
 *		Delete what no longer belongs to the database: WAL files below the
 *		log number, tables no version lists (outputs of a flush cut short),
 *		MANIFESTs other than the live one and a stray CURRENT.tmp.
 */
static void
remove_leftovers(LsmDb *db, DirScan *ds)
{
	char		path[LSM_PATH_MAX];
	int			i;

	for (i = 0; i < ds->n_logs; i++)
		remember_old_log(db, ds->logs[i]);
	delete_old_logs(db);
	for (i = 0; i < ds->n_tables; i++)
	{
		bool		live;

		db->env->mutex_lock(db->mu);
		live = lsm_versionset_file_is_live(db->vs, ds->tables[i]);
		db->env->mutex_unlock(db->mu);
		if (!live && lsm_file_path(path, db->dir, LSM_FILE_TABLE, ds->tables[i]))
			db->env->unlink(db->env, path, NULL);
	}
	for (i = 0; i < ds->n_manifests; i++)
	{
		if (ds->manifests[i] != db->vs->manifest_number &&
			lsm_file_path(path, db->dir, LSM_FILE_MANIFEST, ds->manifests[i]))
			db->env->unlink(db->env, path, NULL);
	}
	if (ds->has_temp && lsm_file_path(path, db->dir, LSM_FILE_TEMP, 0))
		db->env->unlink(db->env, path, NULL);
}

/*
 * recover
 *		Bring the database to its last durable state and make it ready for
 *		writes: MANIFEST, a fresh MANIFEST, WAL replay, a fresh WAL, and a
 *		flush of what was replayed so the old WAL files can go.  With
 *		external_wal the MANIFEST is all there is: the host replays its own
 *		log above the last sequence number the tables hold.  WAL files are
 *		then left alone, not replayed and not deleted: they can only come
 *		from use without external_wal, and whether they matter is the
 *		host's business.
 */
static LsmCode
recover(LsmDb *db, LsmStatus *st)
{
	DirScan		ds;
	LsmSuperVersion *nsv;
	LsmMemRef  *mem;
	LsmVersion *v;
	bool		fresh = false;
	LsmCode		rc;
	int			level;
	int			i;

	memset(&ds, 0, sizeof(ds));
	rc = lsm_versionset_recover(db->vs, st);
	if (rc == LSM_NOT_FOUND)
	{
		if (!db->opts.create_if_missing)
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "database \"%s\" does not exist", db->dir);
		fresh = true;
	}
	else if (rc != LSM_OK)
		return rc;

	rc = db->env->list_dir(db->env, db->dir, scan_entry, &ds, st);
	if (rc == LSM_OK && ds.oom)
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory listing \"%s\"", db->dir);
	if (rc != LSM_OK)
		goto out;
	if (ds.n_logs > 1)
		qsort(ds.logs, (size_t) ds.n_logs, sizeof(uint64_t), cmp_u64);
	if (ds.n_tables > 1)
		qsort(ds.tables, (size_t) ds.n_tables, sizeof(uint64_t), cmp_u64);
	for (i = 0; i < ds.n_logs; i++)
		lsm_versionset_mark_number_used(db->vs, ds.logs[i]);
	for (i = 0; i < ds.n_tables; i++)
		lsm_versionset_mark_number_used(db->vs, ds.tables[i]);
	for (i = 0; i < ds.n_manifests; i++)
		lsm_versionset_mark_number_used(db->vs, ds.manifests[i]);

	if (fresh && (ds.n_logs > 0 || ds.n_tables > 0))
	{
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"\"%s\" holds WAL or table files but no CURRENT file", db->dir);
		goto out;
	}
	v = db->vs->current;
	for (level = 0; level < LSM_NUM_LEVELS; level++)
	{
		for (i = 0; i < v->n_files[level]; i++)
		{
			if (!scan_has(ds.tables, ds.n_tables, v->files[level][i]->number))
			{
				rc = lsm_status_set(st, LSM_CORRUPTION, 0,
									"table %06llu.sst named by the MANIFEST of \"%s\" is missing",
									(unsigned long long) v->files[level][i]->number,
									db->dir);
				goto out;
			}
		}
	}

	rc = lsm_versionset_write_snapshot(db->vs, st);
	if (rc != LSM_OK)
		goto out;
	db->last_seq = db->vs->last_seq;
	if (lsm_version_max_seq(db->vs->current) > db->last_seq)
		db->last_seq = lsm_version_max_seq(db->vs->current);

	rc = sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		goto out;
	rc = memref_new(db, 0, db->vs->log_number, &mem, NULL, true, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		goto out;
	}
	install_sv(db, nsv, mem, NULL, 0);

	if (db->opts.external_wal)
	{
		remove_leftovers(db, &ds);
		goto out;
	}
	rc = replay_logs(db, &ds, st);
	if (rc != LSM_OK)
		goto out;

	/*
	 * Start the new WAL and flush what replay produced.  The flush runs
	 * even for an empty memtable: its edit moves the log number past every
	 * old WAL file, which can then be deleted.
	 */
	rc = switch_memtable(db, 0, true, NULL, st);
	if (rc == LSM_OK)
		rc = flush_imm(db, st);
	if (rc != LSM_OK)
		goto out;
	remove_leftovers(db, &ds);

out:
	scan_free(&ds);
	return rc;
}

/*
 * db_free
 *		Release everything without writing anything.
 */
static void
db_free(LsmDb *db)
{
	int			i;

	if (db->log != NULL)
		lsm_log_close(db->log, NULL);
	if (db->sv != NULL)
	{
		db->env->mutex_lock(db->mu);
		sv_unref_locked(db, db->sv);
		db->sv = NULL;
		lsm_db_unlock_and_delete_obsolete(db);
	}
	while (db->snapshots.next != NULL && db->snapshots.next != &db->snapshots)
	{
		LsmSnapshot *s = db->snapshots.next;

		s->prev->next = s->next;
		s->next->prev = s->prev;
		lsm_free(s);
	}
	/* files waiting for the host's horizon stay on disk (lsm.h) */
	if (db->deferred != NULL)
		lsm_versionset_free_files(db->deferred, db->n_deferred);
	lsm_versionset_destroy(db->vs);
	if (db->cache != NULL)
		lsm_block_cache_destroy(db->cache);	/* a view: only itself */
	if (db->mu != NULL)
		db->env->mutex_destroy(db->mu);
	if (db->write_mu != NULL)
		db->env->mutex_destroy(db->write_mu);
	for (i = 0; i < LSM_NUM_LEVELS; i++)
		lsm_buf_free(&db->compact_ptr[i]);
	lsm_free(db->deferred_retire);
	lsm_free(db->old_logs);
	lsm_free(db->dir);
	lsm_free(db);
}

/*
 * lsm_db_open
 *		Open (creating when allowed) and recover the database at path.
 */
LsmCode
lsm_db_open(const LsmOptions *opts, const char *path, LsmDb **dbp, LsmStatus *st)
{
	LsmDb	   *db;
	LsmCode		rc;

	*dbp = NULL;
	if (opts == NULL || path == NULL || path[0] == '\0')
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "lsm_db_open needs options and a path");
	if (strlen(path) > LSM_PATH_MAX - 64)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path of %zu bytes is too long", strlen(path));
	if (opts->write_buffer_size < LSM_MEMTABLE_MIN_SIZE ||
		opts->write_buffer_size > ((size_t) 1 << 31))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "write_buffer_size %zu is outside %d bytes .. 2 GiB",
							  opts->write_buffer_size, LSM_MEMTABLE_MIN_SIZE);
	rc = lsm_compaction_check_options(opts, st);
	if (rc != LSM_OK)
		return rc;
	if (opts->background_flush && opts->auto_compact)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "background_flush needs auto_compact off: the host's workers compact");
	if ((opts->region_alloc == NULL) != (opts->region_free == NULL))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "region_alloc and region_free go together");
	if ((int) opts->compression < LSM_COMPRESSION_NONE ||
		(int) opts->compression > LSM_COMPRESSION_LZ4 ||
		(int) opts->compression_upper < LSM_COMPRESSION_NONE ||
		(int) opts->compression_upper > LSM_COMPRESSION_LZ4)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "unknown compression %d (bottom) or %d (upper levels)",
							  (int) opts->compression, (int) opts->compression_upper);
	if (opts->block_cache != NULL && opts->cache_id >= ((uint64_t) 1 << 24))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "cache_id %llu is not below 2^24",
							  (unsigned long long) opts->cache_id);

	db = lsm_calloc(1, sizeof(LsmDb));
	if (db == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory opening \"%s\"", path);
	db->opts = *opts;
	if (db->opts.env == NULL)
		db->opts.env = lsm_env_posix();
	if (db->opts.merge == NULL)
		db->opts.merge = lsm_merge_int64_add;
	db->env = db->opts.env;
	lsm_sst_options_from(&db->topts, &db->opts);
	db->snapshots.next = db->snapshots.prev = &db->snapshots;
	db->dir = lsm_strdup(path);
	db->mu = db->env->mutex_create(db->env);
	db->write_mu = db->env->mutex_create(db->env);
	/* a shared cache is used through a view that keeps our keys apart */
	if (db->opts.block_cache != NULL)
		db->cache = lsm_block_cache_view(db->opts.block_cache, db->opts.cache_id);
	else if (db->opts.block_cache_size > 0)
		db->cache = lsm_block_cache_create(db->env, db->opts.block_cache_size);
	if (db->dir == NULL || db->mu == NULL || db->write_mu == NULL ||
		((db->opts.block_cache != NULL || db->opts.block_cache_size > 0) &&
		 db->cache == NULL))
	{
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory opening \"%s\"", path);
		goto fail;
	}
	db->vs = lsm_versionset_create(db->env, db->dir, db->mu, db->cache);
	if (db->vs == NULL)
	{
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory opening \"%s\"", path);
		goto fail;
	}

	if (db->opts.create_if_missing)
	{
		rc = db->env->mkdir_p(db->env, db->dir, st);
		if (rc != LSM_OK)
			goto fail;
	}
	rc = recover(db, st);
	if (rc != LSM_OK)
		goto fail;

	/*
	 * Recovery's flush may have left compactions due (e.g. a fourth L0
	 * file) that no write would trigger on a read-mostly table.  Run them
	 * now; a failure (a full disk) leaves a readable database, and the
	 * next flush retries, so it does not fail the open.
	 */
	if (db->opts.auto_compact && lsm_db_compaction_needed(db))
	{
		LsmStatus	ignored;

		(void) lsm_db_compact_pending(db, &ignored);
	}
	*dbp = db;
	return LSM_OK;

fail:
	db_free(db);
	return rc;
}

/*
 * lsm_db_close
 *		Sync the WAL (so a clean close loses nothing even without
 *		sync_writes) and free everything.  Iterators and snapshots must be
 *		released first.
 */
LsmCode
lsm_db_close(LsmDb *db, LsmStatus *st)
{
	LsmCode		rc = LSM_OK;

	if (db == NULL)
		return LSM_OK;
	db->env->mutex_lock(db->write_mu);
	if (db->log != NULL)
	{
		rc = lsm_log_sync(db->log, lsm_log_size(db->log), st);
		if (lsm_log_close(db->log, rc == LSM_OK ? st : NULL) != LSM_OK && rc == LSM_OK)
			rc = st ? st->code : LSM_IO_ERROR;
		db->log = NULL;
	}
	db->env->mutex_unlock(db->write_mu);
	db_free(db);
	return rc;
}

