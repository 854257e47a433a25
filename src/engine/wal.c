/*
 * wal.c
 *		Log files: writing records, making them durable, and replaying them
 *		after a crash.  The WAL of batches and the MANIFEST of version edits
 *		both use this code (format in wal.h and docs/format.md).
 *
 *   record = masked crc32c(4) | length(4) | type(1) | payload(length)
 *   crc    = crc32c(fixed64 log_number || length(4) || type(1) || payload)
 *
 * Writing.  A record is built in a scratch buffer and written with one
 * write_at at the writer's in-memory end offset, so a crash can leave at
 * most one torn record, at the tail.  Appending and syncing are separate
 * calls: lsm_log_append returns the end position of the record and
 * lsm_log_sync(pos) makes the log durable up to at least pos, so that group
 * commit can let one fsync cover the records of many committers.  The
 * writer remembers how far it has synced and skips the fsync when a caller's
 * position is already covered.
 *
 * Concurrency: a writer has no lock of its own.  The caller serialises
 * lsm_log_append, lsm_log_sync and lsm_log_close (and the reads of
 * lsm_log_size / lsm_log_synced that decide whether to sync) with its own
 * lock; the design's group commit (design-concurrency.md §6.2) holds the
 * WAL write lock around both.  Because sync is idempotent, followers that
 * find their position already synced return at once.
 *
 * Failures.  A failed write (ENOSPC, EIO) is reported with the env's
 * message, which names the path and offset; the end offset does not move,
 * the file is cut back to it when possible, and the writer stays usable,
 * so a later append that succeeds lands right after the last good record.
 * A failed fsync is different: after one, the kernel may have dropped the
 * dirty pages and a retried fsync can report success for data that never
 * reached the disk, so the writer refuses every later append and sync
 * with the original error.
 *
 * Reading.  Replay reads the file in chunks (a record is only held in
 * memory whole when it is bigger than a chunk) and stops at the first
 * record that is cut short, has a zero header, fails its CRC, claims an
 * impossible length or has an unknown type.  A tail of nothing but zero
 * bytes (space preallocated or extended but never written) is a clean end;
 * anything else that stops the replay early is reported as torn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm_coding.h"
#include "lsm_alloc.h"
#include "lsm_crc32c.h"
#include "wal.h"

/* Bytes replay reads at a time; records larger than this are read whole. */
#define LOG_READ_CHUNK (256 * 1024)

/* A scratch buffer grown past this by a big record is released afterwards. */
#define LOG_SCRATCH_KEEP (1024 * 1024)

struct LsmLogWriter
{
	LsmEnv	   *env;
	LsmFile    *file;
	char	   *path;
	uint64_t	log_number;
	uint32_t	crc_seed;		/* crc32c of fixed64 log_number */
	uint64_t	end;			/* offset after the last record written */
	uint64_t	synced;			/* offset up to which the log is durable */
	bool		sync_failed;	/* a sync failed: the writer is unusable */
	LsmStatus	sync_error;		/* that failure, repeated to later callers */
	LsmBuf		scratch;		/* record being written */
};

/*
 * log_type_known
 *		Whether type is a record type this code writes and replays.  New
 *		types must be added here, and replay of an older binary stops at
 *		them rather than skip data it does not understand.
 */
static bool
log_type_known(uint8_t type)
{
	switch ((LsmLogRecordType) type)
	{
		case LSM_LOG_BATCH:
		case LSM_LOG_EDIT:
			return true;
	}
	return false;
}

/*
 * log_crc_seed
 *		The CRC state every record of log log_number starts from.
 */
static uint32_t
log_crc_seed(uint64_t log_number)
{
	uint8_t		num[8];

	lsm_put_fixed64(num, log_number);
	return lsm_crc32c_extend(0, num, sizeof(num));
}

/*
 * log_record_crc
 *		Masked CRC of a record: the seed, then length and type as stored
 *		(header bytes 4..8), then the payload.
 */
static uint32_t
log_record_crc(uint32_t seed, const uint8_t *header, const uint8_t *payload,
			   size_t len)
{
	uint32_t	crc = lsm_crc32c_extend(seed, header + 4, LSM_LOG_HEADER - 4);

	crc = lsm_crc32c_extend(crc, payload, len);
	return lsm_crc32c_mask(crc);
}

/*
 * writer_new
 *		Allocate a writer around an open file; closes the file on failure.
 */
static LsmCode
writer_new(LsmEnv *env, LsmFile *file, const char *path, uint64_t log_number,
		   uint64_t end, LsmLogWriter **w, LsmStatus *st)
{
	LsmLogWriter *lw = lsm_calloc(1, sizeof(LsmLogWriter));

	if (lw == NULL || (lw->path = lsm_strdup(path)) == NULL)
	{
		LsmStatus	ignore;

		lsm_free(lw);
		env->close_file(file, &ignore);
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory opening log \"%s\"", path);
	}
	lw->env = env;
	lw->file = file;
	lw->log_number = log_number;
	lw->crc_seed = log_crc_seed(log_number);
	lw->end = end;
	lw->synced = end;
	lw->scratch = (LsmBuf) LSM_BUF_INIT;
	*w = lw;
	return LSM_OK;
}

/*
 * parent_dir
 *		Write the directory part of path into out ("." when there is none).
 */
static void
parent_dir(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(out, outlen, ".");
	else if (slash == path)
		snprintf(out, outlen, "/");
	else
		snprintf(out, outlen, "%.*s", (int) (slash - path), path);
}

/*
 * lsm_log_create
 *		Create a new, empty log file at path for log number log_number.
 *
 * The parent directory is synced before returning, so that the file's name
 * is durable: otherwise a power loss could take away the whole file, and
 * with it records that lsm_log_sync had declared durable.
 */
LsmCode
lsm_log_create(LsmEnv *env, const char *path, uint64_t log_number,
			   LsmLogWriter **w, LsmStatus *st)
{
	LsmFile    *file;
	LsmCode		rc;
	char	   *dir;
	size_t		dirlen = strlen(path) + 2;

	*w = NULL;
	rc = env->open_file(env, path,
						LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL,
						&file, st);
	if (rc != LSM_OK)
		return rc;

	dir = lsm_malloc(dirlen);
	if (dir == NULL)
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0,
							"out of memory creating log \"%s\"", path);
	else
	{
		parent_dir(path, dir, dirlen);
		rc = env->sync_dir(env, dir, st);
		lsm_free(dir);
	}
	if (rc != LSM_OK)
	{
		LsmStatus	ignore;

		env->close_file(file, &ignore);
		env->unlink(env, path, &ignore);
		return rc;
	}
	return writer_new(env, file, path, log_number, 0, w, st);
}

/*
 * lsm_log_reopen
 *		Open an existing log to append after its first valid_bytes bytes,
 *		as found by lsm_log_replay.
 *
 * Whatever follows valid_bytes (a torn or corrupt tail) is cut off and the
 * file synced, so new records never follow garbage and everything before
 * valid_bytes counts as durable from here on.
 */
LsmCode
lsm_log_reopen(LsmEnv *env, const char *path, uint64_t log_number,
			   uint64_t valid_bytes, LsmLogWriter **w, LsmStatus *st)
{
	LsmFile    *file;
	LsmCode		rc;
	uint64_t	size;
	LsmStatus	ignore;

	*w = NULL;
	rc = env->open_file(env, path, LSM_OPEN_WRITE, &file, st);
	if (rc != LSM_OK)
		return rc;
	rc = env->file_size(file, &size, st);
	if (rc == LSM_OK && size < valid_bytes)
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"log \"%s\" has %llu bytes, fewer than the %llu valid bytes replay found",
							path, (unsigned long long) size,
							(unsigned long long) valid_bytes);
	if (rc == LSM_OK && size > valid_bytes)
		rc = env->truncate(file, valid_bytes, st);
	if (rc == LSM_OK)
		rc = env->sync(file, st);
	if (rc != LSM_OK)
	{
		env->close_file(file, &ignore);
		return rc;
	}
	return writer_new(env, file, path, log_number, valid_bytes, w, st);
}

/*
 * writer_sync_error
 *		Repeat the failure of an earlier sync to a caller.
 */
static LsmCode
writer_sync_error(LsmLogWriter *w, LsmStatus *st)
{
	return lsm_status_set(st, w->sync_error.code, w->sync_error.sys_errno,
						  "log \"%s\" is unusable after a failed sync: %s",
						  w->path, w->sync_error.msg);
}

/*
 * lsm_log_append
 *		Append one record with one write at the end of the log.
 *
 * On success *end_pos (when not NULL) is the log position after the
 * record: pass it to lsm_log_sync to wait for this record's durability.
 * On failure nothing moves, and the file is cut back to the old end when
 * the env allows (a failed write may have left part of the record).
 */
LsmCode
lsm_log_append(LsmLogWriter *w, uint8_t type, LsmSlice payload,
			   uint64_t *end_pos, LsmStatus *st)
{
	uint8_t    *rec;
	size_t		total;
	LsmCode		rc;

	if (w->sync_failed)
		return writer_sync_error(w, st);
	if (!log_type_known(type))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "unknown log record type %u for log \"%s\"",
							  (unsigned) type, w->path);
	if (payload.len > LSM_LOG_MAX_RECORD)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "log record of %zu bytes for log \"%s\" exceeds the limit of %u bytes",
							  payload.len, w->path, (unsigned) LSM_LOG_MAX_RECORD);

	total = LSM_LOG_HEADER + payload.len;
	lsm_buf_reset(&w->scratch);
	if (!lsm_buf_reserve(&w->scratch, total))
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory building a %zu-byte record for log \"%s\"",
							  total, w->path);
	rec = w->scratch.data;
	lsm_put_fixed32(rec + 4, (uint32_t) payload.len);
	rec[8] = type;
	if (payload.len > 0)
		memcpy(rec + LSM_LOG_HEADER, payload.data, payload.len);
	lsm_put_fixed32(rec, log_record_crc(w->crc_seed, rec,
										rec + LSM_LOG_HEADER, payload.len));

	rc = w->env->write_at(w->file, rec, total, w->end, st);
	if (rc != LSM_OK)
	{
		LsmStatus	ignore;

		w->env->truncate(w->file, w->end, &ignore);
	}
	else
		w->end += total;

	if (w->scratch.cap > LOG_SCRATCH_KEEP)
		lsm_buf_free(&w->scratch);
	if (rc == LSM_OK && end_pos != NULL)
		*end_pos = w->end;
	return rc;
}

/*
 * lsm_log_sync
 *		Make the log durable up to at least pos.
 *
 * Nothing is done when an earlier sync already covered pos, so any number
 * of committers may ask for their own positions and only the first pays
 * for the fsync.  A sync covers everything written so far, not just pos.
 */
LsmCode
lsm_log_sync(LsmLogWriter *w, uint64_t pos, LsmStatus *st)
{
	uint64_t	target;
	LsmCode		rc;

	if (w->sync_failed)
		return writer_sync_error(w, st);
	if (pos <= w->synced)
		return LSM_OK;
	if (pos > w->end)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "cannot sync log \"%s\" to position %llu beyond its end %llu",
							  w->path, (unsigned long long) pos,
							  (unsigned long long) w->end);

	target = w->end;
	rc = w->env->sync(w->file, st);
	if (rc != LSM_OK)
	{
		w->sync_failed = true;
		if (st != NULL)
			w->sync_error = *st;
		else
			lsm_status_set(&w->sync_error, rc, 0, "sync of log \"%s\" failed",
						   w->path);
		return rc;
	}
	w->synced = target;
	return LSM_OK;
}

uint64_t
lsm_log_size(const LsmLogWriter *w)
{
	return w->end;
}

uint64_t
lsm_log_synced(const LsmLogWriter *w)
{
	return w->synced;
}

uint64_t
lsm_log_number(const LsmLogWriter *w)
{
	return w->log_number;
}

/*
 * lsm_log_close
 *		Close the file and free the writer; unsynced records are not synced.
 */
LsmCode
lsm_log_close(LsmLogWriter *w, LsmStatus *st)
{
	LsmCode		rc;

	if (w == NULL)
		return LSM_OK;
	rc = w->env->close_file(w->file, st);
	lsm_buf_free(&w->scratch);
	lsm_free(w->path);
	lsm_free(w);
	return rc;
}

/*
 * Replay.
 *
 * LogReader keeps a window of the file, buf[0 .. buf_len) holding the bytes
 * at file offsets [buf_off, buf_off + buf_len).  Requests inside the window
 * cost nothing; others refill it from the requested offset, keeping any
 * overlap, in reads of at least LOG_READ_CHUNK bytes.
 */
typedef struct LogReader
{
	LsmEnv	   *env;
	LsmFile    *file;
	uint64_t	file_size;
	uint8_t    *buf;
	size_t		cap;
	uint64_t	buf_off;
	size_t		buf_len;
} LogReader;

/*
 * reader_get
 *		Point *out at n contiguous bytes of the file from offset off.
 *
 * *got is n, or less only when the file turned out shorter than its size
 * said.  The pointer stays valid until the next call.
 */
static LsmCode
reader_get(LogReader *r, const char *path, uint64_t off, size_t n,
		   const uint8_t **out, size_t *got, LsmStatus *st)
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

	want = remaining < LOG_READ_CHUNK ? (size_t) remaining : LOG_READ_CHUNK;
	if (want < n)
		want = n;
	if (want > r->cap)
	{
		uint8_t    *nb = lsm_realloc(r->buf, want);

		if (nb == NULL)
			return lsm_status_set(st, LSM_NO_MEMORY, 0,
								  "out of memory reading %zu bytes at offset %llu of log \"%s\"",
								  want, (unsigned long long) off, path);
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

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * reader_find_nonzero
 *		Set *found to the offset of the first non-zero byte at or after off,
 *		or to the file size when there is none.
 */
static LsmCode
reader_find_nonzero(LogReader *r, const char *path, uint64_t off,
					uint64_t *found, LsmStatus *st)
{
	while (off < r->file_size)
	{
		uint64_t	left = r->file_size - off;
		size_t		n = left < LOG_READ_CHUNK ? (size_t) left : LOG_READ_CHUNK;
		const uint8_t *p;
		size_t		got;
		size_t		i;
		LsmCode		rc;

		rc = reader_get(r, path, off, n, &p, &got, st);
		if (rc != LSM_OK)
			return rc;
		for (i = 0; i < got; i++)
		{
			if (p[i] != 0)
			{
				*found = off + i;
				return LSM_OK;
			}
		}
		if (got < n)
			break;				/* the file shrank under us: nothing more */
		off += got;
	}
	*found = r->file_size;
	return LSM_OK;
}

/*
 * lsm_log_replay
 *		Deliver every valid record of the log at path to fn, in order.
 *
 * See the file header for where replay stops.  report (nullable) always
 * describes how far replay got, also when an error is returned.
 */
LsmCode
lsm_log_replay(LsmEnv *env, const char *path, uint64_t log_number,
			   LsmLogRecordFn fn, void *arg, LsmLogReplayReport *report,
			   LsmStatus *st)
{
	LsmLogReplayReport local;
	LogReader	r;
	uint32_t	seed = log_crc_seed(log_number);
	uint64_t	off = 0;
	LsmCode		rc;
	LsmStatus	ignore;

	if (report == NULL)
		report = &local;
	memset(report, 0, sizeof(*report));
	memset(&r, 0, sizeof(r));
	r.env = env;

	rc = env->open_file(env, path, LSM_OPEN_READ, &r.file, st);
	if (rc != LSM_OK)
		return rc;
	rc = env->file_size(r.file, &r.file_size, st);
	if (rc != LSM_OK)
		goto done;
	report->file_bytes = r.file_size;

	for (;;)
	{
		uint64_t	remaining = r.file_size - off;
		const uint8_t *p;
		size_t		got;
		size_t		hlen;
		uint32_t	len;
		uint8_t		type;

		if (remaining == 0)
			break;				/* clean end of file */

		hlen = remaining < LSM_LOG_HEADER ? (size_t) remaining : LSM_LOG_HEADER;
		rc = reader_get(&r, path, off, hlen, &p, &got, st);
		if (rc != LSM_OK)
			goto done;
		if (all_zero(p, got))
		{
			uint64_t	nz;

			/* never-written space is a clean end; zeros before data are not */
			rc = reader_find_nonzero(&r, path, off, &nz, st);
			if (rc != LSM_OK)
				goto done;
			if (nz == r.file_size)
				snprintf(report->reason, sizeof(report->reason),
						 "zero-filled tail of %llu bytes at offset %llu",
						 (unsigned long long) remaining,
						 (unsigned long long) off);
			else
			{
				report->torn = true;
				snprintf(report->reason, sizeof(report->reason),
						 "zero header at offset %llu, but data at offset %llu",
						 (unsigned long long) off, (unsigned long long) nz);
			}
			break;
		}
		if (got < LSM_LOG_HEADER)
		{
			report->torn = true;
			snprintf(report->reason, sizeof(report->reason),
					 "truncated header at offset %llu: %zu of %d bytes",
					 (unsigned long long) off, got, LSM_LOG_HEADER);
			break;
		}

		len = lsm_get_fixed32(p + 4);
		type = p[8];
		if (len > LSM_LOG_MAX_RECORD)
		{
			report->torn = true;
			snprintf(report->reason, sizeof(report->reason),
					 "record at offset %llu claims %u bytes, above the limit",
					 (unsigned long long) off, len);
			break;
		}
		if ((uint64_t) len > remaining - LSM_LOG_HEADER)
		{
			report->torn = true;
			snprintf(report->reason, sizeof(report->reason),
					 "torn record at offset %llu: %u bytes, %llu left in file",
					 (unsigned long long) off, len,
					 (unsigned long long) (remaining - LSM_LOG_HEADER));
			break;
		}

		rc = reader_get(&r, path, off, LSM_LOG_HEADER + (size_t) len, &p, &got,
						st);
		if (rc != LSM_OK)
			goto done;
		if (got < LSM_LOG_HEADER + (size_t) len)
		{
			report->torn = true;
			snprintf(report->reason, sizeof(report->reason),
					 "file ended inside the record at offset %llu",
					 (unsigned long long) off);
			break;
		}
		if (lsm_get_fixed32(p) != log_record_crc(seed, p, p + LSM_LOG_HEADER, len))
		{
			report->torn = true;
			snprintf(report->reason, sizeof(report->reason),
					 "checksum mismatch in record of %u bytes at offset %llu",
					 len, (unsigned long long) off);
			break;
		}
		if (!log_type_known(type))
		{
			report->torn = true;
			snprintf(report->reason, sizeof(report->reason),
					 "unknown record type %u at offset %llu",
					 (unsigned) type, (unsigned long long) off);
			break;
		}

		rc = fn(arg, type, lsm_slice(p + LSM_LOG_HEADER, len),
				off + LSM_LOG_HEADER + len, st);
		if (rc != LSM_OK)
			goto done;
		off += LSM_LOG_HEADER + (uint64_t) len;
		report->records++;
		report->valid_bytes = off;
	}
	rc = LSM_OK;

done:
	report->valid_bytes = off;
	report->dropped_bytes = report->file_bytes >= off ? report->file_bytes - off : 0;
	env->close_file(r.file, &ignore);
	lsm_free(r.buf);
	return rc;
}
