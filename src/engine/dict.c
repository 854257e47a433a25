/*
 * dict.c
 *		zstd dictionaries for blob files (dict.h).
 */
#include <pthread.h>
#include <string.h>

#include <zdict.h>
#include <zstd.h>

#include "dict.h"
#include "lsm_alloc.h"
#include "lsm_status.h"

/* Fewer values than this make a dictionary that barely helps, or none. */
#define DICT_MIN_SAMPLES 16

void
lsm_dict_sampler_init(LsmDictSampler *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->rng = seed * 0x9E3779B97F4A7C15ULL + 1;
}

static uint64_t
next_random(LsmDictSampler *s)
{
	/* xorshift64*: the sample needs spread, not quality */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545F4914F6CDD1DULL;
}

bool
lsm_dict_sample(LsmDictSampler *s, LsmSlice value)
{
	uint64_t	slot;
	size_t		n = value.len < LSM_DICT_SAMPLE_MAX ? value.len : LSM_DICT_SAMPLE_MAX;

	if (s->slots == NULL &&
		(s->slots = lsm_malloc_private((size_t) LSM_DICT_SAMPLES * LSM_DICT_SAMPLE_MAX)) == NULL)
		return false;
	/* value number seen replaces a kept one with probability SAMPLES / (seen + 1) */
	slot = s->seen < LSM_DICT_SAMPLES ? s->seen : next_random(s) % (s->seen + 1);
	s->seen++;
	if (slot >= LSM_DICT_SAMPLES)
		return true;
	memcpy(s->slots + slot * LSM_DICT_SAMPLE_MAX, value.data, n);
	s->sizes[slot] = n;
	return true;
}

void
lsm_dict_sampler_free(LsmDictSampler *s)
{
	lsm_free(s->slots);
	s->slots = NULL;
}

size_t
lsm_dict_train(const LsmDictSampler *s, uint8_t *out)
{
	int			n = s->seen < LSM_DICT_SAMPLES ? (int) s->seen : LSM_DICT_SAMPLES;
	size_t		total = 0;
	uint8_t    *packed;
	size_t		r;
	int			i;

	if (n < DICT_MIN_SAMPLES || s->slots == NULL)
		return 0;
	for (i = 0; i < n; i++)
		total += s->sizes[i];
	/* ZDICT wants the samples back to back */
	packed = lsm_malloc_private(total > 0 ? total : 1);
	if (packed == NULL)
		return 0;
	total = 0;
	for (i = 0; i < n; i++)
	{
		memcpy(packed + total, s->slots + (size_t) i * LSM_DICT_SAMPLE_MAX, s->sizes[i]);
		total += s->sizes[i];
	}
	r = ZDICT_trainFromBuffer(out, LSM_DICT_MAX, packed, s->sizes, (unsigned) n);
	lsm_free(packed);
	return ZDICT_isError(r) ? 0 : r;
}

uint64_t
lsm_dict_key(const uint8_t *dict, size_t len)
{
	/* FNV-1a over the length (8 bytes, little-endian) and the bytes */
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < 8; i++)
	{
		h ^= (uint8_t) ((uint64_t) len >> (8 * i));
		h *= 0x100000001b3ULL;
	}
	for (i = 0; i < len; i++)
	{
		h ^= dict[i];
		h *= 0x100000001b3ULL;
	}
	return h != 0 ? h : 1;
}

/*
 * Each thread's digested dictionaries.  Decompressing with the raw bytes
 * digests them for every value (5.7 against 0.9 us for 1 KiB; digesting a
 * 16 KiB dictionary alone takes 5 us, and a miss also reads it): a get
 * needs a digested one at hand.  Per thread rather than per blob reader,
 * because a reader may live in memory every process shares while zstd
 * allocates with the process's own malloc; keyed by content, because the
 * blob files of a table mostly share one dictionary.
 */
#define DICT_CACHE 8

typedef struct DictCache
{
	uint64_t	key[DICT_CACHE];
	ZSTD_DDict *ddict[DICT_CACHE];
	uint64_t	used[DICT_CACHE];
	uint64_t	clock;
} DictCache;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_destroy(void *p)
{
	DictCache  *c = p;
	int			i;

	for (i = 0; i < DICT_CACHE; i++)
		ZSTD_freeDDict(c->ddict[i]);
	lsm_free(c);
}

static void
cache_key_init(void)
{
	(void) pthread_key_create(&cache_key, cache_destroy);
}

static DictCache *
cache_get(void)
{
	DictCache  *c;

	pthread_once(&cache_once, cache_key_init);
	c = pthread_getspecific(cache_key);
	if (c == NULL && (c = lsm_malloc_private(sizeof(*c))) != NULL)
	{
		memset(c, 0, sizeof(*c));
		if (pthread_setspecific(cache_key, c) != 0)
		{
			lsm_free(c);
			c = NULL;
		}
	}
	return c;
}

LsmCode
lsm_dict_get(uint64_t key, LsmDictLoad load, void *arg, const void **ddict, LsmStatus *st)
{
	DictCache  *c = cache_get();
	LsmBuf		bytes = LSM_BUF_INIT;
	ZSTD_DDict *d;
	int			victim = 0;
	int			i;
	LsmCode		rc;

	*ddict = NULL;
	if (c == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory for a dictionary cache");
	for (i = 0; i < DICT_CACHE; i++)
	{
		if (c->ddict[i] != NULL && c->key[i] == key)
		{
			c->used[i] = ++c->clock;
			*ddict = c->ddict[i];
			return LSM_OK;
		}
		if (c->used[i] < c->used[victim])
			victim = i;
	}
	rc = load(arg, &bytes, st);
	if (rc != LSM_OK)
	{
		lsm_buf_free(&bytes);
		return rc;
	}
	d = ZSTD_createDDict(bytes.data, bytes.len);
	lsm_buf_free(&bytes);
	if (d == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory for a dictionary");
	ZSTD_freeDDict(c->ddict[victim]);
	c->ddict[victim] = d;
	c->key[victim] = key;
	c->used[victim] = ++c->clock;
	*ddict = d;
	return LSM_OK;
}
