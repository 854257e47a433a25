/*
 * explain.c
 *		EXPLAIN VERBOSE's account of what a scan pushed down to the engine:
 *		the access with the key conditions it reads by, as postgres_fdw
 *		shows its Remote SQL, e.g. "range [k >= $1 AND k < 'b']".
 *
 * The conditions are those the engine uses to pick keys; every qual is
 * also applied as a filter above it (plan.c), which EXPLAIN shows apart.
 */
#include "postgres.h"

#include "executor/execdesc.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "lsm_fdw.h"
#include "scan_access.h"

/* The expression of a value the access evaluates. */
static char *
value_text(void *state, List *dpcontext)
{
	Expr	   *expr = ((ExprState *) state)->expr;

	return deparse_expression((Node *) expr, dpcontext, true, false);
}

/*
 * lsm_explain_access
 *		Append the access of node's scan with its key conditions to buf.
 */
void
lsm_explain_access(StringInfo buf, ForeignScanState *node, const LsmAccess *acc,
				   ExplainState *es)
{
	Relation	rel = node->ss.ss_currentRelation;
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *dpcontext;
	LsmKeyInfo	ki;
	int			n = 0;
	const char *col;

	appendStringInfoString(buf, lsm_access_name(acc->kind));
	if (acc->kind == LSM_ACCESS_FULL || acc->kind == LSM_ACCESS_NONE)
		return;
	lsm_key_info(rel, &ki);
	dpcontext = set_deparse_context_plan(es->deparse_cxt, node->ss.ps.plan, NIL);
	appendStringInfoString(buf, " [");
	for (int i = 0; i < acc->neq; i++)
	{
		col = quote_identifier(NameStr(TupleDescAttr(desc, ki.attnums[i] - 1)->attname));
		appendStringInfo(buf, "%s%s = %s", n++ > 0 ? " AND " : "", col,
						 value_text(acc->eq[i], dpcontext));
	}
	if (acc->neq < ki.nkeys)
	{
		col = quote_identifier(NameStr(TupleDescAttr(desc, ki.attnums[acc->neq] - 1)->attname));
		if (acc->kind == LSM_ACCESS_MULTI || acc->kind == LSM_ACCESS_MULTI_RANGE)
			appendStringInfo(buf, "%s%s = ANY (%s)", n++ > 0 ? " AND " : "", col,
							 value_text(acc->any, dpcontext));
		if (acc->prefix)
			appendStringInfo(buf, "%s%s %s %s", n++ > 0 ? " AND " : "", col,
							 acc->prefix_is_like ? "LIKE" : "^@",
							 value_text(acc->prefix, dpcontext));
		if (acc->lower)
			appendStringInfo(buf, "%s%s %s %s", n++ > 0 ? " AND " : "", col,
							 acc->lower_incl ? ">=" : ">",
							 value_text(acc->lower, dpcontext));
		if (acc->upper)
			appendStringInfo(buf, "%s%s %s %s", n++ > 0 ? " AND " : "", col,
							 acc->upper_incl ? "<=" : "<",
							 value_text(acc->upper, dpcontext));
	}
	appendStringInfoChar(buf, ']');
}
