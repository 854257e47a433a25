/*
 * direct.c
 *		Direct modify: UPDATE ... WHERE key = c and DELETE ... WHERE key = c
 *		run as one point get plus one write, with no scan node feeding the
 *		executor and no row-identity columns.
 *
 * Taken when the scan under the ModifyTable is a point get whose quals are
 * all key equalities (so the get enforces them exactly), the statement has
 * no RETURNING, no WITH CHECK OPTION and the table no row triggers, and an
 * UPDATE sets no key column.  SET expressions may use the row's columns
 * (n = n + 1): they are evaluated against the row read by the get.
 */
#include "postgres.h"

#include "access/table.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/appendinfo.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "scan_access.h"

typedef struct LsmDirectState
{
	CmdType		op;
	LsmKeyInfo	ki;
	LsmAccess	acc;			/* point get, with ExprStates */
	List	   *set_states;		/* UPDATE: ExprState per SET column */
	List	   *set_attnums;
	LsmDb	   *db;
	Oid			relid;
	LsmTxnTable *txn;
	bool		done;
	TupleTableSlot *oldslot;
	StringInfoData key;
	StringInfoData row;
	LsmBuf		valbuf;
	MemoryContextCallback cleanup;
	uint64		rows;
	LsmReadCounters *counters;	/* EXPLAIN ANALYZE only, as in scan.c */
	LsmReadCounters counters_data;
} LsmDirectState;

static bool
lsmPlanDirectModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					int subplan_index)
{
	CmdType		op = plan->operation;
	Plan	   *subplan = outerPlan(plan);
	ForeignScan *fscan;
	RangeTblEntry *rte;
	Relation	rel;
	LsmKeyInfo	ki;
	LsmAccess	acc;
	bool		triggers;
	List	   *set_exprs = NIL;
	List	   *set_attnums = NIL;
	ListCell   *lc;

	if (op != CMD_UPDATE && op != CMD_DELETE)
		return false;
	if (subplan == NULL || !IsA(subplan, ForeignScan))
		return false;
	fscan = (ForeignScan *) subplan;
	if (fscan->scan.scanrelid != resultRelation ||
		plan->returningLists != NIL || plan->withCheckOptionLists != NIL)
		return false;

	lsm_access_from_plan(fscan->fdw_private, fscan->fdw_exprs, &acc);
	if (acc.kind != LSM_ACCESS_POINT)
		return false;

	rte = planner_rt_fetch(resultRelation, root);
	rel = table_open(rte->relid, NoLock);
	triggers = rel->trigdesc &&
		(op == CMD_UPDATE
		 ? (rel->trigdesc->trig_update_before_row || rel->trigdesc->trig_update_after_row)
		 : (rel->trigdesc->trig_delete_before_row || rel->trigdesc->trig_delete_after_row));
	lsm_key_info(rel, &ki);
	table_close(rel, NoLock);
	if (triggers)
		return false;

	/* Every local qual must be a key equality the point get enforces. */
	foreach(lc, fscan->scan.plan.qual)
	{
		if (!lsm_qual_is_key_equality(root, resultRelation, &ki, (Expr *) lfirst(lc)))
			return false;
	}

	if (op == CMD_UPDATE)
	{
		List	   *tlist;
		List	   *attnums;
		ListCell   *lc2;

		get_translated_update_targetlist(root, resultRelation, &tlist, &attnums);
		forboth(lc, tlist, lc2, attnums)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);
			AttrNumber	attnum = lfirst_int(lc2);

			if (ki.is_key[attnum - 1] || contain_subplans((Node *) tle->expr))
				return false;
			set_exprs = lappend(set_exprs, tle->expr);
			set_attnums = lappend_int(set_attnums, attnum);
		}
	}

	fscan->operation = op;
	fscan->resultRelation = resultRelation;
	fscan->scan.plan.qual = NIL;
	fscan->fdw_exprs = list_concat(fscan->fdw_exprs, set_exprs);
	fscan->fdw_private = list_make2(fscan->fdw_private, set_attnums);
	return true;
}

static void
release_direct(void *arg)
{
	LsmDirectState *ds = (LsmDirectState *) arg;

	lsm_buf_free(&ds->valbuf);
}

static void
lsmBeginDirectModify(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	LsmDirectState *ds = palloc0(sizeof(LsmDirectState));
	List	   *ints = linitial(plan->fdw_private);
	List	   *states;

	node->fdw_state = ds;
	ds->op = plan->operation;
	ds->set_attnums = lsecond(plan->fdw_private);
	states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	lsm_access_from_plan(ints, states, &ds->acc);
	ds->set_states = list_copy_tail(states, ds->acc.neq);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	lsm_key_info(rel, &ds->ki);
	lsm_check_key_writable(rel, &ds->ki);
	ds->db = lsm_open_table(rel);
	ds->relid = RelationGetRelid(rel);
	ds->txn = lsm_txn_table(rel, ds->db, true);
	if (node->ss.ps.state->es_instrument != 0)
		ds->counters = &ds->counters_data;
	ds->oldslot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	initStringInfo(&ds->key);
	initStringInfo(&ds->row);
	ds->cleanup.func = release_direct;
	ds->cleanup.arg = ds;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &ds->cleanup);
}

/*
 * The key from the equalities; false when it can match no row.
 */
static bool
encode_key(LsmDirectState *ds, ExprContext *econtext)
{
	resetStringInfo(&ds->key);
	for (int i = 0; i < ds->acc.neq; i++)
	{
		ExprState  *es = (ExprState *) ds->acc.eq[i];
		bool		isnull;
		Datum		v = ExecEvalExpr(es, econtext, &isnull);
		Datum		cv;

		if (isnull ||
			lsm_coerce_key_value(ds->ki.base_types[i],
								 getBaseType(exprType((Node *) es->expr)), v, &cv) != 0)
			return false;
		lsm_key_encode(&ds->key, ds->ki.types[i], ds->ki.sort_colls[i], cv);
	}
	return true;
}

static TupleTableSlot *
lsmIterateDirectModify(ForeignScanState *node)
{
	LsmDirectState *ds = (LsmDirectState *) node->fdw_state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	TupleTableSlot *result = ExecClearTuple(node->ss.ss_ScanTupleSlot);
	LsmSlice	key;
	LsmSlice	value;
	int			t;

	if (ds->done)
		return result;
	ds->done = true;
	if (!encode_key(ds, econtext))
		return result;
	key = lsm_slice(ds->key.data, ds->key.len);

	/*
	 * The row as this transaction sees it: its own writes, else the newest
	 * committed version, read under the key's lock so that concurrent
	 * "n = n + 1" serialise (REPEATABLE READ fails on a newer version).
	 */
	lsm_lock_key(ds->relid, key);
	t = lsm_txn_lookup(ds->txn, key, lsm_txn_nops(ds->txn), &value);
	if (t == 0)
		return result;
	if (t < 0)
	{
		LsmReadOptions ro;
		LsmStatus	st;
		LsmCode		rc;
		LsmSeq		found_seq = 0;

		lsm_read_options_init(&ro);
		ro.read_seq = lsm_newest_point();
		ro.found_seq = &found_seq;
		ro.counters = ds->counters;
		rc = lsm_db_get(ds->db, &ro, key, &ds->valbuf, &st);
		if (rc == LSM_OK || rc == LSM_NOT_FOUND)
			lsm_check_serializable(ds->relid, found_seq);
		if (rc == LSM_NOT_FOUND)
			return result;
		if (rc != LSM_OK)
			lsm_report(ERROR, &st, "read the row to modify");
		value = lsm_buf_slice(&ds->valbuf);
	}
	/* an expired row is absent for every statement */
	if (lsm_row_expired(&ds->ki, ds->oldslot->tts_tupleDescriptor, value))
		return result;

	if (ds->op == CMD_DELETE)
		lsm_txn_write(ds->txn, LSM_KIND_DELETE, key, lsm_slice(NULL, 0));
	else
	{
		TupleDesc	desc = ds->oldslot->tts_tupleDescriptor;
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		bool	   *isnull = palloc(sizeof(bool) * desc->natts);
		ListCell   *lc,
				   *lc2;

		(void) lsm_store_row(ds->oldslot, &ds->ki, key, value);
		slot_getallattrs(ds->oldslot);
		memcpy(values, ds->oldslot->tts_values, sizeof(Datum) * desc->natts);
		memcpy(isnull, ds->oldslot->tts_isnull, sizeof(bool) * desc->natts);
		econtext->ecxt_scantuple = ds->oldslot;
		forboth(lc, ds->set_states, lc2, ds->set_attnums)
		{
			AttrNumber	a = lfirst_int(lc2);

			values[a - 1] = ExecEvalExpr((ExprState *) lfirst(lc), econtext, &isnull[a - 1]);
		}
		resetStringInfo(&ds->row);
		lsm_row_encode(&ds->row, desc, ds->ki.is_key, values, isnull);
		lsm_txn_write(ds->txn, LSM_KIND_PUT, key, lsm_slice(ds->row.data, ds->row.len));
	}
	ds->rows++;
	node->ss.ps.state->es_processed++;
	return result;
}

static void
lsmEndDirectModify(ForeignScanState *node)
{
	LsmDirectState *ds = (LsmDirectState *) node->fdw_state;

	if (ds == NULL || ds->db == NULL)
		return;
	release_direct(ds);
	ExecDropSingleTupleTableSlot(ds->oldslot);
	ds->oldslot = NULL;
}

static void
lsmExplainDirectModify(ForeignScanState *node, ExplainState *es)
{
	LsmDirectState *ds = (LsmDirectState *) node->fdw_state;

	ExplainPropertyText("LSM Access", "point get", es);
	ExplainPropertyText("LSM Direct Modify",
						ds->op == CMD_DELETE ? "delete by key" : "read and rewrite by key", es);
	if (es->analyze && ds->counters != NULL)
	{
		ExplainPropertyUInteger("LSM Engine Gets", NULL, ds->counters->gets, es);
		lsm_explain_read_counters(ds->counters, es);
	}
}

void
lsm_set_direct_modify_callbacks(FdwRoutine *routine)
{
	routine->PlanDirectModify = lsmPlanDirectModify;
	routine->BeginDirectModify = lsmBeginDirectModify;
	routine->IterateDirectModify = lsmIterateDirectModify;
	routine->EndDirectModify = lsmEndDirectModify;
	routine->ExplainDirectModify = lsmExplainDirectModify;
}
