/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * logspace.h - the circular space allocator of a wblog log's data area
 * [data_off, data_off + data_size): where the next record goes, what it
 * costs (its bytes plus the gap it leaves before the end), and the one rule
 * of where a record may follow another (wb_logspace_next), shared by
 * the writer (engine/wblog_write.c) and recovery (engine/recovery.c).
 * Pure bookkeeping: no I/O. The engine owns its struct wb_logspace.
 */
#ifndef WB_LOGSPACE_H
#define WB_LOGSPACE_H

#include <stdbool.h>
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
/*
 * The placement rule, in one place: where the record after one ending at
 * end_off (or the first record after the tail) may sit. The writer
 * (wb_logspace_peek) takes the first candidate that holds the whole record
 * before the end of the data area; recovery, which learns a record's size
 * only from its header, tries them in order. off[0] is end_off (data_off
 * when end_off is the end of the area), off[1] when n == 2 is data_off: the
 * wrap, charged the gap up to the end (waste) unless the record is the
 * first of an empty log (`first`).
 */
struct wb_logspace_next {
	unsigned n;
	uint64_t off[2], waste[2];
};
void wb_logspace_next(const struct wb_logspace *sp, uint64_t end_off, bool first,
		      struct wb_logspace_next *nx);
/* Where would a record of `bytes` go (wb_logspace_next from the head) and
 * what would it cost (bytes + waste)? Returns 0 or -ENOSPC (does not fit
 * now). Does not change anything. */
int wb_logspace_peek(const struct wb_logspace *sp, uint64_t bytes, uint64_t *off, uint64_t *span);
/* Take the space peeked before (off, span). */
void wb_logspace_take(struct wb_logspace *sp, uint64_t off, uint64_t bytes, uint64_t span);
/* Release `span` bytes at the tail; new_tail = offset of the oldest live
 * record, or the head if none is left. */
void wb_logspace_release(struct wb_logspace *sp, uint64_t new_tail, uint64_t span);

#endif /* WB_LOGSPACE_H */
