/*
 * lsm_crc32c.h
 *		CRC-32C (Castagnoli), the checksum of every record and block the
 *		engine writes.  Uses the SSE4.2 instruction when the CPU has it.
 */
#ifndef LSM_CRC32C_H
#define LSM_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* crc of data appended to a stream whose crc so far is init (0 to start). */
extern uint32_t lsm_crc32c_extend(uint32_t init, const void *data, size_t n);

/*
 * The two implementations behind lsm_crc32c_extend, exposed so tests can
 * check they agree.  lsm_crc32c_hw falls back to software when the CPU
 * lacks SSE4.2 (lsm_crc32c_hw_available() then returns false).
 */
extern uint32_t lsm_crc32c_sw(uint32_t init, const void *data, size_t n);
extern uint32_t lsm_crc32c_hw(uint32_t init, const void *data, size_t n);
extern bool lsm_crc32c_hw_available(void);

static inline uint32_t
lsm_crc32c(const void *data, size_t n)
{
	return lsm_crc32c_extend(0, data, n);
}

/*
 * Stored CRCs are masked, as LevelDB does, so that a CRC computed over data
 * that itself contains CRCs does not degenerate.
 */
static inline uint32_t
lsm_crc32c_mask(uint32_t crc)
{
	return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static inline uint32_t
lsm_crc32c_unmask(uint32_t masked)
{
	uint32_t	rot = masked - 0xa282ead8u;

	return (rot >> 17) | (rot << 15);
}

#endif							/* LSM_CRC32C_H */
