/*
 * test_block_cache.c
 *		The block cache: hits, duplicates, LRU eviction under a byte
 *		budget, pins surviving eviction, shedding, capacity 0, erase_file, and a
 *		multi-threaded stress run.
 */
#include <pthread.h>

#include "testutil.h"

#include "block_cache.h"
#include "lsm_env.h"

/* A block whose bytes say which (file, offset) it is, to catch mix-ups. */
static uint8_t *
make_block(uint64_t file, uint64_t off, size_t len)
{
	uint8_t    *p = malloc(len);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t) (file * 31 + off * 7 + i);
	return p;
}

static int
block_ok(LsmCacheHandle *h, uint64_t file, uint64_t off, size_t len)
{
	LsmSlice	v = lsm_block_cache_value(h);

	if (v.len != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (v.data[i] != (uint8_t) (file * 31 + off * 7 + i))
			return 0;
	return 1;
}

static void
test_basic(void)
{
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 1 << 20);
	LsmCacheHandle *h,
			   *h2;

	CHECK(c != NULL);
	CHECK(lsm_block_cache_lookup(c, 1, 0) == NULL);
	h = lsm_block_cache_insert(c, 1, 0, make_block(1, 0, 100), 100);
	CHECK(h != NULL && block_ok(h, 1, 0, 100));
	CHECK(lsm_block_cache_usage(c) == 100);
	lsm_block_cache_release(c, h);
	h = lsm_block_cache_lookup(c, 1, 0);
	CHECK(h != NULL && block_ok(h, 1, 0, 100));
	/* same key again: the existing block wins, the new bytes are freed */
	h2 = lsm_block_cache_insert(c, 1, 0, make_block(9, 9, 50), 50);
	CHECK(h2 == h);
	CHECK(lsm_block_cache_usage(c) == 100);
	lsm_block_cache_release(c, h2);
	lsm_block_cache_release(c, h);
	CHECK(lsm_block_cache_lookup(c, 2, 0) == NULL);
	CHECK(lsm_block_cache_lookup(c, 1, 1) == NULL);
	lsm_block_cache_destroy(c);
}

static void
test_eviction(void)
{
	const size_t cap = 64 * 1024;
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), cap);
	int			hits = 0;

	CHECK(c != NULL);
	for (uint64_t i = 0; i < 2000; i++)
	{
		LsmCacheHandle *h = lsm_block_cache_insert(c, 3, i * 4096, make_block(3, i * 4096, 1000), 1000);

		CHECK(h != NULL);
		lsm_block_cache_release(c, h);
		CHECK(lsm_block_cache_usage(c) <= cap + 16);
	}
	/* the most recent blocks are still there, the oldest are gone */
	for (uint64_t i = 1990; i < 2000; i++)
	{
		LsmCacheHandle *h = lsm_block_cache_lookup(c, 3, i * 4096);

		hits += h != NULL;
		if (h)
		{
			CHECK(block_ok(h, 3, i * 4096, 1000));
			lsm_block_cache_release(c, h);
		}
	}
	CHECK(hits >= 8);
	CHECK(lsm_block_cache_lookup(c, 3, 0) == NULL);
	lsm_block_cache_destroy(c);
}

/*
 * Evicted blocks' memory comes back through lsm_block_cache_buffer for
 * blocks of about their size (so a miss spares the heap), never for much
 * smaller or bigger ones, and shed gives it back to the heap.
 */
static void
test_recycled_buffers(void)
{
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 16 * 1024);
	int			got = 0;

	CHECK(c != NULL);
	for (uint64_t i = 0; i < 200; i++)
	{
		LsmCacheHandle *h = lsm_block_cache_insert(c, 3, i * 4096, make_block(3, i * 4096, 1000), 1000);

		CHECK(h != NULL);
		lsm_block_cache_release(c, h);
	}
	CHECK(lsm_block_cache_usage(c) <= 16 * 1024 + 16);
	/* much bigger or much smaller than what was evicted: none */
	for (uint64_t i = 0; i < 64; i++)
		CHECK(lsm_block_cache_buffer(c, 4, i * 4096, 5000) == NULL);
	for (uint64_t i = 0; i < 64; i++)
		CHECK(lsm_block_cache_buffer(c, 4, i * 4096, 500) == NULL);
	/* about their size: the shards that evicted give their blocks' memory */
	for (uint64_t i = 0; i < 64; i++)
	{
		uint8_t    *p = lsm_block_cache_buffer(c, 4, i * 4096, 990);
		LsmCacheHandle *h;

		if (p == NULL)
			continue;
		got++;
		for (size_t k = 0; k < 990; k++)
			p[k] = (uint8_t) (4 * 31 + i * 4096 * 7 + k);
		h = lsm_block_cache_insert(c, 4, i * 4096, p, 990);
		CHECK(h != NULL && block_ok(h, 4, i * 4096, 990));
		lsm_block_cache_release(c, h);
	}
	CHECK(got >= 8);
	/* shed gives every kept block back */
	lsm_block_cache_shed(c, SIZE_MAX);
	for (uint64_t i = 0; i < 64; i++)
		CHECK(lsm_block_cache_buffer(c, 5, i * 4096, 1000) == NULL);
	lsm_block_cache_destroy(c);
}

/* A pinned block outlives eviction and erase; its bytes stay intact. */
static void
test_pinned_survives(void)
{
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 16 * 1024);
	LsmCacheHandle *pinned;

	CHECK(c != NULL);
	pinned = lsm_block_cache_insert(c, 5, 0, make_block(5, 0, 5000), 5000);
	CHECK(pinned != NULL);
	for (uint64_t i = 1; i < 500; i++)
	{
		LsmCacheHandle *h = lsm_block_cache_insert(c, 5, i, make_block(5, i, 3000), 3000);

		lsm_block_cache_release(c, h);
	}
	CHECK(block_ok(pinned, 5, 0, 5000));
	lsm_block_cache_erase_file(c, 5);
	CHECK(lsm_block_cache_usage(c) == 0);
	CHECK(lsm_block_cache_lookup(c, 5, 0) == NULL);
	CHECK(block_ok(pinned, 5, 0, 5000));
	lsm_block_cache_release(c, pinned);
	lsm_block_cache_destroy(c);
}

/* Shedding drops unpinned blocks below the budget; pinned ones stay. */
static void
test_shed(void)
{
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 1 << 20);
	LsmCacheHandle *pinned;
	size_t		before;
	size_t		dropped;

	CHECK(c != NULL);
	pinned = lsm_block_cache_insert(c, 6, 0, make_block(6, 0, 1000), 1000);
	CHECK(pinned != NULL);
	for (uint64_t i = 1; i < 100; i++)
		lsm_block_cache_release(c, lsm_block_cache_insert(c, 6, i, make_block(6, i, 1000), 1000));
	before = lsm_block_cache_usage(c);
	CHECK(before == 100 * 1000);
	dropped = lsm_block_cache_shed(c, 10 * 1000);
	CHECK(dropped > 0 && dropped < before);
	CHECK(lsm_block_cache_usage(c) == before - dropped);
	dropped = lsm_block_cache_shed(c, SIZE_MAX);
	CHECK(lsm_block_cache_usage(c) == 1000);
	CHECK(lsm_block_cache_shed(c, SIZE_MAX) == 0);
	CHECK(block_ok(pinned, 6, 0, 1000));
	lsm_block_cache_release(c, pinned);
	CHECK(lsm_block_cache_lookup(c, 6, 1) == NULL);
	lsm_block_cache_destroy(c);
}

static void
test_capacity_zero(void)
{
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 0);
	LsmCacheHandle *h,
			   *h2;

	CHECK(c != NULL);
	h = lsm_block_cache_insert(c, 1, 0, make_block(1, 0, 300), 300);
	CHECK(h != NULL && block_ok(h, 1, 0, 300));
	CHECK(lsm_block_cache_usage(c) == 0);
	CHECK(lsm_block_cache_lookup(c, 1, 0) == NULL);
	/* a second insert of the same key is a separate, equally working handle */
	h2 = lsm_block_cache_insert(c, 1, 0, make_block(1, 0, 300), 300);
	CHECK(h2 != NULL && h2 != h && block_ok(h2, 1, 0, 300));
	lsm_block_cache_release(c, h);
	lsm_block_cache_release(c, h2);
	lsm_block_cache_destroy(c);
}

static void
test_erase_file(void)
{
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 1 << 20);

	CHECK(c != NULL);
	for (uint64_t f = 1; f <= 3; f++)
		for (uint64_t o = 0; o < 50; o++)
			lsm_block_cache_release(c, lsm_block_cache_insert(c, f, o, make_block(f, o, 10), 10));
	CHECK(lsm_block_cache_usage(c) == 1500);
	lsm_block_cache_erase_file(c, 2);
	CHECK(lsm_block_cache_usage(c) == 1000);
	for (uint64_t o = 0; o < 50; o++)
	{
		LsmCacheHandle *h;

		CHECK(lsm_block_cache_lookup(c, 2, o) == NULL);
		h = lsm_block_cache_lookup(c, 3, o);
		CHECK(h != NULL && block_ok(h, 3, o, 10));
		lsm_block_cache_release(c, h);
	}
	lsm_block_cache_destroy(c);
}

typedef struct StressArg
{
	LsmBlockCache *c;
	uint64_t	seed;
	int			bad;
	uint64_t	hits;
} StressArg;

static void *
stress_thread(void *p)
{
	StressArg  *a = p;
	TestRng		r = {a->seed};
	LsmCacheHandle *held[8] = {0};

	for (int i = 0; i < 200000; i++)
	{
		uint64_t	f = test_rng_below(&r, 4);
		uint64_t	o = test_rng_below(&r, 300);
		size_t		len = 64 + (size_t) ((f * 131 + o) % 512);
		LsmCacheHandle *h = lsm_block_cache_lookup(a->c, f, o);
		int			slot = (int) test_rng_below(&r, 8);

		if (h != NULL)
			a->hits++;
		else
			h = lsm_block_cache_insert(a->c, f, o, make_block(f, o, len), len);
		if (h == NULL || !block_ok(h, f, o, len))
			a->bad++;
		/* keep a few pinned for a while to exercise detached entries */
		if (held[slot])
			lsm_block_cache_release(a->c, held[slot]);
		held[slot] = h;
		if (test_rng_below(&r, 1000) == 0)
			lsm_block_cache_erase_file(a->c, test_rng_below(&r, 4));
	}
	for (int s = 0; s < 8; s++)
		if (held[s])
			lsm_block_cache_release(a->c, held[s]);
	return NULL;
}

static void
test_threads(void)
{
	uint64_t	seed = test_seed("block cache threads");
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 100 * 1024);
	pthread_t	th[4];
	StressArg	args[4];
	uint64_t	hits = 0;

	CHECK(c != NULL);
	for (int i = 0; i < 4; i++)
	{
		args[i] = (StressArg) {c, seed + (uint64_t) i * 7919, 0, 0};
		CHECK(pthread_create(&th[i], NULL, stress_thread, &args[i]) == 0);
	}
	for (int i = 0; i < 4; i++)
	{
		pthread_join(th[i], NULL);
		CHECK(args[i].bad == 0);
		hits += args[i].hits;
	}
	printf("  %llu hits of 800000 lookups, usage %zu\n", (unsigned long long) hits,
		   lsm_block_cache_usage(c));
	CHECK(hits > 0);
	CHECK(lsm_block_cache_usage(c) <= 100 * 1024 + 16);
	lsm_block_cache_destroy(c);
}

/*
 * Views: the same file number under two ids is two blocks; destroying a
 * view erases its blocks (pinned ones live until released), so a new view
 * with the same id starts empty and other ids keep theirs.
 */
static void
test_view_reuse(void)
{
	LsmBlockCache *c = lsm_block_cache_create(lsm_env_posix(), 1 << 20);
	LsmBlockCache *a;
	LsmBlockCache *b;
	LsmCacheHandle *h;
	LsmCacheHandle *pinned;

	CHECK(c != NULL);
	a = lsm_block_cache_view(c, 3);
	b = lsm_block_cache_view(c, 4);
	CHECK(a != NULL && b != NULL);
	h = lsm_block_cache_insert(a, 7, 0, make_block(7, 0, 100), 100);
	CHECK(h != NULL);
	lsm_block_cache_release(a, h);
	pinned = lsm_block_cache_insert(a, 7, 4096, make_block(7, 4096, 50), 50);
	CHECK(pinned != NULL);
	h = lsm_block_cache_insert(b, 7, 0, make_block(8, 0, 60), 60);
	CHECK(h != NULL);
	lsm_block_cache_release(b, h);
	CHECK(lsm_block_cache_usage(c) == 210);

	lsm_block_cache_destroy(a);
	CHECK(lsm_block_cache_usage(c) == 60);
	a = lsm_block_cache_view(c, 3);
	CHECK(a != NULL);
	CHECK(lsm_block_cache_lookup(a, 7, 0) == NULL);
	CHECK(lsm_block_cache_lookup(a, 7, 4096) == NULL);
	/* the block pinned across the destroy is still readable, then freed */
	CHECK(block_ok(pinned, 7, 4096, 50));
	lsm_block_cache_release(c, pinned);
	h = lsm_block_cache_lookup(b, 7, 0);
	CHECK(h != NULL && block_ok(h, 8, 0, 60));
	lsm_block_cache_release(b, h);
	lsm_block_cache_destroy(a);
	lsm_block_cache_destroy(b);
	CHECK(lsm_block_cache_usage(c) == 0);
	lsm_block_cache_destroy(c);
}

int
main(void)
{
	RUN(test_basic);
	RUN(test_eviction);
	RUN(test_pinned_survives);
	RUN(test_shed);
	RUN(test_recycled_buffers);
	RUN(test_capacity_zero);
	RUN(test_erase_file);
	RUN(test_view_reuse);
	RUN(test_threads);
	return test_finish();
}
