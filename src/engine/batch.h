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

#endif							/* LSM_BATCH_H */
