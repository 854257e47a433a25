/*
 * options.c
 *		Validation of lsm_fdw's options on servers, foreign tables and
 *		columns, and the resolution of a table's effective settings.
 *
 * Table options may also be given on the server, where they act as
 * defaults for every table of that server.  Errors name the bad option and
 * list what is allowed, as Postgres's own FDWs do.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "common/int.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "lsm_fdw.h"

PG_FUNCTION_INFO_V1(lsm_fdw_validator);

typedef enum LsmOptionKind
{
	OPT_ENUM,					/* one of allowed[] */
	OPT_INT,					/* integer in [min, max] */
	OPT_BYTES,					/* size with optional unit, in [min, max] bytes */
	OPT_BOOL,
	OPT_STRING					/* any text */
} LsmOptionKind;

typedef struct LsmOptionDef
{
	const char *name;
	Oid			context;		/* catalog where it is valid */
	bool		also_on_server; /* table option that a server may default */
	LsmOptionKind kind;
	const char *allowed;		/* OPT_ENUM: comma-separated values */
	int			min;
	int			max;
} LsmOptionDef;

static const LsmOptionDef lsm_options[] = {
	{"key", AttributeRelationId, false, OPT_BOOL, NULL, 0, 0},
	{"compaction", ForeignTableRelationId, true, OPT_ENUM, "leveled, tiered", 0, 0},
	{"compression", ForeignTableRelationId, true, OPT_ENUM, "zstd, lz4, none", 0, 0},
	{"compression_upper", ForeignTableRelationId, true, OPT_ENUM, "lz4, zstd, none", 0, 0},
	{"compression_level", ForeignTableRelationId, true, OPT_INT, NULL, 1, 22},
	{"block_size", ForeignTableRelationId, true, OPT_BYTES, NULL, 1024, 1024 * 1024},
	{"bloom_bits_per_key", ForeignTableRelationId, true, OPT_INT, NULL, 0, 32},
	{"memtable_size", ForeignTableRelationId, true, OPT_BYTES, NULL,
	1024 * 1024, 1024 * 1024 * 1024},
	{"on_duplicate", ForeignTableRelationId, true, OPT_ENUM, "error, overwrite, sum", 0, 0},
	/* rows this big keep their value in blob files; 0: in the tree */
	{"blob_min_size", ForeignTableRelationId, true, OPT_BYTES, NULL, 0, 64 * 1024 * 1024},
	/* blob files at least this % garbage have their live values moved */
	{"blob_gc_percent", ForeignTableRelationId, true, OPT_INT, NULL, 1, 99},
	/* a timestamptz column: rows expire at its value (ttl.c) */
	{"ttl_column", ForeignTableRelationId, false, OPT_STRING, NULL, 0, 0},
	/* with ttl_column: rows expire this long after the column's time */
	{"ttl", ForeignTableRelationId, false, OPT_STRING, NULL, 0, 0},
	/* set at CREATE (ddl.c), changed only by lsm_fdw_rebuild() */
	{"key_format", ForeignTableRelationId, false, OPT_ENUM, "1, 2", 0, 0},
	{"collation_version", ForeignTableRelationId, false, OPT_STRING, NULL, 0, 0},
};

static bool
option_valid_in(const LsmOptionDef *def, Oid context)
{
	return def->context == context ||
		(def->also_on_server && context == ForeignServerRelationId);
}

static const char *
context_name(Oid context)
{
	switch (context)
	{
		case ForeignDataWrapperRelationId:
			return "foreign-data wrapper";
		case ForeignServerRelationId:
			return "server";
		case UserMappingRelationId:
			return "user mapping";
		case ForeignTableRelationId:
			return "foreign table";
		case AttributeRelationId:
			return "column";
	}
	return "object";
}

/*
 * Is value one of the comma-separated words in allowed?
 */
static bool
enum_value_allowed(const char *allowed, const char *value)
{
	const char *p = allowed;
	size_t		len = strlen(value);

	while (*p)
	{
		const char *end = strchr(p, ',');
		size_t		wlen = end ? (size_t) (end - p) : strlen(p);

		if (wlen == len && strncmp(p, value, len) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
		while (*p == ' ')
			p++;
	}
	return false;
}

/*
 * Is value a whole decimal number, followed by a unit when unit_ok?
 *
 * parse_int() also takes fractions and exponents and rounds them ("1.5kB"
 * is 1536 bytes), and hexadecimal; a table option must say exactly what it
 * means, so only digits, with optional sign and surrounding spaces, pass.
 */
static bool
whole_number_syntax(const char *value, bool unit_ok)
{
	const char *p = value;

	while (isspace((unsigned char) *p))
		p++;
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	while (isspace((unsigned char) *p))
		p++;
	if (unit_ok)
		while (isalpha((unsigned char) *p) && *p != 'e' && *p != 'E' &&
			   *p != 'x' && *p != 'X')
			p++;
	while (isspace((unsigned char) *p))
		p++;
	return *p == '\0';
}

/*
 * The ttl option's interval in microseconds.  Months and days are refused:
 * their length depends on the time zone, and compaction, which drops what
 * reads hide, has none.
 */
static int64
ttl_usecs_of(const char *value)
{
	Interval   *iv;

	iv = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(value),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
	if (iv->month != 0 || iv->day != 0 || iv->time <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"ttl\": \"%s\"", value),
				 errdetail("The time to live must be positive and given in hours, minutes or seconds: days and months vary in length with the time zone."),
				 errhint("Use e.g. '30 minutes' or '48 hours'.")));
	return iv->time;
}

/*
 * Check one option's value; ERROR when it is not acceptable.  Returns the
 * integer value for OPT_INT/OPT_BYTES, 0 otherwise.
 */
static int
check_option_value(const LsmOptionDef *def, DefElem *elem)
{
	char	   *value = defGetString(elem);
	int			result = 0;

	switch (def->kind)
	{
		case OPT_STRING:
			if (strcmp(def->name, "ttl") == 0)
				(void) ttl_usecs_of(value);
			break;
		case OPT_ENUM:
			if (!enum_value_allowed(def->allowed, value))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"",
								def->name, value),
						 errhint("Allowed values are: %s.", def->allowed)));
			break;
		case OPT_BOOL:
			{
				bool		b;

				if (!parse_bool(value, &b))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"%s\": \"%s\"",
									def->name, value),
							 errhint("Use a boolean such as 'true' or 'false'.")));
				result = b ? 1 : 0;
				break;
			}
		case OPT_INT:
		case OPT_BYTES:
			{
				const char *hintmsg = NULL;
				bool		whole = whole_number_syntax(value, def->kind == OPT_BYTES);

				if (!whole ||
					!parse_int(value, &result,
							   def->kind == OPT_BYTES ? GUC_UNIT_BYTE : 0,
							   &hintmsg) ||
					result < def->min || result > def->max)
				{
					if (def->kind == OPT_BYTES)
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"%s\": \"%s\"",
										def->name, value),
								 whole ? 0 : errdetail("Sizes are whole numbers, with an optional unit."),
								 errhint("Use a size between %d and %d bytes; units kB, MB and GB are accepted.",
										 def->min, def->max)));
					else
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"%s\": \"%s\"",
										def->name, value),
								 whole ? 0 : errdetail("The value must be a whole number."),
								 errhint("Use an integer between %d and %d.",
										 def->min, def->max)));
				}
				break;
			}
	}
	return result;
}

/*
 * lsm_fdw_validator
 *		Validate the options given to a CREATE or ALTER of a lsm_fdw
 *		foreign-data wrapper, server, user mapping, foreign table or column.
 */
Datum
lsm_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			context = PG_GETARG_OID(1);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const LsmOptionDef *def = NULL;

		for (size_t i = 0; i < lengthof(lsm_options); i++)
		{
			if (strcmp(lsm_options[i].name, elem->defname) == 0 &&
				option_valid_in(&lsm_options[i], context))
			{
				def = &lsm_options[i];
				break;
			}
		}

		if (def == NULL)
		{
			StringInfoData buf;

			initStringInfo(&buf);
			for (size_t i = 0; i < lengthof(lsm_options); i++)
			{
				/* recorded by lsm_fdw itself, not a user's choice */
				if (strcmp(lsm_options[i].name, "collation_version") == 0)
					continue;
				if (option_valid_in(&lsm_options[i], context))
					appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
									 lsm_options[i].name);
			}
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for a lsm_fdw %s",
							elem->defname, context_name(context)),
					 buf.len > 0
					 ? errhint("Valid options in this context are: %s.", buf.data)
					 : errhint("There are no valid options in this context.")));
		}
		check_option_value(def, elem);
	}

	PG_RETURN_VOID();
}

/* The LsmCompression of a validated codec name. */
static int
codec_named(const char *name)
{
	if (pg_strcasecmp(name, "zstd") == 0)
		return LSM_COMPRESSION_ZSTD;
	if (pg_strcasecmp(name, "lz4") == 0)
		return LSM_COMPRESSION_LZ4;
	return LSM_COMPRESSION_NONE;
}

/*
 * Apply one validated option to settings.
 */
static void
apply_option(LsmTableSettings *s, DefElem *elem)
{
	for (size_t i = 0; i < lengthof(lsm_options); i++)
	{
		const LsmOptionDef *def = &lsm_options[i];
		int			v;

		if (def->context != ForeignTableRelationId ||
			strcmp(def->name, elem->defname) != 0)
			continue;
		v = check_option_value(def, elem);
		if (strcmp(def->name, "compaction") == 0)
			s->compaction = strcmp(defGetString(elem), "tiered") == 0
				? LSM_COMPACTION_TIERED : LSM_COMPACTION_LEVELED;
		else if (strcmp(def->name, "compression") == 0)
			s->compress = codec_named(defGetString(elem));
		else if (strcmp(def->name, "compression_upper") == 0)
			s->compress_upper = codec_named(defGetString(elem));
		else if (strcmp(def->name, "compression_level") == 0)
			s->compression_level = v;
		else if (strcmp(def->name, "block_size") == 0)
			s->block_size = v;
		else if (strcmp(def->name, "bloom_bits_per_key") == 0)
			s->bloom_bits_per_key = v;
		else if (strcmp(def->name, "memtable_size") == 0)
			s->memtable_size = v;
		else if (strcmp(def->name, "blob_min_size") == 0)
			s->blob_min_size = v;
		else if (strcmp(def->name, "blob_gc_percent") == 0)
			s->blob_gc_percent = v;
		else if (strcmp(def->name, "on_duplicate") == 0)
		{
			s->overwrite_on_duplicate = strcmp(defGetString(elem), "overwrite") == 0;
			s->sum_on_duplicate = strcmp(defGetString(elem), "sum") == 0;
		}
		return;
	}
}

/*
 * lsm_settings_for_table
 *		The effective settings of a foreign table: built-in defaults, then
 *		the server's options, then the table's own.
 */
void
lsm_settings_for_table(Oid relid, LsmTableSettings *s)
{
	ForeignTable *table = GetForeignTable(relid);
	ForeignServer *server = GetForeignServer(table->serverid);
	ListCell   *lc;

	s->compaction = LSM_COMPACTION_LEVELED;
	s->compress = LSM_COMPRESSION_ZSTD;
	s->compress_upper = LSM_COMPRESSION_LZ4;
	/*
	 * zstd 1: on 4 KiB blocks it compresses as well as 3 (2.581x against
	 * 2.580x on bench/sql_bench.sh's rows) in three quarters of the time,
	 * and the bottom level is rewritten by every push from above it.
	 */
	s->compression_level = 1;
	s->block_size = 4096;
	s->bloom_bits_per_key = 10;
	s->memtable_size = 32 * 1024 * 1024;
	s->blob_min_size = LSM_DEFAULT_BLOB_MIN_SIZE;
	s->blob_gc_percent = LSM_DEFAULT_BLOB_GC_PERCENT;
	s->overwrite_on_duplicate = false;
	s->sum_on_duplicate = false;

	foreach(lc, server->options)
		apply_option(s, (DefElem *) lfirst(lc));
	foreach(lc, table->options)
		apply_option(s, (DefElem *) lfirst(lc));

	/* what the compaction filter needs to find the expiry in a row */
	s->ttl_attno = 0;
	s->ttl_usecs = 0;
	memset(s->ttl_typlens, 0, sizeof(s->ttl_typlens));
	{
		Relation	rel = relation_open(relid, AccessShareLock);
		AttrNumber	ttl = lsm_table_ttl_column(rel, &s->ttl_usecs);

		if (ttl != InvalidAttrNumber && ttl <= LSM_TTL_MAX_ATTNO)
		{
			TupleDesc	desc = RelationGetDescr(rel);

			s->ttl_attno = ttl;
			for (int i = 0; i < ttl - 1; i++)
				s->ttl_typlens[i] = TupleDescAttr(desc, i)->attlen;
		}
		relation_close(rel, AccessShareLock);
	}
}

/*
 * lsm_ttl_expiry
 *		The expiry of a row whose ttl_column holds column; false when it
 *		never expires (infinity, or beyond the range of timestamps).
 */
bool
lsm_ttl_expiry(TimestampTz column, int64 ttl_usecs, TimestampTz *expiry)
{
	if (TIMESTAMP_IS_NOEND(column))
		return false;
	if (TIMESTAMP_IS_NOBEGIN(column))
	{
		*expiry = column;
		return true;
	}
	return !pg_add_s64_overflow(column, ttl_usecs, expiry);
}

/*
 * lsm_table_ttl_column
 *		The attribute number of the table's ttl_column, InvalidAttrNumber
 *		when it has none.  The column must be a non-key timestamptz column
 *		(a domain over one is fine): checked at CREATE and ALTER (ddl.c) and
 *		at every use, since columns can change after the option was set.
 */
AttrNumber
lsm_table_ttl_column(Relation rel, int64 *ttl_usecs)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rel));
	TupleDesc	desc = RelationGetDescr(rel);
	const char *name = NULL;
	const char *ttl = NULL;
	ListCell   *lc;

	foreach(lc, table->options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (strcmp(elem->defname, "ttl_column") == 0)
			name = defGetString(elem);
		else if (strcmp(elem->defname, "ttl") == 0)
			ttl = defGetString(elem);
	}
	if (ttl_usecs != NULL)
		*ttl_usecs = ttl != NULL ? ttl_usecs_of(ttl) : 0;
	if (name == NULL && ttl != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"ttl\" of lsm_fdw table \"%s\" needs option \"ttl_column\"",
						RelationGetRelationName(rel)),
				 errdetail("A row expires ttl after the time in its ttl_column."),
				 errhint("Add OPTIONS (ttl_column 'created_at') naming a timestamptz column.")));
	if (name == NULL)
		return InvalidAttrNumber;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		if (getBaseType(att->atttypid) != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("ttl_column \"%s\" of lsm_fdw table \"%s\" has type %s",
							name, RelationGetRelationName(rel),
							format_type_be(att->atttypid)),
					 errdetail("A row expires at the time its ttl_column holds."),
					 errhint("Name a column of type timestamptz.")));
		if (lsm_column_is_key(RelationGetRelid(rel), att->attnum))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("ttl_column \"%s\" of lsm_fdw table \"%s\" is a key column",
							name, RelationGetRelationName(rel)),
					 errdetail("An UPDATE must be able to move a row's expiry without changing its key."),
					 errhint("Name a timestamptz column that is not part of the key.")));
		return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("ttl_column \"%s\" of lsm_fdw table \"%s\" does not exist",
					name, RelationGetRelationName(rel)),
			 errhint("Name a timestamptz column of the table, or drop the option with OPTIONS (DROP ttl_column).")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/*
 * lsm_column_is_key
 *		Whether the column carries the option key 'true'.
 */
bool
lsm_column_is_key(Oid relid, AttrNumber attnum)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (strcmp(elem->defname, "key") == 0)
			return defGetBoolean(elem);
	}
	return false;
}

/*
 * lsm_table_key_format
 *		The key format of a table (docs/format.md): 2 when text keys under
 *		collations that are not byte order start with a sort key, 1 (every
 *		table created before key format 2, or with key_format '1') when text
 *		keys are their bytes.  *collation_version gets the versions recorded
 *		with format 2, NULL when none.
 */
int
lsm_table_key_format(Oid relid, char **collation_version)
{
	ForeignTable *table = GetForeignTable(relid);
	ListCell   *lc;
	int			format = 1;

	*collation_version = NULL;
	foreach(lc, table->options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (strcmp(elem->defname, "key_format") == 0)
			format = atoi(defGetString(elem));
		else if (strcmp(elem->defname, "collation_version") == 0)
			*collation_version = defGetString(elem);
	}
	return format;
}

/*
 * lsm_table_set_key_format
 *		Record a table's key format and collation versions in its options,
 *		replacing those there; the catalog update is transactional, so it
 *		commits or rolls back with the rows written under it.
 */
void
lsm_table_set_key_format(Oid relid, int key_format, const char *collation_version)
{
	Relation	ftrel = table_open(ForeignTableRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy1(FOREIGNTABLEREL, ObjectIdGetDatum(relid));
	Datum		d;
	bool		isnull;
	ArrayBuildState *astate = NULL;
	Datum		values[Natts_pg_foreign_table];
	bool		nulls[Natts_pg_foreign_table];
	bool		replace[Natts_pg_foreign_table];
	HeapTuple	newtup;
	ListCell   *lc;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for foreign table %u", relid);
	d = SysCacheGetAttr(FOREIGNTABLEREL, tup, Anum_pg_foreign_table_ftoptions, &isnull);
	foreach(lc, isnull ? NIL : untransformRelOptions(d))
	{
		DefElem    *elem = (DefElem *) lfirst(lc);

		if (strcmp(elem->defname, "key_format") == 0 ||
			strcmp(elem->defname, "collation_version") == 0)
			continue;
		astate = accumArrayResult(astate,
								  CStringGetTextDatum(psprintf("%s=%s", elem->defname,
															   defGetString(elem))),
								  false, TEXTOID, CurrentMemoryContext);
	}
	astate = accumArrayResult(astate,
							  CStringGetTextDatum(psprintf("key_format=%d", key_format)),
							  false, TEXTOID, CurrentMemoryContext);
	if (collation_version != NULL && collation_version[0] != '\0')
		astate = accumArrayResult(astate,
								  CStringGetTextDatum(psprintf("collation_version=%s",
															   collation_version)),
								  false, TEXTOID, CurrentMemoryContext);

	memset(values, 0, sizeof(values));
	memset(nulls, false, sizeof(nulls));
	memset(replace, false, sizeof(replace));
	values[Anum_pg_foreign_table_ftoptions - 1] =
		makeArrayResult(astate, CurrentMemoryContext);
	replace[Anum_pg_foreign_table_ftoptions - 1] = true;
	newtup = heap_modify_tuple(tup, RelationGetDescr(ftrel), values, nulls, replace);
	CatalogTupleUpdate(ftrel, &newtup->t_self, newtup);
	table_close(ftrel, RowExclusiveLock);
	/* cached plans chose their access under the old format */
	CacheInvalidateRelcacheByRelid(relid);
	CommandCounterIncrement();
}
