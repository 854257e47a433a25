/*
 * table.c
 *		Opening the engine of a lsm_fdw foreign table, and mapping engine
 *		errors to ereport.
 *
 * Each foreign table's data lives in $PGDATA/lsm_fdw/<dboid>/<relid>/.
 *
 * This stage of lsm_fdw opens a table's engine inside the backend that uses
 * it, so two backends must never have the same table open: the engine's
 * memtable and log would diverge.  A session-level advisory lock on
 * (database, table) enforces that; a second session gets a clear error
 * instead of silently wrong results.  The shared-memory engine, where every
 * backend sees one engine per table, replaces this file's open logic; the
 * callers stay as they are.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "lsm.h"
#include "lsm_fdw.h"

typedef struct LsmOpenTable
{
	Oid			relid;			/* hash key */
	LsmDb	   *db;
	char	   *path;			/* malloc'd */
	TimestampTz last_wal_sync;	/* lsm_fdw.synchronous_commit = off */
} LsmOpenTable;

static HTAB *open_tables = NULL;
static bool exit_callback_registered = false;

/* Distinguishes our advisory locks from pg_advisory_lock's (field4 1 and 2). */
#define LSM_LOCK_SPACE_TABLE 0x4c53

/*
 * lsm_report
 *		Turn an engine status into an ereport at elevel, with the SQLSTATE
 *		that fits the engine code.
 */
void
lsm_report(int elevel, const LsmStatus *st, const char *what)
{
	int			sqlstate;

	switch (st->code)
	{
		case LSM_CORRUPTION:
			sqlstate = ERRCODE_DATA_CORRUPTED;
			break;
		case LSM_NO_SPACE:
			sqlstate = ERRCODE_DISK_FULL;
			break;
		case LSM_NO_MEMORY:
			sqlstate = ERRCODE_OUT_OF_MEMORY;
			break;
		case LSM_INVALID_ARGUMENT:
			sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case LSM_BUSY:
			sqlstate = ERRCODE_OBJECT_IN_USE;
			break;
		case LSM_NOT_SUPPORTED:
			sqlstate = ERRCODE_FEATURE_NOT_SUPPORTED;
			break;
		case LSM_IO_ERROR:
		default:
			sqlstate = ERRCODE_IO_ERROR;
			break;
	}
	ereport(elevel,
			(errcode(sqlstate),
			 errmsg("lsm_fdw could not %s: %s", what, st->msg)));
}

static void
close_all_tables(int code, Datum arg)
{
	HASH_SEQ_STATUS seq;
	LsmOpenTable *t;

	if (open_tables == NULL)
		return;
	hash_seq_init(&seq, open_tables);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		LsmStatus	st;

		if (t->db)
			(void) lsm_db_close(t->db, &st);
		t->db = NULL;
	}
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
 * Take the session-level lock that makes this backend the table's only
 * user.  A backend that just ended may still hold it for a moment, so wait
 * briefly before giving up.
 */
static void
lock_table_for_session(Relation rel)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, RelationGetRelid(rel), 0,
						 LSM_LOCK_SPACE_TABLE);
	for (int attempt = 0;; attempt++)
	{
		if (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
			return;
		if (attempt >= 40)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("lsm_fdw table \"%s\" is in use by another session",
							RelationGetRelationName(rel)),
					 errdetail("This version of lsm_fdw lets one session at a time use a table."),
					 errhint("Close the other session, or use the table from that session.")));
		CHECK_FOR_INTERRUPTS();
		pg_usleep(50 * 1000L);
	}
}

/*
 * Open (and recover) the engine of relid in this backend.  The caller holds
 * the session lock.
 */
static LsmDb *
open_engine(Oid relid, const char *relname)
{
	LsmOpenTable *t;
	bool		found;
	LsmTableSettings settings;
	LsmOptions	opts;
	LsmStatus	st;
	char	   *dir;

	t = hash_search(open_tables, &relid, HASH_ENTER, &found);
	if (found && t->db != NULL)
		return t->db;
	t->db = NULL;
	t->path = NULL;
	t->last_wal_sync = GetCurrentTimestamp();

	lsm_settings_for_table(relid, &settings);
	lsm_options_init(&opts);
	opts.write_buffer_size = settings.memtable_size;
	opts.block_size = settings.block_size;
	opts.compression = settings.compress ? LSM_COMPRESSION_ZSTD : LSM_COMPRESSION_NONE;
	opts.compression_level = settings.compression_level;
	opts.bloom_bits_per_key = settings.bloom_bits_per_key;
	opts.compaction_style = settings.compaction == LSM_COMPACTION_TIERED
		? LSM_COMPACT_TIERED : LSM_COMPACT_LEVELED;
	opts.sync_writes = true;

	dir = lsm_table_dir(MyDatabaseId, relid);
	if (lsm_db_open(&opts, dir, &t->db, &st) != LSM_OK)
	{
		t->db = NULL;
		hash_search(open_tables, &relid, HASH_REMOVE, NULL);
		lsm_report(ERROR, &st, psprintf("open table \"%s\"", relname));
	}
	pfree(dir);
	return t->db;
}

static void
init_open_tables(void)
{
	if (open_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(LsmOpenTable);
		ctl.hcxt = TopMemoryContext;
		open_tables = hash_create("lsm_fdw open tables", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (!exit_callback_registered)
	{
		on_proc_exit(close_all_tables, (Datum) 0);
		exit_callback_registered = true;
	}
}

/*
 * lsm_open_table
 *		The engine of a foreign table, opened (and recovered) on first use in
 *		this backend.
 */
LsmDb *
lsm_open_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	LsmOpenTable *t;

	init_open_tables();
	t = hash_search(open_tables, &relid, HASH_FIND, NULL);
	if (t != NULL && t->db != NULL)
		return t->db;

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
	lock_table_for_session(rel);
	return open_engine(relid, RelationGetRelationName(rel));
}

/*
 * Remove a table's directory so that a crash at any moment leaves either
 * the whole table or none of it: rename it away (atomic), make the rename
 * durable, then delete the renamed tree.
 */
static void
remove_table_files(Oid relid, int elevel)
{
	char	   *dir = lsm_table_dir(MyDatabaseId, relid);
	char	   *parent = psprintf("%s/lsm_fdw/%u", DataDir, MyDatabaseId);
	char	   *gone = psprintf("%s.removing", dir);
	LsmEnv	   *env = lsm_env_posix();
	LsmStatus	st;

	if (!env->exists(env, dir))
		return;
	if (env->exists(env, gone) && env->remove_tree(env, gone, &st) != LSM_OK)
		lsm_report(elevel, &st, "remove the files of a table");
	if (env->rename(env, dir, gone, &st) != LSM_OK ||
		env->sync_dir(env, parent, &st) != LSM_OK ||
		env->remove_tree(env, gone, &st) != LSM_OK)
		lsm_report(elevel, &st, "remove the files of a table");
}

/*
 * lsm_truncate_table
 *		Replace a table's files by an empty table (TRUNCATE at commit) and
 *		return the new engine.
 */
LsmDb *
lsm_truncate_table(Oid relid)
{
	char	   *name = get_rel_name(relid);

	lsm_forget_table(relid);
	remove_table_files(relid, ERROR);
	init_open_tables();
	return open_engine(relid, name ? name : "?");
}

/*
 * lsm_commit_sync_policy
 *		Before a commit's write to relid: tell the engine whether to fsync.
 *		With lsm_fdw.synchronous_commit off, the log is still fsynced when
 *		lsm_fdw.wal_sync_delay has passed since the table's last sync
 *		(*sync_after is then true: call lsm_db_sync_wal after the write).
 */
void
lsm_commit_sync_policy(Oid relid, LsmDb *db, bool *sync_after)
{
	LsmOpenTable *t = open_tables ? hash_search(open_tables, &relid, HASH_FIND, NULL) : NULL;
	TimestampTz now;

	*sync_after = false;
	lsm_db_set_sync_writes(db, lsm_synchronous_commit);
	if (lsm_synchronous_commit || t == NULL)
		return;
	now = GetCurrentTimestamp();
	if (TimestampDifferenceExceeds(t->last_wal_sync, now, lsm_wal_sync_delay))
	{
		*sync_after = true;
		t->last_wal_sync = now;
	}
}

/*
 * lsm_forget_table
 *		Close a table's engine in this backend (before its files go away).
 */
void
lsm_forget_table(Oid relid)
{
	LsmOpenTable *t;
	LsmStatus	st;

	if (open_tables == NULL)
		return;
	t = hash_search(open_tables, &relid, HASH_FIND, NULL);
	if (t == NULL)
		return;
	if (t->db)
		(void) lsm_db_close(t->db, &st);
	hash_search(open_tables, &relid, HASH_REMOVE, NULL);
}

/*
 * Dropping a table removes its files when the dropping transaction commits
 * and keeps them when it rolls back.  object_access_hook sees every drop,
 * cascaded ones (DROP SCHEMA ... CASCADE, DROP SERVER ... CASCADE) too.
 */
static object_access_hook_type prev_object_access_hook = NULL;
static List *pending_drops = NIL;	/* Oids, in TopTransactionContext */
static List *pending_db_drops = NIL;	/* database Oids */
static bool drop_xact_callback_registered = false;

static void
drop_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (pending_drops == NIL && pending_db_drops == NIL)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		foreach(lc, pending_db_drops)
		{
			char	   *dir = psprintf("%s/lsm_fdw/%u", DataDir, lfirst_oid(lc));
			LsmEnv	   *env = lsm_env_posix();
			LsmStatus	st;

			/* DROP DATABASE has committed: a failure can only warn. */
			if (env->exists(env, dir) && env->remove_tree(env, dir, &st) != LSM_OK)
				ereport(WARNING,
						(errcode(ERRCODE_IO_ERROR),
						 errmsg("could not remove lsm_fdw files of dropped database: %s", st.msg)));
		}
		pending_db_drops = NIL;
		foreach(lc, pending_drops)
		{
			Oid			relid = lfirst_oid(lc);
			lsm_forget_table(relid);
			/* The transaction has committed: a failure can only warn. */
			remove_table_files(relid, WARNING);
		}
		pending_drops = NIL;
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_PREPARE)
	{
		pending_drops = NIL;
		pending_db_drops = NIL;
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
