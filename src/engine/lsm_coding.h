/*
 * lsm_coding.h
 *		Little-endian fixed-width and varint encodings used by every file
 *		format of the engine (docs/format.md).
 */
#ifndef LSM_CODING_H
#define LSM_CODING_H

#include <stdint.h>
#include <string.h>

#include "lsm_slice.h"

static inline void
lsm_put_fixed32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
}

static inline void
lsm_put_fixed64(uint8_t *p, uint64_t v)
{
	lsm_put_fixed32(p, (uint32_t) v);
	lsm_put_fixed32(p + 4, (uint32_t) (v >> 32));
}

static inline uint32_t
lsm_get_fixed32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static inline uint64_t
lsm_get_fixed64(const uint8_t *p)
{
	return (uint64_t) lsm_get_fixed32(p) | ((uint64_t) lsm_get_fixed32(p + 4) << 32);
}

/* Max bytes of a varint32 / varint64. */
#define LSM_VARINT32_MAX 5
#define LSM_VARINT64_MAX 10

/* Write a varint at p; return the byte after it. */
extern uint8_t *lsm_encode_varint32(uint8_t *p, uint32_t v);
extern uint8_t *lsm_encode_varint64(uint8_t *p, uint64_t v);
extern int	lsm_varint_length(uint64_t v);

/*
 * Decode a varint from [p, limit); return the byte after it, or NULL when
 * the input is truncated or overlong (corrupt data must never read past
 * limit).
 */
extern const uint8_t *lsm_decode_varint32_slow(const uint8_t *p, const uint8_t *limit,
											   uint32_t *v);
extern const uint8_t *lsm_decode_varint64_slow(const uint8_t *p, const uint8_t *limit,
											   uint64_t *v);

/*
 * Lengths, shared-prefix counts and block offsets are mostly below 128: the
 * one-byte case inline keeps block seeks out of a call per header field
 * (6% of a point get's CPU before).
 */
static inline const uint8_t *
lsm_decode_varint32(const uint8_t *p, const uint8_t *limit, uint32_t *v)
{
	if (p < limit && *p < 0x80)
	{
		*v = *p;
		return p + 1;
	}
	return lsm_decode_varint32_slow(p, limit, v);
}

static inline const uint8_t *
lsm_decode_varint64(const uint8_t *p, const uint8_t *limit, uint64_t *v)
{
	if (p < limit && *p < 0x80)
	{
		*v = *p;
		return p + 1;
	}
	return lsm_decode_varint64_slow(p, limit, v);
}

/* Append encodings to a buffer; false when memory ran out. */
extern bool lsm_buf_put_fixed32(LsmBuf *b, uint32_t v);
extern bool lsm_buf_put_fixed64(LsmBuf *b, uint64_t v);
extern bool lsm_buf_put_varint32(LsmBuf *b, uint32_t v);
extern bool lsm_buf_put_varint64(LsmBuf *b, uint64_t v);
/* varint32 length followed by the bytes */
extern bool lsm_buf_put_lenprefixed(LsmBuf *b, LsmSlice s);

/*
 * Read a varint32 length and that many bytes from [*p, limit); advance *p.
 * False when truncated.
 */
extern bool lsm_get_lenprefixed(const uint8_t **p, const uint8_t *limit, LsmSlice *out);

#endif							/* LSM_CODING_H */
