// SPDX-License-Identifier: GPL-2.0-only
/*
 * peerlisten.c - the listener of replication links (see peerlink.h): one
 * per node at its [node] address. Accepts a connection, runs the TLS
 * handshake (server side, client certificate required), reads the first
 * frame, which must be a valid hello, and hands the connection to the
 * passive link the hello names. Owns the listening socket and the
 * connections that have not sent their hello yet; every refusal is logged
 * with the peer address and the reason, through rate limits (a flood of
 * connections is not a flood of log lines).
 *
 * Bounds (docs/replication.md, "Hostile clients"): at most PL_PENDING_MAX
 * connections wait for their hello, each at most PL_ACCEPT_TIMEOUT_MS. When
 * all slots are taken, a connection from an address that holds fewer of
 * them than another address takes the oldest slot of the address holding
 * the most, so that one flooding address cannot keep the real peer out;
 * a connection from a configured node's address takes the oldest slot of
 * any other address, so that a flood from many addresses cannot either.
 * When accept() fails (EMFILE, ENFILE, ENOMEM...) the listener pauses for
 * 1 s instead of retrying at once (daemon/lispause.h).
 *
 * Threads: the listener, its pending connections and the TLS handshakes
 * live on io loop 0 (the base given to wbd_peerlisten_new when no io loops
 * run). The lookup of the link a hello names runs on the engine loop; the
 * connection then goes to the link's core on whichever io loop it lives
 * (passive links are spread like active ones): the pending bufferevent is
 * freed on io loop 0 without its socket and TLS session (it is made
 * without BEV_OPT_CLOSE_ON_FREE), and the link's loop wraps both in a new
 * one, with the bytes read after the hello. Free is asynchronous: the io
 * loop closes, then the engine loop frees the struct.
 */
#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>

#include "daemon/ioloop.h"
#include "daemon/lispause.h"
#include "daemon/peerlink.h"
#include "daemon/peerlink_int.h"
#include "daemon/tls.h"
#include "daemon/wbd_log.h"

#define PL_ACCEPT_TIMEOUT_MS 10000 /* accepted connection: TLS + hello */
#define PL_PENDING_MAX	     32	   /* connections waiting for their hello */
#define PL_KNOWN_MAX	     64	   /* addresses of the configured nodes */

struct pl_pending {
	struct wbd_peerlisten *ls;
	struct bufferevent *bev;
	struct event *tm;
	char addr[80];
	struct pl_pending *next;
};

struct wbd_peerlisten {
	struct event_base *base; /* the io loop's (or the engine's, without io loops) */
	struct wbd_ioloop *loop; /* NULL: no io loops, everything runs at once */
	bool closing;		 /* engine loop: free was called */
	struct wbd_ioloop_msg enable_msg, close_msg, freed_msg;
	struct evconnlistener *lis;
	SSL_CTX *tls;
	wbd_peerlisten_lookup_fn lookup;
	void *arg;
	struct pl_pending *pending;
	unsigned npending;
	/* numeric hosts of the other nodes' [node] addresses, as sa_text
	 * writes them ("10.0.0.2", "[fd00::2]"): set before the io loop
	 * enables the listener, read-only after */
	/* configured nodes' addresses: appended by the engine loop (start, a
	 * reload that adds a node), read on the io loop; an entry is written
	 * before nknown counts it (release), never changed after */
	char known[PL_KNOWN_MAX][48];
	_Atomic unsigned nknown;
	uint16_t port;
	struct wbd_lispause pause; /* after accept failed */
	/* refusals logged on the io loop (accept, TLS, hello) and on the
	 * engine loop (the link lookup): one limiter per thread and kind */
	struct wbd_log_rl rl_full, rl_evict, rl_conn, rl_hello, rl_lookup;
};

/* An accepted connection with its hello, on its way to the engine loop
 * (which link?) and on to the link's io loop (its core takes it). Owns
 * the socket, the TLS session and the bytes read after the hello until a
 * bufferevent takes them. */
struct pl_adopt {
	struct wbd_ioloop_msg m;
	struct wbd_peerlisten *ls;
	evutil_socket_t fd;
	SSL *ssl;	       /* NULL: plain TCP */
	struct evbuffer *rest; /* read after the hello */
	struct wbp_msg hello;
	struct wbd_peerlink *l;	 /* NULL: refused */
	struct event_base *base; /* the link's */
	char addr[80];
};

/* A pending connection's bufferevent owns neither its socket nor its TLS
 * session (made without BEV_OPT_CLOSE_ON_FREE, so that they can move to
 * another io loop). close: free all three; else only the bufferevent, and
 * the caller took the socket and the session. Disabled first: a
 * bufferevent freed inside its own callback stays in this loop's epoll
 * until the callback returns, and the socket must be out of it before it
 * is closed or taken by another loop. */
static void conn_free(struct bufferevent *bev, bool tls, bool close)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	SSL *ssl = tls ? bufferevent_openssl_get_ssl(bev) : NULL;

	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_free(bev);
	if (!close)
		return;
	SSL_free(ssl);
	if (fd >= 0)
		evutil_closesocket(fd);
}

static void adopt_free(struct pl_adopt *a)
{
	SSL_free(a->ssl);
	if (a->fd >= 0)
		evutil_closesocket(a->fd);
	if (a->rest)
		evbuffer_free(a->rest);
	wbp_msg_free(&a->hello);
	free(a);
}

static void post_eng(struct wbd_peerlisten *ls, struct wbd_ioloop_msg *m)
{
	if (ls->loop)
		wbd_ioloop_post_engine(ls->loop, m);
	else
		m->fn(m);
}

static void post_io(struct wbd_peerlisten *ls, struct wbd_ioloop_msg *m)
{
	if (ls->loop)
		wbd_ioloop_post(ls->loop, m);
	else
		m->fn(m);
}

/* the link's io loop: a bufferevent of its base takes the socket, the TLS
 * session (open) and the bytes read after the hello; the core takes it */
static void io_adopt(struct wbd_ioloop_msg *m)
{
	struct pl_adopt *a = (struct pl_adopt *)m;
	struct bufferevent *bev;

	if (a->ssl)
		bev = bufferevent_openssl_socket_new(a->base, a->fd, a->ssl, BUFFEREVENT_SSL_OPEN,
						     BEV_OPT_CLOSE_ON_FREE);
	else
		bev = bufferevent_socket_new(a->base, a->fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		wbd_err("peer connection from %s: out of memory", a->addr);
		adopt_free(a);
		return;
	}
	a->fd = -1; /* the bufferevent's now */
	a->ssl = NULL;
	if (evbuffer_add_buffer(bufferevent_get_input(bev), a->rest)) {
		wbd_err("peer connection from %s: out of memory", a->addr);
		bufferevent_free(bev);
		adopt_free(a);
		return;
	}
	if (bufferevent_openssl_get_ssl(bev))
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	plc_adopt(a->l->core, bev, a->addr, &a->hello);
	adopt_free(a);
}

/* engine loop: which link takes it */
static void eng_lookup(struct wbd_ioloop_msg *m)
{
	struct pl_adopt *a = (struct pl_adopt *)m;
	struct wbd_peerlisten *ls = a->ls;
	struct wbd_peerlink *l = NULL;

	if (!ls->closing)
		l = ls->lookup(a->hello.hello->resource, a->hello.hello->node, ls->arg);
	if (!l || !wbd_peerlink_accepts(l)) {
		if (!ls->closing)
			wbd_warn_rl(&ls->rl_lookup,
				    "peer connection from %s refused: no %slink for resource %s "
				    "with node %s",
				    a->addr, l ? "passive " : "", a->hello.hello->resource,
				    a->hello.hello->node);
		adopt_free(a); /* nothing of it is on an io loop any more */
		return;
	}
	a->l = l;
	a->m.fn = io_adopt;
	if (wbd_peerlink_loop(l)) {
		a->base = wbd_ioloop_base(wbd_peerlink_loop(l));
		wbd_ioloop_post(wbd_peerlink_loop(l), &a->m);
	} else {
		a->base = ls->base; /* no io loops: one base */
		io_adopt(&a->m);
	}
}

static void sa_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t blen)
{
	char h[64], p[8];

	if (getnameinfo(sa, len, h, sizeof(h), p, sizeof(p), NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(buf, blen, "?");
	else
		snprintf(buf, blen, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, p);
}

/* Unlink and free p with its bufferevent; close: its socket and TLS
 * session too, else the caller took them (conn_free). */
static void pend_free(struct pl_pending *p, bool close)
{
	struct pl_pending **pp;

	for (pp = &p->ls->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			p->ls->npending--;
			break;
		}
	if (p->bev)
		conn_free(p->bev, p->ls->tls, close);
	event_free(p->tm);
	free(p);
}

static void pend_read_cb(struct bufferevent *bev, void *arg)
{
	struct pl_pending *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct wbp_limits pre;
	struct wbp_hdr h;
	struct wbp_msg m;
	struct pl_adopt *a;
	uint8_t hb[WBP_HDR_SIZE];
	const char *why = NULL;
	int rc;

	wbp_limits_init(&pre);
	if (evbuffer_get_length(in) < WBP_HDR_SIZE)
		return;
	evbuffer_copyout(in, hb, WBP_HDR_SIZE);
	rc = wbp_hdr_decode(hb, &pre, &h);
	if (!rc && h.type != WBP_T_HELLO)
		rc = -EPROTO;
	if (rc) {
		wbd_warn_rl(&p->ls->rl_hello,
			    "peer connection from %s refused: first frame is not a hello: %s",
			    p->addr, wbp_strerror(rc));
		pend_free(p, true);
		return;
	}
	if (evbuffer_get_length(in) < WBP_HDR_SIZE + h.msg_len)
		return;
	rc = wbp_msg_decode(&h, evbuffer_pullup(in, WBP_HDR_SIZE + h.msg_len) + WBP_HDR_SIZE, &pre,
			    &m, &why);
	if (rc) {
		wbd_warn_rl(&p->ls->rl_hello, "peer connection from %s refused: invalid hello: %s",
			    p->addr, why ? why : wbp_strerror(rc));
		pend_free(p, true);
		return;
	}
	evbuffer_drain(in, WBP_HDR_SIZE + h.msg_len);
	a = calloc(1, sizeof(*a));
	if (!a) {
		wbd_err("peer connection from %s: out of memory", p->addr);
		wbp_msg_free(&m);
		pend_free(p, true);
		return;
	}
	a->ls = p->ls;
	a->hello = m;
	a->fd = -1;
	memcpy(a->addr, p->addr, sizeof(a->addr));
	a->rest = evbuffer_new();
	if (!a->rest || evbuffer_add_buffer(a->rest, in)) {
		wbd_err("peer connection from %s: out of memory", p->addr);
		adopt_free(a);
		pend_free(p, true);
		return;
	}
	/* the bufferevent goes, its socket and session stay: the link's
	 * loop takes them */
	a->fd = bufferevent_getfd(bev);
	a->ssl = p->ls->tls ? bufferevent_openssl_get_ssl(bev) : NULL;
	pend_free(p, false);
	a->m.fn = eng_lookup;
	post_eng(a->ls, &a->m);
}

static void pend_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pl_pending *p = arg;
	unsigned long errs[8], e;
	size_t n = 0;
	char why[600];

	if (what & BEV_EVENT_CONNECTED)
		return; /* TLS handshake done; the hello comes next */
	if (p->ls->tls)
		while ((e = bufferevent_get_openssl_error(bev)))
			if (ERR_GET_LIB(e) && n < 8) /* lib 0: an SSL_get_error() code */
				errs[n++] = e;
	if (p->ls->tls && (n || !(what & BEV_EVENT_EOF)))
		wbd_tls_describe_error(bufferevent_openssl_get_ssl(bev), errs, n, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "closed before its hello");
	wbd_warn_rl(&p->ls->rl_conn, "peer connection from %s refused: %s%s", p->addr,
		    p->ls->tls && n ? "TLS handshake failed: " : "", why);
	pend_free(p, true);
}

static void pend_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pl_pending *p = arg;

	wbd_warn_rl(&p->ls->rl_conn, "peer connection from %s refused: no %s within %u ms", p->addr,
		    p->ls->tls ? "TLS handshake and hello" : "hello", PL_ACCEPT_TIMEOUT_MS);
	pend_free(p, true);
}

/* a and b ("host:port", "[host]:port") come from the same host */
static bool same_host(const char *a, const char *b)
{
	const char *ca = strrchr(a, ':'), *cb = strrchr(b, ':');
	size_t la = ca ? (size_t)(ca - a) : strlen(a), lb = cb ? (size_t)(cb - b) : strlen(b);

	return la == lb && !memcmp(a, b, la);
}

/* addr ("host:port") comes from a configured node's address */
static bool is_known(const struct wbd_peerlisten *ls, const char *addr)
{
	unsigned n =
	    atomic_load_explicit(&((struct wbd_peerlisten *)ls)->nknown, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (same_host(ls->known[i], addr))
			return true;
	return false;
}

static unsigned pend_count(const struct wbd_peerlisten *ls, const char *addr)
{
	unsigned n = 0;

	for (const struct pl_pending *q = ls->pending; q; q = q->next)
		n += same_host(q->addr, addr);
	return n;
}

/* Every slot is taken: the oldest pending connection of the address that
 * holds the most slots, if that is at least two more than addr holds (so
 * that two addresses do not take slots from each other in turn), or, for
 * addr of a configured node, of any address that is not one; a configured
 * node's slot is never taken. NULL: refuse addr. At most PL_PENDING_MAX^2
 * comparisons. */
static struct pl_pending *pend_victim(struct wbd_peerlisten *ls, const char *addr, unsigned *most,
				      unsigned *mine)
{
	struct pl_pending *v = NULL;
	bool known = is_known(ls, addr);

	*most = 0;
	*mine = pend_count(ls, addr);
	for (struct pl_pending *q = ls->pending; q; q = q->next) {
		unsigned n;

		if (is_known(ls, q->addr))
			continue;
		n = pend_count(ls, q->addr);

		/* the list is newest first: >= keeps the oldest of the address */
		if (n > *most || (n == *most && v && same_host(q->addr, v->addr))) {
			*most = n;
			v = q;
		}
	}
	return v && (known || *most >= *mine + 2) ? v : NULL;
}

static void ls_accept_cb(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa,
			 int salen, void *arg)
{
	struct wbd_peerlisten *ls = arg;
	struct pl_pending *p = NULL, *v;
	SSL *ssl = NULL;
	char addr[80];

	sa_text(sa, (socklen_t)salen, addr, sizeof(addr));
	if (ls->npending >= PL_PENDING_MAX) {
		unsigned most, mine;

		v = pend_victim(ls, addr, &most, &mine);
		if (!v) {
			wbd_warn_rl(&ls->rl_full,
				    "peer connection from %s refused: %u connections already wait "
				    "for their hello (%u from its address)",
				    addr, ls->npending, mine);
			goto out_close;
		}
		wbd_warn_rl(&ls->rl_evict,
			    "peer connection from %s refused: %u connections wait for their "
			    "hello, %u from its address; its slot goes to %s%s",
			    v->addr, ls->npending, most, addr,
			    is_known(ls, addr) ? " (a configured node's address)" : "");
		pend_free(v, true);
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out_close;
	p->ls = ls;
	memcpy(p->addr, addr, sizeof(p->addr));
	p->tm = evtimer_new(ls->base, pend_timer_cb, p);
	if (!p->tm)
		goto out_free;
	if (ls->tls) {
		ssl = wbd_tls_ssl_new(ls->tls, true, NULL);
		if (ssl)
			p->bev = bufferevent_openssl_socket_new(ls->base, fd, ssl,
								BUFFEREVENT_SSL_ACCEPTING, 0);
	} else {
		p->bev = bufferevent_socket_new(ls->base, fd, 0);
	}
	if (!p->bev)
		goto out_free;
	if (ls->tls)
		bufferevent_openssl_set_allow_dirty_shutdown(p->bev, 1);
	bufferevent_setcb(p->bev, pend_read_cb, NULL, pend_event_cb, p);
	bufferevent_setwatermark(p->bev, EV_READ, 0, WBP_HDR_SIZE + WBP_MSG_MAX);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	{
		struct timeval tv = {.tv_sec = PL_ACCEPT_TIMEOUT_MS / 1000};

		evtimer_add(p->tm, &tv);
	}
	p->next = ls->pending;
	ls->pending = p;
	ls->npending++;
	return;
out_free:
	wbd_err("peer connection: out of memory");
	if (ssl && !(p && p->bev))
		SSL_free(ssl);
	if (p && p->tm)
		event_free(p->tm);
	free(p);
out_close:
	evutil_closesocket(fd);
}

static void ls_error_cb(struct evconnlistener *lis, void *arg)
{
	struct wbd_peerlisten *ls = arg;

	wbd_lispause_failed(&ls->pause);
}

static void io_enable(struct wbd_ioloop_msg *m)
{
	struct wbd_peerlisten *ls =
	    (struct wbd_peerlisten *)((char *)m - offsetof(struct wbd_peerlisten, enable_msg));

	if (evconnlistener_enable(ls->lis))
		wbd_err("peer listener: cannot start accepting on port %u", ls->port);
}

/* The numeric forms of host (a name may have several) into ls->known;
 * one that does not resolve is logged and left out (no priority). */
static void known_add(struct wbd_peerlisten *ls, const char *host)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
	char h[48];
	int rc = getaddrinfo(host, NULL, &hints, &ai);

	if (rc) {
		wbd_warn("peer listener: node address %s does not resolve (%s): its connections "
			 "get no priority when the listener is full",
			 host, gai_strerror(rc));
		return;
	}
	for (a = ai; a && atomic_load(&ls->nknown) < PL_KNOWN_MAX; a = a->ai_next) {
		unsigned n = atomic_load(&ls->nknown);
		char t[64];

		if (getnameinfo(a->ai_addr, a->ai_addrlen, h, sizeof(h), NULL, 0, NI_NUMERICHOST))
			continue;
		snprintf(t, sizeof(t), strchr(h, ':') ? "[%s]" : "%s", h);
		if (strlen(t) >= sizeof(ls->known[0]) || is_known(ls, t))
			continue;
		memcpy(ls->known[n], t, strlen(t) + 1);
		atomic_store_explicit(&ls->nknown, n + 1, memory_order_release);
	}
	freeaddrinfo(ai);
}

void wbd_peerlisten_add_known(struct wbd_peerlisten *ls, const char *host)
{
	if (ls && host)
		known_add(ls, host);
}

int wbd_peerlisten_new(struct event_base *base, const char *host, uint16_t port, SSL_CTX *tls,
		       const char *const *known, wbd_peerlisten_lookup_fn lookup, void *arg,
		       struct wbd_peerlisten **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*ai;
	struct wbd_peerlisten *ls;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[8], what[40];
	int rc;

	*out = NULL;
	snprintf(ps, sizeof(ps), "%u", port);
	rc = getaddrinfo(host && strcmp(host, "*") ? host : NULL, ps, &hints, &ai);
	if (rc) {
		wbd_err("peer listener: cannot resolve %s: %s", host ? host : "*",
			gai_strerror(rc));
		return -EINVAL;
	}
	ls = calloc(1, sizeof(*ls));
	if (!ls) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	ls->loop = wbd_ioloop_nth(0);
	ls->base = ls->loop ? wbd_ioloop_base(ls->loop) : base;
	ls->tls = tls;
	ls->lookup = lookup;
	ls->arg = arg;
	for (; known && *known; known++)
		known_add(ls, *known);
	/* bound here (errors and the port are known at once), created
	 * disabled: nothing is added to the io loop's base from this thread;
	 * the io loop enables it */
	ls->lis = evconnlistener_new_bind(ls->base, ls_accept_cb, ls,
					  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					      LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
					  64, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!ls->lis) {
		rc = -errno;
		wbd_err("peer listener: cannot listen on %s:%u: %s", host ? host : "*", port,
			strerror(errno));
		free(ls);
		return rc ? rc : -EIO;
	}
	if (!getsockname(evconnlistener_get_fd(ls->lis), (struct sockaddr *)&ss, &sl))
		ls->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							  : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(what, sizeof(what), "peer listener on port %u", ls->port);
	if (wbd_lispause_init(&ls->pause, ls->base, ls->lis, what)) {
		evconnlistener_free(ls->lis);
		free(ls);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(ls->lis, ls_error_cb);
	ls->enable_msg.fn = io_enable;
	post_io(ls, &ls->enable_msg);
	wbd_info("peer listener on %s:%u (%s%s)", host ? host : "*", ls->port,
		 tls ? "TLS 1.3" : "plain TCP", ls->loop ? ", io loop 0" : "");
	*out = ls;
	return 0;
}

uint16_t wbd_peerlisten_port(const struct wbd_peerlisten *ls)
{
	return ls->port;
}

static void eng_freed(struct wbd_ioloop_msg *m)
{
	free((char *)m - offsetof(struct wbd_peerlisten, freed_msg));
}

/* io loop: close the socket and what waits for its hello; the engine
 * frees the struct after every lookup this loop posted before */
static void io_close(struct wbd_ioloop_msg *m)
{
	struct wbd_peerlisten *ls =
	    (struct wbd_peerlisten *)((char *)m - offsetof(struct wbd_peerlisten, close_msg));

	while (ls->pending)
		pend_free(ls->pending, true);
	wbd_lispause_fini(&ls->pause);
	evconnlistener_free(ls->lis);
	ls->lis = NULL;
	ls->freed_msg.fn = eng_freed;
	post_eng(ls, &ls->freed_msg);
}

void wbd_peerlisten_free(struct wbd_peerlisten *ls)
{
	if (!ls)
		return;
	ls->closing = true;
	ls->close_msg.fn = io_close;
	post_io(ls, &ls->close_msg);
}
