// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_destage.c - destage state machine of the wblog engine (see
 * wblog_destage.h).
 *
 * Zero pieces (discard and write-zeroes records) reach the backing device
 * as WB_IO_DISCARD: a hole in a file, an unmap on a block device, zeroes
 * written only where the device cannot do better (engine/io.h). The record
 * does not say which of the two the client sent, and both promise zeroes on
 * read, so the blocks are released in both cases (docs/engine.md).
 *
 * Where the data comes from: a block whose record still holds its RAM
 * page is written from that page (iovecs over the pages, no copy); only
 * blocks no longer in RAM are read from the log into the batch buffer. The
 * batch takes its own reference on each page it will write (the record's
 * may be evicted meanwhile, and a freed page would be handed to a new
 * write) and hands it to the backing write that carries the block, which
 * drops it when it completed (each block of a batch is written once).
 *
 * Pipeline (see wblog_destage.h): the per-batch serial phases (read, write,
 * flush, superblock) left the disk doing one kind of I/O at a time and
 * paid a backing flush and a FUA superblock write per batch. Now batch N+1
 * reads while N writes, and the tail is persisted once per DS_TAIL_BYTES of
 * log (or a quarter of the log), DS_TAIL_MS, or when no batch is in flight.
 * Crash safety: the tail moves only past batches every write of which had
 * completed when the backing flush was submitted (written_end), and log
 * space is released only after that superblock is durable, so everything
 * a torn or lost backing write may have touched is still in the log.
 *
 * Owns: struct wbl_destage (two batches: buffer, page references, piece
 * list; the temporary extent map; tail and rate/ETA counters). The records
 * themselves stay owned by the engine; this module only reads them and,
 * once they are durable on backing and the tail persisted, asks the
 * engine to release them (wbl_release_records).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "engine/wblog_destage.h"
#include "engine/wblog_int.h"

#define DS_BATCHES	2u    /* batches in flight: one reads while the other writes */
#define DS_BATCH_BLOCKS 8192u /* 32 MiB of data per batch, two batches (64 MiB of buffers) */
#define DS_MAX_RECORDS	4096u
#define DS_IO_BYTES	(1u << 20) /* max bytes per backing write */
#define DS_IO_BLOCKS	(DS_IO_BYTES / WB_DISK_BLOCK)
#define DS_NO_PAGE	UINT32_MAX /* piece data in the batch buffer */
#define DS_ZERO_BYTES	(1u << 30) /* max bytes per backing discard */
#define DS_QD		32u
/* log reads of a batch read through gaps of up to this many blocks between
 * the pieces they need (headers, blocks still in RAM, superseded blocks):
 * one 1 MiB read instead of 256 of 4 KiB when random writes were evicted */
#define DS_READ_GAP 16u
/* The tail (backing flush + superblock) is persisted once the batches
 * written since the last one hold this much log space (or a quarter of the
 * log, if less), once the oldest of them finished DS_TAIL_MS ago, and whenever
 * no batch is in flight (nothing more is coming soon). */
#define DS_TAIL_BYTES (256ull << 20)
#define DS_TAIL_MS    500u
/* A batch the minimum rate starts (below the low watermark) waits until
 * this much is dirty (at most rate x DS_GATHER_MS) or DS_GATHER_MS after
 * the previous batch started: every batch costs a backing flush and a
 * superblock write, and a batch per record (a client writing slower than
 * the rate: every record) tripled the device flushes of a QD1 write+flush */
#define DS_GATHER_BYTES (1u << 20)
#define DS_GATHER_MS	250u
/* A log read destage needs failed (ds_stall): the batch waits for the
 * host's copy of the blocks (a peer's: wbl_destage_fill) or a newer durable
 * record of them, looks again every DS_RETRY_MS (reading what is still
 * needed), asks the host again every DS_ASK_MS, and fails the engine
 * after DS_FIX_MS. */
#define DS_RETRY_MS  100u
#define DS_ASK_MS    1000u
#define DS_FIX_MS    10000u
#define DS_ASKED_MAX 64u
#define DS_BLK_BAD   1u /* b->blk: in a failed log read, not read since */
#define DS_BLK_FILL  2u /* b->blk: the host's copy is in the buffer */

/* a batch: free, reading, waiting to write, writing, written (waiting for
 * an older batch still writing), stalled (a log read failed: ds_stall) */
enum { B_FREE, B_READ, B_READY, B_WRITE, B_DONE, B_STALL };
enum { T_IDLE, T_FLUSH, T_SB }; /* the tail */

struct ds_batch;

struct ds_io {
	struct wb_io_req io;
	struct wbl_destage *ds;
	struct ds_batch *b;  /* NULL: the tail's backing flush */
	uint32_t bytes;	     /* what the request transfers */
	uint32_t npg;	     /* page references this write holds */
	struct wb_page **pg; /* npg entries, after iov */
	struct iovec iov[];  /* io.niov entries */
};

/* One batch: records [from, upto], read (log reads of blocks no longer in
 * RAM, references on the pages of the others), then written to backing. */
struct ds_batch {
	int state, err;
	uint64_t from, upto, bytes, span; /* span: log bytes of its records */
	struct wbl_destage_piece *pc;
	uint64_t npc, cap_pc;
	struct ds_rd { /* pieces to read from the log, sorted by log_blk */
		uint64_t log_blk, idx;
	} * rd;
	uint64_t cap_rd;
	uint8_t *buf; /* log reads of the batch (blocks no longer in RAM) */
	/* the batch's page references, one per block written from RAM; an
	 * entry goes NULL when a backing write takes its reference over */
	struct wb_page **held;
	uint32_t nheld, pending;
	uint64_t cur, cur_off; /* write cursor: piece index, blocks done in it */
	/* a log read of the batch failed: DS_BLK_* per block of the buffer
	 * (allocated at the first failure), any_bad: some block is marked */
	uint8_t *blk;
	bool any_bad;
	/* stalled on unreadable log blocks: since when, next look, last ask
	 * of the host (ms; stall_t0 0: never); blocks filled by the host,
	 * left to newer records */
	uint64_t stall_t0, stall_next, stall_asked, filled, skipped;
	struct ds_asked { /* the runs asked for since stall_asked */
		uint64_t lba;
		uint32_t n;
	} asked[DS_ASKED_MAX];
	uint32_t nasked;
	bool drop; /* closing with an older batch stalled: dropped once read */
};

struct wbl_destage {
	struct wblog *e;
	int drain, failed;
	uint32_t buf_blocks;
	struct wb_extmap *tmp;
	struct ds_batch b[DS_BATCHES];
	/*
	 * Records [e->destaged_seq, written_end) are written to backing, not
	 * yet covered by a completed backing flush; [written_end, next_seq)
	 * are in batches. Batches start writing in seq order (write_next: the
	 * first seq of the next one to start), and a batch starts while an
	 * older one still writes only if the two share no block: a newer
	 * version of a block never races an older one. written_end moves over
	 * batches whose writes all completed, in seq order. The tail moves
	 * only past records a completed backing flush covers.
	 */
	uint64_t next_seq, written_end, write_next;
	/* written since the last tail: data bytes, log bytes, batches, when */
	uint64_t unfl_bytes, unfl_span, unfl_batches, unfl_ms;
	uint64_t picked_span; /* log bytes of picked records, not destaged yet */
	int tail;
	uint64_t tail_upto, tail_bytes, tail_span; /* the tail in flight */
	/* a held tail (wbl_tail_target short of destaged_seq) moved on: its
	 * own superblock write is due then, 0: none (ds_tail_held) */
	uint64_t held_due_ms;
	bool tail_held; /* the write in flight is one of those */
	int64_t tokens;
	uint64_t last_tick_ms;
	uint64_t start_ms; /* when the last batch started (0: none yet) */
	uint64_t rate, total, rate_t0_ms;
};

uint32_t wbl_ds_batch_blocks;
uint32_t wbl_ds_fix_ms; /* tests: DS_FIX_MS when 0 */

int wbl_destage_create(struct wblog *e)
{
	struct wbl_destage *ds = calloc(1, sizeof(*ds));
	uint32_t bb = wbl_ds_batch_blocks ? wbl_ds_batch_blocks : DS_BATCH_BLOCKS;
	unsigned i;

	if (!ds)
		return -ENOMEM;
	ds->e = e;
	ds->buf_blocks = bb > e->max_rec_blocks ? bb : e->max_rec_blocks;
	e->ds = ds;
	for (i = 0; i < DS_BATCHES; i++) {
		/* an anonymous mapping, not the heap: the 64 MiB of a resource
		 * that never destages much stay untouched (not resident), and
		 * no allocator fills or poisons them at every open */
		void *buf = mmap(NULL, (size_t)ds->buf_blocks * WB_DISK_BLOCK,
				 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		ds->b[i].buf = buf == MAP_FAILED ? NULL : buf;
		ds->b[i].held = calloc(ds->buf_blocks, sizeof(*ds->b[i].held));
		if (!ds->b[i].buf || !ds->b[i].held)
			break;
	}
	if (i < DS_BATCHES || wb_extmap_create(&ds->tmp)) {
		wbl_destage_destroy(e);
		return -ENOMEM;
	}
	ds->last_tick_ms = wb_now_ms();
	return 0;
}

/* Drop the batch's page references no write took over. */
static void ds_put_held(struct wbl_destage *ds, struct ds_batch *b)
{
	for (uint32_t i = 0; i < b->nheld; i++)
		if (b->held[i])
			wb_page_put(ds->e->pb, b->held[i]);
	b->nheld = 0;
}

void wbl_destage_destroy(struct wblog *e)
{
	struct wbl_destage *ds = e->ds;

	if (!ds)
		return;
	for (unsigned i = 0; i < DS_BATCHES; i++) {
		struct ds_batch *b = &ds->b[i];

		if (b->held)
			ds_put_held(ds, b);
		if (b->buf)
			munmap(b->buf, (size_t)ds->buf_blocks * WB_DISK_BLOCK);
		free(b->held);
		free(b->pc);
		free(b->rd);
		free(b->blk);
	}
	if (ds->tmp)
		wb_extmap_destroy(ds->tmp);
	free(ds);
	e->ds = NULL;
}

/* Batches in flight (reading, waiting to write, writing). */
static unsigned ds_busy(const struct wbl_destage *ds)
{
	unsigned n = 0;

	for (unsigned i = 0; i < DS_BATCHES; i++)
		n += ds->b[i].state != B_FREE;
	return n;
}

/* A batch waits for a good copy of blocks it could not read (ds_stall). */
static bool ds_stalled(const struct wbl_destage *ds)
{
	for (unsigned i = 0; i < DS_BATCHES; i++)
		if (ds->b[i].state == B_STALL)
			return true;
	return false;
}

/* Nothing in flight and nothing written that the tail has not passed. */
static int ds_empty(const struct wbl_destage *ds)
{
	return !ds_busy(ds) && ds->tail == T_IDLE &&
	       (ds->failed || ds->written_end <= ds->e->destaged_seq);
}

int wbl_destage_idle(struct wblog *e)
{
	return ds_empty(e->ds);
}

/*
 * The log was rebased (wbl_rebase: idle, so nothing is picked, written or
 * in flight here): the positions go to the new seq. Also down, for a
 * resync target that discards its own records: ds_empty() only resets them
 * when the tail passed written_end, which a log restarting at a lower seq
 * reaches only once it has written that far again. Until then destage took
 * the new records for written (idle with dirty data: write-through acks
 * waited forever), and the tail that got past them dropped them from the
 * extent map unwritten (acknowledged writes read back old data).
 */
void wbl_destage_rebased(struct wblog *e)
{
	struct wbl_destage *ds = e->ds;

	ds->next_seq = ds->written_end = ds->write_next = ds->tail_upto = e->destaged_seq;
	ds->picked_span = 0;
	ds->start_ms = 0;
}

void wbl_destage_set_drain(struct wblog *e, int on)
{
	e->ds->drain = on;
	wbl_kick(e);
}

static void ds_tokens(struct wbl_destage *ds)
{
	uint64_t now = wb_now_ms(), rate = ds->e->p.destage_min_rate;

	ds->tokens += (int64_t)(rate * (now - ds->last_tick_ms) / 1000);
	if (ds->tokens > (int64_t)rate)
		ds->tokens = (int64_t)rate;
	ds->last_tick_ms = now;
}

/* ms until a minimum-rate batch has gathered enough (DS_GATHER_*), 0: now */
static uint64_t ds_gather_wait(const struct wbl_destage *ds)
{
	const struct wblog *e = ds->e;
	uint64_t want = e->p.destage_min_rate * DS_GATHER_MS / 1000, now;

	if (want > DS_GATHER_BYTES)
		want = DS_GATHER_BYTES;
	if (!ds->start_ms || e->dirty_bytes >= want)
		return 0;
	now = wb_now_ms();
	return now - ds->start_ms >= DS_GATHER_MS ? 0 : ds->start_ms + DS_GATHER_MS - now;
}

/* Destage stands at a snapshot's pin: drop snapshots, oldest first, when
 * writers need destage to go on (the log at destage_high_pct or a record
 * waiting for space, write-through, a drain); true: it may go on now. */
static bool ds_snap_yield(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	const char *why = NULL;

	if (ds->drain || e->mode == WB_MODE_WRITETHROUGH)
		why = e->mode == WB_MODE_WRITETHROUGH ? "write-through: destage must go on"
						      : "the log is drained";
	else if (e->space_wait ||
		 e->sp.used * 100 >= (uint64_t)e->p.destage_high_pct * (e->sp.end - e->sp.start))
		why = "the log needs the space it holds";
	else if (e->closing)
		why = "closing";
	while (why && ds->next_seq > e->snap_pin)
		wbl_snap_drop_oldest(e, why);
	return ds->next_seq <= e->snap_pin;
}

/* The first record destage has not picked: the backing device holds
 * nothing of it or of a later one. */
uint64_t wbl_destage_untouched(const struct wblog *e)
{
	return e->ds->next_seq > e->destaged_seq ? e->ds->next_seq : e->destaged_seq;
}

/*
 * 0: no new batch now; 1: a batch may start regardless of the rate budget
 * (drain, write-through, above the low watermark, counting the log space
 * the batches in flight will release as released); 2: a batch may start
 * because of the minimum-rate rule only (only when no other is in flight) -
 * that batch, and only that one, is charged to the rate budget.
 */
static int ds_should_run(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	uint64_t freeable;

	if (e->state == WB_STATE_FAILED || ds->failed)
		return 0;
	if (ds_empty(ds)) /* after open or rebase destaged_seq may have moved */
		ds->next_seq = ds->written_end = ds->write_next = e->destaged_seq;
	if (ds_busy(ds) == DS_BATCHES || ds->next_seq > e->completed_seq ||
	    ds->next_seq >= e->rec_end || ds_stalled(ds))
		return 0;
	/*
	 * Only records durable in the log are destaged: a backing write torn by
	 * a power cut is then repaired by replay. (A record that is only
	 * completed could be lost from the log while its torn copy stays on
	 * backing.) Ask for a log flush and come back when it is done.
	 */
	if (ds->next_seq > e->durable_seq) {
		if (e->want_durable < e->completed_seq)
			e->want_durable = e->completed_seq;
		return 0;
	}
	/*
	 * Close only makes the log durable (the log is the durable copy): no new
	 * batch unless a write still in flight waits for it (log space, or a
	 * write-through ack).
	 */
	if (e->closing && !e->admitq.head && e->place_seq >= e->next_seq &&
	    e->ack_seq >= e->next_seq)
		return 0;
	/* a snapshot pins destage (wblog_snap.c) until writers need it to go on */
	if (ds->next_seq > e->snap_pin && !ds_snap_yield(ds))
		return 0;
	/* a sealed record waits for log space: below the low watermark too
	 * (a wrapped log's free space can be in two pieces that are each too
	 * small for it; with no minimum rate nothing else would free one) */
	if (ds->drain || e->mode == WB_MODE_WRITETHROUGH || e->space_wait)
		return 1;
	/* the log space destage can free: not what batches in flight will
	 * release, nor records destaged already that a peer holds (a lagging
	 * peer's catch-up) - destaging faster frees none of those */
	wbl_hold_account(e);
	freeable = e->sp.used - ds->picked_span - e->held_bytes;
	if (e->sp.used < ds->picked_span + e->held_bytes)
		freeable = 0;
	if (freeable * 100 >= (uint64_t)e->p.destage_low_pct * (e->sp.end - e->sp.start))
		return 1;
	if (ds_busy(ds) || e->closing || e->p.destage_min_rate == WB_DESTAGE_RATE_NONE)
		return 0;
	ds_tokens(ds);
	return ds->tokens >= 0 && !ds_gather_wait(ds) ? 2 : 0;
}

int wbl_destage_timeout(struct wblog *e)
{
	struct wbl_destage *ds = e->ds;
	uint64_t rate = e->p.destage_min_rate ? e->p.destage_min_rate : 1, now = 0;
	int t = -1;

	for (unsigned i = 0; i < DS_BATCHES; i++) { /* a stalled batch looks again */
		uint64_t due = ds->b[i].stall_next;

		if (ds->b[i].state != B_STALL || ds->failed)
			continue;
		if (!now)
			now = wb_now_ms();
		if (t < 0 || (due <= now ? 0 : (int)(due - now)) < t)
			t = due <= now ? 0 : (int)(due - now);
	}
	if (t >= 0)
		return t;
	if (!ds_empty(ds) || e->destaged_seq > e->durable_seq || e->destaged_seq >= e->rec_end ||
	    e->state == WB_STATE_FAILED || e->p.destage_min_rate == WB_DESTAGE_RATE_NONE)
		return -1;
	ds_tokens(ds);
	if (ds->tokens >= 0)
		return (int)ds_gather_wait(ds);
	return (int)((uint64_t)(-ds->tokens) * 1000 / rate + 1);
}

static int ds_piece_cb(const struct wb_extmap_ent *x, void *arg)
{
	struct ds_batch *b = arg;
	struct wbl_destage_piece *p;

	if (b->npc == b->cap_pc) {
		uint64_t ncap = b->cap_pc ? b->cap_pc * 2 : 256;
		void *n = realloc(b->pc, ncap * sizeof(*b->pc));

		if (!n)
			return -ENOMEM;
		b->pc = n;
		b->cap_pc = ncap;
	}
	p = &b->pc[b->npc++];
	p->lba = x->lba;
	p->nblocks = x->nblocks;
	p->log_blk = x->log_blk;
	p->seq = x->seq;
	p->buf_off = 0;
	p->pg = DS_NO_PAGE;
	return 0;
}

/*
 * Fail the engine. Batches with I/O in flight are given up when their last
 * request completes (ds_io_done); the others at once.
 */
static void ds_fail(struct wbl_destage *ds, int err, const char *what)
{
	struct wblog *e = ds->e;

	wb_msg(WB_LOG_ERR, "%s: destage of seq %llu..%llu: %s: %s", e->eng.name,
	       (unsigned long long)e->destaged_seq, (unsigned long long)ds->next_seq - 1, what,
	       strerror(-err));
	ds->failed = 1;
	ds->tail = T_IDLE;
	for (unsigned i = 0; i < DS_BATCHES; i++) {
		struct ds_batch *b = &ds->b[i];

		if (b->state != B_FREE && !b->pending) {
			ds_put_held(ds, b);
			b->state = B_FREE;
		}
	}
	wbl_fail(e, err, NULL);
}

static void ds_write_more(struct wbl_destage *ds, struct ds_batch *b);
static void ds_tail(struct wbl_destage *ds);

static void ds_sb_done(struct wblog *e, int err)
{
	struct wbl_destage *ds = e->ds;
	uint64_t now = wb_now_ms();
	bool held = ds->tail_held;

	if (err) {
		ds_fail(ds, err, "superblock write");
		return;
	}
	/* The tail on disk is past these records: their space may now be
	 * overwritten (not past destage's position when a peer holds it) */
	if (e->sb_durable.tail_seq > e->release_upto)
		e->release_upto = e->sb_durable.tail_seq;
	ds->tail = T_IDLE;
	ds->tail_held = false;
	wbl_release_records(e);
	if (held) {
		wbl_kick(e);
		return;
	}
	if (ds->tail_bytes && ds->rate_t0_ms) {
		uint64_t dur = now - ds->rate_t0_ms;
		uint64_t inst = ds->tail_bytes * 1000 / (dur ? dur : 1);

		ds->rate = ds->rate ? (ds->rate * 7 + inst * 3) / 10 : inst;
	}
	/* the next tail's bytes were destaged from now on, or from the start
	 * of the next batch if none is in flight */
	ds->rate_t0_ms = ds_busy(ds) || ds->unfl_batches ? now : 0;
	ds_tail(ds);
	wbl_kick(e);
}

/*
 * The tail the next superblock write persists: seq (wbl_tail_target, past
 * the current one). The records from seq on stay in the log for recovery;
 * those before it may be reused once that write is durable.
 */
static void ds_tail_fields(struct wblog *e, uint64_t seq, struct wbl_tail *t)
{
	struct wbl_rec *last = wbl_rec_by_seq(e, seq - 1), *next = wbl_rec_by_seq(e, seq);

	t->seq = seq;
	t->off = next && next->state >= WBL_REC_WRITING ? next->off : e->sp.head;
	t->min_epoch = last->epoch;
	t->gen = next ? next->gen : e->gen;
	t->destaged_seq = seq;
	t->destaged_gen = (last->flags & WB_REC_F_GEN_END) || (next && next->gen > last->gen) ||
				  (!next && e->gen > last->gen)
			      ? last->gen
			      : last->gen - 1;
}

void wbl_tail_apply(struct wblog *e, const struct wbl_tail *t)
{
	e->sb.tail_seq = t->seq;
	e->sb.tail_off = t->off;
	e->sb.tail_min_epoch = t->min_epoch;
	e->sb.tail_gen = t->gen;
	e->sb.destaged_seq = t->destaged_seq;
	e->sb.destaged_gen = t->destaged_gen;
}

/* Persist tail seq: through the bitmap commit a tracking peer needs for it
 * (its copies durable before a superblock names the tail) */
static void ds_write_tail(struct wbl_destage *ds, uint64_t seq)
{
	struct wblog *e = ds->e;
	struct wbl_tail t;
	int ret;

	ds->tail = T_SB;
	ds_tail_fields(e, seq, &t);
	if (wbl_bm_tail_needs(e, seq)) {
		wbl_bm_commit_for_destage(e, &t, ds_sb_done);
		return;
	}
	wbl_tail_apply(e, &t);
	ret = wbl_sb_write(e, ds_sb_done);
	if (ret)
		ds_fail(ds, ret, "superblock write submit");
	else
		wbl_kick(e);
}

/*
 * A tail held back by a peer (wbl_tail_target short of destage's position)
 * that can move on, with no destage tail to carry it: its own superblock
 * write DS_HELD_TAIL_MS after it could first move (destage's tails carry
 * it meanwhile: under a steady load none is needed), at once when a
 * record waits for log space. A crash in between replays (and destages
 * again) at most those records.
 */
#define DS_HELD_TAIL_MS 50u

static void ds_tail_held(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	uint64_t t, now;

	if (ds->tail != T_IDLE || ds->failed || e->state == WB_STATE_FAILED || e->sb_queued)
		return;
	t = wbl_tail_target(e);
	if (t <= e->sb.tail_seq) {
		ds->held_due_ms = 0;
		return;
	}
	now = wb_now_ms();
	if (!ds->held_due_ms)
		ds->held_due_ms = now + DS_HELD_TAIL_MS;
	if (!e->space_wait && now < ds->held_due_ms)
		return;
	ds->held_due_ms = 0;
	ds->tail_held = true;
	ds_write_tail(ds, t);
}

/* When the held tail's write is due (engine timeout), 0: none */
uint64_t wbl_destage_held_due(const struct wblog *e)
{
	return e->ds->tail == T_IDLE ? e->ds->held_due_ms : 0;
}

static void ds_flush_done(struct wb_io_req *io, int res)
{
	struct ds_io *d = io->priv;
	struct wbl_destage *ds = d->ds;
	struct wblog *e = ds->e;
	uint64_t s, upto = ds->tail_upto - 1;
	int ret;

	free(d);
	if (ds->failed)
		return;
	if (res < 0) {
		ds_fail(ds, res, "backing flush");
		return;
	}
	/* Durable on backing: reads of these blocks may go to backing now. */
	for (s = e->destaged_seq; s <= upto; s++) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, s);

		for (uint32_t i = 0; i < rec->nextents; i++) {
			if (!rec->ext[i].nblocks)
				continue;
			ret =
			    wb_extmap_drop_upto(e->map, rec->ext[i].lba, rec->ext[i].nblocks, upto);
			if (!ret)
				ret = wbl_snap_destaged(e, rec->ext[i].lba, rec->ext[i].nblocks,
							upto);
			if (ret) {
				ds_fail(ds, ret, "extent map drop");
				return;
			}
		}
		if (!(rec->flags & WB_REC_F_ZERO))
			e->dirty_bytes -= (uint64_t)rec->data_blocks * WB_DISK_BLOCK;
		wbl_rec_put_pages(e, rec);
	}
	e->destaged_seq = upto + 1;
	e->st.destaged_bytes += ds->tail_bytes;
	ds->total += ds->tail_bytes;
	/* destaged: from picked to held_bytes (wbl_hold_account) until released */
	ds->picked_span -= ds->tail_span;
	ds->tail_span = 0;
	ds->held_due_ms = 0;
	s = wbl_tail_target(e);
	if (s == e->sb.tail_seq) { /* held where it is on disk: nothing to write */
		ds->tail = T_SB;
		ds_sb_done(e, 0);
		return;
	}
	ds_write_tail(ds, s);
}

/*
 * Persist the tail when it is due: flush the backing device (covering every
 * batch whose writes completed, none still in flight of the batches it
 * covers), then the superblock. Batches go on reading and writing meanwhile.
 */
static void ds_tail(struct wbl_destage *ds)
{
	struct wblog *e = ds->e;
	uint64_t lim = (e->sp.end - e->sp.start) / 4;
	struct ds_io *d;
	int ret;

	if (ds->tail != T_IDLE || ds->failed || !ds->unfl_batches ||
	    ds->written_end <= e->destaged_seq)
		return;
	if (lim > DS_TAIL_BYTES)
		lim = DS_TAIL_BYTES;
	if (ds_busy(ds) && e->mode != WB_MODE_WRITETHROUGH && ds->unfl_span < lim &&
	    wb_now_ms() - ds->unfl_ms < DS_TAIL_MS)
		return;
	d = calloc(1, sizeof(*d));
	if (!d) {
		ds_fail(ds, -ENOMEM, "backing flush submit");
		return;
	}
	ds->tail = T_FLUSH;
	ds->tail_upto = ds->written_end;
	ds->tail_bytes = ds->unfl_bytes;
	ds->tail_span = ds->unfl_span; /* the batches are [destaged_seq, written_end) */
	ds->unfl_bytes = ds->unfl_span = ds->unfl_batches = 0;
	d->ds = ds;
	d->io.op = WB_IO_FLUSH;
	d->io.done = ds_flush_done;
	d->io.priv = d;
	ret = wb_io_submit(e->bak, &d->io);
	if (ret) {
		free(d);
		ds_fail(ds, ret, "backing flush submit");
	}
}

/* Do batches a and b write a common block? (Pieces are LBA-sorted and do
 * not overlap inside a batch.) */
static bool ds_conflict(const struct ds_batch *a, const struct ds_batch *b)
{
	uint64_t i = 0, j = 0;

	while (i < a->npc && j < b->npc) {
		const struct wbl_destage_piece *p = &a->pc[i], *q = &b->pc[j];

		if (p->lba + p->nblocks <= q->lba)
			i++;
		else if (q->lba + q->nblocks <= p->lba)
			j++;
		else
			return true;
	}
	return false;
}

/* The next batch in seq order starts writing once it has its data and no
 * batch still writing shares a block with it. */
static void ds_try_write(struct wbl_destage *ds)
{
	struct ds_batch *b = NULL;
	unsigned i;

	for (i = 0; i < DS_BATCHES; i++)
		if (ds->b[i].state == B_READY && ds->b[i].from == ds->write_next)
			b = &ds->b[i];
	if (!b)
		return;
	for (i = 0; i < DS_BATCHES; i++)
		if (ds->b[i].state == B_WRITE && ds_conflict(&ds->b[i], b))
			return;
	b->state = B_WRITE;
	b->cur = 0;
	b->cur_off = 0;
	ds->write_next = b->upto + 1;
	ds_write_more(ds, b);
}

/* Every write of batch b completed: once the older batches' did too, its
 * records wait for the tail. */
static void ds_batch_written(struct wbl_destage *ds, struct ds_batch *b)
{
	bool more = true;

	ds_put_held(ds, b); /* none left: every block was written */
	b->state = B_DONE;
	while (more) {
		more = false;
		for (unsigned i = 0; i < DS_BATCHES; i++) {
			struct ds_batch *x = &ds->b[i];

			if (x->state != B_DONE || x->from != ds->written_end)
				continue;
			ds->written_end = x->upto + 1;
			if (!ds->unfl_batches)
				ds->unfl_ms = wb_now_ms();
			ds->unfl_batches++;
			ds->unfl_bytes += x->bytes;
			ds->unfl_span += x->span;
			x->state = B_FREE;
			more = true;
		}
	}
	ds_try_write(ds);
	ds_tail(ds);
	wbl_kick(ds->e); /* a new batch may start */
}

/* Block k of piece p still needs its data: in a failed log read, not read
 * since, not filled by the host. */
static bool ds_need(const struct ds_batch *b, const struct wbl_destage_piece *p, uint64_t k)
{
	uint8_t f;

	if (!b->any_bad || wbl_is_zero_logblk(p->log_blk) || p->pg != DS_NO_PAGE)
		return false;
	f = b->blk[p->buf_off / WB_DISK_BLOCK + k];
	return (f & DS_BLK_BAD) && !(f & DS_BLK_FILL);
}

/* The end of the run of blocks of piece p from k on that all need their
 * data, or all do not (ds_need), at most max blocks long. */
static uint64_t ds_need_run(const struct ds_batch *b, const struct wbl_destage_piece *p, uint64_t k,
			    uint64_t max)
{
	bool need = ds_need(b, p, k);
	uint64_t j = k + 1;

	while (j < p->nblocks && j - k < max && ds_need(b, p, j) == need)
		j++;
	return j;
}

/* Mark (bad) or clear (read fine) blocks [pos, pos + n) of b's buffer. */
static int ds_mark(struct wbl_destage *ds, struct ds_batch *b, uint64_t pos, uint64_t n, bool bad)
{
	if (!b->blk && !bad)
		return 0;
	if (!b->blk && !(b->blk = calloc(ds->buf_blocks, 1)))
		return -ENOMEM;
	for (uint64_t i = pos; i < pos + n && i < ds->buf_blocks; i++)
		b->blk[i] =
		    bad ? (uint8_t)(b->blk[i] | DS_BLK_BAD) : (uint8_t)(b->blk[i] & ~DS_BLK_BAD);
	if (bad)
		b->any_bad = true;
	return 0;
}

/*
 * Closing (no destage needed: dirty data stays in the log, recovery replays
 * it) with batch b stalled: b and every newer batch not writing are
 * dropped, their records picked again after the next open; a newer batch
 * still reading is dropped once its reads are in. Waiting for the host's
 * copy instead would hold the close for up to DS_FIX_MS (the daemon stops
 * replication first) and then fail the engine.
 */
static void ds_drop(struct wbl_destage *ds, struct ds_batch *b)
{
	for (unsigned i = 0; i < DS_BATCHES; i++) {
		struct ds_batch *x = &ds->b[i];

		if (x->from < b->from ||
		    (x->state != B_READ && x->state != B_READY && x->state != B_STALL))
			continue;
		if (x->state == B_READ && x->pending) {
			x->drop = true;
			continue;
		}
		ds_put_held(ds, x);
		ds->picked_span -= x->span;
		if (ds->next_seq > x->from)
			ds->next_seq = x->from;
		x->drop = false;
		x->state = B_FREE;
	}
	wbl_kick(ds->e);
}

/*
 * A log read of batch b failed. Without the host's log_unreadable hook (a
 * single node) that fails the engine, as it always did. With
 * it, the host is told which blocks (runs of them: their newest version is
 * in those log blocks, the batch holds the newest version in it of each
 * block, and nothing newer has been destaged) and may hand a good copy
 * back (a peer's: wbl_destage_fill); the batch stalls, and ds_retry reads
 * again what is neither filled nor covered by a newer durable record,
 * until DS_FIX_MS after the first failure. Closing: ds_drop instead.
 */
static void ds_stall(struct wbl_destage *ds, struct ds_batch *b)
{
	struct wblog *e = ds->e;
	uint64_t now = wb_now_ms(), fix = wbl_ds_fix_ms ? wbl_ds_fix_ms : DS_FIX_MS, blocks = 0;
	int err = b->err;

	if (e->closing && e->hooks.log_unreadable && err != -ENOMEM &&
	    e->state != WB_STATE_FAILED) {
		wb_msg(WB_LOG_WARN,
		       "%s: destage of seq %llu..%llu: blocks it could not read from the log "
		       "stay there (closing: replayed at the next open)",
		       e->eng.name, (unsigned long long)b->from, (unsigned long long)b->upto);
		ds_drop(ds, b);
		return;
	}
	if (!e->hooks.log_unreadable || err == -ENOMEM || e->state == WB_STATE_FAILED) {
		ds_fail(ds, err, "log read");
		return;
	}
	if (b->stall_t0 && now - b->stall_t0 >= fix) {
		wb_msg(WB_LOG_ERR,
		       "%s: destage: no good copy of the blocks it could not read from the log "
		       "within %llu ms",
		       e->eng.name, (unsigned long long)fix);
		ds_fail(ds, err, "log read");
		return;
	}
	/* every run again each DS_ASK_MS, a new one at once */
	if (!b->stall_asked || now - b->stall_asked >= DS_ASK_MS) {
		b->stall_asked = now;
		b->nasked = 0;
	}
	for (uint64_t i = 0; i < b->npc; i++) {
		const struct wbl_destage_piece *p = &b->pc[i];

		for (uint64_t k = 0, j; k < p->nblocks; k = j) {
			uint32_t a, n;

			j = ds_need_run(b, p, k, UINT64_MAX);
			if (!ds_need(b, p, k))
				continue;
			n = (uint32_t)(j - k);
			blocks += n;
			for (a = 0; a < b->nasked; a++)
				if (b->asked[a].lba == p->lba + k && b->asked[a].n == n)
					break;
			if (a < b->nasked)
				continue;
			if (b->nasked < DS_ASKED_MAX)
				b->asked[b->nasked++] = (struct ds_asked){p->lba + k, n};
			/* the hook is read for each call: a callback may change it */
			if (!e->hooks.log_unreadable ||
			    e->hooks.log_unreadable(e->hooks.arg, p->lba + k, n)) {
				ds_fail(ds, err, "log read (no good copy to be had here)");
				return;
			}
		}
	}
	if (!b->stall_t0) {
		b->stall_t0 = now;
		wb_msg(WB_LOG_WARN,
		       "%s: destage of seq %llu..%llu: %llu blocks could not be read from the "
		       "log (%s): waiting up to %llu ms for a good copy of them (a peer's)",
		       e->eng.name, (unsigned long long)b->from, (unsigned long long)b->upto,
		       (unsigned long long)blocks, strerror(-err), (unsigned long long)fix);
	}
	b->state = B_STALL;
	b->stall_next = now + DS_RETRY_MS;
}

/* Every read of batch b is in: it may write (ds_try_write). */
static void ds_read_done(struct wbl_destage *ds, struct ds_batch *b)
{
	if (b->stall_t0)
		wb_msg(WB_LOG_INFO,
		       "%s: destage of seq %llu..%llu goes on after %llu ms: of the blocks it "
		       "could not read from the log, %llu came from the host (a peer), %llu "
		       "have newer records that will be destaged instead",
		       ds->e->eng.name, (unsigned long long)b->from, (unsigned long long)b->upto,
		       (unsigned long long)(wb_now_ms() - b->stall_t0),
		       (unsigned long long)b->filled, (unsigned long long)b->skipped);
	b->stall_t0 = 0;
	b->state = B_READY;
	ds_try_write(ds);
}

static void ds_io_done(struct wb_io_req *io, int res)
{
	struct ds_io *d = io->priv;
	struct wbl_destage *ds = d->ds;
	struct ds_batch *b = d->b;

	if (io->op == WB_IO_READ) { /* the buffer's blocks it was for */
		uint64_t pos = (uint64_t)((uint8_t *)io->buf - b->buf) / WB_DISK_BLOCK;
		int ret = ds_mark(ds, b, pos, d->bytes / WB_DISK_BLOCK,
				  res < 0 || (uint32_t)res != d->bytes);

		if (ret && !b->err)
			b->err = ret;
	}
	if ((res < 0 || (uint32_t)res != d->bytes) && !b->err) {
		b->err = res < 0 ? res : -EIO;
		wb_msg(WB_LOG_ERR, "%s: destage %s at 0x%llx failed: %s", ds->e->eng.name,
		       io->op == WB_IO_READ    ? "log read"
		       : io->op == WB_IO_WRITE ? "backing write"
					       : "backing discard",
		       (unsigned long long)io->off, strerror(-b->err));
	}
	/* the write's data is on the device: its pages may go */
	for (uint32_t i = 0; i < d->npg; i++)
		wb_page_put(ds->e->pb, d->pg[i]);
	free(d);
	b->pending--;
	if (ds->failed) {
		if (!b->pending) {
			ds_put_held(ds, b);
			b->state = B_FREE;
		}
		return;
	}
	if (b->state == B_READ && !b->pending) {
		if (b->drop)
			ds_drop(ds, b);
		else if (b->err)
			ds_stall(ds, b);
		else
			ds_read_done(ds, b);
	} else if (b->state == B_WRITE) {
		ds_write_more(ds, b);
		/* a write of b completed: the other batch writing may go on */
		for (unsigned i = 0; i < DS_BATCHES; i++)
			if (&ds->b[i] != b && ds->b[i].state == B_WRITE)
				ds_write_more(ds, &ds->b[i]);
	}
}

static int ds_submit(struct wbl_destage *ds, struct ds_batch *b, struct wb_io *io, int op,
		     void *buf, uint32_t len, uint64_t off)
{
	struct ds_io *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->ds = ds;
	d->b = b;
	d->io.op = (uint8_t)op;
	d->io.buf = buf;
	d->io.len = len;
	d->io.off = off;
	d->bytes = len;
	d->io.done = ds_io_done;
	d->io.priv = d;
	b->pending++;
	ret = wb_io_submit(io, &d->io);
	if (ret) {
		b->pending--;
		free(d);
	}
	return ret;
}

/* Block k of data piece p: in its RAM page (*hi = the index of the batch's
 * reference), or in the batch buffer (*hi = DS_NO_PAGE). */
static uint8_t *ds_blk(const struct ds_batch *b, const struct wbl_destage_piece *p, uint64_t k,
		       uint32_t *hi)
{
	if (p->pg != DS_NO_PAGE) {
		*hi = p->pg + (uint32_t)k;
		return b->held[*hi]->data;
	}
	*hi = DS_NO_PAGE;
	return b->buf + p->buf_off + k * WB_DISK_BLOCK;
}

/*
 * One backing write from the write cursor on: data blocks of LBA-contiguous
 * pieces, up to DS_IO_BYTES, as iovecs over their pages / the batch buffer
 * (adjacent addresses merged). The page references of its blocks move from
 * the batch to the write. Moves the cursor; 0 or -errno (cursor and
 * references as they were).
 */
static int ds_write_one(struct wbl_destage *ds, struct ds_batch *b)
{
	struct wblog *e = ds->e;
	struct iovec iov[DS_IO_BLOCKS];
	uint32_t hidx[DS_IO_BLOCKS];
	uint64_t cur = b->cur, cur_off = b->cur_off;
	uint64_t lba = b->pc[cur].lba + cur_off, n = 0;
	uint32_t niov = 0, npg = 0, i;
	struct ds_io *d;
	int ret;

	while (n < DS_IO_BLOCKS && cur < b->npc) {
		const struct wbl_destage_piece *q = &b->pc[cur];

		if (wbl_is_zero_logblk(q->log_blk) || q->lba + cur_off != lba + n)
			break;
		for (; cur_off < q->nblocks && n < DS_IO_BLOCKS; cur_off++, n++) {
			uint32_t hi;
			uint8_t *a = ds_blk(b, q, cur_off, &hi);

			if (hi != DS_NO_PAGE)
				hidx[npg++] = hi;
			if (niov && (uint8_t *)iov[niov - 1].iov_base + iov[niov - 1].iov_len == a)
				iov[niov - 1].iov_len += WB_DISK_BLOCK;
			else
				iov[niov++] =
				    (struct iovec){.iov_base = a, .iov_len = WB_DISK_BLOCK};
		}
		if (cur_off < q->nblocks)
			break; /* the write is full */
		cur++;
		cur_off = 0;
	}
	d = calloc(1, sizeof(*d) + niov * sizeof(struct iovec) + npg * sizeof(struct wb_page *));
	if (!d)
		return -ENOMEM;
	d->ds = ds;
	d->b = b;
	d->io.op = WB_IO_WRITE;
	d->io.off = lba * WB_DISK_BLOCK;
	d->bytes = (uint32_t)(n * WB_DISK_BLOCK);
	if (niov == 1) {
		d->io.buf = iov[0].iov_base;
		d->io.len = (uint32_t)iov[0].iov_len;
	} else {
		memcpy(d->iov, iov, niov * sizeof(struct iovec));
		d->io.iov = d->iov;
		d->io.niov = (uint16_t)niov;
	}
	d->io.done = ds_io_done;
	d->io.priv = d;
	d->pg = (struct wb_page **)(d->iov + niov);
	d->npg = npg;
	for (i = 0; i < npg; i++) /* completions come from reap only, never from submit */
		d->pg[i] = b->held[hidx[i]];
	b->pending++;
	ret = wb_io_submit(e->bak, &d->io);
	if (ret) {
		b->pending--;
		free(d);
		return ret;
	}
	for (i = 0; i < npg; i++) /* the write holds these references now */
		b->held[hidx[i]] = NULL;
	b->cur = cur;
	b->cur_off = cur_off;
	return 0;
}

/* Backing requests in flight (the batches writing). */
static uint32_t ds_writes(const struct wbl_destage *ds)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < DS_BATCHES; i++)
		if (ds->b[i].state == B_WRITE)
			n += ds->b[i].pending;
	return n;
}

/* Issue backing writes in LBA order, at most DS_QD in flight (all batches). */
static void ds_write_more(struct wbl_destage *ds, struct ds_batch *b)
{
	struct wblog *e = ds->e;
	int ret;

	if (ds->failed)
		return;
	if (b->err) {
		if (!b->pending)
			ds_fail(ds, b->err, "backing write");
		return;
	}
	while (ds_writes(ds) < DS_QD && b->cur < b->npc) {
		struct wbl_destage_piece *p = &b->pc[b->cur];
		uint64_t lba = p->lba + b->cur_off;
		uint64_t left = p->nblocks - b->cur_off, n;

		if (wbl_is_zero_logblk(p->log_blk)) {
			/* The pieces of one batch do not overlap (newest version
			 * per block), and no older batch still writing shares a
			 * block with it: the discard has no earlier write of
			 * these blocks to wait for; the backend orders it anyway
			 * (io.h). */
			n = left < DS_ZERO_BYTES / WB_DISK_BLOCK ? left
								 : DS_ZERO_BYTES / WB_DISK_BLOCK;
			ret = ds_submit(ds, b, e->bak, WB_IO_DISCARD, NULL,
					(uint32_t)n * WB_DISK_BLOCK, lba * WB_DISK_BLOCK);
			if (!ret) {
				b->cur_off += n;
				if (b->cur_off >= p->nblocks) {
					b->cur++;
					b->cur_off = 0;
				}
			}
		} else {
			ret = ds_write_one(ds, b);
		}
		if (ret) {
			b->err = ret;
			break;
		}
	}
	if (b->pending)
		return;
	if (b->err) {
		ds_fail(ds, b->err, "backing write");
		return;
	}
	if (b->cur < b->npc)
		return; /* the other batch writing holds the queue: its completions go on */
	ds_batch_written(ds, b);
}

/* Pick the records of the next batch from next_seq on: up to the buffer,
 * the record cap or the durable head, ending where a generation ends when
 * one does. Sets b->from/upto and moves next_seq; false: nothing to do. */
static bool ds_pick(struct wbl_destage *ds, struct ds_batch *b)
{
	struct wblog *e = ds->e;
	uint64_t s, blocks = 0, last_gen_end = 0;

	b->from = ds->next_seq;
	b->upto = 0;
	for (s = b->from; s <= e->durable_seq && s < e->rec_end && s <= e->snap_pin; s++) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, s);
		uint32_t nb = rec->flags & WB_REC_F_ZERO ? 0 : rec->data_blocks;

		if (rec->state != WBL_REC_DONE)
			break;
		if (b->upto && (blocks + nb > ds->buf_blocks || s - b->from >= DS_MAX_RECORDS))
			break;
		blocks += nb;
		b->upto = s;
		if (rec->flags & WB_REC_F_GEN_END)
			last_gen_end = s;
	}
	if (!b->upto)
		return false;
	/* prefer ending the batch where a generation ends */
	if (last_gen_end && b->upto != last_gen_end && s <= e->durable_seq)
		b->upto = last_gen_end;
	b->span = 0;
	for (s = b->from; s <= b->upto; s++)
		b->span += wbl_rec_by_seq(e, s)->span;
	ds->picked_span += b->span;
	ds->next_seq = b->upto + 1;
	return true;
}

/* Resolve the batch: the newest version inside it per block, LBA-sorted,
 * into b->pc. 0 or -errno. */
static int ds_resolve(struct wbl_destage *ds, struct ds_batch *b)
{
	struct wblog *e = ds->e;
	int ret;

	wb_extmap_clear(ds->tmp);
	for (uint64_t s = b->from; s <= b->upto; s++) {
		ret = wbl_map_insert(ds->tmp, wbl_rec_by_seq(e, s));
		if (ret)
			return ret;
	}
	b->npc = 0;
	return wb_extmap_iterate(ds->tmp, ds_piece_cb, b);
}

/* Take a reference on each page of blocks first..first+n of rec for the
 * batch; *idx = the index of the first in b->held. false: not all of
 * them are in RAM (then none is taken). */
static bool ds_take_pages(struct wbl_destage *ds, struct ds_batch *b, const struct wbl_rec *rec,
			  uint64_t first, uint32_t n, uint32_t *idx)
{
	uint32_t k;

	if (!rec->pages || b->nheld + n > ds->buf_blocks)
		return false;
	for (k = 0; k < n; k++)
		if (!rec->pages[first + k])
			return false;
	*idx = b->nheld;
	for (k = 0; k < n; k++) {
		wb_page_get(rec->pages[first + k]);
		b->held[b->nheld++] = rec->pages[first + k];
	}
	return true;
}

static int ds_rd_cmp(const void *a, const void *b)
{
	const struct ds_rd *x = a, *y = b;

	return x->log_blk < y->log_blk ? -1 : x->log_blk > y->log_blk;
}

/*
 * Read the pieces in b->rd[0..n) (sorted by log_blk) from the log into the
 * batch buffer: neighbours in the log share one read (up to DS_IO_BYTES,
 * reading through gaps of up to DS_READ_GAP blocks while the buffer has
 * room for them: slack = buffer blocks no piece needs). Sets each piece's
 * buf_off. 0 or -errno (reads already submitted stay in flight).
 */
static int ds_read_log(struct wbl_destage *ds, struct ds_batch *b, uint64_t n, uint64_t slack)
{
	struct wblog *e = ds->e;
	uint64_t i = 0, boff = 0;

	while (i < n) {
		uint64_t start = b->rd[i].log_blk, end, j;
		int ret;

		end = start + b->pc[b->rd[i].idx].nblocks;
		b->pc[b->rd[i].idx].buf_off = boff * WB_DISK_BLOCK;
		for (j = i + 1; j < n; j++) {
			struct wbl_destage_piece *q = &b->pc[b->rd[j].idx];
			uint64_t gap;

			if (q->log_blk < end)
				break; /* cannot happen: pieces of a batch do not overlap */
			gap = q->log_blk - end;
			if (gap > DS_READ_GAP || gap > slack ||
			    q->log_blk + q->nblocks - start > DS_IO_BLOCKS)
				break;
			slack -= gap;
			q->buf_off = (boff + q->log_blk - start) * WB_DISK_BLOCK;
			end = q->log_blk + q->nblocks;
		}
		ret = ds_submit(ds, b, e->log, WB_IO_READ, b->buf + boff * WB_DISK_BLOCK,
				(uint32_t)((end - start) * WB_DISK_BLOCK), start * WB_DISK_BLOCK);
		if (ret)
			return ret;
		boff += end - start;
		i = j;
	}
	return 0;
}

/* The batch's data: blocks whose record still holds its RAM pages are
 * written from those pages (a reference each); the rest is read from the
 * log into the batch buffer, neighbours in the log by one read
 * (ds_read_log). The batch may write once the last read is in (and the
 * older batch's writes completed: ds_try_write). */
static void ds_read(struct wbl_destage *ds, struct ds_batch *b)
{
	struct wblog *e = ds->e;
	uint64_t need = 0, nrd = 0, i;
	int ret = 0;

	b->pending = 1; /* held while reads are issued */
	b->nheld = 0;
	if (b->cap_rd < b->npc) {
		void *n = realloc(b->rd, b->npc * sizeof(*b->rd));

		if (!n) {
			b->pending = 0;
			ds_fail(ds, -ENOMEM, "log read list");
			return;
		}
		b->rd = n;
		b->cap_rd = b->npc;
	}
	for (i = 0; i < b->npc; i++) {
		struct wbl_destage_piece *p = &b->pc[i];
		struct wbl_rec *rec;
		uint64_t first;

		if (wbl_is_zero_logblk(p->log_blk))
			continue;
		b->bytes += (uint64_t)p->nblocks * WB_DISK_BLOCK;
		rec = wbl_rec_by_seq(e, p->seq);
		first = p->log_blk - (rec->off / WB_DISK_BLOCK + 1);
		if (ds_take_pages(ds, b, rec, first, p->nblocks, &p->pg))
			continue;
		p->pg = DS_NO_PAGE;
		need += p->nblocks;
		b->rd[nrd++] = (struct ds_rd){.log_blk = p->log_blk, .idx = i};
	}
	if (nrd) {
		qsort(b->rd, nrd, sizeof(*b->rd), ds_rd_cmp);
		/* the batch never holds more data blocks than the buffer */
		ret = ds_read_log(ds, b, nrd, need < ds->buf_blocks ? ds->buf_blocks - need : 0);
		if (ret)
			b->err = ret;
	}
	/* drop the hold (as if a read completed) */
	b->pending--;
	if (!b->pending) {
		if (b->err) {
			ds_fail(ds, b->err, "log read submit");
			return;
		}
		ds_read_done(ds, b);
	}
}

/* The newest version of blocks [lba, lba + n) is in durable records newer
 * than seq: sup[i] = 1 for each block lba + i so covered. A newer record
 * not durable yet gets a log flush asked for. */
static void ds_newer(struct wblog *e, uint64_t lba, uint32_t n, uint64_t seq, uint8_t *sup)
{
	uint64_t from = lba, end = lba + n;

	for (;;) {
		struct wb_extmap_ent x[16];
		int got = wb_extmap_lookup(e->map, from, (uint32_t)(end - from), x, 16);

		for (int m = 0; m < got && m < 16; m++) {
			if (x[m].seq <= seq)
				continue;
			if (x[m].seq <= e->durable_seq) {
				memset(sup + (x[m].lba - lba), 1, x[m].nblocks);
			} else if (e->want_durable < x[m].seq) {
				/* nothing else may ask: write-through acks
				 * wait for this batch */
				e->want_durable = x[m].seq;
				wbl_kick(e);
			}
		}
		if (got <= 16)
			return;
		from = x[15].lba + x[15].nblocks;
	}
}

/*
 * A stalled batch (ds_stall) looks again. A block it still needs that a
 * newer record durable in the log now covers (a client's newer write) is
 * left out of the batch: that record is destaged after it, and a crash
 * before then replays it, so no read sees the version skipped. (Snapshots
 * would: a generation between the two reads the backing device. They are
 * dropped, and only generations ending after this are readable from then
 * on.) What the host filled is there; the rest is read again, run by run
 * (not through gaps, which may be the bad blocks); a read failing again
 * stalls again.
 */
static void ds_retry(struct wbl_destage *ds, struct ds_batch *b)
{
	struct wblog *e = ds->e;
	struct wbl_destage_piece *np = NULL;
	uint64_t nn = 0, cap = 0, skipped = 0, i, k, j;
	uint8_t *sup = NULL;
	int ret = 0;

	for (i = 0; i < b->npc && !ret; i++) {
		const struct wbl_destage_piece *p = &b->pc[i];
		bool any = false;

		if (nn + p->nblocks + 1 > cap) { /* a piece splits into <= nblocks */
			uint64_t nc = (nn + p->nblocks + 1) * 2;
			void *x = realloc(np, nc * sizeof(*np));

			if (!x) {
				ret = -ENOMEM;
				break;
			}
			np = x;
			cap = nc;
		}
		for (k = 0; k < p->nblocks && !any; k++)
			any = ds_need(b, p, k);
		if (!any) {
			np[nn++] = *p;
			continue;
		}
		free(sup);
		sup = calloc(p->nblocks, 1);
		if (!sup) {
			ret = -ENOMEM;
			break;
		}
		ds_newer(e, p->lba, p->nblocks, p->seq, sup);
		for (k = 0; k < p->nblocks; k++)
			sup[k] = sup[k] && ds_need(b, p, k); /* only blocks without data */
		for (k = 0; k < p->nblocks; k = j) {
			for (j = k; j < p->nblocks && sup[j] == sup[k]; j++)
				;
			if (sup[k]) {
				skipped += j - k;
				continue;
			}
			np[nn] = *p;
			np[nn].lba = p->lba + k;
			np[nn].nblocks = (uint32_t)(j - k);
			np[nn].log_blk = p->log_blk + k;
			np[nn].buf_off = p->buf_off + k * WB_DISK_BLOCK;
			nn++;
		}
	}
	free(sup);
	if (ret) {
		free(np);
		ds_fail(ds, ret, "log read retry");
		return;
	}
	free(b->pc);
	b->pc = np;
	b->npc = nn;
	b->cap_pc = cap;
	if (skipped) {
		b->skipped += skipped;
		b->bytes -= skipped * WB_DISK_BLOCK;
		wbl_snap_drop_all(e, "destage left blocks it could not read to newer records");
		e->snap_floor = e->next_seq;
	}
	/* read again, run by run, what still has no data */
	b->err = 0;
	b->state = B_READ;
	b->pending = 1; /* held while reads are issued */
	for (i = 0; i < b->npc && !ret; i++) {
		struct wbl_destage_piece *p = &b->pc[i];

		for (k = 0; k < p->nblocks && !ret; k = j) {
			j = ds_need_run(b, p, k, DS_IO_BLOCKS);
			if (ds_need(b, p, k))
				ret = ds_submit(ds, b, e->log, WB_IO_READ,
						b->buf + p->buf_off + k * WB_DISK_BLOCK,
						(uint32_t)((j - k) * WB_DISK_BLOCK),
						(p->log_blk + k) * WB_DISK_BLOCK);
		}
	}
	if (ret && !b->err)
		b->err = ret;
	if (--b->pending)
		return;
	if (b->err)
		ds_stall(ds, b);
	else
		ds_read_done(ds, b);
}

/*
 * The host's copy of blocks [lba, lba + n) as the device was with every
 * record of seq < since and none later (a peer's, asked for after this
 * node shipped exactly those). A stalled batch takes each block it still
 * needs whose newest version is the batch's own (the extent map says so):
 * then no record newer than it and older than since covers the block, so
 * the copy is that version. Blocks a newer record covers are not taken
 * (ds_retry leaves them to it). Returns the blocks taken, or -EAGAIN
 * when no batch is stalled (one is reading again: give it later).
 */
int wbl_destage_fill(struct wblog *e, uint64_t lba, uint32_t n, uint64_t since, const void *buf)
{
	struct wbl_destage *ds = e->ds;
	bool stalled = false;
	int taken = 0;

	for (unsigned bi = 0; bi < DS_BATCHES; bi++) {
		struct ds_batch *b = &ds->b[bi];
		uint64_t filled;

		if (b->state != B_STALL || ds->failed)
			continue;
		stalled = true;
		filled = b->filled;
		for (uint64_t i = 0; i < b->npc; i++) {
			const struct wbl_destage_piece *p = &b->pc[i];

			if (p->lba >= lba + n || lba >= p->lba + p->nblocks || p->seq >= since)
				continue;
			for (uint64_t k = 0; k < p->nblocks; k++) {
				struct wb_extmap_ent x;
				uint64_t l = p->lba + k;

				if (l < lba || l >= lba + n || !ds_need(b, p, k) ||
				    wb_extmap_lookup(e->map, l, 1, &x, 1) != 1 || x.seq != p->seq ||
				    x.log_blk != p->log_blk + k)
					continue;
				memcpy(b->buf + p->buf_off + k * WB_DISK_BLOCK,
				       (const uint8_t *)buf + (l - lba) * WB_DISK_BLOCK,
				       WB_DISK_BLOCK);
				b->blk[p->buf_off / WB_DISK_BLOCK + k] |= DS_BLK_FILL;
				b->filled++;
				taken++;
			}
		}
		if (b->filled != filled) { /* this batch took some: look again now */
			b->stall_next = 0;
			wbl_kick(e);
		}
	}
	return stalled ? taken : -EAGAIN;
}

void wbl_destage_step(struct wblog *e)
{
	struct wbl_destage *ds = e->ds;

	ds_tail(ds);
	ds_tail_held(ds);
	for (unsigned i = 0; i < DS_BATCHES; i++) {
		if (ds->b[i].state != B_STALL || ds->failed)
			continue;
		if (e->closing)
			ds_drop(ds, &ds->b[i]);
		else if (wb_now_ms() >= ds->b[i].stall_next)
			ds_retry(ds, &ds->b[i]);
	}
	for (unsigned i = 0; i < DS_BATCHES; i++) {
		struct ds_batch *b = &ds->b[i];
		int ret, why;

		if (b->state != B_FREE)
			continue;
		why = ds_should_run(ds);
		if (!why || !ds_pick(ds, b))
			return;
		ret = ds_resolve(ds, b);
		if (ret) {
			ds_fail(ds, ret, "batch map");
			return;
		}
		if (!ds->rate_t0_ms)
			ds->rate_t0_ms = wb_now_ms();
		ds->start_ms = wb_now_ms();
		b->err = 0;
		b->bytes = 0;
		if (b->any_bad)
			memset(b->blk, 0, ds->buf_blocks);
		b->any_bad = false;
		b->stall_t0 = b->stall_asked = b->filled = b->skipped = 0;
		b->nasked = 0;
		b->drop = false;
		b->state = B_READ;
		ds_read(ds, b);
		/* full-speed batches (watermark, drain) do not build up rate debt */
		if (why == 2) {
			ds->tokens -= (int64_t)b->bytes;
			return;
		}
	}
}

void wbl_destage_stats(struct wblog *e, struct wb_engine_stats *st)
{
	struct wbl_destage *ds = e->ds;

	st->destage_rate = ds->rate;
	st->destage_eta_ms =
	    ds->rate ? e->dirty_bytes * 1000 / ds->rate
		     : (e->p.destage_min_rate && e->p.destage_min_rate != WB_DESTAGE_RATE_NONE
			    ? e->dirty_bytes * 1000 / e->p.destage_min_rate
			    : 0);
}
