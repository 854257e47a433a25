/*
 * lsm.h
 *		The public interface of the lsm engine: a database of byte-string
 *		keys and values, with write batches, snapshots, point gets,
 *		iterators, memtable flush and (later) compaction.
 *
 * Plain C, no Postgres headers.  Every fallible call returns an LsmCode and
 * fills the caller's LsmStatus on failure (lsm_status.h).  Keys compare
 * bytewise; the Postgres glue encodes SQL values so that byte order is SQL
 * order.
 *
 * Thread safety: one LsmDb may be used by several threads at once; writes
 * are serialised inside the engine.  An LsmIter must be used by one thread.
 */
#ifndef LSM_H
#define LSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm_env.h"
#include "lsm_format.h"
#include "lsm_iter.h"
#include "lsm_slice.h"
#include "lsm_status.h"

typedef struct LsmDb LsmDb;
typedef struct LsmBatch LsmBatch;
typedef struct LsmSnapshot LsmSnapshot;

/* Compression of SSTable data blocks; stored in files: never renumber. */
typedef enum LsmCompression
{
	LSM_COMPRESSION_NONE = 0,
	LSM_COMPRESSION_ZSTD = 1
} LsmCompression;

/*
 * Fold merge operands into a value.  base is the value below the operands
 * (NULL when the key has no older PUT or it was deleted); operands are in
 * order oldest first.  The result is written to out.  Returning anything
 * but LSM_OK makes the read (or compaction) fail with that status.
 */
typedef LsmCode (*LsmMergeFn) (void *arg, LsmSlice key, const LsmSlice *base,
							   const LsmSlice *operands, int n_operands,
							   LsmBuf *out, LsmStatus *st);

/*
 * The built-in merge the engine tests and the glue's counters use: every
 * operand and the base are 8-byte little-endian signed integers; the result
 * is their sum.  Overflow is LSM_INVALID_ARGUMENT.
 */
extern LsmCode lsm_merge_int64_add(void *arg, LsmSlice key, const LsmSlice *base,
								   const LsmSlice *operands, int n_operands,
								   LsmBuf *out, LsmStatus *st);

typedef struct LsmOptions
{
	LsmEnv	   *env;			/* NULL: lsm_env_posix() */
	bool		create_if_missing;	/* default true */
	size_t		write_buffer_size;	/* memtable bytes before a flush; 4 MiB */
	size_t		block_size;		/* target uncompressed data block; 4096 */
	int			block_restart_interval; /* 16 */
	LsmCompression compression; /* LSM_COMPRESSION_ZSTD */
	int			compression_level;	/* zstd level; 3 */
	int			bloom_bits_per_key; /* 10; 0 disables the filter */
	size_t		block_cache_size;	/* bytes of decoded blocks; 8 MiB, 0 = none */
	bool		sync_writes;	/* fsync the WAL at every write; default true */
	LsmMergeFn	merge;			/* NULL: lsm_merge_int64_add */
	void	   *merge_arg;
} LsmOptions;

/* Fill with the defaults above. */
extern void lsm_options_init(LsmOptions *opts);

/*
 * Open the database in directory path, creating it when allowed, and
 * recover: replay the MANIFEST, then every WAL record up to the first torn
 * or corrupt one.  What recovery dropped is reported through
 * lsm_db_recovery_report().
 */
extern LsmCode lsm_db_open(const LsmOptions *opts, const char *path, LsmDb **db,
						   LsmStatus *st);
/* Close; pending memtable contents stay in the WAL for the next open. */
extern LsmCode lsm_db_close(LsmDb *db, LsmStatus *st);

/* What the last open's WAL replay found; the string lives with db. */
typedef struct LsmRecoveryReport
{
	uint64_t	records_applied;
	uint64_t	bytes_dropped;	/* after the first bad record */
	bool		tail_was_torn;	/* the log ended in a torn or corrupt record */
} LsmRecoveryReport;
extern void lsm_db_recovery_report(LsmDb *db, LsmRecoveryReport *out);

/* Write batches: a set of operations applied atomically. */
extern LsmBatch *lsm_batch_create(void);
extern void lsm_batch_destroy(LsmBatch *b);
extern void lsm_batch_clear(LsmBatch *b);
extern LsmCode lsm_batch_put(LsmBatch *b, LsmSlice key, LsmSlice value, LsmStatus *st);
extern LsmCode lsm_batch_delete(LsmBatch *b, LsmSlice key, LsmStatus *st);
extern LsmCode lsm_batch_merge(LsmBatch *b, LsmSlice key, LsmSlice operand, LsmStatus *st);
extern uint32_t lsm_batch_count(const LsmBatch *b);
extern size_t lsm_batch_bytes(const LsmBatch *b);

/* Apply atomically: one WAL record, then the memtable. */
extern LsmCode lsm_db_write(LsmDb *db, LsmBatch *batch, LsmStatus *st);

/*
 * Snapshots pin a sequence number: reads through one see exactly the
 * writes committed before it was taken.
 */
extern LsmSnapshot *lsm_db_snapshot(LsmDb *db);
extern void lsm_db_release_snapshot(LsmDb *db, LsmSnapshot *snap);
extern LsmSeq lsm_snapshot_seq(const LsmSnapshot *snap);

typedef struct LsmReadOptions
{
	const LsmSnapshot *snapshot;	/* NULL: the latest committed state */
	/* Iterator bounds on user keys; data NULL = unbounded. */
	LsmSlice	lower_bound;	/* inclusive */
	LsmSlice	upper_bound;	/* exclusive */
	bool		fill_cache;		/* default true */
} LsmReadOptions;

extern void lsm_read_options_init(LsmReadOptions *ro);

/*
 * Point get.  LSM_OK with the value in *value, or LSM_NOT_FOUND (then *value
 * is untouched and st is not filled), or an error.
 */
extern LsmCode lsm_db_get(LsmDb *db, const LsmReadOptions *ro, LsmSlice key,
						  LsmBuf *value, LsmStatus *st);

/*
 * A user-level iterator over live keys in [lower_bound, upper_bound): keys
 * are user keys, values are folded (merges applied), tombstones and older
 * versions hidden.  Supports seek/next/prev.
 */
extern LsmCode lsm_db_iter(LsmDb *db, const LsmReadOptions *ro, LsmIter **it,
						   LsmStatus *st);

/*
 * Freeze the active memtable (if non-empty) and write it as an L0 SSTable,
 * then drop WAL files no memtable needs.  Synchronous.
 */
extern LsmCode lsm_db_flush(LsmDb *db, LsmStatus *st);

/*
 * Verify every SSTable: checksums of every block and order of every key.
 * Reports the first problem found.
 */
extern LsmCode lsm_db_verify(LsmDb *db, LsmStatus *st);

/* Counters the engine keeps; cumulative since open. */
typedef struct LsmDbStats
{
	uint64_t	files_per_level[7];
	uint64_t	bytes_per_level[7];
	uint64_t	memtable_bytes;
	uint64_t	imm_memtables;
	uint64_t	last_seq;
	uint64_t	gets;
	uint64_t	memtable_hits;
	uint64_t	sst_probes;		/* tables whose index was consulted by gets */
	uint64_t	bloom_useful;	/* probes skipped thanks to the filter */
	uint64_t	bloom_not_useful;	/* filter said maybe, key absent */
	uint64_t	block_cache_hits;
	uint64_t	block_reads;	/* blocks read from disk */
	uint64_t	bytes_flushed;
	uint64_t	bytes_written_wal;
	uint64_t	bytes_compacted_written;
	uint64_t	bytes_compacted_read;
	uint64_t	stall_slowdowns;
	uint64_t	stall_stops;
	uint64_t	stall_micros;
} LsmDbStats;

extern void lsm_db_stats(LsmDb *db, LsmDbStats *out);

#define LSM_NUM_LEVELS 7

#endif							/* LSM_H */
