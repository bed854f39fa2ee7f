// SPDX-License-Identifier: GPL-2.0-only
/*
 * res_snap.c - snapshots of older generations as read-only NBD exports
 * (docs/snapshots.md): `wbctl snapshot RES --gen G` (or --at TIME) asks the
 * engine for a snapshot of generation G (engine/wblog_snap.c) and serves it
 * as the export "RES@G" on the resource's listeners; its reads carry the
 * engine's snapshot id (wb_req.snap), anything else is refused (the export
 * is read-only, NBD EPERM). `wbctl snapshot-drop RES G` closes it; so does
 * the engine by itself (the log needed the space, write-through, a
 * resync): the exports of what it dropped are closed within a second
 * (wbd_resource_snap_sync), their clients disconnected.
 *
 * Engine loop only. A slot's export is reused only when nothing of it is in
 * flight (its requests point at it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/resource.h"
#include "daemon/wbd_log.h"

static void snapex_close(struct wbd_resource *r, struct wbd_snapex *s, const char *why)
{
	wbd_info("%s: snapshot export %s closed: %s (%u clients)", r->name, s->ex.name, why,
		 s->ex.nconns);
	wbd_nbd_export_detach(&s->ex);
	s->gen = 0;
	s->id = 0;
}

struct wbd_nbd_export *wbd_resource_snap_export(struct wbd_resource *r, uint64_t gen)
{
	wbd_resource_snap_sync(r);
	for (unsigned i = 0; gen && i < WBD_MAX_SNAPS; i++)
		if (r->snaps[i].gen == gen)
			return &r->snaps[i].ex;
	return NULL;
}

void wbd_resource_snap_sync(struct wbd_resource *r)
{
	struct wb_snap_info open[WBD_MAX_SNAPS];
	int n;

	if (!r->engine)
		return;
	n = wb_engine_snap_list(r->engine, open, WBD_MAX_SNAPS);
	if (n < 0)
		n = 0;
	for (unsigned i = 0; i < WBD_MAX_SNAPS; i++) {
		struct wbd_snapex *s = &r->snaps[i];
		bool alive = false;

		if (!s->gen)
			continue;
		for (int k = 0; k < n && k < WBD_MAX_SNAPS; k++)
			alive |= open[k].id == s->id;
		if (!alive)
			snapex_close(r, s, "the engine dropped the snapshot (see its warning)");
	}
}

static int snap_err(int ret, uint64_t gen, const struct wb_gen_span *sp, char *err, size_t errlen)
{
	switch (ret) {
	case -ERANGE:
		if (sp->oldest > sp->newest)
			snprintf(err, errlen,
				 "generation %" PRIu64 " is not readable: the log covers no ended "
				 "generation now (write and flush first)",
				 gen);
		else
			snprintf(
			    err, errlen,
			    "generation %" PRIu64 " is not readable: the log covers generations "
			    "%" PRIu64 "..%" PRIu64 " now (older ones are destaged to the backing "
			    "device, newer ones have not ended)",
			    gen, sp->oldest, sp->newest);
		break;
	case -EAGAIN:
		snprintf(err, errlen,
			 "generation %" PRIu64 " ended but is not all in the log yet: retry", gen);
		break;
	case -EBUSY:
		snprintf(err, errlen,
			 "the resource is in write-through (every write waits for destage): "
			 "snapshots need write-back");
		break;
	case -ENOSPC:
		snprintf(err, errlen, "%d snapshots are open already (the most at once)",
			 WBD_MAX_SNAPS);
		break;
	case -EOPNOTSUPP:
		snprintf(err, errlen, "this engine has no snapshots (wblog has)");
		break;
	default:
		snprintf(err, errlen, "snapshot of generation %" PRIu64 ": %s", gen,
			 strerror(-ret));
	}
	return ret;
}

int wbd_resource_snapshot(struct wbd_resource *r, uint64_t gen, uint64_t at_ms, uint64_t *gen_out,
			  char *err, size_t errlen)
{
	struct wb_gen_span sp = {.oldest = 1};
	struct wb_snap_info si;
	struct wbd_snapex *s = NULL;
	int ret;

	if (!wbd_resource_is_up(r) || !r->engine) {
		snprintf(err, errlen, "resource %s is not up", r->name);
		return -ENODEV;
	}
	wbd_resource_snap_sync(r);
	wb_engine_gen_span(r->engine, &sp);
	if (!gen) {
		ret = wb_engine_gen_at(r->engine, at_ms * 1000000ull, &gen);
		if (ret == -ERANGE) {
			snprintf(err, errlen,
				 "no generation readable now ended at or before that time (the "
				 "oldest, %" PRIu64 ", ended at %" PRIu64 " ms since the epoch)",
				 sp.oldest, sp.oldest_time_ns / 1000000);
			return ret;
		}
		if (ret)
			return snap_err(ret, gen, &sp, err, errlen);
	}
	if (wbd_resource_snap_export(r, gen)) {
		*gen_out = gen;
		return 0; /* open already: the same export */
	}
	for (unsigned i = 0; i < WBD_MAX_SNAPS && !s; i++)
		if (!r->snaps[i].gen && !r->snaps[i].ex.inflight && !r->snaps[i].ex.conns)
			s = &r->snaps[i];
	if (!s)
		return snap_err(-ENOSPC, gen, &sp, err, errlen);
	ret = wb_engine_snap_create(r->engine, gen, &si);
	if (ret == -EBUSY) {
		struct wb_engine_stats st;

		if (!wb_engine_stats(r->engine, &st) && st.mode == WB_MODE_WRITEBACK) {
			snprintf(err, errlen,
				 "a resync writes this node's backing device: snapshots of the "
				 "generations that end after it, once it is done");
			return ret;
		}
	}
	if (ret)
		return snap_err(ret, gen, &sp, err, errlen);
	{
		char name[sizeof(s->ex.name)];

		snprintf(name, sizeof(name), "%s@%" PRIu64, r->name, gen);
		/* no engine at init: the RAM buffer's notify stays the device's */
		wbd_nbd_export_init(&s->ex, name, r->ex.size, NULL, r->ex.kick, r->ex.ctx);
	}
	s->ex.engine = r->engine;
	s->ex.snap = si.id;
	s->ex.max_clients = r->conf->max_clients;
	s->ex.tls = r->ex.tls;
	s->gen = gen;
	s->id = si.id;
	s->time_ns = si.time_ns;
	*gen_out = gen;
	wbd_info("%s: snapshot of generation %" PRIu64 " (ended %" PRIu64
		 " ms since the epoch) open as the read-only NBD export %s",
		 r->name, gen, si.time_ns / 1000000, s->ex.name);
	return 0;
}

int wbd_resource_snapshot_drop(struct wbd_resource *r, uint64_t gen, char *err, size_t errlen)
{
	for (unsigned i = 0; gen && i < WBD_MAX_SNAPS; i++) {
		struct wbd_snapex *s = &r->snaps[i];

		if (s->gen != gen)
			continue;
		if (r->engine)
			wb_engine_snap_drop(r->engine, s->id);
		snapex_close(r, s, "wbctl snapshot-drop");
		return 0;
	}
	snprintf(err, errlen, "no snapshot of generation %" PRIu64 " is open on %s", gen, r->name);
	return -ENOENT;
}

void wbd_resource_snap_quiesce(struct wbd_resource *r)
{
	for (unsigned i = 0; i < WBD_MAX_SNAPS; i++)
		if (r->snaps[i].gen)
			wbd_nbd_export_quiesce(&r->snaps[i].ex);
}

unsigned wbd_resource_snap_inflight(const struct wbd_resource *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < WBD_MAX_SNAPS; i++)
		n += r->snaps[i].ex.inflight;
	return n;
}

void wbd_resource_snap_detach(struct wbd_resource *r)
{
	for (unsigned i = 0; i < WBD_MAX_SNAPS; i++)
		if (r->snaps[i].gen)
			snapex_close(r, &r->snaps[i], "the resource goes down");
}
