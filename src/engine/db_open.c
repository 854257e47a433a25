/*
 * db_open.c
 *		Opening a database: the directory scan, recovery (MANIFEST, WAL
 *		replay, removal of leftovers), and close.
 *
 * The crash-safety argument recovery relies on is in db.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lsm_alloc.h"
#include "blob.h"
#include "db_internal.h"
#include "iter_merge.h"

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
	uint64_t   *blobs;
	int			n_blobs;
	int			cap_blobs;
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
		case LSM_FILE_BLOB:
			ok = scan_push(&ds->blobs, &ds->n_blobs, &ds->cap_blobs, number);
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
	lsm_free(ds->blobs);
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
		lsm_db_batch_room(payload, &need, &inner) != LSM_OK)
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
	rc = lsm_db_make_room(db, need, false, st);
	if (rc != LSM_OK)
		return rc;
	rc = lsm_batch_iterate(payload, lsm_db_insert_entry, db->sv->mem->mt, st);
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

/* Whether a table of v references blob file number. */
static bool
blob_is_referenced(const LsmVersion *v, uint64_t number)
{
	int			level;
	int			i;

	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
			if (lsm_blob_use_find(v->files[level][i]->blobs, v->files[level][i]->n_blobs,
								  number) != NULL)
				return true;
	return false;
}

/*
 * remove_leftovers
 *		Delete what no longer belongs to the database: WAL files below the
 *		log number, tables no version lists (outputs of a flush cut short),
 *		blob files no table references,
 *		MANIFESTs other than the live one and a stray CURRENT.tmp.
 */
static void
remove_leftovers(LsmDb *db, DirScan *ds)
{
	char		path[LSM_PATH_MAX];
	int			i;

	for (i = 0; i < ds->n_logs; i++)
		lsm_db_remember_old_log(db, ds->logs[i]);
	lsm_db_delete_old_logs(db);
	for (i = 0; i < ds->n_tables; i++)
	{
		bool		live;

		db->env->mutex_lock(db->mu);
		live = lsm_versionset_file_is_live(db->vs, ds->tables[i]);
		db->env->mutex_unlock(db->mu);
		if (!live && lsm_file_path(path, db->dir, LSM_FILE_TABLE, ds->tables[i]))
			db->env->unlink(db->env, path, NULL);
	}
	for (i = 0; i < ds->n_blobs; i++)
	{
		bool		live;

		db->env->mutex_lock(db->mu);
		live = blob_is_referenced(db->vs->current, ds->blobs[i]);
		db->env->mutex_unlock(db->mu);
		if (!live && lsm_file_path(path, db->dir, LSM_FILE_BLOB, ds->blobs[i]))
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
	if (ds.n_blobs > 1)
		qsort(ds.blobs, (size_t) ds.n_blobs, sizeof(uint64_t), cmp_u64);
	for (i = 0; i < ds.n_logs; i++)
		lsm_versionset_mark_number_used(db->vs, ds.logs[i]);
	for (i = 0; i < ds.n_tables; i++)
		lsm_versionset_mark_number_used(db->vs, ds.tables[i]);
	for (i = 0; i < ds.n_blobs; i++)
		lsm_versionset_mark_number_used(db->vs, ds.blobs[i]);
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
			const LsmFileMeta *f = v->files[level][i];
			int			j;

			if (!scan_has(ds.tables, ds.n_tables, f->number))
			{
				rc = lsm_status_set(st, LSM_CORRUPTION, 0,
									"table %06llu.sst named by the MANIFEST of \"%s\" is missing",
									(unsigned long long) f->number, db->dir);
				goto out;
			}
			for (j = 0; j < f->n_blobs; j++)
				if (!scan_has(ds.blobs, ds.n_blobs, f->blobs[j].number))
				{
					rc = lsm_status_set(st, LSM_CORRUPTION, 0,
										"blob file %06llu.blob that table %06llu.sst of \"%s\" references is missing",
										(unsigned long long) f->blobs[j].number,
										(unsigned long long) f->number, db->dir);
					goto out;
				}
		}
	}

	lsm_blob_adopt_dict(db, v);

	rc = lsm_versionset_write_snapshot(db->vs, st);
	if (rc != LSM_OK)
		goto out;
	db->last_seq = db->vs->last_seq;
	if (lsm_version_max_seq(db->vs->current) > db->last_seq)
		db->last_seq = lsm_version_max_seq(db->vs->current);

	rc = lsm_db_sv_alloc(&nsv, st);
	if (rc != LSM_OK)
		goto out;
	rc = lsm_db_memref_new(db, 0, db->vs->log_number, &mem, NULL, true, st);
	if (rc != LSM_OK)
	{
		lsm_free(nsv);
		goto out;
	}
	lsm_db_install_sv(db, nsv, mem, NULL, 0);

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
	rc = lsm_db_switch_memtable(db, 0, true, NULL, st);
	if (rc == LSM_OK)
		rc = lsm_db_flush_imm(db, st);
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

	lsm_db_bg_stop(db);
	if (db->log != NULL)
		lsm_log_close(db->log, NULL);
	if (db->sv != NULL)
	{
		db->env->mutex_lock(db->mu);
		lsm_db_scrape_slots_locked(db, true);
		lsm_db_sv_unref_locked(db, db->sv);
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
	lsm_blob_close_all(db);
	lsm_versionset_destroy(db->vs);
	if (db->cache != NULL)
		lsm_block_cache_destroy(db->cache);	/* a view: only itself */
	if (db->mu != NULL)
		db->env->mutex_destroy(db->mu);
	if (db->write_mu != NULL)
		db->env->mutex_destroy(db->write_mu);
	if (db->blob_mu != NULL)
		db->env->mutex_destroy(db->blob_mu);
	for (i = 0; i < LSM_NUM_LEVELS; i++)
		lsm_buf_free(&db->compact_ptr[i]);
	lsm_free(db->slots_mem);
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
	rc = lsm_db_bg_check_options(opts, st);
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
	if (opts->blob_gc_percent < 1 || opts->blob_gc_percent > 99)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "blob_gc_percent %d is not within 1..99", opts->blob_gc_percent);
	if (opts->blob_min_size > LSM_SST_MAX_VALUE)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "blob_min_size %zu is above the largest value, %u bytes",
							  opts->blob_min_size, (unsigned) LSM_SST_MAX_VALUE);
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
	/* our own threads are the host mode's workers (db_background.c) */
	if (db->opts.background_threads > 0)
	{
		db->opts.background_flush = true;
		db->opts.auto_compact = false;
		db->opts.flush_wanted_fn = lsm_db_bg_flush_wanted;
		db->opts.flush_wanted_arg = db;
	}
	db->env = db->opts.env;
	lsm_sst_options_from(&db->topts, &db->opts);
	db->snapshots.next = db->snapshots.prev = &db->snapshots;
	db->dir = lsm_strdup(path);
	db->mu = db->env->mutex_create(db->env);
	db->write_mu = db->env->mutex_create(db->env);
	db->blob_mu = db->env->mutex_create(db->env);
	/* a shared cache is used through a view that keeps our keys apart */
	if (db->opts.block_cache != NULL)
		db->cache = lsm_block_cache_view(db->opts.block_cache, db->opts.cache_id);
	else if (db->opts.block_cache_size > 0)
		db->cache = lsm_block_cache_create(db->env, db->opts.block_cache_size);
	if (db->opts.reader_slots < 0)
		db->opts.reader_slots = 0;
	if (db->opts.reader_slots > 0)
	{
		/* lsm_malloc aligns less than a cache line: align by hand */
		size_t		bytes = (size_t) db->opts.reader_slots * sizeof(LsmReaderSlot);

		db->slots_mem = lsm_calloc(1, bytes + 64);
		if (db->slots_mem != NULL)
			db->slots = (LsmReaderSlot *) (((uintptr_t) db->slots_mem + 63) &
										   ~(uintptr_t) 63);
	}
	if (db->dir == NULL || db->mu == NULL || db->write_mu == NULL || db->blob_mu == NULL ||
		(db->opts.reader_slots > 0 && db->slots == NULL) ||
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
	db->l0_trigger = db->opts.l0_compaction_trigger;
	rc = recover(db, st);
	if (rc != LSM_OK)
		goto fail;

	/*
	 * Level 0 as a restart finds it stays until writes bring it to the
	 * trigger, which a read-mostly table may never do, and every get
	 * searches each of its files meanwhile.  With the open trigger, a
	 * worker (or the open itself, with auto_compact) compacts it now.
	 */
	if (db->opts.compaction_style == LSM_COMPACT_LEVELED &&
		db->opts.l0_open_compaction_trigger > 0 &&
		db->opts.l0_open_compaction_trigger < db->opts.l0_compaction_trigger)
	{
		db->env->mutex_lock(db->write_mu);
		db->env->mutex_lock(db->mu);
		if (db->sv->version->n_files[0] >= db->opts.l0_open_compaction_trigger)
		{
			db->l0_trigger = db->opts.l0_open_compaction_trigger;
			lsm_compaction_pressure(&db->opts, db->l0_trigger, db->sv->version,
									&db->pressure);
		}
		db->env->mutex_unlock(db->mu);
		db->env->mutex_unlock(db->write_mu);
	}

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
	/* the threads' first look does the same for background_threads */
	rc = lsm_db_bg_start(db, st);
	if (rc != LSM_OK)
		goto fail;
	*dbp = db;
	return LSM_OK;

fail:
	db_free(db);
	return rc;
}

/*
 * lsm_db_close
 *		Stop the background threads, sync the WAL (so a clean close
 *		loses nothing even without sync_writes) and free everything.
 *		Iterators and snapshots must be released first.
 */
LsmCode
lsm_db_close(LsmDb *db, LsmStatus *st)
{
	LsmCode		rc = LSM_OK;

	if (db == NULL)
		return LSM_OK;
	/* before anything goes: a thread may be flushing or compacting */
	lsm_db_bg_stop(db);
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
