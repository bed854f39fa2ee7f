// SPDX-License-Identifier: GPL-2.0-only
/*
 * metrics.c - Prometheus endpoint of wbrepd (see daemon/metrics.h).
 *
 * Owns the evhttp server and the metric table (name, type, help, where the
 * value lives in struct wbd_ctl_res_status). Every scrape calls the daemon's
 * status callback and renders the text format; nothing is cached.
 *
 * Bounds (a scraper or anyone who can reach the port may send anything):
 * request headers are cut off at METRICS_MAX_HEADERS bytes (also an
 * unterminated header line), a body at METRICS_MAX_BODY, and a connection
 * that does not finish its request within METRICS_TIMEOUT_S seconds is
 * closed (libevent's evhttp limits; docs/daemon.md, "Memory bounds").
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "conf/wbconf.h"
#include "daemon/metrics.h"
#include "daemon/wbd_log.h"

#define METRICS_MAX_HEADERS (16u << 10) /* request line + headers */
#define METRICS_MAX_BODY    4096	/* GET and HEAD have none */
#define METRICS_TIMEOUT_S   10		/* read a request / write a reply */

struct wbd_metrics {
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	wbd_metrics_status_fn fn;
	wbd_metrics_tls_fn tls;
	void *ctx;
};

enum { M_U64, M_U32, M_MS_AS_S, M_STR_EQ };

struct metric {
	const char *name;
	const char *type; /* gauge | counter */
	const char *help;
	int kind;
	size_t off;
	const char *eq; /* M_STR_EQ: 1 when the string field equals this */
};

#define ST(f) offsetof(struct wbd_ctl_res_status, st.f)
#define RS(f) offsetof(struct wbd_ctl_res_status, f)

static const struct metric metrics[] = {
    {"wbrep_up", "gauge", "1 if the resource is up and serving", M_STR_EQ, RS(state), "up"},
    {"wbrep_failed", "gauge", "1 if the resource failed (up failed, or its engine refuses writes)",
     M_STR_EQ, RS(state), "failed"},
    {"wbrep_down", "gauge", "1 if the resource is down on purpose (auto-up = no, wbctl down)",
     M_STR_EQ, RS(state), "down"},
    {"wbrep_writeback", "gauge", "1 if the resource runs in write-back mode", M_STR_EQ, RS(mode),
     "writeback"},
    {"wbrep_suspended", "gauge", "1 if I/O is suspended or failed for lack of quorum", M_STR_EQ,
     RS(mode), "suspended"},
    {"wbrep_mode", "gauge",
     "Mode the policy decided: 0 writeback, 1 writethrough, 2 suspend-io, 3 io-error", M_U32,
     RS(mode_code), NULL},
    {"wbrep_mode_changes_total", "counter", "Mode changes (events) since wbrepd started", M_U64,
     RS(mode_changes), NULL},
    {"wbrep_engine_failed", "gauge",
     "1 if the engine failed (could not open, or refuses writes after an I/O error)", M_U32,
     ST(state), NULL},
    {"wbrep_size_bytes", "gauge", "Exported size", M_U64, ST(size), NULL},
    {"wbrep_log_size_bytes", "gauge", "Size of the write-back log", M_U64, ST(log_size), NULL},
    {"wbrep_log_used_bytes", "gauge", "Bytes of the log in use", M_U64, ST(log_used), NULL},
    {"wbrep_dirty_bytes", "gauge", "Bytes in the log not yet destaged to backing", M_U64,
     ST(dirty_bytes), NULL},
    {"wbrep_generation_head", "gauge", "Generation being filled", M_U64, ST(gen_head), NULL},
    {"wbrep_generation_durable", "gauge", "Newest generation fully durable", M_U64, ST(gen_durable),
     NULL},
    {"wbrep_generation_oldest", "gauge", "Oldest generation still readable from the log", M_U64,
     ST(gen_oldest), NULL},
    {"wbrep_seq_head", "gauge", "Next log sequence number", M_U64, ST(seq_head), NULL},
    {"wbrep_seq_tail", "gauge", "Oldest log sequence number still in the log", M_U64, ST(seq_tail),
     NULL},
    {"wbrep_destage_rate_bytes_per_second", "gauge", "Recent destage rate", M_U64, ST(destage_rate),
     NULL},
    {"wbrep_destage_eta_seconds", "gauge", "Time to destage the dirty bytes at that rate",
     M_MS_AS_S, ST(destage_eta_ms), NULL},
    {"wbrep_destaged_bytes_total", "counter", "Bytes destaged to backing", M_U64,
     ST(destaged_bytes), NULL},
    {"wbrep_reads_total", "counter", "Read requests", M_U64, ST(reads), NULL},
    {"wbrep_writes_total", "counter", "Write requests", M_U64, ST(writes), NULL},
    {"wbrep_flushes_total", "counter", "Flush requests", M_U64, ST(flushes), NULL},
    {"wbrep_discards_total", "counter", "Discard requests", M_U64, ST(discards), NULL},
    {"wbrep_read_bytes_total", "counter", "Bytes read", M_U64, ST(bytes_read), NULL},
    {"wbrep_written_bytes_total", "counter", "Bytes written", M_U64, ST(bytes_written), NULL},
    {"wbrep_throttle_events_total", "counter", "Writers held back (RAM or log full)", M_U64,
     ST(throttle_events), NULL},
    {"wbrep_ram_pages", "gauge", "RAM buffer size in 4 KiB pages", M_U64, ST(ram_pages_total),
     NULL},
    {"wbrep_ram_pages_used", "gauge", "RAM buffer pages in use", M_U64, ST(ram_pages_used), NULL},
    {"wbrep_extents", "gauge", "Entries in the extent map", M_U64, ST(extents), NULL},
    {"wbrep_extent_mem_bytes", "gauge", "Memory used by the extent map", M_U64,
     ST(extent_mem_bytes), NULL},
    {"wbrep_snapshots", "gauge", "Open snapshots of older generations (wbctl snapshot)", M_U64,
     ST(snapshots), NULL},
    {"wbrep_snapshots_dropped_total", "counter",
     "Snapshots the engine dropped (the log needed the space, write-through, a resync)", M_U64,
     ST(snapshots_dropped), NULL},
    {"wbrep_read_errors_total", "counter", "Reads that failed on this node's disks (since up)",
     M_U64, RS(read_errors), NULL},
    {"wbrep_reads_from_peers_total", "counter",
     "Reads that failed here and a replication peer served (since up)", M_U64, RS(reads_from_peers),
     NULL},
    {"wbrep_read_repaired_bytes_total", "counter",
     "Bytes a replication peer served after a read error here, written back here (since up)", M_U64,
     RS(read_repaired), NULL},
    {"wbrep_nbd_clients", "gauge", "Connected NBD clients", M_U32, RS(nbd_clients), NULL},
    {"wbrep_peers_connected", "gauge", "Healthy replication links", M_U32, RS(peers_connected),
     NULL},
    {"wbrep_peers", "gauge", "Configured peers", M_U32, RS(peers_total), NULL},
    {"wbrep_primary", "gauge", "1 if this node is the resource's replication primary", M_STR_EQ,
     RS(role), "primary"},
    {"wbrep_disk_uptodate", "gauge", "1 if this node's data is UpToDate (replication)", M_STR_EQ,
     RS(disk_state), "UpToDate"},
    {"wbrep_verify_running", "gauge", "1 while an online verify (wbctl verify) runs", M_STR_EQ,
     RS(verify_state), "running"},
    {"wbrep_verify_done_bytes", "gauge", "Bytes the last or running verify went through", M_U64,
     RS(verify_done), NULL},
    {"wbrep_verify_total_bytes", "gauge", "Bytes the last or running verify goes through", M_U64,
     RS(verify_total), NULL},
    {"wbrep_verify_eta_seconds", "gauge", "Estimated time left of the running verify", M_MS_AS_S,
     RS(verify_eta_ms), NULL},
};

/* Per peer of a replicated resource: labels resource and peer. */
enum {
	P_CONNECTED,
	P_PRIMARY,
	P_UPTODATE,
	P_SEQ_LAG,
	P_VERIFY_OOS,
	P_VERIFY_UNREAD,
	P_OOS,
	P_CONGESTED,
	P_SNDQ,
	P_KEPT,
	P_CERT,
	P_RS_TOTAL, /* from here on: while a resync runs */
	P_RS_DONE,
	P_RS_ETA,
	P_RS_THR,
	P_RS_PAUSED,
	P_RS_WIN
};
static const struct metric peer_metrics[] = {
    {"wbrep_peer_connected", "gauge", "1 if the replication link to the peer is up", P_CONNECTED, 0,
     NULL},
    {"wbrep_peer_primary", "gauge", "1 if the peer is primary", P_PRIMARY, 0, NULL},
    {"wbrep_peer_uptodate", "gauge", "1 if the peer's disk is UpToDate as this node knows it",
     P_UPTODATE, 0, NULL},
    {"wbrep_peer_seq_lag", "gauge",
     "Records the peer lacks compared with this node (< 0: it holds more; absent when unknown)",
     P_SEQ_LAG, 0, NULL},
    {"wbrep_peer_verify_oos_bytes", "gauge",
     "Bytes the last or running verify found out of sync on the peer (absent: none ran)",
     P_VERIFY_OOS, 0, NULL},
    {"wbrep_peer_verify_unreadable_bytes", "gauge",
     "Of those, bytes the peer could not read (bad blocks on its disk; absent: no verify ran)",
     P_VERIFY_UNREAD, 0, NULL},
    {"wbrep_peer_out_of_sync_bytes", "gauge",
     "Bytes the peer's dirty bitmap marks as possibly different (primary; absent when unknown)",
     P_OOS, 0, NULL},
    {"wbrep_peer_congested", "gauge",
     "1 if the peer's send queue was full and it catches up while write-back waits for it "
     "(primary; absent when not connected)",
     P_CONGESTED, 0, NULL},
    {"wbrep_peer_send_queue_bytes", "gauge",
     "Bytes queued on the link to the peer, not yet written (primary; absent when not connected)",
     P_SNDQ, 0, NULL},
    {"wbrep_peer_log_kept_records", "gauge",
     "Records this node's log keeps for the peer (its hold; absent when none)", P_KEPT, 0, NULL},
    {"wbrep_peer_tls_certificate_expiry_seconds", "gauge",
     "When the certificate the peer presented on its last TLS connection expires, seconds "
     "since the epoch (absent: none seen)",
     P_CERT, 0, NULL},
    {"wbrep_peer_resync_total_bytes", "gauge",
     "Bytes of the resync with the peer (absent when none runs)", P_RS_TOTAL, 0, NULL},
    {"wbrep_peer_resync_done_bytes", "gauge", "Bytes of the resync done so far", P_RS_DONE, 0,
     NULL},
    {"wbrep_peer_resync_eta_seconds", "gauge", "Time the resync needs at its rate so far", P_RS_ETA,
     0, NULL},
    {"wbrep_peer_resync_throttled", "gauge",
     "1 while this node, the resync target, paces it at c-min-rate (application writes)", P_RS_THR,
     0, NULL},
    {"wbrep_peer_resync_paused", "gauge",
     "1 while the resync asks for no data: wbctl pause-sync on this node or on the peer, "
     "resync-after, or before-resync-target (the log drains, the program runs)",
     P_RS_PAUSED, 0, NULL},
    {"wbrep_peer_resync_window_bytes", "gauge",
     "Bytes this node, the resync target, may have asked for and not got yet (c-delay-target's "
     "window)",
     P_RS_WIN, 0, NULL},
};

/* Label value escaping: backslash, quote, newline. out: 2 * len + 1. */
static void label_esc(char *out, const char *in, size_t len)
{
	for (size_t k = 0; k < len && in[k]; k++) {
		if (in[k] == '\\' || in[k] == '"' || in[k] == '\n')
			*out++ = '\\';
		*out++ = in[k] == '\n' ? 'n' : in[k];
	}
	*out = 0;
}

/* a resync that asks for no data: paused, after another, or its
 * before-resync-target (no ETA then) */
static bool rs_held(const struct wbd_ctl_peer_status *p)
{
	return p->rs_paused || p->rs_after[0] || p->rs_hook;
}

static void render_peers(FILE *f, const struct wbd_ctl_res_status *s, size_t n)
{
	for (size_t i = 0; i < sizeof(peer_metrics) / sizeof(peer_metrics[0]); i++) {
		const struct metric *m = &peer_metrics[i];

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
		for (size_t j = 0; j < n; j++) {
			char res[sizeof(s[j].name) * 2 + 1];

			label_esc(res, s[j].name, sizeof(s[j].name));
			for (unsigned k = 0; k < s[j].npeers && k < WBD_CTL_MAX_PEERS; k++) {
				const struct wbd_ctl_peer_status *p = &s[j].peers[k];
				char node[sizeof(p->node) * 2 + 1];
				int64_t v;

				if ((m->kind == P_SEQ_LAG && !p->has_seq_lag) ||
				    ((m->kind == P_VERIFY_OOS || m->kind == P_VERIFY_UNREAD) &&
				     !p->verify_state[0]) ||
				    (m->kind == P_OOS && !p->has_oos) ||
				    ((m->kind == P_CONGESTED || m->kind == P_SNDQ) &&
				     !p->has_sndq) ||
				    (m->kind == P_KEPT && !p->has_kept) ||
				    (m->kind == P_CERT && !p->cert_not_after) ||
				    (m->kind >= P_RS_TOTAL && !p->resync) ||
				    (m->kind == P_RS_ETA && rs_held(p)) ||
				    (m->kind == P_RS_WIN && !p->has_rs_window))
					continue;
				v = m->kind == P_CONNECTED
					? !strncmp(p->connection, "Connected", 16)
				    : m->kind == P_PRIMARY	 ? !strncmp(p->role, "primary", 16)
				    : m->kind == P_UPTODATE	 ? !strncmp(p->disk, "UpToDate", 16)
				    : m->kind == P_SEQ_LAG	 ? p->seq_lag
				    : m->kind == P_OOS		 ? (int64_t)p->oos
				    : m->kind == P_VERIFY_UNREAD ? (int64_t)p->verify_unread
				    : m->kind == P_CONGESTED	 ? p->congested
				    : m->kind == P_SNDQ		 ? (int64_t)p->sndq
				    : m->kind == P_KEPT		 ? (int64_t)p->kept
				    : m->kind == P_CERT		 ? p->cert_not_after
				    : m->kind == P_RS_TOTAL	 ? (int64_t)p->rs_total
				    : m->kind == P_RS_DONE	 ? (int64_t)p->rs_done
				    : m->kind == P_RS_ETA    ? (int64_t)(p->rs_eta_ms + 999) / 1000
				    : m->kind == P_RS_THR    ? p->rs_throttled
				    : m->kind == P_RS_PAUSED ? rs_held(p)
				    : m->kind == P_RS_WIN    ? (int64_t)p->rs_window
							     : (int64_t)p->verify_oos;
				label_esc(node, p->node, sizeof(p->node));
				fprintf(f, "%s{resource=\"%s\",peer=\"%s\"} %lld\n", m->name, res,
					node, (long long)v);
			}
		}
	}
}

static uint64_t metric_value(const struct metric *m, const struct wbd_ctl_res_status *s)
{
	const char *p = (const char *)s + m->off;

	switch (m->kind) {
	case M_U32:
		return *(const uint32_t *)p;
	case M_MS_AS_S:
		return (*(const uint64_t *)p + 999) / 1000;
	case M_STR_EQ:
		return strncmp(p, m->eq, 16) == 0;
	default:
		return *(const uint64_t *)p;
	}
}

int wbd_metrics_render(const struct wbd_ctl_res_status *s, size_t n, const int64_t *tls_not_after,
		       char **out, size_t *len)
{
	char *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		const struct metric *m = &metrics[i];

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
		for (size_t j = 0; j < n; j++) {
			char name[sizeof(s[j].name) * 2 + 1];

			label_esc(name, s[j].name, sizeof(s[j].name));
			fprintf(f, "%s{resource=\"%s\"} %llu\n", m->name, name,
				(unsigned long long)metric_value(m, &s[j]));
		}
	}
	render_peers(f, s, n);
	if (tls_not_after)
		fprintf(
		    f,
		    "# HELP wbrep_tls_certificate_expiry_seconds When the certificate this node "
		    "presents (tls-cert) expires, seconds since the epoch\n"
		    "# TYPE wbrep_tls_certificate_expiry_seconds gauge\n"
		    "wbrep_tls_certificate_expiry_seconds %lld\n",
		    (long long)*tls_not_after);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = sz;
	return 0;
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct wbd_metrics *m = arg;
	struct wbd_ctl_res_status *s = NULL;
	struct evbuffer *body;
	size_t n = 0, len;
	char *text;
	int64_t na = 0;
	int rc;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	rc = m->fn(m->ctx, NULL, &s, &n);
	if (rc == 0)
		rc = wbd_metrics_render(s, n, m->tls && !m->tls(m->ctx, &na) ? &na : NULL, &text,
					&len);
	free(s);
	if (rc) {
		wbd_warn("metrics: cannot collect status: %s", strerror(-rc));
		evhttp_send_error(req, 500, "status unavailable");
		return;
	}
	body = evbuffer_new();
	if (!body) {
		free(text);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(body, text, len);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void on_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "only /metrics is served here");
}

int wbd_metrics_start(struct event_base *base, const char *listen, wbd_metrics_status_fn fn,
		      void *ctx, struct wbd_metrics **out)
{
	struct wbconf_addr a = {0};
	struct wbd_metrics *m;
	const char *host;
	int rc;

	*out = NULL;
	rc = wbconf_parse_addr(listen, &a);
	if (rc) {
		wbd_err("metrics: bad listen address '%s' (expected host:port)", listen);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		rc = -ENOMEM;
		goto out_addr;
	}
	m->fn = fn;
	m->ctx = ctx;
	m->http = evhttp_new(base);
	if (!m->http) {
		rc = -ENOMEM;
		goto out_free;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_cb(m->http, "/metrics", on_metrics, m);
	evhttp_set_gencb(m->http, on_other, m);
	host = strcmp(a.host, "*") ? a.host : "0.0.0.0";
	m->sock = evhttp_bind_socket_with_handle(m->http, host, a.port);
	if (!m->sock) {
		rc = errno ? -errno : -EADDRNOTAVAIL;
		wbd_err("metrics: cannot listen on %s: %s", listen, strerror(-rc));
		goto out_http;
	}
	free(a.host);
	*out = m;
	return 0;
out_http:
	evhttp_free(m->http);
out_free:
	free(m);
out_addr:
	free(a.host);
	return rc;
}

void wbd_metrics_set_tls(struct wbd_metrics *m, wbd_metrics_tls_fn fn)
{
	m->tls = fn;
}

void wbd_metrics_stop(struct wbd_metrics *m)
{
	if (!m)
		return;
	evhttp_free(m->http);
	free(m);
}
