/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * recovery.h - follow the run of valid records from the superblock's tail.
 *
 * The scan reads the log device (synchronously, through a large sliding
 * window) from sb->tail_off, expecting sb->tail_seq, and accepts the next
 * record only if it is a valid header (magic, version, UUID, crc, self
 * offset, bounds), its seq is the expected one, its epoch is >= the previous
 * record's epoch (>= sb->tail_min_epoch for the first) and <= sb->epoch, it
 * fits in the data area without overrunning the tail, and every extent's
 * data crc matches. The first record that fails ends the run; nothing after
 * it is looked at. Used by open (wblog.c) and by `wbengine info/dump/check`.
 * Writes nothing.
 */
#ifndef WB_RECOVERY_H
#define WB_RECOVERY_H

#include <stdint.h>

#include "engine/io.h"
#include "engine/record.h"
#include "engine/superblock.h"

struct wb_recovery {
	uint64_t nrecs;	     /* records in the run */
	uint64_t first_off;  /* offset of the first record (tail), if any */
	uint64_t head_off;   /* where the next record goes */
	uint64_t next_seq;   /* seq of the next record */
	uint64_t used;	     /* log bytes of the run incl. wrap waste */
	uint64_t data_bytes; /* data bytes in the run (not zero records) */
	uint64_t last_gen, last_epoch, first_gen;
	uint32_t last_flags;
	uint64_t end_off;  /* where the run ended */
	int end_torn;	   /* it ended at a damaged header/data of the next seq */
	char end_why[200]; /* why the run ended ("" = nothing more) */
};

/* Called for every record of the run, in order; data = its data blocks
 * (valid only during the call). Non-zero return stops the scan and is
 * returned by wb_recovery_scan. */
typedef int (*wb_recovery_fn)(void *arg, const struct wb_rec_info *ri, uint64_t span,
			      const void *data);

/* 0 (the run was found; out describes it) or -errno on a read error. */
int wb_recovery_scan(struct wb_io *io, const struct wb_sb *sb, uint64_t dev_blocks,
		     wb_recovery_fn fn, void *arg, struct wb_recovery *out);

/* A valid header of this log outside the run with seq >= the run's next seq
 * (found by wb_recovery_verify); non-zero return stops the search. */
typedef int (*wb_recovery_stray_fn)(void *arg, const struct wb_rec_info *ri);

/*
 * After wb_recovery_scan: did the run end at a torn tail (normal after a
 * crash: nothing after it was ever durable) or at corruption? Corruption
 * is either of:
 *   - the log was closed cleanly (WB_SB_F_CLEAN) but the run does not end
 *     at head_hint_seq / head_hint_off;
 *   - a valid header of this log outside the run, with a higher seq, says
 *     the run's end seq was already durable when it was written
 *     (durable_seq >= next seq): that record was flushed, so it cannot be
 *     a torn tail.
 * The area outside the run is read in full unless the log was closed
 * cleanly and the run reached the hint (and fn is NULL). fn (may be NULL)
 * sees every valid header outside the run with seq >= rc->next_seq.
 * Returns 0 (no corruption), 1 (corruption: why names the seq and offsets)
 * or -errno (read error). Writes nothing.
 */
int wb_recovery_verify(struct wb_io *io, const struct wb_sb *sb, uint64_t dev_blocks,
		       const struct wb_recovery *rc, wb_recovery_stray_fn fn, void *arg, char *why,
		       size_t whylen);

#endif /* WB_RECOVERY_H */
