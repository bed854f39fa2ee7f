// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_repair.c - the wblog engine's read repair check (engine ABI 15 op
 * repair_mask, docs/engine.md "Read repair"): a copy of blocks made as of
 * since_seq may be written back only where nothing newer covers them. Newer
 * records in the log leave their blocks out, older ones do not; a write
 * admitted and not yet placed (the open batch, a write waiting for RAM
 * pages) leaves its blocks out; once a record of seq >= since_seq was
 * destaged the engine cannot tell (-ESTALE); bad arguments are refused;
 * a record sealed and waiting for log space leaves its blocks out; and a
 * write of the blocks the mask allows, submitted right after,
 * never hides a newer write (the read back gives the newest data).
 *
 * And destage's side of it (engine ABI 17 hook log_unreadable and op
 * destage_fill, docs/engine.md "A log block destage cannot read"): a log
 * read destage needs fails, the host is told the blocks and hands a copy
 * back (a peer's), which destage writes to the backing device; blocks a
 * newer durable record covers are left to it instead; a read that fails
 * once is read again and goes on without either; no copy within the time
 * fails the engine; a close meanwhile is clean and the records replay; a
 * host that cannot help fails it at once; without the hook it fails at
 * once, as always.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/io.h"
#include "engine/superblock.h"
#include "engine/wbengine.h"
#include "tests/unit/engine_fixture.h"

static uint64_t seq_head(struct efx *f)
{
	struct wb_engine_stats st;

	assert_int_equal(wb_engine_stats(f->e, &st), 0);
	return st.seq_head;
}

static void write_blks(struct efx *f, uint64_t blk, uint32_t n, int fill)
{
	uint8_t *buf = malloc((size_t)n * EFX_BS);

	assert_non_null(buf);
	memset(buf, fill, (size_t)n * EFX_BS);
	assert_int_equal(wb_engine_write(f->e, buf, n * EFX_BS, blk * EFX_BS, 0), 0);
	free(buf);
}

static int read_fill(struct efx *f, uint64_t blk)
{
	uint8_t buf[EFX_BS];

	assert_int_equal(wb_engine_read(f->e, buf, EFX_BS, blk * EFX_BS), 0);
	for (unsigned i = 1; i < EFX_BS; i++)
		if (buf[i] != buf[0])
			return -1;
	return buf[0];
}

static uint64_t mask_of(struct efx *f, uint64_t blk, uint32_t n, uint64_t since)
{
	uint64_t m = 0xdead;

	assert_int_equal(wb_engine_repair_mask(f->e, blk, n, since, &m), 0);
	return m;
}

static void req_done(struct wb_req *r, int err)
{
	int *done = r->priv;

	*done = err ? err : 1;
}

static void test_mask(void **state)
{
	uint64_t s0, s1, m;
	struct efx f;

	(void)state;
	efx_devices(&f, "repair", 8u << 20, NULL, NULL);
	efx_format_open(&f);
	write_blks(&f, 0, 4, 1); /* blocks 0-3 in the log */
	s0 = seq_head(&f);
	/* a copy as of now: nothing newer anywhere, every block may go back */
	assert_int_equal(mask_of(&f, 0, 8, s0), 0xff);
	assert_int_equal(mask_of(&f, 0, 64, s0), ~0ull);
	/* a copy older than the record of blocks 0-3: those stay out */
	assert_int_equal(mask_of(&f, 0, 8, s0 - 1), 0xf0);
	write_blks(&f, 2, 1, 2);
	s1 = seq_head(&f);
	assert_int_equal(mask_of(&f, 0, 8, s0), 0xfb);
	assert_int_equal(mask_of(&f, 0, 8, s1), 0xff);
	/* the range is relative to lba: block 2 is bit 0 here */
	assert_int_equal(mask_of(&f, 2, 3, s0), 0x6);
	/* bad arguments */
	assert_int_equal(wb_engine_repair_mask(f.e, 0, 0, s1, &m), -EINVAL);
	assert_int_equal(wb_engine_repair_mask(f.e, 0, 65, s1, &m), -EINVAL);
	assert_int_equal(wb_engine_repair_mask(f.e, EFX_NBLK - 1, 2, s1, &m), -EINVAL);
	assert_int_equal(wb_engine_repair_mask(f.e, EFX_NBLK, 1, s1, &m), -EINVAL);
	assert_int_equal(mask_of(&f, EFX_NBLK - 1, 1, s1), 1);
	/* destaged: blocks of records >= s0 left the map, nothing to tell by */
	efx_drain(&f);
	assert_int_equal(wb_engine_repair_mask(f.e, 0, 8, s0, &m), -ESTALE);
	assert_int_equal(m, 0);
	assert_int_equal(mask_of(&f, 0, 8, seq_head(&f)), 0xff);
	efx_fini(&f);
}

/* A write the engine took but has not placed yet (open batch, or waiting
 * for RAM pages) has no seq and is not in the map: its blocks stay out. */
static void test_pending(void **state)
{
	uint8_t *big, one[EFX_BS];
	struct wb_req r1 = {0}, r2 = {0};
	int d1 = 0, d2 = 0, ret;
	uint64_t s, m;
	struct efx f;

	(void)state;
	efx_devices(&f, "repairp", 8u << 20, NULL, NULL);
	f.p.ram_pages = 64;
	efx_format_open(&f);
	s = seq_head(&f);
	memset(one, 7, sizeof(one));
	r1.op = WB_REQ_WRITE;
	r1.off = 10 * EFX_BS;
	r1.len = EFX_BS;
	r1.buf = one;
	r1.done = req_done;
	r1.priv = &d1;
	assert_int_equal(wb_engine_submit(f.e, &r1), 0);
	/* submitted, the engine not run: in the open batch */
	assert_int_equal(mask_of(&f, 8, 4, s), 0xb);
	/* more than the RAM buffer holds: the rest waits for pages */
	big = malloc(256 * EFX_BS);
	assert_non_null(big);
	memset(big, 8, 256 * EFX_BS);
	r2.op = WB_REQ_WRITE;
	r2.off = 100 * EFX_BS;
	r2.len = 256 * EFX_BS;
	r2.buf = big;
	r2.done = req_done;
	r2.priv = &d2;
	assert_int_equal(wb_engine_submit(f.e, &r2), 0);
	assert_int_equal(mask_of(&f, 300, 64, s), 0xff00000000000000ull); /* 300..355: r2 */
	assert_int_equal(mask_of(&f, 360, 4, s), 0xf);
	for (int i = 0; i < 10000 && (!d1 || !d2); i++)
		wb_engine_run(f.e, 1);
	assert_int_equal(d1, 1);
	assert_int_equal(d2, 1);
	free(big);
	/* placed now: left out by seq (or destaged already: the small RAM
	 * buffer made destage run) */
	ret = wb_engine_repair_mask(f.e, 8, 4, s, &m);
	assert_true(ret == -ESTALE || (ret == 0 && m == 0xb));
	assert_int_equal(mask_of(&f, 8, 4, seq_head(&f)), 0xf);
	efx_fini(&f);
}

/* A sealed record that waits for log space (destage cannot free any: its
 * backing write is held) has a seq but no place in the map: its blocks
 * stay out too. */
static void test_sealed(void **state)
{
	enum { NBIG = 48, BIG = 64 };
	static uint8_t big[BIG * EFX_BS], one[EFX_BS];
	struct wb_req r[NBIG + 1];
	int done[NBIG + 1] = {0};
	uint64_t s, m;
	struct efx f;

	(void)state;
	efx_devices(&f, "repairs", 8u << 20, NULL, NULL);
	efx_format_open(&f);
	s = seq_head(&f);
	wb_io_fault_hold_next(f.bak, WB_IO_WRITE); /* destage's first write */
	memset(big, 3, sizeof(big));
	memset(one, 4, sizeof(one));
	memset(r, 0, sizeof(r));
	/* 12 MiB into an 8 MiB log: it fills, the rest is sealed and waits */
	for (int i = 0; i <= NBIG; i++) {
		r[i].op = WB_REQ_WRITE;
		r[i].off = i == NBIG / 2 ? 900 * EFX_BS : (uint64_t)(i % 8) * BIG * EFX_BS;
		r[i].len = i == NBIG / 2 ? EFX_BS : BIG * EFX_BS;
		r[i].buf = i == NBIG / 2 ? one : big;
		r[i].done = req_done;
		r[i].priv = &done[i];
		assert_int_equal(wb_engine_submit(f.e, &r[i]), 0);
		for (int k = 0; k < 20; k++)
			wb_engine_run(f.e, 0);
	}
	assert_int_equal(done[NBIG / 2], 0); /* not written: no log space */
	m = 0xdead;
	assert_int_equal(wb_engine_repair_mask(f.e, 898, 4, s, &m), 0);
	assert_int_equal(m, 0xb); /* block 900 is bit 2 */
	wb_io_fault_release(f.bak);
	for (int i = 0; i < 100000 && !done[NBIG]; i++)
		wb_engine_run(f.e, 1);
	for (int i = 0; i <= NBIG; i++)
		assert_int_equal(done[i], 1);
	assert_int_equal(read_fill(&f, 900), 4);
	efx_fini(&f);
}

/* The point of the mask: blocks 0-7 are read as of s0, a newer write
 * covers 3 of them, and the copy written back under the mask leaves that
 * write in place (without the mask the old copy would hide it). */
static void test_write_back(void **state)
{
	uint8_t copy[8 * EFX_BS];
	uint64_t s0, m;
	struct efx f;

	(void)state;
	efx_devices(&f, "repairw", 8u << 20, NULL, NULL);
	efx_format_open(&f);
	write_blks(&f, 0, 8, 1);
	efx_drain(&f); /* on the backing device, as a read error would find it */
	s0 = seq_head(&f);
	memset(copy, 1, sizeof(copy)); /* the peer's copy as of s0 */
	write_blks(&f, 3, 1, 9);
	write_blks(&f, 6, 2, 9);
	m = mask_of(&f, 0, 8, s0);
	assert_int_equal(m, 0x37);
	for (uint32_t i = 0; i < 8;) {
		uint32_t j = i;

		if (!(m >> i & 1)) {
			i++;
			continue;
		}
		while (j < 8 && m >> j & 1)
			j++;
		assert_int_equal(wb_engine_write(f.e, copy + (size_t)i * EFX_BS, (j - i) * EFX_BS,
						 i * EFX_BS, 0),
				 0);
		i = j;
	}
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(read_fill(&f, i), i == 3 || i >= 6 ? 9 : 1);
	efx_reopen(&f); /* and so after recovery */
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(read_fill(&f, i), i == 3 || i >= 6 ? 9 : 1);
	efx_fini(&f);
}

extern uint32_t wbl_ds_fix_ms; /* engine/wblog_destage.c: DS_FIX_MS when 0 */

/* the log_unreadable hook: what it was told, what it answers */
struct unread {
	unsigned calls;
	uint64_t lba[64];
	uint32_t n[64];
	int ret;
};

static int on_unreadable(void *arg, uint64_t lba, uint32_t n)
{
	struct unread *u = arg;

	if (u->calls < 64) {
		u->lba[u->calls] = lba;
		u->n[u->calls] = n;
	}
	u->calls++;
	return u->ret;
}

/* 256 blocks (fill 1, 8 records of 32) into a 64-page RAM buffer: most of
 * them only in the log, where destage must read them; then the log blocks
 * they were written to unreadable (a medium error; what comes after them,
 * the good copies, reads fine) */
static void unread_setup(struct efx *f, const char *name, struct unread *u, bool hook)
{
	struct wb_repl_hooks h = {.arg = u, .log_unreadable = on_unreadable};
	struct wb_engine_stats st;
	struct wb_sb sb;
	char why[256];

	efx_devices(f, name, 8u << 20, NULL, NULL);
	f->p.ram_pages = 64;
	/* nothing destaged before the bad blocks are there */
	f->p.destage_min_rate = WB_DESTAGE_RATE_NONE;
	f->p.destage_low_pct = 90;
	f->p.destage_high_pct = 95;
	efx_format_open(f);
	/* the engine is idle: nothing of its own to reap here */
	assert_int_equal(wb_sb_load(f->log, &sb, why, sizeof(why)), 0);
	for (uint64_t b = 0; b < 256; b += 32)
		write_blks(f, b, 32, 1);
	if (hook)
		assert_int_equal(wb_engine_set_repl_hooks(f->e, &h), 0);
	assert_int_equal(wb_engine_stats(f->e, &st), 0);
	assert_true(st.log_used > 256 * EFX_BS && sb.data_off + st.log_used < (8u << 20));
	wb_io_fault_bad_range(f->log, sb.data_off, st.log_used);
}

static uint32_t engine_state(struct efx *f, uint64_t *dirty)
{
	struct wb_engine_stats st;

	assert_int_equal(wb_engine_stats(f->e, &st), 0);
	if (dirty)
		*dirty = st.dirty_bytes;
	return st.state;
}

/* one pass of the engine, and a little time for its timers: run() with
 * wait returns only after it delivered a completion, and a stalled destage
 * has none to deliver */
static void unread_step(struct efx *f)
{
	assert_true(wb_engine_run(f->e, 0) >= 0);
	usleep(200);
}

/* write-through (destage runs) until the hook was called or the engine failed */
static void unread_run_until_called(struct efx *f, struct unread *u)
{
	assert_int_equal(wb_engine_set_mode(f->e, WB_MODE_WRITETHROUGH), 0);
	for (int i = 0; i < 100000 && !u->calls && engine_state(f, NULL) == WB_STATE_OK; i++)
		unread_step(f);
}

/* run until nothing is dirty or the engine failed; the state */
static uint32_t unread_drain(struct efx *f)
{
	uint64_t dirty = 1;
	uint32_t st = WB_STATE_OK;

	for (int i = 0; i < 200000 && dirty && st == WB_STATE_OK; i++) {
		unread_step(f);
		st = engine_state(f, &dirty);
	}
	return st;
}

/* The host hands back a copy of the blocks it is told of (a peer's), while
 * the log stays unreadable: destage takes it, drains, and the backing
 * device holds the data (read after the drain, and after a reopen). A copy
 * of blocks a newer record covers is not taken. */
static void test_destage_filled(void **state)
{
	static uint8_t copy[256 * EFX_BS], five[EFX_BS];
	struct unread u = {0};
	struct wb_req r0 = {0};
	unsigned done = 0;
	uint64_t dirty = 1, head;
	int taken = 0, ret, d0 = 0;
	struct efx f;

	(void)state;
	memset(copy, 1, sizeof(copy));
	unread_setup(&f, "dsfill", &u, true);
	unread_run_until_called(&f, &u);
	assert_true(u.calls > 0);
	/* a copy of an unrelated range: nothing to take there */
	assert_int_equal(wb_engine_destage_fill(f.e, 600, 8, seq_head(&f), copy), 0);
	assert_int_equal(wb_engine_destage_fill(f.e, EFX_NBLK - 1, 2, seq_head(&f), copy), -EINVAL);
	/* block 0 gets a newer version first: the copy must not replace it
	 * (write-through: acknowledged once destaged, after the stall) */
	memset(five, 5, sizeof(five));
	r0.op = WB_REQ_WRITE;
	r0.len = EFX_BS;
	r0.buf = five;
	r0.done = req_done;
	r0.priv = &d0;
	assert_int_equal(wb_engine_submit(f.e, &r0), 0);
	for (int i = 0; i < 100; i++)
		unread_step(&f); /* placed in the log */
	head = seq_head(&f);
	for (int i = 0; i < 200000 && engine_state(&f, &dirty) == WB_STATE_OK && (dirty || !d0);
	     i++) {
		for (; done < u.calls && done < 64; done++) {
			ret = wb_engine_destage_fill(f.e, u.lba[done], u.n[done], head, copy);
			if (ret == -EAGAIN)
				break; /* reading again: later */
			assert_true(ret >= 0);
			taken += ret;
		}
		unread_step(&f);
	}
	assert_int_equal(engine_state(&f, &dirty), WB_STATE_OK);
	assert_int_equal(dirty, 0);
	assert_int_equal(d0, 1);
	assert_true(taken > 0);
	assert_int_equal(read_fill(&f, 0), 5);
	for (uint64_t b = 1; b < 256; b++) /* from the backing device */
		assert_int_equal(read_fill(&f, b), 1);
	wb_io_fault_bad_range(f.log, 0, 0);
	efx_reopen(&f);
	assert_int_equal(read_fill(&f, 0), 5);
	for (uint64_t b = 1; b < 256; b++)
		assert_int_equal(read_fill(&f, b), 1);
	efx_fini(&f);
}

/* The host writes the blocks it is told of instead (a client's newer
 * writes), while the log stays unreadable: destage leaves them to those
 * records and goes on, and everything reads back right. */
static void test_destage_newer(void **state)
{
	static uint8_t copy[256 * EFX_BS];
	struct wb_req r[64];
	int done[64] = {0};
	struct unread u = {0};
	unsigned sent = 0, k;
	uint64_t dirty = 1;
	struct efx f;

	(void)state;
	memset(copy, 1, sizeof(copy));
	memset(r, 0, sizeof(r));
	unread_setup(&f, "dsnewer", &u, true);
	unread_run_until_called(&f, &u);
	assert_true(u.calls > 0);
	for (int i = 0; i < 200000; i++) {
		for (; sent < u.calls && sent < 64; sent++) {
			assert_true(u.lba[sent] + u.n[sent] <= 256);
			r[sent].op = WB_REQ_WRITE;
			r[sent].off = u.lba[sent] * EFX_BS;
			r[sent].len = u.n[sent] * EFX_BS;
			r[sent].buf = copy;
			r[sent].done = req_done;
			r[sent].priv = &done[sent];
			assert_int_equal(wb_engine_submit(f.e, &r[sent]), 0);
		}
		unread_step(&f);
		for (k = 0; k < sent && done[k]; k++)
			;
		if ((k == sent && !dirty) || engine_state(&f, &dirty) != WB_STATE_OK)
			break;
	}
	assert_int_equal(engine_state(&f, &dirty), WB_STATE_OK);
	assert_int_equal(dirty, 0);
	assert_true(u.calls < 64);
	for (k = 0; k < sent; k++)
		assert_int_equal(done[k], 1);
	for (uint64_t b = 0; b < 256; b++) /* from the backing device */
		assert_int_equal(read_fill(&f, b), 1);
	wb_io_fault_bad_range(f.log, 0, 0);
	efx_reopen(&f);
	for (uint64_t b = 0; b < 256; b++)
		assert_int_equal(read_fill(&f, b), 1);
	efx_fini(&f);
}

/* The log readable again right after the first failure: told, read again,
 * destage goes on without a new copy. */
static void test_destage_transient(void **state)
{
	struct unread u = {0};
	struct efx f;

	(void)state;
	unread_setup(&f, "dstrans", &u, true);
	unread_run_until_called(&f, &u);
	assert_true(u.calls > 0);
	wb_io_fault_bad_range(f.log, 0, 0);
	assert_int_equal(unread_drain(&f), WB_STATE_OK);
	assert_true(u.calls <= 16); /* the runs of the batches that read meanwhile, once */
	for (uint64_t b = 0; b < 256; b++)
		assert_int_equal(read_fill(&f, b), 1);
	efx_fini(&f);
}

/* No copy comes: the engine fails once the time is up (300 ms here),
 * having asked once per run (again only after a second). */
static void test_destage_no_copy(void **state)
{
	struct unread u = {0};
	struct efx f;

	(void)state;
	wbl_ds_fix_ms = 300;
	unread_setup(&f, "dsnocopy", &u, true);
	unread_run_until_called(&f, &u);
	assert_true(u.calls > 0);
	assert_int_equal(unread_drain(&f), WB_STATE_FAILED);
	wbl_ds_fix_ms = 0;
	assert_true(u.calls <= 16); /* the runs of two batches, once */
	wb_io_fault_bad_range(f.log, 0, 0);
	efx_fini(&f);
}

/* Closing while a batch waits for a copy: the batch is dropped (its
 * records stay in the log), the close is clean instead of waiting out the
 * time and failing, and the next open replays them. */
static void test_destage_close(void **state)
{
	struct unread u = {0};
	struct wb_sb sb;
	char why[256];
	struct efx f;

	(void)state;
	unread_setup(&f, "dsclose", &u, true);
	unread_run_until_called(&f, &u);
	assert_true(u.calls > 0);
	wb_engine_close(f.e);
	f.e = NULL;
	assert_int_equal(wb_sb_load(f.log, &sb, why, sizeof(why)), 0);
	assert_true(sb.flags & WB_SB_F_CLEAN);
	wb_io_fault_bad_range(f.log, 0, 0);
	efx_reopen(&f);
	assert_int_equal(engine_state(&f, NULL), WB_STATE_OK);
	for (uint64_t b = 0; b < 256; b++)
		assert_int_equal(read_fill(&f, b), 1);
	efx_drain(&f);
	for (uint64_t b = 0; b < 256; b++)
		assert_int_equal(read_fill(&f, b), 1);
	efx_fini(&f);
}

/* The host cannot help (-ENODEV: no peer), or there is no hook at all:
 * the engine fails at the first failed read, as before ABI 17. */
static void test_destage_no_help(void **state)
{
	for (int hook = 0; hook < 2; hook++) {
		struct unread u = {.ret = -ENODEV};
		struct efx f;

		(void)state;
		unread_setup(&f, hook ? "dsnohelp" : "dsnohook", &u, hook);
		unread_run_until_called(&f, &u);
		for (int i = 0; i < 1000 && engine_state(&f, NULL) == WB_STATE_OK; i++)
			unread_step(&f);
		assert_int_equal(engine_state(&f, NULL), WB_STATE_FAILED);
		assert_int_equal(u.calls, (unsigned)hook);
		wb_io_fault_bad_range(f.log, 0, 0);
		efx_fini(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mask),
	    cmocka_unit_test(test_pending),
	    cmocka_unit_test(test_sealed),
	    cmocka_unit_test(test_write_back),
	    cmocka_unit_test(test_destage_filled),
	    cmocka_unit_test(test_destage_newer),
	    cmocka_unit_test(test_destage_transient),
	    cmocka_unit_test(test_destage_no_copy),
	    cmocka_unit_test(test_destage_close),
	    cmocka_unit_test(test_destage_no_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
