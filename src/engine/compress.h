/*
 * compress.h
 *		Compressing and decompressing one payload: an SSTable's data block
 *		(sstable.h) or one value of a blob file (blob.h).
 *
 * A compressed payload knows its decoded length: a zstd frame records its
 * content size, and an LZ4 payload is a varint32 of the decoded length
 * followed by the LZ4 block.  A payload is stored compressed only when
 * that saves at least an eighth, so a compressed payload is always shorter
 * than what it decodes to.
 */
#ifndef LSM_COMPRESS_H
#define LSM_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "lsm.h"
#include "lsm_slice.h"

/* What a compressor keeps between payloads. */
typedef struct LsmCodecState
{
	LsmCompression codec;
	int			level;			/* zstd */
	void	   *cctx;			/* ZSTD_CCtx, made on first use */
	void	   *cdict;			/* ZSTD_CDict: zstd compresses with it */
	LsmBuf		zbuf;			/* the last compressed payload */
} LsmCodecState;

extern void lsm_codec_init(LsmCodecState *cs, LsmCompression codec, int level);
extern void lsm_codec_free(LsmCodecState *cs);

/*
 * zstd compresses every later payload with dictionary dict (dict.h); its
 * payloads then decompress only with lsm_codec_decompress_dict.  false
 * when out of memory.  No effect on another codec.
 */
extern bool lsm_codec_use_dict(LsmCodecState *cs, const uint8_t *dict, size_t len);

/*
 * Compress raw with cs's codec.  On success *kind is the codec used and
 * *payload the bytes to store: raw itself (kind LSM_COMPRESSION_NONE) when
 * compressing does not save an eighth, else cs->zbuf.  false when out of
 * memory.
 */
extern bool lsm_codec_compress(LsmCodecState *cs, LsmSlice raw,
							   LsmCompression *kind, LsmSlice *payload);

/*
 * The decoded length of a payload of kind (not NONE); false when its
 * header is damaged.
 */
extern bool lsm_codec_decoded_len(LsmCompression kind, LsmSlice payload, size_t *len);

/*
 * Decompress a payload of kind (not NONE) into out, which holds exactly
 * len bytes, the length lsm_codec_decoded_len gave; false when the payload
 * is damaged, *nomem set when a zstd context could not be made.
 */
extern bool lsm_codec_decompress(LsmCompression kind, LsmSlice payload, uint8_t *out,
								 size_t len, bool *nomem);

/* The same for a zstd payload made with the dictionary ddict digests. */
extern bool lsm_codec_decompress_dict(LsmSlice payload, const void *ddict, uint8_t *out,
									  size_t len, bool *nomem);

#endif							/* LSM_COMPRESS_H */
