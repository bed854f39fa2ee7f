// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringfe.c - the ring frontend: SQ consumer, engine submitter, CQ producer.
 * See ringfe.h for the model and ownership, docs/ring-abi.md for the ABI.
 * The SQE parser is ringfe_sqe.c, the kernel transport ringfe_kern.c,
 * wbrepd's per-resource attach loop ringfe_keeper.c.
 *
 * Owns struct wbd_ringfe: one struct rfe_slot per data slot (the engine
 * request of the SQE that currently owns that slot), the local SQ head and
 * CQ tail, the libevent events (fd readable, deferred kick) and the
 * transport. Indices are loaded with acquire and stored with release
 * (__atomic builtins), matching smp_load_acquire/smp_store_release in the
 * kernel.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/ringfe.h"
#include "daemon/wbd_log.h"

struct rfe_slot {
	struct wb_req req;
	struct wbd_ringfe *fe;
	uint64_t tag;
	bool busy;
	bool held; /* done in the engine, waiting for the owner's release */
};

struct wbd_ringfe {
	struct wbd_ringfe_transport t;
	struct wb_engine *e;
	struct event_base *base;
	struct event *rd_ev, *kick_ev;
	const struct wbrep_ring_hdr *hdr;
	const struct wbrep_sqe *sqes;
	struct wbrep_cq_ctl *cqc;
	struct wbrep_cqe *cqes;
	struct rfe_slot *slots;
	uint32_t mask;
	uint32_t sq_head, cq_tail;
	bool kick_pending, gone, closing;
	bool orphan;	     /* closed with requests in flight: the last rfe_done frees */
	uint32_t held;	     /* of st.inflight: waiting for the gate's release */
	unsigned close_idle; /* close: engine runs in a row that completed nothing */
	void (*owner_kick)(void *ctx);
	void *owner_kick_ctx;
	void (*gone_cb)(struct wbd_ringfe *fe, void *ctx);
	void *gone_ctx;
	struct wbd_ringfe_gate gate;
	struct wbd_ringfe_stats st;
	struct wbd_log_rl req_rl; /* per-request errors */
};

static uint32_t load_acq(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_rel(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void rfe_gone(struct wbd_ringfe *fe, const char *why)
{
	if (fe->gone)
		return;
	fe->gone = true;
	fe->st.gone = 1;
	wbd_warn("ring %s: session %u ended: %s", fe->t.geo.name, fe->t.geo.session, why);
	if (fe->rd_ev)
		event_del(fe->rd_ev);
	if (fe->gone_cb && !fe->closing)
		fe->gone_cb(fe, fe->gone_ctx);
}

int wbd_ringfe_flush(struct wbd_ringfe *fe)
{
	int ret;

	fe->kick_pending = false;
	if (fe->gone)
		return -ESHUTDOWN;
	fe->st.kicks++;
	ret = fe->t.kick(fe->t.ctx);
	if (ret < 0) {
		rfe_gone(fe, "completion ring refused");
		return ret;
	}
	return 0;
}

static void rfe_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	wbd_ringfe_flush(arg);
}

/* Append one CQE; the CQ cannot overflow (one CQE per slot at most). */
static void rfe_complete(struct wbd_ringfe *fe, uint64_t tag, int result)
{
	struct wbrep_cqe *cqe;

	if (fe->cq_tail - load_acq(&fe->hdr->cq_head) >= fe->t.geo.cq_entries) {
		/* the producer has not reaped: it must, before we can go on */
		if (wbd_ringfe_flush(fe) < 0 ||
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
	fe->st.completed++;
	if (result < 0)
		fe->st.errors++;
	if (!fe->kick_pending && fe->kick_ev) {
		fe->kick_pending = true;
		event_active(fe->kick_ev, EV_TIMEOUT, 0);
	}
}

static void rfe_free(struct wbd_ringfe *fe);

static void rfe_release(struct wb_req *r, int err)
{
	struct rfe_slot *s = r->priv;
	struct wbd_ringfe *fe = s->fe;

	s->busy = false;
	if (s->held) {
		s->held = false;
		fe->held--;
	}
	fe->st.inflight--;
	if (!fe->gone)
		rfe_complete(fe, s->tag, err);
	if (fe->orphan && !fe->st.inflight)
		rfe_free(fe); /* wbd_ringfe_close left it to us */
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
	}
	rfe_release(r, err);
}

static bool rfe_is_write(uint32_t op)
{
	return op == WBREP_OP_WRITE || op == WBREP_OP_DISCARD || op == WBREP_OP_WRITE_ZEROES;
}

static void rfe_count(struct wbd_ringfe_stats *st, const struct wbrep_sqe *sqe)
{
	switch (sqe->op) {
	case WBREP_OP_READ:
		st->reads++;
		break;
	case WBREP_OP_WRITE:
		st->writes++;
		break;
	case WBREP_OP_FLUSH:
		st->flushes++;
		break;
	case WBREP_OP_DISCARD:
		st->discards++;
		break;
	case WBREP_OP_WRITE_ZEROES:
		st->write_zeroes++;
		break;
	}
	if (sqe->flags & WBREP_F_FUA)
		st->fua++;
	if (sqe->flags & WBREP_F_PREFLUSH)
		st->preflush++;
}

/* One SQE taken from the ring: parsed, refused (completed at once with an
 * error, or dropped when it cannot be answered) or submitted to the
 * engine. adm: the admission gate's verdict for this pass. 1 if
 * submitted. */
static int rfe_take(struct wbd_ringfe *fe, const struct wbrep_sqe *sqe, int adm)
{
	struct wb_req req;
	struct rfe_slot *s;
	int slot, ok, ret;

	slot = wbd_ringfe_parse_sqe(sqe, &fe->t.geo, fe->t.data, &req, &ok);
	if (ok && fe->slots[wbrep_tag_slot(sqe->tag)].busy) {
		slot = -EINVAL;
		ok = 0; /* never complete a tag twice */
	}
	if (slot < 0) {
		fe->st.bad_sqes++;
		wbd_err_rl(&fe->req_rl, "ring %s: bad SQE seq %llu tag 0x%llx op %u len %u%s",
			   fe->t.geo.name, (unsigned long long)sqe->seq,
			   (unsigned long long)sqe->tag, sqe->op, sqe->len,
			   ok ? ", failed with EINVAL" : ", dropped");
		if (ok)
			rfe_complete(fe, sqe->tag, -EINVAL);
		return 0;
	}
	if (rfe_is_write(sqe->op) && fe->gate.writable && !fe->gate.writable(fe->gate.ctx)) {
		/* a secondary (or one being demoted) takes no writes */
		rfe_count(&fe->st, sqe);
		rfe_complete(fe, sqe->tag, -EROFS);
		return 0;
	}
	if (adm == WBD_RINGFE_ADMIT_FAIL) { /* no quorum, on-no-quorum = io-error */
		rfe_count(&fe->st, sqe);
		rfe_complete(fe, sqe->tag, -EIO);
		return 0;
	}
	s = &fe->slots[slot];
	s->req = req;
	s->req.done = rfe_done;
	s->req.priv = s;
	s->tag = sqe->tag;
	s->busy = true;
	if (sqe->flags & WBREP_F_REISSUE)
		fe->st.reissued++;
	rfe_count(&fe->st, sqe);
	fe->st.inflight++;
	fe->st.submitted++;
	ret = wb_engine_submit(fe->e, &s->req);
	if (ret < 0) {
		s->busy = false;
		fe->st.inflight--;
		wbd_err_rl(&fe->req_rl, "ring %s: engine refused op %u off %llu len %u: %s",
			   fe->t.geo.name, req.op, (unsigned long long)req.off, req.len,
			   strerror(-ret));
		rfe_complete(fe, sqe->tag, ret);
		return 0;
	}
	return 1;
}

int wbd_ringfe_process(struct wbd_ringfe *fe)
{
	uint32_t tail, n, i;
	int submitted = 0, adm;

	if (fe->gone)
		return -ESHUTDOWN;
	if (load_acq(&fe->hdr->flags) & WBREP_HDR_F_FENCED) {
		rfe_gone(fe, "fenced by the kernel");
		return -ESHUTDOWN;
	}
	if (fe->t.drain)
		fe->t.drain(fe->t.ctx);
	adm = fe->gate.admit ? fe->gate.admit(fe->gate.ctx) : WBD_RINGFE_ADMIT_OPEN;
	if (adm == WBD_RINGFE_ADMIT_HOLD)
		return 0; /* suspended: SQEs wait in the ring (keeper_admit resumes) */
	tail = load_acq(&fe->hdr->sq_tail);
	n = tail - fe->sq_head;
	if (n > fe->t.geo.sq_entries) {
		rfe_gone(fe, "SQ tail out of range");
		return -EPROTO;
	}
	for (i = 0; i < n && !fe->gone; i++) {
		struct wbrep_sqe sqe;

		memcpy(&sqe, &fe->sqes[fe->sq_head & fe->mask], sizeof(sqe));
		fe->sq_head++;
		submitted += rfe_take(fe, &sqe, adm);
	}
	store_rel(&fe->cqc->sq_head, fe->sq_head);
	if (submitted && fe->owner_kick)
		fe->owner_kick(fe->owner_kick_ctx);
	return submitted;
}

static void rfe_read_cb(evutil_socket_t fd, short what, void *arg)
{
	wbd_ringfe_process(arg);
}

int wbd_ringfe_open(struct event_base *base, const struct wbd_ringfe_transport *t,
		    struct wb_engine *e, struct wbd_ringfe **out)
{
	struct wbd_ringfe *fe;
	uint32_t i;
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
	fe->base = base;
	fe->hdr = t->sq;
	fe->sqes = (const struct wbrep_sqe *)((const char *)t->sq + WBREP_SQE_OFF);
	fe->cqc = t->cq;
	fe->cqes = (struct wbrep_cqe *)((char *)t->cq + WBREP_CQE_OFF);
	fe->mask = t->geo.nslots - 1;
	fe->sq_head = load_acq(&fe->cqc->sq_head);
	fe->cq_tail = load_acq(&fe->cqc->cq_tail);
	fe->slots = calloc(t->geo.nslots, sizeof(*fe->slots));
	if (!fe->slots) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < t->geo.nslots; i++)
		fe->slots[i].fe = fe;
	if (base) {
		fe->rd_ev = event_new(base, t->fd, EV_READ | EV_PERSIST, rfe_read_cb, fe);
		fe->kick_ev = event_new(base, -1, 0, rfe_kick_cb, fe);
		if (!fe->rd_ev || !fe->kick_ev || event_add(fe->rd_ev, NULL)) {
			wbd_err("ring %s: cannot register events", fe->t.geo.name);
			ret = -ENOMEM;
			goto out_free;
		}
	}
	*out = fe;
	return 0;

out_free:
	if (fe->rd_ev)
		event_free(fe->rd_ev);
	if (fe->kick_ev)
		event_free(fe->kick_ev);
	free(fe->slots);
	free(fe);
out_release:
	if (t->release)
		t->release(t->ctx);
	return ret;
}

/* The end of a frontend: no request of it is in flight any more. */
static void rfe_free(struct wbd_ringfe *fe)
{
	if (!fe->gone && (fe->kick_pending || fe->orphan))
		wbd_ringfe_flush(fe); /* the producer reaps the last CQEs */
	if (fe->t.release)
		fe->t.release(fe->t.ctx); /* unmaps the slots: nobody reads them now */
	free(fe->slots);
	free(fe);
}

/*
 * Requests in flight point at fe->slots (their wb_req) and at the shared
 * data slots (their buffers, mapped by the transport): neither may go
 * while the engine holds one. Close lets the engine finish them; if some
 * are still in flight after that, fe stays alive (events gone, no new
 * SQEs read) and the last completion frees it (rfe_done).
 */
/* Engine runs in a row that completed nothing before close leaves the rest
 * to the last completion (orphan): an engine may hold requests for long. */
#define RFE_CLOSE_IDLE_RUNS 100000u

/* Close waits for what the engine finishes; a request the owner holds (the
 * peers have not confirmed it) cannot finish by running the engine. */
static int rfe_settled(void *arg)
{
	struct wbd_ringfe *fe = arg;

	return fe->st.inflight == fe->held || fe->close_idle >= RFE_CLOSE_IDLE_RUNS;
}

static int rfe_run_engine(void *arg)
{
	struct wbd_ringfe *fe = arg;
	uint32_t before = fe->st.inflight;

	wb_engine_run(fe->e, 1);
	fe->close_idle = fe->st.inflight == before ? fe->close_idle + 1 : 0;
	return 0; /* the frontend outlives what does not finish (orphan) */
}

void wbd_ringfe_close(struct wbd_ringfe *fe)
{
	if (!fe)
		return;
	fe->closing = true;
	wb_drain(rfe_settled, rfe_run_engine, fe, WB_DRAIN_CLOSE_MS, fe->t.geo.name,
		 "ring close: requests in the engine");
	if (fe->rd_ev)
		event_free(fe->rd_ev);
	if (fe->kick_ev)
		event_free(fe->kick_ev);
	fe->rd_ev = fe->kick_ev = NULL;
	if (fe->st.inflight) {
		wbd_warn("ring %s: %u requests still in the engine at close; the frontend is "
			 "freed when they complete",
			 fe->t.geo.name, fe->st.inflight);
		fe->orphan = true;
		return;
	}
	rfe_free(fe);
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
	*st = fe->st;
}

const struct wbrep_attach *wbd_ringfe_geo(const struct wbd_ringfe *fe)
{
	return &fe->t.geo;
}
