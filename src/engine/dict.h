/*
 * dict.h
 *		zstd dictionaries for blob files: a sample of the values a blob file
 *		receives, the dictionary trained from it, and each thread's cache of
 *		dictionaries digested for decompression.
 *
 * A blob value is compressed on its own so that a get reads and decodes
 * that value only; alone, 1 KiB of JSON compresses about 1.2x (LZ4) to 1.6x
 * (zstd), because its field names and common strings appear once in it.
 * A dictionary trained on other values of the table holds them, and the
 * same values compress 3-4x, faster than without one (docs/design.md,
 * "Blob files compress with a dictionary").
 */
#ifndef LSM_DICT_H
#define LSM_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm.h"
#include "lsm_slice.h"

/* Bytes of a trained dictionary, at most. */
#define LSM_DICT_MAX 16384
/* Values kept as a sample, and bytes kept of each (a prefix). */
#define LSM_DICT_SAMPLES 128
#define LSM_DICT_SAMPLE_MAX 4096

/*
 * A uniform sample of the values one writer stores (reservoir sampling),
 * in the writer's own memory.
 */
typedef struct LsmDictSampler
{
	uint8_t    *slots;			/* LSM_DICT_SAMPLES slots; NULL until the first */
	size_t		sizes[LSM_DICT_SAMPLES];
	uint64_t	seen;
	uint64_t	rng;
} LsmDictSampler;

extern void lsm_dict_sampler_init(LsmDictSampler *s, uint64_t seed);
/* false when the slots could not be allocated (the value is not sampled). */
extern bool lsm_dict_sample(LsmDictSampler *s, LsmSlice value);
extern void lsm_dict_sampler_free(LsmDictSampler *s);

/*
 * Train a dictionary from s into out (LSM_DICT_MAX bytes); its length, or
 * 0 when the sample is too small or training fails (the caller goes on
 * without).
 */
extern size_t lsm_dict_train(const LsmDictSampler *s, uint8_t *out);

/* A dictionary's identity: a 64-bit hash of its bytes, never 0. */
extern uint64_t lsm_dict_key(const uint8_t *dict, size_t len);

/*
 * Fill dict with the dictionary whose key was asked for, on a cache miss.
 * The loader vouches for the bytes: the cache keeps them under that key.
 */
typedef LsmCode (*LsmDictLoad) (void *arg, LsmBuf *dict, LsmStatus *st);

/*
 * The dictionary of key digested for decompression (a ZSTD_DDict), from
 * this thread's cache or made from what load gives.  It stays valid until
 * this thread's next call (lsm_codec_decompress_dict uses it).
 */
extern LsmCode lsm_dict_get(uint64_t key, LsmDictLoad load, void *arg, const void **ddict,
							LsmStatus *st);

#endif							/* LSM_DICT_H */
