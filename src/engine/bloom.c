/*
 * bloom.c
 *		Whole-table bloom filters (see bloom.h).
 */
#include <stdlib.h>

#include "bloom.h"
#include "lsm_alloc.h"
#include "lsm_coding.h"

#define HASH_M1 0x87c37b91114253d5ULL
#define HASH_M2 0x4cf5ad432745937fULL

static inline uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* Final avalanche, so that every input bit affects every output bit. */
static inline uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/*
 * lsm_bloom_hash
 *		A small multiply-rotate hash over 8-byte little-endian words,
 *		seeded with the length so that keys differing only by trailing
 *		zero bytes hash apart.  Its value is part of the file format: the
 *		filter written by one build must answer the same in every other.
 */
uint64_t
lsm_bloom_hash(LsmSlice key)
{
	const uint8_t *p = key.data;
	size_t		n = key.len;
	uint64_t	h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t) key.len * HASH_M2);
	uint64_t	w;

	while (n >= 8)
	{
		w = lsm_get_fixed64(p);
		w *= HASH_M1;
		w = rotl64(w, 31);
		w *= HASH_M2;
		h ^= w;
		h = rotl64(h, 27) * 5 + 0x52dce729;
		p += 8;
		n -= 8;
	}
	if (n > 0)
	{
		w = 0;
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t) p[i] << (8 * i);
		w *= HASH_M1;
		w = rotl64(w, 31);
		w *= HASH_M2;
		h ^= w;
	}
	return mix64(h);
}

int
lsm_bloom_num_probes(int bits_per_key)
{
	int			k = (int) (bits_per_key * 0.69 + 0.5);

	if (k < 1)
		k = 1;
	if (k > LSM_BLOOM_MAX_PROBES)
		k = LSM_BLOOM_MAX_PROBES;
	return k;
}

void
lsm_bloom_builder_init(LsmBloomBuilder *b, int bits_per_key)
{
	memset(b, 0, sizeof(*b));
	b->bits_per_key = bits_per_key < 1 ? 1 : bits_per_key;
}

void
lsm_bloom_builder_free(LsmBloomBuilder *b)
{
	lsm_free(b->hashes);
	b->hashes = NULL;
	b->n = b->cap = 0;
}

/*
 * lsm_bloom_builder_add
 *		Keep only the hash: the keys themselves may be large, and the bits
 *		cannot be set until the filter's size (from the key count) is known.
 */
bool
lsm_bloom_builder_add(LsmBloomBuilder *b, LsmSlice key)
{
	if (b->n == b->cap)
	{
		size_t		ncap = b->cap ? b->cap * 2 : 1024;
		uint64_t   *nh = lsm_realloc(b->hashes, ncap * sizeof(uint64_t));

		if (nh == NULL)
			return false;
		b->hashes = nh;
		b->cap = ncap;
	}
	b->hashes[b->n++] = lsm_bloom_hash(key);
	return true;
}

/* Bit positions of a hash: h1 + i*h2 over the filter's bits. */
static inline uint64_t
probe_delta(uint64_t h)
{
	/* never 0, or every probe would test the same bit */
	return (h >> 32) | 1;
}

/*
 * lsm_bloom_builder_finish
 *		Size the bit array at bits_per_key per key (at least 64 bits, so
 *		tiny tables do not get degenerate filters), set every key's bits,
 *		and append bits + k.
 */
bool
lsm_bloom_builder_finish(LsmBloomBuilder *b, LsmBuf *out)
{
	uint64_t	nbits = (uint64_t) b->n * (uint64_t) b->bits_per_key;
	size_t		nbytes;
	int			k = lsm_bloom_num_probes(b->bits_per_key);
	uint8_t    *bits;

	if (nbits < 64)
		nbits = 64;
	nbytes = (size_t) ((nbits + 7) / 8);
	nbits = (uint64_t) nbytes * 8;
	if (!lsm_buf_reserve(out, nbytes + 1))
		return false;
	bits = out->data + out->len;
	memset(bits, 0, nbytes);
	for (size_t i = 0; i < b->n; i++)
	{
		uint64_t	h = b->hashes[i];
		uint64_t	pos = (uint32_t) h;
		uint64_t	delta = probe_delta(h);

		for (int j = 0; j < k; j++)
		{
			uint64_t	bit = pos % nbits;

			bits[bit >> 3] |= (uint8_t) (1u << (bit & 7));
			pos += delta;
		}
	}
	bits[nbytes] = (uint8_t) k;
	out->len += nbytes + 1;
	b->n = 0;
	return true;
}

bool
lsm_bloom_check(LsmSlice filter)
{
	uint8_t		k;

	if (filter.len < 2)
		return false;
	k = filter.data[filter.len - 1];
	return k >= 1 && k <= LSM_BLOOM_MAX_PROBES;
}

bool
lsm_bloom_may_contain(LsmSlice filter, LsmSlice key)
{
	uint64_t	h,
				pos,
				delta,
				nbits;
	int			k;

	if (!lsm_bloom_check(filter))
		return true;
	k = filter.data[filter.len - 1];
	nbits = (uint64_t) (filter.len - 1) * 8;
	h = lsm_bloom_hash(key);
	/*
	 * The same bits as the builder's (pos + j*delta) % nbits, with two
	 * divisions instead of k: this runs for every table a get probes.
	 */
	pos = (uint64_t) (uint32_t) h % nbits;
	delta = probe_delta(h) % nbits;
	for (int j = 0; j < k; j++)
	{
		if ((filter.data[pos >> 3] & (1u << (pos & 7))) == 0)
			return false;
		pos += delta;
		if (pos >= nbits)
			pos -= nbits;
	}
	return true;
}
