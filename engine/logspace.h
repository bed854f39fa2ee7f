/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * logspace.h - the circular space allocator of a wblog log's data area
 * [data_off, data_off + data_size): where the next record goes, what it
 * costs (its bytes plus the gap it leaves before the end), and the one rule
 * of where a record may follow another (wb_logspace_next_pos), shared by
 * the writer (engine/wblog_write.c) and recovery (engine/recovery.c).
 * Pure bookkeeping: no I/O. The engine owns its struct wb_logspace.
 */
#ifndef WB_LOGSPACE_H
#define WB_LOGSPACE_H

#include <stdint.h>

#include "engine/superblock.h"

/* Circular space of the data area. All offsets are absolute device bytes. */
struct wb_logspace {
	uint64_t start, end; /* data area */
	uint64_t head;	     /* next record goes here (or to start on wrap) */
	uint64_t tail;	     /* oldest live record */
	uint64_t used;	     /* bytes between tail and head incl. wrap waste */
};
void wb_logspace_init(struct wb_logspace *sp, const struct wb_sb *sb, uint64_t head, uint64_t used);
/* Where would a record of `bytes` go and what would it cost (bytes + waste)?
 * Returns 0 or -ENOSPC (does not fit now). Does not change anything. */
int wb_logspace_peek(const struct wb_logspace *sp, uint64_t bytes, uint64_t *off, uint64_t *span);
/* Take the space peeked before (off, span). */
void wb_logspace_take(struct wb_logspace *sp, uint64_t off, uint64_t bytes, uint64_t span);
/* Release `span` bytes at the tail; new_tail = offset of the oldest live
 * record, or the head if none is left. */
void wb_logspace_release(struct wb_logspace *sp, uint64_t new_tail, uint64_t span);
/* Where the record after one ending at `end_off` can be: first candidate is
 * end_off itself (if a header fits before the end), the second data_off. */
uint64_t wb_logspace_next_pos(const struct wb_logspace *sp, uint64_t end_off);

#endif /* WB_LOGSPACE_H */
