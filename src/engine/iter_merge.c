/*
 * iter_merge.c
 *		Merging iterator over N children with a binary heap.
 *
 * Children are ordered by (key, child index).  Moving forward, the heap is
 * a min-heap of the valid children and the current entry is its top;
 * moving backward it is a max-heap.  A switch of direction repositions
 * every child other than the current one just past (or before) the current
 * entry in that total order, then rebuilds the heap; this costs one seek
 * per child, paid only when the direction actually changes.
 *
 * A heap rather than a linear scan because a database may have many
 * level-0 files when compaction falls behind, and a tiered database many
 * sorted runs; with few children the heap costs about the same as a scan.
 */
#include <stdlib.h>

#include "iter_merge.h"
#include "lsm_alloc.h"

typedef enum MergeDir
{
	MERGE_FORWARD,
	MERGE_REVERSE
} MergeDir;

typedef struct MergeIter
{
	LsmIter		base;
	LsmKeyCmp	cmp;
	int			n;
	LsmIter   **children;
	int		   *heap;			/* child indexes; heap[0] is current */
	int			heap_n;
	MergeDir	dir;
	LsmStatus	err;			/* first child error; iterator invalid then */
} MergeIter;

/*
 * child_before
 *		Whether child a sorts before child b in the total order (key, index).
 */
static inline bool
child_before(MergeIter *mi, int a, int b)
{
	int			r = mi->cmp(lsm_iter_key(mi->children[a]),
							lsm_iter_key(mi->children[b]));

	if (r != 0)
		return r < 0;
	return a < b;
}

/* Whether heap slot i belongs above slot j for the current direction. */
static inline bool
heap_above(MergeIter *mi, int i, int j)
{
	if (mi->dir == MERGE_FORWARD)
		return child_before(mi, mi->heap[i], mi->heap[j]);
	return child_before(mi, mi->heap[j], mi->heap[i]);
}

static void
sift_down(MergeIter *mi, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			best = i;
		int			tmp;

		if (l < mi->heap_n && heap_above(mi, l, best))
			best = l;
		if (l + 1 < mi->heap_n && heap_above(mi, l + 1, best))
			best = l + 1;
		if (best == i)
			return;
		tmp = mi->heap[i];
		mi->heap[i] = mi->heap[best];
		mi->heap[best] = tmp;
		i = best;
	}
}

/*
 * note_invalid_child
 *		A child became invalid: record its error, if it has one.
 */
static void
note_invalid_child(MergeIter *mi, int c)
{
	if (mi->err.code == LSM_OK)
	{
		LsmStatus	cst;

		lsm_status_clear(&cst);
		if (lsm_iter_status(mi->children[c], &cst) != LSM_OK)
			mi->err = cst;
	}
}

/*
 * rebuild
 *		Fill the heap with every valid child for direction dir.
 */
static void
rebuild(MergeIter *mi, MergeDir dir)
{
	int			i;

	mi->dir = dir;
	mi->heap_n = 0;
	for (i = 0; i < mi->n; i++)
	{
		if (lsm_iter_valid(mi->children[i]))
			mi->heap[mi->heap_n++] = i;
		else
			note_invalid_child(mi, i);
	}
	for (i = mi->heap_n / 2 - 1; i >= 0; i--)
		sift_down(mi, i);
}

static bool
merge_valid(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;

	return mi->err.code == LSM_OK && mi->heap_n > 0;
}

static void
merge_seek_first(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;
	int			i;

	lsm_status_clear(&mi->err);
	for (i = 0; i < mi->n; i++)
		lsm_iter_seek_first(mi->children[i]);
	rebuild(mi, MERGE_FORWARD);
}

static void
merge_seek_last(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;
	int			i;

	lsm_status_clear(&mi->err);
	for (i = 0; i < mi->n; i++)
		lsm_iter_seek_last(mi->children[i]);
	rebuild(mi, MERGE_REVERSE);
}

static void
merge_seek(LsmIter *it, LsmSlice target)
{
	MergeIter  *mi = (MergeIter *) it;
	int			i;

	lsm_status_clear(&mi->err);
	for (i = 0; i < mi->n; i++)
		lsm_iter_seek(mi->children[i], target);
	rebuild(mi, MERGE_FORWARD);
}

/*
 * advance_top
 *		After the current child moved, restore the heap (or drop the child
 *		when it ran out).
 */
static void
advance_top(MergeIter *mi)
{
	int			c = mi->heap[0];

	if (!lsm_iter_valid(mi->children[c]))
	{
		note_invalid_child(mi, c);
		mi->heap[0] = mi->heap[--mi->heap_n];
	}
	if (mi->heap_n > 0)
		sift_down(mi, 0);
}

/*
 * switch_forward
 *		Coming from reverse: put every other child at its first entry after
 *		(key, cur) in the total order.  Children before cur must also pass
 *		their entries equal to key; children after cur must not.
 */
static void
switch_forward(MergeIter *mi)
{
	int			cur = mi->heap[0];
	LsmSlice	key = lsm_iter_key(mi->children[cur]);
	int			i;

	for (i = 0; i < mi->n; i++)
	{
		LsmIter    *c = mi->children[i];

		if (i == cur)
			continue;
		lsm_iter_seek(c, key);
		if (i < cur)
			while (lsm_iter_valid(c) && mi->cmp(lsm_iter_key(c), key) == 0)
				lsm_iter_next(c);
	}
	rebuild(mi, MERGE_FORWARD);
}

/*
 * switch_reverse
 *		Coming from forward: put every other child at its last entry before
 *		(key, cur).  For children before cur that includes their entries
 *		equal to key, so they step past those first and come back one.
 */
static void
switch_reverse(MergeIter *mi)
{
	int			cur = mi->heap[0];
	LsmSlice	key = lsm_iter_key(mi->children[cur]);
	int			i;

	for (i = 0; i < mi->n; i++)
	{
		LsmIter    *c = mi->children[i];

		if (i == cur)
			continue;
		lsm_iter_seek(c, key);
		if (i < cur)
			while (lsm_iter_valid(c) && mi->cmp(lsm_iter_key(c), key) == 0)
				lsm_iter_next(c);
		if (lsm_iter_valid(c))
			lsm_iter_prev(c);
		else if (lsm_iter_status(c, NULL) == LSM_OK)
			lsm_iter_seek_last(c);
	}
	rebuild(mi, MERGE_REVERSE);
}

static void
merge_next(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;

	if (!merge_valid(it))
		return;
	if (mi->dir != MERGE_FORWARD)
	{
		/*
		 * The key slice of the current child stays valid through the other
		 * children's seeks, since the current child does not move.
		 */
		switch_forward(mi);
		if (!merge_valid(it))
			return;
	}
	lsm_iter_next(mi->children[mi->heap[0]]);
	advance_top(mi);
}

static void
merge_prev(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;

	if (!merge_valid(it))
		return;
	if (mi->dir != MERGE_REVERSE)
	{
		switch_reverse(mi);
		if (!merge_valid(it))
			return;
	}
	lsm_iter_prev(mi->children[mi->heap[0]]);
	advance_top(mi);
}

static LsmSlice
merge_key(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;

	return lsm_iter_key(mi->children[mi->heap[0]]);
}

static LsmSlice
merge_value(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;

	return lsm_iter_value(mi->children[mi->heap[0]]);
}

static LsmCode
merge_status(LsmIter *it, LsmStatus *st)
{
	MergeIter  *mi = (MergeIter *) it;

	if (mi->err.code != LSM_OK && st != NULL)
		*st = mi->err;
	return mi->err.code;
}

static void
merge_destroy(LsmIter *it)
{
	MergeIter  *mi = (MergeIter *) it;
	int			i;

	for (i = 0; i < mi->n; i++)
		lsm_iter_destroy(mi->children[i]);
	lsm_free(mi->children);
	lsm_free(mi->heap);
	lsm_free(mi);
}

static const LsmIterOps merge_ops = {
	.valid = merge_valid,
	.seek_first = merge_seek_first,
	.seek_last = merge_seek_last,
	.seek = merge_seek,
	.next = merge_next,
	.prev = merge_prev,
	.key = merge_key,
	.value = merge_value,
	.status = merge_status,
	.destroy = merge_destroy,
};

LsmIter *
lsm_merge_iter_new(LsmIter **children, int n, LsmKeyCmp cmp)
{
	MergeIter  *mi;
	int			i;

	if (n == 0)
		return lsm_iter_empty(NULL);
	if (n == 1)
		return children[0];
	mi = lsm_calloc(1, sizeof(MergeIter));
	if (mi != NULL)
	{
		mi->children = lsm_malloc((size_t) n * sizeof(LsmIter *));
		mi->heap = lsm_malloc((size_t) n * sizeof(int));
	}
	if (mi == NULL || mi->children == NULL || mi->heap == NULL)
	{
		if (mi != NULL)
		{
			lsm_free(mi->children);
			lsm_free(mi->heap);
			lsm_free(mi);
		}
		for (i = 0; i < n; i++)
			lsm_iter_destroy(children[i]);
		return NULL;
	}
	mi->base.ops = &merge_ops;
	mi->cmp = cmp;
	mi->n = n;
	for (i = 0; i < n; i++)
		mi->children[i] = children[i];
	mi->dir = MERGE_FORWARD;
	return &mi->base;
}
