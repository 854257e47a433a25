/*
 * db_background.c
 *		The standalone database's own background threads
 *		(LsmOptions.background_threads): they flush frozen memtables and
 *		compact, so that the writing thread does neither.
 *
 * They drive the host mode's machinery (db.c, "Host mode") exactly as a
 * host's workers do: the database runs with background_flush, so a writer
 * that fills the active memtable only freezes it and calls flush_wanted_fn,
 * which here is lsm_db_bg_wake; a thread then calls lsm_db_flush_pending
 * and lsm_db_compact_step until neither has anything to do, and sleeps.
 * Writers facing LSM_MAX_IMM frozen memtables or a write stop wait in the
 * engine's 1 ms waits (env wait hook) as they do under a host.
 *
 * Flushes come before compactions at every step: a writer waits for a
 * flush as soon as four memtables are frozen, while compaction debt only
 * slows it down far later (the L0 triggers).  One flush runs at a time
 * (the flushing flag, db_flush.c), compactions that do not overlap run
 * side by side, so a second thread flushes while the first compacts.  A
 * single thread would leave writers waiting through a whole compaction
 * (an L0 -> L1 merge of a few hundred MiB takes seconds while four 64 MiB
 * memtables fill in one), so a compaction of a database with threads
 * stops every 4096 entries to flush a frozen memtable first
 * (lsm_db_bg_flush_interleaved), as LevelDB's DoCompactionWork does.
 * That is safe: the flush only adds a level-0 file, which no running
 * compaction's inputs include, and it holds nothing of the compaction's.
 *
 * Errors.  A flush or compaction that fails in a thread has nobody to
 * return to, so it becomes the database's sticky error (bg_error): the
 * next write fails with it, and a waiting writer stops waiting.  This is
 * what RocksDB does with background errors; retrying blindly could loop
 * on a full disk forever while writers pile up memtables.
 *
 * Sleeping.  The threads sleep on a condition variable, woken by every
 * lsm_db_bg_wake (a frozen memtable, a waiting writer, a flush that may
 * have made a compaction due, an ingest into level 0), and at least every
 * BG_IDLE_MICROS, which catches what nobody announces (a manual
 * compaction's follow-up work, the open's level-0 trigger).  A wake
 * counter rather than a flag keeps a wake that arrives while a thread
 * works from being lost: the thread compares it before it sleeps.
 *
 * Close sets stop and joins: a thread finishes the flush or compaction it
 * is in (they are not cancellable) and looks at stop before the next one.
 * The threads use pthreads directly, not the env's mutexes: they exist
 * only in a standalone process, where env_posix.c uses pthreads too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lsm_alloc.h"
#include "db_internal.h"

/* Longest sleep of an idle thread. */
#define BG_IDLE_MICROS 100000

/* Most threads one database may ask for. */
#define BG_MAX_THREADS 64

/*
 * mu protects wakeups and stop; threads and n_threads are written only by
 * open (before any thread runs) and by close (after all were joined).
 */
struct LsmBackground
{
	LsmDb	   *db;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t	wakeups;		/* bumped by every wake */
	bool		stop;			/* close asked the threads to end */
	int			n_threads;		/* started, to be joined */
	pthread_t	threads[BG_MAX_THREADS];
};

static bool
bg_stopping(LsmBackground *bg)
{
	bool		stop;

	pthread_mutex_lock(&bg->mu);
	stop = bg->stop;
	pthread_mutex_unlock(&bg->mu);
	return stop;
}

/*
 * bg_fail
 *		Make a thread's failure the database's sticky error, unless an
 *		earlier one is there already (a flush refused because of it
 *		returns that same error).
 */
static void
bg_fail(LsmDb *db, const LsmStatus *st)
{
	db->env->mutex_lock(db->write_mu);
	if (db->bg_error.code == LSM_OK)
		db->bg_error = *st;
	db->env->mutex_unlock(db->write_mu);
}

static bool
bg_failed(LsmDb *db)
{
	bool		failed;

	db->env->mutex_lock(db->write_mu);
	failed = db->bg_error.code != LSM_OK;
	db->env->mutex_unlock(db->write_mu);
	return failed;
}

/*
 * bg_work
 *		Flush and compact until nothing is due, another thread holds what
 *		is left, the database failed, or close wants the thread back.
 */
static void
bg_work(LsmBackground *bg)
{
	LsmDb	   *db = bg->db;

	while (!bg_stopping(bg) && !bg_failed(db))
	{
		LsmStatus	st;
		LsmCode		rc;
		bool		did = false;

		lsm_status_clear(&st);
		rc = lsm_db_flush_pending(db, &did, &st);
		if (rc == LSM_OK && !did)
			rc = lsm_db_compact_step(db, &did, &st);
		if (rc == LSM_BUSY)
			return;				/* others' compactions hold the files */
		if (rc != LSM_OK)
		{
			bg_fail(db, &st);
			return;
		}
		if (!did)
			return;
	}
}

static void *
bg_main(void *arg)
{
	LsmBackground *bg = arg;

	pthread_mutex_lock(&bg->mu);
	while (!bg->stop)
	{
		uint64_t	seen = bg->wakeups;
		struct timespec ts;

		pthread_mutex_unlock(&bg->mu);
		bg_work(bg);
		pthread_mutex_lock(&bg->mu);
		if (bg->stop || bg->wakeups != seen)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long) BG_IDLE_MICROS * 1000;
		if (ts.tv_nsec >= 1000000000L)
		{
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		/* woken, timed out or spurious: look for work either way */
		(void) pthread_cond_timedwait(&bg->cv, &bg->mu, &ts);
	}
	pthread_mutex_unlock(&bg->mu);
	return NULL;
}

/*
 * lsm_db_bg_wake
 *		Tell the threads that work may be due.  Any thread, no engine lock
 *		needed; nothing when the database has no threads.
 */
void
lsm_db_bg_wake(LsmDb *db)
{
	LsmBackground *bg = db->bg;

	if (bg == NULL)
		return;
	pthread_mutex_lock(&bg->mu);
	bg->wakeups++;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
}

/*
 * lsm_db_bg_flush_interleaved
 *		Called by a running compaction of a database with threads, holding
 *		no lock: flush a frozen memtable if one waits and no flush runs.  A
 *		failure is the database's error, as in a thread; the compaction
 *		goes on.
 */
void
lsm_db_bg_flush_interleaved(LsmDb *db)
{
	LsmStatus	st;
	bool		did;

	if (!lsm_db_flush_needed(db))
		return;
	lsm_status_clear(&st);
	if (lsm_db_flush_pending(db, &did, &st) != LSM_OK)
		bg_fail(db, &st);
}

/* flush_wanted_fn of a database with threads: arg is the database. */
void
lsm_db_bg_flush_wanted(void *arg)
{
	lsm_db_bg_wake((LsmDb *) arg);
}

/*
 * lsm_db_bg_check_options
 *		Refuse background_threads settings open cannot honour.
 */
LsmCode
lsm_db_bg_check_options(const LsmOptions *o, LsmStatus *st)
{
	if (o->background_threads < 0 || o->background_threads > BG_MAX_THREADS)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "background_threads %d is outside 0..%d",
							  o->background_threads, BG_MAX_THREADS);
	if (o->background_threads > 0 &&
		(o->external_wal || o->background_flush || o->flush_wanted_fn != NULL))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "background_threads is for standalone use: it needs external_wal and background_flush off and no flush_wanted_fn");
	return LSM_OK;
}

/*
 * lsm_db_bg_start
 *		Start opts.background_threads threads for db, whose options already
 *		say background_flush with lsm_db_bg_flush_wanted.  On failure the
 *		threads already started are stopped again.
 */
LsmCode
lsm_db_bg_start(LsmDb *db, LsmStatus *st)
{
	LsmBackground *bg;
	pthread_condattr_t attr;
	int			err = 0;
	int			i;

	if (db->opts.background_threads <= 0)
		return LSM_OK;
	bg = lsm_calloc(1, sizeof(LsmBackground));
	if (bg == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory starting the threads of \"%s\"", db->dir);
	bg->db = db;
	if (pthread_mutex_init(&bg->mu, NULL) != 0)
	{
		lsm_free(bg);
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "could not create a mutex for the threads of \"%s\"", db->dir);
	}
	/* timed waits against the monotonic clock: wall clock jumps do not matter */
	if (pthread_condattr_init(&attr) != 0 ||
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
		pthread_cond_init(&bg->cv, &attr) != 0)
	{
		pthread_mutex_destroy(&bg->mu);
		lsm_free(bg);
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "could not create a condition variable for the threads of \"%s\"",
							  db->dir);
	}
	pthread_condattr_destroy(&attr);
	db->bg = bg;
	for (i = 0; i < db->opts.background_threads; i++)
	{
		err = pthread_create(&bg->threads[i], NULL, bg_main, bg);
		if (err != 0)
			break;
		bg->n_threads++;
	}
	if (err != 0)
	{
		lsm_db_bg_stop(db);
		return lsm_status_set(st, LSM_NO_MEMORY, err,
							  "could not start background thread %d of %d for \"%s\": %s",
							  i + 1, db->opts.background_threads, db->dir, strerror(err));
	}
	return LSM_OK;
}

/*
 * lsm_db_bg_stop
 *		Stop and join the threads (each finishes the step it is in) and
 *		free their state.  Nothing when there are none.
 */
void
lsm_db_bg_stop(LsmDb *db)
{
	LsmBackground *bg = db->bg;
	int			i;

	if (bg == NULL)
		return;
	pthread_mutex_lock(&bg->mu);
	bg->stop = true;
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	for (i = 0; i < bg->n_threads; i++)
		pthread_join(bg->threads[i], NULL);
	db->bg = NULL;
	pthread_cond_destroy(&bg->cv);
	pthread_mutex_destroy(&bg->mu);
	lsm_free(bg);
}
