// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_io.c - unit tests of the storage I/O backends (engine/io_uring.c,
 * engine/io_fault.c) and the sync helpers (engine/io_common.c).
 *
 * uring: data round trip on a real file (O_DIRECT), iovecs, FUA, flush, more
 * requests than the queue depth (pending list), eventfd readiness, creation
 * and size errors, exclusive use (a second open is refused naming the
 * holder), the buffered fallback on tmpfs (its warning is checked);
 * zeroing ops: DISCARD punches a hole (st_blocks drops) and reads zeroes,
 * WRITE_ZEROES reads zeroes, the write-zeroes fallback where the file system
 * refuses ZERO_RANGE (tmpfs), and write/discard/write on the same blocks
 * submitted together land in submission order; FUA writes (a write + a
 * linked fdatasync): no dirty page left on a buffered file when one
 * completed (cachestat(2)), with iovecs and more in flight than the ring
 * holds pairs; a failing or short write fails the pair with its own error.
 * fault: the volatile-cache model (flush covers only writes completed before
 * it was submitted, FUA durable at once and never overwritten by older data,
 * drop / tear / reorder at power cut), power off, fail_nth, complete_batch,
 * reordered completions, determinism from the seed; zeroing ops are
 * volatile writes of zeroes and keep their order under reorder.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/io.h"
#include "engine/wbengine.h"

#define MiB (1024u * 1024u)

static char last_msg[512];
static int nmsg;

static void capture(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
	nmsg++;
}

static void fill(void *buf, size_t len, unsigned seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static char tmp_path[256];

static int setup_tmp(void **state)
{
	(void)state;
	snprintf(tmp_path, sizeof(tmp_path), "/var/tmp/wbtest_io.%d", (int)getpid());
	unlink(tmp_path);
	return 0;
}

static int teardown_tmp(void **state)
{
	(void)state;
	unlink(tmp_path);
	wb_msg_set_sink(NULL, NULL, WB_LOG_INFO);
	return 0;
}

static void test_uring_roundtrip(void **state)
{
	struct wb_io *io;
	uint8_t *a = wb_io_alloc(64 * 1024), *b = wb_io_alloc(64 * 1024);
	struct stat st;

	(void)state;
	assert_int_equal(wb_io_uring_open(tmp_path, MiB, WB_IO_OPEN_CREATE, 8, &io), 0);
	assert_int_equal(io->size, MiB);
	assert_int_equal(stat(tmp_path, &st), 0);
	assert_int_equal(st.st_size, MiB);
	fill(a, 64 * 1024, 1);
	assert_int_equal(wb_io_pwrite(io, a, 64 * 1024, 4096, 0), 0);
	assert_int_equal(wb_io_flush(io), 0);
	memset(b, 0, 64 * 1024);
	assert_int_equal(wb_io_pread(io, b, 64 * 1024, 4096), 0);
	assert_memory_equal(a, b, 64 * 1024);
	fill(a, 4096, 2);
	assert_int_equal(wb_io_pwrite(io, a, 4096, MiB - 4096, WB_IO_FUA), 0);
	assert_int_equal(wb_io_pread(io, b, 4096, MiB - 4096), 0);
	assert_memory_equal(a, b, 4096);
	/* unaligned buffer: the helper bounces it */
	assert_int_equal(wb_io_pread(io, (char *)b + 1, 4096, MiB - 4096), 0);
	assert_memory_equal(a, (char *)b + 1, 4096);
	/* read past the end: short -> -EIO from the sync helper */
	assert_int_equal(wb_io_pread(io, b, 8192, MiB - 4096), -EIO);
	wb_io_close(io);
	/* reopen: size from the file */
	assert_int_equal(wb_io_uring_open(tmp_path, 0, 0, 0, &io), 0);
	assert_int_equal(io->size, MiB);
	assert_int_equal(wb_io_pread(io, b, 4096, MiB - 4096), 0);
	assert_memory_equal(a, b, 4096);
	wb_io_close(io);
	wb_io_free(a);
	wb_io_free(b);
}

struct cnt {
	int done, err;
	uint32_t bytes;
};

static void cnt_done(struct wb_io_req *r, int res)
{
	struct cnt *c = r->priv;

	c->done++;
	if (res < 0)
		c->err = res;
	else
		c->bytes += res;
}

static void test_uring_many_iov(void **state)
{
	enum { N = 64 };
	struct wb_io *io;
	struct wb_io_req rq[N];
	struct iovec iov[N][2];
	uint8_t *buf = wb_io_alloc(N * 8192), *chk = wb_io_alloc(N * 8192);
	struct cnt c = {0, 0, 0};
	struct pollfd pfd;
	int loops = 0;

	(void)state;
	assert_int_equal(wb_io_uring_open(tmp_path, MiB, WB_IO_OPEN_CREATE, 4, &io), 0);
	fill(buf, N * 8192, 3);
	memset(rq, 0, sizeof(rq));
	for (int i = 0; i < N; i++) {
		iov[i][0] = (struct iovec){buf + i * 8192, 4096};
		iov[i][1] = (struct iovec){buf + i * 8192 + 4096, 4096};
		rq[i] = (struct wb_io_req){.op = WB_IO_WRITE,
					   .niov = 2,
					   .iov = iov[i],
					   .off = (uint64_t)i * 8192,
					   .done = cnt_done,
					   .priv = &c};
		assert_int_equal(wb_io_submit(io, &rq[i]), 0);
	}
	assert_int_equal(io->inflight, N);
	assert_int_equal(c.done, 0); /* never from submit */
	pfd = (struct pollfd){.fd = wb_io_fd(io), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	while (c.done < N && loops++ < 10000)
		assert_true(wb_io_reap(io, 1) >= 0);
	assert_int_equal(c.done, N);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.bytes, N * 8192);
	assert_int_equal(io->inflight, 0);
	assert_int_equal(wb_io_reap(io, 1), 0); /* nothing in flight: no block */
	assert_int_equal(wb_io_pread(io, chk, N * 8192, 0), 0);
	assert_memory_equal(buf, chk, N * 8192);
	wb_io_close(io);
	wb_io_free(buf);
	wb_io_free(chk);
}

static void test_uring_errors(void **state)
{
	struct wb_io *io = NULL;

	(void)state;
	wb_msg_set_sink(capture, NULL, WB_LOG_DEBUG);
	assert_int_equal(wb_io_uring_open("/nonexistent/dir/x", MiB, WB_IO_OPEN_CREATE, 4, &io),
			 -ENOENT);
	assert_non_null(strstr(last_msg, "/nonexistent/dir/x"));
	assert_int_equal(wb_io_uring_open(tmp_path, MiB, 0, 4, &io), -ENOENT);
	assert_int_equal(wb_io_uring_open(tmp_path, MiB, WB_IO_OPEN_CREATE, 4, &io), 0);
	wb_io_close(io);
	assert_int_equal(wb_io_uring_open(tmp_path, 2 * MiB, 0, 4, &io), -ENOSPC);
	assert_non_null(strstr(last_msg, "needed"));
}

static void test_uring_tmpfs_fallback(void **state)
{
	char p[256];
	struct wb_io *io;
	uint8_t *a = wb_io_alloc(4096), *b = wb_io_alloc(4096);

	(void)state;
	if (access("/dev/shm", W_OK) != 0)
		skip();
	snprintf(p, sizeof(p), "/dev/shm/wbtest_io.%d", (int)getpid());
	nmsg = 0;
	last_msg[0] = 0;
	wb_msg_set_sink(capture, NULL, WB_LOG_DEBUG);
	/* Kernels >= 6.6 accept O_DIRECT on tmpfs: then no fallback is expected. */
	int fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0644), refused = fd < 0 && errno == EINVAL;

	if (fd >= 0)
		close(fd);
	assert_int_equal(wb_io_uring_open(p, 64 * 1024, WB_IO_OPEN_CREATE, 4, &io), 0);
	if (refused) {
		assert_int_equal(nmsg, 1);
		assert_non_null(strstr(last_msg, "O_DIRECT refused"));
	} else {
		print_message("this kernel's tmpfs accepts O_DIRECT: no fallback to check\n");
		assert_int_equal(nmsg, 0);
	}
	fill(a, 4096, 9);
	assert_int_equal(wb_io_pwrite(io, a, 4096, 8192, WB_IO_FUA), 0);
	assert_int_equal(wb_io_pread(io, b, 4096, 8192), 0);
	assert_memory_equal(a, b, 4096);
	wb_io_close(io);
	/* BUFFERED: no attempt, no message */
	nmsg = 0;
	assert_int_equal(wb_io_uring_open(p, 0, WB_IO_OPEN_BUFFERED, 4, &io), 0);
	assert_int_equal(nmsg, 0);
	wb_io_close(io);
	unlink(p);
	wb_io_free(a);
	wb_io_free(b);
}

/* A device is held exclusively: a second open fails with -EBUSY naming us. */
static void test_uring_exclusive(void **state)
{
	struct wb_io *io, *io2 = NULL;
	char want[64];

	(void)state;
	assert_int_equal(wb_io_uring_open(tmp_path, MiB, WB_IO_OPEN_CREATE, 4, &io), 0);
	wb_msg_set_sink(capture, NULL, WB_LOG_DEBUG);
	nmsg = 0;
	assert_int_equal(wb_io_uring_open(tmp_path, 0, 0, 4, &io2), -EBUSY);
	assert_null(io2);
	assert_int_equal(nmsg, 1);
	snprintf(want, sizeof(want), "in use: locked by another program (pid %d)", (int)getpid());
	assert_non_null(strstr(last_msg, want));
	wb_io_close(io);
	assert_int_equal(wb_io_uring_open(tmp_path, 0, 0, 4, &io2), 0);
	wb_io_close(io2);
}

static int is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static void test_uring_discard(void **state)
{
	struct wb_io *io;
	uint8_t *a = wb_io_alloc(4 * MiB), *b = wb_io_alloc(4 * MiB);
	struct stat st0, st1;

	(void)state;
	assert_int_equal(wb_io_uring_open(tmp_path, 4 * MiB, WB_IO_OPEN_CREATE, 8, &io), 0);
	fill(a, 4 * MiB, 11);
	assert_int_equal(wb_io_pwrite(io, a, 4 * MiB, 0, 0), 0);
	assert_int_equal(wb_io_flush(io), 0);
	assert_int_equal(stat(tmp_path, &st0), 0);
	assert_true(st0.st_blocks * 512 >= 4 * MiB);
	/* discard 2 MiB in the middle: a hole, reads zeroes */
	assert_int_equal(wb_io_zero(io, WB_IO_DISCARD, MiB, 2 * MiB, 0), 0);
	assert_int_equal(wb_io_flush(io), 0);
	assert_int_equal(stat(tmp_path, &st1), 0);
	assert_true(st1.st_blocks * 512 <= st0.st_blocks * 512 - 2 * MiB);
	assert_int_equal(wb_io_pread(io, b, 4 * MiB, 0), 0);
	assert_memory_equal(a, b, MiB);
	assert_true(is_zero(b + MiB, 2 * MiB));
	assert_memory_equal(a + 3 * MiB, b + 3 * MiB, MiB);
	/* write-zeroes with FUA on the last MiB: zeroes, first MiB intact */
	assert_int_equal(wb_io_zero(io, WB_IO_WRITE_ZEROES, 3 * MiB, MiB, WB_IO_FUA), 0);
	assert_int_equal(wb_io_pread(io, b, 4 * MiB, 0), 0);
	assert_memory_equal(a, b, MiB);
	assert_true(is_zero(b + MiB, 3 * MiB));
	/* invalid: iovec on a zeroing op */
	struct wb_io_req r = {.op = WB_IO_DISCARD, .niov = 1, .iov = (struct iovec[]){{a, 4096}}};
	assert_int_equal(wb_io_submit(io, &r), -EINVAL);
	wb_io_close(io);
	wb_io_free(a);
	wb_io_free(b);
}

/* write A, discard, write B of the same blocks, all in flight at once (and
 * discard + write-zeroes over a write): the result follows submission order. */
static void test_uring_zero_ordering(void **state)
{
	enum { ROUNDS = 64, LEN = 256 * 1024 };
	struct wb_io *io;
	uint8_t *a = wb_io_alloc(LEN), *b = wb_io_alloc(LEN), *chk = wb_io_alloc(LEN);
	struct cnt c = {0, 0, 0};

	(void)state;
	assert_int_equal(wb_io_uring_open(tmp_path, 4 * MiB, WB_IO_OPEN_CREATE, 16, &io), 0);
	fill(a, LEN, 12);
	fill(b, LEN, 13);
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t off = (uint64_t)(i % 8) * LEN;
		int last_zero = i & 1;
		struct wb_io_req rq[3] = {
		    {.op = WB_IO_WRITE,
		     .len = LEN,
		     .off = off,
		     .buf = a,
		     .done = cnt_done,
		     .priv = &c},
		    {.op = (i & 2) ? WB_IO_WRITE_ZEROES : WB_IO_DISCARD,
		     .len = LEN,
		     .off = off,
		     .done = cnt_done,
		     .priv = &c},
		    {.op = WB_IO_WRITE,
		     .len = LEN,
		     .off = off,
		     .buf = b,
		     .done = cnt_done,
		     .priv = &c},
		};

		c = (struct cnt){0, 0, 0};
		for (int k = 0; k < 3 - last_zero; k++)
			assert_int_equal(wb_io_submit(io, &rq[k]), 0);
		while (c.done < 3 - last_zero)
			assert_true(wb_io_reap(io, 1) >= 0);
		assert_int_equal(c.err, 0);
		assert_int_equal(wb_io_pread(io, chk, LEN, off), 0);
		if (last_zero)
			assert_true(is_zero(chk, LEN));
		else
			assert_memory_equal(chk, b, LEN);
	}
	wb_io_close(io);
	wb_io_free(a);
	wb_io_free(b);
	wb_io_free(chk);
}

/* tmpfs refuses ZERO_RANGE: the backend writes zeroes, says so once. */
static void test_uring_zero_fallback(void **state)
{
	char p[256];
	struct wb_io *io;
	uint8_t *a = wb_io_alloc(3 * MiB), *b = wb_io_alloc(3 * MiB);
	int fd;

	(void)state;
	if (access("/dev/shm", W_OK) != 0)
		skip();
	snprintf(p, sizeof(p), "/dev/shm/wbtest_iozero.%d", (int)getpid());
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0) {
		close(fd);
		unlink(p);
		print_message("this tmpfs supports ZERO_RANGE: no fallback to check\n");
		skip();
	}
	close(fd);
	assert_int_equal(
	    wb_io_uring_open(p, 4 * MiB, WB_IO_OPEN_CREATE | WB_IO_OPEN_BUFFERED, 4, &io), 0);
	fill(a, 3 * MiB, 14);
	assert_int_equal(wb_io_pwrite(io, a, 3 * MiB, 0, 0), 0);
	nmsg = 0;
	wb_msg_set_sink(capture, NULL, WB_LOG_INFO);
	/* 2.5 MiB: more than one chunk of the fallback's zero buffer */
	assert_int_equal(wb_io_zero(io, WB_IO_WRITE_ZEROES, 4096, 2 * MiB + 512 * 1024, 0), 0);
	assert_int_equal(nmsg, 1);
	assert_non_null(strstr(last_msg, "ZERO_RANGE) not supported"));
	assert_int_equal(wb_io_zero(io, WB_IO_WRITE_ZEROES, 0, 4096, WB_IO_FUA), 0);
	assert_int_equal(nmsg, 1); /* remembered: said once */
	assert_int_equal(wb_io_pread(io, b, 3 * MiB, 0), 0);
	assert_true(is_zero(b, 2 * MiB + 512 * 1024 + 4096));
	assert_memory_equal(a + 2 * MiB + 512 * 1024 + 4096, b + 2 * MiB + 512 * 1024 + 4096,
			    MiB / 2 - 4096);
	wb_io_close(io);
	unlink(p);
	wb_io_free(a);
	wb_io_free(b);
}

/* ---- FUA writes: the write + a linked fdatasync (io_uring.c) ---- */

/* cachestat(2) (Linux 6.5), declared here: the libc headers may lack it */
struct t_cachestat_range {
	uint64_t off, len;
};
struct t_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/* dirty + under-writeback pages of the file at path, or -1 without cachestat */
static long unclean_pages(const char *path)
{
	struct t_cachestat_range rg = {0, 0};
	struct t_cachestat cs;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long r;

	assert_true(fd >= 0);
	r = syscall(451 /* __NR_cachestat */, fd, &rg, &cs, 0);
	close(fd);
	return r < 0 ? -1 : (long)(cs.nr_dirty + cs.nr_writeback);
}

/*
 * A FUA write is durable when it completes: on a buffered file, its
 * completion leaves no dirty page (the linked fdatasync ran), while a plain
 * write leaves its pages dirty. Fails if the FUA write is a plain write.
 * Also: FUA writes with an iovec, and 16 FUA writes in flight on a ring of
 * 2 SQEs (each takes two: the pending list hands them over pair by pair).
 */
static void test_uring_fua_durable(void **state)
{
	enum { N = 16 };
	struct wb_io *io;
	struct wb_io_req rq[N];
	struct iovec iov[2];
	uint8_t *a = wb_io_alloc(MiB), *b = wb_io_alloc(MiB);
	struct cnt c = {0, 0, 0};
	long dirty;
	int loops = 0;

	(void)state;
	assert_int_equal(
	    wb_io_uring_open(tmp_path, 4 * MiB, WB_IO_OPEN_CREATE | WB_IO_OPEN_BUFFERED, 1, &io),
	    0);
	fill(a, MiB, 21);
	assert_int_equal(wb_io_pwrite(io, a, MiB, 0, 0), 0);
	dirty = unclean_pages(tmp_path);
	if (dirty < 0) {
		print_message("no cachestat(2) on this kernel: durability not observable\n");
	} else if (dirty == 0) {
		print_message("a plain write left no dirty page (written back at once?)\n");
	}
	fill(a, MiB, 22);
	assert_int_equal(wb_io_pwrite(io, a, MiB, MiB, WB_IO_FUA), 0);
	if (dirty > 0) {
		print_message("plain 1 MiB write: %ld pages dirty; after a FUA write: %ld\n", dirty,
			      unclean_pages(tmp_path));
		assert_int_equal(unclean_pages(tmp_path), 0);
	}
	assert_int_equal(wb_io_pread(io, b, MiB, MiB), 0);
	assert_memory_equal(a, b, MiB);

	/* iovec FUA write */
	fill(a, 8192, 23);
	iov[0] = (struct iovec){a, 4096};
	iov[1] = (struct iovec){a + 4096, 4096};
	rq[0] = (struct wb_io_req){.op = WB_IO_WRITE,
				   .flags = WB_IO_FUA,
				   .niov = 2,
				   .iov = iov,
				   .off = 2 * MiB,
				   .done = cnt_done,
				   .priv = &c};
	assert_int_equal(wb_io_submit(io, &rq[0]), 0);
	while (c.done < 1 && loops++ < 1000)
		assert_true(wb_io_reap(io, 1) >= 0);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.bytes, 8192);
	assert_int_equal(wb_io_pread(io, b, 8192, 2 * MiB), 0);
	assert_memory_equal(a, b, 8192);

	/* many in flight on a ring of two SQEs */
	c = (struct cnt){0, 0, 0};
	fill(a, N * 4096, 24);
	for (int i = 0; i < N; i++) {
		rq[i] = (struct wb_io_req){.op = WB_IO_WRITE,
					   .flags = WB_IO_FUA,
					   .buf = a + i * 4096,
					   .len = 4096,
					   .off = 3 * MiB + (uint64_t)i * 4096,
					   .done = cnt_done,
					   .priv = &c};
		assert_int_equal(wb_io_submit(io, &rq[i]), 0);
	}
	loops = 0;
	while (c.done < N && loops++ < 10000)
		assert_true(wb_io_reap(io, 1) >= 0);
	assert_int_equal(c.done, N);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.bytes, N * 4096);
	assert_int_equal(io->inflight, 0);
	if (dirty > 0)
		assert_int_equal(unclean_pages(tmp_path), 0);
	assert_int_equal(wb_io_pread(io, b, N * 4096, 3 * MiB), 0);
	assert_memory_equal(a, b, N * 4096);
	wb_io_close(io);
	wb_io_free(a);
	wb_io_free(b);
}

struct last {
	int done, res;
};

static void last_done(struct wb_io_req *r, int res)
{
	struct last *l = r->priv;

	l->done++;
	l->res = res;
}

static int fua_write_res(struct wb_io *io, void *buf, uint32_t len, uint64_t off)
{
	struct last l = {0, 0};
	struct wb_io_req rq = {.op = WB_IO_WRITE,
			       .flags = WB_IO_FUA,
			       .buf = buf,
			       .len = len,
			       .off = off,
			       .done = last_done,
			       .priv = &l};
	int loops = 0;

	assert_int_equal(wb_io_submit(io, &rq), 0);
	while (!l.done && loops++ < 1000)
		assert_true(wb_io_reap(io, 1) >= 0);
	assert_int_equal(l.done, 1);
	assert_int_equal(io->inflight, 0);
	return l.res;
}

/*
 * A failed write fails the pair with the write's error, not the -ECANCELED
 * of the fsync linked to it; a short write (the link broken after part of
 * it) goes on with the rest and its own fsync. The file size limit
 * (RLIMIT_FSIZE, SIGXFSZ ignored) makes writes fail with EFBIG past it and
 * come back short across it.
 */
static void test_uring_fua_write_fails(void **state)
{
	struct wb_io *io;
	uint8_t *a = wb_io_alloc(8192), *b = wb_io_alloc(8192);
	struct rlimit old, lim;
	void (*oldsig)(int);

	(void)state;
	assert_int_equal(wb_io_uring_open(tmp_path, MiB, WB_IO_OPEN_CREATE, 4, &io), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	oldsig = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = MiB - 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	fill(a, 8192, 31);
	/* entirely past the limit: the write fails, the pair with it */
	int res_past = fua_write_res(io, a, 4096, MiB - 4096);
	/* across it: 4096 bytes land, the rest fails */
	int res_across = fua_write_res(io, a, 8192, MiB - 8192);
	/* below it: fine */
	int res_below = fua_write_res(io, a, 8192, MiB - 16384);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	print_message("FUA write past the limit: %d, across: %d, below: %d\n", res_past, res_across,
		      res_below);
	assert_int_equal(res_past, -EFBIG);
	assert_int_equal(res_across, -EFBIG);
	assert_int_equal(res_below, 8192);
	assert_int_equal(wb_io_pread(io, b, 8192, MiB - 16384), 0);
	assert_memory_equal(a, b, 8192);
	/* the ring still works, FUA and not */
	assert_int_equal(fua_write_res(io, a, 8192, MiB - 8192), 8192);
	assert_int_equal(wb_io_pwrite(io, a, 4096, 0, 0), 0);
	assert_int_equal(wb_io_flush(io), 0);
	wb_io_close(io);
	wb_io_free(a);
	wb_io_free(b);
}

/* ---- fault backend ---- */

static struct wb_io *fopen_dev(uint64_t size, unsigned drop, unsigned tear, unsigned reorder,
			       unsigned batch, uint64_t seed)
{
	struct wb_fault_cfg cfg = {.seed = seed,
				   .drop_permille = drop,
				   .tear_permille = tear,
				   .reorder = reorder,
				   .complete_batch = batch};
	struct wb_io *io = NULL;

	assert_int_equal(wb_io_fault_open("f", size, &cfg, &io), 0);
	return io;
}

static int block_is(struct wb_io *io, uint64_t off, unsigned seed, int durable)
{
	uint8_t a[4096], b[4096];

	if (seed)
		fill(a, 4096, seed);
	else
		memset(a, 0, 4096);
	if (durable)
		assert_int_equal(wb_io_fault_peek(io, off, b, 4096), 0);
	else
		assert_int_equal(wb_io_pread(io, b, 4096, off), 0);
	return !memcmp(a, b, 4096);
}

static void pw(struct wb_io *io, uint64_t off, unsigned seed, unsigned flags)
{
	uint8_t a[4096];

	fill(a, 4096, seed);
	assert_int_equal(wb_io_pwrite(io, a, 4096, off, flags), 0);
}

static void test_fault_flush_model(void **state)
{
	struct wb_io *io = fopen_dev(MiB, 1000, 0, 0, 0, 1);

	(void)state;
	pw(io, 0, 1, 0);
	assert_true(block_is(io, 0, 1, 0)); /* reads see the cache */
	assert_true(block_is(io, 0, 0, 1)); /* not durable yet */
	assert_int_equal(wb_io_flush(io), 0);
	assert_true(block_is(io, 0, 1, 1));
	pw(io, 4096, 2, WB_IO_FUA);
	assert_true(block_is(io, 4096, 2, 1)); /* FUA: durable at completion */
	pw(io, 8192, 3, 0);
	pw(io, 0, 4, 0);
	wb_io_fault_power_cut(io); /* drop everything volatile */
	wb_io_fault_power_on(io);
	assert_true(block_is(io, 0, 1, 0));
	assert_true(block_is(io, 4096, 2, 0));
	assert_true(block_is(io, 8192, 0, 0));
	wb_io_close(io);
}

/* File-backed (the daemon's volatile-cache emulation): the file is the
 * durable media; drop 1000: a write reaches it only at a flush or with FUA
 * (a kill -9 before loses it); drop 0: at once; a clean close lands the
 * rest; a reopen reads the file. */
static void test_fault_file_backed(void **state)
{
	struct wb_fault_cfg all = {.seed = 7, .drop_permille = 1000}, none = {.seed = 7};
	struct wb_io *io = NULL;
	uint8_t a[4096], b[4096];
	int fd;

	(void)state;
	fd = open(tmp_path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MiB), 0);
	assert_int_equal(wb_io_fault_open_file(tmp_path, &all, &io), 0);
	assert_int_equal(io->size, MiB);
	pw(io, 0, 1, 0);
	assert_true(block_is(io, 0, 1, 0)); /* reads see the cache */
	assert_int_equal(pread(fd, b, 4096, 0), 4096);
	memset(a, 0, 4096);
	assert_memory_equal(a, b, 4096); /* not in the file yet */
	assert_true(block_is(io, 0, 0, 1));
	assert_int_equal(wb_io_flush(io), 0);
	assert_int_equal(pread(fd, b, 4096, 0), 4096);
	fill(a, 4096, 1);
	assert_memory_equal(a, b, 4096);
	pw(io, 4096, 2, WB_IO_FUA);
	assert_true(block_is(io, 4096, 2, 1));
	pw(io, 8192, 3, 0);
	wb_io_close(io); /* clean: lands */
	assert_int_equal(wb_io_fault_open_file(tmp_path, &none, &io), 0);
	assert_true(block_is(io, 8192, 3, 0));
	assert_true(block_is(io, 4096, 2, 0));
	pw(io, 12288, 4, 0); /* drop 0: written back at once */
	assert_int_equal(pread(fd, b, 4096, 12288), 4096);
	fill(a, 4096, 4);
	assert_memory_equal(a, b, 4096);
	wb_io_close(io);
	close(fd);
}

/* A flush covers only writes that completed before it was submitted. */
static void test_fault_flush_barrier(void **state)
{
	struct wb_io *io = fopen_dev(MiB, 1000, 0, 0, 0, 2);
	uint8_t *a = wb_io_alloc(4096), *b = wb_io_alloc(4096);
	struct wb_io_req wa = {0}, fl = {0}, wb = {0};
	struct cnt c = {0, 0, 0};

	(void)state;
	fill(a, 4096, 5);
	fill(b, 4096, 6);
	wa = (struct wb_io_req){
	    .op = WB_IO_WRITE, .len = 4096, .off = 0, .buf = a, .done = cnt_done, .priv = &c};
	wb = (struct wb_io_req){
	    .op = WB_IO_WRITE, .len = 4096, .off = 4096, .buf = b, .done = cnt_done, .priv = &c};
	fl = (struct wb_io_req){.op = WB_IO_FLUSH, .done = cnt_done, .priv = &c};
	assert_int_equal(wb_io_submit(io, &wa), 0);
	assert_int_equal(wb_io_reap(io, 1), 1);	    /* wa completed */
	assert_int_equal(wb_io_submit(io, &wb), 0); /* in flight when the flush is submitted */
	assert_int_equal(wb_io_submit(io, &fl), 0);
	assert_int_equal(wb_io_reap(io, 1), 2);
	assert_int_equal(c.done, 3);
	assert_int_equal(c.err, 0);
	assert_true(block_is(io, 0, 5, 1));
	assert_true(block_is(io, 4096, 0, 1)); /* completed after the flush was submitted */
	wb_io_close(io);
	wb_io_free(a);
	wb_io_free(b);
}

/* Older volatile data never lands over a newer FUA write, even reordered. */
static void test_fault_fua_supersedes(void **state)
{
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct wb_io *io = fopen_dev(MiB, 0, 0, 1, 0, seed);

		(void)state;
		pw(io, 0, 7, 0);
		pw(io, 0, 8, WB_IO_FUA);
		pw(io, 4096, 9, 0);
		pw(io, 4096, 10, 0);
		wb_io_fault_power_cut(io); /* everything lands, in random order */
		wb_io_fault_power_on(io);
		assert_true(block_is(io, 0, 8, 0));
		assert_true(block_is(io, 4096, 9, 0) || block_is(io, 4096, 10, 0));
		wb_io_close(io);
	}
}

static void test_fault_tear_and_determinism(void **state)
{
	uint8_t *img[2], *w = wb_io_alloc(64 * 1024);
	int olds = 0, news = 0;

	(void)state;
	fill(w, 64 * 1024, 11);
	for (int k = 0; k < 2; k++) {
		struct wb_io *io = fopen_dev(MiB, 0, 1000, 1, 0, 42);

		assert_int_equal(wb_io_pwrite(io, w, 64 * 1024, 0, 0), 0);
		wb_io_fault_power_cut(io);
		img[k] = malloc(64 * 1024);
		assert_int_equal(wb_io_fault_peek(io, 0, img[k], 64 * 1024), 0);
		wb_io_close(io);
	}
	assert_memory_equal(img[0], img[1], 64 * 1024); /* same seed, same result */
	for (int s = 0; s < 128; s++) {
		static const uint8_t zero[512];

		if (!memcmp(img[0] + s * 512, zero, 512))
			olds++;
		else if (!memcmp(img[0] + s * 512, w + s * 512, 512))
			news++;
		else
			fail_msg("sector %d is neither old nor new", s);
	}
	assert_true(olds > 0 && news > 0); /* torn */
	free(img[0]);
	free(img[1]);
	wb_io_free(w);
}

static void test_fault_power_off_and_fail_nth(void **state)
{
	struct wb_io *io = fopen_dev(MiB, 0, 0, 0, 0, 3);
	uint8_t *a = wb_io_alloc(4096);
	struct wb_io_req r = {0};
	struct cnt c = {0, 0, 0};

	(void)state;
	fill(a, 4096, 12);
	r = (struct wb_io_req){
	    .op = WB_IO_WRITE, .len = 4096, .off = 0, .buf = a, .done = cnt_done, .priv = &c};
	assert_int_equal(wb_io_submit(io, &r), 0);
	wb_io_fault_power_cut(io); /* in flight: fails, never lands */
	assert_int_equal(wb_io_reap(io, 1), 1);
	assert_int_equal(c.err, -EIO);
	assert_int_equal(wb_io_pwrite(io, a, 4096, 0, 0), -EIO); /* still off */
	assert_int_equal(wb_io_flush(io), -EIO);
	wb_io_fault_power_on(io);
	assert_true(block_is(io, 0, 0, 0));
	assert_int_equal(wb_io_fault_nsubmitted(io), 3 + 1);

	wb_io_fault_fail_nth(io, WB_IO_WRITE, 1, -ENOSPC);
	pw(io, 0, 13, 0);
	assert_int_equal(wb_io_pread(io, a, 4096, 0), 0); /* reads do not count */
	assert_int_equal(wb_io_pwrite(io, a, 4096, 4096, 0), -ENOSPC);
	assert_true(block_is(io, 4096, 0, 0)); /* no effect */
	pw(io, 8192, 14, 0);
	wb_io_fault_fail_nth(io, 0, 0, -EIO);
	assert_int_equal(wb_io_flush(io), -EIO);
	assert_true(block_is(io, 8192, 0, 1)); /* failed flush made nothing durable */
	assert_int_equal(wb_io_flush(io), 0);
	assert_true(block_is(io, 8192, 14, 1));
	/* bad requests complete with -EINVAL */
	assert_int_equal(wb_io_pread(io, a, 4096, MiB), -EINVAL);
	wb_io_close(io);
	wb_io_free(a);
}

struct order {
	int seq[16];
	int n;
};

static void order_done(struct wb_io_req *r, int res)
{
	struct order *o = r->priv;

	assert_int_equal(res, 4096);
	o->seq[o->n++] = (int)r->off / 4096;
}

/* A discard is a volatile write of zeroes (lost at a power cut unless
 * flushed; FUA: durable at once), and keeps its order against overlapping
 * requests even with reordered completions. */
static void test_fault_zeroing(void **state)
{
	struct wb_io *io = fopen_dev(MiB, 1000, 0, 0, 0, 3);

	(void)state;
	pw(io, 0, 1, 0);
	pw(io, 4096, 2, 0);
	assert_int_equal(wb_io_flush(io), 0);
	assert_int_equal(wb_io_zero(io, WB_IO_DISCARD, 0, 4096, 0), 0);
	assert_int_equal(wb_io_zero(io, WB_IO_WRITE_ZEROES, 4096, 4096, WB_IO_FUA), 0);
	assert_true(block_is(io, 0, 0, 0));    /* reads see zeroes */
	assert_true(block_is(io, 0, 1, 1));    /* not durable yet */
	assert_true(block_is(io, 4096, 0, 1)); /* FUA: durable */
	wb_io_fault_power_cut(io);
	wb_io_fault_power_on(io);
	assert_true(block_is(io, 0, 1, 0)); /* the unflushed discard was dropped */
	assert_true(block_is(io, 4096, 0, 0));
	wb_io_close(io);

	for (uint64_t seed = 1; seed <= 50; seed++) {
		uint8_t a[4096], b[4096];
		struct cnt c = {0, 0, 0};
		struct wb_io_req rq[4] = {
		    {.op = WB_IO_WRITE,
		     .len = 4096,
		     .off = 0,
		     .buf = a,
		     .done = cnt_done,
		     .priv = &c},
		    {.op = WB_IO_DISCARD, .len = 8192, .off = 0, .done = cnt_done, .priv = &c},
		    {.op = WB_IO_WRITE,
		     .len = 4096,
		     .off = 4096,
		     .buf = b,
		     .done = cnt_done,
		     .priv = &c},
		    {.op = WB_IO_READ,
		     .len = 4096,
		     .off = 8192,
		     .buf = a,
		     .done = cnt_done,
		     .priv = &c},
		};

		io = fopen_dev(MiB, 0, 0, 1, 1, seed);
		fill(a, 4096, 3);
		fill(b, 4096, 4);
		for (int k = 0; k < 4; k++)
			assert_int_equal(wb_io_submit(io, &rq[k]), 0);
		while (io->inflight)
			wb_io_reap(io, 1);
		assert_int_equal(c.err, 0);
		assert_true(block_is(io, 0, 0, 0));
		assert_true(block_is(io, 4096, 4, 0));
		wb_io_close(io);
	}
}

static void test_fault_batch_reorder(void **state)
{
	struct wb_io *io = fopen_dev(MiB, 0, 0, 1, 3, 5);
	uint8_t *buf = wb_io_alloc(16 * 4096);
	struct wb_io_req rq[16];
	struct order o = {.n = 0};
	struct pollfd pfd = {.fd = wb_io_fd(io), .events = POLLIN};
	int inorder = 1;

	(void)state;
	assert_int_equal(poll(&pfd, 1, 0), 0);
	for (int i = 0; i < 16; i++) {
		rq[i] = (struct wb_io_req){.op = WB_IO_READ,
					   .len = 4096,
					   .off = i * 4096ull,
					   .buf = buf + i * 4096,
					   .done = order_done,
					   .priv = &o};
		assert_int_equal(wb_io_submit(io, &rq[i]), 0);
	}
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_int_equal(wb_io_reap(io, 1), 3);
	assert_int_equal(o.n, 3);
	assert_int_equal(io->inflight, 13);
	while (io->inflight)
		assert_true(wb_io_reap(io, 0) <= 3);
	assert_int_equal(o.n, 16);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	for (int i = 0; i < 16; i++)
		if (o.seq[i] != i)
			inorder = 0;
	assert_false(inorder);
	wb_io_close(io);
	wb_io_free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_uring_roundtrip, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_many_iov, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_errors, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_tmpfs_fallback, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_exclusive, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_discard, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_zero_ordering, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_zero_fallback, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_fua_durable, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_uring_fua_write_fails, setup_tmp, teardown_tmp),
	    cmocka_unit_test(test_fault_flush_model),
	    cmocka_unit_test_setup_teardown(test_fault_file_backed, setup_tmp, teardown_tmp),
	    cmocka_unit_test(test_fault_flush_barrier),
	    cmocka_unit_test(test_fault_fua_supersedes),
	    cmocka_unit_test(test_fault_tear_and_determinism),
	    cmocka_unit_test(test_fault_power_off_and_fail_nth),
	    cmocka_unit_test(test_fault_zeroing),
	    cmocka_unit_test(test_fault_batch_reorder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
