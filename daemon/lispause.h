/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * lispause.h - the pause of a listening socket after accept() failed for
 * another reason than "try again" (EMFILE, ENFILE, ENOBUFS, ENOMEM): the
 * connection stays in the backlog and the socket readable, so libevent
 * would retry at once, for ever. The listener is disabled instead and
 * enabled again by a timer WBD_LISPAUSE_MS later; the failure is logged at
 * most once per WBD_LISPAUSE_LOG_S, with the number of failures since the
 * last message. Used by the NBD listeners (nbd_listen.c), the control
 * socket (ctl.c) and the replication listener (peerlisten.c).
 *
 * A struct wbd_lispause is embedded in its listener's owner and belongs to
 * the thread of the listener's event base.
 */
#ifndef WB_DAEMON_LISPAUSE_H
#define WB_DAEMON_LISPAUSE_H

#include <stdint.h>

struct event;
struct event_base;
struct evconnlistener;

#define WBD_LISPAUSE_MS	   1000 /* the listener is disabled this long */
#define WBD_LISPAUSE_LOG_S 10	/* at most one message per listener in this time */

struct wbd_lispause {
	struct evconnlistener *lis;
	struct event *retry;  /* enables lis again */
	char what[64];	      /* names the listener in messages */
	unsigned pause_ms;    /* WBD_LISPAUSE_MS (tests may change it) */
	unsigned log_ms;      /* WBD_LISPAUSE_LOG_S * 1000 (likewise) */
	uint64_t last_log_ms; /* CLOCK_MONOTONIC of the last message, 0: none */
	unsigned long nfail;  /* failures since the last message */
	unsigned long npause; /* times paused in all (tests, stats) */
};

/* Make lp pause lis (its timer on base, which must be the listener's).
 * what names the listener in messages ("nbd", "ctl", "peer listener on
 * port 7789"). 0 or -ENOMEM. */
int wbd_lispause_init(struct wbd_lispause *lp, struct event_base *base, struct evconnlistener *lis,
		      const char *what);
/* The listener's error callback (evconnlistener_set_error_cb) calls this:
 * log, disable the listener, arm the timer. Reads the socket error. */
void wbd_lispause_failed(struct wbd_lispause *lp);
/* Free the timer (before the listener is freed). lp may be all zero. */
void wbd_lispause_fini(struct wbd_lispause *lp);

#endif /* WB_DAEMON_LISPAUSE_H */
