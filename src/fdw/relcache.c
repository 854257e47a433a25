/*
 * relcache.c
 *		Per-backend cache of what a statement needs to know about a table
 *		beyond its relcache entry: the key layout (LsmKeyInfo) and the
 *		effective table settings.
 *
 * Both are derived from column and table options, which Postgres keeps
 * as text arrays in pg_attribute, pg_foreign_table and
 * pg_foreign_server: deriving them means a syscache lookup and an option
 * list parse per column, about 8000 instructions for a five-column table,
 * a tenth of a prepared point get.  An entry is dropped when Postgres
 * invalidates the table's relcache entry (ALTER FOREIGN TABLE ... OPTIONS
 * and ALTER COLUMN ... OPTIONS both do, in every session, and in the
 * altering session at its next command), and every entry when a foreign
 * server or any pg_foreign_table row changes (their syscache callbacks
 * carry no relation OID).  A change made by the current transaction is
 * seen after CommandCounterIncrement, and undone by an abort, through the
 * same callbacks.
 *
 * Callers get copies, never pointers into an entry, so an invalidation in
 * the middle of a statement (a lock acquisition processes them) cannot pull
 * memory from under a running scan.
 */
#include "postgres.h"

#include "utils/catcache.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "lsm_fdw.h"

typedef struct LsmRelCacheEntry
{
	Oid			relid;			/* hash key */
	bool		ki_valid;
	LsmKeyInfo	ki;				/* is_key in CacheMemoryContext */
	int			natts;			/* length of ki.is_key */
	bool		settings_valid;
	LsmTableSettings settings;
} LsmRelCacheEntry;

static HTAB *rel_cache = NULL;

/*
 * Bumped by every invalidation: an entry built while one arrived (reading
 * the catalogs can process them) is used once but not kept.
 */
static uint64 rel_cache_invals = 0;

static void
invalidate_entry(LsmRelCacheEntry *e)
{
	e->ki_valid = false;
	e->settings_valid = false;
}

/* Relcache callback: relid changed (InvalidOid: every relation did). */
static void
rel_cache_relcache_cb(Datum arg, Oid relid)
{
	LsmRelCacheEntry *e;

	rel_cache_invals++;
	if (rel_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		e = hash_search(rel_cache, &relid, HASH_FIND, NULL);
		if (e != NULL)
			invalidate_entry(e);
		return;
	}
	else
	{
		HASH_SEQ_STATUS seq;

		hash_seq_init(&seq, rel_cache);
		while ((e = hash_seq_search(&seq)) != NULL)
			invalidate_entry(e);
	}
}

/* Syscache callback: a server's or a foreign table's options changed. */
static void
rel_cache_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	rel_cache_relcache_cb(arg, InvalidOid);
}

static LsmRelCacheEntry *
rel_cache_entry(Oid relid)
{
	LsmRelCacheEntry *e;
	bool		found;

	if (rel_cache == NULL)
	{
		static bool registered = false;
		HASHCTL		ctl;

		/* first, so that no entry can exist without its callbacks */
		if (!registered)
		{
			CacheRegisterRelcacheCallback(rel_cache_relcache_cb, (Datum) 0);
			CacheRegisterSyscacheCallback(FOREIGNSERVEROID, rel_cache_syscache_cb, (Datum) 0);
			CacheRegisterSyscacheCallback(FOREIGNTABLEREL, rel_cache_syscache_cb, (Datum) 0);
			registered = true;
		}
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(LsmRelCacheEntry);
		ctl.hcxt = CacheMemoryContext;
		rel_cache = hash_create("lsm_fdw relation cache", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(rel_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		e->ki_valid = false;
		e->settings_valid = false;
		e->ki.is_key = NULL;
		e->natts = 0;
	}
	return e;
}

/*
 * lsm_key_info
 *		The key columns of a table about to be used, from the cache; a table
 *		without key is refused (lsm_key_info_build).  ki->is_key is a copy
 *		in the current memory context.
 */
void
lsm_key_info(Relation rel, LsmKeyInfo *ki)
{
	LsmRelCacheEntry *e = rel_cache_entry(RelationGetRelid(rel));
	int			natts = RelationGetDescr(rel)->natts;
	bool	   *is_key;

	if (!e->ki_valid || e->natts != natts)
	{
		uint64		invals = rel_cache_invals;

		/* an ERROR here (no key, a bad key type) leaves the entry invalid */
		lsm_key_info_build(rel, ki);
		if (rel_cache_invals != invals)
			return;				/* ki is fresh, but maybe not the entry */
		if (e->ki.is_key != NULL)
			pfree(e->ki.is_key);
		e->ki = *ki;
		e->ki.is_key = MemoryContextAlloc(CacheMemoryContext, sizeof(bool) * Max(natts, 1));
		memcpy(e->ki.is_key, ki->is_key, sizeof(bool) * Max(natts, 1));
		e->natts = natts;
		e->ki_valid = true;
		return;
	}
	*ki = e->ki;
	is_key = palloc(sizeof(bool) * Max(natts, 1));
	memcpy(is_key, e->ki.is_key, sizeof(bool) * Max(natts, 1));
	ki->is_key = is_key;
}

/*
 * lsm_key_info_if_any
 *		lsm_key_info, or false for a table without key column.
 */
bool
lsm_key_info_if_any(Relation rel, LsmKeyInfo *ki)
{
	LsmRelCacheEntry *e = rel_cache_entry(RelationGetRelid(rel));

	if (!(e->ki_valid && e->natts == RelationGetDescr(rel)->natts) &&
		!lsm_key_info_try(rel, ki))
		return false;
	lsm_key_info(rel, ki);
	return true;
}

/*
 * lsm_cached_settings
 *		The effective settings of a table (lsm_settings_for_table), from the
 *		cache.
 */
void
lsm_cached_settings(Relation rel, LsmTableSettings *s)
{
	LsmRelCacheEntry *e = rel_cache_entry(RelationGetRelid(rel));

	if (!e->settings_valid)
	{
		uint64		invals = rel_cache_invals;

		lsm_settings_for_table(RelationGetRelid(rel), s);
		if (rel_cache_invals == invals)
		{
			e->settings = *s;
			e->settings_valid = true;
		}
		return;
	}
	*s = e->settings;
}
