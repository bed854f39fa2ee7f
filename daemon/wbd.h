/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbd.h - the wbrepd process: event base, configuration, the resource
 * table, signal handling, reload, the NBD export lookup and the control
 * socket wiring. main.c parses the command line and calls wbd_start(),
 * wbd_run(), wbd_stop(); tests can drive the same functions.
 *
 * Ownership: struct wbd is the caller's (zeroed, conf loaded into d->conf);
 * wbd_start() creates the event base, resources and control socket, which
 * wbd_stop() releases. d->conf stays the caller's, but a successful reload
 * replaces it (the old one is freed here).
 */
#ifndef WB_DAEMON_WBD_H
#define WB_DAEMON_WBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/wbconf.h"
#include "daemon/membership.h"
#include "daemon/nbd.h"
#include "daemon/repl.h"

struct event_base;
struct event;
struct wbd_resource;
struct wbd_ctl;
struct wbd_metrics;
struct wbd_peerlisten;
struct wbd_handler;
struct wbd_event;

struct wbd {
	struct wbconf *conf;
	const char *conf_path, *node;
	int verbose;
	struct event_base *base;
	struct wbd_resource **res; /* conf->nres entries, same order */
	size_t nres;
	struct wbd_nbd_lookup lk;
	struct event *ev_term, *ev_int, *ev_hup;
	struct wbd_ctl *ctl;
	struct wbd_handler *evh; /* [global] event-handler (daemon/handler.h) */
	struct wbd_metrics *metrics;
	int exit_code;
	uint64_t conf_hash;	/* of the file as last applied (wbd_conf_hash) */
	char reload_error[512]; /* why the last reload was refused, "" if it was not */
	/* replication: the TLS context and the listener on this node's
	 * [node] address, shared by every resource (none without peers) */
	struct wbd_repl_env renv;
	struct wbd_peerlisten *plisten;
	uint64_t tls_ca_hash; /* of the tls-ca file the links check peers with */
	/* [global] cluster = corosync: membership and the last facts it
	 * reported (owned by the main event base's thread) */
	struct wbd_memb *memb;
	struct wbd_memb_facts memb_facts;
	uint32_t memb_ids[WBD_MEMB_MAX_NODES];	    /* for h_info */
	const char *memb_names[WBD_MEMB_MAX_NODES]; /* into memb_facts */
	struct event *ev_cpg;			    /* wbd_cpg.c: publish timer */
};

int wbd_start(struct wbd *d);
int wbd_run(struct wbd *d); /* until SIGTERM/SIGINT; returns exit status */
void wbd_stop(struct wbd *d);
/* SIGHUP: re-read the file; returns 0 or -errno (reason logged). */
int wbd_reload(struct wbd *d);
/* The certificate new TLS connections present (a reload may have
 * replaced it): 0, or -ENOENT when no TLS is in use. */
struct wbd_tls_info;
int wbd_tls_info(struct wbd *d, struct wbd_tls_info *out);
struct wbd_resource *wbd_find(struct wbd *d, const char *name);
/* FNV-1a of the file's bytes; 0 when it cannot be read. Tells whether the
 * file on disk is still the one in force (wbctl status -v). */
uint64_t wbd_conf_hash(const char *path);

/* CPG state of this daemon (wbd_cpg.c, docs/cluster.md "CPG state"):
 * publish it now if it changed; the timer publishes periodically. */
void wbd_cpg_publish(struct wbd *d);
int wbd_cpg_start(struct wbd *d);
/* The group's processes with their announced state, for a status reply
 * (storage valid until the next call). */
struct Wbrep__CpgMember;
size_t wbd_cpg_status(struct wbd *d, struct Wbrep__CpgMember *const **out);
void wbd_cpg_stop(struct wbd *d);

/* Control socket (wbd_ctl.c). */
int wbd_handlers_start(struct wbd *d);
void wbd_handlers_stop(struct wbd *d);

/* wbd_ctl.c: where events go besides the log (events.h sink): the control
 * socket's event streams and the event handler */
void wbd_event_sink(void *arg, const struct wbd_event *ev);

#endif /* WB_DAEMON_WBD_H */
