/*
 * test_sstable.c
 *		SSTables end to end: build, open, get, iterate and verify against a
 *		sorted model over many shapes (block sizes, restart intervals,
 *		compression, filter), large and empty values, values bigger than a
 *		limited shared heap gives (private buffers), raw storage of
 *		incompressible blocks, a 100k-entry table, builder misuse, and
 *		damaged files (flipped bytes, truncation, trailing garbage).
 */
#include <pthread.h>
#include <sys/stat.h>

#include "testutil.h"

#include "block_cache.h"
#include "lsm_alloc.h"
#include "lsm_crc32c.h"
#include "lsm_format.h"
#include "sstable.h"

typedef struct Ent
{
	LsmBuf		key;			/* internal key */
	LsmBuf		val;
} Ent;

typedef struct Model
{
	Ent		   *e;
	size_t		n;
	size_t		cap;
} Model;

static int
ent_cmp(const void *a, const void *b)
{
	return lsm_ikey_cmp(lsm_buf_slice(&((const Ent *) a)->key),
						lsm_buf_slice(&((const Ent *) b)->key));
}

static void
model_add(Model *m, LsmSlice ukey, LsmSeq seq, LsmKind kind, LsmSlice val)
{
	Ent		   *e;

	if (m->n == m->cap)
	{
		m->cap = m->cap ? m->cap * 2 : 256;
		m->e = realloc(m->e, m->cap * sizeof(Ent));
	}
	e = &m->e[m->n++];
	memset(e, 0, sizeof(*e));
	lsm_ikey_append(&e->key, ukey, seq, kind);
	lsm_buf_set(&e->val, val.data, val.len);
}

/* Sort and drop duplicate internal keys. */
static void
model_sort(Model *m)
{
	size_t		out = 0;

	qsort(m->e, m->n, sizeof(Ent), ent_cmp);
	for (size_t i = 0; i < m->n; i++)
	{
		if (out > 0 && ent_cmp(&m->e[out - 1], &m->e[i]) == 0)
		{
			lsm_buf_free(&m->e[i].key);
			lsm_buf_free(&m->e[i].val);
			continue;
		}
		m->e[out++] = m->e[i];
	}
	m->n = out;
}

static void
model_free(Model *m)
{
	for (size_t i = 0; i < m->n; i++)
	{
		lsm_buf_free(&m->e[i].key);
		lsm_buf_free(&m->e[i].val);
	}
	free(m->e);
	memset(m, 0, sizeof(*m));
}

static void
fill_value(TestRng *r, uint8_t *p, size_t len, int compressible)
{
	for (size_t i = 0; i < len; i++)
		p[i] = compressible ? (uint8_t) ("the quick brown fox "[(i / 3) % 20]) :
			(uint8_t) test_rng_next(r);
}

static void
random_user_key(TestRng *r, uint8_t *buf, size_t *len)
{
	*len = test_rng_below(r, 20);
	for (size_t j = 0; j < *len; j++)
		buf[j] = (uint8_t) ("abcdefgh\0\xff"[test_rng_below(r, 10)]);
}

/* About n entries: user keys with shared prefixes, 1-3 versions each, all kinds. */
static void
model_random(Model *m, TestRng *r, size_t n, size_t max_val)
{
	uint8_t    *vbuf = malloc(max_val + 1);

	while (m->n < n)
	{
		uint8_t		uk[32];
		size_t		ulen;
		int			versions = 1 + (int) test_rng_below(r, 3);

		random_user_key(r, uk, &ulen);
		for (int v = 0; v < versions; v++)
		{
			size_t		vlen = test_rng_below(r, 5) == 0 ? 0 : test_rng_below(r, max_val + 1);

			fill_value(r, vbuf, vlen, (int) test_rng_below(r, 2));
			model_add(m, lsm_slice(uk, ulen), test_rng_below(r, LSM_MAX_SEQ),
					  (LsmKind) test_rng_below(r, 3), lsm_slice(vbuf, vlen));
		}
	}
	free(vbuf);
	model_sort(m);
}

static LsmSstOptions
topts(size_t block_size, int restart, LsmCompression comp, int bloom)
{
	LsmSstOptions o;

	o.block_size = block_size;
	o.restart_interval = restart;
	o.compression = comp;
	o.compression_level = 3;
	o.bloom_bits_per_key = bloom;
	return o;
}

static LsmCode
build_table(const char *path, const LsmSstOptions *o, const Model *m,
			LsmSstProps *props, LsmStatus *st)
{
	LsmSstBuilder *b;
	LsmCode		rc = lsm_sst_builder_open(lsm_env_posix(), path, o, &b, st);

	if (rc != LSM_OK)
		return rc;
	for (size_t i = 0; i < m->n; i++)
	{
		rc = lsm_sst_builder_add(b, lsm_buf_slice(&m->e[i].key),
								   lsm_buf_slice(&m->e[i].val), st);
		if (rc != LSM_OK)
		{
			lsm_sst_builder_abandon(b);
			return rc;
		}
	}
	return lsm_sst_builder_finish(b, props, st);
}

static size_t
lower_bound(const Model *m, LsmSlice target)
{
	size_t		lo = 0,
				hi = m->n;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;

		if (lsm_ikey_cmp(lsm_buf_slice(&m->e[mid].key), target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
at(LsmIter *it, const Ent *e)
{
	return lsm_iter_valid(it) &&
		lsm_slice_eq(lsm_iter_key(it), lsm_buf_slice(&e->key)) &&
		lsm_slice_eq(lsm_iter_value(it), lsm_buf_slice(&e->val));
}

/* A random seek target: an existing key, a neighbour of one, or noise. */
static void
random_target(TestRng *r, const Model *m, LsmBuf *out)
{
	lsm_buf_reset(out);
	if (m->n > 0 && test_rng_below(r, 3) == 0)
	{
		const Ent  *e = &m->e[test_rng_below(r, m->n)];

		lsm_buf_set(out, e->key.data, e->key.len);
		return;
	}
	if (m->n > 0 && test_rng_below(r, 2) == 0)
	{
		LsmParsedKey pk = {0};
		const Ent  *e = &m->e[test_rng_below(r, m->n)];

		lsm_ikey_parse(lsm_buf_slice(&e->key), &pk);
		lsm_ikey_append(out, pk.user_key, pk.seq + (test_rng_below(r, 2) ? 1 : -1) * (pk.seq > 0),
						LSM_KIND_FOR_SEEK);
		return;
	}
	{
		uint8_t		uk[32];
		size_t		ulen;

		random_user_key(r, uk, &ulen);
		lsm_ikey_append(out, lsm_slice(uk, ulen), test_rng_below(r, LSM_MAX_SEQ),
						LSM_KIND_FOR_SEEK);
	}
}

/* ---- get visitor compared against the model ---- */

typedef struct Visit
{
	const Model *m;
	size_t		next;			/* model index expected next */
	int			want;			/* entries to accept before stopping */
	int			got;
	int			bad;
} Visit;

static bool
visit_fn(void *arg, LsmSlice k, LsmSlice v)
{
	Visit	   *vi = arg;

	if (vi->next >= vi->m->n ||
		!lsm_slice_eq(k, lsm_buf_slice(&vi->m->e[vi->next].key)) ||
		!lsm_slice_eq(v, lsm_buf_slice(&vi->m->e[vi->next].val)))
		vi->bad = 1;
	vi->next++;
	return ++vi->got < vi->want;
}

/*
 * check_table
 *		Compare an open table with the model every way the API allows.
 */
static int
check_table(LsmSst *t, const Model *m, TestRng *r, bool has_bloom)
{
	LsmIter    *it = lsm_sst_iter(t, true, NULL);
	LsmBuf		target = LSM_BUF_INIT;
	LsmStatus	st;
	int			ok = 0;

	/* the iterator: the conformance check, with 300 random seek targets */
	{
		TestKV	   *kv = calloc(m->n + 1, sizeof(TestKV));
		LsmBuf		probes[300] = {LSM_BUF_INIT};
		LsmSlice	ps[300];
		int			conforms;

		for (size_t i = 0; i < m->n; i++)
		{
			kv[i].key = lsm_buf_slice(&m->e[i].key);
			kv[i].value = lsm_buf_slice(&m->e[i].val);
		}
		for (int k = 0; k < 300; k++)
		{
			random_target(r, m, &probes[k]);
			ps[k] = lsm_buf_slice(&probes[k]);
		}
		conforms = test_iter_check(it, kv, m->n, ps, 300, lsm_ikey_cmp, test_rng_next(r));
		for (int k = 0; k < 300; k++)
			lsm_buf_free(&probes[k]);
		free(kv);
		if (!conforms)
			goto out;
	}

	/* gets: present keys must be found, with as many followers as asked */
	for (int k = 0; k < 300; k++)
	{
		Visit		vi = {m, 0, 1 + (int) test_rng_below(r, 40), 0, 0};
		bool		present;
		LsmParsedKey pk = {0};
		size_t		lb;
		int			expect;

		random_target(r, m, &target);
		vi.next = lb = lower_bound(m, lsm_buf_slice(&target));
		expect = (size_t) vi.want < m->n - lb ? vi.want : (int) (m->n - lb);
		present = vi.next < m->n && lsm_ikey_parse(lsm_buf_slice(&m->e[vi.next].key), &pk) &&
			lsm_slice_eq(pk.user_key, lsm_ikey_user_key(lsm_buf_slice(&target)));
		if (lsm_sst_get(t, lsm_buf_slice(&target), visit_fn, &vi, NULL, &st) != LSM_OK)
		{
			fprintf(stderr, "  get failed: %s\n", st.msg);
			goto out;
		}
		if (vi.bad)
		{
			fprintf(stderr, "  get returned wrong entries\n");
			goto out;
		}
		/* the filter may skip absent user keys; otherwise all wanted entries come */
		if ((present || !has_bloom) && vi.got != expect)
		{
			fprintf(stderr, "  get visited %d of %d\n", vi.got, vi.want);
			goto out;
		}
	}
	for (size_t i = 0; i < m->n; i++)
	{
		LsmParsedKey pk = {0};

		lsm_ikey_parse(lsm_buf_slice(&m->e[i].key), &pk);
		if (!lsm_sst_may_contain(t, pk.user_key))
			goto out;
	}
	ok = 1;
out:
	lsm_buf_free(&target);
	lsm_iter_destroy(it);
	return ok;
}

static int
props_match(const LsmSstProps *p, const Model *m, uint64_t file_size)
{
	uint64_t	tomb = 0,
				merges = 0,
				kb = 0,
				vb = 0;
	LsmSeq		mn = m->n ? LSM_MAX_SEQ : 0,
				mx = 0;

	for (size_t i = 0; i < m->n; i++)
	{
		LsmParsedKey pk = {0};

		lsm_ikey_parse(lsm_buf_slice(&m->e[i].key), &pk);
		tomb += pk.kind == LSM_KIND_DELETE;
		merges += pk.kind == LSM_KIND_MERGE;
		kb += m->e[i].key.len;
		vb += m->e[i].val.len;
		if (pk.seq < mn)
			mn = pk.seq;
		if (pk.seq > mx)
			mx = pk.seq;
	}
	CHECK_RET(p->entries == m->n, 0);
	CHECK_RET(p->tombstones == tomb && p->merges == merges, 0);
	CHECK_RET(p->raw_key_bytes == kb && p->raw_value_bytes == vb, 0);
	CHECK_RET(p->min_seq == mn && p->max_seq == mx, 0);
	CHECK_RET(p->file_bytes == file_size, 0);
	CHECK_RET(p->data_bytes + p->index_bytes + p->filter_bytes < file_size, 0);
	if (m->n > 0)
	{
		CHECK_RET(lsm_slice_eq(lsm_buf_slice(&p->smallest), lsm_buf_slice(&m->e[0].key)), 0);
		CHECK_RET(lsm_slice_eq(lsm_buf_slice(&p->largest), lsm_buf_slice(&m->e[m->n - 1].key)), 0);
	}
	return 1;
}

static uint64_t
file_size_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t) sb.st_size : 0;
}

/* The codecs the tests loop over: 0 none, 1 zstd, 2 LZ4. */
static LsmCompression
codec_of(int i)
{
	return i == 1 ? LSM_COMPRESSION_ZSTD : i == 2 ? LSM_COMPRESSION_LZ4 : LSM_COMPRESSION_NONE;
}

static void
test_round_trip(void)
{
	TestRng		r = {test_seed("sstable round trip")};
	char		dir[256];
	char		path[512];
	const size_t bsizes[] = {256, 1024, 4096, 65536};
	const int	restarts[] = {1, 4, 16};
	int			fileno = 0;
	LsmBlockCache *cache = lsm_block_cache_create(lsm_env_posix(), 256 * 1024);

	test_tmpdir(dir, sizeof(dir), "sst_rt");
	for (size_t bi = 0; bi < 4; bi++)
		for (size_t ri = 0; ri < 3; ri++)
			for (int comp = 0; comp < 3; comp++)
				for (int bloom = 0; bloom <= 10; bloom += 10)
				{
					LsmSstOptions o = topts(bsizes[bi], restarts[ri],
											  codec_of(comp),
											  bloom);
					Model		m = {0};
					LsmSstProps p;
					LsmSst   *t;
					LsmStatus	st;
					int			ok;
					LsmBlockCache *c = (fileno % 2) ? cache : NULL;

					model_random(&m, &r, 1 + test_rng_below(&r, 2500), 300);
					snprintf(path, sizeof(path), "%s/%06d.sst", dir, ++fileno);
					CHECK_OK(build_table(path, &o, &m, &p, &st), &st);
					ok = props_match(&p, &m, file_size_of(path));
					lsm_sst_props_free(&p);
					CHECK(ok);
					CHECK_OK(lsm_sst_open(lsm_env_posix(), path, (uint64_t) fileno, c, &t, &st), &st);
					CHECK(props_match(lsm_sst_props(t), &m, file_size_of(path)));
					CHECK(lsm_sst_file_number(t) == (uint64_t) fileno);
					ok = check_table(t, &m, &r, bloom > 0);
					if (ok)
						ok = lsm_sst_verify(t, &st) == LSM_OK;
					lsm_sst_close(t);
					model_free(&m);
					CHECK(ok);
				}
	lsm_block_cache_destroy(cache);
	test_rmtree(dir);
}

/*
 * Fences (a get's search of the index block through 8 bytes of each
 * entry's user key past the bytes all share): tables whose user keys share
 * a prefix of 0, 5 and 12 bytes and differ past it in few bytes (many
 * entries with the same fence), with bytes 0x00 and 0xff, keys that are
 * prefixes of others and several versions of a key, in blocks of one or a
 * few entries.  Every get must start at the model's lower bound, for
 * random targets (check_table) and for targets around the shared prefix:
 * shorter than it, a prefix of it, one byte below or above it, it padded
 * with 0x00 or 0xff, and the empty key.
 */
static int
get_starts_at_lower_bound(LsmSst *t, const Model *m, LsmSlice ukey, LsmSeq seq)
{
	LsmBuf		target = LSM_BUF_INIT;
	LsmStatus	st;
	Visit		vi = {m, 0, 1, 0, 0};
	size_t		lb;
	int			ok;

	lsm_ikey_append(&target, ukey, seq, LSM_KIND_FOR_SEEK);
	vi.next = lb = lower_bound(m, lsm_buf_slice(&target));
	ok = lsm_sst_get(t, lsm_buf_slice(&target), visit_fn, &vi, NULL, &st) == LSM_OK &&
		!vi.bad && vi.got == (lb < m->n ? 1 : 0);
	if (!ok)
		fprintf(stderr, "  get of a %zu-byte key: got %d, bad %d, lower bound %zu of %zu\n",
				ukey.len, vi.got, vi.bad, lb, m->n);
	lsm_buf_free(&target);
	return ok;
}

static void
test_fences(void)
{
	TestRng		r = {test_seed("sstable fences")};
	char		dir[256];
	char		path[512];
	const char *prefix = "user:0000012";
	const size_t plens[] = {0, 5, 12};
	const size_t bsizes[] = {48, 300};
	int			fileno = 0;

	test_tmpdir(dir, sizeof(dir), "sst_fence");
	for (size_t pi = 0; pi < 3; pi++)
		for (size_t bi = 0; bi < 2; bi++)
		{
			LsmSstOptions o = topts(bsizes[bi], 1 + (int) bi * 3, LSM_COMPRESSION_NONE, 0);
			Model		m = {0};
			LsmSstProps p;
			LsmSst	   *t;
			LsmStatus	st;
			size_t		plen = plens[pi];
			uint8_t		buf[64];
			int			ok = 1;

			while (m.n < 3000)
			{
				uint8_t		uk[64];
				size_t		ulen;
				int			versions = 1 + (int) test_rng_below(&r, 3);

				memcpy(uk, prefix, plen);
				/* past the prefix: a few bytes of a small alphabet, 0x00 and 0xff */
				ulen = plen + test_rng_below(&r, 12);
				for (size_t j = plen; j < ulen; j++)
					uk[j] = (uint8_t) ("ab\0\xff"[test_rng_below(&r, 4)]);
				for (int v = 0; v < versions; v++)
					model_add(&m, lsm_slice(uk, ulen), 1 + test_rng_below(&r, 1000),
							  LSM_KIND_PUT, lsm_slice("v", 1));
			}
			model_sort(&m);
			snprintf(path, sizeof(path), "%s/%06d.sst", dir, ++fileno);
			CHECK_OK(build_table(path, &o, &m, &p, &st), &st);
			lsm_sst_props_free(&p);
			CHECK_OK(lsm_sst_open(lsm_env_posix(), path, (uint64_t) fileno, NULL, &t, &st), &st);
			/* one fence per data block: the last index entry may lack the prefix */
			CHECK(lsm_sst_fence_count(t) == lsm_sst_props(t)->data_blocks);
			/* no filter: it would skip absent keys before the index is searched */
			CHECK(check_table(t, &m, &r, false));

			/* around the shared prefix */
			memcpy(buf, prefix, plen);
			ok &= get_starts_at_lower_bound(t, &m, lsm_slice("", 0), 5);
			for (size_t l = 0; l <= plen; l++)
				ok &= get_starts_at_lower_bound(t, &m, lsm_slice(buf, l), 5);
			if (plen > 0)
			{
				buf[plen - 1]--;
				ok &= get_starts_at_lower_bound(t, &m, lsm_slice(buf, plen), 5);
				buf[plen - 1] += 2;
				ok &= get_starts_at_lower_bound(t, &m, lsm_slice(buf, plen), 5);
				buf[plen - 1]--;
			}
			for (size_t pad = 1; pad <= 12; pad++)
			{
				memset(buf + plen, 0x00, pad);
				ok &= get_starts_at_lower_bound(t, &m, lsm_slice(buf, plen + pad), 0);
				ok &= get_starts_at_lower_bound(t, &m, lsm_slice(buf, plen + pad), LSM_MAX_SEQ);
				memset(buf + plen, 0xff, pad);
				ok &= get_starts_at_lower_bound(t, &m, lsm_slice(buf, plen + pad), 0);
				ok &= get_starts_at_lower_bound(t, &m, lsm_slice(buf, plen + pad), LSM_MAX_SEQ);
			}
			/* every key of the model, at its own and at neighbouring sequence numbers */
			for (size_t i = 0; i < m.n; i += 7)
			{
				LsmParsedKey pk = {0};

				lsm_ikey_parse(lsm_buf_slice(&m.e[i].key), &pk);
				ok &= get_starts_at_lower_bound(t, &m, pk.user_key, pk.seq);
				ok &= get_starts_at_lower_bound(t, &m, pk.user_key, pk.seq + 1);
				if (pk.seq > 0)
					ok &= get_starts_at_lower_bound(t, &m, pk.user_key, pk.seq - 1);
			}
			CHECK(ok);
			lsm_sst_close(t);
			model_free(&m);
		}
	test_rmtree(dir);
}

static void
test_empty_table(void)
{
	TestRng		r = {test_seed("sstable empty")};
	char		dir[256];
	char		path[512];
	Model		m = {0};
	LsmSstOptions o = topts(4096, 16, LSM_COMPRESSION_ZSTD, 10);
	LsmSst   *t;
	LsmStatus	st;
	LsmSstProps p;

	test_tmpdir(dir, sizeof(dir), "sst_empty");
	snprintf(path, sizeof(path), "%s/000001.sst", dir);
	CHECK_OK(build_table(path, &o, &m, &p, &st), &st);
	CHECK(p.entries == 0 && p.data_blocks == 0);
	lsm_sst_props_free(&p);
	CHECK_OK(lsm_sst_open(NULL, path, 1, NULL, &t, &st), &st);
	CHECK(check_table(t, &m, &r, true));
	CHECK(!lsm_sst_may_contain(t, lsm_slice_str("anything")));
	CHECK_OK(lsm_sst_verify(t, &st), &st);
	lsm_sst_close(t);
	test_rmtree(dir);
}

/* An env that counts the builder's calls of its cpu_yield hook. */
static int	yields = 0;

static void
count_yield(LsmEnv *env)
{
	(void) env;
	yields++;
}

/*
 * The builder offers the CPU after every block it emits (lsm_env.h,
 * cpu_yield: the server's background workers give it up there), and the
 * table it builds is the same with or without the hook.
 */
static void
test_cpu_yield(void)
{
	TestRng		r = {test_seed("sstable cpu_yield")};
	char		dir[256];
	char		path[512];
	Model		m = {0};
	LsmSstOptions o = topts(4096, 16, LSM_COMPRESSION_ZSTD, 10);
	LsmEnv		env = *lsm_env_posix();
	LsmSstBuilder *b;
	LsmSst	   *t;
	LsmStatus	st;
	LsmSstProps p;

	CHECK(lsm_env_posix()->cpu_yield == NULL);
	env.cpu_yield = count_yield;
	model_random(&m, &r, 5000, 600);
	test_tmpdir(dir, sizeof(dir), "sst_yield");
	snprintf(path, sizeof(path), "%s/000001.sst", dir);
	yields = 0;
	CHECK_OK(lsm_sst_builder_open(&env, path, &o, &b, &st), &st);
	for (size_t i = 0; i < m.n; i++)
		CHECK_OK(lsm_sst_builder_add(b, lsm_buf_slice(&m.e[i].key),
									 lsm_buf_slice(&m.e[i].val), &st), &st);
	CHECK_OK(lsm_sst_builder_finish(b, &p, &st), &st);
	CHECK(p.data_blocks > 100);
	/* every data block, then the filter, index and properties blocks */
	CHECK((uint64_t) yields > p.data_blocks);
	lsm_sst_props_free(&p);
	CHECK_OK(lsm_sst_open(NULL, path, 1, NULL, &t, &st), &st);
	CHECK(check_table(t, &m, &r, true));
	CHECK_OK(lsm_sst_verify(t, &st), &st);
	lsm_sst_close(t);
	model_free(&m);
	test_rmtree(dir);
}

/* Values up to 1 MiB, empty values, compressible and not, with and without zstd. */
static void
test_large_values(void)
{
	TestRng		r = {test_seed("sstable large values")};
	char		dir[256];
	char		path[512];
	size_t		sizes[] = {0, 1, 0, 4095, 4096, 4097, 65536, 0, 300000, 1 << 20, 0, 1 << 20, 7};
	uint8_t    *v = malloc(1 << 20);

	test_tmpdir(dir, sizeof(dir), "sst_large");
	for (int comp = 0; comp < 3; comp++)
	{
		Model		m = {0};
		LsmSstOptions o = topts(4096, 16, codec_of(comp), 10);
		LsmSst   *t;
		LsmStatus	st;
		int			ok;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		{
			char		uk[16];

			fill_value(&r, v, sizes[i], (int) (i % 2));
			snprintf(uk, sizeof(uk), "k%03zu", i);
			model_add(&m, lsm_slice_str(uk), 100 + i, LSM_KIND_PUT, lsm_slice(v, sizes[i]));
		}
		model_sort(&m);
		snprintf(path, sizeof(path), "%s/%06d.sst", dir, comp + 1);
		CHECK_OK(build_table(path, &o, &m, NULL, &st), &st);
		CHECK_OK(lsm_sst_open(NULL, path, 1, NULL, &t, &st), &st);
		ok = check_table(t, &m, &r, true);
		if (ok)
			ok = lsm_sst_verify(t, &st) == LSM_OK;
		lsm_sst_close(t);
		model_free(&m);
		CHECK(ok);
	}
	free(v);
	test_rmtree(dir);
}

/*
 * An allocator like a host's fixed shared heap: "shared" memory (alloc,
 * and realloc of it) is refused above SHARED_LIMIT, while alloc_private is
 * plain malloc; the private blocks are tracked so that their realloc is
 * not limited.  All of it is libc underneath, so frees mix freely.
 */
#define SHARED_LIMIT (512 * 1024)
#define MAX_PRIVATE 64
static void *private_blocks[MAX_PRIVATE];
static int	n_private;

static int
private_index(void *p)
{
	for (int i = 0; i < n_private; i++)
		if (private_blocks[i] == p)
			return i;
	return -1;
}

static void *
limited_alloc(void *arg, size_t n)
{
	return n > SHARED_LIMIT ? NULL : malloc(n);
}

static void *
limited_alloc_private(void *arg, size_t n)
{
	void	   *p = malloc(n);

	if (p != NULL && n_private < MAX_PRIVATE)
		private_blocks[n_private++] = p;
	return p;
}

static void *
limited_realloc(void *arg, void *p, size_t n)
{
	int			i = p ? private_index(p) : -1;
	void	   *q;

	if (i < 0 && n > SHARED_LIMIT)
		return NULL;
	q = realloc(p, n);
	if (q != NULL && i >= 0)
		private_blocks[i] = q;
	return q;
}

static void
limited_free(void *arg, void *p)
{
	int			i = p ? private_index(p) : -1;

	if (i >= 0)
		private_blocks[i] = private_blocks[--n_private];
	free(p);
}

/* arg: the expected value, replaced by an empty slice when it was met */
static bool
visit_value(void *arg, LsmSlice ikey, LsmSlice value)
{
	LsmSlice   *expect = arg;

	if (lsm_slice_eq(value, *expect))
		*expect = lsm_slice(NULL, 0);
	return false;
}

/*
 * Values many times bigger than what the shared heap may give at once are
 * built, read (through the cache, a point get and an iterator) and
 * verified: the builder's block, compressed block and output buffers and a
 * big data block read for one reader are process-private memory.
 */
static void
test_big_values_private_memory(void)
{
	TestRng		r = {test_seed("sstable private buffers")};
	LsmAllocator a = {
		limited_alloc, limited_realloc, limited_free, NULL, limited_alloc_private
	};
	char		dir[256];
	char		path[512];
	size_t		big = 4 * 1024 * 1024;
	uint8_t    *v = malloc(big);

	test_tmpdir(dir, sizeof(dir), "sst_private");
	for (int comp = 0; comp < 3; comp++)
	{
		Model		m = {0};
		LsmSstOptions o = topts(4096, 16, codec_of(comp), 10);
		LsmBlockCache *cache;
		LsmSst   *t;
		LsmIter    *it;
		LsmStatus	st;
		LsmSlice	got = {0};
		size_t		n = 0;

		for (int i = 0; i < 3; i++)
		{
			char		uk[16];

			fill_value(&r, v, big, i == 1);
			snprintf(uk, sizeof(uk), "k%d", i);
			model_add(&m, lsm_slice_str(uk), 10 + i, LSM_KIND_PUT, lsm_slice(v, big));
		}
		model_add(&m, lsm_slice_str("k3"), 20, LSM_KIND_PUT, lsm_slice_str("small"));
		model_sort(&m);
		snprintf(path, sizeof(path), "%s/%06d.sst", dir, comp + 1);

		lsm_set_allocator(&a);
		cache = lsm_block_cache_create(lsm_env_posix(), 1 << 20);
		CHECK(cache != NULL);
		CHECK_OK(build_table(path, &o, &m, NULL, &st), &st);
		CHECK_OK(lsm_sst_open(NULL, path, 1, cache, &t, &st), &st);
		got = lsm_buf_slice(&m.e[1].val);
		CHECK_OK(lsm_sst_get(t, lsm_buf_slice(&m.e[1].key), visit_value, &got, NULL, &st), &st);
		CHECK(got.len == 0);
		it = lsm_sst_iter(t, true, NULL);
		CHECK(it != NULL);
		for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), n++)
		{
			CHECK(n < m.n);
			CHECK(lsm_slice_eq(lsm_iter_key(it), lsm_buf_slice(&m.e[n].key)));
			CHECK(lsm_slice_eq(lsm_iter_value(it), lsm_buf_slice(&m.e[n].val)));
		}
		CHECK_OK(lsm_iter_status(it, &st), &st);
		CHECK(n == m.n);
		lsm_iter_destroy(it);
		CHECK_OK(lsm_sst_verify(t, &st), &st);
		/* the big blocks were not cached: the cache held one small block at most */
		CHECK(lsm_block_cache_usage(cache) <= SHARED_LIMIT);
		lsm_sst_close(t);
		lsm_block_cache_destroy(cache);
		lsm_set_allocator(NULL);
		CHECK(n_private == 0);
		model_free(&m);
	}
	free(v);
	test_rmtree(dir);
}

/*
 * zstd must not be used where it does not pay: a table of random values
 * takes exactly as many data bytes with compression on as off, while
 * repetitive values shrink a lot.
 */
static void
test_raw_when_incompressible(void)
{
	TestRng		r = {test_seed("sstable incompressible")};
	char		dir[256];
	char		path[512];
	uint64_t	bytes[2][3];

	test_tmpdir(dir, sizeof(dir), "sst_raw");
	for (int compressible = 0; compressible < 2; compressible++)
	{
		Model		m = {0};
		uint8_t		v[600];

		for (int i = 0; i < 2000; i++)
		{
			char		uk[16];

			fill_value(&r, v, sizeof(v), compressible);
			snprintf(uk, sizeof(uk), "k%06d", i);
			model_add(&m, lsm_slice_str(uk), 1, LSM_KIND_PUT, lsm_slice(v, sizeof(v)));
		}
		for (int comp = 0; comp < 3; comp++)
		{
			LsmSstOptions o = topts(4096, 16, codec_of(comp), 10);
			LsmSstProps p;
			LsmStatus	st;
			LsmSst   *t;

			snprintf(path, sizeof(path), "%s/%d%d.sst", dir, compressible, comp);
			CHECK_OK(build_table(path, &o, &m, &p, &st), &st);
			bytes[compressible][comp] = p.data_bytes;
			lsm_sst_props_free(&p);
			CHECK_OK(lsm_sst_open(NULL, path, 1, NULL, &t, &st), &st);
			CHECK_OK(lsm_sst_verify(t, &st), &st);
			lsm_sst_close(t);
		}
		model_free(&m);
	}
	printf("  random values: %llu bytes raw, %llu with zstd, %llu with lz4; "
		   "repetitive: %llu raw, %llu zstd, %llu lz4\n",
		   (unsigned long long) bytes[0][0], (unsigned long long) bytes[0][1],
		   (unsigned long long) bytes[0][2],
		   (unsigned long long) bytes[1][0], (unsigned long long) bytes[1][1],
		   (unsigned long long) bytes[1][2]);
	CHECK(bytes[0][0] == bytes[0][1]);
	CHECK(bytes[0][0] == bytes[0][2]);
	CHECK(bytes[1][1] * 4 < bytes[1][0]);
	CHECK(bytes[1][2] * 2 < bytes[1][0]);
	test_rmtree(dir);
}

/* lsm_sst_index_keys visitor: count separators an older engine cannot parse. */
static bool
count_new_kinds(void *arg, LsmSlice ikey, LsmSlice value)
{
	LsmParsedKey pk;

	(void) value;
	if (!lsm_ikey_parse(ikey, &pk) || pk.kind > LSM_KIND_MERGE)
		(*(int *) arg)++;
	return true;
}

static void
test_100k(void)
{
	TestRng		r = {test_seed("sstable 100k")};
	char		dir[256];
	char		path[512];
	Model		m = {0};
	LsmSstOptions o = topts(4096, 16, LSM_COMPRESSION_ZSTD, 10);
	LsmBlockCache *cache = lsm_block_cache_create(NULL, 1 << 20);
	LsmSst   *t;
	LsmStatus	st;
	LsmReadStats rs = {0};
	uint8_t		v[120];
	int			ok;
	size_t		absent_skipped = 0;

	test_tmpdir(dir, sizeof(dir), "sst_100k");
	for (int i = 0; i < 100000; i++)
	{
		char		uk[24];
		size_t		vlen = test_rng_below(&r, sizeof(v));

		snprintf(uk, sizeof(uk), "user%09d", i * 7);
		fill_value(&r, v, vlen, i % 3 == 0);
		model_add(&m, lsm_slice_str(uk), (LsmSeq) i + 1, (LsmKind) (i % 3), lsm_slice(v, vlen));
	}
	model_sort(&m);
	snprintf(path, sizeof(path), "%s/000001.sst", dir);
	CHECK_OK(build_table(path, &o, &m, NULL, &st), &st);
	CHECK_OK(lsm_sst_open(NULL, path, 1, cache, &t, &st), &st);
	printf("  100k entries: %llu data blocks, %llu bytes\n",
		   (unsigned long long) lsm_sst_props(t)->data_blocks,
		   (unsigned long long) lsm_sst_props(t)->file_bytes);
	ok = check_table(t, &m, &r, true);
	for (int i = 0; ok && i < 10000; i++)
	{
		char		uk[24];
		LsmBuf		k = LSM_BUF_INIT;
		Visit		vi = {&m, 0, 1, 0, 0};
		int			id = (int) test_rng_below(&r, 100000 * 7);
		bool		present = id % 7 == 0;

		snprintf(uk, sizeof(uk), "user%09d", id);
		lsm_ikey_append(&k, lsm_slice_str(uk), LSM_MAX_SEQ, LSM_KIND_FOR_SEEK);
		vi.next = lower_bound(&m, lsm_buf_slice(&k));
		if (lsm_sst_get(t, lsm_buf_slice(&k), visit_fn, &vi, &rs, &st) != LSM_OK ||
			vi.bad || (present && vi.got != 1))
			ok = 0;
		absent_skipped += !present && vi.got == 0;
		lsm_buf_free(&k);
	}
	printf("  gets: %llu block reads, %llu cache hits, %llu skipped by the filter\n",
		   (unsigned long long) rs.block_reads, (unsigned long long) rs.block_cache_hits,
		   (unsigned long long) rs.bloom_useful);
	if (ok)
		ok = lsm_sst_verify(t, &st) == LSM_OK;
	{
		int			new_kinds = 0;

		/*
		 * A table without blob references keeps kinds 0..2 in its index
		 * too, so the engines before LSM_KIND_BLOB still open it.
		 */
		CHECK_OK(lsm_sst_index_keys(t, count_new_kinds, &new_kinds, &st), &st);
		CHECK(new_kinds == 0);
	}
	lsm_sst_close(t);
	lsm_block_cache_destroy(cache);
	model_free(&m);
	test_rmtree(dir);
	CHECK(ok);
	CHECK(rs.bloom_useful > 0 && rs.bloom_useful == absent_skipped);
	CHECK(rs.block_cache_hits > 0 && rs.block_reads > 0);
}

static void
test_builder_misuse(void)
{
	char		dir[256];
	char		path[512];
	LsmSstOptions o = topts(4096, 16, LSM_COMPRESSION_ZSTD, 10);
	LsmSstBuilder *b;
	LsmStatus	st;
	LsmBuf		k1 = LSM_BUF_INIT,
				k2 = LSM_BUF_INIT;
	LsmSstProps p;
	uint8_t		badkind[9] = {'x', 4, 0, 0, 0, 0, 0, 0, 0};

	test_tmpdir(dir, sizeof(dir), "sst_misuse");
	snprintf(path, sizeof(path), "%s/000001.sst", dir);
	lsm_ikey_append(&k1, lsm_slice_str("b"), 5, LSM_KIND_PUT);
	lsm_ikey_append(&k2, lsm_slice_str("a"), 5, LSM_KIND_PUT);

	CHECK_OK(lsm_sst_builder_open(NULL, path, &o, &b, &st), &st);
	CHECK(lsm_sst_builder_add(b, lsm_slice_str("short"), lsm_slice_str("v"), &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_sst_builder_add(b, lsm_slice(badkind, 9), lsm_slice_str("v"), &st) == LSM_INVALID_ARGUMENT);
	CHECK_OK(lsm_sst_builder_add(b, lsm_buf_slice(&k1), lsm_slice_str("v"), &st), &st);
	CHECK(lsm_sst_builder_add(b, lsm_buf_slice(&k1), lsm_slice_str("v"), &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_sst_builder_add(b, lsm_buf_slice(&k2), lsm_slice_str("v"), &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, path) != NULL);
	CHECK(lsm_sst_builder_entries(b) == 1);
	CHECK(lsm_sst_builder_size(b) > 0);
	CHECK_OK(lsm_sst_builder_finish(b, &p, &st), &st);
	CHECK(p.entries == 1);
	lsm_sst_props_free(&p);

	/* tables are never overwritten */
	CHECK(lsm_sst_builder_open(NULL, path, &o, &b, &st) != LSM_OK);
	CHECK(file_size_of(path) > 0);

	/* abandon removes the file */
	snprintf(path, sizeof(path), "%s/000002.sst", dir);
	CHECK_OK(lsm_sst_builder_open(NULL, path, &o, &b, &st), &st);
	CHECK_OK(lsm_sst_builder_add(b, lsm_buf_slice(&k1), lsm_slice_str("v"), &st), &st);
	lsm_sst_builder_abandon(b);
	CHECK(access(path, F_OK) != 0);

	o.compression = (LsmCompression) 9;
	CHECK(lsm_sst_builder_open(NULL, path, &o, &b, &st) == LSM_INVALID_ARGUMENT);
	lsm_buf_free(&k1);
	lsm_buf_free(&k2);
	test_rmtree(dir);
}

/* ---- damaged files ---- */

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *p;

	fseek(f, 0, SEEK_END);
	*len = (size_t) ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc(*len ? *len : 1);
	if (fread(p, 1, *len, f) != *len)
		*len = 0;
	fclose(f);
	return p;
}

static void
write_file(const char *path, const uint8_t *p, size_t len)
{
	FILE	   *f;

	unlink(path);
	f = fopen(path, "wb");
	if (len > 0 && fwrite(p, 1, len, f) != len)
		perror("fwrite");
	fclose(f);
}

static int
is_corruption_naming(LsmCode rc, const LsmStatus *st, const char *path)
{
	if (rc != LSM_CORRUPTION || strstr(st->msg, path) == NULL)
	{
		fprintf(stderr, "  expected corruption naming %s, got %s: %s\n", path,
				lsm_code_name(rc), st->msg);
		return 0;
	}
	return 1;
}

static int	caught_at_open;
static int	caught_by_scan;

/*
 * probe_damaged
 *		Open and read a damaged copy.  Every byte of a table is covered by a
 *		checksum (blocks, footer) or the magic, so the damage must be found
 *		by open or, failing that, by verify; until then every answer must
 *		be right or an error naming the file.  Returns 0 on a violation.
 */
static int
probe_damaged(const char *path, uint64_t fileno, LsmBlockCache *cache,
			  const Model *m, TestRng *r)
{
	LsmSst   *t;
	LsmStatus	st;
	LsmCode		rc = lsm_sst_open(NULL, path, fileno, cache, &t, &st);
	LsmIter    *it;
	size_t		i = 0;
	int			ok = 1;

	if (rc != LSM_OK)
	{
		caught_at_open++;
		return is_corruption_naming(rc, &st, path);
	}

	it = lsm_sst_iter(t, true, NULL);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++)
		if (i >= m->n || !at(it, &m->e[i]))
		{
			fprintf(stderr, "  wrong data from a damaged table at entry %zu\n", i);
			ok = 0;
			break;
		}
	if (ok)
	{
		rc = lsm_iter_status(it, &st);
		if (rc != LSM_OK)
		{
			caught_by_scan++;
			ok = is_corruption_naming(rc, &st, path);
		}
		else if (i != m->n)
		{
			fprintf(stderr, "  damaged table lost entries silently\n");
			ok = 0;
		}
	}
	lsm_iter_destroy(it);

	for (int k = 0; ok && k < 40; k++)
	{
		size_t		idx = test_rng_below(r, m->n);
		Visit		vi = {m, idx, 1, 0, 0};

		rc = lsm_sst_get(t, lsm_buf_slice(&m->e[idx].key), visit_fn, &vi, NULL, &st);
		if (rc != LSM_OK)
			ok = is_corruption_naming(rc, &st, path);
		else if (vi.bad || vi.got != 1)
		{
			fprintf(stderr, "  damaged table answered a get wrongly\n");
			ok = 0;
		}
	}
	if (ok)
		ok = is_corruption_naming(lsm_sst_verify(t, &st), &st, path);
	lsm_sst_close(t);
	return ok;
}

static void
test_corruption(void)
{
	TestRng		r = {test_seed("sstable corruption")};
	char		dir[256];
	char		good[512];
	char		bad[512];
	Model		m = {0};
	LsmSstOptions o = topts(512, 4, LSM_COMPRESSION_ZSTD, 10);
	LsmBlockCache *cache = lsm_block_cache_create(NULL, 64 * 1024);
	uint8_t    *img,
			   *copy;
	size_t		len;
	LsmStatus	st;
	int			failures = 0;
	uint64_t	fileno = 100;

	test_tmpdir(dir, sizeof(dir), "sst_corrupt");
	snprintf(good, sizeof(good), "%s/000001.sst", dir);
	snprintf(bad, sizeof(bad), "%s/000002.sst", dir);
	model_random(&m, &r, 400, 200);
	CHECK_OK(build_table(good, &o, &m, NULL, &st), &st);
	img = read_file(good, &len);
	CHECK(len > 1000);
	copy = malloc(len + LSM_SST_FOOTER_SIZE);
	printf("  table of %zu bytes, %zu entries\n", len, m.n);

	/* flipped bytes: random offsets, plus every byte of the tail */
	for (int k = 0; k < 600 + LSM_SST_FOOTER_SIZE + 100 && failures < 5; k++)
	{
		size_t		off = k < 600 ? test_rng_below(&r, len) : len - 1 - (size_t) (k - 600);

		memcpy(copy, img, len);
		copy[off] ^= (uint8_t) (1 + test_rng_below(&r, 255));
		write_file(bad, copy, len);
		if (!probe_damaged(bad, ++fileno, (k % 2) ? cache : NULL, &m, &r))
		{
			fprintf(stderr, "  (byte at offset %zu flipped)\n", off);
			failures++;
		}
	}
	printf("  %d flips: %d caught at open, %d more by a scan, the rest by verify\n",
		   600 + LSM_SST_FOOTER_SIZE + 100, caught_at_open, caught_by_scan);
	CHECK(failures == 0);

	/* truncation is caught at open */
	{
		size_t		cuts[] = {0, 1, 63, 64, 65, len / 2, len - 65, len - 64, len - 63, len - 1};

		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++)
		{
			LsmSst   *t;
			LsmCode		rc;

			write_file(bad, img, cuts[c]);
			rc = lsm_sst_open(NULL, bad, ++fileno, cache, &t, &st);
			CHECK(is_corruption_naming(rc, &st, bad));
		}
	}
	/* so are trailing bytes, even a second copy of a valid footer */
	{
		LsmSst   *t;
		LsmCode		rc;

		memcpy(copy, img, len);
		copy[len] = 0;
		write_file(bad, copy, len + 1);
		rc = lsm_sst_open(NULL, bad, ++fileno, cache, &t, &st);
		CHECK(is_corruption_naming(rc, &st, bad));
		memcpy(copy + len, img + len - LSM_SST_FOOTER_SIZE, LSM_SST_FOOTER_SIZE);
		write_file(bad, copy, len + LSM_SST_FOOTER_SIZE);
		rc = lsm_sst_open(NULL, bad, ++fileno, cache, &t, &st);
		CHECK(is_corruption_naming(rc, &st, bad));
	}
	/* a missing file is an I/O error, not corruption */
	{
		LsmSst   *t;

		unlink(bad);
		CHECK(lsm_sst_open(NULL, bad, ++fileno, cache, &t, &st) == LSM_IO_ERROR);
	}
	free(img);
	free(copy);
	model_free(&m);
	lsm_block_cache_destroy(cache);
	test_rmtree(dir);
}

/*
 * An LZ4 block whose checksum is right but whose contents are not (a bug,
 * or damage the CRC missed): a wrong decoded length or a broken LZ4
 * stream is corruption, found by a scan and by verify, never a crash.
 */
static void
test_lz4_bad_block(void)
{
	TestRng		r = {test_seed("sstable lz4 bad block")};
	char		dir[256];
	char		good[512];
	char		bad[512];
	Model		m = {0};
	LsmSstOptions o = topts(65536, 16, LSM_COMPRESSION_LZ4, 10);
	LsmSstProps p;
	uint8_t    *img;
	size_t		len;
	LsmStatus	st;
	uint64_t	fileno = 200;

	test_tmpdir(dir, sizeof(dir), "sst_lz4_bad");
	snprintf(good, sizeof(good), "%s/000001.sst", dir);
	snprintf(bad, sizeof(bad), "%s/000002.sst", dir);
	for (int i = 0; i < 50; i++)
	{
		char		uk[16];
		uint8_t		v[100];

		fill_value(&r, v, sizeof(v), 1);
		snprintf(uk, sizeof(uk), "k%04d", i);
		model_add(&m, lsm_slice_str(uk), 1, LSM_KIND_PUT, lsm_slice(v, sizeof(v)));
	}
	CHECK_OK(build_table(good, &o, &m, &p, &st), &st);
	CHECK(p.data_blocks == 1);
	img = read_file(good, &len);
	{
		size_t		size = (size_t) p.data_bytes - LSM_BLOCK_TRAILER_SIZE;

		CHECK(img[size] == LSM_COMPRESSION_LZ4);
		for (int damage = 0; damage < 3; damage++)
		{
			uint8_t    *copy = malloc(len);
			LsmSst	   *t;
			LsmIter    *it;
			LsmCode		rc;

			memcpy(copy, img, len);
			if (damage == 0)
				copy[0] ^= 0x01;	/* decoded length one off */
			else if (damage == 1)
				memset(copy + 2, 0xff, size - 2);	/* a stream that overruns */
			else
				copy[0] = 0xff, copy[1] = 0xff, copy[2] = 0xff, copy[3] = 0xff,
					copy[4] = 0x0f; /* a huge decoded length */
			lsm_put_fixed32(copy + size + 1, lsm_crc32c_mask(lsm_crc32c(copy, size + 1)));
			write_file(bad, copy, len);
			CHECK_OK(lsm_sst_open(NULL, bad, ++fileno, NULL, &t, &st), &st);
			it = lsm_sst_iter(t, false, NULL);
			lsm_iter_seek_first(it);
			CHECK(!lsm_iter_valid(it));
			rc = lsm_iter_status(it, &st);
			CHECK(is_corruption_naming(rc, &st, bad));
			lsm_iter_destroy(it);
			rc = lsm_sst_verify(t, &st);
			CHECK(is_corruption_naming(rc, &st, bad));
			lsm_sst_close(t);
			free(copy);
		}
	}
	lsm_sst_props_free(&p);
	free(img);
	model_free(&m);
	test_rmtree(dir);
}

typedef struct GetThread
{
	LsmSst   *t;
	const Model *m;
	uint64_t	seed;
	int			bad;
} GetThread;

static void *
get_thread(void *p)
{
	GetThread  *g = p;
	TestRng		r = {g->seed};
	LsmStatus	st;

	for (int i = 0; i < 5000; i++)
	{
		size_t		idx = test_rng_below(&r, g->m->n);
		Visit		vi = {g->m, idx, 3, 0, 0};

		if (lsm_sst_get(g->t, lsm_buf_slice(&g->m->e[idx].key), visit_fn, &vi, NULL, &st) != LSM_OK ||
			vi.bad || vi.got < 1)
			g->bad++;
	}
	return NULL;
}

/* One table read by several threads at once through a small shared cache. */
static void
test_threads(void)
{
	uint64_t	seed = test_seed("sstable threads");
	TestRng		r = {seed};
	char		dir[256];
	char		path[512];
	Model		m = {0};
	LsmSstOptions o = topts(1024, 16, LSM_COMPRESSION_ZSTD, 10);
	LsmBlockCache *cache = lsm_block_cache_create(NULL, 32 * 1024);
	LsmSst   *t;
	LsmStatus	st;
	pthread_t	th[4];
	GetThread	g[4];

	test_tmpdir(dir, sizeof(dir), "sst_threads");
	snprintf(path, sizeof(path), "%s/000001.sst", dir);
	model_random(&m, &r, 20000, 200);
	CHECK_OK(build_table(path, &o, &m, NULL, &st), &st);
	CHECK_OK(lsm_sst_open(NULL, path, 1, cache, &t, &st), &st);
	for (int i = 0; i < 4; i++)
	{
		g[i] = (GetThread) {t, &m, seed + (uint64_t) i + 1, 0};
		CHECK(pthread_create(&th[i], NULL, get_thread, &g[i]) == 0);
	}
	for (int i = 0; i < 4; i++)
	{
		pthread_join(th[i], NULL);
		CHECK(g[i].bad == 0);
	}
	lsm_sst_close(t);
	lsm_block_cache_destroy(cache);
	model_free(&m);
	test_rmtree(dir);
}

static void
test_options_from(void)
{
	LsmOptions	lo;
	LsmSstOptions to;

	memset(&lo, 0, sizeof(lo));
	lo.block_size = 8192;
	lo.block_restart_interval = 8;
	lo.compression = LSM_COMPRESSION_ZSTD;
	lo.compression_level = 5;
	lo.bloom_bits_per_key = 12;
	lsm_sst_options_from(&to, &lo);
	CHECK(to.block_size == 8192 && to.restart_interval == 8);
	CHECK(to.compression == LSM_COMPRESSION_ZSTD && to.compression_level == 5);
	CHECK(to.bloom_bits_per_key == 12);
}

int
main(void)
{
	RUN(test_round_trip);
	RUN(test_empty_table);
	RUN(test_fences);
	RUN(test_cpu_yield);
	RUN(test_large_values);
	RUN(test_big_values_private_memory);
	RUN(test_raw_when_incompressible);
	RUN(test_lz4_bad_block);
	RUN(test_100k);
	RUN(test_builder_misuse);
	RUN(test_corruption);
	RUN(test_threads);
	RUN(test_options_from);
	return test_finish();
}
