/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nbd.h - the NBD server frontend of wbrepd (libevent).
 *
 * Listeners (TCP and unix sockets) accept clients, run the newstyle fixed
 * handshake (daemon/nbd_proto.h) and then move each connection onto an
 * export: a struct wbd_nbd_export embedded in a resource (daemon/resource.h),
 * which names the engine requests go to. Requests are pipelined: each one is
 * submitted to the engine at once and replied to when the engine completes
 * it, in completion order. Details and decisions: docs/nbd.md.
 *
 * Threads: listeners, the handshake and everything of struct wbd_nbd_export
 * belong to the engine loop (the thread that runs the engines); from attach
 * on, a connection lives on an io loop (daemon/ioloop.h), which reads and
 * parses requests and sends replies; requests reach the engine loop and
 * their completions come back through the io loop's queues. Every function
 * here is for the engine loop's thread.
 *
 * Ownership:
 *   - struct wbd_nbd_export belongs to its owner (the resource). The owner calls
 *     wbd_nbd_export_init() before publishing it through the lookup callback and
 *     wbd_nbd_export_detach() before freeing it or closing its engine; detach
 *     closes every connection on it. The owner must drain the engine (run
 *     it until wbd_nbd_export_inflight() == 0) before closing it: in-flight
 *     requests point at their connection, not at the export.
 *   - connections are reference counted: one reference for the socket, one
 *     per request in flight; a request completing after the client vanished
 *     just drops its data and its reference.
 *   - struct wbd_nbd_listener belongs to whoever created it (wbd_nbd_listener_free).
 */
#ifndef WB_DAEMON_NBD_H
#define WB_DAEMON_NBD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/wbengine.h"

struct event_base;
struct wbd_nbd_conn;
struct wbd_nbd_ioreq;

#define WBD_NBD_SRV_MAX_LEN	 (32u << 20) /* largest read/write accepted */
#define WBD_NBD_SRV_MAX_INFLIGHT 256	     /* per connection, then stop reading */
/* Reply bytes per connection: queued output plus the replies (and read
 * data) of requests in flight. A request that would pass it waits (the
 * socket is not read) until replies went out; one request is always let
 * through, so the most a connection holds is max(cap, 16 + WBD_NBD_SRV_MAX_LEN). */
#define WBD_NBD_REPLY_CAP (32u << 20)
/* Write payload bytes per connection held for requests in flight (each
 * request has its own buffer; one request is always let through). */
#define WBD_NBD_WPAY_CAP WBD_NBD_SRV_MAX_LEN
/* Handshake replies queued before the connection stops being read. */
#define WBD_NBD_OPT_REPLY_CAP (64u << 10)
/* A connection that has not finished the handshake by then is closed. */
#define WBD_NBD_HANDSHAKE_TIMEOUT_S 10
/* Connections closed at accept for max-clients are logged at most once in
 * this time (a failing accept() pauses the listener: daemon/lispause.h). */
#define WBD_NBD_ACCEPT_LOG_S 10

/* Admission of new requests (the mode policy, daemon/modectl.h): open;
 * hold = suspended, requests wait (see wbd_nbd_export_set_admit); fail =
 * every request is answered EIO without reaching the engine. */
enum wbd_nbd_admit { WBD_NBD_ADMIT_OPEN = 0, WBD_NBD_ADMIT_HOLD = 1, WBD_NBD_ADMIT_FAIL = 2 };

struct wbd_repl_fast;
struct wbd_ioloop;

struct wbd_nbd_export {
	char name[96]; /* RES, or RES@GENERATION for a snapshot's */
	uint64_t size;
	struct wb_engine *engine;
	/* called after requests were submitted, so the owner runs the engine
	 * (it may complete without its fd becoming readable first) */
	void (*kick)(void *ctx);
	void *ctx;
	/* Optional (replication, daemon/repl.h): a write, trim, write-zeroes
	 * or flush completed without error; return true to take it and call
	 * release(wr, err) later, when the peers have it (the reply waits).
	 * NULL or false: replied at once. */
	bool (*hold)(void *ctx, struct wb_req *wr, void (*release)(struct wb_req *wr, int err));
	/* Optional, used instead of hold: the same, and the reply may go
	 * from the connection's io loop (daemon/repl.h wbd_repl_fast) */
	bool (*hold_fast)(void *ctx, struct wb_req *wr, void (*release)(struct wb_req *wr, int err),
			  struct wbd_repl_fast *f);
	/* Optional: a read failed with err; return true to take it and call
	 * release(wr, err) later (0: the data is in wr->buf after all, read
	 * from a replication peer; daemon/repl.h wbd_repl_read_peer). */
	bool (*reread)(void *ctx, struct wb_req *wr, int err,
		       void (*release)(struct wb_req *wr, int err));
	/* Optional: the io loop its connections go to (NULL: round robin) */
	struct wbd_ioloop *(*loop)(void *ctx);
	/* Optional: false = writes, trims and write-zeroes are refused (EPERM)
	 * before the engine (a replication secondary, a demotion running). */
	bool (*writable)(void *ctx);
	/* a read-only export of an engine snapshot (wb_req.snap, docs/engine.md
	 * "Snapshots"); 0: the device itself */
	uint32_t snap;
	/* state, maintained by nbd.c */
	struct wbd_nbd_conn *conns; /* attached connections */
	unsigned nconns;
	unsigned inflight;
	int closing; /* stop: new requests get ESHUTDOWN */
	int admit;   /* enum wbd_nbd_admit, set with wbd_nbd_export_set_admit */
	uint64_t nreq, nerr;
	/* requests that arrived on hold, submitted in order when it opens */
	struct wbd_nbd_ioreq *park_head, *park_tail;
	uint32_t gen;	      /* changes at each wbd_nbd_export_init: older requests are refused */
	unsigned max_clients; /* 0 = no limit of its own (the total still applies) */
	int tls;	      /* enum wbd_nbd_tls_mode (nbd_proto.h), set by the owner */
};

/* Export lookup for the handshake: name "" = the listener's default
 * resource (def). NULL = no such export (or not up). list() fills at most
 * max names of exports that are up and returns how many it wrote. */
struct wbd_nbd_lookup {
	struct wbd_nbd_export *(*find)(void *ctx, const char *name, const char *def);
	size_t (*list)(void *ctx, const char **names, size_t max);
	void *ctx;
};

void wbd_nbd_export_init(struct wbd_nbd_export *ex, const char *name, uint64_t size,
			 struct wb_engine *engine, void (*kick)(void *), void *ctx);
/* Refuse new requests (ESHUTDOWN) and stop reading from its clients. */
void wbd_nbd_export_quiesce(struct wbd_nbd_export *ex);
/* Admission (enum wbd_nbd_admit). While held, a connection stops parsing and
 * reading at its next request (requests it sent before the io loop saw the
 * hold wait on the export, within the connection's caps): what waits is at
 * most its input buffer (WBD_NBD_IBUF_CAP, nbd_int.h) plus the kernel's socket
 * buffer, the client's own queue depth bounds the rest. Open or fail again:
 * the waiting requests go on (or fail) in order, every connection resumes
 * with what it has buffered. */
void wbd_nbd_export_set_admit(struct wbd_nbd_export *ex, int admit);
/* Close every connection of the export and forget it. In-flight requests
 * stay valid (they hold their connection). */
void wbd_nbd_export_detach(struct wbd_nbd_export *ex);
static inline unsigned wbd_nbd_export_inflight(const struct wbd_nbd_export *ex)
{
	return ex->inflight;
}

struct wbd_nbd_listener;

/* host "*" or NULL = any address. port 0 = ephemeral.
 * def = the export served for an empty export name (copied). */
int wbd_nbd_listen_tcp(struct event_base *base, const char *host, uint16_t port, const char *def,
		       const struct wbd_nbd_lookup *lk, struct wbd_nbd_listener **out);
/* Unix socket, mode 0660; a stale socket file is replaced. */
int wbd_nbd_listen_unix(struct event_base *base, const char *path, const char *def,
			const struct wbd_nbd_lookup *lk, struct wbd_nbd_listener **out);
/* Stop accepting; connections already accepted are not affected. Removes
 * the unix socket file. */
void wbd_nbd_listener_free(struct wbd_nbd_listener *l);
/* TLS policy (enum wbd_nbd_tls_mode) of the listener's default export: decides
 * STARTTLS and which options need TLS first (wbd_nbd_tls_gate). Default off. */
void wbd_nbd_listener_set_tls(struct wbd_nbd_listener *l, int mode);

struct ssl_ctx_st;
/* The server context for NBDP_OPT_STARTTLS (daemon/tls.h; a reference is
 * taken, NULL drops it). Without one STARTTLS is NBDP_REP_ERR_UNSUP. */
void wbd_nbd_set_tls(struct ssl_ctx_st *ctx);
/* The context set (not referenced: valid until the next set), or NULL. */
struct ssl_ctx_st *wbd_nbd_get_tls(void);

/* Close every connection still in the handshake or attached (shutdown):
 * those on io loops are closed by their loop (before wbd_ioloop_stop()
 * returns). */
void wbd_nbd_close_all(void);
/* Register the NBD hooks of the io loops (before wbd_ioloop_start()). */
void wbd_nbd_io_setup(void);
/* Connections accepted at most at a time over all listeners (handshake and
 * attached); more are closed at accept (logged at most once per
 * WBD_NBD_ACCEPT_LOG_S). 0 = no limit. */
void wbd_nbd_set_max_clients(unsigned total);

#endif /* WB_DAEMON_NBD_H */
