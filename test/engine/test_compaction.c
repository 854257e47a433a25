/*
 * test_compaction.c
 *		Compaction end to end:
 *
 *	- the shape leveled and tiered compaction give a database written with
 *	  small buffers and targets (levels, sizes, runs), with its contents
 *	  checked against a model and the version invariants after every step;
 *	- what compaction may drop: shadowed versions, tombstones, merge
 *	  operands, and what it must keep for snapshots and for the host's
 *	  external horizon;
 *	- lsm_db_compact_range over bounded and unbounded ranges;
 *	- space amplification after rewriting a data set several times;
 *	- the pick / run / install / release API, driven by worker threads
 *	  while a writer writes and readers scan and get: no reader may ever
 *	  see a key missing, duplicated or resurrected;
 *	- write stalls (slowdown and stop) and their counters;
 *	- refused options.
 *
 * LSM_TEST_ITERS scales the randomised parts; LSM_TEST_SEED replays them.
 */
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>

#include "testutil.h"
#include "fault_env.h"

#include "db_internal.h"
#include "lsm.h"

/* The POSIX env without real fsyncs (fault_env.h); set up by main. */
static LsmEnv *fast_env;

/*
 * Helpers
 */

static long
iters(long dflt)
{
	const char *e = getenv("LSM_TEST_ITERS");

	return e ? dflt * atol(e) / 4000 + 1 : dflt;
}

/* Small buffers and targets, so a few thousand writes reach deep levels. */
static LsmOptions
small_opts(LsmCompactStyle style)
{
	LsmOptions	o;

	lsm_options_init(&o);
	o.env = fast_env;
	o.sync_writes = false;
	o.write_buffer_size = 16 * 1024;
	o.block_size = 1024;
	o.block_cache_size = 256 * 1024;
	o.compaction_style = style;
	o.target_file_size = 8 * 1024;
	o.max_bytes_for_level_base = 16 * 1024;
	o.level_size_multiplier = 4;
	o.l0_compaction_trigger = 4;
	return o;
}

static void
key_name(char *buf, size_t len, int k)
{
	snprintf(buf, len, "key%06d", k);
}

static int
put(LsmDb *db, const char *k, LsmSlice v)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmCode		rc;

	lsm_batch_put(b, lsm_slice_str(k), v, &st);
	rc = lsm_db_write(db, b, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  put %s: %s\n", k, st.msg);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

static int
del(LsmDb *db, const char *k)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmCode		rc;

	lsm_batch_delete(b, lsm_slice_str(k), &st);
	rc = lsm_db_write(db, b, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  delete %s: %s\n", k, st.msg);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

static int
add(LsmDb *db, const char *k, int64_t n)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	uint8_t		enc[8];
	LsmCode		rc;

	lsm_put_fixed64(enc, (uint64_t) n);
	lsm_batch_merge(b, lsm_slice_str(k), lsm_slice(enc, 8), &st);
	rc = lsm_db_write(db, b, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  merge %s: %s\n", k, st.msg);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

/* The int64 value of a counter key at snap; INT64_MIN when absent. */
static int64_t
get_counter(LsmDb *db, const LsmSnapshot *snap, const char *k)
{
	LsmReadOptions ro;
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	int64_t		r = INT64_MIN;

	lsm_read_options_init(&ro);
	ro.snapshot = snap;
	if (lsm_db_get(db, &ro, lsm_slice_str(k), &v, &st) == LSM_OK && v.len == 8)
		r = (int64_t) lsm_get_fixed64(v.data);
	lsm_buf_free(&v);
	return r;
}

/* Value of k at snap as a string, "<none>" when absent, "<err>" on error. */
static const char *
get_str(LsmDb *db, const LsmSnapshot *snap, const char *k)
{
	static char out[512];
	LsmReadOptions ro;
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmCode		rc;

	lsm_read_options_init(&ro);
	ro.snapshot = snap;
	rc = lsm_db_get(db, &ro, lsm_slice_str(k), &v, &st);
	if (rc == LSM_NOT_FOUND)
		snprintf(out, sizeof(out), "<none>");
	else if (rc != LSM_OK)
		snprintf(out, sizeof(out), "<err>");
	else
		snprintf(out, sizeof(out), "%.*s", (int) v.len, (const char *) v.data);
	lsm_buf_free(&v);
	return out;
}

/* The version invariants of the current version. */
static int
invariants_hold(LsmDb *db)
{
	LsmVersion *v;
	LsmStatus	st;
	LsmCode		rc;

	db->env->mutex_lock(db->mu);
	v = lsm_versionset_current(db->vs);
	db->env->mutex_unlock(db->mu);
	rc = lsm_version_check_invariants(v, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  invariants: %s\n", st.msg);
	db->env->mutex_lock(db->mu);
	lsm_version_unref(v);
	db->env->mutex_unlock(db->mu);
	return rc == LSM_OK;
}

/*
 * Move every file of level from to level to (a trivial move), through the
 * internal edit API; the caller makes sure the result is a valid version.
 */
static int
move_level(LsmDb *db, int from, int to)
{
	LsmVersionEdit e;
	LsmVersion *v;
	LsmStatus	st;
	LsmCode		rc;

	db->env->mutex_lock(db->mu);
	v = lsm_versionset_current(db->vs);
	db->env->mutex_unlock(db->mu);
	lsm_edit_init(&e);
	for (int i = 0; i < v->n_files[from]; i++)
	{
		lsm_edit_delete_file(&e, from, v->files[from][i]->number, &st);
		lsm_edit_add_file(&e, to, v->files[from][i], &st);
	}
	rc = lsm_db_apply_edit(db, &e, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  move level %d to %d: %s\n", from, to, st.msg);
	lsm_edit_free(&e);
	db->env->mutex_lock(db->mu);
	lsm_version_unref(v);
	db->env->mutex_unlock(db->mu);
	return rc == LSM_OK;
}

/* Bytes of every .sst file in dir, and how many there are. */
static uint64_t
sst_bytes(const char *dir, int *count)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	uint64_t	sum = 0;
	int			n = 0;

	while (d && (e = readdir(d)) != NULL)
	{
		size_t		l = strlen(e->d_name);
		char		path[600];
		struct stat sb;

		if (l <= 4 || strcmp(e->d_name + l - 4, ".sst") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &sb) == 0)
		{
			sum += (uint64_t) sb.st_size;
			n++;
		}
	}
	if (d)
		closedir(d);
	if (count)
		*count = n;
	return sum;
}

static int
deepest_level(const LsmDbStats *s)
{
	int			deepest = 0;

	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		if (s->files_per_level[l] > 0)
			deepest = l;
	return deepest;
}

/*
 * A model of string values over NK keys, checked by gets and a full scan.
 */
#define NK 3000

typedef struct Model
{
	bool		exists[NK];
	LsmBuf		val[NK];
} Model;

static void
model_free(Model *m)
{
	for (int i = 0; i < NK; i++)
		lsm_buf_free(&m->val[i]);
}

static int
db_matches(LsmDb *db, const Model *m, int nkeys)
{
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmIter    *it;
	char		k[32];
	int			next = 0;
	int			ok = 1;

	for (int i = 0; ok && i < nkeys; i++)
	{
		LsmCode		rc;

		key_name(k, sizeof(k), i);
		rc = lsm_db_get(db, NULL, lsm_slice_str(k), &v, &st);
		if (m->exists[i] ? (rc != LSM_OK || !lsm_slice_eq(lsm_buf_slice(&v), lsm_buf_slice(&m->val[i])))
			: rc != LSM_NOT_FOUND)
		{
			fprintf(stderr, "  get %s: %s, model says %s\n", k, lsm_code_name(rc),
					m->exists[i] ? "present" : "absent");
			ok = 0;
		}
	}
	if (!ok || lsm_db_iter(db, NULL, &it, &st) != LSM_OK)
	{
		lsm_buf_free(&v);
		return 0;
	}
	for (lsm_iter_seek_first(it); ok && lsm_iter_valid(it); lsm_iter_next(it))
	{
		while (next < nkeys && !m->exists[next])
			next++;
		key_name(k, sizeof(k), next);
		if (next == nkeys || !lsm_slice_eq(lsm_iter_key(it), lsm_slice_str(k)) ||
			!lsm_slice_eq(lsm_iter_value(it), lsm_buf_slice(&m->val[next])))
		{
			fprintf(stderr, "  scan differs at model key %d\n", next);
			ok = 0;
		}
		next++;
	}
	if (ok && lsm_iter_status(it, &st) != LSM_OK)
	{
		fprintf(stderr, "  scan: %s\n", st.msg);
		ok = 0;
	}
	while (ok && next < nkeys && !m->exists[next])
		next++;
	if (ok && next != nkeys)
	{
		fprintf(stderr, "  scan ended before model key %d\n", next);
		ok = 0;
	}
	lsm_iter_destroy(it);
	lsm_buf_free(&v);
	return ok;
}

/* Put or delete a random key (values of random length, compressible). */
static int
random_op(LsmDb *db, Model *m, TestRng *rng, int nkeys, int delete_pct)
{
	int			i = (int) test_rng_below(rng, (uint64_t) nkeys);
	char		k[32];

	key_name(k, sizeof(k), i);
	if ((int) test_rng_below(rng, 100) < delete_pct)
	{
		m->exists[i] = false;
		return del(db, k);
	}
	else
	{
		size_t		len = 10 + test_rng_below(rng, 150);

		lsm_buf_reserve(&m->val[i], len);
		for (size_t j = 0; j < len; j++)
			m->val[i].data[j] = (uint8_t) ('a' + (j + i) % 7 + (j % 5 == 0 ? test_rng_below(rng, 3) : 0));
		m->val[i].len = len;
		m->exists[i] = true;
		return put(db, k, lsm_buf_slice(&m->val[i]));
	}
}

/*
 * Shape
 */

/*
 * Leveled: after many writes, levels 1.. hold no more than their targets
 * (once nothing is due), level 0 less than its trigger, outputs are cut
 * near the target size, several levels are in use, and the data is right.
 */
/*
 * The dynamic shape (level_dynamic): a fresh table's level 0 merges into the
 * last level; later the deepest level holds nearly everything, the levels
 * above it follow its size down by the multiplier, no level above the
 * base holds data, and the bytes above the bottom stay near
 * bottom / (multiplier - 1), i.e. space amplification near 1 + 1/9 with
 * the default multiplier.
 */
static void
test_leveled_dynamic(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	static Model m;
	TestRng		rng = {test_seed("leveled dynamic")};
	long		n = iters(12000);
	uint64_t	compactions = 0;
	bool		first_checked = false;
	int			bottom = LSM_NUM_LEVELS - 1;
	int			base;
	uint64_t	above = 0;

	o.level_dynamic = true;
	memset(&m, 0, sizeof(m));
	test_tmpdir(dir, sizeof(dir), "cmp_dynamic");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (long i = 0; i < n; i++)
	{
		CHECK(random_op(db, &m, &rng, NK, 15));
		lsm_db_stats(db, &s);
		if (s.compactions != compactions)
		{
			CHECK(invariants_hold(db));
			if (!first_checked)
			{
				/* the first compaction took level 0 to the last level */
				for (int l = 1; l < LSM_NUM_LEVELS - 1; l++)
					CHECK(s.files_per_level[l] == 0);
				CHECK(s.files_per_level[LSM_NUM_LEVELS - 1] > 0);
				first_checked = true;
			}
			compactions = s.compactions;
		}
	}
	CHECK(first_checked);
	lsm_db_stats(db, &s);
	printf("  dynamic: %llu compactions (%llu trivial moves), levels:",
		   (unsigned long long) s.compactions, (unsigned long long) s.trivial_moves);
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		printf(" %llu/%lluK", (unsigned long long) s.files_per_level[l],
			   (unsigned long long) s.bytes_per_level[l] / 1024);
	printf(", write amp %.2f\n", s.write_amplification);
	CHECK(!lsm_db_compaction_needed(db));
	CHECK(s.files_per_level[LSM_NUM_LEVELS - 1] > 0);
	/* levels from the base down are contiguous, the ones above it empty */
	base = bottom;
	while (base > 1 && s.files_per_level[base - 1] > 0)
		base--;
	for (int l = 1; l < base; l++)
		CHECK(s.files_per_level[l] == 0);
	CHECK(base < bottom);		/* the data outgrew one level */
	/* each level at most its target: the one below / multiplier */
	{
		uint64_t	t = s.bytes_per_level[bottom];

		for (int l = bottom - 1; l >= base; l--)
		{
			t /= (uint64_t) o.level_size_multiplier;
			CHECK(s.bytes_per_level[l] <= t);
			above += s.bytes_per_level[l];
		}
	}
	CHECK(above <= s.bytes_per_level[bottom] / (uint64_t) (o.level_size_multiplier - 1));
	CHECK(db_matches(db, &m, NK));
	CHECK_OK(lsm_db_close(db, &st), &st);
}

/*
 * A table left by older builds with overwrites in level 2 above a bulk
 * load in level 6 (static shape; nothing between): level 2 was within its
 * static target, so nothing ever merged it into the bottom.  Now the levels
 * from the first whose target holds the table drain into it, straight
 * over the empty levels (compaction.c, static_shape), after level 0 when
 * that is past its trigger.
 */
static void
test_static_gap_drains(void)
{
	char		dir[256];
	char		k[32];
	char		v[32];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;

	o.write_buffer_size = 1024 * 1024;
	o.auto_compact = false;
	test_tmpdir(dir, sizeof(dir), "cmp_static_gap");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 1000; i++)
	{
		key_name(k, sizeof(k), (i * 7) % 1000);
		snprintf(v, sizeof(v), "old-value-%d", (i * 7) % 1000);
		CHECK(put(db, k, lsm_slice_str(v)));
	}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	CHECK(move_level(db, 1, LSM_NUM_LEVELS - 1));
	for (int i = 0; i < 1000; i += 2)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "new-value-%d", i);
		CHECK(put(db, k, lsm_slice_str(v)));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(move_level(db, 0, 2));
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[2] == 1 && s.files_per_level[1] == 0 && s.files_per_level[0] == 0);
	CHECK(s.bytes_per_level[2] < o.max_bytes_for_level_base * (uint64_t) o.level_size_multiplier);
	CHECK(s.bytes_per_level[LSM_NUM_LEVELS - 1] <=
		  o.max_bytes_for_level_base * (uint64_t) o.level_size_multiplier);
	CHECK(lsm_db_compaction_needed(db));

	/*
	 * Level 0 past its trigger goes first: a drain can take minutes, and
	 * level 0 must not reach the write stop meanwhile.
	 */
	for (int f = 0; f <= o.l0_compaction_trigger; f++)
	{
		for (int i = 1; i < 1000; i += 100)
		{
			key_name(k, sizeof(k), i + f);
			snprintf(v, sizeof(v), "new-value-%d", i + f);
			CHECK(put(db, k, lsm_slice_str(v)));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	{
		LsmCompaction *c;
		LsmCompactionInfo info;

		CHECK_OK(lsm_db_compaction_pick(db, &c, &st), &st);
		lsm_compaction_info(c, &info);
		/* into level 1, or into level 2 when the table fits level 1 */
		CHECK(info.output_level == 1 || info.output_level == 2);
		CHECK(info.n_inputs > o.l0_compaction_trigger);
		CHECK_OK(lsm_compaction_run(c, &st), &st);
		CHECK_OK(lsm_compaction_install(c, &st), &st);
		lsm_compaction_release(c);
		lsm_db_stats(db, &s);
		CHECK(s.files_per_level[0] == 0 && s.files_per_level[2] > 0);
	}
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	lsm_db_stats(db, &s);
	for (int l = 0; l < LSM_NUM_LEVELS - 1; l++)
		CHECK(s.files_per_level[l] == 0);
	CHECK(s.entries_per_level[LSM_NUM_LEVELS - 1] == 1000);
	CHECK(!lsm_db_compaction_needed(db));
	for (int i = 0; i < 1000; i++)
	{
		bool		newer = i % 2 == 0 || (i % 100 >= 1 && i % 100 <= 1 + o.l0_compaction_trigger);

		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "%s-value-%d", newer ? "new" : "old", i);
		CHECK(strcmp(get_str(db, NULL, k), v) == 0);
	}
	CHECK(invariants_hold(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * A level pushes down the file that drags the fewest bytes of the level
 * below along.  Dynamic shape, level 0 going straight into the base
 * (level 5): level 6 holds a dense "a" range and a few "b" keys; level 5
 * gets one file of "a" keys spread over the whole range (first in key
 * order, so round robin would take it and rewrite all of level 6's "a"
 * files) and files of "b" keys that overlap little or nothing below.
 */
static void
put_value(LsmDb *db, const char *k, TestRng *rng)
{
	uint8_t		v[100];

	for (size_t j = 0; j < sizeof(v); j++)
		v[j] = (uint8_t) test_rng_next(rng);
	CHECK(put(db, k, lsm_slice(v, sizeof(v))));
}

static void
test_min_overlap_pick(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	TestRng		rng = {test_seed("min overlap")};
	LsmCompaction *c;
	LsmCompactionInfo info;
	uint64_t	a_bytes;
	bool		did;
	char		k[32];

	o.level_dynamic = true;
	o.auto_compact = false;
	o.compression = LSM_COMPRESSION_NONE;
	o.compression_upper = LSM_COMPRESSION_NONE;
	o.l0_compaction_trigger = 1;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	o.max_bytes_for_level_base = 64 * 1024;
	o.write_buffer_size = 1024 * 1024;
	test_tmpdir(dir, sizeof(dir), "cmp_min_overlap");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 1000; i++)
	{
		snprintf(k, sizeof(k), "a%05d", i);
		put_value(db, k, &rng);
	}
	for (int i = 0; i < 20; i++)
	{
		snprintf(k, sizeof(k), "b%05d", i);
		put_value(db, k, &rng);
	}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[LSM_NUM_LEVELS - 1] > 10);
	a_bytes = s.bytes_per_level[LSM_NUM_LEVELS - 1];

	/* level 5 (target ~27 KB): "a" keys across the whole range, ~5 KB */
	for (int i = 0; i < 1000; i += 20)
	{
		snprintf(k, sizeof(k), "a%05d", i);
		put_value(db, k, &rng);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_compact_step(db, &did, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(did && s.files_per_level[0] == 0 && s.files_per_level[5] > 0);
	CHECK(!lsm_db_compaction_needed(db));

	/* then ~30 KB of "b" keys: level 5 is over its target */
	for (int i = 0; i < 300; i++)
	{
		snprintf(k, sizeof(k), "b%05d", i);
		put_value(db, k, &rng);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_compact_step(db, &did, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(did && s.files_per_level[0] == 0);
	CHECK(lsm_db_compaction_needed(db));

	CHECK_OK(lsm_db_compaction_pick(db, &c, &st), &st);
	lsm_compaction_info(c, &info);
	CHECK(info.output_level == LSM_NUM_LEVELS - 1);
	/* a "b" file: its own bytes and a file or two below, not all of "a" */
	CHECK(info.input_bytes < a_bytes / 2);
	CHECK_OK(lsm_compaction_run(c, &st), &st);
	CHECK_OK(lsm_compaction_install(c, &st), &st);
	lsm_compaction_release(c);
	CHECK(invariants_hold(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

static void
test_leveled_shape(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	static Model m;
	TestRng		rng = {test_seed("leveled shape")};
	long		n = iters(12000);
	uint64_t	target = o.max_bytes_for_level_base;
	uint64_t	compactions = 0;

	memset(&m, 0, sizeof(m));
	test_tmpdir(dir, sizeof(dir), "cmp_leveled");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (long i = 0; i < n; i++)
	{
		CHECK(random_op(db, &m, &rng, NK, 15));
		lsm_db_stats(db, &s);
		if (s.compactions != compactions)
		{
			CHECK(invariants_hold(db));
			compactions = s.compactions;
		}
	}
	lsm_db_stats(db, &s);
	printf("  leveled: %llu compactions (%llu trivial moves), levels:",
		   (unsigned long long) s.compactions, (unsigned long long) s.trivial_moves);
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		printf(" %llu/%lluK", (unsigned long long) s.files_per_level[l],
			   (unsigned long long) s.bytes_per_level[l] / 1024);
	printf(", write amp %.2f\n", s.write_amplification);
	CHECK(s.compactions > 10);
	CHECK(deepest_level(&s) >= 3);
	CHECK(s.files_per_level[0] < (uint64_t) o.l0_compaction_trigger);
	for (int l = 1; l < LSM_NUM_LEVELS - 1; l++)
	{
		CHECK(s.bytes_per_level[l] <= target);
		target *= (uint64_t) o.level_size_multiplier;
	}
	CHECK(s.bytes_compacted_written > 0 && s.bytes_compacted_read > 0);
	CHECK(s.write_amplification > 1.5);
	CHECK(s.compaction_failures == 0 && s.running_compactions == 0);
	CHECK(!lsm_db_compaction_needed(db));

	/* outputs are cut near target_file_size, never far beyond it */
	{
		LsmVersion *v = db->sv->version;

		for (int l = 1; l < LSM_NUM_LEVELS; l++)
			for (int i = 0; i < v->n_files[l]; i++)
				CHECK(v->files[l][i]->size < o.target_file_size + 4096);
	}
	CHECK(db_matches(db, &m, NK));
	/* a get probes at most one table per level, fewer thanks to the filters */
	lsm_db_stats(db, &s);
	printf("  read amp %.2f tables per get (%llu gets, bloom useful %llu)\n",
		   s.read_amplification, (unsigned long long) s.gets,
		   (unsigned long long) s.bloom_useful);
	CHECK(s.gets >= NK && s.read_amplification > 0.0);
	CHECK(s.read_amplification <= (double) (s.files_per_level[0] + LSM_NUM_LEVELS - 1));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(db_matches(db, &m, NK));
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * Tiered: runs stay below the slowdown trigger, merges happen, the data
 * is right; entries and tombstones per level add up with the props.
 */
static void
test_tiered_shape(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_TIERED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	static Model m;
	TestRng		rng = {test_seed("tiered shape")};
	long		n = iters(12000);
	uint64_t	max_runs = 0;
	uint64_t	compactions = 0;

	memset(&m, 0, sizeof(m));
	test_tmpdir(dir, sizeof(dir), "cmp_tiered");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (long i = 0; i < n; i++)
	{
		CHECK(random_op(db, &m, &rng, NK, 15));
		lsm_db_stats(db, &s);
		if (s.sorted_runs > max_runs)
			max_runs = s.sorted_runs;
		if (s.compactions != compactions)
		{
			CHECK(invariants_hold(db));
			compactions = s.compactions;
		}
	}
	lsm_db_stats(db, &s);
	printf("  tiered: %llu compactions, at most %llu runs, now %llu, levels:",
		   (unsigned long long) s.compactions, (unsigned long long) max_runs,
		   (unsigned long long) s.sorted_runs);
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		printf(" %llu/%lluK", (unsigned long long) s.files_per_level[l],
			   (unsigned long long) s.bytes_per_level[l] / 1024);
	printf(", write amp %.2f\n", s.write_amplification);
	CHECK(s.compactions > 5);
	CHECK(max_runs <= (uint64_t) o.l0_slowdown_writes_trigger);
	CHECK(s.stall_stops == 0);
	CHECK(deepest_level(&s) >= 1);
	{
		uint64_t	entries = 0;

		for (int l = 0; l < LSM_NUM_LEVELS; l++)
			entries += s.entries_per_level[l];
		CHECK(entries > 0);
	}
	CHECK(db_matches(db, &m, NK));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(db_matches(db, &m, NK));
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * What may be dropped
 */

static uint64_t
total(const uint64_t *per_level)
{
	uint64_t	t = 0;

	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		t += per_level[l];
	return t;
}

/*
 * Versions a snapshot sees survive a full compaction; once it is released
 * they go, tombstones included, and what is left is one entry per live key.
 */
static void
test_gc_snapshots(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	LsmSnapshot *snap;
	char		k[32];
	char		v[32];

	test_tmpdir(dir, sizeof(dir), "cmp_gc");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 300; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "one%d", i);
		CHECK(put(db, k, lsm_slice_str(v)));
	}
	snap = lsm_db_snapshot(db);
	for (int i = 0; i < 300; i++)
	{
		key_name(k, sizeof(k), i);
		if (i % 3 == 0)
			CHECK(del(db, k));
		else
		{
			snprintf(v, sizeof(v), "two%d", i);
			CHECK(put(db, k, lsm_slice_str(v)));
		}
	}
	/* shadowed again, above the snapshot: only the newest survives there */
	for (int i = 0; i < 300; i += 3)
	{
		key_name(k, sizeof(k), i);
		CHECK(del(db, k));
	}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	CHECK(invariants_hold(db));
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == 0);
	/* the snapshot's 300 versions plus the 200 newer puts and 100 tombstones */
	CHECK(total(s.entries_per_level) == 600);
	CHECK(total(s.tombstones_per_level) == 100);
	for (int i = 0; i < 300; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "one%d", i);
		CHECK(strcmp(get_str(db, snap, k), v) == 0);
		snprintf(v, sizeof(v), "two%d", i);
		CHECK(strcmp(get_str(db, NULL, k), i % 3 == 0 ? "<none>" : v) == 0);
	}
	lsm_db_release_snapshot(db, snap);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &s);
	CHECK(total(s.entries_per_level) == 200);
	CHECK(total(s.tombstones_per_level) == 0);
	CHECK(s.compaction_entries_dropped >= 400);
	for (int i = 0; i < 300; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "two%d", i);
		CHECK(strcmp(get_str(db, NULL, k), i % 3 == 0 ? "<none>" : v) == 0);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Merge operands fold into one PUT below the horizon: over a PUT, over a
 * tombstone, over nothing at the bottom.  Above a snapshot they stay, and
 * the snapshot still reads its sums.  A tombstone in level 1 over a value
 * in level 2 stays until the level-2 value is compacted with it.
 */
static void
test_merge_fold(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	LsmSnapshot *snap;
	char		k[32];

	test_tmpdir(dir, sizeof(dir), "cmp_merge");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	/* keys 0..99: PUT 1000 then 5 operands; 100..199: DELETE then 3; 200..299: 4 alone */
	for (int i = 0; i < 300; i++)
	{
		uint8_t		enc[8];

		key_name(k, sizeof(k), i);
		if (i < 100)
		{
			lsm_put_fixed64(enc, 1000);
			CHECK(put(db, k, lsm_slice(enc, 8)));
		}
		else if (i < 200)
			CHECK(del(db, k));
	}
	for (int r = 0; r < 5; r++)
		for (int i = 0; i < 300; i++)
		{
			key_name(k, sizeof(k), i);
			if (i < 100 || (i < 200 && r < 3) || (i >= 200 && r < 4))
				CHECK(add(db, k, i + r));
		}
	snap = lsm_db_snapshot(db);
	for (int i = 0; i < 300; i++)
	{
		key_name(k, sizeof(k), i);
		CHECK(add(db, k, 1));
	}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &s);
	/* one folded PUT below the snapshot and one operand above it, per key */
	CHECK(total(s.entries_per_level) == 600);
	CHECK(total(s.tombstones_per_level) == 0);
	for (int i = 0; i < 300; i++)
	{
		int64_t		want;

		key_name(k, sizeof(k), i);
		if (i < 100)
			want = 1000 + 5 * i + 10;
		else if (i < 200)
			want = 3 * i + 3;
		else
			want = 4 * i + 6;
		CHECK(get_counter(db, snap, k) == want);
		CHECK(get_counter(db, NULL, k) == want + 1);
	}
	lsm_db_release_snapshot(db, snap);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &s);
	CHECK(total(s.entries_per_level) == 300);
	CHECK(get_counter(db, NULL, "key000150") == 3 * 150 + 3 + 1);

	/*
	 * A tombstone above older data in a deeper level is kept by a
	 * compaction that does not reach that data: move everything to level
	 * 2, put a file spanning key3..key6 in level 1, then compact a
	 * tombstone for key5 from level 0 into it.
	 */
	{
		LsmCompaction *c;
		LsmCompactionInfo info;

		CHECK(move_level(db, 1, 2));
		CHECK(put(db, "key000003", lsm_slice_str("y")));
		CHECK(put(db, "key000006", lsm_slice_str("y")));
		CHECK_OK(lsm_db_flush(db, &st), &st);
		CHECK(move_level(db, 0, 1));
		CHECK(del(db, "key000005"));
		CHECK(put(db, "key000004", lsm_slice_str("x")));
		CHECK_OK(lsm_db_flush(db, &st), &st);
		lsm_db_stats(db, &s);
		CHECK(s.files_per_level[0] == 1 && s.files_per_level[1] == 1);
		db->opts.l0_compaction_trigger = db->l0_trigger = 1;
		CHECK_OK(lsm_db_compaction_pick(db, &c, &st), &st);
		lsm_compaction_info(c, &info);
		CHECK(info.output_level == 1 && info.n_inputs == 2 && !info.trivial_move);
		CHECK_OK(lsm_compaction_run(c, &st), &st);
		CHECK_OK(lsm_compaction_install(c, &st), &st);
		lsm_compaction_release(c);
		db->opts.l0_compaction_trigger = db->l0_trigger = 4;
		lsm_db_stats(db, &s);
		CHECK(s.tombstones_per_level[1] == 1);
		CHECK(s.entries_per_level[1] == 4);
		CHECK(strcmp(get_str(db, NULL, "key000005"), "<none>") == 0);
		CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
		lsm_db_stats(db, &s);
		CHECK(total(s.tombstones_per_level) == 0);
		CHECK(total(s.entries_per_level) == 299);
		CHECK(s.files_per_level[0] == 0 && s.files_per_level[1] == 0);
		CHECK(strcmp(get_str(db, NULL, "key000005"), "<none>") == 0);
		CHECK(strcmp(get_str(db, NULL, "key000004"), "x") == 0);
		CHECK(strcmp(get_str(db, NULL, "key000003"), "y") == 0);
		CHECK(get_counter(db, NULL, "key000007") == 1000 + 5 * 7 + 10 + 1);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* The host's horizon, settable by the test. */
static LsmSeq host_horizon = LSM_MAX_SEQ;
static int	horizon_calls;

static LsmSeq
horizon_fn(void *arg)
{
	__atomic_add_fetch(&horizon_calls, 1, __ATOMIC_RELAXED);
	return __atomic_load_n(&host_horizon, __ATOMIC_ACQUIRE);
}

/*
 * An external reader at sequence number h (registered through horizon_fn)
 * keeps reading what it read at h, however hard the database is compacted.
 */
static void
test_horizon_fn(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	LsmSnapshot outside;		/* what an outside reader reads at */
	char		k[32];
	char		v[32];

	o.horizon_fn = horizon_fn;
	test_tmpdir(dir, sizeof(dir), "cmp_horizon");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 200; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "old%d", i);
		CHECK(put(db, k, lsm_slice_str(v)));
	}
	lsm_db_stats(db, &s);
	memset(&outside, 0, sizeof(outside));
	outside.seq = s.last_seq;
	__atomic_store_n(&host_horizon, s.last_seq, __ATOMIC_RELEASE);
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < 200; i++)
		{
			key_name(k, sizeof(k), i);
			if (i % 2 == 0)
				CHECK(del(db, k));
			else
			{
				snprintf(v, sizeof(v), "new%d.%d", r, i);
				CHECK(put(db, k, lsm_slice_str(v)));
			}
		}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	CHECK(horizon_calls > 0);
	for (int i = 0; i < 200; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "old%d", i);
		CHECK(strcmp(get_str(db, &outside, k), v) == 0);
	}
	lsm_db_stats(db, &s);
	CHECK(total(s.entries_per_level) == 800);
	/* the reader left */
	__atomic_store_n(&host_horizon, LSM_MAX_SEQ, __ATOMIC_RELEASE);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &s);
	CHECK(total(s.entries_per_level) == 100);
	for (int i = 0; i < 200; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "new2.%d", i);
		CHECK(strcmp(get_str(db, NULL, k), i % 2 ? v : "<none>") == 0);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * The compaction filter drops PUTs it refuses, with every older version of
 * their keys: nothing shows through after a full compaction, a snapshot
 * still reads what it read, and the stats count the dropped bytes.
 */
static int	filter_starts = 0;

static uint64_t
filter_start(void *arg)
{
	(void) arg;
	__atomic_fetch_add(&filter_starts, 1, __ATOMIC_RELAXED);
	return 'x';
}

static bool
filter_x(void *arg, uint64_t start, LsmSlice key, LsmSlice value)
{
	(void) arg;
	(void) key;
	return value.len > 0 && value.data[0] == (uint8_t) start;
}

static void
test_filter_fn(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	LsmSnapshot *snap;
	char		k[32];
	char		v[32];

	o.filter_start_fn = filter_start;
	o.filter_fn = filter_x;
	test_tmpdir(dir, sizeof(dir), "cmp_filter");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 200; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "old%d", i);
		CHECK(put(db, k, lsm_slice_str(v)));
	}
	/* the old versions reach the bottom, below the refused ones */
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	snap = lsm_db_snapshot(db);
	for (int i = 0; i < 200; i += 2)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "x%d", i);
		CHECK(put(db, k, lsm_slice_str(v)));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	/* the snapshot holds the refused PUTs above the lowest stripe */
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.filter_entries_dropped == 0);
	key_name(k, sizeof(k), 0);
	CHECK(strcmp(get_str(db, NULL, k), "x0") == 0);
	lsm_db_release_snapshot(db, snap);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	CHECK(filter_starts > 0);
	lsm_db_stats(db, &s);
	CHECK(s.filter_entries_dropped == 100);
	CHECK(s.filter_bytes_dropped > 100 * 4);
	CHECK(total(s.entries_per_level) == 100);
	for (int i = 0; i < 200; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "old%d", i);
		CHECK(strcmp(get_str(db, NULL, k), i % 2 ? v : "<none>") == 0);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * A flush drops, by the stripe rule, the versions no read point needs: of
 * each key's versions between two read points (snapshots, the host's
 * horizon, last_seq) only the newest PUT or DELETE and the operands above
 * it reach level 0; everything above the horizon is kept.
 */
static void
test_flush_drops(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	LsmSnapshot *snap;
	LsmSnapshot outside;		/* what an outside reader reads at */
	char		k[32];
	char		v[32];

	o.write_buffer_size = 4 * 1024 * 1024;	/* only the explicit flushes */
	o.auto_compact = false;
	o.horizon_fn = horizon_fn;
	__atomic_store_n(&host_horizon, LSM_MAX_SEQ, __ATOMIC_RELEASE);
	test_tmpdir(dir, sizeof(dir), "cmp_flush_drops");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);

	/* five versions of 100 keys, a snapshot after the second */
	snap = NULL;
	for (int r = 0; r < 5; r++)
	{
		for (int i = 0; i < 100; i++)
		{
			key_name(k, sizeof(k), i);
			snprintf(v, sizeof(v), "v%d.%d", r, i);
			CHECK(put(db, k, lsm_slice_str(v)));
		}
		if (r == 1)
			snap = lsm_db_snapshot(db);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == 1);
	CHECK(total(s.entries_per_level) == 200);	/* v1 for snap, v4 */
	CHECK(s.flush_entries_dropped == 300);
	for (int i = 0; i < 100; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "v1.%d", i);
		CHECK(strcmp(get_str(db, snap, k), v) == 0);
		snprintf(v, sizeof(v), "v4.%d", i);
		CHECK(strcmp(get_str(db, NULL, k), v) == 0);
	}
	lsm_db_release_snapshot(db, snap);

	/*
	 * An outside reader between the second and the third of four more
	 * rounds: the versions above it are all kept, of those at or below it
	 * only the newest.  Keys 0-49 end deleted: the tombstone is kept.
	 */
	for (int r = 0; r < 4; r++)
	{
		for (int i = 0; i < 100; i++)
		{
			key_name(k, sizeof(k), i);
			snprintf(v, sizeof(v), "w%d.%d", r, i);
			if (r == 3 && i < 50)
				CHECK(del(db, k));
			else
				CHECK(put(db, k, lsm_slice_str(v)));
		}
		if (r == 1)
		{
			lsm_db_stats(db, &s);
			memset(&outside, 0, sizeof(outside));
			outside.seq = s.last_seq;
			__atomic_store_n(&host_horizon, s.last_seq, __ATOMIC_RELEASE);
		}
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == 2);
	CHECK(total(s.entries_per_level) == 200 + 300);
	CHECK(s.tombstones_per_level[0] == 50);
	CHECK(s.flush_entries_dropped == 300 + 100);
	for (int i = 0; i < 100; i++)
	{
		key_name(k, sizeof(k), i);
		snprintf(v, sizeof(v), "w1.%d", i);
		CHECK(strcmp(get_str(db, &outside, k), v) == 0);
		snprintf(v, sizeof(v), "w3.%d", i);
		CHECK(strcmp(get_str(db, NULL, k), i < 50 ? "<none>" : v) == 0);
	}
	__atomic_store_n(&host_horizon, LSM_MAX_SEQ, __ATOMIC_RELEASE);

	/* operands stay above their base; the PUT below the base goes */
	CHECK(put(db, "m", lsm_slice("\0\0\0\0\0\0\0\0", 8)));
	{
		uint8_t		enc[8];

		lsm_put_fixed64(enc, 1);
		CHECK(put(db, "m", lsm_slice(enc, 8)));
	}
	CHECK(add(db, "m", 2));
	CHECK(add(db, "m", 3));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.entries_per_level[0] == 500 + 3);
	CHECK(s.flush_entries_dropped == 400 + 1);
	CHECK(get_counter(db, NULL, "m") == 6);

	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Codecs per level: flushes and outputs above a non-empty deeper level
 * get compression_upper, outputs with nothing below get compression.
 */

/* The codec of every data block of table number (-1 when mixed or none). */
static int
file_codec(LsmDb *db, uint64_t number)
{
	char		path[LSM_PATH_MAX];
	LsmSst	   *t;
	LsmVerifyResult r;
	LsmStatus	st;
	int			codec = -1;

	if (!lsm_file_path(path, db->dir, LSM_FILE_TABLE, number) ||
		lsm_sst_open(db->env, path, number, NULL, &t, &st) != LSM_OK)
		return -2;
	memset(&r, 0, sizeof(r));
	if (lsm_table_verify_counted(t, &r, &st) == LSM_OK)
		for (int k = 0; k < 3; k++)
			if (r.blocks > 0 && r.blocks_by_codec[k] == r.blocks)
				codec = k;
	lsm_sst_close(t);
	return codec;
}

typedef struct CodecSeen
{
	uint64_t	number[4096];
	int			n;
} CodecSeen;

/*
 * Check every table of the current version not seen before: it was made
 * by the last flush or compaction, whose codec was expect.
 */
static int
check_new_files(LsmDb *db, CodecSeen *seen, int expect, int *checked)
{
	LsmVersion *v = db->vs->current;

	for (int level = 0; level < LSM_NUM_LEVELS; level++)
		for (int i = 0; i < v->n_files[level]; i++)
		{
			uint64_t	number = v->files[level][i]->number;
			int			j;
			int			got;

			for (j = 0; j < seen->n && seen->number[j] != number; j++)
				;
			if (j < seen->n)
				continue;
			CHECK_RET(seen->n < 4096, 0);
			seen->number[seen->n++] = number;
			got = file_codec(db, number);
			if (got != expect)
			{
				fprintf(stderr, "  table %llu at level %d: codec %d, expected %d\n",
						(unsigned long long) number, level, got, expect);
				return 0;
			}
			(*checked)++;
		}
	return 1;
}

static void
test_compression_per_level(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmCompaction *c;
	LsmCompactionInfo info;
	static CodecSeen seen;
	char		k[32];
	char		v[200];
	int			checked[3] = {0, 0, 0};
	int			deepest = 0;

	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	o.compression = LSM_COMPRESSION_ZSTD;
	o.compression_upper = LSM_COMPRESSION_LZ4;
	memset(&seen, 0, sizeof(seen));
	test_tmpdir(dir, sizeof(dir), "cmp_codecs");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int round = 0; round < 40; round++)
	{
		for (int i = 0; i < 150; i++)
		{
			int			key = (round * 150 + i) * 7 % 3000;

			key_name(k, sizeof(k), key);
			/* compressible by either codec, so every block is compressed */
			snprintf(v, sizeof(v), "%d the quick brown fox jumps over the lazy dog, "
					 "the quick brown fox jumps over the lazy dog %d", round, key);
			CHECK(put(db, k, lsm_slice_str(v)));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
		CHECK(check_new_files(db, &seen, LSM_COMPRESSION_LZ4, &checked[LSM_COMPRESSION_LZ4]));
		while (lsm_db_compaction_pick(db, &c, &st) == LSM_OK)
		{
			LsmVersion *cur = db->vs->current;
			bool		below = false;
			int			expect;

			lsm_compaction_info(c, &info);
			for (int l = info.output_level + 1; l < LSM_NUM_LEVELS; l++)
				below |= cur->n_files[l] > 0;
			expect = info.output_level > 0 && !below
				? LSM_COMPRESSION_ZSTD : LSM_COMPRESSION_LZ4;
			CHECK_OK(lsm_compaction_run(c, &st), &st);
			CHECK_OK(lsm_compaction_install(c, &st), &st);
			lsm_compaction_release(c);
			if (info.output_level > deepest)
				deepest = info.output_level;
			CHECK(check_new_files(db, &seen, info.trivial_move ? -3 : expect,
								  &checked[expect]));
		}
	}
	printf("  deepest level %d; tables checked: %d lz4, %d zstd\n",
		   deepest, checked[LSM_COMPRESSION_LZ4], checked[LSM_COMPRESSION_ZSTD]);
	CHECK(deepest >= 2);
	CHECK(checked[LSM_COMPRESSION_LZ4] > 40);	/* flushes and upper outputs */
	CHECK(checked[LSM_COMPRESSION_ZSTD] > 0);
	CHECK(invariants_hold(db));
	for (int key = 0; key < 3000; key += 7)
	{
		key_name(k, sizeof(k), key);
		CHECK(strcmp(get_str(db, NULL, k), "<none>") != 0);
	}
	/* a full compaction puts everything into the bottom level: zstd */
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	{
		LsmVersion *cur = db->vs->current;

		for (int l = 0; l < LSM_NUM_LEVELS; l++)
			for (int i = 0; i < cur->n_files[l]; i++)
				CHECK(file_codec(db, cur->files[l][i]->number) == LSM_COMPRESSION_ZSTD);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Tables written before the upper levels had a codec of their own (all
 * zstd, or all raw) are read, and compacted, by a database opened with
 * the new defaults; and a database of LZ4 tables reads back when reopened
 * with compression off.
 */
static void
test_codec_reopen(void)
{
	LsmCompression before[3] = {LSM_COMPRESSION_ZSTD, LSM_COMPRESSION_NONE, LSM_COMPRESSION_LZ4};
	LsmCompression after[3] = {LSM_COMPRESSION_LZ4, LSM_COMPRESSION_LZ4, LSM_COMPRESSION_NONE};

	for (int t = 0; t < 3; t++)
	{
		char		dir[256];
		LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
		LsmDb	   *db;
		LsmStatus	st;
		char		k[32];
		char		v[200];

		o.compression = before[t];
		o.compression_upper = before[t];
		test_tmpdir(dir, sizeof(dir), "cmp_codec_reopen");
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		for (int i = 0; i < 2000; i++)
		{
			key_name(k, sizeof(k), i);
			snprintf(v, sizeof(v), "value %d of the quick brown fox %d", i, i);
			CHECK(put(db, k, lsm_slice_str(v)));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
		CHECK_OK(lsm_db_close(db, &st), &st);

		o.compression = after[t] == LSM_COMPRESSION_NONE ? LSM_COMPRESSION_NONE : LSM_COMPRESSION_ZSTD;
		o.compression_upper = after[t];
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		for (int pass = 0; pass < 2; pass++)
		{
			for (int i = 0; i < 2000; i++)
			{
				key_name(k, sizeof(k), i);
				snprintf(v, sizeof(v), "value %d of the quick brown fox %d", i, i);
				CHECK(strcmp(get_str(db, NULL, k), v) == 0);
			}
			CHECK_OK(lsm_db_verify(db, &st), &st);
			CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
		}
		CHECK_OK(lsm_db_close(db, &st), &st);
		test_rmtree(dir);
	}
}

/* The host's file horizon, settable by the test. */
static uint64_t host_file_horizon = UINT64_MAX;

static uint64_t
file_horizon_fn(void *arg)
{
	return __atomic_load_n(&host_file_horizon, __ATOMIC_ACQUIRE);
}

/*
 * An outside reader using the files of version n keeps them on disk
 * through compactions that replace them; once it moves on, they go.
 */
static void
test_file_horizon_fn(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	static Model m;
	TestRng		rng = {5};
	uint64_t	pinned;
	int			files;
	int			pinned_files;

	memset(&m, 0, sizeof(m));
	o.file_horizon_fn = file_horizon_fn;
	test_tmpdir(dir, sizeof(dir), "cmp_fhorizon");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 1500; i++)
		CHECK(random_op(db, &m, &rng, 1000, 20));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(!lsm_db_compaction_needed(db));

	/* an outside reader starts using the current version's files */
	pinned = lsm_db_version_number(db);
	CHECK(pinned > 0);
	__atomic_store_n(&host_file_horizon, pinned, __ATOMIC_RELEASE);
	sst_bytes(dir, &pinned_files);
	CHECK(pinned_files > 0);
	for (int i = 0; i < 1500; i++)
		CHECK(random_op(db, &m, &rng, 1000, 20));
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	CHECK(lsm_db_version_number(db) > pinned);
	/* every file it may read is still there, besides the new ones */
	sst_bytes(dir, &files);
	CHECK((uint64_t) files >= (uint64_t) pinned_files + db->sv->version->n_files[1]);
	CHECK(db_matches(db, &m, 1000));

	/* it moved on */
	__atomic_store_n(&host_file_horizon, lsm_db_version_number(db), __ATOMIC_RELEASE);
	lsm_db_delete_obsolete_files(db);
	sst_bytes(dir, &files);
	{
		LsmDbStats	s;
		uint64_t	live = 0;

		lsm_db_stats(db, &s);
		for (int l = 0; l < LSM_NUM_LEVELS; l++)
			live += s.files_per_level[l];
		CHECK((uint64_t) files == live);
	}
	CHECK(db_matches(db, &m, 1000));
	CHECK_OK(lsm_db_close(db, &st), &st);
	__atomic_store_n(&host_file_horizon, UINT64_MAX, __ATOMIC_RELEASE);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * Manual compaction
 */

/*
 * compact_range of a middle range leaves the files wholly outside it
 * alone, moves everything inside to the bottom level and drops its
 * tombstones; bounds are [lower, upper); an empty database and an empty
 * range are fine.
 */
static void
test_compact_range(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	static Model m;
	TestRng		rng = {test_seed("compact range")};
	char		lo[32];
	char		hi[32];

	memset(&m, 0, sizeof(m));
	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	test_tmpdir(dir, sizeof(dir), "cmp_range");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);

	/* L1..: a full compaction of a first data set */
	for (int i = 0; i < 2000; i++)
		CHECK(random_op(db, &m, &rng, 2000, 0));
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == 0 && s.files_per_level[1] > 3);
	CHECK(deepest_level(&s) == 1);

	/*
	 * then overwrites and deletes in level 0, one region at a time, so
	 * that level-0 files stay narrow: [0, 600), [800, 1200), [1400, 2000)
	 */
	for (int region = 0; region < 3; region++)
	{
		int			base = region == 0 ? 0 : region == 1 ? 800 : 1400;
		int			width = region == 1 ? 400 : 600;

		for (int i = 0; i < 1000; i++)
		{
			int			key = base + (int) test_rng_below(&rng, (uint64_t) width);
			char		k[32];

			key_name(k, sizeof(k), key);
			if (test_rng_below(&rng, 10) < 4)
			{
				m.exists[key] = false;
				CHECK(del(db, k));
			}
			else
			{
				lsm_buf_set(&m.val[key], k, strlen(k));
				lsm_buf_append(&m.val[key], ".v2", 3);
				m.exists[key] = true;
				CHECK(put(db, k, lsm_buf_slice(&m.val[key])));
			}
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK(db_matches(db, &m, 2000));

	/* a range no file holds: nothing happens */
	{
		uint64_t	before;

		lsm_db_stats(db, &s);
		before = s.compactions;
		CHECK_OK(lsm_db_compact_range(db, lsm_slice_str("zzz"), lsm_slice(NULL, 0), &st), &st);
		lsm_db_stats(db, &s);
		CHECK(s.compactions == before);
	}

	/* the middle: [key000800, key001200) */
	key_name(lo, sizeof(lo), 800);
	key_name(hi, sizeof(hi), 1200);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice_str(lo), lsm_slice_str(hi), &st), &st);
	CHECK(invariants_hold(db));
	CHECK(db_matches(db, &m, 2000));
	{
		LsmVersion *v = db->sv->version;

		/* nothing left above the bottom overlaps the range */
		for (int l = 0; l < 1; l++)
			for (int i = 0; i < v->n_files[l]; i++)
			{
				LsmFileMeta *f = v->files[l][i];

				CHECK(lsm_slice_cmp(lsm_file_largest_user_key(f), lsm_slice_str(lo)) < 0 ||
					  lsm_slice_cmp(lsm_file_smallest_user_key(f), lsm_slice_str(hi)) >= 0);
			}
		/* and the bottom files inside it have no tombstones */
		for (int i = 0; i < v->n_files[1]; i++)
		{
			LsmFileMeta *f = v->files[1][i];

			if (lsm_slice_cmp(lsm_file_smallest_user_key(f), lsm_slice_str(lo)) >= 0 &&
				lsm_slice_cmp(lsm_file_largest_user_key(f), lsm_slice_str(hi)) < 0)
				CHECK(f->tombstones == 0);
		}
	}
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] > 0);	/* files outside the range stayed */
	CHECK(s.files_per_level[1] > 0);

	/* open ended on one side, then the other */
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice_str(lo), &st), &st);
	CHECK(db_matches(db, &m, 2000));
	CHECK_OK(lsm_db_compact_range(db, lsm_slice_str(hi), lsm_slice(NULL, 0), &st), &st);
	CHECK(db_matches(db, &m, 2000));
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == 0);
	CHECK(total(s.tombstones_per_level) == 0);
	CHECK(invariants_hold(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(db_matches(db, &m, 2000));
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * Space amplification (leveled): write a data set five times over, with a
 * share of deletes, compact fully: the files take at most 1.3 times what
 * a database holding only the live data takes.  Auto compaction alone is
 * reported too.
 */
static void
test_space_amp(void)
{
	char		dir[256];
	char		ref_dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmDb	   *ref;
	LsmStatus	st;
	static Model m;
	TestRng		rng = {test_seed("space amp")};
	uint64_t	bytes;
	uint64_t	auto_bytes;
	uint64_t	live;
	char		k[32];

	memset(&m, 0, sizeof(m));
	o.compression = LSM_COMPRESSION_NONE;
	o.write_buffer_size = 64 * 1024;
	o.target_file_size = 32 * 1024;
	o.max_bytes_for_level_base = 64 * 1024;
	test_tmpdir(dir, sizeof(dir), "cmp_space");
	test_tmpdir(ref_dir, sizeof(ref_dir), "cmp_space_ref");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int pass = 0; pass < 5; pass++)
		for (int i = 0; i < NK; i++)
		{
			int			key = (int) test_rng_below(&rng, NK);
			size_t		len = 100 + test_rng_below(&rng, 100);

			key_name(k, sizeof(k), key);
			if (test_rng_below(&rng, 10) == 0)
			{
				m.exists[key] = false;
				CHECK(del(db, k));
				continue;
			}
			lsm_buf_reserve(&m.val[key], len);
			for (size_t j = 0; j < len; j++)
				m.val[key].data[j] = (uint8_t) test_rng_next(&rng);
			m.val[key].len = len;
			m.exists[key] = true;
			CHECK(put(db, k, lsm_buf_slice(&m.val[key])));
		}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	auto_bytes = sst_bytes(dir, NULL);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	bytes = sst_bytes(dir, NULL);
	CHECK(db_matches(db, &m, NK));

	/* the same live data, written once */
	CHECK_OK(lsm_db_open(&o, ref_dir, &ref, &st), &st);
	for (int i = 0; i < NK; i++)
	{
		key_name(k, sizeof(k), i);
		if (m.exists[i])
			CHECK(put(ref, k, lsm_buf_slice(&m.val[i])));
	}
	CHECK_OK(lsm_db_compact_range(ref, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	live = sst_bytes(ref_dir, NULL);
	printf("  live data %llu bytes; after auto compaction %.2fx, after full compaction %.2fx\n",
		   (unsigned long long) live, (double) auto_bytes / (double) live,
		   (double) bytes / (double) live);
	CHECK((double) bytes <= 1.3 * (double) live);
	CHECK_OK(lsm_db_close(ref, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
	test_rmtree(ref_dir);
}

/*
 * The step API
 */

/*
 * Pick reserves files (a second pick cannot take them), a run that is
 * released without install leaves no file behind, install publishes, and
 * nothing is due afterwards.
 */
static void
test_step_api(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	static Model m;
	TestRng		rng = {77};
	LsmCompaction *c;
	LsmCompaction *c2;
	LsmCompactionInfo info;
	uint64_t	n0;
	int			files_before;
	int			files;

	memset(&m, 0, sizeof(m));
	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	test_tmpdir(dir, sizeof(dir), "cmp_steps");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(!lsm_db_compaction_needed(db));
	CHECK(lsm_db_compaction_pick(db, &c, &st) == LSM_NOT_FOUND);
	for (int f = 0; f < 5; f++)
	{
		for (int i = 0; i < 100; i++)
			CHECK(random_op(db, &m, &rng, 1000, 20));
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	lsm_db_stats(db, &s);
	n0 = s.files_per_level[0];
	CHECK(n0 >= 5);
	CHECK(lsm_db_compaction_needed(db));

	CHECK_OK(lsm_db_compaction_pick(db, &c, &st), &st);
	lsm_compaction_info(c, &info);
	CHECK(info.output_level == 1 && (uint64_t) info.n_inputs == n0 && !info.trivial_move);
	CHECK(info.input_bytes == s.bytes_per_level[0]);
	/* level 0 is taken: nothing else to do */
	CHECK(lsm_db_compaction_pick(db, &c2, &st) == LSM_NOT_FOUND);
	lsm_db_stats(db, &s);
	CHECK(s.running_compactions == 1);

	/* run, then give up: the outputs go away */
	sst_bytes(dir, &files_before);
	CHECK_OK(lsm_compaction_run(c, &st), &st);
	lsm_compaction_info(c, &info);
	CHECK(info.n_outputs > 0 && info.output_bytes > 0);
	sst_bytes(dir, &files);
	CHECK(files == files_before + info.n_outputs);
	lsm_compaction_release(c);
	sst_bytes(dir, &files);
	CHECK(files == files_before);
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == n0 && s.running_compactions == 0);

	/* install before run is refused; the real thing works */
	CHECK_OK(lsm_db_compaction_pick(db, &c, &st), &st);
	CHECK(lsm_compaction_install(c, &st) == LSM_INVALID_ARGUMENT);
	CHECK_OK(lsm_compaction_run(c, &st), &st);
	CHECK_OK(lsm_compaction_install(c, &st), &st);
	lsm_compaction_release(c);
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == 0 && s.files_per_level[1] > 0);
	CHECK(db_matches(db, &m, 1000));
	/* the inputs are deleted once no version lists them */
	sst_bytes(dir, &files);
	CHECK((uint64_t) files == total(s.files_per_level));
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	CHECK(!lsm_db_compaction_needed(db));
	CHECK(invariants_hold(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * Readers against compactions installed by worker threads
 *
 * Keys live0..: always present (overwritten with values naming their key);
 * keys dead0..: written and deleted in the same batch, so they are never
 * visible but leave versions and tombstones for compaction to drop.  A
 * scan must see exactly the live keys, in order, each once; a get of a
 * live key must find it, of a dead key must not.
 */
#define NLIVE 1500
#define NDEAD 500

typedef struct Shared
{
	LsmDb	   *db;
	int			stop;
	int			errors;
	long		scans;
	long		gets;
	long		worker_compactions;
	uint64_t	seed;
} Shared;

static void
live_key(char *buf, size_t len, int i)
{
	snprintf(buf, len, "live%05d", i);
}

static void
dead_key(char *buf, size_t len, int i)
{
	snprintf(buf, len, "dead%05d", i);
}

static void *
scanner(void *p)
{
	Shared	   *sh = p;
	TestRng		rng = {sh->seed ^ (uint64_t) (uintptr_t) &rng};

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
	{
		LsmIter    *it;
		LsmStatus	st;
		bool		backward = test_rng_below(&rng, 3) == 0;
		int			n = 0;
		char		want[32];

		if (lsm_db_iter(sh->db, NULL, &it, &st) != LSM_OK)
		{
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		if (backward)
			lsm_iter_seek_last(it);
		else
			lsm_iter_seek_first(it);
		for (; lsm_iter_valid(it); backward ? lsm_iter_prev(it) : lsm_iter_next(it))
		{
			live_key(want, sizeof(want), backward ? NLIVE - 1 - n : n);
			if (n >= NLIVE || !lsm_slice_eq(lsm_iter_key(it), lsm_slice_str(want)) ||
				lsm_iter_value(it).len < strlen(want) ||
				memcmp(lsm_iter_value(it).data, want, strlen(want)) != 0)
			{
				fprintf(stderr, "  scan %s: at %d got %.*s\n", backward ? "backward" : "forward",
						n, (int) lsm_iter_key(it).len, (const char *) lsm_iter_key(it).data);
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				break;
			}
			n++;
		}
		if (lsm_iter_status(it, &st) != LSM_OK || n != NLIVE)
		{
			fprintf(stderr, "  scan saw %d keys (%s)\n", n, st.msg);
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		}
		lsm_iter_destroy(it);
		__atomic_add_fetch(&sh->scans, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *
getter(void *p)
{
	Shared	   *sh = p;
	TestRng		rng = {sh->seed ^ 0x5555};
	LsmBuf		v = LSM_BUF_INIT;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
	{
		LsmStatus	st;
		char		k[32];
		bool		live = test_rng_below(&rng, 4) != 0;
		LsmCode		rc;

		if (live)
			live_key(k, sizeof(k), (int) test_rng_below(&rng, NLIVE));
		else
			dead_key(k, sizeof(k), (int) test_rng_below(&rng, NDEAD));
		rc = lsm_db_get(sh->db, NULL, lsm_slice_str(k), &v, &st);
		if (live ? (rc != LSM_OK || v.len < strlen(k) || memcmp(v.data, k, strlen(k)) != 0)
			: rc != LSM_NOT_FOUND)
		{
			fprintf(stderr, "  get %s: %s\n", k, lsm_code_name(rc));
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&sh->gets, 1, __ATOMIC_RELAXED);
	}
	lsm_buf_free(&v);
	return NULL;
}

/* A background worker: pick, run, install, release, as a host would. */
static void *
worker(void *p)
{
	Shared	   *sh = p;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
	{
		LsmCompaction *c;
		LsmStatus	st;
		LsmCode		rc = lsm_db_compaction_pick(sh->db, &c, &st);

		if (rc == LSM_NOT_FOUND)
		{
			usleep(200);
			continue;
		}
		if (rc == LSM_OK)
		{
			rc = lsm_compaction_run(c, &st);
			if (rc == LSM_OK)
				rc = lsm_compaction_install(c, &st);
			lsm_compaction_release(c);
		}
		if (rc != LSM_OK)
		{
			fprintf(stderr, "  worker: %s\n", st.msg);
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			break;
		}
		__atomic_add_fetch(&sh->worker_compactions, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int
write_round(LsmDb *db, TestRng *rng, long round)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	char		k[32];
	char		v[96];
	LsmCode		rc;

	for (int i = 0; i < 8; i++)
	{
		int			n = (int) test_rng_below(rng, NLIVE);

		live_key(k, sizeof(k), n);
		snprintf(v, sizeof(v), "%s.%ld.................................", k, round);
		lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(v), &st);
	}
	for (int i = 0; i < 3; i++)
	{
		int			n = (int) test_rng_below(rng, NDEAD);

		dead_key(k, sizeof(k), n);
		lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str("zombie"), &st);
		lsm_batch_delete(b, lsm_slice_str(k), &st);
	}
	rc = lsm_db_write(db, b, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  write: %s\n", st.msg);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

static void
run_concurrent(LsmCompactStyle style, bool workers)
{
	char		dir[256];
	LsmOptions	o = small_opts(style);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	Shared		sh;
	pthread_t	th[5];
	int			nth = 0;
	TestRng		rng;
	long		rounds = iters(6000);
	char		k[32];

	memset(&sh, 0, sizeof(sh));
	sh.seed = test_seed(style == LSM_COMPACT_TIERED ? "concurrent tiered" : "concurrent leveled");
	rng.s = sh.seed;
	o.auto_compact = !workers;
	o.max_bytes_for_level_base = 8 * 1024;
	o.level_size_multiplier = 2;
	test_tmpdir(dir, sizeof(dir), "cmp_conc");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	sh.db = db;
	for (int i = 0; i < NLIVE; i++)
	{
		live_key(k, sizeof(k), i);
		CHECK(put(db, k, lsm_slice_str(k)));
	}
	pthread_create(&th[nth++], NULL, scanner, &sh);
	pthread_create(&th[nth++], NULL, scanner, &sh);
	pthread_create(&th[nth++], NULL, getter, &sh);
	if (workers)
	{
		pthread_create(&th[nth++], NULL, worker, &sh);
		pthread_create(&th[nth++], NULL, worker, &sh);
	}
	for (long r = 0; r < rounds && !__atomic_load_n(&sh.errors, __ATOMIC_RELAXED); r++)
		CHECK(write_round(db, &rng, r));
	/* let the readers see the final state too */
	usleep(20000);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	lsm_db_stats(db, &s);
	printf("  %s%s: %ld rounds, %ld scans, %ld gets, %llu compactions (%ld by workers), "
		   "deepest level %d, %llu stops\n",
		   style == LSM_COMPACT_TIERED ? "tiered" : "leveled",
		   workers ? " with 2 workers" : ", auto", rounds, sh.scans, sh.gets,
		   (unsigned long long) s.compactions, sh.worker_compactions, deepest_level(&s),
		   (unsigned long long) s.stall_stops);
	CHECK(sh.errors == 0);
	CHECK(sh.scans > 0 && sh.gets > 0);
	CHECK(s.compactions > 5);
	CHECK(!workers || sh.worker_compactions > 0);
	CHECK(invariants_hold(db));
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

static void
test_concurrent_workers_leveled(void)
{
	run_concurrent(LSM_COMPACT_LEVELED, true);
}

static void
test_concurrent_auto_leveled(void)
{
	run_concurrent(LSM_COMPACT_LEVELED, false);
}

static void
test_concurrent_workers_tiered(void)
{
	run_concurrent(LSM_COMPACT_TIERED, true);
}

/*
 * Write stalls
 */

/*
 * With no one compacting, level 0 grows until writers slow down (each
 * slowed write sleeps) and then stop, which compacts inline: level 0 never
 * passes the stop trigger, and the counters show it.  A pending-bytes
 * limit slows writes down too.
 */
static void
test_stalls(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	static Model m;
	TestRng		rng = {4711};
	uint64_t	max_l0 = 0;

	memset(&m, 0, sizeof(m));
	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 3;
	o.l0_stop_writes_trigger = 6;
	o.slowdown_micros = 100;
	test_tmpdir(dir, sizeof(dir), "cmp_stall");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 4000; i++)
	{
		CHECK(random_op(db, &m, &rng, 1000, 10));
		lsm_db_stats(db, &s);
		if (s.files_per_level[0] > max_l0)
			max_l0 = s.files_per_level[0];
	}
	lsm_db_stats(db, &s);
	printf("  %llu slowdowns, %llu stops, %.1f ms stalled, level 0 at most %llu files\n",
		   (unsigned long long) s.stall_slowdowns, (unsigned long long) s.stall_stops,
		   s.stall_micros / 1000.0, (unsigned long long) max_l0);
	CHECK(s.stall_slowdowns > 0);
	CHECK(s.stall_stops > 0);
	CHECK(s.stall_micros >= s.stall_slowdowns * o.slowdown_micros);
	CHECK(s.compactions > 0);
	CHECK(max_l0 <= (uint64_t) o.l0_stop_writes_trigger);
	CHECK(db_matches(db, &m, 1000));
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* pending compaction bytes */
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	o.soft_pending_compaction_bytes = 1;
	o.hard_pending_compaction_bytes = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.pending_compaction_bytes > 0 || s.files_per_level[0] < 4);
	for (int i = 0; i < 2000; i++)
		CHECK(random_op(db, &m, &rng, 1000, 10));
	lsm_db_stats(db, &s);
	CHECK(s.pending_compaction_bytes > 0);
	CHECK(s.stall_slowdowns > 0);
	CHECK(s.stall_stops == 0);
	CHECK(db_matches(db, &m, 1000));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/* Options the pickers cannot work with are refused at open. */
static void
test_bad_options(void)
{
	char		dir[256];
	LsmDb	   *db;
	LsmStatus	st;
	LsmOptions	o;

	test_tmpdir(dir, sizeof(dir), "cmp_opts");
	lsm_options_init(&o);
	CHECK(o.compaction_style == LSM_COMPACT_LEVELED && o.auto_compact);
	CHECK(o.l0_compaction_trigger == 8 && o.level_size_multiplier == 10 && !o.level_dynamic);
	o.level_size_multiplier = 1;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	lsm_options_init(&o);
	o.l0_compaction_trigger = 0;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	lsm_options_init(&o);
	o.compaction_style = (LsmCompactStyle) 7;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	lsm_options_init(&o);
	o.tiered_size_ratio = 0.5;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	lsm_options_init(&o);
	o.target_file_size = 10;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, "target_file_size") != NULL);
	lsm_options_init(&o);
	CHECK(o.compression == LSM_COMPRESSION_ZSTD && o.compression_upper == LSM_COMPRESSION_LZ4);
	o.compression_upper = (LsmCompression) 3;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, "compression") != NULL);
	lsm_options_init(&o);
	o.compression = (LsmCompression) -1;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	test_rmtree(dir);
}

/*
 * Reopening with the other style works: files are files, and the new
 * style takes over from whatever shape it finds.
 */
static void
test_switch_style(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	static Model m;
	TestRng		rng = {99};

	memset(&m, 0, sizeof(m));
	test_tmpdir(dir, sizeof(dir), "cmp_switch");
	for (int round = 0; round < 4; round++)
	{
		o.compaction_style = round % 2 ? LSM_COMPACT_TIERED : LSM_COMPACT_LEVELED;
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		CHECK(db_matches(db, &m, 1500));
		for (int i = 0; i < 3000; i++)
			CHECK(random_op(db, &m, &rng, 1500, 20));
		CHECK(invariants_hold(db));
		CHECK(db_matches(db, &m, 1500));
		CHECK_OK(lsm_db_close(db, &st), &st);
	}
	model_free(&m);
	test_rmtree(dir);
}

/* RUN, printing how long the test took (the suite has a time budget). */
#define TIMED_RUN(fn) \
	do { \
		double		t0_ = now_sec(); \
		RUN(fn); \
		printf("     (%.2f s)\n", now_sec() - t0_); \
	} while (0)

/*
 * Level 0 below its trigger at a restart: with l0_open_compaction_trigger
 * a compaction is due at once (a host's worker runs it), so gets search
 * one L0 file instead of up to trigger - 1; once L0 is compacted the
 * usual trigger is back.  Without it nothing is due.
 */
static int
l0_files(LsmDb *db)
{
	LsmDbStats	s;

	lsm_db_stats(db, &s);
	return (int) s.files_per_level[0];
}

static void
test_l0_compacted_at_open(void)
{
	char		dir[256];
	char		k[32];
	LsmOptions	o = small_opts(LSM_COMPACT_LEVELED);
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	bool		did;

	o.auto_compact = false;		/* as a host: workers compact */
	test_tmpdir(dir, sizeof(dir), "cmp_l0open");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int f = 0; f < 3; f++)
	{
		for (int i = f; i < 300; i += 3)
		{
			key_name(k, sizeof(k), i);
			CHECK(put(db, k, lsm_slice_str(k)));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK(l0_files(db) == 3);
	CHECK(!lsm_db_compaction_needed(db));
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* reopened without the open trigger: three files stay */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(l0_files(db) == 3);
	CHECK(!lsm_db_compaction_needed(db));
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* with it: due at once, and one step empties level 0 */
	o.l0_open_compaction_trigger = 2;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(l0_files(db) == 3);
	CHECK(lsm_db_compaction_needed(db));
	CHECK_OK(lsm_db_compact_step(db, &did, &st), &st);
	CHECK(did);
	CHECK(l0_files(db) == 0);
	CHECK(!lsm_db_compaction_needed(db));
	for (int i = 0; i < 300; i++)
	{
		key_name(k, sizeof(k), i);
		CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str(k), &v, &st), &st);
	}

	/* back to the usual trigger: two new L0 files are not due */
	for (int f = 0; f < 2; f++)
	{
		key_name(k, sizeof(k), f);
		CHECK(put(db, k, lsm_slice_str("again")));
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK(l0_files(db) == 2);
	CHECK(!lsm_db_compaction_needed(db));
	lsm_buf_free(&v);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

int
main(void)
{
	int			rc;

	fast_env = fault_env_new();
	fault_env_set_real_sync(fast_env, false);
	TIMED_RUN(test_bad_options);
	TIMED_RUN(test_step_api);
	TIMED_RUN(test_leveled_shape);
	TIMED_RUN(test_leveled_dynamic);
	TIMED_RUN(test_min_overlap_pick);
	TIMED_RUN(test_static_gap_drains);
	TIMED_RUN(test_tiered_shape);
	TIMED_RUN(test_gc_snapshots);
	TIMED_RUN(test_merge_fold);
	TIMED_RUN(test_horizon_fn);
	TIMED_RUN(test_filter_fn);
	TIMED_RUN(test_flush_drops);
	TIMED_RUN(test_compression_per_level);
	TIMED_RUN(test_codec_reopen);
	TIMED_RUN(test_file_horizon_fn);
	TIMED_RUN(test_compact_range);
	TIMED_RUN(test_space_amp);
	TIMED_RUN(test_stalls);
	TIMED_RUN(test_switch_style);
	TIMED_RUN(test_l0_compacted_at_open);
	TIMED_RUN(test_concurrent_auto_leveled);
	TIMED_RUN(test_concurrent_workers_leveled);
	TIMED_RUN(test_concurrent_workers_tiered);
	rc = test_finish();
	fault_env_free(fast_env);
	return rc;
}
