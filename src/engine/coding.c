/*
 * coding.c
 *		Varint encoding and helpers that append encodings to an LsmBuf.
 *
 * Varints are the usual base-128 little-endian groups, high bit set on
 * every byte but the last.  Decoders are written for corrupt input: they
 * never look at a byte at or past limit and reject encodings longer than
 * the type allows, or whose last byte carries bits beyond the type's width.
 */
#include "lsm_coding.h"

/*
 * lsm_encode_varint64
 *		Write v as a varint at p and return the byte after it.
 */
uint8_t *
lsm_encode_varint64(uint8_t *p, uint64_t v)
{
	while (v >= 0x80)
	{
		*p++ = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t) v;
	return p;
}

uint8_t *
lsm_encode_varint32(uint8_t *p, uint32_t v)
{
	return lsm_encode_varint64(p, v);
}

/*
 * lsm_varint_length
 *		Bytes the varint encoding of v takes.
 */
int
lsm_varint_length(uint64_t v)
{
	int			n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * decode_varint
 *		Decode a varint of at most maxbytes bytes and width bits.
 *
 * Bits that do not fit in the width make the input invalid rather than
 * being silently dropped: a value that decodes differently from how it
 * would be encoded is corruption.
 */
static const uint8_t *
decode_varint(const uint8_t *p, const uint8_t *limit, int maxbytes, int width,
			  uint64_t *v)
{
	uint64_t	result = 0;
	int			i;

	for (i = 0; i < maxbytes && p < limit; i++)
	{
		uint64_t	byte = *p++;
		int			shift = 7 * i;

		if (i == maxbytes - 1)
		{
			/* the last allowed byte: no continuation, no excess bits */
			if (byte & 0x80)
				return NULL;
			if (width - shift < 7 && (byte >> (width - shift)) != 0)
				return NULL;
		}
		result |= (byte & 0x7f) << shift;
		if ((byte & 0x80) == 0)
		{
			*v = result;
			return p;
		}
	}
	return NULL;
}

const uint8_t *
lsm_decode_varint32_slow(const uint8_t *p, const uint8_t *limit, uint32_t *v)
{
	uint64_t	r;
	const uint8_t *q = decode_varint(p, limit, LSM_VARINT32_MAX, 32, &r);

	if (q != NULL)
		*v = (uint32_t) r;
	return q;
}

const uint8_t *
lsm_decode_varint64_slow(const uint8_t *p, const uint8_t *limit, uint64_t *v)
{
	return decode_varint(p, limit, LSM_VARINT64_MAX, 64, v);
}

bool
lsm_buf_put_fixed32(LsmBuf *b, uint32_t v)
{
	uint8_t		tmp[4];

	lsm_put_fixed32(tmp, v);
	return lsm_buf_append(b, tmp, sizeof(tmp));
}

bool
lsm_buf_put_fixed64(LsmBuf *b, uint64_t v)
{
	uint8_t		tmp[8];

	lsm_put_fixed64(tmp, v);
	return lsm_buf_append(b, tmp, sizeof(tmp));
}

bool
lsm_buf_put_varint32(LsmBuf *b, uint32_t v)
{
	uint8_t		tmp[LSM_VARINT32_MAX];

	return lsm_buf_append(b, tmp, lsm_encode_varint32(tmp, v) - tmp);
}

bool
lsm_buf_put_varint64(LsmBuf *b, uint64_t v)
{
	uint8_t		tmp[LSM_VARINT64_MAX];

	return lsm_buf_append(b, tmp, lsm_encode_varint64(tmp, v) - tmp);
}

/*
 * lsm_buf_put_lenprefixed
 *		Append a varint32 length and the bytes of s.
 *
 * Lengths above 4 GiB cannot be represented and are refused rather than
 * truncated.  The reservation is made first so a failure appends nothing.
 */
bool
lsm_buf_put_lenprefixed(LsmBuf *b, LsmSlice s)
{
	if (s.len > UINT32_MAX)
		return false;
	if (!lsm_buf_reserve(b, LSM_VARINT32_MAX + s.len))
		return false;
	b->len = lsm_encode_varint32(b->data + b->len, (uint32_t) s.len) - b->data;
	if (s.len > 0)
		memcpy(b->data + b->len, s.data, s.len);
	b->len += s.len;
	return true;
}

/*
 * lsm_get_lenprefixed
 *		Read a varint32 length and that many bytes from [*p, limit).
 *
 * *p advances only on success, so a caller can report where parsing
 * stopped.
 */
bool
lsm_get_lenprefixed(const uint8_t **p, const uint8_t *limit, LsmSlice *out)
{
	uint32_t	len;
	const uint8_t *q = lsm_decode_varint32(*p, limit, &len);

	if (q == NULL || (size_t) (limit - q) < len)
		return false;
	*out = lsm_slice(q, len);
	*p = q + len;
	return true;
}
