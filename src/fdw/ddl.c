/*
 * ddl.c
 *		Checks on CREATE and ALTER of lsm_fdw tables, so that a table is
 *		refused when it is defined, not when it is first used, and so that
 *		no ALTER can make stored rows unreadable.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
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
 * column.  Adding, renaming and dropping other columns is fine.  The key
 * may be chosen while the table has never stored a row: pg_dump creates a
 * table without column options and adds them by ALTER.
 */
static void
check_alter(AlterTableStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	Relation	rel;
	ListCell   *lc;
	LOCKMODE	lockmode = AccessShareLock;

	if (!OidIsValid(relid) || !lsm_is_lsm_table(relid))
		return;

	/*
	 * Whether the table holds rows is only stable under the lock the ALTER
	 * takes for a change of column options anyway.
	 */
	foreach(lc, stmt->cmds)
	{
		if (((AlterTableCmd *) lfirst(lc))->subtype == AT_AlterColumnGenericOptions)
			lockmode = AccessExclusiveLock;
	}
	rel = relation_open(relid, lockmode);
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
				if (lsm_table_ttl_column(rel, NULL) == attnum)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("cannot drop column \"%s\" of lsm_fdw table \"%s\": it is the table's ttl_column",
									cmd->name, RelationGetRelationName(rel)),
							 errhint("Drop the option first: ALTER FOREIGN TABLE %s OPTIONS (DROP ttl_column).",
									 RelationGetRelationName(rel))));
				break;
			case AT_AlterColumnGenericOptions:
				{
					bool		cur = lsm_column_is_key(relid, attnum);

					if (key_after_options((List *) cmd->def, cur) != cur &&
						lsm_table_has_data(rel))
						refuse(rel, "change the key option of", cmd->name);
					break;
				}
			default:
				break;
		}
	}
	relation_close(rel, NoLock);
}

/* Whether an ALTER sets, changes or drops the key option of a column. */
static bool
alters_key(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		ListCell   *lo;

		if (cmd->subtype != AT_AlterColumnGenericOptions)
			continue;
		foreach(lo, (List *) cmd->def)
			if (strcmp(((DefElem *) lfirst(lo))->defname, "key") == 0)
				return true;
	}
	return false;
}

static void record_key_format(Relation rel, LsmKeyInfo *ki, int format);

/*
 * After an ALTER that may have chosen key columns: their types must have a
 * key encoding, as at CREATE.  When the ALTER changed the key (check_alter
 * allows that only while the table holds no row), the versions of the
 * collations the new key uses are recorded, under the table's key format.
 */
static void
check_key_types(Oid relid, bool key_changed)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	LsmKeyInfo	ki;

	if (lsm_key_info_try(rel, &ki) && key_changed)
	{
		char	   *recorded;

		record_key_format(rel, &ki, lsm_table_key_format(relid, &recorded));
	}
	relation_close(rel, AccessShareLock);
}

/*
 * Record how the table's keys are encoded: key format 2 (text keys sort by
 * their collation; see collkey.c) unless the table asks for key_format '1',
 * with the versions of the collations whose sort keys its keys hold.  Done
 * when the key is chosen, while the table holds no row: at CREATE, or at the
 * ALTER that gives key options to a table created without them (pg_dump
 * writes its tables that way).
 */
static void
record_key_format(Relation rel, LsmKeyInfo *ki, int format)
{
	if (format >= 2)
	{
		for (int i = 0; i < ki->nkeys; i++)
		{
			Oid			base = ki->base_types[i];

			if (base != TEXTOID && base != VARCHAROID)
				continue;
			if (!lsm_collation_is_deterministic(ki->collations[i]))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("key column \"%s\" of lsm_fdw table \"%s\" has a nondeterministic collation",
								NameStr(TupleDescAttr(RelationGetDescr(rel), ki->attnums[i] - 1)->attname),
								RelationGetRelationName(rel)),
						 errdetail("Keys are unique by their encoding, which a nondeterministic collation's equality does not follow."),
						 errhint("Give the key column a deterministic collation, e.g. COLLATE \"C\" or \"und-x-icu\".")));
			ki->sort_colls[i] = lsm_sort_key_collation(ki->collations[i]);
		}
		ki->key_format = format;
	}
	lsm_table_set_key_format(RelationGetRelid(rel), format,
							 format >= 2 ? lsm_key_collation_versions(ki) : NULL);
}

/*
 * After CREATE FOREIGN TABLE: key columns must have supported types, and
 * the key format is recorded.  A table without key is accepted (pg_dump
 * adds column options by ALTER), but cannot be used until it has one; its
 * collation versions are recorded then.
 */
static void
check_create(CreateForeignTableStmt *stmt, bool existed)
{
	Oid			relid = RangeVarGetRelid(stmt->base.relation, NoLock, true);
	Relation	rel;
	LsmKeyInfo	ki;
	int			format = 2;
	ListCell   *lc;

	/* IF NOT EXISTS found the table: its rows keep their format */
	if (existed || !OidIsValid(relid) || !lsm_is_lsm_table(relid))
		return;
	foreach(lc, stmt->options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "key_format") == 0)
			format = atoi(defGetString(d));
	}
	rel = relation_open(relid, AccessShareLock);
	if (!lsm_key_info_try(rel, &ki))
	{
		lsm_notice_no_key(rel);
		lsm_table_set_key_format(relid, format, NULL);
	}
	else
		record_key_format(rel, &ki, format);
	relation_close(rel, AccessShareLock);
}

/*
 * The template of a CREATE DATABASE (InvalidOid when it does not exist,
 * which CREATE DATABASE reports).
 */
static Oid
createdb_template(CreatedbStmt *stmt)
{
	const char *template = "template1";
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
			template = defGetString(opt);
	}
	return get_database_oid(template, true);
}

/*
 * The lsm table whose ttl_column a RENAME of a column renames (InvalidOid
 * if none): the option names the column, so it follows the rename.  It
 * used to keep the old name, and every access to the table failed.
 */
static Oid
renames_ttl_column(RenameStmt *stmt)
{
	Oid			relid;
	ListCell   *lc;

	if (stmt->renameType != OBJECT_COLUMN || stmt->relation == NULL)
		return InvalidOid;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || !lsm_is_lsm_table(relid))
		return InvalidOid;
	foreach(lc, GetForeignTable(relid)->options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (strcmp(elem->defname, "ttl_column") == 0 &&
			strcmp(defGetString(elem), stmt->subname) == 0)
			return relid;
	}
	return InvalidOid;
}

static void
set_ttl_column(Oid relid, const char *name)
{
	StringInfoData sql;

	CommandCounterIncrement();
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER FOREIGN TABLE %s OPTIONS (SET ttl_column %s)",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)),
					 quote_literal_cstr(name));
	if (SPI_connect() != SPI_OK_CONNECT ||
		SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY ||
		SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "could not rename the ttl_column option: %s", sql.data);
}

static void
lsm_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest,
				   QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			template_oid = InvalidOid;
	Oid			ttl_renamed = InvalidOid;
	bool		existed = false;

	/*
	 * CREATE FOREIGN TABLE stores column options through an internal ALTER
	 * (a subcommand); only ALTERs the user wrote are checked.
	 */
	if (IsA(parsetree, AlterTableStmt) && context != PROCESS_UTILITY_SUBCOMMAND)
		check_alter((AlterTableStmt *) parsetree);
	if (IsA(parsetree, CreatedbStmt))
		template_oid = createdb_template((CreatedbStmt *) parsetree);
	if (IsA(parsetree, RenameStmt))
		ttl_renamed = renames_ttl_column((RenameStmt *) parsetree);
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

	/*
	 * createdb() copied the template's catalogs but not the files of its
	 * lsm tables, which live outside the database directory.
	 */
	if (IsA(parsetree, CreatedbStmt) && OidIsValid(template_oid))
		lsm_copy_database_tables(template_oid,
								 get_database_oid(((CreatedbStmt *) parsetree)->dbname, false));
	if (IsA(parsetree, CreateForeignTableStmt))
		check_create((CreateForeignTableStmt *) parsetree, existed);
	if (OidIsValid(ttl_renamed))
		set_ttl_column(ttl_renamed, ((RenameStmt *) parsetree)->newname);
	if (IsA(parsetree, AlterTableStmt) && context != PROCESS_UTILITY_SUBCOMMAND)
	{
		Oid			relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation,
											 NoLock, true);

		/* engine settings are read from the table's OPTIONS file at open */
		if (OidIsValid(relid) && lsm_is_lsm_table(relid))
		{
			check_key_types(relid, alters_key((AlterTableStmt *) parsetree));
			lsm_table_save_settings(relid);
		}
	}
}

void
lsm_install_ddl_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = lsm_ProcessUtility;
}
