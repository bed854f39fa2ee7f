// SPDX-License-Identifier: GPL-2.0-only
/*
 * res_grow.c - `wbctl resize`: grow a resource's device online
 * (docs/wbctl.md, docs/replication.md "Growing a replicated device").
 *
 * The size asked for (0: the largest this node's backing and, on a
 * replicated primary, every peer's allows) is checked here, the engine
 * grows (engine/wblog_grow.c), and once that is durable new NBD clients
 * see the new size and, when replicated, every link gets a new hello so
 * the secondaries grow to it and resync the new range (repl_grow.c).
 * NBD clients connected before keep the size they were told (NBD has no
 * way to tell them); a dm-wbrep device keeps its table's length (a
 * reload under a running ring is not tried yet).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/wbconf.h"
#include "daemon/events.h"
#include "daemon/repl.h"
#include "daemon/resource.h"
#include "daemon/wbd_log.h"

struct res_grow {
	struct wbd_resource *r;
	uint64_t from, to; /* to: asked for (0: the largest), then the new size */
	bool mark, peer_space;
	void (*done)(void *arg, int err, const char *msg);
	void *arg;
};

/* "67104768 bytes (64.0 MiB)" */
static void size_str(uint64_t v, char *buf, size_t len)
{
	char h[32];

	wbconf_fmt_size(v, h, sizeof(h));
	if (v < 1024)
		snprintf(buf, len, "%llu bytes", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu bytes (%s)", (unsigned long long)v, h);
}

static void grown(void *arg, int err)
{
	struct res_grow *g = arg;
	struct wbd_resource *r = g->r;
	char from[64], to[64], msg[256];

	size_str(g->from, from, sizeof(from));
	size_str(g->to, to, sizeof(to));
	if (err) {
		snprintf(msg, sizeof(msg), "growing to %s failed: %s (the device stays %s)", to,
			 strerror(-err), from);
		wbd_err("%s: %s", r->name, msg);
		g->done(g->arg, err, msg);
		free(g);
		return;
	}
	/* clients that connect from now on are told the new size */
	r->ex.size = g->to;
	snprintf(msg, sizeof(msg), "grown from %s to %s%s", from, to,
		 !r->repl ? ""
		 : g->mark
		     ? "; the secondaries grow and resync the new range"
		     : "; the secondaries grow (--assume-clean: the new range is not resynced)");
	wbd_event(r->name, "resize", NULL, NULL, "%s", msg);
	if (r->repl)
		wbd_repl_grown(r->repl);
	g->done(g->arg, 0, msg);
	free(g);
}

/* The sizes are known (a replicated primary asked its peers): check the
 * size asked for and start the engine's grow. -EINPROGRESS, 0 (nothing to
 * do, msg says why) or -errno with msg. */
static int resize_go(struct res_grow *g, char *msg, size_t msglen)
{
	struct wbd_resource *r = g->r;
	struct wb_engine_stats st;
	uint64_t max = 0, limit, size = g->to;
	char who[80] = "this node's backing", a[64], b[64];
	int ret;

	if (!wbd_resource_is_up(r)) {
		snprintf(msg, msglen, "resource is not up");
		return -ENODEV;
	}
	ret = wb_engine_size_max(r->engine, &max);
	if (ret) {
		snprintf(msg, msglen, "the %s engine cannot grow: %s", r->conf->engine,
			 ret == -EOPNOTSUPP ? "not supported" : strerror(-ret));
		return ret;
	}
	if (wb_engine_stats(r->engine, &st))
		return -EIO;
	limit = max;
	if (r->repl) {
		ret = wbd_repl_grow_limit(r->repl, g->peer_space, &limit, who, sizeof(who), msg,
					  msglen);
		if (ret)
			return ret;
	}
	if (!size)
		size = limit;
	size_str(st.size, a, sizeof(a));
	if (size < st.size) {
		snprintf(msg, msglen, "the device is %s: shrinking is not supported", a);
		return -EINVAL;
	}
	if (size > limit) {
		size_str(limit, b, sizeof(b));
		snprintf(msg, msglen,
			 "%s allows at most %s (the backing minus 4 KiB for the identity block)%s",
			 who, b,
			 limit == st.size ? ": grow the backing first (e.g. lvextend)" : "");
		return -ENOSPC;
	}
	if (size == st.size) {
		snprintf(msg, msglen, "already %s%s", a,
			 size == max ? " (as large as the backing allows: grow it first)" : "");
		return 0;
	}
	g->from = st.size;
	g->to = size;
	ret = wb_engine_grow(r->engine, size, g->mark ? WB_GROW_F_MARK : 0, grown, g);
	if (ret) {
		snprintf(msg, msglen, "%s",
			 ret == -EBUSY ? "a resize is running already" : strerror(-ret));
		return ret;
	}
	size_str(size, b, sizeof(b));
	wbd_info("%s: growing from %s to %s%s", r->name, a, b,
		 g->mark ? ", the new range marked for every peer" : "");
	return -EINPROGRESS;
}

/* the peers answered the size query (or it timed out) */
static void resize_queried(void *arg)
{
	struct res_grow *g = arg;
	char msg[256] = "";
	int ret = resize_go(g, msg, sizeof(msg));

	if (ret == -EINPROGRESS)
		return;
	g->done(g->arg, ret, msg);
	free(g);
}

int wbd_resource_resize(struct wbd_resource *r, uint64_t size, bool assume_clean, bool peer_space,
			void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
			size_t errlen)
{
	struct res_grow *g;
	int ret;

	if (!wbd_resource_is_up(r)) {
		snprintf(err, errlen, "resource is not up");
		return -ENODEV;
	}
	if (r->conf->size) {
		snprintf(err, errlen,
			 "its configuration sets size = %llu: set size = 0 (the backing's size) "
			 "or the new size there first, and restart it",
			 (unsigned long long)r->conf->size);
		return -EINVAL;
	}
	if (r->role_chg) {
		snprintf(err, errlen, "a role change is running: try again after it");
		return -EBUSY;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->r = r;
	g->to = size;
	g->mark = r->repl && !assume_clean;
	g->peer_space = peer_space;
	g->done = done;
	g->arg = arg;
	if (r->repl) {
		/* how large each connected peer's backing allows now */
		ret = wbd_repl_grow_query(r->repl, resize_queried, g);
		if (!ret)
			return -EINPROGRESS;
		if (ret < 0) {
			free(g);
			snprintf(err, errlen, "%s",
				 ret == -EBUSY ? "a resize is running already" : strerror(-ret));
			return ret;
		}
	}
	ret = resize_go(g, err, errlen);
	if (ret != -EINPROGRESS)
		free(g);
	return ret;
}

/* ---- `wbctl resize RES --log`: the log's data area ---- */

struct log_grow {
	struct wbd_resource *r;
	uint64_t from;
	void (*done)(void *arg, int err, const char *msg);
	void *arg;
};

static void log_grown(void *arg, int err)
{
	struct log_grow *g = arg;
	struct wbd_resource *r = g->r;
	struct wb_engine_stats st = {0};
	char from[64], to[64], msg[256];

	size_str(g->from, from, sizeof(from));
	if (err) {
		snprintf(msg, sizeof(msg), "growing the log failed: %s (its data area stays %s)",
			 strerror(-err), from);
		wbd_err("%s: %s", r->name, msg);
		g->done(g->arg, err, msg);
		free(g);
		return;
	}
	wb_engine_stats(r->engine, &st);
	size_str(st.log_size, to, sizeof(to));
	snprintf(msg, sizeof(msg), "log grown from %s to %s", from, to);
	wbd_event(r->name, "resize", NULL, NULL, "%s", msg);
	g->done(g->arg, 0, msg);
	free(g);
}

int wbd_resource_grow_log(struct wbd_resource *r, uint64_t bytes,
			  void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
			  size_t errlen)
{
	struct wb_engine_stats st;
	struct log_grow *g;
	char a[64], b[64];
	int ret;

	if (!wbd_resource_is_up(r)) {
		snprintf(err, errlen, "resource is not up");
		return -ENODEV;
	}
	if (wb_engine_stats(r->engine, &st))
		return -EIO;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->r = r;
	g->from = st.log_size;
	g->done = done;
	g->arg = arg;
	ret = wb_engine_grow_log(r->engine, bytes, log_grown, g);
	if (!ret) {
		size_str(bytes, b, sizeof(b));
		wbd_info("%s: growing the log %s (data area %llu bytes) to %s", r->name,
			 r->conf->log, (unsigned long long)st.log_size,
			 bytes ? b : "the whole device");
		return -EINPROGRESS;
	}
	free(g);
	size_str(st.log_size, a, sizeof(a));
	switch (ret) {
	case -EALREADY:
		snprintf(err, errlen,
			 "log already %s of data area, as much as %s holds: grow it first "
			 "(e.g. lvextend)",
			 a, r->conf->log);
		return 0;
	case -EINVAL:
		snprintf(err, errlen,
			 "the log's data area is %s: --size must leave it a whole segment more "
			 "(shrinking is not supported)",
			 a);
		break;
	case -ENOSPC:
		snprintf(err, errlen, "%s is smaller than --size: grow it first (e.g. lvextend)",
			 r->conf->log);
		break;
	case -EBUSY:
		snprintf(err, errlen, "a log grow is running already");
		break;
	case -EPROTO:
		snprintf(err, errlen,
			 "the log is on-disk format version 1: upgrade it first (`wbctl down %s`, "
			 "`wbrepd --create-md %s --upgrade`)",
			 r->name, r->name);
		break;
	case -EOPNOTSUPP:
		snprintf(err, errlen, "the %s engine cannot grow its log", r->conf->engine);
		break;
	default:
		snprintf(err, errlen, "%s", strerror(-ret));
	}
	return ret;
}
