/*
 * lsm_shared.h
 *		The server-wide state of lsm_fdw in Postgres's main shared memory,
 *		and the interfaces of the files that work on it (shmem.c, table.c,
 *		commit.c, worker.c, snapshot.c, keylock.c).
 *
 * Engine objects (one LsmDb per table, the block cache, the server log)
 * live in a heap carved out of main shared memory.  Every process is
 * forked from the postmaster, so that memory is mapped at one address
 * everywhere, and each backend calls the engine on the shared objects the
 * way threads do in the engine's own tests: the engine's mutexes are
 * process-shared and its files are reopened per process (env_shared.c).
 * docs/design.md, "The shared engine", explains the choice.
 */
#ifndef LSM_SHARED_H
#define LSM_SHARED_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "lsm.h"
#include "xlog.h"

/* Table slot states. */
#define LSM_SLOT_FREE		0
#define LSM_SLOT_OPEN		1
#define LSM_SLOT_FAILED		2	/* recovery could not open it (table.c) */

/* Expiry columns beyond this attribute number are not filtered by compaction. */
#ifndef LSM_TTL_MAX_ATTNO
#define LSM_TTL_MAX_ATTNO	64
#endif

#define LSM_APPLY_WAITERS 64

typedef struct LsmTableSlot
{
	/* under the registry lock */
	int			state;
	Oid			dboid;
	Oid			relid;
	uint32		generation;		/* changes whenever db is replaced */
	LsmDb	   *db;

	/* workers and commits using db without the registry lock */
	pg_atomic_uint32 pins;

	/*
	 * Commits apply to a table in the order of their log records, so that
	 * each memtable holds a contiguous stretch of the log: tickets are
	 * handed out with the log position, and a committer applies once
	 * applied_ticket reaches its own.
	 */
	pg_atomic_uint64 next_ticket;
	pg_atomic_uint64 applied_ticket;

	/*
	 * The process (pgprocno + 1, 0: none) sleeping until each ticket comes
	 * up, by ticket modulo LSM_APPLY_WAITERS, so that a committer ending its
	 * turn wakes only the next one.  A condition variable broadcast woke
	 * every sleeper at every apply: with 16 committers the signals and
	 * wake-ups were most of a commit's system time.  Two sleepers whose
	 * tickets collide here (more than LSM_APPLY_WAITERS commits queued on
	 * one table) fall back to a 10 ms poll.
	 */
	pg_atomic_uint32 apply_waiter[LSM_APPLY_WAITERS];

	/*
	 * LSM_SLOT_FAILED (under the registry lock): why the open failed, and
	 * the LSN of the first log record replay skipped for the table; the log
	 * is kept from there until the table is dropped or the server restarts.
	 */
	uint64		failed_lsn;
	char		failed_error[256];

	/* set by the maintenance worker while flushes of this table fail */
	slock_t		mutex;			/* protects the fields below */
	bool		flush_failing;
	int			flush_error_code;	/* LsmCode */
	char		flush_error[256];

	/*
	 * TTL (ttl.c), from the OPTIONS file at open: the attribute number of
	 * the expiry column (0: none) and the typlen of every attribute before
	 * it, all the compaction filter needs to find it in a stored row.
	 */
	int			ttl_attno;
	int16		ttl_typlens[LSM_TTL_MAX_ATTNO];
	int64		ttl_usecs;		/* the ttl option; 0: none */
	bool		ttl_confirmed;	/* a backend found them in the catalog */
} LsmTableSlot;

/* Recovery states. */
#define LSM_RECOVERY_PENDING	0
#define LSM_RECOVERY_DONE		1
#define LSM_RECOVERY_FAILED		2

/* One commit in flight, for publishing sequence numbers in order. */
typedef struct LsmCommitSlot
{
	uint64		hi;				/* last sequence number of the commit */
	uint64		end_lsn;		/* end of its record */
	int			procno;			/* the committer, to wake */
	bool		need_flush;		/* visible only once end_lsn is synced */
	bool		done;			/* applied */
} LsmCommitSlot;

typedef struct LsmShared
{
	/* engine objects, in the heap */
	void	   *heap;			/* LsmShmHeap */
	LsmEnv	   *env;
	LsmBlockCache *cache;
	LsmXlog    *xlog;			/* opened by recovery */

	/* sequence numbers */
	pg_atomic_uint64 next_seq;	/* next one to hand out (under xlog insert) */
	pg_atomic_uint64 visible_seq;	/* highest published */
	pg_atomic_uint32 bulk_backups;	/* lsm_fdw_backup() calls running: keep
									 * ingested bulk files (backup.c) */
	slock_t		ring_lock;
	uint32		ring_size;
	uint64		ring_head;		/* oldest unpublished commit */
	uint64		ring_tail;		/* next free */
	LsmCommitSlot *ring;		/* ring_size entries */

	/* recovery and workers */
	int			recovery_state;
	char		recovery_error[512];
	char		recovery_detail[512];	/* "" when the error had none */
	char		recovery_hint[512];	/* "" when the error had none */
	ConditionVariable recovery_cv;
	pg_atomic_uint32 maint_pgprocno;	/* UINT32_MAX when not running */

	/* memtable pool accounting */
	pg_atomic_uint64 memtable_bytes;
	pg_atomic_uint64 memtable_waiters;
	pg_atomic_uint64 pg_commit_lsn;	/* end of the newest PG-decided commit applied */

	/* per process: oldest sequence number its transaction reads at */
	int			n_procs;
	pg_atomic_uint64 *horizon;	/* PG_UINT64_MAX = none */
	/* per process: position of its prepared, unresolved commit record */
	pg_atomic_uint64 *prepared_lsn; /* PG_UINT64_MAX = none */
	/* per process: its TTL read time (ttl.c); PG_UINT64_MAX = none */
	pg_atomic_uint64 *ttl_time;
	/* the highest expiry cutoff a compaction announced (ttl.c) */
	pg_atomic_uint64 ttl_cutoff;

	/* table registry */
	LWLock	   *registry_lock;
	int			max_tables;
	LsmTableSlot slots[FLEXIBLE_ARRAY_MEMBER];
} LsmShared;

/* in shmem.c */
extern LsmShared *lsm_shared;
extern int	lsm_memtable_memory;	/* kB */
extern int	lsm_block_cache_size;	/* kB */
extern int	lsm_metadata_memory;	/* kB */
extern int	lsm_max_tables;
extern int	lsm_compaction_workers;
extern int	lsm_worker_nice;
extern int	lsm_max_wal_size;	/* kB */
extern int	lsm_wal_recycle_idle_timeout;	/* s */
extern int	lsm_wal_segment_size;	/* kB */
extern bool lsm_ignore_log_corruption;
extern void lsm_shmem_define_gucs(void);
extern void lsm_shmem_install_hooks(void);
extern void lsm_region_unlimited(bool on);
extern size_t lsm_shmem_size(void);
extern int	lsm_total_procs(void);
extern void *lsm_region_alloc(void *arg, size_t size);
extern void lsm_region_free(void *arg, void *p, size_t size);
extern int	lsm_my_procno(void);

/* in table.c */
extern void lsm_wait_ready(void);
extern void lsm_wait_replayed(void);
extern LsmTableSlot *lsm_slot_for(Oid dboid, Oid relid, bool create,
								  uint32 *generation);
extern LsmDb *lsm_slot_open_db(LsmTableSlot *slot, Oid dboid, Oid relid,
							   LsmStatus *st);
extern bool lsm_flush_pending_anywhere(void);
extern size_t lsm_idle_memtable_size(void);
extern void lsm_slot_pin(LsmTableSlot *slot);
extern void lsm_slot_unpin(LsmTableSlot *slot);
extern void lsm_slot_reset(LsmTableSlot *slot, bool remove_files);
extern void lsm_table_options(const char *dir, LsmOptions *opts, LsmTableSlot *slot);
extern LsmCode lsm_remove_table_files(Oid dboid, Oid relid, LsmStatus *st);
extern LsmTableSlot *lsm_next_open_slot(int *pos);
extern LsmTableSlot *lsm_slot_for_replay(Oid dboid, Oid relid, uint64 lsn);
extern uint64 lsm_failed_tables_oldest_lsn(void);

/* in commit.c (see also lsm_commit.h) */
extern LsmCode lsm_replay_record(void *arg, uint64_t lsn, LsmSlice payload,
								 LsmStatus *st);
extern void lsm_replay_finish(void);
extern bool lsm_pre_flush(void *arg, LsmSeq max_seq);
extern LsmCode lsm_maintain_now(LsmDb *db, LsmStatus *st);
extern void lsm_flush_wanted(void *arg);

/* in snapshot.c */
extern LsmSeq lsm_read_point(void);
extern LsmSeq lsm_newest_point(void);
extern void lsm_snapshot_xact_end(void);
extern uint64_t lsm_horizon(void *arg);

/* in ttl.c */
extern int64 lsm_ttl_read_time(void);
extern void lsm_ttl_publish(void);
extern void lsm_ttl_xact_end(void);
extern void lsm_ttl_confirm(LsmTableSlot *slot, Oid relid);
extern uint64_t lsm_ttl_filter_start(void *arg);
extern bool lsm_ttl_filter(void *arg, uint64_t start, LsmSlice key, LsmSlice value);

/* in keylock.c */
extern void lsm_lock_key(Oid relid, LsmSlice key);
extern void lsm_lock_key_shared(Oid relid, LsmSlice key);
extern bool lsm_try_lock_key(Oid relid, LsmSlice key);
extern void lsm_lock_key_blind(Oid relid, LsmSlice key);
extern void lsm_keylock_commit_blind(bool pg_decided);

/* in blind_order.c: the commit order of blind writes (keylock.c) */
extern Size lsm_blind_order_shmem_size(void);
extern void lsm_blind_order_shmem_init(void);

/* pg_visible.c */
extern Size lsm_pg_visible_shmem_size(void);
extern void lsm_pg_visible_shmem_init(void);
extern void lsm_pg_visible_begin(TransactionId xid);
extern void lsm_pg_visible_numbered(uint64 first_seq);
extern void lsm_pg_visible_end(void);
extern void lsm_pg_visible_wait(void);
extern uint64 lsm_pg_visible_cap(uint64 point);

/* snapshot.c */
extern void lsm_snapshot_install_hook(void);
extern uint64 lsm_blind_order_bit(uint32 keyhash);
extern void lsm_blind_order_commit(bool pg_decided, uint64 keymask, int ntables,
								   const Oid *tables);
extern void lsm_blind_order_xact_end(void);
extern void lsm_blind_order_define_gucs(void);
extern void lsm_check_serializable(Oid relid, LsmSeq found_seq);
extern void lsm_keylock_check_prepare(void);
extern void lsm_keylock_xact_end(void);

/* in keylock_fast.c: weak key locks a backend holds outside the lock manager */
#define LSM_FASTLOCK_SLOT_ENTRIES	16
extern Size lsm_fastlock_shmem_size(void);
extern void lsm_fastlock_shmem_init(void);
extern bool lsm_fastlock_weak(Oid dboid, Oid relid, uint32 keyhash);
extern void lsm_fastlock_announce_strong(Oid dboid, Oid relid, uint32 keyhash, bool table);
extern void lsm_fastlock_withdraw_strong(void);
extern bool lsm_fastlock_wait_weak(Oid dboid, Oid relid, uint32 keyhash, bool table, bool wait);
extern bool lsm_fastlock_strong_held(void);
extern bool lsm_fastlock_others_weak(Oid dboid, Oid relid, uint32 keyhash);
extern void lsm_fastlock_xact_end(void);

/* wakeup.c: committers' sleeps and wake-ups */
extern Size lsm_wakeup_shmem_size(void);
extern void lsm_wakeup_shmem_init(void);
extern void lsm_wakeup_prepare(void);
extern void lsm_wakeup_cancel(void);
extern LsmCode lsm_wakeup_sleep(int kind, long timeout_ms, LsmStatus *st);
extern void lsm_wakeup_proc(int procno);

/* in worker.c */
extern void lsm_register_workers(void);
extern void lsm_wake_maintenance(void);

/* idle_close.c: a session waiting for its client closes its descriptors */
extern void lsm_idle_close_define_gucs(void);
extern void lsm_idle_close_register(void);
extern void lsm_idle_close_arm(void);

/* Raise *a to v unless it is already at least v. */
static inline void
lsm_atomic_raise_u64(pg_atomic_uint64 *a, uint64 v)
{
	uint64		cur = pg_atomic_read_u64(a);

	while (cur < v && !pg_atomic_compare_exchange_u64(a, &cur, v))
		;
}

#endif							/* LSM_SHARED_H */
