// SPDX-License-Identifier: GPL-2.0-only
/*
 * crc32c.c - CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78).
 *
 * Two implementations with the same result: a portable slice-by-8 table
 * version and an SSE4.2 version (the crc32 instruction), chosen at run time
 * with cpuid. Convention: wb_crc32c(0, buf, len) is the standard CRC-32C
 * (initial value ~0 and final xor are applied inside), and passing a previous
 * result as `crc` continues it: crc(a || b) = wb_crc32c(wb_crc32c(0, a), b).
 *
 * Thread safe: io loops and the engine loop compute crcs (tables built once,
 * under pthread_once, on first use).
 *
 * Owns: the lookup tables and the dispatch choice.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "engine/wbengine.h"
#ifdef WB_HAVE_ISAL
#include <isa-l/crc.h>
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static _Atomic int crc_table_ready; /* io loops and the engine loop compute crcs */

static void crc32c_init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
			    (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	crc_table_ready = 1;
}

static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

/*
 * Combining (zlib's crc32_combine, for CRC-32C): with the convention above,
 * crc(a || b) = shift(crc(a), len(b)) ^ crc(b), where shift multiplies by
 * x^(8 len(b)) modulo the polynomial (GF(2), reflected: bit 31 is x^0).
 * Multiplication by a constant is linear, so for the one length the engine
 * combines (a 4 KiB block) it is four table lookups: shift4k[k][v] is the
 * product of the constant with byte value v at byte k.
 */
static uint32_t gf2_multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if (!(a & (m - 1)))
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
	}
	return p;
}

/* x^(8 * n) modulo the polynomial */
static uint32_t gf2_x8nmodp(uint64_t n)
{
	uint32_t p = 1u << 31, x2k = 1u << 30; /* x^0, x^1 */
	unsigned k = 0;

	n *= 8;
	while (n) {
		if (n & 1)
			p = gf2_multmodp(x2k, p);
		n >>= 1;
		x2k = gf2_multmodp(x2k, x2k);
		k++;
	}
	return p;
}

static uint32_t shift4k[4][256];
/* the 4 KiB hardware path joins three lanes of CRC32C_LANE bytes */
#define CRC32C_LANE 1360u
static uint32_t shift_lane[4][256];

static uint32_t shift_by(const uint32_t t[4][256], uint32_t c)
{
	return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

static void crc32c_init_tables(void)
{
	uint32_t op = gf2_x8nmodp(4096), lane = gf2_x8nmodp(CRC32C_LANE);

	if (!crc_table_ready)
		crc32c_init_table();
	for (unsigned k = 0; k < 4; k++)
		for (uint32_t v = 0; v < 256; v++) {
			shift4k[k][v] = gf2_multmodp(op, v << (8 * k));
			shift_lane[k][v] = gf2_multmodp(lane, v << (8 * k));
		}
}

uint32_t wb_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	if (len_b == 4096) {
		pthread_once(&crc_table_once, crc32c_init_tables);
		return shift_by(shift4k, crc_a) ^ crc_b;
	}
	return gf2_multmodp(gf2_x8nmodp(len_b), crc_a) ^ crc_b;
}

uint32_t wb_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	if (!crc_table_ready)
		pthread_once(&crc_table_once, crc32c_init_tables);
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= c; /* little-endian hosts only; see the #error below */
		c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		    crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		    crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		    crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return ~c;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "crc32c.c: the slice-by-8 loop assumes a little-endian host"
#endif

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf,
							    size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = (uint32_t)~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

/*
 * One 4 KiB block, three lanes at once: the crc32 instruction has a latency
 * of about 3 cycles and a throughput of one per cycle, so one dependent
 * chain (crc32c_hw) runs at a third of what the unit can do. Three
 * independent chains over 1360-byte lanes, joined with the combine tables
 * (crc(a || b) = shift(crc(a), len b) ^ crc(b)), then the last 16 bytes:
 * about 2.5x the single chain (tests/bench/wbbench_crc).
 */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_4k(uint32_t crc, const uint8_t *p)
{
	uint64_t a = (uint32_t)~crc, b = 0xffffffffu, c = 0xffffffffu;
	const uint8_t *pb = p + CRC32C_LANE, *pc = p + 2 * CRC32C_LANE;
	uint32_t r;

	for (size_t i = 0; i < CRC32C_LANE; i += 8) {
		uint64_t wa, wb, wc;

		memcpy(&wa, p + i, 8);
		memcpy(&wb, pb + i, 8);
		memcpy(&wc, pc + i, 8);
		a = __builtin_ia32_crc32di(a, wa);
		b = __builtin_ia32_crc32di(b, wb);
		c = __builtin_ia32_crc32di(c, wc);
	}
	r = shift_by(shift_lane, ~(uint32_t)a) ^ ~(uint32_t)b;
	r = shift_by(shift_lane, r) ^ ~(uint32_t)c;
	return crc32c_hw(r, p + 3 * CRC32C_LANE, 4096 - 3 * CRC32C_LANE);
}

int wb_crc32c_hw_available(void)
{
	static _Atomic int have = -1;

	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return have;
}

uint32_t wb_crc32c_builtin(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!wb_crc32c_hw_available())
		return wb_crc32c_sw(crc, buf, len);
	if (len >= 4096) {
		pthread_once(&crc_table_once, crc32c_init_tables);
		for (; len >= 4096; p += 4096, len -= 4096)
			crc = crc32c_hw_4k(crc, p);
	}
	return crc32c_hw(crc, p, len);
}
#else
int wb_crc32c_hw_available(void)
{
	return 0;
}

uint32_t wb_crc32c_builtin(uint32_t crc, const void *buf, size_t len)
{
	return wb_crc32c_sw(crc, buf, len);
}
#endif

#ifdef WB_HAVE_ISAL
/* ISA-L's crc32_iscsi (PCLMUL folding, dispatched by CPU) is about 1.5x the
 * built-in code on 4 KiB blocks (tests/bench/wbbench_crc): used when the
 * build found libisal-dev. It takes and returns the register without the
 * inversions of this file's convention: hence the ~. */
uint32_t wb_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	for (; len > (1u << 30); p += 1u << 30, len -= 1u << 30)
		crc = crc32_iscsi((unsigned char *)p, 1 << 30, crc);
	return ~crc32_iscsi((unsigned char *)p, (int)len, crc);
}
#else
uint32_t wb_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return wb_crc32c_builtin(crc, buf, len);
}
#endif
