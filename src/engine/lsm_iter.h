/*
 * lsm_iter.h
 *		The one iterator contract every source of entries implements:
 *		memtables, blocks, tables, merging and user-facing iterators.
 *
 * An iterator is positioned at an entry or invalid.  key()/value() may be
 * called only while valid; the slices stay good until the next movement
 * or destroy.  Errors (a corrupt block, an I/O failure) make the iterator
 * invalid and are reported by status(); callers must check status() when
 * valid() turns false, because "no more entries" and "failed" look alike
 * otherwise.
 */
#ifndef LSM_ITER_H
#define LSM_ITER_H

#include <stdbool.h>

#include "lsm_slice.h"
#include "lsm_status.h"

typedef struct LsmIter LsmIter;

typedef struct LsmIterOps
{
	bool		(*valid) (LsmIter *it);
	void		(*seek_first) (LsmIter *it);
	void		(*seek_last) (LsmIter *it);
	/* Position at the first entry >= target. */
	void		(*seek) (LsmIter *it, LsmSlice target);
	void		(*next) (LsmIter *it);
	void		(*prev) (LsmIter *it);
	LsmSlice	(*key) (LsmIter *it);
	LsmSlice	(*value) (LsmIter *it);
	/* LSM_OK, or the first error; copies details into st when st != NULL. */
	LsmCode		(*status) (LsmIter *it, LsmStatus *st);
	void		(*destroy) (LsmIter *it);
} LsmIterOps;

struct LsmIter
{
	const LsmIterOps *ops;
};

static inline bool lsm_iter_valid(LsmIter *it) { return it->ops->valid(it); }
static inline void lsm_iter_seek_first(LsmIter *it) { it->ops->seek_first(it); }
static inline void lsm_iter_seek_last(LsmIter *it) { it->ops->seek_last(it); }
static inline void lsm_iter_seek(LsmIter *it, LsmSlice t) { it->ops->seek(it, t); }
static inline void lsm_iter_next(LsmIter *it) { it->ops->next(it); }
static inline void lsm_iter_prev(LsmIter *it) { it->ops->prev(it); }
static inline LsmSlice lsm_iter_key(LsmIter *it) { return it->ops->key(it); }
static inline LsmSlice lsm_iter_value(LsmIter *it) { return it->ops->value(it); }
static inline LsmCode lsm_iter_status(LsmIter *it, LsmStatus *st) { return it->ops->status(it, st); }
static inline void
lsm_iter_destroy(LsmIter *it)
{
	if (it)
		it->ops->destroy(it);
}

/* An iterator that is empty, or permanently failed with a copy of st. */
extern LsmIter *lsm_iter_empty(const LsmStatus *st);

/*
 * Comparator over the keys an iterator yields.  Internal iterators use
 * lsm_ikey_cmp (lsm_format.h); user-level iterators use bytewise order.
 */
typedef int (*LsmKeyCmp) (LsmSlice a, LsmSlice b);

#endif							/* LSM_ITER_H */
