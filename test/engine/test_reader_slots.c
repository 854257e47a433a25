/*
 * test_reader_slots.c
 *		Gets through reader slots (db_internal.h, LsmReaderSlot): no mutex
 *		on the get path, counters summed from the slots, no reference lost
 *		when a get never returns, and readers racing flushes and
 *		compactions that swap superversions under them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LSAN_DISABLE() __lsan_disable()
#define LSAN_ENABLE() __lsan_enable()
#else
#define LSAN_DISABLE() ((void) 0)
#define LSAN_ENABLE() ((void) 0)
#endif

#include "lsm.h"
#include "lsm_alloc.h"

/*
 * An env that counts the mutex locks of the calling thread, and region
 * hooks that count the memtables alive: a superversion pin that leaks keeps
 * its memtables alive.
 */
static LsmEnv counting_env;
static __thread long my_locks;
static long live_regions;

static void
counting_lock(LsmMutex *m)
{
	my_locks++;
	lsm_env_posix()->mutex_lock(m);
}

static void *
count_region_alloc(void *arg, size_t size)
{
	__atomic_add_fetch(&live_regions, 1, __ATOMIC_RELAXED);
	return malloc(size);
}

static void
count_region_free(void *arg, void *p, size_t size)
{
	__atomic_sub_fetch(&live_regions, 1, __ATOMIC_RELAXED);
	free(p);
}

static LsmOptions
slot_opts(void)
{
	LsmOptions	o;

	counting_env = *lsm_env_posix();
	counting_env.mutex_lock = counting_lock;
	lsm_options_init(&o);
	o.env = &counting_env;
	o.sync_writes = false;
	o.region_alloc = count_region_alloc;
	o.region_free = count_region_free;
	return o;
}

static bool
put(LsmDb *db, const char *k, const char *v)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmCode		rc;

	lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(v), &st);
	rc = lsm_db_write(db, b, &st);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

/*
 * Once a thread's slot holds the current superversion, its gets take no
 * lock at all (memtable hits: the block cache has mutexes of its own).
 * Before reader slots every get locked the database mutex twice.  The
 * counters still add up, from the slots.
 */
static void
test_get_takes_no_lock(void)
{
	char		dir[256];
	LsmOptions	o = slot_opts();
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	LsmDbStats	s;
	long		before;

	test_tmpdir(dir, sizeof(dir), "slots_nolock");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(put(db, "a", "1"));
	CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str("a"), &v, &st), &st);
	before = my_locks;
	for (int i = 0; i < 1000; i++)
	{
		CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str("a"), &v, &st), &st);
		CHECK(lsm_db_get(db, NULL, lsm_slice_str("b"), &v, &st) == LSM_NOT_FOUND);
	}
	printf("  2000 gets took %ld locks\n", my_locks - before);
	CHECK(my_locks - before == 0);

	/* a write publishes a sequence number, not a superversion: still none */
	CHECK(put(db, "a", "2"));
	before = my_locks;
	CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str("a"), &v, &st), &st);
	CHECK(v.len == 1 && v.data[0] == '2');
	CHECK(my_locks - before == 0);

	/* a flush installs a new one: the next get takes mu once to catch up */
	CHECK_OK(lsm_db_flush(db, &st), &st);
	before = my_locks;
	CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str("a"), &v, &st), &st);
	CHECK(v.len == 1 && v.data[0] == '2');
	CHECK(my_locks - before >= 1);

	lsm_db_stats(db, &s);
	CHECK(s.gets == 2003);
	CHECK(s.memtable_hits == 1002);
	lsm_buf_free(&v);
	CHECK_OK(lsm_db_close(db, &st), &st);
	fprintf(stderr, "  live regions at close %ld\n", live_regions);
	CHECK(live_regions == 0);
	test_rmtree(dir);
}

/*
 * An allocator like a host's over its shared heap (shmem.c): alloc stands
 * for the shared heap, whose one mutex every process takes, alloc_private
 * for process memory.  It counts the calling thread's shared allocations.
 */
static __thread long my_shared_allocs;

static void *
count_alloc(void *arg, size_t n)
{
	my_shared_allocs++;
	return malloc(n);
}

static void *
count_realloc(void *arg, void *p, size_t n)
{
	if (p == NULL)
		my_shared_allocs++;
	return realloc(p, n);
}

static void
count_free(void *arg, void *p)
{
	free(p);
}

static void *
count_alloc_private(void *arg, size_t n)
{
	return malloc(n);
}

/*
 * A get that reads tables (bloom filter, index and data block, from the
 * block cache) allocates nothing from a host's shared heap: its block
 * iterators and key buffers are process memory.  Before, every table a
 * get probed cost four or more trips through the heap's mutex, and with
 * four backends running the gets of a join that mutex was the most
 * contended lock (issue 16).
 */
static void
test_get_allocates_no_shared_memory(void)
{
	const LsmAllocator a = {count_alloc, count_realloc, count_free, NULL,
	count_alloc_private};
	char		dir[256];
	char		k[32];
	LsmOptions	o;
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	LsmDbStats	s;
	long		before;

	lsm_set_allocator(&a);
	o = slot_opts();
	test_tmpdir(dir, sizeof(dir), "slots_noshared");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	/* two tables (one flushed over the other), so a get probes both */
	for (int round = 0; round < 2; round++)
	{
		for (int i = round; i < 2000; i += 2)
		{
			snprintf(k, sizeof(k), "key%06d", i);
			CHECK(put(db, k, "a value of some length, to fill a few blocks"));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	/* warm the block cache and the slot's superversion */
	for (int i = 0; i < 2000; i++)
	{
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str(k), &v, &st), &st);
	}
	lsm_db_stats(db, &s);
	CHECK(s.block_cache_hits > 0);

	before = my_shared_allocs;
	for (int i = 0; i < 2000; i++)
	{
		snprintf(k, sizeof(k), "key%06d", i);
		CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str(k), &v, &st), &st);
		snprintf(k, sizeof(k), "key%06dx", i);
		CHECK(lsm_db_get(db, NULL, lsm_slice_str(k), &v, &st) == LSM_NOT_FOUND);
	}
	printf("  4000 gets from tables made %ld shared allocations\n", my_shared_allocs - before);
	CHECK(my_shared_allocs - before == 0);

	lsm_buf_free(&v);
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_set_allocator(NULL);
	test_rmtree(dir);
}

/*
 * A get that never returns: a host's merge callback raising an error
 * longjmps out of lsm_db_get with the superversion pinned (a Postgres
 * ERROR does exactly this).  The pin is the slot's to recover: the next
 * get, an install or the close drops it, so the memtables it held are
 * freed.  Before reader slots the pin leaked for good.
 */
static jmp_buf escape;
static bool escape_armed;

static LsmCode
escaping_merge(void *arg, LsmSlice key, const LsmSlice *base,
			   const LsmSlice *operands, int n_operands, LsmBuf *out, LsmStatus *st)
{
	if (escape_armed)
		longjmp(escape, 1);
	lsm_buf_set(out, "m", 1);
	return LSM_OK;
}

/*
 * The get's own scratch memory (its operand list) is lost with its stack
 * frame, as a host's ERROR would lose it to its memory context: the
 * sanitizer is told to ignore what is allocated meanwhile.  The pin is
 * what must not leak, and live_regions sees that.
 */
static void
escape_get(LsmDb *db, LsmBuf *v)
{
	LsmStatus	st;

	escape_armed = true;
	LSAN_DISABLE();
	if (setjmp(escape) == 0)
	{
		lsm_db_get(db, NULL, lsm_slice_str("m"), v, &st);
		CHECK(!"the merge callback should not return");
	}
	LSAN_ENABLE();
	escape_armed = false;
}

static void
run_escape(bool flush_between)
{
	char		dir[256];
	LsmOptions	o = slot_opts();
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	LsmBatch   *b;

	o.merge = escaping_merge;
	test_tmpdir(dir, sizeof(dir), "slots_escape");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	b = lsm_batch_create();
	lsm_batch_merge(b, lsm_slice_str("m"), lsm_slice_str("x"), &st);
	CHECK_OK(lsm_db_write(db, b, &st), &st);
	lsm_batch_destroy(b);

	escape_get(db, &v);
	if (flush_between)
	{
		/* the install marks the abandoned pin stale */
		CHECK_OK(lsm_db_flush(db, &st), &st);
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str("m"), &v, &st), &st);
	CHECK(v.len == 1 && v.data[0] == 'm');
	escape_get(db, &v);
	escape_get(db, &v);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	/* the install marked the abandoned pin stale; the next get drops it */
	CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str("m"), &v, &st), &st);
	/* only the current memtable is alive: no pin kept an old one */
	fprintf(stderr, "  live regions %ld\n", live_regions);
	CHECK(live_regions == 1);
	escape_get(db, &v);
	lsm_buf_free(&v);
	CHECK_OK(lsm_db_close(db, &st), &st);
	fprintf(stderr, "  live regions at close %ld\n", live_regions);
	CHECK(live_regions == 0);
	test_rmtree(dir);
}

static void
test_escaped_get_keeps_no_pin(void)
{
	run_escape(false);
	run_escape(true);
}

/*
 * Readers racing installs.  A writer bumps every key's value (a counter,
 * zero-padded so that it compares as a string) in rounds, with small
 * memtables so that flushes come every few rounds, and two threads
 * compact as a host's workers do; each getter checks that no key ever
 * goes back to an older value and none disappears.  Run under the
 * sanitizers too (engine-san), which see a superversion freed under a
 * reader or one never freed.
 */
#define NKEYS 200

typedef struct Shared
{
	LsmDb	   *db;
	int			stop;
	long		gets;
	long		errors;
	long		compactions;
} Shared;

static void
key_of(char *k, size_t len, int i)
{
	snprintf(k, len, "key%05d", i);
}

static void *
getter(void *p)
{
	Shared	   *sh = p;
	LsmBuf		v = LSM_BUF_INIT;
	long		last[NKEYS];
	TestRng		rng = {.s = (uint64_t) (uintptr_t) &v | 1};
	long		n = 0;

	memset(last, 0, sizeof(last));
	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
	{
		int			i = (int) test_rng_below(&rng, NKEYS);
		char		k[32];
		char		buf[32];
		LsmStatus	st;
		LsmCode		rc;
		long		got;

		key_of(k, sizeof(k), i);
		rc = lsm_db_get(sh->db, NULL, lsm_slice_str(k), &v, &st);
		if (rc != LSM_OK || v.len >= sizeof(buf))
		{
			fprintf(stderr, "  get %s: %s\n", k, lsm_code_name(rc));
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		memcpy(buf, v.data, v.len);
		buf[v.len] = '\0';
		got = atol(buf);
		if (got < last[i])
		{
			fprintf(stderr, "  %s went back from %ld to %ld\n", k, last[i], got);
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		}
		last[i] = got;
		n++;
	}
	__atomic_add_fetch(&sh->gets, n, __ATOMIC_RELAXED);
	lsm_buf_free(&v);
	return NULL;
}

static void *
compactor(void *p)
{
	Shared	   *sh = p;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
	{
		LsmCompaction *c;
		LsmStatus	st;
		LsmCode		rc = lsm_db_compaction_pick(sh->db, &c, &st);

		if (rc == LSM_NOT_FOUND)
		{
			usleep(100);
			continue;
		}
		if (rc == LSM_OK)
		{
			rc = lsm_compaction_run(c, &st);
			if (rc == LSM_OK)
				rc = lsm_compaction_install(c, &st);
			lsm_compaction_release(c);
		}
		if (rc != LSM_OK)
		{
			fprintf(stderr, "  compactor: %s\n", st.msg);
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		__atomic_add_fetch(&sh->compactions, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void
test_readers_race_installs(void)
{
	char		dir[256];
	LsmOptions	o = slot_opts();
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	Shared		sh;
	pthread_t	th[6];
	int			nth = 0;
	long		rounds = getenv("LSM_TEST_ITERS") ? atol(getenv("LSM_TEST_ITERS")) : 400;
	long		r;
	char		k[32];
	char		val[32];

	memset(&sh, 0, sizeof(sh));
	o.write_buffer_size = 16 * 1024;
	o.target_file_size = 8 * 1024;
	o.max_bytes_for_level_base = 32 * 1024;
	o.level_size_multiplier = 2;
	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	test_tmpdir(dir, sizeof(dir), "slots_race");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	sh.db = db;
	for (int i = 0; i < NKEYS; i++)
	{
		key_of(k, sizeof(k), i);
		CHECK(put(db, k, "0000000000"));
	}
	for (int i = 0; i < 4; i++)
		pthread_create(&th[nth++], NULL, getter, &sh);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[nth++], NULL, compactor, &sh);
	for (r = 1; r <= rounds && !__atomic_load_n(&sh.errors, __ATOMIC_RELAXED); r++)
	{
		LsmBatch   *b = lsm_batch_create();

		snprintf(val, sizeof(val), "%010ld", r);
		for (int i = 0; i < NKEYS; i++)
		{
			key_of(k, sizeof(k), i);
			lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(val), &st);
		}
		CHECK_OK(lsm_db_write(db, b, &st), &st);
		lsm_batch_destroy(b);
	}
	usleep(20000);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	lsm_db_stats(db, &s);
	printf("  %ld rounds, %ld gets, %llu flushes, %ld compactions\n", r - 1, sh.gets,
		   (unsigned long long) s.flushes, sh.compactions);
	CHECK(sh.errors == 0);
	CHECK(sh.gets > 0);
	CHECK(s.flushes > 10 && sh.compactions > 0);
	/* every get counted, from four slots */
	CHECK(s.gets == (uint64_t) sh.gets);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	fprintf(stderr, "  live regions at close %ld\n", live_regions);
	CHECK(live_regions == 0);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_get_takes_no_lock);
	RUN(test_get_allocates_no_shared_memory);
	RUN(test_escaped_get_keeps_no_pin);
	RUN(test_readers_race_installs);
	return test_finish();
}
