// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbbench_crc.c - crc32c throughput on 4 KiB blocks (what the NBD io loops
 * and the engine compute per block): the built-in code (wb_crc32c_builtin:
 * SSE4.2, three lanes, where the CPU has it), its portable table version,
 * and ISA-L's crc32_iscsi when built with it (HAVE_ISAL, Debian
 * libisal-dev; wb_crc32c is then ISA-L's). Checks that all give
 * the same crc first. Prints one JSON object:
 *   {"block": 4096, "mib": N, "builtin_gbps": x, "sw_gbps": y, "isal_gbps": z|null}
 *   wbbench_crc [MiB]   (default 256)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/wbengine.h"
#ifdef HAVE_ISAL
#include <isa-l/crc.h>
#endif

#define BLK 4096u

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#ifdef HAVE_ISAL
/* ISA-L's iSCSI crc without the final inversion: the standard CRC-32C is
 * ~crc32_iscsi(buf, len, ~0), continued from a previous standard crc c by
 * passing ~c */
static uint32_t isal_crc(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32_iscsi((unsigned char *)buf, (int)len, ~crc);
}
#endif

/* GB/s of fn over nblk blocks of buf, best of 3 passes */
static double run(uint32_t (*fn)(uint32_t, const void *, size_t), const uint8_t *buf, size_t nblk,
		  uint32_t *sum)
{
	double best = 0;

	for (int pass = 0; pass < 3; pass++) {
		double t0 = now_s(), dt;
		uint32_t s = 0;

		for (size_t i = 0; i < nblk; i++)
			s ^= fn(0, buf + i * BLK, BLK);
		dt = now_s() - t0;
		*sum = s;
		if (dt > 0 && nblk * BLK / dt / 1e9 > best)
			best = nblk * BLK / dt / 1e9;
	}
	return best;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	size_t nblk = (mib << 20) / BLK;
	uint8_t *buf = malloc(nblk * BLK);
	uint64_t x = 0x243f6a8885a308d3ull;
	uint32_t s_hw, s_sw;
	double hw, sw, isal = -1;

	if (!buf || !nblk) {
		fprintf(stderr, "wbbench_crc: no memory for %zu MiB\n", mib);
		return 1;
	}
	for (size_t i = 0; i < nblk * BLK; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	hw = run(wb_crc32c_builtin, buf, nblk, &s_hw);
	sw = run(wb_crc32c_sw, buf, nblk / 8 ? nblk / 8 : 1, &s_sw);
	if (wb_crc32c_builtin(0, buf, BLK) != wb_crc32c_sw(0, buf, BLK)) {
		fprintf(stderr, "wbbench_crc: built-in and table crc differ\n");
		return 1;
	}
#ifdef HAVE_ISAL
	{
		uint32_t s_isal;

		if (isal_crc(0, buf, BLK) != wb_crc32c_builtin(0, buf, BLK) ||
		    isal_crc(wb_crc32c_builtin(0, buf, 100), buf + 100, 900) !=
			wb_crc32c_builtin(0, buf, 1000)) {
			fprintf(stderr, "wbbench_crc: ISA-L crc32_iscsi differs from wb_crc32c\n");
			return 1;
		}
		isal = run(isal_crc, buf, nblk, &s_isal);
		if (s_isal != s_hw) {
			fprintf(stderr, "wbbench_crc: ISA-L sum differs\n");
			return 1;
		}
	}
#endif
	printf("{\"block\": %u, \"mib\": %zu, \"builtin_hw\": %d, \"builtin_gbps\": %.3f, "
	       "\"sw_gbps\": %.3f, \"isal_gbps\": ",
	       BLK, mib, wb_crc32c_hw_available(), hw, sw);
	if (isal < 0)
		printf("null}\n");
	else
		printf("%.3f}\n", isal);
	free(buf);
	return 0;
}
