/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nbd_int.h - internals shared by the NBD server's parts: daemon/nbd.c
 * (connection I/O, transmission phase), daemon/nbd_listen.c (listeners),
 * daemon/nbd_opt.c (newstyle handshake: greeting, client flags, option
 * haggling up to NBDP_OPT_GO / NBDP_OPT_EXPORT_NAME) and daemon/nbd_tls.c
 * (STARTTLS: a connection's TLS handshake and I/O). Not for other
 * modules: they use daemon/nbd.h.
 *
 * Owns nothing; struct wbd_nbd_conn is allocated and freed by nbd.c (see the
 * ownership notes in nbd.c and nbd.h). The handshake only consumes its
 * input buffer, queues replies and hands the connection to an export.
 */
#ifndef WB_DAEMON_NBD_INT_H
#define WB_DAEMON_NBD_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <time.h>

#include "daemon/ioloop.h"
#include "daemon/lispause.h"
#include "daemon/nbd.h"
#include "daemon/nbd_proto.h"

struct event;
struct evbuffer;
struct wbd_nbd_ioreq;
struct wbd_nbd_wpar;
struct ssl_st;

#define WBD_NBD_IBUF_CAP      (256u << 10) /* input buffer; holds the largest option */
#define WBD_NBD_IBUF_MIN_FREE (NBDP_OPT_HDR_LEN + NBDP_OPT_MAX_LEN)
#define WBD_NBD_SPARE_MAX     (1u << 20) /* largest payload buffer kept for reuse */
/* largest chunk of a write read straight into RAM-buffer pages (blocks),
 * see pay_in_pages */
#define WBD_NBD_PAGES_MAX 256u
#define WBD_NBD_TFLAGS                                                                             \
	(NBDP_FLAG_HAS_FLAGS | NBDP_FLAG_SEND_FLUSH | NBDP_FLAG_SEND_FUA | NBDP_FLAG_SEND_TRIM |   \
	 NBDP_FLAG_SEND_WRITE_ZEROES | NBDP_FLAG_CAN_MULTI_CONN)

/* a snapshot's export: reads (and flushes, which change nothing) only */
#define WBD_NBD_TFLAGS_RO                                                                          \
	(NBDP_FLAG_HAS_FLAGS | NBDP_FLAG_READ_ONLY | NBDP_FLAG_SEND_FLUSH |                        \
	 NBDP_FLAG_CAN_MULTI_CONN)
static inline uint16_t wbd_nbd_tflags(const struct wbd_nbd_export *ex)
{
	return ex->snap ? WBD_NBD_TFLAGS_RO : WBD_NBD_TFLAGS;
}

_Static_assert(WBD_NBD_IBUF_CAP >= 2 * WBD_NBD_IBUF_MIN_FREE, "input buffer too small for options");

/* A new connection (calloc) starts in WBD_NBD_CS_FLAGS. */
enum wbd_nbd_conn_state { WBD_NBD_CS_FLAGS, WBD_NBD_CS_OPTS, WBD_NBD_CS_XMIT, WBD_NBD_CS_CLOSING };

/*
 * Threads (docs/daemon.md "Threads"): a connection is accepted and runs its
 * handshake on the engine loop; when it attaches to an export it moves to an
 * io loop (loop set, conn_migrate), which from then on owns every field
 * below except those marked "engine": the export lists, and what the engine
 * loop tells the connection (hold, ctl_bits). refs is atomic because both
 * threads hold references (a request in flight, a posted message).
 */
struct wbd_nbd_conn {
	int fd;		      /* -1 once closed */
	struct event *rev;    /* readable (persistent; deleted while throttled) */
	struct event *wev;    /* writable (added only when the socket was full) */
	struct event *fev;    /* deferred flush (activated, never added) */
	struct event *tev;    /* handshake timeout (freed at attach) */
	struct evbuffer *out; /* replies not yet sent */
	_Atomic int refs;     /* socket, requests in flight, posted messages */
	enum wbd_nbd_conn_state state;
	bool no_zeroes;
	bool have_hdr;	/* hdr/verdict parsed, waiting for the payload */
	bool throttled; /* reading stopped for backpressure */
	bool processing;
	bool flush_sched; /* fev is active */
	bool wev_added;
	bool migrate;  /* attached, moves to an io loop from fev (engine) */
	bool quiesced; /* the export stopped taking requests (io loop) */
	bool on_qwait; /* on its io loop's list of connections waiting for queue room */
	struct wbd_nbd_request hdr;
	struct wbd_nbd_verdict verdict;
	/* the export; set at attach, never changed, dereferenced only on the
	 * engine loop (the io loop copies size and gen at the move) */
	struct wbd_nbd_export *ex;
	uint64_t size;
	uint32_t ex_gen;
	uint16_t tflags; /* the export's transmission flags (io loop copy) */
	uint32_t snap;	 /* the export's snapshot (io loop copy) */
	bool ex_linked;	 /* engine: on ex->conns */
	struct wbd_nbd_conn *ex_next, **ex_pprev;   /* engine: on ex->conns */
	struct wbd_nbd_conn *all_next, **all_pprev; /* engine: on conn_all */
	struct wbd_nbd_conn *io_next, **io_pprev;   /* io loop: its connections */
	struct wbd_nbd_conn *qw_next;		    /* io loop: waiting for queue room */
	struct wbd_ioloop *loop;		    /* NULL on the engine loop */
	struct wbd_ioloop_msg adopt_msg;	    /* engine -> io: take the connection */
	struct wbd_ioloop_msg ctl_msg;		    /* engine -> io: ctl_bits */
	struct wbd_ioloop_msg closed_msg;	    /* io -> engine: the socket is closed */
	_Atomic unsigned ctl_bits;		    /* WBD_NBD_CTL_*, set by the engine loop */
	_Atomic bool ctl_posted;		    /* ctl_msg is queued */
	_Atomic bool hold;			    /* the export's admission is on hold */
	struct wbd_nbd_lookup lk;
	char def[64];
	char peer[80];
	unsigned inflight;
	uint64_t reply_pending; /* reply bytes of requests in flight (WBD_NBD_REPLY_CAP) */
	uint64_t wpay_pending;	/* write payload bytes in flight (WBD_NBD_WPAY_CAP) */
	/* input: ibuf[ioff, ilen) is received and not yet consumed */
	uint8_t *ibuf;
	size_t ioff, ilen;
	/* payload of hdr being collected into wbuf (pay_got of
	 * verdict.payload), a buffer of its own that the request takes with it
	 * to the engine loop; it comes back with the completion */
	uint8_t *wbuf;
	/* a finished write's buffer (at most WBD_NBD_SPARE_MAX), kept for the next
	 * payload: sequential writes reuse memory that is already mapped */
	uint8_t *spare;
	uint32_t spare_len;
	uint32_t pay_got;
	bool pay_in_wbuf;
	/* The payload of hdr is read into pages of the engine's RAM buffer
	 * (engine ABI 9; a write in chunks of at most pg_max blocks, see
	 * below): wpg[0, wpg_n) reserved for it, given to the
	 * engine with the request, released if it never gets there. pb: the
	 * engine's buffer, a reference taken at the move to the io loop, NULL
	 * when the engine has none (then every payload goes to wbuf). */
	bool pay_in_pages;
	/* A write of more than pg_max blocks goes in chunks of at most pg_max
	 * blocks, each read into pages and sent to the engine as a request of
	 * its own once read: wpg holds payload bytes [pay_base, pay_base +
	 * wpg_n * 4 KiB); par (nbd.c) answers the client once every chunk is
	 * done. */
	uint32_t pay_base;
	struct wbd_nbd_wpar *par;
	_Atomic bool want_pages; /* a reservation failed: the engine loop kicks */
	struct wb_pagebuf *pb;
	uint32_t pg_max; /* blocks per chunk: WBD_NBD_PAGES_MAX, at most an eighth of the buffer */
	uint32_t wpg_n;
	struct wb_page **wpg;
	/* TLS (nbd_tls.c): ssl is set from the handshake on and freed with
	 * the socket; tls_mode is the listener's export's policy */
	struct ssl_st *ssl;
	int tls_mode;	/* enum wbd_nbd_tls_mode */
	bool tls_start; /* STARTTLS acknowledged: handshake once the ACK is out */
	bool tls_hs;	/* handshake in progress: no NBD input or output */
	bool tls_on;	/* handshake done: everything goes through ssl */
	bool tls_reqd_logged;
};

/* ctl_bits: what the engine loop asks of a connection on an io loop */
#define WBD_NBD_CTL_KICK    (1u << 0) /* admission or caps may let it read again */
#define WBD_NBD_CTL_QUIESCE (1u << 1) /* the export takes no more requests: stop reading */
#define WBD_NBD_CTL_CLOSE   (1u << 2) /* send what is queued, close */

/* Bytes received and not yet consumed. */
static inline size_t wbd_nbd_conn_avail(const struct wbd_nbd_conn *c)
{
	return c->ilen - c->ioff;
}

/* nbd_listen.c; nbd.c reads lk, def and tls at accept */
struct wbd_nbd_listener {
	struct evconnlistener *l;
	struct wbd_lispause pause; /* after an accept failure */
	struct wbd_nbd_lookup lk;
	char def[64];
	char path[108]; /* unix socket path, "" for TCP */
	uint16_t port;
	int tls; /* enum wbd_nbd_tls_mode of the default export */
};

/* nbd.c */
struct evconnlistener;
struct sockaddr;
/* A new client on listener arg (struct wbd_nbd_listener): the connection. */
void wbd_nbd_conn_accept(struct evconnlistener *el, int fd, struct sockaddr *sa, int salen,
			 void *arg);
/* Queue output; it is sent when the current loop round's callbacks are done. */
void wbd_nbd_conn_send(struct wbd_nbd_conn *c, const void *p, size_t len);
/* Drop the socket now; in-flight requests keep the struct alive. */
void wbd_nbd_conn_close(struct wbd_nbd_conn *c);
/* Close once the output is sent and nothing is in flight. */
void wbd_nbd_conn_close_soon(struct wbd_nbd_conn *c);
/* Put the connection on ex->conns (the caller then enters WBD_NBD_CS_XMIT). */
void wbd_nbd_conn_attach(struct wbd_nbd_conn *c, struct wbd_nbd_export *ex);

/* Accept STARTTLS: stop reading; the TLS handshake starts once the ACK
 * queued before went out (nbd.c, then wbd_nbd_tls_begin()). */
void wbd_nbd_conn_starttls(struct wbd_nbd_conn *c);

/* nbd_tls.c */
bool wbd_nbd_tls_available(void);
void wbd_nbd_tls_begin(struct wbd_nbd_conn *c);
void wbd_nbd_tls_handshake(struct wbd_nbd_conn *c);
/* Input buffered inside the SSL (the socket may not signal it). */
bool wbd_nbd_tls_pending(const struct wbd_nbd_conn *c);
/* Schedule a read when wbd_nbd_tls_pending() and reading is allowed. */
void wbd_nbd_tls_kick(struct wbd_nbd_conn *c);
/* Like read(): bytes, 0 = would block, -1 = the connection was closed. */
ssize_t wbd_nbd_tls_read(struct wbd_nbd_conn *c, void *buf, size_t len);
void wbd_nbd_tls_flush(struct wbd_nbd_conn *c);
void wbd_nbd_tls_free(struct wbd_nbd_conn *c);

/* nbd_opt.c */
/* Queue the server greeting (first thing sent on a new connection). */
void wbd_nbd_opt_greet(struct wbd_nbd_conn *c);
/* One handshake step (client flags or one complete option) from the input
 * buffer. false = wait for more input (or closed). */
bool wbd_nbd_opt_step(struct wbd_nbd_conn *c);

#endif /* WB_DAEMON_NBD_INT_H */
