/*
 * shm_heap.h
 *		A general-purpose allocator over one fixed, caller-supplied region,
 *		usable by several processes that map the region at the same address
 *		(and by their threads) at once.
 *
 * A host that places engine objects in shared memory (Postgres's main
 * shared memory, mapped at the same address in every backend) installs
 * these functions with lsm_set_allocator; the standalone tests do the same
 * over an anonymous MAP_SHARED mapping and fork().
 *
 * Everything the heap needs lives inside the region: its header (with a
 * PTHREAD_PROCESS_SHARED mutex), its free lists, and a boundary tag before
 * every block.  Links are offsets from the heap header, never pointers, and
 * nothing refers to process-local memory.  Blocks are 16-byte aligned.
 *
 * Freeing a pointer the heap did not hand out, or one already freed, is
 * detected from the block's tag (when the tag bytes still look like a free
 * or absorbed block) and aborts with a message: the region is shared by
 * every process, so corrupting it silently would poison all of them.
 */
#ifndef SHM_HEAP_H
#define SHM_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#include "lsm_alloc.h"

typedef struct LsmShmHeap LsmShmHeap;

/*
 * Lay out a heap over [base, base + size).  The header goes at the start
 * of the region (base is rounded up to 16 bytes).  Returns NULL when the
 * region is too small for the header and one block, or the mutex cannot be
 * set up.  Call once, before any process uses the heap.
 */
extern LsmShmHeap *lsm_shm_heap_init(void *base, size_t size);

/*
 * What the heap does when it cannot go on (a process died holding its lock,
 * a corrupt tag, a bad free): fn reports msg and ends the process, never
 * returning.  Stored in the heap, so every process sharing it uses fn
 * (forked processes run the same code at the same addresses).  Default
 * (NULL): stderr and abort().
 */
typedef void (*LsmShmHeapFatalFn) (const char *msg);
extern void lsm_shm_heap_set_fatal(LsmShmHeap *h, LsmShmHeapFatalFn fn);

/* n bytes, 16-byte aligned; NULL when no free block is large enough. */
extern void *lsm_shm_heap_alloc(LsmShmHeap *h, size_t n);

/* NULL is ignored; anything else not live in h aborts. */
extern void lsm_shm_heap_free(LsmShmHeap *h, void *p);

/*
 * Like realloc(3): NULL p allocates, n == 0 frees and returns NULL, and on
 * failure NULL is returned with p untouched.  Grows in place when the next
 * block is free.
 */
extern void *lsm_shm_heap_realloc(LsmShmHeap *h, void *p, size_t n);

/* Whether p points into the heap's block area (not whether it is live). */
extern bool lsm_shm_heap_contains(const LsmShmHeap *h, const void *p);

/* Bytes usable by a live block p (at least what was asked for). */
extern size_t lsm_shm_heap_usable_size(const LsmShmHeap *h, const void *p);

/*
 * Accounting, in bytes of blocks including their 16-byte tags: in use now,
 * the most ever in use at once, and the whole block area.  used == 0 means
 * every allocation was freed.
 */
extern size_t lsm_shm_heap_used(const LsmShmHeap *h);
extern size_t lsm_shm_heap_high_water(const LsmShmHeap *h);
extern size_t lsm_shm_heap_total(const LsmShmHeap *h);

/* The largest n for which lsm_shm_heap_alloc would succeed right now. */
extern size_t lsm_shm_heap_max_alloc(LsmShmHeap *h);

/*
 * Walk every block and free list and check the heap's invariants (tags,
 * boundary links, no two adjacent free blocks, every free block in the
 * list of its size class, the accounting).  Returns false with a message
 * in msg on the first violation.  Takes the lock; for tests and debugging.
 */
extern bool lsm_shm_heap_check(LsmShmHeap *h, char *msg, size_t msglen);

/*
 * Fill *a so that lsm_set_allocator(a) sends every engine allocation to h.
 * Strict: freeing memory that did not come from h aborts, so install it
 * before any engine object exists.  (A host that must also free older
 * libc allocations wraps these functions and tells the two apart with
 * lsm_shm_heap_contains.)
 */
extern void lsm_shm_heap_allocator(LsmShmHeap *h, LsmAllocator *a);

#endif							/* SHM_HEAP_H */
