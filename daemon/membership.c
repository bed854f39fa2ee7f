// SPDX-License-Identifier: GPL-2.0-only
/*
 * membership.c - corosync CPG + votequorum + cmap client on a libevent base
 * (see membership.h for the contract). Owns the three corosync handles,
 * their fd events, the reconnect timer and the facts; corosync callbacks
 * only update the facts, and the report to the user happens after the
 * dispatch call returns (so the user callback never runs inside libcpg).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <corosync/cmap.h>
#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/votequorum.h>
#include <event2/event.h>

#include "daemon/membership.h"
#include "daemon/wbd_log.h"
#include "engine/clock.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct wbd_memb {
	struct event_base *base;
	char group[128];
	wbd_memb_fn fn;
	void *arg;

	cpg_handle_t cpg;
	votequorum_handle_t vq;
	cmap_handle_t cmap;
	bool cpg_ok, vq_ok, cmap_ok;
	struct event *ev_cpg, *ev_vq, *ev_cmap, *ev_retry;
	uint32_t backoff_ms; /* 0 while connected */
	bool warned;	     /* "corosync not reachable" logged for this outage */

	struct wbd_memb_facts facts;
	struct wbd_memb_facts reported;
	bool ever_reported;
	/* a node left the CPG group (NODEDOWN): nothing is reported until
	 * votequorum's notification for that change (or ev_vq_wait fires) */
	bool vq_wait;
	struct event *ev_vq_wait;

	/* CPG state: what was last multicast, and when */
	struct wbd_cpg_state last;
	bool have_last, resend;
	uint64_t serial, sent_ms, bad_msgs;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_node(const void *a, const void *b)
{
	return cmp_u32(&((const struct wbd_memb_node *)a)->nodeid,
		       &((const struct wbd_memb_node *)b)->nodeid);
}

/* Report the facts if they changed since the last report. */
#define VQ_WAIT_MS 2000

static void memb_report(struct wbd_memb *m)
{
	/* CPG tells that a node left before votequorum tells whether this
	 * partition is still quorate (10 ms later in a cut): reporting the
	 * peers gone with the quorum of before made a cut-off primary go
	 * write-through, still "quorate", and acknowledge a write the
	 * majority never had (torture seed 4242, cycle 12). Both are reported
	 * together. */
	if (m->vq_wait)
		return;
	if (m->ever_reported && !memcmp(&m->facts, &m->reported, sizeof(m->facts)))
		return;
	m->reported = m->facts;
	m->ever_reported = true;
	if (m->fn)
		m->fn(&m->facts, m->arg);
}

/* Name of nodeid from the cmap nodelist ("" if not found). */
static void memb_node_name(struct wbd_memb *m, uint32_t nodeid, char *name, size_t len)
{
	char key[96];

	name[0] = 0;
	if (!m->cmap_ok)
		return;
	for (unsigned int i = 0; i < 256; i++) {
		uint32_t id;
		char *s = NULL;

		snprintf(key, sizeof(key), "nodelist.node.%u.nodeid", i);
		if (cmap_get_uint32(m->cmap, key, &id) != CS_OK)
			return;
		if (id != nodeid)
			continue;
		snprintf(key, sizeof(key), "nodelist.node.%u.name", i);
		if (cmap_get_string(m->cmap, key, &s) == CS_OK) {
			snprintf(name, len, "%s", s);
			free(s);
		}
		return;
	}
}

static void memb_cpg_deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid,
			     uint32_t pid, void *msg, size_t len)
{
	struct wbd_memb *m = NULL;
	struct wbd_cpg_state st;
	char err[160];

	if (cpg_context_get(h, (void **)&m) != CS_OK || !m)
		return;
	if (wbd_cpgmsg_decode(msg, len, &st, err, sizeof(err))) {
		/* the first ones and then every 1000th: a broken peer must
		 * not flood the log */
		if (m->bad_msgs++ % 1000 < 3)
			wbd_warn("membership: CPG message from node %u pid %u refused: %s (%llu so "
				 "far)",
				 nodeid, pid, err, (unsigned long long)m->bad_msgs);
		return;
	}
	for (uint32_t i = 0; i < m->facts.n_procs; i++) {
		struct wbd_memb_proc *p = &m->facts.procs[i];

		if (p->nodeid == nodeid && p->pid == pid) {
			p->st = st;
			p->has_state = true;
			return;
		}
	}
}

static void memb_cpg_confchg(cpg_handle_t h, const struct cpg_name *g,
			     const struct cpg_address *mem, size_t nmem,
			     const struct cpg_address *left, size_t nleft,
			     const struct cpg_address *joined, size_t njoined)
{
	struct wbd_memb *m = NULL;
	uint32_t n = 0;

	if (cpg_context_get(h, (void **)&m) != CS_OK || !m)
		return;
	for (size_t i = 0; i < nleft; i++) {
		if (left[i].reason == CPG_REASON_NODEDOWN && !m->vq_wait) {
			struct timeval tv = {VQ_WAIT_MS / 1000, (VQ_WAIT_MS % 1000) * 1000};

			m->vq_wait = true;
			evtimer_add(m->ev_vq_wait, &tv);
		}
	}
	for (size_t i = 0; i < nmem && n < WBD_MEMB_MAX_NODES; i++) {
		bool dup = false;

		for (uint32_t k = 0; k < n; k++)
			dup |= m->facts.group[k] == mem[i].nodeid;
		if (!dup)
			m->facts.group[n++] = mem[i].nodeid;
	}
	qsort(m->facts.group, n, sizeof(m->facts.group[0]), cmp_u32);
	memset(m->facts.group + n, 0, sizeof(m->facts.group) - n * sizeof(m->facts.group[0]));
	m->facts.n_group = n;

	/* the processes, keeping the state of those that stay */
	{
		struct wbd_memb_proc *old = malloc(sizeof(m->facts.procs));
		uint32_t nold = m->facts.n_procs, k = 0;

		if (old)
			memcpy(old, m->facts.procs, sizeof(m->facts.procs));
		memset(m->facts.procs, 0, sizeof(m->facts.procs));
		for (size_t i = 0; i < nmem && k < WBD_MEMB_MAX_NODES; i++, k++) {
			struct wbd_memb_proc *p = &m->facts.procs[k];

			p->nodeid = mem[i].nodeid;
			p->pid = mem[i].pid;
			for (uint32_t j = 0; old && j < nold; j++)
				if (old[j].nodeid == p->nodeid && old[j].pid == p->pid)
					*p = old[j];
		}
		m->facts.n_procs = k;
		free(old);
	}
	/* a newcomer knows nobody's state: everybody sends it again (CPG
	 * delivers it after the newcomer's join, in the same order to all) */
	if (njoined)
		m->resend = true;
}

static void memb_vq_quorum(votequorum_handle_t h, uint64_t ctx, uint32_t quorate, uint32_t n,
			   votequorum_node_t *nodes)
{
	struct wbd_memb *m = (struct wbd_memb *)(uintptr_t)ctx;
	uint32_t k = 0;

	m->vq_wait = false;
	evtimer_del(m->ev_vq_wait);
	m->facts.quorate = quorate != 0;
	memset(m->facts.members, 0, sizeof(m->facts.members));
	for (uint32_t i = 0; i < n && k < WBD_MEMB_MAX_NODES; i++) {
		if (nodes[i].state != VOTEQUORUM_NODESTATE_MEMBER)
			continue;
		m->facts.members[k].nodeid = nodes[i].nodeid;
		memb_node_name(m, nodes[i].nodeid, m->facts.members[k].name,
			       sizeof(m->facts.members[k].name));
		k++;
	}
	qsort(m->facts.members, k, sizeof(m->facts.members[0]), cmp_node);
	m->facts.n_members = k;
}

static void memb_vq_nodelist(votequorum_handle_t h, uint64_t ctx, votequorum_ring_id_t ring,
			     uint32_t n, uint32_t *ids)
{
	struct wbd_memb *m = (struct wbd_memb *)(uintptr_t)ctx;

	m->facts.ring_nodeid = ring.nodeid;
	m->facts.ring_seq = ring.seq;
}

static cpg_model_v1_data_t memb_cpg_model = {
    .model = CPG_MODEL_V1,
    .cpg_deliver_fn = memb_cpg_deliver,
    .cpg_confchg_fn = memb_cpg_confchg,
    .flags = 0,
};

static votequorum_callbacks_t memb_vq_cb = {
    .votequorum_quorum_notify_fn = memb_vq_quorum,
    .votequorum_nodelist_notify_fn = memb_vq_nodelist,
};

static void memb_disconnect(struct wbd_memb *m)
{
	struct event **evs[] = {&m->ev_cpg, &m->ev_vq, &m->ev_cmap};

	for (size_t i = 0; i < 3; i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	if (m->cpg_ok)
		cpg_finalize(m->cpg);
	if (m->vq_ok)
		votequorum_finalize(m->vq);
	if (m->cmap_ok)
		cmap_finalize(m->cmap);
	m->cpg_ok = m->vq_ok = m->cmap_ok = false;
	m->vq_wait = false;
	evtimer_del(m->ev_vq_wait);
	memset(&m->facts, 0, sizeof(m->facts)); /* !connected, !quorate */
}

static void memb_schedule_retry(struct wbd_memb *m)
{
	struct timeval tv;

	if (!m->backoff_ms)
		m->backoff_ms = BACKOFF_MIN_MS;
	else if (m->backoff_ms * 2 > BACKOFF_MAX_MS)
		m->backoff_ms = BACKOFF_MAX_MS;
	else
		m->backoff_ms *= 2;
	tv.tv_sec = m->backoff_ms / 1000;
	tv.tv_usec = (m->backoff_ms % 1000) * 1000;
	evtimer_add(m->ev_retry, &tv);
}

/* Connection lost (or never made): report not quorate now, retry later. */
static void memb_lost(struct wbd_memb *m, const char *what, int err)
{
	bool was = m->facts.connected;

	memb_disconnect(m);
	if (was)
		wbd_warn("membership: corosync connection lost (%s: %d), not quorate, reconnecting",
			 what, err);
	else if (!m->warned)
		wbd_warn("membership: corosync not reachable (%s: %d), not quorate, retrying", what,
			 err);
	m->warned = true;
	memb_report(m);
	memb_schedule_retry(m);
}

static void memb_on_fd(evutil_socket_t fd, short what, void *arg);

static int memb_add_fd(struct wbd_memb *m, int fd, struct event **ev)
{
	*ev = event_new(m->base, fd, EV_READ | EV_PERSIST, memb_on_fd, m);
	if (!*ev || event_add(*ev, NULL)) {
		wbd_err("membership: cannot add corosync fd %d to the event base", fd);
		return -ENOMEM;
	}
	return 0;
}

/* One connection attempt; on failure everything is closed again. */
static int memb_connect(struct wbd_memb *m, const char **what, int *err)
{
	struct cpg_name g;
	unsigned int local = 0;
	int cfd, qfd, mfd;
	cs_error_t e;

#define TRY(call, name)                                                                            \
	do {                                                                                       \
		e = (call);                                                                        \
		if (e != CS_OK) {                                                                  \
			*what = name;                                                              \
			*err = e;                                                                  \
			goto out_fail;                                                             \
		}                                                                                  \
	} while (0)

	TRY(cmap_initialize(&m->cmap), "cmap_initialize");
	m->cmap_ok = true;
	TRY(cpg_model_initialize(&m->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&memb_cpg_model, m),
	    "cpg_model_initialize");
	m->cpg_ok = true;
	TRY(cpg_context_set(m->cpg, m), "cpg_context_set");
	g.length = strlen(m->group);
	memcpy(g.value, m->group, g.length);
	TRY(cpg_join(m->cpg, &g), "cpg_join");
	TRY(cpg_local_get(m->cpg, &local), "cpg_local_get");
	TRY(votequorum_initialize(&m->vq, &memb_vq_cb), "votequorum_initialize");
	m->vq_ok = true;
	TRY(votequorum_trackstart(m->vq, (uint64_t)(uintptr_t)m,
				  CS_TRACK_CHANGES | CS_TRACK_CURRENT),
	    "votequorum_trackstart");
	TRY(cpg_fd_get(m->cpg, &cfd), "cpg_fd_get");
	TRY(votequorum_fd_get(m->vq, &qfd), "votequorum_fd_get");
	TRY(cmap_fd_get(m->cmap, &mfd), "cmap_fd_get");
#undef TRY
	if (memb_add_fd(m, cfd, &m->ev_cpg) || memb_add_fd(m, qfd, &m->ev_vq) ||
	    memb_add_fd(m, mfd, &m->ev_cmap)) {
		*what = "event_add";
		*err = -ENOMEM;
		goto out_fail;
	}
	m->facts.connected = true;
	m->facts.local_nodeid = local;
	m->resend = true;
	m->backoff_ms = 0;
	m->warned = false;
	wbd_info("membership: connected to corosync, node %u, group %s", local, m->group);
	return 0;

out_fail:
	memb_disconnect(m);
	return -ENOTCONN;
}

static void memb_try(struct wbd_memb *m)
{
	const char *what = "?";
	int err = 0;

	if (memb_connect(m, &what, &err)) {
		memb_lost(m, what, err);
		return;
	}
	memb_report(m);
}

static void memb_on_retry(evutil_socket_t fd, short what, void *arg)
{
	memb_try(arg);
}

/* No votequorum notification after a node left: not quorate (safe) until
 * the next one. */
static void memb_on_vq_wait(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_memb *m = arg;

	wbd_warn("membership: no quorum report %d ms after a node left: not quorate until "
		 "the next",
		 VQ_WAIT_MS);
	m->vq_wait = false;
	m->facts.quorate = false;
	memb_report(m);
}

static void memb_on_fd(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_memb *m = arg;
	cs_error_t e = CS_OK;
	const char *name = "?";

	if (m->ev_cpg && fd == event_get_fd(m->ev_cpg)) {
		name = "cpg_dispatch";
		e = cpg_dispatch(m->cpg, CS_DISPATCH_ALL);
	} else if (m->ev_vq && fd == event_get_fd(m->ev_vq)) {
		name = "votequorum_dispatch";
		e = votequorum_dispatch(m->vq, CS_DISPATCH_ALL);
	} else if (m->ev_cmap && fd == event_get_fd(m->ev_cmap)) {
		name = "cmap_dispatch";
		e = cmap_dispatch(m->cmap, CS_DISPATCH_ALL);
	}
	if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
		memb_lost(m, name, e);
		return;
	}
	memb_report(m);
}

int wbd_memb_start(struct event_base *base, const char *group, wbd_memb_fn fn, void *arg,
		   struct wbd_memb **out)
{
	struct wbd_memb *m;

	if (!group)
		group = "wbrep";
	if (strlen(group) >= sizeof(m->group) || strlen(group) >= CPG_MAX_NAME_LENGTH || !*group) {
		wbd_err("membership: bad CPG group name '%s'", group);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		wbd_err("membership: out of memory");
		return -ENOMEM;
	}
	m->base = base;
	snprintf(m->group, sizeof(m->group), "%s", group);
	m->fn = fn;
	m->arg = arg;
	m->ev_retry = evtimer_new(base, memb_on_retry, m);
	m->ev_vq_wait = evtimer_new(base, memb_on_vq_wait, m);
	if (!m->ev_retry || !m->ev_vq_wait) {
		wbd_err("membership: cannot create the retry timer");
		if (m->ev_retry)
			event_free(m->ev_retry);
		if (m->ev_vq_wait)
			event_free(m->ev_vq_wait);
		free(m);
		return -ENOMEM;
	}
	memb_try(m);
	*out = m;
	return 0;
}

void wbd_memb_stop(struct wbd_memb *m)
{
	if (!m)
		return;
	if (m->cpg_ok) {
		struct cpg_name g;

		g.length = strlen(m->group);
		memcpy(g.value, m->group, g.length);
		cpg_leave(m->cpg, &g);
	}
	memb_disconnect(m);
	event_free(m->ev_retry);
	event_free(m->ev_vq_wait);
	free(m);
}

/* st without serial and seqs, for "did only the seqs change" */
static void memb_strip(struct wbd_cpg_state *st)
{
	st->serial = 0;
	for (uint32_t i = 0; i < st->nres; i++)
		st->res[i].seq = 0;
}

void wbd_memb_publish(struct wbd_memb *m, const struct wbd_cpg_state *st)
{
	struct wbd_cpg_state a = *st, b = m->last;
	uint8_t buf[WBD_CPG_MAX_LEN];
	struct iovec iov;
	uint64_t now = wb_now_ms();
	cs_error_t e;
	int len;

	if (!m->cpg_ok)
		return;
	memb_strip(&a);
	memb_strip(&b);
	if (m->have_last && !m->resend && !memcmp(&a, &b, sizeof(a))) {
		bool seqs = memcmp(st->res, m->last.res, sizeof(st->res)) != 0;

		if (!seqs || now - m->sent_ms < 1000)
			return;
	}
	a = *st;
	a.serial = m->serial + 1;
	len = wbd_cpgmsg_encode(&a, buf, sizeof(buf));
	if (len < 0) {
		wbd_err("membership: cannot encode this node's CPG state: %d", len);
		return;
	}
	iov.iov_base = buf;
	iov.iov_len = (size_t)len;
	e = cpg_mcast_joined(m->cpg, CPG_TYPE_AGREED, &iov, 1);
	if (e != CS_OK) {
		/* CS_ERR_TRY_AGAIN: flow control; anything else shows up as a
		 * dispatch error too. Either way the next call sends it. */
		m->resend = true;
		wbd_debug("membership: cpg_mcast_joined: %d, retried", e);
		return;
	}
	m->serial = a.serial;
	m->last = a;
	m->have_last = true;
	m->resend = false;
	m->sent_ms = now;
}

const struct wbd_memb_proc *wbd_memb_find(const struct wbd_memb_facts *f, const char *node)
{
	for (uint32_t i = 0; i < f->n_procs; i++) {
		const struct wbd_memb_proc *p = &f->procs[i];

		if (!p->has_state || strcmp(p->st.node, node))
			continue;
		for (uint32_t k = 0; k < f->n_members; k++)
			if (f->members[k].nodeid == p->nodeid)
				return p;
	}
	return NULL;
}

void wbd_memb_facts(const struct wbd_memb *m, struct wbd_memb_facts *out)
{
	*out = m->facts;
}

uint32_t wbd_memb_backoff_ms(const struct wbd_memb *m)
{
	return m->backoff_ms;
}

void wbd_memb_retry_now(struct wbd_memb *m)
{
	if (evtimer_pending(m->ev_retry, NULL))
		event_active(m->ev_retry, EV_TIMEOUT, 1);
}
