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
 * The target's side is repl_synctarget.c. The source's bitmap of the
 * target loses regions only once the target holds them durably (its
 * resume point, pend_clear below, or resync-done), so an interrupted
 * resync resumes from what the bitmap still has.
 *
 * Threads: the resource's event base (= the engine thread).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/events.h"
#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"
#include "engine/byteorder.h"
#include "engine/io.h"

#define RS_CHUNK_BYTES 32768u /* bitmap bytes per bitmap frame */

/* ---- common ---- */

uint64_t wbd_repl_rs_popcount(const uint8_t *b, uint64_t nbits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < nbits / 8; i++)
		n += (uint64_t)__builtin_popcount(b[i]);
	for (uint64_t i = nbits / 8 * 8; i < nbits; i++)
		n += (b[i / 8] >> (i % 8)) & 1;
	return n;
}

static void free_cb(const void *data, size_t len, void *cookie)
{
	free(cookie);
}

/*
 * Resync data buffers (the source's reads, the target's received frames):
 * one per request of up to RS_REQ_MAX bytes. A fresh one costs a page
 * fault per 4 KiB, since glibc hands blocks this large back to the kernel
 * when they are freed: on a 1 GiB full sync the source spent 7.5 % of its
 * CPU clearing new pages for them (perf, docs/benchmarks.md "Resync").
 * Up to RS_POOL buffers of RS_REQ_MAX bytes are kept for reuse while
 * resyncs run (process-wide, trimmed when one ends). The payload release
 * may run on another thread than the engine's (a link on an io loop):
 * hence the mutex.
 */
#define RS_POOL (2 * RS_INFLIGHT + 2)
static pthread_mutex_t rs_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static void *rs_pool[RS_POOL];
static unsigned rs_npool;

void *wbd_repl_rs_buf_get(size_t len)
{
	void *b = NULL;

	if (len > RS_REQ_MAX)
		return wb_io_alloc(len);
	pthread_mutex_lock(&rs_pool_mu);
	if (rs_npool)
		b = rs_pool[--rs_npool];
	pthread_mutex_unlock(&rs_pool_mu);
	return b ? b : wb_io_alloc(RS_REQ_MAX);
}

/* buf from wbd_repl_rs_buf_get(len), or NULL */
void wbd_repl_rs_buf_put(void *buf, size_t len)
{
	if (!buf)
		return;
	if (len <= RS_REQ_MAX) {
		pthread_mutex_lock(&rs_pool_mu);
		if (rs_npool < RS_POOL) {
			rs_pool[rs_npool++] = buf;
			buf = NULL;
		}
		pthread_mutex_unlock(&rs_pool_mu);
	}
	wb_io_free(buf);
}

/* A resync ended: the memory goes back (buffers still out come back to
 * the pool later and stay there until the next trim). */
void wbd_repl_rs_bufs_trim(void)
{
	void *b[RS_POOL];
	unsigned n;

	pthread_mutex_lock(&rs_pool_mu);
	n = rs_npool;
	memcpy(b, rs_pool, n * sizeof(b[0]));
	rs_npool = 0;
	pthread_mutex_unlock(&rs_pool_mu);
	while (n)
		wb_io_free(b[--n]);
}

static void io_free_cb(const void *data, size_t len, void *cookie)
{
	wbd_repl_rs_buf_put(cookie, len);
}

void wbd_repl_rs_status(const struct repl_peer *p, struct wbd_repl_peer_status *s)
{
	const struct repl_rs *rs = &p->rs;
	uint64_t el, now;

	if (rs->state == REPL_RS_NONE)
		return;
	s->resync = true;
	s->rs_total = rs->total;
	s->rs_done = rs->done < rs->total ? rs->done : rs->total;
	s->rs_paused = wbd_repl_rs_paused(p);
	s->rs_after = rs->after_wait ? p->rp->rs_after : NULL;
	s->rs_hook = wbd_repl_rs_hooked(p);
	/* time paused is not in the rate; while paused or waiting, no ETA */
	now = wb_now_ms();
	el = now - rs->t0_ms - rs->paused_ms - (rs->paused_at ? now - rs->paused_at : 0);
	s->rs_rate = el > 0 && el < now ? s->rs_done * 1000 / el : 0;
	s->rs_eta_ms = s->rs_rate && !s->rs_paused && !s->rs_after && !s->rs_hook
			   ? (s->rs_total - s->rs_done) * 1000 / s->rs_rate
			   : 0;
	s->rs_throttled = rs->state == REPL_RS_TARGET && rs->throttled && !s->rs_paused;
	s->has_rs_window = rs->state == REPL_RS_TARGET &&
			   wbd_repl_rs_tgt_window(p, &s->rs_window, &s->rs_queue_us);
}

/* ---- wbctl pause-sync / resume-sync (DRBD's user pause) ---- */

bool wbd_repl_rs_paused(const struct repl_peer *p)
{
	return p->rp->sync_paused || p->peer_paused;
}

bool wbd_repl_resyncing(const struct wbd_repl *rp)
{
	for (unsigned i = 0; rp && i < rp->npeers; i++)
		if (rp->peers[i].rs.state != REPL_RS_NONE)
			return true;
	return false;
}

bool wbd_repl_sync_paused(const struct wbd_repl *rp)
{
	return rp && rp->sync_paused;
}

/* The paused time of a running resync is left out of its rate. */
static void rs_pause_clock(struct repl_peer *p)
{
	struct repl_rs *rs = &p->rs;
	bool paused = rs->state != REPL_RS_NONE && (wbd_repl_rs_paused(p) || rs->after_wait);
	uint64_t now = wb_now_ms();

	if (paused && !rs->paused_at)
		rs->paused_at = now ? now : 1;
	else if (!paused && rs->paused_at) {
		rs->paused_ms += now - rs->paused_at;
		rs->paused_at = 0;
	}
}

/* "paused by wbctl pause-sync on WHO" or "resumed ..." of p's resync */
static void rs_pause_event(struct repl_peer *p, bool paused, const char *who)
{
	char what[160];

	snprintf(what, sizeof(what), "%s by wbctl %s-sync on %s", paused ? "paused" : "resumed",
		 paused ? "pause" : "resume", who);
	wbd_repl_rs_event(p, p->rs.state == REPL_RS_SOURCE ? "to" : "from", what);
}

/* resync-after (repl_int.h): a target waits while rp->rs_after resyncs
 * here; an event and the clock when that changes. */
bool wbd_repl_rs_after_wait(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	bool wait = p->rs.state == REPL_RS_TARGET && rp->rs_after[0] && rp->env &&
		    rp->env->resyncing && rp->env->resyncing(rp->env->ctx, rp->rs_after);
	char what[160];

	if (wait == p->rs.after_wait)
		return wait;
	p->rs.after_wait = wait;
	rs_pause_clock(p);
	snprintf(what, sizeof(what), "%s the resync of %s (resync-after)",
		 wait ? "waiting for" : "going on after", rp->rs_after);
	wbd_repl_rs_event(p, "from", what);
	return wait;
}

/* A resync started (its "started" event out): its clock, and an event
 * when it starts paused. */
void wbd_repl_rs_clock_start(struct repl_peer *p)
{
	p->rs.paused_at = p->rs.paused_ms = 0;
	p->rs.after_wait = false; /* looked at when it asks (repl_synctarget.c) */
	rs_pause_clock(p);
	if (wbd_repl_rs_paused(p))
		rs_pause_event(p, true,
			       p->rp->sync_paused && p->peer_paused ? "both nodes"
			       : p->rp->sync_paused		    ? "this node"
								    : p->node);
}

/* Whether p's resync is paused changed (was: before), by WHO: an event,
 * the clock, and a resumed target asks again. */
static void rs_pause_changed(struct repl_peer *p, bool was, const char *who)
{
	bool now = wbd_repl_rs_paused(p);

	rs_pause_clock(p);
	if (p->rs.state == REPL_RS_NONE || was == now)
		return;
	rs_pause_event(p, now, who);
	if (!now)
		wbd_repl_rs_poke(p);
}

/* A peer-state frame: the peer's operator paused or resumed. */
static void on_peer_state(struct repl_peer *p, const Wbrep__PeerState *m)
{
	bool was = wbd_repl_rs_paused(p);

	if (!m->has_sync_paused || m->sync_paused == p->peer_paused)
		return;
	p->peer_paused = m->sync_paused;
	wbd_info("%s: peer %s %s its resyncs (wbctl %s-sync there)", p->rp->res, p->node,
		 p->peer_paused ? "paused" : "resumed", p->peer_paused ? "pause" : "resume");
	rs_pause_changed(p, was, p->node);
}

int wbd_repl_pause_sync(struct wbd_repl *rp, bool pause, char *msg, size_t len)
{
	Wbrep__PeerState ps = WBREP__PEER_STATE__INIT;
	unsigned running = 0, told = 0;

	if (rp->sync_paused == pause) {
		snprintf(msg, len, "resyncs of %s %s on this node (nothing to do)", rp->res,
			 pause ? "are already paused" : "are not paused");
		return 0;
	}
	rp->sync_paused = pause;
	ps.has_sync_paused = 1;
	ps.sync_paused = pause;
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->up && p->l && p->knows_state &&
		    !wbd_peerlink_send(p->l, WBP_T_PEER_STATE, &ps.base, NULL))
			told++;
		running += p->rs.state != REPL_RS_NONE;
		/* paused before: by the peer, or here (when resuming) */
		rs_pause_changed(p, p->peer_paused || !pause, "this node");
	}
	wbd_event(rp->res, "resync", NULL, NULL, "resyncs %s by wbctl %s-sync on this node",
		  pause ? "paused" : "resumed", pause ? "pause" : "resume");
	snprintf(msg, len, "resyncs of %s %s: %u running%s, %u peer(s) told", rp->res,
		 pause ? "paused" : "resumed", running,
		 pause && !running ? " (one that starts waits for resume-sync)" : "", told);
	return 0;
}

void wbd_repl_rs_event(struct repl_peer *p, const char *role, const char *what)
{
	struct repl_rs *rs = &p->rs;
	uint64_t el = wb_now_ms() - rs->t0_ms;

	wbd_event(p->rp->res, "resync", NULL, NULL,
		  "resync %s%s %s: %s, %llu of %llu bytes in %llu ms", role,
		  !strcmp(role, "to") ? " peer" : "", p->node, what, (unsigned long long)rs->done,
		  (unsigned long long)rs->total, (unsigned long long)el);
}

/* ---- marker UUID: this node's data is Inconsistent ---- */

bool wbd_repl_rs_marked(const uint8_t *u)
{
	return u[6] == RS_MARK0 && u[7] == RS_MARK1;
}

uint32_t wbd_repl_rs_src_tag(const char *node)
{
	uint32_t t = wb_crc32c(0, node, strlen(node));

	return t ? t : 1;
}

bool wbd_repl_rs_marked_by(const uint8_t *u, const char *node)
{
	return wbd_repl_rs_marked(u) && wb_load_le32(u + 12) == wbd_repl_rs_src_tag(node);
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
	bool peer_tried; /* this node's read failed: asked from another peer */
	void *buf;
};

/* A range of regions the target reported durable (resume point) whose
 * bits go once the target acked durable every record below `needed`
 * (records sent before the report, or later ones that overlap it). */
struct rs_pend {
	uint64_t off0, off1; /* bytes, region aligned (off1: or the device end) */
	uint64_t needed;
};

#define RS_QMAX	    (2 * RS_INFLIGHT)
#define RS_PEND_MAX 16
struct repl_rs_src {
	struct rs_reqent q[RS_QMAX];
	unsigned qh, qn;
	unsigned reads;
	struct rs_read *rd; /* reads in flight of the current connection */
	uint32_t region;    /* bytes per bitmap bit */
	uint64_t dev_size;  /* bytes */
	uint64_t wm;	    /* bytes: the target's resume point so far */
	struct rs_pend pend[RS_PEND_MAX];
	unsigned npend;
	uint64_t cleared; /* bytes of regions cleared before the end */
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
	bool in_log, fresh = false, marked = false, logrel = false, discard_bm = false;
	bool incons_other = false;
	/* the peer's data generation UUID, NULL: none told */
	const uint8_t *hu =
	    h->has_data_uuid && h->data_uuid.len == WB_META_UUID_LEN ? h->data_uuid.data : NULL;
	char dwhy[96];

	rs->want = rs->full = rs->rebase = false;
	rs->fork = 0;
	if (wb_engine_stats(rp->e, &st))
		return 0;
	in_log = head >= st.seq_tail && head <= rp->shipped_next;
	/* a new log (no history, never written) meeting a primary that wrote:
	 * its device holds anything: a full sync (two new logs are the same
	 * data: the devices are taken as identical, like --skip-initial-sync).
	 * A log that took a generation this node had (it joined while that
	 * generation's primary had not written, and got no record before it
	 * went away) is not new: it is at seq 1 of this node's data, and
	 * catches up from the log like any peer behind */
	if (rp->has_meta && hu && !h->n_uuid_history && head <= 1 &&
	    (rp->meta.nhistory || rp->shipped_next > 1) && !wbd_repl_uuid_known(rp, hu))
		fresh = true;
	/* bits set for blocks found different (the engine keeps that flag
	 * until they are cleared), or set while the peer was not tracking: an online
	 * verify found those blocks different (repl_verify.c); they are
	 * resynced at the next connect, after the catch-up. Tracking since
	 * (the link went down after the verify) does not make them records
	 * a catch-up brings. */
	if (rp->bm_region && !wb_engine_bm_info(rp->e, p->slot, &bi) && bi.dirty &&
	    (!bi.tracking || bi.marked))
		marked = true;
	/* an old primary whose records past the common point only end
	 * generations: the same data, its log restarts at this one's head */
	logrel = p->rel == REPL_REL_PEER_BEHIND_LOG || p->rel == REPL_REL_PEER_ROLLBACK;
	if (!incons && !discard && !fresh && !marked && !logrel && in_log)
		return 0; /* catch-up from the log */
	if (!incons && !discard && !fresh && !logrel && head > rp->shipped_next) {
		/* records this primary lost (a crash or a failed disk, then up
		 * as primary again; with ack = memory some may have been
		 * acknowledged) or an old primary's: the safe way first */
		snprintf(p->problem, sizeof(p->problem),
			 "%.32s's log is ahead of ours (its seq %llu, ours %llu: records this "
			 "node lost in a crash or a disk failure, or an old primary's): refused; "
			 "to keep them: wbctl secondary RES here, wbctl primary RES on %.32s; to "
			 "drop them: wbctl connect RES --discard-my-data on %.32s",
			 p->node, (unsigned long long)head, (unsigned long long)rp->shipped_next,
			 p->node, p->node);
		*why = p->problem;
		return -EPROTO;
	}
	if (!rp->bm_region || p->slot >= (wb_engine_bm_info(rp->e, 0, &bi) ? 0 : bi.npeers)) {
		*why = "the peer needs a resync, but this primary's log has no dirty bitmap for it "
		       "(format the log with bitmaps: wbrepd --create-md)";
		return -EPROTO;
	}
	wb_engine_bm_info(rp->e, p->slot, &bi);
	/* a discard with a fork point (repl_uuid.c): this node's bitmap of
	 * the peer covers every record from there on (already tracking from
	 * no later, or folded now from the log); the peer adds the blocks of
	 * its own records from there (repl_synctarget.c, Hello.discard_fork).
	 * Its disk says Inconsistent for the discard alone while its data
	 * generation is a real one: a resync that began writing to it put a
	 * marker there (tgt_mark), and after one nothing says which of its
	 * blocks are whose. Without a fork point, or with this node's records
	 * from it gone from its log: every region */
	if (discard && p->common && h->has_discard_fork && h->discard_fork && hu &&
	    !wbd_repl_rs_marked(hu) && !wbd_repl_bm_cover(p, p->common))
		discard_bm = true;
	if (discard_bm)
		snprintf(dwhy, sizeof(dwhy),
			 "it discards its data: the blocks of both sides' records since seq %llu",
			 (unsigned long long)p->common);
	/* an unfinished resync from another node: only that node's bitmap
	 * knows which regions it had not done yet (the marker says whose) */
	if (incons && !discard_bm && !(hu && wbd_repl_rs_marked_by(hu, rp->local)))
		incons_other = true;
	rs->want = true;
	rs->full = (discard && !discard_bm) || fresh || incons_other ||
		   (!bi.tracking && !discard_bm && (!in_log || incons || logrel));
	rs->rebase = discard || logrel || !in_log;
	/* a bitmap resync whose log restarts at this one's head must cover
	 * every record the peer lacks: from its head (behind, no longer in
	 * the log), or from the common point (an old primary). The bitmap
	 * may track from later than that: a promotion tracks a peer that is
	 * not connected from there, and the log may have let go of the
	 * peer's position meanwhile when no hold kept it (this node
	 * restarted as a secondary). Then nothing says what the peer lacks:
	 * every region. */
	if (!rs->full && rs->rebase && !discard_bm && !incons) {
		uint64_t need = logrel && p->common ? p->common : head;

		if (wbd_repl_bm_cover(p, need)) {
			wbd_warn("%s: peer %s: this node's bitmap of it tracks from later than seq "
				 "%llu, which the log no longer holds: every region",
				 rp->res, p->node, (unsigned long long)need);
			rs->full = true;
		}
	}
	if (discard_bm)
		rs->fork = p->common;
	wbd_info("%s: peer %s needs a %s (%s, its seq %llu, this log %llu..%llu)%s", rp->res,
		 p->node, rs->full ? "full sync" : "bitmap resync",
		 discard_bm ? dwhy
		 : discard  ? "it discards its data"
		 : incons_other
		     ? "its disk is Inconsistent from a resync another node was the source of"
		 : incons ? "its disk is Inconsistent"
		 : fresh  ? "its log is new"
		 : p->rel == REPL_REL_PEER_ROLLBACK
		     ? "rolled back: its records past the common point were never shared"
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

/* The peer's dirty bitmap as one bit per region (bi->nbits bits), or NULL
 * (out of memory). */
static uint8_t *src_bits(struct wbd_repl *rp, unsigned idx, const struct wb_bm_info *bi)
{
	uint64_t nbytes = (bi->nbits + 7) / 8, off;
	uint8_t *bits = calloc(1, nbytes ? nbytes : 1);

	if (!bits)
		return NULL;
	for (off = 0; !wb_engine_bm_next(rp->e, idx, off, &off); off += bi->region_size) {
		uint64_t b = off / bi->region_size;

		bits[b / 8] |= (uint8_t)(1u << (b % 8));
	}
	return bits;
}

/* Send the bitmap in chunks of RS_CHUNK_BYTES; 0 or -errno. */
static int src_send_bitmap(struct repl_peer *p, const uint8_t *bits, const struct wb_bm_info *bi,
			   uint64_t gen_head)
{
	struct repl_rs *rs = &p->rs;
	int ret = 0;

	for (uint64_t first = 0; first < bi->nbits && !ret;) {
		Wbrep__BitmapChunk c = WBREP__BITMAP_CHUNK__INIT;
		uint64_t n = bi->nbits - first;
		struct wbd_payload pl = {0};
		void *copy;

		if (n > (uint64_t)RS_CHUNK_BYTES * 8)
			n = (uint64_t)RS_CHUNK_BYTES * 8;
		c.region_bytes = bi->region_size;
		c.total_regions = bi->nbits;
		c.first_region = first;
		c.nregions = (uint32_t)n;
		c.has_last = 1;
		c.last = first + n == bi->nbits;
		c.has_seq = 1;
		c.seq = p->next;
		c.has_full = 1;
		c.full = rs->full;
		if (rs->rebase) {
			c.has_rebase_gen = 1;
			c.rebase_gen = gen_head;
		}
		if (rs->fork && rs->rebase && !rs->full) {
			/* lower only marks more on the target */
			c.has_fork_seq = 1;
			c.fork_seq = rs->fork < c.seq ? rs->fork : c.seq;
		}
		pl.len = (n + 7) / 8;
		copy = malloc(pl.len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, bits + first / 8, pl.len);
		pl.data = copy;
		pl.put = free_cb;
		pl.cookie = copy;
		ret = wbd_peerlink_send(p->l, WBP_T_BITMAP, &c.base, &pl);
		if (ret)
			free(copy);
		first += n;
	}
	return ret;
}

/* The link came up and the hello decided a resync: send the bitmap. */
void wbd_repl_rs_source_up(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs *rs = &p->rs;
	struct wb_engine_stats st;
	struct wb_bm_info bi;
	uint8_t *bits;
	uint64_t dirty;
	int ret;

	rs->want = false;
	if (wb_engine_stats(rp->e, &st) || wb_engine_bm_info(rp->e, p->slot, &bi))
		return;
	if (rs->full) {
		ret = wb_engine_bm_mark(rp->e, p->slot, 0, st.size);
		if (ret) {
			wbd_peerlink_drop(p->l, ret, "cannot mark the bitmap for a full sync");
			return;
		}
	}
	if (rs->rebase) {
		p->next = rp->shipped_next;
		p->acked_mem = p->acked_wr = p->acked_dur = p->next;
		wbd_repl_log_hold(p, p->next);
	}
	/* tracking (durably) until the target finished: a crash or a drop
	 * keeps what is left and what is written meanwhile */
	wbd_repl_bm_track(p, p->next);
	wb_engine_bm_info(rp->e, p->slot, &bi);
	bits = src_bits(rp, p->slot, &bi);
	rs->src = calloc(1, sizeof(*rs->src));
	if (!bits || !rs->src) {
		free(bits);
		free(rs->src);
		rs->src = NULL;
		wbd_peerlink_drop(p->l, -ENOMEM, "out of memory");
		return;
	}
	dirty = wbd_repl_rs_popcount(bits, bi.nbits);
	ret = src_send_bitmap(p, bits, &bi, st.gen_head);
	free(bits);
	if (ret) {
		src_free(p);
		wbd_peerlink_drop(p->l, ret, "sending the bitmap failed");
		return;
	}
	rs->state = REPL_RS_SOURCE;
	rs->src->region = bi.region_size;
	rs->src->dev_size = st.size;
	rs->total = dirty * bi.region_size;
	if (rs->total > st.size)
		rs->total = st.size;
	rs->done = 0;
	rs->t0_ms = wb_now_ms();
	wbd_event(rp->res, "resync", NULL, NULL,
		  "resync to peer %s started: %s, %llu bytes (%llu regions of %u), records from "
		  "seq %llu",
		  p->node, rs->full ? "full sync" : "bitmap", (unsigned long long)rs->total,
		  (unsigned long long)dirty, bi.region_size, (unsigned long long)p->next);
	wbd_repl_rs_clock_start(p);
	wbd_repl_peers_check(rp, false);
}

/* A record goes to p: reads of p in flight that overlap it are stale. */
void wbd_repl_rs_sent(struct repl_peer *p, const struct wb_record *rec)
{
	struct repl_rs_src *s = p->rs.src;

	if (!s)
		return;
	/* reported ranges it overlaps stay until it is durable there */
	for (unsigned k = 0; k < s->npend; k++)
		for (uint32_t i = 0; i < rec->nextents; i++)
			if (rec->ext[i].lba * WBP_BLOCK_SIZE < s->pend[k].off1 &&
			    s->pend[k].off0 <
				(rec->ext[i].lba + rec->ext[i].nblocks) * WBP_BLOCK_SIZE) {
				if (s->pend[k].needed < rec->seq + 1)
					s->pend[k].needed = rec->seq + 1;
				break;
			}
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
	d.has_crc = q->has_crc; /* a checksum resync's; nobody reads it else */
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
		wbd_repl_rs_buf_put(buf, (size_t)q->nblocks * WBP_BLOCK_SIZE);
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

	/* this node's disk could not read the range: another UpToDate peer
	 * may (repl_peerread.c; the target is not one, it is being
	 * resynced). The read stays in flight meanwhile, so a record of the
	 * range shipped before the answer makes it stale as usual; rd_done
	 * runs again with the outcome. Without: the target gave up, came
	 * back and asked for the same range for ever. */
	if (err && !r->peer_tried && r->epoch == p->epoch && s && p->rs.state == REPL_RS_SOURCE) {
		r->peer_tried = true;
		if (wbd_repl_read_peer(rp, wr, err, rd_done))
			return;
	}
	rp->applying--;
	if (r->epoch != p->epoch || !s || p->rs.state != REPL_RS_SOURCE) {
		wbd_repl_rs_buf_put(r->buf, (size_t)r->q.nblocks * WBP_BLOCK_SIZE);
		free(r);
		return;
	}
	rd_unlink(s, r);
	s->reads--;
	if (err) {
		wbd_err("%s: peer %s: resync read of blocks %llu+%u: %s", rp->res, p->node,
			(unsigned long long)r->q.lba, r->q.nblocks, strerror(-err));
		wbd_repl_rs_buf_put(r->buf, (size_t)r->q.nblocks * WBP_BLOCK_SIZE);
		ret = send_rsdata(p, &r->q, -err, false, NULL, 0);
	} else if (r->stale || !p->live || p->next < r->s0) {
		/* a record of the range went out meanwhile, or records older
		 * than the read are still to be sent: read again later */
		wbd_repl_rs_buf_put(r->buf, (size_t)r->q.nblocks * WBP_BLOCK_SIZE);
		q_push_front(s, &r->q);
	} else {
		/* only a checksum resync compares it: one pass over each MiB
		 * less on this engine loop otherwise */
		crc =
		    r->q.has_crc ? wb_crc32c(0, r->buf, (size_t)r->q.nblocks * WBP_BLOCK_SIZE) : 0;
		if (r->q.has_crc && r->q.crc == crc) {
			wbd_repl_rs_buf_put(r->buf, (size_t)r->q.nblocks * WBP_BLOCK_SIZE);
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
			r->buf = wbd_repl_rs_buf_get((size_t)s->q[s->qh].nblocks * WBP_BLOCK_SIZE);
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
			wbd_repl_rs_buf_put(r->buf, (size_t)r->q.nblocks * WBP_BLOCK_SIZE);
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

static void pend_flushed(void *arg, int err)
{
	struct repl_peer *p = arg;

	p->rp->applying--;
	if (err)
		wbd_err("%s: peer %s: writing its bitmap (resync progress) failed: %s", p->rp->res,
			p->node, strerror(-err));
}

/* Clear the reported ranges whose records are durable on the target: the
 * target holds their data (resync answers flushed, records in its log),
 * so a resync after an interruption skips them.
 *
 * Why it is safe: the bitmap tracks, so every record marks its regions
 * when it is sealed. A range's bits go only when (a) the peer is live and
 * has been sent every record sealed so far (seq_head == shipped_next ==
 * p->next: no sealed record exists that wbd_repl_rs_sent did not see) and
 * (b) it acked durable every record below `needed`, which covers the
 * records sent before the report and every later one overlapping the
 * range. A record sealed after the clear marks its regions again. */
static void pend_clear(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_src *s = p->rs.src;
	struct wb_engine_stats st;
	unsigned k, n = 0;
	uint64_t bytes = 0, top = 0;
	int ret;

	if (!s || !s->npend || !p->live || p->next != rp->shipped_next)
		return;
	for (k = 0; k < s->npend && p->acked_dur < s->pend[k].needed; k++)
		;
	if (k == s->npend)
		return;
	if (wb_engine_stats(rp->e, &st) || st.seq_head != rp->shipped_next)
		return;
	for (k = 0; k < s->npend; k++) {
		struct rs_pend *e = &s->pend[k];

		if (p->acked_dur < e->needed) {
			s->pend[n++] = *e;
			continue;
		}
		ret = wb_engine_bm_clear(rp->e, p->slot, e->off0, e->off1 - e->off0);
		if (ret) {
			wbd_err("%s: peer %s: clearing resynced regions: %s", rp->res, p->node,
				strerror(-ret));
			s->pend[n++] = *e;
			continue;
		}
		bytes += e->off1 - e->off0;
		top = e->off1 > top ? e->off1 : top;
	}
	s->npend = n;
	if (!bytes)
		return;
	s->cleared += bytes;
	wbd_debug("%s: peer %s: resync progress kept up to byte %llu of the device (%llu bytes "
		  "of it left its bitmap for good)",
		  rp->res, p->node, (unsigned long long)top, (unsigned long long)s->cleared);
	/* persisted now, so that a crash of this node keeps the progress too */
	ret = wb_engine_bm_flush(rp->e, pend_flushed, p);
	if (!ret)
		rp->applying++; /* wbd_repl_free waits for it */
	else
		wbd_err("%s: peer %s: writing its bitmap: %s", rp->res, p->node, strerror(-ret));
}

/* The peer acked more records durable. */
void wbd_repl_rs_acked(struct repl_peer *p)
{
	if (p->rs.state == REPL_RS_SOURCE)
		pend_clear(p);
}

/* The target says every range it asked for below lba is durable there. */
static void src_progress(struct repl_peer *p, uint64_t lba)
{
	struct repl_rs_src *s = p->rs.src;
	uint64_t off = lba * WBP_BLOCK_SIZE;

	if (off >= s->dev_size)
		off = s->dev_size;
	else
		off -= off % s->region;
	if (off <= s->wm)
		return;
	if (s->npend == RS_PEND_MAX) {
		/* adjacent: one range, the later requirement */
		s->pend[0].off1 = s->pend[1].off1;
		if (s->pend[0].needed < s->pend[1].needed)
			s->pend[0].needed = s->pend[1].needed;
		memmove(&s->pend[1], &s->pend[2], (RS_PEND_MAX - 2) * sizeof(s->pend[0]));
		s->npend--;
	}
	s->pend[s->npend++] =
	    (struct rs_pend){.off0 = s->wm, .off1 = off, .needed = p->rp->shipped_next};
	s->wm = off;
	pend_clear(p);
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
	if (m->has_durable_below)
		src_progress(p, m->durable_below);
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
	wbd_repl_rs_event(p, "to", "finished");
	wbd_info("%s: peer %s: %llu regions resynced, %llu bytes written, %llu bytes were "
		 "identical",
		 rp->res, p->node, (unsigned long long)m->regions, (unsigned long long)m->bytes,
		 (unsigned long long)m->same);
	src_free(p);
	wbd_repl_rs_bufs_trim();
	p->rs.state = REPL_RS_NONE;
	/* the bitmap goes once every record sent so far is durable there */
	p->clear_at = rp->shipped_next;
	p->clear_rs = true;
	wbd_repl_bm_ack(p);
	wbd_repl_peers_check(rp, false);
	work_kick(rp);
}

/* ==== both ==== */

bool wbd_repl_rs_frame(struct repl_peer *p, const struct wbp_msg *m, void *data)
{
	switch (m->type) {
	case WBP_T_BITMAP:
		wbd_repl_rs_on_bitmap(p, m->bitmap, data);
		return true;
	case WBP_T_RESYNC_REQ:
		on_rsreq(p, m->rsreq);
		return true;
	case WBP_T_RESYNC_DATA:
		wbd_repl_rs_on_data(p, m->rsdata, data);
		return true;
	case WBP_T_RESYNC_DONE:
		on_rsdone(p, m->rsdone);
		return true;
	case WBP_T_PEER_STATE:
		on_peer_state(p, m->pstate);
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

	if (p->rs.state == REPL_RS_SOURCE) {
		wbd_repl_rs_event(p, "to", "interrupted");
		if (p->rs.src && p->rs.src->cleared)
			wbd_info("%s: peer %s: %llu bytes of the device are done for good (a "
				 "resync resumes after them), the rest stays in its bitmap",
				 rp->res, p->node, (unsigned long long)p->rs.src->cleared);
	} else if (p->rs.state == REPL_RS_TARGET)
		wbd_repl_rs_event(p, "from", "interrupted");
	src_free(p);
	wbd_repl_rs_tgt_free(p);
	wbd_repl_rs_bufs_trim();
	p->rs.state = REPL_RS_NONE;
	if (rp->rs_peer == p)
		rp->rs_peer = NULL;
}

void wbd_repl_set_resync(struct wbd_repl *rp, uint64_t rate, uint64_t min_rate, uint32_t delay_ms,
			 bool checksum, const char *after, const char *before_target)
{
	char *b = before_target ? strdup(before_target) : NULL;

	if (!rp) {
		free(b);
		return;
	}
	free(rp->rs_before);
	rp->rs_before = b;
	snprintf(rp->rs_after, sizeof(rp->rs_after), "%s", after ? after : "");
	rp->rs_delay_ms = delay_ms; /* the next answer's look at the window */
	if (rate != rp->rs_rate || min_rate != rp->rs_min_rate) {
		rp->rs_rate = rate;
		rp->rs_min_rate = min_rate;
		for (unsigned i = 0; i < rp->npeers; i++)
			wbd_repl_rs_rate_changed(&rp->peers[i]);
	}
	rp->rs_checksum = checksum;
}
