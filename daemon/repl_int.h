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

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "conf/wbconf.h"
#include "daemon/ioloop.h"
#include "daemon/repl.h"
#include "engine/clock.h"
#include "engine/wbengine.h"
#include "proto/peerproto.h"

/* This node's data as far as it knows (docs/replication.md, "Status"). */
enum repl_disk {
	REPL_DISK_CONSISTENT = 0, /* secondary, no primary seen since start */
	REPL_DISK_OUTDATED,	  /* secondary behind a connected primary */
	REPL_DISK_UPTODATE,	  /* primary, or caught up with the primary */
	REPL_DISK_INCONSISTENT,	  /* a resync to this node has not finished */
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
	/* behind, but with records past the common point that carry no data
	 * (empty generation ends an old primary wrote alone): the same data,
	 * not the same log: a resync that restarts the behind one's log */
	REPL_REL_PEER_BEHIND_LOG,
	REPL_REL_ME_BEHIND_LOG,
	/* behind, with records (data) past the common point that the other
	 * never had: an old primary that crashed while connected (never
	 * acknowledged under protocol C): rolled back, i.e. its log restarts
	 * at the other's head and the blocks of those records are resynced
	 * from the other (never merged) */
	REPL_REL_PEER_ROLLBACK,
	REPL_REL_ME_ROLLBACK,
};

/* One side's UUIDs and seq head, for wbd_repl_uuid_relate(). */
struct repl_uuids {
	uint8_t cur[WB_META_UUID_LEN];
	uint8_t hist[WB_META_MAX_HISTORY][WB_META_UUID_LEN];
	unsigned nhist;
	uint64_t head;	    /* next seq (primary: the next it ships) */
	uint64_t data_head; /* seq after the newest record with data (<= head) */
};

struct wbd_repl;
struct repl_rs_src;
struct repl_rs_tgt;

/* Resync of one peer (repl_resync.c, docs/replication.md "Resync"). */
enum repl_rs_state {
	REPL_RS_NONE = 0,
	REPL_RS_SOURCE, /* primary: this peer is resynced from here */
	REPL_RS_TARGET, /* secondary: this node is resynced from this peer */
};

struct repl_rs {
	enum repl_rs_state state;
	bool full;	      /* every region (initial full sync, discard) */
	bool want;	      /* primary, decided at the hello: resync at UP */
	bool rebase;	      /* ... and the peer's log restarts at the source's seq */
	uint64_t fork;	      /* ... a discard from this seq on (BitmapChunk.fork_seq) */
	uint64_t total, done; /* bytes to resync / resynced (progress) */
	uint64_t t0_ms;	      /* start (rate, ETA) */
	bool throttled;	      /* target: paced at c-min-rate at its last request */
	/* wbctl pause-sync: since when it is paused (0: not), and for how long
	 * it was before (the rate leaves paused time out) */
	uint64_t paused_at, paused_ms;
	bool after_wait; /* target: waits for rp->rs_after's resync (resync-after) */
	struct repl_rs_src *src;
	struct repl_rs_tgt *tgt;
};

struct repl_peer {
	struct wbd_repl *rp;
	unsigned idx; /* its place in rp->peers (verify, peer reads: bit masks) */
	/* the engine's peer number: its dirty bitmap slot and its hold on the
	 * log (repl.c, repl_assign_slots: the slot the log keeps under its
	 * name, else a free one; >= the log's bitmap count: none) */
	unsigned slot;
#define REPL_NO_SLOT (~0u)
	char node[WBCONF_NAME_MAX + 1];
	struct wbd_peerlink *l;
	uint64_t epoch; /* connection count: stale read-backs are ignored */
	bool up, live, reading, blocked, primary_peer;
	bool durable_only; /* secondary: the primary wants no IN_MEMORY acks */
	bool wr_late;	   /* secondary: its newest written_ack record's DURABLE may go late */
	bool standalone;   /* wbctl disconnect: the link is stopped */
	/* its operator paused its resyncs (hello / peer-state sync_paused);
	 * knows_state: its hello had the field, it takes peer-state frames */
	bool peer_paused, knows_state;
	/* a reload took its [node] section away (wbd_repl_remove_node): the
	 * link stopped for good, no hold on the log, not counted, not shown;
	 * its bitmap slot stays its own and tracks (a re-added node of the
	 * same name resyncs from it) until a restart frees it */
	bool removed;
	/* removed, and its slot given up (wbctl forget-peer): slot is
	 * REPL_NO_SLOT, it counts for nothing; added back, it is a new node */
	bool forgotten;
	/* primary: left live only because its send queue was full
	 * (congestion = block): it catches up from the log but stays
	 * healthy, so write-back holds the replies for it (backpressure)
	 * instead of going write-through and running ahead of the link */
	bool congested;
	uint64_t next; /* primary: next seq to send */
	/* seq + 1 acked at that level (acked_wr >= acked_dur: durable is
	 * written too); on a secondary, acked_wr / acked_dur of another
	 * secondary are the positions it told (tell_now: WRITTEN acks carrying
	 * the durable one); of the primary, acked_dur is its own durable
	 * position, told by its ACK_DURABLE frames (told_dur: on this
	 * connection; repl.c, "the primary's durable position") */
	uint64_t acked_mem, acked_wr, acked_dur;
	bool told_dur;
	char problem[400]; /* why this link was last refused, "" if not */
	/* the largest size its backing allows, as its latest hello said (0:
	 * not told: a wbrepd before online grow) (repl_grow.c) */
	uint64_t max_size;
	uint64_t gq_wait;  /* primary: the size query it has not answered, 0: none */
	uint64_t hold;	   /* the log keeps records from this seq for it, 0: none */
	enum repl_rel rel; /* data generations at the last hello check */
	uint64_t common;   /* ... and their common point (0: none) */
	bool split;	   /* refused for diverged data: StandAlone */
	/* this node's current data generation UUID as its hello on the
	 * link's latest connection told it (zero: none told) */
	uint8_t told_uuid[WB_META_UUID_LEN];
	/* primary: the engine bitmap of this peer is tracking (every record
	 * marks it) while the peer is not known to be in sync; clear_at != 0:
	 * clear it and stop once the peer acked every seq below clear_at */
	bool tracking;
	uint64_t clear_at;
	bool clear_rs; /* clear_at set by a finished resync: marks go too */
	/* late DURABLE acks (repl.c, "late durable acks"). Primary: late_next
	 * = seq + 1 of the newest record sent with durable_ack_late, bar_asked
	 * = the durable position a barrier asked for, bar_id its id.
	 * Secondary, for its primary: dur_next = seq + 1 of the newest record
	 * durable here (this connection), dur_late = the same not acked yet
	 * (0: none), bar_seq/bar_id = a barrier waiting for that durable seq
	 * (bar_wait). */
	uint64_t late_next, bar_asked, bar_id;
	uint64_t dur_next, dur_late, bar_seq;
	bool bar_wait;
	struct repl_rs rs;
};

/* secondary: a record the engine had no room for (-EAGAIN) */
struct repl_pend {
	bool used;
	bool late;	/* the record's durable_ack_late (written_ack: rec.apply_flags) */
	bool mem_acked; /* acked IN_MEMORY on the io loop (wbd_peerlink_mem_acked) */
	struct repl_peer *p;
	struct wb_record rec;
	struct wb_extent ext[WBP_MAX_EXTENTS];
	void *data;		/* malloc'd, owned */
	struct wb_page **pages; /* or the data in RAM-buffer pages (rec.pages), owned */
	uint32_t npages;
};

/* primary: a request whose reply waits for the peers */
struct repl_held {
	struct repl_held *next;
	struct wb_req *wr;
	void (*release)(struct wb_req *wr, int err);
	uint64_t need; /* every seq < need acked by enough peers */
	int q;	       /* its queue (REPL_HQ_*) */
	/* the io loop may send it (repl.c, "Replies released on the io
	 * loop"): fast.loop != NULL; m: then back to the engine */
	struct wbd_repl_fast fast;
	struct wbd_repl_fast *fast_req; /* the frontend's (io_reply's argument) */
	struct wbd_repl *rp;
	struct wbd_ioloop_msg m;
};

/* primary: the one held reply an io loop may release (repl.c, "Replies
 * released on the io loop"). state: REPL_FAST_FREE, _CHECK (an io loop
 * looks at it), _TAKEN (an io loop sent it; its m comes back to the
 * engine), or the ticket of an armed reply (>= REPL_FAST_T0). The fields
 * below refs are written by the engine while FREE and read by the io loop
 * that holds CHECK. */
#define REPL_FAST_FREE	0u
#define REPL_FAST_CHECK 1u
#define REPL_FAST_T0	2u
#define REPL_FAST_TAKEN UINT64_MAX
struct repl_fast {
	_Atomic uint64_t state;
	_Atomic unsigned refs; /* the glue's and each link's (io_put) */
	uint64_t ticket;       /* engine: the last one given */
	struct repl_held *h;
	uint64_t need;
	char lvl; /* 'B' (acked_mem), 'W' (acked_wr) or 'C' (acked_dur) */
	unsigned min, n;
	struct wbd_peerlink *l[WB_ENGINE_MAX_PEERS];
	uint64_t conn[WB_ENGINE_MAX_PEERS];
};

/* primary: held replies that wait for the same ack level, in order */
struct repl_hq {
	struct repl_held *head, **tail;
};

/* which queue: the protocol's level, or the peers' RAM (ack = memory) */
enum { REPL_HQ_PROTO = 0, REPL_HQ_MEM = 1, REPL_HQ_WR = 2, REPL_NHQ = 3 };

struct wbd_repl {
	struct event_base *base;
	char protocol;
	/* ack = memory: in write-back a plain write (no FUA) waits for its
	 * peers' RAM buffers only (protocol B), flushes and FUA writes for
	 * `protocol` (docs/replication.md, "ack = memory and the peers") */
	bool ack_mem;
	unsigned min_peers;
	int after_sb;  /* after-sb-1pri (enum wbconf_after_sb): repl_uuid.c */
	int after_sb0; /* after-sb-0pri (enum wbconf_after_sb0): repl_uuid.c */
	void (*changed)(void *arg);
	void *carg;
	unsigned healthy;	 /* last count reported through changed */
	enum wbd_repl_gate gate; /* set by the mode policy */
	bool stopping;		 /* wbd_repl_release_all: no more holding */
	bool failed;		 /* the engine failed: links dropped, hellos refused */
	char failed_why[400];	 /* the refusal the peers get meanwhile */
	/* a secondary growing to its primary's size (repl_grow.c): hellos
	 * are refused with grow_why until it is done */
	bool growing;
	/* the log's bitmap slots had names when the peers took theirs
	 * (repl_assign_slots): an unnamed slot is then a freed one */
	bool bm_named;
	char grow_why[400];
	/* primary: a size query running (wbd_repl_grow_query), 0: none */
	uint64_t gq_id, gq_last;
	struct event *gq_timer;
	void (*gq_done)(void *arg);
	void *gq_arg;
	struct repl_hq hq[REPL_NHQ];
	unsigned nheld; /* in both queues and fast */
	struct repl_fast *fast;
	struct wbd_ioloop *loop; /* the first link's io loop, its NBD connections' */
	char res[WBCONF_NAME_MAX + 1];
	char local[WBCONF_NAME_MAX + 1];
	struct wb_engine *e;
	bool primary;
	enum repl_disk disk;
	uint64_t sync_target;  /* secondary: seq_head to reach for UpToDate */
	uint64_t shipped_next; /* primary: seq the ship hook gives next */
	struct event *ev_work;
	/* secondary: the durable position for the other secondaries, told
	 * at most every REPL_TELL_US (repl.c, tell_others); tell_at: when
	 * last told (the loop's cached clock, us) */
	struct event *ev_tell;
	struct event *ev_dur; /* secondary: sends a late DURABLE ack */
	uint64_t tell_seq, tell_at;
	/* primary: its durable position as last told to its secondaries;
	 * ev_src tells it again while it moves (repl.c, src_tell) */
	struct event *ev_src;
	uint64_t src_told;
	/* secondary: seq + 1 of the newest record applied WB_APPLY_F_WRITTEN
	 * (written, maybe not durable yet) and of the newest durable one here;
	 * wbd_repl_after_run acks the durable position as it moves */
	uint64_t wr_pos, dur_pos;
	unsigned npeers;
	struct repl_peer peers[WB_ENGINE_MAX_PEERS];
	struct repl_pend pend;
	unsigned refs;	   /* record references held by link payloads */
	unsigned applying; /* apply_record / metadata done() callbacks outstanding */
	/* data generation UUIDs (repl_uuid.c): the engine's durable copy */
	bool has_meta, meta_busy;
	bool adopt_wait; /* an adopt found meta_busy: disk check again after it */
	/* secondary: its generation changed during a resync into it: new
	 * hellos with the other secondaries at its end (repl_uuid.c) */
	bool relink_secs;
	/* primary without an up-to-date peer (it lost the last one, or it
	 * started as primary): before it acknowledges a write that peer may
	 * lack, a new data generation from rot_seq on is made durable
	 * (rot_busy: being written; replies wait). docs/replication.md */
	bool rot_pending, rot_busy;
	uint64_t rot_seq;
	struct wb_meta meta;
	ProtobufCBinaryData hist_pb[WB_META_MAX_HISTORY]; /* hello's history */
	struct repl_verify *vf; /* online verify (repl_verify.c), NULL until used */
	/* primary: reads that failed here, served by a peer (repl_peerread.c),
	 * NULL until used; rd_peer_served: how many a peer served since up
	 * (the resource counts the failed ones) */
	struct repl_peerread *pr;
	uint64_t rd_peer_served;
	uint64_t rd_repaired;	  /* bytes served by a peer and written back here */
	uint32_t bm_region;	  /* bytes per bitmap bit; 0: the log has no bitmaps */
	uint64_t data_head;	  /* seq after the newest record with data (hello) */
	size_t sndq_max;	  /* send-queue-max of every link, 0: default */
	uint32_t ping_timeout_ms; /* ping-timeout of every link, 0: default */
	/* resync (repl_resync.c) */
	struct wb_io *backing; /* target: resync data goes straight here */
	uint64_t rs_rate;      /* resync-rate, bytes/s (0: no limit) */
	uint64_t rs_min_rate;  /* c-min-rate: the rate while records arrive (0: none) */
	uint32_t rs_delay_ms;  /* c-delay-target: queueing a resync may add (0: off) */
	uint64_t app_ms;       /* secondary: when the last record with data came */
	bool rs_checksum;      /* resync-checksum */
	bool sync_paused;      /* wbctl pause-sync on this node */
	char rs_after[WBCONF_NAME_MAX + 1]; /* resync-after, "" = none */
	char *rs_before;		    /* before-resync-target, NULL = none */
	char *backing_path;		    /* told to it (WB_BACKING) */
	const struct wbd_repl_env *env;	    /* the daemon's (resync-after's lookup) */
	bool discard;			    /* wbctl connect --discard-my-data, until resynced */
	struct repl_peer *rs_peer;	    /* target: the peer this node resyncs from */
	unsigned rs_writes;		    /* target: resync writes to the backing in flight */
};

/* Connected and up to date (primary: live, or only congested, and not
 * being resynced; secondary: link up). */
static inline bool repl_peer_healthy(const struct wbd_repl *rp, const struct repl_peer *p)
{
	return p->up && !p->removed &&
	       (!rp->primary || ((p->live || p->congested) && p->rs.state == REPL_RS_NONE));
}

/* Primary: connected, caught up (live: every record shipped is queued to
 * it before what is sent now) and not being resynced. */
static inline bool repl_peer_current(const struct repl_peer *p)
{
	return p->up && p->live && !p->primary_peer && p->rs.state == REPL_RS_NONE;
}

/* The sender of hello h holds no data to keep: its disk is Inconsistent (a
 * resync to it has not finished) or it throws its data away (a discard:
 * --discard-my-data, after-sb), so its records count for nothing. */
static inline bool repl_hello_void(const Wbrep__Hello *h)
{
	return (h->has_inconsistent && h->inconsistent) ||
	       (h->has_discard_my_data && h->discard_my_data);
}

/* Peers connected and up to date. */
static inline unsigned repl_healthy(const struct wbd_repl *rp)
{
	unsigned n = 0;

	for (unsigned i = 0; i < rp->npeers; i++)
		n += repl_peer_healthy(rp, &rp->peers[i]);
	return n;
}

static inline void work_kick(struct wbd_repl *rp)
{
	if (rp->ev_work)
		event_active(rp->ev_work, EV_TIMEOUT, 0);
}

/* repl.c: read nblocks blocks from lba through this node's engine (data
 * still in the log counts) into buf; wr is (re)initialised and completes
 * through done(wr, err) with priv. 0 or -errno from submit (done not
 * called then). For verify and resync. */
int wbd_repl_read_blocks(struct wbd_repl *rp, struct wb_req *wr, uint64_t lba, uint32_t nblocks,
			 void *buf, void (*done)(struct wb_req *, int), void *priv);
/* repl.c: the engine's hooks: ship and peer_dropped when on (a primary),
 * log_unreadable always (a secondary's destage asks its primary too). 0 or
 * -errno. */
int wbd_repl_hooks(struct wbd_repl *rp, bool on);
/* repl.c: the role or the number of healthy peers changed: tell the
 * mode policy (opts.changed). */
void wbd_repl_peers_check(struct wbd_repl *rp, bool role_changed);
/* repl.c: keep records from seq on in the log for p (set_peer_pos; every
 * role: a secondary's records may be what another one lacks after a
 * failover; 0: none). 0, or the engine's -errno (the hold unchanged). */
int wbd_repl_log_hold(struct repl_peer *p, uint64_t seq);
/* repl.c: a secondary's local seq_head moved or a primary connected:
 * UpToDate once it reached sync_target. */
void wbd_repl_disk_check(struct wbd_repl *rp);
/* repl.c, primary: the peer is not known to be in sync from seq on: its
 * bitmap tracks every record from seq (everything when the log no longer
 * has seq). */
void wbd_repl_bm_track(struct repl_peer *p, uint64_t seq);
/* p's bitmap tracks every record from seq on (already from no later, or
 * folded from the log now; 0 counts as 1): 0, or -errno (-ENOENT: the
 * log no longer has seq and the tracking starts later) */
int wbd_repl_bm_cover(struct repl_peer *p, uint64_t seq);
/* Bytes the peer's bitmap marks (false: no bitmaps). */
bool wbd_repl_bm_oos(struct repl_peer *p, uint64_t *bytes);
/* The peer acked something: clear its bitmap if it is in sync now. */
void wbd_repl_bm_ack(struct repl_peer *p);

/* repl_resync.c (source, dispatch, status) and repl_synctarget.c (target) */
/* requests a target has outstanding (4 before 2026-12-02; sources accept
 * 2x this) */
#define RS_INFLIGHT	8
#define RS_REQ_MAX	(1u << 20) /* bytes per request */
#define RS_MARK0	0x52	   /* marker data UUID bytes 6..7 'RS': Inconsistent */
#define RS_MARK1	0x53
#define RS_MARK_DISCARD 0x44 /* byte 8 'D': ... and it discards its data (not rebased yet) */
/* bytes 12..15 of a marker: which node the resync came from (le32
 * crc32c of its name, never 0; 0: not known, a marker from before
 * 2026-12-03). Only that node's bitmap of it knows which regions the
 * resync had not done; any other source must copy every region. */
uint32_t wbd_repl_rs_src_tag(const char *node);
/* repl_uuid.c: the connected primary this secondary follows, other than
 * except, in the same data generation (NULL: none, or this node is
 * primary) */
const char *wbd_repl_followed(const struct wbd_repl *rp, const struct repl_peer *except);
/* repl_uuid.c: this node is primary with an up-to-date peer other than
 * except (the hello's replicating) */
bool wbd_repl_replicating(const struct wbd_repl *rp, const struct repl_peer *except);
bool wbd_repl_rs_marked_by(const uint8_t *u, const char *node);
uint64_t wbd_repl_rs_popcount(const uint8_t *bits, uint64_t nbits);
void wbd_repl_rs_event(struct repl_peer *p, const char *role, const char *what);
void wbd_repl_rs_on_bitmap(struct repl_peer *p, const Wbrep__BitmapChunk *m, const void *data);
void wbd_repl_rs_on_data(struct repl_peer *p, const Wbrep__ResyncData *m, void *data);
void wbd_repl_rs_tgt_free(struct repl_peer *p);
void wbd_repl_rs_rate_changed(struct repl_peer *p);
/* A sync target's window (c-delay-target; the fixed bound when off) and
 * the queueing its last answer saw; false: no resync to this node runs */
bool wbd_repl_rs_tgt_window(const struct repl_peer *p, uint64_t *win, uint64_t *queue_us);
/* wbctl pause-sync (repl_resync.c): the resync with p asks for no data
 * (paused here or on p); a resync started (its clock); the target asks
 * again now (resumed: repl_synctarget.c) */
bool wbd_repl_rs_paused(const struct repl_peer *p);
/* resync-after: a target whose resync waits for another resource's (looked
 * at again every RS_AFTER_MS while it does; an event when it starts or
 * stops waiting) */
bool wbd_repl_rs_after_wait(struct repl_peer *p);
#define RS_AFTER_MS 500
void wbd_repl_rs_clock_start(struct repl_peer *p);
void wbd_repl_rs_poke(struct repl_peer *p);
/* the target drains its log or runs before-resync-target (status) */
bool wbd_repl_rs_hooked(const struct repl_peer *p);
bool wbd_repl_rs_marked(const uint8_t *uuid); /* the Inconsistent marker */
int wbd_repl_rs_decide(struct repl_peer *p, const Wbrep__Hello *h, const char **why);
void wbd_repl_rs_source_up(struct repl_peer *p);
void wbd_repl_rs_source_work(struct repl_peer *p);
void wbd_repl_rs_sent(struct repl_peer *p, const struct wb_record *rec);
void wbd_repl_rs_acked(struct repl_peer *p); /* more records durable there */
bool wbd_repl_rs_frame(struct repl_peer *p, const struct wbp_msg *m, void *data);
/* resync data buffers of the source's reads and the target's checksum
 * reads, reused (repl_resync.c); put: the len of the get */
void *wbd_repl_rs_buf_get(size_t len);
void wbd_repl_rs_buf_put(void *buf, size_t len);
void wbd_repl_rs_bufs_trim(void);
void wbd_repl_rs_reset(struct repl_peer *p);
void wbd_repl_rs_status(const struct repl_peer *p, struct wbd_repl_peer_status *s);

/* repl_verify.c: a verify-request or verify-reply frame from p; a record
 * was shipped (primary: ranges it touches are compared again); a record
 * was applied (durable false) or became durable (secondary); p's link went
 * down; free everything (waits for the reads in flight). */
void wbd_repl_verify_frame(struct repl_peer *p, const struct wbp_msg *m);
void wbd_repl_verify_shipped(struct wbd_repl *rp, const struct wb_record *rec);
void wbd_repl_verify_applied(struct wbd_repl *rp, uint64_t seq, bool durable);
void wbd_repl_verify_peer_down(struct repl_peer *p);
void wbd_repl_verify_free(struct wbd_repl *rp);

/* repl_peerread.c: a verify reply with data (a read from the peer); p's
 * link went down; this node's role changed; fail and free everything. */
void wbd_repl_peerread_reply(struct repl_peer *p, const Wbrep__VerifyReply *m, const void *data);
void wbd_repl_peerread_peer_down(struct repl_peer *p);
void wbd_repl_peerread_role(struct wbd_repl *rp);
void wbd_repl_peerread_free(struct wbd_repl *rp);
/* The engine's log_unreadable hook (from its run()): the range is asked
 * from a peer from the loop and handed to destage (wb_engine_destage_fill).
 * 0: tried; -EOPNOTSUPP (not a primary, stopping), -ENODEV (no peer can
 * serve). */
int wbd_repl_log_unreadable(struct wbd_repl *rp, uint64_t lba, uint32_t n);

/* repl_uuid.c */
enum repl_rel wbd_repl_uuid_relate(const struct repl_uuids *me, const struct repl_uuids *peer,
				   uint64_t *common);
/* Where two sides' data forked (--discard-my-data): the newest data
 * generation both had, and the first seq either side may hold differently
 * from the other: the lower of the seqs at which each side left it (a side
 * still in it: its head). false: no common generation, the same current
 * one, or a generation after it without a seq (a full sync then). */
bool wbd_repl_uuid_fork(const struct repl_uuids *me, const struct repl_uuids *peer, uint64_t *from);
/* How each side's first data generation after the newest one both had
 * began (a split brain, after-sb-0pri discard-younger/older-primary): 'S'
 * at a promotion (the node promoted after the split), 'L' on a primary
 * that went on without its last up-to-date peer (the primary at the
 * split), '-' none (still in it), '?' unknown (no common generation, a
 * UUID not made by wbrepd). */
void wbd_repl_uuid_began(const struct repl_uuids *me, const struct repl_uuids *peer, char *bm,
			 char *bp);
void wbd_repl_uuids_mine(const struct wbd_repl *rp, uint64_t head, struct repl_uuids *u);
void wbd_repl_uuids_hello(const Wbrep__Hello *h, struct repl_uuids *u);
void wbd_repl_uuid_hex(const uint8_t *u, char out[2 * WB_META_UUID_LEN + 1]);
/* u (WB_META_UUID_LEN bytes) is this node's current data generation or
 * one in its history. */
bool wbd_repl_uuid_known(const struct wbd_repl *rp, const uint8_t *u);
void wbd_repl_uuid_hello_fill(struct wbd_repl *rp, Wbrep__Hello *h);
/* This secondary throws its data away for a resync from the primary
 * (wbctl connect --discard-my-data; from != NULL: after-sb-1pri decided it
 * on from's connect, the other peers' links get the new hello too). */
void wbd_repl_discard(struct wbd_repl *rp, struct repl_peer *from);
int wbd_repl_uuid_check(struct repl_peer *p, const Wbrep__Hello *h, const char **why);
/* Promotion: a new generation beginning at seq, durably; then(rp, err)
 * after. -EOPNOTSUPP: no metadata (log format 1, engine without it). */
int wbd_repl_uuid_new(struct wbd_repl *rp, uint64_t seq,
		      void (*then)(struct wbd_repl *rp, int err));
/* The same for a primary that goes on without its last up-to-date peer
 * (a UUID of the "lost" kind: a peer whose current UUID is the one before
 * it holds only this primary's records, see wbd_repl_uuid_relate). */
int wbd_repl_uuid_new_lost(struct wbd_repl *rp, uint64_t seq,
			   void (*then)(struct wbd_repl *rp, int err));
/* repl.c: a primary's reply may wait for a new data generation (rot_*):
 * try again (the UUID update that was busy is done). */
void wbd_repl_rot_kick(struct wbd_repl *rp);
/* A secondary caught up with its primary p takes p's UUIDs (async). */
void wbd_repl_uuid_adopt(struct repl_peer *p);
/* Secondary: new hellos with the other secondaries whose relation was
 * decided by data generation (all: every one, after a resync or a roll-back
 * into this node); also those a generation change left for the end of the
 * resync that ran then. */
void wbd_repl_secs_relink(struct wbd_repl *rp, bool all);
/* SET_UUIDS m, then(rp, err) once durable. 0 or -errno (-EBUSY: another
 * update runs). */
int wbd_repl_uuid_set(struct wbd_repl *rp, const struct wb_meta *m,
		      void (*then)(struct wbd_repl *rp, int err));
/* Take p's (the primary's) UUIDs, then(rp, err) once durable;
 * -EOPNOTSUPP without metadata. */
int wbd_repl_uuid_take(struct repl_peer *p, void (*then)(struct wbd_repl *rp, int err));
/* repl_grow.c: a secondary, hello from a primary whose device is
 * larger: grow to it first (this hello is refused, the next one finds the
 * size). 0: nothing to do; -EPROTO with *why: refused for now. */
int wbd_repl_grow_hello(struct repl_peer *p, uint64_t size, const char **why);
/* repl_grow.c: a size query or reply from peer p (cb_frame). */
void wbd_repl_grow_frame(struct repl_peer *p, const struct wbp_msg *m);
/* repl_grow.c: stop: a query running ends now. */
void wbd_repl_grow_free(struct wbd_repl *rp);

#endif /* WB_DAEMON_REPL_INT_H */
