// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbd.c - the wbrepd process (see wbd.h): event loop setup, signals,
 * resources, reload, NBD export lookup. One process, one event loop, many
 * resources; nothing blocks the loop except resource up/down.
 */
#include "daemon/wbd.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/events.h"
#include "daemon/handler.h"
#include "daemon/ioloop.h"
#include "daemon/nbd.h"
#include "daemon/nbd_proto.h"
#include "daemon/peerlink.h"
#include "daemon/resource.h"
#include "daemon/tls.h"
#include "daemon/wbd_log.h"

struct wbd_resource *wbd_find(struct wbd *d, const char *name)
{
	for (size_t i = 0; name && i < d->nres; i++)
		if (!strcmp(d->res[i]->name, name))
			return d->res[i];
	return NULL;
}

uint64_t wbd_conf_hash(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
	close(fd);
	return n < 0 ? 0 : h;
}

/* Error messages name their resource first ("r0: ..."): keep the first one
 * as the reason of an engine failure (wbd_resource_note_error). */
static void on_error_msg(const char *msg, void *ctx)
{
	struct wbd *d = ctx;

	for (size_t i = 0; i < d->nres; i++)
		wbd_resource_note_error(d->res[i], msg);
}

static struct wbd_nbd_export *lk_find(void *ctx, const char *name, const char *def)
{
	struct wbd *d = ctx;
	struct wbd_resource *r;
	char res[WBCONF_NAME_MAX + 1];
	uint64_t gen;

	switch (wbd_nbd_snap_name(name, res, sizeof(res), &gen)) {
	case 1: /* RES@GEN: a snapshot's export (res_snap.c) */
		r = wbd_find(d, res);
		return r && wbd_resource_is_up(r) ? wbd_resource_snap_export(r, gen) : NULL;
	case 0:
		break;
	default:
		return NULL;
	}
	if (!name[0])
		name = def;
	if (!name || !name[0])
		r = d->nres == 1 ? d->res[0] : NULL;
	else
		r = wbd_find(d, name);
	return r && wbd_resource_is_up(r) ? &r->ex : NULL;
}

static size_t lk_list(void *ctx, const char **names, size_t max)
{
	struct wbd *d = ctx;
	size_t n = 0;

	for (size_t i = 0; i < d->nres && n < max; i++) {
		struct wbd_resource *r = d->res[i];

		if (!wbd_resource_is_up(r))
			continue;
		names[n++] = r->name;
		wbd_resource_snap_sync(r);
		for (unsigned k = 0; k < WBD_MAX_SNAPS && n < max; k++)
			if (r->snaps[k].gen)
				names[n++] = r->snaps[k].ex.name;
	}
	return n;
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
	struct wbd *d = arg;

	wbd_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(d->base);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	wbd_info("SIGHUP: reloading the configuration");
	wbd_reload(arg);
}
/* NBD connections in total: [global] max-clients, lowered so that the
 * connections cannot take the descriptors the control socket, the devices
 * and the engine need (WBD_FD_RESERVE of the open-file limit). */
#define WBD_FD_RESERVE 32

static void wbd_nbd_limits(struct wbd *d)
{
	unsigned max = d->conf->global.max_clients;
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t room = rl.rlim_cur > 2 * WBD_FD_RESERVE ? rl.rlim_cur - WBD_FD_RESERVE
							       : rl.rlim_cur / 2;

		if (room < max) {
			wbd_warn("max-clients %u lowered to %u: open-file limit %llu", max,
				 (unsigned)room, (unsigned long long)rl.rlim_cur);
			max = (unsigned)room;
		}
	}
	wbd_nbd_set_max_clients(max);
}

/* Listener lookup: the link of (resource, node), if that resource is up. */
static struct wbd_peerlink *pl_lookup(const char *res, const char *node, void *arg)
{
	struct wbd_resource *r = wbd_find(arg, res);

	return r && r->repl ? wbd_repl_link(r->repl, node) : NULL;
}

/* The peer listener on this node's [node] address in c, with TLS context
 * tls (NULL: plain); 0, or -errno with the reason in err. */
static int listen_at(struct wbd *d, const struct wbconf *c, SSL_CTX *tls,
		     struct wbd_peerlisten **ls, char *err, size_t len)
{
	const struct wbconf_node *me = wbconf_node_find(c, c->global.node_name);
	const char **known;
	size_t n = 0;
	int ret;

	/* the other nodes' hosts: their connections get a slot first */
	known = calloc(c->nnodes + 1, sizeof(*known));
	if (!known) {
		snprintf(err, len, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->nnodes; i++)
		if (&c->nodes[i] != me)
			known[n++] = c->nodes[i].address.host;
	ret = wbd_peerlisten_new(d->base, me->address.host, me->address.port, tls, known, pl_lookup,
				 d, ls);
	free(known);
	if (ret)
		snprintf(err, len, "cannot listen for peers on %s:%u: %s", me->address.host,
			 me->address.port, strerror(-ret));
	return ret;
}

/* Replication for configuration c: the TLS context (transport = tls)
 * into *tls and the listener on this node's [node] address into *ls; 0,
 * or -errno with the reason in err and nothing made. */
static int repl_listen(struct wbd *d, const struct wbconf *c, SSL_CTX **tls,
		       struct wbd_peerlisten **ls, char *err, size_t len)
{
	const struct wbconf_node *me = wbconf_node_find(c, c->global.node_name);
	int ret;

	*tls = NULL;
	*ls = NULL;
	if (!me) {
		snprintf(err, len, "this node (%s) has no [node] section", c->global.node_name);
		return -EINVAL;
	}
	if (c->global.transport == WBCONF_TRANSPORT_TLS) {
		char terr[400];

		if (!c->global.tls_cert || !c->global.tls_key || !c->global.tls_ca) {
			snprintf(err, len,
				 "replication with transport = tls needs tls-cert, tls-key and "
				 "tls-ca in [global]");
			return -EINVAL;
		}
		/* an expired certificate is loaded with a warning, as at every
		 * start: its peers say why they refuse */
		ret = wbd_tls_ctx_open(c->global.tls_cert, c->global.tls_key, c->global.tls_ca, tls,
				       terr, sizeof(terr));
		if (ret) {
			snprintf(err, len, "tls: %s", terr);
			return ret;
		}
	}
	ret = listen_at(d, c, *tls, ls, err, len);
	if (ret) {
		SSL_CTX_free(*tls);
		*tls = NULL;
	}
	return ret;
}

/* repl_listen's context and listener in use, with the CA file they check
 * peers against as it is now (reload_tls_ca). */
static void repl_adopt(struct wbd *d, SSL_CTX *tls, struct wbd_peerlisten *ls)
{
	d->renv.tls = tls;
	d->plisten = ls;
	if (tls)
		d->tls_ca_hash = wbd_conf_hash(d->conf->global.tls_ca);
}

/* resync-after: a resync of resource name runs on this node */
static bool res_resyncing(void *ctx, const char *name)
{
	struct wbd_resource *r = wbd_find(ctx, name);

	return r && wbd_repl_resyncing(r->repl);
}

/* Replication: TLS context and listener when other nodes are configured. */
static int wbd_repl_start(struct wbd *d)
{
	struct wbd_peerlisten *ls;
	SSL_CTX *tls;
	char err[512];
	int ret;

	d->renv.conf = d->conf;
	d->renv.resyncing = res_resyncing;
	d->renv.ctx = d;
	if (!wbd_repl_npeers(d->conf, NULL))
		return 0;
	ret = repl_listen(d, d->conf, &tls, &ls, err, sizeof(err));
	if (ret) {
		wbd_err("%s", err);
		return ret;
	}
	repl_adopt(d, tls, ls);
	return 0;
}

/* NBDP_OPT_STARTTLS: a server context when a resource has tls != off (the
 * config parser made sure tls-cert/key/ca are set then). */
static int wbd_nbd_tls(struct wbd *d)
{
	const struct wbconf_global *g = &d->conf->global;
	SSL_CTX *ctx;
	bool want = false;
	int ret;

	for (size_t i = 0; i < d->conf->nres; i++)
		want |= d->conf->res[i].tls != WBCONF_TLS_OFF;
	if (!want)
		return 0;
	ret = wbd_tls_ctx_new(g->tls_cert, g->tls_key, g->tls_ca, &ctx);
	if (ret) {
		wbd_err("NBD TLS: cannot load the [global] tls-cert/tls-key/tls-ca");
		return ret;
	}
	wbd_nbd_set_tls(ctx); /* takes its own reference */
	SSL_CTX_free(ctx);
	return 0;
}

/* Membership facts changed (main thread): kept for wbctl status, an
 * event, and every resource's mode policy decides again (modectl.h). */
static void on_memb(const struct wbd_memb_facts *f, void *arg)
{
	struct wbd *d = arg;
	struct wbd_memb_facts old = d->memb_facts;
	char mem[512];
	size_t off = 0;

	d->memb_facts = *f;
	/* the CPG state of a process changed, nothing else: the policy
	 * decides again, no event (peers send their seqs every second) */
	if (old.connected == f->connected && old.quorate == f->quorate &&
	    old.n_members == f->n_members && !memcmp(old.members, f->members, sizeof(f->members)) &&
	    old.n_group == f->n_group && !memcmp(old.group, f->group, sizeof(f->group)) &&
	    old.ring_seq == f->ring_seq) {
		for (size_t i = 0; i < d->nres; i++)
			wbd_modectl_membership(d->res[i], &old);
		return;
	}
	mem[0] = 0;
	for (uint32_t i = 0; i < f->n_members && off < sizeof(mem); i++)
		off += snprintf(mem + off, sizeof(mem) - off, "%s%s(%u)", i ? "," : "",
				f->members[i].name, f->members[i].nodeid);
	wbd_event(NULL, "quorum", NULL, NULL, "membership: %s, %u members [%s], ring %x.%llx",
		  !f->connected ? "corosync not connected, not quorate"
		  : f->quorate	? "quorate"
				: "not quorate",
		  f->n_members, mem, f->ring_nodeid, (unsigned long long)f->ring_seq);
	for (size_t i = 0; i < d->nres; i++)
		wbd_modectl_membership(d->res[i], &old);
	wbd_cpg_publish(d); /* a newcomer needs everybody's state */
}

/* [global] cpu-affinity: this thread's CPUs, before any other thread is
 * made (the io loops and io_uring's io-wq workers inherit them). At QD1 every hand-off
 * between threads on different vCPUs wakes a halted one (docs/daemon.md,
 * "Threads"); on one CPU the same hand-off is a few µs. */
static int set_affinity(uint64_t mask)
{
	cpu_set_t set;
	char list[200];
	size_t n = 0;

	if (!mask)
		return 0;
	CPU_ZERO(&set);
	list[0] = '\0';
	for (unsigned c = 0; c < 64; c++) {
		if (!(mask & (1ull << c)))
			continue;
		CPU_SET(c, &set);
		if (n < sizeof(list))
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%u", n ? "," : "", c);
	}
	if (sched_setaffinity(0, sizeof(set), &set)) {
		wbd_err("cpu-affinity %s: %s", list, strerror(errno));
		return -errno;
	}
	wbd_info("cpu-affinity: CPUs %s", list);
	return 0;
}

int wbd_start(struct wbd *d)
{
	char err[512];
	int nup = 0;

	if (set_affinity(d->conf->global.cpu_affinity))
		return -EINVAL;
	d->base = event_base_new();
	if (!d->base) {
		wbd_err("cannot create the event base");
		return -ENOMEM;
	}
	d->lk.find = lk_find;
	d->lk.list = lk_list;
	d->lk.ctx = d;
	d->ev_term = evsignal_new(d->base, SIGTERM, on_term, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_term, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_hup, d);
	if (!d->ev_term || !d->ev_int || !d->ev_hup) {
		wbd_err("cannot create signal events");
		return -ENOMEM;
	}
	event_add(d->ev_term, NULL);
	event_add(d->ev_int, NULL);
	event_add(d->ev_hup, NULL);
	/* the event sink before anything emits events (an engine that fails
	 * at up reaches the handler); the control socket's clients get them
	 * once it runs (wbd_handlers_start) */
	if (wbd_handler_new(d->base, d->conf->global.node_name, &d->evh) ||
	    wbd_handler_set(d->evh, d->conf->global.event_handler, d->conf->global.event_kinds,
			    d->conf->global.event_handler_timeout_ms))
		return -ENOMEM;
	d->renv.handler = d->evh; /* before-resync-target */
	wbd_events_set_sink(wbd_event_sink, d);
	d->res = calloc(d->conf->nres ? d->conf->nres : 1, sizeof(*d->res));
	if (!d->res)
		return -ENOMEM;
	for (size_t i = 0; i < d->conf->nres; i++) {
		d->res[i] = wbd_resource_new(d->base, &d->conf->res[i], &d->lk);
		if (!d->res[i])
			return -ENOMEM;
		d->res[i]->renv = &d->renv;
		if (d->conf->global.cluster == WBCONF_CLUSTER_COROSYNC)
			d->res[i]->memb = &d->memb_facts; /* not quorate until corosync says */
		d->nres++;
	}
	if (d->conf_path)
		d->conf_hash = wbd_conf_hash(d->conf_path);
	wbd_log_set_error_hook(on_error_msg, d);
	wbd_nbd_limits(d);
	if (wbd_nbd_tls(d))
		return -EINVAL;
	wbd_nbd_io_setup();
	if (wbd_ioloop_start(d->base, d->conf->global.io_threads ? d->conf->global.io_threads
								 : wbd_ioloop_default_count()))
		return -ENOMEM;
	/* after the io loops: the listener and the peer links live there */
	if (wbd_repl_start(d))
		return -EIO;
	for (size_t i = 0; i < d->nres; i++) {
		int ret;

		if (!d->res[i]->conf->auto_up)
			continue;
		ret = wbd_resource_up(d->res[i], err, sizeof(err));
		if (!ret) {
			nup++;
		} else if (ret == -EBUSY) {
			/* Another program (most likely another wbrepd) holds the
			 * devices: this daemon must not run beside it. Nothing of
			 * the resource was touched (devices are locked at open). */
			wbd_err("%s: devices in use by another program; not starting",
				d->res[i]->name);
			return -EBUSY;
		}
	}
	if (wbd_handlers_start(d))
		return -EIO;
	if (d->conf->global.cluster == WBCONF_CLUSTER_COROSYNC) {
		int ret = wbd_memb_start(d->base, "wbrep", on_memb, d, &d->memb);

		if (ret || (ret = wbd_cpg_start(d)))
			return ret;
	}
	wbd_info("started: %zu resources configured, %d up", d->nres, nup);
	return 0;
}

int wbd_run(struct wbd *d)
{
	int ret = event_base_dispatch(d->base);

	if (ret < 0) {
		wbd_err("event loop failed");
		return -EIO;
	}
	return d->exit_code;
}

void wbd_stop(struct wbd *d)
{
	wbd_handlers_stop(d);
	wbd_cpg_stop(d);
	wbd_memb_stop(d->memb);
	d->memb = NULL;
	wbd_peerlisten_free(d->plisten);
	d->plisten = NULL;
	/* down first, while the io loops run: the replies of the requests
	 * drained at down go out before their connections close; then the io
	 * loops stop (what they still send the resources is refused while the
	 * resources exist) and the resources are freed */
	for (size_t i = 0; i < d->nres; i++)
		wbd_resource_down(d->res[i]);
	wbd_nbd_close_all();
	wbd_ioloop_stop();
	for (size_t i = 0; i < d->nres; i++)
		wbd_resource_free(d->res[i]);
	if (d->renv.tls)
		SSL_CTX_free(d->renv.tls);
	d->renv.tls = NULL;
	wbd_log_set_error_hook(NULL, NULL);
	free(d->res);
	d->res = NULL;
	d->nres = 0;
	wbd_nbd_close_all();
	wbd_nbd_set_tls(NULL);
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_hup)
		event_free(d->ev_hup);
	d->ev_term = d->ev_int = d->ev_hup = NULL;
	wbd_handler_free(d->evh);
	d->evh = NULL;
	if (d->base)
		event_base_free(d->base);
	d->base = NULL;
}

/* Step 1 of a reload: parse the file. Errors are logged one by one and
 * the first goes into d->reload_error (wbctl status shows it). */
static int reload_load(struct wbd *d, struct wbconf **nw)
{
	struct wbconf_errors errs = {0};
	char err[512];
	int ret;

	ret = wbconf_load(d->conf_path, d->node, nw, &errs);
	if (ret) {
		for (size_t i = 0; i < errs.n; i++) {
			wbconf_error_format(&errs.v[i], err, sizeof(err));
			wbd_err("reload: %s", err);
		}
		if (errs.n)
			wbconf_error_format(&errs.v[0], err, sizeof(err));
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "%.200s is not valid (%zu error%s): %.250s", d->conf_path,
			 errs.n + errs.dropped, errs.n + errs.dropped == 1 ? "" : "s",
			 errs.n ? err : strerror(-ret));
		wbd_err("reload: %s is not valid, keeping the running configuration", d->conf_path);
	}
	wbconf_errors_free(&errs);
	return ret;
}

/* n is a node of nw that d->conf does not have, this node left out: a
 * new peer (of the resources that live on it). */
static bool node_new(const struct wbd *d, const struct wbconf *nw, const struct wbconf_node *n)
{
	return wbconf_node_added(d->conf, n->name) && strcmp(n->name, nw->global.node_name);
}

/* The new peers of nw that rc (as in nw; NULL: any) lives on; with rp,
 * only those that are no removed peer of rp (one added back keeps its
 * place and slot). */
static unsigned nodes_added(const struct wbd *d, const struct wbconf *nw,
			    const struct wbconf_resource *rc, struct wbd_repl *rp)
{
	unsigned n = 0;

	for (size_t i = 0; i < nw->nnodes; i++)
		n += node_new(d, nw, &nw->nodes[i]) &&
		     (!rc || wbconf_res_on_node(rc, nw->nodes[i].name)) &&
		     !(rp && wbd_repl_removed(rp, nw->nodes[i].name));
	return n;
}

/* A node of the running configuration that nw removes. */
static bool node_gone(const struct wbd *d, const struct wbconf *nw, size_t i)
{
	return !wbconf_node_find(nw, d->conf->nodes[i].name);
}

/* Nodes removed (docs/configuration.md, "Removing a node") from each
 * running resource: not the primary of a secondary here. -EBUSY with
 * d->reload_error. */
static int reload_gone_check(struct wbd *d, const struct wbconf *nw)
{
	for (size_t i = 0; i < d->nres; i++) {
		struct wbd_repl *rp = d->res[i]->repl;

		if (!rp)
			continue;
		for (size_t k = 0; k < d->conf->nnodes; k++)
			if (node_gone(d, nw, k) &&
			    wbd_repl_remove_check(rp, d->conf->nodes[k].name, d->reload_error,
						  sizeof(d->reload_error)))
				return -EBUSY;
	}
	return 0;
}

/* Nodes appended (docs/configuration.md, "Adding a node"): replication
 * must run here already, and each running resource must have room for
 * its new peers (bitmap slots). -EBUSY with d->reload_error. */
static int reload_nodes_check(struct wbd *d, const struct wbconf *nw)
{
	if (reload_gone_check(d, nw))
		return -EBUSY;
	/* replication not running here yet: it starts (reload_repl_prepare) */
	if (!nodes_added(d, nw, NULL, NULL) || !d->plisten)
		return 0;
	for (size_t i = 0; i < d->nres; i++) {
		struct wbd_resource *r = d->res[i];
		const struct wbconf_resource *rc = wbconf_resource_find(nw, r->name);
		unsigned more = rc && r->repl ? nodes_added(d, nw, rc, r->repl) : 0;

		if (more &&
		    wbd_repl_add_check(r->repl, more, d->reload_error, sizeof(d->reload_error)))
			return -EBUSY;
	}
	return 0;
}

static bool addr_moved(const struct wbconf_node *o, const struct wbconf_node *n)
{
	return strcmp(o->address.host, n->address.host) || o->address.port != n->address.port;
}

/* This node's [node] section in nw when the reload gives it another
 * address while replication runs here (docs/configuration.md, "Changing
 * an address"), else NULL. */
static const struct wbconf_node *self_moved(const struct wbd *d, const struct wbconf *nw)
{
	const struct wbconf_node *o = wbconf_node_find(d->conf, d->conf->global.node_name);
	const struct wbconf_node *n = wbconf_node_find(nw, nw->global.node_name);

	return d->plisten && o && n && addr_moved(o, n) ? n : NULL;
}

/* Step 2d: this node's new address bound now, into *ls, or the reload
 * refused with why (nothing applied; the old listener goes on). The new
 * socket is bound while the old one still listens, so a new address that
 * overlaps the old (the same port, one of them "*") is refused as in use:
 * that change needs a restart. */
static int reload_listen_prepare(struct wbd *d, const struct wbconf *nw, struct wbd_peerlisten **ls)
{
	const struct wbconf_node *me = self_moved(d, nw);
	char err[400];
	int ret;

	*ls = NULL;
	if (!me)
		return 0;
	ret = listen_at(d, nw, d->renv.tls, ls, err, sizeof(err));
	if (!ret)
		return 0;
	snprintf(d->reload_error, sizeof(d->reload_error),
		 "[node %.40s] address: %.300s (this node's listener stays where it is%s)",
		 me->name, err,
		 ret == -EADDRINUSE ? "; if the new address overlaps the old one, the same "
				      "port with \"*\" on either side, that needs a restart"
				    : "");
	wbd_err("reload refused: %s (nothing was applied)", d->reload_error);
	return ret;
}

/* Step 3b': the listener on this node's new address in place of the old
 * one. Links that are up stay up (their sockets are their own); peers
 * connect to the new address once their own files say so. */
static void reload_listen_apply(struct wbd *d, const struct wbconf *nw, struct wbd_peerlisten *ls)
{
	const struct wbconf_node *o = wbconf_node_find(d->conf, d->conf->global.node_name);
	const struct wbconf_node *n = wbconf_node_find(nw, nw->global.node_name);

	if (!ls)
		return;
	wbd_peerlisten_free(d->plisten);
	d->plisten = ls;
	wbd_info("reload: this node (%s) now listens for peers on %s:%u instead of %s:%u; links "
		 "that are up stay up",
		 n->name, n->address.host, wbd_peerlisten_port(ls), o->address.host,
		 o->address.port);
}

/* Step 3c: the removed nodes stop being peers of the running resources
 * (a resource that is down does not have them at its next up); the links
 * to nodes with another address dial that one; the added nodes become
 * peers of the running resources that live on them (a resource that is
 * down gets them at its next up). */
static void reload_nodes_apply(struct wbd *d, const struct wbconf *nw)
{
	for (size_t k = 0; k < d->conf->nnodes; k++) {
		const struct wbconf_node *n = &d->conf->nodes[k];

		if (!node_gone(d, nw, k))
			continue;
		wbd_info("reload: node %s removed (%s:%u)", n->name, n->address.host,
			 n->address.port);
		for (size_t i = 0; i < d->nres; i++)
			if (d->res[i]->repl)
				wbd_repl_remove_node(d->res[i]->repl, n->name);
	}
	for (size_t k = 0; k < nw->nnodes; k++) {
		const struct wbconf_node *n = &nw->nodes[k],
					 *o = wbconf_node_find(d->conf, n->name);

		if (!o || !strcmp(n->name, nw->global.node_name) || !addr_moved(o, n))
			continue;
		wbd_info("reload: node %s moved from %s:%u to %s:%u", n->name, o->address.host,
			 o->address.port, n->address.host, n->address.port);
		wbd_peerlisten_add_known(d->plisten, n->address.host);
		for (size_t i = 0; i < d->nres; i++)
			if (d->res[i]->repl)
				wbd_repl_readdress(d->res[i]->repl, n);
	}
	for (size_t k = 0; k < nw->nnodes; k++) {
		const struct wbconf_node *n = &nw->nodes[k];

		if (!node_new(d, nw, n))
			continue;
		wbd_info("reload: node %s added (%s:%u)", n->name, n->address.host,
			 n->address.port);
		wbd_peerlisten_add_known(d->plisten, n->address.host);
		for (size_t i = 0; i < d->nres; i++) {
			struct wbd_resource *r = d->res[i];
			const struct wbconf_resource *rc = wbconf_resource_find(nw, r->name);

			if (r->repl && rc && wbconf_res_on_node(rc, n->name))
				wbd_repl_add_node(r->repl, &d->renv, n);
		}
	}
}

/* Step 2: 0 when every change is reloadable, else -EBUSY with the reason
 * in d->reload_error (the first key or resource that needs a restart). */
static int reload_check(struct wbd *d, const struct wbconf *nw)
{
	if (wbconf_global_reload_check(&d->conf->global, &nw->global, d->reload_error,
				       sizeof(d->reload_error)) ||
	    wbconf_nodes_reload_check(d->conf, nw, d->reload_error, sizeof(d->reload_error)))
		goto refused;
	if (nw->nres != d->nres) {
		snprintf(d->reload_error, sizeof(d->reload_error),
			 "resources were added or removed; that needs a restart of wbrepd");
		goto refused;
	}
	if (reload_nodes_check(d, nw))
		goto refused;
	for (size_t i = 0; i < d->nres; i++) {
		const struct wbconf_resource *o = d->res[i]->conf;
		const struct wbconf_resource *n = wbconf_resource_find(nw, o->name);

		if (!n) {
			snprintf(
			    d->reload_error, sizeof(d->reload_error),
			    "resource %s was removed or renamed; that needs a restart of wbrepd",
			    o->name);
			goto refused;
		}
		if (wbconf_resource_reload_check(d->conf, nw, o, n, d->reload_error,
						 sizeof(d->reload_error)))
			goto refused;
	}
	return 0;
refused:
	wbd_err("reload refused: %s (nothing was applied)", d->reload_error);
	return -EBUSY;
}

/* Step 3, per resource: its new section, replication settings, engine
 * tunables (at once, on the running engine) and the mode policy. */
static void reload_apply(struct wbd_resource *r, const struct wbconf *nw)
{
	struct wb_engine_params p;
	int ret;

	wbd_resource_set_conf(r, wbconf_resource_find(nw, r->name));
	if (!r->engine)
		return;
	wbd_repl_set_min_peers(r->repl, r->conf->wb_min_peers);
	wbd_repl_set_after_sb(r->repl, r->conf->after_sb_1pri, r->conf->after_sb_0pri);
	wbd_repl_set_resync(r->repl, r->conf->resync_rate, r->conf->c_min_rate,
			    r->conf->c_delay_target_ms, r->conf->resync_checksum,
			    r->conf->resync_after, r->conf->before_resync_target);
	wbd_repl_set_link_limits(r->repl, r->conf->send_queue_max, r->conf->ping_timeout_ms);
	wbd_resource_params(r->conf, &p);
	ret = wb_engine_set_params(r->engine, &p);
	if (ret && ret != -EOPNOTSUPP)
		wbd_err("reload: %s: engine refused the new tunables: %s", r->name, strerror(-ret));
	wbd_resource_conf_mode(r);
}

/* The TLS contexts this process made (replication links, NBD STARTTLS):
 * one from the same files each, both replaced at a reload. */
static SSL_CTX *tls_handles(struct wbd *d, SSL_CTX **nbd)
{
	*nbd = wbd_nbd_get_tls();
	return d->renv.tls;
}

int wbd_tls_info(struct wbd *d, struct wbd_tls_info *out)
{
	SSL_CTX *nbd, *peer = tls_handles(d, &nbd);

	if (!peer && !nbd)
		return -ENOENT;
	return wbd_tls_cert_info(peer ? peer : nbd, out);
}

/* Step 2b: with TLS in use, the new tls-cert/tls-key/tls-ca read (also
 * when the paths did not change: a renewal rewrites the files in place)
 * into *out, or the reload refused: a file that does not load, a key
 * that does not match, an own certificate expired or not valid yet (the
 * running one stays in use, the links are not touched). */
static int reload_tls_load(struct wbd *d, const struct wbconf *nw, SSL_CTX **out)
{
	const struct wbconf_global *g = &nw->global;
	SSL_CTX *nbd, *peer = tls_handles(d, &nbd);
	char err[512];
	int ret;

	*out = NULL;
	if (!peer && !nbd)
		return 0;
	ret = wbd_tls_ctx_load(g->tls_cert, g->tls_key, g->tls_ca, true, out, err, sizeof(err));
	if (!ret)
		return 0;
	snprintf(d->reload_error, sizeof(d->reload_error), "tls: %.400s", err);
	wbd_err("reload refused: %s (nothing was applied; the running certificate stays)",
		d->reload_error);
	return ret;
}

/* Step 3b, the CA: a peer was checked against the CA of when its link
 * connected, and a TLS 1.3 connection is never checked again. A CA taken
 * out (a compromised node's, docs/configuration.md "Rotating
 * certificates") must end the connections it let in: when the tls-ca
 * file's bytes changed, every replication link makes a new connection,
 * checked against the new CA (a peer it no longer accepts stays out; the
 * others catch up from the log). */
static void reload_tls_ca(struct wbd *d, const struct wbconf *nw)
{
	uint64_t h;

	if (!d->renv.tls)
		return;
	h = wbd_conf_hash(nw->global.tls_ca);
	if (h == d->tls_ca_hash)
		return;
	d->tls_ca_hash = h;
	wbd_info("tls: %s changed: every replication link reconnects, its peer checked against "
		 "it",
		 nw->global.tls_ca);
	for (size_t i = 0; i < d->nres; i++)
		if (d->res[i]->repl)
			wbd_repl_relink(d->res[i]->repl, "the CA changed: a new TLS handshake");
}

/* Step 3b: new connections present the new certificate and check peers
 * against the new CA; connections that are up keep theirs (unless the CA
 * changed: reload_tls_ca). */
static void reload_tls_apply(struct wbd *d, const struct wbconf *nw, SSL_CTX *ctx)
{
	SSL_CTX *nbd, *peer = tls_handles(d, &nbd);
	struct wbd_tls_info was = {0}, now = {0};
	char until[32] = "?";
	time_t t;
	struct tm tm;

	if (!ctx)
		return;
	wbd_tls_cert_info(peer ? peer : nbd, &was);
	if (peer)
		wbd_tls_ctx_replace(peer, ctx);
	if (nbd)
		wbd_tls_ctx_replace(nbd, ctx);
	SSL_CTX_free(ctx); /* the handles hold it */
	if (wbd_tls_cert_info(peer ? peer : nbd, &now))
		return;
	t = (time_t)now.not_after;
	if (gmtime_r(&t, &tm))
		strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (strcmp(was.serial, now.serial) || strcmp(was.subject, now.subject))
		wbd_info("tls: new connections present %s (%s, serial %s, valid until %s; was "
			 "serial %s); links that are up keep theirs",
			 nw->global.tls_cert, now.subject, now.serial, until, was.serial);
	else
		wbd_debug("tls: %s re-read, the same certificate (serial %s, valid until %s)",
			  nw->global.tls_cert, now.serial, until);
	reload_tls_ca(d, nw);
}

/* Step 2c: a single node (no peers at start) that the file now gives
 * peers (docs/configuration.md, "From one node to a pair"): the TLS
 * context and the listener made now, or the reload refused with why
 * (nothing applied). */
static int reload_repl_prepare(struct wbd *d, const struct wbconf *nw, SSL_CTX **tls,
			       struct wbd_peerlisten **ls)
{
	char err[400];
	int ret;

	*tls = NULL;
	*ls = NULL;
	if (d->plisten || !wbd_repl_npeers(nw, NULL))
		return 0;
	ret = repl_listen(d, nw, tls, ls, err, sizeof(err));
	if (!ret)
		return 0;
	snprintf(d->reload_error, sizeof(d->reload_error), "replication cannot start: %s", err);
	wbd_err("reload refused: %s (nothing was applied)", d->reload_error);
	return ret;
}

/* Step 4 (the new configuration in force): replication starts on each
 * resource that is up, as the primary it has been (the configured role
 * is used from its next up); a resource that is down starts it at up. */
static void reload_repl_start(struct wbd *d, SSL_CTX *tls, struct wbd_peerlisten *ls)
{
	char err[256];

	if (!ls)
		return;
	repl_adopt(d, tls, ls);
	wbd_info("reload: replication started: listening for peers on port %u",
		 wbd_peerlisten_port(ls));
	for (size_t i = 0; i < d->nres; i++)
		if (wbd_resource_start_repl(d->res[i], err, sizeof(err)))
			wbd_err("reload: %s: %s; it goes on without peers", d->res[i]->name, err);
}

/*
 * All or nothing: if any change needs a restart (a key not marked
 * reloadable in the key table, conf/wbconf_keys.c; a resource added or
 * removed), nothing is applied and the message names the key.
 */
int wbd_reload(struct wbd *d)
{
	struct wbconf *nw = NULL;
	struct wbd_peerlisten *ls = NULL, *mls = NULL;
	SSL_CTX *tls = NULL, *rtls = NULL;
	int ret, level;

	ret = reload_load(d, &nw);
	if (ret)
		return ret;
	ret = reload_check(d, nw);
	if (!ret)
		ret = reload_tls_load(d, nw, &tls);
	if (!ret)
		ret = reload_repl_prepare(d, nw, &rtls, &ls);
	if (!ret)
		ret = reload_listen_prepare(d, nw, &mls);
	if (ret && tls)
		SSL_CTX_free(tls);
	if (ret) {
		wbconf_free(nw);
		return ret;
	}
	reload_tls_apply(d, nw, tls);
	for (size_t i = 0; i < d->nres; i++)
		reload_apply(d->res[i], nw);
	reload_listen_apply(d, nw, mls);
	reload_nodes_apply(d, nw);
	if (wbd_handler_set(d->evh, nw->global.event_handler, nw->global.event_kinds,
			    nw->global.event_handler_timeout_ms))
		wbd_err("reload: event-handler: out of memory (the old one stays)");
	level = nw->global.log_level;
	if (d->verbose)
		level = WB_LOG_DEBUG;
	wbd_log_setup(-1, level);
	wbconf_free(d->conf);
	d->conf = nw;
	d->renv.conf = nw;
	reload_repl_start(d, rtls, ls);
	d->conf_hash = wbd_conf_hash(d->conf_path);
	d->reload_error[0] = 0;
	wbd_info("reload: configuration applied (log-level %d, engine tunables)", level);
	return 0;
}
