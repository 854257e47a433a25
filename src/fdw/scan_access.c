/*
 * scan_access.c
 *		Serialising a scan's access (scan_access.h) into plan lists.
 *
 * fdw_private holds integers; fdw_exprs holds the value expressions in a
 * fixed order: the equalities, then the array, the lower and upper bounds
 * and the prefix, each only when present.  Both lists must survive
 * copyObject, so they hold nothing else.
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "nodes/value.h"

#include "scan_access.h"

enum
{
	AI_KIND, AI_NEQ, AI_HAS_ANY, AI_HAS_LOWER, AI_LOWER_INCL, AI_HAS_UPPER,
	AI_UPPER_INCL, AI_HAS_PREFIX, AI_PREFIX_IS_LIKE, AI_REVERSE, AI_LOCK_ROWS, AI_COUNT
};

void
lsm_access_split(const LsmAccess *acc, List **ints, List **exprs)
{
	int			v[AI_COUNT];

	v[AI_KIND] = acc->kind;
	v[AI_NEQ] = acc->neq;
	v[AI_HAS_ANY] = acc->any != NULL;
	v[AI_HAS_LOWER] = acc->lower != NULL;
	v[AI_LOWER_INCL] = acc->lower_incl;
	v[AI_HAS_UPPER] = acc->upper != NULL;
	v[AI_UPPER_INCL] = acc->upper_incl;
	v[AI_HAS_PREFIX] = acc->prefix != NULL;
	v[AI_PREFIX_IS_LIKE] = acc->prefix_is_like;
	v[AI_REVERSE] = acc->reverse;
	v[AI_LOCK_ROWS] = acc->lock_rows;

	*ints = NIL;
	for (int i = 0; i < AI_COUNT; i++)
		*ints = lappend(*ints, makeInteger(v[i]));
	*exprs = NIL;
	for (int i = 0; i < acc->neq; i++)
		*exprs = lappend(*exprs, acc->eq[i]);
	if (acc->any)
		*exprs = lappend(*exprs, acc->any);
	if (acc->lower)
		*exprs = lappend(*exprs, acc->lower);
	if (acc->upper)
		*exprs = lappend(*exprs, acc->upper);
	if (acc->prefix)
		*exprs = lappend(*exprs, acc->prefix);
}

List *
lsm_access_to_list(const LsmAccess *acc)
{
	List	   *ints;
	List	   *exprs;

	lsm_access_split(acc, &ints, &exprs);
	return list_make2(ints, exprs);
}

/*
 * Rebuild an access from the integers and value items of a plan (items may
 * be ExprStates).
 */
void
lsm_access_from_plan(List *ints, List *items, LsmAccess *acc)
{
	int			v[AI_COUNT];
	int			pos = 0;
	for (int i = 0; i < AI_COUNT; i++)
		v[i] = intVal(list_nth(ints, i));

	memset(acc, 0, sizeof(*acc));
	acc->kind = (LsmAccessKind) v[AI_KIND];
	acc->neq = v[AI_NEQ];
	for (int i = 0; i < acc->neq; i++)
		acc->eq[i] = list_nth(items, pos++);
	if (v[AI_HAS_ANY])
		acc->any = list_nth(items, pos++);
	if (v[AI_HAS_LOWER])
		acc->lower = list_nth(items, pos++);
	acc->lower_incl = v[AI_LOWER_INCL];
	if (v[AI_HAS_UPPER])
		acc->upper = list_nth(items, pos++);
	acc->upper_incl = v[AI_UPPER_INCL];
	if (v[AI_HAS_PREFIX])
		acc->prefix = list_nth(items, pos++);
	acc->prefix_is_like = v[AI_PREFIX_IS_LIKE];
	acc->reverse = v[AI_REVERSE];
	acc->lock_rows = v[AI_LOCK_ROWS];
}

/* Rebuild an access from a path's fdw_private (lsm_access_to_list). */
void
lsm_access_from_list(List *list, LsmAccess *acc)
{
	lsm_access_from_plan(linitial(list), lsecond(list), acc);
}

const char *
lsm_access_name(LsmAccessKind kind)
{
	switch (kind)
	{
		case LSM_ACCESS_POINT:
			return "point get";
		case LSM_ACCESS_MULTI:
			return "multi-get";
		case LSM_ACCESS_RANGE:
			return "range";
		case LSM_ACCESS_MULTI_RANGE:
			return "multi-range";
		case LSM_ACCESS_NONE:
			return "none (the table has no key column, so no row)";
		case LSM_ACCESS_FULL:
			break;
	}
	return "full scan";
}

/*
 * lsm_access_add_attrs
 *		Append to a plan's integers the attributes the scan must decode
 *		(attrs as pull_varattnos makes them); nothing when it needs all of
 *		them (a whole-row reference), which is also what a plan without
 *		this tail means.
 */
List *
lsm_access_add_attrs(List *ints, Bitmapset *attrs)
{
	int			x = -1;

	if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
		return ints;
	/* a marker, so that a scan needing no column is told so */
	ints = lappend(ints, makeInteger(0));
	while ((x = bms_next_member(attrs, x)) >= 0)
	{
		AttrNumber	a = x + FirstLowInvalidHeapAttributeNumber;

		if (a > 0)
			ints = lappend(ints, makeInteger(a));
	}
	return ints;
}

/*
 * lsm_access_wanted_attrs
 *		The attributes of a plan's scan to decode, as flags per attribute
 *		(palloc'd); NULL when all are.
 */
bool *
lsm_access_wanted_attrs(List *ints, int natts)
{
	bool	   *wanted;

	if (list_length(ints) <= AI_COUNT)
		return NULL;
	wanted = palloc0(sizeof(bool) * Max(natts, 1));
	for (int i = AI_COUNT + 1; i < list_length(ints); i++)
	{
		int			a = intVal(list_nth(ints, i));

		if (a >= 1 && a <= natts)
			wanted[a - 1] = true;
	}
	return wanted;
}
