/*
 * db_internal.h
 *		The database object's insides, shared by db.c and db_iter.c and
 *		visible to white-box tests; nothing outside the engine includes it.
 *
 * Locking (see also version.h):
 *
 *	write_mu	serialises writers and everything that changes the set of
 *				memtables or files: lsm_db_write, flush, version edits
 *				(compaction installs included).  It is held across WAL
 *				writes and fsyncs and across a synchronous flush, so a
 *				write that triggers a flush makes the other writers wait
 *				(background_flush, below, takes flushes out of it).  With
 *				auto_compact the compactions a flush makes due run under it
 *				as well; compactions driven through lsm_compaction_run hold
 *				no lock while they merge and take write_mu only to install.
 *	mu			protects the pointer to the current superversion, every
 *				reference count (superversions, memtables, versions),
 *				last_seq, the snapshot list, the version set's lists, and
 *				the compaction bookkeeping (running list, compacting marks
 *				on files, compact pointers, pressure).  It is held for a few
 *				instructions at a time and never across I/O, so readers are
 *				never stuck behind a writer's fsync or a compaction.
 *
 * Order: write_mu before mu.  Readers take only mu, to pin a superversion
 * and read last_seq in one step; they then read memtables (lock-free, see
 * memtable.h) and tables without any lock.
 *
 * Background flush (host mode) changes what write_mu covers: writers only
 * freeze memtables, and lsm_db_flush_pending writes a frozen one holding
 * no lock, then takes write_mu only to install the result.  The flushing
 * flag (mu) lets one flush run at a time, which is what keeps the frozen
 * memtable it works on the oldest one until it installs: nothing else
 * removes immutable memtables in that mode.
 */
#ifndef LSM_DB_INTERNAL_H
#define LSM_DB_INTERNAL_H

#include "lsm.h"
#include "block_cache.h"
#include "memtable.h"
#include "sstable.h"
#include "version.h"
#include "wal.h"

/* The standalone database's own threads (db_background.c). */
typedef struct LsmBackground LsmBackground;

/* Most immutable memtables waiting for flush at once. */
#define LSM_MAX_IMM 4

/*
 * A memtable and its region (lsm_malloc'd, or the host's region_alloc;
 * size is what was asked for).  log_number is the first WAL file
 * holding its entries: once it is flushed, logs below the next memtable's
 * log_number are no longer needed.  refs: superversions using it (mu).
 */
typedef struct LsmMemRef
{
	LsmMemTable *mt;
	void	   *region;
	size_t		size;
	uint64_t	log_number;
	int			refs;
} LsmMemRef;

/*
 * What a reader needs, pinned in one step: the active memtable, the
 * immutable ones (newest first) and the version.  Immutable: a change
 * installs a new superversion.  refs under mu.
 */
typedef struct LsmSuperVersion
{
	int			refs;
	LsmMemRef  *mem;
	int			n_imm;
	LsmMemRef  *imm[LSM_MAX_IMM];
	LsmVersion *version;
} LsmSuperVersion;

/*
 * A reader slot: the superversion one thread (or process) keeps pinned for
 * its gets, and the get counters only it bumps.  sv is a tagged pointer:
 *
 *	0			empty
 *	p			p cached: the slot holds one reference to p
 *	p | IN_USE	a get of the owner uses p (the reference is the get's now)
 *	p | STALE	as IN_USE, but a newer superversion was installed meanwhile:
 *				whoever ends the get drops the reference
 *
 * The owner moves p -> p|IN_USE -> p; an install (under mu) moves p -> 0,
 * dropping the reference, and p|IN_USE -> p|STALE; each by compare and
 * swap, so exactly one side drops each reference.  A get that never ended
 * (a host's ERROR in a merge callback longjmps out of it) leaves IN_USE or
 * STALE behind, which the owner's next get (or close) takes over, so no
 * reference leaks.  Only the owner writes the counters (relaxed atomics, no
 * lock prefix); lsm_db_stats sums them.  One cache line each.
 */
#define LSM_SLOT_IN_USE	((uintptr_t) 1)
#define LSM_SLOT_STALE	((uintptr_t) 2)
#define LSM_SLOT_TAGS	((uintptr_t) 3)

typedef struct LsmReaderSlot
{
	uintptr_t	sv;
	uint64_t	gets;
	uint64_t	memtable_hits;
	uint64_t	sst_probes;
	uint64_t	bloom_useful;
	uint64_t	bloom_not_useful;
	uint64_t	block_cache_hits;
	uint64_t	block_reads;
} __attribute__((aligned(64))) LsmReaderSlot;

/*
 * What compaction and write stalls work from, computed for the current
 * version whenever a superversion is installed (lsm_compaction_pressure).
 * Written under write_mu and mu together, so holding either reads it.
 */
typedef struct LsmPressure
{
	bool		due;			/* a compaction should run */
	int			stall_count;	/* leveled: level-0 files; tiered: sorted runs */
	uint64_t	pending_bytes;	/* estimate, see compaction.c */
} LsmPressure;

struct LsmSnapshot
{
	LsmSeq		seq;
	LsmSnapshot *prev;
	LsmSnapshot *next;
};

#define LSM_BLOB_READERS_HASH 64

struct LsmDb
{
	LsmOptions	opts;			/* env and merge filled in */
	LsmEnv	   *env;
	char	   *dir;
	LsmSstOptions topts;
	LsmMutex   *mu;
	LsmMutex   *write_mu;
	LsmBlockCache *cache;		/* NULL when block_cache_size is 0; a view
								 * of opts.block_cache when that is set */
	LsmVersionSet *vs;

	/* readers of blob files (blob.c), under blob_mu, a leaf lock */
	LsmMutex   *blob_mu;
	struct LsmBlobReader *blob_readers[LSM_BLOB_READERS_HASH];
	/* the dictionary new zstd blob files use (dict.h), also under blob_mu */
	uint8_t    *blob_dict;		/* NULL until the first is trained */
	size_t		blob_dict_len;
	uint64_t	blob_dict_key;
	int			blob_dict_samples;	/* values it was trained from (0: adopted) */
	double		blob_dict_ratio;	/* stored / raw of its first file; 0: none yet */

	/* under mu (written with write_mu held as well) */
	LsmSuperVersion *sv;
	LsmSeq		last_seq;		/* highest sequence number readers may see */
	LsmSnapshot snapshots;		/* list head, oldest first */
	bool		flushing;		/* a background flush is under way */

	/* under write_mu */
	LsmLogWriter *log;			/* NULL after a WAL failure: next write opens one */
	uint64_t   *old_logs;		/* closed WAL files not yet deleted */
	int			n_old_logs;
	int			cap_old_logs;
	LsmStatus	bg_error;		/* sticky: writes refused until reopen */

	/*
	 * Every entry above hint_floor is in the active memtable (a base hint
	 * read at or above it sees, in that memtable alone, whether its key
	 * changed since; db_write.c).  Raised to last_seq by a new active
	 * memtable and by an ingest.  Written with mu held as well.
	 */
	LsmSeq		hint_floor;

	uint64_t	flushes;		/* tables flushed so far */

	/* compaction, under mu (pressure: see LsmPressure) */
	LsmCompaction *running;		/* picked and not yet released */
	int			n_running;
	LsmBuf		compact_ptr[LSM_NUM_LEVELS];	/* leveled: where the next pick starts */
	LsmPressure pressure;
	/*
	 * The L0 trigger in force: l0_compaction_trigger, or the lower
	 * l0_open_compaction_trigger from an open until L0 is compacted below
	 * it.  Like pressure: written under write_mu and mu together.
	 */
	int			l0_trigger;

	/* obsolete files waiting for the host's file horizon; mu */
	LsmFileMeta **deferred;
	uint64_t   *deferred_retire;	/* version number current when obsoleted */
	int			n_deferred;
	int			cap_deferred;

	LsmRecoveryReport recovery;

	/* counters, updated with atomic adds */
	LsmDbStats	stats;

	/* opts.reader_slots of them (NULL if 0), cache-line aligned; see above */
	LsmReaderSlot *slots;
	void	   *slots_mem;		/* what was allocated for them */

	/* background_threads' state; set at open, cleared at close */
	LsmBackground *bg;
};

/* Add to a stats counter from any thread. */
#define LSM_STAT_ADD(db, field, n) \
	__atomic_fetch_add(&(db)->stats.field, (uint64_t) (n), __ATOMIC_RELAXED)

/* in db.c */

/* Oldest sequence number a live snapshot reads (last_seq when none); mu. */
extern LsmSeq lsm_db_oldest_snapshot_locked(LsmDb *db);

/*
 * Log edit to the MANIFEST and publish the resulting version to readers
 * (a new superversion with the same memtables).  Takes write_mu; the
 * _locked form expects the caller to hold it.
 */
extern LsmCode lsm_db_apply_edit(LsmDb *db, LsmVersionEdit *edit, LsmStatus *st);
extern LsmCode lsm_db_apply_edit_locked(LsmDb *db, LsmVersionEdit *edit,
										LsmStatus *st);

/*
 * Called with mu held: release mu, then delete the files no version lists
 * any more (unlinking is I/O and must not block readers).
 */
extern void lsm_db_unlock_and_delete_obsolete(LsmDb *db);

/* in db.c, for the db_*.c files: memtable references, superversions */
extern void lsm_db_region_put(LsmDb *db, void *p, size_t size);
extern LsmCode lsm_db_memref_new(LsmDb *db, size_t need, uint64_t log_number, LsmMemRef **out,
		   bool *pool_full, bool first, LsmStatus *st);
extern void lsm_db_memref_unref(LsmDb *db, LsmMemRef *m);
extern void lsm_db_sv_unref_locked(LsmDb *db, LsmSuperVersion *sv);
extern LsmCode lsm_db_get_applying(LsmDb *db, LsmSlice key, LsmSeq seq,
								   LsmBuf *value, LsmStatus *st);
extern void lsm_db_install_sv(LsmDb *db, LsmSuperVersion *nsv, LsmMemRef *mem, LsmMemRef **imm,
		   int n_imm);
extern LsmCode lsm_db_sv_alloc(LsmSuperVersion **nsv, LsmStatus *st);
extern LsmSuperVersion *lsm_db_pin_sv(LsmDb *db, LsmSeq *seq);
extern void lsm_db_unpin_sv(LsmDb *db, LsmSuperVersion *sv);
/* The calling thread's slot, or NULL: then pin with lsm_db_pin_sv. */
extern LsmReaderSlot *lsm_db_reader_slot(LsmDb *db);
/* Pin through a slot without mu, and give the pin back. */
extern LsmSuperVersion *lsm_db_slot_pin(LsmDb *db, LsmReaderSlot *s, LsmSeq *seq);
extern void lsm_db_slot_unpin(LsmDb *db, LsmReaderSlot *s, LsmSuperVersion *sv);
/* Drop every slot's reference (under mu); at close, stale ones only else. */
extern void lsm_db_scrape_slots_locked(LsmDb *db, bool closing);

/* in db_flush.c, for the db_*.c files: WAL files, room for writes, flushes */
extern LsmCode lsm_db_open_new_log(LsmDb *db, LsmLogWriter **w, LsmStatus *st);
extern void lsm_db_remember_old_log(LsmDb *db, uint64_t number);
extern void lsm_db_retire_log(LsmDb *db);
extern void lsm_db_delete_old_logs(LsmDb *db);
extern LsmCode lsm_db_flush_imm(LsmDb *db, LsmStatus *st);
extern LsmCode lsm_db_refuse_write(LsmDb *db, LsmStatus *st);
extern LsmCode lsm_db_switch_memtable(LsmDb *db, size_t need, bool new_log, bool *pool_full, LsmStatus *st);
extern LsmCode lsm_db_make_room(LsmDb *db, size_t need, bool new_log, LsmStatus *st);
extern LsmCode lsm_db_room_background(LsmDb *db, size_t need, bool *froze, LsmStatus *st);

/* in db_background.c: the threads of background_threads */
extern LsmCode lsm_db_bg_check_options(const LsmOptions *o, LsmStatus *st);
extern LsmCode lsm_db_bg_start(LsmDb *db, LsmStatus *st);
extern void lsm_db_bg_stop(LsmDb *db);
extern void lsm_db_bg_wake(LsmDb *db);
extern void lsm_db_bg_flush_wanted(void *arg);
extern void lsm_db_bg_flush_interleaved(LsmDb *db);

/* in db_write.c, for WAL replay in db_open.c */
extern LsmCode lsm_db_insert_entry(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
			 LsmStatus *st);
extern LsmCode lsm_db_batch_room(LsmSlice contents, size_t *need, LsmStatus *st);

/* in compaction.c */

/* Fill out for version v under options o; O(files). */
extern void lsm_compaction_pressure(const LsmOptions *o, int l0_trigger,
									const LsmVersion *v, LsmPressure *out);

/*
 * Pick, run, install and release one compaction (*did: there was one).
 * have_write_mu: the caller holds write_mu (a writer compacting inline).
 */
extern LsmCode lsm_db_compact_one(LsmDb *db, bool have_write_mu, bool *did,
								  LsmStatus *st);
/* The same until nothing is due. */
extern LsmCode lsm_db_compact_until_done(LsmDb *db, bool have_write_mu,
											 LsmStatus *st);

/* Whether a running compaction writes level with a range meeting [lo, hi]; mu. */
extern bool lsm_db_output_conflict_locked(LsmDb *db, int level, LsmSlice lo,
										  LsmSlice hi);
/* LSM_INVALID_ARGUMENT for compaction options the pickers cannot use. */
extern LsmCode lsm_compaction_check_options(const LsmOptions *o, LsmStatus *st);

/* in db_iter.c */

/* Called once by the user-level iterator's destroy, to release what it pins. */
typedef void (*LsmDbIterCleanup) (void *arg);

/*
 * Wrap internal (an iterator over internal keys, owned from here on) into
 * the user-level iterator: user keys in [lower, upper) (data NULL =
 * unbounded; both copied), each live key once, its value folded with merge,
 * versions above seq and tombstones hidden.  cleanup(cleanup_arg) runs at
 * destroy, also when this call fails.  Values of BLOB entries are read
 * from db's blob files, counting into stats (nullable).  NULL when out of
 * memory.
 */
extern LsmIter *lsm_db_iter_new(LsmIter *internal, LsmSeq seq,
								LsmSlice lower, LsmSlice upper,
								LsmMergeFn merge, void *merge_arg,
								LsmDb *db, LsmReadStats *stats,
								LsmDbIterCleanup cleanup, void *cleanup_arg);

#endif							/* LSM_DB_INTERNAL_H */
