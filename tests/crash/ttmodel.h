/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ttmodel.h - the durability model and block stamps shared by the crash
 * torture tool (wbtorture) and the kill -9 test (wbkillw).
 *
 * Stamps: every 512-byte sector of a written 4 KiB block carries a header
 * (magic, iteration, LBA, sector index, write id, crc32c of the sector) and a
 * pattern derived from them, so a sector read back names the write it came
 * from, or is all zeroes (never written, discarded, zeroed), or is garbage.
 * Sectors, not blocks, are the unit because a device is only sector-atomic:
 * a torn block is legal as long as each sector is legal.
 *
 * Model: time is a counter of events (every submit and every completion
 * ticks it). Per block the model keeps every write that touched it in this
 * iteration: id, submit time ts, completion time tc (TT_NEVER if never
 * acknowledged, failed, or acknowledged after the power cut), FUA, zero.
 * A write W is durable iff it was acknowledged and (FUA, or some flush that
 * completed successfully was submitted after W's tc). After a crash a sector
 * may hold write W iff no durable write D of that block has D.ts > W.tc
 * (D is ordered after W); the initial zero content is write 0 (ts = tc = 0).
 * A read submitted at s and completed at c may return W iff W.ts < c and no
 * write W' with W'.tc < s has W'.ts > W.tc.
 */
#ifndef TT_MODEL_H
#define TT_MODEL_H

#include <stdint.h>
#include <stdio.h>

#define TT_NEVER UINT64_MAX
#define TT_SECT	 512u
#define TT_BLOCK 4096u

struct tt_model;

struct tt_model *tt_model_new(uint64_t nblocks, uint32_t iter, uint64_t seed);
void tt_model_free(struct tt_model *m);
uint64_t tt_tick(struct tt_model *m); /* next event time */

/* A write (or zero write) of [lba, lba+n) is being submitted: returns its id. */
uint64_t tt_write_submit(struct tt_model *m, uint64_t lba, uint32_t n, int fua, int zero);
/* The write was submitted with error: forget it. */
void tt_write_cancel(struct tt_model *m, uint64_t wid, uint64_t lba, uint32_t n);
/* Acknowledged (ok=1) or failed (ok=0). */
void tt_write_done(struct tt_model *m, uint64_t wid, uint64_t lba, uint32_t n, int ok);
/* A flush submitted at time ts completed successfully. */
void tt_flush_done(struct tt_model *m, uint64_t ts);

/* Fill one 4 KiB block with the stamp of write wid (zero writes: zeroes). */
void tt_stamp(void *block, uint32_t iter, uint64_t lba, uint64_t wid);

/* Check a read of [lba, lba+n) submitted at s, completed at c. Returns the
 * number of bad blocks; describes each (up to a limit) on out. */
int tt_check_read(struct tt_model *m, uint64_t lba, uint32_t n, const void *buf, uint64_t s,
		  uint64_t c, FILE *out);
/* Check blocks read back after a crash (or a clean reopen). */
int tt_check_durable(struct tt_model *m, uint64_t lba, uint32_t n, const void *buf, FILE *out);

/* Statistics for the summary. */
void tt_model_counts(struct tt_model *m, uint64_t *writes, uint64_t *durable_blocks);

#endif /* TT_MODEL_H */
