/*
 * test_waits.c
 *		Every engine wait goes through the env's wait hook (lsm_env.h), and a
 *		hook that ends a wait ends the engine call cleanly: the call returns
 *		the hook's code, no lock is left held, nothing of the batch is
 *		applied, and the same call succeeds once the hook lets it wait.
 *
 * One test per wait: a writer waiting for memtable room (background
 * flush), a writer in a write stop (background) and in a slowdown
 * (synchronous flush), lsm_db_flush with a full region pool (the endless
 * flush of a server whose pool is full of other tables' memtables), and a
 * manual compaction whose files a running compaction holds.
 */
#include "testutil.h"

#include "lsm.h"

/* An env that is the POSIX env with a counting wait hook. */
typedef struct HookEnv
{
	LsmEnv		env;			/* first: LsmEnv * is HookEnv * */
	int			calls[LSM_WAIT_KINDS];
	int			total;
	int			fail_at;		/* fail the fail_at-th call; 0: never */
	LsmCode		fail_code;
} HookEnv;

static LsmCode
hook_wait(LsmEnv *env, LsmWaitKind kind, uint64_t micros, LsmStatus *st)
{
	HookEnv    *h = (HookEnv *) env;

	if ((int) kind >= 0 && kind < LSM_WAIT_KINDS)
		h->calls[kind]++;
	h->total++;
	if (h->fail_at > 0 && h->total == h->fail_at)
		return lsm_status_set(st, h->fail_code, 0, "wait ended by the hook");
	env->sleep_micros(env, micros);
	return LSM_OK;
}

static void
hook_env_init(HookEnv *h, int fail_at, LsmCode code)
{
	memset(h, 0, sizeof(*h));
	h->env = *lsm_env_posix();
	h->env.wait = hook_wait;
	h->fail_at = fail_at;
	h->fail_code = code;
}

/* Let the hook wait from now on, counting afresh. */
static void
hook_allow(HookEnv *h)
{
	memset(h->calls, 0, sizeof(h->calls));
	h->total = 0;
	h->fail_at = 0;
}

static LsmSlice
str_slice(const char *s)
{
	return lsm_slice(s, strlen(s));
}

static void
key_value(int i, char *k, size_t klen, char *v, size_t vlen)
{
	snprintf(k, klen, "key%05d", i);
	snprintf(v, vlen, "%0150d", i);
}

/* Write key i at seq (write_at) or through the WAL (seq 0). */
/* Write key i at seq (0: lsm_db_write); try: lsm_db_try_write_at. */
static LsmCode
write_key_how(LsmDb *db, int i, LsmSeq seq, bool try, LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	char		k[32];
	char		v[200];
	LsmCode		rc;

	key_value(i, k, sizeof(k), v, sizeof(v));
	rc = lsm_batch_put(b, str_slice(k), str_slice(v), st);
	if (rc == LSM_OK && try)
		rc = lsm_db_try_write_at(db, lsm_batch_contents(b), seq, st);
	else if (rc == LSM_OK)
		rc = seq > 0 ? lsm_db_write_at(db, lsm_batch_contents(b), seq, st)
			: lsm_db_write(db, b, st);
	lsm_batch_destroy(b);
	return rc;
}

static LsmCode
write_key(LsmDb *db, int i, LsmSeq seq, LsmStatus *st)
{
	return write_key_how(db, i, seq, false, st);
}

static LsmCode
try_write_key(LsmDb *db, int i, LsmSeq seq, LsmStatus *st)
{
	return write_key_how(db, i, seq, true, st);
}

/* Whether key i holds its value (want) or is absent (!want). */
static int
key_present(LsmDb *db, int i)
{
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	char		k[32];
	char		want[200];
	LsmCode		rc;
	int			ok;

	key_value(i, k, sizeof(k), want, sizeof(want));
	rc = lsm_db_get(db, NULL, str_slice(k), &v, &st);
	ok = rc == LSM_OK && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0;
	lsm_buf_free(&v);
	return ok;
}

static void
options_for(LsmOptions *o, HookEnv *h, bool background)
{
	lsm_options_init(o);
	o->env = &h->env;
	o->write_buffer_size = 4096;	/* ~25 entries of ~160 bytes */
	o->compression = LSM_COMPRESSION_NONE;
	if (background)
	{
		o->external_wal = true;
		o->background_flush = true;
		o->auto_compact = false;
	}
}

/*
 * Background flush, nobody flushing: the writer waits for memtable room
 * once LSM_MAX_IMM memtables are frozen, and the hook ends that wait.
 */
static void
test_memtable_room_wait_ends(void)
{
	char		dir[256];
	HookEnv		h;
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;
	LsmCode		rc = LSM_OK;
	bool		did;
	int			i;

	hook_env_init(&h, 3, LSM_INTERRUPTED);
	test_tmpdir(dir, sizeof(dir), "wait_room");
	options_for(&o, &h, true);
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (i = 0; i < 1000; i++)
		if ((rc = write_key(db, i, (LsmSeq) i + 1, &st)) != LSM_OK)
			break;
	CHECK(rc == LSM_INTERRUPTED);
	CHECK(strstr(st.msg, "wait ended by the hook") != NULL);
	CHECK(h.calls[LSM_WAIT_MEMTABLE_ROOM] == 3);
	CHECK(h.total == 3);
	lsm_db_stats(db, &stats);
	CHECK(stats.imm_memtables == 4);
	/* nothing of the failed batch is applied or numbered */
	CHECK(lsm_db_last_seq(db) == (LsmSeq) i);
	CHECK(!key_present(db, i));
	CHECK(key_present(db, i - 1));

	/* no lock is left held: a worker flushes, the same write goes through */
	CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	CHECK(did);
	hook_allow(&h);
	CHECK_OK(write_key(db, i, (LsmSeq) i + 1, &st), &st);
	CHECK(key_present(db, i));
	CHECK(lsm_db_last_seq(db) == (LsmSeq) i + 1);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Background flush, a write stop: the writer waits for a compaction, and
 * the hook's timeout ends the wait.
 */
static void
test_write_stop_wait_ends(void)
{
	char		dir[256];
	HookEnv		h;
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;
	LsmCode		rc = LSM_OK;
	bool		did;
	int			i;

	hook_env_init(&h, 1, LSM_TIMED_OUT);
	test_tmpdir(dir, sizeof(dir), "wait_stop");
	options_for(&o, &h, true);
	o.l0_compaction_trigger = 2;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 3;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (i = 0; i < 1000; i++)
	{
		if ((rc = write_key(db, i, (LsmSeq) i + 1, &st)) != LSM_OK)
			break;
		/* a worker that flushes but never compacts */
		did = true;
		while (did && lsm_db_flush_needed(db))
			CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	}
	CHECK(rc == LSM_TIMED_OUT);
	CHECK(h.calls[LSM_WAIT_WRITE_STALL] == 1);
	CHECK(h.total == 1);
	lsm_db_stats(db, &stats);
	CHECK(stats.files_per_level[0] == 3);
	CHECK(lsm_db_last_seq(db) == (LsmSeq) i);
	CHECK(!key_present(db, i));

	/* a compaction lowers the pressure: the write goes through */
	CHECK_OK(lsm_db_compact_step(db, &did, &st), &st);
	CHECK(did);
	hook_allow(&h);
	CHECK_OK(write_key(db, i, (LsmSeq) i + 1, &st), &st);
	CHECK(key_present(db, i));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * lsm_db_try_write_at never waits: where lsm_db_write_at waits for room or
 * for a write stop it is LSM_BUSY with nothing applied, and the same write
 * goes through once a worker made room.  (The host calls it under its log
 * lock, which a flush needs: a wait there would never end.)
 */
static void
test_try_write_never_waits(void)
{
	char		dir[256];
	HookEnv		h;
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmCode		rc = LSM_OK;
	bool		did;
	int			i;

	/* any wait ends the write with LSM_INTERRUPTED, not LSM_BUSY */
	hook_env_init(&h, 1, LSM_INTERRUPTED);
	test_tmpdir(dir, sizeof(dir), "try_write");
	options_for(&o, &h, true);
	o.l0_compaction_trigger = 2;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);

	/* a full set of frozen memtables */
	for (i = 0; i < 1000; i++)
		if ((rc = try_write_key(db, i, (LsmSeq) i + 1, &st)) != LSM_OK)
			break;
	CHECK(rc == LSM_BUSY);
	CHECK(i > 25);
	CHECK(h.total == 0);
	CHECK(lsm_db_last_seq(db) == (LsmSeq) i);
	CHECK(!key_present(db, i));
	CHECK(key_present(db, i - 1));
	CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	CHECK(did);
	CHECK_OK(try_write_key(db, i, (LsmSeq) i + 1, &st), &st);
	CHECK(key_present(db, i));
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* a write stop: level 0 at the stop trigger, no compaction run */
	o.l0_stop_writes_trigger = 3;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	rc = LSM_OK;
	for (i = 2000; i < 3000 && rc == LSM_OK; i++)
	{
		rc = try_write_key(db, i, (LsmSeq) i + 1, &st);
		did = true;
		while (rc == LSM_OK && did && lsm_db_flush_needed(db))
			CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	}
	i--;
	CHECK(rc == LSM_BUSY);
	CHECK(h.total == 0);
	CHECK(!key_present(db, i));
	CHECK_OK(lsm_db_compact_step(db, &did, &st), &st);
	CHECK(did);
	CHECK_OK(try_write_key(db, i, (LsmSeq) i + 1, &st), &st);
	CHECK(key_present(db, i));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Synchronous flush: a writer past the slowdown trigger waits once; the
 * hook ends that wait and the write with it.
 */
static void
test_slowdown_wait_ends(void)
{
	char		dir[256];
	HookEnv		h;
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;

	hook_env_init(&h, 1, LSM_INTERRUPTED);
	test_tmpdir(dir, sizeof(dir), "wait_slow");
	options_for(&o, &h, false);
	o.auto_compact = false;
	o.l0_slowdown_writes_trigger = 2;
	o.l0_stop_writes_trigger = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_key(db, 0, 0, &st), &st);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(write_key(db, 1, 0, &st), &st);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(h.total == 0);
	lsm_db_stats(db, &stats);
	CHECK(stats.files_per_level[0] == 2);

	CHECK(write_key(db, 2, 0, &st) == LSM_INTERRUPTED);
	CHECK(h.calls[LSM_WAIT_WRITE_STALL] == 1);
	CHECK(!key_present(db, 2));
	CHECK(lsm_db_last_seq(db) == 2);

	hook_allow(&h);
	CHECK_OK(write_key(db, 2, 0, &st), &st);
	CHECK(h.calls[LSM_WAIT_WRITE_STALL] == 1);
	CHECK(key_present(db, 2));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* A region pool of one region: the memtable the open takes. */
typedef struct OnePool
{
	void	   *region;
	bool		used;
	int			refused;
} OnePool;

static void *
one_alloc(void *arg, size_t size)
{
	OnePool    *p = arg;

	if (p->used)
	{
		p->refused++;
		return NULL;
	}
	p->used = true;
	p->region = malloc(size);
	return p->region;
}

static void
one_free(void *arg, void *r, size_t size)
{
	OnePool    *p = arg;

	if (r != NULL && r == p->region)
	{
		free(r);
		p->region = NULL;
		p->used = false;
	}
}

/*
 * lsm_db_flush with a full region pool cannot freeze the memtable (no room
 * for the next one) and waits without end, as a server's lsm_fdw_flush()
 * does when other tables' memtables fill the pool: the hook ends it.
 */
static void
test_flush_wait_ends(void)
{
	char		dir[256];
	HookEnv		h;
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	OnePool		pool;

	memset(&pool, 0, sizeof(pool));
	hook_env_init(&h, 5, LSM_INTERRUPTED);
	test_tmpdir(dir, sizeof(dir), "wait_flush");
	options_for(&o, &h, true);
	o.region_alloc = one_alloc;
	o.region_free = one_free;
	o.region_arg = &pool;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_key(db, 0, 1, &st), &st);

	CHECK(lsm_db_flush(db, &st) == LSM_INTERRUPTED);
	CHECK(h.calls[LSM_WAIT_FLUSH] == 5);
	CHECK(h.total == 5);
	CHECK(pool.refused > 0);

	/* nothing is held: writes and reads go on */
	hook_allow(&h);
	CHECK_OK(write_key(db, 1, 2, &st), &st);
	CHECK(key_present(db, 0));
	CHECK(key_present(db, 1));
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(!pool.used);
	test_rmtree(dir);
}

/*
 * lsm_db_compact_range waits while a running compaction holds its files;
 * the hook ends the wait, and the call succeeds once the files are free.
 */
static void
test_compact_range_wait_ends(void)
{
	char		dir[256];
	HookEnv		h;
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmCompaction *c;
	LsmDbStats	stats;

	hook_env_init(&h, 2, LSM_INTERRUPTED);
	test_tmpdir(dir, sizeof(dir), "wait_compact");
	options_for(&o, &h, false);
	o.auto_compact = false;
	o.l0_compaction_trigger = 2;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 3; i++)
	{
		CHECK_OK(write_key(db, i, 0, &st), &st);
		CHECK_OK(lsm_db_flush(db, &st), &st);
	}
	CHECK_OK(lsm_db_compaction_pick(db, &c, &st), &st);

	CHECK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st) ==
		  LSM_INTERRUPTED);
	CHECK(h.calls[LSM_WAIT_COMPACTION] == 2);
	CHECK(h.total == 2);

	lsm_compaction_release(c);
	hook_allow(&h);
	CHECK_OK(lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st), &st);
	lsm_db_stats(db, &stats);
	CHECK(stats.files_per_level[0] == 0);
	for (int i = 0; i < 3; i++)
		CHECK(key_present(db, i));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* Without a hook an env waits by sleeping, and never fails. */
static void
test_default_wait_sleeps(void)
{
	LsmEnv		env = *lsm_env_posix();
	LsmStatus	st;
	uint64_t	t0;

	CHECK(env.wait == NULL);
	CHECK(env.fatal == NULL);
	t0 = env.now_micros(&env);
	CHECK(lsm_env_wait(&env, LSM_WAIT_FLUSH, 2000, &st) == LSM_OK);
	CHECK(env.now_micros(&env) - t0 >= 2000);
}

int
main(void)
{
	RUN(test_memtable_room_wait_ends);
	RUN(test_write_stop_wait_ends);
	RUN(test_try_write_never_waits);
	RUN(test_slowdown_wait_ends);
	RUN(test_flush_wait_ends);
	RUN(test_compact_range_wait_ends);
	RUN(test_default_wait_sleeps);
	return test_finish();
}
