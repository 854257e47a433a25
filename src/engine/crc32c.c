/*
 * crc32c.c
 *		CRC-32C (Castagnoli polynomial, reflected 0x82F63B78).
 *
 * Two implementations compute the same function: a portable
 * slicing-by-8 table walk, and the SSE4.2 crc32 instruction on x86_64.
 * The choice is made once, at the first call, from what the CPU reports,
 * so one binary runs everywhere and is fast where it can be.
 *
 * As usual for this CRC the register is pre- and post-inverted, which lets
 * lsm_crc32c_extend(lsm_crc32c(a), b) equal lsm_crc32c(a || b).
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "lsm_crc32c.h"

#define CRC32C_POLY 0x82F63B78u

/*
 * crc_table[k][b] is the CRC contribution of byte b followed by k zero
 * bytes; eight tables let the software path consume 8 bytes per step.
 */
static uint32_t crc_table[8][256];

/*
 * crc_table_build
 *		Fill crc_table.  Run once, under pthread_once, so readers never
 *		see a table being written.
 */
static void
crc_table_build(void)
{
	int			b;
	int			k;

	for (b = 0; b < 256; b++)
	{
		uint32_t	c = (uint32_t) b;

		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][b] = c;
	}
	for (b = 0; b < 256; b++)
	{
		uint32_t	c = crc_table[0][b];

		for (k = 1; k < 8; k++)
		{
			c = crc_table[0][c & 0xff] ^ (c >> 8);
			crc_table[k][b] = c;
		}
	}
}

/*
 * crc32c_sw
 *		Portable slicing-by-8 on the raw (non-inverted) register.
 *
 * Loads are done with memcpy so unaligned input is fine, and bytes are
 * assembled little-endian explicitly so the result does not depend on host
 * byte order.
 */
static uint32_t
crc32c_sw(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n > 0 && ((uintptr_t) p & 7) != 0)
	{
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		n--;
	}
	while (n >= 8)
	{
		uint32_t	lo = crc ^ ((uint32_t) p[0] | (uint32_t) p[1] << 8 |
								(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24);
		uint32_t	hi = (uint32_t) p[4] | (uint32_t) p[5] << 8 |
			(uint32_t) p[6] << 16 | (uint32_t) p[7] << 24;

		crc = crc_table[7][lo & 0xff] ^
			crc_table[6][(lo >> 8) & 0xff] ^
			crc_table[5][(lo >> 16) & 0xff] ^
			crc_table[4][lo >> 24] ^
			crc_table[3][hi & 0xff] ^
			crc_table[2][(hi >> 8) & 0xff] ^
			crc_table[1][(hi >> 16) & 0xff] ^
			crc_table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n > 0)
	{
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		n--;
	}
	return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LSM_HAVE_CRC32C_HW 1

/*
 * crc32c_hw
 *		The same function using the SSE4.2 crc32 instruction, 8 bytes at a
 *		time.  Only called after the CPU was checked for SSE4.2.
 */
__attribute__((target("sse4.2")))
static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t	c = crc;

	while (n > 0 && ((uintptr_t) p & 7) != 0)
	{
		c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
		n--;
	}
	while (n >= 8)
	{
		uint64_t	w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		n -= 8;
	}
	while (n > 0)
	{
		c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
		n--;
	}
	return (uint32_t) c;
}
#endif

typedef uint32_t (*CrcFn) (uint32_t crc, const uint8_t *p, size_t n);

/* The implementation chosen at first use; written once under crc_once. */
static CrcFn crc_impl;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/*
 * crc_init
 *		Build the table and pick the implementation.  The table is built
 *		even when the instruction is available, because tests compare the
 *		two paths.
 */
static void
crc_init(void)
{
	crc_table_build();
	crc_impl = crc32c_sw;
#ifdef LSM_HAVE_CRC32C_HW
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_impl = crc32c_hw;
#endif
}

/*
 * lsm_crc32c_extend
 *		CRC of data appended to a stream whose CRC so far is init.
 */
uint32_t
lsm_crc32c_extend(uint32_t init, const void *data, size_t n)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_impl(~init, (const uint8_t *) data, n);
}

/*
 * lsm_crc32c_sw
 *		The portable implementation, whatever the CPU (for tests).
 */
uint32_t
lsm_crc32c_sw(uint32_t init, const void *data, size_t n)
{
	pthread_once(&crc_once, crc_init);
	return ~crc32c_sw(~init, (const uint8_t *) data, n);
}

/*
 * lsm_crc32c_hw_available
 *		Whether lsm_crc32c_extend uses the SSE4.2 instruction.
 */
bool
lsm_crc32c_hw_available(void)
{
	pthread_once(&crc_once, crc_init);
	return crc_impl != crc32c_sw;
}

/*
 * lsm_crc32c_hw
 *		The SSE4.2 implementation; falls back to software where the
 *		instruction does not exist, so callers need not check first.
 */
uint32_t
lsm_crc32c_hw(uint32_t init, const void *data, size_t n)
{
	pthread_once(&crc_once, crc_init);
#ifdef LSM_HAVE_CRC32C_HW
	if (crc_impl == crc32c_hw)
		return ~crc32c_hw(~init, (const uint8_t *) data, n);
#endif
	return ~crc32c_sw(~init, (const uint8_t *) data, n);
}
