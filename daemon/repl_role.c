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
void wbd_repl_relink(struct wbd_repl *rp, const char *why)
{
	wbd_debug("%s: new hellos: %s", rp->res, why);
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->standalone || !p->l)
			continue;
		/* an active side reconnects at once (a passive one: its peer
		 * reconnects after its shortest backoff) */
		wbd_peerlink_redo(p->l, why);
	}
}

static void promoted(struct wbd_repl *rp, int err)
{
	char u[2 * WB_META_UUID_LEN + 1];

	wbd_repl_uuid_hex(rp->meta.data_uuid, u);
	if (!err)
		wbd_info("%s: new data generation %s", rp->res, u);
	if (rp->primary && !rp->stopping)
		wbd_repl_relink(rp, "this node became primary");
}

/* The peer's hello says it holds no data to keep (repl_hello_void):
 * however many records it has, no other node's data is older than its. */
static bool peer_data_void(const struct repl_peer *p)
{
	const Wbrep__Hello *h = p->l ? wbd_peerlink_peer_hello(p->l) : NULL;

	return h && repl_hello_void(h);
}

/* Whether this node may become primary now: never next to another
 * primary; without --force only with up-to-date data, no connected peer
 * ahead of it, and nothing half done. 0 or -errno with the reason in err. */
static int promote_allowed(struct wbd_repl *rp, bool force, char *err, size_t errlen)
{
	struct wb_engine_stats st;
	int ret;

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
			 "this node's disk is %s (%s): promote the node that has the newest data, "
			 "or use --force if this one has it",
			 wbd_repl_disk(rp),
			 rp->disk == REPL_DISK_INCONSISTENT
			     ? "a resync to it has not finished"
			     : "it has not caught up with a primary since it started");
		return -EAGAIN;
	}
	for (unsigned i = 0; i < rp->npeers && !force; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->up && p->acked_wr > st.seq_head && !peer_data_void(p)) {
			snprintf(err, errlen,
				 "peer %s holds records up to seq %llu, this node only up to "
				 "%llu: promote %s instead (with --force its extra records are "
				 "refused later, never merged)",
				 p->node, (unsigned long long)p->acked_wr - 1,
				 (unsigned long long)st.seq_head - 1, p->node);
			return -EAGAIN;
		}
	}
	if (rp->pend.used || rp->meta_busy) {
		snprintf(err, errlen, "%s; retry",
			 rp->pend.used ? "a received record is still waiting for room"
				       : "the data generation UUIDs are being written");
		return -EBUSY;
	}
	return 0;
}

/* The engine becomes primary with its ship hook; *st: its stats then. */
static int promote_engine(struct wbd_repl *rp, struct wb_engine_stats *st, char *err, size_t errlen)
{
	int ret;

	ret = wb_engine_set_role(rp->e, WB_ROLE_PRIMARY);
	if (ret) {
		snprintf(err, errlen, "the engine cannot become primary: %s", strerror(-ret));
		return ret;
	}
	ret = wb_engine_stats(rp->e, st) ?: wbd_repl_hooks(rp, true);
	if (ret) {
		wb_engine_set_role(rp->e, WB_ROLE_REPLICA);
		snprintf(err, errlen, "the engine has no ship hook: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int wbd_repl_promote(struct wbd_repl *rp, bool force, char *err, size_t errlen)
{
	struct wb_engine_stats st;
	int ret;

	if (rp->primary)
		return 0;
	if (rp->failed) { /* not even with --force: nothing can be written here */
		snprintf(err, errlen, "%s", rp->failed_why);
		return -EIO;
	}
	ret = promote_allowed(rp, force, err, errlen) ?: promote_engine(rp, &st, err, errlen);
	if (ret)
		return ret;
	rp->primary = true;
	rp->disk = REPL_DISK_UPTODATE;
	rp->shipped_next = st.seq_head;
	rp->src_told = 0;	 /* its durable position, told anew (repl.c, src_tell) */
	rp->rot_pending = false; /* the promotion begins a new generation anyway */
	/* keep what the peers will need to catch up: the secondaries' holds
	 * stay (from their positions), the others (the old primary) from here;
	 * and the bitmap of a peer that is not connected (the old primary)
	 * tracks from here: what it lacks of this generation */
	for (unsigned i = 0; i < rp->npeers; i++) {
		if (!rp->peers[i].hold)
			wbd_repl_log_hold(&rp->peers[i], st.seq_head);
		if (!rp->peers[i].up)
			wbd_repl_bm_track(&rp->peers[i], st.seq_head);
	}
	/* write-through until the mode policy sees wb-min-peers peers up to
	 * date again (daemon/modectl.c) */
	rp->gate = WBD_REPL_GATE_BACKING;
	wbd_repl_peers_check(rp, true);
	wbd_info("%s: promoted to primary at seq %llu%s", rp->res, (unsigned long long)st.seq_head,
		 force ? " (forced)" : "");
	/* a new data generation begins here; the peers hear of the new role
	 * once it is durable (records written meanwhile are caught up) */
	ret = wbd_repl_uuid_new(rp, st.seq_head, promoted);
	if (ret) {
		if (ret != -EOPNOTSUPP)
			wbd_err("%s: cannot start a new data generation UUID: %s; split brain "
				"with this generation will not be detected",
				rp->res, strerror(-ret));
		wbd_repl_relink(rp, "this node became primary");
	}
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
	/* a failed engine completes nothing more (its writes failed, some
	 * never reach ack_seq): only the role changes, so that a peer can
	 * take over; the next up opens the engine anew */
	ret = rp->failed ? 0 : wb_engine_set_role(rp->e, WB_ROLE_REPLICA);
	if (ret == -EBUSY)
		return ret; /* writes pending in the engine */
	if (ret) {
		snprintf(err, errlen, "the engine cannot become a replica: %s", strerror(-ret));
		return ret;
	}
	wbd_repl_hooks(rp, false); /* the holds stay: the peers may need them */
	rp->primary = false;
	wbd_repl_peerread_role(rp); /* reads waiting for a peer fail */
	if (!rp->failed)
		rp->disk = REPL_DISK_UPTODATE; /* it was the primary: its data is current */
	rp->rot_pending = false;	       /* nothing acknowledged alone: no new generation */
	wbd_repl_peers_check(rp, true);	       /* a secondary: its peers do not decide */
	wb_engine_stats(rp->e, &st);
	wbd_info("%s: demoted to secondary at seq %llu", rp->res, (unsigned long long)st.seq_head);
	wbd_repl_relink(rp, "this node became secondary");
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

/* A link out of StandAlone (or a refusal) and started again: wbctl
 * connect, or a split brain that no longer holds (wbd_repl_discard). */
static void peer_restart(struct repl_peer *p)
{
	p->split = false;
	p->problem[0] = 0;
	p->standalone = false;
	wbd_peerlink_start(p->l);
}

void wbd_repl_discard(struct wbd_repl *rp, struct repl_peer *from)
{
	/* a resync from the primary replaces what differs (repl_resync.c:
	 * the blocks both sides wrote since the fork, or every one);
	 * Inconsistent in memory now, durably once it starts */
	rp->discard = true;
	rp->disk = REPL_DISK_INCONSISTENT;
	if (!from)
		return;
	/* after-sb-0pri/1pri (repl_uuid.c sb_auto): from's link is refused
	 * and comes back with the new hello; the other peers see it too, also
	 * one refused for a split brain before (StandAlone): with this node's
	 * data thrown away there is none left with it */
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p == from || p->removed)
			continue;
		if (!p->standalone) {
			wbd_peerlink_drop(p->l, -ECONNRESET,
					  "new hello: discarding this node's data (after-sb)");
		} else if (p->split) {
			wbd_info("%s: peer %s: connecting again: the split brain with it is gone, "
				 "this node discards its data",
				 rp->res, p->node);
			peer_restart(p);
		}
	}
}

int wbd_repl_connect(struct wbd_repl *rp, bool discard_my_data, char *err, size_t errlen)
{
	if (discard_my_data) {
		if (rp->primary) {
			snprintf(err, errlen,
				 "this node is primary: demote it first (wbctl secondary %s), then "
				 "--discard-my-data takes the primary's data",
				 rp->res);
			return -EBUSY;
		}
		wbd_repl_discard(rp, NULL);
	}
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (p->removed)
			continue;
		if (p->standalone || !discard_my_data) {
			peer_restart(p);
			continue;
		}
		p->split = false;
		p->problem[0] = 0;
		wbd_peerlink_drop(p->l, -ECONNRESET, "new hello: discarding this node's data");
	}
	wbd_info("%s: connecting to every peer%s", rp->res,
		 discard_my_data ? " (discarding this node's data: a resync from the primary)"
				 : "");
	return 0;
}

void wbd_repl_counts(struct wbd_repl *rp, bool *primary, unsigned *healthy, unsigned *total)
{
	*primary = rp->primary;
	*healthy = repl_healthy(rp);
	*total = wbd_repl_nmembers(rp);
}

unsigned wbd_repl_nheld(const struct wbd_repl *rp)
{
	return rp ? rp->nheld : 0;
}

/*
 * A secondary's disk state (docs/replication.md, "Status"): with a primary
 * connected, UpToDate once it holds what the primary had at connect;
 * without one, Outdated when a connected secondary holds more records,
 * UpToDate when a majority of the nodes (itself included) is connected and
 * none holds more, else unchanged (UpToDate when it was so as the primary
 * went away, Consistent after a start).
 */
void wbd_repl_disk_check(struct wbd_repl *rp)
{
	static const char *const names[] = {"Consistent", "Outdated", "UpToDate", "Inconsistent"};
	struct wb_engine_stats st;
	enum repl_disk d = rp->disk;
	const struct repl_peer *primary = NULL;
	bool primary_up = false, ahead = false;
	unsigned up = 0;

	/* Inconsistent ends only with a finished resync (repl_resync.c) */
	if (rp->primary || rp->disk == REPL_DISK_INCONSISTENT || wb_engine_stats(rp->e, &st))
		return;
	for (unsigned i = 0; i < rp->npeers; i++) {
		const struct repl_peer *p = &rp->peers[i];

		if (!p->up)
			continue;
		up++;
		if (p->primary_peer)
			primary = p;
		primary_up |= p->primary_peer;
		/* more records in the same generation, or a newer generation */
		ahead |= !p->primary_peer && !peer_data_void(p) &&
			 ((p->rel != REPL_REL_PEER_BEHIND && p->rel != REPL_REL_PEER_BEHIND_LOG &&
			   p->rel != REPL_REL_PEER_ROLLBACK && p->acked_wr > st.seq_head) ||
			  p->rel == REPL_REL_ME_BEHIND || p->rel == REPL_REL_ME_BEHIND_LOG ||
			  p->rel == REPL_REL_ME_ROLLBACK);
	}
	if (primary_up)
		d = st.seq_head >= rp->sync_target ? REPL_DISK_UPTODATE : REPL_DISK_OUTDATED;
	else if (ahead)
		d = REPL_DISK_OUTDATED;
	else if (2 * (up + 1) > wbd_repl_nmembers(rp) + 1)
		d = REPL_DISK_UPTODATE;
	if (primary && d == REPL_DISK_UPTODATE)
		wbd_repl_uuid_adopt((struct repl_peer *)primary); /* same data: same UUIDs */
	if (d == rp->disk)
		return;
	rp->disk = d;
	wbd_info("%s: disk %s at seq %llu (%s)", rp->res, names[d], (unsigned long long)st.seq_head,
		 primary_up ? "primary connected"
		 : ahead    ? "a connected secondary holds more records"
			    : "a majority of the nodes connected, none ahead");
}

bool wbd_repl_data_uuid(const struct wbd_repl *rp, uint8_t out[16])
{
	if (!rp->has_meta)
		return false;
	memcpy(out, rp->meta.data_uuid, 16);
	return true;
}

const char *wbd_repl_disk(const struct wbd_repl *rp)
{
	switch (rp->disk) {
	case REPL_DISK_UPTODATE:
		return "UpToDate";
	case REPL_DISK_OUTDATED:
		return "Outdated";
	case REPL_DISK_INCONSISTENT:
		return "Inconsistent";
	default:
		return "Consistent";
	}
}

void wbd_repl_disk_reason(const struct wbd_repl *rp, char *buf, size_t len)
{
	buf[0] = 0;
	if (!rp)
		return;
	switch (rp->disk) {
	case REPL_DISK_UPTODATE:
		break;
	case REPL_DISK_OUTDATED:
		snprintf(buf, len,
			 "behind a connected node's data: it catches up from the primary");
		break;
	case REPL_DISK_INCONSISTENT:
		if (rp->rs_peer)
			snprintf(buf, len, "a resync from %s runs", rp->rs_peer->node);
		else if (rp->discard)
			snprintf(buf, len,
				 "this node discards its data (a split brain resolved, or "
				 "--discard-my-data): resynced once a primary is connected");
		else
			snprintf(buf, len, "a resync into this node has not finished");
		break;
	default:
		snprintf(buf, len,
			 "not yet compared with a primary or an up-to-date peer since it started");
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

unsigned wbd_repl_removed_names(const struct wbd_repl *rp, const char **out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; rp && i < rp->npeers && n < max; i++)
		if (rp->peers[i].removed && !rp->peers[i].forgotten)
			out[n++] = rp->peers[i].node;
	return n;
}

unsigned wbd_repl_status(struct wbd_repl *rp, struct wbd_repl_peer_status *st, unsigned max)
{
	struct wb_engine_stats es = {0};
	unsigned n = 0;

	if (rp)
		wb_engine_stats(rp->e, &es);

	for (unsigned i = 0; rp && i < rp->npeers && n < max; i++) {
		struct repl_peer *p = &rp->peers[i];
		struct wbd_repl_peer_status *s;

		if (p->removed)
			continue;
		s = &st[n++];
		memset(s, 0, sizeof(*s));
		s->idx = i;
		s->node = p->node;
		s->connection = connection_name(p);
		s->problem = p->problem;
		s->acked_dur = p->acked_dur;
		s->cert_not_after = wbd_peerlink_peer_cert_expiry(p->l);
		s->role = !p->up ? "unknown" : p->primary_peer ? "primary" : "secondary";
		s->disk = "DUnknown";
		s->replication = "Off";
		if (rp->primary)
			s->has_oos = wbd_repl_bm_oos(p, &s->oos);
		if (p->hold && p->hold <= es.seq_head) {
			s->has_kept = true;
			s->kept = es.seq_head - p->hold;
		}
		if (!p->up)
			continue;
		s->peer_paused = p->peer_paused;
		wbd_repl_rs_status(p, s);
		if (rp->primary) {
			/* records go out as placed (live) or are read back;
			 * congested: read back only because the send queue
			 * was full, and write-back waits for its acks (it
			 * counts as connected, repl_peer_healthy) */
			bool cong = p->congested && !p->live && p->rs.state == REPL_RS_NONE;

			s->disk = p->rs.state == REPL_RS_SOURCE ? "Inconsistent"
				  : p->live || cong		? "UpToDate"
								: "Outdated";
			s->replication = p->rs.state == REPL_RS_SOURCE ? "SyncSource"
					 : p->live		       ? "Established"
					 : cong			       ? "Congested"
								       : "CatchingUp";
			s->congested = cong;
			s->has_sndq = true;
			s->sndq = wbd_peerlink_queued(p->l);
			s->sndq_max = wbd_peerlink_sndq_max(p->l);
			s->has_seq_lag = true;
			s->seq_lag = (int64_t)(rp->shipped_next - p->acked_dur);
		} else if (p->primary_peer) {
			s->disk = "UpToDate";
			s->replication = p->rs.state == REPL_RS_TARGET	  ? "SyncTarget"
					 : rp->disk == REPL_DISK_UPTODATE ? "Established"
									  : "CatchingUp";
		} else {
			/* another secondary: its durable position, told by acks */
			s->has_seq_lag = true;
			s->seq_lag = (int64_t)(es.seq_head - p->acked_dur);
		}
	}
	return n;
}
