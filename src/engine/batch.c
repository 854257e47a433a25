/*
 * batch.c
 *		Write batches: a set of puts, deletes and merge operands applied
 *		atomically, kept in the serialized form that the WAL stores.
 *
 * An LsmBatch is nothing but its serialized bytes (batch.h):
 *
 *   fixed64 first_seq | fixed32 count | count x entry
 *   entry = kind(1) | varint32 key_len | key | [varint32 value_len | value]
 *
 * Building a batch appends to that buffer and bumps the count in the
 * header, so handing the batch to the WAL needs no copy and recovery walks
 * the very bytes a writer built.  The same walker serves lsm_batch_iterate
 * and lsm_batch_validate; it trusts nothing in its input, because the
 * input may be a WAL record written by a crashed process or a damaged
 * disk.
 *
 * A batch is used by one thread at a time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "lsm_alloc.h"
#include "lsm_coding.h"
#include "wal.h"

/* Largest key or value a batch accepts (the limit of a signed 32-bit length). */
#define LSM_BATCH_MAX_FIELD ((size_t) INT32_MAX)

struct LsmBatch
{
	LsmBuf		rep;			/* header + entries; never shorter than the header */
	uint32_t	count;			/* mirror of the header's count */
};

/*
 * batch_reset_rep
 *		Make rep an empty batch: a zeroed header and no entries.
 *
 * The buffer keeps its capacity, so a cleared batch is refilled without
 * reallocating.
 */
static void
batch_reset_rep(LsmBatch *b)
{
	memset(b->rep.data, 0, LSM_BATCH_HEADER);
	b->rep.len = LSM_BATCH_HEADER;
	b->count = 0;
}

/*
 * lsm_batch_create
 *		Allocate an empty batch (sequence number 0); NULL when out of memory.
 */
LsmBatch *
lsm_batch_create(void)
{
	LsmBatch   *b = lsm_malloc(sizeof(LsmBatch));

	if (b == NULL)
		return NULL;
	b->rep = (LsmBuf) LSM_BUF_INIT;
	if (!lsm_buf_reserve(&b->rep, LSM_BATCH_HEADER))
	{
		lsm_free(b);
		return NULL;
	}
	batch_reset_rep(b);
	return b;
}

/*
 * lsm_batch_destroy
 *		Free a batch; NULL is accepted.
 */
void
lsm_batch_destroy(LsmBatch *b)
{
	if (b == NULL)
		return;
	lsm_buf_free(&b->rep);
	lsm_free(b);
}

/*
 * lsm_batch_clear
 *		Drop every entry and reset the sequence number to 0.
 */
void
lsm_batch_clear(LsmBatch *b)
{
	batch_reset_rep(b);
}

/*
 * batch_add
 *		Append one entry of the given kind; the common body of put, delete
 *		and merge.
 *
 * Sizes are checked before anything is written: a key or value must fit a
 * signed 32-bit length (what the Postgres glue and the SSTable format can
 * carry), and the whole batch must fit in one log record, because a batch
 * is committed as exactly one WAL record.  On any failure the batch is left
 * exactly as it was.
 */
static LsmCode
batch_add(LsmBatch *b, LsmKind kind, LsmSlice key, LsmSlice value,
		  LsmStatus *st)
{
	bool		has_value = (kind != LSM_KIND_DELETE);
	size_t		entry_len;
	size_t		old_len = b->rep.len;
	uint8_t    *p;

	if (key.len > LSM_BATCH_MAX_FIELD)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "key of %zu bytes exceeds the limit of %zu bytes",
							  key.len, LSM_BATCH_MAX_FIELD);
	if (has_value && value.len > LSM_BATCH_MAX_FIELD)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "%s of %zu bytes exceeds the limit of %zu bytes",
							  kind == LSM_KIND_MERGE ? "merge operand" : "value",
							  value.len, LSM_BATCH_MAX_FIELD);

	/* Both lengths are below 2^31, so this sum cannot overflow size_t. */
	entry_len = lsm_batch_entry_size(kind, key, value);
	if (entry_len > LSM_LOG_MAX_RECORD - old_len)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "write batch would grow to %zu bytes, above the limit of %u bytes",
							  old_len + entry_len, (unsigned) LSM_LOG_MAX_RECORD);
	/* Unreachable with the record limit (every entry takes 2 bytes), kept as a guard. */
	if (b->count == UINT32_MAX)
		return lsm_status_set(st, LSM_INVALID_ARGUMENT, 0,
							  "write batch already holds %u entries", b->count);

	if (!lsm_buf_reserve(&b->rep, entry_len))
		return lsm_status_set(st, LSM_NO_MEMORY, 0,
							  "out of memory growing a write batch to %zu bytes",
							  old_len + entry_len);

	p = lsm_batch_encode_entry(b->rep.data + old_len, kind, key, value);
	b->rep.len = (size_t) (p - b->rep.data);
	b->count++;
	lsm_put_fixed32(b->rep.data + 8, b->count);
	return LSM_OK;
}

/*
 * lsm_batch_put
 *		Add "key := value".
 */
LsmCode
lsm_batch_put(LsmBatch *b, LsmSlice key, LsmSlice value, LsmStatus *st)
{
	return batch_add(b, LSM_KIND_PUT, key, value, st);
}

/*
 * lsm_batch_delete
 *		Add a tombstone for key.
 */
LsmCode
lsm_batch_delete(LsmBatch *b, LsmSlice key, LsmStatus *st)
{
	return batch_add(b, LSM_KIND_DELETE, key, lsm_slice(NULL, 0), st);
}

/*
 * lsm_batch_merge
 *		Add a merge operand for key, folded by the database's merge function.
 */
LsmCode
lsm_batch_merge(LsmBatch *b, LsmSlice key, LsmSlice operand, LsmStatus *st)
{
	return batch_add(b, LSM_KIND_MERGE, key, operand, st);
}

uint32_t
lsm_batch_count(const LsmBatch *b)
{
	return b->count;
}

/* Serialized size, header included: what the WAL record's payload will be. */
size_t
lsm_batch_bytes(const LsmBatch *b)
{
	return b->rep.len;
}

LsmSlice
lsm_batch_contents(const LsmBatch *b)
{
	return lsm_buf_slice(&b->rep);
}

/*
 * lsm_batch_set_seq
 *		Stamp the sequence number of the first entry; the writer does this
 *		once it has reserved count sequence numbers.
 */
void
lsm_batch_set_seq(LsmBatch *b, LsmSeq first_seq)
{
	lsm_put_fixed64(b->rep.data, first_seq);
}

LsmSeq
lsm_batch_seq(const LsmBatch *b)
{
	return lsm_get_fixed64(b->rep.data);
}

uint32_t
lsm_batch_contents_count(LsmSlice contents)
{
	return lsm_get_fixed32(contents.data + 8);
}

LsmSeq
lsm_batch_contents_seq(LsmSlice contents)
{
	return lsm_get_fixed64(contents.data);
}

/*
 * batch_get_field
 *		Read one varint32-length-prefixed field of entry number idx from
 *		[*pp, limit) and advance *pp past it.
 *
 * Every length is compared with the bytes actually left before anything is
 * read, so no input can make the walker read outside the slice.
 */
static LsmCode
batch_get_field(const uint8_t **pp, const uint8_t *base, const uint8_t *limit,
				uint32_t idx, const char *what, LsmSlice *out, LsmStatus *st)
{
	const uint8_t *p = *pp;
	const uint8_t *q;
	uint32_t	len;

	q = lsm_decode_varint32(p, limit, &len);
	if (q == NULL)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "corrupt write batch: entry %u has a truncated or overlong %s length at offset %zu",
							  idx, what, (size_t) (p - base));
	if (len > LSM_BATCH_MAX_FIELD)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "corrupt write batch: entry %u has a %s length of %u bytes at offset %zu, above the limit",
							  idx, what, len, (size_t) (p - base));
	if (len > (size_t) (limit - q))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "corrupt write batch: entry %u %s of %u bytes at offset %zu runs past the end of the batch (%zu bytes)",
							  idx, what, len, (size_t) (q - base),
							  (size_t) (limit - base));
	*out = lsm_slice(q, len);
	*pp = q + len;
	return LSM_OK;
}

/*
 * batch_get_entry
 *		Parse entry number idx at *pp (below limit) and advance *pp past it.
 */
static LsmCode
batch_get_entry(const uint8_t **pp, const uint8_t *base, const uint8_t *limit,
				uint32_t idx, LsmKind *kind_out, LsmSlice *key,
				LsmSlice *value, LsmStatus *st)
{
	const uint8_t *p = *pp;
	LsmKind		kind = (LsmKind) *p;
	LsmCode		rc;

	if (kind != LSM_KIND_PUT && kind != LSM_KIND_DELETE &&
		kind != LSM_KIND_MERGE)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "corrupt write batch: entry %u has unknown kind %u at offset %zu",
							  idx, (unsigned) *p, (size_t) (p - base));
	p++;
	rc = batch_get_field(&p, base, limit, idx, "key", key, st);
	if (rc != LSM_OK)
		return rc;
	*value = lsm_slice(NULL, 0);
	if (kind != LSM_KIND_DELETE)
	{
		rc = batch_get_field(&p, base, limit, idx, "value", value, st);
		if (rc != LSM_OK)
			return rc;
	}
	*kind_out = kind;
	*pp = p;
	return LSM_OK;
}

/*
 * batch_header
 *		Check the header of contents; *first_seq and *count get its fields.
 */
static LsmCode
batch_header(LsmSlice contents, LsmSeq *first_seq, uint32_t *count,
			 LsmStatus *st)
{
	if (contents.len < LSM_BATCH_HEADER)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "corrupt write batch: %zu bytes, shorter than its %d-byte header",
							  contents.len, LSM_BATCH_HEADER);
	*first_seq = lsm_get_fixed64(contents.data);
	*count = lsm_get_fixed32(contents.data + 8);
	return LSM_OK;
}

/* The entries from first_seq on must stay within 56-bit sequence numbers. */
static LsmCode
batch_check_seq(LsmSeq first_seq, uint32_t count, LsmStatus *st)
{
	if (count > 0 && (first_seq > LSM_MAX_SEQ ||
					  count - 1 > LSM_MAX_SEQ - first_seq))
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "corrupt write batch: %u entries from sequence number %llu overflow 56 bits",
							  count, (unsigned long long) first_seq);
	return LSM_OK;
}

/*
 * batch_walk
 *		Parse contents entry by entry, calling fn (when not NULL) for each.
 *
 * This is both lsm_batch_iterate (fn set) and lsm_batch_validate (fn NULL,
 * so nothing but st is touched).  The header's count must match the
 * entries exactly: fewer entries than counted, or bytes left over after
 * the last one, mean the record is not what its writer built.  Sequence
 * numbers must stay within 56 bits.  Offsets in messages are relative to
 * the start of the batch; the caller adds the file and record position.
 */
static LsmCode
batch_walk(LsmSlice contents, LsmBatchFn fn, void *arg, LsmStatus *st)
{
	const uint8_t *base = contents.data;
	const uint8_t *limit = contents.data + contents.len;
	const uint8_t *p;
	LsmSeq		first_seq;
	uint32_t	count;
	uint32_t	i;
	LsmCode		rc;

	rc = batch_header(contents, &first_seq, &count, st);
	if (rc == LSM_OK)
		rc = batch_check_seq(first_seq, count, st);
	if (rc != LSM_OK)
		return rc;

	p = base + LSM_BATCH_HEADER;
	for (i = 0; i < count; i++)
	{
		LsmKind		kind;
		LsmSlice	key;
		LsmSlice	value;

		if (p >= limit)
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "corrupt write batch: header counts %u entries but the batch ends after %u (%zu bytes)",
								  count, i, contents.len);
		rc = batch_get_entry(&p, base, limit, i, &kind, &key, &value, st);
		if (rc != LSM_OK)
			return rc;
		if (fn != NULL)
		{
			rc = fn(arg, first_seq + i, kind, key, value, st);
			if (rc != LSM_OK)
				return rc;
		}
	}
	if (p != limit)
		return lsm_status_set(st, LSM_CORRUPTION, 0,
							  "corrupt write batch: %zu trailing bytes at offset %zu after its %u entries",
							  (size_t) (limit - p), (size_t) (p - base), count);
	return LSM_OK;
}

/*
 * lsm_batch_iterate
 *		Call fn for every entry of a serialized batch, in order.
 *
 * Entries before a malformed one have already been passed to fn when the
 * corruption is found; callers that must not apply half a batch validate
 * first (recovery does).
 */
LsmCode
lsm_batch_iterate(LsmSlice contents, LsmBatchFn fn, void *arg, LsmStatus *st)
{
	return batch_walk(contents, fn, arg, st);
}

/*
 * lsm_batch_validate
 *		Check a serialized batch completely without side effects.
 */
LsmCode
lsm_batch_validate(LsmSlice contents, LsmStatus *st)
{
	return batch_walk(contents, NULL, NULL, st);
}

size_t
lsm_batch_entry_size(LsmKind kind, LsmSlice key, LsmSlice value)
{
	size_t		n = 1 + (size_t) lsm_varint_length(key.len) + key.len;

	if (kind != LSM_KIND_DELETE)
		n += (size_t) lsm_varint_length(value.len) + value.len;
	return n;
}

/*
 * lsm_batch_encode_entry
 *		Write one entry at dst (lsm_batch_entry_size bytes); returns the byte
 *		after it.  The same bytes batch_add appends.
 */
uint8_t *
lsm_batch_encode_entry(uint8_t *dst, LsmKind kind, LsmSlice key, LsmSlice value)
{
	uint8_t    *p = dst;

	*p++ = (uint8_t) kind;
	p = lsm_encode_varint32(p, (uint32_t) key.len);
	if (key.len > 0)
		memcpy(p, key.data, key.len);
	p += key.len;
	if (kind != LSM_KIND_DELETE)
	{
		p = lsm_encode_varint32(p, (uint32_t) value.len);
		if (value.len > 0)
			memcpy(p, value.data, value.len);
		p += value.len;
	}
	return p;
}

void
lsm_batch_encode_header(uint8_t *dst, LsmSeq first_seq, uint32_t count)
{
	lsm_put_fixed64(dst, first_seq);
	lsm_put_fixed32(dst + 8, count);
}

void
lsm_batch_contents_set_seq(uint8_t *contents, LsmSeq first_seq)
{
	lsm_put_fixed64(contents, first_seq);
}

/*
 * lsm_batch_iterate_entries
 *		Call fn for every entry of a header-less run of entries.
 */
LsmCode
lsm_batch_iterate_entries(LsmSlice entries, LsmSeq first_seq, LsmBatchFn fn,
						  void *arg, LsmStatus *st)
{
	const uint8_t *base = entries.data;
	const uint8_t *limit = entries.data + entries.len;
	const uint8_t *p = base;
	uint32_t	i;

	for (i = 0; p < limit; i++)
	{
		LsmKind		kind;
		LsmSlice	key;
		LsmSlice	value;
		LsmCode		rc;

		if (i == UINT32_MAX || first_seq + i > LSM_MAX_SEQ)
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "corrupt write batch: entry %u from sequence number %llu overflows",
								  i, (unsigned long long) first_seq);
		rc = batch_get_entry(&p, base, limit, i, &kind, &key, &value, st);
		if (rc == LSM_OK && fn != NULL)
			rc = fn(arg, first_seq + i, kind, key, value, st);
		if (rc != LSM_OK)
			return rc;
	}
	return LSM_OK;
}

/*
 * lsm_batch_split
 *		Hand a batch to fn in chunks of about chunk_bytes (batch.h).
 */
LsmCode
lsm_batch_split(uint8_t *contents, size_t len, LsmSeq first_seq,
				size_t chunk_bytes, LsmBatchChunkFn fn, void *arg,
				LsmStatus *st)
{
	const uint8_t *base = contents;
	const uint8_t *limit = contents + len;
	const uint8_t *p;
	LsmSeq		header_seq;
	uint32_t	count;
	uint32_t	done = 0;
	LsmCode		rc;

	rc = batch_header(lsm_slice(contents, len), &header_seq, &count, st);
	if (rc == LSM_OK)
		rc = batch_check_seq(first_seq, count, st);
	if (rc != LSM_OK)
		return rc;
	p = base + LSM_BATCH_HEADER;
	while (p < limit || done < count)
	{
		const uint8_t *start = p;
		uint8_t    *h = contents + (start - base) - LSM_BATCH_HEADER;
		uint8_t		save[LSM_BATCH_HEADER];
		uint32_t	n = 0;

		while (p < limit && (n == 0 || (size_t) (p - start) < chunk_bytes))
		{
			LsmKind		kind;
			LsmSlice	key;
			LsmSlice	value;

			if (done + n == count)
				return lsm_status_set(st, LSM_CORRUPTION, 0,
									  "corrupt write batch: %zu trailing bytes at offset %zu after its %u entries",
									  (size_t) (limit - p), (size_t) (p - base), count);
			rc = batch_get_entry(&p, base, limit, done + n, &kind, &key,
								 &value, st);
			if (rc != LSM_OK)
				return rc;
			n++;
		}
		if (n == 0)
			return lsm_status_set(st, LSM_CORRUPTION, 0,
								  "corrupt write batch: header counts %u entries but the batch ends after %u (%zu bytes)",
								  count, done, len);
		memcpy(save, h, LSM_BATCH_HEADER);
		lsm_batch_encode_header(h, first_seq + done, n);
		rc = fn(arg, lsm_slice(h, (size_t) (p - h)), first_seq + done, n, st);
		memcpy(h, save, LSM_BATCH_HEADER);
		if (rc != LSM_OK)
			return rc;
		done += n;
	}
	return LSM_OK;
}
