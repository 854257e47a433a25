/*
 * test_shm_heap.c
 *		The shared-region allocator: a random alloc/free/realloc model with
 *		content checks, exhaustion and recovery, coalescing back to one
 *		block, in-place realloc, threads and processes hammering one heap,
 *		and double/foreign frees aborting with a message.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "testutil.h"

#include "shm_heap.h"

/* Fresh region of size bytes, shared so forked children can use it. */
static void *
region_new(size_t size)
{
	void	   *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
						 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
	{
		perror("mmap");
		exit(2);
	}
	return p;
}

static int
heap_ok(LsmShmHeap *h)
{
	char		msg[256];

	if (!lsm_shm_heap_check(h, msg, sizeof(msg)))
	{
		fprintf(stderr, "  heap check: %s\n", msg);
		return 0;
	}
	return 1;
}

/* The byte at position i of a block filled for tag. */
static inline uint8_t
fill_byte(uint64_t tag, size_t i)
{
	return (uint8_t) ((tag * 0x9E3779B97F4A7C15ull + i * 131) >> 24);
}

static void
fill(void *p, size_t n, uint64_t tag)
{
	uint8_t    *b = p;
	size_t		i;

	for (i = 0; i < n; i++)
		b[i] = fill_byte(tag, i);
}

static int
verify(const void *p, size_t n, uint64_t tag)
{
	const uint8_t *b = p;
	size_t		i;

	for (i = 0; i < n; i++)
		if (b[i] != fill_byte(tag, i))
			return 0;
	return 1;
}

/* Mostly small, sometimes medium, rarely large: like the engine's mix. */
static size_t
random_size(TestRng *r, size_t large)
{
	uint64_t	k = test_rng_below(r, 100);

	if (k < 70)
		return (size_t) test_rng_below(r, 200);
	if (k < 95)
		return (size_t) test_rng_below(r, 16384);
	return (size_t) test_rng_below(r, large);
}

static void
test_init_limits(void)
{
	static _Alignas(16) char small[64];
	void	   *region = region_new(1 << 20);
	LsmShmHeap *h;
	void	   *p;

	CHECK(lsm_shm_heap_init(small, sizeof(small)) == NULL);
	CHECK(lsm_shm_heap_init(NULL, 1 << 20) == NULL);

	/* an unaligned base still gives 16-byte aligned blocks */
	h = lsm_shm_heap_init((char *) region + 3, (1 << 20) - 3);
	CHECK(h != NULL);
	CHECK(((uintptr_t) h & 15) == 0);
	CHECK(lsm_shm_heap_total(h) > (1 << 20) - 4096);
	CHECK(lsm_shm_heap_used(h) == 0);
	p = lsm_shm_heap_alloc(h, 0);
	CHECK(p != NULL && ((uintptr_t) p & 15) == 0);
	CHECK(lsm_shm_heap_contains(h, p));
	CHECK(!lsm_shm_heap_contains(h, small));
	CHECK(lsm_shm_heap_usable_size(h, p) >= 16);
	lsm_shm_heap_free(h, p);
	lsm_shm_heap_free(h, NULL);
	CHECK(lsm_shm_heap_alloc(h, (size_t) 1 << 21) == NULL);
	CHECK(lsm_shm_heap_alloc(h, SIZE_MAX) == NULL);
	CHECK(lsm_shm_heap_alloc(h, SIZE_MAX - 8) == NULL);
	CHECK(lsm_shm_heap_used(h) == 0);
	CHECK(heap_ok(h));
	munmap(region, 1 << 20);
}

typedef struct Slot
{
	void	   *p;
	size_t		n;
	uint64_t	tag;
} Slot;

#define MODEL_SLOTS 2000

/*
 * A model of live blocks: random alloc, free and realloc (grow, shrink,
 * to zero, from NULL) with every block's contents checked when it is
 * freed or moved, and the heap's invariants checked along the way.  The
 * region is small enough that allocations do fail, which must leave
 * everything intact.
 */
static void
test_random_model(void)
{
	const size_t size = 8 << 20;
	void	   *region = region_new(size);
	LsmShmHeap *h = lsm_shm_heap_init(region, size);
	static Slot slots[MODEL_SLOTS];
	TestRng		r = {test_seed("shm heap model")};
	uint64_t	next_tag = 1;
	int			failures = 0;
	int			step;
	int			i;

	CHECK(h != NULL);
	memset(slots, 0, sizeof(slots));
	for (step = 0; step < 100000; step++)
	{
		Slot	   *s = &slots[test_rng_below(&r, MODEL_SLOTS)];
		uint64_t	op = test_rng_below(&r, 10);

		if (s->p == NULL && op < 7)
		{
			size_t		n = random_size(&r, 1 << 20);

			s->p = lsm_shm_heap_alloc(h, n);
			if (s->p == NULL)
			{
				failures++;
				continue;
			}
			CHECK(((uintptr_t) s->p & 15) == 0);
			CHECK(lsm_shm_heap_usable_size(h, s->p) >= n);
			s->n = n;
			s->tag = next_tag++;
			fill(s->p, n, s->tag);
		}
		else if (s->p != NULL && op < 5)
		{
			CHECK(verify(s->p, s->n, s->tag));
			lsm_shm_heap_free(h, s->p);
			s->p = NULL;
		}
		else if (op < 9 || s->p == NULL)
		{
			size_t		n = (op == 8) ? s->n / 2 : random_size(&r, 1 << 20);
			void	   *q;

			CHECK(s->p == NULL || verify(s->p, s->n, s->tag));
			q = lsm_shm_heap_realloc(h, s->p, n);
			if (n == 0)
			{
				/* freed (or, from NULL, a minimal block) */
				if (s->p == NULL)
					lsm_shm_heap_free(h, q);
				s->p = NULL;
				continue;
			}
			if (q == NULL)
			{
				/* the old block must be untouched */
				CHECK(s->p == NULL || verify(s->p, s->n, s->tag));
				failures++;
				continue;
			}
			if (s->p != NULL)
				CHECK(verify(q, s->n < n ? s->n : n, s->tag));
			s->p = q;
			s->n = n;
			s->tag = next_tag++;
			fill(q, n, s->tag);
		}
		if (step % 20000 == 0)
			CHECK(heap_ok(h));
	}
	CHECK(heap_ok(h));
	CHECK(failures > 0);		/* the region was really exhausted at times */
	for (i = 0; i < MODEL_SLOTS; i++)
		if (slots[i].p != NULL)
		{
			CHECK(verify(slots[i].p, slots[i].n, slots[i].tag));
			lsm_shm_heap_free(h, slots[i].p);
		}
	CHECK(lsm_shm_heap_used(h) == 0);
	CHECK(lsm_shm_heap_high_water(h) > size / 2);
	CHECK(heap_ok(h));
	/* everything merged back into one block */
	CHECK(lsm_shm_heap_max_alloc(h) == lsm_shm_heap_total(h) - 16);
	munmap(region, size);
}

/*
 * Fill the heap with 4 KiB blocks until it refuses, free every other one:
 * 4 KiB fits again but 8 KiB does not (no two free blocks are adjacent);
 * free the rest and the whole heap is one block again.
 */
static void
test_exhaustion_and_coalescing(void)
{
	const size_t size = 4 << 20;
	void	   *region = region_new(size);
	LsmShmHeap *h = lsm_shm_heap_init(region, size);
	void	  **blocks = calloc(2048, sizeof(void *));
	size_t		max;
	int			n = 0;
	int			i;
	void	   *p;
	void	   *big;

	CHECK(h != NULL && blocks != NULL);
	max = lsm_shm_heap_max_alloc(h);
	CHECK(max == lsm_shm_heap_total(h) - 16);
	while ((p = lsm_shm_heap_alloc(h, 4096 - 16)) != NULL)
	{
		CHECK(n < 2048);
		blocks[n++] = p;
	}
	CHECK(n > 1000);
	CHECK(lsm_shm_heap_used(h) > lsm_shm_heap_total(h) - 4096);
	CHECK(lsm_shm_heap_alloc(h, 4096) == NULL);
	for (i = 0; i < n; i += 2)
		lsm_shm_heap_free(h, blocks[i]);
	CHECK(heap_ok(h));
	CHECK(lsm_shm_heap_alloc(h, 8192) == NULL);
	p = lsm_shm_heap_alloc(h, 4096 - 16);
	CHECK(p != NULL);
	lsm_shm_heap_free(h, p);
	for (i = 1; i < n; i += 2)
		lsm_shm_heap_free(h, blocks[i]);
	CHECK(lsm_shm_heap_used(h) == 0);
	CHECK(heap_ok(h));

	/* one block of the whole heap, exactly */
	CHECK(lsm_shm_heap_max_alloc(h) == max);
	CHECK(lsm_shm_heap_alloc(h, max + 1) == NULL);
	big = lsm_shm_heap_alloc(h, max);
	CHECK(big != NULL);
	memset(big, 0xab, max);
	CHECK(lsm_shm_heap_alloc(h, 1) == NULL);
	CHECK(heap_ok(h));
	lsm_shm_heap_free(h, big);

	/* random sizes freed in random order merge back too */
	{
		TestRng		r = {test_seed("shm heap coalescing")};

		n = 0;
		while (n < 2048 && (p = lsm_shm_heap_alloc(h, random_size(&r, 200000))) != NULL)
			blocks[n++] = p;
		for (i = n - 1; i > 0; i--)
		{
			int			j = (int) test_rng_below(&r, (uint64_t) i + 1);

			p = blocks[i];
			blocks[i] = blocks[j];
			blocks[j] = p;
		}
		for (i = 0; i < n; i++)
			lsm_shm_heap_free(h, blocks[i]);
		CHECK(heap_ok(h));
		CHECK(lsm_shm_heap_max_alloc(h) == max);
		big = lsm_shm_heap_alloc(h, max);
		CHECK(big != NULL);
		lsm_shm_heap_free(h, big);
	}
	free(blocks);
	munmap(region, size);
}

/* Shrinking keeps the block; growing into a free neighbour keeps it too. */
static void
test_realloc_in_place(void)
{
	const size_t size = 1 << 20;
	void	   *region = region_new(size);
	LsmShmHeap *h = lsm_shm_heap_init(region, size);
	char	   *a;
	char	   *b;
	char	   *c;
	char	   *q;
	size_t		used;

	CHECK(h != NULL);
	a = lsm_shm_heap_alloc(h, 1000);
	b = lsm_shm_heap_alloc(h, 5000);
	c = lsm_shm_heap_alloc(h, 100);
	CHECK(a && b && c);
	fill(a, 1000, 1);
	q = lsm_shm_heap_realloc(h, a, 200);
	CHECK(q == a && verify(a, 200, 1));
	used = lsm_shm_heap_used(h);
	/* the freed tail of a sits before b: a can grow back into it */
	q = lsm_shm_heap_realloc(h, a, 900);
	CHECK(q == a && verify(a, 200, 1));
	CHECK(lsm_shm_heap_used(h) > used);
	/* b freed: a grows over it in place */
	lsm_shm_heap_free(h, b);
	q = lsm_shm_heap_realloc(h, a, 5500);
	CHECK(q == a && verify(a, 200, 1));
	CHECK(heap_ok(h));
	/* no room after a (c is there): it moves */
	q = lsm_shm_heap_realloc(h, a, 20000);
	CHECK(q != NULL && q != a && verify(q, 200, 1));
	CHECK(heap_ok(h));
	/* too big: NULL, the block stays */
	CHECK(lsm_shm_heap_realloc(h, q, 2 << 20) == NULL);
	CHECK(verify(q, 200, 1));
	CHECK(lsm_shm_heap_realloc(h, q, 0) == NULL);
	lsm_shm_heap_free(h, c);
	CHECK(lsm_shm_heap_used(h) == 0);
	CHECK(heap_ok(h));
	munmap(region, size);
}

typedef struct Worker
{
	LsmShmHeap *h;
	uint64_t	seed;
	int			ok;
} Worker;

#define WORKER_SLOTS 256
#define WORKER_STEPS 50000

/* Random alloc/realloc/free of a private set of blocks, contents checked. */
static int
hammer(LsmShmHeap *h, uint64_t seed)
{
	Slot		slots[WORKER_SLOTS];
	TestRng		r = {seed};
	uint64_t	tag = seed << 20;
	int			step;
	int			i;

	memset(slots, 0, sizeof(slots));
	for (step = 0; step < WORKER_STEPS; step++)
	{
		Slot	   *s = &slots[test_rng_below(&r, WORKER_SLOTS)];

		if (s->p == NULL)
		{
			s->n = random_size(&r, 64 << 10);
			s->p = lsm_shm_heap_alloc(h, s->n);
			if (s->p == NULL)
				continue;
			s->tag = ++tag;
			fill(s->p, s->n, s->tag);
		}
		else
		{
			void	   *q;
			size_t		n;

			if (!verify(s->p, s->n, s->tag))
				return 0;
			if (test_rng_below(&r, 2))
			{
				lsm_shm_heap_free(h, s->p);
				s->p = NULL;
				continue;
			}
			n = random_size(&r, 64 << 10) + 1;
			q = lsm_shm_heap_realloc(h, s->p, n);
			if (q == NULL)
				continue;
			if (!verify(q, s->n < n ? s->n : n, s->tag))
				return 0;
			s->p = q;
			s->n = n;
			s->tag = ++tag;
			fill(q, n, s->tag);
		}
	}
	for (i = 0; i < WORKER_SLOTS; i++)
		if (slots[i].p != NULL)
		{
			if (!verify(slots[i].p, slots[i].n, slots[i].tag))
				return 0;
			lsm_shm_heap_free(h, slots[i].p);
		}
	return 1;
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;

	w->ok = hammer(w->h, w->seed);
	return NULL;
}

static void
test_threads(void)
{
	const size_t size = 32 << 20;
	void	   *region = region_new(size);
	LsmShmHeap *h = lsm_shm_heap_init(region, size);
	pthread_t	th[4];
	Worker		w[4];
	uint64_t	seed = test_seed("shm heap threads");
	int			i;

	CHECK(h != NULL);
	for (i = 0; i < 4; i++)
	{
		w[i].h = h;
		w[i].seed = seed + (uint64_t) i * 7919;
		w[i].ok = 0;
		CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 4; i++)
		CHECK(w[i].ok);
	CHECK(lsm_shm_heap_used(h) == 0);
	CHECK(heap_ok(h));
	CHECK(lsm_shm_heap_max_alloc(h) == lsm_shm_heap_total(h) - 16);
	munmap(region, size);
}

/* The same, from forked processes sharing the region. */
static void
test_processes(void)
{
	const size_t size = 32 << 20;
	void	   *region = region_new(size);
	LsmShmHeap *h = lsm_shm_heap_init(region, size);
	uint64_t	seed = test_seed("shm heap processes");
	pid_t		pids[3];
	int			i;

	CHECK(h != NULL);
	fflush(stdout);
	for (i = 0; i < 3; i++)
	{
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(hammer(h, seed + (uint64_t) i * 104729) ? 0 : 1);
	}
	CHECK(hammer(h, seed + 3));
	for (i = 0; i < 3; i++)
	{
		int			status;

		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK(lsm_shm_heap_used(h) == 0);
	CHECK(heap_ok(h));
	munmap(region, size);
}

/*
 * Run fn in a child with stderr captured; return whether it died of
 * SIGABRT and whether its message contained want.
 */
static int
aborts_with(void (*fn) (LsmShmHeap *), LsmShmHeap *h, const char *want)
{
	int			pfd[2];
	pid_t		pid;
	char		buf[1024];
	ssize_t		n;
	size_t		len = 0;
	int			status;

	if (pipe(pfd) != 0)
		return 0;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0)
	{
		dup2(pfd[1], 2);
		close(pfd[0]);
		fn(h);
		_exit(0);				/* should not get here */
	}
	close(pfd[1]);
	while (len < sizeof(buf) - 1 &&
		   (n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t) n;
	buf[len] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid)
		return 0;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
	{
		fprintf(stderr, "  child did not abort (status %d)\n", status);
		return 0;
	}
	if (strstr(buf, want) == NULL)
	{
		fprintf(stderr, "  child said \"%s\", wanted \"%s\"\n", buf, want);
		return 0;
	}
	return 1;
}

static void
double_free(LsmShmHeap *h)
{
	void	   *p = lsm_shm_heap_alloc(h, 100);

	lsm_shm_heap_free(h, p);
	lsm_shm_heap_free(h, p);
}

/* The second free of a block merged into its neighbour by the first. */
static void
double_free_merged(LsmShmHeap *h)
{
	void	   *a = lsm_shm_heap_alloc(h, 100);
	void	   *b = lsm_shm_heap_alloc(h, 100);

	lsm_shm_heap_free(h, a);
	lsm_shm_heap_free(h, b);	/* b merges into a */
	lsm_shm_heap_free(h, b);
}

static void
foreign_free(LsmShmHeap *h)
{
	static char outside[64];

	lsm_shm_heap_free(h, outside);
}

static void
interior_free(LsmShmHeap *h)
{
	char	   *p = lsm_shm_heap_alloc(h, 256);

	memset(p, 0, 256);
	lsm_shm_heap_free(h, p + 64);
}

static void
test_bad_frees_abort(void)
{
	const size_t size = 1 << 20;
	void	   *region = region_new(size);
	LsmShmHeap *h = lsm_shm_heap_init(region, size);

	CHECK(h != NULL);
	CHECK(aborts_with(double_free, h, "double free"));
	CHECK(aborts_with(double_free_merged, h, "double free"));
	CHECK(aborts_with(foreign_free, h, "not a block of the shared heap"));
	CHECK(aborts_with(interior_free, h, "not a live block"));
	munmap(region, size);
}

/* A fatal hook that says it was called, then aborts as the default does. */
static void
fatal_hook(const char *msg)
{
	fprintf(stderr, "fatal hook: %s\n", msg);
	fflush(stderr);
	abort();
}

/* Corrupt a block's boundary tag and free it: the heap stops, lock held. */
static void
corrupt_free(LsmShmHeap *h)
{
	uint64_t   *p = lsm_shm_heap_alloc(h, 100);

	p[-1] = (p[-1] & ~((UINT64_C(1) << 48) - 1)) | 8;	/* size 8: impossible */
	lsm_shm_heap_free(h, p);
}

static void
alloc_one(LsmShmHeap *h)
{
	(void) lsm_shm_heap_alloc(h, 100);
}

/*
 * The fatal hook gets every fatal heap error; a process that stopped
 * holding the heap lock makes the next locker call it too.
 */
static void
test_fatal_hook(void)
{
	const size_t size = 1 << 20;
	void	   *region = region_new(size);
	LsmShmHeap *h = lsm_shm_heap_init(region, size);

	CHECK(h != NULL);
	lsm_shm_heap_set_fatal(h, fatal_hook);
	CHECK(aborts_with(double_free, h, "fatal hook: shared heap: double free"));
	CHECK(aborts_with(corrupt_free, h, "fatal hook: shared heap: corrupt boundary tag"));
	CHECK(aborts_with(alloc_one, h,
					  "fatal hook: shared heap: a process died while holding the heap lock"));
	munmap(region, size);
}

int
main(void)
{
	RUN(test_init_limits);
	RUN(test_random_model);
	RUN(test_exhaustion_and_coalescing);
	RUN(test_realloc_in_place);
	RUN(test_threads);
	RUN(test_processes);
	RUN(test_bad_frees_abort);
	RUN(test_fatal_hook);
	return test_finish();
}
