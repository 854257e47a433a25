/*
 * test_ingest.c
 *		lsm_db_ingest (db_ingest.c): finished SSTables added to a database
 *		with a global sequence number.  The level rule (bottom when the
 *		range meets nothing, else level 0), visibility by read point, the
 *		newest-wins order against older data (flushed and in memtables),
 *		compaction of ingested files, persistence through a reopen, the
 *		table iterator's conformance with the global number, refusals
 *		that give the files back, and overwrites that reach a loaded bottom.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "testutil.h"

#include "lsm.h"
#include "lsm_format.h"
#include "sstable.h"

static LsmSlice
str_slice(const char *s)
{
	return lsm_slice(s, strlen(s));
}

static void
host_options(LsmOptions *o)
{
	lsm_options_init(o);
	o->external_wal = true;
	o->compression = LSM_COMPRESSION_NONE;
}

/* Host options with a tree of small files and levels: level n targets 16K x 4^(n-1). */
static void
small_tree_options(LsmOptions *o)
{
	host_options(o);
	o->write_buffer_size = 16 * 1024;
	o->target_file_size = 8 * 1024;
	o->block_size = 1024;
	o->max_bytes_for_level_base = 16 * 1024;
	o->level_size_multiplier = 4;
	o->l0_compaction_trigger = 4;
}

/* Write one key at seq through lsm_db_write_at. */
static LsmCode
write_at_kv(LsmDb *db, LsmSeq seq, const char *k, const char *v, bool del,
			LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	LsmCode		rc;

	rc = del ? lsm_batch_delete(b, str_slice(k), st) :
		lsm_batch_put(b, str_slice(k), str_slice(v), st);
	if (rc == LSM_OK)
		rc = lsm_db_write_at(db, lsm_batch_contents(b), seq, st);
	lsm_batch_destroy(b);
	return rc;
}

/*
 * Build an ingestable file at path: keys "<prefix><i>" for i in [from, to)
 * with step, sequence number seq (0 for a proper ingest file), value
 * "<vtag><i>"; every delete_every-th key (0: none) a tombstone.
 */
static LsmCode
build_file(const char *path, const char *prefix, int from, int to, int step,
		   const char *vtag, int delete_every, LsmSeq seq, LsmStatus *st)
{
	LsmSstOptions so;
	LsmOptions	o;
	LsmSstBuilder *b;
	LsmBuf		ikey = LSM_BUF_INIT;
	LsmCode		rc;
	int			i;

	lsm_options_init(&o);
	o.compression = LSM_COMPRESSION_NONE;
	lsm_sst_options_from(&so, &o);
	rc = lsm_sst_builder_open(NULL, path, &so, &b, st);
	if (rc != LSM_OK)
		return rc;
	for (i = from; i < to && rc == LSM_OK; i += step)
	{
		char		k[64];
		char		v[64];
		bool		del = delete_every > 0 && i % delete_every == 0;

		snprintf(k, sizeof(k), "%s%06d", prefix, i);
		snprintf(v, sizeof(v), "%s%d", vtag, i);
		ikey.len = 0;
		if (!lsm_ikey_append(&ikey, str_slice(k), seq,
							 del ? LSM_KIND_DELETE : LSM_KIND_PUT))
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "oom");
		else
			rc = lsm_sst_builder_add(b, lsm_buf_slice(&ikey),
									 del ? lsm_slice(NULL, 0) : str_slice(v), st);
	}
	lsm_buf_free(&ikey);
	if (rc != LSM_OK)
	{
		lsm_sst_builder_abandon(b);
		return rc;
	}
	return lsm_sst_builder_finish(b, NULL, st);
}

/* The value of k at read point seq (0: latest) into out; "" when absent. */
static int
value_at(LsmDb *db, LsmSeq seq, const char *k, char *out, size_t len)
{
	LsmReadOptions ro;
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmCode		rc;

	lsm_read_options_init(&ro);
	ro.read_seq = seq;
	rc = lsm_db_get(db, &ro, str_slice(k), &v, &st);
	out[0] = '\0';
	if (rc == LSM_OK)
		snprintf(out, len, "%.*s", (int) v.len, (const char *) v.data);
	lsm_buf_free(&v);
	return rc == LSM_OK || rc == LSM_NOT_FOUND;
}

static int
has(LsmDb *db, LsmSeq seq, const char *k, const char *want)
{
	char		got[128];

	if (!value_at(db, seq, k, got, sizeof(got)))
		return 0;
	if (strcmp(got, want) != 0)
		fprintf(stderr, "  %s at %llu: \"%s\", want \"%s\"\n", k,
				(unsigned long long) seq, got, want);
	return strcmp(got, want) == 0;
}

/* Keys visible at seq, counted forward and backward (must agree). */
static long
count_visible(LsmDb *db, LsmSeq seq)
{
	LsmReadOptions ro;
	LsmIter    *it;
	LsmStatus	st;
	long		fwd = 0,
				bwd = 0;

	lsm_read_options_init(&ro);
	ro.read_seq = seq;
	if (lsm_db_iter(db, &ro, &it, &st) != LSM_OK)
		return -1;
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		fwd++;
	for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
		bwd++;
	if (lsm_iter_status(it, &st) != LSM_OK)
		fwd = -1;
	lsm_iter_destroy(it);
	return fwd == bwd ? fwd : -2;
}

static int
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/*
 * An empty database: the files go to the bottom level, are visible from
 * their numbers on and not below, and survive a reopen (the MANIFEST keeps
 * the global numbers; last_seq is the last file's).
 */
static void
test_ingest_empty_bottom(void)
{
	char		dir[256],
				p1[300],
				p2[300];
	const char *paths[2];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmIngestResult r;
	LsmDbStats	stats;

	test_tmpdir(dir, sizeof(dir), "ingest_empty");
	host_options(&o);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	snprintf(p2, sizeof(p2), "%s/bulk-2.sst", dir);
	CHECK_OK(build_file(p1, "k", 0, 500, 1, "a", 0, 0, &st), &st);
	CHECK_OK(build_file(p2, "k", 500, 1000, 1, "a", 0, 0, &st), &st);
	paths[0] = p1;
	paths[1] = p2;
	CHECK_OK(lsm_db_ingest(db, paths, 2, 100, &r, &st), &st);
	CHECK(r.level == LSM_NUM_LEVELS - 1);
	CHECK(r.files == 2 && r.entries == 1000 && r.first_seq == 100);
	CHECK(!exists(p1) && !exists(p2));
	lsm_db_stats(db, &stats);
	CHECK(stats.files_per_level[LSM_NUM_LEVELS - 1] == 2);
	CHECK(stats.files_per_level[0] == 0);
	CHECK(stats.ingested_files == 2);
	CHECK(lsm_db_last_seq(db) == 101);
	CHECK(has(db, 99, "k000001", ""));
	CHECK(has(db, 101, "k000001", "a1"));
	CHECK(has(db, 101, "k000999", "a999"));
	CHECK(has(db, 0, "k000500", "a500"));
	CHECK(count_visible(db, 99) == 0);
	CHECK(count_visible(db, 101) == 1000);
	/* later writes are newer than the files */
	CHECK_OK(write_at_kv(db, 102, "k000007", "new", false, &st), &st);
	CHECK(has(db, 0, "k000007", "new"));
	CHECK(has(db, 101, "k000007", "a7"));
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	/* 102 was in the memtable only: external_wal replays it from the host */
	CHECK(lsm_db_last_seq(db) == 101);
	CHECK(has(db, 0, "k000007", "a7"));
	CHECK(has(db, 0, "k000999", "a999"));
	CHECK(count_visible(db, 0) == 1000);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Overlap: older data in a table file and in the memtable.  The ingest
 * flushes the memtable first, goes to level 0, wins over both at read
 * points from its number on, its tombstones hide older rows, and a manual
 * compaction keeps exactly that.  A reopen finds the same.
 */
static void
test_ingest_overlap_level0(void)
{
	char		dir[256],
				p1[300];
	const char *paths[1];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmIngestResult r;
	LsmDbStats	stats;
	LsmSeq		seq = 1;
	int			i;

	test_tmpdir(dir, sizeof(dir), "ingest_overlap");
	host_options(&o);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (i = 0; i < 100; i++)
	{
		char		k[32],
					v[32];

		snprintf(k, sizeof(k), "k%06d", i);
		snprintf(v, sizeof(v), "old%d", i);
		CHECK_OK(write_at_kv(db, seq++, k, v, false, &st), &st);
		if (i == 49)
			CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	/* keys 0, 2, 4 ... 198; every 10th a tombstone */
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	CHECK_OK(build_file(p1, "k", 0, 200, 2, "new", 10, 0, &st), &st);
	paths[0] = p1;
	CHECK_OK(lsm_db_ingest(db, paths, 1, 500, &r, &st), &st);
	CHECK(r.level == 0);
	lsm_db_stats(db, &stats);
	CHECK(stats.memtable_bytes == 0 || stats.imm_memtables == 0);
	CHECK(stats.files_per_level[0] == 3);	/* flush, memtable, ingest */
	CHECK(has(db, 499, "k000002", "old2"));
	CHECK(has(db, 500, "k000002", "new2"));
	CHECK(has(db, 500, "k000003", "old3"));
	CHECK(has(db, 500, "k000010", ""));		/* tombstone */
	CHECK(has(db, 499, "k000010", "old10"));
	CHECK(has(db, 500, "k000198", "new198"));
	/* 100 old keys, 10 hidden by tombstones; 50 new keys above 99, 10 of them tombstones */
	CHECK(count_visible(db, 499) == 100);
	CHECK(count_visible(db, 500) == 100 - 10 + 40);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &stats);
	CHECK(stats.files_per_level[0] == 0);
	CHECK(has(db, 0, "k000002", "new2"));
	CHECK(has(db, 0, "k000010", ""));
	CHECK(has(db, 0, "k000099", "old99"));
	CHECK(count_visible(db, 0) == 130);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == 500);
	CHECK(has(db, 0, "k000004", "new4"));
	CHECK(count_visible(db, 0) == 130);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Keys past the largest go to the bottom level of a table that has data;
 * the same ingest without compaction, reopened, is still there (the
 * MANIFEST's tag 6 round trip).
 */
static void
test_ingest_past_largest(void)
{
	char		dir[256],
				p1[300],
				p2[300];
	const char *paths[1];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmIngestResult r;

	test_tmpdir(dir, sizeof(dir), "ingest_past");
	host_options(&o);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, 1, "a", "1", false, &st), &st);
	CHECK_OK(write_at_kv(db, 2, "b", "2", false, &st), &st);
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	CHECK_OK(build_file(p1, "z", 0, 300, 1, "z", 0, 0, &st), &st);
	paths[0] = p1;
	CHECK_OK(lsm_db_ingest(db, paths, 1, 0, &r, &st), &st);
	CHECK(r.level == LSM_NUM_LEVELS - 1 && r.first_seq == 3);
	/* a range between existing keys overlaps: level 0 */
	snprintf(p2, sizeof(p2), "%s/bulk-2.sst", dir);
	CHECK_OK(build_file(p2, "aa", 0, 3, 1, "x", 0, 0, &st), &st);
	paths[0] = p2;
	CHECK_OK(lsm_db_ingest(db, paths, 1, 10, &r, &st), &st);
	CHECK(r.level == 0);
	CHECK(count_visible(db, 0) == 2 + 300 + 3);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == 10);
	CHECK(has(db, 0, "z000299", "z299"));
	CHECK(has(db, 9, "aa000001", ""));
	CHECK(has(db, 10, "aa000001", "x1"));
	CHECK(has(db, 2, "z000000", ""));
	CHECK(has(db, 0, "b", "2"));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Refusals leave the database as it was and the files at their paths:
 * keys with sequence numbers, files out of key order, a number not above
 * the last one.
 */
static void
test_ingest_refused(void)
{
	char		dir[256],
				p1[300],
				p2[300];
	const char *paths[2];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;

	test_tmpdir(dir, sizeof(dir), "ingest_refused");
	host_options(&o);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, 5, "a", "1", false, &st), &st);
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	snprintf(p2, sizeof(p2), "%s/bulk-2.sst", dir);
	CHECK_OK(build_file(p1, "k", 0, 10, 1, "v", 0, 7, &st), &st);
	paths[0] = p1;
	CHECK(lsm_db_ingest(db, paths, 1, 0, NULL, &st) == LSM_INVALID_ARGUMENT);
	CHECK(exists(p1));
	CHECK(unlink(p1) == 0);
	CHECK_OK(build_file(p1, "k", 0, 10, 1, "v", 0, 0, &st), &st);
	CHECK_OK(build_file(p2, "k", 5, 20, 1, "v", 0, 0, &st), &st);
	paths[1] = p2;
	CHECK(lsm_db_ingest(db, paths, 2, 0, NULL, &st) == LSM_INVALID_ARGUMENT);
	CHECK(exists(p1) && exists(p2));
	CHECK(lsm_db_ingest(db, paths, 1, 5, NULL, &st) == LSM_INVALID_ARGUMENT);
	CHECK(exists(p1));
	lsm_db_stats(db, &stats);
	CHECK(stats.ingested_files == 0);
	CHECK(has(db, 0, "k000001", ""));
	CHECK(has(db, 0, "a", "1"));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * The table iterator of an ingested file shows the global number in every
 * key and passes the conformance check, probes of the same user keys at
 * read points above and below the number included.
 */
static void
test_ingest_iter_conforms(void)
{
	char		dir[256],
				p1[300];
	LsmStatus	st;
	LsmSst	   *t;
	LsmIter    *it;
	const LsmSeq g = 77;
	enum
	{
		N = 400
	};
	LsmBuf		keys[N];
	LsmBuf		probes[3 * N];
	char		vals[N][16];
	TestKV		model[N];
	LsmSlice	probe_slices[3 * N];
	int			i,
				ok;

	test_tmpdir(dir, sizeof(dir), "ingest_iter");
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	CHECK_OK(build_file(p1, "k", 0, 2 * N, 2, "v", 7, 0, &st), &st);
	CHECK_OK(lsm_sst_open(NULL, p1, 1, NULL, &t, &st), &st);
	lsm_sst_set_global_seq(t, g);
	for (i = 0; i < N; i++)
	{
		char		k[32];
		char		odd[32];

		snprintf(k, sizeof(k), "k%06d", 2 * i);
		snprintf(odd, sizeof(odd), "k%06d", 2 * i + 1);
		snprintf(vals[i], sizeof(vals[i]), "v%d", 2 * i);
		keys[i] = (LsmBuf) LSM_BUF_INIT;
		lsm_ikey_append(&keys[i], str_slice(k), g,
						(2 * i) % 7 == 0 ? LSM_KIND_DELETE : LSM_KIND_PUT);
		model[i].key = lsm_buf_slice(&keys[i]);
		model[i].value = (2 * i) % 7 == 0 ? lsm_slice(NULL, 0) : str_slice(vals[i]);
		probes[3 * i] = probes[3 * i + 1] = probes[3 * i + 2] = (LsmBuf) LSM_BUF_INIT;
		lsm_ikey_append(&probes[3 * i], str_slice(k), g + 1, LSM_KIND_FOR_SEEK);
		lsm_ikey_append(&probes[3 * i + 1], str_slice(k), g - 1, LSM_KIND_FOR_SEEK);
		lsm_ikey_append(&probes[3 * i + 2], str_slice(odd), g, LSM_KIND_FOR_SEEK);
	}
	for (i = 0; i < 3 * N; i++)
		probe_slices[i] = lsm_buf_slice(&probes[i]);
	it = lsm_sst_iter(t, false, NULL);
	ok = test_iter_check(it, model, N, probe_slices, 3 * N, lsm_ikey_cmp,
						 test_seed("ingest_iter"));
	lsm_iter_destroy(it);
	lsm_sst_close(t);
	for (i = 0; i < N; i++)
		lsm_buf_free(&keys[i]);
	for (i = 0; i < 3 * N; i++)
		lsm_buf_free(&probes[i]);
	test_rmtree(dir);
	CHECK(ok);
}

/*
 * A loaded bottom of long values, overwritten through flushes that move
 * the values to blob files: level 1 then holds small references, and only
 * counting the values they stand for (compaction.c, level_weight) brings
 * it down onto the bottom, where the loaded values they shadow go.
 */
static void
test_ingest_bottom_takes_blob_overwrites(void)
{
	enum
	{
		NKEYS = 1000,
		VLEN = 1000
	};
	char		dir[256],
				p1[300];
	const char *paths[1];
	LsmOptions	o;
	LsmSstOptions so;
	LsmSstBuilder *b;
	LsmBuf		ikey = LSM_BUF_INIT;
	LsmBuf		got = LSM_BUF_INIT;
	LsmStatus	st;
	LsmDb	   *db;
	LsmIngestResult r;
	LsmDbStats	s;
	LsmSeq		seq;
	static char v[VLEN + 1];
	uint64_t	loaded;

	test_tmpdir(dir, sizeof(dir), "ingest_blob_overwrite");
	small_tree_options(&o);
	o.write_buffer_size = 64 * 1024;
	o.target_file_size = 64 * 1024;
	o.max_bytes_for_level_base = 256 * 1024;
	o.level_size_multiplier = 10;
	o.blob_min_size = 100;
	o.compression_upper = LSM_COMPRESSION_NONE;	/* blob files as big as their values */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	lsm_sst_options_from(&so, &o);
	CHECK_OK(lsm_sst_builder_open(NULL, p1, &so, &b, &st), &st);
	for (int i = 0; i < NKEYS; i++)
	{
		char		k[32];

		snprintf(k, sizeof(k), "k%06d", i);
		memset(v, 'a' + i % 26, VLEN);
		snprintf(v, sizeof(v), "load-%d-", i);
		v[strlen(v)] = 'x';
		ikey.len = 0;
		CHECK(lsm_ikey_append(&ikey, str_slice(k), 0, LSM_KIND_PUT));
		CHECK_OK(lsm_sst_builder_add(b, lsm_buf_slice(&ikey), lsm_slice(v, VLEN), &st), &st);
	}
	CHECK_OK(lsm_sst_builder_finish(b, NULL, &st), &st);
	paths[0] = p1;
	CHECK_OK(lsm_db_ingest(db, paths, 1, 100, &r, &st), &st);
	CHECK(r.level == LSM_NUM_LEVELS - 1);
	lsm_db_stats(db, &s);
	loaded = s.bytes_per_level[LSM_NUM_LEVELS - 1];
	seq = lsm_db_last_seq(db);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NKEYS; i++)
		{
			char		k[32];

			snprintf(k, sizeof(k), "k%06d", i);
			memset(v, 'A' + (i + round) % 26, VLEN);
			snprintf(v, sizeof(v), "r%d-%d-", round, i);
			v[strlen(v)] = 'y';
			CHECK_OK(write_at_kv(db, ++seq, k, v, false, &st), &st);
		}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	lsm_db_stats(db, &s);
	printf("  loaded %lluK; levels:", (unsigned long long) loaded / 1024);
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		printf(" %llu/%lluK", (unsigned long long) s.files_per_level[l],
			   (unsigned long long) s.bytes_per_level[l] / 1024);
	printf("; blob files %llu, %lluK\n", (unsigned long long) s.blob_files,
		   (unsigned long long) s.blob_file_bytes / 1024);
	/* the loaded values are gone from the bottom: it holds references */
	CHECK(s.bytes_per_level[LSM_NUM_LEVELS - 1] < loaded / 4);
	CHECK(s.entries_per_level[LSM_NUM_LEVELS - 1] == NKEYS);
	for (int i = 0; i < NKEYS; i += 37)
	{
		char		k[32];
		char		want[32];

		snprintf(k, sizeof(k), "k%06d", i);
		snprintf(want, sizeof(want), "r1-%d-y", i);
		CHECK_OK(lsm_db_get(db, NULL, str_slice(k), &got, &st), &st);
		CHECK(got.len == VLEN && memcmp(got.data, want, strlen(want)) == 0);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_buf_free(&ikey);
	lsm_buf_free(&got);
	test_rmtree(dir);
}

/*
 * A bulk load into an empty table goes to the last level; the overwrites
 * that follow (static level shape) must reach it, not pile up in the
 * levels between, which the static targets would let grow to many times
 * the table (compaction.c, static_shape).  1000 keys ingested, then
 * 40 rounds of random overwrites with values of about the same size (the
 * table stays within level 2's target, checked): at the end levels 2..5
 * are empty, level 1 is within its target, the last level
 * holds each key once, and every key reads its newest value, also after a
 * reopen.
 */
static void
test_ingest_bottom_takes_overwrites(void)
{
	enum
	{
		NKEYS = 1000
	};
	char		dir[256],
				p1[300];
	const char *paths[1];
	static char want[NKEYS][96];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmIngestResult r;
	LsmDbStats	s;
	TestRng		rng = {test_seed("ingest overwrites")};
	LsmSeq		seq;

	test_tmpdir(dir, sizeof(dir), "ingest_overwrite");
	small_tree_options(&o);
	o.level_size_multiplier = 8;	/* level 2: 128K, twice the table */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	CHECK_OK(build_file(p1, "k", 0, NKEYS, 1, "bulk-value-of-some-length-", 0, 0, &st), &st);
	paths[0] = p1;
	CHECK_OK(lsm_db_ingest(db, paths, 1, 100, &r, &st), &st);
	CHECK(r.level == LSM_NUM_LEVELS - 1);
	for (int i = 0; i < NKEYS; i++)
		snprintf(want[i], sizeof(want[i]), "bulk-value-of-some-length-%d", i);
	seq = lsm_db_last_seq(db);
	for (int round = 0; round < 40; round++)
	{
		for (int j = 0; j < NKEYS / 2; j++)
		{
			int			i = (int) test_rng_below(&rng, NKEYS);
			int			len = 20 + (int) test_rng_below(&rng, 7);
			char		k[32];

			snprintf(k, sizeof(k), "k%06d", i);
			snprintf(want[i], sizeof(want[i]), "r%d-%0*d", round, len, i);
			CHECK_OK(write_at_kv(db, ++seq, k, want[i], false, &st), &st);
		}
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	lsm_db_stats(db, &s);
	printf("  levels:");
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		printf(" %llu/%lluK", (unsigned long long) s.files_per_level[l],
			   (unsigned long long) s.bytes_per_level[l] / 1024);
	printf(", %llu compactions\n", (unsigned long long) s.compactions);
	/* the table fits level 2's target, so level 2 is where its bottom plays */
	CHECK(s.bytes_per_level[1] + s.bytes_per_level[LSM_NUM_LEVELS - 1] <=
		  o.max_bytes_for_level_base * (uint64_t) o.level_size_multiplier);
	for (int l = 2; l < LSM_NUM_LEVELS - 1; l++)
		CHECK(s.files_per_level[l] == 0);
	CHECK(s.bytes_per_level[1] <= o.max_bytes_for_level_base);
	CHECK(s.files_per_level[0] < (uint64_t) o.l0_compaction_trigger);
	CHECK(s.entries_per_level[LSM_NUM_LEVELS - 1] == NKEYS);
	CHECK(s.tombstones_per_level[LSM_NUM_LEVELS - 1] == 0);
	for (int i = 0; i < NKEYS; i++)
	{
		char		k[32];

		snprintf(k, sizeof(k), "k%06d", i);
		CHECK(has(db, 0, k, want[i]));
	}
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < NKEYS; i += 7)
	{
		char		k[32];

		snprintf(k, sizeof(k), "k%06d", i);
		CHECK(has(db, 0, k, want[i]));
	}
	CHECK(count_visible(db, 0) == NKEYS);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * A bulk load of keys past the largest goes to the last level below a
 * table that grew level by level: its levels must not all drain into that
 * small new bottom (by the bottom's size alone they would; compaction.c,
 * static_shape counts the whole table).  Whatever moves down moves
 * without rewriting: the loaded range overlaps none of it.
 */
static void
test_ingest_append_below_levels(void)
{
	char		dir[256],
				p1[300];
	const char *paths[1];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmIngestResult r;
	LsmDbStats	s;
	TestRng		rng = {test_seed("ingest append")};
	LsmSeq		seq = 0;
	uint64_t	written;
	static bool seen[3000];
	long		distinct = 0;

	test_tmpdir(dir, sizeof(dir), "ingest_append");
	small_tree_options(&o);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 12000; i++)
	{
		char		k[32];
		char		v[64];
		int			key = (int) test_rng_below(&rng, 3000);

		if (!seen[key])
			distinct++;
		seen[key] = true;
		snprintf(k, sizeof(k), "a%06d", key);
		snprintf(v, sizeof(v), "value-%d-of-some-length", i);
		CHECK_OK(write_at_kv(db, ++seq, k, v, false, &st), &st);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[1] > 0 && s.files_per_level[2] > 0);
	CHECK(s.files_per_level[LSM_NUM_LEVELS - 1] == 0);

	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	CHECK_OK(build_file(p1, "z", 0, 50, 1, "bulk", 0, 0, &st), &st);
	paths[0] = p1;
	CHECK_OK(lsm_db_ingest(db, paths, 1, seq + 1, &r, &st), &st);
	CHECK(r.level == LSM_NUM_LEVELS - 1);
	lsm_db_stats(db, &s);
	written = s.bytes_compacted_written;
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	lsm_db_stats(db, &s);
	printf("  levels:");
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
		printf(" %llu/%lluK", (unsigned long long) s.files_per_level[l],
			   (unsigned long long) s.bytes_per_level[l] / 1024);
	printf(", %llu trivial moves\n", (unsigned long long) s.trivial_moves);
	CHECK(s.bytes_compacted_written == written);
	CHECK(s.files_per_level[1] > 0);
	CHECK(has(db, 0, "z000049", "bulk49"));
	CHECK(count_visible(db, 0) == distinct + 50);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * A loaded table that fits level 1: level 0 merges straight into the
 * loaded bottom instead of into level 1, which would drain into it at once
 * (compaction.c, static_shape).  The values read back after.
 */
static void
test_ingest_small_l0_to_bottom(void)
{
	char		dir[256],
				p1[300];
	const char *paths[1];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmIngestResult r;
	LsmDbStats	s;
	LsmCompaction *c;
	LsmCompactionInfo info;
	LsmSeq		seq;

	test_tmpdir(dir, sizeof(dir), "ingest_small");
	small_tree_options(&o);
	o.max_bytes_for_level_base = 64 * 1024;
	o.auto_compact = false;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	CHECK_OK(build_file(p1, "k", 0, 200, 1, "bulk", 0, 0, &st), &st);
	paths[0] = p1;
	CHECK_OK(lsm_db_ingest(db, paths, 1, 100, &r, &st), &st);
	CHECK(r.level == LSM_NUM_LEVELS - 1);
	seq = lsm_db_last_seq(db);
	for (int f = 0; f < o.l0_compaction_trigger; f++)
	{
		for (int i = f; i < 200; i += 4)
		{
			char		k[32];
			char		v[32];

			snprintf(k, sizeof(k), "k%06d", i);
			snprintf(v, sizeof(v), "new%d", i);
			CHECK_OK(write_at_kv(db, ++seq, k, v, false, &st), &st);
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	lsm_db_stats(db, &s);
	CHECK(s.files_per_level[0] == (uint64_t) o.l0_compaction_trigger);
	CHECK(s.bytes_per_level[LSM_NUM_LEVELS - 1] < o.max_bytes_for_level_base);
	CHECK_OK(lsm_db_compaction_pick(db, &c, &st), &st);
	lsm_compaction_info(c, &info);
	CHECK(info.output_level == LSM_NUM_LEVELS - 1);
	CHECK_OK(lsm_compaction_run(c, &st), &st);
	CHECK_OK(lsm_compaction_install(c, &st), &st);
	lsm_compaction_release(c);
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	lsm_db_stats(db, &s);
	for (int l = 0; l < LSM_NUM_LEVELS - 1; l++)
		CHECK(s.files_per_level[l] == 0);
	CHECK(s.entries_per_level[LSM_NUM_LEVELS - 1] == 200);
	CHECK(has(db, 0, "k000000", "new0"));
	CHECK(has(db, 0, "k000199", "new199"));
	CHECK(count_visible(db, 0) == 200);
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* Merge op into k at seq with a base hint (k was base at read_seq). */
static LsmCode
merge_hinted(LsmDb *db, LsmSeq seq, const char *k, const char *op,
			 LsmSeq read_seq, const char *base, LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	LsmBaseHint h;
	LsmCode		rc;

	h.key = str_slice(k);
	h.read_seq = read_seq;
	h.base = str_slice(base);
	rc = lsm_batch_merge(b, str_slice(k), str_slice(op), st);
	if (rc == LSM_OK)
		rc = lsm_db_write_at_hinted(db, lsm_batch_contents(b), seq, &h, 1, false, st);
	lsm_batch_destroy(b);
	return rc;
}

/*
 * An ingest puts entries above every hint read before it, outside the
 * memtable: a merge operand hinted with an older read goes in as it is
 * (folded over the stale base it would lose the ingested value), one
 * hinted after the ingest folds.
 */
static void
test_ingest_stales_base_hints(void)
{
	char		dir[256],
				p1[300];
	const char *paths[1];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;

	test_tmpdir(dir, sizeof(dir), "ingest_hint");
	host_options(&o);
	o.merge = concat_merge;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, 1, "k000001", "x", false, &st), &st);
	CHECK_OK(merge_hinted(db, 2, "k000001", "+y", 1, "x", &st), &st);
	CHECK(has(db, 0, "k000001", "x+y"));
	snprintf(p1, sizeof(p1), "%s/bulk-1.sst", dir);
	CHECK_OK(build_file(p1, "k", 1, 2, 1, "a", 0, 0, &st), &st);
	paths[0] = p1;
	CHECK_OK(lsm_db_ingest(db, paths, 1, 10, NULL, &st), &st);
	CHECK(has(db, 0, "k000001", "a1"));
	CHECK_OK(merge_hinted(db, 11, "k000001", "+z", 2, "x+y", &st), &st);
	CHECK(has(db, 0, "k000001", "a1+z"));
	lsm_db_stats(db, &stats);
	CHECK(stats.merge_base_folds == 1);
	CHECK_OK(merge_hinted(db, 12, "k000001", "+w", 11, "a1+z", &st), &st);
	CHECK(has(db, 0, "k000001", "a1+z+w"));
	lsm_db_stats(db, &stats);
	CHECK(stats.merge_base_folds == 2);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_ingest_empty_bottom);
	RUN(test_ingest_stales_base_hints);
	RUN(test_ingest_overlap_level0);
	RUN(test_ingest_past_largest);
	RUN(test_ingest_refused);
	RUN(test_ingest_iter_conforms);
	RUN(test_ingest_bottom_takes_overwrites);
	RUN(test_ingest_bottom_takes_blob_overwrites);
	RUN(test_ingest_append_below_levels);
	RUN(test_ingest_small_l0_to_bottom);
	return test_finish();
}
