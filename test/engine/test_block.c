/*
 * test_block.c
 *		Blocks: builder/iterator round trips against a sorted model, all
 *		three ownership forms, and hostile input.
 */
#include "testutil.h"

#include "block.h"
#include "block_cache.h"
#include "lsm_coding.h"
#include "lsm_env.h"

typedef struct Ent
{
	uint8_t    *key;
	size_t		klen;
	uint8_t    *val;
	size_t		vlen;
} Ent;

static int
ent_cmp(const void *a, const void *b)
{
	const Ent  *x = a;
	const Ent  *y = b;

	return lsm_slice_cmp(lsm_slice(x->key, x->klen), lsm_slice(y->key, y->klen));
}

/* n sorted, distinct random entries; keys from a small alphabet to share prefixes. */
static Ent *
make_entries(TestRng *r, size_t *n_io, size_t max_val)
{
	size_t		n = *n_io;
	Ent		   *e = calloc(n ? n : 1, sizeof(Ent));
	size_t		out = 0;

	for (size_t i = 0; i < n; i++)
	{
		e[i].klen = test_rng_below(r, 24);
		e[i].key = malloc(e[i].klen + 1);
		for (size_t j = 0; j < e[i].klen; j++)
			e[i].key[j] = (uint8_t) ("abcd\0\xff"[test_rng_below(r, 6)]);
		e[i].vlen = test_rng_below(r, 4) == 0 ? 0 : test_rng_below(r, max_val + 1);
		e[i].val = malloc(e[i].vlen + 1);
		for (size_t j = 0; j < e[i].vlen; j++)
			e[i].val[j] = (uint8_t) test_rng_next(r);
	}
	qsort(e, n, sizeof(Ent), ent_cmp);
	for (size_t i = 0; i < n; i++)
	{
		if (out > 0 && ent_cmp(&e[out - 1], &e[i]) == 0)
		{
			free(e[i].key);
			free(e[i].val);
			continue;
		}
		e[out++] = e[i];
	}
	*n_io = out;
	return e;
}

static void
free_entries(Ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		free(e[i].key);
		free(e[i].val);
	}
	free(e);
}

/*
 * check_against_model
 *		The iterator conformance check (iter_check.c) against the model,
 *		with 300 seek targets: present keys and random ones.
 */
static int
check_against_model(LsmIter *it, const Ent *e, size_t n, TestRng *r)
{
	TestKV	   *kv = calloc(n + 1, sizeof(TestKV));
	LsmSlice	probes[300];
	uint8_t		tk[300][32];
	int			ok;

	for (size_t i = 0; i < n; i++)
	{
		kv[i].key = lsm_slice(e[i].key, e[i].klen);
		kv[i].value = lsm_slice(e[i].val, e[i].vlen);
	}
	for (int k = 0; k < 300; k++)
	{
		if (n > 0 && test_rng_below(r, 2) == 0)
			probes[k] = kv[test_rng_below(r, n)].key;
		else
		{
			size_t		len = test_rng_below(r, 26);

			for (size_t j = 0; j < len; j++)
				tk[k][j] = (uint8_t) ("abcde\0\xff"[test_rng_below(r, 7)]);
			probes[k] = lsm_slice(tk[k], len);
		}
	}
	ok = test_iter_check(it, kv, n, probes, 300, lsm_slice_cmp, test_rng_next(r));
	free(kv);
	return ok;
}

static int
build(LsmBlockBuilder *b, const Ent *e, size_t n, LsmSlice *out)
{
	lsm_block_builder_reset(b);
	for (size_t i = 0; i < n; i++)
		CHECK_RET(lsm_block_builder_add(b, lsm_slice(e[i].key, e[i].klen),
										lsm_slice(e[i].val, e[i].vlen)), 0);
	CHECK_RET(lsm_block_builder_finish(b, out), 0);
	CHECK_RET(out->len == lsm_block_builder_size(b), 0);
	return 1;
}

static void
test_round_trip(void)
{
	TestRng		r = {test_seed("block round trip")};
	const int	intervals[] = {1, 2, 3, 16, 1000};
	const size_t counts[] = {0, 1, 2, 17, 300, 3000};

	for (size_t ii = 0; ii < sizeof(intervals) / sizeof(intervals[0]); ii++)
		for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++)
		{
			size_t		n = counts[ci];
			Ent		   *e = make_entries(&r, &n, ci == 3 ? 5000 : 40);
			LsmBlockBuilder b;
			LsmSlice	blk;
			LsmIter    *it;
			int			ok;

			lsm_block_builder_init(&b, intervals[ii]);
			ok = build(&b, e, n, &blk);
			if (ok)
			{
				CHECK(lsm_block_check(blk));
				it = lsm_block_iter_borrowed(blk, lsm_slice_cmp, "mem", 0);
				CHECK(it != NULL);
				ok = check_against_model(it, e, n, &r);
				lsm_iter_destroy(it);
			}
			lsm_block_builder_free(&b);
			free_entries(e, n);
			CHECK(ok);
		}
}

/* The owned and cached forms keep the bytes alive by themselves. */
static void
test_ownership(void)
{
	TestRng		r = {test_seed("block ownership")};
	size_t		n = 500;
	Ent		   *e = make_entries(&r, &n, 100);
	LsmBlockBuilder b;
	LsmSlice	blk;
	uint8_t    *copy;
	LsmIter    *it;
	LsmBlockCache *cache;
	LsmCacheHandle *h;
	int			ok;

	lsm_block_builder_init(&b, 16);
	CHECK(build(&b, e, n, &blk));

	copy = malloc(blk.len);
	memcpy(copy, blk.data, blk.len);
	it = lsm_block_iter_owned(copy, blk.len, lsm_slice_cmp, "mem", 0);
	ok = check_against_model(it, e, n, &r);
	lsm_iter_destroy(it);
	CHECK(ok);

	cache = lsm_block_cache_create(lsm_env_posix(), 1 << 20);
	CHECK(cache != NULL);
	copy = malloc(blk.len);
	memcpy(copy, blk.data, blk.len);
	h = lsm_block_cache_insert(cache, 7, 0, copy, blk.len);
	CHECK(h != NULL);
	it = lsm_block_iter_cached(cache, h, lsm_slice_cmp, "mem", 0);
	/* evict everything else; the iterator's pin keeps the block */
	lsm_block_cache_erase_file(cache, 7);
	ok = check_against_model(it, e, n, &r);
	lsm_iter_destroy(it);
	CHECK(lsm_block_cache_usage(cache) == 0);
	lsm_block_cache_destroy(cache);
	CHECK(ok);

	lsm_block_builder_free(&b);
	free_entries(e, n);
}

/* Malformed trailers are reported, not crashed on. */
static void
test_bad_trailer(void)
{
	uint8_t		buf[64];
	LsmIter    *it;
	LsmStatus	st;

	memset(buf, 0, sizeof(buf));
	for (size_t len = 0; len < 8; len++)
	{
		it = lsm_block_iter_borrowed(lsm_slice(buf, len), lsm_slice_cmp, "x.sst", 4096);
		lsm_iter_seek_first(it);
		CHECK(!lsm_iter_valid(it));
		CHECK(lsm_iter_status(it, &st) == LSM_CORRUPTION);
		CHECK(strstr(st.msg, "x.sst") != NULL && strstr(st.msg, "4096") != NULL);
		lsm_iter_destroy(it);
	}
	/* restart count larger than the block */
	lsm_put_fixed32(buf + 60, 100);
	it = lsm_block_iter_borrowed(lsm_slice(buf, 64), lsm_slice_cmp, "x.sst", 0);
	lsm_iter_seek_last(it);
	CHECK(!lsm_iter_valid(it));
	CHECK(lsm_iter_status(it, NULL) == LSM_CORRUPTION);
	lsm_iter_destroy(it);
	/* zero restarts */
	lsm_put_fixed32(buf + 60, 0);
	it = lsm_block_iter_borrowed(lsm_slice(buf, 64), lsm_slice_cmp, "x.sst", 0);
	lsm_iter_seek(it, lsm_slice_str("a"));
	CHECK(lsm_iter_status(it, NULL) == LSM_CORRUPTION);
	lsm_iter_destroy(it);
}

/* An entry claiming more shared bytes than the previous key has. */
static void
test_bad_shared(void)
{
	LsmBlockBuilder b;
	LsmSlice	blk;
	uint8_t    *copy;
	LsmIter    *it;

	lsm_block_builder_init(&b, 16);
	lsm_block_builder_add(&b, lsm_slice_str("ab"), lsm_slice_str("1"));
	lsm_block_builder_add(&b, lsm_slice_str("abc"), lsm_slice_str("2"));
	lsm_block_builder_finish(&b, &blk);
	copy = malloc(blk.len);
	memcpy(copy, blk.data, blk.len);
	/* first entry: shared 0, non_shared 2, vlen 1, "ab", "1"; second at 6 */
	CHECK(copy[6] == 2);
	copy[6] = 9;
	it = lsm_block_iter_owned(copy, blk.len, lsm_slice_cmp, "y.sst", 0);
	lsm_iter_seek_first(it);
	CHECK(lsm_iter_valid(it));
	lsm_iter_next(it);
	CHECK(!lsm_iter_valid(it));
	CHECK(lsm_iter_status(it, NULL) == LSM_CORRUPTION);
	lsm_iter_destroy(it);
	lsm_block_builder_free(&b);
}

/*
 * Random damage: flip bytes, truncate, or overwrite with noise.  There is
 * no checksum at this level, so answers may differ; the point is that
 * every operation stays in bounds (ASan) and terminates.
 */
static void
test_fuzz(void)
{
	TestRng		r = {test_seed("block fuzz")};
	size_t		n = 200;
	Ent		   *e = make_entries(&r, &n, 30);
	LsmBlockBuilder b;
	LsmSlice	blk;

	lsm_block_builder_init(&b, 4);
	CHECK(build(&b, e, n, &blk));
	for (int round = 0; round < 3000; round++)
	{
		size_t		len = blk.len;
		uint8_t    *copy = malloc(len);
		LsmIter    *it;
		int			steps = 0;

		memcpy(copy, blk.data, len);
		switch (round % 3)
		{
			case 0:
				copy[test_rng_below(&r, len)] ^= (uint8_t) (1 + test_rng_below(&r, 255));
				break;
			case 1:
				len = test_rng_below(&r, len);
				break;
			default:
				for (int k = 0; k < 8; k++)
					copy[test_rng_below(&r, len)] = (uint8_t) test_rng_next(&r);
				break;
		}
		/* exact-size allocation so ASan catches any overread */
		copy = realloc(copy, len ? len : 1);
		it = lsm_block_iter_owned(copy, len, lsm_slice_cmp, "fuzz", 0);
		for (lsm_iter_seek_first(it); lsm_iter_valid(it) && steps < 10000; lsm_iter_next(it))
			steps++;
		for (lsm_iter_seek_last(it); lsm_iter_valid(it) && steps < 20000; lsm_iter_prev(it))
			steps++;
		for (int k = 0; k < 20; k++)
		{
			const Ent  *x = &e[test_rng_below(&r, n)];

			lsm_iter_seek(it, lsm_slice(x->key, x->klen));
			if (lsm_iter_valid(it))
			{
				lsm_iter_prev(it);
				lsm_iter_next(it);
			}
		}
		CHECK(steps < 20000);
		lsm_iter_destroy(it);
	}
	lsm_block_builder_free(&b);
	free_entries(e, n);
}

int
main(void)
{
	RUN(test_round_trip);
	RUN(test_ownership);
	RUN(test_bad_trailer);
	RUN(test_bad_shared);
	RUN(test_fuzz);
	return test_finish();
}
