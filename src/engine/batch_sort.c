/*
 * batch_sort.c
 *		The entries of a header-less batch in internal-key order: an array
 *		sorted once, walked as an iterator.
 *
 * A host that appends a large write to a batch and only needs it in key
 * order at the end (a bulk load writing a sorted run) pays far less for
 * one sort than for a skiplist insert per entry: the inserts seek through
 * a structure of tens of megabytes, a cache miss at nearly every level,
 * while the sort compares the 16-byte key prefixes kept in the array and
 * touches the keys themselves only when two prefixes tie.  The array holds
 * pointers into the entries, which must stay unchanged while the iterator
 * lives; each entry's sequence number is first_seq plus its position, as
 * in lsm_batch_iterate_entries.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lsm_alloc.h"
#include "lsm_format.h"

typedef struct SortedEntry
{
	uint64_t	prefix[2];		/* first 16 key bytes, big-endian, 0-padded */
	const uint8_t *key;
	const uint8_t *value;
	uint32_t	key_len;
	uint32_t	value_len;
	uint64_t	tag;			/* lsm_pack_seq_kind */
} SortedEntry;

typedef struct SortedIter
{
	LsmIter		base;
	SortedEntry *e;
	size_t		n;
	size_t		pos;			/* n = invalid */
	LsmBuf		ikey;			/* the internal key at pos */
	LsmStatus	st;
} SortedIter;

typedef struct BuildState
{
	SortedEntry *e;
	size_t		n;
	size_t		cap;
} BuildState;

static uint64_t
load_prefix(const uint8_t *p, size_t len)
{
	uint64_t	v = 0;

	for (size_t i = 0; i < 8; i++)
		v = (v << 8) | (i < len ? p[i] : 0);
	return v;
}

static LsmCode
collect_entry(void *arg, LsmSeq seq, LsmKind kind, LsmSlice key, LsmSlice value,
			  LsmStatus *st)
{
	BuildState *bs = arg;
	SortedEntry *e;

	if (bs->n == bs->cap)
	{
		size_t		cap = bs->cap ? bs->cap * 2 : 1024;
		SortedEntry *grown = lsm_malloc_private(cap * sizeof(SortedEntry));

		if (grown == NULL)
			return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory sorting a batch");
		if (bs->n > 0)
			memcpy(grown, bs->e, bs->n * sizeof(SortedEntry));
		lsm_free(bs->e);
		bs->e = grown;
		bs->cap = cap;
	}
	e = &bs->e[bs->n++];
	e->prefix[0] = load_prefix(key.data, key.len);
	e->prefix[1] = key.len > 8 ? load_prefix(key.data + 8, key.len - 8) : 0;
	e->key = key.data;
	e->key_len = (uint32_t) key.len;
	e->value = value.data;
	e->value_len = (uint32_t) value.len;
	e->tag = lsm_pack_seq_kind(seq, kind);
	return LSM_OK;
}

/* Internal-key order: user key ascending, then (seq, kind) descending. */
static int
entry_cmp(const void *pa, const void *pb)
{
	const SortedEntry *a = pa;
	const SortedEntry *b = pb;

	if (a->prefix[0] != b->prefix[0])
		return a->prefix[0] < b->prefix[0] ? -1 : 1;
	if (a->prefix[1] != b->prefix[1])
		return a->prefix[1] < b->prefix[1] ? -1 : 1;
	if (a->key_len > 16 || b->key_len > 16 || a->key_len != b->key_len)
	{
		int			r = lsm_slice_cmp(lsm_slice(a->key, a->key_len),
									  lsm_slice(b->key, b->key_len));

		if (r != 0)
			return r;
	}
	return a->tag > b->tag ? -1 : a->tag < b->tag ? 1 : 0;
}

static SortedIter *
as_sorted(LsmIter *it)
{
	return (SortedIter *) it;
}

/* Make the internal key of the entry at pos; an allocation failure ends the walk. */
static void
position(SortedIter *si, size_t pos)
{
	SortedEntry *e;
	uint8_t		trailer[LSM_IKEY_TRAILER];

	si->pos = pos;
	if (pos >= si->n)
	{
		si->pos = si->n;
		return;
	}
	e = &si->e[pos];
	lsm_put_fixed64(trailer, e->tag);
	si->ikey.len = 0;
	if (!lsm_buf_append(&si->ikey, e->key, e->key_len) ||
		!lsm_buf_append(&si->ikey, trailer, sizeof(trailer)))
	{
		lsm_status_set(&si->st, LSM_NO_MEMORY, 0, "out of memory walking a sorted batch");
		si->pos = si->n;
	}
}

static bool
si_valid(LsmIter *it)
{
	SortedIter *si = as_sorted(it);

	return si->pos < si->n;
}

static void
si_seek_first(LsmIter *it)
{
	position(as_sorted(it), 0);
}

static void
si_seek_last(LsmIter *it)
{
	SortedIter *si = as_sorted(it);

	position(si, si->n == 0 ? 0 : si->n - 1);
}

static void
si_seek(LsmIter *it, LsmSlice target)
{
	SortedIter *si = as_sorted(it);
	size_t		lo = 0;
	size_t		hi = si->n;

	/* the first entry >= target */
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		SortedEntry *e = &si->e[mid];
		uint8_t		trailer[LSM_IKEY_TRAILER];
		LsmBuf		k = LSM_BUF_INIT;
		int			r;

		lsm_put_fixed64(trailer, e->tag);
		if (!lsm_buf_append(&k, e->key, e->key_len) ||
			!lsm_buf_append(&k, trailer, sizeof(trailer)))
		{
			lsm_buf_free(&k);
			lsm_status_set(&si->st, LSM_NO_MEMORY, 0, "out of memory walking a sorted batch");
			si->pos = si->n;
			return;
		}
		r = lsm_ikey_cmp(lsm_buf_slice(&k), target);
		lsm_buf_free(&k);
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	position(si, lo);
}

static void
si_next(LsmIter *it)
{
	SortedIter *si = as_sorted(it);

	position(si, si->pos + 1);
}

static void
si_prev(LsmIter *it)
{
	SortedIter *si = as_sorted(it);

	position(si, si->pos == 0 ? si->n : si->pos - 1);
}

static LsmSlice
si_key(LsmIter *it)
{
	return lsm_buf_slice(&as_sorted(it)->ikey);
}

static LsmSlice
si_value(LsmIter *it)
{
	SortedIter *si = as_sorted(it);
	SortedEntry *e = &si->e[si->pos];

	return lsm_slice(e->value, e->value_len);
}

static LsmCode
si_status(LsmIter *it, LsmStatus *st)
{
	SortedIter *si = as_sorted(it);

	if (st != NULL && si->st.code != LSM_OK)
		*st = si->st;
	return si->st.code;
}

static void
si_destroy(LsmIter *it)
{
	SortedIter *si = as_sorted(it);

	lsm_buf_free(&si->ikey);
	lsm_free(si->e);
	lsm_free(si);
}

static const LsmIterOps sorted_ops = {
	si_valid, si_seek_first, si_seek_last, si_seek, si_next, si_prev,
	si_key, si_value, si_status, si_destroy
};

/*
 * lsm_batch_sorted_iter
 *		An iterator over entries (numbered from first_seq) in internal-key
 *		order.  NULL with st set when entries are malformed or memory ran
 *		out.
 */
LsmIter *
lsm_batch_sorted_iter(LsmSlice entries, LsmSeq first_seq, LsmStatus *st)
{
	BuildState	bs = {NULL, 0, 0};
	SortedIter *si;

	if (lsm_batch_iterate_entries(entries, first_seq, collect_entry, &bs, st) != LSM_OK)
	{
		lsm_free(bs.e);
		return NULL;
	}
	si = lsm_calloc(1, sizeof(SortedIter));
	if (si == NULL)
	{
		lsm_free(bs.e);
		lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory sorting a batch");
		return NULL;
	}
	if (bs.n > 1)
		qsort(bs.e, bs.n, sizeof(SortedEntry), entry_cmp);
	si->base.ops = &sorted_ops;
	si->e = bs.e;
	si->n = bs.n;
	si->pos = bs.n;
	si->ikey = (LsmBuf) LSM_BUF_INIT;
	lsm_status_clear(&si->st);
	return &si->base;
}
