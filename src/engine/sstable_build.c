/*
 * sstable_build.c
 *		Writing SSTables: data blocks, bloom filter, index, properties and
 *		footer (docs/format.md, "SSTable").
 *
 * Entries arrive in internal-key order.  They fill a data block until it
 * reaches the target size; the block is then compressed with the table's
 * codec, zstd or LZ4 (or kept raw when that saves less than an eighth),
 * given its trailer and appended to an
 * output buffer that is written to the file in large pieces.  The index
 * entry of a block is written only when the next key is known, so that
 * the index key can be a short separator between the two blocks.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "block.h"
#include "compress.h"
#include "lsm_alloc.h"
#include "bloom.h"
#include "lsm_coding.h"
#include "lsm_crc32c.h"
#include "lsm_format.h"
#include "sstable.h"

/* Output is written to the file in pieces of about this size. */
#define WRITE_CHUNK (256 * 1024)

/* Block size bounds, so that a block plus one entry stays far below 4 GiB. */
#define MIN_BLOCK_SIZE 256
#define MAX_BLOCK_SIZE (256u * 1024 * 1024)

struct LsmSstBuilder
{
	LsmEnv	   *env;
	char	   *path;
	LsmFile    *file;
	LsmSstOptions opts;

	uint64_t	offset;			/* file bytes produced (written or buffered) */
	uint64_t	written;		/* file bytes handed to write_at */
	LsmBuf		out;			/* produced but not yet written */

	LsmBlockBuilder data;
	LsmBlockBuilder index;
	LsmBloomBuilder bloom;
	bool		has_bloom;
	LsmCodecState codec;		/* compresses every block */
	LsmBuf		scratch;		/* index separators and handles */

	LsmBuf		last_key;		/* last key added */
	bool		pending_index;	/* a block was cut; its index entry waits */
	uint64_t	pending_offset;
	uint64_t	pending_size;

	LsmSstProps props;
	LsmStatus	err;			/* sticky I/O or memory error */
	bool		no_sync;		/* lsm_sst_builder_skip_sync */
};

/*
 * lsm_sst_options_from
 *		Copy the table-shaping options out of the database options.
 */
void
lsm_sst_options_from(LsmSstOptions *to, const LsmOptions *opts)
{
	to->block_size = opts->block_size;
	to->restart_interval = opts->block_restart_interval;
	to->compression = opts->compression;
	to->compression_level = opts->compression_level;
	to->bloom_bits_per_key = opts->bloom_bits_per_key;
}

void
lsm_sst_props_free(LsmSstProps *p)
{
	if (p == NULL)
		return;
	lsm_buf_free(&p->smallest);
	lsm_buf_free(&p->largest);
}

static void builder_free(LsmSstBuilder *b);

static LsmCode
builder_nomem(LsmSstBuilder *b, LsmStatus *st)
{
	if (b->err.code == LSM_OK)
		lsm_status_set(&b->err, LSM_NO_MEMORY, 0,
					   "out of memory building table \"%s\" at offset %llu",
					   b->path, (unsigned long long) b->offset);
	if (st)
		*st = b->err;
	return b->err.code;
}

/*
 * lsm_sst_builder_open
 *		Create the file (it must not exist: table files are never
 *		overwritten) and set up the builders.
 */
LsmCode
lsm_sst_builder_open(LsmEnv *env, const char *path, const LsmSstOptions *opts,
					   LsmSstBuilder **bp, LsmStatus *st)
{
	LsmSstBuilder *b;
	LsmCode		rc;

	*bp = NULL;
	if (env == NULL)
		env = lsm_env_posix();
	if (opts->compression != LSM_COMPRESSION_NONE &&
		opts->compression != LSM_COMPRESSION_ZSTD &&
		opts->compression != LSM_COMPRESSION_LZ4)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "unknown compression %d for table \"%s\"",
							  (int) opts->compression, path);
	b = lsm_calloc(1, sizeof(LsmSstBuilder));
	if (b == NULL || (b->path = lsm_strdup(path)) == NULL)
	{
		lsm_free(b);
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory creating table \"%s\"", path);
	}
	b->env = env;
	b->opts = *opts;
	if (b->opts.block_size < MIN_BLOCK_SIZE)
		b->opts.block_size = MIN_BLOCK_SIZE;
	if (b->opts.block_size > MAX_BLOCK_SIZE)
		b->opts.block_size = MAX_BLOCK_SIZE;
	lsm_block_builder_init(&b->data, opts->restart_interval);
	/* index keys are sought individually, so every one is a restart */
	lsm_block_builder_init(&b->index, 1);
	b->has_bloom = opts->bloom_bits_per_key > 0;
	lsm_bloom_builder_init(&b->bloom, opts->bloom_bits_per_key);
	lsm_codec_init(&b->codec, opts->compression, opts->compression_level);
	lsm_status_clear(&b->err);

	/*
	 * A block, its compressed copy and the output grow as big as the
	 * biggest entry.  Only this builder's process touches them, so they
	 * take the process's own memory: in a host whose engine memory is a
	 * fixed shared heap, a big row must not need several times its size
	 * in that heap to be flushed.
	 */
	if (!lsm_buf_make_private(&b->data.buf, 4096) ||
		!lsm_buf_make_private(&b->data.last_key, 64) ||
		!lsm_buf_make_private(&b->index.buf, 4096) ||
		!lsm_buf_make_private(&b->out, 4096) ||
		!lsm_buf_make_private(&b->scratch, 64) ||
		!lsm_buf_make_private(&b->last_key, 64))
	{
		lsm_sst_builder_abandon(b);
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory creating table \"%s\"", path);
	}
	b->props.min_seq = LSM_MAX_SEQ;
	rc = env->open_file(env, path, LSM_OPEN_WRITE | LSM_OPEN_CREATE | LSM_OPEN_EXCL,
						&b->file, st);
	if (rc != LSM_OK)
	{
		b->file = NULL;
		/* not ours to remove: it may be someone else's existing file */
		builder_free(b);
		return rc;
	}
	*bp = b;
	return LSM_OK;
}

/* Write out the buffered bytes. */
static LsmCode
flush_out(LsmSstBuilder *b)
{
	LsmCode		rc;

	if (b->out.len == 0)
		return LSM_OK;
	rc = b->env->write_at(b->file, b->out.data, b->out.len, b->written, &b->err);
	if (rc != LSM_OK)
		return rc;
	b->written += b->out.len;
	lsm_buf_reset(&b->out);
	return LSM_OK;
}

/*
 * emit_block
 *		Append payload + kind byte + masked CRC to the output and return the
 *		block's handle.
 */
static LsmCode
emit_block(LsmSstBuilder *b, LsmSlice payload, LsmCompression kind,
		   uint64_t *offset, uint64_t *size)
{
	uint8_t		trailer[LSM_BLOCK_TRAILER_SIZE];
	uint32_t	crc;

	trailer[0] = (uint8_t) kind;
	crc = lsm_crc32c_extend(lsm_crc32c(payload.data, payload.len), trailer, 1);
	lsm_put_fixed32(trailer + 1, lsm_crc32c_mask(crc));
	if (!lsm_buf_reserve(&b->out, payload.len + sizeof(trailer)))
		return builder_nomem(b, NULL);
	lsm_buf_append(&b->out, payload.data, payload.len);
	lsm_buf_append(&b->out, trailer, sizeof(trailer));
	*offset = b->offset;
	*size = payload.len;
	b->offset += payload.len + sizeof(trailer);
	if (b->env->cpu_yield != NULL)
		b->env->cpu_yield(b->env);
	if (b->out.len >= WRITE_CHUNK)
		return flush_out(b);
	return LSM_OK;
}

/*
 * flush_data_block
 *		Finish the current data block, compress it when that pays, emit it,
 *		and leave its index entry pending until the next key is known.
 */
static LsmCode
flush_data_block(LsmSstBuilder *b)
{
	LsmSlice	raw;
	LsmSlice	payload;
	LsmCompression kind = LSM_COMPRESSION_NONE;
	LsmCode		rc;

	if (lsm_block_builder_empty(&b->data))
		return LSM_OK;
	if (!lsm_block_builder_finish(&b->data, &raw))
		return builder_nomem(b, NULL);
	if (!lsm_codec_compress(&b->codec, raw, &kind, &payload))
		return builder_nomem(b, NULL);
	rc = emit_block(b, payload, kind, &b->pending_offset, &b->pending_size);
	if (rc != LSM_OK)
		return rc;
	b->pending_index = true;
	b->props.data_blocks++;
	b->props.data_bytes += payload.len + LSM_BLOCK_TRAILER_SIZE;
	lsm_block_builder_reset(&b->data);
	return LSM_OK;
}

/*
 * shorten_user_key
 *		Write into out a user key s with a <= s, s < b (or s > a when b is
 *		NULL: the successor of the last key), shorter than a when one
 *		exists; return false when none shorter exists.
 */
static bool
shorten_user_key(LsmSlice a, const LsmSlice *b, LsmBuf *out, bool *nomem)
{
	size_t		n = 0;

	*nomem = false;
	if (b != NULL)
	{
		size_t		min = a.len < b->len ? a.len : b->len;

		while (n < min && a.data[n] == b->data[n])
			n++;
		/* a is a prefix of b: nothing between them is shorter than a */
		if (n >= min || n + 1 >= a.len)
			return false;
		if (a.data[n] == 0xff || a.data[n] + 1 >= b->data[n])
			return false;
	}
	else
	{
		while (n < a.len && a.data[n] == 0xff)
			n++;
		if (n + 1 >= a.len)
			return false;
	}
	lsm_buf_reset(out);
	if (!lsm_buf_append(out, a.data, n + 1))
	{
		*nomem = true;
		return false;
	}
	out->data[n]++;
	return true;
}

/*
 * add_index_entry
 *		Index the pending block under a key k with last_key <= k < next
 *		(next NULL for the final block).  A shortened user key gets the
 *		highest seqno (and LSM_KIND_SEPARATOR), so it sorts before every
 *		real entry of that user key and still above last_key, whose user
 *		key is smaller.
 */
static LsmCode
add_index_entry(LsmSstBuilder *b, const LsmSlice *next)
{
	LsmSlice	last = lsm_buf_slice(&b->last_key);
	LsmSlice	ulast = lsm_ikey_user_key(last);
	LsmSlice	unext = lsm_slice(NULL, 0);
	LsmSlice	sep = last;
	uint8_t		handle[2 * LSM_VARINT64_MAX];
	uint8_t    *p;
	bool		nomem;

	if (next != NULL)
		unext = lsm_ikey_user_key(*next);
	if (shorten_user_key(ulast, next ? &unext : NULL, &b->scratch, &nomem))
	{
		if (!lsm_ikey_append(&b->scratch, lsm_slice(NULL, 0), LSM_MAX_SEQ,
							 LSM_KIND_SEPARATOR))
			return builder_nomem(b, NULL);
		sep = lsm_buf_slice(&b->scratch);
	}
	else if (nomem)
		return builder_nomem(b, NULL);
	p = lsm_encode_varint64(handle, b->pending_offset);
	p = lsm_encode_varint64(p, b->pending_size);
	if (!lsm_block_builder_add(&b->index, sep, lsm_slice(handle, (size_t) (p - handle))))
		return builder_nomem(b, NULL);
	b->pending_index = false;
	return LSM_OK;
}

/*
 * lsm_sst_builder_add
 *		Add one entry.  Bad keys and keys out of order are refused without
 *		harming the builder; I/O and memory errors are sticky.
 */
LsmCode
lsm_sst_builder_add(LsmSstBuilder *b, LsmSlice ikey, LsmSlice value,
					  LsmStatus *st)
{
	LsmParsedKey pk;
	LsmCode		rc;

	if (b->err.code != LSM_OK)
	{
		if (st)
			*st = b->err;
		return b->err.code;
	}
	if (!lsm_ikey_parse(ikey, &pk))
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "malformed internal key of %zu bytes added to table \"%s\"",
							  ikey.len, b->path);
	if (ikey.len > LSM_SST_MAX_KEY || value.len > LSM_SST_MAX_VALUE)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "entry too large (key %zu bytes, value %zu bytes) for table \"%s\"",
							  ikey.len, value.len, b->path);
	if (b->props.entries > 0 &&
		lsm_ikey_cmp(ikey, lsm_buf_slice(&b->last_key)) <= 0)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "key out of order at entry %llu of table \"%s\"",
							  (unsigned long long) b->props.entries, b->path);

	if (b->pending_index && (rc = add_index_entry(b, &ikey)) != LSM_OK)
		goto fail;
	/* the filter holds user keys once, however many versions follow */
	if (b->has_bloom &&
		(b->props.entries == 0 ||
		 !lsm_slice_eq(pk.user_key, lsm_ikey_user_key(lsm_buf_slice(&b->last_key)))) &&
		!lsm_bloom_builder_add(&b->bloom, pk.user_key))
	{
		rc = builder_nomem(b, NULL);
		goto fail;
	}
	if (!lsm_block_builder_add(&b->data, ikey, value) ||
		!lsm_buf_set(&b->last_key, ikey.data, ikey.len) ||
		(b->props.entries == 0 && !lsm_buf_set(&b->props.smallest, ikey.data, ikey.len)))
	{
		rc = builder_nomem(b, NULL);
		goto fail;
	}

	b->props.entries++;
	if (pk.kind == LSM_KIND_DELETE)
		b->props.tombstones++;
	else if (pk.kind == LSM_KIND_MERGE)
		b->props.merges++;
	else if (pk.kind == LSM_KIND_BLOB)
		b->props.blob_refs++;
	b->props.raw_key_bytes += ikey.len;
	b->props.raw_value_bytes += value.len;
	if (pk.seq < b->props.min_seq)
		b->props.min_seq = pk.seq;
	if (pk.seq > b->props.max_seq)
		b->props.max_seq = pk.seq;

	if (lsm_block_builder_size(&b->data) >= b->opts.block_size &&
		(rc = flush_data_block(b)) != LSM_OK)
		goto fail;
	return LSM_OK;

fail:
	if (st)
		*st = b->err;
	return rc;
}

uint64_t
lsm_sst_builder_size(const LsmSstBuilder *b)
{
	return b->offset + (lsm_block_builder_empty(&b->data) ? 0 :
						lsm_block_builder_size(&b->data));
}

uint64_t
lsm_sst_builder_entries(const LsmSstBuilder *b)
{
	return b->props.entries;
}

static bool
prop_u64(LsmBlockBuilder *pb, const char *name, uint64_t v)
{
	uint8_t		enc[8];

	lsm_put_fixed64(enc, v);
	return lsm_block_builder_add(pb, lsm_slice_str(name), lsm_slice(enc, 8));
}

/*
 * build_props_block
 *		Encode the properties as a block of name -> value entries, names in
 *		bytewise order.  Numbers are fixed64 so the block's size does not
 *		depend on them, which lets file_bytes (which includes this block)
 *		be filled in afterwards by encoding once more.
 */
static bool
build_props_block(LsmBlockBuilder *pb, const LsmSstProps *p, LsmSlice *out)
{
	lsm_block_builder_reset(pb);
	return (p->blob_refs == 0 || prop_u64(pb, "blob_refs", p->blob_refs)) &&
		prop_u64(pb, "created_micros", p->created_micros) &&
		prop_u64(pb, "data_blocks", p->data_blocks) &&
		prop_u64(pb, "data_bytes", p->data_bytes) &&
		prop_u64(pb, "entries", p->entries) &&
		prop_u64(pb, "file_bytes", p->file_bytes) &&
		prop_u64(pb, "filter_bytes", p->filter_bytes) &&
		prop_u64(pb, "index_bytes", p->index_bytes) &&
		lsm_block_builder_add(pb, lsm_slice_str("largest"), lsm_buf_slice(&p->largest)) &&
		prop_u64(pb, "max_seq", p->max_seq) &&
		prop_u64(pb, "merges", p->merges) &&
		prop_u64(pb, "min_seq", p->min_seq) &&
		prop_u64(pb, "raw_key_bytes", p->raw_key_bytes) &&
		prop_u64(pb, "raw_value_bytes", p->raw_value_bytes) &&
		lsm_block_builder_add(pb, lsm_slice_str("smallest"), lsm_buf_slice(&p->smallest)) &&
		prop_u64(pb, "tombstones", p->tombstones) &&
		lsm_block_builder_finish(pb, out);
}

static uint64_t
wall_clock_micros(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void
builder_free(LsmSstBuilder *b)
{
	lsm_block_builder_free(&b->data);
	lsm_block_builder_free(&b->index);
	lsm_bloom_builder_free(&b->bloom);
	lsm_codec_free(&b->codec);
	lsm_buf_free(&b->scratch);
	lsm_buf_free(&b->out);
	lsm_buf_free(&b->last_key);
	lsm_sst_props_free(&b->props);
	lsm_free(b->path);
	lsm_free(b);
}

/*
 * write_tail
 *		Everything after the last data block: filter, index, properties,
 *		footer; then write, sync and close.
 */
static LsmCode
write_tail(LsmSstBuilder *b)
{
	uint64_t	filter_off = 0,
				filter_size = 0,
				index_off,
				index_size,
				props_off,
				props_size;
	LsmSlice	blk;
	LsmBlockBuilder pb;
	uint8_t		footer[LSM_SST_FOOTER_SIZE];
	LsmCode		rc;
	LsmFile    *f;

	if ((rc = flush_data_block(b)) != LSM_OK)
		return rc;
	if (b->pending_index && (rc = add_index_entry(b, NULL)) != LSM_OK)
		return rc;
	if (b->props.entries == 0)
		b->props.min_seq = 0;
	if (!lsm_buf_set(&b->props.largest, b->last_key.data, b->last_key.len))
		return builder_nomem(b, NULL);

	if (b->has_bloom)
	{
		lsm_buf_reset(&b->scratch);
		if (!lsm_bloom_builder_finish(&b->bloom, &b->scratch))
			return builder_nomem(b, NULL);
		rc = emit_block(b, lsm_buf_slice(&b->scratch), LSM_COMPRESSION_NONE,
						&filter_off, &filter_size);
		if (rc != LSM_OK)
			return rc;
		b->props.filter_bytes = filter_size + LSM_BLOCK_TRAILER_SIZE;
	}

	if (!lsm_block_builder_finish(&b->index, &blk))
		return builder_nomem(b, NULL);
	if ((rc = emit_block(b, blk, LSM_COMPRESSION_NONE, &index_off, &index_size)) != LSM_OK)
		return rc;
	b->props.index_bytes = index_size + LSM_BLOCK_TRAILER_SIZE;

	b->props.created_micros = wall_clock_micros();
	lsm_block_builder_init(&pb, 1);
	if (!build_props_block(&pb, &b->props, &blk))
	{
		lsm_block_builder_free(&pb);
		return builder_nomem(b, NULL);
	}
	b->props.file_bytes = b->offset + blk.len + LSM_BLOCK_TRAILER_SIZE +
		LSM_SST_FOOTER_SIZE;
	if (!build_props_block(&pb, &b->props, &blk))
	{
		lsm_block_builder_free(&pb);
		return builder_nomem(b, NULL);
	}
	rc = emit_block(b, blk, LSM_COMPRESSION_NONE, &props_off, &props_size);
	lsm_block_builder_free(&pb);
	if (rc != LSM_OK)
		return rc;

	lsm_put_fixed64(footer + 0, filter_off);
	lsm_put_fixed64(footer + 8, filter_size);
	lsm_put_fixed64(footer + 16, index_off);
	lsm_put_fixed64(footer + 24, index_size);
	lsm_put_fixed64(footer + 32, props_off);
	lsm_put_fixed64(footer + 40, props_size);
	lsm_put_fixed32(footer + 48, LSM_SST_FORMAT_VERSION);
	lsm_put_fixed32(footer + 52, lsm_crc32c_mask(lsm_crc32c(footer, 52)));
	lsm_put_fixed64(footer + 56, LSM_SST_MAGIC);
	if (!lsm_buf_append(&b->out, footer, sizeof(footer)))
		return builder_nomem(b, NULL);
	b->offset += sizeof(footer);

	if ((rc = flush_out(b)) != LSM_OK ||
		(!b->no_sync && (rc = b->env->sync(b->file, &b->err)) != LSM_OK))
		return rc;
	f = b->file;
	b->file = NULL;
	return b->env->close_file(f, &b->err);
}

/*
 * lsm_sst_builder_skip_sync
 *		Finish without an fsync: for a scratch file that a crash makes
 *		useless anyway (a transaction's spilled run, removed at restart),
 *		whose pages may then never need to reach the disk at all.
 */
void
lsm_sst_builder_skip_sync(LsmSstBuilder *b)
{
	b->no_sync = true;
}

/*
 * lsm_sst_builder_finish
 *		Complete the table.  The directory entry is not synced here: the
 *		caller syncs the directory once for all the files it created.
 */
LsmCode
lsm_sst_builder_finish(LsmSstBuilder *b, LsmSstProps *props, LsmStatus *st)
{
	LsmCode		rc;

	if (b->err.code != LSM_OK)
		rc = b->err.code;
	else
		rc = write_tail(b);
	if (rc == LSM_OK && props != NULL)
	{
		*props = b->props;
		/* hand over the key buffers instead of copying them */
		memset(&b->props.smallest, 0, sizeof(LsmBuf));
		memset(&b->props.largest, 0, sizeof(LsmBuf));
	}
	if (rc != LSM_OK)
	{
		if (st)
			*st = b->err;
		lsm_sst_builder_abandon(b);
		return rc;
	}
	builder_free(b);
	return LSM_OK;
}

void
lsm_sst_builder_abandon(LsmSstBuilder *b)
{
	LsmStatus	ignore;

	if (b == NULL)
		return;
	if (b->file != NULL)
	{
		b->env->close_file(b->file, &ignore);
		b->env->unlink(b->env, b->path, &ignore);
	}
	else if (b->offset > 0)
	{
		/* closed after writing everything, then failed: still remove it */
		b->env->unlink(b->env, b->path, &ignore);
	}
	builder_free(b);
}
