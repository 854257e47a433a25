/*
 * block.h
 *		Sorted key/value blocks with prefix-compressed keys and restart
 *		points: the data, index and properties blocks of an SSTable.
 *
 * A block is
 *
 *   entry* restart[n] (fixed32 each) n (fixed32)
 *   entry = varint32 shared | varint32 non_shared | varint32 value_len |
 *           key suffix (non_shared bytes) | value (value_len bytes)
 *
 * where "shared" counts the leading bytes the key has in common with the
 * previous key.  Every restart_interval entries the key is stored whole
 * (shared = 0) and the entry's offset goes into the restart array, so a
 * seek can binary-search the restarts and then scan at most one interval.
 * The layout is written down byte by byte in docs/format.md.
 *
 * Readers trust nothing: every length is checked against the block's
 * bounds, and any inconsistency makes the iterator invalid with
 * LSM_CORRUPTION naming the file and the block's offset.
 */
#ifndef LSM_BLOCK_H
#define LSM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block_cache.h"
#include "lsm_iter.h"
#include "lsm_slice.h"
#include "lsm_status.h"

/*
 * Builds one block in memory.  Keys must be added in increasing order of
 * whatever comparator the reader will use; the builder does not check.
 * Zero-initialising is not enough: call lsm_block_builder_init.
 */
typedef struct LsmBlockBuilder
{
	LsmBuf		buf;			/* entries so far */
	LsmBuf		restarts;		/* fixed32 restart offsets so far */
	LsmBuf		last_key;		/* previous key, for prefix sharing */
	int			restart_interval;
	int			counter;		/* entries since the last restart */
	uint32_t	entries;
	bool		finished;		/* finish() appended the trailer to buf */
} LsmBlockBuilder;

extern void lsm_block_builder_init(LsmBlockBuilder *b, int restart_interval);
/* Forget the contents (keeping the memory) to build the next block. */
extern void lsm_block_builder_reset(LsmBlockBuilder *b);
extern void lsm_block_builder_free(LsmBlockBuilder *b);

/* Append an entry; false when memory ran out (the builder is then unusable). */
extern bool lsm_block_builder_add(LsmBlockBuilder *b, LsmSlice key, LsmSlice value);

/* Size of the block if it were finished now. */
extern size_t lsm_block_builder_size(const LsmBlockBuilder *b);

static inline bool
lsm_block_builder_empty(const LsmBlockBuilder *b)
{
	return b->entries == 0;
}

/*
 * Append the restart array and count and return the whole block in *out
 * (valid until the next reset or free).  False when memory ran out.
 */
extern bool lsm_block_builder_finish(LsmBlockBuilder *b, LsmSlice *out);

/*
 * Cheap structural check of a block's trailer (size, restart count):
 * false when the block cannot even be iterated.  Entries are checked
 * lazily by the iterator.
 */
extern bool lsm_block_check(LsmSlice block);

/*
 * Iterators over a block.  path and block_offset only label error messages;
 * path is borrowed and must outlive the iterator.  cmp orders the keys
 * (lsm_ikey_cmp for data and index blocks, bytewise for properties).
 *
 * The three constructors differ in who keeps the bytes alive:
 *   _borrowed: the caller, for the iterator's whole life;
 *   _owned: the iterator, which free()s malloced at destroy;
 *   _cached: the iterator, which releases handle h to cache at destroy.
 * The owned and cached forms take ownership in every case, failure
 * included.  A block whose trailer is malformed yields an iterator that is
 * invalid with LSM_CORRUPTION.  NULL only when memory ran out.
 */
extern LsmIter *lsm_block_iter_borrowed(LsmSlice block, LsmKeyCmp cmp,
										const char *path, uint64_t block_offset);
extern LsmIter *lsm_block_iter_owned(uint8_t *malloced, size_t len, LsmKeyCmp cmp,
									 const char *path, uint64_t block_offset);
extern LsmIter *lsm_block_iter_cached(LsmBlockCache *cache, LsmCacheHandle *h,
									  LsmKeyCmp cmp, const char *path,
									  uint64_t block_offset);

/*
 * Seek it (made by one of the constructors above) to the first key >=
 * target when the caller knows that the restart points before lo have keys
 * < target and those after hi keys > target: only [lo, hi] is searched.
 * lo at or past the last restart point leaves it invalid (past the end).
 */
extern void lsm_block_iter_seek_within(LsmIter *it, LsmSlice target, uint32_t lo,
									   uint32_t hi);
/* The number of restart points of a checked block (lsm_block_check). */
extern uint32_t lsm_block_restarts(LsmSlice block);

#endif							/* LSM_BLOCK_H */
