/*
 * plan.c
 *		Planning of scans on lsm_fdw tables: which quals on the key become
 *		point gets, multi-gets or bounded range iterators, which paths the
 *		planner gets (with key-order pathkeys and parameterized paths for
 *		joins), and their costs.
 *
 * Every qual stays in the plan as a local filter too: pushing one down only
 * narrows what the engine reads, so a qual that the engine handles in a way
 * slightly different from SQL can never produce a wrong row.
 */
#include "postgres.h"

#include "optimizer/prep.h"

#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/fdwapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"

#include "codec.h"
#include "lsm_fdw.h"
#include "scan_access.h"

/* What the quals say about each key column. */
typedef struct LsmColQuals
{
	Expr	   *eq;				/* column = eq */
	Expr	   *any;			/* column = ANY(any) */
	Expr	   *lower;
	bool		lower_incl;
	Expr	   *upper;
	bool		upper_incl;
	Expr	   *prefix;			/* LIKE prefix% or ^@ prefix */
	bool		prefix_is_like;
} LsmColQuals;

typedef struct LsmPlanInfo
{
	LsmKeyInfo	ki;
	bool		nokey;			/* the table has no key column */
	double		table_rows;		/* estimate of live rows */
	LsmColQuals cols[INDEX_MAX_KEYS];
} LsmPlanInfo;

/*
 * The btree opfamily that orders a key column; InvalidOid when none.
 */
static Oid
key_opfamily(Oid typid)
{
	Oid			opclass = GetDefaultOpClass(typid, BTREE_AM_OID);

	return OidIsValid(opclass) ? get_opclass_family(opclass) : InvalidOid;
}

/*
 * May a value of valtype be compared to key column coltype by the engine?
 * The same type always; integers of any width (the executor range-checks);
 * text and varchar, which share a representation.
 */
static bool
value_type_compatible(Oid coltype, Oid valtype)
{
	if (coltype == valtype)
		return true;
	if ((coltype == INT2OID || coltype == INT4OID || coltype == INT8OID) &&
		(valtype == INT2OID || valtype == INT4OID || valtype == INT8OID))
		return true;
	if ((coltype == TEXTOID || coltype == VARCHAROID) &&
		(valtype == TEXTOID || valtype == VARCHAROID))
		return true;
	return false;
}

/* Strip binary-compatible relabelling around a Var. */
static Node *
strip_relabel(Node *n)
{
	while (n && IsA(n, RelabelType))
		n = (Node *) ((RelabelType *) n)->arg;
	return n;
}

/*
 * If n is a Var of baserel that is a key column, return its key index.
 */
static int
key_column_of(RelOptInfo *baserel, const LsmKeyInfo *ki, Node *n)
{
	Var		   *var = (Var *) strip_relabel(n);

	if (var == NULL || !IsA(var, Var) || var->varno != (int) baserel->relid ||
		var->varlevelsup != 0)
		return -1;
	for (int i = 0; i < ki->nkeys; i++)
		if (ki->attnums[i] == var->varattno)
			return i;
	return -1;
}

/*
 * Is expr usable as a key value when scanning baserel: it must not refer to
 * baserel, and it must not be volatile.  Outer relations are allowed when
 * outer_ok (parameterized paths).
 */
static bool
is_value_expr(RelOptInfo *baserel, Node *expr, bool outer_ok)
{
	Relids		relids = pull_varnos(NULL, expr);

	if (bms_is_member(baserel->relid, relids))
		return false;
	if (!outer_ok && !bms_is_empty(relids))
		return false;
	if (contain_volatile_functions(expr))
		return false;
	return true;
}

/*
 * Record what one qual says about a key column in pi; returns the key
 * column it constrains, or -1 when it constrains none.
 */
static int
classify_qual(RelOptInfo *baserel, LsmPlanInfo *pi, Expr *clause, bool outer_ok)
{
	const LsmKeyInfo *ki = &pi->ki;

	/* stored sort keys may not be today's: nothing but full scans */
	if (ki->stale)
		return -1;

	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *left = linitial(op->args);
		Node	   *right = lsecond(op->args);
		int			col;
		Node	   *val;
		bool		commuted = false;
		Oid			opfamily;
		int			strategy;
		LsmColQuals *cq;
		Oid			funcid = get_opcode(op->opno);

		col = key_column_of(baserel, ki, left);
		val = right;
		if (col < 0)
		{
			col = key_column_of(baserel, ki, right);
			val = left;
			commuted = true;
		}
		if (col < 0 || !is_value_expr(baserel, val, outer_ok))
			return -1;
		cq = &pi->cols[col];

		/*
		 * LIKE 'prefix%' and ^@ on text: a byte-prefix range, when the
		 * column's keys are its bytes (a sort key orders "ab" < "Ab" < "ac"
		 * in most collations: no prefix range).
		 */
		if (!commuted && (funcid == F_TEXTLIKE || funcid == F_STARTS_WITH) &&
			(ki->base_types[col] == TEXTOID || ki->base_types[col] == VARCHAROID))
		{
			if (OidIsValid(ki->sort_colls[col]))
				return -1;
			if (cq->prefix == NULL)
			{
				cq->prefix = (Expr *) val;
				cq->prefix_is_like = (funcid == F_TEXTLIKE);
			}
			return col;
		}

		if (!value_type_compatible(ki->base_types[col], getBaseType(exprType(val))))
			return -1;
		opfamily = key_opfamily(ki->types[col]);
		if (!OidIsValid(opfamily))
			return -1;
		strategy = get_op_opfamily_strategy(op->opno, opfamily);
		if (strategy == 0)
			return -1;
		if (commuted)
		{
			if (strategy == BTLessStrategyNumber)
				strategy = BTGreaterStrategyNumber;
			else if (strategy == BTLessEqualStrategyNumber)
				strategy = BTGreaterEqualStrategyNumber;
			else if (strategy == BTGreaterStrategyNumber)
				strategy = BTLessStrategyNumber;
			else if (strategy == BTGreaterEqualStrategyNumber)
				strategy = BTLessEqualStrategyNumber;
		}
		if (strategy == BTEqualStrategyNumber)
		{
			if (OidIsValid(op->inputcollid) &&
				!get_collation_isdeterministic(op->inputcollid))
				return -1;
			if (cq->eq == NULL)
				cq->eq = (Expr *) val;
			return col;
		}

		/* Ranges need byte order = SQL order. */
		{
			bool		ordered;

			if (!lsm_key_type_supported(ki->types[col], &ordered) || !ordered)
				return -1;
			if (!lsm_key_order_usable(ki, col, op->inputcollid))
				return -1;
		}
		if ((strategy == BTGreaterStrategyNumber ||
			 strategy == BTGreaterEqualStrategyNumber) && cq->lower == NULL)
		{
			cq->lower = (Expr *) val;
			cq->lower_incl = (strategy == BTGreaterEqualStrategyNumber);
		}
		else if ((strategy == BTLessStrategyNumber ||
				  strategy == BTLessEqualStrategyNumber) && cq->upper == NULL)
		{
			cq->upper = (Expr *) val;
			cq->upper_incl = (strategy == BTLessEqualStrategyNumber);
		}
		return col;
	}

	if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;
		Node	   *left = linitial(saop->args);
		Node	   *right = lsecond(saop->args);
		int			col = key_column_of(baserel, ki, left);
		Oid			opfamily;
		Oid			elemtype;

		if (col < 0 || !saop->useOr || !is_value_expr(baserel, right, outer_ok))
			return -1;
		elemtype = get_element_type(exprType(right));
		if (!OidIsValid(elemtype) ||
			!value_type_compatible(ki->base_types[col], getBaseType(elemtype)))
			return -1;
		opfamily = key_opfamily(ki->types[col]);
		if (!OidIsValid(opfamily) ||
			get_op_opfamily_strategy(saop->opno, opfamily) != BTEqualStrategyNumber)
			return -1;
		if (OidIsValid(saop->inputcollid) &&
			!get_collation_isdeterministic(saop->inputcollid))
			return -1;
		if (pi->cols[col].any == NULL)
			pi->cols[col].any = (Expr *) right;
		return col;
	}
	return -1;
}

/*
 * lsm_qual_is_key_equality
 *		Is qual "key column = value" on a column of relid's key, a qual that
 *		a point get on that value enforces exactly?  Direct modify uses this
 *		to drop such quals from the local filter.
 */
bool
lsm_qual_is_key_equality(PlannerInfo *root, Index relid, const LsmKeyInfo *ki,
						 Expr *qual)
{
	LsmPlanInfo *pi = palloc0(sizeof(LsmPlanInfo));
	RelOptInfo *baserel = find_base_rel(root, relid);
	int			col;

	pi->ki = *ki;
	col = classify_qual(baserel, pi, qual, false);
	return col >= 0 && pi->cols[col].eq != NULL;
}

/*
 * Choose the access for the classified quals: as many leading equalities
 * as there are, then a multi-get, a bound or a prefix on the next column.
 */
static void
choose_access(const LsmPlanInfo *pi, LsmAccess *acc)
{
	const LsmKeyInfo *ki = &pi->ki;
	int			n = 0;

	memset(acc, 0, sizeof(*acc));
	while (n < ki->nkeys && pi->cols[n].eq != NULL)
	{
		acc->eq[n] = pi->cols[n].eq;
		n++;
	}
	acc->neq = n;
	if (n == ki->nkeys)
	{
		acc->kind = LSM_ACCESS_POINT;
		return;
	}
	if (pi->cols[n].any != NULL)
	{
		/* the keys themselves, or the range of keys under each value */
		acc->kind = n + 1 == ki->nkeys ? LSM_ACCESS_MULTI : LSM_ACCESS_MULTI_RANGE;
		acc->any = pi->cols[n].any;
		return;
	}
	if (pi->cols[n].lower || pi->cols[n].upper)
	{
		acc->kind = LSM_ACCESS_RANGE;
		acc->lower = pi->cols[n].lower;
		acc->lower_incl = pi->cols[n].lower_incl;
		acc->upper = pi->cols[n].upper;
		acc->upper_incl = pi->cols[n].upper_incl;
		return;
	}
	if (pi->cols[n].prefix)
	{
		acc->kind = LSM_ACCESS_RANGE;
		acc->prefix = pi->cols[n].prefix;
		acc->prefix_is_like = pi->cols[n].prefix_is_like;
		return;
	}
	acc->kind = n > 0 ? LSM_ACCESS_RANGE : LSM_ACCESS_FULL;
}

/* Rows an access returns, for costing. */
static double
access_rows(const LsmPlanInfo *pi, const LsmAccess *acc, double restricted_rows)
{
	switch (acc->kind)
	{
		case LSM_ACCESS_POINT:
			return 1;
		case LSM_ACCESS_MULTI:
			if (IsA(acc->any, Const) && !((Const *) acc->any)->constisnull)
				return Max(1, estimate_array_length((Node *) acc->any));
			return 10;
		case LSM_ACCESS_RANGE:
		case LSM_ACCESS_MULTI_RANGE:
			return Max(1, Min(pi->table_rows, restricted_rows * 2));
		case LSM_ACCESS_FULL:
		default:
			return Max(1, pi->table_rows);
	}
}

/*
 * Cost of reading rows through the engine.  A point get costs about as
 * much as a cached heap index probe; sequential reads are cheap per row.
 */
static void
access_cost(const LsmAccess *acc, double rows_read, Cost *startup, Cost *total)
{
	switch (acc->kind)
	{
		case LSM_ACCESS_POINT:
			*startup = 0;
			*total = 0.5 + cpu_tuple_cost;
			break;
		case LSM_ACCESS_MULTI:
			*startup = 0;
			*total = rows_read * (0.5 + cpu_tuple_cost);
			break;
		case LSM_ACCESS_MULTI_RANGE:
			/* one seek per value */
			*startup = 0.5;
			*total = (IsA(acc->any, Const) && !((Const *) acc->any)->constisnull
					  ? Max(1, estimate_array_length((Node *) acc->any)) : 10) * 0.5 +
				rows_read * (cpu_tuple_cost + 0.01);
			break;
		case LSM_ACCESS_RANGE:
			*startup = 0.5;
			*total = 0.5 + rows_read * (cpu_tuple_cost + 0.01);
			break;
		case LSM_ACCESS_FULL:
		default:
			*startup = 1;
			*total = 1 + rows_read * (cpu_tuple_cost + 0.01);
			break;
	}
}

/*
 * Pathkeys for rows in key order (or its reverse), as far as the planner
 * has equivalence classes for the key columns; NIL when none are useful.
 */
static List *
key_order_pathkeys(PlannerInfo *root, RelOptInfo *baserel, const LsmKeyInfo *ki,
				   bool reverse)
{
	List	   *pathkeys = NIL;

	for (int i = 0; i < ki->nkeys; i++)
	{
		bool		ordered;
		Oid			opfamily = key_opfamily(ki->types[i]);
		Oid			opcintype;
		Oid			opno;
		Var		   *var;
		List	   *pk;

		if (!lsm_key_type_supported(ki->types[i], &ordered) || !ordered ||
			!OidIsValid(opfamily))
			break;
		if (!lsm_key_order_usable(ki, i, ki->collations[i]))
			break;
		/* varchar and domains use the operators of their opclass's type */
		opcintype = get_opclass_input_type(GetDefaultOpClass(ki->types[i], BTREE_AM_OID));
		opno = get_opfamily_member(opfamily, opcintype, opcintype,
								   reverse ? BTGreaterStrategyNumber : BTLessStrategyNumber);
		if (!OidIsValid(opno))
			break;
		var = makeVar(baserel->relid, ki->attnums[i], ki->types[i], -1,
					  ki->collations[i], 0);
		pk = build_expression_pathkey(root, (Expr *) var, NULL, opno,
									  baserel->relids, false);
		if (pk == NIL)
			break;

		/*
		 * A column equal to a constant orders nothing: leave its pathkey out,
		 * as the planner does for indexes, so "WHERE a = 1 ORDER BY b" matches.
		 */
		if (EC_MUST_BE_REDUNDANT(((PathKey *) linitial(pk))->pk_eclass))
			continue;
		pathkeys = list_concat(pathkeys, pk);
	}
	return pathkeys;
}

/*
 * Rows in a table never analyzed, from the engine's counts: entries of the
 * SSTables less their tombstones (each usually hides one older entry), plus
 * the memtable at ~100 bytes a row, at least 1000.  Overwritten keys are counted more than
 * once until compaction; ANALYZE gives the real figure.
 */
static double
engine_row_estimate(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	LsmDbStats	s;
	double		rows = 0;

	if (!RelationIsValid(rel))
		return 1000;
	PG_TRY();
	{
		lsm_db_stats(lsm_open_table(rel), &s);
	}
	PG_FINALLY();
	{
		RelationClose(rel);
	}
	PG_END_TRY();
	for (int i = 0; i < LSM_NUM_LEVELS; i++)
		rows += (double) s.entries_per_level[i] - 2.0 * (double) s.tombstones_per_level[i];
	rows = Max(rows, 0) + (double) s.memtable_bytes / 100.0;

	/*
	 * Small counts are not trusted (data may sit in a large memtable whose
	 * rows are bigger or smaller than guessed): below 1000 rows, plan as
	 * for 1000, which keeps point-get nested loops for joins.
	 */
	return Max(rows, 1000);
}

/*
 * ctid_refused
 *		ERROR: a statement refers to the ctid of lsm table relid.
 *
 * An lsm row has no tuple identifier: every row of a scan would carry the
 * same invalid ctid, so "WHERE ctid = $1", which postgres_fdw sends for the
 * UPDATE and DELETE it cannot push down whole, would match every row.
 * Refusing every reference at plan time is the only safe answer.
 */
static void
ctid_refused(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("lsm_fdw table \"%s\" has no ctid", get_rel_name(relid)),
			 errdetail("Rows of lsm_fdw tables have no tuple identifier."),
			 errhint("Rows of lsm_fdw tables are addressed by their key columns.")));
}

/*
 * lsm_refuse_ctid
 *		ERROR when node refers to the ctid of relation varno.
 */
void
lsm_refuse_ctid(Node *node, Index varno, Oid relid)
{
	Bitmapset  *attrs = NULL;

	pull_varattnos(node, varno, &attrs);
	if (bms_is_member(SelfItemPointerAttributeNumber - FirstLowInvalidHeapAttributeNumber,
					  attrs))
		ctid_refused(relid);
}

/*
 * Refuse a scan that would return or test ctid.
 *
 * A table scanned on its own may not mention ctid anywhere.  A child of an
 * inheritance tree or partitioned table gets the parent's ctid when the
 * parent has a row mark (SELECT ... FOR UPDATE on a heap parent) or the
 * query selects it; there the invalid ctid of our rows is harmless, since
 * it equals no heap row's and any qual on it reaching our table is refused
 * here, so only its use in a join clause or a restriction qual is.
 */
static void
refuse_ctid_in_scan(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	RelOptInfo *top = baserel;
	ListCell   *lc;

	/* a table's child; not a branch of a UNION ALL, whose parent is a subquery */
	if (IS_OTHER_REL(baserel) && bms_membership(baserel->top_parent_relids) == BMS_SINGLETON)
	{
		RelOptInfo *parent = find_base_rel(root, bms_singleton_member(baserel->top_parent_relids));

		if (parent->rtekind == RTE_RELATION)
			top = parent;
	}
	if (top->attr_needed)
	{
		Relids		needed = top->attr_needed[SelfItemPointerAttributeNumber - top->min_attr];

		if (top == baserel ? !bms_is_empty(needed)
			: !bms_is_subset(needed, bms_make_singleton(0)))
			ctid_refused(relid);
	}
	if (top == baserel)
		lsm_refuse_ctid((Node *) baserel->reltarget->exprs, baserel->relid, relid);
	foreach(lc, baserel->baserestrictinfo)
		lsm_refuse_ctid((Node *) ((RestrictInfo *) lfirst(lc))->clause,
						baserel->relid, relid);
}

/*
 * lsmGetForeignRelSize
 *		Check the table's key, classify the restriction quals and estimate
 *		the rows the scan returns.
 */
void
lsmGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	LsmPlanInfo *pi = palloc0(sizeof(LsmPlanInfo));
	LsmAccess	acc;
	ListCell   *lc;
	Relation	rel;

	/*
	 * A table without key (pg_dump creates one before its ALTERs add the
	 * key) cannot hold a row: reading it returns none, so that a dump with
	 * --include-foreign-data of such a table does not fail.  Writes are
	 * refused (modify.c, direct.c).
	 */
	rel = table_open(foreigntableid, NoLock);
	pi->nokey = !lsm_key_info_if_any(rel, &pi->ki);
	table_close(rel, NoLock);
	baserel->fdw_private = pi;
	if (pi->nokey)
	{
		baserel->rows = 1;
		baserel->tuples = 0;
		return;
	}

	refuse_ctid_in_scan(root, baserel, foreigntableid);

	pi->table_rows = baserel->tuples >= 0 ? Max(baserel->tuples, 1)
		: engine_row_estimate(foreigntableid);

	foreach(lc, baserel->baserestrictinfo)
		classify_qual(baserel, pi, ((RestrictInfo *) lfirst(lc))->clause, false);
	choose_access(pi, &acc);

	baserel->rows = clamp_row_est(pi->table_rows *
								  clauselist_selectivity(root,
														 baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
	if (acc.kind == LSM_ACCESS_POINT)
		baserel->rows = 1;
	baserel->tuples = pi->table_rows;
	baserel->fdw_private = pi;
}

/* Callback for generate_implied_equalities_for_column: our key column? */
static bool
ec_member_is_key_column(PlannerInfo *root, RelOptInfo *rel,
						EquivalenceClass *ec, EquivalenceMember *em, void *arg)
{
	AttrNumber	attnum = *(AttrNumber *) arg;
	Var		   *var = (Var *) strip_relabel((Node *) em->em_expr);

	return var && IsA(var, Var) && var->varno == (int) rel->relid &&
		var->varattno == attnum && var->varlevelsup == 0;
}

/*
 * Add a parameterized path that uses join clause rinfo on key column col,
 * on top of the restriction quals, when it yields a point get or a range
 * on a key prefix.
 */
static void
add_param_path(PlannerInfo *root, RelOptInfo *baserel, LsmPlanInfo *pi,
			   RestrictInfo *rinfo)
{
	LsmPlanInfo local = *pi;
	LsmAccess	acc;
	int			col;
	Relids		required_outer;
	double		rows;
	Cost		startup,
				total;
	ParamPathInfo *ppi;

	for (int i = 0; i < local.ki.nkeys; i++)
	{
		local.cols[i].any = NULL;	/* multi-get only for restriction quals */
	}
	col = classify_qual(baserel, &local, rinfo->clause, true);
	if (col < 0 || local.cols[col].eq == NULL || pi->cols[col].eq != NULL)
		return;
	choose_access(&local, &acc);
	if (acc.kind != LSM_ACCESS_POINT &&
		!(acc.kind == LSM_ACCESS_RANGE && acc.neq > col))
		return;

	required_outer = bms_difference(rinfo->clause_relids, baserel->relids);
	if (bms_is_empty(required_outer))
		return;
	ppi = get_baserel_parampathinfo(root, baserel, required_outer);
	rows = acc.kind == LSM_ACCESS_POINT ? 1 : Max(1, ppi->ppi_rows);
	access_cost(&acc, rows, &startup, &total);
	total += rows * baserel->baserestrictcost.per_tuple;
	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, rows, startup, total,
									 NIL, required_outer, NULL,
									 lsm_access_to_list(&acc)));
}

/*
 * lsmGetForeignPaths
 *		The path for the restriction quals (with key-order pathkeys when it
 *		reads a range), a reverse-order path when the query wants
 *		descending key order, and parameterized paths for join clauses on
 *		the key.
 */
void
lsmGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	LsmPlanInfo *pi = (LsmPlanInfo *) baserel->fdw_private;
	LsmAccess	acc;
	double		rows_read;
	Cost		startup,
				total;
	List	   *pathkeys = NIL;
	ListCell   *lc;

	if (pi->nokey)
	{
		memset(&acc, 0, sizeof(acc));
		acc.kind = LSM_ACCESS_NONE;
		add_path(baserel, (Path *)
				 create_foreignscan_path(root, baserel, NULL, 1, 0, 0, NIL, NULL,
										 NULL, lsm_access_to_list(&acc)));
		return;
	}
	choose_access(pi, &acc);
	rows_read = access_rows(pi, &acc, baserel->rows);
	access_cost(&acc, rows_read, &startup, &total);
	total += rows_read * baserel->baserestrictcost.per_tuple;

	if (acc.kind == LSM_ACCESS_FULL || acc.kind == LSM_ACCESS_RANGE ||
		acc.kind == LSM_ACCESS_MULTI_RANGE)
		pathkeys = key_order_pathkeys(root, baserel, &pi->ki, false);
	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 startup, total, pathkeys, NULL, NULL,
									 lsm_access_to_list(&acc)));

	if ((acc.kind == LSM_ACCESS_FULL || acc.kind == LSM_ACCESS_RANGE ||
		 acc.kind == LSM_ACCESS_MULTI_RANGE) &&
		root->query_pathkeys != NIL)
	{
		List	   *rev = key_order_pathkeys(root, baserel, &pi->ki, true);

		if (rev != NIL && linitial(rev) == linitial(root->query_pathkeys))
		{
			acc.reverse = true;
			add_path(baserel, (Path *)
					 create_foreignscan_path(root, baserel, NULL, baserel->rows,
											 startup, total, rev, NULL, NULL,
											 lsm_access_to_list(&acc)));
			acc.reverse = false;
		}
	}

	if (acc.kind == LSM_ACCESS_POINT)
		return;

	/* Join clauses written on the key ... */
	foreach(lc, baserel->joininfo)
	{
		RestrictInfo *rinfo = (RestrictInfo *) lfirst(lc);

		if (join_clause_is_movable_to(rinfo, baserel))
			add_param_path(root, baserel, pi, rinfo);
	}
	/* ... and those implied by equivalence classes. */
	for (int i = 0; i < pi->ki.nkeys; i++)
	{
		List	   *clauses;

		clauses = generate_implied_equalities_for_column(root, baserel,
														 ec_member_is_key_column,
														 (void *) &pi->ki.attnums[i],
														 baserel->lateral_referencers);
		foreach(lc, clauses)
		{
			RestrictInfo *rinfo = (RestrictInfo *) lfirst(lc);

			if (join_clause_is_movable_to(rinfo, baserel))
				add_param_path(root, baserel, pi, rinfo);
		}
	}
}

/*
 * lsmGetForeignPlan
 *		Every qual stays a local filter; the access's value expressions go
 *		to fdw_exprs so the executor evaluates them (parameters included).
 */
ForeignScan *
lsmGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				  ForeignPath *best_path, List *tlist, List *scan_clauses,
				  Plan *outer_plan)
{
	LsmAccess	acc;
	List	   *fdw_exprs;
	List	   *fdw_private;
	PlanRowMark *rowmark;
	Bitmapset  *attrs = NULL;

	lsm_access_from_list(best_path->fdw_private, &acc);

	/*
	 * The rows an UPDATE or DELETE (or FOR UPDATE) reads are locked and
	 * read again at their newest committed version, so that concurrent
	 * read-modify-writes of a key serialise instead of losing updates.
	 */
	rowmark = get_plan_rowmark(root->rowMarks, baserel->relid);
	acc.lock_rows = ((int) baserel->relid == root->parse->resultRelation &&
					 (root->parse->commandType == CMD_UPDATE ||
					  root->parse->commandType == CMD_DELETE)) ||
		(rowmark != NULL && rowmark->strength != LCS_NONE);
	lsm_access_split(&acc, &fdw_private, &fdw_exprs);

	scan_clauses = extract_actual_clauses(scan_clauses, false);

	/*
	 * A multi-get over every key column returns exactly the rows whose key
	 * is in the array, so its "= ANY (array)" is not checked again: with a
	 * parameter for the array (a generic plan) Postgres cannot hash it, and
	 * the check searched the whole array for every row (40k keys: 2-6 s).
	 */
	if (acc.kind == LSM_ACCESS_MULTI)
	{
		ListCell   *lc;

		foreach(lc, scan_clauses)
		{
			Node	   *c = lfirst(lc);

			if (IsA(c, ScalarArrayOpExpr) &&
				(Expr *) lsecond(((ScalarArrayOpExpr *) c)->args) == acc.any)
				scan_clauses = foreach_delete_current(scan_clauses, lc);
		}
	}

	/*
	 * Projection: the scan decodes only the columns the query reads, in
	 * its output or in the quals it checks (all when it needs the whole
	 * row, as an UPDATE does).
	 */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	pull_varattnos((Node *) scan_clauses, baserel->relid, &attrs);
	fdw_private = lsm_access_add_attrs(fdw_private, attrs);
	return make_foreignscan(tlist, scan_clauses, baserel->relid, fdw_exprs,
							fdw_private, NIL, NIL, outer_plan);
}
