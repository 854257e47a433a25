/*
 * test_db_crash.c
 *		Durability and failure handling, using the fault-injecting env:
 *
 *	- random crashes: synced writes with small memtables (so flushes happen
 *	  inside writes), the disk "dies" at a random write-like call (in a WAL
 *	  append, an SSTable, a MANIFEST, CURRENT, or during recovery itself),
 *	  then power is lost and the database reopened.  Every acknowledged
 *	  write must be there; the one write that failed must be there whole or
 *	  not at all; nothing else.
 *	  The options make compaction run inside writes too (tiny targets,
 *	  either style), so the disk also dies inside compactions.
 *	- crashes and disk-full errors at every write-like call of a manual
 *	  compaction over several levels: after recovery the contents are
 *	  exactly what was acknowledged, and no file is left behind.
 *	- disk-full errors without a crash: the failing write reports the
 *	  error and is invisible, the database keeps working.
 *	- a flipped byte in an SSTable: reads of that block fail with
 *	  LSM_CORRUPTION naming the file, other reads work, nothing crashes.
 */
#include <sys/stat.h>
#include <dirent.h>

#include "testutil.h"
#include "fault_env.h"

#include "lsm.h"

#define NKEYS 150

typedef struct Model
{
	bool		exists[NKEYS];
	LsmBuf		val[NKEYS];
} Model;

typedef struct Op
{
	int			key;
	LsmKind		kind;
	LsmBuf		val;
} Op;

static void
key_name(char *buf, size_t len, int k)
{
	snprintf(buf, len, "key%03d", k);
}

static bool
is_counter(int k)
{
	return k % 3 == 0;
}

static void
model_copy(Model *dst, const Model *src)
{
	for (int i = 0; i < NKEYS; i++)
	{
		dst->exists[i] = src->exists[i];
		lsm_buf_set(&dst->val[i], src->val[i].data, src->val[i].len);
	}
}

static void
model_free(Model *m)
{
	for (int i = 0; i < NKEYS; i++)
		lsm_buf_free(&m->val[i]);
}

static void
model_apply(Model *m, const Op *ops, int n)
{
	for (int i = 0; i < n; i++)
	{
		const Op   *o = &ops[i];

		if (o->kind == LSM_KIND_DELETE)
			m->exists[o->key] = false;
		else if (o->kind == LSM_KIND_PUT)
		{
			m->exists[o->key] = true;
			lsm_buf_set(&m->val[o->key], o->val.data, o->val.len);
		}
		else
		{
			int64_t		sum = (int64_t) lsm_get_fixed64(o->val.data);
			uint8_t		enc[8];

			if (m->exists[o->key])
				sum += (int64_t) lsm_get_fixed64(m->val[o->key].data);
			lsm_put_fixed64(enc, (uint64_t) sum);
			m->exists[o->key] = true;
			lsm_buf_set(&m->val[o->key], enc, 8);
		}
	}
}

/* A random batch of 1..6 operations, returned in ops (n returned). */
static int
random_batch(TestRng *rng, Op *ops, LsmBatch *b)
{
	int			n = 1 + (int) test_rng_below(rng, 6);
	LsmStatus	st;
	char		k[16];

	lsm_batch_clear(b);
	for (int i = 0; i < n; i++)
	{
		Op		   *o = &ops[i];
		int			roll = (int) test_rng_below(rng, 10);

		o->key = (int) test_rng_below(rng, NKEYS);
		key_name(k, sizeof(k), o->key);
		lsm_buf_reset(&o->val);
		if (roll < 2)
		{
			o->kind = LSM_KIND_DELETE;
			lsm_batch_delete(b, lsm_slice_str(k), &st);
			continue;
		}
		if (is_counter(o->key))
		{
			uint8_t		enc[8];

			o->kind = roll < 7 ? LSM_KIND_MERGE : LSM_KIND_PUT;
			lsm_put_fixed64(enc, (uint64_t) (int64_t) ((int) test_rng_below(rng, 201) - 100));
			lsm_buf_set(&o->val, enc, 8);
		}
		else
		{
			size_t		len = test_rng_below(rng, 300);

			o->kind = LSM_KIND_PUT;
			lsm_buf_reserve(&o->val, len + 1);
			for (size_t j = 0; j < len; j++)
				o->val.data[j] = (uint8_t) ('a' + test_rng_below(rng, 26));
			o->val.len = len;
		}
		if (o->kind == LSM_KIND_MERGE)
			lsm_batch_merge(b, lsm_slice_str(k), lsm_buf_slice(&o->val), &st);
		else
			lsm_batch_put(b, lsm_slice_str(k), lsm_buf_slice(&o->val), &st);
	}
	return n;
}

/*
 * db_matches
 *		Whether the database holds exactly the model, by gets and by a scan.
 *		quiet: report nothing (used to try two candidate models).
 */
static bool
db_matches(LsmDb *db, const Model *m, bool quiet)
{
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmIter    *it;
	char		k[16];
	int			next = 0;
	bool		ok = true;

	for (int i = 0; ok && i < NKEYS; i++)
	{
		LsmCode		rc;

		key_name(k, sizeof(k), i);
		rc = lsm_db_get(db, NULL, lsm_slice_str(k), &v, &st);
		if (m->exists[i] ? (rc != LSM_OK || !lsm_slice_eq(lsm_buf_slice(&v),
														  lsm_buf_slice(&m->val[i])))
			: rc != LSM_NOT_FOUND)
		{
			if (!quiet)
				fprintf(stderr, "  key %s: get returned %s, model says %s\n", k,
						lsm_code_name(rc), m->exists[i] ? "present" : "absent");
			ok = false;
		}
	}
	if (ok && lsm_db_iter(db, NULL, &it, &st) == LSM_OK)
	{
		for (lsm_iter_seek_first(it); ok && lsm_iter_valid(it); lsm_iter_next(it))
		{
			while (next < NKEYS && !m->exists[next])
				next++;
			key_name(k, sizeof(k), next);
			if (next == NKEYS || !lsm_slice_eq(lsm_iter_key(it), lsm_slice_str(k)) ||
				!lsm_slice_eq(lsm_iter_value(it), lsm_buf_slice(&m->val[next])))
			{
				if (!quiet)
					fprintf(stderr, "  scan differs at model key %d\n", next);
				ok = false;
			}
			next++;
		}
		if (ok && lsm_iter_status(it, &st) != LSM_OK)
		{
			if (!quiet)
				fprintf(stderr, "  scan failed: %s\n", st.msg);
			ok = false;
		}
		while (ok && next < NKEYS && !m->exists[next])
			next++;
		if (ok && next != NKEYS)
		{
			if (!quiet)
				fprintf(stderr, "  scan ended early before model key %d\n", next);
			ok = false;
		}
		lsm_iter_destroy(it);
	}
	lsm_buf_free(&v);
	return ok;
}

static LsmOptions
crash_opts(LsmEnv *env, TestRng *rng)
{
	LsmOptions	o;

	lsm_options_init(&o);
	o.env = env;
	o.sync_writes = true;
	o.write_buffer_size = (size_t) (6 + test_rng_below(rng, 20)) * 1024;
	o.block_size = 512;
	o.compression = test_rng_below(rng, 2) ? LSM_COMPRESSION_ZSTD : LSM_COMPRESSION_NONE;
	o.block_cache_size = test_rng_below(rng, 2) ? 32 * 1024 : 0;
	/* compactions inside writes, reaching a few levels */
	o.compaction_style = test_rng_below(rng, 3) ? LSM_COMPACT_LEVELED : LSM_COMPACT_TIERED;
	o.target_file_size = (uint64_t) (2 + test_rng_below(rng, 6)) * 1024;
	o.max_bytes_for_level_base = (uint64_t) (4 + test_rng_below(rng, 12)) * 1024;
	o.level_size_multiplier = 2 + (int) test_rng_below(rng, 3);
	o.l0_compaction_trigger = 2 + (int) test_rng_below(rng, 3);
	o.level_dynamic = test_rng_below(rng, 2) != 0;
	/* values of 100+ bytes in blob files, collected at various garbage */
	if (test_rng_below(rng, 2))
	{
		o.blob_min_size = 100;
		o.blob_gc_percent = 10 + (int) test_rng_below(rng, 80);
	}
	return o;
}

/*
 * Power loss at random points.  "pending" is the model including the one
 * write whose outcome was unknown when the disk died; after recovery the
 * database must equal either it or the acknowledged model.
 */
static void
test_random_crashes(void)
{
	uint64_t	seed = test_seed("db_crash");
	TestRng		rng = {seed};
	const char *itenv = getenv("LSM_TEST_ITERS");
	int			rounds = itenv ? atoi(itenv) / 20 + 1 : 60;
	LsmEnv	   *env = fault_env_new();
	char		dir[256];
	Model		acked;
	Model		pending;
	bool		have_pending = false;
	Op			ops[8];
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmDb	   *db = NULL;
	int			crashes_in_open = 0;
	int			failed_writes = 0;

	/* the crash simulation needs no real fsync */
	fault_env_set_real_sync(env, false);
	memset(&acked, 0, sizeof(acked));
	memset(&pending, 0, sizeof(pending));
	memset(ops, 0, sizeof(ops));
	test_tmpdir(dir, sizeof(dir), "db_crash");

	for (int round = 0; round < rounds; round++)
	{
		LsmOptions	o = crash_opts(env, &rng);
		int			writes;

		/* sometimes the disk dies during recovery itself */
		for (;;)
		{
			bool		armed = test_rng_below(&rng, 4) == 0;
			LsmCode		rc;

			if (armed)
				fault_env_fail_writes_from(env, 1 + (long) test_rng_below(&rng, 12), EIO);
			rc = lsm_db_open(&o, dir, &db, &st);
			fault_env_heal(env);
			if (rc == LSM_OK)
				break;
			if (!armed)
			{
				fprintf(stderr, "  seed %llu round %d: open failed: %s\n",
						(unsigned long long) seed, round, st.msg);
				CHECK(rc == LSM_OK);
			}
			crashes_in_open++;
			CHECK(fault_env_crash(env) >= 0);
		}

		/* the state must be the acknowledged one, or that plus the pending write */
		if (db_matches(db, &acked, true))
			;
		else if (have_pending && db_matches(db, &pending, true))
			model_copy(&acked, &pending);
		else
		{
			fprintf(stderr, "  seed %llu round %d: recovered state matches no model\n",
					(unsigned long long) seed, round);
			db_matches(db, &acked, false);
			lsm_db_close(db, &st);
			CHECK(false);
		}
		have_pending = false;
		{
			LsmRecoveryReport rep;

			lsm_db_recovery_report(db, &rep);
			/* a synced WAL never has more than a torn tail to drop */
			CHECK(rep.bytes_dropped < 4096);
		}

		/* write until the armed failure hits or the round ends */
		writes = 1 + (int) test_rng_below(&rng, 60);
		if (test_rng_below(&rng, 5) != 0)
			fault_env_fail_writes_from(env, 1 + (long) test_rng_below(&rng, 150),
									   test_rng_below(&rng, 2) ? EIO : ENOSPC);
		for (int w = 0; w < writes; w++)
		{
			int			n;

			if (test_rng_below(&rng, 15) == 0)
			{
				if (lsm_db_flush(db, &st) != LSM_OK)
					break;		/* the disk died in a flush */
				continue;
			}
			n = random_batch(&rng, ops, b);
			if (lsm_db_write(db, b, &st) != LSM_OK)
			{
				model_copy(&pending, &acked);
				model_apply(&pending, ops, n);
				have_pending = true;
				failed_writes++;
				break;
			}
			model_apply(&acked, ops, n);
		}

		/* power loss; the engine must not be able to write anything more */
		CHECK(fault_env_crash(env) >= 0);
		lsm_db_close(db, &st);
		db = NULL;
		fault_env_heal(env);
	}

	/* a last clean open sees the same */
	{
		LsmOptions	o = crash_opts(env, &rng);

		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		if (!db_matches(db, &acked, true))
			CHECK(have_pending && db_matches(db, &pending, false));
		CHECK_OK(lsm_db_verify(db, &st), &st);
		CHECK_OK(lsm_db_close(db, &st), &st);
	}
	printf("  %d rounds, %d failed writes, %d crashes during recovery\n", rounds,
		   failed_writes, crashes_in_open);
	for (int i = 0; i < 8; i++)
		lsm_buf_free(&ops[i].val);
	model_free(&acked);
	model_free(&pending);
	lsm_batch_destroy(b);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * Recovery flushes replayed data when it outgrows a (smaller) memtable.
 * Crash at every point of such a recovery: the next open must neither lose
 * batches nor apply any twice (merge operands make a double visible).
 */
static void
test_crash_in_recovery_flush(void)
{
	LsmEnv	   *env = fault_env_new();
	TestRng		rng = {4242};
	LsmBatch   *b = lsm_batch_create();
	Op			ops[8];
	LsmStatus	st;
	int			tried = 0;

	/* the crash simulation needs no real fsync */
	fault_env_set_real_sync(env, false);
	memset(ops, 0, sizeof(ops));
	for (long n = 1; n < 160; n += 1 + (long) test_rng_below(&rng, 4))
	{
		char		dir[256];
		Model		m;
		LsmOptions	o;
		LsmDb	   *db;
		LsmCode		rc;

		memset(&m, 0, sizeof(m));
		test_tmpdir(dir, sizeof(dir), "db_recflush");
		lsm_options_init(&o);
		o.env = env;
		o.sync_writes = false;
		o.write_buffer_size = 1 << 20;
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		for (int w = 0; w < 120; w++)
		{
			int			k = random_batch(&rng, ops, b);

			CHECK_OK(lsm_db_write(db, b, &st), &st);
			model_apply(&m, ops, k);
		}
		CHECK_OK(lsm_db_close(db, &st), &st);	/* syncs the WAL */

		o.write_buffer_size = 8 * 1024;
		fault_env_fail_writes_from(env, n, EIO);
		rc = lsm_db_open(&o, dir, &db, &st);
		fault_env_heal(env);
		if (rc == LSM_OK)
		{
			/* n was past the whole recovery: done */
			CHECK(db_matches(db, &m, false));
			lsm_db_close(db, &st);
			model_free(&m);
			test_rmtree(dir);
			break;
		}
		CHECK(fault_env_crash(env) >= 0);
		tried++;
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		if (!db_matches(db, &m, false))
		{
			fprintf(stderr, "  crash at write-like call %ld of recovery\n", n);
			CHECK(false);
		}
		CHECK_OK(lsm_db_verify(db, &st), &st);
		CHECK_OK(lsm_db_close(db, &st), &st);
		model_free(&m);
		test_rmtree(dir);
	}
	CHECK(tried > 10);
	for (int i = 0; i < 8; i++)
		lsm_buf_free(&ops[i].val);
	lsm_batch_destroy(b);
	fault_env_free(env);
}

/*
 * Disk full, no crash: the failed write is invisible and later writes work;
 * each position of the failure (WAL append, sync, table, MANIFEST) is hit
 * by walking n over the write-like calls of a write that flushes.
 */
static void
test_disk_full(void)
{
	LsmEnv	   *env = fault_env_new();
	TestRng		rng = {99};
	char		dir[256];
	Model		m;
	Op			ops[8];
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmDb	   *db;
	LsmOptions	o;
	int			failures = 0;

	/* the crash simulation needs no real fsync */
	fault_env_set_real_sync(env, false);
	memset(&m, 0, sizeof(m));
	memset(ops, 0, sizeof(ops));
	test_tmpdir(dir, sizeof(dir), "db_full");
	lsm_options_init(&o);
	o.env = env;
	o.write_buffer_size = 8 * 1024;
	o.sync_writes = true;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (long n = 1; n < 40; n++)
	{
		fault_env_fail_writes_after(env, n, ENOSPC);
		for (int w = 0; w < 40; w++)
		{
			int			k = random_batch(&rng, ops, b);
			LsmCode		rc = lsm_db_write(db, b, &st);

			if (rc == LSM_OK)
				model_apply(&m, ops, k);
			else
			{
				CHECK(rc == LSM_NO_SPACE);
				failures++;
			}
		}
		fault_env_heal(env);
		CHECK(db_matches(db, &m, false));
	}
	CHECK(failures > 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	lsm_db_close(db, &st);
	for (int i = 0; i < 8; i++)
		lsm_buf_free(&ops[i].val);
	model_free(&m);
	lsm_batch_destroy(b);
	fault_env_free(env);
	test_rmtree(dir);
}

/* How many .sst files dir holds. */
static int
count_ext(const char *dir, const char *ext)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;
	size_t		el = strlen(ext);

	while (d && (e = readdir(d)) != NULL)
	{
		size_t		l = strlen(e->d_name);

		if (l > el && strcmp(e->d_name + l - el, ext) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

static int
count_sst(const char *dir)
{
	return count_ext(dir, ".sst");
}

/* Blob files the current version's tables reference. */
static int
live_blobs(LsmDb *db)
{
	LsmDbStats	s;

	lsm_db_stats(db, &s);
	return (int) s.blob_files;
}

/* Files the current version lists, all levels. */
static int
live_files(LsmDb *db)
{
	LsmDbStats	s;
	int			n = 0;

	lsm_db_stats(db, &s);
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		n += (int) s.files_per_level[l];
	return n;
}

/*
 * The disk dies (EIO from then on, then power loss) or is full once
 * (ENOSPC, no crash) at the n-th write-like call of a full manual
 * compaction of a database spread over several levels, for n = 1, 2, ...
 * until the compaction gets through: outputs, their fsyncs, the directory
 * sync, the MANIFEST edit, and the flush in front of it.  Every write was
 * acknowledged before, so the recovered contents must be exactly the
 * model; a later compaction must work; no table or blob file may be left
 * over.  With blob_min_size the values of 100+ bytes are in blob files,
 * which the compaction also collects (blob_gc_percent 20).
 */
static void
crash_in_compaction(size_t blob_min_size)
{
	LsmEnv	   *env = fault_env_new();
	LsmBatch   *b = lsm_batch_create();
	Op			ops[8];
	LsmStatus	st;
	int			crashed = 0;
	int			full = 0;
	bool		through = false;

	/* the crash simulation needs no real fsync */
	fault_env_set_real_sync(env, false);
	memset(ops, 0, sizeof(ops));
	for (long n = 1; !through && n < 5000; n += 1 + n / 24)
	{
		char		dir[256];
		Model		m;
		LsmOptions	o;
		LsmDb	   *db;
		TestRng		rng = {31337};
		bool		crash = n % 2 == 1;
		LsmCode		rc;

		memset(&m, 0, sizeof(m));
		test_tmpdir(dir, sizeof(dir), "db_cmpcrash");
		lsm_options_init(&o);
		o.env = env;
		o.sync_writes = true;
		o.write_buffer_size = 8 * 1024;
		o.target_file_size = 2 * 1024;
		o.max_bytes_for_level_base = 4 * 1024;
		o.level_size_multiplier = 2;
		o.l0_compaction_trigger = 2;
		/* the compaction also moves values out of blob files with garbage */
		o.blob_min_size = blob_min_size;
		o.blob_gc_percent = 20;
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		/* references are small: more writes for as many calls */
		for (int w = 0; w < (blob_min_size > 0 ? 900 : 300); w++)
		{
			int			k = random_batch(&rng, ops, b);

			CHECK_OK(lsm_db_write(db, b, &st), &st);
			model_apply(&m, ops, k);
		}

		if (crash)
			fault_env_fail_writes_from(env, n, EIO);
		else
			fault_env_fail_writes_after(env, n, ENOSPC);
		rc = lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st);
		fault_env_heal(env);
		if (rc == LSM_OK)
		{
			LsmDbStats	ds;

			through = true;
			lsm_db_stats(db, &ds);
			printf("  blob files %llu, %llu value bytes relocated by the compaction\n",
				   (unsigned long long) ds.blob_files,
				   (unsigned long long) ds.bytes_blob_relocated);
			/* values were overwritten: the full compaction collected garbage */
			CHECK(blob_min_size == 0 || (ds.blob_files > 0 && ds.bytes_blob_relocated > 0));
		}
		else if (crash)
		{
			CHECK(fault_env_crash(env) >= 0);
			crashed++;
		}
		else
		{
			/* still works: the contents, and writes */
			CHECK(rc == LSM_NO_SPACE);
			CHECK(db_matches(db, &m, false));
			for (int w = 0; w < 20; w++)
			{
				int			k = random_batch(&rng, ops, b);

				CHECK_OK(lsm_db_write(db, b, &st), &st);
				model_apply(&m, ops, k);
			}
			full++;
		}
		lsm_db_close(db, &st);

		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		if (!db_matches(db, &m, false))
		{
			fprintf(stderr, "  %s at write-like call %ld of a compaction\n",
					crash ? "crash" : "disk full", n);
			CHECK(false);
		}
		CHECK_OK(lsm_db_verify(db, &st), &st);
		CHECK(count_sst(dir) == live_files(db));
		CHECK(count_ext(dir, ".blob") == live_blobs(db));
		CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
		CHECK(db_matches(db, &m, false));
		CHECK(count_sst(dir) == live_files(db));
		CHECK(count_ext(dir, ".blob") == live_blobs(db));
		CHECK_OK(lsm_db_close(db, &st), &st);
		model_free(&m);
		test_rmtree(dir);
	}
	printf("  %d crashes and %d disk-full errors inside a compaction\n", crashed, full);
	CHECK(through);
	CHECK(crashed > 10 && full > 10);
	for (int i = 0; i < 8; i++)
		lsm_buf_free(&ops[i].val);
	lsm_batch_destroy(b);
	fault_env_free(env);
}

static void
test_crash_in_compaction(void)
{
	crash_in_compaction(0);
}

static void
test_crash_in_compaction_blobs(void)
{
	crash_in_compaction(100);
}

static void
test_sst_corruption(void)
{
	char		dir[256];
	char		sst[600];
	LsmOptions	o;
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	LsmIter    *it;
	char		k[16];
	char		val[128];
	const char *base;
	int			n = 0;

	test_tmpdir(dir, sizeof(dir), "db_flip");
	lsm_options_init(&o);
	o.block_size = 256;
	o.compression = LSM_COMPRESSION_NONE;
	o.sync_writes = false;
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	{
		LsmBatch   *b = lsm_batch_create();

		for (int i = 0; i < 200; i++)
		{
			key_name(k, sizeof(k), i);
			lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(val), &st);
		}
		CHECK_OK(lsm_db_write(db, b, &st), &st);
		lsm_batch_destroy(b);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);	/* reopen flushes it to one table */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(find_file(dir, ".sst", sst, sizeof(sst)) == 1);
	base = strrchr(sst, '/') + 1;

	/* flip a byte inside the first data block (the smallest keys) */
	{
		FILE	   *f = fopen(sst, "r+b");
		int			c;

		fseek(f, 40, SEEK_SET);
		c = fgetc(f);
		fseek(f, 40, SEEK_SET);
		fputc(c ^ 0x01, f);
		fclose(f);
	}
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_get(db, NULL, lsm_slice_str("key000"), &v, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, base) != NULL);
	/* other blocks still read */
	CHECK_OK(lsm_db_get(db, NULL, lsm_slice_str("key150"), &v, &st), &st);
	CHECK(lsm_slice_eq(lsm_buf_slice(&v), lsm_slice_str(val)));
	/* a scan stops at the damage with the error, forward and backward */
	CHECK_OK(lsm_db_iter(db, NULL, &it, &st), &st);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	CHECK(n == 0);
	CHECK(lsm_iter_status(it, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, base) != NULL);
	lsm_iter_destroy(it);
	/* (table iterators keep their error: use a fresh iterator per scan) */
	n = 0;
	CHECK_OK(lsm_db_iter(db, NULL, &it, &st), &st);
	for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
		n++;
	CHECK(n > 100 && n < 200);
	CHECK(lsm_iter_status(it, &st) == LSM_CORRUPTION);
	lsm_iter_destroy(it);
	/* a seek past the damage works */
	CHECK_OK(lsm_db_iter(db, NULL, &it, &st), &st);
	lsm_iter_seek(it, lsm_slice_str("key100"));
	CHECK(lsm_iter_valid(it));
	lsm_iter_destroy(it);
	CHECK(lsm_db_verify(db, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, base) != NULL);
	{
		LsmVerifyResult r;

		/* verify_all counts the problem instead of failing */
		CHECK_OK(lsm_db_verify_all(db, &r, NULL, NULL, &st), &st);
		CHECK(r.files == 1 && r.problems == 1 && r.entries < 200);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_buf_free(&v);
	test_rmtree(dir);
}

/* A table named by the MANIFEST but gone from the directory. */
static void
test_missing_table(void)
{
	char		dir[256];
	char		sst[600];
	LsmOptions	o;
	LsmDb	   *db;
	LsmStatus	st;

	test_tmpdir(dir, sizeof(dir), "db_missing");
	lsm_options_init(&o);
	o.sync_writes = false;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	{
		LsmBatch   *b = lsm_batch_create();

		lsm_batch_put(b, lsm_slice_str("a"), lsm_slice_str("b"), &st);
		CHECK_OK(lsm_db_write(db, b, &st), &st);
		lsm_batch_destroy(b);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(find_file(dir, ".sst", sst, sizeof(sst)) == 1);
	CHECK(unlink(sst) == 0);
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_CORRUPTION);
	CHECK(strstr(st.msg, "missing") != NULL);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_random_crashes);
	RUN(test_crash_in_recovery_flush);
	RUN(test_crash_in_compaction);
	RUN(test_crash_in_compaction_blobs);
	RUN(test_disk_full);
	RUN(test_sst_corruption);
	RUN(test_missing_table);
	return test_finish();
}
