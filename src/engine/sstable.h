/*
 * sstable.h
 *		Immutable sorted tables of internal keys: building and reading.
 *		The byte layout is in docs/format.md.
 *
 * A table is data blocks (prefix-compressed keys with restart points,
 * zstd or raw, each with a kind byte and a masked CRC32C), one bloom filter
 * block over user keys, an index block (a key >= the last key of each data
 * block -> its offset and size), a properties block and a fixed footer with
 * a magic number and format version.  Every block read is verified; a
 * mismatch is LSM_CORRUPTION naming the file and offset.
 */
#ifndef LSM_SSTABLE_H
#define LSM_SSTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "lsm.h"
#include "block_cache.h"

/*
 * Format constants (docs/format.md, "SSTable").  Every stored block is
 * followed by a trailer: one byte of LsmCompression and the masked CRC32C
 * of the payload and that byte.  Handles (offset, size) count the payload
 * only.  The footer is the last LSM_SST_FOOTER_SIZE bytes of the file.
 */
#define LSM_SST_FORMAT_VERSION	1
#define LSM_SST_MAGIC				0x31304c42544d534cULL	/* bytes "LSMTBL01" */
#define LSM_SST_FOOTER_SIZE		64
#define LSM_BLOCK_TRAILER_SIZE		5
/* Largest key and value the builder accepts (LSM_INVALID_ARGUMENT beyond). */
#define LSM_SST_MAX_KEY			(1u << 24)
#define LSM_SST_MAX_VALUE			(1u << 30)

typedef struct LsmSstOptions
{
	size_t		block_size;		/* target uncompressed data block */
	int			restart_interval;
	LsmCompression compression;
	int			compression_level;
	int			bloom_bits_per_key; /* 0: no filter block */
} LsmSstOptions;

/* Copied from options (lsm.h defaults). */
extern void lsm_sst_options_from(LsmSstOptions *to, const LsmOptions *opts);

/* What the properties block holds; also returned by the builder. */
typedef struct LsmSstProps
{
	uint64_t	entries;
	uint64_t	tombstones;
	uint64_t	merges;
	uint64_t	blob_refs;		/* LSM_KIND_BLOB entries; stored only when > 0 */
	uint64_t	data_blocks;
	uint64_t	raw_key_bytes;
	uint64_t	raw_value_bytes;
	uint64_t	data_bytes;		/* data blocks as stored */
	uint64_t	index_bytes;
	uint64_t	filter_bytes;
	uint64_t	file_bytes;
	LsmSeq		min_seq;
	LsmSeq		max_seq;
	uint64_t	created_micros;
	LsmBuf		smallest;		/* smallest internal key */
	LsmBuf		largest;		/* largest internal key */
} LsmSstProps;

extern void lsm_sst_props_free(LsmSstProps *p);

typedef struct LsmSstBuilder LsmSstBuilder;

/* Create path (must not exist) and start a table. */
extern LsmCode lsm_sst_builder_open(LsmEnv *env, const char *path,
									  const LsmSstOptions *opts,
									  LsmSstBuilder **b, LsmStatus *st);
/* Add an entry; internal keys must be strictly increasing (lsm_ikey_cmp). */
extern LsmCode lsm_sst_builder_add(LsmSstBuilder *b, LsmSlice ikey, LsmSlice value,
									 LsmStatus *st);
/* Bytes written so far plus the pending block: where to cut outputs. */
extern uint64_t lsm_sst_builder_size(const LsmSstBuilder *b);
extern uint64_t lsm_sst_builder_entries(const LsmSstBuilder *b);
/*
 * Write filter, index, properties and footer, fsync, close and free the
 * builder.  props (nullable) receives a copy of the properties; the caller
 * frees it with lsm_sst_props_free.  On error the file is removed.
 */
extern LsmCode lsm_sst_builder_finish(LsmSstBuilder *b, LsmSstProps *props,
										LsmStatus *st);
/* Close, remove the file and free the builder. */
extern void lsm_sst_builder_abandon(LsmSstBuilder *b);
/* Let finish skip the fsync: a scratch file no one reads after a crash. */
extern void lsm_sst_builder_skip_sync(LsmSstBuilder *b);

typedef struct LsmSst LsmSst;

/*
 * Per-read counters, owned by the caller (no atomics needed): tables count
 * block_reads, block_cache_hits and bloom_useful (lsm_sst_get skipped
 * thanks to the filter); the rest is the database's.
 */
typedef LsmReadCounters LsmReadStats;

/*
 * Open a table: read and verify footer, index, filter and properties.
 * cache (nullable) holds decoded data blocks, keyed by (file_number, offset).
 */
extern LsmCode lsm_sst_open(LsmEnv *env, const char *path, uint64_t file_number,
							  LsmBlockCache *cache, LsmSst **t, LsmStatus *st);
extern void lsm_sst_close(LsmSst *t);
extern const LsmSstProps *lsm_sst_props(const LsmSst *t);
extern uint64_t lsm_sst_file_number(const LsmSst *t);
/*
 * Make every entry read from t carry sequence number seq (an ingested file,
 * which stores 0: lsm_db_ingest).  Set before the table is shared.
 */
extern void lsm_sst_set_global_seq(LsmSst *t, LsmSeq seq);

/* Bloom probe on a user key: false means certainly absent. */
extern bool lsm_sst_may_contain(const LsmSst *t, LsmSlice user_key);

/*
 * Visit entries from the first internal key >= target, in order, while fn
 * returns true.  Checks the bloom filter on target's user key first (and
 * counts a skip in stats->bloom_useful).  The slices passed to fn are valid
 * only during the call.
 */
typedef bool (*LsmSstVisitFn) (void *arg, LsmSlice ikey, LsmSlice value);
extern LsmCode lsm_sst_get(LsmSst *t, LsmSlice target, LsmSstVisitFn fn,
							 void *arg, LsmReadStats *stats, LsmStatus *st);

/*
 * Visit the index's keys in order while fn returns true: one internal key
 * per data block, at or after the block's last key and before the next
 * block's first.  A sample of the table's keys weighted by bytes, for
 * cutting a merge into key ranges of about equal size.  value is the
 * block's encoded handle.
 */
extern LsmCode lsm_sst_index_keys(LsmSst *t, LsmSstVisitFn fn, void *arg,
								  LsmStatus *st);

/* Iterator over all internal keys of the table; stats nullable. */
extern LsmIter *lsm_sst_iter(LsmSst *t, bool fill_cache, LsmReadStats *stats);

/* Index entries a get narrows through fences (0: none were made). */
extern uint32_t lsm_sst_fence_count(const LsmSst *t);
/* Read every block, check checksums, key order and properties. */
extern LsmCode lsm_sst_verify(LsmSst *t, LsmStatus *st);
/* The same, adding what was checked (bytes, blocks, entries) to *out. */
extern LsmCode lsm_table_verify_counted(LsmSst *t, LsmVerifyResult *out, LsmStatus *st);

#endif							/* LSM_SSTABLE_H */
