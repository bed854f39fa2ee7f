// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_replica.c - the replication side of the wblog engine (ABI 4): two
 * engines in one process, a primary and a replica, each on its own pair of
 * fault-injection devices. Covers replica mode (writes refused with EROFS,
 * no generation closed by a flush or the timer, restart in the middle of a
 * generation goes on with it, promotion starts a new one), apply_record
 * (completion from run() only, idempotent re-apply, gap, conflict, closing),
 * a log that starts at a base seq/gen, the record size limit, records shipped
 * through the ship hook and applied on the replica with identical data at
 * every LBA, catch-up through read_record, and peer retention.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <cmocka.h>

#include "engine/io.h"
#include "engine/wbengine.h"

extern const struct wb_engine_ops wb_wblog_ops;

#define BS    4096u
#define DEVSZ (4u << 20) /* 1024 blocks */
#define NBLK  (DEVSZ / BS)

struct node {
	struct wb_io *log, *bak;
	struct wb_engine *e;
	struct wb_engine_params p;
};

static void fill(uint8_t *b, uint64_t lba, uint32_t v)
{
	uint32_t i;

	for (i = 0; i < BS / 8; i++) {
		uint64_t x = (lba << 32) ^ v ^ ((uint64_t)i << 20);

		memcpy(b + i * 8, &x, 8);
	}
}

static void node_init(struct node *n, uint64_t seed, uint64_t logsz, uint32_t seg,
		      enum wb_role role)
{
	struct wb_fault_cfg cfg = {.seed = seed, .drop_permille = 300, .tear_permille = 300};

	memset(n, 0, sizeof(*n));
	assert_int_equal(wb_io_fault_open("log", logsz, &cfg, &n->log), 0);
	cfg.seed = seed + 1;
	assert_int_equal(wb_io_fault_open("bak", DEVSZ, &cfg, &n->bak), 0);
	n->p.name = role == WB_ROLE_REPLICA ? "replica" : "primary";
	n->p.log_io = n->log;
	n->p.backing_io = n->bak;
	n->p.log_segment_size = seg;
	n->p.ram_pages = 512;
	n->p.role = role;
	assert_int_equal(wb_wblog_ops.format(&n->p), 0);
	assert_int_equal(wb_engine_open("wblog", &n->p, &n->e), 0);
}

static void node_reopen(struct node *n)
{
	wb_engine_close(n->e);
	n->e = NULL;
	assert_int_equal(wb_engine_open("wblog", &n->p, &n->e), 0);
}

static void node_fini(struct node *n)
{
	wb_engine_close(n->e);
	wb_io_close(n->log);
	wb_io_close(n->bak);
}

static struct wb_engine_stats stats(struct node *n)
{
	struct wb_engine_stats st;

	assert_int_equal(wb_engine_stats(n->e, &st), 0);
	return st;
}

/* A record of one extent [lba, lba+nb) with data version ver. */
struct trec {
	struct wb_record r;
	struct wb_extent x;
	uint8_t *data;
};

static void trec_make(struct trec *t, uint64_t seq, uint64_t gen, uint64_t lba, uint32_t nb,
		      uint32_t ver, uint32_t flags)
{
	uint32_t i;

	t->data = malloc((size_t)nb * BS);
	assert_non_null(t->data);
	for (i = 0; i < nb; i++)
		fill(t->data + (size_t)i * BS, lba + i, ver);
	t->x = (struct wb_extent){.lba = lba, .nblocks = nb, .crc = wb_crc32c(0, t->data, nb * BS)};
	t->r = (struct wb_record){
	    .seq = seq, .gen = gen, .nextents = 1, .flags = flags, .ext = &t->x, .data = t->data};
}

struct done_ctr {
	int n, err;
};

static void on_applied(void *arg, int err)
{
	struct done_ctr *d = arg;

	d->n++;
	if (err)
		d->err = err;
}

static void run_until(struct node *n, const int *cnt, int want)
{
	int i;

	for (i = 0; i < 100000 && *cnt < want; i++)
		assert_true(wb_engine_run(n->e, 1) >= 0);
	assert_int_equal(*cnt, want);
}

/* Apply seq/gen on n and wait until it is durable. */
static void apply_ok(struct node *n, uint64_t seq, uint64_t gen, uint64_t lba, uint32_t ver,
		     uint32_t flags)
{
	struct trec t;
	struct done_ctr d = {0, 0};

	trec_make(&t, seq, gen, lba, 2, ver, flags);
	assert_int_equal(wb_engine_apply_record(n->e, &t.r, on_applied, &d), 0);
	assert_int_equal(d.n, 0); /* never from inside the call */
	run_until(n, &d.n, 1);
	assert_int_equal(d.err, 0);
	free(t.data);
}

static void check_block(struct node *n, uint64_t lba, uint32_t ver)
{
	uint8_t got[BS], want[BS];

	assert_int_equal(wb_engine_read(n->e, got, BS, lba * BS), 0);
	fill(want, lba, ver);
	if (memcmp(got, want, BS))
		fail_msg("%s: block %llu is not version %u", n->p.name, (unsigned long long)lba,
			 ver);
}

/* A replica refuses local writes (EROFS), still reads and flushes, and
 * neither a flush nor the generation timer closes a generation. */
static void test_replica_refuses_writes(void **state)
{
	struct node r;
	struct wb_engine_stats st;
	uint8_t buf[BS] = {1};
	struct wb_req z = {.op = WB_REQ_DISCARD, .len = BS, .off = 0};
	int i;

	(void)state;
	node_init(&r, 11, 8u << 20, 0, WB_ROLE_REPLICA);
	r.p.gen_max_interval_ms = 1;
	node_reopen(&r);
	apply_ok(&r, 1, 1, 10, 5, 0);
	assert_int_equal(wb_engine_write(r.e, buf, BS, 0, 0), -EROFS);
	assert_int_equal(wb_engine_write(r.e, buf, BS, 0, WB_REQ_F_FUA), -EROFS);
	assert_int_equal(wb_engine_sync(r.e, &z), -EROFS);
	z.op = WB_REQ_WRITE_ZEROES;
	assert_int_equal(wb_engine_sync(r.e, &z), -EROFS);
	check_block(&r, 10, 5);
	check_block(&r, 11, 5);
	assert_int_equal(wb_engine_flush(r.e), 0);
	for (i = 0; i < 20; i++) { /* the 1 ms timer would have closed it */
		struct timespec ts = {0, 2000000};

		nanosleep(&ts, NULL);
		assert_true(wb_engine_run(r.e, 0) >= 0);
	}
	st = stats(&r);
	assert_int_equal(st.role, WB_ROLE_REPLICA);
	assert_int_equal(st.gen_head, 1);
	assert_int_equal(st.seq_head, 2);
	assert_int_equal(st.seq_durable, 2);
	assert_int_equal(wb_engine_timeout_ms(r.e), -1);
	/* the primary's next record of generation 1 is still accepted */
	apply_ok(&r, 2, 1, 12, 6, 0);
	node_fini(&r);
}

/* down/restart in the middle of a generation does not bump it on a replica
 * (it does on a primary: the old behaviour, kept for primaries). */
static void test_replica_restart_mid_gen(void **state)
{
	struct node r;
	struct trec t;
	struct done_ctr d = {0, 0};

	(void)state;
	node_init(&r, 21, 8u << 20, 0, WB_ROLE_REPLICA);
	apply_ok(&r, 1, 1, 0, 1, 0);
	apply_ok(&r, 2, 1, 4, 1, 0);
	node_reopen(&r);
	assert_int_equal(stats(&r).gen_head, 1);
	apply_ok(&r, 3, 1, 8, 1, WB_REC_F_GEN_END);
	node_reopen(&r);
	assert_int_equal(stats(&r).gen_head, 2); /* that record ended generation 1 */
	apply_ok(&r, 4, 2, 12, 1, 0);
	check_block(&r, 0, 1);
	check_block(&r, 9, 1);
	check_block(&r, 13, 1);
	/* opened as a primary (a new generation if records are left in the log)
	 * and demoted before it wrote anything: generation 2 goes on */
	r.p.role = WB_ROLE_PRIMARY;
	node_reopen(&r);
	assert_true(stats(&r).gen_head >= 2);
	trec_make(&t, 5, 2, 16, 1, 1, 0);
	assert_int_equal(wb_engine_set_role(r.e, WB_ROLE_REPLICA), 0);
	assert_int_equal(stats(&r).gen_head, 2);
	assert_int_equal(wb_engine_apply_record(r.e, &t.r, on_applied, &d), 0);
	run_until(&r, &d.n, 1);
	assert_int_equal(d.err, 0);
	free(t.data);
	node_fini(&r);
}

/* A promoted replica goes on from its last seq, in a new generation. */
static void test_promote(void **state)
{
	struct node r;
	struct wb_engine_stats st;
	uint8_t buf[BS];

	(void)state;
	node_init(&r, 31, 8u << 20, 0, WB_ROLE_REPLICA);
	apply_ok(&r, 1, 1, 0, 1, 0);
	apply_ok(&r, 2, 1, 2, 1, 0);
	assert_int_equal(wb_engine_set_role(r.e, WB_ROLE_PRIMARY), 0);
	st = stats(&r);
	assert_int_equal(st.role, WB_ROLE_PRIMARY);
	assert_int_equal(st.gen_head, 2);
	assert_int_equal(st.seq_head, 3);
	fill(buf, 100, 9);
	assert_int_equal(wb_engine_write(r.e, buf, BS, 100 * BS, WB_REQ_F_FUA), 0);
	st = stats(&r);
	assert_int_equal(st.seq_head, 4);
	assert_int_equal(st.gen_head, 2);
	node_reopen(&r);
	check_block(&r, 100, 9);
	check_block(&r, 3, 1);
	node_fini(&r);
}

/* apply_record: gap, idempotent re-apply while in flight and after, conflict,
 * malformed input, done() only from run(). */
static void test_apply_rules(void **state)
{
	struct node r;
	struct trec t1, t2, t3;
	struct done_ctr d = {0, 0};

	(void)state;
	node_init(&r, 41, 8u << 20, 0, WB_ROLE_REPLICA);
	trec_make(&t1, 1, 1, 20, 3, 1, 0);
	trec_make(&t2, 2, 1, 30, 3, 1, 0);
	trec_make(&t3, 3, 1, 40, 3, 1, 0);
	assert_int_equal(wb_engine_apply_record(r.e, &t2.r, on_applied, &d), -ERANGE);
	assert_int_equal(stats(&r).seq_head, 1); /* the seq it expects */
	assert_int_equal(wb_engine_apply_record(r.e, &t1.r, on_applied, &d), 0);
	/* the same record again while the first is in flight */
	assert_int_equal(wb_engine_apply_record(r.e, &t1.r, on_applied, &d), 0);
	assert_int_equal(wb_engine_apply_record(r.e, &t2.r, on_applied, &d), 0);
	assert_int_equal(d.n, 0);
	run_until(&r, &d.n, 3);
	assert_int_equal(d.err, 0);
	assert_int_equal(stats(&r).seq_head, 3);
	assert_int_equal(stats(&r).seq_durable, 3);
	/* after: still idempotent */
	assert_int_equal(wb_engine_apply_record(r.e, &t2.r, on_applied, &d), 0);
	run_until(&r, &d.n, 4);
	/* conflicts: other data crc, other generation, other flags */
	t2.x.crc ^= 1;
	assert_int_equal(wb_engine_apply_record(r.e, &t2.r, on_applied, &d), -EEXIST);
	t2.x.crc ^= 1;
	t2.r.flags = WB_REC_F_GEN_END;
	assert_int_equal(wb_engine_apply_record(r.e, &t2.r, on_applied, &d), -EEXIST);
	t2.r.flags = 0;
	/* malformed */
	t3.r.flags = 0x80;
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), -EINVAL);
	t3.r.flags = 0;
	t3.x.lba = NBLK - 1;
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), -EINVAL);
	t3.x.lba = 40;
	t3.x.crc ^= 1;
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), -EBADMSG);
	t3.x.crc ^= 1;
	t3.r.gen = 0;
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), -EINVAL);
	t3.r.gen = 1;
	assert_int_equal(d.n, 4);
	assert_int_equal(stats(&r).seq_head, 3);
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), 0);
	run_until(&r, &d.n, 5);
	check_block(&r, 20, 1);
	check_block(&r, 32, 1);
	check_block(&r, 41, 1);
	free(t1.data);
	free(t2.data);
	free(t3.data);
	node_fini(&r);
}

struct reapply {
	struct wb_engine *e;
	struct trec *next;
	int done_err, ret;
};

static void on_done_reapply(void *arg, int err)
{
	struct reapply *ra = arg;

	ra->done_err = err;
	ra->ret = wb_engine_apply_record(ra->e, &ra->next->r, on_applied, NULL);
}

/* close completes a pending apply (durable first); an apply from inside
 * that completion, while closing, is refused with -ESHUTDOWN */
static void test_apply_closing(void **state)
{
	struct node r;
	struct trec t1, t2;
	struct reapply ra = {.done_err = 1, .ret = 1};

	(void)state;
	node_init(&r, 51, 8u << 20, 0, WB_ROLE_REPLICA);
	trec_make(&t1, 1, 1, 20, 3, 1, 0);
	trec_make(&t2, 2, 1, 30, 3, 1, 0);
	ra.e = r.e;
	ra.next = &t2;
	assert_int_equal(wb_engine_apply_record(r.e, &t1.r, on_done_reapply, &ra), 0);
	wb_engine_close(r.e);
	assert_int_equal(ra.done_err, 0);
	assert_int_equal(ra.ret, -ESHUTDOWN);
	assert_int_equal(wb_engine_open("wblog", &r.p, &r.e), 0);
	assert_int_equal(stats(&r).seq_head, 2);
	check_block(&r, 22, 1);
	free(t1.data);
	free(t2.data);
	node_fini(&r);
}

/* write-through until everything is destaged and released */
static void drain(struct node *n)
{
	struct wb_engine_stats st;
	int i;

	assert_int_equal(wb_engine_set_mode(n->e, WB_MODE_WRITETHROUGH), 0);
	for (i = 0; i < 100000; i++) {
		st = stats(n);
		if (!st.dirty_bytes && st.seq_tail == st.seq_head)
			break;
		assert_true(wb_engine_run(n->e, 1) >= 0);
	}
	assert_int_equal(st.dirty_bytes, 0);
	assert_int_equal(st.seq_tail, st.seq_head);
	assert_int_equal(wb_engine_set_mode(n->e, WB_MODE_WRITEBACK), 0);
}

/* A new replica's log starts at its primary's seq and generation (format
 * option); a resynced one is moved there by rebase once it is empty. */
static void test_base(void **state)
{
	struct node r;
	struct wb_engine_stats st;
	struct trec t;
	struct done_ctr d = {0, 0};

	(void)state;
	memset(&r, 0, sizeof(r));
	{
		struct wb_fault_cfg cfg = {.seed = 61};

		assert_int_equal(wb_io_fault_open("log", 8u << 20, &cfg, &r.log), 0);
		assert_int_equal(wb_io_fault_open("bak", DEVSZ, &cfg, &r.bak), 0);
	}
	r.p = (struct wb_engine_params){.name = "replica", .log_io = r.log, .backing_io = r.bak,
					.ram_pages = 512, .role = WB_ROLE_REPLICA,
					.base_seq = 100, .base_gen = 7};
	assert_int_equal(wb_engine_format("wblog", &r.p), 0);
	assert_int_equal(wb_engine_open("wblog", &r.p, &r.e), 0);
	st = stats(&r);
	assert_int_equal(st.seq_head, 100);
	assert_int_equal(st.seq_tail, 100);
	assert_int_equal(st.gen_head, 7);
	trec_make(&t, 99, 7, 0, 1, 1, 0);
	assert_int_equal(wb_engine_apply_record(r.e, &t.r, on_applied, &d), -EALREADY);
	free(t.data);
	apply_ok(&r, 100, 7, 0, 1, 0);
	apply_ok(&r, 101, 7, 2, 1, WB_REC_F_GEN_END);
	node_reopen(&r);
	st = stats(&r);
	assert_int_equal(st.seq_head, 102);
	assert_int_equal(st.gen_head, 8);
	/* rebase: refused while the log holds records, then moved past a gap */
	trec_make(&t, 102, 8, 8, 1, 3, 0);
	assert_int_equal(wb_engine_apply_record(r.e, &t.r, on_applied, &d), 0);
	assert_int_equal(wb_engine_rebase(r.e, 500, 9), -EBUSY);
	run_until(&r, &d.n, 1);
	free(t.data);
	drain(&r);
	assert_int_equal(wb_engine_rebase(r.e, 90, 9), -EINVAL); /* backwards */
	assert_int_equal(wb_engine_rebase(r.e, 500, 9), 0);
	st = stats(&r);
	assert_int_equal(st.seq_head, 500);
	assert_int_equal(st.gen_head, 9);
	apply_ok(&r, 500, 9, 4, 2, 0);
	node_reopen(&r); /* the base is persisted */
	st = stats(&r);
	assert_int_equal(st.seq_head, 501);
	assert_int_equal(st.gen_head, 9);
	apply_ok(&r, 501, 9, 6, 2, 0);
	check_block(&r, 1, 1);
	check_block(&r, 3, 1);
	check_block(&r, 5, 2);
	check_block(&r, 7, 2);
	check_block(&r, 8, 3);
	node_fini(&r);
}

/* Geometry: the record size limit is reported and can be lowered at open,
 * so a 2 MiB-segment primary writes records a 1 MiB-segment replica takes. */
static void test_geometry(void **state)
{
	struct node pr, r;
	struct trec t;
	struct done_ctr d = {0, 0};
	uint8_t *buf = calloc(256, BS);
	uint64_t before;

	(void)state;
	assert_non_null(buf);
	node_init(&pr, 71, 16u << 20, 2u << 20, WB_ROLE_PRIMARY);
	node_init(&r, 73, 16u << 20, 1u << 20, WB_ROLE_REPLICA);
	assert_int_equal(stats(&pr).max_record_blocks, 256);
	assert_int_equal(stats(&r).max_record_blocks, 255);
	/* a 256-block record does not fit the replica */
	trec_make(&t, 1, 1, 0, 256, 1, 0);
	assert_int_equal(wb_engine_apply_record(r.e, &t.r, on_applied, &d), -E2BIG);
	free(t.data);
	/* the primary agrees on the smaller size: a 1 MiB write is two records */
	pr.p.max_record_blocks = stats(&r).max_record_blocks;
	node_reopen(&pr);
	assert_int_equal(stats(&pr).max_record_blocks, 255);
	before = stats(&pr).seq_head;
	assert_int_equal(wb_engine_write(pr.e, buf, 256 * BS, 0, WB_REQ_F_FUA), 0);
	assert_int_equal(stats(&pr).seq_head, before + 2);
	free(buf);
	node_fini(&pr);
	node_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replica_refuses_writes),
	    cmocka_unit_test(test_replica_restart_mid_gen),
	    cmocka_unit_test(test_promote),
	    cmocka_unit_test(test_apply_rules),
	    cmocka_unit_test(test_apply_closing),
	    cmocka_unit_test(test_base),
	    cmocka_unit_test(test_geometry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
