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
 * applied, DURABLE when durable in its log). The primary's NBD replies to
 * writes and flushes wait until wb-min-peers peers acked at the level of
 * `protocol` (A sent, B in memory, C durable: wbd_repl_hold); with fewer
 * peers connected and up to date the resource runs write-through. A peer
 * that is ahead or that the log no longer covers is refused (no bitmap
 * resync / initial full sync).
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
#include "daemon/ioloop.h"

struct event_base;
struct wb_engine;
struct wbd_repl;
struct wbd_peerlink;
struct wb_req;
struct wb_io;

/* What the daemon gives every resource's glue. */
struct wbd_repl_env {
	const struct wbconf *conf; /* nodes, node name, transport */
	SSL_CTX *tls;		   /* NULL: plain TCP */
	/* resync-after: whether a resync of resource res runs on this node
	 * (the daemon looks it up; every resource's glue runs on its loop) */
	bool (*resyncing)(void *ctx, const char *res);
	void *ctx;
	/* before-resync-target runs through the daemon's event handler */
	struct wbd_handler *handler;
};

/* Number of peers the configuration gives resource r (its "nodes", or
 * every [node], other than this node); r NULL: every [node] other than
 * this node. 0 = single node, no glue needed. */
unsigned wbd_repl_npeers(const struct wbconf *conf, const struct wbconf_resource *r);

/* What one resource's glue is told at start. */
struct wbd_repl_opts {
	const char *res;
	struct wb_engine *e;
	bool primary;
	char protocol; /* 'A', 'B', 'C': the ack level held requests wait for */
	/* ack = memory: write-back holds a plain write (no FUA) only until
	 * the peers have it in RAM (at most protocol B); flushes, FUA writes
	 * and write-through wait for `protocol` */
	bool ack_memory;
	unsigned min_peers; /* wb-min-peers */
	int after_sb;	    /* after-sb-1pri, enum wbconf_after_sb */
	int after_sb0;	    /* after-sb-0pri, enum wbconf_after_sb0 */
	/* resync target: writes resync data to the backing device directly
	 * (docs/replication.md, "Resync"); resync-rate (bytes/s, 0 = no
	 * limit) and resync-checksum */
	struct wb_io *backing;
	uint64_t resync_rate;
	bool resync_checksum;
	uint64_t c_min_rate;	    /* c-min-rate: a sync target's rate while records arrive */
	uint32_t c_delay_target_ms; /* c-delay-target: a sync target's delay controller */
	const char *resync_after;   /* resync-after: NULL or a resource name */
	/* before-resync-target: NULL or a program run (and waited for) before
	 * this node, a sync target, changes anything; backing_path: told to it */
	const char *before_target, *backing_path;
	/* the peer links: send-queue-max (bytes) and ping-timeout; 0 = the
	 * link's default (daemon/peerlink.h) */
	size_t sndq_max;
	uint32_t ping_timeout_ms;
	/* the number of healthy peers (wbd_repl_counts) or the role changed:
	 * the owner's mode policy decides again (daemon/modectl.h); never
	 * called from inside wbd_repl_new */
	void (*changed)(void *arg);
	void *arg;
};

/* How the ack gate releases the replies it holds; set by the mode policy
 * (daemon/modectl.c), WBD_REPL_GATE_BACKING at start and at promotion. */
enum wbd_repl_gate {
	/* write-back: held until min_peers peers acked at the protocol's level */
	WBD_REPL_GATE_PEERS = 0,
	/* write-through without enough peers: new completions are not held
	 * (the engine acked them once on the backing device); held ones are
	 * released once the backing device has them (seq_destaged) */
	WBD_REPL_GATE_BACKING = 1,
	/* suspended (no quorum): hold everything, release nothing */
	WBD_REPL_GATE_CLOSED = 2,
	/* io-error (no quorum): held and new completions fail with -EIO */
	WBD_REPL_GATE_FAIL = 3,
};

/* Start the glue of a resource (its engine open). 0 or -errno (logged). */
int wbd_repl_new(struct event_base *base, const struct wbd_repl_env *env,
		 const struct wbd_repl_opts *o, struct wbd_repl **out);
/* Primary: the ack gate (wbd_nbd_export.hold). A request that completed in
 * the engine (its records are placed, so shipped) is held until
 * min_peers peers acked every record shipped so far at the protocol's
 * level; then release(wr, 0). true = held. */
bool wbd_repl_hold(struct wbd_repl *rp, struct wb_req *wr,
		   void (*release)(struct wb_req *wr, int err));
/* A reply the io loop of its connection may send itself, when a peer's
 * ack completes what it waits for (repl.c, "Replies released on the io
 * loop"): the frontend's request embeds it. Then io_reply(f) runs on loop
 * instead of release(wr, 0) on the engine thread (it may free the
 * request), and eng_after(eng_arg) on the engine thread after it was
 * called (the engine-side part of release). m is repl.c's (an ack read
 * on another io loop posts the reply to loop with it). */
struct wbd_ioloop;
struct wbd_repl_fast {
	struct wbd_ioloop *loop;
	void (*io_reply)(struct wbd_repl_fast *f);
	void (*eng_after)(void *eng_arg);
	void *eng_arg;
	struct wbd_ioloop_msg m;
};
/* wbd_repl_hold, with f (NULL: as wbd_repl_hold; else kept until the
 * reply went). */
bool wbd_repl_hold_fast(struct wbd_repl *rp, struct wb_req *wr,
			void (*release)(struct wb_req *wr, int err), struct wbd_repl_fast *f);
/* Primary: a read (WB_REQ_READ into wr->buf, not of a snapshot) failed
 * here with err; read it from an UpToDate peer instead (repl_peerread.c,
 * docs/replication.md "A read error"). true = taken: release(wr, 0) once a
 * peer served it, release(wr, err) when none could; never from within this
 * call. false: no peer can (the caller completes it with err). */
bool wbd_repl_read_peer(struct wbd_repl *rp, struct wb_req *wr, int err,
			void (*release)(struct wb_req *wr, int err));
/* Reads that failed here and a peer served, since up (0 without rp). */
uint64_t wbd_repl_reads_from_peers(const struct wbd_repl *rp);
/* Bytes served by a peer and written back here (read repair), since up. */
uint64_t wbd_repl_read_repaired(const struct wbd_repl *rp);
/* The io loop of the resource's first peer link (an NBD connection of
 * the resource goes there, so that link's acks can release its replies);
 * NULL: none. */
struct wbd_ioloop *wbd_repl_loop(const struct wbd_repl *rp);
/* The mode policy's gate (see enum wbd_repl_gate); applies at once. */
void wbd_repl_set_gate(struct wbd_repl *rp, enum wbd_repl_gate g);
/* Reload: a new wb-min-peers applies at once. */
void wbd_repl_set_min_peers(struct wbd_repl *rp, unsigned min_peers);
/* after-sb-1pri (enum wbconf_after_sb) and after-sb-0pri (enum
 * wbconf_after_sb0), from the next connect on */
void wbd_repl_set_after_sb(struct wbd_repl *rp, int after_sb, int after_sb0);
/* Reload: resync-rate and resync-checksum apply to the next requests. */
void wbd_repl_set_resync(struct wbd_repl *rp, uint64_t rate, uint64_t min_rate, uint32_t delay_ms,
			 bool checksum, const char *after, const char *before_target);
/* A resync with some peer runs (resync-after of another resource). */
bool wbd_repl_resyncing(const struct wbd_repl *rp);
/* Reload: send-queue-max and ping-timeout apply to the links at once. */
void wbd_repl_set_link_limits(struct wbd_repl *rp, size_t sndq_max, uint32_t ping_timeout_ms);
/* The engine failed (an I/O error on its log or backing device): drop
 * every link and refuse every hello from now on with the reason, so that
 * no peer counts this node, resyncs it or waits for it, until the
 * resource goes down (a new wbd_repl at the next up). Once. */
void wbd_repl_engine_failed(struct wbd_repl *rp);
/* Has the engine failed? If so (first seen here) the above, at once.
 * false for NULL. */
bool wbd_repl_fail_check(struct wbd_repl *rp);
/* Release every held request with err (going down); requests that
 * complete afterwards get -ESHUTDOWN instead of being held. */
void wbd_repl_release_all(struct wbd_repl *rp, int err);
/* Stop the links and put every record reference. */
void wbd_repl_free(struct wbd_repl *rp);
/* After every wb_engine_run(): retry a record the engine had no room for. */
void wbd_repl_after_run(struct wbd_repl *rp);
/* The link of peer `node` (listener lookup), NULL if none. */
struct wbd_peerlink *wbd_repl_link(struct wbd_repl *rp, const char *node);

/*
 * A node a reload added ([node] sections appended, docs/configuration.md
 * "Adding a node"): wbd_repl_add_check says whether `more` peers fit
 * (0, or -E2BIG / -ENOSPC with err: the log's bitmap slots, WB_ENGINE_
 * MAX_PEERS); wbd_repl_add_node makes node n a peer with the next slot
 * and starts its link (a new node's disk gets a full sync from the
 * primary at its first connect). 0 or -errno (logged).
 */
int wbd_repl_add_check(struct wbd_repl *rp, unsigned more, char *err, size_t len);
int wbd_repl_add_node(struct wbd_repl *rp, const struct wbd_repl_env *env,
		      const struct wbconf_node *n);
/*
 * A node a reload removed (docs/configuration.md, "Removing a node"):
 * wbd_repl_remove_check refuses (-EBUSY with err) to remove this
 * secondary's connected primary; wbd_repl_remove_node stops the peer's
 * link for good and drops it from every count and from status (its
 * bitmap slot stays its own until a restart). Adding the node back
 * (wbd_repl_add_node) restarts the same link.
 */
int wbd_repl_remove_check(struct wbd_repl *rp, const char *node, char *err, size_t len);
void wbd_repl_remove_node(struct wbd_repl *rp, const char *node);
/* Peers that are not removed. */
unsigned wbd_repl_nmembers(const struct wbd_repl *rp);
/* node is a peer a reload removed (adding it back restarts its link) */
bool wbd_repl_removed(struct wbd_repl *rp, const char *node);
/* A reload gave node n another address (docs/configuration.md, "Changing
 * an address"): a link that dials n reconnects to it at once (one up is
 * dropped for it), a passive one is left alone (n dials this node, from
 * wherever it is). 0 or -ENOMEM (logged; the link keeps the old one). */
int wbd_repl_readdress(struct wbd_repl *rp, const struct wbconf_node *n);

/* ---- roles, links, status (repl_role.c) ---- */

/* Role of this node and peers connected and up to date (primary: live;
 * secondary: link up) out of the configured ones (wbctl status). */
void wbd_repl_counts(struct wbd_repl *rp, bool *primary, unsigned *healthy, unsigned *total);
/* The healthy peers (as counted by wbd_repl_counts) for which
 * ok(arg, node) is true (the mode policy: quorum members). */
unsigned wbd_repl_healthy_if(struct wbd_repl *rp, bool (*ok)(void *arg, const char *node),
			     void *arg);
/* Drop the connected links of the peers for which gone(arg, node) is true
 * (why logged); active links reconnect with backoff. The mode policy: a
 * peer that left the corosync membership, whose link may not notice
 * before its ping timeout (a crashed node sends no FIN). */
void wbd_repl_drop_if(struct wbd_repl *rp, bool (*gone)(void *arg, const char *node), void *arg,
		      const char *why);
/* Replies held for the peers (a demotion waits until there are none). */
unsigned wbd_repl_nheld(const struct wbd_repl *rp);

/*
 * Promote: refused (-EBUSY, why in err) while a connected peer is primary;
 * unless force, also when this node's disk is not UpToDate or a connected
 * secondary holds more records. Then the engine becomes primary, records
 * are shipped from its seq on, and every link is re-established so the
 * peers see the new role in a new hello. 0 or -errno (err set).
 */
int wbd_repl_promote(struct wbd_repl *rp, bool force, char *err, size_t errlen);
/*
 * Demote a primary whose writes stopped and completed (no reply held):
 * the engine becomes a replica, shipping stops, links are re-established.
 * -EBUSY: replies are still held or the engine has writes pending (retry);
 * other -errno with err set.
 */
int wbd_repl_demote(struct wbd_repl *rp, char *err, size_t errlen);
/* wbctl resize (repl_grow.c): on the primary, lower *limit to what every
 * peer's backing allows (who names the one that limits it, else left);
 * a peer not connected (or that does not tell) refuses, unless
 * peer_space. 0 or -errno with err set. */
int wbd_repl_grow_limit(struct wbd_repl *rp, bool peer_space, uint64_t *limit, char *who,
			size_t wholen, char *err, size_t errlen);
/* wbctl resize, on the primary: ask every connected peer that knows online
 * grow how large its backing lets it grow now (Hello.max_size is as of
 * the connect). 1: none to ask; 0: done(arg) follows once all answered,
 * their links went down, or 3 s passed; -EBUSY: a query runs. */
int wbd_repl_grow_query(struct wbd_repl *rp, void (*done)(void *arg), void *arg);
/* The engine grew: new hellos on every link (the peers grow too, and
 * resync what the grow marked). */
void wbd_repl_grown(struct wbd_repl *rp);
/* Every link that runs drops its connection and makes a new one (new
 * TLS handshakes, new hellos); why is logged. */
void wbd_repl_relink(struct wbd_repl *rp, const char *why);
/* wbctl disconnect / connect: stop every link (StandAlone) / start them. */
void wbd_repl_disconnect(struct wbd_repl *rp);
int wbd_repl_connect(struct wbd_repl *rp, bool discard_my_data, char *err, size_t errlen);

struct wbd_repl_peer_status {
	unsigned idx; /* the peer's place (wbd_repl_verify_peer): removed ones are left out */
	const char *node;
	const char *connection;	 /* "Connected", "Connecting", "StandAlone" */
	const char *role;	 /* "primary", "secondary", "unknown" */
	const char *disk;	 /* "UpToDate", "Outdated", "DUnknown" */
	const char *replication; /* "Established", "Congested", "CatchingUp", "Off", ... */
	bool has_seq_lag;
	int64_t seq_lag;     /* records the peer lacks compared with this node
			      * (primary: not acked durable); < 0: it has more */
	uint64_t acked_dur;  /* every seq below is durable on the peer, as known */
	const char *problem; /* "" or why the link was last refused */
	bool has_oos;	     /* primary: the peer's bitmap (engine) */
	uint64_t oos;	     /* bytes out of sync */
	/* a resync runs (SyncSource / SyncTarget): bytes in all, done, rate
	 * in bytes/s since it started, time left at that rate */
	bool resync;
	uint64_t rs_total, rs_done, rs_rate, rs_eta_ms;
	bool rs_throttled; /* SyncTarget held at c-min-rate: records arrive */
	/* SyncTarget: its window of bytes asked and not answered, and the
	 * queueing its last answer saw (c-delay-target) */
	bool has_rs_window;
	uint64_t rs_window, rs_queue_us;
	bool rs_paused;	      /* it asks for no data: wbctl pause-sync here or there */
	const char *rs_after; /* NULL, or it waits for this resource's resync (resync-after) */
	bool rs_hook;	      /* it drains the log / waits for before-resync-target */
	bool peer_paused;     /* the peer's operator paused its resyncs */
	/* primary, peer connected: its link's send queue (bytes queued, the
	 * cap); congested: the queue was full, the peer catches up from the
	 * log and write-back still waits for it (replication "Congested") */
	bool has_sndq, congested;
	uint64_t sndq, sndq_max;
	/* records this node's log keeps for the peer (its hold: not acked
	 * durable, or not connected since this node started; within
	 * peer-retention) */
	bool has_kept;
	uint64_t kept;
	/* when the certificate the peer presented last expires (seconds
	 * since the epoch); 0: none seen */
	int64_t cert_not_after;
};
/* wbctl pause-sync / resume-sync: every resync of the resource, to or
 * from this node, asks for no more data until resumed (the peers are
 * told; requests in flight complete); msg says what it did. Lasts until
 * resume-sync or a restart. Whether this node paused them. */
int wbd_repl_pause_sync(struct wbd_repl *rp, bool pause, char *msg, size_t len);
bool wbd_repl_sync_paused(const struct wbd_repl *rp);
/* The current data generation UUID (false: none, log format 1). */
bool wbd_repl_data_uuid(const struct wbd_repl *rp, uint8_t out[16]);
/* This node's disk state: "UpToDate", "Outdated" or "Consistent". */
const char *wbd_repl_disk(const struct wbd_repl *rp);
/* Why the disk is not UpToDate, into buf ("" when it is) */
void wbd_repl_disk_reason(const struct wbd_repl *rp, char *buf, size_t len);
/* Nodes removed by a reload (their bitmap slot kept until the next up):
 * up to max names into out (valid while rp lives); the count. */
/* wbctl forget-peer: node, removed by a reload, gives up its bitmap slot
 * now (marked whole durably, its name cleared: free for another node; the
 * node added back later gets a full sync). 0 with what was done in msg,
 * or -ENOENT (no such node), -EBUSY (still a peer), -EALREADY. */
int wbd_repl_forget_peer(struct wbd_repl *rp, const char *node, char *msg, size_t len);
unsigned wbd_repl_removed_names(const struct wbd_repl *rp, const char **out, unsigned max);
unsigned wbd_repl_status(struct wbd_repl *rp, struct wbd_repl_peer_status *st, unsigned max);

/* ---- online verify (repl_verify.c, docs/replication.md "Online verify") ---- */

/*
 * Primary: compare the whole device with every connected secondary, at
 * most rate bytes/s (0 = unlimited), in the background; blocks that differ
 * are marked in that peer's dirty bitmap. 0, or -errno with err set
 * (-EPERM secondary, -EBUSY one runs, -ENOTCONN no secondary connected).
 */
int wbd_repl_verify_start(struct wbd_repl *rp, uint64_t rate, char *err, size_t errlen);
struct wbd_repl_verify_status {
	const char *state; /* NULL never ran, "running", "done", "aborted" */
	uint64_t done_bytes, total_bytes, eta_ms, rate;
};
void wbd_repl_verify_status(const struct wbd_repl *rp, struct wbd_repl_verify_status *vs);
struct wbd_repl_verify_peer {
	const char *state;		 /* "running", "done", "aborted: why" */
	uint64_t oos, skipped, compared; /* bytes */
	uint64_t unread;		 /* of oos: bytes the peer could not read */
};
/* The last run's result for peer number i (wbd_repl_status order); false:
 * the peer took no part in one. */
bool wbd_repl_verify_peer(const struct wbd_repl *rp, unsigned i, struct wbd_repl_verify_peer *out);

#endif /* WB_DAEMON_REPL_H */
