/*
 * rowmerge.c
 *		Row increments and summing inserts as engine merge operands, and the
 *		table merge function that folds them into stored rows.
 *
 * Four operand kinds (docs/format.md), told apart by their first byte:
 *
 *	add vector (0xA1 integer deltas only, 0xA2 with numeric deltas)
 *		version, ntyp, typlens, n, then n deltas: varint attribute number
 *		(ascending, at most ntyp) and, for an integer column, 8 bytes
 *		little-endian int64, for a numeric column (typlen -1) a varint
 *		length and the numeric's bytes without their varlena header
 *	sum row (0xA3): an INSERT into an on_duplicate 'sum' table
 *		version, ntyp, typlens, nsum, nsum times (varint attribute number,
 *		varint typmod + 1), then the row as inserted (rowcodec.c)
 *	sequence (0xA4): a transaction's own operands that do not combine
 *		into one of the above
 *		version, count, count times (varint length, operand)
 *
 * ntyp and typlens (typlen + 2 of attributes 1..ntyp, dropped ones
 * included) let a fold locate the values of a stored row without the
 * tuple descriptor: folds run in background workers too.
 *
 * An add vector adds to the stored value (NULL stays NULL, as NULL + n is
 * NULL).  A sum row replaces the row, except that each summed column is
 * the sum of the stored and the inserted value where both are set, and
 * whichever is set otherwise (the aggregate sum() ignores NULLs the same
 * way); over no row it is the row as inserted.  Operands fold in order,
 * oldest first; a run of add vectors is summed exactly (128 bits, or
 * numeric) before it is added to the row, which is the same as adding
 * them one by one.  A result out of the column's range (or a numeric
 * column's precision) fails the fold with LSM_INVALID_ARGUMENT and
 * sys_errno ERANGE (reported as 22003): it never wraps.  Anything else
 * malformed is LSM_CORRUPTION.
 *
 * This file runs inside engine reads and compactions, also in background
 * workers: it never ereports on its own.  Numeric arithmetic uses the
 * non-throwing numeric_add_opt_error in a private memory context reset
 * after each fold (palloc can still fail with out of memory, as anywhere
 * in a backend).
 */
#include "postgres.h"

#include <errno.h>

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "lsm.h"
#include "lsm_coding.h"
#include "lsm_fdw.h"

#define ROW_FORMAT_VERSION	1	/* rowcodec.c */

#define MAXA	LSM_ROW_ADD_MAX_ATTS

/* what the operand headers say about the table */
typedef struct FoldCtx
{
	int			ntyp;
	int			typlen[MAXA + 1];	/* by attribute number */
} FoldCtx;

/* a run of add vectors, summed */
typedef struct AddVec
{
	int			ntyp;
	bool		any;
	bool	   *has;			/* arrays by attribute number, FoldCtx.ntyp + 1 */
	__int128   *delta;
	Numeric    *num;			/* numeric columns */
} AddVec;

/* a row being folded: values located, not copied */
typedef struct RowState
{
	bool		exists;
	int			natts;
	int			nparsed;		/* attributes 1..nparsed located */
	const uint8 *srcbitmap;		/* for the bits of the tail */
	const uint8 *tail;			/* values of nparsed+1..natts, as stored */
	size_t		tail_len;
	bool	   *set;			/* arrays by attribute number, FoldCtx.ntyp + 1 */
	const uint8 **val;
	uint32	   *len;
} RowState;

/* a decoded sum row */
typedef struct SumRow
{
	int			nsum;
	int		   *attnum;			/* FoldCtx.ntyp entries */
	int32	   *typmod;
	LsmSlice	row;
} SumRow;

/* one add vector or sum row, its bytes after the version byte */
typedef struct Comp
{
	uint8		kind;
	const uint8 *p;
	const uint8 *end;
} Comp;

static MemoryContext fold_cxt = NULL;

static void addvec_clear(AddVec *v);

static bool
get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t	r = 0;

	for (int i = 0; i < 10; i++)
	{
		if (*p >= end)
			return false;
		r |= (uint64_t) (**p & 0x7F) << (7 * i);
		if ((*(*p)++ & 0x80) == 0)
		{
			*v = r;
			return true;
		}
	}
	return false;
}

static bool
buf_varint(LsmBuf *b, uint64_t v)
{
	uint8_t		tmp[10];
	int			n = 0;

	while (v >= 0x80)
	{
		tmp[n++] = (uint8_t) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t) v;
	return lsm_buf_append(b, tmp, n);
}

static LsmCode
corrupt(LsmStatus *st, const char *what)
{
	return lsm_status_set(st, LSM_CORRUPTION, 0, "malformed lsm_fdw %s", what);
}

static LsmCode
no_memory(LsmStatus *st)
{
	return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory folding increments");
}

static LsmCode
out_of_range(LsmStatus *st, const FoldCtx *fc, int attnum)
{
	if (fc->typlen[attnum] == -1)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, ERANGE,
							  "attribute %d is out of range of its numeric type after the increments",
							  attnum);
	return lsm_status_set(st, LSM_INVALID_ARGUMENT, ERANGE,
						  "attribute %d is out of range of its %d-byte integer type after the increments",
						  attnum, fc->typlen[attnum]);
}

static bool
is_addvec(uint8 v)
{
	return v == LSM_ROW_ADD_VERSION || v == LSM_ROW_ADDN_VERSION;
}

/* A numeric from its bytes without the varlena header. */
static Numeric
num_from(const uint8 *p, uint32 len)
{
	Numeric		n = palloc(VARHDRSZ + len);

	SET_VARSIZE(n, VARHDRSZ + len);
	memcpy(VARDATA(n), p, len);
	return n;
}

static int64
int_get(const uint8 *p, int len)
{
	if (len == 2)
		return (int16_t) (p[0] | (p[1] << 8));
	if (len == 4)
		return (int32_t) ((uint32_t) p[0] | ((uint32_t) p[1] << 8) |
						  ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24));
	return (int64_t) lsm_get_fixed64(p);
}

/* v in len bytes, little-endian, in the fold context; NULL when out of range */
static const uint8 *
int_put(__int128 v, int len)
{
	__int128	lo = len == 2 ? INT16_MIN : len == 4 ? INT32_MIN : INT64_MIN;
	__int128	hi = len == 2 ? INT16_MAX : len == 4 ? INT32_MAX : INT64_MAX;
	uint8	   *p;

	if (v < lo || v > hi)
		return NULL;
	p = palloc(len);
	for (int b = 0; b < len; b++)
		p[b] = (uint8) ((uint64_t) (int64_t) v >> (8 * b));
	return p;
}

/*
 * num_fits
 *		Whether n fits a numeric(p, s) column of typmod (any when -1).  The
 *		values summed were rounded to the column's scale when inserted, so
 *		their sum needs no rounding: only its integral digits can be too
 *		many.
 */
static bool
num_fits(Numeric n, int32 typmod)
{
	int			precision,
				scale,
				digits = 0;
	char	   *str;
	char	   *p;

	if (typmod < (int32) VARHDRSZ || numeric_is_nan(n))
		return true;
	if (numeric_is_inf(n))
		return false;
	precision = ((typmod - VARHDRSZ) >> 16) & 0xffff;
	scale = (((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
	/* its integral digits, from the text form (no rounding, no exponent) */
	str = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
	p = str + (*str == '-');
	while (*p == '0')
		p++;
	while (*p >= '0' && *p <= '9')
	{
		digits++;
		p++;
	}
	return digits <= precision - scale;
}

/*
 * read_header
 *		The ntyp and typlens of an add vector or sum row; the first
 *		operand naming an attribute gives its typlen.
 */
static bool
read_header(const uint8 **p, const uint8 *end, FoldCtx *fc, uint64 *ntyp)
{
	uint64		x;

	if (!get_varint(p, end, ntyp) || *ntyp > MAXA)
		return false;
	for (uint64 a = 1; a <= *ntyp; a++)
	{
		if (!get_varint(p, end, &x) || x > 32767)
			return false;
		if ((int) a > fc->ntyp)
			fc->typlen[a] = (int) x - 2;
	}
	if ((int) *ntyp > fc->ntyp)
		fc->ntyp = (int) *ntyp;
	return true;
}

/*
 * flatten
 *		The add vectors and sum rows of op, sequences opened, appended to
 *		*comps; each header read into fc.
 */
static LsmCode
flatten(LsmSlice op, FoldCtx *fc, Comp **comps, int *n, int *cap, LsmStatus *st)
{
	const uint8 *p = op.data;
	const uint8 *end = p + op.len;
	uint64		count,
				len,
				ntyp;

	if (op.len < 1)
		return corrupt(st, "merge operand");
	if (*p == LSM_ROW_SEQ_VERSION)
	{
		p++;
		if (!get_varint(&p, end, &count))
			return corrupt(st, "operand sequence");
		for (uint64 i = 0; i < count; i++)
		{
			LsmCode		rc;

			if (!get_varint(&p, end, &len) || len > (uint64) (end - p) ||
				(len > 0 && *p == LSM_ROW_SEQ_VERSION))
				return corrupt(st, "operand sequence");
			rc = flatten(lsm_slice(p, len), fc, comps, n, cap, st);
			if (rc != LSM_OK)
				return rc;
			p += len;
		}
		return p == end ? LSM_OK : corrupt(st, "operand sequence");
	}
	if (!is_addvec(*p) && *p != LSM_ROW_SUM_VERSION)
		return corrupt(st, "merge operand");
	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 16;
		*comps = *comps ? repalloc(*comps, sizeof(Comp) * *cap) : palloc(sizeof(Comp) * *cap);
	}
	(*comps)[*n].kind = *p;
	(*comps)[*n].p = p + 1;
	(*comps)[*n].end = end;
	p++;
	if (!read_header(&p, end, fc, &ntyp))
		return corrupt(st, "merge operand");
	(*n)++;
	return LSM_OK;
}

/* Add the deltas of one add vector to v. */
static LsmCode
addvec_accumulate(const FoldCtx *fc, AddVec *v, const Comp *c, LsmStatus *st)
{
	const uint8 *p = c->p;
	const uint8 *end = c->end;
	uint64		ntyp,
				n,
				x,
				len;
	FoldCtx		dummy;

	dummy.ntyp = MAXA;			/* the header was read by flatten */
	if (!read_header(&p, end, &dummy, &ntyp) || !get_varint(&p, end, &n))
		return corrupt(st, "add vector");
	if ((int) ntyp > v->ntyp)
		v->ntyp = (int) ntyp;
	for (uint64 i = 0; i < n; i++)
	{
		if (!get_varint(&p, end, &x) || x < 1 || x > ntyp)
			return corrupt(st, "add vector");
		if (fc->typlen[x] == -1)
		{
			Numeric		d;
			bool		err = false;

			if (c->kind != LSM_ROW_ADDN_VERSION ||
				!get_varint(&p, end, &len) || len > (uint64) (end - p) || len < 2)
				return corrupt(st, "add vector");
			d = num_from(p, (uint32) len);
			p += len;
			v->num[x] = v->has[x] ? numeric_add_opt_error(v->num[x], d, &err) : d;
			if (err)
				return out_of_range(st, fc, (int) x);
		}
		else
		{
			if (end - p < 8 || (fc->typlen[x] != 2 && fc->typlen[x] != 4 && fc->typlen[x] != 8))
				return corrupt(st, "add vector");
			v->delta[x] += (int64_t) lsm_get_fixed64(p);
			p += 8;
		}
		v->has[x] = true;
		v->any = true;
	}
	return p == end ? LSM_OK : corrupt(st, "add vector");
}

static LsmCode
sumrow_decode(const Comp *c, SumRow *s, LsmStatus *st)
{
	const uint8 *p = c->p;
	const uint8 *end = c->end;
	uint64		ntyp,
				n,
				x,
				tm;
	FoldCtx		dummy;

	dummy.ntyp = MAXA;
	if (!read_header(&p, end, &dummy, &ntyp) || !get_varint(&p, end, &n) || n > ntyp)
		return corrupt(st, "sum row");
	s->nsum = (int) n;
	for (uint64 i = 0; i < n; i++)
	{
		if (!get_varint(&p, end, &x) || x < 1 || x > ntyp || !get_varint(&p, end, &tm) ||
			tm > PG_INT32_MAX)
			return corrupt(st, "sum row");
		s->attnum[i] = (int) x;
		s->typmod[i] = (int32) tm - 1;
	}
	s->row = lsm_slice(p, end - p);
	return LSM_OK;
}

/* Locate the values of a stored row, as far as the typlens are known. */
static LsmCode
row_parse(const FoldCtx *fc, LsmSlice row, RowState *rs, LsmStatus *st)
{
	const uint8 *p = row.data;
	const uint8 *end = p + row.len;
	uint64		natts,
				vlen;

	if (p >= end || *p++ != ROW_FORMAT_VERSION || !get_varint(&p, end, &natts) ||
		natts > MAXA || (uint64) (end - p) < (natts + 7) / 8)
		return corrupt(st, "row under an increment");
	rs->exists = true;
	rs->natts = (int) natts;
	rs->nparsed = Min(rs->natts, fc->ntyp);
	rs->srcbitmap = p;
	p += (natts + 7) / 8;
	for (int a = 1; a <= rs->nparsed; a++)
	{
		int			len = fc->typlen[a];

		rs->set[a] = (rs->srcbitmap[(a - 1) / 8] & (1 << ((a - 1) % 8))) != 0;
		if (!rs->set[a])
			continue;
		if (len > 0)
			vlen = (uint64) len;
		else if (!get_varint(&p, end, &vlen))
			return corrupt(st, "row under an increment");
		if (vlen > (uint64) (end - p))
			return corrupt(st, "row under an increment");
		rs->val[a] = p;
		rs->len[a] = (uint32) vlen;
		p += vlen;
	}
	rs->tail = p;
	rs->tail_len = end - p;
	return LSM_OK;
}

/*
 * add_values
 *		x + y of attribute a into *res and *reslen, for an integer or numeric
 *		column; false when out of range.
 */
static bool
add_values(const FoldCtx *fc, int a, int32 typmod, const uint8 *x, uint32 xlen,
		   __int128 di, Numeric dn, const uint8 **res, uint32 *reslen)
{
	int			len = fc->typlen[a];

	if (len == -1)
	{
		bool		err = false;
		Numeric		sum = numeric_add_opt_error(num_from(x, xlen), dn, &err);

		if (err || !num_fits(sum, typmod))
			return false;
		*res = (const uint8 *) VARDATA(sum);
		*reslen = VARSIZE(sum) - VARHDRSZ;
		return true;
	}
	*res = int_put((__int128) int_get(x, len) + di, len);
	*reslen = len;
	return *res != NULL;
}

/* The summed deltas of v added to the row. */
static LsmCode
apply_add(const FoldCtx *fc, RowState *rs, AddVec *v, LsmStatus *st)
{
	if (!rs->exists)
	{
		/* never the case for increments, which check that the row exists */
		static const uint8 zeros[8] = {0};

		rs->exists = true;
		rs->natts = rs->nparsed = v->ntyp;
		rs->tail_len = 0;
		rs->srcbitmap = NULL;
		for (int a = 1; a <= v->ntyp; a++)
		{
			rs->set[a] = v->has[a];
			if (!v->has[a])
				continue;
			if (fc->typlen[a] == -1)
			{
				Numeric		z = int64_to_numeric(0);

				rs->val[a] = (const uint8 *) VARDATA(z);
				rs->len[a] = VARSIZE(z) - VARHDRSZ;
			}
			else
			{
				rs->val[a] = zeros;
				rs->len[a] = fc->typlen[a];
			}
		}
	}
	for (int a = 1; a <= v->ntyp && a <= rs->nparsed; a++)
	{
		if (!v->has[a] || !rs->set[a])
			continue;			/* NULL, key or dropped: nothing stored */
		if (fc->typlen[a] != -1 && fc->typlen[a] != 2 && fc->typlen[a] != 4 &&
			fc->typlen[a] != 8)
			return corrupt(st, "add vector (not an integer column)");
		if (!add_values(fc, a, -1, rs->val[a], rs->len[a], v->delta[a], v->num[a],
						&rs->val[a], &rs->len[a]))
			return out_of_range(st, fc, a);
	}
	addvec_clear(v);
	return LSM_OK;
}

/* The sum row s over the row (or over no row). */
static LsmCode
apply_sum(const FoldCtx *fc, RowState *rs, const SumRow *s, RowState *tmp, LsmStatus *st)
{
	LsmCode		rc = row_parse(fc, s->row, tmp, st);

	if (rc != LSM_OK)
		return rc;
	if (tmp->nparsed != tmp->natts)
		return corrupt(st, "sum row");
	for (int i = 0; i < s->nsum; i++)
	{
		int			a = s->attnum[i];
		bool		old_set = rs->exists && a <= rs->nparsed && rs->set[a];

		if (a > tmp->natts || !old_set)
			continue;
		if (!tmp->set[a])
		{
			tmp->set[a] = true;
			tmp->val[a] = rs->val[a];
			tmp->len[a] = rs->len[a];
		}
		else
		{
			int			len = fc->typlen[a];
			__int128	di = 0;
			Numeric		dn = NULL;

			if (len == -1)
				dn = num_from(tmp->val[a], tmp->len[a]);
			else if (len == 2 || len == 4 || len == 8)
				di = int_get(tmp->val[a], len);
			else
				return corrupt(st, "sum row (not a numeric column)");
			if (!add_values(fc, a, s->typmod[i], rs->val[a], rs->len[a], di, dn,
							&tmp->val[a], &tmp->len[a]))
				return out_of_range(st, fc, a);
		}
	}
	memcpy(rs, tmp, offsetof(RowState, set));
	memcpy(rs->set, tmp->set, sizeof(bool) * (tmp->natts + 1));
	memcpy(rs->val, tmp->val, sizeof(uint8 *) * (tmp->natts + 1));
	memcpy(rs->len, tmp->len, sizeof(uint32) * (tmp->natts + 1));
	return LSM_OK;
}

/* The row in the row format (rowcodec.c), into out. */
static bool
row_serialize(const FoldCtx *fc, const RowState *rs, LsmBuf *out)
{
	uint8		bitmap[(MAXA + 7) / 8];
	int			nb = (rs->natts + 7) / 8;
	uint8		version = ROW_FORMAT_VERSION;

	memset(bitmap, 0, nb);
	for (int a = 1; a <= rs->natts; a++)
	{
		bool		set = a <= rs->nparsed ? rs->set[a] :
			(rs->srcbitmap[(a - 1) / 8] & (1 << ((a - 1) % 8))) != 0;

		if (set)
			bitmap[(a - 1) / 8] |= 1 << ((a - 1) % 8);
	}
	lsm_buf_reset(out);
	if (!lsm_buf_append(out, &version, 1) || !buf_varint(out, (uint64) rs->natts) ||
		!lsm_buf_append(out, bitmap, nb))
		return false;
	for (int a = 1; a <= rs->nparsed; a++)
	{
		if (!rs->set[a])
			continue;
		if (fc->typlen[a] <= 0 && !buf_varint(out, rs->len[a]))
			return false;
		if (!lsm_buf_append(out, rs->val[a], rs->len[a]))
			return false;
	}
	return lsm_buf_append(out, rs->tail, rs->tail_len);
}

static void
fold_begin(MemoryContext *old)
{
	if (fold_cxt == NULL)
		fold_cxt = AllocSetContextCreate(TopMemoryContext, "lsm_fdw row merge",
										 ALLOCSET_DEFAULT_SIZES);
	*old = MemoryContextSwitchTo(fold_cxt);
}

static void
fold_end(MemoryContext old)
{
	MemoryContextSwitchTo(old);
	MemoryContextReset(fold_cxt);
}

/*
 * Fold state sized for the attributes the operands describe (allocated in
 * the fold context, after flatten has read every header).
 */
static AddVec *
addvec_new(const FoldCtx *fc)
{
	AddVec	   *v = palloc0(sizeof(AddVec));

	v->has = palloc0(sizeof(bool) * (fc->ntyp + 1));
	v->delta = palloc0(sizeof(__int128) * (fc->ntyp + 1));
	v->num = palloc0(sizeof(Numeric) * (fc->ntyp + 1));
	return v;
}

static void
addvec_clear(AddVec *v)
{
	memset(v->has, 0, sizeof(bool) * (v->ntyp + 1));
	memset(v->delta, 0, sizeof(__int128) * (v->ntyp + 1));
	v->ntyp = 0;
	v->any = false;
}

static RowState *
rowstate_new(const FoldCtx *fc)
{
	RowState   *rs = palloc0(sizeof(RowState));

	rs->set = palloc0(sizeof(bool) * (fc->ntyp + 1));
	rs->val = palloc0(sizeof(uint8 *) * (fc->ntyp + 1));
	rs->len = palloc0(sizeof(uint32) * (fc->ntyp + 1));
	return rs;
}

static SumRow *
sumrow_new(const FoldCtx *fc)
{
	SumRow	   *s = palloc0(sizeof(SumRow));

	s->attnum = palloc(sizeof(int) * (fc->ntyp + 1));
	s->typmod = palloc(sizeof(int32) * (fc->ntyp + 1));
	return s;
}

static void
sumrow_copy(SumRow *dst, const SumRow *src)
{
	dst->nsum = src->nsum;
	memcpy(dst->attnum, src->attnum, sizeof(int) * src->nsum);
	memcpy(dst->typmod, src->typmod, sizeof(int32) * src->nsum);
	dst->row = src->row;
}

/*
 * lsm_row_merge
 *		The merge function of every lsm_fdw table (LsmMergeFn): the
 *		operands, oldest first, folded over base (NULL when absent).
 */
LsmCode
lsm_row_merge(void *arg, LsmSlice key, const LsmSlice *base,
			  const LsmSlice *operands, int n_operands, LsmBuf *out, LsmStatus *st)
{
	MemoryContext old;
	FoldCtx    *fc;
	AddVec	   *v;
	RowState   *rs;
	RowState   *tmp;
	SumRow	   *s;
	Comp	   *comps = NULL;
	int			ncomps = 0;
	int			cap = 0;
	LsmCode		rc = LSM_OK;

	fold_begin(&old);
	fc = palloc0(sizeof(FoldCtx));
	for (int i = 0; i < n_operands && rc == LSM_OK; i++)
		rc = flatten(operands[i], fc, &comps, &ncomps, &cap, st);
	v = addvec_new(fc);
	rs = rowstate_new(fc);
	tmp = rowstate_new(fc);
	s = sumrow_new(fc);
	if (rc == LSM_OK && base != NULL)
		rc = row_parse(fc, *base, rs, st);
	for (int i = 0; i < ncomps && rc == LSM_OK; i++)
	{
		if (is_addvec(comps[i].kind))
			rc = addvec_accumulate(fc, v, &comps[i], st);
		else
		{
			if (v->any)
				rc = apply_add(fc, rs, v, st);
			if (rc == LSM_OK)
				rc = sumrow_decode(&comps[i], s, st);
			if (rc == LSM_OK)
				rc = apply_sum(fc, rs, s, tmp, st);
		}
	}
	if (rc == LSM_OK && v->any)
		rc = apply_add(fc, rs, v, st);
	if (rc == LSM_OK && !row_serialize(fc, rs, out))
		rc = no_memory(st);
	fold_end(old);
	return rc;
}

/* Append the add vector v (ntyp attributes described) to out. */
static LsmCode
addvec_encode(const FoldCtx *fc, const AddVec *v, LsmBuf *out, LsmStatus *st)
{
	uint8		version = LSM_ROW_ADD_VERSION;
	int			n = 0;
	bool		ok;

	for (int a = 1; a <= v->ntyp; a++)
	{
		if (!v->has[a])
			continue;
		n++;
		if (fc->typlen[a] == -1)
			version = LSM_ROW_ADDN_VERSION;
		else if (v->delta[a] > INT64_MAX || v->delta[a] < INT64_MIN)
			return lsm_status_set(st, LSM_INVALID_ARGUMENT, ERANGE,
								  "the sum of the increments of attribute %d is out of range", a);
	}
	ok = lsm_buf_append(out, &version, 1) && buf_varint(out, (uint64) v->ntyp);
	for (int a = 1; ok && a <= v->ntyp; a++)
		ok = buf_varint(out, (uint64) (fc->typlen[a] + 2));
	ok = ok && buf_varint(out, (uint64) n);
	for (int a = 1; ok && a <= v->ntyp; a++)
	{
		if (!v->has[a])
			continue;
		ok = buf_varint(out, (uint64) a);
		if (ok && fc->typlen[a] == -1)
			ok = buf_varint(out, VARSIZE(v->num[a]) - VARHDRSZ) &&
				lsm_buf_append(out, VARDATA(v->num[a]), VARSIZE(v->num[a]) - VARHDRSZ);
		else if (ok)
		{
			uint8		d[8];

			lsm_put_fixed64(d, (uint64_t) (int64_t) v->delta[a]);
			ok = lsm_buf_append(out, d, 8);
		}
	}
	return ok ? LSM_OK : no_memory(st);
}

/* Append the sum row of rs and s's summed attributes to out. */
static LsmCode
sumrow_encode(const FoldCtx *fc, const RowState *rs, const SumRow *s, LsmBuf *out,
			  LsmStatus *st)
{
	uint8		version = LSM_ROW_SUM_VERSION;
	LsmBuf		row = LSM_BUF_INIT;
	bool		ok;

	ok = lsm_buf_append(out, &version, 1) && buf_varint(out, (uint64) rs->natts);
	for (int a = 1; ok && a <= rs->natts; a++)
		ok = buf_varint(out, (uint64) (fc->typlen[a] + 2));
	ok = ok && buf_varint(out, (uint64) s->nsum);
	for (int i = 0; ok && i < s->nsum; i++)
		ok = buf_varint(out, (uint64) s->attnum[i]) &&
			buf_varint(out, (uint64) ((int64) s->typmod[i] + 1));
	ok = ok && row_serialize(fc, rs, &row) &&
		lsm_buf_append(out, lsm_buf_slice(&row).data, lsm_buf_slice(&row).len);
	lsm_buf_free(&row);
	return ok ? LSM_OK : no_memory(st);
}

/*
 * addvec_folds_into
 *		Whether the add vector v applied after the sum row (rs, s) is the
 *		same as a sum row with v added to its values: true unless v adds to
 *		a summed column the sum row leaves NULL (over a stored value that
 *		adds; over a stored NULL it does not).
 */
static bool
addvec_folds_into(const AddVec *v, const RowState *rs, const SumRow *s)
{
	for (int i = 0; i < s->nsum; i++)
	{
		int			a = s->attnum[i];

		if (a <= v->ntyp && v->has[a] && (a > rs->natts || !rs->set[a]))
			return false;
	}
	return true;
}

/* Encode the add vector v, else the sum row (rs, s), as one part more. */
static LsmCode
emit_part(const FoldCtx *fc, const AddVec *v, const RowState *rs, const SumRow *s,
		  LsmBuf *one, LsmBuf *parts, int *nparts, LsmStatus *st)
{
	LsmCode		rc;

	lsm_buf_reset(one);
	rc = v != NULL ? addvec_encode(fc, v, one, st) : sumrow_encode(fc, rs, s, one, st);
	if (rc == LSM_OK &&
		(!buf_varint(parts, lsm_buf_slice(one).len) ||
		 !lsm_buf_append(parts, lsm_buf_slice(one).data, lsm_buf_slice(one).len)))
		rc = no_memory(st);
	(*nparts)++;
	return rc;
}

/*
 * lsm_row_add_combine
 *		One operand equal to applying a then b (a transaction's own writes
 *		of one key): add vectors sum (beyond int64 is LSM_INVALID_ARGUMENT
 *		with ERANGE), sum rows fold into each other, an add vector into the
 *		sum row before it where that is exact; what remains is a sequence.
 */
LsmCode
lsm_row_add_combine(LsmSlice a, LsmSlice b, LsmBuf *out, LsmStatus *st)
{
	MemoryContext old;
	FoldCtx    *fc;
	AddVec	   *v;
	RowState   *rs;
	RowState   *tmp;
	SumRow	   *s;
	SumRow	   *s2;
	Comp	   *comps = NULL;
	int			ncomps = 0;
	int			cap = 0;
	int			nparts = 0;
	bool		have_sum = false;
	LsmBuf		parts = LSM_BUF_INIT;	/* (length, operand) of each */
	LsmBuf		one = LSM_BUF_INIT;
	LsmCode		rc;

	fold_begin(&old);
	fc = palloc0(sizeof(FoldCtx));
	rc = flatten(a, fc, &comps, &ncomps, &cap, st);
	if (rc == LSM_OK)
		rc = flatten(b, fc, &comps, &ncomps, &cap, st);
	v = addvec_new(fc);
	rs = rowstate_new(fc);
	tmp = rowstate_new(fc);
	s = sumrow_new(fc);
	s2 = sumrow_new(fc);

	/* pending: v (when v->any) or the sum row (rs, s) (when have_sum) */
	for (int i = 0; i < ncomps && rc == LSM_OK; i++)
	{
		if (is_addvec(comps[i].kind))
		{
			if (have_sum)
			{
				AddVec	   *w = addvec_new(fc);

				rc = addvec_accumulate(fc, w, &comps[i], st);
				if (rc == LSM_OK && addvec_folds_into(w, rs, s))
				{
					/* a NULL it leaves stays NULL: only set values change */
					rc = apply_add(fc, rs, w, st);
					continue;
				}
				if (rc == LSM_OK)
					rc = emit_part(fc, NULL, rs, s, &one, &parts, &nparts, st);
				have_sum = false;
			}
			if (rc == LSM_OK)
				rc = addvec_accumulate(fc, v, &comps[i], st);
			continue;
		}
		rc = sumrow_decode(&comps[i], s2, st);
		if (rc == LSM_OK && !have_sum)
		{
			if (v->any)
			{
				rc = emit_part(fc, v, NULL, NULL, &one, &parts, &nparts, st);
				addvec_clear(v);
			}
			memset(rs, 0, offsetof(RowState, set));
			sumrow_copy(s, s2);
			have_sum = true;
		}
		else if (rc == LSM_OK && s2->nsum > s->nsum)
			sumrow_copy(s, s2);
		/* a sum row after a sum row: one sum row, as sum() is associative */
		if (rc == LSM_OK)
			rc = apply_sum(fc, rs, s2, tmp, st);
	}
	if (rc == LSM_OK && (v->any || have_sum))
		rc = emit_part(fc, v->any ? v : NULL, rs, s, &one, &parts, &nparts, st);
	if (rc == LSM_OK)
	{
		uint8		version = LSM_ROW_SEQ_VERSION;

		lsm_buf_reset(out);
		if (nparts == 1 &&
			!lsm_buf_append(out, lsm_buf_slice(&one).data, lsm_buf_slice(&one).len))
			rc = no_memory(st);
		else if (nparts != 1 &&
				 (!lsm_buf_append(out, &version, 1) || !buf_varint(out, (uint64) nparts) ||
				  !lsm_buf_append(out, lsm_buf_slice(&parts).data, lsm_buf_slice(&parts).len)))
			rc = no_memory(st);
	}
	lsm_buf_free(&parts);
	lsm_buf_free(&one);
	fold_end(old);
	return rc;
}

/*
 * lsm_row_op_creates
 *		Whether the operand folded over no row makes one: it holds a sum
 *		row.  The transaction's readers ask, where the committed row is
 *		absent.
 */
bool
lsm_row_op_creates(LsmSlice op)
{
	const uint8 *p = op.data;
	const uint8 *end = p + op.len;
	uint64		count,
				len;

	if (op.len < 1)
		return false;
	if (*p == LSM_ROW_SUM_VERSION)
		return true;
	if (*p++ != LSM_ROW_SEQ_VERSION || !get_varint(&p, end, &count))
		return false;
	for (uint64 i = 0; i < count; i++)
	{
		if (!get_varint(&p, end, &len) || len > (uint64) (end - p))
			return false;
		if (len > 0 && *p == LSM_ROW_SUM_VERSION)
			return true;
		p += len;
	}
	return false;
}

/*
 * lsm_row_add_encode
 *		An add vector of n deltas (attnums ascending) for a table whose
 *		attributes 1..ntyp have the given typlens, into out: an int64 for
 *		an integer column, a Numeric for a numeric one (typlen -1).
 */
bool
lsm_row_add_encode(LsmBuf *out, int ntyp, const int *typlens, int n,
				   const int *attnums, const Datum *deltas)
{
	FoldCtx    *fc = palloc0(sizeof(FoldCtx));
	AddVec	   *v;
	LsmStatus	st;
	bool		ok;

	fc->ntyp = ntyp;
	v = addvec_new(fc);
	v->ntyp = ntyp;
	for (int a = 1; a <= ntyp; a++)
		fc->typlen[a] = typlens[a - 1];
	for (int i = 0; i < n; i++)
	{
		int			a = attnums[i];

		v->has[a] = true;
		if (fc->typlen[a] == -1)
			v->num[a] = DatumGetNumeric(deltas[i]);
		else
			v->delta[a] = DatumGetInt64(deltas[i]);
	}
	lsm_status_clear(&st);
	lsm_buf_reset(out);
	ok = addvec_encode(fc, v, out, &st) == LSM_OK;
	pfree(fc);
	return ok;
}

/*
 * lsm_row_sum_encode
 *		The sum row of an INSERT: row (rowcodec.c) of a table whose
 *		attributes 1..ntyp have the given typlens, the nsum columns attnums
 *		(with their typmods) summed.
 */
bool
lsm_row_sum_encode(LsmBuf *out, int ntyp, const int *typlens, int nsum,
				   const int *attnums, const int32 *typmods, LsmSlice row)
{
	uint8		version = LSM_ROW_SUM_VERSION;
	bool		ok;

	lsm_buf_reset(out);
	ok = lsm_buf_append(out, &version, 1) && buf_varint(out, (uint64) ntyp);
	for (int a = 1; ok && a <= ntyp; a++)
		ok = buf_varint(out, (uint64) (typlens[a - 1] + 2));
	ok = ok && buf_varint(out, (uint64) nsum);
	for (int i = 0; ok && i < nsum; i++)
		ok = buf_varint(out, (uint64) attnums[i]) &&
			buf_varint(out, (uint64) ((int64) typmods[i] + 1));
	return ok && lsm_buf_append(out, row.data, row.len);
}

/*
 * lsm_apply_increment
 *		For backends: base (NULL when absent) with the operand folded in,
 *		into out; ERROR 22003 when a column leaves its range.
 */
void
lsm_apply_increment(const LsmSlice *base, LsmSlice operand, LsmBuf *out)
{
	LsmStatus	st;

	lsm_status_clear(&st);
	if (lsm_row_merge(NULL, lsm_slice(NULL, 0), base, &operand, 1, out, &st) != LSM_OK)
		lsm_report(ERROR, &st, "apply an increment");
}
