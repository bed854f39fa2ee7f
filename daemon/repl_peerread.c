// SPDX-License-Identifier: GPL-2.0-only
/*
 * repl_peerread.c - a read that failed on the primary's own disks is read
 * from an UpToDate peer instead (docs/replication.md, "A read error"), as
 * DRBD does for a read error on a diskful primary and md does from a
 * mirror: the client gets the data, not EIO, while one replica still has it.
 *
 * The frontends (NBD, the ring) and the resync source (repl_resync.c, its
 * range reads) offer every read that completed with an error to
 * wbd_repl_read_peer(). On a primary, the read waits in a FIFO; the
 * head is asked from one peer in chunks of PR_BLOCKS blocks, at most
 * PR_INFLIGHT on the wire, with the online verify's request (VerifyRequest
 * with data set, answered by the same code on the peer: repl_verify.c
 * "secondary"), so the same ordering rule holds: the request is queued on a
 * live link after every record shipped so far, and the peer reads only once
 * every record it applied before the request is durable there. Every write
 * acknowledged before the read is in a shipped record (the engine makes a
 * record readable and ships it in the same step), so the peer's blocks are
 * the ones the local read would have returned.
 *
 * Which peer: one that is connected, live and not being resynced (the
 * peers write-back counts as healthy, minus one only congested: it catches
 * up from the log, so a request could overtake records), in index order,
 * skipping those that already failed this read. A peer failing a chunk
 * (its own read error, an Inconsistent disk, its link going down) moves the
 * whole read to the next one; EBUSY (the peer keeps only a few requests) is
 * asked again after PR_RETRY_MS, for at most PR_BUSY_MAX times. So does a
 * peer that has not answered within half the resource's ping-timeout (a
 * stalled one, before its link times out; or one whose link is alive but
 * whose engine never completes the records the read waits for). No peer
 * left: the read completes with its local error.
 *
 * Read repair: each chunk a peer served is written back here, as md does
 * for a mirror's read error, so that the bad blocks get a good copy again
 * (a client-style write: into the log, shipped, destaged over the bad
 * backing block, which is what makes a disk remap a pending sector) and
 * the node holds its own copy of them again. A chunk is the device as of
 * the request (every record shipped before it, none after: the ordering
 * rule above), so only the blocks no newer write covers may go back: the
 * engine says which (engine ABI 15 repair_mask, with the seq the next
 * shipped record gets, taken when the request was queued) and the write
 * of those is submitted in the same engine-loop callback, before any
 * other write is admitted. When the engine cannot tell (a newer record
 * was already destaged), the chunk is not written back; the next read of
 * a block still bad fails, is served and repaired again.
 *
 * Destage (engine ABI 17: hook log_unreadable, op destage_fill;
 * docs/replication.md "A read error"): blocks destage could not read from
 * this node's log are asked from a peer the same way (queued from the
 * loop: the hook runs inside the engine's run()) and handed to destage,
 * which writes them to the backing device as it would have from the log.
 * No read repair for those: nothing new goes into the log (a repair
 * record would wait in write-through, where a drain runs, for the very
 * destage it is meant to unblock), and the bad log blocks are released
 * with the records and written over later (a disk remaps them then).
 *
 * Threads: the engine thread, like the rest of the glue; done() runs there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/events.h"
#include "daemon/peerlink.h"
#include "daemon/repl_int.h"
#include "daemon/wbd_log.h"
#include "engine/clock.h"
#include "engine/wbengine.h"
#include "proto/peerproto.h"

#define PR_BLOCKS	64  /* blocks per request to a peer (256 KiB, verify's ranges) */
#define PR_INFLIGHT	4   /* chunks on the wire (a peer keeps 8 requests) */
#define PR_RETRY_MS	20  /* after EBUSY or a full send queue */
#define PR_BUSY_MAX	250 /* EBUSY answers (5 s) before the peer counts as failed */
#define PR_QUEUE_MAX	256 /* failed reads waiting; more complete with their error */
#define PR_LOG_EVERY_MS 1000
#define PR_FIX_MAX	16 /* chunks being repaired; more are not (a later read will) */
#define PR_DS_MAX	64 /* destage's unreadable ranges waiting; more: asked again later */
#define PR_DS_TRIES	50 /* hand-overs refused with EAGAIN (destage reading) before giving up */
/* a secondary waits this long for the records below its primary's as_of
 * (a lagging link), within the engine's 10 s for a good copy */
#define PR_DS_BEHIND_MS 8000

struct pr_read {
	struct pr_read *next;
	struct wb_req *wr;
	void (*done)(struct wb_req *wr, int err);
	int err;	   /* the local read's error */
	uint64_t lba;	   /* first block */
	uint32_t n;	   /* blocks */
	uint32_t next_blk; /* the next block to ask for */
	uint32_t got;	   /* blocks received */
	int peer;	   /* asked from (-1: none yet) */
	uint64_t epoch;	   /* of the peer's connection */
	uint64_t asked_ms; /* when that peer was chosen or last answered */
	uint32_t tried;	   /* peers that failed it */
	unsigned busy;	   /* EBUSY answers so far */
	uint32_t eio;	   /* peers that failed it with EIO (their disk) */
	bool nofix;	   /* no read repair (destage's: pr_ds) */
	uint64_t *as_of;   /* a secondary's: the primary's VerifyReply.as_of, highest */
};

struct pr_chunk {
	bool used, resend;
	uint64_t id;
	uint32_t off, n; /* blocks of the head read */
	uint64_t since;	 /* shipped_next when it was asked: the copy's seq */
};

/* a range destage could not read from the log: asked from a peer, then
 * handed to destage (wb_engine_destage_fill) */
struct pr_ds {
	struct pr_ds *next;
	struct wb_req wr;
	struct wbd_repl *rp;
	/* since: shipped_next when it was queued (a primary), the primary's
	 * as_of of its copy (a secondary) */
	uint64_t lba, since;
	uint32_t n, tries;
	uint64_t served_ms; /* a secondary's: when its primary's copy came */
	uint8_t *buf;
};

struct repl_peerread {
	struct wbd_repl *rp;
	struct event *ev;    /* the pump soon: a new read, a retry */
	struct event *ev_to; /* the pump while the head waits: its peer's time */
	struct pr_read *head, *tail;
	unsigned queued;
	struct pr_chunk c[PR_INFLIGHT];
	uint64_t next_id;
	unsigned fixing;       /* chunks being repaired (pr_fix) */
	struct pr_ds *ds_head; /* destage's ranges, not asked yet */
	struct pr_ds *ds_fill; /* served, destage was reading: handed over later */
	unsigned ds_queued;
	/* a log line of each outcome (0: served, 1: not) at most every
	 * PR_LOG_EVERY_MS, with how many it left out; [2]: repairs, [3]:
	 * destage's ranges */
	uint64_t log_ms[4], quiet[2];
};

static void pr_timer_cb(evutil_socket_t fd, short what, void *arg);

static struct repl_peerread *pr_get(struct wbd_repl *rp)
{
	struct repl_peerread *pr = rp->pr;

	if (pr)
		return pr;
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return NULL;
	pr->rp = rp;
	pr->ev = evtimer_new(rp->base, pr_timer_cb, rp);
	pr->ev_to = evtimer_new(rp->base, pr_timer_cb, rp);
	if (!pr->ev || !pr->ev_to) {
		if (pr->ev)
			event_free(pr->ev);
		free(pr);
		return NULL;
	}
	rp->pr = pr;
	return pr;
}

static void pr_arm(struct event *ev, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (!evtimer_pending(ev, NULL))
		evtimer_add(ev, &tv);
}

static void pr_later(struct repl_peerread *pr)
{
	pr_arm(pr->ev, PR_RETRY_MS);
}

/* how long a peer may take to answer: half the link's ping timeout (a
 * stalled process loses its link after the whole; the read goes on
 * before, and also from a peer whose pongs come but whose reads do not) */
static uint64_t pr_timeout_ms(const struct wbd_repl *rp)
{
	return (rp->ping_timeout_ms ? rp->ping_timeout_ms : 5000) / 2;
}

/* The outcome of a read, logged (at most one line per PR_LOG_EVERY_MS,
 * saying how many it left out); one served is counted. */
static void pr_tell(struct repl_peerread *pr, const struct pr_read *rd, int err)
{
	struct wbd_repl *rp = pr->rp;
	unsigned k = err != 0;
	uint64_t now = wb_now_ms();
	char more[64] = "";

	if (!err)
		rp->rd_peer_served++;
	if (pr->log_ms[k] && now - pr->log_ms[k] < PR_LOG_EVERY_MS) {
		pr->quiet[k]++;
		return;
	}
	if (pr->quiet[k])
		snprintf(more, sizeof(more), " (and %llu more like it since the last line)",
			 (unsigned long long)pr->quiet[k]);
	pr->log_ms[k] = now;
	pr->quiet[k] = 0;
	if (err)
		wbd_event(rp->res, "read", NULL, NULL,
			  "read of %u bytes at offset %llu failed here (%s) and no UpToDate peer "
			  "could serve it: the client gets the error%s",
			  rd->n * WB_BLOCK_SIZE, (unsigned long long)rd->lba * WB_BLOCK_SIZE,
			  strerror(-rd->err), more);
	else
		wbd_event(rp->res, "read", NULL, NULL,
			  "read of %u bytes at offset %llu failed here (%s): served by peer %s%s",
			  rd->n * WB_BLOCK_SIZE, (unsigned long long)rd->lba * WB_BLOCK_SIZE,
			  strerror(-rd->err), rp->peers[rd->peer].node, more);
}

/* The head read is over: its chunks are forgotten (late replies are
 * ignored by id), done() runs. */
static void pr_pop(struct repl_peerread *pr, int err)
{
	struct pr_read *rd = pr->head;
	struct wbd_repl *rp = pr->rp;

	pr->head = rd->next;
	if (!pr->head)
		pr->tail = NULL;
	pr->queued--;
	memset(pr->c, 0, sizeof(pr->c));
	/* served: a peer that could not read it has a bad block there; its
	 * bitmap marks the range and the resync at its next connect writes
	 * it (a disk remaps a pending sector on write), as the verify does */
	for (unsigned i = 0; !err && rd->eio && i < rp->npeers; i++) {
		int ret;

		if (!(rd->eio & (1u << i)))
			continue;
		ret = wb_engine_bm_found(rp->e, rp->peers[i].slot, rd->lba * WB_BLOCK_SIZE,
					 (uint64_t)rd->n * WB_BLOCK_SIZE);
		wbd_warn("%s: peer %s could not read %u bytes at offset %llu (its disk): %s",
			 rp->res, rp->peers[i].node, rd->n * WB_BLOCK_SIZE,
			 (unsigned long long)rd->lba * WB_BLOCK_SIZE,
			 ret ? strerror(-ret) : "marked for resync at its next connect");
	}
	pr_tell(pr, rd, err);
	rd->done(rd->wr, err ? rd->err : 0);
	free(rd);
}

/* A peer that can serve reads: every record shipped is queued to it before
 * what is sent now, and its blocks are complete. On a secondary (its
 * destage's reads only): its primary, connected, not resyncing this node,
 * and saying in its hello that it serves them. */
static bool pr_peer_ok(const struct repl_peer *p)
{
	const Wbrep__Hello *h;

	if (p->rp->primary)
		return repl_peer_current(p) && p->l;
	if (!p->up || !p->primary_peer || !p->l || p->rs.state != REPL_RS_NONE ||
	    p->rp->disk == REPL_DISK_INCONSISTENT)
		return false;
	h = wbd_peerlink_peer_hello(p->l);
	return h && h->has_serves_reads && h->serves_reads;
}

/* A client's read is served by a peer only on a primary; destage's
 * (nofix) on a secondary too, from its primary (pr_peer_ok). */
static bool pr_role_ok(const struct wbd_repl *rp, bool nofix)
{
	return rp->primary || nofix;
}

/* The head read starts over with the next peer; false: none is left. */
static bool pr_next_peer(struct repl_peerread *pr)
{
	struct wbd_repl *rp = pr->rp;
	struct pr_read *rd = pr->head;

	if (rd->peer >= 0)
		rd->tried |= 1u << rd->peer;
	memset(pr->c, 0, sizeof(pr->c));
	rd->next_blk = rd->got = 0;
	rd->busy = 0;
	rd->peer = -1;
	if (!pr_role_ok(rp, rd->nofix))
		return false; /* a client's read on a node no longer primary */
	for (unsigned i = 0; i < rp->npeers; i++) {
		if (rd->tried & (1u << i) || !pr_peer_ok(&rp->peers[i]))
			continue;
		rd->peer = (int)i;
		rd->epoch = rp->peers[i].epoch;
		rd->asked_ms = wb_now_ms();
		return true;
	}
	return false;
}

static int pr_send(struct repl_peerread *pr, struct pr_chunk *c)
{
	struct pr_read *rd = pr->head;
	Wbrep__VerifyRequest m = WBREP__VERIFY_REQUEST__INIT;

	c->since = pr->rp->shipped_next;
	m.id = c->id;
	m.lba = rd->lba + c->off;
	m.nblocks = c->n;
	m.has_data = m.data = 1;
	return wbd_peerlink_send(pr->rp->peers[rd->peer].l, WBP_T_VERIFY_REQ, &m.base, NULL);
}

/* Serve the FIFO: ask the head's chunks, complete what is done. */
static void pr_pump(struct repl_peerread *pr)
{
	struct wbd_repl *rp = pr->rp;

	while (pr->head) {
		struct pr_read *rd = pr->head;
		struct repl_peer *p;
		bool wait = false;

		if (rd->got == rd->n) {
			pr_pop(pr, 0);
			continue;
		}
		/* no answer in time (a large read's chunks each reset the
		 * clock): the next peer (late answers are ignored) */
		if (rd->peer >= 0 && wb_now_ms() - rd->asked_ms >= pr_timeout_ms(rp)) {
			wbd_warn("%s: peer %s did not answer a read of %u bytes at offset %llu "
				 "within %llu ms: asking the next UpToDate peer",
				 rp->res, rp->peers[rd->peer].node, rd->n * WB_BLOCK_SIZE,
				 (unsigned long long)rd->lba * WB_BLOCK_SIZE,
				 (unsigned long long)pr_timeout_ms(rp));
			if (!pr_next_peer(pr)) {
				pr_pop(pr, rd->err);
				continue;
			}
		}
		/* no peer yet, or it went (link down, resync, demotion) */
		p = rd->peer >= 0 ? &rp->peers[rd->peer] : NULL;
		if ((!p || !pr_role_ok(rp, rd->nofix) || !pr_peer_ok(p) || p->epoch != rd->epoch) &&
		    !pr_next_peer(pr)) {
			pr_pop(pr, rd->err);
			continue;
		}
		for (unsigned i = 0; i < PR_INFLIGHT && !wait; i++) {
			struct pr_chunk *c = &pr->c[i];
			int ret;

			if (c->used && !c->resend)
				continue;
			if (!c->used) {
				if (rd->next_blk == rd->n)
					continue;
				c->used = true;
				c->id = ++pr->next_id;
				c->off = rd->next_blk;
				c->n = rd->n - rd->next_blk < PR_BLOCKS ? rd->n - rd->next_blk
									: PR_BLOCKS;
				rd->next_blk += c->n;
			}
			c->resend = true;
			ret = pr_send(pr, c);
			if (ret == -EAGAIN) { /* the send queue is full */
				pr_later(pr);
				wait = true;
			} else if (ret) { /* the link went: pr_peer_down follows */
				wait = true;
			} else {
				c->resend = false;
			}
		}
		pr_arm(pr->ev_to, 250); /* the head waits for its replies: check the time */
		return;
	}
}

static bool pr_enqueue(struct wbd_repl *rp, struct wb_req *wr, int err,
		       void (*done)(struct wb_req *wr, int err), bool nofix, uint64_t *as_of)
{
	struct repl_peerread *pr;
	struct pr_read *rd;
	bool any = false;

	if (!rp || !pr_role_ok(rp, nofix) || rp->stopping || wr->op != WB_REQ_READ || wr->snap ||
	    !wr->buf || !wr->len || (wr->off | wr->len) & (WB_BLOCK_SIZE - 1) ||
	    err == -ESHUTDOWN || err == -EINVAL)
		return false;
	for (unsigned i = 0; i < rp->npeers; i++)
		any |= pr_peer_ok(&rp->peers[i]);
	pr = any ? pr_get(rp) : NULL;
	if (!pr || pr->queued >= PR_QUEUE_MAX || !(rd = calloc(1, sizeof(*rd))))
		return false;
	rd->wr = wr;
	rd->done = done;
	rd->err = err;
	rd->lba = wr->off / WB_BLOCK_SIZE;
	rd->n = wr->len / WB_BLOCK_SIZE;
	rd->peer = -1;
	rd->nofix = nofix;
	rd->as_of = as_of;
	if (pr->tail)
		pr->tail->next = rd;
	else
		pr->head = rd;
	pr->tail = rd;
	pr->queued++;
	/* done() never runs from inside this call: the pump runs from the loop */
	pr_later(pr);
	return true;
}

bool wbd_repl_read_peer(struct wbd_repl *rp, struct wb_req *wr, int err,
			void (*done)(struct wb_req *wr, int err))
{
	return pr_enqueue(rp, wr, err, done, false, NULL);
}

/* The repair of one chunk a peer served: first read here again (a chunk
 * of a large read that failed elsewhere may be fine here), then the write
 * of the blocks no newer write covers, one request per run. */
struct pr_fix {
	struct wb_req wr; /* the read here, then each write in turn */
	struct wbd_repl *rp;
	uint64_t lba, since;
	uint32_t n, next; /* blocks; the next one to look at */
	uint64_t mask;	  /* blocks to write back */
	uint32_t done;	  /* blocks written back */
	uint8_t *peer;	  /* the peer's copy */
	uint8_t *local;	  /* the read here */
};

static void pr_fix_tell(struct pr_fix *fx, int err)
{
	struct wbd_repl *rp = fx->rp;
	struct repl_peerread *pr = rp->pr;
	uint64_t now = wb_now_ms();

	if (pr && pr->log_ms[2] && now - pr->log_ms[2] < PR_LOG_EVERY_MS)
		return;
	if (pr)
		pr->log_ms[2] = now;
	if (err)
		wbd_warn("%s: read repair: writing back %u bytes at offset %llu failed: %s",
			 rp->res, fx->n * WB_BLOCK_SIZE,
			 (unsigned long long)fx->lba * WB_BLOCK_SIZE, strerror(-err));
	else
		wbd_event(rp->res, "read", NULL, NULL,
			  "read repair: %u of %u bytes at offset %llu written back here from a "
			  "peer's copy%s",
			  fx->done * WB_BLOCK_SIZE, fx->n * WB_BLOCK_SIZE,
			  (unsigned long long)fx->lba * WB_BLOCK_SIZE,
			  fx->done < fx->n ? " (newer writes cover the rest)" : "");
}

static void pr_fix_end(struct pr_fix *fx, int err)
{
	struct wbd_repl *rp = fx->rp;

	if (err || fx->done)
		pr_fix_tell(fx, err);
	if (rp->pr)
		rp->pr->fixing--;
	rp->applying--;
	free(fx->peer);
	free(fx->local);
	free(fx);
}

static void pr_fix_write(struct pr_fix *fx);

static void pr_fix_written(struct wb_req *wr, int err)
{
	struct pr_fix *fx = (struct pr_fix *)wr;

	if (err) {
		pr_fix_end(fx, err);
		return;
	}
	fx->done += wr->len / WB_BLOCK_SIZE;
	fx->rp->rd_repaired += wr->len;
	pr_fix_write(fx);
}

/* The next run of blocks in fx->mask, written; the end when none is left.
 * The first call runs right after repair_mask, in the same callback; each
 * later one from the previous write's completion: a write admitted in
 * between may have covered blocks of a later run, so the mask is asked
 * again for what is left. */
static void pr_fix_write(struct pr_fix *fx)
{
	struct wbd_repl *rp = fx->rp;
	uint32_t i = fx->next, j;
	int ret;

	if (i && i < fx->n) {
		uint64_t m = 0;

		ret = wb_engine_repair_mask(rp->e, fx->lba + i, fx->n - i, fx->since, &m);
		fx->mask &= ret ? 0 : ~((1ull << i) - 1) & (m << i);
	}
	while (i < fx->n && !(fx->mask >> i & 1))
		i++;
	if (i == fx->n || !rp->primary || rp->stopping) {
		pr_fix_end(fx, 0);
		return;
	}
	for (j = i; j < fx->n && fx->mask >> j & 1; j++)
		;
	fx->next = j;
	memset(&fx->wr, 0, sizeof(fx->wr));
	fx->wr.op = WB_REQ_WRITE;
	fx->wr.off = (fx->lba + i) * WB_BLOCK_SIZE;
	fx->wr.len = (j - i) * WB_BLOCK_SIZE;
	fx->wr.buf = fx->peer + (size_t)i * WB_BLOCK_SIZE;
	fx->wr.done = pr_fix_written;
	ret = wb_engine_submit(rp->e, &fx->wr);
	if (ret)
		pr_fix_end(fx, ret);
}

static void pr_fix_read(struct wb_req *wr, int err)
{
	struct pr_fix *fx = (struct pr_fix *)wr;
	int ret;

	if (!err || !fx->rp->primary || fx->rp->stopping) {
		pr_fix_end(fx, 0); /* readable here now (or no longer ours to fix) */
		return;
	}
	ret = wb_engine_repair_mask(fx->rp->e, fx->lba, fx->n, fx->since, &fx->mask);
	if (ret) { /* -ESTALE: a newer record left the log; -EOPNOTSUPP */
		pr_fix_end(fx, 0);
		return;
	}
	pr_fix_write(fx);
}

/* Repair chunk c of the head read, which a peer served as data. */
static void pr_fix(struct repl_peerread *pr, const struct pr_chunk *c, const uint8_t *data)
{
	struct wbd_repl *rp = pr->rp;
	size_t len = (size_t)c->n * WB_BLOCK_SIZE;
	struct pr_fix *fx;

	if (pr->fixing >= PR_FIX_MAX || !WB_OPS_HAS(rp->e->ops, 15, repair_mask))
		return;
	fx = calloc(1, sizeof(*fx));
	if (!fx)
		return;
	fx->peer = malloc(len);
	fx->local = malloc(len);
	if (!fx->peer || !fx->local) {
		free(fx->peer);
		free(fx->local);
		free(fx);
		return;
	}
	memcpy(fx->peer, data, len);
	fx->rp = rp;
	fx->lba = pr->head->lba + c->off;
	fx->n = c->n;
	fx->since = c->since;
	if (wbd_repl_read_blocks(rp, &fx->wr, fx->lba, fx->n, fx->local, pr_fix_read, fx)) {
		free(fx->peer);
		free(fx->local);
		free(fx);
		return;
	}
	pr->fixing++;
	rp->applying++; /* wbd_repl_free waits for it */
}

/* A verify reply with data (repl.c's frame callback hands it over). */
void wbd_repl_peerread_reply(struct repl_peer *p, const Wbrep__VerifyReply *m, const void *data)
{
	struct repl_peerread *pr = p->rp->pr;
	struct pr_read *rd = pr ? pr->head : NULL;
	struct pr_chunk *c = NULL;

	if (!rd || rd->peer != (int)p->idx || rd->epoch != p->epoch)
		return; /* for a read that is over or moved on: late */
	for (unsigned i = 0; i < PR_INFLIGHT && !c; i++)
		if (pr->c[i].used && pr->c[i].id == m->id)
			c = &pr->c[i];
	if (!c)
		return;
	if (m->lba != rd->lba + c->off || m->nblocks != c->n) {
		wbd_peerlink_drop(p->l, -EPROTO, "read reply for another block range");
		return; /* pr_peer_down moves the read on */
	}
	if (m->has_code && m->code == EBUSY && ++rd->busy <= PR_BUSY_MAX) {
		c->resend = true;
		pr_later(pr);
		return;
	}
	if (m->has_code && m->code) {
		wbd_warn("%s: peer %s could not serve a read of %u bytes at offset %llu: %s",
			 p->rp->res, p->node, c->n * WB_BLOCK_SIZE,
			 (unsigned long long)(m->lba * WB_BLOCK_SIZE), strerror(m->code));
		if (m->code == EIO)
			rd->eio |= 1u << p->idx;
		if (!pr_next_peer(pr))
			pr_pop(pr, rd->err);
		pr_pump(pr);
		return;
	}
	if (rd->as_of && !p->rp->primary) {
		/* a secondary must know how new the primary's copy is */
		if (!m->has_as_of) {
			wbd_peerlink_drop(p->l, -EPROTO, "read reply with data without as_of");
			return;
		}
		if (m->as_of > *rd->as_of)
			*rd->as_of = m->as_of;
	}
	memcpy((uint8_t *)rd->wr->buf + (size_t)c->off * WB_BLOCK_SIZE, data,
	       (size_t)c->n * WB_BLOCK_SIZE);
	if (!rd->nofix)
		pr_fix(pr, c, data);
	rd->got += c->n;
	rd->asked_ms = wb_now_ms(); /* the time counts from its last answer */
	c->used = false;
	pr_pump(pr);
}

uint64_t wbd_repl_reads_from_peers(const struct wbd_repl *rp)
{
	return rp ? rp->rd_peer_served : 0;
}

uint64_t wbd_repl_read_repaired(const struct wbd_repl *rp)
{
	return rp ? rp->rd_repaired : 0;
}

void wbd_repl_peerread_peer_down(struct repl_peer *p)
{
	struct repl_peerread *pr = p->rp->pr;

	if (pr && pr->head && pr->head->peer == (int)p->idx)
		pr_pump(pr); /* its epoch moved: the next peer */
}

void wbd_repl_peerread_role(struct wbd_repl *rp)
{
	if (rp->pr && !rp->primary)
		pr_pump(rp->pr); /* not primary any more: the reads fail */
}

static void pr_ds_free(struct pr_ds *d)
{
	free(d->buf);
	free(d);
}

static void pr_ds_free_list(struct pr_ds *d)
{
	while (d) {
		struct pr_ds *next = d->next;

		pr_ds_free(d);
		d = next;
	}
}

/* Hand a served range to destage; EAGAIN (it is reading again): later. */
static void pr_ds_fill(struct pr_ds *d)
{
	struct wbd_repl *rp = d->rp;
	struct repl_peerread *pr = rp->pr;
	struct wb_engine_stats st;
	int ret;

	if (rp->stopping || !pr) {
		pr_ds_free(d);
		return;
	}
	/* a secondary's copy from its primary is as of d->since, maybe newer
	 * than this node: destage takes it once every record below that is
	 * here too (destage_fill then leaves out the blocks a record newer
	 * than destage's covers: this node's copy of it comes later) */
	if (!rp->primary && !d->since)
		ret = -EPROTO; /* not told (wbd_repl_peerread_reply drops such a link) */
	else if (!rp->primary && !wb_engine_stats(rp->e, &st) && st.seq_head < d->since)
		ret = wb_now_ms() - d->served_ms < PR_DS_BEHIND_MS ? -EINPROGRESS : -EAGAIN;
	else
		ret = wb_engine_destage_fill(rp->e, d->lba, d->n, d->since, d->buf);
	if (ret == -EINPROGRESS || (ret == -EAGAIN && ++d->tries < PR_DS_TRIES)) {
		d->next = pr->ds_fill;
		pr->ds_fill = d;
		pr_later(pr);
		return;
	}
	if (ret < 0)
		wbd_warn("%s: handing %u bytes at offset %llu from a peer to destage: %s", rp->res,
			 d->n * WB_BLOCK_SIZE, (unsigned long long)d->lba * WB_BLOCK_SIZE,
			 strerror(-ret));
	pr_ds_free(d);
}

/* A destage range's read from a peer is over (pr_pop; or the queue's end
 * at stop, with an error). */
static void pr_ds_served(struct wb_req *wr, int err)
{
	struct pr_ds *d = wr->priv;
	struct wbd_repl *rp = d->rp;

	if (err) {
		if (!rp->stopping)
			wbd_warn("%s: %u bytes at offset %llu that destage could not read from "
				 "the log: no peer could serve them (%s); destage asks again",
				 rp->res, d->n * WB_BLOCK_SIZE,
				 (unsigned long long)d->lba * WB_BLOCK_SIZE, strerror(-err));
		pr_ds_free(d);
		return;
	}
	d->served_ms = wb_now_ms();
	pr_ds_fill(d);
}

/* Destage's queued ranges go to the peer read FIFO, and served ones
 * destage could not take yet are handed over again (from the loop, not
 * from the engine's run()). */
static void pr_ds_submit(struct repl_peerread *pr)
{
	struct wbd_repl *rp = pr->rp;
	struct pr_ds *f = pr->ds_fill;

	pr->ds_fill = NULL;
	while (f) {
		struct pr_ds *d = f;

		f = d->next;
		pr_ds_fill(d);
	}
	while (pr->ds_head) {
		struct pr_ds *d = pr->ds_head;

		pr->ds_head = d->next;
		pr->ds_queued--;
		memset(&d->wr, 0, sizeof(d->wr));
		d->wr.op = WB_REQ_READ;
		d->wr.off = d->lba * WB_BLOCK_SIZE;
		d->wr.len = d->n * WB_BLOCK_SIZE;
		d->wr.buf = d->buf;
		d->wr.priv = d;
		/* a secondary learns it from the primary's reply (as_of) */
		d->since = rp->primary ? rp->shipped_next : 0;
		if (rp->stopping || !pr_enqueue(rp, &d->wr, -EIO, pr_ds_served, true,
						rp->primary ? NULL : &d->since))
			pr_ds_free(d);
	}
}

int wbd_repl_log_unreadable(struct wbd_repl *rp, uint64_t lba, uint32_t n)
{
	struct repl_peerread *pr;
	struct pr_ds *d;
	bool any = false;
	uint64_t now = wb_now_ms();

	if (rp->stopping || !WB_OPS_HAS(rp->e->ops, 17, destage_fill))
		return -EOPNOTSUPP;
	for (unsigned i = 0; i < rp->npeers; i++)
		any |= pr_peer_ok(&rp->peers[i]);
	if (!any)
		return -ENODEV; /* no peer to ask: the engine fails, as before */
	if (!(pr = pr_get(rp)))
		return -ENOMEM;
	if (pr->ds_queued >= PR_DS_MAX)
		return 0; /* destage asks again in a second */
	d = calloc(1, sizeof(*d));
	if (d)
		d->buf = malloc((size_t)n * WB_BLOCK_SIZE);
	if (!d || !d->buf) {
		free(d);
		return 0;
	}
	d->rp = rp;
	d->lba = lba;
	d->n = n;
	d->next = pr->ds_head;
	pr->ds_head = d;
	pr->ds_queued++;
	if (!pr->log_ms[3] || now - pr->log_ms[3] >= PR_LOG_EVERY_MS) {
		pr->log_ms[3] = now;
		wbd_event(rp->res, "read", NULL, NULL,
			  "destage could not read %u bytes at offset %llu from this node's log: "
			  "asking a peer for them",
			  n * WB_BLOCK_SIZE, (unsigned long long)lba * WB_BLOCK_SIZE);
	}
	pr_arm(pr->ev, 0);
	return 0;
}

static void pr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_repl *rp = arg;

	if (rp->pr)
		pr_ds_submit(rp->pr);
	if (rp->pr)
		pr_pump(rp->pr);
}

void wbd_repl_peerread_free(struct wbd_repl *rp)
{
	struct repl_peerread *pr = rp->pr;

	if (!pr)
		return;
	while (pr->head) {
		struct pr_read *rd = pr->head;

		pr->head = rd->next;
		rd->done(rd->wr, rd->err);
		free(rd);
	}
	pr_ds_free_list(pr->ds_head);
	pr_ds_free_list(pr->ds_fill);
	event_free(pr->ev);
	event_free(pr->ev_to);
	free(pr);
	rp->pr = NULL;
}
