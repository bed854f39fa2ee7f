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
#include "engine/pagebuf.h"
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

/* the log device of the next node_init completes its requests one per
 * reap, in random order (test_apply_fua_inflight) */
static int log_reorder;

static void node_init(struct node *n, uint64_t seed, uint64_t logsz, uint32_t seg,
		      enum wb_role role)
{
	struct wb_fault_cfg cfg = {.seed = seed, .drop_permille = 300, .tear_permille = 300};

	memset(n, 0, sizeof(*n));
	cfg.reorder = cfg.complete_batch = log_reorder ? 1 : 0;
	assert_int_equal(wb_io_fault_open("log", logsz, &cfg, &n->log), 0);
	cfg.reorder = cfg.complete_batch = 0;
	cfg.seed = seed + 1;
	/* + the identity block after the exported range (engine/bind.h) */
	assert_int_equal(wb_io_fault_open("bak", DEVSZ + BS, &cfg, &n->bak), 0);
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

/* a power cut of both devices (what no flush or FUA write covered is
 * dropped or torn), then the engine opened again */
static void node_power_cycle(struct node *n)
{
	wb_io_fault_power_cut(n->log);
	wb_io_fault_power_cut(n->bak);
	wb_engine_close(n->e);
	n->e = NULL;
	wb_io_fault_power_on(n->log);
	wb_io_fault_power_on(n->bak);
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

/*
 * A replica record applied alone (protocol C: acked once durable) is written
 * with FUA and made durable by that write: one log request per record, no
 * log flush after it (two before FUA records: the write, then a flush). What
 * was acked survives a power cut on both devices (the fault backend keeps
 * only what a flush or a FUA write covered).
 */
static void test_apply_fua(void **state)
{
	struct node r;
	uint64_t n0, n;
	uint32_t k;

	(void)state;
	node_init(&r, 51, 8u << 20, 0, WB_ROLE_REPLICA);
	r.p.destage_min_rate = WB_DESTAGE_RATE_NONE; /* no destage requests in the count */
	node_reopen(&r);
	apply_ok(&r, 1, 1, 0, 1, 0);
	for (k = 0; k < 8; k++) {
		n0 = wb_io_fault_nsubmitted(r.log);
		apply_ok(&r, 2 + k, 1, 10 + 4 * (uint64_t)k, 2 + k, 0);
		n = wb_io_fault_nsubmitted(r.log) - n0;
		if (n != 1)
			fail_msg("record %u: %llu log requests, want 1 (its FUA write)", 2 + k,
				 (unsigned long long)n);
		assert_int_equal(stats(&r).seq_durable, 3 + k);
	}
	node_power_cycle(&r);
	assert_int_equal(stats(&r).seq_head, 10);
	check_block(&r, 0, 1);
	check_block(&r, 1, 1);
	for (k = 0; k < 8; k++) {
		check_block(&r, 10 + 4 * (uint64_t)k, 2 + k);
		check_block(&r, 11 + 4 * (uint64_t)k, 2 + k);
	}
	node_fini(&r);
}

/* Apply seq (one 2-block extent at lba, version ver) WB_APPLY_F_WRITTEN
 * and run until done(); returns the log requests it took. */
static uint64_t apply_written(struct node *n, uint64_t seq, uint64_t lba, uint32_t ver)
{
	struct trec t;
	struct done_ctr d = {0, 0};
	uint64_t n0 = wb_io_fault_nsubmitted(n->log);

	trec_make(&t, seq, 1, lba, 2, ver, 0);
	t.r.apply_flags = WB_APPLY_F_WRITTEN;
	assert_int_equal(wb_engine_apply_record(n->e, &t.r, on_applied, &d), 0);
	run_until(n, &d.n, 1);
	assert_int_equal(d.err, 0);
	free(t.data);
	return wb_io_fault_nsubmitted(n->log) - n0;
}

/* Run n until every seq below `want` is durable (bounded), then check. */
static void run_until_durable(struct node *n, uint64_t want)
{
	int i;

	for (i = 0; i < 100000 && stats(n).seq_durable < want; i++)
		assert_true(wb_engine_run(n->e, 1) >= 0);
	assert_int_equal(stats(n).seq_durable, want);
}

/*
 * ABI 11, WB_APPLY_F_WRITTEN (protocol C in write-back, docs/engine.md
 * "Replica records written, then durable"): done() once the record is
 * written, with one plain log write (no FUA, no flush) and seq_durable
 * not moved; wb_engine_log_sync() then flushes the log and every such
 * record survives a power cut; without it, log_commit_ms issues the
 * flush by itself.
 */
static void test_apply_written(void **state)
{
	struct node r;
	uint64_t n, durable;
	uint32_t k;

	(void)state;
	node_init(&r, 71, 8u << 20, 0, WB_ROLE_REPLICA);
	r.p.destage_min_rate = WB_DESTAGE_RATE_NONE; /* no destage I/O in the count */
	r.p.log_commit_ms = 60000;		     /* no timed flush in this part */
	node_reopen(&r);
	apply_ok(&r, 1, 1, 0, 1, 0);
	durable = stats(&r).seq_durable;
	assert_int_equal(durable, 2);
	for (k = 0; k < 8; k++) {
		n = apply_written(&r, 2 + k, 10 + 4 * (uint64_t)k, 2 + k);
		if (n != 1)
			fail_msg("record %u: %llu log requests, want 1 (its plain write)", 2 + k,
				 (unsigned long long)n);
		assert_int_equal(stats(&r).seq_durable, durable);
	}
	assert_int_equal(wb_engine_log_sync(r.e, 9), 0);
	run_until_durable(&r, 10);
	node_power_cycle(&r);
	assert_int_equal(stats(&r).seq_head, 10);
	check_block(&r, 0, 1);
	for (k = 0; k < 8; k++) {
		check_block(&r, 10 + 4 * (uint64_t)k, 2 + k);
		check_block(&r, 11 + 4 * (uint64_t)k, 2 + k);
	}
	/* log_commit_ms: the flush comes by itself */
	r.p.log_commit_ms = 2;
	node_reopen(&r);
	assert_int_equal(apply_written(&r, 10, 50, 10), 1);
	run_until_durable(&r, 11);
	node_power_cycle(&r);
	assert_int_equal(stats(&r).seq_head, 11);
	check_block(&r, 50, 10);
	node_fini(&r);
}

/*
 * Replica records applied back to back are in flight together (up to
 * WBL_MAX_INFLIGHT_REPLICA, 16, of the 20) and each is
 * written with FUA (one log request per record, no log flush), completing
 * in any order; each is acknowledged only once it and every record before
 * it are durable. Checked by a power cut at a different point of the
 * completions for each seed: every record acknowledged before the cut is
 * there after it, and the acks came in seq order.
 */
#define FUA_NREC 20
static void test_apply_fua_inflight(void **state)
{
	struct trec t[FUA_NREC];
	struct done_ctr d[FUA_NREC];
	uint64_t seed, n0;
	uint32_t k, j, acked;
	int i;

	(void)state;
	log_reorder = 1;
	for (seed = 0; seed < 24; seed++) {
		struct node r;
		int stop = seed < 4 ? 100000 : (int)(seed % 12) + 1; /* runs before the cut */

		node_init(&r, 600 + seed, 8u << 20, 0, WB_ROLE_REPLICA);
		r.p.destage_min_rate = WB_DESTAGE_RATE_NONE; /* no destage I/O in the count */
		node_reopen(&r);
		apply_ok(&r, 1, 1, 0, 1, 0);
		n0 = wb_io_fault_nsubmitted(r.log);
		memset(d, 0, sizeof(d));
		for (k = 0; k < FUA_NREC; k++) {
			trec_make(&t[k], 2 + k, 1, 10 + 4 * (uint64_t)k, 2, 2 + k, 0);
			assert_int_equal(wb_engine_apply_record(r.e, &t[k].r, on_applied, &d[k]),
					 0);
		}
		for (i = 0; i < stop && !d[FUA_NREC - 1].n; i++) {
			assert_true(wb_engine_run(r.e, 1) >= 0);
			for (k = 0, acked = 0; k < FUA_NREC; k++) {
				assert_int_equal(d[k].err, 0);
				acked += d[k].n;
				for (j = 0; d[k].n && j < k; j++)
					if (!d[j].n)
						fail_msg(
						    "seed %llu: record %u acked before record %u",
						    (unsigned long long)seed, 2 + k, 2 + j);
			}
			if (acked)
				assert_true(stats(&r).seq_durable >= 2 + acked);
		}
		if (stop == 100000) {
			assert_int_equal(d[FUA_NREC - 1].n, 1);
			if (wb_io_fault_nsubmitted(r.log) - n0 != FUA_NREC)
				fail_msg("seed %llu: %llu log requests for %u records, want one "
					 "FUA write each",
					 (unsigned long long)seed,
					 (unsigned long long)(wb_io_fault_nsubmitted(r.log) - n0),
					 FUA_NREC);
		}
		for (k = 0, acked = 0; k < FUA_NREC; k++)
			acked += d[k].n;
		node_power_cycle(&r);
		assert_true(stats(&r).seq_head >= 2 + acked);
		for (k = 0; k < acked; k++) {
			check_block(&r, 10 + 4 * (uint64_t)k, 2 + k);
			check_block(&r, 11 + 4 * (uint64_t)k, 2 + k);
		}
		for (k = 0; k < FUA_NREC; k++)
			free(t[k].data);
		node_fini(&r);
	}
	log_reorder = 0;
}

/* t's data in n pages reserved from pb, as a link's io loop fills them
 * (engine ABI 10): each page's crc set. */
static void trec_pages(struct trec *t, struct wb_pagebuf *pb, struct wb_page **pg)
{
	uint32_t i;

	assert_int_equal(wb_pagebuf_reserve(pb, t->x.nblocks, pg), 0);
	for (i = 0; i < t->x.nblocks; i++) {
		memcpy(pg[i]->data, t->data + (size_t)i * BS, BS);
		pg[i]->crc = wb_crc32c(0, pg[i]->data, BS);
		pg[i]->crc_ok = 1;
	}
	t->r.data = NULL;
	t->r.pages = pg;
}

/* apply_record by reference (ABI 10): the record's data in RAM-buffer
 * pages filled elsewhere. Taken without a copy; a repeated seq is still
 * idempotent and its pages are put at once; a page crc that does not match
 * the extent crc is refused (-EBADMSG) and so is a page of another buffer
 * (-EINVAL), both leaving the pages with the caller; pages without a crc
 * are checked from their data. */
static void test_apply_pages(void **state)
{
	struct node r;
	struct trec t1, t2, t3;
	struct wb_page *p1[3], *p1b[3], *p2[3], *p3[3], *px[3];
	struct wb_pagebuf *pb, *other;
	struct done_ctr d = {0, 0};
	uint32_t free0;

	(void)state;
	node_init(&r, 43, 8u << 20, 0, WB_ROLE_REPLICA);
	pb = wb_engine_apply_pagebuf(r.e);
	assert_non_null(pb);
	trec_make(&t1, 1, 1, 20, 3, 1, 0);
	trec_make(&t2, 2, 1, 30, 3, 2, 0);
	trec_make(&t3, 2, 1, 30, 3, 2, 0);
	free0 = wb_pagebuf_free(pb);
	trec_pages(&t1, pb, p1);
	/* the same page references end in the record: no copy */
	assert_int_equal(wb_engine_apply_record(r.e, &t1.r, on_applied, &d), 0);
	assert_int_equal(wb_pagebuf_free(pb), free0 - 3);
	run_until(&r, &d.n, 1);
	assert_int_equal(d.err, 0);
	check_block(&r, 20, 1);
	check_block(&r, 22, 1);
	/* seq 1 again, in other pages: accepted, done once durable, those
	 * pages put at once */
	free0 = wb_pagebuf_free(pb); /* t1's own may be evicted by now */
	trec_pages(&t1, pb, p1b);
	assert_int_equal(wb_engine_apply_record(r.e, &t1.r, on_applied, &d), 0);
	assert_int_equal(wb_pagebuf_free(pb), free0);
	run_until(&r, &d.n, 2);
	/* a gap: the caller keeps its pages */
	t2.r.seq = 3;
	trec_pages(&t2, pb, p2);
	assert_int_equal(wb_engine_apply_record(r.e, &t2.r, on_applied, &d), -ERANGE);
	t2.r.seq = 2;
	/* a page crc that does not add up to the extent crc */
	p2[1]->crc ^= 1;
	assert_int_equal(wb_engine_apply_record(r.e, &t2.r, on_applied, &d), -EBADMSG);
	p2[1]->crc ^= 1;
	assert_int_equal(wb_pagebuf_free(pb), free0 - 3); /* p2: still ours */
	/* a page of another buffer */
	assert_int_equal(wb_pagebuf_create(8, &other), 0);
	trec_pages(&t3, other, px);
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), -EINVAL);
	wb_pagebuf_release(other, px, 3);
	wb_pagebuf_destroy(other);
	/* without page crcs: checked from the data (a wrong byte refused) */
	wb_pagebuf_release(pb, p2, 3);
	trec_pages(&t3, pb, p3);
	for (int i = 0; i < 3; i++)
		p3[i]->crc_ok = 0;
	((uint8_t *)p3[2]->data)[7] ^= 1;
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), -EBADMSG);
	((uint8_t *)p3[2]->data)[7] ^= 1;
	assert_int_equal(wb_engine_apply_record(r.e, &t3.r, on_applied, &d), 0);
	run_until(&r, &d.n, 3);
	assert_int_equal(d.err, 0);
	check_block(&r, 30, 2);
	check_block(&r, 32, 2);
	check_block(&r, 20, 1);
	assert_int_equal(stats(&r).seq_head, 3);
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
	int i;

	(void)state;
	memset(&r, 0, sizeof(r));
	{
		struct wb_fault_cfg cfg = {.seed = 61};

		assert_int_equal(wb_io_fault_open("log", 8u << 20, &cfg, &r.log), 0);
		assert_int_equal(wb_io_fault_open("bak", DEVSZ + BS, &cfg, &r.bak), 0);
	}
	r.p = (struct wb_engine_params){.name = "replica",
					.log_io = r.log,
					.backing_io = r.bak,
					.ram_pages = 512,
					.role = WB_ROLE_REPLICA,
					.base_seq = 100,
					.base_gen = 7};
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
	assert_int_equal(wb_engine_rebase(r.e, 0, 9), -EINVAL);
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
	/* back to a lower seq (a resync target that discards its records):
	 * the records 500, 501 left on the log device are not taken for the
	 * new run at the next open, nor seen as a sign of corruption */
	drain(&r);
	assert_int_equal(wb_engine_set_mode(r.e, WB_MODE_WRITEBACK), 0);
	/* a peer held at the old head (502) holds the log from the new base */
	assert_int_equal(wb_engine_set_peer_pos(r.e, 0, stats(&r).seq_head), 0);
	assert_int_equal(wb_engine_rebase(r.e, 90, 10), 0);
	apply_ok(&r, 90, 10, 4, 4, 0);
	/* destaged from the new seq on without a reopen between: the
	 * destage positions went down with the log (they stayed at 502: the
	 * record was taken for written, drain never ended) */
	assert_int_equal(wb_engine_set_mode(r.e, WB_MODE_WRITETHROUGH), 0);
	for (i = 0; i < 100000 && stats(&r).dirty_bytes; i++)
		assert_true(wb_engine_run(r.e, 1) >= 0);
	st = stats(&r);
	assert_int_equal(st.dirty_bytes, 0);
	assert_int_equal(st.peers_held, 1);
	assert_int_equal(st.seq_tail, 90); /* held (a position of 502 held nothing) */
	assert_int_equal(wb_engine_set_peer_pos(r.e, 0, 0), 0);
	drain(&r);
	check_block(&r, 4, 4);
	check_block(&r, 5, 4);
	apply_ok(&r, 91, 10, 6, 5, WB_REC_F_GEN_END);
	drain(&r);
	check_block(&r, 6, 5);
	node_reopen(&r);
	st = stats(&r);
	assert_int_equal(st.seq_head, 92);
	assert_int_equal(st.gen_head, 11);
	check_block(&r, 4, 4);
	check_block(&r, 5, 4);
	check_block(&r, 6, 5);
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

/* ---- two nodes: records shipped through the hook ---- */

struct shipq {
	struct wb_engine *e; /* the primary: owner of the references */
	struct wb_rec_ref *r[4096];
	int n;
	uint64_t last_seq;
	int disconnected; /* references not kept (a lost link) */
	int ndropped;
	unsigned dropped_peer;
	uint64_t dropped_seq;
};

static void on_ship(void *arg, struct wb_rec_ref *r)
{
	struct shipq *q = arg;

	/* once per record, in seq order, with its crc, blocks for its data */
	if (q->last_seq)
		assert_int_equal(r->rec.seq, q->last_seq + 1);
	q->last_seq = r->rec.seq;
	assert_int_equal(r->crc, wb_record_crc(&r->rec));
	assert_null(r->rec.data);
	if (q->disconnected)
		return;
	assert_true(q->n < 4096);
	wb_engine_rec_get(q->e, r);
	q->r[q->n++] = r;
}

static void on_dropped(void *arg, unsigned peer, uint64_t seq)
{
	struct shipq *q = arg;

	q->ndropped++;
	q->dropped_peer = peer;
	q->dropped_seq = seq;
}

static void hooks_on(struct node *pr, struct shipq *q)
{
	struct wb_repl_hooks h = {.ship = on_ship, .peer_dropped = on_dropped, .arg = q};

	memset(q, 0, sizeof(*q));
	q->e = pr->e;
	assert_int_equal(wb_engine_set_repl_hooks(pr->e, &h), 0);
}

/* Apply a shipped/read-back record on the replica (as the wire would: the
 * blocks gathered into one buffer) and wait until it is durable there. */
static void apply_ref(struct node *r, const struct wb_rec_ref *ref)
{
	struct wb_record rec = ref->rec;
	struct done_ctr d = {0, 0};
	uint8_t *data = malloc((size_t)(ref->nblocks ? ref->nblocks : 1) * BS);
	uint32_t i;

	assert_non_null(data);
	for (i = 0; i < ref->nblocks; i++)
		memcpy(data + (size_t)i * BS, ref->blocks[i], BS);
	rec.data = ref->nblocks ? data : NULL;
	assert_int_equal(wb_engine_apply_record(r->e, &rec, on_applied, &d), 0);
	run_until(r, &d.n, 1);
	assert_int_equal(d.err, 0);
	free(data);
}

/* Apply everything queued, then drop the primary's references. */
static void transfer(struct shipq *q, struct node *r)
{
	int i;

	for (i = 0; i < q->n; i++) {
		apply_ref(r, q->r[i]);
		wb_engine_rec_put(q->e, q->r[i]);
	}
	q->n = 0;
}

static uint32_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)*x;
}

/* nops writes (1..8 blocks, some FUA), discards and flushes on the primary */
static void workload(struct node *pr, uint32_t *ver, uint64_t *seed, int nops)
{
	uint8_t *b = malloc(8 * BS);
	int k;

	assert_non_null(b);
	for (k = 0; k < nops; k++) {
		uint32_t n = 1 + rnd(seed) % 8, op = rnd(seed) % 16, i;
		uint64_t lba = rnd(seed) % (NBLK - n);

		if (op == 0) {
			assert_int_equal(wb_engine_flush(pr->e), 0);
		} else if (op == 1) {
			struct wb_req z = {.op = WB_REQ_DISCARD, .len = n * BS, .off = lba * BS};

			assert_int_equal(wb_engine_sync(pr->e, &z), 0);
			for (i = 0; i < n; i++)
				ver[lba + i] = 0;
		} else {
			for (i = 0; i < n; i++) {
				ver[lba + i]++;
				fill(b + (size_t)i * BS, lba + i, ver[lba + i]);
			}
			assert_int_equal(
			    wb_engine_write(pr->e, b, n * BS, lba * BS, op == 2 ? WB_REQ_F_FUA : 0),
			    0);
		}
	}
	free(b);
}

/* Both nodes read back the model at every LBA. */
static void check_same(struct node *pr, struct node *r, const uint32_t *ver)
{
	uint8_t *a = malloc(DEVSZ), *b = malloc(DEVSZ), want[BS];
	uint64_t i;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(wb_engine_read(pr->e, a, DEVSZ, 0), 0);
	assert_int_equal(wb_engine_read(r->e, b, DEVSZ, 0), 0);
	for (i = 0; i < NBLK; i++) {
		if (ver[i])
			fill(want, i, ver[i]);
		else
			memset(want, 0, BS);
		if (memcmp(a + i * BS, want, BS))
			fail_msg("primary block %llu is not version %u", (unsigned long long)i,
				 ver[i]);
		if (memcmp(b + i * BS, want, BS))
			fail_msg("replica block %llu is not version %u", (unsigned long long)i,
				 ver[i]);
	}
	free(a);
	free(b);
}

/* wait until nothing is dirty (destage done; held records may stay) */
static void destage_all(struct node *n)
{
	int i;

	assert_int_equal(wb_engine_set_mode(n->e, WB_MODE_WRITETHROUGH), 0);
	for (i = 0; i < 100000 && stats(n).dirty_bytes; i++)
		assert_true(wb_engine_run(n->e, 1) >= 0);
	assert_int_equal(stats(n).dirty_bytes, 0);
	assert_int_equal(wb_engine_set_mode(n->e, WB_MODE_WRITEBACK), 0);
}

static uint32_t model[NBLK];

/* Records shipped through the hook and applied on the replica end up
 * identical at every LBA; references outlive the primary's log write and
 * destage (page refcounts); the replica restarts mid-generation and goes
 * on; both nodes have the same seqs and generations. */
static void test_ship_apply(void **state)
{
	struct node pr, r;
	struct shipq q;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct wb_engine_stats sp, sr;
	int round;

	(void)state;
	memset(model, 0, sizeof(model));
	node_init(&pr, 81, 16u << 20, 0, WB_ROLE_PRIMARY);
	node_init(&r, 83, 16u << 20, 0, WB_ROLE_REPLICA);
	hooks_on(&pr, &q);
	for (round = 0; round < 8; round++) {
		workload(&pr, model, &seed, 40);
		if (round == 3)
			destage_all(&pr); /* the records' own pages are put: ours stay */
		transfer(&q, &r);
		if (round == 5) /* restart the replica mid-generation (no flush since) */
			node_reopen(&r);
	}
	assert_int_equal(wb_engine_flush(pr.e), 0);
	transfer(&q, &r);
	sp = stats(&pr);
	sr = stats(&r);
	assert_int_equal(sr.seq_head, sp.seq_head);
	assert_int_equal(sr.gen_head, sp.gen_head);
	assert_true(sp.seq_head > 100);
	check_same(&pr, &r, model);
	node_reopen(&r);
	check_same(&pr, &r, model);
	node_fini(&pr); /* every page reference was put, or the pagebuf asserts */
	node_fini(&r);
}

struct rb {
	struct wb_engine *e;
	struct wb_rec_ref *ref;
	int n, err;
};

static void on_read_back(void *arg, int err, struct wb_rec_ref *ref)
{
	struct rb *x = arg;

	x->n++;
	x->err = err;
	if (!err) {
		wb_engine_rec_get(x->e, ref);
		x->ref = ref;
	}
}

static struct wb_rec_ref *read_back(struct node *pr, uint64_t seq)
{
	struct rb x = {.e = pr->e};

	assert_int_equal(wb_engine_read_record(pr->e, seq, on_read_back, &x), 0);
	assert_int_equal(x.n, 0); /* from run() only */
	run_until(pr, &x.n, 1);
	assert_int_equal(x.err, 0);
	assert_int_equal(x.ref->rec.seq, seq);
	return x.ref;
}

/* A replica that missed records catches up from the primary's log: the
 * peer position holds the tail back (destage done, log space kept), the
 * records are read back (from the log device: their pages are gone) and
 * applied; the hold released, the tail moves on. */
static void test_catchup(void **state)
{
	struct node pr, r;
	struct shipq q;
	uint64_t seed = 42, k, s, head;
	struct wb_rec_ref *ref;
	struct rb x;

	(void)state;
	memset(model, 0, sizeof(model));
	node_init(&pr, 91, 16u << 20, 0, WB_ROLE_PRIMARY);
	node_init(&r, 93, 16u << 20, 0, WB_ROLE_REPLICA);
	hooks_on(&pr, &q);
	workload(&pr, model, &seed, 30);
	transfer(&q, &r);
	/* link lost: the primary keeps what the replica lacks */
	k = stats(&r).seq_head;
	assert_int_equal(wb_engine_set_peer_pos(pr.e, 0, k), 0);
	q.disconnected = 1;
	workload(&pr, model, &seed, 60);
	assert_int_equal(wb_engine_flush(pr.e), 0);
	destage_all(&pr);
	head = stats(&pr).seq_head;
	assert_true(head > k + 10);
	assert_int_equal(stats(&pr).seq_tail, k); /* held */
	assert_int_equal(stats(&pr).peers_held, 1);
	assert_int_equal(wb_engine_read_record(pr.e, head, on_read_back, &x), -ENOENT);
	/* reconnect: read back and apply what it missed */
	q.disconnected = 0;
	for (s = k; s < head; s++) {
		ref = read_back(&pr, s);
		apply_ref(&r, ref);
		wb_engine_rec_put(pr.e, ref);
	}
	assert_int_equal(stats(&r).seq_head, head);
	check_same(&pr, &r, model);
	/* caught up: the hold goes, the tail moves on */
	assert_int_equal(wb_engine_set_peer_pos(pr.e, 0, 0), 0);
	for (s = 0; s < 1000 && stats(&pr).seq_tail < head; s++)
		assert_true(wb_engine_run(pr.e, 1) >= 0);
	assert_int_equal(stats(&pr).seq_tail, head);
	assert_int_equal(wb_engine_read_record(pr.e, k, on_read_back, &x), -ENOENT);
	assert_int_equal(wb_engine_set_peer_pos(pr.e, 0, k), -ENOENT);
	assert_int_equal(q.ndropped, 0);
	node_fini(&pr);
	node_fini(&r);
}

/* Read back gives the record exactly as shipped (flags final at shipping:
 * a flush that arrives after placement does not change it), from RAM or
 * from the log device. */
static void test_read_back_final(void **state)
{
	struct node pr;
	struct shipq q;
	uint8_t b[2 * BS];
	struct wb_rec_ref *ref;
	uint32_t crc[64];
	uint64_t first;
	int i, ends = 0;

	(void)state;
	node_init(&pr, 101, 16u << 20, 0, WB_ROLE_PRIMARY);
	hooks_on(&pr, &q);
	assert_int_equal(wb_engine_set_peer_pos(pr.e, 1, stats(&pr).seq_head), 0);
	first = stats(&pr).seq_head;
	for (i = 0; i < 8; i++) {
		fill(b, 7 * i, 1);
		fill(b + BS, 7 * i + 1, 1);
		assert_int_equal(wb_engine_write(pr.e, b, 2 * BS, 7 * i * BS, 0), 0);
		if (i % 3 == 2)
			assert_int_equal(wb_engine_flush(pr.e), 0);
	}
	assert_int_equal(wb_engine_flush(pr.e), 0);
	assert_int_equal(q.n, (int)(stats(&pr).seq_head - first));
	assert_true(q.n <= 64);
	for (i = 0; i < q.n; i++) {
		/* every flush ended its generation with a flag on a shipped record:
		 * the writes were placed before the flush, so an empty GEN_END one */
		if (q.r[i]->rec.flags & WB_REC_F_GEN_END) {
			ends++;
			assert_int_equal(q.r[i]->rec.nextents, 0);
			assert_int_equal(q.r[i]->nblocks, 0);
			if (i + 1 < q.n)
				assert_int_equal(q.r[i + 1]->rec.gen, q.r[i]->rec.gen + 1);
		}
		crc[i] = q.r[i]->crc;
		ref = read_back(&pr, first + i); /* from RAM */
		assert_int_equal(ref->crc, crc[i]);
		wb_engine_rec_put(pr.e, ref);
	}
	assert_int_equal(ends, 3);
	destage_all(&pr);
	for (i = 0; i < q.n; i++) {
		ref = read_back(&pr, first + i); /* from the log device */
		assert_int_equal(ref->crc, crc[i]);
		assert_int_equal(ref->nblocks, q.r[i]->nblocks);
		if (ref->nblocks)
			assert_memory_equal(ref->blocks[0], q.r[i]->blocks[0], BS);
		wb_engine_rec_put(pr.e, ref);
		wb_engine_rec_put(pr.e, q.r[i]);
	}
	node_fini(&pr);
}

/* Past peer_retention (records, then bytes, then a full log with no
 * limit) the peer is dropped: the owner is told, the tail moves on,
 * writers never wait for it. */
static void test_retention(void **state)
{
	struct node pr;
	struct shipq q;
	uint8_t *b = malloc(16 * BS);
	uint64_t pos;
	int i, pass;

	(void)state;
	assert_non_null(b);
	memset(b, 0x5a, 16 * BS);
	node_init(&pr, 111, 4u << 20, 1u << 20, WB_ROLE_PRIMARY);
	for (pass = 0; pass < 3; pass++) {
		pr.p.peer_retention_records = pass == 0 ? 4 : 0;
		pr.p.peer_retention_bytes = pass == 1 ? 64 * BS : 0;
		node_reopen(&pr);
		hooks_on(&pr, &q);
		q.disconnected = 1; /* a sender holding pages would throttle writers */
		pos = stats(&pr).seq_head;
		assert_int_equal(wb_engine_set_peer_pos(pr.e, 3, pos), 0);
		/* pass 2: 6 MiB through a 3 MiB data area, FUA so records are small
		 * and the log fills; with limits, 12 records are enough */
		for (i = 0; i < (pass == 2 ? 96 : 12); i++)
			assert_int_equal(wb_engine_write(pr.e, b, 16 * BS,
							 (uint64_t)(i % 60) * 16 * BS,
							 WB_REQ_F_FUA),
					 0);
		if (pass < 2)
			destage_all(&pr);
		for (i = 0; i < 1000 && !q.ndropped; i++)
			assert_true(wb_engine_run(pr.e, 0) >= 0);
		assert_int_equal(q.ndropped, 1);
		assert_int_equal(q.dropped_peer, 3);
		assert_int_equal(q.dropped_seq, pos);
		assert_int_equal(stats(&pr).peers_held, 0);
		assert_int_equal(stats(&pr).peers_dropped, 1);
		assert_true(stats(&pr).seq_tail > pos);
	}
	free(b);
	node_fini(&pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replica_refuses_writes),
	    cmocka_unit_test(test_replica_restart_mid_gen),
	    cmocka_unit_test(test_promote),
	    cmocka_unit_test(test_apply_rules),
	    cmocka_unit_test(test_apply_pages),
	    cmocka_unit_test(test_apply_closing),
	    cmocka_unit_test(test_base),
	    cmocka_unit_test(test_geometry),
	    cmocka_unit_test(test_ship_apply),
	    cmocka_unit_test(test_catchup),
	    cmocka_unit_test(test_read_back_final),
	    cmocka_unit_test(test_apply_fua),
	    cmocka_unit_test(test_apply_written),
	    cmocka_unit_test(test_apply_fua_inflight),
	    cmocka_unit_test(test_retention),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
