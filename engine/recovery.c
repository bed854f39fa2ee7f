// SPDX-License-Identifier: GPL-2.0-only
/*
 * recovery.c - the log scan that finds the longest valid consecutive run of
 * records after a crash or a clean close (see recovery.h and the stale
 * record argument in docs/ondisk-format.md).
 *
 * Owns: the read window (freed before returning). Where a record may be is
 * the writer's rule, wb_logspace_next() (engine/logspace.c): it follows the
 * previous one directly, or sits at data_off when it did not fit before the
 * end of the data area; the scan tries those candidates in that order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/logspace.h"
#include "engine/recovery.h"

#define RCV_WINDOW (8u << 20)

struct rcv {
	struct wb_io *io;
	const struct wb_sb *sb;
	uint64_t dev_blocks, end;
	uint8_t *win;
	uint64_t win_off, win_len, win_cap;
	int torn; /* the last rcv_try failure: a header of that record, but bad */
	struct wb_rec_info ri;
};

/* Pointer to [off, off+len) of the log device, via the window. */
static int rcv_read(struct rcv *c, uint64_t off, uint64_t len, const uint8_t **out)
{
	uint64_t n;
	int ret;

	if (off >= c->win_off && off + len <= c->win_off + c->win_len) {
		*out = c->win + (off - c->win_off);
		return 0;
	}
	n = c->win_cap;
	if (off + n > c->end)
		n = c->end - off;
	if (n < len)
		return -EINVAL;
	c->win_len = 0;
	ret = wb_io_pread(c->io, c->win, n, off);
	if (ret < 0)
		return ret;
	c->win_off = off;
	c->win_len = n;
	*out = c->win;
	return 0;
}

/* Is there a valid record `seq` at off? 0 yes (c->ri filled), 1 no (why), <0 I/O. */
static int rcv_try(struct rcv *c, uint64_t off, uint64_t seq, uint64_t min_epoch, uint64_t room,
		   const uint8_t **data, char *why, size_t whylen)
{
	struct wb_rec_expect x = {
	    .uuid = c->sb->uuid,
	    .self_off = off,
	    .max_data_blocks = c->sb->max_rec_blocks,
	    .dev_blocks = c->dev_blocks,
	};
	const uint8_t *p;
	uint64_t bytes;
	uint32_t bad;
	int ret;

	c->torn = 0;
	if (off + WB_DISK_BLOCK > c->end) {
		snprintf(why, whylen, "no room for a header at 0x%llx", (unsigned long long)off);
		return 1;
	}
	ret = rcv_read(c, off, WB_DISK_BLOCK, &p);
	if (ret)
		return ret;
	ret = wb_record_decode(p, WB_DISK_BLOCK, &x, &c->ri);
	if (ret) {
		const struct wb_rec_disk *d = (const void *)p;

		/* this log's header for this seq and place, but broken: torn */
		c->torn = ret != -WB_REC_EMAGIC && ret != -WB_REC_EUUID &&
			  ret != -WB_REC_EVERSION && wb_le64_get(d->seq) == seq &&
			  wb_le64_get(d->self_off) == off;
		snprintf(why, whylen, "at 0x%llx: %s", (unsigned long long)off,
			 wb_record_strerror(ret));
		return 1;
	}
	if (c->ri.seq != seq) {
		snprintf(why, whylen, "at 0x%llx: seq %llu, expected %llu (end of the log)",
			 (unsigned long long)off, (unsigned long long)c->ri.seq,
			 (unsigned long long)seq);
		return 1;
	}
	if (c->ri.epoch < min_epoch || c->ri.epoch > c->sb->epoch) {
		snprintf(why, whylen,
			 "at 0x%llx: seq %llu has stale epoch %llu (allowed %llu..%llu)",
			 (unsigned long long)off, (unsigned long long)seq,
			 (unsigned long long)c->ri.epoch, (unsigned long long)min_epoch,
			 (unsigned long long)c->sb->epoch);
		return 1;
	}
	bytes = wb_record_bytes(&c->ri);
	if (off + bytes > c->end || bytes > room) {
		c->torn = 1;
		snprintf(why, whylen, "at 0x%llx: seq %llu does not fit in the log",
			 (unsigned long long)off, (unsigned long long)seq);
		return 1;
	}
	ret = rcv_read(c, off + WB_DISK_BLOCK, bytes - WB_DISK_BLOCK, &p);
	if (ret)
		return ret;
	if (wb_record_check_data(&c->ri, p, &bad)) {
		snprintf(why, whylen, "at 0x%llx: seq %llu extent %u data checksum mismatch",
			 (unsigned long long)off, (unsigned long long)seq, bad);
		c->torn = 1;
		return 1;
	}
	*data = p;
	return 0;
}

int wb_recovery_scan(struct wb_io *io, const struct wb_sb *sb, uint64_t dev_blocks,
		     wb_recovery_fn fn, void *arg, struct wb_recovery *out)
{
	struct rcv c = {.io = io, .sb = sb, .dev_blocks = dev_blocks};
	uint64_t start = sb->data_off, pos = sb->tail_off, seq = sb->tail_seq;
	struct wb_logspace sp;
	uint64_t min_epoch = sb->tail_min_epoch, i, max_iter;
	char why1[200], why2[200];
	int ret = 0;

	memset(out, 0, sizeof(*out));
	c.end = sb->data_off + sb->data_size;
	/* a small log needs no 8 MiB window (the fuzzer scans thousands) */
	c.win_cap = sb->data_size < RCV_WINDOW ? sb->data_size : RCV_WINDOW;
	c.win = wb_io_alloc(c.win_cap);
	if (!c.win)
		return -ENOMEM;
	wb_logspace_init(&sp, sb, pos, 0);
	max_iter = sb->data_size / WB_DISK_BLOCK + 1;
	for (i = 0; i < max_iter; i++) {
		const uint8_t *data = NULL;
		struct wb_logspace_next nx;
		uint64_t off = 0, waste = 0, span, room;
		int r = 1, torn1 = 0;
		unsigned k;

		/* the writer's candidates, in its order (logspace.h) */
		wb_logspace_next(&sp, pos, !out->nrecs, &nx);
		room = sb->data_size - out->used;
		for (k = 0; k < nx.n && r == 1; k++) {
			off = nx.off[k];
			waste = nx.waste[k];
			r = room >= waste ? rcv_try(&c, off, seq, min_epoch, room - waste, &data,
						    k ? why2 : why1, sizeof(why1))
					  : 1;
			if (!k)
				torn1 = c.torn;
		}
		if (r < 0) {
			ret = r;
			break;
		}
		if (r) {
			out->end_off = nx.off[0];
			out->end_torn = torn1 || c.torn;
			snprintf(out->end_why, sizeof(out->end_why), "%s", why1);
			break;
		}
		span = waste + wb_record_bytes(&c.ri);
		if (fn) {
			ret = fn(arg, &c.ri, span, data);
			if (ret)
				break;
		}
		if (!out->nrecs) {
			out->first_off = off;
			out->first_gen = c.ri.gen;
		}
		out->nrecs++;
		out->used += span;
		if (!(c.ri.flags & WB_REC_F_ZERO))
			out->data_bytes += (uint64_t)c.ri.data_blocks * WB_DISK_BLOCK;
		out->last_gen = c.ri.gen;
		out->last_epoch = c.ri.epoch;
		out->last_flags = c.ri.flags;
		min_epoch = c.ri.epoch;
		pos = off + wb_record_bytes(&c.ri);
		seq++;
	}
	if (pos >= c.end)
		pos = start;
	out->head_off = pos;
	out->next_seq = seq;
	if (!out->nrecs)
		out->first_off = sb->tail_off;
	wb_io_free(c.win);
	return ret;
}

/* Look at [from, to) for valid headers of this log with seq >= rc->next_seq. */
static int rcv_strays(struct rcv *c, uint64_t from, uint64_t to, const struct wb_recovery *rc,
		      wb_recovery_stray_fn fn, void *arg, char *why, size_t whylen, int *corrupt)
{
	struct wb_rec_expect x = {
	    .uuid = c->sb->uuid,
	    .max_data_blocks = c->sb->max_rec_blocks,
	    .dev_blocks = c->dev_blocks,
	};
	uint64_t pos = from;
	int ret;

	while (pos + WB_DISK_BLOCK <= to) {
		const uint8_t *p;

		ret = rcv_read(c, pos, WB_DISK_BLOCK, &p); /* refills a whole window */
		if (ret)
			return ret;
		if (wb_le64_get(((const struct wb_rec_disk *)p)->magic) != WB_REC_MAGIC) {
			pos += WB_DISK_BLOCK;
			continue;
		}
		x.self_off = pos;
		if (wb_record_decode(p, WB_DISK_BLOCK, &x, &c->ri) || c->ri.seq < rc->next_seq) {
			pos += WB_DISK_BLOCK;
			continue;
		}
		/* (a record of an epoch before the run's tail was written before
		 * it: e.g. one a rebase to a lower seq left behind) */
		if (!*corrupt && c->ri.durable_seq >= rc->next_seq && c->ri.epoch <= c->sb->epoch &&
		    c->ri.epoch >= c->sb->tail_min_epoch) {
			*corrupt = 1;
			snprintf(why, whylen,
				 "record seq %llu at 0x%llx was written after seq %llu..%llu were "
				 "durable, but the run of records ends at seq %llu at 0x%llx (%s)",
				 (unsigned long long)c->ri.seq, (unsigned long long)pos,
				 (unsigned long long)c->sb->tail_seq,
				 (unsigned long long)c->ri.durable_seq,
				 (unsigned long long)rc->next_seq, (unsigned long long)rc->end_off,
				 rc->end_why[0] ? rc->end_why : "-");
		}
		if (fn) {
			ret = fn(arg, &c->ri);
			if (ret)
				return ret;
		}
		pos += wb_record_bytes(&c->ri); /* its data is not looked at */
	}
	return 0;
}

int wb_recovery_verify(struct wb_io *io, const struct wb_sb *sb, uint64_t dev_blocks,
		       const struct wb_recovery *rc, wb_recovery_stray_fn fn, void *arg, char *why,
		       size_t whylen)
{
	struct rcv c = {.io = io, .sb = sb, .dev_blocks = dev_blocks};
	uint64_t start = sb->data_off, end = sb->data_off + sb->data_size;
	int corrupt = 0, ret = 0;

	why[0] = 0;
	if ((sb->flags & WB_SB_F_CLEAN) && sb->head_hint_seq) {
		uint64_t hint = sb->head_hint_off >= end ? start : sb->head_hint_off;

		if (rc->next_seq != sb->head_hint_seq || (rc->nrecs && rc->head_off != hint)) {
			corrupt = 1;
			snprintf(
			    why, whylen,
			    "the log was closed cleanly with its head at seq %llu (0x%llx), but "
			    "the run of records ends at seq %llu at 0x%llx (%s)",
			    (unsigned long long)sb->head_hint_seq, (unsigned long long)hint,
			    (unsigned long long)rc->next_seq, (unsigned long long)rc->end_off,
			    rc->end_why[0] ? rc->end_why : "-");
		} else if (!fn) {
			return 0;
		}
	}
	c.end = end;
	c.win_cap = sb->data_size < RCV_WINDOW ? sb->data_size : RCV_WINDOW;
	c.win = wb_io_alloc(c.win_cap);
	if (!c.win)
		return -ENOMEM;
	/* outside the run: [head, tail) around the circle; all of it if empty */
	if (!rc->nrecs) {
		ret = rcv_strays(&c, start, end, rc, fn, arg, why, whylen, &corrupt);
	} else if (rc->head_off > rc->first_off) {
		ret = rcv_strays(&c, rc->head_off, end, rc, fn, arg, why, whylen, &corrupt);
		if (!ret)
			ret = rcv_strays(&c, start, rc->first_off, rc, fn, arg, why, whylen,
					 &corrupt);
	} else if (rc->head_off < rc->first_off) {
		ret =
		    rcv_strays(&c, rc->head_off, rc->first_off, rc, fn, arg, why, whylen, &corrupt);
	}
	wb_io_free(c.win);
	return ret < 0 ? ret : corrupt;
}
