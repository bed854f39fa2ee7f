// SPDX-License-Identifier: GPL-2.0-only
/*
 * peerlink.c - the core of a replication link (see peerlink_int.h): the
 * connection life cycle (connect, TLS, hello, up, drop, backoff), the frame
 * reader with its caps, the send queue, keepalive, and the adoption of a
 * connection the listener (peerlisten.c) accepted. It runs on one io loop:
 * TLS encryption and decryption, every read and write of the socket happen
 * here. What the replication glue must decide (this node's hello, whether
 * the peer's hello is acceptable) and what it must see (frames, states)
 * goes to the engine loop through the handle (peerlink_eng.c) as messages.
 * Owns each link's bufferevent, timer, hello copies and the receive buffer
 * of the frame being read; every bit of it lives on the core's event_base.
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
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf/wbconf.h"
#include "daemon/peerlink.h"
#include "daemon/peerlink_int.h"
#include "daemon/tls.h"
#include "daemon/wbd_log.h"
#include "engine/clock.h"
#include "engine/io.h"
#include "engine/pagebuf.h"
#include "engine/wbengine.h"

#define PL_LINGER_MS 1000	  /* flush an error frame before closing */
#define PL_TCP_READ  (256 * 1024) /* plain TCP: bytes per read(2) at most */
#define PL_DONE_US   1000	  /* a payload release waits this long for company */

enum { RX_HDR, RX_MSG, RX_DATA };
enum { W_NONE, W_HELLO, W_CHECK }; /* waiting for the engine */

struct plc {
	struct wbd_peerlink *h;
	struct event_base *base;
	struct wbd_peerlink_cfg cfg; /* strings point to the handle's copies */
	const char *resource, *peer;
	char *host; /* the core's own copy (plc_readdress replaces it) */
	enum wbd_pl_state st;
	struct bufferevent *bev;
	struct event *tm;
	char addr[80];
	uint32_t backoff_ms;
	uint64_t ping_out_ms, cookie; /* unanswered ping: when sent, its cookie */
	uint64_t conn;		      /* connection number: one per bufferevent */
	int wait;		      /* W_*: a request to the engine is out */
	struct wbp_limits lim;
	struct wbp_msg mine;	/* our hello of the current connection */
	struct wbp_msg adopted; /* passive: the peer's hello, until ours is built */
	uint8_t *hello_out;	/* passive: our packed hello, sent on accepting */
	size_t hello_out_len;
	int rx_stage;
	struct wbp_hdr rxh;
	struct wbp_msg rxm;
	uint8_t *rx_data;	   /* the frame being read (wb_io_alloc) */
	struct wb_page **rx_pages; /* or: its record payload, in cfg.pagebuf */
	uint32_t rx_npages;
	uint32_t rx_got;
	size_t rx_cap;			     /* rxq cap (wbd_pl_rx_cap) */
	struct pl_tx *done_head, *done_tail; /* releases not posted yet */
	struct event *done_tm;		     /* posts them after PL_DONE_US */
	struct event *flush_ev;		     /* TLS up: flushes the write buffer (pl_flush_cb) */
	bool flush_wait;		     /* flush_ev waits for the socket to be writable */
	bool paused, rx_full, lingering;
	int linger_err; /* reported when the lingering connection closes */
	int busy;
	bool free_pending;
};

static void pl_read_cb(struct bufferevent *bev, void *arg);
static void pl_write_cb(struct bufferevent *bev, void *arg);
static void pl_event_cb(struct bufferevent *bev, short what, void *arg);
static void pl_dropf(struct plc *l, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pl_real_free(struct plc *l);

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

size_t wbd_pl_rx_cap(const struct wbp_limits *lim)
{
	return WBP_FRAME_MAX(lim);
}

/* Callers of handlers that may free bracket them so a free waits. */
static void pl_hold(struct plc *l)
{
	l->busy++;
}

static void pl_release(struct plc *l)
{
	if (--l->busy == 0 && l->free_pending)
		pl_real_free(l);
}

/*
 * Payload releases (the record reference is put on the engine loop) are
 * not worth a wake-up of their own: at QD1 the engine loop sleeps when a
 * record's bytes have left, and the peer's ack follows within a round
 * trip. So they wait here, up to PL_DONE_US, and go with the next message
 * for the engine loop (a frame, a state) or when the timer fires.
 */
static void pl_done_flush(struct plc *l)
{
	struct pl_tx *tx = l->done_head, *next;

	if (!tx)
		return;
	/* detached first: without io loops a release runs at once, and what
	 * it sends may queue a new one */
	l->done_head = l->done_tail = NULL;
	evtimer_del(l->done_tm);
	for (; tx; tx = next) {
		next = (struct pl_tx *)tx->m.next;
		plh_tx_done(tx);
	}
}

static void pl_done_cb(evutil_socket_t fd, short what, void *arg)
{
	pl_done_flush(arg);
}

static void pl_release_tx(struct plc *l, struct pl_tx *tx)
{
	static const struct timeval tv = {.tv_usec = PL_DONE_US};

	free(tx->buf);
	tx->buf = NULL;
	if (!tx->data.len) {
		plh_tx_done(tx); /* frees it here: nothing to release */
		return;
	}
	tx->m.next = NULL; /* the list's link until it is posted */
	if (l->done_tail)
		l->done_tail->m.next = &tx->m;
	else
		l->done_head = tx;
	l->done_tail = tx;
	if (l->done_head == tx)
		evtimer_add(l->done_tm, &tv);
}

/* A state for the engine (UP is decided there, with the hello check). */
static void pl_set_state(struct plc *l, enum wbd_pl_state st, int err)
{
	l->st = st;
	pl_done_flush(l);
	plh_state(l->h, l->conn, st, err);
}

/*
 * The send cap is counted in h->txq: the handle adds a frame's bytes when
 * it queues it, the core adds its own control frames, and the output
 * buffer's callback takes off what left (SSL_write or write(2) consumed
 * it). Crossing half the cap with a blocked producer posts writable.
 */
static void pl_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct plc *l = arg;
	struct wbd_peerlink *h = l->h;
	size_t q;

	if (!info->n_deleted)
		return;
	/* SSL_write took bytes into the write buffer: flush once this pass
	 * of the loop is done (pl_flush_cb), unless a flush waits already */
	if (l->flush_ev && !l->flush_wait)
		event_active(l->flush_ev, EV_WRITE, 1);
	q = atomic_fetch_sub(&h->txq, info->n_deleted) - info->n_deleted;
	if (q <= atomic_load(&h->sndq_cap) / 2 && atomic_load(&h->want_writable) &&
	    atomic_exchange(&h->want_writable, 0))
		plh_space(h);
}

/* Write bytes of the core's own (hello, ping, pong, error). */
static int pl_write(struct plc *l, const void *buf, size_t len)
{
	atomic_fetch_add(&l->h->txq, len);
	if (!bufferevent_write(l->bev, buf, len))
		return 0;
	atomic_fetch_sub(&l->h->txq, len);
	return -ENOMEM;
}

/* The pages of a record payload being read go back to the RAM buffer. */
static void pl_rx_pages_drop(struct plc *l)
{
	if (l->rx_pages)
		wb_pagebuf_release(l->cfg.pagebuf, l->rx_pages, l->rx_npages);
	free(l->rx_pages);
	l->rx_pages = NULL;
	l->rx_npages = 0;
}

/*
 * A record's payload goes straight into pages of the engine's RAM buffer
 * (cfg.pagebuf), so that the engine loop takes the record without a copy
 * (engine ABI 10, docs/replication.md "Receiving records"). true: reserved;
 * false: none free now (the reservation asked the engine to evict) or no
 * buffer: the payload goes to a buffer of its own, as before, and the
 * engine copies it.
 */
static bool pl_rx_pages_get(struct plc *l)
{
	uint32_t n = l->rxh.data_len / WB_PAGE_SIZE;

	if (!l->cfg.pagebuf || l->rxh.type != WBP_T_RECORD || l->rxh.data_len % WB_PAGE_SIZE)
		return false;
	l->rx_pages = malloc(n * sizeof(*l->rx_pages));
	if (!l->rx_pages)
		return false;
	if (wb_pagebuf_reserve(l->cfg.pagebuf, n, l->rx_pages)) {
		free(l->rx_pages);
		l->rx_pages = NULL;
		return false;
	}
	l->rx_npages = n;
	return true;
}

/* Where the next payload bytes of the frame being read go: *len bytes
 * at the address returned (pages side by side in the RAM buffer make one
 * run), in its pages or in rx_data. */
static uint8_t *pl_rx_dst(struct plc *l, size_t *len)
{
	uint32_t left = l->rxh.data_len - l->rx_got, i, off;
	uint8_t *p;
	size_t n;

	if (!l->rx_pages) {
		*len = left;
		return l->rx_data + l->rx_got;
	}
	i = l->rx_got / WB_PAGE_SIZE;
	off = l->rx_got % WB_PAGE_SIZE;
	p = (uint8_t *)l->rx_pages[i]->data + off;
	n = WB_PAGE_SIZE - off;
	while (n < left && (uint8_t *)l->rx_pages[++i]->data == p + n)
		n += WB_PAGE_SIZE;
	*len = n;
	return p;
}

/* n more payload bytes are at pl_rx_dst(); each page they fill gets its
 * crc32c now, while it is in cache. */
static void pl_rx_got(struct plc *l, uint32_t n)
{
	uint32_t i = l->rx_got / WB_PAGE_SIZE;

	l->rx_got += n;
	if (!l->rx_pages)
		return;
	for (; i < l->rx_got / WB_PAGE_SIZE; i++) {
		struct wb_page *pg = l->rx_pages[i];

		pg->crc = wb_crc32c(0, pg->data, WB_PAGE_SIZE);
		pg->crc_ok = 1;
	}
}

/* Take what the input holds of the payload. */
static void pl_rx_fill(struct plc *l, struct evbuffer *in)
{
	while (l->rx_got < l->rxh.data_len) {
		size_t len;
		uint8_t *p = pl_rx_dst(l, &len);
		int n = evbuffer_remove(in, p, len);

		if (n <= 0)
			return;
		pl_rx_got(l, (uint32_t)n);
	}
}

/*
 * The rest of the payload straight from the SSL into its pages or buffer
 * (docs/benchmarks.md, "Payloads decrypted in place"): bufferevent_openssl
 * would decrypt it into the input evbuffer for pl_rx_fill() to copy out
 * again. Only once the input is empty (the caller took all of it), so
 * the bytes stay in order; what the SSL cannot give now comes through the
 * bufferevent as before. 0, or -1 when the link was dropped.
 */
static int pl_rx_direct(struct plc *l, struct bufferevent *bev)
{
	SSL *ssl = l->cfg.tls ? bufferevent_openssl_get_ssl(bev) : NULL;
	char why[512];

	if (!ssl || l->st != WBD_PL_UP || evbuffer_get_length(bufferevent_get_input(bev)))
		return 0;
	while (l->rx_got < l->rxh.data_len) {
		size_t len;
		uint8_t *p = pl_rx_dst(l, &len);
		long n = wbd_tls_read_into(ssl, p, len, why, sizeof(why));

		if (n == 0)
			return 0;
		if (n < 0) {
			pl_dropf(l, (int)n, "connection lost: %s", why);
			return -1;
		}
		pl_rx_got(l, (uint32_t)n);
	}
	return 0;
}

/* Every extent's data against its crc, from the pages' crcs: a record
 * whose data is corrupt is refused here, before the engine sees it (the
 * engine checks again from the same page crcs: four table lookups a
 * block). 0 or -EBADMSG with why. */
static int pl_rx_pages_check(struct plc *l, char *why, size_t len)
{
	const Wbrep__RecordHeader *h = l->rxm.rec;
	uint32_t b = 0;

	for (size_t i = 0; i < h->n_extents; i++) {
		uint32_t crc = 0;

		for (uint32_t k = 0; k < h->extents[i]->nblocks; k++, b++)
			crc = wb_crc32c_combine(crc, l->rx_pages[b]->crc, WB_PAGE_SIZE);
		if (crc != h->extents[i]->crc) {
			snprintf(why, len, "record %llu refused: extent %zu: data crc mismatch",
				 (unsigned long long)h->seq, i);
			return -EBADMSG;
		}
	}
	return 0;
}

/* Close the connection and reset per-connection state; no callback. */
static void pl_close(struct plc *l)
{
	if (l->flush_ev) {
		event_free(l->flush_ev);
		l->flush_ev = NULL;
		l->flush_wait = false;
	}
	if (l->bev) {
		struct evbuffer *out = bufferevent_get_output(l->bev);

		evbuffer_remove_cb(out, pl_out_cb, l);
		atomic_fetch_sub(&l->h->txq, evbuffer_get_length(out));
		/* releases every queued payload here (pl_tx_cleanup): the
		 * bufferevent frees its buffers later, from the loop, when
		 * this core may be gone (and with it the release list) */
		evbuffer_unfreeze(out, 1); /* a socket bufferevent's is frozen */
		evbuffer_drain(out, evbuffer_get_length(out));
		bufferevent_free(l->bev);
	}
	pl_done_flush(l); /* before a free's plh_freed */
	l->bev = NULL;
	evtimer_del(l->tm);
	wbp_msg_free(&l->mine);
	wbp_msg_free(&l->adopted);
	wbp_msg_free(&l->rxm);
	free(l->hello_out);
	l->hello_out = NULL;
	wb_io_free(l->rx_data);
	l->rx_data = NULL;
	pl_rx_pages_drop(l);
	l->rx_stage = RX_HDR;
	l->wait = W_NONE;
	wbp_limits_init(&l->lim);
	l->lingering = l->rx_full = false;
}

/* After a close: an active link waits and reconnects, a passive one waits
 * for the peer. */
static void pl_after_close(struct plc *l, int err)
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

static void pl_drop(struct plc *l, int err, const char *why)
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

/* conn 0: whatever connection there is; otherwise only that one */
void plc_drop(struct plc *l, uint64_t conn, int err, const char *why, bool redo)
{
	if (conn && conn != l->conn)
		return;
	if (!l->bev && l->st != WBD_PL_CONNECTING)
		return;
	if (redo && l->host)
		l->backoff_ms = 0; /* deliberate: reconnect at once */
	pl_drop(l, err, why);
}

static void pl_dropf(struct plc *l, int err, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pl_drop(l, err, why);
}

/*
 * TLS links write through a buffer once up (wbd_tls_write_buffered): the
 * records SSL_write sealed in one pass of the loop leave in one write(2)
 * here, made active by pl_out_cb, or when the socket is writable again
 * after a flush that did not finish.
 */
static void pl_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct plc *l = arg;
	int rc;

	l->flush_wait = false;
	if (!l->bev)
		return;
	rc = wbd_tls_flush(bufferevent_openssl_get_ssl(l->bev));
	if (!rc) {
		l->flush_wait = true;
		event_add(l->flush_ev, NULL);
	} else if (rc < 0 && !l->lingering) {
		pl_hold(l);
		pl_dropf(l, -EIO, "cannot write to the peer: %s", strerror(errno));
		pl_release(l);
	}
}

/* Control frames (hello, ping, pong, error) bypass the queue bound. */
static int pl_send_ctl(struct plc *l, unsigned type, const ProtobufCMessage *m,
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
	rc = pl_write(l, buf, len);
	free(buf);
	return rc;
}

/* Refuse the link: tell the peer why, log it, close once flushed. */
static void pl_refuse(struct plc *l, int err, const char *why)
{
	Wbrep__PeerError e = WBREP__PEER_ERROR__INIT;
	char text[WBP_TEXT_MAX + 1];
	size_t i;

	wbd_warn("peer %s (resource %s, %s): refused: %s", l->peer, l->resource, l->addr, why);
	if (err == -EAGAIN) /* resolved, a new hello follows: try again soon */
		l->backoff_ms = l->cfg.backoff_min_ms;
	for (i = 0; why[i] && i < WBP_TEXT_MAX; i++)
		text[i] = why[i] >= 0x20 && why[i] < 0x7f ? why[i] : '?';
	text[i] = 0;
	e.code = err < 0 && err > -4096 ? -err : EPROTO;
	e.text = text;
	if (pl_send_ctl(l, WBP_T_ERROR, &e.base, &l->lim)) {
		pl_drop(l, err, "could not send the error frame");
		return;
	}
	l->lingering = true;
	bufferevent_disable(l->bev, EV_READ);
	bufferevent_setwatermark(l->bev, EV_WRITE, 0, 0);
	evtimer_del(l->tm);
	arm(l->tm, PL_LINGER_MS);
	l->linger_err = err;
}

/* Ask the engine for this node's hello (plc_hello answers). */
static void pl_want_hello(struct plc *l)
{
	l->wait = W_HELLO;
	plh_need_hello(l->h, l->conn);
}

static void pl_on_hello(struct plc *l, struct wbp_msg *m);

/* This node's hello (packed by the handle): decoded into l->mine, then
 * sent now (active side) or kept until the peer's hello is accepted
 * (passive side, so a refused peer never sees a hello and never counts
 * the link as up). */
void plc_hello(struct plc *l, uint64_t conn, uint8_t *buf, size_t len, int rc)
{
	struct wbp_limits pre;
	const char *why = NULL;

	if (conn != l->conn || !l->bev || l->wait != W_HELLO || l->lingering) {
		free(buf);
		return;
	}
	l->wait = W_NONE;
	pl_hold(l);
	wbp_limits_init(&pre);
	if (!rc) {
		struct wbp_hdr hh = {.type = WBP_T_HELLO,
				     .msg_len = (uint32_t)(len - WBP_HDR_SIZE)};

		rc = wbp_msg_decode(&hh, buf + WBP_HDR_SIZE, &pre, &l->mine, &why);
		if (!rc && !l->host) {
			l->hello_out = buf;
			l->hello_out_len = len;
			buf = NULL;
		} else if (!rc && pl_write(l, buf, len)) {
			rc = -ENOMEM, why = "out of memory";
		}
	}
	free(buf);
	if (rc) {
		pl_dropf(l, rc, "this node's hello is invalid: %s", why ? why : wbp_strerror(rc));
		goto out;
	}
	l->st = WBD_PL_HELLO; /* no state message: an internal step */
	if (l->adopted.base) {
		struct wbp_msg m = l->adopted;

		l->adopted.base = NULL;
		pl_on_hello(l, &m);
		wbp_msg_free(&m);
	}
	if (l->bev && !l->wait && evbuffer_get_length(bufferevent_get_input(l->bev)))
		pl_read_cb(l->bev, l);
out:
	pl_release(l);
}

/*
 * Records and acks are latency-bound (protocol C: a write's reply waits for
 * its record to reach the peer and the DURABLE ack to come back). With
 * Nagle on, a frame written while an earlier one is unacknowledged waits
 * for the peer's delayed ACK (up to 40 ms on Linux): 4K QD1 writes took
 * ~90 ms each on loopback (docs/benchmarks.md, section repl). Frames are
 * already coalesced by the bufferevent, so Nagle buys nothing here.
 */
static void pl_nodelay(struct plc *l)
{
	evutil_socket_t fd = bufferevent_getfd(l->bev);
	int one = 1;

	if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		wbd_warn("peer %s (resource %s, %s): TCP_NODELAY: %s", l->peer, l->resource,
			 l->addr, strerror(errno));
}

/*
 * Many TLS records per read(2) once the link is up (docs/benchmarks.md,
 * "TLS receive"): the SSL reads the socket through a big buffer
 * (wbd_tls_read_buffered) and pl_kick() makes libevent decrypt what it
 * holds. Not before: a record buffered during the handshake or the hello
 * would wait there for a socket event that the peer, waiting for our
 * answer, never causes. Plain TCP: reads of up to PL_TCP_READ instead of
 * libevent's 16 KiB.
 */
static void pl_read_ahead(struct plc *l)
{
	SSL *ssl = l->cfg.tls ? bufferevent_openssl_get_ssl(l->bev) : NULL;
	evutil_socket_t fd = bufferevent_getfd(l->bev);

	if (!l->cfg.tls) {
		bufferevent_set_max_single_read(l->bev, PL_TCP_READ);
		return;
	}
	if (wbd_tls_read_buffered(ssl, fd))
		wbd_warn("peer %s (resource %s, %s): no memory for a read buffer: one read "
			 "per TLS record",
			 l->peer, l->resource, l->addr);
	/* and many records per write(2): pl_flush_cb */
	l->flush_ev = event_new(l->base, fd, EV_WRITE, pl_flush_cb, l);
	if (!l->flush_ev || wbd_tls_write_buffered(ssl, fd)) {
		if (l->flush_ev)
			event_free(l->flush_ev);
		l->flush_ev = NULL;
		wbd_warn("peer %s (resource %s, %s): no memory for a write buffer: one "
			 "write per TLS record",
			 l->peer, l->resource, l->addr);
	}
}

/*
 * bufferevent_openssl (libevent 2.1) decrypts until SSL_pending() is 0,
 * i.e. to the end of one record, and then waits for the socket to be
 * readable; the records read ahead are in the buffer below the SSL, not in
 * the socket, so that event may never come. After every read pass that
 * left bytes there, the link's read event is made active again: libevent
 * runs it in the same pass of its loop (no epoll_wait between) and it
 * decrypts the next record. A partial record left there costs one read(2)
 * that finds nothing more; then the socket event takes over again.
 */
static void pl_kick(struct plc *l, struct bufferevent *bev)
{
	if (!l->cfg.tls || l->bev != bev || l->st != WBD_PL_UP || l->paused || l->rx_full ||
	    l->lingering || l->free_pending)
		return;
	if (wbd_tls_read_pending(bufferevent_openssl_get_ssl(bev)))
		event_active(&bev->ev_read, EV_READ, 1);
}

/* The peer's hello: the link's own checks here, the glue's on the engine
 * loop (plh_check; plc_checked answers). */
static void pl_on_hello(struct plc *l, struct wbp_msg *m)
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
	if (rc) {
		wbp_limits_init(&l->lim);
		pl_refuse(l, rc, w ? w : "hello refused");
		return;
	}
	l->wait = W_CHECK;
	plh_check(l->h, l->conn, m, &l->lim);
}

/* A TLS connection came up: when the peer's certificate expires, for the
 * status; a warning when that is near (its node must renew it: every
 * connection after the expiry is refused). */
static void pl_peer_cert(struct plc *l)
{
	int64_t na = wbd_tls_peer_not_after(bufferevent_openssl_get_ssl(l->bev));
	int64_t left = na - (int64_t)time(NULL);

	atomic_store(&l->h->peer_not_after, na);
	if (na && left < WBCONF_TLS_WARN_DAYS * 86400)
		wbd_warn("peer %s (resource %s): its certificate expires in %lld days: renew it "
			 "on %s (same paths) and wbctl reload there",
			 l->peer, l->resource, (long long)(left / 86400), l->peer);
}

/* Passive side: send the hello kept until the peer's was checked
 * (plc_hello), if any; false: it could not be queued (the link dropped). */
static bool pl_send_hello_out(struct plc *l)
{
	int rc;

	if (!l->hello_out)
		return true;
	rc = pl_write(l, l->hello_out, l->hello_out_len);
	free(l->hello_out);
	l->hello_out = NULL;
	if (rc)
		pl_dropf(l, -ENOMEM, "cannot queue the hello");
	return !rc;
}

/* The engine accepted (rc 0: it counts the link as up already) or
 * refused the peer's hello of conn. */
void plc_checked(struct plc *l, uint64_t conn, int rc, const char *why)
{
	if (conn != l->conn || !l->bev || l->wait != W_CHECK || l->lingering)
		return;
	l->wait = W_NONE;
	pl_hold(l);
	if (rc == WBD_PL_EAGAIN_HELLO) {
		/* the peer needs this hello to do its part (peerlink.h) */
		if (!pl_send_hello_out(l))
			goto out;
		rc = -EAGAIN;
	}
	if (rc) {
		wbp_limits_init(&l->lim);
		pl_refuse(l, rc, why && why[0] ? why : "hello refused");
		goto out;
	}
	if (!pl_send_hello_out(l))
		goto out;
	l->rx_cap = wbd_pl_rx_cap(&l->lim);
	bufferevent_setwatermark(l->bev, EV_READ, 0, WBP_FRAME_MAX(&l->lim));
	l->backoff_ms = l->cfg.backoff_min_ms;
	l->ping_out_ms = 0;
	evtimer_del(l->tm);
	arm(l->tm, l->cfg.ping_interval_ms);
	pl_nodelay(l);
	pl_read_ahead(l);
	wbd_info("peer %s (resource %s, %s): up, %s, max record %u bytes", l->peer, l->resource,
		 l->addr, l->cfg.tls ? "TLS 1.3" : "plain TCP", l->lim.max_data);
	if (l->cfg.tls)
		pl_peer_cert(l);
	l->st = WBD_PL_UP;
	if (evbuffer_get_length(bufferevent_get_input(l->bev)))
		pl_read_cb(l->bev, l);
out:
	pl_release(l);
}

/* An ack arrived: the positions for wbd_peerlink_ack_pos (wbp_ack_positions,
 * as daemon/repl.c cb_frame counts them), then the io_ack hook. */
static bool pl_ack_pos(struct plc *l, const Wbrep__Ack *a, struct wbd_pl_after *after)
{
	struct wbd_peerlink *h = l->h;
	uint64_t mem, wr, dur;

	if (!a)
		return false;
	wbp_ack_positions(a, &mem, &wr, &dur);
	if (dur > atomic_load_explicit(&h->ack_dur, memory_order_relaxed))
		atomic_store(&h->ack_dur, dur);
	if (wr > atomic_load_explicit(&h->ack_wr, memory_order_relaxed))
		atomic_store(&h->ack_wr, wr);
	if (mem > atomic_load_explicit(&h->ack_mem, memory_order_relaxed))
		atomic_store(&h->ack_mem, mem);
	return l->cfg.io_ack && l->cfg.io_ack(l->cfg.io_arg, after);
}

/*
 * A record whose data is in RAM-buffer pages, each extent's crc checked
 * (pl_rx_pages_check): it is in this node's memory, which is all that
 * IN_MEMORY says (protocol B's level, as DRBD's P_RECV_ACK is sent on
 * receipt), so the ack leaves from here at once instead of after the
 * engine loop applied the record and posted it back (two wake-ups on the
 * secondary's side of every write that waits for level B: docs/
 * benchmarks.md, "IN_MEMORY acked on the io loop"). Only when the engine
 * asked for it (wbd_peerlink_set_mem_acks: a secondary whose primary
 * wants IN_MEMORY acks); a record in a buffer of its own (no page was
 * free) is acked by the engine after its copy and check.
 */
static bool pl_mem_ack(struct plc *l, const struct wbp_msg *m, bool in_pages)
{
	Wbrep__Ack a = WBREP__ACK__INIT;

	if (m->type != WBP_T_RECORD || !in_pages || !atomic_load(&l->h->mem_acks))
		return false;
	a.seq = m->rec->seq;
	a.level = WBREP__ACK_LEVEL__ACK_IN_MEMORY;
	return !pl_send_ctl(l, WBP_T_ACK, &a.base, &l->lim);
}

/* One complete frame (message + data, or its record payload in
 * l->rx_pages) arrived; m, data and the pages are taken. */
static void pl_deliver(struct plc *l, struct wbp_msg *m, void *data, size_t cost)
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
		if (m->error->code == EAGAIN) /* as in pl_refuse */
			l->backoff_ms = l->cfg.backoff_min_ms;
		plh_refused(l->h, m->error->code, m->error->text);
		pl_dropf(l, -ECONNREFUSED, "peer closed the link: %s (%s)",
			 m->error->text ? m->error->text : "no text", strerror(m->error->code));
		break;
	default:
		if (l->st != WBD_PL_UP) {
			pl_refuse(l, -EPROTO, "a frame before the hello exchange ended");
			break;
		}
		{
			struct pl_rx *rx = calloc(1, sizeof(*rx));
			struct wbd_ioloop *lp = l->h->loop;
			struct wbd_pl_after after;
			bool fast;

			if (!rx) {
				pl_dropf(l, -ENOMEM, "no memory for a received frame");
				break;
			}
			rx->conn = l->conn;
			rx->msg = *m;
			m->base = NULL;
			rx->data = data;
			data = NULL;
			rx->pages = l->rx_pages;
			rx->npages = l->rx_npages;
			l->rx_pages = NULL;
			l->rx_npages = 0;
			rx->cost = cost;
			rx->mem_acked = pl_mem_ack(l, &rx->msg, rx->pages != NULL);
			atomic_fetch_add(&l->h->rxq, cost);
			/* one wake-up of the engine for the frame (an ack a
			 * reply waits for) and the releases riding with it;
			 * none when the reply went from here (pl_ack_pos) */
			if (lp)
				wbd_ioloop_plug_engine(lp);
			fast =
			    rx->msg.type == WBP_T_ACK && lp && pl_ack_pos(l, rx->msg.ack, &after);
			plh_frame(l->h, rx);
			pl_done_flush(l);
			if (lp && fast)
				wbd_ioloop_unplug_engine_quiet(lp);
			else if (lp)
				wbd_ioloop_unplug_engine(lp);
			if (fast)
				after.fn(after.arg);
		}
	}
	wbp_msg_free(m);
	wb_io_free(data);
	pl_rx_pages_drop(l); /* not delivered */
}

/*
 * Receive backpressure: frames handed to the engine and not consumed yet
 * count in h->rxq; at the cap the core stops reading (want_rx) until the
 * handle consumed some (plc_resume_rx). The store of want_rx and the load
 * of rxq after it pair with the handle's decrement of rxq and its load of
 * want_rx (both seq_cst): one of the two sides sees the other.
 */
static bool pl_rx_room(struct plc *l)
{
	struct wbd_peerlink *h = l->h;

	if (l->rx_full)
		return false;
	if (atomic_load(&h->rxq) < l->rx_cap)
		return true;
	atomic_store(&h->want_rx, 1);
	if (atomic_load(&h->rxq) < l->rx_cap && atomic_exchange(&h->want_rx, 0))
		return true;
	l->rx_full = true; /* plc_resume_rx() comes */
	bufferevent_disable(l->bev, EV_READ);
	return false;
}

void plc_resume_rx(struct plc *l)
{
	if (!l->rx_full)
		return;
	l->rx_full = false;
	if (!l->bev || l->lingering || l->paused)
		return;
	bufferevent_enable(l->bev, EV_READ);
	pl_read_cb(l->bev, l);
}

static void pl_read_cb(struct bufferevent *bev, void *arg)
{
	struct plc *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *why = NULL;
	uint8_t hb[WBP_HDR_SIZE];
	int rc;

	pl_hold(l);
	while (l->bev == bev && !l->paused && !l->lingering && !l->free_pending && !l->wait) {
		size_t avail = evbuffer_get_length(in);

		if (l->rx_stage == RX_HDR) {
			if (avail < WBP_HDR_SIZE || (l->st == WBD_PL_UP && !pl_rx_room(l)))
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
			if (l->rxh.data_len && !pl_rx_pages_get(l)) {
				/* aligned: resync data is written to the backing
				 * device from it (O_DIRECT); from the glue's pool
				 * if it has one (a fresh 1 MiB buffer faulted in
				 * every page: 4 % of a resync target's CPU) */
				l->rx_data = l->cfg.ops->rx_buf
						 ? l->cfg.ops->rx_buf(l->rxh.type, l->rxh.data_len)
						 : wb_io_alloc(l->rxh.data_len);
				if (!l->rx_data) {
					pl_dropf(l, -ENOMEM, "no memory for a receive buffer");
					break;
				}
			}
		} else {
			struct wbp_msg m;
			void *data;

			if (l->rx_got < l->rxh.data_len) {
				pl_rx_fill(l, in);
				if (l->rx_got < l->rxh.data_len && pl_rx_direct(l, bev))
					break;
				if (l->rx_got < l->rxh.data_len)
					break;
			}
			if (l->rx_pages) {
				char bad[160];

				rc = pl_rx_pages_check(l, bad, sizeof(bad));
				if (rc) {
					pl_rx_pages_drop(l);
					pl_refuse(l, rc, bad);
					break;
				}
			}
			m = l->rxm;
			l->rxm.base = NULL;
			data = l->rx_data;
			l->rx_data = NULL;
			l->rx_stage = RX_HDR;
			pl_deliver(l, &m, data,
				   WBP_HDR_SIZE + (size_t)l->rxh.msg_len + l->rxh.data_len);
		}
	}
	pl_kick(l, bev);
	pl_release(l);
}

static void pl_write_cb(struct bufferevent *bev, void *arg)
{
	struct plc *l = arg;

	pl_hold(l);
	/* the error frame must have left the write buffer too (else the
	 * linger timer closes) */
	if (l->lingering && !evbuffer_get_length(bufferevent_get_output(bev)) &&
	    (!l->flush_ev || wbd_tls_flush(bufferevent_openssl_get_ssl(bev)) == 1)) {
		int err = l->linger_err;

		pl_close(l);
		pl_after_close(l, err);
	}
	pl_release(l);
}

static void pl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct plc *l = arg;
	unsigned long errs[8];
	size_t n = 0;
	char why[600];
	unsigned long e;
	int serr = EVUTIL_SOCKET_ERROR();

	pl_hold(l);
	if (what & BEV_EVENT_CONNECTED) {
		pl_want_hello(l);
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

static void pl_attach(struct plc *l, struct bufferevent *bev)
{
	l->bev = bev;
	l->conn++;
	/* the number first (wbd_peerlink_ack_pos) */
	atomic_store(&l->h->ack_conn, l->conn);
	atomic_store(&l->h->ack_mem, 0);
	atomic_store(&l->h->ack_dur, 0);
	atomic_store(&l->h->ack_wr, 0);
	bufferevent_setcb(bev, pl_read_cb, pl_write_cb, pl_event_cb, l);
	bufferevent_setwatermark(bev, EV_READ, 0, WBP_HDR_SIZE + WBP_MSG_MAX);
	evbuffer_add_cb(bufferevent_get_output(bev), pl_out_cb, l);
	if (l->cfg.tls)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_enable(bev, l->paused ? EV_WRITE : EV_READ | EV_WRITE);
}

static void pl_connect(struct plc *l)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	struct bufferevent *bev;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", l->cfg.port);
	snprintf(l->addr, sizeof(l->addr), "%s:%u", l->host, l->cfg.port);
	pl_set_state(l, WBD_PL_CONNECTING, 0);
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
	struct plc *l = arg;

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
		uint64_t now = wb_now_ms();

		if (l->paused || l->rx_full) /* this side is the slow one, not the peer */
			l->ping_out_ms = 0;
		if (l->ping_out_ms && now - l->ping_out_ms >= atomic_load(&l->h->ping_to_ms)) {
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

int plc_new(struct wbd_peerlink *h, struct event_base *base, struct plc **out)
{
	struct plc *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->h = h;
	l->base = base;
	l->cfg = h->cfg;
	l->resource = h->resource;
	l->peer = h->peer;
	l->host = h->host ? strdup(h->host) : NULL;
	if (h->host && !l->host) {
		free(l);
		return -ENOMEM;
	}
	l->cfg.host = l->host; /* the handle's may change (plc_readdress) */
	/* event_new only assigns: nothing is added to the base here */
	l->tm = evtimer_new(base, pl_timer_cb, l);
	l->done_tm = evtimer_new(base, pl_done_cb, l);
	if (!l->tm || !l->done_tm) {
		if (l->tm)
			event_free(l->tm);
		free(l->host);
		free(l);
		return -ENOMEM;
	}
	l->backoff_ms = l->cfg.backoff_min_ms;
	l->st = WBD_PL_IDLE;
	wbp_limits_init(&l->lim);
	*out = l;
	return 0;
}

void plc_start(struct plc *l)
{
	if (l->st == WBD_PL_BACKOFF && l->host && !l->bev) {
		/* wbctl connect on a link waiting to reconnect: now, not when
		 * a backoff grown up to backoff_max_ms ends */
		wbd_info("peer %s (resource %s): connecting now", l->peer, l->resource);
		l->backoff_ms = l->cfg.backoff_min_ms;
		arm(l->tm, 0);
		return;
	}
	if (l->bev || l->st == WBD_PL_CONNECTING || l->st == WBD_PL_BACKOFF)
		return;
	l->st = WBD_PL_IDLE;
	l->backoff_ms = l->cfg.backoff_min_ms;
	if (l->host) {
		pl_hold(l);
		pl_connect(l);
		pl_release(l);
	}
}

/* An active link's peer moved (docs/configuration.md, "Changing an
 * address"): the next connection goes to host:port (taken), at once; a
 * connection up or being made to the old address is dropped for it. */
void plc_readdress(struct plc *l, char *host, uint16_t port)
{
	char was[sizeof(l->addr)];

	snprintf(was, sizeof(was), "%s:%u", l->host ? l->host : "-", l->cfg.port);
	free(l->host);
	l->host = host;
	l->cfg.host = host;
	l->cfg.port = port;
	if (l->st == WBD_PL_STOPPED || l->st == WBD_PL_IDLE)
		return;	   /* a start connects to the new address */
	l->backoff_ms = 0; /* deliberate: reconnect at once */
	if (l->bev || l->st == WBD_PL_CONNECTING) {
		pl_hold(l);
		pl_dropf(l, -ECONNRESET, "its address changed from %s to %s:%u: reconnecting", was,
			 host, port);
		pl_release(l);
	} else if (l->st == WBD_PL_BACKOFF) {
		wbd_info(
		    "peer %s (resource %s): its address changed from %s to %s:%u: connecting now",
		    l->peer, l->resource, was, host, port);
		l->backoff_ms = l->cfg.backoff_min_ms;
		arm(l->tm, 0);
	}
}

void plc_stop(struct plc *l)
{
	pl_close(l);
	if (l->st != WBD_PL_STOPPED)
		pl_set_state(l, WBD_PL_STOPPED, 0);
}

static void pl_real_free(struct plc *l)
{
	struct wbd_peerlink *h = l->h;

	pl_close(l);
	if (l->tm)
		event_free(l->tm);
	event_free(l->done_tm);
	free(l->host);
	free(l);
	plh_freed(h); /* after every release this core posted */
}

void plc_free(struct plc *l)
{
	if (l->busy) {
		pl_close(l);
		l->free_pending = true;
		return;
	}
	pl_real_free(l);
}

/* The payload's bytes left: its release goes back to the engine loop. */
static void pl_tx_cleanup(const void *data, size_t len, void *cookie)
{
	struct pl_tx *tx = cookie;

	pl_release_tx(tx->h->core, tx);
}

/*
 * A segmented payload on a TLS link: copied into one contiguous chain and
 * released at once. bufferevent_openssl calls SSL_write once per buffer
 * chain, so 4 KiB blocks queued by reference went out as one 4 KiB TLS
 * record and one write(2) each, and cost the receiver three syscalls per
 * block (epoll, record header, record body); from one chain it writes full
 * 16 KiB records. Encryption reads every byte anyway, the copy is cheap
 * next to it, and both run here, on the link's io loop (docs/benchmarks.md,
 * section repl). 0 or -1 (nothing queued, nothing released).
 */
static int pl_add_copy(struct plc *l, struct evbuffer *out, struct pl_tx *tx)
{
	const struct wbd_payload *data = &tx->data;
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(out, (ev_ssize_t)data->len, &v, 1) != 1 || v.iov_len < data->len)
		return -1;
	for (uint32_t i = 0; i < data->nsegs; i++)
		memcpy((uint8_t *)v.iov_base + (size_t)i * data->seg_len, data->segs[i],
		       data->seg_len);
	v.iov_len = data->len;
	if (evbuffer_commit_space(out, &v, 1))
		return -1;
	pl_release_tx(l, tx);
	return 0;
}

/*
 * A frame queued on an idle connection is written in this pass of the
 * loop, not the next: the bufferevent only arms its write event and
 * writes once epoll_wait reported the socket writable, an epoll_wait per
 * frame on the latency path of every record and ack (docs/benchmarks.md,
 * "Late durable acks, writes without a wait"). The write callback runs
 * from the loop's active queue right after this message's batch, so
 * frames queued in the same batch still leave together; it disarms the
 * event itself once the output is empty. (libevent's epoll change list
 * would also save the arm and disarm, two epoll_ctl, but applies a
 * closed socket's disarm after the close: TSan reports that against the
 * thread that reuses the fd number.)
 */
static void pl_write_now(struct plc *l)
{
	event_active(&l->bev->ev_write, EV_WRITE, 1);
}

/* A frame from the handle (its bytes already counted in txq): queued on
 * the connection it was meant for, or dropped with its payload released. */
void plc_send(struct plc *l, struct pl_tx *tx)
{
	size_t dlen = tx->data.len, before;
	struct evbuffer *out;
	int rc;

	if (tx->conn != l->conn || l->st != WBD_PL_UP || !l->bev || l->lingering) {
		atomic_fetch_sub(&l->h->txq, tx->len + dlen);
		pl_release_tx(l, tx);
		return;
	}
	out = bufferevent_get_output(l->bev);
	before = evbuffer_get_length(out);
	rc = evbuffer_add(out, tx->buf, tx->len);
	free(tx->buf);
	tx->buf = NULL;
	if (!rc && !dlen) {
		plh_tx_done(tx);
	} else if (!rc && !tx->data.segs) {
		rc = evbuffer_add_reference(out, tx->data.data, dlen, pl_tx_cleanup, tx);
	} else if (!rc && l->cfg.tls) {
		rc = pl_add_copy(l, out, tx);
	} else if (!rc) {
		/* one release for the whole payload: chains leave (or are
		 * freed) in order, so the last segment's cleanup comes last */
		for (uint32_t i = 0; i < tx->data.nsegs && !rc; i++)
			rc = evbuffer_add_reference(out, tx->data.segs[i], tx->data.seg_len,
						    i + 1 == tx->data.nsegs ? pl_tx_cleanup : NULL,
						    tx);
	}
	if (!rc && !before)
		pl_write_now(l);
	if (rc) {
		/* what did not get in leaves the count here, the rest with
		 * the connection; the payload is released after the drop */
		atomic_fetch_sub(&l->h->txq, tx->len + dlen - (evbuffer_get_length(out) - before));
		pl_dropf(l, -ENOMEM, "cannot queue a frame of %zu bytes", tx->len + dlen);
		plh_tx_done(tx);
	}
}

void plc_pause_rx(struct plc *l, bool pause)
{
	l->paused = pause;
	if (!l->bev || l->lingering)
		return;
	if (pause) {
		bufferevent_disable(l->bev, EV_READ);
	} else if (!l->rx_full) {
		bufferevent_enable(l->bev, EV_READ);
		pl_read_cb(l->bev, l); /* frames already buffered */
	}
}

bool plc_accepts(const struct plc *l)
{
	return !l->host && l->st != WBD_PL_STOPPED && !l->free_pending;
}

void plc_adopt(struct plc *l, struct bufferevent *bev, const char *addr, struct wbp_msg *hello)
{
	pl_hold(l);
	if (l->bev)
		pl_drop(l, -ECONNRESET, "the peer connected again; old connection dropped");
	if (!plc_accepts(l)) {
		bufferevent_free(bev);
		goto out;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	pl_attach(l, bev);
	arm(l->tm, l->cfg.connect_timeout_ms);
	l->st = WBD_PL_HELLO;
	l->adopted = *hello;
	hello->base = NULL;
	pl_want_hello(l);
out:
	pl_release(l);
}
