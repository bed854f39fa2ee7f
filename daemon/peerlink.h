/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * peerlink.h - one replication link to one peer for one resource, on
 * libevent bufferevents (TLS through bufferevent_openssl, or plain TCP when
 * `transport = plain`), and the listener that accepts links. Frames are the
 * peer protocol of proto/peerproto.h (docs/wire-protocol.md).
 *
 * A link owns its connection: connect (active side) or adoption of an
 * accepted connection (passive side), the hello exchange (the active side
 * sends its hello first; the passive side answers only after accepting the
 * peer's; each checks resource, node name = the certificate's name,
 * wbp_agree geometry, then the glue's hello_check hook), keepalive (a ping
 * every ping_interval_ms while none is unanswered; a ping without its pong
 * for ping_timeout_ms drops the link), reconnect with exponential backoff
 * (active side), a bounded send queue with a congestion policy, and
 * receive caps (the socket is read only while less than one maximum frame
 * + payload is buffered, and while less than wbd_pl_rx_cap() bytes of
 * received frames wait for the engine loop). Who connects:
 * the replication glue makes the link of the node whose name sorts first
 * active, the other passive (docs/configuration.md, "Replication links").
 *
 * Threads (peerlink_int.h, docs/daemon.md "Threads"): a link is two
 * halves. The handle, which every function here takes, lives on the engine
 * loop (the base given to wbd_peerlink_new) and every callback runs there;
 * it never touches a socket. The core owns the connection (socket, TLS,
 * frame parsing, keepalive, reconnect) and lives on an io loop; the two
 * exchange messages through the io loop queues (bounded by the caps
 * below). Without running io loops the core lives on the handle's base and
 * the messages run at once (unit tests).
 *
 * Consequences for the glue: hello() and hello_check() run on the engine
 * loop while the core waits for their answer; the link is up for the glue
 * when hello_check() accepted (the state callback with WBD_PL_UP runs right
 * after it). wbd_peerlink_drop()/redo()/stop() take effect for the glue at
 * once (sends fail with -ENOTCONN, no more frames are delivered) and the
 * state callback follows when the core closed the connection.
 *
 * Ownership: the link copies its cfg strings. A payload passed to
 * wbd_peerlink_send() belongs to the link on success (put() is called
 * exactly once, on the engine loop, after the bytes left, were copied for
 * TLS, or were dropped with the connection); the pages must stay unchanged
 * until then, since the io loop reads them. On failure the caller keeps
 * it. A received message is valid during the frame callback only, its
 * data too unless the callback takes it (wbd_peerlink_take_data()).
 * Callbacks may call any function of the link, including
 * wbd_peerlink_free() (the free is then deferred to the callback's end).
 */
#ifndef WB_DAEMON_PEERLINK_H
#define WB_DAEMON_PEERLINK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "proto/peerproto.h"

struct event_base;
struct wb_page;
struct wb_pagebuf;
struct wbd_peerlink;
struct wbd_peerlisten;

enum wbd_pl_state {
	WBD_PL_IDLE = 0,   /* passive: waiting for the peer to connect */
	WBD_PL_CONNECTING, /* TCP connect and TLS handshake */
	WBD_PL_HELLO,	   /* hello sent, waiting for the peer's */
	WBD_PL_UP,	   /* frames flow */
	WBD_PL_BACKOFF,	   /* active: waiting to reconnect */
	WBD_PL_STOPPED,	   /* wbd_peerlink_stop(): no connection, no reconnect */
};

enum wbd_pl_congestion {
	WBD_PL_CONG_BLOCK = 0,	    /* send returns -EAGAIN, writable() later */
	WBD_PL_CONG_DISCONNECT = 1, /* the link is dropped (-ENOBUFS) */
};

/* A const payload sent after a frame's message: one buffer (data, len), or
 * nsegs segments of seg_len bytes (segs[], e.g. the 4 KiB blocks of an
 * engine record reference, sent in order without a copy; len must be
 * nsegs * seg_len). put(data, len, cookie) is the one release for the
 * whole payload (same signature as evbuffer_ref_cleanup_cb; with segments
 * it gets the last segment). */
struct wbd_payload {
	const void *data;
	size_t len;
	const void *const *segs;
	uint32_t nsegs, seg_len;
	void (*put)(const void *data, size_t len, void *cookie);
	void *cookie;
};

/*
 * hello_check's answer when the peer has a part to do that needs this
 * node's hello: a split brain resolved by the peer's discarding its data
 * (repl_uuid.c). A passive link never sends its hello to a refused peer,
 * so an active peer refused would never see it and never decide: with this
 * answer the hello goes first, then the refusal, as -EAGAIN (resolved, a
 * new hello follows). The peer's own check decides alike from both hellos.
 */
#define WBD_PL_EAGAIN_HELLO (-EINPROGRESS)

struct wbd_peerlink_ops {
	/* Fill this node's hello for a new connection (strings must live
	 * until the call returns; the link packs a copy). Required. */
	void (*hello)(struct wbd_peerlink *l, Wbrep__Hello *h, void *arg);
	/* The peer's hello passed every protocol check; lim is the agreed
	 * geometry. 0 = accept; -errno refuses the link: why is sent to the
	 * peer in an error frame and logged; WBD_PL_EAGAIN_HELLO refuses it
	 * as -EAGAIN after this node's hello (below). Optional. */
	int (*hello_check)(struct wbd_peerlink *l, const Wbrep__Hello *peer,
			   const struct wbp_limits *lim, const char **why, void *arg);
	/* Every state change; err < 0 says why the link went down. */
	void (*state)(struct wbd_peerlink *l, enum wbd_pl_state st, int err, void *arg);
	/* A frame other than hello/ping/pong/error (handled by the link).
	 * data: m->data_len bytes (NULL when 0). Required. */
	void (*frame)(struct wbd_peerlink *l, const struct wbp_msg *m, void *data, void *arg);
	/* Block policy: the send queue drained to half after -EAGAIN. */
	void (*writable)(struct wbd_peerlink *l, void *arg);
	/* Optional: the peer refused or closed the link with an error frame
	 * (code: positive errno; text may be NULL); the link is dropped right
	 * after. */
	void (*refused)(struct wbd_peerlink *l, int code, const char *text, void *arg);
	/* Optional, called on the link's io loop: a 4 KiB aligned buffer for
	 * len bytes of the data of a frame of this type (WBP_T_*) that do not
	 * go into record pages (resync data: its consumer writes it with
	 * O_DIRECT and gives it back to its pool). Any buffer it returns may
	 * also be released with wb_io_free. NULL = no memory. Default:
	 * wb_io_alloc. */
	void *(*rx_buf)(unsigned type, size_t len);
};

struct wbd_ioloop;
struct wbd_pl_after {
	void (*fn)(void *arg);
	void *arg;
};

struct wbd_peerlink_cfg {
	const char *resource; /* this link's resource */
	const char *local;    /* this node's name (for messages) */
	const char *peer;     /* expected peer node name: hello and certificate */
	const char *host;     /* active side: where to connect; NULL = passive */
	uint16_t port;
	SSL_CTX *tls;		     /* NULL = plain TCP (transport = plain only) */
	uint32_t ping_interval_ms;   /* default 1000 */
	uint32_t ping_timeout_ms;    /* default 5000 */
	uint32_t connect_timeout_ms; /* TCP + TLS + hello, default 10000 */
	uint32_t backoff_min_ms;     /* default 100 */
	uint32_t backoff_max_ms;     /* default 30000 */
	size_t sndq_max;	     /* bytes, default 8 MiB; at least one max frame */
	int congestion;		     /* enum wbd_pl_congestion */
	/* Optional: record payloads are read into pages of this RAM buffer
	 * (the engine's, wb_engine_apply_pagebuf()) on the io loop, with each
	 * page's crc32c set and every extent crc checked there; the frame
	 * callback takes them with wbd_peerlink_take_pages(). The link holds
	 * a reference to the buffer until it is freed. When no pages are free
	 * the payload goes to a buffer of its own (data) as without one. */
	struct wb_pagebuf *pagebuf;
	const struct wbd_peerlink_ops *ops;
	void *arg;
	/* Optional (repl.c, "Replies released on the io loop"): called on the
	 * link's io loop for every ack frame received, once
	 * wbd_peerlink_ack_pos() shows it. It may post to the engine; true =
	 * it took a reply that *after (set) sends: the frame and what rides
	 * with it then go to the engine without a wake-up of their own
	 * (wbd_ioloop_unplug_engine_quiet), and after->fn(after->arg) runs
	 * right after that. io_put(io_arg) runs when the link is freed (on the
	 * engine thread, after the last io_ack call). */
	bool (*io_ack)(void *io_arg, struct wbd_pl_after *after);
	void (*io_put)(void *io_arg);
	void *io_arg;
	/* Optional: the io loop of the link (NULL: the next, round robin) */
	struct wbd_ioloop *loop;
};

/* Any thread: the positions acked on the link's connection conn (seq + 1
 * of the newest record acked IN_MEMORY or better, WRITTEN or better, and
 * DURABLE), as the io loop read them; false if conn is no longer the
 * link's connection or the engine dropped it (wbd_peerlink_drop, _redo,
 * _stop). */
bool wbd_peerlink_ack_pos(const struct wbd_peerlink *l, uint64_t conn, uint64_t *mem, uint64_t *wr,
			  uint64_t *dur);
/* Engine thread: the connection frames flow on (0: none). */
uint64_t wbd_peerlink_up_conn(const struct wbd_peerlink *l);

/* Create (state IDLE, nothing started). 0 or -errno (logged). */
int wbd_peerlink_new(struct event_base *base, const struct wbd_peerlink_cfg *cfg,
		     struct wbd_peerlink **out);
/* Active: connect now; passive: accept connections adopted by a listener. */
void wbd_peerlink_start(struct wbd_peerlink *l);
/* Drop the connection (err and why logged); active links reconnect with
 * backoff, passive ones wait for the peer. */
void wbd_peerlink_drop(struct wbd_peerlink *l, int err, const char *why);
/* Drop the connection for a new hello (this node's role changed): as
 * drop(-ECONNRESET), but an active link reconnects at once instead of
 * after its backoff; the backoff after that starts at backoff_min_ms. */
void wbd_peerlink_redo(struct wbd_peerlink *l, const char *why);
/* Drop the connection and stay down until wbd_peerlink_start(). */
void wbd_peerlink_stop(struct wbd_peerlink *l);
/* An active link's peer moved: from now on l connects to host:port, and a
 * connection up or being made to the old address is dropped for a new one
 * at once (a passive link is left alone: the peer dials). 1 = changed, 0 =
 * nothing to change (passive, or the same address), -ENOMEM. */
int wbd_peerlink_readdress(struct wbd_peerlink *l, const char *host, uint16_t port);
void wbd_peerlink_free(struct wbd_peerlink *l);

/*
 * Queue one frame: msg (checked with wbp_msg_check against the agreed
 * limits) and optionally a payload of exactly the frame's data length.
 * 0 = queued; -ENOTCONN: the link is not up; -EINVAL: invalid message;
 * -EAGAIN (block policy): the queue holds sndq_max bytes, stop producing
 * until writable(); -ENOBUFS (disconnect policy): the queue was full and
 * the link has been dropped.
 */
int wbd_peerlink_send(struct wbd_peerlink *l, unsigned type, const ProtobufCMessage *msg,
		      const struct wbd_payload *data);
/* In the frame callback: take the frame's data buffer (m->data_len bytes,
 * 4 KiB aligned, from wb_io_alloc: free it with wb_io_free). NULL outside
 * the callback or when the frame has no data. */
void *wbd_peerlink_take_data(struct wbd_peerlink *l);
/* In the frame callback of a record frame whose payload was read into
 * pages (cfg.pagebuf; then data is NULL): take them. Returns the array of
 * m->data_len / 4096 pages (malloc()ed: free() it) with one reference each
 * (each page's crc set, crc_ok = 1, extent crcs checked), given to the
 * engine (wb_record.pages) or back with wb_pagebuf_release(); *n their
 * count. NULL (and *n = 0) outside the callback or when the frame's data is
 * not in pages. */
struct wb_page **wbd_peerlink_take_pages(struct wbd_peerlink *l, uint32_t *n);
/* In the frame callback of a record: the io loop acked it IN_MEMORY
 * already (mem_acks on, its data in pages and checked). */
bool wbd_peerlink_mem_acked(const struct wbd_peerlink *l);
/* Any thread: whether the io loop acks each record IN_MEMORY as soon as
 * its data is in pages and checked (a secondary's link to a primary that
 * wants IN_MEMORY acks); off at creation. */
void wbd_peerlink_set_mem_acks(struct wbd_peerlink *l, bool on);
/* Stop (true) / resume delivering frames and reading the socket:
 * backpressure from the glue when it cannot take more frames. No frame is
 * delivered after pause_rx(true) returns (frames already on their way wait
 * in the handle, bounded by the receive cap); pause_rx(false) delivers
 * them first, in order. A paused link does not time out its peer (this
 * side is the slow one); the peer, getting no pongs, may. */
void wbd_peerlink_pause_rx(struct wbd_peerlink *l, bool pause);

enum wbd_pl_state wbd_peerlink_state(const struct wbd_peerlink *l);
const char *wbd_pl_state_name(enum wbd_pl_state st);
/* When the certificate the peer presented on the link's last TLS
 * connection expires (seconds since the epoch); 0: none seen (plain TCP,
 * never up) */
int64_t wbd_peerlink_peer_cert_expiry(const struct wbd_peerlink *l);
/* bytes queued for sending and not yet written (the send cap counts them) */
size_t wbd_peerlink_queued(const struct wbd_peerlink *l);
/* the send cap in force (cfg.sndq_max or its default) */
size_t wbd_peerlink_sndq_max(const struct wbd_peerlink *l);
/* Reload: a new send cap and ping timeout (0: unchanged), in force on the
 * next frame queued and the next ping check; the connection stays. */
void wbd_peerlink_set_limits(struct wbd_peerlink *l, size_t sndq_max, uint32_t ping_timeout_ms);
/* Bytes of received frames waiting for the frame callback (on their way
 * from the io loop or held while paused): below wbd_pl_rx_cap() + one
 * maximum frame. */
size_t wbd_peerlink_rx_buffered(const struct wbd_peerlink *l);
const struct wbp_limits *wbd_peerlink_limits(const struct wbd_peerlink *l); /* when UP */
const Wbrep__Hello *wbd_peerlink_peer_hello(const struct wbd_peerlink *l);  /* when UP */

/*
 * Listener for passive links: one per node at its [node] address. An
 * accepted connection (TLS handshake first, when ctx is set) must send a
 * hello within the connect timeout; lookup(resource, node) names the link
 * that takes it over (NULL: refused with an error frame). Port 0 = any
 * free port (see wbd_peerlisten_port()). known: NULL or a NULL-terminated
 * list of the other nodes' hosts; a connection from one of them gets a
 * slot when every slot is taken by other addresses (docs/replication.md,
 * "Hostile clients").
 */
typedef struct wbd_peerlink *(*wbd_peerlisten_lookup_fn)(const char *resource, const char *node,
							 void *arg);
int wbd_peerlisten_new(struct event_base *base, const char *host, uint16_t port, SSL_CTX *tls,
		       const char *const *known, wbd_peerlisten_lookup_fn lookup, void *arg,
		       struct wbd_peerlisten **out);
uint16_t wbd_peerlisten_port(const struct wbd_peerlisten *ls);
/* A node added by a reload: its connections get a configured node's
 * priority (engine loop; the io loop reads the list). */
void wbd_peerlisten_add_known(struct wbd_peerlisten *ls, const char *host);
void wbd_peerlisten_free(struct wbd_peerlisten *ls);

#endif /* WB_DAEMON_PEERLINK_H */
