// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl_uuid.c - data generation UUIDs of a replicated resource
 * (docs/replication.md, "Data generations and split brain"): what the hello
 * carries, how two nodes relate on connect, a new generation on promotion
 * and a secondary adopting its primary's.
 *
 * The UUIDs live in the engine's metadata (wb_engine_meta, format version
 * 2); this file keeps a copy (rp->meta) that the hellos carry and updates
 * it only once the engine made the change durable. A UUID made here at a
 * promotion records where its generation began: bytes 0..5 random, 6..7
 * REPL_UUID_MAGIC, 8..15 the first seq the new primary writes (le64). So
 * "the peer's current UUID is in my history" tells not only that the peer
 * is behind but also the common point: every record below the seq of the
 * next newer UUID is shared, and a peer holding records at or past it
 * wrote them alone: an old primary that crashed while connected (under
 * protocol C none of them was acknowledged): it is rolled back (its log
 * restarts at the other's head, the blocks of those records are resynced
 * from the other: REPL_REL_*_ROLLBACK), never merged. A primary that goes
 * on acknowledging writes without an up-to-date peer starts a new
 * generation first (repl.c, rot_*; byte 7 REPL_UUID_LOST instead of
 * REPL_UUID_MAGIC1): so an old primary that wrote alone has a current UUID
 * the new primary never saw (split brain, refused), and a peer whose
 * current UUID is the one just before such a "lost" one was that
 * primary's secondary: its records past the common point are the
 * primary's own, it is caught up. UUIDs of other origin (format, upgrade)
 * have no seq: a peer diverging from one is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "daemon/events.h"
#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"
#include "engine/byteorder.h"

#define REPL_UUID_MAGIC0 0x57 /* 'W' */
#define REPL_UUID_MAGIC1 0x53 /* 'S': begun at a promotion */
#define REPL_UUID_LOST	 0x4c /* 'L': begun without the last up-to-date peer */

static bool uuid_zero(const uint8_t *u)
{
	static const uint8_t zero[WB_META_UUID_LEN];

	return !memcmp(u, zero, WB_META_UUID_LEN);
}

/* The first seq of the generation u began at; false: not one of ours. */
static bool uuid_seq(const uint8_t *u, uint64_t *seq)
{
	if (u[6] != REPL_UUID_MAGIC0 || (u[7] != REPL_UUID_MAGIC1 && u[7] != REPL_UUID_LOST))
		return false;
	*seq = wb_load_le64(u + 8);
	return true;
}

void wbd_repl_uuid_hex(const uint8_t *u, char out[2 * WB_META_UUID_LEN + 1])
{
	for (int i = 0; i < WB_META_UUID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", u[i]);
}

/* Index of u in history h (n entries), or -1. */
static int hist_find(const uint8_t (*h)[WB_META_UUID_LEN], unsigned n, const uint8_t *u)
{
	for (unsigned i = 0; i < n; i++)
		if (!memcmp(h[i], u, WB_META_UUID_LEN))
			return (int)i;
	return -1;
}

bool wbd_repl_uuid_known(const struct wbd_repl *rp, const uint8_t *u)
{
	return rp->has_meta && (!memcmp(rp->meta.data_uuid, u, WB_META_UUID_LEN) ||
				hist_find(rp->meta.history, rp->meta.nhistory, u) >= 0);
}

/* a's current is b's history[k]: b's next newer generation began at
 * *common; false when that UUID carries no seq. */
static bool common_point(const struct repl_uuids *b, int k, uint64_t *common)
{
	return uuid_seq(k == 0 ? b->cur : b->hist[k - 1], common);
}

/* b's current generation was begun by b, a primary that lost its last
 * up-to-date peer, right after a's current one (k == 0): a was b's
 * secondary, its records are b's. */
static bool lost_after(const struct repl_uuids *b, int k)
{
	return k == 0 && b->cur[6] == REPL_UUID_MAGIC0 && b->cur[7] == REPL_UUID_LOST;
}

/* Records past data_head carry no data (0: not told, all of them may). */
static uint64_t data_head(const struct repl_uuids *u)
{
	return u->data_head && u->data_head < u->head ? u->data_head : u->head;
}

enum repl_rel wbd_repl_uuid_relate(const struct repl_uuids *me, const struct repl_uuids *peer,
				   uint64_t *common)
{
	bool me_new = !me->nhist && me->head <= 1, peer_new = !peer->nhist && peer->head <= 1;
	int k;

	*common = 0;
	if (uuid_zero(me->cur) || uuid_zero(peer->cur))
		return REPL_REL_UNKNOWN;
	if (!memcmp(me->cur, peer->cur, WB_META_UUID_LEN) || (me_new && peer_new))
		return REPL_REL_SAME;
	if (peer_new)
		return REPL_REL_PEER_BEHIND; /* never wrote: takes everything from seq 1 */
	if (me_new)
		return REPL_REL_ME_BEHIND;
	k = hist_find(me->hist, me->nhist, peer->cur);
	if (k >= 0) {
		if (!common_point(me, k, common))
			return REPL_REL_PEER_DIVERGED;
		if (lost_after(me, k) && peer->head <= me->head)
			return REPL_REL_PEER_BEHIND; /* its records are all this node's */
		if (data_head(peer) > *common)
			return REPL_REL_PEER_ROLLBACK;
		return peer->head <= *common ? REPL_REL_PEER_BEHIND : REPL_REL_PEER_BEHIND_LOG;
	}
	k = hist_find(peer->hist, peer->nhist, me->cur);
	if (k >= 0) {
		if (!common_point(peer, k, common))
			return REPL_REL_ME_DIVERGED;
		if (lost_after(peer, k) && me->head <= peer->head)
			return REPL_REL_ME_BEHIND;
		if (data_head(me) > *common)
			return REPL_REL_ME_ROLLBACK;
		return me->head <= *common ? REPL_REL_ME_BEHIND : REPL_REL_ME_BEHIND_LOG;
	}
	return REPL_REL_SPLIT;
}

/* Where side a left generation g, found at a's index k (-1: a's
 * current, still in it: at its head); false when the generation after it
 * carries no seq. */
static bool left_at(const struct repl_uuids *a, int k, uint64_t *seq)
{
	if (k < 0) {
		*seq = a->head;
		return true;
	}
	return common_point(a, k, seq);
}

/* The newest generation both sides had: at me's index *km and peer's *kp
 * (-1: that side's current one; histories are newest first). */
static bool common_gen(const struct repl_uuids *me, const struct repl_uuids *peer, int *km, int *kp)
{
	for (*km = -1; *km < (int)me->nhist; (*km)++) {
		const uint8_t *u = *km < 0 ? me->cur : me->hist[*km];
		bool cur = !memcmp(u, peer->cur, WB_META_UUID_LEN);

		*kp = cur ? -1 : hist_find(peer->hist, peer->nhist, u);
		if (cur || *kp >= 0)
			return true;
	}
	return false;
}

bool wbd_repl_uuid_fork(const struct repl_uuids *me, const struct repl_uuids *peer, uint64_t *from)
{
	int km, kp;
	uint64_t sm, sp;

	*from = 0;
	if (uuid_zero(me->cur) || uuid_zero(peer->cur))
		return false;
	if (!common_gen(me, peer, &km, &kp) || (km < 0 && kp < 0) || !left_at(me, km, &sm) ||
	    !left_at(peer, kp, &sp))
		return false; /* none, or the same current generation: no fork */
	*from = sm < sp ? sm : sp;
	return *from >= 1;
}

/* How side a's first data generation after the one both sides had (at a's
 * index k, -1: a is still in it) began (wbd_repl_uuid_began). */
static char began_after(const struct repl_uuids *a, int k)
{
	const uint8_t *g;

	if (k < 0)
		return '-';
	g = k == 0 ? a->cur : a->hist[k - 1];
	return g[6] != REPL_UUID_MAGIC0	  ? '?'
	       : g[7] == REPL_UUID_MAGIC1 ? 'S'
	       : g[7] == REPL_UUID_LOST	  ? 'L'
					  : '?';
}

void wbd_repl_uuid_began(const struct repl_uuids *me, const struct repl_uuids *peer, char *bm,
			 char *bp)
{
	int km, kp;

	*bm = *bp = '?';
	if (uuid_zero(me->cur) || uuid_zero(peer->cur) || !common_gen(me, peer, &km, &kp))
		return;
	*bm = began_after(me, km);
	*bp = began_after(peer, kp);
}

void wbd_repl_uuids_mine(const struct wbd_repl *rp, uint64_t head, struct repl_uuids *u)
{
	memset(u, 0, sizeof(*u));
	u->head = head;
	u->data_head = rp->data_head;
	if (!rp->has_meta)
		return;
	memcpy(u->cur, rp->meta.data_uuid, WB_META_UUID_LEN);
	u->nhist = rp->meta.nhistory;
	memcpy(u->hist, rp->meta.history, sizeof(u->hist));
}

void wbd_repl_uuids_hello(const Wbrep__Hello *h, struct repl_uuids *u)
{
	memset(u, 0, sizeof(*u));
	u->head = h->has_seq_head ? h->seq_head : 0;
	u->data_head = h->has_data_head ? h->data_head : 0;
	if (!h->has_data_uuid || h->data_uuid.len != WB_META_UUID_LEN)
		return;
	memcpy(u->cur, h->data_uuid.data, WB_META_UUID_LEN);
	for (size_t i = 0; i < h->n_uuid_history && u->nhist < WB_META_MAX_HISTORY; i++)
		if (h->uuid_history[i].len == WB_META_UUID_LEN)
			memcpy(u->hist[u->nhist++], h->uuid_history[i].data, WB_META_UUID_LEN);
}

void wbd_repl_uuid_hello_fill(struct wbd_repl *rp, Wbrep__Hello *h)
{
	if (!rp->has_meta)
		return;
	h->has_data_uuid = 1;
	h->data_uuid.data = rp->meta.data_uuid;
	h->data_uuid.len = WB_META_UUID_LEN;
	for (unsigned i = 0; i < rp->meta.nhistory; i++) {
		rp->hist_pb[i].data = rp->meta.history[i];
		rp->hist_pb[i].len = WB_META_UUID_LEN;
	}
	h->n_uuid_history = rp->meta.nhistory;
	h->uuid_history = rp->hist_pb;
}

bool wbd_repl_replicating(const struct wbd_repl *rp, const struct repl_peer *except)
{
	for (unsigned i = 0; rp->primary && i < rp->npeers; i++)
		if (&rp->peers[i] != except && repl_peer_healthy(rp, &rp->peers[i]))
			return true;
	return false;
}

const char *wbd_repl_followed(const struct wbd_repl *rp, const struct repl_peer *except)
{
	for (unsigned i = 0; !rp->primary && rp->has_meta && i < rp->npeers; i++) {
		const struct repl_peer *q = &rp->peers[i];
		const Wbrep__Hello *h = q->up && q->primary_peer && q != except && q->l
					    ? wbd_peerlink_peer_hello(q->l)
					    : NULL;

		/* in the primary's data generation: its data, not one that
		 * primary is rolling back or resyncing */
		if (h && h->has_data_uuid && h->data_uuid.len == WB_META_UUID_LEN &&
		    !memcmp(h->data_uuid.data, rp->meta.data_uuid, WB_META_UUID_LEN))
			return q->node;
	}
	return NULL;
}

static const char *asb_name(int v)
{
	return wbconf_res_enum_name("after-sb-1pri", v);
}

static const char *asb0_name(int v)
{
	return wbconf_res_enum_name("after-sb-0pri", v);
}

/* Records since the fork up to the newest with data (0: wrote nothing). */
static uint64_t changes(const struct repl_uuids *u, uint64_t fork)
{
	return data_head(u) > fork ? data_head(u) - fork : 0;
}

/*
 * discard-younger-primary / discard-older-primary: 1 this node discards, -1
 * the peer, 0 undecided (*how says why). The first data generation each
 * side began after the one both had says what it was at the split: the
 * primary then began one when it went on without its last up-to-date peer
 * ('L'), the node promoted after the split began one at its promotion ('S');
 * as DRBD's flag on the bitmap UUID of the node that was primary.
 */
static int sb_age(struct repl_peer *p, const struct repl_uuids *me, const struct repl_uuids *peer,
		  char *how, size_t len)
{
	static const char *const what[] = {['L'] = "primary", ['S'] = "promoted"};
	char bm, bp;
	bool older_here;

	wbd_repl_uuid_began(me, peer, &bm, &bp);
	if (!((bm == 'L' && bp == 'S') || (bm == 'S' && bp == 'L'))) {
		snprintf(how, len,
			 "not one node primary at the split and the other promoted after it "
			 "(here: %s, %s: %s), so as discard-least-changes: ",
			 what[(unsigned char)bm] ? what[(unsigned char)bm] : "neither", p->node,
			 what[(unsigned char)bp] ? what[(unsigned char)bp] : "neither");
		return 0;
	}
	older_here = bm == 'L';
	snprintf(how, len, "%s was primary at the split, %s was promoted after it; ",
		 older_here ? "this node" : p->node, older_here ? p->node : "this node");
	if (p->rp->after_sb0 == WBCONF_ASB0_DISCARD_OLDER_PRIMARY)
		return older_here ? 1 : -1;
	return older_here ? -1 : 1;
}

/*
 * after-sb-0pri, a split brain between two secondaries (DRBD's): which one
 * throws its data away, as sb_auto below. discard-zero-changes: the one
 * that wrote nothing since the fork (its data is the common data then);
 * both wrote: refused. discard-least-changes: the one with fewer records
 * since the fork. discard-younger-primary / discard-older-primary (sb_age):
 * the one promoted after the split / the one that was primary at it; when
 * that does not decide, as discard-least-changes (DRBD does the same). A
 * tie (both wrote nothing, or as many): the node whose name sorts last, so
 * that both sides pick the same. The discarding one is Inconsistent until a
 * primary resyncs it: the other, once promoted, or whichever node is.
 */
static int sb_auto0(struct repl_peer *p, const Wbrep__Hello *h, const struct repl_uuids *me,
		    const struct repl_uuids *peer, char *how, size_t len)
{
	struct wbd_repl *rp = p->rp;
	int theirs = h->has_after_sb_0pri ? (int)h->after_sb_0pri : WBCONF_ASB0_DISCONNECT;
	const char *name = asb0_name(rp->after_sb0);
	uint64_t fork = 0, mine, their;
	char age[256] = "";
	bool tie = false;
	int who = 0;

	if (rp->after_sb0 == WBCONF_ASB0_DISCONNECT)
		return 0;
	if (theirs != rp->after_sb0) {
		snprintf(how, len, "after-sb-0pri differs: %s here, %s on %s", name,
			 asb0_name(theirs), p->node);
		return 0;
	}
	if (!wbd_repl_uuid_fork(me, peer, &fork)) {
		snprintf(how, len,
			 "after-sb-0pri %s: no fork point known, so nothing tells what either "
			 "side wrote since",
			 name);
		return 0;
	}
	mine = changes(me, fork);
	their = changes(peer, fork);
	if (rp->after_sb0 == WBCONF_ASB0_DISCARD_ZERO_CHANGES && mine && their) {
		snprintf(how, len,
			 "after-sb-0pri discard-zero-changes: both wrote since the fork at seq "
			 "%llu (records: here %llu, %s %llu)",
			 (unsigned long long)fork, (unsigned long long)mine, p->node,
			 (unsigned long long)their);
		return 0;
	}
	if (rp->after_sb0 == WBCONF_ASB0_DISCARD_YOUNGER_PRIMARY ||
	    rp->after_sb0 == WBCONF_ASB0_DISCARD_OLDER_PRIMARY)
		who = sb_age(p, me, peer, age, sizeof(age));
	if (!who && mine != their)
		who = mine < their ? 1 : -1;
	else if (!who) {
		who = strcmp(rp->local, p->node) > 0 ? 1 : -1;
		tie = true;
	}
	snprintf(how, len,
		 "after-sb-0pri %s: %srecords since the fork at seq %llu: here %llu, %s %llu%s",
		 name, age, (unsigned long long)fork, (unsigned long long)mine, p->node,
		 (unsigned long long)their, tie ? " (a tie: the name that sorts last)" : "");
	return who;
}

/*
 * after-sb-1pri (docs/replication.md, "Automatic split-brain recovery"):
 * which side of a split brain between a primary and a secondary throws its
 * data away by itself, as DRBD's after-sb-1pri does: 1 this node, -1 the
 * peer, 0 neither (refused, both StandAlone). Both sides decide alike from
 * the two hellos; the secondary is the one that acts (a new hello that
 * discards its data), the primary only waits for it. *how says why.
 */
static int sb_auto(struct repl_peer *p, const Wbrep__Hello *h, const struct repl_uuids *me,
		   const struct repl_uuids *peer, char *how, size_t len)
{
	struct wbd_repl *rp = p->rp;
	bool peer_primary = h->has_role && h->role == WBREP__ROLE__ROLE_PRIMARY;
	const struct repl_uuids *sec = rp->primary ? peer : me;
	const char *sec_name = rp->primary ? p->node : "this node";
	int theirs = h->has_after_sb_1pri ? (int)h->after_sb_1pri : WBCONF_ASB_DISCONNECT;
	uint64_t fork = 0;
	bool known;

	how[0] = 0;
	if (!rp->primary && !peer_primary)
		return sb_auto0(p, h, me, peer, how, len);
	if (rp->after_sb == WBCONF_ASB_DISCONNECT)
		return 0;
	if (rp->primary && peer_primary) {
		snprintf(how, len, "after-sb-1pri %s does not apply: both are primary",
			 asb_name(rp->after_sb));
		return 0;
	}
	if (theirs != rp->after_sb) {
		snprintf(how, len, "after-sb-1pri differs: %s here, %s on %s",
			 asb_name(rp->after_sb), asb_name(theirs), p->node);
		return 0;
	}
	for (unsigned i = 0; !rp->primary && i < rp->npeers; i++)
		if (&rp->peers[i] != p && rp->peers[i].up && rp->peers[i].primary_peer) {
			snprintf(how, len,
				 "after-sb-1pri %s: this node is the secondary of another primary "
				 "(%s)",
				 asb_name(rp->after_sb), rp->peers[i].node);
			return 0;
		}
	known = wbd_repl_uuid_fork(me, peer, &fork);
	if (rp->after_sb == WBCONF_ASB_CONSENSUS) {
		if (!known) {
			snprintf(how, len,
				 "after-sb-1pri consensus: no fork point known, so nothing tells "
				 "whether %s wrote since",
				 sec_name);
			return 0;
		}
		if (data_head(sec) > fork) {
			snprintf(how, len,
				 "after-sb-1pri consensus: %s wrote since the fork at seq %llu "
				 "(records with data up to seq %llu)",
				 sec_name, (unsigned long long)fork,
				 (unsigned long long)data_head(sec) - 1);
			return 0;
		}
		snprintf(how, len,
			 "after-sb-1pri consensus: %s, the secondary, wrote nothing since the fork "
			 "at seq %llu",
			 sec_name, (unsigned long long)fork);
	} else {
		snprintf(how, len,
			 "after-sb-1pri discard-secondary: what %s, the secondary, wrote since the "
			 "fork%s is thrown away",
			 sec_name, known ? "" : " (not known: a full sync)");
	}
	return rp->primary ? -1 : 1;
}

/*
 * The connect check of both sides, whatever the roles: 0, or -EPROTO with
 * *why (in p->problem) when the data diverged. Also remembers whether the
 * peer's data is newer by generation (the disk state uses it).
 */
int wbd_repl_uuid_check(struct repl_peer *p, const Wbrep__Hello *h, const char **why)
{
	struct wbd_repl *rp = p->rp;
	struct wb_engine_stats st;
	struct repl_uuids me, peer;
	char a[2 * WB_META_UUID_LEN + 1], b[2 * WB_META_UUID_LEN + 1];
	bool peer_primary = h->has_role && h->role == WBREP__ROLE__ROLE_PRIMARY;
	/* two secondaries: the live primary this one follows, if any */
	const char *fol = !rp->primary && !peer_primary ? wbd_repl_followed(rp, p) : NULL;
	uint64_t common;

	if (wb_engine_stats(rp->e, &st))
		return 0;
	if (repl_hello_void(h) || rp->disk == REPL_DISK_INCONSISTENT || rp->discard) {
		/* one side takes the other's data whatever it held: a resync
		 * from the primary (repl_resync.c) */
		p->rel =
		    rp->primary && repl_hello_void(h) ? REPL_REL_PEER_BEHIND : REPL_REL_UNKNOWN;
		/* the primary, for a peer's discard: where the two sides' data
		 * forked, so that the resync takes only the blocks of records
		 * from there on, both sides' (repl_resync.c decides whether it
		 * may, repl_synctarget.c adds the peer's own) */
		p->common = 0;
		if (rp->primary && h->has_discard_my_data && h->discard_my_data) {
			wbd_repl_uuids_mine(rp, rp->shipped_next, &me);
			wbd_repl_uuids_hello(h, &peer);
			if (!wbd_repl_uuid_fork(&me, &peer, &common))
				common = 0;
			p->common = common;
		}
		return 0;
	}
	wbd_repl_uuids_mine(rp, rp->primary ? rp->shipped_next : st.seq_head, &me);
	wbd_repl_uuids_hello(h, &peer);
	p->rel = wbd_repl_uuid_relate(&me, &peer, &common);
	p->common = common;
	wbd_repl_uuid_hex(me.cur, a);
	wbd_repl_uuid_hex(peer.cur, b);
	/* protocols A and B acknowledge a write before the peer has it
	 * durable, wb-min-peers = 0 without any peer: the old primary's
	 * records past the common point may have been acknowledged; only
	 * protocol C with wb-min-peers >= 1 makes the roll-back safe */
	if ((rp->protocol != 'C' || !rp->min_peers) && p->rel == REPL_REL_PEER_ROLLBACK)
		p->rel = REPL_REL_PEER_DIVERGED;
	if ((rp->protocol != 'C' || !rp->min_peers) && p->rel == REPL_REL_ME_ROLLBACK)
		p->rel = REPL_REL_ME_DIVERGED;
	/* records past the common point on a primary that replicates to
	 * another up-to-date peer (the hello's replicating), or on a
	 * secondary that follows a live primary (its records are that
	 * primary's): acknowledged writes, not an old primary's to roll back,
	 * but a primary that went on writing after the other side began a
	 * generation from its data (a node promoted apart while this primary
	 * kept its other peers): both wrote as primary, a split brain. A
	 * primary without such a peer acknowledged nothing since (it would
	 * have begun a "lost" generation first): an old primary, refused until
	 * demoted (hello_check), then rolled back, as before */
	if ((p->rel == REPL_REL_ME_ROLLBACK || p->rel == REPL_REL_ME_DIVERGED) &&
	    (wbd_repl_replicating(rp, p) || fol))
		p->rel = REPL_REL_SPLIT;
	if ((p->rel == REPL_REL_PEER_ROLLBACK || p->rel == REPL_REL_PEER_DIVERGED) &&
	    peer_primary && h->has_replicating && h->replicating)
		p->rel = REPL_REL_SPLIT;
	switch (p->rel) {
	case REPL_REL_PEER_ROLLBACK:
		wbd_warn(
		    "%s: %s has records from seq %llu on (up to %llu) in generation %.12s that "
		    "this node never had (an old primary that crashed while connected: never "
		    "acknowledged under protocol C): it is rolled back and resynced from the "
		    "primary",
		    rp->res, p->node, (unsigned long long)common, (unsigned long long)peer.head - 1,
		    b);
		return 0;
	case REPL_REL_ME_ROLLBACK:
		wbd_warn(
		    "%s: this node has records from seq %llu on (up to %llu) in generation "
		    "%.12s that %s never had (written as an old primary, never acknowledged "
		    "under protocol C): rolled back, those blocks are resynced from the primary",
		    rp->res, (unsigned long long)common, (unsigned long long)me.head - 1, a,
		    p->node);
		return 0;
	case REPL_REL_SPLIT: {
		char how[240];
		int who = sb_auto(p, h, &me, &peer, how, sizeof(how));

		if (who) {
			/* not StandAlone: the secondary comes back with a new
			 * hello that discards its data (wbd_repl_discard) */
			snprintf(p->problem, sizeof(p->problem),
				 "split brain: this node's data generation %.12s and %s's %.12s "
				 "forked (both wrote as primary since their last common point); "
				 "resolved: %s; %s",
				 a, p->node, b, how,
				 who < 0 ? "waiting for its new hello"
				 : peer_primary
				     ? "this node discards its data, a resync from the peer"
				     : "this node discards its data (Inconsistent until a primary "
				       "resyncs it)");
			wbd_event_at(WB_LOG_WARN, rp->res, "split-brain", NULL, NULL, "%s",
				     p->problem);
			if (who > 0)
				wbd_repl_discard(rp, p);
			*why = p->problem;
			/* the peer discards: it needs this node's hello for
			 * that (an active peer sees none otherwise) */
			return who < 0 ? WBD_PL_EAGAIN_HELLO : -EAGAIN;
		}
		if (fol) {
			/* two secondaries, this one following a primary: the
			 * split brain is the peer's with that primary (resolved
			 * there, or refused there); not StandAlone here, so the
			 * link comes up once the peer took the primary's data */
			snprintf(
			    p->problem, sizeof(p->problem),
			    "split brain: this node's data generation %.12s and %s's %.12s "
			    "forked (both wrote as primary since their last common point); "
			    "refused%s%s; this node "
			    "follows primary %s: %s's split brain is for that link to resolve, "
			    "retrying",
			    a, p->node, b, how[0] ? ": " : "", how, fol, p->node);
			*why = p->problem;
			return -EBUSY; /* the usual backoff: that may take long */
		}
		snprintf(p->problem, sizeof(p->problem),
			 "split brain: this node's data generation %.12s and %s's %.12s "
			 "forked (both wrote as primary since their last common point); "
			 "refused, nothing merged%s%s: keep one side's data and re-create the "
			 "other (docs/replication.md, \"Data generations and split brain\")",
			 a, p->node, b, how[0] ? "; " : "", how);
		break;
	}
	case REPL_REL_PEER_DIVERGED:
		snprintf(p->problem, sizeof(p->problem),
			 "%s has records from seq %llu on (up to %llu) in generation %.12s that "
			 "this node never had (an old primary, not rolled back: protocol %c, "
			 "wb-min-peers %u or no common point): refused, nothing merged; "
			 "re-create %s's data (docs/replication.md, \"Data generations\")",
			 p->node, (unsigned long long)common, (unsigned long long)peer.head - 1, b,
			 rp->protocol, rp->min_peers, p->node);
		break;
	case REPL_REL_ME_DIVERGED:
		snprintf(p->problem, sizeof(p->problem),
			 "this node has records from seq %llu on (up to %llu) in generation "
			 "%.12s that %s never had (written as an old primary, not rolled back: "
			 "protocol %c, wb-min-peers %u or no common point): refused, nothing "
			 "merged; re-create this node's data (docs/replication.md, \"Data "
			 "generations\")",
			 (unsigned long long)common, (unsigned long long)me.head - 1, a, p->node,
			 rp->protocol, rp->min_peers);
		break;
	default:
		return 0;
	}
	*why = p->problem;
	p->split = true; /* StandAlone after the refusal, until wbctl connect */
	wbd_event_at(WB_LOG_ERR, rp->res, "split-brain", NULL, NULL, "%s", p->problem);
	return -EUCLEAN; /* the peer goes StandAlone too (cb_refused) */
}

/* ---- metadata updates ---- */

/*
 * New hellos with the other secondaries (not the primary): all of them, or
 * only those whose relation was decided by generation. A relation to
 * another secondary is decided from both hellos; after this node's data
 * generation changed (it adopted its primary's, or took it with a resync
 * or a roll-back), one that said "the peer's generation is newer" (ME_*)
 * or "older" (PEER_*) no longer holds and kept the disk state wrong once
 * the primary was gone: this node Outdated beside a peer with no more
 * records, neither promotable (the cluster torture's crash-primary state).
 * After a roll-back the peers also hold this node's head of before (its
 * hello, the durable acks) and take it for records it no longer has. A
 * relation that was SAME (or UNKNOWN: compared by records) holds.
 * While a resync into this node runs it waits for its end (the log may
 * still be rolled back): wbd_repl_secs_relink(rp, rebased) from there.
 */
void wbd_repl_secs_relink(struct wbd_repl *rp, bool all)
{
	all |= rp->relink_secs;
	rp->relink_secs = false;
	if (rp->primary)
		return; /* a promotion re-establishes every link itself */
	if (all)
		rp->tell_seq = 0; /* the position told to them (repl.c): not the old head */
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (!p->up || p->primary_peer || p->standalone || !p->l ||
		    (!all && (p->rel == REPL_REL_SAME || p->rel == REPL_REL_UNKNOWN)))
			continue;
		wbd_info("%s: peer %s: new hellos: %s", rp->res, p->node,
			 all ? "this node's log was rolled back or resynced"
			     : "this node's data generation changed");
		p->rel = REPL_REL_UNKNOWN; /* until the new hello */
		wbd_peerlink_redo(p->l, "this node's data changed");
	}
}

static void uuid_changed(struct wbd_repl *rp)
{
	if (rp->rs_peer)
		rp->relink_secs = true; /* at the resync's end */
	else
		wbd_repl_secs_relink(rp, false);
}

struct meta_upd {
	struct wbd_repl *rp;
	struct wb_meta m;
	void (*then)(struct wbd_repl *rp, int err);
};

static void meta_done(void *arg, int err)
{
	struct meta_upd *u = arg;
	struct wbd_repl *rp = u->rp;

	rp->meta_busy = false;
	rp->applying--;
	if (err) {
		wbd_err("%s: writing the data generation UUIDs failed: %s", rp->res,
			strerror(-err));
	} else {
		bool changed = memcmp(rp->meta.data_uuid, u->m.data_uuid, WB_META_UUID_LEN) != 0;

		rp->meta.nhistory = u->m.nhistory;
		memcpy(rp->meta.data_uuid, u->m.data_uuid, WB_META_UUID_LEN);
		memcpy(rp->meta.history, u->m.history, sizeof(rp->meta.history));
		if (changed)
			uuid_changed(rp);
	}
	if (u->then)
		u->then(rp, err);
	free(u);
	wbd_repl_rot_kick(rp); /* a new generation may have waited for this one */
	if (rp->adopt_wait && !rp->meta_busy) {
		/* an adopt came while this update ran: the disk check adopts
		 * the connected primary's UUIDs if this node still holds its
		 * data (UpToDate), as it would have then */
		rp->adopt_wait = false;
		wbd_repl_disk_check(rp);
	}
}

/* SET_UUIDS m; then(rp, err) once durable (not called when this fails). */
int wbd_repl_uuid_set(struct wbd_repl *rp, const struct wb_meta *m,
		      void (*then)(struct wbd_repl *rp, int err))
{
	struct meta_upd *u;
	int ret;

	if (rp->meta_busy)
		return -EBUSY;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->rp = rp;
	u->m = *m;
	u->then = then;
	ret = wb_engine_meta_update(rp->e, WB_META_SET_UUIDS, &u->m, meta_done, u);
	if (ret) {
		free(u);
		return ret;
	}
	rp->meta_busy = true;
	rp->applying++; /* wbd_repl_free waits for it like for an apply */
	return 0;
}

static int uuid_new(struct wbd_repl *rp, uint64_t seq, uint8_t kind,
		    void (*then)(struct wbd_repl *rp, int err))
{
	struct wb_meta m = {0};

	if (!rp->has_meta)
		return -EOPNOTSUPP;
	if (getrandom(m.data_uuid, 6, 0) != 6)
		return -EIO;
	m.data_uuid[6] = REPL_UUID_MAGIC0;
	m.data_uuid[7] = kind;
	wb_store_le64(m.data_uuid + 8, seq);
	memcpy(m.history[0], rp->meta.data_uuid, WB_META_UUID_LEN);
	m.nhistory =
	    rp->meta.nhistory < WB_META_MAX_HISTORY ? rp->meta.nhistory + 1 : WB_META_MAX_HISTORY;
	memcpy(m.history[1], rp->meta.history, (m.nhistory - 1) * (size_t)WB_META_UUID_LEN);
	return wbd_repl_uuid_set(rp, &m, then);
}

int wbd_repl_uuid_new(struct wbd_repl *rp, uint64_t seq, void (*then)(struct wbd_repl *rp, int err))
{
	return uuid_new(rp, seq, REPL_UUID_MAGIC1, then);
}

int wbd_repl_uuid_new_lost(struct wbd_repl *rp, uint64_t seq,
			   void (*then)(struct wbd_repl *rp, int err))
{
	return uuid_new(rp, seq, REPL_UUID_LOST, then);
}

void wbd_repl_uuid_adopt(struct repl_peer *p)
{
	struct wbd_repl *rp = p->rp;
	const Wbrep__Hello *h = wbd_peerlink_peer_hello(p->l);
	struct repl_uuids u;
	struct wb_meta m = {0};
	char a[2 * WB_META_UUID_LEN + 1];

	if (!rp->has_meta || !h)
		return;
	if (rp->meta_busy) {
		rp->adopt_wait = true; /* meta_done checks the disk again */
		return;
	}
	wbd_repl_uuids_hello(h, &u);
	if (uuid_zero(u.cur) || !memcmp(u.cur, rp->meta.data_uuid, WB_META_UUID_LEN))
		return;
	memcpy(m.data_uuid, u.cur, WB_META_UUID_LEN);
	memcpy(m.history, u.hist, sizeof(m.history));
	m.nhistory = u.nhist;
	wbd_repl_uuid_hex(u.cur, a);
	if (!wbd_repl_uuid_set(rp, &m, NULL))
		wbd_info("%s: adopting %s's data generation %.12s", rp->res, p->node, a);
}

int wbd_repl_uuid_take(struct repl_peer *p, void (*then)(struct wbd_repl *rp, int err))
{
	struct wbd_repl *rp = p->rp;
	const Wbrep__Hello *h = wbd_peerlink_peer_hello(p->l);
	struct repl_uuids u;
	struct wb_meta m = {0};

	if (!rp->has_meta || !h)
		return -EOPNOTSUPP;
	wbd_repl_uuids_hello(h, &u);
	if (uuid_zero(u.cur))
		return -EOPNOTSUPP;
	memcpy(m.data_uuid, u.cur, WB_META_UUID_LEN);
	memcpy(m.history, u.hist, sizeof(m.history));
	m.nhistory = u.nhist;
	return wbd_repl_uuid_set(rp, &m, then);
}
