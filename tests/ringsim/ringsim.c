// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringsim.c - userspace model of the kernel side of the dm-wbrep ring.
 * See ringsim.h for the model, threads and ownership.
 *
 * Owns struct ringsim (slot table, free stack, pending list, current
 * session) and struct rs_session (one memfd holding header + SQ, CQ and
 * data slots; a read-write "kernel" mapping of it; the daemon-side mappings
 * handed out in the transport; an eventfd standing in for poll()). The
 * posting, reaping, validation and fencing code follows kmod/wbrep_ring.c
 * line for line, so what ringfe survives here it survives against the
 * module: every value the daemon can write is loaded once, validated, and
 * indices are masked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "tests/ringsim/ringsim.h"

struct rs_slot {
	struct ringsim_io *io; /* NULL: free */
	uint32_t gen;
};

struct rs_session {
	struct ringsim *rs; /* NULL once the ring is destroyed */
	int refs;	    /* ring + transport; atomic */
	int gone;	    /* cut: fenced, detached, ring removed */
	int memfd, efd;
	uint32_t id, sq_tail, cq_head; /* "kernel" copies of the indices */
	size_t sq_size, cq_size, data_size;
	char *kmem; /* kernel view of the whole memfd */
	struct wbrep_ring_hdr *hdr;
	struct wbrep_sqe *sqes;
	struct wbrep_cq_ctl *cqc;
	struct wbrep_cqe *cqes;
	char *data;
	void *u_sq, *u_cq, *u_data; /* daemon view */
};

struct ringsim {
	pthread_mutex_t lock;
	uint32_t nslots, slot_size;
	uint64_t dev_sectors, seq;
	struct rs_slot *slots;
	uint32_t *free_stack, nfree;
	struct ringsim_io *pend_head, *pend_tail;
	struct rs_session *session;
	uint32_t next_session;
	struct ringsim_stats st;
	char fence_reason[96];
};

static uint32_t load_acq(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_rel(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void rs_session_put(struct rs_session *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (s->kmem)
		munmap(s->kmem, s->sq_size + s->cq_size + s->data_size);
	if (s->memfd >= 0)
		close(s->memfd);
	if (s->efd >= 0)
		close(s->efd);
	free(s);
}

static void rs_wake(struct rs_session *s)
{
	uint64_t one = 1;

	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* counter cannot overflow here; poll sees it anyway */
	}
}

static void pend_push_tail(struct ringsim *rs, struct ringsim_io *io)
{
	io->next = NULL;
	if (rs->pend_tail)
		rs->pend_tail->next = io;
	else
		rs->pend_head = io;
	rs->pend_tail = io;
	rs->st.pending++;
}

static struct ringsim_io *pend_pop(struct ringsim *rs)
{
	struct ringsim_io *io = rs->pend_head;

	if (io) {
		rs->pend_head = io->next;
		if (!rs->pend_head)
			rs->pend_tail = NULL;
		rs->st.pending--;
	}
	return io;
}

static void end_list(struct ringsim_io *done)
{
	while (done) {
		struct ringsim_io *next = done->next;

		done->next = NULL;
		done->done = 1;
		if (done->end)
			done->end(done);
		done = next;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Post one request into a free slot of session s (caller checked nfree). */
static void rs_post_locked(struct ringsim *rs, struct rs_session *s, struct ringsim_io *io,
			   void (*mangle)(struct wbrep_sqe *sqe, void *arg), void *arg)
{
	uint32_t idx = rs->free_stack[--rs->nfree];
	struct rs_slot *slot = &rs->slots[idx];
	struct wbrep_sqe *sqe = &s->sqes[s->sq_tail & (rs->nslots - 1)];
	uint16_t flags = io->flags & (WBREP_F_FUA | WBREP_F_PREFLUSH);

	slot->io = io;
	slot->gen++;
	if (io->posts) {
		flags |= WBREP_F_REISSUE;
		rs->st.reissued++;
	}
	if (io->op == WBREP_OP_WRITE)
		memcpy(s->data + (size_t)idx * rs->slot_size, io->buf, io->len);
	memset(sqe, 0, sizeof(*sqe));
	sqe->tag = wbrep_tag(idx, slot->gen);
	sqe->seq = ++rs->seq;
	sqe->sector = io->sector;
	sqe->len = io->op == WBREP_OP_FLUSH ? 0 : io->len;
	sqe->op = io->op;
	sqe->flags = flags;
	sqe->timestamp_ns = now_ns();
	sqe->data_off = (uint64_t)idx * rs->slot_size;
	io->tag = sqe->tag;
	if (mangle)
		mangle(sqe, arg);
	s->sq_tail++;
	/* SQE and slot data are visible before the new tail. */
	store_rel(&s->hdr->sq_tail, s->sq_tail);
	io->posts++;
	rs->st.inflight++;
	rs->st.posted++;
}

static void rs_dispatch_locked(struct ringsim *rs)
{
	struct rs_session *s = rs->session;
	bool posted = false;

	if (!s)
		return;
	while (rs->nfree && rs->pend_head) {
		rs_post_locked(rs, s, pend_pop(rs), NULL, NULL);
		posted = true;
	}
	if (posted)
		rs_wake(s);
}

/* Every posted request back to the head of pending, in slot order. */
static void rs_unpost_all_locked(struct ringsim *rs)
{
	struct ringsim_io *head = NULL, *tail = NULL;
	uint32_t i, n = 0;

	for (i = 0; i < rs->nslots; i++) {
		struct ringsim_io *io = rs->slots[i].io;

		if (!io)
			continue;
		rs->slots[i].io = NULL;
		rs->free_stack[rs->nfree++] = i;
		io->next = NULL;
		if (tail)
			tail->next = io;
		else
			head = io;
		tail = io;
		n++;
	}
	if (!head)
		return;
	tail->next = rs->pend_head;
	rs->pend_head = head;
	if (!rs->pend_tail)
		rs->pend_tail = tail;
	rs->st.pending += n;
	rs->st.inflight = 0;
}

static void rs_cut_locked(struct ringsim *rs, struct rs_session *s)
{
	if (s->gone)
		return;
	__atomic_store_n(&s->gone, 1, __ATOMIC_RELEASE);
	__atomic_or_fetch(&s->hdr->flags, WBREP_HDR_F_FENCED, __ATOMIC_RELEASE);
	rs_wake(s);
	if (rs->session == s) {
		rs->session = NULL;
		rs_unpost_all_locked(rs);
		s->rs = NULL;
		rs_session_put(s); /* the ring's reference */
	}
}

static void rs_fence_locked(struct ringsim *rs, struct rs_session *s, const char *why, uint64_t v1,
			    uint64_t v2)
{
	snprintf(rs->fence_reason, sizeof(rs->fence_reason), "%s (0x%llx 0x%llx)", why,
		 (unsigned long long)v1, (unsigned long long)v2);
	rs->st.fences++;
	rs_cut_locked(rs, s);
}

int ringsim_create(const struct ringsim_params *p, struct ringsim **out)
{
	struct ringsim *rs;
	uint32_t i;

	if (!p->nslots || p->nslots > WBREP_MAX_SLOTS || (p->nslots & (p->nslots - 1)) ||
	    p->slot_size < WBREP_MIN_SLOT_SIZE || p->slot_size > WBREP_MAX_SLOT_SIZE ||
	    p->slot_size % 4096 || !p->dev_sectors) {
		fprintf(stderr, "ringsim: bad geometry %u slots of %u bytes\n", p->nslots,
			p->slot_size);
		return -EINVAL;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->slots = calloc(p->nslots, sizeof(*rs->slots));
	rs->free_stack = calloc(p->nslots, sizeof(*rs->free_stack));
	if (!rs->slots || !rs->free_stack) {
		free(rs->slots);
		free(rs->free_stack);
		free(rs);
		return -ENOMEM;
	}
	pthread_mutex_init(&rs->lock, NULL);
	rs->nslots = p->nslots;
	rs->slot_size = p->slot_size;
	rs->dev_sectors = p->dev_sectors;
	for (i = 0; i < p->nslots; i++)
		rs->free_stack[i] = p->nslots - 1 - i;
	rs->nfree = p->nslots;
	*out = rs;
	return 0;
}

void ringsim_destroy(struct ringsim *rs)
{
	struct ringsim_io *done = NULL, *io;

	if (!rs)
		return;
	pthread_mutex_lock(&rs->lock);
	if (rs->session)
		rs_cut_locked(rs, rs->session);
	rs_unpost_all_locked(rs);
	while ((io = pend_pop(rs))) {
		io->result = -EIO;
		io->next = done;
		done = io;
	}
	pthread_mutex_unlock(&rs->lock);
	end_list(done);
	pthread_mutex_destroy(&rs->lock);
	free(rs->slots);
	free(rs->free_stack);
	free(rs);
}

/* ---- transport callbacks (daemon side) ---- */

static int rs_reap_session(struct ringsim *rs, struct rs_session *s);

static int rs_kick(void *ctx)
{
	struct rs_session *s = ctx;
	struct ringsim *rs;

	if (__atomic_load_n(&s->gone, __ATOMIC_ACQUIRE))
		return -ESHUTDOWN;
	rs = s->rs;
	return rs ? rs_reap_session(rs, s) : -ESHUTDOWN;
}

static void rs_drain(void *ctx)
{
	struct rs_session *s = ctx;
	uint64_t v;

	if (read(s->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled */
	}
}

static void rs_release(void *ctx)
{
	struct rs_session *s = ctx;

	if (s->u_sq)
		munmap(s->u_sq, s->sq_size);
	if (s->u_cq)
		munmap(s->u_cq, s->cq_size);
	if (s->u_data)
		munmap(s->u_data, s->data_size);
	s->u_sq = s->u_cq = s->u_data = NULL;
	/* closing the file detaches (wbrep_dev_release) */
	if (!__atomic_load_n(&s->gone, __ATOMIC_ACQUIRE) && s->rs) {
		struct ringsim *rs = s->rs;

		pthread_mutex_lock(&rs->lock);
		rs_cut_locked(rs, s);
		pthread_mutex_unlock(&rs->lock);
	}
	rs_session_put(s);
}

static void *rs_map(int fd, size_t len, int prot, off_t off)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

static int rs_session_new(struct ringsim *rs, struct rs_session **out)
{
	struct rs_session *s = calloc(1, sizeof(*s));
	size_t total;
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->memfd = -1;
	s->efd = -1;
	s->refs = 1;
	s->sq_size = WBREP_SQ_MAP_SIZE(rs->nslots);
	s->cq_size = WBREP_CQ_MAP_SIZE(rs->nslots);
	s->data_size = WBREP_DATA_MAP_SIZE(rs->nslots, rs->slot_size);
	total = s->sq_size + s->cq_size + s->data_size;
	s->memfd = memfd_create("ringsim", MFD_CLOEXEC);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->memfd < 0 || s->efd < 0 || ftruncate(s->memfd, (off_t)total)) {
		ret = -errno;
		fprintf(stderr, "ringsim: session memory: %s\n", strerror(-ret));
		goto out_put;
	}
	s->kmem = rs_map(s->memfd, total, PROT_READ | PROT_WRITE, 0);
	s->u_sq = rs_map(s->memfd, s->sq_size, PROT_READ, 0);
	s->u_cq = rs_map(s->memfd, s->cq_size, PROT_READ | PROT_WRITE, (off_t)s->sq_size);
	s->u_data = rs_map(s->memfd, s->data_size, PROT_READ | PROT_WRITE,
			   (off_t)(s->sq_size + s->cq_size));
	if (!s->kmem || !s->u_sq || !s->u_cq || !s->u_data) {
		ret = -errno;
		fprintf(stderr, "ringsim: mmap: %s\n", strerror(-ret));
		rs_release(s); /* unmaps the daemon side, drops the last ref */
		return ret;
	}
	s->hdr = (struct wbrep_ring_hdr *)s->kmem;
	s->sqes = (struct wbrep_sqe *)(s->kmem + WBREP_SQE_OFF);
	s->cqc = (struct wbrep_cq_ctl *)(s->kmem + s->sq_size);
	s->cqes = (struct wbrep_cqe *)(s->kmem + s->sq_size + WBREP_CQE_OFF);
	s->data = s->kmem + s->sq_size + s->cq_size;
	*out = s;
	return 0;

out_put:
	rs_session_put(s);
	return ret;
}

int ringsim_attach(struct ringsim *rs, struct wbd_ringfe_transport *t)
{
	struct rs_session *s = NULL;
	int ret;

	ret = rs_session_new(rs, &s);
	if (ret)
		return ret;
	pthread_mutex_lock(&rs->lock);
	if (rs->session) {
		pthread_mutex_unlock(&rs->lock);
		s->gone = 1;
		rs_release(s);
		return -EBUSY;
	}
	s->id = ++rs->next_session;
	s->rs = rs;
	s->refs = 2; /* ring + transport */
	s->hdr->magic = WBREP_RING_MAGIC;
	s->hdr->version = WBREP_RING_VERSION;
	s->hdr->nslots = rs->nslots;
	s->hdr->slot_size = rs->slot_size;
	s->hdr->sq_entries = rs->nslots;
	s->hdr->cq_entries = rs->nslots;
	s->hdr->session = s->id;
	s->hdr->dev_sectors = rs->dev_sectors;
	memset(t, 0, sizeof(*t));
	t->geo.version = WBREP_RING_VERSION;
	snprintf(t->geo.name, sizeof(t->geo.name), "ringsim");
	t->geo.nslots = rs->nslots;
	t->geo.slot_size = rs->slot_size;
	t->geo.sq_entries = rs->nslots;
	t->geo.cq_entries = rs->nslots;
	t->geo.sq_map_size = s->sq_size;
	t->geo.cq_map_size = s->cq_size;
	t->geo.data_map_size = s->data_size;
	t->geo.dev_sectors = rs->dev_sectors;
	t->geo.session = s->id;
	t->geo.reissued = rs->st.inflight; /* always 0: cut sessions unposted all */
	for (struct ringsim_io *io = rs->pend_head; io; io = io->next)
		t->geo.reissued += io->posts ? 1 : 0;
	rs->session = s;
	rs_dispatch_locked(rs);
	pthread_mutex_unlock(&rs->lock);
	t->sq = s->u_sq;
	t->cq = s->u_cq;
	t->data = s->u_data;
	t->fd = s->efd;
	t->kick = rs_kick;
	t->drain = rs_drain;
	t->release = rs_release;
	t->ctx = s;
	return 0;
}

void ringsim_detach(struct ringsim *rs)
{
	pthread_mutex_lock(&rs->lock);
	if (rs->session)
		rs_cut_locked(rs, rs->session);
	pthread_mutex_unlock(&rs->lock);
}

void ringsim_queue(struct ringsim *rs, struct ringsim_io *io)
{
	io->done = 0;
	io->result = 0;
	if ((io->op == WBREP_OP_READ || io->op == WBREP_OP_WRITE) && io->len > rs->slot_size) {
		/* the target caps I/O to the slot size; a bigger bio is killed */
		io->result = -EIO;
		io->next = NULL;
		end_list(io);
		return;
	}
	pthread_mutex_lock(&rs->lock);
	pend_push_tail(rs, io);
	rs_dispatch_locked(rs);
	pthread_mutex_unlock(&rs->lock);
}

void ringsim_queue_many(struct ringsim *rs, struct ringsim_io **ios, unsigned int n)
{
	unsigned int i;

	pthread_mutex_lock(&rs->lock);
	for (i = 0; i < n; i++) {
		ios[i]->done = 0;
		ios[i]->result = 0;
		pend_push_tail(rs, ios[i]);
	}
	rs_dispatch_locked(rs);
	pthread_mutex_unlock(&rs->lock);
}

int ringsim_queue_mangled(struct ringsim *rs, struct ringsim_io *io,
			  void (*mangle)(struct wbrep_sqe *sqe, void *arg), void *arg)
{
	int ret = 0;

	io->done = 0;
	io->result = 0;
	pthread_mutex_lock(&rs->lock);
	if (!rs->session || !rs->nfree) {
		ret = -EBUSY;
	} else {
		rs_post_locked(rs, rs->session, io, mangle, arg);
		rs_wake(rs->session);
	}
	pthread_mutex_unlock(&rs->lock);
	return ret;
}

int ringsim_bump_sq_tail(struct ringsim *rs, uint32_t delta)
{
	struct rs_session *s;
	int ret = 0;

	pthread_mutex_lock(&rs->lock);
	s = rs->session;
	if (!s) {
		ret = -ENOTCONN;
	} else {
		s->sq_tail += delta;
		store_rel(&s->hdr->sq_tail, s->sq_tail);
		rs_wake(s);
	}
	pthread_mutex_unlock(&rs->lock);
	return ret;
}

/* Reap the CQ of s under rs->lock; mirrors wbrep_ring_reap(). Completed
 * requests are chained on *done, to be ended after the lock is dropped. */
static int rs_reap_locked(struct ringsim *rs, struct rs_session *s, struct ringsim_io **done)
{
	uint32_t mask = rs->nslots - 1, tail, n, i;
	struct ringsim_io **dtail = done;
	int ret = 0;

	if (!s || rs->session != s || s->gone)
		return -ESHUTDOWN;
	tail = load_acq(&s->cqc->cq_tail);
	n = tail - s->cq_head;
	if (n > rs->nslots) {
		rs_fence_locked(rs, s, "CQ tail out of range", tail, s->cq_head);
		return -ESHUTDOWN;
	}
	for (i = 0; i < n; i++) {
		const volatile struct wbrep_cqe *cqe = &s->cqes[s->cq_head & mask];
		uint64_t tag = cqe->tag;
		int32_t res = cqe->result;
		uint32_t rsvd = cqe->rsvd;
		uint32_t idx = wbrep_tag_slot(tag);
		struct rs_slot *slot;
		struct ringsim_io *io;

		if (idx >= rs->nslots) {
			rs_fence_locked(rs, s, "tag with bad slot", tag, 0);
			return -ESHUTDOWN;
		}
		slot = &rs->slots[idx];
		io = slot->io;
		if (!io || slot->gen != wbrep_tag_gen(tag)) {
			rs_fence_locked(rs, s, "unknown or stale tag", tag, io ? slot->gen : 0);
			return -ESHUTDOWN;
		}
		if (rsvd || res > 0 || res < -4095) {
			rs_fence_locked(rs, s, "malformed CQE", tag, (uint32_t)res);
			return -ESHUTDOWN;
		}
		if (res == 0 && io->op == WBREP_OP_READ)
			memcpy(io->buf, s->data + (size_t)idx * rs->slot_size, io->len);
		io->result = res;
		slot->io = NULL;
		rs->free_stack[rs->nfree++] = idx;
		rs->st.inflight--;
		rs->st.completed++;
		io->next = NULL;
		*dtail = io;
		dtail = &io->next;
		s->cq_head++;
		ret++;
	}
	store_rel(&s->hdr->cq_head, s->cq_head);
	rs_dispatch_locked(rs);
	return ret;
}

static int rs_reap_session(struct ringsim *rs, struct rs_session *s)
{
	struct ringsim_io *done = NULL;
	int ret;

	pthread_mutex_lock(&rs->lock);
	ret = rs_reap_locked(rs, s, &done);
	pthread_mutex_unlock(&rs->lock);
	end_list(done); /* completions before a bad entry stand */
	return ret;
}

int ringsim_reap(struct ringsim *rs)
{
	struct ringsim_io *done = NULL;
	int ret;

	pthread_mutex_lock(&rs->lock);
	ret = rs_reap_locked(rs, rs->session, &done);
	pthread_mutex_unlock(&rs->lock);
	end_list(done);
	return ret;
}

void ringsim_get_stats(struct ringsim *rs, struct ringsim_stats *st)
{
	pthread_mutex_lock(&rs->lock);
	*st = rs->st;
	st->session = rs->session ? rs->session->id : 0;
	pthread_mutex_unlock(&rs->lock);
}

const char *ringsim_fence_reason(struct ringsim *rs)
{
	return rs->fence_reason;
}

void *ringsim_cq_region(struct ringsim *rs)
{
	void *p;

	pthread_mutex_lock(&rs->lock);
	p = rs->session ? rs->session->u_cq : NULL;
	pthread_mutex_unlock(&rs->lock);
	return p;
}
