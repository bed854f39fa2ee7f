/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wblog_destage.h - destage of the wblog engine: copy log records to the backing
 * device and free their log space.
 *
 * A batch is a seq range [from, upto] of records durable in the log, ended
 * at a generation boundary when one fits, resolved through a temporary
 * extent map (newest version inside the batch wins, nothing newer than upto
 * is written by it), written LBA-sorted. Two batches are in flight: the
 * newer reads its data from the log while the older writes, and it starts
 * writing while the older still writes only if they share no block
 * (otherwise when the older's writes completed), so the versions of a block
 * reach the backing device in seq order. The tail is persisted for several
 * written batches at once: backing flush (covering every write of the
 * batches it covers), then the extent map drops what is now on backing,
 * then the superblock tail (FUA), and only then the log space is released.
 * A power cut before that leaves the tail where it was: replay from it
 * covers every block destage may have written since.
 * Runs while log use is above destage_low_pct, else at destage_min_rate
 * (token bucket, one batch at a time; never with WB_DESTAGE_RATE_NONE),
 * always in write-through mode (tail after every batch), at drain and close.
 */
#ifndef WBL_DESTAGE_H
#define WBL_DESTAGE_H

#include <stdint.h>

struct wblog;
struct wb_engine_stats;

int wbl_destage_create(struct wblog *e);
void wbl_destage_destroy(struct wblog *e);
/* Start a batch if the policy says so; called from run(). */
void wbl_destage_step(struct wblog *e);
/* ms until the rate timer wants a batch, -1 = none. */
int wbl_destage_timeout(struct wblog *e);
uint64_t wbl_destage_held_due(const struct wblog *e);
int wbl_destage_idle(struct wblog *e);
void wbl_destage_rebased(struct wblog *e);
/* Destage everything regardless of watermarks (drain) while on != 0. */
void wbl_destage_set_drain(struct wblog *e, int on);
void wbl_destage_stats(struct wblog *e, struct wb_engine_stats *st);
/* The first record destage has not picked (the backing device holds
 * nothing of it or of a later record). */
uint64_t wbl_destage_untouched(const struct wblog *e);
/* op destage_fill (engine ABI 17): the host's copy of blocks destage could
 * not read from the log (see wblog_destage.c) */
int wbl_destage_fill(struct wblog *e, uint64_t lba, uint32_t n, uint64_t since, const void *buf);

/* A piece of a destage batch, in write order (lba, nblocks, seq). */
struct wbl_destage_piece {
	uint64_t lba;
	uint32_t nblocks;
	uint64_t log_blk; /* wbl_is_zero_logblk() for zero pieces */
	uint64_t seq;
	uint64_t buf_off; /* byte offset in the batch buffer (data read from the log) */
	uint32_t pg;	  /* data in RAM pages: index of its first block's page
			   * reference in the batch's; UINT32_MAX: in the buffer */
};

#endif /* WBL_DESTAGE_H */
