/*
 * rowmerge.c
 *		Row increments as engine merge operands ("add vectors") and the
 *		table merge function that folds them into stored rows.
 *
 * An add vector (docs/format.md) is
 *
 *	version		one byte, ROW_ADD_VERSION (never a row format version)
 *	ntyp		varint: how many attributes are described, 1..ntyp
 *	typlens		ntyp varints, typlen + 2 of each attribute (dropped ones
 *				included), so that a fold can skip the stored values in
 *				front of a counted column without the tuple descriptor:
 *				the fold runs in background workers too
 *	n			varint: number of deltas
 *	deltas		n times: varint attribute number (ascending, at most ntyp),
 *				8 bytes little-endian int64 delta
 *
 * Only integer columns (typlen 2, 4, 8, by value) are counted.  A fold
 * sums the deltas of all operands in 128 bits, then adds them to the base
 * row in place: the row's size and layout do not change, NULL stays NULL
 * (as NULL + n is NULL), and a column the stored row does not have (added
 * later) is NULL.  A sum out of the column's range fails the fold with
 * LSM_INVALID_ARGUMENT and sys_errno ERANGE (reported as 22003): it never
 * wraps.  Anything else malformed is LSM_CORRUPTION.
 *
 * This file runs inside engine reads and compactions: it never ereports
 * and allocates only through LsmBuf.
 */
#include "postgres.h"

#include <errno.h>

#include "lsm.h"
#include "lsm_coding.h"
#include "lsm_fdw.h"

#define ROW_FORMAT_VERSION	1	/* rowcodec.c */

typedef struct AddVec
{
	int			ntyp;
	int			typlen[LSM_ROW_ADD_MAX_ATTS + 1];	/* by attribute number */
	__int128	delta[LSM_ROW_ADD_MAX_ATTS + 1];
	bool		has[LSM_ROW_ADD_MAX_ATTS + 1];
} AddVec;

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

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80)
	{
		*p++ = (uint8_t) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t) v;
	return p;
}

static LsmCode
corrupt(LsmStatus *st, const char *what)
{
	return lsm_status_set(st, LSM_CORRUPTION, 0, "malformed lsm_fdw %s", what);
}

/* Add the deltas of one operand to v. */
static LsmCode
addvec_accumulate(AddVec *v, LsmSlice op, LsmStatus *st)
{
	const uint8_t *p = (const uint8_t *) op.data;
	const uint8_t *end = p + op.len;
	uint64_t	ntyp,
				n,
				x;

	if (op.len < 1 || *p++ != LSM_ROW_ADD_VERSION ||
		!get_varint(&p, end, &ntyp) || ntyp > LSM_ROW_ADD_MAX_ATTS)
		return corrupt(st, "add vector");
	for (uint64_t a = 1; a <= ntyp; a++)
	{
		if (!get_varint(&p, end, &x))
			return corrupt(st, "add vector");
		if ((int) a > v->ntyp)
			v->typlen[a] = (int) x - 2;
	}
	if ((int) ntyp > v->ntyp)
		v->ntyp = (int) ntyp;
	if (!get_varint(&p, end, &n))
		return corrupt(st, "add vector");
	for (uint64_t i = 0; i < n; i++)
	{
		if (!get_varint(&p, end, &x) || x < 1 || x > ntyp || end - p < 8)
			return corrupt(st, "add vector");
		v->delta[x] += (int64_t) lsm_get_fixed64(p);
		v->has[x] = true;
		p += 8;
	}
	return p == end ? LSM_OK : corrupt(st, "add vector");
}

/*
 * lsm_row_add_encode
 *		An add vector of n deltas (attnums ascending) for a table whose
 *		attributes 1..ntyp have the given typlens.  out needs
 *		LSM_ROW_ADD_MAX_BYTES.
 */
size_t
lsm_row_add_encode(uint8_t *out, int ntyp, const int *typlens, int n,
				   const int *attnums, const int64_t *deltas)
{
	uint8_t    *p = out;

	*p++ = LSM_ROW_ADD_VERSION;
	p = put_varint(p, (uint64_t) ntyp);
	for (int a = 1; a <= ntyp; a++)
		p = put_varint(p, (uint64_t) (typlens[a - 1] + 2));
	p = put_varint(p, (uint64_t) n);
	for (int i = 0; i < n; i++)
	{
		p = put_varint(p, (uint64_t) attnums[i]);
		lsm_put_fixed64(p, (uint64_t) deltas[i]);
		p += 8;
	}
	return (size_t) (p - out);
}

/*
 * lsm_row_add_combine
 *		One add vector equal to applying a then b; a sum beyond int64 is
 *		LSM_INVALID_ARGUMENT with ERANGE.
 */
LsmCode
lsm_row_add_combine(LsmSlice a, LsmSlice b, LsmBuf *out, LsmStatus *st)
{
	AddVec	   *v = calloc(1, sizeof(AddVec));
	int			attnums[LSM_ROW_ADD_MAX_ATTS];
	int64_t		deltas[LSM_ROW_ADD_MAX_ATTS];
	int			n = 0;
	uint8_t		enc[LSM_ROW_ADD_MAX_BYTES];
	LsmCode		rc;

	if (v == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory combining increments");
	rc = addvec_accumulate(v, a, st);
	if (rc == LSM_OK)
		rc = addvec_accumulate(v, b, st);
	for (int i = 1; rc == LSM_OK && i <= v->ntyp; i++)
	{
		if (!v->has[i])
			continue;
		if (v->delta[i] > INT64_MAX || v->delta[i] < INT64_MIN)
			rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, ERANGE,
								"the sum of the increments of attribute %d is out of range", i);
		attnums[n] = i;
		deltas[n++] = (int64_t) v->delta[i];
	}
	if (rc == LSM_OK)
	{
		size_t		len = lsm_row_add_encode(enc, v->ntyp, v->typlen + 1, n, attnums, deltas);

		if (!lsm_buf_set(out, enc, len))
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory combining increments");
	}
	free(v);
	return rc;
}

/*
 * lsm_row_merge
 *		The merge function of every lsm_fdw table (LsmMergeFn).  Without a
 *		base row (never the case for increments, which check that the row
 *		exists under their key lock) the counted columns start from 0 and
 *		the others are NULL.
 */
LsmCode
lsm_row_merge(void *arg, LsmSlice key, const LsmSlice *base,
			  const LsmSlice *operands, int n_operands, LsmBuf *out, LsmStatus *st)
{
	AddVec	   *v = calloc(1, sizeof(AddVec));
	LsmCode		rc = LSM_OK;
	uint8_t    *row;
	uint8_t    *p;
	uint8_t    *end;
	uint64_t	natts;
	uint8_t    *bitmap;

	if (v == NULL)
		return lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory folding increments");
	for (int i = 0; i < n_operands && rc == LSM_OK; i++)
		rc = addvec_accumulate(v, operands[i], st);
	if (rc != LSM_OK)
		goto done;

	if (base == NULL)
	{
		/* a row of the counted columns only */
		uint8_t		enc[16 + LSM_ROW_ADD_MAX_ATTS / 8 + LSM_ROW_ADD_MAX_ATTS * 8];

		p = enc;
		*p++ = ROW_FORMAT_VERSION;
		p = put_varint(p, (uint64_t) v->ntyp);
		bitmap = p;
		memset(bitmap, 0, (v->ntyp + 7) / 8);
		p += (v->ntyp + 7) / 8;
		for (int a = 1; a <= v->ntyp; a++)
		{
			if (!v->has[a])
				continue;
			bitmap[(a - 1) / 8] |= 1 << ((a - 1) % 8);
			memset(p, 0, v->typlen[a]);
			p += v->typlen[a];
		}
		if (!lsm_buf_set(out, enc, p - enc))
			rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory folding increments");
	}
	else if (!lsm_buf_set(out, base->data, base->len))
		rc = lsm_status_set(st, LSM_NO_MEMORY, 0, "out of memory folding increments");
	if (rc != LSM_OK)
		goto done;

	/* add in place */
	row = out->data;
	p = row;
	end = row + out->len;
	if (p >= end || *p++ != ROW_FORMAT_VERSION || !get_varint((const uint8_t **) &p, end, &natts) ||
		(uint64_t) (end - p) < (natts + 7) / 8)
	{
		rc = corrupt(st, "row under an increment");
		goto done;
	}
	bitmap = p;
	p += (natts + 7) / 8;
	for (int a = 1; a <= v->ntyp && (uint64_t) a <= natts; a++)
	{
		int			len = v->typlen[a];
		uint64_t	vlen;
		__int128	sum;
		int64_t		lo,
					hi;

		if ((bitmap[(a - 1) / 8] & (1 << ((a - 1) % 8))) == 0)
			continue;			/* NULL, key or dropped: nothing stored */
		if (len > 0)
			vlen = (uint64_t) len;
		else if (!get_varint((const uint8_t **) &p, end, &vlen))
		{
			rc = corrupt(st, "row under an increment");
			goto done;
		}
		if (vlen > (uint64_t) (end - p))
		{
			rc = corrupt(st, "row under an increment");
			goto done;
		}
		if (v->has[a])
		{
			if (len == 2)
			{
				sum = (int16_t) (p[0] | (p[1] << 8));
				lo = INT16_MIN;
				hi = INT16_MAX;
			}
			else if (len == 4)
			{
				sum = (int32_t) ((uint32_t) p[0] | ((uint32_t) p[1] << 8) |
								 ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24));
				lo = INT32_MIN;
				hi = INT32_MAX;
			}
			else if (len == 8)
			{
				sum = (int64_t) lsm_get_fixed64(p);
				lo = INT64_MIN;
				hi = INT64_MAX;
			}
			else
			{
				rc = corrupt(st, "add vector (not an integer column)");
				goto done;
			}
			sum += v->delta[a];
			if (sum < lo || sum > hi)
			{
				rc = lsm_status_set(st, LSM_INVALID_ARGUMENT, ERANGE,
									"attribute %d is out of range of its %d-byte integer type after the increments",
									a, len);
				goto done;
			}
			for (int b = 0; b < len; b++)
				p[b] = (uint8_t) ((uint64_t) (int64_t) sum >> (8 * b));
		}
		p += vlen;
	}
done:
	free(v);
	return rc;
}

/*
 * lsm_apply_increment
 *		For backends: base (NULL when absent) with the add vector operand
 *		folded in, into out; ERROR 22003 when a column leaves its range.
 */
void
lsm_apply_increment(const LsmSlice *base, LsmSlice operand, LsmBuf *out)
{
	LsmStatus	st;

	lsm_status_clear(&st);
	if (lsm_row_merge(NULL, lsm_slice(NULL, 0), base, &operand, 1, out, &st) != LSM_OK)
		lsm_report(ERROR, &st, "apply an increment");
}
