/*
 * lsm_alloc.h
 *		Where the engine's memory comes from.
 *
 * Every allocation the engine makes goes through these wrappers so a host
 * can place engine objects in memory that other processes map at the same
 * address (Postgres's main shared memory): then one LsmDb is used by every
 * backend the way threads use it in the standalone tests.  The default is
 * libc.  free and realloc must accept any pointer alloc returned, whichever
 * mode the host was in when it was allocated (the Postgres host tells its
 * two heaps apart by address).
 */
#ifndef LSM_ALLOC_H
#define LSM_ALLOC_H

#include <stddef.h>

typedef struct LsmAllocator
{
	void	   *(*alloc) (void *arg, size_t n);
	void	   *(*realloc) (void *arg, void *p, size_t n);
	void		(*free) (void *arg, void *p);
	void	   *arg;

	/*
	 * Memory only the calling process will touch (NULL: alloc).  A host
	 * whose alloc hands out shared memory gives big transient buffers (a
	 * table builder's blocks, a big block read for one scan) its own
	 * memory here, so their size is not bounded by the shared heap; its
	 * realloc and free must accept these pointers too.
	 */
	void	   *(*alloc_private) (void *arg, size_t n);
} LsmAllocator;

/* Install a (NULL: libc); call before any engine object exists. */
extern void lsm_set_allocator(const LsmAllocator *a);

extern void *lsm_malloc(size_t n);
extern void *lsm_calloc(size_t count, size_t size);
extern void *lsm_realloc(void *p, size_t n);
extern void *lsm_malloc_private(size_t n);
extern void lsm_free(void *p);
extern char *lsm_strdup(const char *s);

#endif							/* LSM_ALLOC_H */
