/*
 * slice.c
 *		Owned, growable byte buffers (LsmBuf).
 */
#include <stdlib.h>
#include <string.h>

#include "lsm_slice.h"
#include "lsm_alloc.h"

/*
 * lsm_buf_reserve
 *		Make room for extra more bytes beyond len.
 *
 * Capacity at least doubles so that a long run of small appends costs
 * amortised O(1) per byte.  On failure (malloc, or a size that would
 * overflow) the buffer is left exactly as it was.
 */
bool
lsm_buf_reserve(LsmBuf *b, size_t extra)
{
	size_t		need;
	size_t		cap;
	uint8_t    *p;

	if (extra > SIZE_MAX - b->len)
		return false;
	need = b->len + extra;
	if (need <= b->cap)
		return true;

	cap = b->cap ? b->cap : 64;
	while (cap < need)
	{
		if (cap > SIZE_MAX / 2)
		{
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = lsm_realloc(b->data, cap);
	if (p == NULL)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

/*
 * lsm_buf_append
 *		Append n bytes; p may point into the buffer itself.
 */
bool
lsm_buf_append(LsmBuf *b, const void *p, size_t n)
{
	size_t		src_off = 0;
	bool		inside;

	if (n == 0)
		return true;
	/* realloc may move the data that p points into; remember the offset */
	inside = b->data != NULL && (const uint8_t *) p >= b->data &&
		(const uint8_t *) p < b->data + b->cap;
	if (inside)
		src_off = (const uint8_t *) p - b->data;
	if (!lsm_buf_reserve(b, n))
		return false;
	if (inside)
		p = b->data + src_off;
	memmove(b->data + b->len, p, n);
	b->len += n;
	return true;
}

/*
 * lsm_buf_set
 *		Replace the contents with n bytes from p.
 */
bool
lsm_buf_set(LsmBuf *b, const void *p, size_t n)
{
	if (n > b->cap && b->data != NULL &&
		((const uint8_t *) p < b->data || (const uint8_t *) p >= b->data + b->cap))
	{
		/*
		 * Grow in place (realloc leaves b intact on failure): the memory
		 * stays of its kind, so a private buffer stays private.
		 */
		if (!lsm_buf_reserve(b, n - b->len))
			return false;
	}
	else if (n > b->cap)
	{
		LsmBuf		tmp = LSM_BUF_INIT;

		/* build aside so that failure leaves b intact (and p may be in b) */
		if (!lsm_buf_append(&tmp, p, n))
			return false;
		lsm_free(b->data);
		*b = tmp;
		return true;
	}
	if (n > 0)
		memmove(b->data, p, n);
	b->len = n;
	return true;
}

/*
 * lsm_buf_make_private
 *		Give an empty, unallocated buffer cap bytes of process-private memory
 *		(lsm_malloc_private).  Growth reallocates in place of the old block,
 *		so the buffer stays private for its whole life.  A buffer that
 *		already has memory is left as it is.
 */
bool
lsm_buf_make_private(LsmBuf *b, size_t cap)
{
	if (b->data != NULL || cap == 0)
		return true;
	b->data = lsm_malloc_private(cap);
	if (b->data == NULL)
		return false;
	b->cap = cap;
	b->len = 0;
	return true;
}

/*
 * lsm_buf_free
 *		Release the memory and return the buffer to its initial state.
 */
void
lsm_buf_free(LsmBuf *b)
{
	lsm_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
