/*
 * rebuild.c
 *		lsm_fdw_rebuild(regclass): re-encode a table's keys with the
 *		collations as the libraries sort them now.
 *
 * Text keys under a linguistic collation start with the collation's sort
 * key (collkey.c).  After a glibc or ICU upgrade that changes the sort
 * keys, the stored keys are no longer the ones computed now: the table is
 * then read without pushdown and refuses writes (rows.c) until it is
 * rebuilt.  A table of key format 1 (created before format 2) is brought
 * to format 2 the same way.
 *
 * The rebuild is one transaction: each row whose key changes is deleted at
 * its stored key and written at its new one, and the new collation
 * versions go to the table's options in the catalog; Postgres's commit
 * decides both together, so a crash leaves either the old table or the new
 * one.  The table is locked in ACCESS EXCLUSIVE mode meanwhile.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"

PG_FUNCTION_INFO_V1(lsm_fdw_rebuild);

/*
 * One pass over the table at ro's snapshot: delete every row whose key
 * changes (write false), or write it at its new key (write true).
 * Returns the number of such rows.
 */
static int64
rebuild_pass(Relation rel, const LsmKeyInfo *ki, const Oid *new_colls, LsmDb *db,
			 LsmTxnTable *txn, LsmReadOptions *ro, bool write)
{
	Oid			relid = RelationGetRelid(rel);
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "lsm_fdw rebuild",
												  ALLOCSET_DEFAULT_SIZES);
	StringInfoData newkey;
	LsmIter    *it;
	LsmStatus	st;
	int64		n = 0;

	initStringInfo(&newkey);
	if (lsm_db_iter(db, ro, &it, &st) != LSM_OK)
		lsm_report(ERROR, &st, "start a scan");
	PG_TRY();
	{
		for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		{
			LsmSlice	key = lsm_iter_key(it);
			const char *p = (const char *) key.data;
			const char *end = p + key.len;
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(row_cxt);
			resetStringInfo(&newkey);
			for (int i = 0; i < ki->nkeys; i++)
			{
				Datum		v = lsm_key_decode(&p, end, ki->types[i], ki->sort_colls[i]);

				lsm_key_encode(&newkey, ki->types[i], new_colls[i], v);
			}
			MemoryContextSwitchTo(old);
			if (p != end)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("stored key of lsm_fdw table \"%s\" has %d unexpected trailing bytes",
								RelationGetRelationName(rel), (int) (end - p))));
			if (newkey.len > LSM_MAX_KEY_BYTES)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("a key of lsm_fdw table \"%s\" is too long in the new encoding",
								RelationGetRelationName(rel)),
						 errdetail("The encoded key takes %d bytes; the limit is %d.",
								   newkey.len, LSM_MAX_KEY_BYTES)));
			if (!lsm_slice_eq(key, lsm_slice(newkey.data, newkey.len)))
			{
				if (!write)
				{
					lsm_lock_key(relid, key);
					lsm_txn_write(txn, LSM_KIND_DELETE, key, lsm_slice(NULL, 0));
				}
				else
				{
					lsm_lock_key(relid, lsm_slice(newkey.data, newkey.len));
					lsm_txn_write(txn, LSM_KIND_PUT, lsm_slice(newkey.data, newkey.len),
								  lsm_iter_value(it));
				}
				n++;
			}
			MemoryContextReset(row_cxt);
		}
		if (lsm_iter_status(it, &st) != LSM_OK)
			lsm_report(ERROR, &st, "scan");
	}
	PG_FINALLY();
	{
		lsm_iter_destroy(it);
	}
	PG_END_TRY();
	MemoryContextDelete(row_cxt);
	return n;
}

Datum
lsm_fdw_rebuild(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	LsmKeyInfo	ki;
	Oid			new_colls[INDEX_MAX_KEYS];
	LsmDb	   *db;
	LsmTxnTable *txn;
	LsmReadOptions ro;
	int64		moved;

	if (!lsm_is_lsm_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a lsm_fdw foreign table",
						get_rel_name(relid) ? get_rel_name(relid) : "?"),
				 errhint("lsm_fdw_rebuild() takes a foreign table of a lsm_fdw server.")));
#if PG_VERSION_NUM >= 160000
	if (!object_ownercheck(RelationRelationId, relid, GetUserId()))
#else
	if (!pg_class_ownercheck(relid, GetUserId()))
#endif
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_FOREIGN_TABLE, get_rel_name(relid));
	rel = table_open(relid, AccessExclusiveLock);
	lsm_key_info(rel, &ki);

	/* the encoding a table created now would have */
	ki.key_format = 2;
	for (int i = 0; i < ki.nkeys; i++)
	{
		new_colls[i] = InvalidOid;
		if (ki.base_types[i] != TEXTOID && ki.base_types[i] != VARCHAROID)
			continue;
		if (!lsm_collation_is_deterministic(ki.collations[i]))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("key column \"%s\" of lsm_fdw table \"%s\" has a nondeterministic collation",
							NameStr(TupleDescAttr(RelationGetDescr(rel), ki.attnums[i] - 1)->attname),
							RelationGetRelationName(rel)),
					 errdetail("Key format 2 needs deterministic collations; the table keeps its key format.")));
		new_colls[i] = lsm_sort_key_collation(ki.collations[i]);
	}

	db = lsm_open_table(rel);
	txn = lsm_txn_table(rel, db, true);
	/* a TRUNCATE too: the passes read the committed rows it removes */
	if (lsm_txn_nops(txn) > 0 || lsm_txn_truncated_upto(txn) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot rebuild lsm_fdw table \"%s\" in a transaction that wrote it",
						RelationGetRelationName(rel)),
				 errhint("Run lsm_fdw_rebuild() in its own transaction.")));

	lsm_read_options_init(&ro);
	ro.read_seq = lsm_newest_point();

	/*
	 * Two passes over the same snapshot: the deletes of the old keys, then
	 * the writes of the new ones, so that no delete can come after a write
	 * of the same bytes, whatever the encodings.
	 */
	(void) rebuild_pass(rel, &ki, new_colls, db, txn, &ro, false);
	moved = rebuild_pass(rel, &ki, new_colls, db, txn, &ro, true);

	memcpy(ki.sort_colls, new_colls, sizeof(new_colls));
	lsm_table_set_key_format(relid, 2, lsm_key_collation_versions(&ki));
	table_close(rel, NoLock);
	PG_RETURN_INT64(moved);
}
