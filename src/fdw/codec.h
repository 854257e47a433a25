/*
 * codec.h
 *		Encoding of SQL values into engine keys and values.
 *
 * Keys are memcomparable: the bytewise order of encoded keys equals SQL
 * order of the key columns (for text, under the column's collation when
 * the table has key format 2, else under C), so the
 * engine can compare keys with memcmp and range quals become byte ranges.
 * Each column's encoding is self-delimiting, so a composite key is the
 * concatenation of its columns' encodings and a prefix of the columns is a
 * prefix of the bytes.  docs/format.md lists the encodings.
 *
 * Values hold the non-key columns in a compact row format indexed by
 * attribute number, so that rows written before ALTER FOREIGN TABLE ... ADD
 * COLUMN read the new column as NULL.
 */
#ifndef LSM_CODEC_H
#define LSM_CODEC_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "lib/stringinfo.h"

/* Longest encoded key and row the engine accepts (54000 beyond). */
#define LSM_MAX_KEY_BYTES	(8 * 1024)
#define LSM_MAX_ROW_BYTES	(64 * 1024 * 1024)

/* The row limit in force: LSM_MAX_ROW_BYTES or less (rowcodec.c). */
extern size_t lsm_row_limit(void);

/* in keycodec.c */

/* Whether typid can be a key column; ordered says whether ranges are allowed. */
extern bool lsm_key_type_supported(Oid typid, bool *ordered);
/* The supported key types, for error hints. */
extern const char *lsm_key_supported_types(void);

/*
 * Append the encoding of a non-null value of type typid to buf.  Text
 * under a sort_coll (see lsm_sort_key_collation) starts with that
 * collation's sort key; InvalidOid means the bytes alone.
 */
extern void lsm_key_encode(StringInfo buf, Oid typid, Oid sort_coll, Datum value);

/*
 * Append the encoding of a text/varchar/bytea value WITHOUT its terminator:
 * every key whose column starts with this prefix begins with these bytes
 * (LIKE 'prefix%' and ^@ push down to a byte-prefix range).
 */
extern void lsm_key_encode_prefix(StringInfo buf, Oid typid, Datum value);

/*
 * Decode one column at *p (not beyond end) and advance *p; ERROR
 * (XX001 data_corrupted) on malformed input.  The result is palloc'd in the
 * current memory context when by-reference.
 */
extern Datum lsm_key_decode(const char **p, const char *end, Oid typid,
							 Oid sort_coll);

/* in collkey.c */
extern bool lsm_collation_is_byte_order(Oid collid);
extern bool lsm_collation_is_deterministic(Oid collid);
extern Oid	lsm_sort_key_collation(Oid collid);
extern bool lsm_sort_key_trusted(Oid collid);
extern const char *lsm_collation_version(Oid collid);
extern const char *lsm_collation_name(Oid collid);
extern void lsm_append_sort_key(StringInfo buf, Oid collid, const char *s, int len);

/* in rowcodec.c */

/*
 * Encode the columns of a row that are not key columns (is_key[i] for
 * attribute i+1) into buf.  Dropped columns are skipped.  Varlena values
 * are detoasted.
 */
extern void lsm_row_encode(StringInfo buf, TupleDesc desc, const bool *is_key,
						   const Datum *values, const bool *isnull);

/*
 * Decode a value written by lsm_row_encode into values/isnull for the
 * non-key attributes of desc; attributes the stored row does not have
 * (added later) are NULL.  ERROR (XX001) on malformed input.
 */
extern void lsm_row_decode(const char *data, size_t len, TupleDesc desc,
						   const bool *is_key, Datum *values, bool *isnull);

/*
 * The same for the attributes marked in wanted (NULL: all); the others are
 * NULL.
 */
extern void lsm_row_decode_cols(const char *data, size_t len, TupleDesc desc,
								const bool *is_key, const bool *wanted,
								Datum *values, bool *isnull);

/*
 * The 8-byte by-value attribute attnum of a stored row, given the typlens
 * of the attributes before it; false when absent or undecodable.
 */
extern bool lsm_row_peek_int64(const char *data, size_t len, int attnum,
							   const int16 *typlens, int64 *out);

#endif							/* LSM_CODEC_H */
