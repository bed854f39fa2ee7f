// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_nbd_proto.c - unit tests of daemon/nbd_proto.c: handshake encoding,
 * option and request parsing, and the request classifier, including every
 * malformed case the server must reject (bad magic, unknown flags, short or
 * inconsistent option payloads, unknown commands, beyond-the-end, oversize,
 * unaligned, undeclared command flags).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>

#include "daemon/nbd_proto.h"
#include "engine/byteorder.h"

static void test_greeting(void **state)
{
	uint8_t b[NBDP_GREETING_LEN];

	assert_int_equal(wbd_nbd_encode_greeting(b), 18);
	assert_memory_equal(b, "NBDMAGICIHAVEOPT", 16);
	assert_int_equal(b[16], 0);
	assert_int_equal(b[17], NBDP_FLAG_FIXED_NEWSTYLE | NBDP_FLAG_NO_ZEROES);
}

static void test_client_flags(void **state)
{
	uint8_t b[4];
	uint32_t f;

	wb_store_be32(b, NBDP_FLAG_C_FIXED_NEWSTYLE | NBDP_FLAG_C_NO_ZEROES);
	assert_int_equal(wbd_nbd_parse_client_flags(b, &f), 0);
	assert_int_equal(f, 3);
	wb_store_be32(b, NBDP_FLAG_C_FIXED_NEWSTYLE);
	assert_int_equal(wbd_nbd_parse_client_flags(b, &f), 0);
	wb_store_be32(b, 0); /* old newstyle without FIXED: refused */
	assert_int_equal(wbd_nbd_parse_client_flags(b, &f), -EPROTO);
	wb_store_be32(b, 1u | (1u << 7)); /* unknown bit */
	assert_int_equal(wbd_nbd_parse_client_flags(b, &f), -EPROTO);
}

static void test_opt_hdr(void **state)
{
	uint8_t b[16];
	uint32_t opt, len;

	wb_store_be64(b, NBDP_IHAVEOPT);
	wb_store_be32(b + 8, NBDP_OPT_GO);
	wb_store_be32(b + 12, 10);
	assert_int_equal(wbd_nbd_parse_opt_hdr(b, &opt, &len), 0);
	assert_int_equal(opt, NBDP_OPT_GO);
	assert_int_equal(len, 10);
	wb_store_be32(b + 12, NBDP_OPT_MAX_LEN + 1);
	assert_int_equal(wbd_nbd_parse_opt_hdr(b, &opt, &len), -EMSGSIZE);
	wb_store_be32(b + 12, 0xffffffffu);
	assert_int_equal(wbd_nbd_parse_opt_hdr(b, &opt, &len), -EMSGSIZE);
	wb_store_be64(b, NBDP_MAGIC); /* wrong magic */
	wb_store_be32(b + 12, 0);
	assert_int_equal(wbd_nbd_parse_opt_hdr(b, &opt, &len), -EBADMSG);
}

static void test_opt_reply(void **state)
{
	uint8_t b[20];

	assert_int_equal(wbd_nbd_encode_opt_reply(b, NBDP_OPT_GO, NBDP_REP_ERR_UNKNOWN, 7), 20);
	assert_int_equal(wb_load_be64(b), NBDP_REP_MAGIC);
	assert_int_equal(wb_load_be32(b + 8), NBDP_OPT_GO);
	assert_int_equal(wb_load_be32(b + 12), 0x80000006u);
	assert_int_equal(wb_load_be32(b + 16), 7);
}

/* u32 namelen, name, u16 n, n x u16 */
static uint32_t mk_info(uint8_t *b, const char *name, unsigned n)
{
	uint32_t l = (uint32_t)strlen(name);

	wb_store_be32(b, l);
	memcpy(b + 4, name, l);
	wb_store_be16(b + 4 + l, (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		wb_store_be16(b + 6 + l + 2 * i,
			      (uint16_t)(i == 0 ? NBDP_INFO_BLOCK_SIZE : NBDP_INFO_NAME));
	return 6 + l + 2 * n;
}

static void test_info_req(void **state)
{
	uint8_t b[256];
	char name[64];
	uint16_t infos[4];
	unsigned n;
	uint32_t len;

	len = mk_info(b, "r0", 2);
	assert_int_equal(wbd_nbd_parse_info_req(b, len, name, sizeof(name), infos, 4, &n), 0);
	assert_string_equal(name, "r0");
	assert_int_equal(n, 2);
	assert_int_equal(infos[0], NBDP_INFO_BLOCK_SIZE);
	assert_int_equal(infos[1], NBDP_INFO_NAME);
	/* empty name = default export */
	len = mk_info(b, "", 0);
	assert_int_equal(wbd_nbd_parse_info_req(b, len, name, sizeof(name), infos, 4, &n), 0);
	assert_string_equal(name, "");
	/* more infos than we keep: counted, not stored past max */
	len = mk_info(b, "x", 6);
	assert_int_equal(wbd_nbd_parse_info_req(b, len, name, sizeof(name), infos, 4, &n), 0);
	assert_int_equal(n, 6);
}

static void test_info_req_malformed(void **state)
{
	uint8_t b[256];
	char name[8];
	uint16_t infos[4];
	unsigned n;
	uint32_t len;

	memset(b, 0, sizeof(b));
	/* too short for the fixed fields */
	assert_int_equal(wbd_nbd_parse_info_req(b, 5, name, sizeof(name), infos, 4, &n), -EINVAL);
	assert_int_equal(wbd_nbd_parse_info_req(b, 0, name, sizeof(name), infos, 4, &n), -EINVAL);
	/* name length beyond the payload */
	len = mk_info(b, "r0", 1);
	wb_store_be32(b, 1000);
	assert_int_equal(wbd_nbd_parse_info_req(b, len, name, sizeof(name), infos, 4, &n), -EINVAL);
	wb_store_be32(b, 0xffffffffu);
	assert_int_equal(wbd_nbd_parse_info_req(b, len, name, sizeof(name), infos, 4, &n), -EINVAL);
	/* info count does not match the length */
	len = mk_info(b, "r0", 1);
	assert_int_equal(wbd_nbd_parse_info_req(b, len - 1, name, sizeof(name), infos, 4, &n),
			 -EINVAL);
	assert_int_equal(wbd_nbd_parse_info_req(b, len + 1, name, sizeof(name), infos, 4, &n),
			 -EINVAL);
	wb_store_be16(b + 6, 0xffff);
	assert_int_equal(wbd_nbd_parse_info_req(b, len, name, sizeof(name), infos, 4, &n), -EINVAL);
	/* NUL inside the name */
	len = mk_info(b, "a\0b", 0);
	wb_store_be32(b, 3);
	b[4] = 'a', b[5] = 0, b[6] = 'b';
	wb_store_be16(b + 7, 0);
	assert_int_equal(wbd_nbd_parse_info_req(b, 9, name, sizeof(name), infos, 4, &n), -EINVAL);
	/* name does not fit the caller's buffer */
	len = mk_info(b, "longername", 0);
	assert_int_equal(wbd_nbd_parse_info_req(b, len, name, sizeof(name), infos, 4, &n),
			 -ENAMETOOLONG);
}

static void test_export_name(void **state)
{
	char name[16];

	assert_int_equal(wbd_nbd_parse_export_name((const uint8_t *)"r1", 2, name, sizeof(name)),
			 0);
	assert_string_equal(name, "r1");
	assert_int_equal(wbd_nbd_parse_export_name((const uint8_t *)"", 0, name, sizeof(name)), 0);
	assert_string_equal(name, "");
	assert_int_equal(wbd_nbd_parse_export_name((const uint8_t *)"a\0", 2, name, sizeof(name)),
			 -EINVAL);
	assert_int_equal(
	    wbd_nbd_parse_export_name((const uint8_t *)"0123456789abcdefg", 17, name, sizeof(name)),
	    -ENAMETOOLONG);
}

static void test_info_encoders(void **state)
{
	uint8_t b[NBDP_EXPORT_NAME_REPLY_LEN];

	assert_int_equal(wbd_nbd_encode_info_export(b, 1ull << 30, 0x16d), 12);
	assert_int_equal(wb_load_be16(b), NBDP_INFO_EXPORT);
	assert_int_equal(wb_load_be64(b + 2), 1ull << 30);
	assert_int_equal(wb_load_be16(b + 10), 0x16d);
	assert_int_equal(wbd_nbd_encode_info_block_size(b, 4096, 4096, 32u << 20), 14);
	assert_int_equal(wb_load_be16(b), NBDP_INFO_BLOCK_SIZE);
	assert_int_equal(wb_load_be32(b + 2), 4096);
	assert_int_equal(wb_load_be32(b + 10), 32u << 20);
	assert_int_equal(wbd_nbd_encode_server_entry(b, sizeof(b), "r0"), 6);
	assert_int_equal(wb_load_be32(b), 2);
	assert_memory_equal(b + 4, "r0", 2);
	assert_int_equal(wbd_nbd_encode_server_entry(b, 5, "r0"), 0); /* does not fit */
	assert_int_equal(wbd_nbd_encode_export_name_reply(b, 4096, 1, true), 10);
	memset(b, 0xee, sizeof(b));
	assert_int_equal(wbd_nbd_encode_export_name_reply(b, 4096, 1, false), 134);
	for (int i = 10; i < 134; i++)
		assert_int_equal(b[i], 0);
}

static void mk_req(uint8_t *b, uint32_t magic, uint16_t flags, uint16_t type, uint64_t h,
		   uint64_t off, uint32_t len)
{
	wb_store_be32(b, magic);
	wb_store_be16(b + 4, flags);
	wb_store_be16(b + 6, type);
	wb_store_be64(b + 8, h);
	wb_store_be64(b + 16, off);
	wb_store_be32(b + 24, len);
}

static void test_request_parse(void **state)
{
	uint8_t b[NBDP_REQUEST_LEN], rb[NBDP_SIMPLE_REPLY_LEN];
	struct wbd_nbd_request r;

	mk_req(b, NBDP_REQUEST_MAGIC, NBDP_CMD_FLAG_FUA, NBDP_CMD_WRITE, 0x1122334455667788ull,
	       8192, 4096);
	assert_int_equal(wbd_nbd_parse_request(b, &r), 0);
	assert_int_equal(r.flags, NBDP_CMD_FLAG_FUA);
	assert_int_equal(r.type, NBDP_CMD_WRITE);
	assert_true(r.handle == 0x1122334455667788ull);
	assert_int_equal(r.off, 8192);
	assert_int_equal(r.len, 4096);
	mk_req(b, NBDP_SIMPLE_REPLY_MAGIC, 0, 0, 0, 0, 0);
	assert_int_equal(wbd_nbd_parse_request(b, &r), -EBADMSG);
	memset(b, 0, sizeof(b));
	assert_int_equal(wbd_nbd_parse_request(b, &r), -EBADMSG);
	assert_int_equal(wbd_nbd_encode_simple_reply(rb, NBDP_EINVAL, 0xabcdull), 16);
	assert_int_equal(wb_load_be32(rb), NBDP_SIMPLE_REPLY_MAGIC);
	assert_int_equal(wb_load_be32(rb + 4), NBDP_EINVAL);
	assert_true(wb_load_be64(rb + 8) == 0xabcdull);
}

static const struct wbd_nbd_export_geom geom = {
    .size = 1 << 20,
    .align = 4096,
    .max_len = 64 * 1024,
    .tflags = NBDP_FLAG_HAS_FLAGS | NBDP_FLAG_SEND_FLUSH | NBDP_FLAG_SEND_FUA |
	      NBDP_FLAG_SEND_TRIM | NBDP_FLAG_SEND_WRITE_ZEROES,
};

static struct wbd_nbd_verdict classify(uint16_t type, uint16_t flags, uint64_t off, uint32_t len)
{
	struct wbd_nbd_request r = {.flags = flags, .type = type, .off = off, .len = len};
	struct wbd_nbd_verdict v;

	memset(&v, 0xa5, sizeof(v));
	wbd_nbd_classify_request(&r, &geom, &v);
	return v;
}

static void test_classify_ok(void **state)
{
	struct wbd_nbd_verdict v;

	v = classify(NBDP_CMD_READ, 0, 0, 4096);
	assert_int_equal(v.err, 0);
	assert_int_equal(v.payload, 0);
	assert_false(v.disconnect);
	v = classify(NBDP_CMD_WRITE, NBDP_CMD_FLAG_FUA, (1 << 20) - 8192, 8192);
	assert_int_equal(v.err, 0);
	assert_int_equal(v.payload, 8192);
	v = classify(NBDP_CMD_FLUSH, 0, 0, 0);
	assert_int_equal(v.err, 0);
	v = classify(NBDP_CMD_TRIM, 0, 0, 1 << 20); /* trim may exceed max_len */
	assert_int_equal(v.err, 0);
	v = classify(NBDP_CMD_WRITE_ZEROES, NBDP_CMD_FLAG_NO_HOLE | NBDP_CMD_FLAG_FUA, 4096, 4096);
	assert_int_equal(v.err, 0);
	v = classify(NBDP_CMD_READ, 0, 1 << 20, 0); /* zero length at the end */
	assert_int_equal(v.err, 0);
	v = classify(NBDP_CMD_DISC, 0, 0, 0);
	assert_int_equal(v.err, 0);
	assert_true(v.disconnect);
}

/* A read-only export (a snapshot): reads go, every change is EPERM, a
 * write's payload is still read (not a disconnect). */
static void test_classify_read_only(void **state)
{
	struct wbd_nbd_export_geom ro = geom;
	struct wbd_nbd_request r = {.type = NBDP_CMD_READ, .len = 4096};
	struct wbd_nbd_verdict v;

	(void)state;
	ro.tflags = NBDP_FLAG_HAS_FLAGS | NBDP_FLAG_READ_ONLY | NBDP_FLAG_SEND_FLUSH;
	wbd_nbd_classify_request(&r, &ro, &v);
	assert_int_equal(v.err, 0);
	r.type = NBDP_CMD_WRITE;
	wbd_nbd_classify_request(&r, &ro, &v);
	assert_int_equal(v.err, NBDP_EPERM);
	assert_int_equal(v.payload, 4096);
	assert_false(v.disconnect);
	r.type = NBDP_CMD_TRIM;
	wbd_nbd_classify_request(&r, &ro, &v);
	assert_int_equal(v.err, NBDP_EPERM);
	r.type = NBDP_CMD_WRITE_ZEROES;
	wbd_nbd_classify_request(&r, &ro, &v);
	assert_int_equal(v.err, NBDP_EPERM);
	r.type = NBDP_CMD_FLUSH;
	r.len = 0;
	wbd_nbd_classify_request(&r, &ro, &v);
	assert_int_equal(v.err, 0);
}

/* Snapshot export names "RES@GEN": what is one, what is refused. */
static void test_snap_name(void **state)
{
	char res[8];
	uint64_t gen = 0;

	(void)state;
	assert_int_equal(wbd_nbd_snap_name("r0@42", res, sizeof(res), &gen), 1);
	assert_string_equal(res, "r0");
	assert_int_equal(gen, 42);
	assert_int_equal(wbd_nbd_snap_name("r0@18446744073709551615", res, sizeof(res), &gen), 1);
	assert_true(gen == UINT64_MAX);
	/* plain resource names */
	assert_int_equal(wbd_nbd_snap_name("r0", res, sizeof(res), &gen), 0);
	assert_int_equal(wbd_nbd_snap_name("", res, sizeof(res), &gen), 0);
	assert_int_equal(wbd_nbd_snap_name("@5", res, sizeof(res), &gen), 0);
	/* refused */
	static const char *const bad[] = {
	    "r0@",
	    "r0@x",
	    "r0@-1",
	    "r0@+1",
	    "r0@1x",
	    "r0@ 1",
	    "r0@0",
	    "r0@00",
	    "r0@18446744073709551616",
	    "r0@99999999999999999999",
	    "r0@1@2",
	    "r0123456@1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gen = 7;
		if (wbd_nbd_snap_name(bad[i], res, sizeof(res), &gen) != -EINVAL || gen != 7)
			fail_msg("'%s' was taken", bad[i]);
	}
}

static void test_classify_bad(void **state)
{
	struct wbd_nbd_verdict v;

	/* unknown commands (CACHE not advertised, BLOCK_STATUS, garbage) */
	for (uint16_t t = NBDP_CMD_CACHE; t < 40; t++) {
		if (t == NBDP_CMD_WRITE_ZEROES)
			continue;
		v = classify(t, 0, 0, 4096);
		assert_int_equal(v.err, NBDP_EINVAL);
		assert_int_equal(v.payload, 0);
	}
	v = classify(0xffff, 0, 0, 0);
	assert_int_equal(v.err, NBDP_EINVAL);
	/* beyond the end: reads EINVAL, writes ENOSPC (payload still consumed) */
	v = classify(NBDP_CMD_READ, 0, 1 << 20, 4096);
	assert_int_equal(v.err, NBDP_EINVAL);
	v = classify(NBDP_CMD_READ, 0, 0xfffffffffffff000ull, 8192); /* off + len wraps */
	assert_int_equal(v.err, NBDP_EINVAL);
	v = classify(NBDP_CMD_WRITE, 0, (1 << 20) - 4096, 8192);
	assert_int_equal(v.err, NBDP_ENOSPC);
	assert_int_equal(v.payload, 8192);
	assert_false(v.disconnect);
	v = classify(NBDP_CMD_WRITE_ZEROES, 0, 2 << 20, 4096);
	assert_int_equal(v.err, NBDP_ENOSPC);
	v = classify(NBDP_CMD_TRIM, 0, 0, (1 << 20) + 4096);
	assert_int_equal(v.err, NBDP_EINVAL);
	/* oversize */
	v = classify(NBDP_CMD_READ, 0, 0, 128 * 1024);
	assert_int_equal(v.err, NBDP_EINVAL);
	assert_false(v.disconnect);
	v = classify(NBDP_CMD_WRITE, 0, 0, 128 * 1024);
	assert_int_equal(v.err, NBDP_EINVAL);
	assert_true(v.disconnect);
	v = classify(NBDP_CMD_WRITE, 0, 0, 0xffffffffu);
	assert_true(v.disconnect);
	/* unaligned */
	v = classify(NBDP_CMD_READ, 0, 512, 4096);
	assert_int_equal(v.err, NBDP_EINVAL);
	v = classify(NBDP_CMD_WRITE, 0, 0, 1000);
	assert_int_equal(v.err, NBDP_EINVAL);
	assert_int_equal(v.payload, 1000); /* consumed, then rejected */
	/* flags not valid for the command */
	v = classify(NBDP_CMD_READ, NBDP_CMD_FLAG_FUA, 0, 4096);
	assert_int_equal(v.err, NBDP_EINVAL);
	v = classify(NBDP_CMD_WRITE, NBDP_CMD_FLAG_NO_HOLE, 0, 4096);
	assert_int_equal(v.err, NBDP_EINVAL);
	v = classify(NBDP_CMD_WRITE, 1u << 9, 0, 4096);
	assert_int_equal(v.err, NBDP_EINVAL);
	/* flush with fields set */
	v = classify(NBDP_CMD_FLUSH, 0, 4096, 0);
	assert_int_equal(v.err, NBDP_EINVAL);
	v = classify(NBDP_CMD_FLUSH, NBDP_CMD_FLAG_FUA, 0, 0);
	assert_int_equal(v.err, NBDP_EINVAL);
}

static void test_classify_fua_not_advertised(void **state)
{
	struct wbd_nbd_export_geom g = geom;
	struct wbd_nbd_request r = {
	    .flags = NBDP_CMD_FLAG_FUA, .type = NBDP_CMD_WRITE, .len = 4096};
	struct wbd_nbd_verdict v;

	g.tflags &= (uint16_t)~NBDP_FLAG_SEND_FUA;
	wbd_nbd_classify_request(&r, &g, &v);
	assert_int_equal(v.err, NBDP_EINVAL);
}

static void test_names(void **state)
{
	assert_string_equal(wbd_nbd_cmd_name(NBDP_CMD_WRITE), "write");
	assert_string_equal(wbd_nbd_cmd_name(999), "unknown");
	assert_string_equal(wbd_nbd_opt_name(NBDP_OPT_GO), "GO");
	assert_string_equal(wbd_nbd_opt_name(12345), "unknown");
}

/* STARTTLS and the tls = require gate, including hostile orderings */
static void test_tls_gate(void **state)
{
	uint32_t err;

	(void)state;
	/* plain session, require: only STARTTLS and ABORT get through */
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_STARTTLS, 0, WBD_NBD_TLS_REQUIRE, true, false, 0, &err),
	    NBDP_TLSA_START);
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_ABORT, 0, WBD_NBD_TLS_REQUIRE, true, false, 0, &err),
	    NBDP_TLSA_PASS);
	static const uint32_t gated[] = {NBDP_OPT_GO, NBDP_OPT_INFO, NBDP_OPT_LIST,
					 NBDP_OPT_STRUCTURED_REPLY, 0x7fffffffu};
	for (size_t i = 0; i < sizeof(gated) / sizeof(gated[0]); i++) {
		assert_int_equal(
		    wbd_nbd_tls_gate(gated[i], 4, WBD_NBD_TLS_REQUIRE, true, false, 0, &err),
		    NBDP_TLSA_REPLY);
		assert_int_equal(err, NBDP_REP_ERR_TLS_REQD);
		/* after TLS the same options pass */
		assert_int_equal(
		    wbd_nbd_tls_gate(gated[i], 4, WBD_NBD_TLS_REQUIRE, true, true, 0, &err),
		    NBDP_TLSA_PASS);
		/* allow and off never gate */
		assert_int_equal(
		    wbd_nbd_tls_gate(gated[i], 4, WBD_NBD_TLS_ALLOW, true, false, 0, &err),
		    NBDP_TLSA_PASS);
		assert_int_equal(
		    wbd_nbd_tls_gate(gated[i], 4, WBD_NBD_TLS_OFF, false, false, 0, &err),
		    NBDP_TLSA_PASS);
	}
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_EXPORT_NAME, 2, WBD_NBD_TLS_REQUIRE, true, false, 0, &err),
	    NBDP_TLSA_CLOSE);
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_EXPORT_NAME, 2, WBD_NBD_TLS_REQUIRE, true, true, 0, &err),
	    NBDP_TLSA_PASS);
	/* malformed or unwanted STARTTLS */
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_STARTTLS, 1, WBD_NBD_TLS_ALLOW, true, false, 0, &err),
	    NBDP_TLSA_REPLY);
	assert_int_equal(err, NBDP_REP_ERR_INVALID);
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_STARTTLS, 0, WBD_NBD_TLS_ALLOW, true, true, 0, &err),
	    NBDP_TLSA_REPLY);
	assert_int_equal(err, NBDP_REP_ERR_INVALID);
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_STARTTLS, 0, WBD_NBD_TLS_ALLOW, false, false, 0, &err),
	    NBDP_TLSA_REPLY);
	assert_int_equal(err, NBDP_REP_ERR_UNSUP);
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_STARTTLS, 0, WBD_NBD_TLS_OFF, true, false, 0, &err),
	    NBDP_TLSA_REPLY);
	assert_int_equal(err, NBDP_REP_ERR_POLICY);
	/* plain text pipelined behind STARTTLS: close, never decrypt it */
	assert_int_equal(
	    wbd_nbd_tls_gate(NBDP_OPT_STARTTLS, 0, WBD_NBD_TLS_REQUIRE, true, false, 16, &err),
	    NBDP_TLSA_CLOSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting),
	    cmocka_unit_test(test_client_flags),
	    cmocka_unit_test(test_opt_hdr),
	    cmocka_unit_test(test_opt_reply),
	    cmocka_unit_test(test_info_req),
	    cmocka_unit_test(test_info_req_malformed),
	    cmocka_unit_test(test_export_name),
	    cmocka_unit_test(test_info_encoders),
	    cmocka_unit_test(test_request_parse),
	    cmocka_unit_test(test_classify_ok),
	    cmocka_unit_test(test_classify_bad),
	    cmocka_unit_test(test_classify_read_only),
	    cmocka_unit_test(test_snap_name),
	    cmocka_unit_test(test_classify_fua_not_advertised),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_tls_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
