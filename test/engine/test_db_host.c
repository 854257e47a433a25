/*
 * test_db_host.c
 *		Host mode of the database (lsm.h, docs/design.md "Engine"): the
 *		external WAL (lsm_db_write_at at the host's sequence numbers,
 *		recovery from the MANIFEST alone, lsm_db_last_seq), background
 *		flush (writers only freeze memtables and wait; workers call
 *		lsm_db_flush_pending and lsm_db_compact_step), memtable regions
 *		from a host pool, a block cache shared by several databases, and
 *		reads at a plain sequence number with the found entry's number.
 */
#include <pthread.h>
#include <dirent.h>

#include "testutil.h"
#include "fault_env.h"

#include "lsm.h"

#define KEYS_PER_WRITER 300

/* The smallest memtable lsm_db_open accepts, so that writes freeze often. */
#define SMALL_MEMTABLE 4096

/* Keys and values of the form "<prefix><n>". */
static LsmSlice
str_slice(const char *s)
{
	return lsm_slice(s, strlen(s));
}

static LsmCode
put_str(LsmBatch *b, const char *k, const char *v, LsmStatus *st)
{
	return lsm_batch_put(b, str_slice(k), str_slice(v), st);
}

/* Write one key at sequence number seq through lsm_db_write_at. */
static LsmCode
write_at_kv(LsmDb *db, LsmSeq seq, const char *k, const char *v, LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	LsmCode		rc;

	rc = put_str(b, k, v, st);
	if (rc == LSM_OK)
		rc = lsm_db_write_at(db, lsm_batch_contents(b), seq, st);
	lsm_batch_destroy(b);
	return rc;
}

/* Get key as a string into out (size len); the code of the get. */
static LsmCode
get_str(LsmDb *db, const LsmReadOptions *ro, const char *k, char *out, size_t len)
{
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	LsmCode		rc;

	rc = lsm_db_get(db, ro, str_slice(k), &v, &st);
	out[0] = '\0';
	if (rc == LSM_OK)
		snprintf(out, len, "%.*s", (int) v.len, (const char *) v.data);
	lsm_buf_free(&v);
	return rc;
}

/* Whether key k holds value want (NULL: absent). */
static int
has_value(LsmDb *db, const LsmReadOptions *ro, const char *k, const char *want)
{
	char		got[256];
	LsmCode		rc = get_str(db, ro, k, got, sizeof(got));

	if (want == NULL)
		return rc == LSM_NOT_FOUND;
	return rc == LSM_OK && strcmp(got, want) == 0;
}

static int
count_files(const char *dir, const char *suffix)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;
	size_t		sl = strlen(suffix);

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
	{
		size_t		l = strlen(e->d_name);

		if (l >= sl && strcmp(e->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
host_options(LsmOptions *o, bool background)
{
	lsm_options_init(o);
	o->external_wal = true;
	o->write_buffer_size = SMALL_MEMTABLE;
	o->compression = LSM_COMPRESSION_NONE;
	if (background)
	{
		o->background_flush = true;
		o->auto_compact = false;
	}
}

/*
 * External WAL: batches at the host's sequence numbers, with holes; the
 * directory gets no log file; a reopen reports the highest flushed
 * sequence number and holds exactly the flushed data.
 */
static void
test_write_at_holes_reopen(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmBatch   *b = lsm_batch_create();
	LsmDbStats	stats;

	test_tmpdir(dir, sizeof(dir), "host_holes");
	host_options(&o, false);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == 0);

	CHECK_OK(put_str(b, "a", "1", &st), &st);
	CHECK_OK(put_str(b, "b", "1", &st), &st);
	CHECK_OK(lsm_batch_delete(b, str_slice("c"), &st), &st);
	CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), 10, &st), &st);
	CHECK(lsm_db_last_seq(db) == 12);
	CHECK_OK(write_at_kv(db, 100, "a", "2", &st), &st);
	CHECK_OK(write_at_kv(db, 1000, "c", "3", &st), &st);
	CHECK(lsm_db_last_seq(db) == 1000);
	lsm_db_stats(db, &stats);
	CHECK(stats.last_seq == 1000);
	/* the host logged the batches: they count as this database's WAL bytes */
	CHECK(stats.bytes_written_wal > 0);
	CHECK(stats.write_amplification == 1.0);
	CHECK(has_value(db, NULL, "a", "2"));
	CHECK(has_value(db, NULL, "b", "1"));
	CHECK(has_value(db, NULL, "c", "3"));

	CHECK_OK(lsm_db_flush(db, &st), &st);
	lsm_db_stats(db, &stats);
	CHECK(stats.flushes == 1);
	CHECK(stats.write_amplification > 1.0);
	/* not flushed: the host's log would hold it */
	CHECK_OK(write_at_kv(db, 5000, "d", "4", &st), &st);
	CHECK(count_files(dir, ".log") == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == 1000);
	CHECK(has_value(db, NULL, "a", "2"));
	CHECK(has_value(db, NULL, "b", "1"));
	CHECK(has_value(db, NULL, "c", "3"));
	CHECK(has_value(db, NULL, "d", NULL));
	/* the host re-applies its record above 1000 */
	CHECK_OK(write_at_kv(db, 5000, "d", "4", &st), &st);
	CHECK(has_value(db, NULL, "d", "4"));
	CHECK(count_files(dir, ".log") == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);

	lsm_batch_destroy(b);
	test_rmtree(dir);
}

/*
 * lsm_db_raise_last_seq: an empty database (a truncated table's successor)
 * says it holds everything up to the floor, after a reopen too, and takes
 * writes above it only; a lower floor changes nothing.
 */
static void
test_raise_last_seq(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;

	test_tmpdir(dir, sizeof(dir), "host_raise");
	host_options(&o, false);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(lsm_db_raise_last_seq(db, 700, &st), &st);
	CHECK(lsm_db_last_seq(db) == 700);
	CHECK_OK(lsm_db_raise_last_seq(db, 600, &st), &st);
	CHECK(lsm_db_last_seq(db) == 700);
	CHECK(write_at_kv(db, 650, "a", "1", &st) != LSM_OK);
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == 700);
	CHECK(has_value(db, NULL, "a", NULL));
	CHECK_OK(write_at_kv(db, 701, "a", "2", &st), &st);
	CHECK(has_value(db, NULL, "a", "2"));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == 701);
	CHECK(has_value(db, NULL, "a", "2"));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * What lsm_db_write_at refuses, changing nothing: malformed contents,
 * sequence numbers not above the last one, or out of range; and the
 * option combinations and calls that do not fit the mode.
 */
static void
test_write_at_refused(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmBatch   *b = lsm_batch_create();
	LsmSlice	c;
	uint8_t		bad[256];
	LsmCode		rc;

	test_tmpdir(dir, sizeof(dir), "host_refused");
	host_options(&o, false);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, 50, "k", "v50", &st), &st);

	CHECK_OK(put_str(b, "x", "1", &st), &st);
	CHECK_OK(put_str(b, "y", "2", &st), &st);
	c = lsm_batch_contents(b);
	CHECK(c.len < sizeof(bad));

	/* truncated: the second entry is cut */
	rc = lsm_db_write_at(db, lsm_slice(c.data, c.len - 1), 60, &st);
	CHECK(rc == LSM_CORRUPTION);
	/* a count that promises more entries than there are */
	memcpy(bad, c.data, c.len);
	bad[8] = 3;
	rc = lsm_db_write_at(db, lsm_slice(bad, c.len), 60, &st);
	CHECK(rc == LSM_CORRUPTION);
	/* trailing garbage */
	memcpy(bad, c.data, c.len);
	bad[c.len] = 0x7f;
	rc = lsm_db_write_at(db, lsm_slice(bad, c.len + 1), 60, &st);
	CHECK(rc == LSM_CORRUPTION);
	/* an unknown kind in the second entry (its kind byte follows "x") */
	memcpy(bad, c.data, c.len);
	bad[12 + 1 + 1 + 1 + 1 + 1] = 9;
	rc = lsm_db_write_at(db, lsm_slice(bad, c.len), 60, &st);
	CHECK(rc == LSM_CORRUPTION);
	/* shorter than a header */
	rc = lsm_db_write_at(db, lsm_slice(c.data, 5), 60, &st);
	CHECK(rc == LSM_INVALID_ARGUMENT);
	rc = lsm_db_write_at(db, lsm_slice(NULL, 0), 60, &st);
	CHECK(rc == LSM_INVALID_ARGUMENT);
	CHECK(lsm_db_last_seq(db) == 50);
	CHECK(has_value(db, NULL, "x", NULL));

	/* sequence numbers: equal, below, zero, beyond 56 bits */
	CHECK(lsm_db_write_at(db, c, 50, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_db_write_at(db, c, 49, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_db_write_at(db, c, 0, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_db_write_at(db, c, LSM_MAX_SEQ, &st) == LSM_INVALID_ARGUMENT);
	CHECK(lsm_db_last_seq(db) == 50);
	CHECK(has_value(db, NULL, "x", NULL));
	CHECK(has_value(db, NULL, "k", "v50"));

	/* the batch's own sequence number field is ignored, even a wild one */
	memcpy(bad, c.data, c.len);
	memset(bad, 0xff, 8);
	CHECK_OK(lsm_db_write_at(db, lsm_slice(bad, c.len), 51, &st), &st);
	CHECK(lsm_db_last_seq(db) == 52);
	CHECK(has_value(db, NULL, "x", "1"));
	CHECK(has_value(db, NULL, "y", "2"));
	/* the last representable numbers */
	CHECK_OK(lsm_db_write_at(db, c, LSM_MAX_SEQ - 1, &st), &st);
	CHECK(lsm_db_last_seq(db) == LSM_MAX_SEQ);

	/* an empty batch is a no-op */
	lsm_batch_clear(b);
	CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), 1, &st), &st);
	/* lsm_db_write has no WAL to write to */
	CHECK_OK(put_str(b, "z", "1", &st), &st);
	CHECK(lsm_db_write(db, b, &st) == LSM_INVALID_ARGUMENT);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);

	/* lsm_db_write_at without external_wal */
	test_tmpdir(dir, sizeof(dir), "host_refused2");
	lsm_options_init(&o);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_write_at(db, lsm_batch_contents(b), 10, &st) == LSM_INVALID_ARGUMENT);
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* background_flush needs auto_compact off */
	o.background_flush = true;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);
	test_rmtree(dir);
	lsm_batch_destroy(b);
}

/*
 * Concurrent use in background mode: writer threads, reader threads and
 * one worker looping over lsm_db_flush_pending and lsm_db_compact_step.
 * Each batch writes the same value to a key pair "a<t>.<k>" / "b<t>.<k>";
 * readers check, through a snapshot, that the two always agree (batches
 * stay atomic across freezes, flushes and compaction installs) and that
 * each writer's counter never goes back.
 */
typedef struct Shared
{
	LsmDb	   *db;
	bool		external;
	pthread_mutex_t seq_mu;		/* the host's ordering of write_at */
	LsmSeq		next_seq;
	int			stop_readers;	/* atomic */
	int			stop_worker;	/* atomic */
	int			errors;
	uint64_t	reads;
	uint64_t	flushes;
	uint64_t	compactions;
	int			wake_calls;
	uint64_t	seed;
} Shared;

typedef struct WriterArg
{
	Shared	   *sh;
	int			id;
} WriterArg;

static void
note_error(Shared *sh, const char *what, LsmStatus *st)
{
	fprintf(stderr, "  %s: %s\n", what, st != NULL ? st->msg : "");
	__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED);
}

static void
wake_counter(void *arg)
{
	Shared	   *sh = arg;

	__atomic_fetch_add(&sh->wake_calls, 1, __ATOMIC_RELAXED);
}

static void *
writer_thread(void *p)
{
	WriterArg  *wa = p;
	Shared	   *sh = wa->sh;
	LsmBatch   *b = lsm_batch_create();
	TestRng		rng = {sh->seed + (uint64_t) wa->id * 7919};
	LsmStatus	st;
	char		k[64];
	char		v[128];
	int			i;

	for (i = 1; i <= KEYS_PER_WRITER * 4; i++)
	{
		int			key = (int) test_rng_below(&rng, KEYS_PER_WRITER);
		LsmCode		rc;

		lsm_batch_clear(b);
		snprintf(v, sizeof(v), "%d-%d-%0*d", wa->id, i,
				 (int) test_rng_below(&rng, 60), 0);
		snprintf(k, sizeof(k), "a%d.%04d", wa->id, key);
		put_str(b, k, v, &st);
		snprintf(k, sizeof(k), "b%d.%04d", wa->id, key);
		put_str(b, k, v, &st);
		snprintf(k, sizeof(k), "n%d", wa->id);
		snprintf(v, sizeof(v), "%08d", i);
		put_str(b, k, v, &st);
		if (sh->external)
		{
			pthread_mutex_lock(&sh->seq_mu);
			/* gaps, as other tables take numbers from the same counter */
			sh->next_seq += 1 + test_rng_below(&rng, 5);
			rc = lsm_db_write_at(sh->db, lsm_batch_contents(b), sh->next_seq, &st);
			sh->next_seq += lsm_batch_count(b) - 1;
			pthread_mutex_unlock(&sh->seq_mu);
		}
		else
			rc = lsm_db_write(sh->db, b, &st);
		if (rc != LSM_OK)
		{
			note_error(sh, "write", &st);
			break;
		}
	}
	lsm_batch_destroy(b);
	return NULL;
}

static void *
reader_thread(void *p)
{
	WriterArg  *wa = p;
	Shared	   *sh = wa->sh;
	TestRng		rng = {sh->seed ^ 0xabcdefULL ^ (uint64_t) wa->id};
	int			last_n[3] = {0, 0, 0};

	while (!__atomic_load_n(&sh->stop_readers, __ATOMIC_ACQUIRE))
	{
		LsmReadOptions ro;
		LsmSnapshot *snap = lsm_db_snapshot(sh->db);
		int			t = (int) test_rng_below(&rng, 3);
		int			key = (int) test_rng_below(&rng, KEYS_PER_WRITER);
		char		k[64];
		char		va[256];
		char		vb[256];
		char		vn[64];
		LsmCode		ra;
		LsmCode		rb;

		lsm_read_options_init(&ro);
		ro.snapshot = snap;
		snprintf(k, sizeof(k), "a%d.%04d", t, key);
		ra = get_str(sh->db, &ro, k, va, sizeof(va));
		snprintf(k, sizeof(k), "b%d.%04d", t, key);
		rb = get_str(sh->db, &ro, k, vb, sizeof(vb));
		if (ra != rb || (ra == LSM_OK && strcmp(va, vb) != 0) ||
			(ra != LSM_OK && ra != LSM_NOT_FOUND))
		{
			fprintf(stderr, "  reader: pair %d.%d differs: %d \"%s\" / %d \"%s\"\n",
					t, key, ra, va, rb, vb);
			__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED);
		}
		snprintf(k, sizeof(k), "n%d", t);
		if (get_str(sh->db, &ro, k, vn, sizeof(vn)) == LSM_OK)
		{
			int			n = atoi(vn);

			if (n < last_n[t])
			{
				fprintf(stderr, "  reader: counter %d went back from %d to %d\n",
						t, last_n[t], n);
				__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED);
			}
			last_n[t] = n;
		}
		lsm_db_release_snapshot(sh->db, snap);

		/* now and then a scan: every a-key has its b-key */
		if (test_rng_below(&rng, 50) == 0)
		{
			LsmIter    *it;
			LsmStatus	st;
			int			na = 0;
			int			nb = 0;

			lsm_read_options_init(&ro);
			if (lsm_db_iter(sh->db, &ro, &it, &st) != LSM_OK)
			{
				note_error(sh, "iter", &st);
				continue;
			}
			for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
			{
				uint8_t		c = lsm_iter_key(it).data[0];

				na += c == 'a';
				nb += c == 'b';
			}
			if (lsm_iter_status(it, &st) != LSM_OK)
				note_error(sh, "iter status", &st);
			else if (na != nb)
			{
				fprintf(stderr, "  reader: scan saw %d a-keys, %d b-keys\n", na, nb);
				__atomic_fetch_add(&sh->errors, 1, __ATOMIC_RELAXED);
			}
			lsm_iter_destroy(it);
		}
		__atomic_fetch_add(&sh->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *
worker_thread(void *p)
{
	Shared	   *sh = p;
	LsmStatus	st;

	while (!__atomic_load_n(&sh->stop_worker, __ATOMIC_ACQUIRE))
	{
		bool		flushed = false;
		bool		compacted = false;

		if (lsm_db_flush_needed(sh->db) &&
			lsm_db_flush_pending(sh->db, &flushed, &st) != LSM_OK)
			note_error(sh, "flush_pending", &st);
		if (lsm_db_compaction_needed(sh->db) &&
			lsm_db_compact_step(sh->db, &compacted, &st) != LSM_OK)
			note_error(sh, "compact_step", &st);
		sh->flushes += flushed;
		sh->compactions += compacted;
		if (!flushed && !compacted)
			usleep(200);
	}
	return NULL;
}

/* Check the final state: each writer's last value per key, pairs equal. */
static int
check_pairs(LsmDb *db)
{
	for (int t = 0; t < 3; t++)
	{
		char		k[64];
		char		vn[64];

		snprintf(k, sizeof(k), "n%d", t);
		CHECK_RET(get_str(db, NULL, k, vn, sizeof(vn)) == LSM_OK, 0);
		CHECK_RET(atoi(vn) == KEYS_PER_WRITER * 4, 0);
		for (int key = 0; key < KEYS_PER_WRITER; key++)
		{
			char		va[256];
			char		vb[256];
			LsmCode		ra;
			LsmCode		rb;

			snprintf(k, sizeof(k), "a%d.%04d", t, key);
			ra = get_str(db, NULL, k, va, sizeof(va));
			snprintf(k, sizeof(k), "b%d.%04d", t, key);
			rb = get_str(db, NULL, k, vb, sizeof(vb));
			CHECK_RET(ra == rb, 0);
			CHECK_RET(ra == LSM_NOT_FOUND || strcmp(va, vb) == 0, 0);
		}
	}
	return 1;
}

static void
run_background(bool external, const char *tag)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	Shared		sh;
	WriterArg	wargs[3];
	WriterArg	rargs[2];
	pthread_t	writers[3];
	pthread_t	readers[2];
	pthread_t	worker;
	LsmDbStats	stats;
	int			i;

	memset(&sh, 0, sizeof(sh));
	sh.seed = test_seed(tag);
	sh.external = external;
	pthread_mutex_init(&sh.seq_mu, NULL);
	test_tmpdir(dir, sizeof(dir), "host_bg");
	host_options(&o, true);
	o.external_wal = external;
	o.sync_writes = false;
	o.l0_compaction_trigger = 2;
	o.l0_slowdown_writes_trigger = 6;
	o.l0_stop_writes_trigger = 8;
	o.max_bytes_for_level_base = 16 * 1024;
	o.target_file_size = 8 * 1024;
	o.flush_wanted_fn = wake_counter;
	o.flush_wanted_arg = &sh;
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);

	pthread_create(&worker, NULL, worker_thread, &sh);
	for (i = 0; i < 2; i++)
	{
		rargs[i].sh = &sh;
		rargs[i].id = i;
		pthread_create(&readers[i], NULL, reader_thread, &rargs[i]);
	}
	for (i = 0; i < 3; i++)
	{
		wargs[i].sh = &sh;
		wargs[i].id = i;
		pthread_create(&writers[i], NULL, writer_thread, &wargs[i]);
	}
	for (i = 0; i < 3; i++)
		pthread_join(writers[i], NULL);
	__atomic_store_n(&sh.stop_readers, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		pthread_join(readers[i], NULL);
	__atomic_store_n(&sh.stop_worker, 1, __ATOMIC_RELEASE);
	pthread_join(worker, NULL);
	CHECK(sh.errors == 0);

	lsm_db_stats(sh.db, &stats);
	printf("  %s: %llu worker flushes, %llu compactions, %llu reads, %d wake calls, "
		   "%llu memtable waits, %llu stall stops\n", tag,
		   (unsigned long long) sh.flushes, (unsigned long long) sh.compactions,
		   (unsigned long long) sh.reads, sh.wake_calls,
		   (unsigned long long) stats.memtable_waits,
		   (unsigned long long) stats.stall_stops);
	CHECK(sh.flushes > 0);
	CHECK(sh.compactions > 0);
	CHECK(sh.wake_calls > 0);
	CHECK(check_pairs(sh.db));

	/* a manual flush writes everything; then the state survives a reopen */
	CHECK_OK(lsm_db_flush(sh.db, &st), &st);
	CHECK(!lsm_db_flush_needed(sh.db));
	lsm_db_stats(sh.db, &stats);
	CHECK(stats.imm_memtables == 0);
	CHECK_OK(lsm_db_verify(sh.db, &st), &st);
	if (external)
		CHECK(lsm_db_last_seq(sh.db) == sh.next_seq);
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	if (external)
		CHECK(count_files(dir, ".log") == 0);
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);
	CHECK(check_pairs(sh.db));
	if (external)
		CHECK(lsm_db_last_seq(sh.db) == sh.next_seq);
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	pthread_mutex_destroy(&sh.seq_mu);
	test_rmtree(dir);
}

static void
test_background_external(void)
{
	run_background(true, "background external");
}

static void
test_background_own_wal(void)
{
	run_background(false, "background own wal");
}

/*
 * A writer facing LSM_MAX_IMM frozen memtables waits (and keeps calling
 * flush_wanted_fn) instead of failing; once a worker flushes, it goes on.
 */
typedef struct WaitArg
{
	LsmDb	   *db;
	int			n;				/* batches to write */
	LsmSeq		seq;			/* next write_at number */
	volatile int done;
	LsmCode		rc;
} WaitArg;

static void *
bulk_writer(void *p)
{
	WaitArg    *wa = p;
	LsmBatch   *b = lsm_batch_create();
	LsmStatus	st;
	char		k[32];
	char		v[200];

	wa->rc = LSM_OK;
	for (int i = 0; i < wa->n && wa->rc == LSM_OK; i++)
	{
		lsm_batch_clear(b);
		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "%0150d", i);
		put_str(b, k, v, &st);
		wa->rc = lsm_db_write_at(wa->db, lsm_batch_contents(b), wa->seq, &st);
		if (wa->rc != LSM_OK)
			fprintf(stderr, "  bulk writer: %s\n", st.msg);
		wa->seq += 2;
	}
	lsm_batch_destroy(b);
	__atomic_store_n(&wa->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
test_memtable_waits(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	Shared		sh;
	WaitArg		wa;
	pthread_t	th;
	LsmDbStats	stats;
	int			wakes;
	bool		did;
	int			i;

	memset(&sh, 0, sizeof(sh));
	test_tmpdir(dir, sizeof(dir), "host_wait");
	host_options(&o, true);
	/* nobody compacts here: no write stalls */
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 0;
	o.flush_wanted_fn = wake_counter;
	o.flush_wanted_arg = &sh;
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);

	/* ~160 bytes an entry, 4 KiB memtables: 200 entries fill far more than 5 */
	memset(&wa, 0, sizeof(wa));
	wa.db = sh.db;
	wa.n = 200;
	wa.seq = 1;
	pthread_create(&th, NULL, bulk_writer, &wa);
	for (i = 0; i < 5000; i++)
	{
		lsm_db_stats(sh.db, &stats);
		if (stats.memtable_waits > 0)
			break;
		usleep(1000);
	}
	CHECK(stats.memtable_waits == 1);
	CHECK(stats.imm_memtables == 4);
	CHECK(lsm_db_flush_needed(sh.db));
	/* the writer waits, calling for a flush again and again */
	wakes = __atomic_load_n(&sh.wake_calls, __ATOMIC_RELAXED);
	usleep(20000);
	CHECK(!__atomic_load_n(&wa.done, __ATOMIC_ACQUIRE));
	CHECK(__atomic_load_n(&sh.wake_calls, __ATOMIC_RELAXED) > wakes);

	/* the worker resumes */
	while (!__atomic_load_n(&wa.done, __ATOMIC_ACQUIRE))
	{
		CHECK_OK(lsm_db_flush_pending(sh.db, &did, &st), &st);
		if (!did)
			usleep(500);
	}
	pthread_join(th, NULL);
	CHECK(wa.rc == LSM_OK);
	lsm_db_stats(sh.db, &stats);
	CHECK(stats.memtable_waits >= 1);
	CHECK(stats.memtable_wait_micros >= 10000);
	CHECK(stats.files_per_level[0] >= 4);
	for (i = 0; i < wa.n; i++)
	{
		char		k[32];
		char		v[200];

		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "%0150d", i);
		CHECK(has_value(sh.db, NULL, k, v));
	}
	CHECK(lsm_db_last_seq(sh.db) == (LsmSeq) (2 * wa.n - 1));
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	test_rmtree(dir);
}

/*
 * A write stop in background mode: the writer does not compact itself
 * but waits (counted as a stall) until a worker's compaction lowers the
 * level-0 count.
 */
static void
test_stall_stop_waits(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	Shared		sh;
	WaitArg		wa;
	pthread_t	th;
	LsmDbStats	stats;
	bool		did;
	int			i;

	memset(&sh, 0, sizeof(sh));
	test_tmpdir(dir, sizeof(dir), "host_stop");
	host_options(&o, true);
	o.l0_compaction_trigger = 2;
	o.l0_slowdown_writes_trigger = 0;
	o.l0_stop_writes_trigger = 3;
	o.flush_wanted_fn = wake_counter;
	o.flush_wanted_arg = &sh;
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);

	memset(&wa, 0, sizeof(wa));
	wa.db = sh.db;
	wa.n = 200;
	wa.seq = 1;
	pthread_create(&th, NULL, bulk_writer, &wa);
	/* flush only, until the writer stops */
	for (i = 0; i < 5000; i++)
	{
		lsm_db_stats(sh.db, &stats);
		if (stats.stall_stops > 0)
			break;
		did = false;
		if (stats.files_per_level[0] < 3)
			CHECK_OK(lsm_db_flush_pending(sh.db, &did, &st), &st);
		if (!did)
			usleep(1000);
	}
	CHECK(stats.stall_stops == 1);
	usleep(20000);
	lsm_db_stats(sh.db, &stats);
	CHECK(stats.compactions == 0);
	CHECK(stats.files_per_level[0] == 3);
	CHECK(!__atomic_load_n(&wa.done, __ATOMIC_ACQUIRE));

	/* a worker compacts and flushes: the writer goes on */
	while (!__atomic_load_n(&wa.done, __ATOMIC_ACQUIRE))
	{
		bool		compacted;

		CHECK_OK(lsm_db_compact_step(sh.db, &compacted, &st), &st);
		CHECK_OK(lsm_db_flush_pending(sh.db, &did, &st), &st);
		if (!did && !compacted)
			usleep(500);
	}
	pthread_join(th, NULL);
	CHECK(wa.rc == LSM_OK);
	lsm_db_stats(sh.db, &stats);
	CHECK(stats.compactions > 0);
	CHECK(stats.stall_micros >= 10000);
	for (i = 0; i < wa.n; i++)
	{
		char		k[32];
		char		v[200];

		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "%0150d", i);
		CHECK(has_value(sh.db, NULL, k, v));
	}
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	test_rmtree(dir);
}

/*
 * Memtable regions from a host pool of a few fixed slots.  In background
 * mode a full pool makes writers wait, not fail; every region goes back to
 * the pool by close.  Without background flush a full pool is
 * LSM_NO_MEMORY.
 */
#define POOL_SLOTS 3

typedef struct Pool
{
	pthread_mutex_t mu;
	void	   *slot[POOL_SLOTS];
	bool		used[POOL_SLOTS];
	size_t		slot_size;
	int			allocs;
	int			frees;
	int			refused;
	int			bad_frees;
} Pool;

static void *
pool_alloc(void *arg, size_t size)
{
	Pool	   *p = arg;
	void	   *r = NULL;

	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < POOL_SLOTS && size <= p->slot_size; i++)
		if (!p->used[i])
		{
			p->used[i] = true;
			r = p->slot[i];
			p->allocs++;
			break;
		}
	if (r == NULL)
		p->refused++;
	pthread_mutex_unlock(&p->mu);
	return r;
}

static void
pool_free(void *arg, void *r, size_t size)
{
	Pool	   *p = arg;
	bool		found = false;

	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < POOL_SLOTS; i++)
		if (p->slot[i] == r && p->used[i] && size <= p->slot_size)
		{
			p->used[i] = false;
			p->frees++;
			found = true;
		}
	if (!found)
		p->bad_frees++;
	pthread_mutex_unlock(&p->mu);
}

static void
pool_init(Pool *p, size_t slot_size)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	p->slot_size = slot_size;
	for (int i = 0; i < POOL_SLOTS; i++)
		p->slot[i] = malloc(slot_size);
}

static void
pool_destroy(Pool *p)
{
	for (int i = 0; i < POOL_SLOTS; i++)
		free(p->slot[i]);
	pthread_mutex_destroy(&p->mu);
}

static void
test_region_pool(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	Pool		pool;
	Shared		sh;
	WaitArg		wa;
	pthread_t	th;
	pthread_t	worker;
	LsmDbStats	stats;
	LsmDb	   *db;
	LsmBatch   *b;
	LsmCode		rc;
	int			i;

	/* background: the pool (3 regions) runs out before LSM_MAX_IMM */
	pool_init(&pool, SMALL_MEMTABLE);
	memset(&sh, 0, sizeof(sh));
	test_tmpdir(dir, sizeof(dir), "host_pool");
	host_options(&o, true);
	o.region_alloc = pool_alloc;
	o.region_free = pool_free;
	o.region_arg = &pool;
	o.flush_wanted_fn = wake_counter;
	o.flush_wanted_arg = &sh;
	CHECK_OK(lsm_db_open(&o, dir, &sh.db, &st), &st);
	CHECK(pool.allocs == 1);

	memset(&wa, 0, sizeof(wa));
	wa.db = sh.db;
	wa.n = 150;
	wa.seq = 7;
	pthread_create(&th, NULL, bulk_writer, &wa);
	for (i = 0; i < 5000; i++)
	{
		lsm_db_stats(sh.db, &stats);
		if (stats.memtable_waits > 0)
			break;
		usleep(1000);
	}
	CHECK(stats.memtable_waits == 1);
	CHECK(stats.imm_memtables == POOL_SLOTS - 1);
	pthread_mutex_lock(&pool.mu);
	i = pool.refused;
	pthread_mutex_unlock(&pool.mu);
	CHECK(i > 0);
	CHECK(!__atomic_load_n(&wa.done, __ATOMIC_ACQUIRE));

	/* a worker starts flushing: the writer finishes */
	pthread_create(&worker, NULL, worker_thread, &sh);
	pthread_join(th, NULL);
	__atomic_store_n(&sh.stop_worker, 1, __ATOMIC_RELEASE);
	pthread_join(worker, NULL);
	CHECK(sh.errors == 0);
	CHECK(wa.rc == LSM_OK);
	for (i = 0; i < wa.n; i++)
	{
		char		k[32];
		char		v[200];

		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "%0150d", i);
		CHECK(has_value(sh.db, NULL, k, v));
	}
	CHECK_OK(lsm_db_flush(sh.db, &st), &st);
	CHECK_OK(lsm_db_close(sh.db, &st), &st);
	CHECK(pool.allocs > POOL_SLOTS);
	CHECK(pool.allocs == pool.frees);
	CHECK(pool.bad_frees == 0);
	test_rmtree(dir);

	/* synchronous flush: a full pool fails the write */
	pool.refused = 0;
	test_tmpdir(dir, sizeof(dir), "host_pool2");
	host_options(&o, false);
	o.region_alloc = pool_alloc;
	CHECK(lsm_db_open(&o, dir, &db, &st) == LSM_INVALID_ARGUMENT);	/* half a pair */
	o.region_free = pool_free;
	o.region_arg = &pool;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	/* the test takes the other slots, as other databases would */
	{
		void	   *r1 = pool_alloc(&pool, 1);
		void	   *r2 = pool_alloc(&pool, 1);
		char		k[32];
		char		v[200];

		CHECK(r1 != NULL && r2 != NULL);
		b = lsm_batch_create();
		rc = LSM_OK;
		for (i = 0; i < 100 && rc == LSM_OK; i++)
		{
			lsm_batch_clear(b);
			snprintf(k, sizeof(k), "key%05d", i);
			snprintf(v, sizeof(v), "%0150d", i);
			put_str(b, k, v, &st);
			rc = lsm_db_write_at(db, lsm_batch_contents(b), (LsmSeq) i + 1, &st);
		}
		lsm_batch_destroy(b);
		CHECK(rc == LSM_NO_MEMORY);
		CHECK(pool.refused > 0);
		pool_free(&pool, r1, 1);
		pool_free(&pool, r2, 1);
	}
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK(pool.allocs == pool.frees);
	CHECK(pool.bad_frees == 0);
	pool_destroy(&pool);
	test_rmtree(dir);
}

/*
 * pre_flush_fn is called with the highest sequence number of the memtable
 * being flushed; refusing fails the flush with LSM_IO_ERROR and keeps the
 * memtable (and its data) for a retry.
 */
typedef struct PreFlush
{
	bool		allow;
	int			calls;
	LsmSeq		max_seq;
} PreFlush;

static bool
pre_flush(void *arg, LsmSeq max_seq)
{
	PreFlush   *pf = arg;

	pf->calls++;
	pf->max_seq = max_seq;
	return pf->allow;
}

static void
test_pre_flush(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	PreFlush	pf = {false, 0, 0};
	LsmDbStats	stats;
	bool		did;

	test_tmpdir(dir, sizeof(dir), "host_preflush");
	host_options(&o, true);
	o.pre_flush_fn = pre_flush;
	o.pre_flush_arg = &pf;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, 5, "a", "1", &st), &st);
	CHECK_OK(write_at_kv(db, 50, "b", "2", &st), &st);
	CHECK(!lsm_db_flush_needed(db));
	CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	CHECK(!did && pf.calls == 0);

	/* refused: the manual flush froze the memtable, and it stays frozen */
	CHECK(lsm_db_flush(db, &st) == LSM_IO_ERROR);
	CHECK(pf.calls == 1 && pf.max_seq == 50);
	CHECK(lsm_db_flush_needed(db));
	lsm_db_stats(db, &stats);
	CHECK(stats.files_per_level[0] == 0);
	CHECK(stats.imm_memtables == 1);
	CHECK(has_value(db, NULL, "a", "1"));
	CHECK(has_value(db, NULL, "b", "2"));
	CHECK(lsm_db_flush_pending(db, &did, &st) == LSM_IO_ERROR);
	CHECK(!did && pf.calls == 2 && pf.max_seq == 50);

	/* newer writes go to the active memtable meanwhile */
	CHECK_OK(write_at_kv(db, 60, "c", "3", &st), &st);
	pf.allow = true;
	CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	CHECK(did && pf.calls == 3 && pf.max_seq == 50);
	CHECK(!lsm_db_flush_needed(db));
	lsm_db_stats(db, &stats);
	CHECK(stats.files_per_level[0] == 1);
	CHECK(has_value(db, NULL, "c", "3"));
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* the MANIFEST says 50: seq 60 is the host's to re-apply */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == 50);
	CHECK(has_value(db, NULL, "a", "1"));
	CHECK(has_value(db, NULL, "b", "2"));
	CHECK(has_value(db, NULL, "c", NULL));
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/*
 * Two databases with the same history (so the same file numbers) share
 * one block cache: each still reads its own blocks.
 */
static void
test_shared_block_cache(void)
{
	char		dir1[256];
	char		dir2[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db[2];
	LsmBlockCache *cache = lsm_block_cache_create(NULL, 1 << 20);
	LsmDbStats	stats;
	int			d;
	int			i;

	CHECK(cache != NULL);
	test_tmpdir(dir1, sizeof(dir1), "host_cache1");
	test_tmpdir(dir2, sizeof(dir2), "host_cache2");
	for (d = 0; d < 2; d++)
	{
		host_options(&o, false);
		o.block_cache = cache;
		o.cache_id = (uint64_t) d + 1;
		o.block_size = 256;
		CHECK_OK(lsm_db_open(&o, d == 0 ? dir1 : dir2, &db[d], &st), &st);
		for (i = 0; i < 200; i++)
		{
			char		k[32];
			char		v[64];

			snprintf(k, sizeof(k), "key%04d", i);
			snprintf(v, sizeof(v), "db%d-value%04d", d, i);
			CHECK_OK(write_at_kv(db[d], (LsmSeq) i + 1, k, v, &st), &st);
		}
		CHECK_OK(lsm_db_flush(db[d], &st), &st);
	}
	/* read both twice, interleaved: the second round comes from the cache */
	for (int round = 0; round < 2; round++)
		for (i = 0; i < 200; i++)
			for (d = 0; d < 2; d++)
			{
				char		k[32];
				char		v[64];

				snprintf(k, sizeof(k), "key%04d", i);
				snprintf(v, sizeof(v), "db%d-value%04d", d, i);
				CHECK(has_value(db[d], NULL, k, v));
			}
	CHECK(lsm_block_cache_usage(cache) > 0);
	lsm_db_stats(db[1], &stats);
	CHECK(stats.block_cache_hits > 0);
	for (d = 0; d < 2; d++)
		CHECK_OK(lsm_db_close(db[d], &st), &st);

	/* an id that does not fit is refused */
	o.cache_id = (uint64_t) 1 << 24;
	CHECK(lsm_db_open(&o, dir1, &db[0], &st) == LSM_INVALID_ARGUMENT);
	lsm_block_cache_destroy(cache);
	test_rmtree(dir1);
	test_rmtree(dir2);
}

/*
 * A cache id is reused once its database is closed (the host gives a table
 * slot's number to whichever table takes the slot next): the new database,
 * with the same file numbers, must read its own blocks, never the closed
 * one's.  The first database's blocks are cached and unpinned at its close.
 */
static void
test_cache_id_reuse(void)
{
	char		dir1[256];
	char		dir2[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmBlockCache *cache = lsm_block_cache_create(NULL, 1 << 20);
	int			d;
	int			i;

	CHECK(cache != NULL);
	test_tmpdir(dir1, sizeof(dir1), "host_reuse1");
	test_tmpdir(dir2, sizeof(dir2), "host_reuse2");
	for (d = 0; d < 2; d++)
	{
		host_options(&o, false);
		o.block_cache = cache;
		o.cache_id = 7;
		o.block_size = 256;
		CHECK_OK(lsm_db_open(&o, d == 0 ? dir1 : dir2, &db, &st), &st);
		for (i = 0; i < 200; i++)
		{
			char		k[32];
			char		v[64];

			snprintf(k, sizeof(k), "key%04d", i);
			snprintf(v, sizeof(v), "db%d-value%04d", d, i);
			CHECK_OK(write_at_kv(db, (LsmSeq) i + 1, k, v, &st), &st);
		}
		CHECK_OK(lsm_db_flush(db, &st), &st);
		for (i = 0; i < 200; i++)
		{
			char		k[32];
			char		v[64];

			snprintf(k, sizeof(k), "key%04d", i);
			snprintf(v, sizeof(v), "db%d-value%04d", d, i);
			CHECK(has_value(db, NULL, k, v));
		}
		CHECK_OK(lsm_db_close(db, &st), &st);
		/* the closed database's blocks went with its view */
		CHECK(lsm_block_cache_usage(cache) == 0);
	}
	lsm_block_cache_destroy(cache);
	test_rmtree(dir1);
	test_rmtree(dir2);
}

/*
 * read_seq and found_seq, from memtables and then from a table: the read
 * point is the lowest of latest, snapshot and read_seq; found_seq is the
 * newest entry's number at that point (tombstones and operands included).
 */
static int
check_reads(LsmDb *db, LsmSnapshot *snap30)
{
	LsmReadOptions ro;
	LsmSeq		found = 99999;
	char		v[64];
	LsmBuf		buf = LSM_BUF_INIT;
	LsmStatus	st;
	LsmIter    *it;

	lsm_read_options_init(&ro);
	ro.found_seq = &found;

	ro.read_seq = 15;
	CHECK_RET(get_str(db, &ro, "k", v, sizeof(v)) == LSM_OK && strcmp(v, "v1") == 0, 0);
	CHECK_RET(found == 10, 0);
	ro.read_seq = 25;
	CHECK_RET(get_str(db, &ro, "k", v, sizeof(v)) == LSM_OK && strcmp(v, "v2") == 0, 0);
	CHECK_RET(found == 20, 0);
	ro.read_seq = 0;
	CHECK_RET(get_str(db, &ro, "k", v, sizeof(v)) == LSM_NOT_FOUND, 0);
	CHECK_RET(found == 30, 0);
	ro.read_seq = 5;
	CHECK_RET(get_str(db, &ro, "k", v, sizeof(v)) == LSM_NOT_FOUND, 0);
	CHECK_RET(found == 0, 0);
	ro.read_seq = 0;
	CHECK_RET(get_str(db, &ro, "nothing", v, sizeof(v)) == LSM_NOT_FOUND, 0);
	CHECK_RET(found == 0, 0);
	/* above the latest: the latest */
	ro.read_seq = 1000000;
	CHECK_RET(get_str(db, &ro, "k", v, sizeof(v)) == LSM_NOT_FOUND, 0);
	CHECK_RET(found == 30, 0);

	/* merge operands at 40 and 41 over nothing */
	ro.read_seq = 0;
	CHECK_RET(lsm_db_get(db, &ro, str_slice("m"), &buf, &st) == LSM_OK, 0);
	CHECK_RET(buf.len == 8 && lsm_get_fixed64(buf.data) == 5, 0);
	CHECK_RET(found == 41, 0);
	ro.read_seq = 40;
	CHECK_RET(lsm_db_get(db, &ro, str_slice("m"), &buf, &st) == LSM_OK, 0);
	CHECK_RET(lsm_get_fixed64(buf.data) == 2, 0);
	CHECK_RET(found == 40, 0);
	lsm_buf_free(&buf);

	/* with a snapshot (at 30 or later), the smaller wins */
	ro.snapshot = snap30;
	ro.read_seq = 25;
	CHECK_RET(get_str(db, &ro, "k", v, sizeof(v)) == LSM_OK && strcmp(v, "v2") == 0, 0);
	CHECK_RET(found == 20, 0);
	ro.read_seq = 35;
	CHECK_RET(get_str(db, &ro, "k", v, sizeof(v)) == LSM_NOT_FOUND, 0);
	CHECK_RET(found == 30, 0);
	ro.read_seq = 0;
	CHECK_RET(get_str(db, &ro, "m", v, sizeof(v)) == LSM_NOT_FOUND, 0);
	CHECK_RET(found == 0, 0);

	/* iterators */
	lsm_read_options_init(&ro);
	ro.read_seq = 15;
	CHECK_RET(lsm_db_iter(db, &ro, &it, &st) == LSM_OK, 0);
	lsm_iter_seek_first(it);
	CHECK_RET(lsm_iter_valid(it), 0);
	CHECK_RET(lsm_slice_eq(lsm_iter_key(it), str_slice("k")), 0);
	CHECK_RET(lsm_slice_eq(lsm_iter_value(it), str_slice("v1")), 0);
	lsm_iter_next(it);
	CHECK_RET(!lsm_iter_valid(it), 0);
	lsm_iter_destroy(it);
	ro.read_seq = 40;
	ro.snapshot = snap30;
	CHECK_RET(lsm_db_iter(db, &ro, &it, &st) == LSM_OK, 0);
	lsm_iter_seek_first(it);
	CHECK_RET(!lsm_iter_valid(it), 0);	/* k deleted at 30, m not yet */
	lsm_iter_destroy(it);
	ro.snapshot = NULL;
	CHECK_RET(lsm_db_iter(db, &ro, &it, &st) == LSM_OK, 0);
	lsm_iter_seek_first(it);
	CHECK_RET(lsm_iter_valid(it), 0);
	CHECK_RET(lsm_slice_eq(lsm_iter_key(it), str_slice("m")), 0);
	CHECK_RET(lsm_get_fixed64(lsm_iter_value(it).data) == 2, 0);
	lsm_iter_destroy(it);
	return 1;
}

/* A host whose readers may read at any point (lsm.h: read_seq). */
static LsmSeq
horizon_zero(void *arg)
{
	return 0;
}

static void
test_read_seq_found_seq(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmBatch   *b = lsm_batch_create();
	LsmSnapshot *snap;
	uint8_t		op[8];

	test_tmpdir(dir, sizeof(dir), "host_readseq");
	host_options(&o, false);
	o.horizon_fn = horizon_zero;	/* the reads at 15 and 25 below */
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, 10, "k", "v1", &st), &st);
	CHECK_OK(write_at_kv(db, 20, "k", "v2", &st), &st);
	CHECK_OK(lsm_batch_delete(b, str_slice("k"), &st), &st);
	CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), 30, &st), &st);
	snap = lsm_db_snapshot(db);
	lsm_batch_clear(b);
	lsm_put_fixed64(op, 2);
	CHECK_OK(lsm_batch_merge(b, str_slice("m"), lsm_slice(op, 8), &st), &st);
	lsm_put_fixed64(op, 3);
	CHECK_OK(lsm_batch_merge(b, str_slice("m"), lsm_slice(op, 8), &st), &st);
	CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), 40, &st), &st);

	CHECK(check_reads(db, snap));
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(check_reads(db, snap));

	/* read_at: the point read, read_seq capped by what is applied (41) */
	{
		LsmReadOptions ro;
		LsmBuf		v = LSM_BUF_INIT;
		LsmSeq		at = 0;

		lsm_read_options_init(&ro);
		ro.read_at = &at;
		ro.read_seq = 25;
		CHECK(lsm_db_get(db, &ro, str_slice("k"), &v, &st) == LSM_OK && at == 25);
		ro.read_seq = 1000;
		CHECK(lsm_db_get(db, &ro, str_slice("k"), &v, &st) == LSM_NOT_FOUND && at == 41);
		ro.read_seq = 0;
		ro.snapshot = snap;
		at = 0;
		CHECK(lsm_db_get(db, &ro, str_slice("k"), &v, &st) == LSM_NOT_FOUND && at == 30);
		lsm_buf_free(&v);
	}

	lsm_db_release_snapshot(db, snap);
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_batch_destroy(b);
	test_rmtree(dir);
}

/*
 * Power loss after lsm_db_flush_pending: the reopened database holds
 * exactly the flushed memtable and reports its highest sequence number,
 * so the host re-applies the rest.  Then the same with the database's own
 * WAL and background flush: every synced write comes back, the flushed
 * ones from the table and the rest from the WAL.
 */
static void
test_crash_after_flush_pending(void)
{
	char		dir[256];
	LsmEnv	   *env = fault_env_new();
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmBatch   *b = lsm_batch_create();
	PreFlush	pf = {true, 0, 0};
	LsmDbStats	stats;
	LsmSeq		seq = 3;
	LsmSeq		seqs[400];
	bool		did;
	int			n;
	int			i;

	CHECK(env != NULL);
	fault_env_set_real_sync(env, false);
	test_tmpdir(dir, sizeof(dir), "host_crash");
	host_options(&o, true);
	o.env = env;
	o.pre_flush_fn = pre_flush;
	o.pre_flush_arg = &pf;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);

	/* fill until two memtables are frozen */
	for (n = 0; n < 400; n++)
	{
		char		k[32];
		char		v[200];

		lsm_db_stats(db, &stats);
		if (stats.imm_memtables == 2)
			break;
		snprintf(k, sizeof(k), "key%05d", n);
		snprintf(v, sizeof(v), "%0100d", n);
		seqs[n] = seq;
		CHECK_OK(write_at_kv(db, seq, k, v, &st), &st);
		seq += 3;
	}
	CHECK(n < 400);
	CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	CHECK(did && pf.calls == 1);
	CHECK(pf.max_seq > seqs[0] && pf.max_seq < seqs[n - 1]);
	CHECK(fault_env_crash(env) >= 0);
	lsm_db_close(db, &st);

	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == pf.max_seq);
	for (i = 0; i < n; i++)
	{
		char		k[32];
		char		v[200];

		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "%0100d", i);
		CHECK(has_value(db, NULL, k, seqs[i] <= pf.max_seq ? v : NULL));
		/* the host's replay of what the tables lack */
		if (seqs[i] > pf.max_seq)
			CHECK_OK(write_at_kv(db, seqs[i], k, v, &st), &st);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(lsm_db_last_seq(db) == seqs[n - 1]);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(lsm_db_last_seq(db) == seqs[n - 1]);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);

	/* own WAL, background flush, synced writes */
	test_tmpdir(dir, sizeof(dir), "host_crash2");
	host_options(&o, true);
	o.external_wal = false;
	o.env = env;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (n = 0; n < 400; n++)
	{
		char		k[32];
		char		v[200];

		lsm_db_stats(db, &stats);
		if (stats.imm_memtables == 3)
			break;
		snprintf(k, sizeof(k), "key%05d", n);
		snprintf(v, sizeof(v), "%0100d", n);
		lsm_batch_clear(b);
		put_str(b, k, v, &st);
		CHECK_OK(lsm_db_write(db, b, &st), &st);
	}
	CHECK(n < 400);
	CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	CHECK(did);
	CHECK_OK(lsm_db_flush_pending(db, &did, &st), &st);
	CHECK(did);
	CHECK(fault_env_crash(env) >= 0);
	lsm_db_close(db, &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (i = 0; i < n; i++)
	{
		char		k[32];
		char		v[200];

		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "%0100d", i);
		CHECK(has_value(db, NULL, k, v));
	}
	CHECK(lsm_db_last_seq(db) == (LsmSeq) n);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
	lsm_batch_destroy(b);
	fault_env_free(env);
}

/*
 * LsmReadOptions.counters: a get and an iterator count what they cost into
 * the caller's struct, an iterator as it goes (before it is destroyed),
 * and the database's counters get the same blocks.
 */
static void
test_read_counters(void)
{
	char		dir[256];
	char		k[32];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmReadOptions ro;
	LsmReadCounters c;
	LsmDbStats	before,
				after;
	LsmIter    *it;
	int			n = 0;

	test_tmpdir(dir, sizeof(dir), "host_counters");
	host_options(&o, false);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	for (int i = 0; i < 2000; i++)
	{
		snprintf(k, sizeof(k), "key%05d", i);
		CHECK_OK(write_at_kv(db, (LsmSeq) i + 1, k, "a value of some length, to fill blocks", &st), &st);
	}
	CHECK_OK(lsm_db_flush(db, &st), &st);

	memset(&c, 0, sizeof(c));
	lsm_read_options_init(&ro);
	ro.counters = &c;
	CHECK(has_value(db, &ro, "key00007", "a value of some length, to fill blocks"));
	CHECK(has_value(db, &ro, "key00007x", NULL));
	CHECK(c.gets == 2 && c.memtable_hits == 0);
	CHECK(c.sst_probes + c.bloom_useful == 2);
	CHECK(c.block_reads + c.block_cache_hits >= 1);

	memset(&c, 0, sizeof(c));
	lsm_db_stats(db, &before);
	CHECK_OK(lsm_db_iter(db, &ro, &it, &st), &st);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	CHECK(n == 2000);
	{
		uint64_t	files = 0;

		for (int l = 0; l < LSM_NUM_LEVELS; l++)
			files += before.files_per_level[l];
		/* a full scan opens every file once */
		CHECK(c.gets == 0 && files >= 1 && c.sst_probes == files);
	}
	CHECK(c.block_reads + c.block_cache_hits > 1);
	lsm_iter_destroy(it);
	lsm_db_stats(db, &after);
	CHECK(after.block_reads - before.block_reads == c.block_reads);
	CHECK(after.block_cache_hits - before.block_cache_hits == c.block_cache_hits);

	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

/* The int64 sum of key at read_seq (0: latest), and the operands folded. */
static int64_t
sum_at(LsmDb *db, const char *key, LsmSeq read_seq, uint64_t *operands)
{
	LsmReadOptions ro;
	LsmReadCounters c;
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;
	int64_t		n = -1;

	lsm_read_options_init(&ro);
	ro.read_seq = read_seq;
	memset(&c, 0, sizeof(c));
	ro.counters = &c;
	if (lsm_db_get(db, &ro, str_slice(key), &v, &st) == LSM_OK && v.len == 8)
		n = (int64_t) lsm_get_fixed64((const uint8_t *) v.data);
	lsm_buf_free(&v);
	*operands = c.merge_operands;
	return n;
}

/*
 * merge_fold_every: a run of merge operands of one key in the memtable is
 * folded into a value at every fold_every-th operand, so a get of a hot
 * counter folds at most that many; reads at older points still see the
 * operands below the fold; a batch holding several operands of the key
 * folds over its own earlier ones; and a folded value that would not fit
 * in the room reserved for the batch goes in as the operand.
 */
static void
test_merge_fold(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;
	LsmBatch   *b = lsm_batch_create();
	uint8_t		op[8];
	uint64_t	nops;
	LsmSeq		seq = 1;
	int			i;

	test_tmpdir(dir, sizeof(dir), "host_fold");
	host_options(&o, false);
	o.horizon_fn = horizon_zero;
	o.merge_fold_every = 4;
	/* one memtable for all: each memtable bounds its own run of operands */
	o.write_buffer_size = 64 * 1024;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, seq++, "other", "x", &st), &st);

	/* 100 increments of 1, one per batch, the first over no value at all */
	lsm_put_fixed64(op, 1);
	for (i = 0; i < 100; i++)
	{
		lsm_batch_clear(b);
		CHECK_OK(lsm_batch_merge(b, str_slice("c"), lsm_slice(op, 8), &st), &st);
		CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), seq++, &st), &st);
		CHECK(sum_at(db, "c", 0, &nops) == i + 1);
		CHECK(nops <= 3);
	}
	lsm_db_stats(db, &stats);
	CHECK(stats.merge_folds == 25);
	/* seq 2 is the first increment: a read there and at 50 sees its sum */
	CHECK(sum_at(db, "c", 2, &nops) == 1);
	CHECK(sum_at(db, "c", 51, &nops) == 50);

	/* one batch, ten operands of the key: folds count its own ones */
	lsm_batch_clear(b);
	for (i = 0; i < 10; i++)
		CHECK_OK(lsm_batch_merge(b, str_slice("c"), lsm_slice(op, 8), &st), &st);
	CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), seq, &st), &st);
	seq += 10;
	CHECK(sum_at(db, "c", 0, &nops) == 110);
	CHECK(nops <= 3);
	lsm_db_stats(db, &stats);
	CHECK(stats.merge_folds == 27);

	/* flushed and read back: the same sums */
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK(sum_at(db, "c", 0, &nops) == 110);
	CHECK(sum_at(db, "c", 51, &nops) == 50);
	CHECK_OK(lsm_db_close(db, &st), &st);

	/* off: every operand stays one */
	o.merge_fold_every = 0;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	seq = lsm_db_last_seq(db) + 1;
	for (i = 0; i < 20; i++)
	{
		lsm_batch_clear(b);
		CHECK_OK(lsm_batch_merge(b, str_slice("c"), lsm_slice(op, 8), &st), &st);
		CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), seq++, &st), &st);
	}
	CHECK(sum_at(db, "c", 0, &nops) == 130);
	CHECK(nops == 22);			/* and the two above the last fold */
	lsm_db_stats(db, &stats);
	CHECK(stats.merge_folds == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_batch_destroy(b);
	test_rmtree(dir);
}

/*
 * A folded value bigger than the room the batch reserved goes in as the
 * operand: a memtable just big enough for a batch of operands never fails
 * an apply because folds made its entries bigger.
 */
static void
test_merge_fold_room(void)
{
	char		dir[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmDbStats	stats;
	LsmBatch   *b = lsm_batch_create();
	char		op[200];
	LsmBuf		v = LSM_BUF_INIT;
	LsmSeq		seq = 1;
	int			i;

	memset(op, 'x', sizeof(op));
	test_tmpdir(dir, sizeof(dir), "host_fold_room");
	host_options(&o, false);
	o.merge = concat_merge;
	o.merge_fold_every = 2;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	/* values grow by 200 bytes per operand: folds soon do not fit */
	for (i = 0; i < 200; i++)
	{
		lsm_batch_clear(b);
		CHECK_OK(lsm_batch_merge(b, str_slice("k"), lsm_slice(op, sizeof(op)), &st), &st);
		CHECK_OK(lsm_db_write_at(db, lsm_batch_contents(b), seq++, &st), &st);
	}
	CHECK_OK(lsm_db_get(db, NULL, str_slice("k"), &v, &st), &st);
	CHECK(v.len == 200 * sizeof(op));
	lsm_db_stats(db, &stats);
	CHECK(stats.merge_folds > 0);
	lsm_buf_free(&v);
	CHECK_OK(lsm_db_close(db, &st), &st);
	lsm_batch_destroy(b);
	test_rmtree(dir);
}

/* Write a batch of merge operands (keys[i] += ops[i]) with hints. */
static LsmCode
merge_hinted(LsmDb *db, LsmSeq seq, int n, const char *const *keys,
			 const char *const *ops, const LsmBaseHint *hints, int n_hints,
			 LsmStatus *st)
{
	LsmBatch   *b = lsm_batch_create();
	LsmCode		rc = LSM_OK;

	for (int i = 0; i < n && rc == LSM_OK; i++)
		rc = lsm_batch_merge(b, str_slice(keys[i]), str_slice(ops[i]), st);
	if (rc == LSM_OK)
		rc = lsm_db_write_at_hinted(db, lsm_batch_contents(b), seq, hints, n_hints,
									false, st);
	lsm_batch_destroy(b);
	return rc;
}

static LsmBaseHint
hint(const char *key, LsmSeq read_seq, const char *base)
{
	LsmBaseHint h;

	h.key = str_slice(key);
	h.read_seq = read_seq;
	h.base = str_slice(base);
	return h;
}

/* Base folds so far, and the operands a get of key folds now. */
static uint64_t
base_folds(LsmDb *db)
{
	LsmDbStats	stats;

	lsm_db_stats(db, &stats);
	return stats.merge_base_folds;
}

static uint64_t
operands_of(LsmDb *db, const char *key)
{
	LsmReadOptions ro;
	LsmReadCounters c;
	LsmBuf		v = LSM_BUF_INIT;
	LsmStatus	st;

	lsm_read_options_init(&ro);
	memset(&c, 0, sizeof(c));
	ro.counters = &c;
	(void) lsm_db_get(db, &ro, str_slice(key), &v, &st);
	lsm_buf_free(&v);
	return c.merge_operands;
}

/*
 * Base hints (lsm_db_write_at_hinted): an operand whose key did not change
 * since the hint's read goes in as the hint's base with the operand folded
 * in, so a get stops there; a key written after the read, a memtable
 * switch or an ingest after the read leave the operand as it is (a fold
 * over the stale base would lose the write in between); keys without a
 * hint are untouched; reads below the fold still see the old value.
 */
static void
test_merge_base_hint(void)
{
	char		dir[256];
	char		got[256];
	LsmOptions	o;
	LsmStatus	st;
	LsmDb	   *db;
	LsmReadOptions ro;
	LsmBaseHint h[3];
	const char *k1[] = {"c"};
	const char *o1[] = {"+1"};

	test_tmpdir(dir, sizeof(dir), "host_base_hint");
	host_options(&o, false);
	o.merge = concat_merge;
	o.write_buffer_size = 64 * 1024;
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK_OK(write_at_kv(db, 1, "c", "v", &st), &st);

	/* read at 1, nothing changed since: folded */
	h[0] = hint("c", 1, "v");
	CHECK_OK(merge_hinted(db, 2, 1, k1, o1, h, 1, &st), &st);
	CHECK(base_folds(db) == 1);
	CHECK(has_value(db, NULL, "c", "v+1"));
	CHECK(operands_of(db, "c") == 0);
	lsm_read_options_init(&ro);
	ro.read_seq = 1;
	CHECK(has_value(db, &ro, "c", "v"));

	/* a write after the read (seq 3): the operand stays one */
	CHECK_OK(merge_hinted(db, 3, 1, k1, o1, NULL, 0, &st), &st);
	h[0] = hint("c", 2, "v+1");
	CHECK_OK(merge_hinted(db, 4, 1, k1, o1, h, 1, &st), &st);
	CHECK(base_folds(db) == 1);
	CHECK(has_value(db, NULL, "c", "v+1+1+1"));
	CHECK(operands_of(db, "c") == 2);

	/* a read at the newest point before a memtable switch still holds */
	CHECK_OK(lsm_db_flush(db, &st), &st);
	h[0] = hint("c", 4, "v+1+1+1");
	CHECK_OK(merge_hinted(db, 5, 1, k1, o1, h, 1, &st), &st);
	CHECK(base_folds(db) == 2);
	CHECK(has_value(db, NULL, "c", "v+1+1+1+1"));
	CHECK(operands_of(db, "c") == 0);

	/*
	 * A write after the read, then a switch: the new memtable holds no
	 * entry of the key, so only hint_floor tells that it changed.
	 */
	CHECK_OK(merge_hinted(db, 6, 1, k1, o1, NULL, 0, &st), &st);
	CHECK_OK(lsm_db_flush(db, &st), &st);
	h[0] = hint("c", 5, "v+1+1+1+1");
	CHECK_OK(merge_hinted(db, 7, 1, k1, o1, h, 1, &st), &st);
	CHECK(base_folds(db) == 2);
	CHECK(has_value(db, NULL, "c", "v+1+1+1+1+1+1"));

	/* the base is the hint's, not a read: a hint is a promise */
	h[0] = hint("c", 7, "w");
	CHECK_OK(merge_hinted(db, 8, 1, k1, o1, h, 1, &st), &st);
	CHECK(base_folds(db) == 3);
	CHECK(has_value(db, NULL, "c", "w+1"));

	/* several keys: only the hinted ones fold, each over its own base */
	{
		const char *keys[] = {"a", "b", "c", "d"};
		const char *ops[] = {"+a", "+b", "+c", "+d"};

		CHECK_OK(write_at_kv(db, 9, "a", "A", &st), &st);
		CHECK_OK(write_at_kv(db, 10, "b", "B", &st), &st);
		CHECK_OK(write_at_kv(db, 11, "d", "D", &st), &st);
		h[0] = hint("a", 11, "A");
		h[1] = hint("c", 11, "w+1");
		h[2] = hint("e", 11, "E");
		CHECK_OK(merge_hinted(db, 12, 4, keys, ops, h, 3, &st), &st);
		CHECK(base_folds(db) == 5);
		CHECK(has_value(db, NULL, "a", "A+a") && operands_of(db, "a") == 0);
		CHECK(has_value(db, NULL, "b", "B+b") && operands_of(db, "b") == 1);
		CHECK(has_value(db, NULL, "c", "w+1+c") && operands_of(db, "c") == 0);
		CHECK(has_value(db, NULL, "d", "D+d") && operands_of(db, "d") == 1);
		CHECK(has_value(db, NULL, "e", NULL));
	}

	/* a hint read at or after the operand's own number is no hint */
	h[0] = hint("c", 16, "x");
	CHECK_OK(merge_hinted(db, 16, 1, k1, o1, h, 1, &st), &st);
	CHECK(base_folds(db) == 5);
	CHECK(has_value(db, NULL, "c", "w+1+c+1"));

	/* flushed and reopened: the same values */
	CHECK_OK(lsm_db_flush(db, &st), &st);
	CHECK_OK(lsm_db_close(db, &st), &st);
	CHECK_OK(lsm_db_open(&o, dir, &db, &st), &st);
	CHECK(has_value(db, NULL, "c", "w+1+c+1"));
	CHECK(has_value(db, NULL, "a", "A+a"));
	CHECK(get_str(db, NULL, "b", got, sizeof(got)) == LSM_OK && strcmp(got, "B+b") == 0);
	CHECK_OK(lsm_db_close(db, &st), &st);
	test_rmtree(dir);
}

int
main(void)
{
	RUN(test_merge_base_hint);
	RUN(test_write_at_holes_reopen);
	RUN(test_raise_last_seq);
	RUN(test_write_at_refused);
	RUN(test_background_external);
	RUN(test_background_own_wal);
	RUN(test_memtable_waits);
	RUN(test_stall_stop_waits);
	RUN(test_region_pool);
	RUN(test_pre_flush);
	RUN(test_shared_block_cache);
	RUN(test_cache_id_reuse);
	RUN(test_read_seq_found_seq);
	RUN(test_crash_after_flush_pending);
	RUN(test_read_counters);
	RUN(test_merge_fold);
	RUN(test_merge_fold_room);
	return test_finish();
}
