/*
 * bulk_build.c
 *		A bulk commit's files written side by side: the merge of a load's
 *		runs cut into key ranges, the first written by the committing
 *		backend, the others by background workers (lsm_fdw.bulk_build_workers).
 *
 * The merge of the runs and the compression of the files it writes were
 * half of a COPY's CPU, and ran on one core at the commit while the others
 * idled (docs/benchmarks.md, bulk load).  Every range is read from every
 * run by seeking to its first key, so the sides exchange no data: the split
 * keys are quantiles of the runs' index keys (one per block, so weighted by
 * bytes), and each side writes whole files of its own range, which the
 * commit ingests together, in key order, as one.
 *
 * Only files cross: a worker opens the runs by path, writes its files in
 * the bulk directory and names them in the shared segment before it makes
 * them, so that whoever gives up (the backend on an error or a cancel, or
 * the next start's sweep after a crash) can remove them.  A worker that
 * cannot be started, or that never began, leaves its range to the backend;
 * one that fails fails the commit, as an error in the backend's own range
 * does.
 */
#include "postgres.h"

#include <unistd.h>

#include "miscadmin.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/pmsignal.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "iter_merge.h"
#include "lsm_alloc.h"
#include "lsm_format.h"
#include "lsm_spill.h"
#include "sstable.h"
#include "lsm_fdw.h"

int			lsm_bulk_build_workers = 1;
int			lsm_debug_bulk_build_fault = 0;

#define MAX_PARTS			(1 + 8)
/* a range's files: 256 MiB each (spill.c), so 256 GiB of them */
#define PART_FILES			1024
#define FILE_NAME_LEN		96

/* A part's state, set by its worker. */
#define PART_IDLE			0	/* no worker began it */
#define PART_RUNNING		1
#define PART_DONE			2
#define PART_FAILED			3

typedef struct BulkPart
{
	pg_atomic_uint32 state;
	LsmStatus	st;				/* why it failed */
	int			nfiles;
	char		files[PART_FILES][FILE_NAME_LEN];	/* names in the bulk dir */
} BulkPart;

typedef struct BulkShared
{
	uint64		hidden;
	int			nruns;
	int			nparts;
	int			fault;			/* lsm_fdw.debug_bulk_build_fault */
	LsmSstOptions so;			/* the files' format */
	Size		paths_off;		/* nruns NUL-terminated paths */
	Size		keys_off;		/* nparts - 1 split keys: uint32 length, bytes */
	BulkPart	parts[FLEXIBLE_ARRAY_MEMBER];
} BulkShared;

PGDLLEXPORT void lsm_bulk_build_main(Datum arg);

/* ----------------------------------------------------------------
 *		Split keys
 * ----------------------------------------------------------------
 */

typedef struct Sample
{
	const uint8 *data;
	uint32		len;
} Sample;

/* Index keys of the runs, appended as (uint32 length, user key bytes). */
static bool
sample_visit(void *arg, LsmSlice ikey, LsmSlice value)
{
	LsmBuf	   *buf = arg;
	LsmParsedKey pk;
	uint32		len;

	if (!lsm_ikey_parse(ikey, &pk))
		return false;
	len = (uint32) pk.user_key.len;
	return lsm_buf_append(buf, &len, sizeof(len)) &&
		lsm_buf_append(buf, pk.user_key.data, pk.user_key.len);
}

static int
sample_cmp(const void *a, const void *b)
{
	const Sample *x = a;
	const Sample *y = b;

	return lsm_slice_cmp(lsm_slice(x->data, x->len), lsm_slice(y->data, y->len));
}

/*
 * Up to nparts - 1 increasing split keys into *keys (palloc'd, the same
 * layout as BulkShared's); returns how many.
 */
static int
choose_splits(LsmSst **runs, int nruns, int nparts, StringInfo keys)
{
	LsmBuf		buf = LSM_BUF_INIT;
	LsmStatus	st;
	Sample	   *s;
	int			n = 0;
	int			nsplits = 0;
	Sample	   *last = NULL;
	char	   *copy;
	size_t		len;

	lsm_alloc_private_begin();
	for (int i = 0; i < nruns; i++)
		if (lsm_sst_index_keys(runs[i], sample_visit, &buf, &st) != LSM_OK)
			break;
	lsm_alloc_private_end();
	/* a sample that failed only costs the split: one range is still right */
	len = buf.len;
	copy = palloc(len + 1);
	if (len > 0)
		memcpy(copy, buf.data, len);
	lsm_alloc_private_begin();
	lsm_buf_free(&buf);
	lsm_alloc_private_end();

	s = palloc(sizeof(Sample) * (len / sizeof(uint32) + 1));
	for (size_t off = 0; off + sizeof(uint32) <= len;)
	{
		uint32		klen;

		memcpy(&klen, copy + off, sizeof(klen));
		off += sizeof(klen);
		if (off + klen > len)
			break;
		s[n].data = (const uint8 *) copy + off;
		s[n].len = klen;
		n++;
		off += klen;
	}
	/* fewer blocks than that: not worth a worker */
	if (n < 4 * nparts)
		return 0;
	qsort(s, n, sizeof(Sample), sample_cmp);
	for (int p = 1; p < nparts; p++)
	{
		Sample	   *k = &s[(int64) p * n / nparts];

		if (last != NULL && sample_cmp(last, k) >= 0)
			continue;
		appendBinaryStringInfo(keys, (const char *) &k->len, sizeof(uint32));
		appendBinaryStringInfo(keys, (const char *) k->data, k->len);
		last = k;
		nsplits++;
	}
	return nsplits;
}

/* The split keys of a part: lo (NULL for the first), hi (NULL for the last). */
static void
part_bounds(const char *keys, int nparts, int part, LsmSlice *lo, bool *has_lo,
			LsmSlice *hi, bool *has_hi)
{
	const char *p = keys;

	*has_lo = false;
	*has_hi = false;
	for (int i = 0; i < nparts - 1; i++)
	{
		uint32		len;

		memcpy(&len, p, sizeof(len));
		p += sizeof(len);
		if (i == part - 1)
		{
			*lo = lsm_slice(p, len);
			*has_lo = true;
		}
		if (i == part)
		{
			*hi = lsm_slice(p, len);
			*has_hi = true;
		}
		p += len;
	}
}

/* ----------------------------------------------------------------
 *		One part, in whichever process writes it
 * ----------------------------------------------------------------
 */

/* Name a worker's file in the shared segment before it is made. */
static bool
record_shared(void *arg, const char *path)
{
	BulkPart   *part = arg;
	const char *name = strrchr(path, '/');

	name = name ? name + 1 : path;
	if (part->nfiles >= PART_FILES || strlen(name) >= FILE_NAME_LEN)
		return false;
	strlcpy(part->files[part->nfiles], name, FILE_NAME_LEN);
	pg_write_barrier();
	part->nfiles++;
	return true;
}

/*
 * Merge runs (opened here from their paths when runs is NULL) over the
 * part's range, recording each file with on_file.  Engine allocations are
 * private around this.
 */
static LsmCode
write_part(BulkShared *bs, int part, LsmSst **runs, LsmBulkFileFn on_file,
		   void *arg, LsmStatus *st)
{
	const char *base = (const char *) bs;
	const char *path = base + bs->paths_off;
	LsmSst	  **opened = NULL;
	LsmIter   **children;
	LsmIter    *it;
	LsmSlice	lo,
				hi;
	bool		has_lo,
				has_hi;
	LsmCode		rc = LSM_OK;

	part_bounds(base + bs->keys_off, bs->nparts, part, &lo, &has_lo, &hi, &has_hi);
	children = lsm_malloc(sizeof(LsmIter *) * bs->nruns);
	if (runs == NULL)
		opened = lsm_calloc(bs->nruns, sizeof(LsmSst *));
	if (children == NULL || (runs == NULL && opened == NULL))
	{
		lsm_free(children);
		lsm_free(opened);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory");
	}
	for (int i = 0; i < bs->nruns && rc == LSM_OK; i++)
	{
		if (runs == NULL)
			rc = lsm_sst_open(NULL, path, i + 1, NULL, &opened[i], st);
		path += strlen(path) + 1;
	}
	if (rc == LSM_OK)
	{
		for (int i = 0; i < bs->nruns; i++)
			children[i] = lsm_sst_iter(runs ? runs[i] : opened[i], false, NULL);
		/* the merge owns the children from here, and frees them */
		it = lsm_merge_iter_new(children, bs->nruns, lsm_ikey_cmp);
		if (it == NULL)
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory");
		else
		{
			rc = lsm_bulk_write_range(it, has_lo ? &lo : NULL, has_hi ? &hi : NULL,
									  bs->hidden, &bs->so, on_file, arg, st);
			lsm_iter_destroy(it);
		}
	}
	if (opened != NULL)
		for (int i = 0; i < bs->nruns; i++)
			if (opened[i] != NULL)
				lsm_sst_close(opened[i]);
	lsm_free(opened);
	lsm_free(children);
	return rc;
}

/* ----------------------------------------------------------------
 *		The worker
 * ----------------------------------------------------------------
 */

void
lsm_bulk_build_main(Datum arg)
{
	dsm_segment *seg;
	BulkShared *bs;
	BulkPart   *p;
	int			part;
	LsmCode		rc;

	memcpy(&part, MyBgworkerEntry->bgw_extra, sizeof(int));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "lsm_fdw bulk build");
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lsm_fdw bulk build worker could not map its shared memory segment")));
	bs = dsm_segment_address(seg);
	if (part < 1 || part >= bs->nparts)
		elog(ERROR, "lsm_fdw bulk build worker: bad part %d", part);
	p = &bs->parts[part];
	pg_atomic_write_u32(&p->state, PART_RUNNING);

	lsm_alloc_private_begin();
	rc = write_part(bs, part, NULL, record_shared, p, &p->st);
	lsm_alloc_private_end();
	/* tests: a worker that fails after making its files, or lingers (3) */
	if (rc == LSM_OK && bs->fault == 1)
		rc = lsm_status_set(&p->st, LSM_IO_ERROR, EIO,
							"lsm_fdw.debug_bulk_build_fault made the worker fail");
	for (int i = 0; rc == LSM_OK && bs->fault == 3 && i < 6000; i++)
	{
		if (ProcDiePending || !PostmasterIsAlive())
			rc = lsm_status_set(&p->st, LSM_INTERRUPTED, 0, "the bulk build worker was stopped");
		else
			pg_usleep(10000L);
	}
	pg_write_barrier();
	pg_atomic_write_u32(&p->state, rc == LSM_OK ? PART_DONE : PART_FAILED);
	dsm_detach(seg);
	proc_exit(0);
}

/* ----------------------------------------------------------------
 *		The backend
 * ----------------------------------------------------------------
 */

static BackgroundWorkerHandle *
start_worker(dsm_segment *seg, int part)
{
	BackgroundWorker w;
	BackgroundWorkerHandle *h = NULL;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS;
	w.bgw_start_time = BgWorkerStart_ConsistentState;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "lsm_fdw");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "lsm_bulk_build_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "lsm_fdw bulk build %d for PID %d", part, MyProcPid);
	snprintf(w.bgw_type, BGW_MAXLEN, "lsm_fdw bulk build");
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	memcpy(w.bgw_extra, &part, sizeof(int));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &h))
		return NULL;
	return h;
}

/* Stop the workers still running and wait for them, without interrupts. */
static void
stop_workers(BackgroundWorkerHandle **h, int nparts)
{
	HOLD_INTERRUPTS();
	for (int i = 1; i < nparts; i++)
		if (h[i] != NULL)
			TerminateBackgroundWorker(h[i]);
	for (int i = 1; i < nparts; i++)
		if (h[i] != NULL)
		{
			(void) WaitForBackgroundWorkerShutdown(h[i]);
			h[i] = NULL;
		}
	RESUME_INTERRUPTS();
}

/* Every file of the commit so far, the backend's and the workers'. */
static void
unlink_all(BulkShared *bs, LsmBulkList *own)
{
	char	   *dir = lsm_bulk_dir();

	lsm_bulk_unlink(own->paths, own->n);
	for (int i = 1; i < bs->nparts; i++)
	{
		BulkPart   *p = &bs->parts[i];

		pg_read_barrier();
		for (int f = 0; f < p->nfiles; f++)
		{
			char	   *path = psprintf("%s/%s", dir, p->files[f]);

			lsm_bulk_unlink(&path, 1);
			pfree(path);
		}
	}
}

/* Write one part in the backend; on failure, clean up and report. */
static void
write_own_part(BulkShared *bs, int part, LsmSst **runs, LsmBulkList *own)
{
	LsmStatus	st;
	LsmCode		rc;

	lsm_alloc_private_begin();
	rc = write_part(bs, part, runs, lsm_bulk_list_add, own, &st);
	lsm_alloc_private_end();
	if (rc != LSM_OK)
	{
		CHECK_FOR_INTERRUPTS();
		lsm_report(ERROR, &st, "write the files of a bulk commit");
	}
}

int
lsm_bulk_build_parallel(char **run_paths, LsmSst **runs, int nruns,
						uint64 hidden, const LsmSstOptions *so, char ***paths)
{
	StringInfoData keys;
	int			nparts;
	Size		size;
	Size		paths_len = 0;
	dsm_segment *seg;
	BulkShared *bs;
	BackgroundWorkerHandle *h[MAX_PARTS] = {0};
	LsmBulkList own = {NULL, 0, 0};
	char	   *p;

	initStringInfo(&keys);
	nparts = 1 + choose_splits(runs, nruns,
							   1 + Min(lsm_bulk_build_workers, MAX_PARTS - 1), &keys);
	for (int i = 0; i < nruns; i++)
		paths_len += strlen(run_paths[i]) + 1;
	size = MAXALIGN(offsetof(BulkShared, parts) + sizeof(BulkPart) * nparts);
	seg = dsm_create(size + paths_len + keys.len, 0);
	bs = dsm_segment_address(seg);
	memset(bs, 0, offsetof(BulkShared, parts));
	bs->hidden = hidden;
	bs->nruns = nruns;
	bs->nparts = nparts;
	bs->fault = lsm_debug_bulk_build_fault;
	bs->so = *so;
	bs->paths_off = size;
	bs->keys_off = size + paths_len;
	for (int i = 0; i < nparts; i++)
	{
		pg_atomic_init_u32(&bs->parts[i].state, PART_IDLE);
		bs->parts[i].nfiles = 0;
	}
	p = (char *) bs + bs->paths_off;
	for (int i = 0; i < nruns; i++)
	{
		strcpy(p, run_paths[i]);
		p += strlen(run_paths[i]) + 1;
	}
	memcpy((char *) bs + bs->keys_off, keys.data, keys.len);

	PG_TRY();
	{
		/* tests: 2 pretends no worker could be had */
		if (lsm_debug_bulk_build_fault != 2)
			for (int i = 1; i < nparts; i++)
				h[i] = start_worker(seg, i);
		write_own_part(bs, 0, runs, &own);
		for (int i = 1; i < nparts; i++)
		{
			BulkPart   *part = &bs->parts[i];
			uint32		state;

			if (h[i] != NULL)
			{
				(void) WaitForBackgroundWorkerShutdown(h[i]);
				h[i] = NULL;
			}
			pg_read_barrier();
			state = pg_atomic_read_u32(&part->state);
			if (state == PART_IDLE)
			{
				/* no worker began it: the backend writes it */
				write_own_part(bs, i, runs, &own);
				continue;
			}
			/* a worker's cancel is not this statement's: say what happened */
			if (state == PART_FAILED && part->st.code == LSM_INTERRUPTED)
				ereport(ERROR,
						(errcode(ERRCODE_ADMIN_SHUTDOWN),
						 errmsg("lsm_fdw bulk build worker %d was stopped before it finished", i),
						 errdetail("%s", part->st.msg)));
			if (state == PART_FAILED)
				lsm_report(ERROR, &part->st, "write the files of a bulk commit in a worker");
			if (state != PART_DONE)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("lsm_fdw bulk build worker %d exited before it finished", i),
						 errdetail("The server log may say why.")));
			for (int f = 0; f < part->nfiles; f++)
				lsm_bulk_list_add(&own, psprintf("%s/%s", lsm_bulk_dir(), part->files[f]));
			part->nfiles = 0;	/* now the backend's to remove */
		}
	}
	PG_CATCH();
	{
		stop_workers(h, nparts);
		unlink_all(bs, &own);
		dsm_detach(seg);
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_detach(seg);

	/*
	 * Part by part, in key order: a part the backend took over after its own
	 * comes after it in own.paths, and parts are in order by construction.
	 */
	*paths = own.paths;
	return own.n;
}
