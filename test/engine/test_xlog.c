/*
 * test_xlog.c
 *		The server-wide log: record format, LSNs across segments, oversize
 *		records, recovery from a log cut or damaged anywhere (exactly a
 *		prefix replays, and appends go on after it), damage told from an
 *		unsynced tail written out of order by the records' durable_lsn, v1
 *		records, stale bytes that must never be replayed, segment removal,
 *		group commit under threads, sticky fsync failure, a full disk and
 *		spare segments.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault_env.h"
#include "lsm_coding.h"
#include "lsm_crc32c.h"
#include "testutil.h"
#include "xlog.h"

/* A record as appended, to compare replay against. */
typedef struct Rec
{
	uint8_t    *data;
	size_t		len;
	uint64_t	start;			/* its LSN */
	uint64_t	end;			/* LSN after it */
	uint64_t	durable;		/* the flushed LSN when it was appended */
} Rec;

typedef struct RecList
{
	Rec		   *recs;
	size_t		n;
	size_t		cap;
} RecList;

static void
reclist_free(RecList *l)
{
	size_t		i;

	for (i = 0; i < l->n; i++)
		free(l->recs[i].data);
	free(l->recs);
	memset(l, 0, sizeof(*l));
}

/* Drop the records from index n on. */
static void
reclist_truncate(RecList *l, size_t n)
{
	while (l->n > n)
		free(l->recs[--l->n].data);
}

static Rec *
reclist_add(RecList *l)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 64;
		l->recs = realloc(l->recs, l->cap * sizeof(Rec));
		if (l->recs == NULL)
		{
			perror("realloc");
			exit(2);
		}
	}
	memset(&l->recs[l->n], 0, sizeof(Rec));
	return &l->recs[l->n++];
}

/*
 * Append a record of len random bytes and remember it; 1 on success.  The
 * log must be used by this thread only, so the LSNs are predictable.
 */
static int
append_rec(LsmXlog *x, RecList *l, size_t len, TestRng *rng)
{
	LsmStatus	st;
	Rec		   *r;
	uint64_t	before = lsm_xlog_insert_lsn(x);
	uint64_t	start = 0;
	uint64_t	end = 0;
	uint8_t    *data = malloc(len ? len : 1);
	LsmCode		rc;

	CHECK_RET(data != NULL, 0);
	fill_random(rng, data, len);
	rc = lsm_xlog_append(x, data, len, NULL, NULL, &start, &end, &st);
	if (rc != LSM_OK)
	{
		fprintf(stderr, "  append: %s\n", st.msg);
		free(data);
		CHECK_RET(rc == LSM_OK, 0);
	}
	CHECK_RET(start == before, 0);
	CHECK_RET(end == start + LSM_XLOG_HEADER + len, 0);
	CHECK_RET(lsm_xlog_insert_lsn(x) == end, 0);
	if (l->n > 0)
		CHECK_RET(start == l->recs[l->n - 1].end, 0);
	r = reclist_add(l);
	r->data = data;
	r->len = len;
	r->start = start;
	r->end = end;
	/* as stamped: an append may flush first (too many unsynced segments) */
	r->durable = lsm_xlog_flushed_lsn(x);
	return 1;
}

/*
 * Whether a record of l from index from on, appended once the log was
 * synced past LSN lsn, proves damage at lsn (recovery's rule).
 */
static bool
later_proves(const RecList *l, size_t from, uint64_t lsn)
{
	size_t		i;

	for (i = from; i < l->n; i++)
		if (l->recs[i].durable > lsn)
			return true;
	return false;
}

/* A record size: mostly small, sometimes around or above the segment size. */
static size_t
random_size(TestRng *rng, uint64_t segment_size)
{
	switch (test_rng_below(rng, 10))
	{
		case 0:
			return (size_t) test_rng_below(rng, 2 * segment_size);
		case 1:
			return 0;
		default:
			return (size_t) test_rng_below(rng, 200);
	}
}

/* Replay callback state: compares each record with the expected list. */
typedef struct Expect
{
	const RecList *l;
	size_t		next;			/* index of the record expected next */
	size_t		limit;			/* records expected: indexes below this */
	bool		mismatch;
	size_t		fail_at;		/* refuse the n-th record seen; 0 = never */
	size_t		seen;
} Expect;

static LsmCode
expect_fn(void *arg, uint64_t lsn, LsmSlice payload, LsmStatus *st)
{
	Expect	   *e = arg;
	const Rec  *r;

	e->seen++;
	if (e->fail_at != 0 && e->seen == e->fail_at)
		return lsm_status_set(st, LSM_BUSY, 0, "callback refused record at LSN %llu",
							  (unsigned long long) lsn);
	if (e->next >= e->limit)
	{
		fprintf(stderr, "  unexpected record at LSN %llu (expected %zu records)\n",
				(unsigned long long) lsn, e->limit);
		e->mismatch = true;
		return LSM_OK;
	}
	r = &e->l->recs[e->next];
	if (lsn != r->start || !lsm_slice_eq(payload, lsm_slice(r->data, r->len)))
	{
		fprintf(stderr, "  record %zu: LSN %llu (expected %llu), %zu bytes (expected %zu)\n",
				e->next, (unsigned long long) lsn, (unsigned long long) r->start,
				payload.len, r->len);
		e->mismatch = true;
	}
	e->next++;
	return LSM_OK;
}

/*
 * Open the log in dir and check that replay yields exactly records
 * [first, limit) of l; the open log goes to *out (closed when out is
 * NULL).  1 on success.
 */
static int
open_expect_flags(LsmEnv *env, const char *dir, uint64_t segment_size,
				  unsigned flags, const RecList *l, size_t first, size_t limit,
				  LsmXlog **out, LsmXlogReplayReport *rep)
{
	Expect		e = {l, first, limit, false, 0, 0};
	LsmXlog    *x;
	LsmStatus	st;
	LsmCode		rc;
	uint64_t	want_end;

	rc = lsm_xlog_open_flags(env, dir, segment_size, flags, expect_fn, &e, &x,
							 rep, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  open: %s\n", st.msg);
	CHECK_RET(rc == LSM_OK, 0);
	if (e.next != limit || e.mismatch || rep->records != limit - first)
		fprintf(stderr, "  replay of %s: up to record %zu (report %llu), expected [%zu, %zu), mismatch %d, reason \"%s\"\n",
				dir, e.next, (unsigned long long) rep->records, first, limit,
				(int) e.mismatch, rep->reason);
	want_end = limit > first ? l->recs[limit - 1].end : rep->start_lsn;
	if (rep->end_lsn != want_end)
		fprintf(stderr, "  end LSN %llu, expected %llu\n",
				(unsigned long long) rep->end_lsn, (unsigned long long) want_end);
	if (e.next != limit || e.mismatch || rep->records != limit - first ||
		rep->end_lsn != want_end)
	{
		lsm_xlog_close(x);
		CHECK_RET(false, 0);
	}
	CHECK_RET(lsm_xlog_insert_lsn(x) == want_end, 0);
	CHECK_RET(lsm_xlog_flushed_lsn(x) == want_end, 0);
	CHECK_RET(rep->torn == (rep->dropped_bytes > 0), 0);
	if (out != NULL)
		*out = x;
	else
		lsm_xlog_close(x);
	return 1;
}

static int
open_expect(LsmEnv *env, const char *dir, uint64_t segment_size,
			const RecList *l, size_t first, size_t limit, LsmXlog **out,
			LsmXlogReplayReport *rep)
{
	return open_expect_flags(env, dir, segment_size, 0, l, first, limit, out,
							 rep);
}

/* Segment starts of dir, ascending, into starts (at most max); the count. */
static size_t
list_starts(const char *dir, uint64_t *starts, size_t max)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	size_t		n = 0;
	size_t		i;
	size_t		j;

	if (d == NULL)
	{
		perror(dir);
		exit(2);
	}
	while ((de = readdir(d)) != NULL)
	{
		unsigned long long v;
		char		tail[16];

		if (strlen(de->d_name) == 21 &&
			sscanf(de->d_name, "%16llX%15s", &v, tail) == 2 &&
			strcmp(tail, ".xlog") == 0 && n < max)
			starts[n++] = v;
	}
	closedir(d);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && starts[j - 1] > starts[j]; j--)
		{
			uint64_t	t = starts[j];

			starts[j] = starts[j - 1];
			starts[j - 1] = t;
		}
	return n;
}

static void
seg_path(const char *dir, uint64_t start, char *out, size_t len)
{
	snprintf(out, len, "%s/%016llX.xlog", dir, (unsigned long long) start);
}

static bool
path_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static uint64_t
path_size(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
	{
		perror(path);
		exit(2);
	}
	return (uint64_t) sb.st_size;
}

/* Overwrite len bytes at off of an existing file. */
static void
patch_image(const char *path, uint64_t off, const void *data, size_t len)
{
	FILE	   *f = fopen(path, "r+b");

	if (f == NULL || fseek(f, (long) off, SEEK_SET) != 0 ||
		fwrite(data, 1, len, f) != len || fclose(f) != 0)
	{
		perror(path);
		exit(2);
	}
}

static void
truncate_file(const char *path, uint64_t size)
{
	if (truncate(path, (off_t) size) != 0)
	{
		perror(path);
		exit(2);
	}
}

/* A digest of every segment file of dir (names, sizes, bytes). */
static uint64_t
dir_digest(const char *dir)
{
	uint64_t	starts[1024];
	size_t		n = list_starts(dir, starts, 1024);
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
	{
		char		path[300];
		size_t		len;
		uint8_t    *img;

		seg_path(dir, starts[i], path, sizeof(path));
		img = read_image(path, &len);
		h = (h ^ starts[i]) * 1099511628211ULL;
		h = (h ^ len) * 1099511628211ULL;
		for (size_t j = 0; j < len; j++)
			h = (h ^ img[j]) * 1099511628211ULL;
		free(img);
	}
	return h;
}

/*
 * The log in dir is damaged in the middle, at LSN bad (any when
 * UINT64_MAX): a plain open refuses it with LSM_CORRUPTION, reports where,
 * and leaves every file as it was.  1 when so.
 */
static int
open_refused(LsmEnv *env, const char *dir, uint64_t segment_size, uint64_t bad)
{
	uint64_t	before = dir_digest(dir);
	LsmXlog    *x = NULL;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	LsmCode		rc;

	rc = lsm_xlog_open(env, dir, segment_size, NULL, NULL, &x, &rep, &st);
	if (rc != LSM_CORRUPTION)
		fprintf(stderr, "  open of damaged %s: code %d, corrupt %d: %s\n", dir,
				(int) rc, (int) rep.corrupt, rc == LSM_OK ? rep.reason : st.msg);
	CHECK_RET(rc == LSM_CORRUPTION && x == NULL, 0);
	CHECK_RET(rep.corrupt && rep.next_valid_lsn > rep.corrupt_lsn, 0);
	CHECK_RET(bad == UINT64_MAX || rep.corrupt_lsn == bad, 0);
	CHECK_RET(rep.corrupt_segment <= rep.corrupt_lsn, 0);
	CHECK_RET(strstr(st.msg, "damaged") != NULL, 0);
	CHECK_RET(dir_digest(dir) == before, 0);
	return 1;
}

/* The segment of starts[0..n) holding LSN lsn (the last starting at or below). */
static size_t
segment_of(const uint64_t *starts, size_t n, uint64_t lsn)
{
	size_t		i = 0;

	while (i + 1 < n && starts[i + 1] <= lsn)
		i++;
	return i;
}

/*
 * The bytes of a record are what docs/format.md says, with the CRC
 * computed independently here; segments are preallocated and named by
 * their first LSN; durable_lsn is the flushed LSN at the append.
 */
static void
test_xlog_format_bytes(void)
{
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	uint8_t		abc[3] = {'a', 'b', 'c'};
	uint8_t		expect[27];
	uint8_t    *img;
	size_t		len;
	uint64_t	start;
	uint64_t	end;
	static const uint8_t pinned[27] = {
		0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x80,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'a', 'b', 'c'
	};

	test_tmpdir(dir, sizeof(dir), "xlogfmt");
	CHECK_OK(lsm_xlog_open(env, dir, 4096, NULL, NULL, &x, &rep, &st), &st);
	CHECK(rep.records == 0 && rep.segments == 1 && rep.end_lsn == 0 && !rep.torn);
	seg_path(dir, 0, path, sizeof(path));
	CHECK(strstr(path, "/0000000000000000.xlog") != NULL);
	CHECK(path_exists(path) && path_size(path) == 4096);

	CHECK_OK(lsm_xlog_append(x, abc, 3, NULL, NULL, &start, &end, &st), &st);
	CHECK(start == 0 && end == 27);
	CHECK_OK(lsm_xlog_append(x, NULL, 0, NULL, NULL, &start, &end, &st), &st);
	CHECK(start == 27 && end == 51);
	CHECK_OK(lsm_xlog_flush(x, end, &st), &st);
	/* appended after the flush: durable_lsn 51 */
	CHECK_OK(lsm_xlog_append(x, abc, 1, NULL, NULL, &start, &end, &st), &st);
	CHECK(start == 51 && end == 76);
	CHECK_OK(lsm_xlog_flush(x, end, &st), &st);
	lsm_xlog_close(x);

	img = read_image(path, &len);
	CHECK(len == 4096);
	memcpy(expect, pinned, sizeof(expect));
	lsm_put_fixed32(expect, lsm_crc32c_mask(lsm_crc32c(expect + 4, 23)));
	CHECK(memcmp(img, expect, 27) == 0);
	/* pinned: the example of docs/format.md */
	CHECK(lsm_get_fixed32(img) == 0xf3598d3fu);
	/* the empty record at LSN 27 */
	CHECK(lsm_get_fixed32(img + 27 + 4) == LSM_XLOG_V2 &&
		  lsm_get_fixed64(img + 27 + 8) == 27 &&
		  lsm_get_fixed64(img + 27 + 16) == 0);
	CHECK(lsm_get_fixed32(img + 27) ==
		  lsm_crc32c_mask(lsm_crc32c(img + 27 + 4, 20)));
	/* the record after the flush carries it */
	CHECK(lsm_get_fixed32(img + 51 + 4) == (1 | LSM_XLOG_V2) &&
		  lsm_get_fixed64(img + 51 + 8) == 51 &&
		  lsm_get_fixed64(img + 51 + 16) == 51 && img[51 + 24] == 'a');
	CHECK(lsm_get_fixed32(img + 51) ==
		  lsm_crc32c_mask(lsm_crc32c(img + 51 + 4, 21)));
	CHECK(lsm_get_fixed32(img + 76) == 0 && lsm_get_fixed64(img + 84) == 0);
	free(img);
	/* a zero header never validates, not even at LSN 0 */
	memset(expect, 0, sizeof(expect));
	CHECK(lsm_crc32c_mask(lsm_crc32c(expect + 4, 12)) != 0);
	test_rmtree(dir);
}

/*
 * Records of random sizes over many small segments, with flushes now and
 * then, replay exactly, over several open/close cycles.
 */
static void
test_xlog_round_trip(void)
{
	TestRng		rng = {test_seed("xlog round trip")};
	char		dir[256];
	LsmEnv	   *env = lsm_env_posix();
	uint64_t	segment_size = 256 + test_rng_below(&rng, 1800);
	RecList		l = {0};
	int			life;

	test_tmpdir(dir, sizeof(dir), "xlogrt");
	for (life = 0; life < 4; life++)
	{
		LsmXlog    *x;
		LsmXlogReplayReport rep;
		LsmXlogStats stats;
		LsmStatus	st;
		uint64_t	starts[4096];
		int			n = 50 + (int) test_rng_below(&rng, 150);
		int			i;

		CHECK(open_expect(env, dir, segment_size, &l, 0, l.n, &x, &rep));
		CHECK(!rep.torn && rep.dropped_bytes == 0 && rep.dropped_segments == 0);
		CHECK(rep.start_lsn == 0);
		for (i = 0; i < n; i++)
		{
			CHECK(append_rec(x, &l, random_size(&rng, segment_size), &rng));
			if (test_rng_below(&rng, 7) == 0)
			{
				size_t		j = test_rng_below(&rng, l.n);

				CHECK_OK(lsm_xlog_flush(x, l.recs[j].end, &st), &st);
				CHECK(lsm_xlog_flushed_lsn(x) >= l.recs[j].end);
			}
		}
		lsm_xlog_stats(x, &stats);
		CHECK(stats.insert_lsn == l.recs[l.n - 1].end);
		CHECK(stats.appends == (uint64_t) n);
		CHECK(stats.segments == list_starts(dir, starts, 4096));
		CHECK(stats.segment_start == starts[stats.segments - 1]);
		if (life % 2 == 0)
			CHECK_OK(lsm_xlog_flush(x, stats.insert_lsn, &st), &st);
		lsm_xlog_close(x);
	}
	{
		uint64_t	starts[4096];
		size_t		n = list_starts(dir, starts, 4096);
		size_t		i;

		printf("  %zu records over %zu segments of %llu bytes\n", l.n, n,
			   (unsigned long long) segment_size);
		CHECK(n > 3);
		/* every segment starts at a record, and no record spans two */
		for (i = 0; i < l.n; i++)
		{
			size_t		s = segment_of(starts, n, l.recs[i].start);

			CHECK(s + 1 == n || l.recs[i].end <= starts[s + 1]);
		}
	}
	CHECK(open_expect(env, dir, segment_size, &l, 0, l.n, NULL, &(LsmXlogReplayReport) {0}));
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * A record bigger than a segment gets a segment of its own, sized to fit:
 * the current one when it is still empty, else a new one.
 */
static void
test_xlog_oversize(void)
{
	TestRng		rng = {test_seed("xlog oversize")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	starts[16];
	static const uint8_t dummy[1];

	test_tmpdir(dir, sizeof(dir), "xlogbig");
	CHECK_OK(lsm_xlog_open(env, dir, 1024, NULL, NULL, &x, &rep, &st), &st);
	CHECK(append_rec(x, &l, 5000, &rng));	/* grows the empty segment 0 */
	CHECK(append_rec(x, &l, 10, &rng)); /* segment 0 is full: new one */
	CHECK(append_rec(x, &l, 3000, &rng));	/* new segment of 3024 */
	CHECK(append_rec(x, &l, 2000, &rng));	/* that one is full: 2024 */
	CHECK(append_rec(x, &l, 1, &rng));
	CHECK(append_rec(x, &l, 20000, &rng));	/* above the stack copy size */
	CHECK(list_starts(dir, starts, 16) == 6);
	CHECK(starts[0] == 0 && starts[1] == 5024 && starts[2] == 5058 &&
		  starts[3] == 8082 && starts[4] == 10106 && starts[5] == 10131);
	seg_path(dir, 0, path, sizeof(path));
	CHECK(path_size(path) == 5024);
	seg_path(dir, 5024, path, sizeof(path));
	CHECK(path_size(path) == 1024);
	seg_path(dir, 5058, path, sizeof(path));
	CHECK(path_size(path) == 3024);
	seg_path(dir, 8082, path, sizeof(path));
	CHECK(path_size(path) == 2024);
	seg_path(dir, 10106, path, sizeof(path));
	CHECK(path_size(path) == 1024);
	seg_path(dir, 10131, path, sizeof(path));
	CHECK(path_size(path) == 20024);

	/* too big is refused before anything happens */
	CHECK(lsm_xlog_append(x, (uint8_t *) dummy, (size_t) LSM_XLOG_MAX_RECORD + 1,
						  NULL, NULL, NULL, NULL, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_xlog_insert_lsn(x) == l.recs[l.n - 1].end);
	lsm_xlog_close(x);

	CHECK(open_expect(env, dir, 1024, &l, 0, l.n, &x, &rep));
	CHECK(!rep.torn && rep.segments == 6);
	/* the last segment is full (oversize), so the next record starts one */
	CHECK(append_rec(x, &l, 5, &rng));
	CHECK(list_starts(dir, starts, 16) == 7 && starts[6] == 30155);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 1024, &l, 0, l.n, NULL, &rep));
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Build a log of random records in a fresh dir, flushed now and then (so
 * that some records prove the ones before a flush durable, and some do
 * not), and at the end; closed.  The segment size goes to *segment_size.
 * 1 on success.
 */
static int
build_log(const char *dir, TestRng *rng, RecList *l, uint64_t *segment_size,
		  int min_records)
{
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	int			n = min_records + (int) test_rng_below(rng, 60);
	int			i;
	LsmCode		rc;

	*segment_size = 200 + test_rng_below(rng, 1000);
	rc = lsm_xlog_open(env, dir, *segment_size, NULL, NULL, &x, &rep, &st);
	CHECK_RET(rc == LSM_OK, 0);
	for (i = 0; i < n; i++)
	{
		CHECK_RET(append_rec(x, l, random_size(rng, *segment_size), rng), 0);
		if (test_rng_below(rng, 4) == 0)
			CHECK_RET(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st) == LSM_OK, 0);
	}
	rc = lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st);
	CHECK_RET(rc == LSM_OK, 0);
	lsm_xlog_close(x);
	return 1;
}

/* Whether any of image[from, to) is non-zero. */
static bool
any_nonzero(const uint8_t *p, size_t from, size_t to)
{
	size_t		i;

	for (i = from; i < to; i++)
		if (p[i] != 0)
			return true;
	return false;
}

/*
 * A crash may leave the log cut anywhere: in the middle of a segment
 * (file truncated, or its tail zero as preallocated), with or without the
 * later segments.  Replay yields exactly the records before the cut, the
 * log continues right after them, and what is appended then replays too.
 */
static void
test_xlog_cut_anywhere(void)
{
	TestRng		rng = {test_seed("xlog cut")};
	int			round;

	for (round = 0; round < 60; round++)
	{
		char		dir[256];
		char		path[300];
		LsmEnv	   *env = lsm_env_posix();
		RecList		l = {0};
		uint64_t	segment_size;
		uint64_t	starts[1024];
		size_t		nseg;
		size_t		k;
		uint64_t	used;
		uint64_t	cut;
		uint64_t	lsn;
		bool		keep_later = test_rng_below(&rng, 2) == 0;
		bool		zero_fill = test_rng_below(&rng, 2) == 0;
		size_t		nexp;
		size_t		later;
		bool		torn;
		bool		corrupt;
		uint8_t    *img;
		size_t		len;
		LsmXlog    *x;
		LsmXlogReplayReport rep;
		size_t		i;

		test_tmpdir(dir, sizeof(dir), "xlogcut");
		CHECK(build_log(dir, &rng, &l, &segment_size, 1));
		nseg = list_starts(dir, starts, 1024);
		k = test_rng_below(&rng, nseg);
		used = (k + 1 < nseg ? starts[k + 1] : l.recs[l.n - 1].end) - starts[k];
		cut = test_rng_below(&rng, used + 1);
		seg_path(dir, starts[k], path, sizeof(path));
		img = read_image(path, &len);
		/* zeroing bytes that are zero already damages nothing */
		if (zero_fill)
			while (cut < used && img[cut] == 0)
				cut++;
		lsn = starts[k] + cut;

		/* what must survive */
		nexp = 0;
		while (nexp < l.n && l.recs[nexp].end <= lsn)
			nexp++;
		if (keep_later && cut == used)
			nexp = l.n;			/* nothing was damaged after all */
		torn = (nexp < l.n && any_nonzero(img, (size_t) (l.recs[nexp].start - starts[k]),
										  (size_t) cut)) ||
			(keep_later && k + 1 < nseg && cut != used);

		/* the damage */
		if (zero_fill)
		{
			memset(img + cut, 0, len - cut);
			write_image(path, img, len);
		}
		else
			truncate_file(path, cut);
		free(img);
		if (!keep_later)
		{
			for (i = k + 1; i < nseg; i++)
			{
				seg_path(dir, starts[i], path, sizeof(path));
				CHECK(unlink(path) == 0);
			}
		}

		/*
		 * Later segments kept behind a cut hold records after damage:
		 * refused when one of them was appended once the cut record was
		 * synced (then accepted as a loss), else an unsynced tail that
		 * reached disk out of order, dropped.
		 */
		later = 0;
		if (keep_later && k + 1 < nseg && cut != used)
			while (later < l.n && l.recs[l.n - later - 1].start >= starts[k + 1])
				later++;
		corrupt = later > 0 && later_proves(&l, l.n - later, l.recs[nexp].start);
		if (corrupt)
			CHECK(open_refused(env, dir, segment_size, l.recs[nexp].start));
		CHECK(open_expect_flags(env, dir, segment_size,
								corrupt ? LSM_XLOG_ACCEPT_CORRUPTION : 0,
								&l, 0, nexp, &x, &rep));
		CHECK(rep.corrupt == corrupt);
		CHECK(rep.later_records == later);
		CHECK(later == 0 || rep.next_valid_lsn == l.recs[l.n - later].start);
		if (rep.torn != torn)
			fprintf(stderr, "  round %d: torn %d, expected %d (segment %zu of %zu, cut %llu of %llu, keep %d): %s\n",
					round, (int) rep.torn, (int) torn, k, nseg,
					(unsigned long long) cut, (unsigned long long) used,
					(int) keep_later, rep.reason);
		CHECK(rep.torn == torn);
		if (keep_later && cut != used && k + 1 < nseg)
			CHECK(rep.dropped_segments == nseg - k - 1);
		/* no segment beyond the end point is left */
		{
			uint64_t	now[1024];
			size_t		m = list_starts(dir, now, 1024);

			CHECK(now[m - 1] <= rep.end_lsn);
		}

		/* appends continue right after the surviving prefix */
		reclist_truncate(&l, nexp);
		for (i = 0; i < 20; i++)
			CHECK(append_rec(x, &l, random_size(&rng, segment_size), &rng));
		lsm_xlog_close(x);
		CHECK(open_expect(env, dir, segment_size, &l, 0, l.n, NULL, &rep));
		CHECK(!rep.torn && rep.dropped_segments == 0);
		reclist_free(&l);
		test_rmtree(dir);
	}
}

/*
 * A damaged byte anywhere in a record stops replay right before that
 * record; the records after it (in its segment and later ones) are gone
 * for good, also after more appends reuse the space.
 */
static void
test_xlog_damage_anywhere(void)
{
	TestRng		rng = {test_seed("xlog damage")};
	int			round;

	for (round = 0; round < 60; round++)
	{
		char		dir[256];
		char		path[300];
		LsmEnv	   *env = lsm_env_posix();
		RecList		l = {0};
		uint64_t	segment_size;
		uint64_t	starts[1024];
		size_t		nseg;
		size_t		r;
		size_t		k;
		uint64_t	at;
		uint8_t		b;
		bool		corrupt;
		LsmXlog    *x;
		LsmXlogReplayReport rep;
		size_t		i;

		test_tmpdir(dir, sizeof(dir), "xlogdmg");
		CHECK(build_log(dir, &rng, &l, &segment_size, 1));
		nseg = list_starts(dir, starts, 1024);
		r = test_rng_below(&rng, l.n);
		at = l.recs[r].start + test_rng_below(&rng, l.recs[r].end - l.recs[r].start);
		k = segment_of(starts, nseg, l.recs[r].start);
		seg_path(dir, starts[k], path, sizeof(path));
		{
			size_t		len;
			uint8_t    *img = read_image(path, &len);

			b = img[at - starts[k]] ^ (uint8_t) (1 + test_rng_below(&rng, 255));
			free(img);
		}
		patch_image(path, at - starts[k], &b, 1);

		/*
		 * A valid record after the damaged one appended once the log was
		 * synced past it: refused, then accepted.  Without one, the
		 * records after it are dropped as an unsynced tail.
		 */
		corrupt = later_proves(&l, r + 1, l.recs[r].start);
		if (corrupt)
			CHECK(open_refused(env, dir, segment_size, l.recs[r].start));
		CHECK(open_expect_flags(env, dir, segment_size,
								corrupt ? LSM_XLOG_ACCEPT_CORRUPTION : 0,
								&l, 0, r, &x, &rep));
		CHECK(rep.torn && rep.reason[0] != '\0');
		CHECK(rep.corrupt == corrupt);
		CHECK(rep.later_records == l.n - r - 1);
		lsm_xlog_close(x);
		/* the damage is gone: a second open finds a clean end */
		CHECK(open_expect(env, dir, segment_size, &l, 0, r, &x, &rep));
		CHECK(!rep.torn && rep.dropped_segments == 0);
		reclist_truncate(&l, r);
		for (i = 0; i < 10; i++)
			CHECK(append_rec(x, &l, random_size(&rng, segment_size), &rng));
		lsm_xlog_close(x);
		CHECK(open_expect(env, dir, segment_size, &l, 0, l.n, NULL, &rep));
		CHECK(!rep.torn);
		reclist_free(&l);
		test_rmtree(dir);
	}
}

/*
 * Bytes that were valid records elsewhere never replay: an old segment's
 * file recycled under the next segment's name, old records copied behind
 * the end, and (the hard case) records of a discarded tail sitting at
 * their own, correct LSNs when new records reach them.
 */
static void
test_xlog_stale_data(void)
{
	TestRng		rng = {test_seed("xlog stale")};
	char		dir[256];
	char		path[300];
	char		path2[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	starts[64];
	uint64_t	end;
	uint8_t    *img;
	size_t		len;
	size_t		nseg;
	int			i;

	/* (a) an old segment file renamed to where the log continues */
	test_tmpdir(dir, sizeof(dir), "xlogstale");
	CHECK(open_expect(env, dir, 512, &l, 0, 0, &x, &rep));
	for (i = 0; i < 30; i++)
		CHECK(append_rec(x, &l, 50 + test_rng_below(&rng, 50), &rng));
	lsm_xlog_close(x);
	nseg = list_starts(dir, starts, 64);
	CHECK(nseg >= 3);
	end = l.recs[l.n - 1].end;
	/* the current segment ends exactly at end: make it full */
	seg_path(dir, starts[nseg - 1], path, sizeof(path));
	truncate_file(path, end - starts[nseg - 1]);
	seg_path(dir, starts[0], path, sizeof(path));
	seg_path(dir, end, path2, sizeof(path2));
	img = read_image(path, &len);
	write_image(path2, img, len);
	free(img);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, &x, &rep));
	/* old contents where the next record would go: no torn tail */
	CHECK(!rep.torn && rep.dropped_bytes == 0);
	CHECK(rep.segments == nseg + 1 && rep.dropped_segments == 0);
	/* the recycled file is now the (empty) current segment */
	CHECK(path_exists(path2));
	for (i = 0; i < 5; i++)
		CHECK(append_rec(x, &l, 30, &rng));
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, NULL, &rep));
	CHECK(!rep.torn);

	/* (b) an old segment's records copied right behind the end */
	nseg = list_starts(dir, starts, 64);
	end = l.recs[l.n - 1].end;
	seg_path(dir, starts[0], path, sizeof(path));
	img = read_image(path, &len);
	seg_path(dir, starts[nseg - 1], path2, sizeof(path2));
	CHECK(path_size(path2) >= end - starts[nseg - 1] + 100);
	patch_image(path2, end - starts[nseg - 1], img, 100);
	free(img);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, NULL, &rep));
	CHECK(rep.torn && rep.dropped_bytes > 0);
	reclist_free(&l);
	test_rmtree(dir);

	/*
	 * (c) R0..R5 in one segment, each synced (so R3 proves R2 durable); R2
	 * is damaged, so R3..R5 are cut off.  A new record of R2's size then
	 * ends exactly where R3 starts, and R3 (still a valid record for LSN
	 * R3.start, if its bytes were left) must not come back.
	 */
	test_tmpdir(dir, sizeof(dir), "xlogstale2");
	CHECK(open_expect(env, dir, 4096, &l, 0, 0, &x, &rep));
	for (i = 0; i < 6; i++)
	{
		CHECK(append_rec(x, &l, 100, &rng));
		CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	}
	lsm_xlog_close(x);
	seg_path(dir, 0, path, sizeof(path));
	{
		uint8_t		b;

		img = read_image(path, &len);
		b = img[l.recs[2].start + 20] ^ 0x40;
		free(img);
		patch_image(path, l.recs[2].start + 20, &b, 1);
	}
	CHECK(open_refused(env, dir, 4096, l.recs[2].start));
	CHECK(open_expect_flags(env, dir, 4096, LSM_XLOG_ACCEPT_CORRUPTION, &l, 0, 2,
							&x, &rep));
	CHECK(rep.torn && rep.corrupt && rep.next_valid_lsn == l.recs[3].start);
	reclist_truncate(&l, 2);
	CHECK(append_rec(x, &l, 100, &rng));
	CHECK(l.recs[2].end == l.recs[1].end + LSM_XLOG_HEADER + 100);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 4096, &l, 0, 3, NULL, &rep));
	CHECK(!rep.torn);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Damage is refused when a later record proves it durable, whatever the
 * position, and the files stay as they were.  R0..R2 are synced, then R3
 * and R4 appended without a sync: both carry durable_lsn = R2's end.
 * Damage in R1 or R2 lies below it: refused.  Damage in R3 does not (R4
 * was appended before R3 was synced, and a power loss may persist R4's
 * block and not R3's): R4 is dropped as a torn tail, and counted.
 */
static void
test_xlog_durable_proof(void)
{
	TestRng		rng = {test_seed("xlog durable proof")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	uint8_t    *pristine;
	size_t		len;
	size_t		t;
	int			i;

	test_tmpdir(dir, sizeof(dir), "xlogproof");
	CHECK(open_expect(env, dir, 4096, &l, 0, 0, &x, &rep));
	for (i = 0; i < 5; i++)
	{
		CHECK(append_rec(x, &l, 100, &rng));
		if (i == 2)
			CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	}
	CHECK(l.recs[3].durable == l.recs[2].end && l.recs[4].durable == l.recs[2].end);
	lsm_xlog_close(x);
	seg_path(dir, 0, path, sizeof(path));
	pristine = read_image(path, &len);

	for (t = 1; t <= 2; t++)
	{
		uint8_t		b = pristine[l.recs[t].start + 30] ^ 0x01;

		patch_image(path, l.recs[t].start + 30, &b, 1);
		CHECK(open_refused(env, dir, 4096, l.recs[t].start));
		CHECK(lsm_xlog_open(env, dir, 4096, NULL, NULL, &x, &rep, &st) ==
			  LSM_CORRUPTION);
		CHECK(rep.corrupt && rep.corrupt_lsn == l.recs[t].start);
		CHECK(rep.later_records == 4 - t && rep.later_v1_records == 0);
		CHECK(rep.later_durable_lsn == l.recs[2].end);
		CHECK(rep.next_valid_lsn == l.recs[t + 1].start);
		write_image(path, pristine, len);
	}

	/* damage above every later durable_lsn: a torn tail */
	{
		uint8_t		b = pristine[l.recs[3].start + 30] ^ 0x01;

		patch_image(path, l.recs[3].start + 30, &b, 1);
	}
	CHECK(open_expect(env, dir, 4096, &l, 0, 3, &x, &rep));
	CHECK(!rep.corrupt && rep.torn && rep.later_records == 1);
	CHECK(rep.later_durable_lsn == l.recs[2].end &&
		  rep.next_valid_lsn == l.recs[4].start);
	lsm_xlog_close(x);
	/* R4's bytes are gone for good */
	CHECK(open_expect(env, dir, 4096, &l, 0, 3, NULL, &rep));
	CHECK(!rep.torn && rep.later_records == 0);
	free(pristine);
	reclist_free(&l);
	test_rmtree(dir);

	/*
	 * A record claiming a durable_lsn above its own LSN is invalid, CRC
	 * or not: the flushed LSN never passes the insert position, so such a
	 * record cannot have been written by the log.
	 */
	test_tmpdir(dir, sizeof(dir), "xlogproof2");
	CHECK(open_expect(env, dir, 4096, &l, 0, 0, &x, &rep));
	for (i = 0; i < 3; i++)
	{
		CHECK(append_rec(x, &l, 50, &rng));
		CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	}
	lsm_xlog_close(x);
	seg_path(dir, 0, path, sizeof(path));
	{
		uint8_t    *img = read_image(path, &len);
		uint8_t    *h = img + l.recs[1].start;

		lsm_put_fixed64(h + 16, l.recs[1].start + 1);
		lsm_put_fixed32(h, lsm_crc32c_mask(lsm_crc32c(h + 4, 20 + 50)));
		write_image(path, img, len);
		free(img);
	}
	CHECK(open_refused(env, dir, 4096, l.recs[1].start));
	CHECK(lsm_xlog_open(env, dir, 4096, NULL, NULL, &x, &rep, &st) == LSM_CORRUPTION);
	CHECK(strstr(rep.reason, "beyond itself") != NULL);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * An OS crash or power loss may persist the unsynced tail out of order: a
 * later segment, or a later block, on disk while an earlier block is not.
 * Simulated here by zeroing unsynced records (never-written blocks of a
 * preallocated segment read as zeros) and leaving the ones after them.
 * R0..R2 are synced, R3..R11 appended after the sync, over three
 * segments.  Open starts without an operator, replays up to the hole,
 * drops and counts the records after it, deletes the later segments and
 * continues at the hole.
 */
static void
test_xlog_unsynced_reorder(void)
{
	TestRng		rng = {test_seed("xlog unsynced reorder")};
	int			variant;

	for (variant = 0; variant < 2; variant++)
	{
		char		dir[256];
		char		path[300];
		LsmEnv	   *env = lsm_env_posix();
		LsmXlog    *x;
		LsmXlogReplayReport rep;
		LsmStatus	st;
		RecList		l = {0};
		uint64_t	starts[16];
		size_t		nseg;
		size_t		hole;		/* first record lost */
		size_t		hole_end;	/* first record after the hole */
		size_t		k;
		uint8_t    *img;
		size_t		len;
		int			i;

		test_tmpdir(dir, sizeof(dir), "xlogreorder");
		CHECK(open_expect(env, dir, 512, &l, 0, 0, &x, &rep));
		for (i = 0; i < 12; i++)
		{
			CHECK(append_rec(x, &l, 100, &rng));
			if (i == 2)
				CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
		}
		lsm_xlog_close(x);
		nseg = list_starts(dir, starts, 16);
		CHECK(nseg == 3 && starts[1] == l.recs[4].start &&
			  starts[2] == l.recs[8].start);

		/*
		 * 0: the first blocks of segment 1 (R4, R5) never made it, its
		 * later blocks and segment 2 did.  1: the end of segment 0 (R3,
		 * starting exactly at the durable_lsn of every later record) never
		 * made it: durable_lsn equal to the hole is no proof.
		 */
		hole = variant == 0 ? 4 : 3;
		hole_end = variant == 0 ? 6 : 4;
		k = segment_of(starts, nseg, l.recs[hole].start);
		seg_path(dir, starts[k], path, sizeof(path));
		img = read_image(path, &len);
		memset(img + (l.recs[hole].start - starts[k]), 0,
			   l.recs[hole_end - 1].end - l.recs[hole].start);
		write_image(path, img, len);
		free(img);

		CHECK(open_expect(env, dir, 512, &l, 0, hole, &x, &rep));
		CHECK(!rep.corrupt && rep.torn);
		CHECK(rep.later_records == l.n - hole_end);
		CHECK(rep.next_valid_lsn == l.recs[hole_end].start);
		CHECK(rep.later_durable_lsn == l.recs[2].end);
		CHECK(rep.end_lsn == l.recs[hole].start);
		CHECK(rep.dropped_segments == nseg - k - 1);
		CHECK(list_starts(dir, starts, 16) == k + 1);

		/* the log goes on at the hole; nothing dropped comes back */
		reclist_truncate(&l, hole);
		for (i = 0; i < 6; i++)
			CHECK(append_rec(x, &l, 100, &rng));
		lsm_xlog_close(x);
		CHECK(open_expect(env, dir, 512, &l, 0, l.n, NULL, &rep));
		CHECK(!rep.torn && rep.later_records == 0);
		reclist_free(&l);
		test_rmtree(dir);
	}
}

/*
 * Write a v1 segment by hand at dir/0 (capacity bytes, zero-filled): the
 * records of l, which get v1 headers (16 bytes, no durable_lsn, length's
 * top bit clear), laid out from LSN 0.
 */
static void
write_v1_segment(const char *dir, RecList *l, size_t capacity)
{
	char		path[300];
	uint8_t    *img = calloc(1, capacity);
	uint64_t	pos = 0;
	size_t		i;

	if (img == NULL)
	{
		perror("calloc");
		exit(2);
	}
	for (i = 0; i < l->n; i++)
	{
		Rec		   *r = &l->recs[i];
		uint8_t    *h = img + pos;
		uint32_t	crc;

		if (pos + LSM_XLOG_HEADER_V1 + r->len > capacity)
		{
			fprintf(stderr, "v1 segment too small\n");
			exit(2);
		}
		lsm_put_fixed32(h + 4, (uint32_t) r->len);
		lsm_put_fixed64(h + 8, pos);
		memcpy(h + LSM_XLOG_HEADER_V1, r->data, r->len);
		crc = lsm_crc32c(h + 4, 12 + r->len);
		lsm_put_fixed32(h, lsm_crc32c_mask(crc));
		r->start = pos;
		r->end = pos + LSM_XLOG_HEADER_V1 + r->len;
		pos = r->end;
	}
	seg_path(dir, 0, path, sizeof(path));
	write_image(path, img, capacity);
	free(img);
}

/*
 * Records of the first format (v1, written before durable_lsn) still
 * replay, and the log goes on after them with v2 records.  Damage followed
 * by a v1 record is refused: a v1 record cannot say whether the damage had
 * been synced, and refusing is what recovery did with a v1 log before.
 */
static void
test_xlog_v1_records(void)
{
	TestRng		rng = {test_seed("xlog v1")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	uint8_t    *img;
	size_t		len;
	size_t		i;
	static const uint8_t pinned_v1[19] = {
		0x3c, 0x46, 0x40, 0x42, 0x03, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'a', 'b', 'c'
	};

	/* "abc" (the v1 example of docs/format.md), an empty record, random ones */
	test_tmpdir(dir, sizeof(dir), "xlogv1");
	{
		Rec		   *r = reclist_add(&l);

		r->data = malloc(3);
		memcpy(r->data, "abc", 3);
		r->len = 3;
		r = reclist_add(&l);
		r->data = malloc(1);
		r->len = 0;
		for (i = 0; i < 8; i++)
		{
			r = reclist_add(&l);
			r->len = (size_t) test_rng_below(&rng, 100);
			r->data = malloc(r->len + 1);
			fill_random(&rng, r->data, r->len);
		}
	}
	write_v1_segment(dir, &l, 2048);
	seg_path(dir, 0, path, sizeof(path));
	img = read_image(path, &len);
	CHECK(memcmp(img, pinned_v1, sizeof(pinned_v1)) == 0);
	free(img);

	CHECK(open_expect(env, dir, 2048, &l, 0, l.n, &x, &rep));
	CHECK(!rep.torn && rep.records == 10 && rep.end_lsn == l.recs[9].end);
	for (i = 0; i < 20; i++)
		CHECK(append_rec(x, &l, random_size(&rng, 2048), &rng));
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 2048, &l, 0, l.n, NULL, &rep));
	CHECK(!rep.torn);
	/* the v1 records kept their headers */
	img = read_image(path, &len);
	CHECK(memcmp(img, pinned_v1, sizeof(pinned_v1)) == 0);
	CHECK((lsm_get_fixed32(img + l.recs[9].start + 4) & LSM_XLOG_V2) == 0);
	free(img);
	test_rmtree(dir);

	/* damage in a v1 log with v1 records behind it: refused, then accepted */
	reclist_truncate(&l, 10);
	test_tmpdir(dir, sizeof(dir), "xlogv1dmg");
	write_v1_segment(dir, &l, 2048);
	{
		uint8_t		b;

		seg_path(dir, 0, path, sizeof(path));
		img = read_image(path, &len);
		b = img[l.recs[5].start + 9] ^ 0x10;
		free(img);
		patch_image(path, l.recs[5].start + 9, &b, 1);
	}
	CHECK(open_refused(env, dir, 2048, l.recs[5].start));
	CHECK(lsm_xlog_open(env, dir, 2048, NULL, NULL, &x, &rep, &st) == LSM_CORRUPTION);
	CHECK(rep.later_records == 4 && rep.later_v1_records == 4);
	CHECK(rep.corrupt && rep.later_durable_lsn == 0);
	CHECK(open_expect_flags(env, dir, 2048, LSM_XLOG_ACCEPT_CORRUPTION, &l, 0, 5,
							NULL, &rep));
	CHECK(rep.corrupt && rep.torn);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * remove_before deletes whole segments below the LSN, never the current
 * one and never one holding unflushed records; the log then replays from
 * the oldest remaining segment.
 */
static void
test_xlog_remove_before(void)
{
	TestRng		rng = {test_seed("xlog remove")};
	char		dir[256];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	starts[256];
	size_t		nseg;
	size_t		first;
	size_t		i;
	uint64_t	lsn;

	test_tmpdir(dir, sizeof(dir), "xlogrm");
	CHECK(open_expect(env, dir, 256, &l, 0, 0, &x, &rep));
	for (i = 0; i < 100; i++)
		CHECK(append_rec(x, &l, 40 + test_rng_below(&rng, 40), &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	nseg = list_starts(dir, starts, 256);
	lsm_xlog_stats(x, &stats);
	CHECK(stats.segments == nseg && nseg > 10);

	/* below record 50: the segments that end at or before its start go */
	lsn = l.recs[50].start;
	CHECK_OK(lsm_xlog_remove_before(x, lsn, &st), &st);
	{
		uint64_t	now[256];
		size_t		m = list_starts(dir, now, 256);
		size_t		k = segment_of(starts, nseg, lsn);

		/* segment k holds LSN lsn: it stays, everything before it goes */
		CHECK(m == nseg - k && now[0] == starts[k]);
		lsm_xlog_stats(x, &stats);
		CHECK(stats.segments == m && stats.segments_removed == k);
		first = 0;
		while (l.recs[first].start < now[0])
			first++;
	}
	/* idempotent */
	CHECK_OK(lsm_xlog_remove_before(x, lsn, &st), &st);

	/* records that are not flushed keep their segments */
	lsn = lsm_xlog_insert_lsn(x);
	for (i = 0; i < 20; i++)
		CHECK(append_rec(x, &l, 60, &rng));
	CHECK_OK(lsm_xlog_remove_before(x, UINT64_MAX, &st), &st);
	nseg = list_starts(dir, starts, 256);
	CHECK(starts[0] <= lsn);
	CHECK(nseg >= 2);
	/* once flushed, everything but the current segment can go */
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	CHECK_OK(lsm_xlog_remove_before(x, UINT64_MAX, &st), &st);
	nseg = list_starts(dir, starts, 256);
	lsm_xlog_stats(x, &stats);
	CHECK(nseg == 1 && stats.segments == 1 && starts[0] == stats.segment_start);
	first = 0;
	while (l.recs[first].start < starts[0])
		first++;
	lsm_xlog_close(x);

	CHECK(open_expect(env, dir, 256, &l, first, l.n, NULL, &rep));
	CHECK(rep.start_lsn == starts[0] && rep.segments == 1 && !rep.torn);
	reclist_free(&l);
	test_rmtree(dir);
}

/* Whether a segment starting at start is on disk in dir. */
static bool
segment_on_disk(const char *dir, uint64_t start)
{
	uint64_t	starts[256];
	size_t		n = list_starts(dir, starts, 256);

	for (size_t i = 0; i < n && i < 256; i++)
		if (starts[i] == start)
			return true;
	return false;
}

/*
 * A round that flushed exactly to a segment's end leaves that segment
 * current; the next record then starts the next segment at the flushed
 * LSN, so the old one is covered by the flushed LSN while the next round
 * still has to sync it.  remove_before must leave it until then: the next
 * leader may be a process that opens it by name (env_shared.c), and the
 * fsync failing with ENOENT was a PANIC (a server of one-statement psql
 * sessions writing 10 MB transactions hit it within seconds).
 */
static void
test_xlog_remove_keeps_pending(void)
{
	TestRng		rng = {test_seed("xlog remove pending")};
	char		dir[256];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	old;
	int			i;

	test_tmpdir(dir, sizeof(dir), "xlogrmpend");
	CHECK(open_expect(env, dir, 256, &l, 0, 0, &x, &rep));
	for (i = 0; i < 1000; i++)
	{
		CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
		lsm_xlog_stats(x, &stats);
		old = stats.segment_start;
		CHECK(append_rec(x, &l, 60, &rng));
		lsm_xlog_stats(x, &stats);
		if (stats.segment_start != old)
			break;
	}
	CHECK(i < 1000 && stats.segment_start == lsm_xlog_flushed_lsn(x));
	CHECK_OK(lsm_xlog_remove_before(x, UINT64_MAX, &st), &st);
	CHECK(segment_on_disk(dir, old));
	/* the next round syncs and lets go of it; then it can go */
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	CHECK_OK(lsm_xlog_remove_before(x, UINT64_MAX, &st), &st);
	CHECK(!segment_on_disk(dir, old));
	CHECK(segment_on_disk(dir, stats.segment_start));
	lsm_xlog_close(x);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * A backup: while a removal hold is taken remove_before deletes nothing;
 * lsm_xlog_copy copies the segments below a point, the last one cut there,
 * and the copy replays exactly the records below the point.
 */
static void
test_xlog_backup_copy(void)
{
	TestRng		rng = {test_seed("xlog backup")};
	char		dir[256];
	char		copy[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	starts[256];
	uint64_t	after[256];
	size_t		nseg;
	size_t		i;
	uint64_t	upto;
	uint64_t	bytes;
	uint64_t	first;

	test_tmpdir(dir, sizeof(dir), "xlogbk");
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	strcat(dir, "/log");
	CHECK(open_expect(env, dir, 256, &l, 0, 0, &x, &rep));
	for (i = 0; i < 100; i++)
		CHECK(append_rec(x, &l, 40 + test_rng_below(&rng, 40), &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	nseg = list_starts(dir, starts, 256);
	CHECK(nseg > 10);

	lsm_xlog_hold_removal(x, true);
	CHECK_OK(lsm_xlog_remove_before(x, UINT64_MAX, &st), &st);
	CHECK(list_starts(dir, after, 256) == nseg && after[0] == starts[0]);

	/* the point is a record boundary inside a segment; more follows it */
	upto = l.recs[70].start;
	for (i = 0; i < 20; i++)
		CHECK(append_rec(x, &l, 60, &rng));
	CHECK_OK(lsm_xlog_copy(x, copy, upto, &bytes, &first, &st), &st);
	CHECK(first == starts[0] && bytes == upto - starts[0]);

	/* the hold released, removal works again */
	lsm_xlog_hold_removal(x, false);
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	CHECK_OK(lsm_xlog_remove_before(x, UINT64_MAX, &st), &st);
	CHECK(list_starts(dir, after, 256) == 1);
	lsm_xlog_close(x);

	CHECK(open_expect(env, copy, 256, &l, 0, 70, NULL, &rep));
	CHECK(rep.start_lsn == starts[0] && rep.end_lsn == upto);
	reclist_free(&l);
	test_rmtree(dir);
	test_rmtree(copy);
}

/*
 * Without any flush, finished segments pile up only to
 * LSM_XLOG_MAX_PENDING; then an append flushes by itself.
 */
static void
test_xlog_pending_limit(void)
{
	TestRng		rng = {test_seed("xlog pending")};
	char		dir[256];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	RecList		l = {0};
	int			i;

	test_tmpdir(dir, sizeof(dir), "xlogpend");
	CHECK(open_expect(env, dir, 64, &l, 0, 0, &x, &rep));
	for (i = 0; i < 50; i++)
		CHECK(append_rec(x, &l, 40, &rng));	/* one record per segment */
	lsm_xlog_stats(x, &stats);
	CHECK(stats.segments == 50);
	CHECK(stats.flush_rounds >= 50 / (LSM_XLOG_MAX_PENDING + 1));
	CHECK(stats.flushed_lsn > 0 && stats.flushed_lsn < stats.insert_lsn);
	CHECK(stats.insert_lsn - stats.flushed_lsn <= (LSM_XLOG_MAX_PENDING + 1) * 56);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 64, &l, 0, l.n, NULL, &rep));
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Group commit: 8 threads each append and flush 500 times.  Every flush
 * returns only once its record is durable, there are fewer fsyncs than
 * commits, the host's numbering (done in fill) follows LSN order, and
 * every record replays.  Syncs are slowed down a little, as on a real
 * disk, so that commits queue up behind the leader.
 */
#define GC_THREADS 8
#define GC_PER_THREAD 500
#define GC_PAYLOAD 40

static LsmEnv slow_env;

static LsmCode
slow_sync(LsmFile *f, LsmStatus *st)
{
	LsmCode		rc = lsm_env_posix()->sync(f, st);

	usleep(300);
	return rc;
}

typedef struct GcShared
{
	LsmXlog    *x;
	uint64_t	next_seq;		/* only touched in fill, under the log's lock */
	int			failures;
} GcShared;

typedef struct GcThread
{
	GcShared   *g;
	uint32_t	id;
	pthread_t	thread;
} GcThread;

static void
gc_fill(void *arg, uint8_t *payload, size_t len, uint64_t lsn)
{
	GcShared   *g = arg;

	lsm_put_fixed64(payload, g->next_seq++);
	lsm_put_fixed64(payload + 8, lsn);
}

/*
 * Append one record of thread id: odd threads write it outside the insert
 * lock, even ones inside.
 */
static LsmCode
gc_append(GcShared *g, uint32_t id, uint8_t *payload, size_t len,
		  uint64_t *start, uint64_t *end, LsmStatus *st)
{
	if (id % 2)
		return lsm_xlog_append_ex(g->x, payload, len, gc_fill, NULL, g, start, end, st);
	return lsm_xlog_append(g->x, payload, len, gc_fill, g, start, end, st);
}

static void *
gc_thread(void *arg)
{
	GcThread   *t = arg;
	uint32_t	i;

	for (i = 0; i < GC_PER_THREAD; i++)
	{
		uint8_t		payload[GC_PAYLOAD];
		uint64_t	start;
		uint64_t	end;
		LsmStatus	st;

		memset(payload, 0xee, sizeof(payload));
		lsm_put_fixed32(payload + 16, t->id);
		lsm_put_fixed32(payload + 20, i);
		if (gc_append(t->g, t->id, payload, sizeof(payload), &start, &end, &st) != LSM_OK ||
			lsm_get_fixed64(payload + 8) != start ||
			lsm_xlog_flush(t->g->x, end, &st) != LSM_OK ||
			lsm_xlog_flushed_lsn(t->g->x) < end)
		{
			__atomic_fetch_add(&t->g->failures, 1, __ATOMIC_RELAXED);
			return NULL;
		}
	}
	return NULL;
}

typedef struct GcReplay
{
	uint64_t	next_seq;
	uint64_t	last_lsn;
	bool		bad;
	uint8_t		seen[GC_THREADS][GC_PER_THREAD];
} GcReplay;

static LsmCode
gc_replay_fn(void *arg, uint64_t lsn, LsmSlice payload, LsmStatus *st)
{
	GcReplay   *r = arg;
	uint32_t	id;
	uint32_t	i;

	if (payload.len != GC_PAYLOAD ||
		lsm_get_fixed64(payload.data) != r->next_seq ||
		lsm_get_fixed64(payload.data + 8) != lsn ||
		(r->next_seq > 0 && lsn <= r->last_lsn))
	{
		r->bad = true;
		return lsm_status_set(st, LSM_CORRUPTION, 0, "bad record at LSN %llu",
							  (unsigned long long) lsn);
	}
	id = lsm_get_fixed32(payload.data + 16);
	i = lsm_get_fixed32(payload.data + 20);
	if (id >= GC_THREADS || i >= GC_PER_THREAD || r->seen[id][i]++)
		r->bad = true;
	r->next_seq++;
	r->last_lsn = lsn;
	return LSM_OK;
}

static void
test_xlog_group_commit(void)
{
	char		dir[256];
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	LsmStatus	st;
	GcShared	g;
	GcThread	t[GC_THREADS];
	GcReplay   *r;
	int			i;
	int			j;

	slow_env = *lsm_env_posix();
	slow_env.sync = slow_sync;
	test_tmpdir(dir, sizeof(dir), "xloggc");
	/* small segments, so commits also cross segment switches */
	CHECK_OK(lsm_xlog_open(&slow_env, dir, 16384, NULL, NULL, &x, &rep, &st), &st);
	memset(&g, 0, sizeof(g));
	g.x = x;
	for (i = 0; i < GC_THREADS; i++)
	{
		t[i].g = &g;
		t[i].id = (uint32_t) i;
		CHECK(pthread_create(&t[i].thread, NULL, gc_thread, &t[i]) == 0);
	}
	for (i = 0; i < GC_THREADS; i++)
		pthread_join(t[i].thread, NULL);
	CHECK(g.failures == 0);
	lsm_xlog_stats(x, &stats);
	printf("  %llu commits, %llu flush calls, %llu leader rounds, %llu fsyncs, %llu segments\n",
		   (unsigned long long) stats.appends, (unsigned long long) stats.flush_calls,
		   (unsigned long long) stats.flush_rounds, (unsigned long long) stats.syncs,
		   (unsigned long long) stats.segments);
	CHECK(stats.appends == GC_THREADS * GC_PER_THREAD);
	CHECK(stats.flush_calls == GC_THREADS * GC_PER_THREAD);
	CHECK(stats.syncs < stats.appends);
	CHECK(stats.flush_rounds < stats.appends);
	CHECK(stats.flushed_lsn == stats.insert_lsn);
	CHECK(stats.segments > 2);
	CHECK(g.next_seq == GC_THREADS * GC_PER_THREAD);
	lsm_xlog_close(x);

	r = calloc(1, sizeof(GcReplay));
	CHECK(r != NULL);
	CHECK_OK(lsm_xlog_open(&slow_env, dir, 16384, gc_replay_fn, r, &x, &rep, &st), &st);
	CHECK(!r->bad && r->next_seq == GC_THREADS * GC_PER_THREAD);
	CHECK(rep.records == GC_THREADS * GC_PER_THREAD && !rep.torn);
	for (i = 0; i < GC_THREADS; i++)
		for (j = 0; j < GC_PER_THREAD; j++)
			CHECK(r->seen[i][j] == 1);
	free(r);
	lsm_xlog_close(x);
	test_rmtree(dir);
}

/* Counts fill calls, for checking when fill runs. */
static void
count_fill(void *arg, uint8_t *payload, size_t len, uint64_t lsn)
{
	(*(int *) arg)++;
}

/*
 * After a failed fsync the log refuses appends and flushes with that
 * error: a retried fsync could report success for pages the kernel has
 * already dropped.
 */
static void
test_xlog_sync_failure_is_sticky(void)
{
	TestRng		rng = {test_seed("xlog sync failure")};
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	flushed;
	uint64_t	end;
	int			fills = 0;
	int			i;

	CHECK(env != NULL);
	test_tmpdir(dir, sizeof(dir), "xlogsync");
	CHECK(open_expect(env, dir, 1024, &l, 0, 0, &x, &rep));
	for (i = 0; i < 3; i++)
		CHECK(append_rec(x, &l, 100, &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	flushed = lsm_xlog_flushed_lsn(x);
	CHECK(append_rec(x, &l, 100, &rng));

	fault_env_fail_writes_after(env, 1, EIO);
	CHECK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st) == LSM_IO_ERROR);
	CHECK(st.sys_errno == EIO && strstr(st.msg, dir) != NULL);
	fault_env_heal(env);
	CHECK(lsm_xlog_flushed_lsn(x) == flushed);

	/* healed or not, the log stays unusable */
	CHECK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, "unusable") != NULL && st.sys_errno == EIO);
	CHECK(lsm_xlog_flush(x, flushed, &st) == LSM_IO_ERROR);
	CHECK(lsm_xlog_append(x, (uint8_t *) "x", 1, count_fill, &fills, NULL, &end,
						  &st) == LSM_IO_ERROR);
	CHECK(fills == 0);
	CHECK(lsm_xlog_insert_lsn(x) == l.recs[3].end);
	lsm_xlog_stats(x, &stats);
	CHECK(stats.broken && stats.append_failures == 1);
	lsm_xlog_close(x);

	/* a new incarnation (the host restarts) recovers what is there */
	CHECK(open_expect(env, dir, 1024, &l, 0, l.n, NULL, &rep));
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * A full disk: making a segment fails with LSM_NO_SPACE before fill runs
 * and leaves no file behind; a failed record write leaves the insert
 * position where it was (fill did run); the log goes on when space comes
 * back, and replays exactly the records whose appends succeeded.  A full
 * disk at open does not stop recovery.
 */
static void
test_xlog_no_space(void)
{
	TestRng		rng = {test_seed("xlog enospc")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	starts[64];
	uint64_t	pos;
	uint64_t	end = 0;
	uint8_t		junk[300];
	int			fills = 0;
	size_t		nseg;

	CHECK(env != NULL);
	fill_random(&rng, junk, sizeof(junk));
	test_tmpdir(dir, sizeof(dir), "xlognospc");
	CHECK(open_expect(env, dir, 512, &l, 0, 0, &x, &rep));
	CHECK(append_rec(x, &l, 190, &rng));
	CHECK(append_rec(x, &l, 190, &rng));	/* 428 of 512 bytes used */

	/* a new segment cannot be made */
	pos = lsm_xlog_insert_lsn(x);
	fault_env_fail_writes_from(env, 1, ENOSPC);
	CHECK(lsm_xlog_append(x, junk, 200, count_fill, &fills, NULL, &end, &st) ==
		  LSM_NO_SPACE);
	CHECK(st.sys_errno == ENOSPC && strstr(st.msg, dir) != NULL);
	CHECK(fills == 0 && end == 0);
	CHECK(lsm_xlog_insert_lsn(x) == pos);
	CHECK(list_starts(dir, starts, 64) == 1);
	snprintf(path, sizeof(path), "%s/xlogtemp", dir);
	CHECK(!path_exists(path));
	lsm_xlog_stats(x, &stats);
	CHECK(stats.segments == 1 && stats.append_failures == 1);

	/* a record that fits fails only at its write: fill has run */
	fault_env_heal(env);
	fault_env_fail_writes_after(env, 1, ENOSPC);
	CHECK(lsm_xlog_append(x, junk, 50, count_fill, &fills, NULL, &end, &st) ==
		  LSM_NO_SPACE);
	CHECK(fills == 1 && lsm_xlog_insert_lsn(x) == pos);
	CHECK(append_rec(x, &l, 20, &rng));
	CHECK(l.recs[2].start == pos);

	/* space is back */
	CHECK(append_rec(x, &l, 200, &rng));
	CHECK(list_starts(dir, starts, 64) == 2);
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, &x, &rep));
	CHECK(!rep.torn);
	lsm_xlog_close(x);

	/*
	 * Full disk at open: the syncs of the earlier segments pass, the
	 * preallocation of the last one fails.  The last segment then just
	 * ends at its records and the next append starts a new one.
	 */
	nseg = list_starts(dir, starts, 64);
	fault_env_fail_writes_after(env, (long) nseg, ENOSPC);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, &x, &rep));
	CHECK(fault_env_injected(env) == 3);
	seg_path(dir, starts[nseg - 1], path, sizeof(path));
	CHECK(path_size(path) == l.recs[l.n - 1].end - starts[nseg - 1]);
	CHECK(append_rec(x, &l, 10, &rng));
	CHECK(list_starts(dir, starts, 64) == nseg + 1);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, NULL, &rep));
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * Segment making that fails late: when the directory fsync after the
 * rename fails, the new name may exist, so no record may land beyond its
 * start in the old segment: the next append, however small, makes the
 * segment at that LSN again.  Growing an empty segment for a big record
 * that fails gives the space back.
 */
static void
test_xlog_segment_failures(void)
{
	TestRng		rng = {test_seed("xlog segment failures")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	starts[16];
	uint64_t	pos;
	uint8_t		junk[2000];

	CHECK(env != NULL);
	fill_random(&rng, junk, sizeof(junk));
	test_tmpdir(dir, sizeof(dir), "xlogsegfail");

	/* a big first record cannot grow the empty segment */
	CHECK(open_expect(env, dir, 512, &l, 0, 0, &x, &rep));
	fault_env_fail_writes_from(env, 1, ENOSPC);
	CHECK(lsm_xlog_append(x, junk, sizeof(junk), NULL, NULL, NULL, NULL, &st) ==
		  LSM_NO_SPACE);
	fault_env_heal(env);
	seg_path(dir, 0, path, sizeof(path));
	CHECK(path_size(path) == 512 && lsm_xlog_insert_lsn(x) == 0);
	CHECK(append_rec(x, &l, 300, &rng));

	/* zeros written (1), synced (2), renamed, directory fsync fails (3) */
	pos = lsm_xlog_insert_lsn(x);
	fault_env_fail_writes_after(env, 3, EIO);
	CHECK(lsm_xlog_append(x, junk, 400, NULL, NULL, NULL, NULL, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, "directory") != NULL);
	CHECK(lsm_xlog_insert_lsn(x) == pos);
	CHECK(list_starts(dir, starts, 16) == 1);
	/* 10 bytes would fit behind pos, but go to a new segment at pos */
	CHECK(append_rec(x, &l, 10, &rng));
	CHECK(list_starts(dir, starts, 16) == 2 && starts[1] == pos);
	CHECK(append_rec(x, &l, 10, &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, NULL, &rep));
	CHECK(!rep.torn);
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * A write that fails half-way leaves part of a record behind; the next
 * record goes to the same LSN, and replay never takes the leftovers.
 */
static LsmEnv partial_env;
static bool partial_armed;

static LsmCode
partial_write_at(LsmFile *f, const void *buf, size_t n, uint64_t off,
				 LsmStatus *st)
{
	LsmEnv	   *base = lsm_env_posix();
	LsmCode		rc;

	if (!partial_armed)
		return base->write_at(f, buf, n, off, st);
	partial_armed = false;
	rc = base->write_at(f, buf, n / 2, off, st);
	if (rc != LSM_OK)
		return rc;
	return lsm_status_errno(st, ENOSPC, "could not write %zu bytes at offset %llu (partial test)",
							n, (unsigned long long) off);
}

static void
test_xlog_partial_write(void)
{
	TestRng		rng = {test_seed("xlog partial write")};
	char		dir[256];
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	uint8_t		junk[20000];
	size_t		sizes[2] = {300, sizeof(junk)};
	int			i;

	partial_env = *lsm_env_posix();
	partial_env.write_at = partial_write_at;
	fill_random(&rng, junk, sizeof(junk));
	test_tmpdir(dir, sizeof(dir), "xlogpartial");
	CHECK(open_expect(&partial_env, dir, 65536, &l, 0, 0, &x, &rep));
	for (i = 0; i < 2; i++)
	{
		uint64_t	pos;

		CHECK(append_rec(x, &l, 100, &rng));
		pos = lsm_xlog_insert_lsn(x);
		partial_armed = true;
		CHECK(lsm_xlog_append(x, junk, sizes[i], NULL, NULL, NULL, NULL, &st) ==
			  LSM_NO_SPACE);
		CHECK(lsm_xlog_insert_lsn(x) == pos);
		CHECK(append_rec(x, &l, 10, &rng));
		CHECK(l.recs[l.n - 1].start == pos);
		lsm_xlog_close(x);
		/* the rest of the failed record is behind the end, and dropped */
		CHECK(open_expect(&partial_env, dir, 65536, &l, 0, l.n, &x, &rep));
		CHECK(rep.torn);
	}
	lsm_xlog_close(x);
	CHECK(open_expect(&partial_env, dir, 65536, &l, 0, l.n, NULL, &rep));
	CHECK(!rep.torn);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Spare segments: a switch renames the spare made ahead of time instead of
 * making a segment inside the append, the next flush syncs the directory
 * for the new name (and only that flush), a switch with no spare makes its
 * segment as before, a spare that could not be made leaves no file, and a
 * leftover spare is removed at open while every record replays.
 */
static void
test_xlog_spare(void)
{
	TestRng		rng = {test_seed("xlog spare")};
	char		dir[256];
	char		spare[300];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats s0,
				s1;
	LsmStatus	st;
	RecList		l = {0};
	int			i;

	CHECK(env != NULL);
	fault_env_set_real_sync(env, false);
	test_tmpdir(dir, sizeof(dir), "xlogspare");
	snprintf(spare, sizeof(spare), "%s/xlogspare", dir);
	CHECK(open_expect(env, dir, 512, &l, 0, 0, &x, &rep));
	CHECK(!lsm_xlog_spare_wanted(x));
	CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
	CHECK(path_exists(spare) && path_size(spare) == 512);
	CHECK_OK(lsm_xlog_make_spare(x, &st), &st);	/* one is ready already */

	/* 124-byte records, four to a 512-byte segment: the fifth switches */
	lsm_xlog_stats(x, &s0);
	for (i = 0; i < 5; i++)
		CHECK(append_rec(x, &l, 100, &rng));
	lsm_xlog_stats(x, &s1);
	CHECK(s1.spares_used == 1 && s1.segments_created == s0.segments_created);
	CHECK(s1.segments == 2 && s1.segment_start == l.recs[4].start);
	CHECK(!path_exists(spare));
	CHECK(lsm_xlog_spare_wanted(x));
	CHECK(!lsm_xlog_spare_wanted(x));

	/* both segments and the directory, then no directory again */
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_stats(x, &s0);
	CHECK(s0.syncs - s1.syncs == 3);
	CHECK(append_rec(x, &l, 100, &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_stats(x, &s1);
	CHECK(s1.syncs - s0.syncs == 1);

	/* no spare: the switch makes the segment itself */
	for (i = 0; i < 3; i++)
		CHECK(append_rec(x, &l, 100, &rng));
	lsm_xlog_stats(x, &s0);
	CHECK(s0.spares_used == 1 && s0.segments_created == s1.segments_created + 1);
	CHECK(lsm_xlog_spare_wanted(x));

	/* a spare that cannot be made leaves nothing, and is made later */
	fault_env_fail_writes_after(env, 1, ENOSPC);
	CHECK(lsm_xlog_make_spare(x, &st) != LSM_OK);
	CHECK(!path_exists(spare));
	CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
	CHECK(path_exists(spare));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_close(x);

	/* a leftover spare goes at open; everything replays */
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, &x, &rep));
	CHECK(!path_exists(spare));
	CHECK(append_rec(x, &l, 100, &rng));
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 512, &l, 0, l.n, NULL, &rep));
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/* For test_xlog_write_outside: an append_ex in a thread. */
typedef struct OutsideArg
{
	LsmXlog    *x;
	uint8_t		payload[100];
	int			written;		/* written() calls */
	uint64_t	end;
	LsmCode		rc;
	volatile bool finished;
} OutsideArg;

static void
outside_written(void *arg, uint64_t start, uint64_t end)
{
	((OutsideArg *) arg)->written++;
}

static void *
outside_append(void *arg)
{
	OutsideArg *a = arg;
	LsmStatus	st;

	a->rc = lsm_xlog_append_ex(a->x, a->payload, sizeof(a->payload), NULL,
							   outside_written, a, NULL, &a->end, &st);
	a->finished = true;
	return NULL;
}

static void *
outside_flush(void *arg)
{
	OutsideArg *a = arg;
	LsmStatus	st;

	a->rc = lsm_xlog_flush(a->x, a->end, &st);
	a->finished = true;
	return NULL;
}

/*
 * lsm_xlog_append_ex writes its record after the insert lock: written()
 * has run and other appends go on while the write waits (a preempted
 * writer, here a held write), a flush for an earlier record syncs up to
 * it without waiting, a flush for it or later waits for it, and the
 * record replays.  A write that fails there breaks the log.
 */
static void
test_xlog_write_outside(void)
{
	TestRng		rng = {test_seed("xlog write outside")};
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	LsmStatus	st;
	RecList		l = {0};
	OutsideArg	a;
	OutsideArg	f;
	pthread_t	ta;
	pthread_t	tf;
	Rec		   *r;
	int			i;

	CHECK(env != NULL);
	fault_env_set_real_sync(env, false);
	test_tmpdir(dir, sizeof(dir), "xlogout");
	CHECK(open_expect(env, dir, 4096, &l, 0, 0, &x, &rep));
	CHECK(append_rec(x, &l, 50, &rng));

	memset(&a, 0, sizeof(a));
	memset(&f, 0, sizeof(f));
	a.x = f.x = x;
	for (i = 0; i < (int) sizeof(a.payload); i++)
		a.payload[i] = (uint8_t) test_rng_below(&rng, 256);
	fault_env_hold_writes(env, true);
	CHECK(pthread_create(&ta, NULL, outside_append, &a) == 0);
	for (i = 0; i < 2000 && fault_env_held_writes(env) == 0; i++)
		usleep(1000);
	CHECK(fault_env_held_writes(env) == 1);
	/* placed and applied, not yet written */
	CHECK(a.written == 1 && !a.finished);
	/* a flush for the record before does not wait, and stops below it */
	f.end = l.recs[0].end;
	CHECK(pthread_create(&tf, NULL, outside_flush, &f) == 0);
	for (i = 0; i < 10000 && !f.finished; i++)
		usleep(1000);
	CHECK(f.finished);			/* (before, it waited for the held write) */
	if (!f.finished)
		fault_env_hold_writes(env, false);
	pthread_join(tf, NULL);
	CHECK(f.rc == LSM_OK);
	CHECK(lsm_xlog_flushed_lsn(x) == l.recs[0].end);
	f.finished = false;
	CHECK(lsm_xlog_insert_lsn(x) == l.recs[0].end + LSM_XLOG_HEADER + sizeof(a.payload));
	f.end = lsm_xlog_insert_lsn(x);
	CHECK(pthread_create(&tf, NULL, outside_flush, &f) == 0);
	usleep(50000);
	CHECK(!f.finished);			/* the flush waits for the write */
	CHECK(lsm_xlog_flushed_lsn(x) < f.end);
	fault_env_hold_writes(env, false);
	pthread_join(ta, NULL);
	pthread_join(tf, NULL);
	CHECK(a.rc == LSM_OK && f.rc == LSM_OK);
	CHECK(lsm_xlog_flushed_lsn(x) == f.end);
	r = reclist_add(&l);
	CHECK(r != NULL);
	r->data = malloc(sizeof(a.payload));
	CHECK(r->data != NULL);
	memcpy(r->data, a.payload, sizeof(a.payload));
	r->len = sizeof(a.payload);
	r->start = l.recs[0].end;
	r->end = a.end;
	for (i = 0; i < 3; i++)
		CHECK(append_rec(x, &l, 50, &rng));
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 4096, &l, 0, l.n, &x, &rep));
	CHECK(!rep.torn);

	/* a failed write outside the lock breaks the log */
	memset(&a, 0, sizeof(a));
	a.x = x;
	fault_env_fail_writes_after(env, 1, EIO);
	outside_append(&a);
	CHECK(a.rc != LSM_OK && a.written == 1);
	lsm_xlog_stats(x, &stats);
	CHECK(stats.broken);
	CHECK(lsm_xlog_append(x, a.payload, 10, NULL, NULL, NULL, NULL, &st) != LSM_OK);
	CHECK(strstr(st.msg, "unusable") != NULL);
	CHECK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st) != LSM_OK);
	lsm_xlog_close(x);

	/* what was flushed before is all there */
	CHECK(open_expect(env, dir, 4096, &l, 0, l.n, NULL, &rep));
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/* For test_xlog_spare_race: makes spares until told to stop. */
typedef struct SpareMaker
{
	LsmXlog    *x;
	volatile bool stop;
	long		made;
	long		failed;
} SpareMaker;

static void *
spare_maker(void *arg)
{
	SpareMaker *m = arg;

	while (!m->stop)
	{
		LsmStatus	st;

		if (lsm_xlog_make_spare(m->x, &st) != LSM_OK)
			m->failed++;
		else
			m->made++;
	}
	return NULL;
}

/*
 * A maker thread calls lsm_xlog_make_spare without pause while the main
 * thread appends across hundreds of segment switches (as the maintenance
 * worker does beside committing backends): every record replays, so a
 * spare is never refilled after a switch took it.
 */
static void
test_xlog_spare_race(void)
{
	TestRng		rng = {test_seed("xlog spare race")};
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats stats;
	LsmStatus	st;
	RecList		l = {0};
	SpareMaker	m;
	pthread_t	t;
	int			i;

	CHECK(env != NULL);
	fault_env_set_real_sync(env, false);
	test_tmpdir(dir, sizeof(dir), "xlogsparerace");
	CHECK(open_expect(env, dir, 4096, &l, 0, 0, &x, &rep));
	memset(&m, 0, sizeof(m));
	m.x = x;
	CHECK(pthread_create(&t, NULL, spare_maker, &m) == 0);
	for (i = 0; i < 6000; i++)
	{
		CHECK(append_rec(x, &l, 40 + test_rng_below(&rng, 300), &rng));
		if (i % 50 == 49)
			CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	}
	m.stop = true;
	pthread_join(t, NULL);
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_stats(x, &stats);
	printf("  %llu switches took a spare, %llu made their segment, %ld make_spare calls\n",
		   (unsigned long long) stats.spares_used,
		   (unsigned long long) stats.segments_created, m.made);
	CHECK(m.failed == 0);
	CHECK(stats.spares_used > 0);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 4096, &l, 0, l.n, NULL, &rep));
	CHECK(!rep.torn && rep.records == l.n);
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/* Recycled segment files in dir ("xlogrecycled.N"). */
static size_t
count_recycled(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	size_t		n = 0;

	if (d == NULL)
	{
		perror(dir);
		exit(2);
	}
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "xlogrecycled.", 13) == 0)
			n++;
	closedir(d);
	return n;
}

/* Index of the first record of l in the oldest segment of dir. */
static size_t
first_kept(const char *dir, const RecList *l)
{
	uint64_t	starts[256];
	size_t		i = 0;

	CHECK_RET(list_starts(dir, starts, 256) > 0, 0);
	while (i < l->n && l->recs[i].start < starts[0])
		i++;
	return i;
}

/*
 * Recycled segments: remove_before renames old full-size segments for
 * reuse (up to the limit, unlinking the rest), make_spare takes one of
 * them instead of writing zeros (skipping one of another size), replay
 * after a reopen is exact and reports no torn tail although the current
 * segment holds an old segment's records past the end, and a lowered
 * limit sheds the surplus.
 */
static void
test_xlog_recycle(void)
{
	TestRng		rng = {test_seed("xlog recycle")};
	char		dir[256];
	char		spare[300];
	char		odd[300];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmXlogStats s0,
				s1;
	LsmStatus	st;
	RecList		l = {0};
	size_t		first;
	int			i;

	CHECK(env != NULL);
	fault_env_set_real_sync(env, false);
	test_tmpdir(dir, sizeof(dir), "xlogrecycle");
	snprintf(spare, sizeof(spare), "%s/xlogspare", dir);
	CHECK(open_expect(env, dir, 512, &l, 0, 0, &x, &rep));
	for (i = 0; i < 40; i++)
		CHECK(append_rec(x, &l, 60 + test_rng_below(&rng, 40), &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);

	/* without a limit old segments are deleted, as before */
	lsm_xlog_stats(x, &s0);
	CHECK_OK(lsm_xlog_remove_before(x, l.recs[10].start, &st), &st);
	lsm_xlog_stats(x, &s1);
	CHECK(s1.segments_removed > s0.segments_removed && s1.segments_recycled == 0);
	CHECK(count_recycled(dir) == 0);

	/* with a limit of 3, three are kept and the rest deleted */
	lsm_xlog_set_recycle(x, 3);
	CHECK_OK(lsm_xlog_remove_before(x, l.recs[35].start, &st), &st);
	lsm_xlog_stats(x, &s0);
	CHECK(s0.segments_removed - s1.segments_removed > 3);
	CHECK(s0.segments_recycled == 3 && count_recycled(dir) == 3);
	first = first_kept(dir, &l);

	/* the oldest is taken first; one of another size is deleted instead */
	snprintf(odd, sizeof(odd), "%s/xlogrecycled.0", dir);
	CHECK(path_size(odd) == 512);
	write_image(odd, (const uint8_t *) "short", 5);
	CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
	lsm_xlog_stats(x, &s1);
	CHECK(s1.spares_recycled == 1 && path_size(spare) == 512);
	CHECK(count_recycled(dir) == 1 && !path_exists(odd));

	/* the switches use the spares: recycled ones while they last */
	while (s1.spares_recycled < 2)
	{
		CHECK(append_rec(x, &l, 60 + test_rng_below(&rng, 40), &rng));
		if (lsm_xlog_spare_wanted(x))
			CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
		lsm_xlog_stats(x, &s1);
	}
	CHECK(count_recycled(dir) == 0);
	CHECK(s1.segments_created == s0.segments_created);
	/* the next spare is zeros again */
	while (lsm_xlog_stats(x, &s0), s0.spares_used == s1.spares_used)
		CHECK(append_rec(x, &l, 60 + test_rng_below(&rng, 40), &rng));
	CHECK(lsm_xlog_spare_wanted(x));
	CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
	lsm_xlog_stats(x, &s0);
	CHECK(s0.spares_recycled == 2 && path_size(spare) == 512);

	/* end inside a recycled segment: exact replay, no torn tail */
	CHECK(append_rec(x, &l, 20, &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_close(x);
	CHECK(open_expect(env, dir, 512, &l, first, l.n, &x, &rep));
	CHECK(!rep.torn && rep.later_records == 0 && !rep.corrupt);

	/* recycled files survive a reopen and get higher numbers */
	lsm_xlog_set_recycle(x, 4);
	for (i = 0; i < 30; i++)
		CHECK(append_rec(x, &l, 60 + test_rng_below(&rng, 40), &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	CHECK_OK(lsm_xlog_remove_before(x, l.recs[l.n - 5].start, &st), &st);
	CHECK(count_recycled(dir) == 4);
	lsm_xlog_close(x);
	first = first_kept(dir, &l);
	CHECK(open_expect(env, dir, 512, &l, first, l.n, &x, &rep));
	CHECK(count_recycled(dir) == 4);

	/* a lowered limit deletes the surplus at the next removal */
	lsm_xlog_set_recycle(x, 1);
	CHECK_OK(lsm_xlog_remove_before(x, 0, &st), &st);
	CHECK(count_recycled(dir) == 1);
	lsm_xlog_close(x);
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * A recycled spare's name must be durable before records go into it.  The
 * scenario: the switch takes a recycled file, records go in and reach the
 * disk, and the power goes off before any directory fsync, so the renames
 * are undone (the fault env's unsynced-renames mode).  Had the file gone
 * back to a recycled name, the next history could take it again, switch
 * at the same LSN, and the lost history's records would then sit at their
 * own, valid LSNs behind the new ones and replay.
 */
static void
test_xlog_recycle_unsynced_names(void)
{
	TestRng		rng = {test_seed("xlog recycle names")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = fault_env_new();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	LsmFile    *f;
	RecList		l = {0};
	size_t		first;
	size_t		keep;
	int			i;

	CHECK(env != NULL);
	fault_env_set_real_sync(env, false);
	fault_env_set_unsynced_renames(env, true);
	test_tmpdir(dir, sizeof(dir), "xlogrecyclenames");
	CHECK(open_expect(env, dir, 512, &l, 0, 0, &x, &rep));
	/* 124-byte records, four to a 512-byte segment */
	for (i = 0; i < 20; i++)
		CHECK(append_rec(x, &l, 100, &rng));
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_set_recycle(x, 2);
	CHECK_OK(lsm_xlog_remove_before(x, l.recs[16].start, &st), &st);
	CHECK(count_recycled(dir) == 2);
	CHECK_OK(lsm_xlog_make_spare(x, &st), &st);

	/* the fifth segment is full: record 20 switches into the spare */
	keep = l.n;
	for (i = 0; i < 3; i++)
		CHECK(append_rec(x, &l, 100, &rng));
	seg_path(dir, l.recs[keep].start, path, sizeof(path));
	CHECK(path_exists(path));
	/* its data reaches the disk, no directory fsync does */
	CHECK_OK(env->open_file(env, path, LSM_OPEN_WRITE, &f, &st), &st);
	CHECK_OK(env->sync(f, &st), &st);
	env->close_file(f, &st);
	CHECK(fault_env_crash(env) >= 0);
	lsm_xlog_close(x);

	/* the unflushed records are gone */
	first = first_kept(dir, &l);
	reclist_truncate(&l, keep);
	CHECK(open_expect(env, dir, 512, &l, first, l.n, &x, &rep));
	/* the next history switches at the same LSN, with the same sizes */
	lsm_xlog_set_recycle(x, 2);
	CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
	CHECK(append_rec(x, &l, 100, &rng));
	CHECK(path_exists(path));	/* a segment starting at the same LSN */
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_close(x);
	/* only that record follows: none of the lost history's */
	CHECK(open_expect(env, dir, 512, &l, first, l.n, NULL, &rep));
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * Simulated power loss (fault_env): every record flushed before the crash
 * replays, and what replays is a prefix of what was appended.  With
 * recycle, segments are also recycled and reused at random points: the old
 * records in recycled files never replay (the fault env undoes unsynced
 * overwrites of them, so the old contents come back after a crash, and
 * renames no directory fsync covered).
 */
static void
power_loss_rounds(const char *name, const char *dirname, bool recycle)
{
	TestRng		rng = {test_seed(name)};
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	uint64_t	seg = recycle ? 600 : 700;
	RecList		l = {0};
	size_t		first = 0;		/* first record of the oldest segment */
	uint64_t	recycled = 0;
	int			round;

	CHECK(env != NULL);
	fault_env_set_real_sync(env, false);
	fault_env_set_unsynced_renames(env, recycle);
	test_tmpdir(dir, sizeof(dir), dirname);
	for (round = 0; round < (recycle ? 30 : 20); round++)
	{
		LsmXlog    *x;
		LsmXlogReplayReport rep;
		LsmXlogStats stats;
		LsmStatus	st;
		Expect		e = {&l, first, l.n, false, 0, 0};
		size_t		flushed_n = l.n;
		int			n = 1 + (int) test_rng_below(&rng, recycle ? 80 : 60);
		int			i;

		CHECK_OK(lsm_xlog_open(env, dir, seg, expect_fn, &e, &x, &rep, &st), &st);
		CHECK(!e.mismatch && e.next == l.n);
		if (recycle)
			lsm_xlog_set_recycle(x, 1 + (uint32_t) test_rng_below(&rng, 4));
		for (i = 0; i < n; i++)
		{
			if ((recycle && lsm_xlog_spare_wanted(x)) ||
				test_rng_below(&rng, recycle ? 5 : 3) == 0)
				CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
			CHECK(append_rec(x, &l, recycle ? 20 + test_rng_below(&rng, 200) :
							 random_size(&rng, seg), &rng));
			if (test_rng_below(&rng, 4) == 0)
			{
				CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
				flushed_n = l.n;
			}
			if (recycle && flushed_n > first && test_rng_below(&rng, 8) == 0)
			{
				size_t		k = first + (size_t) test_rng_below(&rng, flushed_n - first);

				CHECK_OK(lsm_xlog_remove_before(x, l.recs[k].start, &st), &st);
				first = first_kept(dir, &l);
			}
		}
		lsm_xlog_stats(x, &stats);
		recycled += stats.spares_recycled;
		CHECK(fault_env_crash(env) >= 0);
		lsm_xlog_close(x);

		/* at least the flushed records survive, and a prefix survives */
		e.next = first;
		e.limit = l.n;
		e.mismatch = false;
		CHECK_OK(lsm_xlog_open(env, dir, seg, expect_fn, &e, &x, &rep, &st), &st);
		CHECK(!e.mismatch && e.next >= flushed_n && !rep.corrupt);
		reclist_truncate(&l, e.next);
		lsm_xlog_close(x);
	}
	if (recycle)
	{
		printf("  %llu spares were recycled segments\n", (unsigned long long) recycled);
		CHECK(recycled > 10);
	}
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

static void
test_xlog_power_loss(void)
{
	power_loss_rounds("xlog power loss", "xlogcrash", false);
}

static void
test_xlog_recycle_power_loss(void)
{
	power_loss_rounds("xlog recycle power loss", "xlogrecyclecrash", true);
}

/*
 * Power loss in the middle of group commit: 8 threads append (half of them
 * writing their records outside the insert lock) and flush, and the power
 * goes off at a random moment.  Every record whose flush returned must be
 * there after the restart, in one prefix of the log.  The fault env undoes
 * what was written into the preallocated segments since their last sync,
 * and a sync covers only writes that returned before it began, so a flush
 * that did not wait for a record below its target loses it here.
 */
typedef struct PlThread
{
	GcShared   *g;
	uint32_t	id;
	pthread_t	thread;
	uint8_t		acked[GC_PER_THREAD];
} PlThread;

static void *
pl_thread(void *arg)
{
	PlThread   *t = arg;

	for (uint32_t i = 0; i < GC_PER_THREAD; i++)
	{
		uint8_t		payload[GC_PAYLOAD];
		uint64_t	start;
		uint64_t	end;
		LsmStatus	st;

		memset(payload, 0xdd, sizeof(payload));
		lsm_put_fixed32(payload + 16, t->id);
		lsm_put_fixed32(payload + 20, i);
		if (gc_append(t->g, t->id, payload, sizeof(payload), &start, &end, &st) != LSM_OK ||
			lsm_xlog_flush(t->g->x, end, &st) != LSM_OK)
			return NULL;		/* the power is off */
		__atomic_store_n(&t->acked[i], 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void
test_xlog_power_loss_concurrent(void)
{
	TestRng		rng = {test_seed("xlog power loss concurrent")};
	int			round;

	for (round = 0; round < 12; round++)
	{
		char		dir[256];
		LsmEnv	   *env = fault_env_new();
		LsmXlog    *x;
		LsmXlogReplayReport rep;
		LsmStatus	st;
		GcShared	g;
		PlThread   *t = calloc(GC_THREADS, sizeof(PlThread));
		GcReplay   *r = calloc(1, sizeof(GcReplay));
		uint64_t	acked = 0;
		uint64_t	seen = 0;
		int			lost;

		CHECK(env != NULL && t != NULL && r != NULL);
		fault_env_set_real_sync(env, false);
		test_tmpdir(dir, sizeof(dir), "xlogplc");
		/* small segments: switches, spares and finished segments too */
		CHECK_OK(lsm_xlog_open(env, dir, 8192, NULL, NULL, &x, &rep, &st), &st);
		memset(&g, 0, sizeof(g));
		g.x = x;
		for (int i = 0; i < GC_THREADS; i++)
		{
			t[i].g = &g;
			t[i].id = (uint32_t) i;
			CHECK(pthread_create(&t[i].thread, NULL, pl_thread, &t[i]) == 0);
		}
		if (round % 3 == 1)
			CHECK_OK(lsm_xlog_make_spare(x, &st), &st);
		/* the power goes off once a random number of commits returned */
		{
			uint64_t	want = 50 + test_rng_below(&rng, GC_THREADS * GC_PER_THREAD - 100);

			for (uint64_t done = 0; done < want;)
			{
				done = 0;
				for (int i = 0; i < GC_THREADS; i++)
					for (int j = 0; j < GC_PER_THREAD; j++)
						done += __atomic_load_n(&t[i].acked[j], __ATOMIC_ACQUIRE);
			}
		}
		lost = fault_env_crash(env);
		CHECK(lost >= 0);
		for (int i = 0; i < GC_THREADS; i++)
			pthread_join(t[i].thread, NULL);
		lsm_xlog_close(x);

		CHECK_OK(lsm_xlog_open(env, dir, 8192, gc_replay_fn, r, &x, &rep, &st), &st);
		CHECK(!r->bad);
		for (int i = 0; i < GC_THREADS; i++)
			for (int j = 0; j < GC_PER_THREAD; j++)
			{
				acked += t[i].acked[j];
				seen += r->seen[i][j];
				if (t[i].acked[j] && !r->seen[i][j])
				{
					fprintf(stderr, "  round %d: record %d/%d was flushed and is gone\n",
							round, i, j);
					CHECK(false);
				}
			}
		printf("  round %d: %llu records flushed before the power went off, %llu replayed\n",
			   round, (unsigned long long) acked, (unsigned long long) seen);
		CHECK(seen >= acked);
		lsm_xlog_close(x);
		free(t);
		free(r);
		fault_env_free(env);
		test_rmtree(dir);
	}
}

/*
 * Errors: refused arguments, a callback that fails (open returns its
 * error and the files stay as they were), files in the directory that are
 * not segments, a leftover temporary segment, a directory that is a file.
 */
static void
test_xlog_errors(void)
{
	TestRng		rng = {test_seed("xlog errors")};
	char		dir[256];
	char		path[300];
	char		other[512];
	LsmEnv	   *env = lsm_env_posix();
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;
	RecList		l = {0};
	Expect		e = {&l, 0, 0, false, 0, 0};
	int			i;

	test_tmpdir(dir, sizeof(dir), "xlogerr");
	CHECK(lsm_xlog_open(env, dir, 10, NULL, NULL, &x, &rep, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_xlog_open(env, "", 0, NULL, NULL, &x, &rep, &st) == LSM_INVALID_ARGUMENT);
	CHECK(list_starts(dir, (uint64_t[4]) {0}, 4) == 0);

	/* a directory created on the way, default segment size */
	snprintf(path, sizeof(path), "%s/a/wal", dir);
	CHECK(open_expect(env, path, 0, &l, 0, 0, &x, &rep));
	seg_path(path, 0, other, sizeof(other));
	CHECK(path_size(other) == LSM_XLOG_DEFAULT_SEGMENT);
	for (i = 0; i < 5; i++)
		CHECK(append_rec(x, &l, 30, &rng));
	CHECK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x) + 1, &st) == LSM_INVALID_ARGUMENT);
	CHECK_OK(lsm_xlog_flush(x, lsm_xlog_insert_lsn(x), &st), &st);
	lsm_xlog_close(x);

	/* strangers are left alone; a leftover temporary segment is removed */
	snprintf(other, sizeof(other), "%s/notes.txt", path);
	write_image(other, (const uint8_t *) "hi", 2);
	snprintf(other, sizeof(other), "%s/00000000000000ab.xlog", path);
	write_image(other, (const uint8_t *) "hi", 2);
	snprintf(other, sizeof(other), "%s/xlogtemp", path);
	write_image(other, (const uint8_t *) "hi", 2);

	/* the callback's error ends open, with its message */
	e.limit = l.n;
	e.fail_at = 3;
	CHECK(lsm_xlog_open(env, path, 0, expect_fn, &e, &x, &rep, &st) == LSM_BUSY);
	CHECK(strstr(st.msg, "refused") != NULL);
	CHECK(rep.records == 2);
	CHECK(open_expect(env, path, 0, &l, 0, l.n, NULL, &rep));
	CHECK(!rep.torn);
	snprintf(other, sizeof(other), "%s/notes.txt", path);
	CHECK(path_exists(other));
	snprintf(other, sizeof(other), "%s/00000000000000ab.xlog", path);
	CHECK(path_exists(other));
	snprintf(other, sizeof(other), "%s/xlogtemp", path);
	CHECK(!path_exists(other));

	/* a file where the directory should be */
	snprintf(other, sizeof(other), "%s/notes.txt", path);
	CHECK(lsm_xlog_open(env, other, 0, NULL, NULL, &x, &rep, &st) != LSM_OK);
	CHECK(strstr(st.msg, "notes.txt") != NULL);
	reclist_free(&l);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_xlog_format_bytes);
	RUN(test_xlog_round_trip);
	RUN(test_xlog_oversize);
	RUN(test_xlog_cut_anywhere);
	RUN(test_xlog_damage_anywhere);
	RUN(test_xlog_stale_data);
	RUN(test_xlog_durable_proof);
	RUN(test_xlog_unsynced_reorder);
	RUN(test_xlog_v1_records);
	RUN(test_xlog_remove_before);
	RUN(test_xlog_remove_keeps_pending);
	RUN(test_xlog_backup_copy);
	RUN(test_xlog_pending_limit);
	RUN(test_xlog_group_commit);
	RUN(test_xlog_sync_failure_is_sticky);
	RUN(test_xlog_no_space);
	RUN(test_xlog_segment_failures);
	RUN(test_xlog_partial_write);
	RUN(test_xlog_spare);
	RUN(test_xlog_write_outside);
	RUN(test_xlog_spare_race);
	RUN(test_xlog_power_loss);
	RUN(test_xlog_recycle);
	RUN(test_xlog_recycle_power_loss);
	RUN(test_xlog_recycle_unsynced_names);
	RUN(test_xlog_power_loss_concurrent);
	RUN(test_xlog_errors);
	return test_finish();
}
