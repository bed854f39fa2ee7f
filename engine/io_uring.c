// SPDX-License-Identifier: GPL-2.0-only
/*
 * io_uring.c - the io_uring storage backend ("uring"), via liburing.
 *
 * Opens a file or block device with O_DIRECT (falling back to buffered I/O,
 * with one warning, where the filesystem refuses O_DIRECT, e.g. tmpfs), and
 * maps wb_io requests onto io_uring:
 *   WB_IO_READ/WRITE  -> IORING_OP_READ/WRITE (READV/WRITEV with an iovec)
 *   WB_IO_FUA         -> the write, linked (IOSQE_IO_LINK) to an IORING_OP_FSYNC
 *                        with IORING_FSYNC_DATASYNC (see "FUA writes" below)
 *   WB_IO_FLUSH       -> IORING_OP_FSYNC with IORING_FSYNC_DATASYNC
 *   WB_IO_DISCARD     -> IORING_OP_FALLOCATE, PUNCH_HOLE|KEEP_SIZE
 *   WB_IO_WRITE_ZEROES-> IORING_OP_FALLOCATE, ZERO_RANGE|KEEP_SIZE
 * An fsync submitted after a write completed covers that write, which is
 * exactly the wb_io flush contract: a flush needs no drain/link flags (only
 * the fsync of a FUA write is linked, to its own write).
 *
 * Zeroing ops: on a file, PUNCH_HOLE frees the blocks (the file stays
 * sparse) and ZERO_RANGE zeroes them in place. On a block device the kernel
 * implements PUNCH_HOLE as a write-zeroes that may unmap (a discard whose
 * blocks are guaranteed to read back zeroes; plain BLKDISCARD is not used
 * because reads after it are undefined on most devices) and ZERO_RANGE as
 * BLKZEROOUT. Where the file system or device refuses a mode (EOPNOTSUPP),
 * that mode is remembered as unsupported (logged once) and the op writes
 * zeroes from a shared zero buffer instead, like a short transfer in chunks.
 * A zeroing op with WB_IO_FUA is followed by an fdatasync before it
 * completes (after the fallocate, or after the last write of the fallback).
 *
 * FUA writes: one submission of two SQEs, the write with IOSQE_IO_LINK and
 * an fdatasync the kernel starts only when the write completed in full; the
 * op completes when both CQEs are in (the fsync's user_data is the op's
 * pointer with bit 0 set), with the fsync's verdict. RWF_DSYNC is not used:
 * an O_DIRECT write with RWF_DSYNC through io_uring was 3-6x slower here
 * than the write followed by an fdatasync (docs/benchmarks.md). A failed or
 * short write breaks the link (the fsync completes with -ECANCELED): a
 * failed write fails the op with the write's error (never -ECANCELED), a
 * short one is resubmitted for the rest with its own linked fsync, a write
 * that made no progress fails with -EIO. A write that completed in full
 * whose fsync was cancelled or interrupted gets an fsync of its own once
 * more; an fsync error fails the op.
 *
 * Ordering of zeroing ops (io.h): every request in flight is on an "active"
 * list in submission order. A request that overlaps an earlier active
 * request, where either of the two is a zeroing op, is held (not given to
 * the kernel) until no such earlier request is left; held requests are
 * re-examined, in order, each time a request completes. Without any zeroing
 * op active, the check is skipped.
 *
 * Exclusive use: a block device is opened with O_EXCL (the kernel refuses
 * it while mounted or held by another exclusive opener, and refuses mkfs and
 * other O_EXCL openers while we hold it); a file is locked with
 * flock(LOCK_EX|LOCK_NB) (advisory: it stops every wbrep program, not a
 * process that ignores locks). WB_IO_OPEN_SHARED: a block device that the
 * dm-wbrep target already holds (its lower device) is flocked like a file
 * instead. A device in use fails the open with -EBUSY,
 * naming the lock holder's pid where /proc/locks shows it. The lock is tried
 * for a few seconds first: after a kill -9 the kernel drops a dead
 * process's file references only when its io_uring requests have finished.
 *
 * Short reads/writes are resubmitted for the rest; a read hitting end of
 * file completes with the bytes transferred. When the submission queue is
 * full (or the kernel already holds as many requests as the completion queue
 * has room for), requests wait on a pending list and are pushed from reap().
 * An eventfd registered with the ring is wb_io_fd(): readable when
 * completions are waiting.
 *
 * Owns: the ring, the file descriptor, the eventfd, and one small tracking
 * struct per request in flight (recycled through a free list, freed at close).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "engine/io.h"
#include "engine/wbengine.h"

#define URING_DEFAULT_QD 128
#define URING_EFD_IDLE	 8 /* reaps without an eventfd read before one reads anyway */

struct uring_op {
	struct uring_op *next;
	struct uring_op *aprev, *anext; /* active list, submission order */
	struct wb_io_req *r;
	uint64_t total;	   /* bytes asked */
	uint64_t done;	   /* bytes transferred so far */
	struct iovec *iov; /* rest of r->iov after a short transfer, or NULL */
	unsigned niov;
	uint8_t held;	/* waits for an overlapping earlier request */
	uint8_t zstage; /* zeroing op: URING_Z_* */
	uint8_t fstage; /* FUA write: URING_F_* */
	uint8_t ncqe;	/* FUA write: CQEs still to come for what was queued */
	int wres, sres; /* FUA write: CQE results of the write and the fsync */
};

enum { URING_Z_FALLOC, URING_Z_WRITE, URING_Z_SYNC };
/* FUA write: write + linked fsync (URING_F_PAIR), then, only if that fsync
 * was cancelled or interrupted after a complete write, an fsync alone */
enum { URING_F_NONE, URING_F_PAIR, URING_F_SYNC };

#define URING_UD_SYNC 1ull /* user_data bit 0: the linked fsync of a FUA write */

#define URING_ZCHUNK (1u << 20) /* bytes per write of the zeroing fallback */

struct uring_dev {
	struct wb_io io;
	struct io_uring ring;
	int fd, efd;
	unsigned cq_entries;
	unsigned kinflight;		/* in the kernel */
	unsigned efd_idle;		/* reaps in a row that did not read the eventfd */
	bool efd_owed;			/* CQEs reaped since the last read: a signal may follow */
	struct uring_op *phead, *ptail; /* waiting for SQ room */
	struct uring_op *free_ops;
	struct uring_op *ahead, *atail; /* active: submitted, not completed */
	unsigned nzeroing, nheld;	/* zeroing ops / held ops on the active list */
	uint8_t no_punch, no_zrange;	/* fallocate mode refused: write zeroes */
	void *zbuf;			/* URING_ZCHUNK zeroes, for the fallback */
};

static int uring_is_zeroing(const struct wb_io_req *r)
{
	return r->op == WB_IO_DISCARD || r->op == WB_IO_WRITE_ZEROES;
}

static struct uring_dev *uring_of(struct wb_io *io)
{
	return (struct uring_dev *)io;
}

static struct uring_op *uring_op_get(struct uring_dev *d)
{
	struct uring_op *o = d->free_ops;

	if (o)
		d->free_ops = o->next;
	else
		o = malloc(sizeof(*o));
	if (o)
		memset(o, 0, sizeof(*o));
	return o;
}

static void uring_op_put(struct uring_dev *d, struct uring_op *o)
{
	free(o->iov);
	o->iov = NULL;
	o->next = d->free_ops;
	d->free_ops = o;
}

/* After a short transfer of an iovec request, build the iovec of the rest. */
static int uring_op_advance(struct uring_op *o)
{
	const struct wb_io_req *r = o->r;
	uint64_t skip = o->done;
	unsigned i = 0, n;

	free(o->iov);
	o->iov = NULL;
	while (i < r->niov && skip >= r->iov[i].iov_len)
		skip -= r->iov[i++].iov_len;
	n = r->niov - i;
	o->iov = malloc(n * sizeof(*o->iov));
	if (!o->iov)
		return -ENOMEM;
	memcpy(o->iov, r->iov + i, n * sizeof(*o->iov));
	o->iov[0].iov_base = (char *)o->iov[0].iov_base + skip;
	o->iov[0].iov_len -= skip;
	o->niov = n;
	return 0;
}

static void uring_prep(struct uring_dev *d, struct io_uring_sqe *sqe, struct uring_op *o)
{
	struct wb_io_req *r = o->r;
	uint64_t off = r->off + o->done;
	const struct iovec *iov = o->iov ? o->iov : r->iov;
	unsigned niov = o->iov ? o->niov : r->niov;

	switch (r->op) {
	case WB_IO_READ:
		if (niov)
			io_uring_prep_readv(sqe, d->fd, iov, niov, off);
		else
			io_uring_prep_read(sqe, d->fd, (char *)r->buf + o->done,
					   (unsigned)(o->total - o->done), off);
		break;
	case WB_IO_WRITE:
		if (o->fstage == URING_F_SYNC) { /* written: the fsync once more */
			io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(sqe, (uintptr_t)o | URING_UD_SYNC);
			o->ncqe = 1;
			return;
		}
		if (niov)
			io_uring_prep_writev(sqe, d->fd, iov, niov, off);
		else
			io_uring_prep_write(sqe, d->fd, (char *)r->buf + o->done,
					    (unsigned)(o->total - o->done), off);
		if (o->fstage == URING_F_PAIR) {
			/* uring_queue checked there is room for two */
			struct io_uring_sqe *fs = io_uring_get_sqe(&d->ring);

			sqe->flags |= IOSQE_IO_LINK;
			io_uring_sqe_set_data(sqe, o);
			io_uring_prep_fsync(fs, d->fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(fs, (uintptr_t)o | URING_UD_SYNC);
			o->ncqe = 2;
			o->wres = o->sres = 0;
			return;
		}
		break;
	case WB_IO_DISCARD:
	case WB_IO_WRITE_ZEROES:
		if (o->zstage == URING_Z_FALLOC) {
			int mode =
			    FALLOC_FL_KEEP_SIZE |
			    (r->op == WB_IO_DISCARD ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);

			io_uring_prep_fallocate(sqe, d->fd, mode, (off_t)r->off, (off_t)o->total);
		} else if (o->zstage == URING_Z_WRITE) {
			uint64_t n = o->total - o->done;

			io_uring_prep_write(sqe, d->fd, d->zbuf,
					    (unsigned)(n < URING_ZCHUNK ? n : URING_ZCHUNK), off);
		} else {
			io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		}
		break;
	default: /* WB_IO_FLUSH, checked at submit */
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, o);
}

/* SQEs (and CQEs) that o takes when queued: 2 for a write + linked fsync */
static unsigned uring_nsqe(const struct uring_op *o)
{
	return o->fstage == URING_F_PAIR ? 2 : 1;
}

/* Room in the SQ and the CQ for o's SQEs? */
static int uring_room(struct uring_dev *d, const struct uring_op *o)
{
	unsigned n = uring_nsqe(o);

	return d->kinflight + n <= d->cq_entries && io_uring_sq_space_left(&d->ring) >= n;
}

/* Put o into the SQ, or on the pending list when there is no room. */
static void uring_queue(struct uring_dev *d, struct uring_op *o)
{
	struct io_uring_sqe *sqe = NULL;

	if (!d->phead && uring_room(d, o))
		sqe = io_uring_get_sqe(&d->ring);
	if (!sqe) {
		o->next = NULL;
		if (d->ptail)
			d->ptail->next = o;
		else
			d->phead = o;
		d->ptail = o;
		return;
	}
	uring_prep(d, sqe, o);
	d->kinflight += uring_nsqe(o);
}

static void uring_push_pending(struct uring_dev *d)
{
	while (d->phead && uring_room(d, d->phead)) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
		struct uring_op *o = d->phead;

		if (!sqe)
			break;
		d->phead = o->next;
		if (!d->phead)
			d->ptail = NULL;
		uring_prep(d, sqe, o);
		d->kinflight += uring_nsqe(o);
	}
}

/* a was submitted before b: must b wait until a completed? */
static int uring_conflict(const struct uring_op *a, const struct uring_op *b)
{
	if (!uring_is_zeroing(a->r) && !uring_is_zeroing(b->r))
		return 0;
	if (!a->total || !b->total) /* flush: ordered by the flush contract */
		return 0;
	return a->r->off < b->r->off + b->total && b->r->off < a->r->off + a->total;
}

static int uring_may_start(struct uring_dev *d, const struct uring_op *o)
{
	if (!d->nzeroing)
		return 1;
	for (const struct uring_op *p = o->aprev; p; p = p->aprev)
		if (uring_conflict(p, o))
			return 0;
	return 1;
}

static void uring_active_add(struct uring_dev *d, struct uring_op *o)
{
	o->anext = NULL;
	o->aprev = d->atail;
	if (d->atail)
		d->atail->anext = o;
	else
		d->ahead = o;
	d->atail = o;
	if (uring_is_zeroing(o->r))
		d->nzeroing++;
}

/* o completed: take it off the active list, start what waited for it. */
static void uring_active_del(struct uring_dev *d, struct uring_op *o)
{
	if (o->aprev)
		o->aprev->anext = o->anext;
	else
		d->ahead = o->anext;
	if (o->anext)
		o->anext->aprev = o->aprev;
	else
		d->atail = o->aprev;
	if (uring_is_zeroing(o->r))
		d->nzeroing--;
	for (struct uring_op *p = d->ahead; p && d->nheld; p = p->anext) {
		if (!p->held || !uring_may_start(d, p))
			continue;
		p->held = 0;
		d->nheld--;
		uring_queue(d, p);
	}
}

static void uring_kick(struct uring_dev *d)
{
	int ret = io_uring_submit(&d->ring);

	/* -EBUSY/-EAGAIN: the kernel is short of room; the SQEs stay in the
	 * ring and go with the next io_uring_submit() (from reap). */
	if (ret < 0 && ret != -EBUSY && ret != -EAGAIN && ret != -EINTR)
		wb_msg(WB_LOG_ERR, "%s: io_uring_submit: %s", d->io.name, strerror(-ret));
}

static int uring_submit(struct wb_io *io, struct wb_io_req *r)
{
	struct uring_dev *d = uring_of(io);
	struct uring_op *o;

	if (r->op < WB_IO_READ || r->op > WB_IO_WRITE_ZEROES || (uring_is_zeroing(r) && r->niov))
		return -EINVAL;
	o = uring_op_get(d);
	if (!o) {
		wb_msg(WB_LOG_ERR, "%s: out of memory submitting a request", io->name);
		return -ENOMEM;
	}
	o->r = r;
	if (r->niov)
		for (unsigned i = 0; i < r->niov; i++)
			o->total += r->iov[i].iov_len;
	else
		o->total = r->op == WB_IO_FLUSH ? 0 : r->len;
	if (r->op == WB_IO_WRITE && (r->flags & WB_IO_FUA))
		o->fstage = URING_F_PAIR;
	if ((r->op == WB_IO_DISCARD && d->no_punch) ||
	    (r->op == WB_IO_WRITE_ZEROES && d->no_zrange))
		o->zstage = URING_Z_WRITE;
	io->inflight++;
	uring_active_add(d, o);
	if (!uring_may_start(d, o)) {
		o->held = 1;
		d->nheld++;
		return 0;
	}
	uring_queue(d, o);
	if (!d->io.plugged)
		uring_kick(d);
	return 0;
}

/* The zero buffer of the fallback, allocated on first use. */
static int uring_zbuf(struct uring_dev *d)
{
	if (d->zbuf)
		return 0;
	d->zbuf = wb_io_alloc(URING_ZCHUNK);
	if (!d->zbuf) {
		wb_msg(WB_LOG_ERR, "%s: out of memory for the zero buffer", d->io.name);
		return -ENOMEM;
	}
	memset(d->zbuf, 0, URING_ZCHUNK);
	return 0;
}

/*
 * One CQE of a zeroing op: 1 when the op is finished (*res set to its
 * result), 0 when it was queued again (next stage or rest of the zeroes).
 */
static int uring_zero_step(struct uring_dev *d, struct uring_op *o, int *res)
{
	struct wb_io_req *r = o->r;

	switch (o->zstage) {
	case URING_Z_FALLOC:
		if (*res == -EOPNOTSUPP) {
			uint8_t *no = r->op == WB_IO_DISCARD ? &d->no_punch : &d->no_zrange;

			if (!*no)
				wb_msg(WB_LOG_INFO,
				       "%s: fallocate(%s) not supported, writing zeroes",
				       d->io.name,
				       r->op == WB_IO_DISCARD ? "PUNCH_HOLE" : "ZERO_RANGE");
			*no = 1;
			o->zstage = URING_Z_WRITE;
			break;
		}
		if (*res < 0)
			return 1;
		if (r->flags & WB_IO_FUA) {
			o->zstage = URING_Z_SYNC;
			break;
		}
		o->done = o->total;
		return 1;
	case URING_Z_WRITE:
		if (*res <= 0) {
			*res = *res ? *res : -EIO;
			return 1;
		}
		o->done += (unsigned)*res;
		if (o->done < o->total)
			break;
		if (!(r->flags & WB_IO_FUA))
			return 1;
		o->zstage = URING_Z_SYNC; /* every chunk written: one fdatasync */
		uring_queue(d, o);
		return 0;
	default: /* URING_Z_SYNC */
		if (*res < 0)
			return 1;
		o->done = o->total;
		return 1;
	}
	if (o->zstage == URING_Z_WRITE && (*res = uring_zbuf(d)) < 0)
		return 1;
	uring_queue(d, o);
	return 0;
}

/* o is finished with res (bytes or -errno): tell its owner. */
static void uring_finish(struct uring_dev *d, struct uring_op *o, int res)
{
	struct wb_io_req *r = o->r;

	if (res < 0)
		wb_msg(WB_LOG_DEBUG, "%s: op %u off %llu len %llu: %s", d->io.name, r->op,
		       (unsigned long long)r->off, (unsigned long long)o->total, strerror(-res));
	uring_active_del(d, o);
	uring_op_put(d, o);
	d->io.inflight--;
	r->done(r, res);
}

/*
 * One CQE of a FUA write (sync: the fsync's): once the CQEs of what was
 * queued are all in, finish or queue what is left (see the top of file).
 */
static void uring_fua_cqe(struct uring_dev *d, struct uring_op *o, int sync, int res)
{
	struct wb_io_req *r = o->r;

	if (sync)
		o->sres = res;
	else
		o->wres = res;
	if (--o->ncqe)
		return;
	if (o->fstage == URING_F_PAIR) {
		int w = o->wres;

		if (w == -EAGAIN || w == -EINTR) { /* the pair again */
			uring_queue(d, o);
			return;
		}
		if (w <= 0) { /* never -ECANCELED from the fsync */
			uring_finish(d, o, w ? w : -EIO);
			return;
		}
		o->done += (unsigned)w;
		if (o->done < o->total) { /* short: the rest, with its own fsync */
			if (r->niov && uring_op_advance(o) < 0) {
				uring_finish(d, o, -ENOMEM);
				return;
			}
			uring_queue(d, o);
			return;
		}
		if (o->sres == -ECANCELED || o->sres == -EAGAIN || o->sres == -EINTR) {
			o->fstage = URING_F_SYNC; /* written in full: fsync alone */
			uring_queue(d, o);
			return;
		}
	} else if (o->sres == -EAGAIN || o->sres == -EINTR) {
		uring_queue(d, o);
		return;
	}
	uring_finish(d, o, o->sres < 0 ? o->sres : (int)o->done);
}

/* One CQE: finish, or resubmit the rest of a short transfer. */
static void uring_complete(struct uring_dev *d, struct uring_op *o, int res)
{
	struct wb_io_req *r = o->r;

	if (res == -EAGAIN || res == -EINTR) {
		uring_queue(d, o);
		return;
	}
	if (uring_is_zeroing(r)) {
		if (!uring_zero_step(d, o, &res))
			return;
		if (res >= 0)
			res = (int)o->done;
		goto out_done;
	}
	if (res > 0 && r->op != WB_IO_FLUSH) {
		o->done += (unsigned)res;
		if (o->done < o->total) {
			if (r->niov && uring_op_advance(o) < 0) {
				res = -ENOMEM;
				goto out_done;
			}
			uring_queue(d, o);
			return;
		}
	}
	if (res >= 0)
		res = r->op == WB_IO_FLUSH ? 0 : (int)o->done;
out_done:
	uring_finish(d, o, res);
}

static int uring_reap(struct wb_io *io, int wait)
{
	struct uring_dev *d = uring_of(io);
	struct io_uring_cqe *cqe;
	uint64_t cnt;
	int n = 0, ret;

	/*
	 * The eventfd is signalled when CQEs are posted, just after they
	 * become visible. It is read (cleared) only when CQEs are there to
	 * reap, not on every call: a read that says EAGAIN was one syscall
	 * per engine pass (perf, QD1 writes). CQEs posted by task work in
	 * this thread are signalled before it returns to user space; one
	 * posted by an io-wq worker may be signalled just after our read, its
	 * CQE already reaped: the eventfd stays set with nothing to reap and a
	 * level-triggered poll of it would call us again and again. So a run
	 * of URING_EFD_IDLE calls that did not read reads anyway: such a
	 * spin lasts a few calls. Only after CQEs were reaped (efd_owed): a
	 * signal can come late only for a CQE already reaped, so a ring
	 * without completions since its last read is never read (it was one
	 * EAGAIN read per 8 passes of the idle backing ring, 0.4 syscalls per
	 * NBD QD1 write, strace).
	 */
	if (io_uring_cq_ready(&d->ring) || (d->efd_owed && d->efd_idle >= URING_EFD_IDLE)) {
		if (read(d->efd, &cnt, sizeof(cnt)) < 0) {
			/* EAGAIN: nothing was pending */
		}
		d->efd_idle = 0;
		d->efd_owed = false;
	} else {
		d->efd_idle++;
	}
	for (;;) {
		ret = io_uring_peek_cqe(&d->ring, &cqe);
		if (ret == -EAGAIN && wait && !n && d->kinflight) {
			uring_kick(d);
			ret = io_uring_wait_cqe(&d->ring, &cqe);
		}
		if (ret < 0)
			break;
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		struct uring_op *o = (struct uring_op *)(uintptr_t)(ud & ~URING_UD_SYNC);
		int res = cqe->res;

		io_uring_cqe_seen(&d->ring, cqe);
		d->kinflight--;
		if (o->fstage)
			uring_fua_cqe(d, o, (int)(ud & URING_UD_SYNC), res);
		else
			uring_complete(d, o, res);
		n++;
	}
	if (n)
		d->efd_owed = true; /* their signals may come after the read above */
	uring_push_pending(d);
	if (!d->io.plugged)
		uring_kick(d);
	if (ret < 0 && ret != -EAGAIN && ret != -EINTR && !n) {
		wb_msg(WB_LOG_ERR, "%s: io_uring wait: %s", io->name, strerror(-ret));
		return ret;
	}
	return n;
}

static void uring_unplug(struct wb_io *io)
{
	struct uring_dev *d = uring_of(io);

	uring_kick(d);
}

static int uring_fd(struct wb_io *io)
{
	return uring_of(io)->efd;
}

static void uring_close(struct wb_io *io)
{
	struct uring_dev *d = uring_of(io);

	if (io->inflight)
		wb_msg(WB_LOG_WARN, "%s: closed with %u requests in flight", io->name,
		       io->inflight);
	io_uring_queue_exit(&d->ring);
	close(d->efd);
	close(d->fd);
	while (d->phead) {
		struct uring_op *o = d->phead;

		d->phead = o->next;
		free(o->iov);
		free(o);
	}
	for (struct uring_op *o = d->ahead, *n; o; o = n) {
		n = o->anext;
		if (o->held)
			free(o);
	}
	wb_io_free(d->zbuf);
	while (d->free_ops) {
		struct uring_op *o = d->free_ops;

		d->free_ops = o->next;
		free(o);
	}
	free(d);
}

static int uring_size(int fd, const char *path, uint64_t size, unsigned flags, uint64_t *out);

static int uring_refresh_size(struct wb_io *io)
{
	struct uring_dev *d = uring_of(io);
	uint64_t have;
	int ret = uring_size(d->fd, io->name, 0, 0, &have);

	if (ret)
		return ret;
	io->size = have;
	return 0;
}

static const struct wb_io_ops uring_ops = {
    .version = WB_IO_OPS_VERSION,
    .name = "uring",
    .submit = uring_submit,
    .reap = uring_reap,
    .fd = uring_fd,
    .close = uring_close,
    .unplug = uring_unplug,
    .refresh_size = uring_refresh_size,
};

/* pid holding a flock on the file (from /proc/locks), or 0 if unknown */
static long uring_lock_holder(int fd)
{
	struct stat st;
	char line[256];
	long pid = 0;
	FILE *f;

	if (fstat(fd, &st) < 0)
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;
		long p;

		if (sscanf(line, "%*d: FLOCK %*s %*s %ld %x:%x:%lu", &p, &maj, &min, &ino) == 4 &&
		    maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

#define URING_LOCK_TRIES    30
#define URING_LOCK_SLEEP_US 100000

static int uring_open_try(const char *path, int oflags, unsigned flags)
{
	int fd;

	if (!(flags & WB_IO_OPEN_BUFFERED)) {
		fd = open(path, oflags | O_DIRECT, 0644);
		if (fd >= 0 || errno != EINVAL)
			return fd >= 0 ? fd : -errno;
		wb_msg(WB_LOG_WARN, "%s: O_DIRECT refused by the filesystem, using buffered I/O",
		       path);
	}
	fd = open(path, oflags, 0644);
	return fd >= 0 ? fd : -errno;
}

/* Open for exclusive use (see the top of this file): fd or -errno. */
static int uring_open_file(const char *path, unsigned flags)
{
	int oflags = O_RDWR | O_CLOEXEC | ((flags & WB_IO_OPEN_CREATE) ? O_CREAT : 0);
	struct stat st;
	int fd = -EBUSY, blk = 0;

	if (stat(path, &st) == 0 && S_ISBLK(st.st_mode) && !(flags & WB_IO_OPEN_SHARED)) {
		oflags = O_RDWR | O_CLOEXEC | O_EXCL; /* O_EXCL without O_CREAT: claim */
		blk = 1;
	}
	for (int i = 0; i < URING_LOCK_TRIES; i++) {
		if (i)
			usleep(URING_LOCK_SLEEP_US);
		if (blk) {
			fd = uring_open_try(path, oflags, flags);
			if (fd != -EBUSY)
				return fd;
			continue;
		}
		if (fd < 0)
			fd = uring_open_try(path, oflags, flags);
		if (fd < 0)
			return fd;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK) {
			int err = -errno;

			close(fd);
			return err;
		}
	}
	if (blk) {
		wb_msg(WB_LOG_ERR,
		       "%s: in use: the block device is mounted or opened exclusively "
		       "by another program",
		       path);
	} else {
		long pid = uring_lock_holder(fd);

		if (pid)
			wb_msg(WB_LOG_ERR, "%s: in use: locked by another program (pid %ld)", path,
			       pid);
		else
			wb_msg(WB_LOG_ERR, "%s: in use: locked by another program", path);
		close(fd);
	}
	return -EBUSY;
}

/* Size of the file or device; create/extend a regular file to `size`. */
static int uring_size(int fd, const char *path, uint64_t size, unsigned flags, uint64_t *out)
{
	struct stat st;
	uint64_t have;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &have) < 0)
			return -errno;
	} else {
		have = st.st_size;
		if ((flags & WB_IO_OPEN_CREATE) && size > have) {
			if (ftruncate(fd, size) < 0)
				return -errno;
			have = size;
		}
	}
	if (size > have) {
		wb_msg(WB_LOG_ERR, "%s: is %llu bytes, %llu needed", path, (unsigned long long)have,
		       (unsigned long long)size);
		return -ENOSPC;
	}
	*out = size ? size : have;
	return 0;
}

int wb_io_uring_open(const char *path, uint64_t size, unsigned flags, unsigned qd,
		     struct wb_io **out)
{
	struct uring_dev *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d) {
		wb_msg(WB_LOG_ERR, "%s: out of memory", path);
		return -ENOMEM;
	}
	d->fd = d->efd = -1;
	ret = uring_open_file(path, flags);
	if (ret < 0) {
		if (ret != -EBUSY) /* EBUSY: said why, with the holder */
			wb_msg(WB_LOG_ERR, "%s: open: %s", path, strerror(-ret));
		goto out_free;
	}
	d->fd = ret;
	ret = uring_size(d->fd, path, size, flags, &d->io.size);
	if (ret < 0) {
		if (ret != -ENOSPC)
			wb_msg(WB_LOG_ERR, "%s: size: %s", path, strerror(-ret));
		goto out_close;
	}
	/* at least 2: a FUA write takes two SQEs (write + linked fsync) */
	ret = io_uring_queue_init(!qd ? URING_DEFAULT_QD : qd < 2 ? 2 : qd, &d->ring, 0);
	if (ret < 0) {
		wb_msg(WB_LOG_ERR, "%s: io_uring_queue_init: %s", path, strerror(-ret));
		goto out_close;
	}
	d->cq_entries = d->ring.cq.ring_entries;
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		ret = -errno;
		wb_msg(WB_LOG_ERR, "%s: eventfd: %s", path, strerror(errno));
		goto out_ring;
	}
	ret = io_uring_register_eventfd(&d->ring, d->efd);
	if (ret < 0) {
		wb_msg(WB_LOG_ERR, "%s: io_uring_register_eventfd: %s", path, strerror(-ret));
		goto out_efd;
	}
	d->io.ops = &uring_ops;
	snprintf(d->io.name, sizeof(d->io.name), "%s", path);
	*out = &d->io;
	return 0;
out_efd:
	close(d->efd);
out_ring:
	io_uring_queue_exit(&d->ring);
out_close:
	close(d->fd);
out_free:
	free(d);
	return ret;
}
