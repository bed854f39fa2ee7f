// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringfe_genl.c - the module's generic netlink family "wbrep" seen from
 * userspace (libnl-genl): the kernel's status of one ring
 * (wbd_ringfe_kstatus, WBREP_CMD_STATUS) and a subscription to the "events"
 * multicast group (wbd_ringfe_events_open: a callback per ring created).
 * Every attribute is parsed against one policy (rfe_genl_policy).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "daemon/ringfe_genl.h"
#include "daemon/wbd_log.h"
#include "engine/wbengine.h"
#include "wbrep_genl.h"
#include "wbrep_ring.h"

static struct nla_policy rfe_genl_policy[WBREP_A_MAX + 1] = {
    [WBREP_A_RING_NAME] = {.type = NLA_STRING, .maxlen = WBREP_NAME_MAX},
    [WBREP_A_SESSION] = {.type = NLA_U32},
    [WBREP_A_EVENT] = {.type = NLA_U32},
    [WBREP_A_DEV_SECTORS] = {.type = NLA_U64},
    [WBREP_A_NSLOTS] = {.type = NLA_U32},
    [WBREP_A_SLOT_SIZE] = {.type = NLA_U32},
    [WBREP_A_INFLIGHT] = {.type = NLA_U32},
    [WBREP_A_PENDING] = {.type = NLA_U32},
    [WBREP_A_COMPLETED] = {.type = NLA_U64},
    [WBREP_A_FENCES] = {.type = NLA_U32},
    [WBREP_A_TIMEOUTS] = {.type = NLA_U64},
    [WBREP_A_REISSUED] = {.type = NLA_U64},
    [WBREP_A_QUEUE_TIMEOUT_MS] = {.type = NLA_U32},
};

static uint32_t rfe_u32(struct nlattr **a, int i)
{
	return a[i] ? nla_get_u32(a[i]) : 0;
}

static uint64_t rfe_u64(struct nlattr **a, int i)
{
	return a[i] ? nla_get_u64(a[i]) : 0;
}

static int rfe_genl_parse(struct nl_msg *msg, struct nlattr **a)
{
	return genlmsg_parse(nlmsg_hdr(msg), 0, a, WBREP_A_MAX, rfe_genl_policy);
}

/* A connected generic netlink socket and the family id; -ENOENT when the
 * module (hence the family) is not loaded. */
static int rfe_genl_open(struct nl_sock **out, int *family)
{
	struct nl_sock *sk = nl_socket_alloc();
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = genl_connect(sk);
	if (ret < 0) {
		wbd_err("generic netlink: connect: %s", nl_geterror(ret));
		nl_socket_free(sk);
		return -EIO;
	}
	*family = genl_ctrl_resolve(sk, WBREP_GENL_NAME);
	if (*family < 0) {
		nl_socket_free(sk);
		return -ENOENT;
	}
	*out = sk;
	return 0;
}

static int rfe_status_cb(struct nl_msg *msg, void *arg)
{
	struct wbd_ringfe_kstatus *st = arg;
	struct nlattr *a[WBREP_A_MAX + 1];

	if (rfe_genl_parse(msg, a) < 0 || !a[WBREP_A_RING_NAME])
		return NL_SKIP;
	st->session = rfe_u32(a, WBREP_A_SESSION);
	st->nslots = rfe_u32(a, WBREP_A_NSLOTS);
	st->slot_size = rfe_u32(a, WBREP_A_SLOT_SIZE);
	st->inflight = rfe_u32(a, WBREP_A_INFLIGHT);
	st->pending = rfe_u32(a, WBREP_A_PENDING);
	st->fences = rfe_u32(a, WBREP_A_FENCES);
	st->queue_timeout_ms = rfe_u32(a, WBREP_A_QUEUE_TIMEOUT_MS);
	st->dev_sectors = rfe_u64(a, WBREP_A_DEV_SECTORS);
	st->completed = rfe_u64(a, WBREP_A_COMPLETED);
	st->timeouts = rfe_u64(a, WBREP_A_TIMEOUTS);
	st->reissued = rfe_u64(a, WBREP_A_REISSUED);
	st->found = 1;
	return NL_OK;
}

int wbd_ringfe_kstatus(const char *ring, struct wbd_ringfe_kstatus *st)
{
	struct nl_sock *sk;
	struct nl_msg *msg;
	int family, ret;

	memset(st, 0, sizeof(*st));
	if (strlen(ring) >= WBREP_NAME_MAX)
		return -ENAMETOOLONG;
	ret = rfe_genl_open(&sk, &family);
	if (ret)
		return ret;
	msg = nlmsg_alloc();
	if (!msg) {
		ret = -ENOMEM;
		goto out_sock;
	}
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, WBREP_CMD_STATUS,
			 WBREP_GENL_VERSION) ||
	    nla_put_string(msg, WBREP_A_RING_NAME, ring) < 0) {
		nlmsg_free(msg);
		ret = -ENOMEM;
		goto out_sock;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, rfe_status_cb, st);
	ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret >= 0)
		ret = nl_recvmsgs_default(sk);
	if (ret < 0) {
		/* the kernel answers -ENOENT for an unknown ring */
		ret = ret == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
		goto out_sock;
	}
	ret = st->found ? 0 : -ENOENT;
out_sock:
	nl_socket_free(sk);
	return ret;
}

struct wbd_ringfe_events {
	struct nl_sock *sk;
	struct event *ev;
	void (*added)(void *ctx);
	void *ctx;
	char ring[WBREP_NAME_MAX];
};

static int rfe_event_cb(struct nl_msg *msg, void *arg)
{
	struct wbd_ringfe_events *w = arg;
	struct nlattr *a[WBREP_A_MAX + 1];

	if (rfe_genl_parse(msg, a) < 0 || !a[WBREP_A_RING_NAME] || !a[WBREP_A_EVENT])
		return NL_SKIP;
	if (strcmp(nla_get_string(a[WBREP_A_RING_NAME]), w->ring))
		return NL_OK;
	if (nla_get_u32(a[WBREP_A_EVENT]) == WBREP_EV_RING_ADDED)
		w->added(w->ctx);
	return NL_OK;
}

static void rfe_events_readable(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_ringfe_events *w = arg;
	int ret = nl_recvmsgs_default(w->sk);

	if (ret < 0 && ret != -NLE_AGAIN)
		wbd_debug("ring %s: netlink events: %s", w->ring, nl_geterror(ret));
}

void wbd_ringfe_events_close(struct wbd_ringfe_events *w)
{
	if (!w)
		return;
	if (w->ev)
		event_free(w->ev);
	if (w->sk)
		nl_socket_free(w->sk);
	free(w);
}

int wbd_ringfe_events_open(struct event_base *base, const char *ring, void (*added)(void *ctx),
			   void *ctx, struct wbd_ringfe_events **out)
{
	struct wbd_ringfe_events *w;
	int family, grp, ret;

	if (strlen(ring) >= WBREP_NAME_MAX)
		return -ENAMETOOLONG;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	strcpy(w->ring, ring);
	w->added = added;
	w->ctx = ctx;
	ret = rfe_genl_open(&w->sk, &family);
	if (ret) {
		free(w);
		return ret; /* -ENOENT: the module is not loaded */
	}
	grp = genl_ctrl_resolve_grp(w->sk, WBREP_GENL_NAME, WBREP_GENL_MCGRP_EVENTS);
	nl_socket_disable_seq_check(w->sk);
	nl_socket_modify_cb(w->sk, NL_CB_VALID, NL_CB_CUSTOM, rfe_event_cb, w);
	ret = grp < 0 ? grp : nl_socket_add_membership(w->sk, grp);
	if (ret >= 0)
		ret = nl_socket_set_nonblocking(w->sk);
	if (ret >= 0) {
		w->ev = event_new(base, nl_socket_get_fd(w->sk), EV_READ | EV_PERSIST,
				  rfe_events_readable, w);
		if (!w->ev || event_add(w->ev, NULL))
			ret = -NLE_NOMEM;
	}
	if (ret < 0) {
		wbd_warn("ring %s: cannot subscribe to wbrep netlink events: %s", ring,
			 nl_geterror(ret));
		wbd_ringfe_events_close(w);
		return -EIO;
	}
	*out = w;
	return 0;
}
