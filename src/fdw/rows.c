/*
 * rows.c
 *		Between tuples and the engine's (key, value) pairs: a table's key
 *		columns, encoding a row's key, and decoding a stored pair into a
 *		slot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"

/* Tables this backend has warned about (stale sort keys), once each. */
static List *stale_warned = NIL;

/*
 * lsm_key_collation_versions
 *		The versions of the collations whose sort keys the table's keys hold,
 *		in key order, separated by ';' ("" when there are none).
 */
char *
lsm_key_collation_versions(const LsmKeyInfo *ki)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < ki->nkeys; i++)
	{
		if (!OidIsValid(ki->sort_colls[i]))
			continue;
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ";" : "",
						 lsm_collation_version(ki->sort_colls[i]));
	}
	return buf.data;
}

/*
 * Key format 2: which text key columns hold sort keys, and whether the
 * versions recorded at CREATE (or at the last rebuild) are those of the
 * libraries now; warn once per backend and table when they are not.
 */
static void
key_collations(Relation rel, LsmKeyInfo *ki)
{
	char	   *recorded = NULL;
	char	   *now;

	ki->key_format = lsm_table_key_format(RelationGetRelid(rel), &recorded);
	ki->stale = false;
	for (int i = 0; i < ki->nkeys; i++)
	{
		Oid			base = ki->base_types[i];

		ki->sort_colls[i] = InvalidOid;
		if (ki->key_format >= 2 && (base == TEXTOID || base == VARCHAROID))
			ki->sort_colls[i] = lsm_sort_key_collation(ki->collations[i]);
	}
	if (ki->key_format < 2)
		return;
	now = lsm_key_collation_versions(ki);
	if (strcmp(now, recorded ? recorded : "") == 0)
		return;
	ki->stale = true;
	if (!list_member_oid(stale_warned, RelationGetRelid(rel)))
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		stale_warned = lappend_oid(stale_warned, RelationGetRelid(rel));
		MemoryContextSwitchTo(old);
		ereport(WARNING,
				(errcode(ERRCODE_COLLATION_MISMATCH),
				 errmsg("the collation version of the keys of lsm_fdw table \"%s\" changed",
						RelationGetRelationName(rel)),
				 errdetail("The keys were encoded with collation version \"%s\"; the library now provides \"%s\". Until the table is rebuilt, it is read without using its key order and refuses writes.",
						   recorded ? recorded : "", now),
				 errhint("Re-encode its keys with SELECT lsm_fdw_rebuild('%s');",
						 quote_identifier(RelationGetRelationName(rel)))));
	}
}

/*
 * lsm_key_order_usable
 *		Whether key column col is stored in the order of collation collid
 *		(any collation for non-text types), so that a range or key order
 *		under collid can be read from the engine.
 */
bool
lsm_key_order_usable(const LsmKeyInfo *ki, int col, Oid collid)
{
	Oid			base = ki->base_types[col];

	if (ki->stale)
		return false;
	if (base != TEXTOID && base != VARCHAROID)
		return true;
	if (OidIsValid(ki->sort_colls[col]))
		return collid == ki->sort_colls[col] &&
			lsm_sort_key_trusted(collid);
	return lsm_collation_is_byte_order(collid);
}

/*
 * lsm_check_key_writable
 *		Refuse to write a table whose stored sort keys may differ from the
 *		ones computed now: a write could miss the stored key of its row and
 *		leave two rows with one key.
 */
void
lsm_check_key_writable(Relation rel, const LsmKeyInfo *ki)
{
	char	   *recorded = NULL;

	if (!ki->stale)
		return;
	(void) lsm_table_key_format(RelationGetRelid(rel), &recorded);
	ereport(ERROR,
			(errcode(ERRCODE_COLLATION_MISMATCH),
			 errmsg("cannot write lsm_fdw table \"%s\": its keys were encoded with another version of their collation",
					RelationGetRelationName(rel)),
			 errdetail("The keys were encoded with collation version \"%s\"; the library now provides \"%s\".",
					   recorded ? recorded : "", lsm_key_collation_versions(ki)),
			 errhint("Re-encode its keys with SELECT lsm_fdw_rebuild('%s');",
					 quote_identifier(RelationGetRelationName(rel)))));
}

/*
 * The hint for a table without key: pg_dump creates a table first and adds
 * its columns' options by ALTER, so such a table exists until its key is
 * added, which is allowed while it has never stored a row.
 */
static int
no_key_hint(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	const char *column = "id";

	for (int i = 0; i < desc->natts; i++)
	{
		if (!TupleDescAttr(desc, i)->attisdropped)
		{
			column = NameStr(TupleDescAttr(desc, i)->attname);
			break;
		}
	}
	return errhint("Mark the key column(s), e.g. ALTER FOREIGN TABLE %s ALTER COLUMN %s OPTIONS (ADD key 'true').",
				   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  RelationGetRelationName(rel)),
				   quote_identifier(column));
}

/*
 * lsm_key_info_try
 *		The key columns of rel, in column order; false when it has none.  A
 *		key column of a type that has no key encoding is refused.
 */
bool
lsm_key_info_try(Relation rel, LsmKeyInfo *ki)
{
	TupleDesc	desc = RelationGetDescr(rel);

	ki->nkeys = 0;
	ki->is_key = palloc0(sizeof(bool) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		ordered;

		if (att->attisdropped || !lsm_column_is_key(RelationGetRelid(rel), att->attnum))
			continue;
		if (!lsm_key_type_supported(att->atttypid, &ordered))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("key column \"%s\" of lsm_fdw table \"%s\" has unsupported type %s",
							NameStr(att->attname), RelationGetRelationName(rel),
							format_type_be(att->atttypid)),
					 errhint("Key columns may have these types: %s.",
							 lsm_key_supported_types())));
		if (ki->nkeys == INDEX_MAX_KEYS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("lsm_fdw table \"%s\" has more than %d key columns",
							RelationGetRelationName(rel), INDEX_MAX_KEYS)));
		ki->attnums[ki->nkeys] = att->attnum;
		ki->types[ki->nkeys] = att->atttypid;
		ki->base_types[ki->nkeys] = getBaseType(att->atttypid);
		ki->collations[ki->nkeys] = att->attcollation;
		ki->is_key[i] = true;
		ki->nkeys++;
	}
	ki->ttl_attno = lsm_table_ttl_column(rel, &ki->ttl_usecs);
	if (ki->nkeys == 0)
		return false;
	key_collations(rel, ki);
	return true;
}

/*
 * lsm_key_info_build
 *		The same for a table about to be used: one without key is refused.
 *		Callers use lsm_key_info (relcache.c), which caches the result.
 */
void
lsm_key_info_build(Relation rel, LsmKeyInfo *ki)
{
	if (!lsm_key_info_try(rel, ki))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("lsm_fdw table \"%s\" has no key column",
						RelationGetRelationName(rel)),
				 errdetail("A lsm_fdw table cannot be written until some of its columns are marked as key; until then it holds no row."),
				 no_key_hint(rel)));
}

/*
 * lsm_notice_no_key
 *		After CREATE FOREIGN TABLE without key.
 */
void
lsm_notice_no_key(Relation rel)
{
	ereport(NOTICE,
			(errmsg("lsm_fdw table \"%s\" has no key column yet",
					RelationGetRelationName(rel)),
			 errdetail("The table cannot be written until some of its columns are marked as key; until then it holds no row."),
			 no_key_hint(rel)));
}

void
lsm_key_info_for_relid(Oid relid, LsmKeyInfo *ki)
{
	Relation	rel = RelationIdGetRelation(relid);

	if (!RelationIsValid(rel))
		elog(ERROR, "could not open relation with OID %u", relid);
	PG_TRY();
	{
		lsm_key_info(rel, ki);
	}
	PG_FINALLY();
	{
		RelationClose(rel);
	}
	PG_END_TRY();
}

/*
 * lsm_encode_key_from_values
 *		Append the key of a row to buf.  A NULL key column is a not-null
 *		violation when error_on_null (else false is returned); a key longer
 *		than LSM_MAX_KEY_BYTES is refused.
 */
bool
lsm_encode_key_from_values(StringInfo buf, const LsmKeyInfo *ki, Relation rel,
						   const Datum *values, const bool *isnull, bool error_on_null)
{
	for (int i = 0; i < ki->nkeys; i++)
	{
		AttrNumber	a = ki->attnums[i];

		if (isnull[a - 1])
		{
			if (!error_on_null)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null value in key column \"%s\" of lsm_fdw table \"%s\"",
							NameStr(TupleDescAttr(RelationGetDescr(rel), a - 1)->attname),
							RelationGetRelationName(rel))));
		}
		lsm_key_encode(buf, ki->types[i], ki->sort_colls[i], values[a - 1]);
	}
	if (buf->len > LSM_MAX_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("key is too long for lsm_fdw table \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("The encoded key takes %d bytes; the limit is %d.",
						   buf->len, LSM_MAX_KEY_BYTES)));
	return true;
}

/*
 * Whether a decoded row has expired for this transaction (ttl.c): its
 * ttl_column is at or before the transaction's TTL read time.
 */
static bool
expired(const LsmKeyInfo *ki, const Datum *values, const bool *isnull)
{
	AttrNumber	a = ki->ttl_attno;
	TimestampTz expiry;

	if (a == InvalidAttrNumber || isnull[a - 1] ||
		!lsm_ttl_expiry(DatumGetTimestampTz(values[a - 1]), ki->ttl_usecs, &expiry))
		return false;
	return expiry <= lsm_ttl_read_time();
}

/*
 * lsm_row_expired
 *		Whether the stored value of a row has expired, for writes that only
 *		look at whether a key holds a row.
 */
bool
lsm_row_expired(const LsmKeyInfo *ki, TupleDesc desc, LsmSlice value)
{
	Datum	   *values;
	bool	   *isnull;
	bool		result;

	if (ki->ttl_attno == InvalidAttrNumber)
		return false;
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	lsm_row_decode((const char *) value.data, value.len, desc, ki->is_key,
				   values, isnull);
	result = expired(ki, values, isnull);
	pfree(values);
	pfree(isnull);
	return result;
}

/*
 * lsm_store_row
 *		Decode a stored (key, value) into slot as a virtual tuple; the
 *		datums are allocated in the current memory context.  False (and an
 *		empty slot) when the row has expired: every read then treats it as
 *		absent, before quals, LIMIT or the key order see it.
 */
bool
lsm_store_row(TupleTableSlot *slot, const LsmKeyInfo *ki, LsmSlice key, LsmSlice value)
{
	return lsm_store_row_cols(slot, ki, NULL, key, value);
}

/*
 * lsm_store_row_cols
 *		The same, decoding of the value only the attributes marked in
 *		wanted (NULL: all; the ttl_column must be among them); the others
 *		are NULL in the slot.  Key columns are always decoded.
 */
bool
lsm_store_row_cols(TupleTableSlot *slot, const LsmKeyInfo *ki, const bool *wanted,
				   LsmSlice key, LsmSlice value)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	const char *p = (const char *) key.data;
	const char *end = p + key.len;

	ExecClearTuple(slot);
	lsm_row_decode_cols((const char *) value.data, value.len, desc, ki->is_key,
						wanted, slot->tts_values, slot->tts_isnull);
	if (expired(ki, slot->tts_values, slot->tts_isnull))
		return false;
	for (int i = 0; i < ki->nkeys; i++)
	{
		AttrNumber	a = ki->attnums[i];

		slot->tts_values[a - 1] = lsm_key_decode(&p, end, ki->types[i],
												 ki->sort_colls[i]);
		slot->tts_isnull[a - 1] = false;
	}
	if (p != end)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored key of lsm_fdw table has %d unexpected trailing bytes",
						(int) (end - p))));
	ExecStoreVirtualTuple(slot);
	return true;
}
