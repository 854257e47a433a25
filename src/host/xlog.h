/*
 * xlog.h
 *		The server-wide write-ahead log: one log for every table of a
 *		Postgres server, shared by all backends (docs/format.md, "Server
 *		log (xlog)").
 *
 * The log is a stream of records addressed by LSN, the byte position of a
 * record in the stream.  The stream is stored in segment files named by
 * the LSN of their first byte (16 upper-case hex digits + ".xlog"); a
 * record never spans two segments, and a record bigger than the segment
 * size gets a segment of its own, sized to fit.
 *
 *   record = masked crc32c(4) | length(4) | lsn(8) | durable_lsn(8) | payload
 *
 * durable_lsn is the log's flushed LSN when the record was appended: every
 * byte below it had been fsynced.  It is what lets recovery tell damage
 * (bytes that had been synced changed) from an unsynced tail that reached
 * disk out of order; see lsm_xlog_open.  Records of the first format (v1,
 * without durable_lsn; the length's top bit clear) still replay.
 *
 * Appending and flushing are separate: lsm_xlog_append writes a record and
 * returns the LSN after it; lsm_xlog_flush(lsn) makes the log durable up to
 * at least that LSN, with group commit (one fsync covers every record
 * appended before it started, and committers waiting for it return without
 * an fsync of their own).
 *
 * The LsmXlog lives in memory from lsm_malloc (shared memory in the server)
 * and holds no pointers of its own process except the env's mutexes and
 * files, which the Postgres env makes usable from every backend.  Every
 * function below may be called from any thread or backend once open has
 * returned; open and close must not run concurrently with anything else.
 */
#ifndef LSM_XLOG_H
#define LSM_XLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm_env.h"
#include "lsm_slice.h"
#include "lsm_status.h"

/* Bytes of a record header as written (v2, with durable_lsn). */
#define LSM_XLOG_HEADER 24
/* Bytes of a v1 record header (no durable_lsn), still read. */
#define LSM_XLOG_HEADER_V1 16
/* Set in the length field of a v2 header (lengths never reach bit 31). */
#define LSM_XLOG_V2 0x80000000u
/* A record payload larger than this is refused (LSM_INVALID_ARGUMENT). */
#define LSM_XLOG_MAX_RECORD (1u << 30)
/* Segment sizes: 0 asks for the default. */
#define LSM_XLOG_DEFAULT_SEGMENT (16u * 1024 * 1024)
#define LSM_XLOG_MIN_SEGMENT 64
#define LSM_XLOG_MAX_SEGMENT (UINT64_C(1) << 32)
/*
 * Finished segments whose data is not yet fsynced, at most.  An append that
 * would start one more first flushes the log itself, so a host that never
 * flushes still holds a bounded number of files open.
 */
#define LSM_XLOG_MAX_PENDING 8
/* Longest directory name accepted (room is left for the segment name). */
#define LSM_XLOG_MAX_DIR 1000

typedef struct LsmXlog LsmXlog;

/*
 * Called by open for every valid record, in LSN order; payload is valid
 * during the call only.  Anything but LSM_OK (with st filled) aborts open
 * and is returned by it; the log files are left as they were.
 */
typedef LsmCode (*LsmXlogReplayFn) (void *arg, uint64_t lsn, LsmSlice payload,
									LsmStatus *st);

/*
 * Called by append under the insert lock, once the record's LSN is known
 * and just before it is written: the host stamps what must follow LSN
 * order (sequence numbers) into payload, in place.  It must not fail and
 * must not call into the log.
 */
typedef void (*LsmXlogFillFn) (void *arg, uint8_t *payload, size_t len,
							   uint64_t lsn);

/*
 * Called by append still under the insert lock, right after the record was
 * written (not synced): what the host does there happens in log order with
 * no other append in between.  Same rules as fill; besides, it must not
 * wait for anything that may wait for the log (a flush syncs it).
 */
typedef void (*LsmXlogWrittenFn) (void *arg, uint64_t start_lsn,
								  uint64_t end_lsn);

typedef struct LsmXlogReplayReport
{
	uint64_t	segments;		/* segment files kept (replayed) */
	uint64_t	records;		/* valid records delivered */
	uint64_t	bytes;			/* their bytes, headers included */
	uint64_t	start_lsn;		/* first LSN of the oldest segment */
	uint64_t	end_lsn;		/* LSN after the last valid record: appends
								 * continue here */
	uint64_t	dropped_bytes;	/* non-zero bytes discarded after end_lsn */
	uint64_t	dropped_segments;	/* later segment files deleted */
	bool		torn;			/* something non-zero was discarded */
	char		reason[192];	/* why replay stopped, when torn */

	/*
	 * Records valid at their own position found after the end point: they
	 * are discarded with it.  When none of them proves the end point
	 * durable, they were an unsynced tail written out of order (torn).
	 */
	uint64_t	later_records;	/* how many */
	uint64_t	later_v1_records;	/* of them, v1 records (no proof) */
	uint64_t	later_durable_lsn;	/* highest durable_lsn among them */
	uint64_t	next_valid_lsn; /* the first of them */

	/*
	 * Damage, not a torn tail: a later record was appended once the end
	 * point had been fsynced (its durable_lsn is above it), or is a v1
	 * record, which cannot tell.  Open refuses then, unless
	 * LSM_XLOG_ACCEPT_CORRUPTION.
	 */
	bool		corrupt;
	uint64_t	corrupt_lsn;	/* the end point: LSN of the bad record */
	uint64_t	corrupt_segment;	/* first LSN of the segment holding it */
} LsmXlogReplayReport;

typedef struct LsmXlogStats
{
	uint64_t	appends;		/* records appended */
	uint64_t	append_bytes;	/* their bytes, headers included */
	uint64_t	append_failures;	/* appends that returned an error */
	uint64_t	flush_calls;	/* lsm_xlog_flush calls, fast path included */
	uint64_t	flush_rounds;	/* flushes that had to sync (leaders) */
	uint64_t	syncs;			/* fdatasync calls made by flushes */
	uint64_t	sync_micros;	/* time those calls took */
	uint64_t	round_micros;	/* time flush rounds ran (leader elected to done) */
	uint64_t	segments;		/* segment files of the log now */
	uint64_t	segments_created;	/* since open, made inside an append */
	uint64_t	spares_used;	/* since open, segments that were a spare */
	uint64_t	segments_removed;	/* since open, by remove_before */
	uint64_t	segments_recycled;	/* of them, kept for reuse */
	uint64_t	spares_recycled;	/* since open, spares that were recycled */
	uint64_t	segment_start;	/* first LSN of the current segment */
	uint64_t	insert_lsn;
	uint64_t	flushed_lsn;
	bool		broken;			/* a sync failed: the log refuses work */
} LsmXlogStats;

/*
 * Open (creating dir when missing) and recover the log in dir: replay every
 * valid record to fn (nullable), discard everything after the first bad
 * one, make what remains durable, and return the log ready to append after
 * it.  segment_size 0 means LSM_XLOG_DEFAULT_SEGMENT.  rep (nullable)
 * describes the replay, also when an error is returned.
 *
 * A bad record at LSN X is a torn tail unless a valid record follows it
 * (found at any later offset or in a later segment, claiming its own
 * position, with a higher LSN, passing its CRC) that proves X was durable:
 * its durable_lsn is above X, or it is a v1 record, which cannot tell.
 * Valid records that prove nothing were appended before X was fsynced: an
 * unsynced tail that reached disk out of order (rep->later_records counts
 * them), discarded with the rest.  Otherwise the log is damaged in the
 * middle: open returns LSM_CORRUPTION (rep->corrupt and its fields say
 * where) and changes no file, after fn has seen the records before the
 * damage.  With LSM_XLOG_ACCEPT_CORRUPTION the damage is treated as a torn
 * tail (everything after it is discarded) and rep->corrupt is still set.
 */
#define LSM_XLOG_ACCEPT_CORRUPTION	0x01

extern LsmCode lsm_xlog_open(LsmEnv *env, const char *dir, uint64_t segment_size,
							 LsmXlogReplayFn fn, void *arg, LsmXlog **out,
							 LsmXlogReplayReport *rep, LsmStatus *st);
extern LsmCode lsm_xlog_open_flags(LsmEnv *env, const char *dir,
								   uint64_t segment_size, unsigned flags,
								   LsmXlogReplayFn fn, void *arg, LsmXlog **out,
								   LsmXlogReplayReport *rep, LsmStatus *st);

/*
 * Append one record of len bytes (payload may be NULL when len is 0).
 * fill (nullable) is called under the insert lock just before the write.
 * On success *start_lsn and *end_lsn (both nullable) get the LSN of the
 * record and the LSN after it.  On failure nothing is appended and the
 * insert position does not move, but fill may already have run: whatever
 * it handed out (sequence numbers) is consumed, and the host must live
 * with the hole.
 */
extern LsmCode lsm_xlog_append(LsmXlog *x, uint8_t *payload, size_t len,
							   LsmXlogFillFn fill, void *fill_arg,
							   uint64_t *start_lsn, uint64_t *end_lsn,
							   LsmStatus *st);

/*
 * lsm_xlog_append, and written (nullable) with fill_arg, still under the
 * insert lock, once the record has its place.  The record itself is
 * written after the lock is let go (unless too many are being written at
 * once), so written may run before the bytes are in the file; a flush
 * waits for them.  Such a write cannot be taken back once later records
 * follow it: when it fails, the error is returned and the log is broken
 * (every later append and flush fails), as after a failed fsync, and a
 * host whose written already acted on the record must not go on.
 */
extern LsmCode lsm_xlog_append_ex(LsmXlog *x, uint8_t *payload, size_t len,
								  LsmXlogFillFn fill, LsmXlogWrittenFn written,
								  void *fill_arg, uint64_t *start_lsn,
								  uint64_t *end_lsn, LsmStatus *st);

/*
 * Make the spare segment, the next segment's file made ahead of time (a
 * recycled segment renamed, or zeros written and fsynced), unless one is
 * ready or being made.  Call it
 * with no lock held, from a process that can wait for the disk: a segment
 * switch then only renames the spare, instead of making the file while
 * every append waits.  lsm_xlog_spare_wanted says (once) that a switch used
 * the spare or found none, and a new one should be made.
 */
extern LsmCode lsm_xlog_make_spare(LsmXlog *x, LsmStatus *st);
extern bool lsm_xlog_spare_wanted(LsmXlog *x);

/*
 * Make the log durable up to at least upto (at most the insert LSN).  A
 * failed fsync is sticky: the log then refuses every append and flush with
 * that error, because a retried fsync may report success for data the
 * kernel has already thrown away.
 */
extern LsmCode lsm_xlog_flush(LsmXlog *x, uint64_t upto, LsmStatus *st);

/* LSN after the last appended record; lock-free. */
extern uint64_t lsm_xlog_insert_lsn(LsmXlog *x);
/* LSN up to which the log is durable; lock-free. */
extern uint64_t lsm_xlog_flushed_lsn(LsmXlog *x);

/* Whether a flush round (an fsync) is running right now. */
extern bool lsm_xlog_flush_running(LsmXlog *x);

/*
 * Delete (or recycle, see lsm_xlog_set_recycle) the segment files all of
 * whose records lie below lsn (and below the flushed LSN); the current
 * segment is never deleted.
 */
extern LsmCode lsm_xlog_remove_before(LsmXlog *x, uint64_t lsn, LsmStatus *st);

/*
 * Let lsm_xlog_remove_before keep up to max_files old segments (renamed,
 * outside the log) for lsm_xlog_make_spare to reuse instead of writing a
 * new file of zeros; 0 (the default) deletes them.  Recycled files beyond
 * the limit are deleted at the next lsm_xlog_remove_before.
 */
extern void lsm_xlog_set_recycle(LsmXlog *x, uint32_t max_files);

/*
 * While a hold is taken, lsm_xlog_remove_before deletes nothing, so that a
 * backup finds every segment that was on disk when it started.
 */
extern void lsm_xlog_hold_removal(LsmXlog *x, bool hold);

/*
 * Make the log durable up to upto (a record boundary: an insert LSN), then
 * copy every segment holding records below it into dir, the last one cut
 * at upto and zero-filled to its size.  *bytes gets the log bytes copied,
 * *first_lsn the start of the oldest segment copied.
 */
extern LsmCode lsm_xlog_copy(LsmXlog *x, const char *dir, uint64_t upto,
							 uint64_t *bytes, uint64_t *first_lsn, LsmStatus *st);

extern void lsm_xlog_stats(LsmXlog *x, LsmXlogStats *out);

/* Close files and free the log.  Does not flush.  NULL is fine. */
extern void lsm_xlog_close(LsmXlog *x);

#endif							/* LSM_XLOG_H */
