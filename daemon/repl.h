/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * repl.h - the replication glue of one resource (docs/replication.md):
 * one peer link (daemon/peerlink.h) per other [node] of the configuration,
 * records shipped from the primary's engine (ship hook, read_record for
 * catch-up) and applied on a secondary (apply_record), acks back.
 *
 * First step, what it does and does not do (docs/replication.md): a
 * primary ships every record to every connected peer and catches a peer
 * up from its log (read_record) when it connects behind or its send queue
 * was full; a secondary applies records and acks them (IN_MEMORY when
 * applied, DURABLE when durable in its log). Acknowledgements to writers
 * on the primary do not wait for peers (no ack horizon yet: replication is
 * asynchronous whatever `protocol` says); a peer that is ahead or that the
 * log no longer covers is refused (no bitmap resync / initial full sync).
 *
 * Ownership: a struct wbd_repl belongs to its resource (created after the
 * engine opened, freed before it closes); it holds page references of
 * records in flight and puts them all before wbd_repl_free() returns
 * (the links release their payloads when they are freed).
 * Threads: everything on the resource's event base (= the engine thread).
 */
#ifndef WB_DAEMON_REPL_H
#define WB_DAEMON_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf/wbconf.h"

struct event_base;
struct wb_engine;
struct wbd_repl;
struct wbd_peerlink;

/* What the daemon gives every resource's glue. */
struct wbd_repl_env {
	const struct wbconf *conf; /* nodes, node name, transport */
	SSL_CTX *tls;		   /* NULL: plain TCP */
};

/* Number of peers the configuration gives a resource (every [node] other
 * than this node's); 0 = single node, no glue needed. */
unsigned wbd_repl_npeers(const struct wbconf *conf);

/* Start the glue of resource `res` (its engine open in role `primary`).
 * 0 or -errno (logged). */
int wbd_repl_new(struct event_base *base, const struct wbd_repl_env *env, const char *res,
		 struct wb_engine *e, bool primary, struct wbd_repl **out);
/* Stop the links and put every record reference. */
void wbd_repl_free(struct wbd_repl *rp);
/* After every wb_engine_run(): retry a record the engine had no room for. */
void wbd_repl_after_run(struct wbd_repl *rp);
/* The link of peer `node` (listener lookup), NULL if none. */
struct wbd_peerlink *wbd_repl_link(struct wbd_repl *rp, const char *node);

struct wbd_repl_peer_status {
	const char *node;
	const char *state;   /* link state name */
	bool live;	     /* primary: records go out as they are placed */
	uint64_t sent;	     /* primary: next seq to send; secondary: next expected */
	uint64_t acked_mem;  /* highest seq acked IN_MEMORY (+1), primary */
	uint64_t acked_dur;  /* highest seq acked DURABLE (+1), primary */
};
unsigned wbd_repl_status(struct wbd_repl *rp, struct wbd_repl_peer_status *st, unsigned max);

#endif /* WB_DAEMON_REPL_H */
