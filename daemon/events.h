/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * events.h - mode, peer and quorum events of wbrepd (docs/cluster.md,
 * "Events"). One call per event: it is logged (info level, "RES: message")
 * and handed to the sink, which is the control socket's event stream
 * (daemon/ctl.h wbd_ctl_event: clients that sent CTL_EVENTS). Counting per
 * resource (the mode_changes metric) is the caller's.
 *
 * Owns only static state (the sink and the event sequence number); single
 * threaded (the daemon's event base).
 */
#ifndef WB_DAEMON_EVENTS_H
#define WB_DAEMON_EVENTS_H

#include <stdint.h>

struct wbd_event {
	uint64_t seq;	    /* 1, 2, ... per daemon: a gap = events were dropped */
	uint64_t time_ms;   /* CLOCK_REALTIME */
	const char *res;    /* "" for daemon-wide events (quorum) */
	const char *kind;   /* "mode", "peers", "quorum", "resync", "verify", "read",
			     * "split-brain", ... */
	const char *mode;   /* mode in force after the event (NULL: daemon-wide) */
	const char *reason; /* why that mode (NULL: daemon-wide) */
	const char *msg;    /* the log line without "RES: " */
};

typedef void (*wbd_event_fn)(void *arg, const struct wbd_event *ev);

/* Where events go besides the log; NULL = only the log. */
void wbd_events_set_sink(wbd_event_fn fn, void *arg);
/* Log and hand on one event. res NULL or "" = daemon-wide. */
void wbd_event(const char *res, const char *kind, const char *mode, const char *reason,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same, logged at level (WB_LOG_ERR, WB_LOG_WARN, ...) instead of
 * info: an event that also needs a person's attention. */
void wbd_event_at(int level, const char *res, const char *kind, const char *mode,
		  const char *reason, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif /* WB_DAEMON_EVENTS_H */
