/*-------------------------------------------------------------------------
 *
 * db_checkpoint.c
 *		A consistent copy of a database's files while it is in use (the
 *		engine's part of an online backup, as RocksDB's Checkpoint).
 *
 * The current version is pinned, so every SSTable it lists stays on disk
 * (the refcounted versions already keep a file any reader uses) while it
 * is copied; the copy gets a MANIFEST of its own, written from the pinned
 * version, rather than a copy of the live MANIFEST, which may be appended
 * to (or replaced) meanwhile.  The copy holds exactly what the database's
 * tables held at the pin: with external_wal, entries up to last_seq;
 * whoever replays a log into it starts right above that.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "db_internal.h"
#include "lsm_alloc.h"

#define COPY_CHUNK (1024 * 1024)

static LsmCode
copy_file(LsmEnv *env, const char *from, const char *to, uint64_t size,
		  char *buf, LsmStatus *st)
{
	LsmFile    *in = NULL;
	LsmFile    *out = NULL;
	LsmStatus	ignore;
	LsmCode		rc;

	rc = env->open_file(env, from, LSM_OPEN_READ, &in, st);
	if (rc == LSM_OK)
		rc = env->open_file(env, to, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_TRUNC,
							&out, st);
	for (uint64_t off = 0; rc == LSM_OK && off < size; off += COPY_CHUNK)
	{
		size_t		n = size - off < COPY_CHUNK ? (size_t) (size - off) : COPY_CHUNK;

		rc = env->read_at(in, buf, n, off, st);
		if (rc == LSM_OK)
			rc = env->write_at(out, buf, n, off, st);
	}
	if (rc == LSM_OK)
		rc = env->sync(out, st);
	if (out != NULL)
	{
		if (rc == LSM_OK)
			rc = env->close_file(out, st);
		else
			env->close_file(out, &ignore);
	}
	if (in != NULL)
		env->close_file(in, &ignore);
	return rc;
}

/*
 * copy_blobs
 *		Copy the blob files v's tables reference; the pinned version keeps
 *		them on disk.  Their sizes come from the files: the tables know
 *		their value bytes only.
 */
static LsmCode
copy_blobs(LsmDb *db, LsmVersion *v, const char *dir, char *buf, LsmCheckpointInfo *out,
		   LsmStatus *st)
{
	LsmEnv	   *env = db->env;
	LsmBlobUses us;
	LsmCode		rc = LSM_OK;
	LsmStatus	ignore;

	if (!lsm_blob_version_uses(v, &us))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory copying \"%s\"", db->dir);
	for (int i = 0; i < us.n && rc == LSM_OK; i++)
	{
		char		from[LSM_PATH_MAX];
		char		to[LSM_PATH_MAX];
		LsmFile    *f;
		uint64_t	size = 0;

		if (!lsm_file_path(from, db->dir, LSM_FILE_BLOB, us.u[i].number) ||
			!lsm_file_path(to, dir, LSM_FILE_BLOB, us.u[i].number))
		{
			rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								"database path \"%s\" is too long", dir);
			break;
		}
		rc = env->open_file(env, from, LSM_OPEN_READ, &f, st);
		if (rc != LSM_OK)
			break;
		rc = env->file_size(f, &size, st);
		env->close_file(f, &ignore);
		if (rc == LSM_OK)
			rc = copy_file(env, from, to, size, buf, st);
		out->files++;
		out->bytes += size;
	}
	lsm_blob_uses_free(&us);
	return rc;
}

/*
 * lsm_db_checkpoint
 *		Copy the database's current SSTables into dir (created if missing)
 *		and write a MANIFEST and CURRENT there that name them.
 */
LsmCode
lsm_db_checkpoint(LsmDb *db, const char *dir, LsmCheckpointInfo *out, LsmStatus *st)
{
	LsmEnv	   *env = db->env;
	LsmVersion *v;
	uint64_t	log_number;
	uint64_t	next_file;
	LsmSeq		last_seq;
	char	   *buf;
	LsmCode		rc;

	memset(out, 0, sizeof(*out));
	rc = env->mkdir_p(env, dir, st);
	if (rc != LSM_OK)
		return rc;
	buf = lsm_malloc_private(COPY_CHUNK);
	if (buf == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory copying \"%s\"", db->dir);

	env->mutex_lock(db->mu);
	v = lsm_versionset_current(db->vs);
	log_number = db->vs->log_number;
	last_seq = db->vs->last_seq;
	env->mutex_unlock(db->mu);
	next_file = lsm_versionset_new_file_number(db->vs);

	for (int level = 0; level < LSM_NUM_LEVELS && rc == LSM_OK; level++)
		for (int i = 0; i < v->n_files[level] && rc == LSM_OK; i++)
		{
			const LsmFileMeta *f = v->files[level][i];
			char		from[LSM_PATH_MAX];
			char		to[LSM_PATH_MAX];

			if (!lsm_file_path(from, db->dir, LSM_FILE_TABLE, f->number) ||
				!lsm_file_path(to, dir, LSM_FILE_TABLE, f->number))
				rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
									"database path \"%s\" is too long", dir);
			else
				rc = copy_file(env, from, to, f->size, buf, st);
			out->files++;
			out->bytes += f->size;
		}
	if (rc == LSM_OK)
		rc = copy_blobs(db, v, dir, buf, out, st);
	if (rc == LSM_OK)
		rc = lsm_version_write_manifest(env, dir, v, log_number, next_file,
										last_seq, st);
	if (rc == LSM_OK)
		rc = env->sync_dir(env, dir, st);
	out->last_seq = last_seq;
	lsm_free(buf);

	env->mutex_lock(db->mu);
	lsm_version_unref(v);
	lsm_db_unlock_and_delete_obsolete(db);
	return rc;
}
