/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * repl_int.h - internals of the replication glue shared by its files:
 * repl.c (hellos, shipping, catch-up, applying, acks, the ack gate) and
 * repl_role.c (role changes, links on/off, status). Not for other modules:
 * they use repl.h.
 *
 * Threads: everything on the resource's event base (= the engine thread).
 */
#ifndef WB_DAEMON_REPL_INT_H
#define WB_DAEMON_REPL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "conf/wbconf.h"
#include "daemon/repl.h"
#include "engine/wbengine.h"
#include "proto/peerproto.h"

/* This node's data as far as it knows (docs/replication.md, "Status"). */
enum repl_disk {
	REPL_DISK_CONSISTENT = 0, /* secondary, no primary seen since start */
	REPL_DISK_OUTDATED,	  /* secondary behind a connected primary */
	REPL_DISK_UPTODATE,	  /* primary, or caught up with the primary */
};

/* How two nodes' data generations relate on connect (repl_uuid.c). */
enum repl_rel {
	REPL_REL_UNKNOWN = 0,	/* one side has no UUIDs (log format 1, engine) */
	REPL_REL_SAME,		/* same generation: positions decide */
	REPL_REL_PEER_BEHIND,	/* the peer's generation is in this node's past */
	REPL_REL_ME_BEHIND,	/* this node's generation is in the peer's past */
	REPL_REL_PEER_DIVERGED, /* ... but the peer wrote past the common point */
	REPL_REL_ME_DIVERGED,	/* ... but this node wrote past the common point */
	REPL_REL_SPLIT,		/* neither: both were primary (split brain) */
};

/* One side's UUIDs and seq head, for wbd_repl_uuid_relate(). */
struct repl_uuids {
	uint8_t cur[WB_META_UUID_LEN];
	uint8_t hist[WB_META_MAX_HISTORY][WB_META_UUID_LEN];
	unsigned nhist;
	uint64_t head; /* next seq (primary: the next it ships) */
};

struct wbd_repl;

struct repl_peer {
	struct wbd_repl *rp;
	unsigned idx; /* engine peer index */
	char node[WBCONF_NAME_MAX + 1];
	struct wbd_peerlink *l;
	uint64_t epoch; /* connection count: stale read-backs are ignored */
	bool up, live, reading, blocked, primary_peer;
	bool standalone; /* wbctl disconnect: the link is stopped */
	uint64_t next;	 /* primary: next seq to send */
	/* seq + 1 acked at that level; on a secondary, acked_dur of another
	 * secondary is its durable position (told with DURABLE acks) */
	uint64_t acked_mem, acked_dur;
	char problem[400]; /* why this link was last refused, "" if not */
	uint64_t hold;	   /* the log keeps records from this seq for it, 0: none */
	enum repl_rel rel; /* data generations at the last hello check */
	bool split;	   /* refused for diverged data: StandAlone */
};

/* secondary: a record the engine had no room for (-EAGAIN) */
struct repl_pend {
	bool used;
	struct repl_peer *p;
	struct wb_record rec;
	struct wb_extent ext[WBP_MAX_EXTENTS];
	void *data; /* malloc'd, owned */
};

/* primary: a request whose reply waits for the peers */
struct repl_held {
	struct repl_held *next;
	struct wb_req *wr;
	void (*release)(struct wb_req *wr, int err);
	uint64_t need; /* every seq < need acked by enough peers */
};

struct wbd_repl {
	struct event_base *base;
	char protocol;
	unsigned min_peers;
	void (*changed)(void *arg);
	void *carg;
	unsigned healthy;	 /* last count reported through changed */
	enum wbd_repl_gate gate; /* set by the mode policy */
	bool stopping;		 /* wbd_repl_release_all: no more holding */
	struct repl_held *held, **held_tail;
	unsigned nheld;
	char res[WBCONF_NAME_MAX + 1];
	char local[WBCONF_NAME_MAX + 1];
	struct wb_engine *e;
	bool primary;
	enum repl_disk disk;
	uint64_t sync_target;  /* secondary: seq_head to reach for UpToDate */
	uint64_t shipped_next; /* primary: seq the ship hook gives next */
	struct event *ev_work;
	unsigned npeers;
	struct repl_peer peers[WB_ENGINE_MAX_PEERS];
	struct repl_pend pend;
	void *rxbuf; /* secondary: receive buffer, rxcap bytes */
	size_t rxcap;
	unsigned refs;	   /* record references held by link payloads */
	unsigned applying; /* apply_record / metadata done() callbacks outstanding */
	/* data generation UUIDs (repl_uuid.c): the engine's durable copy */
	bool has_meta, meta_busy;
	struct wb_meta meta;
	ProtobufCBinaryData hist_pb[WB_META_MAX_HISTORY]; /* hello's history */
	struct repl_verify *vf; /* online verify (repl_verify.c), NULL until used */
};

/* Peers connected and up to date (primary: live; secondary: link up). */
static inline unsigned repl_healthy(const struct wbd_repl *rp)
{
	unsigned n = 0;

	for (unsigned i = 0; i < rp->npeers; i++)
		n += rp->peers[i].up && (!rp->primary || rp->peers[i].live);
	return n;
}

static inline void work_kick(struct wbd_repl *rp)
{
	if (rp->ev_work)
		event_active(rp->ev_work, EV_TIMEOUT, 0);
}

/* repl.c: install (on) or remove the engine's ship hooks. 0 or -errno. */
int wbd_repl_hooks(struct wbd_repl *rp, bool on);
/* repl.c: the role or the number of healthy peers changed: tell the
 * mode policy (opts.changed). */
void wbd_repl_peers_check(struct wbd_repl *rp, bool role_changed);
/* repl.c: keep records from seq on in the log for p (set_peer_pos; every
 * role: a secondary's records may be what another one lacks after a
 * failover). */
void wbd_repl_log_hold(struct repl_peer *p, uint64_t seq);
/* repl.c: a secondary's local seq_head moved or a primary connected:
 * UpToDate once it reached sync_target. */
void wbd_repl_disk_check(struct wbd_repl *rp);

/* repl_verify.c: a verify-request or verify-reply frame from p; a record
 * was shipped (primary: ranges it touches are compared again); a record
 * was applied (durable false) or became durable (secondary); p's link went
 * down; free everything (waits for the reads in flight). */
void wbd_repl_verify_frame(struct repl_peer *p, const struct wbp_msg *m);
void wbd_repl_verify_shipped(struct wbd_repl *rp, const struct wb_record *rec);
void wbd_repl_verify_applied(struct wbd_repl *rp, uint64_t seq, bool durable);
void wbd_repl_verify_peer_down(struct repl_peer *p);
void wbd_repl_verify_free(struct wbd_repl *rp);

/* repl_uuid.c */
enum repl_rel wbd_repl_uuid_relate(const struct repl_uuids *me, const struct repl_uuids *peer,
			       uint64_t *common);
void wbd_repl_uuids_mine(const struct wbd_repl *rp, uint64_t head, struct repl_uuids *u);
void wbd_repl_uuids_hello(const Wbrep__Hello *h, struct repl_uuids *u);
void wbd_repl_uuid_hex(const uint8_t *u, char out[2 * WB_META_UUID_LEN + 1]);
void wbd_repl_uuid_hello_fill(struct wbd_repl *rp, Wbrep__Hello *h);
int wbd_repl_uuid_check(struct repl_peer *p, const Wbrep__Hello *h, const char **why);
/* Promotion: a new generation beginning at seq, durably; then(rp, err)
 * after. -EOPNOTSUPP: no metadata (log format 1, engine without it). */
int wbd_repl_uuid_new(struct wbd_repl *rp, uint64_t seq, void (*then)(struct wbd_repl *rp, int err));
/* A secondary caught up with its primary p takes p's UUIDs (async). */
void wbd_repl_uuid_adopt(struct repl_peer *p);

#endif /* WB_DAEMON_REPL_INT_H */
