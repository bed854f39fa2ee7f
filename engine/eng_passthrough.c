// SPDX-License-Identifier: GPL-2.0-only
/*
 * eng_passthrough.c - the "passthrough" engine: every request goes straight
 * to the backing device, nothing is cached, no log is used.
 *
 *   read          -> WB_IO_READ (into the caller's buffer if 4096-aligned,
 *                    else through a bounce buffer)
 *   write         -> WB_IO_WRITE of a copy made at submit
 *   write + FUA   -> WB_IO_WRITE with WB_IO_FUA
 *   PREFLUSH      -> WB_IO_FLUSH first, the write when it completed
 *   flush         -> WB_IO_FLUSH
 *   discard       -> WB_IO_DISCARD (a hole / unmap that reads zeroes)
 *   write-zeroes  -> WB_IO_WRITE_ZEROES (zeroed in place)
 *   (the backend writes zeroes where the device cannot do either, and
 *   orders both against overlapping writes in flight: engine/io.h)
 *
 * Flush ordering: an engine write completes exactly when its backing write
 * completed, so every write that completed before a flush was submitted has
 * completed on the backing device before the WB_IO_FLUSH is submitted; the
 * wb_io contract then makes them durable when that flush completes.
 *
 * Completions are delivered from the backing device's reap(), which only
 * wb_engine_run() calls, so done() is never called from submit.
 * Owns: one struct pt_req (plus bounce buffer) per request in flight and
 * the counters. The backing wb_io is the caller's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wbengine.h"

/* Bounce buffers are kept for reuse per power-of-two size class from 4 KiB
 * to 4 MiB, at most PT_POOL_DEPTH each: a fresh 1 MiB buffer per request
 * cost an mmap, 256 page faults and a munmap (0.1x raw on 1M writes). */
#define PT_POOL_MIN   12
#define PT_POOL_MAX   22
#define PT_POOL_DEPTH 8

extern const struct wb_engine_ops wb_passthrough_ops;

struct pt_engine {
	struct wb_engine e;
	struct wb_io *io;
	uint64_t size;
	unsigned inflight;
	struct wb_engine_stats st;
	void *pool[PT_POOL_MAX - PT_POOL_MIN + 1][PT_POOL_DEPTH];
	unsigned npool[PT_POOL_MAX - PT_POOL_MIN + 1];
};

struct pt_req {
	struct pt_engine *pe;
	struct wb_req *r;
	void *bounce;
	unsigned left; /* io requests still in flight */
	int err;
	unsigned nio;
	struct wb_io_req io[]; /* nio entries */
};

static struct pt_engine *pt_of(struct wb_engine *e)
{
	return (struct pt_engine *)e;
}

/* size class of len (log2 of the rounded-up size), or -1: not pooled */
static int pt_class(uint32_t len)
{
	int c = PT_POOL_MIN;

	while (c <= PT_POOL_MAX && (1u << c) < len)
		c++;
	return c <= PT_POOL_MAX ? c - PT_POOL_MIN : -1;
}

static void *pt_buf_get(struct pt_engine *pe, uint32_t len)
{
	int c = pt_class(len);

	if (c < 0)
		return wb_io_alloc(len);
	if (pe->npool[c])
		return pe->pool[c][--pe->npool[c]];
	return wb_io_alloc((size_t)1 << (c + PT_POOL_MIN));
}

static void pt_buf_put(struct pt_engine *pe, void *buf, uint32_t len)
{
	int c = pt_class(len);

	if (!buf)
		return;
	if (c < 0 || pe->npool[c] == PT_POOL_DEPTH) {
		wb_io_free(buf);
		return;
	}
	pe->pool[c][pe->npool[c]++] = buf;
}

static void pt_finish(struct pt_req *q)
{
	struct pt_engine *pe = q->pe;
	struct wb_req *r = q->r;
	int err = q->err;

	if (!err && r->op == WB_REQ_READ && q->bounce)
		memcpy(r->buf, q->bounce, r->len);
	if (err)
		wb_msg(WB_LOG_ERR, "%s: request op %u off %llu len %u failed: %s", pe->e.name,
		       r->op, (unsigned long long)r->off, r->len, strerror(-err));
	pt_buf_put(pe, q->bounce, r->len);
	free(q);
	pe->inflight--;
	r->done(r, err);
}

static void pt_io_done(struct wb_io_req *ior, int res)
{
	struct pt_req *q = ior->priv;

	if (res < 0 && !q->err)
		q->err = res;
	else if (res >= 0 && ior->op != WB_IO_FLUSH && (uint32_t)res != ior->len && !q->err)
		q->err = -EIO; /* short transfer */
	if (--q->left)
		return;
	if (q->r->op == WB_REQ_WRITE && ior->op == WB_IO_FLUSH && !q->err) {
		/* PREFLUSH done: now the write itself (q->io[1]) */
		int ret;

		q->left = 1;
		ret = wb_io_submit(q->pe->io, &q->io[1]);
		if (!ret)
			return;
		q->err = ret;
	}
	pt_finish(q);
}

static int pt_check(struct pt_engine *pe, const struct wb_req *r)
{
	if (r->op == WB_REQ_FLUSH)
		return 0;
	if (r->op < WB_REQ_READ || r->op > WB_REQ_WRITE_ZEROES)
		return -EINVAL;
	if ((r->off | r->len) & (WB_BLOCK_SIZE - 1) || !r->len || r->off > pe->size ||
	    r->len > pe->size - r->off)
		return -EINVAL;
	return 0;
}

/* A request and its I/Os: two for a write with PREFLUSH (flush, then the
 * write from pt_io_done), else one. */
static struct pt_req *pt_req_new(struct pt_engine *pe, struct wb_req *r)
{
	unsigned nio = r->op == WB_REQ_WRITE && (r->flags & WB_REQ_F_PREFLUSH) ? 2 : 1;
	struct pt_req *q = calloc(1, sizeof(*q) + nio * sizeof(q->io[0]));

	if (!q)
		return NULL;
	q->pe = pe;
	q->r = r;
	q->nio = nio;
	for (unsigned i = 0; i < nio; i++) {
		q->io[i].done = pt_io_done;
		q->io[i].priv = q;
	}
	return q;
}

/* A read goes straight into the caller's buffer when it is aligned. */
static int pt_prep_read(struct pt_engine *pe, struct pt_req *q)
{
	struct wb_req *r = q->r;

	q->io[0].op = WB_IO_READ;
	q->io[0].len = r->len;
	q->io[0].off = r->off;
	q->io[0].buf = r->buf;
	if ((uintptr_t)r->buf & (WB_BLOCK_SIZE - 1)) {
		q->bounce = pt_buf_get(pe, r->len);
		if (!q->bounce)
			return -ENOMEM;
		q->io[0].buf = q->bounce;
	}
	pe->st.reads++;
	pe->st.bytes_read += r->len;
	return 0;
}

/* A write is copied (the caller's buffer is free at admitted()); its
 * PREFLUSH is an I/O of its own before it. */
static int pt_prep_write(struct pt_engine *pe, struct pt_req *q)
{
	struct wb_req *r = q->r;
	struct wb_io_req *w = &q->io[q->nio - 1];

	q->bounce = pt_buf_get(pe, r->len);
	if (!q->bounce)
		return -ENOMEM;
	memcpy(q->bounce, r->buf, r->len);
	if (q->nio == 2) {
		q->io[0].op = WB_IO_FLUSH;
		pe->st.flushes++;
	}
	w->op = WB_IO_WRITE;
	w->flags = (r->flags & WB_REQ_F_FUA) ? WB_IO_FUA : 0;
	w->len = r->len;
	w->off = r->off;
	w->buf = q->bounce;
	pe->st.writes++;
	pe->st.bytes_written += r->len;
	return 0;
}

/* Flush, discard, write-zeroes: one I/O without data. */
static void pt_prep_nodata(struct pt_engine *pe, struct pt_req *q)
{
	struct wb_req *r = q->r;

	if (r->op == WB_REQ_FLUSH) {
		q->io[0].op = WB_IO_FLUSH;
		pe->st.flushes++;
		return;
	}
	q->io[0].op = r->op == WB_REQ_DISCARD ? WB_IO_DISCARD : WB_IO_WRITE_ZEROES;
	q->io[0].off = r->off;
	q->io[0].len = r->len;
	if (r->flags & WB_REQ_F_FUA)
		q->io[0].flags = WB_IO_FUA;
	pe->st.discards++;
}

/* Submit the first I/O (a write after a PREFLUSH goes from pt_io_done).
 * On failure the request is gone and the error returned. */
static int pt_start(struct pt_engine *pe, struct pt_req *q)
{
	int ret;

	pe->inflight++;
	q->left = 1;
	ret = wb_io_submit(pe->io, &q->io[0]);
	if (ret < 0) {
		pe->inflight--;
		pt_buf_put(pe, q->bounce, q->r->len);
		free(q);
		return ret;
	}
	return 0;
}

static int pt_submit(struct wb_engine *e, struct wb_req *r)
{
	struct pt_engine *pe = pt_of(e);
	struct pt_req *q;
	int ret = pt_check(pe, r);

	if (ret < 0) {
		wb_msg(WB_LOG_ERR, "%s: invalid request op %u off %llu len %u", e->name, r->op,
		       (unsigned long long)r->off, r->len);
		return ret;
	}
	q = pt_req_new(pe, r);
	if (!q)
		goto out_nomem;
	if (r->op == WB_REQ_READ)
		ret = pt_prep_read(pe, q);
	else if (r->op == WB_REQ_WRITE)
		ret = pt_prep_write(pe, q);
	else
		pt_prep_nodata(pe, q);
	if (ret < 0) {
		free(q);
		goto out_nomem;
	}
	ret = pt_start(pe, q);
	if (ret < 0)
		return ret;
	if (r->op == WB_REQ_WRITE && r->admitted)
		r->admitted(r); /* the data is in q->bounce */
	return 0;
out_nomem:
	wb_msg(WB_LOG_ERR, "%s: out of memory for a request of %u bytes", e->name, r->len);
	return -ENOMEM;
}

static int pt_fd(struct wb_engine *e)
{
	return wb_io_fd(pt_of(e)->io);
}

static int pt_run(struct wb_engine *e, int wait)
{
	struct pt_engine *pe = pt_of(e);

	if (!pe->inflight)
		return 0;
	return wb_io_reap(pe->io, wait);
}

static int pt_stats(struct wb_engine *e, struct wb_engine_stats *st)
{
	struct pt_engine *pe = pt_of(e);

	*st = pe->st;
	st->size = pe->size;
	return 0;
}

static int pt_set_mode(struct wb_engine *e, enum wb_mode mode)
{
	/* Nothing is cached: every write is write-through; claiming
	 * write-back would be a lie to whoever asked. */
	if (mode != WB_MODE_WRITETHROUGH)
		return -EOPNOTSUPP;
	pt_of(e)->st.mode = mode;
	return 0;
}

static int pt_settled(void *arg)
{
	return !((struct pt_engine *)arg)->inflight;
}

static int pt_reap(void *arg)
{
	wb_io_reap(((struct pt_engine *)arg)->io, 1);
	return 0; /* a failed reap is retried until the deadline */
}

static void pt_close(struct wb_engine *e)
{
	struct pt_engine *pe = pt_of(e);
	int ret;

	wb_drain(pt_settled, pt_reap, pe, WB_DRAIN_CLOSE_MS, e->name, "close: requests in flight");
	ret = wb_io_flush(pe->io);
	if (ret < 0)
		wb_msg(WB_LOG_WARN, "%s: flush at close: %s", e->name, strerror(-ret));
	for (unsigned c = 0; c <= PT_POOL_MAX - PT_POOL_MIN; c++)
		while (pe->npool[c])
			wb_io_free(pe->pool[c][--pe->npool[c]]);
	free(pe);
}

static int pt_open(const struct wb_engine_params *p, struct wb_engine **out)
{
	struct pt_engine *pe;
	const char *name = p->name ? p->name : "passthrough";

	if (!p->backing_io) {
		wb_msg(WB_LOG_ERR, "%s: the passthrough engine needs a backing device", name);
		return -EINVAL;
	}
	if (p->size > p->backing_io->size || (p->size & (WB_BLOCK_SIZE - 1))) {
		wb_msg(WB_LOG_ERR, "%s: size %llu does not fit backing device %s (%llu bytes)",
		       name, (unsigned long long)p->size, p->backing_io->name,
		       (unsigned long long)p->backing_io->size);
		return -EINVAL;
	}
	pe = calloc(1, sizeof(*pe));
	if (!pe)
		goto out_nomem;
	pe->e.ops = &wb_passthrough_ops;
	snprintf(pe->e.name, sizeof(pe->e.name), "%s", name);
	pe->io = p->backing_io;
	pe->size = p->size ? p->size : p->backing_io->size & ~(uint64_t)(WB_BLOCK_SIZE - 1);
	pe->st.mode = WB_MODE_WRITETHROUGH;
	*out = &pe->e;
	return 0;
out_nomem:
	wb_msg(WB_LOG_ERR, "%s: out of memory opening the passthrough engine", name);
	return -ENOMEM;
}

const struct wb_engine_ops wb_passthrough_ops = {
    .abi_version = WB_ENGINE_ABI_VERSION,
    .name = "passthrough",
    .description = "no cache: every request goes straight to the backing device",
    .open = pt_open,
    .close = pt_close,
    .submit = pt_submit,
    .fd = pt_fd,
    .run = pt_run,
    .stats = pt_stats,
    .set_mode = pt_set_mode,
};
