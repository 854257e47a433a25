/*
 * test_db.c
 *		The database API end to end: put/get/delete/merge, snapshots,
 *		iterators with bounds in both directions, flush and reopen, batches
 *		larger than a memtable, hundreds of level-0 files (compaction
 *		off), and the recovery report after a torn WAL tail.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "testutil.h"

#include "db_internal.h"
#include "lsm.h"

static LsmOptions
small_opts(size_t write_buffer)
{
	LsmOptions	o;

	lsm_options_init(&o);
	o.write_buffer_size = write_buffer;
	o.sync_writes = false;
	o.block_cache_size = 1 << 20;
	return o;
}

/* Files stay where flushes and tests put them: no compaction, no stalls. */
static LsmOptions
no_compaction(LsmOptions o)
{
	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	return o;
}

static int
put(LsmDb *db, const char *k, const char *v)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmCode		rc;

	lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(v), &st);
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
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

/* Value of k as a string ("<none>" when absent, "<err>" on error). */
static const char *
get(LsmDb *db, const LsmSnapshot *snap, const char *k)
{
	static char out[4096];
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
	{
		fprintf(stderr, "  get %s: %s\n", k, st.msg);
		snprintf(out, sizeof(out), "<err>");
	}
	else
		snprintf(out, sizeof(out), "%.*s", (int) v.len, (const char *) v.data);
	lsm_buf_free(&v);
	return out;
}

static int64_t
get_int(LsmDb *db, const char *k, int *found)
{
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	int64_t		r = 0;

	*found = lsm_db_get(db, NULL, lsm_slice_str(k), &v, &st) == LSM_OK && v.len == 8;
	if (*found)
		r = (int64_t) lsm_get_fixed64(v.data);
	lsm_buf_free(&v);
	return r;
}

/* Concatenate "key=value," over a scan, forward or backward. */
static const char *
scan(LsmDb *db, const char *lo, const char *hi, bool reverse)
{
	static char out[65536];
	LsmReadOptions ro;
	LsmIter    *it;
	LsmStatus	st;
	size_t		len = 0;

	lsm_read_options_init(&ro);
	if (lo)
		ro.lower_bound = lsm_slice_str(lo);
	if (hi)
		ro.upper_bound = lsm_slice_str(hi);
	out[0] = '\0';
	if (lsm_db_iter(db, &ro, &it, &st) != LSM_OK)
		return "<err>";
	if (reverse)
		lsm_iter_seek_last(it);
	else
		lsm_iter_seek_first(it);
	while (lsm_iter_valid(it))
	{
		LsmSlice	k = lsm_iter_key(it);
		LsmSlice	v = lsm_iter_value(it);

		len += snprintf(out + len, sizeof(out) - len, "%.*s=%.*s,",
						(int) k.len, (const char *) k.data,
						(int) v.len, (const char *) v.data);
		if (reverse)
			lsm_iter_prev(it);
		else
			lsm_iter_next(it);
	}
	if (lsm_iter_status(it, &st) != LSM_OK)
	{
		lsm_iter_destroy(it);
		return "<err>";
	}
	lsm_iter_destroy(it);
	return out;
}

static void
test_basic(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(64 * 1024);
	LsmDb	   *db;
	LsmStatus	st;

	test_tmpdir(dir, sizeof(dir), "db_basic");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(strcmp(get(db, NULL, "a"), "<none>") == 0);
	CHECK(put(db, "a", "1"));
	CHECK(put(db, "b", "2"));
	CHECK(put(db, "", "empty-key"));
	CHECK(put(db, "c", ""));
	CHECK(strcmp(get(db, NULL, "a"), "1") == 0);
	CHECK(strcmp(get(db, NULL, "b"), "2") == 0);
	CHECK(strcmp(get(db, NULL, ""), "empty-key") == 0);
	CHECK(strcmp(get(db, NULL, "c"), "") == 0);
	CHECK(put(db, "a", "one"));
	CHECK(strcmp(get(db, NULL, "a"), "one") == 0);
	CHECK(del(db, "b"));
	CHECK(strcmp(get(db, NULL, "b"), "<none>") == 0);
	CHECK(strcmp(scan(db, NULL, NULL, false), "=empty-key,a=one,c=,") == 0);
	CHECK(strcmp(scan(db, NULL, NULL, true), "c=,a=one,=empty-key,") == 0);

	/* the same after a flush, and with some of it overwritten above */
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(strcmp(get(db, NULL, "a"), "one") == 0);
	CHECK(strcmp(get(db, NULL, "b"), "<none>") == 0);
	CHECK(put(db, "b", "again"));
	CHECK(del(db, "c"));
	CHECK(strcmp(scan(db, NULL, NULL, false), "=empty-key,a=one,b=again,") == 0);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* reopen: the WAL part and the flushed part */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(strcmp(scan(db, NULL, NULL, false), "=empty-key,a=one,b=again,") == 0);
	{
		LsmDbStats s;

		lsm_db_stats(db, &s);
		CHECK(s.files_per_level[0] == 2);	/* the flush, and the reopen's */
		CHECK(s.last_seq == 8);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* create_if_missing = false on a missing directory */
	{
		char		missing[300];

		snprintf(missing, sizeof(missing), "%s/nope", dir);
		o.create_if_missing = false;
		CHECK(lsm_db_open(&o, missing, &db, &st) == LSM_INVALID_ARGUMENT);
		CHECK(db == NULL);
	}
	test_rmtree(dir);
}

/*
 * lsm_db_checkpoint copies what the tables hold (not the memtable) with a
 * MANIFEST of its own; the copy opens as a database by itself and is not
 * touched by what the original does afterwards.
 */
static void
test_checkpoint(void)
{
	char		dir[256];
	char		copy[300];
	LsmOptions	o = small_opts(64 * 1024);
	LsmDb	   *db;
	LsmStatus	st;
	LsmCheckpointInfo info;
	char		k[16];

	test_tmpdir(dir, sizeof(dir), "db_checkpoint");
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	strcat(dir, "/db");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(put(db, "a", "1"));
	CHECK(put(db, "b", "2"));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(put(db, "b", "two"));
	CHECK(del(db, "a"));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(put(db, "c", "memtable only"));
	CHECK_OK(lsm_db_checkpoint(db, copy, &info, &st), &st);
	CHECK(info.files == 2 && info.bytes > 0 && info.last_seq == 4);
	/* the original goes on: its files are compacted away */
	for (int i = 0; i < 100; i++)
	{
		snprintf(k, sizeof(k), "k%03d", i);
		CHECK(put(db, k, "x"));
	}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, copy, &db, &st), &st);
	CHECK(strcmp(scan(db, NULL, NULL, false), "b=two,") == 0);
	CHECK(lsm_db_last_seq(db) == 4);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
	test_rmtree(copy);
}

static void
test_merge(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(64 * 1024);
	LsmDb	   *db;
	LsmStatus	st;
	int			found;

	test_tmpdir(dir, sizeof(dir), "db_merge");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(add(db, "n", 5));
	CHECK(add(db, "n", 7));
	CHECK(get_int(db, "n", &found) == 12 && found);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(add(db, "n", -2));
	CHECK(get_int(db, "n", &found) == 10 && found);
	/* a merge over a delete starts from nothing */
	CHECK(del(db, "n"));
	CHECK(add(db, "n", 3));
	CHECK(get_int(db, "n", &found) == 3 && found);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(add(db, "n", 1));
	CHECK(get_int(db, "n", &found) == 4 && found);

	/* a merge over a PUT of an 8-byte value */
	{
		LsmBatch   *b = lsm_batch_create();
		uint8_t		enc[8];

		lsm_put_fixed64(enc, 100);
		lsm_batch_put(b, lsm_slice_str("m"), lsm_slice(enc, 8), &st);
		CHECK_OK(lsm_db_write(db, b, &st), &st);
		lsm_batch_destroy(b);
	}
	CHECK(add(db, "m", 1));
	CHECK(get_int(db, "m", &found) == 101 && found);

	/* a merge over a value that is not an integer fails the read */
	CHECK(put(db, "s", "text"));
	CHECK(add(db, "s", 1));
	{
		LsmBuf		v = LSM_BUF_INIT;

		CHECK(lsm_db_get(db, NULL, lsm_slice_str("s"), &v, &st) == LSM_INVALID_ARGUMENT);
		lsm_buf_free(&v);
	}

	/* iterators fold the same way, in both directions */
	{
		LsmReadOptions ro;
		LsmIter    *it;
		int			seen = 0;

		lsm_read_options_init(&ro);
		ro.upper_bound = lsm_slice_str("s");
		CHECK_OK(lsm_db_iter(db, &ro, &it, &st), &st);
		for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
		{
			int64_t		v = (int64_t) lsm_get_fixed64(lsm_iter_value(it).data);

			if (lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("n")))
				CHECK(v == 4);
			else
				CHECK(v == 101);
			seen++;
		}
		CHECK(lsm_iter_status(it, &st) == LSM_OK);
		CHECK(seen == 2);
		lsm_iter_destroy(it);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

static void
test_snapshots(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(64 * 1024);
	LsmDb	   *db;
	LsmStatus	st;
	LsmSnapshot *s1;
	LsmSnapshot *s2;

	test_tmpdir(dir, sizeof(dir), "db_snap");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(put(db, "k", "v1"));
	s1 = lsm_db_snapshot(db);
	CHECK(put(db, "k", "v2"));
	CHECK(put(db, "x", "new"));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	s2 = lsm_db_snapshot(db);
	CHECK(del(db, "k"));
	CHECK(lsm_snapshot_seq(s1) < lsm_snapshot_seq(s2));

	CHECK(strcmp(get(db, s1, "k"), "v1") == 0);
	CHECK(strcmp(get(db, s1, "x"), "<none>") == 0);
	CHECK(strcmp(get(db, s2, "k"), "v2") == 0);
	CHECK(strcmp(get(db, NULL, "k"), "<none>") == 0);
	{
		LsmReadOptions ro;
		LsmIter    *it;

		lsm_read_options_init(&ro);
		ro.snapshot = s1;
		CHECK_OK(lsm_db_iter(db, &ro, &it, &st), &st);
		lsm_iter_seek_first(it);
		CHECK(lsm_iter_valid(it));
		CHECK(lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("k")));
		CHECK(lsm_slice_eq(lsm_iter_value(it), lsm_slice_str("v1")));
		lsm_iter_next(it);
		CHECK(!lsm_iter_valid(it));
		lsm_iter_destroy(it);
	}
	lsm_db_release_snapshot(db, s1);
	lsm_db_release_snapshot(db, s2);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* Keys k000..k099 with values v<n>; odd ones deleted; a third flushed. */
static void
test_iter_bounds(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(64 * 1024);
	LsmDb	   *db;
	LsmStatus	st;
	char		k[16];
	char		v[16];
	int			i;

	test_tmpdir(dir, sizeof(dir), "db_iter");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (i = 0; i < 100; i++)
	{
		snprintf(k, sizeof(k), "k%03d", i);
		snprintf(v, sizeof(v), "v%d", i);
		CHECK(put(db, k, v));
		if (i == 33)
			CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	for (i = 1; i < 100; i += 2)
	{
		snprintf(k, sizeof(k), "k%03d", i);
		CHECK(del(db, k));
		if (i == 51)
			CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK(strcmp(scan(db, "k010", "k016", false), "k010=v10,k012=v12,k014=v14,") == 0);
	CHECK(strcmp(scan(db, "k010", "k016", true), "k014=v14,k012=v12,k010=v10,") == 0);
	CHECK(strcmp(scan(db, "k011", "k015", false), "k012=v12,k014=v14,") == 0);
	CHECK(strcmp(scan(db, "k011", "k015", true), "k014=v14,k012=v12,") == 0);
	CHECK(strcmp(scan(db, "k0971", NULL, false), "k098=v98,") == 0);
	CHECK(strcmp(scan(db, NULL, "k002", true), "k000=v0,") == 0);
	CHECK(strcmp(scan(db, "k050", "k050", false), "") == 0);
	CHECK(strcmp(scan(db, "z", NULL, true), "") == 0);

	/* seeks and direction switches */
	{
		LsmReadOptions ro;
		LsmIter    *it;

		lsm_read_options_init(&ro);
		ro.lower_bound = lsm_slice_str("k020");
		ro.upper_bound = lsm_slice_str("k030");
		CHECK_OK(lsm_db_iter(db, &ro, &it, &st), &st);
		lsm_iter_seek(it, lsm_slice_str("k025"));
		CHECK(lsm_iter_valid(it) && lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("k026")));
		lsm_iter_prev(it);
		CHECK(lsm_iter_valid(it) && lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("k024")));
		lsm_iter_next(it);
		CHECK(lsm_iter_valid(it) && lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("k026")));
		lsm_iter_next(it);
		CHECK(lsm_iter_valid(it) && lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("k028")));
		lsm_iter_next(it);
		CHECK(!lsm_iter_valid(it));
		lsm_iter_seek(it, lsm_slice_str("a"));	/* below the lower bound */
		CHECK(lsm_iter_valid(it) && lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("k020")));
		lsm_iter_prev(it);
		CHECK(!lsm_iter_valid(it));
		lsm_iter_seek_last(it);
		CHECK(lsm_iter_valid(it) && lsm_slice_eq(lsm_iter_key(it), lsm_slice_str("k028")));
		lsm_iter_seek(it, lsm_slice_str("k030"));
		CHECK(!lsm_iter_valid(it));
		CHECK(lsm_iter_status(it, &st) == LSM_OK);
		lsm_iter_destroy(it);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* A batch much larger than write_buffer_size still goes in whole. */
static void
test_large_batch(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(8 * 1024);
	LsmDb	   *db;
	LsmStatus	st;
	LsmBatch   *b = lsm_batch_create();
	char		k[32];
	char		val[200];
	int			i;

	test_tmpdir(dir, sizeof(dir), "db_big");
	memset(val, 'x', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(put(db, "before", "1"));
	for (i = 0; i < 2000; i++)
	{
		snprintf(k, sizeof(k), "big%05d", i);
		lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(val), &st);
	}
	CHECK_OK(lsm_db_write(db, b, &st), &st);
	CHECK(put(db, "after", "2"));
	CHECK(strcmp(get(db, NULL, "big01234"), val) == 0);
	CHECK(strcmp(get(db, NULL, "before"), "1") == 0);
	CHECK(strcmp(get(db, NULL, "after"), "2") == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(strcmp(get(db, NULL, "big00000"), val) == 0);
	CHECK(strcmp(get(db, NULL, "big01999"), val) == 0);
	CHECK(strcmp(get(db, NULL, "after"), "2") == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_batch_destroy(b);
	test_rmtree(dir);
}

/*
 * 300 flushes of overlapping key ranges: gets must read level 0 newest
 * first, iterators must merge 300 tables, reopen must find them all.
 */
static void
test_many_level0(void)
{
	char		dir[256];
	LsmOptions	o = no_compaction(small_opts(64 * 1024));
	LsmDb	   *db;
	LsmStatus	st;
	char		k[32];
	char		v[32];
	int			nflush = 300;
	int			nkeys = 1000;
	int			f;
	int			i;
	double		t0 = now_sec();

	test_tmpdir(dir, sizeof(dir), "db_l0");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (f = 0; f < nflush; f++)
	{
		/* each flush rewrites 10 keys spread over the key space */
		for (i = 0; i < 10; i++)
		{
			int			key = (f * 37 + i * 101) % nkeys;

			snprintf(k, sizeof(k), "key%05d", key);
			snprintf(v, sizeof(v), "f%d", f);
			CHECK(put(db, k, v));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	{
		LsmDbStats s;

		lsm_db_stats(db, &s);
		CHECK(s.files_per_level[0] == (uint64_t) nflush);
	}

	for (int round = 0; round < 2; round++)
	{
		char		expect[32];
		int			live = 0;
		int			scanned = 0;
		LsmIter    *it;

		for (i = 0; i < nkeys; i++)
		{
			int			last = -1;

			for (f = 0; f < nflush; f++)
				for (int j = 0; j < 10; j++)
					if ((f * 37 + j * 101) % nkeys == i)
						last = f;
			snprintf(k, sizeof(k), "key%05d", i);
			if (last < 0)
				CHECK(strcmp(get(db, NULL, k), "<none>") == 0);
			else
			{
				snprintf(expect, sizeof(expect), "f%d", last);
				CHECK(strcmp(get(db, NULL, k), expect) == 0);
				live++;
			}
		}
		CHECK_OK(lsm_db_iter(db, NULL, &it, &st), &st);
		for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
			scanned++;
		CHECK(lsm_iter_status(it, &st) == LSM_OK);
		CHECK(scanned == live);
		scanned = 0;
		for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
			scanned++;
		CHECK(scanned == live);
		lsm_iter_destroy(it);

		CHECK_OK(lsm_db_close(db, &st), &st);
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	}
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	printf("  300 level-0 files: %.2f s\n", now_sec() - t0);
	test_rmtree(dir);
}

/* Cut the last WAL record short: recovery applies the rest and says so. */
static void
test_torn_wal(void)
{
	char		dir[256];
	char		logpath[600];
	LsmOptions	o = small_opts(1 << 20);
	LsmDb	   *db;
	LsmStatus	st;
	LsmRecoveryReport rep;
	struct stat sb;
	char		k[16];
	int			i;

	test_tmpdir(dir, sizeof(dir), "db_torn");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	lsm_db_recovery_report(db, &rep);
	CHECK(rep.records_applied == 0 && !rep.tail_was_torn && rep.bytes_dropped == 0);
	for (i = 0; i < 10; i++)
	{
		snprintf(k, sizeof(k), "t%d", i);
		CHECK(put(db, k, "value-value-value"));
	}
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK(find_file(dir, ".log", logpath, sizeof(logpath)) == 1);
	CHECK(stat(logpath, &sb) == 0);
	CHECK(truncate(logpath, sb.st_size - 3) == 0);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	lsm_db_recovery_report(db, &rep);
	CHECK(rep.records_applied == 9);
	CHECK(rep.tail_was_torn);
	CHECK(rep.bytes_dropped > 0);
	CHECK(strcmp(get(db, NULL, "t8"), "value-value-value") == 0);
	CHECK(strcmp(get(db, NULL, "t9"), "<none>") == 0);
	/* new writes after the torn tail survive the next reopen */
	CHECK(put(db, "t9", "again"));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	lsm_db_recovery_report(db, &rep);
	CHECK(!rep.tail_was_torn);
	CHECK(rep.records_applied == 1);
	CHECK(strcmp(get(db, NULL, "t9"), "again") == 0);
	CHECK(strcmp(get(db, NULL, "t0"), "value-value-value") == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* A stats sanity check: gets are counted, bloom skips happen. */
static void
test_stats(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(64 * 1024);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	char		k[16];
	int			i;

	test_tmpdir(dir, sizeof(dir), "db_stats");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (i = 0; i < 200; i++)
	{
		snprintf(k, sizeof(k), "s%04d", i * 2);
		CHECK(put(db, k, "v"));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(put(db, "s0000", "mem"));
	CHECK(strcmp(get(db, NULL, "s0000"), "mem") == 0);
	for (i = 0; i < 200; i++)
	{
		snprintf(k, sizeof(k), "s%04d", i * 2 + 1);
		CHECK(strcmp(get(db, NULL, k), "<none>") == 0);
	}
	lsm_db_stats(db, &s);
	CHECK(s.gets == 201);
	CHECK(s.memtable_hits == 1);
	CHECK(s.bloom_useful > 150);
	CHECK(s.files_per_level[0] == 1);
	CHECK(s.bytes_per_level[0] > 0);
	CHECK(s.bytes_flushed > 0);
	CHECK(s.bytes_written_wal > 0);
	CHECK(s.last_seq == 201);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Readers racing a writer that flushes: every batch sets keys r0..r9 to
 * the same number, increasing.  A reader's scan must see one number on all
 * ten keys (batches are atomic, an iterator reads one state), and numbers
 * seen by one reader must never go down.
 */
typedef struct ThreadArg
{
	LsmDb	   *db;
	int		   *stop;
	int			errors;
	long		reads;
} ThreadArg;

#include <pthread.h>

static void *
reader_thread(void *p)
{
	ThreadArg  *a = p;
	int64_t		last = -1;

	while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE))
	{
		LsmIter    *it;
		LsmStatus	st;
		int64_t		seen = -1;
		int			n = 0;

		if (lsm_db_iter(a->db, NULL, &it, &st) != LSM_OK)
		{
			a->errors++;
			break;
		}
		for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		{
			int64_t		v = strtoll((const char *) lsm_iter_value(it).data, NULL, 10);

			if (seen >= 0 && v != seen)
				a->errors++;
			seen = v;
			n++;
		}
		if (lsm_iter_status(it, &st) != LSM_OK || (n != 0 && n != 10) || seen < last)
			a->errors++;
		last = seen;
		lsm_iter_destroy(it);

		/* and a point get must not go backwards either */
		{
			LsmBuf		v = LSM_BUF_INIT;
			LsmCode		rc = lsm_db_get(a->db, NULL, lsm_slice_str("r5"), &v, &st);

			if (rc == LSM_OK)
			{
				lsm_buf_append(&v, "", 1);
				if (strtoll((const char *) v.data, NULL, 10) < last)
					a->errors++;
			}
			else if (rc != LSM_NOT_FOUND || last >= 0)
				a->errors++;
			lsm_buf_free(&v);
		}
		a->reads++;
	}
	return NULL;
}

static void
test_threads(void)
{
	char		dir[256];
	LsmOptions	o = small_opts(16 * 1024);
	LsmDb	   *db;
	LsmStatus	st;
	pthread_t	th[3];
	ThreadArg	args[3];
	int			stop = 0;
	LsmBatch   *b = lsm_batch_create();

	test_tmpdir(dir, sizeof(dir), "db_threads");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 3; i++)
	{
		memset(&args[i], 0, sizeof(args[i]));
		args[i].db = db;
		args[i].stop = &stop;
		pthread_create(&th[i], NULL, reader_thread, &args[i]);
	}
	for (int v = 0; v < 1500; v++)
	{
		char		val[64];
		char		k[16];

		/* padded values, so a flush every few dozen batches */
		snprintf(val, sizeof(val), "%020d..............................", v);
		lsm_batch_clear(b);
		for (int i = 0; i < 10; i++)
		{
			snprintf(k, sizeof(k), "r%d", i);
			lsm_batch_put(b, lsm_slice_str(k), lsm_slice_str(val), &st);
		}
		CHECK_OK(lsm_db_write(db, b, &st), &st);
		if (v % 300 == 299)
			CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
	{
		pthread_join(th[i], NULL);
		CHECK(args[i].errors == 0);
		CHECK(args[i].reads > 0);
	}
	lsm_batch_destroy(b);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Move every level-0 file to level 1 (what a trivial-move compaction
 * does), through the internal edit API.
 */
static int
move_level0_to_level1(LsmDb *db, LsmStatus *st)
{
	LsmVersionEdit e;
	LsmVersion *v;
	LsmCode		rc = LSM_OK;

	db->env->mutex_lock(db->mu);
	v = lsm_versionset_current(db->vs);
	db->env->mutex_unlock(db->mu);
	lsm_edit_init(&e);
	for (int i = 0; i < v->n_files[0]; i++)
	{
		LsmFileMeta *f = v->files[0][i];

		lsm_edit_delete_file(&e, 0, f->number, st);
		lsm_edit_add_file(&e, 1, f, st);
	}
	rc = lsm_db_apply_edit(db, &e, st);
	lsm_edit_free(&e);
	db->env->mutex_lock(db->mu);
	lsm_version_unref(v);
	db->env->mutex_unlock(db->mu);
	return rc == LSM_OK;
}

/*
 * Files on level 1 (sorted, disjoint) under newer level-0 files and the
 * memtable: gets take the binary-search path, scans the level iterator;
 * a moved file stays on disk while an old reader still uses its meta;
 * all of it survives reopen.
 */
static void
test_levels(void)
{
	char		dir[256];
	LsmOptions	o = no_compaction(small_opts(64 * 1024));
	LsmDb	   *db;
	LsmStatus	st;
	LsmIter    *old_it;
	char		k[16];
	char		v[16];
	char		expect[8192];
	size_t		len = 0;

	o.block_size = 256;
	test_tmpdir(dir, sizeof(dir), "db_levels");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	/* five files of 40 keys each, disjoint ranges, written out of order */
	for (int f = 0; f < 5; f++)
	{
		int			base = ((f * 3) % 5) * 40;

		for (int i = 0; i < 40; i++)
		{
			snprintf(k, sizeof(k), "L%03d", base + i);
			snprintf(v, sizeof(v), "one%d", base + i);
			CHECK(put(db, k, v));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	/* an iterator over the old version, kept across the move */
	CHECK_OK(lsm_db_iter(db, NULL, &old_it, &st), &st);
	CHECK(move_level0_to_level1(db, &st));
	{
		LsmDbStats	s;

		lsm_db_stats(db, &s);
		CHECK(s.files_per_level[0] == 0 && s.files_per_level[1] == 5);
	}
	/* the old iterator still reads its files */
	{
		int			n = 0;

		for (lsm_iter_seek_first(old_it); lsm_iter_valid(old_it); lsm_iter_next(old_it))
			n++;
		CHECK(n == 200);
		lsm_iter_destroy(old_it);
	}

	/* newer versions above: every 10th key overwritten, every 7th deleted */
	for (int i = 0; i < 200; i += 10)
	{
		snprintf(k, sizeof(k), "L%03d", i);
		snprintf(v, sizeof(v), "two%d", i);
		CHECK(put(db, k, v));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	for (int i = 0; i < 200; i += 7)
	{
		snprintf(k, sizeof(k), "L%03d", i);
		CHECK(del(db, k));
	}
	for (int round = 0; round < 2; round++)
	{
		len = 0;
		for (int i = 0; i < 200; i++)
		{
			snprintf(k, sizeof(k), "L%03d", i);
			if (i % 7 == 0)
			{
				CHECK(strcmp(get(db, NULL, k), "<none>") == 0);
				continue;
			}
			snprintf(v, sizeof(v), "%s%d", i % 10 == 0 ? "two" : "one", i);
			CHECK(strcmp(get(db, NULL, k), v) == 0);
			len += snprintf(expect + len, sizeof(expect) - len, "%s=%s,", k, v);
		}
		CHECK(strcmp(get(db, NULL, "L2000"), "<none>") == 0);
		CHECK(strcmp(get(db, NULL, "K"), "<none>") == 0);
		CHECK(strcmp(scan(db, NULL, NULL, false), expect) == 0);
		/* a bounded scan across file boundaries, backward */
		CHECK(strcmp(scan(db, "L038", "L042", true), "L041=one41,L040=two40,L039=one39,L038=one38,") == 0);
		CHECK(strcmp(scan(db, "L0385", "L0425", false), "L039=one39,L040=two40,L041=one41,") == 0);
		CHECK_OK(lsm_db_verify(db, &st), &st);
		CHECK_OK(lsm_db_close(db, &st), &st);
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	}
	{
		LsmDbStats	s;

		lsm_db_stats(db, &s);
		CHECK(s.files_per_level[1] == 5);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_threads);
	RUN(test_basic);
	RUN(test_merge);
	RUN(test_snapshots);
	RUN(test_iter_bounds);
	RUN(test_large_batch);
	RUN(test_many_level0);
	RUN(test_torn_wal);
	RUN(test_checkpoint);
	RUN(test_stats);
	RUN(test_levels);
	return test_finish();
}
