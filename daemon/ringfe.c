// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringfe.c - the ring frontend: SQ consumer, engine submitter, CQ producer.
 * See ringfe.h for the model and ownership, docs/ring-abi.md for the ABI.
 *
 * Owns struct wb_ringfe: one struct rfe_slot per data slot (the engine
 * request of the SQE that currently owns that slot), the local SQ head and
 * CQ tail, the libevent events (fd readable, deferred kick) and the
 * transport. Indices are loaded with acquire and stored with release
 * (__atomic builtins), matching smp_load_acquire/smp_store_release in the
 * kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event2/event.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "daemon/ringfe.h"
#include "wbrep_genl.h"

struct rfe_slot {
	struct wb_req req;
	struct wb_ringfe *fe;
	uint64_t tag;
	bool busy;
};

struct wb_ringfe {
	struct wb_ringfe_transport t;
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
	bool orphan; /* closed with requests in flight: the last rfe_done frees */
	void (*owner_kick)(void *ctx);
	void *owner_kick_ctx;
	void (*gone_cb)(struct wb_ringfe *fe, void *ctx);
	void *gone_ctx;
	struct wb_ringfe_gate gate;
	struct wb_ringfe_stats st;
};

static uint32_t load_acq(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_rel(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

int wb_ringfe_parse_sqe(const struct wbrep_sqe *sqe, const struct wbrep_attach *geo, void *data,
			struct wb_req *r, int *slot_ok)
{
	uint32_t slot = wbrep_tag_slot(sqe->tag);
	uint64_t dev_bytes = geo->dev_sectors << 9, off;
	uint32_t len = sqe->len;

	*slot_ok = slot < geo->nslots;
	if (!*slot_ok)
		return -EINVAL;
	if (sqe->data_off != (uint64_t)slot * geo->slot_size)
		return -EINVAL;
	if (sqe->flags & ~(WBREP_F_FUA | WBREP_F_PREFLUSH | WBREP_F_REISSUE))
		return -EINVAL;
	if (sqe->sector > (UINT64_MAX >> 9) || (sqe->sector & 7))
		return -EINVAL;
	off = sqe->sector << 9;
	switch (sqe->op) {
	case WBREP_OP_FLUSH:
		if (len)
			return -EINVAL;
		break;
	case WBREP_OP_READ:
	case WBREP_OP_WRITE:
		if (len > geo->slot_size)
			return -EINVAL;
		/* fallthrough */
	case WBREP_OP_DISCARD:
	case WBREP_OP_WRITE_ZEROES:
		if (!len || (len & (WB_BLOCK_SIZE - 1)) || off > dev_bytes || len > dev_bytes - off)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	r->op = sqe->op; /* WBREP_OP_* == WB_REQ_* (see docs/ring-abi.md) */
	r->flags = (sqe->flags & WBREP_F_FUA ? WB_REQ_F_FUA : 0) |
		   (sqe->flags & WBREP_F_PREFLUSH ? WB_REQ_F_PREFLUSH : 0);
	r->len = len;
	r->off = sqe->op == WBREP_OP_FLUSH ? 0 : off;
	r->buf = (char *)data + (size_t)slot * geo->slot_size;
	return (int)slot;
}

static void rfe_gone(struct wb_ringfe *fe, const char *why)
{
	if (fe->gone)
		return;
	fe->gone = true;
	fe->st.gone = 1;
	wb_msg(WB_LOG_WARN, "ring %s: session %u ended: %s", fe->t.geo.name, fe->t.geo.session,
	       why);
	if (fe->rd_ev)
		event_del(fe->rd_ev);
	if (fe->gone_cb && !fe->closing)
		fe->gone_cb(fe, fe->gone_ctx);
}

int wb_ringfe_flush(struct wb_ringfe *fe)
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
	wb_ringfe_flush(arg);
}

/* Append one CQE; the CQ cannot overflow (one CQE per slot at most). */
static void rfe_complete(struct wb_ringfe *fe, uint64_t tag, int result)
{
	struct wbrep_cqe *cqe;

	if (fe->cq_tail - load_acq(&fe->hdr->cq_head) >= fe->t.geo.cq_entries) {
		/* the producer has not reaped: it must, before we can go on */
		if (wb_ringfe_flush(fe) < 0 ||
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

static void rfe_free(struct wb_ringfe *fe);

static void rfe_release(struct wb_req *r, int err)
{
	struct rfe_slot *s = r->priv;
	struct wb_ringfe *fe = s->fe;

	s->busy = false;
	fe->st.inflight--;
	if (!fe->gone)
		rfe_complete(fe, s->tag, err);
	if (fe->orphan && !fe->st.inflight)
		rfe_free(fe); /* wb_ringfe_close left it to us */
}

static void rfe_done(struct wb_req *r, int err)
{
	struct rfe_slot *s = r->priv;
	struct wb_ringfe *fe = s->fe;

	/* replication: the completion may have to wait for the peers */
	if (!err && r->op != WB_REQ_READ && fe->gate.hold &&
	    fe->gate.hold(fe->gate.ctx, r, rfe_release))
		return;
	rfe_release(r, err);
}

static bool rfe_is_write(uint32_t op)
{
	return op == WBREP_OP_WRITE || op == WBREP_OP_DISCARD || op == WBREP_OP_WRITE_ZEROES;
}

static void rfe_count(struct wb_ringfe_stats *st, const struct wbrep_sqe *sqe)
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

int wb_ringfe_process(struct wb_ringfe *fe)
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
	adm = fe->gate.admit ? fe->gate.admit(fe->gate.ctx) : WB_RINGFE_ADMIT_OPEN;
	if (adm == WB_RINGFE_ADMIT_HOLD)
		return 0; /* suspended: SQEs wait in the ring (keeper_admit resumes) */
	tail = load_acq(&fe->hdr->sq_tail);
	n = tail - fe->sq_head;
	if (n > fe->t.geo.sq_entries) {
		rfe_gone(fe, "SQ tail out of range");
		return -EPROTO;
	}
	for (i = 0; i < n && !fe->gone; i++) {
		struct wbrep_sqe sqe;
		struct wb_req req;
		struct rfe_slot *s;
		int slot, ok, ret;

		memcpy(&sqe, &fe->sqes[fe->sq_head & fe->mask], sizeof(sqe));
		fe->sq_head++;
		slot = wb_ringfe_parse_sqe(&sqe, &fe->t.geo, fe->t.data, &req, &ok);
		if (ok && fe->slots[wbrep_tag_slot(sqe.tag)].busy) {
			slot = -EINVAL;
			ok = 0; /* never complete a tag twice */
		}
		if (slot < 0) {
			fe->st.bad_sqes++;
			wb_msg(WB_LOG_ERR, "ring %s: bad SQE seq %llu tag 0x%llx op %u len %u%s",
			       fe->t.geo.name, (unsigned long long)sqe.seq,
			       (unsigned long long)sqe.tag, sqe.op, sqe.len,
			       ok ? ", failed with EINVAL" : ", dropped");
			if (ok)
				rfe_complete(fe, sqe.tag, -EINVAL);
			continue;
		}
		if (rfe_is_write(sqe.op) && fe->gate.writable && !fe->gate.writable(fe->gate.ctx)) {
			/* a secondary (or one being demoted) takes no writes */
			rfe_count(&fe->st, &sqe);
			rfe_complete(fe, sqe.tag, -EROFS);
			continue;
		}
		if (adm == WB_RINGFE_ADMIT_FAIL) { /* no quorum, on-no-quorum = io-error */
			rfe_count(&fe->st, &sqe);
			rfe_complete(fe, sqe.tag, -EIO);
			continue;
		}
		s = &fe->slots[slot];
		s->req = req;
		s->req.done = rfe_done;
		s->req.priv = s;
		s->tag = sqe.tag;
		s->busy = true;
		if (sqe.flags & WBREP_F_REISSUE)
			fe->st.reissued++;
		rfe_count(&fe->st, &sqe);
		fe->st.inflight++;
		fe->st.submitted++;
		ret = wb_engine_submit(fe->e, &s->req);
		if (ret < 0) {
			s->busy = false;
			fe->st.inflight--;
			wb_msg(WB_LOG_ERR, "ring %s: engine refused op %u off %llu len %u: %s",
			       fe->t.geo.name, req.op, (unsigned long long)req.off, req.len,
			       strerror(-ret));
			rfe_complete(fe, sqe.tag, ret);
			continue;
		}
		submitted++;
	}
	store_rel(&fe->cqc->sq_head, fe->sq_head);
	if (submitted && fe->owner_kick)
		fe->owner_kick(fe->owner_kick_ctx);
	return submitted;
}

static void rfe_read_cb(evutil_socket_t fd, short what, void *arg)
{
	wb_ringfe_process(arg);
}

static int rfe_check_geo(const struct wb_ringfe_transport *t)
{
	const struct wbrep_attach *g = &t->geo;
	const struct wbrep_ring_hdr *h = t->sq;

	if (!g->nslots || g->nslots > WBREP_MAX_SLOTS || (g->nslots & (g->nslots - 1)) ||
	    g->sq_entries != g->nslots || g->cq_entries != g->nslots ||
	    g->slot_size < WBREP_MIN_SLOT_SIZE || g->slot_size > WBREP_MAX_SLOT_SIZE ||
	    g->slot_size % WB_BLOCK_SIZE || g->sq_map_size < WBREP_SQ_MAP_SIZE(g->nslots) ||
	    g->cq_map_size < WBREP_CQ_MAP_SIZE(g->nslots) ||
	    g->data_map_size < WBREP_DATA_MAP_SIZE(g->nslots, g->slot_size))
		return -EPROTO;
	if (h->magic != WBREP_RING_MAGIC || h->version != WBREP_RING_VERSION ||
	    h->nslots != g->nslots || h->slot_size != g->slot_size)
		return -EPROTO;
	return 0;
}

int wb_ringfe_open(struct event_base *base, const struct wb_ringfe_transport *t,
		   struct wb_engine *e, struct wb_ringfe **out)
{
	struct wb_ringfe *fe;
	uint32_t i;
	int ret;

	ret = rfe_check_geo(t);
	if (ret) {
		wb_msg(WB_LOG_ERR, "ring %.*s: bad geometry from the producer", WBREP_NAME_MAX,
		       t->geo.name);
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
			wb_msg(WB_LOG_ERR, "ring %s: cannot register events", fe->t.geo.name);
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
static void rfe_free(struct wb_ringfe *fe)
{
	if (!fe->gone && (fe->kick_pending || fe->orphan))
		wb_ringfe_flush(fe); /* the producer reaps the last CQEs */
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
void wb_ringfe_close(struct wb_ringfe *fe)
{
	int rounds = 0;

	if (!fe)
		return;
	fe->closing = true;
	while (fe->st.inflight && rounds++ < 100000)
		wb_engine_run(fe->e, 1);
	if (fe->rd_ev)
		event_free(fe->rd_ev);
	if (fe->kick_ev)
		event_free(fe->kick_ev);
	fe->rd_ev = fe->kick_ev = NULL;
	if (fe->st.inflight) {
		wb_msg(WB_LOG_WARN,
		       "ring %s: %u requests still in the engine at close; the frontend is "
		       "freed when they complete",
		       fe->t.geo.name, fe->st.inflight);
		fe->orphan = true;
		return;
	}
	rfe_free(fe);
}

void wb_ringfe_set_gate(struct wb_ringfe *fe, const struct wb_ringfe_gate *gate)
{
	fe->gate = gate ? *gate : (struct wb_ringfe_gate){0};
}

void wb_ringfe_set_kick(struct wb_ringfe *fe, void (*kick)(void *ctx), void *ctx)
{
	fe->owner_kick = kick;
	fe->owner_kick_ctx = ctx;
}

void wb_ringfe_set_gone(struct wb_ringfe *fe, void (*gone)(struct wb_ringfe *fe, void *ctx),
			void *ctx)
{
	fe->gone_cb = gone;
	fe->gone_ctx = ctx;
}

void wb_ringfe_get_stats(const struct wb_ringfe *fe, struct wb_ringfe_stats *st)
{
	*st = fe->st;
}

/* ---- kernel transport: /dev/wbrep-ctl ---- */

struct rfe_kern {
	int fd;
	void *sq, *cq, *data;
	size_t sq_len, cq_len, data_len;
};

static int rfe_kern_kick(void *ctx)
{
	struct rfe_kern *k = ctx;

	return ioctl(k->fd, WBREP_IOC_KICK) < 0 ? -errno : 0;
}

static void rfe_kern_release(void *ctx)
{
	struct rfe_kern *k = ctx;

	if (k->sq)
		munmap(k->sq, k->sq_len);
	if (k->cq)
		munmap(k->cq, k->cq_len);
	if (k->data)
		munmap(k->data, k->data_len);
	close(k->fd);
	free(k);
}

static void *rfe_map(int fd, size_t len, int prot, uint64_t off)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED | MAP_POPULATE, fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

/* verbose: log a failure to open the device or attach (the keeper logs
 * those itself, once per reason) */
static int rfe_attach(struct event_base *base, const char *ring_name, struct wb_engine *e,
		      struct wb_ringfe **out, int verbose)
{
	struct wb_ringfe_transport t = {0};
	struct rfe_kern *k;
	int ret;

	if (strlen(ring_name) >= WBREP_NAME_MAX) {
		wb_msg(WB_LOG_ERR, "ring %s: name too long", ring_name);
		return -ENAMETOOLONG;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = open(WBREP_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		ret = -errno;
		if (verbose)
			wb_msg(WB_LOG_ERR, "ring %s: open %s: %s", ring_name, WBREP_CTL_DEVICE,
			       strerror(-ret));
		free(k);
		return ret;
	}
	t.geo.version = WBREP_RING_VERSION;
	strcpy(t.geo.name, ring_name);
	if (ioctl(k->fd, WBREP_IOC_ATTACH, &t.geo) < 0) {
		ret = -errno;
		if (verbose)
			wb_msg(WB_LOG_ERR, "ring %s: attach: %s", ring_name, strerror(-ret));
		goto out_release;
	}
	k->sq_len = t.geo.sq_map_size;
	k->cq_len = t.geo.cq_map_size;
	k->data_len = t.geo.data_map_size;
	k->sq = rfe_map(k->fd, k->sq_len, PROT_READ, WBREP_MMAP_SQ);
	k->cq = rfe_map(k->fd, k->cq_len, PROT_READ | PROT_WRITE, WBREP_MMAP_CQ);
	k->data = rfe_map(k->fd, k->data_len, PROT_READ | PROT_WRITE, WBREP_MMAP_DATA);
	if (!k->sq || !k->cq || !k->data) {
		ret = -errno;
		wb_msg(WB_LOG_ERR, "ring %s: mmap: %s", ring_name, strerror(-ret));
		goto out_release;
	}
	t.sq = k->sq;
	t.cq = k->cq;
	t.data = k->data;
	t.fd = k->fd;
	t.kick = rfe_kern_kick;
	t.release = rfe_kern_release;
	t.ctx = k;
	wb_msg(WB_LOG_INFO, "ring %s: session %u attached, %u slots of %u bytes, %u re-issued",
	       ring_name, t.geo.session, t.geo.nslots, t.geo.slot_size, t.geo.reissued);
	return wb_ringfe_open(base, &t, e, out);

out_release:
	rfe_kern_release(k);
	return ret;
}

int wb_ringfe_attach(struct event_base *base, const char *ring_name, struct wb_engine *e,
		     struct wb_ringfe **out)
{
	return rfe_attach(base, ring_name, e, out, 1);
}

/* ---- minimal engine owner ---- */

struct wb_ringfe_engdrv {
	struct wb_engine *e;
	struct event *fd_ev, *tmo_ev, *kick_ev;
	bool kicked;
};

static void drv_run(struct wb_ringfe_engdrv *d)
{
	int ms;

	d->kicked = false;
	wb_engine_run(d->e, 0);
	ms = wb_engine_timeout_ms(d->e);
	if (ms >= 0) {
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

		evtimer_add(d->tmo_ev, &tv);
	}
}

static void drv_cb(evutil_socket_t fd, short what, void *arg)
{
	drv_run(arg);
}

void wb_ringfe_engine_kick(void *arg)
{
	struct wb_ringfe_engdrv *d = arg;

	if (!d->kicked) {
		d->kicked = true;
		event_active(d->kick_ev, EV_TIMEOUT, 0);
	}
}

int wb_ringfe_engine_driver(struct event_base *base, struct wb_engine *e,
			    struct wb_ringfe_engdrv **out)
{
	struct wb_ringfe_engdrv *d = calloc(1, sizeof(*d));
	int fd = wb_engine_fd(e);

	if (!d)
		return -ENOMEM;
	d->e = e;
	d->tmo_ev = evtimer_new(base, drv_cb, d);
	d->kick_ev = event_new(base, -1, 0, drv_cb, d);
	if (fd >= 0)
		d->fd_ev = event_new(base, fd, EV_READ | EV_PERSIST, drv_cb, d);
	if (!d->tmo_ev || !d->kick_ev || (fd >= 0 && (!d->fd_ev || event_add(d->fd_ev, NULL)))) {
		wb_ringfe_engine_driver_free(d);
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

void wb_ringfe_engine_driver_free(struct wb_ringfe_engdrv *d)
{
	if (!d)
		return;
	if (d->fd_ev)
		event_free(d->fd_ev);
	if (d->tmo_ev)
		event_free(d->tmo_ev);
	if (d->kick_ev)
		event_free(d->kick_ev);
	free(d);
}

/* ---- generic netlink "wbrep": status and events (libnl-genl) ---- */

static struct nla_policy rfe_genl_policy[WBREP_A_MAX + 1] = {
    [WBREP_A_RING_NAME] = {.type = NLA_STRING, .maxlen = WBREP_NAME_MAX},
    [WBREP_A_SESSION] = {.type = NLA_U32},
    [WBREP_A_EVENT] = {.type = NLA_U32},
    [WBREP_A_DEV_SECTORS] = {.type = NLA_U64},
    [WBREP_A_NSLOTS] = {.type = NLA_U32},
    [WBREP_A_SLOT_SIZE] = {.type = NLA_U32},
    [WBREP_A_INFLIGHT] = {.type = NLA_U32},
    [WBREP_A_PENDING] = {.type = NLA_U32},
    [WBREP_A_COMPLETED] = {.type = NLA_U64},
    [WBREP_A_FENCES] = {.type = NLA_U32},
    [WBREP_A_TIMEOUTS] = {.type = NLA_U64},
    [WBREP_A_REISSUED] = {.type = NLA_U64},
    [WBREP_A_QUEUE_TIMEOUT_MS] = {.type = NLA_U32},
};

static uint32_t rfe_u32(struct nlattr **a, int i)
{
	return a[i] ? nla_get_u32(a[i]) : 0;
}

static uint64_t rfe_u64(struct nlattr **a, int i)
{
	return a[i] ? nla_get_u64(a[i]) : 0;
}

static int rfe_genl_parse(struct nl_msg *msg, struct nlattr **a)
{
	return genlmsg_parse(nlmsg_hdr(msg), 0, a, WBREP_A_MAX, rfe_genl_policy);
}

/* A connected generic netlink socket and the family id; -ENOENT when the
 * module (hence the family) is not loaded. */
static int rfe_genl_open(struct nl_sock **out, int *family)
{
	struct nl_sock *sk = nl_socket_alloc();
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = genl_connect(sk);
	if (ret < 0) {
		wb_msg(WB_LOG_ERR, "generic netlink: connect: %s", nl_geterror(ret));
		nl_socket_free(sk);
		return -EIO;
	}
	*family = genl_ctrl_resolve(sk, WBREP_GENL_NAME);
	if (*family < 0) {
		nl_socket_free(sk);
		return -ENOENT;
	}
	*out = sk;
	return 0;
}

static int rfe_status_cb(struct nl_msg *msg, void *arg)
{
	struct wb_ringfe_kstatus *st = arg;
	struct nlattr *a[WBREP_A_MAX + 1];

	if (rfe_genl_parse(msg, a) < 0 || !a[WBREP_A_RING_NAME])
		return NL_SKIP;
	st->session = rfe_u32(a, WBREP_A_SESSION);
	st->nslots = rfe_u32(a, WBREP_A_NSLOTS);
	st->slot_size = rfe_u32(a, WBREP_A_SLOT_SIZE);
	st->inflight = rfe_u32(a, WBREP_A_INFLIGHT);
	st->pending = rfe_u32(a, WBREP_A_PENDING);
	st->fences = rfe_u32(a, WBREP_A_FENCES);
	st->queue_timeout_ms = rfe_u32(a, WBREP_A_QUEUE_TIMEOUT_MS);
	st->dev_sectors = rfe_u64(a, WBREP_A_DEV_SECTORS);
	st->completed = rfe_u64(a, WBREP_A_COMPLETED);
	st->timeouts = rfe_u64(a, WBREP_A_TIMEOUTS);
	st->reissued = rfe_u64(a, WBREP_A_REISSUED);
	st->found = 1;
	return NL_OK;
}

int wb_ringfe_kstatus(const char *ring, struct wb_ringfe_kstatus *st)
{
	struct nl_sock *sk;
	struct nl_msg *msg;
	int family, ret;

	memset(st, 0, sizeof(*st));
	if (strlen(ring) >= WBREP_NAME_MAX)
		return -ENAMETOOLONG;
	ret = rfe_genl_open(&sk, &family);
	if (ret)
		return ret;
	msg = nlmsg_alloc();
	if (!msg) {
		ret = -ENOMEM;
		goto out_sock;
	}
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, WBREP_CMD_STATUS,
			 WBREP_GENL_VERSION) ||
	    nla_put_string(msg, WBREP_A_RING_NAME, ring) < 0) {
		nlmsg_free(msg);
		ret = -ENOMEM;
		goto out_sock;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, rfe_status_cb, st);
	ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret >= 0)
		ret = nl_recvmsgs_default(sk);
	if (ret < 0) {
		/* the kernel answers -ENOENT for an unknown ring */
		ret = ret == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
		goto out_sock;
	}
	ret = st->found ? 0 : -ENOENT;
out_sock:
	nl_socket_free(sk);
	return ret;
}

/* ---- keeper: wbrepd's ring frontend of one resource ---- */

struct wb_ringfe_keeper {
	struct wb_ringfe_keeper *next; /* rfe_keepers */
	const void *owner;
	struct event_base *base;
	struct wb_engine *e;
	struct wb_ringfe *fe;
	struct event *retry_ev;
	void (*kick)(void *ctx);
	void *kick_ctx;
	struct wb_ringfe_gate gate;
	char ring[WBREP_NAME_MAX];
	struct nl_sock *ev_sk; /* "events" multicast, NULL: timer only */
	struct event *ev_nl;
	int last_err; /* last attach error logged, to log changes once */
	uint64_t attaches;
};

/* wbrepd is single-threaded: the list needs no lock. */
static struct wb_ringfe_keeper *rfe_keepers;

static void keeper_retry(struct wb_ringfe_keeper *k, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(k->retry_ev, &tv);
}

static int keeper_event_cb(struct nl_msg *msg, void *arg)
{
	struct wb_ringfe_keeper *k = arg;
	struct nlattr *a[WBREP_A_MAX + 1];

	if (rfe_genl_parse(msg, a) < 0 || !a[WBREP_A_RING_NAME] || !a[WBREP_A_EVENT])
		return NL_SKIP;
	if (strcmp(nla_get_string(a[WBREP_A_RING_NAME]), k->ring))
		return NL_OK;
	if (nla_get_u32(a[WBREP_A_EVENT]) == WBREP_EV_RING_ADDED && !k->fe) {
		wb_msg(WB_LOG_INFO, "ring %s: target created (netlink event), attaching", k->ring);
		keeper_retry(k, 0);
	}
	return NL_OK;
}

static void keeper_nl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wb_ringfe_keeper *k = arg;
	int ret = nl_recvmsgs_default(k->ev_sk);

	if (ret < 0 && ret != -NLE_AGAIN)
		wb_msg(WB_LOG_DEBUG, "ring %s: netlink events: %s", k->ring, nl_geterror(ret));
}

static void keeper_events_close(struct wb_ringfe_keeper *k)
{
	if (k->ev_nl)
		event_free(k->ev_nl);
	if (k->ev_sk)
		nl_socket_free(k->ev_sk);
	k->ev_nl = NULL;
	k->ev_sk = NULL;
}

/* Subscribe to the module's "events" group so a target created later is
 * attached at once; without it (module not loaded yet) the retry timer
 * does the job and the next retry tries to subscribe again. */
static void keeper_events_open(struct wb_ringfe_keeper *k)
{
	int family, grp, ret;

	if (k->ev_sk || rfe_genl_open(&k->ev_sk, &family))
		return;
	grp = genl_ctrl_resolve_grp(k->ev_sk, WBREP_GENL_NAME, WBREP_GENL_MCGRP_EVENTS);
	nl_socket_disable_seq_check(k->ev_sk);
	nl_socket_modify_cb(k->ev_sk, NL_CB_VALID, NL_CB_CUSTOM, keeper_event_cb, k);
	ret = grp < 0 ? grp : nl_socket_add_membership(k->ev_sk, grp);
	if (ret >= 0)
		ret = nl_socket_set_nonblocking(k->ev_sk);
	if (ret >= 0) {
		k->ev_nl = event_new(k->base, nl_socket_get_fd(k->ev_sk), EV_READ | EV_PERSIST,
				     keeper_nl_cb, k);
		if (!k->ev_nl || event_add(k->ev_nl, NULL))
			ret = -NLE_NOMEM;
	}
	if (ret < 0) {
		wb_msg(WB_LOG_WARN, "ring %s: cannot subscribe to wbrep netlink events: %s",
		       k->ring, nl_geterror(ret));
		keeper_events_close(k);
	}
}

static void keeper_gone(struct wb_ringfe *fe, void *ctx)
{
	/* close + attach again outside ringfe's callback */
	keeper_retry(ctx, 0);
}

static void keeper_attach_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wb_ringfe_keeper *k = arg;
	uint64_t eng_size;
	struct wb_engine_stats st;
	int ret;

	if (k->fe) {
		wb_ringfe_close(k->fe);
		k->fe = NULL;
	}
	keeper_events_open(k);
	ret = rfe_attach(k->base, k->ring, k->e, &k->fe, 0);
	if (ret) {
		/* no target yet (-ENOENT), no module (-ENOENT on the device),
		 * another daemon (-EBUSY): keep trying, log each new reason once */
		if (ret != k->last_err)
			wb_msg(WB_LOG_WARN, "ring %s: cannot attach (%s), retrying every second",
			       k->ring, strerror(-ret));
		k->last_err = ret;
		keeper_retry(k, 1000);
		return;
	}
	k->last_err = 0;
	k->attaches++;
	wb_ringfe_set_kick(k->fe, k->kick, k->kick_ctx);
	wb_ringfe_set_gone(k->fe, keeper_gone, k);
	wb_ringfe_set_gate(k->fe, &k->gate);
	eng_size = wb_engine_stats(k->e, &st) ? 0 : st.size;
	if (eng_size && k->fe->t.geo.dev_sectors * 512 > eng_size)
		wb_msg(WB_LOG_WARN,
		       "ring %s: the dm target (%llu bytes) is larger than the resource (%llu "
		       "bytes); I/O beyond the end fails",
		       k->ring, (unsigned long long)k->fe->t.geo.dev_sectors * 512,
		       (unsigned long long)eng_size);
	wb_ringfe_process(k->fe); /* requests re-posted at attach */
}

int wb_ringfe_keeper_start(struct event_base *base, const char *ring, struct wb_engine *e,
			   void (*kick)(void *ctx), void *kick_ctx, const void *owner,
			   const struct wb_ringfe_gate *gate)
{
	struct wb_ringfe_keeper *k;

	if (strlen(ring) >= WBREP_NAME_MAX) {
		wb_msg(WB_LOG_ERR, "ring %s: name too long", ring);
		return -ENAMETOOLONG;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->retry_ev = evtimer_new(base, keeper_attach_cb, k);
	if (!k->retry_ev) {
		free(k);
		return -ENOMEM;
	}
	k->owner = owner;
	k->base = base;
	k->e = e;
	k->kick = kick;
	k->kick_ctx = kick_ctx;
	if (gate)
		k->gate = *gate;
	strcpy(k->ring, ring);
	k->next = rfe_keepers;
	rfe_keepers = k;
	keeper_attach_cb(-1, 0, k);
	return 0;
}

void wb_ringfe_keeper_admit(const void *owner)
{
	for (struct wb_ringfe_keeper *k = rfe_keepers; k; k = k->next)
		if (k->owner == owner && k->fe)
			wb_ringfe_process(k->fe); /* what waited in the ring */
}

void wb_ringfe_keeper_stop(const void *owner)
{
	struct wb_ringfe_keeper **pp = &rfe_keepers, *k;

	while ((k = *pp)) {
		if (k->owner != owner) {
			pp = &k->next;
			continue;
		}
		*pp = k->next;
		event_free(k->retry_ev);
		keeper_events_close(k);
		/* drains what the engine holds, publishes those completions and
		 * detaches; SQEs not taken yet stay with the kernel (REISSUE) */
		wb_ringfe_close(k->fe);
		free(k);
	}
}
