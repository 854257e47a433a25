/*
 * rowcodec.c
 *		The row format: how the non-key columns of a row are stored in the
 *		value of its engine entry.
 *
 * A row is
 *
 *	version		one byte, ROW_FORMAT_VERSION
 *	natts		varint: the number of attributes of the table when written
 *				(dropped ones included, as in the tuple descriptor)
 *	bitmap		(natts + 7) / 8 bytes; bit (i % 8) of byte i / 8, least
 *				significant first, is set when attribute i + 1 has a stored
 *				value.  Key columns, dropped columns and NULLs are clear, as
 *				are the unused high bits of the last byte.
 *	values		for each set bit, in attribute order:
 *				  typlen > 0	typlen bytes: by-value types (1, 2, 4 or 8
 *								bytes) little-endian, by-reference ones
 *								(uuid, name, interval, ...) as in memory
 *				  typlen = -1	varint length, then the detoasted,
 *								uncompressed payload without its header
 *				  typlen = -2	varint length, then the bytes without the
 *								trailing NUL (cstring)
 *
 * Varints are unsigned LEB128: seven bits a byte, least significant first,
 * high bit set on every byte but the last; at most ten bytes.
 *
 * Values are located by attribute number rather than by position, so rows
 * survive schema changes that keep attribute numbers: ADD COLUMN makes
 * natts grow and older rows read the new attributes as NULL; DROP COLUMN
 * keeps the dropped attribute's typlen in the descriptor, so its stored
 * bytes can still be skipped.  Nothing is aligned; decoding copies values
 * into aligned memory.
 *
 * Decoding trusts nothing: every length is checked against the bytes left,
 * and malformed input is reported as data corruption (XX001).  This file
 * stands alone: it does not include the engine's headers.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "codec.h"
#include "lsm_shared.h"

/* The version byte of rows written by lsm_row_encode; never reuse a value. */
#define ROW_FORMAT_VERSION	1

/* A varint of a uint64 takes at most this many bytes. */
#define VARINT_MAX_BYTES	10

static void row_corrupted(const char *detail,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

/*
 * row_corrupted
 *		Report a stored row that cannot be decoded.
 */
static void
row_corrupted(const char *detail,...)
{
	char		msg[256];
	va_list		args;

	va_start(args, detail);
	vsnprintf(msg, sizeof(msg), detail, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupted lsm_fdw row: cannot decode the non-key columns"),
			 errdetail_internal("%s", msg)));
}

/*
 * append_varint
 *		Append v as an unsigned LEB128 varint.
 */
static void
append_varint(StringInfo buf, uint64 v)
{
	char		b[VARINT_MAX_BYTES];
	int			n = 0;

	while (v >= 0x80)
	{
		b[n++] = (char) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	b[n++] = (char) v;
	appendBinaryStringInfo(buf, b, n);
}

/*
 * read_varint
 *		Read a varint at *p, not beyond end, and advance *p; what names the
 *		field for the error message.
 */
static uint64
read_varint(const char **p, const char *end, const char *what)
{
	const unsigned char *s = (const unsigned char *) *p;
	uint64		v = 0;

	for (int i = 0; i < VARINT_MAX_BYTES; i++)
	{
		uint64		b;

		if ((const char *) s + i >= end)
			row_corrupted("The row ends inside the %s.", what);
		b = s[i] & 0x7F;
		/* The tenth byte may only carry the top bit of a uint64. */
		if (i == VARINT_MAX_BYTES - 1 && b > 1)
			break;
		v |= b << (7 * i);
		if ((s[i] & 0x80) == 0)
		{
			*p += i + 1;
			return v;
		}
	}
	row_corrupted("The %s is not a valid varint.", what);
	return 0;					/* keep compiler quiet */
}

/*
 * append_byval
 *		Append a by-value Datum of attlen bytes in little-endian order, so
 *		that the stored bytes do not depend on the host.
 */
static void
append_byval(StringInfo buf, Datum value, int attlen)
{
	uint64		v;
	char		b[8];

	switch (attlen)
	{
		case 1:
			v = (uint8) DatumGetChar(value);
			break;
		case 2:
			v = (uint16) DatumGetInt16(value);
			break;
		case 4:
			v = (uint32) DatumGetInt32(value);
			break;
		case 8:
			v = (uint64) DatumGetInt64(value);
			break;
		default:
			elog(ERROR, "unsupported by-value length %d", attlen);
			return;				/* keep compiler quiet */
	}
	for (int i = 0; i < attlen; i++)
	{
		b[i] = (char) (v & 0xFF);
		v >>= 8;
	}
	appendBinaryStringInfo(buf, b, attlen);
}

/*
 * read_byval
 *		The by-value Datum of attlen little-endian bytes at p (whose length
 *		the caller has checked).
 */
static Datum
read_byval(const char *p, int attlen)
{
	const unsigned char *s = (const unsigned char *) p;
	uint64		v = 0;

	for (int i = attlen - 1; i >= 0; i--)
		v = (v << 8) | s[i];
	switch (attlen)
	{
		case 1:
			return CharGetDatum((char) v);
		case 2:
			return Int16GetDatum((int16) v);
		case 4:
			return Int32GetDatum((int32) v);
		case 8:
			return Int64GetDatum((int64) v);
	}
	elog(ERROR, "unsupported by-value length %d", attlen);
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * check_row_size
 *		ERROR when a row would grow beyond lsm_row_limit() by appending
 *		more bytes to the len already encoded; checked before appending so
 *		that a huge value fails without being copied.
 */
static void
check_row_size(size_t len, size_t more)
{
	size_t		limit = lsm_row_limit();

	if (more > limit || len + more > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too large for lsm_fdw"),
				 errdetail("Its non-key columns take more than the maximum of %zu bytes once encoded.",
						   limit),
				 errhint("The limit is a quarter of lsm_fdw.memtable_memory, at most 64MB.")));
}

/*
 * lsm_row_limit
 *		The longest encoded row a write accepts.  A row goes into one
 *		memtable whole, and a memtable bigger than a quarter of the shared
 *		pool could wait for room that never comes (the cap on memtable_size
 *		in table.c): a row that passes this check can always be applied,
 *		flushed, replayed and read back.
 */
size_t
lsm_row_limit(void)
{
	return Min((size_t) LSM_MAX_ROW_BYTES, (size_t) lsm_memtable_memory * 1024 / 4);
}

/*
 * lsm_row_encode
 *		Append the row format of the non-key, non-dropped, non-null
 *		attributes of a row to buf.  Varlena values are detoasted and
 *		decompressed.
 */
void
lsm_row_encode(StringInfo buf, TupleDesc desc, const bool *is_key,
			   const Datum *values, const bool *isnull)
{
	int			natts = desc->natts;
	int			start = buf->len;
	int			bitmap_at;
	int			bitmap_len = (natts + 7) / 8;

	appendStringInfoChar(buf, ROW_FORMAT_VERSION);
	append_varint(buf, (uint64) natts);

	/* The bitmap first, zeroed; bits are set as values are appended. */
	bitmap_at = buf->len;
	enlargeStringInfo(buf, bitmap_len);
	memset(buf->data + buf->len, 0, bitmap_len);
	buf->len += bitmap_len;
	buf->data[buf->len] = '\0';

	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Datum		value = values[i];

		if (att->attisdropped || is_key[i] || isnull[i])
			continue;

		if (att->attlen > 0)
		{
			check_row_size(buf->len - start, att->attlen);
			if (att->attbyval)
				append_byval(buf, value, att->attlen);
			else
				appendBinaryStringInfo(buf, DatumGetPointer(value), att->attlen);
		}
		else if (att->attlen == -1)
		{
			struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));
			size_t		len = VARSIZE_ANY_EXHDR(v);

			check_row_size(buf->len - start, len + VARINT_MAX_BYTES);
			append_varint(buf, len);
			appendBinaryStringInfo(buf, VARDATA_ANY(v), (int) len);
			if ((Pointer) v != DatumGetPointer(value))
				pfree(v);
		}
		else if (att->attlen == -2)
		{
			const char *s = DatumGetCString(value);
			size_t		len = strlen(s);

			check_row_size(buf->len - start, len + VARINT_MAX_BYTES);
			append_varint(buf, len);
			appendBinaryStringInfo(buf, s, (int) len);
		}
		else
			elog(ERROR, "column \"%s\" has unsupported length %d",
				 NameStr(att->attname), att->attlen);

		buf->data[bitmap_at + i / 8] |= (char) (1 << (i % 8));
	}
}

/*
 * take_bytes
 *		Check that n more bytes are left at *p and advance past them,
 *		returning where they start; attnum names the value in the error.
 */
static const char *
take_bytes(const char **p, const char *end, uint64 n, int attnum)
{
	const char *start = *p;

	if (n > (uint64) (end - *p))
		row_corrupted("The value of attribute %d runs past the end of the row.",
					  attnum);
	*p += n;
	return start;
}

/*
 * lsm_row_decode
 *		Decode a row written by lsm_row_encode into values/isnull for the
 *		non-key attributes of desc.  Attributes the stored row lacks (added
 *		since) and dropped ones are NULL; key attributes are left as they
 *		are, for the caller to fill from the key.  By-reference values are
 *		palloc'd in the current memory context and never point into data.
 */
void
lsm_row_decode(const char *data, size_t len, TupleDesc desc,
			   const bool *is_key, Datum *values, bool *isnull)
{
	lsm_row_decode_cols(data, len, desc, is_key, NULL, values, isnull);
}

/*
 * lsm_row_decode_cols
 *		lsm_row_decode for the attributes a query reads (wanted[i] for
 *		attribute i + 1; NULL: all): the others are NULL, their bytes are
 *		stepped over without a copy, and decoding stops after the last
 *		wanted one.  The bytes after it are then not checked for corruption,
 *		which a read of every column (and lsm_fdw_verify) still does.
 */
void
lsm_row_decode_cols(const char *data, size_t len, TupleDesc desc,
					const bool *is_key, const bool *wanted,
					Datum *values, bool *isnull)
{
	const char *p = data;
	const char *end = data + len;
	const unsigned char *bitmap;
	uint64		stored_natts;
	int			natts = desc->natts;
	int			last = natts - 1;	/* last attribute index to decode */

	if (len < 1)
		row_corrupted("The row is empty.");
	if ((unsigned char) *p != ROW_FORMAT_VERSION)
		row_corrupted("Unknown row format version %d.", (unsigned char) *p);
	p++;

	stored_natts = read_varint(&p, end, "attribute count");
	if (stored_natts > (uint64) natts)
		row_corrupted("The row has %llu attributes but the table only %d.",
					  (unsigned long long) stored_natts, natts);
	if ((stored_natts + 7) / 8 > (uint64) (end - p))
		row_corrupted("The row ends inside the null bitmap.");
	bitmap = (const unsigned char *) p;
	p += (stored_natts + 7) / 8;
	if (stored_natts % 8 != 0 &&
		(bitmap[stored_natts / 8] >> (stored_natts % 8)) != 0)
		row_corrupted("The null bitmap has bits set beyond the last attribute.");

	if (wanted != NULL)
	{
		while (last >= 0 && !(wanted[last] && !is_key[last]))
			last--;
		for (int i = last + 1; i < natts; i++)
		{
			if (!is_key[i])
			{
				values[i] = (Datum) 0;
				isnull[i] = true;
			}
		}
	}

	for (int i = 0; i <= last; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		present;
		const char *v;
		uint64		vlen;

		present = (uint64) i < stored_natts && (bitmap[i / 8] & (1 << (i % 8)));
		if (!is_key[i])
		{
			values[i] = (Datum) 0;
			isnull[i] = true;
		}
		if (!present)
			continue;

		/* Locate the stored bytes. */
		if (att->attlen > 0)
			vlen = att->attlen;
		else if (att->attlen == -1 || att->attlen == -2)
			vlen = read_varint(&p, end, "length of a value");
		else
			row_corrupted("Attribute %d has unsupported length %d.",
						  i + 1, att->attlen);
		v = take_bytes(&p, end, vlen, i + 1);

		/*
		 * A dropped column's bytes are skipped.  So are those of a key
		 * column, which are never written; the key is authoritative.
		 */
		if (att->attisdropped || is_key[i] || (wanted != NULL && !wanted[i]))
			continue;

		if (att->attlen > 0 && att->attbyval)
			values[i] = read_byval(v, att->attlen);
		else if (att->attlen > 0)
		{
			char	   *copy = palloc(att->attlen);

			memcpy(copy, v, att->attlen);
			values[i] = PointerGetDatum(copy);
		}
		else if (att->attlen == -1)
		{
			struct varlena *copy;

			if (vlen > MaxAllocSize - VARHDRSZ)
				row_corrupted("Attribute %d is too long.", i + 1);
			copy = palloc(VARHDRSZ + vlen);
			SET_VARSIZE(copy, VARHDRSZ + vlen);
			memcpy(VARDATA(copy), v, vlen);
			values[i] = PointerGetDatum(copy);
		}
		else
		{
			char	   *copy;

			if (memchr(v, '\0', vlen) != NULL)
				row_corrupted("The cstring of attribute %d holds a NUL byte.", i + 1);
			copy = palloc(vlen + 1);
			memcpy(copy, v, vlen);
			copy[vlen] = '\0';
			values[i] = CStringGetDatum(copy);
		}
		isnull[i] = false;
	}

	if (last == natts - 1 && p != end)
		row_corrupted("The row goes on after its last value.");
}

/*
 * lsm_row_peek_int64
 *		The 8-byte by-value attribute attnum of a stored row, found with
 *		only the typlens of the attributes before it (typlens[i] for
 *		attribute i + 1): what the compaction filter, which has no catalog,
 *		needs to read a row's expiry time.  False when the row has no value
 *		there (NULL, or written before the column existed) or does not
 *		decode as expected; never an ERROR, since compaction cannot raise
 *		one: a row it cannot judge is kept.
 */
bool
lsm_row_peek_int64(const char *data, size_t len, int attnum,
				   const int16 *typlens, int64 *out)
{
	const unsigned char *p = (const unsigned char *) data;
	const unsigned char *end = p + len;
	const unsigned char *bitmap;
	uint64		natts = 0;
	int			shift = 0;
	int			i;

	if (len < 1 || *p != ROW_FORMAT_VERSION || attnum < 1)
		return false;
	p++;
	for (;;)
	{
		if (p >= end || shift > 63)
			return false;
		natts |= (uint64) (*p & 0x7F) << shift;
		shift += 7;
		if ((*p++ & 0x80) == 0)
			break;
	}
	if ((uint64) attnum > natts || (natts + 7) / 8 > (uint64) (end - p))
		return false;
	bitmap = p;
	p += (natts + 7) / 8;
	for (i = 0; i < attnum; i++)
	{
		uint64		vlen;

		if ((bitmap[i / 8] & (1 << (i % 8))) == 0)
		{
			if (i == attnum - 1)
				return false;	/* NULL: never expires */
			continue;
		}
		if (i == attnum - 1)
		{
			uint64		v = 0;

			if (end - p < 8)
				return false;
			for (int b = 7; b >= 0; b--)
				v = (v << 8) | p[b];
			*out = (int64) v;
			return true;
		}
		if (typlens[i] > 0)
			vlen = (uint64) typlens[i];
		else if (typlens[i] == -1 || typlens[i] == -2)
		{
			vlen = 0;
			shift = 0;
			for (;;)
			{
				if (p >= end || shift > 63)
					return false;
				vlen |= (uint64) (*p & 0x7F) << shift;
				shift += 7;
				if ((*p++ & 0x80) == 0)
					break;
			}
		}
		else
			return false;
		if (vlen > (uint64) (end - p))
			return false;
		p += vlen;
	}
	return false;
}
