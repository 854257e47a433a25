/*
 * drop.c
 *		The table files' side of database-level DDL: DROP FOREIGN TABLE,
 *		DROP SCHEMA/SERVER ... CASCADE and DROP DATABASE free the registry
 *		slots and remove the files of dropped tables when the dropping
 *		transaction commits; CREATE DATABASE ... TEMPLATE copies the
 *		template's table files.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "storage/copydir.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "lsm.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"

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
		if (lsm_remove_table_files(dboid, relid, &st) != LSM_OK)
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

	/*
	 * The drop closes the tables' engines at commit (forget_tables), which
	 * must not happen under a replay that is still applying records to
	 * them: a DROP right after a start freed a mutex the maintenance worker
	 * was using.  So the drop waits here, before its commit, for the
	 * replay to end (without the errors of lsm_wait_ready: a table can be
	 * dropped without shared_preload_libraries, or after a failed
	 * recovery).
	 */
	if (access == OAT_DROP && classId == DatabaseRelationId)
	{
		MemoryContext old;

		lsm_wait_replayed();
		old = MemoryContextSwitchTo(TopTransactionContext);

		pending_db_drops = lappend_oid(pending_db_drops, objectId);
		MemoryContextSwitchTo(old);
		register_drop_callback();
	}
	if (access == OAT_DROP && classId == RelationRelationId && subId == 0 &&
		lsm_is_lsm_table(objectId))
	{
		MemoryContext old;

		lsm_wait_replayed();
		old = MemoryContextSwitchTo(TopTransactionContext);

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
