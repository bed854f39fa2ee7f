// SPDX-License-Identifier: GPL-2.0-only
/*
 * lispause.c - a listener's pause after accept() failed (lispause.h): one
 * implementation for the NBD, control and replication listeners. Owns the
 * retry timer; the listener stays its owner's.
 */
#include "daemon/lispause.h"
#include "engine/clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "daemon/wbd_log.h"

static void lp_arm(struct wbd_lispause *lp)
{
	struct timeval tv = {.tv_sec = lp->pause_ms / 1000,
			     .tv_usec = (lp->pause_ms % 1000) * 1000};

	evtimer_add(lp->retry, &tv);
}

static void lp_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_lispause *lp = arg;
	uint64_t now;

	if (!evconnlistener_enable(lp->lis))
		return;
	/* as rate-limited as the accept failures (a failing epoll_ctl would
	 * otherwise log every pause_ms) */
	now = wb_now_ms();
	if (!lp->last_log_ms || now - lp->last_log_ms >= lp->log_ms) {
		wbd_err("%s: cannot accept connections again; retrying every %u ms", lp->what,
			lp->pause_ms);
		lp->last_log_ms = now;
	}
	lp_arm(lp);
}

int wbd_lispause_init(struct wbd_lispause *lp, struct event_base *base, struct evconnlistener *lis,
		      const char *what)
{
	memset(lp, 0, sizeof(*lp));
	lp->lis = lis;
	lp->pause_ms = WBD_LISPAUSE_MS;
	lp->log_ms = WBD_LISPAUSE_LOG_S * 1000;
	snprintf(lp->what, sizeof(lp->what), "%s", what);
	lp->retry = evtimer_new(base, lp_retry_cb, lp);
	return lp->retry ? 0 : -ENOMEM;
}

void wbd_lispause_failed(struct wbd_lispause *lp)
{
	int err = EVUTIL_SOCKET_ERROR();
	uint64_t now = wb_now_ms();

	lp->nfail++;
	lp->npause++;
	if (!lp->last_log_ms || now - lp->last_log_ms >= lp->log_ms) {
		char more[64] = "";

		if (lp->nfail > 1)
			snprintf(more, sizeof(more), " (%lu failures since the last message)",
				 lp->nfail);
		wbd_warn("%s: accept failed: %s; pausing the listener for %u ms%s", lp->what,
			 strerror(err), lp->pause_ms, more);
		lp->last_log_ms = now;
		lp->nfail = 0;
	}
	evconnlistener_disable(lp->lis);
	lp_arm(lp);
}

void wbd_lispause_fini(struct wbd_lispause *lp)
{
	if (lp->retry)
		event_free(lp->retry);
	lp->retry = NULL;
}
