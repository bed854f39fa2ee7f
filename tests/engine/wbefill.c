// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbefill.c - test helper: write through the wblog engine on real files.
 *
 *   wbefill --log FILE --backing FILE [--writes N] [--seed S] [--no-close]
 *           [--min-rate BYTES/S]
 *
 * Opens the wblog engine on the two files (io_uring backend), performs N
 * random writes (1..16 blocks each, every block stamped with its LBA and
 * write number; every 8th request a flush, every 16th a discard), flushes,
 * reads the whole device back through the engine and prints
 * "device-crc32c 0x%08x" of its content, then closes cleanly (or, with
 * --no-close, exits right after the final flush without closing, like a
 * killed process: the log is not marked clean). With --writes 0 it only
 * opens (recovery), prints the device checksum and closes: the checksum
 * must not change across a reopen. --min-rate sets the engine's
 * destage_min_rate (1: destage only above the low watermark, so records
 * stay dirty in the log). Used by tests/engine/test_wbengine.sh.
 * Exit 0 ok, 1 engine error, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/wbengine.h"

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"log", 1, NULL, 'l'},  {"backing", 1, NULL, 'b'},	{"writes", 1, NULL, 'w'},
	    {"seed", 1, NULL, 's'}, {"no-close", 0, NULL, 'n'}, {"min-rate", 1, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	const char *logp = NULL, *bakp = NULL;
	unsigned long writes = 100, i;
	unsigned long long seed = 1, x;
	struct wb_io *log = NULL, *bak = NULL;
	struct wb_engine_params p = {.name = "wbefill"};
	struct wb_engine *e = NULL;
	uint64_t nblocks, lba;
	uint32_t crc = 0, n, k;
	uint8_t *buf;
	int c, ret, rc = 1, no_close = 0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			logp = optarg;
			break;
		case 'b':
			bakp = optarg;
			break;
		case 'w':
			writes = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			no_close = 1;
			break;
		case 'r':
			p.destage_min_rate = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr,
				"usage: wbefill --log F --backing F [--writes N] [--seed S] "
				"[--no-close] [--min-rate BYTES/S]\n");
			return 2;
		}
	}
	if (!logp || !bakp) {
		fprintf(stderr, "wbefill: --log and --backing are required\n");
		return 2;
	}
	buf = wb_io_alloc(16 * WB_BLOCK_SIZE);
	if (!buf)
		return 1;
	if (wb_io_uring_open(logp, 0, 0, 64, &log) || wb_io_uring_open(bakp, 0, 0, 64, &bak))
		goto out;
	p.log_io = log;
	p.backing_io = bak;
	ret = wb_engine_open("wblog", &p, &e);
	if (ret) {
		fprintf(stderr, "wbefill: open: %s\n", strerror(-ret));
		goto out;
	}
	{
		struct wb_engine_stats st;

		wb_engine_stats(e, &st);
		nblocks = st.size / WB_BLOCK_SIZE;
	}
	x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (i = 0; i < writes; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		n = 1 + (uint32_t)((x >> 33) % 16);
		if (n > nblocks)
			n = (uint32_t)nblocks;
		lba = (x >> 11) % (nblocks - n + 1);
		if (i % 16 == 15) {
			struct wb_req r = {.op = WB_REQ_DISCARD,
					   .off = lba * WB_BLOCK_SIZE,
					   .len = n * WB_BLOCK_SIZE};

			ret = wb_engine_sync(e, &r);
		} else {
			for (k = 0; k < n; k++) {
				uint64_t *w = (uint64_t *)(buf + (size_t)k * WB_BLOCK_SIZE);

				memset(w, (int)(i & 0xff), WB_BLOCK_SIZE);
				w[0] = lba + k;
				w[1] = i;
				w[2] = seed;
			}
			ret = wb_engine_write(e, buf, n * WB_BLOCK_SIZE, lba * WB_BLOCK_SIZE, 0);
		}
		if (!ret && i % 8 == 7)
			ret = wb_engine_flush(e);
		if (ret) {
			fprintf(stderr, "wbefill: request %lu: %s\n", i, strerror(-ret));
			goto out;
		}
	}
	ret = wb_engine_flush(e);
	for (lba = 0; !ret && lba < nblocks; lba += n) {
		n = nblocks - lba < 16 ? (uint32_t)(nblocks - lba) : 16;
		ret = wb_engine_read(e, buf, n * WB_BLOCK_SIZE, lba * WB_BLOCK_SIZE);
		if (!ret)
			crc = wb_crc32c(crc, buf, (size_t)n * WB_BLOCK_SIZE);
	}
	if (ret) {
		fprintf(stderr, "wbefill: flush/read back: %s\n", strerror(-ret));
		goto out;
	}
	printf("device-crc32c 0x%08x\n", crc);
	fflush(stdout);
	if (no_close)
		_exit(0); /* like kill -9 after the flush: no clean close */
	rc = 0;
out:
	wb_engine_close(e);
	wb_io_close(log);
	wb_io_close(bak);
	wb_io_free(buf);
	return rc;
}
