/*
 * block.c
 *		Building and iterating prefix-compressed blocks (see block.h).
 */
#include <stdlib.h>

#include "block.h"
#include "lsm_alloc.h"
#include "lsm_coding.h"

/* ----------------------------------------------------------------
 *		Builder
 * ----------------------------------------------------------------
 */

void
lsm_block_builder_init(LsmBlockBuilder *b, int restart_interval)
{
	memset(b, 0, sizeof(*b));
	b->restart_interval = restart_interval < 1 ? 1 : restart_interval;
}

/*
 * lsm_block_builder_reset
 *		Start a new, empty block.
 *
 * The first entry of every block is a restart point; its offset (0) is
 * recorded when that entry is added, so an empty block has no restarts
 * until finish() supplies the single one every block carries.
 */
void
lsm_block_builder_reset(LsmBlockBuilder *b)
{
	lsm_buf_reset(&b->buf);
	lsm_buf_reset(&b->restarts);
	lsm_buf_reset(&b->last_key);
	b->counter = 0;
	b->entries = 0;
	b->finished = false;
}

void
lsm_block_builder_free(LsmBlockBuilder *b)
{
	lsm_buf_free(&b->buf);
	lsm_buf_free(&b->restarts);
	lsm_buf_free(&b->last_key);
}

/*
 * lsm_block_builder_add
 *		Append one entry, sharing its key prefix with the previous key
 *		unless the entry starts a new restart interval.
 */
bool
lsm_block_builder_add(LsmBlockBuilder *b, LsmSlice key, LsmSlice value)
{
	size_t		shared = 0;
	uint8_t		hdr[3 * LSM_VARINT32_MAX];
	uint8_t    *p;

	if (b->entries == 0 || b->counter >= b->restart_interval)
	{
		if (!lsm_buf_put_fixed32(&b->restarts, (uint32_t) b->buf.len))
			return false;
		b->counter = 0;
	}
	else
	{
		size_t		n = key.len < b->last_key.len ? key.len : b->last_key.len;

		while (shared < n && key.data[shared] == b->last_key.data[shared])
			shared++;
	}

	p = lsm_encode_varint32(hdr, (uint32_t) shared);
	p = lsm_encode_varint32(p, (uint32_t) (key.len - shared));
	p = lsm_encode_varint32(p, (uint32_t) value.len);
	if (!lsm_buf_reserve(&b->buf, (size_t) (p - hdr) + key.len - shared + value.len))
		return false;
	lsm_buf_append(&b->buf, hdr, (size_t) (p - hdr));
	lsm_buf_append(&b->buf, key.data + shared, key.len - shared);
	lsm_buf_append(&b->buf, value.data, value.len);

	/* keep last_key = key by replacing only the differing suffix */
	b->last_key.len = shared;
	if (!lsm_buf_append(&b->last_key, key.data + shared, key.len - shared))
		return false;
	b->counter++;
	b->entries++;
	return true;
}

size_t
lsm_block_builder_size(const LsmBlockBuilder *b)
{
	size_t		restarts = b->restarts.len ? b->restarts.len : 4;

	if (b->finished)
		return b->buf.len;
	return b->buf.len + restarts + 4;
}

/*
 * lsm_block_builder_finish
 *		Append the restart array and its count; return the whole block.
 */
bool
lsm_block_builder_finish(LsmBlockBuilder *b, LsmSlice *out)
{
	if (!b->finished)
	{
		/* an empty block still gets one restart, at 0, so readers need no special case */
		if (b->restarts.len == 0 && !lsm_buf_put_fixed32(&b->restarts, 0))
			return false;
		if (!lsm_buf_append(&b->buf, b->restarts.data, b->restarts.len) ||
			!lsm_buf_put_fixed32(&b->buf, (uint32_t) (b->restarts.len / 4)))
			return false;
		b->finished = true;
	}
	*out = lsm_buf_slice(&b->buf);
	return true;
}

/* ----------------------------------------------------------------
 *		Reader
 * ----------------------------------------------------------------
 */

/*
 * lsm_block_check
 *		Is the trailer sane: room for the count, at least one restart, and
 *		the restart array inside the block?
 */
bool
lsm_block_check(LsmSlice block)
{
	uint32_t	n;

	if (block.len < 8 || block.len > UINT32_MAX)
		return false;
	n = lsm_get_fixed32(block.data + block.len - 4);
	return n >= 1 && n <= (block.len - 4) / 4;
}

typedef struct BlockIter
{
	LsmIter		base;
	LsmKeyCmp	cmp;
	const uint8_t *data;
	uint32_t	data_end;		/* offset of the restart array = end of entries */
	uint32_t	num_restarts;

	/*
	 * Position.  cur is the offset of the current entry and next_off of the
	 * one after it; restart_idx is the last restart point <= cur.  When
	 * invalid, cur == data_end.
	 */
	uint32_t	cur;
	uint32_t	next_off;
	uint32_t	restart_idx;
	LsmBuf		key;			/* current key, rebuilt from the prefixes */
	LsmSlice	value;			/* points into data */
	LsmStatus	status;

	/* who keeps data alive */
	LsmBlockCache *cache;
	LsmCacheHandle *handle;
	uint8_t    *owned;

	const char *path;			/* for messages only */
	uint64_t	block_offset;
} BlockIter;

/*
 * block_corrupt
 *		Record the first error and make the iterator invalid for good: every
 *		later movement checks the status first.
 */
static void
block_corrupt(BlockIter *bi, const char *what)
{
	if (bi->status.code == LSM_OK)
		lsm_status_set(&bi->status, LSM_CORRUPTION, 0,
					   "corrupt block at offset %llu of file \"%s\": %s",
					   (unsigned long long) bi->block_offset, bi->path, what);
	bi->cur = bi->next_off = bi->data_end;
	bi->key.len = 0;
	bi->value = lsm_slice(NULL, 0);
}

static void
block_invalidate(BlockIter *bi)
{
	bi->cur = bi->next_off = bi->data_end;
	bi->key.len = 0;
	bi->value = lsm_slice(NULL, 0);
}

/*
 * Offset of restart i, or UINT32_MAX when it does not point at an entry
 * (the one restart of an empty block, 0, is the exception).
 */
static inline uint32_t
restart_point(const BlockIter *bi, uint32_t i)
{
	uint32_t	off = lsm_get_fixed32(bi->data + bi->data_end + 4 * (size_t) i);

	return (off < bi->data_end || off == 0) ? off : UINT32_MAX;
}

/*
 * decode_header
 *		Parse the three varints of the entry at off.  Returns the start of
 *		the key suffix, or NULL when any length runs past the entries.
 */
static const uint8_t *
decode_header(const BlockIter *bi, uint32_t off, uint32_t *shared,
			  uint32_t *non_shared, uint32_t *value_len)
{
	const uint8_t *p = bi->data + off;
	const uint8_t *limit = bi->data + bi->data_end;

	if ((p = lsm_decode_varint32(p, limit, shared)) == NULL ||
		(p = lsm_decode_varint32(p, limit, non_shared)) == NULL ||
		(p = lsm_decode_varint32(p, limit, value_len)) == NULL)
		return NULL;
	if (*non_shared > (size_t) (limit - p) ||
		*value_len > (size_t) (limit - p) - *non_shared)
		return NULL;
	return p;
}

static void
seek_to_restart(BlockIter *bi, uint32_t idx)
{
	uint32_t	off = restart_point(bi, idx);

	bi->key.len = 0;
	bi->restart_idx = idx;
	if (off == UINT32_MAX)
	{
		block_corrupt(bi, "restart point out of range");
		return;
	}
	bi->next_off = off;
}

/*
 * parse_next
 *		Step to the entry at next_off.  Returns false at the end of the
 *		block (no error) or on corruption (status set); either way the
 *		iterator is then invalid.
 */
static bool
parse_next(BlockIter *bi)
{
	uint32_t	shared,
				non_shared,
				value_len;
	const uint8_t *p;

	if (bi->status.code != LSM_OK)
		return false;
	bi->cur = bi->next_off;
	if (bi->cur >= bi->data_end)
	{
		block_invalidate(bi);
		return false;
	}
	p = decode_header(bi, bi->cur, &shared, &non_shared, &value_len);
	if (p == NULL)
	{
		block_corrupt(bi, "entry runs past the end of the block");
		return false;
	}
	if (shared > bi->key.len)
	{
		block_corrupt(bi, "key shares more bytes than the previous key has");
		return false;
	}
	bi->key.len = shared;
	if (!lsm_buf_append(&bi->key, p, non_shared))
	{
		lsm_status_set(&bi->status, LSM_NO_MEMORY, 0,
					   "out of memory reading block at offset %llu of file \"%s\"",
					   (unsigned long long) bi->block_offset, bi->path);
		block_invalidate(bi);
		return false;
	}
	bi->value = lsm_slice(p + non_shared, value_len);
	bi->next_off = (uint32_t) (p + non_shared + value_len - bi->data);
	while (bi->restart_idx + 1 < bi->num_restarts &&
		   restart_point(bi, bi->restart_idx + 1) <= bi->cur)
		bi->restart_idx++;
	return true;
}

static bool
block_valid(LsmIter *it)
{
	BlockIter  *bi = (BlockIter *) it;

	return bi->status.code == LSM_OK && bi->cur < bi->data_end;
}

static void
block_seek_first(LsmIter *it)
{
	BlockIter  *bi = (BlockIter *) it;

	if (bi->status.code != LSM_OK)
		return;
	seek_to_restart(bi, 0);
	parse_next(bi);
}

static void
block_seek_last(LsmIter *it)
{
	BlockIter  *bi = (BlockIter *) it;

	if (bi->status.code != LSM_OK)
		return;
	seek_to_restart(bi, bi->num_restarts - 1);
	while (parse_next(bi) && bi->next_off < bi->data_end)
		;
}

/*
 * seek_in
 *		Position at the first key >= target, knowing that the restart points
 *		before left have keys < target: binary search for the last restart
 *		point in [left, right] whose (whole) key is < target (left when
 *		none), then scan forward.
 */
static void
seek_in(BlockIter *bi, LsmSlice target, uint32_t left, uint32_t right)
{
	while (left < right)
	{
		uint32_t	mid = left + (right - left + 1) / 2;
		uint32_t	off = restart_point(bi, mid);
		uint32_t	shared,
					non_shared,
					value_len;
		const uint8_t *p;

		if (off == UINT32_MAX)
		{
			block_corrupt(bi, "restart point out of range");
			return;
		}
		p = decode_header(bi, off, &shared, &non_shared, &value_len);
		if (p == NULL || shared != 0)
		{
			block_corrupt(bi, "bad entry at restart point");
			return;
		}
		if (bi->cmp(lsm_slice(p, non_shared), target) < 0)
			left = mid;
		else
			right = mid - 1;
	}
	seek_to_restart(bi, left);
	while (parse_next(bi))
	{
		if (bi->cmp(lsm_buf_slice(&bi->key), target) >= 0)
			return;
	}
}

static void
block_seek(LsmIter *it, LsmSlice target)
{
	BlockIter  *bi = (BlockIter *) it;

	if (bi->status.code != LSM_OK)
		return;
	seek_in(bi, target, 0, bi->num_restarts - 1);
}

void
lsm_block_iter_seek_within(LsmIter *it, LsmSlice target, uint32_t lo, uint32_t hi)
{
	BlockIter  *bi = (BlockIter *) it;

	if (bi->status.code != LSM_OK)
		return;
	if (lo >= bi->num_restarts)
	{
		block_invalidate(bi);
		return;
	}
	if (hi >= bi->num_restarts)
		hi = bi->num_restarts - 1;
	seek_in(bi, target, lo, hi < lo ? lo : hi);
}

uint32_t
lsm_block_restarts(LsmSlice block)
{
	return block.len >= 4 ? lsm_get_fixed32(block.data + block.len - 4) : 0;
}

static void
block_next(LsmIter *it)
{
	BlockIter  *bi = (BlockIter *) it;

	if (!block_valid(it))
		return;
	parse_next(bi);
}

/*
 * block_prev
 *		Keys are only decodable forwards, so go back to the restart point
 *		before the current entry and scan up to the entry just before it.
 */
static void
block_prev(LsmIter *it)
{
	BlockIter  *bi = (BlockIter *) it;
	uint32_t	original = bi->cur;

	if (!block_valid(it))
		return;
	while (restart_point(bi, bi->restart_idx) >= original)
	{
		if (bi->restart_idx == 0)
		{
			/* the first entry has no predecessor */
			block_invalidate(bi);
			return;
		}
		bi->restart_idx--;
	}
	seek_to_restart(bi, bi->restart_idx);
	do
	{
		if (!parse_next(bi))
		{
			/* ran off the end before reaching original: inconsistent */
			if (bi->status.code == LSM_OK)
				block_corrupt(bi, "restart points out of order");
			return;
		}
	} while (bi->next_off < original);
	if (bi->next_off != original)
		block_corrupt(bi, "restart points out of order");
}

static LsmSlice
block_key(LsmIter *it)
{
	return lsm_buf_slice(&((BlockIter *) it)->key);
}

static LsmSlice
block_value(LsmIter *it)
{
	return ((BlockIter *) it)->value;
}

static LsmCode
block_status(LsmIter *it, LsmStatus *st)
{
	BlockIter  *bi = (BlockIter *) it;

	if (st != NULL && bi->status.code != LSM_OK)
		*st = bi->status;
	return bi->status.code;
}

static void
block_destroy(LsmIter *it)
{
	BlockIter  *bi = (BlockIter *) it;

	if (bi->handle != NULL)
		lsm_block_cache_release(bi->cache, bi->handle);
	lsm_free(bi->owned);
	lsm_buf_free(&bi->key);
	lsm_free(bi);
}

static const LsmIterOps block_ops = {
	.valid = block_valid,
	.seek_first = block_seek_first,
	.seek_last = block_seek_last,
	.seek = block_seek,
	.next = block_next,
	.prev = block_prev,
	.key = block_key,
	.value = block_value,
	.status = block_status,
	.destroy = block_destroy,
};

/*
 * block_iter_new
 *		Common constructor.  On allocation failure the ownership passed in
 *		is released here, so callers never leak on the error path.
 *
 * The iterator and its key buffer are process-private memory
 * (lsm_malloc_private): an iterator is only ever used by the thread or
 * process that made it, and a point get makes two per table it probes.
 * From a host's shared heap they cost two trips through the heap's one
 * mutex each, and with four backends running gets that mutex was the
 * hottest contended lock of a join (issue 16).
 */
static LsmIter *
block_iter_new(LsmSlice block, LsmKeyCmp cmp, LsmBlockCache *cache,
			   LsmCacheHandle *h, uint8_t *owned, const char *path,
			   uint64_t block_offset)
{
	BlockIter  *bi = lsm_malloc_private(sizeof(BlockIter));

	if (bi != NULL)
	{
		memset(bi, 0, sizeof(BlockIter));
		if (!lsm_buf_make_private(&bi->key, 64))
		{
			lsm_free(bi);
			bi = NULL;
		}
	}
	if (bi == NULL)
	{
		if (h != NULL)
			lsm_block_cache_release(cache, h);
		lsm_free(owned);
		return NULL;
	}
	bi->base.ops = &block_ops;
	bi->cmp = cmp;
	bi->cache = cache;
	bi->handle = h;
	bi->owned = owned;
	bi->path = path ? path : "(unknown file)";
	bi->block_offset = block_offset;
	bi->data = block.data;
	lsm_status_clear(&bi->status);
	if (!lsm_block_check(block))
	{
		bi->data_end = 0;
		bi->num_restarts = 1;
		block_corrupt(bi, "bad restart array");
		return &bi->base;
	}
	bi->num_restarts = lsm_get_fixed32(block.data + block.len - 4);
	bi->data_end = (uint32_t) (block.len - 4 - 4 * (size_t) bi->num_restarts);
	bi->cur = bi->next_off = bi->data_end;
	/* the first entry always starts a restart; prev() relies on it */
	if (lsm_get_fixed32(block.data + bi->data_end) != 0)
		block_corrupt(bi, "first restart point is not 0");
	return &bi->base;
}

LsmIter *
lsm_block_iter_borrowed(LsmSlice block, LsmKeyCmp cmp, const char *path,
						uint64_t block_offset)
{
	return block_iter_new(block, cmp, NULL, NULL, NULL, path, block_offset);
}

LsmIter *
lsm_block_iter_owned(uint8_t *malloced, size_t len, LsmKeyCmp cmp,
					 const char *path, uint64_t block_offset)
{
	return block_iter_new(lsm_slice(malloced, len), cmp, NULL, NULL, malloced,
						  path, block_offset);
}

LsmIter *
lsm_block_iter_cached(LsmBlockCache *cache, LsmCacheHandle *h, LsmKeyCmp cmp,
					  const char *path, uint64_t block_offset)
{
	return block_iter_new(lsm_block_cache_value(h), cmp, cache, h, NULL,
						  path, block_offset);
}
