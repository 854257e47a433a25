/*-------------------------------------------------------------------------
 *
 * backup.c
 *		lsm_fdw_backup(target_dir): a consistent copy of every lsm_fdw
 *		table of the server, taken while writes go on.
 *
 * The copy is what a restart would recover from at one log position P:
 * each table's SSTables as of some moment (lsm_db_checkpoint pins a
 * version and copies it with a MANIFEST of its own) and the server log
 * from its oldest segment up to P, read after every table was copied.
 * Recovery of the copy replays, per table, the records above what its
 * files hold, up to P, exactly as after a crash at P.  That is consistent
 * because a table file only ever holds commits whose log records came
 * before it (a commit is logged, then applied, then flushed), so every
 * entry copied has its record below P; and one transaction's writes to
 * all tables are one record, so a commit is in the copy whole or not at
 * all.  While the backup runs, the log keeps every segment (a removal
 * hold), since a table copied early may need records from far back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/pg_authid.h"
#include "common/file_perm.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/copydir.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_spill.h"
#include "xlog.h"

PG_FUNCTION_INFO_V1(lsm_fdw_backup);

typedef struct BackupTotals
{
	uint64		tables;
	uint64		files;
	uint64		table_bytes;
} BackupTotals;

static void
release_hold(int code, Datum arg)
{
	lsm_xlog_hold_removal(lsm_shared->xlog, false);
	if (DatumGetBool(arg))
		pg_atomic_fetch_sub_u32(&lsm_shared->bulk_backups, 1);
}

/*
 * Copy the files of bulk commits (commit.c) into target: a commit whose
 * record is below the point and whose ingest came after its table was
 * copied is replayed from them.  While the backup runs nobody removes them
 * (bulk_backups), so every such file is there now.  Runs and files of
 * transactions that never commit come along too; the restored server's
 * start removes them.
 */
static void
copy_bulk_files(const char *target)
{
	char	   *dir = lsm_bulk_dir();
	char	   *to_dir = psprintf("%s/lsm_fdw/bulk", target);
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	if (pg_mkdir_p(to_dir, pg_dir_create_mode) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", to_dir)));
	while ((de = ReadDir(d, dir)) != NULL)
	{
		char	   *from;

		if (strncmp(de->d_name, "load-", 5) != 0)
			continue;
		from = psprintf("%s/%s", dir, de->d_name);
		/* a transaction that ended meanwhile may have removed it */
		if (access(from, F_OK) == 0)
		{
			char	   *to = psprintf("%s/%s", to_dir, de->d_name);

			copy_file(from, to);
			fsync_fname(to, false);
		}
	}
	FreeDir(d);
	fsync_fname(to_dir, true);
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * Open every table that has a directory, so that the loop over open slots
 * below sees them all (a table not used since the start is not open).
 */
static void
open_all_tables(void)
{
	char	   *top = psprintf("%s/lsm_fdw", DataDir);
	DIR		   *d = AllocateDir(top);
	struct dirent *de;

	while ((de = ReadDir(d, top)) != NULL)
	{
		char	   *dbdir;
		DIR		   *d2;
		struct dirent *de2;
		Oid			dboid;

		if (!all_digits(de->d_name))
			continue;
		dboid = (Oid) strtoul(de->d_name, NULL, 10);
		dbdir = psprintf("%s/%s", top, de->d_name);
		d2 = AllocateDir(dbdir);
		while ((de2 = ReadDir(d2, dbdir)) != NULL)
		{
			char	   *cur;

			if (!all_digits(de2->d_name))
				continue;
			/* a table directory has CURRENT; others are left-overs */
			cur = psprintf("%s/%s/CURRENT", dbdir, de2->d_name);
			if (access(cur, F_OK) == 0)
				(void) lsm_slot_for(dboid, (Oid) strtoul(de2->d_name, NULL, 10),
									true, NULL);
			pfree(cur);
			CHECK_FOR_INTERRUPTS();
		}
		FreeDir(d2);
		pfree(dbdir);
	}
	FreeDir(d);
	pfree(top);
}


static void
copy_table(LsmTableSlot *slot, const char *target, BackupTotals *tot)
{
	char	   *dir = psprintf("%s/lsm_fdw/%u/%u", target, slot->dboid, slot->relid);
	char	   *from = psprintf("%s/OPTIONS", lsm_table_dir(slot->dboid, slot->relid));
	char	   *to = psprintf("%s/OPTIONS", dir);
	LsmCheckpointInfo info;
	LsmStatus	st;

	if (lsm_db_checkpoint(slot->db, dir, &info, &st) != LSM_OK)
		lsm_report(ERROR, &st, "back up table");
	if (access(from, F_OK) == 0)
		copy_file(from, to);
	tot->tables++;
	tot->files += info.files;
	tot->table_bytes += info.bytes;
}

/* copy_table, then drop the pin whatever happened */
static void
copy_pinned_table(LsmTableSlot *slot, const char *target, BackupTotals *tot)
{
	PG_TRY();
	{
		copy_table(slot, target, tot);
	}
	PG_CATCH();
	{
		lsm_slot_unpin(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
	lsm_slot_unpin(slot);
}

static void
copy_tables(const char *target, BackupTotals *tot)
{
	int			pos = 0;
	LsmTableSlot *slot;

	while ((slot = lsm_next_open_slot(&pos)) != NULL)
	{
		copy_pinned_table(slot, target, tot);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
write_label(const char *target, const char *json)
{
	char	   *path = psprintf("%s/lsm_fdw/backup_label.json", target);
	FILE	   *f = AllocateFile(path, PG_BINARY_W);

	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	if (fprintf(f, "%s\n", json) < 0 || fflush(f) != 0 || pg_fsync(fileno(f)) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	FreeFile(f);
}

/* The target must be absolute, outside the data directory, and empty. */
static void
check_target(const char *target)
{
	DIR		   *d;
	struct dirent *de;

	if (!is_absolute_path(target))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup directory must be an absolute path"),
				 errdetail("The path given is \"%s\".", target)));
	if (path_is_prefix_of_path(DataDir, target))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup directory \"%s\" is inside the data directory", target),
				 errhint("Write the backup outside \"%s\".", DataDir)));
	d = AllocateDir(target);
	if (d == NULL)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open directory \"%s\": %m", target)));
		return;
	}
	while ((de = ReadDir(d, target)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_FILE),
					 errmsg("backup directory \"%s\" is not empty", target),
					 errhint("Give a new or empty directory.")));
	FreeDir(d);
}

/*
 * lsm_fdw_backup(target_dir text) returns jsonb
 *		Write target_dir/lsm_fdw/: every table's files and the server log up
 *		to one point; see the file header.  Allowed to superusers and to
 *		members of pg_write_server_files, as COPY TO a file is.
 */
Datum
lsm_fdw_backup(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	LsmShared  *s = lsm_shared;
	BackupTotals tot = {0};
	uint64		point;
	uint64		seq;
	uint64		log_bytes = 0;
	uint64		first_lsn = 0;
	TimestampTz started = GetCurrentTimestamp();
	char	   *start_str;
	char	   *end_str;
	StringInfoData buf;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to back up lsm_fdw tables"),
				 errdetail("Only roles with privileges of the \"%s\" role may write a backup.",
						   "pg_write_server_files")));
	canonicalize_path(target);
	check_target(target);
	lsm_wait_ready();
	if (pg_mkdir_p(psprintf("%s/lsm_fdw", target), pg_dir_create_mode) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s/lsm_fdw\": %m", target)));

	lsm_xlog_hold_removal(s->xlog, true);
	pg_atomic_fetch_add_u32(&s->bulk_backups, 1);	/* before any pin */
	PG_ENSURE_ERROR_CLEANUP(release_hold, BoolGetDatum(true));
	{
		LsmStatus	st;

		open_all_tables();
		copy_tables(target, &tot);

		/*
		 * The point: read after every table was copied, so that every entry
		 * in the copies has its record below it.  seq, the highest
		 * published sequence number read before it, is reported: every
		 * commit visible at seq has its record below the point.
		 */
		seq = pg_atomic_read_u64(&s->visible_seq);
		pg_memory_barrier();
		point = lsm_xlog_insert_lsn(s->xlog);
		if (lsm_xlog_copy(s->xlog, psprintf("%s/lsm_fdw/wal", target), point,
						  &log_bytes, &first_lsn, &st) != LSM_OK)
			lsm_report(ERROR, &st, "copy the server log");
		copy_bulk_files(target);
	}
	PG_END_ENSURE_ERROR_CLEANUP(release_hold, BoolGetDatum(true));
	release_hold(0, BoolGetDatum(true));

	/* timestamptz_to_str returns a static buffer: one call at a time */
	start_str = pstrdup(timestamptz_to_str(started));
	end_str = pstrdup(timestamptz_to_str(GetCurrentTimestamp()));
	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"lsn\": " UINT64_FORMAT
					 ", \"seq\": " UINT64_FORMAT
					 ", \"start_time\": \"%s\""
					 ", \"end_time\": \"%s\""
					 ", \"first_log_lsn\": " UINT64_FORMAT
					 ", \"tables\": " UINT64_FORMAT
					 ", \"files\": " UINT64_FORMAT
					 ", \"table_bytes\": " UINT64_FORMAT
					 ", \"log_bytes\": " UINT64_FORMAT
					 ", \"bytes\": " UINT64_FORMAT
					 ", \"version\": \"0.2\"}",
					 point, seq,
					 start_str, end_str,
					 first_lsn, tot.tables, tot.files, tot.table_bytes,
					 log_bytes, tot.table_bytes + log_bytes);
	write_label(target, buf.data);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
