// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl_synctarget.c - the sync target's side of a resync (the secondary;
 * docs/replication.md, "Resync"; the source's side, the frame dispatch
 * and the status are in repl_resync.c).
 *
 * On the bitmap it marks itself Inconsistent durably (a marker data UUID),
 * drains and rebases its log to the source's seq if told to, then asks for
 * every dirty region (with its own crc32c when resync-checksum = yes) at
 * most RS_INFLIGHT requests at a time, within resync-rate, and writes the
 * answers straight to its backing device. A record that arrives while such
 * writes are in flight waits for them (a later destage of the record must
 * not be overtaken by an older resync write). Its resume point (every range
 * asked for below it written and flushed) goes to the source with the next
 * request at least every RS_CKPT_BYTES or RS_CKPT_MS, so that the source
 * drops those regions from its bitmap and an interrupted resync resumes.
 * At the end: backing flush, the source's UUIDs adopted (UpToDate),
 * resync-done.
 *
 * Owns: struct repl_rs_tgt (p->rs.tgt; freed at the end, at a link drop,
 * wbd_repl_rs_tgt_free) and the I/O contexts (struct rs_tio) that may
 * outlive it (they check the peer's epoch).
 *
 * Threads: the resource's event base (= the engine thread).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "daemon/events.h"
#include "daemon/handler.h"
#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"
#include "engine/byteorder.h"
#include "engine/io.h"

#define RS_CKPT_BYTES (16u << 20) /* resume point at least this often */
#define RS_CKPT_MS    1000	  /* ... or after this long */

static bool bit_get(const uint8_t *b, uint64_t i)
{
	return (b[i / 8] >> (i % 8)) & 1;
}

struct rs_treq {
	bool used; /* asked, no answer yet */
	bool busy; /* asked, its data not written yet (the slot is taken) */
	uint64_t id, lba;
	uint32_t nblocks;
	uint64_t sent_us; /* when it went out (c-delay-target); 0: not yet */
};

/* c-delay-target, the resync's delay controller ("Resync" in
 * docs/replication.md): the bytes asked for and not answered yet are held
 * to a window; every answer's time (request sent -> data in) less the
 * shortest of the last RS_BASE_MS or two (what the link and the source's
 * read take with nothing queued) is the queueing the resync adds on the
 * link, before every application record behind it. Below the target the
 * window grows by one request per window's worth of answers (from 2
 * requests: a fast link is full within a few round trips); above it, it
 * shrinks to 3/4, once per answer time, never below one request, so a
 * resync always moves and takes the link back when the queue is gone. */
#define RS_BASE_MS	 5000
#define RS_WIN_MIN(maxb) (maxb)
#define RS_WIN_MAX(maxb) ((uint64_t)RS_INFLIGHT * (maxb))

struct repl_rs_tgt {
	uint8_t *bits; /* the source's bitmap; a region's bit is cleared when asked */
	uint64_t nregions, got;
	uint32_t region;
	uint64_t seq, gen;
	uint64_t fork; /* a discard: this node's records from here on too (0: none) */
	bool rebase, full, marked, ready, finishing;
	int saved_mode;
	/* before-resync-target: none run yet, the log draining, the program
	 * running (its end is told with p), done, failed (the link stops);
	 * the disk state before this resync (back to it when it failed) */
	enum { TH_NONE, TH_DRAIN, TH_RUNNING, TH_DONE, TH_FAILED } hstate;
	enum repl_disk disk_before;
	uint64_t cursor, next_id;
	unsigned inflight; /* requests whose answer is not written yet */
	struct rs_treq req[RS_INFLIGHT];
	uint64_t regions, bytes, same;
	/* resume point (durable_below): flushed up to ckpt, told up to ckpt_sent */
	uint64_t ckpt, ckpt_sent, ckpt_ms;
	bool ckpt_flushing;
	/* resync-rate */
	uint64_t tokens, tok_ms;
	struct event *timer;
	/* c-delay-target: the window (bytes), what is asked and not answered,
	 * the shortest answer time in this RS_BASE_MS bucket and the last one
	 * (base_t: this one's start), the last queueing seen, the last cut */
	uint64_t win, asked;
	uint64_t base_us[2], base_t, queue_us, cut_us;
	unsigned cuts;
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

void wbd_repl_rs_tgt_free(struct repl_peer *p)
{
	struct repl_rs_tgt *t = p->rs.tgt;

	if (!t)
		return;
	if (!t->ready)
		wbd_peerlink_pause_rx(p->l, false);
	if (t->timer)
		event_free(t->timer);
	if (!t->ready && t->saved_mode >= 0)
		wb_engine_set_mode(p->rp->e, (enum wb_mode)t->saved_mode);
	if (t->hstate == TH_RUNNING) /* the program runs on, not waited for */
		wbd_handler_forget(p->rp->env ? p->rp->env->handler : NULL, p);
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

static void tgt_undiscard(struct wbd_repl *rp);

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
		if (rp->discard)
			tgt_undiscard(rp);
	}
	if (t->saved_mode >= 0)
		wb_engine_set_mode(rp->e, (enum wb_mode)t->saved_mode);
	t->saved_mode = -1;
	if (rp->sync_target < t->seq)
		rp->sync_target = t->seq;
	/* resync data goes straight to backing: no snapshot is exact now
	 * (docs/snapshots.md), until the resync is done */
	wb_engine_snap_fence(rp->e, 1);
	t->ready = true;
	t->tok_ms = wb_now_ms();
	wbd_peerlink_pause_rx(p->l, false);
	tgt_pump(p);
}

static void tgt_drain_start(struct repl_peer *p);

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
	if (p->rs.tgt->rebase)
		tgt_drain_start(p);
	tgt_rebase(p);
}

/* The marker; with --discard-my-data byte 8 says so too (RS_MARK_DISCARD),
 * so that a restart before the log was rebased still discards (its old
 * records must not be caught up on as if they were the source's); bytes
 * 12..15 name the source src (wbd_repl_rs_src_tag): another node that
 * becomes this one's primary before the resync finished does not know
 * what it had not done yet, and copies everything. */
static int tgt_mark(struct wbd_repl *rp, const char *src)
{
	struct wb_meta m = rp->meta;

	if (!rp->has_meta || (wbd_repl_rs_marked_by(m.data_uuid, src) &&
			      (m.data_uuid[8] == RS_MARK_DISCARD) == rp->discard)) {
		tgt_marked(rp, 0);
		return 0;
	}
	if (!wbd_repl_rs_marked(m.data_uuid) && getrandom(m.data_uuid, 6, 0) != 6)
		return -EIO;
	m.data_uuid[6] = RS_MARK0;
	m.data_uuid[7] = RS_MARK1;
	memset(m.data_uuid + 8, 0, 8);
	if (rp->discard)
		m.data_uuid[8] = RS_MARK_DISCARD;
	wb_store_le32(m.data_uuid + 12, wbd_repl_rs_src_tag(src));
	return wbd_repl_uuid_set(rp, &m, tgt_marked);
}

static void undiscarded(struct wbd_repl *rp, int err)
{
	if (!err)
		rp->discard = false;
}

/* The log was rebased: it holds nothing of this node's own any more, so a
 * later resync may resume from the source's bitmap instead of starting a
 * full sync again. Best effort: if the marker cannot be rewritten now the
 * node keeps discarding (a full sync again: safe). */
static void tgt_undiscard(struct wbd_repl *rp)
{
	struct wb_meta m = rp->meta;

	if (!rp->has_meta || !wbd_repl_rs_marked(m.data_uuid) ||
	    m.data_uuid[8] != RS_MARK_DISCARD) {
		rp->discard = false;
		return;
	}
	m.data_uuid[8] = 0;
	if (wbd_repl_uuid_set(rp, &m, undiscarded))
		wbd_info("%s: still discarding this node's data: a resync after an interruption "
			 "is a full one",
			 rp->res);
}

/* The log must empty (tgt_rebase, tgt_handler_done): no hold keeps
 * records, destage runs (write-through until the mode is given back). */
static void tgt_drain_start(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;

	for (unsigned i = 0; i < rp->npeers; i++) {
		wb_engine_set_peer_pos(rp->e, rp->peers[i].slot, 0);
		rp->peers[i].hold = 0;
	}
	if (p->rs.tgt->saved_mode < 0 && !wb_engine_stats(rp->e, &st)) {
		p->rs.tgt->saved_mode = (int)st.mode;
		wb_engine_set_mode(rp->e, WB_MODE_WRITETHROUGH);
	}
}

/* the log holds no record: the backing device has all of this node's data
 * (else looked at again in 20 ms) */
static bool tgt_drained(struct repl_peer *p)
{
	struct wb_engine_stats st;

	if (wb_engine_stats(p->rp->e, &st) || st.dirty_bytes || st.seq_tail != st.seq_head) {
		tgt_arm(p, 20);
		return false;
	}
	return true;
}

static void tgt_try_mark(struct repl_peer *p);

/* before-resync-target did not end well (HOW): nothing changed yet (no
 * marker), the data is what it was; StandAlone until wbctl connect */
static void tgt_handler_failed(struct repl_peer *p, const char *how)
{
	struct wbd_repl *rp = p->rp;

	p->rs.tgt->hstate = TH_FAILED;
	rp->disk = p->rs.tgt->disk_before;
	snprintf(p->problem, sizeof(p->problem),
		 "before-resync-target %s: the resync did not start; StandAlone until wbctl "
		 "connect",
		 how);
	wbd_event(rp->res, "resync", NULL, NULL, "resync from %s: %s", p->node, p->problem);
	p->standalone = true;
	wbd_peerlink_stop(p->l);
}

/* before-resync-target of p ended (status as from waitpid) */
static void tgt_handler_exit(int status, void *arg)
{
	struct repl_peer *p = arg;
	struct repl_rs_tgt *t = p->rs.tgt;
	char how[64];

	if (!t || t->hstate != TH_RUNNING) /* cannot happen: a freed target forgets it */
		return;
	if (status == 0) {
		wbd_info("%s: resync from %s: before-resync-target exited 0", p->rp->res, p->node);
		t->hstate = TH_DONE;
		tgt_try_mark(p);
		return;
	}
	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "was killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	tgt_handler_failed(p, how);
}

/*
 * before-resync-target (DRBD's): before this node, a sync target, changes
 * anything, its data as it is now, all of it on the backing device (the
 * log drained into it), goes to a program (an LVM snapshot of the backing
 * device, say) that is waited for: exit 0 and the resync goes on; any
 * other end and the link stops (StandAlone), nothing changed. true: go
 * on now; false: looked at again later (timer, the program's end).
 */
static bool tgt_handler_done(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;
	char e_kind[64], e_res[96], e_peer[96], e_back[4200], what[200];
	char *vars[] = {e_kind, e_res, e_peer, e_back, NULL};
	char *argv[4];
	int ret;

	if (t->hstate == TH_NONE && (!rp->rs_before || !rp->env || !rp->env->handler))
		t->hstate = TH_DONE;
	if (t->hstate == TH_DONE)
		return true;
	if (t->hstate == TH_RUNNING || t->hstate == TH_FAILED)
		return false;
	if (t->hstate == TH_NONE) {
		wbd_info("%s: resync from %s: the log drains before before-resync-target", rp->res,
			 p->node);
		tgt_drain_start(p);
		t->hstate = TH_DRAIN;
	}
	if (!tgt_drained(p))
		return false;
	snprintf(e_kind, sizeof(e_kind), "WB_EVENT_KIND=before-resync-target");
	snprintf(e_res, sizeof(e_res), "WB_RESOURCE=%s", rp->res);
	snprintf(e_peer, sizeof(e_peer), "WB_PEER=%s", p->node);
	snprintf(e_back, sizeof(e_back), "WB_BACKING=%s", rp->backing_path);
	snprintf(what, sizeof(what), "%s: resync from %s: before-resync-target", rp->res, p->node);
	argv[0] = rp->rs_before;
	argv[1] = rp->res;
	argv[2] = p->node;
	argv[3] = NULL;
	ret =
	    wbd_handler_run(rp->env->handler, rp->rs_before, argv, vars, what, tgt_handler_exit, p);
	if (ret == -EAGAIN) { /* all slots taken: again in a second */
		tgt_arm(p, 1000);
		return false;
	}
	if (ret) {
		snprintf(what, sizeof(what), "could not run (%s)", strerror(-ret));
		tgt_handler_failed(p, what);
		return false;
	}
	t->hstate = TH_RUNNING;
	wbd_event(rp->res, "resync", NULL, NULL,
		  "resync from %s: waiting for before-resync-target %s (the log is drained: the "
		  "backing device has this node's data)",
		  p->node, rp->rs_before);
	return false;
}

bool wbd_repl_rs_hooked(const struct repl_peer *p)
{
	return p->rs.state == REPL_RS_TARGET && p->rs.tgt &&
	       (p->rs.tgt->hstate == TH_DRAIN || p->rs.tgt->hstate == TH_RUNNING);
}

static void tgt_try_mark(struct repl_peer *p)
{
	int ret;

	if (!tgt_handler_done(p))
		return;
	ret = tgt_mark(p->rp, p->node);

	if (ret == -EBUSY) /* another UUID update runs: again shortly */
		tgt_arm(p, 20);
	else if (ret)
		tgt_fail(p, ret, "cannot mark this node's data Inconsistent");
}

/* ---- a roll-back: this node's own records past the common point ---- */

/* Its own bitmap of p (the blocks of its records past the common point
 * when rolled back; when it was primary, what p lacked): resynced from p
 * too. Kept until the resync finished (a crash in between finds it
 * again). */
static void own_union(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;
	struct wb_engine_stats st;
	struct wb_bm_info bi;
	uint64_t off, n = 0;

	if (!rp->bm_region || !t->region || wb_engine_bm_info(rp->e, p->slot, &bi) ||
	    !bi.region_size)
		return;
	for (off = 0; !wb_engine_bm_next(rp->e, p->slot, off, &off); off += bi.region_size) {
		uint64_t a = off / t->region, b = (off + bi.region_size - 1) / t->region;

		for (; a <= b && a < t->nregions; a++)
			if (!bit_get(t->bits, a)) {
				t->bits[a / 8] |= (uint8_t)(1u << (a % 8));
				n++;
			}
	}
	if (!n)
		return;
	p->rs.total = wbd_repl_rs_popcount(t->bits, t->nregions) * t->region;
	if (!wb_engine_stats(rp->e, &st) && p->rs.total > st.size)
		p->rs.total = st.size;
	wbd_info("%s: resync from %s: %llu more regions that this node's own bitmap of it "
		 "marks",
		 rp->res, p->node, (unsigned long long)n);
}

static void tgt_try_mark(struct repl_peer *p);

struct own_ctx {
	struct repl_peer *p;
	uint64_t epoch;
	bool stop; /* the tracking stopped: nothing more to do */
};

static void own_done(void *arg, int err)
{
	struct own_ctx *c = arg;
	struct repl_peer *p = c->p;
	struct wbd_repl *rp = p->rp;
	int ret;

	rp->applying--;
	if (c->stop || c->epoch != p->epoch || !p->rs.tgt || p->rs.state != REPL_RS_TARGET) {
		free(c);
		return;
	}
	if (err) {
		free(c);
		tgt_fail(p, err, "cannot mark the blocks of this node's own records");
		return;
	}
	/* marked durably: no more tracking (records from p do not mark it);
	 * the flag too: a promotion later must start tracking p again */
	c->stop = true;
	p->tracking = false;
	ret = wb_engine_bm_track(rp->e, p->slot, 0, own_done, c);
	if (ret)
		free(c);
	else
		rp->applying++;
	own_union(p);
	/* like --discard-my-data until the log is rebased (the marker's
	 * RS_MARK_DISCARD): killed before, it comes back discarding (a full
	 * sync with a rebase), never caught up past its own records */
	rp->discard = true;
	tgt_try_mark(p);
}

/*
 * A roll-back (REPL_REL_ME_ROLLBACK): the blocks of this node's records
 * from the common point on go into its own bitmap of p, durably, before
 * anything changes (the log restarts later, a crash in between finds
 * them); every region of it when those records are no longer in the log.
 * 0, or -errno (the caller fails the resync).
 */
static int own_mark(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;
	struct own_ctx *c;
	int ret;

	if (!rp->bm_region || wb_engine_bm_info(rp->e, p->slot, &(struct wb_bm_info){0})) {
		p->rs.tgt->full = true; /* nothing says where: every region */
		memset(p->rs.tgt->bits, 0xff, (p->rs.tgt->nregions + 7) / 8);
		for (uint64_t b = p->rs.tgt->nregions; b < (p->rs.tgt->nregions + 7) / 8 * 8; b++)
			p->rs.tgt->bits[b / 8] &= (uint8_t) ~(1u << (b % 8));
		p->rs.total = p->rs.tgt->nregions * p->rs.tgt->region;
		rp->discard = true; /* as in own_done */
		tgt_try_mark(p);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->p = p;
	c->epoch = p->epoch;
	ret = wb_engine_bm_track(rp->e, p->slot, p->common ? p->common : 1, own_done, c);
	if (ret == -ENOENT) {
		wbd_warn("%s: %s from seq %llu, no longer in this log: every region is resynced "
			 "from %s",
			 rp->res, rp->discard ? "discarding its records" : "rolled back",
			 (unsigned long long)p->common, p->node);
		ret = wb_engine_stats(rp->e, &st) ?: wb_engine_bm_mark(rp->e, p->slot, 0, st.size);
		if (!ret)
			ret = wb_engine_bm_flush(rp->e, own_done, c);
	}
	if (ret) {
		free(c);
		return ret;
	}
	rp->applying++;
	wbd_info("%s: %s: the blocks of this node's records from seq %llu on are resynced from %s",
		 rp->res, rp->discard ? "discarding its data" : "rolled back",
		 (unsigned long long)p->common, p->node);
	return 0;
}

void wbd_repl_rs_on_bitmap(struct repl_peer *p, const Wbrep__BitmapChunk *m, const void *data)
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
		t->fork = m->has_fork_seq ? m->fork_seq : 0;
		t->saved_mode = -1;
		t->ckpt_ms = wb_now_ms();
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
	rs->total = wbd_repl_rs_popcount(t->bits, t->nregions) * t->region;
	{
		struct wb_engine_stats st;

		if (!wb_engine_stats(rp->e, &st) && rs->total > st.size)
			rs->total = st.size;
	}
	rs->done = 0;
	rs->t0_ms = wb_now_ms();
	rp->rs_peer = p;
	t->disk_before = rp->disk;
	rp->disk = REPL_DISK_INCONSISTENT;
	wbd_event(rp->res, "resync", NULL, NULL,
		  "resync from %s started: %s, %llu bytes, records from seq %llu%s%s", p->node,
		  t->full ? "full sync" : "bitmap", (unsigned long long)rs->total,
		  (unsigned long long)t->seq, t->rebase ? " (log restarts there)" : "",
		  rp->rs_checksum ? ", checksums" : "");
	wbd_repl_rs_clock_start(p);
	/* nothing more (records) until the marker is durable and the log
	 * is where the source's records continue */
	wbd_peerlink_pause_rx(p->l, true);
	/* a roll-back, or a discard the source sent a fork point for (not a
	 * full sync): the blocks of this node's own records from there too */
	if ((p->rel == REPL_REL_ME_ROLLBACK && !rp->discard) ||
	    (rp->discard && t->fork && !t->full)) {
		int ret;

		if (rp->discard)
			p->common = t->fork;
		ret = own_mark(p);

		if (ret)
			tgt_fail(p, ret, "cannot mark the blocks of this node's own records");
		return;
	}
	own_union(p);
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
	if (p->rs.tgt->ckpt > p->rs.tgt->ckpt_sent) {
		r.has_durable_below = 1;
		r.durable_below = p->rs.tgt->ckpt;
	}
	q->sent_us = wb_now_ns() / 1000;
	ret = wbd_peerlink_send(p->l, WBP_T_RESYNC_REQ, &r.base, NULL);
	if (!ret && r.has_durable_below)
		p->rs.tgt->ckpt_sent = r.durable_below;
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
	wbd_repl_rs_buf_put(io->buf, (size_t)io->q.nblocks * WBP_BLOCK_SIZE);
	free(io);
}

static void tgt_finish(struct repl_peer *p);

/* A flush of the backing device; done(io) gets io->q.lba = lba. 0, or the
 * link was dropped (-errno). */
static int tgt_flush(struct repl_peer *p, uint64_t lba, void (*done)(struct wb_io_req *, int))
{
	struct rs_tio *io = calloc(1, sizeof(*io));
	int ret;

	if (!io) {
		tgt_fail(p, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	io->p = p;
	io->epoch = p->epoch;
	io->q.lba = lba;
	io->io.op = WB_IO_FLUSH;
	io->io.done = done;
	io->io.priv = io;
	ret = wb_io_submit(p->rp->backing, &io->io);
	if (ret) {
		free(io);
		tgt_fail(p, ret, "cannot flush the backing device");
		return ret;
	}
	p->rp->applying++;
	return 0;
}

static void ckpt_done(struct wb_io_req *io_req, int res)
{
	struct rs_tio *io = io_req->priv;
	struct repl_peer *p = io->p;
	struct repl_rs_tgt *t = p->rs.tgt;

	p->rp->applying--;
	if (io->epoch == p->epoch && t) {
		t->ckpt_flushing = false;
		if (res < 0) {
			tgt_fail(p, res, "flushing the backing device failed");
		} else {
			/* told to the source with the next request */
			t->ckpt = io->q.lba;
			t->ckpt_ms = wb_now_ms();
		}
	}
	free(io);
}

/* The resume point: every range asked for below it is written; once a
 * backing flush made that durable, the next request tells the source
 * (durable_below), which may then clear those regions for good. */
static void tgt_ckpt(struct repl_peer *p)
{
	struct repl_rs_tgt *t = p->rs.tgt;
	const struct wbp_limits *lim = wbd_peerlink_limits(p->l);
	uint64_t w = t->cursor, now = wb_now_ms();

	if (!t->ready || t->finishing || t->ckpt_flushing || !lim)
		return;
	for (unsigned i = 0; i < RS_INFLIGHT; i++)
		if (t->req[i].busy && t->req[i].lba < w)
			w = t->req[i].lba;
	if (w > lim->dev_blocks)
		w = lim->dev_blocks;
	if (w <= t->ckpt ||
	    ((w - t->ckpt) * WBP_BLOCK_SIZE < RS_CKPT_BYTES && now - t->ckpt_ms < RS_CKPT_MS))
		return;
	if (!tgt_flush(p, w, ckpt_done))
		t->ckpt_flushing = true;
}

/* The next range to ask for from the cursor on: the first dirty region at
 * or after it, extended along the run of dirty regions up to one request
 * (maxb bytes) or the device end. false: none left (cursor at the end). */
static bool tgt_next_range(struct repl_rs_tgt *t, uint64_t dev, uint64_t maxb, uint64_t *first,
			   uint64_t *lba, uint64_t *end)
{
	uint64_t per = t->region / WBP_BLOCK_SIZE, b = t->cursor / per;

	/* cursor: the next block to look at; regions before it are asked for */
	while (b < t->nregions && !bit_get(t->bits, b))
		b = !(b % 8) && !t->bits[b / 8] ? b + 8 : b + 1;
	if (b >= t->nregions || b * per >= dev) {
		t->cursor = t->nregions * per;
		return false;
	}
	*first = b;
	*lba = t->cursor > b * per ? t->cursor : b * per;
	*end = *lba + maxb / WBP_BLOCK_SIZE;
	for (uint64_t k = b; k < t->nregions && bit_get(t->bits, k); k++)
		if ((k + 1) * per >= *end || (k + 1) * per >= dev) {
			break;
		} else if (k + 1 >= t->nregions || !bit_get(t->bits, k + 1)) {
			*end = (k + 1) * per;
			break;
		}
	if (*end > dev)
		*end = dev;
	return true;
}

/* resync-rate, or c-min-rate while application writes arrive (DRBD's
 * throttle for application I/O): a record with data within the last
 * RS_APP_MS cuts the rate to c-min-rate (when that is lower) */
#define RS_APP_MS 100
static uint64_t tgt_rate(struct repl_peer *p, uint64_t now)
{
	struct wbd_repl *rp = p->rp;
	bool app = rp->rs_min_rate && rp->app_ms && now - rp->app_ms < RS_APP_MS;

	p->rs.throttled = app && (!rp->rs_rate || rp->rs_rate > rp->rs_min_rate);
	return p->rs.throttled ? rp->rs_min_rate : rp->rs_rate;
}

/* Take nb blocks' worth of tokens at tgt_rate, or arm the timer for when
 * there are enough and say no */
static bool tgt_rate_take(struct repl_peer *p, uint64_t maxb, uint64_t nb)
{
	struct repl_rs_tgt *t = p->rs.tgt;
	uint64_t now = wb_now_ms(), cap, rate = tgt_rate(p, now);

	if (!rate) {
		t->tok_ms = now;
		return true;
	}
	cap = maxb > rate ? maxb : rate;
	t->tokens += (now - t->tok_ms) * rate / 1000;
	t->tok_ms = now;
	if (t->tokens > cap)
		t->tokens = cap;
	if (t->tokens < nb * WBP_BLOCK_SIZE) {
		uint64_t need = nb * WBP_BLOCK_SIZE - t->tokens;

		/* a throttled wait looks again when the writes may have stopped */
		need = need * 1000 / rate + 1;
		tgt_arm(p, (unsigned)(p->rs.throttled && need > RS_APP_MS ? RS_APP_MS : need));
		return false;
	}
	t->tokens -= nb * WBP_BLOCK_SIZE;
	return true;
}

/* the most bytes one request asks for */
static uint64_t tgt_maxb(const struct repl_peer *p)
{
	const struct wbp_limits *lim = wbd_peerlink_limits(p->l);

	return lim && lim->max_data < RS_REQ_MAX ? lim->max_data : RS_REQ_MAX;
}

/* The window, started at 2 requests (also when a reload turned the
 * controller on in the middle of a resync) and within its bounds for
 * requests of maxb bytes (the peer's limit may have changed) */
static uint64_t *tgt_win(struct repl_rs_tgt *t, uint64_t maxb)
{
	if (!t->win)
		t->win = 2 * maxb;
	if (t->win > RS_WIN_MAX(maxb))
		t->win = RS_WIN_MAX(maxb);
	if (t->win < RS_WIN_MIN(maxb))
		t->win = RS_WIN_MIN(maxb);
	return &t->win;
}

/* The delay controller's view of an answer to q (data, not a "same"):
 * its time against the base, the window moved by it (see RS_BASE_MS) */
static void tgt_delay_seen(struct repl_peer *p, const struct rs_treq *q, uint64_t maxb)
{
	struct repl_rs_tgt *t = p->rs.tgt;
	uint64_t now = wb_now_ns() / 1000, lat, base, target = (uint64_t)p->rp->rs_delay_ms * 1000;
	uint64_t s = (uint64_t)q->nblocks * WBP_BLOCK_SIZE, *win, inc;

	if (!q->sent_us || now < q->sent_us)
		return;
	lat = now - q->sent_us;
	if (!t->base_t || now - t->base_t >= RS_BASE_MS * 1000ull) {
		t->base_us[1] = t->base_t ? t->base_us[0] : lat;
		t->base_us[0] = lat;
		t->base_t = now;
	} else if (lat < t->base_us[0]) {
		t->base_us[0] = lat;
	}
	base = t->base_us[0] < t->base_us[1] ? t->base_us[0] : t->base_us[1];
	t->queue_us = lat - (lat < base ? lat : base);
	if (!target)
		return;
	win = tgt_win(t, maxb);
	if (t->queue_us > target) {
		/* once per answer time: the answers in flight at the cut saw
		 * the queue of before it */
		if (now - t->cut_us >= lat) {
			*win = *win * 3 / 4;
			t->cut_us = now;
			t->cuts++;
		}
	} else {
		inc = s * s / *win;
		*win += inc ? inc : 1;
	}
	tgt_win(t, maxb); /* back within the bounds */
}

/* May a request of nb blocks be asked for now (c-delay-target)? One is
 * always let through when nothing is asked. */
static bool tgt_window_room(struct repl_peer *p, uint64_t maxb, uint64_t nb)
{
	struct repl_rs_tgt *t = p->rs.tgt;

	if (!p->rp->rs_delay_ms)
		return true;
	return !t->asked || t->asked + nb * WBP_BLOCK_SIZE <= *tgt_win(t, maxb);
}

bool wbd_repl_rs_tgt_window(const struct repl_peer *p, uint64_t *win, uint64_t *queue_us)
{
	const struct repl_rs_tgt *t = p->rs.tgt;

	if (!t || !t->ready)
		return false;
	*win = p->rp->rs_delay_ms && t->win ? t->win : RS_WIN_MAX(tgt_maxb(p));
	*queue_us = t->queue_us;
	return true;
}

/* Regions wholly asked for (from first up to end) are done in the copy; at
 * the device end every region is. The cursor moves to end. */
static void tgt_mark_asked(struct repl_rs_tgt *t, uint64_t first, uint64_t end, uint64_t dev)
{
	uint64_t per = t->region / WBP_BLOCK_SIZE;

	for (uint64_t k = first; k < t->nregions && (k + 1) * per <= end; k++) {
		t->bits[k / 8] &= (uint8_t) ~(1u << (k % 8));
		t->regions++;
	}
	if (end >= dev)
		for (uint64_t k = first; k < t->nregions; k++)
			t->bits[k / 8] &= (uint8_t) ~(1u << (k % 8));
	t->cursor = end;
}

/* Send request q: plain, or with the checksum of what this node holds
 * (read first; a read that cannot start sends it plain). false: failed. */
static bool tgt_issue(struct repl_peer *p, struct rs_treq *q)
{
	struct wbd_repl *rp = p->rp;
	struct rs_tio *io;

	if (!rp->rs_checksum) {
		tgt_send_req(p, q, false, 0);
		return true;
	}
	io = calloc(1, sizeof(*io));
	if (io)
		io->buf = wbd_repl_rs_buf_get((size_t)q->nblocks * WBP_BLOCK_SIZE);
	if (!io || !io->buf) {
		free(io);
		tgt_fail(p, -ENOMEM, "out of memory for checksums");
		return false;
	}
	io->p = p;
	io->epoch = p->epoch;
	io->q = *q;
	if (wbd_repl_read_blocks(rp, &io->wr, q->lba, q->nblocks, io->buf, crc_done, io)) {
		wbd_repl_rs_buf_put(io->buf, (size_t)q->nblocks * WBP_BLOCK_SIZE);
		free(io);
		tgt_send_req(p, q, false, 0);
	} else {
		rp->applying++;
	}
	return true;
}

/* Ask for the next dirty ranges, RS_INFLIGHT requests at most, within the
 * window and the rate; finish once everything was asked for and written. */
static void tgt_pump(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;
	const struct wbp_limits *lim = wbd_peerlink_limits(p->l);
	uint64_t maxb = tgt_maxb(p);
	uint64_t dev = lim ? lim->dev_blocks : 0;

	if (!t || !t->ready || t->finishing)
		return;
	tgt_ckpt(p);
	/* resync-after: looked at again until the other resync is over */
	if (wbd_repl_rs_after_wait(p))
		tgt_arm(p, RS_AFTER_MS);
	/* paused (wbctl pause-sync): what is in flight completes, nothing
	 * more is asked for until wbd_repl_rs_poke */
	while (t->inflight < RS_INFLIGHT && !wbd_repl_rs_paused(p) && !p->rs.after_wait) {
		uint64_t first, lba, end;
		struct rs_treq *q = NULL;

		if (!tgt_next_range(t, dev, maxb, &first, &lba, &end))
			break;
		/* an answer makes room: tgt_pump runs again when its write is done */
		if (!tgt_window_room(p, maxb, end - lba))
			break;
		if (!tgt_rate_take(p, maxb, end - lba))
			return;
		for (unsigned i = 0; i < RS_INFLIGHT && !q; i++)
			if (!t->req[i].busy)
				q = &t->req[i];
		tgt_mark_asked(t, first, end, dev);
		*q = (struct rs_treq){.used = true,
				      .busy = true,
				      .id = ++t->next_id,
				      .lba = lba,
				      .nblocks = (uint32_t)(end - lba)};
		t->inflight++;
		t->asked += (uint64_t)q->nblocks * WBP_BLOCK_SIZE;
		if (!tgt_issue(p, q))
			return;
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

/* resync-rate was reloaded: a timer armed for the old rate (a request of
 * 1 MiB at 1K/s waits 17 min) fires now, so the next request is paced at
 * the new rate; a timer for other waits (rebase) only comes early. */
void wbd_repl_rs_rate_changed(struct repl_peer *p)
{
	struct repl_rs_tgt *t = p->rs.tgt;

	if (t && p->rs.state == REPL_RS_TARGET && t->timer && evtimer_pending(t->timer, NULL))
		wbd_repl_rs_poke(p);
}

/* A target looks again now (its timer fires at once): the rate changed,
 * or the resync was resumed (it asked for nothing while paused). */
void wbd_repl_rs_poke(struct repl_peer *p)
{
	struct repl_rs_tgt *t = p->rs.tgt;

	if (!t || p->rs.state != REPL_RS_TARGET)
		return;
	if (t->timer && evtimer_pending(t->timer, NULL))
		evtimer_del(t->timer);
	tgt_arm(p, 0);
}

static void wr_done(struct wb_io_req *io_req, int res)
{
	struct rs_tio *io = io_req->priv;
	struct repl_peer *p = io->p;
	struct wbd_repl *rp = p->rp;
	struct repl_rs_tgt *t = p->rs.tgt;

	rp->applying--;
	rp->rs_writes--;
	/* the link's receive buffer, from the pool (repl_link_ops.rx_buf) */
	wbd_repl_rs_buf_put(io->buf, (size_t)io->q.nblocks * WBP_BLOCK_SIZE);
	if (io->epoch == p->epoch && t) {
		if (res < 0) {
			tgt_fail(p, res, "writing resync data to the backing device failed");
		} else {
			for (unsigned i = 0; i < RS_INFLIGHT; i++)
				if (t->req[i].busy && t->req[i].id == io->q.id)
					t->req[i].busy = false;
			t->inflight--;
			t->bytes += (uint64_t)io->q.nblocks * WBP_BLOCK_SIZE;
			p->rs.done += (uint64_t)io->q.nblocks * WBP_BLOCK_SIZE;
			tgt_pump(p);
		}
	}
	free(io);
	/* a record waiting for resync writes: wbd_repl_after_run applies it */
}

void wbd_repl_rs_on_data(struct repl_peer *p, const Wbrep__ResyncData *m, void *data)
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
	t->asked -= t->asked < (uint64_t)q->nblocks * WBP_BLOCK_SIZE
			? t->asked
			: (uint64_t)q->nblocks * WBP_BLOCK_SIZE;
	if (m->has_code && m->code) {
		tgt_fail(p, -m->code, "the source could not read a range");
		return;
	}
	if (m->has_same && m->same) {
		q->busy = false;
		t->inflight--;
		t->same += (uint64_t)m->nblocks * WBP_BLOCK_SIZE;
		p->rs.done += (uint64_t)m->nblocks * WBP_BLOCK_SIZE;
		tgt_pump(p);
		return;
	}
	tgt_delay_seen(p, q, tgt_maxb(p));
	io = calloc(1, sizeof(*io));
	/* the link's receive buffer (aligned, wb_io_alloc): the write owns it */
	data = io ? wbd_peerlink_take_data(p->l) : NULL;
	if (!io || !data) {
		free(io);
		tgt_fail(p, -ENOMEM, "out of memory for resync data");
		return;
	}
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
	/* the next request goes when this write is done (wr_done): it
	 * carries a resume point that may cover this range */
}

static void done_adopted(struct wbd_repl *rp, int err)
{
	struct repl_peer *p = rp->rs_peer;
	Wbrep__ResyncDone d = WBREP__RESYNC_DONE__INIT;
	struct repl_rs_tgt *t;
	bool rebased;

	if (!p || !(t = p->rs.tgt) || p->rs.state != REPL_RS_TARGET)
		return;
	if (err) {
		tgt_fail(p, err, "cannot take the source's data UUIDs");
		return;
	}
	/* its own bitmap of p (own_union) is resynced: cleared (durable
	 * with the next bitmap write; a stale bit only resyncs more) */
	{
		struct wb_engine_stats st;

		if (rp->bm_region && !wb_engine_stats(rp->e, &st))
			wb_engine_bm_clear(rp->e, p->slot, 0, st.size);
	}
	d.regions = t->regions;
	d.has_bytes = d.has_same = 1;
	d.bytes = t->bytes;
	d.same = t->same;
	p->rs.done = p->rs.total;
	wb_engine_snap_fence(rp->e, 0); /* generations ending from now on are readable */
	if (rp->rs_delay_ms)
		wbd_info("%s: resync from %s: c-delay-target %u ms: the window was cut %u times, "
			 "%llu KiB at the end",
			 rp->res, p->node, rp->rs_delay_ms, t->cuts,
			 (unsigned long long)t->win / 1024);
	wbd_repl_rs_event(p, "from", "finished");
	rebased = t->rebase;
	wbd_repl_rs_tgt_free(p);
	wbd_repl_rs_bufs_trim();
	p->rs.state = REPL_RS_NONE;
	rp->rs_peer = NULL;
	rp->discard = false;
	rp->disk = REPL_DISK_OUTDATED;
	wbd_repl_disk_check(rp);
	/* the other secondaries learn this node's data and head anew */
	wbd_repl_secs_relink(rp, rebased);
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
	p->rs.tgt->finishing = true;
	tgt_flush(p, 0, flush_done);
}
