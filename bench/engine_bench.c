/*
 * engine_bench.c
 *		A small driver measuring the engine alone, in the spirit of
 *		LevelDB's db_bench: fillrandom, readrandom, seekrandom.
 *
 *	engine_bench [--num=N] [--value_size=B] [--reads=N] [--seeks=N]
 *				 [--nexts=N] [--write_buffer_size=B] [--block_cache_size=B]
 *				 [--block_size=B] [--bloom_bits=N] [--compression=zstd|lz4|none]
 *				 [--compression_upper=lz4|zstd|none]
 *				 [--compression_level=N] [--compression_ratio=R]
 *				 [--seed=N] [--sync] [--compaction_style=leveled|tiered]
 *				 [--level_dynamic=0|1] [--max_bytes_for_level_base=B]
 *				 [--target_file_size=B] [--l0_compaction_trigger=N]
 *				 [--background_threads=N]
 *				 [--benchmarks=fillrandom,overwrite,readrandom,seekrandom,compact,
 *							   waitforcompaction]
 *				 [--db=DIR]
 *
 * Keys are 16 bytes (a zero-padded decimal number below num), values
 * value_size bytes.  By default they are cut at random offsets from a small
 * pool, so neighbouring values overlap and zstd shrinks a table to about a
 * quarter of the raw bytes.  --compression_ratio=R instead makes them the
 * way RocksDB's db_bench does (its --compression_ratio, default 0.5): a
 * 1 MiB pool of 100-byte pieces, each R*100 random printable bytes repeated
 * to fill the piece, handed out as consecutive slices.  The comparison
 * with RocksDB (engine_vs_rocksdb.sh) passes it so that both stores
 * compress the same data.  The
 * block, bloom and compression flags set the LsmOptions fields of the same
 * names (defaults: the engine's, 4096 / 10 / zstd / 3).  --seed=N (N > 0)
 * starts the random stream elsewhere, so that separate processes of a
 * fill and its reads can pick independent keys.  fillrandom writes num
 * single-put batches in random key order into a fresh database (no fsync
 * per write unless --sync); overwrite writes num more single-put batches
 * of random keys below num into the database as it is (the one a fill
 * earlier in the list left, or the one in --db; keys picked like
 * fillrandom's, so most of them replace a value; about 86% of the keys
 * exist after fillrandom,overwrite); readrandom does reads point gets of
 * random keys (about 63% exist after fillrandom); seekrandom seeks to random keys
 * and reads nexts entries after each; compact compacts the whole database
 * down to its bottom level (lsm_db_compact_range), so listing the reads
 * again after it measures them on a fully compacted tree.
 * --compaction_style picks the engine's compaction (default leveled).
 * --background_threads=N (default 0) gives the database N threads of its
 * own that flush and compact (LsmOptions.background_threads), so that the
 * writes do neither; waitforcompaction then waits, untimed, until no flush
 * or compaction is pending or running, as db_bench's waitforcompaction
 * does (without threads it runs what is due itself).  Each benchmark
 * prints one line:
 *
 *	<name> : <micros/op> micros/op; <ops/s> ops/s; <MB/s> MB/s (<notes>)
 *
 * Build from the repository root: compile this file with -O2 -Isrc/engine
 * together with every src/engine .c file except env_pg.c, and link with
 * -lzstd -llz4 -lpthread -lm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

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
	size_t		block_size;		/* 0: the engine's default */
	int			bloom_bits;		/* -1: the engine's default */
	int			compression;	/* -1: default, else LsmCompression */
	int			compression_upper;	/* -1: default, else LsmCompression */
	int			compression_level;	/* -1: the engine's default */
	double		compression_ratio;	/* > 0: db_bench-style values */
	int			compaction_style;	/* -1: default, else LsmCompactStyle */
	int			level_dynamic;	/* -1: default, else 0/1 */
	uint64_t	level_base;		/* 0: default max_bytes_for_level_base */
	uint64_t	file_size;		/* 0: default target_file_size */
	int			l0_trigger;		/* 0: default l0_compaction_trigger */
	int			background_threads; /* LsmOptions.background_threads */
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

/*
 * Values the way RocksDB's db_bench makes them (RandomGenerator with
 * test::CompressibleString): pieces of 100 bytes, each ratio*100 random
 * printable characters (' '..'~') repeated to fill it, appended until the
 * pool holds max(1 MiB, value_size) bytes; values are consecutive slices,
 * wrapping to the start.
 */
typedef struct ValueGen
{
	char	   *pool;
	size_t		size;
	size_t		pos;
} ValueGen;

static void
value_gen_init(ValueGen *g, double ratio, size_t value_size)
{
	size_t		want = value_size > 1048576 ? value_size : 1048576;
	int			raw = (int) (100 * ratio);

	if (raw < 1)
		raw = 1;
	g->size = (want + 99) / 100 * 100;
	g->pool = malloc(g->size);
	g->pos = 0;
	for (size_t off = 0; off < g->size; off += 100)
	{
		char		piece[100];

		for (int i = 0; i < raw && i < 100; i++)
			piece[i] = (char) (' ' + rng_next() % 95);
		for (int i = raw; i < 100; i++)
			piece[i] = piece[i % raw];
		memcpy(g->pool + off, piece, 100);
	}
}

static const char *
value_gen_next(ValueGen *g, size_t len)
{
	if (g->pos + len > g->size)
		g->pos = 0;
	g->pos += len;
	return g->pool + g->pos - len;
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
	if (bo->block_size)
		o.block_size = bo->block_size;
	if (bo->bloom_bits >= 0)
		o.bloom_bits_per_key = bo->bloom_bits;
	if (bo->compression >= 0)
		o.compression = (LsmCompression) bo->compression;
	if (bo->compression_upper >= 0)
		o.compression_upper = (LsmCompression) bo->compression_upper;
	if (bo->compression_level >= 0)
		o.compression_level = bo->compression_level;
	if (bo->compaction_style >= 0)
		o.compaction_style = (LsmCompactStyle) bo->compaction_style;
	if (bo->level_dynamic >= 0)
		o.level_dynamic = bo->level_dynamic != 0;
	if (bo->level_base > 0)
		o.max_bytes_for_level_base = bo->level_base;
	if (bo->file_size > 0)
		o.target_file_size = bo->file_size;
	if (bo->l0_trigger > 0)
		o.l0_compaction_trigger = bo->l0_trigger;
#ifdef LSM_HAS_BACKGROUND_THREADS
	o.background_threads = bo->background_threads;
#else
	if (bo->background_threads > 0)
	{
		fprintf(stderr, "this engine has no background_threads\n");
		return 0;
	}
#endif
	if (lsm_db_open(&o, bo->db, db, &st) != LSM_OK)
	{
		fprintf(stderr, "cannot open %s: %s\n", bo->db, st.msg);
		return 0;
	}
	return 1;
}

/* fillrandom and overwrite: num single-put batches of random keys. */
static int
bench_write(const BenchOpts *bo, LsmDb *db, const char *name)
{
	LsmBatch   *b = lsm_batch_create();
	char	   *pool = NULL;
	ValueGen	gen = {0};
	char		key[KEY_LEN + 1];
	LsmStatus	st;
	double		t0;

	if (bo->compression_ratio > 0)
		value_gen_init(&gen, bo->compression_ratio, bo->value_size);
	else
		pool = make_value_pool(bo->value_size + 4096);
	t0 = now_sec();
	for (long i = 0; i < bo->num; i++)
	{
		const char *val;

		if (gen.pool)
			val = value_gen_next(&gen, bo->value_size);
		else
			val = pool + rng_next() % 4096;
		make_key(key, (long) (rng_next() % (uint64_t) bo->num));
		lsm_batch_clear(b);
		lsm_batch_put(b, lsm_slice(key, KEY_LEN), lsm_slice(val, bo->value_size), &st);
		if (lsm_db_write(db, b, &st) != LSM_OK)
		{
			fprintf(stderr, "write: %s\n", st.msg);
			return 0;
		}
	}
	report(name, bo->num, now_sec() - t0,
		   (double) bo->num * (double) (KEY_LEN + bo->value_size), NULL);
	lsm_batch_destroy(b);
	free(pool);
	free(gen.pool);
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

/*
 * waitforcompaction: wait until nothing is left for the background threads
 * (no frozen memtable, no compaction due or running), untimed like
 * db_bench's.  A minute without any progress while work is still pending
 * means the threads stopped (a background error): give up.
 */
static int
bench_wait_for_compaction(const BenchOpts *bo, LsmDb *db)
{
	double		t0 = now_sec();
	double		last_progress = t0;
	LsmDbStats	s0;
	LsmDbStats	s;
	uint64_t	done;

	lsm_db_stats(db, &s0);
	if (bo->background_threads == 0)
	{
		LsmStatus	st;

		if (lsm_db_compact_pending(db, &st) != LSM_OK)
		{
			fprintf(stderr, "waitforcompaction: %s\n", st.msg);
			return 0;
		}
	}
	done = s0.flushes + s0.compactions;
	for (;;)
	{
		lsm_db_stats(db, &s);
		if (!lsm_db_flush_needed(db) && !lsm_db_compaction_needed(db) &&
			s.running_compactions == 0)
			break;
		if (s.flushes + s.compactions != done || s.running_compactions > 0)
		{
			done = s.flushes + s.compactions;
			last_progress = now_sec();
		}
		else if (now_sec() - last_progress > 60)
		{
			fprintf(stderr, "waitforcompaction: no progress for a minute\n");
			return 0;
		}
		usleep(10000);
	}
	printf("waitforcompaction : %.3f s untimed (%llu flushes, %llu compactions)\n",
		   now_sec() - t0, (unsigned long long) (s.flushes - s0.flushes),
		   (unsigned long long) (s.compactions - s0.compactions));
	fflush(stdout);
	return 1;
}

/* Compact everything down to the bottom level. */
static int
bench_compact(LsmDb *db)
{
	LsmStatus	st;
	LsmDbStats	s0;
	LsmDbStats	s1;
	char		note[96];
	double		t0 = now_sec();

	lsm_db_stats(db, &s0);
	if (lsm_db_compact_range(db, lsm_slice(NULL, 0), lsm_slice(NULL, 0), &st) != LSM_OK)
	{
		fprintf(stderr, "compact: %s\n", st.msg);
		return 0;
	}
	lsm_db_stats(db, &s1);
	snprintf(note, sizeof(note), "read %.1f MiB, wrote %.1f MiB",
			 (s1.bytes_compacted_read - s0.bytes_compacted_read) / 1048576.0,
			 (s1.bytes_compacted_written - s0.bytes_compacted_written) / 1048576.0);
	report("compact", 1, now_sec() - t0,
		   (double) (s1.bytes_compacted_written - s0.bytes_compacted_written), note);
	return 1;
}

/* The shape of the tree and what compaction cost. */
static void
print_compaction_stats(const LsmDbStats *s)
{
	uint64_t	bytes = 0;

	printf("levels (files/MiB):");
	for (int l = 0; l < LSM_NUM_LEVELS; l++)
	{
		printf(" L%d %llu/%.1f", l, (unsigned long long) s->files_per_level[l],
			   s->bytes_per_level[l] / 1048576.0);
		bytes += s->bytes_per_level[l];
	}
	printf("; total %.1f MiB\n", bytes / 1048576.0);
	printf("compaction: %llu compactions (%llu trivial moves), read %.1f MiB, wrote %.1f MiB, "
		   "flushed %.1f MiB, wal %.1f MiB, write amp %.2f, read amp %.2f probes/get, "
		   "stalls %llu slowdowns / %llu stops / %.1f ms, "
		   "memtable waits %llu / %.1f ms\n",
		   (unsigned long long) s->compactions, (unsigned long long) s->trivial_moves,
		   s->bytes_compacted_read / 1048576.0, s->bytes_compacted_written / 1048576.0,
		   s->bytes_flushed / 1048576.0, s->bytes_written_wal / 1048576.0,
		   s->write_amplification, s->read_amplification,
		   (unsigned long long) s->stall_slowdowns, (unsigned long long) s->stall_stops,
		   s->stall_micros / 1000.0, (unsigned long long) s->memtable_waits,
		   s->memtable_wait_micros / 1000.0);
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
	print_compaction_stats(&s);
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
	bo.bloom_bits = -1;
	bo.compression = -1;
	bo.compression_upper = -1;
	bo.compression_level = -1;
	bo.compaction_style = -1;
	bo.level_dynamic = -1;
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
		else if ((v = arg_value(argv[i], "--block_size")))
			bo.block_size = (size_t) atol(v);
		else if ((v = arg_value(argv[i], "--bloom_bits")))
			bo.bloom_bits = atoi(v);
		else if ((v = arg_value(argv[i], "--compression_level")))
			bo.compression_level = atoi(v);
		else if ((v = arg_value(argv[i], "--seed")))
		{
			uint64_t	seed = (uint64_t) strtoull(v, NULL, 10);

			if (seed != 0)
			{
				rng_state ^= seed * 0x9E3779B97F4A7C15ull;
				if (rng_state == 0)
					rng_state = 0x2545F4914F6CDD1Dull;
				for (int k = 0; k < 8; k++)
					(void) rng_next();
			}
		}
		else if ((v = arg_value(argv[i], "--compression_ratio")))
			bo.compression_ratio = atof(v);
		else if ((v = arg_value(argv[i], "--compression_upper")) ||
				 (v = arg_value(argv[i], "--compression")))
		{
			int		   *to = strncmp(argv[i], "--compression_upper", 19) == 0
				? &bo.compression_upper : &bo.compression;

			if (strcmp(v, "zstd") == 0)
				*to = LSM_COMPRESSION_ZSTD;
			else if (strcmp(v, "lz4") == 0)
				*to = LSM_COMPRESSION_LZ4;
			else if (strcmp(v, "none") == 0)
				*to = LSM_COMPRESSION_NONE;
			else
			{
				fprintf(stderr, "%.*s must be zstd, lz4 or none\n",
						(int) strcspn(argv[i], "="), argv[i]);
				return 2;
			}
		}
		else if ((v = arg_value(argv[i], "--level_dynamic")))
			bo.level_dynamic = atoi(v);
		else if ((v = arg_value(argv[i], "--max_bytes_for_level_base")))
			bo.level_base = strtoull(v, NULL, 10);
		else if ((v = arg_value(argv[i], "--target_file_size")))
			bo.file_size = strtoull(v, NULL, 10);
		else if ((v = arg_value(argv[i], "--l0_compaction_trigger")))
			bo.l0_trigger = atoi(v);
		else if ((v = arg_value(argv[i], "--background_threads")))
			bo.background_threads = atoi(v);
		else if ((v = arg_value(argv[i], "--compaction_style")))
		{
			if (strcmp(v, "leveled") == 0)
				bo.compaction_style = LSM_COMPACT_LEVELED;
			else if (strcmp(v, "tiered") == 0)
				bo.compaction_style = LSM_COMPACT_TIERED;
			else
			{
				fprintf(stderr, "--compaction_style must be leveled or tiered\n");
				return 2;
			}
		}
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
			if (!open_db(&bo, &db) || !bench_write(&bo, db, "fillrandom"))
				rc = 1;
		}
		else if (strcmp(name, "overwrite") == 0)
		{
			if (db == NULL && !open_db(&bo, &db))
				rc = 1;
			else if (!bench_write(&bo, db, "overwrite"))
				rc = 1;
		}
		else if (strcmp(name, "readrandom") == 0 || strcmp(name, "seekrandom") == 0)
		{
			if (db == NULL && !open_db(&bo, &db))
				rc = 1;
			else if (name[0] == 'r' ? !bench_readrandom(&bo, db) : !bench_seekrandom(&bo, db))
				rc = 1;
		}
		else if (strcmp(name, "waitforcompaction") == 0)
		{
			if (db == NULL && !open_db(&bo, &db))
				rc = 1;
			else if (!bench_wait_for_compaction(&bo, db))
				rc = 1;
		}
		else if (strcmp(name, "compact") == 0)
		{
			LsmDbStats	s;

			if (db == NULL && !open_db(&bo, &db))
				rc = 1;
			else
			{
				lsm_db_stats(db, &s);
				print_compaction_stats(&s);
				if (!bench_compact(db))
					rc = 1;
			}
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
