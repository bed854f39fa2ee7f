// SPDX-License-Identifier: GPL-2.0-only
/*
 * modectl.c - facts -> wbd_policy_decide -> the mode in force of a resource
 * (see modectl.h for the table and docs/cluster.md, "Mode control").
 *
 * Order of a change. Leaving write-back: the engine is switched to
 * write-through first (from then on it acknowledges a write only once it
 * is durable on the backing device, and destage drains the log without
 * watermarks), then the ack gate (replies held for the peers are released
 * only once the backing device has their records, or never while
 * suspended), then admission. Entering write-back: the gate first, then
 * the engine. All of it happens in one call on the event base's thread, so
 * no completion is delivered in between.
 */
#include "daemon/modectl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/events.h"
#include "daemon/membership.h"
#include "daemon/nbd.h"
#include "daemon/repl.h"
#include "daemon/resource.h"
#include "daemon/ringfe_keeper.h"
#include "daemon/wbd_log.h"

struct wbd_mc_held {
	struct wbd_mc_held *next;
	struct wb_req *wr;
	void (*release)(struct wb_req *wr, int err);
	uint64_t need; /* the engine's seq_head when held: its records are below */
};

static uint64_t mc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *wbd_modectl_name(enum wbd_policy_mode m)
{
	switch (m) {
	case WBD_POLICY_WRITEBACK:
		return "writeback";
	case WBD_POLICY_WRITETHROUGH:
		return "writethrough";
	case WBD_POLICY_SUSPEND:
	case WBD_POLICY_IO_ERROR:
		return "suspended";
	}
	return "?";
}

int wbd_modectl_ring_admit(const struct wbd_resource *r)
{
	return r->ex.admit == WBD_NBD_ADMIT_HOLD   ? WBD_RINGFE_ADMIT_HOLD
	       : r->ex.admit == WBD_NBD_ADMIT_FAIL ? WBD_RINGFE_ADMIT_FAIL
						   : WBD_RINGFE_ADMIT_OPEN;
}

enum wb_mode wbd_modectl_engine_mode(const struct wbd_resource *r)
{
	return r->mc.active && r->mc.mode == WBD_POLICY_WRITEBACK ? WB_MODE_WRITEBACK
								  : WB_MODE_WRITETHROUGH;
}

/* ---- completions held while suspended (no replication gate) ---- */

/* Release the held completions whose records are below upto (all of them
 * for UINT64_MAX) with err. */
static void mc_release(struct wbd_modectl *mc, uint64_t upto, int err)
{
	while (mc->held && (err || mc->held->need <= upto)) {
		struct wbd_mc_held *h = mc->held;

		mc->held = h->next;
		if (!mc->held)
			mc->held_tail = &mc->held;
		mc->nheld--;
		h->release(h->wr, err);
		free(h);
	}
}

bool wbd_modectl_hold(struct wbd_resource *r, struct wb_req *wr,
		      void (*release)(struct wb_req *wr, int err))
{
	return wbd_modectl_hold_fast(r, wr, release, NULL);
}

bool wbd_modectl_hold_fast(struct wbd_resource *r, struct wb_req *wr,
			   void (*release)(struct wb_req *wr, int err), struct wbd_repl_fast *f)
{
	struct wbd_modectl *mc = &r->mc;
	struct wb_engine_stats st;
	struct wbd_mc_held *h;

	if (r->repl) /* its gate is set below */
		return wbd_repl_hold_fast(r->repl, wr, release, f);
	if (!mc->active) { /* going down: no reply that policy has not allowed */
		release(wr, -ESHUTDOWN);
		return true;
	}
	if (mc->mode == WBD_POLICY_WRITEBACK || mc->mode == WBD_POLICY_WRITETHROUGH)
		return false; /* no peers: the engine's ack is the ack */
	if (mc->mode == WBD_POLICY_IO_ERROR) {
		release(wr, -EIO);
		return true;
	}
	/* suspended: the minority acknowledges nothing until quorum returns */
	h = malloc(sizeof(*h));
	if (!h) {
		release(wr, -ENOMEM);
		return true;
	}
	memset(&st, 0, sizeof(st));
	wb_engine_stats(r->engine, &st);
	h->next = NULL;
	h->wr = wr;
	h->release = release;
	h->need = st.seq_head;
	*mc->held_tail = h;
	mc->held_tail = &h->next;
	mc->nheld++;
	return true;
}

void wbd_modectl_after_run(struct wbd_resource *r)
{
	struct wbd_modectl *mc = &r->mc;
	struct wb_engine_stats st;

	if (!mc->held || mc->mode != WBD_POLICY_WRITETHROUGH || !r->engine ||
	    wb_engine_stats(r->engine, &st))
		return;
	/* back from suspend into write-through: a reply goes out once the
	 * backing device has the request's records */
	mc_release(mc, !st.dirty_bytes ? UINT64_MAX : st.seq_destaged, 0);
}

/* ---- facts ---- */

/* A peer is a member when its wbrepd is in the CPG group, announced its
 * [node] name there, and its corosync node is a quorum member (facts in
 * arg; docs/cluster.md "CPG state"). */
static bool mc_member(void *arg, const char *node)
{
	return wbd_memb_find(arg, node) != NULL;
}

struct mc_health {
	const struct wbd_memb_facts *f;
	const char *res;
};

/* ... and its replica of the resource is up, secondary and UpToDate, as
 * the peer itself announced it */
static bool mc_peer_healthy(void *arg, const char *node)
{
	const struct mc_health *h = arg;
	const struct wbd_memb_proc *p = wbd_memb_find(h->f, node);
	const struct wbd_cpg_res *cr = p ? wbd_cpg_find(&p->st, h->res) : NULL;

	return cr && cr->up && !cr->primary && cr->disk == WBD_CPG_DISK_UPTODATE;
}

struct mc_change {
	const struct wbd_memb_facts *old, *now;
};

static bool mc_left(void *arg, const char *node)
{
	const struct mc_change *c = arg;

	return mc_member((void *)c->old, node) && !mc_member((void *)c->now, node);
}

void wbd_modectl_membership(struct wbd_resource *r, const struct wbd_memb_facts *old)
{
	/* a peer that left this partition: its link is dropped now, not at
	 * its ping timeout (a crashed node sends no FIN), so that a
	 * promotion here is not refused by a dead primary's link and the
	 * primary stops counting on it at once. Only while corosync is
	 * connected: without it nothing is known about the peers. */
	wbd_modectl_eval(r, "membership"); /* first: the mode change says why */
	if (r->repl && r->memb && r->memb->connected && old->connected) {
		struct mc_change c = {old, r->memb};

		wbd_repl_drop_if(r->repl, mc_left, &c, "left the corosync membership");
	}
}

/* Peers that are connected and UpToDate (primary: live) and, with
 * corosync, members that announced an UpToDate secondary replica over CPG:
 * the link and the peer's own word have to agree. */
static unsigned mc_healthy(struct wbd_resource *r, bool *primary)
{
	unsigned healthy, total;

	*primary = r->conf->role != WBCONF_ROLE_SECONDARY;
	if (!r->repl)
		return 0;
	wbd_repl_counts(r->repl, primary, &healthy, &total);
	if (!r->memb || !*primary)
		return healthy;
	struct mc_health h = {r->memb, r->name};

	return wbd_repl_healthy_if(r->repl, mc_peer_healthy, &h);
}

static bool mc_forced_wt(const struct wbd_resource *r)
{
	if (!r->mc.wb_capable)
		return true;
	if (r->mode_forced >= 0)
		return r->mode_forced == WB_MODE_WRITETHROUGH;
	return r->conf->cache_mode == WBCONF_CACHE_WRITETHROUGH;
}

/* ---- applying a decision ---- */

static void mc_apply(struct wbd_resource *r, enum wbd_policy_mode m, bool peers_short)
{
	enum wbd_repl_gate gate = WBD_REPL_GATE_PEERS;
	int admit = WBD_NBD_ADMIT_OPEN;

	switch (m) {
	case WBD_POLICY_WRITEBACK:
		break;
	case WBD_POLICY_WRITETHROUGH:
		gate = peers_short ? WBD_REPL_GATE_BACKING : WBD_REPL_GATE_PEERS;
		break;
	case WBD_POLICY_SUSPEND:
		gate = WBD_REPL_GATE_CLOSED;
		admit = WBD_NBD_ADMIT_HOLD;
		break;
	case WBD_POLICY_IO_ERROR:
		gate = WBD_REPL_GATE_FAIL;
		admit = WBD_NBD_ADMIT_FAIL;
		break;
	}
	if (m != WBD_POLICY_WRITEBACK)
		wbd_resource_sync_mode(r); /* stop early acks first */
	wbd_repl_set_gate(r->repl, gate);
	if (m == WBD_POLICY_IO_ERROR)
		mc_release(&r->mc, UINT64_MAX, -EIO);
	else if (m == WBD_POLICY_WRITEBACK)
		mc_release(&r->mc, UINT64_MAX, 0);
	if (admit != r->ex.admit) {
		wbd_nbd_export_set_admit(&r->ex, admit);
		wbd_ringfe_keeper_admit(r->ring); /* asks wbd_modectl_ring_admit */
	}
	if (m == WBD_POLICY_WRITEBACK)
		wbd_resource_sync_mode(r);
}

void wbd_modectl_eval(struct wbd_resource *r, const char *trigger)
{
	struct wbd_modectl *mc = &r->mc;
	struct wbd_policy_facts f = {0};
	struct wb_engine_stats st;
	char reason[sizeof(mc->reason)];
	enum wbd_policy_mode m, prev = mc->mode;
	unsigned healthy;
	bool primary;

	if (!mc->active || !r->engine)
		return;
	f.connected = !r->memb || r->memb->connected;
	f.quorate = !r->memb || r->memb->quorate;
	f.log_healthy = !wb_engine_stats(r->engine, &st) && st.state == WB_STATE_OK;
	healthy = mc_healthy(r, &primary);
	f.healthy_peers = healthy;
	/* a secondary applies its primary's records whatever its mode; its
	 * own peers do not decide it */
	f.wb_min_peers = r->repl && primary ? r->conf->wb_min_peers : 0;
	f.on_no_quorum = r->conf->on_no_quorum;
	f.force_write_through = mc_forced_wt(r);
	m = wbd_policy_decide(&f, reason, sizeof(reason));
	if (!mc->wb_capable && m == WBD_POLICY_WRITETHROUGH)
		snprintf(reason, sizeof(reason), "%s", "quorate, the engine caches nothing");
	if (r->repl && !primary && (m == WBD_POLICY_WRITEBACK || m == WBD_POLICY_WRITETHROUGH)) {
		char tmp[sizeof(reason)];

		/* its peer count means nothing here: say so instead */
		snprintf(tmp, sizeof(tmp), "%s", m == WBD_POLICY_WRITEBACK ? "quorate" : reason);
		snprintf(reason, sizeof(reason), "secondary, %.140s", tmp);
	}
	if (r->repl && healthy != mc->healthy && primary)
		wbd_event(r->name, "peers", wbd_modectl_name(m), reason,
			  "%u of %u required peers connected and UpToDate (was %u)", healthy,
			  f.wb_min_peers, mc->healthy);
	else if (r->repl && healthy != mc->healthy)
		wbd_event(r->name, "peers", wbd_modectl_name(m), reason,
			  "%u peers connected (was %u)", healthy, mc->healthy);
	mc->healthy = healthy;
	mc->mode = m;
	snprintf(mc->reason, sizeof(mc->reason), "%s", reason);
	mc_apply(r, m, healthy < f.wb_min_peers);
	if (m == prev)
		return;
	mc->changes++;
	mc->since_ms = mc_now_ms();
	wbd_event(r->name, "mode", wbd_modectl_name(m), reason, "mode %s -> %s (%s): %s",
		  wbd_policy_mode_name(prev), wbd_policy_mode_name(m), trigger, reason);
}

void wbd_modectl_up(struct wbd_resource *r)
{
	struct wbd_modectl *mc = &r->mc;

	mc->active = true;
	mc->mode = WBD_POLICY_WRITETHROUGH;
	snprintf(mc->reason, sizeof(mc->reason), "starting");
	mc->since_ms = mc_now_ms();
	mc->healthy = 0;
	mc->held_tail = &mc->held;
	wbd_modectl_eval(r, "up");
}

void wbd_modectl_down(struct wbd_resource *r)
{
	struct wbd_modectl *mc = &r->mc;

	mc->active = false;
	mc_release(mc, UINT64_MAX, -ESHUTDOWN);
}
