/*
 * engine_bench.c
 *		A small driver measuring the engine alone, in the spirit of
 *		LevelDB's db_bench: fillrandom, readrandom, seekrandom.
 *
 *	engine_bench [--num=N] [--value_size=B] [--reads=N] [--seeks=N]
 *				 [--nexts=N] [--write_buffer_size=B] [--block_cache_size=B]
 *				 [--sync] [--benchmarks=fillrandom,readrandom,seekrandom]
 *				 [--db=DIR]
 *
 * Keys are 16 bytes (a zero-padded decimal number below num), values
 * value_size bytes that compress to about half.  fillrandom writes num
 * single-put batches in random key order into a fresh database (no fsync
 * per write unless --sync); readrandom does reads point gets of random
 * keys (about 63% exist after fillrandom); seekrandom seeks to random keys
 * and reads nexts entries after each.  Each benchmark prints one line:
 *
 *	<name> : <micros/op> micros/op; <ops/s> ops/s; <MB/s> MB/s (<notes>)
 *
 * Build from the repository root: compile this file with -O2 -Isrc/engine
 * together with every src/engine .c file except env_pg.c, and link with
 * -lzstd -lpthread -lm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "lsm.h"

#define KEY_LEN 16

typedef struct BenchOpts
{
	long		num;
	long		reads;
	long		seeks;
	int			nexts;
	size_t		value_size;
	size_t		write_buffer_size;
	size_t		block_cache_size;
	bool		sync;
	const char *benchmarks;
	const char *db;
} BenchOpts;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t
rng_next(void)
{
	uint64_t	x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static double
now_sec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double) tv.tv_sec + (double) tv.tv_usec / 1e6;
}

/* The key of number k: 16 decimal digits, zero padded. */
static void
make_key(char *buf, long k)
{
	uint64_t	v = (uint64_t) k;

	for (int i = KEY_LEN - 1; i >= 0; i--)
	{
		buf[i] = (char) ('0' + v % 10);
		v /= 10;
	}
	buf[KEY_LEN] = '\0';
}

/*
 * A pool of value bytes: random letters for half, a repeated byte for the
 * rest, so each value compresses to about 50% like db_bench's.
 */
static char *
make_value_pool(size_t size)
{
	char	   *p = malloc(size);

	for (size_t i = 0; i < size; i++)
		p[i] = (i / 16) % 2 ? 'x' : (char) ('a' + rng_next() % 26);
	return p;
}

static void
report(const char *name, long ops, double secs, double bytes, const char *note)
{
	double		ops_s = secs > 0 ? (double) ops / secs : 0;

	printf("%-12s : %10.3f micros/op; %10.0f ops/s; %8.1f MB/s%s%s%s\n", name,
		   ops > 0 ? secs * 1e6 / (double) ops : 0, ops_s,
		   secs > 0 ? bytes / secs / 1048576.0 : 0,
		   note ? " (" : "", note ? note : "", note ? ")" : "");
	fflush(stdout);
}

static int
open_db(const BenchOpts *bo, LsmDb **db)
{
	LsmOptions	o;
	LsmStatus	st;

	lsm_options_init(&o);
	o.sync_writes = bo->sync;
	if (bo->write_buffer_size)
		o.write_buffer_size = bo->write_buffer_size;
	o.block_cache_size = bo->block_cache_size;
	if (lsm_db_open(&o, bo->db, db, &st) != LSM_OK)
	{
		fprintf(stderr, "cannot open %s: %s\n", bo->db, st.msg);
		return 0;
	}
	return 1;
}

static int
bench_fillrandom(const BenchOpts *bo, LsmDb *db)
{
	LsmBatch   *b = lsm_batch_create();
	char	   *pool = make_value_pool(bo->value_size + 4096);
	char		key[KEY_LEN + 1];
	LsmStatus	st;
	double		t0 = now_sec();

	for (long i = 0; i < bo->num; i++)
	{
		size_t		off = rng_next() % 4096;

		make_key(key, (long) (rng_next() % (uint64_t) bo->num));
		lsm_batch_clear(b);
		lsm_batch_put(b, lsm_slice(key, KEY_LEN), lsm_slice(pool + off, bo->value_size), &st);
		if (lsm_db_write(db, b, &st) != LSM_OK)
		{
			fprintf(stderr, "write: %s\n", st.msg);
			return 0;
		}
	}
	report("fillrandom", bo->num, now_sec() - t0,
		   (double) bo->num * (double) (KEY_LEN + bo->value_size), NULL);
	lsm_batch_destroy(b);
	free(pool);
	return 1;
}

static int
bench_readrandom(const BenchOpts *bo, LsmDb *db)
{
	LsmBuf		v = LSM_BUF_INIT;
	char		key[KEY_LEN + 1];
	char		note[64];
	LsmStatus	st;
	long		found = 0;
	double		bytes = 0;
	double		t0 = now_sec();

	for (long i = 0; i < bo->reads; i++)
	{
		LsmCode		rc;

		make_key(key, (long) (rng_next() % (uint64_t) bo->num));
		rc = lsm_db_get(db, NULL, lsm_slice(key, KEY_LEN), &v, &st);
		if (rc == LSM_OK)
		{
			found++;
			bytes += (double) (KEY_LEN + v.len);
		}
		else if (rc != LSM_NOT_FOUND)
		{
			fprintf(stderr, "get: %s\n", st.msg);
			return 0;
		}
	}
	snprintf(note, sizeof(note), "%ld of %ld found", found, bo->reads);
	report("readrandom", bo->reads, now_sec() - t0, bytes, note);
	lsm_buf_free(&v);
	return 1;
}

static int
bench_seekrandom(const BenchOpts *bo, LsmDb *db)
{
	LsmIter    *it;
	char		key[KEY_LEN + 1];
	char		note[64];
	LsmStatus	st;
	long		entries = 0;
	double		bytes = 0;
	double		t0 = now_sec();

	if (lsm_db_iter(db, NULL, &it, &st) != LSM_OK)
	{
		fprintf(stderr, "iterator: %s\n", st.msg);
		return 0;
	}
	for (long i = 0; i < bo->seeks; i++)
	{
		make_key(key, (long) (rng_next() % (uint64_t) bo->num));
		lsm_iter_seek(it, lsm_slice(key, KEY_LEN));
		for (int j = 0; j < bo->nexts && lsm_iter_valid(it); j++)
		{
			bytes += (double) (lsm_iter_key(it).len + lsm_iter_value(it).len);
			entries++;
			lsm_iter_next(it);
		}
		if (lsm_iter_status(it, &st) != LSM_OK)
		{
			fprintf(stderr, "scan: %s\n", st.msg);
			return 0;
		}
	}
	lsm_iter_destroy(it);
	snprintf(note, sizeof(note), "seek + %d nexts; %ld entries read", bo->nexts, entries);
	report("seekrandom", bo->seeks, now_sec() - t0, bytes, note);
	return 1;
}

static void
print_stats(LsmDb *db)
{
	LsmDbStats	s;

	lsm_db_stats(db, &s);
	printf("stats: L0 files %llu (%.1f MiB), memtable %.1f MiB, gets %llu, sst probes %llu, "
		   "bloom useful %llu, bloom not useful %llu, cache hits %llu, block reads %llu\n",
		   (unsigned long long) s.files_per_level[0], s.bytes_per_level[0] / 1048576.0,
		   s.memtable_bytes / 1048576.0, (unsigned long long) s.gets,
		   (unsigned long long) s.sst_probes, (unsigned long long) s.bloom_useful,
		   (unsigned long long) s.bloom_not_useful, (unsigned long long) s.block_cache_hits,
		   (unsigned long long) s.block_reads);
}

static const char *
arg_value(const char *arg, const char *name)
{
	size_t		n = strlen(name);

	if (strncmp(arg, name, n) == 0 && arg[n] == '=')
		return arg + n + 1;
	return NULL;
}

int
main(int argc, char **argv)
{
	BenchOpts	bo;
	LsmDb	   *db = NULL;
	LsmStatus	st;
	char	   *list;
	char	   *save = NULL;
	int			rc = 0;

	memset(&bo, 0, sizeof(bo));
	bo.num = 1000000;
	bo.reads = -1;
	bo.seeks = -1;
	bo.nexts = 100;
	bo.value_size = 1024;
	bo.block_cache_size = 8 * 1024 * 1024;
	bo.benchmarks = "fillrandom,readrandom,seekrandom";
	bo.db = "/tmp/lsm_engine_bench";
	for (int i = 1; i < argc; i++)
	{
		const char *v;

		if ((v = arg_value(argv[i], "--num")))
			bo.num = atol(v);
		else if ((v = arg_value(argv[i], "--reads")))
			bo.reads = atol(v);
		else if ((v = arg_value(argv[i], "--seeks")))
			bo.seeks = atol(v);
		else if ((v = arg_value(argv[i], "--nexts")))
			bo.nexts = atoi(v);
		else if ((v = arg_value(argv[i], "--value_size")))
			bo.value_size = (size_t) atol(v);
		else if ((v = arg_value(argv[i], "--write_buffer_size")))
			bo.write_buffer_size = (size_t) atol(v);
		else if ((v = arg_value(argv[i], "--block_cache_size")))
			bo.block_cache_size = (size_t) atol(v);
		else if ((v = arg_value(argv[i], "--benchmarks")))
			bo.benchmarks = v;
		else if ((v = arg_value(argv[i], "--db")))
			bo.db = v;
		else if (strcmp(argv[i], "--sync") == 0)
			bo.sync = true;
		else
		{
			fprintf(stderr, "unknown argument \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (bo.num <= 0)
	{
		fprintf(stderr, "--num must be positive\n");
		return 2;
	}
	if (bo.reads < 0)
		bo.reads = bo.num;
	if (bo.seeks < 0)
		bo.seeks = bo.num / 100 > 0 ? bo.num / 100 : 1;
	printf("keys: %d bytes, values: %zu bytes, num: %ld, db: %s\n", KEY_LEN,
		   bo.value_size, bo.num, bo.db);

	list = strdup(bo.benchmarks);
	for (char *name = strtok_r(list, ",", &save); name && rc == 0;
		 name = strtok_r(NULL, ",", &save))
	{
		if (strcmp(name, "fillrandom") == 0)
		{
			LsmEnv	   *env = lsm_env_posix();
			char		current[4096];

			/*
			 * A fill starts from an empty database: remove an old one, but
			 * only a directory that holds a database (never a mistyped path).
			 */
			if (db != NULL)
				lsm_db_close(db, &st);
			db = NULL;
			snprintf(current, sizeof(current), "%s/CURRENT", bo.db);
			if (env->exists(env, current))
				env->remove_tree(env, bo.db, &st);
			if (!open_db(&bo, &db) || !bench_fillrandom(&bo, db))
				rc = 1;
		}
		else if (strcmp(name, "readrandom") == 0 || strcmp(name, "seekrandom") == 0)
		{
			if (db == NULL && !open_db(&bo, &db))
				rc = 1;
			else if (name[0] == 'r' ? !bench_readrandom(&bo, db) : !bench_seekrandom(&bo, db))
				rc = 1;
		}
		else
		{
			fprintf(stderr, "unknown benchmark \"%s\"\n", name);
			rc = 2;
		}
	}
	if (db != NULL)
	{
		print_stats(db);
		lsm_db_close(db, &st);
	}
	free(list);
	return rc;
}
