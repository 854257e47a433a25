/*
 * settings.c
 *		A table's settings file (OPTIONS in its directory), and the engine
 *		options a table is opened with in the shared engine.
 */
#include "postgres.h"

#include <stdio.h>

#include "miscadmin.h"
#include "storage/proc.h"

#include "lsm.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_commit.h"
#include "lsm_wait.h"

/*
 * Table settings travel with the files (OPTIONS), so that the workers,
 * which have no catalog access, open a table exactly as backends do.
 */
void
lsm_write_settings(const char *dir, const LsmTableSettings *s)
{
	char	   *path = psprintf("%s/OPTIONS", dir);
	char	   *tmp = psprintf("%s/OPTIONS.tmp.%d", dir, MyProcPid);
	char	   *text = psprintf("compaction=%d\ncompress=%d\ncompression_level=%d\n"
								"block_size=%d\nbloom_bits_per_key=%d\nmemtable_size=%d\n"
								"compress_upper=%d\nblob_min_size=%d\nblob_gc_percent=%d\n",
								(int) s->compaction, s->compress,
								s->compression_level, s->block_size,
								s->bloom_bits_per_key, s->memtable_size,
								s->compress_upper, s->blob_min_size, s->blob_gc_percent);
	LsmEnv	   *env = lsm_env_posix();
	LsmFile    *f;
	LsmStatus	st;

	/* the expiry column and the typlens that lead to it in a stored row */
	if (s->ttl_attno > 0 && s->ttl_attno <= LSM_TTL_MAX_ATTNO)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfo(&buf, "%sttl_attno=%d\nttl_usecs=" INT64_FORMAT "\nttl_typlens=",
						 text, s->ttl_attno, s->ttl_usecs);
		for (int i = 0; i < s->ttl_attno - 1; i++)
			appendStringInfo(&buf, "%d,", (int) s->ttl_typlens[i]);
		appendStringInfoString(&buf, "\n");
		text = buf.data;
	}

	if (env->mkdir_p(env, dir, &st) != LSM_OK ||
		env->open_file(env, tmp, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_TRUNC, &f, &st) != LSM_OK)
		lsm_report(ERROR, &st, "write table settings");
	if (env->write_at(f, text, strlen(text), 0, &st) != LSM_OK ||
		env->sync(f, &st) != LSM_OK)
	{
		LsmStatus	ignore;

		env->close_file(f, &ignore);
		lsm_report(ERROR, &st, "write table settings");
	}
	env->close_file(f, &st);
	if (env->rename(env, tmp, path, &st) != LSM_OK ||
		env->sync_dir(env, dir, &st) != LSM_OK)
		lsm_report(ERROR, &st, "write table settings");
}

void
lsm_read_settings(const char *dir, LsmTableSettings *s)
{
	char	   *path = psprintf("%s/OPTIONS", dir);
	FILE	   *f = fopen(path, "r");
	char		line[1024];

	/* defaults, as options.c has them */
	s->compaction = LSM_COMPACTION_LEVELED;
	s->compress = LSM_COMPRESSION_ZSTD;
	s->compress_upper = LSM_COMPRESSION_LZ4;	/* files written before it existed */
	s->compression_level = 1;
	s->block_size = 4096;
	s->bloom_bits_per_key = 10;
	s->memtable_size = 32 * 1024 * 1024;	/* options.c's default */
	s->blob_min_size = LSM_DEFAULT_BLOB_MIN_SIZE;
	s->blob_gc_percent = LSM_DEFAULT_BLOB_GC_PERCENT;
	s->overwrite_on_duplicate = false;
	s->sum_on_duplicate = false;
	s->ttl_attno = 0;
	s->ttl_usecs = 0;
	memset(s->ttl_typlens, 0, sizeof(s->ttl_typlens));
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
	{
		int			v;

		if (sscanf(line, "compaction=%d", &v) == 1)
			s->compaction = (LsmCompactionStyle) v;
		else if (sscanf(line, "compress=%d", &v) == 1)
			s->compress = (v >= LSM_COMPRESSION_NONE && v <= LSM_COMPRESSION_LZ4)
				? v : LSM_COMPRESSION_ZSTD;
		else if (sscanf(line, "compress_upper=%d", &v) == 1)
			s->compress_upper = (v >= LSM_COMPRESSION_NONE && v <= LSM_COMPRESSION_LZ4)
				? v : LSM_COMPRESSION_LZ4;
		else if (sscanf(line, "compression_level=%d", &v) == 1)
			s->compression_level = v;
		else if (sscanf(line, "block_size=%d", &v) == 1)
			s->block_size = v;
		else if (sscanf(line, "bloom_bits_per_key=%d", &v) == 1)
			s->bloom_bits_per_key = v;
		else if (sscanf(line, "memtable_size=%d", &v) == 1)
			s->memtable_size = v;
		else if (sscanf(line, "blob_min_size=%d", &v) == 1)
			s->blob_min_size = v >= 0 ? v : 0;
		else if (sscanf(line, "blob_gc_percent=%d", &v) == 1)
			s->blob_gc_percent = (v >= 1 && v <= 99) ? v : LSM_DEFAULT_BLOB_GC_PERCENT;
		else if (sscanf(line, "ttl_attno=%d", &v) == 1)
			s->ttl_attno = (v > 0 && v <= LSM_TTL_MAX_ATTNO) ? v : 0;
		else if (strncmp(line, "ttl_usecs=", 10) == 0)
			s->ttl_usecs = strtoll(line + 10, NULL, 10);
		else if (strncmp(line, "ttl_typlens=", 12) == 0)
		{
			char	   *p = line + 12;

			for (int i = 0; i < LSM_TTL_MAX_ATTNO && *p != '\0' && *p != '\n'; i++)
			{
				s->ttl_typlens[i] = (int16) strtol(p, &p, 10);
				if (*p == ',')
					p++;
			}
		}
	}
	fclose(f);
}

/*
 * lsm_table_save_settings
 *		After ALTER FOREIGN TABLE: store the table's settings for its next
 *		open (the open engine keeps the ones it was opened with).
 */
void
lsm_table_save_settings(Oid relid)
{
	char	   *dir = lsm_table_dir(MyDatabaseId, relid);
	LsmTableSettings settings;

	if (!lsm_env_posix()->exists(lsm_env_posix(), dir))
		return;
	lsm_settings_for_table(relid, &settings);
	lsm_write_settings(dir, &settings);

	/*
	 * The open engine keeps filtering with the expiry column it was opened
	 * with; when that changed (or this ALTER rolls back later), stop its
	 * filter rather than drop rows by a rule no longer in force.  The next
	 * open applies the new one.
	 */
	if (lsm_shared == NULL)
		return;
	LWLockAcquire(lsm_shared->registry_lock, LW_SHARED);
	for (int i = 0; i < lsm_shared->max_tables; i++)
	{
		LsmTableSlot *slot = &lsm_shared->slots[i];

		if (slot->state == LSM_SLOT_OPEN && slot->dboid == MyDatabaseId &&
			slot->relid == relid && (slot->ttl_attno != settings.ttl_attno ||
									 slot->ttl_usecs != settings.ttl_usecs))
			slot->ttl_attno = 0;
	}
	LWLockRelease(lsm_shared->registry_lock);
}


/*
 * The engine calls the merge function while it holds its mutexes, and
 * while a commit applies under the log's insert lock (merge_fold_every):
 * an ERROR (out of memory in palloc) longjmp'ing out of there would leave
 * them locked for good, so it becomes a status here.
 */
static LsmCode
merge_guarded(void *arg, LsmSlice key, const LsmSlice *base,
			  const LsmSlice *operands, int n_operands, LsmBuf *out,
			  LsmStatus *st)
{
	MemoryContext cxt = CurrentMemoryContext;
	uint32		holdoff = InterruptHoldoffCount;
	uint32		cancel_holdoff = QueryCancelHoldoffCount;
	uint32		crit = CritSectionCount;
	volatile LsmCode rc = LSM_OK;

	PG_TRY();
	{
		if (lsm_debug_merge_error)
			elog(ERROR, "lsm_fdw.debug_merge_error is on");
		rc = lsm_row_merge(arg, key, base, operands, n_operands, out, st);
	}
	PG_CATCH();
	{
		/* errfinish zeroed these; a commit holds interrupts across this */
		InterruptHoldoffCount = holdoff;
		QueryCancelHoldoffCount = cancel_holdoff;
		CritSectionCount = crit;
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0,
							"out of memory folding merge operands");
	}
	PG_END_TRY();
	return rc;
}

/*
 * lsm_table_options
 *		Engine options of a table in the shared engine.
 */
void
lsm_table_options(const char *dir, LsmOptions *opts, LsmTableSlot *slot)
{
	LsmTableSettings settings;

	lsm_read_settings(dir, &settings);
	lsm_options_init(opts);
	opts->env = lsm_shared->env;
	opts->merge = merge_guarded;	/* increments (rowmerge.c) */
	opts->merge_arg = NULL;
	/* a hot counter's get folds at most this many operands per memtable */
	opts->merge_fold_every = 16;

	/*
	 * A memtable bigger than a quarter of the pool could wait for room that
	 * never comes; the README documents the cap.
	 */
	opts->write_buffer_size = Min((size_t) settings.memtable_size,
								  (size_t) lsm_memtable_memory * 1024 / 4);
	opts->initial_write_buffer_size = Min(opts->write_buffer_size, lsm_idle_memtable_size());
	opts->block_size = settings.block_size;
	opts->compression = (LsmCompression) settings.compress;
	opts->compression_upper = (LsmCompression) settings.compress_upper;
	opts->compression_level = settings.compression_level;
	opts->bloom_bits_per_key = settings.bloom_bits_per_key;
	opts->blob_min_size = (size_t) settings.blob_min_size;
	opts->blob_gc_percent = settings.blob_gc_percent;
	opts->compaction_style = settings.compaction == LSM_COMPACTION_TIERED
		? LSM_COMPACT_TIERED : LSM_COMPACT_LEVELED;
	opts->sync_writes = false;
	opts->external_wal = true;
	opts->background_flush = true;
	opts->auto_compact = false;
	opts->flush_wanted_fn = lsm_flush_wanted;
	opts->flush_wanted_arg = slot;
	opts->pre_flush_fn = lsm_pre_flush;
	opts->pre_flush_arg = slot;
	opts->region_alloc = lsm_region_alloc;
	opts->region_free = lsm_region_free;
	opts->region_arg = NULL;
	opts->block_cache = lsm_shared->cache;
	/* a restart finds level 0 compacted soon: gets then search one file */
	opts->l0_open_compaction_trigger = 2;
	/* one reader slot per PGPROC that can run a get (lsm_wait_ready) */
	opts->reader_slots = MaxBackends + NUM_AUXILIARY_PROCS;
	/*
	 * The slot's number is the table's cache id: no two open tables share a
	 * slot, and closing a table's engine erases the blocks cached under its
	 * id before the slot can take another table (block_cache.h).
	 * lsm_fdw.max_tables keeps it below the engine's 2^24.
	 */
	opts->cache_id = (uint64) (slot - lsm_shared->slots) + 1;
	opts->horizon_fn = lsm_horizon;
	opts->horizon_arg = NULL;

	/* expired rows go at compaction (ttl.c); the open engine keeps this */
	slot->ttl_confirmed = false;
	slot->ttl_usecs = settings.ttl_usecs;
	slot->ttl_attno = settings.ttl_attno;
	memcpy(slot->ttl_typlens, settings.ttl_typlens, sizeof(slot->ttl_typlens));
	if (settings.ttl_attno > 0)
	{
		opts->filter_start_fn = lsm_ttl_filter_start;
		opts->filter_fn = lsm_ttl_filter;
		opts->filter_arg = slot;
	}
}
