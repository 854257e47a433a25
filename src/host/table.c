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

#include <signal.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "storage/proc.h"
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
#include "lsm_env_shared.h"
#include "lsm_wait.h"


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

/* The process that set its reader slot (lsm_wait_ready); 0: none yet. */
static int	reader_slot_pid = 0;

/*
 * lsm_wait_replayed
 *		Wait while the maintenance worker replays the log after the last
 *		(re)start, whatever the outcome.  Replay uses the tables' engines
 *		without pinning their slots, so whatever closes a slot waits here.
 */
void
lsm_wait_replayed(void)
{
	if (lsm_shared == NULL || lsm_shared->recovery_state != LSM_RECOVERY_PENDING)
		return;
	ConditionVariablePrepareToSleep(&lsm_shared->recovery_cv);
	while (lsm_shared->recovery_state == LSM_RECOVERY_PENDING)
		ConditionVariableTimedSleep(&lsm_shared->recovery_cv, 1000,
									PG_WAIT_EXTENSION);
	ConditionVariableCancelSleep();
}

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

	/*
	 * This process's PGPROC number is its reader slot: gets then pin a
	 * table's superversion without its mutex (db_read.c).  No two live
	 * processes share a PGPROC; a forked child starts without a slot.
	 */
	if (reader_slot_pid != MyProcPid && MyProc != NULL)
	{
		lsm_env_shared_set_reader_slot(MyProc->pgprocno);
		reader_slot_pid = MyProcPid;
	}
	lsm_wait_replayed();
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
 * lsm_idle_memtable_size
 *		The memtable an idle table (just opened, or flushed) holds: 1MB, or
 *		1/64 of a small pool, and less as the pool fills (a sixteenth of what
 *		is free), at least 64kB, so that open tables do not fill the pool by
 *		themselves.  Each open table holding 1MB, 411 open tables once
 *		filled the 256MB pool and the shared memory behind it, and a commit
 *		already in the log then waited for memtable room without end.
 */
#define LSM_MIN_MEMTABLE	((size_t) 64 * 1024)

size_t
lsm_idle_memtable_size(void)
{
	uint64		limit = (uint64) lsm_memtable_memory * 1024;
	uint64		used = lsm_shared ? pg_atomic_read_u64(&lsm_shared->memtable_bytes) : 0;
	size_t		size = Min((size_t) 1024 * 1024, (size_t) (limit / 64));

	size = Min(size, (size_t) ((used < limit ? limit - used : 0) / 16));
	return Max(size, LSM_MIN_MEMTABLE);
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
 * Open the shared engine of the table in dir with slot's options; its first
 * memtable may go past the pool (it is small, lsm_idle_memtable_size).
 */
static LsmCode
open_engine(LsmTableSlot *slot, const char *dir, LsmDb **db, LsmStatus *st)
{
	LsmOptions	opts;
	LsmCode		rc;

	lsm_table_options(dir, &opts, slot);
	lsm_region_unlimited(true);
	rc = lsm_db_open(&opts, dir, db, st);
	lsm_region_unlimited(false);
	return rc;
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
	if (open_engine(slot, dir, &db, st) != LSM_OK)
		return NULL;
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
 * lsm_next_open_slot
 *		The next open table at or after *pos, pinned (so that DROP waits for
 *		the caller to unpin it), or NULL at the end; the registry lock is
 *		held only while looking.
 */
LsmTableSlot *
lsm_next_open_slot(int *pos)
{
	LsmShared  *s = lsm_shared;
	LsmTableSlot *found = NULL;

	LWLockAcquire(s->registry_lock, LW_SHARED);
	for (; *pos < s->max_tables; (*pos)++)
	{
		LsmTableSlot *slot = &s->slots[*pos];

		if (slot->state == LSM_SLOT_OPEN)
		{
			lsm_slot_pin(slot);
			found = slot;
			(*pos)++;
			break;
		}
	}
	LWLockRelease(s->registry_lock);
	return found;
}

/*
 * lsm_flush_pending_anywhere
 *		Whether some open table has a frozen memtable waiting for a flush
 *		that can succeed.  A table whose flushes fail does not count: its
 *		memtables stay until the cause is fixed (or the table is dropped),
 *		and commits to other tables must not wait for that.
 */
bool
lsm_flush_pending_anywhere(void)
{
	LsmShared  *s = lsm_shared;
	bool		any = false;

	LWLockAcquire(s->registry_lock, LW_SHARED);
	for (int i = 0; i < s->max_tables && !any; i++)
		if (s->slots[i].state == LSM_SLOT_OPEN && !s->slots[i].flush_failing)
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
LsmCode
lsm_remove_table_files(Oid dboid, Oid relid, LsmStatus *st)
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
		if (remove_files && lsm_remove_table_files(dboid, relid, &st) != LSM_OK)
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
	if (remove_files && lsm_remove_table_files(dboid, relid, &st) != LSM_OK)
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
		lsm_idle_close_register();
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
			lsm_write_settings(dir, &settings);
		}
		slot = lsm_slot_for(MyDatabaseId, relid, true, &generation);
	}
	lsm_drop_note_open(rel);
	lsm_ttl_confirm(slot, relid);
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

	/* this transaction's own writes are encoded with the current key too */
	if (lsm_txn_nops(lsm_txn_table(rel, NULL, false)) > 0)
		return true;
	/* the directory is made at the first open */
	if (!lsm_env_posix()->exists(lsm_env_posix(), dir))
		return false;
	db = lsm_open_table(rel);
	/* not lsm_db_last_seq: a truncated table's is its truncate's */
	lsm_db_stats(db, &stats);
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		if (stats.files_per_level[i] > 0)
			return true;
	return stats.memtable_bytes > 0 || stats.imm_memtables > 0;
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
 * Make, in dir, the files of an empty table with the settings of a table
 * and its floor (see lsm_truncate_slot).
 */
static bool
build_empty_table(LsmTableSlot *slot, const char *dir,
				  const LsmTableSettings *settings, uint64 floor, LsmStatus *st)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmDb	   *db;
	LsmStatus	ignore;

	if (env->exists(env, dir) && env->remove_tree(env, dir, st) != LSM_OK)
		return false;
	lsm_write_settings(dir, settings);
	if (open_engine(slot, dir, &db, st) != LSM_OK)
		return false;
	if (lsm_db_raise_last_seq(db, floor, st) != LSM_OK)
	{
		(void) lsm_db_close(db, &ignore);
		return false;
	}
	return lsm_db_close(db, st) == LSM_OK;
}

/*
 * lsm_truncate_slot
 *		Replace a table's engine by an empty one (a committed TRUNCATE, or
 *		its replay) that holds, as far as a replay is concerned, every
 *		sequence number up to floor: the log's records of the table below
 *		the truncate are in it, truncated away.  Without that a replay
 *		applied them again to the empty table, and one of a bulk load,
 *		whose files its first ingest had consumed, failed every start:
 *		every lsm table of the server was unavailable.
 *
 *		The empty table is made aside, in <relid>.truncating, and takes the
 *		place of the old one by two renames (the old one to <relid>.removing
 *		first).  A crash at any point leaves the old table, or the new one
 *		(lsm_sweep_interrupted_drops puts a complete <relid>.truncating in
 *		place when <relid> is missing).  It used to remove the directory
 *		and make a new one in its place: a crash in between left no
 *		directory, the replay took the table for dropped, and the rows the
 *		truncating transaction wrote after its TRUNCATE were lost.
 *		Registry lock not held by the caller.
 */
void
lsm_truncate_slot(LsmTableSlot *slot, uint64 floor)
{
	Oid			dboid = slot->dboid;
	Oid			relid = slot->relid;
	char	   *dir = lsm_table_dir(dboid, relid);
	char	   *fresh = psprintf("%s.truncating", dir);
	char	   *gone = psprintf("%s.removing", dir);
	char	   *parent = psprintf("%s/lsm_fdw/%u", DataDir, dboid);
	LsmEnv	   *env = lsm_env_posix();
	LsmTableSettings settings;
	LsmStatus	st;

	LWLockAcquire(lsm_shared->registry_lock, LW_EXCLUSIVE);
	lsm_read_settings(dir, &settings);
	lsm_slot_reset(slot, false);
	if (!build_empty_table(slot, fresh, &settings, floor, &st) ||
		(env->exists(env, gone) && env->remove_tree(env, gone, &st) != LSM_OK) ||
		env->rename(env, dir, gone, &st) != LSM_OK ||
		(lsm_debug_kill_at == LSM_DEBUG_KILL_TRUNCATE_SWAP && kill(MyProcPid, SIGKILL) != 0) ||
		env->rename(env, fresh, dir, &st) != LSM_OK ||
		env->sync_dir(env, parent, &st) != LSM_OK ||
		env->remove_tree(env, gone, &st) != LSM_OK ||
		lsm_slot_open_db(slot, dboid, relid, &st) == NULL)
	{
		LWLockRelease(lsm_shared->registry_lock);
		lsm_report(ERROR, &st, "truncate table");
	}
	LWLockRelease(lsm_shared->registry_lock);
}

/*
 * lsm_truncate_slot_in_commit
 *		The same once the commit is durable, where failing is not an option:
 *		recovery truncates again.
 */
void
lsm_truncate_slot_in_commit(LsmTableSlot *slot, uint64 floor)
{
	START_CRIT_SECTION();
	lsm_truncate_slot(slot, floor);
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
