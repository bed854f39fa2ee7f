/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbengine.h - the one public header of the wbrep cache-engine library.
 *
 * An engine instance turns block requests (read, write, flush, FUA, discard,
 * write-zeroes) into I/O on a log device and a backing device. Engines are
 * pluggable: each is a const struct wb_engine_ops (version first, fields only
 * ever appended), registered built in ("wblog", "passthrough", "ram") or
 * loaded from a shared object that exports `wb_engine_plugin_ops`.
 *
 * Execution model (like liburing / Redis ae): single-threaded and
 * event-driven. wb_engine_submit() never blocks and never calls done()
 * itself; completions are delivered only from wb_engine_run(), which the
 * owner calls when wb_engine_fd() is readable, or after
 * wb_engine_timeout_ms() expires. done() may submit new requests.
 *
 * Block semantics (what frontends rely on; see docs/engine.md):
 *   - offsets and lengths are multiples of WB_BLOCK_SIZE (4096);
 *   - a completed write is visible to later reads, but only durable after a
 *     later flush completed (like a disk with a volatile cache);
 *   - WB_REQ_FLUSH completes only when every write that completed before
 *     the flush was submitted is durable;
 *   - a write with WB_REQ_F_FUA completes only when it is durable;
 *     WB_REQ_F_PREFLUSH = a flush before the write.
 *
 * Functions return 0 or -errno.
 */
#ifndef WB_ENGINE_H
#define WB_ENGINE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/io.h"

/* 2: set_params appended; 3: params ack_memory, log_commit_ms; 4: replication
 * (roles, record base, ship hook, read_record, peer retention, geometry);
 * 5: a write's buf is borrowed until admitted() (struct wb_req appended);
 * 6: replication metadata (meta, meta_update, upgrade; params node_id);
 * 7: per-peer dirty bitmaps (bm_*; params bitmap_peers, bitmap_region);
 * 8: a write may carry the crc32c of each of its blocks, computed by the
 * frontend on its own thread (struct wb_req crcs appended);
 * 9: a write may come in RAM-buffer pages the frontend filled on its own
 * thread (op pagebuf, struct wb_req pages appended);
 * 10: apply_record may take a record's data in RAM-buffer pages the
 * replication link filled on its own thread (struct wb_record pages
 * appended);
 * 11: apply_record may complete a record once it is written to the log,
 * before a log flush made it durable (struct wb_record apply_flags
 * appended, WB_APPLY_F_WRITTEN), and op log_sync asks for that flush now.
 * 12: snapshots of older generations (ops gen_span, snap_create, snap_drop,
 * snap_list, gen_at, snap_fence; struct wb_req snap and struct wb_engine_stats snapshots
 * appended).
 * 13: the owner of each bitmap slot, persisted (ops bm_owner, bm_owner_set).
 * 14: online grow (ops size_max, grow).
 * 15: read repair (op repair_mask).
 * 16: the log's data area grows into a grown log device (op grow_log).
 * 17: destage asks the host for a good copy of log blocks it cannot read
 * (struct wb_repl_hooks log_unreadable appended, op destage_fill).
 * A plugin is accepted when its abi_version is in [MIN, VERSION]; the
 * wrappers below call an op only if the plugin's table has it. */
#define WB_ENGINE_ABI_VERSION 17
#define WB_ENGINE_ABI_MIN     1
#define WB_BLOCK_SIZE	      4096u
#define WB_BLOCK_SHIFT	      12

enum wb_req_op {
	WB_REQ_READ = 1,
	WB_REQ_WRITE = 2,
	WB_REQ_FLUSH = 3,
	WB_REQ_DISCARD = 4,
	WB_REQ_WRITE_ZEROES = 5,
};

#define WB_REQ_F_FUA	  (1u << 0)
#define WB_REQ_F_PREFLUSH (1u << 1)
/* The caller has wb_engine_run() called after this submit (before it next
 * waits on wb_engine_fd()), so the engine need not make its fd readable
 * to get that run: one eventfd write and read less per request in wblog.
 * A hint: engines that do not know it ignore it. */
#define WB_REQ_F_RUN_AFTER (1u << 2)

struct wb_page;	   /* engine/pagebuf.h */
struct wb_pagebuf; /* engine/pagebuf.h */

struct wb_req {
	uint8_t op; /* enum wb_req_op */
	uint8_t rsvd;
	uint16_t flags; /* WB_REQ_F_* */
	uint32_t len;	/* bytes (0 for flush) */
	uint64_t off;	/* bytes */
	/* read: destination. write: source, borrowed: the engine reads it until
	 * it calls admitted() (or, when admitted is NULL, until done()), and
	 * makes no copy of its own. When the RAM buffer has room that is during
	 * submit; a write throttled for RAM pages keeps buf until pages free. */
	void *buf;
	/* Called exactly once from wb_engine_run(); err = 0 or -errno. */
	void (*done)(struct wb_req *r, int err);
	void *priv;
	/* engine private: do not touch while the request is in flight */
	uint64_t ep[6];
	/* ABI 5, writes, optional: the engine no longer reads buf. Called at
	 * most once, only if submit returned 0, always before done(); possibly
	 * from inside submit or from whatever frees RAM pages, so it must not
	 * call into the engine (defer that). */
	void (*admitted)(struct wb_req *r);
	/* ABI 8, writes, optional: crcs[i] = wb_crc32c(0, buf + i * 4096, 4096)
	 * for each of the len / 4096 blocks, computed by the frontend (the io
	 * loop that read the payload, docs/engine.md "Threads"), so that the
	 * engine loop does not: wblog takes them as the blocks' checksums
	 * (combined into its records' extent crcs) instead of computing them.
	 * Borrowed like buf. NULL: the engine computes what it needs. A wrong
	 * crc makes the record fail its data check at recovery. */
	const uint32_t *crcs;
	/* ABI 9, writes, optional: the data is already in these len / 4096
	 * pages of the engine's own RAM buffer (wb_engine_pagebuf(),
	 * wb_pagebuf_reserve(), engine/pagebuf.h), filled by the frontend on
	 * its own thread, each page's crc set (crc_ok = 1). buf is not read
	 * (NULL). When submit returns 0 the engine owns the caller's page
	 * references (it keeps them in its records or puts them, also on
	 * failure); on a non-zero return they stay the caller's. The array
	 * itself is borrowed like buf. Only for an engine whose pagebuf op
	 * returned the buffer the pages came from. */
	struct wb_page *const *pages;
	/* ABI 12, reads only: 0 = the device now; else the id of a snapshot
	 * (snap_create): the device as it was at the end of that snapshot's
	 * generation. -ESTALE (at submit or in done) when the snapshot was
	 * dropped. Other ops with a snap fail with -EROFS. */
	uint32_t snap;
	uint32_t rsvd2;
};

enum wb_mode {
	WB_MODE_WRITEBACK = 0,	  /* ack when in the log (and peers, daemon side) */
	WB_MODE_WRITETHROUGH = 1, /* drain, then ack only what is durable on backing */
};

/* Replication role (ABI 4). A replica never takes a seq or closes a
 * generation by itself: no generation timer, a flush makes the log durable
 * without closing the generation, local writes/discards fail with -EROFS;
 * only apply_record adds records. See docs/engine.md "Replication hooks". */
enum wb_role {
	WB_ROLE_PRIMARY = 0,
	WB_ROLE_REPLICA = 1,
};

enum wb_msg_level { WB_LOG_ERR = 3, WB_LOG_WARN = 4, WB_LOG_INFO = 6, WB_LOG_DEBUG = 7 };

#define WB_DESTAGE_RATE_NONE UINT64_MAX

struct wb_engine_params {
	const char *name;	      /* resource name, used in every message */
	struct wb_io *log_io;	      /* log device (wblog); not owned by the engine */
	struct wb_io *backing_io;     /* backing device; not owned by the engine */
	uint64_t size;		      /* exported size in bytes; 0 = backing size */
	uint32_t ram_pages;	      /* RAM buffer in 4 KiB pages; 0 = default (16384) */
	uint32_t gen_max_interval_ms; /* close a generation at least this often; 0 = never */
	uint32_t destage_low_pct;     /* destage runs down to this log use (default 10) */
	uint32_t destage_high_pct;    /* throttle writers above this (default 90) */
	/* bytes/s destage always makes below destage_low_pct; 0 = default
	 * (4 MiB/s), WB_DESTAGE_RATE_NONE = none (destage only above
	 * destage_low_pct, in write-through mode, draining and at close) */
	uint64_t destage_min_rate;
	uint32_t log_segment_size; /* format only; 0 = default (2 MiB) */
	const char *options;	   /* engine specific, "k=v,k=v"; NULL = none */
	/* ABI 3. ack_memory = 1: a write is acknowledged as soon as it is in
	 * the RAM buffer and readable, and becomes durable in the log within
	 * log_commit_ms (or at the next flush/FUA, whichever is first), like a
	 * disk's volatile write cache: a crash loses acknowledged writes that
	 * no completed flush covered. 0 (default): acknowledged once written to
	 * the log (not yet flushed). Flush and FUA semantics are the same. */
	uint32_t ack_memory;
	uint32_t log_commit_ms; /* ack_memory: longest ack -> durable time; 0 = 10 */
	/* ABI 4 (replication) */
	uint32_t role;		    /* enum wb_role at open (default primary) */
	uint32_t max_record_blocks; /* open: cap data blocks per record below the
				     * log's own limit (agreed in the hello); 0 = log's */
	uint64_t base_seq;	    /* format only: seq of the first record (0 = 1) */
	uint64_t base_gen;	    /* format only: its generation (0 = 1) */
	/* How far a lagging peer (set_peer_pos) may hold the log tail back:
	 * log bytes and records of destaged records kept for it; 0 = no limit
	 * of that kind. A hold never blocks writers: when the log is full the
	 * peer is dropped whatever the limits say. */
	uint64_t peer_retention_bytes;
	uint64_t peer_retention_records;
	/* ABI 6. Format only: the node id written into the log's metadata
	 * (struct wb_meta); 0 = not set. */
	uint32_t node_id;
	/* ABI 7. Format only: per-peer dirty bitmaps (docs/engine.md "Dirty
	 * bitmaps"): slots for peers 0..bitmap_peers-1 (0 = 4, at most
	 * WB_ENGINE_MAX_PEERS), bytes of the device per bit (0 = 64 KiB; a
	 * power of two, 4 KiB..1 GiB). */
	uint32_t bitmap_peers;
	uint32_t bitmap_region;
};

/*
 * Replication metadata of a log (ABI 6, on-disk format version 2; see
 * docs/engine.md "Replication metadata"). Data generation UUIDs: a node
 * that becomes primary starts a new current UUID (the old one goes to the
 * front of the history); a replica adopts its primary's current UUID and
 * history once it holds the same data. On connect, equal current UUIDs =
 * same data; one's current in the other's history = that one is behind;
 * neither = split brain.
 */
#define WB_META_MAX_HISTORY 8
#define WB_META_UUID_LEN    16
struct wb_meta {
	uint32_t version;		     /* on-disk format version of the log: 2, or 1 (no
					      * metadata: UUIDs all zero, node_id 0, updates refused) */
	uint32_t node_id;		     /* 0 = not set */
	uint8_t data_uuid[WB_META_UUID_LEN]; /* current data generation */
	uint8_t history[WB_META_MAX_HISTORY][WB_META_UUID_LEN]; /* previous, newest first */
	unsigned nhistory;					/* valid entries of history */
	uint64_t uuid_time;		    /* seconds since 1970: data_uuid set */
	uint8_t log_uuid[WB_META_UUID_LEN]; /* the log's own UUID (not replicated) */
};

/* A peer's dirty bitmap (ABI 7): a set bit = that region of the device may
 * differ on the peer. */
struct wb_bm_info {
	uint32_t region_size;	   /* bytes per bit; 0: the log has no bitmaps */
	uint32_t npeers;	   /* bitmap slots: peers 0..npeers-1 */
	uint64_t nbits;		   /* regions of the device */
	uint64_t dirty;		   /* set bits of this peer (in memory) */
	uint32_t tracking;	   /* every new record marks this bitmap */
	uint32_t tracking_durable; /* ... and that is on disk */
	uint64_t stamp;		   /* on disk: covers every record < stamp (while tracking) */
	uint32_t marked;	   /* bits set as WB_BM_FOUND: kept until every bit is cleared */
};
#define WB_BM_TRACK_HEAD UINT64_MAX /* bm_track: from the next record on */

enum wb_meta_op {
	WB_META_NEW_UUID = 1,	 /* current -> history[0] (oldest dropped), new random current */
	WB_META_SET_UUIDS = 2,	 /* current + history := m->data_uuid, history, nhistory */
	WB_META_SET_NODE_ID = 3, /* node_id := m->node_id */
};

/* One log record as it travels between nodes (apply_record) or tools. */
struct wb_extent {
	uint64_t lba;	  /* in 4 KiB blocks */
	uint32_t nblocks; /* 0 in a record = discard of that range is NOT encoded here */
	uint32_t crc;	  /* crc32c of the extent's data */
};

struct wb_record {
	uint64_t seq;
	uint64_t gen;
	uint32_t nextents;
	uint32_t flags; /* WB_REC_F_* */
	const struct wb_extent *ext;
	const void *data; /* sum(nblocks) * 4096 bytes, extents in order */
	uint64_t time_ns; /* ABI 4: the primary's seal time (CLOCK_REALTIME); 0 = now */
	/* ABI 10, apply_record only, optional: the data is in these sum(nblocks)
	 * pages of the engine's own RAM buffer (wb_engine_apply_pagebuf()),
	 * filled on another thread (the link's io loop, which also set each
	 * page's crc, crc_ok = 1); data is not read (NULL). apply_record
	 * checks the extent crcs from the page crcs (wb_crc32c_combine) and
	 * puts the pages into the record as they are, without a copy. When it
	 * returns 0 the engine owns the caller's page references (kept in the
	 * record, or put at once for a record it already has); on a non-zero
	 * return they stay the caller's (wb_pagebuf_release). The array itself
	 * is borrowed for the call. Never set in what the engine hands out. */
	struct wb_page *const *pages;
	/* ABI 11, apply_record only: WB_APPLY_F_* (0: done() once durable) */
	uint32_t apply_flags;
};
/* done() once the record is written to the log (and every record before
 * it is), like a local write acked with ack = log: durable at the next log
 * flush, which the engine issues within log_commit_ms or at once for
 * wb_engine_log_sync(); stats.seq_durable shows how far that got. */
#define WB_APPLY_F_WRITTEN (1u << 0)
#define WB_REC_F_GEN_END   (1u << 0) /* this record closes its generation (flush) */
#define WB_REC_F_ZERO	   (1u << 1) /* extents are zeroed/discarded, no data follows */

/* crc32c of what makes two copies of a record the same record on every node
 * (seq, gen, flags, extents with their data crcs; not the node-local header
 * fields). apply_record compares it to tell a re-sent record from a
 * conflicting one. */
uint32_t wb_record_crc(const struct wb_record *rec);

/*
 * A final record, handed out by the ship hook and read_record (ABI 4).
 * rec.data is NULL: the data is in blocks[] (nblocks pointers to 4096-byte
 * blocks, extents in order; 0 for WB_REC_F_ZERO records), RAM-buffer pages
 * or a read-back buffer, all owned by the reference. The reference is valid
 * during the callback; wb_engine_rec_get() keeps it (and the data) alive
 * until the matching wb_engine_rec_put(). Both on the engine thread only
 * (another thread hands its put back through its queue).
 */
struct wb_rec_ref {
	struct wb_record rec;
	uint32_t nblocks;
	uint32_t crc; /* wb_record_crc(&rec) */
	const void *const *blocks;
};

struct wb_repl_hooks {
	/* A record is final: placed in the local log (its write may still be in
	 * flight), seq, generation, flags, extents and crcs never change again.
	 * Called on the engine thread from run(), in seq order, once per record.
	 * Must not call into the engine except wb_engine_rec_get(). */
	void (*ship)(void *arg, struct wb_rec_ref *r);
	/* Peer `peer` held the log tail (set_peer_pos) past peer_retention or a
	 * full log: its hold is gone, records from `seq` on may be released, the
	 * peer needs a resync (bitmap). Called from run(). */
	void (*peer_dropped)(void *arg, unsigned peer, uint64_t seq);
	void *arg;
	/* ABI 17, optional: destage could not read blocks [lba, lba + n) of
	 * the device from the log (a read error where their newest version
	 * is: docs/engine.md "A log block destage cannot read"). Destage
	 * waits (wblog: up to 10 s, reading them again now and then) for the
	 * host to hand a good copy back with op destage_fill (a peer's), or
	 * for a newer durable record of the blocks. 0: it tries; non-zero:
	 * it cannot (the engine fails at once, as without the hook). Called
	 * from run(); must not call into the engine (defer that). Asked
	 * again about a range still missing after a second. Engines before
	 * ABI 17 never read it. */
	int (*log_unreadable)(void *arg, uint64_t lba, uint32_t n);
};
#define WB_ENGINE_MAX_PEERS 16

struct wb_engine_stats {
	uint64_t size;		     /* exported bytes */
	uint64_t log_size, log_used; /* bytes */
	uint64_t dirty_bytes;	     /* in log, not yet destaged */
	uint64_t gen_head;	     /* generation being filled */
	uint64_t gen_durable;	     /* newest generation fully durable */
	uint64_t gen_oldest;	     /* oldest generation still readable from the log */
	uint64_t seq_head, seq_tail; /* next seq to write, oldest seq in the log */
	uint64_t destage_rate;	     /* bytes/s, recent average */
	uint64_t destage_eta_ms;     /* time to destage dirty_bytes at that rate */
	uint64_t destaged_bytes;     /* total */
	uint64_t reads, writes, flushes, discards;
	uint64_t bytes_read, bytes_written;
	uint64_t ram_pages_total, ram_pages_used;
	uint64_t throttle_events;	    /* writers held back (RAM or log full) */
	uint64_t extents, extent_mem_bytes; /* extent map size */
	uint32_t mode;			    /* enum wb_mode */
	uint32_t state;			    /* 0 = ok, else WB_STATE_* */
	/* ABI 4 */
	uint64_t seq_durable;	    /* every seq < this is durable in the log */
	uint32_t role;		    /* enum wb_role */
	uint32_t max_record_blocks; /* data blocks per record in force (0: no limit) */
	uint64_t peers_held;	    /* bitmask of peers holding the log tail */
	uint64_t peers_dropped;	    /* peers dropped past retention, total */
	/* every seq < this is durable on the backing device (write-through
	 * acks wait for it); 0 = the engine does not say */
	uint64_t seq_destaged;
	/* ABI 12: snapshots open, and dropped by the engine (the log needed
	 * the space they held, write-through, a rebase), total */
	uint64_t snapshots, snapshots_dropped;
};
#define WB_STATE_OK	0
#define WB_STATE_FAILED 1 /* an I/O error made the engine refuse further writes */

/* ABI 12: generations a snapshot may be taken of (oldest > newest: none) */
struct wb_gen_span {
	uint64_t oldest, newest;
	uint64_t oldest_time_ns, newest_time_ns; /* their last records' times */
};
struct wb_snap_info {
	uint32_t id; /* never reused while the engine is open */
	uint32_t rsvd;
	uint64_t gen;	  /* the device as it was when this generation ended */
	uint64_t seq;	  /* its last record */
	uint64_t time_ns; /* that record's time (the primary's CLOCK_REALTIME) */
	uint64_t extents; /* pieces it reads from the log now */
};

struct wb_engine;

struct wb_engine_ops {
	uint32_t abi_version; /* WB_ENGINE_ABI_VERSION; first field, always */
	const char *name;
	const char *description;
	/* Create the on-disk state (log format). NULL: nothing to format. */
	int (*format)(const struct wb_engine_params *p);
	/* Open, recovering what is on disk. Writes nothing if it refuses. */
	int (*open)(const struct wb_engine_params *p, struct wb_engine **out);
	/* Complete everything in flight, make it durable in the log, close. */
	void (*close)(struct wb_engine *e);
	int (*submit)(struct wb_engine *e, struct wb_req *r);
	int (*fd)(struct wb_engine *e);		   /* pollable, or -1 */
	int (*run)(struct wb_engine *e, int wait); /* deliver completions */
	int (*timeout_ms)(struct wb_engine *e);	   /* next timer, -1 = none */
	/* Replica side: append a record received from a peer with the same seq
	 * and generation. done(arg, err) from run() once it is durable in the
	 * local log. Returns 0, or (done not called): -ERANGE gap (rec->seq >
	 * stats.seq_head, the seq expected), -EEXIST a different record with
	 * that seq is in the log (conflict), -EALREADY seq is older than the
	 * log holds (cannot be compared), -EBADMSG data crc, -E2BIG more data
	 * blocks than max_record_blocks, -EINVAL malformed, -EBUSY local writes
	 * pending, -ESHUTDOWN closing, -EIO failed, -EAGAIN RAM buffer full (retry after
	 * run()). A record already in the log (same seq, same wb_record_crc)
	 * returns 0 and completes when it is durable (idempotent). */
	int (*apply_record)(struct wb_engine *e, const struct wb_record *rec,
			    void (*done)(void *arg, int err), void *arg);
	int (*stats)(struct wb_engine *e, struct wb_engine_stats *st);
	int (*set_mode)(struct wb_engine *e, enum wb_mode mode);
	/* fields are only ever appended below this line, with the ABI version
	 * bumped: a plugin built with a shorter table is only called through
	 * the fields its abi_version has (WB_OPS_HAS) */
	/* Change the run-time tunables of an open engine (gen_max_interval_ms,
	 * destage_*); the other fields of p are ignored. NULL: none. */
	int (*set_params)(struct wb_engine *e, const struct wb_engine_params *p);
	/* ABI 4: replication (docs/engine.md "Replication hooks"). Any may be
	 * NULL: the wrappers return -EOPNOTSUPP. */
	int (*set_role)(struct wb_engine *e, enum wb_role role);
	/* Start an empty log at (seq, gen) (resynced replica); -EBUSY unless
	 * every record is destaged and released. */
	int (*rebase)(struct wb_engine *e, uint64_t seq, uint64_t gen);
	int (*set_repl_hooks)(struct wb_engine *e, const struct wb_repl_hooks *h);
	void (*rec_get)(struct wb_engine *e, struct wb_rec_ref *r);
	void (*rec_put)(struct wb_engine *e, struct wb_rec_ref *r);
	/* Read back a record still in the log (seq in [stats.seq_tail, last
	 * shipped]): cb(arg, err, ref) from run(); ref valid during the call.
	 * -ENOENT (returned, cb not called) if the log no longer has it. */
	int (*read_record)(struct wb_engine *e, uint64_t seq,
			   void (*cb)(void *arg, int err, struct wb_rec_ref *r), void *arg);
	/* Peer `peer` (< WB_ENGINE_MAX_PEERS) still needs records from seq on:
	 * keep them in the log (within peer_retention). seq 0: no hold. Unless
	 * the peer's bitmap tracks, the log's tail on disk stays at seq too, so
	 * the records are still there after a crash (recovered, destaged again).
	 */
	int (*set_peer_pos)(struct wb_engine *e, unsigned peer, uint64_t seq);
	/* ABI 6: replication metadata. meta: the durable copy (what a restart
	 * finds). meta_update: apply op (m as enum wb_meta_op says, NULL for
	 * NEW_UUID) and persist it; done(arg, err) from run() once durable,
	 * wb_engine_meta() shows it from then on. Returns 0, or (done not
	 * called) -EPROTO the log is format version 1 (upgrade it), -EINVAL a
	 * bad op or m (zero UUID, nhistory > WB_META_MAX_HISTORY, zero history
	 * entry), -ESHUTDOWN closing, -EIO failed, -ENOMEM. */
	int (*meta)(struct wb_engine *e, struct wb_meta *out);
	int (*meta_update)(struct wb_engine *e, enum wb_meta_op op, const struct wb_meta *m,
			   void (*done)(void *arg, int err), void *arg);
	/* Offline: bring the on-disk state (p->log_io) to the current format
	 * version (wblog: 1 -> 2, node id p->node_id). 0 upgraded, 1 already
	 * current (nothing written), -errno (logged). NULL: nothing to do. */
	int (*upgrade)(const struct wb_engine_params *p);
	/* ABI 7: per-peer dirty bitmaps (docs/engine.md "Dirty bitmaps"),
	 * peer < info.npeers (else -ENXIO; so too every op but bm_info, which
	 * reports region_size 0, when the log has none).
	 * bm_set: mark (dirty = 1: every region the byte range touches;
	 * WB_BM_FOUND: the same, and the bitmap is *marked* (info.marked)
	 * until every bit is cleared: blocks found different, which only a
	 * resync brings, not a catch-up on records) or clear (0: every
	 * region wholly inside it), in memory; durable with
	 * the next bm_flush, tracking change or destage. bm_next: first dirty
	 * region at or after byte `from`, its byte offset in *off; -ENOENT
	 * none. bm_track: from_seq >= 1: every record with seq >= from_seq
	 * (WB_BM_TRACK_HEAD: from the next one) marks the bitmap, those still
	 * in the log at once (-ENOENT if from_seq is older than the log);
	 * 0: stop. done(arg, err) from run() once durable. bm_flush: persist
	 * every bitmap, done from run(). */
	int (*bm_info)(struct wb_engine *e, unsigned peer, struct wb_bm_info *out);
	int (*bm_set)(struct wb_engine *e, unsigned peer, uint64_t off, uint64_t len, int dirty);
	int (*bm_next)(struct wb_engine *e, unsigned peer, uint64_t from, uint64_t *off);
	int (*bm_track)(struct wb_engine *e, unsigned peer, uint64_t from_seq,
			void (*done)(void *arg, int err), void *arg);
	int (*bm_flush)(struct wb_engine *e, void (*done)(void *arg, int err), void *arg);
	/* ABI 9: the engine's RAM buffer, for frontends that fill its pages on
	 * their own threads (wb_req.pages; engine/pagebuf.h says what is
	 * thread-safe). Valid while the engine is open; take a reference
	 * (wb_pagebuf_ref) to release pages after that. NULL op or return:
	 * none, copy through buf. */
	struct wb_pagebuf *(*pagebuf)(struct wb_engine *e);
	/* ABI 11: every record up to seq that is (or will be) written should
	 * become durable now: a log flush without waiting for log_commit_ms.
	 * stats.seq_durable shows when it is; nothing is called back. */
	int (*log_sync)(struct wb_engine *e, uint64_t seq);
	/* ABI 12: snapshots of older generations (docs/engine.md "Snapshots").
	 * gen_span: the generations a snapshot can be taken of now (every
	 * generation in between too). snap_create: the device as it was when
	 * generation gen ended, readable through wb_req.snap until snap_drop,
	 * a rebase, a switch to write-through or the log needing the space
	 * (the engine then drops it: reads fail with -ESTALE); -ERANGE: gen is
	 * outside gen_span, -EAGAIN: not in the log yet (retry), -EBUSY:
	 * write-through, -ENOSPC: too many snapshots. snap_list: up to max of
	 * the open ones; returns their number. */
	int (*gen_span)(struct wb_engine *e, struct wb_gen_span *out);
	int (*snap_create)(struct wb_engine *e, uint64_t gen, struct wb_snap_info *out);
	int (*snap_drop)(struct wb_engine *e, uint32_t id);
	int (*snap_list)(struct wb_engine *e, struct wb_snap_info *out, int max);
	/* the newest generation in gen_span that ended at or before time_ns
	 * (its last record's time); -ERANGE: none */
	int (*gen_at)(struct wb_engine *e, uint64_t time_ns, uint64_t *gen);
	/* The owner writes the backing device outside the log (a resync
	 * target, docs/replication.md "Resync"): on = 1 drops every snapshot
	 * and refuses new ones (-EBUSY) until on = 0 at its end; from then
	 * only generations that end after it are readable (the backing may
	 * hold newer data than any older one). Not persistent: the owner
	 * fences again after a restart in the middle. */
	int (*snap_fence)(struct wb_engine *e, int on);
	/* ABI 13: whose a bitmap slot is (docs/engine.md "Dirty bitmaps"):
	 * the name of the node it is kept for, "" = nobody yet. bm_owner
	 * copies it into out (WB_ENGINE_BM_OWNER_LEN bytes, NUL-terminated),
	 * as set, durable or not. bm_owner_set names the slot's owner (""
	 * clears it; at most WB_ENGINE_BM_OWNER_LEN - 1 printable characters,
	 * no spaces), carried by the next superblock write; done(arg, err)
	 * from run() once that is durable. Order a change of the bitmap before
	 * it with bm_flush: the owner may reach the disk first otherwise. */
	int (*bm_owner)(struct wb_engine *e, unsigned peer, char *out);
	int (*bm_owner_set)(struct wb_engine *e, unsigned peer, const char *name,
			    void (*done)(void *arg, int err), void *arg);
	/* ABI 14: online grow (docs/engine.md "Growing the device").
	 * size_max reads the backing's size again and says the largest
	 * size the device can grow to (the backing minus what the engine
	 * keeps there; the size now if it cannot grow). grow asks for
	 * new_size bytes (a multiple of WB_BLOCK_SIZE, larger than the size
	 * now; 0 = size_max): done(arg, err) from run() once the new size is
	 * durable, and only from then on do requests past the old end pass
	 * and stats report it. WB_GROW_F_MARK marks the added range in every
	 * bitmap as found different (docs/engine.md "Dirty bitmaps"), in
	 * the same commit: a resync sends it to each peer. Snapshots open
	 * are dropped, older generations stop being readable (their device
	 * was smaller). Errors, at once: -EINVAL (not larger, not aligned),
	 * -ENOSPC (the backing or the bitmap area cannot hold it: logged),
	 * -EBUSY (a grow runs), -EPROTO (format version 1), -EOPNOTSUPP
	 * (the backing's size cannot be read again). */
	int (*size_max)(struct wb_engine *e, uint64_t *out);
	int (*grow)(struct wb_engine *e, uint64_t new_size, unsigned flags,
		    void (*done)(void *arg, int err), void *arg);
	/* ABI 15: read repair (docs/engine.md "Read repair"). The caller
	 * holds a copy of blocks [lba, lba + n) (n <= 64) as the device was
	 * with every record of seq < since_seq and none later (a peer's copy,
	 * asked for after the primary shipped exactly those). *mask gets bit
	 * i set for each block lba + i that no write newer than that copy
	 * covers: no record of seq >= since_seq in the log or RAM buffer, no
	 * write admitted and not yet placed (open batch, sealed records,
	 * writes waiting for RAM pages). A write of those blocks submitted
	 * before the engine runs again (same thread, nothing in between)
	 * puts the copy back without losing anything newer. Errors:
	 * -ESTALE (a record of seq >= since_seq was destaged already: its
	 * blocks are no longer known), -EINVAL (n, range), -EIO (failed). */
	int (*repair_mask)(struct wb_engine *e, uint64_t lba, uint32_t n, uint64_t since_seq,
			   uint64_t *mask);
	/* ABI 16: grow the log's data area (docs/engine.md "Growing the
	 * log"). The log device's size is read again; the data area is made
	 * to end at the last whole segment within new_bytes of it (0: the
	 * whole device). Records stay where they are: the area only gets a
	 * new end. done(arg, err) from run() once the superblock that says
	 * so is durable; records go past the old end only from then on, and
	 * stats.log_size says the new size. Errors, at once: -EALREADY
	 * (new_bytes 0 and the device holds no whole segment more), -EINVAL
	 * (new_bytes not larger than the log, not aligned), -ENOSPC
	 * (new_bytes past the device), -EBUSY (one runs), -EPROTO (format
	 * version 1), -EOPNOTSUPP (the device's size cannot be read again),
	 * -EIO (failed). */
	int (*grow_log)(struct wb_engine *e, uint64_t new_bytes, void (*done)(void *arg, int err),
			void *arg);
	/* ABI 17: the answer to the log_unreadable hook: buf holds blocks
	 * [lba, lba + n) as the device was with every record of seq <
	 * since_seq and none later (a peer's copy, asked for after this node
	 * shipped exactly those). Destage takes the blocks it still needs
	 * whose newest version is its own (no newer record covers them), and
	 * writes them to the backing device as if read from the log. Returns
	 * the blocks taken (0: none needed any more), -EAGAIN (destage is
	 * reading again right now: hand it over a little later). */
	int (*destage_fill)(struct wb_engine *e, uint64_t lba, uint32_t n, uint64_t since_seq,
			    const void *buf);
};
#define WB_GROW_F_MARK (1u << 0)

/* Does this engine's ops table have `field` (appended at ABI `ver`)? A
 * plugin built against an older ABI has a shorter table: never read past it. */
#define WB_OPS_HAS(ops, ver, field) ((ops)->abi_version >= (ver) && (ops)->field)

/* Every engine instance starts with this. */
struct wb_engine {
	const struct wb_engine_ops *ops;
	char name[64];
};

/* Registry. Built-ins are registered on first use. */
int wb_engine_register(const struct wb_engine_ops *ops);
const struct wb_engine_ops *wb_engine_find(const char *name);
/* Load a plugin .so exporting `const struct wb_engine_ops wb_engine_plugin_ops`.
 * A wrong ABI version is refused; err gets a message for the user. */
int wb_engine_load_plugin(const char *path, char *err, size_t errlen);
/* Names of all registered engines, for listings. Returns count. */
int wb_engine_list(const char **names, int max);

int wb_engine_format(const char *engine, const struct wb_engine_params *p);
/* The engine's upgrade op (ABI 6); 1 when there is nothing to upgrade. */
int wb_engine_upgrade(const char *engine, const struct wb_engine_params *p);

/* What a log device holds (engine/logprobe.c): the format policy of wbrepd
 * and wbengine (docs/engine.md, "When a log is formatted"). Only a BLANK log
 * is certainly new: no superblock magic in any slot, no record header magic
 * in any 4 KiB block, first MiB zero. Reads the whole device unless it holds
 * a valid superblock. 0 (out filled) or -errno (out->what says why). */
enum wb_log_state {
	WB_LOG_BLANK = 0,   /* certainly new: may be formatted */
	WB_LOG_VALID = 1,   /* a wblog log with a valid superblock */
	WB_LOG_DAMAGED = 2, /* traces of a wblog log, no valid superblock */
	WB_LOG_OTHER = 3,   /* no trace of a wblog log, but not zero */
};
struct wb_log_probe {
	uint32_t state;	      /* enum wb_log_state */
	uint64_t records;     /* VALID: records not yet destaged; else headers seen */
	uint64_t dirty_bytes; /* VALID: their data bytes */
	uint64_t seq_lo, seq_hi;
	char what[600]; /* one line for the user: what was found */
};
int wb_log_probe(struct wb_io *log, struct wb_log_probe *out);
int wb_engine_open(const char *engine, const struct wb_engine_params *p, struct wb_engine **out);

static inline void wb_engine_close(struct wb_engine *e)
{
	if (e)
		e->ops->close(e);
}
/* -EOPNOTSUPP when the engine has no run-time tunables. */
static inline int wb_engine_set_params(struct wb_engine *e, const struct wb_engine_params *p)
{
	return WB_OPS_HAS(e->ops, 2, set_params) ? e->ops->set_params(e, p) : -EOPNOTSUPP;
}
static inline int wb_engine_set_mode(struct wb_engine *e, enum wb_mode mode)
{
	return e->ops->set_mode ? e->ops->set_mode(e, mode) : -EOPNOTSUPP;
}
static inline int wb_engine_apply_record(struct wb_engine *e, const struct wb_record *rec,
					 void (*done)(void *arg, int err), void *arg)
{
	return e->ops->apply_record ? e->ops->apply_record(e, rec, done, arg) : -EOPNOTSUPP;
}
static inline int wb_engine_set_role(struct wb_engine *e, enum wb_role role)
{
	return WB_OPS_HAS(e->ops, 4, set_role) ? e->ops->set_role(e, role) : -EOPNOTSUPP;
}
static inline int wb_engine_rebase(struct wb_engine *e, uint64_t seq, uint64_t gen)
{
	return WB_OPS_HAS(e->ops, 4, rebase) ? e->ops->rebase(e, seq, gen) : -EOPNOTSUPP;
}
static inline int wb_engine_set_repl_hooks(struct wb_engine *e, const struct wb_repl_hooks *h)
{
	return WB_OPS_HAS(e->ops, 4, set_repl_hooks) ? e->ops->set_repl_hooks(e, h) : -EOPNOTSUPP;
}
/* Only on references the engine handed out (so the engine has the ops). */
static inline void wb_engine_rec_get(struct wb_engine *e, struct wb_rec_ref *r)
{
	e->ops->rec_get(e, r);
}
static inline void wb_engine_rec_put(struct wb_engine *e, struct wb_rec_ref *r)
{
	e->ops->rec_put(e, r);
}
static inline int wb_engine_read_record(struct wb_engine *e, uint64_t seq,
					void (*cb)(void *arg, int err, struct wb_rec_ref *r),
					void *arg)
{
	return WB_OPS_HAS(e->ops, 4, read_record) ? e->ops->read_record(e, seq, cb, arg)
						  : -EOPNOTSUPP;
}
static inline int wb_engine_set_peer_pos(struct wb_engine *e, unsigned peer, uint64_t seq)
{
	return WB_OPS_HAS(e->ops, 4, set_peer_pos) ? e->ops->set_peer_pos(e, peer, seq)
						   : -EOPNOTSUPP;
}
/* -EOPNOTSUPP for engines without metadata (passthrough, ram). */
static inline int wb_engine_meta(struct wb_engine *e, struct wb_meta *out)
{
	return WB_OPS_HAS(e->ops, 6, meta) ? e->ops->meta(e, out) : -EOPNOTSUPP;
}
static inline int wb_engine_meta_update(struct wb_engine *e, enum wb_meta_op op,
					const struct wb_meta *m, void (*done)(void *arg, int err),
					void *arg)
{
	return WB_OPS_HAS(e->ops, 6, meta_update) ? e->ops->meta_update(e, op, m, done, arg)
						  : -EOPNOTSUPP;
}
/* Dirty bitmaps (ABI 7); -EOPNOTSUPP for engines without them. */
static inline int wb_engine_bm_info(struct wb_engine *e, unsigned peer, struct wb_bm_info *out)
{
	return WB_OPS_HAS(e->ops, 7, bm_info) ? e->ops->bm_info(e, peer, out) : -EOPNOTSUPP;
}
static inline int wb_engine_bm_mark(struct wb_engine *e, unsigned peer, uint64_t off, uint64_t len)
{
	return WB_OPS_HAS(e->ops, 7, bm_set) ? e->ops->bm_set(e, peer, off, len, 1) : -EOPNOTSUPP;
}
/* blocks found different (a verify): marked until a resync cleared them */
#define WB_BM_FOUND 2
static inline int wb_engine_bm_found(struct wb_engine *e, unsigned peer, uint64_t off, uint64_t len)
{
	return WB_OPS_HAS(e->ops, 7, bm_set) ? e->ops->bm_set(e, peer, off, len, WB_BM_FOUND)
					     : -EOPNOTSUPP;
}
static inline int wb_engine_bm_clear(struct wb_engine *e, unsigned peer, uint64_t off, uint64_t len)
{
	return WB_OPS_HAS(e->ops, 7, bm_set) ? e->ops->bm_set(e, peer, off, len, 0) : -EOPNOTSUPP;
}
static inline int wb_engine_bm_next(struct wb_engine *e, unsigned peer, uint64_t from,
				    uint64_t *off)
{
	return WB_OPS_HAS(e->ops, 7, bm_next) ? e->ops->bm_next(e, peer, from, off) : -EOPNOTSUPP;
}
/* 1: a region touching [off, off + len) is dirty, 0: none, or -errno. */
static inline int wb_engine_bm_test(struct wb_engine *e, unsigned peer, uint64_t off, uint64_t len)
{
	uint64_t at;
	int ret = wb_engine_bm_next(e, peer, off, &at);

	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	return at < off + len;
}
static inline int wb_engine_bm_track(struct wb_engine *e, unsigned peer, uint64_t from_seq,
				     void (*done)(void *arg, int err), void *arg)
{
	return WB_OPS_HAS(e->ops, 7, bm_track) ? e->ops->bm_track(e, peer, from_seq, done, arg)
					       : -EOPNOTSUPP;
}
static inline int wb_engine_bm_flush(struct wb_engine *e, void (*done)(void *arg, int err),
				     void *arg)
{
	return WB_OPS_HAS(e->ops, 7, bm_flush) ? e->ops->bm_flush(e, done, arg) : -EOPNOTSUPP;
}
/* ABI 9: the engine's RAM buffer (wb_req.pages), NULL when it has none. */
static inline struct wb_pagebuf *wb_engine_pagebuf(struct wb_engine *e)
{
	return WB_OPS_HAS(e->ops, 9, pagebuf) ? e->ops->pagebuf(e) : NULL;
}
/* ABI 10: the RAM buffer whose pages apply_record takes (wb_record.pages),
 * NULL when the engine takes only wb_record.data. */
static inline struct wb_pagebuf *wb_engine_apply_pagebuf(struct wb_engine *e)
{
	return e->ops->abi_version >= 10 && e->ops->apply_record ? wb_engine_pagebuf(e) : NULL;
}
/* ABI 11: make every record up to seq durable now (see ops.log_sync). */
static inline int wb_engine_log_sync(struct wb_engine *e, uint64_t seq)
{
	return WB_OPS_HAS(e->ops, 11, log_sync) ? e->ops->log_sync(e, seq) : -EOPNOTSUPP;
}
/* Promotion: start a new data generation UUID, durably (done from run()). */
static inline int wb_engine_meta_new_uuid(struct wb_engine *e, void (*done)(void *arg, int err),
					  void *arg)
{
	return wb_engine_meta_update(e, WB_META_NEW_UUID, NULL, done, arg);
}
/* A replica in sync with its primary takes the primary's current UUID and
 * history (from->data_uuid, history, nhistory; the rest of from ignored). */
static inline int wb_engine_meta_adopt_uuids(struct wb_engine *e, const struct wb_meta *from,
					     void (*done)(void *arg, int err), void *arg)
{
	return wb_engine_meta_update(e, WB_META_SET_UUIDS, from, done, arg);
}
static inline int wb_engine_gen_span(struct wb_engine *e, struct wb_gen_span *out)
{
	return WB_OPS_HAS(e->ops, 12, gen_span) ? e->ops->gen_span(e, out) : -EOPNOTSUPP;
}
static inline int wb_engine_snap_create(struct wb_engine *e, uint64_t gen, struct wb_snap_info *out)
{
	return WB_OPS_HAS(e->ops, 12, snap_create) ? e->ops->snap_create(e, gen, out) : -EOPNOTSUPP;
}
static inline int wb_engine_snap_drop(struct wb_engine *e, uint32_t id)
{
	return WB_OPS_HAS(e->ops, 12, snap_drop) ? e->ops->snap_drop(e, id) : -EOPNOTSUPP;
}
static inline int wb_engine_snap_list(struct wb_engine *e, struct wb_snap_info *out, int max)
{
	return WB_OPS_HAS(e->ops, 12, snap_list) ? e->ops->snap_list(e, out, max) : -EOPNOTSUPP;
}
static inline int wb_engine_gen_at(struct wb_engine *e, uint64_t time_ns, uint64_t *gen)
{
	return WB_OPS_HAS(e->ops, 12, gen_at) ? e->ops->gen_at(e, time_ns, gen) : -EOPNOTSUPP;
}
#define WB_ENGINE_BM_OWNER_LEN 64
static inline int wb_engine_bm_owner(struct wb_engine *e, unsigned peer, char *out)
{
	return WB_OPS_HAS(e->ops, 13, bm_owner) ? e->ops->bm_owner(e, peer, out) : -EOPNOTSUPP;
}
static inline int wb_engine_bm_owner_set(struct wb_engine *e, unsigned peer, const char *name,
					 void (*done)(void *arg, int err), void *arg)
{
	return WB_OPS_HAS(e->ops, 13, bm_owner_set) ? e->ops->bm_owner_set(e, peer, name, done, arg)
						    : -EOPNOTSUPP;
}
static inline int wb_engine_size_max(struct wb_engine *e, uint64_t *out)
{
	return WB_OPS_HAS(e->ops, 14, size_max) ? e->ops->size_max(e, out) : -EOPNOTSUPP;
}
static inline int wb_engine_grow(struct wb_engine *e, uint64_t new_size, unsigned flags,
				 void (*done)(void *arg, int err), void *arg)
{
	return WB_OPS_HAS(e->ops, 14, grow) ? e->ops->grow(e, new_size, flags, done, arg)
					    : -EOPNOTSUPP;
}
static inline int wb_engine_repair_mask(struct wb_engine *e, uint64_t lba, uint32_t n,
					uint64_t since_seq, uint64_t *mask)
{
	return WB_OPS_HAS(e->ops, 15, repair_mask) ? e->ops->repair_mask(e, lba, n, since_seq, mask)
						   : -EOPNOTSUPP;
}
static inline int wb_engine_grow_log(struct wb_engine *e, uint64_t new_bytes,
				     void (*done)(void *arg, int err), void *arg)
{
	return WB_OPS_HAS(e->ops, 16, grow_log) ? e->ops->grow_log(e, new_bytes, done, arg)
						: -EOPNOTSUPP;
}
static inline int wb_engine_destage_fill(struct wb_engine *e, uint64_t lba, uint32_t n,
					 uint64_t since_seq, const void *buf)
{
	return WB_OPS_HAS(e->ops, 17, destage_fill)
		   ? e->ops->destage_fill(e, lba, n, since_seq, buf)
		   : -EOPNOTSUPP;
}
static inline int wb_engine_snap_fence(struct wb_engine *e, int on)
{
	return WB_OPS_HAS(e->ops, 12, snap_fence) ? e->ops->snap_fence(e, on) : -EOPNOTSUPP;
}
static inline int wb_engine_submit(struct wb_engine *e, struct wb_req *r)
{
	int ret;

	/* an engine without snapshots (or before ABI 12) does not know
	 * wb_req.snap: it would read the device as it is now */
	if (r->snap && !WB_OPS_HAS(e->ops, 12, snap_create))
		return -EOPNOTSUPP;
	ret = e->ops->submit(e, r);

	/* engines before ABI 5 copied a write during submit */
	if (!ret && e->ops->abi_version < 5 && r->op == WB_REQ_WRITE && r->admitted)
		r->admitted(r);
	return ret;
}
static inline int wb_engine_fd(struct wb_engine *e)
{
	return e->ops->fd ? e->ops->fd(e) : -1;
}
static inline int wb_engine_run(struct wb_engine *e, int wait)
{
	return e->ops->run(e, wait);
}
static inline int wb_engine_timeout_ms(struct wb_engine *e)
{
	return e->ops->timeout_ms ? e->ops->timeout_ms(e) : -1;
}
/* Fields an older engine does not know stay 0. */
static inline int wb_engine_stats(struct wb_engine *e, struct wb_engine_stats *st)
{
	*st = (struct wb_engine_stats){0};
	return e->ops->stats(e, st);
}

/* Synchronous wrappers for tools and tests: submit and run until done. */
int wb_engine_sync(struct wb_engine *e, struct wb_req *r);
int wb_engine_read(struct wb_engine *e, void *buf, uint32_t len, uint64_t off);
int wb_engine_write(struct wb_engine *e, const void *buf, uint32_t len, uint64_t off,
		    unsigned flags);
int wb_engine_flush(struct wb_engine *e);
/* wb_engine_meta_update, then run the engine until it is durable. */
int wb_engine_meta_update_sync(struct wb_engine *e, enum wb_meta_op op, const struct wb_meta *m);

/*
 * Drain: call step(ctx) until until(ctx) is non-zero. Returns 0 then; gives up
 * (logged as "who: what: gave up after N s") with -ETIMEDOUT once
 * deadline_ms of CLOCK_MONOTONIC passed, or with step's error (logged) when
 * it returns one other than -EAGAIN / -EINTR. A step that must not stop on
 * errors returns 0. Used by every close/stop that waits for requests in
 * flight (engine and daemon); WB_DRAIN_CLOSE_MS is their deadline.
 */
#define WB_DRAIN_CLOSE_MS 120000u
int wb_drain(int (*until)(void *ctx), int (*step)(void *ctx), void *ctx, unsigned deadline_ms,
	     const char *who, const char *what);

/* Messages: the library logs through this sink (default: stderr). */
typedef void (*wb_msg_fn)(int level, const char *msg, void *ctx);
void wb_msg_set_sink(wb_msg_fn fn, void *ctx, int max_level);
void wb_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "error", "warning", "info" or "debug" (levels between round down). */
const char *wb_msg_level_name(int level);

/* crc32c (Castagnoli): ISA-L's crc32_iscsi when built with libisal-dev,
 * else the built-in code (SSE4.2 when the CPU has it, else portable).
 * Thread safe. _builtin and _sw: the built-in code and its table version
 * (tests and the bench compare them). */
uint32_t wb_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t wb_crc32c_builtin(uint32_t crc, const void *buf, size_t len);
uint32_t wb_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* crc of a || b from crc_a = crc of a and crc_b = wb_crc32c(0, b, len_b);
 * a few table lookups for len_b = 4096 (how the engine joins per-block crcs
 * computed by a frontend, WB_REQ crcs). */
uint32_t wb_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
int wb_crc32c_hw_available(void);

#endif /* WB_ENGINE_H */
