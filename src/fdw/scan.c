/*
 * scan.c
 *		Execution of scans on lsm_fdw tables: point gets, multi-gets and
 *		range iterators over the engine, with the transaction's own writes
 *		merged on top, and turning stored keys and values back into rows.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "scan_access.h"

/* One entry of the transaction's writes in the scan's range. */
typedef struct OverlayEntry
{
	LsmSlice	key;
	LsmSlice	value;
	bool		is_delete;
	bool		is_merge;		/* value is an add vector over the committed row */
} OverlayEntry;

typedef struct LsmScanState
{
	LsmKeyInfo	ki;
	bool	   *wanted;			/* attributes to decode; NULL: all */
	LsmAccess	acc;			/* with ExprStates */
	LsmDb	   *db;
	LsmTxnTable *txn;
	uint64		txn_upto;		/* transaction ops visible to this scan */
	LsmSeq		read_seq;		/* the statement's read point */
	Oid			relid;
	StringInfoData lockkey;		/* copy of the key being locked */
	MemoryContext row_cxt;		/* reset per row */
	MemoryContext keys_cxt;		/* reset per (re)scan */

	bool		started;
	bool		empty;			/* the quals can match nothing */

	/*
	 * Kept across rescans (a parameterized inner side is rescanned per
	 * outer row): the base types of the access's value expressions, looked
	 * up once, and the key buffers, reset rather than allocated again.
	 */
	Oid			eq_types[INDEX_MAX_KEYS];
	Oid			lower_type;
	Oid			upper_type;
	Oid			any_elemtype;	/* MULTI: the last array's element type */
	Oid			any_base_type;
	int16		any_elmlen;
	bool		any_elmbyval;
	char		any_elmalign;
	StringInfoData prefix;		/* the leading equalities; POINT's key */

	/*
	 * POINT and MULTI: sorted, distinct keys to get.  MULTI_RANGE: sorted,
	 * distinct key prefixes, each read as a range; next_key is the next
	 * one to open (walking down when reverse).
	 */
	StringInfoData *keys;
	int			nkeys_to_get;
	int			next_key;

	/* RANGE and FULL */
	StringInfoData lower;		/* inclusive; len 0 = unbounded */
	StringInfoData upper;		/* exclusive; valid when has_upper */
	bool		has_upper;
	LsmIter    *it;
	OverlayEntry *overlay;
	int			noverlay;
	int			ov_pos;

	LsmBuf		valbuf;
	LsmBuf		foldbuf;		/* a row with the transaction's increments */

	/*
	 * What this scan's engine reads cost, for EXPLAIN ANALYZE only (else
	 * NULL, and the engine counts nothing for us): plain additions into
	 * backend memory, no shared counter is read or written per row.
	 */
	LsmReadCounters *counters;
	LsmReadCounters counters_data;
	MemoryContextCallback cleanup;
	uint64		rows_from_txn;
	uint64		engine_gets;
} LsmScanState;

static void release_scan(void *arg);
static void open_iterator(LsmScanState *ss);

/*
 * Convert a key value of valtype to column type coltype.  Returns 0 when
 * it fits, -1 when it lies below every value of the column type and +1
 * when above (integers of other widths only).
 */
int
lsm_coerce_key_value(Oid coltype, Oid valtype, Datum v, Datum *out)
{
	int64		x;
	int64		lo,
				hi;

	if (coltype == valtype ||
		!(coltype == INT2OID || coltype == INT4OID || coltype == INT8OID))
	{
		*out = v;
		return 0;
	}
	if (valtype == INT2OID)
		x = DatumGetInt16(v);
	else if (valtype == INT4OID)
		x = DatumGetInt32(v);
	else
		x = DatumGetInt64(v);
	if (coltype == INT2OID)
	{
		lo = PG_INT16_MIN;
		hi = PG_INT16_MAX;
	}
	else if (coltype == INT4OID)
	{
		lo = PG_INT32_MIN;
		hi = PG_INT32_MAX;
	}
	else
	{
		*out = Int64GetDatum(x);
		return 0;
	}
	if (x < lo)
		return -1;
	if (x > hi)
		return 1;
	*out = coltype == INT2OID ? Int16GetDatum((int16) x) : Int32GetDatum((int32) x);
	return 0;
}

/*
 * Smallest byte string greater than every string that starts with s; false
 * when there is none (s is empty or all 0xff).
 */
static bool
bytes_successor(StringInfo s)
{
	while (s->len > 0)
	{
		unsigned char c = (unsigned char) s->data[s->len - 1];

		if (c != 0xff)
		{
			s->data[s->len - 1] = (char) (c + 1);
			return true;
		}
		s->len--;
	}
	return false;
}

/*
 * The fixed prefix of a LIKE pattern (up to the first unescaped wildcard),
 * with escapes removed.
 */
static text *
like_fixed_prefix(text *pattern)
{
	const char *p = VARDATA_ANY(pattern);
	int			len = VARSIZE_ANY_EXHDR(pattern);
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < len; i++)
	{
		if (p[i] == '%' || p[i] == '_')
			break;
		if (p[i] == '\\' && i + 1 < len)
			i++;
		appendStringInfoChar(&buf, p[i]);
	}
	return cstring_to_text_with_len(buf.data, buf.len);
}

static Datum
eval(ExprState *es, ExprContext *econtext, bool *isnull)
{
	return ExecEvalExpr(es, econtext, isnull);
}

/* eval_key_value's answer for a NULL value */
#define KEY_VALUE_NULL 2

/*
 * Evaluate a value compared with key column col and convert it to the
 * column's type: 0 when it fits (*out), -1 / +1 when it lies below / above
 * every value of the column's type, KEY_VALUE_NULL for NULL.
 */
static int
eval_key_value(LsmScanState *ss, ExprState *es, Oid valtype, int col,
			   ExprContext *econtext, Datum *out)
{
	bool		isnull;
	Datum		v = eval(es, econtext, &isnull);

	if (isnull)
		return KEY_VALUE_NULL;
	return lsm_coerce_key_value(ss->ki.base_types[col], valtype, v, out);
}

/* The base type of a value expression of the access (NULL: none). */
static Oid
value_base_type(void *es)
{
	return es ? getBaseType(exprType((Node *) ((ExprState *) es)->expr)) : InvalidOid;
}

/*
 * Encode the leading equalities into buf; false when the scan can match
 * nothing (a NULL or an out-of-range value).
 */
static bool
encode_equalities(LsmScanState *ss, ExprContext *econtext, StringInfo buf)
{
	for (int i = 0; i < ss->acc.neq; i++)
	{
		Datum		cv;

		if (eval_key_value(ss, (ExprState *) ss->acc.eq[i], ss->eq_types[i], i,
						   econtext, &cv) != 0)
			return false;
		lsm_key_encode(buf, ss->ki.types[i], ss->ki.sort_colls[i], cv);
	}
	return true;
}

static int
compare_keys(const void *a, const void *b)
{
	const StringInfoData *x = a;
	const StringInfoData *y = b;
	int			n = Min(x->len, y->len);
	int			r = memcmp(x->data, y->data, n);

	if (r != 0)
		return r;
	return (x->len > y->len) - (x->len < y->len);
}

/*
 * Work out, from the quals' current values, which keys or which key range
 * this scan reads.
 */
static void
compute_targets(LsmScanState *ss, ExprContext *econtext)
{
	MemoryContext old = MemoryContextSwitchTo(ss->keys_cxt);
	StringInfoData prefix;
	int			col = ss->acc.neq;

	ss->empty = false;
	ss->nkeys_to_get = 0;
	ss->next_key = 0;
	ss->has_upper = false;
	resetStringInfo(&ss->prefix);
	resetStringInfo(&ss->lower);
	resetStringInfo(&ss->upper);

	if (!encode_equalities(ss, econtext, &ss->prefix))
	{
		ss->empty = true;
		MemoryContextSwitchTo(old);
		return;
	}

	prefix = ss->prefix;
	switch (ss->acc.kind)
	{
		case LSM_ACCESS_NONE:
			ss->empty = true;	/* not reached: the scan starts empty */
			break;

		case LSM_ACCESS_POINT:
			ss->keys = &ss->prefix;
			ss->nkeys_to_get = 1;
			break;

		case LSM_ACCESS_MULTI:
		case LSM_ACCESS_MULTI_RANGE:
			{
				ExprState  *es = (ExprState *) ss->acc.any;
				bool		isnull;
				Datum		arr = eval(es, econtext, &isnull);
				ArrayType  *a;
				Oid			elemtype;
				int16		elmlen;
				bool		elmbyval;
				char		elmalign;
				Datum	   *elems;
				bool	   *nulls;
				int			n,
							out = 0;

				if (isnull)
				{
					ss->empty = true;
					break;
				}
				a = DatumGetArrayTypeP(arr);
				elemtype = ARR_ELEMTYPE(a);
				if (elemtype != ss->any_elemtype)
				{
					get_typlenbyvalalign(elemtype, &ss->any_elmlen, &ss->any_elmbyval,
										 &ss->any_elmalign);
					ss->any_base_type = getBaseType(elemtype);
					ss->any_elemtype = elemtype;
				}
				elmlen = ss->any_elmlen;
				elmbyval = ss->any_elmbyval;
				elmalign = ss->any_elmalign;
				deconstruct_array(a, elemtype, elmlen, elmbyval, elmalign,
								  &elems, &nulls, &n);
				ss->keys = palloc(sizeof(StringInfoData) * Max(n, 1));
				for (int i = 0; i < n; i++)
				{
					Datum		cv;

					if (nulls[i] ||
						lsm_coerce_key_value(ss->ki.base_types[col], ss->any_base_type, elems[i], &cv) != 0)
						continue;
					initStringInfo(&ss->keys[out]);
					appendBinaryStringInfo(&ss->keys[out], prefix.data, prefix.len);
					lsm_key_encode(&ss->keys[out], ss->ki.types[col], ss->ki.sort_colls[col], cv);
					out++;
				}
				/* Sorted and distinct: rows come out once each, in key order. */
				qsort(ss->keys, out, sizeof(StringInfoData), compare_keys);
				n = out;
				out = 0;
				for (int i = 0; i < n; i++)
					if (out == 0 || compare_keys(&ss->keys[out - 1], &ss->keys[i]) != 0)
						ss->keys[out++] = ss->keys[i];
				ss->nkeys_to_get = out;
				if (ss->acc.kind == LSM_ACCESS_MULTI_RANGE && ss->acc.reverse)
					ss->next_key = out - 1;
				break;
			}

		case LSM_ACCESS_RANGE:
		case LSM_ACCESS_FULL:
			appendBinaryStringInfo(&ss->lower, prefix.data, prefix.len);
			appendBinaryStringInfo(&ss->upper, prefix.data, prefix.len);
			ss->has_upper = bytes_successor(&ss->upper);
			if (ss->acc.prefix)
			{
				ExprState  *es = (ExprState *) ss->acc.prefix;
				bool		isnull;
				Datum		v = eval(es, econtext, &isnull);
				text	   *p;

				if (isnull)
				{
					ss->empty = true;
					break;
				}
				p = ss->acc.prefix_is_like ? like_fixed_prefix(DatumGetTextPP(v))
					: DatumGetTextPP(v);
				lsm_key_encode_prefix(&ss->lower, ss->ki.types[col], PointerGetDatum(p));
				resetStringInfo(&ss->upper);
				appendBinaryStringInfo(&ss->upper, ss->lower.data, ss->lower.len);
				ss->has_upper = bytes_successor(&ss->upper);
			}
			if (ss->acc.lower)
			{
				Datum		cv;
				int			c = eval_key_value(ss, (ExprState *) ss->acc.lower,
											   ss->lower_type, col, econtext, &cv);

				/* NULL or above the type's range: nothing; below: unbounded */
				if (c > 0)
				{
					ss->empty = true;
					break;
				}
				if (c == 0)
				{
					lsm_key_encode(&ss->lower, ss->ki.types[col], ss->ki.sort_colls[col], cv);
					if (!ss->acc.lower_incl && !bytes_successor(&ss->lower))
					{
						ss->empty = true;
						break;
					}
				}
			}
			if (ss->acc.upper)
			{
				Datum		cv;
				int			c = eval_key_value(ss, (ExprState *) ss->acc.upper,
											   ss->upper_type, col, econtext, &cv);

				/* NULL or below the type's range: nothing; above: unbounded */
				if (c < 0 || c == KEY_VALUE_NULL)
				{
					ss->empty = true;
					break;
				}
				if (c == 0)
				{
					resetStringInfo(&ss->upper);
					appendBinaryStringInfo(&ss->upper, prefix.data, prefix.len);
					lsm_key_encode(&ss->upper, ss->ki.types[col], ss->ki.sort_colls[col], cv);
					ss->has_upper = ss->acc.upper_incl ? bytes_successor(&ss->upper) : true;
				}
			}
			if (ss->has_upper && compare_keys(&ss->lower, &ss->upper) >= 0)
				ss->empty = true;
			break;
	}
	MemoryContextSwitchTo(old);
}

/*
 * Collect the transaction's newest visible op per key inside the range, in
 * key order.  Only transactions that wrote the table pay for this.
 */
static void
collect_overlay(LsmScanState *ss)
{
	LsmMemTable *mt = lsm_txn_index(ss->txn);
	LsmMemIter	mit;
	LsmIter    *it;
	int			cap = 16;
	LsmSlice	last_key = lsm_slice(NULL, 0);
	bool		have_last = false;
	int64		hidden_upto = lsm_txn_truncated_upto(ss->txn);
	bool		spilled = lsm_txn_spilled(ss->txn);

	ss->noverlay = 0;
	ss->overlay = NULL;
	if (mt == NULL || ss->txn_upto == 0)
		return;
	ss->overlay = MemoryContextAlloc(ss->keys_cxt, sizeof(OverlayEntry) * cap);

	/*
	 * After a spill (bulk loading) the ops are also in runs, read through
	 * an iterator whose keys and values must be copied; the entries then
	 * cost this scan memory, which only a transaction reading what it
	 * bulk-loads pays.
	 */
	if (spilled)
		it = lsm_txn_overlay_iter(ss->txn);
	else
	{
		lsm_memtable_iter_init(&mit, mt);
		it = &mit.base;
	}
	if (ss->lower.len > 0)
	{
		LsmBuf		t = LSM_BUF_INIT;

		lsm_ikey_append(&t, lsm_slice(ss->lower.data, ss->lower.len), LSM_MAX_SEQ,
						LSM_KIND_FOR_SEEK);
		lsm_iter_seek(it, lsm_buf_slice(&t));
		lsm_buf_free(&t);
	}
	else
		lsm_iter_seek_first(it);

	PG_TRY();
	{
	for (; lsm_iter_valid(it); lsm_iter_next(it))
	{
		LsmParsedKey pk;
		LsmSlice	value;

		if (!lsm_ikey_parse(lsm_iter_key(it), &pk))
			elog(ERROR, "lsm_fdw transaction index is malformed");
		if (ss->has_upper &&
			lsm_slice_cmp(pk.user_key, lsm_slice(ss->upper.data, ss->upper.len)) >= 0)
			break;
		if (pk.seq > ss->txn_upto)
			continue;
		if (have_last && lsm_slice_eq(pk.user_key, last_key))
			continue;			/* an older op on the same key */
		if (ss->noverlay == cap)
		{
			cap *= 2;
			ss->overlay = repalloc(ss->overlay, sizeof(OverlayEntry) * cap);
		}
		value = lsm_iter_value(it);
		if (spilled)
		{
			pk.user_key = lsm_slice(MemoryContextAlloc(ss->keys_cxt, pk.user_key.len + 1),
									pk.user_key.len);
			memcpy((void *) pk.user_key.data, lsm_iter_key(it).data, pk.user_key.len);
			value = lsm_slice(MemoryContextAlloc(ss->keys_cxt, value.len + 1), value.len);
			memcpy((void *) value.data, lsm_iter_value(it).data, value.len);
		}
		ss->overlay[ss->noverlay].key = pk.user_key;
		ss->overlay[ss->noverlay].value = value;
		ss->overlay[ss->noverlay].is_delete = (pk.kind == LSM_KIND_DELETE) ||
			(int64) pk.seq <= hidden_upto;
		ss->overlay[ss->noverlay].is_merge = pk.kind == LSM_KIND_MERGE;
		ss->noverlay++;
		last_key = pk.user_key;
		have_last = true;
	}
	}
	PG_FINALLY();
	{
		if (spilled)
			lsm_iter_destroy(it);
	}
	PG_END_TRY();
}

/*
 * A row an UPDATE or DELETE is about to change: lock its key, then read its
 * newest committed version (the transaction's own writes are not engine
 * rows; the caller handles those).  The row may have been deleted
 * meanwhile (false) or changed, in which case the executor re-checks the
 * quals on the new version, as EvalPlanQual does for heap rows.  Under
 * REPEATABLE READ a change after the snapshot is a serialization failure.
 */
static bool
lock_and_reread(LsmScanState *ss, LsmSlice key, LsmSlice *value)
{
	LsmReadOptions ro;
	LsmSeq		found_seq = 0;
	LsmStatus	st;
	LsmCode		rc;

	/* the key may point into the iterator's block: copy it first */
	resetStringInfo(&ss->lockkey);
	appendBinaryStringInfo(&ss->lockkey, (const char *) key.data, key.len);
	key = lsm_slice(ss->lockkey.data, ss->lockkey.len);
	lsm_lock_key(ss->relid, key);
	lsm_read_options_init(&ro);
	ro.read_seq = lsm_newest_point();
	ro.found_seq = &found_seq;
	ro.counters = ss->counters;
	ss->engine_gets++;
	rc = lsm_db_get(ss->db, &ro, key, &ss->valbuf, &st);
	if (rc != LSM_OK && rc != LSM_NOT_FOUND)
		lsm_report(ERROR, &st, "read a row");
	lsm_check_serializable(ss->relid, found_seq);
	if (rc == LSM_NOT_FOUND)
		return false;
	*value = lsm_buf_slice(&ss->valbuf);
	return true;
}

static void
start_scan(LsmScanState *ss, ExprContext *econtext)
{
	MemoryContextReset(ss->keys_cxt);
	lsm_iter_destroy(ss->it);
	ss->it = NULL;
	compute_targets(ss, econtext);
	ss->started = true;
	if (ss->empty)
		return;

	if (ss->acc.kind == LSM_ACCESS_RANGE || ss->acc.kind == LSM_ACCESS_FULL)
		open_iterator(ss);
}

/*
 * MULTI_RANGE: open the range of the next key prefix; false when none is
 * left.
 */
static bool
open_next_range(LsmScanState *ss)
{
	StringInfo	k;
	MemoryContext old;

	if (ss->next_key < 0 || ss->next_key >= ss->nkeys_to_get)
		return false;
	k = &ss->keys[ss->next_key];
	ss->next_key += ss->acc.reverse ? -1 : 1;
	old = MemoryContextSwitchTo(ss->keys_cxt);
	resetStringInfo(&ss->lower);
	appendBinaryStringInfo(&ss->lower, k->data, k->len);
	resetStringInfo(&ss->upper);
	appendBinaryStringInfo(&ss->upper, k->data, k->len);
	ss->has_upper = bytes_successor(&ss->upper);
	MemoryContextSwitchTo(old);
	open_iterator(ss);
	return true;
}

/*
 * Open the engine's iterator over [lower, upper) and collect the
 * transaction's own writes there.
 */
static void
open_iterator(LsmScanState *ss)
{
	LsmReadOptions ro;
	LsmStatus	st;

	lsm_iter_destroy(ss->it);
	ss->it = NULL;
	lsm_read_options_init(&ro);
	ro.read_seq = ss->read_seq;
	ro.counters = ss->counters;
	if (ss->lower.len > 0)
		ro.lower_bound = lsm_slice(ss->lower.data, ss->lower.len);
	if (ss->has_upper)
		ro.upper_bound = lsm_slice(ss->upper.data, ss->upper.len);
	if (lsm_txn_truncated_upto(ss->txn) >= 0)
		ss->it = lsm_iter_empty(NULL);	/* TRUNCATE earlier in this transaction */
	else if (lsm_db_iter(ss->db, &ro, &ss->it, &st) != LSM_OK)
		lsm_report(ERROR, &st, "start a scan");
	if (ss->acc.reverse)
		lsm_iter_seek_last(ss->it);
	else
		lsm_iter_seek_first(ss->it);
	collect_overlay(ss);
	ss->ov_pos = ss->acc.reverse ? ss->noverlay - 1 : 0;
}

/*
 * Next row of a point or multi get: the transaction's own write of the key
 * if any, else the engine's committed row.
 */
static bool
next_get(LsmScanState *ss, TupleTableSlot *slot)
{
	while (ss->next_key < ss->nkeys_to_get)
	{
		StringInfo	k = &ss->keys[ss->next_key++];
		LsmSlice	key = lsm_slice(k->data, k->len);
		LsmSlice	value;
		int			t = lsm_txn_lookup(ss->txn, key, ss->txn_upto, &value);
		LsmReadOptions ro;
		LsmStatus	st;
		LsmCode		rc;

		if (t == 2)
		{
			/* its own increments over the committed row */
			LsmSlice	own = value;

			if (ss->acc.lock_rows)
			{
				if (!lock_and_reread(ss, key, &value))
				{
					/* its own sum row (on_duplicate 'sum') over no row */
					if (!lsm_row_op_creates(own))
						continue;
					lsm_apply_increment(NULL, own, &ss->foldbuf);
					if (!lsm_store_row(slot, &ss->ki, key, lsm_buf_slice(&ss->foldbuf)))
						continue;
					return true;
				}
			}
			else if (!lsm_txn_row(ss->txn, ss->db, key, ss->txn_upto, ss->read_seq,
								  &ss->valbuf, &value))
				continue;
			else
			{
				/* an expired row stays absent, increments or not */
				if (!lsm_store_row_cols(slot, &ss->ki, ss->wanted, key, value))
					continue;
				return true;
			}
			lsm_apply_increment(&value, own, &ss->foldbuf);
			if (!lsm_store_row_cols(slot, &ss->ki, ss->wanted, key, lsm_buf_slice(&ss->foldbuf)))
				continue;
			return true;
		}
		if (t == 1)
		{
			if (!lsm_store_row_cols(slot, &ss->ki, ss->wanted, key, value))
				continue;
			ss->rows_from_txn++;
			return true;
		}
		if (t == 0)
			continue;
		if (ss->acc.lock_rows)
		{
			if (!lock_and_reread(ss, key, &value) ||
				!lsm_store_row_cols(slot, &ss->ki, ss->wanted, key, value))
				continue;
			return true;
		}
		lsm_read_options_init(&ro);
		ro.read_seq = ss->read_seq;
		ro.counters = ss->counters;
		ss->engine_gets++;
		rc = lsm_db_get(ss->db, &ro, key, &ss->valbuf, &st);
		if (rc == LSM_NOT_FOUND)
			continue;
		if (rc != LSM_OK)
			lsm_report(ERROR, &st, "read a row");
		if (!lsm_store_row_cols(slot, &ss->ki, ss->wanted, key, lsm_buf_slice(&ss->valbuf)))
			continue;
		return true;
	}
	return false;
}

/*
 * Next row of a range: merge the engine's iterator with the transaction's
 * overlay; on equal keys the transaction's write wins.
 */
static bool
next_range(LsmScanState *ss, TupleTableSlot *slot)
{
	bool		rev = ss->acc.reverse;

	for (;;)
	{
		bool		db_ok = lsm_iter_valid(ss->it);
		bool		ov_ok = ss->ov_pos >= 0 && ss->ov_pos < ss->noverlay;
		int			cmp;

		if (!db_ok)
		{
			LsmStatus	st;

			if (lsm_iter_status(ss->it, &st) != LSM_OK)
				lsm_report(ERROR, &st, "scan");
		}
		if (!db_ok && !ov_ok)
			return false;
		if (!db_ok)
			cmp = 1;
		else if (!ov_ok)
			cmp = -1;
		else
		{
			cmp = lsm_slice_cmp(lsm_iter_key(ss->it), ss->overlay[ss->ov_pos].key);
			if (rev)
				cmp = -cmp;
		}

		if (cmp < 0)
		{
			bool		present = true;

			if (ss->acc.lock_rows)
			{
				LsmSlice	value;

				present = lock_and_reread(ss, lsm_iter_key(ss->it), &value) &&
					lsm_store_row_cols(slot, &ss->ki, ss->wanted, lsm_iter_key(ss->it), value);
			}
			else
				present = lsm_store_row_cols(slot, &ss->ki, ss->wanted, lsm_iter_key(ss->it),
										lsm_iter_value(ss->it));
			if (rev)
				lsm_iter_prev(ss->it);
			else
				lsm_iter_next(ss->it);
			if (!present)
				continue;
			return true;
		}
		else
		{
			OverlayEntry *e = &ss->overlay[ss->ov_pos];

			ss->ov_pos += rev ? -1 : 1;
			if (e->is_merge && !e->is_delete)
			{
				/* the transaction's increments over the committed row */
				LsmSlice	base;
				bool		present;

				if (ss->acc.lock_rows)
					present = lock_and_reread(ss, e->key, &base);
				else
				{
					present = cmp == 0;
					base = present ? lsm_iter_value(ss->it) : lsm_slice(NULL, 0);
				}
				if (present)
					lsm_apply_increment(&base, e->value, &ss->foldbuf);
				else if (lsm_row_op_creates(e->value))
				{
					/* its own sum row (on_duplicate 'sum') over no row */
					lsm_apply_increment(NULL, e->value, &ss->foldbuf);
					present = true;
				}
				if (cmp == 0)
				{
					if (rev)
						lsm_iter_prev(ss->it);
					else
						lsm_iter_next(ss->it);
				}
				if (!present ||
					!lsm_store_row_cols(slot, &ss->ki, ss->wanted, e->key, lsm_buf_slice(&ss->foldbuf)))
					continue;
				ss->rows_from_txn++;
				return true;
			}
			if (cmp == 0)
			{
				if (rev)
					lsm_iter_prev(ss->it);
				else
					lsm_iter_next(ss->it);
			}
			if (e->is_delete ||
				!lsm_store_row_cols(slot, &ss->ki, ss->wanted, e->key, e->value))
				continue;
			ss->rows_from_txn++;
			return true;
		}
	}
}

/*
 * lsmBeginForeignScan
 *		Open the table's engine, take a snapshot and prepare the value
 *		expressions of the access.
 */
void
lsmBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	LsmScanState *ss = palloc0(sizeof(LsmScanState));
	List	   *states;

	node->fdw_state = ss;
	states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	lsm_access_from_plan(plan->fdw_private, states, &ss->acc);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	if (ss->acc.kind == LSM_ACCESS_NONE)
	{
		/* no key column, no row, no engine */
		ss->started = true;
		ss->empty = true;
		return;
	}

	lsm_key_info(rel, &ss->ki);
	ss->wanted = lsm_access_wanted_attrs(plan->fdw_private, RelationGetDescr(rel)->natts);
	if (ss->wanted != NULL && ss->ki.ttl_attno != InvalidAttrNumber)
		ss->wanted[ss->ki.ttl_attno - 1] = true;	/* expiry is checked */
	ss->db = lsm_open_table(rel);
	ss->txn = lsm_txn_table(rel, ss->db, false);
	ss->txn_upto = lsm_txn_nops(ss->txn);
	ss->read_seq = lsm_read_point();
	ss->relid = RelationGetRelid(rel);
	initStringInfo(&ss->lockkey);
	initStringInfo(&ss->prefix);
	initStringInfo(&ss->lower);
	initStringInfo(&ss->upper);
	for (int i = 0; i < ss->acc.neq; i++)
		ss->eq_types[i] = value_base_type(ss->acc.eq[i]);
	ss->lower_type = value_base_type(ss->acc.lower);
	ss->upper_type = value_base_type(ss->acc.upper);
	ss->cleanup.func = release_scan;
	ss->cleanup.arg = ss;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &ss->cleanup);
	if (node->ss.ps.state->es_instrument != 0)
		ss->counters = &ss->counters_data;
	ss->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "lsm_fdw row",
										ALLOCSET_DEFAULT_SIZES);
	ss->keys_cxt = AllocSetContextCreate(CurrentMemoryContext, "lsm_fdw scan keys",
										 ALLOCSET_DEFAULT_SIZES);
}

TupleTableSlot *
lsmIterateForeignScan(ForeignScanState *node)
{
	LsmScanState *ss = (LsmScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	MemoryContext old;
	bool		found;

	if (!ss->started)
		start_scan(ss, node->ss.ps.ps_ExprContext);
	ExecClearTuple(slot);
	if (ss->empty)
		return slot;

	CHECK_FOR_INTERRUPTS();
	MemoryContextReset(ss->row_cxt);
	old = MemoryContextSwitchTo(ss->row_cxt);
	if (ss->acc.kind == LSM_ACCESS_POINT || ss->acc.kind == LSM_ACCESS_MULTI)
		found = next_get(ss, slot);
	else if (ss->acc.kind == LSM_ACCESS_MULTI_RANGE)
	{
		/* the ranges one after another, in key order */
		found = false;
		for (;;)
		{
			if (ss->it != NULL && (found = next_range(ss, slot)))
				break;
			if (!open_next_range(ss))
				break;
		}
	}
	else
		found = next_range(ss, slot);
	MemoryContextSwitchTo(old);
	if (!found)
		ExecClearTuple(slot);
	return slot;
}

void
lsmReScanForeignScan(ForeignScanState *node)
{
	LsmScanState *ss = (LsmScanState *) node->fdw_state;

	/*
	 * Values of parameters may have changed: recompute on the next fetch.
	 * The transaction's writes stay those from before the statement began
	 * (txn_upto is not moved), so a rescanned subquery or inner side never
	 * sees rows the same statement wrote, as with a heap snapshot.
	 */
	if (ss->acc.kind != LSM_ACCESS_NONE)
		ss->started = false;
}

/*
 * Release what the scan holds in the engine (iterator, snapshot, malloc'd
 * buffer).  Runs at EndForeignScan and, through a memory context callback,
 * when the query's memory goes away after an ERROR, so that no engine pin
 * outlives the query.
 */
static void
release_scan(void *arg)
{
	LsmScanState *ss = (LsmScanState *) arg;

	lsm_iter_destroy(ss->it);
	ss->it = NULL;
	lsm_buf_free(&ss->valbuf);
	lsm_buf_free(&ss->foldbuf);
}

void
lsmEndForeignScan(ForeignScanState *node)
{
	LsmScanState *ss = (LsmScanState *) node->fdw_state;

	if (ss == NULL || ss->db == NULL)
		return;
	release_scan(ss);
}

/*
 * lsm_explain_read_counters
 *		What a node's engine reads cost, for EXPLAIN ANALYZE.
 */
void
lsm_explain_read_counters(const LsmReadCounters *c, ExplainState *es)
{
	ExplainPropertyUInteger("LSM Memtable Hits", NULL, c->memtable_hits, es);
	ExplainPropertyUInteger("LSM SSTables Probed", NULL, c->sst_probes, es);
	ExplainPropertyUInteger("LSM Bloom Skips", NULL, c->bloom_useful, es);
	ExplainPropertyUInteger("LSM Blocks From Cache", NULL, c->block_cache_hits, es);
	ExplainPropertyUInteger("LSM Blocks From Disk", NULL, c->block_reads, es);
	/* point gets only; shown when there were any (increments, rowmerge.c) */
	if (c->merge_operands > 0)
		ExplainPropertyUInteger("LSM Merge Operands Folded", NULL, c->merge_operands, es);
}

/*
 * lsmExplainForeignScan
 *		Name the access, its key order and, under ANALYZE, where rows came
 *		from.
 */
void
lsmExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	LsmScanState *ss = (LsmScanState *) node->fdw_state;
	LsmAccess  *acc = &ss->acc;
	StringInfoData buf;

	initStringInfo(&buf);
	if (es->verbose)
		lsm_explain_access(&buf, node, acc, es);
	else
		appendStringInfoString(&buf, lsm_access_name(acc->kind));
	if (acc->kind != LSM_ACCESS_FULL && acc->kind != LSM_ACCESS_NONE && !es->verbose)
	{
		/* key columns the access constrains: equalities, plus a bounded one */
		int			ncols = acc->neq;

		if (acc->kind == LSM_ACCESS_MULTI || acc->kind == LSM_ACCESS_MULTI_RANGE ||
			acc->lower || acc->upper || acc->prefix)
			ncols++;
		appendStringInfo(&buf, " on %d key column%s", ncols, ncols == 1 ? "" : "s");
	}
	if (acc->kind == LSM_ACCESS_RANGE && !es->verbose)
	{
		if (acc->prefix)
			appendStringInfoString(&buf, acc->prefix_is_like ? ", LIKE prefix" : ", ^@ prefix");
		if (acc->lower)
			appendStringInfoString(&buf, acc->lower_incl ? ", lower bound >=" : ", lower bound >");
		if (acc->upper)
			appendStringInfoString(&buf, acc->upper_incl ? ", upper bound <=" : ", upper bound <");
	}
	ExplainPropertyText("LSM Access", buf.data, es);
	if (acc->kind == LSM_ACCESS_RANGE || acc->kind == LSM_ACCESS_FULL ||
		acc->kind == LSM_ACCESS_MULTI_RANGE)
		ExplainPropertyText("LSM Key Order", acc->reverse ? "descending" : "ascending", es);
	if (es->analyze && ss->counters != NULL)
	{
		LsmReadCounters *c = ss->counters;

		/*
		 * This node's reads only (gets, and the range iterators it ran, up
		 * to now: the executor has not ended the scan yet).
		 */
		ExplainPropertyUInteger("LSM Engine Gets", NULL, ss->engine_gets, es);
		ExplainPropertyUInteger("LSM Rows From Transaction", NULL, ss->rows_from_txn, es);
		lsm_explain_read_counters(c, es);
	}
}
