/*
 * iter_merge.h
 *		A merging iterator: one ordered stream over the union of several
 *		ordered child iterators (memtables, tables, levels).
 *
 * Keys equal under cmp in several children are all yielded; ties are
 * broken by child index (lower index first going forward), which keeps the
 * order total, so direction switches land exactly where they should even
 * then.  A child that fails makes the merging iterator invalid with the
 * child's status: silently skipping a failed source would turn a corrupt
 * block into a wrong answer (say, a resurrected deleted key).
 */
#ifndef LSM_ITER_MERGE_H
#define LSM_ITER_MERGE_H

#include "lsm_iter.h"

/*
 * Merge n children ordered by cmp.  Takes ownership of the children (they
 * are destroyed with the merging iterator) but not of the array.  With one
 * child that child is returned; with none, an empty iterator.  NULL when
 * out of memory (the children are destroyed then, too).
 */
extern LsmIter *lsm_merge_iter_new(LsmIter **children, int n, LsmKeyCmp cmp);

#endif							/* LSM_ITER_MERGE_H */
