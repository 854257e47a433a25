/*
 * lsm_slice.h
 *		Byte strings the engine passes around: borrowed slices and owned,
 *		growable buffers.
 */
#ifndef LSM_SLICE_H
#define LSM_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A borrowed view; whoever hands it out says how long it stays valid. */
typedef struct LsmSlice
{
	const uint8_t *data;
	size_t		len;
} LsmSlice;

static inline LsmSlice
lsm_slice(const void *data, size_t len)
{
	LsmSlice	s;

	s.data = (const uint8_t *) data;
	s.len = len;
	return s;
}

static inline LsmSlice
lsm_slice_str(const char *s)
{
	return lsm_slice(s, strlen(s));
}

/* Bytewise order; a shorter string sorts before its extensions. */
static inline int
lsm_slice_cmp(LsmSlice a, LsmSlice b)
{
	size_t		n = a.len < b.len ? a.len : b.len;
	int			r = n ? memcmp(a.data, b.data, n) : 0;

	if (r != 0)
		return r;
	return (a.len < b.len) ? -1 : (a.len > b.len) ? 1 : 0;
}

static inline bool
lsm_slice_eq(LsmSlice a, LsmSlice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/*
 * An owned buffer grown with malloc/realloc.  Zero-initialise it
 * (LSM_BUF_INIT) and free it with lsm_buf_free.  Growth failure returns
 * false and leaves the buffer intact.
 */
typedef struct LsmBuf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} LsmBuf;

#define LSM_BUF_INIT {NULL, 0, 0}

extern bool lsm_buf_reserve(LsmBuf *b, size_t extra);
extern bool lsm_buf_append(LsmBuf *b, const void *p, size_t n);
extern bool lsm_buf_set(LsmBuf *b, const void *p, size_t n);
extern bool lsm_buf_make_private(LsmBuf *b, size_t cap);
extern void lsm_buf_free(LsmBuf *b);

static inline void
lsm_buf_reset(LsmBuf *b)
{
	b->len = 0;
}

static inline LsmSlice
lsm_buf_slice(const LsmBuf *b)
{
	return lsm_slice(b->data, b->len);
}

#endif							/* LSM_SLICE_H */
