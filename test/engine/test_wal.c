/*
 * test_wal.c
 *		Log files: record format, append/sync/replay round trips, and the
 *		crash properties recovery relies on: a log cut or damaged anywhere
 *		replays exactly the records before the damage, records of another
 *		log never validate, synced records survive power loss, and a full
 *		disk leaves the log usable.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "batch.h"
#include "fault_env.h"
#include "lsm.h"
#include "lsm_coding.h"
#include "lsm_crc32c.h"
#include "testutil.h"
#include "wal.h"

/* A record as appended, to compare replay against. */
typedef struct Rec
{
	uint8_t		type;
	uint8_t    *data;
	size_t		len;
	uint64_t	start;			/* log offset of its header */
	uint64_t	end;			/* log offset after it */
	bool		batch;			/* payload is a serialized write batch */
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
 * Append a record of len random bytes (or of the given bytes) and remember
 * it; 1 on success.
 */
static int
append_rec(LsmLogWriter *w, RecList *l, uint8_t type, const uint8_t *bytes,
		   size_t len, TestRng *rng)
{
	LsmStatus	st;
	Rec		   *r;
	uint64_t	start = lsm_log_size(w);
	uint64_t	end = 0;
	uint8_t    *data = malloc(len ? len : 1);
	LsmCode		rc;

	CHECK_RET(data != NULL, 0);
	if (bytes)
		memcpy(data, bytes, len);
	else
		fill_random(rng, data, len);
	rc = lsm_log_append(w, type, lsm_slice(data, len), &end, &st);
	if (rc != LSM_OK)
	{
		fprintf(stderr, "  append: %s\n", st.msg);
		free(data);
		CHECK_RET(rc == LSM_OK, 0);
	}
	CHECK_RET(end == start + LSM_LOG_HEADER + len, 0);
	CHECK_RET(lsm_log_size(w) == end, 0);
	r = reclist_add(l);
	r->type = type;
	r->data = data;
	r->len = len;
	r->start = start;
	r->end = end;
	return 1;
}

/* Replay callback state: compares each record with the expected list. */
typedef struct Expect
{
	const RecList *l;
	size_t		seen;
	bool		mismatch;
	bool		check_batch;	/* payloads are batches: validate them too */
	size_t		fail_at;		/* return LSM_BUSY at this record; 0 = never */
} Expect;

static LsmCode
expect_fn(void *arg, uint8_t type, LsmSlice payload, uint64_t end_pos,
		  LsmStatus *st)
{
	Expect	   *e = arg;
	const Rec  *r;

	if (e->fail_at != 0 && e->seen + 1 == e->fail_at)
		return lsm_status_set(st, LSM_BUSY, 0, "callback refused record %zu",
							  e->seen);
	if (e->seen >= e->l->n)
	{
		e->mismatch = true;
		e->seen++;
		return LSM_OK;
	}
	r = &e->l->recs[e->seen];
	if (type != r->type || end_pos != r->end ||
		!lsm_slice_eq(payload, lsm_slice(r->data, r->len)))
		e->mismatch = true;
	if (e->check_batch && r->batch && lsm_batch_validate(payload, st) != LSM_OK)
		e->mismatch = true;
	e->seen++;
	return LSM_OK;
}

/* Append raw bytes to a file, behind the log writer's back. */
static void
append_image(const char *path, const uint8_t *data, size_t len)
{
	FILE	   *f = fopen(path, "ab");

	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
	{
		perror(path);
		exit(2);
	}
}

/* Records whose end is at or before off. */
static size_t
records_before(const RecList *l, uint64_t off)
{
	size_t		i = 0;

	while (i < l->n && l->recs[i].end <= off)
		i++;
	return i;
}

/*
 * Replay path and check it yields exactly the first n_expect records of l;
 * returns the report through *rep.  1 on success.
 */
static int
replay_expect(LsmEnv *env, const char *path, uint64_t log_number,
			  const RecList *l, size_t n_expect, LsmLogReplayReport *rep)
{
	RecList		prefix = *l;
	Expect		e = {&prefix, 0, false, true, 0};
	LsmStatus	st;
	LsmCode		rc;

	prefix.n = n_expect;
	rc = lsm_log_replay(env, path, log_number, expect_fn, &e, rep, &st);
	if (rc != LSM_OK)
		fprintf(stderr, "  replay: %s\n", st.msg);
	CHECK_RET(rc == LSM_OK, 0);
	if (e.seen != n_expect || e.mismatch || rep->records != n_expect)
		fprintf(stderr, "  replay of %s: %zu records (report %llu), expected %zu, mismatch %d, reason \"%s\"\n",
				path, e.seen, (unsigned long long) rep->records, n_expect,
				(int) e.mismatch, rep->reason);
	CHECK_RET(e.seen == n_expect && !e.mismatch, 0);
	CHECK_RET(rep->records == n_expect, 0);
	CHECK_RET(rep->valid_bytes == (n_expect ? l->recs[n_expect - 1].end : 0), 0);
	CHECK_RET(rep->dropped_bytes == rep->file_bytes - rep->valid_bytes, 0);
	return 1;
}

static bool
any_nonzero(const uint8_t *p, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (p[i])
			return true;
	return false;
}

/*
 * The bytes of a record are exactly what docs/format.md says, with the CRC
 * computed independently here.
 */
static void
test_wal_format_bytes(void)
{
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmLogWriter *w;
	LsmStatus	st;
	uint64_t	end;
	uint8_t    *img;
	size_t		len;
	uint8_t		crcin[8 + 5 + 3];
	uint32_t	crc;

	test_tmpdir(dir, sizeof(dir), "walfmt");
	snprintf(path, sizeof(path), "%s/000123.log", dir);
	CHECK_OK(lsm_log_create(env, path, 123, &w, &st), &st);
	CHECK(lsm_log_number(w) == 123);
	CHECK(lsm_log_size(w) == 0 && lsm_log_synced(w) == 0);
	CHECK_OK(lsm_log_append(w, LSM_LOG_EDIT, lsm_slice("abc", 3), &end, &st), &st);
	CHECK(end == 12);
	CHECK_OK(lsm_log_append(w, LSM_LOG_BATCH, lsm_slice(NULL, 0), &end, &st), &st);
	CHECK(end == 21);
	CHECK_OK(lsm_log_close(w, &st), &st);

	img = read_image(path, &len);
	CHECK(len == 21);
	/* length and type */
	CHECK(lsm_get_fixed32(img + 4) == 3 && img[8] == LSM_LOG_EDIT);
	CHECK(memcmp(img + 9, "abc", 3) == 0);
	/* crc32c(fixed64 log_number || length || type || payload), masked */
	lsm_put_fixed64(crcin, 123);
	memcpy(crcin + 8, img + 4, 5);
	memcpy(crcin + 13, "abc", 3);
	crc = lsm_crc32c_mask(lsm_crc32c(crcin, sizeof(crcin)));
	CHECK(lsm_get_fixed32(img) == crc);
	/* the empty record */
	CHECK(lsm_get_fixed32(img + 16) == 0 && img[20] == LSM_LOG_BATCH);
	memcpy(crcin + 8, img + 16, 5);
	CHECK(lsm_get_fixed32(img + 12) == lsm_crc32c_mask(lsm_crc32c(crcin, 13)));
	free(img);
	test_rmtree(dir);
}

/* Records of many sizes, 0 bytes to 4 MiB, come back intact and in order. */
static void
test_wal_round_trip_sizes(void)
{
	static const size_t sizes[] = {
		0, 1, 2, 7, 8, 9, 10, 100, 255, 256, 4095, 4096, 4097, 65535, 65536,
		256 * 1024 - 9, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1,
		1024 * 1024, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024, 0, 3, 0
	};
	TestRng		rng = {test_seed("wal sizes")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	LsmLogReplayReport rep;
	size_t		i;
	uint64_t	total = 0;

	test_tmpdir(dir, sizeof(dir), "walsizes");
	snprintf(path, sizeof(path), "%s/000001.log", dir);
	CHECK_OK(lsm_log_create(env, path, 1, &w, &st), &st);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
	{
		CHECK(append_rec(w, &l, (i % 3 == 0) ? LSM_LOG_EDIT : LSM_LOG_BATCH,
						 NULL, sizes[i], &rng));
		total += LSM_LOG_HEADER + sizes[i];
	}
	/* and a run of random sizes that straddle the reader's chunks */
	for (i = 0; i < 300; i++)
	{
		size_t		sz = test_rng_below(&rng, 10) == 0 ? test_rng_below(&rng, 700000) :
			test_rng_below(&rng, 3000);

		CHECK(append_rec(w, &l, LSM_LOG_EDIT, NULL, sz, &rng));
		total += LSM_LOG_HEADER + sz;
	}
	CHECK(lsm_log_size(w) == total);
	CHECK_OK(lsm_log_sync(w, lsm_log_size(w), &st), &st);
	CHECK(lsm_log_synced(w) == total);
	CHECK_OK(lsm_log_close(w, &st), &st);

	CHECK(replay_expect(env, path, 1, &l, l.n, &rep));
	CHECK(!rep.torn && rep.dropped_bytes == 0 && rep.file_bytes == total);
	CHECK(rep.reason[0] == '\0');
	/* a NULL report is allowed */
	{
		Expect		e = {&l, 0, false, false, 0};

		CHECK_OK(lsm_log_replay(env, path, 1, expect_fn, &e, NULL, &st), &st);
		CHECK(e.seen == l.n && !e.mismatch);
	}
	/* an empty log replays to nothing, cleanly */
	snprintf(path, sizeof(path), "%s/000002.log", dir);
	CHECK_OK(lsm_log_create(env, path, 2, &w, &st), &st);
	CHECK_OK(lsm_log_close(w, &st), &st);
	{
		RecList		none = {0};

		CHECK(replay_expect(env, path, 2, &none, 0, &rep));
		CHECK(!rep.torn && rep.file_bytes == 0);
	}
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Write n random write batches (and a few edits) to a new log at path,
 * including a few large ones that cross read chunks.
 */
static int
write_batches(LsmEnv *env, const char *path, uint64_t log_number, int n,
			  TestRng *rng, RecList *l)
{
	LsmLogWriter *w;
	LsmStatus	st;
	LsmBatch   *b = lsm_batch_create();
	LsmSeq		seq = 1;
	int			i;

	CHECK_RET(b != NULL, 0);
	CHECK_RET(lsm_log_create(env, path, log_number, &w, &st) == LSM_OK, 0);
	for (i = 0; i < n; i++)
	{
		int			entries = 1 + (int) test_rng_below(rng, 8);
		bool		big = test_rng_below(rng, 25) == 0;
		int			k;

		lsm_batch_clear(b);
		for (k = 0; k < entries; k++)
		{
			uint8_t		key[24];
			size_t		klen = 1 + test_rng_below(rng, sizeof(key));
			size_t		vlen = big ? test_rng_below(rng, 300000) : test_rng_below(rng, 200);
			uint8_t    *val = malloc(vlen + 1);
			uint64_t	kind = test_rng_below(rng, 3);

			CHECK_RET(val != NULL, 0);
			fill_random(rng, key, klen);
			fill_random(rng, val, vlen);
			if (kind == 0)
				CHECK_RET(lsm_batch_delete(b, lsm_slice(key, klen), &st) == LSM_OK, 0);
			else if (kind == 1)
				CHECK_RET(lsm_batch_put(b, lsm_slice(key, klen), lsm_slice(val, vlen), &st) == LSM_OK, 0);
			else
				CHECK_RET(lsm_batch_merge(b, lsm_slice(key, klen), lsm_slice(val, vlen), &st) == LSM_OK, 0);
			free(val);
		}
		lsm_batch_set_seq(b, seq);
		seq += lsm_batch_count(b);
		if (test_rng_below(rng, 10) == 0)
			CHECK_RET(append_rec(w, l, LSM_LOG_EDIT, NULL, test_rng_below(rng, 50), rng), 0);
		CHECK_RET(append_rec(w, l, LSM_LOG_BATCH, lsm_batch_contents(b).data,
							 lsm_batch_contents(b).len, rng), 0);
		l->recs[l->n - 1].batch = true;
		if (test_rng_below(rng, 4) == 0)
			CHECK_RET(lsm_log_sync(w, lsm_log_size(w), &st) == LSM_OK, 0);
	}
	CHECK_RET(lsm_log_sync(w, lsm_log_size(w), &st) == LSM_OK, 0);
	CHECK_RET(lsm_log_close(w, &st) == LSM_OK, 0);
	lsm_batch_destroy(b);
	return 1;
}

/*
 * A log cut at any offset replays exactly the records wholly before the
 * cut, and says how much it dropped.
 */
static void
test_wal_cut_anywhere(void)
{
	TestRng		rng = {test_seed("wal cut")};
	char		dir[256];
	char		path[300];
	char		cutpath[300];
	LsmEnv	   *env = lsm_env_posix();
	RecList		l = {0};
	uint8_t    *img;
	size_t		len;
	int			i;
	int			torn_seen = 0;

	test_tmpdir(dir, sizeof(dir), "walcut");
	snprintf(path, sizeof(path), "%s/000007.log", dir);
	snprintf(cutpath, sizeof(cutpath), "%s/cut.log", dir);
	CHECK(write_batches(env, path, 7, 80, &rng, &l));
	img = read_image(path, &len);
	CHECK(len == l.recs[l.n - 1].end);

	/* every record boundary and its neighbours, then random offsets */
	for (i = 0; i < (int) (3 * l.n + 400); i++)
	{
		uint64_t	cut;
		size_t		n;
		uint64_t	boundary;
		LsmLogReplayReport rep;
		bool		torn;

		if (i < (int) (3 * l.n))
		{
			cut = l.recs[i / 3].end + (i % 3) - 1;
			if (cut > len)
				continue;
		}
		else
			cut = test_rng_below(&rng, len + 1);
		n = records_before(&l, cut);
		boundary = n ? l.recs[n - 1].end : 0;
		write_image(cutpath, img, cut);
		CHECK(replay_expect(env, cutpath, 7, &l, n, &rep));
		CHECK(rep.file_bytes == cut);
		CHECK(rep.dropped_bytes == cut - boundary);
		/* a cut tail is torn, unless what is left of the record is all zero */
		torn = any_nonzero(img + boundary, cut - boundary);
		CHECK(rep.torn == torn);
		CHECK(!torn || rep.reason[0] != '\0');
		torn_seen += torn;
	}
	CHECK(torn_seen > 300);
	free(img);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * A byte flipped (or a run of bytes overwritten) anywhere stops replay at
 * the damaged record: exactly the records before it are returned, and the
 * rest is reported as dropped.
 */
static void
test_wal_damage_anywhere(void)
{
	TestRng		rng = {test_seed("wal damage")};
	char		dir[256];
	char		path[300];
	char		badpath[300];
	LsmEnv	   *env = lsm_env_posix();
	RecList		l = {0};
	uint8_t    *img;
	uint8_t    *bad;
	size_t		len;
	int			i;

	test_tmpdir(dir, sizeof(dir), "waldmg");
	snprintf(path, sizeof(path), "%s/000009.log", dir);
	snprintf(badpath, sizeof(badpath), "%s/bad.log", dir);
	CHECK(write_batches(env, path, 9, 60, &rng, &l));
	img = read_image(path, &len);
	bad = malloc(len);
	CHECK(bad != NULL);

	for (i = 0; i < 600; i++)
	{
		uint64_t	first;
		size_t		k;
		LsmLogReplayReport rep;

		memcpy(bad, img, len);
		if (i % 3 != 2)
		{
			/* one byte, biased towards headers half of the time */
			if (i % 2 == 0)
			{
				const Rec  *r = &l.recs[test_rng_below(&rng, l.n)];

				first = r->start + test_rng_below(&rng, LSM_LOG_HEADER);
			}
			else
				first = test_rng_below(&rng, len);
			bad[first] ^= (uint8_t) (1 + test_rng_below(&rng, 255));
		}
		else
		{
			/* a run of garbage, as a misdirected write leaves */
			uint64_t	off = test_rng_below(&rng, len);
			size_t		run = 1 + test_rng_below(&rng, 5000);
			size_t		j;

			if (run > len - off)
				run = len - off;
			fill_random(&rng, bad + off, run);
			for (j = 0; j < run && bad[off + j] == img[off + j]; j++)
				;
			if (j == run)
				continue;		/* the garbage happened to match */
			first = off + j;
		}
		k = records_before(&l, first);
		write_image(badpath, bad, len);
		CHECK(replay_expect(env, badpath, 9, &l, k, &rep));
		CHECK(rep.torn);
		CHECK(rep.valid_bytes == l.recs[k].start);
		CHECK(rep.dropped_bytes == len - l.recs[k].start);
		CHECK(rep.reason[0] != '\0');
	}
	free(bad);
	free(img);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Records written under one log number never validate under another, so
 * the left-over contents of a recycled or renamed file are not replayed.
 */
static void
test_wal_other_log_number(void)
{
	TestRng		rng = {test_seed("wal log number")};
	char		dir[256];
	char		old_path[300];
	char		new_path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		old_recs = {0};
	RecList		new_recs = {0};
	LsmLogReplayReport rep;
	uint8_t    *old_img;
	uint8_t    *new_img;
	size_t		old_len;
	size_t		new_len;
	uint8_t		payload[100];
	int			i;

	test_tmpdir(dir, sizeof(dir), "walnum");
	snprintf(old_path, sizeof(old_path), "%s/000007.log", dir);
	snprintf(new_path, sizeof(new_path), "%s/000008.log", dir);
	fill_random(&rng, payload, sizeof(payload));

	/* the same payloads at the same offsets in logs 7 and 8 */
	CHECK_OK(lsm_log_create(env, old_path, 7, &w, &st), &st);
	for (i = 0; i < 10; i++)
		CHECK(append_rec(w, &old_recs, LSM_LOG_BATCH, payload, 10 * i, &rng));
	CHECK_OK(lsm_log_close(w, &st), &st);
	CHECK_OK(lsm_log_create(env, new_path, 8, &w, &st), &st);
	for (i = 0; i < 3; i++)
		CHECK(append_rec(w, &new_recs, LSM_LOG_BATCH, payload, 10 * i, &rng));
	CHECK_OK(lsm_log_close(w, &st), &st);

	/* only the CRCs differ */
	old_img = read_image(old_path, &old_len);
	new_img = read_image(new_path, &new_len);
	for (i = 0; i < 3; i++)
	{
		const Rec  *r = &new_recs.recs[i];

		CHECK(memcmp(old_img + r->start, new_img + r->start, 4) != 0);
		CHECK(memcmp(old_img + r->start + 4, new_img + r->start + 4,
					 r->end - r->start - 4) == 0);
	}

	/* log 7's file read as log 8: nothing validates */
	CHECK(replay_expect(env, old_path, 8, &old_recs, 0, &rep));
	CHECK(rep.torn && rep.dropped_bytes == old_len);
	CHECK(strstr(rep.reason, "checksum") != NULL);

	/* log 8 followed by the rest of log 7, as a reused file would be */
	append_image(new_path, old_img + new_len, old_len - new_len);
	CHECK(replay_expect(env, new_path, 8, &new_recs, 3, &rep));
	CHECK(rep.torn && rep.valid_bytes == new_len);
	CHECK(rep.dropped_bytes == old_len - new_len);
	/* and read as log 7, log 8's own records are the strangers */
	CHECK(replay_expect(env, new_path, 7, &old_recs, 0, &rep));
	CHECK(rep.torn && rep.dropped_bytes == old_len);

	free(old_img);
	free(new_img);
	reclist_free(&old_recs);
	reclist_free(&new_recs);
	test_rmtree(dir);
}

/*
 * Zero bytes after the last record (preallocated, or extended but never
 * written) are a clean end; zeros followed by data are not.
 */
static void
test_wal_zero_tail(void)
{
	TestRng		rng = {test_seed("wal zero tail")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	LsmLogReplayReport rep;
	uint64_t	end;
	int			i;

	test_tmpdir(dir, sizeof(dir), "walzero");
	snprintf(path, sizeof(path), "%s/000003.log", dir);
	CHECK_OK(lsm_log_create(env, path, 3, &w, &st), &st);
	for (i = 0; i < 5; i++)
		CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 100 + i, &rng));
	CHECK_OK(lsm_log_close(w, &st), &st);
	end = l.recs[4].end;

	CHECK(truncate(path, (off_t) (end + 5)) == 0);
	CHECK(replay_expect(env, path, 3, &l, 5, &rep));
	CHECK(!rep.torn && rep.dropped_bytes == 5);

	CHECK(truncate(path, (off_t) (end + 600000)) == 0);
	CHECK(replay_expect(env, path, 3, &l, 5, &rep));
	CHECK(!rep.torn && rep.dropped_bytes == 600000);
	CHECK(strstr(rep.reason, "zero") != NULL);

	/* a zero header with data after it is damage */
	append_image(path, (const uint8_t *) "x", 1);
	CHECK(replay_expect(env, path, 3, &l, 5, &rep));
	CHECK(rep.torn && rep.dropped_bytes == 600001);
	CHECK(strstr(rep.reason, "zero header") != NULL);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Sync is skipped when the position is already durable, refuses positions
 * past the end, and covers everything written so far.
 */
static void
test_wal_sync_positions(void)
{
	TestRng		rng = {test_seed("wal sync")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = fault_env_new();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	e1;
	uint64_t	e3;

	CHECK(env != NULL);
	test_tmpdir(dir, sizeof(dir), "walsync");
	snprintf(path, sizeof(path), "%s/000004.log", dir);
	CHECK_OK(lsm_log_create(env, path, 4, &w, &st), &st);
	CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 50, &rng));
	e1 = l.recs[0].end;
	CHECK(lsm_log_synced(w) == 0);
	CHECK(fault_env_synced_size(env, path) == 0);
	CHECK_OK(lsm_log_sync(w, e1, &st), &st);
	CHECK(lsm_log_synced(w) == e1);
	CHECK(fault_env_synced_size(env, path) == (int64_t) e1);

	/* already durable: no fsync is issued, so an armed fault does not fire */
	fault_env_fail_writes_after(env, 1, EIO);
	CHECK_OK(lsm_log_sync(w, e1, &st), &st);
	CHECK_OK(lsm_log_sync(w, 0, &st), &st);
	CHECK(fault_env_injected(env) == 0);
	fault_env_heal(env);

	CHECK(lsm_log_sync(w, e1 + 1, &st) == LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, path) != NULL);

	CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 60, &rng));
	CHECK(append_rec(w, &l, LSM_LOG_EDIT, NULL, 70, &rng));
	e3 = l.recs[2].end;
	/* a sync for the second record covers the third too */
	CHECK_OK(lsm_log_sync(w, l.recs[1].end, &st), &st);
	CHECK(lsm_log_synced(w) == e3);
	CHECK(fault_env_synced_size(env, path) == (int64_t) e3);
	CHECK_OK(lsm_log_close(w, &st), &st);
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * After a failed fsync the writer refuses to go on: a retried fsync could
 * report success for pages the kernel already dropped.
 */
static void
test_wal_sync_failure_is_sticky(void)
{
	TestRng		rng = {test_seed("wal sync failure")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = fault_env_new();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	uint64_t	end;

	CHECK(env != NULL);
	test_tmpdir(dir, sizeof(dir), "walsyncfail");
	snprintf(path, sizeof(path), "%s/000005.log", dir);
	CHECK_OK(lsm_log_create(env, path, 5, &w, &st), &st);
	CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 50, &rng));
	fault_env_fail_writes_after(env, 1, EIO);
	CHECK(lsm_log_sync(w, l.recs[0].end, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, path) != NULL);
	fault_env_heal(env);
	CHECK(lsm_log_synced(w) == 0);
	CHECK(lsm_log_sync(w, l.recs[0].end, &st) == LSM_IO_ERROR);
	CHECK(strstr(st.msg, "unusable") != NULL);
	CHECK(lsm_log_append(w, LSM_LOG_BATCH, lsm_slice("x", 1), &end, &st) == LSM_IO_ERROR);
	CHECK(lsm_log_size(w) == l.recs[0].end);
	CHECK_OK(lsm_log_close(w, &st), &st);
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * Power loss: records appended but not synced may vanish, synced ones must
 * survive, and what survives is a prefix.  The log can then be reopened
 * after its valid prefix and written on.
 */
static void
test_wal_power_loss(void)
{
	TestRng		rng = {test_seed("wal power loss")};
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	int			round;

	CHECK(env != NULL);
	test_tmpdir(dir, sizeof(dir), "walcrash");
	for (round = 0; round < 30; round++)
	{
		char		path[300];
		LsmLogWriter *w;
		LsmStatus	st;
		RecList		l = {0};
		LsmLogReplayReport rep;
		size_t		synced_n = 0;
		int			n = 1 + (int) test_rng_below(&rng, 40);
		int			i;
		int			life;

		snprintf(path, sizeof(path), "%s/%06d.log", dir, round + 1);
		CHECK_OK(lsm_log_create(env, path, round + 1, &w, &st), &st);
		for (life = 0; life < 3; life++)
		{
			for (i = 0; i < n; i++)
			{
				size_t		sz = test_rng_below(&rng, 8) == 0 ?
					test_rng_below(&rng, 100000) : test_rng_below(&rng, 300);

				CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, sz, &rng));
				if (test_rng_below(&rng, 5) == 0)
				{
					/* sync for an earlier record: covers all written so far */
					size_t		j = synced_n + test_rng_below(&rng, l.n - synced_n);

					CHECK_OK(lsm_log_sync(w, l.recs[j].end, &st), &st);
					synced_n = l.n;
				}
			}
			CHECK(fault_env_crash(env) >= 0);
			/* the dead machine's handle refuses everything but close */
			CHECK(lsm_log_append(w, LSM_LOG_BATCH, lsm_slice("x", 1), NULL, &st) != LSM_OK);
			lsm_log_close(w, &st);

			/* this fault env drops every unsynced byte, so exactly synced_n survive */
			CHECK(replay_expect(env, path, round + 1, &l, synced_n, &rep));
			CHECK(!rep.torn);
			while (l.n > synced_n)
				free(l.recs[--l.n].data);

			/* reopen after the valid prefix and go on writing */
			CHECK_OK(lsm_log_reopen(env, path, round + 1, rep.valid_bytes, &w, &st), &st);
			CHECK(lsm_log_size(w) == rep.valid_bytes);
			CHECK(lsm_log_synced(w) == rep.valid_bytes);
		}
		CHECK_OK(lsm_log_close(w, &st), &st);
		reclist_free(&l);
	}
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * A full disk fails the append with LSM_NO_SPACE and the path in the
 * message; the log stays usable and replays exactly the records whose
 * appends succeeded.
 */
static void
test_wal_no_space(void)
{
	TestRng		rng = {test_seed("wal enospc")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = fault_env_new();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	LsmLogReplayReport rep;
	uint64_t	size;
	uint64_t	end = 0;
	uint8_t		junk[1000];
	int			i;

	CHECK(env != NULL);
	fill_random(&rng, junk, sizeof(junk));
	test_tmpdir(dir, sizeof(dir), "walnospc");
	snprintf(path, sizeof(path), "%s/000006.log", dir);
	CHECK_OK(lsm_log_create(env, path, 6, &w, &st), &st);
	for (i = 0; i < 3; i++)
		CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 200, &rng));
	CHECK_OK(lsm_log_sync(w, lsm_log_size(w), &st), &st);

	/* one failed append */
	size = lsm_log_size(w);
	fault_env_fail_writes_after(env, 1, ENOSPC);
	CHECK(lsm_log_append(w, LSM_LOG_BATCH, lsm_slice(junk, sizeof(junk)), &end, &st) ==
		  LSM_NO_SPACE);
	CHECK(strstr(st.msg, path) != NULL);
	CHECK(st.sys_errno == ENOSPC);
	CHECK(lsm_log_size(w) == size && end == 0);
	CHECK(append_rec(w, &l, LSM_LOG_EDIT, NULL, 300, &rng));

	/* a disk that stays full, then space comes back */
	fault_env_fail_writes_from(env, 1, ENOSPC);
	for (i = 0; i < 3; i++)
		CHECK(lsm_log_append(w, LSM_LOG_BATCH, lsm_slice(junk, 10 * i), NULL, &st) ==
			  LSM_NO_SPACE);
	fault_env_heal(env);
	CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 400, &rng));
	CHECK_OK(lsm_log_sync(w, lsm_log_size(w), &st), &st);
	CHECK_OK(lsm_log_close(w, &st), &st);

	CHECK(replay_expect(env, path, 6, &l, l.n, &rep));
	CHECK(!rep.torn && rep.dropped_bytes == 0);
	reclist_free(&l);
	fault_env_free(env);
	test_rmtree(dir);
}

/*
 * A write that fails half-way (some filesystems report ENOSPC after a short
 * write) must not leave the half record where the next one would follow
 * it.  This env writes the first half of an armed write, then fails; its
 * truncate can be made to fail as well.
 */
static LsmEnv partial_env;
static bool partial_armed;
static bool partial_truncate_fails;

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

static LsmCode
partial_truncate(LsmFile *f, uint64_t size, LsmStatus *st)
{
	if (partial_truncate_fails)
		return lsm_status_errno(st, EIO, "could not truncate (partial test)");
	return lsm_env_posix()->truncate(f, size, st);
}

static void
test_wal_partial_write(void)
{
	TestRng		rng = {test_seed("wal partial write")};
	char		dir[256];
	char		path[300];
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	LsmLogReplayReport rep;
	uint8_t		junk[4000];
	struct stat sb;

	partial_env = *lsm_env_posix();
	partial_env.write_at = partial_write_at;
	partial_env.truncate = partial_truncate;
	fill_random(&rng, junk, sizeof(junk));
	test_tmpdir(dir, sizeof(dir), "walpartial");
	snprintf(path, sizeof(path), "%s/000010.log", dir);
	CHECK_OK(lsm_log_create(&partial_env, path, 10, &w, &st), &st);
	CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 100, &rng));

	/* the half record is cut off again */
	partial_armed = true;
	CHECK(lsm_log_append(w, LSM_LOG_BATCH, lsm_slice(junk, sizeof(junk)), NULL, &st) ==
		  LSM_NO_SPACE);
	CHECK(stat(path, &sb) == 0 && (uint64_t) sb.st_size == lsm_log_size(w));
	CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 10, &rng));
	CHECK(replay_expect(&partial_env, path, 10, &l, 2, &rep));
	CHECK(!rep.torn);

	/* when it cannot be cut off, replay still returns exactly the good records */
	partial_armed = true;
	partial_truncate_fails = true;
	CHECK(lsm_log_append(w, LSM_LOG_BATCH, lsm_slice(junk, sizeof(junk)), NULL, &st) ==
		  LSM_NO_SPACE);
	partial_truncate_fails = false;
	CHECK(append_rec(w, &l, LSM_LOG_EDIT, NULL, 10, &rng));
	CHECK(replay_expect(&partial_env, path, 10, &l, 3, &rep));
	CHECK(rep.torn && rep.dropped_bytes > 0);
	/* and later records that overwrite the leftovers are replayed too */
	CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 3000, &rng));
	CHECK(replay_expect(&partial_env, path, 10, &l, 4, &rep));
	CHECK_OK(lsm_log_close(w, &st), &st);
	reclist_free(&l);
	test_rmtree(dir);
}

/* Reopening cuts a torn tail off, so new records follow the valid prefix. */
static void
test_wal_reopen(void)
{
	TestRng		rng = {test_seed("wal reopen")};
	char		dir[256];
	char		path[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	LsmLogReplayReport rep;
	uint8_t		junk[77];

	fill_random(&rng, junk, sizeof(junk));
	junk[0] |= 1;
	test_tmpdir(dir, sizeof(dir), "walreopen");
	snprintf(path, sizeof(path), "%s/000011.log", dir);
	CHECK_OK(lsm_log_create(env, path, 11, &w, &st), &st);
	CHECK(append_rec(w, &l, LSM_LOG_EDIT, NULL, 100, &rng));
	CHECK(append_rec(w, &l, LSM_LOG_EDIT, NULL, 0, &rng));
	CHECK_OK(lsm_log_close(w, &st), &st);
	append_image(path, junk, sizeof(junk));

	CHECK(replay_expect(env, path, 11, &l, 2, &rep));
	CHECK(rep.torn && rep.dropped_bytes == sizeof(junk));
	CHECK(lsm_log_reopen(env, path, 11, rep.file_bytes + 1, &w, &st) == LSM_CORRUPTION);
	CHECK_OK(lsm_log_reopen(env, path, 11, rep.valid_bytes, &w, &st), &st);
	CHECK(lsm_log_size(w) == l.recs[1].end && lsm_log_synced(w) == l.recs[1].end);
	CHECK(append_rec(w, &l, LSM_LOG_EDIT, NULL, 5, &rng));
	CHECK_OK(lsm_log_close(w, &st), &st);
	CHECK(replay_expect(env, path, 11, &l, 3, &rep));
	CHECK(!rep.torn && rep.dropped_bytes == 0);
	reclist_free(&l);
	test_rmtree(dir);
}

/*
 * Errors: refused arguments, an existing file, a missing one, a callback
 * that fails, and a well-formed record of a type this code does not know.
 */
static void
test_wal_errors(void)
{
	TestRng		rng = {test_seed("wal errors")};
	char		dir[256];
	char		path[300];
	char		missing[300];
	LsmEnv	   *env = lsm_env_posix();
	LsmLogWriter *w;
	LsmStatus	st;
	RecList		l = {0};
	LsmLogReplayReport rep;
	static const uint8_t dummy[1];
	uint8_t		rec[LSM_LOG_HEADER + 4];
	uint8_t		crcin[8 + 5 + 4];
	Expect		e = {&l, 0, false, false, 0};
	int			i;

	test_tmpdir(dir, sizeof(dir), "walerr");
	snprintf(path, sizeof(path), "%s/000012.log", dir);
	snprintf(missing, sizeof(missing), "%s/000099.log", dir);
	CHECK_OK(lsm_log_create(env, path, 12, &w, &st), &st);
	CHECK(lsm_log_append(w, 0, lsm_slice("x", 1), NULL, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_log_append(w, 3, lsm_slice("x", 1), NULL, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_log_append(w, LSM_LOG_BATCH,
						 lsm_slice(dummy, (size_t) LSM_LOG_MAX_RECORD + 1), NULL, &st) ==
		  LSM_INVALID_ARGUMENT);
	CHECK(strstr(st.msg, path) != NULL);
	CHECK(lsm_log_size(w) == 0);
	for (i = 0; i < 5; i++)
		CHECK(append_rec(w, &l, LSM_LOG_BATCH, NULL, 20, &rng));
	CHECK_OK(lsm_log_close(w, &st), &st);

	/* creating over an existing log fails and leaves it alone */
	CHECK(lsm_log_create(env, path, 12, &w, &st) != LSM_OK);
	CHECK(strstr(st.msg, path) != NULL);
	CHECK(replay_expect(env, path, 12, &l, 5, &rep));

	CHECK(lsm_log_replay(env, missing, 99, expect_fn, &e, &rep, &st) != LSM_OK);
	CHECK(strstr(st.msg, missing) != NULL);

	/* the callback's error stops replay and is returned */
	memset(&e, 0, sizeof(e));
	e.l = &l;
	e.fail_at = 3;
	CHECK(lsm_log_replay(env, path, 12, expect_fn, &e, &rep, &st) == LSM_BUSY);
	CHECK(strstr(st.msg, "refused") != NULL);
	CHECK(rep.records == 2 && rep.valid_bytes == l.recs[1].end);

	/* a record with a valid CRC but an unknown type ends the replay */
	lsm_put_fixed32(rec + 4, 4);
	rec[8] = 77;
	memcpy(rec + 9, "abcd", 4);
	lsm_put_fixed64(crcin, 12);
	memcpy(crcin + 8, rec + 4, 5);
	memcpy(crcin + 13, "abcd", 4);
	lsm_put_fixed32(rec, lsm_crc32c_mask(lsm_crc32c(crcin, sizeof(crcin))));
	append_image(path, rec, sizeof(rec));
	CHECK(replay_expect(env, path, 12, &l, 5, &rep));
	CHECK(rep.torn && rep.dropped_bytes == sizeof(rec));
	CHECK(strstr(rep.reason, "type 77") != NULL);
	reclist_free(&l);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_wal_format_bytes);
	RUN(test_wal_round_trip_sizes);
	RUN(test_wal_cut_anywhere);
	RUN(test_wal_damage_anywhere);
	RUN(test_wal_other_log_number);
	RUN(test_wal_zero_tail);
	RUN(test_wal_sync_positions);
	RUN(test_wal_sync_failure_is_sticky);
	RUN(test_wal_power_loss);
	RUN(test_wal_no_space);
	RUN(test_wal_partial_write);
	RUN(test_wal_reopen);
	RUN(test_wal_errors);
	return test_finish();
}
