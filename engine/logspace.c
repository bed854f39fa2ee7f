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

void wb_logspace_next(const struct wb_logspace *sp, uint64_t end_off, bool first,
		      struct wb_logspace_next *nx)
{
	if (end_off >= sp->end)
		end_off = sp->start; /* the previous record ended at the end */
	nx->n = 0;
	if (end_off + WB_DISK_BLOCK <= sp->end) { /* room for a header at least */
		nx->off[nx->n] = end_off;
		nx->waste[nx->n++] = 0;
	}
	if (end_off != sp->start) {
		nx->off[nx->n] = sp->start;
		nx->waste[nx->n++] = first ? 0 : sp->end - end_off;
	}
}

int wb_logspace_peek(const struct wb_logspace *sp, uint64_t bytes, uint64_t *off, uint64_t *span)
{
	uint64_t free_bytes = (sp->end - sp->start) - sp->used;
	struct wb_logspace_next nx;
	unsigned k;

	if (bytes > sp->end - sp->start)
		return -ENOSPC;
	wb_logspace_next(sp, sp->head, !sp->used, &nx);
	for (k = 0; k < nx.n && nx.off[k] + bytes > sp->end; k++)
		; /* the first candidate that holds all of it */
	if (k == nx.n)
		return -ENOSPC;
	*off = nx.off[k];
	*span = bytes + nx.waste[k];
	if (!sp->used) /* empty: no waste to charge, the record starts the run */
		return 0;
	if (*span > free_bytes)
		return -ENOSPC;
	if (*off == sp->head) {
		/* when head < tail it must end before the tail */
		if (sp->head < sp->tail && sp->head + bytes > sp->tail)
			return -ENOSPC;
	} else if (sp->head < sp->tail || sp->start + bytes > sp->tail) {
		return -ENOSPC; /* the wrap would skip or overrun the tail */
	}
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
