// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_bitmap.c - per-peer dirty bitmaps of the wblog engine (format
 * version 2, docs/ondisk-format.md 2.3, docs/engine.md "Dirty bitmaps").
 *
 * A set bit = that region of the device may differ on the peer. Bits are set
 * by the owner (bm_set), and by the engine for every record of a *tracking*
 * peer (bm_track, or a peer dropped past its retention): the record's
 * extents are folded in when it is sealed (and at recovery). Bits the owner
 * set as found different (a verify) make the bitmap *marked* (persisted flag
 * WB_BM_F_MARKED) until the owner cleared every bit: the owner must not
 * take a peer that caught up on the tracked records for one in sync.
 *
 * Crash safety: each peer has two copies in the log's bitmap area; the
 * superblock says which one is current, its crc, and a stamp S: "this copy
 * covers every record with seq < S". A commit writes the changed 4 KiB
 * pages of the *other* copy from a snapshot, flushes the log, and only then
 * writes the superblock naming that copy (and the new stamps): a crash
 * leaves the old copy current and intact, or the new one complete. At open
 * the records of the recovered run with seq >= S are folded in again. The
 * log tail never moves on disk past a record a tracking peer's durable copy
 * does not cover: destage makes a commit carry its new tail when needed,
 * and a peer dropped past retention holds the log until its commit is
 * durable.
 *
 * Owns: struct wbl_bm (bitmaps, snapshots, page-dirty sets, commit state,
 * waiters), freed at close.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wblog_int.h"

_Static_assert(WB_BM_MAX_PEERS == WB_ENGINE_MAX_PEERS, "bitmap slots = peers");

struct wbl_bmw {
	void (*done)(void *arg, int err);
	void *arg;
	uint64_t target;
	struct wbl_bmw *next;
};

struct wbl_bm {
	uint32_t shift, npeers;
	uint64_t nbits, bytes, npages;
	uint8_t *bits[WB_BM_MAX_PEERS];	       /* live bitmaps */
	uint8_t *stage[WB_BM_MAX_PEERS];       /* snapshot being written */
	uint64_t *pgdirty[WB_BM_MAX_PEERS][2]; /* pages changed since copy c was written */
	uint64_t count[WB_BM_MAX_PEERS];       /* set bits */
	uint64_t fold_from[WB_BM_MAX_PEERS];   /* tracking: records >= this are folded */
	/* tracking: the bits hold every record >= this (the tracking start,
	 * kept across a restart in the superblock's bm_since; at least
	 * fold_from's coverage, which a restart resets to the stamp) */
	uint64_t since[WB_BM_MAX_PEERS];
	uint32_t tracking, changed; /* masks */
	uint32_t marked;	    /* mask: bits set as found (WB_BM_F_MARKED) */
	/* commits: asked for, in the commit running, durable */
	uint64_t want, sent, done;
	int committing;
	unsigned ios;
	int err;
	struct wb_io_req flush_io;
	struct wb_sb_bm_peer pending[WB_BM_MAX_PEERS];
	struct wbl_bmw *wq_head, *wq_tail;
	void (*ds_done)(struct wblog *e, int err); /* destage waiting for a commit */
	uint64_t ds_target;
	struct wbl_tail ds_tail;    /* its tail: in e->sb once that commit's copies are durable */
	uint64_t hold, hold_target; /* a dropped peer's records stay until then */
	/* a grow (wblog_grow.c): the commit numbered geom_target carries
	 * dev_size geom_dev and region shift geom_shift into the superblock
	 * (geom_sent: the one running does); 0: none */
	uint64_t geom_target, geom_dev;
	uint32_t geom_shift;
	int geom_sent;
};

struct wbl_bm_wio {
	struct wb_io_req io;
	struct wblog *e;
};

static void pg_set(uint64_t *set, uint64_t pg)
{
	set[pg / 64] |= 1ull << (pg % 64);
}

static int pg_test(const uint64_t *set, uint64_t pg)
{
	return (set[pg / 64] >> (pg % 64)) & 1;
}

/* Set or clear bits [b0, b1) of peer p; keeps count, page sets, changed. */
static void bm_range(struct wbl_bm *bm, unsigned p, uint64_t b0, uint64_t b1, int dirty)
{
	uint8_t *bits = bm->bits[p];
	uint64_t b;

	for (b = b0; b < b1; b++) {
		uint8_t m = (uint8_t)(1u << (b % 8));

		if (!(b % 8) && b + 8 <= b1 && bits[b / 8] == (dirty ? 0xff : 0)) {
			b += 7; /* a whole byte already as wanted */
			continue;
		}

		if (!!(bits[b / 8] & m) == !!dirty)
			continue;
		bits[b / 8] ^= m;
		if (dirty)
			bm->count[p]++;
		else
			bm->count[p]--;
		pg_set(bm->pgdirty[p][0], b / 8 / WB_DISK_BLOCK);
		pg_set(bm->pgdirty[p][1], b / 8 / WB_DISK_BLOCK);
		bm->changed |= 1u << p;
	}
}

/* Mark every region that bytes [off, off + len) touch. */
static void bm_mark_bytes(struct wbl_bm *bm, unsigned p, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;

	if (!len)
		return;
	if (end > bm->nbits << bm->shift)
		end = bm->nbits << bm->shift;
	bm_range(bm, p, off >> bm->shift, (end + (1ull << bm->shift) - 1) >> bm->shift, 1);
}

static void bm_fold_rec(struct wbl_bm *bm, unsigned p, const struct wbl_rec *rec)
{
	uint32_t i;

	for (i = 0; i < rec->nextents; i++)
		bm_mark_bytes(bm, p, rec->ext[i].lba * WB_DISK_BLOCK,
			      (uint64_t)rec->ext[i].nblocks * WB_DISK_BLOCK);
}

void wbl_bm_fold(struct wblog *e, const struct wbl_rec *rec)
{
	struct wbl_bm *bm = e->bm;
	unsigned p;

	if (!bm || !bm->tracking)
		return;
	for (p = 0; p < bm->npeers; p++)
		if ((bm->tracking & (1u << p)) && rec->seq >= bm->fold_from[p])
			bm_fold_rec(bm, p, rec);
}

static uint64_t bm_popcount(const uint8_t *bits, uint64_t bytes)
{
	uint64_t i, n = 0;

	for (i = 0; i < bytes; i++)
		n += (uint64_t)__builtin_popcount(bits[i]);
	return n;
}

int wbl_bm_open(struct wblog *e)
{
	const struct wb_sb *sb = &e->sb;
	struct wbl_bm *bm;
	uint64_t words;
	unsigned p;
	int ret;

	if (!sb->bm_region_shift)
		return 0;
	bm = calloc(1, sizeof(*bm));
	if (!bm)
		return -ENOMEM;
	e->bm = bm;
	bm->shift = sb->bm_region_shift;
	bm->npeers = sb->bm_npeers;
	bm->nbits = (e->dev_size + (1ull << bm->shift) - 1) >> bm->shift;
	bm->bytes = sb->bm_bytes;
	bm->npages = bm->bytes / WB_DISK_BLOCK;
	bm->hold = UINT64_MAX;
	words = (bm->npages + 63) / 64;
	for (p = 0; p < bm->npeers; p++) {
		const struct wb_sb_bm_peer *d = &sb->bm_peer[p];
		unsigned cur = d->flags & WB_BM_F_COPY;

		bm->bits[p] = wb_io_alloc(bm->bytes);
		bm->stage[p] = wb_io_alloc(bm->bytes);
		bm->pgdirty[p][0] = calloc(words, sizeof(uint64_t));
		bm->pgdirty[p][1] = calloc(words, sizeof(uint64_t));
		if (!bm->bits[p] || !bm->stage[p] || !bm->pgdirty[p][0] || !bm->pgdirty[p][1])
			return -ENOMEM;
		memset(bm->bits[p], 0, bm->bytes);
		/* a copy's content on disk is known only for the current one */
		memset(bm->pgdirty[p][!cur], 0xff, words * sizeof(uint64_t));
		if (!(d->flags & WB_BM_F_WRITTEN)) {
			memset(bm->pgdirty[p][cur], 0xff, words * sizeof(uint64_t));
		} else {
			ret = wb_io_pread(e->log, bm->bits[p], bm->bytes,
					  wb_sb_bm_copy_off(sb, p, cur));
			if (ret)
				return ret;
			if (wb_crc32c(0, bm->bits[p], bm->bytes) != d->crc) {
				/* cannot happen without corruption (copies are flushed
				 * before the superblock names them): resync it all */
				wb_msg(WB_LOG_WARN,
				       "%s: log %s: the bitmap of peer %u fails its checksum: "
				       "every region marked out of sync",
				       e->eng.name, e->log->name, p);
				memset(bm->bits[p], 0xff, bm->bytes);
				memset(bm->pgdirty[p][cur], 0xff, words * sizeof(uint64_t));
				bm->changed |= 1u << p;
			}
		}
		if (d->flags & WB_BM_F_MARKED)
			bm->marked |= 1u << p;
		if (d->flags & WB_BM_F_TRACK) {
			bm->tracking |= 1u << p;
			bm->fold_from[p] = d->stamp;
			/* the copy holds [since, stamp), the records from stamp
			 * on are folded again below: covered from since */
			bm->since[p] = d->since ? d->since : d->stamp;
			if (d->stamp < sb->tail_seq) {
				wb_msg(WB_LOG_WARN,
				       "%s: log %s: the bitmap of peer %u covers records up to "
				       "seq %llu, the log starts at %llu: every region marked "
				       "out of sync",
				       e->eng.name, e->log->name, p, (unsigned long long)d->stamp,
				       (unsigned long long)sb->tail_seq);
				memset(bm->bits[p], 0xff, bm->bytes);
				memset(bm->pgdirty[p][0], 0xff, words * sizeof(uint64_t));
				memset(bm->pgdirty[p][1], 0xff, words * sizeof(uint64_t));
				bm->changed |= 1u << p;
			}
		}
		/* bits past nbits (the tail of the last block) stay zero */
		if (bm->bytes * 8 > bm->nbits) {
			uint64_t b;

			for (b = bm->nbits; b < bm->bytes * 8; b++)
				bm->bits[p][b / 8] &= (uint8_t) ~(1u << (b % 8));
		}
		bm->count[p] = bm_popcount(bm->bits[p], bm->bytes);
	}
	return 0;
}

void wbl_bm_free(struct wblog *e)
{
	struct wbl_bm *bm = e->bm;
	struct wbl_bmw *w;
	unsigned p;

	if (!bm)
		return;
	for (p = 0; p < WB_BM_MAX_PEERS; p++) {
		wb_io_free(bm->bits[p]);
		wb_io_free(bm->stage[p]);
		free(bm->pgdirty[p][0]);
		free(bm->pgdirty[p][1]);
	}
	while ((w = bm->wq_head)) {
		bm->wq_head = w->next;
		free(w);
	}
	free(bm);
	e->bm = NULL;
}

static int bm_check(struct wblog *e, unsigned peer)
{
	if (!e->bm || peer >= e->bm->npeers)
		return -ENXIO;
	return 0;
}

int wbl_bm_info(struct wb_engine *eng, unsigned peer, struct wb_bm_info *out)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_bm *bm = e->bm;

	memset(out, 0, sizeof(*out));
	if (!bm)
		return peer < WB_ENGINE_MAX_PEERS ? 0 : -ENXIO; /* region_size 0: none */
	out->region_size = 1u << bm->shift;
	out->npeers = bm->npeers;
	out->nbits = bm->nbits;
	if (peer >= bm->npeers)
		return -ENXIO;
	out->dirty = bm->count[peer];
	out->tracking = !!(bm->tracking & (1u << peer));
	out->tracking_durable = !!(e->sb_durable.bm_peer[peer].flags & WB_BM_F_TRACK);
	out->stamp = e->sb_durable.bm_peer[peer].stamp;
	out->marked = !!(bm->marked & (1u << peer));
	return 0;
}

int wbl_bm_set(struct wb_engine *eng, unsigned peer, uint64_t off, uint64_t len, int dirty)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_bm *bm = e->bm;
	uint64_t b0, b1;
	int ret = bm_check(e, peer);

	if (ret)
		return ret;
	if (off > e->dev_size || len > e->dev_size - off)
		return -EINVAL;
	if (dirty) {
		bm_mark_bytes(bm, peer, off, len);
		if (dirty == WB_BM_FOUND && len && !(bm->marked & (1u << peer))) {
			bm->marked |= 1u << peer;
			bm->changed |= 1u << peer; /* the flag is persisted */
		}
		return 0;
	}
	/* clear only regions wholly inside the range (the device's last,
	 * partial region counts as whole when the range reaches the end) */
	b0 = (off + (1ull << bm->shift) - 1) >> bm->shift;
	b1 = off + len == e->dev_size && !bm->geom_target ? bm->nbits : (off + len) >> bm->shift;
	if (b1 > b0)
		bm_range(bm, peer, b0, b1, 0);
	if (!bm->count[peer] && (bm->marked & (1u << peer))) {
		bm->marked &= ~(1u << peer); /* every mark is gone */
		bm->changed |= 1u << peer;
	}
	return 0;
}

int wbl_bm_next(struct wb_engine *eng, unsigned peer, uint64_t from, uint64_t *off)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_bm *bm = e->bm;
	uint64_t b;
	int ret = bm_check(e, peer);

	if (ret)
		return ret;
	for (b = from >> bm->shift; b < bm->nbits; b++) {
		if (!(b % 8) && !bm->bits[peer][b / 8]) {
			b += 7;
			continue;
		}
		if (bm->bits[peer][b / 8] & (1u << (b % 8))) {
			*off = b << bm->shift;
			return 0;
		}
	}
	return -ENOENT;
}

/* Ask for a commit; the waiter (if any) completes when it is durable. */
static int bm_request(struct wblog *e, void (*done)(void *arg, int err), void *arg)
{
	struct wbl_bm *bm = e->bm;
	struct wbl_bmw *w = NULL;

	if (done) {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		w->done = done;
		w->arg = arg;
	}
	bm->want++;
	if (w) {
		w->target = bm->want;
		if (bm->wq_tail)
			bm->wq_tail->next = w;
		else
			bm->wq_head = w;
		bm->wq_tail = w;
	}
	wbl_kick(e);
	return 0;
}

/* Start tracking peer p from seq: fold what the log still has. */
static int bm_track_from(struct wblog *e, unsigned p, uint64_t from)
{
	struct wbl_bm *bm = e->bm;
	uint64_t s;

	if (from == WB_BM_TRACK_HEAD)
		from = e->next_seq;
	/* already covers more: also for records that have left the log
	 * since (a node restarted after its tail passed them) */
	if ((bm->tracking & (1u << p)) && bm->since[p] <= from)
		return 0;
	if (from < e->rec_first)
		return -ENOENT;
	for (s = from; s < e->next_seq; s++)
		bm_fold_rec(bm, p, wbl_rec_by_seq(e, s));
	bm->tracking |= 1u << p;
	bm->fold_from[p] = bm->since[p] = from;
	bm->changed |= 1u << p; /* persist the tracking flag even if no bit changed */
	return 0;
}

int wbl_bm_track(struct wb_engine *eng, unsigned peer, uint64_t from_seq,
		 void (*done)(void *arg, int err), void *arg)
{
	struct wblog *e = (struct wblog *)eng;
	int ret = bm_check(e, peer);

	if (ret)
		return ret;
	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (!done)
		return -EINVAL;
	if (from_seq) {
		ret = bm_track_from(e, peer, from_seq);
		if (ret)
			return ret;
	} else {
		e->bm->tracking &= ~(1u << peer);
	}
	return bm_request(e, done, arg);
}

int wbl_bm_flush(struct wb_engine *eng, void (*done)(void *arg, int err), void *arg)
{
	struct wblog *e = (struct wblog *)eng;

	if (!e->bm)
		return -ENXIO;
	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (!done)
		return -EINVAL;
	return bm_request(e, done, arg);
}

/* Peer p was dropped past its retention at seq: its records from seq on go
 * into its bitmap, and stay in the log until that is durable. */
void wbl_bm_dropped(struct wblog *e, unsigned p, uint64_t seq)
{
	struct wbl_bm *bm = e->bm;

	if (!bm || p >= bm->npeers || bm_track_from(e, p, seq))
		return;
	if (bm_request(e, NULL, NULL)) /* cannot fail without a waiter */
		return;
	if (seq < bm->hold)
		bm->hold = seq;
	bm->hold_target = bm->want;
	wb_msg(WB_LOG_INFO, "%s: peer %u: records from seq %llu on go into its bitmap", e->eng.name,
	       p, (unsigned long long)seq);
}

/* The log restarts at seq (wbl_rebase; its superblock stamps every
 * tracking peer's bitmap there): records from seq on are folded in, also
 * when seq is below where tracking began (a log going back to a lower seq
 * must not leave its new records out of a peer's bitmap). */
void wbl_bm_rebased(struct wblog *e, uint64_t seq)
{
	struct wbl_bm *bm = e->bm;

	for (unsigned p = 0; bm && p < bm->npeers; p++)
		if (bm->tracking & (1u << p))
			bm->fold_from[p] = bm->since[p] = seq; /* a new seq space */
}

uint64_t wbl_bm_hold(const struct wblog *e)
{
	return e->bm ? e->bm->hold : UINT64_MAX;
}

/* Peers whose bitmap tracks (their blocks are named there: the log's tail on
 * disk need not wait for them, wbl_tail_target) */
uint32_t wbl_bm_tracking(const struct wblog *e)
{
	return e->bm ? e->bm->tracking : 0;
}

/* Destage is about to persist tail `tail`: does a tracking peer need a
 * commit first (its durable-to-be copy does not cover the records before)? */
int wbl_bm_tail_needs(const struct wblog *e, uint64_t tail)
{
	struct wbl_bm *bm = e->bm;
	unsigned p;

	if (!bm)
		return 0;
	for (p = 0; p < bm->npeers; p++)
		if ((bm->tracking & (1u << p)) &&
		    (!(e->sb.bm_peer[p].flags & WB_BM_F_TRACK) || e->sb.bm_peer[p].stamp < tail))
			return 1;
	return 0;
}

/*
 * Destage: persist the superblock with tail t through a commit. t goes
 * into e->sb only when the copies of that commit (stamped past t) are
 * durable: any superblock written before (a commit already running, a
 * metadata update) carries the old tail, which the copies on disk cover.
 */
void wbl_bm_commit_for_destage(struct wblog *e, const struct wbl_tail *t,
			       void (*done)(struct wblog *e, int err))
{
	struct wbl_bm *bm = e->bm;

	bm->ds_tail = *t;
	bm->want++;
	bm->ds_done = done;
	bm->ds_target = bm->want;
	wbl_kick(e);
}

static void bm_sb_done(struct wblog *e, int err)
{
	struct wbl_bm *bm = e->bm;
	void (*ds)(struct wblog * e, int err) = NULL;

	bm->committing = 0;
	if (bm->geom_sent) {
		bm->geom_sent = 0;
		bm->geom_target = 0;
	}
	if (err) {
		wbl_fail(e, err, "bitmap superblock write");
	} else {
		bm->done = bm->sent;
		if (bm->done >= bm->hold_target)
			bm->hold = UINT64_MAX;
	}
	if (bm->ds_done && (err || bm->done >= bm->ds_target)) {
		ds = bm->ds_done;
		bm->ds_done = NULL;
	}
	if (ds)
		ds(e, err);
	wbl_kick(e);
}

static void bm_flush_done(struct wb_io_req *io, int res)
{
	struct wblog *e = io->priv;
	struct wbl_bm *bm = e->bm;
	unsigned p;
	int ret;

	if (res < 0 || bm->err) {
		bm_sb_done(e, res < 0 ? res : bm->err);
		return;
	}
	/* the copies are durable: the superblock may name them, and the tail
	 * destage waits for when they cover it */
	for (p = 0; p < bm->npeers; p++)
		e->sb.bm_peer[p] = bm->pending[p];
	if (bm->geom_sent) {
		/* the copies just flushed are in the new shape */
		e->sb.dev_size = bm->geom_dev;
		e->sb.bm_region_shift = bm->geom_shift;
	}
	if (bm->ds_done && bm->sent >= bm->ds_target)
		wbl_tail_apply(e, &bm->ds_tail);
	ret = wbl_sb_write(e, bm_sb_done);
	if (ret)
		bm_sb_done(e, ret);
}

/* One write of the commit is done (or, from bm_commit_start, all are
 * submitted): after the last, flush the log. */
static void bm_io_put(struct wblog *e)
{
	struct wbl_bm *bm = e->bm;
	int ret;

	if (--bm->ios)
		return;
	memset(&bm->flush_io, 0, sizeof(bm->flush_io));
	bm->flush_io.op = WB_IO_FLUSH;
	bm->flush_io.done = bm_flush_done;
	bm->flush_io.priv = e;
	ret = wb_io_submit(e->log, &bm->flush_io);
	if (ret < 0)
		bm_sb_done(e, ret);
}

static void bm_io_done(struct wb_io_req *io, int res)
{
	struct wbl_bm_wio *w = io->priv;
	struct wblog *e = w->e;
	struct wbl_bm *bm = e->bm;

	if (res < 0 && !bm->err) {
		bm->err = res;
		wb_msg(WB_LOG_ERR, "%s: log %s: bitmap write at 0x%llx failed: %s", e->eng.name,
		       e->log->name, (unsigned long long)io->off, strerror(-res));
	}
	free(w);
	bm_io_put(e);
}

/* Write pages [pg0, pg1) of peer p's snapshot into copy c. */
static int bm_write_run(struct wblog *e, unsigned p, unsigned c, uint64_t pg0, uint64_t pg1)
{
	struct wbl_bm *bm = e->bm;
	struct wbl_bm_wio *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->e = e;
	w->io.op = WB_IO_WRITE;
	w->io.buf = bm->stage[p] + pg0 * WB_DISK_BLOCK;
	w->io.len = (uint32_t)((pg1 - pg0) * WB_DISK_BLOCK);
	w->io.off = wb_sb_bm_copy_off(&e->sb, p, c) + pg0 * WB_DISK_BLOCK;
	w->io.done = bm_io_done;
	w->io.priv = w;
	bm->ios++;
	ret = wb_io_submit(e->log, &w->io);
	if (ret < 0) {
		bm->ios--;
		free(w);
	}
	return ret;
}

/* Snapshot every changed bitmap into its other copy, then flush, then the
 * superblock (bm_flush_done). One commit at a time. */
static void bm_commit_start(struct wblog *e)
{
	struct wbl_bm *bm = e->bm;
	uint64_t stamp = e->next_seq, pg, run;
	unsigned p;
	int ret = 0;

	bm->committing = 1;
	bm->sent = bm->want;
	bm->geom_sent = bm->geom_target && bm->sent >= bm->geom_target;
	bm->err = 0;
	bm->ios = 1; /* held until every write is submitted */
	for (p = 0; p < bm->npeers; p++) {
		struct wb_sb_bm_peer *n = &bm->pending[p];
		unsigned c;

		*n = e->sb.bm_peer[p];
		n->flags &= ~(WB_BM_F_TRACK | WB_BM_F_MARKED);
		n->since = 0;
		if (bm->marked & (1u << p))
			n->flags |= WB_BM_F_MARKED;
		if (bm->tracking & (1u << p)) {
			n->flags |= WB_BM_F_TRACK;
			/* tracking from a seq not reached yet: "not known" (the
			 * reopen counts from the stamp, as before bm_since) */
			n->since = bm->since[p] <= stamp ? bm->since[p] : 0;
		}
		n->stamp = stamp;
		if (!(bm->changed & (1u << p)))
			continue;
		c = !(n->flags & WB_BM_F_COPY);
		memcpy(bm->stage[p], bm->bits[p], bm->bytes);
		n->crc = wb_crc32c(0, bm->stage[p], bm->bytes);
		n->flags = (n->flags & ~WB_BM_F_COPY) | c | WB_BM_F_WRITTEN;
		for (pg = 0; pg < bm->npages && !ret; pg = run) {
			for (; pg < bm->npages && !pg_test(bm->pgdirty[p][c], pg); pg++)
				;
			for (run = pg;
			     run < bm->npages && run - pg < 256 && pg_test(bm->pgdirty[p][c], run);
			     run++)
				;
			if (run > pg)
				ret = bm_write_run(e, p, c, pg, run);
		}
		memset(bm->pgdirty[p][c], 0, (bm->npages + 63) / 64 * sizeof(uint64_t));
	}
	bm->changed = 0;
	if (ret) {
		bm->err = ret;
		wb_msg(WB_LOG_ERR, "%s: bitmap commit: %s", e->eng.name, strerror(-ret));
	}
	bm_io_put(e);
}

/* Run loop: start a commit when one was asked for and none runs. */
void wbl_bm_progress(struct wblog *e)
{
	struct wbl_bm *bm = e->bm;

	if (!bm || bm->committing || bm->want == bm->sent || e->state == WB_STATE_FAILED)
		return;
	bm_commit_start(e);
}

int wbl_bm_busy(const struct wblog *e)
{
	const struct wbl_bm *bm = e->bm;

	return bm && (bm->committing || bm->want != bm->sent || bm->wq_head);
}

int wbl_bm_committing(const struct wblog *e)
{
	return e->bm && e->bm->committing;
}

int wbl_bm_pending(const struct wblog *e)
{
	const struct wbl_bm *bm = e->bm;

	return bm && bm->wq_head &&
	       (bm->done >= bm->wq_head->target || e->state == WB_STATE_FAILED);
}

void wbl_bm_deliver(struct wblog *e, int *n)
{
	struct wbl_bm *bm = e->bm;
	struct wbl_bmw *w;

	while (wbl_bm_pending(e)) {
		w = bm->wq_head;
		bm->wq_head = w->next;
		if (!bm->wq_head)
			bm->wq_tail = NULL;
		(*n)++;
		w->done(w->arg, bm->done >= w->target ? 0 : -EIO);
		free(w);
	}
}

uint32_t wbl_bm_grow_shift(const struct wblog *e, uint64_t new_dev)
{
	uint32_t shift;

	for (shift = e->bm->shift; shift <= 30; shift++)
		if (wb_sb_bm_bytes(new_dev, shift) <= e->bm->bytes)
			return shift;
	return 0;
}

/* Peer p's bits at a region k times 2 coarser: new bit i = old bits
 * [i << k, (i + 1) << k) or'ed. */
static void bm_coarsen(struct wbl_bm *bm, unsigned p, uint32_t k, uint8_t *tmp)
{
	uint8_t *bits = bm->bits[p];
	uint64_t b;

	memset(tmp, 0, bm->bytes);
	for (b = 0; b < bm->nbits; b++) {
		if (!(b % 8) && !bits[b / 8]) {
			b += 7;
			continue;
		}
		if (bits[b / 8] & (1u << (b % 8)))
			tmp[(b >> k) / 8] |= (uint8_t)(1u << ((b >> k) % 8));
	}
	memcpy(bits, tmp, bm->bytes);
}

int wbl_bm_grow(struct wblog *e, uint64_t old_dev, uint64_t new_dev, uint32_t shift, int mark,
		void (*done)(void *arg, int err), void *arg)
{
	struct wbl_bm *bm = e->bm;
	uint64_t words = (bm->npages + 63) / 64;
	uint8_t *tmp = NULL;
	unsigned p;
	int ret;

	if (shift < bm->shift || wb_sb_bm_bytes(new_dev, shift) > bm->bytes)
		return -EINVAL;
	if (shift > bm->shift && !(tmp = malloc(bm->bytes)))
		return -ENOMEM;
	ret = bm_request(e, done, arg); /* the commit starts from run(), after this */
	if (ret) {
		free(tmp);
		return ret;
	}
	for (p = 0; p < bm->npeers; p++) {
		if (tmp) {
			bm_coarsen(bm, p, shift - bm->shift, tmp);
			bm->count[p] = bm_popcount(bm->bits[p], bm->bytes);
		}
		/* every page of the copy the commit writes: the geometry the
		 * superblock reads it with changes with it */
		memset(bm->pgdirty[p][0], 0xff, words * sizeof(uint64_t));
		memset(bm->pgdirty[p][1], 0xff, words * sizeof(uint64_t));
		bm->changed |= 1u << p;
	}
	free(tmp);
	bm->shift = shift;
	bm->nbits = (new_dev + (1ull << shift) - 1) >> shift;
	for (p = 0; mark && p < bm->npeers; p++) {
		bm_mark_bytes(bm, p, old_dev, new_dev - old_dev);
		bm->marked |= 1u << p;
	}
	bm->geom_dev = new_dev;
	bm->geom_shift = shift;
	bm->geom_target = bm->want;
	return 0;
}

/* close: persist what changed (marks, clears, tracking) */
void wbl_bm_close(struct wblog *e)
{
	struct wbl_bm *bm = e->bm;

	if (bm && e->state != WB_STATE_FAILED &&
	    (bm->changed || wbl_bm_tail_needs(e, e->sb.tail_seq)))
		bm_request(e, NULL, NULL);
}
