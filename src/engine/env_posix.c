/*
 * env_posix.c
 *		The LsmEnv of standalone builds: POSIX files, pthread mutexes and
 *		the monotonic clock.
 *
 * Every operation retries EINTR and loops over short transfers, so callers
 * see a transfer either complete or fail with a message naming the path
 * (and offset, for data).  The Postgres build uses env_pg.c instead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "lsm_env.h"
#include "lsm_alloc.h"

/* An open file: its descriptor and, for messages, the path it was opened by. */
struct LsmFile
{
	int			fd;
	char	   *path;
};

struct LsmMutex
{
	pthread_mutex_t mu;
};

/* Mode of files and directories we create; like Postgres, owner only. */
#define POSIX_FILE_MODE 0600
#define POSIX_DIR_MODE	0700

/*
 * posix_open_file
 *		Open (and maybe create) path with LSM_OPEN_* flags.
 */
static LsmCode
posix_open_file(LsmEnv *env, const char *path, int flags, LsmFile **file,
				LsmStatus *st)
{
	int			oflags = O_CLOEXEC;
	int			fd;
	LsmFile    *f;

	*file = NULL;
	oflags |= (flags & LSM_OPEN_WRITE) ? O_RDWR : O_RDONLY;
	if (flags & LSM_OPEN_CREATE)
		oflags |= O_CREAT;
	if (flags & LSM_OPEN_EXCL)
		oflags |= O_EXCL;
	if (flags & LSM_OPEN_TRUNC)
		oflags |= O_TRUNC;

	f = lsm_malloc(sizeof(LsmFile));
	if (f == NULL || (f->path = lsm_strdup(path)) == NULL)
	{
		lsm_free(f);
		return lsm_status_set(st, LSM_NO_MEMORY, ENOMEM,
							  "out of memory opening file \"%s\"", path);
	}
	do
		fd = open(path, oflags, POSIX_FILE_MODE);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
	{
		int			save = errno;

		lsm_free(f->path);
		lsm_free(f);
		return lsm_status_errno(st, save, "could not open file \"%s\"", path);
	}
	f->fd = fd;
	*file = f;
	return LSM_OK;
}

/*
 * posix_read_some
 *		Read up to n bytes at off, stopping early only at end of file.
 */
static LsmCode
posix_read_some(LsmFile *f, void *buf, size_t n, uint64_t off, size_t *got,
				LsmStatus *st)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		r = pread(f->fd, (char *) buf + done, n - done,
							  (off_t) (off + done));

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			*got = done;
			return lsm_status_errno(st, errno,
									"could not read %zu bytes at offset %llu in file \"%s\"",
									n, (unsigned long long) off, f->path);
		}
		if (r == 0)
			break;
		done += (size_t) r;
	}
	*got = done;
	return LSM_OK;
}

/*
 * posix_read_at
 *		Read exactly n bytes at off.
 *
 * Running into end of file means some structure pointed past the data that
 * exists, which is corruption (a torn file), not an I/O failure.
 */
static LsmCode
posix_read_at(LsmFile *f, void *buf, size_t n, uint64_t off, LsmStatus *st)
{
	size_t		got;
	LsmCode		rc = posix_read_some(f, buf, n, off, &got, st);

	if (rc != LSM_OK)
		return rc;
	if (got < n)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "read of %zu bytes at offset %llu in \"%s\": got only %zu",
							  n, (unsigned long long) off, f->path, got);
	return LSM_OK;
}

/*
 * posix_write_at
 *		Write all n bytes at off.
 */
static LsmCode
posix_write_at(LsmFile *f, const void *buf, size_t n, uint64_t off,
			   LsmStatus *st)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		r = pwrite(f->fd, (const char *) buf + done, n - done,
							   (off_t) (off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
		{
			/* a zero-byte write makes no progress: report it as no space */
			int			err = (r == 0) ? ENOSPC : errno;

			return lsm_status_errno(st, err,
									"could not write %zu bytes at offset %llu in file \"%s\"",
									n, (unsigned long long) off, f->path);
		}
		done += (size_t) r;
	}
	return LSM_OK;
}

/*
 * posix_sync
 *		fdatasync: the data and the size are durable, other metadata need
 *		not be.
 */
static LsmCode
posix_sync(LsmFile *f, LsmStatus *st)
{
	int			r;

	do
		r = fdatasync(f->fd);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return lsm_status_errno(st, errno, "could not fsync file \"%s\"",
								f->path);
	return LSM_OK;
}

static LsmCode
posix_file_size(LsmFile *f, uint64_t *size, LsmStatus *st)
{
	struct stat sb;

	if (fstat(f->fd, &sb) < 0)
		return lsm_status_errno(st, errno, "could not stat file \"%s\"",
								f->path);
	*size = (uint64_t) sb.st_size;
	return LSM_OK;
}

static LsmCode
posix_truncate(LsmFile *f, uint64_t size, LsmStatus *st)
{
	int			r;

	do
		r = ftruncate(f->fd, (off_t) size);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return lsm_status_errno(st, errno,
								"could not truncate file \"%s\" to %llu bytes",
								f->path, (unsigned long long) size);
	return LSM_OK;
}

/*
 * posix_close_file
 *		Close and free the handle.  close() is not retried on EINTR: on
 *		Linux the descriptor is gone either way, and retrying could close
 *		a descriptor another thread just opened.
 */
static LsmCode
posix_close_file(LsmFile *f, LsmStatus *st)
{
	LsmCode		rc = LSM_OK;

	if (f == NULL)
		return LSM_OK;
	if (close(f->fd) < 0 && errno != EINTR)
		rc = lsm_status_errno(st, errno, "could not close file \"%s\"",
							  f->path);
	lsm_free(f->path);
	lsm_free(f);
	return rc;
}

/*
 * posix_mkdir_p
 *		Create path and any missing parents; an existing directory is fine.
 */
static LsmCode
posix_mkdir_p(LsmEnv *env, const char *path, LsmStatus *st)
{
	char	   *copy;
	char	   *p;
	struct stat sb;

	if (path[0] == '\0')
		return lsm_status_errno(st, ENOENT, "could not create directory \"\"");
	copy = lsm_strdup(path);
	if (copy == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, ENOMEM,
							  "out of memory creating directory \"%s\"", path);
	/* create each prefix ending just before a '/', then the whole path */
	for (p = copy + 1;; p++)
	{
		char		c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, POSIX_DIR_MODE) < 0 && errno != EEXIST)
		{
			int			save = errno;
			LsmCode		rc = lsm_status_errno(st, save,
											  "could not create directory \"%s\"",
											  copy);

			lsm_free(copy);
			return rc;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	lsm_free(copy);

	/* EEXIST above may have been a file of that name */
	if (stat(path, &sb) < 0)
		return lsm_status_errno(st, errno, "could not stat directory \"%s\"",
								path);
	if (!S_ISDIR(sb.st_mode))
		return lsm_status_errno(st, ENOTDIR,
								"could not create directory \"%s\"", path);
	return LSM_OK;
}

static LsmCode
posix_rename(LsmEnv *env, const char *from, const char *to, LsmStatus *st)
{
	if (rename(from, to) < 0)
		return lsm_status_errno(st, errno,
								"could not rename file \"%s\" to \"%s\"",
								from, to);
	return LSM_OK;
}

static LsmCode
posix_unlink(LsmEnv *env, const char *path, LsmStatus *st)
{
	if (unlink(path) < 0)
		return lsm_status_errno(st, errno, "could not remove file \"%s\"",
								path);
	return LSM_OK;
}

/*
 * posix_sync_dir
 *		fsync a directory so that names created, renamed or removed in it
 *		survive a crash.
 */
static LsmCode
posix_sync_dir(LsmEnv *env, const char *path, LsmStatus *st)
{
	int			fd;
	int			r;

	do
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return lsm_status_errno(st, errno, "could not open directory \"%s\"",
								path);
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	if (r < 0)
	{
		int			save = errno;

		close(fd);
		return lsm_status_errno(st, save, "could not fsync directory \"%s\"",
								path);
	}
	close(fd);
	return LSM_OK;
}

/*
 * posix_list_dir
 *		Call cb for every name in path except "." and "..", in directory
 *		order, until it returns false.
 */
static LsmCode
posix_list_dir(LsmEnv *env, const char *path, LsmDirCallback cb, void *arg,
			   LsmStatus *st)
{
	DIR		   *d = opendir(path);
	struct dirent *de;

	if (d == NULL)
		return lsm_status_errno(st, errno, "could not open directory \"%s\"",
								path);
	for (;;)
	{
		errno = 0;
		de = readdir(d);
		if (de == NULL)
		{
			int			save = errno;

			closedir(d);
			if (save != 0)
				return lsm_status_errno(st, save,
										"could not read directory \"%s\"", path);
			return LSM_OK;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!cb(arg, de->d_name))
			break;
	}
	closedir(d);
	return LSM_OK;
}

static bool
posix_exists(LsmEnv *env, const char *path)
{
	return access(path, F_OK) == 0;
}

/*
 * remove_tree_rec
 *		Remove path and, when it is a directory, everything below it.
 *
 * Symbolic links are removed, never followed, so a link inside a table's
 * directory cannot make us delete files elsewhere.  path is a malloc'd
 * buffer extended in place for children.
 */
static LsmCode
remove_tree_rec(const char *path, LsmStatus *st)
{
	struct stat sb;
	DIR		   *d;
	struct dirent *de;
	LsmCode		rc = LSM_OK;

	if (lstat(path, &sb) < 0)
	{
		if (errno == ENOENT)
			return LSM_OK;
		return lsm_status_errno(st, errno, "could not stat \"%s\"", path);
	}
	if (!S_ISDIR(sb.st_mode))
	{
		if (unlink(path) < 0 && errno != ENOENT)
			return lsm_status_errno(st, errno, "could not remove file \"%s\"",
									path);
		return LSM_OK;
	}

	d = opendir(path);
	if (d == NULL)
		return lsm_status_errno(st, errno, "could not open directory \"%s\"",
								path);
	for (;;)
	{
		char	   *child;
		size_t		len;

		errno = 0;
		de = readdir(d);
		if (de == NULL)
		{
			if (errno != 0)
				rc = lsm_status_errno(st, errno,
									  "could not read directory \"%s\"", path);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		len = strlen(path) + strlen(de->d_name) + 2;
		child = lsm_malloc(len);
		if (child == NULL)
		{
			rc = lsm_status_set(st, LSM_NO_MEMORY, ENOMEM,
								"out of memory removing directory \"%s\"", path);
			break;
		}
		snprintf(child, len, "%s/%s", path, de->d_name);
		rc = remove_tree_rec(child, st);
		lsm_free(child);
		if (rc != LSM_OK)
			break;
	}
	closedir(d);
	if (rc != LSM_OK)
		return rc;
	if (rmdir(path) < 0 && errno != ENOENT)
		return lsm_status_errno(st, errno, "could not remove directory \"%s\"",
								path);
	return LSM_OK;
}

/*
 * posix_remove_tree
 *		Remove a directory tree.  A path that does not exist is already
 *		removed, which keeps DROP and test cleanup idempotent.
 */
static LsmCode
posix_remove_tree(LsmEnv *env, const char *path, LsmStatus *st)
{
	return remove_tree_rec(path, st);
}

static uint64_t
posix_now_micros(LsmEnv *env)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* Sleep the whole interval even when signals interrupt it. */
static void
posix_sleep_micros(LsmEnv *env, uint64_t us)
{
	struct timespec req;
	struct timespec rem;

	req.tv_sec = (time_t) (us / 1000000u);
	req.tv_nsec = (long) (us % 1000000u) * 1000;
	while (nanosleep(&req, &rem) < 0 && errno == EINTR)
		req = rem;
}

/* NULL when out of memory or the mutex cannot be initialised. */
static LsmMutex *
posix_mutex_create(LsmEnv *env)
{
	LsmMutex   *m = lsm_malloc(sizeof(LsmMutex));

	if (m == NULL)
		return NULL;
	if (pthread_mutex_init(&m->mu, NULL) != 0)
	{
		lsm_free(m);
		return NULL;
	}
	return m;
}

static void
posix_mutex_destroy(LsmMutex *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	lsm_free(m);
}

static void
posix_mutex_lock(LsmMutex *m)
{
	pthread_mutex_lock(&m->mu);
}

static void
posix_mutex_unlock(LsmMutex *m)
{
	pthread_mutex_unlock(&m->mu);
}

/*
 * Reader slots: each thread takes the next number the first time it asks
 * and keeps it for its life.  Numbers are not reused, so a process that
 * runs many short-lived threads soon runs past a database's reader_slots
 * and its later threads get on the locked path; correct, only slower.
 * A forked child keeps its parent thread's number, which is fine only
 * because POSIX-env databases are not shared between processes.
 */
static int	posix_next_slot;
static __thread int posix_slot = -1;

static int
posix_reader_slot(LsmEnv *env)
{
	if (posix_slot < 0)
		posix_slot = __atomic_fetch_add(&posix_next_slot, 1, __ATOMIC_RELAXED);
	return posix_slot;
}

/* Stateless, so one shared, never-written instance serves every caller. */
static LsmEnv posix_env = {
	.open_file = posix_open_file,
	.read_at = posix_read_at,
	.read_some = posix_read_some,
	.write_at = posix_write_at,
	.sync = posix_sync,
	.file_size = posix_file_size,
	.truncate = posix_truncate,
	.close_file = posix_close_file,
	.mkdir_p = posix_mkdir_p,
	.rename = posix_rename,
	.unlink = posix_unlink,
	.sync_dir = posix_sync_dir,
	.list_dir = posix_list_dir,
	.exists = posix_exists,
	.remove_tree = posix_remove_tree,
	.now_micros = posix_now_micros,
	.sleep_micros = posix_sleep_micros,
	.mutex_create = posix_mutex_create,
	.mutex_destroy = posix_mutex_destroy,
	.mutex_lock = posix_mutex_lock,
	.mutex_unlock = posix_mutex_unlock,
	.reader_slot = posix_reader_slot,
	.host = NULL,
};

/*
 * lsm_env_fatal
 *		Shared state is beyond repair: let the host end the process its way
 *		(a server logs it and restarts), else say why and abort.
 */
void
lsm_env_fatal(LsmEnv *env, const char *msg)
{
	if (env != NULL && env->fatal != NULL)
		env->fatal(env, msg);
	fprintf(stderr, "lsm: %s\n", msg);
	fflush(stderr);
	abort();
}

/*
 * lsm_env_posix
 *		The process-wide POSIX env.
 */
LsmEnv *
lsm_env_posix(void)
{
	return &posix_env;
}
