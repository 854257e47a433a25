/*
 * sstable_read.c
 *		Reading SSTables: open, point lookups, iteration and verification
 *		(docs/format.md, "SSTable").
 *
 * Opening reads the footer, the properties, the index and the filter,
 * verifies their checksums and cross-checks them (block handles must tile
 * the file exactly, the index must be sorted and its handles contiguous,
 * properties must agree with the layout), then keeps index and filter in
 * memory for the table's life.  After that, an index entry can be trusted
 * to point inside the data area, and a data block is trusted once its own
 * checksum matches; the block iterator still bounds-checks every entry, so
 * a checksum collision cannot make a read go astray.
 *
 * Decoded data blocks go through the block cache when the table has one
 * (keyed by file number and block offset); otherwise every read owns its
 * block and frees it when the block's iterator is destroyed.
 *
 * Thread safety: after open, a table is read-only (zstd's decompression
 * contexts are per thread, compress.c), so any number of threads may read
 * one table at once.
 */
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "compress.h"
#include "lsm_alloc.h"
#include "bloom.h"
#include "lsm_coding.h"
#include "lsm_crc32c.h"
#include "lsm_format.h"
#include "sstable.h"

struct LsmSst
{
	LsmEnv	   *env;
	char	   *path;
	LsmFile    *file;
	uint64_t	file_number;
	uint64_t	file_size;
	LsmBlockCache *cache;		/* nullable */

	uint8_t    *index_buf;		/* owns the index block */
	LsmSlice	index;
	uint64_t	index_offset;
	uint8_t    *filter_buf;		/* owns the filter block; NULL: none */
	LsmSlice	filter;
	uint64_t	filter_offset;
	uint64_t	props_offset;
	uint64_t	data_end;		/* data blocks occupy [0, data_end) */
	LsmSstProps props;
	/*
	 * An ingested file (lsm_db_ingest) stores sequence number 0 and gets its
	 * number when it joins a version; readers see every entry with it.  0:
	 * the stored numbers count.
	 */
	LsmSeq		global_seq;

	/*
	 * Fences of the index block (make_fences), NULL when not made: per
	 * index entry, the 8 bytes of its user key after the fence_skip bytes
	 * every entry's user key begins with (fence_common), big-endian and
	 * zero-padded.  A get searches them before it compares whole keys.
	 */
	uint64_t   *fences;
	uint32_t	n_fences;
	uint32_t	fence_skip;
	uint8_t    *fence_common;
};

static LsmCode
corrupt(LsmStatus *st, const LsmSst *t, uint64_t offset, const char *what)
{
	return lsm_status_set(st, LSM_CORRUPTION, 0, "%s at offset %llu of file \"%s\"",
						  what, (unsigned long long) offset, t->path);
}

static LsmCode
nomem(LsmStatus *st, const LsmSst *t, uint64_t offset)
{
	return lsm_status_set(st, LSM_NO_MEMORY, 0,
						  "out of memory reading block at offset %llu of file \"%s\"",
						  (unsigned long long) offset, t->path);
}

/*
 * Data blocks above this size are read for one iterator and never cached:
 * only a big value makes such a block, and caching it would evict
 * everything else for a row that is rarely read twice.
 */
#define LSM_PRIVATE_BLOCK_BYTES (1024 * 1024)

/*
 * A stored block this small is read into the stack: a compressed one is
 * freed right after decompression, and a malloc/free pair per read was 3%
 * of a point get.
 */
#define LSM_STACK_READ_BYTES (16 * 1024)

/*
 * Memory for a data block that may go to the block cache (read_block's
 * callers that pass is_private read data blocks): an evicted block's when
 * the cache kept one, which spares the heap's mutex.
 */
static inline uint8_t *
cache_buffer(LsmSst *t, uint64_t offset, const bool *is_private, size_t len)
{
	if (is_private == NULL || t->cache == NULL || len == 0)
		return NULL;
	return lsm_block_cache_buffer(t->cache, t->file_number, offset, len);
}

static inline void
raw_free(uint8_t *raw, const uint8_t *stack_raw)
{
	if (raw != stack_raw)
		lsm_free(raw);
}

/*
 * read_block
 *		Read the stored block (offset, size) with its trailer, verify the
 *		checksum and return the decoded contents in a malloc'd buffer
 *		(*buf, of which the first *len bytes are the block).  With
 *		is_private set, a data block bigger than LSM_PRIVATE_BLOCK_BYTES
 *		comes in process-private memory (*is_private true), which must not
 *		be cached: one big value then costs one process its size, not the
 *		host's shared heap.  Meta blocks
 *		(index, filter, properties) are never compressed, so a compressed
 *		one is corruption.
 */
static LsmCode
read_block(LsmSst *t, uint64_t offset, uint64_t size, bool allow_compressed,
		   uint8_t **buf, size_t *len, bool *is_private, LsmStatus *st)
{
	uint8_t		stack_raw[LSM_STACK_READ_BYTES];
	uint8_t    *raw;
	uint32_t	stored,
				actual;
	uint8_t		kind;
	LsmCode		rc;
	bool		raw_private;

	*buf = NULL;
	*len = 0;
	if (is_private)
		*is_private = false;
	if (size > t->file_size || offset > t->file_size - size ||
		t->file_size - size - offset < LSM_BLOCK_TRAILER_SIZE || size > UINT32_MAX)
		return corrupt(st, t, offset, "block handle out of range");
	raw_private = is_private != NULL && size > LSM_PRIVATE_BLOCK_BYTES;
	if (size + LSM_BLOCK_TRAILER_SIZE <= sizeof(stack_raw))
		raw = stack_raw;
	else if (raw_private)
		raw = lsm_malloc_private((size_t) size + LSM_BLOCK_TRAILER_SIZE);
	else
		raw = lsm_malloc((size_t) size + LSM_BLOCK_TRAILER_SIZE);
	if (raw == NULL)
		return nomem(st, t, offset);
	rc = t->env->read_at(t->file, raw, (size_t) size + LSM_BLOCK_TRAILER_SIZE, offset, st);
	if (rc != LSM_OK)
	{
		raw_free(raw, stack_raw);
		return rc;
	}
	stored = lsm_crc32c_unmask(lsm_get_fixed32(raw + size + 1));
	actual = lsm_crc32c(raw, (size_t) size + 1);
	if (stored != actual)
	{
		raw_free(raw, stack_raw);
		return corrupt(st, t, offset, "checksum mismatch in block");
	}
	kind = raw[size];
	if (kind == LSM_COMPRESSION_NONE)
	{
		if (raw == stack_raw)
		{
			/* not private: that needs a block above the stack buffer */
			raw = cache_buffer(t, offset, is_private, (size_t) size);
			if (raw == NULL && (raw = lsm_malloc(size ? (size_t) size : 1)) == NULL)
				return nomem(st, t, offset);
			memcpy(raw, stack_raw, (size_t) size);
		}
		*buf = raw;
		*len = (size_t) size;
		if (is_private)
			*is_private = raw_private;
		return LSM_OK;
	}
	if ((kind == LSM_COMPRESSION_ZSTD || kind == LSM_COMPRESSION_LZ4) && allow_compressed)
	{
		LsmSlice	payload = lsm_slice(raw, (size_t) size);
		const char *name = kind == LSM_COMPRESSION_ZSTD ? "zstd" : "LZ4";
		size_t		dlen;
		uint8_t    *out;
		bool		oom;
		bool		ok;

		if (!lsm_codec_decoded_len(kind, payload, &dlen))
		{
			raw_free(raw, stack_raw);
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "bad %s header in block at offset %llu of file \"%s\"",
								  name, (unsigned long long) offset, t->path);
		}
		if (is_private && dlen > LSM_PRIVATE_BLOCK_BYTES)
		{
			out = lsm_malloc_private(dlen);
			*is_private = true;
		}
		else if ((out = cache_buffer(t, offset, is_private, dlen)) == NULL)
			out = lsm_malloc(dlen ? dlen : 1);
		if (out == NULL)
		{
			raw_free(raw, stack_raw);
			return nomem(st, t, offset);
		}
		ok = lsm_codec_decompress(kind, payload, out, dlen, &oom);
		raw_free(raw, stack_raw);
		if (!ok)
		{
			lsm_free(out);
			if (oom)
				return nomem(st, t, offset);
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "%s decompression failed for block at offset %llu of file \"%s\"",
								  name, (unsigned long long) offset, t->path);
		}
		*buf = out;
		*len = dlen;
		return LSM_OK;
	}
	raw_free(raw, stack_raw);
	return lsm_status_set(st, LSM_CORRUPTION, 0,
						  "unknown compression kind %u in block at offset %llu of file \"%s\"",
						  kind, (unsigned long long) offset, t->path);
}

/* Decode an index value: varint64 offset, varint64 size, nothing else. */
static bool
decode_handle(LsmSlice v, uint64_t *offset, uint64_t *size)
{
	const uint8_t *p = v.data;
	const uint8_t *limit = v.data + v.len;

	p = lsm_decode_varint64(p, limit, offset);
	if (p != NULL)
		p = lsm_decode_varint64(p, limit, size);
	return p != NULL && p == limit;
}

/*
 * load_data_block
 *		Return an iterator over the data block at (offset, size), from the
 *		cache when possible, else read (and cached when fill_cache).  With
 *		use_cache false the file is always read (verification must see the
 *		disk) and nothing is cached.
 */
static LsmCode
load_data_block(LsmSst *t, uint64_t offset, uint64_t size, bool use_cache,
				bool fill_cache, LsmReadStats *stats, LsmIter **out, LsmStatus *st)
{
	uint8_t    *buf;
	size_t		len;
	bool		is_private;
	LsmCode		rc;

	*out = NULL;
	if (offset >= t->data_end || size > t->data_end - offset ||
		t->data_end - offset - size < LSM_BLOCK_TRAILER_SIZE)
		return corrupt(st, t, offset, "data block handle out of range");
	if (use_cache && t->cache != NULL)
	{
		LsmCacheHandle *h = lsm_block_cache_lookup(t->cache, t->file_number, offset);

		if (h != NULL)
		{
			if (stats)
				stats->block_cache_hits++;
			*out = lsm_block_iter_cached(t->cache, h, lsm_ikey_cmp, t->path, offset);
			return *out ? LSM_OK : nomem(st, t, offset);
		}
	}
	rc = read_block(t, offset, size, true, &buf, &len, &is_private, st);
	if (rc != LSM_OK)
		return rc;
	if (stats)
		stats->block_reads++;
	if (!lsm_block_check(lsm_slice(buf, len)))
	{
		lsm_free(buf);
		return corrupt(st, t, offset, "malformed data block");
	}
	if (use_cache && fill_cache && t->cache != NULL && !is_private)
	{
		LsmCacheHandle *h = lsm_block_cache_insert(t->cache, t->file_number, offset,
												   buf, len);

		if (h == NULL)
			return nomem(st, t, offset);
		*out = lsm_block_iter_cached(t->cache, h, lsm_ikey_cmp, t->path, offset);
	}
	else
		*out = lsm_block_iter_owned(buf, len, lsm_ikey_cmp, t->path, offset);
	return *out ? LSM_OK : nomem(st, t, offset);
}

static LsmIter *
index_iter(LsmSst *t)
{
	return lsm_block_iter_borrowed(t->index, lsm_ikey_cmp, t->path, t->index_offset);
}

LsmCode
lsm_sst_index_keys(LsmSst *t, LsmSstVisitFn fn, void *arg, LsmStatus *st)
{
	LsmIter    *it = index_iter(t);
	LsmCode		rc;

	if (it == NULL)
		return nomem(st, t, t->index_offset);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		if (!fn(arg, lsm_iter_key(it), lsm_iter_value(it)))
			break;
	rc = lsm_iter_status(it, st);
	lsm_iter_destroy(it);
	return rc;
}

/* ----------------------------------------------------------------
 *		Open
 * ----------------------------------------------------------------
 */

typedef struct PropSpec
{
	const char *name;
	size_t		field;			/* offsetof in LsmSstProps */
	bool		is_key;			/* an LsmBuf rather than a uint64 */
	bool		optional;		/* absent means 0 */
} PropSpec;

static const PropSpec prop_specs[] = {
	{"blob_refs", offsetof(LsmSstProps, blob_refs), false, true},
	{"created_micros", offsetof(LsmSstProps, created_micros), false, false},
	{"data_blocks", offsetof(LsmSstProps, data_blocks), false, false},
	{"data_bytes", offsetof(LsmSstProps, data_bytes), false, false},
	{"entries", offsetof(LsmSstProps, entries), false, false},
	{"file_bytes", offsetof(LsmSstProps, file_bytes), false, false},
	{"filter_bytes", offsetof(LsmSstProps, filter_bytes), false, false},
	{"index_bytes", offsetof(LsmSstProps, index_bytes), false, false},
	{"largest", offsetof(LsmSstProps, largest), true, false},
	{"max_seq", offsetof(LsmSstProps, max_seq), false, false},
	{"merges", offsetof(LsmSstProps, merges), false, false},
	{"min_seq", offsetof(LsmSstProps, min_seq), false, false},
	{"raw_key_bytes", offsetof(LsmSstProps, raw_key_bytes), false, false},
	{"raw_value_bytes", offsetof(LsmSstProps, raw_value_bytes), false, false},
	{"smallest", offsetof(LsmSstProps, smallest), true, false},
	{"tombstones", offsetof(LsmSstProps, tombstones), false, false},
};

#define N_PROPS (sizeof(prop_specs) / sizeof(prop_specs[0]))

/*
 * parse_props
 *		Decode the properties block into t->props.  Unknown names are
 *		skipped (a later format may add some); every known one must be
 *		present with a well-formed value.
 */
static LsmCode
parse_props(LsmSst *t, LsmSlice block, LsmStatus *st)
{
	LsmIter    *it = lsm_block_iter_borrowed(block, lsm_slice_cmp, t->path, t->props_offset);
	bool		seen[N_PROPS] = {false};
	LsmCode		rc;

	if (it == NULL)
		return nomem(st, t, t->props_offset);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
	{
		LsmSlice	k = lsm_iter_key(it);
		LsmSlice	v = lsm_iter_value(it);

		for (size_t i = 0; i < N_PROPS; i++)
		{
			const PropSpec *ps = &prop_specs[i];

			if (!lsm_slice_eq(k, lsm_slice_str(ps->name)))
				continue;
			if (ps->is_key)
			{
				if (!lsm_buf_set((LsmBuf *) ((char *) &t->props + ps->field), v.data, v.len))
				{
					lsm_iter_destroy(it);
					return nomem(st, t, t->props_offset);
				}
			}
			else
			{
				if (v.len != 8)
				{
					lsm_iter_destroy(it);
					return corrupt(st, t, t->props_offset, "malformed property value in block");
				}
				*(uint64_t *) ((char *) &t->props + ps->field) = lsm_get_fixed64(v.data);
			}
			seen[i] = true;
		}
	}
	rc = lsm_iter_status(it, st);
	lsm_iter_destroy(it);
	if (rc != LSM_OK)
		return rc;
	for (size_t i = 0; i < N_PROPS; i++)
		if (!seen[i] && !prop_specs[i].optional)
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "properties block at offset %llu of file \"%s\" lacks \"%s\"",
								  (unsigned long long) t->props_offset, t->path,
								  prop_specs[i].name);
	return LSM_OK;
}

/*
 * check_props
 *		Cross-check the properties against the layout the footer gave.
 */
static LsmCode
check_props(LsmSst *t, uint64_t index_size, uint64_t filter_size, LsmStatus *st)
{
	const LsmSstProps *p = &t->props;
	LsmParsedKey pk;

	if (p->file_bytes != t->file_size)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "file \"%s\" is %llu bytes but its properties say %llu",
							  t->path, (unsigned long long) t->file_size,
							  (unsigned long long) p->file_bytes);
	if (p->data_bytes != t->data_end ||
		p->index_bytes != index_size + LSM_BLOCK_TRAILER_SIZE ||
		p->filter_bytes != (t->filter_buf ? filter_size + LSM_BLOCK_TRAILER_SIZE : 0) ||
		p->tombstones > p->entries || p->merges > p->entries ||
		p->blob_refs > p->entries ||
		p->tombstones + p->merges + p->blob_refs > p->entries ||
		(p->entries == 0) != (p->data_blocks == 0) ||
		p->data_blocks > p->entries ||
		p->min_seq > p->max_seq || p->max_seq > LSM_MAX_SEQ)
		return corrupt(st, t, t->props_offset, "inconsistent properties block");
	if (p->entries > 0 &&
		(!lsm_ikey_parse(lsm_buf_slice(&p->smallest), &pk) ||
		 !lsm_ikey_parse(lsm_buf_slice(&p->largest), &pk) ||
		 lsm_ikey_cmp(lsm_buf_slice(&p->smallest), lsm_buf_slice(&p->largest)) > 0))
		return corrupt(st, t, t->props_offset, "bad key range in properties block");
	return LSM_OK;
}

/*
 * check_index
 *		Walk the whole index once: keys must be valid internal keys in
 *		strictly increasing order, and the handles must tile the data area
 *		[0, data_end) exactly, one per data block.  Afterwards reads can
 *		trust every handle the index yields.
 */
static void make_fences(LsmSst *t);

static LsmCode
check_index(LsmSst *t, LsmStatus *st)
{
	LsmIter    *it = index_iter(t);
	LsmBuf		prev = LSM_BUF_INIT;
	uint64_t	expect = 0;
	uint64_t	n = 0;
	LsmCode		rc = LSM_OK;

	if (it == NULL)
		return nomem(st, t, t->index_offset);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
	{
		LsmSlice	k = lsm_iter_key(it);
		LsmParsedKey pk;
		uint64_t	off,
					size;

		if (!lsm_ikey_parse(k, &pk) ||
			(n > 0 && lsm_ikey_cmp(lsm_buf_slice(&prev), k) >= 0) ||
			!decode_handle(lsm_iter_value(it), &off, &size) ||
			off != expect || size > t->data_end ||
			t->data_end - size < LSM_BLOCK_TRAILER_SIZE ||
			off > t->data_end - size - LSM_BLOCK_TRAILER_SIZE)
		{
			rc = lsm_status_set(st, LSM_CORRUPTION, 0,
								"bad entry %llu in index block at offset %llu of file \"%s\"",
								(unsigned long long) n,
								(unsigned long long) t->index_offset, t->path);
			break;
		}
		expect = off + size + LSM_BLOCK_TRAILER_SIZE;
		if (!lsm_buf_set(&prev, k.data, k.len))
		{
			rc = nomem(st, t, t->index_offset);
			break;
		}
		n++;
	}
	if (rc == LSM_OK)
		rc = lsm_iter_status(it, st);
	if (rc == LSM_OK && (expect != t->data_end || n != t->props.data_blocks))
		rc = corrupt(st, t, t->index_offset,
					 "index block does not cover the data blocks");
	lsm_buf_free(&prev);
	lsm_iter_destroy(it);
	return rc;
}

/*
 * open_tail
 *		Read and verify footer, properties, index and filter.
 */
static LsmCode
open_tail(LsmSst *t, LsmStatus *st)
{
	uint8_t		footer[LSM_SST_FOOTER_SIZE];
	uint64_t	footer_off;
	uint64_t	filter_off,
				filter_size,
				index_off,
				index_size,
				props_off,
				props_size;
	uint32_t	version;
	uint8_t    *buf;
	size_t		len;
	LsmCode		rc;

	if (t->file_size < LSM_SST_FOOTER_SIZE)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "file \"%s\" is too short (%llu bytes) to be a table",
							  t->path, (unsigned long long) t->file_size);
	footer_off = t->file_size - LSM_SST_FOOTER_SIZE;
	rc = t->env->read_at(t->file, footer, sizeof(footer), footer_off, st);
	if (rc != LSM_OK)
		return rc;
	if (lsm_get_fixed64(footer + 56) != LSM_SST_MAGIC)
		return corrupt(st, t, footer_off, "bad magic number in table footer");
	if (lsm_crc32c_unmask(lsm_get_fixed32(footer + 52)) != lsm_crc32c(footer, 52))
		return corrupt(st, t, footer_off, "checksum mismatch in table footer");
	version = lsm_get_fixed32(footer + 48);
	if (version != LSM_SST_FORMAT_VERSION)
		return lsm_status_set(st, LSM_NOT_SUPPORTED, 0,
							  "unsupported table format version %u in file \"%s\"",
							  version, t->path);
	filter_off = lsm_get_fixed64(footer + 0);
	filter_size = lsm_get_fixed64(footer + 8);
	index_off = lsm_get_fixed64(footer + 16);
	index_size = lsm_get_fixed64(footer + 24);
	props_off = lsm_get_fixed64(footer + 32);
	props_size = lsm_get_fixed64(footer + 40);

	/* the meta blocks must sit back to back right before the footer */
	if (props_size > footer_off ||
		footer_off - props_size < LSM_BLOCK_TRAILER_SIZE ||
		props_off != footer_off - props_size - LSM_BLOCK_TRAILER_SIZE ||
		index_size > props_off ||
		props_off - index_size < LSM_BLOCK_TRAILER_SIZE ||
		index_off != props_off - index_size - LSM_BLOCK_TRAILER_SIZE)
		return corrupt(st, t, footer_off, "bad block handle in table footer");
	if (filter_off == 0 && filter_size == 0)
		t->data_end = index_off;
	else
	{
		if (filter_size > index_off ||
			index_off - filter_size < LSM_BLOCK_TRAILER_SIZE ||
			filter_off != index_off - filter_size - LSM_BLOCK_TRAILER_SIZE)
			return corrupt(st, t, footer_off, "bad block handle in table footer");
		t->data_end = filter_off;
	}
	t->index_offset = index_off;
	t->filter_offset = filter_off;
	t->props_offset = props_off;

	rc = read_block(t, props_off, props_size, false, &buf, &len, NULL, st);
	if (rc != LSM_OK)
		return rc;
	rc = parse_props(t, lsm_slice(buf, len), st);
	lsm_free(buf);
	if (rc != LSM_OK)
		return rc;

	if (!(filter_off == 0 && filter_size == 0))
	{
		rc = read_block(t, filter_off, filter_size, false, &t->filter_buf, &len, NULL, st);
		if (rc != LSM_OK)
			return rc;
		t->filter = lsm_slice(t->filter_buf, len);
		if (!lsm_bloom_check(t->filter))
			return corrupt(st, t, filter_off, "malformed filter block");
	}
	if ((rc = check_props(t, index_size, filter_size, st)) != LSM_OK)
		return rc;

	rc = read_block(t, index_off, index_size, false, &t->index_buf, &len, NULL, st);
	if (rc != LSM_OK)
		return rc;
	t->index = lsm_slice(t->index_buf, len);
	if (!lsm_block_check(t->index))
		return corrupt(st, t, index_off, "malformed index block");
	rc = check_index(t, st);
	if (rc == LSM_OK)
		make_fences(t);
	return rc;
}

/*
 * Fences
 *
 * A get's binary search of the index block touched two cache lines per step
 * (the restart point, then the entry), over tens of thousands of entries
 * for a big file: 7% of the CPU of joins at 4 clients (docs/benchmarks.md,
 * session 14).  The fences are a dense array of integers ordered as the
 * entries are: a key whose fence is below another's is below it, whatever
 * the rest of the bytes, so the search narrows to the entries of the
 * target's fence and compares whole keys only there.
 */

static inline uint64_t
fence_of(LsmSlice user_key, uint32_t skip)
{
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | (skip + (size_t) i < user_key.len ? user_key.data[skip + i] : 0);
	return v;
}

/*
 * Make the fences of a checked index block (entries in order).  Without
 * memory, or for an index block that is not one restart point per entry,
 * there are none and gets search the block as before.
 */
static void
make_fences(LsmSst *t)
{
	uint32_t	n = lsm_block_restarts(t->index);
	LsmIter    *it;
	LsmSlice	first;
	LsmSlice	last;
	uint32_t	skip = 0;
	uint32_t	i = 0;

	if (n < 2 || t->props.smallest.len < LSM_IKEY_TRAILER ||
		t->props.largest.len < LSM_IKEY_TRAILER || (it = index_iter(t)) == NULL)
		return;

	/*
	 * Every user key between the file's smallest and largest begins as both
	 * do, and so does every index entry but the last: a separator lies
	 * between its block's keys and the next block's.  The last one may be
	 * a short successor of the largest key ("v" after "user:..."), above
	 * every key with that prefix: its fence is the highest.
	 */
	first = lsm_ikey_user_key(lsm_buf_slice(&t->props.smallest));
	last = lsm_ikey_user_key(lsm_buf_slice(&t->props.largest));
	while (skip < first.len && skip < last.len && first.data[skip] == last.data[skip])
		skip++;
	t->fences = lsm_malloc((size_t) n * sizeof(uint64_t));
	t->fence_common = lsm_malloc(skip ? skip : 1);
	if (t->fences == NULL || t->fence_common == NULL)
		goto none;
	memcpy(t->fence_common, first.data, skip);
	t->fence_skip = skip;
	/* the fences are numbered as the restart points: one per entry */
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it), i++)
	{
		LsmSlice	u = lsm_ikey_user_key(lsm_iter_key(it));

		if (i == n)
			goto none;			/* more entries than restart points */
		if (u.len >= skip && memcmp(u.data, t->fence_common, skip) == 0)
			t->fences[i] = fence_of(u, skip);
		else if (i == n - 1 && lsm_slice_cmp(u, last) > 0)
			t->fences[i] = UINT64_MAX;
		else
			goto none;			/* not the file this reader expects */
		if (i > 0 && t->fences[i] < t->fences[i - 1])
			goto none;
	}
	if (i != n)
		goto none;
	lsm_iter_destroy(it);
	t->n_fences = n;
	return;

none:
	lsm_iter_destroy(it);
	lsm_free(t->fences);
	lsm_free(t->fence_common);
	t->fences = NULL;
	t->fence_common = NULL;
}

/* Seek the index iterator idx to the first entry >= target through the fences. */
static void
fence_seek(const LsmSst *t, LsmIter *idx, LsmSlice target)
{
	LsmSlice	u = lsm_ikey_user_key(target);
	uint32_t	n = t->n_fences;
	size_t		common = u.len < t->fence_skip ? u.len : t->fence_skip;
	int			c = common ? memcmp(u.data, t->fence_common, common) : 0;
	uint64_t	f;
	uint32_t	lo,
				hi,
				a,
				b,
				step;

	if (c < 0 || (c == 0 && u.len < t->fence_skip))
	{
		/* below every user key of the file */
		lsm_block_iter_seek_within(idx, target, 0, 0);
		return;
	}
	if (c > 0)
	{
		lsm_block_iter_seek_within(idx, target, n, n);
		return;
	}
	f = fence_of(u, t->fence_skip);
	/* lo: the first fence >= f */
	a = 0;
	b = n;
	while (a < b)
	{
		uint32_t	mid = a + (b - a) / 2;

		if (t->fences[mid] < f)
			a = mid + 1;
		else
			b = mid;
	}
	lo = a;

	/*
	 * hi + 1: the first fence > f.  Few entries share a fence, so gallop
	 * from lo to a fence > f (or the end), then search that stretch.
	 */
	b = lo;
	for (step = 1; b < n && t->fences[b] <= f; step *= 2)
	{
		a = b + 1;
		b = lo + step;
	}
	if (b > n)
		b = n;
	while (a < b)
	{
		uint32_t	mid = a + (b - a) / 2;

		if (t->fences[mid] <= f)
			a = mid + 1;
		else
			b = mid;
	}
	hi = a > lo ? a - 1 : lo;
	lsm_block_iter_seek_within(idx, target, lo, hi);
}

/*
 * lsm_sst_open
 *		Open and verify a table; on failure nothing stays open.
 */
LsmCode
lsm_sst_open(LsmEnv *env, const char *path, uint64_t file_number,
			   LsmBlockCache *cache, LsmSst **tp, LsmStatus *st)
{
	LsmSst   *t;
	LsmCode		rc;

	*tp = NULL;
	if (env == NULL)
		env = lsm_env_posix();
	t = lsm_calloc(1, sizeof(LsmSst));
	if (t == NULL || (t->path = lsm_strdup(path)) == NULL)
	{
		if (t)
			lsm_free(t->path);
		lsm_free(t);
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory opening table \"%s\"", path);
	}
	t->env = env;
	t->file_number = file_number;
	t->cache = cache;
	rc = env->open_file(env, path, LSM_OPEN_READ, &t->file, st);
	if (rc != LSM_OK)
	{
		t->file = NULL;
		lsm_sst_close(t);
		return rc;
	}
	rc = env->file_size(t->file, &t->file_size, st);
	if (rc == LSM_OK)
		rc = open_tail(t, st);
	if (rc != LSM_OK)
	{
		lsm_sst_close(t);
		return rc;
	}
	*tp = t;
	return LSM_OK;
}

void
lsm_sst_close(LsmSst *t)
{
	LsmStatus	ignore;

	if (t == NULL)
		return;
	if (t->file != NULL)
		t->env->close_file(t->file, &ignore);
	lsm_free(t->index_buf);
	lsm_free(t->filter_buf);
	lsm_free(t->fences);
	lsm_free(t->fence_common);
	lsm_sst_props_free(&t->props);
	lsm_free(t->path);
	lsm_free(t);
}

uint32_t
lsm_sst_fence_count(const LsmSst *t)
{
	return t->fences != NULL ? t->n_fences : 0;
}

const LsmSstProps *
lsm_sst_props(const LsmSst *t)
{
	return &t->props;
}

uint64_t
lsm_sst_file_number(const LsmSst *t)
{
	return t->file_number;
}

bool
lsm_sst_may_contain(const LsmSst *t, LsmSlice user_key)
{
	if (t->filter_buf == NULL)
		return true;
	return lsm_bloom_may_contain(t->filter, user_key);
}

void
lsm_sst_set_global_seq(LsmSst *t, LsmSeq seq)
{
	t->global_seq = seq;
}

/*
 * with_global_seq
 *		ikey with the table's global sequence number in its trailer, built
 *		in buf; ikey itself when the table has none (or when memory runs
 *		out, with *ok false).
 */
static LsmSlice
with_global_seq(const LsmSst *t, LsmSlice ikey, LsmBuf *buf, bool *ok)
{
	LsmParsedKey pk;

	*ok = true;
	if (t->global_seq == 0 || !lsm_ikey_parse(ikey, &pk))
		return ikey;
	buf->len = 0;
	if (!lsm_ikey_append(buf, pk.user_key, t->global_seq, pk.kind))
	{
		*ok = false;
		return ikey;
	}
	return lsm_buf_slice(buf);
}

/* ----------------------------------------------------------------
 *		Point lookups
 * ----------------------------------------------------------------
 */

/*
 * lsm_sst_get
 *		Visit entries from the first key >= target while fn wants more,
 *		moving on to following blocks as needed.  Finding nothing is not an
 *		error: LSM_OK means no failure, whatever was visited.
 */
LsmCode
lsm_sst_get(LsmSst *t, LsmSlice target, LsmSstVisitFn fn, void *arg,
			  LsmReadStats *stats, LsmStatus *st)
{
	LsmIter    *idx;
	bool		first = true;
	bool		done = false;
	LsmCode		rc = LSM_OK;
	LsmBuf		gkey = LSM_BUF_INIT;

	if (target.len < LSM_IKEY_TRAILER)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "lookup key of %zu bytes in table \"%s\" is not an internal key",
							  target.len, t->path);
	if (!lsm_sst_may_contain(t, lsm_ikey_user_key(target)))
	{
		if (stats)
			stats->bloom_useful++;
		return LSM_OK;
	}
	/* process-private, as the block iterators are (block_iter_new) */
	if (t->global_seq != 0 && !lsm_buf_make_private(&gkey, target.len))
		return nomem(st, t, t->index_offset);
	if ((idx = index_iter(t)) == NULL)
	{
		lsm_buf_free(&gkey);
		return nomem(st, t, t->index_offset);
	}
	if (t->fences != NULL)
		fence_seek(t, idx, target);
	else
		lsm_iter_seek(idx, target);
	while (!done && lsm_iter_valid(idx))
	{
		uint64_t	off,
					size;
		LsmIter    *data;

		if (!decode_handle(lsm_iter_value(idx), &off, &size))
		{
			rc = corrupt(st, t, t->index_offset, "bad block handle in index block");
			break;
		}
		if ((rc = load_data_block(t, off, size, true, true, stats, &data, st)) != LSM_OK)
			break;
		if (first)
			lsm_iter_seek(data, target);
		else
			lsm_iter_seek_first(data);
		first = false;
		for (; lsm_iter_valid(data); lsm_iter_next(data))
		{
			bool		ok;
			LsmSlice	k = with_global_seq(t, lsm_iter_key(data), &gkey, &ok);

			if (!ok)
			{
				lsm_iter_destroy(data);
				lsm_iter_destroy(idx);
				lsm_buf_free(&gkey);
				return nomem(st, t, off);
			}
			/* the stored 0 sorts after any target of the same user key */
			if (t->global_seq != 0 && lsm_ikey_cmp(k, target) < 0)
				continue;
			if (!fn(arg, k, lsm_iter_value(data)))
			{
				done = true;
				break;
			}
		}
		rc = lsm_iter_status(data, st);
		lsm_iter_destroy(data);
		if (rc != LSM_OK)
			break;
		if (!done)
			lsm_iter_next(idx);
	}
	if (rc == LSM_OK)
		rc = lsm_iter_status(idx, st);
	lsm_iter_destroy(idx);
	lsm_buf_free(&gkey);
	return rc;
}

/* ----------------------------------------------------------------
 *		Two-level iterator: index block -> data blocks
 * ----------------------------------------------------------------
 */

typedef struct TableIter
{
	LsmIter		base;
	LsmSst   *t;
	LsmIter    *index;
	LsmIter    *data;			/* current data block, or NULL */
	uint64_t	data_offset;	/* its offset in the file */
	bool		fill_cache;
	LsmReadStats *stats;
	LsmStatus	status;			/* first error; sticky */
	LsmBuf		gkey;			/* the current key with the global seq */
	LsmSlice	key;			/* what key() returns while valid */
} TableIter;

static void
set_data(TableIter *ti, LsmIter *data, uint64_t offset)
{
	lsm_iter_destroy(ti->data);
	ti->data = data;
	ti->data_offset = offset;
}

/*
 * init_data_block
 *		Make data the block the index iterator points at, keeping the
 *		current one when it is the same block (a seek within one block
 *		must not re-read it).
 */
static void
init_data_block(TableIter *ti)
{
	uint64_t	off,
				size;
	LsmIter    *data;

	if (!lsm_iter_valid(ti->index))
	{
		lsm_iter_status(ti->index, &ti->status);
		set_data(ti, NULL, 0);
		return;
	}
	if (!decode_handle(lsm_iter_value(ti->index), &off, &size))
	{
		corrupt(&ti->status, ti->t, ti->t->index_offset, "bad block handle in index block");
		set_data(ti, NULL, 0);
		return;
	}
	if (ti->data != NULL && ti->data_offset == off &&
		lsm_iter_status(ti->data, NULL) == LSM_OK)
		return;
	if (load_data_block(ti->t, off, size, true, ti->fill_cache, ti->stats, &data,
						&ti->status) != LSM_OK)
		data = NULL;
	set_data(ti, data, off);
}

/* A data iterator that stopped because of an error poisons the table iterator. */
static bool
data_failed(TableIter *ti)
{
	return ti->data != NULL && lsm_iter_status(ti->data, &ti->status) != LSM_OK;
}

static void
skip_forward(TableIter *ti)
{
	while (ti->status.code == LSM_OK &&
		   (ti->data == NULL || !lsm_iter_valid(ti->data)))
	{
		if (data_failed(ti) || !lsm_iter_valid(ti->index))
		{
			if (ti->status.code == LSM_OK)
				lsm_iter_status(ti->index, &ti->status);
			set_data(ti, NULL, 0);
			return;
		}
		lsm_iter_next(ti->index);
		init_data_block(ti);
		if (ti->data != NULL)
			lsm_iter_seek_first(ti->data);
	}
}

static void
skip_backward(TableIter *ti)
{
	while (ti->status.code == LSM_OK &&
		   (ti->data == NULL || !lsm_iter_valid(ti->data)))
	{
		if (data_failed(ti) || !lsm_iter_valid(ti->index))
		{
			if (ti->status.code == LSM_OK)
				lsm_iter_status(ti->index, &ti->status);
			set_data(ti, NULL, 0);
			return;
		}
		lsm_iter_prev(ti->index);
		init_data_block(ti);
		if (ti->data != NULL)
			lsm_iter_seek_last(ti->data);
	}
}

static bool
table_valid(LsmIter *it)
{
	TableIter  *ti = (TableIter *) it;

	return ti->status.code == LSM_OK && ti->data != NULL && lsm_iter_valid(ti->data);
}

/*
 * settle
 *		Compute the key the iterator shows at its new position: the stored
 *		one, or for an ingested table the stored one with the global
 *		sequence number.
 */
static void
settle(TableIter *ti)
{
	bool		ok;

	if (!table_valid(&ti->base))
		return;
	ti->key = with_global_seq(ti->t, lsm_iter_key(ti->data), &ti->gkey, &ok);
	if (!ok)
	{
		nomem(&ti->status, ti->t, ti->data_offset);
		set_data(ti, NULL, 0);
	}
}

static void
table_seek_first(LsmIter *it)
{
	TableIter  *ti = (TableIter *) it;

	if (ti->status.code != LSM_OK)
		return;
	lsm_iter_seek_first(ti->index);
	init_data_block(ti);
	if (ti->data != NULL)
		lsm_iter_seek_first(ti->data);
	skip_forward(ti);
	settle(ti);
}

static void
table_seek_last(LsmIter *it)
{
	TableIter  *ti = (TableIter *) it;

	if (ti->status.code != LSM_OK)
		return;
	lsm_iter_seek_last(ti->index);
	init_data_block(ti);
	if (ti->data != NULL)
		lsm_iter_seek_last(ti->data);
	skip_backward(ti);
	settle(ti);
}

static void
table_seek(LsmIter *it, LsmSlice target)
{
	TableIter  *ti = (TableIter *) it;

	if (ti->status.code != LSM_OK)
		return;
	lsm_iter_seek(ti->index, target);
	init_data_block(ti);
	if (ti->data != NULL)
		lsm_iter_seek(ti->data, target);
	skip_forward(ti);
	settle(ti);

	/*
	 * The stored 0 sorts after every target of its user key; with the
	 * global number the entry may sort before the target (a read point
	 * below it), and then the first key >= target is the next one.  One
	 * step is enough: an ingested table holds one entry per user key.
	 */
	if (ti->t->global_seq != 0 && table_valid(it) &&
		lsm_ikey_cmp(ti->key, target) < 0)
	{
		lsm_iter_next(ti->data);
		skip_forward(ti);
		settle(ti);
	}
}

static void
table_next(LsmIter *it)
{
	TableIter  *ti = (TableIter *) it;

	if (!table_valid(it))
		return;
	lsm_iter_next(ti->data);
	skip_forward(ti);
	settle(ti);
}

static void
table_prev(LsmIter *it)
{
	TableIter  *ti = (TableIter *) it;

	if (!table_valid(it))
		return;
	lsm_iter_prev(ti->data);
	skip_backward(ti);
	settle(ti);
}

static LsmSlice
table_key(LsmIter *it)
{
	return ((TableIter *) it)->key;
}

static LsmSlice
table_value(LsmIter *it)
{
	return lsm_iter_value(((TableIter *) it)->data);
}

static LsmCode
table_status(LsmIter *it, LsmStatus *st)
{
	TableIter  *ti = (TableIter *) it;

	if (st != NULL && ti->status.code != LSM_OK)
		*st = ti->status;
	return ti->status.code;
}

static void
table_destroy(LsmIter *it)
{
	TableIter  *ti = (TableIter *) it;

	lsm_iter_destroy(ti->data);
	lsm_iter_destroy(ti->index);
	lsm_buf_free(&ti->gkey);
	lsm_free(ti);
}

static const LsmIterOps table_iter_ops = {
	.valid = table_valid,
	.seek_first = table_seek_first,
	.seek_last = table_seek_last,
	.seek = table_seek,
	.next = table_next,
	.prev = table_prev,
	.key = table_key,
	.value = table_value,
	.status = table_status,
	.destroy = table_destroy,
};

/*
 * lsm_sst_iter
 *		Iterator over every entry; it must not outlive the table.  Never
 *		NULL: when memory runs out the result is an empty iterator whose
 *		status says so.
 */
LsmIter *
lsm_sst_iter(LsmSst *t, bool fill_cache, LsmReadStats *stats)
{
	TableIter  *ti = lsm_calloc(1, sizeof(TableIter));
	LsmStatus	st;

	if (ti == NULL || (ti->index = index_iter(t)) == NULL)
	{
		lsm_free(ti);
		nomem(&st, t, t->index_offset);
		return lsm_iter_empty(&st);
	}
	ti->base.ops = &table_iter_ops;
	ti->t = t;
	ti->fill_cache = fill_cache;
	ti->stats = stats;
	lsm_status_clear(&ti->status);
	return &ti->base;
}

/* ----------------------------------------------------------------
 *		Verification
 * ----------------------------------------------------------------
 */

typedef struct VerifyCounts
{
	uint64_t	entries;
	uint64_t	tombstones;
	uint64_t	merges;
	uint64_t	blob_refs;
	uint64_t	raw_key_bytes;
	uint64_t	raw_value_bytes;
	uint64_t	data_blocks;
	LsmSeq		min_seq;
	LsmSeq		max_seq;
	LsmBuf		prev_key;		/* last key seen, across blocks */
	LsmBuf		smallest;
} VerifyCounts;

/*
 * verify_block
 *		Check every entry of one data block: well-formed internal keys in
 *		strictly increasing order across the table, all within the range
 *		the index promises for the block ((prev_sep, sep]), each user key
 *		known to the filter.
 */
static LsmCode
verify_block(LsmSst *t, LsmIter *data, uint64_t off, LsmSlice prev_sep,
			 bool has_prev_sep, LsmSlice sep, VerifyCounts *vc, LsmStatus *st)
{
	uint64_t	n = 0;
	LsmCode		rc;

	for (lsm_iter_seek_first(data); lsm_iter_valid(data); lsm_iter_next(data))
	{
		LsmSlice	k = lsm_iter_key(data);
		LsmParsedKey pk;
		const char *problem = NULL;

		if (!lsm_ikey_parse(k, &pk))
			problem = "malformed internal key in block";
		else if (vc->entries > 0 && lsm_ikey_cmp(lsm_buf_slice(&vc->prev_key), k) >= 0)
			problem = "keys out of order in block";
		else if (lsm_ikey_cmp(k, sep) > 0 ||
				 (has_prev_sep && lsm_ikey_cmp(k, prev_sep) <= 0))
			problem = "key outside its index range in block";
		else if (!lsm_sst_may_contain(t, pk.user_key))
			problem = "bloom filter lacks a key of block";
		if (problem != NULL)
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "%s at offset %llu of file \"%s\" (entry %llu)",
								  problem, (unsigned long long) off, t->path,
								  (unsigned long long) n);
		if (vc->entries == 0 && !lsm_buf_set(&vc->smallest, k.data, k.len))
			return nomem(st, t, off);
		if (!lsm_buf_set(&vc->prev_key, k.data, k.len))
			return nomem(st, t, off);
		vc->entries++;
		vc->tombstones += pk.kind == LSM_KIND_DELETE;
		vc->merges += pk.kind == LSM_KIND_MERGE;
		vc->blob_refs += pk.kind == LSM_KIND_BLOB;
		vc->raw_key_bytes += k.len;
		vc->raw_value_bytes += lsm_iter_value(data).len;
		if (pk.seq < vc->min_seq)
			vc->min_seq = pk.seq;
		if (pk.seq > vc->max_seq)
			vc->max_seq = pk.seq;
		n++;
	}
	if ((rc = lsm_iter_status(data, st)) != LSM_OK)
		return rc;
	if (n == 0)
		return corrupt(st, t, off, "empty data block");
	return LSM_OK;
}

/*
 * lsm_sst_verify
 *		Re-read every block from the file (bypassing the cache, which holds
 *		only blocks that were verified when read) and check everything the
 *		format promises; report the first problem.
 */
LsmCode
lsm_sst_verify(LsmSst *t, LsmStatus *st)
{
	LsmVerifyResult r;

	memset(&r, 0, sizeof(r));
	return lsm_table_verify_counted(t, &r, st);
}

LsmCode
lsm_table_verify_counted(LsmSst *t, LsmVerifyResult *out, LsmStatus *st)
{
	VerifyCounts vc;
	LsmBuf		prev_sep = LSM_BUF_INIT;
	LsmIter    *idx = NULL;
	uint8_t    *buf;
	size_t		len;
	LsmCode		rc;
	const LsmSstProps *p = &t->props;

	memset(&vc, 0, sizeof(vc));
	vc.min_seq = LSM_MAX_SEQ;

	/* the meta blocks, again from disk */
	rc = read_block(t, t->props_offset,
					t->file_size - LSM_SST_FOOTER_SIZE - LSM_BLOCK_TRAILER_SIZE - t->props_offset,
					false, &buf, &len, NULL, st);
	if (rc != LSM_OK)
		return rc;
	lsm_free(buf);
	rc = read_block(t, t->index_offset, t->index.len, false, &buf, &len, NULL, st);
	if (rc != LSM_OK)
		return rc;
	if (len != t->index.len || memcmp(buf, t->index.data, len) != 0)
		rc = corrupt(st, t, t->index_offset, "index block changed since open");
	lsm_free(buf);
	if (rc != LSM_OK)
		return rc;
	if (t->filter_buf != NULL)
	{
		rc = read_block(t, t->filter_offset, t->filter.len, false, &buf, &len, NULL, st);
		if (rc != LSM_OK)
			return rc;
		if (len != t->filter.len || memcmp(buf, t->filter.data, len) != 0)
			rc = corrupt(st, t, t->filter_offset, "filter block changed since open");
		lsm_free(buf);
		if (rc != LSM_OK)
			return rc;
	}

	if ((idx = index_iter(t)) == NULL)
		return nomem(st, t, t->index_offset);
	for (lsm_iter_seek_first(idx); lsm_iter_valid(idx); lsm_iter_next(idx))
	{
		uint64_t	off,
					size;
		LsmIter    *data;
		LsmSlice	sep = lsm_iter_key(idx);

		if (!decode_handle(lsm_iter_value(idx), &off, &size))
		{
			rc = corrupt(st, t, t->index_offset, "bad block handle in index block");
			break;
		}
		if ((rc = load_data_block(t, off, size, false, false, NULL, &data, st)) != LSM_OK)
			break;
		/* the block was accepted, so its kind byte is a known codec */
		{
			uint8_t		kind;
			LsmStatus	ignore;

			if (t->env->read_at(t->file, &kind, 1, off + size, &ignore) == LSM_OK &&
				kind < 3)
				out->blocks_by_codec[kind]++;
		}
		rc = verify_block(t, data, off, lsm_buf_slice(&prev_sep), vc.data_blocks > 0,
						  sep, &vc, st);
		lsm_iter_destroy(data);
		if (rc != LSM_OK)
			break;
		vc.data_blocks++;
		if (!lsm_buf_set(&prev_sep, sep.data, sep.len))
		{
			rc = nomem(st, t, t->index_offset);
			break;
		}
	}
	if (rc == LSM_OK)
		rc = lsm_iter_status(idx, st);
	lsm_iter_destroy(idx);

	if (rc == LSM_OK)
	{
		if (vc.entries == 0)
			vc.min_seq = 0;
		if (vc.entries != p->entries || vc.tombstones != p->tombstones ||
			vc.merges != p->merges || vc.blob_refs != p->blob_refs ||
			vc.raw_key_bytes != p->raw_key_bytes ||
			vc.raw_value_bytes != p->raw_value_bytes ||
			vc.data_blocks != p->data_blocks || vc.min_seq != p->min_seq ||
			vc.max_seq != p->max_seq ||
			!lsm_slice_eq(lsm_buf_slice(&vc.smallest), lsm_buf_slice(&p->smallest)) ||
			!lsm_slice_eq(lsm_buf_slice(&vc.prev_key), lsm_buf_slice(&p->largest)))
			rc = lsm_status_set(st, LSM_CORRUPTION, 0,
								"properties of file \"%s\" disagree with its contents "
								"(%llu entries recorded, %llu found)",
								t->path, (unsigned long long) p->entries,
								(unsigned long long) vc.entries);
	}
	out->bytes += t->file_size;
	out->blocks += vc.data_blocks;
	out->entries += vc.entries;
	lsm_buf_free(&prev_sep);
	lsm_buf_free(&vc.prev_key);
	lsm_buf_free(&vc.smallest);
	return rc;
}
