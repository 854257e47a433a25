/*
 * drop.c
 *		The table files' side of database-level DDL: DROP FOREIGN TABLE,
 *		DROP SCHEMA/SERVER ... CASCADE and DROP DATABASE free the registry
 *		slots and remove the files of dropped tables when the dropping
 *		transaction commits; CREATE DATABASE ... TEMPLATE copies the
 *		template's table files.
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/copydir.h"
#include "storage/fd.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "lsm.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_commit.h"
#include "lsm_wait.h"

static bool
remove_files(Oid dboid, Oid relid)
{
	LsmStatus	st;

	if (lsm_remove_table_files(dboid, relid, &st) == LSM_OK)
		return true;
	ereport(WARNING,
			(errcode(lsm_errcode(st.code)),
			 errmsg("lsm_fdw could not remove the files of a dropped table"),
			 errdetail("%s", st.msg)));
	return false;
}

/*
 * Close the engines of database dboid's tables (only relid's, unless it is
 * InvalidOid) and, for one table, remove its files.  False when they could
 * not be removed (warned).
 */
bool
lsm_forget_tables(Oid dboid, Oid relid)
{
	LsmShared  *s = lsm_shared;

	if (s == NULL)
		return relid == InvalidOid || remove_files(dboid, relid);
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
	/* the table may never have been opened since the restart */
	return relid == InvalidOid || remove_files(dboid, relid);
}

/*
 * Dropping a table removes its files when the dropping transaction commits
 * and keeps them when it rolls back, the whole transaction or the
 * subtransaction that dropped it (ROLLBACK TO SAVEPOINT, a PL/pgSQL
 * exception block), as Postgres's own pending deletes do.
 * object_access_hook sees every drop, cascaded ones (DROP SCHEMA ...
 * CASCADE, DROP SERVER ... CASCADE) too.
 */
typedef struct PendingDrop
{
	Oid			relid;
	int			nest_level;		/* of the subtransaction it belongs to */
	FullTransactionId xid;		/* that subtransaction's */
} PendingDrop;

/*
 * A table created in this transaction and opened (which made its files):
 * its files go if the creating subtransaction, or one above it, aborts, as
 * Postgres removes a new relation's files.  Without this a rolled-back
 * CREATE FOREIGN TABLE that had been written to left its directory, and
 * its registry slot until the next restart.
 */
typedef struct PendingCreate
{
	Oid			relid;
	SubTransactionId subid;		/* the subtransaction it belongs to */
} PendingCreate;

static object_access_hook_type prev_object_access_hook = NULL;
static List *pending_creates = NIL;	/* PendingCreate, in TopTransactionContext */
static List *pending_drops = NIL;	/* PendingDrop, in TopTransactionContext */
static List *pending_db_drops = NIL;	/* database Oids */
static List *pending_db_copies = NIL;	/* database Oids: remove on abort */

/*
 * Drop markers.  The files go after the commit, so a crash between the
 * commit and their removal would leave them for good: nothing reads a
 * dropped table's directory again.  So just before the commit the drop
 * writes a marker, <relid>.drop beside the table's directory (<dboid>.drop
 * beside a database's), holding the ID of the (sub)transaction that
 * dropped it, durably; the removal at commit deletes the marker after the
 * files.  The next start finds a marker left behind and asks pg_xact:
 * committed, the files go; otherwise (rolled back, or cut by the crash) the
 * marker goes.  The ID is the subtransaction's, so a drop undone by
 * ROLLBACK TO SAVEPOINT counts as aborted even when the rest committed.
 *
 * An ID is only a name for that transaction once Postgres's WAL holds a
 * record of it: a crash forgets an ID no durable record carries, and
 * hands it out again, so a marker could name a later transaction that
 * did commit.  The markers are written at pre-commit, after the catalog
 * deletions that carry the drops' IDs, and the WAL is flushed up to there
 * before them.
 */
#define DROP_MARKER_MAGIC 0x4c534d44	/* "LSMD" */

typedef struct DropMarker
{
	uint32		magic;
	uint32		reserved;
	uint64		full_xid;
	pg_crc32c	crc;			/* of the fields above */
} DropMarker;

static char *
marker_path(Oid dboid, Oid relid)
{
	if (relid == InvalidOid)
		return psprintf("%s/lsm_fdw/%u.drop", DataDir, dboid);
	return psprintf("%s/lsm_fdw/%u/%u.drop", DataDir, dboid, relid);
}

static char *
parent_of(const char *path)
{
	char	   *dir = pstrdup(path);

	get_parent_directory(dir);
	return dir;
}

static pg_crc32c
marker_crc(const DropMarker *m)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, m, offsetof(DropMarker, crc));
	FIN_CRC32C(crc);
	return crc;
}

/*
 * Write the marker of a drop of relid (InvalidOid: of database dboid) by
 * transaction xid, durably.  Nothing to do when the files do not exist (a
 * table never used has none).
 */
static void
write_marker(Oid dboid, Oid relid, FullTransactionId xid)
{
	char	   *files = relid == InvalidOid ?
		psprintf("%s/lsm_fdw/%u", DataDir, dboid) : lsm_table_dir(dboid, relid);
	char	   *path = marker_path(dboid, relid);
	DropMarker	m;
	int			fd;

	if (access(files, F_OK) != 0)
		return;
	memset(&m, 0, sizeof(m));
	m.magic = DROP_MARKER_MAGIC;
	m.full_xid = U64FromFullTransactionId(xid);
	m.crc = marker_crc(&m);
	fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	errno = 0;
	if (write(fd, &m, sizeof(m)) != sizeof(m))
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
	fsync_fname(parent_of(path), true);
}

/*
 * Remove a marker once what it stands for is done.  Durably: a marker that
 * came back after an operating-system crash would name a relid that a new
 * table may have taken by then.
 */
static void
remove_marker(Oid dboid, Oid relid, int elevel)
{
	char	   *path = marker_path(dboid, relid);

	if (unlink(path) != 0)
	{
		if (errno != ENOENT)
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", path)));
		return;
	}
	(void) fsync_fname_ext(parent_of(path), true, false, elevel);
}

/*
 * lsm_drop_xact_event
 *		The drops' part of a transaction's end, called by xact.c's callback
 *		after its own: at COMMIT that one applies the transaction's writes
 *		to the engines, which a drop in the same transaction then closes
 *		(Postgres calls the callbacks newest first, and this one, registered
 *		on its own at the first drop, ran before it: a write and a DROP of
 *		one table in one transaction crashed the server).
 */
void
lsm_drop_xact_event(XactEvent event)
{
	ListCell   *lc;

	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		foreach(lc, pending_creates)
			(void) lsm_forget_tables(MyDatabaseId, ((PendingCreate *) lfirst(lc))->relid);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		pending_creates = NIL;
	if (pending_drops == NIL && pending_db_drops == NIL && pending_db_copies == NIL)
		return;
	if (event == XACT_EVENT_PRE_PREPARE && (pending_drops != NIL || pending_db_drops != NIL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that has dropped lsm_fdw tables"),
				 errdetail("Two-phase commit is not supported by lsm_fdw.")));
	if (event == XACT_EVENT_PRE_COMMIT &&
		(pending_drops != NIL || pending_db_drops != NIL))
	{
		/* the drops' IDs durable first: see "Drop markers" above */
		XLogFlush(XactLastRecEnd);
		foreach(lc, pending_db_drops)
			write_marker(lfirst_oid(lc), InvalidOid, GetTopFullTransactionId());
		foreach(lc, pending_drops)
		{
			PendingDrop *pd = lfirst(lc);

			write_marker(MyDatabaseId, pd->relid, pd->xid);
		}
		if (lsm_debug_kill_at == LSM_DEBUG_KILL_DROP_BEFORE_COMMIT)
			(void) kill(MyProcPid, SIGKILL);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		if (lsm_debug_kill_at == LSM_DEBUG_KILL_DROP_AFTER_COMMIT)
			(void) kill(MyProcPid, SIGKILL);
		/* The transaction has committed: failures below can only warn. */
		foreach(lc, pending_db_drops)
		{
			char	   *dir = psprintf("%s/lsm_fdw/%u", DataDir, lfirst_oid(lc));
			LsmEnv	   *env = lsm_env_posix();
			LsmStatus	st;

			lsm_forget_tables(lfirst_oid(lc), InvalidOid);
			if (env->exists(env, dir) && env->remove_tree(env, dir, &st) != LSM_OK)
				ereport(WARNING,
						(errcode(lsm_errcode(st.code)),
						 errmsg("could not remove lsm_fdw files of dropped database"),
						 errdetail("%s", st.msg)));
			else
				remove_marker(lfirst_oid(lc), InvalidOid, WARNING);
		}
		pending_db_drops = NIL;
		foreach(lc, pending_drops)
		{
			PendingDrop *pd = lfirst(lc);

			if (lsm_forget_tables(MyDatabaseId, pd->relid))
				remove_marker(MyDatabaseId, pd->relid, WARNING);
		}
		pending_drops = NIL;
		pending_db_copies = NIL;
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
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
		foreach(lc, pending_db_drops)
			remove_marker(lfirst_oid(lc), InvalidOid, WARNING);
		foreach(lc, pending_drops)
			remove_marker(MyDatabaseId, ((PendingDrop *) lfirst(lc))->relid, WARNING);
		pending_drops = NIL;
		pending_db_drops = NIL;
		pending_db_copies = NIL;
	}
	else if (event == XACT_EVENT_PREPARE)
	{
		/* nothing to do (PRE_PREPARE refused drops); the lists are freed */
		pending_drops = NIL;
		pending_db_drops = NIL;
		pending_db_copies = NIL;
	}
}

/*
 * A subtransaction's drops become its parent's when it commits and are
 * undone when it aborts.
 */
void
lsm_drop_subxact_event(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	foreach(lc, pending_creates)
	{
		PendingCreate *pc = lfirst(lc);

		if (pc->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			pc->subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			(void) lsm_forget_tables(MyDatabaseId, pc->relid);
			pending_creates = foreach_delete_current(pending_creates, lc);
		}
	}

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending_drops)
		{
			PendingDrop *pd = lfirst(lc);

			if (pd->nest_level >= level)
				pd->nest_level = level - 1;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, pending_drops)
		{
			PendingDrop *pd = lfirst(lc);

			if (pd->nest_level >= level)
				pending_drops = foreach_delete_current(pending_drops, lc);
		}
	}
}

/*
 * lsm_drop_note_open
 *		A backend opened rel's engine: when the table was created in this
 *		transaction, its files go if the creation rolls back.
 */
void
lsm_drop_note_open(Relation rel)
{
	PendingCreate *pc;
	ListCell   *lc;
	MemoryContext old;

	if (rel->rd_createSubid == InvalidSubTransactionId)
		return;
	foreach(lc, pending_creates)
		if (((PendingCreate *) lfirst(lc))->relid == RelationGetRelid(rel))
			return;
	pc = MemoryContextAlloc(TopTransactionContext, sizeof(PendingCreate));
	pc->relid = RelationGetRelid(rel);
	pc->subid = rel->rd_createSubid;
	old = MemoryContextSwitchTo(TopTransactionContext);
	pending_creates = lappend(pending_creates, pc);
	MemoryContextSwitchTo(old);
}

/*
 * Is name all digits: an OID, the name of a database's directory or a
 * table's?
 */
bool
lsm_is_oid_name(const char *name)
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
		lsm_forget_tables(dst, InvalidOid);
		if (env->remove_tree(env, dstdir, &st) != LSM_OK)
			lsm_report(ERROR, &st, "remove stale files of the new database");
		fsync_fname(top, true);
	}

	d = AllocateDir(srcdir);
	if (d == NULL)
		return;					/* no lsm table of src was ever used */
	while ((de = ReadDir(d, srcdir)) != NULL)
		if (lsm_is_oid_name(de->d_name))
			tables = lappend(tables, pstrdup(de->d_name));
	FreeDir(d);
	if (tables == NIL)
		return;

	lsm_wait_ready();
	flush_and_close_database(src);

	old = MemoryContextSwitchTo(TopTransactionContext);
	pending_db_copies = lappend_oid(pending_db_copies, dst);
	MemoryContextSwitchTo(old);

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
	 * The drop closes the tables' engines at commit (lsm_forget_tables), which
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
	}
	if (access == OAT_DROP && classId == RelationRelationId && subId == 0 &&
		lsm_is_lsm_table(objectId))
	{
		MemoryContext old;
		PendingDrop *pd;

		lsm_wait_replayed();
			pd = MemoryContextAlloc(TopTransactionContext, sizeof(PendingDrop));
		pd->relid = objectId;
		pd->nest_level = GetCurrentTransactionNestLevel();
		/* the ID the catalog deletion that follows is logged with */
		pd->xid = GetCurrentFullTransactionId();
		old = MemoryContextSwitchTo(TopTransactionContext);
		pending_drops = lappend(pending_drops, pd);
		MemoryContextSwitchTo(old);
	}
}

/*
 * What became of the drop a marker stands for: 1 committed, 0 not (rolled
 * back, or cut by a crash), -1 cannot tell (warned; the marker stays).
 */
static int
marker_outcome(const char *path)
{
	DropMarker	m;
	int			fd;
	ssize_t		got;
	FullTransactionId fxid;
	int			outcome;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
		return -1;
	}
	got = read(fd, &m, sizeof(m));
	CloseTransientFile(fd);
	/* torn: the drop waits for the marker to be durable, so it never committed */
	if (got != sizeof(m) || m.magic != DROP_MARKER_MAGIC || !EQ_CRC32C(m.crc, marker_crc(&m)))
		return 0;
	fxid = FullTransactionIdFromU64(m.full_xid);
	/* no durable record has it, its commit record neither */
	if (!FullTransactionIdPrecedes(fxid, ReadNextFullTransactionId()))
		return 0;
	outcome = U64FromFullTransactionId(ReadNextFullTransactionId()) - m.full_xid >= (uint64) 1 << 31
		? LSM_XID_TOO_OLD : lsm_xid_outcome(XidFromFullTransactionId(fxid));
	if (outcome == LSM_XID_TOO_OLD)
	{
		ereport(WARNING,
				(errmsg("lsm_fdw cannot tell whether the drop that left \"%s\" committed", path),
				 errdetail("Its transaction %llu is not in pg_xact.",
						   (unsigned long long) m.full_xid),
				 errhint("If the table or database it names no longer exists, remove its lsm_fdw directory and the marker by hand.")));
		return -1;
	}
	/* in progress: a retried recovery, while a drop runs; its commit removes it */
	return outcome == LSM_XID_IN_PROGRESS ? -1 : outcome;
}

/* Act on one marker, of table relid of database dboid or of the database. */
static void
sweep_marker(Oid dboid, Oid relid)
{
	char	   *path = marker_path(dboid, relid);
	int			outcome = marker_outcome(path);

	if (outcome < 0)
		return;
	if (outcome > 0)
	{
		char	   *dir = relid == InvalidOid ?
			psprintf("%s/lsm_fdw/%u", DataDir, dboid) : lsm_table_dir(dboid, relid);
		LsmEnv	   *env = lsm_env_posix();
		LsmStatus	st;

		if (!lsm_forget_tables(dboid, relid))
			return;
		if (relid == InvalidOid && env->exists(env, dir) &&
			env->remove_tree(env, dir, &st) != LSM_OK)
		{
			ereport(WARNING,
					(errcode(lsm_errcode(st.code)),
					 errmsg("could not remove lsm_fdw files of dropped database"),
					 errdetail("%s", st.msg)));
			return;
		}
		ereport(LOG,
				(errmsg("lsm_fdw removed \"%s\", left by a drop that committed before a crash",
						dir)));
	}
	remove_marker(dboid, relid, WARNING);
}

/* Is name <digits><suffix>?  Then *oid is the digits' number. */
static bool
is_oid_with_suffix(const char *name, const char *suffix, Oid *oid)
{
	size_t		digits = strspn(name, "0123456789");

	if (digits == 0 || strcmp(name + digits, suffix) != 0)
		return false;
	*oid = (Oid) strtoul(name, NULL, 10);
	return true;
}

/*
 * lsm_sweep_interrupted_drops
 *		Finish what a crash cut short in drops and truncates: a truncate's
 *		new table made aside (lsm_truncate_slot), the drops that committed
 *		before their files went (markers, see above; the markers of those
 *		that did not commit go), and the <relid>.removing trees of a crash
 *		in the middle of lsm_remove_table_files (the rename was durable, so
 *		the table is gone, but nothing else would ever delete them: a crash
 *		during a DROP left 1.5 GB behind for good).  Called by the replay
 *		before it reads the log (so that it does not reopen a dropped
 *		table), when no drop runs (lsm_wait_replayed).
 */
void
lsm_sweep_interrupted_drops(void)
{
	char	   *top = psprintf("%s/lsm_fdw", DataDir);
	DIR		   *d = AllocateDir(top);
	struct dirent *de;
	List	   *table_dbs = NIL;	/* the tables' markers, as pairs */
	List	   *table_rels = NIL;
	List	   *db_markers = NIL;
	List	   *removing = NIL;		/* paths */
	List	   *truncating = NIL;	/* paths of the tables */
	ListCell   *lc1,
			   *lc2;
	Oid			oid;

	if (d == NULL)
		return;
	while ((de = ReadDir(d, top)) != NULL)
	{
		char	   *dbdir;
		DIR		   *dd;
		struct dirent *te;

		if (is_oid_with_suffix(de->d_name, ".drop", &oid))
		{
			db_markers = lappend_oid(db_markers, oid);
			continue;
		}
		if (!lsm_is_oid_name(de->d_name))
			continue;			/* not a database directory (wal, bulk) */
		dbdir = psprintf("%s/%s", top, de->d_name);
		dd = AllocateDir(dbdir);
		while (dd != NULL && (te = ReadDir(dd, dbdir)) != NULL)
		{
			if (is_oid_with_suffix(te->d_name, ".drop", &oid))
			{
				table_dbs = lappend_oid(table_dbs, (Oid) strtoul(de->d_name, NULL, 10));
				table_rels = lappend_oid(table_rels, oid);
			}
			else if (is_oid_with_suffix(te->d_name, ".removing", &oid))
				removing = lappend(removing, psprintf("%s/%s", dbdir, te->d_name));
			else if (is_oid_with_suffix(te->d_name, ".truncating", &oid))
				truncating = lappend(truncating, psprintf("%s/%u", dbdir, oid));
		}
		if (dd != NULL)
			FreeDir(dd);
	}
	FreeDir(d);
	/* a truncate's new table takes the old one's place if it had begun to */
	foreach(lc1, truncating)
	{
		char	   *dir = lfirst(lc1);
		char	   *fresh = psprintf("%s.truncating", dir);
		LsmEnv	   *env = lsm_env_posix();
		LsmStatus	st;
		LsmCode		rc;

		if (env->exists(env, dir))
			rc = env->remove_tree(env, fresh, &st);
		else
		{
			rc = env->rename(env, fresh, dir, &st);
			if (rc == LSM_OK)
				rc = env->sync_dir(env, parent_of(dir), &st);
			if (rc == LSM_OK)
				ereport(LOG,
						(errmsg("lsm_fdw put the empty table a TRUNCATE a crash interrupted had made in place of \"%s\"",
								dir)));
		}
		if (rc != LSM_OK)
			ereport(WARNING,
					(errcode(lsm_errcode(st.code)),
					 errmsg("lsm_fdw could not finish a TRUNCATE a crash interrupted"),
					 errdetail("%s", st.msg)));
	}
	foreach(lc1, removing)
	{
		LsmStatus	st;

		if (lsm_env_posix()->remove_tree(lsm_env_posix(), lfirst(lc1), &st) != LSM_OK)
			ereport(WARNING,
					(errcode(lsm_errcode(st.code)),
					 errmsg("lsm_fdw could not remove the files of a dropped table"),
					 errdetail("%s", st.msg)));
		else
			ereport(LOG,
					(errmsg("lsm_fdw removed \"%s\", left by a drop a crash interrupted",
							(char *) lfirst(lc1))));
	}
	forboth(lc1, table_dbs, lc2, table_rels)
		sweep_marker(lfirst_oid(lc1), lfirst_oid(lc2));
	/* after the tables': a database's marker removes its whole directory */
	foreach(lc1, db_markers)
		sweep_marker(lfirst_oid(lc1), InvalidOid);
}

void
lsm_install_drop_hook(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = lsm_object_access;
}
