/*
 * orphans.c
 *		lsm_fdw_orphans(): the directories of the current database's lsm
 *		files that belong to no lsm_fdw table, listed and, when asked,
 *		removed.
 *
 * A table's directory is made at its first open, which may come before
 * the CREATE FOREIGN TABLE commits.  A rollback removes it (drop.c), but a
 * crash while that transaction is open leaves it: the start has no
 * catalog to tell a new table from a dead one.  Such a directory is never
 * read again.  A directory is an orphan when no lsm_fdw foreign table of
 * its OID exists once this function holds that OID's AccessExclusiveLock,
 * taken without waiting.  A CREATE still in progress holds the lock on
 * its new relation until it ends, so its directory is passed over (the
 * lock is not free), never taken for an orphan; a CREATE that gets the OID
 * after the check waits for the lock, and then finds no directory.
 * Directories whose name is not an OID (a drop's .removing, a TRUNCATE's
 * .truncating, the markers) belong to operations the start finishes.
 */
#include "postgres.h"

#include <sys/stat.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "lsm.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"

PG_FUNCTION_INFO_V1(lsm_fdw_orphans);

/* Bytes of the files under path (no symlinks are followed). */
static int64
tree_bytes(const char *path)
{
	DIR		   *d = AllocateDir(path);
	struct dirent *de;
	int64		total = 0;

	while ((de = ReadDirExtended(d, path, WARNING)) != NULL)
	{
		char	   *p;
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = psprintf("%s/%s", path, de->d_name);
		/* a file gone meanwhile counts nothing */
		if (lstat(p, &sb) == 0)
		{
			if (S_ISDIR(sb.st_mode))
				total += tree_bytes(p);
			else if (S_ISREG(sb.st_mode))
				total += sb.st_size;
		}
		pfree(p);
	}
	if (d != NULL)
		FreeDir(d);
	return total;
}

/*
 * Whether relid's directory is an orphan: no lsm_fdw table of that OID,
 * seen under its lock.  False when the lock is taken (in use, or being
 * created); then *locked stays false.
 */
static bool
is_orphan(Oid relid, bool *locked)
{
	*locked = ConditionalLockRelationOid(relid, AccessExclusiveLock);
	if (!*locked)
		return false;
	/* a drop or create that committed before the lock is seen now */
	InvalidateCatalogSnapshot();
	return !lsm_is_lsm_table(relid);
}

Datum
lsm_fdw_orphans(PG_FUNCTION_ARGS)
{
	bool		remove = PG_GETARG_BOOL(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dbdir = psprintf("%s/lsm_fdw/%u", DataDir, MyDatabaseId);
	List	   *candidates = NIL;
	ListCell   *lc;
	DIR		   *d;
	struct dirent *de;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to look for orphaned lsm_fdw files"),
				 errdetail("Only superusers may list or remove files in the data directory.")));
	InitMaterializedSRF(fcinfo, 0);
	lsm_wait_ready();

	d = AllocateDir(dbdir);
	while (d != NULL && (de = ReadDirExtended(d, dbdir, WARNING)) != NULL)
	{
		char	   *p;
		struct stat sb;

		if (!lsm_is_oid_name(de->d_name))
			continue;
		p = psprintf("%s/%s", dbdir, de->d_name);
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			candidates = lappend_oid(candidates, (Oid) strtoul(de->d_name, NULL, 10));
		pfree(p);
	}
	if (d != NULL)
		FreeDir(d);

	foreach(lc, candidates)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *dir = lsm_table_dir(MyDatabaseId, relid);
		bool		locked;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (!is_orphan(relid, &locked))
		{
			if (locked)
				UnlockRelationOid(relid, AccessExclusiveLock);
			continue;
		}
		values[0] = ObjectIdGetDatum(relid);
		values[1] = CStringGetTextDatum(dir);
		values[2] = Int64GetDatum(tree_bytes(dir));
		values[3] = BoolGetDatum(remove && lsm_forget_tables(MyDatabaseId, relid));
		if (DatumGetBool(values[3]))
			ereport(LOG,
					(errmsg("lsm_fdw removed \"%s\", which belonged to no lsm_fdw table",
							dir)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		UnlockRelationOid(relid, AccessExclusiveLock);
	}
	return (Datum) 0;
}
