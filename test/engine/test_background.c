/*
 * test_background.c
 *		The standalone database's own background threads
 *		(LsmOptions.background_threads): flushes and compactions run there
 *		and never in a writing thread, concurrent writers and readers see
 *		exact data, the data survives close and reopen, close joins the
 *		threads (also while a compaction runs), a flush that fails in a
 *		thread fails the next write, and options that cannot work are
 *		refused.
 *
 * A wrapping env records which thread creates each table file (only
 * flushes and compactions create them) and can make table creation fail,
 * like a full disk, without touching the WAL.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>

#include "testutil.h"

#include "lsm.h"

/*
 * The wrapping env
 */

#define MAX_WRITERS 4

static LsmEnv wrap_env;
static LsmEnv *posix_env;
static pthread_t forbidden[MAX_WRITERS];	/* threads that must not write tables */
static int	n_forbidden;
static int	tables_by_forbidden;	/* atomics */
static int	tables_created;
static int	fail_tables;
static int	slow_reads;		/* microseconds each file read sleeps */

static bool
is_table(const char *path)
{
	size_t		n = strlen(path);

	return n > 4 && strcmp(path + n - 4, ".sst") == 0;
}

static LsmCode
wrap_open_file(LsmEnv *env, const char *path, int flags, LsmFile **file,
			   LsmStatus *st)
{
	if ((flags & LSM_OPEN_CREATE) && is_table(path))
	{
		pthread_t	self = pthread_self();
		int			n = __atomic_load_n(&n_forbidden, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&fail_tables, __ATOMIC_ACQUIRE))
			return lsm_status_set(st, LSM_NO_SPACE, ENOSPC,
								  "injected: no space to create \"%s\"", path);
		__atomic_fetch_add(&tables_created, 1, __ATOMIC_RELAXED);
		for (int i = 0; i < n; i++)
			if (pthread_equal(forbidden[i], self))
				__atomic_fetch_add(&tables_by_forbidden, 1, __ATOMIC_RELAXED);
	}
	return posix_env->open_file(posix_env, path, flags, file, st);
}

/* Only compactions read table files while nobody gets: slow them down. */
static LsmCode
wrap_read_at(LsmFile *file, void *buf, size_t n, uint64_t off, LsmStatus *st)
{
	int			us = __atomic_load_n(&slow_reads, __ATOMIC_ACQUIRE);

	if (us > 0)
		usleep((useconds_t) us);
	return posix_env->read_at(file, buf, n, off, st);
}

static LsmEnv *
wrapped_env(void)
{
	posix_env = lsm_env_posix();
	wrap_env = *posix_env;
	wrap_env.open_file = wrap_open_file;
	wrap_env.read_at = wrap_read_at;
	n_forbidden = 0;
	tables_by_forbidden = 0;
	tables_created = 0;
	fail_tables = 0;
	slow_reads = 0;
	return &wrap_env;
}

/* Threads of this process now. */
static int
thread_count(void)
{
	DIR		   *d = opendir("/proc/self/task");
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * The thread count once it is want, or after 2 s.  A joined thread leaves
 * /proc/self/task a moment after pthread_join returns (the kernel wakes the
 * joiner before it releases the task), so a count read at once can still
 * include it; a thread really left running is still counted after 2 s.
 */
static int
threads_become(int want)
{
	int			n = thread_count();

	for (int i = 0; i < 2000 && n != want; i++)
	{
		usleep(1000);
		n = thread_count();
	}
	return n;
}

/* The count before a test, once threads an earlier one joined are gone. */
static int
thread_base(void)
{
	int			n = thread_count();
	int			same = 0;

	for (int i = 0; i < 2000 && same < 20; i++)
	{
		int			m;

		usleep(1000);
		m = thread_count();
		same = m == n ? same + 1 : 0;
		n = m;
	}
	return n;
}

/* Small memtables and tables, low triggers: many flushes and compactions. */
static LsmOptions
bg_options(int threads)
{
	LsmOptions	o;

	lsm_options_init(&o);
	o.env = wrapped_env();
	o.background_threads = threads;
	o.sync_writes = false;
	o.write_buffer_size = 64 * 1024;
	o.block_cache_size = 1 << 20;
	o.l0_compaction_trigger = 2;
	o.l0_slowdown_writes_trigger = 6;
	o.l0_stop_writes_trigger = 10;
	o.max_bytes_for_level_base = 256 * 1024;
	o.target_file_size = 64 * 1024;
	return o;
}

static LsmCode
put1(LsmDb *db, const char *k, const char *v, LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	LsmCode		rc;

	rc = lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(v), st);
	if (rc == LSM_OK)
		rc = lsm_db_write(db, b, st);
	lsm_batch_destroy(b);
	return rc;
}

static LsmCode
del1(LsmDb *db, const char *k, LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	LsmCode		rc;

	rc = lsm_batch_delete(b, lsm_slice_str(k), st);
	if (rc == LSM_OK)
		rc = lsm_db_write(db, b, st);
	lsm_batch_destroy(b);
	return rc;
}

/* get of k into out (NUL-terminated); LSM_NOT_FOUND when absent. */
static LsmCode
get1(LsmDb *db, const char *k, char *out, size_t len)
{
	LsmReadOptions ro;
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmCode		rc;

	lsm_read_options_init(&ro);
	rc = lsm_db_get(db, &ro, lsm_slice_str(k), &v, &st);
	if (rc == LSM_OK)
	{
		size_t		n = v.len < len - 1 ? v.len : len - 1;

		memcpy(out, v.data, n);
		out[n] = '\0';
	}
	else if (rc != LSM_NOT_FOUND)
		fprintf(stderr, "  get %s: %s\n", k, st.msg);
	lsm_buf_free(&v);
	return rc;
}

/*
 * Concurrent writers and readers
 *
 * Writer t writes its keys "t.j" twice: pass 0 puts "t.j.p0.<pad>" for
 * every j, pass 1 puts "t.j.p1.<pad>" for even j and deletes odd j.  Each
 * publishes how far each pass got, so a reader knows exactly what a get
 * must return: below pass 1's progress the pass-1 result; below pass 0's,
 * present (even j) or either (odd j).
 */
#define WRITERS 3
#define READERS 2
#define KEYS 6000
#define PAD 120

typedef struct Shared
{
	LsmDb	   *db;
	int			progress[WRITERS][2];	/* atomics */
	int			stop_readers;
	int			errors;
	uint64_t	reads;
} Shared;

typedef struct ThreadArg
{
	Shared	   *sh;
	int			id;
} ThreadArg;

static void
key_of(char *k, size_t len, int t, int j)
{
	snprintf(k, len, "%d.%06d", t, j);
}

static void
value_of(char *v, size_t len, int t, int j, int pass)
{
	snprintf(v, len, "%d.%06d.p%d.%0*d", t, j, pass, PAD, j);
}

static void
bad(Shared *sh, const char *what, const char *k)
{
	if (__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED) < 5)
		fprintf(stderr, "  %s: key %s\n", what, k);
}

static void *
writer_main(void *p)
{
	ThreadArg  *a = p;
	Shared	   *sh = a->sh;
	char		k[32];
	char		v[256];
	LsmStatus	st;

	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < KEYS; j++)
		{
			LsmCode		rc;

			key_of(k, sizeof(k), a->id, j);
			value_of(v, sizeof(v), a->id, j, pass);
			if (pass == 1 && j % 2 == 1)
				rc = del1(sh->db, k, &st);
			else
				rc = put1(sh->db, k, v, &st);
			if (rc != LSM_OK)
			{
				fprintf(stderr, "  write %s: %s\n", k, st.msg);
				__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED);
				return NULL;
			}
			__atomic_store_n(&sh->progress[a->id][pass], j + 1, __ATOMIC_RELEASE);
		}
	return NULL;
}

static void *
reader_main(void *p)
{
	ThreadArg  *a = p;
	Shared	   *sh = a->sh;
	TestRng		rng = {test_seed("background readers") + (uint64_t) a->id};
	char		k[32];
	char		want[256];
	char		got[256];

	while (!__atomic_load_n(&sh->stop_readers, __ATOMIC_ACQUIRE))
	{
		int			t = (int) test_rng_below(&rng, WRITERS);
		int			p1 = __atomic_load_n(&sh->progress[t][1], __ATOMIC_ACQUIRE);
		int			p0 = __atomic_load_n(&sh->progress[t][0], __ATOMIC_ACQUIRE);
		int			j;
		LsmCode		rc;

		if (p0 == 0)
			continue;
		j = (int) test_rng_below(&rng, (uint64_t) p0);
		key_of(k, sizeof(k), t, j);
		rc = get1(sh->db, k, got, sizeof(got));
		if (j < p1 && j % 2 == 1)
		{
			if (rc != LSM_NOT_FOUND)
				bad(sh, "deleted key found", k);
		}
		else if (j < p1)
		{
			value_of(want, sizeof(want), t, j, 1);
			if (rc != LSM_OK || strcmp(got, want) != 0)
				bad(sh, "pass-1 value wrong", k);
		}
		else if (j % 2 == 0 || rc == LSM_OK)
		{
			char		want1[256];

			value_of(want, sizeof(want), t, j, 0);
			value_of(want1, sizeof(want1), t, j, 1);
			if (rc != LSM_OK || (strcmp(got, want) != 0 && strcmp(got, want1) != 0))
				bad(sh, "written key missing or wrong", k);
		}
		__atomic_fetch_add(&sh->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Every key exactly as both passes left it, by gets and by a scan. */
static int
check_final(LsmDb *db)
{
	LsmReadOptions ro;
	LsmStatus	st;
	LsmIter    *it;
	char		k[32];
	char		want[256];
	char		got[256];
	int			n = 0;

	for (int t = 0; t < WRITERS; t++)
		for (int j = 0; j < KEYS; j++)
		{
			LsmCode		rc;

			key_of(k, sizeof(k), t, j);
			rc = get1(db, k, got, sizeof(got));
			if (j % 2 == 1)
				CHECK_RET(rc == LSM_NOT_FOUND, 0);
			else
			{
				value_of(want, sizeof(want), t, j, 1);
				CHECK_RET(rc == LSM_OK, 0);
				CHECK_RET(strcmp(got, want) == 0, 0);
			}
		}
	lsm_read_options_init(&ro);
	CHECK_RET(lsm_db_iter(db, &ro, &it, &st) == LSM_OK, 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
	{
		LsmSlice	key = lsm_iter_key(it);
		int			t = (n / (KEYS / 2));
		int			j = (n % (KEYS / 2)) * 2;

		key_of(k, sizeof(k), t, j);
		CHECK_RET(key.len == strlen(k) && memcmp(key.data, k, key.len) == 0, 0);
		n++;
	}
	CHECK_RET(lsm_iter_status(it, &st) == LSM_OK, 0);
	lsm_iter_destroy(it);
	CHECK_RET(n == WRITERS * KEYS / 2, 0);
	return 1;
}

static void
test_concurrent(void)
{
	char		dir[256];
	LsmOptions	o = bg_options(2);
	LsmStatus	st;
	LsmDbStats	stats;
	Shared		sh;
	ThreadArg	wargs[WRITERS];
	ThreadArg	rargs[READERS];
	pthread_t	writers[WRITERS];
	pthread_t	readers[READERS];
	int			base = thread_base();
	int			i;

	memset(&sh, 0, sizeof(sh));
	test_tmpdir(dir, sizeof(dir), "bg_concurrent");
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);
	CHECK(threads_become(base + 2) == base + 2);

	for (i = 0; i < READERS; i++)
	{
		rargs[i].sh = &sh;
		rargs[i].id = i;
		pthread_create(&readers[i], NULL, reader_main, &rargs[i]);
	}
	for (i = 0; i < WRITERS; i++)
	{
		wargs[i].sh = &sh;
		wargs[i].id = i;
		pthread_create(&writers[i], NULL, writer_main, &wargs[i]);
		forbidden[i] = writers[i];
	}
	__atomic_store_n(&n_forbidden, WRITERS, __ATOMIC_RELEASE);
	for (i = 0; i < WRITERS; i++)
		pthread_join(writers[i], NULL);
	__atomic_store_n(&n_forbidden, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&sh.stop_readers, 1, __ATOMIC_RELEASE);
	for (i = 0; i < READERS; i++)
		pthread_join(readers[i], NULL);
	CHECK(sh.errors == 0);

	lsm_db_stats(sh.db, &stats);
	printf("  %llu flushes, %llu compactions, %d tables created, %llu reads, "
		   "%llu memtable waits, %llu stall stops\n",
		   (unsigned long long) stats.flushes, (unsigned long long) stats.compactions,
		   __atomic_load_n(&tables_created, __ATOMIC_RELAXED),
		   (unsigned long long) sh.reads,
		   (unsigned long long) stats.memtable_waits,
		   (unsigned long long) stats.stall_stops);
	CHECK(stats.flushes > 10);
	CHECK(stats.compactions > 0);
	/* the point of it all: no writer made a table */
	CHECK(__atomic_load_n(&tables_created, __ATOMIC_RELAXED) > 0);
	CHECK(__atomic_load_n(&tables_by_forbidden, __ATOMIC_RELAXED) == 0);
	CHECK(check_final(sh.db));
	CHECK_OK(lsm_db_verify(sh.db, &st), &st);
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	CHECK(threads_become(base) == base);

	/* exact after a reopen, with the threads and without */
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);
	CHECK(check_final(sh.db));
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	o.background_threads = 0;
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);
	CHECK(check_final(sh.db));
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	test_rmtree(dir);
}

/*
 * Close while the thread compacts: it finishes that step, the close joins
 * it, and everything written is there after a reopen.
 */
static void
test_close_during_compaction(void)
{
	char		dir[256];
	LsmOptions	o = bg_options(1);
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;
	char		k[32];
	char		v[256];
	char		got[256];
	int			base = thread_base();
	int			n = 0;
	bool		caught = false;

	o.write_buffer_size = 32 * 1024;
	/* slower compactions: zstd everywhere, bigger levels to merge into */
	o.compression_upper = LSM_COMPRESSION_ZSTD;
	o.l0_compaction_trigger = 4;
	test_tmpdir(dir, sizeof(dir), "bg_close");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(threads_become(base + 1) == base + 1);
	while (n < 200000 && !caught)
	{
		for (int i = 0; i < 50; i++, n++)
		{
			key_of(k, sizeof(k), 0, (int) (((uint64_t) n * 7919) % 100003));
			value_of(v, sizeof(v), 0, n, 0);
			CHECK_OK(put1(db, k, v, &st), &st);
		}
		lsm_db_stats(db, &stats);
		caught = stats.running_compactions > 0;
	}
	CHECK(caught);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(threads_become(base) == base);

	o.background_threads = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	/*
	 * The last 100003 writes went to distinct keys (7919 is invertible
	 * modulo the prime 100003): each of them is what its key reads.
	 */
	printf("  closed after %d writes\n", n);
	for (int m = n - 1; m >= 0 && m >= n - 100003; m--)
	{
		key_of(k, sizeof(k), 0, (int) (((uint64_t) m * 7919) % 100003));
		value_of(v, sizeof(v), 0, m, 0);
		CHECK(get1(db, k, got, sizeof(got)) == LSM_OK);
		CHECK(strcmp(got, v) == 0);
	}
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * One thread, busy with a long compaction, still flushes the memtables
 * writers freeze meanwhile (it stops every 4096 entries to do so), so
 * writers do not wait for the whole compaction.
 */
static void
test_flush_during_compaction(void)
{
	char		dir[256];
	LsmOptions	o = bg_options(1);
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;
	char		k[32];
	char		v[64];
	uint64_t	f0;
	int			n = 0;
	bool		flushed_meanwhile = false;

	/* about 3600 entries per memtable, four of them per compaction */
	o.write_buffer_size = 256 * 1024;
	o.l0_compaction_trigger = 4;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	o.target_file_size = 4 << 20;
	test_tmpdir(dir, sizeof(dir), "bg_interleave");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	__atomic_store_n(&slow_reads, 20000, __ATOMIC_RELEASE);
	for (stats.running_compactions = 0; stats.running_compactions == 0 && n < 200000; n++)
	{
		snprintf(k, sizeof(k), "k%09d", (int) (((uint64_t) n * 7919) % 1000003));
		snprintf(v, sizeof(v), "v%d", n);
		CHECK_OK(put1(db, k, v, &st), &st);
		if (n % 100 == 0)
			lsm_db_stats(db, &stats);
	}
	CHECK(stats.running_compactions > 0);
	/* two more memtables' worth: frozen while the compaction runs */
	f0 = stats.flushes;
	for (int i = 0; i < 8000; i++, n++)
	{
		snprintf(k, sizeof(k), "k%09d", (int) (((uint64_t) n * 7919) % 1000003));
		snprintf(v, sizeof(v), "v%d", n);
		CHECK_OK(put1(db, k, v, &st), &st);
	}
	for (int tries = 0; tries < 2000; tries++)
	{
		lsm_db_stats(db, &stats);
		if (stats.running_compactions == 0)
			break;
		if (stats.flushes > f0)
		{
			flushed_meanwhile = true;
			break;
		}
		usleep(5000);
	}
	printf("  flushes %llu -> %llu while a compaction ran: %s\n",
		   (unsigned long long) f0, (unsigned long long) stats.flushes,
		   flushed_meanwhile ? "yes" : "no");
	CHECK(flushed_meanwhile);
	__atomic_store_n(&slow_reads, 0, __ATOMIC_RELEASE);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * A flush that fails in the thread (no space for the table) becomes the
 * database's error: a later write fails with it instead of waiting or
 * succeeding.  Every write acknowledged before is there after a reopen.
 */
static void
test_flush_failure(void)
{
	char		dir[256];
	LsmOptions	o = bg_options(1);
	LsmStatus	st;
	LsmDb	   *db;
	char		k[32];
	char		v[256];
	char		got[256];
	int			acked = 0;
	LsmCode		rc = LSM_OK;

	test_tmpdir(dir, sizeof(dir), "bg_fail");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	__atomic_store_n(&fail_tables, 1, __ATOMIC_RELEASE);
	/* 20000 writes of ~150 bytes fill 46 memtables: far past LSM_MAX_IMM */
	while (acked < 20000)
	{
		key_of(k, sizeof(k), 1, acked);
		value_of(v, sizeof(v), 1, acked, 0);
		rc = put1(db, k, v, &st);
		if (rc != LSM_OK)
			break;
		acked++;
	}
	printf("  %d writes acknowledged, then: %s: %s\n", acked, lsm_code_name(rc), st.msg);
	CHECK(rc == LSM_NO_SPACE);
	CHECK(strstr(st.msg, "injected") != NULL);
	/* sticky: the next write fails the same way at once */
	CHECK(put1(db, "x", "y", &st) == LSM_NO_SPACE);
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* the disk has room again: everything acknowledged is back */
	__atomic_store_n(&fail_tables, 0, __ATOMIC_RELEASE);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int j = 0; j < acked; j++)
	{
		key_of(k, sizeof(k), 1, j);
		value_of(v, sizeof(v), 1, j, 0);
		CHECK(get1(db, k, got, sizeof(got)) == LSM_OK);
		CHECK(strcmp(got, v) == 0);
	}
	CHECK(get1(db, "x", got, sizeof(got)) == LSM_NOT_FOUND);
	/* and writes work again, flushed by the thread */
	CHECK_OK(put1(db, "x", "y", &st), &st);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(get1(db, "x", got, sizeof(got)) == LSM_OK);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* Open and close many times: every close joins every thread. */
static void
test_no_thread_leak(void)
{
	char		dir[256];
	LsmOptions	o = bg_options(3);
	LsmStatus	st;
	LsmDb	   *db;
	int			base = thread_base();

	CHECK(base > 0);
	test_tmpdir(dir, sizeof(dir), "bg_leak");
	for (int i = 0; i < 20; i++)
	{
		char		k[32];

		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		CHECK(threads_become(base + 3) == base + 3);
		snprintf(k, sizeof(k), "k%d", i);
		CHECK_OK(put1(db, k, "v", &st), &st);
		CHECK_OK(lsm_db_close(db, &st), &st);
		CHECK(threads_become(base) == base);
	}
	/* a failed open leaves no thread behind either */
	o.create_if_missing = false;
	CHECK(lsm_db_open(&o, "/nonexistent/bg_leak", &db, &st) != LSM_OK);
	CHECK(threads_become(base) == base);
	test_rmtree(dir);
}

/* Settings that cannot work are refused before anything starts. */
static void
test_options(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;

	test_tmpdir(dir, sizeof(dir), "bg_options");
	o = bg_options(-1);
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	o = bg_options(65);
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	o = bg_options(1);
	o.external_wal = true;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	o = bg_options(1);
	o.background_flush = true;
	o.auto_compact = false;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, "background_threads") != NULL);
	/* auto_compact (on by default) gives way to the threads */
	o = bg_options(1);
	CHECK(o.auto_compact);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_options);
	RUN(test_no_thread_leak);
	RUN(test_concurrent);
	RUN(test_close_during_compaction);
	RUN(test_flush_during_compaction);
	RUN(test_flush_failure);
	return test_finish();
}
