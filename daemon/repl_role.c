// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl_role.c - roles of a replicated resource at run time (wbctl primary /
 * secondary), its links on and off (wbctl connect / disconnect) and what
 * wbctl status shows per peer (docs/replication.md, "Roles" and "Status").
 *
 * A role change re-establishes every link: the hello carries the role, so
 * after a new pair of hellos each side knows the other's role and position
 * (a primary takes a secondary's seq_head as where to ship from; two
 * primaries refuse each other). The resource (resource.c) stops and drains
 * the writes before a demotion; here only the glue and the engine switch.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"

/* New hellos on every link: the peers learn this node's new role. */
static void relink(struct wbd_repl *rp, const char *why)
{
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->standalone)
			continue;
		/* the active side reconnects after its shortest backoff */
		wbd_peerlink_drop(p->l, -ECONNRESET, why);
	}
}

int wbd_repl_promote(struct wbd_repl *rp, bool force, char *err, size_t errlen)
{
	struct wb_engine_stats st;
	int ret;

	if (rp->primary)
		return 0;
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->up && p->primary_peer) {
			/* never two primaries, --force or not */
			snprintf(err, errlen,
				 "peer %s is primary: demote it first (wbctl secondary %s on %s)",
				 p->node, rp->res, p->node);
			return -EBUSY;
		}
	}
	ret = wb_engine_stats(rp->e, &st);
	if (ret) {
		snprintf(err, errlen, "engine stats: %s", strerror(-ret));
		return ret;
	}
	if (!force && rp->disk != REPL_DISK_UPTODATE) {
		snprintf(err, errlen,
			 "this node's disk is %s (it has not caught up with a primary since it "
			 "started): promote the node that has the newest data, or use --force "
			 "if this one has it",
			 wbd_repl_disk(rp));
		return -EAGAIN;
	}
	for (unsigned i = 0; i < rp->npeers && !force; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->up && p->acked_dur > st.seq_head) {
			snprintf(err, errlen,
				 "peer %s holds records up to seq %llu, this node only up to "
				 "%llu: promote %s instead (with --force its extra records are "
				 "refused later, never merged)",
				 p->node, (unsigned long long)p->acked_dur - 1,
				 (unsigned long long)st.seq_head - 1, p->node);
			return -EAGAIN;
		}
	}
	if (rp->pend.used) {
		snprintf(err, errlen, "a received record is still waiting for room; retry");
		return -EBUSY;
	}
	ret = wb_engine_set_role(rp->e, WB_ROLE_PRIMARY);
	if (ret) {
		snprintf(err, errlen, "the engine cannot become primary: %s", strerror(-ret));
		return ret;
	}
	ret = wb_engine_stats(rp->e, &st) ?: repl_hooks(rp, true);
	if (ret) {
		wb_engine_set_role(rp->e, WB_ROLE_REPLICA);
		snprintf(err, errlen, "the engine has no ship hook: %s", strerror(-ret));
		return ret;
	}
	rp->primary = true;
	rp->disk = REPL_DISK_UPTODATE;
	rp->shipped_next = st.seq_head;
	/* write-through until the mode policy sees wb-min-peers peers up to
	 * date again (daemon/modectl.c) */
	rp->gate = WBD_REPL_GATE_BACKING;
	repl_peers_check(rp, true);
	wbd_info("%s: promoted to primary at seq %llu%s", rp->res, (unsigned long long)st.seq_head,
		 force ? " (forced)" : "");
	relink(rp, "this node became primary");
	work_kick(rp);
	return 0;
}

int wbd_repl_demote(struct wbd_repl *rp, char *err, size_t errlen)
{
	struct wb_engine_stats st;
	int ret;

	if (!rp->primary)
		return 0;
	if (rp->nheld)
		return -EBUSY; /* replies wait for peer acks */
	ret = wb_engine_set_role(rp->e, WB_ROLE_REPLICA);
	if (ret == -EBUSY)
		return ret; /* writes pending in the engine */
	if (ret) {
		snprintf(err, errlen, "the engine cannot become a replica: %s", strerror(-ret));
		return ret;
	}
	repl_hooks(rp, false);
	for (unsigned i = 0; i < rp->npeers; i++)
		wb_engine_set_peer_pos(rp->e, i, 0);
	rp->primary = false;
	rp->disk = REPL_DISK_UPTODATE; /* it was the primary: its data is current */
	repl_peers_check(rp, true);    /* a secondary: its peers do not decide */
	wb_engine_stats(rp->e, &st);
	wbd_info("%s: demoted to secondary at seq %llu", rp->res, (unsigned long long)st.seq_head);
	relink(rp, "this node became secondary");
	return 0;
}

void wbd_repl_disconnect(struct wbd_repl *rp)
{
	for (unsigned i = 0; i < rp->npeers; i++) {
		rp->peers[i].standalone = true;
		wbd_peerlink_stop(rp->peers[i].l);
	}
	wbd_info("%s: disconnected from every peer (StandAlone)", rp->res);
}

int wbd_repl_connect(struct wbd_repl *rp, bool discard_my_data, char *err, size_t errlen)
{
	if (discard_my_data) {
		snprintf(err, errlen,
			 "--discard-my-data is not implemented yet (no resync): see "
			 "docs/replication.md, \"Split brain\"");
		return -EOPNOTSUPP;
	}
	for (unsigned i = 0; i < rp->npeers; i++) {
		rp->peers[i].standalone = false;
		wbd_peerlink_start(rp->peers[i].l);
	}
	wbd_info("%s: connecting to every peer", rp->res);
	return 0;
}

void wbd_repl_counts(struct wbd_repl *rp, bool *primary, unsigned *healthy, unsigned *total)
{
	*primary = rp->primary;
	*healthy = repl_healthy(rp);
	*total = rp->npeers;
}

unsigned wbd_repl_nheld(const struct wbd_repl *rp)
{
	return rp ? rp->nheld : 0;
}

const char *wbd_repl_disk(const struct wbd_repl *rp)
{
	switch (rp->disk) {
	case REPL_DISK_UPTODATE:
		return "UpToDate";
	case REPL_DISK_OUTDATED:
		return "Outdated";
	default:
		return "Consistent";
	}
}

static const char *connection_name(const struct repl_peer *p)
{
	switch (wbd_peerlink_state(p->l)) {
	case WBD_PL_UP:
		return "Connected";
	case WBD_PL_STOPPED:
		return "StandAlone";
	default:
		return "Connecting";
	}
}

unsigned wbd_repl_status(struct wbd_repl *rp, struct wbd_repl_peer_status *st, unsigned max)
{
	struct wb_engine_stats es = {0};
	unsigned n = 0;

	if (rp)
		wb_engine_stats(rp->e, &es);

	for (unsigned i = 0; rp && i < rp->npeers && n < max; i++, n++) {
		struct repl_peer *p = &rp->peers[i];
		struct wbd_repl_peer_status *s = &st[n];

		memset(s, 0, sizeof(*s));
		s->node = p->node;
		s->connection = connection_name(p);
		s->problem = p->problem;
		s->acked_dur = p->acked_dur;
		s->role = !p->up ? "unknown" : p->primary_peer ? "primary" : "secondary";
		s->disk = "DUnknown";
		s->replication = "Off";
		if (!p->up)
			continue;
		if (rp->primary) {
			/* records go out as placed (live) or are read back */
			s->disk = p->live ? "UpToDate" : "Outdated";
			s->replication = p->live ? "Established" : "CatchingUp";
			s->has_seq_lag = true;
			s->seq_lag = (int64_t)(rp->shipped_next - p->acked_dur);
		} else if (p->primary_peer) {
			s->disk = "UpToDate";
			s->replication =
			    rp->disk == REPL_DISK_UPTODATE ? "Established" : "CatchingUp";
		} else {
			/* another secondary: its durable position, told by acks */
			s->has_seq_lag = true;
			s->seq_lag = (int64_t)(es.seq_head - p->acked_dur);
		}
	}
	return n;
}
