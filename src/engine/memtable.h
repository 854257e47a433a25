/*
 * memtable.h
 *		The memtable: a skiplist of internal keys living entirely inside one
 *		caller-supplied memory region, addressed by offsets.
 *
 * The region may be malloc'd (standalone tests) or a Postgres shared-memory
 * arena mapped at different addresses in different processes: nothing in it
 * is a pointer.  Its header (at offset 0) holds the allocation cursor, the
 * head node and the counters, so any process holding the base address can
 * read it.
 *
 * Concurrency: one writer at a time (the caller serialises writers, e.g.
 * with the table's write lock); any number of readers take no lock.  A node
 * is fully written before it is linked, and links are stored with release
 * and loaded with acquire semantics, so a reader sees only complete nodes.
 * Memory is never freed piecemeal; the whole region is recycled once no
 * reader can still use it (the caller's horizon logic decides when).
 */
#ifndef LSM_MEMTABLE_H
#define LSM_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm_format.h"
#include "lsm_iter.h"
#include "lsm_slice.h"
#include "lsm_status.h"

typedef struct LsmMemTable LsmMemTable;	/* the region's header */

/* Smallest region lsm_memtable_init accepts. */
#define LSM_MEMTABLE_MIN_SIZE 4096

/*
 * Format region as an empty memtable and return it.  NULL when size is too
 * small or above 4 GiB (offsets are 32-bit).
 */
extern LsmMemTable *lsm_memtable_init(void *region, size_t size);

/* Re-attach to a region formatted by lsm_memtable_init (same bytes). */
extern LsmMemTable *lsm_memtable_attach(void *region);

/*
 * Copy old into region, of new_size bytes, and let the copy use all of them:
 * growing a full private memtable costs a memcpy, not re-inserting every
 * entry.  NULL when old does not look like a memtable, region is not 8-byte
 * aligned, or new_size is below old's bytes used or above 4 GiB.  Only
 * while nothing else uses old, and region must not overlap it.
 */
extern LsmMemTable *lsm_memtable_grow(const LsmMemTable *old, void *region,
									  size_t new_size);

/* Upper bound of the bytes one entry takes, to reserve space before a WAL write. */
extern size_t lsm_memtable_entry_size(size_t key_len, size_t value_len);

/*
 * Insert an entry.  Returns false, changing nothing, when the region has no
 * room (the caller then freezes this memtable and starts another).
 * (key, seq) pairs must be unique; a later insert of the same pair is a
 * caller bug.
 */
extern bool lsm_memtable_add(LsmMemTable *mt, LsmSeq seq, LsmKind kind,
							 LsmSlice user_key, LsmSlice value);

/*
 * lsm_memtable_add, except that a merge operand that would be the
 * fold_every-th, 2*fold_every-th ... successive operand of its key here is
 * refused with *fold_due set (fold_every 0: never).
 */
extern bool lsm_memtable_add_op(LsmMemTable *mt, LsmSeq seq, LsmKind kind,
								LsmSlice user_key, LsmSlice value,
								uint32_t fold_every, bool *fold_due);

extern size_t lsm_memtable_bytes_used(const LsmMemTable *mt);
extern size_t lsm_memtable_bytes_free(const LsmMemTable *mt);
/* The bytes of the entries alone: bytes_used without the fixed part. */
extern size_t lsm_memtable_entry_bytes(const LsmMemTable *mt);
extern uint64_t lsm_memtable_count(const LsmMemTable *mt);
extern LsmSeq lsm_memtable_min_seq(const LsmMemTable *mt);	/* LSM_MAX_SEQ when empty */
extern LsmSeq lsm_memtable_max_seq(const LsmMemTable *mt);	/* 0 when empty */

/*
 * Check the skiplist's structure (bounds, node format, every level sorted,
 * count).  LSM_CORRUPTION with a message when damaged.  For tests and
 * debugging; only meaningful while no writer is active.
 */
extern LsmCode lsm_memtable_verify(const LsmMemTable *mt, LsmStatus *st);

/*
 * Iterator over internal keys (lsm_format.h order).  The embeddable struct
 * avoids a malloc on the point-get path; lsm_memtable_iter_new allocates.
 * key() returns the internal key; both slices point into the region.
 */
typedef struct LsmMemIter
{
	LsmIter		base;
	LsmMemTable *mt;
	uint32_t	node;			/* offset of the current node, 0 = invalid */
} LsmMemIter;

extern void lsm_memtable_iter_init(LsmMemIter *it, LsmMemTable *mt);

/*
 * For a point get: position it where lsm_iter_seek(target) would when
 * target's user key has entries here, else make it invalid (a get stops at
 * the first entry of another key anyway).  A hash of the user keys makes
 * this one or two cache misses instead of a skiplist search.
 */
extern void lsm_memtable_iter_seek_key(LsmMemIter *it, LsmSlice target);
extern LsmIter *lsm_memtable_iter_new(LsmMemTable *mt);

#endif							/* LSM_MEMTABLE_H */
