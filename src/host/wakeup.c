/*
 * wakeup.c
 *		Sleeps and wake-ups of committers, on a futex per process.
 *
 * A durable commit sleeps once, while its group's fsync runs, and is woken
 * by the round's leader; a commit whose table's turn has not come sleeps
 * until the commit ahead ends its turn.  These waits hold interrupts (the
 * commit is in the log and cannot fail any more), so they need none of
 * what a latch offers: no cancel, no timeout event, no socket.  A latch
 * wake-up costs a signal (kill, its delivery through the signalfd, an
 * epoll wake-up, a read to drain it); at 16 clients with synchronous commit
 * on that was about one in eight of a commit's CPU.  A futex word per
 * process (by pgprocno) costs the waker one FUTEX_WAKE and the sleeper one
 * FUTEX_WAIT, and nothing when the sleeper is not asleep.
 *
 * The protocol, as in Postgres's own latches: a sleeper announces itself
 * (word = 1, a full barrier), then looks at its condition again and sleeps
 * only if it still must (FUTEX_WAIT returns at once if the word is no
 * longer 1); a waker first makes the condition true, then swaps the word
 * to 0 (a full barrier) and wakes the sleeper if it found 1.  Either the
 * sleeper sees the condition or the waker sees the announcement.  Callers
 * loop, so a stray wake-up (from a waker of an earlier sleep) only costs a
 * look; the sleep has a timeout, after which the caller looks again, the
 * commit's wait bound is checked (lsm_wait_check) and a dead postmaster
 * ends the process, as WL_EXIT_ON_PM_DEATH would.
 *
 * Elsewhere than Linux the same calls sleep on the process latch.
 */
#include "postgres.h"

#include <errno.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/wait_event.h"

#include "lsm_shared.h"
#include "lsm_wait.h"

/* One word per process, each on its own cache line: wakers write them. */
typedef struct LsmWakeWord
{
	pg_atomic_uint32 word;		/* 1: announced, asleep or about to be */
	char		pad[PG_CACHE_LINE_SIZE - sizeof(pg_atomic_uint32)];
} LsmWakeWord;

static LsmWakeWord *words = NULL;
static int	n_words = 0;

Size
lsm_wakeup_shmem_size(void)
{
	return mul_size(lsm_total_procs() + 1, sizeof(LsmWakeWord));
}

/* Create or attach to the words (at startup, under AddinShmemInitLock). */
void
lsm_wakeup_shmem_init(void)
{
	bool		found;
	char	   *p;

	p = ShmemInitStruct("lsm_fdw wake-ups", lsm_wakeup_shmem_size(), &found);
	/* ShmemInitStruct aligns to a cache line only from Postgres 17 */
	words = (LsmWakeWord *) TYPEALIGN(PG_CACHE_LINE_SIZE, p);
	n_words = lsm_total_procs();
	if (!found)
		for (int i = 0; i < n_words; i++)
			pg_atomic_init_u32(&words[i].word, 0);
}

static pg_atomic_uint32 *
my_word(void)
{
	Assert(MyProc != NULL && MyProc->pgprocno < n_words);
	return &words[MyProc->pgprocno].word;
}

/*
 * lsm_wakeup_prepare
 *		Announce a sleep; the caller then looks at its condition again and
 *		either sleeps (lsm_wakeup_sleep) or takes it back (lsm_wakeup_cancel).
 */
void
lsm_wakeup_prepare(void)
{
	pg_atomic_write_u32(my_word(), 1);
	pg_memory_barrier();
}

void
lsm_wakeup_cancel(void)
{
	pg_atomic_write_u32(my_word(), 0);
}

/*
 * lsm_wakeup_sleep
 *		Sleep until woken or timeout_ms passed, reported as wait event kind,
 *		then lsm_wait_check.  Never ereports ERROR.
 */
LsmCode
lsm_wakeup_sleep(int kind, long timeout_ms, LsmStatus *st)
{
#ifdef __linux__
	pg_atomic_uint32 *w = my_word();
	struct timespec ts;

	timeout_ms = Max(timeout_ms, 1);
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
	pgstat_report_wait_start(lsm_wait_event_info(kind));
	/* 0 returned with the word still 1 is a spurious wake-up */
	while (pg_atomic_read_u32(w) == 1 &&
		   syscall(SYS_futex, &w->value, FUTEX_WAIT, 1, &ts, NULL, 0) == 0)
		;
	pg_atomic_write_u32(w, 0);
	pgstat_report_wait_end();
	if (!PostmasterIsAlive())
		proc_exit(1);
#else
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 Max(timeout_ms, 1), lsm_wait_event_info(kind));
	ResetLatch(MyLatch);
	pg_atomic_write_u32(my_word(), 0);
#endif
	return lsm_wait_check(kind, st);
}

/*
 * lsm_wakeup_proc
 *		Wake the process with this pgprocno if it announced a sleep.  The
 *		caller made its condition true before.
 */
void
lsm_wakeup_proc(int procno)
{
	pg_atomic_uint32 *w;

	if (procno < 0 || procno >= n_words)
		return;
	w = &words[procno].word;
	/* a plain read first: most targets are awake, and the swap writes */
	pg_memory_barrier();
	if (pg_atomic_read_u32(w) == 0 || pg_atomic_exchange_u32(w, 0) == 0)
		return;
#ifdef __linux__
	(void) syscall(SYS_futex, &w->value, FUTEX_WAKE, 1, NULL, NULL, 0);
#else
	SetLatch(&ProcGlobal->allProcs[procno].procLatch);
#endif
}
