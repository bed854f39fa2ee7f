// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl.c - the replication glue of one resource (see repl.h,
 * docs/replication.md): hello contents and checks, the primary's sender
 * (ship hook -> record frames; catch-up through read_record), the
 * secondary's receiver (record frames -> apply_record -> acks), and the
 * per-peer positions shown in status.
 *
 * Primary, per peer: `next` is the next seq this peer gets. A peer is
 * "live" when next == the seq the ship hook gives next: records are sent
 * from the hook as they are placed. Otherwise (just connected behind, or
 * its send queue was full: -EAGAIN) it catches up: the work event reads
 * records back one at a time (read_record) and sends them until next
 * reaches the live head, then goes live again. The log keeps what a peer
 * has not acknowledged durable (set_peer_pos = its durable ack + 1),
 * within the engine's peer retention.
 *
 * Secondary: a record frame's data arrives in RAM-buffer pages of the
 * engine that the link's io loop filled and checked (peerlink.h
 * cfg.pagebuf), which apply_record takes without a copy (engine ABI 10),
 * or, when no page was free, in a buffer of its own that apply_record
 * copies into the engine; 0 -> Ack IN_MEMORY, done() ->
 * Ack DURABLE. -EAGAIN (RAM buffer full): the record is kept, the link
 * stops reading, and wbd_repl_after_run() retries after the engine ran.
 */
#include "daemon/repl.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/ioloop.h"
#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"
#include "engine/io.h"
#include "engine/pagebuf.h"
#include "engine/wbengine.h"
#include "proto/peerproto.h"

_Static_assert(WBP_REC_F_GEN_END == WB_REC_F_GEN_END, "record flags differ");
_Static_assert(WBP_REC_F_ZERO == WB_REC_F_ZERO, "record flags differ");

unsigned wbd_repl_npeers(const struct wbconf *conf, const struct wbconf_resource *r)
{
	unsigned n = 0;

	if (!conf->global.node_name || !wbconf_node_find(conf, conf->global.node_name))
		return 0;
	for (size_t i = 0; i < conf->nnodes; i++)
		if (strcmp(conf->nodes[i].name, conf->global.node_name) &&
		    (!r || wbconf_res_on_node(r, conf->nodes[i].name)))
			n++;
	return n;
}

/* ---- primary: ack gate ---- */

/* A peer's position at ack level `lvl` ('A' sent, 'B' in its RAM, 'W'
 * written to its log, 'C' durable in its log). */
static uint64_t peer_at(char lvl, const struct repl_peer *p)
{
	return lvl == 'A'   ? p->next
	       : lvl == 'B' ? p->acked_mem
	       : lvl == 'W' ? p->acked_wr
			    : p->acked_dur;
}

static uint64_t peer_level(const struct wbd_repl *rp, const struct repl_peer *p)
{
	return peer_at(rp->protocol, p);
}

/* The level a held queue waits for: the protocol's, or with protocol C
 * for REPL_HQ_MEM (ack = memory, plain writes in write-back) B and for
 * REPL_HQ_WR (ack = log, plain writes in write-back) W: written to the
 * peers' logs, as the local ack = log promises (durable at the next
 * flush, which waits for C; docs/replication.md, "Protocol C: written,
 * then durable"). */
static char hq_level(const struct wbd_repl *rp, int q)
{
	if (rp->protocol != 'C')
		return rp->protocol;
	return q == REPL_HQ_MEM ? 'B' : q == REPL_HQ_WR ? 'W' : 'C';
}

/* Every seq below the horizon is acked at level lvl by min_peers
 * connected peers (the min_peers-th best of them). */
static uint64_t horizon(const struct wbd_repl *rp, char lvl)
{
	uint64_t v[WB_ENGINE_MAX_PEERS];
	unsigned n = 0;

	if (!rp->min_peers)
		return UINT64_MAX;
	for (unsigned i = 0; i < rp->npeers; i++)
		if (rp->peers[i].up && !rp->peers[i].primary_peer &&
		    rp->peers[i].rs.state == REPL_RS_NONE) /* an Inconsistent peer holds nothing */
			v[n++] = peer_at(lvl, &rp->peers[i]);
	if (n < rp->min_peers)
		return 0;
	/* partial selection sort: the min_peers highest first */
	for (unsigned i = 0; i < rp->min_peers; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (v[j] > v[i]) {
				uint64_t t = v[i];

				v[i] = v[j];
				v[j] = t;
			}
	return v[rp->min_peers - 1];
}

/* Every seq below is acked at the protocol's level by every live (caught
 * up) secondary; UINT64_MAX with none. Write-through acknowledges only
 * what the remaining peers have too (DESIGN.md: "durable on the backing
 * device, and on the remaining peers per protocol"): a primary cut off
 * from its peers then acknowledges nothing before the membership change
 * drops their links, so a minority never acknowledges a write the
 * majority lacks. A peer still catching up is not waited for. */
static uint64_t live_horizon(const struct wbd_repl *rp)
{
	uint64_t h = UINT64_MAX;

	for (unsigned i = 0; i < rp->npeers; i++) {
		const struct repl_peer *p = &rp->peers[i];

		if (p->up && p->live && !p->primary_peer && peer_level(rp, p) < h)
			h = peer_level(rp, p);
	}
	return h;
}

/* ---- primary: a new data generation before going on alone ---- */

/* Up to date, or only congested: write-back waits for its acks, so it
 * holds what was acknowledged as much as a live one (repl_peer_healthy).
 * repl_peer_current() with live widened to live || congested. */
static bool peer_uptodate_or_congested(const struct repl_peer *p)
{
	return p->up && (p->live || p->congested) && !p->primary_peer &&
	       p->rs.state == REPL_RS_NONE;
}

static void rot_done(struct wbd_repl *rp, int err)
{
	char u[2 * WB_META_UUID_LEN + 1];

	rp->rot_busy = rp->rot_pending = false;
	wbd_repl_uuid_hex(rp->meta.data_uuid, u);
	if (!err)
		wbd_info("%s: new data generation %.12s from seq %llu (no up-to-date peer)",
			 rp->res, u, (unsigned long long)rp->rot_seq);
	/* peers connected but not up to date take it with new hellos */
	for (unsigned i = 0; i < rp->npeers && rp->primary && !rp->stopping; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->up && !p->primary_peer && p->l)
			wbd_peerlink_drop(p->l, -ECONNRESET, "new data generation");
	}
	work_kick(rp); /* the replies that waited */
}

/*
 * May a reply that may not be on any up-to-date peer go now? A primary
 * that lost its last up-to-date peer (or started as primary) first makes a
 * new data generation durable, from the first seq that peer may lack
 * (docs/replication.md, "Data generations and split brain"): an old
 * primary that went on alone is then told from one that crashed while
 * connected. true: wait (wbd_repl_rot_kick or work_kick again).
 */
static bool rot_wait(struct wbd_repl *rp)
{
	int ret;

	if (rp->rot_busy)
		return true;
	if (!rp->rot_pending || !rp->primary)
		return false;
	for (unsigned i = 0; i < rp->npeers; i++)
		if (repl_peer_current(&rp->peers[i])) {
			rp->rot_pending = false; /* it has every record: no need */
			return false;
		}
	ret = wbd_repl_uuid_new_lost(rp, rp->rot_seq, rot_done);
	if (ret == -EBUSY)
		return true; /* another UUID update: wbd_repl_rot_kick after it */
	if (ret) {
		if (ret != -EOPNOTSUPP)
			wbd_err("%s: cannot start a new data generation: %s; an old primary's "
				"records may be rolled back later",
				rp->res, strerror(-ret));
		rp->rot_pending = false;
		return false;
	}
	rp->rot_busy = true;
	return true;
}

void wbd_repl_rot_kick(struct wbd_repl *rp)
{
	if (rp->rot_pending && !rp->rot_busy)
		work_kick(rp);
}

/*
 * Replies released on the io loop. At QD1 a protocol C write's reply used
 * to wait for: the peer's ack read on the link's io loop, handed to the
 * engine loop (a wake-up), the gate there, the reply handed to the NBD
 * connection's io loop (another). When the engine completed the request
 * and holds its reply with nothing else held, it arms the one fast slot:
 * the reply's need and level, min_peers and the peers the gate counts now
 * (up, not primary, not being resynced) with their connection numbers.
 * The link's io loop reads each ack into wbd_peerlink_ack_pos() (the
 * positions cb_frame takes here, both from wbp_ack_positions) and, on the
 * connection's own io loop,
 * sends the reply at once when min_peers of those peers, still on the
 * same connections, acked every seq below need at the level; the ack and
 * the slot's return (fast_back) reach the engine without a wake-up of
 * their own, with the next request (WBD_IOLOOP_QUIET_US at most).
 *
 * Exactness: an io loop counts only acks of the connections the gate
 * counted when it armed (a peer that drops, comes back, is resynced or
 * changes role does so on a new connection; positions from acks only,
 * never from a hello, so never more than the engine counts), the same
 * way as the gate does; everything else that changes what the gate
 * counts (gate, min_peers, stop, a peer's state) disarms first
 * (fast_disarm: the reply goes back to its queue). An io loop takes the
 * slot (CHECK) before it reads it, so the engine never rewrites what is
 * being read; disarming waits for such a check (a few loads).
 */
static void fast_put(void *arg)
{
	struct repl_fast *f = arg;

	if (atomic_fetch_sub(&f->refs, 1) == 1)
		free(f);
}

static void fast_reply(void *arg)
{
	struct wbd_repl_fast *fr = arg;

	fr->io_reply(fr);
}

/* the connection's io loop: a reply an ack on another loop released */
static void fast_reply_msg(struct wbd_ioloop_msg *m)
{
	fast_reply((char *)m - offsetof(struct wbd_repl_fast, m));
}

/* another io loop: hand the reply to the connection's */
static void fast_reply_remote(void *arg)
{
	struct wbd_repl_fast *fr = arg;

	fr->m.fn = fast_reply_msg;
	wbd_ioloop_post_io(fr->loop, &fr->m);
}

/* io loop of a link (peerlink cfg.io_ack): an ack arrived. The reply goes
 * from the connection's io loop: at once if the ack arrived there, else
 * posted to it (a 3-node resource's second link is on another loop; one
 * wake-up of the connection's loop instead of the engine's and then it) */
static bool fast_io_ack(void *arg, struct wbd_pl_after *after)
{
	struct repl_fast *f = arg;
	struct wbd_ioloop *self = wbd_ioloop_self();
	struct repl_held *h;
	uint64_t s = atomic_load(&f->state);
	unsigned ok = 0;

	if (!self || s < REPL_FAST_T0 || s == REPL_FAST_TAKEN ||
	    !atomic_compare_exchange_strong(&f->state, &s, REPL_FAST_CHECK))
		return false;
	for (unsigned i = 0; i < f->n && ok < f->min; i++) {
		uint64_t mem, wr, dur;

		if (wbd_peerlink_ack_pos(f->l[i], f->conn[i], &mem, &wr, &dur) &&
		    (f->lvl == 'C'   ? dur
		     : f->lvl == 'W' ? wr
				     : mem) >= f->need)
			ok++;
	}
	if (ok < f->min) {
		atomic_store(&f->state, s);
		return false;
	}
	h = f->h;
	after->fn = h->fast.loop == self ? fast_reply : fast_reply_remote;
	after->arg = h->fast_req; /* the request's: alive until its reply */
	atomic_store(&f->state, REPL_FAST_TAKEN);
	/* the engine's part (quiet: it rides with the ack; it frees h), then
	 * the reply, after the link queued the ack (pl_deliver) */
	wbd_ioloop_post_engine(self, &h->m);
	return true;
}

/* engine: an io loop sent h's reply (fast_io_ack) */
static void fast_back(struct wbd_ioloop_msg *m)
{
	struct repl_held *h = (struct repl_held *)((char *)m - offsetof(struct repl_held, m));
	struct wbd_repl *rp = h->rp;

	h->fast.eng_after(h->fast.eng_arg);
	rp->nheld--;
	free(h);
	atomic_store(&rp->fast->state, REPL_FAST_FREE);
}

/* engine: the armed reply back into its queue, at the head (it is older
 * than what was held after it); nothing if an io loop sent it */
static void fast_disarm(struct wbd_repl *rp)
{
	struct repl_fast *f = rp->fast;
	struct repl_held *h;
	uint64_t s;

	for (;;) {
		s = atomic_load(&f->state);
		if (s < REPL_FAST_T0 || s == REPL_FAST_TAKEN)
			return;
		if (s != REPL_FAST_CHECK &&
		    atomic_compare_exchange_strong(&f->state, &s, REPL_FAST_FREE))
			break;
		sched_yield(); /* an io loop's check: a few loads */
	}
	h = f->h;
	f->h = NULL;
	h->next = rp->hq[h->q].head;
	rp->hq[h->q].head = h;
	if (rp->hq[h->q].tail == &rp->hq[h->q].head)
		rp->hq[h->q].tail = &h->next;
}

/* engine: h (lvl: what it waits for) is held alone; let the io loops
 * release it if it can be. true = armed (not queued). */
static bool fast_arm(struct wbd_repl *rp, struct repl_held *h, char lvl)
{
	struct repl_fast *f = rp->fast;
	unsigned n = 0;

	if (!f || !h->fast.loop || rp->gate != WBD_REPL_GATE_PEERS || rp->stopping || rp->nheld ||
	    rp->rot_pending || rp->rot_busy || (lvl != 'B' && lvl != 'W' && lvl != 'C') ||
	    !rp->min_peers || atomic_load(&f->state) != REPL_FAST_FREE)
		return false;
	/* the peers horizon() counts, on their connections of now */
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (!p->up || p->primary_peer || p->rs.state != REPL_RS_NONE)
			continue;
		if (!p->l || !(f->conn[n] = wbd_peerlink_up_conn(p->l)))
			return false;
		f->l[n++] = p->l;
	}
	if (n < rp->min_peers)
		return false;
	f->h = h;
	f->need = h->need;
	f->lvl = lvl;
	f->min = rp->min_peers;
	f->n = n;
	if (++f->ticket < REPL_FAST_T0)
		f->ticket = REPL_FAST_T0;
	atomic_store(&f->state, f->ticket);
	return true;
}

/* engine: the armed reply would go now: back to the queue, released there */
static void fast_gate(struct wbd_repl *rp)
{
	uint64_t s;

	/* an io loop's check may put it back: decide after it */
	while ((s = atomic_load(&rp->fast->state)) == REPL_FAST_CHECK)
		sched_yield();
	if (s >= REPL_FAST_T0 && s != REPL_FAST_TAKEN &&
	    horizon(rp, hq_level(rp, rp->fast->h->q)) >= rp->fast->h->need)
		fast_disarm(rp);
}

static void hq_release(struct wbd_repl *rp, int q, uint64_t upto, int err)
{
	struct repl_hq *hq = &rp->hq[q];

	if (!err && hq->head && hq->head->need <= upto && rot_wait(rp))
		return;
	while (hq->head && hq->head->need <= upto) {
		struct repl_held *h = hq->head;

		hq->head = h->next;
		if (!hq->head)
			hq->tail = &hq->head;
		rp->nheld--;
		/*
		 * The ack ordering: the engine completed this request, so its
		 * record(s) were placed and went through the ship hook, i.e.
		 * every one of them has a seq < h->need (shipped_next when it
		 * was held). The horizon says min_peers peers acked every seq
		 * below `upto` at the queue's level (C: durable in their log;
		 * B: in their RAM buffer; A: queued to them), and acks are
		 * cumulative per peer. So upto >= need means each record of
		 * this request is where the level promises: reply now. With
		 * the gate BACKING (write-through without enough peers) upto is
		 * the engine's seq_destaged instead (wbd_repl_after_run): every
		 * record below it is durable on the backing device. CLOSED
		 * releases nothing; FAIL releases with -EIO.
		 */
		h->release(h->wr, err);
		free(h);
	}
}

/* both queues up to upto (all of them for UINT64_MAX, e.g. with an error) */
static void held_release(struct wbd_repl *rp, uint64_t upto, int err)
{
	fast_disarm(rp);
	for (int q = 0; q < REPL_NHQ; q++)
		hq_release(rp, q, upto, err);
}

/* write-through: what the backing device has (see held_release) and
 * the live peers acked; nothing dirty covers engines that do not report
 * seq_destaged */
static void backing_release(struct wbd_repl *rp)
{
	struct wb_engine_stats st;
	uint64_t upto, peers;

	if (wb_engine_stats(rp->e, &st) || st.mode != WB_MODE_WRITETHROUGH)
		return;
	upto = !st.dirty_bytes ? UINT64_MAX : st.seq_destaged;
	peers = live_horizon(rp);
	held_release(rp, upto < peers ? upto : peers, 0);
}

static void repl_gate(struct wbd_repl *rp)
{
	if (rp->nheld && rp->gate == WBD_REPL_GATE_PEERS) {
		fast_gate(rp);
		for (int q = 0; q < REPL_NHQ; q++)
			hq_release(rp, q, horizon(rp, hq_level(rp, q)), 0);
	} else if (rp->nheld && rp->gate == WBD_REPL_GATE_BACKING)
		backing_release(rp);
}

unsigned wbd_repl_healthy_if(struct wbd_repl *rp, bool (*ok)(void *arg, const char *node),
			     void *arg)
{
	unsigned n = 0;

	for (unsigned i = 0; i < rp->npeers; i++)
		n += repl_peer_healthy(rp, &rp->peers[i]) && ok(arg, rp->peers[i].node);
	return n;
}

void wbd_repl_drop_if(struct wbd_repl *rp, bool (*gone)(void *arg, const char *node), void *arg,
		      const char *why)
{
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->standalone || !p->l || !p->up || !gone(arg, p->node))
			continue;
		wbd_peerlink_drop(p->l, -EHOSTUNREACH, why);
	}
}

void wbd_repl_engine_failed(struct wbd_repl *rp)
{
	if (rp->failed)
		return;
	rp->failed = true;
	snprintf(rp->failed_why, sizeof(rp->failed_why),
		 "%.64s's engine failed (an I/O error on its log or backing device): no "
		 "replication until it is repaired (on %.64s: wbctl down %.32s, fix the "
		 "device, wbctl up %.32s)",
		 rp->local, rp->local, rp->res, rp->res);
	wbd_err("%s: the engine failed: replication links closed, peers refused until the "
		"resource is repaired (wbctl down %s, fix the device, wbctl up %s)",
		rp->res, rp->res, rp->res);
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (!p->standalone && p->l && p->up)
			wbd_peerlink_drop(p->l, -EIO, rp->failed_why);
	}
	/* replies waiting for peers: no peer acks any more, and with the gate
	 * BACKING the backing device moves no more: an error, never an ack */
	held_release(rp, UINT64_MAX, -EIO);
	wbd_repl_peers_check(rp, false);
}

bool wbd_repl_fail_check(struct wbd_repl *rp)
{
	struct wb_engine_stats st;

	if (!rp)
		return false;
	if (!rp->failed && !wb_engine_stats(rp->e, &st) && st.state != WB_STATE_OK)
		wbd_repl_engine_failed(rp);
	return rp->failed;
}

void wbd_repl_peers_check(struct wbd_repl *rp, bool role_changed)
{
	unsigned n = repl_healthy(rp);

	if (n == rp->healthy && !role_changed)
		return;
	rp->healthy = n;
	if (rp->changed)
		rp->changed(rp->carg);
}

static bool hold_it(struct wbd_repl *rp, int q, struct wb_req *wr,
		    void (*release)(struct wb_req *wr, int err), struct wbd_repl_fast *f);

/* In write-back a plain write, trim or write-zeroes without FUA or a
 * preflush is acknowledged once the peers have it in RAM (ack = memory:
 * REPL_HQ_MEM) or written to their logs (ack = log: REPL_HQ_WR; both
 * below protocol C's durable level, hq_level); a flush or a FUA write
 * still waits for the protocol (its promise is durability, on the peers
 * too). */
static int hold_queue(const struct wbd_repl *rp, const struct wb_req *wr)
{
	if (rp->gate != WBD_REPL_GATE_PEERS || wr->op == WB_REQ_FLUSH ||
	    (wr->flags & (WB_REQ_F_FUA | WB_REQ_F_PREFLUSH)))
		return REPL_HQ_PROTO;
	return rp->ack_mem ? REPL_HQ_MEM : REPL_HQ_WR;
}

bool wbd_repl_hold(struct wbd_repl *rp, struct wb_req *wr,
		   void (*release)(struct wb_req *wr, int err))
{
	return wbd_repl_hold_fast(rp, wr, release, NULL);
}

bool wbd_repl_hold_fast(struct wbd_repl *rp, struct wb_req *wr,
			void (*release)(struct wb_req *wr, int err), struct wbd_repl_fast *f)
{
	if (!rp || !rp->primary)
		return false;
	if (rp->stopping) {
		/* going down: the peers may never ack it; fail the reply */
		release(wr, -ESHUTDOWN);
		return true;
	}
	if (rp->gate == WBD_REPL_GATE_FAIL) {
		release(wr, -EIO); /* no quorum, on-no-quorum = io-error */
		return true;
	}
	/* a reply that would go now waits for a new data generation first
	 * (rot_wait); one that is held anyway (gate closed, peers short)
	 * starts none: held_release asks when it would go */
	int q = hold_queue(rp, wr);

	if (rp->gate == WBD_REPL_GATE_PEERS && horizon(rp, hq_level(rp, q)) >= rp->shipped_next)
		return rot_wait(rp) ? hold_it(rp, q, wr, release, f) : false;
	/* write-through: the engine acked it once on the backing device (a
	 * flush covers only writes replied to, so not the held ones); held
	 * only until the live peers have it too (live_horizon) */
	if (rp->gate == WBD_REPL_GATE_BACKING && !rp->nheld && live_horizon(rp) >= rp->shipped_next)
		return rot_wait(rp) ? hold_it(rp, q, wr, release, f) : false;
	return hold_it(rp, q, wr, release, f);
}

/*
 * Late durable acks. A secondary that acks IN_MEMORY sends a DURABLE ack
 * per record too; where no reply waits for it (protocol B, or C with ack
 * = memory in write-back: plain writes wait for the peers' RAM) that was
 * a second frame per record and a wake-up of two threads on both nodes,
 * on the 2 CPUs the replies need. Such records are sent with
 * durable_ack_late: the secondary sends their DURABLE ack with its next
 * IN_MEMORY ack, REPL_DUR_LATE_US after it at the latest, or at once
 * when a barrier asks for it. A reply that does wait for DURABLE (a flush
 * or FUA write with ack = memory, write-through after write-back) sends
 * that barrier (ask_durable) to every peer with a late record it has not
 * acked durable; a barrier that cannot be queued leaves it to the timer.
 */
static bool dur_late(const struct wbd_repl *rp)
{
	return rp->protocol == 'B' ||
	       (rp->protocol == 'C' && rp->ack_mem && rp->gate == WBD_REPL_GATE_PEERS);
}

/*
 * Protocol C: written, then durable. In write-back no plain write's reply
 * waits for more than the peers' log writes (REPL_HQ_WR, level W), as a
 * local ack = log write is acknowledged once written, durable at the next
 * flush (a disk's volatile cache; DRBD's protocol C acks the peer's
 * completed write the same way and flushes only for flushes). So the
 * records go with written_ack: the secondary writes them without FUA, acks
 * WRITTEN when written, and DURABLE once its log flush covered them
 * (within its log-commit-ms, or at once for a barrier, which a flush or a
 * FUA write here sends: ask_durable). The durable positions alone move
 * the log tail, the bitmaps and promotion's view of what a peer can lose.
 * Protocol B and C with ack = memory wait for RAM, so their records go
 * written_ack too (no WRITTEN acks: late durable ones), and so do
 * protocol A's, whose replies wait for nothing on the peers: a FUA per
 * record there only flushed the secondaries' disk once per record for
 * nobody (their durable acks still move the log tail, within their
 * log-commit-ms). Write-through waits for durable on the peers: its
 * records are FUA there, as before.
 */
static bool written_ack(const struct wbd_repl *rp)
{
	return rp->gate == WBD_REPL_GATE_PEERS;
}

static void ask_durable(struct wbd_repl *rp, uint64_t upto)
{
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];
		uint64_t want = upto < p->late_next ? upto : p->late_next;
		Wbrep__Barrier b = WBREP__BARRIER__INIT;

		if (!p->up || p->primary_peer || p->acked_dur >= want || p->bar_asked >= want)
			continue;
		b.id = ++p->bar_id;
		b.seq = want - 1;
		b.has_flush = b.flush = 1;
		if (!wbd_peerlink_send(p->l, WBP_T_BARRIER, &b.base, NULL))
			p->bar_asked = want;
	}
}

/* the level a reply of queue q waits for under the current gate */
static char held_level(const struct wbd_repl *rp, int q)
{
	return rp->gate == WBD_REPL_GATE_PEERS ? hq_level(rp, q) : rp->protocol;
}

static bool hold_it(struct wbd_repl *rp, int q, struct wb_req *wr,
		    void (*release)(struct wb_req *wr, int err), struct wbd_repl_fast *f)
{
	struct repl_held *h;

	h = calloc(1, sizeof(*h));
	if (!h) {
		wbd_err("%s: out of memory holding a reply for the peers", rp->res);
		return false; /* cannot happen in practice; replied unheld */
	}
	h->wr = wr;
	h->release = release;
	h->need = rp->shipped_next;
	h->q = q;
	h->rp = rp;
	h->m.fn = fast_back;
	if (f) {
		h->fast = *f;
		h->fast_req = f;
	}
	if (!fast_arm(rp, h, held_level(rp, q))) {
		*rp->hq[q].tail = h;
		rp->hq[q].tail = &h->next;
	}
	rp->nheld++;
	if (held_level(rp, q) == 'C')
		ask_durable(rp, h->need);
	return true;
}

void wbd_repl_set_gate(struct wbd_repl *rp, enum wbd_repl_gate g)
{
	if (!rp || rp->gate == g)
		return;
	fast_disarm(rp); /* the gate decides it again */
	rp->gate = g;
	if (g == WBD_REPL_GATE_FAIL)
		held_release(rp, UINT64_MAX, -EIO);
	else if (rp->nheld && rp->protocol == 'C')
		ask_durable(rp, rp->shipped_next); /* write-through waits for C */
	work_kick(rp); /* PEERS: the gate again; BACKING: after the next run */
}

void wbd_repl_set_min_peers(struct wbd_repl *rp, unsigned min_peers)
{
	if (!rp || rp->min_peers == min_peers)
		return;
	fast_disarm(rp);
	rp->min_peers = min_peers;
	work_kick(rp); /* the gate again */
}

void wbd_repl_set_after_sb(struct wbd_repl *rp, int after_sb, int after_sb0)
{
	if (rp) {
		rp->after_sb = after_sb;
		rp->after_sb0 = after_sb0;
	}
}

void wbd_repl_set_link_limits(struct wbd_repl *rp, size_t sndq_max, uint32_t ping_timeout_ms)
{
	if (!rp || (sndq_max == rp->sndq_max && ping_timeout_ms == rp->ping_timeout_ms))
		return;
	rp->sndq_max = sndq_max;
	rp->ping_timeout_ms = ping_timeout_ms;
	for (unsigned i = 0; i < rp->npeers; i++)
		if (rp->peers[i].l)
			wbd_peerlink_set_limits(rp->peers[i].l, sndq_max, ping_timeout_ms);
	wbd_info("%s: replication links: send-queue-max %zu bytes, ping-timeout %u ms", rp->res,
		 sndq_max, ping_timeout_ms);
}

void wbd_repl_release_all(struct wbd_repl *rp, int err)
{
	if (!rp)
		return;
	rp->stopping = true;
	held_release(rp, UINT64_MAX, err);
	wbd_repl_peerread_free(rp); /* reads served by peers: their own error */
}

/* ---- primary: sending records ---- */

struct ref_put {
	struct wbd_repl *rp;
	struct wb_rec_ref *ref;
};

static void ref_put_cb(const void *data, size_t len, void *cookie)
{
	struct ref_put *rc = cookie;

	wb_engine_rec_put(rc->rp->e, rc->ref);
	rc->rp->refs--;
	free(rc);
}

/* Queue ref as a record frame to p: 0, or the send error (ref untouched).
 * Takes its own reference for the payload (put when the bytes left). */
static int send_rec(struct repl_peer *p, struct wb_rec_ref *ref)
{
	struct wbd_repl *rp = p->rp;
	Wbrep__RecordHeader h = WBREP__RECORD_HEADER__INIT;
	Wbrep__Extent ex[WBP_MAX_EXTENTS], *exp[WBP_MAX_EXTENTS];
	struct wbd_payload pl = {0};
	struct ref_put *rc = NULL;
	int ret;

	if (ref->rec.nextents > WBP_MAX_EXTENTS)
		return -E2BIG;
	h.seq = ref->rec.seq;
	h.gen = ref->rec.gen;
	h.has_flags = 1;
	h.flags = ref->rec.flags;
	h.has_time_ns = 1;
	h.time_ns = ref->rec.time_ns;
	h.has_durable_ack_late = h.durable_ack_late = dur_late(rp);
	h.has_written_ack = h.written_ack = written_ack(rp);
	for (uint32_t i = 0; i < ref->rec.nextents; i++) {
		wbrep__extent__init(&ex[i]);
		ex[i].lba = ref->rec.ext[i].lba;
		ex[i].nblocks = ref->rec.ext[i].nblocks;
		ex[i].has_crc = 1;
		ex[i].crc = ref->rec.ext[i].crc;
		exp[i] = &ex[i];
	}
	h.n_extents = ref->rec.nextents;
	h.extents = exp;
	if (ref->nblocks) {
		rc = malloc(sizeof(*rc));
		if (!rc)
			return -ENOMEM;
		rc->rp = rp;
		rc->ref = ref;
		pl.segs = (const void *const *)ref->blocks;
		pl.nsegs = ref->nblocks;
		pl.seg_len = WB_BLOCK_SIZE;
		pl.len = (size_t)ref->nblocks * WB_BLOCK_SIZE;
		pl.put = ref_put_cb;
		pl.cookie = rc;
		wb_engine_rec_get(rp->e, ref);
		rp->refs++;
	}
	ret = wbd_peerlink_send(p->l, WBP_T_RECORD, &h.base, ref->nblocks ? &pl : NULL);
	if (!ret && (h.durable_ack_late || h.written_ack))
		p->late_next = ref->rec.seq + 1; /* a DURABLE may need a barrier */
	if (!ret)
		wbd_repl_rs_sent(p, &ref->rec); /* resync reads it overlaps are stale */
	if (ret && rc) {
		/* the engine holds its own reference during ship/read callbacks,
		 * so this put never frees the record inside the engine's call */
		wb_engine_rec_put(rp->e, ref);
		rp->refs--;
		free(rc);
	}
	return ret;
}

static void src_arm(struct wbd_repl *rp);

static void on_ship(void *arg, struct wb_rec_ref *ref)
{
	struct wbd_repl *rp = arg;

	rp->shipped_next = ref->rec.seq + 1;
	if (ref->rec.nextents)
		rp->data_head = rp->shipped_next; /* the hello's data_head */
	wbd_repl_verify_shipped(rp, &ref->rec);
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];
		int ret;

		if (!p->up || !p->live)
			continue;
		if (p->next != ref->rec.seq) {
			p->live = false; /* cannot happen: catch up to be safe */
			work_kick(rp);
			continue;
		}
		ret = send_rec(p, ref);
		if (!ret) {
			p->next++;
			continue;
		}
		/* -EAGAIN: queue full, catch up from the log once writable */
		p->live = false;
		p->blocked = ret == -EAGAIN;
		p->congested = ret == -EAGAIN;
		if (ret != -EAGAIN && ret != -ENOTCONN)
			wbd_err("%s: peer %s: sending record %llu: %s", rp->res, p->node,
				(unsigned long long)ref->rec.seq, strerror(-ret));
		work_kick(rp);
	}
	src_arm(rp);
	work_kick(rp); /* the gate (protocol A) from the loop */
}

static void on_peer_dropped(void *arg, unsigned slot, uint64_t seq)
{
	struct wbd_repl *rp = arg;
	struct repl_peer *p = NULL;

	for (unsigned i = 0; i < rp->npeers && !p; i++)
		if (rp->peers[i].slot == slot)
			p = &rp->peers[i];
	if (!p)
		return;
	p->hold = 0; /* the engine let go of it */
	/* the engine made its bitmap track from seq (durably before the log
	 * lets go of those records) */
	p->tracking = true;
	p->clear_at = 0;
	wbd_warn("%s: peer %s fell behind past the log's retention (seq %llu): it needs a "
		 "bitmap resync",
		 rp->res, p->node, (unsigned long long)seq);
	if (p->up)
		wbd_peerlink_drop(p->l, -ENOSPC, "fell behind past log retention");
}

struct read_ctx {
	struct repl_peer *p;
	uint64_t epoch;
};

static void on_read(void *arg, int err, struct wb_rec_ref *ref)
{
	struct read_ctx *rc = arg;
	struct repl_peer *p = rc->p;
	int ret;

	p->reading = false;
	if (!p->up || rc->epoch != p->epoch)
		goto out;
	if (err) {
		wbd_err("%s: peer %s: reading back record %llu: %s", p->rp->res, p->node,
			(unsigned long long)p->next, strerror(-err));
		wbd_peerlink_drop(p->l, err, "record read-back failed");
		goto out;
	}
	ret = send_rec(p, ref);
	if (!ret)
		p->next++;
	else if (ret == -EAGAIN)
		p->blocked = true;
	else if (ret != -ENOTCONN)
		wbd_peerlink_drop(p->l, ret, "sending a record failed");
out:
	free(rc);
	work_kick(p->rp);
}

/* Primary: move every up peer that is not live one record further. */
static void catch_up(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct read_ctx *rc;
	int ret;

	if (!p->up || p->live || p->reading || p->blocked || p->primary_peer)
		return;
	if (p->next >= rp->shipped_next) {
		p->live = true;
		p->congested = false;
		if (p->tracking) {
			p->clear_at = p->next; /* its bitmap, once it acked all that */
			p->clear_rs = false;
		}
		wbd_info("%s: peer %s is up to date at seq %llu", rp->res, p->node,
			 (unsigned long long)p->next);
		wbd_repl_peers_check(rp, false);
		return;
	}
	rc = malloc(sizeof(*rc));
	if (!rc) {
		wbd_peerlink_drop(p->l, -ENOMEM, "out of memory");
		return;
	}
	rc->p = p;
	rc->epoch = p->epoch;
	p->reading = true;
	ret = wb_engine_read_record(rp->e, p->next, on_read, rc);
	if (ret) {
		p->reading = false;
		free(rc);
		if (ret == -EAGAIN)
			return; /* sealed, not placed: comes through the ship hook */
		wbd_warn("%s: peer %s needs seq %llu, which the log no longer holds (%s): it "
			 "reconnects for a resync",
			 rp->res, p->node, (unsigned long long)p->next, strerror(-ret));
		wbd_peerlink_drop(p->l, ret, "needs a resync");
	}
}

/* ---- primary: dirty bitmaps (docs/replication.md, "Bitmaps") ---- */

static void bm_done(void *arg, int err)
{
	struct repl_peer *p = arg;

	p->rp->applying--;
	if (err)
		wbd_err("%s: peer %s: writing its bitmap failed: %s", p->rp->res, p->node,
			strerror(-err));
}

int wbd_repl_bm_cover(struct repl_peer *p, uint64_t seq)
{
	struct wbd_repl *rp = p->rp;
	int ret = wb_engine_bm_track(rp->e, p->slot, seq ? seq : 1, bm_done, p);

	if (!ret) {
		rp->applying++; /* wbd_repl_free waits for bm_done */
		p->tracking = true;
	}
	return ret;
}

void wbd_repl_bm_track(struct repl_peer *p, uint64_t seq)
{
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;
	struct wb_bm_info bi;
	int ret;

	if (!rp->bm_region)
		return;
	p->clear_at = 0;
	/* since an earlier point: covers more (the engine's word: tracking
	 * that stopped behind the flag's back must start again) */
	if (p->tracking && !wb_engine_bm_info(rp->e, p->slot, &bi) && bi.tracking)
		return;
	p->tracking = false;
	ret = wbd_repl_bm_cover(p, seq);
	if (ret == -ENOENT) {
		/* the log no longer has seq: nothing says what the peer lacks */
		wb_engine_stats(rp->e, &st);
		wbd_warn("%s: peer %s: seq %llu is no longer in the log: every region is marked "
			 "out of sync",
			 rp->res, p->node, (unsigned long long)seq);
		ret = wb_engine_bm_mark(rp->e, p->slot, 0, st.size);
		if (!ret)
			ret = wbd_repl_bm_cover(p, WB_BM_TRACK_HEAD);
	}
	if (ret) {
		wbd_err("%s: peer %s: cannot track its bitmap: %s", rp->res, p->node,
			strerror(-ret));
		return;
	}
	wbd_info("%s: peer %s: bitmap tracks records from seq %llu on", rp->res, p->node,
		 (unsigned long long)seq);
}

/* The peer acked every record below clear_at durable and nothing older is
 * missing (it caught up, or its resync finished): its bitmap is empty. */
static void bm_in_sync(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;
	struct wb_bm_info bi;
	int ret;

	if (!rp->bm_region || p->rs.state != REPL_RS_NONE)
		return;
	/* bits set for blocks a verify found different: only a resync
	 * clears them; a catch-up brought the tracked records, not those */
	if (!p->clear_rs && !wb_engine_bm_info(rp->e, p->slot, &bi) && bi.marked) {
		p->clear_at = 0;
		return;
	}
	wb_engine_stats(rp->e, &st);
	/* not yet past the destaged records: the tail on disk may have passed
	 * its position while its bitmap tracked (a tracking peer does not
	 * hold the tail on disk back: wbl_tail_target); cleared now, a crash
	 * here would leave nothing naming what it lacks. clear_at stays: the
	 * next ack looks again */
	if (p->acked_dur < st.seq_destaged)
		return;
	ret = wb_engine_bm_clear(rp->e, p->slot, 0, st.size);
	if (!ret)
		ret = wb_engine_bm_track(rp->e, p->slot, 0, bm_done, p);
	if (ret) {
		wbd_err("%s: peer %s: cannot clear its bitmap: %s", rp->res, p->node,
			strerror(-ret));
		return;
	}
	rp->applying++;
	wbd_info("%s: peer %s in sync at seq %llu: its bitmap is cleared", rp->res, p->node,
		 (unsigned long long)p->clear_at);
	p->tracking = false;
	p->clear_at = 0;
}

void wbd_repl_bm_ack(struct repl_peer *p)
{
	if (p->clear_at && p->acked_dur >= p->clear_at)
		bm_in_sync(p);
	wbd_repl_rs_acked(p); /* resync progress kept for a resume */
}

bool wbd_repl_bm_oos(struct repl_peer *p, uint64_t *bytes)
{
	struct wb_bm_info bi;
	struct wb_engine_stats st;

	if (!p->rp->bm_region || wb_engine_bm_info(p->rp->e, p->slot, &bi) || !bi.region_size)
		return false;
	wb_engine_stats(p->rp->e, &st);
	*bytes = bi.dirty * bi.region_size;
	if (*bytes > st.size)
		*bytes = st.size;
	return true;
}

/* ---- secondary: applying records ---- */

struct apply_ctx {
	struct repl_peer *p;
	uint64_t epoch, seq;
	bool late;    /* its DURABLE ack may go late */
	bool written; /* applied WB_APPLY_F_WRITTEN: done() = written */
};

/* Ack seq at level to p; dur (a position, 0: none) rides as durable_seq,
 * at most seq */
static void send_ack(struct repl_peer *p, uint64_t seq, int level, uint64_t dur)
{
	Wbrep__Ack a = WBREP__ACK__INIT;
	int ret;

	a.seq = seq;
	a.level = level;
	if (dur) {
		a.has_durable_seq = 1;
		a.durable_seq = dur - 1 < seq ? dur - 1 : seq;
	}
	ret = wbd_peerlink_send(p->l, WBP_T_ACK, &a.base, NULL);
	if (ret && ret != -ENOTCONN)
		wbd_warn("%s: peer %s: ack %llu: %s", p->rp->res, p->node, (unsigned long long)seq,
			 strerror(-ret));
}

/*
 * The other secondaries learn how far this one is (promotion refuses a
 * node that is behind a connected secondary; each keeps the log records
 * the other lacks). Per applied record that was an ack to each of them:
 * on both nodes a hand-off to the io loop and back, several wake-ups per
 * replicated write with 3 nodes. Told at most every REPL_TELL_US instead,
 * with the newest position, from the apply that finds the last tell that
 * old (no wake-up of its own while records flow), and by a timer
 * REPL_TELL_LATE_US after the last apply otherwise; a promotion comes
 * seconds after the primary is gone, and a position told late only keeps
 * more of the log.
 */
#define REPL_TELL_US	  2000
#define REPL_TELL_LATE_US 10000

static uint64_t tell_clock_us(struct wbd_repl *rp)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(rp->base, &tv)) /* no syscall */
		return 0;
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

/* WRITTEN up to tell_seq (what a promotion compares), carrying the
 * durable position (what the other may keep log records for) */
static void tell_now(struct wbd_repl *rp)
{
	rp->tell_at = tell_clock_us(rp);
	for (unsigned i = 0; i < rp->npeers && !rp->primary; i++)
		if (rp->peers[i].up && !rp->peers[i].primary_peer)
			send_ack(&rp->peers[i], rp->tell_seq, WBREP__ACK_LEVEL__ACK_WRITTEN,
				 rp->dur_pos);
}

static void tell_cb(evutil_socket_t fd, short what, void *arg)
{
	tell_now(arg);
}

static void tell_others(struct wbd_repl *rp, uint64_t seq)
{
	static const struct timeval late = {.tv_usec = REPL_TELL_LATE_US};
	uint64_t now = tell_clock_us(rp);

	if (seq > rp->tell_seq)
		rp->tell_seq = seq;
	/* a clock that went back counts as "long ago" */
	if (!rp->ev_tell || now < rp->tell_at || now - rp->tell_at >= REPL_TELL_US) {
		if (rp->ev_tell)
			evtimer_del(rp->ev_tell);
		tell_now(rp);
	} else if (!evtimer_pending(rp->ev_tell, NULL)) {
		evtimer_add(rp->ev_tell, &late);
	}
}

/*
 * ---- the primary's durable position ----
 *
 * A power cut of the primary loses what its log had not flushed yet;
 * its secondaries have those records (protocol C acks the log write, not
 * the flush; ack = memory not even that here). The node promoted in its
 * place resyncs them to it when it returns, and its bitmap of the old
 * primary covers them only when it tracks from the old primary's durable
 * position, also once its own log let go of those records
 * (docs/replication.md, "Bitmaps"). So the primary tells that position:
 * an ACK_DURABLE frame to each secondary (the frame a secondary tells
 * another one with), REPL_TELL_LATE_US after a record was shipped and
 * again while the position is behind what was shipped; nothing once it
 * told all that (idle). A secondary keeps the records from there in its
 * log (a hold that moves with the tells) and tracks the primary's bitmap
 * from there when the link goes down (cb_state).
 */
static const struct timeval src_late = {.tv_usec = REPL_TELL_LATE_US};

static void src_tell(struct wbd_repl *rp, struct repl_peer *only)
{
	struct wb_engine_stats st;
	uint64_t d;

	if (!rp->primary || wb_engine_stats(rp->e, &st))
		return;
	d = st.seq_durable < rp->shipped_next ? st.seq_durable : rp->shipped_next;
	if (d > 1 && (only || d > rp->src_told)) {
		for (unsigned i = 0; i < rp->npeers; i++) {
			struct repl_peer *p = &rp->peers[i];

			if (p->up && !p->primary_peer && (!only || p == only))
				send_ack(p, d - 1, WBREP__ACK_LEVEL__ACK_DURABLE, 0);
		}
		if (!only)
			rp->src_told = d;
	}
	if (rp->src_told < rp->shipped_next)
		src_arm(rp);
}

static void src_cb(evutil_socket_t fd, short what, void *arg)
{
	src_tell(arg, NULL);
}

static void src_arm(struct wbd_repl *rp)
{
	if (rp->ev_src && !evtimer_pending(rp->ev_src, NULL))
		evtimer_add(rp->ev_src, &src_late);
}

/* Secondary: its primary told dur durable (src_tell): the log keeps the
 * records from there (what a power cut of the primary may lose), and a
 * bitmap of the primary goes once it told durable all this node held when
 * that began (clear_at). */
static void primary_durable(struct repl_peer *p, uint64_t dur)
{
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;
	uint64_t at;

	p->acked_dur = dur;
	p->told_dur = true;
	if (wb_engine_stats(rp->e, &st))
		return;
	/* ahead of this node: nothing of its log to keep (records applied
	 * later are, until told); behind its tail: what is left */
	at = dur < st.seq_head ? dur : st.seq_head;
	if (at < st.seq_tail)
		at = st.seq_tail;
	if (at && at != p->hold && wbd_repl_log_hold(p, at))
		return; /* gone meanwhile: the bitmap keeps tracking */
	wbd_repl_bm_ack(p);
}

/* ---- secondary: late durable acks (see dur_late) ---- */

#define REPL_DUR_LATE_US 10000

/* DURABLE for everything below dur_next, answering a barrier it reaches */
static void send_durable(struct repl_peer *p)
{
	Wbrep__Ack a = WBREP__ACK__INIT;
	int ret;

	p->dur_late = 0;
	if (!p->dur_next)
		return;
	a.seq = p->dur_next - 1;
	a.level = WBREP__ACK_LEVEL__ACK_DURABLE;
	if (p->bar_wait && p->dur_next > p->bar_seq) {
		a.has_barrier = 1;
		a.barrier = p->bar_id;
		p->bar_wait = false;
	}
	ret = wbd_peerlink_send(p->l, WBP_T_ACK, &a.base, NULL);
	if (ret && ret != -ENOTCONN)
		wbd_warn("%s: peer %s: ack %llu: %s", p->rp->res, p->node,
			 (unsigned long long)a.seq, strerror(-ret));
}

/* seq is durable here: ack it now, or late if the primary allowed that
 * and no barrier waits for it */
static void durable_ack(struct repl_peer *p, uint64_t seq, bool late)
{
	static const struct timeval tv = {.tv_usec = REPL_DUR_LATE_US};
	struct wbd_repl *rp = p->rp;

	if (seq + 1 > p->dur_next)
		p->dur_next = seq + 1;
	if (!late || !rp->ev_dur || (p->bar_wait && p->dur_next > p->bar_seq)) {
		send_durable(p);
		return;
	}
	p->dur_late = p->dur_next;
	if (!evtimer_pending(rp->ev_dur, NULL))
		evtimer_add(rp->ev_dur, &tv);
}

static void dur_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_repl *rp = arg;

	for (unsigned i = 0; i < rp->npeers; i++)
		if (rp->peers[i].up && rp->peers[i].dur_late)
			send_durable(&rp->peers[i]);
}

/* IN_MEMORY for seq, with the late DURABLE if there is one */
static void send_mem_ack(struct repl_peer *p, uint64_t seq)
{
	Wbrep__Ack a = WBREP__ACK__INIT;
	int ret;

	a.seq = seq;
	a.level = WBREP__ACK_LEVEL__ACK_IN_MEMORY;
	if (p->dur_late && p->dur_late - 1 <= seq) {
		a.has_durable_seq = 1;
		a.durable_seq = p->dur_late - 1;
		p->dur_late = 0;
		evtimer_del(p->rp->ev_dur); /* a secondary has one primary */
	}
	ret = wbd_peerlink_send(p->l, WBP_T_ACK, &a.base, NULL);
	if (ret && ret != -ENOTCONN)
		wbd_warn("%s: peer %s: ack %llu: %s", p->rp->res, p->node, (unsigned long long)seq,
			 strerror(-ret));
}

/* the primary asks for DURABLE up to b->seq (answered at once if there;
 * records applied WB_APPLY_F_WRITTEN get their log flush now, and
 * dur_moved answers once it completed) */
static void on_barrier(struct repl_peer *p, const Wbrep__Barrier *b)
{
	if (p->rp->primary || !p->primary_peer)
		return;
	if (!p->bar_wait || b->seq > p->bar_seq)
		p->bar_seq = b->seq;
	p->bar_id = b->id;
	p->bar_wait = true;
	if (p->dur_next > p->bar_seq)
		send_durable(p);
	else /* engine ABI < 11: its records are durable once done() anyway */
		wb_engine_log_sync(p->rp->e, p->bar_seq);
}

/* secondary, after an engine run: records applied WB_APPLY_F_WRITTEN that
 * a log flush made durable since are acked DURABLE (and told) */
static void dur_moved(struct wbd_repl *rp)
{
	struct wb_engine_stats st;

	if (rp->primary || rp->wr_pos <= rp->dur_pos || wb_engine_stats(rp->e, &st))
		return;
	if (st.seq_durable > rp->wr_pos)
		st.seq_durable = rp->wr_pos; /* what was applied and done() */
	if (st.seq_durable <= rp->dur_pos)
		return;
	rp->dur_pos = st.seq_durable;
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->up && p->primary_peer && rp->dur_pos > p->dur_next)
			durable_ack(p, rp->dur_pos - 1, p->wr_late);
	}
	tell_others(rp, rp->tell_seq);
}

static void on_applied(void *arg, int err)
{
	struct apply_ctx *ac = arg;
	struct repl_peer *p = ac->p;

	p->rp->applying--;
	if (!err)
		wbd_repl_verify_applied(p->rp, ac->seq, true);
	if (err) {
		wbd_err("%s: record %llu from %s did not become durable: %s", p->rp->res,
			(unsigned long long)ac->seq, p->node, strerror(-err));
		wbd_repl_fail_check(p->rp); /* at once, not at the next engine check */
	} else if (p->up && p->epoch == ac->epoch && ac->written) {
		/* done() = written to this node's log: protocol C's ack in
		 * write-back; DURABLE follows the log flush (dur_moved) */
		p->wr_late = ac->late;
		if (!ac->late)
			send_ack(p, ac->seq, WBREP__ACK_LEVEL__ACK_WRITTEN, 0);
		/* a barrier that came before this record was written */
		if (p->bar_wait && p->bar_seq >= p->dur_next)
			wb_engine_log_sync(p->rp->e, p->bar_seq);
	} else if (p->up && p->epoch == ac->epoch) {
		/* done() = durable in this node's log: protocol C's ack */
		durable_ack(p, ac->seq, ac->late);
	}
	if (!err && ac->written && ac->seq + 1 > p->rp->wr_pos)
		p->rp->wr_pos = ac->seq + 1;
	else if (!err && !ac->written && ac->seq + 1 > p->rp->dur_pos)
		p->rp->dur_pos = ac->seq + 1; /* FUA: durable, all before it too */
	if (!err) {
		struct wbd_repl *rp = p->rp;

		tell_others(rp, ac->seq); /* to the other secondaries */
		wbd_repl_disk_check(rp);
	}
	free(ac);
}

/* Received record data in RAM-buffer pages the engine did not take. */
static void pages_release(struct wbd_repl *rp, struct wb_page **pages, uint32_t n)
{
	if (pages)
		wb_pagebuf_release(wb_engine_apply_pagebuf(rp->e), pages, n);
	free(pages);
}

/* The pending record's data goes (its link dropped, or it was applied). */
static void pend_clear(struct wbd_repl *rp)
{
	struct repl_pend *pd = &rp->pend;

	pd->used = false;
	wb_io_free(pd->data);
	pd->data = NULL;
	if (pd->rec.pages) /* the pages were given to the engine otherwise */
		pages_release(rp, pd->pages, pd->npages);
	else
		free(pd->pages);
	pd->pages = NULL;
	pd->npages = 0;
	pd->rec.pages = NULL;
}

/* Apply rec from p. 0 or -EAGAIN (keep it, retry after run); other
 * errors are handled here (error frame, link dropped). The record's pages
 * (rec->pages, engine ABI 10) are the engine's after a 0 from
 * apply_record, else released here, except on -EAGAIN (the caller keeps
 * them); the array stays the caller's. late: its DURABLE ack may go late;
 * rec->apply_flags WB_APPLY_F_WRITTEN: the primary waits for no more than
 * its log write (written_ack). */
static int apply_one(struct repl_peer *p, const struct wb_record *rec, uint32_t npages, bool late,
		     bool mem_acked)
{
	struct wbd_repl *rp = p->rp;
	struct apply_ctx *ac = malloc(sizeof(*ac));
	Wbrep__PeerError pe = WBREP__PEER_ERROR__INIT;
	char why[160];
	int ret;

	if (!ac)
		return -EAGAIN;
	ac->p = p;
	ac->epoch = p->epoch;
	ac->seq = rec->seq;
	/* late only with IN_MEMORY acks: they carry the late ones */
	ac->late = late && !p->durable_only;
	ac->written = rec->apply_flags & WB_APPLY_F_WRITTEN;
	ret = wb_engine_apply_record(rp->e, rec, on_applied, ac);
	if (!ret) {
		if (rec->nextents)
			rp->data_head = rec->seq + 1;
		rp->applying++;
		wbd_repl_verify_applied(rp, rec->seq, false);
		/* acked on the io loop already (wbd_peerlink_mem_acked): a
		 * late DURABLE waits for the next ack from here or its timer */
		if (!p->durable_only && !mem_acked)
			send_mem_ack(p, rec->seq);
		return 0;
	}
	free(ac);
	if (ret == -EAGAIN)
		return ret;
	if (rec->pages)
		wb_pagebuf_release(wb_engine_apply_pagebuf(rp->e), rec->pages, npages);
	if (ret == -EALREADY) { /* older than the log holds: was durable */
		durable_ack(p, rec->seq, false);
		return 0;
	}
	if (wbd_repl_fail_check(rp))
		return 0; /* not this record's fault: the disk's */
	snprintf(why, sizeof(why), "record %llu refused: %s%s", (unsigned long long)rec->seq,
		 strerror(-ret),
		 ret == -ERANGE	  ? " (gap)"
		 : ret == -EEXIST ? " (conflicting record: split brain, resolve by hand)"
				  : "");
	wbd_err("%s: peer %s: %s", rp->res, p->node, why);
	pe.code = -ret;
	pe.text = why;
	wbd_peerlink_send(p->l, WBP_T_ERROR, &pe.base, NULL);
	wbd_peerlink_drop(p->l, ret, why);
	return 0;
}

static void on_record(struct repl_peer *p, const Wbrep__RecordHeader *h, void *data, uint32_t len)
{
	struct wbd_repl *rp = p->rp;
	struct repl_pend *pd = &rp->pend;
	struct wb_record rec = {0};
	struct wb_page **pages;
	uint32_t npages;

	/* the link read the data into RAM-buffer pages and checked its crcs
	 * on its io loop (cfg.pagebuf): the engine takes them as they are */
	pages = wbd_peerlink_take_pages(p->l, &npages);
	if (h->n_extents)
		rp->app_ms = wb_now_ms(); /* application writes: c-min-rate */
	if (rp->primary || h->n_extents > WBP_MAX_EXTENTS) {
		pages_release(rp, pages, npages);
		wbd_peerlink_drop(p->l, -EPROTO,
				  rp->primary ? "a primary takes no records" : "too many extents");
		return;
	}
	for (size_t i = 0; i < h->n_extents; i++)
		pd->ext[i] = (struct wb_extent){.lba = h->extents[i]->lba,
						.nblocks = h->extents[i]->nblocks,
						.crc = h->extents[i]->crc};
	rec.seq = h->seq;
	rec.gen = h->gen;
	rec.flags = h->flags;
	rec.nextents = (uint32_t)h->n_extents;
	rec.ext = pd->ext;
	rec.data = len && !pages ? data : NULL;
	rec.pages = pages;
	rec.time_ns = h->time_ns;
	rec.apply_flags = h->has_written_ack && h->written_ack ? WB_APPLY_F_WRITTEN : 0;
	/* resync writes to the backing device in flight: the record waits for
	 * them (its destage must not be overtaken by older resync data) */
	if (!rp->rs_writes &&
	    apply_one(p, &rec, npages, h->has_durable_ack_late && h->durable_ack_late,
		      wbd_peerlink_mem_acked(p->l)) != -EAGAIN) {
		free(pages);
		return;
	}
	/* RAM buffer full: keep the record (the receive buffer or the pages
	 * move to it) and stop reading until the engine ran */
	pd->used = true;
	pd->late = h->has_durable_ack_late && h->durable_ack_late;
	pd->mem_acked = wbd_peerlink_mem_acked(p->l);
	pd->p = p;
	pd->rec = rec;
	pd->data = len && !pages ? wbd_peerlink_take_data(p->l) : NULL;
	pd->rec.data = pd->data;
	pd->pages = pages;
	pd->npages = npages;
	wbd_peerlink_pause_rx(p->l, true);
}

void wbd_repl_after_run(struct wbd_repl *rp)
{
	struct repl_pend *pd;

	if (rp && rp->nheld && rp->gate == WBD_REPL_GATE_BACKING)
		backing_release(rp);
	if (rp)
		dur_moved(rp); /* a secondary's written records made durable */
	if (!rp || !rp->pend.used)
		return;
	pd = &rp->pend;
	if (pd->p->up && rp->rs_writes)
		return; /* on_record: after the resync writes */
	if (!pd->p->up) {
		pend_clear(rp);
		wbd_peerlink_pause_rx(pd->p->l, false);
	} else if (apply_one(pd->p, &pd->rec, pd->npages, pd->late, pd->mem_acked) == -EAGAIN) {
		return;
	} else {
		pd->rec.pages = NULL; /* the engine's, or released by apply_one */
		pend_clear(rp);
		wbd_peerlink_pause_rx(pd->p->l, false);
	}
}

/* ---- link callbacks ---- */

static void cb_hello(struct wbd_peerlink *l, Wbrep__Hello *h, void *arg)
{
	struct repl_peer *p = arg;
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;
	uint64_t max;

	memset(&st, 0, sizeof(st));
	wb_engine_stats(rp->e, &st);
	h->version = WBP_PROTO_VERSION;
	h->node = (char *)rp->local;
	h->resource = rp->res;
	h->has_role = h->has_block_size = h->has_max_record_bytes = h->has_size = 1;
	h->role = rp->primary ? WBREP__ROLE__ROLE_PRIMARY : WBREP__ROLE__ROLE_SECONDARY;
	h->block_size = WBP_BLOCK_SIZE;
	max = (uint64_t)st.max_record_blocks * WBP_BLOCK_SIZE;
	h->max_record_bytes = !max || max > WBP_DATA_LIMIT ? WBP_DATA_LIMIT : (uint32_t)max;
	h->size = st.size;
	h->has_max_size = !wb_engine_size_max(rp->e, &h->max_size);
	h->has_seq_head = h->has_seq_tail = h->has_gen_head = 1;
	h->seq_head = rp->primary ? rp->shipped_next : st.seq_head;
	h->seq_tail = st.seq_tail;
	h->gen_head = st.gen_head;
	h->has_inconsistent = rp->disk == REPL_DISK_INCONSISTENT;
	h->inconsistent = h->has_inconsistent;
	h->has_discard_my_data = rp->discard;
	h->discard_my_data = rp->discard;
	h->has_data_head = 1;
	h->data_head = rp->data_head < h->seq_head ? rp->data_head : h->seq_head;
	/* an IN_MEMORY ack is a wake-up on both nodes per record (docs/
	 * benchmarks.md, "Wake-ups per replicated write"): asked for only
	 * where a held reply waits for level B (hq_level) */
	/* a discard of this node's data takes a fork point (repl_synctarget.c) */
	h->has_discard_fork = h->discard_fork = 1;
	h->has_after_sb_1pri = 1;
	h->after_sb_1pri = (uint32_t)rp->after_sb;
	h->has_after_sb_0pri = 1;
	h->after_sb_0pri = (uint32_t)rp->after_sb0;
	h->has_replicating = h->replicating = wbd_repl_replicating(rp, p);
	h->has_serves_reads = h->serves_reads = 1; /* repl_verify.c, vf_request */
	h->has_sync_paused = 1; /* set or not: this node takes peer-state frames */
	h->sync_paused = rp->sync_paused;
	h->has_seq_durable = 1;
	h->seq_durable = st.seq_durable > h->seq_head ? h->seq_head : st.seq_durable;
	h->has_durable_acks_only = h->durable_acks_only =
	    rp->primary && rp->protocol != 'B' && !(rp->protocol == 'C' && rp->ack_mem);
	wbd_repl_uuid_hello_fill(rp, h);
	if (rp->has_meta)
		memcpy(p->told_uuid, rp->meta.data_uuid, WB_META_UUID_LEN);
	else
		memset(p->told_uuid, 0, WB_META_UUID_LEN);
}

static int hello_check(struct wbd_peerlink *l, const Wbrep__Hello *h, const struct wbp_limits *lim,
		       const char **why, void *arg)
{
	struct repl_peer *p = arg;
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;
	bool peer_primary = h->has_role && h->role == WBREP__ROLE__ROLE_PRIMARY;
	int ret;

	if (rp->failed) {
		*why = rp->failed_why;
		return -EPROTO;
	}
	if (rp->primary && peer_primary) {
		*why = "both nodes are primary (split brain); demote one by hand";
		return -EPROTO;
	}
	ret = wbd_repl_uuid_check(p, h, why);
	if (ret)
		return ret;
	if ((rp->primary && (p->rel == REPL_REL_ME_BEHIND || p->rel == REPL_REL_ME_BEHIND_LOG ||
			     p->rel == REPL_REL_ME_ROLLBACK)) ||
	    (peer_primary &&
	     (p->rel == REPL_REL_PEER_BEHIND || p->rel == REPL_REL_PEER_BEHIND_LOG ||
	      p->rel == REPL_REL_PEER_ROLLBACK))) {
		/* a primary of an older generation (it came back as primary);
		 * demoted, it catches up, or is rolled back and resynced, by
		 * itself (REPL_REL_*: nothing to re-create) */
		*why = rp->primary
			   ? "this primary's data generation is older than the peer's (it "
			     "was primary before the peer was promoted): demote it "
			     "(wbctl secondary): it then catches up with the newer data by "
			     "itself, nothing to re-create"
			   : "the peer is a primary of an older data generation than this "
			     "node's (an old primary): demote it (wbctl secondary on it): it "
			     "then catches up with the newer data by itself, nothing to "
			     "re-create";
		return -EPROTO;
	}
	p->max_size = h->has_max_size ? h->max_size : 0;
	if (!rp->primary) {
		/* a primary that grew (repl_grow.c): the same size here first */
		if (peer_primary && h->has_size && !wb_engine_stats(rp->e, &st) &&
		    h->size > st.size)
			return wbd_repl_grow_hello(p, h->size, why);
		return 0;
	}
	if (wb_engine_stats(rp->e, &st))
		return 0;
	if (st.max_record_blocks &&
	    (uint64_t)st.max_record_blocks * WBP_BLOCK_SIZE > lim->max_data) {
		*why = "the peer's max_record_bytes is below this primary's record size";
		return -EPROTO;
	}
	if (lim->dev_blocks * WBP_BLOCK_SIZE < st.size) {
		*why = "the peer's device is smaller than the primary's";
		return -EPROTO;
	}
	/* catch-up from the log, or a resync (repl_resync.c) */
	return wbd_repl_rs_decide(p, h, why);
}

/* The checks, and the reason of a refusal kept for wbctl status. */
static int cb_hello_check(struct wbd_peerlink *l, const Wbrep__Hello *h,
			  const struct wbp_limits *lim, const char **why, void *arg)
{
	struct repl_peer *p = arg;
	int ret = hello_check(l, h, lim, why, arg);

	if (ret && *why != p->problem)
		snprintf(p->problem, sizeof(p->problem), "%s", *why);
	return ret;
}

/*
 * The link just came up: did the hello it carried tell this node's current
 * data generation? It is built before the handshake ends, so a UUID made
 * durable in between (a primary's "lost" generation, rot_done, which only
 * redoes the links that are up; an adoption, secs_relink) is not in it, and
 * the peer would keep an older generation: a secondary up to date with its
 * primary but of the generation before the primary's, taken for one that
 * lacks records by the other secondaries (Outdated, refused promotion, rolled
 * back and fully resynced once the primary is gone: cluster torture seed
 * 51897). New hellos then; on a secondary that is a sync target at the
 * resync's end (the marker UUID, a roll-back may change it again).
 */
static void told_check(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	char a[2 * WB_META_UUID_LEN + 1], b[2 * WB_META_UUID_LEN + 1];

	if (!rp->has_meta || !memcmp(p->told_uuid, rp->meta.data_uuid, WB_META_UUID_LEN))
		return;
	if (!rp->primary && rp->rs_peer && rp->rs_peer != p) {
		rp->relink_secs = true;
		return;
	}
	wbd_repl_uuid_hex(p->told_uuid, a);
	wbd_repl_uuid_hex(rp->meta.data_uuid, b);
	wbd_info("%s: peer %s: new hellos: its hello told data generation %.12s, this node's "
		 "is %.12s since",
		 rp->res, p->node, a, b);
	wbd_peerlink_redo(p->l, "this node's data generation changed during the hello");
}

static void cb_state(struct wbd_peerlink *l, enum wbd_pl_state s, int err, void *arg)
{
	struct repl_peer *p = arg;
	struct wbd_repl *rp = p->rp;

	fast_disarm(rp); /* what the gate counts changes */
	if (s == WBD_PL_UP) {
		const Wbrep__Hello *h = wbd_peerlink_peer_hello(l);

		p->epoch++;
		wbd_repl_rs_reset(p);
		p->up = true;
		p->live = p->reading = p->blocked = p->congested = false;
		p->primary_peer = h->has_role && h->role == WBREP__ROLE__ROLE_PRIMARY;
		/* its operator's pause-sync (before a resync starts below) */
		p->knows_state = h->has_sync_paused;
		p->peer_paused = h->has_sync_paused && h->sync_paused;
		p->durable_only =
		    p->primary_peer && h->has_durable_acks_only && h->durable_acks_only;
		/* IN_MEMORY acks from the io loop, as records arrive */
		wbd_peerlink_set_mem_acks(l, !rp->primary && p->primary_peer && !p->durable_only);
		p->late_next = p->bar_asked = 0;
		p->dur_next = p->dur_late = 0;
		p->bar_wait = false;
		p->next = h->seq_head;
		if (rp->pend.used && rp->pend.p == p) {
			/* a record of the old connection: the peer sends it again */
			pend_clear(rp);
			wbd_peerlink_pause_rx(l, false);
		}
		struct wb_engine_stats st = {0};

		if (!rp->primary)
			wb_engine_stats(rp->e, &st);
		wbd_info("%s: peer %s up (%s, its seq %llu, ours %llu)", rp->res, p->node,
			 p->primary_peer ? "primary" : "secondary", (unsigned long long)h->seq_head,
			 (unsigned long long)(rp->primary ? rp->shipped_next : st.seq_head));
		p->acked_mem = p->acked_wr = p->acked_dur = h->seq_head;
		/* its records written, not flushed yet (written_ack): durable
		 * once its DURABLE ack says so (the log keeps them meanwhile) */
		if (h->has_seq_durable && h->seq_durable < h->seq_head)
			p->acked_dur = h->seq_durable;
		p->problem[0] = 0;
		/* the same here, told to a primary: flushed now rather than
		 * within log-commit-ms; the durable head is acked DURABLE now
		 * and again as it moves (dur_moved) */
		if (!rp->primary && p->primary_peer) {
			p->wr_late = false;
			rp->wr_pos = st.seq_head;
			rp->dur_pos = 0;
			if (st.seq_durable < st.seq_head)
				wb_engine_log_sync(rp->e, st.seq_head - 1);
			dur_moved(rp);
		}
		/* a peer this secondary tracked (it was away) is in sync once
		 * it told durable all this node holds now, of the same history
		 * (a primary may be ahead of it): its bitmap goes then
		 * (cb_frame, primary_durable, wbd_repl_bm_ack) */
		p->clear_rs = false;
		if (!rp->primary || p->primary_peer)
			p->clear_at =
			    p->tracking && (p->rel == REPL_REL_SAME ||
					    (p->primary_peer && p->rel == REPL_REL_ME_BEHIND))
				? (st.seq_head > 1 ? st.seq_head : 1)
				: 0;
		if (!p->primary_peer) {
			wbd_repl_log_hold(p, p->acked_dur);
			if (!rp->primary)
				wbd_repl_bm_ack(p);
		} else {
			/* A primary never reads records back from this node:
			 * the log keeps only what it has not made durable, as
			 * it tells (primary_durable; a promotion here holds
			 * the log for it from then on). Until told: nothing (a
			 * primary that does not tell would hold every record
			 * until the log filled and it was "dropped"). */
			wbd_repl_log_hold(p, 0);
			p->told_dur = false;
		}
		if (rp->primary) {
			if (p->rs.want)
				wbd_repl_rs_source_up(p);
			src_tell(rp, p); /* its hello told the durable position
					    then; now it may be further */
			work_kick(rp);
		} else if (p->primary_peer) {
			/* UpToDate once this node holds what the primary had */
			rp->sync_target = h->seq_head;
			/* from now on it holds a prefix of the primary's history:
			 * its generation (catch-up by seq keeps that true) */
			if (p->rel == REPL_REL_ME_BEHIND && (rp->meta.nhistory || st.seq_head > 1))
				wbd_repl_uuid_adopt(
				    p); /* (a new log takes them after its full sync) */
		}
		wbd_repl_disk_check(rp);
		told_check(p);
		return;
	}
	if (p->up) {
		wbd_info("%s: peer %s down: %s", rp->res, p->node,
			 err ? strerror(-err) : wbd_pl_state_name(s));
		p->peer_paused = p->knows_state = false;
		/* from its first record not acked durable on, the peer may
		 * lack what this primary writes: its bitmap says where */
		if (rp->primary && !p->primary_peer) {
			bool other = false;

			for (unsigned i = 0; i < rp->npeers; i++)
				other |= &rp->peers[i] != p && repl_peer_current(&rp->peers[i]);
			/* the last up-to-date peer (or a congested one:
			 * write-back waited for its acks as for a live one; a
			 * congested other is not counted, write-through does
			 * not wait for it): a new generation from its first
			 * record not acked durable, before any reply it may
			 * lack (rot_wait) */
			if (peer_uptodate_or_congested(p) && !other && rp->has_meta &&
			    (!rp->rot_pending || p->acked_dur < rp->rot_seq)) {
				rp->rot_seq = p->acked_dur;
				rp->rot_pending = true;
			}
			wbd_repl_bm_track(p, p->acked_dur);
		} else if (!rp->primary && !p->primary_peer && p->acked_dur) {
			/* another secondary: the same from the position it told
			 * (DRBD keeps a bitmap for every peer on every node): if
			 * this node is promoted before that one caught up, the
			 * bitmap covers what it lacks even once this log let go
			 * of its position (a restart here drops the hold) */
			wbd_repl_bm_track(p, p->acked_dur);
		} else if (!rp->primary && p->primary_peer && p->told_dur) {
			/* the primary: from the durable position it told last
			 * (src_tell): a power cut of it may have lost the
			 * records from there, which this node has; promoted,
			 * this node resyncs their blocks to it */
			struct wb_engine_stats st;

			if (!wb_engine_stats(rp->e, &st))
				wbd_repl_bm_track(p, p->acked_dur < st.seq_head ? p->acked_dur
										: st.seq_head);
		}
	}
	wbd_peerlink_set_mem_acks(l, false);
	p->up = p->live = p->congested = false;
	p->epoch++;
	if (rp->primary)
		work_kick(rp); /* write-through replies held for this peer go */
	wbd_repl_verify_peer_down(p);
	wbd_repl_peerread_peer_down(p);
	wbd_repl_rs_reset(p);
	p->rs.want = false;
	wbd_repl_peers_check(rp, false);
	wbd_repl_disk_check(rp);
	if (p->split && !p->standalone) {
		/* diverged data: StandAlone until wbctl connect (DRBD does so) */
		p->standalone = true;
		wbd_peerlink_stop(l);
	}
}

/* The peer refused the link; EUCLEAN = it found the data diverged. */
static void cb_refused(struct wbd_peerlink *l, int code, const char *text, void *arg)
{
	struct repl_peer *p = arg;

	snprintf(p->problem, sizeof(p->problem), "the peer refused: %s",
		 text ? text : strerror(code));
	/* diverged: StandAlone, unless this node follows another primary
	 * (repl_uuid.c: that link decides the peer's split brain) */
	if (code == EUCLEAN && !wbd_repl_followed(p->rp, p))
		p->split = true;
}

static void cb_frame(struct wbd_peerlink *l, const struct wbp_msg *m, void *data, void *arg)
{
	struct repl_peer *p = arg;
	struct wbd_repl *rp = p->rp;

	switch (m->type) {
	case WBP_T_RECORD:
		on_record(p, m->rec, data, m->data_len);
		break;
	case WBP_T_VERIFY_REQ:
		wbd_repl_verify_frame(p, m);
		break;
	case WBP_T_VERIFY_REPLY:
		if (m->vrep->has_data && m->vrep->data)
			wbd_repl_peerread_reply(p, m->vrep, data);
		else
			wbd_repl_verify_frame(p, m);
		break;
	case WBP_T_BARRIER:
		on_barrier(p, m->barrier);
		break;
	case WBP_T_SIZE_QUERY:
	case WBP_T_SIZE_REPLY:
		wbd_repl_grow_frame(p, m);
		break;
	case WBP_T_ACK: {
		/* the positions peerlink.c's io loop reads too; on a
		 * secondary another secondary's (tell_now) */
		uint64_t mem, wr, dur;

		wbp_ack_positions(m->ack, &mem, &wr, &dur);
		if (!rp->primary && p->primary_peer) {
			/* the primary's own durable position (src_tell) */
			if (dur)
				primary_durable(p, dur > p->acked_dur ? dur : p->acked_dur);
			wbd_repl_disk_check(rp);
			break;
		}
		if (wr > p->acked_wr)
			p->acked_wr = wr;
		if (dur > p->acked_dur) {
			p->acked_dur = dur;
			/* the log keeps what the peer has not made durable
			 * (a secondary: it may become the primary's peer
			 * behind this node) */
			wbd_repl_log_hold(p, p->acked_dur);
			wbd_repl_bm_ack(p);
		}
		if (!rp->primary) {
			wbd_repl_disk_check(rp);
			break;
		}
		if (mem > p->acked_mem)
			p->acked_mem = mem;
		repl_gate(rp);
		break;
	}
	default:
		if (wbd_repl_rs_frame(p, m, data))
			break;
		wbd_debug("%s: peer %s: %s frame ignored (not implemented yet)", rp->res, p->node,
			  wbp_type_name(m->type));
		break;
	}
}

static void cb_writable(struct wbd_peerlink *l, void *arg)
{
	struct repl_peer *p = arg;

	p->blocked = false;
	work_kick(p->rp);
}

/* Resync data comes from the resync buffer pool (1 MiB buffers; the
 * target's backing write puts them back); anything else, a record the
 * RAM buffer had no pages for included, gets what it needs. */
static void *cb_rx_buf(unsigned type, size_t len)
{
	return type == WBP_T_RESYNC_DATA ? wbd_repl_rs_buf_get(len) : wb_io_alloc(len);
}

static const struct wbd_peerlink_ops repl_link_ops = {
    .hello = cb_hello,
    .hello_check = cb_hello_check,
    .state = cb_state,
    .frame = cb_frame,
    .writable = cb_writable,
    .refused = cb_refused,
    .rx_buf = cb_rx_buf,
};

static void work_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_repl *rp = arg;

	wbd_repl_peers_check(rp, false);
	if (!rp->primary)
		return;
	for (unsigned i = 0; i < rp->npeers; i++) {
		catch_up(&rp->peers[i]);
		wbd_repl_rs_source_work(&rp->peers[i]);
	}
	repl_gate(rp);
}

/* ---- life cycle ---- */

int wbd_repl_log_hold(struct repl_peer *p, uint64_t seq)
{
	int ret;

	/* a removed peer holds nothing: its bitmap tracks from there */
	if (p->removed && seq) {
		if (!p->forgotten)
			wbd_repl_bm_track(p, seq);
		seq = 0;
	}
	if (p->forgotten)
		return 0; /* no slot (and removed: seq is 0 here), nothing held */
	/* -EINVAL: the peer is ahead of this log; -ENOENT: already gone */
	ret = wb_engine_set_peer_pos(p->rp->e, p->slot, seq);

	if (!ret)
		p->hold = seq;
	return ret;
}

int wbd_repl_read_blocks(struct wbd_repl *rp, struct wb_req *wr, uint64_t lba, uint32_t nblocks,
			 void *buf, void (*done)(struct wb_req *, int), void *priv)
{
	memset(wr, 0, sizeof(*wr));
	wr->op = WB_REQ_READ;
	wr->off = lba * WB_BLOCK_SIZE;
	wr->len = nblocks * WB_BLOCK_SIZE;
	wr->buf = buf;
	wr->done = done;
	wr->priv = priv;
	return wb_engine_submit(rp->e, wr);
}

/* engine hook (from run()): destage could not read these blocks from the
 * log; a peer's copy is handed back to it (repl_peerread.c) */
static int on_log_unreadable(void *arg, uint64_t lba, uint32_t n)
{
	return wbd_repl_log_unreadable(arg, lba, n);
}

int wbd_repl_hooks(struct wbd_repl *rp, bool on)
{
	/* a secondary's destage asks its primary too (repl_peerread.c) */
	struct wb_repl_hooks hooks = {.arg = rp, .log_unreadable = on_log_unreadable};

	if (on) {
		hooks.ship = on_ship;
		hooks.peer_dropped = on_peer_dropped;
	}
	return wb_engine_set_repl_hooks(rp->e, &hooks);
}

struct scan_ctx {
	bool done;
	int err;
	uint32_t nextents;
	struct wb_engine *e;
};

static int scan_done(void *arg)
{
	return ((struct scan_ctx *)arg)->done;
}

static int scan_run(void *arg)
{
	int ret = wb_engine_run(((struct scan_ctx *)arg)->e, 1);

	return ret < 0 ? ret : 0;
}

static void scan_cb(void *arg, int err, struct wb_rec_ref *ref)
{
	struct scan_ctx *c = arg;

	c->done = true;
	c->err = err;
	c->nextents = err ? 0 : ref->rec.nextents;
}

/* The seq after the newest record with data in the log (the hello's
 * data_head): read back the last few records; one that cannot be read
 * counts as data. */
static uint64_t data_head_scan(struct wb_engine *e, uint64_t head, uint64_t tail)
{
	for (unsigned n = 0; head > tail && n < 16; n++, head--) {
		struct scan_ctx c = {0};

		if (wb_engine_read_record(e, head - 1, scan_cb, &c))
			return head;
		c.e = e;
		wb_drain(scan_done, scan_run, &c, WB_DRAIN_CLOSE_MS, "replication",
			 "reading back the log head");
		if (!c.done || c.err || c.nextents)
			return head;
	}
	return head;
}

/* What replication starts from, read from the engine: the ship position,
 * the newest data record, the data generation UUIDs (an unfinished resync
 * to this node: Inconsistent) and the bitmap region size. */
static int repl_from_engine(struct wbd_repl *rp)
{
	struct wb_engine *e = rp->e;
	struct wb_engine_stats st;
	struct wb_bm_info bi;
	int ret;

	ret = wb_engine_stats(e, &st);
	if (ret) {
		wbd_err("%s: replication: engine stats: %s", rp->res, strerror(-ret));
		return ret;
	}
	rp->shipped_next = st.seq_head;
	rp->data_head = data_head_scan(e, st.seq_head, st.seq_tail);
	rp->has_meta = !wb_engine_meta(e, &rp->meta) && rp->meta.version >= 2;
	/* a primary starts without an up-to-date peer: a new generation
	 * before a reply a peer may lack (rot_wait); not for a log never
	 * written (two new logs are the same data) */
	if (rp->primary && rp->has_meta && (rp->meta.nhistory || st.seq_head > 1)) {
		rp->rot_pending = true;
		rp->rot_seq = st.seq_head;
	}
	if (rp->has_meta && wbd_repl_rs_marked(rp->meta.data_uuid)) {
		rp->disk = REPL_DISK_INCONSISTENT;
		/* --discard-my-data before its log was rebased: still so */
		rp->discard = rp->meta.data_uuid[8] == RS_MARK_DISCARD;
		wb_engine_snap_fence(e, 1); /* its backing is part resynced */
		wbd_warn("%s: this node's data is Inconsistent (a resync to it did not finish): "
			 "it resyncs from its primary%s",
			 rp->res, rp->discard ? ", discarding its data" : "");
	}
	if (!rp->has_meta)
		wbd_warn("%s: replication without data generation UUIDs (log format 1 or an "
			 "engine without metadata): split brain and diverged data are not detected",
			 rp->res);
	if (!wb_engine_bm_info(e, 0, &bi) && bi.region_size)
		rp->bm_region = bi.region_size;
	if (!rp->bm_region)
		wbd_warn("%s: replication without dirty bitmaps (a log formatted before "
			 "them): a peer that falls behind the log gets a full sync",
			 rp->res);
	return 0;
}

/* Node n of the configuration as a peer with its link (not started);
 * nothing for this node itself. */
static int repl_add_peer(struct wbd_repl *rp, const struct wbd_repl_env *env,
			 const struct wbconf_node *n)
{
	struct repl_peer *p;
	struct wbd_peerlink_cfg lc = {0};
	bool active;

	if (!strcmp(n->name, rp->local))
		return 0;
	if (rp->npeers == WB_ENGINE_MAX_PEERS) {
		wbd_err("%s: replication: more than %d peers", rp->res, WB_ENGINE_MAX_PEERS);
		return -E2BIG;
	}
	p = &rp->peers[rp->npeers];
	p->rp = rp;
	p->idx = rp->npeers++;
	p->slot = REPL_NO_SLOT; /* repl_assign_slots */
	snprintf(p->node, sizeof(p->node), "%s", n->name);
	active = strcmp(rp->local, n->name) < 0;
	lc.resource = rp->res;
	lc.local = rp->local;
	lc.peer = p->node;
	lc.host = active ? n->address.host : NULL;
	lc.port = n->address.port;
	lc.tls = env->tls;
	lc.congestion = WBD_PL_CONG_BLOCK;
	lc.sndq_max = rp->sndq_max;
	lc.ping_timeout_ms = rp->ping_timeout_ms;
	/* record payloads into the engine's RAM-buffer pages on the link's
	 * io loop, crcs checked there (engine ABI 10) */
	lc.pagebuf = wb_engine_apply_pagebuf(rp->e);
	lc.ops = &repl_link_ops;
	lc.arg = p;
	/* acks may release replies on the io loop (fast_io_ack) */
	lc.io_ack = fast_io_ack;
	lc.io_put = fast_put;
	lc.io_arg = rp->fast;
	atomic_fetch_add(&rp->fast->refs, 1);
	/* the first link on rp->loop, where the NBD connections go too; the
	 * others round robin (one loop for all of them cost 3-node QD32
	 * writes 0.6-0.75x in A/B runs: docs/benchmarks.md) */
	lc.loop = rp->npeers == 1 ? rp->loop : NULL;
	return wbd_peerlink_new(rp->base, &lc, &p->l);
}

/* A peer's bitmap still tracking from before: not known to be in sync. */
static void repl_peer_tracking(struct repl_peer *p)
{
	struct wb_bm_info bi;

	if (p->rp->bm_region)
		p->tracking = !wb_engine_bm_info(p->rp->e, p->slot, &bi) && bi.tracking;
}

/* name is the node of one of rp's peers */
static bool repl_owner_is_peer(const struct wbd_repl *rp, const char *name)
{
	for (unsigned i = 0; i < rp->npeers; i++)
		if (!strcmp(rp->peers[i].node, name))
			return !rp->peers[i].forgotten; /* forgotten: its slot is free */
	return false;
}

/*
 * Each peer's slot (p->slot: its dirty bitmap and its hold on the log).
 * The log names the node each slot is kept for (engine ABI 13), so a peer
 * takes the slot with its name, wherever its [node] section now is;
 * a peer without one (a new node, a log of before owners) the first slot
 * nobody owns, then one kept for a node that is no peer any more (marked
 * whole and renamed: repl_bm_owners); past the log's bitmaps a number
 * without one. So removing a node or reordering the [node] sections no
 * longer hands a peer another node's bitmap (before 2026-12-04 a slot was
 * a peer's place in the list: every peer that moved got a full sync). An
 * engine without names or bitmaps: the place, as before.
 */
static void repl_assign_slots(struct wbd_repl *rp)
{
	char own[WB_ENGINE_MAX_PEERS][WB_ENGINE_BM_OWNER_LEN];
	bool taken[WB_ENGINE_MAX_PEERS] = {false};
	struct wb_bm_info bi = {0};
	unsigned nslots = 0, i, s;

	if (rp->bm_region && !wb_engine_bm_info(rp->e, 0, &bi))
		nslots = bi.npeers < WB_ENGINE_MAX_PEERS ? bi.npeers : WB_ENGINE_MAX_PEERS;
	rp->bm_named = false;
	for (s = 0; s < nslots; s++)
		if (wb_engine_bm_owner(rp->e, s, own[s]))
			nslots = 0; /* no names: by place */
		else
			rp->bm_named |= own[s][0] != 0;
	if (!nslots) {
		for (i = 0; i < rp->npeers; i++)
			if (rp->peers[i].slot == REPL_NO_SLOT && !rp->peers[i].forgotten)
				rp->peers[i].slot = i;
		return;
	}
	for (i = 0; i < rp->npeers; i++)
		if (rp->peers[i].slot < WB_ENGINE_MAX_PEERS)
			taken[rp->peers[i].slot] = true;
	/* its own, then nobody's, then a former node's */
	for (int pass = 0; pass < 3; pass++)
		for (i = 0; i < rp->npeers; i++) {
			struct repl_peer *p = &rp->peers[i];

			for (s = 0; p->slot == REPL_NO_SLOT && !p->forgotten && s < nslots; s++) {
				bool mine = !strcmp(own[s], p->node), none = !own[s][0];

				if (taken[s] || (pass == 0 && !mine) || (pass == 1 && !none) ||
				    (pass == 2 && repl_owner_is_peer(rp, own[s])))
					continue;
				p->slot = s;
				taken[s] = true;
			}
		}
	for (i = 0; i < rp->npeers; i++) /* no bitmap for it */
		for (s = nslots; rp->peers[i].slot == REPL_NO_SLOT && !rp->peers[i].forgotten &&
				 s < WB_ENGINE_MAX_PEERS;
		     s++)
			if (!taken[s]) {
				rp->peers[i].slot = s;
				taken[s] = true;
			}
}

/*
 * Whose each bitmap is. Each slot remembers the node it was kept for
 * (engine ABI 13, the superblock's bm_owner) and a peer takes the slot
 * with its name (repl_assign_slots). A peer that gets a slot kept for
 * another node (its own gone, a log of before the names with another
 * order) would find there a bitmap which says nothing about what it lacks: used as its own
 * it would resync the wrong regions and leave the peer different without
 * a word. So every region of such a slot is marked as found different
 * (WB_BM_FOUND: cleared by a resync only, not by a catch-up from the log:
 * the peer gets a full sync at its next connect), the marks are made
 * durable (bm_flush), and only then the slot is named after its new
 * owner: a crash in between finds the old name again and marks again. A slot
 * nobody owns yet (a new log, or one written before 2026-12-04) is
 * claimed as it is.
 */
static void owner_set_done(void *arg, int err)
{
	struct repl_peer *p = arg;

	p->rp->applying--;
	if (err)
		wbd_err("%s: the bitmap of peer %s: its owner could not be written: %s", p->rp->res,
			p->node, strerror(-err));
}

static void owner_flushed(void *arg, int err)
{
	struct repl_peer *p = arg;

	if (!err)
		err = wb_engine_bm_owner_set(p->rp->e, p->slot, p->node, owner_set_done, p);
	if (err)
		owner_set_done(p, err);
}

/* A slot kept for a node that is no peer any more: nobody keeps its bitmap
 * up to date from now on, so its regions are all marked found (durably)
 * and its name cleared; a node that takes it later (or the same node
 * added again) gets a full sync, never what it held when it left. */
struct stale_ctx {
	struct wbd_repl *rp;
	unsigned slot;
};

static void stale_cleared(void *arg, int err)
{
	struct stale_ctx *c = arg;

	c->rp->applying--;
	if (err)
		wbd_err("%s: bitmap slot %u: clearing its owner failed: %s", c->rp->res, c->slot,
			strerror(-err));
	free(c);
}

static void stale_flushed(void *arg, int err)
{
	struct stale_ctx *c = arg;

	/* the node came back meanwhile (a reload added it) and took it */
	for (unsigned i = 0; i < c->rp->npeers; i++)
		if (c->rp->peers[i].slot == c->slot) {
			stale_cleared(c, 0);
			return;
		}
	if (!err)
		err = wb_engine_bm_owner_set(c->rp->e, c->slot, "", stale_cleared, c);
	if (err)
		stale_cleared(c, err);
}

static void repl_bm_stale(struct wbd_repl *rp, unsigned slot, const char *owner, uint64_t size)
{
	struct stale_ctx *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return; /* the same again at the next start */
	c->rp = rp;
	c->slot = slot;
	rp->applying++; /* wbd_repl_free waits for stale_cleared */
	wbd_warn("%s: bitmap slot %u was kept for node %s, which is no peer now: every region "
		 "marked, the slot freed",
		 rp->res, slot, owner);
	ret =
	    wb_engine_bm_found(rp->e, slot, 0, size) ?: wb_engine_bm_flush(rp->e, stale_flushed, c);
	if (ret)
		stale_cleared(c, ret);
}

/* Each peer's slot named after it (a slot kept for another node is marked
 * whole first); at start also the slots no peer took (stale). */
static void repl_bm_owners(struct wbd_repl *rp, bool stale)
{
	bool taken[WB_ENGINE_MAX_PEERS] = {false};
	struct wb_engine_stats st;
	struct wb_bm_info bi = {0};

	if (!rp->bm_region || wb_engine_stats(rp->e, &st))
		return;
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];
		char o[WB_ENGINE_BM_OWNER_LEN];
		int ret;

		if (p->slot < WB_ENGINE_MAX_PEERS)
			taken[p->slot] = true;
		if (wb_engine_bm_owner(rp->e, p->slot, o) || !strcmp(o, p->node))
			continue; /* no such slot or op, or its own */
		rp->applying++;	  /* wbd_repl_free waits for owner_set_done */
		if (!o[0] && !rp->bm_named) {
			/* a log before the names (or a new one): as it is */
			ret = wb_engine_bm_owner_set(rp->e, p->slot, p->node, owner_set_done, p);
		} else if (!o[0]) {
			/* a named log's free slot (never used, or freed: what it
			 * holds is nobody's now): a peer without its own slot
			 * is a new node or one that left, and gets a full sync */
			wbd_info("%s: bitmap slot %u is %s's now (it had none): every region "
				 "marked, a full sync",
				 rp->res, p->slot, p->node);
			ret = wb_engine_bm_found(rp->e, p->slot, 0, st.size)
				  ?: wb_engine_bm_flush(rp->e, owner_flushed, p);
		} else {
			wbd_warn("%s: bitmap slot %u was kept for node %s, now it is %s's: every "
				 "region marked, %s gets a full sync",
				 rp->res, p->slot, o, p->node, p->node);
			ret = wb_engine_bm_found(rp->e, p->slot, 0, st.size)
				  ?: wb_engine_bm_flush(rp->e, owner_flushed, p);
		}
		if (ret)
			owner_set_done(p, ret);
	}
	if (!stale || wb_engine_bm_info(rp->e, 0, &bi))
		return;
	for (unsigned s = 0; s < bi.npeers && s < WB_ENGINE_MAX_PEERS; s++) {
		char o[WB_ENGINE_BM_OWNER_LEN];

		if (!taken[s] && !wb_engine_bm_owner(rp->e, s, o) && o[0])
			repl_bm_stale(rp, s, o, st.size);
	}
}

int wbd_repl_new(struct event_base *base, const struct wbd_repl_env *env,
		 const struct wbd_repl_opts *o, struct wbd_repl **out)
{
	const char *res = o->res;
	struct wb_engine *e = o->e;
	bool primary = o->primary;
	const struct wbconf *c = env->conf;
	struct wb_engine_stats st;
	struct wbd_repl *rp;
	int ret;

	*out = NULL;
	rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->base = base;
	snprintf(rp->res, sizeof(rp->res), "%s", res);
	snprintf(rp->local, sizeof(rp->local), "%s", c->global.node_name);
	rp->e = e;
	rp->primary = primary;
	rp->disk = primary ? REPL_DISK_UPTODATE : REPL_DISK_CONSISTENT;
	rp->protocol = o->protocol;
	rp->ack_mem = o->ack_memory;
	rp->after_sb = o->after_sb;
	rp->after_sb0 = o->after_sb0;
	rp->min_peers = o->min_peers;
	rp->changed = o->changed;
	rp->carg = o->arg;
	for (int q = 0; q < REPL_NHQ; q++)
		rp->hq[q].tail = &rp->hq[q].head;
	rp->fast = calloc(1, sizeof(*rp->fast));
	if (!rp->fast) {
		free(rp);
		return -ENOMEM;
	}
	atomic_init(&rp->fast->refs, 1);
	/* the io loop of the first link, and the resource's NBD connections
	 * go there too (wbd_repl_loop): its acks can release their replies
	 * where they arrive */
	rp->loop = wbd_ioloop_pick();
	rp->gate = WBD_REPL_GATE_BACKING; /* a node starts in write-through */
	rp->backing = o->backing;
	rp->rs_rate = o->resync_rate;
	rp->rs_checksum = o->resync_checksum;
	rp->rs_min_rate = o->c_min_rate;
	rp->rs_delay_ms = o->c_delay_target_ms;
	rp->env = env;
	snprintf(rp->rs_after, sizeof(rp->rs_after), "%s", o->resync_after ? o->resync_after : "");
	rp->rs_before = o->before_target ? strdup(o->before_target) : NULL;
	rp->backing_path = strdup(o->backing_path ? o->backing_path : "");
	rp->sndq_max = o->sndq_max;
	rp->ping_timeout_ms = o->ping_timeout_ms;
	ret = repl_from_engine(rp);
	if (ret)
		goto out_free;
	rp->ev_work = event_new(base, -1, 0, work_cb, rp);
	rp->ev_tell = evtimer_new(base, tell_cb, rp);
	rp->ev_dur = evtimer_new(base, dur_cb, rp);
	rp->ev_src = evtimer_new(base, src_cb, rp);
	if (!rp->ev_work || !rp->ev_tell || !rp->ev_dur || !rp->ev_src) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = wbd_repl_hooks(rp, primary);
	if (ret && primary) {
		wbd_err("%s: replication: the engine has no ship hook: %s", res, strerror(-ret));
		goto out_free;
	}
	ret = 0;
	for (size_t i = 0; i < c->nnodes; i++) {
		const struct wbconf_resource *rc = wbconf_resource_find(c, res);

		/* the resource's nodes only ("nodes"; unset: every [node]) */
		if (rc && !wbconf_res_on_node(rc, c->nodes[i].name))
			continue;
		ret = repl_add_peer(rp, env, &c->nodes[i]);
		if (ret)
			goto out_free;
	}
	repl_assign_slots(rp);
	for (unsigned i = 0; i < rp->npeers; i++)
		repl_peer_tracking(&rp->peers[i]);
	repl_bm_owners(rp, true);
	if (!wb_engine_stats(rp->e, &st)) {
		/* a node that starts does not know how far its peers got (a
		 * hold on the log lives in memory): every record still in the
		 * log goes into every peer's bitmap, so that a peer whose
		 * position the log has let go of by the time it connects gets a
		 * bitmap resync, not a full sync. Nothing older can be missing
		 * on a peer: the tail only passed records every connected peer
		 * had acked or told durable, and a peer that was not connected
		 * has been tracking since (persistent). A secondary too: it
		 * may be promoted before a fellow that went while it was down
		 * returns. Cleared once the peer caught up (a primary's peer)
		 * or told durable all this node held when it connected. */
		for (unsigned i = 0; rp->bm_region && i < rp->npeers; i++)
			wbd_repl_bm_track(&rp->peers[i], st.seq_tail);
		/* ... and the log keeps those records for every peer until it
		 * connects (its hello sets the hold to its position) or is
		 * dropped past peer-retention, as for a peer that went away:
		 * a peer that returns soon catches up from the log instead of
		 * a bitmap resync of the records this node recovered and
		 * destaged before it connected */
		if (st.seq_tail < st.seq_head && rp->npeers) {
			for (unsigned i = 0; i < rp->npeers; i++)
				wbd_repl_log_hold(&rp->peers[i], st.seq_tail);
			wbd_info("%s: the log keeps its %llu records (seq %llu..%llu) for each "
				 "peer until it connects or peer-retention drops it",
				 res, (unsigned long long)(st.seq_head - st.seq_tail),
				 (unsigned long long)st.seq_tail,
				 (unsigned long long)st.seq_head - 1);
		}
	}
	for (unsigned i = 0; i < rp->npeers; i++)
		wbd_peerlink_start(rp->peers[i].l);
	wbd_info("%s: replication %s with %u peer%s", res, primary ? "primary" : "secondary",
		 rp->npeers, rp->npeers == 1 ? "" : "s");
	*out = rp;
	return 0;
out_free:
	wbd_repl_free(rp);
	return ret;
}

static bool repl_reading(const struct wbd_repl *rp)
{
	for (unsigned j = 0; j < rp->npeers; j++)
		if (rp->peers[j].reading)
			return true;
	return false;
}

static int repl_settled(void *arg)
{
	const struct wbd_repl *rp = arg;

	/* growing: the engine's grow completes into rp (repl_grow.c) */
	return !repl_reading(rp) && !rp->applying && !rp->refs && !rp->growing &&
	       atomic_load(&rp->fast->state) != REPL_FAST_TAKEN;
}

static int repl_settle(void *arg)
{
	struct wbd_repl *rp = arg;

	if (rp->refs || atomic_load(&rp->fast->state) == REPL_FAST_TAKEN)
		event_base_loop(rp->base, EVLOOP_NONBLOCK);
	if (repl_reading(rp) || rp->applying || rp->growing)
		wb_engine_run(rp->e, 1);
	return 0;
}

void wbd_repl_free(struct wbd_repl *rp)
{
	if (!rp)
		return;
	held_release(rp, UINT64_MAX, -ESHUTDOWN);
	wb_engine_set_repl_hooks(rp->e, &(struct wb_repl_hooks){0}); /* none calls rp now */
	/* A hold on the log lives in memory, and the tail on disk moves with
	 * destage alone: after a restart the log may no longer have the
	 * records a peer it held them for lacks, and tracking from the tail
	 * at the start would not cover them (a full sync). So each held
	 * peer's bitmap tracks from its hold now, durably before the log
	 * closes (the drain below waits for it); cleared as usual once the
	 * peer caught up or told durable all this node holds. */
	for (unsigned i = 0; i < rp->npeers; i++) {
		if (rp->peers[i].hold)
			wbd_repl_bm_track(&rp->peers[i], rp->peers[i].hold);
		rp->peers[i].epoch++;
		wbd_repl_rs_reset(&rp->peers[i]);
		wbd_peerlink_free(rp->peers[i].l);
		rp->peers[i].l = NULL;
		rp->peers[i].up = false;
		wbd_repl_log_hold(&rp->peers[i], 0);
	}
	wbd_repl_peerread_free(rp); /* reads waiting for a peer: their own error */
	/* read-backs and applies complete from run(): let them, they hold
	 * pointers into rp (bounded: each is one request in the engine) */
	wb_drain(repl_settled, repl_settle, rp, WB_DRAIN_CLOSE_MS, rp->res,
		 "replication stop: read-backs and applies in flight");
	if (rp->refs || rp->applying)
		wbd_err("%s: replication: %u record references and %u applies left at stop",
			rp->res, rp->refs, rp->applying);
	if (rp->growing) /* its completion must not find rp (engine/wblog_grow.c) */
		wbd_err("%s: replication: a grow still running at stop", rp->res);
	wbd_repl_verify_free(rp);
	wbd_repl_grow_free(rp);
	pend_clear(rp);
	if (rp->ev_work)
		event_free(rp->ev_work);
	if (rp->ev_tell)
		event_free(rp->ev_tell);
	if (rp->ev_dur)
		event_free(rp->ev_dur);
	if (rp->ev_src)
		event_free(rp->ev_src);
	fast_put(rp->fast); /* the links' go when they are freed */
	free(rp->rs_before);
	free(rp->backing_path);
	free(rp);
}

struct wbd_ioloop *wbd_repl_loop(const struct wbd_repl *rp)
{
	return rp ? rp->loop : NULL;
}

int wbd_repl_add_check(struct wbd_repl *rp, unsigned more, char *err, size_t len)
{
	struct wb_bm_info bi = {0};
	unsigned forgotten = 0;

	for (unsigned i = 0; i < rp->npeers; i++)
		forgotten += rp->peers[i].forgotten;
	if (rp->npeers + more > WB_ENGINE_MAX_PEERS) {
		snprintf(err, len, "resource %s: more than %d peers", rp->res, WB_ENGINE_MAX_PEERS);
		return -E2BIG;
	}
	/* a peer without a bitmap slot could never be resynced (repl_resync.c) */
	if (rp->bm_region &&
	    (wb_engine_bm_info(rp->e, 0, &bi) || rp->npeers - forgotten + more > bi.npeers)) {
		unsigned gone = rp->npeers - forgotten - wbd_repl_nmembers(rp);

		if (gone)
			snprintf(err, len,
				 "resource %s: its log has dirty bitmaps for %u peers, %u with the "
				 "new node%s, %u of them kept for removed nodes until a restart of "
				 "wbrepd frees them (or wbctl forget-peer %s NODE now)",
				 rp->res, bi.npeers, rp->npeers - forgotten + more,
				 more == 1 ? "" : "s", gone, rp->res);
		else
			snprintf(err, len,
				 "resource %s: its log has dirty bitmaps for %u peers, %u with the "
				 "new node%s: re-create its metadata with more (wbengine format "
				 "--bitmap-peers)",
				 rp->res, bi.npeers, rp->npeers - forgotten + more,
				 more == 1 ? "" : "s");
		return -ENOSPC;
	}
	return 0;
}

int wbd_repl_add_node(struct wbd_repl *rp, const struct wbd_repl_env *env,
		      const struct wbconf_node *n)
{
	struct repl_peer *p;
	int ret;

	if (!strcmp(n->name, rp->local))
		return 0;
	for (unsigned i = 0; i < rp->npeers; i++) {
		p = &rp->peers[i];
		if (strcmp(p->node, n->name))
			continue;
		if (p->removed) { /* back: the same link, its slot kept tracking */
			bool forgotten = p->forgotten;

			p->removed = false;
			p->forgotten = false;
			p->standalone = false;
			p->split = false;
			p->problem[0] = 0;
			if (forgotten) { /* its slot went: a free one, marked whole */
				repl_assign_slots(rp);
				repl_peer_tracking(p);
				repl_bm_owners(rp, false);
			}
			/* at the address the reload gives it (the link is
			 * stopped: no reconnect of its own) */
			wbd_repl_readdress(rp, n);
			wbd_peerlink_start(p->l);
			wbd_info("%s: peer %s added back (bitmap slot %u%s): replication %s with "
				 "%u peer%s",
				 rp->res, p->node, p->slot,
				 forgotten ? ", a new one: it was forgotten" : "",
				 rp->primary ? "primary" : "secondary", wbd_repl_nmembers(rp),
				 wbd_repl_nmembers(rp) == 1 ? "" : "s");
			if (rp->changed)
				rp->changed(rp->carg);
		}
		return 0;
	}
	ret = repl_add_peer(rp, env, n);
	if (ret) {
		wbd_err("%s: cannot add peer %s: %s", rp->res, n->name, strerror(-ret));
		if (rp->npeers && !rp->peers[rp->npeers - 1].l &&
		    !strcmp(rp->peers[rp->npeers - 1].node, n->name)) {
			/* no link made: the slot as it was (its reference too) */
			atomic_fetch_sub(&rp->fast->refs, 1);
			memset(&rp->peers[--rp->npeers], 0, sizeof(rp->peers[0]));
		}
		return ret;
	}
	p = &rp->peers[rp->npeers - 1];
	/* a free slot (one kept under its name was freed at start: it was
	 * no peer then), named after it */
	repl_assign_slots(rp);
	repl_peer_tracking(p);
	repl_bm_owners(rp, false);
	wbd_peerlink_start(p->l);
	wbd_info("%s: peer %s added (bitmap slot %u): replication %s with %u peers", rp->res,
		 p->node, p->slot, rp->primary ? "primary" : "secondary", rp->npeers);
	if (rp->changed)
		rp->changed(rp->carg);
	return 0;
}

static struct repl_peer *peer_find(struct wbd_repl *rp, const char *node)
{
	for (unsigned i = 0; rp && i < rp->npeers; i++)
		if (!strcmp(rp->peers[i].node, node))
			return &rp->peers[i];
	return NULL;
}

bool wbd_repl_removed(struct wbd_repl *rp, const char *node)
{
	const struct repl_peer *p = peer_find(rp, node);

	return p && p->removed;
}

int wbd_repl_readdress(struct wbd_repl *rp, const struct wbconf_node *n)
{
	struct repl_peer *p = peer_find(rp, n->name);
	int ret;

	if (!p)
		return 0;
	ret = wbd_peerlink_readdress(p->l, n->address.host, n->address.port);
	if (ret < 0)
		wbd_err("%s: peer %s: cannot take its new address %s:%u: %s", rp->res, p->node,
			n->address.host, n->address.port, strerror(-ret));
	else if (ret && !p->removed)
		wbd_info("%s: peer %s now at %s:%u: its link reconnects there", rp->res, p->node,
			 n->address.host, n->address.port);
	return ret < 0 ? ret : 0;
}

unsigned wbd_repl_nmembers(const struct wbd_repl *rp)
{
	unsigned n = 0;

	for (unsigned i = 0; rp && i < rp->npeers; i++)
		n += !rp->peers[i].removed;
	return n;
}

int wbd_repl_remove_check(struct wbd_repl *rp, const char *node, char *err, size_t len)
{
	const struct repl_peer *p = peer_find(rp, node);

	/* this secondary would be left without its source and the primary
	 * would go on counting it: move the primary first */
	if (p && !p->removed && !rp->primary && p->primary_peer && p->up) {
		snprintf(err, len,
			 "resource %s: node %s is its primary (connected): move the primary role "
			 "first (wbctl secondary %s on %s, wbctl primary %s on another node), or "
			 "remove the node on the primary and its other peers first",
			 rp->res, node, rp->res, node, rp->res);
		return -EBUSY;
	}
	return 0;
}

void wbd_repl_remove_node(struct wbd_repl *rp, const char *node)
{
	struct repl_peer *p = peer_find(rp, node);

	if (!p || p->removed)
		return;
	p->removed = true;
	p->standalone = true;
	wbd_peerlink_stop(p->l);
	/* what the log kept for it goes: the bitmap covers it from there
	 * (wbd_repl_log_hold), as for a peer dropped past peer-retention */
	if (p->hold)
		wbd_repl_log_hold(p, p->hold);
	wbd_info("%s: peer %s removed: its link closed%s; replication %s with %u peer%s", rp->res,
		 p->node, rp->primary ? ", the log no longer kept for it" : "",
		 rp->primary ? "primary" : "secondary", wbd_repl_nmembers(rp),
		 wbd_repl_nmembers(rp) == 1 ? "" : "s");
	wbd_repl_peers_check(rp, false);
	work_kick(rp);
	if (rp->changed)
		rp->changed(rp->carg);
}

int wbd_repl_forget_peer(struct wbd_repl *rp, const char *node, char *msg, size_t len)
{
	struct repl_peer *p = peer_find(rp, node);
	struct wb_engine_stats st;
	struct wb_bm_info bi = {0};
	unsigned slot;

	if (!p) {
		snprintf(msg, len, "resource %s has no node %s", rp->res, node);
		return -ENOENT;
	}
	if (!p->removed) {
		snprintf(msg, len,
			 "node %s is a peer of resource %s: remove it from the resource's nodes "
			 "first (wbctl reload), then forget it",
			 node, rp->res);
		return -EBUSY;
	}
	if (p->forgotten) {
		snprintf(msg, len, "node %s was forgotten already", node);
		return -EALREADY;
	}
	slot = p->slot;
	p->slot = REPL_NO_SLOT;
	p->forgotten = true;
	/* marked whole durably, then its name cleared (repl_bm_stale): a
	 * crash in between finds the name again, and frees it at the start */
	if (rp->bm_region && !wb_engine_stats(rp->e, &st) && !wb_engine_bm_info(rp->e, 0, &bi) &&
	    slot < bi.npeers)
		repl_bm_stale(rp, slot, node, st.size);
	snprintf(msg, len,
		 "node %s forgotten: its bitmap slot %u is marked whole and free for another node "
		 "(added back, %s gets a full sync)",
		 node, slot, node);
	wbd_info("%s: %s", rp->res, msg);
	if (rp->changed)
		rp->changed(rp->carg);
	return 0;
}

struct wbd_peerlink *wbd_repl_link(struct wbd_repl *rp, const char *node)
{
	struct repl_peer *p = peer_find(rp, node);

	return p && !p->removed ? p->l : NULL;
}
