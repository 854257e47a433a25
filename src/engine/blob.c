/*
 * blob.c
 *		Blob files: writing, reading through a per-database registry of
 *		open readers, and deciding which may be deleted (blob.h).
 *
 * Readers of blob files are opened on first use and kept in a small hash
 * table under blob_mu, a leaf lock: nothing else is taken while it is
 * held.  A reader found there stays valid while the caller's pinned
 * version references its blob file, since the file is forgotten only
 * after no version does.
 */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "db_internal.h"
#include "lsm_alloc.h"
#include "lsm_coding.h"
#include "lsm_crc32c.h"

#define BLOB_KEY_LEN 8

/*
 * References
 */

bool
lsm_blob_ref_encode(LsmBuf *out, const LsmBlobRef *r)
{
	return lsm_buf_put_varint64(out, r->number) &&
		lsm_buf_put_varint64(out, r->pos) &&
		lsm_buf_put_varint32(out, r->len);
}

bool
lsm_blob_ref_decode(LsmSlice v, LsmBlobRef *r)
{
	const uint8_t *p = v.data;
	const uint8_t *limit = v.data + v.len;

	p = lsm_decode_varint64(p, limit, &r->number);
	if (p != NULL)
		p = lsm_decode_varint64(p, limit, &r->pos);
	if (p != NULL)
		p = lsm_decode_varint32(p, limit, &r->len);
	return p != NULL && p == limit && r->number != 0;
}

/* The internal key of ordinal in a blob file. */
static void
blob_key(uint8_t *out, uint64_t ordinal)
{
	int			i;

	for (i = 0; i < BLOB_KEY_LEN; i++)
		out[i] = (uint8_t) (ordinal >> (8 * (BLOB_KEY_LEN - 1 - i)));
	lsm_put_fixed64(out + BLOB_KEY_LEN, lsm_pack_seq_kind(0, LSM_KIND_PUT));
}

/*
 * Uses
 */

const LsmBlobUse *
lsm_blob_use_find(const LsmBlobUse *u, int n, uint64_t number)
{
	int			lo = 0;
	int			hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (u[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && u[lo].number == number ? &u[lo] : NULL;
}

bool
lsm_blob_uses_add(LsmBlobUses *us, uint64_t number, uint64_t bytes, uint64_t total,
				  uint64_t file_size)
{
	int			lo = 0;
	int			hi = us->n;

	/* references come in runs of one blob file: try the last one first */
	if (us->n > 0 && us->u[us->n - 1].number == number)
		lo = us->n - 1;
	else
	{
		while (lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (us->u[mid].number < number)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	if (lo == us->n || us->u[lo].number != number)
	{
		if (us->n == us->cap)
		{
			int			cap = us->cap ? us->cap * 2 : 8;
			LsmBlobUse *p = lsm_realloc(us->u, (size_t) cap * sizeof(LsmBlobUse));

			if (p == NULL)
				return false;
			us->u = p;
			us->cap = cap;
		}
		memmove(us->u + lo + 1, us->u + lo, (size_t) (us->n - lo) * sizeof(LsmBlobUse));
		us->u[lo].number = number;
		us->u[lo].bytes = 0;
		us->u[lo].total = total;
		us->u[lo].file_size = file_size;
		us->n++;
	}
	us->u[lo].bytes += bytes;
	return true;
}

void
lsm_blob_uses_set_total(LsmBlobUses *us, uint64_t number, uint64_t total, uint64_t file_size)
{
	int			i;

	for (i = 0; i < us->n; i++)
		if (us->u[i].number == number)
		{
			us->u[i].total = total;
			us->u[i].file_size = file_size;
		}
}

void
lsm_blob_uses_free(LsmBlobUses *us)
{
	lsm_free(us->u);
	memset(us, 0, sizeof(*us));
}

/*
 * Format (version 3; docs/format.md, "Blob files")
 *
 * record: masked CRC32C (fixed32) | stored length (fixed32) | kind (1
 *		   byte) | the stored bytes.  The CRC covers the file's number
 *		   (fixed64, not stored), then the length, the kind and the stored
 *		   bytes: a record read from another blob file fails it.  The kind
 *		   is an LsmCompression, or one of the two below.
 * first record (version 3 only): kind BLOB_KIND_DICT, stored bytes the
 *		   dictionary's key (fixed64) then the dictionary.
 * footer: values (fixed64) | value bytes (fixed64) | end of the records
 *		   (fixed64) | file number (fixed64) | version (fixed32) | masked
 *		   CRC32C of the 36 bytes before (fixed32) | magic (fixed64).
 *
 * Version 2, a file without a dictionary, is the same without the first
 * record.
 */
#define BLOB_KIND_DICT 0x10
#define BLOB_KIND_ZSTD_DICT 0x11	/* zstd with the file's dictionary */
#define BLOB_DICT_HEADER 17			/* the record's header and the key */
#define BLOB_RECORD_HEADER 9
#define BLOB_FOOTER_SIZE 48
#define BLOB_FORMAT_VERSION 3
#define BLOB_MAGIC 0x3230424c424d534cULL	/* bytes "LSMBLB02" */
#define BLOB_WRITE_CHUNK (256 * 1024)
/* a record this small is read into the stack */
#define BLOB_STACK_READ 16384
/*
 * A dictionary is trained again when a file compresses this much worse
 * with it than the first file did (its values drifted), judged on at least
 * BLOB_DICT_JUDGE value bytes.
 */
#define BLOB_DICT_DRIFT 1.15
#define BLOB_DICT_JUDGE (256 * 1024)

static uint32_t
record_crc(uint64_t number, const uint8_t *header, LsmSlice stored)
{
	uint8_t		num[8];

	lsm_put_fixed64(num, number);
	return lsm_crc32c_extend(lsm_crc32c_extend(lsm_crc32c(num, sizeof(num)),
											   header + 4, BLOB_RECORD_HEADER - 4),
							 stored.data, stored.len);
}

static void
encode_footer(uint8_t *f, uint64_t values, uint64_t bytes, uint64_t end, uint64_t number,
			  uint32_t version)
{
	lsm_put_fixed64(f + 0, values);
	lsm_put_fixed64(f + 8, bytes);
	lsm_put_fixed64(f + 16, end);
	lsm_put_fixed64(f + 24, number);
	lsm_put_fixed32(f + 32, version);
	lsm_put_fixed32(f + 36, lsm_crc32c_mask(lsm_crc32c(f, 36)));
	lsm_put_fixed64(f + 40, BLOB_MAGIC);
}

typedef struct BlobFooter
{
	uint32_t	version;
	uint64_t	values;
	uint64_t	bytes;
	uint64_t	end;
} BlobFooter;

/*
 * Check the footer f of blob file number, size bytes long; NULL when
 * sound, else what is wrong.
 */
static const char *
decode_footer(const uint8_t *f, uint64_t number, uint64_t size, BlobFooter *out)
{
	if (lsm_get_fixed64(f + 40) != BLOB_MAGIC)
		return "bad magic in footer";
	if (lsm_crc32c_unmask(lsm_get_fixed32(f + 36)) != lsm_crc32c(f, 36))
		return "checksum mismatch in footer";
	out->version = lsm_get_fixed32(f + 32);
	if (out->version != 2 && out->version != BLOB_FORMAT_VERSION)
		return "unknown format version in footer";
	if (lsm_get_fixed64(f + 24) != number)
		return "footer names another blob file";
	out->values = lsm_get_fixed64(f + 0);
	out->bytes = lsm_get_fixed64(f + 8);
	out->end = lsm_get_fixed64(f + 16);
	if (out->end != size - BLOB_FOOTER_SIZE)
		return "footer's end of records is not where the footer starts";
	return NULL;
}

/*
 * Writing
 */

static LsmCode
writer_nomem(LsmBlobWriter *w, LsmStatus *st)
{
	return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory writing blob file %llu in \"%s\"",
						  (unsigned long long) w->number, w->db->dir);
}

/* Hand the buffered records to the file. */
static LsmCode
writer_flush(LsmBlobWriter *w, LsmStatus *st)
{
	LsmCode		rc;

	if (w->out.len == 0)
		return LSM_OK;
	rc = w->db->env->write_at(w->file, w->out.data, w->out.len, w->written, st);
	if (rc != LSM_OK)
		return rc;
	w->written += w->out.len;
	lsm_buf_reset(&w->out);
	return LSM_OK;
}

/*
 * When the codec is zstd and the database has trained a dictionary, start
 * the file with a copy of it (a writer finishing meanwhile may replace
 * it): a version 3 file.  Else a version 2 file, with no dictionary record.
 */
static LsmCode
writer_put_dict(LsmBlobWriter *w, LsmStatus *st)
{
	LsmDb	   *db = w->db;
	uint8_t		header[BLOB_DICT_HEADER];
	uint8_t    *dict;
	size_t		len = 0;
	uint64_t	key = 0;
	bool		ok;

	w->version = 2;
	if (w->codec.codec != LSM_COMPRESSION_ZSTD)
		return LSM_OK;
	if ((dict = lsm_malloc_private(LSM_DICT_MAX)) == NULL)
		return writer_nomem(w, st);
	db->env->mutex_lock(db->blob_mu);
	if (db->blob_dict != NULL)
	{
		len = db->blob_dict_len;
		key = db->blob_dict_key;
		memcpy(dict, db->blob_dict, len);
	}
	db->env->mutex_unlock(db->blob_mu);
	if (len == 0)
	{
		lsm_free(dict);
		return LSM_OK;
	}
	lsm_put_fixed32(header + 4, (uint32_t) (8 + len));
	header[8] = BLOB_KIND_DICT;
	lsm_put_fixed64(header + 9, key);
	ok = lsm_buf_append(&w->out, header, sizeof(header)) &&
		lsm_buf_append(&w->out, dict, len) &&
		lsm_codec_use_dict(&w->codec, dict, len);
	w->dict_key = key;
	lsm_free(dict);
	if (!ok)
		return writer_nomem(w, st);
	lsm_put_fixed32(w->out.data,
					lsm_crc32c_mask(record_crc(w->number, w->out.data,
											   lsm_slice(w->out.data + BLOB_RECORD_HEADER,
														 8 + len))));
	w->offset = w->out.len;
	w->version = 3;
	return LSM_OK;
}

LsmCode
lsm_blob_writer_open(LsmDb *db, LsmCompression codec, LsmBlobWriter *w, LsmStatus *st)
{
	char		path[LSM_PATH_MAX];
	LsmCode		rc;

	memset(w, 0, sizeof(*w));
	w->db = db;
	w->number = lsm_versionset_new_file_number(db->vs);
	lsm_codec_init(&w->codec, codec, db->topts.compression_level);
	lsm_dict_sampler_init(&w->sampler, w->number);
	if (!lsm_file_path(path, db->dir, LSM_FILE_BLOB, w->number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	/* only the writing process touches the buffer: its own memory */
	if (!lsm_buf_make_private(&w->out, BLOB_WRITE_CHUNK + 4096))
		return writer_nomem(w, st);
	rc = db->env->open_file(db->env, path, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL,
							&w->file, st);
	if (rc != LSM_OK)
	{
		/* not ours to remove: it may be someone else's existing file */
		w->file = NULL;
		lsm_blob_writer_abandon(w);
		return rc;
	}
	w->created = true;
	return writer_put_dict(w, st);
}

LsmCompression
lsm_blob_flush_codec(LsmDb *db)
{
	bool		dict;

	if (db->opts.compression != LSM_COMPRESSION_ZSTD)
		return db->opts.compression_upper;
	db->env->mutex_lock(db->blob_mu);
	dict = db->blob_dict != NULL;
	db->env->mutex_unlock(db->blob_mu);
	return dict ? LSM_COMPRESSION_ZSTD : db->opts.compression_upper;
}

LsmCode
lsm_blob_writer_add(LsmBlobWriter *w, LsmSlice value, LsmBlobRef *ref, LsmStatus *st)
{
	uint8_t		header[BLOB_RECORD_HEADER];
	LsmCompression kind;
	LsmSlice	stored;

	if (value.len > UINT32_MAX)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "value of %zu bytes is too big for a blob file", value.len);
	if (!lsm_codec_compress(&w->codec, value, &kind, &stored))
		return writer_nomem(w, st);
	/* out of memory for the sample costs the next dictionary only */
	(void) lsm_dict_sample(&w->sampler, value);
	lsm_put_fixed32(header + 4, (uint32_t) stored.len);
	header[8] = (uint8_t) kind;
	if (w->codec.cdict != NULL)
	{
		/* raw values count too: a dictionary that stops paying is drift */
		if (kind == LSM_COMPRESSION_ZSTD)
			header[8] = BLOB_KIND_ZSTD_DICT;
		w->dict_raw += value.len;
		w->dict_stored += stored.len;
	}
	lsm_put_fixed32(header, lsm_crc32c_mask(record_crc(w->number, header, stored)));
	if (!lsm_buf_append(&w->out, header, sizeof(header)) ||
		!lsm_buf_append(&w->out, stored.data, stored.len))
		return writer_nomem(w, st);
	ref->number = w->number;
	ref->pos = w->offset;
	ref->len = (uint32_t) value.len;
	w->offset += sizeof(header) + stored.len;
	w->values++;
	w->bytes += value.len;
	if (w->db->env->cpu_yield != NULL)
		w->db->env->cpu_yield(w->db->env);
	if (w->out.len >= BLOB_WRITE_CHUNK)
		return writer_flush(w, st);
	return LSM_OK;
}

/*
 * Whether w's sample should train the database's next dictionary: when it
 * has none, when w sampled twice the values the current one was trained
 * from (a first flush of a few rows makes a weak one), or when w
 * compressed BLOB_DICT_DRIFT worse with it than the first file that used
 * it (the values changed).  Otherwise the dictionary stays: every new one
 * is a new entry in the readers' caches (dict.c), which hold 8: blob
 * files written with dozens would make gets miss them.
 * Called under blob_mu.
 */
static bool
train_due(LsmDb *db, const LsmBlobWriter *w)
{
	int			samples = w->sampler.seen < LSM_DICT_SAMPLES ? (int) w->sampler.seen :
		LSM_DICT_SAMPLES;
	double		ratio;

	if (db->blob_dict == NULL)
		return true;
	/* at least twice the values: a few retrainings at most, 16, 32, 64, 128 */
	if (db->blob_dict_samples > 0 && samples >= 2 * db->blob_dict_samples)
		return true;
	if (w->dict_key != db->blob_dict_key || w->dict_raw < BLOB_DICT_JUDGE)
		return false;
	ratio = (double) w->dict_stored / (double) w->dict_raw;
	if (db->blob_dict_ratio == 0)
	{
		db->blob_dict_ratio = ratio;
		return false;
	}
	return ratio > db->blob_dict_ratio * BLOB_DICT_DRIFT;
}

/*
 * Train the database's next dictionary from a sample and make it the one
 * new blob files get (only_first: unless one appeared while this one
 * trained).  A failure (too few samples, out of memory) leaves the old
 * dictionary.  Every writer samples, whatever its codec, and
 * trains when train_due says so: the LZ4 file of a table's first flush
 * trains the dictionary of its zstd files.
 */
static void
install_trained(LsmDb *db, const LsmDictSampler *sampler, bool only_first)
{
	uint8_t    *trained;
	uint8_t    *shared;
	uint8_t    *old;
	size_t		len;

	if ((trained = lsm_malloc_private(LSM_DICT_MAX)) == NULL)
		return;
	len = lsm_dict_train(sampler, trained);
	/* the shared heap, when the host has one: every process's writers use it */
	shared = len > 0 ? lsm_malloc(len) : NULL;
	if (shared != NULL)
	{
		memcpy(shared, trained, len);
		db->env->mutex_lock(db->blob_mu);
		if (only_first && db->blob_dict != NULL)
		{
			/* another writer trained one meanwhile, from its own sample */
			db->env->mutex_unlock(db->blob_mu);
			lsm_free(shared);
			lsm_free(trained);
			return;
		}
		old = db->blob_dict;
		db->blob_dict = shared;
		db->blob_dict_len = len;
		db->blob_dict_key = lsm_dict_key(trained, len);
		db->blob_dict_samples = sampler->seen < LSM_DICT_SAMPLES ? (int) sampler->seen :
			LSM_DICT_SAMPLES;
		db->blob_dict_ratio = 0;
		db->env->mutex_unlock(db->blob_mu);
		lsm_free(old);
	}
	lsm_free(trained);
}

static void
writer_train(LsmBlobWriter *w)
{
	LsmDb	   *db = w->db;
	bool		due;

	db->env->mutex_lock(db->blob_mu);
	due = train_due(db, w);
	db->env->mutex_unlock(db->blob_mu);
	if (due)
		install_trained(db, &w->sampler, false);
}

void
lsm_blob_train_first_dict(LsmDb *db, const LsmDictSampler *sampler)
{
	bool		have;

	db->env->mutex_lock(db->blob_mu);
	have = db->blob_dict != NULL;
	db->env->mutex_unlock(db->blob_mu);
	if (!have)
		install_trained(db, sampler, true);
}

LsmCode
lsm_blob_writer_finish(LsmBlobWriter *w, LsmStatus *st)
{
	uint8_t		footer[BLOB_FOOTER_SIZE];
	LsmFile    *f;
	LsmCode		rc;

	encode_footer(footer, w->values, w->bytes, w->offset, w->number, w->version);
	if (!lsm_buf_append(&w->out, footer, sizeof(footer)))
		return writer_nomem(w, st);
	if ((rc = writer_flush(w, st)) != LSM_OK ||
		(rc = w->db->env->sync(w->file, st)) != LSM_OK)
		return rc;
	f = w->file;
	w->file = NULL;
	rc = w->db->env->close_file(f, st);
	if (rc != LSM_OK)
		return rc;
	/* complete: the caller decides what happens to it now */
	w->created = false;
	w->file_bytes = w->offset + sizeof(footer);
	lsm_codec_free(&w->codec);
	lsm_buf_free(&w->out);
	rc = w->db->env->sync_dir(w->db->env, w->db->dir, st);
	if (rc == LSM_OK)
		writer_train(w);
	lsm_dict_sampler_free(&w->sampler);
	return rc;
}

void
lsm_blob_writer_abandon(LsmBlobWriter *w)
{
	LsmStatus	ignore;
	char		path[LSM_PATH_MAX];

	if (w->db == NULL)
		return;
	if (w->file != NULL)
		w->db->env->close_file(w->file, &ignore);
	w->file = NULL;
	if (w->created && lsm_file_path(path, w->db->dir, LSM_FILE_BLOB, w->number))
		w->db->env->unlink(w->db->env, path, &ignore);
	w->created = false;
	lsm_codec_free(&w->codec);
	lsm_dict_sampler_free(&w->sampler);
	lsm_buf_free(&w->out);
}

/*
 * Reading
 */

struct LsmBlobReader
{
	uint64_t	number;
	LsmFile    *file;			/* version 2 or 3 */
	uint64_t	end;			/* version 2 or 3: end of the records */
	uint64_t	dict_key;		/* version 3: the dictionary's key, 0 if none */
	uint32_t	dict_len;		/* version 3: its length */
	LsmSst	   *table;			/* version 1 */
	struct LsmBlobReader *next;
};

static inline uint32_t
reader_slot(uint64_t number)
{
	return (uint32_t) ((number * 0x9E3779B97F4A7C15ULL) >> 32) % LSM_BLOB_READERS_HASH;
}

static LsmCode
blob_corrupt(LsmStatus *st, const char *path, uint64_t offset, const char *what)
{
	return lsm_status_set(st, LSM_CORRUPTION, 0, "%s at offset %llu of blob file \"%s\"",
						  what, (unsigned long long) offset, path);
}

static const char *check_record(uint64_t number, const uint8_t *buf, uint64_t n,
								uint8_t *kind, LsmSlice *stored);
static const char *check_dict(LsmSlice stored);

/*
 * The key and length of a version 3 file's dictionary, from its first
 * record, checked whole: opening a file proves its dictionary sound, as
 * a damaged one would fail all of the file's values.
 */
static LsmCode
read_dict_record(LsmEnv *env, struct LsmBlobReader *r, const char *path, LsmStatus *st)
{
	uint8_t		h[BLOB_DICT_HEADER];
	uint8_t    *buf;
	uint32_t	len;
	uint8_t		kind;
	LsmSlice	stored;
	const char *bad;
	LsmCode		rc;

	if (r->end < BLOB_DICT_HEADER)
		return blob_corrupt(st, path, 0, "no dictionary record");
	rc = env->read_at(r->file, h, sizeof(h), 0, st);
	if (rc != LSM_OK)
		return rc;
	len = lsm_get_fixed32(h + 4);
	if (h[8] != BLOB_KIND_DICT || len < 8 || len > 8 + LSM_DICT_MAX ||
		len > r->end - BLOB_RECORD_HEADER)
		return blob_corrupt(st, path, 0, "bad dictionary record");
	if ((buf = lsm_malloc_private(BLOB_RECORD_HEADER + (size_t) len)) == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory opening a blob file");
	rc = env->read_at(r->file, buf, BLOB_RECORD_HEADER + (size_t) len, 0, st);
	if (rc == LSM_OK)
	{
		bad = check_record(r->number, buf, BLOB_RECORD_HEADER + (size_t) len, &kind, &stored);
		if (bad == NULL)
			bad = check_dict(stored);
		r->dict_key = lsm_get_fixed64(buf + BLOB_RECORD_HEADER);
		r->dict_len = len - 8;
		if (bad != NULL)
			rc = blob_corrupt(st, path, 0, bad);
	}
	lsm_free(buf);
	return rc;
}

/*
 * Open blob file number at path for reading: its version from the
 * footer's magic, the version 2 footer checked.
 */
static LsmCode
reader_open(LsmDb *db, const char *path, uint64_t number, LsmBlockCache *cache,
			struct LsmBlobReader *r, BlobFooter *ft, LsmStatus *st)
{
	LsmEnv	   *env = db->env;
	uint8_t		footer[BLOB_FOOTER_SIZE];
	uint64_t	size;
	const char *bad;
	LsmStatus	ignore;
	LsmCode		rc;

	memset(r, 0, sizeof(*r));
	memset(ft, 0, sizeof(*ft));
	r->number = number;
	rc = env->open_file(env, path, LSM_OPEN_READ, &r->file, st);
	if (rc != LSM_OK)
		return rc;
	rc = env->file_size(r->file, &size, st);
	if (rc == LSM_OK && size >= BLOB_FOOTER_SIZE)
		rc = env->read_at(r->file, footer, sizeof(footer), size - BLOB_FOOTER_SIZE, st);
	if (rc == LSM_OK && size >= BLOB_FOOTER_SIZE &&
		lsm_get_fixed64(footer + 40) == BLOB_MAGIC)
	{
		if ((bad = decode_footer(footer, number, size, ft)) == NULL)
		{
			r->end = ft->end;
			if (ft->version == 2)
				return LSM_OK;
			rc = read_dict_record(env, r, path, st);
			if (rc == LSM_OK)
				return LSM_OK;
		}
		else
			rc = blob_corrupt(st, path, size - BLOB_FOOTER_SIZE, bad);
	}
	env->close_file(r->file, &ignore);
	r->file = NULL;
	if (rc != LSM_OK)
		return rc;
	/* version 1: an SSTable, whose reader checks its own footer */
	return lsm_sst_open(env, path, number, cache, &r->table, st);
}

static void
reader_close(LsmDb *db, struct LsmBlobReader *r)
{
	LsmStatus	ignore;

	if (r->file != NULL)
		db->env->close_file(r->file, &ignore);
	if (r->table != NULL)
		lsm_sst_close(r->table);
}

/* The reader of blob file number, opened on first use. */
static LsmCode
blob_reader(LsmDb *db, uint64_t number, struct LsmBlobReader **out, LsmStatus *st)
{
	uint32_t	h = reader_slot(number);
	struct LsmBlobReader *r;
	struct LsmBlobReader mine;
	BlobFooter	ft;
	char		path[LSM_PATH_MAX];
	LsmCode		rc;

	db->env->mutex_lock(db->blob_mu);
	for (r = db->blob_readers[h]; r != NULL; r = r->next)
		if (r->number == number)
			break;
	db->env->mutex_unlock(db->blob_mu);
	if (r != NULL)
	{
		*out = r;
		return LSM_OK;
	}
	if (!lsm_file_path(path, db->dir, LSM_FILE_BLOB, number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "path of blob file %llu in \"%s\" is too long",
							  (unsigned long long) number, db->dir);
	/* opened without the lock, as tables are: a slow open blocks no one */
	rc = reader_open(db, path, number, db->cache, &mine, &ft, st);
	if (rc != LSM_OK)
		return rc;
	db->env->mutex_lock(db->blob_mu);
	for (r = db->blob_readers[h]; r != NULL; r = r->next)
		if (r->number == number)
			break;
	if (r == NULL)
	{
		r = lsm_malloc(sizeof(*r));
		if (r != NULL)
		{
			*r = mine;
			r->next = db->blob_readers[h];
			db->blob_readers[h] = r;
			memset(&mine, 0, sizeof(mine));
		}
	}
	db->env->mutex_unlock(db->blob_mu);
	if (r == NULL)
	{
		reader_close(db, &mine);
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory opening a blob file");
	}
	reader_close(db, &mine);	/* another thread opened it first (or nothing) */
	*out = r;
	return LSM_OK;
}

/*
 * Check the record at pos of blob file number, whose first n bytes are in
 * buf (n >= BLOB_RECORD_HEADER), and find its stored bytes; NULL when
 * sound, else what is wrong.
 */
static const char *
check_record(uint64_t number, const uint8_t *buf, uint64_t n, uint8_t *kind, LsmSlice *stored)
{
	uint32_t	len = lsm_get_fixed32(buf + 4);

	if (len > n - BLOB_RECORD_HEADER)
		return "record longer than its reference or the file";
	*stored = lsm_slice(buf + BLOB_RECORD_HEADER, len);
	if (lsm_crc32c_unmask(lsm_get_fixed32(buf)) != record_crc(number, buf, *stored))
		return "checksum mismatch in record";
	*kind = buf[8];
	if (buf[8] != LSM_COMPRESSION_NONE && buf[8] != LSM_COMPRESSION_ZSTD &&
		buf[8] != LSM_COMPRESSION_LZ4 && buf[8] != BLOB_KIND_ZSTD_DICT &&
		buf[8] != BLOB_KIND_DICT)
		return "unknown codec in record";
	return NULL;
}

/*
 * Check a dictionary record's stored bytes: the key must name the bytes,
 * since readers find digested dictionaries by key.
 */
static const char *
check_dict(LsmSlice stored)
{
	if (stored.len <= 8 || lsm_get_fixed64(stored.data) != lsm_dict_key(stored.data + 8,
																		stored.len - 8))
		return "dictionary key does not match the dictionary";
	return NULL;
}

/*
 * Decode a checked value record's stored bytes into out, which must come
 * to len bytes; ddict digests the file's dictionary (NULL if it has none).
 * NULL when they do, else what is wrong.
 */
static const char *
decode_record(uint8_t kind, LsmSlice stored, uint32_t len, const void *ddict, LsmBuf *out,
			  bool *nomem)
{
	LsmCompression codec = kind == BLOB_KIND_ZSTD_DICT ? LSM_COMPRESSION_ZSTD :
		(LsmCompression) kind;
	size_t		dlen;
	bool		ok;

	*nomem = false;
	lsm_buf_reset(out);
	if (kind == BLOB_KIND_DICT)
		return "dictionary record where a value was expected";
	if (kind == LSM_COMPRESSION_NONE)
	{
		if (stored.len != len)
			return "value of another length than its reference's";
		if (!lsm_buf_make_private(out, (size_t) len + 1) ||
			!lsm_buf_set(out, stored.data, stored.len))
			*nomem = true;
		return NULL;
	}
	if (kind == BLOB_KIND_ZSTD_DICT && ddict == NULL)
		return "value compressed with a dictionary the file does not have";
	if (!lsm_codec_decoded_len(codec, stored, &dlen))
		return "bad codec header in record";
	if (dlen != len)
		return "value of another length than its reference's";
	if (!lsm_buf_make_private(out, (size_t) len + 1) || !lsm_buf_reserve(out, len))
	{
		*nomem = true;
		return NULL;
	}
	if (kind == BLOB_KIND_ZSTD_DICT)
		ok = lsm_codec_decompress_dict(stored, ddict, out->data, len, nomem);
	else
		ok = lsm_codec_decompress(codec, stored, out->data, len, nomem);
	if (!ok)
		return *nomem ? NULL : "decompression failed for record";
	out->len = len;
	return NULL;
}

typedef struct DictLoad
{
	LsmDb	   *db;
	const struct LsmBlobReader *r;
} DictLoad;

/*
 * lsm_dict_get's loader: the dictionary record of a version 3 file.  Its
 * CRC is checked here; the open checked its key against its bytes.
 */
static LsmCode
load_dict(void *arg, LsmBuf *dict, LsmStatus *st)
{
	DictLoad   *a = arg;
	const struct LsmBlobReader *r = a->r;
	size_t		n = BLOB_DICT_HEADER + (size_t) r->dict_len;
	char		path[LSM_PATH_MAX];
	const char *bad;
	uint8_t    *buf;
	uint8_t		kind;
	LsmSlice	stored;
	LsmCode		rc;

	if ((buf = lsm_malloc_private(n)) == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory reading a dictionary");
	rc = a->db->env->read_at(r->file, buf, n, 0, st);
	if (rc != LSM_OK)
	{
		lsm_free(buf);
		return rc;
	}
	bad = check_record(r->number, buf, n, &kind, &stored);
	if (bad == NULL && (kind != BLOB_KIND_DICT || stored.len != 8 + (size_t) r->dict_len ||
						lsm_get_fixed64(stored.data) != r->dict_key))
		bad = "dictionary record changed since the file was opened";
	if (bad == NULL && (!lsm_buf_make_private(dict, r->dict_len) ||
						!lsm_buf_set(dict, stored.data + 8, r->dict_len)))
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory reading a dictionary");
	lsm_free(buf);
	if (bad == NULL)
		return rc;
	if (!lsm_file_path(path, a->db->dir, LSM_FILE_BLOB, r->number))
		path[0] = '\0';
	return blob_corrupt(st, path, 0, bad);
}

/* r's dictionary digested (NULL when the file has none). */
static LsmCode
file_ddict(LsmDb *db, const struct LsmBlobReader *r, const void **ddict, LsmStatus *st)
{
	DictLoad	a;

	*ddict = NULL;
	if (r->dict_len == 0)
		return LSM_OK;
	a.db = db;
	a.r = r;
	return lsm_dict_get(r->dict_key, load_dict, &a, ddict, st);
}

static LsmCode
read_record(LsmDb *db, struct LsmBlobReader *r, const LsmBlobRef *ref, LsmBuf *out,
			LsmStatus *st)
{
	uint8_t		stack[BLOB_STACK_READ];
	uint8_t    *buf = stack;
	uint64_t	n = BLOB_RECORD_HEADER + (uint64_t) ref->len;
	char		path[LSM_PATH_MAX];
	const char *bad = NULL;
	const void *ddict = NULL;
	uint8_t		kind;
	LsmSlice	stored;
	LsmCode		rc = LSM_OK;
	bool		nomem = false;

	/* a stored value is never longer than the value: one read has it all */
	if (ref->pos > r->end || r->end - ref->pos < BLOB_RECORD_HEADER)
		bad = "reference beyond the records";
	else
	{
		if (n > r->end - ref->pos)
			n = r->end - ref->pos;
		if (n > sizeof(stack) && (buf = lsm_malloc_private((size_t) n)) == NULL)
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory reading a blob");
		rc = db->env->read_at(r->file, buf, (size_t) n, ref->pos, st);
		if (rc != LSM_OK)
		{
			if (buf != stack)
				lsm_free(buf);
			return rc;
		}
		bad = check_record(ref->number, buf, n, &kind, &stored);
		if (bad == NULL && kind == BLOB_KIND_ZSTD_DICT)
			rc = file_ddict(db, r, &ddict, st);
		if (bad == NULL && rc == LSM_OK)
			bad = decode_record(kind, stored, ref->len, ddict, out, &nomem);
		if (buf != stack)
			lsm_free(buf);
		if (rc != LSM_OK)
			return rc;
	}
	if (nomem)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory reading a blob");
	if (bad == NULL)
		return LSM_OK;
	if (!lsm_file_path(path, db->dir, LSM_FILE_BLOB, ref->number))
		path[0] = '\0';
	return blob_corrupt(st, path, ref->pos, bad);
}

typedef struct BlobGet
{
	LsmSlice	key;
	LsmBuf	   *out;
	bool		found;
	bool		nomem;
} BlobGet;

static bool
blob_visit(void *arg, LsmSlice ikey, LsmSlice value)
{
	BlobGet    *g = arg;

	if (lsm_slice_eq(ikey, g->key))
	{
		g->found = true;
		if (!lsm_buf_make_private(g->out, value.len + 1) ||
			!lsm_buf_set(g->out, value.data, value.len))
			g->nomem = true;
	}
	return false;
}

/* A value of a version 1 blob file: the entry keyed by its ordinal. */
static LsmCode
read_v1(LsmDb *db, LsmSst *t, const LsmBlobRef *r, LsmBuf *out, LsmReadStats *stats,
		LsmStatus *st)
{
	uint8_t		key[BLOB_KEY_LEN + LSM_IKEY_TRAILER];
	BlobGet		g;
	LsmCode		rc;

	blob_key(key, r->pos);
	memset(&g, 0, sizeof(g));
	g.key = lsm_slice(key, sizeof(key));
	g.out = out;
	rc = lsm_sst_get(t, g.key, blob_visit, &g, stats, st);
	if (rc != LSM_OK)
		return rc;
	if (g.nomem)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory reading a blob");
	if (!g.found || out->len != r->len)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "blob file %llu of \"%s\" lacks value %llu of %u bytes",
							  (unsigned long long) r->number, db->dir,
							  (unsigned long long) r->pos, (unsigned) r->len);
	return LSM_OK;
}

LsmCode
lsm_blob_read(LsmDb *db, LsmSlice ref, LsmBuf *out, LsmReadStats *stats,
			  LsmStatus *st)
{
	LsmBlobRef	r;
	struct LsmBlobReader *rd;
	LsmCode		rc;

	if (!lsm_blob_ref_decode(ref, &r))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "malformed blob reference of %zu bytes in \"%s\"",
							  ref.len, db->dir);
	rc = blob_reader(db, r.number, &rd, st);
	if (rc != LSM_OK)
		return rc;
	if (rd->table != NULL)
		rc = read_v1(db, rd->table, &r, out, stats, st);
	else
		rc = read_record(db, rd, &r, out, st);
	if (rc != LSM_OK)
		return rc;
	LSM_STAT_ADD(db, blob_reads, 1);
	return LSM_OK;
}

void
lsm_blob_forget(LsmDb *db, uint64_t number)
{
	uint32_t	h = reader_slot(number);
	struct LsmBlobReader **pp;
	struct LsmBlobReader *r = NULL;

	db->env->mutex_lock(db->blob_mu);
	for (pp = &db->blob_readers[h]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->number == number)
		{
			r = *pp;
			*pp = r->next;
			break;
		}
	db->env->mutex_unlock(db->blob_mu);
	if (r != NULL)
	{
		reader_close(db, r);
		lsm_free(r);
	}
	if (db->cache != NULL)
		lsm_block_cache_erase_file(db->cache, number);
}

void
lsm_blob_close_all(LsmDb *db)
{
	int			h;

	for (h = 0; h < LSM_BLOB_READERS_HASH; h++)
		while (db->blob_readers[h] != NULL)
		{
			struct LsmBlobReader *r = db->blob_readers[h];

			db->blob_readers[h] = r->next;
			reader_close(db, r);
			lsm_free(r);
		}
	lsm_free(db->blob_dict);
	db->blob_dict = NULL;
}

/*
 * Adopt the dictionary of the newest blob file v references, so that a
 * reopened table's flushes compress with one at once instead of training
 * a new one first.  Called by open, alone with the database.  Anything
 * wrong with the file is left for its reads to report.
 */
void
lsm_blob_adopt_dict(LsmDb *db, const LsmVersion *v)
{
	struct LsmBlobReader r;
	BlobFooter	ft;
	DictLoad	a;
	LsmBuf		dict = LSM_BUF_INIT;
	LsmStatus	ignore;
	char		path[LSM_PATH_MAX];
	uint64_t	newest = 0;
	uint8_t    *shared;
	int			level;
	int			i;
	int			j;

	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
			for (j = 0; j < v->files[level][i]->n_blobs; j++)
				if (v->files[level][i]->blobs[j].number > newest)
					newest = v->files[level][i]->blobs[j].number;
	if (newest == 0 || db->blob_dict != NULL ||
		!lsm_file_path(path, db->dir, LSM_FILE_BLOB, newest) ||
		reader_open(db, path, newest, NULL, &r, &ft, &ignore) != LSM_OK)
		return;
	a.db = db;
	a.r = &r;
	if (r.table == NULL && r.dict_len > 0 && load_dict(&a, &dict, &ignore) == LSM_OK &&
		(shared = lsm_malloc(dict.len)) != NULL)
	{
		memcpy(shared, dict.data, dict.len);
		db->blob_dict = shared;
		db->blob_dict_len = dict.len;
		db->blob_dict_key = r.dict_key;
		db->blob_dict_samples = 0;
		db->blob_dict_ratio = 0;
	}
	lsm_buf_free(&dict);
	reader_close(db, &r);
}

/*
 * Deleting
 */

/* Mark the candidates (a sorted list) that any of n metas references. */
static void
mark_referenced(const LsmBlobUses *cand, bool *kept, LsmFileMeta *const *files, int n)
{
	int			i;
	int			j;

	for (i = 0; i < n; i++)
		for (j = 0; j < files[i]->n_blobs; j++)
		{
			const LsmBlobUse *u = lsm_blob_use_find(cand->u, cand->n, files[i]->blobs[j].number);

			if (u != NULL)
				kept[u - cand->u] = true;
		}
}

void
lsm_blob_unreferenced_locked(LsmDb *db, LsmFileMeta *const *files, int n,
							 uint64_t **out, int *n_out)
{
	LsmBlobUses cand;
	LsmFileMeta *const *ob;
	LsmVersion *v;
	uint64_t   *res = NULL;
	bool	   *kept = NULL;
	int			n_ob;
	int			level;
	int			i;
	int			j;
	int			k = 0;

	*out = NULL;
	*n_out = 0;
	memset(&cand, 0, sizeof(cand));
	for (i = 0; i < n; i++)
		for (j = 0; j < files[i]->n_blobs; j++)
			if (!lsm_blob_uses_add(&cand, files[i]->blobs[j].number, 0, 0, 0))
				goto done;		/* left on disk: the next open removes them */
	if (cand.n == 0)
		goto done;
	kept = lsm_calloc((size_t) cand.n, sizeof(bool));
	res = lsm_malloc((size_t) cand.n * sizeof(uint64_t));
	if (kept == NULL || res == NULL)
	{
		lsm_free(res);
		res = NULL;
		goto done;
	}
	for (v = lsm_versionset_live_head(db->vs); v != NULL; v = lsm_versionset_live_next(db->vs, v))
		for (level = 0; level < LSM_NUM_LEVELS; level++)
			mark_referenced(&cand, kept, v->files[level], v->n_files[level]);
	mark_referenced(&cand, kept, db->deferred, db->n_deferred);
	lsm_versionset_obsolete_list(db->vs, &ob, &n_ob);
	mark_referenced(&cand, kept, ob, n_ob);
	for (i = 0; i < cand.n; i++)
		if (!kept[i])
			res[k++] = cand.u[i].number;
done:
	lsm_free(kept);
	lsm_blob_uses_free(&cand);
	*out = res;
	*n_out = k;
}

void
lsm_blob_delete(LsmDb *db, const uint64_t *numbers, int n)
{
	char		path[LSM_PATH_MAX];
	int			i;

	for (i = 0; i < n; i++)
	{
		lsm_blob_forget(db, numbers[i]);
		if (lsm_file_path(path, db->dir, LSM_FILE_BLOB, numbers[i]))
			db->env->unlink(db->env, path, NULL);
	}
}

static int
use_number_cmp(const void *a, const void *b)
{
	uint64_t	x = ((const LsmBlobUse *) a)->number;
	uint64_t	y = ((const LsmBlobUse *) b)->number;

	return x < y ? -1 : x > y;
}

/*
 * All the references gathered, sorted by number and summed: inserting them
 * one by one into the sorted list moved the list for each new number, and
 * newer levels name newer blob files first, so a table of thousands of blob
 * files spent O(files^2) under the database mutex (this also runs at
 * version installs, for the compaction pressure).
 */
bool
lsm_blob_version_uses(const LsmVersion *v, LsmBlobUses *out)
{
	size_t		n = 0;
	int			level;
	int			i;
	int			j;
	int			k;

	memset(out, 0, sizeof(*out));
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
			n += (size_t) v->files[level][i]->n_blobs;
	if (n == 0)
		return true;
	if (n > (size_t) INT32_MAX)
		return false;
	out->u = lsm_malloc(n * sizeof(LsmBlobUse));
	if (out->u == NULL)
		return false;
	out->cap = (int) n;
	for (level = 0; level < LSM_NUM_LEVELS; level++)
		for (i = 0; i < v->n_files[level]; i++)
		{
			const LsmFileMeta *f = v->files[level][i];

			if (f->n_blobs == 0)
				continue;		/* its blobs may be NULL */
			memcpy(out->u + out->n, f->blobs, (size_t) f->n_blobs * sizeof(LsmBlobUse));
			out->n += f->n_blobs;
		}
	qsort(out->u, (size_t) out->n, sizeof(LsmBlobUse), use_number_cmp);
	for (j = 0, k = 0; j < out->n; j++)
	{
		if (k > 0 && out->u[k - 1].number == out->u[j].number)
			out->u[k - 1].bytes += out->u[j].bytes;
		else
			out->u[k++] = out->u[j];
	}
	out->n = k;
	return true;
}

void
lsm_blob_count_written(LsmDb *db, const LsmBlobWriter *w)
{
	LSM_STAT_ADD(db, blob_files_written, 1);
	LSM_STAT_ADD(db, bytes_blob_written, w->file_bytes);
}

/* Verify a version 1 blob file: an SSTable. */
static LsmCode
verify_v1(LsmSst *t, const char *path, const LsmBlobUse *u, LsmVerifyResult *out,
		  LsmStatus *st)
{
	LsmCode		rc = lsm_table_verify_counted(t, out, st);

	/* a blob file swapped for another could still match some lengths */
	if (rc == LSM_OK && (lsm_sst_props(t)->raw_value_bytes != u->total ||
						 lsm_sst_props(t)->file_bytes != u->file_size))
		rc = lsm_status_set(st, LSM_CORRUPTION, 0,
							"blob file \"%s\" holds %llu value bytes in %llu bytes, its tables say %llu in %llu",
							path, (unsigned long long) lsm_sst_props(t)->raw_value_bytes,
							(unsigned long long) lsm_sst_props(t)->file_bytes,
							(unsigned long long) u->total, (unsigned long long) u->file_size);
	return rc;
}

/*
 * Read the records of a version 2 or 3 blob file in order, a window of the file
 * at a time, checking each one and decoding it.
 */
#define BLOB_VERIFY_WINDOW (1024 * 1024)

static LsmCode
verify_v2(LsmDb *db, const struct LsmBlobReader *r, const BlobFooter *ft, const char *path,
		  const LsmBlobUse *u, LsmVerifyResult *out, LsmStatus *st)
{
	LsmBuf		win = LSM_BUF_INIT;
	LsmBuf		val = LSM_BUF_INIT;
	uint64_t	win_off = 0;
	uint64_t	pos = 0;
	uint64_t	values = 0;
	uint64_t	bytes = 0;
	LsmCode		rc = LSM_OK;

	if (!lsm_buf_make_private(&win, BLOB_VERIFY_WINDOW))
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory verifying \"%s\"", path);
	while (rc == LSM_OK && pos < ft->end)
	{
		const char *bad = NULL;
		const void *ddict = NULL;
		uint8_t		kind;
		LsmSlice	stored;
		uint64_t	need = BLOB_RECORD_HEADER;
		uint64_t	have;
		size_t		dlen;
		bool		nomem;

		if (ft->end - pos < BLOB_RECORD_HEADER)
		{
			rc = blob_corrupt(st, path, pos, "truncated record");
			break;
		}
		have = win_off + win.len - pos;
		if (pos < win_off || have < need ||
			have < need + lsm_get_fixed32(win.data + (pos - win_off) + 4))
		{
			/* refill from pos: the header, then at least the whole record */
			uint8_t		hdr[BLOB_RECORD_HEADER];
			uint64_t	want;

			rc = db->env->read_at(r->file, hdr, sizeof(hdr), pos, st);
			if (rc != LSM_OK)
				break;
			need += lsm_get_fixed32(hdr + 4);
			if (need > ft->end - pos)
			{
				rc = blob_corrupt(st, path, pos, "record longer than the file");
				break;
			}
			want = need > BLOB_VERIFY_WINDOW ? need : BLOB_VERIFY_WINDOW;
			if (want > ft->end - pos)
				want = ft->end - pos;
			lsm_buf_reset(&win);
			if (!lsm_buf_reserve(&win, (size_t) want))
			{
				rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory verifying \"%s\"", path);
				break;
			}
			rc = db->env->read_at(r->file, win.data, (size_t) want, pos, st);
			if (rc != LSM_OK)
				break;
			win.len = (size_t) want;
			win_off = pos;
			have = want;
		}
		bad = check_record(u->number, win.data + (pos - win_off), have, &kind, &stored);
		if (bad == NULL && (kind == BLOB_KIND_DICT) != (ft->version == 3 && pos == 0))
			bad = kind == BLOB_KIND_DICT ? "dictionary record after the first" :
				"no dictionary record";
		if (bad == NULL && kind == BLOB_KIND_DICT)
		{
			bad = check_dict(stored);
			if (bad == NULL)
			{
				pos += BLOB_RECORD_HEADER + stored.len;
				continue;
			}
		}
		if (bad == NULL && kind == BLOB_KIND_ZSTD_DICT)
		{
			rc = file_ddict(db, r, &ddict, st);
			if (rc != LSM_OK)
				break;
		}
		if (bad == NULL && kind != LSM_COMPRESSION_NONE)
		{
			if (!lsm_codec_decoded_len(kind == BLOB_KIND_ZSTD_DICT ? LSM_COMPRESSION_ZSTD :
									   (LsmCompression) kind, stored, &dlen) ||
				dlen > UINT32_MAX)
				bad = "bad codec header in record";
			else
				bad = decode_record(kind, stored, (uint32_t) dlen, ddict, &val, &nomem);
			if (bad == NULL && nomem)
			{
				rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory verifying \"%s\"", path);
				break;
			}
		}
		else
			dlen = stored.len;
		if (bad != NULL)
		{
			rc = blob_corrupt(st, path, pos, bad);
			break;
		}
		out->blocks++;
		out->blocks_by_codec[kind == BLOB_KIND_ZSTD_DICT ? LSM_COMPRESSION_ZSTD : kind]++;
		out->entries++;
		values++;
		bytes += dlen;
		pos += BLOB_RECORD_HEADER + stored.len;
	}
	lsm_buf_free(&win);
	lsm_buf_free(&val);
	if (rc != LSM_OK)
		return rc;
	if (values != ft->values || bytes != ft->bytes)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "blob file \"%s\" holds %llu values of %llu bytes, its footer says %llu of %llu",
							  path, (unsigned long long) values, (unsigned long long) bytes,
							  (unsigned long long) ft->values, (unsigned long long) ft->bytes);
	/* a blob file swapped for another fails its records' checksums; this is the rest */
	if (bytes != u->total || ft->end + BLOB_FOOTER_SIZE != u->file_size)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "blob file \"%s\" holds %llu value bytes in %llu bytes, its tables say %llu in %llu",
							  path, (unsigned long long) bytes,
							  (unsigned long long) (ft->end + BLOB_FOOTER_SIZE),
							  (unsigned long long) u->total, (unsigned long long) u->file_size);
	return LSM_OK;
}

LsmCode
lsm_blob_verify(LsmDb *db, const LsmBlobUse *u, LsmVerifyResult *out, LsmStatus *st)
{
	char		path[LSM_PATH_MAX];
	struct LsmBlobReader r;
	BlobFooter	ft;
	LsmCode		rc;

	if (!lsm_file_path(path, db->dir, LSM_FILE_BLOB, u->number))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "database path \"%s\" is too long", db->dir);
	/* a reader of its own: verification must see the disk, not the cache */
	rc = reader_open(db, path, u->number, NULL, &r, &ft, st);
	if (rc != LSM_OK)
		return rc;
	if (r.table != NULL)
		rc = verify_v1(r.table, path, u, out, st);
	else
	{
		rc = verify_v2(db, &r, &ft, path, u, out, st);
		out->bytes += ft.end + BLOB_FOOTER_SIZE;
	}
	reader_close(db, &r);
	return rc;
}
