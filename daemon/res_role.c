// SPDX-License-Identifier: GPL-2.0-only
/*
 * res_role.c - role changes of a replicated resource at run time (wbctl
 * primary / secondary; docs/replication.md, "Roles"). The glue and engine
 * side is in repl_role.c; here the frontends' part.
 *
 * Demotion, in order: the frontends refuse new writes (writes_off: NBD
 * answers EPERM, the ring frontend EROFS), a flush makes every completed
 * write durable in the log, then wbd_repl_demote() is tried every
 * ROLE_TICK_MS until the engine has no write pending and no reply waits
 * for a peer's ack (-EBUSY until then), at most ROLE_WAIT_MS: past that the
 * demotion fails and the node stays primary (writes allowed again).
 * Promotion is synchronous: wbd_repl_promote() decides, writes come back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/repl.h"
#include "daemon/resource.h"
#include "daemon/wbd_log.h"

#define ROLE_TICK_MS 20
#define ROLE_WAIT_MS 30000

struct wbd_role_change {
	struct wbd_resource *r; /* NULL once cancelled */
	struct event *tick;
	void (*done)(void *arg, int err, const char *msg);
	void *arg;
	bool flushing; /* the flush has not completed: it frees a cancelled one */
	unsigned ticks;
};

bool wbd_resource_writable(void *ctx)
{
	const struct wbd_resource *r = ctx;

	return !r->writes_off;
}

static void role_finish(struct wbd_role_change *rc, int err, const char *msg)
{
	struct wbd_resource *r = rc->r;

	if (err)
		r->writes_off = false; /* still primary: writes again */
	r->role_chg = NULL;
	rc->r = NULL;
	if (rc->tick)
		event_free(rc->tick);
	rc->tick = NULL;
	rc->done(rc->arg, err, msg);
	if (!rc->flushing)
		free(rc);
}

static void role_tick(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_role_change *rc = arg;
	char err[256] = "";
	int ret = wbd_repl_demote(rc->r->repl, err, sizeof(err));

	if (ret == -EBUSY && ++rc->ticks < ROLE_WAIT_MS / ROLE_TICK_MS) {
		struct timeval tv = {.tv_usec = ROLE_TICK_MS * 1000};

		evtimer_add(rc->tick, &tv);
		return;
	}
	if (ret == -EBUSY) {
		snprintf(err, sizeof(err),
			 "writes did not complete within %u s (%u replies wait for peer acks); "
			 "still primary",
			 ROLE_WAIT_MS / 1000, wbd_repl_nheld(rc->r->repl));
		ret = -ETIMEDOUT;
	}
	if (ret)
		wbd_err("%s: demotion failed: %s", rc->r->name, err);
	role_finish(rc, ret, ret ? err : NULL);
}

static void role_flushed(void *arg, int err)
{
	struct wbd_role_change *rc = arg;

	rc->flushing = false;
	if (!rc->r) { /* cancelled meanwhile */
		free(rc);
		return;
	}
	if (err && !wbd_repl_fail_check(rc->r->repl)) {
		role_finish(rc, err, "the flush before the demotion failed; still primary");
		return;
	}
	if (err) /* a failed engine flushes nothing: the demotion lets a peer take over */
		wbd_warn("%s: demoting with the engine failed: what this node did not make durable "
			 "is lost here; the peers hold what they acknowledged",
			 rc->r->name);
	role_tick(-1, 0, rc);
}

/* what both role changes need: the resource up, replicated, and no
 * demotion running (busy = the message for that case) */
static int role_change_check(const struct wbd_resource *r, const char *busy, char *err,
			     size_t errlen)
{
	if (!wbd_resource_is_up(r) || !r->engine) {
		snprintf(err, errlen, "resource is not up");
		return -ENODEV;
	}
	if (!r->repl) {
		snprintf(err, errlen, "not replicated (no [node] sections name this node)");
		return -EOPNOTSUPP;
	}
	if (r->role_chg) {
		snprintf(err, errlen, "%s", busy);
		return -EBUSY;
	}
	return 0;
}

int wbd_resource_secondary(struct wbd_resource *r,
			   void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
			   size_t errlen)
{
	struct wbd_role_change *rc;
	bool primary;
	unsigned healthy, total;
	int ret;

	ret = role_change_check(r, "a demotion is already running", err, errlen);
	if (ret)
		return ret;
	wbd_repl_counts(r->repl, &primary, &healthy, &total);
	if (!primary)
		return 0;
	rc = calloc(1, sizeof(*rc));
	if (!rc || !(rc->tick = evtimer_new(r->base, role_tick, rc))) {
		free(rc);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc->r = r;
	rc->done = done;
	rc->arg = arg;
	r->writes_off = true; /* from now on the frontends refuse writes */
	ret = wbd_resource_flush(r, role_flushed, rc);
	if (ret) {
		r->writes_off = false;
		event_free(rc->tick);
		free(rc);
		snprintf(err, errlen, "cannot flush before the demotion: %s", strerror(-ret));
		return ret;
	}
	rc->flushing = true;
	r->role_chg = rc;
	wbd_info("%s: demoting: writes refused, flushing", r->name);
	return -EINPROGRESS;
}

void wbd_resource_role_cancel(struct wbd_resource *r)
{
	if (r->role_chg)
		role_finish(r->role_chg, -ESHUTDOWN, "the resource went down");
}

int wbd_resource_primary(struct wbd_resource *r, bool force, char *err, size_t errlen)
{
	int ret;

	ret = role_change_check(r, "a demotion is running", err, errlen);
	if (ret)
		return ret;
	ret = wbd_repl_promote(r->repl, force, err, errlen);
	if (ret)
		return ret;
	r->writes_off = false;
	return 0;
}
