/*
 * lsm.h
 *		The public interface of the lsm engine: a database of byte-string
 *		keys and values, with write batches, snapshots, point gets,
 *		iterators, memtable flush and compaction.
 *
 * Plain C, no Postgres headers.  Every fallible call returns an LsmCode and
 * fills the caller's LsmStatus on failure (lsm_status.h).  Keys compare
 * bytewise; the Postgres glue encodes SQL values so that byte order is SQL
 * order.
 *
 * Thread safety: one LsmDb may be used by several threads at once; writes
 * are serialised inside the engine.  An LsmIter must be used by one thread.
 *
 * Waits: every call that can wait for another thread (writes in a stall or
 * waiting for memtable room, lsm_db_flush, lsm_db_compact_range) waits
 * through the env's wait hook (lsm_env.h) and also fails with the code the
 * hook returns (LSM_INTERRUPTED, LSM_TIMED_OUT), holding no lock and with
 * nothing applied.
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
typedef struct LsmCompaction LsmCompaction;
typedef struct LsmBlockCache LsmBlockCache;

/* Levels of the tree: level 0 (flushed memtables) and levels 1..6. */
#define LSM_NUM_LEVELS 7

/* Compression of SSTable data blocks; stored in files: never renumber. */
typedef enum LsmCompression
{
	LSM_COMPRESSION_NONE = 0,
	LSM_COMPRESSION_ZSTD = 1,
	LSM_COMPRESSION_LZ4 = 2
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
 * The built-in merge (the default when LsmOptions.merge is NULL): every
 * operand and the base are 8-byte little-endian signed integers; the result
 * is their sum.  Overflow is LSM_INVALID_ARGUMENT.  The engine tests use it;
 * the Postgres glue sets its own (row increments, src/fdw/rowmerge.c).
 */
extern LsmCode lsm_merge_int64_add(void *arg, LsmSlice key, const LsmSlice *base,
								   const LsmSlice *operands, int n_operands,
								   LsmBuf *out, LsmStatus *st);

/*
 * How SSTables are merged (docs/design.md, "Compaction").  Not stored in
 * files: a database may be reopened with the other style.
 */
typedef enum LsmCompactStyle
{
	LSM_COMPACT_LEVELED = 0,	/* one sorted run per level, 10x per level */
	LSM_COMPACT_TIERED = 1		/* merge runs of similar size */
} LsmCompactStyle;

/*
 * The external read horizon: the oldest sequence number that a reader
 * outside this LsmDb (another process or backend reading the same files
 * through its own view) may still read at; LSM_MAX_SEQ when there is none.
 * Compaction keeps every version such a reader could see.  It is called
 * without any engine lock held, from whichever thread picks a compaction,
 * so it must be thread-safe and must not block for long.  The contract:
 * a reader that registers after the call returned reads at a sequence
 * number no older than lsm_db_stats().last_seq at its registration (as
 * lsm_db_snapshot does), because the engine reads its own horizon before
 * calling this one.
 */
typedef LsmSeq (*LsmHorizonFn) (void *arg);

/*
 * The external file horizon: the smallest version number
 * (lsm_db_version_number) whose files a reader outside this LsmDb may
 * still read; UINT64_MAX when there is none.  A table file that no version
 * of this LsmDb lists any more (compaction replaced it and every reader
 * here let go) is unlinked only once this returns at least the number of
 * the version that was current at that moment; until then it waits on a
 * list that is looked at again when more files become obsolete, and by
 * lsm_db_delete_obsolete_files.  Called like LsmHorizonFn, without locks.
 * Files still waiting at close stay on disk; the next open removes them.
 */
typedef uint64_t (*LsmFileHorizonFn) (void *arg);

/*
 * The compaction filter (RocksDB's CompactionFilter, for TTL): start is
 * called once as a compaction settles its read points and returns a value
 * handed to every filter call of that compaction (lsm_fdw: the expiry
 * cutoff); filter says whether a PUT may be dropped.  It is asked only of
 * the newest version of a key in the lowest stripe, which no reader above
 * the oldest read point can see past: when older data outside the
 * compaction may hold the key, the PUT becomes a tombstone (so no older
 * version comes back), else it goes with every older version in the
 * inputs.  Both run on compaction threads without engine locks: they must
 * be thread-safe and must not fail; a value they cannot judge is kept.
 */
typedef uint64_t (*LsmFilterStartFn) (void *arg);
typedef bool (*LsmFilterFn) (void *arg, uint64_t start, LsmSlice key, LsmSlice value);

/*
 * Host mode (docs/design.md, "Engine"): one LsmDb in shared memory, used by
 * every backend, writing no log of its own and flushed and compacted by
 * the host's workers.  The hooks below are called without engine locks
 * unless said otherwise, and must not block for long.
 *
 * LsmFlushWantedFn: a writer froze a memtable, or is waiting for room (a
 * flush) or for compaction (a write stop); the host wakes a worker, which
 * looks at lsm_db_flush_needed and lsm_db_compaction_needed.
 *
 * LsmPreFlushFn: lsm_db_flush_pending is about to write a memtable whose
 * newest entry has sequence number max_seq; the host makes its log durable
 * up to there (a table must never hold what the log could lose).  false
 * aborts the flush with LSM_IO_ERROR; the memtable stays for a retry.
 *
 * LsmRegionAllocFn / LsmRegionFreeFn: memtable regions.  alloc returning
 * NULL means "the pool is full": with background_flush the writer waits
 * for a flush to free a region, otherwise the write fails with
 * LSM_NO_MEMORY.  free is called with the database mutex held and must not
 * call back into the engine.
 */
typedef void (*LsmFlushWantedFn) (void *arg);
typedef bool (*LsmPreFlushFn) (void *arg, LsmSeq max_seq);
typedef void *(*LsmRegionAllocFn) (void *arg, size_t size);
typedef void (*LsmRegionFreeFn) (void *arg, void *p, size_t size);

/*
 * A block cache several databases may share (block_cache below).  Creating
 * one is only needed for sharing: by default each database makes its own
 * of block_cache_size bytes.  destroy: after every database using it was
 * closed.  usage: bytes cached now.
 */
extern LsmBlockCache *lsm_block_cache_create(LsmEnv *env, size_t capacity);
extern void lsm_block_cache_destroy(LsmBlockCache *c);
extern size_t lsm_block_cache_usage(LsmBlockCache *c);
/* Lookups that found their block, and that did not (all views of it). */
extern void lsm_block_cache_counters(LsmBlockCache *c, uint64_t *hits, uint64_t *misses);

/* LsmOptions has background_threads (for drivers built against older engines) */
#define LSM_HAS_BACKGROUND_THREADS 1

typedef struct LsmOptions
{
	LsmEnv	   *env;			/* NULL: lsm_env_posix() */
	bool		create_if_missing;	/* default true */
	size_t		write_buffer_size;	/* memtable bytes before a flush; 4 MiB */
	size_t		initial_write_buffer_size;	/* the first memtable after open; 0 = the same */
	size_t		block_size;		/* target uncompressed data block; 4096 */
	int			block_restart_interval; /* 16 */
	/*
	 * Codec of the bottom level's tables (compaction outputs with no data
	 * in any deeper level) and of the other tables (flushes, upper levels),
	 * as RocksDB's bottommost_compression and compression_per_level: most
	 * bytes end at the bottom, where the better ratio pays, while upper
	 * levels are rewritten soon and want the cheaper codec.
	 */
	LsmCompression compression; /* bottom; LSM_COMPRESSION_ZSTD */
	LsmCompression compression_upper;	/* level 0 and upper; LSM_COMPRESSION_LZ4 */
	int			compression_level;	/* zstd level; 3 */
	int			bloom_bits_per_key; /* 10; 0 disables the filter */
	/*
	 * Key-value separation (docs/design.md, "Blob files"), as WiscKey and
	 * RocksDB's BlobDB: a flush stores each PUT value of at least this
	 * many bytes in a blob file written beside the table, and the table
	 * keeps a small reference, so compactions rewrite references instead of
	 * values.  0 (the default): every value stays in the tree.
	 */
	size_t		blob_min_size;
	/*
	 * A compaction rewrites the values it meets of blob files holding at
	 * least this percentage of garbage (values no table references any
	 * more) into a new blob file; the old file goes when no table
	 * references it.  50 (bounding a blob file's garbage near its live
	 * data); 1..99.
	 */
	int			blob_gc_percent;
	size_t		block_cache_size;	/* bytes of decoded blocks; 8 MiB, 0 = none */
	bool		sync_writes;	/* fsync the WAL at every write; default true */
	LsmMergeFn	merge;			/* NULL: lsm_merge_int64_add */
	void	   *merge_arg;
	/*
	 * external_wal: a merge operand that would make its key's run of
	 * successive operands in the memtable a multiple of this is applied
	 * folded (the value a get would read) instead, so a get of a hot key
	 * folds at most this many per memtable (RocksDB's max_successive_merges).
	 * 0 (the default): never.
	 */
	uint32_t	merge_fold_every;

	/* compaction; docs/design.md, "Compaction", has the exact rules */
	LsmCompactStyle compaction_style;	/* LSM_COMPACT_LEVELED */
	bool		auto_compact;	/* compact after each flush; default true */
	int			l0_compaction_trigger;	/* L0 files (tiered: runs to merge); 8 */
	int			l0_slowdown_writes_trigger; /* L0 files (tiered: runs); 20, 0 = off */
	int			l0_stop_writes_trigger; /* L0 files (tiered: runs); 36, 0 = off */
	/*
	 * Leveled: a database opened with at least this many L0 files compacts
	 * them although fewer than l0_compaction_trigger, once, so that gets
	 * after a restart search one L0 file, not up to trigger - 1; until L0
	 * drops below it again.  0 = off (the default; hosts set 2).
	 */
	int			l0_open_compaction_trigger;
	uint64_t	max_bytes_for_level_base;	/* leveled: L1 target; 256 MiB */
	int			level_size_multiplier;	/* leveled: each level this x above; 10 */
	/*
	 * Leveled: size the levels from the bottom (the deepest level holding
	 * data keeps what it has; each level above targets a multiplier-th of
	 * the one below, up to the first at or below max_bytes_for_level_base,
	 * into which level 0 compacts), as RocksDB's
	 * level_compaction_dynamic_level_bytes: space amplification near 1.1
	 * for more rewriting.  Default false: the static shape, level n targets
	 * base x multiplier^(n-1) (docs/design.md, "Level shape").
	 */
	bool		level_dynamic;
	uint64_t	target_file_size;	/* outputs are cut past this; 16 MiB */
	uint64_t	soft_pending_compaction_bytes;	/* slowdown; 64 GiB, 0 = off */
	uint64_t	hard_pending_compaction_bytes;	/* stop; 256 GiB, 0 = off */
	uint64_t	slowdown_micros;	/* sleep per slowed-down write; 1000 */
	double		tiered_size_ratio;	/* tiered: "similar" = within this; 2.0 */
	int			tiered_max_merge_width; /* tiered: most runs per merge; 16 */
	LsmHorizonFn horizon_fn;	/* NULL: no readers outside this LsmDb */
	void	   *horizon_arg;
	LsmFileHorizonFn file_horizon_fn;	/* NULL: no files read from outside */
	void	   *file_horizon_arg;
	LsmFilterStartFn filter_start_fn;	/* NULL: no filter */
	LsmFilterFn filter_fn;		/* NULL: no compaction filter */
	void	   *filter_arg;

	/*
	 * Standalone: this many threads of the database's own flush frozen
	 * memtables and compact, as a host's workers do (background_flush):
	 * writers only freeze a full memtable and wake them, and wait through
	 * the env's wait hook when LSM_MAX_IMM memtables wait or writes stop.
	 * A flush or compaction that fails there sets the sticky error that
	 * makes every later write fail.  lsm_db_close stops and joins them.
	 * Overrides auto_compact; needs external_wal and background_flush off
	 * and no flush_wanted_fn (a host runs its own workers).  0 (the
	 * default): flush and compact in the writing thread; at most 64.
	 */
	int			background_threads;

	/* host mode (see above); all off by default */
	bool		external_wal;	/* no WAL: the host logs, lsm_db_write_at applies */
	bool		background_flush;	/* writers never flush; needs !auto_compact */
	LsmFlushWantedFn flush_wanted_fn;	/* NULL: nobody to wake */
	void	   *flush_wanted_arg;
	LsmPreFlushFn pre_flush_fn; /* NULL: nothing to make durable first */
	void	   *pre_flush_arg;
	LsmRegionAllocFn region_alloc;	/* NULL: lsm_malloc / lsm_free */
	LsmRegionFreeFn region_free;
	void	   *region_arg;
	/*
	 * Reader slots (env reader_slot): threads or processes numbered below
	 * this get without the database mutex; 64 bytes each.  64; 0 = none.
	 */
	int			reader_slots;
	LsmBlockCache *block_cache; /* shared, not owned; NULL: own cache */
	uint64_t	cache_id;		/* < 2^24, distinct among the open databases
								 * sharing block_cache; reusable once closed */
} LsmOptions;

/* Fill with the defaults above. */
extern void lsm_options_init(LsmOptions *opts);

/*
 * Open the database in directory path, creating it when allowed, and
 * recover: replay the MANIFEST, then every WAL record up to the first torn
 * or corrupt one.  What recovery dropped is reported through
 * lsm_db_recovery_report().  With external_wal only the MANIFEST is read
 * (log files in the directory are left alone); lsm_db_last_seq then tells
 * the host from where to re-apply its own log.
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

/*
 * Apply atomically: one WAL record, then the memtable.  With external_wal
 * it is LSM_INVALID_ARGUMENT: use lsm_db_write_at.
 */
extern LsmCode lsm_db_write(LsmDb *db, LsmBatch *batch, LsmStatus *st);

/*
 * The serialized form of a batch, as lsm_db_write_at takes it (valid until
 * the batch changes).  Its first 8 bytes are a sequence number field that
 * lsm_db_write_at ignores.
 */
extern LsmSlice lsm_batch_contents(const LsmBatch *b);

/*
 * external_wal: apply a batch the host has logged, atomically, giving its
 * entries the sequence numbers first_seq, first_seq + 1, ...  first_seq
 * must be above lsm_db_last_seq (gaps are fine: the host numbers the
 * batches of many databases from one counter), else LSM_INVALID_ARGUMENT.
 * Malformed contents are LSM_CORRUPTION; neither applies anything.  An
 * empty batch is a no-op.  Readers see the batch once this returns.
 */
extern LsmCode lsm_db_write_at(LsmDb *db, LsmSlice contents, LsmSeq first_seq,
							   LsmStatus *st);

/*
 * lsm_db_write_at that never waits: where it would wait for room, a write
 * stall or a slowdown it returns LSM_BUSY (st untouched) with nothing
 * applied.  For a host that applies while it holds a lock that a flush it
 * would wait for needs (background_flush only; otherwise always LSM_BUSY).
 */
extern LsmCode lsm_db_try_write_at(LsmDb *db, LsmSlice contents, LsmSeq first_seq,
								   LsmStatus *st);

/*
 * What a committer read before it wrote a merge operand: key's value at
 * read_seq was base (a found row, merge operands folded).  Passed with
 * the batch, sorted by key (bytewise, distinct keys), it lets the apply
 * write that operand as the value a get would read, base with the operand
 * folded in, when it can tell cheaply that nothing changed the key after
 * read_seq: the active memtable holds every entry above read_seq and none
 * of the key's.  Otherwise the operand goes in as it is.  A hint is a
 * promise: a wrong base is written as the row.  Later gets of the key
 * then stop in the memtable instead of folding down to an older table.
 * read_seq must be the point the get read at (LsmReadOptions.read_at).
 * This relies on nothing changing a key's value without a new sequence
 * number above the memtable's entries: a compaction filter that dropped
 * or rewrote a live row (TTL does; the host hints no TTL table, whose
 * increments take the read path) would make hints unsafe.
 */
typedef struct LsmBaseHint
{
	LsmSlice	key;
	LsmSeq		read_seq;
	LsmSlice	base;
} LsmBaseHint;

/*
 * lsm_db_write_at (nowait false) or lsm_db_try_write_at (nowait true)
 * with hints (n_hints of them; NULL and 0 for none).
 */
extern LsmCode lsm_db_write_at_hinted(LsmDb *db, LsmSlice contents, LsmSeq first_seq,
									  const LsmBaseHint *hints, int n_hints,
									  bool nowait, LsmStatus *st);

/*
 * The highest sequence number applied (readers see everything up to it).
 * Right after an external_wal open: the highest the tables hold, so the
 * host re-applies its log records above it.
 */
extern LsmSeq lsm_db_last_seq(LsmDb *db);

/*
 * Record durably (in the MANIFEST) that the database holds every entry up
 * to seq, so that lsm_db_last_seq says so after a reopen too: for a host
 * that replaced a truncated table by an empty one.  Lower seqs are a no-op.
 */
extern LsmCode lsm_db_raise_last_seq(LsmDb *db, LsmSeq seq, LsmStatus *st);

/*
 * Whether lsm_db_write fsyncs the WAL (overrides opts.sync_writes).  With
 * false, acknowledged writes survive a crash of the process (they are in
 * the OS page cache) but not of the machine until lsm_db_sync_wal, a
 * synced write, or close makes them durable.  Errors of lsm_db_sync_wal:
 * those of the WAL's fsync (LSM_IO_ERROR, and the writer stays failed).
 */
extern void lsm_db_set_sync_writes(LsmDb *db, bool sync);
extern LsmCode lsm_db_sync_wal(LsmDb *db, LsmStatus *st);

/*
 * Snapshots pin a sequence number: reads through one see exactly the
 * writes committed before it was taken.
 */
extern LsmSnapshot *lsm_db_snapshot(LsmDb *db);
extern void lsm_db_release_snapshot(LsmDb *db, LsmSnapshot *snap);
extern LsmSeq lsm_snapshot_seq(const LsmSnapshot *snap);

/*
 * What reads cost, for a caller that asks (LsmReadOptions.counters, e.g. the
 * host's EXPLAIN ANALYZE).  The engine adds to the caller's struct with
 * plain additions, so only the calling thread may use it while a get or an
 * iterator counting into it runs; an iterator counts into it until it is
 * destroyed, so it must outlive the iterator.  The database's own counters
 * (LsmDbStats) are kept either way.
 */
typedef struct LsmReadCounters
{
	uint64_t	gets;			/* lsm_db_get calls */
	uint64_t	memtable_hits;	/* gets answered by a memtable */
	uint64_t	sst_probes;		/* SSTables a get searched or an iterator opened */
	uint64_t	bloom_useful;	/* SSTables a get skipped thanks to the filter */
	uint64_t	bloom_not_useful;	/* filter said maybe, key absent */
	uint64_t	block_cache_hits;	/* data blocks found in the block cache */
	uint64_t	block_reads;	/* data blocks read from disk */
	uint64_t	merge_operands; /* merge operands gets folded */
} LsmReadCounters;

typedef struct LsmReadOptions
{
	const LsmSnapshot *snapshot;	/* NULL: the latest committed state */
	/*
	 * Read at this sequence number (0: latest).  The lowest of it, the
	 * snapshot's and the latest wins.  Unlike a snapshot it does not keep
	 * flush and compaction from dropping what it reads: the host's horizon_fn must
	 * cover it.
	 */
	LsmSeq		read_seq;
	/*
	 * lsm_db_get only, nullable: receives the sequence number of the newest
	 * entry of the key at the read point (a tombstone's or merge operand's
	 * too), 0 when there is none; for the host's write-conflict checks.
	 */
	LsmSeq	   *found_seq;
	/*
	 * lsm_db_get only, nullable: receives the sequence number the get read
	 * at (read_seq, or lower when the database had applied less): what a
	 * base hint (LsmBaseHint) must name.
	 */
	LsmSeq	   *read_at;
	/* Iterator bounds on user keys; data NULL = unbounded. */
	LsmSlice	lower_bound;	/* inclusive */
	LsmSlice	upper_bound;	/* exclusive */
	bool		fill_cache;		/* default true */
	LsmReadCounters *counters;	/* nullable: also count into this */
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
 * then drop WAL files no memtable needs.  Synchronous.  With auto_compact,
 * the compactions the flush made necessary run before it returns.  With
 * background_flush it writes, oldest first, every memtable holding writes
 * made before the call, waiting for a concurrent lsm_db_flush_pending.
 */
extern LsmCode lsm_db_flush(LsmDb *db, LsmStatus *st);

/*
 * Ingest: add finished SSTables to the database atomically (RocksDB's
 * IngestExternalFile).  Each of the n files at paths was written with the
 * SSTable builder (sstable.h) with sequence number 0 in every key, one entry
 * per user key, and they are in ascending, disjoint key order.  File i gets
 * sequence number first_seq + i for all its entries (0: last_seq + 1; else
 * it must be above lsm_db_last_seq, as for lsm_db_write_at), and readers at
 * a lower read point do not see it.  The memtables are flushed first (with
 * background_flush through the same path as lsm_db_flush), then the files
 * are renamed into the database directory under new numbers and one
 * MANIFEST edit adds them and raises the last sequence number: at the
 * bottom level when their range meets no file of the database, else at
 * level 0.  Errors before the edit give the files back under their paths;
 * after a failed MANIFEST append they stay in the directory (the next open
 * deletes them unless the MANIFEST names them).  A host that must redo an
 * ingest after a crash keeps its own hard link to each file.
 */
typedef struct LsmIngestResult
{
	int			level;			/* where the files went */
	LsmSeq		first_seq;		/* the number of the first file */
	int			files;
	uint64_t	entries;
	uint64_t	bytes;
} LsmIngestResult;

extern LsmCode lsm_db_ingest(LsmDb *db, const char *const *paths, int n,
							 LsmSeq first_seq, LsmIngestResult *out, LsmStatus *st);

/*
 * Background flush (background_flush): writers only freeze full memtables
 * (at most 4 wait; then, and while the region pool is full or a write stop
 * holds, writers sleep 1 ms at a time, calling flush_wanted_fn, and never
 * fail for lack of room).  A worker calls:
 *
 *	lsm_db_flush_needed		cheap: a frozen memtable is waiting
 *	lsm_db_flush_pending	write the oldest frozen memtable to level 0 and
 *							install it; *did false when there was none or
 *							another thread's flush is under way.  Writers
 *							and readers go on meanwhile: the write lock is
 *							taken only to install.  Errors: pre_flush_fn
 *							refusing (LSM_IO_ERROR), those of writing a
 *							table and the MANIFEST; none is sticky, the
 *							memtable stays frozen for a retry.
 *	lsm_db_compact_step		pick, run, install and release one compaction
 *							(*did: there was one); the write lock only to
 *							install.  Errors: those of the steps below.
 */
extern bool lsm_db_flush_needed(LsmDb *db);
/* Bytes of memtable regions the database holds, active and frozen. */
extern size_t lsm_db_memtable_bytes(LsmDb *db);
extern LsmCode lsm_db_flush_pending(LsmDb *db, bool *did, LsmStatus *st);
extern LsmCode lsm_db_compact_step(LsmDb *db, bool *did, LsmStatus *st);

/*
 * Compaction.  Automatic mode (auto_compact, the default) runs every
 * pending compaction synchronously in the thread that flushed, holding the
 * write lock, so writers wait while readers go on.  A host that drives
 * compaction itself (background workers) sets auto_compact to false and
 * calls, from any number of threads:
 *
 *	lsm_db_compaction_pick		choose the next compaction and reserve its
 *								input files (a cheap step under the mutex);
 *								LSM_NOT_FOUND when nothing is due or every
 *								due compaction's files are taken
 *	lsm_compaction_run			read the inputs and write the outputs; takes
 *								no lock, so writers and readers go on
 *	lsm_compaction_install		log the result to the MANIFEST and publish
 *								it (briefly takes the write lock)
 *	lsm_compaction_release		always, last: frees it and un-reserves its
 *								inputs; outputs of a run that was not
 *								installed are deleted
 *
 * Errors: pick returns LSM_NOT_FOUND (nothing to do; st untouched) or
 * LSM_NO_MEMORY; run returns LSM_IO_ERROR, LSM_NO_SPACE, LSM_CORRUPTION (a
 * bad input block) or LSM_NO_MEMORY; install returns LSM_INVALID_ARGUMENT
 * before a successful run, else the MANIFEST's errors (LSM_IO_ERROR,
 * LSM_NO_SPACE, LSM_NO_MEMORY) or LSM_CORRUPTION if the result would break
 * the version invariants (a bug).  None is sticky: the files stay as they
 * were and a later pick retries.  A write or flush that compacts (auto
 * mode, or a write stall's stop) returns the compaction's error the same
 * way, without having applied the batch.  Every compaction must be
 * released before lsm_db_close.  A trivial move needs no run; running it
 * is a no-op.
 */
typedef struct LsmCompactionInfo
{
	int			output_level;
	int			n_inputs;		/* input files, all levels */
	uint64_t	input_bytes;
	int			n_outputs;		/* after run */
	uint64_t	output_bytes;	/* after run */
	uint64_t	entries_dropped;	/* shadowed versions, tombstones, folded operands */
	bool		trivial_move;	/* a file moved down a level, nothing rewritten */
	bool		manual;			/* part of lsm_db_compact_range */
} LsmCompactionInfo;

/* Whether a compaction is due (cheap; for a scheduler deciding to wake a worker). */
extern bool lsm_db_compaction_needed(LsmDb *db);
extern LsmCode lsm_db_compaction_pick(LsmDb *db, LsmCompaction **c, LsmStatus *st);
extern LsmCode lsm_compaction_run(LsmCompaction *c, LsmStatus *st);
extern LsmCode lsm_compaction_install(LsmCompaction *c, LsmStatus *st);
extern void lsm_compaction_release(LsmCompaction *c);
extern void lsm_compaction_info(const LsmCompaction *c, LsmCompactionInfo *out);

/*
 * The number of the current version: it grows by one with every change to
 * the set of files (flush, compaction).  For LsmFileHorizonFn.
 */
extern uint64_t lsm_db_version_number(LsmDb *db);

/* Unlink the obsolete files the file horizon now allows (see above). */
extern void lsm_db_delete_obsolete_files(LsmDb *db);

/* Pick, run and install until nothing is due (what auto_compact does). */
extern LsmCode lsm_db_compact_pending(LsmDb *db, LsmStatus *st);

/*
 * Compact every file holding keys in [lower, upper) (data NULL = unbounded
 * on that side) down to the bottom level: the memtable is flushed first,
 * then all those files, on every level, are merged in one compaction into
 * the bottom level (leveled: the deepest non-empty level, at least 1;
 * tiered: level 6), dropping what no snapshot or outside reader can see.  Files that only partly overlap the
 * range are rewritten whole (as are other files the merge must take along
 * so that every version of its keys moves together, docs/design.md).
 * Waits for running compactions that hold files it needs.  Errors: those
 * of lsm_db_flush and of the compaction steps above.  For
 * lsm_fdw_compact().
 */
extern LsmCode lsm_db_compact_range(LsmDb *db, LsmSlice lower, LsmSlice upper,
									LsmStatus *st);

/*
 * lsm_db_compact_range, also describing the manual compaction in *info
 * (zeroed, n_inputs 0, when the range held nothing to compact).
 */
extern LsmCode lsm_db_compact_range_info(LsmDb *db, LsmSlice lower, LsmSlice upper,
										 LsmCompactionInfo *info, LsmStatus *st);

/*
 * When a blob file the tables reference holds garbage, one more manual
 * compaction of everything, moving the live values of every such blob
 * file (whatever blob_gc_percent says) to new ones, so that all of them
 * go.  After lsm_db_compact_range, which drops the references that make
 * garbage, this gives the space back (lsm_fdw_compact()).  *info as
 * above; zeroed when there was nothing to do.
 */
extern LsmCode lsm_db_compact_blob_garbage(LsmDb *db, LsmCompactionInfo *info,
										   LsmStatus *st);
/* (errors: those of lsm_db_flush and of the compaction steps above) */

/*
 * Verify every SSTable: checksums of every block and order of every key.
 * Reports the first problem found.
 */
extern LsmCode lsm_db_verify(LsmDb *db, LsmStatus *st);

/* What lsm_db_checkpoint copied. */
typedef struct LsmCheckpointInfo
{
	uint64_t	files;			/* SSTables copied */
	uint64_t	bytes;			/* their bytes */
	LsmSeq		last_seq;		/* the copy holds every entry up to this */
} LsmCheckpointInfo;

/*
 * Copy the current SSTables into dir (created if missing) with a MANIFEST
 * and CURRENT of their own, while the database stays in use: a consistent
 * copy of what its tables hold (not its memtables).  With external_wal the
 * host replays its log above out->last_seq into a copy it opens.
 */
extern LsmCode lsm_db_checkpoint(LsmDb *db, const char *dir, LsmCheckpointInfo *out,
								 LsmStatus *st);

/* What lsm_db_verify_all checked. */
typedef struct LsmVerifyResult
{
	uint64_t	files;			/* SSTables checked */
	uint64_t	bytes;			/* their size */
	uint64_t	blocks;			/* data blocks read and checked */
	uint64_t	blocks_by_codec[3]; /* of those, stored as LsmCompression i */
	uint64_t	entries;		/* entries in those blocks */
	uint64_t	problems;		/* files (or the version itself) found damaged */
} LsmVerifyResult;

/* Called once per problem, with the first problem of one file. */
typedef void (*LsmVerifyProblemFn) (void *arg, const LsmStatus *problem);

/*
 * Verify like lsm_db_verify, but go on past a damaged file: every problem
 * (LSM_CORRUPTION, LSM_IO_ERROR, LSM_NOT_FOUND of one file, or a broken
 * version invariant) is counted in out->problems and passed to fn
 * (nullable), and the check goes on with the next file.  Returns LSM_OK
 * when every file could be checked, damaged or not; an error
 * (LSM_NO_MEMORY) only when the check itself could not go on.
 */
extern LsmCode lsm_db_verify_all(LsmDb *db, LsmVerifyResult *out,
								 LsmVerifyProblemFn fn, void *arg, LsmStatus *st);

/*
 * Counters the engine keeps: cumulative since open, except the shape
 * fields (per level, memtables, runs, pending bytes), which describe now.
 */
typedef struct LsmDbStats
{
	uint64_t	files_per_level[LSM_NUM_LEVELS];
	uint64_t	bytes_per_level[LSM_NUM_LEVELS];
	uint64_t	entries_per_level[LSM_NUM_LEVELS];	/* from table properties */
	uint64_t	tombstones_per_level[LSM_NUM_LEVELS];
	uint64_t	sorted_runs;	/* L0 files + non-empty deeper levels */
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
	uint64_t	flushes;		/* memtables written as level-0 tables */
	uint64_t	bytes_flushed;
	uint64_t	flush_entries_dropped;	/* versions no read point needs */
	/* own WAL: its bytes; external_wal: bytes of the batches applied */
	uint64_t	bytes_written_wal;
	uint64_t	bytes_compacted_written;
	uint64_t	bytes_compacted_read;
	uint64_t	compactions;	/* installed, trivial moves included */
	uint64_t	trivial_moves;
	uint64_t	compaction_entries_dropped;
	uint64_t	filter_entries_dropped; /* PUTs the compaction filter dropped */
	uint64_t	filter_bytes_dropped;	/* their key + value bytes */
	uint64_t	compaction_failures;	/* runs or installs that failed */
	uint64_t	pending_compaction_bytes;	/* estimate; docs/design.md */
	uint64_t	running_compactions;
	uint64_t	stall_slowdowns;
	uint64_t	stall_stops;
	uint64_t	stall_micros;
	uint64_t	memtable_waits; /* writes that waited for a flush (background) */
	uint64_t	memtable_wait_micros;
	uint64_t	ingested_files; /* SSTables added by lsm_db_ingest */
	uint64_t	merge_folds;	/* operands applied folded (merge_fold_every) */
	uint64_t	merge_base_folds;	/* operands applied folded over a hint */
	/* blob files (blob_min_size); the shape fields describe now */
	uint64_t	blob_files;		/* referenced by the current version */
	uint64_t	blob_bytes;		/* value bytes they hold */
	uint64_t	blob_live_bytes;	/* of those, what its tables reference */
	uint64_t	blob_file_bytes;	/* the blob files' size on disk */
	uint64_t	blob_files_written; /* by flushes and relocating compactions */
	uint64_t	bytes_blob_written; /* their size on disk */
	uint64_t	bytes_blob_relocated;	/* value bytes compactions moved */
	uint64_t	blob_reads;		/* values read from blob files */
	uint64_t	blob_dict_bytes;	/* the dictionary new zstd blob files get; 0: none yet */
	/* (wal + flushed + compacted bytes) / wal bytes; 0 before any write */
	double		write_amplification;
	/* tables probed per get: sst_probes / gets; 0 before any get */
	double		read_amplification;
} LsmDbStats;

extern void lsm_db_stats(LsmDb *db, LsmDbStats *out);

#endif							/* LSM_H */
