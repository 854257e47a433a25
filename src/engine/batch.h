/*
 * batch.h
 *		The byte format of a write batch, shared by LsmBatch (lsm.h), the
 *		WAL records that carry batches and recovery.
 *
 *   fixed64 first_seq | fixed32 count | count x entry
 *   entry = kind(1) | varint32 key_len | key | [varint32 value_len | value]
 *           (no value for LSM_KIND_DELETE)
 *
 * Entry i gets sequence number first_seq + i.
 */
#ifndef LSM_BATCH_H
#define LSM_BATCH_H

#include "lsm.h"

#define LSM_BATCH_HEADER 12

/* The serialized batch (valid until the batch changes). */
extern LsmSlice lsm_batch_contents(const LsmBatch *b);
extern void lsm_batch_set_seq(LsmBatch *b, LsmSeq first_seq);
extern LsmSeq lsm_batch_seq(const LsmBatch *b);

/* Called for every entry in order; a non-OK return stops the walk. */
typedef LsmCode (*LsmBatchFn) (void *arg, LsmSeq seq, LsmKind kind,
							   LsmSlice key, LsmSlice value, LsmStatus *st);

/*
 * Walk a serialized batch (from lsm_batch_contents or a WAL record).
 * Malformed input (truncated entry, unknown kind, count mismatch, trailing
 * bytes) is LSM_CORRUPTION and fn is not called for anything past it; call
 * lsm_batch_validate first when a partial application must be avoided.
 */
extern LsmCode lsm_batch_iterate(LsmSlice contents, LsmBatchFn fn, void *arg,
								 LsmStatus *st);
extern LsmCode lsm_batch_validate(LsmSlice contents, LsmStatus *st);

/* Count and first seq of serialized contents (caller validated length). */
extern uint32_t lsm_batch_contents_count(LsmSlice contents);
extern LsmSeq lsm_batch_contents_seq(LsmSlice contents);

/*
 * Serialized batches in the caller's memory.  A host that keeps a
 * transaction's entries in its own memory (an LsmBatch lives in lsm_malloc
 * memory, shared memory in the server) and frames batches in its own log
 * records builds and reads the bytes with these calls only, so that this
 * file stays the one owner of the format.
 *
 * lsm_batch_entry_size is the exact size lsm_batch_encode_entry writes at
 * dst (which returns the byte after it).  lsm_batch_encode_header writes
 * the LSM_BATCH_HEADER bytes that turn count entries following it into a
 * batch; lsm_batch_contents_set_seq restamps a serialized batch's first
 * sequence number.  Keys and values must fit lsm_batch_put's limits.
 */
extern size_t lsm_batch_entry_size(LsmKind kind, LsmSlice key, LsmSlice value);
extern uint8_t *lsm_batch_encode_entry(uint8_t *dst, LsmKind kind,
									   LsmSlice key, LsmSlice value);
extern void lsm_batch_encode_header(uint8_t *dst, LsmSeq first_seq,
									uint32_t count);
extern void lsm_batch_contents_set_seq(uint8_t *contents, LsmSeq first_seq);

/*
 * Walk entries without a header (the entries part of a batch, as a host
 * accumulates them), numbering them from first_seq, to the end of entries.
 * Malformed input is LSM_CORRUPTION, as for lsm_batch_iterate.
 */
extern LsmCode lsm_batch_iterate_entries(LsmSlice entries, LsmSeq first_seq,
										 LsmBatchFn fn, void *arg,
										 LsmStatus *st);

/*
 * The same entries in internal-key order (lsm_format.h), as an iterator
 * over an array sorted once (batch_sort.c): a sorted run without a
 * skiplist.  Keys are internal keys (user key, seq, kind); values and the
 * user-key bytes point into entries, which must outlive the iterator.  NULL
 * with st set when entries are malformed or memory ran out.
 */
extern LsmIter *lsm_batch_sorted_iter(LsmSlice entries, LsmSeq first_seq,
									  LsmStatus *st);

/*
 * Cut a serialized batch into consecutive batches ("chunks") and hand each
 * to fn, in order.  Entries are numbered from first_seq (the header's own
 * number is not used: a batch may be numbered after it was written).  A
 * chunk takes entries until its entries reach chunk_bytes, and at least
 * one, so the same batch and chunk_bytes always give the same chunks (a
 * host replaying its log can skip the chunks a table already holds).
 *
 * No copy: each chunk's header is written over the LSM_BATCH_HEADER bytes
 * in front of its first entry (the batch's own header for the first
 * chunk), and those bytes are put back when fn returns; contents must not
 * be read by anyone else meanwhile, and chunk is valid during the call
 * only.  Malformed input, or a count that does not match the entries, is
 * LSM_CORRUPTION; chunks before the damage have then been delivered, so a
 * caller that must not apply half a batch validates first.  A non-OK
 * return of fn stops the walk and is returned.
 */
typedef LsmCode (*LsmBatchChunkFn) (void *arg, LsmSlice chunk, LsmSeq first_seq,
									uint32_t count, LsmStatus *st);
extern LsmCode lsm_batch_split(uint8_t *contents, size_t len, LsmSeq first_seq,
							   size_t chunk_bytes, LsmBatchChunkFn fn,
							   void *arg, LsmStatus *st);

#endif							/* LSM_BATCH_H */
