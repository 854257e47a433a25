/*
 * format.c
 *		Internal key construction and ordering (see lsm_format.h).
 */
#include "lsm_format.h"

/*
 * lsm_ikey_append
 *		Append user_key followed by the packed (seq, kind) trailer.
 */
bool
lsm_ikey_append(LsmBuf *b, LsmSlice user_key, LsmSeq seq, LsmKind kind)
{
	uint8_t    *p;

	if (!lsm_buf_reserve(b, user_key.len + LSM_IKEY_TRAILER))
		return false;
	p = b->data + b->len;
	if (user_key.len > 0)
		memcpy(p, user_key.data, user_key.len);
	lsm_put_fixed64(p + user_key.len, lsm_pack_seq_kind(seq, kind));
	b->len += user_key.len + LSM_IKEY_TRAILER;
	return true;
}

/*
 * lsm_ikey_cmp
 *		Order internal keys: user key ascending, then trailer descending.
 *
 * Comparing the packed trailer as one integer orders by seq descending and
 * then kind descending in a single step.  Keys shorter than a trailer can
 * only come from corruption; they are compared bytewise so the function
 * stays total and never reads out of bounds.
 */
int
lsm_ikey_cmp(LsmSlice a, LsmSlice b)
{
	return lsm_ikey_cmp_inline(a, b);
}
