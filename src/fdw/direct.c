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
 *
 * An UPDATE whose every SET is an increment of an integer column
 * (c = c + e or c = c - e, e not using the row) is a blind increment:
 * it writes one merge operand (an add vector, rowmerge.c) under the key's
 * lock in ShareLock, so increments of a key neither wait for each other
 * nor fail under REPEATABLE READ, while read-modify-write writers (which
 * take the lock in ExclusiveLock) wait for them and read their sum.  The
 * command tag needs to know whether the row exists: a point get of the
 * newest committed row answers that (an increment of a missing key
 * creates nothing), and the same get lets an overflow be reported at
 * write time, as heap does.  A NULL increment falls back to the read.
 */
#include "postgres.h"

#include "access/table.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/appendinfo.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "lsm_shared.h"
#include "scan_access.h"

/*
 * An increment whose existence check folded this many operands rewrites
 * the row when it can take the key's lock exclusively.
 */
#define LSM_FOLD_OPERANDS_AT	32

typedef struct LsmDirectState
{
	CmdType		op;
	LsmKeyInfo	ki;
	LsmAccess	acc;			/* point get, with ExprStates */
	List	   *set_states;		/* UPDATE: ExprState per SET column */
	List	   *set_attnums;
	List	   *incr_signs;		/* increments: +1 or -1 per SET column, else NIL */
	bool		incr_strong;	/* the table takes blind overwrites too */
	List	   *incr_states;	/* increments: ExprState of each e */
	int			natts;
	int		   *typlens;		/* increments: attlen of every attribute */
	LsmDb	   *db;
	Oid			relid;
	LsmTxnTable *txn;
	bool		done;
	TupleTableSlot *oldslot;
	StringInfoData key;
	StringInfoData row;
	LsmBuf		valbuf;
	LsmBuf		foldbuf;		/* a row with increments folded in */
	LsmBuf		opbuf;			/* a combined add vector */
	LsmBuf		encbuf;			/* the statement's add vector */
	MemoryContextCallback cleanup;
	uint64		rows;
	bool		incremented;
	LsmReadCounters *counters;	/* EXPLAIN ANALYZE only, as in scan.c */
	LsmReadCounters counters_data;
} LsmDirectState;

static bool plan_increments(Index resultRelation, List *set_exprs, List *set_attnums,
							List **signs, List **deltas);

static bool
lsmPlanDirectModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					int subplan_index)
{
	CmdType		op = plan->operation;
	Plan	   *subplan = outerPlan(plan);
	ForeignScan *fscan;
	RangeTblEntry *rte;
	Relation	rel;
	bool		has_ttl;
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
	{
		int64		ttl_usecs;

		/*
		 * A blind increment cannot see whether the row has expired, which
		 * the command tag and the increment's target depend on: tables with
		 * a TTL take the read-and-rewrite path.
		 */
		has_ttl = lsm_table_ttl_column(rel, &ttl_usecs) != InvalidAttrNumber;
	}
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
	{
		List	   *signs = NIL;
		List	   *deltas = NIL;

		if (op == CMD_UPDATE && !has_ttl &&
			plan_increments(resultRelation, set_exprs, set_attnums, &signs, &deltas))
			fscan->fdw_exprs = list_concat(fscan->fdw_exprs, deltas);
		else
			signs = NIL;
		fscan->fdw_private = list_make3(fscan->fdw_private, set_attnums, signs);
	}
	return true;
}

/*
 * plan_increments
 *		Whether every SET expression is c = c + e or c = c - e on an integer
 *		or numeric column c, with e free of the row's columns; then +1/-1
 *		per column into *signs and each e into *deltas.  A numeric column
 *		with a typmod has its sum rounded and checked by a coercion around
 *		the addition, so it is not matched: it takes the read path.
 */
static bool
plan_increments(Index resultRelation, List *set_exprs, List *set_attnums,
				List **signs, List **deltas)
{
	ListCell   *lc,
			   *lc2;

	*signs = NIL;
	*deltas = NIL;
	if (set_exprs == NIL)
		return false;
	forboth(lc, set_exprs, lc2, set_attnums)
	{
		Expr	   *e = (Expr *) lfirst(lc);
		OpExpr	   *op;
		Var		   *v;
		int			sign;

		if (!IsA(e, OpExpr))
			return false;
		op = (OpExpr *) e;
		switch (op->opfuncid)
		{
			case F_INT2PL:
			case F_INT4PL:
			case F_INT8PL:
			case F_INT84PL:
			case F_INT82PL:
			case F_INT42PL:
			case F_NUMERIC_ADD:
				sign = 1;
				break;
			case F_INT2MI:
			case F_INT4MI:
			case F_INT8MI:
			case F_INT84MI:
			case F_INT82MI:
			case F_INT42MI:
			case F_NUMERIC_SUB:
				sign = -1;
				break;
			default:
				return false;
		}
		if (list_length(op->args) != 2 || !IsA(linitial(op->args), Var))
			return false;
		v = (Var *) linitial(op->args);
		if (v->varno != (int) resultRelation || v->varlevelsup != 0 ||
			v->varattno != lfirst_int(lc2) ||
			contain_var_clause((Node *) lsecond(op->args)) ||
			contain_subplans((Node *) lsecond(op->args)))
			return false;
		*signs = lappend_int(*signs, sign);
		*deltas = lappend(*deltas, lsecond(op->args));
	}
	return true;
}

static void
release_direct(void *arg)
{
	LsmDirectState *ds = (LsmDirectState *) arg;

	lsm_buf_free(&ds->valbuf);
	lsm_buf_free(&ds->foldbuf);
	lsm_buf_free(&ds->opbuf);
	lsm_buf_free(&ds->encbuf);
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
	ds->incr_signs = lthird(plan->fdw_private);
	states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	lsm_access_from_plan(ints, states, &ds->acc);
	ds->set_states = list_copy_tail(states, ds->acc.neq);
	if (ds->incr_signs != NIL)
	{
		ds->incr_states = list_copy_tail(ds->set_states, list_length(ds->set_attnums));
		ds->set_states = list_truncate(ds->set_states, list_length(ds->set_attnums));
	}
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	if (ds->incr_signs != NIL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		LsmTableSettings settings;

		lsm_cached_settings(rel, &settings);
		ds->incr_strong = settings.overwrite_on_duplicate;
		ds->natts = desc->natts;
		ds->typlens = palloc(sizeof(int) * desc->natts);
		for (int i = 0; i < desc->natts; i++)
			ds->typlens[i] = TupleDescAttr(desc, i)->attlen;
	}

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

/*
 * Whether the transaction's snapshot holds a row of key.  Under REPEATABLE
 * READ a row changed since the snapshot fails the write (40001) only when
 * the snapshot saw it: one inserted after it is not there for the
 * transaction, which updates or deletes nothing, as with heap tables.
 */
static bool
in_snapshot(LsmDirectState *ds, LsmSlice key)
{
	LsmReadOptions ro;
	LsmBuf		buf = LSM_BUF_INIT;
	LsmStatus	st;
	LsmCode		rc;

	lsm_read_options_init(&ro);
	ro.read_seq = lsm_read_point();
	ro.counters = ds->counters;
	rc = lsm_db_get(ds->db, &ro, key, &buf, &st);
	lsm_buf_free(&buf);
	if (rc == LSM_NOT_FOUND)
		return false;
	/* a row whose increments overflowed exists all the same */
	if (rc != LSM_OK && !(rc == LSM_INVALID_ARGUMENT && st.sys_errno == ERANGE))
		lsm_report(ERROR, &st, "read a row");
	return true;
}

/*
 * increment
 *		The blind increment of key: false when an increment is NULL (the
 *		caller then reads and rewrites the row), else true, having written
 *		the add vector when the row exists.
 */
static bool
increment(LsmDirectState *ds, ExprContext *econtext, LsmSlice key)
{
	int			n = list_length(ds->incr_signs);
	int		   *attnums = palloc(sizeof(int) * n);
	Datum	   *deltas = palloc(sizeof(Datum) * n);
	LsmSlice	op;
	LsmSlice	own;
	LsmSlice	base;
	int			i = 0;
	int			t;
	ListCell   *lc,
			   *lc2,
			   *lc3;
	int			maxatt = 0;

	forthree(lc, ds->incr_states, lc2, ds->incr_signs, lc3, ds->set_attnums)
	{
		ExprState  *es = (ExprState *) lfirst(lc);
		bool		isnull;
		Datum		d = ExecEvalExpr(es, econtext, &isnull);
		int64		v;

		if (isnull)
			return false;
		if (exprType((Node *) es->expr) == NUMERICOID)
		{
			/* NaN and infinities add as numeric's + does (rowmerge.c) */
			if (lfirst_int(lc2) < 0)
				d = DirectFunctionCall1(numeric_uminus, d);
			deltas[i] = d;
		}
		else
		{
			switch (exprType((Node *) es->expr))
			{
				case INT2OID:
					v = DatumGetInt16(d);
					break;
				case INT4OID:
					v = DatumGetInt32(d);
					break;
				default:
					v = DatumGetInt64(d);
					break;
			}
			if (lfirst_int(lc2) < 0)
			{
				if (v == PG_INT64_MIN)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("bigint out of range")));
				v = -v;
			}
			deltas[i] = Int64GetDatum(v);
		}
		/* SET lists are in attribute order, without duplicates */
		attnums[i++] = lfirst_int(lc3);
		maxatt = Max(maxatt, lfirst_int(lc3));
	}
	if (!lsm_row_add_encode(&ds->encbuf, maxatt, ds->typlens, n, attnums, deltas))
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	op = lsm_buf_slice(&ds->encbuf);

	/*
	 * An increment reads whether its row exists.  In a table that takes
	 * blind overwrites, one in progress may be creating the row: the strong
	 * lock waits for it, as the increment waited for the overwrite's strong
	 * lock before overwrites went weak.  With the weak lock, an increment
	 * that found no row while the overwrite was in progress did nothing,
	 * and its transaction's heap twin, updated after the overwrite
	 * committed, did not match (t/005_pgbench.pl).
	 */
	if (ds->incr_strong)
		lsm_lock_key(ds->relid, key);
	else
		lsm_lock_key_shared(ds->relid, key);
	t = lsm_txn_lookup(ds->txn, key, lsm_txn_nops(ds->txn), &own);
	if (t == 0)
		return true;
	if (t == 1)
	{
		/* over the transaction's own row: a plain row again */
		lsm_apply_increment(&own, op, &ds->foldbuf);
		lsm_txn_write(ds->txn, LSM_KIND_PUT, key, lsm_buf_slice(&ds->foldbuf));
	}
	else
	{
		LsmReadOptions ro;
		LsmReadCounters rcnt;
		LsmStatus	st;
		LsmCode		rc;
		LsmSeq		read_at = 0;

		/* exists?  No other transaction can delete it while we hold the lock. */
		lsm_read_options_init(&ro);
		ro.read_seq = lsm_newest_point();
		ro.read_at = &read_at;
		memset(&rcnt, 0, sizeof(rcnt));
		ro.counters = &rcnt;
		rc = lsm_db_get(ds->db, &ro, key, &ds->valbuf, &st);
		if (ds->counters != NULL)
		{
			ds->counters->gets += rcnt.gets;
			ds->counters->memtable_hits += rcnt.memtable_hits;
			ds->counters->sst_probes += rcnt.sst_probes;
			ds->counters->bloom_useful += rcnt.bloom_useful;
			ds->counters->bloom_not_useful += rcnt.bloom_not_useful;
			ds->counters->block_cache_hits += rcnt.block_cache_hits;
			ds->counters->block_reads += rcnt.block_reads;
			ds->counters->merge_operands += rcnt.merge_operands;
		}
		/* the transaction's own sum row makes a row where none is committed */
		if (rc == LSM_NOT_FOUND && !(t == 2 && lsm_row_op_creates(own)))
			return true;
		if (rc != LSM_OK && rc != LSM_NOT_FOUND)
			lsm_report(ERROR, &st, "read the row to increment");
		if (t == 2)
		{
			if (lsm_row_add_combine(own, op, &ds->opbuf, &st) != LSM_OK)
				lsm_report(ERROR, &st, "combine increments");
			op = lsm_buf_slice(&ds->opbuf);
		}
		/* an overflow known now is reported now */
		base = lsm_buf_slice(&ds->valbuf);
		lsm_apply_increment(rc == LSM_OK ? &base : NULL, op, &ds->foldbuf);

		/*
		 * Bound the operands every read of a hot key folds: when this get
		 * folded many and no other transaction holds the key's lock right
		 * now, write the folded row instead.  Read again once the lock is
		 * held: an increment may have committed since the get, and none can
		 * commit after (they need the lock too).
		 */
		if (rcnt.merge_operands >= LSM_FOLD_OPERANDS_AT &&
			lsm_try_lock_key(ds->relid, key))
		{
			ro.read_seq = lsm_newest_point();
			rc = lsm_db_get(ds->db, &ro, key, &ds->valbuf, &st);
			if (rc != LSM_OK && rc != LSM_NOT_FOUND)
				lsm_report(ERROR, &st, "read the row to increment");
			base = lsm_buf_slice(&ds->valbuf);
			lsm_apply_increment(rc == LSM_OK ? &base : NULL, op, &ds->foldbuf);
			lsm_txn_write(ds->txn, LSM_KIND_PUT, key, lsm_buf_slice(&ds->foldbuf));
		}
		else
		{
			lsm_txn_write(ds->txn, LSM_KIND_MERGE, key, op);
			if (rc == LSM_OK)
				lsm_txn_base_hint(ds->txn, key, read_at, base);
		}
	}
	ds->rows++;
	ds->incremented = true;
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

	if (ds->incr_signs != NIL && increment(ds, econtext, key))
	{
		node->ss.ps.state->es_processed += ds->rows;
		return result;
	}

	/*
	 * The row as this transaction sees it: its own writes, else the newest
	 * committed version (with the transaction's own increments), read under
	 * the key's lock so that concurrent "n = n * 2" serialise (REPEATABLE
	 * READ fails on a newer version).
	 */
	lsm_lock_key(ds->relid, key);
	t = lsm_txn_lookup(ds->txn, key, lsm_txn_nops(ds->txn), &value);
	if (t == 0)
		return result;
	if (t != 1)
	{
		LsmSlice	own = value;

		LsmReadOptions ro;
		LsmStatus	st;
		LsmCode		rc;
		LsmSeq		found_seq = 0;

		lsm_read_options_init(&ro);
		ro.read_seq = lsm_newest_point();
		ro.found_seq = &found_seq;
		ro.counters = ds->counters;
		rc = lsm_db_get(ds->db, &ro, key, &ds->valbuf, &st);
		if ((rc == LSM_OK || rc == LSM_NOT_FOUND) && t == -1 &&
			IsolationUsesXactSnapshot() && found_seq > lsm_read_point() &&
			!in_snapshot(ds, key))
			return result;		/* born after the snapshot: not there for it */
		if (rc == LSM_OK || rc == LSM_NOT_FOUND)
			lsm_check_serializable(ds->relid, found_seq);
		if (rc == LSM_NOT_FOUND && t == 2 && lsm_row_op_creates(own))
		{
			/* the transaction's own sum row over no committed row */
			lsm_apply_increment(NULL, own, &ds->foldbuf);
			if (!lsm_buf_set(&ds->valbuf, lsm_buf_slice(&ds->foldbuf).data,
							 lsm_buf_slice(&ds->foldbuf).len))
				ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			rc = LSM_OK;
			t = 1;
		}
		if (rc == LSM_NOT_FOUND)
			return result;

		/*
		 * A row whose increments overflowed cannot be read (rowmerge.c), but
		 * it can be deleted: that is the way out.
		 */
		if (ds->op == CMD_DELETE && rc == LSM_INVALID_ARGUMENT && st.sys_errno == ERANGE)
			rc = LSM_OK;
		if (rc != LSM_OK)
			lsm_report(ERROR, &st, "read the row to modify");
		value = lsm_buf_slice(&ds->valbuf);
		if (t == 2 && ds->op != CMD_DELETE)
		{
			lsm_apply_increment(&value, own, &ds->foldbuf);
			value = lsm_buf_slice(&ds->foldbuf);
		}
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
						ds->op == CMD_DELETE ? "delete by key" :
						ds->incr_signs != NIL ? "increment by key (merge operand)" :
						"read and rewrite by key", es);
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
