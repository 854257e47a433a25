/*
 * table.c
 *		Opening the engine of a lsm_fdw foreign table, and mapping engine
 *		errors to ereport.
 *
 * Each foreign table's data lives in $PGDATA/lsm_fdw/<dboid>/<relid>/.
 *
 * A table's engine (LsmDb) lives in shared memory, in a slot of the table
 * registry, and every backend uses that one object.  The first backend to
 * use a table after a (re)start opens it; recovery (worker.c) opens every
 * table its log replay touches.  DROP, DROP DATABASE and TRUNCATE replace
 * or free the slot; a generation number tells backends that cached a slot
 * to look again.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "storage/copydir.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "lsm.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_commit.h"
#include "lsm_wait.h"

/*
 * lsm_errcode
 *		The SQLSTATE that fits an engine code: the one mapping of LsmCode to
 *		SQLSTATE, used by every ereport of an engine status.
 */
int
lsm_errcode(LsmCode code)
{
	switch (code)
	{
		case LSM_CORRUPTION:
			return ERRCODE_DATA_CORRUPTED;
		case LSM_NO_SPACE:
			return ERRCODE_DISK_FULL;
		case LSM_NO_MEMORY:
			return ERRCODE_OUT_OF_MEMORY;
		case LSM_INVALID_ARGUMENT:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case LSM_BUSY:
			return ERRCODE_OBJECT_IN_USE;
		case LSM_NOT_SUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case LSM_IO_ERROR:
		default:
			return ERRCODE_IO_ERROR;
	}
}

/*
 * lsm_report
 *		Turn an engine status into an ereport at elevel, with the SQLSTATE
 *		that fits the engine code.
 *
 * As in contrib modules, errmsg says what lsm_fdw failed to do and the
 * engine's own text (file names, offsets, errno) goes to errdetail.
 */
void
lsm_report(int elevel, const LsmStatus *st, const char *what)
{
	if (st->code == LSM_INTERRUPTED || st->code == LSM_TIMED_OUT)
	{
		lsm_report_wait_end(elevel, st);	/* a cancel, a timeout */
		return;
	}
	ereport(elevel,
			(errcode(lsm_errcode(st->code)),
			 errmsg("lsm_fdw could not %s", what),
			 errdetail("%s", st->msg)));
}

/*
 * lsm_table_dir
 *		The directory of a table's files, palloc'd.
 */
char *
lsm_table_dir(Oid dboid, Oid relid)
{
	return psprintf("%s/lsm_fdw/%u/%u", DataDir, dboid, relid);
}

/*
 * What this backend knows about the tables it used: the slot and the
 * generation it saw, so a slot reused or a table truncated meanwhile is
 * noticed.
 */
typedef struct LsmOpenTable
{
	Oid			relid;			/* hash key */
	LsmTableSlot *slot;
	uint32		generation;
} LsmOpenTable;

static HTAB *open_tables = NULL;

/*
 * lsm_wait_ready
 *		Wait until the maintenance worker has replayed the log after the
 *		last (re)start; refuse on a standby.
 */
void
lsm_wait_ready(void)
{
	/*
	 * A standby replays Postgres's WAL, which does not carry lsm_fdw data:
	 * its copy of a table would be stale or torn.
	 */
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lsm_fdw tables cannot be used during recovery or on a standby"),
				 errdetail("lsm_fdw data is not written to PostgreSQL's WAL, so standbys do not receive it."),
				 errhint("Query the primary. See the README for how to back up lsm_fdw tables.")));
	if (lsm_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lsm_fdw shared memory is not set up"),
				 errhint("Add lsm_fdw to shared_preload_libraries and restart the server.")));
	if (lsm_shared->recovery_state == LSM_RECOVERY_DONE)
		return;
	ConditionVariablePrepareToSleep(&lsm_shared->recovery_cv);
	while (lsm_shared->recovery_state == LSM_RECOVERY_PENDING)
		ConditionVariableTimedSleep(&lsm_shared->recovery_cv, 1000,
									PG_WAIT_EXTENSION);
	ConditionVariableCancelSleep();
	if (lsm_shared->recovery_state != LSM_RECOVERY_DONE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("lsm_fdw recovery failed: %s", lsm_shared->recovery_error),
				 lsm_shared->recovery_detail[0] ?
				 errdetail("%s", lsm_shared->recovery_detail) : 0,
				 lsm_shared->recovery_hint[0] ?
				 errhint("%s The maintenance worker retries recovery every few seconds.",
						 lsm_shared->recovery_hint) :
				 errhint("See the server log; the maintenance worker retries recovery every few seconds.")));
}

/*
 * Table settings travel with the files (OPTIONS), so that the workers,
 * which have no catalog access, open a table exactly as backends do.
 */
static void
write_settings(const char *dir, const LsmTableSettings *s)
{
	char	   *path = psprintf("%s/OPTIONS", dir);
	char	   *tmp = psprintf("%s/OPTIONS.tmp.%d", dir, MyProcPid);
	char	   *text = psprintf("compaction=%d\ncompress=%d\ncompression_level=%d\n"
								"block_size=%d\nbloom_bits_per_key=%d\nmemtable_size=%d\n"
								"compress_upper=%d\n",
								(int) s->compaction, s->compress,
								s->compression_level, s->block_size,
								s->bloom_bits_per_key, s->memtable_size,
								s->compress_upper);
	LsmEnv	   *env = lsm_env_posix();
	LsmFile    *f;
	LsmStatus	st;

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

static void
read_settings(const char *dir, LsmTableSettings *s)
{
	char	   *path = psprintf("%s/OPTIONS", dir);
	FILE	   *f = fopen(path, "r");
	char		line[128];

	/* defaults, as options.c has them */
	s->compaction = LSM_COMPACTION_LEVELED;
	s->compress = LSM_COMPRESSION_ZSTD;
	s->compress_upper = LSM_COMPRESSION_LZ4;	/* files written before it existed */
	s->compression_level = 3;
	s->block_size = 4096;
	s->bloom_bits_per_key = 10;
	s->memtable_size = 8 * 1024 * 1024;	/* options.c's default */
	s->overwrite_on_duplicate = false;
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
	write_settings(dir, &settings);
}

/*
 * lsm_table_options
 *		Engine options of a table in the shared engine.
 */
void
lsm_table_options(const char *dir, LsmOptions *opts, LsmTableSlot *slot)
{
	LsmTableSettings settings;

	read_settings(dir, &settings);
	lsm_options_init(opts);
	opts->env = lsm_shared->env;

	/*
	 * A memtable bigger than a quarter of the pool could wait for room that
	 * never comes; the README documents the cap.
	 */
	opts->write_buffer_size = Min((size_t) settings.memtable_size,
								  (size_t) lsm_memtable_memory * 1024 / 4);
	/* an idle table holds 1MB of the pool, not a whole memtable */
	opts->initial_write_buffer_size = Min(opts->write_buffer_size, (size_t) 1024 * 1024);
	opts->block_size = settings.block_size;
	opts->compression = (LsmCompression) settings.compress;
	opts->compression_upper = (LsmCompression) settings.compress_upper;
	opts->compression_level = settings.compression_level;
	opts->bloom_bits_per_key = settings.bloom_bits_per_key;
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
	/*
	 * The slot's number is the table's cache id: no two open tables share a
	 * slot, and closing a table's engine erases the blocks cached under its
	 * id before the slot can take another table (block_cache.h).
	 * lsm_fdw.max_tables keeps it below the engine's 2^24.
	 */
	opts->cache_id = (uint64) (slot - lsm_shared->slots) + 1;
	opts->horizon_fn = lsm_horizon;
	opts->horizon_arg = NULL;
}

static bool
has_log_file(void *arg, const char *name)
{
	size_t		n = strlen(name);

	if (n > 4 && strcmp(name + n - 4, ".log") == 0)
		*(bool *) arg = true;
	return true;
}

/*
 * lsm_slot_open_db
 *		Open a table's engine into slot (registry lock held exclusively).
 *
 * A directory written by lsm_fdw 0.1's single-session stage still has its
 * own log: it is opened once the old way, which replays that log into a
 * table file, before the shared engine takes over.
 */
LsmDb *
lsm_slot_open_db(LsmTableSlot *slot, Oid dboid, Oid relid, LsmStatus *st)
{
	char	   *dir = lsm_table_dir(dboid, relid);
	LsmEnv	   *env = lsm_shared->env;
	LsmOptions	opts;
	LsmDb	   *db = NULL;
	bool		old_logs = false;
	LsmStatus	ignore;

	if (env->exists(env, dir))
		(void) env->list_dir(env, dir, has_log_file, &old_logs, &ignore);
	if (old_logs)
	{
		lsm_table_options(dir, &opts, slot);
		opts.external_wal = false;
		opts.background_flush = false;
		opts.auto_compact = true;
		opts.region_alloc = NULL;
		opts.region_free = NULL;
		if (lsm_db_open(&opts, dir, &db, st) != LSM_OK)
			return NULL;
		if (lsm_db_flush(db, st) != LSM_OK)
		{
			lsm_db_close(db, &ignore);
			return NULL;
		}
		if (lsm_db_close(db, st) != LSM_OK)
			return NULL;
	}
	lsm_table_options(dir, &opts, slot);
	lsm_region_unlimited(true);
	if (lsm_db_open(&opts, dir, &db, st) != LSM_OK)
	{
		lsm_region_unlimited(false);
		return NULL;
	}
	lsm_region_unlimited(false);
	slot->dboid = dboid;
	slot->relid = relid;
	slot->db = db;
	slot->generation++;
	/* tickets are not reset: applied == next whenever no commit is in flight */
	SpinLockAcquire(&slot->mutex);
	slot->flush_failing = false;
	SpinLockRelease(&slot->mutex);
	slot->state = LSM_SLOT_OPEN;
	return db;
}

/*
 * report_failed_table
 *		The ERROR every access to a table that recovery could not open gets.
 */
static void
report_failed_table(Oid relid, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("lsm_fdw table %u could not be opened when the server started", relid),
			 errdetail("%s", detail),
			 errhint("Restore the table's files from a backup and restart the server (the log records the table still needs are kept), or drop the table.")));
}

/*
 * lsm_slot_for_replay
 *		The open slot of (dboid, relid) for replaying the log record at lsn,
 *		opening the table on first use; NULL when the table cannot be opened.
 *
 * One table's damaged files must not stop recovery for every table: a
 * table whose open fails is marked failed (every later access reports
 * XX001 with the reason), its records are skipped, and the log is kept
 * from the first of them (lsm_failed_tables_oldest_lsn), so that a restart
 * after the files are repaired replays them.  Running out of shared memory
 * is not the table's fault and fails recovery as before.
 */
LsmTableSlot *
lsm_slot_for_replay(Oid dboid, Oid relid, uint64 lsn)
{
	LsmShared  *s = lsm_shared;
	LsmTableSlot *free_slot = NULL;
	LsmStatus	st;

	LWLockAcquire(s->registry_lock, LW_EXCLUSIVE);
	for (int i = 0; i < s->max_tables; i++)
	{
		LsmTableSlot *x = &s->slots[i];

		if (x->state != LSM_SLOT_FREE && x->dboid == dboid && x->relid == relid)
		{
			if (x->state == LSM_SLOT_FAILED)
			{
				x->failed_lsn = Min(x->failed_lsn, lsn);
				x = NULL;
			}
			LWLockRelease(s->registry_lock);
			return x;
		}
		if (x->state == LSM_SLOT_FREE && free_slot == NULL)
			free_slot = x;
	}
	if (free_slot == NULL)
	{
		LWLockRelease(s->registry_lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many lsm_fdw tables are open"),
				 errhint("Raise lsm_fdw.max_tables (currently %d) and restart the server.",
						 s->max_tables)));
	}
	if (lsm_slot_open_db(free_slot, dboid, relid, &st) != NULL)
	{
		LWLockRelease(s->registry_lock);
		return free_slot;
	}
	if (st.code == LSM_NO_MEMORY)
	{
		LWLockRelease(s->registry_lock);
		lsm_report(ERROR, &st, "open table");
	}
	free_slot->dboid = dboid;
	free_slot->relid = relid;
	free_slot->db = NULL;
	free_slot->failed_lsn = lsn;
	strlcpy(free_slot->failed_error, st.msg, sizeof(free_slot->failed_error));
	free_slot->generation++;
	free_slot->state = LSM_SLOT_FAILED;
	LWLockRelease(s->registry_lock);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("lsm_fdw could not open table %u of database %u during recovery; the table is unavailable",
					relid, dboid),
			 errdetail("%s", st.msg),
			 errhint("Its log records are skipped and kept from LSN %llu until the table is repaired and the server restarted, or the table is dropped; other tables are not affected.",
					 (unsigned long long) lsn)));
	return NULL;
}

/*
 * lsm_failed_tables_oldest_lsn
 *		The oldest log position a failed table still needs (PG_UINT64_MAX
 *		when no table failed): checkpoints keep the log from there.
 */
uint64
lsm_failed_tables_oldest_lsn(void)
{
	LsmShared  *s = lsm_shared;
	uint64		oldest = PG_UINT64_MAX;

	LWLockAcquire(s->registry_lock, LW_SHARED);
	for (int i = 0; i < s->max_tables; i++)
		if (s->slots[i].state == LSM_SLOT_FAILED)
			oldest = Min(oldest, s->slots[i].failed_lsn);
	LWLockRelease(s->registry_lock);
	return oldest;
}

/*
 * lsm_slot_for
 *		The slot of (dboid, relid), opening the table when create is true
 *		and it is not open yet.  NULL when absent and not created.
 */
LsmTableSlot *
lsm_slot_for(Oid dboid, Oid relid, bool create, uint32 *generation)
{
	LsmShared  *s = lsm_shared;
	LsmTableSlot *free_slot = NULL;
	LsmTableSlot *slot = NULL;
	LsmStatus	st;

	LWLockAcquire(s->registry_lock, create ? LW_EXCLUSIVE : LW_SHARED);
	for (int i = 0; i < s->max_tables; i++)
	{
		LsmTableSlot *x = &s->slots[i];

		if (x->state == LSM_SLOT_OPEN && x->dboid == dboid && x->relid == relid)
		{
			slot = x;
			break;
		}
		if (x->state == LSM_SLOT_FAILED && x->dboid == dboid && x->relid == relid)
		{
			char		detail[sizeof(x->failed_error)];

			strlcpy(detail, x->failed_error, sizeof(detail));
			LWLockRelease(s->registry_lock);
			report_failed_table(relid, detail);
		}
		if (x->state == LSM_SLOT_FREE && free_slot == NULL)
			free_slot = x;
	}
	if (slot == NULL && create)
	{
		if (free_slot == NULL)
		{
			LWLockRelease(s->registry_lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many lsm_fdw tables are open"),
					 errhint("Raise lsm_fdw.max_tables (currently %d) and restart the server.",
							 s->max_tables)));
		}
		if (lsm_slot_open_db(free_slot, dboid, relid, &st) == NULL)
		{
			LWLockRelease(s->registry_lock);
			if (st.code == LSM_NO_MEMORY)
				ereport(ERROR,
						(errcode(lsm_errcode(st.code)),
						 errmsg("lsm_fdw has no shared memory left to open another table"),
						 errdetail("%s", st.msg),
						 errhint("Raise lsm_fdw.memtable_memory or lsm_fdw.metadata_memory and restart the server.")));
			if (st.code == LSM_CORRUPTION)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("lsm_fdw table %u is damaged and cannot be opened", relid),
						 errdetail("%s", st.msg),
						 errhint("Restore the table's files from a backup, or drop the table.")));
			lsm_report(ERROR, &st, "open table");
		}
		slot = free_slot;
	}
	if (slot != NULL && generation != NULL)
		*generation = slot->generation;
	LWLockRelease(s->registry_lock);
	return slot;
}

/*
 * lsm_flush_pending_anywhere
 *		Whether some open table has a frozen memtable waiting for a flush.
 */
bool
lsm_flush_pending_anywhere(void)
{
	LsmShared  *s = lsm_shared;
	bool		any = false;

	LWLockAcquire(s->registry_lock, LW_SHARED);
	for (int i = 0; i < s->max_tables && !any; i++)
		if (s->slots[i].state == LSM_SLOT_OPEN)
			any = lsm_db_flush_needed(s->slots[i].db);
	LWLockRelease(s->registry_lock);
	return any;
}

void
lsm_slot_pin(LsmTableSlot *slot)
{
	pg_atomic_fetch_add_u32(&slot->pins, 1);
}

void
lsm_slot_unpin(LsmTableSlot *slot)
{
	pg_atomic_fetch_sub_u32(&slot->pins, 1);
}

/*
 * Remove a table's directory so that a crash at any moment leaves either
 * the whole table or none of it: rename it away (atomic), make the rename
 * durable, then delete the renamed tree.
 */
static LsmCode
remove_table_files(Oid dboid, Oid relid, LsmStatus *st)
{
	char	   *dir = lsm_table_dir(dboid, relid);
	char	   *parent = psprintf("%s/lsm_fdw/%u", DataDir, dboid);
	char	   *gone = psprintf("%s.removing", dir);
	LsmEnv	   *env = lsm_env_posix();

	if (!env->exists(env, dir))
		return LSM_OK;
	if (env->exists(env, gone) && env->remove_tree(env, gone, st) != LSM_OK)
		return st->code;
	if (env->rename(env, dir, gone, st) != LSM_OK ||
		env->sync_dir(env, parent, st) != LSM_OK ||
		env->remove_tree(env, gone, st) != LSM_OK)
		return st->code;
	return LSM_OK;
}

/*
 * lsm_slot_reset
 *		Close a slot's engine (DROP, TRUNCATE, DROP DATABASE) and free the
 *		slot, removing the table's files when asked.  Waits for workers
 *		that use the engine to let go; backends cannot be inside the table,
 *		because those commands hold its AccessExclusiveLock.  Registry lock
 *		held exclusively by the caller.
 */
void
lsm_slot_reset(LsmTableSlot *slot, bool remove_files)
{
	LsmStatus	st;
	Oid			dboid = slot->dboid;
	Oid			relid = slot->relid;

	if (slot->state == LSM_SLOT_FAILED)
	{
		/* nothing is open; DROP frees the slot and the log it held */
		slot->state = LSM_SLOT_FREE;
		slot->generation++;
		if (remove_files && remove_table_files(dboid, relid, &st) != LSM_OK)
			ereport(WARNING,
					(errcode(lsm_errcode(st.code)),
					 errmsg("lsm_fdw could not remove the files of a table"),
					 errdetail("%s", st.msg)));
		return;
	}
	if (slot->state != LSM_SLOT_OPEN)
		return;
	while (pg_atomic_read_u32(&slot->pins) > 0)
		pg_usleep(1000L);
	if (lsm_db_close(slot->db, &st) != LSM_OK)
		ereport(WARNING,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not close a table"),
				 errdetail("%s", st.msg)));
	slot->db = NULL;
	slot->state = LSM_SLOT_FREE;
	slot->generation++;
	if (remove_files && remove_table_files(dboid, relid, &st) != LSM_OK)
		ereport(WARNING,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not remove the files of a table"),
				 errdetail("%s", st.msg)));
}

/*
 * lsm_open_table
 *		The shared engine of a foreign table; opened on first use by any
 *		backend.
 */
LsmDb *
lsm_open_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	LsmOpenTable *t;
	LsmTableSlot *slot;
	uint32		generation;

	lsm_wait_ready();
	if (open_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(LsmOpenTable);
		ctl.hcxt = TopMemoryContext;
		open_tables = hash_create("lsm_fdw open tables", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	t = hash_search(open_tables, &relid, HASH_FIND, NULL);
	if (t != NULL && t->slot->state == LSM_SLOT_OPEN &&
		t->slot->generation == t->generation &&
		t->slot->relid == relid && t->slot->dboid == MyDatabaseId)
		return t->slot->db;

	slot = lsm_slot_for(MyDatabaseId, relid, false, &generation);
	if (slot == NULL)
	{
		char	   *dir = lsm_table_dir(MyDatabaseId, relid);
		LsmTableSettings settings;

		/* the first open ever: the settings file goes first */
		if (!lsm_env_posix()->exists(lsm_env_posix(), psprintf("%s/OPTIONS", dir)))
		{
			lsm_settings_for_table(relid, &settings);
			write_settings(dir, &settings);
		}
		slot = lsm_slot_for(MyDatabaseId, relid, true, &generation);
	}
	t = hash_search(open_tables, &relid, HASH_ENTER, NULL);
	t->slot = slot;
	t->generation = generation;
	return slot->db;
}

/*
 * lsm_table_has_data
 *		Whether the table's engine has ever stored a row (since it was last
 *		truncated).  Its key columns may be chosen only while it has not:
 *		stored keys are encoded from them.  The caller holds
 *		AccessExclusiveLock, so every commit to the table has been applied.
 */
bool
lsm_table_has_data(Relation rel)
{
	char	   *dir = lsm_table_dir(MyDatabaseId, RelationGetRelid(rel));
	LsmDb	   *db;
	LsmDbStats	stats;

	/* the directory is made at the first open */
	if (!lsm_env_posix()->exists(lsm_env_posix(), dir))
		return false;
	db = lsm_open_table(rel);
	if (lsm_db_last_seq(db) > 0)
		return true;
	lsm_db_stats(db, &stats);
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		if (stats.files_per_level[i] > 0)
			return true;
	return stats.imm_memtables > 0;
}

/*
 * lsm_table_slot
 *		The slot of a table this backend opened (NULL if it did not).
 */
LsmTableSlot *
lsm_table_slot(Oid relid)
{
	LsmOpenTable *t;

	if (open_tables == NULL)
		return NULL;
	t = hash_search(open_tables, &relid, HASH_FIND, NULL);
	return t ? t->slot : NULL;
}

/*
 * lsm_truncate_slot
 *		Replace a table's engine by an empty one (a committed TRUNCATE, or
 *		its replay).  Registry lock not held by the caller.
 */
void
lsm_truncate_slot(LsmTableSlot *slot)
{
	Oid			dboid = slot->dboid;
	Oid			relid = slot->relid;
	LsmStatus	st;

	LWLockAcquire(lsm_shared->registry_lock, LW_EXCLUSIVE);
	{
		char	   *dir = lsm_table_dir(dboid, relid);
		char	   *opts_path = psprintf("%s/OPTIONS", dir);
		LsmTableSettings settings;

		read_settings(dir, &settings);
		(void) opts_path;
		lsm_slot_reset(slot, true);
		write_settings(dir, &settings);
		if (lsm_slot_open_db(slot, dboid, relid, &st) == NULL)
		{
			LWLockRelease(lsm_shared->registry_lock);
			lsm_report(ERROR, &st, "truncate table");
		}
	}
	LWLockRelease(lsm_shared->registry_lock);
}

/*
 * lsm_truncate_slot_in_commit
 *		The same once the commit is durable, where failing is not an option:
 *		recovery truncates again.
 */
void
lsm_truncate_slot_in_commit(LsmTableSlot *slot)
{
	START_CRIT_SECTION();
	lsm_truncate_slot(slot);
	END_CRIT_SECTION();
}

/*
 * lsm_slot_check_writable
 *		Before a commit record is written: refuse while the table's flushes
 *		fail (a full disk, typically), rather than let the commit wait
 *		without end for memtable room once its record is in the log.
 */
void
lsm_slot_check_writable(LsmTableSlot *slot)
{
	if (slot->flush_failing)
	{
		LsmStatus	st;
		bool		failing;

		memset(&st, 0, sizeof(st));
		SpinLockAcquire(&slot->mutex);
		failing = slot->flush_failing;
		st.code = slot->flush_error_code;
		strlcpy(st.msg, slot->flush_error, sizeof(st.msg));
		SpinLockRelease(&slot->mutex);
		if (failing)
			lsm_report(ERROR, &st, "commit while the table's flushes fail");
	}
}

static void
forget_tables(Oid dboid, Oid relid)
{
	LsmShared  *s = lsm_shared;

	if (s == NULL)
		return;
	LWLockAcquire(s->registry_lock, LW_EXCLUSIVE);
	for (int i = 0; i < s->max_tables; i++)
	{
		LsmTableSlot *x = &s->slots[i];

		if ((x->state == LSM_SLOT_OPEN || x->state == LSM_SLOT_FAILED) &&
			x->dboid == dboid &&
			(relid == InvalidOid || x->relid == relid))
			lsm_slot_reset(x, relid != InvalidOid);
	}
	LWLockRelease(s->registry_lock);
	if (relid != InvalidOid)
	{
		LsmStatus	st;

		/* the table may never have been opened since the restart */
		if (remove_table_files(dboid, relid, &st) != LSM_OK)
			ereport(WARNING,
					(errcode(lsm_errcode(st.code)),
					 errmsg("lsm_fdw could not remove the files of a dropped table"),
					 errdetail("%s", st.msg)));
	}
}

/*
 * Dropping a table removes its files when the dropping transaction commits
 * and keeps them when it rolls back.  object_access_hook sees every drop,
 * cascaded ones (DROP SCHEMA ... CASCADE, DROP SERVER ... CASCADE) too.
 */
static object_access_hook_type prev_object_access_hook = NULL;
static List *pending_drops = NIL;	/* Oids, in TopTransactionContext */
static List *pending_db_drops = NIL;	/* database Oids */
static List *pending_db_copies = NIL;	/* database Oids: remove on abort */
static bool drop_xact_callback_registered = false;

static void
drop_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (pending_drops == NIL && pending_db_drops == NIL && pending_db_copies == NIL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		foreach(lc, pending_db_drops)
		{
			char	   *dir = psprintf("%s/lsm_fdw/%u", DataDir, lfirst_oid(lc));
			LsmEnv	   *env = lsm_env_posix();
			LsmStatus	st;

			forget_tables(lfirst_oid(lc), InvalidOid);
			/* DROP DATABASE has committed: a failure can only warn. */
			if (env->exists(env, dir) && env->remove_tree(env, dir, &st) != LSM_OK)
				ereport(WARNING,
						(errcode(lsm_errcode(st.code)),
						 errmsg("could not remove lsm_fdw files of dropped database"),
						 errdetail("%s", st.msg)));
		}
		pending_db_drops = NIL;
		foreach(lc, pending_drops)
		{
			/* The transaction has committed: a failure can only warn. */
			forget_tables(MyDatabaseId, lfirst_oid(lc));
		}
		pending_drops = NIL;
		pending_db_copies = NIL;
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_PREPARE)
	{
		foreach(lc, pending_db_copies)
		{
			char	   *dir = psprintf("%s/lsm_fdw/%u", DataDir, lfirst_oid(lc));
			LsmEnv	   *env = lsm_env_posix();
			LsmStatus	st;

			/* CREATE DATABASE failed: its copy goes (or the next one's does) */
			if (env->exists(env, dir) && env->remove_tree(env, dir, &st) != LSM_OK)
				ereport(WARNING,
						(errcode(lsm_errcode(st.code)),
						 errmsg("could not remove lsm_fdw files of a database not created"),
						 errdetail("%s", st.msg)));
		}
		pending_drops = NIL;
		pending_db_drops = NIL;
		pending_db_copies = NIL;
	}
}

static void
register_drop_callback(void)
{
	if (!drop_xact_callback_registered)
	{
		RegisterXactCallback(drop_xact_callback, NULL);
		drop_xact_callback_registered = true;
	}
}

/*
 * Is name a table directory (a relid) of a database directory?
 */
static bool
is_table_dir_name(const char *name)
{
	return name[0] != '\0' && strspn(name, "0123456789") == strlen(name);
}

/*
 * Flush every open table of database dboid into its files and close it, so
 * that its directory holds all of it and nothing changes it while nobody
 * reopens it.  Tables not open hold all their rows in their files already
 * (recovery opens every table the log has rows for).
 */
static void
flush_and_close_database(Oid dboid)
{
	LsmShared  *s = lsm_shared;
	LsmStatus	st;

	/* the writing without the registry lock ... */
	for (int i = 0; i < s->max_tables; i++)
	{
		LsmTableSlot *slot = &s->slots[i];
		LsmCode		rc;
		bool		pinned = false;

		LWLockAcquire(s->registry_lock, LW_SHARED);
		if (slot->state == LSM_SLOT_OPEN && slot->dboid == dboid)
		{
			lsm_slot_pin(slot);
			pinned = true;
		}
		LWLockRelease(s->registry_lock);
		if (!pinned)
			continue;
		/* the engine never longjmps: the pin cannot leak */
		rc = lsm_db_flush(slot->db, &st);
		lsm_slot_unpin(slot);
		if (rc != LSM_OK)
			lsm_report(ERROR, &st, "flush a table of the template database");
	}

	/* ... then, under it, what came since (nothing: nobody is connected) */
	LWLockAcquire(s->registry_lock, LW_EXCLUSIVE);
	for (int i = 0; i < s->max_tables; i++)
	{
		LsmTableSlot *slot = &s->slots[i];

		if (slot->state != LSM_SLOT_OPEN || slot->dboid != dboid)
			continue;
		if (lsm_db_flush(slot->db, &st) != LSM_OK)
		{
			LWLockRelease(s->registry_lock);
			lsm_report(ERROR, &st, "flush a table of the template database");
		}
		lsm_slot_reset(slot, false);
	}
	LWLockRelease(s->registry_lock);
}

/*
 * lsm_copy_database_tables
 *		CREATE DATABASE dst from template src: copy the files of src's lsm
 *		tables, which live outside the database directory, so that the new
 *		database's tables (same relids) hold the template's rows.
 *
 * Runs after createdb() and before the commit.  createdb() made sure that
 * nobody is connected to src and holds a lock that keeps new connections
 * out until the commit, so no commit can reach src's tables; closing them
 * keeps the workers out as well.  The copy is durable before the commit;
 * an abort removes it, and a crash before the commit leaves a directory
 * for an unused database OID, which the next CREATE DATABASE that gets
 * the OID removes first.
 */
void
lsm_copy_database_tables(Oid src, Oid dst)
{
	char	   *top = psprintf("%s/lsm_fdw", DataDir);
	char	   *srcdir = psprintf("%s/%u", top, src);
	char	   *dstdir = psprintf("%s/%u", top, dst);
	LsmEnv	   *env = lsm_env_posix();
	LsmStatus	st;
	List	   *tables = NIL;
	DIR		   *d;
	struct dirent *de;
	ListCell   *lc;
	MemoryContext old;

	/* a stale copy (crash) or leftover of a dropped database of that OID */
	if (env->exists(env, dstdir))
	{
		forget_tables(dst, InvalidOid);
		if (env->remove_tree(env, dstdir, &st) != LSM_OK)
			lsm_report(ERROR, &st, "remove stale files of the new database");
		fsync_fname(top, true);
	}

	d = AllocateDir(srcdir);
	if (d == NULL)
		return;					/* no lsm table of src was ever used */
	while ((de = ReadDir(d, srcdir)) != NULL)
		if (is_table_dir_name(de->d_name))
			tables = lappend(tables, pstrdup(de->d_name));
	FreeDir(d);
	if (tables == NIL)
		return;

	lsm_wait_ready();
	flush_and_close_database(src);

	old = MemoryContextSwitchTo(TopTransactionContext);
	pending_db_copies = lappend_oid(pending_db_copies, dst);
	MemoryContextSwitchTo(old);
	register_drop_callback();

	if (MakePGDirectory(dstdir) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dstdir)));
	foreach(lc, tables)
	{
		/* copies every file and syncs files and directory (fsync = on) */
		copydir(psprintf("%s/%s", srcdir, (char *) lfirst(lc)),
				psprintf("%s/%s", dstdir, (char *) lfirst(lc)), false);
	}
	fsync_fname(dstdir, true);
	fsync_fname(top, true);
}

bool
lsm_is_lsm_table(Oid relid)
{
	FdwRoutine *routine;

	if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE)
		return false;
	routine = GetFdwRoutineByRelId(relid);
	return routine->GetForeignRelSize == lsmGetForeignRelSize;
}

static void
lsm_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				  int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == DatabaseRelationId)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		pending_db_drops = lappend_oid(pending_db_drops, objectId);
		MemoryContextSwitchTo(old);
		register_drop_callback();
	}
	if (access == OAT_DROP && classId == RelationRelationId && subId == 0 &&
		lsm_is_lsm_table(objectId))
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		pending_drops = lappend_oid(pending_drops, objectId);
		MemoryContextSwitchTo(old);
		register_drop_callback();
	}
}

void
lsm_install_drop_hook(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = lsm_object_access;
}
