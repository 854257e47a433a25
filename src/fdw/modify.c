/*
 * modify.c
 *		INSERT, UPDATE and DELETE on lsm_fdw tables.
 *
 * Writes go to the transaction's batch (xact.c) and reach the engine at
 * commit.  A row's identity is its key: UPDATE and DELETE carry the old
 * key columns as junk attributes "lsm_key_<n>".  INSERT of an existing key
 * raises unique_violation unless the table says on_duplicate 'overwrite'
 * (a blind upsert that reads nothing) or 'sum' (a blind upsert that adds
 * the numeric columns: a merge operand, rowmerge.c) or the statement says
 * ON CONFLICT DO NOTHING.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/appendinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"

typedef struct LsmModifyState
{
	Relation	rel;
	LsmKeyInfo	ki;
	LsmDb	   *db;
	LsmTxnTable *txn;
	bool		overwrite;		/* on_duplicate 'overwrite' */
	bool		sum;			/* on_duplicate 'sum' */
	bool		has_ttl;		/* sum: read and rewrite, expiry needs a read */
	int			natts;			/* sum: the table's attributes */
	int		   *typlens;
	int			nsum;			/* sum: the columns summed */
	bool		sum_commutes;	/* sum: every non-key column is summed */
	int		   *sum_attnums;
	int32	   *sum_typmods;
	LsmBuf		opbuf;			/* sum: the row's operand */
	LsmBuf		foldbuf;		/* sum: a row with it folded in */
	bool		do_nothing;		/* ON CONFLICT DO NOTHING */
	bool		scan_locked;	/* the scan locked and read each row */
	uint64		engine_gets;	/* for EXPLAIN ANALYZE */
	AttrNumber	junk_attnos[INDEX_MAX_KEYS];
	MemoryContext tmp_cxt;
	StringInfoData key;
	StringInfoData old_key;
	StringInfoData row;
	LsmBuf		valbuf;			/* malloc'd by the engine */
	MemoryContextCallback cleanup;
} LsmModifyState;

static void
release_modify(void *arg)
{
	LsmModifyState *ms = (LsmModifyState *) arg;

	lsm_buf_free(&ms->valbuf);
	lsm_buf_free(&ms->opbuf);
	lsm_buf_free(&ms->foldbuf);
}

/*
 * lsmAddForeignUpdateTargets
 *		The key columns identify the row to update or delete.
 */
static void
lsmAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
						   RangeTblEntry *target_rte, Relation target_relation)
{
	LsmKeyInfo	ki;

	lsm_key_info(target_relation, &ki);
	for (int i = 0; i < ki.nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(target_relation),
											  ki.attnums[i] - 1);
		Var		   *var = makeVar(rtindex, ki.attnums[i], att->atttypid,
								  att->atttypmod, att->attcollation, 0);

		add_row_identity_var(root, var, rtindex, psprintf("lsm_key_%d", i + 1));
	}
}

/*
 * lsmPlanForeignModify
 *		Refuse RETURNING ctid (an INSERT has no scan that would refuse it).
 *		Tell the executor whether the scan of the target locks and reads
 *		each row at its newest version (lock_rows in plan.c: the target of
 *		a statement on the table itself, not an inheritance child).
 */
static List *
lsmPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
					 Index resultRelation, int subplan_index)
{
	if (plan->returningLists != NIL)
		lsm_refuse_ctid((Node *) list_nth(plan->returningLists, subplan_index),
						resultRelation, planner_rt_fetch(resultRelation, root)->relid);
	return list_make1(makeInteger((int) resultRelation == root->parse->resultRelation));
}

/*
 * init_sum_columns
 *		What an on_duplicate 'sum' INSERT's operand describes: the typlens of
 *		every attribute and the non-key int2, int4, int8 and numeric columns
 *		it adds (domains over them are not summed: their checks would not
 *		see the sum).
 */
static void
init_sum_columns(LsmModifyState *ms)
{
	TupleDesc	desc = RelationGetDescr(ms->rel);
	int64		ttl_usecs;

	ms->natts = desc->natts;
	ms->sum_commutes = true;
	ms->typlens = palloc(sizeof(int) * desc->natts);
	ms->sum_attnums = palloc(sizeof(int) * desc->natts);
	ms->sum_typmods = palloc(sizeof(int32) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		ms->typlens[i] = att->attlen;
		if (att->attisdropped || ms->ki.is_key[i])
			continue;
		if (att->atttypid == INT2OID || att->atttypid == INT4OID ||
			att->atttypid == INT8OID || att->atttypid == NUMERICOID)
		{
			ms->sum_attnums[ms->nsum] = i + 1;
			ms->sum_typmods[ms->nsum++] = att->atttypid == NUMERICOID ? att->atttypmod : -1;
		}
		else
			ms->sum_commutes = false;
	}
	ms->has_ttl = lsm_table_ttl_column(ms->rel, &ttl_usecs) != InvalidAttrNumber;
}

/*
 * State for writing into rinfo's table; do_nothing for ON CONFLICT DO
 * NOTHING.  Nothing is opened for EXPLAIN without ANALYZE.
 */
static LsmModifyState *
init_modify_state(ResultRelInfo *rinfo, bool do_nothing, bool explain_only)
{
	LsmModifyState *ms = palloc0(sizeof(LsmModifyState));
	Relation	rel = rinfo->ri_RelationDesc;
	LsmTableSettings settings;

	rinfo->ri_FdwState = ms;
	lsm_cached_settings(rel, &settings);
	ms->overwrite = settings.overwrite_on_duplicate;
	ms->sum = settings.sum_on_duplicate;
	ms->do_nothing = do_nothing;
	if (explain_only)
		return ms;
	ms->rel = rel;
	lsm_key_info(rel, &ms->ki);
	if (ms->sum)
		init_sum_columns(ms);
	lsm_check_key_writable(rel, &ms->ki);
	ms->db = lsm_open_table(rel);
	ms->txn = lsm_txn_table(rel, ms->db, true);
	ms->tmp_cxt = AllocSetContextCreate(CurrentMemoryContext, "lsm_fdw modify",
										ALLOCSET_SMALL_SIZES);
	initStringInfo(&ms->key);
	initStringInfo(&ms->old_key);
	initStringInfo(&ms->row);
	/* Frees the engine's buffer also when the statement fails. */
	ms->cleanup.func = release_modify;
	ms->cleanup.arg = ms;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &ms->cleanup);
	return ms;
}

static void
lsmBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					  List *fdw_private, int subplan_index, int eflags)
{
	ModifyTable *plan = (ModifyTable *) mtstate->ps.plan;
	LsmModifyState *ms;

	ms = init_modify_state(rinfo, plan->onConflictAction == ONCONFLICT_NOTHING,
						   (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	ms->scan_locked = fdw_private != NIL && intVal(linitial(fdw_private)) != 0;

	if (mtstate->operation == CMD_UPDATE || mtstate->operation == CMD_DELETE)
	{
		Plan	   *subplan = outerPlanState(mtstate)->plan;

		for (int i = 0; i < ms->ki.nkeys; i++)
		{
			char	   *name = psprintf("lsm_key_%d", i + 1);

			ms->junk_attnos[i] = ExecFindJunkAttributeInTlist(subplan->targetlist, name);
			if (!AttributeNumberIsValid(ms->junk_attnos[i]))
				elog(ERROR, "could not find junk column \"%s\"", name);
		}
	}
}

/*
 * lsmBeginForeignInsert
 *		COPY FROM and rows routed into a partition use this entry point.
 */
static void
lsmBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	bool		do_nothing = false;

	if (mtstate && mtstate->ps.plan)
		do_nothing = ((ModifyTable *) mtstate->ps.plan)->onConflictAction == ONCONFLICT_NOTHING;
	(void) init_modify_state(rinfo, do_nothing, false);
}

/*
 * Does key exist, as the transaction sees it now (its own writes over the
 * newest committed state)?  Takes the key's write lock first, so that a
 * concurrent insert of the same key either committed before (and is seen
 * here) or waits for this transaction, as a unique index makes heap
 * inserts do.
 */
static bool
key_exists(LsmModifyState *ms, LsmSlice key)
{
	LsmSlice	value;
	int			t;
	LsmReadOptions ro;
	LsmStatus	st;
	LsmCode		rc;
	LsmSeq		found_seq = 0;

	lsm_lock_key(RelationGetRelid(ms->rel), key);
	t = lsm_txn_lookup(ms->txn, key, lsm_txn_nops(ms->txn), &value);
	if (t >= 0)
	{
		if (t == 0)
			return false;
		/* its own increment of a committed row: fold it to see the row */
		if (t == 2 &&
			!lsm_txn_row(ms->txn, ms->db, key, lsm_txn_nops(ms->txn), lsm_newest_point(),
						 &ms->valbuf, &value))
			return false;
		return !lsm_row_expired(&ms->ki, RelationGetDescr(ms->rel), value);
	}
	lsm_read_options_init(&ro);
	ro.read_seq = lsm_newest_point();
	ro.found_seq = &found_seq;
	rc = lsm_db_get(ms->db, &ro, key, &ms->valbuf, &st);
	if (rc == LSM_NOT_FOUND)
		return false;
	if (rc != LSM_OK)
		lsm_report(ERROR, &st, "check for an existing key");
	/* an expired row is absent: an INSERT of its key replaces it */
	if (lsm_row_expired(&ms->ki, RelationGetDescr(ms->rel), lsm_buf_slice(&ms->valbuf)))
		return false;

	/*
	 * ON CONFLICT DO NOTHING skipping a row its REPEATABLE READ snapshot
	 * does not see would hide the conflict: 40001, as heap's does.
	 */
	if (ms->do_nothing && IsolationUsesXactSnapshot() && found_seq > lsm_read_point())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
	return true;
}

/* Key of the row in slot, into ms->key; ERROR on a NULL or too-long key. */
static void
encode_slot_key(LsmModifyState *ms, TupleTableSlot *slot)
{
	slot_getallattrs(slot);
	resetStringInfo(&ms->key);
	lsm_encode_key_from_values(&ms->key, &ms->ki, ms->rel, slot->tts_values,
							   slot->tts_isnull, true);
}

/* Row of slot without its key columns, into ms->row. */
static void
encode_slot_row(LsmModifyState *ms, TupleTableSlot *slot)
{
	MemoryContext old = MemoryContextSwitchTo(ms->tmp_cxt);

	resetStringInfo(&ms->row);
	lsm_row_encode(&ms->row, RelationGetDescr(ms->rel), ms->ki.is_key,
				   slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	MemoryContextReset(ms->tmp_cxt);
}

static void
report_duplicate(LsmModifyState *ms, TupleTableSlot *slot)
{
	StringInfoData cols;
	StringInfoData vals;
	TupleDesc	desc = RelationGetDescr(ms->rel);

	initStringInfo(&cols);
	initStringInfo(&vals);
	for (int i = 0; i < ms->ki.nkeys; i++)
	{
		AttrNumber	a = ms->ki.attnums[i];
		Form_pg_attribute att = TupleDescAttr(desc, a - 1);
		Oid			out;
		bool		varlena;

		getTypeOutputInfo(att->atttypid, &out, &varlena);
		appendStringInfo(&cols, "%s%s", i ? ", " : "", NameStr(att->attname));
		appendStringInfo(&vals, "%s%s", i ? ", " : "",
						 OidOutputFunctionCall(out, slot->tts_values[a - 1]));
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("duplicate key value violates the key of lsm_fdw table \"%s\"",
					RelationGetRelationName(ms->rel)),
			 errdetail("Key (%s)=(%s) already exists.", cols.data, vals.data),
			 errhint("Use ON CONFLICT DO NOTHING to skip existing keys, or the table option on_duplicate 'overwrite' to replace them (foreign tables do not support ON CONFLICT DO UPDATE).")));
}

/*
 * Every this many summing inserts a backend checks how many operands a
 * read of the key folds; from LSM_SUM_FOLD_AT on it writes the folded row
 * instead, when it can take the key's lock exclusively without waiting
 * (as an increment does, direct.c).  Blind inserts read nothing otherwise,
 * so a hot key's pile of sum rows would grow until a compaction reached
 * its base; the check costs one get per LSM_SUM_CHECK_EVERY inserts.
 */
#define LSM_SUM_CHECK_EVERY	32
#define LSM_SUM_FOLD_AT		32

static uint64 sum_inserts = 0;	/* by this backend */

/*
 * fold_hot_sum
 *		Now and then, for a key with many operands: the row with op folded
 *		in, as a PUT; false when op is still to be written as an operand.
 */
static bool
fold_hot_sum(LsmModifyState *ms, LsmSlice key, LsmSlice op)
{
	LsmReadOptions ro;
	LsmReadCounters rcnt;
	LsmStatus	st;
	LsmCode		rc;
	LsmSlice	base;

	if (++sum_inserts % LSM_SUM_CHECK_EVERY != 0)
		return false;
	lsm_read_options_init(&ro);
	ro.read_seq = lsm_newest_point();
	memset(&rcnt, 0, sizeof(rcnt));
	ro.counters = &rcnt;
	rc = lsm_db_get(ms->db, &ro, key, &ms->valbuf, &st);
	if ((rc != LSM_OK && rc != LSM_NOT_FOUND) || rcnt.merge_operands < LSM_SUM_FOLD_AT ||
		!lsm_try_lock_key(RelationGetRelid(ms->rel), key))
		return false;
	/* read again under the lock: a sum may have committed since the get */
	ro.read_seq = lsm_newest_point();
	ro.counters = NULL;
	rc = lsm_db_get(ms->db, &ro, key, &ms->valbuf, &st);
	if (rc != LSM_OK && rc != LSM_NOT_FOUND)
		lsm_report(ERROR, &st, "read the row to sum into");
	base = lsm_buf_slice(&ms->valbuf);
	lsm_apply_increment(rc == LSM_OK ? &base : NULL, op, &ms->foldbuf);
	lsm_txn_write(ms->txn, LSM_KIND_PUT, key, lsm_buf_slice(&ms->foldbuf));
	return true;
}

/*
 * insert_sum
 *		INSERT into an on_duplicate 'sum' table: one sum row operand, blind,
 *		under the key's lock in share mode (it commutes with increments and
 *		other sums; a read-modify-write of the key waits for it).  Over the
 *		transaction's own row it folds now.  A table with a TTL reads and
 *		rewrites under the exclusive lock instead: only a read sees expiry.
 */
static void
insert_sum(LsmModifyState *ms, LsmSlice key, TupleTableSlot *slot)
{
	Oid			relid = RelationGetRelid(ms->rel);
	LsmSlice	own;
	LsmSlice	op;
	LsmStatus	st;
	int			t;

	encode_slot_row(ms, slot);
	if (!lsm_row_sum_encode(&ms->opbuf, ms->natts, ms->typlens, ms->nsum, ms->sum_attnums,
							ms->sum_typmods, lsm_slice(ms->row.data, ms->row.len)))
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	op = lsm_buf_slice(&ms->opbuf);

	if (ms->has_ttl)
	{
		LsmSlice	value;

		lsm_lock_key(relid, key);
		if (lsm_txn_row(ms->txn, ms->db, key, lsm_txn_nops(ms->txn), lsm_newest_point(),
						&ms->valbuf, &value) &&
			!lsm_row_expired(&ms->ki, RelationGetDescr(ms->rel), value))
		{
			lsm_apply_increment(&value, op, &ms->foldbuf);
			lsm_txn_write(ms->txn, LSM_KIND_PUT, key, lsm_buf_slice(&ms->foldbuf));
		}
		else
			lsm_txn_write(ms->txn, LSM_KIND_PUT, key, lsm_slice(ms->row.data, ms->row.len));
		return;
	}

	/*
	 * Sums of the same key commute only when they replace nothing: a sum
	 * that also overwrites columns is ordered by its commit, so it takes
	 * the key's strong lock (the commit windows of blind_order.c cover
	 * on_duplicate 'overwrite' INSERTs only).
	 */
	if (ms->sum_commutes)
		lsm_lock_key_shared(relid, key);
	else
		lsm_lock_key(relid, key);
	t = lsm_txn_lookup(ms->txn, key, lsm_txn_nops(ms->txn), &own);
	if (t == 0)
		lsm_txn_write(ms->txn, LSM_KIND_PUT, key, lsm_slice(ms->row.data, ms->row.len));
	else if (t == 1)
	{
		lsm_apply_increment(&own, op, &ms->foldbuf);
		lsm_txn_write(ms->txn, LSM_KIND_PUT, key, lsm_buf_slice(&ms->foldbuf));
	}
	else if (t == 2)
	{
		lsm_status_clear(&st);
		if (lsm_row_add_combine(own, op, &ms->foldbuf, &st) != LSM_OK)
			lsm_report(ERROR, &st, "combine sums");
		lsm_txn_write(ms->txn, LSM_KIND_MERGE, key, lsm_buf_slice(&ms->foldbuf));
	}
	else if (!fold_hot_sum(ms, key, op))
		lsm_txn_write(ms->txn, LSM_KIND_MERGE, key, op);
}

static TupleTableSlot *
lsmExecForeignInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					 TupleTableSlot *planSlot)
{
	LsmModifyState *ms = (LsmModifyState *) rinfo->ri_FdwState;
	LsmSlice	key;

	encode_slot_key(ms, slot);
	key = lsm_slice(ms->key.data, ms->key.len);
	/*
	 * An explicit ON CONFLICT DO NOTHING wins over on_duplicate.  A blind
	 * overwrite reads nothing and takes the key's weak lock: blind writers
	 * do not wait for each other, the later commit wins.  A transaction
	 * that also wrote Postgres data gets its lsm sequence numbers in its
	 * COMMIT callback, after Postgres already shows it committed, so it
	 * opens a commit window at PRE_COMMIT that later blind writers of the
	 * key wait for (blind_order.c): without that, a second transaction
	 * that saw it committed could commit its own overwrite of the key
	 * first, and the lsm table would keep the older value while heap keeps
	 * the newer (t/005_pgbench.pl found it when overwrites were first made
	 * weak).
	 */
	if (ms->sum && !ms->do_nothing)
	{
		insert_sum(ms, key, slot);
		return slot;
	}
	if (ms->overwrite && !ms->do_nothing)
		lsm_lock_key_blind(RelationGetRelid(ms->rel), key);
	else if (key_exists(ms, key))
	{
		if (ms->do_nothing)
			return NULL;
		report_duplicate(ms, slot);
	}
	encode_slot_row(ms, slot);
	lsm_txn_write(ms->txn, LSM_KIND_PUT, key, lsm_slice(ms->row.data, ms->row.len));
	return slot;
}

/* The old key of the row being updated or deleted, into ms->old_key. */
static void
encode_old_key(LsmModifyState *ms, TupleTableSlot *planSlot)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	resetStringInfo(&ms->old_key);
	for (int i = 0; i < ms->ki.nkeys; i++)
	{
		values[i] = ExecGetJunkAttribute(planSlot, ms->junk_attnos[i], &isnull[i]);
		if (isnull[i])
			elog(ERROR, "lsm_fdw row identity is NULL");
		lsm_key_encode(&ms->old_key, ms->ki.types[i], ms->ki.sort_colls[i], values[i]);
	}
}

static TupleTableSlot *
lsmExecForeignUpdate(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					 TupleTableSlot *planSlot)
{
	LsmModifyState *ms = (LsmModifyState *) rinfo->ri_FdwState;
	LsmSlice	key;
	LsmSlice	old_key;

	encode_old_key(ms, planSlot);
	encode_slot_key(ms, slot);
	key = lsm_slice(ms->key.data, ms->key.len);
	old_key = lsm_slice(ms->old_key.data, ms->old_key.len);
	encode_slot_row(ms, slot);

	if (!lsm_slice_eq(key, old_key))
	{
		/* A new key: the row moves, and may not land on another row. */
		if (key_exists(ms, key))
			report_duplicate(ms, slot);
		lsm_lock_key(RelationGetRelid(ms->rel), old_key);
		lsm_txn_write(ms->txn, LSM_KIND_DELETE, old_key, lsm_slice(NULL, 0));
	}
	else
		lsm_lock_key(RelationGetRelid(ms->rel), key);
	lsm_txn_write(ms->txn, LSM_KIND_PUT, key, lsm_slice(ms->row.data, ms->row.len));
	return slot;
}

static TupleTableSlot *
lsmExecForeignDelete(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					 TupleTableSlot *planSlot)
{
	LsmModifyState *ms = (LsmModifyState *) rinfo->ri_FdwState;
	LsmSlice	old_key;
	LsmSlice	value;

	encode_old_key(ms, planSlot);
	old_key = lsm_slice(ms->old_key.data, ms->old_key.len);

	ExecClearTuple(slot);
	if (ms->scan_locked && rinfo->ri_projectReturning == NULL)
	{
		/*
		 * The scan locked the key and read the row at its newest version
		 * (scan.c, lock_and_reread): it exists unless this statement
		 * deleted it already (a join that found it twice), which the
		 * transaction's own writes tell without reading the engine again.
		 */
		if (lsm_txn_lookup(ms->txn, old_key, lsm_txn_nops(ms->txn), &value) == 0)
			return NULL;
		ExecStoreAllNullTuple(slot);
	}
	else
	{
		/* The deleted row, for RETURNING. */
		ms->engine_gets++;
		if (lsm_txn_row(ms->txn, ms->db, old_key, lsm_txn_nops(ms->txn), lsm_newest_point(),
						&ms->valbuf, &value))
			(void) lsm_store_row(slot, &ms->ki, old_key, value);
	}
	lsm_lock_key(RelationGetRelid(ms->rel), old_key);
	lsm_txn_write(ms->txn, LSM_KIND_DELETE, old_key, lsm_slice(NULL, 0));
	return TupIsNull(slot) ? NULL : slot;
}

static void
lsmEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	LsmModifyState *ms = (LsmModifyState *) rinfo->ri_FdwState;

	if (ms)
		release_modify(ms);
}

/*
 * lsmExecForeignTruncate
 *		TRUNCATE is transactional: the rows disappear for this transaction
 *		now and for everyone at commit; ROLLBACK keeps them.
 */
static void
lsmExecForeignTruncate(List *rels, DropBehavior behavior, bool restart_seqs)
{
	ListCell   *lc;

	foreach(lc, rels)
	{
		Relation	rel = (Relation) lfirst(lc);
		LsmDb	   *db = lsm_open_table(rel);

		lsm_txn_truncate(lsm_txn_table(rel, db, true));
	}
}

/*
 * Batch insert: the executor hands several rows at once (not with
 * RETURNING or row triggers); each goes to the transaction like a single
 * insert, which is already an append to backend memory.
 */
static int
lsmGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	if (rinfo->ri_projectReturning != NULL ||
		(rinfo->ri_TrigDesc && rinfo->ri_TrigDesc->trig_insert_after_row))
		return 1;
	return 100;
}

static TupleTableSlot **
lsmExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
						  TupleTableSlot **slots, TupleTableSlot **planSlots,
						  int *numSlots)
{
	int			inserted = 0;

	/*
	 * The executor owns the slot array: only the count may change (rows
	 * skipped by ON CONFLICT DO NOTHING).  Batching is off whenever the
	 * returned slots would be looked at (RETURNING, row triggers).
	 */
	for (int i = 0; i < *numSlots; i++)
	{
		if (lsmExecForeignInsert(estate, rinfo, slots[i], planSlots ? planSlots[i] : NULL))
			inserted++;
	}
	*numSlots = inserted;
	return slots;
}

static int
lsmIsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

static void
lsmExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						List *fdw_private, int subplan_index, ExplainState *es)
{
	LsmModifyState *ms = (LsmModifyState *) rinfo->ri_FdwState;

	if (mtstate->operation == CMD_INSERT)
		ExplainPropertyText("LSM On Duplicate",
							ms && ms->overwrite ? "overwrite" :
							ms && ms->sum && !ms->do_nothing ? "sum" :
							(ms && ms->do_nothing ? "do nothing" : "error"), es);
	/* rows read again by the modification itself (DELETE ... RETURNING) */
	if (es->analyze && ms && mtstate->operation == CMD_DELETE)
		ExplainPropertyUInteger("LSM Engine Gets", NULL, ms->engine_gets, es);
}

void
lsm_set_modify_callbacks(FdwRoutine *routine)
{
	routine->AddForeignUpdateTargets = lsmAddForeignUpdateTargets;
	routine->PlanForeignModify = lsmPlanForeignModify;
	routine->BeginForeignModify = lsmBeginForeignModify;
	routine->ExecForeignInsert = lsmExecForeignInsert;
	routine->ExecForeignUpdate = lsmExecForeignUpdate;
	routine->ExecForeignDelete = lsmExecForeignDelete;
	routine->EndForeignModify = lsmEndForeignModify;
	routine->BeginForeignInsert = lsmBeginForeignInsert;
	routine->EndForeignInsert = lsmEndForeignModify;
	routine->IsForeignRelUpdatable = lsmIsForeignRelUpdatable;
	routine->ExplainForeignModify = lsmExplainForeignModify;
	routine->ExecForeignTruncate = lsmExecForeignTruncate;
	routine->GetForeignModifyBatchSize = lsmGetForeignModifyBatchSize;
	routine->ExecForeignBatchInsert = lsmExecForeignBatchInsert;
}
