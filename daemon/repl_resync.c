// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl_resync.c - bitmap resync, full sync and checksum resync of one peer
 * (docs/replication.md, "Resync"; frames in docs/wire-protocol.md).
 *
 * Source (the primary): decides at the hello whether the peer needs a
 * resync (its log position is no longer in this log, its disk is
 * Inconsistent, it is new, it discards its data), sends the peer's dirty
 * bitmap (engine, tracking) as bitmap frames, then ships records live as
 * usual and answers resync requests with data read through its engine
 * (so data still in the log counts). Ordering on the one link: a resync
 * answer is sent only if every record below the seq shipped when its read
 * was submitted was sent before it, and no record overlapping its range
 * was sent to that peer while the read ran (else the read is done again).
 * So every record that precedes an answer on the link is older than the
 * answer's data, and every record that follows it is newer or the same.
 *
 * Target (the secondary): on the bitmap it marks itself Inconsistent
 * durably (a marker data UUID), drains and rebases its log to the source's
 * seq if told to, then asks for every dirty region (with its own crc32c
 * when resync-checksum = yes) at most RS_INFLIGHT requests at a time,
 * within resync-rate, and writes the answers straight to its backing
 * device. A record that arrives while such writes are in flight waits for
 * them (a later destage of the record must not be overtaken by an older
 * resync write). At the end: backing flush, the source's UUIDs adopted
 * (UpToDate), resync-done. An interrupted resync starts again from the
 * source's bitmap, which is cleared only after the target finished.
 *
 * Threads: the resource's event base (= the engine thread).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include <event2/event.h>

#include "daemon/events.h"
#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"
#include "engine/io.h"

#define RS_INFLIGHT    4	  /* requests a target has outstanding */
#define RS_REQ_MAX     (1u << 20) /* bytes per request */
#define RS_CHUNK_BYTES 32768u	  /* bitmap bytes per bitmap frame */

/* ---- common ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t popcount(const uint8_t *b, uint64_t nbits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < nbits / 8; i++)
		n += (uint64_t)__builtin_popcount(b[i]);
	for (uint64_t i = nbits / 8 * 8; i < nbits; i++)
		n += (b[i / 8] >> (i % 8)) & 1;
	return n;
}

static bool bit_get(const uint8_t *b, uint64_t i)
{
	return (b[i / 8] >> (i % 8)) & 1;
}

static void free_cb(const void *data, size_t len, void *cookie)
{
	free(cookie);
}

static void io_free_cb(const void *data, size_t len, void *cookie)
{
	wb_io_free(cookie);
}

void wbd_repl_rs_status(const struct repl_peer *p, struct wbd_repl_peer_status *s)
{
	const struct repl_rs *rs = &p->rs;
	uint64_t el;

	if (rs->state == REPL_RS_NONE)
		return;
	s->resync = true;
	s->rs_total = rs->total;
	s->rs_done = rs->done < rs->total ? rs->done : rs->total;
	el = now_ms() - rs->t0_ms;
	s->rs_rate = el ? s->rs_done * 1000 / el : 0;
	s->rs_eta_ms = s->rs_rate ? (s->rs_total - s->rs_done) * 1000 / s->rs_rate : 0;
}

static void rs_finished_event(struct repl_peer *p, const char *role, const char *what)
{
	struct repl_rs *rs = &p->rs;
	uint64_t el = now_ms() - rs->t0_ms;

	wbd_event(p->rp->res, "resync", NULL, NULL,
		  "resync %s%s %s: %s, %llu of %llu bytes in %llu ms", role,
		  !strcmp(role, "to") ? " peer" : "", p->node, what, (unsigned long long)rs->done,
		  (unsigned long long)rs->total, (unsigned long long)el);
}

/* ---- marker UUID: this node's data is Inconsistent ---- */

#define RS_MARK0 0x52 /* 'R' */
#define RS_MARK1 0x53 /* 'S' */

bool wbd_repl_rs_marked(const uint8_t *u)
{
	return u[6] == RS_MARK0 && u[7] == RS_MARK1;
}

/* ==== source (primary) ==== */

struct rs_reqent {
	uint64_t id, lba;
	uint32_t nblocks, crc;
	bool has_crc;
};

struct rs_read {
	struct wb_req wr;
	struct rs_read *next; /* the peer's reads in flight */
	struct repl_peer *p;
	uint64_t epoch, s0;
	struct rs_reqent q;
	bool stale;
	void *buf;
};

#define RS_QMAX (2 * RS_INFLIGHT)
struct repl_rs_src {
	struct rs_reqent q[RS_QMAX];
	unsigned qh, qn;
	unsigned reads;
	struct rs_read *rd; /* reads in flight of the current connection */
};

/* Called by the primary's hello check: does the peer need a resync, and
 * which? 0, or -EPROTO with *why (refused). */
int wbd_repl_rs_decide(struct repl_peer *p, const Wbrep__Hello *h, const char **why)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs *rs = &p->rs;
	struct wb_engine_stats st;
	struct wb_bm_info bi = {0};
	uint64_t head = h->has_seq_head ? h->seq_head : 0;
	bool incons = h->has_inconsistent && h->inconsistent;
	bool discard = h->has_discard_my_data && h->discard_my_data;
	bool in_log, fresh = false, marked = false, logrel = false;

	rs->want = rs->full = rs->rebase = false;
	if (wb_engine_stats(rp->e, &st))
		return 0;
	in_log = head >= st.seq_tail && head <= rp->shipped_next;
	/* a new log (no history, never written) meeting a primary that wrote:
	 * its device holds anything: a full sync (two new logs are the same
	 * data: the devices are taken as identical, like --skip-initial-sync) */
	if (rp->has_meta && h->has_data_uuid && !h->n_uuid_history && head <= 1 &&
	    (rp->meta.nhistory || rp->shipped_next > 1) &&
	    memcmp(h->data_uuid.data, rp->meta.data_uuid, WB_META_UUID_LEN))
		fresh = true;
	/* bits set while the peer was not tracking: an online verify found
	 * those blocks different (repl_verify.c); they are resynced at the
	 * next connect, after the catch-up */
	if (rp->bm_region && !wb_engine_bm_info(rp->e, p->idx, &bi) && bi.dirty && !bi.tracking)
		marked = true;
	/* an old primary whose records past the common point only end
	 * generations: the same data, its log restarts at this one's head */
	logrel = p->rel == REPL_REL_PEER_BEHIND_LOG;
	if (!incons && !discard && !fresh && !marked && !logrel && in_log)
		return 0; /* catch-up from the log */
	if (!incons && !discard && !fresh && !logrel && head > rp->shipped_next) {
		*why =
		    "the peer's log is ahead of this primary's (an old primary, or split brain): "
		    "refused; `wbctl connect RES --discard-my-data` on the peer resyncs it";
		return -EPROTO;
	}
	if (!rp->bm_region || p->idx >= (wb_engine_bm_info(rp->e, 0, &bi) ? 0 : bi.npeers)) {
		*why = "the peer needs a resync, but this primary's log has no dirty bitmap for it "
		       "(format the log with bitmaps: wbrepd --create-md)";
		return -EPROTO;
	}
	wb_engine_bm_info(rp->e, p->idx, &bi);
	rs->want = true;
	rs->full = discard || fresh || (!bi.tracking && (!in_log || incons || logrel));
	rs->rebase = discard || logrel || !in_log;
	wbd_info("%s: peer %s needs a %s (%s, its seq %llu, this log %llu..%llu)%s", rp->res,
		 p->node, rs->full ? "full sync" : "bitmap resync",
		 discard	    ? "it discards its data"
		 : incons	    ? "its disk is Inconsistent"
		 : fresh	    ? "its log is new"
		 : logrel	    ? "its records past the common point only end generations"
		 : marked && in_log ? "a verify marked blocks"
				    : "its position is no longer in the log",
		 (unsigned long long)head, (unsigned long long)st.seq_tail,
		 (unsigned long long)rp->shipped_next - 1,
		 rs->rebase ? "; its log restarts at this one's head" : "");
	return 0;
}

static void src_free(struct repl_peer *p)
{
	struct repl_rs_src *s = p->rs.src;

	if (!s)
		return;
	/* reads in flight find their epoch changed and free themselves */
	for (struct rs_read *r = s->rd; r; r = r->next)
		r->stale = true;
	free(s);
	p->rs.src = NULL;
}

/* The link came up and the hello decided a resync: send the bitmap. */
void wbd_repl_rs_source_up(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs *rs = &p->rs;
	struct wb_engine_stats st;
	struct wb_bm_info bi;
	uint8_t *bits;
	uint64_t nbytes, off, dirty;
	int ret;

	rs->want = false;
	if (wb_engine_stats(rp->e, &st) || wb_engine_bm_info(rp->e, p->idx, &bi))
		return;
	if (rs->full) {
		ret = wb_engine_bm_mark(rp->e, p->idx, 0, st.size);
		if (ret) {
			wbd_peerlink_drop(p->l, ret, "cannot mark the bitmap for a full sync");
			return;
		}
	}
	if (rs->rebase) {
		p->next = rp->shipped_next;
		p->acked_mem = p->acked_dur = p->next;
		wbd_repl_log_hold(p, p->next);
	}
	/* tracking (durably) until the target finished: a crash or a drop
	 * keeps what is left and what is written meanwhile */
	wbd_repl_bm_track(p, p->next);
	wb_engine_bm_info(rp->e, p->idx, &bi);
	nbytes = (bi.nbits + 7) / 8;
	bits = calloc(1, nbytes ? nbytes : 1);
	rs->src = calloc(1, sizeof(*rs->src));
	if (!bits || !rs->src) {
		free(bits);
		free(rs->src);
		rs->src = NULL;
		wbd_peerlink_drop(p->l, -ENOMEM, "out of memory");
		return;
	}
	for (off = 0; !wb_engine_bm_next(rp->e, p->idx, off, &off); off += bi.region_size) {
		uint64_t b = off / bi.region_size;

		bits[b / 8] |= (uint8_t)(1u << (b % 8));
	}
	dirty = popcount(bits, bi.nbits);
	for (uint64_t first = 0; first < bi.nbits;) {
		Wbrep__BitmapChunk c = WBREP__BITMAP_CHUNK__INIT;
		uint64_t n = bi.nbits - first;
		struct wbd_payload pl = {0};
		void *copy;

		if (n > (uint64_t)RS_CHUNK_BYTES * 8)
			n = (uint64_t)RS_CHUNK_BYTES * 8;
		c.region_bytes = bi.region_size;
		c.total_regions = bi.nbits;
		c.first_region = first;
		c.nregions = (uint32_t)n;
		c.has_last = 1;
		c.last = first + n == bi.nbits;
		c.has_seq = 1;
		c.seq = p->next;
		c.has_full = 1;
		c.full = rs->full;
		if (rs->rebase) {
			c.has_rebase_gen = 1;
			c.rebase_gen = st.gen_head;
		}
		pl.len = (n + 7) / 8;
		copy = malloc(pl.len);
		if (!copy) {
			ret = -ENOMEM;
			break;
		}
		memcpy(copy, bits + first / 8, pl.len);
		pl.data = copy;
		pl.put = free_cb;
		pl.cookie = copy;
		ret = wbd_peerlink_send(p->l, WBP_T_BITMAP, &c.base, &pl);
		if (ret) {
			free(copy);
			break;
		}
		first += n;
	}
	free(bits);
	if (ret) {
		src_free(p);
		wbd_peerlink_drop(p->l, ret, "sending the bitmap failed");
		return;
	}
	rs->state = REPL_RS_SOURCE;
	rs->total = dirty * bi.region_size;
	if (rs->total > st.size)
		rs->total = st.size;
	rs->done = 0;
	rs->t0_ms = now_ms();
	wbd_event(rp->res, "resync", NULL, NULL,
		  "resync to peer %s started: %s, %llu bytes (%llu regions of %u), records from "
		  "seq %llu",
		  p->node, rs->full ? "full sync" : "bitmap", (unsigned long long)rs->total,
		  (unsigned long long)dirty, bi.region_size, (unsigned long long)p->next);
	wbd_repl_peers_check(rp, false);
}

/* A record goes to p: reads of p in flight that overlap it are stale. */
void wbd_repl_rs_sent(struct repl_peer *p, const struct wb_record *rec)
{
	struct repl_rs_src *s = p->rs.src;

	if (!s)
		return;
	for (struct rs_read *r = s->rd; r; r = r->next) {
		if (r->stale)
			continue;
		for (uint32_t i = 0; i < rec->nextents; i++)
			if (rec->ext[i].lba < r->q.lba + r->q.nblocks &&
			    r->q.lba < rec->ext[i].lba + rec->ext[i].nblocks) {
				r->stale = true;
				break;
			}
	}
}

static void q_push_front(struct repl_rs_src *s, const struct rs_reqent *q)
{
	s->qh = (s->qh + RS_QMAX - 1) % RS_QMAX;
	s->q[s->qh] = *q;
	s->qn++;
}

static void rd_unlink(struct repl_rs_src *s, struct rs_read *r)
{
	for (struct rs_read **pp = &s->rd; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

static int send_rsdata(struct repl_peer *p, const struct rs_reqent *q, int code, bool same,
		       void *buf, uint32_t crc)
{
	Wbrep__ResyncData d = WBREP__RESYNC_DATA__INIT;
	struct wbd_payload pl = {0};
	int ret;

	d.id = q->id;
	d.lba = q->lba;
	d.nblocks = q->nblocks;
	d.has_crc = 1;
	d.crc = crc;
	if (code) {
		d.has_code = 1;
		d.code = code;
	} else if (same) {
		d.has_same = 1;
		d.same = 1;
	} else {
		pl.data = buf;
		pl.len = (size_t)q->nblocks * WBP_BLOCK_SIZE;
		pl.put = io_free_cb;
		pl.cookie = buf;
	}
	ret = wbd_peerlink_send(p->l, WBP_T_RESYNC_DATA, &d.base, pl.data ? &pl : NULL);
	if (ret && buf)
		wb_io_free(buf);
	if (ret && ret != -ENOTCONN && ret != -EAGAIN)
		wbd_peerlink_drop(p->l, ret, "sending resync data failed");
	return ret;
}

static void rd_done(struct wb_req *wr, int err)
{
	struct rs_read *r = wr->priv;
	struct repl_peer *p = r->p;
	struct wbd_repl *rp = p->rp;
	struct repl_rs_src *s = p->rs.src;
	uint32_t crc;
	int ret = 0;

	rp->applying--;
	if (r->epoch != p->epoch || !s || p->rs.state != REPL_RS_SOURCE) {
		wb_io_free(r->buf);
		free(r);
		return;
	}
	rd_unlink(s, r);
	s->reads--;
	if (err) {
		wbd_err("%s: peer %s: resync read of blocks %llu+%u: %s", rp->res, p->node,
			(unsigned long long)r->q.lba, r->q.nblocks, strerror(-err));
		wb_io_free(r->buf);
		ret = send_rsdata(p, &r->q, -err, false, NULL, 0);
	} else if (r->stale || !p->live || p->next < r->s0) {
		/* a record of the range went out meanwhile, or records older
		 * than the read are still to be sent: read again later */
		wb_io_free(r->buf);
		q_push_front(s, &r->q);
	} else {
		crc = wb_crc32c(0, r->buf, (size_t)r->q.nblocks * WBP_BLOCK_SIZE);
		if (r->q.has_crc && r->q.crc == crc) {
			wb_io_free(r->buf);
			ret = send_rsdata(p, &r->q, 0, true, NULL, crc);
		} else {
			ret = send_rsdata(p, &r->q, 0, false, r->buf, crc);
		}
		if (!ret)
			p->rs.done += (uint64_t)r->q.nblocks * WBP_BLOCK_SIZE;
	}
	if (ret == -EAGAIN) {
		/* the send queue is full: read it again once it drained */
		q_push_front(s, &r->q);
		p->blocked = true;
	}
	free(r);
	work_kick(rp);
}

/* From the work event: submit the queued requests' reads while the peer
 * is live (records flow as they are placed, see the ordering above). */
void wbd_repl_rs_source_work(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_src *s = p->rs.src;

	if (!s || p->rs.state != REPL_RS_SOURCE || !p->up)
		return;
	while (s->qn && s->reads < RS_INFLIGHT && p->live && !p->blocked) {
		struct rs_read *r = calloc(1, sizeof(*r));
		int ret;

		if (r)
			r->buf = wb_io_alloc((size_t)s->q[s->qh].nblocks * WBP_BLOCK_SIZE);
		if (!r || !r->buf) {
			free(r);
			wbd_peerlink_drop(p->l, -ENOMEM, "out of memory for resync reads");
			return;
		}
		r->q = s->q[s->qh];
		s->qh = (s->qh + 1) % RS_QMAX;
		s->qn--;
		r->p = p;
		r->epoch = p->epoch;
		r->s0 = rp->shipped_next;
		ret = wbd_repl_read_blocks(rp, &r->wr, r->q.lba, r->q.nblocks, r->buf, rd_done, r);
		if (ret) {
			wb_io_free(r->buf);
			ret = send_rsdata(p, &r->q, -ret, false, NULL, 0);
			if (ret == -EAGAIN) {
				q_push_front(s, &r->q);
				p->blocked = true;
			}
			free(r);
			continue;
		}
		r->next = s->rd;
		s->rd = r;
		s->reads++;
		rp->applying++; /* wbd_repl_free waits for it */
	}
}

static void on_rsreq(struct repl_peer *p, const Wbrep__ResyncRequest *m)
{
	struct repl_rs_src *s = p->rs.src;
	struct rs_reqent q = {.id = m->id,
			      .lba = m->lba,
			      .nblocks = m->nblocks,
			      .crc = m->crc,
			      .has_crc = m->has_crc};

	if (!s || p->rs.state != REPL_RS_SOURCE) {
		wbd_peerlink_drop(p->l, -EPROTO, "resync request without a resync");
		return;
	}
	if (s->qn + s->reads >= RS_QMAX) {
		wbd_peerlink_drop(p->l, -EPROTO, "too many resync requests in flight");
		return;
	}
	s->q[(s->qh + s->qn) % RS_QMAX] = q;
	s->qn++;
	work_kick(p->rp);
}

static void on_rsdone(struct repl_peer *p, const Wbrep__ResyncDone *m)
{
	struct wbd_repl *rp = p->rp;

	if (p->rs.state != REPL_RS_SOURCE) {
		wbd_peerlink_drop(p->l, -EPROTO, "resync-done without a resync");
		return;
	}
	p->rs.done = p->rs.total;
	rs_finished_event(p, "to", "finished");
	wbd_info("%s: peer %s: %llu regions resynced, %llu bytes written, %llu bytes were "
		 "identical",
		 rp->res, p->node, (unsigned long long)m->regions, (unsigned long long)m->bytes,
		 (unsigned long long)m->same);
	src_free(p);
	p->rs.state = REPL_RS_NONE;
	/* the bitmap goes once every record sent so far is durable there */
	p->clear_at = rp->shipped_next;
	wbd_repl_bm_ack(p);
	wbd_repl_peers_check(rp, false);
	work_kick(rp);
}

/* ==== target (secondary) ==== */

struct rs_treq {
	bool used;
	uint64_t id, lba;
	uint32_t nblocks;
};

struct repl_rs_tgt {
	uint8_t *bits; /* the source's bitmap; a region's bit is cleared when asked */
	uint64_t nregions, got;
	uint32_t region;
	uint64_t seq, gen;
	bool rebase, full, marked, ready, finishing;
	int saved_mode;
	uint64_t cursor, next_id;
	unsigned inflight; /* requests whose answer is not written yet */
	struct rs_treq req[RS_INFLIGHT];
	uint64_t regions, bytes, same;
	/* resync-rate */
	uint64_t tokens, tok_ms;
	struct event *timer;
};

/* contexts of I/O that may outlive the target state (link drop) */
struct rs_tio {
	struct wb_io_req io;
	struct wb_req wr;
	struct repl_peer *p;
	uint64_t epoch;
	struct rs_treq q;
	void *buf;
};

static void tgt_pump(struct repl_peer *p);

static void tgt_free(struct repl_peer *p)
{
	struct repl_rs_tgt *t = p->rs.tgt;

	if (!t)
		return;
	if (t->timer)
		event_free(t->timer);
	if (!t->ready && t->saved_mode >= 0)
		wb_engine_set_mode(p->rp->e, (enum wb_mode)t->saved_mode);
	free(t->bits);
	free(t);
	p->rs.tgt = NULL;
}

static void tgt_fail(struct repl_peer *p, int err, const char *why)
{
	wbd_err("%s: resync from %s: %s", p->rp->res, p->node, why);
	wbd_peerlink_drop(p->l, err, why);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static void tgt_arm(struct repl_peer *p, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (p->rs.tgt->timer && !evtimer_pending(p->rs.tgt->timer, NULL))
		evtimer_add(p->rs.tgt->timer, &tv);
}

/* Rebase when the log is empty (everything destaged), then ask. */
static void tgt_rebase(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;
	struct wb_engine_stats st;
	int ret;

	if (t->rebase) {
		if (wb_engine_stats(rp->e, &st))
			return;
		if (st.dirty_bytes || st.seq_tail != st.seq_head) {
			tgt_arm(p, 20);
			return;
		}
		ret = wb_engine_rebase(rp->e, t->seq, t->gen);
		if (ret == -EBUSY) {
			tgt_arm(p, 20);
			return;
		}
		if (ret) {
			tgt_fail(p, ret, "the log could not be rebased to the source's seq");
			return;
		}
		rp->data_head = t->seq;
		wbd_info("%s: resync from %s: log restarts at seq %llu, generation %llu", rp->res,
			 p->node, (unsigned long long)t->seq, (unsigned long long)t->gen);
	}
	if (t->saved_mode >= 0)
		wb_engine_set_mode(rp->e, (enum wb_mode)t->saved_mode);
	t->saved_mode = -1;
	if (rp->sync_target < t->seq)
		rp->sync_target = t->seq;
	t->ready = true;
	t->tok_ms = now_ms();
	wbd_peerlink_pause_rx(p->l, false);
	tgt_pump(p);
}

/* The marker UUID is durable: nothing was changed before it. */
static void tgt_marked(struct wbd_repl *rp, int err)
{
	struct repl_peer *p = rp->rs_peer;

	if (!p || !p->rs.tgt || p->rs.state != REPL_RS_TARGET)
		return;
	if (err) {
		tgt_fail(p, err, "cannot mark this node's data Inconsistent");
		return;
	}
	p->rs.tgt->marked = true;
	if (p->rs.tgt->rebase) {
		struct wb_engine_stats st;

		/* the log must empty: no hold keeps records, destage runs */
		for (unsigned i = 0; i < rp->npeers; i++) {
			wb_engine_set_peer_pos(rp->e, i, 0);
			rp->peers[i].hold = 0;
		}
		if (!wb_engine_stats(rp->e, &st)) {
			p->rs.tgt->saved_mode = (int)st.mode;
			wb_engine_set_mode(rp->e, WB_MODE_WRITETHROUGH);
		}
	}
	tgt_rebase(p);
}

static int tgt_mark(struct wbd_repl *rp)
{
	struct wb_meta m = rp->meta;

	if (!rp->has_meta || wbd_repl_rs_marked(rp->meta.data_uuid)) {
		tgt_marked(rp, 0);
		return 0;
	}
	if (getrandom(m.data_uuid, 6, 0) != 6)
		return -EIO;
	m.data_uuid[6] = RS_MARK0;
	m.data_uuid[7] = RS_MARK1;
	memset(m.data_uuid + 8, 0, 8);
	return wbd_repl_uuid_set(rp, &m, tgt_marked);
}

static void tgt_try_mark(struct repl_peer *p)
{
	int ret = tgt_mark(p->rp);

	if (ret == -EBUSY) /* another UUID update runs: again shortly */
		tgt_arm(p, 20);
	else if (ret)
		tgt_fail(p, ret, "cannot mark this node's data Inconsistent");
}

static void on_bitmap(struct repl_peer *p, const Wbrep__BitmapChunk *m, const void *data)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs *rs = &p->rs;
	struct repl_rs_tgt *t = rs->tgt;
	if (rp->primary || !p->primary_peer || (m->first_region % 8) ||
	    (t && (t->ready || m->first_region != t->got || m->total_regions != t->nregions))) {
		wbd_peerlink_drop(p->l, -EPROTO, "unexpected bitmap chunk");
		return;
	}
	if (!t) {
		if (m->first_region) {
			wbd_peerlink_drop(p->l, -EPROTO, "bitmap does not start at region 0");
			return;
		}
		t = calloc(1, sizeof(*t));
		if (t)
			t->bits = calloc(1, (m->total_regions + 7) / 8);
		if (t)
			t->timer = evtimer_new(rp->base, timer_cb, p);
		if (!t || !t->bits || !t->timer) {
			if (t) {
				free(t->bits);
				if (t->timer)
					event_free(t->timer);
			}
			free(t);
			wbd_peerlink_drop(p->l, -ENOMEM, "out of memory for the bitmap");
			return;
		}
		t->nregions = m->total_regions;
		t->region = m->region_bytes;
		t->seq = m->seq;
		t->gen = m->has_rebase_gen ? m->rebase_gen : 0;
		t->rebase = m->has_rebase_gen;
		t->full = m->has_full && m->full;
		t->saved_mode = -1;
		rs->tgt = t;
	}
	memcpy(t->bits + m->first_region / 8, data, (m->nregions + 7) / 8);
	t->got += m->nregions;
	if (!m->has_last || !m->last)
		return;
	if (t->got != t->nregions) {
		wbd_peerlink_drop(p->l, -EPROTO, "bitmap ends before its last region");
		return;
	}
	/* bits past the device in the last byte are not regions */
	for (uint64_t b = t->nregions; b < (t->nregions + 7) / 8 * 8; b++)
		t->bits[b / 8] &= (uint8_t) ~(1u << (b % 8));
	rs->state = REPL_RS_TARGET;
	rs->total = popcount(t->bits, t->nregions) * t->region;
	{
		struct wb_engine_stats st;

		if (!wb_engine_stats(rp->e, &st) && rs->total > st.size)
			rs->total = st.size;
	}
	rs->done = 0;
	rs->t0_ms = now_ms();
	rp->rs_peer = p;
	rp->disk = REPL_DISK_INCONSISTENT;
	wbd_event(rp->res, "resync", NULL, NULL,
		  "resync from %s started: %s, %llu bytes, records from seq %llu%s%s", p->node,
		  t->full ? "full sync" : "bitmap", (unsigned long long)rs->total,
		  (unsigned long long)t->seq, t->rebase ? " (log restarts there)" : "",
		  rp->rs_checksum ? ", checksums" : "");
	/* nothing more (records) until the marker is durable and the log
	 * is where the source's records continue */
	wbd_peerlink_pause_rx(p->l, true);
	tgt_try_mark(p);
}

static void tgt_send_req(struct repl_peer *p, struct rs_treq *q, bool has_crc, uint32_t crc)
{
	Wbrep__ResyncRequest r = WBREP__RESYNC_REQUEST__INIT;
	int ret;

	r.id = q->id;
	r.lba = q->lba;
	r.nblocks = q->nblocks;
	r.has_crc = has_crc;
	r.crc = crc;
	ret = wbd_peerlink_send(p->l, WBP_T_RESYNC_REQ, &r.base, NULL);
	if (ret && ret != -ENOTCONN)
		tgt_fail(p, ret, "sending a resync request failed");
}

/* resync-checksum: this node's crc of the range, then the request */
static void crc_done(struct wb_req *wr, int err)
{
	struct rs_tio *io = wr->priv;
	struct repl_peer *p = io->p;
	struct repl_rs_tgt *t = p->rs.tgt;

	p->rp->applying--;
	if (io->epoch == p->epoch && t) {
		uint32_t crc = wb_crc32c(0, io->buf, (size_t)io->q.nblocks * WBP_BLOCK_SIZE);

		for (unsigned i = 0; i < RS_INFLIGHT; i++)
			if (t->req[i].used && t->req[i].id == io->q.id)
				tgt_send_req(p, &t->req[i], !err, crc);
	}
	wb_io_free(io->buf);
	free(io);
}

static void tgt_finish(struct repl_peer *p);

static void tgt_pump(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;
	const struct wbp_limits *lim = wbd_peerlink_limits(p->l);
	uint64_t maxb = lim && lim->max_data < RS_REQ_MAX ? lim->max_data : RS_REQ_MAX;
	uint64_t dev = lim ? lim->dev_blocks : 0;

	if (!t || !t->ready || t->finishing)
		return;
	while (t->inflight < RS_INFLIGHT) {
		uint64_t per = t->region / WBP_BLOCK_SIZE, b = t->cursor / per, lba, nb, end;
		struct rs_treq *q = NULL;

		/* cursor: the next block to look at; regions before it are asked for */
		while (b < t->nregions && !bit_get(t->bits, b))
			b = !(b % 8) && !t->bits[b / 8] ? b + 8 : b + 1;
		if (b >= t->nregions || b * per >= dev) {
			t->cursor = t->nregions * per;
			break;
		}
		lba = t->cursor > b * per ? t->cursor : b * per;
		/* up to one request along the run of dirty regions */
		end = lba + maxb / WBP_BLOCK_SIZE;
		for (uint64_t k = b; k < t->nregions && bit_get(t->bits, k); k++)
			if ((k + 1) * per >= end || (k + 1) * per >= dev) {
				break;
			} else if (k + 1 >= t->nregions || !bit_get(t->bits, k + 1)) {
				end = (k + 1) * per;
				break;
			}
		if (end > dev)
			end = dev;
		nb = end - lba;
		if (rp->rs_rate) {
			uint64_t now = now_ms(), cap = maxb > rp->rs_rate ? maxb : rp->rs_rate;

			t->tokens += (now - t->tok_ms) * rp->rs_rate / 1000;
			t->tok_ms = now;
			if (t->tokens > cap)
				t->tokens = cap;
			if (t->tokens < nb * WBP_BLOCK_SIZE) {
				uint64_t need = nb * WBP_BLOCK_SIZE - t->tokens;

				tgt_arm(p, (unsigned)(need * 1000 / rp->rs_rate + 1));
				return;
			}
			t->tokens -= nb * WBP_BLOCK_SIZE;
		}
		for (unsigned i = 0; i < RS_INFLIGHT; i++)
			if (!t->req[i].used) {
				q = &t->req[i];
				break;
			}
		/* regions wholly asked for are done in the copy */
		for (uint64_t k = b; k < t->nregions && (k + 1) * per <= end; k++) {
			t->bits[k / 8] &= (uint8_t) ~(1u << (k % 8));
			t->regions++;
		}
		if (end >= dev)
			for (uint64_t k = b; k < t->nregions; k++)
				t->bits[k / 8] &= (uint8_t) ~(1u << (k % 8));
		t->cursor = end;
		*q = (struct rs_treq){
		    .used = true, .id = ++t->next_id, .lba = lba, .nblocks = (uint32_t)nb};
		t->inflight++;
		if (rp->rs_checksum) {
			struct rs_tio *io = calloc(1, sizeof(*io));

			if (io)
				io->buf = wb_io_alloc(nb * WBP_BLOCK_SIZE);
			if (!io || !io->buf) {
				free(io);
				tgt_fail(p, -ENOMEM, "out of memory for checksums");
				return;
			}
			io->p = p;
			io->epoch = p->epoch;
			io->q = *q;
			if (wbd_repl_read_blocks(rp, &io->wr, lba, (uint32_t)nb, io->buf, crc_done,
						 io)) {
				wb_io_free(io->buf);
				free(io);
				tgt_send_req(p, q, false, 0);
			} else {
				rp->applying++;
			}
		} else {
			tgt_send_req(p, q, false, 0);
		}
	}
	if (t->cursor >= t->nregions * (t->region / WBP_BLOCK_SIZE) && !t->inflight &&
	    !rp->rs_writes)
		tgt_finish(p);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct repl_peer *p = arg;

	if (!p->rs.tgt || p->rs.state != REPL_RS_TARGET)
		return;
	if (!p->rs.tgt->marked)
		tgt_try_mark(p);
	else if (!p->rs.tgt->ready)
		tgt_rebase(p);
	else
		tgt_pump(p);
}

static void wr_done(struct wb_io_req *io_req, int res)
{
	struct rs_tio *io = io_req->priv;
	struct repl_peer *p = io->p;
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;

	rp->applying--;
	rp->rs_writes--;
	wb_io_free(io->buf);
	if (io->epoch == p->epoch && t) {
		if (res < 0) {
			tgt_fail(p, res, "writing resync data to the backing device failed");
		} else {
			t->inflight--;
			t->bytes += (uint64_t)io->q.nblocks * WBP_BLOCK_SIZE;
			p->rs.done += (uint64_t)io->q.nblocks * WBP_BLOCK_SIZE;
			tgt_pump(p);
		}
	}
	free(io);
	/* a record waiting for resync writes: wbd_repl_after_run applies it */
}

static void on_rsdata(struct repl_peer *p, const Wbrep__ResyncData *m, void *data)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;
	struct rs_treq *q = NULL;
	struct rs_tio *io;
	int ret;

	for (unsigned i = 0; t && t->ready && i < RS_INFLIGHT; i++)
		if (t->req[i].used && t->req[i].id == m->id)
			q = &t->req[i];
	if (!q || q->lba != m->lba || q->nblocks != m->nblocks) {
		wbd_peerlink_drop(p->l, -EPROTO, "resync data that was not asked for");
		return;
	}
	q->used = false;
	if (m->has_code && m->code) {
		tgt_fail(p, -m->code, "the source could not read a range");
		return;
	}
	if (m->has_same && m->same) {
		t->inflight--;
		t->same += (uint64_t)m->nblocks * WBP_BLOCK_SIZE;
		p->rs.done += (uint64_t)m->nblocks * WBP_BLOCK_SIZE;
		tgt_pump(p);
		return;
	}
	io = calloc(1, sizeof(*io));
	if (!io || data != rp->rs_rxbuf) {
		free(io);
		tgt_fail(p, -ENOMEM, "out of memory for resync data");
		return;
	}
	rp->rs_rxbuf = NULL; /* the write owns it */
	io->p = p;
	io->epoch = p->epoch;
	io->q = *q;
	io->buf = data;
	io->io.op = WB_IO_WRITE;
	io->io.off = m->lba * WBP_BLOCK_SIZE;
	io->io.len = m->nblocks * WBP_BLOCK_SIZE;
	io->io.buf = data;
	io->io.done = wr_done;
	io->io.priv = io;
	ret = wb_io_submit(rp->backing, &io->io);
	if (ret) {
		wb_io_free(data);
		free(io);
		tgt_fail(p, ret, "cannot write resync data to the backing device");
		return;
	}
	rp->applying++;
	rp->rs_writes++;
}

/* An aligned buffer for resync data (written to the backing device
 * directly); kept in rp until the frame callback takes it. */
void *wbd_repl_rs_rx_buf(struct wbd_repl *rp, uint32_t len)
{
	wb_io_free(rp->rs_rxbuf);
	rp->rs_rxbuf = wb_io_alloc(len);
	return rp->rs_rxbuf;
}

static void done_adopted(struct wbd_repl *rp, int err)
{
	struct repl_peer *p = rp->rs_peer;
	Wbrep__ResyncDone d = WBREP__RESYNC_DONE__INIT;
	struct repl_rs_tgt *t;

	if (!p || !(t = p->rs.tgt) || p->rs.state != REPL_RS_TARGET)
		return;
	if (err) {
		tgt_fail(p, err, "cannot take the source's data UUIDs");
		return;
	}
	d.regions = t->regions;
	d.has_bytes = d.has_same = 1;
	d.bytes = t->bytes;
	d.same = t->same;
	p->rs.done = p->rs.total;
	rs_finished_event(p, "from", "finished");
	tgt_free(p);
	p->rs.state = REPL_RS_NONE;
	rp->rs_peer = NULL;
	rp->discard = false;
	rp->disk = REPL_DISK_OUTDATED;
	wbd_repl_disk_check(rp);
	if (wbd_peerlink_send(p->l, WBP_T_RESYNC_DONE, &d.base, NULL))
		wbd_peerlink_drop(p->l, -EIO, "cannot send resync-done");
}

static void flush_done(struct wb_io_req *io_req, int res)
{
	struct rs_tio *io = io_req->priv;
	struct repl_peer *p = io->p;
	struct wbd_repl *rp = p->rp;
	int ret;

	rp->applying--;
	if (io->epoch == p->epoch && p->rs.tgt) {
		if (res < 0) {
			tgt_fail(p, res, "flushing the backing device failed");
		} else {
			/* the source's UUIDs: this node now holds its data */
			ret = wbd_repl_uuid_take(p, done_adopted);
			if (ret == -EOPNOTSUPP)
				done_adopted(rp, 0);
			else if (ret)
				tgt_fail(p, ret, "cannot take the source's data UUIDs");
		}
	}
	free(io);
}

static void tgt_finish(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct rs_tio *io = calloc(1, sizeof(*io));
	int ret;

	p->rs.tgt->finishing = true;
	if (!io) {
		tgt_fail(p, -ENOMEM, "out of memory");
		return;
	}
	io->p = p;
	io->epoch = p->epoch;
	io->io.op = WB_IO_FLUSH;
	io->io.done = flush_done;
	io->io.priv = io;
	ret = wb_io_submit(rp->backing, &io->io);
	if (ret) {
		free(io);
		tgt_fail(p, ret, "cannot flush the backing device");
		return;
	}
	rp->applying++;
}

/* ==== both ==== */

bool wbd_repl_rs_frame(struct repl_peer *p, const struct wbp_msg *m, void *data)
{
	switch (m->type) {
	case WBP_T_BITMAP:
		on_bitmap(p, m->bitmap, data);
		return true;
	case WBP_T_RESYNC_REQ:
		on_rsreq(p, m->rsreq);
		return true;
	case WBP_T_RESYNC_DATA:
		on_rsdata(p, m->rsdata, data);
		return true;
	case WBP_T_RESYNC_DONE:
		on_rsdone(p, m->rsdone);
		return true;
	default:
		return false;
	}
}

/* The link went down (or came up again): the resync state of the old
 * connection goes; what is left is in the source's bitmap, and a target
 * stays Inconsistent. */
void wbd_repl_rs_reset(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;

	if (p->rs.state == REPL_RS_SOURCE)
		rs_finished_event(p, "to", "interrupted");
	else if (p->rs.state == REPL_RS_TARGET)
		rs_finished_event(p, "from", "interrupted");
	src_free(p);
	if (p->rs.tgt && !p->rs.tgt->ready)
		wbd_peerlink_pause_rx(p->l, false);
	tgt_free(p);
	p->rs.state = REPL_RS_NONE;
	if (rp->rs_peer == p)
		rp->rs_peer = NULL;
}

void wbd_repl_set_resync(struct wbd_repl *rp, uint64_t rate, bool checksum)
{
	if (!rp)
		return;
	rp->rs_rate = rate;
	rp->rs_checksum = checksum;
}
