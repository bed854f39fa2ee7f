// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_wblog.c - end-to-end tests of the wblog engine on the fault backend:
 * write/read/flush/reopen, reads split between log and backing, discard,
 * destage to backing (content of the backing device checked), a small log
 * that forces throttling and space reuse, power cuts with unflushed writes
 * (flushed data must survive, nothing invented), FUA, write-through mode,
 * apply_record seq checks (gap, idempotent re-apply, conflict), refusal of foreign/corrupt logs
 * (nothing written), I/O error -> failed state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/io.h"
#include "engine/ondisk.h"
#include "engine/pagebuf.h"
#include "engine/recovery.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"
#include "tests/unit/engine_fixture.h"

extern const struct wb_engine_ops wb_wblog_ops;

#define BS    EFX_BS
#define DEVSZ EFX_DEVSZ
#define NBLK  EFX_NBLK

struct env {
	struct efx f;	     /* engine + fault devices (engine_fixture.h) */
	uint32_t ver[NBLK];  /* model: version written to each block (0 = never) */
	uint32_t dver[NBLK]; /* version known durable (after flush) */
};

static void fill(uint8_t *b, uint64_t lba, uint32_t v)
{
	uint32_t i;

	for (i = 0; i < BS / 8; i++) {
		uint64_t x = (lba << 32) ^ v ^ ((uint64_t)i << 20);

		memcpy(b + i * 8, &x, 8);
	}
	if (v == 0)
		memset(b, 0, BS);
}

static uint32_t which(const uint8_t *b, uint64_t lba)
{
	uint64_t x;
	uint8_t z[BS] = {0};

	if (!memcmp(b, z, BS))
		return 0;
	memcpy(&x, b, 8);
	if ((x >> 32) != lba)
		return 0xffffffffu;
	{
		uint8_t chk[BS];

		fill(chk, lba, (uint32_t)x);
		if (memcmp(chk, b, BS))
			return 0xfffffffeu;
	}
	return (uint32_t)x;
}

static void env_init(struct env *v, uint64_t logsz, uint32_t seg, uint32_t ram)
{
	struct wb_fault_cfg lc = {.seed = 7, .drop_permille = 300, .tear_permille = 300};
	struct wb_fault_cfg bc = {.seed = 8, .drop_permille = 300, .tear_permille = 300};

	memset(v, 0, sizeof(*v));
	efx_devices(&v->f, "t", logsz, &lc, &bc);
	v->f.p.log_segment_size = seg;
	v->f.p.ram_pages = ram;
	efx_format_open(&v->f);
}

static void wr(struct env *v, uint64_t lba, uint32_t n, unsigned flags)
{
	uint8_t *b = malloc((size_t)n * BS);
	uint32_t i;

	assert_non_null(b);

	for (i = 0; i < n; i++) {
		v->ver[lba + i]++;
		fill(b + (size_t)i * BS, lba + i, v->ver[lba + i]);
	}
	assert_int_equal(wb_engine_write(v->f.e, b, n * BS, lba * BS, flags), 0);
	if (flags & WB_REQ_F_FUA)
		for (i = 0; i < n; i++)
			v->dver[lba + i] = v->ver[lba + i];
	free(b);
}

static void flush(struct env *v)
{
	assert_int_equal(wb_engine_flush(v->f.e), 0);
	memcpy(v->dver, v->ver, sizeof(v->ver));
}

static void check_all(struct env *v)
{
	uint8_t *b = malloc(DEVSZ);
	uint64_t i;

	/* odd, unaligned buffer on purpose: the engine bounces */
	assert_int_equal(wb_engine_read(v->f.e, b, DEVSZ, 0), 0);
	for (i = 0; i < NBLK; i++) {
		uint32_t got = which(b + i * BS, i);

		if (got != v->ver[i])
			fail_msg("block %llu: got version %u, expected %u", (unsigned long long)i,
				 got, v->ver[i]);
	}
	free(b);
}

/* The backing device (durable image if durable) holds exactly the model. */
static void check_backing(struct env *v, int durable)
{
	uint8_t *b = malloc(DEVSZ);
	uint64_t i;

	if (durable)
		assert_int_equal(wb_io_fault_peek(v->f.bak, 0, b, DEVSZ), 0);
	else
		assert_int_equal(wb_io_pread(v->f.bak, b, DEVSZ, 0), 0);
	for (i = 0; i < NBLK; i++) {
		uint32_t got = which(b + i * BS, i);

		if (got != v->ver[i])
			fail_msg("backing block %llu: version %u, expected %u",
				 (unsigned long long)i, got, v->ver[i]);
	}
	free(b);
}

static void test_write_read_reopen(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	int i;

	env_init(&v, 16u << 20, 0, 1024);
	wr(&v, 0, 1, 0);
	wr(&v, 5, 3, 0);
	wr(&v, 6, 1, 0); /* overlap */
	wr(&v, 1000, 24, 0);
	check_all(&v);
	flush(&v);
	for (i = 0; i < 200; i++)
		wr(&v, (uint64_t)(i * 37) % (NBLK - 4), 1 + i % 4, 0);
	check_all(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_true(st.writes >= 204);
	assert_true(st.log_used > 0);
	assert_int_equal(st.state, WB_STATE_OK);
	flush(&v);
	efx_reopen(&v.f);
	check_all(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_true(st.gen_head > 1);
	efx_fini(&v.f);
}

extern unsigned wbl_nomem_at; /* engine/wblog_int.h: allocation fault injection */

/*
 * Out of memory while sealing a record (its ring slot) or placing it (header
 * and iovec buffers): the engine fails loudly and the write completes with
 * -EIO at once; later writes fail too, reads still work. Before, placement
 * was retried on every pass (leaking the buffers each time, writers stalled
 * for good) and a failed ring push never completed the record's requests.
 * Leaks show in SAN=1 (LeakSanitizer).
 */
static void test_nomem_fails_engine(void **state)
{
	static const unsigned at[] = {1, 2}; /* 1: sealing, 2: placing */
	struct wb_engine_stats st;
	uint8_t b[BS];
	unsigned k;

	(void)state;
	for (k = 0; k < 2; k++) {
		struct env v;

		env_init(&v, 16u << 20, 0, 1024);
		wr(&v, 3, 2, 0);
		flush(&v);
		wbl_nomem_at = at[k];
		fill(b, 9, 1);
		assert_int_equal(wb_engine_write(v.f.e, b, BS, 9 * BS, 0), -EIO);
		assert_int_equal(wbl_nomem_at, 0); /* the injected failure was hit */
		assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
		assert_int_equal(st.state, WB_STATE_FAILED);
		assert_int_equal(wb_engine_write(v.f.e, b, BS, 10 * BS, 0), -EIO);
		assert_int_equal(wb_engine_read(v.f.e, b, BS, 3 * BS), 0);
		assert_int_equal(which(b, 3), v.ver[3]);
		efx_fini(&v.f);
	}
}

/* reads split between RAM pages, the log device and the backing device */
static void test_read_mixed_sources(void **state)
{
	struct env v;
	uint8_t *b = malloc(64 * BS);
	uint32_t i;

	env_init(&v, 16u << 20, 0, 64); /* tiny RAM: pages get evicted -> log reads */
	for (i = 0; i < 64; i++) {	/* backing content written directly */
		v.ver[100 + i] = 1000 + i;
		fill(b + (size_t)i * BS, 100 + i, 1000 + i);
	}
	assert_int_equal(wb_io_pwrite(v.f.bak, b, 64 * BS, 100 * BS, 0), 0);
	wr(&v, 102, 2, 0);
	wr(&v, 110, 5, 0);
	for (i = 0; i < 80; i++) /* evict the pages of the first records */
		wr(&v, 500 + i, 1, 0);
	wr(&v, 120, 1, 0);
	assert_int_equal(wb_engine_read(v.f.e, b, 64 * BS, 100 * BS), 0);
	for (i = 0; i < 64; i++)
		assert_int_equal(which(b + (size_t)i * BS, 100 + i), v.ver[100 + i]);
	check_all(&v);
	free(b);
	efx_fini(&v.f);
}

static void test_discard_zero(void **state)
{
	struct env v;
	struct wb_req r = {.op = WB_REQ_WRITE_ZEROES, .len = 8 * BS, .off = 10 * BS};
	uint32_t i;

	env_init(&v, 16u << 20, 0, 1024);
	wr(&v, 8, 12, 0);
	assert_int_equal(wb_engine_sync(v.f.e, &r), 0);
	for (i = 10; i < 18; i++)
		v.ver[i] = 0;
	check_all(&v);
	r.op = WB_REQ_DISCARD;
	r.off = 0;
	r.len = 4 * BS;
	wr(&v, 0, 4, 0);
	assert_int_equal(wb_engine_sync(v.f.e, &r), 0);
	for (i = 0; i < 4; i++)
		v.ver[i] = 0;
	wr(&v, 2, 1, 0);
	check_all(&v);
	flush(&v);
	efx_reopen(&v.f);
	check_all(&v);
	/* destaged too */
	efx_drain(&v.f);
	check_backing(&v, 1);
	efx_fini(&v.f);
}

/* A log much smaller than what is written: destage must free space (writers
 * throttled, never stuck), and at the end backing == model. */
static void test_small_log_destage(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	int i;

	env_init(&v, 1u << 20, 64u << 10, 256); /* data area: 15 segments of 64 KiB */
	for (i = 0; i < 3000; i++) {
		wr(&v, (uint64_t)(i * 7919) % (NBLK - 8), 1 + i % 8, 0);
		if (i % 100 == 99)
			flush(&v);
	}
	check_all(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_true(st.destaged_bytes > 0);
	assert_true(st.log_used <= st.log_size);
	flush(&v);
	efx_reopen(&v.f);
	check_all(&v);
	efx_drain(&v.f);
	check_backing(&v, 1);
	check_all(&v);
	efx_fini(&v.f);
}

/* Power cut: everything flushed (and every FUA write) survives, every other
 * block holds one of the versions written to it. Repeated many times. */
static void test_power_cut(void **state)
{
	int round;

	for (round = 0; round < 30; round++) {
		struct env v;
		uint8_t *b = malloc(DEVSZ);
		uint32_t lastver[NBLK];
		uint64_t i;
		int k;

		env_init(&v, (round % 2) ? (1u << 20) : (8u << 20), 64u << 10, 512);
		for (k = 0; k < 300 + round * 10; k++) {
			unsigned fl = (k % 17 == 0) ? WB_REQ_F_FUA : 0;

			wr(&v, (uint64_t)(k * 131 + round * 7) % (NBLK - 4), 1 + k % 4, fl);
			if (k % 50 == 49)
				flush(&v);
		}
		memcpy(lastver, v.ver, sizeof(lastver));
		/* also leave some writes in flight (submitted, never reaped) */
		wb_io_fault_power_cut(v.f.log);
		wb_io_fault_power_cut(v.f.bak);
		wb_engine_close(v.f.e); /* fails its I/O, must not hang or ack */
		v.f.e = NULL;
		wb_io_fault_power_on(v.f.log);
		wb_io_fault_power_on(v.f.bak);
		assert_int_equal(wb_wblog_ops.open(&v.f.p, &v.f.e), 0);
		assert_int_equal(wb_engine_read(v.f.e, b, DEVSZ, 0), 0);
		for (i = 0; i < NBLK; i++) {
			uint32_t got = which(b + i * BS, i);

			if (got > lastver[i] || got < v.dver[i])
				fail_msg("round %d block %llu: version %u, durable %u, last %u",
					 round, (unsigned long long)i, got, v.dver[i], lastver[i]);
			v.ver[i] = got;
		}
		/* the reopened engine works and survives another reopen */
		wr(&v, 3, 2, 0);
		flush(&v);
		efx_reopen(&v.f);
		check_all(&v);
		free(b);
		efx_fini(&v.f);
	}
}

static void test_refuse_foreign(void **state)
{
	struct env v;
	struct wb_engine *e2 = NULL;
	struct wb_io *other;
	uint8_t *img = malloc(BS), *img2 = malloc(BS);
	struct wb_fault_cfg cfg = {.seed = 1};
	uint64_t n0;

	env_init(&v, 8u << 20, 0, 256);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	/* size mismatch with the backing device */
	assert_int_equal(wb_io_fault_open("small", DEVSZ / 2, &cfg, &other), 0);
	v.f.p.backing_io = other;
	n0 = wb_io_fault_nsubmitted(v.f.log);
	assert_int_not_equal(wb_wblog_ops.open(&v.f.p, &e2), 0);
	v.f.p.backing_io = v.f.bak;
	/* corrupt every superblock slot */
	for (int s = 0; s < 4; s++) {
		assert_int_equal(wb_io_pread(v.f.log, img, BS, (uint64_t)s * BS), 0);
		img[100] ^= 0x55;
		assert_int_equal(wb_io_pwrite(v.f.log, img, BS, (uint64_t)s * BS, 0), 0);
	}
	n0 = wb_io_fault_nsubmitted(v.f.log);
	assert_int_equal(wb_wblog_ops.open(&v.f.p, &e2), -EUCLEAN);
	/* nothing but reads: the slot images are unchanged */
	assert_int_equal(wb_io_pread(v.f.log, img2, BS, 0), 0);
	assert_true(wb_io_fault_nsubmitted(v.f.log) > n0);
	assert_int_equal(wb_io_pread(v.f.log, img, BS, 0), 0);
	assert_memory_equal(img, img2, BS);
	/* zeroed device: not a wblog log */
	memset(img, 0, BS);
	for (int s = 0; s < 4; s++)
		assert_int_equal(wb_io_pwrite(v.f.log, img, BS, (uint64_t)s * BS, 0), 0);
	assert_int_equal(wb_wblog_ops.open(&v.f.p, &e2), -EPROTO);
	wb_io_close(other);
	free(img);
	free(img2);
	efx_fini(&v.f);
}

static int applied_err = 1;
static void apply_done(void *arg, int err)
{
	applied_err = err;
}

static void test_apply_record(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	struct wb_extent x[2];
	struct wb_record rec = {0};
	uint8_t *data = malloc(3 * BS);
	int i;

	env_init(&v, 8u << 20, 0, 256);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	for (i = 0; i < 3; i++)
		fill(data + (size_t)i * BS, i < 2 ? 40 + i : 90, 77);
	x[0] = (struct wb_extent){.lba = 40, .nblocks = 2, .crc = wb_crc32c(0, data, 2 * BS)};
	x[1] = (struct wb_extent){.lba = 90, .nblocks = 1, .crc = wb_crc32c(0, data + 2 * BS, BS)};
	rec.seq = st.seq_head + 1;
	rec.gen = st.gen_head;
	rec.nextents = 2;
	rec.ext = x;
	rec.data = data;
	rec.flags = WB_REC_F_GEN_END;
	assert_int_equal(v.f.e->ops->apply_record(v.f.e, &rec, apply_done, NULL), -ERANGE);
	rec.seq = st.seq_head;
	x[1].crc ^= 1;
	assert_int_equal(v.f.e->ops->apply_record(v.f.e, &rec, apply_done, NULL), -EBADMSG);
	x[1].crc ^= 1;
	assert_int_equal(v.f.e->ops->apply_record(v.f.e, &rec, apply_done, NULL), 0);
	for (i = 0; i < 1000 && applied_err == 1; i++)
		wb_engine_run(v.f.e, 1);
	assert_int_equal(applied_err, 0);
	v.ver[40] = v.ver[41] = v.ver[90] = 77;
	memcpy(v.dver, v.ver, sizeof(v.ver));
	check_all(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.seq_head, rec.seq + 1);
	assert_int_equal(st.gen_head, rec.gen + 1);
	rec.seq = st.seq_head - 1; /* replayed twice: idempotent, done() from run() */
	applied_err = 1;
	assert_int_equal(wb_engine_apply_record(v.f.e, &rec, apply_done, NULL), 0);
	assert_int_equal(applied_err, 1);
	for (i = 0; i < 1000 && applied_err == 1; i++)
		wb_engine_run(v.f.e, 1);
	assert_int_equal(applied_err, 0);
	x[0].lba++; /* same seq, other content: a conflict */
	assert_int_equal(wb_engine_apply_record(v.f.e, &rec, apply_done, NULL), -EEXIST);
	x[0].lba--;
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.seq_head, rec.seq + 1); /* nothing appended */
	/* durable: survives a power cut without a flush */
	wb_io_fault_power_cut(v.f.log);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	wb_io_fault_power_on(v.f.log);
	efx_reopen(&v.f);
	check_all(&v);
	free(data);
	efx_fini(&v.f);
}

/* An I/O error on a record write: the write fails, the engine refuses more. */
static void test_io_error_fails(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	uint8_t b[BS];

	env_init(&v, 8u << 20, 0, 256);
	wr(&v, 1, 1, 0);
	wb_io_fault_fail_nth(v.f.log, WB_IO_WRITE, 0, -EIO);
	fill(b, 2, 1);
	assert_int_equal(wb_engine_write(v.f.e, b, BS, 2 * BS, 0), -EIO);
	assert_int_equal(wb_engine_write(v.f.e, b, BS, 3 * BS, 0), -EIO);
	assert_int_equal(wb_engine_flush(v.f.e), -EIO);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.state, WB_STATE_FAILED);
	/* reads still work */
	assert_int_equal(wb_engine_read(v.f.e, b, BS, BS), 0);
	assert_int_equal(which(b, 1), 1);
	efx_fini(&v.f);
}

/* Write-through: an acked write is already on the (durable) backing device. */
/*
 * Many writes queued at once with a RAM buffer far smaller than them: the
 * writers are throttled (admission waits for pages), and every request must
 * still complete exactly once, in any order, with the data readable after.
 * Regression: a request joined its record's queue while still linked in the
 * admission queue, which cut off every request queued behind it.
 */
struct qw {
	struct wb_req r;
	int *done;
	int err;
};

static void qw_done(struct wb_req *r, int err)
{
	struct qw *q = (struct qw *)r;

	q->err = err;
	(*q->done)++;
}

static void test_throttled_queue(void **state)
{
	struct env v;
	enum { NQ = 48, QB = 6 };
	struct qw q[NQ];
	uint8_t *bufs = malloc((size_t)NQ * QB * BS);
	int done = 0, i, spins = 0;

	env_init(&v, 8u << 20, 256 << 10, 8); /* 8 RAM pages, requests of 6 blocks */
	for (i = 0; i < NQ; i++) {
		uint64_t lba = (uint64_t)(i * 7 % (NBLK / QB)) * QB;
		uint32_t k;

		for (k = 0; k < QB; k++) {
			v.ver[lba + k]++;
			fill(bufs + ((size_t)i * QB + k) * BS, lba + k, v.ver[lba + k]);
		}
		memset(&q[i], 0, sizeof(q[i]));
		q[i].done = &done;
		q[i].err = 1;
		q[i].r.op = WB_REQ_WRITE;
		q[i].r.off = lba * BS;
		q[i].r.len = QB * BS;
		q[i].r.buf = bufs + (size_t)i * QB * BS;
		q[i].r.done = qw_done;
		assert_int_equal(wb_engine_submit(v.f.e, &q[i].r), 0);
	}
	while (done < NQ && spins++ < 100000)
		assert_true(wb_engine_run(v.f.e, 1) >= 0);
	assert_int_equal(done, NQ);
	for (i = 0; i < NQ; i++)
		assert_int_equal(q[i].err, 0);
	check_all(&v);
	free(bufs);
	efx_fini(&v.f);
}

/*
 * ram-buffer is a hard limit: a write larger than the free RAM buffer is not
 * copied privately; the engine borrows the caller's buffer until admitted()
 * (called once, before done). Blocks that were not yet admitted when submit
 * returned are read from the buffer later: changing them in between shows.
 */
struct bw {
	struct wb_req r;
	int admitted, done, admitted_before_done, err;
};

static void bw_admitted(struct wb_req *r)
{
	((struct bw *)r)->admitted++;
}

static void bw_done(struct wb_req *r, int err)
{
	struct bw *q = (struct bw *)r;

	q->admitted_before_done = q->admitted == 1;
	q->done++;
	q->err = err;
}

static void test_throttled_write_borrows_buf(void **state)
{
	struct env v;
	enum { N = 16 };
	uint8_t *b = malloc((size_t)N * BS), *rb = malloc(BS);
	struct bw q;
	int i, k;

	(void)state;
	env_init(&v, 8u << 20, 256 << 10, 8); /* 8 RAM pages, a 16-block write */
	for (k = 0; k < N; k++)
		fill(b + (size_t)k * BS, k, 1);
	memset(&q, 0, sizeof(q));
	q.r.op = WB_REQ_WRITE;
	q.r.off = 0;
	q.r.len = N * BS;
	q.r.buf = b;
	q.r.done = bw_done;
	q.r.admitted = bw_admitted;
	assert_int_equal(wb_engine_submit(v.f.e, &q.r), 0);
	assert_int_equal(q.admitted, 0); /* 16 blocks do not fit in 8 pages */
	for (k = 0; k < N; k++)		 /* the caller changes its (borrowed) buffer */
		fill(b + (size_t)k * BS, k, 2);
	for (i = 0; i < 100000 && !q.done; i++)
		assert_true(wb_engine_run(v.f.e, 1) >= 0);
	assert_int_equal(q.done, 1);
	assert_int_equal(q.err, 0);
	assert_int_equal(q.admitted, 1);
	assert_true(q.admitted_before_done);
	assert_int_equal(wb_engine_read(v.f.e, rb, BS, 0), 0);
	assert_int_equal(which(rb, 0), 1); /* admitted during submit */
	assert_int_equal(wb_engine_read(v.f.e, rb, BS, (N - 1) * BS), 0);
	assert_int_equal(which(rb, N - 1), 2); /* read from the buffer later: no copy */
	free(b);
	free(rb);
	efx_fini(&v.f);
}

/*
 * Close only makes the log durable (here: one unflushed write): it finishes
 * what is in flight but starts no destage batch, so the dirty data stays in the log; reopen replays
 * it and reads return it. Min rate 1 B/s, below the low watermark: after the first (allowance)
 * batch nothing is destaged while the engine runs either.
 */
static void test_close_keeps_log(void **state)
{
	struct env v;
	struct wb_engine_stats st, a;
	uint64_t lba;
	int i, same = 0;

	(void)state;
	env_init(&v, 16u << 20, 0, 1024);
	v.f.p.destage_min_rate = 1;
	efx_reopen(&v.f);
	for (lba = 0; lba < 256; lba += 8) /* 1 MiB, below the 10% low watermark */
		wr(&v, lba, 8, 0);
	flush(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &a), 0);
	for (i = 0; i < 100000 && same < 1000; i++) {
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
		assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
		same = st.destaged_bytes == a.destaged_bytes ? same + 1 : 0;
		a = st;
	}
	assert_true(st.dirty_bytes >= (512u << 10));
	/* one more write, not flushed: close must make it durable */
	wr(&v, 400, 8, 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	efx_reopen(&v.f);
	assert_int_equal(wb_engine_stats(v.f.e, &a), 0);
	assert_int_equal(a.dirty_bytes, st.dirty_bytes); /* close destaged nothing */
	check_all(&v);
	wr(&v, 300, 4, 0);
	check_all(&v);
	efx_drain(&v.f);
	check_backing(&v, 1);
	efx_fini(&v.f);
}

/*
 * Doorbell: once the engine is quiet its fd is not readable; every submit
 * must make it readable again (wbl_kick skips the eventfd write only while
 * a kick is pending, and run() clears that before reading the eventfd).
 */
static void test_kick_wakes(void **state)
{
	struct env v;
	struct qw q;
	uint8_t *b = malloc(4 * BS);
	struct pollfd pfd;
	int done, round, i;
	uint32_t k;

	(void)state;
	env_init(&v, 16u << 20, 0, 1024);
	v.f.p.destage_min_rate = 1; /* no destage timer activity after the first batch */
	efx_reopen(&v.f);
	pfd.fd = wb_engine_fd(v.f.e);
	pfd.events = POLLIN;
	assert_true(pfd.fd >= 0);
	for (round = 0; round < 4; round++) {
		/* quiet: run until the fd is no longer readable */
		for (i = 0; i < 100000 && poll(&pfd, 1, 0) > 0; i++)
			assert_true(wb_engine_run(v.f.e, 0) >= 0);
		assert_int_equal(poll(&pfd, 1, 0), 0);
		for (k = 0; k < 4; k++) {
			v.ver[round * 8 + k]++;
			fill(b + k * BS, round * 8 + k, v.ver[round * 8 + k]);
		}
		done = 0;
		memset(&q, 0, sizeof(q));
		q.done = &done;
		q.err = 1;
		q.r.op = WB_REQ_WRITE;
		q.r.off = (uint64_t)round * 8 * BS;
		q.r.len = 4 * BS;
		q.r.buf = b;
		q.r.done = qw_done;
		assert_int_equal(wb_engine_submit(v.f.e, &q.r), 0);
		assert_int_equal(poll(&pfd, 1, 0), 1); /* the submit rang the doorbell */
		for (i = 0; i < 100000 && !done; i++)
			assert_true(wb_engine_run(v.f.e, 1) >= 0);
		assert_int_equal(done, 1);
		assert_int_equal(q.err, 0);
	}
	check_all(&v);
	free(b);
	efx_fini(&v.f);
}

/*
 * ABI 8: a write that carries its blocks' crcs (computed by the frontend,
 * WB_REQ crcs) is sealed with them combined into the extent crcs, not
 * recomputed: adjacent writes merged into one extent, reopened, every
 * record passes recovery's data check. A wrong block crc is therefore
 * written as given, and the reopen finds the record corrupt. Also
 * WB_REQ_F_RUN_AFTER: the submit does not ring the doorbell, the caller's
 * run completes the write.
 */
static void submit_crcs(struct env *v, uint64_t lba, uint32_t n, uint32_t bad, unsigned flags)
{
	uint8_t *b = malloc((size_t)n * BS);
	uint32_t *crcs = malloc(n * sizeof(*crcs));
	struct qw q;
	int done = 0, i;

	assert_non_null(b);
	assert_non_null(crcs);
	for (uint32_t k = 0; k < n; k++) {
		v->ver[lba + k]++;
		fill(b + (size_t)k * BS, lba + k, v->ver[lba + k]);
		crcs[k] = wb_crc32c(0, b + (size_t)k * BS, BS) ^ (k + 1 == bad);
	}
	memset(&q, 0, sizeof(q));
	q.done = &done;
	q.err = 1;
	q.r.op = WB_REQ_WRITE;
	q.r.flags = (uint16_t)flags;
	q.r.off = lba * BS;
	q.r.len = n * BS;
	q.r.buf = b;
	q.r.crcs = crcs;
	q.r.done = qw_done;
	if (flags & WB_REQ_F_RUN_AFTER) {
		struct pollfd pfd = {.fd = wb_engine_fd(v->f.e), .events = POLLIN};

		/* quiet first (what the last run left to its doorbell) */
		for (i = 0; i < 100000 && poll(&pfd, 1, 0) > 0; i++)
			assert_true(wb_engine_run(v->f.e, 0) >= 0);
		assert_int_equal(wb_engine_submit(v->f.e, &q.r), 0);
		assert_int_equal(poll(&pfd, 1, 0), 0); /* no doorbell: the caller runs */
	} else {
		assert_int_equal(wb_engine_submit(v->f.e, &q.r), 0);
	}
	for (i = 0; i < 100000 && !done; i++)
		assert_true(wb_engine_run(v->f.e, 1) >= 0);
	assert_int_equal(done, 1);
	assert_int_equal(q.err, 0);
	free(crcs);
	free(b);
}

/*
 * ABI 9: writes in RAM-buffer pages that the frontend reserved and filled
 * (on its own thread in wbrepd; here on the test's). The engine takes the
 * pages without a copy; the data reads back, survives a reopen (recovery
 * checks the crcs the filler set), and the pages are the engine's from the
 * submit on: put when the engine failed, the caller's when submit refused.
 * A reservation that finds the buffer full marks it starved and makes the
 * engine's fd readable; run() evicts written records' pages and calls the
 * notify hook once the reservation fits.
 */
static int pages_notified;
static void pages_notify(void *arg)
{
	(void)arg;
	pages_notified++;
}

static int submit_pages(struct env *v, uint64_t lba, uint32_t n)
{
	struct wb_pagebuf *pb = wb_engine_pagebuf(v->f.e);
	struct wb_page *pg[16];
	struct qw q;
	int done = 0, i, ret;

	assert_true(n <= 16);
	/* a full buffer: the engine evicts once its run sees the starved mark */
	for (i = 0; (ret = wb_pagebuf_reserve(pb, n, pg)) == -EAGAIN && i < 1000; i++)
		assert_true(wb_engine_run(v->f.e, 0) >= 0);
	assert_int_equal(ret, 0);
	for (uint32_t k = 0; k < n; k++) {
		v->ver[lba + k]++;
		fill(pg[k]->data, lba + k, v->ver[lba + k]);
		pg[k]->crc = wb_crc32c(0, pg[k]->data, BS);
		pg[k]->crc_ok = 1;
	}
	memset(&q, 0, sizeof(q));
	q.done = &done;
	q.err = 1;
	q.r.op = WB_REQ_WRITE;
	q.r.off = lba * BS;
	q.r.len = n * BS;
	q.r.pages = pg;
	q.r.done = qw_done;
	assert_int_equal(wb_engine_submit(v->f.e, &q.r), 0);
	for (i = 0; i < 100000 && !done; i++)
		assert_true(wb_engine_run(v->f.e, 1) >= 0);
	assert_int_equal(done, 1);
	return q.err;
}

static void test_page_writes(void **state)
{
	struct env v;
	struct wb_pagebuf *pb;
	struct wb_page *pg[16];
	struct pollfd pfd;
	struct qw q;
	int done = 0, i;

	(void)state;
	env_init(&v, 16u << 20, 0, 64);
	v.f.p.destage_min_rate = WB_DESTAGE_RATE_NONE;
	efx_reopen(&v.f);
	pb = wb_engine_pagebuf(v.f.e);
	assert_non_null(pb);
	for (i = 0; i < 20; i++)
		assert_int_equal(submit_pages(&v, (uint64_t)i * 5, 4), 0);
	wr(&v, 300, 2, 0); /* copied by the engine: both kinds side by side */
	check_all(&v);
	flush(&v);
	efx_reopen(&v.f);
	check_all(&v);

	/* fill the buffer with written records' pages (kept as read cache) */
	pb = wb_engine_pagebuf(v.f.e);
	wb_pagebuf_set_notify(pb, pages_notify, NULL);
	pages_notified = 0;
	wr(&v, 400, 60, 0);
	assert_true(wb_pagebuf_free(pb) < 16);
	assert_int_equal(wb_pagebuf_reserve(pb, 16, pg), -EAGAIN);
	assert_int_equal(wb_pagebuf_starved(pb), 16);
	pfd.fd = wb_engine_fd(v.f.e);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 1000), 1); /* woken */
	assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_int_equal(pages_notified, 1);
	assert_int_equal(wb_pagebuf_starved(pb), 0);
	assert_true(wb_pagebuf_free(pb) >= 16 + 64 / 8);
	assert_int_equal(submit_pages(&v, 500, 16), 0);
	check_all(&v);

	/* refused by submit: the pages stay the caller's */
	assert_int_equal(wb_pagebuf_reserve(pb, 2, pg), 0);
	memset(&q, 0, sizeof(q));
	q.done = &done;
	q.r.op = WB_REQ_WRITE;
	q.r.off = DEVSZ; /* past the end */
	q.r.len = 2 * BS;
	q.r.pages = pg;
	q.r.done = qw_done;
	assert_int_equal(wb_engine_submit(v.f.e, &q.r), -EINVAL);
	wb_pagebuf_release(pb, pg, 2);

	/* pages still held when the engine closes: the buffer outlives it for
	 * the holder's reference (ASan: no use after free, no leak) */
	wb_pagebuf_ref(pb);
	assert_int_equal(wb_pagebuf_reserve(pb, 3, pg), 0);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	wb_pagebuf_release(pb, pg, 3);
	wb_pagebuf_unref(pb);
	efx_reopen(&v.f);
	check_all(&v);

	/* a failed engine puts the pages of a write it takes (the model
	 * forgets the version: the write failed) */
	pb = wb_engine_pagebuf(v.f.e);
	wb_io_fault_fail_nth(v.f.log, WB_IO_WRITE, 0, -EIO);
	assert_int_equal(submit_pages(&v, 600, 2), -EIO);
	v.ver[600]--;
	v.ver[601]--;
	{
		uint32_t before = wb_pagebuf_free(pb);

		assert_int_equal(submit_pages(&v, 610, 3), -EIO);
		v.ver[610]--;
		v.ver[611]--;
		v.ver[612]--;
		assert_int_equal(wb_pagebuf_free(pb), before);
	}
	efx_fini(&v.f);
}

static void test_frontend_crcs(void **state)
{
	struct env v;
	struct wb_engine *e2 = NULL;
	int i;

	(void)state;
	env_init(&v, 16u << 20, 0, 1024);
	v.f.p.destage_min_rate = WB_DESTAGE_RATE_NONE; /* the records stay in the log */
	efx_reopen(&v.f);
	for (i = 0; i < 40; i++)
		submit_crcs(&v, (uint64_t)i * 3, 3, 0, i % 2 ? WB_REQ_F_RUN_AFTER : 0);
	wr(&v, 500, 4, 0); /* no crcs: computed by the engine, same record kind */
	submit_crcs(&v, 504, 4, 0, 0);
	flush(&v);
	efx_reopen(&v.f);
	check_all(&v);

	/* block 2 of 4 with a wrong crc: the record is corrupt on disk */
	submit_crcs(&v, 700, 4, 2, 0);
	flush(&v);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	assert_int_equal(wb_wblog_ops.open(&v.f.p, &e2), -EUCLEAN);
	efx_fini(&v.f);
}

/*
 * A flush whose target is already durable (a FUA write flushed the log
 * first) completes at once; the generation it closes must still be reported
 * durable. Regression: gen_durable moved only in the log-flush completion.
 */
static void test_gen_durable_after_fua(void **state)
{
	struct env v;
	struct wb_engine_stats st;

	env_init(&v, 8u << 20, 256 << 10, 0);
	wr(&v, 10, 1, WB_REQ_F_FUA);
	flush(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_true(st.gen_head >= 2);
	assert_int_equal(st.gen_durable, st.gen_head - 1);
	wr(&v, 11, 1, 0);
	flush(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.gen_durable, st.gen_head - 1);
	check_all(&v);
	efx_fini(&v.f);
}

/* A flush whose generation was wholly destaged before it (the log is empty)
 * still makes the generation's end durable: after a power cut the engine
 * reports it durable and does not reuse its number. */
static void test_gen_end_after_destage(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	uint64_t flushed;

	env_init(&v, 8u << 20, 256 << 10, 0);
	wr(&v, 10, 1, 0);
	efx_drain(&v.f);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.dirty_bytes, 0);
	flushed = st.gen_head;
	flush(&v);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_true(st.gen_head > flushed);
	assert_true(st.gen_durable >= flushed);
	wb_io_fault_power_cut(v.f.log);
	wb_io_fault_power_cut(v.f.bak);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	wb_io_fault_power_on(v.f.log);
	wb_io_fault_power_on(v.f.bak);
	assert_int_equal(wb_wblog_ops.open(&v.f.p, &v.f.e), 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	if (st.gen_durable < flushed || st.gen_head <= flushed)
		fail_msg("after the power cut: head %llu durable %llu, generation %llu was flushed",
			 (unsigned long long)st.gen_head, (unsigned long long)st.gen_durable,
			 (unsigned long long)flushed);
	check_all(&v);
	efx_fini(&v.f);
}

static void test_writethrough(void **state)
{
	struct env v;

	env_init(&v, 8u << 20, 0, 256);
	wr(&v, 10, 4, 0);
	assert_int_equal(v.f.e->ops->set_mode(v.f.e, WB_MODE_WRITETHROUGH), 0);
	wr(&v, 20, 2, 0);
	check_backing(&v, 1);
	wr(&v, 10, 1, 0);
	check_backing(&v, 1);
	assert_int_equal(v.f.e->ops->set_mode(v.f.e, WB_MODE_WRITEBACK), 0);
	efx_fini(&v.f);
}

struct gen_seen {
	uint64_t gen[64], lba[64];
	uint32_t flags[64];
	unsigned n;
};

static int gen_cb(void *arg, const struct wb_rec_info *ri, uint64_t span, const void *data)
{
	struct gen_seen *g = arg;

	(void)span;
	(void)data;
	if (g->n < 64) {
		g->gen[g->n] = ri->gen;
		g->lba[g->n] = ri->ext[0].lba;
		g->flags[g->n] = ri->flags;
		g->n++;
	}
	return 0;
}

/* gen_max_interval_ms closes a generation without any flush; an idle engine
 * (no data in the open generation) does not open empty ones. */
static void test_gen_interval(void **state)
{
	struct env v;
	struct wb_engine_stats st;
	struct wb_recovery rc;
	struct gen_seen g = {.n = 0};
	struct wb_sb sb;
	uint64_t g0;
	char err[256];
	int t, i;

	(void)state;
	env_init(&v, 8u << 20, 0, 256);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	v.f.p.gen_max_interval_ms = 20;
	v.f.p.destage_min_rate = 1; /* keep the records in the log to look at them */
	v.f.p.destage_low_pct = 90;
	efx_reopen(&v.f);
	/* spend destage's initial rate allowance on a first record */
	wr(&v, 0, 1, 0);
	flush(&v);
	for (i = 0; i < 1000; i++)
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.dirty_bytes, 0);
	g0 = st.gen_head;
	assert_int_equal(wb_engine_timeout_ms(v.f.e) < 0 || wb_engine_timeout_ms(v.f.e) > 20, 1);
	wr(&v, 1, 1, 0);
	t = wb_engine_timeout_ms(v.f.e);
	assert_true(t >= 0 && t <= 20); /* the run loop is asked to come back */
	usleep(30 * 1000);
	for (i = 0; i < 10; i++)
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.gen_head, g0 + 1); /* closed by the timer, no flush */
	assert_int_equal(st.flushes, 1);
	wr(&v, 2, 1, 0);
	flush(&v); /* closes g0 + 1 */
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.gen_head, g0 + 2);
	usleep(30 * 1000); /* nothing written: no empty generation */
	for (i = 0; i < 10; i++)
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_int_equal(wb_engine_stats(v.f.e, &st), 0);
	assert_int_equal(st.gen_head, g0 + 2);
	assert_int_equal(st.gen_durable, g0 + 1);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	/* on disk: the two records carry the two generations */
	assert_int_equal(wb_sb_load(v.f.log, &sb, err, sizeof(err)), 0);
	assert_int_equal(wb_recovery_scan(v.f.log, &sb, NBLK, gen_cb, &g, &rc), 0);
	assert_int_equal(g.n, 2);
	assert_true(g.lba[0] == 1 && g.gen[0] == g0);
	assert_true(g.lba[1] == 2 && g.gen[1] == g0 + 1);
	efx_reopen(&v.f);
	check_all(&v);
	efx_fini(&v.f);
}

static struct wb_io *ackmem_log;
static unsigned ackmem_inflight;
static void ackmem_done(struct wb_req *r, int err)
{
	ackmem_inflight = ackmem_log->inflight;
	qw_done(r, err);
}

/*
 * ack = memory: a write completes while its log write is still queued on
 * the device, reads see it at once, a flush makes it durable, and without
 * any flush the log-commit timer makes it durable within log_commit_ms
 * (checked by a power cut after the timer fired).
 */
static void test_ack_memory(void **state)
{
	struct env v;
	struct qw q;
	uint8_t *b = malloc(BS), *rb = malloc(BS);
	int done, i;

	(void)state;
	env_init(&v, 8u << 20, 0, 256);
	v.f.p.ack_memory = 1;
	v.f.p.log_commit_ms = 20;
	v.f.p.destage_min_rate = 1;
	efx_reopen(&v.f);
	v.ver[5]++;
	fill(b, 5, v.ver[5]);
	done = 0;
	memset(&q, 0, sizeof(q));
	q.done = &done;
	q.err = 1;
	q.r.op = WB_REQ_WRITE;
	q.r.off = 5 * BS;
	q.r.len = BS;
	q.r.buf = b;
	q.r.done = ackmem_done;
	ackmem_log = v.f.log;
	assert_int_equal(wb_engine_submit(v.f.e, &q.r), 0);
	for (i = 0; i < 10 && !done; i++)
		assert_true(wb_engine_run(v.f.e, 0) >= 0);
	assert_int_equal(done, 1);
	assert_int_equal(q.err, 0);
	/* acked before its log write completed (seen from done(): a run that
	 * does not wait may go on and reap the write in the same call) */
	assert_true(ackmem_inflight > 0);
	assert_int_equal(wb_engine_read(v.f.e, rb, BS, 5 * BS), 0);
	assert_int_equal(which(rb, 5), v.ver[5]);
	flush(&v);

	/* no flush: the commit timer must make the next writes durable (20
	 * records: without it, a power cut would drop or tear some of them) */
	for (i = 0; i < 20; i++)
		wr(&v, 100 + (uint64_t)i * 3, 1, 0);
	{
		struct timespec ts0, ts;

		clock_gettime(CLOCK_MONOTONIC, &ts0);
		do { /* run(1) may sleep on the destage timer: poll instead */
			assert_true(wb_engine_run(v.f.e, 0) >= 0);
			usleep(1000);
			clock_gettime(CLOCK_MONOTONIC, &ts);
		} while ((ts.tv_sec - ts0.tv_sec) * 1000 + (ts.tv_nsec - ts0.tv_nsec) / 1000000 <
			 200);
	}
	wb_io_fault_power_cut(v.f.log);
	wb_io_fault_power_cut(v.f.bak);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	wb_io_fault_power_on(v.f.log);
	wb_io_fault_power_on(v.f.bak);
	assert_int_equal(wb_wblog_ops.open(&v.f.p, &v.f.e), 0);
	check_all(&v);
	free(b);
	free(rb);
	efx_fini(&v.f);
}

/* wblog refuses engine options (it has none) and a bad ack_memory value */
static void test_bad_params(void **state)
{
	struct env v;
	struct wb_engine *e2 = NULL;
	struct wb_engine_params p;

	(void)state;
	env_init(&v, 8u << 20, 0, 256);
	wb_engine_close(v.f.e);
	v.f.e = NULL;
	p = v.f.p;
	p.options = "foo=1";
	assert_int_equal(wb_wblog_ops.open(&p, &e2), -EINVAL);
	p = v.f.p;
	p.ack_memory = 2;
	assert_int_equal(wb_wblog_ops.open(&p, &e2), -EINVAL);
	assert_null(e2);
	efx_fini(&v.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_read_reopen),
	    cmocka_unit_test(test_read_mixed_sources),
	    cmocka_unit_test(test_discard_zero),
	    cmocka_unit_test(test_small_log_destage),
	    cmocka_unit_test(test_power_cut),
	    cmocka_unit_test(test_refuse_foreign),
	    cmocka_unit_test(test_apply_record),
	    cmocka_unit_test(test_io_error_fails),
	    cmocka_unit_test(test_writethrough),
	    cmocka_unit_test(test_throttled_queue),
	    cmocka_unit_test(test_gen_interval),
	    cmocka_unit_test(test_gen_durable_after_fua),
	    cmocka_unit_test(test_gen_end_after_destage),
	    cmocka_unit_test(test_close_keeps_log),
	    cmocka_unit_test(test_kick_wakes),
	    cmocka_unit_test(test_frontend_crcs),
	    cmocka_unit_test(test_page_writes),
	    cmocka_unit_test(test_throttled_write_borrows_buf),
	    cmocka_unit_test(test_nomem_fails_engine),
	    cmocka_unit_test(test_ack_memory),
	    cmocka_unit_test(test_bad_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
