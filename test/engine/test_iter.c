/*
 * test_iter.c
 *		Every iterator kind of the engine runs the one conformance check
 *		(iter_check.c) over the same random data: memtable (both forms),
 *		block, SSTable, level (lsm_files_iter), merging, database (with and
 *		without bounds) and empty.
 *
 * Internal-key kinds see several versions (PUT, DELETE, MERGE) of some user
 * keys, ordered by lsm_ikey_cmp; the database iterator sees user keys after
 * overwrites and deletes spread over the memtable, level 0 and level 1.
 */
#include "testutil.h"

#include "block.h"
#include "iter_merge.h"
#include "lsm.h"
#include "lsm_alloc.h"
#include "lsm_format.h"
#include "memtable.h"
#include "sstable.h"
#include "version.h"

#define N_USER		400			/* user keys */
#define MAX_KEY		12

/* One internal entry of the model. */
typedef struct Entry
{
	LsmBuf		ikey;
	LsmSlice	user;			/* into ikey */
	LsmSeq		seq;
	LsmKind		kind;
	LsmBuf		value;
} Entry;

static uint64_t seed;

/* A value's bytes; never a NULL pointer, even when empty (memcpy's rules). */
static LsmSlice
val(const LsmBuf *b)
{
	return b->data ? lsm_buf_slice(b) : lsm_slice((const uint8_t *) "", 0);
}

/* User keys over a small alphabet (prefixes abound), 0x00 and 0xff included. */
static size_t
random_user_key(TestRng *rng, uint8_t *out)
{
	static const uint8_t alphabet[] = {0x00, 'a', 'b', 'c', 0xff};
	size_t		len = 1 + test_rng_below(rng, MAX_KEY);

	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[test_rng_below(rng, sizeof(alphabet))];
	return len;
}

static int
user_cmp_qsort(const void *a, const void *b)
{
	return lsm_slice_cmp(*(const LsmSlice *) a, *(const LsmSlice *) b);
}

/* N_USER distinct sorted user keys, malloc'd. */
static LsmSlice *
make_user_keys(TestRng *rng, int *n)
{
	LsmSlice   *k = calloc(N_USER * 2, sizeof(LsmSlice));
	int			m = 0;

	for (int i = 0; i < N_USER * 2; i++)
	{
		uint8_t    *p = malloc(MAX_KEY);

		k[i] = lsm_slice(p, random_user_key(rng, p));
	}
	qsort(k, N_USER * 2, sizeof(LsmSlice), user_cmp_qsort);
	for (int i = 0; i < N_USER * 2; i++)
	{
		if (m > 0 && lsm_slice_eq(k[m - 1], k[i]))
			free((void *) k[i].data);
		else
			k[m++] = k[i];
	}
	if (m > N_USER)
	{
		for (int i = N_USER; i < m; i++)
			free((void *) k[i].data);
		m = N_USER;
	}
	*n = m;
	return k;
}

static void
random_value(TestRng *rng, LsmBuf *v)
{
	uint8_t		buf[64];
	size_t		len = test_rng_below(rng, sizeof(buf));

	fill_random(rng, buf, len);
	lsm_buf_set(v, buf, len);
}

/*
 * Up to three versions of each user key, with distinct sequence numbers;
 * returned sorted by lsm_ikey_cmp (user key ascending, newest first).
 */
static Entry *
make_entries(TestRng *rng, const LsmSlice *users, int n_users, int *n)
{
	Entry	   *e = calloc((size_t) n_users * 3, sizeof(Entry));
	LsmSeq		seq = 1;
	int			m = 0;

	for (int u = 0; u < n_users; u++)
	{
		int			versions = 1 + (int) test_rng_below(rng, 3);

		/* newest first: the highest seq of the key's versions goes first */
		for (int v = versions - 1; v >= 0; v--)
		{
			Entry	   *x = &e[m + v];

			x->seq = seq++;
			x->kind = (LsmKind) test_rng_below(rng, 3);
			lsm_ikey_append(&x->ikey, users[u], x->seq, x->kind);
			x->user = lsm_ikey_user_key(lsm_buf_slice(&x->ikey));
			if (x->kind != LSM_KIND_DELETE)
				random_value(rng, &x->value);
		}
		m += versions;
	}
	*n = m;
	return e;
}

static TestKV *
entries_model(const Entry *e, int n)
{
	TestKV	   *m = calloc((size_t) n + 1, sizeof(TestKV));

	for (int i = 0; i < n; i++)
	{
		m[i].key = lsm_buf_slice(&e[i].ikey);
		m[i].value = val(&e[i].value);
	}
	return m;
}

/*
 * Seek targets between, before and after the keys: each user key cut
 * short and extended by 0x00, the empty key and a key above all.  For
 * internal kinds each becomes the seek key of its user key, and each
 * version also gets the probe just after it.
 */
static LsmBuf *
make_probes(const LsmSlice *users, int n_users, const Entry *e, int n_entries,
			bool internal, size_t *n)
{
	LsmBuf	   *p = calloc((size_t) n_users * 2 + n_entries + 2, sizeof(LsmBuf));
	size_t		m = 0;
	static const uint8_t top[MAX_KEY + 1] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
	};
	LsmSlice	user_probes[2];

	for (int u = -1; u < n_users; u++)
	{
		int			k = 0;
		uint8_t		buf[MAX_KEY + 2];

		if (u < 0)
		{
			user_probes[k++] = lsm_slice(top, 0);
			user_probes[k++] = lsm_slice(top, sizeof(top));
		}
		else
		{
			memcpy(buf, users[u].data, users[u].len);
			buf[users[u].len] = 0x00;
			user_probes[k++] = lsm_slice(buf, users[u].len - 1);
			user_probes[k++] = lsm_slice(buf, users[u].len + 1);
		}
		for (int i = 0; i < k; i++)
		{
			if (internal)
				lsm_ikey_append(&p[m++], user_probes[i], LSM_MAX_SEQ, LSM_KIND_FOR_SEEK);
			else
				lsm_buf_set(&p[m++], user_probes[i].data, user_probes[i].len);
		}
	}
	for (int i = 0; internal && i < n_entries; i++)
		lsm_ikey_append(&p[m++], e[i].user, e[i].seq, LSM_KIND_DELETE);
	*n = m;
	return p;
}

static LsmSlice *
slices_of(const LsmBuf *b, size_t n)
{
	LsmSlice   *s = calloc(n + 1, sizeof(LsmSlice));

	for (size_t i = 0; i < n; i++)
		s[i] = lsm_buf_slice(&b[i]);
	return s;
}

/* Shared by the tests below; built once in main. */
static LsmSlice *users;
static int	n_users;
static Entry *entries;
static int	n_entries;
static TestKV *imodel;
static LsmSlice *iprobes;
static size_t n_iprobes;
static LsmSlice *uprobes;
static size_t n_uprobes;

static LsmMemTable *
memtable_of(int from, int step, void **region)
{
	size_t		size = 64 * 1024;
	LsmMemTable *mt;

	for (int i = from; i < n_entries; i += step)
		size += lsm_memtable_entry_size(entries[i].user.len, entries[i].value.len);
	*region = malloc(size);
	mt = lsm_memtable_init(*region, size);
	for (int i = from; mt && i < n_entries; i += step)
		if (!lsm_memtable_add(mt, entries[i].seq, entries[i].kind, entries[i].user,
							  val(&entries[i].value)))
			return NULL;
	return mt;
}

/* The model entries from, from + step, ... */
static TestKV *
strided_model(int from, int step, int *n)
{
	TestKV	   *m = calloc((size_t) n_entries + 1, sizeof(TestKV));
	int			k = 0;

	for (int i = from; i < n_entries; i += step)
		m[k++] = imodel[i];
	*n = k;
	return m;
}

static void
test_memtable_iters(void)
{
	void	   *region;
	LsmMemTable *mt = memtable_of(0, 1, &region);
	LsmMemIter	embedded;
	LsmIter    *it;

	CHECK(mt != NULL);
	it = lsm_memtable_iter_new(mt);
	CHECK(it != NULL);
	if (!test_iter_check(it, imodel, n_entries, iprobes, n_iprobes, lsm_ikey_cmp, seed))
		return;
	lsm_iter_destroy(it);
	lsm_memtable_iter_init(&embedded, mt);
	CHECK(test_iter_check(&embedded.base, imodel, n_entries, iprobes, n_iprobes,
						  lsm_ikey_cmp, seed ^ 1));
	free(region);
}

/* One block of the entries from, from + step, ...; restart_interval r. */
static bool
block_of(int from, int step, int r, LsmBlockBuilder *b, LsmSlice *out)
{
	lsm_block_builder_init(b, r);
	for (int i = from; i < n_entries; i += step)
		if (!lsm_block_builder_add(b, lsm_buf_slice(&entries[i].ikey),
								   val(&entries[i].value)))
			return false;
	return lsm_block_builder_finish(b, out);
}

static void
test_block_iters(void)
{
	static const int restarts[] = {1, 2, 16, 1000};

	for (size_t r = 0; r < sizeof(restarts) / sizeof(restarts[0]); r++)
	{
		LsmBlockBuilder b;
		LsmSlice	block;
		LsmIter    *it;
		int			ok;

		CHECK(block_of(0, 1, restarts[r], &b, &block));
		it = lsm_block_iter_borrowed(block, lsm_ikey_cmp, "test", 0);
		CHECK(it != NULL);
		ok = test_iter_check(it, imodel, n_entries, iprobes, n_iprobes, lsm_ikey_cmp,
							 seed ^ r);
		lsm_iter_destroy(it);
		lsm_block_builder_free(&b);
		CHECK(ok);
	}
}

/* An SSTable of the entries [from, to) of the model at path. */
static LsmCode
write_table(const char *path, int from, int to, size_t block_size, LsmStatus *st)
{
	LsmOptions	o;
	LsmSstOptions to_;
	LsmSstBuilder *b;

	lsm_options_init(&o);
	lsm_sst_options_from(&to_, &o);
	to_.block_size = block_size;
	if (lsm_sst_builder_open(lsm_env_posix(), path, &to_, &b, st) != LSM_OK)
		return st->code;
	for (int i = from; i < to; i++)
		if (lsm_sst_builder_add(b, lsm_buf_slice(&entries[i].ikey),
								  val(&entries[i].value), st) != LSM_OK)
		{
			lsm_sst_builder_abandon(b);
			return st->code;
		}
	return lsm_sst_builder_finish(b, NULL, st);
}

static void
test_sstable_iter(void)
{
	char		dir[256];
	char		path[LSM_PATH_MAX];
	LsmStatus	st;
	LsmSst   *t;
	LsmIter    *it;
	int			ok;

	test_tmpdir(dir, sizeof(dir), "iter_sst");
	CHECK(lsm_file_path(path, dir, LSM_FILE_TABLE, 7));
	/* small blocks: seeks and walks cross many block boundaries */
	CHECK_OK(write_table(path, 0, n_entries, 256, &st), &st);
	CHECK_OK(lsm_sst_open(lsm_env_posix(), path, 7, NULL, &t, &st), &st);
	it = lsm_sst_iter(t, false, NULL);
	CHECK(it != NULL);
	ok = test_iter_check(it, imodel, n_entries, iprobes, n_iprobes, lsm_ikey_cmp, seed);
	lsm_iter_destroy(it);
	lsm_sst_close(t);
	test_rmtree(dir);
	CHECK(ok);
}

/* Four SSTables with disjoint user-key ranges, iterated as one level. */
static void
test_level_iter(void)
{
	char		dir[256];
	char		path[LSM_PATH_MAX];
	LsmStatus	st;
	LsmEnv	   *env = lsm_env_posix();
	LsmMutex   *mu = env->mutex_create(env);
	LsmVersionSet *vs;
	LsmFileMeta **files = lsm_calloc(4, sizeof(LsmFileMeta *));
	int			cut[5] = {0, 0, 0, 0, n_entries};
	LsmIter    *it;
	int			ok;

	test_tmpdir(dir, sizeof(dir), "iter_level");
	vs = lsm_versionset_create(env, dir, mu, NULL);
	CHECK(vs != NULL && files != NULL);
	/* cut at user-key boundaries: no user key in two files */
	for (int f = 1; f < 4; f++)
	{
		int			c = n_entries * f / 4;

		while (c > cut[f - 1] && c < n_entries &&
			   lsm_slice_eq(entries[c - 1].user, entries[c].user))
			c++;
		cut[f] = c;
	}
	for (int f = 0; f < 4; f++)
	{
		files[f] = lsm_calloc(1, sizeof(LsmFileMeta));
		files[f]->number = 10 + f;
		files[f]->level = 1;
		files[f]->refs = 1;
		CHECK(lsm_file_path(path, dir, LSM_FILE_TABLE, files[f]->number));
		CHECK_OK(write_table(path, cut[f], cut[f + 1], 512, &st), &st);
		if (cut[f + 1] > cut[f])
		{
			lsm_buf_set(&files[f]->smallest, entries[cut[f]].ikey.data, entries[cut[f]].ikey.len);
			lsm_buf_set(&files[f]->largest, entries[cut[f + 1] - 1].ikey.data,
						entries[cut[f + 1] - 1].ikey.len);
		}
	}
	CHECK(cut[1] > 0 && cut[2] > cut[1] && cut[3] > cut[2] && n_entries > cut[3]);
	it = lsm_files_iter(vs, files, 4, false, NULL);
	CHECK(it != NULL);
	ok = test_iter_check(it, imodel, n_entries, iprobes, n_iprobes, lsm_ikey_cmp, seed);
	lsm_iter_destroy(it);
	lsm_versionset_free_files(files, 4);
	lsm_versionset_destroy(vs);
	env->mutex_destroy(mu);
	test_rmtree(dir);
	CHECK(ok);
}

/*
 * A merging iterator over one child of each kind (memtable, block, SSTable,
 * empty), every third entry in each: the merge must interleave them.
 */
static void
test_merging_iter(void)
{
	char		dir[256];
	char		path[LSM_PATH_MAX];
	LsmStatus	st;
	void	   *region;
	LsmMemTable *mt = memtable_of(0, 3, &region);
	LsmBlockBuilder b;
	LsmSlice	block;
	LsmSst   *t;
	LsmIter    *kids[4];
	LsmIter    *it;
	Entry	   *saved = entries;
	int			saved_n = n_entries;
	Entry	   *third;
	int			n_third = 0;
	int			ok;

	CHECK(mt != NULL);
	CHECK(block_of(1, 3, 16, &b, &block));

	/* the SSTable holds entries 2, 5, 8, ...: write_table takes a range */
	third = calloc((size_t) n_entries / 3 + 1, sizeof(Entry));
	for (int i = 2; i < n_entries; i += 3)
		third[n_third++] = entries[i];
	entries = third;
	n_entries = n_third;
	test_tmpdir(dir, sizeof(dir), "iter_merge");
	CHECK(lsm_file_path(path, dir, LSM_FILE_TABLE, 3));
	ok = write_table(path, 0, n_third, 256, &st) == LSM_OK;
	entries = saved;
	n_entries = saved_n;
	free(third);
	CHECK(ok);
	CHECK_OK(lsm_sst_open(lsm_env_posix(), path, 3, NULL, &t, &st), &st);

	kids[0] = lsm_memtable_iter_new(mt);
	kids[1] = lsm_block_iter_borrowed(block, lsm_ikey_cmp, "test", 0);
	kids[2] = lsm_sst_iter(t, false, NULL);
	kids[3] = lsm_iter_empty(NULL);
	it = lsm_merge_iter_new(kids, 4, lsm_ikey_cmp);
	CHECK(it != NULL);
	ok = test_iter_check(it, imodel, n_entries, iprobes, n_iprobes, lsm_ikey_cmp, seed);
	lsm_iter_destroy(it);

	/* and two children, entries split unevenly (one of them a prefix) */
	if (ok)
	{
		int			n_a;
		TestKV	   *a = strided_model(0, 3, &n_a);

		kids[0] = lsm_memtable_iter_new(mt);
		kids[1] = lsm_iter_empty(NULL);
		it = lsm_merge_iter_new(kids, 2, lsm_ikey_cmp);
		ok = it != NULL &&
			test_iter_check(it, a, n_a, iprobes, n_iprobes, lsm_ikey_cmp, seed ^ 2);
		lsm_iter_destroy(it);
		free(a);
	}
	lsm_sst_close(t);
	lsm_block_builder_free(&b);
	free(region);
	test_rmtree(dir);
	CHECK(ok);
}

static LsmCode
write_one(LsmDb *db, LsmKind kind, LsmSlice key, LsmSlice value, LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	LsmCode		rc;

	if (kind == LSM_KIND_DELETE)
		rc = lsm_batch_delete(b, key, st);
	else
		rc = lsm_batch_put(b, key, value, st);
	if (rc == LSM_OK)
		rc = lsm_db_write(db, b, st);
	lsm_batch_destroy(b);
	return rc;
}

/*
 * The database iterator: every user key written, then overwritten or
 * deleted in three rounds that end in level 1, level 0 and the memtable;
 * what it must show is the last round's live keys.  Also with bounds.
 */
static void
test_db_iter(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmDb	   *db;
	LsmStatus	st;
	LsmReadOptions ro;
	LsmIter    *it;
	TestRng		rng = {seed ^ 0xdb};
	LsmBuf	   *final = calloc((size_t) n_users, sizeof(LsmBuf));
	bool	   *live = calloc((size_t) n_users, sizeof(bool));
	TestKV	   *model = calloc((size_t) n_users + 1, sizeof(TestKV));
	int			n = 0;
	int			lo;
	int			hi;
	int			ok;

	test_tmpdir(dir, sizeof(dir), "iter_db");
	lsm_options_init(&o);
	o.write_buffer_size = 1 << 20;
	o.target_file_size = 4096;	/* several files on level 1 */
	o.sync_writes = false;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int round = 0; round < 3; round++)
	{
		for (int u = 0; u < n_users; u++)
		{
			/* a third of the keys keep their state from the round before */
			if (round > 0 && test_rng_below(&rng, 3) == 0)
				continue;
			live[u] = test_rng_below(&rng, 4) != 0;
			random_value(&rng, &final[u]);
			CHECK_OK(write_one(db, live[u] ? LSM_KIND_PUT : LSM_KIND_DELETE, users[u],
							   val(&final[u]), &st), &st);
		}
		if (round == 0)
			CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
		else if (round == 1)
			CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	for (int u = 0; u < n_users; u++)
		if (live[u])
		{
			model[n].key = users[u];
			model[n].value = val(&final[u]);
			n++;
		}

	lsm_read_options_init(&ro);
	CHECK_OK(lsm_db_iter(db, &ro, &it, &st), &st);
	ok = test_iter_check(it, model, n, uprobes, n_uprobes, lsm_slice_cmp, seed);
	lsm_iter_destroy(it);

	/* bounds [model[lo], model[hi]): the iterator shows that slice only */
	lo = n / 4;
	hi = 3 * n / 4;
	ro.lower_bound = model[lo].key;
	ro.upper_bound = model[hi].key;
	if (ok)
	{
		CHECK_OK(lsm_db_iter(db, &ro, &it, &st), &st);
		ok = test_iter_check(it, model + lo, hi - lo, uprobes, n_uprobes, lsm_slice_cmp,
							 seed ^ 3);
		lsm_iter_destroy(it);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	for (int u = 0; u < n_users; u++)
		lsm_buf_free(&final[u]);
	free(final);
	free(live);
	free(model);
	test_rmtree(dir);
	CHECK(ok);
}

static void
test_empty_iter(void)
{
	LsmIter    *it = lsm_iter_empty(NULL);
	int			ok;

	CHECK(it != NULL);
	ok = test_iter_check(it, NULL, 0, uprobes, n_uprobes, lsm_slice_cmp, seed);
	lsm_iter_destroy(it);
	CHECK(ok);
}

int
main(void)
{
	TestRng		rng;
	LsmBuf	   *ip;
	LsmBuf	   *up;
	int			rc;

	seed = test_seed("iterator conformance");
	rng.s = seed;
	users = make_user_keys(&rng, &n_users);
	entries = make_entries(&rng, users, n_users, &n_entries);
	imodel = entries_model(entries, n_entries);
	ip = make_probes(users, n_users, entries, n_entries, true, &n_iprobes);
	up = make_probes(users, n_users, entries, n_entries, false, &n_uprobes);
	iprobes = slices_of(ip, n_iprobes);
	uprobes = slices_of(up, n_uprobes);

	RUN(test_memtable_iters);
	RUN(test_block_iters);
	RUN(test_sstable_iter);
	RUN(test_level_iter);
	RUN(test_merging_iter);
	RUN(test_db_iter);
	RUN(test_empty_iter);
	rc = test_finish();

	for (size_t i = 0; i < n_iprobes; i++)
		lsm_buf_free(&ip[i]);
	for (size_t i = 0; i < n_uprobes; i++)
		lsm_buf_free(&up[i]);
	for (int i = 0; i < n_entries; i++)
	{
		lsm_buf_free(&entries[i].ikey);
		lsm_buf_free(&entries[i].value);
	}
	for (int i = 0; i < n_users; i++)
		free((void *) users[i].data);
	free(ip);
	free(up);
	free(iprobes);
	free(uprobes);
	free(imodel);
	free(entries);
	free(users);
	return rc;
}
