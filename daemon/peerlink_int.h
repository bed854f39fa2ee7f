/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * peerlink_int.h - the two halves of a replication link and what joins
 * them (docs/daemon.md "Threads", docs/replication.md "Threads").
 *
 * - The handle (struct wbd_peerlink, peerlink_eng.c) is what the
 *   replication glue holds: it lives on the engine loop, runs every ops
 *   callback there and never touches a socket.
 * - The core (struct plc, peerlink.c) owns the connection: socket, TLS,
 *   hello exchange, frame reader, send queue, keepalive, reconnect. It
 *   lives on one io loop, round robin (a passive link's connections come
 *   from the listener on io loop 0, which hands socket and TLS session
 *   over to the link's loop: peerlisten.c). Without running io loops
 *   (unit tests, after wbd_ioloop_stop) it lives on the handle's base and
 *   every post below runs at once.
 *
 * Everything between the two crosses the io loop queues (ioloop.h) as a
 * message; the only shared memory is the atomics below and the immutable
 * configuration. Every message from the core carries its connection
 * number (conn, counted by the core per connection): the handle ignores
 * frames of a connection it no longer considers up, and the core ignores
 * what the handle sent for a connection that is gone.
 */
#ifndef WB_DAEMON_PEERLINK_INT_H
#define WB_DAEMON_PEERLINK_INT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "daemon/ioloop.h"
#include "daemon/peerlink.h"

struct bufferevent;
struct plc;

/* A frame the handle queued for the core (engine -> io), then, once its
 * payload left or was dropped, the payload's release (io -> engine: the
 * same message). */
struct pl_tx {
	struct wbd_ioloop_msg m;
	struct wbd_peerlink *h;
	uint64_t conn;
	uint8_t *buf; /* packed header + message (wbp_pack) */
	size_t len;
	struct wbd_payload data; /* data.len == 0: none */
};

/* A received frame (io -> engine); cost = bytes counted in rxq. */
struct pl_rx {
	struct wbd_ioloop_msg m;
	struct wbd_peerlink *h;
	uint64_t conn;
	struct wbp_msg msg;
	void *data;		/* wb_io_alloc()ed, msg.data_len bytes; NULL when 0 or in pages */
	struct wb_page **pages; /* or: msg.data_len / 4096 pages of cfg.pagebuf */
	uint32_t npages;
	size_t cost;
	bool mem_acked;	    /* a record the core acked IN_MEMORY (mem_acks) */
	struct pl_rx *next; /* handle: backlog while paused */
};

struct wbd_peerlink {
	struct event_base *base;     /* the engine loop */
	struct wbd_ioloop *loop;     /* the core's io loop; NULL: no io loops */
	struct wbd_peerlink_cfg cfg; /* strings: the copies below */
	char *resource, *peer, *local, *host;
	struct plc *core; /* owned by the io loop; freed there */

	/* engine loop only */
	enum wbd_pl_state st; /* as last passed to ops->state */
	uint64_t up_conn;     /* the connection frames flow on; 0 = none */
	uint64_t io_conn;     /* the newest connection the core told of */
	uint64_t dead_conn;   /* dropped here: checks up to it are stale */
	struct wbp_limits lim;
	struct wbp_msg theirs; /* the peer's hello of up_conn */
	bool paused, bl_running, freeing, free_pending;
	bool want_stopped; /* stop() called, start() not since */
	int busy;
	struct pl_rx *bl_head, *bl_tail, *cur;
	struct wbd_ioloop_msg freed_msg, writable_msg, resume_msg;

	/* shared, seq_cst unless noted */
	_Atomic size_t txq;	   /* bytes queued and not yet written (send cap) */
	_Atomic size_t rxq;	   /* bytes handed to the engine, not yet consumed */
	_Atomic int want_writable; /* engine: send blocked; io posts writable */
	_Atomic int wr_posted;	   /* writable_msg is in a queue */
	_Atomic int want_rx;	   /* io: stopped reading at the rxq cap */
	_Atomic int rs_posted;	   /* resume_msg is in a queue */
	/* cfg.sndq_max and cfg.ping_timeout_ms as in force: a reload changes
	 * them (wbd_peerlink_set_limits), both loops read them */
	_Atomic size_t sndq_cap;
	_Atomic uint32_t ping_to_ms;
	/* written by the core only: its connection number, then (reset to 0
	 * for each connection) the acked positions read from ack frames
	 * (wbd_peerlink_ack_pos reads the positions before the number) */
	_Atomic uint64_t ack_conn, ack_mem, ack_wr, ack_dur;
	/* written by the engine: connections up to it were dropped there */
	_Atomic uint64_t ack_dead;
	/* written by the core when a TLS connection comes up: when the
	 * certificate the peer presented expires (0: plain, none yet) */
	_Atomic int64_t peer_not_after;
	/* written by the engine (wbd_peerlink_set_mem_acks): the core acks
	 * each record IN_MEMORY once its data is in pages and checked */
	_Atomic int mem_acks;
};

/* receive hand-over cap: the core stops reading while rxq >= this */
size_t wbd_pl_rx_cap(const struct wbp_limits *lim);

/* ---- core (peerlink.c); plc_new on the engine thread (creates, adds
 * nothing to the base), everything else on the core's thread ---- */
int plc_new(struct wbd_peerlink *h, struct event_base *base, struct plc **out);
void plc_start(struct plc *c);
void plc_drop(struct plc *c, uint64_t conn, int err, const char *why, bool redo);
void plc_stop(struct plc *c);
void plc_readdress(struct plc *c, char *host, uint16_t port); /* host: taken */
void plc_free(struct plc *c); /* then posts freed_msg to the engine */
void plc_pause_rx(struct plc *c, bool pause);
void plc_resume_rx(struct plc *c); /* the handle consumed below the cap */
void plc_send(struct plc *c, struct pl_tx *tx);
/* the engine's hello for conn (buf: packed, taken) or rc < 0 */
void plc_hello(struct plc *c, uint64_t conn, uint8_t *buf, size_t len, int rc);
/* the engine's verdict on the peer's hello of conn */
void plc_checked(struct plc *c, uint64_t conn, int rc, const char *why);
bool plc_accepts(const struct plc *c);
/* The core takes bev (an accepted connection on its base whose hello,
 * already decoded, is *hello; taken) and answers with its own hello; a
 * connection it had is dropped first. */
void plc_adopt(struct plc *c, struct bufferevent *bev, const char *addr, struct wbp_msg *hello);

/* ---- handle side of the core's events (peerlink_eng.c); called on the
 * core's thread, each posts to the engine loop ---- */
void plh_state(struct wbd_peerlink *h, uint64_t conn, enum wbd_pl_state st, int err);
void plh_need_hello(struct wbd_peerlink *h, uint64_t conn);
/* hello: taken; lim: the agreed geometry */
void plh_check(struct wbd_peerlink *h, uint64_t conn, struct wbp_msg *hello,
	       const struct wbp_limits *lim);
/* a frame other than hello/ping/pong/error; rx filled by the core */
void plh_frame(struct wbd_peerlink *h, struct pl_rx *rx);
void plh_refused(struct wbd_peerlink *h, int code, const char *text);
/* the payload of tx left (or was dropped): put() on the engine loop */
void plh_tx_done(struct pl_tx *tx);
/* the send queue drained to half while want_writable */
void plh_space(struct wbd_peerlink *h);
void plh_freed(struct wbd_peerlink *h);

/* post to the core's loop / to the engine loop (at once without io loops) */
void pl_post_io(struct wbd_peerlink *h, struct wbd_ioloop_msg *m);
void pl_post_eng(struct wbd_peerlink *h, struct wbd_ioloop_msg *m);

/* Listener side (peerlisten.c): the handle takes accepted connections */
bool wbd_peerlink_accepts(const struct wbd_peerlink *l);
struct wbd_ioloop *wbd_peerlink_loop(const struct wbd_peerlink *l);

#endif /* WB_DAEMON_PEERLINK_INT_H */
