/*
 * worker.c
 *		lsm_fdw's background workers.
 *
 * The maintenance worker starts after every server start and every crash
 * restart (once Postgres's own recovery is done, so pg_xact is valid),
 * replays the lsm_fdw log into the tables' memtables while backends wait
 * (lsm_wait_ready), and then loops: flush frozen memtables, fsync the log
 * for lsm_fdw.synchronous_commit = off within lsm_fdw.wal_sync_delay, and
 * checkpoint (flush every table, then delete or recycle the log segments
 * nothing needs) once the log has grown by half of lsm_fdw.max_wal_size.
 * The compaction workers (lsm_fdw.compaction_workers) compact whatever
 * table needs it.  None of them connects to a database: table settings come from
 * each table's OPTIONS file.
 */
#include "postgres.h"

#include <sys/resource.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "lsm_commit.h"
#include "lsm_env_shared.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "lsm_spill.h"
#include "lsm_wait.h"

PGDLLEXPORT void lsm_maintenance_main(Datum arg);
PGDLLEXPORT void lsm_compaction_main(Datum arg);


void
lsm_wake_maintenance(void)
{
	uint32		procno;

	if (lsm_shared == NULL)
		return;
	procno = pg_atomic_read_u32(&lsm_shared->maint_pgprocno);
	if (procno != PG_UINT32_MAX && (int) procno != lsm_my_procno())
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

void
lsm_register_workers(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 1;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "lsm_fdw");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "lsm_maintenance_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "lsm_fdw maintenance");
	snprintf(w.bgw_type, BGW_MAXLEN, "lsm_fdw maintenance");
	RegisterBackgroundWorker(&w);

	for (int i = 0; i < lsm_compaction_workers; i++)
	{
		snprintf(w.bgw_function_name, BGW_MAXLEN, "lsm_compaction_main");
		snprintf(w.bgw_name, BGW_MAXLEN, "lsm_fdw compaction %d", i + 1);
		snprintf(w.bgw_type, BGW_MAXLEN, "lsm_fdw compaction");
		w.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&w);
	}
}

/*
 * set_worker_nice
 *		Run this worker lsm_fdw.worker_nice below the server's CPU priority
 *		(again after a reload).  On a machine with few CPUs a compaction at
 *		the backends' priority takes a whole CPU from them while it runs;
 *		niced, it takes what they leave, and falls behind only while they
 *		use every CPU, which the write stalls then bound.  Going back up
 *		may need a privilege the server lacks: that failure is only logged.
 */
static void
set_worker_nice(void)
{
	static int	base = INT_MIN;	/* the nice value inherited from the postmaster */
	static int	applied = INT_MIN;
	int			target;

	if (base == INT_MIN)
	{
		errno = 0;
		base = getpriority(PRIO_PROCESS, 0);
		if (errno != 0)
			base = 0;
	}
	target = Min(base + lsm_worker_nice, 19);
	if (target == applied)
		return;
	if (setpriority(PRIO_PROCESS, 0, target) != 0)
		ereport(LOG,
				(errmsg("lsm_fdw could not set the nice value of \"%s\" to %d: %m",
						MyBgworkerEntry->bgw_name, target),
				 errhint("Raising a process's priority again needs a restart of the server, or the privilege to do so.")));
	else
		applied = target;
}


static void
note_flush_result(LsmTableSlot *slot, LsmCode rc, const LsmStatus *st)
{
	bool		was = slot->flush_failing;

	SpinLockAcquire(&slot->mutex);
	if (rc == LSM_OK)
		slot->flush_failing = false;
	else
	{
		slot->flush_failing = true;
		slot->flush_error_code = rc;
		strlcpy(slot->flush_error, st->msg, sizeof(slot->flush_error));
	}
	SpinLockRelease(&slot->mutex);
	if (rc != LSM_OK && !was)
		ereport(WARNING,
				(errcode(lsm_errcode(rc)),
				 errmsg("lsm_fdw could not flush table %u", slot->relid),
				 errdetail("%s", st->msg),
				 errhint("Commits to the table are refused until a flush succeeds; the worker retries.")));
	else if (rc == LSM_OK && was)
		ereport(LOG, (errmsg("lsm_fdw flushes of table %u succeed again", slot->relid)));
}

/* Flush every frozen memtable of every table. */
static bool
flush_frozen(void)
{
	int			pos = 0;
	LsmTableSlot *slot;
	bool		any = false;

	while ((slot = lsm_next_open_slot(&pos)) != NULL)
	{
		LsmStatus	st;
		LsmCode		rc = LSM_OK;
		bool		did = true;

		while (rc == LSM_OK && did && lsm_db_flush_needed(slot->db))
		{
			rc = lsm_db_flush_pending(slot->db, &did, &st);
			any |= did;
		}
		if (rc != LSM_OK || slot->flush_failing)
			note_flush_result(slot, rc, &st);
		lsm_slot_unpin(slot);
	}
	return any;
}

/*
 * The pool is over its limit and nothing is frozen: it is full of tables'
 * active memtables (many open tables, or replay refilled them), which only
 * a flush gives back.  Commits then go ahead over the limit rather than
 * wait (commit.c), so flush tables until the pool is below its limit
 * again; each flushed table keeps only a small memtable (the engine's
 * initial_write_buffer_size).  Tables holding no more than that are
 * skipped: flushing them gives nothing back.  So are tables whose flushes
 * fail, and what they hold does not count: the others would otherwise be
 * flushed over and over, into tiny files, until the failing ones recover.
 */
static void
shrink_memtables(void)
{
	LsmShared  *s = lsm_shared;
	uint64		limit = (uint64) lsm_memtable_memory * 1024;
	uint64		idle = lsm_idle_memtable_size();
	uint64		failing = 0;
	int			pos = 0;
	LsmTableSlot *slot;

	while ((slot = lsm_next_open_slot(&pos)) != NULL)
	{
		if (slot->flush_failing)
			failing += lsm_db_memtable_bytes(slot->db);
		lsm_slot_unpin(slot);
	}
	pos = 0;
	while (pg_atomic_read_u64(&s->memtable_bytes) > limit + failing &&
		   (slot = lsm_next_open_slot(&pos)) != NULL)
	{
		LsmStatus	st;

		if (!slot->flush_failing && lsm_db_memtable_bytes(slot->db) > idle)
		{
			LsmCode		rc = lsm_db_flush(slot->db, &st);

			if (rc != LSM_OK)
				note_flush_result(slot, rc, &st);
		}
		lsm_slot_unpin(slot);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Old segments kept for reuse: as many as the log grows between two
 * checkpoints, so that in a steady load every new segment is a recycled
 * one.  Segments and recycled files then stay within about
 * lsm_fdw.max_wal_size on disk, as Postgres's WAL stays within its
 * max_wal_size with the segments it recycles.
 */
static uint32
recycle_limit(void)
{
	uint64		n = (uint64) lsm_max_wal_size / 2 / lsm_wal_segment_size;

	return (uint32) Max(n, 1);
}

/*
 * After lsm_fdw.wal_recycle_idle_timeout without log writes, keep one
 * recycled segment at most, as Postgres trims its recycled WAL toward
 * min_wal_size when checkpoints find it idle; the next checkpoint raises
 * the limit again.
 */
static void
trim_recycled_when_idle(uint64 insert)
{
	static uint64 idle_lsn = 0;
	static TimestampTz idle_since = 0;
	static bool trimmed = false;
	TimestampTz now = GetCurrentTimestamp();
	LsmStatus	st;

	if (insert != idle_lsn || idle_since == 0)
	{
		idle_lsn = insert;
		idle_since = now;
		trimmed = false;
		return;
	}
	if (trimmed ||
		!TimestampDifferenceExceeds(idle_since, now, lsm_wal_recycle_idle_timeout * 1000))
		return;
	trimmed = true;
	lsm_xlog_set_recycle(lsm_shared->xlog, 1);
	if (lsm_xlog_remove_before(lsm_shared->xlog, 0, &st) != LSM_OK)
		elog(LOG, "lsm_fdw could not delete recycled log segments: %s", st.msg);
}

/*
 * Checkpoint: make everything the log holds so far durable in the tables,
 * then delete (or recycle) the segments below that point.  The oldest
 * prepared record is read first: a transaction that resolves afterwards
 * wrote its RESOLVE before the log position read next, so the wait below
 * covers it.
 */
static void
checkpoint(uint64 *last)
{
	LsmShared  *s = lsm_shared;
	uint64		oldest_prepared = PG_UINT64_MAX;
	uint64		upto;
	uint64		seq;
	int			pos = 0;
	LsmTableSlot *slot;
	LsmStatus	st;

	for (int i = 0; i < s->n_procs; i++)
		oldest_prepared = Min(oldest_prepared, pg_atomic_read_u64(&s->prepared_lsn[i]));
	pg_memory_barrier();
	upto = lsm_xlog_insert_lsn(s->xlog);
	seq = pg_atomic_read_u64(&s->next_seq) - 1;

	/* commits numbered so far must be applied before the tables flush */
	while (pg_atomic_read_u64(&s->visible_seq) < seq)
	{
		CHECK_FOR_INTERRUPTS();
		flush_frozen();
		(void) lsm_wait_latch(LSM_WAIT_CHECKPOINT, 1, NULL);
	}
	while ((slot = lsm_next_open_slot(&pos)) != NULL)
	{
		LsmCode		rc = lsm_db_flush(slot->db, &st);

		if (rc != LSM_OK)
		{
			/* a wait ended by SIGTERM is no flush failure */
			if (rc != LSM_INTERRUPTED)
				note_flush_result(slot, rc, &st);
			lsm_slot_unpin(slot);
			return;				/* keep the log; retried next time */
		}
		lsm_slot_unpin(slot);
	}
	upto = Min(upto, oldest_prepared);
	/* a table recovery could not open still needs its skipped records */
	upto = Min(upto, lsm_failed_tables_oldest_lsn());
	lsm_xlog_set_recycle(s->xlog, recycle_limit());
	if (lsm_xlog_remove_before(s->xlog, upto, &st) != LSM_OK)
		ereport(WARNING,
				(errcode(lsm_errcode(st.code)),
				 errmsg("lsm_fdw could not remove old log segments"),
				 errdetail("%s", st.msg)));
	*last = upto;
}

/*
 * Replay the log; the LSN where the replayed log starts (its oldest
 * segment) goes to *oldest.
 */
static void
recover(uint64 *oldest)
{
	LsmShared  *s = lsm_shared;
	char	   *dir = psprintf("%s/lsm_fdw/wal", DataDir);
	LsmXlog    *x;
	LsmXlogReplayReport rep;
	LsmStatus	st;

	memset(&rep, 0, sizeof(rep));
	/* before the replay, which would reopen a table a crash left undropped */
	lsm_sweep_interrupted_drops();
	if (lsm_xlog_open_flags(s->env, dir, (uint64) lsm_wal_segment_size * 1024,
							lsm_ignore_log_corruption ? LSM_XLOG_ACCEPT_CORRUPTION : 0,
							lsm_replay_record, NULL, &x, &rep, &st) != LSM_OK)
	{
		if (rep.corrupt)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("lsm_fdw server log is damaged at LSN %llu and committed records follow the damage",
							(unsigned long long) rep.corrupt_lsn),
					 rep.later_v1_records > 0 ?
					 errdetail("%s. %llu records after the damage are in the old log format, which cannot tell whether the damage had been synced.",
							   st.msg, (unsigned long long) rep.later_v1_records) :
					 errdetail("%s. A record after the damage was appended once the log was synced up to LSN %llu, past the damage.",
							   st.msg, (unsigned long long) rep.later_durable_lsn),
					 errhint("Restore the lsm_fdw directory from a backup, or set lsm_fdw.ignore_log_corruption = on and reload to start without the records from LSN %llu on.",
							 (unsigned long long) rep.corrupt_lsn)));
		lsm_report(ERROR, &st, "replay the log");
	}
	lsm_replay_finish();
	/* what is left of bulk loads belongs to no committed transaction */
	lsm_bulk_sweep();
	if (rep.corrupt)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("lsm_fdw discarded its server log from LSN %llu on, past damage in segment %016llX, because lsm_fdw.ignore_log_corruption is on",
						(unsigned long long) rep.corrupt_lsn,
						(unsigned long long) rep.corrupt_segment),
				 errdetail("Replay stopped at %s; a valid record at LSN %llu followed. %llu bytes and %llu valid records after the damage were discarded.",
						   rep.reason, (unsigned long long) rep.next_valid_lsn,
						   (unsigned long long) rep.dropped_bytes,
						   (unsigned long long) rep.later_records),
				 errhint("Set lsm_fdw.ignore_log_corruption back to off.")));
	else if (rep.later_records > 0)
		ereport(WARNING,
				(errmsg("lsm_fdw discarded %llu valid server log records after LSN %llu, an unsynced tail written out of order",
						(unsigned long long) rep.later_records,
						(unsigned long long) rep.end_lsn),
				 errdetail("Replay stopped at %s. Every record after it was appended while the log was synced only up to LSN %llu, so none of them had been synced; an operating system crash or power loss can persist such a tail out of order. %llu records were replayed.",
						   rep.reason, (unsigned long long) rep.later_durable_lsn,
						   (unsigned long long) rep.records)));
	else if (rep.records > 0 || rep.dropped_bytes > 0)
		ereport(LOG,
				(errmsg("lsm_fdw replayed %llu log records%s",
						(unsigned long long) rep.records,
						rep.dropped_bytes > 0 ? " and dropped a torn tail" : ""),
				 rep.dropped_bytes > 0 ?
				 errdetail("Replay stopped at %s.", rep.reason) : 0));
	*oldest = rep.start_lsn;
	s->xlog = x;
}

void
lsm_maintenance_main(Datum arg)
{
	LsmShared  *s = lsm_shared;
	uint64		last_checkpoint = 0;
	TimestampTz last_sync = GetCurrentTimestamp();
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	/* flushes give the CPU up between blocks (env_shared.c, cpu_yield) */
	lsm_env_shared_set_cpu_yield(true);
	cxt = AllocSetContextCreate(TopMemoryContext, "lsm_fdw maintenance",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	lsm_region_unlimited(true);

	pg_atomic_write_u32(&s->maint_pgprocno, (uint32) lsm_my_procno());
	if (s->recovery_state != LSM_RECOVERY_DONE)
	{
		PG_TRY();
		{
			/*
			 * The log kept from before the restart counts toward the next
			 * checkpoint: counted from the insert LSN, a server restarted
			 * before every max_wal_size / 2 of writes never checkpointed,
			 * and its log and every restart's replay grew without bound.
			 */
			recover(&last_checkpoint);
		}
		PG_CATCH();
		{
			ErrorData  *e;

			MemoryContextSwitchTo(cxt);
			e = CopyErrorData();
			strlcpy(s->recovery_error, e->message, sizeof(s->recovery_error));
			strlcpy(s->recovery_detail, e->detail ? e->detail : "",
					sizeof(s->recovery_detail));
			strlcpy(s->recovery_hint, e->hint ? e->hint : "",
					sizeof(s->recovery_hint));
			s->recovery_state = LSM_RECOVERY_FAILED;
			ConditionVariableBroadcast(&s->recovery_cv);
			PG_RE_THROW();
		}
		PG_END_TRY();
		/* lsm_horizon reads the visible number after seeing this */
		pg_write_barrier();
		s->recovery_state = LSM_RECOVERY_DONE;
		ConditionVariableBroadcast(&s->recovery_cv);
	}
	/* after the replay, which every backend waits for */
	set_worker_nice();

	for (;;)
	{
		uint64		insert;
		LsmStatus	st;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(lsm_wal_sync_delay / 2, 10),
						 lsm_wait_event_info(LSM_WAIT_MAINTENANCE_MAIN));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			set_worker_nice();
		}
		MemoryContextReset(cxt);

		/* before the flushes, which may take a while: a switch waits for it */
		if (lsm_xlog_make_spare(s->xlog, &st) != LSM_OK)
			elog(DEBUG1, "lsm_fdw could not make a spare log segment: %s", st.msg);
		if (lsm_debug_pause_flushes)
			continue;			/* tests: make writers wait for room */
		flush_frozen();
		if (pg_atomic_read_u64(&s->memtable_bytes) > (uint64) lsm_memtable_memory * 1024 &&
			!lsm_flush_pending_anywhere())
			shrink_memtables();

		/* lsm_fdw.synchronous_commit = off: bound the unsynced window */
		insert = lsm_xlog_insert_lsn(s->xlog);
		if (insert > lsm_xlog_flushed_lsn(s->xlog) &&
			TimestampDifferenceExceeds(last_sync, GetCurrentTimestamp(),
									   lsm_wal_sync_delay / 2))
		{
			if (lsm_xlog_flush(s->xlog, insert, &st) != LSM_OK)
				ereport(PANIC,
						(errcode(lsm_errcode(st.code)),
						 errmsg("lsm_fdw could not fsync its log"),
						 errdetail("%s", st.msg)));
			lsm_commit_publish();
			last_sync = GetCurrentTimestamp();
		}

		if (insert - last_checkpoint > (uint64) lsm_max_wal_size * 1024 / 2)
			checkpoint(&last_checkpoint);
		trim_recycled_when_idle(insert);
	}
}

void
lsm_compaction_main(Datum arg)
{
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	/* and so do compactions */
	lsm_env_shared_set_cpu_yield(true);
	cxt = AllocSetContextCreate(TopMemoryContext, "lsm_fdw compaction",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	set_worker_nice();

	/*
	 * Compaction runs during recovery too (on the tables replay has opened):
	 * replay writes level-0 files, and at the write stop it would wait for a
	 * compaction.  Those keep only the newest version of a key: nobody
	 * reads before the replay ends (lsm_horizon).
	 */
	for (;;)
	{
		int			pos = 0;
		LsmTableSlot *slot;
		bool		any = false;

		while ((slot = lsm_next_open_slot(&pos)) != NULL)
		{
			LsmStatus	st;
			bool		did = false;

			if (lsm_db_compaction_needed(slot->db))
			{
				if (lsm_db_compact_step(slot->db, &did, &st) != LSM_OK)
					ereport(WARNING,
							(errcode(lsm_errcode(st.code)),
							 errmsg("lsm_fdw could not compact table %u",
									slot->relid),
							 errdetail("%s", st.msg)));
				any |= did;
			}
			lsm_slot_unpin(slot);
			CHECK_FOR_INTERRUPTS();
		}
		MemoryContextReset(cxt);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			set_worker_nice();
		}
		if (!any)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 200, lsm_wait_event_info(LSM_WAIT_COMPACTION_MAIN));
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
}
