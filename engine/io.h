/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * io.h - the storage I/O interface of the engine.
 *
 * Every access the engine makes to a log or backing device goes through a
 * struct wb_io. Backends:
 *   - "uring": io_uring + O_DIRECT via liburing (falls back to buffered I/O
 *     with one log line where O_DIRECT is refused, e.g. tmpfs);
 *   - "fault": an in-memory device that models a volatile write cache:
 *     writes since the last completed flush can be dropped, torn per 512-byte
 *     sector or reordered at a simulated power cut; any op can be made to
 *     fail with EIO or ENOSPC. The crash torture test uses it.
 *
 * Model: asynchronous, single-threaded, no callbacks from other threads.
 * wb_io_submit() queues a request; completions are delivered only from
 * wb_io_reap() (called by the owner when wb_io_fd() is readable, or in a
 * loop). A request's done() may submit new requests.
 *
 * Ownership: the caller owns struct wb_io_req and its buffer until done() is
 * called. Buffers for the uring backend must be 4096-aligned, offsets and
 * lengths multiples of 4096 (the engine only issues such I/O).
 *
 * Durability contract (the whole engine depends on it): a WB_IO_WRITE that
 * completed is NOT durable until a WB_IO_FLUSH submitted after that
 * completion has completed; a WB_IO_WRITE with WB_IO_FUA is durable when it
 * completes. WB_IO_DISCARD and WB_IO_WRITE_ZEROES are writes in this
 * contract (FUA included).
 *
 * Zeroing ops: after WB_IO_DISCARD or WB_IO_WRITE_ZEROES completed, the range
 * reads back zeroes. DISCARD may release the storage (a hole in a file, an
 * unmap on a block device), WRITE_ZEROES keeps it allocated. A backend that
 * cannot do either natively writes zeroes instead (same result for reads).
 *
 * Ordering: requests in flight together are otherwise unordered, but a
 * zeroing op is ordered against every request overlapping its range: it is
 * started only after the overlapping requests submitted before it have
 * completed, and an overlapping request submitted after it is started only
 * after it has completed. (A discard must not land before an earlier write
 * of the same blocks, nor a later write land under the discard.)
 */
#ifndef WB_IO_H
#define WB_IO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define WB_IO_OPS_VERSION 3

enum wb_io_op {
	WB_IO_READ = 1,
	WB_IO_WRITE = 2,
	WB_IO_FLUSH = 3,	/* fdatasync of the whole device */
	WB_IO_DISCARD = 4,	/* len bytes at off read zeroes, storage may be freed */
	WB_IO_WRITE_ZEROES = 5, /* len bytes at off read zeroes, storage stays */
};

#define WB_IO_FUA (1u << 0) /* write: durable on completion */

struct wb_io;

struct wb_io_req {
	uint8_t op;    /* enum wb_io_op */
	uint8_t flags; /* WB_IO_FUA */
	uint16_t niov; /* 0: use buf/len; else iov[0..niov) (never for zeroing ops) */
	uint32_t len;  /* bytes, when niov == 0 */
	uint64_t off;  /* byte offset on the device */
	void *buf;
	const struct iovec *iov;
	/* Called once, from wb_io_reap(); res = bytes transferred (zeroing ops:
	 * len) or -errno. */
	void (*done)(struct wb_io_req *r, int res);
	void *priv;
	/* backend private */
	struct wb_io_req *next;
};

struct wb_io_ops {
	uint32_t version; /* WB_IO_OPS_VERSION; append-only table */
	const char *name;
	int (*submit)(struct wb_io *io, struct wb_io_req *r);
	int (*reap)(struct wb_io *io, int wait); /* wait: block for >= 1 */
	int (*fd)(struct wb_io *io);		 /* pollable (eventfd) or -1 */
	void (*close)(struct wb_io *io);
	/* version 2, optional: hand what was queued while plugged to the
	 * device (see wb_io_plug) */
	void (*unplug)(struct wb_io *io);
	/* version 3, optional: read the device's size again into io->size
	 * (a grown device, e.g. lvextend); 0 or -errno */
	int (*refresh_size)(struct wb_io *io);
};

struct wb_io {
	const struct wb_io_ops *ops;
	uint64_t size;	   /* device size in bytes */
	unsigned inflight; /* maintained by the backend */
	char name[256];	   /* path or label, for messages */
	/* wb_io_plug: a backend may hold submitted requests back (not yet in
	 * the kernel) until wb_io_unplug or a reap that waits */
	unsigned plugged;
};

/* io_uring backend. flags: WB_IO_OPEN_CREATE creates a file of `size` bytes
 * if it does not exist (size 0: use the existing size). */
#define WB_IO_OPEN_CREATE   (1u << 0)
#define WB_IO_OPEN_BUFFERED (1u << 1) /* do not even try O_DIRECT */
/* The block device is already held exclusively on our behalf (the lower
 * device of a dm-wbrep target, claimed by the kernel for the target): open
 * it without O_EXCL and flock the device node instead (io_uring.c). */
#define WB_IO_OPEN_SHARED (1u << 2)
int wb_io_uring_open(const char *path, uint64_t size, unsigned flags, unsigned qd,
		     struct wb_io **out);

/* Fault-injection backend: an in-memory device of `size` bytes. */
struct wb_fault_cfg {
	uint64_t seed;
	/* at power cut, for each unflushed write: probability in 1/1000 */
	unsigned drop_permille;	 /* write lost entirely */
	unsigned tear_permille;	 /* only some 512-byte sectors land */
	unsigned reorder;	 /* nonzero: unflushed writes land in random order */
	unsigned complete_batch; /* complete at most this many per reap (0 = all) */
	/* tests: while a file of this name exists, a flush or FUA write does
	 * not complete and nothing is signalled for it: what was written is
	 * not durable; requests queued after it complete (unless ordered after
	 * it: an overlapping write), as behind a slow cache flush; the next
	 * submit looks again (NULL: never) */
	const char *hold_durable;
};
int wb_io_fault_open(const char *label, uint64_t size, const struct wb_fault_cfg *cfg,
		     struct wb_io **out);
/* File-backed fault device (the daemon's volatile-cache emulation,
 * io_fault.c): the file at `path` is the durable media, its size the
 * device's; unflushed writes live in this process only, so a kill -9 of
 * the process is a power cut. cfg's drop/tear probabilities are drawn when
 * a write completes (the rest lands at once, written back early); a clean
 * close lands everything. */
int wb_io_fault_open_file(const char *path, const struct wb_fault_cfg *cfg, struct wb_io **out);
/* Simulate a power cut: apply the volatile-cache model to writes not yet
 * covered by a completed flush, fail every queued request with -EIO, and
 * leave the device "off": later submits fail with -EIO until
 * wb_io_fault_power_on(). */
void wb_io_fault_power_cut(struct wb_io *io);
void wb_io_fault_power_on(struct wb_io *io);
/* Make the n-th next request (0 = the very next) of kind `op` (0 = any) fail
 * with `err` (-EIO, -ENOSPC). */
void wb_io_fault_fail_nth(struct wb_io *io, unsigned op, unsigned n, int err);
/* Reads overlapping [off, off + len) fail with -EIO (a medium error) until
 * a call with len 0 clears every range (at most 4 at once). */
void wb_io_fault_bad_range(struct wb_io *io, uint64_t off, uint64_t len);
/* Hold the next request of kind `op` (0 = any): it does not complete,
 * later requests do, until wb_io_fault_release() (a slow flush, in order to
 * interleave completions). A power cut fails it like any queued request. */
void wb_io_fault_hold_next(struct wb_io *io, unsigned op);
void wb_io_fault_release(struct wb_io *io);
/* Number of requests submitted so far (to pick crash points). */
uint64_t wb_io_fault_nsubmitted(struct wb_io *io);
/* In-memory fault device: the media grows to size bytes (zeroes), seen by
 * wb_io_refresh_size (a grown volume). 0, -EINVAL (smaller, file-backed),
 * -ENOMEM. */
int wb_io_fault_grow(struct wb_io *io, uint64_t size);
/* Direct access to the durable image (after a power cut: what survived). */
int wb_io_fault_peek(struct wb_io *io, uint64_t off, void *buf, size_t len);

static inline int wb_io_submit(struct wb_io *io, struct wb_io_req *r)
{
	return io->ops->submit(io, r);
}
/* Plug: requests submitted from now on may wait in the backend until
 * wb_io_unplug() (batching: io_uring hands them to the kernel with one
 * io_uring_enter). A plugged device never sleeps on them: reap(wait = 1)
 * submits first. Backends without an unplug op ignore it. */
static inline void wb_io_plug(struct wb_io *io)
{
	io->plugged = 1;
}
static inline void wb_io_unplug(struct wb_io *io)
{
	io->plugged = 0;
	if (io->ops->version >= 2 && io->ops->unplug)
		io->ops->unplug(io);
}
/* Read the device's size again (io->size); -EOPNOTSUPP: this backend's
 * size is fixed at open. */
static inline int wb_io_refresh_size(struct wb_io *io)
{
	return io->ops->version >= 3 && io->ops->refresh_size ? io->ops->refresh_size(io)
							      : -EOPNOTSUPP;
}
static inline int wb_io_reap(struct wb_io *io, int wait)
{
	return io->ops->reap(io, wait);
}
static inline int wb_io_fd(struct wb_io *io)
{
	return io->ops->fd(io);
}
static inline void wb_io_close(struct wb_io *io)
{
	if (io)
		io->ops->close(io);
}

/* Synchronous helpers (submit + reap until done); for tools and tests. */
int wb_io_pread(struct wb_io *io, void *buf, size_t len, uint64_t off);
int wb_io_pwrite(struct wb_io *io, const void *buf, size_t len, uint64_t off, unsigned flags);
int wb_io_flush(struct wb_io *io);
/* op: WB_IO_DISCARD or WB_IO_WRITE_ZEROES; flags: WB_IO_FUA or 0. */
int wb_io_zero(struct wb_io *io, int op, uint64_t off, uint64_t len, unsigned flags);

/* 4096-aligned allocation for I/O buffers. */
void *wb_io_alloc(size_t len);
void wb_io_free(void *p);

#endif /* WB_IO_H */
