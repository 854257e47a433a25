/*
 * keycodec.c
 *		Memcomparable encodings of key column values.
 *
 * The engine orders keys with memcmp, so every encoding here is chosen so
 * that the bytewise order of two encodings equals the SQL order of the two
 * values (text under the C collation), and equal values encode to equal
 * bytes.  Every encoding is also self-delimiting (fixed width, or escaped
 * and terminated), so a composite key is just the concatenation of its
 * columns' encodings and sorts like the row comparison (a, b) < (c, d).
 *
 *	int2, int4, int8, date, timestamp, timestamptz: two's complement with the
 *		sign bit flipped, big-endian (2, 4, 4, 8, 8, 8 bytes).
 *	bool: one byte, 0x00 or 0x01.
 *	float4, float8: IEEE bits, big-endian, after normalising -0 to +0 and
 *		every NaN to the canonical quiet NaN; positive values get the sign
 *		bit set, negative ones all bits flipped.  NaN sorts above +Infinity
 *		and equals itself, as in Postgres.
 *	uuid: the 16 bytes as stored (uuid compares with memcmp).
 *	text, varchar, bytea: the bytes, each 0x00 written as 0x00 0xFF, then
 *		the terminator 0x00 0x01; a value sorts before its extensions.
 *	text, varchar under a collation whose order is not byte order (key
 *		format 2, see collkey.c): the collation's sort key (never 0x00),
 *		0x00, then the bytes as above.  Order: the collation's, ties broken
 *		bytewise, as varstr_cmp does; the value decodes from its bytes.
 *	numeric: the canonical text of numeric_normalize() (so 1.0 and 1.00
 *		encode alike), escaped and terminated like text.  It gives equality
 *		only: ranges over numeric keys are not pushed down.
 *
 * Domains encode like their base type.  docs/format.md lists the same
 * table; the two must agree.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "codec.h"

/* Escapes of variable-length encodings. */
#define KEY_ESCAPE			0x00	/* followed by one of: */
#define KEY_ESCAPED_ZERO	0xFF	/* a 0x00 byte of the value */
#define KEY_TERMINATOR		0x01	/* end of the value */

/* Canonical NaNs written for every NaN. */
#define FLOAT8_CANONICAL_NAN	UINT64CONST(0x7FF8000000000000)
#define FLOAT4_CANONICAL_NAN	((uint32) 0x7FC00000)

/* Longest numeric_normalize() output of a numeric numeric_in accepts. */
#define NUMERIC_MAX_INT_DIGITS	131072
#define NUMERIC_MAX_FRAC_DIGITS	16383

static void key_corrupted(Oid typid, const char *detail) pg_attribute_noreturn();

/*
 * key_base_type
 *		The type whose encoding a column of type typid uses: itself for the
 *		built-in types, the base type for a domain, InvalidOid otherwise.
 */
static Oid
key_base_type(Oid typid)
{
	Oid			base;

	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case BOOLOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case UUIDOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case TEXTOID:
		case VARCHAROID:
		case BYTEAOID:
		case NUMERICOID:
			return typid;
		default:
			break;
	}

	/* Recurse once through the domain chain; a non-domain maps to itself. */
	base = getBaseType(typid);
	if (base != typid)
		return key_base_type(base);
	return InvalidOid;
}

/*
 * lsm_key_type_supported
 *		Whether typid can be a key column; *ordered tells whether byte order
 *		is SQL order (so range quals may become key ranges) or only equality
 *		is preserved.
 */
bool
lsm_key_type_supported(Oid typid, bool *ordered)
{
	Oid			base = key_base_type(typid);

	if (!OidIsValid(base))
		return false;
	if (ordered)
		*ordered = (base != NUMERICOID);
	return true;
}

/*
 * lsm_key_supported_types
 *		The supported key types, for the hint of errors about other types.
 */
const char *
lsm_key_supported_types(void)
{
	return "smallint, integer, bigint, boolean, real, double precision, "
		"date, timestamp, timestamptz, uuid, text, varchar, bytea, "
		"numeric (equality only), and domains over these";
}

/*
 * key_corrupted
 *		Report an encoded key that cannot be decoded.
 */
static void
key_corrupted(Oid typid, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupted lsm_fdw key: cannot decode a value of type %s",
					format_type_be(typid)),
			 errdetail_internal("%s", detail)));
}

/* Big-endian fixed-width helpers. */
static void
append_be(StringInfo buf, uint64 v, int width)
{
	char		b[8];

	for (int i = width - 1; i >= 0; i--)
	{
		b[i] = (char) (v & 0xFF);
		v >>= 8;
	}
	appendBinaryStringInfo(buf, b, width);
}

static uint64
read_be(const char **p, const char *end, int width, Oid typid)
{
	const unsigned char *s = (const unsigned char *) *p;
	uint64		v = 0;

	if (end - *p < width)
		key_corrupted(typid, "The key ends inside a fixed-width value.");
	for (int i = 0; i < width; i++)
		v = (v << 8) | s[i];
	*p += width;
	return v;
}

/* Signed integers: flip the sign bit so negative values sort first. */
static void
append_signed(StringInfo buf, int64 v, int width)
{
	uint64		u = (uint64) v;

	if (width < 8)
		u &= (UINT64CONST(1) << (width * 8)) - 1;
	u ^= UINT64CONST(1) << (width * 8 - 1);
	append_be(buf, u, width);
}

static int64
read_signed(const char **p, const char *end, int width, Oid typid)
{
	uint64		u = read_be(p, end, width, typid);

	u ^= UINT64CONST(1) << (width * 8 - 1);
	/* Sign-extend from width bytes. */
	if (width < 8 && (u & (UINT64CONST(1) << (width * 8 - 1))))
		u |= ~((UINT64CONST(1) << (width * 8)) - 1);
	return (int64) u;
}

/*
 * Floats: after normalisation, positive values (sign clear) get the sign
 * bit set and negative values are bitwise inverted, so that the unsigned
 * order of the results is the numeric order; the canonical NaN, having the
 * largest positive bit pattern after +Infinity, sorts last.
 */
static uint64
float8_key_bits(float8 d)
{
	uint64		bits;

	if (isnan(d))
		bits = FLOAT8_CANONICAL_NAN;
	else if (d == 0.0)
		bits = 0;				/* -0 == +0 */
	else
		memcpy(&bits, &d, sizeof(bits));
	if (bits & (UINT64CONST(1) << 63))
		return ~bits;
	return bits | (UINT64CONST(1) << 63);
}

static float8
float8_from_key_bits(uint64 k, Oid typid)
{
	uint64		bits;
	float8		d;

	if (k & (UINT64CONST(1) << 63))
		bits = k & ~(UINT64CONST(1) << 63);
	else
		bits = ~k;
	memcpy(&d, &bits, sizeof(d));
	if (bits == (UINT64CONST(1) << 63))
		key_corrupted(typid, "The key holds a negative zero, which is never written.");
	if (isnan(d) && bits != FLOAT8_CANONICAL_NAN)
		key_corrupted(typid, "The key holds a non-canonical NaN, which is never written.");
	return d;
}

static uint32
float4_key_bits(float4 f)
{
	uint32		bits;

	if (isnan(f))
		bits = FLOAT4_CANONICAL_NAN;
	else if (f == 0.0f)
		bits = 0;
	else
		memcpy(&bits, &f, sizeof(bits));
	if (bits & ((uint32) 1 << 31))
		return ~bits;
	return bits | ((uint32) 1 << 31);
}

static float4
float4_from_key_bits(uint32 k, Oid typid)
{
	uint32		bits;
	float4		f;

	if (k & ((uint32) 1 << 31))
		bits = k & ~((uint32) 1 << 31);
	else
		bits = ~k;
	memcpy(&f, &bits, sizeof(f));
	if (bits == ((uint32) 1 << 31))
		key_corrupted(typid, "The key holds a negative zero, which is never written.");
	if (isnan(f) && bits != FLOAT4_CANONICAL_NAN)
		key_corrupted(typid, "The key holds a non-canonical NaN, which is never written.");
	return f;
}

/*
 * append_escaped
 *		Append len bytes with every 0x00 escaped, and the terminator when
 *		terminate is true.
 */
static void
append_escaped(StringInfo buf, const char *data, size_t len, bool terminate)
{
	char	   *out;

	/* Worst case: every byte escaped, plus the terminator. */
	if (len > (size_t) (MaxAllocSize / 2 - 2))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("key value is too large to encode")));
	enlargeStringInfo(buf, (int) (len * 2 + 2));
	out = buf->data + buf->len;
	for (size_t i = 0; i < len; i++)
	{
		if (data[i] == '\0')
		{
			*out++ = (char) KEY_ESCAPE;
			*out++ = (char) KEY_ESCAPED_ZERO;
		}
		else
			*out++ = data[i];
	}
	if (terminate)
	{
		*out++ = (char) KEY_ESCAPE;
		*out++ = (char) KEY_TERMINATOR;
	}
	buf->len = out - buf->data;
	buf->data[buf->len] = '\0';
}

/*
 * read_escaped
 *		Decode an escaped, terminated byte string at *p into a palloc'd
 *		buffer of *len bytes, room for a varlena header in front of it when
 *		hdr is true and a trailing NUL always; advance *p past the
 *		terminator.
 */
static char *
read_escaped(const char **p, const char *end, Oid typid, bool hdr, size_t *len)
{
	const char *s = *p;
	size_t		n = 0;
	const char *after = NULL;
	char	   *result;
	char	   *out;

	/* First pass: validate the escapes and measure. */
	while (s < end)
	{
		if (*s != (char) KEY_ESCAPE)
		{
			n++;
			s++;
			continue;
		}
		if (end - s < 2)
			break;
		if (s[1] == (char) KEY_TERMINATOR)
		{
			after = s + 2;
			break;
		}
		if (s[1] != (char) KEY_ESCAPED_ZERO)
			key_corrupted(typid, "The key holds an invalid escape sequence.");
		n++;
		s += 2;
	}
	if (after == NULL)
		key_corrupted(typid, "The key ends before the terminator of a variable-length value.");

	result = palloc((hdr ? VARHDRSZ : 0) + n + 1);
	out = result + (hdr ? VARHDRSZ : 0);
	for (s = *p; s < after - 2; s++)
	{
		if (*s == (char) KEY_ESCAPE)
		{
			*out++ = '\0';
			s++;
		}
		else
			*out++ = *s;
	}
	*out = '\0';
	if (hdr)
		SET_VARSIZE(result, VARHDRSZ + n);
	*len = n;
	*p = after;
	return result;
}

/*
 * numeric_text_is_valid
 *		Whether s is something numeric_normalize() could have produced:
 *		NaN, Infinity, -Infinity, or -?digits[.digits] within numeric's
 *		limits.  Checked before numeric_in so that a corrupted key reports
 *		corruption rather than an input syntax error.
 */
static bool
numeric_text_is_valid(const char *s, size_t len)
{
	size_t		i = 0;
	size_t		int_digits = 0;
	size_t		frac_digits = 0;

	if (strlen(s) != len)
		return false;
	if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 ||
		strcmp(s, "-Infinity") == 0)
		return true;
	if (i < len && s[i] == '-')
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9')
	{
		i++;
		int_digits++;
	}
	if (int_digits == 0)
		return false;
	if (i < len && s[i] == '.')
	{
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
		{
			i++;
			frac_digits++;
		}
		if (frac_digits == 0)
			return false;
	}
	return i == len &&
		int_digits <= NUMERIC_MAX_INT_DIGITS &&
		frac_digits <= NUMERIC_MAX_FRAC_DIGITS;
}

/*
 * lsm_key_encode
 *		Append the encoding of a non-null value of type typid to buf; a text
 *		value starts with its sort key under sort_coll when that is valid.
 *		The caller has checked lsm_key_type_supported().
 */
void
lsm_key_encode(StringInfo buf, Oid typid, Oid sort_coll, Datum value)
{
	Oid			base = key_base_type(typid);

	switch (base)
	{
		case INT2OID:
			append_signed(buf, DatumGetInt16(value), 2);
			break;
		case INT4OID:
			append_signed(buf, DatumGetInt32(value), 4);
			break;
		case DATEOID:
			append_signed(buf, DatumGetDateADT(value), 4);
			break;
		case INT8OID:
			append_signed(buf, DatumGetInt64(value), 8);
			break;
		case TIMESTAMPOID:
			append_signed(buf, DatumGetTimestamp(value), 8);
			break;
		case TIMESTAMPTZOID:
			append_signed(buf, DatumGetTimestampTz(value), 8);
			break;
		case BOOLOID:
			appendStringInfoChar(buf, DatumGetBool(value) ? 1 : 0);
			break;
		case FLOAT4OID:
			append_be(buf, float4_key_bits(DatumGetFloat4(value)), 4);
			break;
		case FLOAT8OID:
			append_be(buf, float8_key_bits(DatumGetFloat8(value)), 8);
			break;
		case UUIDOID:
			appendBinaryStringInfo(buf, (const char *) DatumGetUUIDP(value)->data,
								   UUID_LEN);
			break;
		case TEXTOID:
		case VARCHAROID:
		case BYTEAOID:
			{
				struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

				if (OidIsValid(sort_coll) && base != BYTEAOID)
				{
					lsm_append_sort_key(buf, sort_coll, VARDATA_ANY(v),
										VARSIZE_ANY_EXHDR(v));
					appendStringInfoChar(buf, '\0');
				}
				append_escaped(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), true);
				if ((Pointer) v != DatumGetPointer(value))
					pfree(v);
				break;
			}
		case NUMERICOID:
			{
				char	   *s = numeric_normalize(DatumGetNumeric(value));

				append_escaped(buf, s, strlen(s), true);
				pfree(s);
				break;
			}
		default:
			elog(ERROR, "type %s cannot be a lsm_fdw key column",
				 format_type_be(typid));
	}
}

/*
 * lsm_key_encode_prefix
 *		Append the encoding of a text, varchar or bytea value without its
 *		terminator: the encoding of every value that starts with these bytes
 *		starts with the result, since escaping works byte by byte.
 */
void
lsm_key_encode_prefix(StringInfo buf, Oid typid, Datum value)
{
	Oid			base = key_base_type(typid);
	struct varlena *v;

	if (base != TEXTOID && base != VARCHAROID && base != BYTEAOID)
		elog(ERROR, "a prefix of a key of type %s cannot be encoded",
			 format_type_be(typid));
	v = PG_DETOAST_DATUM_PACKED(value);
	append_escaped(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), false);
	if ((Pointer) v != DatumGetPointer(value))
		pfree(v);
}

/*
 * lsm_key_decode
 *		Decode one column of type typid at *p, reading no further than end,
 *		and advance *p past it; sort_coll as given to lsm_key_encode.
 *		By-reference results are palloc'd in the current memory context.
 *		ERROR (data_corrupted) on malformed bytes.
 */
Datum
lsm_key_decode(const char **p, const char *end, Oid typid, Oid sort_coll)
{
	Oid			base = key_base_type(typid);

	switch (base)
	{
		case INT2OID:
			return Int16GetDatum((int16) read_signed(p, end, 2, typid));
		case INT4OID:
			return Int32GetDatum((int32) read_signed(p, end, 4, typid));
		case DATEOID:
			return DateADTGetDatum((DateADT) read_signed(p, end, 4, typid));
		case INT8OID:
			return Int64GetDatum(read_signed(p, end, 8, typid));
		case TIMESTAMPOID:
			return TimestampGetDatum(read_signed(p, end, 8, typid));
		case TIMESTAMPTZOID:
			return TimestampTzGetDatum(read_signed(p, end, 8, typid));
		case BOOLOID:
			{
				uint64		b = read_be(p, end, 1, typid);

				if (b > 1)
					key_corrupted(typid, "A boolean key byte is neither 0 nor 1.");
				return BoolGetDatum(b == 1);
			}
		case FLOAT4OID:
			return Float4GetDatum(float4_from_key_bits((uint32) read_be(p, end, 4, typid),
													   typid));
		case FLOAT8OID:
			return Float8GetDatum(float8_from_key_bits(read_be(p, end, 8, typid),
													   typid));
		case UUIDOID:
			{
				pg_uuid_t  *u;

				if (end - *p < UUID_LEN)
					key_corrupted(typid, "The key ends inside a uuid.");
				u = palloc(sizeof(pg_uuid_t));
				memcpy(u->data, *p, UUID_LEN);
				*p += UUID_LEN;
				return UUIDPGetDatum(u);
			}
		case TEXTOID:
		case VARCHAROID:
			{
				size_t		len;
				char	   *v;

				if (OidIsValid(sort_coll))
				{
					/* the sort key is skipped: the value follows it */
					const char *sep = memchr(*p, '\0', end - *p);

					if (sep == NULL)
						key_corrupted(typid, "The key ends inside a sort key.");
					*p = sep + 1;
				}
				v = read_escaped(p, end, typid, true, &len);

				if (!pg_verifymbstr(VARDATA(v), (int) len, true))
					key_corrupted(typid, "The key holds text that is not valid in the database encoding.");
				return PointerGetDatum(v);
			}
		case BYTEAOID:
			{
				size_t		len;

				return PointerGetDatum(read_escaped(p, end, typid, true, &len));
			}
		case NUMERICOID:
			{
				size_t		len;
				char	   *s = read_escaped(p, end, typid, false, &len);
				Datum		num;
				char	   *canon;

				if (!numeric_text_is_valid(s, len))
					key_corrupted(typid, "The key does not hold a number.");
				num = DirectFunctionCall3(numeric_in, CStringGetDatum(s),
										  ObjectIdGetDatum(InvalidOid),
										  Int32GetDatum(-1));
				canon = numeric_normalize(DatumGetNumeric(num));
				if (strcmp(canon, s) != 0)
					key_corrupted(typid, "The key holds a number that is not in canonical form.");
				pfree(canon);
				pfree(s);
				return num;
			}
		default:
			elog(ERROR, "type %s cannot be a lsm_fdw key column",
				 format_type_be(typid));
	}
	return (Datum) 0;			/* keep compiler quiet */
}
