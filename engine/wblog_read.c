// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_read.c - reads of the wblog engine.
 *
 * A read of [lba, lba+n) asks the extent map for the pieces that are in the
 * log: a zero/discard piece is zero-filled, a piece whose record still
 * holds its RAM pages is copied from them, any other piece is read from the
 * log device; the gaps between pieces are read from the backing device.
 * Everything lands in r->buf itself when it is 4 KiB aligned (what direct
 * I/O needs; a resync source's 1 MiB reads are), else in an aligned bounce
 * buffer that is copied to r->buf when the last I/O completed: on a 1 GiB
 * full sync that copy was 15 % of the source's CPU (docs/benchmarks.md).
 * With no bounce buffer a failed read may leave r->buf partly written.
 *
 * A read of a snapshot (r->snap, wblog_snap.c) is the same with the
 * snapshot's map: the backing device has nothing newer than its
 * generation while it is open.
 *
 * Race rules: log space is not released while a log read is in flight
 * (e->log_reads_inflight, see wbl_release_records), so a piece the map
 * pointed to cannot be overwritten under the read; the backing device is
 * only read for blocks that are not in the map, and destage only writes
 * blocks that are in the map until it has flushed them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wblog_int.h"

static void wbl_read_finish(struct wblog *e, struct wb_req *r)
{
	void *bounce = (void *)(uintptr_t)WBL_AUX(r);
	int err = (int)(int64_t)WBL_ERR(r);

	if (bounce != r->buf) {
		if (!err)
			memcpy(r->buf, bounce, r->len);
		wb_io_free(bounce);
	}
	WBL_AUX(r) = 0;
	/* dropped while the read was in flight: destage may have written
	 * newer data under it */
	if (!err && r->snap && !wbl_snap_find(e, r->snap))
		err = -ESTALE;
	wbl_complete(e, r, err);
}

static void wbl_read_io_done(struct wb_io_req *io, int res)
{
	struct wbl_read_io *ri = io->priv;
	struct wb_req *r = ri->r;
	struct wblog *e = (struct wblog *)(uintptr_t)WBL_ENG(r);

	if (res < 0 || (uint32_t)res != io->len) {
		/* a warning: the read fails (a replication primary may get it
		 * from a peer), the engine goes on; an error-level message
		 * would be taken for the reason of a failure that comes later */
		wb_msg(WB_LOG_WARN, "%s: read of %u bytes at 0x%llx from %s failed: %s",
		       e->eng.name, io->len, (unsigned long long)io->off,
		       ri->from_log ? e->log->name : e->bak->name, strerror(res < 0 ? -res : EIO));
		WBL_ERR(r) = (uint64_t)(int64_t)(res < 0 ? res : -EIO);
	}
	if (ri->from_log) {
		e->log_reads_inflight--;
		if (!e->log_reads_inflight)
			wbl_kick(e); /* space release may have been deferred */
	}
	free(ri);
	if (--WBL_CNT(r) == 0)
		wbl_read_finish(e, r);
}

static int wbl_read_io(struct wblog *e, struct wb_req *r, int from_log, uint64_t dev_off,
		       uint8_t *dst, uint32_t len)
{
	struct wbl_read_io *ri = calloc(1, sizeof(*ri));
	int ret;

	if (!ri)
		return -ENOMEM;
	ri->r = r;
	ri->from_log = from_log;
	ri->io.op = WB_IO_READ;
	ri->io.buf = dst;
	ri->io.len = len;
	ri->io.off = dev_off;
	ri->io.done = wbl_read_io_done;
	ri->io.priv = ri;
	WBL_CNT(r)++;
	if (from_log)
		e->log_reads_inflight++;
	ret = wb_io_submit(from_log ? e->log : e->bak, &ri->io);
	if (ret) {
		WBL_CNT(r)--;
		if (from_log)
			e->log_reads_inflight--;
		free(ri);
	}
	return ret;
}

/* Copy a piece that lives in the log: from RAM pages when its record still
 * holds them, else read it from the log device. */
static int wbl_read_piece(struct wblog *e, struct wb_req *r, const struct wb_extmap_ent *p,
			  uint8_t *dst)
{
	struct wbl_rec *rec;
	uint64_t first;
	uint32_t i;

	if (wbl_is_zero_logblk(p->log_blk)) {
		memset(dst, 0, (size_t)p->nblocks * WB_BLOCK_SIZE);
		return 0;
	}
	rec = wbl_rec_by_seq(e, p->seq);
	if (rec && rec->pages && rec->data_blocks && rec->state >= WBL_REC_WRITING) {
		first = p->log_blk - (rec->off / WB_DISK_BLOCK + 1);
		if (first + p->nblocks <= rec->data_blocks) {
			for (i = 0; i < p->nblocks; i++)
				memcpy(dst + (size_t)i * WB_BLOCK_SIZE, rec->pages[first + i]->data,
				       WB_BLOCK_SIZE);
			return 0;
		}
	}
	return wbl_read_io(e, r, 1, p->log_blk * WB_DISK_BLOCK, dst, p->nblocks * WB_BLOCK_SIZE);
}

int wbl_submit_read(struct wblog *e, struct wb_req *r)
{
	const struct wb_extmap *map = e->map;
	struct wb_extmap_ent ents[64];
	uint64_t lba, end, pos;
	uint8_t *bounce;
	int n, i, ret = 0;

	if ((r->off | r->len) & (WB_BLOCK_SIZE - 1) || !r->len || r->off > e->dev_size ||
	    r->len > e->dev_size - r->off) {
		wb_msg(WB_LOG_ERR, "%s: invalid read off %llu len %u", e->eng.name,
		       (unsigned long long)r->off, r->len);
		return -EINVAL;
	}
	if (r->snap) { /* an older generation (wblog_snap.c) */
		struct wbl_snap *s = wbl_snap_find(e, r->snap);

		if (!s)
			return -ESTALE;
		map = s->map;
	}
	e->st.reads++;
	e->st.bytes_read += r->len;
	bounce = ((uintptr_t)r->buf & 4095) ? wb_io_alloc(r->len) : r->buf;
	if (!bounce)
		return -ENOMEM;
	WBL_NEXT(r) = 0;
	WBL_ERR(r) = 0;
	WBL_AUX(r) = (uint64_t)(uintptr_t)bounce;
	WBL_CNT(r) = 1; /* held by submit until every I/O is issued */
	WBL_ENG(r) = (uint64_t)(uintptr_t)e;
	lba = r->off / WB_BLOCK_SIZE;
	end = lba + r->len / WB_BLOCK_SIZE;
	pos = lba;
	while (pos < end && !ret) {
		n = wb_extmap_lookup(map, pos, (uint32_t)(end - pos), ents, 64);
		if (n < 0) {
			ret = n;
			break;
		}
		if (n > 64)
			n = 64;
		for (i = 0; i < n && !ret; i++) {
			if (ents[i].lba > pos)
				ret = wbl_read_io(e, r, 0, pos * WB_BLOCK_SIZE,
						  bounce + (pos - lba) * WB_BLOCK_SIZE,
						  (uint32_t)(ents[i].lba - pos) * WB_BLOCK_SIZE);
			if (!ret)
				ret = wbl_read_piece(e, r, &ents[i],
						     bounce + (ents[i].lba - lba) * WB_BLOCK_SIZE);
			pos = ents[i].lba + ents[i].nblocks;
		}
		if (n == 0 && !ret) {
			ret = wbl_read_io(e, r, 0, pos * WB_BLOCK_SIZE,
					  bounce + (pos - lba) * WB_BLOCK_SIZE,
					  (uint32_t)(end - pos) * WB_BLOCK_SIZE);
			pos = end;
		}
	}
	if (ret) {
		wb_msg(WB_LOG_ERR, "%s: read at %llu: %s", e->eng.name, (unsigned long long)r->off,
		       strerror(-ret));
		WBL_ERR(r) = (uint64_t)(int64_t)ret;
	}
	/* drop submit's hold; completes now (queued for run) if no I/O was needed */
	if (--WBL_CNT(r) == 0)
		wbl_read_finish(e, r);
	wbl_kick(e);
	return 0;
}
