/*
 * db_ingest.c
 *		Adding finished SSTables to a database (RocksDB's
 *		IngestExternalFile): a bulk load writes its sorted data straight to
 *		files and never goes through the memtable, the log or level 0.
 *
 * An ingested file stores sequence number 0 in every key and holds one
 * entry per user key.  Its real number is chosen at ingest (a *global*
 * sequence number, one per file) and kept in the file's MANIFEST entry; the
 * table reader puts it into every key it returns (lsm_sst_set_global_seq),
 * so a file can be written before anybody knows where in the history it
 * will land, and readers whose read point is below that number do not see
 * it.
 *
 * Everything older than the ingest must be in SSTables before the edit that
 * adds the files: the edit raises the MANIFEST's last sequence number to
 * the files' numbers, which after a crash tells a host with its own log
 * (external_wal) that nothing at or below it needs replaying.  So the
 * memtables are flushed first.  With the memtables empty and the write lock
 * held, nothing but SSTables can hold a key of the ingested range, which
 * makes the choice of level simple: a range that meets no file of any level
 * (an empty table, or keys past its largest) goes to the bottom level and
 * is never compacted again; anything else goes to level 0, newest, and is
 * compacted like a flush.
 */
#include <string.h>

#include "lsm_alloc.h"
#include "db_internal.h"

typedef struct IngestFile
{
	const char *path;
	LsmSstProps props;
	uint64_t	number;			/* 0 until renamed into the database */
	char		dest[LSM_PATH_MAX];
} IngestFile;

/* Read and check the properties of every file; they must be in key order. */
static LsmCode
check_files(LsmDb *db, IngestFile *files, int n, LsmStatus *st)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		LsmSst	   *t;
		const LsmSstProps *p;
		LsmCode		rc;

		rc = lsm_sst_open(db->env, files[i].path, 0, NULL, &t, st);
		if (rc != LSM_OK)
			return rc;
		p = lsm_sst_props(t);
		if (p->entries == 0 || p->max_seq != 0 || p->blob_refs != 0)
			rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								"file \"%s\" cannot be ingested into \"%s\": %s",
								files[i].path, db->dir,
								p->entries == 0 ? "it is empty" :
								p->blob_refs != 0 ? "it holds references to blob files" :
								"its keys carry sequence numbers other than 0");
		else if (!lsm_buf_set(&files[i].props.smallest, p->smallest.data, p->smallest.len) ||
				 !lsm_buf_set(&files[i].props.largest, p->largest.data, p->largest.len))
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0,
								"out of memory ingesting \"%s\"", files[i].path);
		else
		{
			files[i].props.entries = p->entries;
			files[i].props.tombstones = p->tombstones;
			files[i].props.file_bytes = p->file_bytes;
		}
		lsm_sst_close(t);
		if (rc != LSM_OK)
			return rc;
		if (i > 0 &&
			lsm_slice_cmp(lsm_ikey_user_key(lsm_buf_slice(&files[i - 1].props.largest)),
						  lsm_ikey_user_key(lsm_buf_slice(&files[i].props.smallest))) >= 0)
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "files ingested into \"%s\" overlap or are out of key order: \"%s\" and \"%s\"",
								  db->dir, files[i - 1].path, files[i].path);
	}
	return LSM_OK;
}

/*
 * flush_all
 *		Flush until the memtables are empty, and return holding write_mu
 *		(so no write can come in between).  A host applying commits in
 *		order has no writer racing this; a standalone caller may, and then
 *		the loop flushes again.
 */
static LsmCode
flush_all(LsmDb *db, LsmStatus *st)
{
	for (;;)
	{
		LsmCode		rc = lsm_db_flush(db, st);

		if (rc != LSM_OK)
			return rc;
		db->env->mutex_lock(db->write_mu);
		if (db->bg_error.code != LSM_OK)
		{
			rc = lsm_db_refuse_write(db, st);
			db->env->mutex_unlock(db->write_mu);
			return rc;
		}
		if (db->sv->n_imm == 0 && lsm_memtable_count(db->sv->mem->mt) == 0)
			return LSM_OK;
		db->env->mutex_unlock(db->write_mu);
	}
}

/*
 * bottom_level_free
 *		Whether [lo, hi] meets no file of v and no running compaction's
 *		output range at the bottom level.  Caller holds mu.
 */
static bool
bottom_level_free(LsmDb *db, const LsmVersion *v, LsmSlice lo, LsmSlice hi)
{
	int			level;
	int			i;

	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
		{
			const LsmFileMeta *f = v->files[level][i];

			if (lsm_slice_cmp(lsm_file_largest_user_key(f), lo) >= 0 &&
				lsm_slice_cmp(lsm_file_smallest_user_key(f), hi) <= 0)
				return false;
		}
	return !lsm_db_output_conflict_locked(db, LSM_NUM_LEVELS - 1, lo, hi);
}

/* The key of f's props with sequence number seq instead of 0. */
static bool
global_key(LsmBuf *out, const LsmBuf *stored, LsmSeq seq)
{
	LsmParsedKey pk;

	return lsm_ikey_parse(lsm_buf_slice(stored), &pk) &&
		lsm_ikey_append(out, pk.user_key, seq, pk.kind);
}

/* Move the files renamed so far back where they came from. */
static void
undo_renames(LsmDb *db, IngestFile *files, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (files[i].number != 0)
			db->env->rename(db->env, files[i].dest, files[i].path, NULL);
	db->env->sync_dir(db->env, db->dir, NULL);
}

LsmCode
lsm_db_ingest(LsmDb *db, const char *const *paths, int n, LsmSeq first_seq,
			  LsmIngestResult *out, LsmStatus *st)
{
	IngestFile *files;
	LsmVersionEdit edit;
	LsmVersion *v;
	LsmSeq		first;
	int			level;
	int			i;
	LsmCode		rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (n <= 0)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "no file to ingest into \"%s\"", db->dir);
	files = lsm_calloc((size_t) n, sizeof(IngestFile));
	if (files == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory ingesting into \"%s\"", db->dir);
	for (i = 0; i < n; i++)
		files[i].path = paths[i];
	lsm_edit_init(&edit);

	rc = check_files(db, files, n, st);
	if (rc == LSM_OK)
		rc = flush_all(db, st);
	if (rc != LSM_OK)
		goto out;

	/* write_mu held from here on */
	first = first_seq != 0 ? first_seq : db->last_seq + 1;
	if (first <= db->last_seq || first + (LsmSeq) n - 1 > LSM_MAX_SEQ)
	{
		rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							"sequence number %llu of an ingest is not above the last one of \"%s\", %llu",
							(unsigned long long) first, db->dir,
							(unsigned long long) db->last_seq);
		goto unlock;
	}

	for (i = 0; i < n && rc == LSM_OK; i++)
	{
		uint64_t	number = lsm_versionset_new_file_number(db->vs);

		if (!lsm_file_path(files[i].dest, db->dir, LSM_FILE_TABLE, number))
			rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								"database path \"%s\" is too long", db->dir);
		else if ((rc = db->env->rename(db->env, files[i].path, files[i].dest, st)) == LSM_OK)
			files[i].number = number;
	}
	if (rc == LSM_OK)
		rc = db->env->sync_dir(db->env, db->dir, st);
	if (rc != LSM_OK)
		goto undo;

	db->env->mutex_lock(db->mu);
	v = lsm_versionset_current(db->vs);
	level = bottom_level_free(db, v,
							  lsm_ikey_user_key(lsm_buf_slice(&files[0].props.smallest)),
							  lsm_ikey_user_key(lsm_buf_slice(&files[n - 1].props.largest)))
		? LSM_NUM_LEVELS - 1 : 0;
	lsm_version_unref(v);
	db->env->mutex_unlock(db->mu);

	/* one number per file: level 0 needs disjoint sequence ranges */
	for (i = 0; i < n && rc == LSM_OK; i++)
	{
		LsmFileMeta meta;
		LsmSeq		seq = first + (LsmSeq) i;

		memset(&meta, 0, sizeof(meta));
		meta.number = files[i].number;
		meta.size = files[i].props.file_bytes;
		meta.min_seq = meta.max_seq = meta.global_seq = seq;
		meta.entries = files[i].props.entries;
		meta.tombstones = files[i].props.tombstones;
		if (!global_key(&meta.smallest, &files[i].props.smallest, seq) ||
			!global_key(&meta.largest, &files[i].props.largest, seq))
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0,
								"out of memory ingesting into \"%s\"", db->dir);
		else
			rc = lsm_edit_add_file(&edit, level, &meta, st);
		lsm_buf_free(&meta.smallest);
		lsm_buf_free(&meta.largest);
	}
	if (rc != LSM_OK)
		goto undo;
	lsm_edit_set_last_seq(&edit, first + (LsmSeq) n - 1);
	rc = lsm_db_apply_edit_locked(db, &edit, st);
	if (rc != LSM_OK)
	{
		/*
		 * The MANIFEST may name the files after a crash (the append's fate
		 * is unknown), so they keep their new names; the next open deletes
		 * them when it does not.
		 */
		goto unlock;
	}

	db->env->mutex_lock(db->mu);
	db->last_seq = first + (LsmSeq) n - 1;
	db->hint_floor = db->last_seq;	/* these entries are not in the memtable */
	db->env->mutex_unlock(db->mu);
	if (out != NULL)
	{
		out->level = level;
		out->first_seq = first;
		out->files = n;
		for (i = 0; i < n; i++)
		{
			out->entries += files[i].props.entries;
			out->bytes += files[i].props.file_bytes;
		}
	}
	LSM_STAT_ADD(db, ingested_files, n);
	if (level == 0)
		lsm_db_bg_wake(db);
	/* level-0 files count towards compaction like a flush's */
	if (level == 0 && db->opts.auto_compact)
	{
		LsmStatus	ignored;

		/* the ingest is done; a failed compaction is retried by the next */
		(void) lsm_db_compact_until_done(db, true, &ignored);
	}
	goto unlock;

undo:
	/* no MANIFEST record names them: give the caller its files back */
	undo_renames(db, files, n);
unlock:
	db->env->mutex_unlock(db->write_mu);
out:
	lsm_edit_free(&edit);
	for (i = 0; i < n; i++)
		lsm_sst_props_free(&files[i].props);
	lsm_free(files);
	return rc;
}
