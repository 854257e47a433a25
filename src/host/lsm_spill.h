/*
 * lsm_spill.h
 *		A transaction's writes to one table spilled to sorted runs, and the
 *		files a bulk commit ingests (spill.c; docs/design.md "Bulk loading").
 */
#ifndef LSM_SPILL_H
#define LSM_SPILL_H

#include "postgres.h"

#include "lsm.h"
#include "memtable.h"
#include "sstable.h"

typedef struct LsmSpill LsmSpill;

extern int	lsm_spill_threshold;	/* kB, lsm_fdw.spill_threshold */
extern int	lsm_debug_ingest_delay;	/* ms, lsm_fdw.debug_ingest_delay (tests) */

/* $PGDATA/lsm_fdw/bulk: runs and bulk files; emptied at every start. */
extern char *lsm_bulk_dir(void);

/*
 * Write every entry of ops (internal keys, op numbers as sequence numbers:
 * the transaction's index, or its op log sorted) as a new run.  ops was
 * made with engine allocations private; this destroys it.
 */
extern LsmSpill *lsm_spill_add_run(LsmSpill *sp, LsmIter *ops);
extern int	lsm_spill_nruns(const LsmSpill *sp);
extern uint64 lsm_spill_bytes(const LsmSpill *sp);

/*
 * The newest entry of key among ops 1..upto in the runs: true with its op
 * number, kind and a copy of its value (palloc'd in the current context).
 */
extern bool lsm_spill_lookup(LsmSpill *sp, LsmSlice key, uint64 upto,
							 LsmParsedKey *pk, LsmSlice *value);

/* Iterators over the runs (internal keys), appended to children. */
extern int	lsm_spill_iters(LsmSpill *sp, LsmIter **children);

/*
 * Merge the runs and ops (the ops not in a run, as for lsm_spill_add_run,
 * which this destroys) into ingestable files in the bulk directory: of each
 * key its newest op, ops up to hidden left out, sequence number 0.
 * Returns the number of files; *paths palloc'd in TopTransactionContext.
 */
extern int	lsm_spill_build(LsmSpill *sp, LsmIter *ops, uint64 hidden,
							const LsmSstOptions *so, char ***paths);

/* The format of a table's bulk files (its bottom level's, zstd at level 1). */
extern void lsm_bulk_file_options(Oid relid, LsmSstOptions *so);

/*
 * The loop of lsm_spill_build over one key range: from the first key >= lo
 * (NULL: the first) to before hi (NULL: the end) of it, a merge of runs.
 * on_file gets each new file's path before the file is made (false: no
 * room to record it, the range fails).  Returns
 * LSM_INTERRUPTED on a cancel or a termination, left for the caller to take.
 */
typedef bool (*LsmBulkFileFn) (void *arg, const char *path);
extern LsmCode lsm_bulk_write_range(LsmIter *it, const LsmSlice *lo, const LsmSlice *hi,
									uint64 hidden, const LsmSstOptions *so,
									LsmBulkFileFn on_file, void *arg, LsmStatus *st);

/* A commit's files, in TopTransactionContext; lsm_bulk_list_add is an LsmBulkFileFn. */
typedef struct LsmBulkList
{
	char	  **paths;
	int			n;
	int			cap;
} LsmBulkList;
extern bool lsm_bulk_list_add(void *arg, const char *path);

/* Remove a failed commit's files (unless a backup is copying the directory). */
extern void lsm_bulk_unlink(char **paths, int n);

/*
 * bulk_build.c: the files of a commit from runs (open readers), cut into
 * key ranges that background workers write beside the backend.  Returns the
 * number of files, in key order, *paths palloc'd in TopTransactionContext.
 */
extern int	lsm_bulk_build_workers;	/* lsm_fdw.bulk_build_workers */
extern int	lsm_debug_bulk_build_fault;	/* lsm_fdw.debug_bulk_build_fault (tests) */
extern int	lsm_bulk_build_parallel(char **run_paths, LsmSst **runs, int nruns,
									uint64 hidden, const LsmSstOptions *so,
									char ***paths);

/* Close and remove the runs (transaction end); NULL is fine. */
extern void lsm_spill_discard(LsmSpill *sp);

/* Remove every file of the bulk directory but those kept (start, after replay). */
extern void lsm_bulk_sweep(void);
extern void lsm_bulk_keep(const char *name);

/* Run fn with engine allocations in process memory (spill.c objects). */
extern void lsm_alloc_private_begin(void);
extern void lsm_alloc_private_end(void);

#endif							/* LSM_SPILL_H */
