// SPDX-License-Identifier: GPL-2.0-only
/*
 * eng_ram.c - the "ram" engine: a volatile in-memory block device, for tests.
 *
 * Data lives in one calloc'd array of the exported size; nothing is ever
 * written to a device and everything is lost at close, so a crash test run
 * against it must find durability violations (that is its purpose in
 * tests/crash). Requests are executed at submit (a write is copied into the
 * array, a read copied out) and completed from the next wb_engine_run();
 * an eventfd is readable while completions are waiting.
 *
 * Size: params.size, else the backing device's size if one is given.
 * Owns: the data array, the eventfd and the completion queue (requests are
 * chained through r->ep[0]).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine/wbengine.h"

extern const struct wb_engine_ops wb_ram_ops;

struct ram_engine {
	struct wb_engine e;
	uint8_t *data;
	uint64_t size;
	int efd;
	struct wb_req *head, *tail; /* completions to deliver; err in ep[1] */
	struct wb_engine_stats st;
};

static struct ram_engine *ram_of(struct wb_engine *e)
{
	return (struct ram_engine *)e;
}

static int ram_submit(struct wb_engine *e, struct wb_req *r)
{
	struct ram_engine *re = ram_of(e);
	uint64_t one = 1;

	if (r->op < WB_REQ_READ || r->op > WB_REQ_WRITE_ZEROES)
		return -EINVAL;
	if (r->op != WB_REQ_FLUSH && ((r->off | r->len) & (WB_BLOCK_SIZE - 1) || !r->len ||
				      r->off > re->size || r->len > re->size - r->off)) {
		wb_msg(WB_LOG_ERR, "%s: invalid request op %u off %llu len %u", e->name, r->op,
		       (unsigned long long)r->off, r->len);
		return -EINVAL;
	}
	switch (r->op) {
	case WB_REQ_READ:
		memcpy(r->buf, re->data + r->off, r->len);
		re->st.reads++;
		re->st.bytes_read += r->len;
		break;
	case WB_REQ_WRITE:
		memcpy(re->data + r->off, r->buf, r->len);
		re->st.writes++;
		re->st.bytes_written += r->len;
		break;
	case WB_REQ_FLUSH:
		re->st.flushes++;
		break;
	default:
		memset(re->data + r->off, 0, r->len);
		re->st.discards++;
		break;
	}
	r->ep[0] = 0;
	r->ep[1] = 0;
	if (re->tail)
		re->tail->ep[0] = (uintptr_t)r;
	else
		re->head = r;
	re->tail = r;
	if (write(re->efd, &one, sizeof(one)) < 0) {
		/* cannot overflow in practice; run() looks at the queue anyway */
	}
	if (r->op == WB_REQ_WRITE && r->admitted)
		r->admitted(r); /* copied above */
	return 0;
}

static int ram_run(struct wb_engine *e, int wait)
{
	struct ram_engine *re = ram_of(e);
	struct wb_req *r, *last = re->tail;
	uint64_t cnt;
	int n = 0;

	(void)wait; /* everything queued is complete already */
	if (read(re->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing signalled */
	}
	/* Deliver only what was queued on entry: done() may submit more. */
	while ((r = re->head)) {
		re->head = (struct wb_req *)(uintptr_t)r->ep[0];
		if (!re->head)
			re->tail = NULL;
		n++;
		r->done(r, (int)(int64_t)r->ep[1]);
		if (r == last)
			break;
	}
	if (re->head) {
		uint64_t one = 1;

		if (write(re->efd, &one, sizeof(one)) < 0) {
			/* see ram_submit */
		}
	}
	return n;
}

static int ram_fd(struct wb_engine *e)
{
	return ram_of(e)->efd;
}

static int ram_stats(struct wb_engine *e, struct wb_engine_stats *st)
{
	struct ram_engine *re = ram_of(e);

	*st = re->st;
	st->size = re->size;
	return 0;
}

static int ram_set_mode(struct wb_engine *e, enum wb_mode mode)
{
	ram_of(e)->st.mode = mode;
	return 0;
}

static void ram_close(struct wb_engine *e)
{
	struct ram_engine *re = ram_of(e);

	while (re->head)
		ram_run(e, 0);
	close(re->efd);
	free(re->data);
	free(re);
}

static int ram_open(const struct wb_engine_params *p, struct wb_engine **out)
{
	const char *name = p->name ? p->name : "ram";
	uint64_t size = p->size;
	struct ram_engine *re;

	if (!size && p->backing_io)
		size = p->backing_io->size & ~(uint64_t)(WB_BLOCK_SIZE - 1);
	if (!size || (size & (WB_BLOCK_SIZE - 1))) {
		wb_msg(WB_LOG_ERR, "%s: the ram engine needs a size (multiple of 4096)", name);
		return -EINVAL;
	}
	re = calloc(1, sizeof(*re));
	if (!re)
		goto out_nomem;
	re->data = calloc(1, size);
	if (!re->data)
		goto out_free;
	re->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (re->efd < 0) {
		int err = -errno;

		wb_msg(WB_LOG_ERR, "%s: eventfd: %s", name, strerror(errno));
		free(re->data);
		free(re);
		return err;
	}
	re->e.ops = &wb_ram_ops;
	snprintf(re->e.name, sizeof(re->e.name), "%s", name);
	re->size = size;
	*out = &re->e;
	return 0;
out_free:
	free(re);
out_nomem:
	wb_msg(WB_LOG_ERR, "%s: out of memory for a ram engine of %llu bytes", name,
	       (unsigned long long)size);
	return -ENOMEM;
}

const struct wb_engine_ops wb_ram_ops = {
    .abi_version = WB_ENGINE_ABI_VERSION,
    .name = "ram",
    .description = "volatile memory, no I/O; loses everything at close (tests only)",
    .open = ram_open,
    .close = ram_close,
    .submit = ram_submit,
    .fd = ram_fd,
    .run = ram_run,
    .stats = ram_stats,
    .set_mode = ram_set_mode,
};
