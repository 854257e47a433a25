/*
 * version.h
 *		Which SSTables make up the database: file metadata, version edits,
 *		immutable versions and the version set with its MANIFEST.
 *
 * A version is an immutable snapshot of the live files, per level.  Every
 * change to the set of files (a flush adds an L0 file; a compaction
 * deletes inputs and adds outputs) is a version edit: it is appended to the
 * MANIFEST, synced, and only then applied in memory to produce a new
 * current version.  Readers pin the version they started with, so a file
 * removed from the current version stays on disk, and open, until the last
 * version that lists it is released; only then is it obsolete and deleted.
 *
 * Level 0 holds flushed memtables, newest first, which may overlap in key
 * range but never in sequence numbers.  Levels 1 and deeper are sorted by
 * smallest key and do not overlap, so a point get reads one file per level.
 * lsm_version_check_invariants() states these rules in code.
 *
 * Locking.  The version set does not serialise edits itself: the caller
 * runs at most one lsm_versionset_log_and_apply() at a time (the database's
 * write lock, which flushes and compaction installs both take).  The mutex
 * passed to lsm_versionset_create (the database mutex) protects the pointer
 * to the current version, the reference counts of versions and files, the list of
 * live versions and the obsolete-file list; log_and_apply takes it only for
 * the instant it installs the new version.  Functions documented "caller
 * holds mu" must be called with that mutex held.
 */
#ifndef LSM_VERSION_H
#define LSM_VERSION_H

#include <stdbool.h>
#include <stdint.h>

#include "lsm.h"
#include "block_cache.h"
#include "sstable.h"
#include "wal.h"

/* Longest path the engine builds (directory + "/" + file name). */
#define LSM_PATH_MAX 4096

/* Kinds of files in a database directory (docs/format.md). */
typedef enum LsmFileType
{
	LSM_FILE_TABLE,				/* NNNNNN.sst */
	LSM_FILE_BLOB,				/* NNNNNN.blob, values out of the tree (blob.h) */
	LSM_FILE_LOG,				/* NNNNNN.log, the write-ahead log */
	LSM_FILE_MANIFEST,			/* MANIFEST-NNNNNN */
	LSM_FILE_CURRENT,			/* CURRENT: names the live MANIFEST */
	LSM_FILE_TEMP				/* CURRENT.tmp, being written */
} LsmFileType;

/*
 * Build dir/<name of file type with number>; false when it does not fit in
 * LSM_PATH_MAX bytes.
 */
extern bool lsm_file_path(char *out, const char *dir, LsmFileType type,
						  uint64_t number);

/* Recognise a directory entry; false for names the engine did not write. */
extern bool lsm_parse_file_name(const char *name, LsmFileType *type,
								uint64_t *number);

/*
 * One SSTable.  Everything but refs, table and compacting is fixed when the
 * file is written.  refs counts the versions listing the file (caller
 * holds mu); table is the reader, opened on first use by
 * lsm_versionset_table() and closed when the file's last version goes
 * away.  compacting is set (under the database mutex) while a picked
 * compaction holds the file as an input, so that no second compaction
 * takes it; it lives in memory only and is not copied by edits.
 */
typedef struct LsmFileMeta
{
	uint64_t	number;
	int			level;
	uint64_t	size;			/* bytes on disk */
	LsmBuf		smallest;		/* smallest internal key */
	LsmBuf		largest;		/* largest internal key */
	LsmSeq		min_seq;
	LsmSeq		max_seq;
	uint64_t	entries;
	uint64_t	tombstones;
	LsmSeq		global_seq;		/* ingested: every entry's number; 0: stored */
	struct LsmBlobUse *blobs;	/* blob files referenced, by number (blob.h) */
	int			n_blobs;
	int			refs;
	LsmSst   *table;			/* NULL until opened; set once, atomically */
	bool		compacting;		/* an unfinished compaction holds it; db mu */
} LsmFileMeta;

/* The user-key range of a file, borrowing from its meta. */
static inline LsmSlice
lsm_file_smallest_user_key(const LsmFileMeta *f)
{
	return lsm_ikey_user_key(lsm_buf_slice(&f->smallest));
}

static inline LsmSlice
lsm_file_largest_user_key(const LsmFileMeta *f)
{
	return lsm_ikey_user_key(lsm_buf_slice(&f->largest));
}

/* A file an edit removes from a level. */
typedef struct LsmDeletedFile
{
	int			level;
	uint64_t	number;
} LsmDeletedFile;

/*
 * A change to the version set.  Scalar fields are optional (has_*); a
 * snapshot edit, written first in every MANIFEST, sets all three and adds
 * every live file.  Added files are owned by the edit (their refs and table
 * are unused).
 */
typedef struct LsmVersionEdit
{
	bool		has_log_number;
	uint64_t	log_number;		/* WAL files numbered below are not needed */
	bool		has_next_file_number;
	uint64_t	next_file_number;
	bool		has_last_seq;
	LsmSeq		last_seq;
	LsmDeletedFile *deleted;
	int			n_deleted;
	int			cap_deleted;
	LsmFileMeta *added;
	int			n_added;
	int			cap_added;
} LsmVersionEdit;

extern void lsm_edit_init(LsmVersionEdit *e);
extern void lsm_edit_free(LsmVersionEdit *e);
extern void lsm_edit_set_log_number(LsmVersionEdit *e, uint64_t n);
extern void lsm_edit_set_next_file_number(LsmVersionEdit *e, uint64_t n);
extern void lsm_edit_set_last_seq(LsmVersionEdit *e, LsmSeq seq);
extern LsmCode lsm_edit_delete_file(LsmVersionEdit *e, int level, uint64_t number,
									LsmStatus *st);
/* Copy f (keys included) into the edit as a file added at level. */
extern LsmCode lsm_edit_add_file(LsmVersionEdit *e, int level,
								 const LsmFileMeta *f, LsmStatus *st);

/* Serialize (docs/format.md, "MANIFEST and CURRENT"); appends to out. */
extern LsmCode lsm_edit_encode(const LsmVersionEdit *e, LsmBuf *out, LsmStatus *st);
/*
 * Parse an encoded edit into e (initialised here).  Truncated fields,
 * unknown tags, repeated scalars, impossible levels and malformed keys are
 * LSM_CORRUPTION; e is left empty then.
 */
extern LsmCode lsm_edit_decode(LsmVersionEdit *e, LsmSlice in, LsmStatus *st);

/*
 * An immutable set of files.  files[level] is an array of n_files[level]
 * pointers: level 0 newest first (highest sequence numbers first), deeper
 * levels in ascending key order.
 */
typedef struct LsmVersionSet LsmVersionSet;

typedef struct LsmVersion
{
	LsmVersionSet *vs;			/* NULL for a version outside any set (tests) */
	uint64_t	number;			/* set when installed: 1, 2, ... per open; 0 before */
	int			refs;			/* caller holds mu */
	LsmFileMeta **files[LSM_NUM_LEVELS];
	int			n_files[LSM_NUM_LEVELS];
	struct LsmVersion *prev;	/* the set's list of live versions */
	struct LsmVersion *next;
} LsmVersion;

/* An empty version with one reference, outside any set; NULL on OOM. */
extern LsmVersion *lsm_version_new_empty(void);

/*
 * Build base + edit as a new version with refs = 1, outside any set (the
 * version set links its own).  Deleting a file that is not there, adding a
 * file number twice, or a result that breaks the invariants is
 * LSM_CORRUPTION.
 */
extern LsmCode lsm_version_apply(const LsmVersion *base, const LsmVersionEdit *edit,
								 LsmVersion **out, LsmStatus *st);

/*
 * Check the shape rules: per-file key and sequence ranges are ordered;
 * level 0 is sorted newest first with disjoint sequence ranges; levels >= 1
 * are sorted by key with no user key in two files; no file number appears
 * twice.  LSM_CORRUPTION describing the first violation.
 */
extern LsmCode lsm_version_check_invariants(const LsmVersion *v, LsmStatus *st);

/*
 * The versions still referenced (current included), to walk under mu:
 * for (v = lsm_versionset_live_head(vs); v; v = lsm_versionset_live_next(vs, v)).
 */
extern LsmVersion *lsm_versionset_live_head(LsmVersionSet *vs);
extern LsmVersion *lsm_versionset_live_next(LsmVersionSet *vs, LsmVersion *v);
/* Files whose last version went away, not yet taken for deletion; mu. */
extern void lsm_versionset_obsolete_list(LsmVersionSet *vs, LsmFileMeta *const **files,
										 int *n);

/* Sum of file sizes at level. */
extern uint64_t lsm_version_level_bytes(const LsmVersion *v, int level);
/* Highest max_seq of any file (0 when empty). */
extern LsmSeq lsm_version_max_seq(const LsmVersion *v);

/*
 * Index of the first file at level >= 1 whose largest user key is >=
 * user_key (n_files[level] when none): the only file there that can hold
 * user_key, when its smallest user key is <= user_key.
 */
extern int	lsm_version_find_file(const LsmVersion *v, int level, LsmSlice user_key);

/* Take and drop references; caller holds mu (for a set's versions). */
extern void lsm_version_ref(LsmVersion *v);
extern void lsm_version_unref(LsmVersion *v);

/*
 * The version set: the current version, the live versions readers still
 * hold, the counters persisted in the MANIFEST, and the MANIFEST writer.
 */
struct LsmVersionSet
{
	LsmEnv	   *env;
	char	   *dir;
	LsmMutex   *mu;				/* the database mutex; see the file header */
	LsmBlockCache *cache;		/* nullable; for tables the set opens */

	/* persisted in every edit; written by the edit-serialised caller */
	uint64_t	next_file_number;	/* atomic: lsm_versionset_new_file_number */
	uint64_t	log_number;
	LsmSeq		last_seq;

	uint64_t	manifest_number;	/* of the MANIFEST being appended, 0 = none */
	LsmLogWriter *manifest;		/* NULL: the next edit starts a new MANIFEST */
	uint64_t	manifest_rollover;	/* start a new MANIFEST past this size */

	LsmVersion *current;		/* caller holds mu to read from other threads */
	uint64_t	installed;		/* versions installed so far (numbers them); mu */
	LsmVersion	live;			/* list head of every version with refs > 0 */

	/* files no version lists any more, waiting for deletion; caller holds mu */
	LsmFileMeta **obsolete;
	int			n_obsolete;
	int			cap_obsolete;
};

/* NULL when out of memory.  current starts as an empty version. */
extern LsmVersionSet *lsm_versionset_create(LsmEnv *env, const char *dir,
											LsmMutex *mu, LsmBlockCache *cache);

/*
 * Close the MANIFEST, close every open table and free everything, deleting
 * no file.  Every version other than current must have been released.
 */
extern void lsm_versionset_destroy(LsmVersionSet *vs);

/*
 * Read CURRENT and replay the MANIFEST it names into current and the
 * counters.  LSM_NOT_FOUND when there is no CURRENT (a new database).  A
 * torn record is accepted only when it is the end of the MANIFEST;
 * anything else that stops the replay, and edits that do not apply, are
 * LSM_CORRUPTION.  Writes nothing: the next edit (or
 * lsm_versionset_write_snapshot) starts a fresh MANIFEST.
 */
extern LsmCode lsm_versionset_recover(LsmVersionSet *vs, LsmStatus *st);

/*
 * Start a new MANIFEST holding one snapshot edit of the current version and
 * point CURRENT at it (temp file, sync, rename, directory sync).  The old
 * MANIFEST is deleted afterwards.  Called for a new database and at open.
 */
extern LsmCode lsm_versionset_write_snapshot(LsmVersionSet *vs, LsmStatus *st);

/*
 * Write MANIFEST-<next_file> and CURRENT into dir, recreating v with the
 * given counters (the database's own MANIFEST is untouched).  For copies.
 */
extern LsmCode lsm_version_write_manifest(LsmEnv *env, const char *dir,
										  const LsmVersion *v, uint64_t log_number,
										  uint64_t next_file, LsmSeq last_seq,
										  LsmStatus *st);

/*
 * Append edit to the MANIFEST, sync it, then install current + edit as the
 * new current version.  The edit gets next_file_number and last_seq from
 * the set (and its log_number, when the caller did not set one).  On
 * failure nothing changes in memory; files the edit added are left on disk
 * (the MANIFEST may still name them after a crash), and the next edit
 * starts a new MANIFEST.  Callers serialise calls; takes mu to install.
 */
extern LsmCode lsm_versionset_log_and_apply(LsmVersionSet *vs, LsmVersionEdit *edit,
											LsmStatus *st);

/* Allocate a file number (thread-safe). */
extern uint64_t lsm_versionset_new_file_number(LsmVersionSet *vs);
/* Make sure future numbers are above n (recovery found a file numbered n). */
extern void lsm_versionset_mark_number_used(LsmVersionSet *vs, uint64_t n);

/* current with a reference taken; caller holds mu. */
extern LsmVersion *lsm_versionset_current(LsmVersionSet *vs);

/* Whether file number is listed by any live version; caller holds mu. */
extern bool lsm_versionset_file_is_live(LsmVersionSet *vs, uint64_t number);

/*
 * Move the obsolete-file list to the caller (*files malloc'd, *n entries);
 * caller holds mu.  Then, without mu, lsm_versionset_delete_files() closes
 * their tables, drops their cached blocks, unlinks them and frees the metas.
 */
extern void lsm_versionset_take_obsolete(LsmVersionSet *vs, LsmFileMeta ***files,
										 int *n);
extern void lsm_versionset_delete_files(LsmVersionSet *vs, LsmFileMeta **files, int n);
/* The same without unlinking: the next open removes the files. */
extern void lsm_versionset_free_files(LsmFileMeta **files, int n);

/*
 * The table reader of a file, opening it on first use and caching it in
 * the meta (concurrent first users race; one wins, the others close
 * theirs).  The meta must be kept alive by a version reference.
 */
extern LsmCode lsm_versionset_table(LsmVersionSet *vs, LsmFileMeta *f, LsmSst **t,
									LsmStatus *st);

/*
 * An iterator over all internal keys of one level >= 1, opening each file's
 * table iterator only when the iteration reaches it.  The version must stay
 * referenced for the iterator's life.  stats (nullable) is passed on to the
 * table iterators.
 */
extern LsmIter *lsm_version_level_iter(LsmVersionSet *vs, LsmVersion *v, int level,
									   bool fill_cache, LsmReadStats *stats);

/*
 * The same over any array of n_files files sorted by key with no user key
 * in two of them (a compaction's inputs from one level).  The array and
 * the files must outlive the iterator.
 */
extern LsmIter *lsm_files_iter(LsmVersionSet *vs, LsmFileMeta *const *files,
							   int n_files, bool fill_cache, LsmReadStats *stats);

#endif							/* LSM_VERSION_H */
