// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_write.c - the write side of the wblog engine: admission of writes
 * into RAM pages (with throttling), coalescing into records, placement in
 * the log, acknowledgement in seq order, flush/FUA durability, generations,
 * and apply_record for replicas.
 *
 * Life of a write: submit copies the data into pagebuf pages and appends
 * the blocks to the open batch; when the RAM buffer is full the request
 * waits on e->admitq with the caller's buffer borrowed (no private copy:
 * ram-buffer is a hard limit) and is copied in as pages free, then
 * r->admitted() releases the buffer; the batch is sealed (seq
 * assigned) when full, when a flush/zero needs it, or from run() when fewer
 * than WBL_MAX_INFLIGHT_RECORDS records are in flight; sealed records are
 * placed at the log head in seq order when space allows and written as one
 * sequential write (header + data, iovecs over the pages); completions are
 * acknowledged strictly in seq order.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/wblog_int.h"

/* Zero/discard extents live in the extent map with a log_blk above the log:
 * ZBASE + (lba mod ZMOD), so a zero piece is recognised by its log_blk and
 * pieces stay "contiguous" for the map's merging. */
#define WBL_ZBASE (1ull << 39)
#define WBL_ZMOD  (1ull << 38)

uint64_t wbl_zero_logblk(uint64_t lba)
{
	return WBL_ZBASE + (lba % WBL_ZMOD);
}

int wbl_is_zero_logblk(uint64_t log_blk)
{
	return log_blk >= WBL_ZBASE;
}

static struct wbl_rec *wbl_rec_new(struct wblog *e, uint32_t flags)
{
	struct wbl_rec *rec = calloc(1, sizeof(*rec));

	if (!rec)
		return NULL;
	rec->e = e;
	rec->flags = flags;
	rec->cap_ext = WB_REC_MAX_EXT;
	/* the spare arrays of the last seal (wbl_rec_fit): filled before read
	 * (ext up to nextents, pages up to data_blocks), no zeroing needed */
	rec->ext = e->spare_ext ? e->spare_ext : malloc(WB_REC_MAX_EXT * sizeof(*rec->ext));
	e->spare_ext = NULL;
	rec->pages =
	    e->spare_pages ? e->spare_pages : malloc(e->max_rec_blocks * sizeof(*rec->pages));
	e->spare_pages = NULL;
	if (!rec->ext || !rec->pages) {
		free(rec->ext);
		free(rec->pages);
		free(rec);
		return NULL;
	}
	return rec;
}

int wbl_map_insert(struct wb_extmap *m, const struct wbl_rec *rec)
{
	uint64_t blk = rec->off / WB_DISK_BLOCK + 1;
	uint32_t i;
	int ret;

	for (i = 0; i < rec->nextents; i++) {
		const struct wb_extent *x = &rec->ext[i];

		if (rec->flags & WB_REC_F_ZERO) {
			uint64_t lba = x->lba, left = x->nblocks;

			while (left) { /* split where lba mod ZMOD wraps */
				uint64_t n = WBL_ZMOD - lba % WBL_ZMOD;

				if (n > left)
					n = left;
				ret = wb_extmap_insert(m, lba, (uint32_t)n, wbl_zero_logblk(lba),
						       rec->seq);
				if (ret)
					return ret;
				lba += n;
				left -= n;
			}
			continue;
		}
		ret = wb_extmap_insert(m, x->lba, x->nblocks, blk, rec->seq);
		if (ret)
			return ret;
		blk += x->nblocks;
	}
	return 0;
}

unsigned wbl_nomem_at;

/* Allocation fault injection (wblog_int.h): 1 when this guarded allocation
 * is the one to fail. */
static int wbl_nomem(void)
{
	return wbl_nomem_at && !--wbl_nomem_at;
}

/*
 * At seal: arrays of the record's own size for the rest of its life, the
 * full-size ones kept for the next batch. A record lives until destage
 * released it, and with full-size arrays every record held 6 KiB (4 KiB
 * of extents for a few): ~170 MiB for a 1 GiB log of 4 KiB writes, and
 * the allocator's heap grew and was trimmed by that much, page faults on
 * the engine thread included (10 % of its samples at 4 KiB QD32). Without
 * memory for the small arrays the record keeps the full ones.
 */
static void wbl_rec_fit(struct wblog *e, struct wbl_rec *rec)
{
	/* never NULL, as before (a record without pages reads from the log) */
	struct wb_extent *x = malloc((rec->nextents ? rec->nextents : 1) * sizeof(*x));
	struct wb_page **pg = malloc((rec->data_blocks ? rec->data_blocks : 1) * sizeof(*pg));

	if (rec->cap_ext != WB_REC_MAX_EXT || !x || !pg) {
		free(x);
		free(pg);
		return;
	}
	memcpy(x, rec->ext, rec->nextents * sizeof(*x));
	memcpy(pg, rec->pages, rec->data_blocks * sizeof(*pg));
	if (!e->spare_ext)
		e->spare_ext = rec->ext;
	else
		free(rec->ext);
	if (!e->spare_pages)
		e->spare_pages = rec->pages;
	else
		free(rec->pages);
	rec->ext = x;
	rec->pages = pg;
	rec->cap_ext = rec->nextents;
}

/* Assign the next seq to rec and queue it for placement. On failure (no
 * memory for the record ring) the engine has failed, rec's requests are
 * completed with -EIO and the caller frees rec; -ENOMEM. */
static int wbl_seal_rec(struct wblog *e, struct wbl_rec *rec)
{
	struct timespec ts;
	uint32_t i, b = 0;

	wbl_rec_fit(e, rec);
	if (!(rec->flags & WB_REC_F_ZERO) && !rec->replica) {
		/* a block's crc from its frontend (WB_REQ crcs, computed on the
		 * io loop) is combined in; only the others are computed here */
		for (i = 0; i < rec->nextents; i++) {
			uint32_t crc = 0, k;

			for (k = 0; k < rec->ext[i].nblocks; k++, b++) {
				const struct wb_page *pg = rec->pages[b];

				if (pg->crc_ok)
					crc = wb_crc32c_combine(crc, pg->crc, WB_DISK_BLOCK);
				else
					crc = wb_crc32c(crc, pg->data, WB_DISK_BLOCK);
			}
			rec->ext[i].crc = crc;
		}
	}
	if (!rec->time_ns) {
		clock_gettime(CLOCK_REALTIME, &ts);
		rec->time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	rec->seq = e->next_seq;
	if (!rec->replica)
		rec->gen = e->gen;
	rec->epoch = e->sb.epoch;
	rec->state = WBL_REC_SEALED;
	if (wbl_nomem() || wbl_ring_push(e, rec)) {
		struct wb_req *r;

		wbl_fail(e, -ENOMEM, "record ring");
		/* not in the ring: wbl_fail did not see its requests */
		while ((r = wbl_reqq_pop(&rec->reqs)))
			wbl_complete(e, r, -EIO);
		return -ENOMEM;
	}
	e->next_seq++;
	wbl_bm_fold(e, rec);
	if (!e->gen_has_data)
		e->gen_start_ms = wb_now_ms();
	e->gen_has_data = 1;
	return 0;
}

void wbl_seal(struct wblog *e)
{
	struct wbl_rec *rec = e->batch;

	if (!rec)
		return;
	e->batch = NULL;
	if (!rec->nextents) {
		wbl_rec_free(e, rec);
		return;
	}
	if (wbl_seal_rec(e, rec))
		wbl_rec_free(e, rec);
	wbl_kick(e);
}

void wbl_close_gen(struct wblog *e)
{
	struct wbl_rec *last;

	/* Flags change only before placement (SEALED): the ship hook hands a
	 * record out once it is placed, and its flags are final from then on. */
	if (e->batch && e->batch->nextents)
		e->batch->flags |= WB_REC_F_GEN_END;
	wbl_seal(e);
	if (!e->gen_has_data)
		return;
	/* the generation's last record is not encoded yet: mark it */
	last = wbl_rec_by_seq(e, e->next_seq - 1);
	if (last && last->state == WBL_REC_SEALED && last->gen == e->gen) {
		last->flags |= WB_REC_F_GEN_END;
	} else if (!e->closing &&
		   (!last || (last->gen == e->gen && !(last->flags & WB_REC_F_GEN_END))) &&
		   (e->hooks.ship || e->next_seq - 1 < e->destaged_seq)) {
		/* it is placed already. With peers, end the generation with an
		 * empty GEN_END record (one 4 KiB header), so a replica learns it
		 * now and not with the next generation. Without peers, the same
		 * when the generation is wholly destaged (the log holds none of
		 * its records, or soon will not): recovery would otherwise take
		 * the generation from the superblock's tail_gen, written by the
		 * destage while it was still open, and reuse its number. A
		 * generation still in the log needs nothing: recovery starts
		 * after its last record's generation. At most one mark per
		 * generation, only when its records were destaged before it
		 * closed. (!last: released, so destaged too.) */
		struct wbl_rec *mark = wbl_rec_new(e, WB_REC_F_GEN_END);

		if (!mark) {
			wbl_fail(e, -ENOMEM, "generation end record");
			return;
		}
		wbl_seal_rec(e, mark);
		wbl_kick(e);
	}
	e->closed_gen = e->gen;
	e->closed_gen_seq = e->next_seq - 1;
	e->gen++;
	e->gen_has_data = 0;
	e->gen_start_ms = wb_now_ms();
}

/* Evict the pages of the oldest written record that still holds some.
 * Returns 1 if pages were released. */
static int wbl_evict_one(struct wblog *e)
{
	uint64_t s;

	for (s = e->evict_seq > e->rec_first ? e->evict_seq : e->rec_first; s < e->rec_end; s++) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, s);

		if (rec->state != WBL_REC_DONE)
			return 0;
		e->evict_seq = s + 1;
		if (rec->pages && rec->data_blocks) {
			wbl_rec_put_pages(e, rec);
			return 1;
		}
	}
	return 0;
}

static void wbl_pw_fn(struct wb_page_waiter *w)
{
	struct wblog *e = (struct wblog *)((char *)w - offsetof(struct wblog, pw));
	uint32_t i;

	e->pw_queued = 0;
	for (i = 0; i < w->n; i++) {
		struct wb_page *p = wb_page_alloc(e->pb);

		if (!p)
			break;
		e->stash[e->stash_n++] = p;
	}
	wbl_kick(e);
}

static struct wb_page *wbl_get_page(struct wblog *e)
{
	struct wb_page *p;

	if (e->stash_n)
		return e->stash[--e->stash_n];
	if (e->pw_queued) {
		while (!e->stash_n && e->pw_queued && wbl_evict_one(e))
			;
		return e->stash_n ? e->stash[--e->stash_n] : NULL;
	}
	for (;;) {
		p = wb_page_alloc(e->pb);
		if (p || !wbl_evict_one(e))
			return p;
	}
}

/* Append one block to the open batch; attach r when it is its last block. */
static int wbl_add_block(struct wblog *e, uint64_t lba, struct wb_page *pg, struct wb_req *r,
			 int last)
{
	struct wbl_rec *b = e->batch;
	struct wb_extent *x;

	if (b && ((b->flags & WB_REC_F_ZERO) || b->data_blocks == e->max_rec_blocks ||
		  (b->nextents == WB_REC_MAX_EXT &&
		   b->ext[b->nextents - 1].lba + b->ext[b->nextents - 1].nblocks != lba))) {
		wbl_seal(e);
		b = NULL;
	}
	if (!b) {
		b = e->batch = wbl_rec_new(e, 0);
		if (!b)
			return -ENOMEM;
	}
	x = b->nextents ? &b->ext[b->nextents - 1] : NULL;
	if (x && x->lba + x->nblocks == lba) {
		x->nblocks++;
	} else {
		x = &b->ext[b->nextents++];
		x->lba = lba;
		x->nblocks = 1;
	}
	b->pages[b->data_blocks++] = pg;
	if (last) {
		wbl_reqq_push(&b->reqs, r);
		if (WBL_FLAGS(r) & WBL_RF_DURABLE)
			b->durable_ack = 1;
	}
	return 0;
}

static int wbl_add_zero(struct wblog *e, struct wb_req *r)
{
	struct wbl_rec *b = e->batch;

	if (b && (!(b->flags & WB_REC_F_ZERO) || b->nextents == WB_REC_MAX_EXT)) {
		wbl_seal(e);
		b = NULL;
	}
	if (!b) {
		b = e->batch = wbl_rec_new(e, WB_REC_F_ZERO);
		if (!b)
			return -ENOMEM;
	}
	b->ext[b->nextents].lba = r->off / WB_BLOCK_SIZE;
	b->ext[b->nextents].nblocks = r->len / WB_BLOCK_SIZE;
	b->ext[b->nextents].crc = 0;
	b->nextents++;
	wbl_reqq_push(&b->reqs, r);
	if (WBL_FLAGS(r) & WBL_RF_DURABLE)
		b->durable_ack = 1;
	return 0;
}

/* Move queued writes into pages and the batch, in submission order. */
void wbl_admit(struct wblog *e)
{
	struct wb_req *r;

	while ((r = e->admitq.head)) {
		uint32_t nblk = r->len / WB_BLOCK_SIZE;
		const uint8_t *src = r->buf; /* borrowed until wbl_release_buf */

		/*
		 * A request links through WBL_NEXT into one queue at a time: it
		 * leaves the admission queue before it joins its record's reqs
		 * (pushing it first would cut the rest of admitq off).
		 */
		if (r->op != WB_REQ_WRITE) {
			wbl_reqq_pop(&e->admitq);
			if (wbl_add_zero(e, r)) {
				wbl_complete(e, r, -ENOMEM);
				goto out_nomem;
			}
			continue;
		}
		if (r->pages) { /* filled by the frontend (ABI 9): no copy, no wait */
			wbl_reqq_pop(&e->admitq);
			while (WBL_CNT(r) < nblk) {
				uint64_t i = WBL_CNT(r);
				struct wb_page *pg = r->pages[i];

				WBL_CNT(r) = i + 1; /* the page is the batch's or put below */
				if (i + 1 == nblk)
					wbl_release_buf(e, r);
				if (wbl_add_block(e, r->off / WB_BLOCK_SIZE + i, pg, r,
						  i + 1 == nblk)) {
					wb_page_put(e->pb, pg);
					wbl_complete(e, r, -ENOMEM); /* puts the pages left */
					goto out_nomem;
				}
			}
			continue;
		}
		while (WBL_CNT(r) < nblk) {
			uint64_t i = WBL_CNT(r);
			struct wb_page *pg = wbl_get_page(e);
			int last = i + 1 == nblk;

			if (!pg)
				goto wait;
			memcpy(pg->data, src + i * WB_BLOCK_SIZE, WB_BLOCK_SIZE);
			if (r->crcs) {
				pg->crc = r->crcs[i];
				pg->crc_ok = 1;
			}
			if (last) {
				wbl_reqq_pop(&e->admitq);
				wbl_release_buf(e, r);
			}
			if (wbl_add_block(e, r->off / WB_BLOCK_SIZE + i, pg, r, last)) {
				wb_page_put(e->pb, pg);
				if (last)
					wbl_complete(e, r, -ENOMEM);
				goto out_nomem;
			}
			WBL_CNT(r) = i + 1;
		}
	}
	return;
wait:
	/* RAM buffer full. The open batch holds pages too: seal it so it gets
	 * written and its pages become evictable; then wait (FIFO) for pages. */
	wbl_seal(e);
	if (!e->pw_queued) {
		uint32_t want = r->len / WB_BLOCK_SIZE - (uint32_t)WBL_CNT(r);
		uint32_t cap = WB_REC_MAX_DATA_BLOCKS - e->stash_n;

		if (want > e->max_rec_blocks)
			want = e->max_rec_blocks;
		if (want > cap)
			want = cap;
		if (want > wb_pagebuf_total(e->pb) / 2)
			want = wb_pagebuf_total(e->pb) / 2 ? wb_pagebuf_total(e->pb) / 2 : 1;
		e->pw.fn = wbl_pw_fn;
		e->pw.n = want;
		e->pw_queued = 1;
		e->st.throttle_events++;
		wb_pagebuf_wait(e->pb, &e->pw);
	}
	return;
out_nomem:
	wbl_fail(e, -ENOMEM, "out of memory building a record");
}

/*
 * Frontends reserve RAM pages on their own threads (wb_pagebuf_reserve);
 * one that found too few marked the buffer starved and woke run(). Serve
 * engine waiters first (pages released by other threads do not serve
 * them), then evict written records' pages until what the starved
 * reservation wanted plus pages_lowat is free, and tell the owner once it
 * fits (wb_pagebuf_unstarve: its notify hook resumes the connections).
 * What cannot be evicted yet (records still in flight) is evicted by a
 * later pass, after their writes complete.
 */
void wbl_pages_supply(struct wblog *e)
{
	uint32_t want;

	if (wb_pagebuf_nwaiters(e->pb))
		wb_pagebuf_serve(e->pb);
	want = wb_pagebuf_starved(e->pb);
	if (!want)
		return;
	while (wb_pagebuf_free(e->pb) < want + e->pages_lowat && wbl_evict_one(e))
		;
	if (wb_pagebuf_free(e->pb) >= want && !wb_pagebuf_nwaiters(e->pb))
		wb_pagebuf_unstarve(e->pb);
}

static int wbl_check_range(struct wblog *e, struct wb_req *r)
{
	if ((r->off | r->len) & (WB_BLOCK_SIZE - 1) || !r->len || r->off > e->dev_size ||
	    r->len > e->dev_size - r->off) {
		wb_msg(WB_LOG_ERR, "%s: invalid request op %u off %llu len %u", e->eng.name, r->op,
		       (unsigned long long)r->off, r->len);
		return -EINVAL;
	}
	return 0;
}

static int wbl_queue_write(struct wblog *e, struct wb_req *r)
{
	int ret = wbl_check_range(e, r);

	if (ret)
		return ret;
	WBL_NEXT(r) = 0;
	WBL_CNT(r) = 0;
	WBL_AUX(r) = 0;
	WBL_FLAGS(r) = (r->flags & (WB_REQ_F_FUA | WB_REQ_F_PREFLUSH)) ? WBL_RF_DURABLE : 0;
	if (e->state == WB_STATE_FAILED) {
		wbl_complete(e, r, -EIO);
		return 0;
	}
	if (r->flags & WB_REQ_F_PREFLUSH)
		wbl_close_gen(e);
	wbl_reqq_push(&e->admitq, r);
	/* a write that does not fit now stays queued with r->buf borrowed */
	wbl_admit(e);
	wbl_kick(e);
	return 0;
}

int wbl_submit_write(struct wblog *e, struct wb_req *r)
{
	e->st.writes++;
	e->st.bytes_written += r->len;
	return wbl_queue_write(e, r);
}

int wbl_submit_zero(struct wblog *e, struct wb_req *r)
{
	e->st.discards++;
	return wbl_queue_write(e, r);
}

int wbl_submit_flush(struct wblog *e, struct wb_req *r)
{
	e->st.flushes++;
	WBL_NEXT(r) = 0;
	if (e->state == WB_STATE_FAILED) {
		wbl_complete(e, r, -EIO);
		return 0;
	}
	/* Every write completed before now is in a record <= next_seq - 1. A
	 * replica's generations are closed by its primary's records only. */
	if (e->role == WB_ROLE_PRIMARY)
		wbl_close_gen(e);
	WBL_TARGET(r) = e->next_seq - 1;
	if (WBL_TARGET(r) > e->want_durable)
		e->want_durable = WBL_TARGET(r);
	wbl_reqq_push(&e->flushq, r);
	wbl_kick(e);
	return 0;
}

/*
 * FUA records (docs/engine.md "FUA records"). A record that must be durable
 * before its ack (FUA, PREFLUSH, replica records) may be written with
 * WB_IO_FUA: its completion then makes it durable, with no log flush
 * submitted after it completed. durable_seq ("every record up to here is
 * durable") moves through a FUA record only once every record before it is
 * durable (wbl_durable_fua, from a record write's completion and from a
 * flush's), so a FUA record that completes before an older record is
 * durable waits for it like any other.
 *
 * Replica records (a secondary, protocol C: every applied record waits to
 * be durable) are always written FUA, also with other records in flight:
 * the fsync is linked to the write in the kernel, so the record is durable
 * without the engine loop waking up for the write's completion and
 * submitting a flush after it, and no record waits for a flush that was
 * already in flight when its write completed (measured on the 3-node
 * cluster bench at QD32: apply -> durable 6.3 -> 5.4 ms; docs/benchmarks.md
 * "The peers' durable path"). At most WBL_MAX_INFLIGHT_REPLICA of them are
 * in flight (local records: WBL_MAX_INFLIGHT_RECORDS); concurrent fsyncs of
 * one device share its cache flushes in the block layer. A local FUA/PREFLUSH
 * write is written FUA only when every record before it is durable and no other record write is in
 * flight (nothing else to cover); otherwise it waits for a log flush, which covers the records
 * written with it. Records that only might be flushed soon are not (the NBD write+flush guess
 * measured 0.84-0.87x: the linked fdatasync costs about a whole flush).
 */
static int wbl_fua_pick(const struct wblog *e, const struct wbl_rec *rec)
{
	if (rec->replica)
		return rec->durable_ack; /* not WB_APPLY_F_WRITTEN ones */
	return e->durable_seq + 1 == rec->seq && !e->records_inflight && rec->durable_ack;
}

/* durable_seq moves on through records that a FUA write made durable, as
 * far as they are consecutive from it (see wbl_fua_pick) */
static void wbl_durable_fua(struct wblog *e)
{
	while (e->durable_seq < e->completed_seq) {
		struct wbl_rec *n = wbl_rec_by_seq(e, e->durable_seq + 1);

		if (!n || !n->fua)
			break;
		e->durable_seq++;
	}
}

static void wbl_rec_io_done(struct wb_io_req *io, int res)
{
	struct wbl_rec *rec = io->priv;
	struct wblog *e = rec->e;

	e->records_inflight--;
	wbl_hdr_put(e, rec->hdr);
	rec->hdr = NULL;
	free(rec->iov);
	rec->iov = NULL;
	if (res < 0 || (uint64_t)res != wb_record_bytes(&(struct wb_rec_info){
					    .data_blocks = rec->data_blocks})) {
		rec->err = res < 0 ? res : -EIO;
		wb_msg(WB_LOG_ERR, "%s: log %s: record seq %llu write at 0x%llx failed: %s",
		       e->eng.name, e->log->name, (unsigned long long)rec->seq,
		       (unsigned long long)rec->off, strerror(-rec->err));
		wbl_fail(e, rec->err, NULL);
		return;
	}
	rec->state = WBL_REC_DONE;
	while (e->completed_seq + 1 < e->place_seq) {
		struct wbl_rec *n = wbl_rec_by_seq(e, e->completed_seq + 1);

		if (!n || n->state != WBL_REC_DONE)
			break;
		e->completed_seq++;
	}
	/* a FUA record is durable once written: the run of records durable
	 * from the start moves on through it if it reaches it */
	wbl_durable_fua(e);
	wbl_kick(e);
}

static int wbl_place_one(struct wblog *e, struct wbl_rec *rec)
{
	struct wb_rec_info *ri;
	uint64_t bytes =
	    (uint64_t)(1 + (rec->flags & WB_REC_F_ZERO ? 0 : rec->data_blocks)) * WB_DISK_BLOCK;
	uint64_t off, span;
	uint32_t i;
	int ret;

	if (wb_logspace_peek(&e->sp, bytes, &off, &span) ||
	    e->sp.used + span > wbl_space_limit(e, rec->replica))
		return -ENOSPC;
	ri = NULL;
	if (!wbl_nomem()) {
		if (!e->place_ri)
			e->place_ri = malloc(sizeof(*e->place_ri));
		ri = e->place_ri;
	}
	rec->hdr = wbl_hdr_get(e);
	rec->iov = calloc(1 + rec->data_blocks, sizeof(*rec->iov));
	if (!ri || !rec->hdr || !rec->iov) {
		ret = -ENOMEM;
		goto out_nomem;
	}
	rec->off = off;
	rec->span = span;
	memset(ri, 0, offsetof(struct wb_rec_info, ext)); /* ext: nextents copied below */
	ri->seq = rec->seq;
	ri->gen = rec->gen;
	ri->epoch = rec->epoch;
	ri->self_off = off;
	ri->time_ns = rec->time_ns;
	ri->durable_seq = e->durable_seq; /* a fact now: flushes completed (recovery.c) */
	ri->flags = rec->flags;
	ri->nextents = rec->nextents;
	memcpy(ri->ext, rec->ext, rec->nextents * sizeof(*rec->ext));
	ret = wb_record_encode(rec->hdr, e->sb.uuid, ri);
	if (ret)
		goto out_nomem;
	wb_logspace_take(&e->sp, off, bytes, span);
	rec->iov[0].iov_base = rec->hdr;
	rec->iov[0].iov_len = WB_DISK_BLOCK;
	for (i = 0; i < rec->data_blocks; i++) {
		rec->iov[1 + i].iov_base = rec->pages[i]->data;
		rec->iov[1 + i].iov_len = WB_DISK_BLOCK;
	}
	memset(&rec->io, 0, sizeof(rec->io));
	rec->io.op = WB_IO_WRITE;
	rec->io.niov = (uint16_t)(1 + rec->data_blocks);
	rec->io.iov = rec->iov;
	rec->io.off = off;
	rec->io.done = wbl_rec_io_done;
	rec->io.priv = rec;
	rec->fua = wbl_fua_pick(e, rec);
	if (rec->fua)
		rec->io.flags = WB_IO_FUA;
	rec->state = WBL_REC_WRITING;
	if (!(rec->flags & WB_REC_F_ZERO))
		e->dirty_bytes += (uint64_t)rec->data_blocks * WB_DISK_BLOCK;
	ret = wbl_map_insert(e->map, rec);
	if (ret) {
		wbl_fail(e, ret, "extent map insert");
		return ret;
	}
	e->records_inflight++;
	ret = wb_io_submit(e->log, &rec->io);
	if (ret) {
		e->records_inflight--;
		wbl_fail(e, ret, "record write submit");
		return ret;
	}
	/* final from here on: hand it to the peers (page references) */
	ret = wbl_ship(e, rec);
	if (ret) {
		wbl_fail(e, ret, "shipping a record");
		return ret;
	}
	return 0;
out_nomem:
	/* nothing was taken; a retry would leak and stall the writers: fail
	 * loudly (every request waiting is completed with -EIO) */
	wbl_hdr_put(e, rec->hdr);
	free(rec->iov);
	rec->hdr = NULL;
	rec->iov = NULL;
	wbl_fail(e, ret, "placing a record in the log");
	return ret;
}

static void wbl_flush_done(struct wb_io_req *io, int res)
{
	struct wblog *e = io->priv;

	e->flush_inflight = 0;
	if (res < 0) {
		wb_msg(WB_LOG_ERR, "%s: log %s: flush failed: %s", e->eng.name, e->log->name,
		       strerror(-res));
		wbl_fail(e, res, NULL);
		return;
	}
	if (e->flush_target > e->durable_seq)
		e->durable_seq = e->flush_target;
	wbl_durable_fua(e); /* FUA records completed after the ones it covered */
	if (e->closed_gen_seq <= e->durable_seq && e->closed_gen > e->gen_durable)
		e->gen_durable = e->closed_gen;
	wbl_kick(e);
}

/* Everything that moves records forward; called from run() only (acks). */
/* Place sealed records in seq order, as many as may be in flight. Returns
 * 0, or the error of a placement that failed (the engine stops for now). */
static int wbl_place_sealed(struct wblog *e)
{
	while (e->state != WB_STATE_FAILED && e->place_seq < e->next_seq) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, e->place_seq);
		int ret;

		/* a replica's records come made (no batch to fill meanwhile):
		 * more of them in flight, each its own FUA write */
		if (e->records_inflight >=
		    (rec->replica ? WBL_MAX_INFLIGHT_REPLICA : WBL_MAX_INFLIGHT_RECORDS))
			break;
		ret = wbl_place_one(e, rec);

		if (ret == -ENOSPC) {
			e->space_wait = 1; /* a peer holding the tail is dropped */
			if (!rec->throttled) {
				rec->throttled = 1;
				e->st.throttle_events++;
			}
			break;
		}
		if (ret)
			return ret;
		rec->throttled = 0;
		e->space_wait = 0;
		e->place_seq++;
	}
	return 0;
}

/* Acknowledge in seq order what the mode's promise allows (the ordering
 * argument is at the ack). */
static void wbl_ack(struct wblog *e)
{
	struct wb_req *r;

	while (e->state != WB_STATE_FAILED && e->ack_seq < e->place_seq) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, e->ack_seq);

		/* ack = memory: a placed record is in the extent map and its
		 * pages stay pinned until its write completes, so reads see it */
		if (rec->state != WBL_REC_DONE &&
		    !(e->p.ack_memory && rec->state == WBL_REC_WRITING && !rec->durable_ack &&
		      !rec->replica))
			break;
		if (rec->durable_ack) { /* replica records: unless WB_APPLY_F_WRITTEN */
			if (e->want_durable < rec->seq)
				e->want_durable = rec->seq;
			if (e->durable_seq < rec->seq)
				break;
		}
		if (e->mode == WB_MODE_WRITETHROUGH && e->destaged_seq <= rec->seq)
			break;
		/*
		 * Ordering argument for the ack (write-back mode): the record holding
		 * this write completed its log write (state DONE), and every record
		 * with a lower seq was acked before, so a read sees it (extent map ->
		 * RAM page or the log) and recovery replays it once a flush made it
		 * durable; FUA/PREFLUSH writes and replica records additionally waited
		 * for a log flush submitted after every record <= seq completed, or
		 * for their own FUA write with every record < seq durable (durable_seq
		 * passes a FUA record only then, wbl_durable_fua), so the consecutive
		 * run recovery follows reaches them.
		 * Write-through: destaged_seq > seq means a backing flush covering it
		 * completed before the tail moved.
		 */
		if ((e->p.ack_memory || rec->replica) && rec->seq > e->durable_seq &&
		    rec->seq > e->commit_seq) {
			/* acked but not yet durable (ack = memory, or a replica record
			 * applied WB_APPLY_F_WRITTEN): ask for a log flush in time */
			e->commit_seq = rec->seq;
			if (!e->commit_due_ms)
				e->commit_due_ms = wb_now_ms() + e->p.log_commit_ms;
		}
		while ((r = wbl_reqq_pop(&rec->reqs)))
			wbl_complete(e, r, 0);
		if (rec->ap) { /* replica record: durable in the local log (above), or
				* written to it (WB_APPLY_F_WRITTEN) */
			rec->ap->err = 0;
			wbl_applyq_push(&e->apply_doneq, rec->ap);
			rec->ap = NULL;
		}
		rec->acked = 1;
		e->ack_seq++;
	}
}

/* Re-applied records (apply_record of a record the log already has): done
 * once they are durable. */
static void wbl_settle_applies(struct wblog *e)
{
	struct wbl_applyq keep = {NULL, NULL};
	struct wbl_apply *a;

	if (!e->apply_wait.head || e->state == WB_STATE_FAILED)
		return;
	while ((a = wbl_applyq_pop(&e->apply_wait))) {
		if (a->seq <= e->durable_seq) {
			a->err = 0;
			wbl_applyq_push(&e->apply_doneq, a);
		} else {
			if (e->want_durable < a->seq)
				e->want_durable = a->seq;
			wbl_applyq_push(&keep, a);
		}
	}
	e->apply_wait = keep;
}

/* Durability: one log flush at a time, covering every completed record. */
static void wbl_log_flush(struct wblog *e)
{
	if (!e->flush_inflight && e->want_durable > e->durable_seq &&
	    e->completed_seq > e->durable_seq && e->state != WB_STATE_FAILED) {
		memset(&e->flush_io, 0, sizeof(e->flush_io));
		e->flush_io.op = WB_IO_FLUSH;
		e->flush_io.done = wbl_flush_done;
		e->flush_io.priv = e;
		e->flush_target = e->completed_seq;
		e->flush_inflight = 1;
		if (wb_io_submit(e->log, &e->flush_io)) {
			e->flush_inflight = 0;
			wbl_fail(e, -EIO, "log flush submit");
		}
	}
}

/* Flush requests whose target is durable complete (all fail once FAILED). */
static void wbl_complete_flushes(struct wblog *e)
{
	struct wb_req *r;

	/* durable_seq also moves without wbl_flush_done (destage flushes the
	 * log, recovery): a closed generation wholly below it is durable */
	if (e->state != WB_STATE_FAILED && e->closed_gen_seq <= e->durable_seq &&
	    e->closed_gen > e->gen_durable)
		e->gen_durable = e->closed_gen;
	while ((r = e->flushq.head) &&
	       (WBL_TARGET(r) <= e->durable_seq || e->state == WB_STATE_FAILED)) {
		wbl_reqq_pop(&e->flushq);
		wbl_complete(e, r, e->state == WB_STATE_FAILED ? -EIO : 0);
	}
}

/*
 * One pass of the write path: admit, seal, place, ack, settle applies, log
 * flush, then complete the flush requests. Each step is a function; after
 * a failure only the flush requests are completed (with -EIO).
 */
void wbl_progress(struct wblog *e)
{
	wbl_pages_supply(e);
	if (e->state != WB_STATE_FAILED) {
		/* admission waiting for pages: evict written records' pages */
		if (e->pw_queued)
			while (e->pw_queued && wbl_evict_one(e))
				;
		if (e->admitq.head)
			wbl_admit(e);
		if (e->batch && (e->records_inflight < WBL_MAX_INFLIGHT_RECORDS - 1 ||
				 e->place_seq == e->next_seq))
			wbl_seal(e);
		if (wbl_place_sealed(e))
			return;
		wbl_ack(e);
		wbl_settle_applies(e);
		wbl_log_flush(e);
	}
	wbl_complete_flushes(e);
}

/* The data blocks of in (ABI 10 pages): sum(nblocks) of them, or 0 */
static uint64_t wbl_in_blocks(const struct wb_record *in)
{
	uint64_t sum = 0;
	uint32_t i;

	if (in->flags & WB_REC_F_ZERO || in->nextents > WB_REC_MAX_EXT)
		return 0;
	for (i = 0; i < in->nextents; i++)
		sum += in->ext[i].nblocks;
	return sum;
}

/* An applied record's pages the engine does not keep (ABI 10: it owns
 * them once apply_record returned 0). */
static void wbl_put_in_pages(struct wblog *e, const struct wb_record *in)
{
	uint64_t b, n = wbl_in_blocks(in);

	for (b = 0; b < n; b++)
		wb_page_put(e->pb, in->pages[b]);
}

/* crc32c of n blocks of in's data from block b: from the pages' crcs
 * (computed where they were filled) or their data, else from in->data. */
static uint32_t wbl_in_crc(const struct wb_record *in, uint64_t b, uint32_t n)
{
	uint32_t crc = 0, k;

	if (!in->pages)
		return wb_crc32c(0, (const uint8_t *)in->data + b * WB_DISK_BLOCK,
				 (size_t)n * WB_DISK_BLOCK);
	for (k = 0; k < n; k++) {
		const struct wb_page *pg = in->pages[b + k];

		if (pg->crc_ok)
			crc = wb_crc32c_combine(crc, pg->crc, WB_DISK_BLOCK);
		else
			crc = wb_crc32c(crc, pg->data, WB_DISK_BLOCK);
	}
	return crc;
}

/* in is the record at seq (already in the ring): the same record re-sent,
 * or a conflicting one? */
static int wbl_apply_again(struct wblog *e, const struct wb_record *in,
			   void (*done)(void *arg, int err), void *arg)
{
	struct wbl_rec *rec = wbl_rec_by_seq(e, in->seq);
	struct wb_record have;
	struct wbl_apply *a;

	if (in->seq < e->rec_first || !rec) {
		wb_msg(WB_LOG_ERR,
		       "%s: apply_record seq %llu: older than the log holds (tail seq %llu), "
		       "cannot compare",
		       e->eng.name, (unsigned long long)in->seq, (unsigned long long)e->rec_first);
		return -EALREADY;
	}
	have = (struct wb_record){.seq = rec->seq,
				  .gen = rec->gen,
				  .nextents = rec->nextents,
				  .flags = rec->flags,
				  .ext = rec->ext};
	if (wb_record_crc(&have) != wb_record_crc(in)) {
		wb_msg(WB_LOG_ERR,
		       "%s: apply_record seq %llu conflicts with the record of that seq in the "
		       "log (gen %llu vs %llu, %u vs %u extents)",
		       e->eng.name, (unsigned long long)in->seq, (unsigned long long)in->gen,
		       (unsigned long long)rec->gen, in->nextents, rec->nextents);
		return -EEXIST;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->done = done;
	a->arg = arg;
	a->seq = in->seq;
	wbl_applyq_push(&e->apply_wait, a);
	if (in->pages) /* the log has the data: the caller's copy goes (ABI 10) */
		wbl_put_in_pages(e, in);
	if (e->want_durable < in->seq)
		e->want_durable = in->seq;
	wbl_kick(e);
	return 0;
}

static int wbl_apply_check(struct wblog *e, const struct wb_record *in, uint64_t *blocks)
{
	uint64_t sum = 0;
	uint32_t i;

	/* an empty record only ends a generation */
	if (in->nextents > WB_REC_MAX_EXT || (in->flags & ~(WB_REC_F_GEN_END | WB_REC_F_ZERO)) ||
	    (!in->nextents && in->flags != WB_REC_F_GEN_END) ||
	    (in->nextents && !(in->flags & WB_REC_F_ZERO) && !in->data && !in->pages)) {
		wb_msg(WB_LOG_ERR, "%s: apply_record seq %llu: %u extents, flags 0x%x", e->eng.name,
		       (unsigned long long)in->seq, in->nextents, in->flags);
		return -EINVAL;
	}
	if (in->gen < e->gen) {
		wb_msg(WB_LOG_ERR,
		       "%s: apply_record seq %llu: generation %llu, but the log is at "
		       "generation %llu",
		       e->eng.name, (unsigned long long)in->seq, (unsigned long long)in->gen,
		       (unsigned long long)e->gen);
		return -EINVAL;
	}
	for (i = 0; i < in->nextents; i++) {
		const struct wb_extent *x = &in->ext[i];

		if (!x->nblocks || x->lba + x->nblocks > e->dev_blocks ||
		    x->lba + x->nblocks < x->lba) {
			wb_msg(WB_LOG_ERR, "%s: apply_record seq %llu: extent %u out of bounds",
			       e->eng.name, (unsigned long long)in->seq, i);
			return -EINVAL;
		}
		if (in->flags & WB_REC_F_ZERO)
			continue;
		sum += x->nblocks;
		if (sum > e->max_rec_blocks) {
			wb_msg(WB_LOG_ERR,
			       "%s: apply_record seq %llu: more than %u data blocks (agreed "
			       "maximum record size)",
			       e->eng.name, (unsigned long long)in->seq, e->max_rec_blocks);
			return -E2BIG;
		}
		if (wbl_in_crc(in, sum - x->nblocks, x->nblocks) != x->crc) {
			wb_msg(WB_LOG_ERR, "%s: apply_record seq %llu: extent %u crc mismatch",
			       e->eng.name, (unsigned long long)in->seq, i);
			return -EBADMSG;
		}
	}
	/* pages must be this engine's own (the caller reserved them in its
	 * RAM buffer): anything else would be freed into the wrong buffer */
	for (i = 0; in->pages && i < sum; i++)
		if (!in->pages[i] ||
		    wb_pagebuf_page_of(e->pb, in->pages[i]->data) != in->pages[i]) {
			wb_msg(WB_LOG_ERR,
			       "%s: apply_record seq %llu: block %u is not a page of "
			       "this engine's RAM buffer",
			       e->eng.name, (unsigned long long)in->seq, i);
			return -EINVAL;
		}
	*blocks = sum;
	return 0;
}

int wbl_apply_record(struct wb_engine *eng, const struct wb_record *in,
		     void (*done)(void *arg, int err), void *arg)
{
	struct wblog *e = (struct wblog *)eng;
	const uint8_t *src = in->data;
	struct wbl_rec *rec;
	uint64_t sum = 0;
	uint32_t b;
	int ret;

	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (!done)
		return -EINVAL;
	if (in->seq < e->next_seq)
		return wbl_apply_again(e, in, done, arg);
	if (in->seq > e->next_seq) {
		wb_msg(WB_LOG_ERR, "%s: apply_record seq %llu: gap, the log expects seq %llu",
		       eng->name, (unsigned long long)in->seq, (unsigned long long)e->next_seq);
		return -ERANGE;
	}
	if (e->batch || e->admitq.head) {
		wb_msg(WB_LOG_ERR, "%s: apply_record while local writes are pending", eng->name);
		return -EBUSY;
	}
	ret = wbl_apply_check(e, in, &sum);
	if (ret)
		return ret;
	rec = wbl_rec_new(e, in->flags);
	if (!rec)
		return -ENOMEM;
	rec->ap = calloc(1, sizeof(*rec->ap));
	if (!rec->ap) {
		wbl_rec_free(e, rec);
		return -ENOMEM;
	}
	/* ABI 10: the link filled the pages on its io loop; they are the
	 * record's from here (no copy, no page allocation on this loop) */
	for (b = 0; in->pages && b < sum; b++)
		rec->pages[b] = in->pages[b];
	for (b = 0; !in->pages && b < sum; b++) {
		struct wb_page *pg = wbl_get_page(e);

		if (!pg) {
			rec->data_blocks = b;
			free(rec->ap);
			wbl_rec_free(e, rec);
			return -EAGAIN;
		}
		memcpy(pg->data, src + (uint64_t)b * WB_DISK_BLOCK, WB_DISK_BLOCK);
		rec->pages[b] = pg;
	}
	rec->data_blocks = (uint32_t)sum;
	rec->nextents = in->nextents;
	memcpy(rec->ext, in->ext, in->nextents * sizeof(*in->ext));
	if (in->gen > e->gen) {
		if (e->gen_has_data) {
			e->closed_gen = e->gen;
			e->closed_gen_seq = e->next_seq - 1;
		}
		e->gen = in->gen;
		e->gen_has_data = 0;
	}
	rec->gen = in->gen;
	rec->time_ns = in->time_ns;
	rec->replica = 1;
	rec->ap->done = done;
	rec->ap->arg = arg;
	rec->ap->seq = in->seq;
	/* WB_APPLY_F_WRITTEN (ABI 11): done() once written, not FUA; the log
	 * flush comes within log_commit_ms (wbl_ack) or from log_sync */
	rec->durable_ack = !(in->apply_flags & WB_APPLY_F_WRITTEN);
	wbl_seal_rec(e, rec);
	if (e->state == WB_STATE_FAILED) {
		/* sealing failed (ring): wbl_fail queued nothing for rec, it is not
		 * in the ring; the caller gets the error instead of done() */
		free(rec->ap);
		rec->ap = NULL;
		if (in->pages)
			rec->data_blocks = 0; /* a non-zero return: the caller's */
		wbl_rec_free(e, rec);
		return -EIO;
	}
	if (in->flags & WB_REC_F_GEN_END) {
		e->closed_gen = e->gen;
		e->closed_gen_seq = rec->seq;
		e->gen++;
		e->gen_has_data = 0;
	}
	wbl_kick(e);
	return 0;
}

/* ops.log_sync (ABI 11): a log flush now for records up to seq, e.g. a
 * replica's barrier from its primary (a user flush there) over records it
 * applied WB_APPLY_F_WRITTEN */
int wbl_log_sync(struct wb_engine *eng, uint64_t seq)
{
	struct wblog *e = (struct wblog *)eng;

	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (seq >= e->next_seq)
		seq = e->next_seq ? e->next_seq - 1 : 0;
	if (seq > e->durable_seq && e->want_durable < seq) {
		e->want_durable = seq;
		wbl_kick(e);
	}
	return 0;
}

/* Clear in *mask the blocks of [lba, lba + n) that [x, x + xn) covers. */
static void wbl_mask_out(uint64_t *mask, uint64_t lba, uint32_t n, uint64_t x, uint64_t xn)
{
	uint64_t a = x > lba ? x : lba, b = x + xn < lba + n ? x + xn : lba + n;

	for (; a < b; a++)
		*mask &= ~(1ull << (a - lba));
}

static void wbl_mask_rec(const struct wbl_rec *rec, uint64_t *mask, uint64_t lba, uint32_t n)
{
	for (uint32_t i = 0; i < rec->nextents; i++)
		wbl_mask_out(mask, lba, n, rec->ext[i].lba, rec->ext[i].nblocks);
}

/*
 * Read repair (engine ABI 15, docs/engine.md "Read repair"): which blocks
 * of a copy made as of since_seq are still the newest version. Records
 * of seq < place_seq are in the map (placement inserts and ships in one
 * step); destage drops them from the map strictly in seq order, so while
 * destaged_seq <= since_seq every record of seq >= since_seq that was
 * placed is still there, unless a newer one replaced it (also >= since_seq).
 * What is not placed yet (sealed records, the open batch, writes waiting
 * for pages) is looked at by its extents.
 */
int wbl_repair_mask(struct wb_engine *eng, uint64_t lba, uint32_t n, uint64_t since_seq,
		    uint64_t *mask)
{
	struct wblog *e = (struct wblog *)eng;
	struct wb_extmap_ent ents[64];
	uint64_t pos = lba, end = lba + n;
	struct wb_req *r;
	int k;

	*mask = 0;
	if (!n || n > 64 || lba >= e->dev_blocks || n > e->dev_blocks - lba)
		return -EINVAL;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (e->destaged_seq > since_seq)
		return -ESTALE;
	*mask = n == 64 ? ~0ull : (1ull << n) - 1;
	while (pos < end) {
		k = wb_extmap_lookup(e->map, pos, (uint32_t)(end - pos), ents, 64);
		if (k < 0) {
			*mask = 0;
			return k;
		}
		if (!k)
			break;
		for (int i = 0; i < k && i < 64; i++) {
			if (ents[i].seq >= since_seq)
				wbl_mask_out(mask, lba, n, ents[i].lba, ents[i].nblocks);
			pos = ents[i].lba + ents[i].nblocks;
		}
		if (k <= 64)
			break;
	}
	for (uint64_t s = e->place_seq; s < e->next_seq; s++) {
		const struct wbl_rec *rec = wbl_rec_by_seq(e, s);

		if (rec)
			wbl_mask_rec(rec, mask, lba, n);
	}
	if (e->batch)
		wbl_mask_rec(e->batch, mask, lba, n);
	for (r = e->admitq.head; r; r = (struct wb_req *)(uintptr_t)WBL_NEXT(r))
		wbl_mask_out(mask, lba, n, r->off / WB_BLOCK_SIZE, r->len / WB_BLOCK_SIZE);
	return 0;
}
