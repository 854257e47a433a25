/*
 * idle_close.c
 *		A client backend that waits for its client closes lsm_fdw's file
 *		descriptors (lsm_fdw.idle_close_delay), so that the table files
 *		compactions delete meanwhile give their disk space back.
 *
 * A backend keeps a descriptor of every file it read (env_shared.c) and
 * drops those of deleted files when it next calls the engine.  An idle
 * one never does: a connection pool's hundred idle sessions could each
 * hold files that compactions had deleted, gigabytes that du no longer
 * shows and df still counts, until each ran a query.
 *
 * An idle backend runs no code of ours, and Postgres offers no hook in its
 * wait for the client; but its timeouts fire there (SIGALRM).  So the end
 * of each transaction arms a timeout, when none is pending and descriptors
 * are cached, and the handler closes them all if the backend is then
 * blocked reading from its client (its wait event says so: no statement
 * of ours is running) and the descriptor cache is not locked (the handler
 * never waits).  A session that goes idle thus closes its files within the
 * delay of its last transaction's end: the timer then pending fires while
 * it waits, or fired during that transaction and its end armed it again.
 * A busy session is also caught between statements, about once per delay,
 * and reopens its files: a few open(2) calls a second, which the A/B runs
 * of session 17 could not see.  Re-arming at every transaction's end
 * instead would cost a setitimer(2) per transaction.  Reopening is what an
 * evicted descriptor costs already, and a file a reader still needs is
 * never deleted, so closing is always safe.
 *
 * The timeout is registered at the backend's first table open, not in the
 * transaction callback: RegisterTimeout fails with FATAL when other
 * extensions took every user slot, which after a commit would be a PANIC.
 */
#include "postgres.h"

#include <errno.h>

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/timeout.h"
#include "utils/wait_event.h"

#include "lsm_env_shared.h"
#include "lsm_shared.h"

static int	lsm_idle_close_delay = 1000;	/* ms; 0: never */

static TimeoutId idle_close_timeout = MAX_TIMEOUTS;

static void
idle_close_handler(void)
{
	int			save_errno = errno;

	if (my_wait_event_info != NULL &&
		*(volatile uint32 *) my_wait_event_info == WAIT_EVENT_CLIENT_READ)
		(void) lsm_env_shared_close_all_fds();
	errno = save_errno;
}

void
lsm_idle_close_define_gucs(void)
{
	DefineCustomIntVariable("lsm_fdw.idle_close_delay",
							"At most how long after its last transaction a session waiting for its client keeps lsm_fdw's files open.",
							"Then it closes them, so that files deleted by compactions free their "
							"disk space (a busy session is caught between statements about once "
							"per delay and reopens its files); 0 keeps them until the session's "
							"next statement.",
							&lsm_idle_close_delay,
							1000, 0, 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * lsm_idle_close_arm
 *		At a transaction's end: have the descriptors closed once the session
 *		has waited for its client for lsm_fdw.idle_close_delay.
 */
void
lsm_idle_close_arm(void)
{
	if (lsm_idle_close_delay <= 0 || idle_close_timeout == MAX_TIMEOUTS ||
		get_timeout_active(idle_close_timeout) || lsm_env_shared_cached_fds() == 0)
		return;
	enable_timeout_after(idle_close_timeout, lsm_idle_close_delay);
}

/* At a client backend's first table open. */
void
lsm_idle_close_register(void)
{
	if (MyBackendType == B_BACKEND && idle_close_timeout == MAX_TIMEOUTS)
		idle_close_timeout = RegisterTimeout(USER_TIMEOUT, idle_close_handler);
}
