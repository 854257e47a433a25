/*
 * blob.h
 *		Blob files: values kept out of the tree (key-value separation, as
 *		WiscKey and RocksDB's BlobDB).  docs/design.md, "Blob files", has
 *		the why; docs/format.md, "Blob files", the bytes.
 *
 * A flush writes each PUT value of at least blob_min_size bytes to a blob
 * file and puts an LSM_KIND_BLOB entry in its table instead, whose value
 * is a reference (blob file number, position, value length).  Compactions
 * copy references, not values, except out of blob files with much garbage,
 * whose values they move to a new blob file (relocation).
 *
 * A blob file is a run of records, each one value (compressed on its own
 * when that pays) behind a checksummed header, and a footer.  The
 * position in a reference is its record's offset, so a read is one pread
 * of the header and the value together: no index, no block to decompress
 * for one value out of several, and no block cache, whose memory then
 * stays for the tables' blocks.  Files written before this format
 * (version 1) are SSTables whose keys are ordinals, 8 bytes big-endian, at
 * sequence number 0; they are still read, through the tables' reader.
 *
 * Every table meta lists the blob files its entries reference, with the
 * value bytes it references there and the blob file's own value bytes
 * (LsmBlobUse, logged in the MANIFEST with the table).  From these lists
 * come a blob file's garbage (its bytes minus what the version's tables
 * reference), which blob files a checkpoint copies, and when one may go:
 * when no table of a live version and none obsolete or waiting for
 * deletion references it (db.c).  A compaction's outputs reference only blob files
 * its inputs do, which its pinned version keeps, or its own new one.
 */
#ifndef LSM_BLOB_H
#define LSM_BLOB_H

#include <stdbool.h>
#include <stdint.h>

#include "compress.h"
#include "dict.h"
#include "lsm.h"
#include "lsm_env.h"
#include "sstable.h"

#include "version.h"

typedef struct LsmDb LsmDb;

/* The value of an LSM_KIND_BLOB entry. */
typedef struct LsmBlobRef
{
	uint64_t	number;			/* blob file */
	uint64_t	pos;			/* its record's offset (version 1: its ordinal) */
	uint32_t	len;			/* the value's length */
} LsmBlobRef;

/* Append the encoding (three varints); false when out of memory. */
extern bool lsm_blob_ref_encode(LsmBuf *out, const LsmBlobRef *r);
/* false when v is not exactly one reference (corruption). */
extern bool lsm_blob_ref_decode(LsmSlice v, LsmBlobRef *r);

/* What a table references of one blob file. */
typedef struct LsmBlobUse
{
	uint64_t	number;
	uint64_t	bytes;			/* value bytes the table references there */
	uint64_t	total;			/* value bytes the blob file holds */
	uint64_t	file_size;		/* the blob file's size on disk */
} LsmBlobUse;

/* A growing list of uses, sorted by number (one per blob file). */
typedef struct LsmBlobUses
{
	LsmBlobUse *u;
	int			n;
	int			cap;
} LsmBlobUses;

/*
 * Count bytes referenced in blob file number (total value bytes, file_size
 * on disk); false on OOM.
 */
extern bool lsm_blob_uses_add(LsmBlobUses *us, uint64_t number, uint64_t bytes,
							  uint64_t total, uint64_t file_size);
/* Set the sizes of blob file number (known once it is finished). */
extern void lsm_blob_uses_set_total(LsmBlobUses *us, uint64_t number, uint64_t total,
									uint64_t file_size);
extern void lsm_blob_uses_free(LsmBlobUses *us);
/* The use of number in a table's sorted list, or NULL. */
extern const LsmBlobUse *lsm_blob_use_find(const LsmBlobUse *u, int n, uint64_t number);

/*
 * Writing one blob file.  The file is durable (file and directory entry)
 * when finish returns.
 */
typedef struct LsmBlobWriter
{
	LsmDb	   *db;
	LsmFile    *file;			/* NULL once finished or abandoned */
	LsmCodecState codec;
	LsmDictSampler sampler;		/* trains the next dictionary */
	uint64_t	dict_key;		/* the dictionary it compresses with, 0: none */
	uint64_t	dict_raw;		/* value bytes compressed with it */
	uint64_t	dict_stored;	/* what they took */
	LsmBuf		out;			/* records not yet handed to write_at */
	uint64_t	number;
	uint32_t	version;		/* of the format: 3 with a dictionary */
	uint64_t	offset;			/* bytes of records so far */
	uint64_t	written;		/* of those, handed to write_at */
	uint64_t	values;			/* values added */
	uint64_t	bytes;			/* value bytes added */
	uint64_t	file_bytes;		/* set by finish */
	bool		created;		/* the file exists: abandon removes it */
} LsmBlobWriter;

/*
 * Start blob file number (from the version set's counter), stored with
 * codec; zstd uses the database's dictionary, if it has one yet.  The
 * values added train the next one.
 */
extern LsmCode lsm_blob_writer_open(LsmDb *db, LsmCompression codec, LsmBlobWriter *w,
									LsmStatus *st);
/*
 * The codec of a flush's blob file: zstd with the table's dictionary when
 * the bottom's codec is zstd and a dictionary exists, else the upper
 * levels' codec (docs/design.md, "Blob files compress with a dictionary").
 */
extern LsmCompression lsm_blob_flush_codec(LsmDb *db);
/*
 * Train db's first dictionary from sampler, when it has none yet: for a
 * compaction about to move values out of table files (rows loaded by a
 * bulk COPY), which would otherwise write its blob file without one.
 */
extern void lsm_blob_train_first_dict(LsmDb *db, const LsmDictSampler *sampler);
/* At open: take the dictionary of v's newest blob file, if it has one. */
extern void lsm_blob_adopt_dict(LsmDb *db, const LsmVersion *v);
/* Store value; *ref says where. */
extern LsmCode lsm_blob_writer_add(LsmBlobWriter *w, LsmSlice value, LsmBlobRef *ref,
								   LsmStatus *st);
extern LsmCode lsm_blob_writer_finish(LsmBlobWriter *w, LsmStatus *st);
/* Remove the unfinished file. */
extern void lsm_blob_writer_abandon(LsmBlobWriter *w);

/*
 * Read the value ref points to into out (replacing what it held).  The
 * caller pins a version whose tables reference the blob file, which keeps
 * it on disk.  A missing value, a length that differs or a damaged record
 * is LSM_CORRUPTION.
 */
extern LsmCode lsm_blob_read(LsmDb *db, LsmSlice ref, LsmBuf *out,
							 LsmReadStats *stats, LsmStatus *st);

/* Close the reader of a deleted blob file and drop its cached blocks (version 1). */
extern void lsm_blob_forget(LsmDb *db, uint64_t number);
/* Close every reader (database close). */
extern void lsm_blob_close_all(LsmDb *db);

/*
 * Blob files referenced by the tables of files that nothing else keeps
 * (live versions' tables, obsolete tables and tables waiting for the
 * host's file horizon): the ones to delete with them.  Caller holds db mu;
 * *out is malloc'd (NULL when none).
 */
extern void lsm_blob_unreferenced_locked(LsmDb *db, LsmFileMeta *const *files, int n,
										 uint64_t **out, int *n_out);
/* Unlink blob files and forget their readers; no lock held. */
extern void lsm_blob_delete(LsmDb *db, const uint64_t *numbers, int n);

/*
 * The blob files v's tables reference, with their value bytes and what v
 * references there (LsmBlobUse.bytes summed); false on OOM.
 */
extern bool lsm_blob_version_uses(const LsmVersion *v, LsmBlobUses *out);

/*
 * Verify every record of blob file u->number (a block each in *out), and
 * that it holds the value bytes and has the size its tables recorded.
 */
extern LsmCode lsm_blob_verify(LsmDb *db, const LsmBlobUse *u, LsmVerifyResult *out,
							   LsmStatus *st);
/* Count a finished blob file in the stats, once what references it is kept. */
extern void lsm_blob_count_written(LsmDb *db, const LsmBlobWriter *w);

#endif							/* LSM_BLOB_H */
