/*
 * ddl.c
 *		Checks on CREATE and ALTER of lsm_fdw tables, so that a table is
 *		refused when it is defined, not when it is first used, and so that
 *		no ALTER can make stored rows unreadable.
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "codec.h"
#include "lsm_fdw.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * The value the key option of a column has after an ALTER ... OPTIONS.
 */
static bool
key_after_options(List *options, bool current)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "key") != 0)
			continue;
		if (d->defaction == DEFELEM_DROP)
			current = false;
		else
			current = defGetBoolean(d);
	}
	return current;
}

static void
refuse(Relation rel, const char *what, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot %s column \"%s\" of lsm_fdw table \"%s\"",
					what, column, RelationGetRelationName(rel)),
			 errdetail("Stored rows of lsm_fdw tables encode their key and column types; the change would make them unreadable."),
			 errhint("Create a new foreign table and copy the rows with INSERT ... SELECT.")));
}

/*
 * Refuse ALTER subcommands that would change how stored rows are read:
 * changing a column's type, which columns form the key, or dropping a key
 * column.  Adding, renaming and dropping other columns is fine.
 */
static void
check_alter(AlterTableStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	Relation	rel;
	ListCell   *lc;

	if (!OidIsValid(relid) || !lsm_is_lsm_table(relid))
		return;
	rel = relation_open(relid, AccessShareLock);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		AttrNumber	attnum;

		if (cmd->subtype == AT_GenericOptions)
		{
			ListCell   *lo;

			foreach(lo, (List *) cmd->def)
			{
				DefElem    *d = (DefElem *) lfirst(lo);

				if (strcmp(d->defname, "key_format") == 0 ||
					strcmp(d->defname, "collation_version") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("cannot change option \"%s\" of lsm_fdw table \"%s\"",
									d->defname, RelationGetRelationName(rel)),
							 errdetail("It records how the stored keys are encoded."),
							 errhint("lsm_fdw_rebuild('%s') re-encodes the keys and records the current collation versions.",
									 RelationGetRelationName(rel))));
			}
			continue;
		}

		if (cmd->name == NULL)
			continue;
		attnum = get_attnum(relid, cmd->name);
		if (attnum == InvalidAttrNumber)
			continue;
		switch (cmd->subtype)
		{
			case AT_AlterColumnType:
				refuse(rel, "change the type of", cmd->name);
				break;
			case AT_DropColumn:
				if (lsm_column_is_key(relid, attnum))
					refuse(rel, "drop key", cmd->name);
				break;
			case AT_AlterColumnGenericOptions:
				{
					bool		cur = lsm_column_is_key(relid, attnum);

					if (key_after_options((List *) cmd->def, cur) != cur)
						refuse(rel, "change the key option of", cmd->name);
					break;
				}
			default:
				break;
		}
	}
	relation_close(rel, AccessShareLock);
}

/*
 * After CREATE FOREIGN TABLE: the table needs a key of supported types.
 * A new table gets key format 2 (text keys sort by their collation; see
 * collkey.c) unless it asks for key_format '1', and the versions of the
 * collations its keys use are recorded.
 */
static void
check_create(CreateForeignTableStmt *stmt, bool existed)
{
	Oid			relid = RangeVarGetRelid(stmt->base.relation, NoLock, true);
	Relation	rel;
	LsmKeyInfo	ki;
	int			format = 2;
	ListCell   *lc;

	if (!OidIsValid(relid) || !lsm_is_lsm_table(relid))
		return;
	foreach(lc, stmt->options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "key_format") == 0)
			format = atoi(defGetString(d));
	}
	rel = relation_open(relid, AccessShareLock);
	lsm_key_info(rel, &ki);
	if (existed)
	{
		/* IF NOT EXISTS found the table: its rows keep their format */
		relation_close(rel, AccessShareLock);
		return;
	}
	if (format >= 2)
	{
		for (int i = 0; i < ki.nkeys; i++)
		{
			Oid			base = ki.base_types[i];

			if (base != TEXTOID && base != VARCHAROID)
				continue;
			if (!lsm_collation_is_deterministic(ki.collations[i]))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("key column \"%s\" of lsm_fdw table \"%s\" has a nondeterministic collation",
								NameStr(TupleDescAttr(RelationGetDescr(rel), ki.attnums[i] - 1)->attname),
								RelationGetRelationName(rel)),
						 errdetail("Keys are unique by their encoding, which a nondeterministic collation's equality does not follow."),
						 errhint("Give the key column a deterministic collation, e.g. COLLATE \"C\" or \"und-x-icu\".")));
			ki.sort_colls[i] = lsm_sort_key_collation(ki.collations[i]);
		}
		ki.key_format = format;
	}
	lsm_table_set_key_format(relid, format,
							 format >= 2 ? lsm_key_collation_versions(&ki) : NULL);
	relation_close(rel, AccessShareLock);
}

static void
lsm_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest,
				   QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		existed = false;

	/*
	 * CREATE FOREIGN TABLE stores column options through an internal ALTER
	 * (a subcommand); only ALTERs the user wrote are checked.
	 */
	if (IsA(parsetree, AlterTableStmt) && context != PROCESS_UTILITY_SUBCOMMAND)
		check_alter((AlterTableStmt *) parsetree);
	if (IsA(parsetree, CreateForeignTableStmt) &&
		((CreateForeignTableStmt *) parsetree)->base.if_not_exists)
	{
		RangeVar   *rv = ((CreateForeignTableStmt *) parsetree)->base.relation;

		existed = OidIsValid(get_relname_relid(rv->relname,
											   RangeVarGetCreationNamespace(rv)));
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (IsA(parsetree, CreateForeignTableStmt))
		check_create((CreateForeignTableStmt *) parsetree, existed);
	if (IsA(parsetree, AlterTableStmt) && context != PROCESS_UTILITY_SUBCOMMAND)
	{
		Oid			relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation,
											 NoLock, true);

		/* engine settings are read from the table's OPTIONS file at open */
		if (OidIsValid(relid) && lsm_is_lsm_table(relid))
			lsm_table_save_settings(relid);
	}
}

void
lsm_install_ddl_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = lsm_ProcessUtility;
}
