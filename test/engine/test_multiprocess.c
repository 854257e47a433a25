/*
 * test_multiprocess.c
 *		One LsmDb in shared memory used by several forked processes, the way
 *		Postgres backends will use it: the engine allocates from an
 *		LsmShmHeap over a MAP_SHARED region and does its I/O and locking
 *		through the shared env.
 *
 * Also the shared env on its own: descriptors of a file closed by another
 * process are dropped at the next call, the per-process descriptor cache
 * stays bounded (and recovers after falling behind), files are written by
 * several processes, and mutexes exclude across processes (and report a
 * holder that died).
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "testutil.h"

#include "lsm.h"
#include "lsm_alloc.h"
#include "lsm_env_shared.h"
#include "shm_heap.h"

#define REGION_SIZE ((size_t) 128 << 20)

/* The shared world of one test: region, heap, allocator and env. */
typedef struct World
{
	void	   *region;
	LsmShmHeap *heap;
	LsmEnv	   *env;
} World;

static int
world_start(World *w)
{
	LsmAllocator a;

	w->region = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w->region == MAP_FAILED)
		return 0;
	w->heap = lsm_shm_heap_init(w->region, REGION_SIZE);
	if (w->heap == NULL)
		return 0;
	lsm_shm_heap_allocator(w->heap, &a);
	lsm_set_allocator(&a);
	w->env = lsm_env_shared_create();
	return w->env != NULL;
}

/* Tear down; returns the heap bytes still in use before the env went. */
static size_t
world_stop(World *w)
{
	size_t		leaked;

	lsm_env_shared_destroy(w->env);
	leaked = lsm_shm_heap_used(w->heap);
	lsm_set_allocator(NULL);
	munmap(w->region, REGION_SIZE);
	return leaked;
}

/* Something shared for the processes of a test to coordinate through. */
static void *
shared_page(size_t size)
{
	void	   *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
						 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
	{
		perror("mmap");
		exit(2);
	}
	memset(p, 0, size);
	return p;
}

/*
 * Fork a child running fn(arg); the child's exit status is fn's result
 * (0 = success).  stdout is flushed first so the child does not repeat
 * buffered output.
 */
static pid_t
spawn(int (*fn) (void *), void *arg)
{
	pid_t		pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/*
 * Wait for n children for at most timeout_s seconds (then kill them).
 * Returns how many did not exit with status 0.
 */
static int
wait_children(pid_t *pids, int n, int timeout_s)
{
	int			bad = 0;
	int			left = n;
	int			i;
	time_t		deadline = time(NULL) + timeout_s;

	while (left > 0)
	{
		for (i = 0; i < n; i++)
		{
			int			status;
			pid_t		r;

			if (pids[i] <= 0)
				continue;
			r = waitpid(pids[i], &status, WNOHANG);
			if (r == 0)
				continue;
			if (r != pids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			{
				fprintf(stderr, "  child %d failed (status %#x)\n",
						(int) pids[i], status);
				bad++;
			}
			pids[i] = 0;
			left--;
		}
		if (left > 0 && time(NULL) > deadline)
		{
			for (i = 0; i < n; i++)
				if (pids[i] > 0)
				{
					fprintf(stderr, "  child %d timed out\n", (int) pids[i]);
					kill(pids[i], SIGKILL);
					waitpid(pids[i], NULL, 0);
					pids[i] = 0;
					bad++;
					left--;
				}
		}
		if (left > 0)
			usleep(2000);
	}
	return bad;
}

/*
 * How many of this process's descriptors name path (or "path (deleted)"),
 * or, with under, anything below directory path.
 */
static int
count_fds(const char *path, bool under)
{
	DIR		   *d = opendir("/proc/self/fd");
	struct dirent *de;
	int			n = 0;
	size_t		len = strlen(path);

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
	{
		char		target[4200];
		ssize_t		k;

		if (de->d_name[0] == '.')
			continue;
		k = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (k < 0)
			continue;
		target[k] = '\0';
		if (strncmp(target, path, len) != 0)
			continue;
		if (under ? target[len] == '/' :
			(target[len] == '\0' || strcmp(target + len, " (deleted)") == 0))
			n++;
	}
	closedir(d);
	return n;
}

static int
fds_naming(const char *path)
{
	return count_fds(path, false);
}

static int
fds_under(const char *dir)
{
	return count_fds(dir, true);
}

/* In child code: report and fail with exit status 1. */
#define CFAIL_IF(cond, ...) \
	do { \
		if (cond) { \
			fprintf(stderr, "  [pid %d] %s:%d: ", (int) getpid(), __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			return 1; \
		} \
	} while (0)

/* A pipe pair for a parent and one child to take turns. */
typedef struct Turns
{
	int			to_child[2];
	int			to_parent[2];
} Turns;

static void
turn_send(int fd)
{
	char		c = 'x';

	if (write(fd, &c, 1) != 1)
		perror("write");
}

static int
turn_wait(int fd)
{
	char		c;

	return read(fd, &c, 1) == 1;
}

/*
 * The env on its own: a child caches a descriptor of a file, the parent
 * closes and unlinks it, and the child's next env call drops the
 * descriptor (so the deleted file's space is freed).  The child also
 * writes into a file the parent created, through its own descriptor.
 */
typedef struct FdArgs
{
	LsmEnv	   *env;
	LsmFile    *a;
	LsmFile    *b;
	const char *path_a;
	const char *path_b;
	Turns		t;
} FdArgs;

static int
fd_child(void *arg)
{
	FdArgs	   *x = arg;
	LsmEnv	   *env = x->env;
	LsmStatus	st;
	char		buf[16];
	uint64_t	size;

	/* the first call forgets the parent's cached descriptors */
	CFAIL_IF(!env->exists(env, x->path_a), "a missing");
	CFAIL_IF(lsm_env_shared_cached_fds() != 0, "inherited %d cached fds",
			 lsm_env_shared_cached_fds());
	CFAIL_IF(fds_naming(x->path_a) != 0, "inherited fd of a still open");

	CFAIL_IF(env->read_at(x->a, buf, 7, 0, &st) != LSM_OK, "%s", st.msg);
	CFAIL_IF(memcmp(buf, "hello a", 7) != 0, "bad contents");
	CFAIL_IF(lsm_env_shared_cached_fds() != 1, "a not cached");
	CFAIL_IF(fds_naming(x->path_a) != 1, "no fd of a");

	turn_send(x->t.to_parent[1]);
	CFAIL_IF(!turn_wait(x->t.to_child[0]), "parent gone");

	/* the parent has closed and unlinked a: our descriptor is stale */
	CFAIL_IF(fds_naming(x->path_a) != 1, "fd of a went away by itself?");
	CFAIL_IF(env->file_size(x->b, &size, &st) != LSM_OK, "%s", st.msg);
	CFAIL_IF(size != 7, "b has %llu bytes", (unsigned long long) size);
	CFAIL_IF(fds_naming(x->path_a) != 0, "fd of deleted a still open");
	CFAIL_IF(lsm_env_shared_cached_fds() != 1, "cache should hold b only");

	CFAIL_IF(env->write_at(x->b, "child", 5, 100, &st) != LSM_OK, "%s", st.msg);
	CFAIL_IF(env->sync(x->b, &st) != LSM_OK, "%s", st.msg);
	return 0;
}

static void
test_fd_dropped_after_close(void)
{
	World		w;
	char		dir[4096];
	char		pa[4200];
	char		pb[4200];
	FdArgs	   *x = shared_page(sizeof(FdArgs));
	LsmStatus	st;
	pid_t		pid;
	char		buf[16];
	LsmFile    *f;

	CHECK(world_start(&w));
	test_tmpdir(dir, sizeof(dir), "mpfd");
	snprintf(pa, sizeof(pa), "%s/a", dir);
	snprintf(pb, sizeof(pb), "%s/b", dir);
	x->env = w.env;
	x->path_a = pa;
	x->path_b = pb;
	CHECK_OK(w.env->open_file(w.env, pa, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL,
							  &x->a, &st), &st);
	CHECK_OK(w.env->open_file(w.env, pb, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL,
							  &x->b, &st), &st);
	CHECK(w.env->open_file(w.env, pb, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL,
						   &f, &st) == LSM_IO_ERROR);
	CHECK(f == NULL);
	CHECK(strstr(st.msg, pb) != NULL);
	CHECK_OK(w.env->write_at(x->a, "hello a", 7, 0, &st), &st);
	CHECK_OK(w.env->write_at(x->b, "hello b", 7, 0, &st), &st);
	CHECK(lsm_env_shared_cached_fds() == 2);
	CHECK(pipe(x->t.to_child) == 0 && pipe(x->t.to_parent) == 0);

	pid = spawn(fd_child, x);
	CHECK(pid > 0);
	CHECK(turn_wait(x->t.to_parent[0]));
	CHECK_OK(w.env->close_file(x->a, &st), &st);
	CHECK_OK(w.env->unlink(w.env, pa, &st), &st);
	CHECK(fds_naming(pa) == 0);
	turn_send(x->t.to_child[1]);
	CHECK(wait_children(&pid, 1, 20) == 0);

	/* what the child wrote through its own descriptor */
	CHECK_OK(w.env->read_at(x->b, buf, 5, 100, &st), &st);
	CHECK(memcmp(buf, "child", 5) == 0);
	CHECK(w.env->read_at(x->b, buf, 16, 100, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, pb) != NULL);
	CHECK_OK(w.env->close_file(x->b, &st), &st);
	CHECK(lsm_env_shared_cached_fds() == 0);
	CHECK(fds_naming(pb) == 0);
	CHECK(w.env->open_file(w.env, pa, LSM_OPEN_READ, &f, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, pa) != NULL);

	CHECK(world_stop(&w) == 0);
	test_rmtree(dir);
}

/*
 * The cache is bounded: 200 open files cost at most 128 descriptors and
 * all stay readable.  A child that fell more than the ring's worth of
 * closes behind drops everything and goes on.
 */
#define N_FILES 200

typedef struct CacheArgs
{
	LsmEnv	   *env;
	LsmFile    *files[N_FILES];
	char		dir[4096];
	Turns		t;
} CacheArgs;

static int
check_file(LsmEnv *env, LsmFile *f, int i)
{
	LsmStatus	st;
	int			v = -1;

	if (env->read_at(f, &v, sizeof(v), 0, &st) != LSM_OK)
	{
		fprintf(stderr, "  read: %s\n", st.msg);
		return 0;
	}
	return v == i;
}

static int
cache_child(void *arg)
{
	CacheArgs  *x = arg;
	int			i;

	for (i = 0; i < 10; i++)
		CFAIL_IF(!check_file(x->env, x->files[i], i), "file %d", i);
	CFAIL_IF(lsm_env_shared_cached_fds() != 10, "%d cached",
			 lsm_env_shared_cached_fds());
	turn_send(x->t.to_parent[1]);
	CFAIL_IF(!turn_wait(x->t.to_child[0]), "parent gone");

	/* 300 closes happened: more than the ring holds, so all are dropped */
	CFAIL_IF(!x->env->exists(x->env, x->dir), "dir missing");
	CFAIL_IF(lsm_env_shared_cached_fds() != 0, "%d still cached",
			 lsm_env_shared_cached_fds());
	CFAIL_IF(fds_under(x->dir) != 0, "%d fds under dir", fds_under(x->dir));
	for (i = 0; i < 10; i++)
		CFAIL_IF(!check_file(x->env, x->files[i], i), "file %d again", i);
	CFAIL_IF(lsm_env_shared_cached_fds() != 10, "not cached again");
	return 0;
}

static void
test_fd_cache_bounded(void)
{
	World		w;
	CacheArgs  *x = shared_page(sizeof(CacheArgs));
	LsmStatus	st;
	char		path[4200];
	pid_t		pid;
	int			i;

	CHECK(world_start(&w));
	x->env = w.env;
	test_tmpdir(x->dir, sizeof(x->dir), "mpcache");
	for (i = 0; i < N_FILES; i++)
	{
		snprintf(path, sizeof(path), "%s/f%03d", x->dir, i);
		CHECK_OK(w.env->open_file(w.env, path, LSM_OPEN_WRITE | LSM_OPEN_CREATE,
								  &x->files[i], &st), &st);
		CHECK_OK(w.env->write_at(x->files[i], &i, sizeof(i), 0, &st), &st);
	}
	CHECK(lsm_env_shared_cached_fds() <= 128);
	CHECK(fds_under(x->dir) <= 128);
	for (i = 0; i < N_FILES; i++)
		CHECK(check_file(w.env, x->files[i], i));
	for (i = N_FILES - 1; i >= 0; i--)
		CHECK(check_file(w.env, x->files[i], i));
	CHECK(lsm_env_shared_cached_fds() == 128);
	CHECK(fds_under(x->dir) == 128);

	CHECK(pipe(x->t.to_child) == 0 && pipe(x->t.to_parent) == 0);
	pid = spawn(cache_child, x);
	CHECK(pid > 0);
	CHECK(turn_wait(x->t.to_parent[0]));
	for (i = 0; i < 300; i++)
	{
		LsmFile    *f;

		snprintf(path, sizeof(path), "%s/tmp", x->dir);
		CHECK_OK(w.env->open_file(w.env, path, LSM_OPEN_WRITE | LSM_OPEN_CREATE,
								  &f, &st), &st);
		CHECK_OK(w.env->close_file(f, &st), &st);
	}
	turn_send(x->t.to_child[1]);
	CHECK(wait_children(&pid, 1, 20) == 0);

	for (i = 0; i < N_FILES; i++)
		CHECK_OK(w.env->close_file(x->files[i], &st), &st);
	CHECK(lsm_env_shared_cached_fds() == 0);
	CHECK(fds_under(x->dir) == 0);
	CHECK(world_stop(&w) == 0);
	test_rmtree(x->dir);
}

/*
 * Mutexes exclude across processes; a dead holder makes the next locker
 * abort, or call the env's fatal hook when it has one.
 */
#define MUTEX_ROUNDS 20000

typedef struct MutexArgs
{
	LsmEnv	   *env;
	LsmMutex   *mu;
	volatile uint64_t counter;
} MutexArgs;

static int
mutex_child(void *arg)
{
	MutexArgs  *x = arg;
	int			i;

	for (i = 0; i < MUTEX_ROUNDS; i++)
	{
		uint64_t	v;

		x->env->mutex_lock(x->mu);
		v = x->counter;
		if (i % 64 == 0)
			sched_yield();		/* widen the window a lost update needs */
		x->counter = v + 1;
		x->env->mutex_unlock(x->mu);
	}
	return 0;
}

static int
die_holding(void *arg)
{
	MutexArgs  *x = arg;

	x->env->mutex_lock(x->mu);
	return 0;
}

static int
lock_after_death(void *arg)
{
	MutexArgs  *x = arg;

	close(2);					/* the abort message is expected */
	x->env->mutex_lock(x->mu);
	return 0;					/* should not get here */
}

/* A fatal hook: exit with a status that says what it was told. */
static void
fatal_exit(LsmEnv *env, const char *msg)
{
	_exit(strstr(msg, "died holding") != NULL ? 42 : 43);
}

static void
test_mutex_across_processes(void)
{
	World		w;
	MutexArgs  *x = shared_page(sizeof(MutexArgs));
	pid_t		pids[3];
	pid_t		pid;
	int			status;
	int			i;

	CHECK(world_start(&w));
	x->env = w.env;
	x->mu = w.env->mutex_create(w.env);
	CHECK(x->mu != NULL);
	CHECK(lsm_shm_heap_contains(w.heap, x->mu));
	for (i = 0; i < 3; i++)
	{
		pids[i] = spawn(mutex_child, x);
		CHECK(pids[i] > 0);
	}
	mutex_child(x);
	CHECK(wait_children(pids, 3, 30) == 0);
	CHECK(x->counter == 4 * MUTEX_ROUNDS);

	pid = spawn(die_holding, x);
	CHECK(wait_children(&pid, 1, 10) == 0);
	pid = spawn(lock_after_death, x);
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);

	/* with a fatal hook the env lets the host end the process its way */
	w.env->fatal = fatal_exit;
	pid = spawn(lock_after_death, x);
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);

	/* the mutex is unusable now; free it without locking */
	w.env->mutex_destroy(x->mu);
	CHECK(world_stop(&w) == 0);
}

/*
 * The database test.  Two writers overwrite their own keys in rounds;
 * a reader checks other processes' writes become visible in order; the
 * parent flushes and compacts meanwhile.  Keys are "w<writer>-<index>",
 * values "<key>|r<round>|" and padding that depends on key and round.
 */
#define N_WRITERS 2
#define KEYS 1000
#define ROUNDS 8
#define BATCH 25
#define TOTAL_WRITES (KEYS * ROUNDS)

_Static_assert(KEYS % BATCH == 0, "batches must tile the keys");

typedef struct DbArgs
{
	LsmDb	   *db;
	/* writes of writer w completed, in order round * KEYS + index */
	uint64_t	progress[N_WRITERS];
	uint32_t	reader_ops;		/* gets and scans the reader did */
} DbArgs;

/* Which writer a child is: set before fork, so each child has its own. */
static int	my_writer;

static int
make_key(char *out, int w, int i)
{
	return sprintf(out, "w%d-%05d", w, i);
}

static size_t
make_value(char *out, int w, int i, int r)
{
	int			n = sprintf(out, "w%d-%05d|r%03d|", w, i, r);
	int			pad = 20 + (i * 7 + r * 13) % 180;
	int			k;

	/* pseudo-random letters, so blocks do not compress to nothing */
	for (k = 0; k < pad; k++)
		out[n + k] = (char) ('a' + ((uint32_t) (i * 2654435761u) ^
									(uint32_t) ((r * 40503 + k) * 2246822519u)) % 26);
	return (size_t) (n + pad);
}

/*
 * The round encoded in value v of key (w, i), or -1 if v is not exactly
 * what make_value writes for some round.
 */
static int
value_round(LsmSlice v, int w, int i)
{
	char		want[512];
	int			r;

	if (v.len < 14)
		return -1;
	r = atoi((const char *) v.data + 10);
	if (r < 0 || r >= ROUNDS)
		return -1;
	if (make_value(want, w, i, r) != v.len || memcmp(want, v.data, v.len) != 0)
		return -1;
	return r;
}

/*
 * The oldest round of key i a reader may see once p writes completed
 * (-1: none yet), and whether round r may have been written already when
 * the writer had completed p writes (its current batch may be in flight).
 */
static int
min_round(uint64_t p, int i)
{
	return p > (uint64_t) i ? (int) ((p - 1 - (uint64_t) i) / KEYS) : -1;
}

static bool
round_started(uint64_t p, int i, int r)
{
	return (uint64_t) r * KEYS + (uint64_t) i < p + BATCH;
}

static uint64_t
progress_of(DbArgs *x, int w)
{
	return __atomic_load_n(&x->progress[w], __ATOMIC_ACQUIRE);
}

static int
writer_child(void *arg)
{
	DbArgs	   *x = arg;
	int			w = my_writer;
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	int			r;
	int			i;
	int			j;

	CFAIL_IF(b == NULL, "no batch");
	for (r = 0; r < ROUNDS; r++)
		for (i = 0; i < KEYS; i += BATCH)
		{
			lsm_batch_clear(b);
			for (j = i; j < i + BATCH; j++)
			{
				char		k[32];
				char		v[512];
				int			kn = make_key(k, w, j);
				size_t		vn = make_value(v, w, j, r);

				CFAIL_IF(lsm_batch_put(b, lsm_slice(k, (size_t) kn),
									   lsm_slice(v, vn), &st) != LSM_OK,
						 "%s", st.msg);
			}
			CFAIL_IF(lsm_db_write(x->db, b, &st) != LSM_OK, "write: %s", st.msg);
			__atomic_store_n(&x->progress[w], (uint64_t) r * KEYS + i + BATCH,
							 __ATOMIC_RELEASE);
			/* our own writes are visible to us at once */
			for (j = i; j < i + BATCH; j++)
			{
				char		k[32];
				int			kn = make_key(k, w, j);
				LsmBuf		v = LSM_BUF_INIT;
				LsmCode		rc = lsm_db_get(x->db, NULL, lsm_slice(k, (size_t) kn),
											&v, &st);

				CFAIL_IF(rc != LSM_OK, "get %s: %s", k, lsm_code_name(rc));
				CFAIL_IF(value_round(lsm_buf_slice(&v), w, j) != r,
						 "get %s: wrong value", k);
				lsm_buf_free(&v);
			}
		}
	lsm_batch_destroy(b);
	return 0;
}

/* What the reader saw last of each key: visibility never goes back. */
static int	last_seen[N_WRITERS][KEYS];

static int
check_seen(int w, int i, int r, uint64_t p_before, uint64_t p_after)
{
	CFAIL_IF(r < 0, "w%d-%05d: malformed value", w, i);
	CFAIL_IF(r < min_round(p_before, i), "w%d-%05d: round %d, but %d was complete",
			 w, i, r, min_round(p_before, i));
	CFAIL_IF(r < last_seen[w][i], "w%d-%05d: round %d after %d", w, i, r,
			 last_seen[w][i]);
	CFAIL_IF(!round_started(p_after, i, r), "w%d-%05d: round %d from the future",
			 w, i, r);
	last_seen[w][i] = r;
	return 0;
}

static int
reader_get(DbArgs *x, TestRng *rng)
{
	int			w = (int) test_rng_below(rng, N_WRITERS);
	int			i = (int) test_rng_below(rng, KEYS);
	char		k[32];
	int			kn = make_key(k, w, i);
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	uint64_t	p0 = progress_of(x, w);
	LsmCode		rc = lsm_db_get(x->db, NULL, lsm_slice(k, (size_t) kn), &v, &st);
	uint64_t	p1 = progress_of(x, w);

	if (rc == LSM_NOT_FOUND)
	{
		CFAIL_IF(min_round(p0, i) >= 0 || last_seen[w][i] >= 0,
				 "%s: not found after it was written", k);
		return 0;
	}
	CFAIL_IF(rc != LSM_OK, "get %s: %s", k, st.msg);
	rc = check_seen(w, i, value_round(lsm_buf_slice(&v), w, i), p0, p1);
	lsm_buf_free(&v);
	return rc;
}

/* Scan writer w's keys forward or backward: order, values, completeness. */
static int
reader_scan(DbArgs *x, TestRng *rng)
{
	int			w = (int) test_rng_below(rng, N_WRITERS);
	bool		backward = test_rng_below(rng, 2) == 1;
	char		lo[8];
	char		hi[8];
	LsmReadOptions ro;
	LsmIter    *it;
	LsmStatus	st;
	uint64_t	p0 = progress_of(x, w);
	uint64_t	p1;
	int			seen = 0;
	int			prev = backward ? KEYS : -1;

	sprintf(lo, "w%d-", w);
	sprintf(hi, "w%d.", w);		/* '.' follows '-' */
	lsm_read_options_init(&ro);
	ro.lower_bound = lsm_slice_str(lo);
	ro.upper_bound = lsm_slice_str(hi);
	CFAIL_IF(lsm_db_iter(x->db, &ro, &it, &st) != LSM_OK, "iter: %s", st.msg);
	p1 = progress_of(x, w);
	if (backward)
		lsm_iter_seek_last(it);
	else
		lsm_iter_seek_first(it);
	while (lsm_iter_valid(it))
	{
		LsmSlice	k = lsm_iter_key(it);
		int			i;
		int			r;

		CFAIL_IF(k.len != 8 || memcmp(k.data, lo, 3) != 0, "scan: foreign key");
		i = atoi((const char *) k.data + 3);
		CFAIL_IF(i < 0 || i >= KEYS, "scan: key index %d", i);
		CFAIL_IF(backward ? i >= prev : i <= prev, "scan: key %d after %d", i, prev);
		r = value_round(lsm_iter_value(it), w, i);
		if (check_seen(w, i, r, p0, p1) != 0)
		{
			lsm_iter_destroy(it);
			return 1;
		}
		prev = i;
		seen++;
		if (backward)
			lsm_iter_prev(it);
		else
			lsm_iter_next(it);
	}
	CFAIL_IF(lsm_iter_status(it, &st) != LSM_OK, "scan: %s", st.msg);
	lsm_iter_destroy(it);
	/* every key written before the iterator was made is in it */
	CFAIL_IF((uint64_t) seen < (p0 < KEYS ? p0 : KEYS), "scan saw %d keys, %llu were written",
			 seen, (unsigned long long) p0);
	return 0;
}

static int
reader_child(void *arg)
{
	DbArgs	   *x = arg;
	TestRng		rng = {test_seed("multiprocess reader") | 1};
	uint32_t	ops = 0;
	int			last_pass = 0;
	int			w;
	int			i;

	for (w = 0; w < N_WRITERS; w++)
		for (i = 0; i < KEYS; i++)
			last_seen[w][i] = -1;
	while (last_pass < 2)
	{
		int			rc;

		if (progress_of(x, 0) == TOTAL_WRITES && progress_of(x, 1) == TOTAL_WRITES)
			last_pass++;
		if (ops % 50 == 0 || last_pass)
			rc = reader_scan(x, &rng);
		else
			rc = reader_get(x, &rng);
		if (rc != 0)
			return rc;
		ops++;
	}
	/* at the end everything is in its last round */
	for (w = 0; w < N_WRITERS; w++)
		for (i = 0; i < KEYS; i++)
			if (last_seen[w][i] >= 0)
				CFAIL_IF(last_seen[w][i] > ROUNDS - 1, "impossible round");
	__atomic_store_n(&x->reader_ops, ops, __ATOMIC_RELAXED);
	return 0;
}

/* Every key, from this process: present, well-formed, in its last round. */
static int
check_all(LsmDb *db)
{
	int			w;
	int			i;

	for (w = 0; w < N_WRITERS; w++)
		for (i = 0; i < KEYS; i++)
		{
			char		k[32];
			int			kn = make_key(k, w, i);
			LsmBuf		v = LSM_BUF_INIT;
			LsmStatus	st;
			LsmCode		rc = lsm_db_get(db, NULL, lsm_slice(k, (size_t) kn), &v, &st);

			CHECK_RET(rc == LSM_OK, 0);
			CHECK_RET(value_round(lsm_buf_slice(&v), w, i) == ROUNDS - 1, 0);
			lsm_buf_free(&v);
		}
	return 1;
}

static LsmOptions
db_options(LsmEnv *env)
{
	LsmOptions	o;

	lsm_options_init(&o);
	o.env = env;
	o.write_buffer_size = 64 << 10;
	o.sync_writes = false;
	o.block_cache_size = 1 << 20;
	o.target_file_size = 64 << 10;
	o.max_bytes_for_level_base = 256 << 10;
	return o;
}

static void
test_db_shared_by_processes(void)
{
	World		w;
	DbArgs	   *x = shared_page(sizeof(DbArgs));
	char		dir[4096];
	LsmOptions	o;
	LsmStatus	st;
	LsmDbStats	stats;
	pid_t		pids[3];
	int			i;
	int			bad;
	bool		compacted_midway = false;
	size_t		leaked;

	CHECK(world_start(&w));
	test_tmpdir(dir, sizeof(dir), "mpdb");
	o = db_options(w.env);
	CHECK_OK(lsm_db_open(&o, dir, &x->db, &st), &st);
	CHECK(lsm_shm_heap_contains(w.heap, x->db));

	for (i = 0; i < N_WRITERS; i++)
	{
		my_writer = i;
		pids[i] = spawn(writer_child, x);
		CHECK(pids[i] > 0);
	}
	pids[2] = spawn(reader_child, x);
	CHECK(pids[2] > 0);

	/* meanwhile this process flushes, and compacts once, as a fourth user */
	while (progress_of(x, 0) + progress_of(x, 1) < 2 * TOTAL_WRITES)
	{
		LsmCode		rc = lsm_db_flush(x->db, &st);

		if (rc != LSM_OK)
		{
			fprintf(stderr, "  flush: %s\n", st.msg);
			break;
		}
		if (!compacted_midway && progress_of(x, 0) > TOTAL_WRITES / 2)
		{
			rc = lsm_db_compact_range(x->db, lsm_slice(NULL, 0),
									  lsm_slice(NULL, 0), &st);
			if (rc != LSM_OK)
			{
				fprintf(stderr, "  compact: %s\n", st.msg);
				break;
			}
			compacted_midway = true;
		}
		usleep(5000);
	}
	bad = wait_children(pids, 3, 60);
	CHECK(bad == 0);
	CHECK(x->reader_ops > 0);

	CHECK(check_all(x->db));
	CHECK_OK(lsm_db_verify(x->db, &st), &st);
	CHECK_OK(lsm_db_flush(x->db, &st), &st);
	CHECK_OK(lsm_db_compact_range(x->db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	CHECK_OK(lsm_db_verify(x->db, &st), &st);
	CHECK(check_all(x->db));
	lsm_db_stats(x->db, &stats);
	printf("  reader did %u gets/scans; %llu bytes flushed, %llu compactions, %llu stall stops\n",
		   x->reader_ops, (unsigned long long) stats.bytes_flushed,
		   (unsigned long long) stats.compactions,
		   (unsigned long long) stats.stall_stops);
	CHECK(stats.compactions > 0);
	CHECK(stats.bytes_flushed > 0);
	CHECK(stats.files_per_level[0] == 0);
	CHECK_OK(lsm_db_close(x->db, &st), &st);

	/* every byte the engine took from the heap, in any process, came back */
	leaked = world_stop(&w);
	if (leaked != 0)
		fprintf(stderr, "  %zu bytes of the shared heap still in use\n", leaked);
	CHECK(leaked == 0);

	/* the files are ordinary: a plain env and libc reopen them */
	o = db_options(NULL);
	CHECK_OK(lsm_db_open(&o, dir, &x->db, &st), &st);
	CHECK(check_all(x->db));
	CHECK_OK(lsm_db_verify(x->db, &st), &st);
	CHECK_OK(lsm_db_close(x->db, &st), &st);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_fd_dropped_after_close);
	RUN(test_fd_cache_bounded);
	RUN(test_mutex_across_processes);
	RUN(test_db_shared_by_processes);
	return test_finish();
}
