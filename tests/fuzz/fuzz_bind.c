// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_bind.c - libFuzzer target for the backing's identity block parser
 * (engine/bind.c, untrusted input read from the backing device on every
 * open and by `wbengine`): wb_bind_decode() on a block made of the input
 * (zero-padded to 4 KiB), at the offset named by the first 8 input bytes.
 * Invariants: nothing crashes or reads out of bounds (ASan); a decoded
 * block re-encodes to the identical 4 KiB image (nothing is accepted that
 * the writer would not write).
 *
 * Built by `make fuzz`, run briefly by `make test` (tests/fuzz/test_fuzz.sh)
 * with the seeds in tests/fuzz/corpus/bind/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bind.h"
#include "engine/wbengine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t blk[4096], again[4096];
	struct wb_bind b;
	char why[160];
	uint64_t off = 0;
	static int quiet;

	if (!quiet) {
		wb_msg_set_sink(NULL, NULL, -1); /* no messages */
		quiet = 1;
	}
	memset(blk, 0, sizeof(blk));
	memcpy(blk, data, size < sizeof(blk) ? size : sizeof(blk));
	if (size >= sizeof(blk) + 8)
		memcpy(&off, data + sizeof(blk), 8);
	else
		off = wb_le64_get(((const struct wb_bind_disk *)blk)->dev_size);
	if (wb_bind_decode(blk, off, &b, why, sizeof(why)) == 0) {
		wb_bind_encode(&b, again);
		if (memcmp(blk, again, sizeof(blk)))
			abort();
	}
	return 0;
}
