// SPDX-License-Identifier: GPL-2.0-only
/*
 * peerlink.c - replication links (see peerlink.h): connection life cycle
 * (connect, TLS, hello, up, drop, backoff), the frame reader with its caps,
 * the bounded send queue, keepalive, and the adoption of a connection the
 * listener (peerlisten.c) accepted. Owns each link's bufferevent, timer, hello
 * copies and receive scratch buffer; every bit of it lives on the link's
 * event_base.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "daemon/peerlink.h"
#include "daemon/peerlink_int.h"
#include "daemon/tls.h"
#include "daemon/wbd_log.h"

#define PL_LINGER_MS 1000 /* flush an error frame before closing */

enum { RX_HDR, RX_MSG, RX_DATA };

struct wbd_peerlink {
	struct event_base *base;
	struct wbd_peerlink_cfg cfg; /* strings point to the copies below */
	char *resource, *local, *peer, *host;
	enum wbd_pl_state st;
	struct bufferevent *bev;
	struct event *tm;
	char addr[80];
	uint32_t backoff_ms;
	uint64_t ping_out_ms, cookie; /* unanswered ping: when sent, its cookie */
	struct wbp_limits lim;
	struct wbp_msg mine, theirs; /* hellos of the current connection */
	uint8_t *hello_out;	     /* passive: our packed hello, sent on accepting */
	size_t hello_out_len;
	int rx_stage;
	struct wbp_hdr rxh;
	struct wbp_msg rxm;
	uint8_t *rx_dst, *scratch;
	uint32_t rx_got;
	bool paused, want_writable, lingering;
	int linger_err; /* reported when the lingering connection closes */
	int busy;
	bool free_pending;
};

static void pl_read_cb(struct bufferevent *bev, void *arg);
static void pl_write_cb(struct bufferevent *bev, void *arg);
static void pl_event_cb(struct bufferevent *bev, short what, void *arg);
static void pl_real_free(struct wbd_peerlink *l);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void arm(struct event *ev, uint32_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	evtimer_add(ev, &tv);
}

const char *wbd_pl_state_name(enum wbd_pl_state st)
{
	static const char *const n[] = {"idle", "connecting", "hello", "up", "backoff", "stopped"};

	return (unsigned)st < sizeof(n) / sizeof(n[0]) ? n[st] : "?";
}

/* Callers of user callbacks bracket them so a free from inside waits. */
static void pl_hold(struct wbd_peerlink *l)
{
	l->busy++;
}

static void pl_release(struct wbd_peerlink *l)
{
	if (--l->busy == 0 && l->free_pending)
		pl_real_free(l);
}

static void pl_set_state(struct wbd_peerlink *l, enum wbd_pl_state st, int err)
{
	l->st = st;
	if (l->cfg.ops->state)
		l->cfg.ops->state(l, st, err, l->cfg.arg);
}

/* Close the connection and reset per-connection state; no callback. */
static void pl_close(struct wbd_peerlink *l)
{
	if (l->bev)
		bufferevent_free(l->bev); /* puts every queued payload */
	l->bev = NULL;
	evtimer_del(l->tm);
	wbp_msg_free(&l->mine);
	wbp_msg_free(&l->theirs);
	wbp_msg_free(&l->rxm);
	free(l->hello_out);
	l->hello_out = NULL;
	free(l->scratch);
	l->scratch = NULL;
	l->rx_stage = RX_HDR;
	l->rx_dst = NULL;
	wbp_limits_init(&l->lim);
	l->lingering = l->want_writable = false;
}

/* After a close: an active link waits and reconnects, a passive one waits
 * for the peer. */
static void pl_after_close(struct wbd_peerlink *l, int err)
{
	if (l->st == WBD_PL_STOPPED)
		return;
	if (l->host) {
		wbd_info("peer %s (resource %s): reconnecting in %u ms", l->peer, l->resource,
			 l->backoff_ms);
		arm(l->tm, l->backoff_ms);
		if (!l->backoff_ms) /* after a redo */
			l->backoff_ms = l->cfg.backoff_min_ms;
		else
			l->backoff_ms = l->backoff_ms >= l->cfg.backoff_max_ms / 2
					    ? l->cfg.backoff_max_ms
					    : l->backoff_ms * 2;
		pl_set_state(l, WBD_PL_BACKOFF, err);
	} else {
		pl_set_state(l, WBD_PL_IDLE, err);
	}
}

void wbd_peerlink_drop(struct wbd_peerlink *l, int err, const char *why)
{
	if (!l->bev && l->st != WBD_PL_CONNECTING)
		return;
	wbd_warn("peer %s (resource %s%s%s): %s", l->peer, l->resource, l->addr[0] ? ", " : "",
		 l->addr, why);
	pl_close(l);
	pl_hold(l);
	pl_after_close(l, err);
	pl_release(l);
}

void wbd_peerlink_redo(struct wbd_peerlink *l, const char *why)
{
	if (!l->bev && l->st != WBD_PL_CONNECTING)
		return;
	if (l->host)
		l->backoff_ms = 0; /* deliberate: reconnect at once */
	wbd_peerlink_drop(l, -ECONNRESET, why);
}

static void pl_dropf(struct wbd_peerlink *l, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pl_dropf(struct wbd_peerlink *l, int err, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	wbd_peerlink_drop(l, err, why);
}

/* Control frames (hello, ping, pong, error) bypass the queue bound. */
static int pl_send_ctl(struct wbd_peerlink *l, unsigned type, const ProtobufCMessage *m,
		       const struct wbp_limits *lim)
{
	const char *why;
	uint8_t *buf;
	size_t len;
	int rc = wbp_pack(type, m, 0, lim, &buf, &len, &why);

	if (rc) {
		wbd_err("peer %s (resource %s): cannot send %s: %s", l->peer, l->resource,
			wbp_type_name(type), why ? why : wbp_strerror(rc));
		return rc;
	}
	rc = bufferevent_write(l->bev, buf, len) ? -ENOMEM : 0;
	free(buf);
	return rc;
}

/* Refuse the link: tell the peer why, log it, close once flushed. */
static void pl_refuse(struct wbd_peerlink *l, int err, const char *why)
{
	Wbrep__PeerError e = WBREP__PEER_ERROR__INIT;
	char text[WBP_TEXT_MAX + 1];
	size_t i;

	wbd_warn("peer %s (resource %s, %s): refused: %s", l->peer, l->resource, l->addr, why);
	for (i = 0; why[i] && i < WBP_TEXT_MAX; i++)
		text[i] = why[i] >= 0x20 && why[i] < 0x7f ? why[i] : '?';
	text[i] = 0;
	e.code = err < 0 && err > -4096 ? -err : EPROTO;
	e.text = text;
	if (pl_send_ctl(l, WBP_T_ERROR, &e.base, &l->lim)) {
		wbd_peerlink_drop(l, err, "could not send the error frame");
		return;
	}
	l->lingering = true;
	bufferevent_disable(l->bev, EV_READ);
	bufferevent_setwatermark(l->bev, EV_WRITE, 0, 0);
	evtimer_del(l->tm);
	arm(l->tm, PL_LINGER_MS);
	l->linger_err = err;
}

/* Build this node's hello (kept decoded in l->mine); send it now (active
 * side) or keep it until the peer's hello is accepted (passive side, so a
 * refused peer never sees a hello and never counts the link as up). */
static void pl_send_hello(struct wbd_peerlink *l, bool now)
{
	Wbrep__Hello h = WBREP__HELLO__INIT;
	struct wbp_limits pre;
	const char *why;
	uint8_t *buf;
	size_t len;
	int rc;

	wbp_limits_init(&pre);
	l->cfg.ops->hello(l, &h, l->cfg.arg);
	rc = wbp_pack(WBP_T_HELLO, &h.base, 0, &pre, &buf, &len, &why);
	if (!rc) {
		struct wbp_hdr hh = {.type = WBP_T_HELLO,
				     .msg_len = (uint32_t)(len - WBP_HDR_SIZE)};

		rc = wbp_msg_decode(&hh, buf + WBP_HDR_SIZE, &pre, &l->mine, &why);
		if (!rc && !now) {
			l->hello_out = buf;
			l->hello_out_len = len;
			buf = NULL;
		} else if (!rc && bufferevent_write(l->bev, buf, len)) {
			rc = -ENOMEM, why = "out of memory";
		}
		free(buf);
	}
	if (rc) {
		pl_dropf(l, rc, "this node's hello is invalid: %s", why ? why : wbp_strerror(rc));
		return;
	}
	l->st = WBD_PL_HELLO; /* no callback: an internal step */
}

/*
 * Records and acks are latency-bound (protocol C: a write's reply waits for
 * its record to reach the peer and the DURABLE ack to come back). With
 * Nagle on, a frame written while an earlier one is unacknowledged waits
 * for the peer's delayed ACK (up to 40 ms on Linux): 4K QD1 writes took
 * ~90 ms each on loopback (docs/benchmarks.md, section repl). Frames are
 * already coalesced by the bufferevent, so Nagle buys nothing here.
 */
static void pl_nodelay(struct wbd_peerlink *l)
{
	evutil_socket_t fd = bufferevent_getfd(l->bev);
	int one = 1;

	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		wbd_warn("peer %s (resource %s, %s): TCP_NODELAY: %s", l->peer, l->resource,
			 l->addr, strerror(errno));
}

static void pl_on_hello(struct wbd_peerlink *l, struct wbp_msg *m)
{
	const Wbrep__Hello *p = m->hello;
	char why[512];
	const char *w = NULL;
	int rc;

	if (l->st != WBD_PL_HELLO) {
		pl_refuse(l, -EPROTO, "second hello on a link");
		return;
	}
	if (strcmp(p->resource, l->resource)) {
		snprintf(why, sizeof(why), "peer speaks for resource '%s', expected '%s'",
			 p->resource, l->resource);
		pl_refuse(l, -EPROTO, why);
		return;
	}
	if (strcmp(p->node, l->peer)) {
		snprintf(why, sizeof(why), "peer says it is node '%s', expected '%s'", p->node,
			 l->peer);
		pl_refuse(l, -EACCES, why);
		return;
	}
	if (l->cfg.tls &&
	    wbd_tls_peer_check(bufferevent_openssl_get_ssl(l->bev), l->peer, why, sizeof(why))) {
		pl_refuse(l, -EACCES, why);
		return;
	}
	rc = wbp_agree(l->mine.hello, p, &l->lim, &w);
	if (!rc && l->cfg.ops->hello_check)
		rc = l->cfg.ops->hello_check(l, p, &l->lim, &w, l->cfg.arg);
	if (rc) {
		wbp_limits_init(&l->lim);
		pl_refuse(l, rc, w ? w : "hello refused");
		return;
	}
	if (l->hello_out) {
		rc = bufferevent_write(l->bev, l->hello_out, l->hello_out_len);
		free(l->hello_out);
		l->hello_out = NULL;
		if (rc) {
			pl_dropf(l, -ENOMEM, "cannot queue the hello");
			return;
		}
	}
	l->theirs = *m;
	m->base = NULL;
	bufferevent_setwatermark(l->bev, EV_READ, 0, WBP_FRAME_MAX(&l->lim));
	l->backoff_ms = l->cfg.backoff_min_ms;
	l->ping_out_ms = 0;
	evtimer_del(l->tm);
	arm(l->tm, l->cfg.ping_interval_ms);
	pl_nodelay(l);
	wbd_info("peer %s (resource %s, %s): up, %s, max record %u bytes", l->peer, l->resource,
		 l->addr, l->cfg.tls ? "TLS 1.3" : "plain TCP", l->lim.max_data);
	pl_set_state(l, WBD_PL_UP, 0);
}

/* One complete frame (message + data) arrived. */
static void pl_deliver(struct wbd_peerlink *l, struct wbp_msg *m, void *data)
{
	switch (m->type) {
	case WBP_T_HELLO:
		pl_on_hello(l, m);
		break;
	case WBP_T_PING: {
		Wbrep__Ping pong = WBREP__PING__INIT;

		pong.has_cookie = m->ping->has_cookie;
		pong.cookie = m->ping->cookie;
		pl_send_ctl(l, WBP_T_PONG, &pong.base, &l->lim);
		break;
	}
	case WBP_T_PONG:
		if (m->ping->has_cookie && m->ping->cookie == l->cookie)
			l->ping_out_ms = 0;
		break;
	case WBP_T_ERROR:
		if (l->cfg.ops->refused)
			l->cfg.ops->refused(l, m->error->code, m->error->text, l->cfg.arg);
		pl_dropf(l, -ECONNREFUSED, "peer closed the link: %s (%s)",
			 m->error->text ? m->error->text : "no text", strerror(m->error->code));
		break;
	default:
		l->cfg.ops->frame(l, m, data, l->cfg.arg);
	}
}

static void pl_read_cb(struct bufferevent *bev, void *arg)
{
	struct wbd_peerlink *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *why = NULL;
	uint8_t hb[WBP_HDR_SIZE];
	int rc;

	pl_hold(l);
	while (l->bev == bev && !l->paused && !l->lingering && !l->free_pending) {
		size_t avail = evbuffer_get_length(in);

		if (l->rx_stage == RX_HDR) {
			if (avail < WBP_HDR_SIZE)
				break;
			evbuffer_copyout(in, hb, WBP_HDR_SIZE);
			rc = wbp_hdr_decode(hb, &l->lim, &l->rxh);
			if (rc) {
				pl_dropf(l, rc, "bad frame header (type %u): %s", hb[5],
					 wbp_strerror(rc));
				break;
			}
			evbuffer_drain(in, WBP_HDR_SIZE);
			l->rx_stage = RX_MSG;
		} else if (l->rx_stage == RX_MSG) {
			static const uint8_t none[1];
			const uint8_t *p = none;

			if (avail < l->rxh.msg_len)
				break;
			if (l->rxh.msg_len)
				p = evbuffer_pullup(in, l->rxh.msg_len);
			rc = wbp_msg_decode(&l->rxh, p, &l->lim, &l->rxm, &why);
			if (rc) {
				pl_dropf(l, rc, "invalid %s frame: %s", wbp_type_name(l->rxh.type),
					 why ? why : wbp_strerror(rc));
				break;
			}
			evbuffer_drain(in, l->rxh.msg_len);
			l->rx_stage = RX_DATA;
			l->rx_got = 0;
			l->rx_dst = NULL;
			if (l->rxh.data_len) {
				if (l->cfg.ops->rx_buf)
					l->rx_dst = l->cfg.ops->rx_buf(l, &l->rxm, l->cfg.arg);
				if (!l->rx_dst && !l->scratch)
					l->scratch = malloc(l->lim.max_data);
				if (!l->rx_dst)
					l->rx_dst = l->scratch;
				if (!l->rx_dst) {
					pl_dropf(l, -ENOMEM, "no memory for a receive buffer");
					break;
				}
			}
		} else {
			struct wbp_msg m;

			if (l->rx_got < l->rxh.data_len) {
				int n = evbuffer_remove(in, l->rx_dst + l->rx_got,
							l->rxh.data_len - l->rx_got);

				if (n > 0)
					l->rx_got += (uint32_t)n;
				if (l->rx_got < l->rxh.data_len)
					break;
			}
			m = l->rxm;
			l->rxm.base = NULL;
			l->rx_stage = RX_HDR;
			pl_deliver(l, &m, l->rxh.data_len ? l->rx_dst : NULL);
			wbp_msg_free(&m);
		}
	}
	pl_release(l);
}

static void pl_write_cb(struct bufferevent *bev, void *arg)
{
	struct wbd_peerlink *l = arg;

	pl_hold(l);
	if (l->lingering && !evbuffer_get_length(bufferevent_get_output(bev))) {
		int err = l->linger_err;

		pl_close(l);
		pl_after_close(l, err);
	} else if (l->want_writable) {
		l->want_writable = false;
		if (l->cfg.ops->writable)
			l->cfg.ops->writable(l, l->cfg.arg);
	}
	pl_release(l);
}

static void pl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct wbd_peerlink *l = arg;
	unsigned long errs[8];
	size_t n = 0;
	char why[600];
	unsigned long e;
	int serr = EVUTIL_SOCKET_ERROR();

	pl_hold(l);
	if (what & BEV_EVENT_CONNECTED) {
		pl_send_hello(l, true);
		goto out;
	}
	if (l->cfg.tls)
		while ((e = bufferevent_get_openssl_error(bev)))
			if (ERR_GET_LIB(e) && n < 8) /* lib 0: an SSL_get_error() code */
				errs[n++] = e;
	if (l->st == WBD_PL_CONNECTING) {
		if (n)
			wbd_tls_describe_error(bufferevent_openssl_get_ssl(bev), errs, n, why,
					       sizeof(why));
		else
			snprintf(why, sizeof(why), "%s",
				 serr ? strerror(serr) : "closed during the handshake");
		pl_dropf(l, -ECONNREFUSED, "%s to %s:%u failed: %s",
			 l->cfg.tls ? "TLS connection" : "connection", l->host, l->cfg.port, why);
	} else if (n) {
		wbd_tls_describe_error(NULL, errs, n, why, sizeof(why));
		pl_dropf(l, -ECONNRESET, "connection lost: %s", why);
	} else {
		pl_dropf(l, -ECONNRESET, "connection lost: %s",
			 (what & BEV_EVENT_EOF) ? "closed by the peer"
			 : serr			? strerror(serr)
						: "error");
	}
out:
	pl_release(l);
}

static void pl_attach(struct wbd_peerlink *l, struct bufferevent *bev)
{
	l->bev = bev;
	bufferevent_setcb(bev, pl_read_cb, pl_write_cb, pl_event_cb, l);
	bufferevent_setwatermark(bev, EV_READ, 0, WBP_HDR_SIZE + WBP_MSG_MAX);
	bufferevent_setwatermark(bev, EV_WRITE, l->cfg.sndq_max / 2, 0);
	if (l->cfg.tls)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_enable(bev, l->paused ? EV_WRITE : EV_READ | EV_WRITE);
}

static void pl_connect(struct wbd_peerlink *l)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	struct bufferevent *bev;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", l->cfg.port);
	snprintf(l->addr, sizeof(l->addr), "%s:%u", l->host, l->cfg.port);
	l->st = WBD_PL_CONNECTING;
	pl_set_state(l, WBD_PL_CONNECTING, 0);
	if (l->st != WBD_PL_CONNECTING)
		return; /* the state callback stopped it */
	rc = getaddrinfo(l->host, port, &hints, &ai);
	if (rc) {
		pl_dropf(l, -EHOSTUNREACH, "cannot resolve %s: %s", l->host, gai_strerror(rc));
		return;
	}
	if (l->cfg.tls) {
		SSL *ssl = wbd_tls_ssl_new(l->cfg.tls, false, l->peer);

		bev = ssl ? bufferevent_openssl_socket_new(
				l->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE)
			  : NULL;
		if (ssl && !bev)
			SSL_free(ssl);
	} else {
		bev = bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!bev) {
		freeaddrinfo(ai);
		pl_dropf(l, -ENOMEM, "cannot create a connection");
		return;
	}
	pl_attach(l, bev);
	arm(l->tm, l->cfg.connect_timeout_ms);
	rc = bufferevent_socket_connect(bev, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc)
		pl_dropf(l, -ECONNREFUSED, "connect to %s failed: %s", l->addr,
			 strerror(EVUTIL_SOCKET_ERROR()));
}

static void pl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_peerlink *l = arg;

	pl_hold(l);
	if (l->lingering) {
		int err = l->linger_err;

		pl_close(l);
		pl_after_close(l, err);
	} else if (l->st == WBD_PL_BACKOFF) {
		pl_connect(l);
	} else if (l->st == WBD_PL_CONNECTING || l->st == WBD_PL_HELLO) {
		pl_dropf(l, -ETIMEDOUT, "no %s within %u ms",
			 l->st == WBD_PL_HELLO ? "hello from the peer" : "connection",
			 l->cfg.connect_timeout_ms);
	} else if (l->st == WBD_PL_UP) {
		uint64_t now = now_ms();

		if (l->paused) /* we are the slow side, not the peer */
			l->ping_out_ms = 0;
		if (l->ping_out_ms && now - l->ping_out_ms >= l->cfg.ping_timeout_ms) {
			pl_dropf(l, -ETIMEDOUT, "no pong for %llu ms (ping timeout)",
				 (unsigned long long)(now - l->ping_out_ms));
		} else {
			if (!l->ping_out_ms) {
				Wbrep__Ping p = WBREP__PING__INIT;

				p.has_cookie = 1;
				p.cookie = ++l->cookie;
				l->ping_out_ms = now;
				pl_send_ctl(l, WBP_T_PING, &p.base, &l->lim);
			}
			arm(l->tm, l->cfg.ping_interval_ms);
		}
	}
	pl_release(l);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int wbd_peerlink_new(struct event_base *base, const struct wbd_peerlink_cfg *cfg,
		     struct wbd_peerlink **out)
{
	struct wbd_peerlink *l;

	*out = NULL;
	if (!cfg->resource || !cfg->peer || !cfg->ops || !cfg->ops->hello || !cfg->ops->frame ||
	    (cfg->host && !cfg->port)) {
		wbd_err("peerlink: resource, peer, hello and frame callbacks are required");
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->base = base;
	l->cfg = *cfg;
	l->resource = strdup(cfg->resource);
	l->peer = strdup(cfg->peer);
	l->local = dup_or_null(cfg->local);
	l->host = dup_or_null(cfg->host);
	l->tm = evtimer_new(base, pl_timer_cb, l);
	if (!l->resource || !l->peer || (cfg->local && !l->local) || (cfg->host && !l->host) ||
	    !l->tm) {
		pl_real_free(l);
		return -ENOMEM;
	}
#define DEF(f, v)                                                                                  \
	do {                                                                                       \
		if (!l->cfg.f)                                                                     \
			l->cfg.f = (v);                                                            \
	} while (0)
	DEF(ping_interval_ms, 1000);
	DEF(ping_timeout_ms, 5000);
	DEF(connect_timeout_ms, 10000);
	DEF(backoff_min_ms, 100);
	DEF(backoff_max_ms, 30000);
	DEF(sndq_max, 8u << 20);
#undef DEF
	l->backoff_ms = l->cfg.backoff_min_ms;
	l->st = WBD_PL_IDLE;
	wbp_limits_init(&l->lim);
	*out = l;
	return 0;
}

void wbd_peerlink_start(struct wbd_peerlink *l)
{
	if (l->bev || l->st == WBD_PL_CONNECTING || l->st == WBD_PL_BACKOFF)
		return;
	l->st = WBD_PL_IDLE;
	l->backoff_ms = l->cfg.backoff_min_ms;
	if (l->host)
		pl_connect(l);
}

void wbd_peerlink_stop(struct wbd_peerlink *l)
{
	pl_close(l);
	if (l->st != WBD_PL_STOPPED)
		pl_set_state(l, WBD_PL_STOPPED, 0);
}

static void pl_real_free(struct wbd_peerlink *l)
{
	pl_close(l);
	if (l->tm)
		event_free(l->tm);
	free(l->resource);
	free(l->peer);
	free(l->local);
	free(l->host);
	free(l);
}

void wbd_peerlink_free(struct wbd_peerlink *l)
{
	if (!l)
		return;
	static const struct wbd_peerlink_ops none;

	l->cfg.ops = &none; /* no more callbacks */
	if (l->busy) {
		pl_close(l);
		l->free_pending = true;
		return;
	}
	pl_real_free(l);
}

/*
 * A segmented payload on a TLS link: copied into one contiguous chain and
 * put at once. bufferevent_openssl calls SSL_write once per buffer chain,
 * so 4 KiB blocks queued by reference went out as one 4 KiB TLS record and
 * one write(2) each, and cost the receiver three syscalls per block (epoll,
 * record header, record body); from one chain it writes full 16 KiB
 * records. Encryption reads every byte anyway, the copy is cheap next to
 * it (docs/benchmarks.md, section repl). 0 or -1 (nothing queued, put not
 * called).
 */
static int pl_add_copy(struct evbuffer *out, const struct wbd_payload *data)
{
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(out, (ev_ssize_t)data->len, &v, 1) != 1 || v.iov_len < data->len)
		return -1;
	for (uint32_t i = 0; i < data->nsegs; i++)
		memcpy((uint8_t *)v.iov_base + (size_t)i * data->seg_len, data->segs[i],
		       data->seg_len);
	v.iov_len = data->len;
	if (evbuffer_commit_space(out, &v, 1))
		return -1;
	data->put(data->segs[data->nsegs - 1], data->seg_len, data->cookie);
	return 0;
}

int wbd_peerlink_send(struct wbd_peerlink *l, unsigned type, const ProtobufCMessage *msg,
		      const struct wbd_payload *data)
{
	size_t dlen = data ? data->len : 0, len, q;
	struct evbuffer *out;
	const char *why = NULL;
	uint8_t *buf;
	int rc;

	if (l->st != WBD_PL_UP || l->lingering)
		return -ENOTCONN;
	if (dlen > UINT32_MAX ||
	    (data && data->segs && (!data->nsegs || (uint64_t)data->nsegs * data->seg_len != dlen)))
		return -EINVAL;
	rc = wbp_pack(type, msg, (uint32_t)dlen, &l->lim, &buf, &len, &why);
	if (rc) {
		wbd_err("peer %s (resource %s): not sending an invalid %s frame: %s", l->peer,
			l->resource, wbp_type_name(type), why ? why : wbp_strerror(rc));
		return rc;
	}
	out = bufferevent_get_output(l->bev);
	q = evbuffer_get_length(out);
	if (q && q + len + dlen > l->cfg.sndq_max) {
		free(buf);
		if (l->cfg.congestion == WBD_PL_CONG_BLOCK) {
			l->want_writable = true;
			return -EAGAIN;
		}
		pl_dropf(l, -ENOBUFS, "send queue full (%zu bytes): congestion policy disconnect",
			 q);
		return -ENOBUFS;
	}
	rc = evbuffer_add(out, buf, len);
	free(buf);
	if (!rc && dlen && !data->segs) {
		rc = evbuffer_add_reference(out, data->data, dlen, data->put, data->cookie);
	} else if (!rc && dlen && l->cfg.tls) {
		rc = pl_add_copy(out, data);
	} else if (!rc && dlen) {
		/* one put for the whole payload: chains leave (or are freed)
		 * in order, so the last segment's release comes last */
		for (uint32_t i = 0; i < data->nsegs && !rc; i++)
			rc = evbuffer_add_reference(out, data->segs[i], data->seg_len,
						    i + 1 == data->nsegs ? data->put : NULL,
						    data->cookie);
	}
	if (rc) {
		pl_dropf(l, -ENOMEM, "cannot queue a %s frame", wbp_type_name(type));
		return -ENOMEM; /* the caller keeps the payload: put() was not called */
	}
	return 0;
}

void wbd_peerlink_pause_rx(struct wbd_peerlink *l, bool pause)
{
	l->paused = pause;
	if (!l->bev || l->lingering)
		return;
	if (pause) {
		bufferevent_disable(l->bev, EV_READ);
	} else {
		bufferevent_enable(l->bev, EV_READ);
		pl_read_cb(l->bev, l); /* frames already buffered */
	}
}

enum wbd_pl_state wbd_peerlink_state(const struct wbd_peerlink *l)
{
	return l->st;
}

size_t wbd_peerlink_queued(const struct wbd_peerlink *l)
{
	return l->bev ? evbuffer_get_length(bufferevent_get_output(l->bev)) : 0;
}

size_t wbd_peerlink_rx_buffered(const struct wbd_peerlink *l)
{
	return l->bev ? evbuffer_get_length(bufferevent_get_input(l->bev)) : 0;
}

const struct wbp_limits *wbd_peerlink_limits(const struct wbd_peerlink *l)
{
	return &l->lim;
}

const Wbrep__Hello *wbd_peerlink_peer_hello(const struct wbd_peerlink *l)
{
	return l->st == WBD_PL_UP ? l->theirs.hello : NULL;
}

bool wbd_peerlink_accepts(const struct wbd_peerlink *l)
{
	return !l->host && l->st != WBD_PL_STOPPED && !l->free_pending;
}

void wbd_peerlink_adopt(struct wbd_peerlink *l, struct bufferevent *bev, const char *addr,
			struct wbp_msg *hello)
{
	pl_hold(l);
	if (l->bev)
		wbd_peerlink_drop(l, -ECONNRESET,
				  "the peer connected again; old connection dropped");
	if (!wbd_peerlink_accepts(l)) {
		bufferevent_free(bev);
		goto out;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	pl_attach(l, bev);
	pl_send_hello(l, false);
	if (l->bev == bev) {
		pl_on_hello(l, hello);
		if (l->bev == bev && evbuffer_get_length(bufferevent_get_input(bev)))
			pl_read_cb(bev, l);
	}
out:
	pl_release(l);
}
