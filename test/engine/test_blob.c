/*
 * test_blob.c
 *		Key-value separation (blob.h): values of at least blob_min_size
 *		bytes go to NNNNNN.blob files at flush, the tree keeps references.
 *
 *	- round trip: the size threshold (below stays inline, at and above go
 *	  to a blob file), exact bytes through gets, forward and reverse
 *	  iteration and the iterator conformance check, stats, reopen;
 *	- garbage: a blob file no table references is deleted (overwrites,
 *	  deletes); a blob file with at least blob_gc_percent garbage has the
 *	  values a compaction meets moved to a new file (bytes_blob_relocated),
 *	  exactly at the threshold and not just below it;
 *	- values only in the WAL at close, replayed by the next open;
 *	- snapshots and iterators keep old blob files readable until released,
 *	  and so do tables waiting for the host's file horizon;
 *	- merge operands over a blob base (get, iterators, compaction, reopen,
 *	  operands held apart by a snapshot) and the compaction filter, which
 *	  must see the value, not the reference;
 *	- open: orphan blob files are removed, a missing referenced one is
 *	  LSM_CORRUPTION naming it; a damaged block is LSM_CORRUPTION for the
 *	  keys in it (never wrong bytes) and a problem for lsm_db_verify_all,
 *	  and so is a value of another length at a reference's ordinal (a blob
 *	  file replaced by another);
 *	- checkpoint copies; a simulated power loss after flush and compaction;
 *	  failed writes during flush and compaction leave no stray blob file;
 *	- an ingested file carrying LSM_KIND_BLOB entries must not read
 *	  another key's value nor break the MANIFEST;
 *	- background threads with concurrent writers and readers;
 *	- option checks, and reopening with key-value separation turned off.
 *
 * Invariant checked after most steps: the .blob files on disk are exactly
 * those the current version references (stats.blob_files), none leaked and
 * none missing.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "testutil.h"
#include "fault_env.h"

#include "lsm.h"
#include "lsm_coding.h"
#include "lsm_format.h"
#include "sstable.h"

/* The POSIX env without real fsyncs (fault_env.h); set up by main. */
static LsmEnv *fast_env;

static const LsmSlice unbounded = {NULL, 0};

/*
 * Helpers
 */

/* Files stay where flushes put them until a test compacts. */
static LsmOptions
blob_opts(size_t min_size)
{
	LsmOptions	o;

	lsm_options_init(&o);
	o.env = fast_env;
	o.sync_writes = false;
	o.write_buffer_size = 4 << 20;
	o.block_size = 1024;
	o.block_cache_size = 256 * 1024;
	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	o.blob_min_size = min_size;
	return o;
}

static void
key_name(char *buf, size_t len, int k)
{
	snprintf(buf, len, "key%06d", k);
}

/* The value of key k at version ver, len bytes: reproducible, incompressible. */
static void
make_value(uint8_t *p, size_t len, int k, int ver)
{
	TestRng		r = {((uint64_t) (uint32_t) k << 32 | (uint32_t) ver) * 0x9E3779B97F4A7C15ull + 12345};

	fill_random(&r, p, len);
}

static int
put_bytes(LsmDb *db, const char *k, const void *v, size_t len)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmCode		rc;

	rc = lsm_batch_put(b, lsm_slice_str(k), lsm_slice(v, len), &st);
	if (rc == LSM_OK)
		rc = lsm_db_write(db, b, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  put %s: %s\n", k, st.msg);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

/* Put make_value(k, ver, len) under key_name(k). */
static int
put_kv(LsmDb *db, int k, int ver, size_t len)
{
	char		key[32];
	uint8_t    *v = malloc(len ? len : 1);
	int			ok;

	key_name(key, sizeof(key), k);
	make_value(v, len, k, ver);
	ok = put_bytes(db, key, v, len);
	free(v);
	return ok;
}

static int
del_key(LsmDb *db, const char *k)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmCode		rc;

	rc = lsm_batch_delete(b, lsm_slice_str(k), &st);
	if (rc == LSM_OK)
		rc = lsm_db_write(db, b, &st);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

static int
merge_str(LsmDb *db, const char *k, const char *op)
{
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	LsmCode		rc;

	rc = lsm_batch_merge(b, lsm_slice_str(k), lsm_slice_str(op), &st);
	if (rc == LSM_OK)
		rc = lsm_db_write(db, b, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  merge %s: %s\n", k, st.msg);
	lsm_batch_destroy(b);
	return rc == LSM_OK;
}

/*
 * A tombstone of a key that never existed: gives compact_range a level-0
 * file, so that it rewrites the bottom, and leaves the contents alone.
 */
static int
touch(LsmDb *db)
{
	return del_key(db, "zzz-never-written");
}

/* lsm_db_get of k at snap into *out; the code, printing unexpected errors. */
static LsmCode
get_raw(LsmDb *db, const LsmSnapshot *snap, const char *k, LsmBuf *out, LsmStatus *st)
{
	LsmReadOptions ro;

	lsm_read_options_init(&ro);
	ro.snapshot = snap;
	lsm_buf_reset(out);
	return lsm_db_get(db, &ro, lsm_slice_str(k), out, st);
}

/* Whether k reads exactly (want, len) at snap. */
static int
get_is(LsmDb *db, const LsmSnapshot *snap, const char *k, const void *want, size_t len)
{
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmCode		rc = get_raw(db, snap, k, &v, &st);
	int			ok = rc == LSM_OK && v.len == len && (len == 0 || memcmp(v.data, want, len) == 0);

	if (!ok)
	{
		if (rc != LSM_OK)
			fprintf(stderr, "  get %s: %s (%s)\n", k, lsm_code_name(rc),
					rc == LSM_NOT_FOUND ? "" : st.msg);
		else
			fprintf(stderr, "  get %s: %zu bytes, wanted %zu%s\n", k, v.len, len,
					v.len == len ? " (bytes differ)" : "");
	}
	lsm_buf_free(&v);
	return ok;
}

/* Whether key k reads make_value(k, ver, len) at snap. */
static int
get_kv_is(LsmDb *db, const LsmSnapshot *snap, int k, int ver, size_t len)
{
	char		key[32];
	uint8_t    *v = malloc(len ? len : 1);
	int			ok;

	key_name(key, sizeof(key), k);
	make_value(v, len, k, ver);
	ok = get_is(db, snap, key, v, len);
	free(v);
	return ok;
}

static int
get_absent(LsmDb *db, const LsmSnapshot *snap, const char *k)
{
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmCode		rc = get_raw(db, snap, k, &v, &st);

	lsm_buf_free(&v);
	if (rc != LSM_NOT_FOUND)
		fprintf(stderr, "  get %s: %s, wanted NOT_FOUND\n", k, lsm_code_name(rc));
	return rc == LSM_NOT_FOUND;
}

/* A model of what a database must hold: entries in key order. */
typedef struct Model
{
	TestKV	   *kv;
	int			n;
} Model;

/* Keys 0..n-1 whose ver[k] >= 0 (else absent) with make_value(k, ver[k], len[k]). */
static Model
model_build(int n, const int *ver, const size_t *len)
{
	Model		m;
	int			k;

	m.kv = calloc((size_t) n + 1, sizeof(TestKV));
	m.n = 0;
	for (k = 0; k < n; k++)
	{
		char	   *key;
		uint8_t    *v;

		if (ver[k] < 0)
			continue;
		key = malloc(32);
		v = malloc(len[k] ? len[k] : 1);
		key_name(key, 32, k);
		make_value(v, len[k], k, ver[k]);
		m.kv[m.n].key = lsm_slice(key, strlen(key));
		m.kv[m.n].value = lsm_slice(v, len[k]);
		m.n++;
	}
	return m;
}

/* Append (key, value) to m; key must sort after every entry of m. */
static void
model_append(Model *m, const char *key, const void *value, size_t len)
{
	char	   *k = strdup(key);
	uint8_t    *v = malloc(len ? len : 1);

	memcpy(v, value, len);
	m->kv = realloc(m->kv, (size_t) (m->n + 1) * sizeof(TestKV));
	m->kv[m->n].key = lsm_slice(k, strlen(k));
	m->kv[m->n].value = lsm_slice(v, len);
	m->n++;
}

static void
model_free(Model *m)
{
	int			i;

	for (i = 0; i < m->n; i++)
	{
		free((void *) m->kv[i].key.data);
		free((void *) m->kv[i].value.data);
	}
	free(m->kv);
	m->kv = NULL;
	m->n = 0;
}

/* Every model entry reads exactly through lsm_db_get at snap. */
static int
model_gets(LsmDb *db, const LsmSnapshot *snap, const Model *m)
{
	int			i;

	for (i = 0; i < m->n; i++)
	{
		char		key[64];

		snprintf(key, sizeof(key), "%.*s", (int) m->kv[i].key.len,
				 (const char *) m->kv[i].key.data);
		if (!get_is(db, snap, key, m->kv[i].value.data, m->kv[i].value.len))
			return 0;
	}
	return 1;
}

/*
 * A full scan at snap, forward or backward, yields exactly the model's
 * entries and ends with status OK.
 */
static int
model_scan(LsmDb *db, const LsmSnapshot *snap, const Model *m, bool reverse)
{
	LsmReadOptions ro;
	LsmIter    *it;
	LsmStatus	st;
	int			i = reverse ? m->n - 1 : 0;
	int			ok = 1;

	lsm_read_options_init(&ro);
	ro.snapshot = snap;
	if (lsm_db_iter(db, &ro, &it, &st) != LSM_OK)
	{
		fprintf(stderr, "  iter: %s\n", st.msg);
		return 0;
	}
	if (reverse)
		lsm_iter_seek_last(it);
	else
		lsm_iter_seek_first(it);
	for (; lsm_iter_valid(it); reverse ? lsm_iter_prev(it) : lsm_iter_next(it))
	{
		LsmSlice	k = lsm_iter_key(it);
		LsmSlice	v = lsm_iter_value(it);

		if (i < 0 || i >= m->n || !lsm_slice_eq(k, m->kv[i].key) ||
			!lsm_slice_eq(v, m->kv[i].value))
		{
			fprintf(stderr, "  %s scan at %d: key %.*s, %zu value bytes differ from the model\n",
					reverse ? "reverse" : "forward", i, (int) k.len, (const char *) k.data, v.len);
			ok = 0;
			break;
		}
		i += reverse ? -1 : 1;
	}
	if (ok && i != (reverse ? -1 : m->n))
	{
		fprintf(stderr, "  %s scan ended early at %d of %d\n", reverse ? "reverse" : "forward",
				i, m->n);
		ok = 0;
	}
	if (lsm_iter_status(it, &st) != LSM_OK)
	{
		fprintf(stderr, "  scan: %s\n", st.msg);
		ok = 0;
	}
	lsm_iter_destroy(it);
	return ok;
}

/* gets, both scans, and the iterator conformance check. */
static int
model_matches(LsmDb *db, const LsmSnapshot *snap, const Model *m, uint64_t seed)
{
	LsmReadOptions ro;
	LsmIter    *it;
	LsmStatus	st;
	int			ok;

	if (!model_gets(db, snap, m) || !model_scan(db, snap, m, false) ||
		!model_scan(db, snap, m, true))
		return 0;
	lsm_read_options_init(&ro);
	ro.snapshot = snap;
	if (lsm_db_iter(db, &ro, &it, &st) != LSM_OK)
		return 0;
	ok = test_iter_check(it, m->kv, (size_t) m->n, NULL, 0, lsm_slice_cmp, seed);
	lsm_iter_destroy(it);
	return ok;
}

/* The numbers of dir's NNNNNN.blob files, ascending, into out (at most max); how many. */
static int
blob_numbers(const char *dir, uint64_t *out, int max)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;

	while (d && (e = readdir(d)) != NULL)
	{
		size_t		l = strlen(e->d_name);
		char	   *end;
		unsigned long long num;

		if (l <= 5 || strcmp(e->d_name + l - 5, ".blob") != 0)
			continue;
		num = strtoull(e->d_name, &end, 10);
		if (end != e->d_name + l - 5)
			continue;
		if (n < max)
		{
			int			i = n;

			/* insertion sort: a handful of files */
			while (i > 0 && out[i - 1] > num)
			{
				out[i] = out[i - 1];
				i--;
			}
			out[i] = num;
		}
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

static int
count_blobs(const char *dir)
{
	uint64_t	dummy[1];

	return blob_numbers(dir, dummy, 0);
}

static void
blob_path(char *out, size_t len, const char *dir, uint64_t number)
{
	snprintf(out, len, "%s/%06llu.blob", dir, (unsigned long long) number);
}

static int
file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static int
blob_exists(const char *dir, uint64_t number)
{
	char		p[512];

	blob_path(p, sizeof(p), dir, number);
	return file_exists(p);
}

static uint64_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (uint64_t) sb.st_size : 0;
}

/* The total size of dir's .blob files. */
static uint64_t
blob_disk_bytes(const char *dir)
{
	uint64_t	nums[256];
	uint64_t	total = 0;
	int			n = blob_numbers(dir, nums, 256);
	int			i;

	for (i = 0; i < n && i < 256; i++)
	{
		char		p[512];

		blob_path(p, sizeof(p), dir, nums[i]);
		total += file_size(p);
	}
	return total;
}

/*
 * The .blob files on disk are exactly as many as the version references,
 * and as large as the stats say.
 */
static int
blobs_on_disk_match(LsmDb *db, const char *dir)
{
	LsmDbStats	s;
	int			n = count_blobs(dir);
	uint64_t	bytes = blob_disk_bytes(dir);

	lsm_db_stats(db, &s);
	if ((uint64_t) n != s.blob_files)
		fprintf(stderr, "  %d .blob files on disk, the version references %llu\n", n,
				(unsigned long long) s.blob_files);
	else if (bytes != s.blob_file_bytes)
		fprintf(stderr, "  .blob files of %llu bytes on disk, blob_file_bytes says %llu\n",
				(unsigned long long) bytes, (unsigned long long) s.blob_file_bytes);
	else if (s.blob_live_bytes > s.blob_bytes)
		fprintf(stderr, "  blob_live_bytes %llu above blob_bytes %llu\n",
				(unsigned long long) s.blob_live_bytes, (unsigned long long) s.blob_bytes);
	return (uint64_t) n == s.blob_files && bytes == s.blob_file_bytes &&
		s.blob_live_bytes <= s.blob_bytes;
}

typedef struct Problems
{
	int			n;
	char		first[512];
} Problems;

static void
note_problem(void *arg, const LsmStatus *problem)
{
	Problems   *p = arg;

	if (p->n++ == 0)
		snprintf(p->first, sizeof(p->first), "%s", problem->msg);
}

/* lsm_db_verify_all: OK with no problem, having read the blob files too. */
static int
verify_clean(LsmDb *db)
{
	LsmVerifyResult r;
	LsmStatus	st;
	Problems	p = {0, ""};
	LsmCode		rc;

	memset(&r, 0, sizeof(r));
	rc = lsm_db_verify_all(db, &r, note_problem, &p, &st);
	if (rc != LSM_OK || r.problems != 0 || p.n != 0)
		fprintf(stderr, "  verify_all: %s, %llu problems: %s\n", lsm_code_name(rc),
				(unsigned long long) r.problems, p.first);
	return rc == LSM_OK && r.problems == 0 && p.n == 0;
}

static LsmCode
compact_all(LsmDb *db, LsmStatus *st)
{
	return lsm_db_compact_range(db, unbounded, unbounded, st);
}

/*
 * Round trip
 */

/*
 * Values below, at and above blob_min_size, one larger than a block:
 * only those of at least 100 bytes go to the blob file (blob_bytes is
 * exactly their sum), and every value reads back exactly from the
 * memtable, after the flush and after a reopen.
 */
static void
test_round_trip(void)
{
	static const size_t sizes[] = {0, 1, 99, 100, 101, 5000, 20000, 99, 100};
	enum
	{
		N = 45
	};
	char		dir[256];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	uint64_t	big = 0;
	uint64_t	random_big;
	int			n_big = 0;
	uint64_t	nums[8];
	char		path[512];
	char		text[6000];
	Model		m;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_round");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
		CHECK(put_kv(db, k, 1, len[k]));
		if (len[k] >= 100)
		{
			big += len[k];
			n_big++;
		}
	}
	random_big = big;
	m = model_build(N, ver, len);
	/* compressible values: the blob file's codec at work */
	for (k = 0; k < 4; k++)
	{
		char		key[32];

		snprintf(key, sizeof(key), "text%d", k);
		memset(text, 'a' + k, sizeof(text));
		CHECK(put_bytes(db, key, text, 3000 + 1000 * k));
		model_append(&m, key, text, 3000 + 1000 * k);
		big += 3000 + 1000 * k;
		n_big++;
	}
	/* a large value deleted before the flush never reaches a live blob */
	CHECK(put_bytes(db, "zz-deleted", (uint8_t[300]) {0}, 300));
	CHECK(del_key(db, "zz-deleted"));

	/* memtable */
	CHECK(model_matches(db, NULL, &m, 1));
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 0 && s.blob_files_written == 0 && count_blobs(dir) == 0);

	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 8) == 1);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 1);
	CHECK(s.blob_files_written == 1);
	/* exactly the values of >= 100 bytes: 99 stays inline, 100 moves */
	CHECK(s.blob_bytes == big);
	CHECK(s.blob_live_bytes == big);
	blob_path(path, sizeof(path), dir, nums[0]);
	CHECK(s.bytes_blob_written == file_size(path));
	CHECK(file_size(path) >= random_big);	/* incompressible values */
	CHECK(file_size(path) < big);	/* and the text compressed */
	{
		/* the level-0 table keeps references, not the large values */
		char		sst[512];

		CHECK(find_file(dir, ".sst", sst, sizeof(sst)) == 1);
		CHECK(file_size(sst) < big / 4);
	}

	CHECK(model_matches(db, NULL, &m, 2));
	CHECK(get_absent(db, NULL, "zz-deleted"));
	CHECK(get_absent(db, NULL, "key"));
	lsm_db_stats(db, &s);
	CHECK(s.blob_reads >= (uint64_t) n_big);
	{
		/* a get of an inline value reads no blob, a get of a blob value one */
		uint64_t	before = s.blob_reads;

		CHECK(get_kv_is(db, NULL, 2, 1, 99));
		lsm_db_stats(db, &s);
		CHECK(s.blob_reads == before);
		CHECK(get_kv_is(db, NULL, 3, 1, 100));
		lsm_db_stats(db, &s);
		CHECK(s.blob_reads == before + 1);
	}
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_verify(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(count_blobs(dir) == 1 && blob_exists(dir, nums[0]));
	CHECK(model_matches(db, NULL, &m, 3));
	CHECK(get_absent(db, NULL, "zz-deleted"));
	CHECK(blobs_on_disk_match(db, dir));
	lsm_db_stats(db, &s);
	CHECK(s.blob_bytes == big && s.blob_live_bytes == big);
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * Values only in the WAL at close: the next open replays them (into a
 * memtable smaller than they are), and they reach blob files through the
 * flushes after it.
 */
static void
test_wal_replay(void)
{
	enum
	{
		N = 200, LEN = 2000
	};
	char		dir[256];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	Model		m;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_wal");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = k % 5 == 0 ? 20 : LEN;
		CHECK(put_kv(db, k, 1, len[k]));
	}
	m = model_build(N, ver, len);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(count_blobs(dir) == 0);

	o.write_buffer_size = 64 * 1024;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 90));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files >= 1);
	CHECK(s.blob_bytes == (uint64_t) (N - N / 5) * LEN);
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(model_matches(db, NULL, &m, 91));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 92));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * Garbage
 */

/*
 * Overwriting or deleting every value of a blob file leaves it with no
 * reference after a compaction: it is deleted then, not at the next open.
 */
static void
test_gc_unreferenced(void)
{
	enum
	{
		N = 200
	};
	char		dir[256];
	LsmOptions	o = blob_opts(500);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	uint64_t	first[4];
	uint64_t	second[4];
	uint64_t	now[4];
	Model		m;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_gc");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
		CHECK(put_kv(db, k, 1, 1000));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, first, 4) == 1);
	for (k = 0; k < N; k++)
	{
		ver[k] = 2;
		len[k] = 1200;
		CHECK(put_kv(db, k, 2, 1200));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, second, 4) == 2 && second[0] == first[0]);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 2);
	CHECK(s.blob_bytes == (uint64_t) N * 2200);
	CHECK(s.blob_live_bytes == s.blob_bytes);	/* each table references all of its own */
	m = model_build(N, ver, len);
	CHECK(model_matches(db, NULL, &m, 4));

	CHECK_OK(compact_all(db, &st), &st);
	/* the first flush's blob file is gone, the second's stays */
	CHECK(!blob_exists(dir, first[0]));
	CHECK(blob_numbers(dir, now, 4) == 1 && now[0] == second[1]);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 1);
	CHECK(s.blob_bytes == (uint64_t) N * 1200 && s.blob_live_bytes == s.blob_bytes);
	CHECK(s.bytes_blob_relocated == 0);		/* nothing half-dead to move */
	CHECK(s.files_per_level[0] == 0);
	CHECK(model_matches(db, NULL, &m, 5));
	CHECK(blobs_on_disk_match(db, dir));

	/* deletes: half the keys, then all; compactions drop the files */
	for (k = 0; k < N; k += 2)
	{
		char		key[32];

		key_name(key, sizeof(key), k);
		CHECK(del_key(db, key));
		ver[k] = -1;
	}
	CHECK_OK(compact_all(db, &st), &st);
	model_free(&m);
	m = model_build(N, ver, len);
	CHECK(model_matches(db, NULL, &m, 6));
	CHECK(blobs_on_disk_match(db, dir));
	lsm_db_stats(db, &s);
	/* garbage is judged at the pick, when the file had none: it stays, half dead */
	CHECK(s.bytes_blob_relocated == 0);
	CHECK(blob_exists(dir, second[1]));
	CHECK(s.blob_files == 1 && s.blob_bytes == (uint64_t) N * 1200);
	CHECK(s.blob_live_bytes == (uint64_t) (N / 2) * 1200);
	/* the next compaction moves the live half and drops the file */
	CHECK(touch(db));
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 7));
	CHECK(blobs_on_disk_match(db, dir));
	lsm_db_stats(db, &s);
	CHECK(s.bytes_blob_relocated == (uint64_t) (N / 2) * 1200);
	CHECK(!blob_exists(dir, second[1]));
	CHECK(s.blob_files == 1 && s.blob_bytes == (uint64_t) (N / 2) * 1200);
	CHECK(s.blob_live_bytes == s.blob_bytes);
	for (k = 1; k < N; k += 2)
	{
		char		key[32];

		key_name(key, sizeof(key), k);
		CHECK(del_key(db, key));
		ver[k] = -1;
	}
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(count_blobs(dir) == 0);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 0 && s.blob_bytes == 0 && s.blob_live_bytes == 0);
	CHECK(get_absent(db, NULL, "key000001"));
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(get_absent(db, NULL, "key000001"));
	CHECK(count_blobs(dir) == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * 100 values in blob file A; 60 overwritten (file B); a compaction of
 * everything leaves A with 60% garbage.  A later compaction relocates A's
 * 40 live values to a new file and deletes A when blob_gc_percent <= 60,
 * and leaves A alone at 61.
 */
static void
gc_threshold(int pct, bool expect_move)
{
	enum
	{
		N = 100, OVER = 60, LEN = 1000
	};
	char		dir[256];
	LsmOptions	o = blob_opts(500);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	uint64_t	a[4];
	uint64_t	ab[4];
	uint64_t	now[4];
	Model		m;
	int			k;

	o.blob_gc_percent = pct;
	test_tmpdir(dir, sizeof(dir), "blob_gcpct");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = LEN;
		CHECK(put_kv(db, k, 1, LEN));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, a, 4) == 1);
	for (k = 0; k < OVER; k++)
	{
		ver[k] = 2;
		CHECK(put_kv(db, k, 2, LEN));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, ab, 4) == 2);
	CHECK_OK(compact_all(db, &st), &st);
	/* at the pick A had no garbage: references copied, nothing moved */
	lsm_db_stats(db, &s);
	CHECK(s.bytes_blob_relocated == 0);
	CHECK(s.blob_files == 2 && blob_exists(dir, a[0]) && blob_exists(dir, ab[1]));
	CHECK(s.blob_bytes == (uint64_t) (N + OVER) * LEN);
	CHECK(s.blob_live_bytes == (uint64_t) N * LEN);
	m = model_build(N, ver, len);
	CHECK(model_matches(db, NULL, &m, 7));

	/* a tombstone so that the bottom file is rewritten */
	CHECK(touch(db));
	CHECK_OK(compact_all(db, &st), &st);
	lsm_db_stats(db, &s);
	if (expect_move)
	{
		CHECK(s.bytes_blob_relocated == (uint64_t) (N - OVER) * LEN);
		CHECK(!blob_exists(dir, a[0]));
		CHECK(blob_exists(dir, ab[1]));
		CHECK(blob_numbers(dir, now, 4) == 2 && now[1] > ab[1]);
		CHECK(s.blob_files == 2);
		CHECK(s.blob_bytes == (uint64_t) N * LEN && s.blob_live_bytes == s.blob_bytes);
		CHECK(s.blob_files_written == 3);
	}
	else
	{
		CHECK(s.bytes_blob_relocated == 0);
		CHECK(blob_exists(dir, a[0]) && count_blobs(dir) == 2);
		CHECK(s.blob_bytes == (uint64_t) (N + OVER) * LEN);
		CHECK(s.blob_live_bytes == (uint64_t) N * LEN);
		CHECK(s.blob_files_written == 2);
	}
	CHECK(model_matches(db, NULL, &m, 8));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 9));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	{
		LsmCompactionInfo ci;
		uint64_t	moved = expect_move ? 0 : (uint64_t) (N - OVER) * LEN;

		/* whatever the threshold: every blob file with garbage goes */
		CHECK_OK(lsm_db_compact_blob_garbage(db, &ci, &st), &st);
		lsm_db_stats(db, &s);
		CHECK(s.bytes_blob_relocated == moved);
		CHECK(!blob_exists(dir, a[0]));
		CHECK(s.blob_live_bytes == s.blob_bytes && s.blob_bytes == (uint64_t) N * LEN);
		CHECK(expect_move ? ci.n_inputs == 0 : ci.n_inputs > 0);
		CHECK(model_matches(db, NULL, &m, 10));
		CHECK(blobs_on_disk_match(db, dir));
		/* nothing left to do */
		CHECK_OK(lsm_db_compact_blob_garbage(db, &ci, &st), &st);
		CHECK(ci.n_inputs == 0);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

static void
test_gc_relocate(void)
{
	gc_threshold(50, true);
	if (tu_cur_failed)
		return;
	gc_threshold(60, true);
	if (tu_cur_failed)
		return;
	gc_threshold(61, false);
}

/*
 * Automatic compaction (auto_compact, l0 trigger 2), leveled and tiered,
 * over many rounds of overwrites: values stay exact, garbage stays bounded and the files on
 * disk stay those referenced.
 */
static void
gc_auto_case(LsmCompactStyle style)
{
	enum
	{
		N = 300, ROUNDS = 12
	};
	char		dir[256];
	LsmOptions	o = blob_opts(200);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	Model		m;
	TestRng		rng = {test_seed(style == LSM_COMPACT_TIERED ? "blob auto gc, tiered" :
							 "blob auto gc, leveled")};
	int			r;
	int			k;

	o.auto_compact = true;
	o.compaction_style = style;
	o.l0_compaction_trigger = 2;
	o.target_file_size = 16 * 1024;
	o.max_bytes_for_level_base = 32 * 1024;
	o.level_size_multiplier = 4;
	test_tmpdir(dir, sizeof(dir), "blob_auto");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
		ver[k] = -1;
	for (r = 0; r < ROUNDS; r++)
	{
		for (k = 0; k < N; k++)
		{
			if (r > 0 && test_rng_below(&rng, 3) != 0)
				continue;
			ver[k] = r;
			len[k] = test_rng_below(&rng, 4) == 0 ? 50 : 200 + test_rng_below(&rng, 1500);
			CHECK(put_kv(db, k, r, len[k]));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
		CHECK_OK(lsm_db_compact_pending(db, &st), &st);
		CHECK(blobs_on_disk_match(db, dir));
	}
	lsm_db_stats(db, &s);
	CHECK(s.compactions > 0);
	m = model_build(N, ver, len);
	CHECK(model_matches(db, NULL, &m, 10));
	CHECK(verify_clean(db));
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 11));
	CHECK(blobs_on_disk_match(db, dir));
	lsm_db_stats(db, &s);
	/* one full compaction leaves every garbage-heavy file collected */
	CHECK(s.blob_bytes - s.blob_live_bytes <= s.blob_bytes / 2);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 12));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

static void
test_gc_auto(void)
{
	gc_auto_case(LSM_COMPACT_LEVELED);
	if (tu_cur_failed)
		return;
	gc_auto_case(LSM_COMPACT_TIERED);
}

/*
 * A blob file whose last references sit in table files no write reaches
 * (keys written once, beside keys overwritten since) is collected all the
 * same: automatic compaction rewrites those table files in their level,
 * moving the live values out, and the file goes.  With nothing above them
 * that happens at blob_gc_percent (60% garbage here); with level-0 files
 * overlapping them (covered) it waits for the higher forced threshold,
 * halfway to 100% (75%), and happens at 83%.
 */
static void
gc_stale_case(LsmCompactStyle style, bool covered)
{
	enum
	{
		N = 600, COLD = 100, SPLIT = 460
	};
	char		dir[256];
	char		lower[32];
	char		split[32];
	LsmOptions	o = blob_opts(200);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	uint64_t	first[4];
	Model		m;
	int			k;

	o.auto_compact = true;
	o.compaction_style = style;
	o.l0_compaction_trigger = 4;
	o.target_file_size = 1024;	/* the cold keys' references fill files of their own */
	o.max_bytes_for_level_base = 1 << 20;
	test_tmpdir(dir, sizeof(dir), "blob_stale");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 0;
		len[k] = 1000;
		CHECK(put_kv(db, k, 0, len[k]));
	}
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(blob_numbers(dir, first, 4) == 1);
	key_name(lower, sizeof(lower), COLD);
	key_name(split, sizeof(split), SPLIT);
	if (covered)
	{
		/*
		 * Level-0 files spanning the keys below COLD and from SPLIT on,
		 * which the first compaction of [COLD, SPLIT) leaves in level 0
		 */
		int			ends[4] = {0, COLD - 1, SPLIT, N - 1};

		for (k = 0; k < 4; k++)
		{
			ver[ends[k]] = 3;
			CHECK(put_kv(db, ends[k], 3, len[ends[k]]));
			if (k % 2 == 1)
				CHECK_OK(lsm_db_flush(db, &st), &st);
		}
	}

	/* 60% garbage: past blob_gc_percent, short of the covered threshold */
	for (k = COLD; k < SPLIT; k++)
	{
		ver[k] = 1;
		CHECK(put_kv(db, k, 1, len[k]));
	}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice_str(lower), lsm_slice_str(split), &st), &st);
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	if (blob_exists(dir, first[0]) != covered)
		fprintf(stderr, "  %s, %s: the first blob file %s at 60%% garbage\n",
				style == LSM_COMPACT_TIERED ? "tiered" : "leveled",
				covered ? "covered" : "nothing above", covered ? "went" : "stayed");
	CHECK(blob_exists(dir, first[0]) == covered);
	CHECK(blobs_on_disk_match(db, dir));

	/* 83% */
	for (k = SPLIT; k < N; k++)
	{
		if (ver[k] == 3)
			continue;			/* written since */
		ver[k] = 2;
		CHECK(put_kv(db, k, 2, len[k]));
	}
	CHECK_OK(lsm_db_compact_range(db, lsm_slice_str(lower), unbounded, &st), &st);
	CHECK_OK(lsm_db_compact_pending(db, &st), &st);
	CHECK(!blob_exists(dir, first[0]));
	CHECK(blobs_on_disk_match(db, dir));
	lsm_db_stats(db, &s);
	CHECK(s.bytes_blob_relocated >= (uint64_t) (COLD - 2) * 1000);
	CHECK(s.blob_bytes - s.blob_live_bytes <= s.blob_bytes / 2);
	m = model_build(N, ver, len);
	CHECK(model_matches(db, NULL, &m, 20));
	CHECK(verify_clean(db));
	/* nothing is left due: the rewrite does not repeat */
	CHECK(!lsm_db_compaction_needed(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 21));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

static void
test_gc_stale(void)
{
	gc_stale_case(LSM_COMPACT_LEVELED, false);
	if (!tu_cur_failed)
		gc_stale_case(LSM_COMPACT_LEVELED, true);
	/* not covered in tiered: its merges take the level-0 runs down whole */
	if (!tu_cur_failed)
		gc_stale_case(LSM_COMPACT_TIERED, false);
}

/*
 * Snapshots and iterators
 */

/*
 * A snapshot keeps the overwritten blob values readable through
 * compactions; released, the next compaction lets their file go.
 */
static void
test_snapshot(void)
{
	enum
	{
		N = 50, LEN = 3000
	};
	char		dir[256];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmSnapshot *snap;
	int			ver[N];
	size_t		len[N];
	uint64_t	a[4];
	Model		old;
	Model		cur;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_snap");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = LEN;
		CHECK(put_kv(db, k, 1, LEN));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, a, 4) == 1);
	old = model_build(N, ver, len);
	snap = lsm_db_snapshot(db);
	for (k = 0; k < N; k++)
	{
		ver[k] = 2;
		len[k] = LEN + k;
		CHECK(put_kv(db, k, 2, len[k]));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	cur = model_build(N, ver, len);
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(blob_exists(dir, a[0]));
	CHECK(count_blobs(dir) == 2);
	CHECK(model_matches(db, snap, &old, 13));
	CHECK(model_matches(db, NULL, &cur, 14));
	CHECK(blobs_on_disk_match(db, dir));
	/* compacting again with the snapshot held changes nothing */
	CHECK(touch(db));
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(blob_exists(dir, a[0]));
	CHECK(model_matches(db, snap, &old, 15));

	lsm_db_release_snapshot(db, snap);
	CHECK(touch(db));
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(!blob_exists(dir, a[0]));
	CHECK(count_blobs(dir) == 1);
	CHECK(model_matches(db, NULL, &cur, 16));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &cur, 17));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&old);
	model_free(&cur);
	test_rmtree(dir);
}

/*
 * An open iterator pins the files it reads: the blob file of values a
 * compaction dropped stays on disk and readable until the iterator goes.
 */
static void
test_iterator_pins(void)
{
	enum
	{
		N = 40, LEN = 2000
	};
	char		dir[256];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmIter    *it;
	int			ver[N];
	size_t		len[N];
	uint64_t	a[4];
	Model		old;
	Model		cur;
	int			i;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_pin");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = LEN;
		CHECK(put_kv(db, k, 1, LEN));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, a, 4) == 1);
	old = model_build(N, ver, len);
	CHECK_OK(lsm_db_iter(db, NULL, &it, &st), &st);
	lsm_iter_seek_first(it);
	CHECK(lsm_iter_valid(it));
	for (k = 0; k < N; k++)
		CHECK(put_kv(db, k, 2, LEN));
	for (k = 0; k < N; k++)
		ver[k] = 2;
	cur = model_build(N, ver, len);
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(model_gets(db, NULL, &cur));
	CHECK(blob_exists(dir, a[0]));
	/* the rest of the walk reads the old values from the old file */
	for (i = 0; lsm_iter_valid(it); lsm_iter_next(it), i++)
	{
		CHECK(i < old.n);
		CHECK(lsm_slice_eq(lsm_iter_key(it), old.kv[i].key));
		CHECK(lsm_slice_eq(lsm_iter_value(it), old.kv[i].value));
	}
	CHECK(i == N);
	CHECK_OK(lsm_iter_status(it, &st), &st);
	/* and back again */
	for (lsm_iter_seek_last(it), i = N - 1; lsm_iter_valid(it); lsm_iter_prev(it), i--)
	{
		CHECK(i >= 0);
		CHECK(lsm_slice_eq(lsm_iter_value(it), old.kv[i].value));
	}
	CHECK(i == -1);
	CHECK_OK(lsm_iter_status(it, &st), &st);
	lsm_iter_destroy(it);
	CHECK(!blob_exists(dir, a[0]));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(model_matches(db, NULL, &cur, 18));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&old);
	model_free(&cur);
	test_rmtree(dir);
}

/* The host's file horizon (LsmFileHorizonFn), settable by the test. */
static uint64_t host_file_horizon = UINT64_MAX;

static uint64_t
file_horizon(void *arg)
{
	return __atomic_load_n(&host_file_horizon, __ATOMIC_ACQUIRE);
}

/*
 * With a host file horizon, tables that compactions replaced wait until
 * the horizon passes them, and so do the blob files they reference: a
 * blob file goes only when no live table and no waiting one references
 * it.  What still waits at close is removed by the next open.
 */
static void
test_file_horizon(void)
{
	enum
	{
		N = 40, OVER = 30, LEN = 1000
	};
	char		dir[256];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	uint64_t	a[4];
	uint64_t	nums[8];
	uint64_t	v1;
	Model		m;
	int			k;

	o.file_horizon_fn = file_horizon;
	test_tmpdir(dir, sizeof(dir), "blob_horizon");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = LEN;
		CHECK(put_kv(db, k, 1, LEN));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, a, 4) == 1);

	/* an outside reader uses the first table (and so blob file A) */
	__atomic_store_n(&host_file_horizon, lsm_db_version_number(db), __ATOMIC_RELEASE);
	for (k = 0; k < OVER; k++)
	{
		ver[k] = 2;
		CHECK(put_kv(db, k, 2, LEN));
	}
	m = model_build(N, ver, len);
	CHECK_OK(compact_all(db, &st), &st);
	v1 = lsm_db_version_number(db);
	CHECK(blob_exists(dir, a[0]));
	CHECK(model_matches(db, NULL, &m, 80));

	/*
	 * The reader moves to v1, whose only table references a quarter of A.
	 * The next compaction moves that quarter out (75% garbage): the
	 * tables retired before v1 go, the one retired now waits, and A with
	 * it.
	 */
	__atomic_store_n(&host_file_horizon, v1, __ATOMIC_RELEASE);
	CHECK(touch(db));
	CHECK_OK(compact_all(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.bytes_blob_relocated == (uint64_t) (N - OVER) * LEN);
	if (!blob_exists(dir, a[0]))
		fprintf(stderr, "  blob file %llu went while a table waiting for the horizon references it\n",
				(unsigned long long) a[0]);
	CHECK(blob_exists(dir, a[0]));
	CHECK(blob_numbers(dir, nums, 8) == 3);
	CHECK(s.blob_files == 2);
	CHECK(model_matches(db, NULL, &m, 81));

	/* the reader moved on: A goes */
	__atomic_store_n(&host_file_horizon, lsm_db_version_number(db), __ATOMIC_RELEASE);
	lsm_db_delete_obsolete_files(db);
	CHECK(!blob_exists(dir, a[0]));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(model_matches(db, NULL, &m, 82));

	/* a reader that never moves: everything replaced now waits, past close */
	__atomic_store_n(&host_file_horizon, 0, __ATOMIC_RELEASE);
	for (k = 0; k < N; k++)
	{
		ver[k] = 3;
		len[k] = 10;
		CHECK(put_kv(db, k, 3, 10));
	}
	model_free(&m);
	m = model_build(N, ver, len);
	CHECK_OK(compact_all(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 0);
	CHECK(count_blobs(dir) == 2);
	CHECK(model_matches(db, NULL, &m, 83));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(count_blobs(dir) == 2);
	__atomic_store_n(&host_file_horizon, UINT64_MAX, __ATOMIC_RELEASE);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(count_blobs(dir) == 0);
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(model_matches(db, NULL, &m, 84));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * Merge operands
 */

typedef struct AppendArg
{
	int			calls;
	int			max_base;		/* longest base seen */
} AppendArg;

/* base (if any) followed by every operand, oldest first */
static LsmCode
append_merge(void *arg, LsmSlice key, const LsmSlice *base, const LsmSlice *operands,
			 int n_operands, LsmBuf *out, LsmStatus *st)
{
	AppendArg  *a = arg;
	int			i;

	__atomic_add_fetch(&a->calls, 1, __ATOMIC_RELAXED);
	if (base != NULL && (int) base->len > __atomic_load_n(&a->max_base, __ATOMIC_RELAXED))
		__atomic_store_n(&a->max_base, (int) base->len, __ATOMIC_RELAXED);
	lsm_buf_reset(out);
	if (base != NULL && !lsm_buf_append(out, base->data, base->len))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "oom");
	for (i = 0; i < n_operands; i++)
		if (!lsm_buf_append(out, operands[i].data, operands[i].len))
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "oom");
	return LSM_OK;
}

/* Model entry k: the bytes of base (nullable) then suffix. */
typedef struct MEntry
{
	const char *key;
	uint8_t    *val;
	size_t		len;
} MEntry;

static void
mentry_set(MEntry *e, const char *key, const uint8_t *base, size_t base_len,
		   const char *suffix)
{
	size_t		sl = strlen(suffix);

	free(e->val);
	e->key = key;
	e->len = base_len + sl;
	e->val = malloc(e->len + 1);
	if (base_len)
		memcpy(e->val, base, base_len);
	memcpy(e->val + base_len, suffix, sl);
}

static int
merge_model_ok(LsmDb *db, const LsmSnapshot *snap, MEntry *e, int n, uint64_t seed)
{
	TestKV		kv[16];
	Model		m;
	int			i;

	for (i = 0; i < n; i++)
	{
		kv[i].key = lsm_slice_str(e[i].key);
		kv[i].value = lsm_slice(e[i].val, e[i].len);
	}
	m.kv = kv;
	m.n = n;
	return model_matches(db, snap, &m, seed);
}

/*
 * A large PUT (blob) with merge operands above it, in the memtable, in
 * level 0 and folded by compactions: every read folds the blob's bytes,
 * not its reference.  m5's operand is kept apart from its base by a
 * snapshot.
 */
static void
test_merge_over_blob(void)
{
	char		dir[256];
	LsmOptions	o = blob_opts(1000);
	AppendArg	aa = {0, 0};
	LsmDb	   *db;
	LsmStatus	st;
	LsmSnapshot *snap;
	uint8_t		big[5][5000];
	MEntry		e[6];
	MEntry		at_snap[6];
	LsmDbStats	s;
	int			i;

	memset(e, 0, sizeof(e));
	memset(at_snap, 0, sizeof(at_snap));
	for (i = 0; i < 5; i++)
		make_value(big[i], sizeof(big[i]), 1000 + i, 1);
	o.merge = append_merge;
	o.merge_arg = &aa;
	test_tmpdir(dir, sizeof(dir), "blob_merge");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);

	/* m0: a plain blob; m1: base flushed, operands on top */
	CHECK(put_bytes(db, "m0", big[0], 5000));
	CHECK(put_bytes(db, "m1", big[1], 5000));
	/* m2: base and operand in the same memtable */
	CHECK(put_bytes(db, "m2", big[2], 5000));
	CHECK(merge_str(db, "m2", "+x"));
	/* m3: operands only */
	CHECK(merge_str(db, "m3", "+only"));
	/* m4: a blob, deleted, then an operand: folds over nothing */
	CHECK(put_bytes(db, "m4", big[4], 5000));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(count_blobs(dir) == 1);
	CHECK(del_key(db, "m4"));
	CHECK(merge_str(db, "m4", "+after-delete"));
	/* m5: blob base flushed, operand after a snapshot */
	CHECK(put_bytes(db, "m5", big[3], 5000));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(count_blobs(dir) == 2);
	snap = lsm_db_snapshot(db);
	CHECK(merge_str(db, "m5", "+new"));
	CHECK(merge_str(db, "m1", "+a"));
	CHECK(merge_str(db, "m1", "+bb"));

	mentry_set(&e[0], "m0", big[0], 5000, "");
	mentry_set(&e[1], "m1", big[1], 5000, "+a+bb");
	mentry_set(&e[2], "m2", big[2], 5000, "+x");
	mentry_set(&e[3], "m3", NULL, 0, "+only");
	mentry_set(&e[4], "m4", NULL, 0, "+after-delete");
	mentry_set(&e[5], "m5", big[3], 5000, "+new");
	mentry_set(&at_snap[0], "m0", big[0], 5000, "");
	mentry_set(&at_snap[1], "m1", big[1], 5000, "");
	mentry_set(&at_snap[2], "m2", big[2], 5000, "+x");
	mentry_set(&at_snap[3], "m3", NULL, 0, "+only");
	mentry_set(&at_snap[4], "m4", NULL, 0, "+after-delete");
	mentry_set(&at_snap[5], "m5", big[3], 5000, "");

	/* operands in the memtable over blob bases */
	CHECK(merge_model_ok(db, NULL, e, 6, 20));
	CHECK(merge_model_ok(db, snap, at_snap, 6, 21));
	CHECK(aa.max_base == 5000);
	/* operands in level 0 */
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(merge_model_ok(db, NULL, e, 6, 22));
	CHECK(merge_model_ok(db, snap, at_snap, 6, 23));
	/* folded by a compaction; m5's operand stays above the snapshot */
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(merge_model_ok(db, NULL, e, 6, 24));
	CHECK(merge_model_ok(db, snap, at_snap, 6, 25));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* (closing dropped the snapshot) */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(merge_model_ok(db, NULL, e, 6, 26));
	/* more operands over what is now on disk, then fold everything */
	CHECK(merge_str(db, "m0", "+late"));
	mentry_set(&e[0], "m0", big[0], 5000, "+late");
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(merge_model_ok(db, NULL, e, 6, 27));
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(merge_model_ok(db, NULL, e, 6, 28));
	CHECK(blobs_on_disk_match(db, dir));
	/*
	 * every blob base had operands: all folded into values, which are long
	 * and so went to the compactions' own blob files, as a flush would put
	 * them (the first compaction's file keeps the values the second one
	 * moved as references)
	 */
	lsm_db_stats(db, &s);
	CHECK(s.blob_files >= 1 && s.blob_files == (uint64_t) count_blobs(dir));
	/* m0, m1, m2, m5: 5000 bytes and their operands; m3 and m4 are short */
	CHECK(s.blob_live_bytes == 4 * 5000 + strlen("+late") + strlen("+a+bb") +
		  strlen("+x") + strlen("+new"));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(merge_model_ok(db, NULL, e, 6, 29));
	CHECK_OK(lsm_db_close(db, &st), &st);
	for (i = 0; i < 6; i++)
	{
		free(e[i].val);
		free(at_snap[i].val);
	}
	test_rmtree(dir);
}

/*
 * The compaction filter decides on the value, read from its blob file:
 * values whose first byte is 'X' are dropped.
 */
typedef struct FilterArg
{
	int			calls;
	int			short_values;	/* values shorter than the puts' */
} FilterArg;

static bool
drop_x(void *arg, uint64_t start, LsmSlice key, LsmSlice value)
{
	FilterArg  *f = arg;

	__atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
	if (value.len < 3000)
		__atomic_add_fetch(&f->short_values, 1, __ATOMIC_RELAXED);
	return value.len > 0 && value.data[0] == 'X';
}

static void
test_filter_sees_value(void)
{
	enum
	{
		N = 30
	};
	char		dir[256];
	LsmOptions	o = blob_opts(100);
	FilterArg	fa = {0, 0};
	LsmDb	   *db;
	LsmStatus	st;
	uint8_t		v[3000];
	int			k;

	o.filter_fn = drop_x;
	o.filter_arg = &fa;
	test_tmpdir(dir, sizeof(dir), "blob_filter");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		char		key[32];

		key_name(key, sizeof(key), k);
		make_value(v, sizeof(v), k, 1);
		v[0] = k % 2 == 0 ? 'X' : 'k';
		CHECK(put_bytes(db, key, v, sizeof(v)));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(count_blobs(dir) == 1);
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(fa.calls == N);
	CHECK(fa.short_values == 0);
	for (k = 0; k < N; k++)
	{
		char		key[32];

		key_name(key, sizeof(key), k);
		make_value(v, sizeof(v), k, 1);
		v[0] = 'k';
		if (k % 2 == 0)
			CHECK(get_absent(db, NULL, key));
		else
			CHECK(get_is(db, NULL, key, v, sizeof(v)));
	}
	CHECK(blobs_on_disk_match(db, dir));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Files
 */

/*
 * Open removes blob files no table references (a copy under a fresh
 * number, and junk) and fails with LSM_CORRUPTION, naming the file, when a
 * referenced one is missing; putting it back makes the database whole.
 */
static void
test_orphan_and_missing(void)
{
	enum
	{
		N = 20
	};
	char		dir[256];
	char		path[512];
	char		orphan[512];
	char		junk[512];
	char		name[64];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	int			ver[N + 1];
	size_t		len[N + 1];
	uint64_t	nums[4];
	uint8_t    *img;
	size_t		img_len;
	Model		m;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_orphan");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = 500 + k;
		CHECK(put_kv(db, k, 1, len[k]));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	m = model_build(N, ver, len);
	CHECK(blob_numbers(dir, nums, 4) == 1);
	blob_path(path, sizeof(path), dir, nums[0]);
	img = read_image(path, &img_len);

	/* orphans: a valid blob file under a high number, and junk */
	blob_path(orphan, sizeof(orphan), dir, 900000);
	write_image(orphan, img, img_len);
	blob_path(junk, sizeof(junk), dir, 900001);
	write_image(junk, (const uint8_t *) "not a blob file", 15);
	CHECK(count_blobs(dir) == 3);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(!file_exists(orphan));
	CHECK(!file_exists(junk));
	CHECK(file_exists(path));
	CHECK(count_blobs(dir) == 1);
	CHECK(model_matches(db, NULL, &m, 30));
	/* new blob files do not take the orphans' numbers' place wrongly */
	CHECK(put_kv(db, N, 1, 700));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	ver[N] = 1;
	len[N] = 700;
	model_free(&m);
	m = model_build(N + 1, ver, len);
	CHECK(count_blobs(dir) == 2);
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(get_kv_is(db, NULL, N, 1, 700));
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* a referenced blob file missing */
	CHECK(unlink(path) == 0);
	db = (LsmDb *) 1;
	lsm_status_clear(&st);
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_CORRUPTION);
	CHECK(db == NULL);
	snprintf(name, sizeof(name), "%06llu.blob", (unsigned long long) nums[0]);
	if (strstr(st.msg, name) == NULL)
		fprintf(stderr, "  message: %s\n", st.msg);
	CHECK(strstr(st.msg, name) != NULL);
	/* open must not have removed anything */
	CHECK(count_blobs(dir) == 1);

	/* back in place: whole again */
	write_image(path, img, img_len);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 31));
	CHECK(get_kv_is(db, NULL, N, 1, 700));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	free(img);
	model_free(&m);
	test_rmtree(dir);
}

/*
 * A byte flipped inside the first data block of a blob file: open works,
 * the key whose value is in that block reads LSM_CORRUPTION (never other
 * bytes), the others read exactly, a scan stops with an error, and
 * lsm_db_verify_all reports the file.
 */
static void
corruption_case(LsmCompression codec)
{
	enum
	{
		N = 10, LEN = 5000
	};
	char		dir[256];
	char		path[512];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	LsmVerifyResult vr;
	Problems	p = {0, ""};
	LsmIter    *it;
	uint64_t	nums[4];
	uint8_t    *img;
	size_t		img_len;
	int			k;
	int			seen;

	o.compression = codec;
	o.compression_upper = codec;
	test_tmpdir(dir, sizeof(dir), "blob_corrupt");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
		CHECK(put_kv(db, k, 1, LEN));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 4) == 1);
	blob_path(path, sizeof(path), dir, nums[0]);
	img = read_image(path, &img_len);
	CHECK(img_len > LEN * N);
	/* every value is larger than a block: key000000's is the first block */
	img[LEN / 2] ^= 0x5a;
	write_image(path, img, img_len);
	free(img);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	lsm_status_clear(&st);
	CHECK(get_raw(db, NULL, "key000000", &v, &st) == LSM_CORRUPTION);
	CHECK(st.code == LSM_CORRUPTION);
	for (k = 1; k < N; k++)
		CHECK(get_kv_is(db, NULL, k, 1, LEN));
	/* again: a failed read must not have cached anything */
	CHECK(get_raw(db, NULL, "key000000", &v, &st) == LSM_CORRUPTION);

	/* a forward scan fails at the first key; a reverse one yields the rest first */
	CHECK_OK(lsm_db_iter(db, NULL, &it, &st), &st);
	lsm_iter_seek_first(it);
	CHECK(!lsm_iter_valid(it));
	CHECK(lsm_iter_status(it, &st) == LSM_CORRUPTION);
	seen = 0;
	for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
		seen++;
	CHECK(seen == N - 1);
	CHECK(lsm_iter_status(it, &st) == LSM_CORRUPTION);
	lsm_iter_destroy(it);

	memset(&vr, 0, sizeof(vr));
	CHECK_OK(lsm_db_verify_all(db, &vr, note_problem, &p, &st), &st);
	CHECK(vr.problems == 1);
	CHECK(p.n == 1);
	if (strstr(p.first, ".blob") == NULL)
		fprintf(stderr, "  verify_all's problem: %s\n", p.first);
	CHECK(strstr(p.first, ".blob") != NULL);
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_buf_free(&v);
	test_rmtree(dir);
}

/*
 * Format: one record per value
 */

/* A value that compresses (text with repeats), len bytes. */
static void
text_value(uint8_t *p, size_t len, int k)
{
	size_t		i = 0;

	while (i < len)
	{
		char		chunk[64];
		int			n = snprintf(chunk, sizeof(chunk), "{\"user\": %d, \"state\": \"active\"} ", k);

		memcpy(p + i, chunk, len - i < (size_t) n ? len - i : (size_t) n);
		i += (size_t) n;
	}
}

/* Key k's value in format_case: text for even k, random bytes for odd. */
static void
format_value(uint8_t *p, size_t len, int k)
{
	if (k % 2 == 0)
		text_value(p, len, k);
	else
		make_value(p, len, k, 1);
}

/* Every key of format_case reads back exactly, or (damaged) is LSM_CORRUPTION. */
static int
format_gets(LsmDb *db, int n, int *damaged)
{
	LsmBuf		v = LSM_BUF_INIT;
	uint8_t		want[1024];
	int			ok = 1;
	int			k;

	*damaged = 0;
	for (k = 0; k < n; k++)
	{
		char		key[32];
		LsmStatus	st;
		LsmCode		rc;

		key_name(key, sizeof(key), k);
		format_value(want, 300 + (size_t) k, k);
		lsm_status_clear(&st);
		rc = get_raw(db, NULL, key, &v, &st);
		if (rc == LSM_CORRUPTION)
			(*damaged)++;
		else if (rc != LSM_OK || v.len != 300 + (size_t) k || memcmp(v.data, want, v.len) != 0)
		{
			fprintf(stderr, "  %s: %s, %zu bytes\n", key, lsm_code_name(rc), v.len);
			ok = 0;
		}
	}
	lsm_buf_free(&v);
	return ok;
}

/*
 * Each value is a record of its own, stored compressed when that pays
 * (verification counts the records by codec), and the file ends in the
 * version 2 footer.  Then every byte of the file is flipped in turn: a
 * get never returns other bytes, and verification always finds the damage
 * (every byte is under a record's checksum or the footer's).
 */
static void
format_case(LsmCompression codec)
{
	enum
	{
		N = 6
	};
	char		dir[256];
	char		path[512];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmVerifyResult vr;
	Problems	p = {0, ""};
	uint64_t	nums[4];
	uint8_t    *img;
	size_t		img_len;
	size_t		i;
	int			k;
	int			damaged;
	int			missed = 0;
	int			by_get = 0;

	o.compression = codec;
	o.compression_upper = codec;
	test_tmpdir(dir, sizeof(dir), "blob_format");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		char		key[32];
		uint8_t		v[1024];

		key_name(key, sizeof(key), k);
		format_value(v, 300 + (size_t) k, k);
		CHECK(put_bytes(db, key, v, 300 + (size_t) k));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(format_gets(db, N, &damaged) && damaged == 0);
	memset(&vr, 0, sizeof(vr));
	CHECK_OK(lsm_db_verify_all(db, &vr, note_problem, &p, &st), &st);
	CHECK(vr.problems == 0);
	/* the table's blocks and the blob file's records */
	if (codec == LSM_COMPRESSION_NONE)
		CHECK(vr.blocks_by_codec[LSM_COMPRESSION_NONE] >= N);
	else
	{
		CHECK(vr.blocks_by_codec[codec] >= N / 2);
		CHECK(vr.blocks_by_codec[LSM_COMPRESSION_NONE] >= N / 2);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 4) == 1);
	blob_path(path, sizeof(path), dir, nums[0]);
	img = read_image(path, &img_len);
	CHECK(img_len > 48 && memcmp(img + img_len - 8, "LSMBLB02", 8) == 0);
	if (codec == LSM_COMPRESSION_NONE)
		CHECK(img_len == 48 + N * 9 + (size_t) (N * 300 + N * (N - 1) / 2));
	else
		CHECK(img_len < 48 + N * 9 + (size_t) (N * 300 + N * (N - 1) / 2));

	for (i = 0; i < img_len; i++)
	{
		img[i] ^= 0x20;
		write_image(path, img, img_len);
		img[i] ^= 0x20;
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		CHECK(format_gets(db, N, &damaged));
		if (damaged > 0)
			by_get++;
		memset(&vr, 0, sizeof(vr));
		p.n = 0;
		CHECK_OK(lsm_db_verify_all(db, &vr, note_problem, &p, &st), &st);
		if (vr.problems != 1)
			missed++;
		CHECK_OK(lsm_db_close(db, &st), &st);
	}
	write_image(path, img, img_len);
	printf("  %s: %zu flips, %d caught by a get, %d missed by verify\n",
		   codec == LSM_COMPRESSION_NONE ? "none" : codec == LSM_COMPRESSION_LZ4 ? "lz4" : "zstd",
		   img_len, by_get, missed);
	CHECK(missed == 0);
	/* every record byte is some get's, and a damaged footer fails them all */
	CHECK(by_get == (int) img_len);
	free(img);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(format_gets(db, N, &damaged) && damaged == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

static void
test_format(void)
{
	format_case(LSM_COMPRESSION_NONE);
	format_case(LSM_COMPRESSION_LZ4);
	format_case(LSM_COMPRESSION_ZSTD);
}

/*
 * Dictionaries (dict.h)
 */

/* A session record like the SQL benchmark's: JSON whose names repeat, random ids. */
static size_t
dict_value(char *p, size_t cap, int k)
{
	static const char *const agents[] = {
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0"
	};
	TestRng		r = {(uint64_t) (k + 1) * 0x9E3779B97F4A7C15ull};
	char		hex[65];
	char		csrf[33];
	int			i;

	for (i = 0; i < 64; i++)
		hex[i] = "0123456789abcdef"[test_rng_below(&r, 16)];
	hex[64] = '\0';
	for (i = 0; i < 32; i++)
		csrf[i] = "0123456789abcdef"[test_rng_below(&r, 16)];
	csrf[32] = '\0';
	return (size_t) snprintf(p, cap,
							 "{\"session_id\":\"%s\",\"user_id\":%d,\"email\":\"%.10s@mail.test\","
							 "\"created_at\":\"2026-%02d-%02dT%02d:%02d:%02dZ\",\"agent\":\"%s\","
							 "\"locale\":\"%s\",\"theme\":\"%s\",\"cart\":[{\"sku\":\"SKU-%d\",\"qty\":%d}],"
							 "\"csrf\":\"%s\",\"flags\":{\"beta\":%s,\"mfa\":%s},\"last_path\":\"/account/orders/%d\"}",
							 hex, 1000000 + k * 7, hex + 20, 1 + k % 12, 1 + k % 28, k % 24,
							 k % 60, (k * 7) % 60, agents[k % 3], k % 2 ? "en-US" : "ja-JP",
							 k % 5 ? "light" : "dark", (int) test_rng_below(&r, 90000),
							 1 + (int) test_rng_below(&r, 5), csrf, k % 3 ? "true" : "false",
							 k % 4 ? "false" : "true", (int) test_rng_below(&r, 100000));
}

typedef struct DictGets
{
	LsmDb	   *db;
	int			from;
	int			to;
	int			damaged;
	int			ok;
} DictGets;

static void *
dict_gets_thread(void *arg)
{
	DictGets   *g = arg;
	LsmBuf		v = LSM_BUF_INIT;
	int			k;

	g->ok = 1;
	g->damaged = 0;
	for (k = g->from; k < g->to; k++)
	{
		char		key[32];
		char		want[1024];
		size_t		n = dict_value(want, sizeof(want), k);
		LsmStatus	st;
		LsmCode		rc;

		key_name(key, sizeof(key), k);
		lsm_status_clear(&st);
		rc = get_raw(g->db, NULL, key, &v, &st);
		if (rc == LSM_CORRUPTION)
			g->damaged++;
		else if (rc != LSM_OK || v.len != n || memcmp(v.data, want, n) != 0)
		{
			fprintf(stderr, "  %s: %s, %zu bytes\n", key, lsm_code_name(rc), v.len);
			g->ok = 0;
		}
	}
	lsm_buf_free(&v);
	return NULL;
}

/*
 * Get keys [from, to) in a new thread, whose cache of digested dictionaries
 * is empty: the dictionary is read from the file.  false when a get
 * returned anything but the value or LSM_CORRUPTION (counted in *damaged).
 */
static int
dict_gets(LsmDb *db, int from, int to, int *damaged)
{
	pthread_t	t;
	DictGets	g = {db, from, to, 0, 0};

	pthread_create(&t, NULL, dict_gets_thread, &g);
	pthread_join(t, NULL);
	*damaged = g.damaged;
	return g.ok;
}

/*
 * Values a table file holds inline (a bulk load writes them so; here a
 * table opened without blob_min_size) move to a blob file at the next
 * compaction that rewrites them, as a flush would have written them: the
 * table had no dictionary, so the compaction trains one from its inputs
 * first and the blob file is zstd with it (version 3), well under the
 * values' size.  Every value reads back, from a thread whose cache of
 * dictionaries is empty, and after a reopen; verification is clean.
 */
static void
test_inline_values_to_blobs(void)
{
	enum
	{
		N = 1000
	};
	char		dir[256];
	char		pa[512];
	LsmOptions	o = blob_opts(0);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	stats;
	uint64_t	nums[4];
	uint8_t    *ia;
	size_t		la;
	size_t		raw = 0;
	int			damaged;
	int			k;

	o.compression = LSM_COMPRESSION_ZSTD;
	o.compression_upper = LSM_COMPRESSION_ZSTD;
	test_tmpdir(dir, sizeof(dir), "blob_inline");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		char		key[32];
		char		v[1024];
		size_t		n = dict_value(v, sizeof(v), k);

		key_name(key, sizeof(key), k);
		CHECK(put_bytes(db, key, v, n));
		raw += n;
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	lsm_db_stats(db, &stats);
	CHECK(stats.blob_files == 0 && stats.blob_dict_bytes == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 4) == 0);

	o.blob_min_size = 100;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(compact_all(db, &st), &st);
	lsm_db_stats(db, &stats);
	CHECK(stats.blob_files == 1);
	CHECK(stats.blob_dict_bytes > 1000);
	CHECK(stats.bytes_blob_relocated == raw);
	CHECK(dict_gets(db, 0, N, &damaged) && damaged == 0);
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK(blob_numbers(dir, nums, 4) == 1);
	blob_path(pa, sizeof(pa), dir, nums[0]);
	ia = read_image(pa, &la);
	CHECK(ia != NULL && lsm_get_fixed32(ia + la - 16) == 3 && ia[8] == 0x10);
	printf("  %d values, %zu bytes, moved out of the table file: blob file of %zu bytes\n",
		   N, raw, la);
	CHECK(la * 2 < raw);
	free(ia);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(dict_gets(db, 0, N, &damaged) && damaged == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * The first blob file has no dictionary (version 2) and trains one; the
 * next zstd file starts with it (version 3), its values decode with it in
 * a thread that never saw it, and it is much smaller.  Reopened, the table
 * has it at once.  Then damage: a
 * flipped byte of the dictionary fails every value of the file, and
 * verification reports each flip.
 */
static void
test_dictionary(void)
{
	enum
	{
		N = 1000
	};
	char		dir[256];
	char		pa[512];
	char		pb[512];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmVerifyResult vr;
	LsmDbStats	stats;
	Problems	p = {0, ""};
	TestRng		rng = {424242};
	uint64_t	nums[4];
	uint8_t    *ia;
	uint8_t    *ib;
	size_t		la;
	size_t		lb;
	size_t		dict_end;
	int			damaged;
	int			flips = 0;
	int			missed = 0;
	int			k;
	int			i;

	o.compression = LSM_COMPRESSION_ZSTD;
	o.compression_upper = LSM_COMPRESSION_ZSTD;
	test_tmpdir(dir, sizeof(dir), "blob_dict");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < 2 * N; k++)
	{
		char		key[32];
		char		v[1024];
		size_t		n = dict_value(v, sizeof(v), k);

		key_name(key, sizeof(key), k);
		CHECK(put_bytes(db, key, v, n));
		if (k == N - 1)
			CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(dict_gets(db, 0, 2 * N, &damaged) && damaged == 0);
	memset(&vr, 0, sizeof(vr));
	CHECK_OK(lsm_db_verify_all(db, &vr, note_problem, &p, &st), &st);
	CHECK(vr.problems == 0);
	CHECK(vr.blocks_by_codec[LSM_COMPRESSION_ZSTD] >= 2 * N);
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK(blob_numbers(dir, nums, 4) == 2);
	blob_path(pa, sizeof(pa), dir, nums[0]);
	blob_path(pb, sizeof(pb), dir, nums[1]);
	ia = read_image(pa, &la);
	ib = read_image(pb, &lb);
	CHECK(lsm_get_fixed32(ia + la - 16) == 2 && lsm_get_fixed32(ib + lb - 16) == 3);
	CHECK(ib[8] == 0x10 && ib[9 + lsm_get_fixed32(ib + 4) + 8] == 0x11);
	dict_end = 9 + lsm_get_fixed32(ib + 4);
	printf("  %zu values of ~%zu bytes: %zu bytes without a dictionary, %zu with (%zu of them the dictionary)\n",
		   (size_t) N, (size_t) 600, la, lb, dict_end);
	/* the same kind of values, a dictionary included: well under the file without */
	CHECK(lb * 4 < la * 3);

	/* a reopened table takes the newest blob file's dictionary */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	lsm_db_stats(db, &stats);
	CHECK(stats.blob_dict_bytes == dict_end - 17);
	CHECK(dict_gets(db, N, 2 * N, &damaged) && damaged == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* every byte of the record's header and key, then a sample of the rest */
	for (i = 0; i < 17 + 120; i++)
	{
		size_t		pos = i < 17 ? (size_t) i :
			i < 77 ? 17 + test_rng_below(&rng, dict_end - 17) :
			dict_end + test_rng_below(&rng, lb - 48 - dict_end);

		ib[pos] ^= 0x04;
		write_image(pb, ib, lb);
		ib[pos] ^= 0x04;
		flips++;
		CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
		CHECK(dict_gets(db, N, 2 * N, &damaged));
		if (pos < dict_end)
			CHECK(damaged == N);
		else
			CHECK(damaged <= 1);
		memset(&vr, 0, sizeof(vr));
		p.n = 0;
		CHECK_OK(lsm_db_verify_all(db, &vr, note_problem, &p, &st), &st);
		if (vr.problems != 1)
			missed++;
		CHECK_OK(lsm_db_close(db, &st), &st);
	}
	write_image(pb, ib, lb);
	printf("  %d flips in the dictionary file, %d missed by verify\n", flips, missed);
	CHECK(missed == 0);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(dict_gets(db, 0, 2 * N, &damaged) && damaged == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	free(ia);
	free(ib);
	test_rmtree(dir);
}

/* A record of another shape than dict_value's. */
static size_t
xml_value(char *p, size_t cap, int k)
{
	TestRng		r = {(uint64_t) (k + 7) * 0x9E3779B97F4A7C15ull};
	char		hex[41];
	int			i;

	for (i = 0; i < 40; i++)
		hex[i] = "0123456789abcdef"[test_rng_below(&r, 16)];
	hex[40] = '\0';
	return (size_t) snprintf(p, cap,
							 "<order number=\"%d\" state=\"%s\"><customer ref=\"%s\"/>"
							 "<shipping><street>%d Harbour Road</street><city>%s</city></shipping>"
							 "<lines><line product=\"P-%d\" quantity=\"%d\" price=\"%d.%02d\"/>"
							 "<line product=\"P-%d\" quantity=\"1\" price=\"9.99\"/></lines>"
							 "<note>leave at the door if nobody answers</note></order>",
							 k, k % 3 ? "open" : "shipped", hex, (int) test_rng_below(&r, 900),
							 k % 2 ? "Lisbon" : "Osaka", (int) test_rng_below(&r, 50000),
							 1 + k % 4, (int) test_rng_below(&r, 500), k % 100,
							 (int) test_rng_below(&r, 50000));
}

/* The dictionary key of blob file path (0 when it has none). */
static uint64_t
file_dict_key(const char *path)
{
	size_t		len;
	uint8_t    *img = read_image(path, &len);
	uint64_t	key = 0;

	if (img != NULL && len > 48 + 17 && lsm_get_fixed32(img + len - 16) == 3 && img[8] == 0x10)
		key = lsm_get_fixed64(img + 9);
	free(img);
	return key;
}

/*
 * When a table trains a new dictionary: after a first flush of a few
 * values (a weak one), when a file sampled more; not while files compress
 * as well as the dictionary's first one did; again when values change so
 * that they compress far worse.
 */
static void
test_dictionary_retrain(void)
{
	static const int rows[6] = {20, 500, 3000, 3000, 3000, 50};
	char		dir[256];
	char		path[512];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	uint64_t	nums[8];
	uint64_t	key[6];
	int			next = 0;
	int			f;
	int			k;
	int			damaged;

	o.compression = LSM_COMPRESSION_ZSTD;
	test_tmpdir(dir, sizeof(dir), "blob_retrain");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (f = 0; f < 6; f++)
	{
		for (k = 0; k < rows[f]; k++, next++)
		{
			char		name[32];
			char		v[1024];
			size_t		n;

			key_name(name, sizeof(name), next);
			if (f == 4)
				n = xml_value(v, sizeof(v), next);	/* another shape: drift */
			else
				n = dict_value(v, sizeof(v), next);
			CHECK(put_bytes(db, name, v, n));
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK(dict_gets(db, 0, 20, &damaged) && damaged == 0);
	CHECK(dict_gets(db, 20 + 500 + 3 * 3000, next, &damaged) && damaged == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 8) == 6);
	for (f = 0; f < 6; f++)
	{
		blob_path(path, sizeof(path), dir, nums[f]);
		key[f] = file_dict_key(path);
	}
	CHECK(key[0] == 0);			/* no dictionary yet: trains one from 20 values */
	CHECK(key[1] != 0);			/* 128 samples: trains a better one */
	CHECK(key[2] != 0 && key[2] != key[1]);
	CHECK(key[3] == key[2]);	/* compresses as well: kept */
	CHECK(key[4] == key[2]);	/* another shape: far worse, trains again */
	CHECK(key[5] != 0 && key[5] != key[4]);
	test_rmtree(dir);
}

/*
 * A version 1 blob file (an SSTable keyed by the values' ordinals, what
 * builds before the record format wrote) is still read: its values by
 * get and scan.
 */
static void
test_read_version1(void)
{
	enum
	{
		N = 20
	};
	char		dir[256];
	char		path[512];
	LsmOptions	o = blob_opts(100);
	LsmSstOptions topts;
	LsmSstBuilder *b;
	LsmSstProps props;
	LsmDb	   *db;
	LsmStatus	st;
	uint64_t	nums[4];
	uint8_t    *img;
	size_t		img_len;
	size_t		pos = 0;
	int			n = 0;
	int			k;
	Model		m;
	int			ver[N];
	size_t		len[N];

	o.compression = LSM_COMPRESSION_NONE;
	o.compression_upper = LSM_COMPRESSION_NONE;
	test_tmpdir(dir, sizeof(dir), "blob_v1");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = 200 + (size_t) k * 37;
		CHECK(put_kv(db, k, 1, len[k]));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 4) == 1);
	blob_path(path, sizeof(path), dir, nums[0]);
	img = read_image(path, &img_len);

	/* the same values in a version 1 file, keyed by the references' positions */
	CHECK_OK(fast_env->unlink(fast_env, path, &st), &st);
	lsm_sst_options_from(&topts, &o);
	topts.bloom_bits_per_key = 0;
	CHECK_OK(lsm_sst_builder_open(fast_env, path, &topts, &b, &st), &st);
	while (pos + 48 < img_len)
	{
		uint8_t		key[16];
		uint32_t	stored = lsm_get_fixed32(img + pos + 4);
		int			i;

		CHECK(img[pos + 8] == LSM_COMPRESSION_NONE);
		for (i = 0; i < 8; i++)
			key[i] = (uint8_t) ((uint64_t) pos >> (8 * (7 - i)));
		lsm_put_fixed64(key + 8, lsm_pack_seq_kind(0, LSM_KIND_PUT));
		CHECK_OK(lsm_sst_builder_add(b, lsm_slice(key, sizeof(key)),
									 lsm_slice(img + pos + 9, stored), &st), &st);
		pos += 9 + stored;
		n++;
	}
	CHECK(n == N);
	memset(&props, 0, sizeof(props));
	CHECK_OK(lsm_sst_builder_finish(b, &props, &st), &st);
	lsm_sst_props_free(&props);
	free(img);
	img = read_image(path, &img_len);
	CHECK(memcmp(img + img_len - 8, "LSMTBL01", 8) == 0);
	free(img);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
		CHECK(get_kv_is(db, NULL, k, 1, len[k]));
	m = model_build(N, ver, len);
	CHECK(model_scan(db, NULL, &m, false));
	CHECK(model_scan(db, NULL, &m, true));
	model_free(&m);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * A blob file replaced by another valid one (blocks and checksums fine):
 * a reference whose length differs from the value found at its ordinal
 * is LSM_CORRUPTION, not the other file's bytes.
 */
static void
swapped_case(void)
{
	enum
	{
		N = 8
	};
	char		dir[256];
	char		pa[512];
	char		pb[512];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	uint64_t	nums[4];
	uint8_t    *img;
	size_t		img_len;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_swap");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
		CHECK(put_kv(db, k, 1, 500 + k));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	for (k = N; k < 2 * N; k++)
		CHECK(put_kv(db, k, 1, 900 + k));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 4) == 2);
	blob_path(pa, sizeof(pa), dir, nums[0]);
	blob_path(pb, sizeof(pb), dir, nums[1]);
	img = read_image(pb, &img_len);
	write_image(pa, img, img_len);
	free(img);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		char		key[32];

		key_name(key, sizeof(key), k);
		CHECK(get_raw(db, NULL, key, &v, &st) == LSM_CORRUPTION);
	}
	for (k = N; k < 2 * N; k++)
		CHECK(get_kv_is(db, NULL, k, 1, 900 + k));
	{
		LsmVerifyResult vr;

		/* its value bytes and size are not what the tables recorded */
		memset(&vr, 0, sizeof(vr));
		CHECK_OK(lsm_db_verify_all(db, &vr, NULL, NULL, &st), &st);
		CHECK(vr.problems == 1);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_buf_free(&v);
	test_rmtree(dir);
}

static void
test_corruption(void)
{
	corruption_case(LSM_COMPRESSION_NONE);
	if (tu_cur_failed)
		return;
	corruption_case(LSM_COMPRESSION_ZSTD);
	if (tu_cur_failed)
		return;
	corruption_case(LSM_COMPRESSION_LZ4);
	if (tu_cur_failed)
		return;
	swapped_case();
}

/*
 * lsm_db_checkpoint copies the blob files the tables reference; the copy
 * opens by itself and reads every value after the original deleted its own
 * blob files.
 */
static void
test_checkpoint(void)
{
	enum
	{
		N = 60
	};
	char		dir[320];
	char		copy[320];
	char		root[256];
	LsmOptions	o = blob_opts(200);
	LsmDb	   *db;
	LsmStatus	st;
	LsmCheckpointInfo info;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	uint64_t	orig[8];
	uint64_t	copied[8];
	int			n_orig;
	Model		m;
	int			k;

	test_tmpdir(root, sizeof(root), "blob_ckpt");
	snprintf(dir, sizeof(dir), "%s/db", root);
	snprintf(copy, sizeof(copy), "%s/copy", root);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = k % 3 == 0 ? 50 : 300 + 10 * k;
		CHECK(put_kv(db, k, 1, len[k]));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	for (k = 0; k < N; k += 4)
	{
		ver[k] = 2;
		len[k] = 2000;
		CHECK(put_kv(db, k, 2, len[k]));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	/* only in the memtable: not in the copy */
	CHECK(put_kv(db, N, 1, 1000));
	m = model_build(N, ver, len);
	n_orig = blob_numbers(dir, orig, 8);
	CHECK(n_orig == 2);
	CHECK_OK(lsm_db_checkpoint(db, copy, &info, &st), &st);
	CHECK(blob_numbers(copy, copied, 8) == n_orig);
	for (k = 0; k < n_orig; k++)
	{
		char		a[512];
		char		b[512];
		size_t		la;
		size_t		lb;
		uint8_t    *ia;
		uint8_t    *ib;

		CHECK(copied[k] == orig[k]);
		blob_path(a, sizeof(a), dir, orig[k]);
		blob_path(b, sizeof(b), copy, copied[k]);
		ia = read_image(a, &la);
		ib = read_image(b, &lb);
		CHECK(la == lb && memcmp(ia, ib, la) == 0);
		free(ia);
		free(ib);
	}
	/* the original moves on and drops its blob files */
	for (k = 0; k <= N; k++)
		CHECK(put_kv(db, k, 3, 10));
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(count_blobs(dir) == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, copy, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 40));
	CHECK(get_absent(db, NULL, "key000060"));
	CHECK(blobs_on_disk_match(db, copy));
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 2);
	CHECK(verify_clean(db));
	/* and works as a database of its own */
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 41));
	CHECK(blobs_on_disk_match(db, copy));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(root);
}

/*
 * Power loss (fault_env.h) right after a flush and after a relocating
 * compaction: the blob files were made durable with their tables.
 */
static void
test_crash(void)
{
	enum
	{
		N = 60, LEN = 800
	};
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	Model		m;
	int			k;

	o.env = env;
	fault_env_set_real_sync(env, false);
	test_tmpdir(dir, sizeof(dir), "blob_crash");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = LEN;
		CHECK(put_kv(db, k, 1, LEN));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(fault_env_crash(env) >= 0);
	lsm_db_close(db, &st);
	fault_env_heal(env);
	m = model_build(N, ver, len);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 50));
	CHECK(verify_clean(db));

	/* 75% garbage in the first file, then a compaction that moves the rest */
	for (k = 0; k < 3 * N / 4; k++)
	{
		ver[k] = 2;
		CHECK(put_kv(db, k, 2, LEN));
	}
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(touch(db));
	CHECK_OK(compact_all(db, &st), &st);
	lsm_db_stats(db, &s);
	CHECK(s.bytes_blob_relocated == (uint64_t) (N / 4) * LEN);
	CHECK(fault_env_crash(env) >= 0);
	lsm_db_close(db, &st);
	fault_env_heal(env);
	model_free(&m);
	m = model_build(N, ver, len);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 51));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
	fault_env_free(env);
}

/* .sst files on disk minus the tables the current version lists */
static int
stray_tables(LsmDb *db, const char *dir)
{
	char		dummy[512];
	LsmDbStats	s;
	uint64_t	listed = 0;
	int			level;

	lsm_db_stats(db, &s);
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		listed += s.files_per_level[level];
	return find_file(dir, ".sst", dummy, sizeof(dummy)) - (int) listed;
}

/*
 * After a call that failed at an injected write: the .blob files on disk
 * are those the version references, except that a failed MANIFEST update
 * leaves the files its record added, the table and its blob file (the
 * record may have reached the disk: they are the next open's to judge).
 * So every stray blob file has a stray table beside it.
 */
static int
blobs_after_failure(LsmDb *db, const char *dir, LsmCode rc, const LsmStatus *st,
					const char *what, int n)
{
	LsmDbStats	s;
	int			on_disk = count_blobs(dir);
	int			tables = stray_tables(db, dir);

	lsm_db_stats(db, &s);
	if ((uint64_t) on_disk < s.blob_files || (uint64_t) on_disk > s.blob_files + (uint64_t) tables)
	{
		fprintf(stderr, "  %s failing at write-like call %d (%s: %s): %d .blob files on disk, "
				"%llu referenced, %d stray tables\n", what, n, lsm_code_name(rc),
				rc != LSM_OK ? st->msg : "", on_disk, (unsigned long long) s.blob_files, tables);
		return 0;
	}
	return 1;
}

/*
 * Writes failing (ENOSPC) at every write-like call of a flush and of a
 * relocating compaction in turn: the call fails or succeeds, the database
 * reads the same either way, no blob file is left behind without its
 * table (a failed MANIFEST update leaves both), and the next open
 * removes what was left.
 */
static void
test_write_failures(void)
{
	enum
	{
		N = 30, LEN = 700
	};
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	Model		m;
	int			failures = 0;
	int			n;
	int			k;

	o.env = env;
	fault_env_set_real_sync(env, false);
	test_tmpdir(dir, sizeof(dir), "blob_fail");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = LEN;
		CHECK(put_kv(db, k, 1, LEN));
	}
	m = model_build(N, ver, len);

	/* the flush */
	for (n = 1; n < 200; n++)
	{
		LsmCode		rc;

		fault_env_fail_writes_after(env, n, ENOSPC);
		lsm_status_clear(&st);
		rc = lsm_db_flush(db, &st);
		fault_env_heal(env);
		if (rc != LSM_OK)
			failures++;
		CHECK(model_gets(db, NULL, &m));
		CHECK(blobs_after_failure(db, dir, rc, &st, "flush", n));
		if (rc == LSM_OK)
			break;
	}
	CHECK(failures > 0);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files == 1);
	CHECK(model_matches(db, NULL, &m, 60));

	/* a relocating compaction: half the values overwritten first */
	for (k = 0; k < N / 2; k++)
	{
		ver[k] = 2;
		CHECK(put_kv(db, k, 2, LEN));
	}
	model_free(&m);
	m = model_build(N, ver, len);
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(touch(db));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	failures = 0;
	for (n = 1; n < 400; n++)
	{
		LsmCode		rc;

		fault_env_fail_writes_after(env, n, ENOSPC);
		lsm_status_clear(&st);
		rc = compact_all(db, &st);
		fault_env_heal(env);
		if (rc != LSM_OK)
			failures++;
		CHECK(model_gets(db, NULL, &m));
		CHECK(blobs_after_failure(db, dir, rc, &st, "compaction", n));
		if (rc == LSM_OK)
			break;
	}
	CHECK(failures > 0);
	lsm_db_stats(db, &s);
	/* once it went through, the garbage-heavy file went with it */
	CHECK(s.bytes_blob_relocated >= (uint64_t) (N / 2) * LEN);
	CHECK(s.blob_files == 2);
	CHECK(s.blob_live_bytes == s.blob_bytes);
	CHECK(model_matches(db, NULL, &m, 61));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(model_matches(db, NULL, &m, 62));
	/* the next open removed every leftover */
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(count_blobs(dir) == 2);
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
	fault_env_free(env);
}

/*
 * An ingested file is the host's, built with sstable.h: an entry of kind
 * LSM_KIND_BLOB in it references nothing of the database (its table meta
 * lists no blob file).  The database must refuse it, or at least never
 * answer with another key's value and stay openable after compacting it
 * with a table that references the same blob file.
 */
static void
test_ingest_blob_kind(void)
{
	char		root[256];
	char		dir[320];
	char		ext[320];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmBuf		v = LSM_BUF_INIT;
	LsmIngestResult res;
	uint8_t		secret[1000];
	const char *paths[1];
	uint64_t	nums[4];
	LsmCode		rc;

	test_tmpdir(root, sizeof(root), "blob_ingest");
	snprintf(dir, sizeof(dir), "%s/db", root);
	snprintf(ext, sizeof(ext), "%s/ext.sst", root);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	memset(secret, 's', sizeof(secret));
	memcpy(secret, "SECRET", 6);
	CHECK(put_bytes(db, "a-secret", secret, sizeof(secret)));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, nums, 4) == 1);
	{
		/* a reference to that blob file's first value: varints number, 0, 1000 */
		LsmOptions	bo;
		LsmSstOptions so;
		LsmSstBuilder *b;
		LsmBuf		ik = LSM_BUF_INIT;
		uint8_t		ref[32];
		uint8_t    *p = ref;

		p = lsm_encode_varint64(p, nums[0]);
		p = lsm_encode_varint64(p, 0);
		p = lsm_encode_varint64(p, sizeof(secret));
		lsm_options_init(&bo);
		lsm_sst_options_from(&so, &bo);
		CHECK_OK(lsm_sst_builder_open(NULL, ext, &so, &b, &st), &st);
		CHECK(lsm_ikey_append(&ik, lsm_slice_str("z-ingested"), 0, LSM_KIND_BLOB));
		rc = lsm_sst_builder_add(b, lsm_buf_slice(&ik), lsm_slice(ref, (size_t) (p - ref)), &st);
		lsm_buf_free(&ik);
		if (rc != LSM_OK)
		{
			/* the builder refuses the kind: nothing to ingest */
			lsm_sst_builder_abandon(b);
			CHECK_OK(lsm_db_close(db, &st), &st);
			test_rmtree(root);
			return;
		}
		CHECK_OK(lsm_sst_builder_finish(b, NULL, &st), &st);
	}
	paths[0] = ext;
	rc = lsm_db_ingest(db, paths, 1, 0, &res, &st);
	/* its table could name no blob file: references of its own are refused */
	CHECK(rc == LSM_INVALID_ARGUMENT);
	if (rc == LSM_OK)
	{
		bool		leaked;

		rc = get_raw(db, NULL, "z-ingested", &v, &st);
		leaked = rc == LSM_OK && v.len == sizeof(secret) && memcmp(v.data, secret, v.len) == 0;
		lsm_buf_free(&v);
		if (leaked)
			fprintf(stderr, "  an ingested LSM_KIND_BLOB entry reads another key's value\n");
		(void) compact_all(db, &st);
		CHECK_OK(lsm_db_close(db, &st), &st);
		lsm_status_clear(&st);
		rc = lsm_db_open(&o, dir, &db, &st);
		if (rc != LSM_OK)
			fprintf(stderr, "  reopen after compacting it: %s\n", st.msg);
		CHECK(!leaked);
		CHECK_OK(rc, &st);
	}
	CHECK(get_is(db, NULL, "a-secret", secret, sizeof(secret)));
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_buf_free(&v);
	test_rmtree(root);
}

/*
 * Background threads
 */

/*
 * A value that says what it is: key, version and length in a 12-byte
 * header, then make_value's bytes, so a reader can check any version it
 * gets.
 */
static size_t
tagged_value(uint8_t *p, int k, int ver, size_t len)
{
	uint32_t	h[3] = {(uint32_t) k, (uint32_t) ver, (uint32_t) len};

	memcpy(p, h, 12);
	make_value(p + 12, len - 12, k, ver);
	return len;
}

static int
tagged_ok(const uint8_t *p, size_t len, int k)
{
	uint32_t	h[3];
	uint8_t    *want;
	int			ok;

	if (len < 12)
		return 0;
	memcpy(h, p, 12);
	if (h[0] != (uint32_t) k || h[2] != len)
		return 0;
	want = malloc(len);
	tagged_value(want, k, (int) h[1], len);
	ok = memcmp(want, p, len) == 0;
	free(want);
	return ok;
}

/* k of key_name(k); -1 when the key is not one */
static int
key_number(LsmSlice key)
{
	int			k = 0;
	size_t		i;

	if (key.len != 9 || memcmp(key.data, "key", 3) != 0)
		return -1;
	for (i = 3; i < 9; i++)
	{
		if (key.data[i] < '0' || key.data[i] > '9')
			return -1;
		k = k * 10 + (key.data[i] - '0');
	}
	return k;
}

#define BG_WRITERS 3
#define BG_KEYS 400				/* per writer */
#define BG_ROUNDS 10

typedef struct BgShared
{
	LsmDb	   *db;
	int			last_ver[BG_WRITERS * BG_KEYS];
	size_t		last_len[BG_WRITERS * BG_KEYS];
	int			stop;
	int			errors;
	uint64_t	reads;
	uint64_t	seed;
} BgShared;

typedef struct BgArg
{
	BgShared   *sh;
	int			id;
} BgArg;

static void *
bg_writer(void *p)
{
	BgArg	   *a = p;
	BgShared   *sh = a->sh;
	TestRng		rng = {sh->seed + (uint64_t) a->id * 7919};
	uint8_t    *buf = malloc(8192);
	int			r;
	int			j;

	for (r = 0; r < BG_ROUNDS && !__atomic_load_n(&sh->errors, __ATOMIC_RELAXED); r++)
		for (j = 0; j < BG_KEYS; j++)
		{
			int			k = a->id * BG_KEYS + j;
			size_t		len = 12 + (test_rng_below(&rng, 4) == 0 ? test_rng_below(&rng, 150) :
									test_rng_below(&rng, 6000));
			char		key[32];

			tagged_value(buf, k, r, len);
			key_name(key, sizeof(key), k);
			if (!put_bytes(sh->db, key, buf, len))
			{
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				break;
			}
			sh->last_ver[k] = r;
			sh->last_len[k] = len;
		}
	free(buf);
	return NULL;
}

static void *
bg_reader(void *p)
{
	BgArg	   *a = p;
	BgShared   *sh = a->sh;
	TestRng		rng = {sh->seed + 1000 + (uint64_t) a->id};
	LsmBuf		v = LSM_BUF_INIT;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE))
	{
		LsmStatus	st;
		LsmCode		rc;
		char		key[32];
		int			k = (int) test_rng_below(&rng, BG_WRITERS * BG_KEYS);

		if (test_rng_below(&rng, 50) == 0)
		{
			/* a short scan, both ways */
			LsmIter    *it;
			int			i;

			if (lsm_db_iter(sh->db, NULL, &it, &st) != LSM_OK)
			{
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				break;
			}
			key_name(key, sizeof(key), k);
			lsm_iter_seek(it, lsm_slice_str(key));
			for (i = 0; i < 40 && lsm_iter_valid(it); i++, lsm_iter_next(it))
			{
				LsmSlice	ik = lsm_iter_key(it);
				LsmSlice	iv = lsm_iter_value(it);
				int			kk = key_number(ik);

				if (!tagged_ok(iv.data, iv.len, kk))
				{
					fprintf(stderr, "  scan: bad value of %.*s\n", (int) ik.len,
							(const char *) ik.data);
					__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				}
			}
			for (i = 0; i < 40 && lsm_iter_valid(it); i++, lsm_iter_prev(it))
			{
				LsmSlice	ik = lsm_iter_key(it);
				LsmSlice	iv = lsm_iter_value(it);

				if (!tagged_ok(iv.data, iv.len, key_number(ik)))
					__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			}
			if (lsm_iter_status(it, &st) != LSM_OK)
			{
				fprintf(stderr, "  scan: %s\n", st.msg);
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			}
			lsm_iter_destroy(it);
			continue;
		}
		key_name(key, sizeof(key), k);
		lsm_buf_reset(&v);
		rc = lsm_db_get(sh->db, NULL, lsm_slice_str(key), &v, &st);
		if (rc == LSM_NOT_FOUND)
			continue;
		if (rc != LSM_OK || !tagged_ok(v.data, v.len, k))
		{
			fprintf(stderr, "  get %s: %s\n", key, rc != LSM_OK ? st.msg : "bad value");
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&sh->reads, 1, __ATOMIC_RELAXED);
	}
	lsm_buf_free(&v);
	return NULL;
}

static int
bg_final_ok(LsmDb *db, BgShared *sh)
{
	uint8_t    *buf = malloc(8192);
	int			k;
	int			ok = 1;

	for (k = 0; k < BG_WRITERS * BG_KEYS && ok; k++)
	{
		char		key[32];

		key_name(key, sizeof(key), k);
		tagged_value(buf, k, sh->last_ver[k], sh->last_len[k]);
		ok = get_is(db, NULL, key, buf, sh->last_len[k]);
	}
	free(buf);
	return ok;
}

/* Wait until the background threads have nothing due or running. */
static int
wait_background_idle(LsmDb *db)
{
	int			ms;

	for (ms = 0; ms < 60000; ms += 10)
	{
		LsmDbStats	s;

		lsm_db_stats(db, &s);
		if (!lsm_db_flush_needed(db) && !lsm_db_compaction_needed(db) &&
			s.running_compactions == 0)
			return 1;
		usleep(10000);
	}
	fprintf(stderr, "  background work still due after a minute\n");
	return 0;
}

static void
test_background(void)
{
	char		dir[256];
	LsmOptions	o = blob_opts(200);
	BgShared   *sh = calloc(1, sizeof(BgShared));
	BgArg		wa[BG_WRITERS];
	BgArg		ra[2];
	pthread_t	w[BG_WRITERS];
	pthread_t	r[2];
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			i;

	o.auto_compact = true;
	o.background_threads = 2;
	o.write_buffer_size = 256 * 1024;
	o.l0_compaction_trigger = 2;
	o.l0_slowdown_writes_trigger = 8;
	o.l0_stop_writes_trigger = 12;
	o.target_file_size = 32 * 1024;
	o.max_bytes_for_level_base = 64 * 1024;
	o.level_size_multiplier = 4;
	o.blob_gc_percent = 30;
	sh->seed = test_seed("blob background");
	test_tmpdir(dir, sizeof(dir), "blob_bg");
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	sh->db = db;
	for (i = 0; i < 2; i++)
	{
		ra[i].sh = sh;
		ra[i].id = i;
		pthread_create(&r[i], NULL, bg_reader, &ra[i]);
	}
	for (i = 0; i < BG_WRITERS; i++)
	{
		wa[i].sh = sh;
		wa[i].id = i;
		pthread_create(&w[i], NULL, bg_writer, &wa[i]);
	}
	for (i = 0; i < BG_WRITERS; i++)
		pthread_join(w[i], NULL);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(compact_all(db, &st), &st);
	/* garbage the full compaction made countable is collected next */
	CHECK(wait_background_idle(db));
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	CHECK(sh->errors == 0);
	CHECK(sh->reads > 0);
	CHECK(bg_final_ok(db, sh));
	lsm_db_stats(db, &s);
	CHECK(s.blob_files > 0 && s.blob_files_written > s.blob_files);
	CHECK(s.bytes_blob_relocated > 0);
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(bg_final_ok(db, sh));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK(verify_clean(db));
	CHECK_OK(lsm_db_close(db, &st), &st);
	free(sh);
	test_rmtree(dir);
}

/*
 * Options
 */

/*
 * blob_gc_percent outside 1..99 is refused; a database written with blobs
 * reopened with blob_min_size 0 reads them, writes no new blob file, and
 * its compactions still collect garbage.
 */
static void
test_options(void)
{
	enum
	{
		N = 20
	};
	char		dir[256];
	LsmOptions	o = blob_opts(100);
	LsmDb	   *db;
	LsmStatus	st;
	LsmDbStats	s;
	int			ver[N];
	size_t		len[N];
	uint64_t	a[4];
	Model		m;
	int			k;

	test_tmpdir(dir, sizeof(dir), "blob_opts");
	o.blob_gc_percent = 0;
	db = (LsmDb *) 1;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	CHECK(db == NULL);
	o.blob_gc_percent = 100;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	o.blob_gc_percent = 50;
	o.blob_min_size = (size_t) 1 << 40;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	{
		LsmOptions	d;

		lsm_options_init(&d);
		CHECK(d.blob_min_size == 0 && d.blob_gc_percent == 50);
	}

	o.blob_min_size = 100;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (k = 0; k < N; k++)
	{
		ver[k] = 1;
		len[k] = 1000;
		CHECK(put_kv(db, k, 1, 1000));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(blob_numbers(dir, a, 4) == 1);
	CHECK_OK(lsm_db_close(db, &st), &st);

	o.blob_min_size = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	m = model_build(N, ver, len);
	CHECK(model_matches(db, NULL, &m, 70));
	for (k = 0; k < N / 2; k++)
	{
		ver[k] = 2;
		len[k] = 1500;
		CHECK(put_kv(db, k, 2, 1500));
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(count_blobs(dir) == 1);
	lsm_db_stats(db, &s);
	CHECK(s.blob_files_written == 0);
	CHECK_OK(compact_all(db, &st), &st);
	CHECK(touch(db));
	CHECK_OK(compact_all(db, &st), &st);
	/* 50% garbage: the live half moved (to a blob file: that is where it was) */
	lsm_db_stats(db, &s);
	CHECK(s.bytes_blob_relocated == (uint64_t) (N / 2) * 1000);
	CHECK(!blob_exists(dir, a[0]));
	model_free(&m);
	m = model_build(N, ver, len);
	CHECK(model_matches(db, NULL, &m, 71));
	CHECK(blobs_on_disk_match(db, dir));
	CHECK_OK(lsm_db_close(db, &st), &st);
	model_free(&m);
	test_rmtree(dir);
}

int
main(void)
{
	int			rc;

	fast_env = fault_env_new();
	fault_env_set_real_sync(fast_env, false);
	RUN(test_options);
	RUN(test_round_trip);
	RUN(test_wal_replay);
	RUN(test_gc_unreferenced);
	RUN(test_gc_relocate);
	RUN(test_gc_auto);
	RUN(test_gc_stale);
	RUN(test_snapshot);
	RUN(test_iterator_pins);
	RUN(test_file_horizon);
	__atomic_store_n(&host_file_horizon, UINT64_MAX, __ATOMIC_RELEASE);
	RUN(test_merge_over_blob);
	RUN(test_filter_sees_value);
	RUN(test_orphan_and_missing);
	RUN(test_corruption);
	RUN(test_format);
	RUN(test_dictionary);
	RUN(test_inline_values_to_blobs);
	RUN(test_dictionary_retrain);
	RUN(test_read_version1);
	RUN(test_checkpoint);
	RUN(test_crash);
	RUN(test_write_failures);
	RUN(test_ingest_blob_kind);
	RUN(test_background);
	rc = test_finish();
	fault_env_free(fast_env);
	return rc;
}
