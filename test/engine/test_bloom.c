/*
 * test_bloom.c
 *		Bloom filters: no false negatives, the false-positive rate, probe
 *		counts, a pinned hash (it is part of the file format), and
 *		malformed filters.
 */
#include "testutil.h"

#include "bloom.h"

static LsmSlice
key_of(uint8_t *buf, uint64_t i, uint64_t salt)
{
	int			n = snprintf((char *) buf, 32, "key-%llu-%llu",
							 (unsigned long long) i, (unsigned long long) salt);

	return lsm_slice(buf, (size_t) n);
}

static double
fp_rate(int bits_per_key, size_t n, uint64_t salt, int *no_false_negatives)
{
	LsmBloomBuilder b;
	LsmBuf		f = LSM_BUF_INIT;
	uint8_t		kb[32];
	size_t		fp = 0;
	const size_t probes = 100000;

	lsm_bloom_builder_init(&b, bits_per_key);
	for (size_t i = 0; i < n; i++)
		lsm_bloom_builder_add(&b, key_of(kb, i, salt));
	lsm_bloom_builder_finish(&b, &f);
	*no_false_negatives = 1;
	for (size_t i = 0; i < n; i++)
		if (!lsm_bloom_may_contain(lsm_buf_slice(&f), key_of(kb, i, salt)))
			*no_false_negatives = 0;
	for (size_t i = 0; i < probes; i++)
		fp += lsm_bloom_may_contain(lsm_buf_slice(&f), key_of(kb, n + i, salt));
	lsm_bloom_builder_free(&b);
	lsm_buf_free(&f);
	return (double) fp / probes;
}

static void
test_fp_rate(void)
{
	uint64_t	salt = test_seed("bloom fp");
	int			nfn;
	double		r10;

	for (int bpk = 1; bpk <= 20; bpk += (bpk < 4 ? 1 : 4))
	{
		double		r = fp_rate(bpk, 20000, salt, &nfn);

		printf("  bits/key %2d: k=%d fp=%.3f%%\n", bpk, lsm_bloom_num_probes(bpk), r * 100);
		CHECK(nfn);
	}
	r10 = fp_rate(10, 100000, salt, &nfn);
	printf("  100k keys at 10 bits/key: fp=%.3f%%\n", r10 * 100);
	CHECK(nfn);
	CHECK(r10 < 0.02);
	CHECK(r10 > 0.002);
}

static void
test_small_and_empty(void)
{
	LsmBloomBuilder b;
	LsmBuf		f = LSM_BUF_INIT;
	uint8_t		kb[32];
	int			hits = 0;

	/* no keys: a valid filter that rejects everything */
	lsm_bloom_builder_init(&b, 10);
	CHECK(lsm_bloom_builder_finish(&b, &f));
	CHECK(lsm_bloom_check(lsm_buf_slice(&f)));
	for (int i = 0; i < 1000; i++)
		hits += lsm_bloom_may_contain(lsm_buf_slice(&f), key_of(kb, i, 0));
	CHECK(hits == 0);

	/* one key, including the empty key */
	lsm_buf_reset(&f);
	lsm_bloom_builder_add(&b, lsm_slice(NULL, 0));
	CHECK(lsm_bloom_builder_finish(&b, &f));
	CHECK(lsm_bloom_may_contain(lsm_buf_slice(&f), lsm_slice(NULL, 0)));
	lsm_bloom_builder_free(&b);
	lsm_buf_free(&f);
}

static void
test_probes(void)
{
	CHECK(lsm_bloom_num_probes(0) == 1);
	CHECK(lsm_bloom_num_probes(1) == 1);
	CHECK(lsm_bloom_num_probes(10) == 7);
	CHECK(lsm_bloom_num_probes(20) == 14);
	CHECK(lsm_bloom_num_probes(100) == LSM_BLOOM_MAX_PROBES);
}

/* The hash decides bits on disk: changing it silently breaks old files. */
static void
test_hash_pinned(void)
{
	CHECK(lsm_bloom_hash(lsm_slice(NULL, 0)) == 0x9ca066f1a4ab2eeaULL);
	CHECK(lsm_bloom_hash(lsm_slice_str("a")) == 0xe228cb74bfb71083ULL);
	CHECK(lsm_bloom_hash(lsm_slice_str("hello, world")) == 0xfd0a622269156f47ULL);
	CHECK(lsm_bloom_hash(lsm_slice_str("0123456789abcdef")) == 0xb9da8fd80993a5e0ULL);
	/* trailing zero bytes matter */
	CHECK(lsm_bloom_hash(lsm_slice("a\0", 2)) != lsm_bloom_hash(lsm_slice("a", 1)));
}

/* A malformed filter says "maybe" rather than losing keys. */
static void
test_malformed(void)
{
	uint8_t		f[9] = {0};

	CHECK(!lsm_bloom_check(lsm_slice(f, 0)));
	CHECK(lsm_bloom_may_contain(lsm_slice(f, 0), lsm_slice_str("x")));
	CHECK(lsm_bloom_may_contain(lsm_slice(f, 1), lsm_slice_str("x")));
	f[8] = 0;
	CHECK(!lsm_bloom_check(lsm_slice(f, 9)));
	CHECK(lsm_bloom_may_contain(lsm_slice(f, 9), lsm_slice_str("x")));
	f[8] = 31;
	CHECK(!lsm_bloom_check(lsm_slice(f, 9)));
	CHECK(lsm_bloom_may_contain(lsm_slice(f, 9), lsm_slice_str("x")));
	f[8] = 7;
	CHECK(lsm_bloom_check(lsm_slice(f, 9)));
	CHECK(!lsm_bloom_may_contain(lsm_slice(f, 9), lsm_slice_str("x")));
}

int
main(void)
{
	RUN(test_fp_rate);
	RUN(test_small_and_empty);
	RUN(test_probes);
	RUN(test_hash_pinned);
	RUN(test_malformed);
	return test_finish();
}
