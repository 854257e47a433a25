/*
 * env_shared.c
 *		The LsmEnv for engines shared by processes (see lsm_env_shared.h):
 *		files whose descriptors are per process, process-shared mutexes.
 *
 * Shared part (lsm_malloc'd, so in the shared heap): the env itself, one
 * LsmFile per open file (path, flags, a unique 64-bit id), and a ring of
 * the ids of the last CLOSED_RING files closed, numbered by a "closed
 * generation" counter.
 *
 * Private part (static, so per process): a table id -> descriptor of at
 * most LOCAL_FDS entries.  A process opens a file the first time it uses
 * it (same access mode, without CREATE/EXCL/TRUNC: the creator did that)
 * and evicts the least recently used unpinned entry when the table is
 * full.  Every transfer uses pread/pwrite with explicit offsets, so no
 * process depends on a file offset and descriptors need not be shared.
 *
 * Why a ring of closed ids rather than "close everything when anyone
 * closes anything": the engine closes files all the time (each flush and
 * compaction closes its inputs, outputs, WAL segments), and with dozens of
 * backends each one would then reopen every SSTable it reads after every
 * flush anywhere.  With the ring a process drops exactly the descriptors
 * of files that were closed, and only when it has fallen more than
 * CLOSED_RING closes behind does it fall back to dropping everything
 * (correct, merely slower).  Dropping a descriptor matters because a
 * descriptor of an unlinked file keeps its disk space allocated until the
 * last one is closed.  It never matters for correctness: ids are never
 * reused and a closed LsmFile is never used again.
 *
 * Threads: the private table is guarded by a process-local mutex, and an
 * entry is pinned while a thread does I/O on its descriptor, so that
 * neither eviction nor invalidation can close (and the kernel reuse) a
 * descriptor under a transfer in progress.  A pinned entry that must go is
 * marked doomed and closed by its last user.  If every entry is pinned, a
 * transfer uses a descriptor of its own, closed when it is done.
 *
 * fork(): the child inherits the parent's table, including pins held by
 * parent threads that do not exist in the child.  The table records the
 * pid that owns it; at its first env call a child (whose pid differs)
 * closes every inherited descriptor -- its own copies, so the parent is
 * unaffected -- and starts afresh.  Because glibc no longer caches
 * getpid(), the pid compared is cached in my_pid, refreshed by a
 * pthread_atfork child handler; the handlers also hold the table's mutex
 * across fork() so the child never inherits it locked.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "lsm_alloc.h"
#include "lsm_env.h"
#include "lsm_env_shared.h"

#define SHARED_ENV_MAGIC	UINT64_C(0x4c534d53454e5631)	/* "LSMSENV1" */
#define SHARED_FILE_MAGIC	0x4c534646u /* "LSFF" */

/* Closes remembered for processes catching up; see the header comment. */
#define CLOSED_RING			256

/* Descriptors one process keeps open at most. */
#define LOCAL_FDS			128

#define SHARED_FILE_MODE	0600

typedef struct SharedEnv
{
	LsmEnv		env;			/* first: LsmEnv * is SharedEnv * */
	uint64_t	magic;
	uint64_t	instance;		/* tells envs apart in the private table */
	uint64_t	next_id;		/* atomic; last file id handed out */
	uint64_t	closed_gen;		/* files closed so far; written under ring_mu */
	pthread_mutex_t ring_mu;
	uint64_t	closed_ring[CLOSED_RING];	/* id of close g at g % CLOSED_RING */
} SharedEnv;

/* Shared: no descriptor here, each process has its own. */
struct LsmFile
{
	SharedEnv  *env;
	uint64_t	id;
	uint32_t	magic;
	int			flags;			/* LSM_OPEN_* it was opened with */
	uint64_t	writeback_from; /* written bytes below it are on their way */
	char		path[];		/* NUL-terminated */
};

/*
 * Bytes written to a file after which their writeback is started
 * (sync_file_range), as Postgres's checkpoint_flush_after does.  A table
 * file built by a flush or a compaction (tens of MB) was otherwise all
 * still in the page cache at its fdatasync, which then queued it on the
 * device at once, and every commit's fsync of the log waited behind it:
 * 10-12 ms, every time a memtable was flushed (perf trace, 4 clients).
 * In pieces, a commit's fsync waits behind one piece at most.  Only for
 * files this env created (table files, the log's fresh segments and the
 * manifests): the log's records are appended by committers through
 * segments opened without LSM_OPEN_CREATE, and a commit with synchronous
 * commit off must not start the device's work in its write.
 */
#define WRITEBACK_AFTER		(512 * 1024)

struct LsmMutex
{
	pthread_mutex_t mu;
	SharedEnv  *env;			/* whose fatal hook a dead holder calls */
};

/* One cached descriptor of this process; id 0 = empty slot. */
typedef struct LocalFd
{
	uint64_t	id;
	int			fd;
	int			pins;			/* transfers using fd right now */
	bool		doomed;			/* close when pins drops to 0 */
	uint64_t	last_use;
} LocalFd;

/* The private table; everything in it is guarded by mu. */
static struct
{
	pthread_mutex_t mu;
	pid_t		owner_pid;		/* process whose descriptors these are */
	const SharedEnv *env;		/* the env the entries belong to */
	uint64_t	instance;		/* and its instance number */
	uint64_t	seen_gen;		/* closes of env already acted on */
	uint64_t	clock;			/* for LRU */
	LocalFd		slots[LOCAL_FDS];
}			local = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pid_t my_pid;			/* getpid(), refreshed after fork() */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static uint64_t instance_counter;

/* A descriptor acquired for one transfer. */
typedef struct FdRef
{
	int			fd;
	int			slot;			/* -1: a private descriptor to close after */
} FdRef;

static void
fork_prepare(void)
{
	pthread_mutex_lock(&local.mu);
}

static void
fork_parent(void)
{
	pthread_mutex_unlock(&local.mu);
}

/*
 * This process's reader slot (lsm_env_shared_set_reader_slot), -1 until the
 * host sets one.  A child starts without one: it must not share its
 * parent's.
 */
static int	my_reader_slot = -1;

static void
fork_child(void)
{
	my_pid = getpid();
	my_reader_slot = -1;
	pthread_mutex_unlock(&local.mu);
}

static void
fork_setup(void)
{
	my_pid = getpid();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/*
 * shared_lock
 *		Lock a process-shared mutex.  A robust mutex reports a holder that
 *		died; what it protected may be half-updated and every process
 *		relies on it, so stop rather than go on: the env's fatal hook (a
 *		server logs a PANIC and restarts on fresh shared memory), else
 *		abort().
 */
static void
shared_lock(SharedEnv *e, pthread_mutex_t *mu)
{
	int			rc = pthread_mutex_lock(mu);
	char		msg[128];

	if (rc == 0)
		return;
	if (rc == EOWNERDEAD)
		snprintf(msg, sizeof(msg),
				 "shared env: a process died holding mutex %p", (void *) mu);
	else
		snprintf(msg, sizeof(msg), "shared env: could not lock mutex %p: %s",
				 (void *) mu, strerror(rc));
	lsm_env_fatal(&e->env, msg);
}

static bool
shared_mutex_init(pthread_mutex_t *mu)
{
	pthread_mutexattr_t attr;
	bool		ok;

	if (pthread_mutexattr_init(&attr) != 0)
		return false;
	ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0 &&
		pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
		pthread_mutex_init(mu, &attr) == 0;
	pthread_mutexattr_destroy(&attr);
	return ok;
}

/*
 * Private table helpers; all called with local.mu held.
 */

static void
slot_clear(LocalFd *s)
{
	s->id = 0;
	s->fd = -1;
	s->pins = 0;
	s->doomed = false;
	s->last_use = 0;
}

/* Close an entry now if no transfer uses it, else when the last one ends. */
static void
slot_drop(LocalFd *s)
{
	if (s->id == 0)
		return;
	if (s->pins > 0)
	{
		s->doomed = true;
		return;
	}
	close(s->fd);
	slot_clear(s);
}

static void
drop_all(void)
{
	int			i;

	for (i = 0; i < LOCAL_FDS; i++)
		slot_drop(&local.slots[i]);
}

/* The live (not doomed) entry of id, or -1. */
static int
find_slot(uint64_t id)
{
	int			i;

	for (i = 0; i < LOCAL_FDS; i++)
		if (local.slots[i].id == id && !local.slots[i].doomed)
			return i;
	return -1;
}

/*
 * cache_insert
 *		Enter fd for id, pinned once, evicting the least recently used
 *		unpinned entry if the table is full.  -1 if every entry is pinned
 *		(the caller then owns fd).
 */
static int
cache_insert(uint64_t id, int fd)
{
	int			victim = -1;
	int			i;

	for (i = 0; i < LOCAL_FDS; i++)
	{
		LocalFd    *s = &local.slots[i];

		if (s->id == 0)
		{
			victim = i;
			break;
		}
		if (s->pins == 0 && !s->doomed &&
			(victim < 0 || s->last_use < local.slots[victim].last_use))
			victim = i;
	}
	if (victim < 0)
		return -1;
	slot_drop(&local.slots[victim]);
	local.slots[victim].id = id;
	local.slots[victim].fd = fd;
	local.slots[victim].pins = 1;
	local.slots[victim].last_use = ++local.clock;
	return victim;
}

/*
 * catch_up
 *		Drop the descriptors of files other processes (or threads) closed
 *		since we last looked.
 */
static void
catch_up(SharedEnv *e)
{
	uint64_t	ids[CLOSED_RING];
	uint64_t	gen;
	uint64_t	g;
	int			n = 0;
	bool		all = false;
	int			i;

	shared_lock(e, &e->ring_mu);
	gen = e->closed_gen;
	if (gen - local.seen_gen > CLOSED_RING)
		all = true;				/* the ring has been overwritten: forget all */
	else
		for (g = local.seen_gen; g < gen; g++)
			ids[n++] = e->closed_ring[g % CLOSED_RING];
	pthread_mutex_unlock(&e->ring_mu);

	if (all)
		drop_all();
	else
		for (i = 0; i < n; i++)
		{
			int			s = find_slot(ids[i]);

			if (s >= 0)
				slot_drop(&local.slots[s]);
		}
	local.seen_gen = gen;
}

/*
 * local_enter
 *		Lock the private table and bring it up to date for env e: forget a
 *		parent's inherited descriptors, switch to e if the table belonged
 *		to another env, and drop descriptors of files closed elsewhere.
 */
static void
local_enter(SharedEnv *e)
{
	pthread_once(&fork_once, fork_setup);
	pthread_mutex_lock(&local.mu);
	if (local.owner_pid != my_pid)
	{
		int			i;

		/* our copies of the parent's descriptors; its pins mean nothing here */
		for (i = 0; i < LOCAL_FDS; i++)
		{
			if (local.slots[i].id != 0)
				close(local.slots[i].fd);
			slot_clear(&local.slots[i]);
		}
		local.owner_pid = my_pid;
		local.env = NULL;
	}
	if (local.env != e || local.instance != e->instance)
	{
		drop_all();
		local.env = e;
		local.instance = e->instance;
		local.seen_gen = __atomic_load_n(&e->closed_gen, __ATOMIC_ACQUIRE);
	}
	if (__atomic_load_n(&e->closed_gen, __ATOMIC_ACQUIRE) != local.seen_gen)
		catch_up(e);
}

static void
local_leave(void)
{
	pthread_mutex_unlock(&local.mu);
}

/* For calls that take no file: just notice closes elsewhere. */
static void
local_poll(LsmEnv *env)
{
	local_enter((SharedEnv *) env);
	local_leave();
}

static int
open_retry(const char *path, int oflags)
{
	int			fd;

	do
		fd = open(path, oflags, SHARED_FILE_MODE);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/*
 * fd_acquire
 *		This process's descriptor of f, pinned for one transfer; opened now
 *		if this process has not used f yet (or its entry was evicted).
 */
static LsmCode
fd_acquire(LsmFile *f, FdRef *r, LsmStatus *st)
{
	SharedEnv  *e = f->env;
	int			fd;
	int			i;

	if (f->magic != SHARED_FILE_MAGIC)
	{
		fprintf(stderr, "lsm shared env: I/O on a closed or foreign file handle %p\n",
				(void *) f);
		fflush(stderr);
		abort();
	}
	local_enter(e);
	i = find_slot(f->id);
	if (i >= 0)
	{
		local.slots[i].pins++;
		local.slots[i].last_use = ++local.clock;
		r->fd = local.slots[i].fd;
		r->slot = i;
		local_leave();
		return LSM_OK;
	}
	local_leave();

	/* open outside the lock: it can block on the file system */
	fd = open_retry(f->path, O_CLOEXEC |
					((f->flags & LSM_OPEN_WRITE) ? O_RDWR : O_RDONLY));
	if (fd < 0)
		return lsm_status_errno(st, errno, "could not open file \"%s\"",
								f->path);

	local_enter(e);
	i = find_slot(f->id);
	if (i >= 0)
	{
		/* another thread of ours got there first */
		local.slots[i].pins++;
		local.slots[i].last_use = ++local.clock;
		close(fd);
		fd = local.slots[i].fd;
	}
	else
		i = cache_insert(f->id, fd);
	local_leave();
	r->fd = fd;
	r->slot = i;
	return LSM_OK;
}

static void
fd_release(FdRef *r)
{
	LocalFd    *s;

	if (r->slot < 0)
	{
		close(r->fd);
		return;
	}
	pthread_mutex_lock(&local.mu);
	s = &local.slots[r->slot];
	if (--s->pins == 0 && s->doomed)
	{
		close(s->fd);
		slot_clear(s);
	}
	pthread_mutex_unlock(&local.mu);
}

/*
 * shared_open_file
 *		Open (and maybe create) path with LSM_OPEN_* flags in this process,
 *		and make a handle every process can use.
 */
static LsmCode
shared_open_file(LsmEnv *env, const char *path, int flags, LsmFile **file,
				 LsmStatus *st)
{
	SharedEnv  *e = (SharedEnv *) env;
	int			oflags = O_CLOEXEC;
	size_t		len = strlen(path);
	int			fd;
	int			i;
	LsmFile    *f;

	*file = NULL;
	oflags |= (flags & LSM_OPEN_WRITE) ? O_RDWR : O_RDONLY;
	if (flags & LSM_OPEN_CREATE)
		oflags |= O_CREAT;
	if (flags & LSM_OPEN_EXCL)
		oflags |= O_EXCL;
	if (flags & LSM_OPEN_TRUNC)
		oflags |= O_TRUNC;

	f = lsm_malloc(offsetof(LsmFile, path) + len + 1);
	if (f == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, ENOMEM,
							  "out of memory opening file \"%s\"", path);
	local_poll(env);
	fd = open_retry(path, oflags);
	if (fd < 0)
	{
		int			save = errno;

		lsm_free(f);
		return lsm_status_errno(st, save, "could not open file \"%s\"", path);
	}
	f->env = e;
	f->id = __atomic_add_fetch(&e->next_id, 1, __ATOMIC_RELAXED);
	f->magic = SHARED_FILE_MAGIC;
	f->flags = flags;
	f->writeback_from = 0;
	memcpy(f->path, path, len + 1);

	/* keep the descriptor we have; no slot free is fine, reopen later */
	local_enter(e);
	i = cache_insert(f->id, fd);
	if (i >= 0)
		local.slots[i].pins = 0;
	else
		close(fd);
	local_leave();
	*file = f;
	return LSM_OK;
}

static LsmCode
shared_read_some(LsmFile *f, void *buf, size_t n, uint64_t off, size_t *got,
				 LsmStatus *st)
{
	FdRef		r;
	size_t		done = 0;
	LsmCode		rc;

	*got = 0;
	rc = fd_acquire(f, &r, st);
	if (rc != LSM_OK)
		return rc;
	while (done < n)
	{
		ssize_t		k = pread(r.fd, (char *) buf + done, n - done,
							  (off_t) (off + done));

		if (k < 0)
		{
			if (errno == EINTR)
				continue;
			rc = lsm_status_errno(st, errno,
								  "could not read %zu bytes at offset %llu in file \"%s\"",
								  n, (unsigned long long) off, f->path);
			break;
		}
		if (k == 0)
			break;
		done += (size_t) k;
	}
	fd_release(&r);
	*got = done;
	return rc;
}

/* Exactly n bytes; running into end of file is corruption (env_posix.c). */
static LsmCode
shared_read_at(LsmFile *f, void *buf, size_t n, uint64_t off, LsmStatus *st)
{
	size_t		got;
	LsmCode		rc = shared_read_some(f, buf, n, off, &got, st);

	if (rc != LSM_OK)
		return rc;
	if (got < n)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "read of %zu bytes at offset %llu in \"%s\": got only %zu",
							  n, (unsigned long long) off, f->path, got);
	return LSM_OK;
}

/*
 * start_writeback
 *		Start the writeback of what was written below end since the last
 *		start, once that is WRITEBACK_AFTER bytes.  Should writers race, the
 *		swap lets one of them do it; it is only a hint, the fdatasync that
 *		makes the data durable comes later as before.
 */
static void
start_writeback(LsmFile *f, int fd, uint64_t end)
{
#ifdef SYNC_FILE_RANGE_WRITE
	uint64_t	from = __atomic_load_n(&f->writeback_from, __ATOMIC_RELAXED);

	if (end < from + WRITEBACK_AFTER ||
		!__atomic_compare_exchange_n(&f->writeback_from, &from, end, false,
									 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	/* a failure here changes nothing: the fdatasync reports real errors */
	(void) sync_file_range(fd, (off_t) from, (off_t) (end - from),
						   SYNC_FILE_RANGE_WRITE);
#endif
}

static LsmCode
shared_write_at(LsmFile *f, const void *buf, size_t n, uint64_t off,
				LsmStatus *st)
{
	FdRef		r;
	size_t		done = 0;
	LsmCode		rc;

	rc = fd_acquire(f, &r, st);
	if (rc != LSM_OK)
		return rc;
	while (done < n)
	{
		ssize_t		k = pwrite(r.fd, (const char *) buf + done, n - done,
							   (off_t) (off + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
		{
			/* a zero-byte write makes no progress: report it as no space */
			int			err = (k == 0) ? ENOSPC : errno;

			rc = lsm_status_errno(st, err,
								  "could not write %zu bytes at offset %llu in file \"%s\"",
								  n, (unsigned long long) off, f->path);
			break;
		}
		done += (size_t) k;
	}
	if (rc == LSM_OK && (f->flags & LSM_OPEN_CREATE))
		start_writeback(f, r.fd, off + n);
	fd_release(&r);
	return rc;
}

/*
 * shared_sync
 *		fdatasync through this process's descriptor.  It flushes the file's
 *		dirty pages whichever process (descriptor) wrote them.
 */
static LsmCode
shared_sync(LsmFile *f, LsmStatus *st)
{
	FdRef		r;
	LsmCode		rc;
	int			k;

	rc = fd_acquire(f, &r, st);
	if (rc != LSM_OK)
		return rc;
	do
		k = fdatasync(r.fd);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		rc = lsm_status_errno(st, errno, "could not fsync file \"%s\"",
							  f->path);
	fd_release(&r);
	return rc;
}

static LsmCode
shared_file_size(LsmFile *f, uint64_t *size, LsmStatus *st)
{
	FdRef		r;
	struct stat sb;
	LsmCode		rc;

	rc = fd_acquire(f, &r, st);
	if (rc != LSM_OK)
		return rc;
	if (fstat(r.fd, &sb) < 0)
		rc = lsm_status_errno(st, errno, "could not stat file \"%s\"",
							  f->path);
	else
		*size = (uint64_t) sb.st_size;
	fd_release(&r);
	return rc;
}

static LsmCode
shared_truncate(LsmFile *f, uint64_t size, LsmStatus *st)
{
	FdRef		r;
	LsmCode		rc;
	int			k;

	rc = fd_acquire(f, &r, st);
	if (rc != LSM_OK)
		return rc;
	do
		k = ftruncate(r.fd, (off_t) size);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		rc = lsm_status_errno(st, errno,
							  "could not truncate file \"%s\" to %llu bytes",
							  f->path, (unsigned long long) size);
	fd_release(&r);
	return rc;
}

/*
 * shared_close_file
 *		Close this process's descriptor, tell the other processes to close
 *		theirs, and free the handle.  close() is not retried on EINTR (see
 *		env_posix.c).
 */
static LsmCode
shared_close_file(LsmFile *f, LsmStatus *st)
{
	SharedEnv  *e;
	LsmCode		rc = LSM_OK;
	int			fd = -1;
	int			i;

	if (f == NULL)
		return LSM_OK;
	if (f->magic != SHARED_FILE_MAGIC)
	{
		fprintf(stderr, "lsm shared env: close of a closed or foreign file handle %p\n",
				(void *) f);
		fflush(stderr);
		abort();
	}
	e = f->env;
	local_enter(e);
	i = find_slot(f->id);
	if (i >= 0)
	{
		if (local.slots[i].pins == 0)
		{
			fd = local.slots[i].fd;
			slot_clear(&local.slots[i]);
		}
		else
			local.slots[i].doomed = true;	/* a transfer is still running */
	}
	local_leave();
	if (fd >= 0 && close(fd) < 0 && errno != EINTR)
		rc = lsm_status_errno(st, errno, "could not close file \"%s\"",
							  f->path);

	shared_lock(e, &e->ring_mu);
	e->closed_ring[e->closed_gen % CLOSED_RING] = f->id;
	__atomic_store_n(&e->closed_gen, e->closed_gen + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&e->ring_mu);

	f->magic = 0;
	lsm_free(f);
	return rc;
}

/*
 * Names and directories: the POSIX env's, after noticing closes elsewhere
 * (so that, say, the space of a file removed here is not kept by our own
 * stale descriptor for long).
 */

static LsmCode
shared_mkdir_p(LsmEnv *env, const char *path, LsmStatus *st)
{
	LsmEnv	   *p = lsm_env_posix();

	local_poll(env);
	return p->mkdir_p(p, path, st);
}

static LsmCode
shared_rename(LsmEnv *env, const char *from, const char *to, LsmStatus *st)
{
	LsmEnv	   *p = lsm_env_posix();

	local_poll(env);
	return p->rename(p, from, to, st);
}

static LsmCode
shared_unlink(LsmEnv *env, const char *path, LsmStatus *st)
{
	LsmEnv	   *p = lsm_env_posix();

	local_poll(env);
	return p->unlink(p, path, st);
}

static LsmCode
shared_sync_dir(LsmEnv *env, const char *path, LsmStatus *st)
{
	LsmEnv	   *p = lsm_env_posix();

	local_poll(env);
	return p->sync_dir(p, path, st);
}

static LsmCode
shared_list_dir(LsmEnv *env, const char *path, LsmDirCallback cb, void *arg,
				LsmStatus *st)
{
	LsmEnv	   *p = lsm_env_posix();

	local_poll(env);
	return p->list_dir(p, path, cb, arg, st);
}

static bool
shared_exists(LsmEnv *env, const char *path)
{
	LsmEnv	   *p = lsm_env_posix();

	local_poll(env);
	return p->exists(p, path);
}

static LsmCode
shared_remove_tree(LsmEnv *env, const char *path, LsmStatus *st)
{
	LsmEnv	   *p = lsm_env_posix();

	local_poll(env);
	return p->remove_tree(p, path, st);
}

/* CLOCK_MONOTONIC is system-wide, so times compare across processes. */
static uint64_t
shared_now_micros(LsmEnv *env)
{
	LsmEnv	   *p = lsm_env_posix();

	return p->now_micros(p);
}

static void
shared_sleep_micros(LsmEnv *env, uint64_t us)
{
	LsmEnv	   *p = lsm_env_posix();

	p->sleep_micros(p, us);
}

static int
shared_reader_slot(LsmEnv *env)
{
	return my_reader_slot;
}

void
lsm_env_shared_set_reader_slot(int slot)
{
	pthread_once(&fork_once, fork_setup);
	my_reader_slot = slot;
}

/*
 * Whether this process gives the CPU up between the blocks it builds, and
 * when it last did (lsm_env_shared_set_cpu_yield).
 */
static bool yield_cpu = false;
static uint64_t last_yield = 0;

/*
 * At most every YIELD_MICROS of building: a block's or a few values'
 * compression.  A process that sleeps while a background worker computes
 * on its CPU (a backend waiting for an fsync, or for its client) is
 * otherwise often run only at the next scheduler tick: the kernel lets the
 * running task finish its slice, 4 ms here, whatever its nice value.  A
 * yield costs a system call when nobody waits.  100 us let a flush beside
 * one client's puts, all on one CPU, add up to that much to a put: the
 * put's p99 was ~1.5x what it is at 20 (docs/benchmarks.md, session 19).
 */
#define YIELD_MICROS	20

static void
shared_cpu_yield(LsmEnv *env)
{
	struct timespec ts;
	uint64_t	now;

	if (!yield_cpu)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
	if (now - last_yield < YIELD_MICROS)
		return;
	last_yield = now;
	sched_yield();
}

void
lsm_env_shared_set_cpu_yield(bool on)
{
	yield_cpu = on;
}

/* NULL when out of memory or the mutex cannot be initialised. */
static LsmMutex *
shared_mutex_create(LsmEnv *env)
{
	LsmMutex   *m = lsm_malloc(sizeof(LsmMutex));

	if (m == NULL)
		return NULL;
	if (!shared_mutex_init(&m->mu))
	{
		lsm_free(m);
		return NULL;
	}
	m->env = (SharedEnv *) env;
	return m;
}

static void
shared_mutex_destroy(LsmMutex *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	lsm_free(m);
}

static void
shared_mutex_lock(LsmMutex *m)
{
	shared_lock(m->env, &m->mu);
}

static void
shared_mutex_unlock(LsmMutex *m)
{
	pthread_mutex_unlock(&m->mu);
}

/*
 * lsm_env_shared_create
 *		A new shared env in lsm_malloc'd memory.
 */
LsmEnv *
lsm_env_shared_create(void)
{
	SharedEnv  *e;
	struct timespec ts;

	/* register the fork handlers before any child can be forked */
	pthread_once(&fork_once, fork_setup);

	e = lsm_calloc(1, sizeof(SharedEnv));
	if (e == NULL)
		return NULL;
	if (!shared_mutex_init(&e->ring_mu))
	{
		lsm_free(e);
		return NULL;
	}
	e->env.open_file = shared_open_file;
	e->env.read_at = shared_read_at;
	e->env.read_some = shared_read_some;
	e->env.write_at = shared_write_at;
	e->env.sync = shared_sync;
	e->env.file_size = shared_file_size;
	e->env.truncate = shared_truncate;
	e->env.close_file = shared_close_file;
	e->env.mkdir_p = shared_mkdir_p;
	e->env.rename = shared_rename;
	e->env.unlink = shared_unlink;
	e->env.sync_dir = shared_sync_dir;
	e->env.list_dir = shared_list_dir;
	e->env.exists = shared_exists;
	e->env.remove_tree = shared_remove_tree;
	e->env.now_micros = shared_now_micros;
	e->env.sleep_micros = shared_sleep_micros;
	e->env.mutex_create = shared_mutex_create;
	e->env.mutex_destroy = shared_mutex_destroy;
	e->env.mutex_lock = shared_mutex_lock;
	e->env.mutex_unlock = shared_mutex_unlock;
	e->env.reader_slot = shared_reader_slot;
	e->env.cpu_yield = shared_cpu_yield;
	e->env.host = e;

	/*
	 * A new env may be allocated where a destroyed one was; the instance
	 * number keeps a process from taking its old entries for the new one's.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	e->instance = ((uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec) ^
		((uint64_t) getpid() << 40) ^
		__atomic_add_fetch(&instance_counter, 1, __ATOMIC_RELAXED);
	e->magic = SHARED_ENV_MAGIC;
	return &e->env;
}

void
lsm_env_shared_destroy(LsmEnv *env)
{
	SharedEnv  *e = (SharedEnv *) env;

	if (e == NULL)
		return;
	pthread_once(&fork_once, fork_setup);
	pthread_mutex_lock(&local.mu);
	if (local.env == e && local.owner_pid == my_pid)
	{
		drop_all();
		local.env = NULL;
		local.instance = 0;
	}
	pthread_mutex_unlock(&local.mu);
	pthread_mutex_destroy(&e->ring_mu);
	e->magic = 0;
	lsm_free(e);
}

int
lsm_env_shared_close_all_fds(void)
{
	int			n = 0;

	/*
	 * A signal handler may be what calls: never wait, touch no once-control.
	 * local.mu is a default (non-recursive) mutex, so a trylock over a
	 * critical section the signal interrupted fails rather than enters it.
	 */
	if (pthread_mutex_trylock(&local.mu) != 0)
		return -1;
	if (local.owner_pid == getpid())
		for (int i = 0; i < LOCAL_FDS; i++)
			if (local.slots[i].id != 0)
			{
				n++;
				slot_drop(&local.slots[i]);
			}
	pthread_mutex_unlock(&local.mu);
	return n;
}

int
lsm_env_shared_cached_fds(void)
{
	int			n = 0;
	int			i;

	pthread_once(&fork_once, fork_setup);
	pthread_mutex_lock(&local.mu);
	if (local.owner_pid == my_pid)
		for (i = 0; i < LOCAL_FDS; i++)
			if (local.slots[i].id != 0)
				n++;
	pthread_mutex_unlock(&local.mu);
	return n;
}
