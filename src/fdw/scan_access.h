/*
 * scan_access.h
 *		How a scan reaches its rows: the access chosen by the planner
 *		(plan.c) and carried in the plan to the executor (scan.c).
 *
 * Value expressions are Expr at plan time and ExprState at execution time,
 * hence the untyped pointers.
 */
#ifndef LSM_SCAN_ACCESS_H
#define LSM_SCAN_ACCESS_H

#include "postgres.h"

#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"

#include "lsm_fdw.h"

typedef struct LsmAccess
{
	LsmAccessKind kind;
	int			neq;			/* leading key columns given by equality */
	void	   *eq[INDEX_MAX_KEYS];
	void	   *any;			/* MULTI: the array */
	void	   *lower;			/* RANGE: bound on key column neq */
	bool		lower_incl;
	void	   *upper;
	bool		upper_incl;
	void	   *prefix;			/* RANGE: LIKE pattern or ^@ prefix */
	bool		prefix_is_like;
	bool		reverse;		/* rows in descending key order */
	bool		lock_rows;		/* UPDATE/DELETE target: lock keys, read newest */
} LsmAccess;

/* in scan_access.c */
extern List *lsm_access_to_list(const LsmAccess *acc);
extern void lsm_access_split(const LsmAccess *acc, List **ints, List **exprs);
extern void lsm_access_from_list(List *list, LsmAccess *acc);
extern void lsm_access_from_plan(List *ints, List *items, LsmAccess *acc);
extern const char *lsm_access_name(LsmAccessKind kind);
extern List *lsm_access_add_attrs(List *ints, Bitmapset *attrs);
extern bool *lsm_access_wanted_attrs(List *ints, int natts);

/* in explain.c */
extern void lsm_explain_access(StringInfo buf, ForeignScanState *node,
							   const LsmAccess *acc, ExplainState *es);

#endif							/* LSM_SCAN_ACCESS_H */
