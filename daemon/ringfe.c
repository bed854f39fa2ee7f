// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringfe.c - the ring frontend: SQ consumer, engine submitter, CQ producer.
 * See ringfe.h for the model and ownership, docs/ring-abi.md for the ABI.
 * The SQE parser is ringfe_sqe.c, the kernel transport ringfe_kern.c,
 * wbrepd's per-resource attach loop ringfe_keeper.c.
 *
 * Two sides, joined by one message per slot (docs/daemon.md "Threads"):
 *
 * - the io side (an io loop of daemon/ioloop.c in wbrepd) owns the rings:
 *   it reads and checks SQEs, copies a write's payload from the shared data
 *   slot into RAM-buffer pages and computes each block's crc32c (engine
 *   ABI 9; ABI 8 crcs when no pages are free), writes CQEs and kicks the
 *   producer. Fields: rd_ev, kick_ev, sq_head, cq_tail, kick_pending,
 *   unkicked, gone, refs, io_rl, each slot's busy.
 * - the engine side (the engine loop) owns admission (writable, suspend,
 *   io-error), wb_engine_submit(), the replication gate and completions.
 *   Fields: closing, eng_gone, inflight, held, the hold queue, gate, the
 *   owner's hooks, eng_rl.
 *
 * A slot's request travels io -> engine (eng_take) -> io (io_done) in its
 * own struct wbd_ioloop_msg; whoever holds the message owns the slot's
 * request fields. Without io loops (the unit tests, tests/vm/wbringd, or
 * an open with base == NULL) both sides run on the caller's thread and a
 * post is a call.
 *
 * Lifetime: fe->refs (io side) = 1 for the open frontend, dropped by the
 * stop message that wbd_ringfe_close() posts last, + 1 per busy slot. The
 * io side frees fe at 0, so a request still in the engine after close (an
 * orphan) keeps fe, its slots and the transport (its buffer points into the
 * shared data area) until it completes.
 *
 * Indices are loaded with acquire and stored with release (__atomic
 * builtins), matching smp_load_acquire/smp_store_release in the kernel.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/ioloop.h"
#include "daemon/ringfe.h"
#include "daemon/wbd_log.h"
#include "engine/pagebuf.h"

struct rfe_slot {
	struct wb_req req;
	struct wbd_ioloop_msg m; /* io -> engine: eng_take; engine -> io: io_done */
	struct wbd_ringfe *fe;
	struct rfe_slot *hnext; /* engine: the admission hold queue */
	uint64_t tag;
	int result;
	bool drop;		/* engine -> io: no CQE (closing: the kernel re-issues) */
	bool busy;		/* io: the slot's tag was taken and not answered yet */
	bool held;		/* engine: done, waiting for the gate's release */
	uint32_t npages;	/* pages reserved for the payload; 0 once the engine took them */
	struct wb_page **pages; /* slot_size / 4096 entries */
	uint32_t *crcs;		/* slot_size / 4096 entries */
};

struct wbd_ringfe {
	/* set at open, read-only after */
	struct wbd_ringfe_transport t;
	struct wb_engine *e;
	struct wbd_ioloop *loop; /* NULL: both sides on the caller's thread */
	struct event_base *base; /* the io side's */
	const struct wbrep_ring_hdr *hdr;
	const struct wbrep_sqe *sqes;
	struct wbrep_cq_ctl *cqc;
	struct wbrep_cqe *cqes;
	struct rfe_slot *slots;
	uint32_t mask;
	struct wb_pagebuf *pb; /* the engine's RAM buffer (referenced), or NULL */
	uint32_t pg_max;       /* a payload of more blocks goes with crcs only */
	struct wb_page **pgv;
	uint32_t *crcv;
	struct wbd_ioloop_msg start_msg, stop_msg, gone_msg;

	/* io side */
	struct event *rd_ev, *kick_ev;
	uint32_t sq_head, cq_tail;
	uint32_t refs;
	bool kick_pending, unkicked, gone;
	struct wbd_log_rl io_rl;

	/* engine side */
	bool closing, eng_gone;
	uint32_t inflight, held, pass_sub;
	unsigned close_idle; /* close: engine runs in a row that completed nothing */
	struct rfe_slot *hq_head, **hq_tail;
	void (*owner_kick)(void *ctx);
	void *owner_kick_ctx;
	void (*gone_cb)(struct wbd_ringfe *fe, void *ctx);
	void *gone_ctx;
	struct wbd_ringfe_gate gate;
	struct wbd_log_rl eng_rl;

	/* both sides, relaxed atomics (ST_ADD, wbd_ringfe_get_stats) */
	struct wbd_ringfe_stats st;
};

#define ST_ADD(fe, f, n) __atomic_fetch_add(&(fe)->st.f, (n), __ATOMIC_RELAXED)
#define ST_SET(fe, f, v) __atomic_store_n(&(fe)->st.f, (v), __ATOMIC_RELAXED)
#define ST_GET(fe, f)	 __atomic_load_n(&(fe)->st.f, __ATOMIC_RELAXED)

static uint32_t load_acq(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_rel(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static struct rfe_slot *slot_of(struct wbd_ioloop_msg *m)
{
	return (struct rfe_slot *)((char *)m - offsetof(struct rfe_slot, m));
}

static void post_engine(struct wbd_ringfe *fe, struct wbd_ioloop_msg *m)
{
	if (fe->loop)
		wbd_ioloop_post_engine(fe->loop, m);
	else
		m->fn(m);
}

static void post_io(struct wbd_ringfe *fe, struct wbd_ioloop_msg *m)
{
	if (fe->loop)
		wbd_ioloop_post(fe->loop, m);
	else
		m->fn(m);
}

/* post_io, with one wake-up of the io loop for all the messages posted
 * during an engine run (wbd_ioloop_post_lazy) */
static void post_io_lazy(struct wbd_ringfe *fe, struct wbd_ioloop_msg *m)
{
	if (fe->loop)
		wbd_ioloop_post_lazy(fe->loop, m);
	else
		m->fn(m);
}

/* ---- io side ---------------------------------------------------------- */

static void rfe_free(struct wbd_ringfe *fe);

static void io_put(struct wbd_ringfe *fe)
{
	if (--fe->refs == 0)
		rfe_free(fe);
}

/* io side: the gone message came back (io_put where refs live) */
static void io_unref(struct wbd_ioloop_msg *m)
{
	io_put((struct wbd_ringfe *)((char *)m - offsetof(struct wbd_ringfe, gone_msg)));
}

/* engine side: the session ended (posted once by rfe_gone, holding a
 * reference that goes back to the io side) */
static void eng_gone(struct wbd_ioloop_msg *m)
{
	struct wbd_ringfe *fe =
	    (struct wbd_ringfe *)((char *)m - offsetof(struct wbd_ringfe, gone_msg));

	fe->eng_gone = true;
	if (fe->gone_cb && !fe->closing)
		fe->gone_cb(fe, fe->gone_ctx); /* must not close fe here (defer) */
	m->fn = io_unref;
	post_io(fe, m);
}

static void rfe_gone(struct wbd_ringfe *fe, const char *why)
{
	if (fe->gone)
		return;
	fe->gone = true;
	ST_SET(fe, gone, 1);
	wbd_warn("ring %s: session %u ended: %s", fe->t.geo.name, fe->t.geo.session, why);
	if (fe->rd_ev)
		event_del(fe->rd_ev);
	fe->refs++; /* the gone message's */
	fe->gone_msg.fn = eng_gone;
	post_engine(fe, &fe->gone_msg);
}

/* io side: publish the CQEs written since the last kick */
static int io_flush(struct wbd_ringfe *fe)
{
	int ret;

	fe->kick_pending = false;
	fe->unkicked = false;
	if (fe->gone)
		return -ESHUTDOWN;
	ST_ADD(fe, kicks, 1);
	ret = fe->t.kick(fe->t.ctx);
	if (ret < 0) {
		rfe_gone(fe, "completion ring refused");
		return ret;
	}
	return 0;
}

int wbd_ringfe_flush(struct wbd_ringfe *fe)
{
	return io_flush(fe);
}

static void rfe_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	io_flush(arg);
}

/* Append one CQE; the CQ cannot overflow (one CQE per slot at most). */
static void rfe_complete(struct wbd_ringfe *fe, uint64_t tag, int result)
{
	struct wbrep_cqe *cqe;

	if (fe->cq_tail - load_acq(&fe->hdr->cq_head) >= fe->t.geo.cq_entries) {
		/* the producer has not reaped: it must, before we can go on */
		if (io_flush(fe) < 0 ||
		    fe->cq_tail - load_acq(&fe->hdr->cq_head) >= fe->t.geo.cq_entries) {
			rfe_gone(fe, "completion ring full");
			return;
		}
	}
	cqe = &fe->cqes[fe->cq_tail & fe->mask];
	cqe->tag = tag;
	cqe->result = result;
	cqe->rsvd = 0;
	store_rel(&fe->cqc->cq_tail, ++fe->cq_tail);
	fe->unkicked = true;
	ST_ADD(fe, completed, 1);
	if (result < 0)
		ST_ADD(fe, errors, 1);
	if (!fe->kick_pending && fe->kick_ev) {
		fe->kick_pending = true;
		event_active(fe->kick_ev, EV_TIMEOUT, 0);
	}
}

/* io side: a slot's request came back from the engine side */
static void io_done(struct wbd_ioloop_msg *m)
{
	struct rfe_slot *s = slot_of(m);
	struct wbd_ringfe *fe = s->fe;

	if (s->npages) { /* refused before the engine took them */
		wb_pagebuf_release(fe->pb, s->pages, s->npages);
		s->npages = 0;
	}
	if (!s->drop && !fe->gone)
		rfe_complete(fe, s->tag, s->result);
	s->busy = false;
	io_put(fe);
}

/* ---- engine side ------------------------------------------------------ */

/* Send the slot back to the io side: CQE with result, or none (drop). */
static void eng_finish(struct rfe_slot *s, int result, bool drop)
{
	s->result = result;
	s->drop = drop;
	s->m.fn = io_done;
	post_io_lazy(s->fe, &s->m);
}

static void rfe_release(struct wb_req *r, int err)
{
	struct rfe_slot *s = r->priv;
	struct wbd_ringfe *fe = s->fe;

	if (s->held) {
		s->held = false;
		fe->held--;
	}
	fe->inflight--;
	ST_SET(fe, inflight, fe->inflight);
	eng_finish(s, err, false);
}

static void rfe_done(struct wb_req *r, int err)
{
	struct rfe_slot *s = r->priv;
	struct wbd_ringfe *fe = s->fe;

	/* replication: the completion may have to wait for the peers */
	if (!err && r->op != WB_REQ_READ && fe->gate.hold) {
		s->held = true; /* before: hold may release at once */
		fe->held++;
		if (fe->gate.hold(fe->gate.ctx, r, rfe_release))
			return;
		s->held = false;
		fe->held--;
	} else if (err && r->op == WB_REQ_READ && fe->gate.reread) {
		s->held = true; /* a peer may have the blocks */
		fe->held++;
		if (fe->gate.reread(fe->gate.ctx, r, err, rfe_release))
			return;
		s->held = false;
		fe->held--;
	}
	rfe_release(r, err);
}

static bool rfe_is_write(uint32_t op)
{
	return op == WBREP_OP_WRITE || op == WBREP_OP_DISCARD || op == WBREP_OP_WRITE_ZEROES;
}

/* One slot at the engine side: refused, held (suspended), or submitted.
 * 1 if submitted. */
static int eng_admit(struct wbd_ringfe *fe, struct rfe_slot *s)
{
	int adm, ret;

	if (fe->closing) { /* not taken: the kernel re-issues it to the next session */
		eng_finish(s, 0, true);
		return 0;
	}
	if (rfe_is_write(s->req.op) && fe->gate.writable && !fe->gate.writable(fe->gate.ctx)) {
		/* a secondary (or one being demoted) takes no writes */
		eng_finish(s, -EROFS, false);
		return 0;
	}
	adm = fe->gate.admit ? fe->gate.admit(fe->gate.ctx) : WBD_RINGFE_ADMIT_OPEN;
	if (adm == WBD_RINGFE_ADMIT_HOLD) { /* suspended: wbd_ringfe_process resumes */
		s->hnext = NULL;
		*fe->hq_tail = s;
		fe->hq_tail = &s->hnext;
		return 0;
	}
	if (adm == WBD_RINGFE_ADMIT_FAIL) { /* no quorum, on-no-quorum = io-error */
		eng_finish(s, -EIO, false);
		return 0;
	}
	s->req.done = rfe_done;
	s->req.priv = s;
	fe->inflight++;
	ST_SET(fe, inflight, fe->inflight);
	ST_ADD(fe, submitted, 1);
	ret = wb_engine_submit(fe->e, &s->req);
	if (ret < 0) {
		fe->inflight--;
		ST_SET(fe, inflight, fe->inflight);
		wbd_err_rl(&fe->eng_rl, "ring %s: engine refused op %u off %llu len %u: %s",
			   fe->t.geo.name, s->req.op, (unsigned long long)s->req.off, s->req.len,
			   strerror(-ret));
		eng_finish(s, ret, false);
		return 0;
	}
	if (s->req.pages)
		s->npages = 0; /* the engine owns the page references now */
	fe->pass_sub++;
	return 1;
}

/* engine side: a slot the io side took (posted by io_take) */
static void eng_take(struct wbd_ioloop_msg *m)
{
	struct rfe_slot *s = slot_of(m);
	struct wbd_ringfe *fe = s->fe;

	if (eng_admit(fe, s) && fe->loop && fe->owner_kick)
		fe->owner_kick(fe->owner_kick_ctx); /* batched by the owner */
}

/* engine side: what admission held, once it no longer holds. Submitted. */
static int eng_unhold(struct wbd_ringfe *fe)
{
	int adm = fe->gate.admit ? fe->gate.admit(fe->gate.ctx) : WBD_RINGFE_ADMIT_OPEN;
	int n = 0;

	while (fe->hq_head && adm != WBD_RINGFE_ADMIT_HOLD) {
		struct rfe_slot *s = fe->hq_head;

		fe->hq_head = s->hnext;
		if (!fe->hq_head)
			fe->hq_tail = &fe->hq_head;
		n += eng_admit(fe, s);
	}
	return n;
}

/* ---- io side: taking SQEs --------------------------------------------- */

static void rfe_count(struct wbd_ringfe *fe, const struct wbrep_sqe *sqe)
{
	switch (sqe->op) {
	case WBREP_OP_READ:
		ST_ADD(fe, reads, 1);
		break;
	case WBREP_OP_WRITE:
		ST_ADD(fe, writes, 1);
		break;
	case WBREP_OP_FLUSH:
		ST_ADD(fe, flushes, 1);
		break;
	case WBREP_OP_DISCARD:
		ST_ADD(fe, discards, 1);
		break;
	case WBREP_OP_WRITE_ZEROES:
		ST_ADD(fe, write_zeroes, 1);
		break;
	}
	if (sqe->flags & WBREP_F_FUA)
		ST_ADD(fe, fua, 1);
	if (sqe->flags & WBREP_F_PREFLUSH)
		ST_ADD(fe, preflush, 1);
	if (sqe->flags & WBREP_F_REISSUE)
		ST_ADD(fe, reissued, 1);
}

/* io side: a write's payload, once, here: into RAM-buffer pages with their
 * crcs (engine ABI 9) when the buffer has them free now, else only the
 * crcs (ABI 8; the engine copies when it has pages) */
static void io_payload(struct wbd_ringfe *fe, struct rfe_slot *s)
{
	const uint8_t *src = s->req.buf;
	uint32_t n = s->req.len / WB_BLOCK_SIZE, i;

	if (!fe->pb || s->req.op != WB_REQ_WRITE || !n)
		return;
	if (n <= fe->pg_max && !wb_pagebuf_reserve(fe->pb, n, s->pages)) {
		for (i = 0; i < n; i++) {
			struct wb_page *pg = s->pages[i];

			memcpy(pg->data, src + (size_t)i * WB_BLOCK_SIZE, WB_BLOCK_SIZE);
			pg->crc = wb_crc32c(0, pg->data, WB_BLOCK_SIZE);
			pg->crc_ok = 1;
		}
		s->npages = n;
		s->req.pages = s->pages;
		s->req.buf = NULL;
		ST_ADD(fe, paged, 1);
		return;
	}
	for (i = 0; i < n; i++)
		s->crcs[i] = wb_crc32c(0, src + (size_t)i * WB_BLOCK_SIZE, WB_BLOCK_SIZE);
	s->req.crcs = s->crcs;
}

/* One SQE taken from the ring: parsed, refused (completed at once with
 * EINVAL, or dropped when it cannot be answered) or sent to the engine
 * side. */
static void io_take(struct wbd_ringfe *fe, const struct wbrep_sqe *sqe)
{
	struct wb_req req;
	struct rfe_slot *s;
	int slot, ok;

	slot = wbd_ringfe_parse_sqe(sqe, &fe->t.geo, fe->t.data, &req, &ok);
	if (ok && fe->slots[wbrep_tag_slot(sqe->tag)].busy) {
		slot = -EINVAL;
		ok = 0; /* never complete a tag twice */
	}
	if (slot < 0) {
		ST_ADD(fe, bad_sqes, 1);
		wbd_err_rl(&fe->io_rl, "ring %s: bad SQE seq %llu tag 0x%llx op %u len %u%s",
			   fe->t.geo.name, (unsigned long long)sqe->seq,
			   (unsigned long long)sqe->tag, sqe->op, sqe->len,
			   ok ? ", failed with EINVAL" : ", dropped");
		if (ok)
			rfe_complete(fe, sqe->tag, -EINVAL);
		return;
	}
	s = &fe->slots[slot];
	s->req = req;
	s->tag = sqe->tag;
	s->busy = true;
	s->npages = 0;
	fe->refs++;
	rfe_count(fe, sqe);
	/* a write refused at admission (EROFS, EIO) pays for the copy: rare */
	io_payload(fe, s);
	s->m.fn = eng_take;
	post_engine(fe, &s->m);
}

/* io side: take every visible SQE. The number taken, or -errno. */
static int io_process(struct wbd_ringfe *fe)
{
	uint32_t tail, n, i;

	if (fe->gone)
		return -ESHUTDOWN;
	if (load_acq(&fe->hdr->flags) & WBREP_HDR_F_FENCED) {
		rfe_gone(fe, "fenced by the kernel");
		return -ESHUTDOWN;
	}
	if (fe->t.drain)
		fe->t.drain(fe->t.ctx);
	tail = load_acq(&fe->hdr->sq_tail);
	n = tail - fe->sq_head;
	if (n > fe->t.geo.sq_entries) {
		rfe_gone(fe, "SQ tail out of range");
		return -EPROTO;
	}
	if (fe->loop)
		wbd_ioloop_plug_engine(fe->loop); /* one wake-up for the batch */
	for (i = 0; i < n && !fe->gone; i++) {
		struct wbrep_sqe sqe;

		memcpy(&sqe, &fe->sqes[fe->sq_head & fe->mask], sizeof(sqe));
		fe->sq_head++;
		io_take(fe, &sqe);
	}
	store_rel(&fe->cqc->sq_head, fe->sq_head);
	if (fe->loop)
		wbd_ioloop_unplug_engine(fe->loop);
	return (int)i;
}

static void rfe_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_ringfe *fe = arg;

	if (fe->loop)
		io_process(fe); /* eng_take kicks the owner */
	else
		wbd_ringfe_process(fe); /* kicks the owner once per pass */
}

int wbd_ringfe_process(struct wbd_ringfe *fe)
{
	int ret;

	if (fe->loop) {
		/* engine thread: the io loop consumes the ring by itself;
		 * here only what admission held (keeper_admit) */
		if (fe->eng_gone)
			return -ESHUTDOWN;
		ret = eng_unhold(fe);
		if (ret && fe->owner_kick)
			fe->owner_kick(fe->owner_kick_ctx);
		return ret;
	}
	fe->pass_sub = 0;
	ret = io_process(fe);
	if (ret < 0)
		return ret;
	eng_unhold(fe);
	if (fe->pass_sub && fe->owner_kick)
		fe->owner_kick(fe->owner_kick_ctx);
	return (int)fe->pass_sub;
}

/* io side: create the events on the io loop's base and take what waits */
static int io_events(struct wbd_ringfe *fe)
{
	fe->rd_ev = event_new(fe->base, fe->t.fd, EV_READ | EV_PERSIST, rfe_read_cb, fe);
	fe->kick_ev = event_new(fe->base, -1, 0, rfe_kick_cb, fe);
	if (!fe->rd_ev || !fe->kick_ev || event_add(fe->rd_ev, NULL))
		return -ENOMEM;
	return 0;
}

static void io_start(struct wbd_ioloop_msg *m)
{
	struct wbd_ringfe *fe =
	    (struct wbd_ringfe *)((char *)m - offsetof(struct wbd_ringfe, start_msg));

	if (io_events(fe)) {
		wbd_err("ring %s: cannot register events", fe->t.geo.name);
		rfe_gone(fe, "out of memory");
		return;
	}
	io_process(fe); /* requests re-posted at attach */
}

/* io side: the engine side closed: no more SQEs; the open reference goes */
static void io_stop(struct wbd_ioloop_msg *m)
{
	struct wbd_ringfe *fe =
	    (struct wbd_ringfe *)((char *)m - offsetof(struct wbd_ringfe, stop_msg));

	if (fe->rd_ev)
		event_free(fe->rd_ev);
	fe->rd_ev = NULL;
	io_put(fe);
}

int wbd_ringfe_open(struct event_base *base, const struct wbd_ringfe_transport *t,
		    struct wb_engine *e, struct wbd_ringfe **out)
{
	struct wbd_ringfe *fe;
	uint32_t i, blk;
	int ret;

	ret = wbd_ringfe_check_geo(t);
	if (ret) {
		wbd_err("ring %.*s: bad geometry from the producer", WBREP_NAME_MAX, t->geo.name);
		goto out_release;
	}
	fe = calloc(1, sizeof(*fe));
	if (!fe) {
		ret = -ENOMEM;
		goto out_release;
	}
	fe->t = *t;
	fe->t.geo.name[WBREP_NAME_MAX - 1] = '\0';
	fe->e = e;
	fe->hdr = t->sq;
	fe->sqes = (const struct wbrep_sqe *)((const char *)t->sq + WBREP_SQE_OFF);
	fe->cqc = t->cq;
	fe->cqes = (struct wbrep_cqe *)((char *)t->cq + WBREP_CQE_OFF);
	fe->mask = t->geo.nslots - 1;
	fe->sq_head = load_acq(&fe->cqc->sq_head);
	fe->cq_tail = load_acq(&fe->cqc->cq_tail);
	fe->hq_tail = &fe->hq_head;
	fe->refs = 1;
	blk = t->geo.slot_size / WB_BLOCK_SIZE;
	fe->slots = calloc(t->geo.nslots, sizeof(*fe->slots));
	fe->pgv = calloc((size_t)t->geo.nslots * blk, sizeof(*fe->pgv));
	fe->crcv = calloc((size_t)t->geo.nslots * blk, sizeof(*fe->crcv));
	if (!fe->slots || !fe->pgv || !fe->crcv) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < t->geo.nslots; i++) {
		fe->slots[i].fe = fe;
		fe->slots[i].pages = fe->pgv + (size_t)i * blk;
		fe->slots[i].crcs = fe->crcv + (size_t)i * blk;
	}
	/* payloads into the engine's RAM buffer, a request at most 1/8 of it
	 * (the rest stays for others); the reference keeps the buffer valid
	 * for pages the io side holds */
	fe->pb = e ? wb_engine_pagebuf(e) : NULL;
	if (fe->pb) {
		fe->pg_max = wb_pagebuf_total(fe->pb) / 8;
		wb_pagebuf_ref(fe->pb);
	}
	fe->loop = base ? wbd_ioloop_pick() : NULL;
	if (fe->loop) {
		fe->base = wbd_ioloop_base(fe->loop);
		fe->start_msg.fn = io_start;
		*out = fe;
		post_io(fe, &fe->start_msg);
		return 0;
	}
	fe->base = base;
	if (base && io_events(fe)) {
		wbd_err("ring %s: cannot register events", fe->t.geo.name);
		ret = -ENOMEM;
		goto out_free;
	}
	*out = fe;
	return 0;

out_free:
	fe->refs = 0;
	fe->t.release = NULL; /* released below */
	rfe_free(fe);
out_release:
	if (t->release)
		t->release(t->ctx);
	return ret;
}

/* The end of a frontend (io side, refs 0): no request of it is in flight. */
static void rfe_free(struct wbd_ringfe *fe)
{
	if (!fe->gone && (fe->kick_pending || fe->unkicked)) {
		/* the producer reaps the last CQEs; a refusal changes nothing
		 * now (not io_flush: its rfe_gone would take a reference) */
		ST_ADD(fe, kicks, 1);
		fe->t.kick(fe->t.ctx);
	}
	if (fe->rd_ev)
		event_free(fe->rd_ev);
	if (fe->kick_ev)
		event_free(fe->kick_ev);
	if (fe->t.release)
		fe->t.release(fe->t.ctx); /* unmaps the slots: nobody reads them now */
	if (fe->pb)
		wb_pagebuf_unref(fe->pb);
	free(fe->slots);
	free(fe->pgv);
	free(fe->crcv);
	free(fe);
}

/*
 * Requests in flight point at fe->slots (their wb_req) and at the shared
 * data slots (their buffers, mapped by the transport): neither may go
 * while the engine holds one. Close lets the engine finish them; what is
 * still in flight after that keeps fe (its slot references): the last
 * completion frees it on the io side.
 */
/* Engine runs in a row that completed nothing before close leaves the rest
 * to the last completion (orphan): an engine may hold requests for long. */
#define RFE_CLOSE_IDLE_RUNS 100000u

/* Close waits for what the engine finishes; a request the owner holds (the
 * peers have not confirmed it) cannot finish by running the engine. */
static int rfe_settled(void *arg)
{
	struct wbd_ringfe *fe = arg;

	return fe->inflight == fe->held || fe->close_idle >= RFE_CLOSE_IDLE_RUNS;
}

static int rfe_run_engine(void *arg)
{
	struct wbd_ringfe *fe = arg;
	uint32_t before = fe->inflight;

	wb_engine_run(fe->e, 1);
	fe->close_idle = fe->inflight == before ? fe->close_idle + 1 : 0;
	return 0; /* the frontend outlives what does not finish (orphan) */
}

void wbd_ringfe_close(struct wbd_ringfe *fe)
{
	if (!fe)
		return;
	fe->closing = true;
	wbd_info("ring %s: session %u closing: %llu requests, %llu writes (%llu copied into "
		 "RAM-buffer pages by %s)",
		 fe->t.geo.name, fe->t.geo.session, (unsigned long long)ST_GET(fe, submitted),
		 (unsigned long long)ST_GET(fe, writes), (unsigned long long)ST_GET(fe, paged),
		 fe->loop ? "an io loop" : "the engine loop's frontend");
	while (fe->hq_head) { /* held by admission: not taken, re-issued */
		struct rfe_slot *s = fe->hq_head;

		fe->hq_head = s->hnext;
		eng_finish(s, 0, true);
	}
	fe->hq_tail = &fe->hq_head;
	wb_drain(rfe_settled, rfe_run_engine, fe, WB_DRAIN_CLOSE_MS, fe->t.geo.name,
		 "ring close: requests in the engine");
	if (fe->inflight)
		wbd_warn("ring %s: %u requests still in the engine at close; the frontend is "
			 "freed when they complete",
			 fe->t.geo.name, fe->inflight);
	/* last: the io side may free fe as soon as it runs this */
	fe->stop_msg.fn = io_stop;
	post_io(fe, &fe->stop_msg);
}

void wbd_ringfe_set_gate(struct wbd_ringfe *fe, const struct wbd_ringfe_gate *gate)
{
	fe->gate = gate ? *gate : (struct wbd_ringfe_gate){0};
}

void wbd_ringfe_set_kick(struct wbd_ringfe *fe, void (*kick)(void *ctx), void *ctx)
{
	fe->owner_kick = kick;
	fe->owner_kick_ctx = ctx;
}

void wbd_ringfe_set_gone(struct wbd_ringfe *fe, void (*gone)(struct wbd_ringfe *fe, void *ctx),
			 void *ctx)
{
	fe->gone_cb = gone;
	fe->gone_ctx = ctx;
}

void wbd_ringfe_get_stats(const struct wbd_ringfe *fe, struct wbd_ringfe_stats *st)
{
	struct wbd_ringfe *f = (struct wbd_ringfe *)fe;

	st->submitted = ST_GET(f, submitted);
	st->completed = ST_GET(f, completed);
	st->errors = ST_GET(f, errors);
	st->bad_sqes = ST_GET(f, bad_sqes);
	st->reissued = ST_GET(f, reissued);
	st->kicks = ST_GET(f, kicks);
	st->reads = ST_GET(f, reads);
	st->writes = ST_GET(f, writes);
	st->flushes = ST_GET(f, flushes);
	st->discards = ST_GET(f, discards);
	st->write_zeroes = ST_GET(f, write_zeroes);
	st->fua = ST_GET(f, fua);
	st->preflush = ST_GET(f, preflush);
	st->paged = ST_GET(f, paged);
	st->inflight = ST_GET(f, inflight);
	st->gone = ST_GET(f, gone);
}

const struct wbrep_attach *wbd_ringfe_geo(const struct wbd_ringfe *fe)
{
	return &fe->t.geo;
}
