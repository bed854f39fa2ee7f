// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl_grow.c - growing a replicated device online (wbctl resize;
 * docs/replication.md "Growing a replicated device").
 *
 * The primary grows first (res_grow.c asks its engine, marking the new
 * range in every peer's bitmap unless --assume-clean), then re-establishes
 * every link: the new hello carries the new size. A secondary whose device
 * is smaller than its primary's refuses that hello while its own engine
 * grows to the same size (its backing must allow it: the refusal says
 * when it does not), and takes the next one; the primary's marked bitmap
 * then makes that connect a bitmap resync of the new range (repl_resync.c,
 * "marked"). Nothing past the old end is shipped before: the hello agrees
 * on the smaller size (wbp_agree), and the primary refuses a peer smaller
 * than itself.
 *
 * Every hello says how large the sender's backing lets it grow
 * (Hello.max_size), and `wbctl resize` asks every connected peer again
 * (SizeQuery / SizeReply: the backing may have grown since the connect),
 * so the primary refuses a size a connected peer cannot hold before it
 * changes anything.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"

int wbd_repl_grow_limit(struct wbd_repl *rp, bool peer_space, uint64_t *limit, char *who,
			size_t wholen, char *err, size_t errlen)
{
	if (!rp->primary) {
		snprintf(err, errlen,
			 "this node is a secondary: resize on the primary (the secondaries "
			 "follow it)");
		return -EPERM;
	}
	if (rp->failed) {
		snprintf(err, errlen, "%s", rp->failed_why);
		return -EIO;
	}
	for (unsigned i = 0; i < rp->npeers; i++) {
		const struct repl_peer *p = &rp->peers[i];

		if (p->removed)
			continue;
		if (!p->up || !p->max_size) {
			if (peer_space)
				continue;
			snprintf(err, errlen,
				 "peer %s %s, so the size its backing allows is not known: connect "
				 "it first, or grow its backing and use --assume-peer-has-space "
				 "(it grows when it connects, or is refused until its backing "
				 "can hold the new size)",
				 p->node,
				 !p->up ? "is not connected" : "runs a wbrepd without online grow");
			return -EAGAIN;
		}
		if (p->max_size < *limit) {
			*limit = p->max_size;
			snprintf(who, wholen, "peer %s", p->node);
		}
	}
	return 0;
}

void wbd_repl_grown(struct wbd_repl *rp)
{
	struct wb_bm_info bi;

	/* the region may have doubled (engine/wblog_grow.c) */
	if (rp->bm_region && !wb_engine_bm_info(rp->e, 0, &bi) && bi.region_size)
		rp->bm_region = bi.region_size;
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		if (!p->standalone && p->l)
			wbd_peerlink_redo(p->l, "the device grew: new hellos");
	}
}

static void grow_done(void *arg, int err)
{
	struct wbd_repl *rp = arg;
	struct wb_engine_stats st;

	rp->growing = false;
	if (err) {
		wbd_err("%s: growing to the primary's size failed: %s", rp->res, strerror(-err));
		snprintf(rp->grow_why, sizeof(rp->grow_why),
			 "growing to the primary's size failed here: %s", strerror(-err));
		return;
	}
	rp->grow_why[0] = 0;
	if (!wb_engine_stats(rp->e, &st))
		wbd_info("%s: grown to %llu bytes as the primary", rp->res,
			 (unsigned long long)st.size);
	wbd_repl_grown(rp);
}

int wbd_repl_grow_hello(struct repl_peer *p, uint64_t size, const char **why)
{
	struct wbd_repl *rp = p->rp;
	uint64_t max = 0;
	int ret;

	if (rp->growing) {
		*why = rp->grow_why;
		return -EPROTO;
	}
	ret = wb_engine_size_max(rp->e, &max);
	if (ret) {
		snprintf(rp->grow_why, sizeof(rp->grow_why),
			 "the primary %.64s's device is %llu bytes, this node's engine cannot grow "
			 "(%s)",
			 p->node, (unsigned long long)size, strerror(-ret));
		*why = rp->grow_why;
		return -EPROTO;
	}
	if (max < size) {
		snprintf(rp->grow_why, sizeof(rp->grow_why),
			 "the primary %.64s's device is %llu bytes, this node's backing allows at "
			 "most %llu: grow the backing (the link retries)",
			 p->node, (unsigned long long)size, (unsigned long long)max);
		*why = rp->grow_why;
		return -EPROTO;
	}
	ret = wb_engine_grow(rp->e, size, 0, grow_done, rp);
	if (ret) {
		snprintf(rp->grow_why, sizeof(rp->grow_why),
			 "growing to the primary %.64s's %llu bytes failed here: %s", p->node,
			 (unsigned long long)size, strerror(-ret));
		*why = rp->grow_why;
		return -EPROTO;
	}
	rp->growing = true;
	wbd_info("%s: the primary %s's device is %llu bytes: growing to it", rp->res, p->node,
		 (unsigned long long)size);
	snprintf(rp->grow_why, sizeof(rp->grow_why),
		 "growing to the primary %.64s's %llu bytes first (the link retries)", p->node,
		 (unsigned long long)size);
	*why = rp->grow_why;
	return -EPROTO;
}

#define GQ_TIMEOUT_MS 3000

static void gq_finish(struct wbd_repl *rp)
{
	void (*done)(void *arg) = rp->gq_done;

	if (!rp->gq_id)
		return;
	rp->gq_id = 0;
	rp->gq_done = NULL;
	for (unsigned i = 0; i < rp->npeers; i++)
		rp->peers[i].gq_wait = 0;
	if (rp->gq_timer)
		evtimer_del(rp->gq_timer);
	if (done)
		done(rp->gq_arg);
}

static void gq_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_repl *rp = arg;

	for (unsigned i = 0; i < rp->npeers; i++)
		if (rp->peers[i].gq_wait) {
			wbd_warn("%s: peer %s did not answer the size query in %d ms", rp->res,
				 rp->peers[i].node, GQ_TIMEOUT_MS);
			rp->peers[i].max_size = 0; /* not known now */
		}
	gq_finish(rp);
}

int wbd_repl_grow_query(struct wbd_repl *rp, void (*done)(void *arg), void *arg)
{
	struct timeval tv = {GQ_TIMEOUT_MS / 1000, (GQ_TIMEOUT_MS % 1000) * 1000};
	Wbrep__SizeQuery q = WBREP__SIZE_QUERY__INIT;
	unsigned n = 0;

	if (rp->gq_id)
		return -EBUSY;
	if (!rp->gq_timer && !(rp->gq_timer = evtimer_new(rp->base, gq_timer_cb, rp)))
		return -ENOMEM;
	q.id = ++rp->gq_last;
	for (unsigned i = 0; i < rp->npeers; i++) {
		struct repl_peer *p = &rp->peers[i];

		/* a peer whose hello had no max_size does not know the query */
		if (!p->up || !p->l || !p->max_size)
			continue;
		if (wbd_peerlink_send(p->l, WBP_T_SIZE_QUERY, &q.base, NULL))
			continue;
		p->gq_wait = q.id;
		n++;
	}
	if (!n)
		return 1;
	rp->gq_id = q.id;
	rp->gq_done = done;
	rp->gq_arg = arg;
	evtimer_add(rp->gq_timer, &tv);
	return 0;
}

void wbd_repl_grow_frame(struct repl_peer *p, const struct wbp_msg *m)
{
	struct wbd_repl *rp = p->rp;

	if (m->type == WBP_T_SIZE_QUERY) {
		Wbrep__SizeReply a = WBREP__SIZE_REPLY__INIT;
		struct wb_engine_stats st;
		int ret;

		a.id = m->szq->id;
		ret = wb_engine_stats(rp->e, &st);
		if (!ret)
			ret = wb_engine_size_max(rp->e, &a.max_size);
		if (ret) {
			a.has_code = 1;
			a.code = -ret;
		} else {
			a.has_size = a.has_max_size = 1;
			a.size = st.size;
		}
		wbd_peerlink_send(p->l, WBP_T_SIZE_REPLY, &a.base, NULL);
		return;
	}
	/* a reply: to the query running, from a peer it waits for */
	if (!rp->gq_id || p->gq_wait != m->szr->id)
		return;
	p->gq_wait = 0;
	p->max_size = m->szr->has_max_size && !m->szr->code ? m->szr->max_size : 0;
	for (unsigned i = 0; i < rp->npeers; i++)
		if (rp->peers[i].gq_wait)
			return;
	gq_finish(rp);
}

void wbd_repl_grow_free(struct wbd_repl *rp)
{
	gq_finish(rp);
	if (rp->gq_timer)
		event_free(rp->gq_timer);
	rp->gq_timer = NULL;
}
