/*
 * wait.c
 *		How lsm_fdw waits in Postgres processes.
 *
 * The engine never sleeps on its own: every wait goes through its env's
 * wait hook (lsm_env.h), which here sleeps on the process latch with a
 * wait event, so pg_stat_activity shows what a backend waits for and a
 * latch (SetLatch from a cancel, a timeout, a worker's wake-up) ends the
 * sleep early.  The hook runs under engine frames, so it must not ereport
 * ERROR (a longjmp would skip the engine's clean-up): when a query cancel
 * or termination is pending and could be processed, it returns
 * LSM_INTERRUPTED, the engine call returns that with nothing half done,
 * and the glue's lsm_report then runs CHECK_FOR_INTERRUPTS, which raises
 * Postgres's own error (57014 "canceling statement due to user request"
 * or "... statement timeout", or the termination).  In a background worker
 * SIGTERM (die) sets ProcDiePending, so the same path ends the worker's
 * waits; postmaster death ends the process in WaitLatch.
 *
 * Commit waits.  Postgres turns statement_timeout off before a commit, so
 * the waits inside lsm_fdw's commit have their own bound,
 * lsm_fdw.commit_wait_timeout, counted from the start of the commit
 * (lsm_commit_waits_begin).  Before the commit's record is appended the
 * commit can still fail: a wait past the bound returns LSM_TIMED_OUT and
 * the commit fails with 57014, having written nothing.  After the append
 * interrupts are held (commit.c) and the commit cannot fail any more: past
 * the bound it logs one WARNING and goes on waiting.
 *
 * Wait events.  Postgres 15 and 16 have no custom wait events for
 * extensions: every lsm_fdw wait shows as wait_event_type "Extension",
 * wait_event "Extension".  From 17 on each wait has its own name
 * (WaitEventExtensionNew), e.g. "LsmMemtableRoom".
 *
 * Dead owners.  A process that dies holding one of the engine's shared
 * mutexes may have left what it protects half-updated, and every process
 * relies on it: the next locker's fatal hook logs a PANIC, and the
 * postmaster's crash restart starts again from fresh shared memory and
 * the log.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "lsm_wait.h"

int			lsm_commit_wait_timeout = 60 * 1000;	/* ms; 0: no bound */
bool		lsm_debug_pause_flushes = false;
bool		lsm_debug_merge_error = false;
int			lsm_debug_kill_at = LSM_DEBUG_KILL_OFF;
int			lsm_debug_resolve_lock = 0;

static const struct config_enum_entry kill_at_options[] = {
	{"off", LSM_DEBUG_KILL_OFF, false},
	{"drop_before_commit", LSM_DEBUG_KILL_DROP_BEFORE_COMMIT, false},
	{"drop_after_commit", LSM_DEBUG_KILL_DROP_AFTER_COMMIT, false},
	{"truncate_swap", LSM_DEBUG_KILL_TRUNCATE_SWAP, false},
	{"prepared", LSM_DEBUG_KILL_PREPARED, false},
	{NULL, 0, false}
};

/* Names of the waits, by kind; the README lists them. */
static const char *const wait_names[LSM_WAIT_EVENTS] = {
	[LSM_WAIT_MEMTABLE_ROOM] = "LsmMemtableRoom",
	[LSM_WAIT_WRITE_STALL] = "LsmWriteStall",
	[LSM_WAIT_FLUSH] = "LsmFlush",
	[LSM_WAIT_COMPACTION] = "LsmCompaction",
	[LSM_WAIT_COMMIT_APPLY] = "LsmCommitApply",
	[LSM_WAIT_COMMIT_PUBLISH] = "LsmCommitPublish",
	[LSM_WAIT_CHECKPOINT] = "LsmCheckpoint",
	[LSM_WAIT_MAINTENANCE_MAIN] = "LsmMaintenanceMain",
	[LSM_WAIT_COMPACTION_MAIN] = "LsmCompactionMain",
};

/* This backend's commit: when its waits must end (0: no commit, no bound). */
static TimestampTz commit_deadline = 0;
static bool commit_warned = false;

static const char *
wait_name(int kind)
{
	if (kind < 0 || kind >= LSM_WAIT_EVENTS || wait_names[kind] == NULL)
		return "LsmWait";
	return wait_names[kind];
}

uint32
lsm_wait_event_info(int kind)
{
#if PG_VERSION_NUM >= 170000
	static uint32 ids[LSM_WAIT_EVENTS];

	if (kind < 0 || kind >= LSM_WAIT_EVENTS)
		return PG_WAIT_EXTENSION;
	/* shared by name across processes; registered on first use */
	if (ids[kind] == 0)
		ids[kind] = WaitEventExtensionNew(wait_name(kind));
	return ids[kind];
#else
	return PG_WAIT_EXTENSION;
#endif
}

void
lsm_commit_waits_begin(void)
{
	commit_warned = false;
	commit_deadline = lsm_commit_wait_timeout > 0 ?
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), lsm_commit_wait_timeout) : 0;
}

void
lsm_commit_waits_end(void)
{
	commit_deadline = 0;
}

LsmCode
lsm_wait_check(int kind, LsmStatus *st)
{
	bool		can_fail = INTERRUPTS_CAN_BE_PROCESSED();

	if (can_fail && (QueryCancelPending || ProcDiePending))
		return lsm_status_set(st, LSM_INTERRUPTED, 0,
							  "The wait %s was interrupted.", wait_name(kind));
	if (commit_deadline != 0 && GetCurrentTimestamp() >= commit_deadline)
	{
		if (can_fail)
			return lsm_status_set(st, LSM_TIMED_OUT, 0,
								  "The commit waited longer than lsm_fdw.commit_wait_timeout (%d ms), in wait event %s; nothing of it was written.",
								  lsm_commit_wait_timeout, wait_name(kind));
		if (!commit_warned)
		{
			/* WARNING returns: safe under engine frames */
			commit_warned = true;
			ereport(WARNING,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("lsm_fdw commit is waiting longer than lsm_fdw.commit_wait_timeout"),
					 errdetail("The commit is in lsm_fdw's log and can no longer be cancelled; it waits in wait event %s and completes when that wait ends.",
							   wait_name(kind))));
		}
	}
	return LSM_OK;
}

LsmCode
lsm_wait_latch(int kind, long timeout_ms, LsmStatus *st)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 Max(timeout_ms, 1), lsm_wait_event_info(kind));
	ResetLatch(MyLatch);
	return lsm_wait_check(kind, st);
}

/* The engine env's wait hook; the engine holds none of its locks here. */
static LsmCode
env_wait(LsmEnv *env, LsmWaitKind kind, uint64_t micros, LsmStatus *st)
{
	return lsm_wait_latch((int) kind, (long) Min((micros + 999) / 1000, 1000), st);
}

/*
 * The fatal hooks: shared state is beyond repair.  PANIC does not return
 * (it aborts, and the postmaster restarts the server and replays the log).
 */
static void
heap_fatal(const char *msg)
{
	ereport(PANIC,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("lsm_fdw shared memory is in an unknown state"),
			 errdetail("%s", msg),
			 errhint("The server restarts and recovers lsm_fdw tables from their files and log.")));
	pg_unreachable();
}

static void
env_fatal(LsmEnv *env, const char *msg)
{
	heap_fatal(msg);
}

void
lsm_wait_install_hooks(LsmEnv *env, LsmShmHeap *heap)
{
	env->wait = env_wait;
	env->fatal = env_fatal;
	lsm_shm_heap_set_fatal(heap, heap_fatal);
}

void
lsm_report_wait_end(int elevel, const LsmStatus *st)
{
	if (st->code == LSM_TIMED_OUT)
	{
		ereport(elevel,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling commit due to lsm_fdw.commit_wait_timeout"),
				 errdetail("%s", st->msg),
				 errhint("The transaction is rolled back. Raise lsm_fdw.commit_wait_timeout, or check why lsm_fdw's maintenance worker falls behind (lsm_fdw.memtable_memory may be small for the tables written).")));
		return;
	}

	/* the interrupt that ended the wait raises its own error */
	if (elevel >= ERROR)
		CHECK_FOR_INTERRUPTS();
	ereport(elevel,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("canceling statement due to user request"),
			 errdetail("%s", st->msg)));
}

void
lsm_wait_define_gucs(void)
{
	DefineCustomIntVariable("lsm_fdw.commit_wait_timeout",
							"Longest a commit to lsm_fdw tables waits (for memtable room, its turn, earlier commits).",
							"Before the commit is logged, a longer wait cancels it; after, it logs a warning and goes on. 0 waits without limit.",
							&lsm_commit_wait_timeout,
							60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("lsm_fdw.debug_pause_flushes",
							 "For tests only: the maintenance worker stops flushing memtables.",
							 "It also stops syncing the log for lsm_fdw.synchronous_commit = off and stops checkpoints; commits then wait for memtable room once lsm_fdw.memtable_memory is full.",
							 &lsm_debug_pause_flushes,
							 false,
							 PGC_SIGHUP, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("lsm_fdw.debug_merge_error",
							 "For tests only: the merge function of this session raises an ERROR, as an out-of-memory in palloc would.",
							 NULL,
							 &lsm_debug_merge_error,
							 false,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("lsm_fdw.debug_resolve_lock",
							"For tests only: the COMMIT of a transaction that wrote heap and lsm tables waits for this advisory lock after Postgres shows it committed, before its lsm rows are numbered and published.",
							"0, the default, waits for nothing.",
							&lsm_debug_resolve_lock,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("lsm_fdw.debug_kill_at",
							 "For tests only: a session kills itself (SIGKILL) at a point a crash must be safe at: drop_before_commit, drop_after_commit (a transaction that dropped lsm_fdw tables or databases, its drop markers written, before the files are removed), truncate_swap (a committed TRUNCATE, between the two renames that put the new empty table in place), prepared (a transaction that also wrote Postgres data, its lsm_fdw PREPARE record durable, before Postgres's commit record).",
							 NULL,
							 &lsm_debug_kill_at,
							 LSM_DEBUG_KILL_OFF, kill_at_options,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
}
