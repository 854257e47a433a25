/*
 * shmem.c
 *		Reserving lsm_fdw's shared memory at server start and carving the
 *		engine's heap out of it.
 *
 * Everything is sized by PGC_POSTMASTER settings when the postmaster
 * starts, and nothing grows later: the heap holds the memtable pool
 * (lsm_fdw.memtable_memory), the block cache (lsm_fdw.block_cache_size)
 * and the engine's metadata (open tables' indexes and filters, versions,
 * iterators: lsm_fdw.metadata_memory).  After a crash restart the
 * postmaster calls the startup hook again on fresh memory; recovery then
 * rebuilds everything from disk (worker.c).
 */
#include "postgres.h"

#include <limits.h>

#include "access/twophase.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "block_cache.h"
#include "lsm_alloc.h"
#include "lsm_env_shared.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_spill.h"
#include "lsm_wait.h"
#include "shm_heap.h"

int			lsm_memtable_memory = 256 * 1024;	/* kB */
int			lsm_block_cache_size = 128 * 1024;	/* kB */
int			lsm_metadata_memory = 32 * 1024;	/* kB */
int			lsm_max_tables = 1000;
int			lsm_compaction_workers = 1;
int			lsm_worker_nice = 10;
int			lsm_max_wal_size = 1024 * 1024; /* kB */
int			lsm_wal_recycle_idle_timeout = 300;	/* s */
int			lsm_wal_segment_size = 64 * 1024;	/* kB */
bool		lsm_ignore_log_corruption = false;

LsmShared  *lsm_shared = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

/*
 * Engine objects go to the shared heap; a transaction's own writes stay in
 * palloc'd memory (xact.c), so only small transient buffers of a backend
 * pass through it besides.  Frees are told apart by address: libc memory is
 * what was allocated before the heap existed (the postmaster's startup).
 */
static LsmShmHeap *heap = NULL;

/*
 * Opening a table and the maintenance worker take memtable regions past
 * the pool's limit (still within the heap): an open table needs one
 * memtable, and the worker that frees memtables must never wait for one.
 */
static bool region_unlimited = false;

void
lsm_region_unlimited(bool on)
{
	region_unlimited = on;
}

/*
 * Engine objects only this backend uses (a transaction's spilled runs and
 * the files of its bulk commit, spill.c) live in process memory: their
 * size follows the transaction, not the shared heap.  An ERROR between
 * begin and end would leave every later engine allocation of the backend
 * private, shared objects among them: (sub)transaction abort ends it
 * (xact.c).
 */
static bool alloc_private = false;

void
lsm_alloc_private_begin(void)
{
	alloc_private = true;
}

void
lsm_alloc_private_end(void)
{
	alloc_private = false;
}

static void *
glue_alloc(void *arg, size_t n)
{
	if (heap == NULL || alloc_private)
		return malloc(n);
	return lsm_shm_heap_alloc(heap, n);
}

static void *
glue_realloc(void *arg, void *p, size_t n)
{
	if (p != NULL && heap != NULL && lsm_shm_heap_contains(heap, p))
		return lsm_shm_heap_realloc(heap, p, n);
	if (p == NULL)
		return glue_alloc(arg, n);
	return realloc(p, n);
}

static void
glue_free(void *arg, void *p)
{
	if (p != NULL && heap != NULL && lsm_shm_heap_contains(heap, p))
		lsm_shm_heap_free(heap, p);
	else
		free(p);
}

/* Process-private memory is libc's, which glue_realloc and glue_free tell apart. */
static void *
glue_alloc_private(void *arg, size_t n)
{
	return malloc(n);
}

static const LsmAllocator glue_allocator = {
	glue_alloc, glue_realloc, glue_free, NULL, glue_alloc_private
};

/*
 * Memtable regions come from the heap too, but are counted against
 * lsm_fdw.memtable_memory: when the pool is full the engine's writer waits
 * for the maintenance worker to flush (counted in memtable_waits), which
 * the waiter count tells the worker to do.
 */
void *
lsm_region_alloc(void *arg, size_t size)
{
	uint64		limit = (uint64) lsm_memtable_memory * 1024;
	uint64		used = pg_atomic_add_fetch_u64(&lsm_shared->memtable_bytes, size);
	void	   *p;

	if (used > limit && !region_unlimited && !IsBackgroundWorker)
	{
		pg_atomic_sub_fetch_u64(&lsm_shared->memtable_bytes, size);
		lsm_wake_maintenance();
		return NULL;
	}
	p = lsm_shm_heap_alloc(heap, size);

	/*
	 * Memtables past the pool's limit (an open, the worker, a commit's apply)
	 * take heap the block cache may hold: give cached blocks back rather
	 * than fail a memtable a logged commit is waiting for.
	 */
	while (p == NULL && lsm_block_cache_shed(lsm_shared->cache, size) > 0)
		p = lsm_shm_heap_alloc(heap, size);
	if (p == NULL)
	{
		pg_atomic_sub_fetch_u64(&lsm_shared->memtable_bytes, size);
		lsm_wake_maintenance();
	}
	return p;
}

void
lsm_region_free(void *arg, void *p, size_t size)
{
	if (p == NULL)
		return;
	lsm_shm_heap_free(heap, p);
	pg_atomic_sub_fetch_u64(&lsm_shared->memtable_bytes, size);
}

/*
 * lsm_total_procs
 *		PGPROC slots, the size of every per-process array in shared memory
 *		(indexed by pgprocno).
 */
int
lsm_total_procs(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static size_t
ring_entries(void)
{
	return (size_t) lsm_total_procs() * 2 + 16;
}

static size_t
heap_bytes(void)
{
	return ((size_t) lsm_memtable_memory + lsm_block_cache_size +
			lsm_metadata_memory) * 1024;
}

/*
 * lsm_shmem_size
 *		Bytes of main shared memory lsm_fdw asks for.
 */
size_t
lsm_shmem_size(void)
{
	Size		size = offsetof(LsmShared, slots);

	size = add_size(size, mul_size(lsm_max_tables, sizeof(LsmTableSlot)));
	size = add_size(size, mul_size(ring_entries(), sizeof(LsmCommitSlot)));
	size = add_size(size, mul_size(lsm_total_procs(), 3 * sizeof(pg_atomic_uint64)));
	size = add_size(size, heap_bytes());
	size = add_size(size, 64);	/* alignment of the heap */
	return size;
}

int
lsm_my_procno(void)
{
	return MyProc ? MyProc->pgprocno : -1;
}

static void
lsm_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(lsm_shmem_size());
	RequestAddinShmemSpace(lsm_fastlock_shmem_size());
	RequestAddinShmemSpace(lsm_blind_order_shmem_size());
	RequestAddinShmemSpace(lsm_pg_visible_shmem_size());
	RequestAddinShmemSpace(lsm_wakeup_shmem_size());
	RequestNamedLWLockTranche("lsm_fdw", 1);
}

static void
lsm_shmem_startup(void)
{
	bool		found;
	char	   *p;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	lsm_shared = ShmemInitStruct("lsm_fdw", lsm_shmem_size(), &found);
	if (!found)
	{
		LsmShared  *s = lsm_shared;

		memset(s, 0, offsetof(LsmShared, slots));
		s->max_tables = lsm_max_tables;
		for (i = 0; i < lsm_max_tables; i++)
		{
			LsmTableSlot *slot = &s->slots[i];

			memset(slot, 0, sizeof(*slot));
			slot->state = LSM_SLOT_FREE;
			pg_atomic_init_u32(&slot->pins, 0);
			pg_atomic_init_u64(&slot->next_ticket, 0);
			pg_atomic_init_u64(&slot->applied_ticket, 0);
			for (int w = 0; w < LSM_APPLY_WAITERS; w++)
				pg_atomic_init_u32(&slot->apply_waiter[w], 0);
			SpinLockInit(&slot->mutex);
		}
		p = (char *) &s->slots[lsm_max_tables];
		s->ring_size = ring_entries();
		s->ring = (LsmCommitSlot *) p;
		memset(s->ring, 0, sizeof(LsmCommitSlot) * s->ring_size);
		p += sizeof(LsmCommitSlot) * s->ring_size;
		p = (char *) TYPEALIGN(8, p);
		s->n_procs = lsm_total_procs();
		s->horizon = (pg_atomic_uint64 *) p;
		p += sizeof(pg_atomic_uint64) * s->n_procs;
		s->prepared_lsn = (pg_atomic_uint64 *) p;
		p += sizeof(pg_atomic_uint64) * s->n_procs;
		s->ttl_time = (pg_atomic_uint64 *) p;
		p += sizeof(pg_atomic_uint64) * s->n_procs;
		for (i = 0; i < s->n_procs; i++)
		{
			pg_atomic_init_u64(&s->horizon[i], PG_UINT64_MAX);
			pg_atomic_init_u64(&s->prepared_lsn[i], PG_UINT64_MAX);
			pg_atomic_init_u64(&s->ttl_time[i], PG_UINT64_MAX);
		}
		pg_atomic_init_u64(&s->ttl_cutoff, 0);
		pg_atomic_init_u64(&s->next_seq, 1);
		pg_atomic_init_u64(&s->visible_seq, 0);
		pg_atomic_init_u32(&s->bulk_backups, 0);
		SpinLockInit(&s->ring_lock);
		s->recovery_state = LSM_RECOVERY_PENDING;
		ConditionVariableInit(&s->recovery_cv);
		pg_atomic_init_u32(&s->maint_pgprocno, PG_UINT32_MAX);
		pg_atomic_init_u64(&s->memtable_bytes, 0);
		pg_atomic_init_u64(&s->memtable_waiters, 0);
		pg_atomic_init_u64(&s->pg_commit_lsn, 0);
		s->registry_lock = &(GetNamedLWLockTranche("lsm_fdw"))->lock;

		/*
		 * The heap, and the engine objects every process uses.  Nothing
		 * here does I/O: the postmaster must not.
		 */
		p = (char *) TYPEALIGN(64, p);
		heap = lsm_shm_heap_init(p, heap_bytes());
		if (heap == NULL)
			elog(FATAL, "lsm_fdw: could not set up its shared heap");
		s->heap = heap;
		s->env = lsm_env_shared_create();
		if (s->env == NULL)
			elog(FATAL, "lsm_fdw: out of shared memory setting up its file layer");
		lsm_wait_install_hooks(s->env, heap);
		s->cache = lsm_block_cache_create(s->env, (size_t) lsm_block_cache_size * 1024);
		if (s->cache == NULL)
			elog(FATAL, "lsm_fdw: out of shared memory setting up its block cache");
	}
	else
		heap = lsm_shared->heap;
	lsm_fastlock_shmem_init();
	lsm_blind_order_shmem_init();
	lsm_pg_visible_shmem_init();
	lsm_wakeup_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

void
lsm_shmem_install_hooks(void)
{
	lsm_set_allocator(&glue_allocator);
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = lsm_shmem_request;
#else
	lsm_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = lsm_shmem_startup;
}

void
lsm_shmem_define_gucs(void)
{
	DefineCustomIntVariable("lsm_fdw.memtable_memory",
							"Shared memory for the memtables of all lsm_fdw tables.",
							"Writers wait for a flush when it is full.",
							&lsm_memtable_memory,
							256 * 1024, 4 * 1024, INT_MAX / 4,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.block_cache_size",
							"Shared memory for decompressed table blocks of all lsm_fdw tables.",
							NULL,
							&lsm_block_cache_size,
							128 * 1024, 0, INT_MAX / 4,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.metadata_memory",
							"Shared memory for lsm_fdw's open-table metadata (indexes, filters, versions).",
							NULL,
							&lsm_metadata_memory,
							32 * 1024, 4 * 1024, INT_MAX / 4,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.max_tables",
							"Most lsm_fdw tables open at once in the server.",
							NULL,
							&lsm_max_tables,
							1000, 1, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.compaction_workers",
							"Background workers that compact lsm_fdw tables.",
							NULL,
							&lsm_compaction_workers,
							1, 1, 16,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.worker_nice",
							"Nice value the lsm_fdw background workers add to the server's.",
							"Compaction and flushes then take the CPU the backends leave; 0 runs them at the backends' priority.",
							&lsm_worker_nice,
							10, 0, 19,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.wal_segment_size",
							"Size of each lsm_fdw log segment file.",
							"Segments are preallocated (a recycled old segment, or zeros), so a full disk shows before a commit's record is written.",
							&lsm_wal_segment_size,
							64 * 1024, 64, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.max_wal_size",
							"Log size past which the tables holding it back are flushed.",
							NULL,
							&lsm_max_wal_size,
							1024 * 1024, 16 * 1024, INT_MAX / 4,
							PGC_SIGHUP, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.wal_recycle_idle_timeout",
							"Time without log writes after which recycled log segments beyond one are deleted.",
							"A checkpoint keeps old segments, up to half of lsm_fdw.max_wal_size, for reuse; an idle server gives that disk back.",
							&lsm_wal_recycle_idle_timeout,
							300, 1, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("lsm_fdw.ignore_log_corruption",
							 "Start even when the lsm_fdw log is damaged in the middle, discarding every record after the damage.",
							 "Off, recovery refuses a log in which valid records follow a damaged one, since dropping them loses committed data.",
							 &lsm_ignore_log_corruption,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
}
