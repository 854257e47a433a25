/*
 * xlog.c
 *		The server-wide write-ahead log: appending with group commit,
 *		segment files, recovery (format in xlog.h and docs/format.md).
 *
 *   record = masked crc32c(4) | length(4) | lsn(8) | durable_lsn(8) | payload
 *   crc    = crc32c(length(4) || lsn(8) || durable_lsn(8) || payload)
 *
 * The length field's top bit marks this header (v2); a v1 header, written
 * before durable_lsn existed, has the bit clear, no durable_lsn and a CRC
 * over length and lsn.  Both replay; only v2 is written.
 *
 * LSNs.  The LSN of a record is its byte position in the logical stream of
 * records; the stream has no gaps (the next record's LSN is this one's LSN
 * + header + length) and is cut into segment files, each named by the LSN of
 * its first record.  A record that does not fit in the rest of the current
 * segment starts a new segment at its own LSN, so the unused tail of a
 * segment is not part of the stream.  A record's offset in its file is its
 * LSN minus the segment's start, and the LSN is in the header, under the
 * CRC: a record left over from other data (an old segment's file, bytes of
 * a discarded tail) never validates at another position.
 *
 * Segments are preallocated: a new segment is written full of zeros under
 * a temporary name, fsynced, renamed into place and the directory fsynced
 * before any record goes in.  So a full disk shows up as LSM_NO_SPACE when
 * a segment is made and not half-way through a record, and fdatasync of a
 * segment only ever has data to write, never a new file size.
 *
 * Spare segments.  Making a segment under insert_mu stopped every committer
 * for the zeros and two fsyncs (tens of milliseconds for 16 MB, a few times
 * a second under load): the put's p99.  So lsm_xlog_make_spare, called by
 * the host's maintenance process with no lock held, makes the next one
 * ahead of time under XLOG_SPARE_NAME (zeros, fsynced), and a switch only
 * renames it into place.  The directory fsync that makes the new name
 * durable is left to the next flush round, which does it before it reports
 * anything durable (n_renamed / n_renamed_synced): until a flush says so,
 * no record in the new segment was promised to anyone.  With no spare
 * ready, a switch makes the segment itself, as before.  spare_state says
 * who owns the spare's name: the maker while MAKING, a switch while READY
 * (until its rename is done), nobody while NONE.
 *
 * Recycled segments.  Zeros for every spare doubled the bytes the log
 * wrote and cost the maintenance process a CPU-heavy stretch per segment
 * (the page-cache copy and writeback of the zeros, then the freeing of the
 * old segment's pages when it was unlinked).  As Postgres recycles its WAL
 * segments, lsm_xlog_remove_before renames an old segment of full size to
 * XLOG_RECYCLED_PREFIX<n> instead of unlinking it, while fewer than
 * recycle_max such files wait, and lsm_xlog_make_spare renames one of them
 * to the spare's name instead of writing zeros, and fsyncs the directory
 * (see reuse_recycled).  Its blocks are allocated and durable, so no data
 * fsync is needed.  Its old records stay until overwritten; none can pass
 * for a new one, since a record is valid only at the LSN it names and a
 * recycled file only ever gets a higher start (see Recovery).  The spare
 * is read through once, so that appends find its pages cached: a record
 * that covers part of a page not in the cache would make the kernel read
 * that page on the commit path.
 *
 * Locks.  Env mutexes, taken in this order: flush_mu, round_mu[],
 * insert_mu; remove_mu, then recycle_mu, stand apart.
 *	- insert_mu serialises appends: it protects the insert position, the
 *	  current segment and the list of finished segments still waiting for
 *	  an fsync (pending).  fill runs under it, so whatever the host numbers
 *	  inside fill is numbered in LSN order.  Records are never fsynced
 *	  under it; an append fsyncs only when it makes a new segment (its
 *	  zeros and the directory), once per segment.  lsm_xlog_append_ex
 *	  only places its record under it and writes it afterwards, in one of
 *	  the inflight slots that a flush waits for (see append).
 *	- flush_mu elects the leader of a flush round (group commit); the
 *	  leader then holds round_mu[round % 2] while it fsyncs, and those
 *	  waiting for a flush wait for that mutex, see lsm_xlog_flush.  Only a
 *	  leader closes finished segments, so it may fsync them after dropping
 *	  insert_mu while appends go on.
 *	- remove_mu serialises lsm_xlog_remove_before (and a backup's copy).
 *	- recycle_mu guards the recycled files; lsm_xlog_make_spare takes only
 *	  it, so that a backup's copy, which holds remove_mu throughout, does
 *	  not hold up the spare.
 * insert_lsn, flushed_lsn, the current segment's start and the counters
 * are also atomics, so that the cheap checks (and stats) need no lock.
 *
 * Failures.  A failed record write leaves the insert position where it
 * was (the header is zeroed again when possible) and the next append
 * overwrites the spot; bytes of the failed record that remain after a
 * shorter successor cannot validate, since a record must carry its own
 * LSN and CRC.  A failed fsync of the log is sticky (see xlog.h).
 *
 * Recovery.  open replays the segments in LSN order.  Within a segment it
 * stops at the first record that is cut short, zero, claims another LSN,
 * claims an impossible length or fails its CRC; it goes on into the next
 * segment only when that one starts exactly where the records stopped.
 * The end point is the LSN after the last good record.  Records valid at
 * their own position may follow it (anywhere later in that segment or in a
 * later one).  If one of them was appended when the log was already
 * fsynced past the end point (its durable_lsn is above it), bytes that had
 * been durable changed: the log is damaged, not torn, and open refuses it
 * without touching a file (unless told to accept the loss).  A v1 record
 * there cannot say, and is refused the same way.  Records whose
 * durable_lsn is at or below the end point were never known durable: an OS
 * crash can persist unsynced blocks in any order, so they are a torn tail
 * like the rest, and are counted in the report.  Otherwise the segment
 * holding it is cut there and preallocated again (so no bytes of the discarded
 * tail, perhaps valid records of a lost history, can ever follow new
 * records), later segments are deleted, and everything kept is fsynced,
 * since the host has just acted on it.
 *
 * Removal.  Old segments are unlinked oldest first with a directory fsync
 * after each, so a crash in the middle leaves the remaining segments
 * contiguous: a resurrected old segment followed by a gap would otherwise
 * end recovery at the gap and discard everything after it.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm_alloc.h"
#include "lsm_coding.h"
#include "lsm_crc32c.h"
#include "xlog.h"

#define XLOG_SUFFIX ".xlog"
#define XLOG_NAME_DIGITS 16
#define XLOG_TEMP_NAME "xlogtemp"
#define XLOG_SPARE_NAME "xlogspare"
#define XLOG_RECYCLED_PREFIX "xlogrecycled."

/* Records written outside insert_mu at once; beyond that, inside it. */
#define XLOG_MAX_INFLIGHT 64
#define XLOG_NO_WRITE UINT64_MAX

/* spare_state */
#define SPARE_NONE		0
#define SPARE_MAKING	1		/* one caller of lsm_xlog_make_spare owns it */
#define SPARE_READY		2

#define XLOG_PATH_MAX (LSM_XLOG_MAX_DIR + 64)

/* Bytes replay reads at a time; records larger than this are read whole. */
#define XLOG_READ_CHUNK (256 * 1024)
/* Records up to this size are written with one write from a stack copy. */
#define XLOG_STACK_RECORD 8192
#define XLOG_ZERO_CHUNK (64 * 1024)

static const uint8_t xlog_zeros[XLOG_ZERO_CHUNK];

static bool reuse_recycled(LsmXlog *x, const char *spare);

/* A finished segment whose data is not known to be durable yet. */
typedef struct XlogPending
{
	uint64_t	start;
	LsmFile    *file;
} XlogPending;

struct LsmXlog
{
	LsmEnv	   *env;
	uint64_t	segment_size;
	LsmMutex   *insert_mu;
	LsmMutex   *flush_mu;
	LsmMutex   *remove_mu;
	LsmMutex   *recycle_mu;		/* the recycled files and next_recycled */
	uint32_t	removal_holds;	/* backups under way (remove_mu) */

	/* Protected by insert_mu (pending[0] is removed only by the flusher). */
	LsmFile    *cur_file;
	uint64_t	cur_capacity;	/* bytes of the current segment file */
	int			npending;
	XlogPending pending[LSM_XLOG_MAX_PENDING];

	/* Written under insert_mu, read anywhere. */
	uint64_t	insert_lsn;
	uint64_t	cur_start;

	/* Flush rounds (lsm_xlog_flush); written by the leader only. */
	LsmMutex   *round_mu[2];	/* held by the leader of round n as [n % 2] */
	uint64_t	flush_round;	/* number of the latest round (flush_mu) */
	uint32_t	flush_running;	/* a round is running */
	uint64_t	flushed_lsn;
	uint32_t	broken;			/* a flush or a write outside insert_mu
								 * failed; broken_status says how */
	uint32_t	broken_claim;	/* who writes broken_status (first failure) */
	LsmStatus	broken_status;	/* written before broken is set, then fixed */

	/*
	 * Records being written outside insert_mu (lsm_xlog_append_ex): their
	 * LSN, XLOG_NO_WRITE when the slot is free.  Claimed under insert_mu,
	 * freed with an atomic store once the write returned; a flush waits
	 * for those below its target before it syncs.
	 */
	uint64_t	inflight[XLOG_MAX_INFLIGHT];

	/* The spare segment (atomics; see "Spare segments" above). */
	uint32_t	spare_state;
	uint32_t	spare_wanted;	/* a switch used the spare or had none */
	uint64_t	n_renamed;		/* spares renamed into place (insert_mu) */
	uint64_t	n_renamed_synced;	/* of them, covered by a directory
									 * fsync (flush leader only) */

	/* Recycled segments (see above). */
	uint32_t	recycle_max;	/* files kept for reuse at most (atomic) */
	uint64_t	next_recycled;	/* number of the next one (recycle_mu) */

	/* Counters (atomics). */
	uint64_t	n_appends;
	uint64_t	n_append_bytes;
	uint64_t	n_append_failures;
	uint64_t	n_flush_calls;
	uint64_t	n_flush_rounds;
	uint64_t	n_syncs;
	uint64_t	n_sync_micros;	/* time in the leaders' fsyncs */
	uint64_t	n_round_micros; /* time a flush round ran, election to end */
	uint64_t	n_segments;
	uint64_t	n_created;
	uint64_t	n_spares_used;
	uint64_t	n_removed;
	uint64_t	n_recycled;
	uint64_t	n_spares_recycled;

	char		dir[];			/* the log directory, NUL-terminated */
};

#define XLOG_LOAD(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define XLOG_STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define XLOG_COUNT(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

static uint64_t
now_micros(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/*
 * segment_path
 *		The path of the segment starting at start.
 */
static void
segment_path(const LsmXlog *x, uint64_t start, char *out)
{
	snprintf(out, XLOG_PATH_MAX, "%s/%016llX" XLOG_SUFFIX, x->dir,
			 (unsigned long long) start);
}

/*
 * parse_segment_name
 *		Whether name is a segment name, exactly as segment_path spells it;
 *		*start gets its LSN.  Other spellings (lower-case hex) are not
 *		accepted, so that one LSN can have only one file.
 */
static bool
parse_segment_name(const char *name, uint64_t *start)
{
	uint64_t	v = 0;
	int			i;

	if (strlen(name) != XLOG_NAME_DIGITS + strlen(XLOG_SUFFIX) ||
		strcmp(name + XLOG_NAME_DIGITS, XLOG_SUFFIX) != 0)
		return false;
	for (i = 0; i < XLOG_NAME_DIGITS; i++)
	{
		char		c = name[i];

		if (c >= '0' && c <= '9')
			v = (v << 4) | (uint64_t) (c - '0');
		else if (c >= 'A' && c <= 'F')
			v = (v << 4) | (uint64_t) (c - 'A' + 10);
		else
			return false;
	}
	*start = v;
	return true;
}

/*
 * parent_dir
 *		Write the directory part of path into out ("." when there is none).
 */
static void
parent_dir(const char *path, char *out, size_t outlen)
{
	size_t		len = strlen(path);

	/* "a/b/" is in "a" as "a/b" is */
	while (len > 1 && path[len - 1] == '/')
		len--;
	while (len > 0 && path[len - 1] != '/')
		len--;
	if (len == 0)
	{
		snprintf(out, outlen, ".");
		return;
	}
	while (len > 1 && path[len - 1] == '/')
		len--;
	snprintf(out, outlen, "%.*s", (int) len, path);
}

/*
 * record_crc
 *		Masked CRC of a record: header bytes 4..hlen as stored, then payload.
 */
static uint32_t
record_crc(const uint8_t *header, size_t hlen, const uint8_t *payload,
		   size_t len)
{
	uint32_t	crc = lsm_crc32c_extend(0, header + 4, hlen - 4);

	if (len > 0)
		crc = lsm_crc32c_extend(crc, payload, len);
	return lsm_crc32c_mask(crc);
}

/*
 * fill_zeros
 *		Write zeros over [from, to) of file.
 */
static LsmCode
fill_zeros(LsmEnv *env, LsmFile *file, uint64_t from, uint64_t to,
		   LsmStatus *st)
{
	while (from < to)
	{
		size_t		n = to - from < XLOG_ZERO_CHUNK ?
			(size_t) (to - from) : XLOG_ZERO_CHUNK;
		LsmCode		rc = env->write_at(file, xlog_zeros, n, from, st);

		if (rc != LSM_OK)
			return rc;
		from += n;
	}
	return LSM_OK;
}

/*
 * zero_file
 *		Make path a file of capacity zero bytes, fsynced (not its name: the
 *		caller renames or syncs the directory).  On failure the file is
 *		unlinked at once, giving the space back: the disk may be full.
 */
static LsmCode
zero_file(LsmEnv *env, const char *path, uint64_t capacity, LsmStatus *st)
{
	LsmFile    *f;
	LsmStatus	ignore;
	LsmCode		rc;
	LsmCode		crc;

	rc = env->open_file(env, path, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_TRUNC,
						&f, st);
	if (rc != LSM_OK)
		return rc;
	rc = fill_zeros(env, f, 0, capacity, st);
	if (rc == LSM_OK)
		rc = env->sync(f, st);
	crc = env->close_file(f, rc == LSM_OK ? st : &ignore);
	if (rc == LSM_OK)
		rc = crc;
	if (rc != LSM_OK)
		env->unlink(env, path, &ignore);
	return rc;
}

/*
 * warm_file
 *		Read the file at path through (best effort), yielding the CPU
 *		between chunks, so that its pages are in the cache.
 */
static void
warm_file(LsmEnv *env, const char *path, uint64_t size)
{
	LsmFile    *f;
	LsmStatus	ignore;
	uint8_t    *buf = lsm_malloc(XLOG_READ_CHUNK);

	if (buf == NULL)
		return;
	if (env->open_file(env, path, LSM_OPEN_READ, &f, &ignore) == LSM_OK)
	{
		for (uint64_t off = 0; off < size; off += XLOG_READ_CHUNK)
		{
			size_t		n = size - off < XLOG_READ_CHUNK ?
				(size_t) (size - off) : XLOG_READ_CHUNK;

			if (env->read_at(f, buf, n, off, &ignore) != LSM_OK)
				break;
			if (env->cpu_yield != NULL)
				env->cpu_yield(env);
		}
		env->close_file(f, &ignore);
	}
	lsm_free(buf);
}

/*
 * broken_error
 *		Repeat the failure that broke the log to a caller.
 */
static LsmCode
broken_error(LsmXlog *x, LsmStatus *st)
{
	const LsmStatus *bs = &x->broken_status;

	return lsm_status_set(st, bs->code, bs->sys_errno,
						  "server log \"%s\" is unusable after a failed write or fsync: %s",
						  x->dir, bs->msg);
}

/*
 * break_log
 *		Make the log refuse all further work after a failure that cannot be
 *		taken back (an fsync, or a write with later records after it).  The
 *		first caller writes broken_status, before broken is set.
 */
static void
break_log(LsmXlog *x, LsmCode rc, const LsmStatus *st, const char *what)
{
	uint32_t	expect = 0;

	if (!__atomic_compare_exchange_n(&x->broken_claim, &expect, 1, false,
									 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (st != NULL)
		x->broken_status = *st;
	else
		lsm_status_set(&x->broken_status, rc, 0, "%s of server log \"%s\" failed",
					   what, x->dir);
	XLOG_STORE(&x->broken, 1);
}

/*
 * wait_writes_below
 *		Wait until no record below limit is being written outside
 *		insert_mu.  Every such record was claimed before the caller read
 *		limit (an insert LSN, or a finished segment's end), so the wait is
 *		bounded: by a writer the scheduler put aside, at worst.
 */
static void
wait_writes_below(LsmXlog *x, uint64_t limit)
{
	for (int i = 0; i < XLOG_MAX_INFLIGHT; i++)
		while (XLOG_LOAD(&x->inflight[i]) < limit)
			sched_yield();
}

/*
 * written_below
 *		The highest LSN up to limit (an insert LSN read before) below which
 *		every record is written: limit, or the lowest record still being
 *		written.  A slot read here holds a record's start until that write
 *		is done; it was claimed before the insert LSN passed the record, so
 *		every record below limit is either seen in flight or written.
 */
static uint64_t
written_below(LsmXlog *x, uint64_t limit)
{
	for (int i = 0; i < XLOG_MAX_INFLIGHT; i++)
	{
		uint64_t	pos = XLOG_LOAD(&x->inflight[i]);

		if (pos < limit)
			limit = pos;
	}
	return limit;
}

/*
 * segment_create
 *		Make the segment file starting at start, capacity bytes of zeros,
 *		durable under its name, and open it for writing.
 *
 * The file is prepared under a temporary name and renamed only once it is
 * complete and synced, so a segment name never stands for a half-made
 * file.  *named says whether the name may exist after a failure (the
 * rename happened, a later step failed and the file could not be taken
 * back for sure): the caller must then not let any record land at or
 * after start in the current segment, see segment_switch.
 */
static LsmCode
segment_create(LsmXlog *x, uint64_t start, uint64_t capacity, LsmFile **out,
			   bool *named, LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	char		tmp[XLOG_PATH_MAX];
	char		path[XLOG_PATH_MAX];
	LsmFile    *f;
	LsmStatus	ignore;
	LsmCode		rc;

	*out = NULL;
	*named = false;
	snprintf(tmp, sizeof(tmp), "%s/%s", x->dir, XLOG_TEMP_NAME);
	segment_path(x, start, path);

	rc = zero_file(env, tmp, capacity, st);
	if (rc != LSM_OK)
		return rc;
	rc = env->rename(env, tmp, path, st);
	if (rc != LSM_OK)
	{
		/* give the space back at once: the disk may be full */
		env->unlink(env, tmp, &ignore);
		return rc;
	}

	*named = true;
	rc = env->sync_dir(env, x->dir, st);
	if (rc == LSM_OK)
		rc = env->open_file(env, path, LSM_OPEN_WRITE, &f, st);
	if (rc != LSM_OK)
	{
		env->unlink(env, path, &ignore);
		return rc;
	}
	*out = f;
	return LSM_OK;
}

/*
 * spare_take
 *		Rename the ready spare into place as the segment starting at start
 *		and open it.  Caller holds insert_mu.  False when that failed: the
 *		caller makes the segment itself, whose rename then replaces
 *		whatever of this one got a name.
 */
static bool
spare_take(LsmXlog *x, uint64_t start, LsmFile **out)
{
	LsmEnv	   *env = x->env;
	char		spare[XLOG_PATH_MAX];
	char		path[XLOG_PATH_MAX];
	LsmStatus	ignore;

	snprintf(spare, sizeof(spare), "%s/%s", x->dir, XLOG_SPARE_NAME);
	segment_path(x, start, path);

	/*
	 * The state says READY until the name is gone: a maker that saw NONE
	 * earlier would truncate and refill the file under its new name.
	 */
	if (env->rename(env, spare, path, &ignore) != LSM_OK)
	{
		env->unlink(env, spare, &ignore);
		XLOG_STORE(&x->spare_state, SPARE_NONE);
		return false;
	}
	XLOG_STORE(&x->spare_state, SPARE_NONE);
	x->n_renamed++;
	return env->open_file(env, path, LSM_OPEN_WRITE, out, &ignore) == LSM_OK;
}

/*
 * segment_switch
 *		Start a new segment at pos, big enough for a record of need bytes,
 *		and make it current.  Caller holds insert_mu.
 */
static LsmCode
segment_switch(LsmXlog *x, uint64_t pos, uint64_t need, LsmStatus *st)
{
	uint64_t	capacity = need > x->segment_size ? need : x->segment_size;
	LsmFile    *f;
	bool		named = false;
	bool		spare;
	LsmCode		rc;

	spare = capacity == x->segment_size &&
		XLOG_LOAD(&x->spare_state) == SPARE_READY &&
		spare_take(x, pos, &f);
	rc = spare ? LSM_OK : segment_create(x, pos, capacity, &f, &named, st);
	XLOG_STORE(&x->spare_wanted, 1);
	if (rc != LSM_OK)
	{
		/*
		 * A file of zeros may now be named pos.  Close the current segment
		 * at pos so that the next append makes the segment at pos again
		 * (the rename replaces the leftover) instead of writing records
		 * beyond pos here: recovery would then find a segment starting in
		 * the middle of this one's records and stop there.
		 */
		if (named)
			x->cur_capacity = pos - x->cur_start;
		return rc;
	}
	x->pending[x->npending].start = x->cur_start;
	x->pending[x->npending].file = x->cur_file;
	x->npending++;
	x->cur_file = f;
	x->cur_capacity = capacity;
	XLOG_STORE(&x->cur_start, pos);
	XLOG_COUNT(&x->n_segments, 1);
	XLOG_COUNT(spare ? &x->n_spares_used : &x->n_created, 1);
	return LSM_OK;
}

/*
 * segment_grow
 *		Make the current segment, which holds no record yet, big enough for
 *		a record of need bytes: that is how a record larger than the
 *		segment size gets a segment of its own.  Caller holds insert_mu.
 */
static LsmCode
segment_grow(LsmXlog *x, uint64_t need, LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	LsmCode		rc;

	rc = fill_zeros(env, x->cur_file, x->cur_capacity, need, st);
	if (rc == LSM_OK)
		rc = env->sync(x->cur_file, st);
	if (rc != LSM_OK)
	{
		LsmStatus	ignore;

		env->truncate(x->cur_file, x->cur_capacity, &ignore);
		return rc;
	}
	x->cur_capacity = need;
	return LSM_OK;
}

/*
 * write_record
 *		Write the record for payload at offset off of the current segment,
 *		stamped with LSN pos and the flushed LSN durable.  Caller holds
 *		insert_mu.
 *
 * Small records go out with one write.  A big one is written payload
 * first, header last, so an interruption leaves the header zero rather
 * than a header whose record is missing.
 */
static LsmCode
write_record(LsmXlog *x, LsmFile *file, const uint8_t *payload, size_t len,
			 uint64_t pos, uint64_t durable, uint64_t off, LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	uint8_t		header[LSM_XLOG_HEADER];
	LsmCode		rc;

	lsm_put_fixed32(header + 4, (uint32_t) len | LSM_XLOG_V2);
	lsm_put_fixed64(header + 8, pos);
	lsm_put_fixed64(header + 16, durable);
	lsm_put_fixed32(header, record_crc(header, LSM_XLOG_HEADER, payload, len));

	if (LSM_XLOG_HEADER + len <= XLOG_STACK_RECORD)
	{
		uint8_t		buf[XLOG_STACK_RECORD];

		memcpy(buf, header, LSM_XLOG_HEADER);
		if (len > 0)
			memcpy(buf + LSM_XLOG_HEADER, payload, len);
		rc = env->write_at(file, buf, LSM_XLOG_HEADER + len, off, st);
	}
	else
	{
		rc = env->write_at(file, payload, len, off + LSM_XLOG_HEADER, st);
		if (rc == LSM_OK)
			rc = env->write_at(file, header, LSM_XLOG_HEADER, off, st);
	}
	if (rc != LSM_OK)
	{
		LsmStatus	ignore;

		/* a partly written header must not survive; CRC and LSN guard the rest */
		env->write_at(file, xlog_zeros, LSM_XLOG_HEADER, off, &ignore);
	}
	return rc;
}

/*
 * append
 *		Append one record; see xlog.h.  With outside, the record is written
 *		after insert_mu is let go (when a slot is free): appenders then
 *		hold the lock only to number and place their records, and a
 *		backend the scheduler preempts at the end of its write system call
 *		no longer stops every committer (that was most of the commit path's
 *		lock waits at 16 clients on 2 CPUs).  The price: such a write
 *		cannot be undone once later records are placed after it, so its
 *		failure breaks the log.
 */
static LsmCode
append(LsmXlog *x, uint8_t *payload, size_t len, LsmXlogFillFn fill,
	   LsmXlogWrittenFn written, void *fill_arg, bool outside,
	   uint64_t *start_lsn, uint64_t *end_lsn, LsmStatus *st)
{
	uint64_t	need = LSM_XLOG_HEADER + (uint64_t) len;
	uint64_t	pos;
	uint64_t	durable;
	uint64_t	file_off;
	LsmFile    *file;
	int			slot = -1;
	LsmCode		rc;

	if (len > LSM_XLOG_MAX_RECORD || (len > 0 && payload == NULL))
	{
		XLOG_COUNT(&x->n_append_failures, 1);
		if (len > LSM_XLOG_MAX_RECORD)
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
								  "server log record of %zu bytes exceeds the limit of %u bytes",
								  len, (unsigned) LSM_XLOG_MAX_RECORD);
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "server log record of %zu bytes has no payload",
							  len);
	}

	/* find room for the record; on success insert_mu is held */
	for (;;)
	{
		uint64_t	off;

		x->env->mutex_lock(x->insert_mu);
		if (XLOG_LOAD(&x->broken))
		{
			x->env->mutex_unlock(x->insert_mu);
			XLOG_COUNT(&x->n_append_failures, 1);
			return broken_error(x, st);
		}
		pos = x->insert_lsn;
		off = pos - x->cur_start;
		if (off + need <= x->cur_capacity)
			break;
		if (off == 0)
			rc = segment_grow(x, need, st);
		else if (x->npending == LSM_XLOG_MAX_PENDING)
		{
			/* too many unsynced segments: sync them, then try again */
			x->env->mutex_unlock(x->insert_mu);
			rc = lsm_xlog_flush(x, pos, st);
			if (rc != LSM_OK)
			{
				XLOG_COUNT(&x->n_append_failures, 1);
				return rc;
			}
			continue;
		}
		else
			rc = segment_switch(x, pos, need, st);
		if (rc != LSM_OK)
		{
			x->env->mutex_unlock(x->insert_mu);
			XLOG_COUNT(&x->n_append_failures, 1);
			return rc;
		}
		break;
	}

	if (fill != NULL)
		fill(fill_arg, payload, len, pos);

	/*
	 * The flushed LSN now: a leader stores it only once its fsync is done,
	 * so every byte below it is durable, and it is at most pos since the
	 * leader's target was at most an insert LSN (with every record below
	 * it written).
	 */
	durable = XLOG_LOAD(&x->flushed_lsn);
	file = x->cur_file;
	file_off = pos - x->cur_start;
	if (outside)
		for (int i = 0; i < XLOG_MAX_INFLIGHT; i++)
			if (XLOG_LOAD(&x->inflight[i]) == XLOG_NO_WRITE)
			{
				slot = i;
				break;
			}
	if (slot >= 0)
	{
		/* claimed before insert_lsn moves: a flush that sees one sees both */
		XLOG_STORE(&x->inflight[slot], pos);
		rc = LSM_OK;
	}
	else
		rc = write_record(x, file, payload, len, pos, durable, file_off, st);
	if (rc == LSM_OK)
	{
		XLOG_STORE(&x->insert_lsn, pos + need);
		XLOG_COUNT(&x->n_appends, 1);
		XLOG_COUNT(&x->n_append_bytes, need);
		if (written != NULL)
			written(fill_arg, pos, pos + need);
	}
	else
		XLOG_COUNT(&x->n_append_failures, 1);
	x->env->mutex_unlock(x->insert_mu);

	if (slot >= 0)
	{
		/* the file stays open: a flush closes a segment only after this */
		rc = write_record(x, file, payload, len, pos, durable, file_off, st);
		if (rc != LSM_OK)
		{
			XLOG_COUNT(&x->n_append_failures, 1);
			break_log(x, rc, st, "write");
		}
		XLOG_STORE(&x->inflight[slot], XLOG_NO_WRITE);
	}
	if (rc == LSM_OK)
	{
		if (start_lsn != NULL)
			*start_lsn = pos;
		if (end_lsn != NULL)
			*end_lsn = pos + need;
	}
	return rc;
}

LsmCode
lsm_xlog_append(LsmXlog *x, uint8_t *payload, size_t len, LsmXlogFillFn fill,
				void *fill_arg, uint64_t *start_lsn, uint64_t *end_lsn,
				LsmStatus *st)
{
	return append(x, payload, len, fill, NULL, fill_arg, false,
				  start_lsn, end_lsn, st);
}

LsmCode
lsm_xlog_append_ex(LsmXlog *x, uint8_t *payload, size_t len, LsmXlogFillFn fill,
				   LsmXlogWrittenFn written, void *fill_arg, uint64_t *start_lsn,
				   uint64_t *end_lsn, LsmStatus *st)
{
	return append(x, payload, len, fill, written, fill_arg, true,
				  start_lsn, end_lsn, st);
}

/*
 * flush_sync
 *		The leader's work: fsync everything below target, oldest segment
 *		first.  Finished segments are durable whole once synced, so they
 *		are closed and forgotten.  insert_mu is held only to look at the
 *		segments, never across an fsync.
 */
static LsmCode
flush_sync_files(LsmXlog *x, uint64_t target, LsmStatus *st)
{
	LsmEnv	   *env = x->env;

	for (;;)
	{
		LsmFile    *f;
		uint64_t	t0;
		uint64_t	seg_start;
		uint64_t	seg_end = 0;
		bool		finished;
		LsmCode		rc;

		env->mutex_lock(x->insert_mu);
		finished = x->npending > 0;
		if (finished)
		{
			f = x->pending[0].file;
			seg_start = x->pending[0].start;
			seg_end = x->npending > 1 ? x->pending[1].start : x->cur_start;
		}
		else
		{
			f = x->cur_file;
			seg_start = x->cur_start;
		}
		env->mutex_unlock(x->insert_mu);

		/* segments are in LSN order: this one and later hold nothing < target */
		if (seg_start >= target)
			return LSM_OK;

		/* every record below target is written (lsm_xlog_flush) */
		t0 = now_micros();
		rc = env->sync(f, st);
		XLOG_COUNT(&x->n_sync_micros, now_micros() - t0);
		XLOG_COUNT(&x->n_syncs, 1);
		if (rc != LSM_OK)
			return rc;

		/*
		 * A finished segment is closed once synced whole: it then holds no
		 * write in flight (those below target are done).
		 */
		if (!finished || seg_end > target)
			return LSM_OK;

		env->mutex_lock(x->insert_mu);
		x->npending--;
		memmove(&x->pending[0], &x->pending[1],
				x->npending * sizeof(XlogPending));
		env->mutex_unlock(x->insert_mu);
		env->close_file(f, NULL);
	}
}

/*
 * flush_sync
 *		flush_sync_files, then the directory when a spare was renamed into
 *		place since the last round that synced it.  Every rename of a
 *		segment holding records below target happened before the count is
 *		read here (under insert_mu, after target was), so it is covered.
 */
static LsmCode
flush_sync(LsmXlog *x, uint64_t target, LsmStatus *st)
{
	uint64_t	renamed;
	LsmCode		rc;

	rc = flush_sync_files(x, target, st);
	if (rc != LSM_OK)
		return rc;
	x->env->mutex_lock(x->insert_mu);
	renamed = x->n_renamed;
	x->env->mutex_unlock(x->insert_mu);
	if (renamed == x->n_renamed_synced)
		return LSM_OK;
	rc = x->env->sync_dir(x->env, x->dir, st);
	XLOG_COUNT(&x->n_syncs, 1);
	if (rc == LSM_OK)
		x->n_renamed_synced = renamed;
	return rc;
}

/*
 * lsm_xlog_make_spare
 *		Make the spare segment when none is ready; see xlog.h.
 */
LsmCode
lsm_xlog_make_spare(LsmXlog *x, LsmStatus *st)
{
	char		spare[XLOG_PATH_MAX];
	uint32_t	expect = SPARE_NONE;
	LsmCode		rc;

	if (XLOG_LOAD(&x->broken) ||
		!__atomic_compare_exchange_n(&x->spare_state, &expect, SPARE_MAKING, false,
									 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return LSM_OK;
	snprintf(spare, sizeof(spare), "%s/%s", x->dir, XLOG_SPARE_NAME);
	if (reuse_recycled(x, spare))
	{
		XLOG_COUNT(&x->n_spares_recycled, 1);
		rc = LSM_OK;
	}
	else
		rc = zero_file(x->env, spare, x->segment_size, st);
	XLOG_STORE(&x->spare_state, rc == LSM_OK ? SPARE_READY : SPARE_NONE);
	return rc;
}

bool
lsm_xlog_spare_wanted(LsmXlog *x)
{
	return XLOG_LOAD(&x->spare_wanted) != 0 &&
		__atomic_exchange_n(&x->spare_wanted, 0, __ATOMIC_ACQ_REL) != 0;
}

/*
 * lsm_xlog_flush
 *		Make the log durable up to at least upto; group commit.
 *
 * One flush round runs at a time.  Its leader is elected under flush_mu,
 * takes the insert LSN as its target, and holds round_mu[round % 2] while
 * it fsyncs without flush_mu.  Everyone else who needs a flush meanwhile
 * waits for the running round by locking (and at once unlocking) that
 * round's mutex, then looks again: the round covered them (they appended
 * before it started), or one of them leads the next round for all who
 * appended during this one.  Waiting on a per-round mutex rather than on
 * the leaders' mutex is what keeps those the last round covered from
 * queuing behind the next leader's fsync as well (Postgres gets the same
 * from LWLockAcquireOrWait).
 */
LsmCode
lsm_xlog_flush(LsmXlog *x, uint64_t upto, LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	uint64_t	target;
	uint64_t	t0;
	LsmMutex   *round_mu;
	LsmCode		rc;

	XLOG_COUNT(&x->n_flush_calls, 1);
	if (upto > XLOG_LOAD(&x->insert_lsn))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "cannot flush server log \"%s\" to LSN %llu beyond its insert LSN %llu",
							  x->dir, (unsigned long long) upto,
							  (unsigned long long) XLOG_LOAD(&x->insert_lsn));
	for (;;)
	{
		if (XLOG_LOAD(&x->broken))
			return broken_error(x, st);
		if (XLOG_LOAD(&x->flushed_lsn) >= upto)
			return LSM_OK;

		env->mutex_lock(x->flush_mu);
		if (XLOG_LOAD(&x->broken) || XLOG_LOAD(&x->flushed_lsn) >= upto)
		{
			env->mutex_unlock(x->flush_mu);
			continue;
		}
		if (!XLOG_LOAD(&x->flush_running))
			break;				/* lead the next round, flush_mu held */
		round_mu = x->round_mu[x->flush_round % 2];
		env->mutex_unlock(x->flush_mu);
		/* wait for the running round to end */
		env->mutex_lock(round_mu);
		env->mutex_unlock(round_mu);
	}

	/* leader: round_mu is taken before flush_mu is let go, so waiters wait */
	t0 = now_micros();
	x->flush_round++;
	XLOG_STORE(&x->flush_running, 1);
	round_mu = x->round_mu[x->flush_round % 2];
	env->mutex_lock(round_mu);
	env->mutex_unlock(x->flush_mu);
	XLOG_COUNT(&x->n_flush_rounds, 1);

	/*
	 * The round covers what is written.  Records placed after the
	 * caller's that a preempted committer is still writing are left to the
	 * next round, rather than waited for while every committer of this
	 * round waits too; only those before the caller's own are waited for.
	 */
	wait_writes_below(x, upto);
	target = written_below(x, XLOG_LOAD(&x->insert_lsn));
	rc = flush_sync(x, target, st);
	if (rc == LSM_OK)
		XLOG_STORE(&x->flushed_lsn, target);
	else
		break_log(x, rc, st, "fsync");
	XLOG_STORE(&x->flush_running, 0);
	env->mutex_unlock(round_mu);
	XLOG_COUNT(&x->n_round_micros, now_micros() - t0);
	return rc;
}

bool
lsm_xlog_flush_running(LsmXlog *x)
{
	return XLOG_LOAD(&x->flush_running) != 0;
}

uint64_t
lsm_xlog_insert_lsn(LsmXlog *x)
{
	return XLOG_LOAD(&x->insert_lsn);
}

uint64_t
lsm_xlog_flushed_lsn(LsmXlog *x)
{
	return XLOG_LOAD(&x->flushed_lsn);
}

/* Collects the segment names of a directory listing. */
typedef struct SegmentList
{
	uint64_t   *starts;
	size_t		n;
	size_t		cap;
	bool		oom;
	bool		temp;			/* a leftover XLOG_TEMP_NAME was seen */
	bool		spare;			/* a leftover XLOG_SPARE_NAME was seen */
	uint64_t   *recycled;		/* numbers of the recycled segments */
	size_t		n_recycled;
	size_t		cap_recycled;
} SegmentList;

/* Append v to the growable array *a of *n entries; false when out of memory. */
static bool
u64_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap)
	{
		size_t		c = *cap ? *cap * 2 : 16;
		uint64_t   *p = lsm_realloc(*a, c * sizeof(uint64_t));

		if (p == NULL)
			return false;
		*a = p;
		*cap = c;
	}
	(*a)[(*n)++] = v;
	return true;
}

/*
 * parse_recycled_name
 *		Whether name is XLOG_RECYCLED_PREFIX and a decimal number, *no.
 */
static bool
parse_recycled_name(const char *name, uint64_t *no)
{
	size_t		plen = strlen(XLOG_RECYCLED_PREFIX);
	const char *p = name + plen;
	uint64_t	v = 0;

	if (strncmp(name, XLOG_RECYCLED_PREFIX, plen) != 0 || *p == '\0' ||
		strlen(p) > 19)
		return false;
	for (; *p != '\0'; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t) (*p - '0');
	}
	*no = v;
	return true;
}

static bool
segment_list_cb(void *arg, const char *name)
{
	SegmentList *l = arg;
	uint64_t	v;

	if (strcmp(name, XLOG_TEMP_NAME) == 0)
		l->temp = true;
	if (strcmp(name, XLOG_SPARE_NAME) == 0)
		l->spare = true;
	if (parse_recycled_name(name, &v))
	{
		if (!u64_push(&l->recycled, &l->n_recycled, &l->cap_recycled, v))
			l->oom = true;
		return !l->oom;
	}
	if (!parse_segment_name(name, &v))
		return true;
	if (!u64_push(&l->starts, &l->n, &l->cap, v))
		l->oom = true;
	return !l->oom;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return (x > y) - (x < y);
}

/* Remove dir/name, if it is there. */
static void
unlink_in(LsmEnv *env, const char *dir, const char *name)
{
	char		path[XLOG_PATH_MAX];
	LsmStatus	ignore;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	env->unlink(env, path, &ignore);
}

static void
segment_list_free(SegmentList *l)
{
	lsm_free(l->starts);
	lsm_free(l->recycled);
	l->starts = NULL;
	l->recycled = NULL;
}

/*
 * list_segments
 *		The segment starts and the recycled segments' numbers found in dir,
 *		ascending, in l (segment_list_free).
 */
static LsmCode
list_segments(LsmEnv *env, const char *dir, SegmentList *l, LsmStatus *st)
{
	LsmCode		rc;

	memset(l, 0, sizeof(*l));
	rc = env->list_dir(env, dir, segment_list_cb, l, st);
	if (rc == LSM_OK && l->oom)
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0,
							"out of memory listing server log \"%s\"", dir);
	if (rc != LSM_OK)
	{
		segment_list_free(l);
		return rc;
	}
	if (l->n > 1)
		qsort(l->starts, l->n, sizeof(uint64_t), cmp_u64);
	if (l->n_recycled > 1)
		qsort(l->recycled, l->n_recycled, sizeof(uint64_t), cmp_u64);
	return LSM_OK;
}

/*
 * recycled_path
 *		The path of recycled segment number no.
 */
static void
recycled_path(const LsmXlog *x, uint64_t no, char *out)
{
	snprintf(out, XLOG_PATH_MAX, "%s/" XLOG_RECYCLED_PREFIX "%llu", x->dir,
			 (unsigned long long) no);
}

/*
 * file_has_size
 *		Whether the file at path exists and has exactly size bytes.
 */
static bool
file_has_size(LsmEnv *env, const char *path, uint64_t size)
{
	LsmFile    *f;
	LsmStatus	ignore;
	uint64_t	got = 0;
	bool		ok;

	if (env->open_file(env, path, LSM_OPEN_READ, &f, &ignore) != LSM_OK)
		return false;
	ok = env->file_size(f, &got, &ignore) == LSM_OK && got == size;
	env->close_file(f, &ignore);
	return ok;
}

/*
 * recycle_segment
 *		Rename the old segment at path for reuse as a spare (recycle_mu
 *		held); false when it is not of full size or the rename failed, and
 *		the caller unlinks it.
 */
static bool
recycle_segment(LsmXlog *x, const char *path)
{
	char		to[XLOG_PATH_MAX];
	LsmStatus	ignore;

	if (!file_has_size(x->env, path, x->segment_size))
		return false;
	recycled_path(x, x->next_recycled, to);
	if (x->env->rename(x->env, path, to, &ignore) != LSM_OK)
		return false;
	x->next_recycled++;
	XLOG_COUNT(&x->n_recycled, 1);
	return true;
}

/*
 * reuse_recycled
 *		Rename the oldest recycled segment of full size to the spare's name
 *		and read it through; false when there is none (recycled files of
 *		another size are unlinked on the way).
 */
static bool
reuse_recycled(LsmXlog *x, const char *spare)
{
	LsmEnv	   *env = x->env;
	SegmentList l;
	LsmStatus	ignore;
	bool		done = false;

	env->mutex_lock(x->recycle_mu);
	if (list_segments(env, x->dir, &l, &ignore) != LSM_OK)
	{
		env->mutex_unlock(x->recycle_mu);
		return false;
	}
	for (size_t i = 0; i < l.n_recycled && !done; i++)
	{
		char		path[XLOG_PATH_MAX];

		recycled_path(x, l.recycled[i], path);
		if (!file_has_size(env, path, x->segment_size))
			env->unlink(env, path, &ignore);
		else
			done = env->rename(env, path, spare, &ignore) == LSM_OK;
	}
	segment_list_free(&l);
	env->mutex_unlock(x->recycle_mu);

	/*
	 * The new name must be durable before any record goes in.  Otherwise a
	 * crash after the records reached the disk could undo the renames and
	 * give the file back its recycled name, full of records valid at their
	 * own LSNs: a later history that took it again and switched at the
	 * same LSN would replay them behind its own.  Under the spare's name
	 * it is deleted at open.  Unsure of the name, the caller writes zeros
	 * over the file instead.
	 */
	if (done && env->sync_dir(env, x->dir, &ignore) != LSM_OK)
		return false;
	if (done)
		warm_file(env, spare, x->segment_size);
	return done;
}

/*
 * lsm_xlog_remove_before
 *		Delete the segments whose records all lie below lsn; see xlog.h.
 *
 * A segment's records end where the next segment starts, so segment i goes
 * when segment i + 1 starts at or below the limit.  Only segments wholly
 * flushed are considered, and keeping the log contiguous on disk never
 * depends on data that is not durable yet.  Nor does a segment go while the
 * flusher still lists it (pending): a round that flushed exactly to a
 * segment's end leaves it current, and when the next record starts the
 * next segment right there, the flushed LSN already covers it while the
 * next round still syncs it, through a descriptor its leader may have to
 * open by name.  Removing it then failed that fsync (ENOENT), and a failed
 * log fsync is a PANIC.  So the oldest segment still pending or current
 * bounds the removal; it is read first, since it only moves forward.
 */
LsmCode
lsm_xlog_remove_before(LsmXlog *x, uint64_t lsn, LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	uint64_t	flushed;
	uint64_t	limit;
	uint64_t	cur;			/* the oldest segment the flusher lists */
	uint32_t	recycle_max;
	size_t		pool;			/* recycled files there are now */
	SegmentList l;
	size_t		i;
	LsmCode		rc;

	env->mutex_lock(x->insert_mu);
	cur = x->npending > 0 ? x->pending[0].start : x->cur_start;
	env->mutex_unlock(x->insert_mu);
	env->mutex_lock(x->remove_mu);
	if (x->removal_holds > 0)
	{
		/* a backup copies segments from the oldest one on disk */
		env->mutex_unlock(x->remove_mu);
		return LSM_OK;
	}
	env->mutex_lock(x->recycle_mu);
	recycle_max = XLOG_LOAD(&x->recycle_max);
	flushed = XLOG_LOAD(&x->flushed_lsn);
	limit = lsn < flushed ? lsn : flushed;
	rc = list_segments(env, x->dir, &l, st);
	pool = rc == LSM_OK ? l.n_recycled : 0;
	for (i = 0; rc == LSM_OK && i + 1 < l.n; i++)
	{
		char		path[XLOG_PATH_MAX];

		if (l.starts[i] >= cur || l.starts[i + 1] > limit)
			break;
		segment_path(x, l.starts[i], path);
		if (pool < recycle_max && recycle_segment(x, path))
			pool++;
		else
			rc = env->unlink(env, path, st);
		if (rc == LSM_OK)
			rc = env->sync_dir(env, x->dir, st);
		if (rc == LSM_OK)
		{
			__atomic_fetch_sub(&x->n_segments, 1, __ATOMIC_RELAXED);
			XLOG_COUNT(&x->n_removed, 1);
		}
	}
	/* a lowered limit sheds the surplus (the newest of those listed) */
	for (i = recycle_max; rc == LSM_OK && i < l.n_recycled; i++)
	{
		char		name[64];

		snprintf(name, sizeof(name), XLOG_RECYCLED_PREFIX "%llu",
				 (unsigned long long) l.recycled[i]);
		unlink_in(env, x->dir, name);
	}
	segment_list_free(&l);
	env->mutex_unlock(x->recycle_mu);
	env->mutex_unlock(x->remove_mu);
	return rc;
}

void
lsm_xlog_set_recycle(LsmXlog *x, uint32_t max_files)
{
	XLOG_STORE(&x->recycle_max, max_files);
}

void
lsm_xlog_hold_removal(LsmXlog *x, bool hold)
{
	x->env->mutex_lock(x->remove_mu);
	if (hold)
		x->removal_holds++;
	else if (x->removal_holds > 0)
		x->removal_holds--;
	x->env->mutex_unlock(x->remove_mu);
}

/*
 * copy_segment_prefix
 *		Copy the first n bytes of segment file from to a new file to, sized
 *		as the original: the rest is zeros, which replay reads as the end
 *		of the log (a recycled segment's old bytes past n are not copied).
 */
static LsmCode
copy_segment_prefix(LsmEnv *env, const char *from, const char *to, uint64_t n,
					uint64_t *copied, LsmStatus *st)
{
	enum
	{
		CHUNK = 1024 * 1024
	};
	LsmFile    *in = NULL;
	LsmFile    *out = NULL;
	LsmStatus	ignore;
	uint64_t	size = 0;
	char	   *buf = lsm_malloc_private(CHUNK);
	LsmCode		rc;

	if (buf == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory copying \"%s\"", from);
	rc = env->open_file(env, from, LSM_OPEN_READ, &in, st);
	if (rc == LSM_OK)
		rc = env->file_size(in, &size, st);
	if (rc == LSM_OK)
		rc = env->open_file(env, to, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_TRUNC,
							&out, st);
	if (n > size)
		n = size;
	for (uint64_t off = 0; rc == LSM_OK && off < n; off += CHUNK)
	{
		size_t		len = n - off < CHUNK ? (size_t) (n - off) : CHUNK;

		rc = env->read_at(in, buf, len, off, st);
		if (rc == LSM_OK)
			rc = env->write_at(out, buf, len, off, st);
	}
	if (rc == LSM_OK)
		rc = env->truncate(out, size, st);
	if (rc == LSM_OK)
		rc = env->sync(out, st);
	if (out != NULL)
	{
		if (rc == LSM_OK)
			rc = env->close_file(out, st);
		else
			env->close_file(out, &ignore);
	}
	if (in != NULL)
		env->close_file(in, &ignore);
	lsm_free(buf);
	*copied += n;
	return rc;
}

/*
 * lsm_xlog_copy
 *		Copy the log below upto into dir; see xlog.h.
 */
LsmCode
lsm_xlog_copy(LsmXlog *x, const char *dir, uint64_t upto, uint64_t *bytes,
			  uint64_t *first_lsn, LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	SegmentList l;
	LsmCode		rc;

	*bytes = 0;
	*first_lsn = upto;
	rc = lsm_xlog_flush(x, upto, st);
	if (rc == LSM_OK)
		rc = env->mkdir_p(env, dir, st);
	if (rc != LSM_OK)
		return rc;
	env->mutex_lock(x->remove_mu);
	rc = list_segments(env, x->dir, &l, st);
	for (size_t i = 0; rc == LSM_OK && i < l.n && l.starts[i] < upto; i++)
	{
		char		from[XLOG_PATH_MAX];
		char		to[XLOG_PATH_MAX];
		uint64_t	end;

		segment_path(x, l.starts[i], from);
		snprintf(to, sizeof(to), "%s/%016llX" XLOG_SUFFIX, dir,
				 (unsigned long long) l.starts[i]);
		/* a segment's records end where the next segment starts */
		end = i + 1 < l.n && l.starts[i + 1] < upto ? l.starts[i + 1] : upto;
		if (i == 0)
			*first_lsn = l.starts[i];
		rc = copy_segment_prefix(env, from, to, end - l.starts[i], bytes, st);
	}
	segment_list_free(&l);
	env->mutex_unlock(x->remove_mu);
	if (rc == LSM_OK)
		rc = env->sync_dir(env, dir, st);
	return rc;
}

void
lsm_xlog_stats(LsmXlog *x, LsmXlogStats *out)
{
	memset(out, 0, sizeof(*out));
	out->appends = XLOG_LOAD(&x->n_appends);
	out->append_bytes = XLOG_LOAD(&x->n_append_bytes);
	out->append_failures = XLOG_LOAD(&x->n_append_failures);
	out->flush_calls = XLOG_LOAD(&x->n_flush_calls);
	out->flush_rounds = XLOG_LOAD(&x->n_flush_rounds);
	out->syncs = XLOG_LOAD(&x->n_syncs);
	out->sync_micros = XLOG_LOAD(&x->n_sync_micros);
	out->round_micros = XLOG_LOAD(&x->n_round_micros);
	out->segments = XLOG_LOAD(&x->n_segments);
	out->segments_created = XLOG_LOAD(&x->n_created);
	out->spares_used = XLOG_LOAD(&x->n_spares_used);
	out->segments_removed = XLOG_LOAD(&x->n_removed);
	out->segments_recycled = XLOG_LOAD(&x->n_recycled);
	out->spares_recycled = XLOG_LOAD(&x->n_spares_recycled);
	out->segment_start = XLOG_LOAD(&x->cur_start);
	out->insert_lsn = XLOG_LOAD(&x->insert_lsn);
	out->flushed_lsn = XLOG_LOAD(&x->flushed_lsn);
	out->broken = XLOG_LOAD(&x->broken) != 0;
}

/*
 * lsm_xlog_close
 *		Close every file and free the log.
 */
void
lsm_xlog_close(LsmXlog *x)
{
	LsmEnv	   *env;
	int			i;

	if (x == NULL)
		return;
	env = x->env;
	for (i = 0; i < x->npending; i++)
		env->close_file(x->pending[i].file, NULL);
	if (x->cur_file != NULL)
		env->close_file(x->cur_file, NULL);
	if (x->insert_mu != NULL)
		env->mutex_destroy(x->insert_mu);
	if (x->flush_mu != NULL)
		env->mutex_destroy(x->flush_mu);
	if (x->remove_mu != NULL)
		env->mutex_destroy(x->remove_mu);
	if (x->recycle_mu != NULL)
		env->mutex_destroy(x->recycle_mu);
	for (i = 0; i < 2; i++)
		if (x->round_mu[i] != NULL)
			env->mutex_destroy(x->round_mu[i]);
	lsm_free(x);
}

/*
 * Replay.
 *
 * XlogReader keeps a window of one segment file, buf[0 .. buf_len) holding
 * the bytes at offsets [buf_off, buf_off + buf_len).  Requests inside the
 * window cost nothing; others refill it from the requested offset, keeping
 * any overlap, in reads of at least XLOG_READ_CHUNK bytes.
 */
typedef struct XlogReader
{
	LsmEnv	   *env;
	LsmFile    *file;
	const char *path;
	uint64_t	file_size;
	uint8_t    *buf;
	size_t		cap;
	uint64_t	buf_off;
	size_t		buf_len;
} XlogReader;

static void
reader_reset(XlogReader *r, LsmFile *file, const char *path, uint64_t size)
{
	r->file = file;
	r->path = path;
	r->file_size = size;
	r->buf_off = 0;
	r->buf_len = 0;
}

/*
 * reader_get
 *		Point *out at n contiguous bytes of the file from offset off; *got is
 *		n, or less when the file is shorter.  Valid until the next call.
 */
static LsmCode
reader_get(XlogReader *r, uint64_t off, size_t n, const uint8_t **out,
		   size_t *got, LsmStatus *st)
{
	uint64_t	remaining = off < r->file_size ? r->file_size - off : 0;
	size_t		want;

	if (off >= r->buf_off && off - r->buf_off <= r->buf_len)
	{
		size_t		start = (size_t) (off - r->buf_off);

		if (r->buf_len - start >= n)
		{
			*out = r->buf + start;
			*got = n;
			return LSM_OK;
		}
		if (start > 0 && r->buf_len > start)
			memmove(r->buf, r->buf + start, r->buf_len - start);
		r->buf_len -= start;
	}
	else
		r->buf_len = 0;
	r->buf_off = off;

	want = remaining < XLOG_READ_CHUNK ? (size_t) remaining : XLOG_READ_CHUNK;
	if (want < n)
		want = n;
	if (want > r->cap)
	{
		/*
		 * libc, not lsm_realloc: the read buffer is private to the process
		 * replaying, and a record may be bigger than a host's shared heap.
		 */
		uint8_t    *nb = realloc(r->buf, want);

		if (nb == NULL)
			return lsm_status_set(st, LSM_NO_MEMORY, 0,
								  "out of memory reading %zu bytes at offset %llu of server log segment \"%s\"",
								  want, (unsigned long long) off, r->path);
		r->buf = nb;
		r->cap = want;
	}
	while (r->buf_len < want)
	{
		size_t		got_now;
		LsmCode		rc;

		rc = r->env->read_some(r->file, r->buf + r->buf_len,
							   want - r->buf_len, off + r->buf_len,
							   &got_now, st);
		if (rc != LSM_OK)
			return rc;
		if (got_now == 0)
			break;
		r->buf_len += got_now;
	}
	*out = r->buf;
	*got = r->buf_len < n ? r->buf_len : n;
	return LSM_OK;
}

/*
 * reader_nonzero_end
 *		*end = offset after the last non-zero byte in [from, file size), or
 *		from when there is none.
 */
static LsmCode
reader_nonzero_end(XlogReader *r, uint64_t from, uint64_t *end, LsmStatus *st)
{
	uint64_t	off = from;

	*end = from;
	while (off < r->file_size)
	{
		uint64_t	left = r->file_size - off;
		size_t		n = left < XLOG_READ_CHUNK ? (size_t) left : XLOG_READ_CHUNK;
		const uint8_t *p;
		size_t		got;
		size_t		i;
		LsmCode		rc;

		rc = reader_get(r, off, n, &p, &got, st);
		if (rc != LSM_OK)
			return rc;
		for (i = got; i > 0; i--)
		{
			if (p[i - 1] != 0)
			{
				*end = off + i;
				break;
			}
		}
		if (got < n)
			break;				/* the file shrank under us */
		off += got;
	}
	return LSM_OK;
}

/* A record found at an offset of a segment by record_at. */
typedef struct XlogRecord
{
	size_t		header;			/* bytes of its header (v1 or v2) */
	uint32_t	len;			/* bytes of its payload */
	uint64_t	durable_lsn;	/* v2 only */
	const uint8_t *payload;		/* valid until the next reader call */
} XlogRecord;

#define XLOG_WHY(...) \
	do { if (why != NULL) snprintf(why, why_len, __VA_ARGS__); } while (0)

/*
 * record_at
 *		Whether the bytes at offset off of r's segment (starting at LSN
 *		seg_start) are a valid record for LSN seg_start + off: *valid says,
 *		rec describes it, and why (nullable) says otherwise what is wrong.
 *
 * A v2 record whose durable_lsn is above its own LSN is invalid: the
 * flushed LSN never passes the insert position, and recovery must not
 * take a proof of durability from a record that could not have made it.
 */
static LsmCode
record_at(XlogReader *r, uint64_t seg_start, uint64_t off, XlogRecord *rec,
		  bool *valid, char *why, size_t why_len, LsmStatus *st)
{
	uint64_t	remaining = r->file_size - off;
	uint64_t	lsn = seg_start + off;
	const uint8_t *p;
	size_t		got;
	uint32_t	field;
	uint64_t	claimed;
	LsmCode		rc;

	*valid = false;
	if (remaining == 0)
	{
		XLOG_WHY("end of segment at LSN %llu", (unsigned long long) lsn);
		return LSM_OK;
	}
	if (remaining < LSM_XLOG_HEADER_V1)
	{
		XLOG_WHY("truncated header at LSN %llu", (unsigned long long) lsn);
		return LSM_OK;
	}
	rc = reader_get(r, off, LSM_XLOG_HEADER_V1, &p, &got, st);
	if (rc != LSM_OK)
		return rc;
	if (got < LSM_XLOG_HEADER_V1)
	{
		XLOG_WHY("segment ended inside the header at LSN %llu",
				 (unsigned long long) lsn);
		return LSM_OK;
	}
	field = lsm_get_fixed32(p + 4);
	claimed = lsm_get_fixed64(p + 8);
	if (lsm_get_fixed32(p) == 0 && field == 0 && claimed == 0)
	{
		XLOG_WHY("zero header at LSN %llu", (unsigned long long) lsn);
		return LSM_OK;
	}
	if (claimed != lsn)
	{
		XLOG_WHY("record at LSN %llu claims LSN %llu",
				 (unsigned long long) lsn, (unsigned long long) claimed);
		return LSM_OK;
	}
	rec->header = (field & LSM_XLOG_V2) ? LSM_XLOG_HEADER : LSM_XLOG_HEADER_V1;
	rec->len = field & ~LSM_XLOG_V2;
	if (remaining < rec->header)
	{
		XLOG_WHY("truncated header at LSN %llu", (unsigned long long) lsn);
		return LSM_OK;
	}
	if (rec->len > LSM_XLOG_MAX_RECORD)
	{
		XLOG_WHY("record at LSN %llu claims %u bytes, above the limit",
				 (unsigned long long) lsn, rec->len);
		return LSM_OK;
	}
	if ((uint64_t) rec->len > remaining - rec->header)
	{
		XLOG_WHY("torn record at LSN %llu: %u bytes, %llu left in segment",
				 (unsigned long long) lsn, rec->len,
				 (unsigned long long) (remaining - rec->header));
		return LSM_OK;
	}
	rc = reader_get(r, off, rec->header + (size_t) rec->len, &p, &got, st);
	if (rc != LSM_OK)
		return rc;
	if (got < rec->header + (size_t) rec->len)
	{
		XLOG_WHY("segment ended inside the record at LSN %llu",
				 (unsigned long long) lsn);
		return LSM_OK;
	}
	if (lsm_get_fixed32(p) != record_crc(p, rec->header, p + rec->header,
										 rec->len))
	{
		XLOG_WHY("checksum mismatch in record of %u bytes at LSN %llu",
				 rec->len, (unsigned long long) lsn);
		return LSM_OK;
	}
	rec->durable_lsn = rec->header == LSM_XLOG_HEADER ?
		lsm_get_fixed64(p + 16) : 0;
	if (rec->durable_lsn > lsn)
	{
		XLOG_WHY("record at LSN %llu claims durable LSN %llu beyond itself",
				 (unsigned long long) lsn,
				 (unsigned long long) rec->durable_lsn);
		return LSM_OK;
	}
	rec->payload = p + rec->header;
	*valid = true;
	return LSM_OK;
}

/*
 * stale_after
 *		Whether the bytes from offset off of r's segment (starting at LSN
 *		seg_start) on are what a recycled file kept from its earlier life,
 *		rather than a torn write: no record header there claims off's own
 *		LSN (the next record would have gone exactly there), and a whole
 *		record valid at a lower LSN starts within XLOG_READ_CHUNK bytes.
 *		Only the report depends on it: the bytes are dropped either way.
 */
static LsmCode
stale_after(XlogReader *r, uint64_t seg_start, uint64_t off, bool *stale,
			LsmStatus *st)
{
	uint64_t	limit = off + XLOG_READ_CHUNK;

	*stale = false;
	if (limit > r->file_size)
		limit = r->file_size;
	for (uint64_t p = off; p + LSM_XLOG_HEADER_V1 <= limit && !*stale; p++)
	{
		const uint8_t *h;
		size_t		got;
		uint64_t	claimed;
		XlogRecord	rec;
		LsmCode		rc;

		rc = reader_get(r, p, LSM_XLOG_HEADER_V1, &h, &got, st);
		if (rc != LSM_OK || got < LSM_XLOG_HEADER_V1)
			return rc;
		claimed = lsm_get_fixed64(h + 8);
		if (p == off && claimed == seg_start + off)
			return LSM_OK;
		if (claimed < seg_start + p && claimed >= p)
		{
			rc = record_at(r, claimed - p, p, &rec, stale, NULL, 0, st);
			if (rc != LSM_OK)
				return rc;
		}
	}
	return LSM_OK;
}

/*
 * segment_replay
 *		Deliver the valid records of the segment starting at seg_start, open
 *		in r, to fn.  *end gets the offset after the last valid one and why
 *		(why_len bytes) the reason replay stopped there.
 */
static LsmCode
segment_replay(XlogReader *r, uint64_t seg_start, LsmXlogReplayFn fn,
			   void *arg, LsmXlogReplayReport *rep, uint64_t *end,
			   char *why, size_t why_len, LsmStatus *st)
{
	uint64_t	off = 0;
	LsmCode		rc = LSM_OK;

	for (;;)
	{
		XlogRecord	rec;
		bool		valid;

		rc = record_at(r, seg_start, off, &rec, &valid, why, why_len, st);
		if (rc != LSM_OK || !valid)
			break;
		if (fn != NULL)
		{
			rc = fn(arg, seg_start + off, lsm_slice(rec.payload, rec.len), st);
			if (rc != LSM_OK)
				break;
		}
		off += rec.header + (uint64_t) rec.len;
		rep->records++;
		rep->bytes += rec.header + (uint64_t) rec.len;
	}
	*end = off;
	return rc;
}

/* What find_later_records found behind the end point. */
typedef struct XlogLater
{
	uint64_t	above;			/* the end point: only LSNs above it count */
	uint64_t	records;
	uint64_t	v1_records;
	uint64_t	max_durable_lsn;
	uint64_t	first_lsn;		/* 0 when records is 0 */
} XlogLater;

/*
 * scan_valid_records
 *		Count the records valid at their own position in r's segment
 *		(starting at LSN seg_start) at offsets in [from, to) whose LSN is
 *		above later->above.
 *
 * Every offset is tried, since the damaged record's length cannot be
 * trusted; past a valid record the scan goes on after it.  A record must
 * claim the LSN of the spot it is found at and pass its CRC, so stale
 * bytes (an old segment's records, a discarded tail's) never count: those
 * were either zeroed when their tail was cut or claim another position.
 */
static LsmCode
scan_valid_records(XlogReader *r, uint64_t seg_start, uint64_t from,
				   uint64_t to, XlogLater *later, LsmStatus *st)
{
	uint64_t	off = from;

	while (off < to && r->file_size - off >= LSM_XLOG_HEADER_V1)
	{
		XlogRecord	rec;
		bool		valid = false;
		LsmCode		rc;

		if (seg_start + off > later->above)
		{
			rc = record_at(r, seg_start, off, &rec, &valid, NULL, 0, st);
			if (rc != LSM_OK)
				return rc;
		}
		if (!valid)
		{
			off++;
			continue;
		}
		if (later->records == 0)
			later->first_lsn = seg_start + off;
		later->records++;
		if (rec.header == LSM_XLOG_HEADER_V1)
			later->v1_records++;
		else if (rec.durable_lsn > later->max_durable_lsn)
			later->max_durable_lsn = rec.durable_lsn;
		off += rec.header + (uint64_t) rec.len;
	}
	return LSM_OK;
}

/*
 * find_later_records
 *		After replay stopped at LSN end (offset keep_end of the segment open
 *		in r, which starts at keep_start): the records valid at their own
 *		position with a higher LSN, in the rest of that segment and in the
 *		segments starts[i..n) that replay did not reach.  The files are
 *		only read.
 */
static LsmCode
find_later_records(LsmXlog *x, XlogReader *r, const uint64_t *starts, size_t n,
				   size_t i, uint64_t keep_start, uint64_t keep_end,
				   XlogLater *later, LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	uint64_t	nonzero_end;
	LsmStatus	ignore;
	LsmCode		rc;

	memset(later, 0, sizeof(*later));
	later->above = keep_start + keep_end;
	rc = reader_nonzero_end(r, keep_end, &nonzero_end, st);
	if (rc == LSM_OK)
		rc = scan_valid_records(r, keep_start, keep_end + 1, nonzero_end,
								later, st);
	for (; rc == LSM_OK && i < n; i++)
	{
		char		path[XLOG_PATH_MAX];
		LsmFile    *f;
		uint64_t	size;

		segment_path(x, starts[i], path);
		rc = env->open_file(env, path, LSM_OPEN_READ, &f, st);
		if (rc != LSM_OK)
			break;
		rc = env->file_size(f, &size, st);
		if (rc == LSM_OK)
		{
			reader_reset(r, f, path, size);
			rc = reader_nonzero_end(r, 0, &nonzero_end, st);
		}
		if (rc == LSM_OK)
			rc = scan_valid_records(r, starts[i], 0, nonzero_end, later, st);
		env->close_file(f, &ignore);
	}
	return rc;
}

/*
 * xlog_recover
 *		Replay the segments (starts[0..n), ascending), discard what follows
 *		the end point and make x ready to append there.  See the file
 *		header for the rules.
 */
static LsmCode
xlog_recover(LsmXlog *x, const uint64_t *starts, size_t n, LsmXlogReplayFn fn,
			 void *arg, bool accept_corruption, LsmXlogReplayReport *rep,
			 LsmStatus *st)
{
	LsmEnv	   *env = x->env;
	XlogReader	r;
	char		path[XLOG_PATH_MAX];
	char		keep_path[XLOG_PATH_MAX];
	char		why[sizeof(rep->reason)];
	LsmFile    *keep = NULL;	/* the last segment replayed */
	uint64_t	keep_start = 0;
	uint64_t	keep_end = 0;	/* offset of the end point in it */
	uint64_t	expected = starts[0];
	uint64_t	nonzero_end;
	uint64_t	capacity;
	bool		stale;
	size_t		kept = 0;
	size_t		i;
	LsmStatus	ignore;
	LsmCode		rc = LSM_OK;

	memset(&r, 0, sizeof(r));
	r.env = env;
	rep->start_lsn = starts[0];
	why[0] = '\0';

	for (i = 0; i < n; i++)
	{
		LsmFile    *f;
		uint64_t	size;
		uint64_t	end;

		if (starts[i] != expected)
			break;
		segment_path(x, starts[i], path);
		rc = env->open_file(env, path, LSM_OPEN_WRITE, &f, st);
		if (rc != LSM_OK)
			goto fail;
		rc = env->file_size(f, &size, st);
		if (rc == LSM_OK)
		{
			reader_reset(&r, f, path, size);
			rc = segment_replay(&r, starts[i], fn, arg, rep, &end, why,
								sizeof(why), st);
		}
		/* the segment before is complete: the host acted on it, keep it */
		if (rc == LSM_OK && keep != NULL)
		{
			rc = env->sync(keep, st);
			env->close_file(keep, rc == LSM_OK ? st : &ignore);
			keep = NULL;
		}
		if (rc != LSM_OK)
		{
			env->close_file(f, &ignore);
			goto fail;
		}
		keep = f;
		keep_start = starts[i];
		keep_end = end;
		memcpy(keep_path, path, sizeof(keep_path));
		r.path = keep_path;
		kept++;
		expected = starts[i] + end;
	}

	/*
	 * A torn tail has nothing behind it that proves it durable.  Damage
	 * that a record appended after its fsync follows is corruption:
	 * dropping that record would lose commits that were durable, so open
	 * refuses unless the caller accepts the loss.
	 */
	{
		XlogLater	later;
		uint64_t	end = keep_start + keep_end;
		uint64_t	size;

		rc = find_later_records(x, &r, starts, n, i, keep_start, keep_end,
								&later, st);
		/* the reader may have moved on to later segments */
		if (rc == LSM_OK)
			rc = env->file_size(keep, &size, st);
		if (rc != LSM_OK)
			goto fail;
		reader_reset(&r, keep, keep_path, size);
		rep->later_records = later.records;
		rep->later_v1_records = later.v1_records;
		rep->later_durable_lsn = later.max_durable_lsn;
		rep->next_valid_lsn = later.first_lsn;
		if (later.v1_records > 0 || later.max_durable_lsn > end)
		{
			char		proof[64];

			rep->corrupt = true;
			rep->corrupt_lsn = end;
			rep->corrupt_segment = keep_start;
			snprintf(rep->reason, sizeof(rep->reason), "%s", why);
			if (later.max_durable_lsn > end)
				snprintf(proof, sizeof(proof), "written once the log was synced to LSN %llu",
						 (unsigned long long) later.max_durable_lsn);
			else
				snprintf(proof, sizeof(proof), "in the old format, which cannot tell");
			if (!accept_corruption)
			{
				rc = lsm_status_set(st, LSM_CORRUPTION, 0,
									"server log \"%s\" is damaged at LSN %llu (segment %016llX, offset %llu: %s) and a valid record at LSN %llu follows the damage, %s",
									x->dir, (unsigned long long) end,
									(unsigned long long) keep_start,
									(unsigned long long) keep_end, why,
									(unsigned long long) later.first_lsn,
									proof);
				goto fail;
			}
		}
	}

	/* non-zero bytes after the end point are dropped, unless stale */
	rc = reader_nonzero_end(&r, keep_end, &nonzero_end, st);
	if (rc == LSM_OK)
		rc = stale_after(&r, keep_start, keep_end, &stale, st);
	if (rc != LSM_OK)
		goto fail;
	if (nonzero_end > keep_end && !stale)
	{
		rep->dropped_bytes += nonzero_end - keep_end;
		snprintf(rep->reason, sizeof(rep->reason), "%s", why);
	}

	/* so are later segments; the first of them does not start at the end */
	if (i < n && rep->reason[0] == '\0')
		snprintf(rep->reason, sizeof(rep->reason),
				 "segment %016llX does not start at LSN %llu where the records end",
				 (unsigned long long) starts[i], (unsigned long long) expected);
	for (; i < n; i++)
	{
		LsmFile    *f;
		uint64_t	size;

		segment_path(x, starts[i], path);
		rc = env->open_file(env, path, LSM_OPEN_READ, &f, st);
		if (rc != LSM_OK)
			goto fail;
		rc = env->file_size(f, &size, st);
		if (rc == LSM_OK)
		{
			reader_reset(&r, f, path, size);
			rc = reader_nonzero_end(&r, 0, &nonzero_end, st);
		}
		env->close_file(f, &ignore);
		if (rc == LSM_OK)
			rc = env->unlink(env, path, st);
		if (rc != LSM_OK)
			goto fail;
		rep->dropped_bytes += nonzero_end;
		rep->dropped_segments++;
	}
	if (rep->dropped_segments > 0)
	{
		rc = env->sync_dir(env, x->dir, st);
		if (rc != LSM_OK)
			goto fail;
	}
	rep->torn = rep->dropped_bytes > 0;
	if (!rep->torn)
		rep->reason[0] = '\0';

	/*
	 * Cut the last segment at the end point and preallocate it again.  With
	 * the disk full, the segment just ends there: the next append makes a
	 * new one, and reports the lack of space itself.
	 */
	capacity = keep_end > x->segment_size ? keep_end : x->segment_size;
	rc = env->truncate(keep, keep_end, st);
	if (rc == LSM_OK)
	{
		rc = fill_zeros(env, keep, keep_end, capacity, st);
		if (rc == LSM_NO_SPACE)
		{
			capacity = keep_end;
			rc = env->truncate(keep, keep_end, st);
		}
	}
	if (rc == LSM_OK)
		rc = env->sync(keep, st);
	if (rc != LSM_OK)
		goto fail;

	x->cur_file = keep;
	x->cur_capacity = capacity;
	x->cur_start = keep_start;
	x->insert_lsn = keep_start + keep_end;
	x->flushed_lsn = x->insert_lsn;
	x->n_segments = kept;
	rep->segments = kept;
	rep->end_lsn = x->insert_lsn;
	free(r.buf);
	return LSM_OK;

fail:
	if (keep != NULL)
		env->close_file(keep, &ignore);
	rep->segments = kept;
	rep->end_lsn = keep_start + keep_end;
	free(r.buf);
	return rc;
}

/*
 * lsm_xlog_open
 *		Open and recover the server log in dir, refusing a damaged one; see
 *		xlog.h.
 */
LsmCode
lsm_xlog_open(LsmEnv *env, const char *dir, uint64_t segment_size,
			  LsmXlogReplayFn fn, void *arg, LsmXlog **out,
			  LsmXlogReplayReport *rep, LsmStatus *st)
{
	return lsm_xlog_open_flags(env, dir, segment_size, 0, fn, arg, out, rep, st);
}

/*
 * lsm_xlog_open_flags
 *		The same with flags (LSM_XLOG_ACCEPT_CORRUPTION).
 */
LsmCode
lsm_xlog_open_flags(LsmEnv *env, const char *dir, uint64_t segment_size,
					unsigned flags, LsmXlogReplayFn fn, void *arg,
					LsmXlog **out, LsmXlogReplayReport *rep, LsmStatus *st)
{
	LsmXlogReplayReport local;
	LsmXlog    *x;
	size_t		dirlen = strlen(dir);
	bool		existed;
	SegmentList l;
	LsmCode		rc;

	*out = NULL;
	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	if (segment_size == 0)
		segment_size = LSM_XLOG_DEFAULT_SEGMENT;
	if (segment_size < LSM_XLOG_MIN_SEGMENT || segment_size > LSM_XLOG_MAX_SEGMENT)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "server log segment size %llu is outside [%d, %llu]",
							  (unsigned long long) segment_size,
							  LSM_XLOG_MIN_SEGMENT,
							  (unsigned long long) LSM_XLOG_MAX_SEGMENT);
	if (dirlen == 0 || dirlen > LSM_XLOG_MAX_DIR)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "server log directory name of %zu bytes is empty or longer than %d bytes",
							  dirlen, LSM_XLOG_MAX_DIR);

	/* the directory, durably */
	existed = env->exists(env, dir);
	rc = env->mkdir_p(env, dir, st);
	if (rc == LSM_OK && !existed)
	{
		char		parent[XLOG_PATH_MAX];

		parent_dir(dir, parent, sizeof(parent));
		rc = env->sync_dir(env, parent, st);
	}
	if (rc != LSM_OK)
		return rc;

	x = lsm_calloc(1, sizeof(LsmXlog) + dirlen + 1);
	if (x == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory opening server log \"%s\"", dir);
	memcpy(x->dir, dir, dirlen + 1);
	x->env = env;
	x->segment_size = segment_size;
	for (int i = 0; i < XLOG_MAX_INFLIGHT; i++)
		x->inflight[i] = XLOG_NO_WRITE;
	x->insert_mu = env->mutex_create(env);
	x->flush_mu = env->mutex_create(env);
	x->remove_mu = env->mutex_create(env);
	x->recycle_mu = env->mutex_create(env);
	x->round_mu[0] = env->mutex_create(env);
	x->round_mu[1] = env->mutex_create(env);
	if (x->insert_mu == NULL || x->flush_mu == NULL || x->remove_mu == NULL ||
		x->recycle_mu == NULL || x->round_mu[0] == NULL || x->round_mu[1] == NULL)
	{
		lsm_xlog_close(x);
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "could not create the locks of server log \"%s\"",
							  dir);
	}

	rc = list_segments(env, dir, &l, st);
	if (rc != LSM_OK)
	{
		lsm_xlog_close(x);
		return rc;
	}
	/* a segment or a spare being made when the server stopped */
	if (l.temp)
		unlink_in(env, dir, XLOG_TEMP_NAME);
	if (l.spare)
		unlink_in(env, dir, XLOG_SPARE_NAME);
	/* recycled segments are kept for reuse; new ones get higher numbers */
	if (l.n_recycled > 0)
		x->next_recycled = l.recycled[l.n_recycled - 1] + 1;

	if (l.n == 0)
	{
		bool		named;

		rc = segment_create(x, 0, segment_size, &x->cur_file, &named, st);
		if (rc == LSM_OK)
		{
			x->cur_capacity = segment_size;
			x->n_segments = 1;
			x->n_created = 1;
			rep->segments = 1;
		}
	}
	else
		rc = xlog_recover(x, l.starts, l.n, fn, arg,
						  (flags & LSM_XLOG_ACCEPT_CORRUPTION) != 0, rep, st);
	segment_list_free(&l);
	if (rc != LSM_OK)
	{
		lsm_xlog_close(x);
		return rc;
	}
	*out = x;
	return LSM_OK;
}
