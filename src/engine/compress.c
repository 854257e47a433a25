/*
 * compress.c
 *		Compressing and decompressing one payload (compress.h).
 */
#include <pthread.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>

#include "compress.h"
#include "lsm_coding.h"

void
lsm_codec_init(LsmCodecState *cs, LsmCompression codec, int level)
{
	memset(cs, 0, sizeof(*cs));
	cs->codec = codec;
	cs->level = level;
}

void
lsm_codec_free(LsmCodecState *cs)
{
	ZSTD_freeCCtx(cs->cctx);
	ZSTD_freeCDict(cs->cdict);
	lsm_buf_free(&cs->zbuf);
	memset(cs, 0, sizeof(*cs));
}

bool
lsm_codec_use_dict(LsmCodecState *cs, const uint8_t *dict, size_t len)
{
	if (cs->codec != LSM_COMPRESSION_ZSTD)
		return true;
	ZSTD_freeCDict(cs->cdict);
	cs->cdict = ZSTD_createCDict(dict, len, cs->level);
	return cs->cdict != NULL;
}

bool
lsm_codec_compress(LsmCodecState *cs, LsmSlice raw, LsmCompression *kind,
				   LsmSlice *payload)
{
	*kind = LSM_COMPRESSION_NONE;
	*payload = raw;
	/* the callers' buffers are process-private; so is this one */
	if (cs->codec != LSM_COMPRESSION_NONE && !lsm_buf_make_private(&cs->zbuf, 4096))
		return false;
	if (cs->codec == LSM_COMPRESSION_ZSTD)
	{
		size_t		bound = ZSTD_compressBound(raw.len);
		size_t		csize;

		if (cs->cctx == NULL && (cs->cctx = ZSTD_createCCtx()) == NULL)
			return false;
		lsm_buf_reset(&cs->zbuf);
		if (!lsm_buf_reserve(&cs->zbuf, bound))
			return false;
		if (cs->cdict != NULL)
			csize = ZSTD_compress_usingCDict(cs->cctx, cs->zbuf.data, bound, raw.data,
											 raw.len, cs->cdict);
		else
			csize = ZSTD_compressCCtx(cs->cctx, cs->zbuf.data, bound, raw.data, raw.len,
									  cs->level);
		/* keep it raw unless zstd saves at least an eighth */
		if (!ZSTD_isError(csize) && csize <= raw.len - raw.len / 8)
		{
			*payload = lsm_slice(cs->zbuf.data, csize);
			*kind = LSM_COMPRESSION_ZSTD;
		}
	}
	else if (cs->codec == LSM_COMPRESSION_LZ4 && raw.len <= LZ4_MAX_INPUT_SIZE)
	{
		/* an LZ4 block does not know its decoded size: a varint32 first */
		int			bound = LZ4_compressBound((int) raw.len);
		uint8_t    *start;
		int			csize;

		lsm_buf_reset(&cs->zbuf);
		if (!lsm_buf_reserve(&cs->zbuf, (size_t) bound + 5))
			return false;
		start = lsm_encode_varint32(cs->zbuf.data, (uint32_t) raw.len);
		csize = LZ4_compress_default((const char *) raw.data, (char *) start,
									 (int) raw.len, bound);
		if (csize > 0 &&
			(size_t) (start - cs->zbuf.data) + (size_t) csize <= raw.len - raw.len / 8)
		{
			*payload = lsm_slice(cs->zbuf.data,
								 (size_t) (start - cs->zbuf.data) + (size_t) csize);
			*kind = LSM_COMPRESSION_LZ4;
		}
	}
	return true;
}

bool
lsm_codec_decoded_len(LsmCompression kind, LsmSlice payload, size_t *len)
{
	if (kind == LSM_COMPRESSION_ZSTD)
	{
		unsigned long long csize = ZSTD_getFrameContentSize(payload.data, payload.len);

		if (csize == ZSTD_CONTENTSIZE_ERROR || csize == ZSTD_CONTENTSIZE_UNKNOWN ||
			csize > UINT32_MAX)
			return false;
		*len = (size_t) csize;
		return true;
	}
	if (kind == LSM_COMPRESSION_LZ4)
	{
		const uint8_t *src;
		uint32_t	dlen;

		src = lsm_decode_varint32(payload.data, payload.data + payload.len, &dlen);
		/* LZ4 expands at most 255-fold: a larger claim is damage */
		if (src == NULL || dlen > LZ4_MAX_INPUT_SIZE ||
			(uint64_t) dlen > (uint64_t) (payload.len - (size_t) (src - payload.data)) * 255 + 16)
			return false;
		*len = dlen;
		return true;
	}
	return false;
}

/*
 * One decompression context per thread, not per reader: a reader may live
 * in memory every process of the host shares, while zstd allocates a
 * context's buffers with the process's own malloc.  Thread-specific data
 * (not __thread) so that a thread's context is freed when it exits.
 */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void
dctx_destroy(void *d)
{
	ZSTD_freeDCtx(d);
}

static void
dctx_key_init(void)
{
	(void) pthread_key_create(&dctx_key, dctx_destroy);
}

static ZSTD_DCtx *
dctx_get(void)
{
	ZSTD_DCtx  *d;

	pthread_once(&dctx_once, dctx_key_init);
	d = pthread_getspecific(dctx_key);
	if (d != NULL)
	{
		(void) pthread_setspecific(dctx_key, NULL);
		return d;
	}
	return ZSTD_createDCtx();
}

static void
dctx_put(ZSTD_DCtx *d)
{
	if (pthread_getspecific(dctx_key) == NULL &&
		pthread_setspecific(dctx_key, d) == 0)
		return;
	ZSTD_freeDCtx(d);
}

bool
lsm_codec_decompress(LsmCompression kind, LsmSlice payload, uint8_t *out, size_t len,
					 bool *nomem)
{
	*nomem = false;
	if (kind == LSM_COMPRESSION_ZSTD)
	{
		ZSTD_DCtx  *d = dctx_get();
		size_t		r;

		if (d == NULL)
		{
			*nomem = true;
			return false;
		}
		r = ZSTD_decompressDCtx(d, out, len, payload.data, payload.len);
		dctx_put(d);
		return !ZSTD_isError(r) && r == len;
	}
	if (kind == LSM_COMPRESSION_LZ4)
	{
		const uint8_t *src;
		uint32_t	dlen;
		int			r;

		src = lsm_decode_varint32(payload.data, payload.data + payload.len, &dlen);
		if (src == NULL || dlen != len)
			return false;
		r = LZ4_decompress_safe((const char *) src, (char *) out,
								(int) (payload.len - (size_t) (src - payload.data)), (int) len);
		return r >= 0 && (size_t) r == len;
	}
	return false;
}

bool
lsm_codec_decompress_dict(LsmSlice payload, const void *ddict, uint8_t *out, size_t len,
						  bool *nomem)
{
	ZSTD_DCtx  *d = dctx_get();
	size_t		r;

	*nomem = d == NULL;
	if (d == NULL)
		return false;
	/* a frame made with another dictionary fails zstd's dictionary ID check */
	r = ZSTD_decompress_usingDDict(d, out, len, payload.data, payload.len, ddict);
	dctx_put(d);
	return !ZSTD_isError(r) && r == len;
}
