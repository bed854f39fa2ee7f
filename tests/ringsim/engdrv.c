// SPDX-License-Identifier: GPL-2.0-only
/*
 * engdrv.c - the minimal engine owner of the ring test programs (engdrv.h).
 * Owns its three libevent events; the engine stays the caller's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>

#include "engine/wbengine.h"
#include "tests/ringsim/engdrv.h"

struct engdrv {
	struct wb_engine *e;
	struct event *fd_ev, *tmo_ev, *kick_ev;
	bool kicked;
};

static void drv_run(struct engdrv *d)
{
	int ms;

	d->kicked = false;
	wb_engine_run(d->e, 0);
	ms = wb_engine_timeout_ms(d->e);
	if (ms >= 0) {
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

		evtimer_add(d->tmo_ev, &tv);
	}
}

static void drv_cb(evutil_socket_t fd, short what, void *arg)
{
	drv_run(arg);
}

void engdrv_kick(void *arg)
{
	struct engdrv *d = arg;

	if (!d->kicked) {
		d->kicked = true;
		event_active(d->kick_ev, EV_TIMEOUT, 0);
	}
}

int engdrv_new(struct event_base *base, struct wb_engine *e, struct engdrv **out)
{
	struct engdrv *d = calloc(1, sizeof(*d));
	int fd = wb_engine_fd(e);

	if (!d)
		return -ENOMEM;
	d->e = e;
	d->tmo_ev = evtimer_new(base, drv_cb, d);
	d->kick_ev = event_new(base, -1, 0, drv_cb, d);
	if (fd >= 0)
		d->fd_ev = event_new(base, fd, EV_READ | EV_PERSIST, drv_cb, d);
	if (!d->tmo_ev || !d->kick_ev || (fd >= 0 && (!d->fd_ev || event_add(d->fd_ev, NULL)))) {
		engdrv_free(d);
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

void engdrv_free(struct engdrv *d)
{
	if (!d)
		return;
	if (d->fd_ev)
		event_free(d->fd_ev);
	if (d->tmo_ev)
		event_free(d->tmo_ev);
	if (d->kick_ev)
		event_free(d->kick_ev);
	free(d);
}
