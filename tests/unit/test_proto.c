// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_proto.c - CMocka tests of proto/wbproto.[ch]: frame header encoding
 * and every header error (short, oversize, unknown type, unknown flags, raw
 * flag on the wrong type), pack/next round trips, undecodable payloads
 * (including invalid field numbers in unknown fields),
 * the stream decoder fed byte by byte and with several frames at once, and
 * wbproto_ctl_check on every kind of bad control request.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/wbproto.h"

static void hdr(uint8_t *b, uint32_t len, uint16_t type, uint16_t flags)
{
	struct wbproto_hdr h = {.len = len, .type = type, .flags = flags};

	wbproto_hdr_encode(b, &h);
}

static void test_hdr_errors(void **state)
{
	struct wbproto_hdr h;
	uint8_t b[8];

	hdr(b, 5, WBPROTO_T_CTL_REQUEST, 0);
	assert_int_equal(b[0], 5);
	assert_int_equal(b[4], 1);
	assert_int_equal(wbproto_hdr_decode(b, 7, WBPROTO_CTL_MAX, &h), -EAGAIN);
	assert_int_equal(wbproto_hdr_decode(b, 8, WBPROTO_CTL_MAX, &h), 0);
	assert_int_equal(h.len, 5);
	hdr(b, WBPROTO_CTL_MAX + 1, WBPROTO_T_CTL_REQUEST, 0);
	assert_int_equal(wbproto_hdr_decode(b, 8, WBPROTO_CTL_MAX, &h), -EMSGSIZE);
	hdr(b, 0xffffffffu, WBPROTO_T_CTL_REQUEST, 0);
	assert_int_equal(wbproto_hdr_decode(b, 8, ~(size_t)0, &h), -EMSGSIZE); /* clamped */
	hdr(b, 0, 9, 0);
	assert_int_equal(wbproto_hdr_decode(b, 8, WBPROTO_CTL_MAX, &h), -EPROTO);
	hdr(b, 0, WBPROTO_T_CTL_REQUEST, 0x80);
	assert_int_equal(wbproto_hdr_decode(b, 8, WBPROTO_CTL_MAX, &h), -EPROTO);
	hdr(b, 0, WBPROTO_T_CTL_REQUEST, WBPROTO_F_RAW);
	assert_int_equal(wbproto_hdr_decode(b, 8, WBPROTO_CTL_MAX, &h), -EPROTO);
	hdr(b, 0, WBPROTO_T_RECORD_DATA, 0);
	assert_int_equal(wbproto_hdr_decode(b, 8, WBPROTO_CTL_MAX, &h), -EPROTO);
	hdr(b, 0, WBPROTO_T_RECORD_DATA, WBPROTO_F_RAW | WBPROTO_F_LAST);
	assert_int_equal(wbproto_hdr_decode(b, 8, WBPROTO_CTL_MAX, &h), 0);
	assert_string_equal(wbproto_type_name(WBPROTO_T_ACK), "ack");
	assert_string_equal(wbproto_type_name(1234), "unknown");
}

static uint8_t *pack_req(Wbrep__CtlOp op, const char *res, const char *mode, size_t *len)
{
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	uint8_t *buf;

	rq.version = WBPROTO_CTL_VERSION;
	rq.op = op;
	rq.has_id = 1;
	rq.id = 42;
	rq.resource = (char *)res;
	rq.mode = (char *)mode;
	assert_int_equal(wbproto_pack(WBPROTO_T_CTL_REQUEST, 0, &rq.base, &buf, len), 0);
	return buf;
}

static void test_pack_next_roundtrip(void **state)
{
	struct wbproto_frame f;
	Wbrep__CtlRequest *rq;
	uint8_t *buf, *out;
	size_t len, olen;

	buf = pack_req(WBREP__CTL_OP__CTL_MODE, "r0", "writethrough", &len);
	for (size_t i = 0; i < len; i++) /* every prefix is "need more" */
		assert_int_equal(wbproto_next(buf, i, WBPROTO_CTL_MAX, &f), 0);
	assert_int_equal(wbproto_next(buf, len, WBPROTO_CTL_MAX, &f), (ssize_t)len);
	rq = (Wbrep__CtlRequest *)f.msg;
	assert_int_equal(rq->op, WBREP__CTL_OP__CTL_MODE);
	assert_int_equal(rq->id, 42);
	assert_string_equal(rq->resource, "r0");
	assert_string_equal(rq->mode, "writethrough");
	wbproto_frame_free(&f);
	assert_null(f.msg);
	free(buf);
	/* wrong message for the type, raw flag on a protobuf type, missing msg */
	assert_int_equal(wbproto_pack(WBPROTO_T_ACK, 0, NULL, &out, &olen), -EINVAL);
	assert_int_equal(wbproto_pack(WBPROTO_T_RECORD_DATA, WBPROTO_F_RAW, NULL, &out, &olen), 0);
	assert_int_equal(olen, WBPROTO_HDR_SIZE);
	free(out);
}

static void test_undecodable(void **state)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0x07, 'j', 'u', 'n', 'k'};
	static const uint8_t noreq[] = {0x08, 0x01}; /* version only, op missing */
	struct wbproto_frame f;
	uint8_t b[64];

	hdr(b, sizeof(junk), WBPROTO_T_CTL_REQUEST, 0);
	memcpy(b + 8, junk, sizeof(junk));
	assert_int_equal(wbproto_next(b, 8 + sizeof(junk), WBPROTO_CTL_MAX, &f), -EBADMSG);
	hdr(b, sizeof(noreq), WBPROTO_T_CTL_REQUEST, 0);
	memcpy(b + 8, noreq, sizeof(noreq));
	assert_int_equal(wbproto_next(b, 8 + sizeof(noreq), WBPROTO_CTL_MAX, &f), -EBADMSG);
	assert_string_equal(wbproto_strerror(-EBADMSG), "undecodable message payload");
	assert_string_equal(wbproto_strerror(-EMSGSIZE), "frame too large");
}

/* Unknown fields are skipped, but field number 0 (here as the non-canonical
 * tag varint 0x81 0x00 = field 0, wire type 1) and numbers above 2^29 - 1
 * are invalid protobuf: protobuf-c would keep them and could not pack the
 * message again (fuzz_ctl found it). */
static void test_bad_field_numbers(void **state)
{
	static const uint8_t field0[] = {0x08, 0x01, 0x10, 0x04, 0x22, 0x02, 'r', '0', 0x81,
					 0x00, 1,    2,	   3,	 4,    5,    6,	  7,   8};
	/* tag varint (2^29) << 3: field 536870912, wire type 0, value 1 */
	static const uint8_t huge[] = {0x08, 0x01, 0x10, 0x04, 0x22, 0x02, 'r',
				       '0',  0x80, 0x80, 0x80, 0x80, 0x10, 0x01};
	/* a well-formed unknown field (number 99, varint) is accepted */
	static const uint8_t ok[] = {0x08, 0x01, 0x10, 0x04, 0x22, 0x02,
				     'r',  '0',	 0x98, 0x06, 0x05};
	struct wbproto_frame f;
	uint8_t b[64], *re;
	size_t relen;

	hdr(b, sizeof(field0), WBPROTO_T_CTL_REQUEST, 0);
	memcpy(b + 8, field0, sizeof(field0));
	assert_int_equal(wbproto_next(b, 8 + sizeof(field0), WBPROTO_CTL_MAX, &f), -EBADMSG);
	assert_null(f.msg);
	hdr(b, sizeof(huge), WBPROTO_T_CTL_REQUEST, 0);
	memcpy(b + 8, huge, sizeof(huge));
	assert_int_equal(wbproto_next(b, 8 + sizeof(huge), WBPROTO_CTL_MAX, &f), -EBADMSG);
	hdr(b, sizeof(ok), WBPROTO_T_CTL_REQUEST, 0);
	memcpy(b + 8, ok, sizeof(ok));
	assert_int_equal(wbproto_next(b, 8 + sizeof(ok), WBPROTO_CTL_MAX, &f), 8 + sizeof(ok));
	assert_int_equal(wbproto_pack(WBPROTO_T_CTL_REQUEST, 0, f.msg, &re, &relen), 0);
	wbproto_frame_free(&f);
	assert_int_equal(wbproto_next(re, relen, WBPROTO_CTL_MAX, &f), (ssize_t)relen);
	assert_string_equal(((Wbrep__CtlRequest *)f.msg)->resource, "r0");
	wbproto_frame_free(&f);
	free(re);
}

static void test_stream_decoder(void **state)
{
	struct wbproto_dec d;
	struct wbproto_frame f;
	uint8_t *a, *b, two[512];
	size_t la, lb, got = 0;

	a = pack_req(WBREP__CTL_OP__CTL_STATUS, NULL, NULL, &la);
	b = pack_req(WBREP__CTL_OP__CTL_FLUSH, "r1", NULL, &lb);
	assert_true(la + lb <= sizeof(two));
	memcpy(two, a, la);
	memcpy(two + la, b, lb);
	wbproto_dec_init(&d, WBPROTO_CTL_MAX);
	for (size_t i = 0; i < la + lb; i++) { /* one byte at a time */
		assert_int_equal(wbproto_dec_feed(&d, two + i, 1), 0);
		while (wbproto_dec_next(&d, &f) == 1) {
			Wbrep__CtlRequest *rq = (Wbrep__CtlRequest *)f.msg;

			assert_int_equal(rq->op, got ? WBREP__CTL_OP__CTL_FLUSH
						     : WBREP__CTL_OP__CTL_STATUS);
			wbproto_frame_free(&f);
			got++;
		}
	}
	assert_int_equal(got, 2);
	/* both at once, then garbage: frames first, then the error */
	assert_int_equal(wbproto_dec_feed(&d, two, la + lb), 0);
	assert_int_equal(wbproto_dec_feed(&d, "GET / HTTP/1.0\r\n", 16), 0);
	assert_int_equal(wbproto_dec_next(&d, &f), 1);
	wbproto_frame_free(&f);
	assert_int_equal(wbproto_dec_next(&d, &f), 1);
	wbproto_frame_free(&f);
	assert_int_equal(wbproto_dec_next(&d, &f), -EMSGSIZE);
	wbproto_dec_free(&d);
	free(a);
	free(b);
}

static int check(uint32_t version, int op, const char *res, const char *mode, const char **why)
{
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;

	rq.version = version;
	rq.op = (Wbrep__CtlOp)op;
	rq.resource = (char *)res;
	rq.mode = (char *)mode;
	return wbproto_ctl_check(&rq, why);
}

static void test_ctl_check(void **state)
{
	const char *why;

	assert_int_equal(check(1, WBREP__CTL_OP__CTL_STATUS, NULL, NULL, &why), 0);
	assert_null(why);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_STATUS, "r0", NULL, &why), 0);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_RELOAD, NULL, NULL, &why), 0);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_UP, "db.vol-1_a", NULL, &why), 0);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_MODE, "r0", "writeback", &why), 0);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_MODE, "r0", "writethrough", &why), 0);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_MODE, "r0", "config", &why), 0);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_DRAIN, "r0", NULL, &why), 0);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_DRAIN, NULL, NULL, &why), -EINVAL);
	assert_string_equal(why, "this operation needs a resource name");
	assert_int_equal(check(1, 9, "r0", NULL, &why), -EOPNOTSUPP);
	{ /* snapshots: a generation or a time, not both, only on their ops */
		Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;

		rq.version = 1;
		rq.resource = "r0";
		rq.op = WBREP__CTL_OP__CTL_SNAPSHOT;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(
		    why, "snapshot needs a generation (> 0) or a time (at_ms > 0), not both");
		rq.has_generation = 1;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL); /* generation 0 */
		rq.generation = 7;
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.has_at_ms = 1;
		rq.at_ms = 1000;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		rq.has_generation = 0;
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.op = WBREP__CTL_OP__CTL_SNAPSHOT_DROP;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(why, "snapshot-drop needs a generation (> 0)");
		rq.has_at_ms = 0;
		rq.has_generation = 1;
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.op = WBREP__CTL_OP__CTL_FLUSH;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(why,
				    "generation and at_ms are arguments of the snapshot ops only");
		rq.op = WBREP__CTL_OP__CTL_SNAPSHOT;
		rq.resource = NULL;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
	}
	{ /* resize: its arguments on it only, a whole number of blocks */
		Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;

		rq.version = 1;
		rq.resource = "r0";
		rq.op = WBREP__CTL_OP__CTL_RESIZE;
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.has_size = rq.has_assume_clean = rq.has_assume_peer_space = 1;
		rq.size = 1ull << 30;
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.size += 512;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(why, "the size must be a multiple of 4096 bytes");
		rq.size -= 512;
		rq.op = WBREP__CTL_OP__CTL_FLUSH;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(
		    why,
		    "size, assume_clean, assume_peer_space and log are arguments of resize only");
		rq.has_size = rq.has_assume_clean = rq.has_assume_peer_space = 0;
		rq.has_log = rq.log = 1;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		rq.op = WBREP__CTL_OP__CTL_RESIZE;
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.has_assume_clean = rq.assume_clean = 1;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(why, "log grows this node's log: assume_clean and "
					 "assume_peer_space are for the device");
		rq.assume_clean = 0; /* present but false: allowed */
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.resource = NULL;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
	}
	{ /* forget_peer: a valid node name, node on it only */
		Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;

		rq.version = 1;
		rq.resource = "r0";
		rq.op = WBREP__CTL_OP__CTL_FORGET_PEER;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(why, "forget_peer needs a valid node name");
		rq.node = "../gamma";
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		rq.node = "gamma";
		assert_int_equal(wbproto_ctl_check(&rq, &why), 0);
		rq.op = WBREP__CTL_OP__CTL_DISCONNECT;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
		assert_string_equal(why, "node is an argument of forget_peer only");
		rq.op = WBREP__CTL_OP__CTL_FORGET_PEER;
		rq.resource = NULL;
		assert_int_equal(wbproto_ctl_check(&rq, &why), -EINVAL);
	}

	assert_int_equal(check(2, WBREP__CTL_OP__CTL_STATUS, NULL, NULL, &why), -EPROTONOSUPPORT);
	assert_string_equal(why, "unsupported control protocol version");
	assert_int_equal(check(1, 0, NULL, NULL, &why), -EOPNOTSUPP);
	assert_int_equal(check(1, 42, "r0", NULL, &why), -EOPNOTSUPP);
	assert_string_equal(why, "unknown operation");
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_FLUSH, NULL, NULL, &why), -EINVAL);
	assert_string_equal(why, "this operation needs a resource name");
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_DOWN, "", NULL, &why), -EINVAL);
	assert_string_equal(why, "invalid resource name");
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_DOWN, "../etc", NULL, &why), -EINVAL);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_DOWN, "-r0", NULL, &why), -EINVAL);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_DOWN, "r 0", NULL, &why), -EINVAL);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_STATUS,
			       "r123456789012345678901234567890123456789012345678901234567890123",
			       NULL, &why),
			 -EINVAL);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_MODE, "r0", NULL, &why), -EINVAL);
	assert_int_equal(check(1, WBREP__CTL_OP__CTL_MODE, "r0", "fast", &why), -EINVAL);
	assert_string_equal(why, "mode must be writeback, writethrough or config");
	assert_true(
	    wbproto_res_name_ok("r"
				"123456789012345678901234567890123456789012345678901234567890"
				"12"));
	assert_false(wbproto_res_name_ok(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdr_errors),	   cmocka_unit_test(test_pack_next_roundtrip),
	    cmocka_unit_test(test_undecodable),	   cmocka_unit_test(test_bad_field_numbers),
	    cmocka_unit_test(test_stream_decoder), cmocka_unit_test(test_ctl_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
