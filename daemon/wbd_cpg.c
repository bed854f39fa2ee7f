// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbd_cpg.c - what this daemon tells its CPG group (docs/cluster.md, "CPG
 * state"): per resource up, role, disk state, data UUID and seq, built from
 * the resources on the main event base and handed to wbd_memb_publish,
 * which sends it when it changed (seqs alone at most once a second) or when
 * a process joined. Published after every membership report and every
 * WBD_CPG_TICK_MS (a role or disk change reaches the peers within that).
 */
#include <string.h>

#include <event2/event.h>

#include "daemon/membership.h"
#include "daemon/repl.h"
#include "daemon/resource.h"
#include "daemon/wbd.h"
#include "daemon/wbd_log.h"
#include "proto/wbrep.pb-c.h"

#define WBD_CPG_TICK_MS 200

void wbd_cpg_publish(struct wbd *d)
{
	struct wbd_cpg_state st;
	static bool warned;

	if (!d->memb || !d->conf->global.node_name)
		return;
	memset(&st, 0, sizeof(st));
	snprintf(st.node, sizeof(st.node), "%s", d->conf->global.node_name);
	for (size_t i = 0; i < d->nres; i++) {
		struct wbd_resource *r = d->res[i];
		struct wbd_cpg_res *o;
		struct wb_engine_stats es;
		unsigned healthy, total;
		int disk;

		if (st.nres == WBD_CPG_MAX_RES) {
			if (!warned)
				wbd_warn("membership: only the first %d resources are announced "
					 "over CPG",
					 WBD_CPG_MAX_RES);
			warned = true;
			break;
		}
		o = &st.res[st.nres++];
		snprintf(o->name, sizeof(o->name), "%s", r->name);
		o->up = wbd_resource_is_up(r) && r->engine;
		if (!o->up || !r->repl)
			continue;
		wbd_repl_counts(r->repl, &o->primary, &healthy, &total);
		disk = wbd_cpg_disk_parse(wbd_repl_disk(r->repl));
		o->disk = disk < 0 ? WBD_CPG_DISK_NONE : (enum wbd_cpg_disk)disk;
		o->has_uuid = wbd_repl_data_uuid(r->repl, o->uuid);
		if (!wb_engine_stats(r->engine, &es))
			o->seq = es.seq_head;
	}
	wbd_memb_publish(d->memb, &st);
}

size_t wbd_cpg_status(struct wbd *d, struct Wbrep__CpgMember *const **out)
{
	static Wbrep__CpgMember mem[WBD_MEMB_MAX_NODES], *memp[WBD_MEMB_MAX_NODES];
	static Wbrep__CpgState st[WBD_MEMB_MAX_NODES];
	static Wbrep__CpgResource res[WBD_MEMB_MAX_NODES][WBD_CPG_MAX_RES];
	static Wbrep__CpgResource *resp[WBD_MEMB_MAX_NODES][WBD_CPG_MAX_RES];
	const struct wbd_memb_facts *f = &d->memb_facts;
	size_t n = 0;

	for (uint32_t i = 0; i < f->n_procs && i < WBD_MEMB_MAX_NODES; i++, n++) {
		const struct wbd_memb_proc *p = &f->procs[i];

		wbrep__cpg_member__init(&mem[n]);
		mem[n].has_nodeid = mem[n].has_pid = 1;
		mem[n].nodeid = p->nodeid;
		mem[n].pid = p->pid;
		memp[n] = &mem[n];
		if (!p->has_state)
			continue;
		wbrep__cpg_state__init(&st[n]);
		st[n].version = WBD_CPG_VERSION;
		st[n].node = (char *)p->st.node;
		st[n].has_serial = 1;
		st[n].serial = p->st.serial;
		for (uint32_t k = 0; k < p->st.nres; k++) {
			const struct wbd_cpg_res *r = &p->st.res[k];
			Wbrep__CpgResource *o = &res[n][k];

			wbrep__cpg_resource__init(o);
			o->name = (char *)r->name;
			o->has_up = o->has_primary = o->has_seq = 1;
			o->up = r->up;
			o->primary = r->primary;
			o->seq = r->seq;
			if (r->disk != WBD_CPG_DISK_NONE)
				o->disk = (char *)wbd_cpg_disk_name(r->disk);
			if (r->has_uuid) {
				o->has_data_uuid = 1;
				o->data_uuid.len = sizeof(r->uuid);
				o->data_uuid.data = (uint8_t *)r->uuid;
			}
			resp[n][k] = o;
		}
		st[n].n_resources = p->st.nres;
		st[n].resources = resp[n];
		mem[n].state = &st[n];
	}
	*out = memp;
	return n;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	wbd_cpg_publish(arg);
}

int wbd_cpg_start(struct wbd *d)
{
	struct timeval tv = {0, WBD_CPG_TICK_MS * 1000};

	d->ev_cpg = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	if (!d->ev_cpg || event_add(d->ev_cpg, &tv)) {
		wbd_err("membership: cannot start the CPG state timer");
		return -1;
	}
	return 0;
}

void wbd_cpg_stop(struct wbd *d)
{
	if (d->ev_cpg)
		event_free(d->ev_cpg);
	d->ev_cpg = NULL;
}
