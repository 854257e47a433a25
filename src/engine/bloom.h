/*
 * bloom.h
 *		A whole-table bloom filter over user keys.
 *
 * The filter block is a bit array followed by one byte k, the number of
 * probes.  A key sets bits h1 + i*h2 (mod the bit count) for i in [0, k),
 * where h1 and h2 are the halves of one 64-bit hash of the key (double
 * hashing), so one pass over the key serves every probe.  With 10 bits per
 * key and k = 7 about 1% of absent keys get a false "maybe".
 */
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm_slice.h"

/* Most probes a filter may ask for; a larger k byte is corruption. */
#define LSM_BLOOM_MAX_PROBES 30

typedef struct LsmBloomBuilder
{
	int			bits_per_key;
	uint64_t   *hashes;			/* one per distinct key added */
	size_t		n;
	size_t		cap;
} LsmBloomBuilder;

/* The filter's 64-bit key hash (exposed for tests). */
extern uint64_t lsm_bloom_hash(LsmSlice key);

/* k = round(bits_per_key * ln 2), clamped to 1..LSM_BLOOM_MAX_PROBES. */
extern int	lsm_bloom_num_probes(int bits_per_key);

extern void lsm_bloom_builder_init(LsmBloomBuilder *b, int bits_per_key);
extern void lsm_bloom_builder_free(LsmBloomBuilder *b);

/* Remember a key; false when memory ran out. */
extern bool lsm_bloom_builder_add(LsmBloomBuilder *b, LsmSlice key);

/*
 * Append the filter block for every key added so far to out and forget the
 * keys.  False when memory ran out.
 */
extern bool lsm_bloom_builder_finish(LsmBloomBuilder *b, LsmBuf *out);

/*
 * Is the block well formed: at least one byte of bits and a probe count in
 * 1..LSM_BLOOM_MAX_PROBES?
 */
extern bool lsm_bloom_check(LsmSlice filter);

/*
 * False means key was certainly not added.  A malformed filter answers
 * true (it can only cost a read, never lose a key).
 */
extern bool lsm_bloom_may_contain(LsmSlice filter, LsmSlice key);

#endif							/* LSM_BLOOM_H */
