/*
 * test_memtable.c
 *		Tests of the offset-addressed skiplist memtable: ordering of
 *		versions, snapshot seeks, both iteration directions, a full region,
 *		relocation of the region, a randomized comparison against a sorted
 *		model, and one writer racing two lock-free readers.
 *
 * Set LSM_BENCH=1 to also time 1M inserts and lookups.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm_format.h"
#include "memtable.h"
#include "testutil.h"

static uint64_t seed;

/* Internal key into a buffer, for seeks and comparisons. */
static LsmSlice
ikey(LsmBuf *b, LsmSlice user, LsmSeq seq, LsmKind kind)
{
	lsm_buf_reset(b);
	if (!lsm_ikey_append(b, user, seq, kind))
		abort();
	return lsm_buf_slice(b);
}

/* 8-byte aligned region of size bytes, zeroed. */
static void *
region_new(size_t size)
{
	void	   *r = aligned_alloc(8, (size + 7) & ~(size_t) 7);

	if (r == NULL)
		abort();
	memset(r, 0, size);
	return r;
}

/*
 * The value every test stores: fixed64 seq, then the user key.  Readers can
 * then check that key and value belong to the same complete node.
 */
static size_t
make_value(uint8_t *out, LsmSlice user, LsmSeq seq)
{
	lsm_put_fixed64(out, seq);
	memcpy(out + 8, user.data, user.len);
	return 8 + user.len;
}

/* 1 when it is a well-formed entry whose value matches its key. */
static int
entry_ok(LsmSlice key, LsmSlice value)
{
	LsmParsedKey pk;

	if (!lsm_ikey_parse(key, &pk))
		return 0;
	if (value.len != 8 + pk.user_key.len)
		return 0;
	if (lsm_get_fixed64(value.data) != pk.seq)
		return 0;
	return pk.user_key.len == 0 || memcmp(value.data + 8, pk.user_key.data, pk.user_key.len) == 0;
}

static bool
add_entry(LsmMemTable *mt, LsmSlice user, LsmSeq seq, LsmKind kind)
{
	uint8_t		v[8 + 256];

	return lsm_memtable_add(mt, seq, kind, user, lsm_slice(v, make_value(v, user, seq)));
}

static void
test_init_and_empty(void)
{
	void	   *r = region_new(8192);
	LsmMemTable *mt;
	LsmMemIter	it;
	LsmBuf		b = LSM_BUF_INIT;
	LsmStatus	st;

	CHECK(lsm_memtable_init(r, LSM_MEMTABLE_MIN_SIZE - 1) == NULL);
	CHECK(lsm_memtable_init((char *) r + 1, 4200) == NULL);
	CHECK(lsm_memtable_init(r, ((size_t) 1 << 32) + 8) == NULL);
	CHECK(lsm_memtable_attach(r) == NULL);	/* not formatted */
	mt = lsm_memtable_init(r, 8192);
	CHECK(mt != NULL);
	CHECK(lsm_memtable_attach(r) == mt);
	CHECK(lsm_memtable_count(mt) == 0);
	CHECK(lsm_memtable_min_seq(mt) == LSM_MAX_SEQ);
	CHECK(lsm_memtable_max_seq(mt) == 0);
	/* the header, the head node and the hash buckets (4 bytes per 256) */
	CHECK(lsm_memtable_bytes_used(mt) > 0 && lsm_memtable_bytes_used(mt) < 256 + 8192 / 64);
	CHECK(lsm_memtable_bytes_used(mt) + lsm_memtable_bytes_free(mt) == 8192);
	CHECK_OK(lsm_memtable_verify(mt, &st), &st);

	lsm_memtable_iter_init(&it, mt);
	CHECK(!lsm_iter_valid(&it.base));
	lsm_iter_seek_first(&it.base);
	CHECK(!lsm_iter_valid(&it.base));
	lsm_iter_seek_last(&it.base);
	CHECK(!lsm_iter_valid(&it.base));
	lsm_iter_seek(&it.base, ikey(&b, lsm_slice_str("a"), 1, LSM_KIND_FOR_SEEK));
	CHECK(!lsm_iter_valid(&it.base));
	CHECK(lsm_iter_status(&it.base, NULL) == LSM_OK);
	lsm_iter_destroy(&it.base);	/* embedded: a no-op */

	/* the empty key and the largest seq are legal; one past is not */
	CHECK(add_entry(mt, lsm_slice("", 0), LSM_MAX_SEQ, LSM_KIND_PUT));
	CHECK(!add_entry(mt, lsm_slice("", 0), LSM_MAX_SEQ + 1, LSM_KIND_PUT));
	CHECK(lsm_memtable_count(mt) == 1);
	CHECK(lsm_memtable_min_seq(mt) == LSM_MAX_SEQ && lsm_memtable_max_seq(mt) == LSM_MAX_SEQ);
	lsm_iter_seek_first(&it.base);
	CHECK(lsm_iter_valid(&it.base));
	CHECK(lsm_iter_key(&it.base).len == LSM_IKEY_TRAILER);
	CHECK(entry_ok(lsm_iter_key(&it.base), lsm_iter_value(&it.base)));

	/* garbage in the header is refused */
	((uint32_t *) r)[0] ^= 1;
	CHECK(lsm_memtable_attach(r) == NULL);
	lsm_buf_free(&b);
	free(r);
}

/*
 * Many versions per key, inserted in a shuffled order: iteration must give
 * user keys ascending and, within a key, seqs descending.
 */
static void
test_versions_order(void)
{
	enum
	{
		NKEYS = 200, NVERS = 12
	};
	void	   *r = region_new(1 << 20);
	LsmMemTable *mt = lsm_memtable_init(r, 1 << 20);
	int			order[NKEYS * NVERS];
	TestRng		rng = {seed ^ 1};
	LsmMemIter	it;
	LsmStatus	st;
	int			i;
	int			n;
	char		prev_user[16] = "";
	LsmSeq		prev_seq = 0;

	CHECK(mt != NULL);
	for (i = 0; i < NKEYS * NVERS; i++)
		order[i] = i;
	for (i = NKEYS * NVERS - 1; i > 0; i--)
	{
		int			j = (int) test_rng_below(&rng, i + 1);
		int			t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < NKEYS * NVERS; i++)
	{
		char		user[16];
		int			k = order[i] / NVERS;
		int			v = order[i] % NVERS;

		snprintf(user, sizeof(user), "key%05d", k);
		/* seqs interleave across keys so ordering is not seq order */
		CHECK(add_entry(mt, lsm_slice_str(user), (LsmSeq) v * 1000 + k + 1,
						(LsmKind) (v % 3)));
	}
	CHECK(lsm_memtable_count(mt) == NKEYS * NVERS);
	CHECK(lsm_memtable_min_seq(mt) == 1);
	CHECK(lsm_memtable_max_seq(mt) == (NVERS - 1) * 1000 + NKEYS);
	CHECK_OK(lsm_memtable_verify(mt, &st), &st);

	lsm_memtable_iter_init(&it, mt);
	n = 0;
	for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
	{
		LsmParsedKey pk;
		char		user[16];
		int			k = n / NVERS;
		int			v = NVERS - 1 - n % NVERS;

		CHECK(lsm_ikey_parse(lsm_iter_key(&it.base), &pk));
		CHECK(entry_ok(lsm_iter_key(&it.base), lsm_iter_value(&it.base)));
		snprintf(user, sizeof(user), "key%05d", k);
		CHECK(lsm_slice_eq(pk.user_key, lsm_slice_str(user)));
		CHECK(pk.seq == (LsmSeq) v * 1000 + k + 1);
		CHECK(pk.kind == (LsmKind) (v % 3));
		if (n % NVERS != 0)
			CHECK(strcmp(prev_user, user) == 0 && pk.seq < prev_seq);
		else
			CHECK(strcmp(prev_user, user) < 0);
		memcpy(prev_user, user, sizeof(user));
		prev_seq = pk.seq;
		n++;
	}
	CHECK(n == NKEYS * NVERS);
	free(r);
}

/*
 * Seeking to ikey(user, snap, LSM_KIND_FOR_SEEK) finds the newest version
 * visible at snapshot snap, or the next user key when none is.
 */
static void
test_seek_snapshot(void)
{
	void	   *r = region_new(65536);
	LsmMemTable *mt = lsm_memtable_init(r, 65536);
	LsmMemIter	it;
	LsmBuf		b = LSM_BUF_INIT;
	LsmParsedKey pk;
	LsmSeq		snap;

	CHECK(mt != NULL);
	CHECK(add_entry(mt, lsm_slice_str("apple"), 3, LSM_KIND_PUT));
	CHECK(add_entry(mt, lsm_slice_str("k"), 15, LSM_KIND_MERGE));
	CHECK(add_entry(mt, lsm_slice_str("k"), 5, LSM_KIND_PUT));
	CHECK(add_entry(mt, lsm_slice_str("k"), 10, LSM_KIND_DELETE));
	CHECK(add_entry(mt, lsm_slice("k\x00", 2), 1, LSM_KIND_PUT));
	CHECK(add_entry(mt, lsm_slice_str("kz"), 7, LSM_KIND_PUT));
	lsm_memtable_iter_init(&it, mt);

	for (snap = 0; snap < 30; snap++)
	{
		lsm_iter_seek(&it.base, ikey(&b, lsm_slice_str("k"), snap, LSM_KIND_FOR_SEEK));
		CHECK(lsm_iter_valid(&it.base));
		CHECK(lsm_ikey_parse(lsm_iter_key(&it.base), &pk));
		if (snap < 5)
			CHECK(lsm_slice_eq(pk.user_key, lsm_slice("k\x00", 2)) && pk.seq == 1);
		else
		{
			CHECK(lsm_slice_eq(pk.user_key, lsm_slice_str("k")));
			CHECK(pk.seq == (snap >= 15 ? 15 : snap >= 10 ? 10 : 5));
		}
	}
	/* before everything, after everything, between keys */
	lsm_iter_seek(&it.base, ikey(&b, lsm_slice("", 0), LSM_MAX_SEQ, LSM_KIND_FOR_SEEK));
	CHECK(lsm_iter_valid(&it.base));
	CHECK(lsm_slice_eq(lsm_ikey_user_key(lsm_iter_key(&it.base)), lsm_slice_str("apple")));
	lsm_iter_seek(&it.base, ikey(&b, lsm_slice_str("zzz"), LSM_MAX_SEQ, LSM_KIND_FOR_SEEK));
	CHECK(!lsm_iter_valid(&it.base));
	lsm_iter_seek(&it.base, ikey(&b, lsm_slice_str("b"), 0, LSM_KIND_DELETE));
	CHECK(lsm_iter_valid(&it.base));
	CHECK(lsm_ikey_parse(lsm_iter_key(&it.base), &pk));
	CHECK(lsm_slice_eq(pk.user_key, lsm_slice_str("k")) && pk.seq == 15);
	/* an exact key is found itself */
	lsm_iter_seek(&it.base, ikey(&b, lsm_slice_str("k"), 10, LSM_KIND_DELETE));
	CHECK(lsm_ikey_parse(lsm_iter_key(&it.base), &pk));
	CHECK(pk.seq == 10 && pk.kind == LSM_KIND_DELETE);
	lsm_buf_free(&b);
	free(r);
}

static void
test_prev_next_last(void)
{
	enum
	{
		N = 1000
	};
	void	   *r = region_new(1 << 20);
	LsmMemTable *mt = lsm_memtable_init(r, 1 << 20);
	LsmMemIter	it;
	LsmBuf		b = LSM_BUF_INIT;
	LsmSlice	fwd[N];
	int			n;
	int			i;

	CHECK(mt != NULL);
	for (i = 0; i < N; i++)
	{
		char		user[16];

		snprintf(user, sizeof(user), "%07d", (i * 7919) % N);
		CHECK(add_entry(mt, lsm_slice_str(user), (LsmSeq) i + 1, LSM_KIND_PUT));
	}
	lsm_memtable_iter_init(&it, mt);
	n = 0;
	for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
		fwd[n++] = lsm_iter_key(&it.base);	/* slices point into the region */
	CHECK(n == N);

	n = N;
	for (lsm_iter_seek_last(&it.base); lsm_iter_valid(&it.base); lsm_iter_prev(&it.base))
	{
		CHECK(n > 0);
		n--;
		CHECK(lsm_slice_eq(lsm_iter_key(&it.base), fwd[n]));
	}
	CHECK(n == 0);

	/* next off the end and prev off the start both invalidate */
	lsm_iter_seek_last(&it.base);
	lsm_iter_next(&it.base);
	CHECK(!lsm_iter_valid(&it.base));
	lsm_iter_seek_first(&it.base);
	lsm_iter_prev(&it.base);
	CHECK(!lsm_iter_valid(&it.base));

	/* direction changes in the middle */
	lsm_iter_seek(&it.base, ikey(&b, lsm_slice_str("0000500"), LSM_MAX_SEQ, LSM_KIND_FOR_SEEK));
	CHECK(lsm_iter_valid(&it.base) && lsm_slice_eq(lsm_iter_key(&it.base), fwd[500]));
	lsm_iter_prev(&it.base);
	CHECK(lsm_slice_eq(lsm_iter_key(&it.base), fwd[499]));
	lsm_iter_next(&it.base);
	lsm_iter_next(&it.base);
	CHECK(lsm_slice_eq(lsm_iter_key(&it.base), fwd[501]));
	lsm_iter_prev(&it.base);
	CHECK(lsm_slice_eq(lsm_iter_key(&it.base), fwd[500]));
	lsm_buf_free(&b);
	free(r);
}

/*
 * A full region: adds fail without changing a byte, every earlier entry
 * stays readable, and bytes_free >= entry_size guarantees success.
 */
static void
test_full_region(void)
{
	size_t		size = 4096 * 3;
	void	   *r = region_new(size);
	void	   *before = malloc(size);
	LsmMemTable *mt = lsm_memtable_init(r, size);
	TestRng		rng = {seed ^ 2};
	LsmMemIter	it;
	LsmStatus	st;
	int			added = 0;
	int			refused = 0;
	int			i;

	CHECK(mt != NULL && before != NULL);
	/* larger than the whole region: refused at once */
	{
		uint8_t    *big = calloc(1, size);

		memcpy(before, r, size);
		CHECK(!lsm_memtable_add(mt, 1, LSM_KIND_PUT, lsm_slice("k", 1), lsm_slice(big, size)));
		CHECK(memcmp(before, r, size) == 0);
		free(big);
	}

	for (i = 0; i < 2000 && refused < 50; i++)
	{
		char		user[64];
		size_t		klen = 1 + test_rng_below(&rng, 40);
		size_t		free_before = lsm_memtable_bytes_free(mt);
		bool		guaranteed = free_before >= lsm_memtable_entry_size(klen, 8 + klen);
		bool		ok;

		for (size_t j = 0; j < klen; j++)
			user[j] = 'a' + (char) test_rng_below(&rng, 26);
		memcpy(before, r, size);
		ok = add_entry(mt, lsm_slice(user, klen), (LsmSeq) i + 1, LSM_KIND_PUT);
		if (guaranteed)
			CHECK(ok);
		if (ok)
		{
			added++;
			CHECK(lsm_memtable_bytes_free(mt) < free_before);
			CHECK(free_before - lsm_memtable_bytes_free(mt) <= lsm_memtable_entry_size(klen, 8 + klen));
		}
		else
		{
			refused++;
			CHECK(memcmp(before, r, size) == 0);
		}
	}
	CHECK(refused == 50 && added > 50);
	CHECK(lsm_memtable_count(mt) == (uint64_t) added);
	CHECK(lsm_memtable_bytes_free(mt) < lsm_memtable_entry_size(1, 9));
	CHECK_OK(lsm_memtable_verify(mt, &st), &st);

	lsm_memtable_iter_init(&it, mt);
	i = 0;
	for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
	{
		CHECK(entry_ok(lsm_iter_key(&it.base), lsm_iter_value(&it.base)));
		i++;
	}
	CHECK(i == added);
	free(before);
	free(r);
}

/*
 * The region copied to another address works unchanged, so nothing in it
 * is a pointer.  The original is scribbled over and freed first.
 */
static void
test_attach_copy(void)
{
	size_t		size = 1 << 18;
	uint8_t    *r = region_new(size);
	uint8_t    *copy = region_new(size);
	LsmMemTable *mt = lsm_memtable_init(r, size);
	LsmMemTable *mt2;
	LsmMemIter	it;
	LsmBuf		b = LSM_BUF_INIT;
	LsmStatus	st;
	int			i;
	int			n;

	CHECK(mt != NULL);
	for (i = 0; i < 1000; i++)
	{
		char		user[16];

		snprintf(user, sizeof(user), "u%05d", (i * 37) % 1000);
		CHECK(add_entry(mt, lsm_slice_str(user), (LsmSeq) i + 1, LSM_KIND_PUT));
	}
	memcpy(copy, r, size);
	memset(r, 0xAB, size);
	free(r);

	mt2 = lsm_memtable_attach(copy);
	CHECK(mt2 != NULL);
	CHECK(lsm_memtable_count(mt2) == 1000);
	CHECK_OK(lsm_memtable_verify(mt2, &st), &st);
	lsm_memtable_iter_init(&it, mt2);
	n = 0;
	for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
	{
		char		user[16];

		snprintf(user, sizeof(user), "u%05d", n);
		CHECK(lsm_slice_eq(lsm_ikey_user_key(lsm_iter_key(&it.base)), lsm_slice_str(user)));
		CHECK(lsm_iter_key(&it.base).data >= copy && lsm_iter_key(&it.base).data < copy + size);
		CHECK(entry_ok(lsm_iter_key(&it.base), lsm_iter_value(&it.base)));
		n++;
	}
	CHECK(n == 1000);

	/* and the copy keeps accepting writes */
	CHECK(add_entry(mt2, lsm_slice_str("u00500"), 5000, LSM_KIND_DELETE));
	lsm_iter_seek(&it.base, ikey(&b, lsm_slice_str("u00500"), LSM_MAX_SEQ, LSM_KIND_FOR_SEEK));
	CHECK(lsm_iter_valid(&it.base));
	{
		LsmParsedKey pk;

		CHECK(lsm_ikey_parse(lsm_iter_key(&it.base), &pk));
		CHECK(pk.seq == 5000 && pk.kind == LSM_KIND_DELETE);
	}
	CHECK_OK(lsm_memtable_verify(mt2, &st), &st);
	lsm_buf_free(&b);
	free(copy);
}

/*
 * Values lie apart from the nodes: every key below every value, the keys
 * packed at the start, the values at the end; and verify catches a node
 * whose value link leaves the value area.
 */
static void
test_values_apart(void)
{
	size_t		size = 1 << 20;
	uint8_t    *r = region_new(size);
	LsmMemTable *mt = lsm_memtable_init(r, size);
	uint8_t		value[1024];
	const uint8_t *key_max = r;
	const uint8_t *value_min = r + size;
	const uint8_t *victim = NULL;
	LsmMemIter	it;
	LsmStatus	st;
	uint32_t	saved;
	int			n = 0;

	CHECK(mt != NULL);
	memset(value, 'v', sizeof(value));
	for (;; n++)
	{
		char		user[16];

		snprintf(user, sizeof(user), "user:%08d", (n * 7919) % 100003);
		if (!lsm_memtable_add(mt, (LsmSeq) n + 1, LSM_KIND_PUT, lsm_slice_str(user),
							  lsm_slice(value, sizeof(value))))
			break;
	}
	CHECK(n > 900);
	lsm_memtable_iter_init(&it, mt);
	for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
	{
		LsmSlice	k = lsm_iter_key(&it.base);
		LsmSlice	v = lsm_iter_value(&it.base);

		CHECK(v.len == sizeof(value) && memcmp(v.data, value, v.len) == 0);
		if (k.data + k.len > key_max)
			key_max = k.data + k.len;
		if (v.data < value_min)
			value_min = v.data;
		if (victim == NULL)
			victim = k.data;
	}
	CHECK(key_max < value_min);
	/* nodes of a tower of a few words and a 21-byte key: well under 128 bytes each */
	CHECK((size_t) (key_max - r) < (size_t) n * 128);
	CHECK(value_min + (size_t) n * sizeof(value) <= r + size);
	CHECK_OK(lsm_memtable_verify(mt, &st), &st);

	/* the node's value link is the word before its key's length byte */
	memcpy(&saved, victim - 1 - 4, 4);
	memcpy((uint8_t *) victim - 1 - 4, &(uint32_t) {(uint32_t) size}, 4);
	CHECK(lsm_memtable_verify(mt, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "bad value") != NULL);
	memcpy((uint8_t *) victim - 1 - 4, &saved, 4);
	CHECK_OK(lsm_memtable_verify(mt, &st), &st);
	free(r);
}

/*
 * lsm_memtable_grow: a full region copied into one twice its size keeps
 * every entry, accepts the write that did not fit, and fills the new room.
 */
static void
test_grow(void)
{
	size_t		size = 1 << 14;
	uint8_t    *r = region_new(size);
	uint8_t    *big;
	LsmMemTable *mt = lsm_memtable_init(r, size);
	LsmMemIter	it;
	LsmStatus	st;
	int			n = 0,
				more = 0,
				seen = 0;
	char		user[16];

	CHECK(mt != NULL);
	for (;; n++)
	{
		snprintf(user, sizeof(user), "g%05d", (n * 37) % 10007);
		if (!add_entry(mt, lsm_slice_str(user), (LsmSeq) n + 1, LSM_KIND_PUT))
			break;
	}
	CHECK(n > 10);
	big = region_new(2 * size);
	CHECK(lsm_memtable_grow(mt, big, lsm_memtable_bytes_used(mt) - 8) == NULL);
	CHECK(lsm_memtable_grow(mt, big + 4, 2 * size - 8) == NULL);
	mt = lsm_memtable_grow(mt, big, 2 * size);
	memset(r, 0xAB, size);
	free(r);
	CHECK(mt != NULL);
	CHECK(lsm_memtable_count(mt) == (uint64_t) n);
	for (;; more++)
	{
		snprintf(user, sizeof(user), "g%05d", ((n + more) * 37) % 10007);
		if (!add_entry(mt, lsm_slice_str(user), (LsmSeq) (n + more) + 1, LSM_KIND_PUT))
			break;
	}
	CHECK(more > n / 2);
	CHECK(lsm_memtable_bytes_used(mt) <= 2 * size);
	CHECK_OK(lsm_memtable_verify(mt, &st), &st);
	lsm_memtable_iter_init(&it, mt);
	for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
	{
		CHECK(entry_ok(lsm_iter_key(&it.base), lsm_iter_value(&it.base)));
		seen++;
	}
	CHECK(seen == n + more);
	/* grown, its buckets are too few: gets search the skiplist, and find */
	for (int k = 0; k < n + more; k++)
	{
		LsmBuf		b = LSM_BUF_INIT;
		LsmParsedKey pk;

		snprintf(user, sizeof(user), "g%05d", (k * 37) % 10007);
		lsm_memtable_iter_seek_key(&it, ikey(&b, lsm_slice_str(user), LSM_MAX_SEQ,
											 LSM_KIND_FOR_SEEK));
		CHECK(lsm_iter_valid(&it.base));
		CHECK(lsm_ikey_parse(lsm_iter_key(&it.base), &pk));
		CHECK(lsm_slice_eq(pk.user_key, lsm_slice_str(user)));
		lsm_buf_free(&b);
	}
	free(big);
}

static void
test_iter_new(void)
{
	void	   *r = region_new(8192);
	LsmMemTable *mt = lsm_memtable_init(r, 8192);
	LsmIter    *it;

	CHECK(mt != NULL);
	CHECK(add_entry(mt, lsm_slice_str("x"), 1, LSM_KIND_PUT));
	it = lsm_memtable_iter_new(mt);
	CHECK(it != NULL);
	lsm_iter_seek_first(it);
	CHECK(lsm_iter_valid(it));
	CHECK(entry_ok(lsm_iter_key(it), lsm_iter_value(it)));
	lsm_iter_next(it);
	CHECK(!lsm_iter_valid(it));
	CHECK(lsm_iter_status(it, NULL) == LSM_OK);
	lsm_iter_destroy(it);		/* heap: ASan reports a leak otherwise */
	free(r);
}

/* ---------- randomized comparison with a sorted model ---------- */

typedef struct ModelEntry
{
	uint8_t		key[32];		/* internal key */
	size_t		len;
} ModelEntry;

static int
model_cmp(const void *a, const void *b)
{
	const ModelEntry *x = a;
	const ModelEntry *y = b;

	return lsm_ikey_cmp(lsm_slice(x->key, x->len), lsm_slice(y->key, y->len));
}

/* Index of the first model entry >= target (n when none). */
static int
model_lower_bound(const ModelEntry *m, int n, LsmSlice target)
{
	int			lo = 0;
	int			hi = n;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (lsm_ikey_cmp(lsm_slice(m[mid].key, m[mid].len), target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
test_random_model(void)
{
	uint64_t	s = test_seed("memtable model");
	TestRng		rng = {s};
	int			round;

	for (round = 0; round < 8; round++)
	{
		size_t		size = 4096 + test_rng_below(&rng, 1 << 19);
		void	   *r = region_new(size);
		LsmMemTable *mt = lsm_memtable_init(r, size);
		int			cap = 20000;
		ModelEntry *m = malloc(sizeof(ModelEntry) * cap);
		int			n = 0;
		int			alphabet = 2 + (int) test_rng_below(&rng, 20);
		LsmSeq		seq = test_rng_below(&rng, 1000);
		/*
		 * Rounds add versions in rising order, falling order (the hash keeps
		 * the newest), or scrambled (short inserts meet older versions
		 * inserted after them).
		 */
		int			order = round % 3;
		LsmSeq		top = 0;		/* the newest seq added */
		LsmMemIter	it;
		LsmMemIter	it2;
		LsmBuf		b = LSM_BUF_INIT;
		LsmStatus	st;
		int			i;
		int			op;

		CHECK(mt != NULL && m != NULL);
		/* fill until full: short keys from a small alphabet give many versions */
		for (i = 0; i < cap; i++)
		{
			uint8_t		user[8];
			size_t		klen = test_rng_below(&rng, 5);
			LsmKind		kind = (LsmKind) test_rng_below(&rng, 3);

			for (size_t j = 0; j < klen; j++)
				user[j] = (uint8_t) ('a' + test_rng_below(&rng, alphabet));
			if (order == 1)
				seq = (i == 0 ? 3 * (LsmSeq) cap + 1000 : seq) - 1 - test_rng_below(&rng, 2);
			else if (order == 2)
				seq = 1 + ((LsmSeq) i * 7919) % 20011;	/* distinct: 20011 is prime */
			else
				seq += 1 + test_rng_below(&rng, 3);
			if (!add_entry(mt, lsm_slice(user, klen), seq, kind))
				break;
			if (seq > top)
				top = seq;
			memcpy(m[n].key, user, klen);
			lsm_put_fixed64(m[n].key + klen, lsm_pack_seq_kind(seq, kind));
			m[n].len = klen + 8;
			n++;
		}
		qsort(m, n, sizeof(ModelEntry), model_cmp);
		CHECK(lsm_memtable_count(mt) == (uint64_t) n);
		CHECK_OK(lsm_memtable_verify(mt, &st), &st);

		lsm_memtable_iter_init(&it, mt);
		lsm_memtable_iter_init(&it2, mt);
		i = 0;
		for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base), i++)
		{
			CHECK(i < n);
			CHECK(lsm_slice_eq(lsm_iter_key(&it.base), lsm_slice(m[i].key, m[i].len)));
			CHECK(entry_ok(lsm_iter_key(&it.base), lsm_iter_value(&it.base)));
		}
		CHECK(i == n);

		/* random walks: seek / seek_first / seek_last, then next and prev */
		for (op = 0; op < 2000; op++)
		{
			int			pos;
			int			steps;

			switch (test_rng_below(&rng, 4))
			{
				case 0:
					lsm_iter_seek_first(&it.base);
					pos = 0;
					break;
				case 1:
					lsm_iter_seek_last(&it.base);
					pos = n - 1;
					break;
				default:
					{
						uint8_t		user[8];
						size_t		klen = test_rng_below(&rng, 6);
						LsmSlice	t;

						for (size_t j = 0; j < klen; j++)
							user[j] = (uint8_t) ('a' + test_rng_below(&rng, alphabet + 1));
						t = ikey(&b, lsm_slice(user, klen),
								 test_rng_below(&rng, top + 2),
								 (LsmKind) test_rng_below(&rng, 3));
						lsm_iter_seek(&it.base, t);
						pos = model_lower_bound(m, n, t);
						/* a point get's seek: there when the key has a version <= t */
						lsm_memtable_iter_seek_key(&it2, t);
						if (pos < n && m[pos].len == klen + 8 &&
							memcmp(m[pos].key, user, klen) == 0)
						{
							CHECK(lsm_iter_valid(&it2.base));
							CHECK(lsm_slice_eq(lsm_iter_key(&it2.base),
											   lsm_slice(m[pos].key, m[pos].len)));
						}
						else
							CHECK(!lsm_iter_valid(&it2.base));
						break;
					}
			}
			for (steps = 0; steps < 8; steps++)
			{
				if (pos < 0 || pos >= n)
				{
					CHECK(!lsm_iter_valid(&it.base));
					break;
				}
				CHECK(lsm_iter_valid(&it.base));
				CHECK(lsm_slice_eq(lsm_iter_key(&it.base), lsm_slice(m[pos].key, m[pos].len)));
				if (test_rng_below(&rng, 2))
				{
					lsm_iter_next(&it.base);
					pos++;
				}
				else
				{
					lsm_iter_prev(&it.base);
					pos--;
				}
			}
		}
		lsm_buf_free(&b);
		free(m);
		free(r);
	}
}

/*
 * A get of a key with many versions newer than its snapshot: past a few,
 * the hash's walk along level 0 gives way to the skiplist search.
 */
static void
test_get_many_versions(void)
{
	size_t		size = 1 << 20;
	void	   *r = region_new(size);
	LsmMemTable *mt = lsm_memtable_init(r, size);
	LsmMemIter	it;
	LsmBuf		b = LSM_BUF_INIT;
	LsmSeq		seq = 0;
	LsmSeq		snaps[] = {0, 1, 2, 5, 50, 198, 199, 200, 201, 250, 1000};

	CHECK(mt != NULL);
	for (int v = 0; v < 100; v++)
	{
		char		other[16];

		snprintf(other, sizeof(other), "k%03d", v);
		CHECK(add_entry(mt, lsm_slice_str(other), ++seq, LSM_KIND_PUT));
		CHECK(add_entry(mt, lsm_slice_str("hot"), ++seq,
						v % 3 == 0 ? LSM_KIND_MERGE : LSM_KIND_PUT));
	}
	lsm_memtable_iter_init(&it, mt);
	for (size_t i = 0; i < sizeof(snaps) / sizeof(snaps[0]); i++)
	{
		LsmSeq		want = snaps[i] >= 200 ? 200 : snaps[i] - snaps[i] % 2;
		LsmParsedKey pk;

		lsm_memtable_iter_seek_key(&it, ikey(&b, lsm_slice_str("hot"), snaps[i],
											 LSM_KIND_FOR_SEEK));
		if (want == 0)
		{
			CHECK(!lsm_iter_valid(&it.base));
			continue;
		}
		CHECK(lsm_iter_valid(&it.base));
		CHECK(lsm_ikey_parse(lsm_iter_key(&it.base), &pk));
		CHECK(lsm_slice_eq(pk.user_key, lsm_slice_str("hot")));
		CHECK(pk.seq == want);
	}
	lsm_memtable_iter_seek_key(&it, ikey(&b, lsm_slice_str("cold"), 1000,
										 LSM_KIND_FOR_SEEK));
	CHECK(!lsm_iter_valid(&it.base));
	lsm_buf_free(&b);
	free(r);
}

/*
 * Merge operands of one key, fold every 3rd: the short insert counts the
 * run like the search does, so the 3rd, 6th ... operand is refused (the
 * caller then adds the folded value instead).
 */
static void
test_fold_short_inserts(void)
{
	size_t		size = 1 << 16;
	void	   *r = region_new(size);
	LsmMemTable *mt = lsm_memtable_init(r, size);
	LsmSeq		seq = 1;
	LsmStatus	st;
	int			refused = 0;

	CHECK(mt != NULL);
	CHECK(add_entry(mt, lsm_slice_str("m"), seq++, LSM_KIND_PUT));
	for (int i = 0; i < 30; i++)
	{
		bool		due = false;
		bool		ok = lsm_memtable_add_op(mt, seq, LSM_KIND_MERGE, lsm_slice_str("m"),
											 lsm_slice_str("+1"), 3, &due);

		/* the run since the last value: 1, 2, then the 3rd is refused */
		CHECK(ok == ((i % 3) != 2));
		CHECK(due == !ok);
		if (!ok)
		{
			refused++;
			CHECK(add_entry(mt, lsm_slice_str("m"), seq, LSM_KIND_PUT));
		}
		seq++;
	}
	CHECK(refused == 10);
	CHECK(lsm_memtable_count(mt) == 31);
	CHECK_OK(lsm_memtable_verify(mt, &st), &st);
	free(r);
}

/*
 * Many versions of a few keys, many of one key: level 1 must stay dense
 * enough that no more than FAST_MAX (4) short nodes lie between two of its
 * nodes, whatever the heights drawn.
 */
static void
test_short_insert_runs(void)
{
	size_t		size = 8u << 20;
	void	   *r = region_new(size);
	LsmMemTable *mt = lsm_memtable_init(r, size);
	LsmMemIter	it;
	LsmSeq		seq = 0;
	int			longest = 0;
	int			cur = 0;

	CHECK(mt != NULL);
	for (int i = 0; i < 60000; i++)
	{
		char		user[16];

		snprintf(user, sizeof(user), "k%04d", i < 20000 ? i % 500 : 7);
		CHECK(add_entry(mt, lsm_slice_str(user), ++seq, LSM_KIND_PUT));
	}
	/* a run: nodes of height 1 in a row at level 0 that are of one key */
	lsm_memtable_iter_init(&it, mt);
	{
		LsmBuf		prev = LSM_BUF_INIT;

		for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
		{
			LsmSlice	uk = lsm_ikey_user_key(lsm_iter_key(&it.base));
			bool		same = prev.len == uk.len && memcmp(prev.data, uk.data, uk.len) == 0;
			uint32_t	h = ((const uint32_t *) ((const uint8_t *) mt + it.node))[0] & 0x0f;

			if (h == 1 && same)
				cur++;
			else
				cur = h == 1 ? 1 : 0;
			if (cur > longest)
				longest = cur;
			lsm_buf_set(&prev, uk.data, uk.len);
		}
		lsm_buf_free(&prev);
	}
	/* the key's first node may be 1 high too: FAST_MAX + 1 at most */
	CHECK(longest <= 5);
	free(r);
}

/* ---------- one writer, two lock-free readers ---------- */

enum
{
	CONC_N = 200000
};

typedef struct ConcShared
{
	LsmMemTable *mt;
	int			done;			/* writer finished; atomic */
	uint64_t	done_seq;		/* entries up to this seq are added; atomic */
	uint64_t	seed;
} ConcShared;

typedef struct ReaderResult
{
	ConcShared *sh;
	int			id;
	long		scans;
	long		entries_seen;
	long		prevs;
	long		gets;
	int			errors;
	char		what[160];
} ReaderResult;

static void *
conc_writer(void *arg)
{
	ConcShared *sh = arg;
	TestRng		rng = {sh->seed};
	int			i;

	for (i = 0; i < CONC_N; i++)
	{
		char		user[16];
		int			len = snprintf(user, sizeof(user), "%08x",
								   (unsigned) test_rng_below(&rng, CONC_N / 4));

		if (!add_entry(sh->mt, lsm_slice(user, len), (LsmSeq) i + 1, LSM_KIND_PUT))
		{
			fprintf(stderr, "  writer: region full at %d\n", i);
			break;
		}
		/* what a reader may take as its snapshot, as last_seq in the engine */
		__atomic_store_n(&sh->done_seq, (uint64_t) i + 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
reader_fail(ReaderResult *rr, const char *what)
{
	if (rr->errors++ == 0)
		snprintf(rr->what, sizeof(rr->what), "%s", what);
}

/*
 * Scan everything once; check order and well-formedness.  Returns the
 * number of entries seen.
 */
static long
reader_scan(ReaderResult *rr, LsmMemIter *it, LsmBuf *prev)
{
	long		n = 0;

	lsm_buf_reset(prev);
	for (lsm_iter_seek_first(&it->base); lsm_iter_valid(&it->base); lsm_iter_next(&it->base))
	{
		LsmSlice	k = lsm_iter_key(&it->base);

		if (!entry_ok(k, lsm_iter_value(&it->base)))
			reader_fail(rr, "malformed entry");
		if (n > 0 && lsm_ikey_cmp(lsm_buf_slice(prev), k) >= 0)
			reader_fail(rr, "keys not strictly increasing");
		lsm_buf_set(prev, k.data, k.len);
		n++;
	}
	return n;
}

static void *
conc_reader(void *arg)
{
	ReaderResult *rr = arg;
	TestRng		rng = {rr->sh->seed ^ (uint64_t) (rr->id + 1) * 0x1234567};
	LsmMemIter	it;
	LsmBuf		prev = LSM_BUF_INIT;
	LsmBuf		target = LSM_BUF_INIT;
	LsmBuf		get_target = LSM_BUF_INIT;
	long		last_n = 0;

	lsm_memtable_iter_init(&it, rr->sh->mt);
	for (;;)
	{
		bool		done = __atomic_load_n(&rr->sh->done, __ATOMIC_ACQUIRE);
		long		n = reader_scan(rr, &it, &prev);

		/* entries are only ever added */
		if (n < last_n)
			reader_fail(rr, "a scan saw fewer entries than the one before");
		last_n = n;
		rr->scans++;
		rr->entries_seen += n;

		/* a few seeks with backward steps through the moving list */
		for (int s = 0; s < 50; s++)
		{
			char		user[16];
			int			len = snprintf(user, sizeof(user), "%08x",
									   (unsigned) test_rng_below(&rng, CONC_N / 4));

			lsm_iter_seek(&it.base, ikey(&target, lsm_slice(user, len), LSM_MAX_SEQ,
										 LSM_KIND_FOR_SEEK));
			if (lsm_iter_valid(&it.base) &&
				lsm_ikey_cmp(lsm_iter_key(&it.base), lsm_buf_slice(&target)) < 0)
				reader_fail(rr, "seek landed before its target");
			/*
			 * A point get at a snapshot of what is fully added: the hash
			 * must land where the skiplist search does.
			 */
			{
				LsmMemIter	g;
				LsmSeq		snap = __atomic_load_n(&rr->sh->done_seq, __ATOMIC_ACQUIRE);
				LsmParsedKey found;
				LsmSlice	t = ikey(&get_target, lsm_slice(user, len), snap,
									 LSM_KIND_FOR_SEEK);
				bool		had;

				lsm_iter_seek(&it.base, t);
				had = lsm_iter_valid(&it.base) &&
					lsm_ikey_parse(lsm_iter_key(&it.base), &found) &&
					lsm_slice_eq(found.user_key, lsm_slice(user, len));
				lsm_memtable_iter_init(&g, rr->sh->mt);
				lsm_memtable_iter_seek_key(&g, t);
				if (had != lsm_iter_valid(&g.base))
					reader_fail(rr, had ? "a get's seek missed a key the skiplist has"
								: "a get's seek found a key the skiplist has not");
				else if (had && !lsm_slice_eq(lsm_iter_key(&g.base), lsm_iter_key(&it.base)))
					reader_fail(rr, "a get's seek found another version than the skiplist");
				rr->gets++;
			}
			for (int p = 0; p < 5 && lsm_iter_valid(&it.base); p++)
			{
				LsmSlice	k = lsm_iter_key(&it.base);

				lsm_buf_set(&prev, k.data, k.len);
				lsm_iter_prev(&it.base);
				rr->prevs++;
				if (lsm_iter_valid(&it.base))
				{
					if (!entry_ok(lsm_iter_key(&it.base), lsm_iter_value(&it.base)))
						reader_fail(rr, "malformed entry after prev");
					if (lsm_ikey_cmp(lsm_iter_key(&it.base), lsm_buf_slice(&prev)) >= 0)
						reader_fail(rr, "prev did not move backwards");
				}
			}
		}
		if (done)
		{
			if (last_n != (long) lsm_memtable_count(rr->sh->mt))
				reader_fail(rr, "final scan missed entries");
			break;
		}
	}
	lsm_buf_free(&prev);
	lsm_buf_free(&target);
	lsm_buf_free(&get_target);
	return NULL;
}

static void
test_concurrent_readers(void)
{
	size_t		size = 64u << 20;
	void	   *r = region_new(size);
	ConcShared	sh;
	ReaderResult rr[2];
	pthread_t	w;
	pthread_t	rd[2];
	LsmStatus	st;
	int			i;

	sh.mt = lsm_memtable_init(r, size);
	sh.done = 0;
	sh.done_seq = 0;
	sh.seed = seed ^ 0xabc;
	CHECK(sh.mt != NULL);
	memset(rr, 0, sizeof(rr));
	for (i = 0; i < 2; i++)
	{
		rr[i].sh = &sh;
		rr[i].id = i;
		CHECK(pthread_create(&rd[i], NULL, conc_reader, &rr[i]) == 0);
	}
	CHECK(pthread_create(&w, NULL, conc_writer, &sh) == 0);
	pthread_join(w, NULL);
	for (i = 0; i < 2; i++)
		pthread_join(rd[i], NULL);

	CHECK(lsm_memtable_count(sh.mt) == CONC_N);
	CHECK_OK(lsm_memtable_verify(sh.mt, &st), &st);
	for (i = 0; i < 2; i++)
	{
		printf("  reader %d: %ld scans, %ld entries, %ld prevs, %ld gets, %d errors%s%s\n",
			   i, rr[i].scans, rr[i].entries_seen, rr[i].prevs, rr[i].gets, rr[i].errors,
			   rr[i].errors ? ": " : "", rr[i].what);
		CHECK(rr[i].errors == 0);
		CHECK(rr[i].scans >= 1);
	}
	free(r);
}

/* ---------- optional throughput measurement ---------- */

/*
 * The session store's shape: values of 1 KiB, keys "user:" and 8 digits,
 * random order, a 32 MiB region (lsm_fdw's default memtable_size) filled
 * ten times over; what each insert's search costs when nodes lie far apart.
 */
static void
bench_big_values(void)
{
	size_t		size = 32u << 20;
	void	   *r = region_new(size);
	uint8_t		value[1024];
	TestRng		rng = {7};
	double		t0;
	double		t1;
	long		n = 0;
	LsmSeq		seq = 1;
	double		t_add = 0;

	memset(value, 'v', sizeof(value));
	for (int pass = 0; pass < 2; pass++)
	{
	/* pass 1 runs 512 KiB of other work between inserts, as a backend does */
	size_t		other_len = pass ? 512u << 10 : 0;
	uint8_t    *other = malloc(other_len + 1);
	n = 0;
	t0 = now_sec();
	for (int round = 0; round < 10; round++)
	{
		LsmMemTable *mt = lsm_memtable_init(r, size);

		for (;;)
		{
			char		key[16];
			int			len = snprintf(key, sizeof(key), "user:%08u",
									   (unsigned) (test_rng_next(&rng) % 1000000));

			double		a;

			for (size_t o = 0; o < other_len; o += 64)
				other[o]++;
			a = now_sec();
			if (!lsm_memtable_add(mt, seq++, LSM_KIND_PUT,
								  lsm_slice(key, (size_t) len),
								  lsm_slice(value, sizeof(value))))
				break;
			t_add += now_sec() - a;
			n++;
		}
	}
	t1 = now_sec();
	printf("  insert: %ld x 1 KiB values into 32 MiB regions, %zu KiB touched between: %.0f ns each (%.2f s in all)\n",
		   n, other_len >> 10, t_add * 1e9 / n, t1 - t0);
	free(other);
	t_add = 0;
	}
	free(r);
}


static void
bench_memtable(void)
{
	enum
	{
		N = 1000000
	};
	size_t		size = 256u << 20;
	void	   *r = region_new(size);
	LsmMemTable *mt = lsm_memtable_init(r, size);
	uint8_t    *keys = malloc((size_t) N * 16);
	TestRng		rng = {42};
	LsmMemIter	it;
	LsmBuf		b = LSM_BUF_INIT;
	double		t0;
	double		t1;
	long		found = 0;
	int			i;

	CHECK(mt != NULL && keys != NULL);
	for (i = 0; i < N * 2; i++)
	{
		uint64_t	x = test_rng_next(&rng);

		memcpy(keys + (size_t) i * 8, &x, 8);
	}
	t0 = now_sec();
	for (i = 0; i < N; i++)
		CHECK(lsm_memtable_add(mt, (LsmSeq) i + 1, LSM_KIND_PUT,
							   lsm_slice(keys + (size_t) i * 16, 16),
							   lsm_slice(keys + (size_t) i * 16, 16)));
	t1 = now_sec();
	printf("  insert: %d x 16-byte keys + 16-byte values in %.3f s = %.0f k/s (%.2f MB region used)\n",
		   N, t1 - t0, N / (t1 - t0) / 1e3, lsm_memtable_bytes_used(mt) / 1048576.0);

	lsm_memtable_iter_init(&it, mt);
	t0 = now_sec();
	for (i = 0; i < N; i++)
	{
		size_t		k = (size_t) ((i * 7919L) % N);
		LsmSlice	user = lsm_slice(keys + k * 16, 16);

		lsm_iter_seek(&it.base, ikey(&b, user, LSM_MAX_SEQ, LSM_KIND_FOR_SEEK));
		if (lsm_iter_valid(&it.base) &&
			lsm_slice_eq(lsm_ikey_user_key(lsm_iter_key(&it.base)), user))
			found++;
	}
	t1 = now_sec();
	printf("  lookup: %d random seeks in %.3f s = %.0f k/s (%ld found)\n",
		   N, t1 - t0, N / (t1 - t0) / 1e3, found);
	CHECK(found == N);

	found = 0;
	t0 = now_sec();
	for (i = 0; i < N; i++)
	{
		size_t		k = (size_t) ((i * 7919L) % N);
		LsmSlice	user = lsm_slice(keys + k * 16, 16);

		lsm_memtable_iter_seek_key(&it, ikey(&b, user, LSM_MAX_SEQ, LSM_KIND_FOR_SEEK));
		if (lsm_iter_valid(&it.base))
			found++;
	}
	t1 = now_sec();
	printf("  get:    %d random point gets (key hash) in %.3f s = %.0f k/s (%ld found)\n",
		   N, t1 - t0, N / (t1 - t0) / 1e3, found);
	CHECK(found == N);

	t0 = now_sec();
	i = 0;
	for (lsm_iter_seek_first(&it.base); lsm_iter_valid(&it.base); lsm_iter_next(&it.base))
		i++;
	t1 = now_sec();
	printf("  scan: %d entries in %.3f s\n", i, t1 - t0);

	/* counters: 1M versions of 100k keys, in a memtable of its own */
	{
		void	   *r2 = region_new(size);
		LsmMemTable *mt2 = lsm_memtable_init(r2, size);
		LsmStatus	st;

		CHECK(mt2 != NULL);
		t0 = now_sec();
		for (i = 0; i < N; i++)
		{
			size_t		k = (size_t) ((i * 7919L) % (N / 10));

			CHECK(lsm_memtable_add(mt2, (LsmSeq) i + 1, LSM_KIND_PUT,
								   lsm_slice(keys + k * 16, 16),
								   lsm_slice(keys + k * 16, 8)));
		}
		t1 = now_sec();
		printf("  insert: %d versions of %d keys in %.3f s = %.0f k/s\n",
			   N, N / 10, t1 - t0, N / (t1 - t0) / 1e3);
		CHECK_OK(lsm_memtable_verify(mt2, &st), &st);
		free(r2);
	}
	lsm_buf_free(&b);
	free(keys);
	free(r);
	bench_big_values();
}

int
main(void)
{
	seed = test_seed("memtable");
	RUN(test_init_and_empty);
	RUN(test_versions_order);
	RUN(test_seek_snapshot);
	RUN(test_prev_next_last);
	RUN(test_full_region);
	RUN(test_attach_copy);
	RUN(test_grow);
	RUN(test_values_apart);
	RUN(test_iter_new);
	RUN(test_random_model);
	RUN(test_get_many_versions);
	RUN(test_fold_short_inserts);
	RUN(test_short_insert_runs);
	RUN(test_concurrent_readers);
	if (getenv("LSM_BENCH") != NULL)
		RUN(bench_memtable);
	return test_finish();
}
