/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * metrics.h - Prometheus metrics endpoint of wbrepd (libevent evhttp).
 *
 * Serves GET /metrics in the Prometheus text exposition format (version
 * 0.0.4): one gauge or counter per field of struct wbd_ctl_res_status, with
 * HELP/TYPE lines and a resource="NAME" label, e.g.
 *   wbrep_dirty_bytes{resource="r0"} 1048576
 * The data comes from the same status callback the control socket uses.
 * Off unless [global] metrics-listen is configured. Metric names are listed
 * in docs/configuration.md (metrics-listen).
 */
#ifndef WB_DAEMON_METRICS_H
#define WB_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/ctl.h"

struct event_base;
struct wbd_metrics;

/* Same contract as wbd_ctl_handlers.status (called with res == NULL). */
typedef int (*wbd_metrics_status_fn)(void *ctx, const char *res, struct wbd_ctl_res_status **out,
				     size_t *n);

/* listen: "host:port" ("127.0.0.1:9790", "[::1]:9790", "*:9790"; port 0 =
 * ephemeral). 0 and *out, or -errno (logged). */
int wbd_metrics_start(struct event_base *base, const char *listen, wbd_metrics_status_fn fn,
		      void *ctx, struct wbd_metrics **out);
void wbd_metrics_stop(struct wbd_metrics *m);
/* Optional: the expiry (seconds since the epoch) of the certificate this
 * node presents, 0 when it has one, else no such metric
 * (wbrep_tls_certificate_expiry_seconds). */
typedef int (*wbd_metrics_tls_fn)(void *ctx, int64_t *not_after);
void wbd_metrics_set_tls(struct wbd_metrics *m, wbd_metrics_tls_fn fn);
/* Render the exposition text for `n` resources (and the certificate's
 * expiry unless tls_not_after is NULL) into a malloc'd string (*out,
 * caller frees). Exposed for tests. */
int wbd_metrics_render(const struct wbd_ctl_res_status *s, size_t n, const int64_t *tls_not_after,
		       char **out, size_t *len);

#endif /* WB_DAEMON_METRICS_H */
