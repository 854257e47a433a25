/*
 * iter.c
 *		The empty iterator: no entries, optionally with a sticky error.
 *
 * Constructors of other iterators return it when they cannot build the real
 * thing (a table failed to open), so callers always get an iterator and
 * learn of the failure through status(), in one code path.
 */
#include <stdlib.h>

#include "lsm_iter.h"
#include "lsm_alloc.h"

typedef struct EmptyIter
{
	LsmIter		base;
	LsmStatus	st;
} EmptyIter;

static bool
empty_valid(LsmIter *it)
{
	return false;
}

static void
empty_move(LsmIter *it)
{
}

static void
empty_seek(LsmIter *it, LsmSlice target)
{
}

static LsmSlice
empty_slice(LsmIter *it)
{
	/* callers must not ask while invalid; answer harmlessly if they do */
	return lsm_slice(NULL, 0);
}

static LsmCode
empty_status(LsmIter *it, LsmStatus *st)
{
	EmptyIter  *e = (EmptyIter *) it;

	if (st != NULL && e->st.code != LSM_OK)
		*st = e->st;
	return e->st.code;
}

static void
empty_destroy(LsmIter *it)
{
	lsm_free(it);
}

static const LsmIterOps empty_ops = {
	.valid = empty_valid,
	.seek_first = empty_move,
	.seek_last = empty_move,
	.seek = empty_seek,
	.next = empty_move,
	.prev = empty_move,
	.key = empty_slice,
	.value = empty_slice,
	.status = empty_status,
	.destroy = empty_destroy,
};

/*
 * A statically allocated fallback for when even the small malloc below
 * fails: it reports LSM_NO_MEMORY and its destroy must not free it.
 */
static void
oom_destroy(LsmIter *it)
{
}

static LsmCode
oom_status(LsmIter *it, LsmStatus *st)
{
	return lsm_status_set(st, LSM_NO_MEMORY, 0,
						  "out of memory allocating an iterator");
}

static const LsmIterOps oom_ops = {
	.valid = empty_valid,
	.seek_first = empty_move,
	.seek_last = empty_move,
	.seek = empty_seek,
	.next = empty_move,
	.prev = empty_move,
	.key = empty_slice,
	.value = empty_slice,
	.status = oom_status,
	.destroy = oom_destroy,
};

/* Never written after initialisation, so sharing it between threads is safe. */
static EmptyIter oom_iter = {.base = {.ops = &oom_ops}};

/*
 * lsm_iter_empty
 *		Return an iterator with no entries whose status() is a copy of st
 *		(LSM_OK when st is NULL).
 *
 * Never returns NULL: if allocation fails, a shared static iterator that
 * reports LSM_NO_MEMORY is returned instead, so callers need no extra
 * failure branch.
 */
LsmIter *
lsm_iter_empty(const LsmStatus *st)
{
	EmptyIter  *e = lsm_malloc(sizeof(EmptyIter));

	if (e == NULL)
		return &oom_iter.base;
	e->base.ops = &empty_ops;
	if (st != NULL)
		e->st = *st;
	else
		lsm_status_clear(&e->st);
	return &e->base;
}
