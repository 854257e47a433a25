/*
 * shm_heap.c
 *		A boundary-tag allocator with segregated free lists over one fixed
 *		region shared by processes (see shm_heap.h).
 *
 * Layout of the region:
 *
 *		LsmShmHeap		header: accounting, free-list heads, bitmap, mutex
 *		block ...		each starting with a 16-byte Chunk tag
 *		end tag			a Chunk of size 0 tagged TAG_END
 *
 * A Chunk tag holds the size of the block before it (so free can find and
 * merge with its left neighbour) and the block's own size with a 16-bit tag
 * saying whether it is in use or free.  prev_size is kept for every block,
 * not only free ones as in dlmalloc: it costs nothing here (the tag is 16
 * bytes anyway, for alignment) and lets the checker verify every link.
 * A free block's payload holds its free-list links, as offsets from the
 * header.  Two free blocks are never adjacent: free merges a block with
 * free neighbours at once, so one large allocation succeeds after
 * everything else was freed.
 *
 * Size classes: block sizes up to 1 KiB have one exact list per 16 bytes
 * (63 lists; popping the head is O(1) and always fits); larger sizes have
 * four lists per power of two (TLSF-style, waste at most 25% of a class).
 * A bitmap of non-empty lists finds the next larger class in a few word
 * operations.  Within a large class we take the best fit among the first
 * few blocks, falling back to any block of a larger class (which always
 * fits), and scan the whole class only when no larger class has a block,
 * so that a fitting block is never missed.
 *
 * One mutex serialises the heap; critical sections are a few list
 * operations (realloc copies outside it).  It is a robust mutex: if a
 * process dies holding it the heap may be half-updated, so the next locker
 * stops with a message (the fatal hook, lsm_shm_heap_set_fatal: a server
 * logs a PANIC and restarts; else abort()) instead of hanging or carrying
 * on with a broken heap.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm_heap.h"

#define HEAP_MAGIC		UINT64_C(0x4c534d4845415031)	/* "LSMHEAP1" */

#define ALIGN			16
#define TAG_BYTES		16		/* sizeof(Chunk) */
#define MIN_CHUNK		32		/* tag + two free-list links */

/* head = size (multiple of 16, below 2^48) | tag << 48 */
#define SIZE_BITS		48
#define SIZE_MASK		((UINT64_C(1) << SIZE_BITS) - 1)
#define MAX_CHUNK		(SIZE_MASK & ~(uint64_t) (ALIGN - 1))

#define TAG_USED		0xA10Cu
#define TAG_FREE		0xF4EEu
#define TAG_END			0xE4D0u
#define TAG_DEAD		0xDEADu /* the tag of a block merged into another */

/* exact classes for block sizes 32..SMALL_MAX, then 4 per power of two */
#define SMALL_MAX		1024
#define N_SMALL			(SMALL_MAX / ALIGN - 1)
#define SMALL_MAX_LOG2	10
#define N_LARGE			((SIZE_BITS - SMALL_MAX_LOG2) * 4)
#define N_BINS			(N_SMALL + N_LARGE)
#define BITMAP_WORDS	((N_BINS + 63) / 64)

/* blocks of a large class looked at for a best fit before moving up */
#define BEST_FIT_SCAN	32

typedef struct Chunk
{
	uint64_t	prev_size;		/* size of the block before; 0 for the first */
	uint64_t	head;			/* size | tag << SIZE_BITS */
} Chunk;

/* The payload of a free block. */
typedef struct FreeLinks
{
	uint64_t	next;			/* offsets from the heap header, 0 = none */
	uint64_t	prev;
} FreeLinks;

struct LsmShmHeap
{
	uint64_t	magic;
	uint64_t	first;			/* offset of the first block */
	uint64_t	end;			/* offset of the end tag */
	uint64_t	used;			/* bytes of blocks in use, tags included */
	uint64_t	high_water;
	uint64_t	bitmap[BITMAP_WORDS];	/* bit i: bins[i] is non-empty */
	uint64_t	bins[N_BINS];	/* first free block of each class, 0 = none */
	pthread_mutex_t mu;
	LsmShmHeapFatalFn fatal;	/* set once before other processes use the
								 * heap; NULL: stderr and abort() */
};

/*
 * heap_fatal
 *		Report heap corruption or misuse and stop (h's fatal hook, else
 *		abort).  Every process shares the heap, so going on would spread
 *		the damage.
 *
 * unlock: the caller holds h's lock and leaves the heap intact (misuse
 * detected before anything changed), so other processes can go on;
 * otherwise the lock stays held, and the robust mutex tells the next
 * locker that we died.
 */
static void
heap_fatal(LsmShmHeap *h, bool unlock, const char *fmt, const void *p)
	__attribute__((noreturn));

static void
heap_fatal(LsmShmHeap *h, bool unlock, const char *fmt, const void *p)
{
	char		msg[160];
	char		what[128];

	if (unlock)
		pthread_mutex_unlock(&h->mu);
	snprintf(what, sizeof(what), fmt, p);
	snprintf(msg, sizeof(msg), "shared heap: %s", what);
	if (h->fatal != NULL)
		h->fatal(msg);
	fprintf(stderr, "lsm %s\n", msg);
	fflush(stderr);
	abort();
}

static void
heap_lock(LsmShmHeap *h)
{
	int			rc = pthread_mutex_lock(&h->mu);

	if (rc == EOWNERDEAD)
		heap_fatal(h, false, "a process died while holding the heap lock of %p", h);
	if (rc != 0)
		heap_fatal(h, false, "could not lock the heap at %p", h);
}

static void
heap_unlock(LsmShmHeap *h)
{
	pthread_mutex_unlock(&h->mu);
}

static inline Chunk *
chunk_at(const LsmShmHeap *h, uint64_t off)
{
	return (Chunk *) ((char *) h + off);
}

static inline uint64_t
chunk_off(const LsmShmHeap *h, const Chunk *c)
{
	return (uint64_t) ((const char *) c - (const char *) h);
}

static inline uint64_t
chunk_size(const Chunk *c)
{
	return c->head & SIZE_MASK;
}

static inline unsigned
chunk_tag(const Chunk *c)
{
	return (unsigned) (c->head >> SIZE_BITS);
}

static inline void
set_head(Chunk *c, uint64_t size, unsigned tag)
{
	c->head = size | ((uint64_t) tag << SIZE_BITS);
}

static inline Chunk *
chunk_next(const Chunk *c)
{
	return (Chunk *) ((char *) c + chunk_size(c));
}

static inline FreeLinks *
links(Chunk *c)
{
	return (FreeLinks *) (c + 1);
}

/* Block size for a request of n bytes; 0 when n is too large. */
static inline uint64_t
request_to_chunk(size_t n)
{
	uint64_t	need;

	if (n > MAX_CHUNK - TAG_BYTES)
		return 0;
	need = ((uint64_t) n + TAG_BYTES + ALIGN - 1) & ~(uint64_t) (ALIGN - 1);
	return need < MIN_CHUNK ? MIN_CHUNK : need;
}

/* The size class of a block size (a multiple of 16, at least MIN_CHUNK). */
static inline int
bin_index(uint64_t size)
{
	int			p;

	if (size <= SMALL_MAX)
		return (int) (size / ALIGN) - 2;
	p = 63 - __builtin_clzll(size);
	return N_SMALL + (p - SMALL_MAX_LOG2) * 4 + (int) ((size >> (p - 2)) & 3);
}

static inline void
bitmap_set(LsmShmHeap *h, int i)
{
	h->bitmap[i / 64] |= UINT64_C(1) << (i % 64);
}

static inline void
bitmap_clear(LsmShmHeap *h, int i)
{
	h->bitmap[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

/* The first non-empty class at or above from, or -1. */
static int
bitmap_next(const LsmShmHeap *h, int from)
{
	int			w;

	if (from >= N_BINS)
		return -1;
	w = from / 64;
	{
		uint64_t	bits = h->bitmap[w] & (~UINT64_C(0) << (from % 64));

		if (bits)
			return w * 64 + __builtin_ctzll(bits);
	}
	for (w++; w < BITMAP_WORDS; w++)
		if (h->bitmap[w])
			return w * 64 + __builtin_ctzll(h->bitmap[w]);
	return -1;
}

/* Push a block (already tagged free) on the front of its class's list. */
static void
bin_insert(LsmShmHeap *h, Chunk *c)
{
	int			i = bin_index(chunk_size(c));
	uint64_t	off = chunk_off(h, c);
	uint64_t	head = h->bins[i];

	links(c)->next = head;
	links(c)->prev = 0;
	if (head)
		links(chunk_at(h, head))->prev = off;
	h->bins[i] = off;
	bitmap_set(h, i);
}

static void
bin_remove(LsmShmHeap *h, Chunk *c)
{
	int			i = bin_index(chunk_size(c));
	FreeLinks  *l = links(c);

	if (l->prev)
		links(chunk_at(h, l->prev))->next = l->next;
	else
	{
		h->bins[i] = l->next;
		if (l->next == 0)
			bitmap_clear(h, i);
	}
	if (l->next)
		links(chunk_at(h, l->next))->prev = l->prev;
}

/*
 * release_chunk
 *		Turn block c (tagged in use) into a free block, merging it with free
 *		neighbours, and file it under its class.
 *
 * The tags of merged-away blocks are overwritten with TAG_DEAD so that
 * freeing their old payload pointer again is recognised as a double free.
 */
static void
release_chunk(LsmShmHeap *h, Chunk *c)
{
	uint64_t	size = chunk_size(c);
	Chunk	   *n = chunk_next(c);

	if (chunk_tag(n) == TAG_FREE)
	{
		bin_remove(h, n);
		size += chunk_size(n);
		set_head(n, 0, TAG_DEAD);
	}
	if (chunk_off(h, c) != h->first)
	{
		Chunk	   *p = (Chunk *) ((char *) c - c->prev_size);

		if (chunk_tag(p) == TAG_FREE)
		{
			bin_remove(h, p);
			size += chunk_size(p);
			set_head(c, 0, TAG_DEAD);
			c = p;
		}
	}
	set_head(c, size, TAG_FREE);
	chunk_next(c)->prev_size = size;
	bin_insert(h, c);
}

/*
 * trim_chunk
 *		Cut in-use block c down to need bytes when the rest can stand as a
 *		block of its own, and free the rest.  The caller accounts for the
 *		final size of c.
 */
static void
trim_chunk(LsmShmHeap *h, Chunk *c, uint64_t need)
{
	uint64_t	size = chunk_size(c);
	Chunk	   *r;

	if (size - need < MIN_CHUNK)
		return;
	set_head(c, need, TAG_USED);
	r = chunk_next(c);
	r->prev_size = need;
	set_head(r, size - need, TAG_USED);
	chunk_next(r)->prev_size = size - need;
	release_chunk(h, r);
}

/*
 * take_free
 *		Unlink and return a free block of at least need bytes, or NULL.
 */
static Chunk *
take_free(LsmShmHeap *h, uint64_t need)
{
	int			i = bin_index(need);
	int			j;
	Chunk	   *best = NULL;

	if (i < N_SMALL && h->bins[i])
	{
		/* exact class: the head fits */
		best = chunk_at(h, h->bins[i]);
		bin_remove(h, best);
		return best;
	}

	/* every block of a larger class fits */
	j = bitmap_next(h, i + 1);

	if (i >= N_SMALL)
	{
		uint64_t	off = h->bins[i];
		int			seen = 0;

		/* a large class holds a range of sizes: best fit, bounded scan */
		while (off && (j < 0 || seen < BEST_FIT_SCAN))
		{
			Chunk	   *c = chunk_at(h, off);
			uint64_t	sz = chunk_size(c);

			if (sz >= need && (best == NULL || sz < chunk_size(best)))
			{
				best = c;
				if (sz == need)
					break;
			}
			off = links(c)->next;
			seen++;
		}
	}
	if (best == NULL && j >= 0)
		best = chunk_at(h, h->bins[j]);
	if (best != NULL)
		bin_remove(h, best);
	return best;
}

/*
 * account
 *		Add (or, wrapping, subtract) bytes in use.  Called under the lock;
 *		atomic stores because the getters read without it.
 */
static inline void
account(LsmShmHeap *h, uint64_t delta)
{
	uint64_t	used = h->used + delta;

	__atomic_store_n(&h->used, used, __ATOMIC_RELAXED);
	if (used > h->high_water)
		__atomic_store_n(&h->high_water, used, __ATOMIC_RELAXED);
}

/*
 * checked_chunk
 *		The in-use block whose payload is p, after making sure it is one.
 *		Called with the lock held.
 */
static Chunk *
checked_chunk(LsmShmHeap *h, const void *p)
{
	Chunk	   *c;
	uint64_t	size;
	unsigned	tag;

	if (!lsm_shm_heap_contains(h, p) ||
		((uintptr_t) p & (ALIGN - 1)) != 0 ||
		(const char *) p < (const char *) chunk_at(h, h->first) + TAG_BYTES)
		heap_fatal(h, true, "free of %p, which is not a block of the shared heap", p);
	c = (Chunk *) p - 1;
	tag = chunk_tag(c);
	if (tag == TAG_FREE || tag == TAG_DEAD)
		heap_fatal(h, true, "double free of %p", p);
	if (tag != TAG_USED)
		heap_fatal(h, true, "free of %p, which is not a live block (foreign pointer, or its tag was overwritten)", p);
	size = chunk_size(c);
	if (size < MIN_CHUNK || size % ALIGN != 0 ||
		chunk_off(h, c) + size > h->end ||
		chunk_next(c)->prev_size != size)
		heap_fatal(h, false, "corrupt boundary tag of block %p", p);
	return c;
}

LsmShmHeap *
lsm_shm_heap_init(void *base, size_t size)
{
	uintptr_t	start = ((uintptr_t) base + ALIGN - 1) & ~(uintptr_t) (ALIGN - 1);
	uint64_t	hdr = (sizeof(LsmShmHeap) + ALIGN - 1) & ~(uint64_t) (ALIGN - 1);
	uint64_t	usable;
	LsmShmHeap *h;
	Chunk	   *c;
	Chunk	   *endtag;
	pthread_mutexattr_t attr;

	if (base == NULL || size < start - (uintptr_t) base)
		return NULL;
	size -= start - (uintptr_t) base;
	if (size < hdr + MIN_CHUNK + TAG_BYTES)
		return NULL;
	usable = ((uint64_t) size - hdr - TAG_BYTES) & ~(uint64_t) (ALIGN - 1);
	if (usable > MAX_CHUNK)
		usable = MAX_CHUNK;

	h = (LsmShmHeap *) start;
	memset(h, 0, hdr);
	h->first = hdr;
	h->end = hdr + usable;

	if (pthread_mutexattr_init(&attr) != 0)
		return NULL;
	if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
		pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
		pthread_mutex_init(&h->mu, &attr) != 0)
	{
		pthread_mutexattr_destroy(&attr);
		return NULL;
	}
	pthread_mutexattr_destroy(&attr);

	c = chunk_at(h, h->first);
	c->prev_size = 0;
	set_head(c, usable, TAG_FREE);
	endtag = chunk_at(h, h->end);
	endtag->prev_size = usable;
	set_head(endtag, 0, TAG_END);
	bin_insert(h, c);
	h->magic = HEAP_MAGIC;
	return h;
}

void
lsm_shm_heap_set_fatal(LsmShmHeap *h, LsmShmHeapFatalFn fn)
{
	h->fatal = fn;
}

void *
lsm_shm_heap_alloc(LsmShmHeap *h, size_t n)
{
	uint64_t	need = request_to_chunk(n);
	Chunk	   *c;

	if (need == 0)
		return NULL;
	heap_lock(h);
	c = take_free(h, need);
	if (c == NULL)
	{
		heap_unlock(h);
		return NULL;
	}
	set_head(c, chunk_size(c), TAG_USED);
	trim_chunk(h, c, need);
	account(h, chunk_size(c));
	heap_unlock(h);
	return c + 1;
}

void
lsm_shm_heap_free(LsmShmHeap *h, void *p)
{
	Chunk	   *c;

	if (p == NULL)
		return;
	heap_lock(h);
	c = checked_chunk(h, p);
	account(h, -chunk_size(c));
	release_chunk(h, c);
	heap_unlock(h);
}

void *
lsm_shm_heap_realloc(LsmShmHeap *h, void *p, size_t n)
{
	uint64_t	need;
	uint64_t	size;
	Chunk	   *c;
	Chunk	   *next;
	void	   *q;

	if (p == NULL)
		return lsm_shm_heap_alloc(h, n);
	if (n == 0)
	{
		lsm_shm_heap_free(h, p);
		return NULL;
	}
	need = request_to_chunk(n);
	if (need == 0)
		return NULL;

	heap_lock(h);
	c = checked_chunk(h, p);
	size = chunk_size(c);
	if (need <= size)
	{
		trim_chunk(h, c, need);
		account(h, -(size - chunk_size(c)));
		heap_unlock(h);
		return p;
	}
	next = chunk_next(c);
	if (chunk_tag(next) == TAG_FREE && size + chunk_size(next) >= need)
	{
		/* grow in place into the free block that follows */
		uint64_t	merged = size + chunk_size(next);

		bin_remove(h, next);
		set_head(next, 0, TAG_DEAD);
		set_head(c, merged, TAG_USED);
		chunk_next(c)->prev_size = merged;
		trim_chunk(h, c, need);
		account(h, chunk_size(c) - size);
		heap_unlock(h);
		return p;
	}
	heap_unlock(h);

	/* move: the copy (maybe megabytes) runs without the lock */
	q = lsm_shm_heap_alloc(h, n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, size - TAG_BYTES);
	lsm_shm_heap_free(h, p);
	return q;
}

bool
lsm_shm_heap_contains(const LsmShmHeap *h, const void *p)
{
	const char *cp = (const char *) p;

	return cp >= (const char *) h + h->first && cp < (const char *) h + h->end;
}

size_t
lsm_shm_heap_usable_size(const LsmShmHeap *h, const void *p)
{
	const Chunk *c = (const Chunk *) p - 1;

	return (size_t) (chunk_size(c) - TAG_BYTES);
}

size_t
lsm_shm_heap_used(const LsmShmHeap *h)
{
	return (size_t) __atomic_load_n(&h->used, __ATOMIC_RELAXED);
}

size_t
lsm_shm_heap_high_water(const LsmShmHeap *h)
{
	return (size_t) __atomic_load_n(&h->high_water, __ATOMIC_RELAXED);
}

size_t
lsm_shm_heap_total(const LsmShmHeap *h)
{
	return (size_t) (h->end - h->first);
}

size_t
lsm_shm_heap_max_alloc(LsmShmHeap *h)
{
	uint64_t	best = 0;
	int			i;

	heap_lock(h);
	/* the largest block is in the highest non-empty class */
	for (i = N_BINS - 1; i >= 0; i--)
	{
		uint64_t	off = h->bins[i];

		while (off)
		{
			Chunk	   *c = chunk_at(h, off);

			if (chunk_size(c) > best)
				best = chunk_size(c);
			off = links(c)->next;
		}
		if (best)
			break;
	}
	heap_unlock(h);
	return best ? (size_t) (best - TAG_BYTES) : 0;
}

#define CHECK_FAIL(...) \
	do { \
		snprintf(msg, msglen, __VA_ARGS__); \
		heap_unlock(h); \
		return false; \
	} while (0)

bool
lsm_shm_heap_check(LsmShmHeap *h, char *msg, size_t msglen)
{
	uint64_t	off;
	uint64_t	prev = 0;
	bool		prev_free = false;
	uint64_t	used = 0;
	uint64_t	n_free = 0;
	uint64_t	n_listed = 0;
	int			i;

	if (h->magic != HEAP_MAGIC)
	{
		snprintf(msg, msglen, "bad heap magic");
		return false;
	}
	heap_lock(h);

	/* every block, in address order */
	for (off = h->first; off < h->end;)
	{
		Chunk	   *c = chunk_at(h, off);
		uint64_t	size = chunk_size(c);
		unsigned	tag = chunk_tag(c);

		if (tag != TAG_USED && tag != TAG_FREE)
			CHECK_FAIL("block at offset %llu has tag %#x",
					   (unsigned long long) off, tag);
		if (size < MIN_CHUNK || size % ALIGN || off + size > h->end)
			CHECK_FAIL("block at offset %llu has size %llu",
					   (unsigned long long) off, (unsigned long long) size);
		if (c->prev_size != prev)
			CHECK_FAIL("block at offset %llu says the previous block is %llu bytes, it is %llu",
					   (unsigned long long) off,
					   (unsigned long long) c->prev_size,
					   (unsigned long long) prev);
		if (tag == TAG_FREE)
		{
			if (prev_free)
				CHECK_FAIL("adjacent free blocks at offset %llu",
						   (unsigned long long) off);
			n_free++;
		}
		else
			used += size;
		prev_free = (tag == TAG_FREE);
		prev = size;
		off += size;
	}
	if (off != h->end || chunk_tag(chunk_at(h, off)) != TAG_END ||
		chunk_at(h, off)->prev_size != prev)
		CHECK_FAIL("bad end tag");
	if (used != h->used)
		CHECK_FAIL("blocks in use hold %llu bytes, the header says %llu",
				   (unsigned long long) used, (unsigned long long) h->used);

	/* every free list */
	for (i = 0; i < N_BINS; i++)
	{
		uint64_t	back = 0;
		bool		bit = (h->bitmap[i / 64] >> (i % 64)) & 1;

		if (bit != (h->bins[i] != 0))
			CHECK_FAIL("bitmap bit %d is %d but the list is %s", i, (int) bit,
					   h->bins[i] ? "non-empty" : "empty");
		for (off = h->bins[i]; off; off = links(chunk_at(h, off))->next)
		{
			Chunk	   *c = chunk_at(h, off);

			if (off < h->first || off >= h->end || ++n_listed > n_free)
				CHECK_FAIL("free list %d is broken", i);
			if (chunk_tag(c) != TAG_FREE || bin_index(chunk_size(c)) != i)
				CHECK_FAIL("block at offset %llu is on free list %d wrongly",
						   (unsigned long long) off, i);
			if (links(c)->prev != back)
				CHECK_FAIL("bad back link in free list %d", i);
			back = off;
		}
	}
	if (n_listed != n_free)
		CHECK_FAIL("%llu free blocks, %llu on lists",
				   (unsigned long long) n_free, (unsigned long long) n_listed);
	heap_unlock(h);
	return true;
}

static void *
heap_alloc_cb(void *arg, size_t n)
{
	return lsm_shm_heap_alloc(arg, n);
}

static void *
heap_realloc_cb(void *arg, void *p, size_t n)
{
	return lsm_shm_heap_realloc(arg, p, n);
}

static void
heap_free_cb(void *arg, void *p)
{
	lsm_shm_heap_free(arg, p);
}

void
lsm_shm_heap_allocator(LsmShmHeap *h, LsmAllocator *a)
{
	a->alloc = heap_alloc_cb;
	a->realloc = heap_realloc_cb;
	a->free = heap_free_cb;
	a->arg = h;
	a->alloc_private = NULL;
}
