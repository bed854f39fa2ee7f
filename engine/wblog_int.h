/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wblog_int.h - internals of the wblog engine shared by wblog.c (ops, open,
 * run loop), wblog_write.c (admission, records, acks, durability),
 * wblog_read.c, wblog_repl.c, wblog_destage.c and recovery.c. Not a public header.
 *
 * Ownership:
 *   - struct wblog owns the records (e->recs ring, seq order, from the oldest
 *     not yet released record to the newest sealed one), the open batch, the
 *     extent map, the page buffer and the epoll/eventfd;
 *   - a record owns its extent array, header buffer, and (until evicted or
 *     destaged) one page reference per data block;
 *   - user requests are borrowed from the caller until done() is called;
 *     their engine-private state lives in r->ep[] (see WBL_NEXT..WBL_FLAGS).
 */
#ifndef WB_WBLOG_INT_H
#define WB_WBLOG_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include "engine/clock.h"
#include "engine/extmap.h"
#include "engine/logspace.h"
#include "engine/ondisk.h"
#include "engine/pagebuf.h"
#include "engine/record.h"
#include "engine/wbengine.h"

/* r->ep[] use while a user request is inside the engine */
#define WBL_NEXT(r)	((r)->ep[0]) /* struct wb_req * link */
#define WBL_ERR(r)	((r)->ep[1]) /* int error, stored as int64 */
#define WBL_AUX(r)	((r)->ep[2]) /* read: bounce buffer */
#define WBL_CNT(r)	((r)->ep[3]) /* read: ios pending; write: blocks admitted */
#define WBL_TARGET(r)	((r)->ep[4]) /* flush: seq that must be durable */
#define WBL_ENG(r)	((r)->ep[4]) /* read: the struct wblog * (same slot) */
#define WBL_FLAGS(r)	((r)->ep[5]) /* WBL_RF_* */
#define WBL_RF_DURABLE	(1u << 0)    /* ack only when durable in the log (FUA, PREFLUSH) */
#define WBL_RF_ADMITTED (1u << 1)    /* write: r->buf released (admitted() called) */

struct wbl_reqq {
	struct wb_req *head, *tail;
};

enum wbl_rec_state {
	WBL_REC_OPEN = 0, /* batch being filled */
	WBL_REC_SEALED,	  /* seq assigned, waiting for log space */
	WBL_REC_WRITING,  /* record write in flight */
	WBL_REC_DONE,	  /* written (completed); acked once ack conditions hold */
};

struct wblog;
struct wbl_rread;
struct wbl_metaw;
struct wbl_bm;

/* One apply_record completion, delivered from run() (wbl_deliver). */
struct wbl_apply {
	void (*done)(void *arg, int err);
	void *arg;
	uint64_t seq; /* waiting for durable_seq >= seq (idempotent re-apply) */
	int err;
	struct wbl_apply *next;
};

struct wbl_applyq {
	struct wbl_apply *head, *tail;
};

struct wbl_rec {
	struct wblog *e;
	uint64_t seq, gen, epoch, time_ns;
	uint64_t off;  /* absolute byte offset of the header on the log device */
	uint64_t span; /* log bytes charged: record + wrap waste before it */
	uint32_t flags, nextents, data_blocks, cap_ext;
	int state, acked, durable_ack, err;
	int throttled;		/* waited for log space (counted in throttle_events once) */
	struct wb_extent *ext;	/* nextents */
	struct wb_page **pages; /* data_blocks page refs, NULL once released */
	void *hdr;		/* 4 KiB header image while writing */
	struct iovec *iov;
	struct wb_io_req io;
	struct wbl_reqq reqs; /* user writes acked with this record */
	int replica;	      /* came from apply_record (seq/gen/crcs given) */
	int fua;	      /* written with WB_IO_FUA: durable once written (wbl_fua_pick) */
	struct wbl_apply *ap; /* apply_record completion until acked */
};

struct wbl_read_io {
	struct wb_io_req io;
	struct wb_req *r;
	int from_log;
};

/* A snapshot of an older generation (wblog_snap.c); id 0: a free slot. */
#define WBL_MAX_SNAPS 8
struct wbl_snap {
	uint32_t id;
	uint64_t gen, seq, time_ns; /* the generation, its last record and that one's time */
	struct wb_extmap *map;	    /* blocks it reads from the log */
};

#define WBL_HDR_CACHE 16 /* >= WBL_MAX_INFLIGHT_REPLICA > WBL_MAX_INFLIGHT_RECORDS */

struct wblog {
	struct wb_engine eng;
	struct wb_engine_params p;
	struct wb_io *log, *bak;
	struct wb_sb sb; /* last superblock persisted */
	struct wb_logspace sp;
	uint64_t dev_size, dev_blocks;
	uint32_t max_rec_blocks;
	int efd, epfd, state, mode, closing;
	int kicked; /* efd written, run() has not consumed it yet (see wbl_kick) */
	int in_run; /* inside run(): a kick only asks for another pass (rerun) */
	int rerun;  /* a kick came during this pass of run() */
	/* another thread wrote efd (the RAM buffer's wake hook, wbl_xwake):
	 * run() reads it. Set after the write, so a pass that sees it reads
	 * a counter that is non-zero. */
	_Atomic int xkick;

	struct wb_extmap *map;
	struct wb_pagebuf *pb;

	/* records: ring indexed by seq - rec_first */
	struct wbl_rec **ring;
	uint64_t ring_cap, rec_first, rec_end; /* live seqs [rec_first, rec_end) */
	uint64_t next_seq;		       /* next seq to assign (= rec_end) */
	uint64_t place_seq;		       /* first sealed record not yet placed in the log */
	uint64_t ack_seq;		       /* first record not yet acked */
	uint64_t evict_seq;		       /* oldest record that may still hold pages */
	uint64_t completed_seq;		       /* every record <= this completed its write */
	uint64_t durable_seq;		       /* every record <= this durable in the log */
	uint64_t want_durable;		       /* highest seq someone waits to be durable */
	uint64_t flush_target;		       /* seq covered by the log flush in flight */
	int flush_inflight, records_inflight;
	/* ack = memory: newest seq acked before it was durable, and the time
	 * by which a log flush must have been asked for it (0 = none due) */
	uint64_t commit_seq, commit_due_ms;
	struct wb_io_req flush_io;
	/* record header buffers (4 KiB, aligned) kept for the next records,
	 * and wbl_place_one's scratch record info: a posix_memalign and a
	 * 6 KiB malloc per record were ~16 % of the engine thread's samples
	 * at 4 KiB QD32 (docs/benchmarks.md, "NBD QD32: CPU per write") */
	void *hdr_cache[WBL_HDR_CACHE];
	uint32_t hdr_cached;
	struct wb_rec_info *place_ri;
	/* the open batch's full-size arrays (WB_REC_MAX_EXT extents,
	 * max_rec_blocks pages) go back here at seal, where the record gets
	 * arrays of its own size (wbl_rec_fit), for the next batch */
	struct wb_extent *spare_ext;
	struct wb_page **spare_pages;
	struct wbl_rec *batch; /* open batch or NULL */

	/* generations */
	uint64_t gen;	       /* generation being filled */
	uint64_t gen_has_data; /* records of e->gen sealed */
	uint64_t gen_start_ms;
	uint64_t closed_gen, closed_gen_seq; /* last closed generation, its last seq */
	uint64_t gen_durable;

	/* admission (RAM throttling) */
	struct wbl_reqq admitq; /* writes not yet fully copied into pages */
	struct wb_page_waiter pw;
	int pw_queued;
	struct wb_page *stash[WB_REC_MAX_DATA_BLOCKS];
	uint32_t stash_n;
	/* pages kept free beyond a starved reservation (wbl_pages_supply) */
	uint32_t pages_lowat;

	/* completions to deliver from run(), and flushes waiting */
	struct wbl_reqq doneq, flushq;
	/* replication: role, apply_record completions (waiting for durability
	 * of an already applied record / to deliver) */
	int role;
	struct wbl_applyq apply_wait, apply_doneq;
	struct wb_repl_hooks hooks;
	struct wbl_rread *rread_head, *rread_tail; /* read_record results to deliver */
	uint64_t refs_out;			   /* wbl_ref objects alive */
	/* peer holds (wblog_repl.c): position per peer (first seq it needs) */
	uint64_t peer_pos[WB_ENGINE_MAX_PEERS], dropped_seq[WB_ENGINE_MAX_PEERS];
	uint32_t peers_held, dropped_pending; /* bitmasks */
	uint64_t held_end, held_bytes;	      /* see wbl_hold_account */
	int space_wait;			      /* a sealed record waits for log space */
	unsigned log_reads_inflight;

	/* destage */
	struct wbl_destage *ds;
	uint64_t destaged_seq; /* every record < this is durable on backing */
	uint64_t dirty_bytes;
	uint64_t release_upto; /* records < this may be released (sb persisted) */
	/* superblock writes: one in flight, one more queued (wbl_sb_write).
	 * e->sb is the state asked for, sb_sent the copy in flight, sb_durable
	 * the newest copy known to be on disk */
	int sb_inflight, sb_queued;
	void (*sb_done)(struct wblog *e, int err);
	void (*sb_queued_done)(struct wblog *e, int err);
	struct wb_io_req sb_io;
	void *sb_buf;
	struct wb_sb sb_sent, sb_durable;
	/* metadata updates (wblog_meta.c): number asked for, in the copy in
	 * flight, durable; waiters in request order */
	uint64_t meta_want, meta_sent, meta_done;
	struct wbl_metaw *metaq_head, *metaq_tail;
	struct wbl_bm *bm;     /* dirty bitmaps (wblog_bitmap.c), NULL: none */
	struct wbl_grow *grow; /* online grow running (wblog_grow.c), NULL: none */
	/* a grow of the log's data area waiting for its superblock
	 * (wblog_grow.c; e->sb has the new size, e->sp.end the old one) */
	struct {
		int busy;
		void (*done)(void *arg, int err);
		void *arg;
	} lgrow;
	/* snapshots (wblog_snap.c); snap_pin: destage picks no record past it
	 * (the oldest snapshot's last seq, UINT64_MAX: none) */
	struct wbl_snap snaps[WBL_MAX_SNAPS];
	unsigned nsnaps;
	uint32_t snap_last_id;
	uint64_t snap_pin;
	/* the newest record released from the log: its generation (0: none
	 * since open or rebase), whether it ended it, its time */
	uint64_t rel_gen, rel_time_ns;
	int rel_gen_end;
	/* snap_fence: the backing is written outside the log now (fenced), or
	 * may hold data up to record snap_floor (a resync, or destage before
	 * the last open): only generations ending at or after it are readable
	 * (0: no such record) */
	int snap_fenced;
	uint64_t snap_floor;

	struct wb_engine_stats st;
};

/* wblog_snap.c */
int wbl_gen_span(struct wb_engine *eng, struct wb_gen_span *out);
int wbl_snap_create(struct wb_engine *eng, uint64_t gen, struct wb_snap_info *out);
int wbl_snap_drop(struct wb_engine *eng, uint32_t id);
int wbl_snap_list(struct wb_engine *eng, struct wb_snap_info *out, int max);
int wbl_gen_at(struct wb_engine *eng, uint64_t time_ns, uint64_t *gen);
int wbl_snap_fence(struct wb_engine *eng, int on);
struct wbl_snap *wbl_snap_find(struct wblog *e, uint32_t id);
void wbl_snap_info(const struct wbl_snap *s, struct wb_snap_info *out);
void wbl_snap_drop_all(struct wblog *e, const char *why);
void wbl_snap_drop_oldest(struct wblog *e, const char *why);
int wbl_snap_destaged(struct wblog *e, uint64_t lba, uint32_t n, uint64_t upto);
void wbl_snap_free_all(struct wblog *e);

static inline struct wbl_rec *wbl_rec_by_seq(struct wblog *e, uint64_t seq)
{
	if (seq < e->rec_first || seq >= e->rec_end)
		return NULL;
	return e->ring[seq % e->ring_cap];
}

void wbl_kick(struct wblog *e);
void wbl_applyq_push(struct wbl_applyq *q, struct wbl_apply *a);
struct wbl_apply *wbl_applyq_pop(struct wbl_applyq *q);
void wbl_reqq_push(struct wbl_reqq *q, struct wb_req *r);
struct wb_req *wbl_reqq_pop(struct wbl_reqq *q);
void wbl_complete(struct wblog *e, struct wb_req *r, int err);
/* A write's buf is no longer read: tell the caller (once; wbl_complete does
 * it too for a write failed before it was admitted). */
void wbl_release_buf(struct wblog *e, struct wb_req *r);
void wbl_fail(struct wblog *e, int err, const char *what);
int wbl_ring_push(struct wblog *e, struct wbl_rec *rec);
void wbl_rec_free(struct wblog *e, struct wbl_rec *rec);
void wbl_rec_put_pages(struct wblog *e, struct wbl_rec *rec);
uint64_t wbl_space_limit(struct wblog *e, int reserve);
int wbl_sb_write(struct wblog *e, void (*done)(struct wblog *e, int err));

/* wblog_write.c */
/* read repair (engine ABI 15 op repair_mask) */
int wbl_repair_mask(struct wb_engine *eng, uint64_t lba, uint32_t n, uint64_t since_seq,
		    uint64_t *mask);
int wbl_submit_write(struct wblog *e, struct wb_req *r);
int wbl_submit_zero(struct wblog *e, struct wb_req *r);
int wbl_submit_flush(struct wblog *e, struct wb_req *r);
int wbl_apply_record(struct wb_engine *eng, const struct wb_record *rec,
		     void (*done)(void *arg, int err), void *arg);
int wbl_log_sync(struct wb_engine *eng, uint64_t seq);
void wbl_close_gen(struct wblog *e);
void wbl_seal(struct wblog *e);
void wbl_progress(struct wblog *e);
void wbl_admit(struct wblog *e);
void wbl_pages_supply(struct wblog *e);
void wbl_release_records(struct wblog *e);
uint64_t wbl_zero_logblk(uint64_t lba);
int wbl_is_zero_logblk(uint64_t log_blk);
int wbl_map_insert(struct wb_extmap *m, const struct wbl_rec *rec);

/* wblog_repl.c */
int wbl_ship(struct wblog *e, struct wbl_rec *rec);
void wbl_rec_get(struct wb_engine *eng, struct wb_rec_ref *r);
void wbl_rec_put(struct wb_engine *eng, struct wb_rec_ref *r);
int wbl_set_repl_hooks(struct wb_engine *eng, const struct wb_repl_hooks *h);
int wbl_read_record(struct wb_engine *eng, uint64_t seq,
		    void (*cb)(void *arg, int err, struct wb_rec_ref *r), void *arg);
int wbl_set_peer_pos(struct wb_engine *eng, unsigned peer, uint64_t seq);
uint64_t wbl_hold_seq(const struct wblog *e);
uint64_t wbl_tail_target(const struct wblog *e);
void wbl_hold_account(struct wblog *e);
int wbl_hold_exceeded(const struct wblog *e);
void wbl_drop_lowest_peer(struct wblog *e);
int wbl_repl_pending(const struct wblog *e);
void wbl_repl_deliver(struct wblog *e, int *n);
void wbl_repl_free(struct wblog *e);

/* Allocation fault injection for the unit tests (test_wblog.c): when n > 0,
 * the n-th guarded allocation from now fails (sealing a record: its ring
 * slot; placing one: its header/iovec buffers). 0 = off. Engine thread. */
extern unsigned wbl_nomem_at;
/* Data blocks per destage batch for the unit tests (test_destage.c: small
 * batches, small logs); 0 = the default (wblog_destage.c). Read at open. */
extern uint32_t wbl_ds_batch_blocks;

/* wblog_meta.c */
int wbl_meta(struct wb_engine *eng, struct wb_meta *out);
int wbl_bm_owner(struct wb_engine *eng, unsigned peer, char *out);
int wbl_bm_owner_set(struct wb_engine *eng, unsigned peer, const char *name,
		     void (*done)(void *arg, int err), void *arg);
int wbl_meta_update(struct wb_engine *eng, enum wb_meta_op op, const struct wb_meta *m,
		    void (*done)(void *arg, int err), void *arg);
void wbl_meta_progress(struct wblog *e);
int wbl_meta_pending(const struct wblog *e); /* a completion to deliver */
void wbl_meta_deliver(struct wblog *e, int *n);
void wbl_meta_free(struct wblog *e);

/* wblog_grow.c */
int wbl_size_max(struct wb_engine *eng, uint64_t *out);
int wbl_grow(struct wb_engine *eng, uint64_t new_size, unsigned flags,
	     void (*done)(void *arg, int err), void *arg);
int wbl_grow_pending(const struct wblog *e); /* a completion to deliver */
void wbl_grow_deliver(struct wblog *e, int *n);
void wbl_grow_free(struct wblog *e);
int wbl_grow_log(struct wb_engine *eng, uint64_t new_bytes, void (*done)(void *arg, int err),
		 void *arg);
/* the superblock write carrying dev_size new_dev (no bitmaps) */
int wbl_meta_grow(struct wblog *e, uint64_t new_dev, void (*done)(void *arg, int err), void *arg);
/* the superblock write carrying the log's new log_size and data_size */
int wbl_meta_grow_log(struct wblog *e, uint64_t log_size, uint64_t data_size,
		      void (*done)(void *arg, int err), void *arg);

/* wblog_bitmap.c */
int wbl_bm_open(struct wblog *e); /* after the superblock, before recovery */
void wbl_bm_free(struct wblog *e);
void wbl_bm_fold(struct wblog *e, const struct wbl_rec *rec); /* a record got its seq */
int wbl_bm_info(struct wb_engine *eng, unsigned peer, struct wb_bm_info *out);
int wbl_bm_set(struct wb_engine *eng, unsigned peer, uint64_t off, uint64_t len, int dirty);
int wbl_bm_next(struct wb_engine *eng, unsigned peer, uint64_t from, uint64_t *off);
int wbl_bm_track(struct wb_engine *eng, unsigned peer, uint64_t from_seq,
		 void (*done)(void *arg, int err), void *arg);
int wbl_bm_flush(struct wb_engine *eng, void (*done)(void *arg, int err), void *arg);
void wbl_bm_dropped(struct wblog *e, unsigned peer, uint64_t seq);
void wbl_bm_rebased(struct wblog *e, uint64_t seq); /* the log restarts at seq */
uint64_t wbl_bm_hold(const struct wblog *e);
uint32_t wbl_bm_tracking(const struct wblog *e);
int wbl_bm_tail_needs(const struct wblog *e, uint64_t tail);
/* The superblock's tail fields as destage sets them (wblog_destage.c) */
struct wbl_tail {
	uint64_t seq, off, min_epoch, gen, destaged_seq, destaged_gen;
};
void wbl_tail_apply(struct wblog *e, const struct wbl_tail *t);
void wbl_bm_commit_for_destage(struct wblog *e, const struct wbl_tail *t,
			       void (*done)(struct wblog *e, int err));
void wbl_bm_progress(struct wblog *e);
/* Grow: the region shift (>= now) whose bits for new_dev fit the area, 0:
 * none up to 1 GiB. */
uint32_t wbl_bm_grow_shift(const struct wblog *e, uint64_t new_dev);
/* Grow: reshape every bitmap for new_dev at shift, mark [old_dev, new_dev)
 * as found if mark, and commit; that commit's superblock carries dev_size
 * and the shift; done(arg, err) from run() once durable. */
int wbl_bm_grow(struct wblog *e, uint64_t old_dev, uint64_t new_dev, uint32_t shift, int mark,
		void (*done)(void *arg, int err), void *arg);
int wbl_bm_busy(const struct wblog *e);
int wbl_bm_committing(const struct wblog *e);
int wbl_bm_pending(const struct wblog *e);
void wbl_bm_deliver(struct wblog *e, int *n);
void wbl_bm_close(struct wblog *e);

/* wblog_read.c */
int wbl_submit_read(struct wblog *e, struct wb_req *r);

#define WBL_MAX_INFLIGHT_RECORDS 8
/* replica records (apply_record) in flight at once: each is a FUA write
 * (wbl_fua_pick), and with 4 a secondary's records waited 1-2.4 ms for a
 * slot at QD32 on the cluster bench (docs/benchmarks.md, "The peers'
 * durable path") */
#define WBL_MAX_INFLIGHT_REPLICA 16
void *wbl_hdr_get(struct wblog *e);
void wbl_hdr_put(struct wblog *e, void *hdr);

extern const struct wb_engine_ops wb_wblog_ops;

#endif /* WB_WBLOG_INT_H */
