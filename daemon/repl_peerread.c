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
 * Nothing is written back: the bad block stays bad until a write covers it
 * (a client write goes to the log, its destage rewrites the backing block,
 * which is what makes a disk remap a pending sector). Writing the peer's
 * copy back would race writes to the same blocks that come after the read.
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
#include "engine/wbengine.h"
#include "proto/peerproto.h"

#define PR_BLOCKS	64  /* blocks per request to a peer (256 KiB, verify's ranges) */
#define PR_INFLIGHT	4   /* chunks on the wire (a peer keeps 8 requests) */
#define PR_RETRY_MS	20  /* after EBUSY or a full send queue */
#define PR_BUSY_MAX	250 /* EBUSY answers (5 s) before the peer counts as failed */
#define PR_QUEUE_MAX	256 /* failed reads waiting; more complete with their error */
#define PR_LOG_EVERY_MS 1000

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
};

struct pr_chunk {
	bool used, resend;
	uint64_t id;
	uint32_t off, n; /* blocks of the head read */
};

struct repl_peerread {
	struct wbd_repl *rp;
	struct event *ev;    /* the pump soon: a new read, a retry */
	struct event *ev_to; /* the pump while the head waits: its peer's time */
	struct pr_read *head, *tail;
	unsigned queued;
	struct pr_chunk c[PR_INFLIGHT];
	uint64_t next_id;
	/* a log line of each outcome (0: served, 1: not) at most every
	 * PR_LOG_EVERY_MS, with how many it left out */
	uint64_t log_ms[2], quiet[2];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

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
	uint64_t now = now_ms();
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

	pr->head = rd->next;
	if (!pr->head)
		pr->tail = NULL;
	pr->queued--;
	memset(pr->c, 0, sizeof(pr->c));
	pr_tell(pr, rd, err);
	rd->done(rd->wr, err ? rd->err : 0);
	free(rd);
}

/* A peer that can serve reads: every record shipped is queued to it before
 * what is sent now, and its blocks are complete. */
static bool pr_peer_ok(const struct repl_peer *p)
{
	return repl_peer_current(p) && p->l;
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
	if (!rp->primary)
		return false;
	for (unsigned i = 0; i < rp->npeers; i++) {
		if (rd->tried & (1u << i) || !pr_peer_ok(&rp->peers[i]))
			continue;
		rd->peer = (int)i;
		rd->epoch = rp->peers[i].epoch;
		rd->asked_ms = now_ms();
		return true;
	}
	return false;
}

static int pr_send(struct repl_peerread *pr, struct pr_chunk *c)
{
	struct pr_read *rd = pr->head;
	Wbrep__VerifyRequest m = WBREP__VERIFY_REQUEST__INIT;

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
		if (rd->peer >= 0 && now_ms() - rd->asked_ms >= pr_timeout_ms(rp)) {
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
		if ((!p || !rp->primary || !pr_peer_ok(p) || p->epoch != rd->epoch) &&
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

bool wbd_repl_read_peer(struct wbd_repl *rp, struct wb_req *wr, int err,
			void (*done)(struct wb_req *wr, int err))
{
	struct repl_peerread *pr;
	struct pr_read *rd;
	bool any = false;

	if (!rp || !rp->primary || rp->stopping || wr->op != WB_REQ_READ || wr->snap || !wr->buf ||
	    !wr->len || (wr->off | wr->len) & (WB_BLOCK_SIZE - 1) || err == -ESHUTDOWN ||
	    err == -EINVAL)
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
		if (!pr_next_peer(pr))
			pr_pop(pr, rd->err);
		pr_pump(pr);
		return;
	}
	memcpy((uint8_t *)rd->wr->buf + (size_t)c->off * WB_BLOCK_SIZE, data,
	       (size_t)c->n * WB_BLOCK_SIZE);
	rd->got += c->n;
	rd->asked_ms = now_ms(); /* the time counts from its last answer */
	c->used = false;
	pr_pump(pr);
}

uint64_t wbd_repl_reads_from_peers(const struct wbd_repl *rp)
{
	return rp ? rp->rd_peer_served : 0;
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

static void pr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_repl *rp = arg;

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
	event_free(pr->ev);
	event_free(pr->ev_to);
	free(pr);
	rp->pr = NULL;
}
