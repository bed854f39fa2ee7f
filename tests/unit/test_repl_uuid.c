// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_repl_uuid.c - unit tests of wbd_repl_uuid_relate() (daemon/repl_uuid.c):
 * how two nodes' data generations relate on connect. Same generation;
 * fresh logs; one side behind (its current UUID in the other's history)
 * with its seq head at, below and past the common point (the seq the next
 * generation began at, carried in UUIDs made at a promotion); a UUID
 * without a seq (format, upgrade) as the next generation; deeper history;
 * split brain; a side without UUIDs; an old primary with records past the
 * common point (rolled back); a primary's new generation when it lost its
 * last up-to-date peer ("lost" UUIDs): its old secondary is caught up, an
 * old primary that went on alone is split brain; the fork point of two
 * sides (wbd_repl_uuid_fork, for --discard-my-data); which side was
 * primary at the split and which promoted after it (wbd_repl_uuid_began).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/repl_int.h"

/* A UUID as wbrepd makes it at a promotion: 6 bytes of id, "WS", le64 seq. */
static void mk(uint8_t *u, uint8_t id, uint64_t seq)
{
	memset(u, id, 6);
	u[6] = 'W';
	u[7] = 'S';
	for (int i = 0; i < 8; i++)
		u[8 + i] = (uint8_t)(seq >> (8 * i));
}

/* ... and as it makes it when going on without an up-to-date peer: "WL". */
static void mk_lost(uint8_t *u, uint8_t id, uint64_t seq)
{
	mk(u, id, seq);
	u[7] = 'L';
}

/* A UUID of other origin (format): random bytes, no seq. */
static void mk_plain(uint8_t *u, uint8_t id)
{
	memset(u, id, WB_META_UUID_LEN);
}

static enum repl_rel rel(const struct repl_uuids *a, const struct repl_uuids *b, uint64_t *c)
{
	return wbd_repl_uuid_relate(a, b, c);
}

static void test_same_and_unknown(void **state)
{
	struct repl_uuids a = {0}, b = {0};
	uint64_t c;

	(void)state;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_UNKNOWN);
	mk_plain(a.cur, 1);
	a.head = 50;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_UNKNOWN); /* peer has none */
	b = a;
	b.head = 10;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_SAME); /* positions decide */
}

static void test_fresh_logs(void **state)
{
	struct repl_uuids a = {0}, b = {0};
	uint64_t c;

	(void)state;
	mk_plain(a.cur, 1);
	mk_plain(b.cur, 2);
	a.head = b.head = 1;
	/* both formatted apart, nothing written: compatible */
	assert_int_equal(rel(&a, &b, &c), REPL_REL_SAME);
	/* a promoted and wrote: b is just created, it takes everything */
	mk(a.cur, 3, 1);
	mk_plain(a.hist[0], 1);
	a.nhist = 1;
	a.head = 40;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_PEER_BEHIND);
	assert_int_equal(rel(&b, &a, &c), REPL_REL_ME_BEHIND);
}

static void test_behind_and_diverged(void **state)
{
	struct repl_uuids np = {0}, old = {0};
	uint64_t c;

	(void)state;
	/* generation U1; np promoted at seq 100 (U2, history U1) */
	mk(np.cur, 2, 100);
	mk(np.hist[0], 1, 1);
	np.nhist = 1;
	np.head = 180;
	mk(old.cur, 1, 1);
	old.head = 100; /* had records 1..99: all shared */
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_BEHIND);
	assert_int_equal(c, 100);
	assert_int_equal(rel(&old, &np, &c), REPL_REL_ME_BEHIND);
	old.head = 60;
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_BEHIND);
	/* the old primary crashed while connected: seq 100 and 101 exist
	 * only there (never acknowledged): rolled back */
	old.head = 102;
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_ROLLBACK);
	assert_int_equal(c, 100);
	assert_int_equal(rel(&old, &np, &c), REPL_REL_ME_ROLLBACK);
	assert_int_equal(c, 100);
	/* ... and they carry data up to 101 (data_head 102), or 100 only */
	old.data_head = 102;
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_ROLLBACK);
	old.data_head = 101;
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_ROLLBACK);
	assert_int_equal(rel(&old, &np, &c), REPL_REL_ME_ROLLBACK);
	/* more records than the new primary: rolled back all the same */
	old.head = old.data_head = 300;
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_ROLLBACK);
	assert_int_equal(rel(&old, &np, &c), REPL_REL_ME_ROLLBACK);
	old.head = 102;
	/* only generation ends past the common point (data up to 99): the
	 * same data, not the same log */
	old.data_head = 100;
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_BEHIND_LOG);
	assert_int_equal(c, 100);
	assert_int_equal(rel(&old, &np, &c), REPL_REL_ME_BEHIND_LOG);
	old.data_head = 0; /* not told: every record may carry data */
	assert_int_equal(rel(&np, &old, &c), REPL_REL_PEER_ROLLBACK);
}

static void test_deeper_history_and_plain_uuid(void **state)
{
	struct repl_uuids a = {0}, b = {0};
	uint64_t c;

	(void)state;
	/* a: U3 (from seq 200), history U2 (from 100), U1 */
	mk(a.cur, 3, 200);
	mk(a.hist[0], 2, 100);
	mk_plain(a.hist[1], 1);
	a.nhist = 2;
	a.head = 250;
	mk_plain(b.cur, 1);
	b.head = 100;
	/* b's U1 is a.hist[1]: the next newer is U2, begun at 100 */
	assert_int_equal(rel(&a, &b, &c), REPL_REL_PEER_BEHIND);
	assert_int_equal(c, 100);
	b.head = 150;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_PEER_ROLLBACK);
	assert_int_equal(c, 100);
	/* b in U2 at 200: exactly the common point of U3 */
	mk(b.cur, 2, 100);
	mk_plain(b.hist[0], 1);
	b.nhist = 1;
	b.head = 200;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_PEER_BEHIND);
	assert_int_equal(c, 200);
	/* the next newer generation has no seq: cannot tell, refused */
	mk_plain(a.cur, 9);
	assert_int_equal(rel(&a, &b, &c), REPL_REL_PEER_DIVERGED);
	assert_int_equal(rel(&b, &a, &c), REPL_REL_ME_DIVERGED);
}

static void test_lost_peer_generation(void **state)
{
	struct repl_uuids p = {0}, s = {0}, n = {0};
	uint64_t c;

	(void)state;
	/* p, primary of U1, lost its secondary s at seq 100 (the first one s
	 * did not ack durable) and went on: L2 from 100 */
	mk_lost(p.cur, 2, 100);
	mk(p.hist[0], 1, 1);
	p.nhist = 1;
	p.head = 150;
	mk(s.cur, 1, 1);
	s.head = 90;
	assert_int_equal(rel(&p, &s, &c), REPL_REL_PEER_BEHIND);
	assert_int_equal(c, 100);
	assert_int_equal(rel(&s, &p, &c), REPL_REL_ME_BEHIND);
	/* s had 100..104 durable, their acks lost with the link: p's own
	 * records (one primary per generation): caught up, not rolled back */
	s.head = 105;
	assert_int_equal(rel(&p, &s, &c), REPL_REL_PEER_BEHIND);
	assert_int_equal(rel(&s, &p, &c), REPL_REL_ME_BEHIND);
	/* ... but not past p's head: not p's */
	s.head = 151;
	assert_int_equal(rel(&p, &s, &c), REPL_REL_PEER_ROLLBACK);
	assert_int_equal(rel(&s, &p, &c), REPL_REL_ME_ROLLBACK);
	/* a deeper "lost" generation (p promoted since, U3 from 120): s is
	 * not known to be p's secondary of it: rolled back */
	memcpy(p.hist[1], p.hist[0], WB_META_UUID_LEN);
	memcpy(p.hist[0], p.cur, WB_META_UUID_LEN);
	mk(p.cur, 3, 120);
	p.nhist = 2;
	s.head = 105;
	assert_int_equal(rel(&p, &s, &c), REPL_REL_PEER_ROLLBACK);
	assert_int_equal(c, 100);
	/* an old primary that went on alone (L2 from 100, written up to 150),
	 * crashed; its secondary n was promoted (U4 from 100): split brain,
	 * never rolled back */
	mk_lost(p.cur, 2, 100);
	mk(p.hist[0], 1, 1);
	p.nhist = 1;
	p.head = 150;
	mk(n.cur, 4, 100);
	mk(n.hist[0], 1, 1);
	n.nhist = 1;
	n.head = 130;
	assert_int_equal(rel(&n, &p, &c), REPL_REL_SPLIT);
	assert_int_equal(rel(&p, &n, &c), REPL_REL_SPLIT);
	/* n had adopted L2 (connected after p's new generation) and was
	 * promoted: p is behind, rolled back past n's start */
	mk(n.cur, 4, 140);
	mk_lost(n.hist[0], 2, 100);
	mk(n.hist[1], 1, 1);
	n.nhist = 2;
	n.head = 160;
	assert_int_equal(rel(&n, &p, &c), REPL_REL_PEER_ROLLBACK);
	assert_int_equal(c, 140);
	p.head = 140;
	assert_int_equal(rel(&n, &p, &c), REPL_REL_PEER_BEHIND);
}

static void test_split_brain(void **state)
{
	struct repl_uuids a = {0}, b = {0};
	uint64_t c;

	(void)state;
	/* both promoted from U1 at seq 100 while apart */
	mk(a.cur, 2, 100);
	mk(b.cur, 5, 100);
	mk(a.hist[0], 1, 1);
	mk(b.hist[0], 1, 1);
	a.nhist = b.nhist = 1;
	a.head = 120;
	b.head = 101;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_SPLIT);
	assert_int_equal(rel(&b, &a, &c), REPL_REL_SPLIT);
	/* unrelated histories */
	mk_plain(b.cur, 7);
	b.nhist = 0;
	b.head = 30;
	assert_int_equal(rel(&a, &b, &c), REPL_REL_SPLIT);
}

/* wbd_repl_uuid_fork: the first seq two sides may hold differently
 * (--discard-my-data resyncs the blocks of both sides' records from it) */
/* A split brain from U1: a promoted at 100 (U2), b, the primary then, went
 * on alone from 90 (a "lost" U5); heads 120 and 130. */
static void split_ab(struct repl_uuids *a, struct repl_uuids *b)
{
	mk(a->cur, 2, 100);
	mk_lost(b->cur, 5, 90);
	mk(a->hist[0], 1, 1);
	mk(b->hist[0], 1, 1);
	a->nhist = b->nhist = 1;
	a->head = 120;
	b->head = 130;
}

static void test_fork_point(void **state)
{
	struct repl_uuids a = {0}, b = {0};
	uint64_t f;

	(void)state;
	split_ab(&a, &b);
	assert_true(wbd_repl_uuid_fork(&a, &b, &f));
	assert_int_equal(f, 90);
	assert_true(wbd_repl_uuid_fork(&b, &a, &f));
	assert_int_equal(f, 90);
	/* deeper: b moved on twice since U1 (U5 at 90, then U6 at 110) */
	memcpy(b.hist[1], b.hist[0], WB_META_UUID_LEN);
	memcpy(b.hist[0], b.cur, WB_META_UUID_LEN);
	mk(b.cur, 6, 110);
	b.nhist = 2;
	assert_true(wbd_repl_uuid_fork(&a, &b, &f));
	assert_int_equal(f, 90);
	/* one side still in the common generation: the lower of its head and
	 * where the other left it */
	mk(b.cur, 1, 1);
	b.nhist = 0;
	b.head = 95;
	assert_true(wbd_repl_uuid_fork(&a, &b, &f));
	assert_int_equal(f, 95);
	b.head = 150; /* past a's promotion: its records from 100 on differ */
	assert_true(wbd_repl_uuid_fork(&b, &a, &f));
	assert_int_equal(f, 100);
	/* the same current generation, none in common, a next generation
	 * without a seq, a side without UUIDs: no fork point (a full sync) */
	memcpy(b.cur, a.cur, WB_META_UUID_LEN);
	assert_false(wbd_repl_uuid_fork(&a, &b, &f));
	mk(b.cur, 7, 100);
	mk(b.hist[0], 8, 1);
	b.nhist = 1;
	assert_false(wbd_repl_uuid_fork(&a, &b, &f));
	mk_plain(a.cur, 9);
	mk(b.hist[0], 1, 1);
	assert_false(wbd_repl_uuid_fork(&a, &b, &f));
	memset(b.cur, 0, WB_META_UUID_LEN);
	assert_false(wbd_repl_uuid_fork(&a, &b, &f));
}

/* Which side was primary at the split and which promoted after it
 * (after-sb-0pri discard-younger/older-primary) */
static void test_began(void **state)
{
	struct repl_uuids a = {0}, b = {0};
	char ba, bb;

	(void)state;
	split_ab(&a, &b);
	wbd_repl_uuid_began(&a, &b, &ba, &bb);
	assert_int_equal(ba, 'S');
	assert_int_equal(bb, 'L');
	wbd_repl_uuid_began(&b, &a, &bb, &ba);
	assert_int_equal(ba, 'S');
	assert_int_equal(bb, 'L');
	/* b later demoted and promoted again alone: its first generation
	 * after the fork still says what it was at the split */
	memcpy(b.hist[1], b.hist[0], WB_META_UUID_LEN);
	memcpy(b.hist[0], b.cur, WB_META_UUID_LEN);
	mk(b.cur, 6, 110);
	b.nhist = 2;
	wbd_repl_uuid_began(&a, &b, &ba, &bb);
	assert_int_equal(ba, 'S');
	assert_int_equal(bb, 'L');
	/* both promoted after the split: no one of each */
	mk(b.hist[0], 5, 90);
	wbd_repl_uuid_began(&a, &b, &ba, &bb);
	assert_int_equal(ba, 'S');
	assert_int_equal(bb, 'S');
	/* b still in the common generation */
	mk(b.cur, 1, 1);
	b.nhist = 0;
	wbd_repl_uuid_began(&a, &b, &ba, &bb);
	assert_int_equal(ba, 'S');
	assert_int_equal(bb, '-');
	/* a generation not made by wbrepd after the fork; none in common; a
	 * side without UUIDs */
	mk_plain(a.cur, 9);
	wbd_repl_uuid_began(&a, &b, &ba, &bb);
	assert_int_equal(ba, '?');
	mk(a.hist[0], 8, 1);
	wbd_repl_uuid_began(&a, &b, &ba, &bb);
	assert_int_equal(ba, '?');
	assert_int_equal(bb, '?');
	memset(b.cur, 0, WB_META_UUID_LEN);
	wbd_repl_uuid_began(&a, &b, &ba, &bb);
	assert_int_equal(ba, '?');
	assert_int_equal(bb, '?');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_and_unknown),
	    cmocka_unit_test(test_fresh_logs),
	    cmocka_unit_test(test_behind_and_diverged),
	    cmocka_unit_test(test_deeper_history_and_plain_uuid),
	    cmocka_unit_test(test_split_brain),
	    cmocka_unit_test(test_lost_peer_generation),
	    cmocka_unit_test(test_fork_point),
	    cmocka_unit_test(test_began),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
