/*
 * test_db_random.c
 *		A seeded random walk over the whole database API, checked step by
 *		step against a simple in-memory model: batches of puts, deletes and
 *		int64 merges, point gets, bounded scans in both directions with
 *		seeks and direction switches, flushes, snapshots held and checked
 *		later, iterators held across writes and flushes, and close/reopen.
 *
 * It runs under four configurations: random table options with the
 * default compaction settings, and three with tiny write buffers and
 * compaction targets and heavier deletes, so that compaction runs all the
 * time and reaches deep levels: leveled, tiered, and leveled driven step
 * by step through the pick / run / install API (as background workers
 * would) instead of automatically.  Manual range compactions are mixed
 * in; the version invariants are checked after every step that
 * compacted, and each compaction configuration must reach level 3 and
 * have at least three sorted runs at some point.
 *
 * The model keeps, per key, the history of its state after every write
 * (sequence number, exists, value), so a read at any snapshot is a binary
 * search.  Keys come in two families so that merges always meet integer
 * values: "c..." keys get 8-byte integer puts, merges and deletes; "b..."
 * keys get byte-string puts of varied length and deletes.
 *
 * The first difference fails the test with the seed, the step and the
 * operation.  LSM_TEST_SEED replays a run, LSM_TEST_ITERS makes it longer.
 */
#include "testutil.h"
#include "fault_env.h"

#include "db_internal.h"
#include "lsm.h"

#define NKEYS 600
#define MAX_SNAPS 6

typedef struct Hist
{
	LsmSeq		seq;
	bool		exists;
	LsmBuf		val;
} Hist;

typedef struct MKey
{
	char		name[16];
	bool		counter;
	Hist	   *h;
	int			n;
	int			cap;
} MKey;

typedef struct Model
{
	MKey		keys[NKEYS];	/* sorted by name */
	LsmSeq		seq;			/* last sequence number assigned */
} Model;

typedef struct Held
{
	LsmSnapshot *snap;
	LsmSeq		seq;
} Held;

/* The test's state, so helpers can report where a failure happened. */
typedef struct Run
{
	uint64_t	seed;
	TestRng		rng;
	long		step;
	const char *op;
	Model		m;
	LsmDb	   *db;
	LsmOptions	opts;
	char		dir[256];
	Held		snaps[MAX_SNAPS];
	int			nsnaps;
	LsmBuf		scratch;
	int			delete_pct;		/* share of deletes in writes */
	bool		drive;			/* compactions are run by do_compact */
	uint64_t	compactions;	/* seen so far, for the invariant checks */
	int			deepest;		/* deepest level that held a file */
	uint64_t	max_runs;		/* most sorted runs at once */
	uint64_t	total_compactions;
	LsmEnv	   *env;			/* POSIX without real fsyncs (fault_env.h) */
} Run;

static int
mkey_cmp(const void *a, const void *b)
{
	return strcmp(((const MKey *) a)->name, ((const MKey *) b)->name);
}

static void
model_init(Model *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < NKEYS; i++)
	{
		/* interleave the families so scans cross both */
		snprintf(m->keys[i].name, sizeof(m->keys[i].name), "%c%04d",
				 i % 3 == 0 ? 'c' : 'b', (i * 7919) % 10000);
		m->keys[i].counter = i % 3 == 0;
	}
	qsort(m->keys, NKEYS, sizeof(MKey), mkey_cmp);
}

static void
model_free(Model *m)
{
	for (int i = 0; i < NKEYS; i++)
	{
		for (int j = 0; j < m->keys[i].n; j++)
			lsm_buf_free(&m->keys[i].h[j].val);
		free(m->keys[i].h);
	}
}

/* The state of key k at snapshot seq: NULL when absent. */
static const LsmBuf *
model_get(const MKey *k, LsmSeq seq)
{
	int			lo = 0;
	int			hi = k->n;

	/* last history entry with h.seq <= seq */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (k->h[mid].seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || !k->h[lo - 1].exists)
		return NULL;
	return &k->h[lo - 1].val;
}

static void
model_push(MKey *k, LsmSeq seq, bool exists, const void *v, size_t len)
{
	Hist	   *h;

	if (k->n == k->cap)
	{
		k->cap = k->cap ? k->cap * 2 : 4;
		k->h = realloc(k->h, (size_t) k->cap * sizeof(Hist));
	}
	h = &k->h[k->n++];
	memset(h, 0, sizeof(*h));
	h->seq = seq;
	h->exists = exists;
	if (exists)
		lsm_buf_set(&h->val, v, len);
}

static void
model_apply(MKey *k, LsmSeq seq, LsmKind kind, LsmSlice v)
{
	if (kind == LSM_KIND_PUT)
		model_push(k, seq, true, v.data, v.len);
	else if (kind == LSM_KIND_DELETE)
		model_push(k, seq, false, NULL, 0);
	else
	{
		const LsmBuf *cur = model_get(k, seq - 1);
		int64_t		sum = (int64_t) lsm_get_fixed64(v.data);
		uint8_t		enc[8];

		if (cur != NULL)
			sum += (int64_t) lsm_get_fixed64(cur->data);
		lsm_put_fixed64(enc, (uint64_t) sum);
		model_push(k, seq, true, enc, 8);
	}
}

#define FAIL(r, ...) \
	do { \
		fprintf(stderr, "  seed %llu step %ld op %s: ", \
				(unsigned long long) (r)->seed, (r)->step, (r)->op); \
		fprintf(stderr, __VA_ARGS__); \
		fprintf(stderr, "\n"); \
		return 0; \
	} while (0)

static void
fmt_val(char *out, size_t len, LsmSlice v)
{
	size_t		o = 0;

	for (size_t i = 0; i < v.len && o + 4 < len; i++)
		o += snprintf(out + o, len - o, "%02x", v.data[i]);
	if (o == 0 && len > 0)
		out[0] = '\0';
}

/*
 * Writes
 */

static int
do_write(Run *r)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	int			n = 1 + (int) test_rng_below(&r->rng, test_rng_below(&r->rng, 8) == 0 ? 60 : 4);
	int			idx[64];
	LsmKind		kinds[64];
	LsmBuf		vals[64];
	LsmSeq		first;

	r->op = "write";
	for (int i = 0; i < n; i++)
	{
		MKey	   *k;
		int			roll = (int) test_rng_below(&r->rng, 10);

		idx[i] = (int) test_rng_below(&r->rng, NKEYS);
		k = &r->m.keys[idx[i]];
		memset(&vals[i], 0, sizeof(LsmBuf));
		if (roll * 10 < r->delete_pct)
		{
			kinds[i] = LSM_KIND_DELETE;
			lsm_batch_delete(b, lsm_slice_str(k->name), &st);
		}
		else if (k->counter && roll < 7)
		{
			uint8_t		enc[8];

			kinds[i] = LSM_KIND_MERGE;
			lsm_put_fixed64(enc, (uint64_t) (int64_t) ((int) test_rng_below(&r->rng, 2001) - 1000));
			lsm_buf_set(&vals[i], enc, 8);
			lsm_batch_merge(b, lsm_slice_str(k->name), lsm_buf_slice(&vals[i]), &st);
		}
		else
		{
			kinds[i] = LSM_KIND_PUT;
			if (k->counter)
			{
				uint8_t		enc[8];

				lsm_put_fixed64(enc, (uint64_t) (int64_t) ((int) test_rng_below(&r->rng, 2000001) - 1000000));
				lsm_buf_set(&vals[i], enc, 8);
			}
			else
			{
				size_t		len = test_rng_below(&r->rng, 20) == 0 ?
					test_rng_below(&r->rng, 3000) : test_rng_below(&r->rng, 120);

				lsm_buf_reserve(&vals[i], len + 1);
				for (size_t j = 0; j < len; j++)
					vals[i].data[j] = (uint8_t) test_rng_next(&r->rng);
				vals[i].len = len;
			}
			lsm_batch_put(b, lsm_slice_str(k->name), lsm_buf_slice(&vals[i]), &st);
		}
	}
	if (lsm_db_write(r->db, b, &st) != LSM_OK)
	{
		lsm_batch_destroy(b);
		FAIL(r, "write failed: %s", st.msg);
	}
	lsm_batch_destroy(b);
	first = r->m.seq + 1;
	for (int i = 0; i < n; i++)
	{
		model_apply(&r->m.keys[idx[i]], first + (LsmSeq) i, kinds[i], lsm_buf_slice(&vals[i]));
		lsm_buf_free(&vals[i]);
	}
	r->m.seq += (LsmSeq) n;
	return 1;
}

/*
 * Reads
 */

/* A snapshot to read at: latest (NULL) or a held one. */
static const Held *
pick_snapshot(Run *r)
{
	if (r->nsnaps == 0 || test_rng_below(&r->rng, 2) == 0)
		return NULL;
	return &r->snaps[test_rng_below(&r->rng, (uint64_t) r->nsnaps)];
}

static int
do_get(Run *r)
{
	const Held *h = pick_snapshot(r);
	MKey	   *k = &r->m.keys[test_rng_below(&r->rng, NKEYS)];
	LsmSeq		seq = h ? h->seq : r->m.seq;
	const LsmBuf *want = model_get(k, seq);
	LsmReadOptions ro;
	LsmStatus	st;
	LsmCode		rc;

	r->op = h ? "get@snapshot" : "get";
	lsm_read_options_init(&ro);
	ro.snapshot = h ? h->snap : NULL;
	lsm_buf_reset(&r->scratch);
	rc = lsm_db_get(r->db, &ro, lsm_slice_str(k->name), &r->scratch, &st);
	if (want == NULL)
	{
		if (rc != LSM_NOT_FOUND)
			FAIL(r, "get %s at %llu: want absent, got %s (%s)", k->name,
				 (unsigned long long) seq, lsm_code_name(rc), st.msg);
		return 1;
	}
	if (rc != LSM_OK)
		FAIL(r, "get %s at %llu: want a value, got %s (%s)", k->name,
			 (unsigned long long) seq, lsm_code_name(rc), rc == LSM_NOT_FOUND ? "" : st.msg);
	if (!lsm_slice_eq(lsm_buf_slice(want), lsm_buf_slice(&r->scratch)))
	{
		char		a[64];
		char		b[64];

		fmt_val(a, sizeof(a), lsm_buf_slice(want));
		fmt_val(b, sizeof(b), lsm_buf_slice(&r->scratch));
		FAIL(r, "get %s at %llu: want %s, got %s", k->name, (unsigned long long) seq, a, b);
	}
	return 1;
}

/* Indexes of the keys live at seq inside [lo, hi) (bounds are key indexes). */
static int
model_live(Run *r, LsmSeq seq, int lo, int hi, int *out)
{
	int			n = 0;

	for (int i = lo; i < hi; i++)
		if (model_get(&r->m.keys[i], seq) != NULL)
			out[n++] = i;
	return n;
}

/* A random bound: a key name, or a string between two keys. */
static void
random_bound(Run *r, char *buf, size_t len, int *key_index)
{
	int			i = (int) test_rng_below(&r->rng, NKEYS + 1);

	if (i == NKEYS)
	{
		snprintf(buf, len, "zzz");
		*key_index = NKEYS;
		return;
	}
	snprintf(buf, len, "%s", r->m.keys[i].name);
	*key_index = i;
	if (test_rng_below(&r->rng, 3) == 0)
	{
		/* just after key i: the first key index above is i + 1 */
		strncat(buf, "!", len - strlen(buf) - 1);
		*key_index = i + 1;
	}
}

/* Does the iterator sit at live[pos] (or is it invalid when pos is out)? */
static int
check_pos(Run *r, LsmIter *it, LsmSeq seq, const int *live, int nlive, int pos,
		  const char *what)
{
	LsmStatus	st;

	if (pos < 0 || pos >= nlive)
	{
		if (lsm_iter_valid(it))
			FAIL(r, "%s: want end, got key %.*s", what, (int) lsm_iter_key(it).len,
				 (const char *) lsm_iter_key(it).data);
		if (lsm_iter_status(it, &st) != LSM_OK)
			FAIL(r, "%s: iterator error %s", what, st.msg);
		return 1;
	}
	if (!lsm_iter_valid(it))
	{
		lsm_status_clear(&st);
		lsm_iter_status(it, &st);
		FAIL(r, "%s: want key %s, iterator ended (%s)", what,
			 r->m.keys[live[pos]].name, st.msg);
	}
	if (!lsm_slice_eq(lsm_iter_key(it), lsm_slice_str(r->m.keys[live[pos]].name)))
		FAIL(r, "%s: want key %s, got %.*s", what, r->m.keys[live[pos]].name,
			 (int) lsm_iter_key(it).len, (const char *) lsm_iter_key(it).data);
	if (!lsm_slice_eq(lsm_iter_value(it), lsm_buf_slice(model_get(&r->m.keys[live[pos]], seq))))
		FAIL(r, "%s: wrong value for key %s", what, r->m.keys[live[pos]].name);
	return 1;
}

/*
 * walk
 *		Random seeks and steps on an iterator reading at seq over [lo, hi)
 *		(key indexes lo_i, hi_i), each checked against the model.
 */
static int
walk(Run *r, LsmIter *it, LsmSeq seq, int lo_i, int hi_i, int steps)
{
	int		   *live = malloc(sizeof(int) * NKEYS);
	int			nlive = model_live(r, seq, lo_i, hi_i, live);
	int			pos = -1;
	int			ok = 1;

	for (int s = 0; ok && s < steps; s++)
	{
		int			roll = (int) test_rng_below(&r->rng, 20);

		if (s == 0 || roll == 0)
		{
			if (test_rng_below(&r->rng, 2))
			{
				lsm_iter_seek_first(it);
				pos = 0;
			}
			else
			{
				lsm_iter_seek_last(it);
				pos = nlive - 1;
			}
			ok = check_pos(r, it, seq, live, nlive, pos, "seek_first/last");
		}
		else if (roll == 1)
		{
			char		t[32];
			int			ti;

			random_bound(r, t, sizeof(t), &ti);
			lsm_iter_seek(it, lsm_slice_str(t));
			for (pos = 0; pos < nlive && live[pos] < ti; pos++)
				;
			ok = check_pos(r, it, seq, live, nlive, pos, "seek");
		}
		else if (pos >= 0 && pos < nlive)
		{
			/* long runs one way, with occasional switches */
			bool		fwd = (s / 7) % 2 == 0 ? roll < 16 : roll < 5;

			if (fwd)
			{
				lsm_iter_next(it);
				pos++;
			}
			else
			{
				lsm_iter_prev(it);
				pos--;
			}
			ok = check_pos(r, it, seq, live, nlive, pos, fwd ? "next" : "prev");
		}
	}
	free(live);
	return ok;
}

static int
do_scan(Run *r)
{
	const Held *h = pick_snapshot(r);
	LsmSeq		seq = h ? h->seq : r->m.seq;
	LsmReadOptions ro;
	LsmIter    *it;
	LsmStatus	st;
	char		lo[32];
	char		hi[32];
	int			lo_i = 0;
	int			hi_i = NKEYS;
	int			ok;

	r->op = h ? "scan@snapshot" : "scan";
	lsm_read_options_init(&ro);
	ro.snapshot = h ? h->snap : NULL;
	ro.fill_cache = test_rng_below(&r->rng, 4) != 0;
	if (test_rng_below(&r->rng, 3) != 0)
	{
		random_bound(r, lo, sizeof(lo), &lo_i);
		ro.lower_bound = lsm_slice_str(lo);
	}
	if (test_rng_below(&r->rng, 3) != 0)
	{
		random_bound(r, hi, sizeof(hi), &hi_i);
		ro.upper_bound = lsm_slice_str(hi);
	}
	if (hi_i < lo_i)
		hi_i = lo_i;
	if (lsm_db_iter(r->db, &ro, &it, &st) != LSM_OK)
		FAIL(r, "iterator: %s", st.msg);
	ok = walk(r, it, seq, lo_i, hi_i, 10 + (int) test_rng_below(&r->rng, 80));
	lsm_iter_destroy(it);
	return ok;
}

/*
 * Snapshots, flush, reopen
 */

static void
do_snapshot(Run *r)
{
	r->op = "snapshot";
	if (r->nsnaps == MAX_SNAPS || (r->nsnaps > 0 && test_rng_below(&r->rng, 2)))
	{
		int			i = (int) test_rng_below(&r->rng, (uint64_t) r->nsnaps);

		lsm_db_release_snapshot(r->db, r->snaps[i].snap);
		r->snaps[i] = r->snaps[--r->nsnaps];
		return;
	}
	r->snaps[r->nsnaps].snap = lsm_db_snapshot(r->db);
	r->snaps[r->nsnaps].seq = r->m.seq;
	r->nsnaps++;
}

static int
check_snapshot_seqs(Run *r)
{
	LsmDbStats	s;

	lsm_db_stats(r->db, &s);
	if (s.last_seq != r->m.seq)
		FAIL(r, "last_seq %llu, model %llu", (unsigned long long) s.last_seq,
			 (unsigned long long) r->m.seq);
	for (int i = 0; i < r->nsnaps; i++)
		if (lsm_snapshot_seq(r->snaps[i].snap) != r->snaps[i].seq)
			FAIL(r, "snapshot seq %llu, model %llu",
				 (unsigned long long) lsm_snapshot_seq(r->snaps[i].snap),
				 (unsigned long long) r->snaps[i].seq);
	return 1;
}

static int
do_flush(Run *r)
{
	LsmStatus	st;

	r->op = "flush";
	if (lsm_db_flush(r->db, &st) != LSM_OK)
		FAIL(r, "flush: %s", st.msg);
	return 1;
}

static int
do_reopen(Run *r)
{
	LsmStatus	st;
	LsmRecoveryReport rep;

	r->op = "reopen";
	while (r->nsnaps > 0)
		lsm_db_release_snapshot(r->db, r->snaps[--r->nsnaps].snap);
	if (lsm_db_close(r->db, &st) != LSM_OK)
		FAIL(r, "close: %s", st.msg);
	r->db = NULL;
	if (lsm_db_open(&r->opts, r->dir, &r->db, &st) != LSM_OK)
		FAIL(r, "open: %s", st.msg);
	lsm_db_recovery_report(r->db, &rep);
	if (rep.tail_was_torn || rep.bytes_dropped != 0)
		FAIL(r, "clean reopen reported a torn WAL");
	return check_snapshot_seqs(r);
}

/*
 * An iterator opened now, used after more writes and a flush, must still
 * show the state of when it was opened.
 */
static int
do_held_iterator(Run *r)
{
	LsmIter    *it;
	LsmStatus	st;
	LsmSeq		seq = r->m.seq;
	int			ok = 1;
	int			writes = 1 + (int) test_rng_below(&r->rng, 30);

	r->op = "held-iterator";
	if (lsm_db_iter(r->db, NULL, &it, &st) != LSM_OK)
		FAIL(r, "iterator: %s", st.msg);
	for (int i = 0; ok && i < writes; i++)
		ok = do_write(r);
	if (ok && test_rng_below(&r->rng, 2))
		ok = do_flush(r);
	r->op = "held-iterator";
	if (ok)
		ok = walk(r, it, seq, 0, NKEYS, 60);
	lsm_iter_destroy(it);
	return ok;
}

/*
 * Compaction
 */

/* A manual compaction of a random range (bounds may be open). */
static int
do_compact_range(Run *r)
{
	LsmStatus	st;
	char		lo[32];
	char		hi[32];
	int			lo_i = 0;
	int			hi_i = NKEYS;
	LsmSlice	lower = lsm_slice(NULL, 0);
	LsmSlice	upper = lsm_slice(NULL, 0);

	r->op = "compact_range";
	if (test_rng_below(&r->rng, 3) != 0)
	{
		random_bound(r, lo, sizeof(lo), &lo_i);
		lower = lsm_slice_str(lo);
	}
	if (test_rng_below(&r->rng, 3) != 0)
	{
		random_bound(r, hi, sizeof(hi), &hi_i);
		upper = lsm_slice_str(hi);
	}
	if (lsm_db_compact_range(r->db, lower, upper, &st) != LSM_OK)
		FAIL(r, "compact_range: %s", st.msg);
	return 1;
}

/*
 * do_compact
 *		What a background worker does, in steps: pick, run, install and
 *		release, sometimes with reads and writes between run and install
 *		(a run holds no lock), sometimes giving up before install.
 */
static int
do_compact(Run *r)
{
	LsmCompaction *c;
	LsmStatus	st;
	LsmCode		rc;
	int			ok = 1;

	r->op = "compaction";
	rc = lsm_db_compaction_pick(r->db, &c, &st);
	if (rc == LSM_NOT_FOUND)
		return 1;
	if (rc != LSM_OK)
		FAIL(r, "pick: %s", st.msg);
	rc = lsm_compaction_run(c, &st);
	if (rc != LSM_OK)
	{
		lsm_compaction_release(c);
		FAIL(r, "compaction run: %s", st.msg);
	}
	/*
	 * The world goes on between run and install, but a write that level 0
	 * could stop would wait for this compaction, which only this thread
	 * can install: then a get instead.
	 */
	for (int i = (int) test_rng_below(&r->rng, 4); ok && i > 0; i--)
	{
		LsmDbStats	s;

		lsm_db_stats(r->db, &s);
		if (test_rng_below(&r->rng, 2) &&
			(r->opts.l0_stop_writes_trigger == 0 ||
			 s.files_per_level[0] + 1 < (uint64_t) r->opts.l0_stop_writes_trigger))
			ok = do_write(r);
		else
			ok = do_get(r);
	}
	if (test_rng_below(&r->rng, 20) == 0)
	{
		lsm_compaction_release(c);	/* given up: the outputs go */
		return ok;
	}
	r->op = "compaction";
	rc = lsm_compaction_install(c, &st);
	lsm_compaction_release(c);
	if (rc != LSM_OK)
		FAIL(r, "compaction install: %s", st.msg);
	return ok;
}

/*
 * check_shape
 *		After a step that compacted: the version invariants hold.  Also
 *		note the deepest level in use.
 */
static int
check_shape(Run *r)
{
	LsmDbStats	s;
	LsmVersion *v;
	LsmStatus	st;
	LsmCode		rc;

	lsm_db_stats(r->db, &s);
	for (int l = r->deepest + 1; l < LSM_NUM_LEVELS; l++)
		if (s.files_per_level[l] > 0)
			r->deepest = l;
	if (s.sorted_runs > r->max_runs)
		r->max_runs = s.sorted_runs;
	if (s.compactions == r->compactions)
		return 1;
	/* counters restart at a reopen */
	r->total_compactions += s.compactions > r->compactions ?
		s.compactions - r->compactions : s.compactions;
	r->compactions = s.compactions;
	r->db->env->mutex_lock(r->db->mu);
	v = lsm_versionset_current(r->db->vs);
	r->db->env->mutex_unlock(r->db->mu);
	rc = lsm_version_check_invariants(v, &st);
	r->db->env->mutex_lock(r->db->mu);
	lsm_version_unref(v);
	r->db->env->mutex_unlock(r->db->mu);
	if (rc != LSM_OK)
		FAIL(r, "after a compaction: %s", st.msg);
	return 1;
}

typedef enum Config
{
	CONFIG_DEFAULT,				/* random table options, default compaction */
	CONFIG_LEVELED,
	CONFIG_TIERED,
	CONFIG_DRIVEN				/* leveled through the step API */
} Config;

static const char *const config_names[] = {"default", "leveled", "tiered", "driven"};

/*
 * run_config
 *		One database under one option set, for steps operations.
 */
static int
run_config(Run *r, Config config, long steps)
{
	LsmStatus	st;

	lsm_options_init(&r->opts);
	r->opts.env = r->env;
	r->opts.sync_writes = false;
	r->opts.write_buffer_size = (size_t) (8 + test_rng_below(&r->rng, 120)) * 1024;
	r->opts.block_size = (size_t) (128 + test_rng_below(&r->rng, 4000));
	r->opts.block_restart_interval = 1 + (int) test_rng_below(&r->rng, 20);
	r->opts.compression = test_rng_below(&r->rng, 2) ? LSM_COMPRESSION_ZSTD : LSM_COMPRESSION_NONE;
	r->opts.bloom_bits_per_key = test_rng_below(&r->rng, 3) ? 10 : 0;
	r->opts.block_cache_size = test_rng_below(&r->rng, 3) ? (size_t) 64 * 1024 : 0;
	r->delete_pct = 20;
	r->drive = false;
	r->compactions = 0;
	r->total_compactions = 0;
	r->deepest = 0;
	r->max_runs = 0;
	if (config != CONFIG_DEFAULT)
	{
		r->delete_pct = 30;
		r->opts.write_buffer_size = (size_t) (8 + test_rng_below(&r->rng, 8)) * 1024;
		r->opts.target_file_size = (uint64_t) (2 + test_rng_below(&r->rng, 6)) * 1024;
		r->opts.max_bytes_for_level_base = (uint64_t) (4 + test_rng_below(&r->rng, 8)) * 1024;
		r->opts.level_size_multiplier = 2 + (int) test_rng_below(&r->rng, 2);
		r->opts.l0_compaction_trigger = 2 + (int) test_rng_below(&r->rng, 3);
		r->opts.compaction_style = config == CONFIG_TIERED ? LSM_COMPACT_TIERED : LSM_COMPACT_LEVELED;
		r->opts.level_dynamic = test_rng_below(&r->rng, 2) != 0;
		if (config == CONFIG_TIERED)
			r->opts.tiered_max_merge_width = 2 + (int) test_rng_below(&r->rng, 6);
		if (config == CONFIG_DRIVEN)
		{
			r->drive = true;
			r->opts.auto_compact = false;
			/* a stop compacts inline; keep it for the rare pile-up */
			r->opts.l0_slowdown_writes_trigger = 0;
			r->opts.l0_stop_writes_trigger = 12;
		}
	}
	printf("  config %s: write_buffer %zu block %zu restart %d %s bloom %d cache %zu",
		   config_names[config], r->opts.write_buffer_size, r->opts.block_size,
		   r->opts.block_restart_interval, r->opts.compression ? "zstd" : "raw",
		   r->opts.bloom_bits_per_key, r->opts.block_cache_size);
	if (config != CONFIG_DEFAULT)
		printf(" file %llu L1 %llu x%d trigger %d%s",
			   (unsigned long long) r->opts.target_file_size,
			   (unsigned long long) r->opts.max_bytes_for_level_base,
			   r->opts.level_size_multiplier, r->opts.l0_compaction_trigger,
			   r->opts.level_dynamic ? " dynamic" : "");
	printf("\n");

	test_tmpdir(r->dir, sizeof(r->dir), "db_random");
	model_init(&r->m);
	r->nsnaps = 0;
	if (lsm_db_open(&r->opts, r->dir, &r->db, &st) != LSM_OK)
	{
		fprintf(stderr, "  open: %s\n", st.msg);
		return 0;
	}
	for (r->step = 0; r->step < steps; r->step++)
	{
		int			roll = (int) test_rng_below(&r->rng, 1000);
		int			ok = 1;

		if (roll < 450)
			ok = do_write(r);
		else if (roll < 750)
			ok = do_get(r);
		else if (roll < 900)
			ok = do_scan(r);
		else if (roll < 950)
			do_snapshot(r);
		else if (roll < 975)
			ok = do_flush(r);
		else if (roll < 990)
			ok = do_held_iterator(r);
		else if (roll < 994)
			ok = do_reopen(r);
		else if (roll < 996)
			ok = do_compact_range(r);
		else
			ok = check_snapshot_seqs(r);
		/* a worker's turn: often enough to keep up with the writes */
		if (ok && r->drive && test_rng_below(&r->rng, 3) == 0)
			ok = do_compact(r);
		if (ok)
			ok = check_shape(r);
		if (!ok)
			break;
	}
	if (r->step == steps)
	{
		LsmDbStats	s;

		/* a last full check: every key at the latest state, after reopen */
		if (!do_reopen(r))
			return 0;
		r->op = "final";
		for (int i = 0; i < NKEYS; i++)
		{
			const LsmBuf *want = model_get(&r->m.keys[i], r->m.seq);
			LsmCode		rc;

			lsm_buf_reset(&r->scratch);
			rc = lsm_db_get(r->db, NULL, lsm_slice_str(r->m.keys[i].name), &r->scratch, &st);
			if ((want == NULL) != (rc == LSM_NOT_FOUND) ||
				(want != NULL && !lsm_slice_eq(lsm_buf_slice(want), lsm_buf_slice(&r->scratch))))
			{
				fprintf(stderr, "  seed %llu final check: key %s differs\n",
						(unsigned long long) r->seed, r->m.keys[i].name);
				r->step = -1;
				break;
			}
		}
		if (r->step >= 0 && lsm_db_verify(r->db, &st) != LSM_OK)
		{
			fprintf(stderr, "  seed %llu verify: %s\n", (unsigned long long) r->seed, st.msg);
			r->step = -1;
		}
		lsm_db_stats(r->db, &s);
		printf("  %ld steps, seq %llu, %llu compactions, deepest level %d, files now:", steps,
			   (unsigned long long) r->m.seq, (unsigned long long) r->total_compactions,
			   r->deepest);
		for (int l = 0; l < LSM_NUM_LEVELS; l++)
			printf(" %llu", (unsigned long long) s.files_per_level[l]);
		printf("\n");
		if (r->step >= 0 && config != CONFIG_DEFAULT &&
			(r->deepest < 3 || r->max_runs < 3))
		{
			fprintf(stderr, "  seed %llu: config %s reached only level %d, %llu runs\n",
					(unsigned long long) r->seed, config_names[config], r->deepest,
					(unsigned long long) r->max_runs);
			r->step = -1;
		}
	}
	while (r->nsnaps > 0)
		lsm_db_release_snapshot(r->db, r->snaps[--r->nsnaps].snap);
	if (r->db != NULL)
		lsm_db_close(r->db, &st);
	model_free(&r->m);
	if (r->step == steps)
		test_rmtree(r->dir);
	else
		fprintf(stderr, "  database left in %s\n", r->dir);
	return r->step == steps;
}

static void
test_random(void)
{
	static Run	r;
	const char *env = getenv("LSM_TEST_ITERS");
	long		steps = env ? atol(env) : 4000;

	memset(&r, 0, sizeof(r));
	r.seed = test_seed("db_random");
	r.rng.s = r.seed;
	r.env = fault_env_new();
	fault_env_set_real_sync(r.env, false);
	for (int config = CONFIG_DEFAULT; config <= CONFIG_DRIVEN; config++)
		CHECK(run_config(&r, (Config) config, steps));
	lsm_buf_free(&r.scratch);
	fault_env_free(r.env);
}

int
main(void)
{
	RUN(test_random);
	return test_finish();
}
