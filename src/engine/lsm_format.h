/*
 * lsm_format.h
 *		Internal keys: how user keys, sequence numbers and entry kinds are
 *		packed into the keys that memtables and SSTables store.
 *
 * internal key = user key || fixed64le((seqno << 8) | kind)
 *
 * Internal keys sort by user key ascending (bytewise: the glue encodes keys
 * so that byte order is SQL order), then by seqno descending, then by kind
 * descending, so the newest version of a key comes first.
 */
#ifndef LSM_FORMAT_H
#define LSM_FORMAT_H

#include <stdint.h>

#include "lsm_coding.h"
#include "lsm_slice.h"

/* Stored in every file: never renumber. */
typedef enum LsmKind
{
	LSM_KIND_DELETE = 0,		/* tombstone */
	LSM_KIND_PUT = 1,
	LSM_KIND_MERGE = 2,			/* merge operand, folded by the merge function */
	LSM_KIND_BLOB = 3			/* a PUT whose value is in a blob file (blob.h) */
} LsmKind;

/* Seeks use the highest kind so they land before every entry of a seqno. */
#define LSM_KIND_FOR_SEEK	LSM_KIND_BLOB

/*
 * Shortened index separators of tables carry the highest kind engines
 * before LSM_KIND_BLOB know, so that a table without blob references stays
 * readable by them.  Any kind works: a shortened user key lies strictly
 * between two stored ones, so no entry shares it.
 */
#define LSM_KIND_SEPARATOR	LSM_KIND_MERGE

typedef uint64_t LsmSeq;

/* Sequence numbers use 56 bits. */
#define LSM_MAX_SEQ		((((LsmSeq) 1) << 56) - 1)

#define LSM_IKEY_TRAILER 8

static inline uint64_t
lsm_pack_seq_kind(LsmSeq seq, LsmKind kind)
{
	return (seq << 8) | (uint64_t) kind;
}

/* Parsed view of an internal key; user_key borrows from the input. */
typedef struct LsmParsedKey
{
	LsmSlice	user_key;
	LsmSeq		seq;
	LsmKind		kind;
} LsmParsedKey;

/* False when the key is too short or the kind is unknown (corruption). */
static inline bool
lsm_ikey_parse(LsmSlice ikey, LsmParsedKey *out)
{
	uint64_t	tag;

	if (ikey.len < LSM_IKEY_TRAILER)
		return false;
	tag = lsm_get_fixed64(ikey.data + ikey.len - LSM_IKEY_TRAILER);
	out->user_key = lsm_slice(ikey.data, ikey.len - LSM_IKEY_TRAILER);
	out->seq = tag >> 8;
	out->kind = (LsmKind) (tag & 0xff);
	return out->kind <= LSM_KIND_BLOB;
}

static inline LsmSlice
lsm_ikey_user_key(LsmSlice ikey)
{
	return lsm_slice(ikey.data, ikey.len - LSM_IKEY_TRAILER);
}

/*
 * lsm_ikey_cmp's order, inline for the loops that compare on every step
 * (the memtable's skiplist search).
 */
static inline int
lsm_ikey_cmp_inline(LsmSlice a, LsmSlice b)
{
	int			r;
	uint64_t	ta;
	uint64_t	tb;

	if (a.len < LSM_IKEY_TRAILER || b.len < LSM_IKEY_TRAILER)
		return lsm_slice_cmp(a, b);
	r = lsm_slice_cmp(lsm_ikey_user_key(a), lsm_ikey_user_key(b));
	if (r != 0)
		return r;
	ta = lsm_get_fixed64(a.data + a.len - LSM_IKEY_TRAILER);
	tb = lsm_get_fixed64(b.data + b.len - LSM_IKEY_TRAILER);
	return (ta > tb) ? -1 : (ta < tb) ? 1 : 0;
}

/* Append user_key || trailer to b. */
extern bool lsm_ikey_append(LsmBuf *b, LsmSlice user_key, LsmSeq seq, LsmKind kind);

/* Order of internal keys, as described above. */
extern int	lsm_ikey_cmp(LsmSlice a, LsmSlice b);

#endif							/* LSM_FORMAT_H */
