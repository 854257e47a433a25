/*
 * spill.c
 *		Bulk loading, the transaction side: a table's writes spilled to
 *		sorted runs once they pass lsm_fdw.spill_threshold, and at commit
 *		the runs merged into the files the commit ingests (commit.c).
 *
 * A run is an SSTable of the transaction's index as it was when it spilled:
 * every op, its op number as the sequence number (so that a scan that
 * started before the spill still sees exactly the ops it saw before, and
 * savepoint-free op-number rules stay the same).  The in-memory index is
 * then emptied and bounds the memory of the transaction (an external sort:
 * sorted runs, merged once at the end).  The runs and the commit's files
 * live in $PGDATA/lsm_fdw/bulk, named by process and a counter; the
 * directory is emptied at every start once the log is replayed (a commit's
 * files are hard-linked into the table directory before they are
 * ingested, so the replay of a committed load finds them, and nothing else
 * there is needed by anyone).
 *
 * Engine objects made here (run readers, builders, iterators) are this
 * backend's own: they are allocated in process memory, not in the shared
 * heap (lsm_alloc_private_begin).
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/pmsignal.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "iter_merge.h"
#include "lsm_alloc.h"
#include "lsm_format.h"
#include "lsm_spill.h"
#include "sstable.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"

int			lsm_spill_threshold = 64 * 1024;	/* kB */
int			lsm_debug_ingest_delay = 0; /* ms */

/* Files of a commit are cut at this size: a few, big, bottom-level files. */
#define BULK_FILE_BYTES		((uint64) 256 * 1024 * 1024)
/* zstd level of those files (see lsm_spill_build) */
#define BULK_ZSTD_LEVEL		1

/*
 * Runs of a load written uncompressed: 1 GiB at the default threshold.  LZ4
 * took 13% of a 1M-row COPY's CPU (1.1 of 8.4 s) to halve bytes that live
 * a few seconds in the page cache and are deleted at the commit, often
 * before they reach the disk; a longer load's runs do reach it, and there
 * half the bytes is worth the CPU.
 */
#define RAW_RUNS			16

/*
 * Blocks of a run: about a thousand per run, 4 to 64 KiB (64 KiB at the
 * default threshold).  A run is read front to back by the commit's merge,
 * and probed by a point lookup only when the key filter (xact.c) and its
 * bloom filter both say maybe.  Every open run keeps its index block in
 * memory until the commit: with 4 KiB blocks that was ~0.5 MB per 64 MB
 * run, 88 MB more peak RSS for a 10M-row load than for 1M, and a pread per
 * 4 KiB in the merge.  Small runs keep small blocks: the merge holds a
 * block of every run.
 */
#define RUN_BLOCK_BYTES(threshold_kb)	((size_t) Max(4, Min(64, (threshold_kb) / 1024)) * 1024)

struct LsmSpill
{
	int			nruns;
	int			cap;
	char	  **paths;			/* TopMemoryContext */
	LsmSst	  **runs;			/* opened on first read; process memory */
	uint64		bytes;
};

static uint64 bulk_counter = 0;

char *
lsm_bulk_dir(void)
{
	return psprintf("%s/lsm_fdw/bulk", DataDir);
}

static char *
new_bulk_path(const char *kind)
{
	return psprintf("%s/%s-%d-" INT64_FORMAT "-" UINT64_FORMAT ".sst",
					lsm_bulk_dir(), kind, MyProcPid,
					(int64) GetCurrentTimestamp(), ++bulk_counter);
}

static void
sst_options(LsmSstOptions *so, LsmCompression codec)
{
	LsmOptions	o;

	lsm_options_init(&o);
	lsm_sst_options_from(so, &o);
	so->compression = codec;
}

static void
report_engine(LsmStatus *st, const char *what)
{
	lsm_alloc_private_end();
	lsm_report(ERROR, st, what);
}

LsmSpill *
lsm_spill_add_run(LsmSpill *sp, LsmIter *ops)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	char	   *dir = lsm_bulk_dir();
	char	   *path;
	LsmSstOptions so;
	LsmSstBuilder *b;
	LsmSstProps props;
	LsmStatus	st;
	LsmCode		rc = LSM_OK;

	if (sp == NULL)
		sp = palloc0(sizeof(LsmSpill));
	if (sp->nruns == sp->cap)
	{
		sp->cap = Max(8, sp->cap * 2);
		sp->paths = sp->paths ? repalloc(sp->paths, sizeof(char *) * sp->cap)
			: palloc(sizeof(char *) * sp->cap);
		sp->runs = sp->runs ? repalloc(sp->runs, sizeof(LsmSst *) * sp->cap)
			: palloc(sizeof(LsmSst *) * sp->cap);
	}
	path = new_bulk_path("run");
	MemoryContextSwitchTo(old);

	if (MakePGDirectory(dir) < 0 && errno != EEXIST)
	{
		lsm_alloc_private_begin();
		lsm_iter_destroy(ops);
		lsm_alloc_private_end();
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	}
	/*
	 * Runs are read once or twice and deleted: the first RAW_RUNS stay
	 * uncompressed, later ones get the fast codec.
	 */
	sst_options(&so, sp->nruns < RAW_RUNS ? LSM_COMPRESSION_NONE : LSM_COMPRESSION_LZ4);
	so.block_size = RUN_BLOCK_BYTES(lsm_spill_threshold);
	lsm_alloc_private_begin();
	rc = lsm_sst_builder_open(NULL, path, &so, &b, &st);
	if (rc != LSM_OK)
	{
		lsm_iter_destroy(ops);
		report_engine(&st, "spill a transaction's writes");
	}
	/* a crash removes the run (lsm_bulk_sweep): no fsync, maybe no write-back */
	lsm_sst_builder_skip_sync(b);
	for (lsm_iter_seek_first(ops); lsm_iter_valid(ops) && rc == LSM_OK; lsm_iter_next(ops))
		rc = lsm_sst_builder_add(b, lsm_iter_key(ops), lsm_iter_value(ops), &st);
	if (rc == LSM_OK)
		rc = lsm_iter_status(ops, &st);
	lsm_iter_destroy(ops);
	if (rc != LSM_OK)
	{
		lsm_sst_builder_abandon(b);
		report_engine(&st, "spill a transaction's writes");
	}
	memset(&props, 0, sizeof(props));
	if (lsm_sst_builder_finish(b, &props, &st) != LSM_OK)
		report_engine(&st, "spill a transaction's writes");
	lsm_alloc_private_end();
	sp->paths[sp->nruns] = path;
	sp->runs[sp->nruns] = NULL;
	sp->nruns++;
	sp->bytes += props.file_bytes;
	lsm_sst_props_free(&props);
	return sp;
}

int
lsm_spill_nruns(const LsmSpill *sp)
{
	return sp ? sp->nruns : 0;
}

uint64
lsm_spill_bytes(const LsmSpill *sp)
{
	return sp ? sp->bytes : 0;
}

static LsmSst *
run_reader(LsmSpill *sp, int i)
{
	LsmStatus	st;

	if (sp->runs[i] == NULL)
	{
		lsm_alloc_private_begin();
		if (lsm_sst_open(NULL, sp->paths[i], i + 1, NULL, &sp->runs[i], &st) != LSM_OK)
			report_engine(&st, "read a transaction's spilled writes");
		lsm_alloc_private_end();
	}
	return sp->runs[i];
}

typedef struct LookupState
{
	LsmSlice	key;
	bool		found;
	LsmParsedKey pk;
	LsmSlice	value;
} LookupState;

static bool
lookup_visit(void *arg, LsmSlice ikey, LsmSlice value)
{
	LookupState *ls = arg;
	LsmParsedKey pk;

	if (!lsm_ikey_parse(ikey, &pk) || !lsm_slice_eq(pk.user_key, ls->key))
		return false;
	ls->found = true;
	ls->pk = pk;
	ls->pk.user_key = ls->key;
	ls->value = lsm_slice(pnstrdup((const char *) value.data, value.len), value.len);
	return false;
}

bool
lsm_spill_lookup(LsmSpill *sp, LsmSlice key, uint64 upto, LsmParsedKey *pk,
				 LsmSlice *value)
{
	LsmBuf		target = LSM_BUF_INIT;
	LsmStatus	st;

	if (sp == NULL)
		return false;
	if (!lsm_ikey_append(&target, key, upto, LSM_KIND_FOR_SEEK))
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	/* newest run first: a key's newest op is in the newest run holding it */
	for (int i = sp->nruns - 1; i >= 0; i--)
	{
		LsmSst	   *t = run_reader(sp, i);
		LookupState ls;
		LsmCode		rc;

		memset(&ls, 0, sizeof(ls));
		ls.key = key;
		lsm_alloc_private_begin();
		rc = lsm_sst_get(t, lsm_buf_slice(&target), lookup_visit, &ls, NULL, &st);
		lsm_alloc_private_end();
		if (rc != LSM_OK)
		{
			lsm_buf_free(&target);
			lsm_report(ERROR, &st, "read a transaction's spilled writes");
		}
		if (ls.found)
		{
			lsm_buf_free(&target);
			*pk = ls.pk;
			*value = ls.value;
			return true;
		}
	}
	lsm_buf_free(&target);
	return false;
}

int
lsm_spill_iters(LsmSpill *sp, LsmIter **children)
{
	if (sp == NULL)
		return 0;
	lsm_alloc_private_begin();
	for (int i = 0; i < sp->nruns; i++)
		children[i] = lsm_sst_iter(run_reader(sp, i), false, NULL);
	lsm_alloc_private_end();
	return sp->nruns;
}

/*
 * The format of a load's files: the table's block size and bloom filter,
 * and the upper levels' codec (LZ4 by default), as a flush writes.  Not
 * the bottom's zstd, although an ingest into an empty table puts them
 * there: a point get that misses the block cache decodes a whole block,
 * and a zstd block took 5 us more than an LZ4 one, a quarter of the get
 * (bench/sql_bench.sh's 1M loaded rows at the default cache: 47k against
 * 62k gets/s, docs/benchmarks.md, session 14).  The files also cost the
 * load less CPU; they take 1.4 times the space (0.60 GB against 0.42).
 * Compactions that rewrite them write the bottom's codec.  With zstd
 * named for the upper levels, level 1 whatever compression_level says
 * (compactions use that; 1 by default too): on 4 KiB blocks levels 1 and
 * 3 compress the same (0.385 vs 0.386 of the raw bytes for the
 * benchmark's rows), and level 3 cost a quarter more time.
 */
void
lsm_bulk_file_options(Oid relid, LsmSstOptions *so)
{
	LsmTableSettings ts;
	LsmOptions	o;

	lsm_read_settings(lsm_table_dir(MyDatabaseId, relid), &ts);
	lsm_options_init(&o);
	o.block_size = ts.block_size;
	o.bloom_bits_per_key = ts.bloom_bits_per_key;
	lsm_sst_options_from(so, &o);
	so->compression = (LsmCompression) ts.compress_upper;
	so->compression_level = BULK_ZSTD_LEVEL;
}

LsmCode
lsm_bulk_write_range(LsmIter *it, const LsmSlice *lo, const LsmSlice *hi,
					 uint64 hidden, const LsmSstOptions *so,
					 LsmBulkFileFn on_file, void *arg, LsmStatus *st)
{
	LsmSstBuilder *b = NULL;
	LsmBuf		prev = LSM_BUF_INIT;
	bool		have_prev = false;
	LsmBuf		ikey = LSM_BUF_INIT;
	uint64		visited = 0;
	LsmCode		rc = LSM_OK;

	if (lo == NULL)
		lsm_iter_seek_first(it);
	else if (lsm_ikey_append(&ikey, *lo, LSM_MAX_SEQ, LSM_KIND_FOR_SEEK))
		lsm_iter_seek(it, lsm_buf_slice(&ikey));	/* the newest op of the first key >= lo */
	else
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory");
	for (; rc == LSM_OK && lsm_iter_valid(it); lsm_iter_next(it))
	{
		LsmParsedKey pk;

		/*
		 * The caller takes the cancel, once the engine objects are gone.  A
		 * dead postmaster stops it too: a restart waits for every process
		 * of the old server, and a range can take minutes.
		 */
		if (++visited % 4096 == 0 &&
			(((QueryCancelPending || ProcDiePending) && INTERRUPTS_CAN_BE_PROCESSED()) ||
			 !PostmasterIsAlive()))
		{
			rc = lsm_status_set(st, LSM_INTERRUPTED, 0, "the bulk commit was interrupted");
			break;
		}
		if (!lsm_ikey_parse(lsm_iter_key(it), &pk))
		{
			rc = lsm_status_set(st, LSM_CORRUPTION, 0, "malformed key in a spilled run");
			break;
		}
		/* ops of one key come newest first: the first one wins */
		if (have_prev && lsm_slice_eq(pk.user_key, lsm_buf_slice(&prev)))
			continue;
		if (hi != NULL && lsm_slice_cmp(pk.user_key, *hi) >= 0)
			break;
		if (!lsm_buf_set(&prev, pk.user_key.data, pk.user_key.len))
		{
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory");
			break;
		}
		have_prev = true;
		if (pk.seq <= hidden)
			continue;			/* before the transaction's TRUNCATE */
		if (b != NULL && lsm_sst_builder_size(b) >= BULK_FILE_BYTES)
		{
			rc = lsm_sst_builder_finish(b, NULL, st);
			b = NULL;
			if (rc != LSM_OK)
				break;
		}
		if (b == NULL)
		{
			char	   *path = new_bulk_path("load");

			/* recorded before it exists: whoever cleans up knows it */
			if (!on_file(arg, path))
			{
				pfree(path);
				rc = lsm_status_set(st, LSM_NOT_SUPPORTED, 0,
									"a bulk commit's key range needs more files than it can list");
				break;
			}
			rc = lsm_sst_builder_open(NULL, path, so, &b, st);
			pfree(path);
			if (rc != LSM_OK)
				break;
		}
		ikey.len = 0;
		if (!lsm_ikey_append(&ikey, pk.user_key, 0, pk.kind))
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory");
		else
			rc = lsm_sst_builder_add(b, lsm_buf_slice(&ikey),
									 pk.kind == LSM_KIND_DELETE ? lsm_slice(NULL, 0)
									 : lsm_iter_value(it), st);
	}
	if (rc == LSM_OK)
		rc = lsm_iter_status(it, st);
	if (rc == LSM_OK && b != NULL)
		rc = lsm_sst_builder_finish(b, NULL, st);
	else if (b != NULL)
		lsm_sst_builder_abandon(b);
	lsm_buf_free(&prev);
	lsm_buf_free(&ikey);
	return rc;
}

bool
lsm_bulk_list_add(void *arg, const char *path)
{
	LsmBulkList *fl = arg;

	if (fl->n == fl->cap)
	{
		fl->cap = Max(16, fl->cap * 2);
		fl->paths = fl->paths ? repalloc(fl->paths, sizeof(char *) * fl->cap)
			: MemoryContextAlloc(TopTransactionContext, sizeof(char *) * fl->cap);
	}
	fl->paths[fl->n++] = MemoryContextStrdup(TopTransactionContext, path);
	return true;
}

void
lsm_bulk_unlink(char **paths, int n)
{
	/* a running backup may be copying them (backup.c): the next start */
	pg_memory_barrier();
	if (pg_atomic_read_u32(&lsm_shared->bulk_backups) == 0)
		for (int i = 0; i < n; i++)
			(void) unlink(paths[i]);
}

/*
 * Write the newest op of every key above hidden, with sequence number 0,
 * cutting files at BULK_FILE_BYTES between keys.  A load of two runs or
 * more is cut into key ranges written side by side (bulk_build.c).
 */
int
lsm_spill_build(LsmSpill *sp, LsmIter *ops, uint64 hidden,
				const LsmSstOptions *so, char ***paths_out)
{
	int			n;
	LsmIter   **children;
	LsmIter    *it;
	LsmBulkList fl = {NULL, 0, 0};
	LsmStatus	st;
	LsmCode		rc;

	if (lsm_bulk_build_workers > 0 && lsm_spill_nruns(sp) >= 2)
	{
		/* the workers read files only: the ops not in a run become one */
		sp = lsm_spill_add_run(sp, ops);
		for (int i = 0; i < sp->nruns; i++)
			(void) run_reader(sp, i);
		fl.n = lsm_bulk_build_parallel(sp->paths, sp->runs, sp->nruns, hidden, so,
									   &fl.paths);
		fsync_fname(lsm_bulk_dir(), true);
		*paths_out = fl.paths;
		return fl.n;
	}

	n = lsm_spill_nruns(sp);
	children = palloc(sizeof(LsmIter *) * (n + 1));
	n = lsm_spill_iters(sp, children);
	lsm_alloc_private_begin();
	children[n++] = ops;
	it = lsm_merge_iter_new(children, n, lsm_ikey_cmp);
	if (it == NULL)
	{
		lsm_alloc_private_end();
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	rc = lsm_bulk_write_range(it, NULL, NULL, hidden, so, lsm_bulk_list_add, &fl, &st);
	lsm_iter_destroy(it);
	lsm_alloc_private_end();
	if (rc != LSM_OK)
	{
		lsm_bulk_unlink(fl.paths, fl.n);
		CHECK_FOR_INTERRUPTS();
		lsm_report(ERROR, &st, "write the files of a bulk commit");
	}
	/* the builder synced each file; the commit record will name them */
	fsync_fname(lsm_bulk_dir(), true);
	*paths_out = fl.paths;
	return fl.n;
}

void
lsm_spill_discard(LsmSpill *sp)
{
	if (sp == NULL)
		return;
	lsm_alloc_private_begin();
	for (int i = 0; i < sp->nruns; i++)
	{
		if (sp->runs[i] != NULL)
			lsm_sst_close(sp->runs[i]);
		(void) unlink(sp->paths[i]);
		pfree(sp->paths[i]);
	}
	lsm_alloc_private_end();
	if (sp->paths)
		pfree(sp->paths);
	if (sp->runs)
		pfree(sp->runs);
	pfree(sp);
}

/*
 * Files a replay had to skip (their table's files are damaged: the record
 * waits in the log for a repair and a restart), which the sweep keeps.
 */
static List *kept_files = NIL;

void
lsm_bulk_keep(const char *name)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	kept_files = lappend(kept_files, pstrdup(name));
	MemoryContextSwitchTo(old);
}

static bool
is_kept(const char *name)
{
	ListCell   *lc;

	foreach(lc, kept_files)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

void
lsm_bulk_sweep(void)
{
	char	   *dir = lsm_bulk_dir();
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = ReadDir(d, dir)) != NULL)
	{
		char	   *path;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
			is_kept(de->d_name))
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (unlink(path) != 0)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove \"%s\": %m", path)));
		pfree(path);
	}
	FreeDir(d);
}
