/*
 * db_iter.c
 *		The user-level iterator: turns a merged stream of internal keys
 *		(every version of every key, newest first per key) into the live
 *		user keys visible at a sequence number, each once, with its value
 *		folded over merge operands, inside [lower, upper).
 *
 * The current key and value are copied into the iterator, so the internal
 * iterator is free to be anywhere.  Where it is depends on the direction:
 *
 *	forward		at the first entry after all entries of the current key;
 *	reverse		at the last entry before all entries of the current key.
 *
 * Going forward, the first visible entry of a user key decides it: a PUT is
 * the value, a DELETE hides the key, MERGE operands are collected until a
 * PUT or DELETE (or the key's end) and folded.  Going backward the entries
 * of a key arrive oldest first, so the state is rebuilt as they come: a PUT
 * or DELETE resets it, MERGE operands pile up on top; the key is known only
 * when an entry of a smaller key (or the start) shows up.  A change of
 * direction re-seeks the internal iterator around the current key.
 */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "db_internal.h"
#include "lsm_alloc.h"
#include "lsm_format.h"

typedef enum DbIterDir
{
	DIR_FORWARD,
	DIR_REVERSE
} DbIterDir;

/* What the entries of one user key amount to while scanning backward. */
typedef enum KeyState
{
	KEY_NONE,					/* no visible entry seen yet */
	KEY_DELETED,
	KEY_PUT,
	KEY_MERGE					/* operands, over a PUT or over nothing */
} KeyState;

typedef struct DbIter
{
	LsmIter		base;
	LsmIter    *in;
	LsmSeq		seq;
	bool		has_lower;
	bool		has_upper;
	LsmBuf		lower;
	LsmBuf		upper;
	LsmMergeFn	merge;
	void	   *merge_arg;
	LsmDb	   *db;				/* of the blob files */
	LsmReadStats *stats;		/* blob reads count here; nullable */
	LsmDbIterCleanup cleanup;
	void	   *cleanup_arg;

	DbIterDir	dir;
	bool		valid;
	LsmBuf		key;			/* current user key */
	LsmBuf		value;			/* current value */
	LsmStatus	err;

	/* merge state of the key being assembled */
	bool		has_base;
	LsmBuf		base_val;
	bool		base_is_ref;	/* reverse: base_val holds a blob reference */
	LsmBuf		blob_tmp;
	LsmBuf		ops;			/* operand bytes, back to back */
	size_t	   *op_len;
	int			n_ops;
	int			cap_ops;
	bool		ops_newest_first;
	LsmSlice   *slices;			/* operands handed to merge, oldest first */
	int			cap_slices;
	LsmBuf		scratch;		/* seek keys */
} DbIter;

/*
 * set_error
 *		Record the first error and make the iterator invalid.
 */
static void
set_error(DbIter *it, const LsmStatus *st)
{
	if (it->err.code == LSM_OK)
		it->err = *st;
	it->valid = false;
}

static void
set_oom(DbIter *it)
{
	LsmStatus	st;

	lsm_status_set(&st, LSM_NO_MEMORY, 0, "out of memory in an iterator");
	set_error(it, &st);
}

/*
 * parse_current
 *		Parse the internal iterator's key; a malformed one is corruption.
 */
static bool
parse_current(DbIter *it, LsmParsedKey *pk)
{
	if (lsm_ikey_parse(lsm_iter_key(it->in), pk))
		return true;
	{
		LsmStatus	st;

		lsm_status_set(&st, LSM_CORRUPTION, 0,
					   "malformed internal key of %zu bytes met by an iterator",
					   lsm_iter_key(it->in).len);
		set_error(it, &st);
	}
	return false;
}

/*
 * check_inner
 *		The internal iterator went invalid: keep its error if it has one.
 */
static void
check_inner(DbIter *it)
{
	LsmStatus	st;

	lsm_status_clear(&st);
	if (lsm_iter_status(it->in, &st) != LSM_OK)
		set_error(it, &st);
}

static void
ops_reset(DbIter *it)
{
	lsm_buf_reset(&it->ops);
	it->n_ops = 0;
	it->has_base = false;
	it->base_is_ref = false;
}

static bool
ops_push(DbIter *it, LsmSlice op)
{
	if (it->n_ops == it->cap_ops)
	{
		int			cap = it->cap_ops ? it->cap_ops * 2 : 8;
		size_t	   *n = lsm_realloc(it->op_len, (size_t) cap * sizeof(size_t));

		if (n == NULL)
			return false;
		it->op_len = n;
		it->cap_ops = cap;
	}
	if (!lsm_buf_append(&it->ops, op.data, op.len))
		return false;
	it->op_len[it->n_ops++] = op.len;
	return true;
}

/*
 * fold
 *		Compute the current value from the collected operands and base.
 */
static bool
fold(DbIter *it)
{
	LsmSlice	base = lsm_buf_slice(&it->base_val);
	LsmStatus	st;
	size_t		off = 0;
	int			i;

	if (it->n_ops > it->cap_slices)
	{
		LsmSlice   *s = lsm_realloc(it->slices, (size_t) it->n_ops * sizeof(LsmSlice));

		if (s == NULL)
		{
			set_oom(it);
			return false;
		}
		it->slices = s;
		it->cap_slices = it->n_ops;
	}
	for (i = 0; i < it->n_ops; i++)
	{
		int			slot = it->ops_newest_first ? it->n_ops - 1 - i : i;

		it->slices[slot] = lsm_slice(it->ops.data + off, it->op_len[i]);
		off += it->op_len[i];
	}
	lsm_buf_reset(&it->value);
	lsm_status_clear(&st);
	if (it->merge(it->merge_arg, lsm_buf_slice(&it->key),
				  it->has_base ? &base : NULL, it->slices, it->n_ops,
				  &it->value, &st) != LSM_OK)
	{
		if (st.code == LSM_OK)
			lsm_status_set(&st, LSM_INVALID_ARGUMENT, 0, "merge function failed");
		set_error(it, &st);
		return false;
	}
	return true;
}

/*
 * take_value
 *		Copy the value of a PUT or BLOB entry into dst, reading a BLOB's
 *		from its blob file.  False (error recorded) on failure.
 */
static bool
take_value(DbIter *it, LsmKind kind, LsmSlice v, LsmBuf *dst)
{
	LsmStatus	st;

	if (kind == LSM_KIND_PUT)
	{
		if (!lsm_buf_set(dst, v.data, v.len))
		{
			set_oom(it);
			return false;
		}
		return true;
	}
	lsm_status_clear(&st);
	if (lsm_blob_read(it->db, v, dst, it->stats, &st) != LSM_OK)
	{
		set_error(it, &st);
		return false;
	}
	return true;
}

/*
 * resolve_base
 *		Reverse scans keep a BLOB's reference until the key is decided, so
 *		that older versions cost no reads; read it now.
 */
static bool
resolve_base(DbIter *it)
{
	LsmBuf		tmp;

	if (!it->base_is_ref)
		return true;
	if (!take_value(it, LSM_KIND_BLOB, lsm_buf_slice(&it->base_val), &it->blob_tmp))
		return false;
	tmp = it->base_val;
	it->base_val = it->blob_tmp;
	it->blob_tmp = tmp;
	it->base_is_ref = false;
	return true;
}

/*
 * skip_key
 *		Move the internal iterator forward past every entry of it->key.
 */
static bool
skip_key(DbIter *it)
{
	LsmParsedKey pk;

	while (lsm_iter_valid(it->in))
	{
		if (!parse_current(it, &pk))
			return false;
		if (!lsm_slice_eq(pk.user_key, lsm_buf_slice(&it->key)))
			return true;
		lsm_iter_next(it->in);
	}
	check_inner(it);
	return it->err.code == LSM_OK;
}

/*
 * find_forward
 *		From the internal position, find the first live user key.
 */
static void
find_forward(DbIter *it)
{
	LsmParsedKey pk;

	it->valid = false;
	while (lsm_iter_valid(it->in))
	{
		if (!parse_current(it, &pk))
			return;
		if (it->has_upper && lsm_slice_cmp(pk.user_key, lsm_buf_slice(&it->upper)) >= 0)
			return;
		if (pk.seq > it->seq)
		{
			lsm_iter_next(it->in);
			continue;
		}
		if (!lsm_buf_set(&it->key, pk.user_key.data, pk.user_key.len))
		{
			set_oom(it);
			return;
		}
		if (pk.kind == LSM_KIND_DELETE)
		{
			if (!skip_key(it))
				return;
			continue;
		}
		if (pk.kind == LSM_KIND_PUT || pk.kind == LSM_KIND_BLOB)
		{
			if (!take_value(it, pk.kind, lsm_iter_value(it->in), &it->value))
				return;
		}
		else
		{
			/* operands, newest first, down to a PUT, a DELETE or the end */
			ops_reset(it);
			it->ops_newest_first = true;
			for (;;)
			{
				if (pk.kind == LSM_KIND_MERGE)
				{
					if (!ops_push(it, lsm_iter_value(it->in)))
					{
						set_oom(it);
						return;
					}
				}
				else
				{
					if (pk.kind == LSM_KIND_PUT || pk.kind == LSM_KIND_BLOB)
					{
						if (!take_value(it, pk.kind, lsm_iter_value(it->in), &it->base_val))
							return;
						it->has_base = true;
					}
					break;
				}
				lsm_iter_next(it->in);
				if (!lsm_iter_valid(it->in))
				{
					check_inner(it);
					if (it->err.code != LSM_OK)
						return;
					break;
				}
				if (!parse_current(it, &pk))
					return;
				if (!lsm_slice_eq(pk.user_key, lsm_buf_slice(&it->key)))
					break;
			}
			if (!fold(it))
				return;
		}
		if (!skip_key(it))
			return;
		it->valid = true;
		return;
	}
	check_inner(it);
}

/*
 * find_reverse
 *		From the internal position, scan backward for the previous live
 *		user key, leaving the internal iterator on the last entry before it.
 */
static void
find_reverse(DbIter *it)
{
	KeyState	state = KEY_NONE;
	bool		have_key = false;
	LsmParsedKey pk;

	it->valid = false;
	ops_reset(it);
	it->ops_newest_first = false;
	while (lsm_iter_valid(it->in))
	{
		if (!parse_current(it, &pk))
			return;
		if (it->has_lower && lsm_slice_cmp(pk.user_key, lsm_buf_slice(&it->lower)) < 0)
			break;
		if (it->has_upper && lsm_slice_cmp(pk.user_key, lsm_buf_slice(&it->upper)) >= 0)
		{
			lsm_iter_prev(it->in);
			continue;
		}
		if (!have_key || !lsm_slice_eq(pk.user_key, lsm_buf_slice(&it->key)))
		{
			/* a smaller key: the one assembled so far is complete */
			if (state == KEY_PUT || state == KEY_MERGE)
				break;
			state = KEY_NONE;
			ops_reset(it);
			if (!lsm_buf_set(&it->key, pk.user_key.data, pk.user_key.len))
			{
				set_oom(it);
				return;
			}
			have_key = true;
		}
		if (pk.seq <= it->seq)
		{
			LsmSlice	v = lsm_iter_value(it->in);

			switch (pk.kind)
			{
				case LSM_KIND_DELETE:
					ops_reset(it);
					state = KEY_DELETED;
					break;
				case LSM_KIND_PUT:
				case LSM_KIND_BLOB:
					ops_reset(it);
					if (!lsm_buf_set(&it->base_val, v.data, v.len))
					{
						set_oom(it);
						return;
					}
					it->base_is_ref = pk.kind == LSM_KIND_BLOB;
					it->has_base = true;
					state = KEY_PUT;
					break;
				case LSM_KIND_MERGE:
					if (!ops_push(it, v))
					{
						set_oom(it);
						return;
					}
					state = KEY_MERGE;
					break;
			}
		}
		lsm_iter_prev(it->in);
	}
	if (!lsm_iter_valid(it->in))
	{
		check_inner(it);
		if (it->err.code != LSM_OK)
			return;
	}

	if ((state == KEY_PUT || state == KEY_MERGE) && it->has_base && !resolve_base(it))
		return;
	if (state == KEY_PUT)
	{
		LsmBuf		tmp = it->value;

		/* the base is the value: swap buffers rather than copy */
		it->value = it->base_val;
		it->base_val = tmp;
		it->has_base = false;
		it->valid = true;
	}
	else if (state == KEY_MERGE)
	{
		if (fold(it))
			it->valid = true;
	}
}

/*
 * seek_internal
 *		Position the internal iterator at the first entry >= (user_key,
 *		seq, highest kind).
 */
static bool
seek_internal(DbIter *it, LsmSlice user_key, LsmSeq seq, LsmKind kind)
{
	lsm_buf_reset(&it->scratch);
	if (!lsm_ikey_append(&it->scratch, user_key, seq, kind))
	{
		set_oom(it);
		return false;
	}
	lsm_iter_seek(it->in, lsm_buf_slice(&it->scratch));
	return true;
}

static bool
dbiter_valid(LsmIter *base)
{
	return ((DbIter *) base)->valid;
}

static void
dbiter_seek(LsmIter *base, LsmSlice target)
{
	DbIter	   *it = (DbIter *) base;

	lsm_status_clear(&it->err);
	it->dir = DIR_FORWARD;
	it->valid = false;
	if (it->has_lower && lsm_slice_cmp(target, lsm_buf_slice(&it->lower)) < 0)
		target = lsm_buf_slice(&it->lower);
	if (it->has_upper && lsm_slice_cmp(target, lsm_buf_slice(&it->upper)) >= 0)
		return;
	if (!seek_internal(it, target, it->seq, LSM_KIND_FOR_SEEK))
		return;
	find_forward(it);
}

static void
dbiter_seek_first(LsmIter *base)
{
	DbIter	   *it = (DbIter *) base;

	if (it->has_lower)
	{
		dbiter_seek(base, lsm_buf_slice(&it->lower));
		return;
	}
	lsm_status_clear(&it->err);
	it->dir = DIR_FORWARD;
	lsm_iter_seek_first(it->in);
	find_forward(it);
}

static void
dbiter_seek_last(LsmIter *base)
{
	DbIter	   *it = (DbIter *) base;

	lsm_status_clear(&it->err);
	it->dir = DIR_REVERSE;
	it->valid = false;
	if (it->has_upper)
	{
		/* the last entry before every version of upper */
		if (!seek_internal(it, lsm_buf_slice(&it->upper), LSM_MAX_SEQ, LSM_KIND_FOR_SEEK))
			return;
		if (lsm_iter_valid(it->in))
			lsm_iter_prev(it->in);
		else
		{
			check_inner(it);
			if (it->err.code != LSM_OK)
				return;
			lsm_iter_seek_last(it->in);
		}
	}
	else
		lsm_iter_seek_last(it->in);
	find_reverse(it);
}

static void
dbiter_next(LsmIter *base)
{
	DbIter	   *it = (DbIter *) base;

	if (!it->valid)
		return;
	if (it->dir == DIR_REVERSE)
	{
		/* step past every entry of the current key: seek to its last one */
		it->dir = DIR_FORWARD;
		if (!seek_internal(it, lsm_buf_slice(&it->key), 0, LSM_KIND_DELETE) ||
			!skip_key(it))
			return;
	}
	find_forward(it);
}

static void
dbiter_prev(LsmIter *base)
{
	DbIter	   *it = (DbIter *) base;

	if (!it->valid)
		return;
	if (it->dir == DIR_FORWARD)
	{
		/* go back to the last entry before every entry of the current key */
		it->dir = DIR_REVERSE;
		if (!seek_internal(it, lsm_buf_slice(&it->key), LSM_MAX_SEQ, LSM_KIND_FOR_SEEK))
			return;
		if (lsm_iter_valid(it->in))
			lsm_iter_prev(it->in);
		else
		{
			check_inner(it);
			if (it->err.code != LSM_OK)
				return;
			lsm_iter_seek_last(it->in);
		}
	}
	find_reverse(it);
}

static LsmSlice
dbiter_key(LsmIter *base)
{
	return lsm_buf_slice(&((DbIter *) base)->key);
}

static LsmSlice
dbiter_value(LsmIter *base)
{
	return lsm_buf_slice(&((DbIter *) base)->value);
}

static LsmCode
dbiter_status(LsmIter *base, LsmStatus *st)
{
	DbIter	   *it = (DbIter *) base;

	if (it->err.code != LSM_OK)
	{
		if (st != NULL)
			*st = it->err;
		return it->err.code;
	}
	return lsm_iter_status(it->in, st);
}

static void
dbiter_destroy(LsmIter *base)
{
	DbIter	   *it = (DbIter *) base;

	lsm_iter_destroy(it->in);
	if (it->cleanup != NULL)
		it->cleanup(it->cleanup_arg);
	lsm_buf_free(&it->lower);
	lsm_buf_free(&it->upper);
	lsm_buf_free(&it->key);
	lsm_buf_free(&it->value);
	lsm_buf_free(&it->base_val);
	lsm_buf_free(&it->blob_tmp);
	lsm_buf_free(&it->ops);
	lsm_buf_free(&it->scratch);
	lsm_free(it->op_len);
	lsm_free(it->slices);
	lsm_free(it);
}

static const LsmIterOps dbiter_ops = {
	.valid = dbiter_valid,
	.seek_first = dbiter_seek_first,
	.seek_last = dbiter_seek_last,
	.seek = dbiter_seek,
	.next = dbiter_next,
	.prev = dbiter_prev,
	.key = dbiter_key,
	.value = dbiter_value,
	.status = dbiter_status,
	.destroy = dbiter_destroy,
};

LsmIter *
lsm_db_iter_new(LsmIter *internal, LsmSeq seq, LsmSlice lower, LsmSlice upper,
				LsmMergeFn merge, void *merge_arg, LsmDb *db, LsmReadStats *stats,
				LsmDbIterCleanup cleanup, void *cleanup_arg)
{
	DbIter	   *it = lsm_calloc(1, sizeof(DbIter));

	if (it == NULL)
	{
		lsm_iter_destroy(internal);
		if (cleanup != NULL)
			cleanup(cleanup_arg);
		return NULL;
	}
	it->base.ops = &dbiter_ops;
	it->in = internal;
	it->seq = seq;
	it->merge = merge;
	it->merge_arg = merge_arg;
	it->db = db;
	it->stats = stats;
	it->cleanup = cleanup;
	it->cleanup_arg = cleanup_arg;
	it->dir = DIR_FORWARD;
	it->has_lower = lower.data != NULL;
	it->has_upper = upper.data != NULL;

	/*
	 * Values are copied into these, so they grow as big as the biggest row:
	 * the reading process's own memory, not a host's shared heap.
	 */
	if ((it->has_lower && !lsm_buf_set(&it->lower, lower.data, lower.len)) ||
		(it->has_upper && !lsm_buf_set(&it->upper, upper.data, upper.len)) ||
		!lsm_buf_make_private(&it->value, 256) ||
		!lsm_buf_make_private(&it->base_val, 256) ||
		!lsm_buf_make_private(&it->blob_tmp, 256))
	{
		dbiter_destroy(&it->base);
		return NULL;
	}
	return &it->base;
}
