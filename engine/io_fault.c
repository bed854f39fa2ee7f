// SPDX-License-Identifier: GPL-2.0-only
/*
 * io_fault.c - the fault-injection storage backend ("fault").
 *
 * An in-memory device that behaves like a disk with a volatile write cache,
 * for the crash torture test and unit tests:
 *
 *   - two images: `cur` (what reads see: every completed write applied in
 *     completion order) and `dur` (the durable media);
 *   - a list of volatile writes (completed, not yet covered by a flush), in
 *     completion order, each with a copy of its data and a per-512-byte-sector
 *     "live" flag (cleared where a later FUA write already made newer data of
 *     that sector durable, so an old version can never land over it);
 *   - requests are queued at submit and executed + completed only in reap()
 *     (at most cfg.complete_batch per call; in random order with
 *     cfg.reorder), an eventfd is readable while completions are pending;
 *   - a WB_IO_FLUSH records, at submit, the completion counter; when it
 *     completes, every volatile write that completed before the flush was
 *     submitted is applied to `dur` (in completion order) and forgotten;
 *   - a FUA write is applied to `dur` when it completes;
 *   - WB_IO_DISCARD and WB_IO_WRITE_ZEROES are writes of zeroes in this
 *     model (volatile until flushed, or FUA); with cfg.reorder a request is
 *     never completed before an earlier queued request it must be ordered
 *     after (an overlap where either is a zeroing op, io.h);
 *   - wb_io_fault_power_cut(): each volatile write is dropped, torn (each
 *     live sector lands with probability 1/2) or applied, per the cfg
 *     probabilities; with cfg.reorder the writes land in a shuffled order.
 *     Queued requests fail with -EIO, the device is off (every request
 *     completes with -EIO) until wb_io_fault_power_on(), which makes
 *     `cur` = `dur` again;
 *   - wb_io_fault_fail_nth(): the n-th next request of a kind completes with
 *     a given error and has no effect;
 *   - wb_io_fault_bad_range(): reads overlapping a range fail with EIO (a
 *     medium error), as long as it is set;
 *   - wb_io_fault_hold_next(): the next request of a kind does not complete
 *     (later ones do, as behind a slow cache flush) until
 *     wb_io_fault_release();
 *   - file-backed (wb_io_fault_open_file(), the daemon's volatile-cache
 *     emulation): the file is the durable media (`dur` is not kept in
 *     memory: what lands is written to the file), `cur` is loaded from it
 *     at open. The power cut is the death of the process (kill -9): what
 *     had not landed is lost. So the cfg probabilities are drawn when a
 *     write completes instead of at the cut: dropped = stays volatile until
 *     a flush covers it; torn = each sector lands now with probability 1/2
 *     (the rest at the flush); otherwise it lands now (the cache wrote it
 *     back early, out of order: legal). A clean close lands every volatile
 *     write (the power stays on).
 * Every random choice comes from one PRNG seeded with cfg.seed: a run is
 * reproducible from the seed.
 *
 * Errors are always reported through done(), never from submit() (submit
 * returns 0 except -ENOMEM), so an engine has one error path.
 * Owns: both images, the queue, the volatile list; all freed by close.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/io.h"
#include "engine/wbengine.h"

#define FAULT_SECT	512u
#define FAULT_MAX_ARMED 8
#define FAULT_MAX_BAD	4

struct fault_op {
	struct fault_op *next;
	struct wb_io_req *r;
	int err;	  /* preset result (fail_nth, device off), 0 = execute */
	uint64_t barrier; /* flush: completion count at submit */
	bool held;	  /* hold_next: not completed until wb_io_fault_release() */
};

struct fault_vw {
	struct fault_vw *next;
	uint64_t off;
	uint32_t len;
	uint64_t comp; /* completion number */
	uint8_t *data;
	uint8_t *live; /* one byte per sector */
};

struct fault_armed {
	unsigned op, n;
	int err;
};

struct fault_dev {
	struct wb_io io;
	struct wb_fault_cfg cfg;
	uint64_t rng;
	uint8_t *cur, *dur;
	struct fault_op *qhead, *qtail;
	unsigned qlen;
	struct fault_vw *vhead, *vtail;
	uint64_t ncomp;	  /* writes completed so far */
	uint64_t nsubmit; /* requests submitted so far */
	int off;	  /* power is off */
	int efd;
	int fd; /* file-backed: the durable media (dur is NULL), else -1 */
	struct fault_armed armed[FAULT_MAX_ARMED];
	unsigned narmed;
	unsigned hold_op; /* hold_next armed: that kind + 1 (0: none) */
	struct {
		uint64_t off, len;
	} bad[FAULT_MAX_BAD]; /* unreadable ranges (wb_io_fault_bad_range) */
	unsigned nbad;
	uint64_t media; /* in-memory: bytes of cur/dur (wb_io_fault_grow) */
	/* in-memory: one byte per FAULT_CHUNK of cur, set once anything was
	 * written there (dur is only ever written from cur): power on copies
	 * those chunks only, the rest is zeroes in both images */
	uint8_t *touched;
};

#define FAULT_CHUNK	   (64u << 10)
#define FAULT_NCHUNK(size) ((size) / FAULT_CHUNK + 1)

/* The media images are anonymous mappings, not heap: a new or grown
 * device's zeroes cost nothing until written (a 136 MiB grow used to
 * memset and fault in every page), mremap grows without a copy. */
static uint8_t *fault_mem_new(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint8_t *fault_mem_grow(uint8_t *p, uint64_t old, uint64_t size)
{
	void *q = mremap(p, old, size, MREMAP_MAYMOVE);

	return q == MAP_FAILED ? NULL : q;
}

static void fault_mem_free(uint8_t *p, uint64_t size)
{
	if (p)
		munmap(p, size);
}

static struct fault_dev *fault_of(struct wb_io *io)
{
	return (struct fault_dev *)io;
}

static uint64_t fault_rand(struct fault_dev *d)
{
	/* splitmix64 */
	uint64_t z = (d->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void fault_signal(struct fault_dev *d)
{
	uint64_t one = 1;

	if (d->qlen && write(d->efd, &one, sizeof(one)) < 0) {
		/* counter overflow is impossible here; nothing to do */
	}
}

static uint32_t fault_req_len(const struct wb_io_req *r)
{
	uint64_t len = 0;

	if (!r->niov)
		return r->len;
	for (unsigned i = 0; i < r->niov; i++)
		len += r->iov[i].iov_len;
	return len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
}

static int fault_is_zeroing(const struct wb_io_req *r)
{
	return r->op == WB_IO_DISCARD || r->op == WB_IO_WRITE_ZEROES;
}

/* Copy between a request's buffer(s) and `img` at r->off; dir 0 = img->req.
 * A zeroing op "copies" zeroes into img. */
static void fault_copy(const struct wb_io_req *r, uint8_t *img, int to_img)
{
	uint64_t pos = r->off;

	if (fault_is_zeroing(r)) {
		memset(img + pos, 0, r->len);
		return;
	}
	if (!r->niov) {
		if (to_img)
			memcpy(img + pos, r->buf, r->len);
		else
			memcpy(r->buf, img + pos, r->len);
		return;
	}
	for (unsigned i = 0; i < r->niov; i++) {
		if (to_img)
			memcpy(img + pos, r->iov[i].iov_base, r->iov[i].iov_len);
		else
			memcpy(r->iov[i].iov_base, img + pos, r->iov[i].iov_len);
		pos += r->iov[i].iov_len;
	}
}

static void fault_vw_free(struct fault_vw *v)
{
	free(v->data);
	free(v->live);
	free(v);
}

/* Make len bytes at off durable: into dur, or into the file. */
static void fault_dur_put(struct fault_dev *d, uint64_t off, const uint8_t *src, size_t len)
{
	if (d->dur) {
		memcpy(d->dur + off, src, len);
		return;
	}
	while (len) {
		ssize_t n = pwrite(d->fd, src, len, (off_t)off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			wb_msg(WB_LOG_ERR, "%s: writing the durable file at %llu: %s", d->io.name,
			       (unsigned long long)off, n < 0 ? strerror(errno) : "short write");
			return;
		}
		src += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

/* Land the live sectors of a volatile write on the durable image;
 * torn: each live sector with probability 1/2. Runs of sectors are put
 * at once. */
static void fault_vw_land(struct fault_dev *d, struct fault_vw *v, int torn)
{
	uint32_t n = v->len / FAULT_SECT, run = 0;

	for (uint32_t s = 0; s <= n; s++) {
		int land = s < n && v->live[s] && !(torn && (fault_rand(d) & 1));

		if (land) {
			run++;
			continue;
		}
		if (run)
			fault_dur_put(d, v->off + (uint64_t)(s - run) * FAULT_SECT,
				      v->data + (size_t)(s - run) * FAULT_SECT,
				      (size_t)run * FAULT_SECT);
		run = 0;
	}
}

/* A newer durable write covers [off, off+len): older volatile data of those
 * sectors must never land over it. */
static void fault_vw_supersede(struct fault_dev *d, uint64_t off, uint32_t len)
{
	for (struct fault_vw *v = d->vhead; v; v = v->next) {
		uint64_t a = v->off > off ? v->off : off;
		uint64_t b = v->off + v->len < off + len ? v->off + v->len : off + len;

		for (; a < b; a += FAULT_SECT)
			v->live[(a - v->off) / FAULT_SECT] = 0;
	}
}

static int fault_exec_write(struct fault_dev *d, struct wb_io_req *r, uint32_t len)
{
	struct fault_vw *v;

	unsigned p = 0;

	fault_copy(r, d->cur, 1);
	if (d->touched && len)
		memset(d->touched + r->off / FAULT_CHUNK, 1,
		       (r->off + len - 1) / FAULT_CHUNK - r->off / FAULT_CHUNK + 1);
	d->ncomp++;
	if (d->fd >= 0)
		p = (unsigned)(fault_rand(d) % 1000); /* drawn now: the cut is a kill */
	if ((r->flags & WB_IO_FUA) ||
	    (d->fd >= 0 && p >= d->cfg.drop_permille + d->cfg.tear_permille)) {
		fault_vw_supersede(d, r->off, len);
		fault_dur_put(d, r->off, d->cur + r->off, len);
		return len;
	}
	if (d->fd >= 0 && p >= d->cfg.drop_permille) {
		/* torn: some sectors land now, all of them at the next flush */
		for (uint32_t s = 0; s < len / FAULT_SECT; s++) {
			uint64_t o = r->off + (uint64_t)s * FAULT_SECT;

			if (fault_rand(d) & 1)
				continue;
			fault_vw_supersede(d, o, FAULT_SECT);
			fault_dur_put(d, o, d->cur + o, FAULT_SECT);
		}
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->data = malloc(len ? len : 1);
	v->live = malloc(len / FAULT_SECT + 1);
	if (!v->data || !v->live) {
		fault_vw_free(v);
		return -ENOMEM;
	}
	memcpy(v->data, d->cur + r->off, len);
	memset(v->live, 1, len / FAULT_SECT + 1);
	v->off = r->off;
	v->len = len;
	v->comp = d->ncomp;
	if (d->vtail)
		d->vtail->next = v;
	else
		d->vhead = v;
	d->vtail = v;
	return len;
}

static void fault_exec_flush(struct fault_dev *d, uint64_t barrier)
{
	while (d->vhead && d->vhead->comp <= barrier) {
		struct fault_vw *v = d->vhead;

		d->vhead = v->next;
		if (!d->vhead)
			d->vtail = NULL;
		fault_vw_land(d, v, 0);
		fault_vw_free(v);
	}
}

static int fault_exec(struct fault_dev *d, struct fault_op *o)
{
	struct wb_io_req *r = o->r;
	uint32_t len;

	if (o->err)
		return o->err;
	if (d->off)
		return -EIO;
	if (r->op == WB_IO_FLUSH) {
		fault_exec_flush(d, o->barrier);
		return 0;
	}
	len = fault_req_len(r);
	if (r->op < WB_IO_READ || r->op > WB_IO_WRITE_ZEROES || (fault_is_zeroing(r) && r->niov))
		return -EINVAL;
	if ((r->off | len) % FAULT_SECT || r->off > d->io.size || len > d->io.size - r->off)
		return -EINVAL;
	if (r->op == WB_IO_READ) {
		for (unsigned i = 0; i < d->nbad; i++)
			if (r->off < d->bad[i].off + d->bad[i].len && d->bad[i].off < r->off + len)
				return -EIO;
		fault_copy(r, d->cur, 0);
		return len;
	}
	return fault_exec_write(d, r, len);
}

static int fault_submit(struct wb_io *io, struct wb_io_req *r)
{
	struct fault_dev *d = fault_of(io);
	struct fault_op *o = calloc(1, sizeof(*o));

	if (!o) {
		wb_msg(WB_LOG_ERR, "%s: out of memory queueing a request", io->name);
		return -ENOMEM;
	}
	o->r = r;
	o->barrier = d->ncomp;
	if (d->off)
		o->err = -EIO;
	for (unsigned i = 0; i < d->narmed && !o->err; i++) {
		struct fault_armed *a = &d->armed[i];

		if (a->op && a->op != r->op)
			continue;
		if (a->n--)
			continue;
		o->err = a->err;
		d->armed[i] = d->armed[--d->narmed];
	}
	if (d->hold_op && (d->hold_op == 1 || d->hold_op - 1 == r->op)) {
		o->held = true;
		d->hold_op = 0;
	}
	d->nsubmit++;
	if (d->qtail)
		d->qtail->next = o;
	else
		d->qhead = o;
	d->qtail = o;
	d->qlen++;
	io->inflight++;
	fault_signal(d);
	return 0;
}

/* Must b (queued after a) wait for a? (io.h: ordering of zeroing ops) */
static int fault_conflict(const struct wb_io_req *a, const struct wb_io_req *b)
{
	uint32_t la = fault_req_len(a), lb = fault_req_len(b);

	if (!fault_is_zeroing(a) && !fault_is_zeroing(b))
		return 0;
	if (a->op == WB_IO_FLUSH || b->op == WB_IO_FLUSH)
		return 0;
	return a->off < b->off + lb && b->off < a->off + la;
}

/* take o (after prev, NULL: the head) off the queue */
static struct fault_op *fault_unlink(struct fault_dev *d, struct fault_op *prev, struct fault_op *o)
{
	if (prev)
		prev->next = o->next;
	else
		d->qhead = o->next;
	if (d->qtail == o)
		d->qtail = prev;
	d->qlen--;
	o->next = NULL;
	return o;
}

static struct fault_op *fault_pick(struct fault_dev *d)
{
	struct fault_op *o = d->qhead, *prev = NULL;

	if (d->cfg.reorder && d->qlen > 1) {
		uint64_t k = fault_rand(d) % d->qlen;

		while (k--) {
			prev = o;
			o = o->next;
		}
		/* ordered after an earlier queued request: take the head */
		for (struct fault_op *p = d->qhead; p != o; p = p->next) {
			if (fault_conflict(p->r, o->r)) {
				o = d->qhead;
				prev = NULL;
				break;
			}
		}
	}
	return fault_unlink(d, prev, o);
}

/* hold_next, or hold_durable: a flush or FUA write does not complete while
 * the file exists */
static bool fault_held(const struct fault_dev *d, const struct fault_op *o)
{
	const struct wb_io_req *r = o->r;

	if (d->off) /* the power cut fails it */
		return false;
	if (o->held)
		return true;
	return d->cfg.hold_durable &&
	       (r->op == WB_IO_FLUSH || (r->op == WB_IO_WRITE && (r->flags & WB_IO_FUA))) &&
	       !access(d->cfg.hold_durable, F_OK);
}

/* The first queued request that is not held and not ordered after an
 * earlier queued one (fault_conflict), taken off the queue; NULL: none.
 * Requests behind a held flush complete, as on a device whose cache
 * flush is slow: the flush covers at least what completed before it. */
static struct fault_op *fault_take_unheld(struct fault_dev *d)
{
	struct fault_op *o, *prev = NULL;

	for (o = d->qhead; o; prev = o, o = o->next) {
		struct fault_op *p;

		if (fault_held(d, o))
			continue;
		for (p = d->qhead; p != o && !fault_conflict(p->r, o->r); p = p->next)
			;
		if (p == o)
			break;
	}
	return o ? fault_unlink(d, prev, o) : NULL;
}

static int fault_reap(struct wb_io *io, int wait)
{
	struct fault_dev *d = fault_of(io);
	unsigned n = d->qlen, done = 0;
	uint64_t cnt;

	(void)wait; /* everything queued can complete right now */
	if (read(d->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing signalled; we look at the queue anyway */
	}
	if (d->cfg.complete_batch && n > d->cfg.complete_batch)
		n = d->cfg.complete_batch;
	while (done < n && d->qhead) {
		struct fault_op *o;

		if (fault_held(d, d->qhead)) {
			o = fault_take_unheld(d);
			if (!o) /* held: no signal, the next submit looks again */
				return (int)done;
		} else {
			o = fault_pick(d);
		}
		struct wb_io_req *r = o->r;
		int res = fault_exec(d, o);

		free(o);
		io->inflight--;
		done++;
		r->done(r, res);
	}
	fault_signal(d);
	return (int)done;
}

static int fault_fd(struct wb_io *io)
{
	return fault_of(io)->efd;
}

static void fault_close(struct wb_io *io)
{
	struct fault_dev *d = fault_of(io);

	while (d->qhead) {
		struct fault_op *o = d->qhead;

		d->qhead = o->next;
		free(o);
	}
	while (d->vhead) {
		struct fault_vw *v = d->vhead;

		d->vhead = v->next;
		if (d->fd >= 0 && !d->off)
			fault_vw_land(d, v, 0); /* a clean close: the power stays on */
		fault_vw_free(v);
	}
	if (d->fd >= 0)
		close(d->fd);
	close(d->efd);
	fault_mem_free(d->cur, d->media);
	fault_mem_free(d->dur, d->media);
	fault_mem_free(d->touched, FAULT_NCHUNK(d->media));
	free(d);
}

/* in-memory: the media grown by wb_io_fault_grow; file-backed: fixed */
static int fault_refresh_size(struct wb_io *io)
{
	struct fault_dev *d = fault_of(io);

	if (d->fd >= 0)
		return -EOPNOTSUPP;
	io->size = d->media;
	return 0;
}

int wb_io_fault_grow(struct wb_io *io, uint64_t size)
{
	struct fault_dev *d = fault_of(io);
	uint8_t *cur, *dur, *touched;

	if (d->fd >= 0 || size < d->media || size % FAULT_SECT)
		return -EINVAL;
	touched = fault_mem_grow(d->touched, FAULT_NCHUNK(d->media), FAULT_NCHUNK(size));
	if (!touched)
		return -ENOMEM;
	d->touched = touched;
	cur = fault_mem_grow(d->cur, d->media, size);
	if (!cur)
		return -ENOMEM;
	dur = fault_mem_grow(d->dur, d->media, size);
	if (!dur) {
		/* cur's new tail is zeroes nobody saw: give it back */
		d->cur = fault_mem_grow(cur, size, d->media);
		return -ENOMEM;
	}
	d->cur = cur;
	d->dur = dur;
	d->media = size;
	return 0;
}

static const struct wb_io_ops fault_ops = {
    .version = WB_IO_OPS_VERSION,
    .name = "fault",
    .submit = fault_submit,
    .reap = fault_reap,
    .fd = fault_fd,
    .close = fault_close,
    .refresh_size = fault_refresh_size,
};

int wb_io_fault_open(const char *label, uint64_t size, const struct wb_fault_cfg *cfg,
		     struct wb_io **out)
{
	struct fault_dev *d;

	if (!size || size % FAULT_SECT) {
		wb_msg(WB_LOG_ERR, "fault device %s: size %llu is not a multiple of 512", label,
		       (unsigned long long)size);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		goto out_nomem;
	d->cur = fault_mem_new(size);
	d->dur = fault_mem_new(size);
	d->touched = fault_mem_new(FAULT_NCHUNK(size));
	if (!d->cur || !d->dur || !d->touched)
		goto out_free;
	d->fd = -1;
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		int err = -errno;

		wb_msg(WB_LOG_ERR, "fault device %s: eventfd: %s", label, strerror(errno));
		fault_mem_free(d->cur, size);
		fault_mem_free(d->dur, size);
		fault_mem_free(d->touched, FAULT_NCHUNK(size));
		free(d);
		return err;
	}
	if (cfg)
		d->cfg = *cfg;
	d->rng = d->cfg.seed ^ 0x5DEECE66Dull;
	d->io.ops = &fault_ops;
	d->io.size = size;
	d->media = size;
	snprintf(d->io.name, sizeof(d->io.name), "%s", label ? label : "fault");
	*out = &d->io;
	return 0;
out_free:
	fault_mem_free(d->cur, size);
	fault_mem_free(d->dur, size);
	fault_mem_free(d->touched, FAULT_NCHUNK(size));
	free(d);
out_nomem:
	wb_msg(WB_LOG_ERR, "fault device %s: out of memory for %llu bytes", label,
	       (unsigned long long)size);
	return -ENOMEM;
}

int wb_io_fault_open_file(const char *path, const struct wb_fault_cfg *cfg, struct wb_io **out)
{
	struct fault_dev *d;
	off_t size;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		wb_msg(WB_LOG_ERR, "fault device %s: %s", path, strerror(errno));
		return ret;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || (ret = wb_io_fault_open(path, (uint64_t)size, cfg, out))) {
		close(fd);
		return size <= 0 ? -EINVAL : ret;
	}
	d = fault_of(*out);
	fault_mem_free(d->dur, d->media);
	d->dur = NULL;
	fault_mem_free(d->touched, FAULT_NCHUNK(d->media));
	d->touched = NULL;
	d->fd = fd;
	if (pread(fd, d->cur, (size_t)size, 0) != (ssize_t)size) {
		wb_msg(WB_LOG_ERR, "fault device %s: cannot read %lld bytes", path,
		       (long long)size);
		fault_close(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

void wb_io_fault_power_cut(struct wb_io *io)
{
	struct fault_dev *d = fault_of(io);
	struct fault_vw **arr = NULL;
	size_t n = 0, i;

	for (struct fault_vw *v = d->vhead; v; v = v->next)
		n++;
	if (n)
		arr = malloc(n * sizeof(*arr));
	i = 0;
	for (struct fault_vw *v = d->vhead; v; v = v->next)
		if (arr)
			arr[i++] = v;
	if (arr && d->cfg.reorder) {
		for (i = n; i > 1; i--) {
			size_t j = fault_rand(d) % i;
			struct fault_vw *t = arr[i - 1];

			arr[i - 1] = arr[j];
			arr[j] = t;
		}
	}
	for (i = 0; arr && i < n; i++) {
		unsigned p = fault_rand(d) % 1000;

		if (p < d->cfg.drop_permille)
			continue;
		fault_vw_land(d, arr[i], p < d->cfg.drop_permille + d->cfg.tear_permille);
	}
	if (n && !arr)
		wb_msg(WB_LOG_WARN, "%s: power cut: out of memory, %zu volatile writes lost",
		       io->name, n);
	free(arr);
	while (d->vhead) {
		struct fault_vw *v = d->vhead;

		d->vhead = v->next;
		fault_vw_free(v);
	}
	d->vtail = NULL;
	for (struct fault_op *o = d->qhead; o; o = o->next)
		if (!o->err)
			o->err = -EIO;
	d->hold_op = 0;
	d->off = 1;
	fault_signal(d);
}

void wb_io_fault_power_on(struct wb_io *io)
{
	struct fault_dev *d = fault_of(io);

	if (d->dur) {
		/* the chunks ever written only: most of a big test device is
		 * zeroes in both images, and touching them would fault in
		 * every page (136 MiB per cut in test_grow) */
		for (uint64_t off = 0, n; off < io->size; off += n) {
			n = io->size - off < FAULT_CHUNK ? io->size - off : FAULT_CHUNK;
			if (d->touched[off / FAULT_CHUNK])
				memcpy(d->cur + off, d->dur + off, n);
		}
	} else if (pread(d->fd, d->cur, io->size, 0) != (ssize_t)io->size)
		wb_msg(WB_LOG_ERR, "%s: power on: cannot read the durable file", io->name);
	d->off = 0;
}

void wb_io_fault_fail_nth(struct wb_io *io, unsigned op, unsigned n, int err)
{
	struct fault_dev *d = fault_of(io);

	if (d->narmed == FAULT_MAX_ARMED) {
		wb_msg(WB_LOG_WARN, "%s: fail_nth: %u faults already armed, ignored", io->name,
		       FAULT_MAX_ARMED);
		return;
	}
	d->armed[d->narmed++] = (struct fault_armed){.op = op, .n = n, .err = err};
}

void wb_io_fault_bad_range(struct wb_io *io, uint64_t off, uint64_t len)
{
	struct fault_dev *d = fault_of(io);

	if (!len) {
		d->nbad = 0;
		return;
	}
	if (d->nbad == FAULT_MAX_BAD) {
		wb_msg(WB_LOG_WARN, "%s: bad_range: %u ranges already set, ignored", io->name,
		       FAULT_MAX_BAD);
		return;
	}
	d->bad[d->nbad].off = off;
	d->bad[d->nbad++].len = len;
}

void wb_io_fault_hold_next(struct wb_io *io, unsigned op)
{
	fault_of(io)->hold_op = op + 1;
}

void wb_io_fault_release(struct wb_io *io)
{
	struct fault_dev *d = fault_of(io);

	for (struct fault_op *o = d->qhead; o; o = o->next)
		o->held = false;
	fault_signal(d);
}

uint64_t wb_io_fault_nsubmitted(struct wb_io *io)
{
	return fault_of(io)->nsubmit;
}

int wb_io_fault_peek(struct wb_io *io, uint64_t off, void *buf, size_t len)
{
	struct fault_dev *d = fault_of(io);

	if (off > io->size || len > io->size - off)
		return -EINVAL;
	if (d->dur) {
		memcpy(buf, d->dur + off, len);
		return 0;
	}
	return pread(d->fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
}
