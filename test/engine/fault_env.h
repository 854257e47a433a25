/*
 * fault_env.h
 *		A fault-injecting LsmEnv for crash and error-path tests.
 *
 * It wraps the POSIX env and adds two things:
 *
 * (a) Power loss.  For every file opened for writing through it, the env
 *	   remembers how many bytes have been made durable: the file's size at
 *	   its last sync (or when it was first opened, for a file that already
 *	   existed).  fault_env_crash() truncates every such file back to that
 *	   size, which is what a machine that lost power may leave behind.
 *	   Handles opened before the crash then refuse writes, syncs and
 *	   truncates ("the machine is off"), so an engine that is shut down after
 *	   the crash cannot write anything more; closing them works.
 *
 *	   Deliberately simplified, so tests stay deterministic:
 *	   - unsynced data is always lost in full, never partly kept;
 *	   - an overwrite of already-synced bytes is undone by a crash unless
 *		 a sync of the file started after the write returned (the old
 *		 bytes are kept until then): a preallocated file, such as a log
 *		 segment of zeros, loses what was written into it since its last
 *		 sync, and a sync does not cover a write still in progress;
 *	   - names are durable at once: creating, renaming and unlinking files
 *		 does not need sync_dir to survive the crash (a file created but
 *		 never synced survives as an empty file);
 *	   - files are tracked by the path string they were opened with, so a
 *		 test must spell each path the same way every time.
 *
 * (b) Failing writes.  fault_env_fail_writes_after(env, n, err) makes the
 *	   n-th write-like call from now (write_at, sync or sync_dir; n >= 1,
 *	   1 = the very next one) fail with errno err, e.g. ENOSPC or EIO; it is
 *	   one-shot.  fault_env_fail_writes_from() does the same but keeps failing
 *	   every later call until fault_env_heal(), like a disk that stays full.
 *	   A failed write writes nothing.
 *
 *	   fault_env_set_unsynced_renames(env, true) lifts the simplification
 *	   for renames: a crash then undoes, newest first, every rename made
 *	   since the last sync_dir of the directory it was made in (the file
 *	   goes back to its old name, its durable data with it).
 *
 * (c) Cheap syncs.  fault_env_set_real_sync(env, false) makes sync and
 *	   sync_dir skip the real fsync while keeping the bookkeeping of (a), so
 *	   simulated crashes behave exactly the same.  Tests that write many
 *	   small tables use it, since a real fsync per table dominates their
 *	   run time and proves nothing the simulation does not.
 *
 * Header-only (static functions) because each test is a single-file program
 * linked with liblsm.a; unused functions are marked so -Werror stays quiet.
 * Thread-safe: the engine may call it from background threads.
 */
#ifndef FAULT_ENV_H
#define FAULT_ENV_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm_env.h"

#define FAULT_UNUSED __attribute__((unused))

/* An overwrite of synced bytes, undone by a crash until a sync covers it. */
typedef struct FaultUndo
{
	uint64_t	id;
	uint64_t	off;
	size_t		len;
	bool		done;			/* the write returned */
	bool		covered;		/* done when a sync in progress started */
	uint8_t    *old;			/* the bytes it overwrote */
} FaultUndo;

typedef struct FaultTrack
{
	char	   *path;
	uint64_t	synced;			/* bytes that survive a crash */
	FaultUndo  *undo;			/* in write order */
	int			nundo;
	int			capundo;
} FaultTrack;

/* A rename not yet made durable by a sync_dir (see (a)). */
typedef struct FaultRename
{
	char	   *from;
	char	   *to;
} FaultRename;

typedef struct FaultEnv
{
	LsmEnv		env;			/* first, so an LsmEnv * is a FaultEnv * */
	LsmEnv	   *base;
	pthread_mutex_t mu;			/* protects everything below */
	FaultTrack *files;
	int			nfiles;
	int			cap;
	long		countdown;		/* write-like calls until the fault; 0 = none */
	bool		sticky;			/* keep failing after the first fault */
	bool		failing;		/* a sticky fault has fired */
	int			fail_errno;
	int			injected;		/* faults injected so far */
	int			generation;		/* bumped by every crash */
	uint64_t	next_undo_id;
	bool		real_sync;		/* pass syncs on to the POSIX env */
	bool		undo_renames;	/* (a): crashes undo unsynced renames */
	FaultRename *renames;		/* those made since their directory's sync */
	int			nrenames;
	int			caprenames;
	bool		hold_writes;	/* (d): write_at waits while set */
	int			held;			/* writers waiting there now */
	pthread_cond_t hold_cv;
} FaultEnv;

/* What the env hands out as an LsmFile *. */
typedef struct FaultFile
{
	FaultEnv   *fe;
	LsmFile    *inner;
	char	   *path;
	int			generation;		/* of the env when opened */
	bool		tracked;		/* opened for writing */
} FaultFile;

/* Find a tracked path; caller holds mu.  -1 when untracked. */
static FAULT_UNUSED int
fault_find(FaultEnv *fe, const char *path)
{
	int			i;

	for (i = 0; i < fe->nfiles; i++)
		if (strcmp(fe->files[i].path, path) == 0)
			return i;
	return -1;
}

/* Drop undo records: all of them, or only those a finished sync covered. */
static FAULT_UNUSED void
fault_drop_undo(FaultTrack *t, bool covered_only)
{
	int			k = 0;

	for (int j = 0; j < t->nundo; j++)
	{
		if (!covered_only || t->undo[j].covered)
			free(t->undo[j].old);
		else
			t->undo[k++] = t->undo[j];
	}
	t->nundo = k;
	if (k == 0)
	{
		free(t->undo);
		t->undo = NULL;
		t->capundo = 0;
	}
}

/* Forget a tracked path; caller holds mu. */
static FAULT_UNUSED void
fault_forget(FaultEnv *fe, int i)
{
	fault_drop_undo(&fe->files[i], false);
	free(fe->files[i].path);
	fe->files[i] = fe->files[--fe->nfiles];
}

/*
 * fault_track
 *		Start tracking path with synced bytes durable; an already tracked
 *		path keeps what it had.  Caller holds mu.
 */
static FAULT_UNUSED bool
fault_track(FaultEnv *fe, const char *path, uint64_t synced)
{
	if (fault_find(fe, path) >= 0)
		return true;
	if (fe->nfiles == fe->cap)
	{
		int			cap = fe->cap ? fe->cap * 2 : 16;
		FaultTrack *n = realloc(fe->files, cap * sizeof(FaultTrack));

		if (n == NULL)
			return false;
		fe->files = n;
		fe->cap = cap;
	}
	fe->files[fe->nfiles].path = strdup(path);
	if (fe->files[fe->nfiles].path == NULL)
		return false;
	fe->files[fe->nfiles].synced = synced;
	fe->files[fe->nfiles].undo = NULL;
	fe->files[fe->nfiles].nundo = 0;
	fe->files[fe->nfiles].capundo = 0;
	fe->nfiles++;
	return true;
}

/*
 * fault_should_fail
 *		Called before every write-like operation: decide whether this one is
 *		the injected failure.  Returns the errno to fail with, or 0.
 */
static FAULT_UNUSED int
fault_should_fail(FaultEnv *fe)
{
	int			err = 0;

	pthread_mutex_lock(&fe->mu);
	if (fe->failing)
		err = fe->fail_errno;
	else if (fe->countdown > 0 && --fe->countdown == 0)
	{
		err = fe->fail_errno;
		fe->failing = fe->sticky;
	}
	if (err != 0)
		fe->injected++;
	pthread_mutex_unlock(&fe->mu);
	return err;
}

/* A handle opened before the last crash may no longer change anything. */
static FAULT_UNUSED bool
fault_is_stale(FaultFile *ff)
{
	int			gen;

	pthread_mutex_lock(&ff->fe->mu);
	gen = ff->fe->generation;
	pthread_mutex_unlock(&ff->fe->mu);
	return gen != ff->generation;
}

static FAULT_UNUSED LsmCode
fault_stale_error(FaultFile *ff, const char *what, LsmStatus *st)
{
	return lsm_status_set(st, LSM_IO_ERROR, EIO,
						  "could not %s file \"%s\": simulated crash", what,
						  ff->path);
}

static FAULT_UNUSED LsmCode
fault_open_file(LsmEnv *env, const char *path, int flags, LsmFile **file,
				LsmStatus *st)
{
	FaultEnv   *fe = (FaultEnv *) env;
	FaultFile  *ff = calloc(1, sizeof(FaultFile));
	LsmCode		rc;

	*file = NULL;
	if (ff == NULL || (ff->path = strdup(path)) == NULL)
	{
		free(ff);
		return lsm_status_set(st, LSM_NO_MEMORY, ENOMEM,
							  "out of memory opening file \"%s\"", path);
	}
	rc = fe->base->open_file(fe->base, path, flags, &ff->inner, st);
	if (rc != LSM_OK)
	{
		free(ff->path);
		free(ff);
		return rc;
	}
	ff->fe = fe;
	if (flags & LSM_OPEN_WRITE)
	{
		uint64_t	size = 0;
		bool		ok;

		/* whatever was there before we first saw it counts as durable */
		rc = fe->base->file_size(ff->inner, &size, st);
		if (rc != LSM_OK)
		{
			fe->base->close_file(ff->inner, NULL);
			free(ff->path);
			free(ff);
			return rc;
		}
		pthread_mutex_lock(&fe->mu);
		ok = fault_track(fe, path, size);
		pthread_mutex_unlock(&fe->mu);
		if (!ok)
		{
			fe->base->close_file(ff->inner, NULL);
			free(ff->path);
			free(ff);
			return lsm_status_set(st, LSM_NO_MEMORY, ENOMEM,
								  "out of memory opening file \"%s\"", path);
		}
		ff->tracked = true;
	}
	pthread_mutex_lock(&fe->mu);
	ff->generation = fe->generation;
	pthread_mutex_unlock(&fe->mu);
	*file = (LsmFile *) ff;
	return LSM_OK;
}

static FAULT_UNUSED LsmCode
fault_read_at(LsmFile *f, void *buf, size_t n, uint64_t off, LsmStatus *st)
{
	FaultFile  *ff = (FaultFile *) f;

	return ff->fe->base->read_at(ff->inner, buf, n, off, st);
}

static FAULT_UNUSED LsmCode
fault_read_some(LsmFile *f, void *buf, size_t n, uint64_t off, size_t *got,
				LsmStatus *st)
{
	FaultFile  *ff = (FaultFile *) f;

	return ff->fe->base->read_some(ff->inner, buf, n, off, got, st);
}

static FAULT_UNUSED LsmCode
fault_write_at(LsmFile *f, const void *buf, size_t n, uint64_t off,
			   LsmStatus *st)
{
	FaultFile  *ff = (FaultFile *) f;
	int			err;

	if (fault_is_stale(ff))
		return fault_stale_error(ff, "write", st);
	if ((err = fault_should_fail(ff->fe)) != 0)
		return lsm_status_errno(st, err,
								"could not write %zu bytes at offset %llu in file \"%s\" (injected)",
								n, (unsigned long long) off, ff->path);
	FaultEnv   *fe = ff->fe;
	uint64_t	undo_id = 0;
	LsmCode		rc;
	int			i;

	pthread_mutex_lock(&fe->mu);
	if (fe->hold_writes)
	{
		fe->held++;
		while (fe->hold_writes)
			pthread_cond_wait(&fe->hold_cv, &fe->mu);
		fe->held--;
	}
	/* keep the synced bytes this overwrites, for a crash to put back */
	i = fault_find(fe, ff->path);
	if (i >= 0 && off < fe->files[i].synced && n > 0)
	{
		FaultTrack *t = &fe->files[i];
		size_t		len = (size_t) (t->synced - off < n ? t->synced - off : n);
		uint8_t    *old = malloc(len);
		LsmStatus	rst;

		if (t->nundo == t->capundo)
		{
			int			cap = t->capundo ? t->capundo * 2 : 16;
			FaultUndo  *u = realloc(t->undo, cap * sizeof(FaultUndo));

			if (u != NULL)
			{
				t->undo = u;
				t->capundo = cap;
			}
		}
		if (old == NULL || t->nundo == t->capundo)
		{
			pthread_mutex_unlock(&fe->mu);
			free(old);
			return lsm_status_set(st, LSM_NO_MEMORY, ENOMEM,
								  "fault env could not keep the bytes a write to \"%s\" overwrites",
								  ff->path);
		}
		if (fe->base->read_at(ff->inner, old, len, off, &rst) != LSM_OK)
		{
			pthread_mutex_unlock(&fe->mu);
			free(old);
			*st = rst;
			return rst.code;
		}
		undo_id = ++fe->next_undo_id;
		t->undo[t->nundo].id = undo_id;
		t->undo[t->nundo].off = off;
		t->undo[t->nundo].len = len;
		t->undo[t->nundo].done = false;
		t->undo[t->nundo].covered = false;
		t->undo[t->nundo].old = old;
		t->nundo++;
	}
	pthread_mutex_unlock(&fe->mu);
	rc = fe->base->write_at(ff->inner, buf, n, off, st);
	if (undo_id != 0)
	{
		pthread_mutex_lock(&fe->mu);
		i = fault_find(fe, ff->path);
		for (int j = i >= 0 ? fe->files[i].nundo - 1 : -1; j >= 0; j--)
			if (fe->files[i].undo[j].id == undo_id)
			{
				fe->files[i].undo[j].done = true;
				break;
			}
		pthread_mutex_unlock(&fe->mu);
	}
	return rc;
}

/*
 * fault_sync
 *		Sync, then record the file's current size as durable.
 */
static FAULT_UNUSED LsmCode
fault_sync(LsmFile *f, LsmStatus *st)
{
	FaultFile  *ff = (FaultFile *) f;
	FaultEnv   *fe = ff->fe;
	uint64_t	size;
	LsmCode		rc;
	int			err;
	int			i;

	if (fault_is_stale(ff))
		return fault_stale_error(ff, "fsync", st);
	if ((err = fault_should_fail(fe)) != 0)
		return lsm_status_errno(st, err, "could not fsync file \"%s\" (injected)",
								ff->path);
	/* what this sync covers: the writes that returned before it started */
	pthread_mutex_lock(&fe->mu);
	rc = fe->base->file_size(ff->inner, &size, st);
	i = fault_find(fe, ff->path);
	for (int j = 0; i >= 0 && j < fe->files[i].nundo; j++)
		if (fe->files[i].undo[j].done)
			fe->files[i].undo[j].covered = true;
	pthread_mutex_unlock(&fe->mu);
	if (rc != LSM_OK)
		return rc;
	rc = fe->real_sync ? fe->base->sync(ff->inner, st) : LSM_OK;
	if (rc != LSM_OK)
		return rc;
	pthread_mutex_lock(&fe->mu);
	/* the machine went off during the sync: it did not finish */
	if (fe->generation != ff->generation)
	{
		pthread_mutex_unlock(&fe->mu);
		return fault_stale_error(ff, "fsync", st);
	}
	i = fault_find(fe, ff->path);
	if (i >= 0)
	{
		if (size > fe->files[i].synced)
			fe->files[i].synced = size;
		fault_drop_undo(&fe->files[i], true);
	}
	pthread_mutex_unlock(&fe->mu);
	return LSM_OK;
}

static FAULT_UNUSED LsmCode
fault_file_size(LsmFile *f, uint64_t *size, LsmStatus *st)
{
	FaultFile  *ff = (FaultFile *) f;

	return ff->fe->base->file_size(ff->inner, size, st);
}

/* Shrinking below the durable size shrinks what a crash leaves, too. */
static FAULT_UNUSED LsmCode
fault_truncate(LsmFile *f, uint64_t size, LsmStatus *st)
{
	FaultFile  *ff = (FaultFile *) f;
	FaultEnv   *fe = ff->fe;
	LsmCode		rc;
	int			i;

	if (fault_is_stale(ff))
		return fault_stale_error(ff, "truncate", st);
	rc = fe->base->truncate(ff->inner, size, st);
	if (rc != LSM_OK)
		return rc;
	pthread_mutex_lock(&fe->mu);
	i = fault_find(fe, ff->path);
	if (i >= 0 && fe->files[i].synced > size)
		fe->files[i].synced = size;
	pthread_mutex_unlock(&fe->mu);
	return LSM_OK;
}

static FAULT_UNUSED LsmCode
fault_close_file(LsmFile *f, LsmStatus *st)
{
	FaultFile  *ff = (FaultFile *) f;
	LsmCode		rc;

	if (ff == NULL)
		return LSM_OK;
	rc = ff->fe->base->close_file(ff->inner, st);
	free(ff->path);
	free(ff);
	return rc;
}

static FAULT_UNUSED LsmCode
fault_mkdir_p(LsmEnv *env, const char *path, LsmStatus *st)
{
	FaultEnv   *fe = (FaultEnv *) env;

	return fe->base->mkdir_p(fe->base, path, st);
}

/* Move the tracking of from to to; caller holds mu. */
static FAULT_UNUSED void
fault_track_rename(FaultEnv *fe, const char *from, const char *to)
{
	int			i;

	i = fault_find(fe, to);
	if (i >= 0)
		fault_forget(fe, i);
	i = fault_find(fe, from);
	if (i >= 0)
	{
		char	   *p = strdup(to);

		if (p != NULL)
		{
			free(fe->files[i].path);
			fe->files[i].path = p;
		}
		else
			fault_forget(fe, i);
	}
}

/* The durable size moves with the name; a replaced target is forgotten. */
static FAULT_UNUSED LsmCode
fault_rename(LsmEnv *env, const char *from, const char *to, LsmStatus *st)
{
	FaultEnv   *fe = (FaultEnv *) env;
	LsmCode		rc = fe->base->rename(fe->base, from, to, st);

	if (rc != LSM_OK)
		return rc;
	pthread_mutex_lock(&fe->mu);
	fault_track_rename(fe, from, to);
	if (fe->undo_renames)
	{
		if (fe->nrenames == fe->caprenames)
		{
			fe->caprenames = fe->caprenames ? fe->caprenames * 2 : 16;
			fe->renames = realloc(fe->renames, fe->caprenames * sizeof(FaultRename));
			if (fe->renames == NULL)
			{
				perror("realloc");
				exit(2);
			}
		}
		fe->renames[fe->nrenames].from = strdup(from);
		fe->renames[fe->nrenames].to = strdup(to);
		if (fe->renames[fe->nrenames].from == NULL || fe->renames[fe->nrenames].to == NULL)
		{
			perror("strdup");
			exit(2);
		}
		fe->nrenames++;
	}
	pthread_mutex_unlock(&fe->mu);
	return LSM_OK;
}

/* Whether path names an entry directly in directory dir. */
static FAULT_UNUSED bool
fault_in_dir(const char *path, const char *dir)
{
	size_t		n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/' &&
		strchr(path + n + 1, '/') == NULL;
}

static FAULT_UNUSED LsmCode
fault_unlink(LsmEnv *env, const char *path, LsmStatus *st)
{
	FaultEnv   *fe = (FaultEnv *) env;
	LsmCode		rc = fe->base->unlink(fe->base, path, st);
	int			i;

	if (rc != LSM_OK)
		return rc;
	pthread_mutex_lock(&fe->mu);
	i = fault_find(fe, path);
	if (i >= 0)
		fault_forget(fe, i);
	pthread_mutex_unlock(&fe->mu);
	return LSM_OK;
}

static FAULT_UNUSED LsmCode
fault_sync_dir(LsmEnv *env, const char *path, LsmStatus *st)
{
	FaultEnv   *fe = (FaultEnv *) env;
	int			err;
	LsmCode		rc = LSM_OK;
	int			k = 0;

	if ((err = fault_should_fail(fe)) != 0)
		return lsm_status_errno(st, err,
								"could not fsync directory \"%s\" (injected)",
								path);
	if (fe->real_sync)
		rc = fe->base->sync_dir(fe->base, path, st);
	if (rc != LSM_OK)
		return rc;
	/* the renames made in this directory are durable now */
	pthread_mutex_lock(&fe->mu);
	for (int j = 0; j < fe->nrenames; j++)
	{
		if (fault_in_dir(fe->renames[j].to, path))
		{
			free(fe->renames[j].from);
			free(fe->renames[j].to);
		}
		else
			fe->renames[k++] = fe->renames[j];
	}
	fe->nrenames = k;
	pthread_mutex_unlock(&fe->mu);
	return LSM_OK;
}

static FAULT_UNUSED LsmCode
fault_list_dir(LsmEnv *env, const char *path, LsmDirCallback cb, void *arg,
			   LsmStatus *st)
{
	FaultEnv   *fe = (FaultEnv *) env;

	return fe->base->list_dir(fe->base, path, cb, arg, st);
}

static FAULT_UNUSED bool
fault_exists(LsmEnv *env, const char *path)
{
	FaultEnv   *fe = (FaultEnv *) env;

	return fe->base->exists(fe->base, path);
}

/* Forget every tracked file under path ("path/..."), then remove it. */
static FAULT_UNUSED LsmCode
fault_remove_tree(LsmEnv *env, const char *path, LsmStatus *st)
{
	FaultEnv   *fe = (FaultEnv *) env;
	LsmCode		rc = fe->base->remove_tree(fe->base, path, st);
	size_t		len = strlen(path);
	int			i;

	if (rc != LSM_OK)
		return rc;
	pthread_mutex_lock(&fe->mu);
	for (i = fe->nfiles - 1; i >= 0; i--)
	{
		const char *p = fe->files[i].path;

		if (strncmp(p, path, len) == 0 && (p[len] == '\0' || p[len] == '/'))
			fault_forget(fe, i);
	}
	pthread_mutex_unlock(&fe->mu);
	return LSM_OK;
}

static FAULT_UNUSED uint64_t
fault_now_micros(LsmEnv *env)
{
	FaultEnv   *fe = (FaultEnv *) env;

	return fe->base->now_micros(fe->base);
}

static FAULT_UNUSED void
fault_sleep_micros(LsmEnv *env, uint64_t us)
{
	FaultEnv   *fe = (FaultEnv *) env;

	fe->base->sleep_micros(fe->base, us);
}

static FAULT_UNUSED LsmMutex *
fault_mutex_create(LsmEnv *env)
{
	FaultEnv   *fe = (FaultEnv *) env;

	return fe->base->mutex_create(fe->base);
}

/*
 * The mutex ops carry no env pointer, so they must go straight to the
 * POSIX env that created the mutex.
 */
static FAULT_UNUSED void
fault_mutex_destroy(LsmMutex *m)
{
	lsm_env_posix()->mutex_destroy(m);
}

static FAULT_UNUSED void
fault_mutex_lock(LsmMutex *m)
{
	lsm_env_posix()->mutex_lock(m);
}

static FAULT_UNUSED void
fault_mutex_unlock(LsmMutex *m)
{
	lsm_env_posix()->mutex_unlock(m);
}

/*
 * fault_env_new
 *		A fresh fault env over the POSIX env, with no faults armed.  NULL
 *		when out of memory.  Free with fault_env_free after every handle
 *		opened through it is closed.
 */
static FAULT_UNUSED LsmEnv *
fault_env_new(void)
{
	FaultEnv   *fe = calloc(1, sizeof(FaultEnv));

	if (fe == NULL)
		return NULL;
	fe->base = lsm_env_posix();
	fe->real_sync = true;
	pthread_mutex_init(&fe->mu, NULL);
	pthread_cond_init(&fe->hold_cv, NULL);
	fe->env.open_file = fault_open_file;
	fe->env.read_at = fault_read_at;
	fe->env.read_some = fault_read_some;
	fe->env.write_at = fault_write_at;
	fe->env.sync = fault_sync;
	fe->env.file_size = fault_file_size;
	fe->env.truncate = fault_truncate;
	fe->env.close_file = fault_close_file;
	fe->env.mkdir_p = fault_mkdir_p;
	fe->env.rename = fault_rename;
	fe->env.unlink = fault_unlink;
	fe->env.sync_dir = fault_sync_dir;
	fe->env.list_dir = fault_list_dir;
	fe->env.exists = fault_exists;
	fe->env.remove_tree = fault_remove_tree;
	fe->env.now_micros = fault_now_micros;
	fe->env.sleep_micros = fault_sleep_micros;
	fe->env.mutex_create = fault_mutex_create;
	fe->env.mutex_destroy = fault_mutex_destroy;
	fe->env.mutex_lock = fault_mutex_lock;
	fe->env.mutex_unlock = fault_mutex_unlock;
	fe->env.host = fe;
	return &fe->env;
}

static FAULT_UNUSED void
fault_env_free(LsmEnv *env)
{
	FaultEnv   *fe = (FaultEnv *) env;
	int			i;

	if (fe == NULL)
		return;
	for (i = 0; i < fe->nfiles; i++)
	{
		fault_drop_undo(&fe->files[i], false);
		free(fe->files[i].path);
	}
	free(fe->files);
	for (i = 0; i < fe->nrenames; i++)
	{
		free(fe->renames[i].from);
		free(fe->renames[i].to);
	}
	free(fe->renames);
	pthread_cond_destroy(&fe->hold_cv);
	pthread_mutex_destroy(&fe->mu);
	free(fe);
}

/*
 * fault_env_crash
 *		Simulate power loss: truncate every tracked file to its durable size
 *		and make handles opened so far refuse further changes.  Returns the
 *		number of files that lost data, or -1 when truncating failed (the
 *		reason is printed: a test cannot go on meaningfully).
 */
static FAULT_UNUSED int
fault_env_crash(LsmEnv *env)
{
	FaultEnv   *fe = (FaultEnv *) env;
	int			lost = 0;
	int			i;

	pthread_mutex_lock(&fe->mu);
	fe->generation++;
	/* unsynced renames first, newest first (see (a)) */
	for (i = fe->nrenames - 1; i >= 0; i--)
	{
		FaultRename *r = &fe->renames[i];
		LsmStatus	st;

		if (fe->base->exists(fe->base, r->to) &&
			fe->base->rename(fe->base, r->to, r->from, &st) == LSM_OK)
			fault_track_rename(fe, r->to, r->from);
		free(r->from);
		free(r->to);
	}
	fe->nrenames = 0;
	for (i = 0; i < fe->nfiles; i++)
	{
		LsmStatus	st;
		LsmFile    *f;
		uint64_t	size;
		bool		lost_here;

		lsm_status_clear(&st);
		if (!fe->base->exists(fe->base, fe->files[i].path))
			continue;
		if (fe->base->open_file(fe->base, fe->files[i].path, LSM_OPEN_WRITE,
								&f, &st) != LSM_OK)
			goto fail;
		/* overwrites of synced bytes first, newest first, then the tail */
		lost_here = fe->files[i].nundo > 0;
		for (int j = fe->files[i].nundo - 1; j >= 0; j--)
		{
			FaultUndo  *u = &fe->files[i].undo[j];

			if (fe->base->write_at(f, u->old, u->len, u->off, &st) != LSM_OK)
			{
				fe->base->close_file(f, NULL);
				goto fail;
			}
		}
		fault_drop_undo(&fe->files[i], false);
		if (fe->base->file_size(f, &size, &st) != LSM_OK ||
			(size > fe->files[i].synced &&
			 fe->base->truncate(f, fe->files[i].synced, &st) != LSM_OK))
		{
			fe->base->close_file(f, NULL);
			goto fail;
		}
		if (lost_here || size > fe->files[i].synced)
			lost++;
		fe->base->close_file(f, NULL);
		continue;
fail:
		fprintf(stderr, "fault_env_crash: %s\n", st.msg);
		pthread_mutex_unlock(&fe->mu);
		return -1;
	}
	pthread_mutex_unlock(&fe->mu);
	return lost;
}

/* Arm a fault n write-like calls from now; see the comment at the top. */
static FAULT_UNUSED void
fault_arm(LsmEnv *env, long n, int err, bool sticky)
{
	FaultEnv   *fe = (FaultEnv *) env;

	pthread_mutex_lock(&fe->mu);
	fe->countdown = n > 0 ? n : 0;
	fe->fail_errno = err;
	fe->sticky = sticky;
	fe->failing = false;
	pthread_mutex_unlock(&fe->mu);
}

/* The n-th next write/sync (1 = the next) fails with err, once. */
static FAULT_UNUSED void
fault_env_fail_writes_after(LsmEnv *env, long n, int err)
{
	fault_arm(env, n, err, false);
}

/* The n-th next write/sync and every later one fail until fault_env_heal. */
static FAULT_UNUSED void
fault_env_fail_writes_from(LsmEnv *env, long n, int err)
{
	fault_arm(env, n, err, true);
}

/* Whether syncs reach the disk; see (c) at the top.  Set it before use. */
static FAULT_UNUSED void
fault_env_set_real_sync(LsmEnv *env, bool real)
{
	FaultEnv   *fe = (FaultEnv *) env;

	pthread_mutex_lock(&fe->mu);
	fe->real_sync = real;
	pthread_mutex_unlock(&fe->mu);
}

/* Whether crashes undo renames not made durable by a sync_dir; see (a). */
static FAULT_UNUSED void
fault_env_set_unsynced_renames(LsmEnv *env, bool on)
{
	FaultEnv   *fe = (FaultEnv *) env;

	pthread_mutex_lock(&fe->mu);
	fe->undo_renames = on;
	pthread_mutex_unlock(&fe->mu);
}

/*
 * (d) Held writes: while hold is set, every write_at waits before writing
 * (a writer the scheduler has put aside); fault_env_held_writes says how
 * many wait now.
 */
static FAULT_UNUSED void
fault_env_hold_writes(LsmEnv *env, bool hold)
{
	FaultEnv   *fe = (FaultEnv *) env;

	pthread_mutex_lock(&fe->mu);
	fe->hold_writes = hold;
	if (!hold)
		pthread_cond_broadcast(&fe->hold_cv);
	pthread_mutex_unlock(&fe->mu);
}

static FAULT_UNUSED int
fault_env_held_writes(LsmEnv *env)
{
	FaultEnv   *fe = (FaultEnv *) env;
	int			n;

	pthread_mutex_lock(&fe->mu);
	n = fe->held;
	pthread_mutex_unlock(&fe->mu);
	return n;
}

/* Disarm any fault. */
static FAULT_UNUSED void
fault_env_heal(LsmEnv *env)
{
	fault_arm(env, 0, 0, false);
}

/* How many failures were injected since the env was created. */
static FAULT_UNUSED int
fault_env_injected(LsmEnv *env)
{
	FaultEnv   *fe = (FaultEnv *) env;
	int			n;

	pthread_mutex_lock(&fe->mu);
	n = fe->injected;
	pthread_mutex_unlock(&fe->mu);
	return n;
}

/* Durable size of a tracked path, or -1 when it is not tracked. */
static FAULT_UNUSED int64_t
fault_env_synced_size(LsmEnv *env, const char *path)
{
	FaultEnv   *fe = (FaultEnv *) env;
	int64_t		r = -1;
	int			i;

	pthread_mutex_lock(&fe->mu);
	i = fault_find(fe, path);
	if (i >= 0)
		r = (int64_t) fe->files[i].synced;
	pthread_mutex_unlock(&fe->mu);
	return r;
}

#endif							/* FAULT_ENV_H */
