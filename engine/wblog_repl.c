// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_repl.c - what replication needs from the wblog engine (ABI 4,
 * docs/engine.md "Replication hooks"): the ship hook, record references
 * (struct wbl_ref) with their page references, read-back of records still in
 * the log (read_record) and peer holds on the log tail with their retention
 * limit.
 *
 * Ownership:
 *   - a struct wbl_ref is created with one reference for the engine; the
 *     ship hook and read_record callbacks get it for the duration of the
 *     call, their user keeps it with rec_get and drops it with rec_put (on
 *     the engine thread). It owns one page reference per data block (a
 *     record's RAM pages) or one read-back buffer, plus copies of the
 *     extents; the last put releases them. So a shipped record's pages stay
 *     valid after the record itself was written, evicted or destaged.
 *   - read_record requests (struct wbl_rread) belong to the engine until
 *     their callback ran from run().
 *   - peer holds are positions only: the records they keep are the
 *     engine's; wbl_release_records() stops below the lowest hold.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wblog_int.h"

struct wbl_ref {
	struct wb_rec_ref pub; /* first: handed out as &ref->pub */
	struct wblog *e;
	uint32_t refs;
	struct wb_page **pages; /* pub.nblocks page references, or NULL */
	void *buf;		/* read-back buffer (header + data), or NULL */
	struct wb_extent *ext;
	const void **blocks;
};

struct wbl_rread {
	struct wb_io_req io;
	struct wblog *e;
	uint64_t seq, off;
	uint32_t nblocks;
	void *buf;
	void (*cb)(void *arg, int err, struct wb_rec_ref *r);
	void *arg;
	struct wbl_ref *ref;
	int err;
	struct wbl_rread *next;
};

static struct wbl_ref *wbl_ref_new(struct wblog *e, const struct wbl_rec *rec, uint32_t nblocks)
{
	size_t sz = sizeof(struct wbl_ref) + rec->nextents * sizeof(struct wb_extent) +
		    nblocks * (sizeof(struct wb_page *) + sizeof(void *));
	struct wbl_ref *ref = calloc(1, sz);

	if (!ref)
		return NULL;
	ref->e = e;
	ref->refs = 1;
	ref->ext = (struct wb_extent *)(ref + 1);
	ref->pages = (struct wb_page **)(ref->ext + rec->nextents);
	ref->blocks = (const void **)(ref->pages + nblocks);
	memcpy(ref->ext, rec->ext, rec->nextents * sizeof(*ref->ext));
	ref->pub.rec = (struct wb_record){.seq = rec->seq,
					  .gen = rec->gen,
					  .nextents = rec->nextents,
					  .flags = rec->flags,
					  .ext = ref->ext,
					  .time_ns = rec->time_ns};
	ref->pub.nblocks = nblocks;
	ref->pub.blocks = ref->blocks;
	ref->pub.crc = wb_record_crc(&ref->pub.rec);
	e->refs_out++;
	return ref;
}

/* A reference to rec's data in its RAM pages (rec->pages must be held). */
static struct wbl_ref *wbl_ref_of_pages(struct wblog *e, const struct wbl_rec *rec)
{
	uint32_t i, nb = rec->flags & WB_REC_F_ZERO ? 0 : rec->data_blocks;
	struct wbl_ref *ref = wbl_ref_new(e, rec, nb);

	if (!ref)
		return NULL;
	for (i = 0; i < nb; i++) {
		wb_page_get(rec->pages[i]);
		ref->pages[i] = rec->pages[i];
		ref->blocks[i] = rec->pages[i]->data;
	}
	return ref;
}

static void wbl_ref_put(struct wbl_ref *ref)
{
	struct wblog *e = ref->e;
	uint32_t i;

	if (--ref->refs)
		return;
	if (!ref->buf)
		for (i = 0; i < ref->pub.nblocks; i++)
			wb_page_put(e->pb, ref->pages[i]);
	wb_io_free(ref->buf);
	e->refs_out--;
	free(ref);
}

void wbl_rec_get(struct wb_engine *eng, struct wb_rec_ref *r)
{
	(void)eng;
	((struct wbl_ref *)r)->refs++;
}

void wbl_rec_put(struct wb_engine *eng, struct wb_rec_ref *r)
{
	(void)eng;
	wbl_ref_put((struct wbl_ref *)r);
}

int wbl_set_repl_hooks(struct wb_engine *eng, const struct wb_repl_hooks *h)
{
	struct wblog *e = (struct wblog *)eng;

	if (h)
		e->hooks = *h;
	else
		memset(&e->hooks, 0, sizeof(e->hooks));
	return 0;
}

/*
 * rec was just placed: its seq, generation, flags (GEN_END is only ever
 * added while a record is SEALED, see wbl_close_gen), extents and crcs are
 * final. Called from run() (wbl_progress), in seq order.
 */
int wbl_ship(struct wblog *e, struct wbl_rec *rec)
{
	struct wbl_ref *ref;

	/* not while closing: no reference may outlive close (a peer catches
	 * records placed by close up from the log after the next open) */
	if (!e->hooks.ship || e->closing)
		return 0;
	ref = wbl_ref_of_pages(e, rec);
	if (!ref)
		return -ENOMEM; /* a peer would miss the record: the caller fails */
	e->hooks.ship(e->hooks.arg, &ref->pub);
	wbl_ref_put(ref);
	return 0;
}

static void wbl_rread_queue(struct wblog *e, struct wbl_rread *rr)
{
	rr->next = NULL;
	if (e->rread_tail)
		e->rread_tail->next = rr;
	else
		e->rread_head = rr;
	e->rread_tail = rr;
	wbl_kick(e);
}

/* The record as read from the log: the header must be this log's, at this
 * offset, with this seq, and every extent's data must match its crc. */
static int wbl_rread_decode(struct wbl_rread *rr)
{
	struct wblog *e = rr->e;
	struct wb_rec_expect x = {.uuid = e->sb.uuid,
				  .self_off = rr->off,
				  .max_data_blocks = e->sb.max_rec_blocks,
				  .dev_blocks = e->dev_blocks};
	struct wb_rec_info *ri = malloc(sizeof(*ri));
	struct wbl_rec tmp;
	uint32_t i;
	int ret;

	if (!ri)
		return -ENOMEM;
	ret = wb_record_decode(rr->buf, WB_DISK_BLOCK, &x, ri);
	if (!ret && (ri->seq != rr->seq || ri->data_blocks != rr->nblocks))
		ret = -WB_REC_EOFFSET;
	if (!ret)
		ret = wb_record_check_data(ri, (uint8_t *)rr->buf + WB_DISK_BLOCK, NULL);
	if (ret) {
		wb_msg(WB_LOG_ERR, "%s: log %s: read back of record seq %llu at 0x%llx: %s",
		       e->eng.name, e->log->name, (unsigned long long)rr->seq,
		       (unsigned long long)rr->off, wb_record_strerror(ret));
		free(ri);
		return -EIO;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.seq = ri->seq;
	tmp.gen = ri->gen;
	tmp.flags = ri->flags;
	tmp.time_ns = ri->time_ns;
	tmp.nextents = ri->nextents;
	tmp.ext = ri->ext;
	rr->ref = wbl_ref_new(e, &tmp, ri->data_blocks);
	free(ri);
	if (!rr->ref)
		return -ENOMEM;
	rr->ref->buf = rr->buf; /* the reference owns the buffer now */
	rr->buf = NULL;
	for (i = 0; i < rr->ref->pub.nblocks; i++)
		rr->ref->blocks[i] = (uint8_t *)rr->ref->buf + (size_t)(1 + i) * WB_DISK_BLOCK;
	return 0;
}

static void wbl_rread_io_done(struct wb_io_req *io, int res)
{
	struct wbl_rread *rr = io->priv;
	struct wblog *e = rr->e;

	e->log_reads_inflight--;
	if (res < 0 || (uint32_t)res != io->len) {
		rr->err = res < 0 ? res : -EIO;
		wb_msg(WB_LOG_ERR, "%s: log %s: read back of record seq %llu: %s", e->eng.name,
		       e->log->name, (unsigned long long)rr->seq, strerror(-rr->err));
	} else {
		rr->err = wbl_rread_decode(rr);
	}
	wbl_rread_queue(e, rr);
}

int wbl_read_record(struct wb_engine *eng, uint64_t seq,
		    void (*cb)(void *arg, int err, struct wb_rec_ref *r), void *arg)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_rec *rec;
	struct wbl_rread *rr;
	int ret;

	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (!cb)
		return -EINVAL;
	if (seq < e->rec_first || seq >= e->next_seq)
		return -ENOENT;
	if (seq >= e->place_seq)
		return -EAGAIN; /* not final yet: the ship hook will hand it out */
	rec = wbl_rec_by_seq(e, seq);
	rr = calloc(1, sizeof(*rr));
	if (!rr)
		return -ENOMEM;
	rr->e = e;
	rr->seq = seq;
	rr->off = rec->off;
	rr->cb = cb;
	rr->arg = arg;
	if (rec->pages) { /* still in RAM (a written record's pages are kept until evicted) */
		rr->ref = wbl_ref_of_pages(e, rec);
		if (!rr->ref) {
			free(rr);
			return -ENOMEM;
		}
		wbl_rread_queue(e, rr);
		return 0;
	}
	rr->nblocks = rec->flags & WB_REC_F_ZERO ? 0 : rec->data_blocks;
	rr->buf = wb_io_alloc((size_t)(1 + rr->nblocks) * WB_DISK_BLOCK);
	if (!rr->buf) {
		free(rr);
		return -ENOMEM;
	}
	rr->io.op = WB_IO_READ;
	rr->io.buf = rr->buf;
	rr->io.len = (1 + rr->nblocks) * WB_DISK_BLOCK;
	rr->io.off = rec->off;
	rr->io.done = wbl_rread_io_done;
	rr->io.priv = rr;
	/* log space is not released while a log read is in flight */
	e->log_reads_inflight++;
	ret = wb_io_submit(e->log, &rr->io);
	if (ret) {
		e->log_reads_inflight--;
		wb_io_free(rr->buf);
		free(rr);
	}
	return ret;
}

int wbl_set_peer_pos(struct wb_engine *eng, unsigned peer, uint64_t seq)
{
	struct wblog *e = (struct wblog *)eng;

	if (peer >= WB_ENGINE_MAX_PEERS || seq > e->next_seq)
		return -EINVAL;
	if (!seq) {
		e->peers_held &= ~(1u << peer);
		e->peer_pos[peer] = 0;
		wbl_kick(e); /* records it held may be released now */
		return 0;
	}
	if (seq < e->rec_first)
		return -ENOENT; /* already gone from the log: the peer needs a resync */
	e->peer_pos[peer] = seq;
	e->peers_held |= 1u << peer;
	wbl_kick(e);
	return 0;
}

/* Lowest seq a peer still needs, UINT64_MAX if no peer holds the log. */
uint64_t wbl_hold_seq(const struct wblog *e)
{
	uint64_t s = UINT64_MAX;
	unsigned i;

	for (i = 0; i < WB_ENGINE_MAX_PEERS; i++)
		if ((e->peers_held & (1u << i)) && e->peer_pos[i] < s)
			s = e->peer_pos[i];
	return s;
}

/*
 * Where the log's tail on disk may go now: destage's position, but not past
 * a peer the log is held for whose bitmap does not track (a connected
 * peer; its position lives in memory, so after a crash only the records
 * still behind the tail on disk can bring it up to date: a catch-up from
 * the log, not a resync), nor past the records of a dropped peer whose
 * bitmap is not durable yet. A tracking peer's blocks are in its bitmap:
 * the tail goes past it. Never back.
 */
uint64_t wbl_tail_target(const struct wblog *e)
{
	uint64_t t = e->destaged_seq, h = wbl_bm_hold(e);
	uint32_t untracked = e->peers_held & ~wbl_bm_tracking(e);

	for (unsigned i = 0; untracked && i < WB_ENGINE_MAX_PEERS; i++)
		if ((untracked & (1u << i)) && e->peer_pos[i] < t)
			t = e->peer_pos[i];
	if (h < t)
		t = h;
	return t < e->sb.tail_seq ? e->sb.tail_seq : t;
}

/* Keep held_bytes = log bytes of the records in [rec_first, held_end),
 * held_end = destaged_seq: records destaged but not released (their tail
 * not on disk yet, or a peer holds them). */
void wbl_hold_account(struct wblog *e)
{
	if (e->held_end < e->rec_first) {
		e->held_end = e->rec_first;
		e->held_bytes = 0;
	}
	for (; e->held_end < e->destaged_seq && e->held_end < e->rec_end; e->held_end++)
		e->held_bytes += wbl_rec_by_seq(e, e->held_end)->span;
}

/* After releasing up to the lowest hold: is a held peer over its limit?
 * A full log (a record waits for space) beats every limit. Not while
 * records below the lowest hold wait for their tail on disk (that write
 * frees them: destage's tail, or wbl_destage_step's for a held tail). */
int wbl_hold_exceeded(const struct wblog *e)
{
	if (!e->peers_held || e->rec_first >= e->held_end || e->rec_first < wbl_hold_seq(e))
		return 0;
	return e->space_wait ||
	       (e->p.peer_retention_bytes && e->held_bytes > e->p.peer_retention_bytes) ||
	       (e->p.peer_retention_records &&
		e->held_end - e->rec_first > e->p.peer_retention_records);
}

/* Drop the peer(s) holding the tail; owner told from run() (wbl_repl_deliver). */
void wbl_drop_lowest_peer(struct wblog *e)
{
	uint64_t s = wbl_hold_seq(e);
	unsigned i;

	for (i = 0; i < WB_ENGINE_MAX_PEERS; i++) {
		if (!(e->peers_held & (1u << i)) || e->peer_pos[i] != s)
			continue;
		wb_msg(WB_LOG_WARN,
		       "%s: peer %u dropped at seq %llu: it held %llu records (%llu bytes) of "
		       "the log%s; it needs a resync",
		       e->eng.name, i, (unsigned long long)s,
		       (unsigned long long)(e->held_end - e->rec_first),
		       (unsigned long long)e->held_bytes, e->space_wait ? ", which is full" : "");
		e->peers_held &= ~(1u << i);
		e->dropped_pending |= 1u << i;
		e->dropped_seq[i] = s;
		e->peer_pos[i] = 0;
		e->st.peers_dropped++;
		wbl_bm_dropped(e, i, s); /* its records go into its bitmap first */
	}
	wbl_kick(e);
}

int wbl_repl_pending(const struct wblog *e)
{
	return e->rread_head || e->dropped_pending;
}

void wbl_repl_deliver(struct wblog *e, int *n)
{
	struct wbl_rread *rr;
	unsigned i;

	while ((rr = e->rread_head)) {
		e->rread_head = rr->next;
		if (!e->rread_head)
			e->rread_tail = NULL;
		(*n)++;
		rr->cb(rr->arg, rr->ref ? 0 : (rr->err ? rr->err : -EIO),
		       rr->ref ? &rr->ref->pub : NULL);
		if (rr->ref)
			wbl_ref_put(rr->ref);
		wb_io_free(rr->buf);
		free(rr);
	}
	/* the hook is read for each call: a callback may change the hooks */
	for (i = 0; e->dropped_pending && i < WB_ENGINE_MAX_PEERS; i++) {
		if (!(e->dropped_pending & (1u << i)))
			continue;
		e->dropped_pending &= ~(1u << i);
		(*n)++;
		if (e->hooks.peer_dropped)
			e->hooks.peer_dropped(e->hooks.arg, i, e->dropped_seq[i]);
	}
}

/* close: completions not delivered yet are dropped with their buffers */
void wbl_repl_free(struct wblog *e)
{
	struct wbl_rread *rr;

	while ((rr = e->rread_head)) {
		e->rread_head = rr->next;
		if (rr->ref)
			wbl_ref_put(rr->ref);
		wb_io_free(rr->buf);
		free(rr);
	}
	e->rread_tail = NULL;
}
