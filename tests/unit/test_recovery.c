// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_recovery.c - the log scan of engine/recovery.c on hand-built logs:
 * records are encoded with engine/record.c and written to a fault device
 * where the test wants them, then the scan must find exactly the longest
 * valid consecutive run: seq continuity, self offset, header and data crc,
 * the epoch rule (a stale record of an older open with the right seq at the
 * right place ends the run; tail_min_epoch applies across the tail), wrap to
 * data_off with the waste counted, a torn record ending the run, and the
 * callback seeing the records in order with their data. wb_recovery_verify
 * tells a torn tail from corruption: a clean-closed log whose run stops
 * short of the head hint, a record past a hole that says the hole was
 * durable (durable_seq), versus a legitimately torn tail after a crash.
 * Over random geometries, the scan finds the records exactly where the
 * writer's placement (engine/logspace.c) put them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/logspace.h"
#include "engine/recovery.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"

#define BS  4096u
#define SEG (64u * 1024)

struct log {
	struct wb_io *io;
	struct wb_sb sb;
};

static uint64_t put_durable; /* durable_seq of the records put_rec writes */

static void log_init(struct log *l, uint64_t size)
{
	struct wb_fault_cfg c = {0};

	assert_int_equal(wb_io_fault_open("rlog", size, &c, &l->io), 0);
	assert_int_equal(wb_sb_format(l->io, 1u << 20, SEG, &l->sb), 0);
}

/* Write record seq at off with nb data blocks filled with `fill`. */
static uint64_t put_rec(struct log *l, uint64_t off, uint64_t seq, uint64_t gen, uint64_t epoch,
			uint32_t nb, uint8_t fill)
{
	struct wb_rec_info *ri = calloc(1, sizeof(*ri));
	uint8_t *buf = calloc(1 + nb, BS);

	memset(buf + BS, fill, (size_t)nb * BS);
	ri->seq = seq;
	ri->gen = gen;
	ri->epoch = epoch;
	ri->self_off = off;
	ri->durable_seq = put_durable;
	ri->nextents = 1;
	ri->ext[0].lba = seq * 8;
	ri->ext[0].nblocks = nb;
	ri->ext[0].crc = wb_crc32c(0, buf + BS, (size_t)nb * BS);
	assert_int_equal(wb_record_encode(buf, l->sb.uuid, ri), 0);
	assert_int_equal(wb_io_pwrite(l->io, buf, (size_t)(1 + nb) * BS, off, 0), 0);
	free(buf);
	free(ri);
	return off + (uint64_t)(1 + nb) * BS;
}

struct seen {
	uint64_t seq[64], span[64];
	uint8_t first[64];
	unsigned n;
};

static int cb(void *arg, const struct wb_rec_info *ri, uint64_t span, const void *data)
{
	struct seen *s = arg;

	assert_true(s->n < 64);
	s->seq[s->n] = ri->seq;
	s->span[s->n] = span;
	s->first[s->n] = *(const uint8_t *)data;
	s->n++;
	return 0;
}

static void scan(struct log *l, struct seen *s, struct wb_recovery *rc)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(wb_recovery_scan(l->io, &l->sb, 256, cb, s, rc), 0);
}

static void test_empty_and_run(void **state)
{
	struct log l;
	struct seen s;
	struct wb_recovery rc;
	uint64_t off;
	static uint8_t hdr[BS];

	(void)state;
	log_init(&l, 1u << 20);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 0);
	assert_int_equal(rc.next_seq, 1);
	assert_int_equal(rc.head_off, l.sb.data_off);
	assert_non_null(strstr(rc.end_why, "bad record magic"));

	l.sb.epoch = 1;
	off = put_rec(&l, l.sb.data_off, 1, 1, 1, 2, 0x11);
	off = put_rec(&l, off, 2, 1, 1, 1, 0x22);
	off = put_rec(&l, off, 3, 2, 1, 3, 0x33);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 3);
	assert_int_equal(s.n, 3);
	assert_true(s.seq[0] == 1 && s.seq[1] == 2 && s.seq[2] == 3);
	assert_true(s.first[0] == 0x11 && s.first[2] == 0x33);
	assert_int_equal(rc.next_seq, 4);
	assert_int_equal(rc.head_off, off);
	assert_int_equal(rc.used, 9 * BS);
	assert_int_equal(rc.data_bytes, 6 * BS);
	assert_true(rc.first_gen == 1 && rc.last_gen == 2);

	/* a gap in seq ends the run: seq 5 after 3 */
	put_rec(&l, off, 5, 2, 1, 1, 0x55);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 3);
	assert_non_null(strstr(rc.end_why, "expected 4"));
	/* the right seq written for another offset ends it too: record 4, then a
	 * copy of its header where record 5 is expected */
	put_rec(&l, off, 4, 2, 1, 1, 0x44);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 4);
	assert_int_equal(wb_io_pread(l.io, hdr, BS, off), 0);
	assert_int_equal(wb_io_pwrite(l.io, hdr, BS, off + 2 * BS, 0), 0);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 4);
	assert_non_null(strstr(rc.end_why, "self-offset"));
	wb_io_close(l.io);
}

static void test_torn_record(void **state)
{
	struct log l;
	struct seen s;
	struct wb_recovery rc;
	uint64_t off, r2;
	uint8_t junk[512];

	(void)state;
	log_init(&l, 1u << 20);
	l.sb.epoch = 1;
	off = put_rec(&l, l.sb.data_off, 1, 1, 1, 1, 0x11);
	r2 = off;
	off = put_rec(&l, off, 2, 1, 1, 4, 0x22);
	put_rec(&l, off, 3, 1, 1, 1, 0x33);
	/* one 512-byte sector of record 2's data did not land */
	memset(junk, 0, sizeof(junk));
	assert_int_equal(wb_io_pwrite(l.io, junk, 512, r2 + 3 * BS + 1024, 0), 0);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 1); /* record 3 is valid but after the torn one: not used */
	assert_int_equal(rc.next_seq, 2);
	assert_int_equal(rc.head_off, r2);
	assert_non_null(strstr(rc.end_why, "data checksum"));
	wb_io_close(l.io);
}

/* verify sees every stray header past the run */
static int stray_cb(void *arg, const struct wb_rec_info *ri)
{
	struct seen *s = arg;

	s->seq[s->n++] = ri->seq;
	return 0;
}

static int verify(struct log *l, struct wb_recovery *rc, struct seen *strays, char *why)
{
	if (strays)
		memset(strays, 0, sizeof(*strays));
	return wb_recovery_verify(l->io, &l->sb, 256, rc, strays ? stray_cb : NULL, strays, why,
				  400);
}

/* A cleanly closed log with a data crc error in a middle record: the run
 * stops short of the head hint -> corruption, naming seq and offset. */
static void test_verify_clean_close(void **state)
{
	struct log l;
	struct seen s, st;
	struct wb_recovery rc;
	uint64_t off[7];
	uint8_t junk[512];
	char why[400];
	int i;

	(void)state;
	log_init(&l, 1u << 20);
	l.sb.epoch = 1;
	off[1] = l.sb.data_off;
	for (i = 1; i <= 5; i++)
		off[i + 1] = put_rec(&l, off[i], (uint64_t)i, 1, 1, 2, (uint8_t)(0x10 * i));
	l.sb.flags |= WB_SB_F_CLEAN;
	l.sb.head_hint_seq = 6;
	l.sb.head_hint_off = off[6];
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 5);
	assert_int_equal(verify(&l, &rc, NULL, why), 0);
	assert_int_equal(rc.end_torn, 0);

	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(wb_io_pwrite(l.io, junk, 512, off[3] + BS + 1024, 0), 0);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 2);
	assert_int_equal(rc.end_torn, 1);
	assert_int_equal(verify(&l, &rc, &st, why), 1);
	assert_non_null(strstr(why, "closed cleanly"));
	assert_non_null(strstr(why, "ends at seq 3"));
	{
		char at[40];

		snprintf(at, sizeof(at), "0x%llx", (unsigned long long)off[3]);
		assert_non_null(strstr(why, at));
	}
	/* the strays past the run: 3 (bad data, valid header), 4, 5 */
	assert_int_equal(st.n, 3);
	assert_true(st.seq[0] == 3 && st.seq[1] == 4 && st.seq[2] == 5);
	/* not closed cleanly, and no later record says 3 was durable: a torn
	 * tail as a crash leaves it (records 4, 5 were never flushed) */
	l.sb.flags &= ~WB_SB_F_CLEAN;
	assert_int_equal(verify(&l, &rc, NULL, why), 0);
	wb_io_close(l.io);
}

/* Not closed cleanly: a valid record after a hole that was written when the
 * hole's record was already durable -> corruption; the same layout with
 * the later records written before that flush -> a torn tail. */
static void test_verify_hole(void **state)
{
	struct log l;
	struct seen s;
	struct wb_recovery rc;
	uint64_t off[7];
	uint8_t zero[BS];
	char why[400];
	int i;

	(void)state;
	memset(zero, 0, sizeof(zero));
	log_init(&l, 1u << 20);
	l.sb.epoch = 1;
	off[1] = l.sb.data_off;
	for (i = 1; i <= 5; i++) { /* each record written after its predecessor's flush */
		put_durable = (uint64_t)i - 1;
		off[i + 1] = put_rec(&l, off[i], (uint64_t)i, 1, 1, 1, (uint8_t)(0x10 * i));
	}
	put_durable = 0;
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 5);
	assert_int_equal(verify(&l, &rc, NULL, why), 0);
	/* record 3's header gone: 4 says 1..3 were durable */
	assert_int_equal(wb_io_pwrite(l.io, zero, BS, off[3], 0), 0);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 2);
	assert_int_equal(rc.end_torn, 0);
	assert_int_equal(verify(&l, &rc, NULL, why), 1);
	assert_non_null(strstr(why, "record seq 4"));
	assert_non_null(strstr(why, "ends at seq 3"));

	/* 4 and 5 written before 3 was durable (durable_seq 2): torn tail */
	put_durable = 2;
	put_rec(&l, off[4], 4, 1, 1, 1, 0x40);
	put_rec(&l, off[5], 5, 1, 1, 1, 0x50);
	put_durable = 0;
	assert_int_equal(verify(&l, &rc, NULL, why), 0);
	/* a leftover of an older lap (seq below the run's end) is no evidence */
	put_durable = 9;
	put_rec(&l, off[5] + 8 * BS, 2, 1, 1, 1, 0x22);
	put_durable = 0;
	assert_int_equal(verify(&l, &rc, NULL, why), 0);
	wb_io_close(l.io);
}

/*
 * The stale record argument (docs/ondisk-format.md, section 5): open 1
 * (epoch 1) wrote seq 1, 2, 3; seq 2 was lost, seq 3 survived. Open 2
 * (epoch 2) wrote a new seq 2 of the same size at the same place. The old
 * seq 3 then sits where seq 3 is expected, with the right self offset.
 */
static void test_epoch_rule(void **state)
{
	struct log l;
	struct seen s;
	struct wb_recovery rc;
	uint64_t off, r2, r3;

	(void)state;
	log_init(&l, 1u << 20);
	l.sb.epoch = 1;
	r2 = put_rec(&l, l.sb.data_off, 1, 1, 1, 1, 0x11);
	r3 = put_rec(&l, r2, 2, 1, 1, 2, 0x22);
	put_rec(&l, r3, 3, 1, 1, 1, 0x33);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 3); /* consistent history of epoch 1 */

	l.sb.epoch = 2;
	off = put_rec(&l, r2, 2, 1, 2, 2, 0xa2); /* open 2 rewrote seq 2 */
	assert_int_equal(off, r3);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 2);
	assert_int_equal(s.first[1], 0xa2);
	assert_non_null(strstr(rc.end_why, "stale epoch"));
	assert_int_equal(rc.head_off, r3);

	/* a record from an epoch newer than the superblock's is not believed */
	put_rec(&l, r3, 3, 1, 3, 1, 0x33);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 2);
	put_rec(&l, r3, 3, 1, 2, 1, 0x33);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 3);

	/* across the tail: seq 3 becomes the tail after 1..2 were destaged in
	 * epoch 2; a stale epoch-1 record at the tail is refused */
	l.sb.tail_off = r3;
	l.sb.tail_seq = 3;
	l.sb.tail_min_epoch = 2;
	put_rec(&l, r3, 3, 1, 1, 1, 0x33);
	scan(&l, &s, &rc);
	assert_int_equal(rc.nrecs, 0);
	assert_int_equal(rc.next_seq, 3);
	assert_int_equal(rc.head_off, r3);
	wb_io_close(l.io);
}

static void test_wrap(void **state)
{
	struct log l;
	struct seen s;
	struct wb_recovery rc;
	uint64_t end, start, pos;

	(void)state;
	/* data area of 2 segments (128 KiB = 32 blocks) */
	{
		struct wb_fault_cfg c = {0};

		assert_int_equal(wb_io_fault_open("rlog", 3 * SEG, &c, &l.io), 0);
		assert_int_equal(wb_sb_format(l.io, 1u << 20, SEG, &l.sb), 0);
	}
	start = l.sb.data_off;
	end = start + l.sb.data_size;
	assert_int_equal(l.sb.data_size, 32 * BS);
	l.sb.epoch = 1;
	/* the tail at block 20: records 7 (blocks 20..26) and 8 (27..30) fit
	 * before the end, 9 (3 blocks) does not fit in block 31: it wraps */
	pos = start + 20 * BS;
	l.sb.tail_off = pos;
	l.sb.tail_seq = 7;
	pos = put_rec(&l, pos, 7, 3, 1, 6, 0x77); /* blocks 20..26 */
	pos = put_rec(&l, pos, 8, 3, 1, 3, 0x88); /* blocks 27..30 */
	assert_int_equal(pos, end - BS);
	put_rec(&l, start, 9, 4, 1, 2, 0x99); /* 3 blocks: wrapped */
	put_rec(&l, start + 3 * BS, 10, 4, 1, 1, 0xaa);
	scan(&l, &s, &rc);
	if (rc.nrecs != 4)
		fail_msg("%llu records, run ended: %s", (unsigned long long)rc.nrecs, rc.end_why);
	assert_int_equal(s.first[2], 0x99);
	assert_int_equal(s.span[2], 3 * BS + BS); /* its 3 blocks + 1 block of waste */
	assert_int_equal(rc.used, 7 * BS + 4 * BS + 4 * BS + 2 * BS);
	assert_int_equal(rc.first_off, start + 20 * BS);
	assert_int_equal(rc.head_off, start + 5 * BS);
	/* the next record is expected at the head: a stale one is not taken */
	assert_non_null(strstr(rc.end_why, "bad record magic"));
	assert_int_equal(rc.next_seq, 11);
	wb_io_close(l.io);
}

/* xorshift64*: reproducible from the printed seed */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

struct placed {
	uint64_t off[512], span[512];
	unsigned n;
};

static int placed_cb(void *arg, const struct wb_rec_info *ri, uint64_t span, const void *data)
{
	struct placed *p = arg;

	assert_true(p->n < 512);
	p->off[p->n] = ri->self_off;
	p->span[p->n++] = span;
	return 0;
}

/*
 * Writer placement == what recovery finds, over random geometries: records
 * of random sizes are placed the way the engine places them
 * (wb_logspace_peek/take, released from the tail at random, the tail in the
 * superblock following), written over the stale records of earlier laps,
 * and the scan must find exactly the live ones at the writer's offsets with
 * the writer's spans, and the writer's head and space in use.
 */
static void test_writer_placement_is_recovered(void **state)
{
	uint64_t seed = 0x2545f4914f6cdd1dull;

	(void)state;
	print_message("seed %llu\n", (unsigned long long)seed);
	for (int g = 0; g < 40; g++) {
		struct wb_fault_cfg fc = {0};
		struct log l;
		struct wb_logspace sp;
		struct wb_recovery rc;
		struct placed want = {0}, got = {0};
		uint64_t start, nblk, maxb, seq = 1, oldest_seq = 1;
		uint64_t live_off[512], live_span[512];
		uint64_t live_bytes[512], first_bytes;
		unsigned head = 0, n = 0, ops = 50 + rnd(&seed) % 400;

		assert_int_equal(wb_io_fault_open("rlog", (3 + rnd(&seed) % 7) * SEG, &fc, &l.io),
				 0);
		assert_int_equal(wb_sb_format(l.io, 1u << 20, SEG, &l.sb), 0);
		l.sb.epoch = 1;
		start = l.sb.data_off;
		nblk = l.sb.data_size / BS;
		maxb = 1 + rnd(&seed) %
			       (nblk / 2 < l.sb.max_rec_blocks ? nblk / 2 : l.sb.max_rec_blocks);
		wb_logspace_init(&sp, &l.sb, start + rnd(&seed) % nblk * BS, 0);
		for (unsigned i = 0; i < ops; i++) {
			uint64_t nb = 1 + rnd(&seed) % maxb, off, span;

			if (n && rnd(&seed) % 3 == 0) { /* destaged: release the oldest */
				wb_logspace_release(&sp,
						    n > 1 ? live_off[(head + 1) % 512] : sp.head,
						    live_span[head % 512]);
				head++;
				n--;
				oldest_seq++;
				continue;
			}
			if (n == 512 || wb_logspace_peek(&sp, (1 + nb) * BS, &off, &span))
				continue; /* full for now */
			wb_logspace_take(&sp, off, (1 + nb) * BS, span);
			put_rec(&l, off, seq++, 1, 1, (uint32_t)nb, (uint8_t)i);
			live_off[(head + n) % 512] = off;
			live_span[(head + n) % 512] = span;
			live_bytes[(head + n) % 512] = (1 + nb) * BS;
			n++;
		}
		first_bytes = n ? live_bytes[head % 512] : 0;
		/* the superblock's tail: the oldest live record, else the head */
		l.sb.tail_off = n ? live_off[head % 512] : sp.head;
		l.sb.tail_seq = oldest_seq;
		for (unsigned j = 0; j < n; j++) {
			want.off[j] = live_off[(head + j) % 512];
			want.span[j] = live_span[(head + j) % 512];
		}
		want.n = n;
		assert_int_equal(wb_recovery_scan(l.io, &l.sb, 1ull << 40, placed_cb, &got, &rc),
				 0);
		if (got.n != want.n)
			fail_msg("geometry %d: writer has %u live records, recovery found %u (%s)",
				 g, want.n, got.n, rc.end_why);
		/* The first live record: recovery charges it no waste (the gap
		 * before it is behind the tail, free again), the writer still
		 * counts the waste it charged when it wrapped until it is
		 * released. Every later one: the same span on both sides. */
		for (unsigned j = 0; j < n; j++) {
			assert_int_equal(got.off[j], want.off[j]);
			if (j)
				assert_int_equal(got.span[j], want.span[j]);
		}
		assert_int_equal(rc.next_seq, seq);
		assert_int_equal(rc.head_off, sp.head);
		assert_int_equal(rc.used, sp.used - (n ? want.span[0] - first_bytes : 0));
		wb_io_close(l.io);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_and_run),
	    cmocka_unit_test(test_torn_record),
	    cmocka_unit_test(test_epoch_rule),
	    cmocka_unit_test(test_wrap),
	    cmocka_unit_test(test_verify_clean_close),
	    cmocka_unit_test(test_verify_hole),
	    cmocka_unit_test(test_writer_placement_is_recovered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
