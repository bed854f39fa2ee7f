// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog.c - the "wblog" write-back log engine: ops table (wb_wblog_ops),
 * format, open (recovery), close, the run loop, timers, stats and modes.
 *
 * Split: wblog_write.c (writes, records, acks, flushes, apply_record),
 * wblog_read.c (reads), wblog_repl.c (ship hook, read_record, peer
 * holds), wblog_destage.c (destage), recovery.c (log scan),
 * superblock.c (superblock ring), logspace.c (space of the data area),
 * record.c (record headers).
 *
 * Owns struct wblog (engine state, see wblog_int.h): allocated by open,
 * freed by close. The log and backing wb_io belong to the caller.
 * Event model: one epoll fd holding our eventfd (kicked whenever internal
 * work is pending) and the eventfds of both wb_io; run() reaps both
 * devices, advances every state machine and then delivers completions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine/bind.h"
#include "engine/wblog_destage.h"
#include "engine/recovery.h"
#include "engine/wblog_int.h"

/*
 * Wake run(). The eventfd is written only when no kick is pending: run
 * clears e->kicked right before it reads the eventfd and then processes
 * everything, so a kick after the clear writes again and none is lost.
 * A kick from inside run() (a state machine that made work for another)
 * writes nothing: it sets e->rerun and run() makes another pass before it
 * returns (perf: the eventfd write, its read and the extra wake-up of the
 * owner's loop were 3 of the ~17 syscalls of the engine loop per 4 KiB
 * write at QD1).
 */
/* The RAM buffer's wake hook (engine/pagebuf.h): another thread freed
 * pages while writers wait, or found too few to reserve. Any thread, with
 * the buffer's lock held. */
static void wbl_xwake(void *arg)
{
	struct wblog *e = arg;
	uint64_t one = 1;

	if (write(e->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, run() will come */
	}
	atomic_store(&e->xkick, 1);
}

void wbl_kick(struct wblog *e)
{
	uint64_t one = 1;

	if (e->in_run) {
		e->rerun = 1;
		return;
	}
	if (e->efd < 0 || e->kicked)
		return;
	e->kicked = 1;
	if (write(e->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, run() will come */
	}
}

void wbl_reqq_push(struct wbl_reqq *q, struct wb_req *r)
{
	WBL_NEXT(r) = 0;
	if (q->tail)
		WBL_NEXT(q->tail) = (uint64_t)(uintptr_t)r;
	else
		q->head = r;
	q->tail = r;
}

struct wb_req *wbl_reqq_pop(struct wbl_reqq *q)
{
	struct wb_req *r = q->head;

	if (!r)
		return NULL;
	q->head = (struct wb_req *)(uintptr_t)WBL_NEXT(r);
	if (!q->head)
		q->tail = NULL;
	return r;
}

void wbl_applyq_push(struct wbl_applyq *q, struct wbl_apply *a)
{
	a->next = NULL;
	if (q->tail)
		q->tail->next = a;
	else
		q->head = a;
	q->tail = a;
}

struct wbl_apply *wbl_applyq_pop(struct wbl_applyq *q)
{
	struct wbl_apply *a = q->head;

	if (!a)
		return NULL;
	q->head = a->next;
	if (!q->head)
		q->tail = NULL;
	return a;
}

void wbl_release_buf(struct wblog *e, struct wb_req *r)
{
	if (r->op != WB_REQ_WRITE || (WBL_FLAGS(r) & WBL_RF_ADMITTED))
		return;
	WBL_FLAGS(r) |= WBL_RF_ADMITTED;
	/* a write that came in pages (ABI 9) and ends before all of them went
	 * into records: the engine owns the rest and puts them */
	if (r->pages) {
		for (uint64_t i = WBL_CNT(r); i < r->len / WB_BLOCK_SIZE; i++)
			wb_page_put(e->pb, r->pages[i]);
		WBL_CNT(r) = r->len / WB_BLOCK_SIZE;
	}
	if (r->admitted)
		r->admitted(r);
}

void wbl_complete(struct wblog *e, struct wb_req *r, int err)
{
	wbl_release_buf(e, r); /* before done(), as wbengine.h promises */
	WBL_ERR(r) = (uint64_t)(int64_t)err;
	wbl_reqq_push(&e->doneq, r);
	wbl_kick(e);
}

void wbl_rec_put_pages(struct wblog *e, struct wbl_rec *rec)
{
	uint32_t i;

	if (!rec->pages)
		return;
	for (i = 0; i < rec->data_blocks; i++)
		if (rec->pages[i])
			wb_page_put(e->pb, rec->pages[i]);
	free(rec->pages);
	rec->pages = NULL;
}

/* A 4 KiB aligned record header buffer: a cached one, or a new one. */
void *wbl_hdr_get(struct wblog *e)
{
	if (e->hdr_cached)
		return e->hdr_cache[--e->hdr_cached];
	return wb_io_alloc(WB_DISK_BLOCK);
}

/* Give a header buffer back (NULL: nothing); kept for the next record. */
void wbl_hdr_put(struct wblog *e, void *hdr)
{
	if (!hdr)
		return;
	if (e->hdr_cached < WBL_HDR_CACHE)
		e->hdr_cache[e->hdr_cached++] = hdr;
	else
		wb_io_free(hdr);
}

void wbl_rec_free(struct wblog *e, struct wbl_rec *rec)
{
	wbl_rec_put_pages(e, rec);
	free(rec->ext);
	wbl_hdr_put(e, rec->hdr);
	free(rec->iov);
	free(rec);
}

int wbl_ring_push(struct wblog *e, struct wbl_rec *rec)
{
	uint64_t n = e->rec_end - e->rec_first;

	if (n + 1 > e->ring_cap) {
		uint64_t ncap = e->ring_cap ? e->ring_cap * 2 : 1024, s;
		struct wbl_rec **nr = calloc(ncap, sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		for (s = e->rec_first; s < e->rec_end; s++)
			nr[s % ncap] = e->ring[s % e->ring_cap];
		free(e->ring);
		e->ring = nr;
		e->ring_cap = ncap;
	}
	e->ring[e->rec_end % e->ring_cap] = rec;
	e->rec_end++;
	return 0;
}

/* Log bytes writers may fill: the high watermark; replica records may use
 * the reserve above it so a replica is never stuck behind local throttling. */
uint64_t wbl_space_limit(struct wblog *e, int reserve)
{
	uint64_t size = e->sp.end - e->sp.start, lim;

	if (reserve)
		return size;
	lim = size / 100 * e->p.destage_high_pct;
	if (lim < (uint64_t)(e->max_rec_blocks + 1) * WB_DISK_BLOCK * 2)
		lim = size;
	return lim;
}

void wbl_fail(struct wblog *e, int err, const char *what)
{
	struct wb_req *r;
	uint64_t s;

	if (e->state == WB_STATE_FAILED)
		return;
	if (what)
		wb_msg(WB_LOG_ERR, "%s: %s: %s; refusing further writes", e->eng.name, what,
		       strerror(-err));
	else
		wb_msg(WB_LOG_ERR, "%s: I/O error, refusing further writes", e->eng.name);
	e->state = WB_STATE_FAILED;
	/* nothing that is not durable as promised is acked from now on */
	while ((r = wbl_reqq_pop(&e->admitq)))
		wbl_complete(e, r, -EIO);
	if (e->batch) {
		while ((r = wbl_reqq_pop(&e->batch->reqs)))
			wbl_complete(e, r, -EIO);
	}
	for (s = e->ack_seq; s < e->rec_end; s++) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, s);

		while ((r = wbl_reqq_pop(&rec->reqs)))
			wbl_complete(e, r, -EIO);
		if (rec->ap) { /* delivered from run(), like every completion */
			rec->ap->err = -EIO;
			wbl_applyq_push(&e->apply_doneq, rec->ap);
			rec->ap = NULL;
		}
	}
	{
		struct wbl_apply *a;

		while ((a = wbl_applyq_pop(&e->apply_wait))) {
			a->err = -EIO;
			wbl_applyq_push(&e->apply_doneq, a);
		}
	}
	e->ack_seq = e->rec_end;
	while ((r = wbl_reqq_pop(&e->flushq)))
		wbl_complete(e, r, -EIO);
}

/* Release records < release_upto (their tail is persisted), but none a
 * peer still holds (set_peer_pos) unless its retention is exceeded: then the
 * peer is dropped and the tail moves on. Deferred while a log read is in
 * flight: it may be reading that space. */
void wbl_release_records(struct wblog *e)
{
	struct wbl_rec *rec, *next;
	uint64_t hold;
	int n = 0;

	if (e->log_reads_inflight)
		return;
	wbl_hold_account(e);
	for (;;) {
		hold = wbl_hold_seq(e);
		if (wbl_bm_hold(e) < hold)
			hold = wbl_bm_hold(e); /* a dropped peer's bitmap is not durable yet */
		while (e->rec_first < e->release_upto && e->rec_first < e->destaged_seq &&
		       e->rec_first < hold) {
			rec = wbl_rec_by_seq(e, e->rec_first);
			next = wbl_rec_by_seq(e, e->rec_first + 1);
			wb_logspace_release(
			    &e->sp, next && next->state >= WBL_REC_WRITING ? next->off : e->sp.head,
			    rec->span);
			e->held_bytes -= rec->span; /* rec_first < held_end here */
			e->rel_gen = rec->gen;
			e->rel_time_ns = rec->time_ns;
			/* a record after it of a newer generation ends it too */
			e->rel_gen_end = (rec->flags & WB_REC_F_GEN_END) ||
					 (next && next->gen > rec->gen) ||
					 e->closed_gen >= rec->gen;
			e->ring[e->rec_first % e->ring_cap] = NULL;
			wbl_rec_free(e, rec);
			e->rec_first++;
			n++;
		}
		if (!wbl_hold_exceeded(e) || wbl_bm_hold(e) <= e->rec_first)
			break;
		wbl_drop_lowest_peer(e);
	}
	if (n)
		wbl_kick(e);
}

static void wbl_sb_io_done(struct wb_io_req *io, int res);

static int wbl_sb_submit(struct wblog *e, void (*done)(struct wblog *e, int err))
{
	int ret;

	e->sb.sb_seq++;
	e->sb.update_time = (uint64_t)time(NULL);
	wb_sb_encode(&e->sb, e->sb_buf);
	e->sb_sent = e->sb;
	e->meta_sent = e->meta_want;
	memset(&e->sb_io, 0, sizeof(e->sb_io));
	e->sb_io.op = WB_IO_WRITE;
	e->sb_io.flags = WB_IO_FUA;
	e->sb_io.buf = e->sb_buf;
	e->sb_io.len = WB_DISK_BLOCK;
	e->sb_io.off = wb_sb_slot_off(&e->sb, e->sb.sb_seq);
	e->sb_io.done = wbl_sb_io_done;
	e->sb_io.priv = e;
	e->sb_done = done;
	e->sb_inflight = 1;
	ret = wb_io_submit(e->log, &e->sb_io);
	if (ret < 0)
		e->sb_inflight = 0;
	return ret;
}

static void wbl_sb_io_done(struct wb_io_req *io, int res)
{
	struct wblog *e = io->priv;
	void (*next)(struct wblog * e, int err) = e->sb_queued_done;
	int ret;

	e->sb_inflight = 0;
	if (res < 0) {
		wb_msg(WB_LOG_ERR, "%s: log %s: superblock slot write failed: %s", e->eng.name,
		       e->log->name, strerror(-res));
	} else {
		e->sb_durable = e->sb_sent;
		e->meta_done = e->meta_sent;
	}
	if (e->sb_done)
		e->sb_done(e, res < 0 ? res : 0);
	/* the queued write carries everything e->sb holds now */
	if (e->sb_queued && !e->sb_inflight) {
		e->sb_queued = 0;
		e->sb_queued_done = NULL;
		ret = e->state == WB_STATE_FAILED ? -EIO : wbl_sb_submit(e, next);
		if (ret && next)
			next(e, ret);
	}
	wbl_kick(e);
}

/* Persist e->sb into the next slot of the ring (FUA); done(e, err) when it
 * completed. With a write in flight the write is queued behind it (one at
 * most: destage and the metadata updates each have at most one). */
int wbl_sb_write(struct wblog *e, void (*done)(struct wblog *e, int err))
{
	if (e->sb_inflight) {
		if (e->sb_queued)
			return -EBUSY;
		e->sb_queued = 1;
		e->sb_queued_done = done;
		return 0;
	}
	return wbl_sb_submit(e, done);
}

static void wbl_params_defaults(struct wb_engine_params *p)
{
	if (!p->ram_pages)
		p->ram_pages = 16384;
	if (!p->destage_low_pct)
		p->destage_low_pct = 10;
	if (!p->destage_high_pct)
		p->destage_high_pct = 90;
	if (p->destage_high_pct > 100)
		p->destage_high_pct = 100;
	if (p->destage_low_pct > p->destage_high_pct)
		p->destage_low_pct = p->destage_high_pct;
	if (!p->destage_min_rate)
		p->destage_min_rate = 4u << 20;
	if (!p->log_commit_ms)
		p->log_commit_ms = 10;
}

/* Persist sb into the next slot of the ring (FUA) and flush. Synchronous:
 * format and rebase only, with nothing else in flight on the log. */
static int wbl_sb_write_sync(struct wb_io *log, struct wb_sb *sb, void *buf)
{
	int ret;

	sb->sb_seq++;
	sb->update_time = (uint64_t)time(NULL);
	wb_sb_encode(sb, buf);
	ret = wb_io_pwrite(log, buf, WB_DISK_BLOCK, wb_sb_slot_off(sb, sb->sb_seq), WB_IO_FUA);
	if (ret >= 0)
		ret = wb_io_flush(log);
	return ret < 0 ? ret : 0;
}

/* Set where an empty log starts: its first record gets seq, generation gen. */
static void wbl_sb_base(struct wb_sb *sb, uint64_t seq, uint64_t gen)
{
	sb->tail_seq = seq;
	sb->tail_gen = gen;
	sb->destaged_seq = seq;
	sb->destaged_gen = gen - 1;
}

/* Format; a new replica's log starts at its primary's seq and generation,
 * and the node id goes into the metadata. */
static int wbl_format_at(const struct wb_engine_params *p, uint64_t dev)
{
	uint64_t seq = p->base_seq ? p->base_seq : 1, gen = p->base_gen ? p->base_gen : 1;
	struct wb_sb sb;
	void *buf;
	int ret;

	ret = wb_sb_format_bm(p->log_io, dev, p->log_segment_size,
			      p->bitmap_peers ? p->bitmap_peers : WB_BM_DEFAULT_PEERS,
			      p->bitmap_region ? p->bitmap_region : WB_BM_DEFAULT_REGION, &sb);
	if (ret || (seq == 1 && gen == 1 && !p->node_id))
		return ret;
	buf = wb_io_alloc(WB_DISK_BLOCK);
	if (!buf)
		return -ENOMEM;
	wbl_sb_base(&sb, seq, gen);
	sb.node_id = p->node_id;
	ret = wbl_sb_write_sync(p->log_io, &sb, buf);
	wb_io_free(buf);
	if (ret)
		wb_msg(WB_LOG_ERR, "%s: log %s: writing the base seq %llu gen %llu / node id: %s",
		       p->name ? p->name : "wblog", p->log_io->name, (unsigned long long)seq,
		       (unsigned long long)gen, strerror(-ret));
	return ret;
}

static int wbl_format(const struct wb_engine_params *p)
{
	struct wb_sb sb;
	char err[320];
	uint64_t dev;
	int ret;

	if (!p->log_io || !p->backing_io) {
		wb_msg(WB_LOG_ERR, "%s: wblog format needs a log and a backing device",
		       p->name ? p->name : "wblog");
		return -EINVAL;
	}
	/* the backing's last 4 KiB after the exported range is its identity
	 * block (bind.h), never exported */
	dev = p->size ? p->size : wb_bind_dev_size(p->backing_io->size);
	dev &= ~(uint64_t)(WB_DISK_BLOCK - 1);
	if (!dev || dev > p->backing_io->size || p->backing_io->size - dev < WB_DISK_BLOCK) {
		wb_msg(WB_LOG_ERR,
		       "%s: size %llu + 4096 (identity block) is larger than backing %s (%llu "
		       "bytes)",
		       p->name ? p->name : "wblog", (unsigned long long)dev, p->backing_io->name,
		       (unsigned long long)p->backing_io->size);
		return -EINVAL;
	}
	{
		char berr[1024];

		ret = wb_bind_probe(p->backing_io, dev, berr, sizeof(berr));
		if (ret) {
			wb_msg(WB_LOG_ERR, "%s: refusing to format: %s",
			       p->name ? p->name : "wblog", berr);
			return ret;
		}
	}
	/* Log first, then the binding: a crash in between leaves a pair that
	 * open refuses (the backing names the old log, or none), never one
	 * that is silently accepted. */
	ret = wbl_format_at(p, dev);
	if (!ret)
		ret = wb_sb_load(p->log_io, &sb, err, sizeof(err));
	if (ret)
		return ret;
	return wb_bind_write(p->backing_io, dev, sb.uuid);
}

static int wbl_upgrade(const struct wb_engine_params *p)
{
	const char *name = p->name ? p->name : "wblog";
	struct wb_sb sb;
	char err[320], u[40];
	int ret;

	if (!p->log_io) {
		wb_msg(WB_LOG_ERR, "%s: wblog upgrade needs the log device", name);
		return -EINVAL;
	}
	ret = wb_sb_upgrade(p->log_io, p->node_id, &sb, err, sizeof(err));
	if (ret < 0) {
		wb_msg(WB_LOG_ERR, "%s: %s", name, err);
		return ret;
	}
	wb_bind_uuid_str(sb.data_uuid, u);
	wb_msg(WB_LOG_INFO, "%s: log %s %s format version %u: data uuid %s, node id %u", name,
	       p->log_io->name, ret ? "already is" : "upgraded to", sb.version, u, sb.node_id);
	return ret;
}

static int wbl_recover_cb(void *arg, const struct wb_rec_info *ri, uint64_t span, const void *data)
{
	struct wblog *e = arg;
	struct wbl_rec *rec = calloc(1, sizeof(*rec));

	(void)data;
	if (!rec)
		return -ENOMEM;
	rec->e = e;
	rec->seq = ri->seq;
	rec->gen = ri->gen;
	rec->epoch = ri->epoch;
	rec->time_ns = ri->time_ns;
	rec->flags = ri->flags;
	rec->nextents = ri->nextents;
	rec->data_blocks = ri->data_blocks;
	rec->off = ri->self_off;
	rec->span = span;
	rec->state = WBL_REC_DONE;
	rec->acked = 1;
	rec->ext = malloc(ri->nextents * sizeof(*rec->ext));
	if (!rec->ext || wbl_ring_push(e, rec)) {
		free(rec->ext);
		free(rec);
		return -ENOMEM;
	}
	if (!(ri->flags & WB_REC_F_ZERO))
		e->dirty_bytes += (uint64_t)ri->data_blocks * WB_DISK_BLOCK;
	memcpy(rec->ext, ri->ext, ri->nextents * sizeof(*rec->ext));
	wbl_bm_fold(e, rec); /* records the bitmaps' stamps do not cover */
	return wbl_map_insert(e->map, rec);
}

static void wbl_free(struct wblog *e)
{
	uint64_t s;
	uint32_t i;

	struct wbl_apply *a;

	wbl_repl_free(e);
	wbl_meta_free(e);
	wbl_bm_free(e);
	wbl_grow_free(e);
	if (e->batch)
		wbl_rec_free(e, e->batch);
	while ((a = wbl_applyq_pop(&e->apply_wait)))
		free(a);
	while ((a = wbl_applyq_pop(&e->apply_doneq)))
		free(a);
	for (s = e->rec_first; s < e->rec_end; s++)
		if (e->ring[s % e->ring_cap])
			wbl_rec_free(e, e->ring[s % e->ring_cap]);
	for (i = 0; i < e->stash_n; i++)
		wb_page_put(e->pb, e->stash[i]);
	if (e->pw_queued)
		wb_pagebuf_cancel(e->pb, &e->pw);
	if (e->pb) { /* frontends may still hold a reference and pages */
		wb_pagebuf_set_wake(e->pb, NULL, NULL);
		wb_pagebuf_set_notify(e->pb, NULL, NULL);
	}
	wbl_destage_destroy(e);
	free(e->ring);
	if (e->refs_out)
		/* a ship/read_record reference still holds pages: keep them */
		wb_msg(WB_LOG_ERR,
		       "%s: closed with %llu record references not put (leaking the RAM buffer)",
		       e->eng.name, (unsigned long long)e->refs_out);
	else if (e->pb)
		wb_pagebuf_destroy(e->pb);
	wbl_snap_free_all(e);
	if (e->map)
		wb_extmap_destroy(e->map);
	wb_io_free(e->sb_buf);
	while (e->hdr_cached)
		wb_io_free(e->hdr_cache[--e->hdr_cached]);
	free(e->place_ri);
	free(e->spare_ext);
	free(e->spare_pages);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->efd >= 0)
		close(e->efd);
	free(e);
}

static int wbl_epoll_add(struct wblog *e, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN};

	if (fd < 0)
		return 0;
	ev.data.fd = fd;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) && errno != EEXIST)
		return -errno;
	return 0;
}

/* open, step 0: the parameters wblog takes */
static int wbl_open_check(const struct wb_engine_params *p)
{
	const char *name = p->name ? p->name : "wblog";

	if (!p->log_io || !p->backing_io) {
		wb_msg(WB_LOG_ERR, "%s: wblog needs a log and a backing device", name);
		return -EINVAL;
	}
	if (p->options && *p->options) {
		wb_msg(WB_LOG_ERR, "%s: engine wblog takes no engine options (got \"%s\")", name,
		       p->options);
		return -EINVAL;
	}
	if (p->role != WB_ROLE_PRIMARY && p->role != WB_ROLE_REPLICA) {
		wb_msg(WB_LOG_ERR, "%s: unknown role %u", name, p->role);
		return -EINVAL;
	}
	if (p->ack_memory > 1) {
		wb_msg(WB_LOG_ERR, "%s: ack_memory must be 0 or 1 (got %u)", name, p->ack_memory);
		return -EINVAL;
	}
	return 0;
}

/* open: the engine struct, nothing opened yet (wbl_free undoes it) */
static struct wblog *wbl_open_new(const struct wb_engine_params *p)
{
	struct wblog *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->efd = e->epfd = -1;
	e->snap_pin = UINT64_MAX;
	e->p = *p;
	e->log = p->log_io;
	e->bak = p->backing_io;
	snprintf(e->eng.name, sizeof(e->eng.name), "%s", p->name ? p->name : "wblog");
	e->eng.ops = &wb_wblog_ops;
	e->p.name = e->eng.name;
	return e;
}

/* open, step 1: read-only checks (superblock, geometry, sizes, binding),
 * the in-memory structures and the bitmaps */
static int wbl_open_load(struct wblog *e)
{
	char err[320];
	int ret;

	ret = wb_sb_load(e->log, &e->sb, err, sizeof(err));
	if (ret) {
		wb_msg(WB_LOG_ERR, "%s: refusing to open: %s", e->eng.name, err);
		return ret;
	}
	e->dev_size = e->sb.dev_size;
	if ((e->p.size && e->p.size != e->dev_size) || e->bak->size < e->dev_size) {
		wb_msg(WB_LOG_ERR,
		       "%s: refusing to open: log %s belongs to a %llu-byte device, "
		       "but backing %s has %llu bytes%s",
		       e->eng.name, e->log->name, (unsigned long long)e->dev_size, e->bak->name,
		       (unsigned long long)e->bak->size, e->p.size ? " (or size= differs)" : "");
		return -EINVAL;
	}
	{
		char berr[1024];

		ret = wb_bind_check(e->bak, e->log->name, e->dev_size, e->sb.uuid, berr,
				    sizeof(berr));
		if (ret) {
			wb_msg(WB_LOG_ERR, "%s: refusing to open: %s", e->eng.name, berr);
			return ret;
		}
	}
	e->dev_blocks = e->dev_size / WB_DISK_BLOCK;
	e->max_rec_blocks = e->sb.max_rec_blocks;
	if (e->p.max_record_blocks && e->p.max_record_blocks < e->max_rec_blocks)
		e->max_rec_blocks = e->p.max_record_blocks; /* agreed with the peers */
	ret = wb_extmap_create(&e->map);
	if (!ret)
		ret = wb_pagebuf_create(e->p.ram_pages, &e->pb);
	if (!ret) {
		wb_pagebuf_set_wake(e->pb, wbl_xwake, e);
		/* kept free once a frontend found the buffer full: 1/8 of it,
		 * so a starved reservation is the exception, not every write */
		e->pages_lowat = e->p.ram_pages / 8;
	}
	if (!ret)
		ret = wbl_destage_create(e);
	e->sb_buf = wb_io_alloc(WB_DISK_BLOCK);
	if (ret || !e->sb_buf) {
		ret = ret ? ret : -ENOMEM;
		wb_msg(WB_LOG_ERR, "%s: open: out of memory", e->eng.name);
		return ret;
	}

	ret = wbl_bm_open(e);
	if (ret) {
		wb_msg(WB_LOG_ERR, "%s: refusing to open: log %s: loading the bitmaps: %s",
		       e->eng.name, e->log->name, strerror(-ret));
		return ret;
	}

	return 0;
}

/* open, step 2: replay the longest valid run from the tail (reads only)
 * and set the engine's positions and generation from it */
static int wbl_open_recover(struct wblog *e)
{
	struct wb_recovery rc;
	char err[320];
	uint64_t t0;
	int ret;

	e->rec_first = e->rec_end = e->sb.tail_seq;
	t0 = wb_now_ms();
	ret = wb_recovery_scan(e->log, &e->sb, e->dev_blocks, wbl_recover_cb, e, &rc);
	if (ret) {
		wb_msg(WB_LOG_ERR, "%s: refusing to open: log %s: recovery: %s", e->eng.name,
		       e->log->name, strerror(-ret));
		return ret;
	}
	/* a torn tail is normal after a crash; a hole in flushed records is not */
	ret = wb_recovery_verify(e->log, &e->sb, e->dev_blocks, &rc, NULL, NULL, err, sizeof(err));
	if (ret) {
		if (ret > 0)
			wb_msg(WB_LOG_ERR,
			       "%s: refusing to open: log %s is damaged: %s. Starting would "
			       "lose seq %llu and every record after it. Inspect it with "
			       "`wbengine check --log %s --backing %s`; to start anyway, "
			       "discarding those records: `wbengine repair --accept-data-loss "
			       "--log %s --backing %s`",
			       e->eng.name, e->log->name, err, (unsigned long long)rc.next_seq,
			       e->log->name, e->bak->name, e->log->name, e->bak->name);
		else
			wb_msg(WB_LOG_ERR, "%s: refusing to open: log %s: recovery: %s",
			       e->eng.name, e->log->name, strerror(-ret));
		ret = ret > 0 ? -EUCLEAN : ret;
		return ret;
	}
	wb_msg(WB_LOG_INFO,
	       "%s: log %s: recovered %llu records (seq %llu..%llu, %llu bytes dirty) in %llu ms%s",
	       e->eng.name, e->log->name, (unsigned long long)rc.nrecs,
	       (unsigned long long)e->sb.tail_seq, (unsigned long long)rc.next_seq - 1,
	       (unsigned long long)e->dirty_bytes, (unsigned long long)(wb_now_ms() - t0),
	       e->sb.flags & WB_SB_F_CLEAN ? ", closed cleanly" : "");
	if (rc.end_torn)
		wb_msg(WB_LOG_WARN,
		       "%s: log %s: the record after them (seq %llu) was torn by a crash and is "
		       "dropped: no flush had completed for it (%s)",
		       e->eng.name, e->log->name, (unsigned long long)rc.next_seq, rc.end_why);
	else
		wb_msg(WB_LOG_DEBUG, "%s: log %s: the run ends at 0x%llx: %s", e->eng.name,
		       e->log->name, (unsigned long long)rc.end_off, rc.end_why);
	e->sb.tail_off = rc.first_off;
	wb_logspace_init(&e->sp, &e->sb, rc.head_off, rc.used);
	e->next_seq = e->place_seq = e->ack_seq = rc.next_seq;
	e->completed_seq = e->durable_seq = e->want_durable = rc.next_seq - 1;
	e->destaged_seq = e->evict_seq = e->sb.tail_seq;
	/* A primary starts a new generation after a restart; a replica goes on
	 * with the primary's: its next record may still belong to the last one. */
	e->role = (int)e->p.role;
	e->gen = rc.nrecs ? rc.last_gen + 1 : e->sb.tail_gen;
	if (rc.nrecs && e->role == WB_ROLE_REPLICA && !(rc.last_flags & WB_REC_F_GEN_END))
		e->gen = rc.last_gen;
	if (e->gen <= e->sb.destaged_gen)
		e->gen = e->sb.destaged_gen + 1;
	e->gen_has_data = rc.nrecs && e->gen == rc.last_gen;
	e->closed_gen = e->gen_durable = e->gen - 1;
	e->closed_gen_seq = rc.next_seq - 1;
	e->gen_start_ms = wb_now_ms();
	/* destage may have written records past the tail on disk before the
	 * close or crash (the tail is persisted for several batches at
	 * once): the backing may hold any recovered record's data, so a
	 * snapshot needs a generation that ends at or after the last one
	 * (wblog_snap.c) */
	e->snap_floor = rc.nrecs ? rc.next_seq - 1 : 0;

	return 0;
}

/* open, step 3: the first write bumps the open epoch (FUA) before any
 * record */
static int wbl_open_epoch(struct wblog *e)
{
	int ret;

	e->sb.epoch++;
	e->sb.flags &= ~WB_SB_F_CLEAN;
	e->sb.sb_seq++;
	e->sb.update_time = (uint64_t)time(NULL);
	wb_sb_encode(&e->sb, e->sb_buf);
	ret = wb_io_pwrite(e->log, e->sb_buf, WB_DISK_BLOCK, wb_sb_slot_off(&e->sb, e->sb.sb_seq),
			   WB_IO_FUA);
	if (ret < 0) {
		wb_msg(WB_LOG_ERR, "%s: log %s: writing the superblock: %s", e->eng.name,
		       e->log->name, strerror(-ret));
		return ret;
	}
	e->sb_durable = e->sb;
	if (e->sb.version < 2)
		wb_msg(WB_LOG_INFO,
		       "%s: log %s is format version 1: no replication metadata (data UUIDs, "
		       "node id); `wbengine upgrade --log %s` adds it",
		       e->eng.name, e->log->name, e->log->name);

	return 0;
}

/* open, step 4: the engine's fd (epoll over its eventfd and both devices) */
static int wbl_open_events(struct wblog *e)
{
	int ret;

	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->efd < 0 || e->epfd < 0 || wbl_epoll_add(e, e->efd) ||
	    wbl_epoll_add(e, wb_io_fd(e->log)) || wbl_epoll_add(e, wb_io_fd(e->bak))) {
		ret = -errno ? -errno : -EIO;
		wb_msg(WB_LOG_ERR, "%s: eventfd/epoll setup: %s", e->eng.name, strerror(-ret));
		return ret;
	}
	return 0;
}

static int wbl_open(const struct wb_engine_params *pin, struct wb_engine **out)
{
	struct wb_engine_params p = *pin;
	struct wblog *e;
	int ret = wbl_open_check(&p);

	if (ret)
		return ret;
	wbl_params_defaults(&p);
	e = wbl_open_new(&p);
	if (!e)
		return -ENOMEM;
	ret = wbl_open_load(e);
	if (!ret)
		ret = wbl_open_recover(e);
	if (!ret)
		ret = wbl_open_epoch(e);
	if (!ret)
		ret = wbl_open_events(e);
	if (ret) {
		wbl_free(e);
		return ret;
	}
	wbl_kick(e); /* resume destage */
	*out = &e->eng;
	return 0;
}

static void wbl_deliver(struct wblog *e, int *n)
{
	struct wb_req *r;

	struct wbl_apply *a;

	while ((r = wbl_reqq_pop(&e->doneq))) {
		int err = (int)(int64_t)WBL_ERR(r);

		(*n)++;
		r->done(r, err);
	}
	while ((a = wbl_applyq_pop(&e->apply_doneq))) {
		(*n)++;
		a->done(a->arg, a->err);
		free(a);
	}
	wbl_repl_deliver(e, n);
	wbl_meta_deliver(e, n);
	if (e->bm)
		wbl_bm_deliver(e, n);
	wbl_grow_deliver(e, n);
}

static void wbl_timers(struct wblog *e)
{
	if (e->role == WB_ROLE_PRIMARY && e->p.gen_max_interval_ms && e->gen_has_data &&
	    wb_now_ms() - e->gen_start_ms >= e->p.gen_max_interval_ms)
		wbl_close_gen(e);
	/* ack = memory: writes acked before they were durable get a log flush
	 * by log_commit_ms after the first such ack (wbl_progress issues it) */
	if (e->commit_due_ms) {
		if (e->durable_seq >= e->commit_seq) {
			e->commit_due_ms = 0;
		} else if (wb_now_ms() >= e->commit_due_ms) {
			if (e->want_durable < e->commit_seq)
				e->want_durable = e->commit_seq;
			e->commit_due_ms = 0;
		}
	}
}

/* The earlier of timeout t (ms, -1 = none) and the deadline due_ms. */
static int wbl_min_timeout(int t, uint64_t due_ms)
{
	uint64_t now = wb_now_ms();
	int d = now >= due_ms ? 0 : (int)(due_ms - now);

	return t < 0 || d < t ? d : t;
}

/* op destage_fill (ABI 17): see wbl_destage_fill */
static int wbl_destage_fill_op(struct wb_engine *eng, uint64_t lba, uint32_t n, uint64_t since,
			       const void *buf)
{
	struct wblog *e = (struct wblog *)eng;

	if (!n || !buf || lba >= e->dev_blocks || n > e->dev_blocks - lba)
		return -EINVAL;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	return wbl_destage_fill(e, lba, n, since, buf);
}

static int wbl_timeout(struct wb_engine *eng)
{
	struct wblog *e = (struct wblog *)eng;
	int t = wbl_destage_timeout(e);
	uint64_t due;

	if (e->role == WB_ROLE_PRIMARY && e->p.gen_max_interval_ms && e->gen_has_data)
		t = wbl_min_timeout(t, e->gen_start_ms + e->p.gen_max_interval_ms);
	if (e->commit_due_ms)
		t = wbl_min_timeout(t, e->commit_due_ms);
	if ((due = wbl_destage_held_due(e)))
		t = wbl_min_timeout(t, due);
	if (e->doneq.head || e->apply_doneq.head || wbl_repl_pending(e) || wbl_meta_pending(e) ||
	    wbl_bm_pending(e) || wbl_grow_pending(e))
		t = 0;
	return t;
}

/*
 * The run loop. Returns after delivering completions, at once when !wait,
 * or (close) as soon as stop(e) holds: close must not sleep on the destage
 * rate timer once nothing it waits for is left.
 */
/* Passes in a row that run() makes for kicks from inside itself before it
 * returns with the eventfd written instead (a state machine that kicks on
 * every pass must not keep the owner's loop from its other events). */
#define WBL_RERUN_MAX 64

static int wbl_run_pass_loop(struct wblog *e, int wait, int (*stop)(struct wblog *e))
{
	struct wb_engine *eng = &e->eng;
	int n = 0, loops, reruns = 0;
	uint64_t cnt;

	for (loops = 0; loops < 1000000; loops++) {
		int ret;

		e->rerun = 0;

		/* the eventfd is non-zero exactly while e->kicked is set (only
		 * wbl_kick writes it): read it only then, one syscall less per pass */
		if (e->kicked || atomic_load_explicit(&e->xkick, memory_order_relaxed)) {
			e->kicked = 0; /* before the read: a kick from here on writes again */
			atomic_store(&e->xkick, 0);
			if (read(e->efd, &cnt, sizeof(cnt)) < 0) {
				/* EAGAIN: cannot happen while kicked was set */
			}
		}
		ret = wb_io_reap(e->log, 0);
		if (ret >= 0)
			ret = wb_io_reap(e->bak, 0);
		if (ret < 0 && ret != -EAGAIN && ret != -EINTR)
			wb_msg(WB_LOG_WARN, "%s: reap: %s", eng->name, strerror(-ret));
		wbl_timers(e);
		wbl_progress(e);
		if (e->release_upto > e->rec_first && e->rec_first < e->destaged_seq)
			wbl_release_records(e);
		wbl_destage_step(e);
		wbl_progress(e);
		wbl_bm_progress(e);
		wbl_meta_progress(e);
		wbl_deliver(e, &n);
		/* A waiting run that delivered returns (the kick then goes to
		 * the eventfd): such callers see run() return after completions,
		 * as before. A caller that waits never sleeps on a kick that is
		 * pending: it makes the passes (the cap is for callers with a
		 * loop of their own to get back to). A run that does not wait
		 * makes the passes its kicks ask for also after it delivered:
		 * left to the eventfd they cost a write, a wake-up of the
		 * owner's loop and a read (3 of ~15 syscalls per 4 KiB write at
		 * QD1 with ack = memory, strace; docs/benchmarks.md). */
		if (e->rerun && !(stop && stop(e)) &&
		    (n ? !wait && reruns++ < WBL_RERUN_MAX : wait || reruns++ < WBL_RERUN_MAX))
			continue;
		reruns = 0;
		if (n || !wait || (stop && stop(e)))
			return n;
		{
			struct epoll_event evs[4];
			int t = wbl_timeout(eng);

			if (e->log->inflight + e->bak->inflight == 0 && t < 0 && !e->doneq.head &&
			    !e->apply_doneq.head && !wbl_repl_pending(e) && !wbl_meta_pending(e) &&
			    !wbl_bm_pending(e) && !wbl_grow_pending(e)) {
				/* nothing can happen by itself: do not sleep forever */
				uint64_t v;

				e->kicked = 0;
				if (read(e->efd, &v, sizeof(v)) > 0)
					continue;
				return 0;
			}
			wb_io_unplug(e->log);
			wb_io_unplug(e->bak);
			if (epoll_wait(e->epfd, evs, 4, t) < 0 && errno != EINTR)
				return -errno;
			wb_io_plug(e->log);
			wb_io_plug(e->bak);
		}
	}
	/* a pass either delivers, sleeps in epoll_wait, finds nothing to wait
	 * for or reruns for a kick: a million passes without any but the
	 * last is a busy loop */
	wb_msg(WB_LOG_WARN, "%s: run: %d passes without a completion (busy loop?)", eng->name,
	       loops);
	return n;
}

/*
 * One run: the passes above with kicks turned into reruns and the devices
 * plugged (requests queued during a pass go to the kernel together, one
 * io_uring_enter per device instead of one per request). What is still
 * wanted when it returns (a kick in its last pass) is left to the eventfd.
 */
static int wbl_run_until(struct wblog *e, int wait, int (*stop)(struct wblog *e))
{
	int n, nested = e->in_run;

	e->in_run = 1;
	wb_io_plug(e->log);
	wb_io_plug(e->bak);
	n = wbl_run_pass_loop(e, wait, stop);
	if (!nested) {
		wb_io_unplug(e->log);
		wb_io_unplug(e->bak);
		e->in_run = 0;
		if (e->rerun) {
			e->rerun = 0;
			wbl_kick(e);
		}
	}
	return n;
}

static int wbl_run(struct wb_engine *eng, int wait)
{
	return wbl_run_until((struct wblog *)eng, wait, NULL);
}

static int wbl_fd(struct wb_engine *eng)
{
	return ((struct wblog *)eng)->epfd;
}

static int wbl_submit_op(struct wblog *e, struct wb_req *r);

static int wbl_submit(struct wb_engine *eng, struct wb_req *r)
{
	struct wblog *e = (struct wblog *)eng;
	int ret;

	if (!(r->flags & WB_REQ_F_RUN_AFTER) || e->in_run)
		return wbl_submit_op(e, r);
	/* the owner runs us next: what the submit kicks is left to that run
	 * (e->rerun is cleared by its first pass, which does the work) */
	e->in_run = 1;
	ret = wbl_submit_op(e, r);
	e->in_run = 0;
	return ret;
}

static int wbl_submit_op(struct wblog *e, struct wb_req *r)
{
	struct wb_engine *eng = &e->eng;

	if (e->closing)
		return -ESHUTDOWN;
	if (r->snap && r->op != WB_REQ_READ)
		return -EROFS; /* a snapshot is read-only */
	/* a replica's log takes records from its primary only */
	if (e->role == WB_ROLE_REPLICA &&
	    (r->op == WB_REQ_WRITE || r->op == WB_REQ_DISCARD || r->op == WB_REQ_WRITE_ZEROES))
		return -EROFS;
	switch (r->op) {
	case WB_REQ_READ:
		return wbl_submit_read(e, r);
	case WB_REQ_WRITE:
		return wbl_submit_write(e, r);
	case WB_REQ_FLUSH:
		return wbl_submit_flush(e, r);
	case WB_REQ_DISCARD:
	case WB_REQ_WRITE_ZEROES:
		return wbl_submit_zero(e, r);
	default:
		wb_msg(WB_LOG_ERR, "%s: unknown request op %u", eng->name, r->op);
		return -EINVAL;
	}
}

static int wbl_busy(struct wblog *e)
{
	return e->admitq.head || e->batch || e->ack_seq < e->next_seq || e->flushq.head ||
	       e->doneq.head || e->apply_wait.head || e->apply_doneq.head || wbl_repl_pending(e) ||
	       e->flush_inflight || e->log_reads_inflight || !wbl_destage_idle(e) ||
	       e->records_inflight || e->sb_inflight || e->sb_queued || e->metaq_head ||
	       wbl_bm_busy(e);
}

static int wbl_idle(struct wblog *e)
{
	return !wbl_busy(e);
}

static int wbl_durable_all(struct wblog *e)
{
	return e->durable_seq + 1 >= e->next_seq || e->state == WB_STATE_FAILED;
}

static int wbl_no_io(struct wblog *e)
{
	return !e->log->inflight && !e->bak->inflight && !e->doneq.head && !e->apply_doneq.head &&
	       !wbl_repl_pending(e) && !e->metaq_head && !wbl_bm_pending(e) && !e->grow;
}

/* close, step 1: everything in flight finished (or the engine failed and
 * no I/O is left to wait for) */
static int wbl_close_settled(void *arg)
{
	struct wblog *e = arg;

	return !wbl_busy(e) || (e->state == WB_STATE_FAILED && !e->log->inflight &&
				!e->bak->inflight && !e->doneq.head);
}

static int wbl_close_settle(void *arg)
{
	struct wblog *e = arg;

	if (e->state != WB_STATE_FAILED && e->want_durable < e->next_seq - 1)
		e->want_durable = e->next_seq - 1;
	int ret = wbl_run_until(e, 1, wbl_idle);

	return ret < 0 ? ret : 0;
}

/* close, step 2: every record durable */
static int wbl_close_durable(void *arg)
{
	return wbl_durable_all(arg);
}

static int wbl_close_run_durable(void *arg)
{
	wbl_run_until(arg, 1, wbl_durable_all);
	return 0; /* keeps trying until durable, failed or the deadline */
}

/* close, step 3: no I/O left that could complete into freed memory */
static int wbl_close_no_io(void *arg)
{
	struct wblog *e = arg;

	return !(e->log->inflight || e->bak->inflight || e->doneq.head || e->apply_doneq.head ||
		 wbl_repl_pending(e));
}

static int wbl_close_reap(void *arg)
{
	int ret = wbl_run_until(arg, 1, wbl_no_io);

	return ret < 0 ? ret : 0;
}

static void wbl_close(struct wb_engine *eng)
{
	struct wblog *e = (struct wblog *)eng;

	/* finish everything in flight and make the log durable; no new destage
	 * batches from here on (see ds_should_run), dirty data stays in the log */
	e->closing = 1;
	wbl_seal(e);
	wbl_bm_close(e);
	wbl_kick(e);
	wb_drain(wbl_close_settled, wbl_close_settle, e, WB_DRAIN_CLOSE_MS, eng->name,
		 "close: requests in flight");
	if (e->state != WB_STATE_FAILED && e->durable_seq + 1 < e->next_seq) {
		e->want_durable = e->next_seq - 1;
		wb_drain(wbl_close_durable, wbl_close_run_durable, e, WB_DRAIN_CLOSE_MS, eng->name,
			 "close: making the log durable");
	}
	/* clean = every record durable: recovery then must reach this head */
	if (e->state != WB_STATE_FAILED && !e->log->inflight && e->durable_seq + 1 >= e->next_seq) {
		e->sb.flags |= WB_SB_F_CLEAN;
		e->sb.head_hint_off = e->sp.head;
		e->sb.head_hint_seq = e->next_seq;
		e->sb.sb_seq++;
		wb_sb_encode(&e->sb, e->sb_buf);
		if (wb_io_pwrite(e->log, e->sb_buf, WB_DISK_BLOCK,
				 wb_sb_slot_off(&e->sb, e->sb.sb_seq), WB_IO_FUA) < 0)
			wb_msg(WB_LOG_WARN, "%s: clean-close superblock write failed", eng->name);
	}
	/* Nothing may complete into freed memory: reap every I/O still queued
	 * on either device (backing reads are not counted by wbl_busy; after a
	 * failure the loops above stop early). Their requests complete with the
	 * I/O's result. */
	wb_drain(wbl_close_no_io, wbl_close_reap, e, WB_DRAIN_CLOSE_MS, eng->name,
		 "close: I/O in flight");
	if (e->log->inflight || e->bak->inflight)
		wb_msg(WB_LOG_ERR, "%s: closing with %u log and %u backing I/Os still in flight",
		       eng->name, e->log->inflight, e->bak->inflight);
	wbl_free(e);
}

static int wbl_stats(struct wb_engine *eng, struct wb_engine_stats *st)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_rec *first = wbl_rec_by_seq(e, e->rec_first);

	*st = e->st;
	st->size = e->dev_size;
	st->log_size = e->sp.end - e->sp.start;
	st->log_used = e->sp.used;
	st->dirty_bytes = e->dirty_bytes;
	st->gen_head = e->gen;
	st->gen_durable = e->gen_durable;
	st->gen_oldest = first ? first->gen : e->gen;
	st->seq_head = e->next_seq;
	st->seq_tail = e->rec_first;
	wbl_destage_stats(e, st);
	st->ram_pages_total = wb_pagebuf_total(e->pb);
	st->ram_pages_used = st->ram_pages_total - wb_pagebuf_free(e->pb);
	st->extents = wb_extmap_count(e->map);
	st->extent_mem_bytes = wb_extmap_mem_bytes(e->map);
	st->mode = (uint32_t)e->mode;
	st->state = (uint32_t)e->state;
	st->seq_durable = e->durable_seq + 1;
	st->seq_destaged = e->destaged_seq;
	st->role = (uint32_t)e->role;
	st->max_record_blocks = e->max_rec_blocks;
	st->peers_held = e->peers_held;
	st->snapshots = e->nsnaps;
	return 0;
}

/*
 * Demote: the generation in force becomes the one of the newest record (the
 * primary's records decide from now on; it is still open unless that record
 * ended it). Promote: go on from the last applied seq with a new generation.
 * Nothing on disk changes: generations live in the records.
 */
static int wbl_set_role(struct wb_engine *eng, enum wb_role role)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_rec *last;

	if (role != WB_ROLE_PRIMARY && role != WB_ROLE_REPLICA)
		return -EINVAL;
	if (e->closing)
		return -ESHUTDOWN;
	if ((int)role == e->role)
		return 0;
	if (role == WB_ROLE_REPLICA) {
		if (e->batch || e->admitq.head || e->ack_seq < e->next_seq) {
			wb_msg(WB_LOG_ERR, "%s: cannot become a replica: local writes pending",
			       eng->name);
			return -EBUSY;
		}
		last = e->next_seq > e->rec_first ? wbl_rec_by_seq(e, e->next_seq - 1) : NULL;
		if (last) {
			e->gen = last->gen + !!(last->flags & WB_REC_F_GEN_END);
			e->gen_has_data = !(last->flags & WB_REC_F_GEN_END);
			e->closed_gen = e->gen - 1;
			e->closed_gen_seq = e->next_seq - 1;
			if (e->gen_durable > e->closed_gen)
				e->gen_durable = e->closed_gen;
		}
	} else if (e->gen_has_data) {
		e->closed_gen = e->gen;
		e->closed_gen_seq = e->next_seq - 1;
		e->gen++;
		e->gen_has_data = 0;
		e->gen_start_ms = wb_now_ms();
	}
	e->role = (int)role;
	wb_msg(WB_LOG_INFO, "%s: role %s at seq %llu, generation %llu", eng->name,
	       role == WB_ROLE_REPLICA ? "replica" : "primary", (unsigned long long)e->next_seq,
	       (unsigned long long)e->gen);
	wbl_kick(e);
	return 0;
}

static int wbl_set_mode(struct wb_engine *eng, enum wb_mode mode)
{
	struct wblog *e = (struct wblog *)eng;

	if (mode != WB_MODE_WRITEBACK && mode != WB_MODE_WRITETHROUGH)
		return -EINVAL;
	/* Write-through: destage runs without watermarks (drain) and every ack
	 * waits until its record is durable on backing (see wbl_progress); as
	 * destage goes in seq order, the first write-through ack implies the
	 * whole log before it was drained. */
	e->mode = mode;
	if (mode == WB_MODE_WRITETHROUGH)
		wbl_snap_drop_all(e, "write-through: destage must go on");
	wbl_destage_set_drain(e, mode == WB_MODE_WRITETHROUGH);
	wb_msg(WB_LOG_INFO, "%s: mode %s", eng->name,
	       mode == WB_MODE_WRITETHROUGH ? "write-through" : "write-back");
	return 0;
}

/* Run-time tunables (SIGHUP reload): generation interval and destage policy.
 * Takes effect at the next run() pass; nothing on disk changes. */
static int wbl_set_params(struct wb_engine *eng, const struct wb_engine_params *np)
{
	struct wblog *e = (struct wblog *)eng;
	struct wb_engine_params p = e->p;

	p.gen_max_interval_ms = np->gen_max_interval_ms;
	p.destage_low_pct = np->destage_low_pct;
	p.destage_high_pct = np->destage_high_pct;
	p.destage_min_rate = np->destage_min_rate;
	p.log_commit_ms = np->log_commit_ms;
	wbl_params_defaults(&p);
	e->p.log_commit_ms = p.log_commit_ms;
	e->p.gen_max_interval_ms = p.gen_max_interval_ms;
	e->p.destage_low_pct = p.destage_low_pct;
	e->p.destage_high_pct = p.destage_high_pct;
	e->p.destage_min_rate = p.destage_min_rate;
	wb_msg(WB_LOG_INFO,
	       "%s: tunables: gen-max-interval %u ms, destage %u..%u%%, min rate %llu B/s, "
	       "log-commit %u ms",
	       eng->name, e->p.gen_max_interval_ms, e->p.destage_low_pct, e->p.destage_high_pct,
	       (unsigned long long)e->p.destage_min_rate, e->p.log_commit_ms);
	wbl_kick(e);
	return 0;
}

/*
 * A resynced replica's log goes on at its primary's position: only when the
 * log holds no record (everything destaged and released) and nothing is in
 * flight; the new tail is persisted before it returns (synchronous FUA slot
 * write, like open's epoch bump), so a restart finds the log at (seq, gen).
 */
static int wbl_rebase(struct wb_engine *eng, uint64_t seq, uint64_t gen)
{
	struct wblog *e = (struct wblog *)eng;
	struct wb_sb sb = e->sb;
	uint32_t i;
	int ret;

	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (!gen || !seq) {
		wb_msg(WB_LOG_ERR, "%s: rebase to seq %llu gen %llu: the log is at seq %llu",
		       eng->name, (unsigned long long)seq, (unsigned long long)gen,
		       (unsigned long long)e->next_seq);
		return -EINVAL;
	}
	if (wbl_busy(e) || e->rec_first != e->next_seq || e->log->inflight || e->sb_inflight) {
		wb_msg(WB_LOG_ERR,
		       "%s: rebase: the log still holds records %llu..%llu (drain first)",
		       eng->name, (unsigned long long)e->rec_first,
		       (unsigned long long)e->next_seq - 1);
		return -EBUSY;
	}
	wbl_sb_base(&sb, seq, gen);
	sb.tail_off = e->sp.head;
	/* a new epoch: no record written before (whatever its seq, also one
	 * >= seq when the log goes back to a lower seq: a resync target that
	 * discards its own records) is taken for one of the new run */
	sb.epoch++;
	sb.tail_min_epoch = sb.epoch;
	/* no record between: a tracking bitmap covers everything before seq */
	for (i = 0; i < sb.bm_npeers; i++)
		if (sb.bm_peer[i].flags & WB_BM_F_TRACK)
			sb.bm_peer[i].stamp = sb.bm_peer[i].since = seq;
	ret = wbl_sb_write_sync(e->log, &sb, e->sb_buf);
	if (ret) {
		wbl_fail(e, ret, "rebase superblock write");
		return ret;
	}
	e->sb = e->sb_durable = sb;
	e->rec_first = e->rec_end = e->next_seq = e->place_seq = e->ack_seq = seq;
	e->evict_seq = e->destaged_seq = e->release_upto = e->held_end = seq;
	e->held_bytes = 0;
	/* a held peer's position was in the old seq space: hold the log from
	 * the new base until its owner says where the peer is (set_peer_pos);
	 * left as it was, a position above seq (a rebase down) held nothing */
	for (i = 0; i < WB_ENGINE_MAX_PEERS; i++)
		if (e->peers_held & (1u << i))
			e->peer_pos[i] = seq;
	e->completed_seq = e->durable_seq = e->want_durable = e->flush_target = seq - 1;
	e->commit_seq = e->commit_due_ms = 0; /* ack = memory: from the new seq on */
	e->closed_gen_seq = seq - 1;
	e->gen = gen;
	e->closed_gen = e->gen_durable = gen - 1;
	e->gen_has_data = 0;
	wbl_snap_drop_all(e, "the log was rebased (resync)");
	e->rel_gen = 0;
	wbl_destage_rebased(e);
	wbl_bm_rebased(e, seq);
	wb_msg(WB_LOG_INFO, "%s: log rebased to seq %llu, generation %llu", eng->name,
	       (unsigned long long)seq, (unsigned long long)gen);
	return 0;
}

static struct wb_pagebuf *wbl_pagebuf(struct wb_engine *eng)
{
	return ((struct wblog *)eng)->pb;
}

const struct wb_engine_ops wb_wblog_ops = {
    .abi_version = WB_ENGINE_ABI_VERSION,
    .name = "wblog",
    .description = "crash-safe write-back log (log device + backing device)",
    .format = wbl_format,
    .open = wbl_open,
    .close = wbl_close,
    .submit = wbl_submit,
    .fd = wbl_fd,
    .run = wbl_run,
    .timeout_ms = wbl_timeout,
    .apply_record = wbl_apply_record,
    .stats = wbl_stats,
    .set_mode = wbl_set_mode,
    .set_params = wbl_set_params,
    .set_role = wbl_set_role,
    .rebase = wbl_rebase,
    .set_repl_hooks = wbl_set_repl_hooks,
    .rec_get = wbl_rec_get,
    .rec_put = wbl_rec_put,
    .read_record = wbl_read_record,
    .set_peer_pos = wbl_set_peer_pos,
    .meta = wbl_meta,
    .meta_update = wbl_meta_update,
    .upgrade = wbl_upgrade,
    .bm_info = wbl_bm_info,
    .bm_set = wbl_bm_set,
    .bm_next = wbl_bm_next,
    .bm_track = wbl_bm_track,
    .bm_flush = wbl_bm_flush,
    .pagebuf = wbl_pagebuf,
    .log_sync = wbl_log_sync,
    .gen_span = wbl_gen_span,
    .snap_create = wbl_snap_create,
    .snap_drop = wbl_snap_drop,
    .snap_list = wbl_snap_list,
    .gen_at = wbl_gen_at,
    .snap_fence = wbl_snap_fence,
    .bm_owner = wbl_bm_owner,
    .bm_owner_set = wbl_bm_owner_set,
    .size_max = wbl_size_max,
    .grow = wbl_grow,
    .repair_mask = wbl_repair_mask,
    .grow_log = wbl_grow_log,
    .destage_fill = wbl_destage_fill_op,
};
