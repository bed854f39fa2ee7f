/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * resource.h - one wbrep resource inside wbrepd: its configuration, the
 * opened log and backing devices (wb_io), the engine instance, the engine's
 * place in the libevent loop (completion fd, timer, kick) and its frontends
 * (NBD export + listeners). Up and down are synchronous; see docs/daemon.md.
 *
 * Ownership: the daemon owns the struct (wbd_resource_new/free) and the
 * struct wbconf it points into (conf stays valid until the daemon replaces
 * it with wbd_resource_set_conf at reload). Everything opened by up() is
 * owned by the resource and released by down().
 */
#ifndef WB_DAEMON_RESOURCE_H
#define WB_DAEMON_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/wbconf.h"
#include "daemon/nbd.h"
#include "engine/wbengine.h"

struct event_base;
struct event;

enum wbd_res_state { WBD_RES_DOWN = 0, WBD_RES_UP = 1, WBD_RES_FAILED = 2 };

struct wbd_resource {
	char name[WBCONF_NAME_MAX + 1];
	const struct wbconf_resource *conf;
	struct event_base *base;
	const struct nbd_lookup *lk; /* the daemon's export lookup */
	enum wbd_res_state state;
	char last_error[256];
	struct wb_io *backing, *log;
	struct wb_engine *engine;
	struct event *ev_fd, *ev_timer, *ev_kick;
	bool kick_pending;
	struct nbd_export ex;
	struct nbd_listener *nbd_tcp, *nbd_unix;
	unsigned ctl_inflight; /* control-socket flushes in flight */
};

struct wbd_resource *wbd_resource_new(struct event_base *base, const struct wbconf_resource *conf,
				      const struct nbd_lookup *lk);
void wbd_resource_free(struct wbd_resource *r); /* downs it first */
void wbd_resource_set_conf(struct wbd_resource *r, const struct wbconf_resource *conf);

/* Open devices and engine, start the frontends. A log that is all zeroes
 * (new) is formatted; one with content is opened, never overwritten.
 * 0 or -errno, with a message in err (also logged). */
int wbd_resource_up(struct wbd_resource *r, char *err, size_t errlen);
/* Stop the listeners, refuse new requests, complete what is in flight,
 * flush, close the engine and the devices. */
void wbd_resource_down(struct wbd_resource *r);
static inline bool wbd_resource_is_up(const struct wbd_resource *r)
{
	return r->state == WBD_RES_UP;
}

/* Asynchronous flush of the engine; done(arg, err) from the event loop. */
int wbd_resource_flush(struct wbd_resource *r, void (*done)(void *arg, int err), void *arg);
int wbd_resource_set_mode(struct wbd_resource *r, enum wb_mode mode);
/* Apply run-time changeable keys (destage ...) after a reload: currently
 * recorded only; the engine picks them up at the next up. */
int wbd_resource_stats(struct wbd_resource *r, struct wb_engine_stats *st);

/* --create-md: format the log of a resource (devices opened and closed
 * here). A log that is not certainly new (wb_log_probe: not BLANK) is
 * refused unless force; one that holds records (data possibly not on the
 * backing device) also needs discard_dirty. 0 or -errno (logged). */
int wbd_resource_create_md(const struct wbconf_resource *conf, bool force, bool discard_dirty);

/* Open parameters from the configuration (exposed for tests). */
void wbd_resource_params(const struct wbconf_resource *conf, struct wb_engine_params *p);

#endif /* WB_DAEMON_RESOURCE_H */
