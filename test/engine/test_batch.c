/*
 * test_batch.c
 *		Write batches: building, the serialized format, and parsing of
 *		malformed input (which must never read out of bounds).
 */
#include <stdint.h>

#include "batch.h"
#include "lsm.h"
#include "lsm_coding.h"
#include "testutil.h"
#include "wal.h"

/* One entry as the tests expect to see it again. */
typedef struct ModelEntry
{
	LsmKind		kind;
	uint8_t    *key;
	size_t		key_len;
	uint8_t    *value;
	size_t		value_len;
} ModelEntry;

/* What the iterate callback compares against. */
typedef struct Walk
{
	const ModelEntry *model;
	uint32_t	n;
	uint32_t	seen;
	LsmSeq		first_seq;
	bool		mismatch;
	uint32_t	stop_after;		/* return LSM_BUSY after this many; 0 = never */
} Walk;

static LsmCode
walk_fn(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
		LsmStatus *st)
{
	Walk	   *w = arg;
	const ModelEntry *e;

	if (w->seen >= w->n)
	{
		w->mismatch = true;
		return lsm_status_set(st, LSM_CORRUPTION, 0, "too many entries");
	}
	e = &w->model[w->seen];
	if (seq != w->first_seq + w->seen || kind != e->kind ||
		!lsm_slice_eq(key, lsm_slice(e->key, e->key_len)) ||
		!lsm_slice_eq(value, lsm_slice(e->value, e->value_len)))
		w->mismatch = true;
	w->seen++;
	if (w->stop_after != 0 && w->seen == w->stop_after)
		return lsm_status_set(st, LSM_BUSY, 0, "stop requested");
	return LSM_OK;
}

/* Counts entries of any batch, checking only what every entry must satisfy. */
static LsmCode
count_fn(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
		 LsmStatus *st)
{
	uint32_t   *n = arg;

	if (kind > LSM_KIND_MERGE || (kind == LSM_KIND_DELETE && value.len != 0))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0, "bad entry");
	(*n)++;
	return LSM_OK;
}

/* Fill model with n random entries and add them to b; 1 on success. */
static int
build_random(TestRng *rng, LsmBatch *b, ModelEntry *model, uint32_t n,
			 size_t max_len)
{
	LsmStatus	st;
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		ModelEntry *e = &model[i];
		LsmCode		rc;

		e->kind = (LsmKind) test_rng_below(rng, 3);
		e->key_len = test_rng_below(rng, 4) == 0 ? 0 : test_rng_below(rng, max_len + 1);
		e->value_len = (e->kind == LSM_KIND_DELETE || test_rng_below(rng, 4) == 0) ? 0 :
			test_rng_below(rng, max_len + 1);
		e->key = malloc(e->key_len + 1);
		e->value = malloc(e->value_len + 1);
		CHECK_RET(e->key != NULL && e->value != NULL, 0);
		fill_random(rng, e->key, e->key_len);
		fill_random(rng, e->value, e->value_len);
		if (e->kind == LSM_KIND_PUT)
			rc = lsm_batch_put(b, lsm_slice(e->key, e->key_len),
							   lsm_slice(e->value, e->value_len), &st);
		else if (e->kind == LSM_KIND_MERGE)
			rc = lsm_batch_merge(b, lsm_slice(e->key, e->key_len),
								 lsm_slice(e->value, e->value_len), &st);
		else
			rc = lsm_batch_delete(b, lsm_slice(e->key, e->key_len), &st);
		CHECK_RET(rc == LSM_OK, 0);
	}
	return 1;
}

static void
free_model(ModelEntry *model, uint32_t n)
{
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		free(model[i].key);
		free(model[i].value);
	}
}

/* Every kind, empty keys and values, and the exact bytes of the format. */
static void
test_batch_format(void)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmSlice	c;
	static const uint8_t expect[] = {
		0x2a, 0, 0, 0, 0, 0, 0, 0,	/* first_seq 42 */
		4, 0, 0, 0,				/* count */
		1, 1, 'a', 2, 'v', 'w',	/* put a = vw */
		0, 1, 'b',				/* delete b */
		2, 0, 1, 'x',			/* merge "" x */
		1, 0, 0					/* put "" = "" */
	};

	CHECK(b != NULL);
	CHECK(lsm_batch_count(b) == 0);
	CHECK(lsm_batch_bytes(b) == LSM_BATCH_HEADER);
	CHECK_OK(lsm_batch_validate(lsm_batch_contents(b), &st), &st);

	CHECK_OK(lsm_batch_put(b, lsm_slice_str("a"), lsm_slice_str("vw"), &st), &st);
	CHECK_OK(lsm_batch_delete(b, lsm_slice_str("b"), &st), &st);
	CHECK_OK(lsm_batch_merge(b, lsm_slice(NULL, 0), lsm_slice_str("x"), &st), &st);
	CHECK_OK(lsm_batch_put(b, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_batch_set_seq(b, 42);

	c = lsm_batch_contents(b);
	CHECK(c.len == sizeof(expect));
	CHECK(memcmp(c.data, expect, sizeof(expect)) == 0);
	CHECK(lsm_batch_count(b) == 4);
	CHECK(lsm_batch_bytes(b) == sizeof(expect));
	CHECK(lsm_batch_seq(b) == 42);
	CHECK(lsm_batch_contents_count(c) == 4);
	CHECK(lsm_batch_contents_seq(c) == 42);
	CHECK_OK(lsm_batch_validate(c, &st), &st);

	lsm_batch_clear(b);
	CHECK(lsm_batch_count(b) == 0);
	CHECK(lsm_batch_seq(b) == 0);
	CHECK(lsm_batch_bytes(b) == LSM_BATCH_HEADER);
	CHECK_OK(lsm_batch_put(b, lsm_slice_str("k"), lsm_slice_str("v"), &st), &st);
	CHECK(lsm_batch_count(b) == 1);
	CHECK(lsm_batch_contents_count(lsm_batch_contents(b)) == 1);
	lsm_batch_destroy(b);
	lsm_batch_destroy(NULL);
}

/* Random batches survive serialization and come back in order. */
static void
test_batch_round_trip(void)
{
	TestRng		rng = {test_seed("batch round trip")};
	int			round;

	for (round = 0; round < 200; round++)
	{
		uint32_t	n = (uint32_t) test_rng_below(&rng, 60);
		ModelEntry *model = calloc(n + 1, sizeof(ModelEntry));
		LsmBatch   *b = lsm_batch_create();
		LsmSeq		seq = test_rng_below(&rng, 2) ? test_rng_below(&rng, 1000000) :
			LSM_MAX_SEQ - (n ? n - 1 : 0);
		Walk		w = {model, n, 0, seq, false, 0};
		LsmStatus	st;
		LsmSlice	c;
		int			ok;

		CHECK(model != NULL && b != NULL);
		ok = build_random(&rng, b, model, n, round % 10 == 0 ? 3000 : 20);
		CHECK(ok);
		lsm_batch_set_seq(b, seq);
		c = lsm_batch_contents(b);
		CHECK(lsm_batch_count(b) == n);
		CHECK(lsm_batch_bytes(b) == c.len);
		CHECK(lsm_batch_contents_count(c) == n);
		CHECK(lsm_batch_contents_seq(c) == seq);
		CHECK_OK(lsm_batch_validate(c, &st), &st);
		CHECK_OK(lsm_batch_iterate(c, walk_fn, &w, &st), &st);
		CHECK(w.seen == n && !w.mismatch);

		/* a callback error stops the walk and is returned */
		if (n >= 2)
		{
			Walk		w2 = {model, n, 0, seq, false, 2};

			CHECK(lsm_batch_iterate(c, walk_fn, &w2, &st) == LSM_BUSY);
			CHECK(w2.seen == 2 && !w2.mismatch);
		}
		free_model(model, n);
		free(model);
		lsm_batch_destroy(b);
	}
}

/* Oversized keys, values and batches are refused and change nothing. */
static void
test_batch_limits(void)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	static const uint8_t dummy[1];
	LsmSlice	huge = lsm_slice(dummy, (size_t) INT32_MAX + 1);
	LsmSlice	record = lsm_slice(dummy, LSM_LOG_MAX_RECORD);
	size_t		before;

	CHECK(b != NULL);
	CHECK_OK(lsm_batch_put(b, lsm_slice_str("k"), lsm_slice_str("v"), &st), &st);
	before = lsm_batch_bytes(b);

	/* the sizes are checked before any byte is read: dummy is never touched */
	CHECK(lsm_batch_put(b, huge, lsm_slice_str("v"), &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, "key") != NULL);
	CHECK(lsm_batch_put(b, lsm_slice_str("k"), huge, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_batch_merge(b, lsm_slice_str("k"), huge, &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, "merge operand") != NULL);
	CHECK(lsm_batch_delete(b, huge, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_batch_put(b, lsm_slice_str("k"), record, &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, "write batch") != NULL);
	CHECK(lsm_batch_delete(b, record, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_batch_put(b, lsm_slice(dummy, LSM_LOG_MAX_RECORD - before - 3),
						lsm_slice(NULL, 0), &st) == LSM_INVALID_ARGUMENT);

	CHECK(lsm_batch_count(b) == 1);
	CHECK(lsm_batch_bytes(b) == before);
	CHECK_OK(lsm_batch_validate(lsm_batch_contents(b), &st), &st);
	lsm_batch_destroy(b);
}

/* Validate a hand-made byte string. */
static LsmCode
check_bytes(const uint8_t *bytes, size_t len, LsmStatus *st)
{
	/* an exact-size heap copy, so ASan sees any read past the end */
	uint8_t    *copy = malloc(len ? len : 1);
	uint32_t	n = 0;
	LsmCode		rc;
	LsmCode		rc2;

	memcpy(copy, bytes, len);
	rc = lsm_batch_validate(lsm_slice(copy, len), st);
	rc2 = lsm_batch_iterate(lsm_slice(copy, len), count_fn, &n, st);
	free(copy);
	if (rc != rc2)
		return LSM_INVALID_ARGUMENT;	/* the two must agree */
	return rc;
}

#define HDR(seq, count) \
	(uint8_t) (seq), 0, 0, 0, 0, 0, 0, 0, (uint8_t) (count), 0, 0, 0

/* Each kind of malformation, one at a time. */
static void
test_batch_malformed(void)
{
	LsmStatus	st;
	static const uint8_t ok[] = {HDR(1, 2), 1, 1, 'k', 1, 'v', 0, 1, 'd'};
	static const uint8_t short_hdr[] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
	static const uint8_t too_few[] = {HDR(1, 3), 1, 1, 'k', 1, 'v', 0, 1, 'd'};
	static const uint8_t trailing[] = {HDR(1, 2), 1, 1, 'k', 1, 'v', 0, 1, 'd', 0};
	static const uint8_t bad_kind[] = {HDR(1, 1), 3, 1, 'k', 1, 'v'};
	static const uint8_t no_keylen[] = {HDR(1, 1), 1};
	static const uint8_t cut_varint[] = {HDR(1, 1), 1, 0x80};
	static const uint8_t overlong[] = {HDR(1, 1), 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	static const uint8_t key_past[] = {HDR(1, 1), 0, 5, 'a', 'b'};
	static const uint8_t no_vallen[] = {HDR(1, 1), 1, 1, 'k'};
	static const uint8_t val_past[] = {HDR(1, 1), 2, 1, 'k', 9, 'v'};
	static const uint8_t key_huge[] = {HDR(1, 1), 0, 0xff, 0xff, 0xff, 0xff, 0x0f};
	static const uint8_t val_2g[] = {HDR(1, 1), 1, 0, 0x80, 0x80, 0x80, 0x80, 0x08};
	static const uint8_t seq_over[] = {0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0,
	0, 0, 0, 0};
	static const uint8_t seq_edge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
	1, 0, 0, 0, 0, 0};
	static const uint8_t empty_seq_max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0, 0, 0, 0};

	CHECK_OK(check_bytes(ok, sizeof(ok), &st), &st);
	CHECK(check_bytes(short_hdr, sizeof(short_hdr), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(ok, 0, &st) == LSM_CORRUPTION);
	CHECK(check_bytes(too_few, sizeof(too_few), &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "counts 3") != NULL);
	CHECK(check_bytes(trailing, sizeof(trailing), &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "trailing") != NULL);
	CHECK(check_bytes(bad_kind, sizeof(bad_kind), &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "kind 3") != NULL);
	CHECK(check_bytes(no_keylen, sizeof(no_keylen), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(cut_varint, sizeof(cut_varint), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(overlong, sizeof(overlong), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(key_past, sizeof(key_past), &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "offset 14") != NULL);
	CHECK(check_bytes(no_vallen, sizeof(no_vallen), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(val_past, sizeof(val_past), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(key_huge, sizeof(key_huge), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(val_2g, sizeof(val_2g), &st) == LSM_CORRUPTION);
	CHECK(check_bytes(seq_over, sizeof(seq_over), &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "56 bits") != NULL);
	/* the last representable sequence number is fine, and so is any empty batch */
	CHECK_OK(check_bytes(seq_edge, sizeof(seq_edge), &st), &st);
	CHECK_OK(check_bytes(empty_seq_max, sizeof(empty_seq_max), &st), &st);
}

/* Entries before a malformed one are delivered by iterate; validate touches nothing. */
static void
test_batch_partial_iterate(void)
{
	static const uint8_t bytes[] = {HDR(5, 3), 1, 1, 'a', 1, 'x', 0, 1, 'b', 7, 0};
	uint32_t	n = 0;
	LsmStatus	st;

	CHECK(lsm_batch_iterate(lsm_slice(bytes, sizeof(bytes)), count_fn, &n, &st) ==
		  LSM_CORRUPTION);
	CHECK(n == 2);
	CHECK(strstr(st.msg, "entry 2") != NULL);
}

/*
 * Truncations, byte flips and random garbage never crash and either parse
 * completely or report corruption.
 */
static void
test_batch_fuzz(void)
{
	TestRng		rng = {test_seed("batch fuzz")};
	int			round;
	int			corrupt = 0;
	int			valid = 0;

	for (round = 0; round < 300; round++)
	{
		uint32_t	n = 1 + (uint32_t) test_rng_below(&rng, 20);
		ModelEntry *model = calloc(n, sizeof(ModelEntry));
		LsmBatch   *b = lsm_batch_create();
		LsmSlice	c;
		LsmStatus	st;
		int			i;

		CHECK(model != NULL && b != NULL);
		CHECK(build_random(&rng, b, model, n, 40));
		lsm_batch_set_seq(b, test_rng_below(&rng, 1000));
		c = lsm_batch_contents(b);

		/* every strict prefix is corrupt */
		for (i = 0; i < 20; i++)
		{
			size_t		cut = test_rng_below(&rng, c.len);

			CHECK(check_bytes(c.data, cut, &st) == LSM_CORRUPTION);
		}
		/* flips: corrupt or a complete, consistent parse */
		for (i = 0; i < 50; i++)
		{
			uint8_t    *copy = malloc(c.len);
			int			flips = 1 + (int) test_rng_below(&rng, 3);
			int			k;
			LsmCode		rc;

			memcpy(copy, c.data, c.len);
			for (k = 0; k < flips; k++)
				copy[test_rng_below(&rng, c.len)] ^= (uint8_t) (1 + test_rng_below(&rng, 255));
			rc = check_bytes(copy, c.len, &st);
			CHECK(rc == LSM_OK || rc == LSM_CORRUPTION);
			if (rc == LSM_OK)
			{
				uint32_t	cnt = 0;

				CHECK_OK(lsm_batch_iterate(lsm_slice(copy, c.len), count_fn, &cnt, &st), &st);
				CHECK(cnt == lsm_batch_contents_count(lsm_slice(copy, c.len)));
				valid++;
			}
			else
				corrupt++;
			free(copy);
		}
		free_model(model, n);
		free(model);
		lsm_batch_destroy(b);
	}

	/* pure garbage, with plausible headers */
	for (round = 0; round < 20000; round++)
	{
		size_t		len = test_rng_below(&rng, 64);
		uint8_t		buf[64];
		LsmStatus	st;
		LsmCode		rc;

		fill_random(&rng, buf, len);
		if (len >= LSM_BATCH_HEADER)
		{
			buf[7] = 0;			/* keep the sequence in range mostly */
			buf[9] = buf[10] = buf[11] = 0;
			buf[8] %= 6;
		}
		if (len > LSM_BATCH_HEADER && test_rng_below(&rng, 2))
			buf[LSM_BATCH_HEADER] %= 3;
		rc = check_bytes(buf, len, &st);
		CHECK(rc == LSM_OK || rc == LSM_CORRUPTION);
		if (rc == LSM_OK)
			valid++;
	}
	printf("  fuzz: %d corrupt, %d valid parses\n", corrupt, valid);
}

/*
 * Caller-memory encoding: entries written with lsm_batch_encode_entry
 * behind lsm_batch_encode_header are byte for byte what LsmBatch builds,
 * and lsm_batch_iterate_entries reads the header-less entries back.
 */
static void
test_batch_encode_external(void)
{
	TestRng		rng = {test_seed("batch encode external")};
	LsmBatch   *b = lsm_batch_create();
	ModelEntry	model[300];
	uint8_t    *buf;
	uint8_t    *p;
	size_t		size = LSM_BATCH_HEADER;
	LsmSlice	c;
	LsmStatus	st;
	Walk		w;
	uint32_t	i;

	CHECK(b != NULL);
	CHECK(build_random(&rng, b, model, 300, 40));
	for (i = 0; i < 300; i++)
		size += lsm_batch_entry_size(model[i].kind,
									 lsm_slice(model[i].key, model[i].key_len),
									 lsm_slice(model[i].value, model[i].value_len));
	lsm_batch_set_seq(b, 77);
	c = lsm_batch_contents(b);
	CHECK(size == c.len);
	buf = malloc(size);
	CHECK(buf != NULL);
	lsm_batch_encode_header(buf, 77, 300);
	p = buf + LSM_BATCH_HEADER;
	for (i = 0; i < 300; i++)
		p = lsm_batch_encode_entry(p, model[i].kind,
								   lsm_slice(model[i].key, model[i].key_len),
								   lsm_slice(model[i].value, model[i].value_len));
	CHECK(p == buf + size);
	CHECK(memcmp(buf, c.data, size) == 0);

	memset(&w, 0, sizeof(w));
	w.model = model;
	w.n = 300;
	w.first_seq = 1000;
	CHECK_OK(lsm_batch_iterate_entries(lsm_slice(buf + LSM_BATCH_HEADER,
												 size - LSM_BATCH_HEADER),
									   1000, walk_fn, &w, &st), &st);
	CHECK(w.seen == 300 && !w.mismatch);
	/* a cut entry is corruption, as in a whole batch */
	CHECK(lsm_batch_iterate_entries(lsm_slice(buf + LSM_BATCH_HEADER,
											  size - LSM_BATCH_HEADER - 1),
									1000, NULL, NULL, &st) == LSM_CORRUPTION);

	lsm_batch_contents_set_seq(buf, 5);
	CHECK(lsm_batch_contents_seq(lsm_slice(buf, size)) == 5);
	CHECK(lsm_batch_contents_count(lsm_slice(buf, size)) == 300);
	free(buf);
	free_model(model, 300);
	lsm_batch_destroy(b);
}

/* What the split callback checks and counts. */
typedef struct SplitCheck
{
	Walk		walk;			/* every entry, in order, with its number */
	size_t		chunk_bytes;
	uint32_t	chunks;
	uint32_t	short_chunks;	/* chunks whose entries stay below chunk_bytes */
	bool		bad;
	uint32_t	fail_at;		/* fail this chunk (1-based); 0 = never */
} SplitCheck;

static LsmCode
split_fn(void *arg, LsmSlice chunk, LsmSeq first_seq, uint32_t count,
		 LsmStatus *st)
{
	SplitCheck *sc = arg;
	uint32_t	seen_before = sc->walk.seen;
	LsmCode		rc;

	sc->chunks++;
	if (sc->fail_at == sc->chunks)
		return lsm_status_set(st, LSM_BUSY, 0, "stop requested");
	/* a chunk is a complete batch of its own, numbered where it belongs */
	if (lsm_batch_contents_seq(chunk) != first_seq ||
		lsm_batch_contents_count(chunk) != count ||
		first_seq != sc->walk.first_seq + seen_before || count == 0)
		sc->bad = true;
	rc = lsm_batch_iterate(chunk, walk_fn, &sc->walk, st);
	if (rc != LSM_OK)
		sc->bad = true;
	if (chunk.len - LSM_BATCH_HEADER < sc->chunk_bytes)
		sc->short_chunks++;

	/*
	 * The cut rule replay depends on: no chunk is longer than it must be,
	 * i.e. without its last entry it is below chunk_bytes.
	 */
	if (count > 0 && sc->walk.seen == seen_before + count)
	{
		const ModelEntry *last = &sc->walk.model[sc->walk.seen - 1];
		size_t		last_len = lsm_batch_entry_size(last->kind,
													lsm_slice(last->key, last->key_len),
													lsm_slice(last->value, last->value_len));

		if (count > 1 &&
			chunk.len - LSM_BATCH_HEADER - last_len >= sc->chunk_bytes)
			sc->bad = true;
	}
	return LSM_OK;
}

/*
 * lsm_batch_split: the chunks carry every entry once, in order, with the
 * numbers the whole batch would give them; every chunk but the last
 * reaches chunk_bytes; the batch's bytes are as before afterwards; a
 * callback error stops the walk; a count that does not match is
 * corruption.
 */
static void
test_batch_split(void)
{
	static const size_t sizes[] = {1, 7, 64, 1000, 100000};
	TestRng		rng = {test_seed("batch split")};
	LsmBatch   *b = lsm_batch_create();
	ModelEntry	model[500];
	LsmStatus	st;
	uint8_t    *copy;
	LsmSlice	c;

	CHECK(b != NULL);
	CHECK(build_random(&rng, b, model, 500, 60));
	lsm_batch_set_seq(b, 3);
	c = lsm_batch_contents(b);
	copy = malloc(c.len);
	CHECK(copy != NULL);
	memcpy(copy, c.data, c.len);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
	{
		SplitCheck	sc;

		memset(&sc, 0, sizeof(sc));
		sc.walk.model = model;
		sc.walk.n = 500;
		sc.walk.first_seq = 9000;	/* not the header's 3 */
		sc.chunk_bytes = sizes[i];
		CHECK_OK(lsm_batch_split(copy, c.len, 9000, sizes[i], split_fn, &sc, &st), &st);
		CHECK(!sc.bad && !sc.walk.mismatch && sc.walk.seen == 500);
		CHECK(sc.short_chunks <= 1);
		if (sizes[i] == 1)
			CHECK(sc.chunks == 500);
		if (sizes[i] == 100000)
			CHECK(sc.chunks == 1);
		CHECK(memcmp(copy, c.data, c.len) == 0);
	}

	/* the callback's error stops the walk and the bytes are put back */
	{
		SplitCheck	sc;

		memset(&sc, 0, sizeof(sc));
		sc.walk.model = model;
		sc.walk.n = 500;
		sc.walk.first_seq = 1;
		sc.chunk_bytes = 64;
		sc.fail_at = 3;
		CHECK(lsm_batch_split(copy, c.len, 1, 64, split_fn, &sc, &st) == LSM_BUSY);
		CHECK(sc.chunks == 3);
		CHECK(memcmp(copy, c.data, c.len) == 0);
	}

	/* counts that do not match the entries */
	{
		SplitCheck	sc;

		memset(&sc, 0, sizeof(sc));
		sc.walk.model = model;
		sc.walk.n = 500;
		sc.walk.first_seq = 1;
		sc.chunk_bytes = 1000;
		lsm_batch_encode_header(copy, 0, 501);
		CHECK(lsm_batch_split(copy, c.len, 1, 1000, split_fn, &sc, &st) == LSM_CORRUPTION);
		CHECK(strstr(st.msg, "counts 501") != NULL);
		lsm_batch_encode_header(copy, 0, 499);
		memset(&sc, 0, sizeof(sc));
		sc.walk.model = model;
		sc.walk.n = 500;
		sc.walk.first_seq = 1;
		sc.chunk_bytes = 1;
		CHECK(lsm_batch_split(copy, c.len, 1, 1, split_fn, &sc, &st) == LSM_CORRUPTION);
		CHECK(strstr(st.msg, "trailing") != NULL);
		CHECK(sc.chunks == 499);
		/* numbers past 56 bits */
		lsm_batch_encode_header(copy, 0, 500);
		CHECK(lsm_batch_split(copy, c.len, LSM_MAX_SEQ, 1, split_fn, &sc, &st) == LSM_CORRUPTION);
	}
	free(copy);
	free_model(model, 500);
	lsm_batch_destroy(b);
}

static int
testkv_ikey_cmp(const void *a, const void *b)
{
	return lsm_ikey_cmp(((const TestKV *) a)->key, ((const TestKV *) b)->key);
}

/*
 * lsm_batch_sorted_iter against a model sorted with lsm_ikey_cmp: keys that
 * repeat (several ops of one key, newest first), share long prefixes, hold
 * zero bytes, are empty or are a prefix of another, so that both the
 * 16-byte prefix comparison and its fall-back to the whole key are walked.
 */
static void
test_batch_sorted_iter(void)
{
	enum {N = 3000};
	TestRng		rng = {test_seed("batch sorted iter")};
	uint8_t    *entries = malloc((size_t) N * 200);
	uint8_t    *p = entries;
	TestKV	   *model = calloc(N, sizeof(TestKV));
	LsmSlice   *probes = calloc(N, sizeof(LsmSlice));
	LsmStatus	st;
	LsmIter    *it;
	const LsmSeq first_seq = 41;

	CHECK(entries != NULL && model != NULL && probes != NULL);
	for (int i = 0; i < N; i++)
	{
		uint8_t		key[40];
		uint8_t		val[16];
		size_t		klen;
		size_t		vlen = test_rng_below(&rng, sizeof(val) + 1);
		LsmKind		kind = (LsmKind) test_rng_below(&rng, 3);
		LsmBuf		ik = LSM_BUF_INIT;

		/* 300 keys: a shared 0..30-byte prefix, a base-4 tail, 0..2 zero bytes */
		{
			uint64_t	k = test_rng_below(&rng, 300);
			size_t		shared = (k / 3 * 7) % 31;

			memset(key, 'p', shared);
			if (k % 5 == 0 && shared > 0)
				key[shared / 2] = 0;
			klen = shared;
			for (uint64_t t = k / 3; t > 0 && klen < sizeof(key); t /= 4)
				key[klen++] = (uint8_t) (t % 4);
			/* zero-padded twins: equal 16-byte prefixes, different keys */
			for (uint64_t z = 0; z < k % 3 && klen < sizeof(key); z++)
				key[klen++] = 0;
		}
		fill_random(&rng, val, vlen);
		if (kind == LSM_KIND_DELETE)
			vlen = 0;
		p = lsm_batch_encode_entry(p, kind, lsm_slice(key, klen), lsm_slice(val, vlen));
		CHECK(lsm_ikey_append(&ik, lsm_slice(key, klen), first_seq + i, kind));
		model[i].key = lsm_slice(ik.data, ik.len);
		model[i].value = lsm_slice(malloc(vlen + 1), vlen);
		memcpy((uint8_t *) model[i].value.data, val, vlen);
		/* probes: the user key at a seq between and above the ops */
		{
			LsmBuf		pb = LSM_BUF_INIT;

			CHECK(lsm_ikey_append(&pb, lsm_slice(key, klen),
								  i % 2 ? first_seq + N : first_seq + i, LSM_KIND_FOR_SEEK));
			probes[i] = lsm_slice(pb.data, pb.len);
		}
	}
	qsort(model, N, sizeof(TestKV), testkv_ikey_cmp);
	it = lsm_batch_sorted_iter(lsm_slice(entries, p - entries), first_seq, &st);
	CHECK(it != NULL);
	CHECK(test_iter_check(it, model, N, probes, N, lsm_ikey_cmp, test_seed("batch sorted walk")));
	lsm_iter_destroy(it);

	/* empty, and malformed input */
	it = lsm_batch_sorted_iter(lsm_slice(entries, 0), 1, &st);
	CHECK(it != NULL);
	lsm_iter_seek_first(it);
	CHECK(!lsm_iter_valid(it) && lsm_iter_status(it, NULL) == LSM_OK);
	lsm_iter_destroy(it);
	entries[0] = 7;
	CHECK(lsm_batch_sorted_iter(lsm_slice(entries, p - entries), 1, &st) == NULL);
	CHECK(st.code == LSM_CORRUPTION);

	for (int i = 0; i < N; i++)
	{
		free((void *) model[i].key.data);
		free((void *) model[i].value.data);
		free((void *) probes[i].data);
	}
	free(model);
	free(probes);
	free(entries);
}

int
main(void)
{
	RUN(test_batch_format);
	RUN(test_batch_round_trip);
	RUN(test_batch_limits);
	RUN(test_batch_malformed);
	RUN(test_batch_partial_iterate);
	RUN(test_batch_fuzz);
	RUN(test_batch_encode_external);
	RUN(test_batch_split);
	RUN(test_batch_sorted_iter);
	return test_finish();
}
