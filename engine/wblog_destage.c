// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_destage.c - destage state machine of the wblog engine (see
 * wblog_destage.h).
 *
 * Zero pieces (discard and write-zeroes records) reach the backing device
 * as WB_IO_DISCARD: a hole in a file, an unmap on a block device, zeroes
 * written only where the device cannot do better (engine/io.h). The record
 * does not say which of the two the client sent, and both promise zeroes on
 * read, so the blocks are released in both cases (docs/engine.md).
 *
 * Where the data comes from: a block whose record still holds its RAM
 * page is written from that page (iovecs over the pages, no copy); only
 * blocks no longer in RAM are read from the log into the batch buffer. The
 * batch takes its own reference on each page it will write (the record's
 * may be evicted meanwhile, and a freed page would be handed to a new
 * write) and hands it to the backing write that carries the block, which
 * drops it when it completed (each block of a batch is written once).
 *
 * Owns: struct wbl_destage (batch buffer, page references of the batch,
 * temporary extent map, piece list and the rate/ETA counters). The records
 * themselves stay owned by the engine; this module only reads them and,
 * once the batch is durable on backing and the tail persisted, asks the
 * engine to release them (wbl_release_records).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "engine/wblog_destage.h"
#include "engine/wblog_int.h"

#define DS_BATCH_BLOCKS 8192u /* 32 MiB of data per batch (8 MiB: half the rate, make bench) */
#define DS_MAX_RECORDS	4096u
#define DS_IO_BYTES	(1u << 20) /* max bytes per backing write */
#define DS_IO_BLOCKS	(DS_IO_BYTES / WB_DISK_BLOCK)
#define DS_NO_PAGE	UINT32_MAX /* piece data in the batch buffer */
#define DS_ZERO_BYTES	(1u << 30) /* max bytes per backing discard */
#define DS_QD		32u
/* log reads of a batch read through gaps of up to this many blocks between
 * the pieces they need (headers, blocks still in RAM, superseded blocks):
 * one 1 MiB read instead of 256 of 4 KiB when random writes were evicted */
#define DS_READ_GAP 16u

enum { DS_IDLE, DS_READ, DS_WRITE, DS_FLUSH, DS_SB };

struct ds_io {
	struct wb_io_req io;
	struct wbl_destage *ds;
	uint32_t bytes;	     /* what the request transfers */
	uint32_t npg;	     /* page references this write holds */
	struct wb_page **pg; /* npg entries, after iov */
	struct iovec iov[];  /* io.niov entries */
};

struct wbl_destage {
	struct wblog *e;
	int state, drain, err;
	uint64_t from, upto, batch_bytes, t_start_ms;
	struct wb_extmap *tmp;
	struct wbl_destage_piece *pc;
	uint64_t npc, cap_pc;
	struct ds_rd { /* pieces to read from the log, sorted by log_blk */
		uint64_t log_blk, idx;
	} *rd;
	uint64_t cap_rd;
	uint8_t *buf; /* log reads of the batch (blocks no longer in RAM) */
	/* the batch's page references, one per block written from RAM; an
	 * entry goes NULL when a backing write takes its reference over */
	struct wb_page **held;
	uint32_t nheld;
	uint32_t buf_blocks, pending;
	uint64_t cur, cur_off; /* write cursor: piece index, blocks done in it */
	int64_t tokens;
	uint64_t last_tick_ms;
	uint64_t rate, total;
};

int wbl_destage_create(struct wblog *e)
{
	struct wbl_destage *ds = calloc(1, sizeof(*ds));

	if (!ds)
		return -ENOMEM;
	ds->e = e;
	ds->buf_blocks = DS_BATCH_BLOCKS > e->max_rec_blocks ? DS_BATCH_BLOCKS : e->max_rec_blocks;
	ds->buf = wb_io_alloc((size_t)ds->buf_blocks * WB_DISK_BLOCK);
	ds->held = calloc(ds->buf_blocks, sizeof(*ds->held));
	if (!ds->buf || !ds->held || wb_extmap_create(&ds->tmp)) {
		wb_io_free(ds->buf);
		free(ds->held);
		free(ds);
		return -ENOMEM;
	}
	ds->last_tick_ms = wbl_now_ms();
	e->ds = ds;
	return 0;
}

/* Drop the batch's page references no write took over. */
static void ds_put_held(struct wbl_destage *ds)
{
	for (uint32_t i = 0; i < ds->nheld; i++)
		if (ds->held[i])
			wb_page_put(ds->e->pb, ds->held[i]);
	ds->nheld = 0;
}

void wbl_destage_destroy(struct wblog *e)
{
	struct wbl_destage *ds = e->ds;

	if (!ds)
		return;
	ds_put_held(ds);
	wb_extmap_destroy(ds->tmp);
	wb_io_free(ds->buf);
	free(ds->held);
	free(ds->pc);
	free(ds->rd);
	free(ds);
	e->ds = NULL;
}

int wbl_destage_idle(struct wblog *e)
{
	return e->ds->state == DS_IDLE;
}

void wbl_destage_set_drain(struct wblog *e, int on)
{
	e->ds->drain = on;
	wbl_kick(e);
}

static void ds_tokens(struct wbl_destage *ds)
{
	uint64_t now = wbl_now_ms(), rate = ds->e->p.destage_min_rate;

	ds->tokens += (int64_t)(rate * (now - ds->last_tick_ms) / 1000);
	if (ds->tokens > (int64_t)rate)
		ds->tokens = (int64_t)rate;
	ds->last_tick_ms = now;
}

/*
 * 0: no batch now; 1: a batch may start regardless of the rate budget
 * (drain, write-through, above the low watermark); 2: a batch may
 * start because of the minimum-rate rule only - that batch, and only that
 * one, is charged to the rate budget.
 */
static int ds_should_run(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;

	if (ds->state != DS_IDLE || e->state == WB_STATE_FAILED ||
	    e->destaged_seq > e->completed_seq || e->destaged_seq >= e->rec_end)
		return 0;
	/*
	 * Only records durable in the log are destaged: a backing write torn by
	 * a power cut is then repaired by replay. (A record that is only
	 * completed could be lost from the log while its torn copy stays on
	 * backing.) Ask for a log flush and come back when it is done.
	 */
	if (e->destaged_seq > e->durable_seq) {
		if (e->want_durable < e->completed_seq)
			e->want_durable = e->completed_seq;
		return 0;
	}
	/*
	 * Close only makes the log durable (the log is the durable copy): no new
	 * batch unless a write still in flight waits for it (log space, or a
	 * write-through ack).
	 */
	if (e->closing && !e->admitq.head && e->place_seq >= e->next_seq &&
	    e->ack_seq >= e->next_seq)
		return 0;
	if (ds->drain || e->mode == WB_MODE_WRITETHROUGH)
		return 1;
	if (e->sp.used * 100 >= (uint64_t)e->p.destage_low_pct * (e->sp.end - e->sp.start))
		return 1;
	if (e->closing || e->p.destage_min_rate == WB_DESTAGE_RATE_NONE)
		return 0;
	ds_tokens(ds);
	return ds->tokens >= 0 ? 2 : 0;
}

int wbl_destage_timeout(struct wblog *e)
{
	struct wbl_destage *ds = e->ds;
	uint64_t rate = e->p.destage_min_rate ? e->p.destage_min_rate : 1;

	if (ds->state != DS_IDLE || e->destaged_seq > e->durable_seq ||
	    e->destaged_seq >= e->rec_end || e->state == WB_STATE_FAILED ||
	    e->p.destage_min_rate == WB_DESTAGE_RATE_NONE)
		return -1;
	ds_tokens(ds);
	if (ds->tokens >= 0)
		return 0;
	return (int)((uint64_t)(-ds->tokens) * 1000 / rate + 1);
}

static int ds_piece_cb(const struct wb_extmap_ent *x, void *arg)
{
	struct wbl_destage *ds = arg;
	struct wbl_destage_piece *p;

	if (ds->npc == ds->cap_pc) {
		uint64_t ncap = ds->cap_pc ? ds->cap_pc * 2 : 256;
		void *n = realloc(ds->pc, ncap * sizeof(*ds->pc));

		if (!n)
			return -ENOMEM;
		ds->pc = n;
		ds->cap_pc = ncap;
	}
	p = &ds->pc[ds->npc++];
	p->lba = x->lba;
	p->nblocks = x->nblocks;
	p->log_blk = x->log_blk;
	p->seq = x->seq;
	p->buf_off = 0;
	p->pg = DS_NO_PAGE;
	return 0;
}

static void ds_fail(struct wbl_destage *ds, int err, const char *what)
{
	struct wblog *e = ds->e;

	wb_msg(WB_LOG_ERR, "%s: destage of seq %llu..%llu: %s: %s", e->eng.name,
	       (unsigned long long)ds->from, (unsigned long long)ds->upto, what, strerror(-err));
	ds_put_held(ds); /* nothing is in flight here */
	ds->state = DS_IDLE;
	wbl_fail(e, err, NULL);
}

static void ds_write_more(struct wbl_destage *ds);

static void ds_sb_done(struct wblog *e, int err)
{
	struct wbl_destage *ds = e->ds;
	uint64_t dur;

	if (err) {
		ds_fail(ds, err, "superblock write");
		return;
	}
	/* The tail is persisted past upto: the space may now be overwritten. */
	e->release_upto = ds->upto + 1;
	wbl_release_records(e);
	dur = wbl_now_ms() - ds->t_start_ms;
	if (ds->batch_bytes) {
		uint64_t inst = ds->batch_bytes * 1000 / (dur ? dur : 1);

		ds->rate = ds->rate ? (ds->rate * 7 + inst * 3) / 10 : inst;
	}
	ds->state = DS_IDLE;
	wbl_kick(e);
}

static void ds_flush_done(struct wb_io_req *io, int res)
{
	struct ds_io *d = io->priv;
	struct wbl_destage *ds = d->ds;
	struct wblog *e = ds->e;
	struct wbl_rec *last, *next;
	uint64_t i, s;
	int ret;

	free(d);
	ds->pending--;
	ds_put_held(ds); /* none left: every block was written */
	if (res < 0) {
		ds_fail(ds, res, "backing flush");
		return;
	}
	/* Durable on backing: reads of these blocks may go to backing now. */
	for (i = 0; i < ds->npc; i++) {
		ret = wb_extmap_drop_upto(e->map, ds->pc[i].lba, ds->pc[i].nblocks, ds->upto);
		if (ret) {
			ds_fail(ds, ret, "extent map drop");
			return;
		}
	}
	for (s = ds->from; s <= ds->upto; s++) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, s);

		if (!(rec->flags & WB_REC_F_ZERO))
			e->dirty_bytes -= (uint64_t)rec->data_blocks * WB_DISK_BLOCK;
		wbl_rec_put_pages(e, rec);
	}
	e->destaged_seq = ds->upto + 1;
	e->st.destaged_bytes += ds->batch_bytes;
	ds->total += ds->batch_bytes;
	last = wbl_rec_by_seq(e, ds->upto);
	next = wbl_rec_by_seq(e, ds->upto + 1);
	e->sb.tail_seq = ds->upto + 1;
	e->sb.tail_off = next && next->state >= WBL_REC_WRITING ? next->off : e->sp.head;
	e->sb.tail_min_epoch = last->epoch;
	e->sb.tail_gen = next ? next->gen : e->gen;
	e->sb.destaged_seq = ds->upto + 1;
	e->sb.destaged_gen = (last->flags & WB_REC_F_GEN_END) || (next && next->gen > last->gen) ||
				     (!next && e->gen > last->gen)
				 ? last->gen
				 : last->gen - 1;
	ds->state = DS_SB;
	if (wbl_bm_tail_needs(e, e->sb.tail_seq)) {
		/* a tracking peer's bitmap must cover the records the tail
		 * leaves behind before the tail is on disk: the bitmap commit
		 * writes this superblock after its copies are durable */
		wbl_bm_commit_for_destage(e, ds_sb_done);
		return;
	}
	ret = wbl_sb_write(e, ds_sb_done);
	if (ret)
		ds_fail(ds, ret, "superblock write submit");
	else
		wbl_kick(e);
}

static void ds_io_done(struct wb_io_req *io, int res)
{
	struct ds_io *d = io->priv;
	struct wbl_destage *ds = d->ds;

	if (res < 0 || (uint32_t)res != d->bytes) {
		if (!ds->err) {
			ds->err = res < 0 ? res : -EIO;
			wb_msg(WB_LOG_ERR, "%s: destage %s at 0x%llx failed: %s", ds->e->eng.name,
			       io->op == WB_IO_READ    ? "log read"
			       : io->op == WB_IO_WRITE ? "backing write"
						       : "backing discard",
			       (unsigned long long)io->off, strerror(-ds->err));
		}
	}
	/* the write's data is on the device: its pages may go */
	for (uint32_t i = 0; i < d->npg; i++)
		wb_page_put(ds->e->pb, d->pg[i]);
	free(d);
	ds->pending--;
	if (ds->state == DS_READ && !ds->pending) {
		if (ds->err) {
			ds_fail(ds, ds->err, "log read");
			return;
		}
		ds->state = DS_WRITE;
		ds->cur = 0;
		ds->cur_off = 0;
	}
	if (ds->state == DS_WRITE)
		ds_write_more(ds);
}

static int ds_submit(struct wbl_destage *ds, struct wb_io *io, int op, void *buf, uint32_t len,
		     uint64_t off)
{
	struct ds_io *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->ds = ds;
	d->io.op = (uint8_t)op;
	d->io.buf = buf;
	d->io.len = len;
	d->io.off = off;
	d->bytes = len;
	d->io.done = op == WB_IO_FLUSH ? ds_flush_done : ds_io_done;
	d->io.priv = d;
	ds->pending++;
	ret = wb_io_submit(io, &d->io);
	if (ret) {
		ds->pending--;
		free(d);
	}
	return ret;
}

/* Block k of data piece p: in its RAM page (*hi = the index of the batch's
 * reference), or in the batch buffer (*hi = DS_NO_PAGE). */
static uint8_t *ds_blk(const struct wbl_destage *ds, const struct wbl_destage_piece *p, uint64_t k,
		       uint32_t *hi)
{
	if (p->pg != DS_NO_PAGE) {
		*hi = p->pg + (uint32_t)k;
		return ds->held[*hi]->data;
	}
	*hi = DS_NO_PAGE;
	return ds->buf + p->buf_off + k * WB_DISK_BLOCK;
}

/*
 * One backing write from the write cursor on: data blocks of LBA-contiguous
 * pieces, up to DS_IO_BYTES, as iovecs over their pages / the batch buffer
 * (adjacent addresses merged). The page references of its blocks move from
 * the batch to the write. Moves the cursor; 0 or -errno (cursor and
 * references as they were).
 */
static int ds_write_one(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	struct iovec iov[DS_IO_BLOCKS];
	uint32_t hidx[DS_IO_BLOCKS];
	uint64_t cur = ds->cur, cur_off = ds->cur_off;
	uint64_t lba = ds->pc[cur].lba + cur_off, n = 0;
	uint32_t niov = 0, npg = 0, i;
	struct ds_io *d;
	int ret;

	while (n < DS_IO_BLOCKS && cur < ds->npc) {
		const struct wbl_destage_piece *q = &ds->pc[cur];

		if (wbl_is_zero_logblk(q->log_blk) || q->lba + cur_off != lba + n)
			break;
		for (; cur_off < q->nblocks && n < DS_IO_BLOCKS; cur_off++, n++) {
			uint32_t hi;
			uint8_t *a = ds_blk(ds, q, cur_off, &hi);

			if (hi != DS_NO_PAGE)
				hidx[npg++] = hi;
			if (niov && (uint8_t *)iov[niov - 1].iov_base + iov[niov - 1].iov_len == a)
				iov[niov - 1].iov_len += WB_DISK_BLOCK;
			else
				iov[niov++] =
				    (struct iovec){.iov_base = a, .iov_len = WB_DISK_BLOCK};
		}
		if (cur_off < q->nblocks)
			break; /* the write is full */
		cur++;
		cur_off = 0;
	}
	d = calloc(1, sizeof(*d) + niov * sizeof(struct iovec) + npg * sizeof(struct wb_page *));
	if (!d)
		return -ENOMEM;
	d->ds = ds;
	d->io.op = WB_IO_WRITE;
	d->io.off = lba * WB_DISK_BLOCK;
	d->bytes = (uint32_t)(n * WB_DISK_BLOCK);
	if (niov == 1) {
		d->io.buf = iov[0].iov_base;
		d->io.len = (uint32_t)iov[0].iov_len;
	} else {
		memcpy(d->iov, iov, niov * sizeof(struct iovec));
		d->io.iov = d->iov;
		d->io.niov = (uint16_t)niov;
	}
	d->io.done = ds_io_done;
	d->io.priv = d;
	d->pg = (struct wb_page **)(d->iov + niov);
	d->npg = npg;
	for (i = 0; i < npg; i++) /* completions come from reap only, never from submit */
		d->pg[i] = ds->held[hidx[i]];
	ds->pending++;
	ret = wb_io_submit(e->bak, &d->io);
	if (ret) {
		ds->pending--;
		free(d);
		return ret;
	}
	for (i = 0; i < npg; i++) /* the write holds these references now */
		ds->held[hidx[i]] = NULL;
	ds->cur = cur;
	ds->cur_off = cur_off;
	return 0;
}

/* Issue backing writes in LBA order, at most DS_QD in flight. */
static void ds_write_more(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	int ret;

	if (ds->err) {
		if (!ds->pending)
			ds_fail(ds, ds->err, "backing write");
		return;
	}
	while (ds->pending < DS_QD && ds->cur < ds->npc) {
		struct wbl_destage_piece *p = &ds->pc[ds->cur];
		uint64_t lba = p->lba + ds->cur_off;
		uint64_t left = p->nblocks - ds->cur_off, n;

		if (wbl_is_zero_logblk(p->log_blk)) {
			/* The pieces of one batch do not overlap (newest version
			 * per block), and the previous batch is flushed: the
			 * discard has no earlier write of these blocks to wait
			 * for; the backend orders it anyway (io.h). */
			n = left < DS_ZERO_BYTES / WB_DISK_BLOCK ? left
								 : DS_ZERO_BYTES / WB_DISK_BLOCK;
			ret = ds_submit(ds, e->bak, WB_IO_DISCARD, NULL,
					(uint32_t)n * WB_DISK_BLOCK, lba * WB_DISK_BLOCK);
			if (!ret) {
				ds->cur_off += n;
				if (ds->cur_off >= p->nblocks) {
					ds->cur++;
					ds->cur_off = 0;
				}
			}
		} else {
			ret = ds_write_one(ds);
		}
		if (ret) {
			ds->err = ret;
			break;
		}
	}
	if (ds->pending)
		return;
	if (ds->err) {
		ds_fail(ds, ds->err, "backing write");
		return;
	}
	/* all written: flush the backing device before anything else moves */
	ds->state = DS_FLUSH;
	ret = ds_submit(ds, e->bak, WB_IO_FLUSH, NULL, 0, 0);
	if (ret)
		ds_fail(ds, ret, "backing flush submit");
}

/* Pick the records of the next batch from destaged_seq on: up to the
 * buffer, the record cap or the durable head, ending where a generation
 * ends when one does. Sets ds->from/upto; false: nothing to do. */
static bool ds_pick(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	uint64_t s, blocks = 0, last_gen_end = 0;

	ds->from = e->destaged_seq;
	ds->upto = 0;
	for (s = ds->from; s <= e->durable_seq && s < e->rec_end; s++) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, s);
		uint32_t nb = rec->flags & WB_REC_F_ZERO ? 0 : rec->data_blocks;

		if (rec->state != WBL_REC_DONE)
			break;
		if (ds->upto && (blocks + nb > ds->buf_blocks || s - ds->from >= DS_MAX_RECORDS))
			break;
		blocks += nb;
		ds->upto = s;
		if (rec->flags & WB_REC_F_GEN_END)
			last_gen_end = s;
	}
	if (!ds->upto)
		return false;
	/* prefer ending the batch where a generation ends */
	if (last_gen_end && ds->upto != last_gen_end && s <= e->durable_seq)
		ds->upto = last_gen_end;
	return true;
}

/* Resolve the batch: the newest version inside it per block, LBA-sorted,
 * into ds->pc. 0 or -errno. */
static int ds_resolve(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	int ret;

	wb_extmap_clear(ds->tmp);
	for (uint64_t s = ds->from; s <= ds->upto; s++) {
		ret = wbl_map_insert(ds->tmp, wbl_rec_by_seq(e, s));
		if (ret)
			return ret;
	}
	ds->npc = 0;
	return wb_extmap_iterate(ds->tmp, ds_piece_cb, ds);
}

/* Take a reference on each page of blocks first..first+n of rec for the
 * batch; *idx = the index of the first in ds->held. false: not all of
 * them are in RAM (then none is taken). */
static bool ds_take_pages(struct wbl_destage *ds, const struct wbl_rec *rec, uint64_t first,
			  uint32_t n, uint32_t *idx)
{
	uint32_t k;

	if (!rec->pages || ds->nheld + n > ds->buf_blocks)
		return false;
	for (k = 0; k < n; k++)
		if (!rec->pages[first + k])
			return false;
	*idx = ds->nheld;
	for (k = 0; k < n; k++) {
		wb_page_get(rec->pages[first + k]);
		ds->held[ds->nheld++] = rec->pages[first + k];
	}
	return true;
}

static int ds_rd_cmp(const void *a, const void *b)
{
	const struct ds_rd *x = a, *y = b;

	return x->log_blk < y->log_blk ? -1 : x->log_blk > y->log_blk;
}

/*
 * Read the pieces in ds->rd[0..n) (sorted by log_blk) from the log into the
 * batch buffer: neighbours in the log share one read (up to DS_IO_BYTES,
 * reading through gaps of up to DS_READ_GAP blocks while the buffer has
 * room for them: slack = buffer blocks no piece needs). Sets each piece's
 * buf_off. 0 or -errno (reads already submitted stay in flight).
 */
static int ds_read_log(struct wbl_destage *ds, uint64_t n, uint64_t slack)
{
	struct wblog *e = ds->e;
	uint64_t i = 0, boff = 0;

	while (i < n) {
		uint64_t start = ds->rd[i].log_blk, end, j;
		int ret;

		end = start + ds->pc[ds->rd[i].idx].nblocks;
		ds->pc[ds->rd[i].idx].buf_off = boff * WB_DISK_BLOCK;
		for (j = i + 1; j < n; j++) {
			struct wbl_destage_piece *q = &ds->pc[ds->rd[j].idx];
			uint64_t gap;

			if (q->log_blk < end)
				break; /* cannot happen: pieces of a batch do not overlap */
			gap = q->log_blk - end;
			if (gap > DS_READ_GAP || gap > slack ||
			    q->log_blk + q->nblocks - start > DS_IO_BLOCKS)
				break;
			slack -= gap;
			q->buf_off = (boff + q->log_blk - start) * WB_DISK_BLOCK;
			end = q->log_blk + q->nblocks;
		}
		ret = ds_submit(ds, e->log, WB_IO_READ, ds->buf + boff * WB_DISK_BLOCK,
				(uint32_t)((end - start) * WB_DISK_BLOCK), start * WB_DISK_BLOCK);
		if (ret)
			return ret;
		boff += end - start;
		i = j;
	}
	return 0;
}

/* The batch's data: blocks whose record still holds its RAM pages are
 * written from those pages (a reference each); the rest is read from the
 * log into the batch buffer, neighbours in the log by one read
 * (ds_read_log). The writes start when the last read is in. */
static void ds_read(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	uint64_t need = 0, nrd = 0, i;
	int ret = 0;

	ds->pending = 1; /* held while reads are issued */
	ds->nheld = 0;
	if (ds->cap_rd < ds->npc) {
		void *n = realloc(ds->rd, ds->npc * sizeof(*ds->rd));

		if (!n) {
			ds->pending = 0;
			ds_fail(ds, -ENOMEM, "log read list");
			return;
		}
		ds->rd = n;
		ds->cap_rd = ds->npc;
	}
	for (i = 0; i < ds->npc; i++) {
		struct wbl_destage_piece *p = &ds->pc[i];
		struct wbl_rec *rec;
		uint64_t first;

		if (wbl_is_zero_logblk(p->log_blk))
			continue;
		ds->batch_bytes += (uint64_t)p->nblocks * WB_DISK_BLOCK;
		rec = wbl_rec_by_seq(e, p->seq);
		first = p->log_blk - (rec->off / WB_DISK_BLOCK + 1);
		if (ds_take_pages(ds, rec, first, p->nblocks, &p->pg))
			continue;
		p->pg = DS_NO_PAGE;
		need += p->nblocks;
		ds->rd[nrd++] = (struct ds_rd){.log_blk = p->log_blk, .idx = i};
	}
	if (nrd) {
		qsort(ds->rd, nrd, sizeof(*ds->rd), ds_rd_cmp);
		/* the batch never holds more data blocks than the buffer */
		ret = ds_read_log(ds, nrd, need < ds->buf_blocks ? ds->buf_blocks - need : 0);
		if (ret)
			ds->err = ret;
	}
	/* drop the hold (as if a read completed) */
	ds->pending--;
	if (!ds->pending) {
		if (ds->err) {
			ds_fail(ds, ds->err, "log read submit");
			return;
		}
		ds->state = DS_WRITE;
		ds->cur = 0;
		ds->cur_off = 0;
		ds_write_more(ds);
	}
}

void wbl_destage_step(struct wblog *e)
{
	struct wbl_destage *ds = e->ds;
	int ret, why = ds_should_run(ds);

	if (!why || !ds_pick(ds))
		return;
	ret = ds_resolve(ds);
	if (ret) {
		ds_fail(ds, ret, "batch map");
		return;
	}
	ds->err = 0;
	ds->batch_bytes = 0;
	ds->t_start_ms = wbl_now_ms();
	ds->state = DS_READ;
	ds_read(ds);
	/* full-speed batches (watermark, drain) do not build up rate debt */
	if (why == 2)
		ds->tokens -= (int64_t)ds->batch_bytes;
}

void wbl_destage_stats(struct wblog *e, struct wb_engine_stats *st)
{
	struct wbl_destage *ds = e->ds;

	st->destage_rate = ds->rate;
	st->destage_eta_ms =
	    ds->rate ? e->dirty_bytes * 1000 / ds->rate
		     : (e->p.destage_min_rate && e->p.destage_min_rate != WB_DESTAGE_RATE_NONE
			    ? e->dirty_bytes * 1000 / e->p.destage_min_rate
			    : 0);
}
