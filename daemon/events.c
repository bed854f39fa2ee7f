// SPDX-License-Identifier: GPL-2.0-only
/*
 * events.c - mode, peer and quorum events (see events.h): log line plus
 * the control socket's event stream.
 */
#include "daemon/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "daemon/wbd_log.h"

static wbd_event_fn ev_sink;
static void *ev_arg;
static uint64_t ev_seq;

void wbd_events_set_sink(wbd_event_fn fn, void *arg)
{
	ev_sink = fn;
	ev_arg = arg;
}

static void event_v(int level, const char *res, const char *kind, const char *mode,
		    const char *reason, const char *fmt, va_list ap)
{
	struct wbd_event ev = {0};
	struct timespec ts;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	ev.seq = ++ev_seq;
	ev.time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	ev.res = res ? res : "";
	ev.kind = kind;
	ev.mode = mode;
	ev.reason = reason;
	ev.msg = msg;
	if (ev.res[0])
		wbd_log(level, "%s: %s", ev.res, msg);
	else
		wbd_log(level, "%s", msg);
	if (ev_sink)
		ev_sink(ev_arg, &ev);
}

void wbd_event(const char *res, const char *kind, const char *mode, const char *reason,
	       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(WB_LOG_INFO, res, kind, mode, reason, fmt, ap);
	va_end(ap);
}

void wbd_event_at(int level, const char *res, const char *kind, const char *mode,
		  const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	event_v(level, res, kind, mode, reason, fmt, ap);
	va_end(ap);
}
