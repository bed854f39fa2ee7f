// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl_verify.c - online verify of a replicated resource (`wbctl verify`,
 * docs/replication.md "Online verify"): the primary compares the logical
 * device, range by range, with every connected secondary; blocks found to
 * differ are counted, logged and marked in that peer's dirty bitmap (the
 * engine's wb_engine_bm_mark) so a resync rewrites them.
 *
 * Primary, per range of VF_BLOCKS blocks (at most VF_INFLIGHT at a time,
 * paced to `verify-rate` bytes/s): read the range through the engine (log
 * and backing, like any read) and take a crc32c per block; then send a
 * VerifyRequest to each target peer once it is live (every shipped record
 * is queued to it before the request); the peer answers with its per-block
 * crcs; blocks whose crcs differ are out of sync.
 *
 * Writes go on meanwhile. The comparison of a range is valid when no record
 * touching it was shipped between the primary's read submission and the
 * last reply (the window): the primary's engine makes a record readable
 * (extent map) and ships it in the same step, so its read sees the records
 * shipped before the window and possibly some shipped inside it; the peer
 * reads only after every record sent before the request is durable in its
 * log (placed, so readable), and whatever else it holds was shipped inside
 * the window. So with no overlapping record in the window both sides read
 * the same records for that range, and a difference is real. A range that
 * was written in its window is tried again (VF_TRIES times, then counted as
 * skipped: the blocks were rewritten and shipped anyway).
 *
 * Secondary: a VerifyRequest waits until the records applied before it
 * are durable (durable_next >= the applied seq at arrival), then the range
 * is read through the engine and the crcs are sent back. At most
 * VF_SEC_MAX requests are kept; more are answered with EBUSY.
 *
 * Ownership: struct repl_verify hangs off struct wbd_repl (rp->vf), made
 * at the first use, freed by wbd_repl_verify_free() after every read it
 * submitted completed (they point into it). Threads: the resource's event
 * base (= the engine thread), like the rest of the glue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/events.h"
#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"
#include "engine/clock.h"
#include "engine/wbengine.h"
#include "proto/peerproto.h"

#define VF_BLOCKS   64 /* blocks per range (256 KiB) */
#define VF_INFLIGHT 4  /* ranges in flight on the primary */
#define VF_TRIES    8  /* a range written during each try is skipped */
#define VF_SEC_MAX  8  /* requests a secondary keeps (reads + waiting) */
#define VF_LOG_MAX  16 /* differing blocks logged one by one per peer and run */
#define VF_RETRY_MS 20 /* a send queue was full / a peer was not live */

_Static_assert(VF_BLOCKS <= 64, "one mismatch bit per block in a uint64_t");
_Static_assert(WB_ENGINE_MAX_PEERS <= 32, "peer masks are uint32_t");

enum vf_state { VF_NEVER = 0, VF_RUNNING, VF_DONE, VF_ABORTED };

struct repl_verify;

/* primary: one range being compared */
struct vf_range {
	struct repl_verify *v;
	bool used, reading, local_done, written;
	bool from_peer; /* the read here failed: a peer serves it (repl_peerread.c) */
	uint64_t id, lba;
	uint32_t n;
	unsigned tries;
	uint32_t want; /* peers whose reply is outstanding */
	uint32_t sent; /* peers asked */
	uint32_t crc[VF_BLOCKS];
	uint64_t mism[WB_ENGINE_MAX_PEERS]; /* bit i: block lba + i differs */
	uint32_t unread;		    /* peers that could not read the range */
	void *buf;
	struct wb_req req;
};

/* primary: one peer's part of the run */
struct vf_peer {
	bool on;	/* still compared in this run */
	char state[96]; /* "", running, done, aborted: why */
	uint64_t oos, skipped, compared;
	uint64_t unread; /* of oos: blocks it could not read (EIO), marked */
	unsigned logged; /* differing blocks logged so far */
};

/* secondary: one request of the primary; primary: a secondary's read */
struct vf_sreq {
	struct repl_verify *v;
	bool used, reading, ready;
	bool data; /* a read from this peer (repl_peerread.c): the blocks, not crcs */
	struct repl_peer *p;
	uint64_t epoch, id, lba, need;
	uint32_t n;
	int code;
	uint32_t *crcs;
	void *buf;
	struct wb_req req;
};

struct repl_verify {
	struct wbd_repl *rp;
	struct event *ev; /* pacing and retries */
	unsigned reads;	  /* engine reads in flight (both roles) */
	/* primary */
	enum vf_state state;
	uint64_t rate;			 /* bytes/s, 0 = unlimited */
	uint64_t total_blocks, next_lba; /* next range not yet issued */
	uint64_t done_bytes;		 /* ranges finished (compared or skipped) */
	uint64_t issued_bytes;		 /* reads issued, for the rate */
	uint64_t start_ns, end_ns, next_id;
	struct vf_range r[VF_INFLIGHT];
	struct vf_range *retry[VF_INFLIGHT]; /* written ranges to read again */
	struct vf_peer peer[WB_ENGINE_MAX_PEERS];
	/* secondary */
	uint64_t applied_next, durable_next;
	struct vf_sreq s[VF_SEC_MAX];
};

static void vf_timer_cb(evutil_socket_t fd, short what, void *arg);

static struct repl_verify *vf_get(struct wbd_repl *rp)
{
	struct repl_verify *v = rp->vf;

	if (v)
		return v;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->rp = rp;
	v->ev = evtimer_new(rp->base, vf_timer_cb, rp);
	if (!v->ev) {
		free(v);
		return NULL;
	}
	for (unsigned i = 0; i < VF_INFLIGHT; i++)
		v->r[i].v = v;
	for (unsigned i = 0; i < VF_SEC_MAX; i++)
		v->s[i].v = v;
	rp->vf = v;
	return v;
}

static void vf_later(struct repl_verify *v, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (long)(ms % 1000) * 1000};

	if (!evtimer_pending(v->ev, NULL))
		evtimer_add(v->ev, &tv);
}

static uint32_t block_crc(const void *buf, uint32_t i)
{
	return wb_crc32c(0, (const uint8_t *)buf + (size_t)i * WB_BLOCK_SIZE, WB_BLOCK_SIZE);
}

/* ---- primary ---- */

static void vf_pump(struct repl_verify *v);

static bool vf_peer_target(const struct repl_peer *p)
{
	return p->up && !p->primary_peer;
}

/* End p's part of the run (state "aborted: why" or "done"); logged and
 * an event either way. */
static void vf_peer_end(struct repl_verify *v, unsigned idx, const char *why)
{
	struct wbd_repl *rp = v->rp;
	struct vf_peer *vp = &v->peer[idx];
	char unread[64] = "";

	if (!vp->on)
		return;
	vp->on = false;
	for (unsigned i = 0; i < VF_INFLIGHT; i++) {
		v->r[i].want &= ~(1u << idx);
		v->r[i].sent &= ~(1u << idx);
	}
	if (why) {
		snprintf(vp->state, sizeof(vp->state), "aborted: %.80s", why);
		wbd_event(rp->res, "verify", NULL, NULL,
			  "verify of peer %s aborted after %llu bytes compared: %s; %llu bytes "
			  "(%llu blocks) out of sync so far",
			  rp->peers[idx].node, (unsigned long long)vp->compared, why,
			  (unsigned long long)vp->oos, (unsigned long long)vp->oos / WB_BLOCK_SIZE);
		return;
	}
	snprintf(vp->state, sizeof(vp->state), "done");
	if (vp->unread)
		snprintf(unread, sizeof(unread), " (%llu of them unreadable there)",
			 (unsigned long long)vp->unread);
	wbd_event(rp->res, "verify", NULL, NULL,
		  "verify of peer %s done: %llu blocks (%llu bytes) out of sync%s, %llu bytes "
		  "compared, %llu bytes skipped (written during every try)",
		  rp->peers[idx].node, (unsigned long long)vp->oos / WB_BLOCK_SIZE,
		  (unsigned long long)vp->oos, unread, (unsigned long long)vp->compared,
		  (unsigned long long)vp->skipped);
}

static bool vf_any_peer(const struct repl_verify *v)
{
	for (unsigned i = 0; i < v->rp->npeers; i++)
		if (v->peer[i].on)
			return true;
	return false;
}

static bool vf_idle(const struct repl_verify *v)
{
	for (unsigned i = 0; i < VF_INFLIGHT; i++)
		if (v->r[i].used)
			return false;
	return true;
}

/* The run is over: every range finished, or no peer left. */
static void vf_finish(struct repl_verify *v, const char *why)
{
	struct wbd_repl *rp = v->rp;

	for (unsigned i = 0; i < rp->npeers; i++)
		vf_peer_end(v, i, why);
	v->state = why ? VF_ABORTED : VF_DONE;
	/* ranges whose read is in flight are let go by vf_local_done */
	memset(v->retry, 0, sizeof(v->retry));
	for (unsigned i = 0; i < VF_INFLIGHT; i++) {
		if (v->r[i].reading)
			continue;
		v->r[i].used = false;
		free(v->r[i].buf);
		v->r[i].buf = NULL;
	}
	v->end_ns = wb_now_ns();
	if (why)
		wbd_warn("%s: verify aborted: %s", rp->res, why);
}

/* A range's comparison is complete (local read and every reply in). */
static void vf_range_done(struct vf_range *g)
{
	struct repl_verify *v = g->v;
	struct wbd_repl *rp = v->rp;
	uint64_t bytes = (uint64_t)g->n * WB_BLOCK_SIZE;

	if (g->written && g->tries + 1 < VF_TRIES) {
		/* a record touched it during the window: read it again */
		g->tries++;
		g->local_done = false; /* not compared again before the new read */
		for (unsigned i = 0; i < VF_INFLIGHT; i++)
			if (!v->retry[i]) {
				v->retry[i] = g;
				break;
			}
		return;
	}
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct vf_peer *vp = &v->peer[i];

		if (!vp->on)
			continue;
		if (g->written) {
			vp->skipped += bytes;
			continue;
		}
		vp->compared += bytes;
		if (g->unread & (1u << i)) {
			wbd_warn("%s: verify: blocks %llu..%llu could not be read on peer %s: "
				 "marked for resync",
				 rp->res, (unsigned long long)g->lba,
				 (unsigned long long)(g->lba + g->n - 1), rp->peers[i].node);
			vp->unread += g->n;
		}
		for (uint32_t b = 0; b < g->n; b++) {
			uint64_t lba = g->lba + b;
			int ret;

			if (!(g->mism[i] & (1ull << b)))
				continue;
			vp->oos += WB_BLOCK_SIZE;
			ret = wb_engine_bm_found(rp->e, rp->peers[i].slot, lba * WB_BLOCK_SIZE,
						 WB_BLOCK_SIZE);
			if (g->unread & (1u << i))
				continue; /* logged per range above */
			if (vp->logged++ < VF_LOG_MAX)
				wbd_warn(
				    "%s: verify: block %llu (offset %llu) differs on peer %s%s%s",
				    rp->res, (unsigned long long)lba,
				    (unsigned long long)lba * WB_BLOCK_SIZE, rp->peers[i].node,
				    ret ? ", not marked for resync: " : "",
				    ret ? strerror(-ret) : "");
			else if (vp->logged == VF_LOG_MAX + 1)
				wbd_warn("%s: verify: more blocks differ on peer %s (the count "
					 "comes at the end)",
					 rp->res, rp->peers[i].node);
		}
	}
	v->done_bytes += bytes;
	g->used = false;
	free(g->buf);
	g->buf = NULL;
}

static void vf_local_done(struct wb_req *r, int err)
{
	struct vf_range *g = r->priv;
	struct repl_verify *v = g->v;

	v->reads--;
	g->reading = false;
	if (v->state != VF_RUNNING) {
		g->used = false;
		free(g->buf);
		g->buf = NULL;
		return;
	}
	/* unreadable here: a peer serves the blocks (and the read repair
	 * writes them back here); the range is compared with what it gave */
	if (err && !g->from_peer && wbd_repl_read_peer(v->rp, r, err, vf_local_done)) {
		g->from_peer = true;
		g->reading = true;
		v->reads++;
		return;
	}
	if (err) {
		char why[96];

		snprintf(why, sizeof(why), "reading blocks %llu..%llu on this node: %s",
			 (unsigned long long)g->lba, (unsigned long long)(g->lba + g->n - 1),
			 strerror(-err));
		g->used = false;
		free(g->buf);
		g->buf = NULL;
		vf_finish(v, why);
		return;
	}
	for (uint32_t b = 0; b < g->n; b++)
		g->crc[b] = block_crc(g->buf, b);
	g->local_done = true;
	vf_pump(v);
}

/* Submit g's local read; the window starts here. */
static void vf_range_read(struct vf_range *g)
{
	struct repl_verify *v = g->v;
	int ret;

	g->id = ++v->next_id;
	g->written = g->local_done = g->from_peer = false;
	g->unread = 0;
	g->want = g->sent = 0;
	memset(g->mism, 0, sizeof(g->mism));
	for (unsigned i = 0; i < v->rp->npeers; i++)
		if (v->peer[i].on)
			g->want |= 1u << i;
	if (!g->buf)
		g->buf = malloc((size_t)VF_BLOCKS * WB_BLOCK_SIZE);
	if (!g->buf) {
		g->used = false;
		vf_finish(v, "out of memory");
		return;
	}
	v->issued_bytes += (uint64_t)g->n * WB_BLOCK_SIZE;
	ret = wbd_repl_read_blocks(v->rp, &g->req, g->lba, g->n, g->buf, vf_local_done, g);
	if (ret) {
		char why[80];

		snprintf(why, sizeof(why), "read submit on this node: %s", strerror(-ret));
		g->used = false;
		free(g->buf);
		g->buf = NULL;
		vf_finish(v, why);
		return;
	}
	g->reading = true;
	v->reads++;
}

/* Ask every target of g that is live and not asked yet. */
static void vf_range_send(struct vf_range *g)
{
	struct repl_verify *v = g->v;
	struct wbd_repl *rp = v->rp;

	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];
		Wbrep__VerifyRequest q = WBREP__VERIFY_REQUEST__INIT;
		int ret;

		if (!(g->want & ~g->sent & (1u << i)))
			continue;
		/* live: every record shipped so far is queued to p before this */
		if (!p->live || p->blocked) {
			vf_later(v, VF_RETRY_MS);
			continue;
		}
		q.id = g->id;
		q.lba = g->lba;
		q.nblocks = g->n;
		ret = wbd_peerlink_send(p->l, WBP_T_VERIFY_REQ, &q.base, NULL);
		if (!ret)
			g->sent |= 1u << i;
		else if (ret == -EAGAIN)
			vf_later(v, VF_RETRY_MS);
		else
			vf_peer_end(v, i, "sending a verify request failed");
	}
}

/* How long until the rate allows `bytes` more (0 = now). */
static uint64_t vf_rate_wait_ms(const struct repl_verify *v, uint64_t bytes)
{
	uint64_t el = wb_now_ns() - v->start_ns, allowed;

	if (!v->rate)
		return 0;
	allowed =
	    (uint64_t)((double)v->rate * (double)el / 1e9) + (uint64_t)VF_BLOCKS * WB_BLOCK_SIZE;
	if (v->issued_bytes + bytes <= allowed)
		return 0;
	return (uint64_t)((double)(v->issued_bytes + bytes - allowed) * 1000.0 / (double)v->rate) +
	       1;
}

static void vf_pump(struct repl_verify *v)
{
	struct wbd_repl *rp = v->rp;

	if (v->state != VF_RUNNING)
		return;
	if (!rp->primary) {
		vf_finish(v, "this node is no longer primary");
		return;
	}
	if (!vf_any_peer(v)) {
		vf_finish(v, "no secondary left to compare with");
		return;
	}
	for (unsigned i = 0; i < VF_INFLIGHT; i++) {
		struct vf_range *g = &v->r[i];

		if (!g->used || !g->local_done)
			continue;
		vf_range_send(g);
		if (!g->want)
			vf_range_done(g);
	}
	/* retries first, then new ranges, within the rate */
	for (unsigned i = 0; i < VF_INFLIGHT && v->state == VF_RUNNING; i++) {
		struct vf_range *g = v->retry[i];
		uint64_t w;

		if (!g)
			continue;
		w = vf_rate_wait_ms(v, (uint64_t)g->n * WB_BLOCK_SIZE);
		if (w) {
			vf_later(v, w);
			return;
		}
		v->retry[i] = NULL;
		vf_range_read(g);
	}
	for (unsigned i = 0; i < VF_INFLIGHT && v->state == VF_RUNNING; i++) {
		struct vf_range *g = &v->r[i];
		uint64_t left = v->total_blocks - v->next_lba, w;

		if (g->used || !left)
			continue;
		w = vf_rate_wait_ms(v, (uint64_t)(left < VF_BLOCKS ? left : VF_BLOCKS) *
					   WB_BLOCK_SIZE);
		if (w) {
			vf_later(v, w);
			return;
		}
		g->used = true;
		g->tries = 0;
		g->lba = v->next_lba;
		g->n = (uint32_t)(left < VF_BLOCKS ? left : VF_BLOCKS);
		v->next_lba += g->n;
		vf_range_read(g);
	}
	if (v->state == VF_RUNNING && v->next_lba >= v->total_blocks && vf_idle(v))
		vf_finish(v, NULL);
}

int wbd_repl_verify_start(struct wbd_repl *rp, uint64_t rate, char *err, size_t errlen)
{
	struct repl_verify *v;
	struct wb_engine_stats st;
	unsigned n = 0;
	int ret;

	if (!rp->primary) {
		snprintf(err, errlen, "verify runs on the primary; this node is secondary");
		return -EPERM;
	}
	v = vf_get(rp);
	if (!v)
		return -ENOMEM;
	if (v->state == VF_RUNNING) {
		snprintf(err, errlen, "a verify runs already (%llu of %llu bytes)",
			 (unsigned long long)v->done_bytes,
			 (unsigned long long)v->total_blocks * WB_BLOCK_SIZE);
		return -EBUSY;
	}
	if (v->reads) {
		snprintf(err, errlen, "the last verify's reads are still in flight; try again");
		return -EBUSY;
	}
	ret = wb_engine_stats(rp->e, &st);
	if (ret) {
		snprintf(err, errlen, "engine stats: %s", strerror(-ret));
		return ret;
	}
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct vf_peer *vp = &v->peer[i];

		memset(vp, 0, sizeof(*vp));
		if (vf_peer_target(&rp->peers[i])) {
			vp->on = true;
			snprintf(vp->state, sizeof(vp->state), "running");
			n++;
		}
	}
	if (!n) {
		snprintf(err, errlen, "no secondary is connected");
		return -ENOTCONN;
	}
	memset(v->retry, 0, sizeof(v->retry));
	v->state = VF_RUNNING;
	v->rate = rate;
	v->total_blocks = st.size / WB_BLOCK_SIZE;
	v->next_lba = v->done_bytes = v->issued_bytes = 0;
	v->start_ns = wb_now_ns();
	v->end_ns = 0;
	wbd_event(rp->res, "verify", NULL, NULL,
		  "verify started: %llu bytes against %u secondar%s, at most %llu bytes/s%s",
		  (unsigned long long)v->total_blocks * WB_BLOCK_SIZE, n, n == 1 ? "y" : "ies",
		  (unsigned long long)rate, rate ? "" : " (unlimited)");
	vf_pump(v);
	return 0;
}

static void vf_reply(struct repl_peer *p, const Wbrep__VerifyReply *m)
{
	struct repl_verify *v = p->rp->vf;
	unsigned idx = p->idx;
	struct vf_range *g = NULL;

	if (!v || v->state != VF_RUNNING || !v->peer[idx].on)
		return; /* a run that ended: late replies are dropped */
	for (unsigned i = 0; i < VF_INFLIGHT; i++)
		if (v->r[i].used && v->r[i].id == m->id)
			g = &v->r[i];
	if (!g || !(g->sent & g->want & (1u << idx)) || g->lba != m->lba || g->n != m->nblocks) {
		/* not a request of this connection: a bug or a hostile peer */
		wbd_peerlink_drop(p->l, -EPROTO, "verify reply to no request of ours");
		return;
	}
	if (m->has_code && m->code == EIO) {
		/* a bad block there: the whole range is marked, a resync
		 * writes it (which makes a disk remap a pending sector) */
		g->want &= ~(1u << idx);
		g->unread |= 1u << idx;
		g->mism[idx] = g->n == 64 ? ~0ull : (1ull << g->n) - 1;
	} else if (m->has_code && m->code) {
		char why[96];

		snprintf(why, sizeof(why), "the peer could not read blocks %llu..%llu: %s",
			 (unsigned long long)m->lba, (unsigned long long)(m->lba + m->nblocks - 1),
			 strerror(m->code));
		vf_peer_end(v, idx, why);
	} else {
		g->want &= ~(1u << idx);
		for (uint32_t b = 0; b < g->n; b++)
			if (m->crcs[b] != g->crc[b])
				g->mism[idx] |= 1ull << b;
	}
	vf_pump(v);
}

/* ---- secondary ---- */

static void vf_sec_pump(struct repl_verify *v);

static void vf_buf_put(const void *data, size_t len, void *cookie)
{
	wb_io_free((void *)data);
}

static void vf_sreq_free(struct vf_sreq *s)
{
	free(s->crcs);
	wb_io_free(s->buf);
	s->crcs = NULL;
	s->buf = NULL;
	s->used = s->reading = s->ready = false;
}

static void vf_sec_done(struct wb_req *r, int err)
{
	struct vf_sreq *s = r->priv;
	struct repl_verify *v = s->v;

	v->reads--;
	s->reading = false;
	if (!s->p->up || s->p->epoch != s->epoch) {
		vf_sreq_free(s);
		return;
	}
	s->code = -err;
	if (!err && s->data) { /* the blocks go as they are */
		s->ready = true;
		vf_sec_pump(v);
		return;
	}
	if (!err) {
		s->crcs = malloc((size_t)s->n * sizeof(*s->crcs));
		if (!s->crcs)
			s->code = ENOMEM;
		for (uint32_t b = 0; s->crcs && b < s->n; b++)
			s->crcs[b] = block_crc(s->buf, b);
	}
	wb_io_free(s->buf);
	s->buf = NULL;
	s->ready = true;
	vf_sec_pump(v);
}

static void vf_sec_read(struct vf_sreq *s)
{
	struct repl_verify *v = s->v;
	int ret;

	if (s->data && v->rp->disk == REPL_DISK_INCONSISTENT) {
		/* a resync into this node has not finished: its blocks are not
		 * what the primary's were */
		s->code = ENODATA;
		s->ready = true;
		return;
	}
	/* 4 KiB aligned: the engine reads into it directly */
	s->buf = wb_io_alloc((size_t)s->n * WB_BLOCK_SIZE);
	if (!s->buf) {
		s->code = ENOMEM;
		s->ready = true;
		return;
	}
	ret = wbd_repl_read_blocks(v->rp, &s->req, s->lba, s->n, s->buf, vf_sec_done, s);
	if (ret) {
		wb_io_free(s->buf);
		s->buf = NULL;
		s->code = -ret;
		s->ready = true;
		return;
	}
	s->reading = true;
	v->reads++;
}

/* Start the reads whose records are durable; send what is ready. */
static void vf_sec_pump(struct repl_verify *v)
{
	for (unsigned i = 0; i < VF_SEC_MAX; i++) {
		struct vf_sreq *s = &v->s[i];
		Wbrep__VerifyReply a = WBREP__VERIFY_REPLY__INIT;
		struct wbd_payload pl = {0};
		int ret;

		if (!s->used || s->reading)
			continue;
		if (!s->p->up || s->p->epoch != s->epoch) {
			vf_sreq_free(s);
			continue;
		}
		if (!s->ready) {
			/* the records applied before the request are readable */
			if (v->durable_next >= s->need)
				vf_sec_read(s);
			if (!s->ready)
				continue;
		}
		a.id = s->id;
		a.lba = s->lba;
		a.nblocks = s->n;
		a.has_data = a.data = s->data;
		if (v->rp->primary && s->data && !s->code) {
			/* every record the copy holds was shipped already */
			a.has_as_of = 1;
			a.as_of = v->rp->shipped_next;
		}
		if (s->code) {
			a.has_code = 1;
			a.code = s->code;
		} else if (s->data) {
			pl.data = s->buf;
			pl.len = (size_t)s->n * WB_BLOCK_SIZE;
			pl.put = vf_buf_put;
		} else {
			a.n_crcs = s->n;
			a.crcs = s->crcs;
		}
		ret = wbd_peerlink_send(s->p->l, WBP_T_VERIFY_REPLY, &a.base, pl.data ? &pl : NULL);
		if (ret == -EAGAIN) {
			vf_later(v, VF_RETRY_MS);
			continue;
		}
		if (ret && ret != -ENOTCONN)
			wbd_warn("%s: peer %s: verify reply: %s", v->rp->res, s->p->node,
				 strerror(-ret));
		if (!ret && pl.data)
			s->buf = NULL; /* the link's now (vf_buf_put) */
		vf_sreq_free(s);
	}
}

static void vf_request(struct repl_peer *p, const Wbrep__VerifyRequest *m)
{
	struct wbd_repl *rp = p->rp;
	struct repl_verify *v;
	struct vf_sreq *s = NULL;

	/* a secondary's read of blocks its destage cannot read from its own
	 * log (repl_peerread.c): the primary serves its copy at once, with
	 * the seq it is as of (VerifyReply.as_of) */
	if (rp->primary && !p->primary_peer && !(m->has_data && m->data)) {
		wbd_peerlink_drop(p->l, -EPROTO, "verify request without data from a secondary");
		return;
	}
	if (!rp->primary && !p->primary_peer) {
		wbd_peerlink_drop(p->l, -EPROTO, "verify request from a node that is not primary");
		return;
	}
	v = vf_get(rp);
	for (unsigned i = 0; v && i < VF_SEC_MAX && !s; i++)
		if (!v->s[i].used)
			s = &v->s[i];
	if (!s) {
		Wbrep__VerifyReply a = WBREP__VERIFY_REPLY__INIT;

		a.id = m->id;
		a.lba = m->lba;
		a.nblocks = m->nblocks;
		a.has_code = 1;
		a.code = v ? EBUSY : ENOMEM;
		a.has_data = a.data = m->has_data && m->data;
		wbd_peerlink_send(p->l, WBP_T_VERIFY_REPLY, &a.base, NULL);
		return;
	}
	s->used = true;
	s->reading = s->ready = false;
	s->data = m->has_data && m->data;
	s->p = p;
	s->epoch = p->epoch;
	s->id = m->id;
	s->lba = m->lba;
	s->n = m->nblocks;
	s->code = 0;
	s->need = rp->primary ? 0 : v->applied_next;
	vf_sec_pump(v);
}

/* ---- hooks from repl.c ---- */

void wbd_repl_verify_frame(struct repl_peer *p, const struct wbp_msg *m)
{
	if (m->type == WBP_T_VERIFY_REQ)
		vf_request(p, m->vreq);
	else
		vf_reply(p, m->vrep);
}

void wbd_repl_verify_shipped(struct wbd_repl *rp, const struct wb_record *rec)
{
	struct repl_verify *v = rp->vf;

	if (!v || v->state != VF_RUNNING)
		return;
	for (unsigned i = 0; i < VF_INFLIGHT; i++) {
		struct vf_range *g = &v->r[i];

		if (!g->used || g->written)
			continue;
		for (uint32_t x = 0; x < rec->nextents; x++)
			if (rec->ext[x].lba < g->lba + g->n &&
			    g->lba < rec->ext[x].lba + rec->ext[x].nblocks) {
				g->written = true;
				break;
			}
	}
}

void wbd_repl_verify_applied(struct wbd_repl *rp, uint64_t seq, bool durable)
{
	/* made at the first record: a request's wait needs every position */
	struct repl_verify *v = vf_get(rp);

	if (!v)
		return;
	if (!durable) {
		if (seq + 1 > v->applied_next)
			v->applied_next = seq + 1;
		return;
	}
	if (seq + 1 > v->durable_next)
		v->durable_next = seq + 1;
	vf_sec_pump(v);
}

void wbd_repl_verify_peer_down(struct repl_peer *p)
{
	struct repl_verify *v = p->rp->vf;

	if (!v)
		return;
	if (v->state == VF_RUNNING && v->peer[p->idx].on) {
		vf_peer_end(v, p->idx, "link down");
		vf_pump(v);
	}
	vf_sec_pump(v); /* drops the requests of that connection */
}

static void vf_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_repl *rp = arg;

	if (!rp->vf)
		return;
	vf_pump(rp->vf);
	vf_sec_pump(rp->vf);
}

static int vf_settled(void *arg)
{
	return !((struct wbd_repl *)arg)->vf->reads;
}

static int vf_settle(void *arg)
{
	wb_engine_run(((struct wbd_repl *)arg)->e, 1);
	return 0;
}

void wbd_repl_verify_free(struct wbd_repl *rp)
{
	struct repl_verify *v = rp->vf;

	if (!v)
		return;
	if (v->state == VF_RUNNING)
		vf_finish(v, "the resource goes down");
	/* reads complete from run() and point into v (bounded: a few) */
	wb_drain(vf_settled, vf_settle, rp, WB_DRAIN_CLOSE_MS, rp->res,
		 "verify stop: reads in flight");
	if (v->reads)
		wbd_err("%s: verify: %u reads left at stop", rp->res, v->reads);
	for (unsigned i = 0; i < VF_INFLIGHT; i++)
		free(v->r[i].buf);
	for (unsigned i = 0; i < VF_SEC_MAX; i++)
		vf_sreq_free(&v->s[i]);
	event_free(v->ev);
	free(v);
	rp->vf = NULL;
}

/* ---- status ---- */

static const char *const vf_state_names[] = {NULL, "running", "done", "aborted"};

void wbd_repl_verify_status(const struct wbd_repl *rp, struct wbd_repl_verify_status *vs)
{
	const struct repl_verify *v = rp ? rp->vf : NULL;
	uint64_t el;

	memset(vs, 0, sizeof(*vs));
	if (!v || v->state == VF_NEVER)
		return;
	vs->state = vf_state_names[v->state];
	vs->done_bytes = v->done_bytes;
	vs->total_bytes = v->total_blocks * WB_BLOCK_SIZE;
	el = (v->end_ns ? v->end_ns : wb_now_ns()) - v->start_ns;
	if (el >= 1000000)
		vs->rate = (uint64_t)((double)v->done_bytes * 1e9 / (double)el);
	if (v->state == VF_RUNNING && vs->rate)
		vs->eta_ms = (vs->total_bytes - vs->done_bytes) * 1000 / vs->rate;
}

bool wbd_repl_verify_peer(const struct wbd_repl *rp, unsigned i, struct wbd_repl_verify_peer *out)
{
	const struct repl_verify *v = rp ? rp->vf : NULL;

	memset(out, 0, sizeof(*out));
	if (!v || v->state == VF_NEVER || i >= rp->npeers || !v->peer[i].state[0])
		return false;
	out->state = v->peer[i].state;
	out->oos = v->peer[i].oos;
	out->skipped = v->peer[i].skipped;
	out->compared = v->peer[i].compared;
	out->unread = v->peer[i].unread * WB_BLOCK_SIZE;
	return true;
}
