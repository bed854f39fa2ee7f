// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_grow.c - online grow of the wblog engine's device (docs/engine.md
 * "Growing the device"; the replicated case is docs/replication.md
 * "Growing a replicated device").
 *
 * The exported size lives in the log's superblock (dev_size) and in the
 * backing's identity block, which sits at backing byte dev_size (bind.h).
 * A grow from D to N:
 *   1. writes the identity block at N (FUA; beyond the device, nothing
 *      reads it until a superblock names N: a crash leaves a stray block
 *      past the end, harmless);
 *   2. with bitmaps: reshapes them for N in memory (a coarser region when
 *      the area, sized at format, cannot hold N's bits at the old one:
 *      each new bit is the OR of the old ones it covers), marks [D, N) if
 *      asked, and commits them: the commit writes every page of the other
 *      copy and only then the superblock that names those copies, with
 *      dev_size N and the new region, so the copies and the geometry they
 *      are read with change in one superblock write (a crash before: the
 *      old copies and D; after: the new ones and N). Without bitmaps: a
 *      metadata superblock write carries N;
 *   3. once that superblock is durable, the old identity block at D (the
 *      device's first new block now) is overwritten with zeroes (FUA): a
 *      crash before leaves it as data, like whatever else the backing
 *      held in the new range (a replicated grow resyncs the range from
 *      the primary);
 *   4. then requests up to N pass, snapshots are dropped and older
 *      generations stop being readable.
 *
 * Owns: struct wbl_grow (one at a time, e->grow), freed when delivered or
 * at close.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/bind.h"
#include "engine/wblog_int.h"

struct wbl_grow {
	struct wblog *e;
	uint64_t old_size, new_size;
	unsigned flags;
	uint32_t shift; /* bitmap region shift for new_size */
	void (*done)(void *arg, int err);
	void *arg;
	struct wb_io_req io;
	void *blk;
	int err, finished; /* finished: deliver from run() */
};

/* The backing's size read again (its error: -EOPNOTSUPP when the backend
 * cannot), and the largest size the device may take on it (*max, at
 * least the size now). */
static int backing_max(struct wblog *e, uint64_t *max)
{
	int ret = wb_io_refresh_size(e->bak);
	uint64_t m = wb_bind_dev_size(e->bak->size);

	*max = m > e->dev_size ? m : e->dev_size;
	return ret;
}

int wbl_size_max(struct wb_engine *eng, uint64_t *out)
{
	int ret = backing_max((struct wblog *)eng, out);

	return ret == -EOPNOTSUPP ? 0 : ret; /* the size it had at open */
}

/* The checks both grows make first: a version 2 log, open, not failed. */
static int grow_may(struct wblog *e)
{
	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (e->sb.version < 2) {
		wb_msg(WB_LOG_ERR,
		       "%s: log %s is format version 1: upgrade it offline first (`wbengine "
		       "upgrade --log %s`)",
		       e->eng.name, e->log->name, e->log->name);
		return -EPROTO;
	}
	return 0;
}

/* ret of reading io's size again, said in the log when it failed */
static int grow_size_err(struct wblog *e, struct wb_io *io, int ret)
{
	if (ret == -EOPNOTSUPP)
		wb_msg(WB_LOG_ERR, "%s: grow: the size of %s cannot be read again (%s backend)",
		       e->eng.name, io->name, io->ops->name);
	else if (ret)
		wb_msg(WB_LOG_ERR, "%s: grow: reading the size of %s: %s", e->eng.name, io->name,
		       strerror(-ret));
	return ret;
}

/* Step 4: the old identity block is zeroes now (or could not be). */
static void grow_zeroed(struct wb_io_req *io, int res)
{
	struct wbl_grow *g = io->priv;
	struct wblog *e = g->e;

	wb_io_free(g->blk);
	g->blk = NULL;
	if (res < 0)
		wb_msg(WB_LOG_WARN, "%s: grow: zeroing the old identity block at %llu of %s: %s",
		       e->eng.name, (unsigned long long)g->old_size, e->bak->name, strerror(-res));
	e->dev_size = g->new_size;
	e->dev_blocks = e->dev_size / WB_DISK_BLOCK;
	/* an older generation's device ended at the old size, and the new
	 * range's backing blocks are newer than any of it */
	wbl_snap_drop_all(e, "the device grew");
	e->snap_floor = e->next_seq;
	wb_msg(WB_LOG_INFO, "%s: grown from %llu to %llu bytes%s", e->eng.name,
	       (unsigned long long)g->old_size, (unsigned long long)g->new_size,
	       (g->flags & WB_GROW_F_MARK) ? ", the new range marked for every peer" : "");
	g->finished = 1;
	wbl_kick(e);
}

/* Step 3 (a bitmap or metadata waiter, from run()): the new size is
 * durable, or the commit failed. The old identity block becomes the
 * device's first new block: zeroes (not this log's UUID) before any
 * request can reach it. */
static void grow_committed(void *arg, int err)
{
	struct wbl_grow *g = arg;
	struct wblog *e = g->e;
	int ret = -ENOMEM;

	if (err) {
		g->err = err;
		g->finished = 1;
		wbl_kick(e);
		return;
	}
	g->blk = wb_io_alloc(WB_DISK_BLOCK);
	if (g->blk) {
		memset(g->blk, 0, WB_DISK_BLOCK);
		memset(&g->io, 0, sizeof(g->io));
		g->io.op = WB_IO_WRITE;
		g->io.flags = WB_IO_FUA;
		g->io.buf = g->blk;
		g->io.len = WB_DISK_BLOCK;
		g->io.off = g->old_size;
		g->io.done = grow_zeroed;
		g->io.priv = g;
		ret = wb_io_submit(e->bak, &g->io);
		if (!ret)
			return;
	}
	g->io.priv = g;
	grow_zeroed(&g->io, ret < 0 ? ret : -EIO);
}

/* Step 2: the identity block at the new end is durable. */
static void grow_bind_done(struct wb_io_req *io, int res)
{
	struct wbl_grow *g = io->priv;
	struct wblog *e = g->e;
	int ret;

	wb_io_free(g->blk);
	g->blk = NULL;
	if (res < 0) {
		wb_msg(WB_LOG_ERR, "%s: grow: writing the identity block at %llu of %s: %s",
		       e->eng.name, (unsigned long long)g->new_size, e->bak->name, strerror(-res));
		g->err = res;
		g->finished = 1;
		wbl_kick(e);
		return;
	}
	if (e->state == WB_STATE_FAILED)
		ret = -EIO;
	else if (e->bm)
		ret = wbl_bm_grow(e, g->old_size, g->new_size, g->shift,
				  !!(g->flags & WB_GROW_F_MARK), grow_committed, g);
	else
		ret = wbl_meta_grow(e, g->new_size, grow_committed, g);
	if (ret) {
		g->err = ret;
		g->finished = 1;
		wbl_kick(e);
	}
}

int wbl_grow(struct wb_engine *eng, uint64_t new_size, unsigned flags,
	     void (*done)(void *arg, int err), void *arg)
{
	struct wblog *e = (struct wblog *)eng;
	struct wb_bind b = {0};
	struct wbl_grow *g;
	uint64_t max;
	uint32_t shift = 0;
	int ret;

	if ((ret = grow_may(e)))
		return ret;
	if (!done || (flags & ~WB_GROW_F_MARK))
		return -EINVAL;
	if (e->grow)
		return -EBUSY;
	if ((ret = grow_size_err(e, e->bak, backing_max(e, &max))))
		return ret;
	if (!new_size)
		new_size = max;
	if (new_size % WB_BLOCK_SIZE || new_size <= e->dev_size)
		return -EINVAL;
	if (new_size > max) {
		wb_msg(WB_LOG_ERR,
		       "%s: grow to %llu bytes: %s holds %llu bytes, at most %llu of them can be "
		       "exported (4096 after the device are the identity block)",
		       eng->name, (unsigned long long)new_size, e->bak->name,
		       (unsigned long long)e->bak->size, (unsigned long long)max);
		return -ENOSPC;
	}
	if (e->bm) {
		shift = wbl_bm_grow_shift(e, new_size);
		if (!shift) {
			wb_msg(
			    WB_LOG_ERR,
			    "%s: grow to %llu bytes: the log's bitmap area (%llu bytes per copy) "
			    "cannot cover it even at 1 GiB per bit",
			    eng->name, (unsigned long long)new_size,
			    (unsigned long long)e->sb.bm_bytes);
			return -ENOSPC;
		}
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->blk = wb_io_alloc(WB_DISK_BLOCK);
	if (!g->blk) {
		free(g);
		return -ENOMEM;
	}
	g->e = e;
	g->old_size = e->dev_size;
	g->new_size = new_size;
	g->flags = flags;
	g->shift = shift;
	g->done = done;
	g->arg = arg;
	memcpy(b.log_uuid, e->sb.uuid, WB_UUID_LEN);
	b.dev_size = new_size;
	b.bind_time = (uint64_t)time(NULL);
	wb_bind_encode(&b, g->blk);
	g->io.op = WB_IO_WRITE;
	g->io.flags = WB_IO_FUA;
	g->io.buf = g->blk;
	g->io.len = WB_DISK_BLOCK;
	g->io.off = new_size;
	g->io.done = grow_bind_done;
	g->io.priv = g;
	ret = wb_io_submit(e->bak, &g->io);
	if (ret < 0) {
		wb_io_free(g->blk);
		free(g);
		return ret;
	}
	e->grow = g;
	return 0;
}

int wbl_grow_pending(const struct wblog *e)
{
	return e->grow && e->grow->finished;
}

void wbl_grow_deliver(struct wblog *e, int *n)
{
	struct wbl_grow *g = e->grow;

	if (!g || !g->finished)
		return;
	e->grow = NULL;
	(*n)++;
	g->done(g->arg, g->err);
	free(g);
}

void wbl_grow_free(struct wblog *e)
{
	if (!e->grow)
		return;
	wb_io_free(e->grow->blk);
	free(e->grow);
	e->grow = NULL;
}

/*
 * Growing the log's data area (docs/engine.md "Growing the log"): the log
 * device grew (lvextend, a larger file) and the data area is to end at
 * its last whole segment. Nothing moves: the superblock gets the new
 * log_size and data_size, and once that is durable the writer's end moves
 * (e->sp.end). Until then records are placed for the old end only, and
 * the new range is never written, so either superblock finds the same
 * run of records:
 *   - a record the writer placed right after the one before is the
 *     first place recovery tries with either end;
 *   - a record the writer wrapped to the start of the area (it did not
 *     fit before the old end) is tried first where the one before ended,
 *     with the new end: that spot holds what an earlier lap left there or
 *     what the device held in the new range, never a record of this log
 *     with the seq and epoch that come next and valid data (the checks
 *     that already guard the first place with the old end); recovery then
 *     tries the start and finds it. It charges that wrap more waste (up
 *     to the new end), exactly what the new end gives it in room, so the
 *     room each later record is checked against is the old one: the
 *     writer cannot place past the tail meanwhile;
 *   - when the last record ended exactly at the old end, the writer's
 *     head is the start; it moves to the old end with the switch, which
 *     is where recovery with the new end looks first (and the clean
 *     close's head hint says).
 */
static void lgrow_committed(void *arg, int err)
{
	struct wblog *e = arg;
	/* until now the writer's end is the old one; e->sb has the new size */
	uint64_t old_end = e->sp.end, new_end = e->sb.data_off + e->sb.data_size;
	void (*done)(void *arg, int err) = e->lgrow.done;

	e->lgrow.busy = 0;
	e->lgrow.done = NULL;
	if (!err) {
		if (e->sp.used && e->sp.head == e->sp.start)
			e->sp.head = old_end; /* the last record ended at the old end */
		e->sp.end = new_end;
		wb_msg(WB_LOG_INFO, "%s: log %s grown: data area %llu -> %llu bytes", e->eng.name,
		       e->log->name, (unsigned long long)(old_end - e->sp.start),
		       (unsigned long long)(new_end - e->sp.start));
	}
	done(e->lgrow.arg, err);
}

int wbl_grow_log(struct wb_engine *eng, uint64_t new_bytes, void (*done)(void *arg, int err),
		 void *arg)
{
	struct wblog *e = (struct wblog *)eng;
	uint64_t log_size, data_size;
	int ret;

	if ((ret = grow_may(e)))
		return ret;
	if (!done || new_bytes % WB_DISK_BLOCK)
		return -EINVAL;
	if (e->lgrow.busy)
		return -EBUSY;
	if ((ret = grow_size_err(e, e->log, wb_io_refresh_size(e->log))))
		return ret;
	if (new_bytes > e->log->size) {
		wb_msg(WB_LOG_ERR, "%s: grow the log to %llu bytes: %s holds %llu", eng->name,
		       (unsigned long long)new_bytes, e->log->name,
		       (unsigned long long)e->log->size);
		return -ENOSPC;
	}
	log_size = (new_bytes ? new_bytes : e->log->size) / WB_DISK_BLOCK * WB_DISK_BLOCK;
	data_size = wb_sb_data_size(&e->sb, log_size);
	if (data_size <= e->sb.data_size)
		return new_bytes ? -EINVAL : -EALREADY;
	e->lgrow.busy = 1;
	e->lgrow.done = done;
	e->lgrow.arg = arg;
	ret = wbl_meta_grow_log(e, log_size, data_size, lgrow_committed, e);
	if (ret)
		e->lgrow.busy = 0;
	return ret;
}
