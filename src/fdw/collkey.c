/*
 * collkey.c
 *		Collation sort keys for text key columns.
 *
 * The engine orders keys with memcmp, so a text key column can only serve
 * ranges and key order under a collation whose order is byte order.  For C
 * and POSIX, and for libc's C.UTF-8 in a UTF8 database (code-point order,
 * which is UTF-8 byte order), the plain byte encoding is that.  For every
 * other deterministic collation the key starts with the collation's sort
 * key (strxfrm for libc, ucol_getSortKey for ICU): Postgres orders such
 * text by the collation and breaks ties bytewise (varstr_cmp), and so does
 * "sort key, then the original bytes", which keycodec.c appends.
 *
 * A sort key is only as good as its agreement with the comparison the
 * executor uses.  ICU's sort keys are defined to agree with ucol_strcoll.
 * glibc's strxfrm disagreed with strcoll in some locales before 2.28 (the
 * reason Postgres keeps abbreviated keys off for libc), so older glibc
 * collations get the encoding (equality needs no agreement) but no range
 * or order pushdown.  A collation's version is recorded per table: when
 * the library's version changes, stored sort keys may no longer match the
 * ones computed now, and the table is read without pushdown and refuses
 * writes until lsm_fdw_rebuild() re-encodes it.
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_database.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_locale.h"
#include "utils/syscache.h"

#include "codec.h"

/*
 * The ICU locale's catalog field: daticulocale/colliculocale in Postgres 15
 * and 16, datlocale/colllocale from 17 on (which also serve the builtin
 * provider).  Only the 15 branch is compiled and tested here; 18 changed
 * pg_locale_t's layout again and is not covered.
 */
#if PG_VERSION_NUM >= 170000
#define LSM_ANUM_DB_LOCALE		Anum_pg_database_datlocale
#define LSM_ANUM_COLL_LOCALE	Anum_pg_collation_colllocale
#else
#define LSM_ANUM_DB_LOCALE		Anum_pg_database_daticulocale
#define LSM_ANUM_COLL_LOCALE	Anum_pg_collation_colliculocale
#endif

/* What collkey needs to know of a collation, looked up once per backend. */
typedef struct CollInfo
{
	Oid			collid;
	bool		byte_order;		/* byte order is the collation's order */
	bool		icu;
	bool		deterministic;
	char	   *version;		/* "" when the library gives none */
	char	   *name;
} CollInfo;

#define MAX_CACHED_COLLATIONS 16
static CollInfo coll_cache[MAX_CACHED_COLLATIONS];
static int	ncoll_cache = 0;

/* Whether the C library is glibc of at least major.minor. */
static bool
glibc_at_least(int major, int minor)
{
#ifdef __GLIBC__
	int			ma = 0,
				mi = 0;

	if (sscanf(gnu_get_libc_version(), "%d.%d", &ma, &mi) == 2)
		return ma > major || (ma == major && mi >= minor);
#endif
	return false;
}

/*
 * glibc's C.UTF-8 (upstream since 2.35) collates by code point, which is
 * UTF-8 byte order; Postgres 15 still calls strcoll for it (only C and
 * POSIX are C to it), so the bytes sort as the executor compares.  Older
 * or other C libraries get sort keys, which are right in any case.
 */
static bool
is_c_utf8(const char *locale)
{
	return (pg_strcasecmp(locale, "C.UTF-8") == 0 ||
			pg_strcasecmp(locale, "C.utf8") == 0) &&
		glibc_at_least(2, 35);
}

/*
 * Fill ci for collid from the catalogs: pg_database for the default
 * collation, pg_collation otherwise.
 */
static void
lookup_collation(Oid collid, CollInfo *ci)
{
	char		provider;
	char	   *collcollate = NULL;
	char	   *iculocale = NULL;
	HeapTuple	tp;
	Datum		d;
	bool		isnull;

	ci->collid = collid;
	ci->deterministic = true;
	if (collid == DEFAULT_COLLATION_OID)
	{
		Form_pg_database db;

		tp = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
		if (!HeapTupleIsValid(tp))
			elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
		db = (Form_pg_database) GETSTRUCT(tp);
		provider = db->datlocprovider;
		d = SysCacheGetAttr(DATABASEOID, tp, Anum_pg_database_datcollate, &isnull);
		collcollate = isnull ? NULL : TextDatumGetCString(d);
		d = SysCacheGetAttr(DATABASEOID, tp, LSM_ANUM_DB_LOCALE, &isnull);
		iculocale = isnull ? NULL : TextDatumGetCString(d);
		ci->name = pstrdup("default");
	}
	else
	{
		Form_pg_collation coll;

		tp = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));
		if (!HeapTupleIsValid(tp))
			elog(ERROR, "cache lookup failed for collation %u", collid);
		coll = (Form_pg_collation) GETSTRUCT(tp);
		provider = coll->collprovider;
		ci->deterministic = coll->collisdeterministic;
		d = SysCacheGetAttr(COLLOID, tp, Anum_pg_collation_collcollate, &isnull);
		collcollate = isnull ? NULL : TextDatumGetCString(d);
		d = SysCacheGetAttr(COLLOID, tp, LSM_ANUM_COLL_LOCALE, &isnull);
		iculocale = isnull ? NULL : TextDatumGetCString(d);
		ci->name = pstrdup(NameStr(coll->collname));
	}
	ReleaseSysCache(tp);

	ci->icu = (provider == COLLPROVIDER_ICU);
	ci->byte_order = !ci->icu &&
		(lc_collate_is_c(collid) ||
#ifdef COLLPROVIDER_BUILTIN
	/* the builtin provider (17+) orders by code point: UTF-8 byte order */
		 provider == COLLPROVIDER_BUILTIN ||
#endif
		 (collcollate != NULL && is_c_utf8(collcollate) &&
		  GetDatabaseEncoding() == PG_UTF8));
	ci->version = NULL;
	if (!ci->byte_order && provider != COLLPROVIDER_DEFAULT)
		ci->version = get_collation_actual_version(provider,
												   ci->icu ? iculocale : collcollate);
	if (ci->version == NULL)
		ci->version = pstrdup("");
}

static const CollInfo *
coll_info(Oid collid)
{
	CollInfo	ci;
	MemoryContext old;

	for (int i = 0; i < ncoll_cache; i++)
		if (coll_cache[i].collid == collid)
			return &coll_cache[i];
	old = MemoryContextSwitchTo(TopMemoryContext);
	lookup_collation(collid, &ci);
	MemoryContextSwitchTo(old);
	if (ncoll_cache == MAX_CACHED_COLLATIONS)
	{
		/* a backend using this many collations is rare: start over */
		for (int i = 0; i < ncoll_cache; i++)
		{
			pfree(coll_cache[i].version);
			pfree(coll_cache[i].name);
		}
		ncoll_cache = 0;
	}
	coll_cache[ncoll_cache] = ci;
	return &coll_cache[ncoll_cache++];
}

/*
 * lsm_collation_is_byte_order
 *		Whether text under collid sorts like its bytes: C, POSIX, and libc's
 *		C.UTF-8 in a UTF8 database.  InvalidOid (no collation) counts as C.
 */
bool
lsm_collation_is_byte_order(Oid collid)
{
	if (!OidIsValid(collid) || collid == C_COLLATION_OID ||
		collid == POSIX_COLLATION_OID)
		return true;
	return coll_info(collid)->byte_order;
}

/*
 * lsm_collation_is_deterministic
 *		get_collation_isdeterministic() that also answers for the default
 *		collation (always deterministic in Postgres 15).
 */
bool
lsm_collation_is_deterministic(Oid collid)
{
	if (!OidIsValid(collid) || collid == DEFAULT_COLLATION_OID)
		return true;
	return coll_info(collid)->deterministic;
}

/*
 * lsm_sort_key_collation
 *		The collation whose sort key a new table's text key column under
 *		collid starts with; InvalidOid when the bytes alone sort right.
 */
Oid
lsm_sort_key_collation(Oid collid)
{
	return lsm_collation_is_byte_order(collid) ? InvalidOid : collid;
}

/*
 * lsm_sort_key_trusted
 *		Whether sort keys of collid agree with the executor's comparison, so
 *		that ranges and key order may be pushed down.  ICU: by definition.
 *		libc: never.  t/012_collations.pl found glibc 2.36's strxfrm and
 *		strcoll disagreeing in en_US.UTF-8 (a key with U+1F600 sorted before
 *		"9\u00C9" by strcoll and after it by its sort key, so a pushed-down
 *		range skipped rows), the reason Postgres keeps abbreviated keys off
 *		for libc too.  Such tables still store sort keys (a later ICU-style
 *		trust decision needs no rewrite) and answer ranges by a full scan.
 */
bool
lsm_sort_key_trusted(Oid collid)
{
	return coll_info(collid)->icu;
}

/*
 * lsm_collation_version
 *		The version the collation's library reports now ("" when none).
 */
const char *
lsm_collation_version(Oid collid)
{
	return coll_info(collid)->version;
}

/*
 * lsm_collation_name
 *		The collation's name, for messages.
 */
const char *
lsm_collation_name(Oid collid)
{
	return coll_info(collid)->name;
}

/*
 * lsm_append_sort_key
 *		Append the sort key of the len bytes at s under collid, without a
 *		terminator; the result never contains a 0x00 byte (both libraries
 *		produce NUL-terminated keys), so keycodec.c can end it with one.
 */
void
lsm_append_sort_key(StringInfo buf, Oid collid, const char *s, int len)
{
	pg_locale_t locale = pg_newlocale_from_collation(collid);

#ifdef USE_ICU
	if (locale != NULL && locale->provider == COLLPROVIDER_ICU)
	{
		UChar	   *ustr;
		int32_t		ulen = icu_to_uchar(&ustr, s, len);
		int32_t		room = Max(32, ulen * 4);
		int32_t		n;

		for (;;)
		{
			enlargeStringInfo(buf, room);
			n = ucol_getSortKey(locale->info.icu.ucol, ustr, ulen,
								(uint8_t *) buf->data + buf->len, room);
			if (n <= room)
				break;
			room = n;
		}
		pfree(ustr);
		/* n counts the terminating 0x00, which is left out */
		if (n < 1 || memchr(buf->data + buf->len, '\0', n - 1) != NULL)
			elog(ERROR, "ICU returned a malformed sort key");
		buf->len += n - 1;
		buf->data[buf->len] = '\0';
		return;
	}
#endif
	{
		char	   *cstr = pnstrdup(s, len);
		size_t		room = Max(32, (size_t) len * 4);
		size_t		n;

		/* strxfrm stops at a NUL; text holds none */
		for (;;)
		{
			enlargeStringInfo(buf, (int) Min(room + 1, MaxAllocSize / 2));
			errno = 0;
#ifdef HAVE_LOCALE_T
			if (locale != NULL)
				n = strxfrm_l(buf->data + buf->len, cstr, room + 1, locale->info.lt);
			else
#endif
				n = strxfrm(buf->data + buf->len, cstr, room + 1);
			if (errno != 0)
				ereport(ERROR,
						(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						 errmsg("could not compute the sort key of a key value under collation \"%s\": %m",
								lsm_collation_name(collid))));
			if (n <= room)
				break;
			room = n;
		}
		pfree(cstr);
		if (memchr(buf->data + buf->len, '\0', n) != NULL)
			elog(ERROR, "strxfrm returned a sort key with a NUL byte");
		buf->len += (int) n;
		buf->data[buf->len] = '\0';
	}
}
