/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wblog_destage.h - destage of the wblog engine: copy log records to the backing
 * device and free their log space.
 *
 * One batch at a time: a seq range [from, upto] of completed records, ended
 * at a generation boundary when one fits, resolved through a temporary
 * extent map (newest version inside the batch wins, nothing newer than upto
 * is ever written: the backing device only ever moves from one seq boundary
 * to a later one), written LBA-sorted, then the backing device is flushed,
 * then the extent map drops what is now on backing, then the superblock
 * tail is persisted (FUA), and only then the log space is released.
 * Runs while log use is above destage_low_pct, else at destage_min_rate
 * (token bucket; never with WB_DESTAGE_RATE_NONE), always in write-through
 * mode, at drain and close.
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
int wbl_destage_idle(struct wblog *e);
/* Destage everything regardless of watermarks (drain) while on != 0. */
void wbl_destage_set_drain(struct wblog *e, int on);
void wbl_destage_stats(struct wblog *e, struct wb_engine_stats *st);

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
