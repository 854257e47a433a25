/*
 * wal.h
 *		Log files: the write-ahead log of batches, and the MANIFEST of
 *		version edits, share one record format (docs/format.md):
 *
 *   record = masked crc32c(4) | length(4) | type(1) | payload(length)
 *
 * The CRC covers the log number (so a record left over from an older file
 * with other contents never validates), type, length and payload.  A
 * record is written with one write; appending returns the log position
 * after it, and a separate sync makes the log durable up to a position, so
 * that callers can build group commit on it.
 *
 * Reading stops at the first record that is torn (shorter than its header
 * says), zero (never written) or fails its CRC; nothing after it is
 * applied, and the report says how many bytes were dropped.
 */
#ifndef LSM_WAL_H
#define LSM_WAL_H

#include <stdbool.h>
#include <stdint.h>

#include "lsm_env.h"
#include "lsm_slice.h"
#include "lsm_status.h"

#define LSM_LOG_HEADER 9
/* A record payload larger than this is refused (LSM_INVALID_ARGUMENT). */
#define LSM_LOG_MAX_RECORD (1u << 30)

/* Record types; stored in files: never renumber. */
typedef enum LsmLogRecordType
{
	LSM_LOG_BATCH = 1,			/* a write batch (batch.h) */
	LSM_LOG_EDIT = 2			/* a version edit (MANIFEST) */
} LsmLogRecordType;

typedef struct LsmLogWriter LsmLogWriter;

/* Create a new, empty log file (fails if it exists). */
extern LsmCode lsm_log_create(LsmEnv *env, const char *path, uint64_t log_number,
							  LsmLogWriter **w, LsmStatus *st);
/* Append one record; *end_pos (nullable) gets the position after it. */
extern LsmCode lsm_log_append(LsmLogWriter *w, uint8_t type, LsmSlice payload,
							  uint64_t *end_pos, LsmStatus *st);
/* Make the log durable up to at least pos (no-op when already). */
extern LsmCode lsm_log_sync(LsmLogWriter *w, uint64_t pos, LsmStatus *st);
extern uint64_t lsm_log_size(const LsmLogWriter *w);
extern uint64_t lsm_log_synced(const LsmLogWriter *w);
extern uint64_t lsm_log_number(const LsmLogWriter *w);
/* Close (no implicit sync). */
extern LsmCode lsm_log_close(LsmLogWriter *w, LsmStatus *st);

/*
 * Reopen an existing log to append after its first valid_bytes bytes (the
 * valid_bytes of its replay report): the tail beyond is cut off and the
 * file synced, so lsm_log_size() = lsm_log_synced() = valid_bytes.
 */
extern LsmCode lsm_log_reopen(LsmEnv *env, const char *path, uint64_t log_number,
							  uint64_t valid_bytes, LsmLogWriter **w,
							  LsmStatus *st);

typedef struct LsmLogReplayReport
{
	uint64_t	records;		/* valid records delivered */
	uint64_t	valid_bytes;	/* offset after the last valid record */
	uint64_t	file_bytes;
	uint64_t	dropped_bytes;	/* file_bytes - valid_bytes */
	bool		torn;			/* stopped at a bad record (not clean EOF;
								 * a tail of only zero bytes is clean) */
	char		reason[128];	/* why it stopped, when torn */
} LsmLogReplayReport;

/* Called per valid record; non-OK stops the replay and is returned. */
typedef LsmCode (*LsmLogRecordFn) (void *arg, uint8_t type, LsmSlice payload,
								   uint64_t end_pos, LsmStatus *st);

/*
 * Read every valid record of the file in order.  A torn or corrupt tail is
 * not an error: it ends the replay and is described in *report.  Errors
 * are I/O failures and whatever fn returns.
 */
extern LsmCode lsm_log_replay(LsmEnv *env, const char *path, uint64_t log_number,
							  LsmLogRecordFn fn, void *arg,
							  LsmLogReplayReport *report, LsmStatus *st);

#endif							/* LSM_WAL_H */
