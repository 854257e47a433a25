/*
 * lsm_wait.h
 *		How lsm_fdw waits in Postgres processes (wait.c): the engine env's
 *		wait and fatal hooks, the host's own waits, wait events, and the
 *		bound on waits inside a commit (lsm_fdw.commit_wait_timeout).
 */
#ifndef LSM_WAIT_H
#define LSM_WAIT_H

#include "lsm_env.h"
#include "shm_heap.h"

/*
 * Waits of the host, numbered after the engine's LsmWaitKind so that one
 * table of wait event names covers both.
 */
typedef enum LsmHostWaitKind
{
	LSM_WAIT_COMMIT_APPLY = LSM_WAIT_KINDS, /* a commit waits for its table's turn */
	LSM_WAIT_COMMIT_PUBLISH,	/* a commit waits for earlier ones to publish */
	LSM_WAIT_CHECKPOINT,		/* a checkpoint waits for commits to publish */
	LSM_WAIT_MAINTENANCE_MAIN,	/* the maintenance worker, idle */
	LSM_WAIT_COMPACTION_MAIN,	/* a compaction worker, idle */
	LSM_WAIT_EVENTS				/* how many there are */
} LsmHostWaitKind;

extern int	lsm_commit_wait_timeout;
extern bool lsm_debug_pause_flushes;
extern bool lsm_debug_merge_error;
extern int	lsm_debug_kill_at;
extern int	lsm_debug_resolve_lock;

/* lsm_fdw.debug_kill_at */
#define LSM_DEBUG_KILL_OFF				0
#define LSM_DEBUG_KILL_DROP_BEFORE_COMMIT	1
#define LSM_DEBUG_KILL_DROP_AFTER_COMMIT		2
#define LSM_DEBUG_KILL_TRUNCATE_SWAP	3
#define LSM_DEBUG_KILL_PREPARED			4

extern void lsm_wait_define_gucs(void);

/* Install the hooks into the shared env and heap (postmaster, at start). */
extern void lsm_wait_install_hooks(LsmEnv *env, LsmShmHeap *heap);

/* The wait_event_info of a wait (an LsmWaitKind or LsmHostWaitKind). */
extern uint32 lsm_wait_event_info(int kind);

/*
 * Sleep on the process latch for up to timeout_ms, reported as kind, then
 * lsm_wait_check.  Never ereports ERROR (engine frames may be below).
 */
extern LsmCode lsm_wait_latch(int kind, long timeout_ms, LsmStatus *st);

/*
 * Whether a wait should end: LSM_INTERRUPTED for a pending query cancel or
 * termination (statement_timeout is a cancel), LSM_TIMED_OUT once a commit
 * has waited past lsm_fdw.commit_wait_timeout; both only while interrupts
 * can be processed.  A commit past its bound with interrupts held (its
 * record is in the log) gets one WARNING and goes on waiting.
 */
extern LsmCode lsm_wait_check(int kind, LsmStatus *st);

/* The bound of lsm_fdw.commit_wait_timeout runs from begin to end. */
extern void lsm_commit_waits_begin(void);
extern void lsm_commit_waits_end(void);

/*
 * ereport a wait that ended with LSM_INTERRUPTED (at ERROR, the pending
 * interrupt's own error: a cancel, statement_timeout, a termination) or
 * LSM_TIMED_OUT (57014 naming lsm_fdw.commit_wait_timeout).
 */
extern void lsm_report_wait_end(int elevel, const LsmStatus *st);

#endif							/* LSM_WAIT_H */
