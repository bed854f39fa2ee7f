// SPDX-License-Identifier: GPL-2.0-only
/*
 * logspace.c - the circular space allocator of the log's data area (see
 * logspace.h). Offsets are absolute device bytes.
 */
#include <errno.h>

#include "engine/logspace.h"

void wb_logspace_init(struct wb_logspace *sp, const struct wb_sb *sb, uint64_t head, uint64_t used)
{
	sp->start = sb->data_off;
	sp->end = sb->data_off + sb->data_size;
	sp->tail = sb->tail_off;
	sp->head = head >= sp->end ? sp->start : head;
	sp->used = used;
}

int wb_logspace_peek(const struct wb_logspace *sp, uint64_t bytes, uint64_t *off, uint64_t *span)
{
	uint64_t free_bytes = (sp->end - sp->start) - sp->used;

	if (bytes > sp->end - sp->start)
		return -ENOSPC;
	if (!sp->used) { /* empty: no waste to charge, the record starts the run */
		*off = sp->head + bytes <= sp->end ? sp->head : sp->start;
		*span = bytes;
		return 0;
	}
	if (sp->head + bytes <= sp->end) {
		/* fits before the end; when head < tail it must also end before the tail */
		if (sp->used && sp->head < sp->tail && sp->head + bytes > sp->tail)
			return -ENOSPC;
		if (bytes > free_bytes)
			return -ENOSPC;
		*off = sp->head;
		*span = bytes;
		return 0;
	}
	/* wrap to the start: the gap up to the end is wasted */
	if (sp->used && sp->head < sp->tail)
		return -ENOSPC;
	if (sp->used && sp->start + bytes > sp->tail)
		return -ENOSPC;
	if (bytes + (sp->end - sp->head) > free_bytes)
		return -ENOSPC;
	*off = sp->start;
	*span = bytes + (sp->end - sp->head);
	return 0;
}

void wb_logspace_take(struct wb_logspace *sp, uint64_t off, uint64_t bytes, uint64_t span)
{
	if (!sp->used)
		sp->tail = off;
	sp->head = off + bytes;
	if (sp->head >= sp->end)
		sp->head = sp->start;
	sp->used += span;
}

void wb_logspace_release(struct wb_logspace *sp, uint64_t new_tail, uint64_t span)
{
	sp->used -= span;
	sp->tail = new_tail;
}

uint64_t wb_logspace_next_pos(const struct wb_logspace *sp, uint64_t end_off)
{
	return end_off + WB_DISK_BLOCK <= sp->end ? end_off : sp->start;
}
