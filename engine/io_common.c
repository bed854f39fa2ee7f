// SPDX-License-Identifier: GPL-2.0-only
/*
 * io_common.c - backend-independent helpers of the storage I/O interface.
 *
 * Synchronous wrappers (submit one request, reap until it is done) for tools,
 * tests and the slow paths of engines (format, superblock reads), and the
 * 4096-aligned buffer allocator every backend accepts.
 *
 * The sync helpers reap the whole wb_io: completions of other requests the
 * owner has in flight on the same device are delivered as usual from inside
 * the helper. Unaligned caller buffers are bounced through an aligned copy.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "engine/wbengine.h"

struct io_sync {
	int done;
	int res;
};

static void io_sync_done(struct wb_io_req *r, int res)
{
	struct io_sync *s = r->priv;

	s->res = res;
	s->done = 1;
}

static int io_sync_run(struct wb_io *io, struct wb_io_req *r, size_t expect)
{
	struct io_sync s = {0, 0};
	int ret;

	r->done = io_sync_done;
	r->priv = &s;
	ret = wb_io_submit(io, r);
	if (ret < 0)
		return ret;
	while (!s.done) {
		ret = wb_io_reap(io, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN)
			return ret; /* request may still be in flight: s is on our stack */
	}
	if (s.res < 0)
		return s.res;
	if ((size_t)s.res != expect)
		return -EIO;
	return 0;
}

static int io_sync_rw(struct wb_io *io, int op, void *buf, size_t len, uint64_t off, unsigned flags)
{
	struct wb_io_req r;
	void *bounce = NULL;
	int ret;

	if (len > UINT32_MAX)
		return -EINVAL;
	if (((uintptr_t)buf & 4095) || (len & 4095)) {
		bounce = wb_io_alloc(len ? len : 1);
		if (!bounce)
			return -ENOMEM;
		if (op == WB_IO_WRITE)
			memcpy(bounce, buf, len);
	}
	memset(&r, 0, sizeof(r));
	r.op = op;
	r.flags = flags;
	r.len = len;
	r.off = off;
	r.buf = bounce ? bounce : buf;
	ret = io_sync_run(io, &r, len);
	if (!ret && bounce && op == WB_IO_READ)
		memcpy(buf, bounce, len);
	wb_io_free(bounce);
	return ret;
}

int wb_io_pread(struct wb_io *io, void *buf, size_t len, uint64_t off)
{
	return io_sync_rw(io, WB_IO_READ, buf, len, off, 0);
}

int wb_io_pwrite(struct wb_io *io, const void *buf, size_t len, uint64_t off, unsigned flags)
{
	return io_sync_rw(io, WB_IO_WRITE, (void *)buf, len, off, flags);
}

int wb_io_flush(struct wb_io *io)
{
	struct wb_io_req r;

	memset(&r, 0, sizeof(r));
	r.op = WB_IO_FLUSH;
	return io_sync_run(io, &r, 0);
}

int wb_io_zero(struct wb_io *io, int op, uint64_t off, uint64_t len, unsigned flags)
{
	struct wb_io_req r;

	if ((op != WB_IO_DISCARD && op != WB_IO_WRITE_ZEROES) || len > UINT32_MAX)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.op = op;
	r.flags = flags;
	r.len = len;
	r.off = off;
	return io_sync_run(io, &r, len);
}

void *wb_io_alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, (len + 4095) & ~(size_t)4095))
		return NULL;
	return p;
}

void wb_io_free(void *p)
{
	free(p);
}
