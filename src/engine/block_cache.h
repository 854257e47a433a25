/*
 * block_cache.h
 *		A bounded cache of decoded (decompressed, verified) data blocks,
 *		keyed by (file number, block offset).  Several databases may share
 *		one through views (lsm_block_cache_view).
 *
 * Entries are reference counted: a handle returned by lookup or insert
 * keeps its bytes alive until released, even if the entry is evicted
 * meanwhile.  Thread-safe (env mutexes, sharded).  Capacity counts the
 * block bytes; an insert that would exceed it evicts unpinned entries in
 * LRU order, and pinned entries may push usage over capacity briefly.
 * Inside Postgres a shared-memory implementation takes this one's place.
 */
#ifndef LSM_BLOCK_CACHE_H
#define LSM_BLOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lsm_env.h"
#include "lsm_slice.h"

typedef struct LsmBlockCache LsmBlockCache;
typedef struct LsmCacheHandle LsmCacheHandle;

/* NULL when out of memory. capacity 0 is allowed (caches nothing). */
extern LsmBlockCache *lsm_block_cache_create(LsmEnv *env, size_t capacity);
extern void lsm_block_cache_destroy(LsmBlockCache *c);

/* NULL when absent. */
extern LsmCacheHandle *lsm_block_cache_lookup(LsmBlockCache *c, uint64_t file_number,
											  uint64_t offset);
/*
 * Insert a block and return a pinned handle.  The cache takes ownership of
 * malloced_data in every case: when the key already exists the existing
 * entry is returned and malloced_data is freed; on out of memory NULL is
 * returned and malloced_data is freed.
 */
extern LsmCacheHandle *lsm_block_cache_insert(LsmBlockCache *c, uint64_t file_number,
											  uint64_t offset, uint8_t *malloced_data,
											  size_t len);
extern LsmSlice lsm_block_cache_value(LsmCacheHandle *h);
/*
 * Memory for a block of len bytes about to be read for (file_number,
 * offset): an evicted block's, when the shard kept one of about that size
 * (else NULL: allocate it).  Owned by the caller, freed with lsm_free or
 * handed to lsm_block_cache_insert.
 */
extern uint8_t *lsm_block_cache_buffer(LsmBlockCache *c, uint64_t file_number,
									   uint64_t offset, size_t len);
extern void lsm_block_cache_release(LsmBlockCache *c, LsmCacheHandle *h);
/* Drop every unpinned entry of a file (after it is deleted). */
extern void lsm_block_cache_erase_file(LsmBlockCache *c, uint64_t file_number);
/* Of the base cache, when c is a view. */
extern size_t lsm_block_cache_usage(LsmBlockCache *c);
/* Lookups of the base cache that found their block, and that did not. */
extern void lsm_block_cache_counters(LsmBlockCache *c, uint64_t *hits, uint64_t *misses);
/* Drop about bytes of unpinned entries of the base cache; the bytes dropped. */
extern size_t lsm_block_cache_shed(LsmBlockCache *c, size_t bytes);

/*
 * A view of base for the database numbered id (< 2^24): the same cache,
 * but its file numbers (< 2^40) cannot collide with another view's.  Used
 * like a cache.  Destroying it erases every block cached under id from
 * base (pinned ones are freed by their last release), so the id can be
 * given to another database at once; two live views must not share an id.
 * NULL when out of memory or id is out of range.
 */
extern LsmBlockCache *lsm_block_cache_view(LsmBlockCache *base, uint64_t id);

#endif							/* LSM_BLOCK_CACHE_H */
