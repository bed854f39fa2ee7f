// SPDX-License-Identifier: GPL-2.0-only
/*
 * peerlink_eng.c - the engine loop's half of a replication link (see
 * peerlink.h for the interface, peerlink_int.h for the split): the handle
 * the replication glue holds. It packs outgoing frames (protobuf, no
 * crypto) and queues them to the link's core on its io loop, runs the
 * glue's callbacks (hello, hello check, state, frame, writable, refused)
 * from the messages the core posts, holds received frames while the glue
 * paused the link, and releases sent payloads on the engine loop. Owns the
 * handle, its configuration copies, the peer's hello and the backlog of
 * received frames; the core is owned by its io loop.
 *
 * Bounds: sends stop at sndq_max bytes (txq: queued here or in the core's
 * output buffer, -EAGAIN or a drop per the congestion policy); receiving
 * stops at wbd_pl_rx_cap() bytes handed over and not yet consumed (rxq:
 * in the queue, in the backlog or in the frame callback). Messages are
 * allocated per frame or per event, within these bounds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/peerlink.h"
#include "daemon/peerlink_int.h"
#include "daemon/wbd_log.h"
#include "engine/io.h"
#include "engine/pagebuf.h"

#define CONTAINER(p, type, field) ((type *)((char *)(p)-offsetof(type, field)))

void pl_post_io(struct wbd_peerlink *h, struct wbd_ioloop_msg *m)
{
	if (h->loop)
		wbd_ioloop_post(h->loop, m);
	else
		m->fn(m);
}

void pl_post_eng(struct wbd_peerlink *h, struct wbd_ioloop_msg *m)
{
	if (h->loop)
		wbd_ioloop_post_engine(h->loop, m);
	else
		m->fn(m);
}

/* Control messages are small and rare (per connection or per event): out
 * of memory for one is fatal rather than a link stuck in a state. */
static void *msg_alloc(size_t len)
{
	void *p = calloc(1, len);

	if (!p) {
		wbd_err("peerlink: out of memory for a %zu-byte control message", len);
		abort();
	}
	return p;
}

static void h_hold(struct wbd_peerlink *h)
{
	h->busy++;
}

static void h_real_free(struct wbd_peerlink *h);

static void h_release(struct wbd_peerlink *h)
{
	if (--h->busy == 0 && h->free_pending)
		h_real_free(h);
}

/* ---- io -> engine ---- */

struct m_state {
	struct wbd_ioloop_msg m;
	struct wbd_peerlink *h;
	uint64_t conn;
	enum wbd_pl_state st;
	int err;
};

static void seen_conn(struct wbd_peerlink *h, uint64_t conn)
{
	if (conn > h->io_conn)
		h->io_conn = conn;
}

static void eng_state(struct wbd_ioloop_msg *m)
{
	struct m_state *s = CONTAINER(m, struct m_state, m);
	struct wbd_peerlink *h = s->h;

	seen_conn(h, s->conn);
	h->up_conn = 0; /* the core reports every state but up */
	wbp_msg_free(&h->theirs);
	h->st = s->st;
	if (s->st == WBD_PL_STOPPED && !h->want_stopped)
		h->st = WBD_PL_IDLE; /* started again since: the core is idle */
	if (!h->freeing && h->cfg.ops->state) {
		h_hold(h);
		h->cfg.ops->state(h, s->st, s->err, h->cfg.arg);
		h_release(h);
	}
	free(s);
}

void plh_state(struct wbd_peerlink *h, uint64_t conn, enum wbd_pl_state st, int err)
{
	struct m_state *s = msg_alloc(sizeof(*s));

	s->m.fn = eng_state;
	s->h = h;
	s->conn = conn;
	s->st = st;
	s->err = err;
	pl_post_eng(h, &s->m);
}

/* this node's hello, packed for the core */
struct m_hello {
	struct wbd_ioloop_msg m;
	struct wbd_peerlink *h;
	uint64_t conn;
	uint8_t *buf;
	size_t len;
	int rc;
};

static void io_hello(struct wbd_ioloop_msg *m)
{
	struct m_hello *x = CONTAINER(m, struct m_hello, m);

	plc_hello(x->h->core, x->conn, x->buf, x->len, x->rc);
	free(x);
}

static void eng_need_hello(struct wbd_ioloop_msg *m)
{
	struct m_hello *x = CONTAINER(m, struct m_hello, m);
	struct wbd_peerlink *h = x->h;
	Wbrep__Hello hello = WBREP__HELLO__INIT;
	struct wbp_limits pre;
	const char *why = NULL;

	seen_conn(h, x->conn);
	if (h->freeing) {
		free(x);
		return;
	}
	wbp_limits_init(&pre);
	h_hold(h);
	h->cfg.ops->hello(h, &hello, h->cfg.arg);
	x->rc = wbp_pack(WBP_T_HELLO, &hello.base, 0, &pre, &x->buf, &x->len, &why);
	if (x->rc)
		wbd_err("peer %s (resource %s): this node's hello is invalid: %s", h->peer,
			h->resource, why ? why : wbp_strerror(x->rc));
	x->m.fn = io_hello;
	pl_post_io(h, &x->m);
	h_release(h);
}

void plh_need_hello(struct wbd_peerlink *h, uint64_t conn)
{
	struct m_hello *x = msg_alloc(sizeof(*x));

	x->m.fn = eng_need_hello;
	x->h = h;
	x->conn = conn;
	pl_post_eng(h, &x->m);
}

/* the peer's hello for the glue's check, then the verdict for the core */
struct m_check {
	struct wbd_ioloop_msg m;
	struct wbd_peerlink *h;
	uint64_t conn;
	struct wbp_msg hello;
	struct wbp_limits lim;
	int rc;
	char why[WBP_TEXT_MAX + 1];
};

static void io_checked(struct wbd_ioloop_msg *m)
{
	struct m_check *x = CONTAINER(m, struct m_check, m);

	plc_checked(x->h->core, x->conn, x->rc, x->why);
	wbp_msg_free(&x->hello);
	free(x);
}

/*
 * The glue accepts the link here, so the link is up for the engine from
 * this point: the verdict is posted before the state callback runs, so
 * whatever the glue sends from it reaches the core after the verdict
 * (one queue, in order). If the core lost the connection meanwhile, its
 * down state follows in the other queue.
 */
static void eng_check(struct wbd_ioloop_msg *m)
{
	struct m_check *x = CONTAINER(m, struct m_check, m);
	struct wbd_peerlink *h = x->h;
	uint64_t conn = x->conn;
	const char *why = NULL;

	seen_conn(h, x->conn);
	if (h->freeing || x->conn <= h->dead_conn) {
		/* the core drops this connection (a drop is on its way) */
		wbp_msg_free(&x->hello);
		free(x);
		return;
	}
	h_hold(h);
	x->rc = h->cfg.ops->hello_check
		    ? h->cfg.ops->hello_check(h, x->hello.hello, &x->lim, &why, h->cfg.arg)
		    : 0;
	if (x->rc) {
		snprintf(x->why, sizeof(x->why), "%s", why ? why : "hello refused");
	} else {
		wbp_msg_free(&h->theirs);
		h->theirs = x->hello;
		x->hello.base = NULL;
		h->lim = x->lim;
		h->up_conn = x->conn;
		h->st = WBD_PL_UP;
	}
	x->m.fn = io_checked;
	pl_post_io(h, &x->m); /* x is gone (at once without io loops) */
	if (h->up_conn == conn && h->st == WBD_PL_UP && h->cfg.ops->state)
		h->cfg.ops->state(h, WBD_PL_UP, 0, h->cfg.arg);
	h_release(h);
}

void plh_check(struct wbd_peerlink *h, uint64_t conn, struct wbp_msg *hello,
	       const struct wbp_limits *lim)
{
	struct m_check *x = msg_alloc(sizeof(*x));

	x->m.fn = eng_check;
	x->h = h;
	x->conn = conn;
	x->hello = *hello;
	hello->base = NULL;
	x->lim = *lim;
	pl_post_eng(h, &x->m);
}

/* ---- received frames ---- */

static void resume_io(struct wbd_ioloop_msg *m)
{
	struct wbd_peerlink *h = CONTAINER(m, struct wbd_peerlink, resume_msg);

	atomic_store(&h->rs_posted, 0);
	plc_resume_rx(h->core);
}

/* rx's bytes are consumed: the core may read again (see pl_rx_room) */
static void rx_consumed(struct wbd_peerlink *h, struct pl_rx *rx)
{
	atomic_fetch_sub(&h->rxq, rx->cost);
	rx->cost = 0;
	if (atomic_load(&h->want_rx) && atomic_exchange(&h->want_rx, 0) &&
	    !atomic_exchange(&h->rs_posted, 1)) {
		h->resume_msg.fn = resume_io;
		pl_post_io(h, &h->resume_msg);
	}
}

static void rx_free(struct wbd_peerlink *h, struct pl_rx *rx)
{
	if (rx->cost)
		rx_consumed(h, rx);
	wbp_msg_free(&rx->msg);
	wb_io_free(rx->data);
	if (rx->pages)
		wb_pagebuf_release(h->cfg.pagebuf, rx->pages, rx->npages);
	free(rx->pages);
	free(rx);
}

static void deliver(struct wbd_peerlink *h, struct pl_rx *rx)
{
	rx_consumed(h, rx);
	h->cur = rx;
	h->cfg.ops->frame(h, &rx->msg, rx->msg.data_len ? rx->data : NULL, h->cfg.arg);
	h->cur = NULL;
	rx_free(h, rx);
}

/* the backlog, in order, until the glue pauses again */
static void backlog_run(struct wbd_peerlink *h)
{
	struct pl_rx *rx;

	if (h->bl_running)
		return;
	h->bl_running = true;
	h_hold(h);
	while (!h->paused && (rx = h->bl_head)) {
		h->bl_head = rx->next;
		if (!h->bl_head)
			h->bl_tail = NULL;
		if (h->freeing || rx->conn != h->up_conn)
			rx_free(h, rx);
		else
			deliver(h, rx);
	}
	h->bl_running = false;
	h_release(h);
}

static void eng_frame(struct wbd_ioloop_msg *m)
{
	struct pl_rx *rx = CONTAINER(m, struct pl_rx, m);
	struct wbd_peerlink *h = rx->h;

	seen_conn(h, rx->conn);
	if (h->freeing || rx->conn != h->up_conn) {
		rx_free(h, rx);
		return;
	}
	if (h->paused || h->bl_head) {
		rx->next = NULL;
		if (h->bl_tail)
			h->bl_tail->next = rx;
		else
			h->bl_head = rx;
		h->bl_tail = rx;
		return;
	}
	h_hold(h);
	deliver(h, rx);
	h_release(h);
}

void plh_frame(struct wbd_peerlink *h, struct pl_rx *rx)
{
	rx->h = h;
	rx->m.fn = eng_frame;
	pl_post_eng(h, &rx->m);
}

void *wbd_peerlink_take_data(struct wbd_peerlink *h)
{
	void *d;

	if (!h->cur)
		return NULL;
	d = h->cur->data;
	h->cur->data = NULL;
	return d;
}

bool wbd_peerlink_mem_acked(const struct wbd_peerlink *h)
{
	return h->cur && h->cur->mem_acked;
}

void wbd_peerlink_set_mem_acks(struct wbd_peerlink *h, bool on)
{
	atomic_store(&h->mem_acks, on);
}

struct wb_page **wbd_peerlink_take_pages(struct wbd_peerlink *h, uint32_t *n)
{
	struct wb_page **pg;

	*n = 0;
	if (!h->cur || !h->cur->pages)
		return NULL;
	pg = h->cur->pages;
	*n = h->cur->npages;
	h->cur->pages = NULL;
	h->cur->npages = 0;
	return pg;
}

struct m_refused {
	struct wbd_ioloop_msg m;
	struct wbd_peerlink *h;
	int code;
	char text[WBP_TEXT_MAX + 1];
	bool has_text;
};

static void eng_refused(struct wbd_ioloop_msg *m)
{
	struct m_refused *x = CONTAINER(m, struct m_refused, m);
	struct wbd_peerlink *h = x->h;

	if (!h->freeing && h->cfg.ops->refused) {
		h_hold(h);
		h->cfg.ops->refused(h, x->code, x->has_text ? x->text : NULL, h->cfg.arg);
		h_release(h);
	}
	free(x);
}

void plh_refused(struct wbd_peerlink *h, int code, const char *text)
{
	struct m_refused *x = msg_alloc(sizeof(*x));

	x->m.fn = eng_refused;
	x->h = h;
	x->code = code;
	x->has_text = text != NULL;
	if (text)
		snprintf(x->text, sizeof(x->text), "%s", text);
	pl_post_eng(h, &x->m);
}

/* ---- sent payloads, space ---- */

static void eng_tx_done(struct wbd_ioloop_msg *m)
{
	struct pl_tx *tx = CONTAINER(m, struct pl_tx, m);
	const struct wbd_payload *d = &tx->data;

	if (d->segs)
		d->put(d->segs[d->nsegs - 1], d->seg_len, d->cookie);
	else
		d->put(d->data, d->len, d->cookie);
	free(tx);
}

void plh_tx_done(struct pl_tx *tx)
{
	free(tx->buf);
	tx->buf = NULL;
	if (!tx->data.len) { /* nothing to release: no trip back */
		free(tx);
		return;
	}
	tx->m.fn = eng_tx_done;
	pl_post_eng(tx->h, &tx->m);
}

static void eng_space(struct wbd_ioloop_msg *m)
{
	struct wbd_peerlink *h = CONTAINER(m, struct wbd_peerlink, writable_msg);

	atomic_store(&h->wr_posted, 0);
	if (!h->freeing && h->cfg.ops->writable) {
		h_hold(h);
		h->cfg.ops->writable(h, h->cfg.arg);
		h_release(h);
	}
}

void plh_space(struct wbd_peerlink *h)
{
	/* one in flight: a glue blocked again meanwhile gets this one */
	if (atomic_exchange(&h->wr_posted, 1))
		return;
	h->writable_msg.fn = eng_space;
	pl_post_eng(h, &h->writable_msg);
}

static void eng_freed(struct wbd_ioloop_msg *m)
{
	struct wbd_peerlink *h = CONTAINER(m, struct wbd_peerlink, freed_msg);

	h->core = NULL;
	if (h->busy)
		h->free_pending = true;
	else
		h_real_free(h);
}

void plh_freed(struct wbd_peerlink *h)
{
	h->freed_msg.fn = eng_freed;
	pl_post_eng(h, &h->freed_msg);
}

/* ---- engine -> io: operations ---- */

enum { OP_START, OP_DROP, OP_STOP, OP_FREE, OP_PAUSE, OP_ADDR };

struct m_op {
	struct wbd_ioloop_msg m;
	struct wbd_peerlink *h;
	int op, err;
	uint64_t conn;
	bool flag; /* drop: redo; pause: pause */
	char why[256];
	char *host; /* addr: the new one (the core takes it) */
	uint16_t port;
};

static void io_op(struct wbd_ioloop_msg *m)
{
	struct m_op *x = CONTAINER(m, struct m_op, m);
	struct plc *c = x->h->core;

	switch (x->op) {
	case OP_START:
		plc_start(c);
		break;
	case OP_DROP:
		plc_drop(c, x->conn, x->err, x->why, x->flag);
		break;
	case OP_STOP:
		plc_stop(c);
		break;
	case OP_FREE:
		plc_free(c);
		break;
	case OP_PAUSE:
		plc_pause_rx(c, x->flag);
		break;
	case OP_ADDR:
		plc_readdress(c, x->host, x->port);
		break;
	}
	free(x);
}

/* op to the core; host (OP_ADDR: taken by the core) with port */
static void op_post_addr(struct wbd_peerlink *h, int op, int err, bool flag, const char *why,
			 char *host, uint16_t port)
{
	struct m_op *x = msg_alloc(sizeof(*x));

	x->m.fn = io_op;
	x->h = h;
	x->op = op;
	x->err = err;
	x->flag = flag;
	x->conn = h->up_conn;
	if (why)
		snprintf(x->why, sizeof(x->why), "%s", why);
	x->host = host;
	x->port = port;
	pl_post_io(h, &x->m);
}

static void op_post(struct wbd_peerlink *h, int op, int err, bool flag, const char *why)
{
	op_post_addr(h, op, err, flag, why, NULL, 0);
}

/* ---- the interface (peerlink.h), engine loop ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void h_real_free(struct wbd_peerlink *h)
{
	struct pl_rx *rx;

	while ((rx = h->bl_head)) {
		h->bl_head = rx->next;
		rx_free(h, rx);
	}
	wbp_msg_free(&h->theirs);
	if (h->cfg.pagebuf) /* after the core: it released every page it held */
		wb_pagebuf_unref(h->cfg.pagebuf);
	if (h->cfg.io_put) /* after the core: no io_ack call comes */
		h->cfg.io_put(h->cfg.io_arg);
	free(h->resource);
	free(h->peer);
	free(h->local);
	free(h->host);
	free(h);
}

int wbd_peerlink_new(struct event_base *base, const struct wbd_peerlink_cfg *cfg,
		     struct wbd_peerlink **out)
{
	struct wbd_peerlink *h;
	struct event_base *cb;
	int ret;

	*out = NULL;
	if (!cfg->resource || !cfg->peer || !cfg->ops || !cfg->ops->hello || !cfg->ops->frame ||
	    (cfg->host && !cfg->port)) {
		wbd_err("peerlink: resource, peer, hello and frame callbacks are required");
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->base = base;
	h->cfg = *cfg;
	if (h->cfg.pagebuf) /* h_real_free drops it */
		wb_pagebuf_ref(h->cfg.pagebuf);
	h->resource = strdup(cfg->resource);
	h->peer = strdup(cfg->peer);
	h->local = dup_or_null(cfg->local);
	h->host = dup_or_null(cfg->host);
	if (!h->resource || !h->peer || (cfg->local && !h->local) || (cfg->host && !h->host)) {
		h_real_free(h);
		return -ENOMEM;
	}
	h->cfg.resource = h->resource;
	h->cfg.peer = h->peer;
	h->cfg.local = h->local;
	h->cfg.host = h->host;
#define DEF(f, v)                                                                                  \
	do {                                                                                       \
		if (!h->cfg.f)                                                                     \
			h->cfg.f = (v);                                                            \
	} while (0)
	DEF(ping_interval_ms, 1000);
	DEF(ping_timeout_ms, 5000);
	DEF(connect_timeout_ms, 10000);
	DEF(backoff_min_ms, 100);
	DEF(backoff_max_ms, 30000);
	DEF(sndq_max, 8u << 20);
#undef DEF
	atomic_init(&h->sndq_cap, h->cfg.sndq_max);
	atomic_init(&h->ping_to_ms, h->cfg.ping_timeout_ms);
	/* active and passive links spread over the loops (the listener
	 * hands an accepted connection to its passive link's loop) */
	h->loop = cfg->loop && wbd_ioloop_count() ? cfg->loop : wbd_ioloop_pick();
	cb = h->loop ? wbd_ioloop_base(h->loop) : base;
	h->st = WBD_PL_IDLE;
	wbp_limits_init(&h->lim);
	ret = plc_new(h, cb, &h->core);
	if (ret) {
		h_real_free(h);
		return ret;
	}
	*out = h;
	return 0;
}

void wbd_peerlink_start(struct wbd_peerlink *h)
{
	/* as the core does (no state callback): a stopped passive link
	 * accepts connections again from now on (wbd_peerlink_accepts) */
	h->want_stopped = false;
	if (h->st == WBD_PL_STOPPED)
		h->st = WBD_PL_IDLE;
	op_post(h, OP_START, 0, false, NULL);
}

/* the link is down for the engine at once: no more frames, sends fail;
 * the state callback follows when the core closed the connection */
static void drop_here(struct wbd_peerlink *h)
{
	h->dead_conn = h->io_conn > h->up_conn ? h->io_conn : h->up_conn;
	h->up_conn = 0;
	atomic_store(&h->ack_dead, h->dead_conn); /* its acks count no more */
}

void wbd_peerlink_drop(struct wbd_peerlink *h, int err, const char *why)
{
	op_post(h, OP_DROP, err, false, why);
	drop_here(h);
}

void wbd_peerlink_redo(struct wbd_peerlink *h, const char *why)
{
	op_post(h, OP_DROP, -ECONNRESET, true, why);
	drop_here(h);
}

void wbd_peerlink_stop(struct wbd_peerlink *h)
{
	drop_here(h);
	h->want_stopped = true; /* accepts nothing from now on */
	op_post(h, OP_STOP, 0, false, NULL);
}

int wbd_peerlink_readdress(struct wbd_peerlink *h, const char *host, uint16_t port)
{
	char *mine, *core;

	if (!h->host || !host || !port)
		return 0; /* passive: the peer dials, from wherever it is */
	if (!strcmp(h->host, host) && h->cfg.port == port)
		return 0;
	mine = strdup(host);
	core = strdup(host);
	if (!mine || !core) {
		free(mine);
		free(core);
		return -ENOMEM;
	}
	free(h->host);
	h->host = mine;
	h->cfg.host = mine;
	h->cfg.port = port;
	op_post_addr(h, OP_ADDR, 0, false, NULL, core, port);
	return 1;
}

void wbd_peerlink_free(struct wbd_peerlink *h)
{
	static const struct wbd_peerlink_ops none;

	if (!h)
		return;
	h->cfg.ops = &none; /* no more callbacks */
	h->freeing = true;
	drop_here(h);
	op_post(h, OP_FREE, 0, false, NULL); /* the core posts freed_msg last */
}

static void io_send(struct wbd_ioloop_msg *m)
{
	struct pl_tx *tx = CONTAINER(m, struct pl_tx, m);

	plc_send(tx->h->core, tx);
}

static int send_post(struct wbd_peerlink *h, struct pl_tx *tx)
{
	tx->m.fn = io_send;
	pl_post_io(h, &tx->m);
	return 0;
}

int wbd_peerlink_send(struct wbd_peerlink *h, unsigned type, const ProtobufCMessage *msg,
		      const struct wbd_payload *data)
{
	size_t dlen = data ? data->len : 0, len, q;
	const char *why = NULL;
	struct pl_tx *tx;
	uint8_t *buf;
	int rc;

	if (!h->up_conn || h->freeing)
		return -ENOTCONN;
	if (dlen > UINT32_MAX ||
	    (data && data->segs && (!data->nsegs || (uint64_t)data->nsegs * data->seg_len != dlen)))
		return -EINVAL;
	rc = wbp_pack(type, msg, (uint32_t)dlen, &h->lim, &buf, &len, &why);
	if (rc) {
		wbd_err("peer %s (resource %s): not sending an invalid %s frame: %s", h->peer,
			h->resource, wbp_type_name(type), why ? why : wbp_strerror(rc));
		return rc;
	}
	/* the load of txq after the store of want_writable pairs with the
	 * core's decrement and its load of want_writable (pl_out_cb) */
	q = atomic_load(&h->txq);
	if (q && q + len + dlen > atomic_load(&h->sndq_cap)) {
		atomic_store(&h->want_writable, 1);
		q = atomic_load(&h->txq);
		if (q && q + len + dlen > atomic_load(&h->sndq_cap)) {
			free(buf);
			if (h->cfg.congestion == WBD_PL_CONG_BLOCK)
				return -EAGAIN;
			atomic_store(&h->want_writable, 0);
			wbd_peerlink_drop(h, -ENOBUFS,
					  "send queue full: congestion policy disconnect");
			return -ENOBUFS;
		}
		atomic_store(&h->want_writable, 0);
	}
	tx = calloc(1, sizeof(*tx));
	if (!tx) {
		free(buf);
		return -ENOMEM; /* the caller keeps the payload */
	}
	tx->h = h;
	tx->conn = h->up_conn;
	tx->buf = buf;
	tx->len = len;
	if (data)
		tx->data = *data;
	atomic_fetch_add(&h->txq, len + dlen);
	return send_post(h, tx);
}

void wbd_peerlink_pause_rx(struct wbd_peerlink *h, bool pause)
{
	if (h->paused == pause)
		return;
	h->paused = pause;
	op_post(h, OP_PAUSE, 0, pause, NULL);
	if (!pause)
		backlog_run(h); /* frames that arrived meanwhile, in order */
}

enum wbd_pl_state wbd_peerlink_state(const struct wbd_peerlink *h)
{
	return h->st;
}

int64_t wbd_peerlink_peer_cert_expiry(const struct wbd_peerlink *h)
{
	return atomic_load(&((struct wbd_peerlink *)h)->peer_not_after);
}

size_t wbd_peerlink_queued(const struct wbd_peerlink *h)
{
	return atomic_load(&h->txq);
}

void wbd_peerlink_set_limits(struct wbd_peerlink *h, size_t sndq_max, uint32_t ping_timeout_ms)
{
	if (sndq_max)
		atomic_store(&h->sndq_cap, sndq_max);
	if (ping_timeout_ms)
		atomic_store(&h->ping_to_ms, ping_timeout_ms);
}

size_t wbd_peerlink_sndq_max(const struct wbd_peerlink *h)
{
	return atomic_load(&h->sndq_cap);
}

size_t wbd_peerlink_rx_buffered(const struct wbd_peerlink *h)
{
	return atomic_load(&((struct wbd_peerlink *)h)->rxq);
}

const struct wbp_limits *wbd_peerlink_limits(const struct wbd_peerlink *h)
{
	return &h->lim;
}

const Wbrep__Hello *wbd_peerlink_peer_hello(const struct wbd_peerlink *h)
{
	return h->up_conn ? h->theirs.hello : NULL;
}

bool wbd_peerlink_accepts(const struct wbd_peerlink *h)
{
	return !h->host && !h->want_stopped && !h->freeing;
}

bool wbd_peerlink_ack_pos(const struct wbd_peerlink *h, uint64_t conn, uint64_t *mem, uint64_t *wr,
			  uint64_t *dur)
{
	/* the core stores the number of a new connection before it resets
	 * the positions: positions read before a number that still is conn
	 * are that connection's */
	*mem = atomic_load(&h->ack_mem);
	*wr = atomic_load(&h->ack_wr);
	*dur = atomic_load(&h->ack_dur);
	return conn && atomic_load(&h->ack_conn) == conn && conn > atomic_load(&h->ack_dead);
}

uint64_t wbd_peerlink_up_conn(const struct wbd_peerlink *h)
{
	return h->up_conn;
}

struct wbd_ioloop *wbd_peerlink_loop(const struct wbd_peerlink *h)
{
	return h->loop;
}
