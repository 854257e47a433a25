/*
 * codec_test.c
 *		SQL-callable hooks that expose the key and row codecs to the
 *		regression tests.
 *
 * These functions are not part of the extension's SQL script: a test
 * declares the ones it needs with CREATE FUNCTION ... AS 'lsm_fdw', so
 * ordinary installations never see them.  They only encode and decode in
 * memory and touch no table.
 *
 *	lsm_fdw_test_key_type(regtype) -> text
 *	lsm_fdw_test_key_bytes(anyelement) -> bytea
 *	lsm_fdw_test_key_prefix(anyelement) -> bytea
 *	lsm_fdw_test_key_roundtrip(anyelement) -> anyelement
 *	lsm_fdw_test_key_decode(bytea, anyelement) -> anyelement
 *	lsm_fdw_test_row_bytes(record, int4[]) -> bytea
 *	lsm_fdw_test_row_decode(bytea, anyelement, int4[]) -> anyelement
 *
 * Text values encode as a new table's key column under the argument's
 * collation does (with that collation's sort key unless it is byte order).
 *
 * The int4[] arguments list the attribute numbers that are key columns;
 * row_decode returns those as NULL.  The anyelement argument of the two
 * decode functions only gives the type to decode (its value is unused
 * except for the row type of an anonymous record).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "codec.h"

PG_FUNCTION_INFO_V1(lsm_fdw_test_key_type);
PG_FUNCTION_INFO_V1(lsm_fdw_test_key_bytes);
PG_FUNCTION_INFO_V1(lsm_fdw_test_key_prefix);
PG_FUNCTION_INFO_V1(lsm_fdw_test_key_roundtrip);
PG_FUNCTION_INFO_V1(lsm_fdw_test_key_decode);
PG_FUNCTION_INFO_V1(lsm_fdw_test_row_bytes);
PG_FUNCTION_INFO_V1(lsm_fdw_test_row_decode);

/*
 * key_type_of_arg
 *		The type of argument argnum, which must be a supported key type.
 */
static Oid
key_type_of_arg(FunctionCallInfo fcinfo, int argnum)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, argnum);

	if (!OidIsValid(typid))
		elog(ERROR, "could not determine the type of argument %d", argnum + 1);
	if (!lsm_key_type_supported(typid, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("type %s cannot be a lsm_fdw key column",
						format_type_be(typid)),
				 errhint("Supported key types are: %s.",
						 lsm_key_supported_types())));
	return typid;
}

/*
 * bytes_to_bytea
 *		A bytea holding the bytes of buf.
 */
static bytea *
bytes_to_bytea(StringInfo buf)
{
	bytea	   *result = palloc(VARHDRSZ + buf->len);

	SET_VARSIZE(result, VARHDRSZ + buf->len);
	memcpy(VARDATA(result), buf->data, buf->len);
	return result;
}

/*
 * decode_whole_key
 *		Decode one value from exactly len bytes; bytes left over mean the
 *		encoding was not self-delimiting as expected.
 */
static Datum
decode_whole_key(const char *data, size_t len, Oid typid, Oid sort_coll)
{
	const char *p = data;
	const char *end = data + len;
	Datum		result = lsm_key_decode(&p, end, typid, sort_coll);

	if (p != end)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupted lsm_fdw key: the key goes on after its value")));
	return result;
}

/*
 * lsm_fdw_test_key_type
 *		What lsm_key_type_supported says of a type: 'ordered' (ranges push
 *		down), 'equality' or 'unsupported'.
 */
Datum
lsm_fdw_test_key_type(PG_FUNCTION_ARGS)
{
	bool		ordered;

	if (!lsm_key_type_supported(PG_GETARG_OID(0), &ordered))
		PG_RETURN_TEXT_P(cstring_to_text("unsupported"));
	PG_RETURN_TEXT_P(cstring_to_text(ordered ? "ordered" : "equality"));
}

/*
 * lsm_fdw_test_key_bytes
 *		The key encoding of a value.
 */
Datum
lsm_fdw_test_key_bytes(PG_FUNCTION_ARGS)
{
	Oid			typid = key_type_of_arg(fcinfo, 0);
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	initStringInfo(&buf);
	lsm_key_encode(&buf, typid, lsm_sort_key_collation(PG_GET_COLLATION()),
				   PG_GETARG_DATUM(0));
	PG_RETURN_BYTEA_P(bytes_to_bytea(&buf));
}

/*
 * lsm_fdw_test_key_prefix
 *		The prefix encoding of a text, varchar or bytea value.
 */
Datum
lsm_fdw_test_key_prefix(PG_FUNCTION_ARGS)
{
	Oid			typid = key_type_of_arg(fcinfo, 0);
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	initStringInfo(&buf);
	lsm_key_encode_prefix(&buf, typid, PG_GETARG_DATUM(0));
	PG_RETURN_BYTEA_P(bytes_to_bytea(&buf));
}

/*
 * lsm_fdw_test_key_roundtrip
 *		A value encoded as a key and decoded again.
 */
Datum
lsm_fdw_test_key_roundtrip(PG_FUNCTION_ARGS)
{
	Oid			typid = key_type_of_arg(fcinfo, 0);
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	initStringInfo(&buf);
	lsm_key_encode(&buf, typid, lsm_sort_key_collation(PG_GET_COLLATION()),
				   PG_GETARG_DATUM(0));
	return decode_whole_key(buf.data, buf.len, typid,
							lsm_sort_key_collation(PG_GET_COLLATION()));
}

/*
 * lsm_fdw_test_key_decode
 *		Decode bytes as a key of the type of the second argument.
 */
Datum
lsm_fdw_test_key_decode(PG_FUNCTION_ARGS)
{
	Oid			typid = key_type_of_arg(fcinfo, 1);
	bytea	   *bytes;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	bytes = PG_GETARG_BYTEA_PP(0);
	return decode_whole_key(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes), typid,
							lsm_sort_key_collation(PG_GET_COLLATION()));
}

/*
 * key_flags
 *		is_key[] for natts attributes from an int4[] of attribute numbers.
 */
static bool *
key_flags(FunctionCallInfo fcinfo, int argnum, int natts)
{
	bool	   *is_key = palloc0(sizeof(bool) * Max(natts, 1));
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argnum))
		return is_key;
	arr = PG_GETARG_ARRAYTYPE_P(argnum);
	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		int32		attnum = DatumGetInt32(elems[i]);

		if (nulls[i] || attnum < 1 || attnum > natts)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key attribute numbers must be between 1 and %d", natts)));
		is_key[attnum - 1] = true;
	}
	return is_key;
}

/*
 * lsm_fdw_test_row_bytes
 *		The row format of a composite value, with the attributes listed in
 *		the second argument taken as key columns.
 */
Datum
lsm_fdw_test_row_bytes(PG_FUNCTION_ARGS)
{
	HeapTupleHeader th;
	TupleDesc	desc;
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *isnull;
	bool	   *is_key;
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	th = PG_GETARG_HEAPTUPLEHEADER(0);
	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(th),
								  HeapTupleHeaderGetTypMod(th));
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;

	values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	isnull = palloc(sizeof(bool) * Max(desc->natts, 1));
	heap_deform_tuple(&tuple, desc, values, isnull);
	is_key = key_flags(fcinfo, 1, desc->natts);

	initStringInfo(&buf);
	lsm_row_encode(&buf, desc, is_key, values, isnull);
	ReleaseTupleDesc(desc);
	PG_RETURN_BYTEA_P(bytes_to_bytea(&buf));
}

/*
 * lsm_fdw_test_row_decode
 *		Decode a row format into a value of the composite type of the second
 *		argument; key attributes (third argument) come back NULL.
 */
Datum
lsm_fdw_test_row_decode(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 1);
	int32		typmod = -1;
	bytea	   *bytes;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *isnull;
	bool	   *is_key;
	HeapTuple	tuple;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!PG_ARGISNULL(1) && type_is_rowtype(typid))
	{
		HeapTupleHeader th = PG_GETARG_HEAPTUPLEHEADER(1);

		typid = HeapTupleHeaderGetTypeId(th);
		typmod = HeapTupleHeaderGetTypMod(th);
	}
	if (!type_is_rowtype(typid) || (typid == RECORDOID && typmod < 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the second argument must be of a known composite type")));

	bytes = PG_GETARG_BYTEA_PP(0);
	desc = lookup_rowtype_tupdesc(typid, typmod);
	values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	isnull = palloc(sizeof(bool) * Max(desc->natts, 1));
	is_key = key_flags(fcinfo, 2, desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		values[i] = (Datum) 0;
		isnull[i] = true;
	}
	lsm_row_decode(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes), desc, is_key,
				   values, isnull);
	tuple = heap_form_tuple(desc, values, isnull);
	result = HeapTupleGetDatum(tuple);
	ReleaseTupleDesc(desc);
	return result;
}
