/*
 * alloc.c
 *		The engine's allocation wrappers (see lsm_alloc.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lsm_alloc.h"

static LsmAllocator allocator;	/* all NULL: libc */

void
lsm_set_allocator(const LsmAllocator *a)
{
	if (a == NULL)
		memset(&allocator, 0, sizeof(allocator));
	else
		allocator = *a;
}

void *
lsm_malloc(size_t n)
{
	if (allocator.alloc)
		return allocator.alloc(allocator.arg, n);
	return malloc(n);
}

void *
lsm_calloc(size_t count, size_t size)
{
	void	   *p;

	if (size != 0 && count > SIZE_MAX / size)
		return NULL;
	if (!allocator.alloc)
		return calloc(count, size);
	p = allocator.alloc(allocator.arg, count * size);
	if (p != NULL)
		memset(p, 0, count * size);
	return p;
}

void *
lsm_malloc_private(size_t n)
{
	if (allocator.alloc_private)
		return allocator.alloc_private(allocator.arg, n);
	return lsm_malloc(n);
}

void *
lsm_realloc(void *p, size_t n)
{
	if (allocator.realloc)
		return allocator.realloc(allocator.arg, p, n);
	return realloc(p, n);
}

void
lsm_free(void *p)
{
	if (p == NULL)
		return;
	if (allocator.free)
		allocator.free(allocator.arg, p);
	else
		free(p);
}

char *
lsm_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *d = lsm_malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}
