// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_peerproto.c - CMocka tests of proto/peerproto.[ch], the replication
 * frame codec: header crc32c (same value as the engine's), every header
 * error, a pack/parse round trip of each message type with and without
 * data, partial frames, undecodable payloads, and one case per validation
 * rule of each message (hello, record, ack, bitmap, resync, verify, error),
 * checked on the receiving side (wbp_parse) and, where it applies, refused
 * by the sender (wbp_pack) too; then the geometry agreement.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/wbengine.h"
#include "proto/peerproto.h"

static uint8_t uuids[40][WBP_UUID_LEN];

static struct wbp_limits lim_hello(void)
{
	struct wbp_limits l;

	wbp_limits_init(&l);
	return l;
}

/* geometry after a hello: 4 KiB blocks, 1 MiB records, 1000-block device */
static struct wbp_limits lim_geo(void)
{
	struct wbp_limits l = {.block_size = 4096, .max_data = 1u << 20, .dev_blocks = 1000};

	return l;
}

/* A frame with any message, bypassing the sender's check; data zeroed. */
static uint8_t *raw_frame(unsigned type, const ProtobufCMessage *m, uint32_t data_len, size_t *len)
{
	struct wbp_hdr h = {.version = WBP_FRAME_VERSION, .type = (uint8_t)type};
	size_t plen = m ? protobuf_c_message_get_packed_size(m) : 0;
	uint8_t *b = calloc(1, WBP_HDR_SIZE + plen + data_len);

	assert_non_null(b);
	h.msg_len = (uint32_t)plen;
	h.data_len = data_len;
	wbp_hdr_encode(b, &h);
	if (m)
		protobuf_c_message_pack(m, b + WBP_HDR_SIZE);
	*len = WBP_HDR_SIZE + plen + data_len;
	return b;
}

/* Parse a raw frame; expect rc (and, for -EINVAL, a reason containing why). */
static void expect(unsigned type, const ProtobufCMessage *m, uint32_t data_len,
		   struct wbp_limits lim, int rc, const char *why)
{
	struct wbp_msg msg;
	const uint8_t *data;
	const char *w = NULL;
	size_t len;
	uint8_t *b = raw_frame(type, m, data_len, &len);
	ssize_t n = wbp_parse(b, len, &lim, &msg, &data, &w);

	if (rc == 0) {
		if (n != (ssize_t)len)
			fail_msg("%s: expected success, got %zd (%s)", wbp_type_name(type), n,
				 w ? w : "");
		assert_int_equal(msg.type, type);
		assert_int_equal(msg.data_len, data_len);
		assert_ptr_equal(data, b + len - data_len);
		wbp_msg_free(&msg);
	} else {
		if (n != rc)
			fail_msg("%s (%s): expected %d, got %zd (%s)", wbp_type_name(type),
				 why ? why : "", rc, n, w ? w : "");
		assert_null(msg.base);
		if (why) {
			assert_non_null(w);
			if (!strstr(w, why))
				fail_msg("reason '%s' does not contain '%s'", w, why);
		}
	}
	free(b);
	/* the sender refuses what the receiver refuses (rules, not encoding) */
	if (m && (rc == 0 || rc == -EINVAL || rc == -EPROTONOSUPPORT)) {
		uint8_t *out = NULL;
		size_t olen;
		int prc = wbp_pack(type, m, data_len, &lim, &out, &olen, &w);

		assert_int_equal(prc, rc);
		free(out);
	}
}

static void hello_init(Wbrep__Hello *h)
{
	wbrep__hello__init(h);
	h->version = WBP_PROTO_VERSION;
	h->node = "alpha";
	h->resource = "r0";
	h->has_role = 1;
	h->role = WBREP__ROLE__ROLE_PRIMARY;
	h->has_block_size = 1;
	h->block_size = 4096;
	h->has_max_record_bytes = 1;
	h->max_record_bytes = 1u << 20;
	h->has_size = 1;
	h->size = 1u << 30;
	h->has_data_uuid = 1;
	h->data_uuid.len = WBP_UUID_LEN;
	h->data_uuid.data = uuids[0];
}

static void test_crc_and_header(void **state)
{
	struct wbp_limits lg = lim_geo(), lh = lim_hello();
	struct wbp_hdr h = {.version = 1, .type = WBP_T_RECORD, .msg_len = 100, .data_len = 4096},
		       o;
	uint8_t b[WBP_HDR_SIZE], c[WBP_HDR_SIZE];

	assert_int_equal(wbp_crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(wbp_crc32c(uuids, sizeof(uuids)), wb_crc32c(0, uuids, sizeof(uuids)));
	wbp_hdr_encode(b, &h);
	assert_memory_equal(b, "WBP1", 4);
	assert_int_equal(wbp_hdr_decode(b, &lg, &o), 0);
	assert_int_equal(o.type, WBP_T_RECORD);
	assert_int_equal(o.msg_len, 100);
	assert_int_equal(o.data_len, 4096);
	/* every single-bit flip is caught (magic or crc) */
	for (int i = 0; i < WBP_HDR_SIZE * 8; i++) {
		memcpy(c, b, sizeof(b));
		c[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EBADMSG);
	}
	/* record before the hello */
	assert_int_equal(wbp_hdr_decode(b, &lh, &o), -EPROTO);
#define HDR(...)                                                                                   \
	do {                                                                                       \
		struct wbp_hdr x = {__VA_ARGS__};                                                  \
		if (!x.version)                                                                    \
			x.version = 1;                                                             \
		wbp_hdr_encode(c, &x);                                                             \
	} while (0)
	HDR(.type = WBP_T_HELLO, .version = 2);
	assert_int_equal(wbp_hdr_decode(c, &lh, &o), -EPROTONOSUPPORT);
	HDR(.type = 0);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EPROTO);
	HDR(.type = WBP_T_COUNT);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EPROTO);
	HDR(.type = 255);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EPROTO);
	HDR(.type = WBP_T_PING, .flags = 1);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EPROTO);
	HDR(.type = WBP_T_ACK, .data_len = 1);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EPROTO);
	HDR(.type = WBP_T_HELLO, .data_len = 1);
	assert_int_equal(wbp_hdr_decode(c, &lh, &o), -EPROTO);
	HDR(.type = WBP_T_HELLO, .msg_len = WBP_MSG_MAX + 1);
	assert_int_equal(wbp_hdr_decode(c, &lh, &o), -EMSGSIZE);
	HDR(.type = WBP_T_HELLO, .msg_len = WBP_MSG_MAX);
	assert_int_equal(wbp_hdr_decode(c, &lh, &o), 0);
	HDR(.type = WBP_T_RECORD, .data_len = (1u << 20) + 1);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EMSGSIZE);
	HDR(.type = WBP_T_RECORD, .data_len = 0xffffffffu, .msg_len = 0xffffffffu);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EMSGSIZE);
	for (unsigned t = WBP_T_HELLO; t < WBP_T_COUNT; t++)
		assert_string_not_equal(wbp_type_name(t), "unknown");
	assert_string_equal(wbp_type_name(0), "unknown");
	assert_int_equal(wbp_ack_rank(WBREP__ACK_LEVEL__ACK_RECEIVED), 1);
	assert_true(wbp_ack_rank(WBREP__ACK_LEVEL__ACK_IN_MEMORY) <
		    wbp_ack_rank(WBREP__ACK_LEVEL__ACK_WRITTEN));
	assert_true(wbp_ack_rank(WBREP__ACK_LEVEL__ACK_WRITTEN) <
		    wbp_ack_rank(WBREP__ACK_LEVEL__ACK_DURABLE));
	assert_int_equal(wbp_ack_rank(WBREP__ACK_LEVEL__ACK_NONE), 0);
	{ /* the positions an ack gives (both the gate and the io loop use them) */
		Wbrep__Ack a = WBREP__ACK__INIT;
		uint64_t mem, wr, dur;

		a.seq = 41;
		a.level = WBREP__ACK_LEVEL__ACK_RECEIVED;
		wbp_ack_positions(&a, &mem, &wr, &dur);
		assert_int_equal(mem, 0);
		assert_int_equal(dur, 0);
		a.has_durable_seq = 1;
		a.durable_seq = 30;
		wbp_ack_positions(&a, &mem, &wr, &dur);
		assert_int_equal(mem, 0);
		assert_int_equal(dur, 31);
		a.level = WBREP__ACK_LEVEL__ACK_IN_MEMORY;
		wbp_ack_positions(&a, &mem, &wr, &dur);
		assert_int_equal(mem, 42);
		assert_int_equal(dur, 31);
		assert_int_equal(wr, 31); /* durable is written too */
		a.level = WBREP__ACK_LEVEL__ACK_WRITTEN;
		wbp_ack_positions(&a, &mem, &wr, &dur);
		assert_int_equal(mem, 42);
		assert_int_equal(wr, 42);
		assert_int_equal(dur, 31);
		a.level = WBREP__ACK_LEVEL__ACK_DURABLE; /* its seq, not durable_seq */
		wbp_ack_positions(&a, &mem, &wr, &dur);
		assert_int_equal(mem, 42);
		assert_int_equal(wr, 42);
		assert_int_equal(dur, 42);
	}
}

static void test_hello(void **state)
{
	struct wbp_limits lh = lim_hello();
	ProtobufCBinaryData hist[WBP_UUID_HISTORY + 1];
	uint8_t *out;
	size_t olen;
	struct wbp_msg m;
	const uint8_t *data;
	const char *why;
	Wbrep__Hello h;

	for (int i = 0; i <= WBP_UUID_HISTORY; i++)
		hist[i] = (ProtobufCBinaryData){WBP_UUID_LEN, uuids[i + 1]};
	hello_init(&h);
	h.n_uuid_history = WBP_UUID_HISTORY;
	h.uuid_history = hist;
	/* round trip through the sender */
	assert_int_equal(wbp_pack(WBP_T_HELLO, &h.base, 0, &lh, &out, &olen, &why), 0);
	for (size_t k = 0; k < olen; k++)
		assert_int_equal(wbp_parse(out, k, &lh, &m, &data, &why), 0); /* partial */
	assert_int_equal(wbp_parse(out, olen, &lh, &m, &data, &why), (ssize_t)olen);
	assert_string_equal(m.hello->node, "alpha");
	assert_int_equal(m.hello->n_uuid_history, WBP_UUID_HISTORY);
	assert_memory_equal(m.hello->uuid_history[31].data, uuids[32], WBP_UUID_LEN);
	assert_int_equal(m.hello->max_record_bytes, 1u << 20);
	wbp_msg_free(&m);
	free(out);
	expect(WBP_T_HELLO, &h.base, 0, lh, 0, NULL);

#define BAD_HELLO(change, why)                                                                     \
	do {                                                                                       \
		hello_init(&h);                                                                    \
		change;                                                                            \
		expect(WBP_T_HELLO, &h.base, 0, lh, -EINVAL, why);                                 \
	} while (0)
	BAD_HELLO(h.node = "", "node name");
	BAD_HELLO(h.node = "-x", "node name");
	BAD_HELLO(h.node = "a b", "node name");
	BAD_HELLO(h.resource = "r0\n", "resource name");
	BAD_HELLO(h.resource = "0123456789012345678901234567890123456789012345678901234567890123",
		  "resource name");
	BAD_HELLO(h.cluster = "c/1", "cluster name");
	BAD_HELLO((h.has_node_id = 1, h.node_id = 0), "node id");
	BAD_HELLO((h.has_node_id = 1, h.node_id = 256), "node id");
	BAD_HELLO(h.data_uuid.len = 15, "data uuid");
	BAD_HELLO((h.n_uuid_history = WBP_UUID_HISTORY + 1, h.uuid_history = hist), "32 uuids");
	BAD_HELLO((hist[3].len = 17, h.n_uuid_history = 4, h.uuid_history = hist), "history uuid");
	hist[3].len = WBP_UUID_LEN;
	BAD_HELLO(h.has_role = 0, "role");
	BAD_HELLO(h.role = (Wbrep__Role)7, "role");
	BAD_HELLO(h.role = (Wbrep__Role)-1, "role");
	BAD_HELLO(h.has_block_size = 0, "block size");
	BAD_HELLO(h.block_size = 512, "block size");
	BAD_HELLO(h.has_max_record_bytes = 0, "max record");
	BAD_HELLO(h.max_record_bytes = 0, "max record");
	BAD_HELLO(h.max_record_bytes = 4096 + 512, "max record");
	BAD_HELLO(h.max_record_bytes = WBP_DATA_LIMIT + 4096, "max record");
	BAD_HELLO(h.has_size = 0, "size");
	BAD_HELLO(h.size = 0, "size");
	BAD_HELLO(h.size = 4097, "size");
	BAD_HELLO((h.has_seq_head = h.has_seq_tail = 1, h.seq_head = 5, h.seq_tail = 7),
		  "seq tail");
	BAD_HELLO((h.has_gen_head = h.has_gen_tail = 1, h.gen_head = 5, h.gen_tail = 6),
		  "generation tail");
	BAD_HELLO((h.has_seq_head = h.has_data_head = 1, h.seq_head = 5, h.data_head = 6),
		  "data head");
	BAD_HELLO((h.has_data_head = 1, h.data_head = 1), "data head");
	BAD_HELLO((h.has_seq_head = h.has_seq_durable = 1, h.seq_head = 5, h.seq_durable = 6),
		  "durable head");
	BAD_HELLO((h.has_seq_durable = 1, h.seq_durable = 1), "durable head");
	BAD_HELLO((h.has_after_sb_1pri = 1, h.after_sb_1pri = WBP_ASB_MAX + 1), "after-sb-1pri");
	BAD_HELLO((h.has_after_sb_1pri = 1, h.after_sb_1pri = UINT32_MAX), "after-sb-1pri");
	BAD_HELLO((h.has_after_sb_0pri = 1, h.after_sb_0pri = WBP_ASB0_MAX + 1), "after-sb-0pri");
	/* edges that are valid */
	hello_init(&h);
	h.has_seq_head = h.has_seq_tail = 1;
	h.seq_head = 5;
	h.seq_tail = 6; /* empty log: tail = head + 1 */
	h.max_record_bytes = WBP_DATA_LIMIT;
	h.has_node_id = 1;
	h.node_id = 255;
	h.cluster = "c1";
	h.has_after_sb_1pri = 1;
	h.after_sb_1pri = WBP_ASB_MAX;
	h.has_after_sb_0pri = 1;
	h.after_sb_0pri = WBP_ASB0_MAX;
	expect(WBP_T_HELLO, &h.base, 0, lh, 0, NULL);
	hello_init(&h);
	h.version = 0;
	expect(WBP_T_HELLO, &h.base, 0, lh, -EPROTONOSUPPORT, "too old");
	/* a newer peer version is accepted; wbp_agree uses the common one */
	hello_init(&h);
	h.version = 9;
	expect(WBP_T_HELLO, &h.base, 0, lh, 0, NULL);
}

static void test_undecodable(void **state)
{
	struct wbp_limits lh = lim_hello(), lg = lim_geo();
	uint8_t buf[WBP_HDR_SIZE + 16];
	struct wbp_hdr h = {.version = 1, .type = WBP_T_HELLO};
	struct wbp_msg m;
	const uint8_t *data;
	const char *why;
	Wbrep__Ack ack = WBREP__ACK__INIT;

	/* an empty hello lacks required fields */
	h.msg_len = 0;
	wbp_hdr_encode(buf, &h);
	assert_int_equal(wbp_parse(buf, WBP_HDR_SIZE, &lh, &m, &data, &why), -EBADMSG);
	/* garbage */
	h.msg_len = 3;
	wbp_hdr_encode(buf, &h);
	memcpy(buf + WBP_HDR_SIZE, "\xff\xff\xff", 3);
	assert_int_equal(wbp_parse(buf, WBP_HDR_SIZE + 3, &lh, &m, &data, &why), -EBADMSG);
	/* a ping with an unknown field number 0 (tag varint 0x80 0x00) */
	h.type = WBP_T_PING;
	h.msg_len = 3;
	wbp_hdr_encode(buf, &h);
	memcpy(buf + WBP_HDR_SIZE, "\x80\x00\x01", 3);
	assert_int_equal(wbp_parse(buf, WBP_HDR_SIZE + 3, &lh, &m, &data, &why), -EBADMSG);
	/* the message of another type (an ack read as a hello: wire types and
	 * required fields differ) */
	ack.seq = 1;
	ack.level = WBREP__ACK_LEVEL__ACK_DURABLE;
	expect(WBP_T_HELLO, &ack.base, 0, lh, -EBADMSG, NULL);
	assert_int_equal(lg.block_size, 4096);
	/* an empty ping is fine */
	h.msg_len = 0;
	wbp_hdr_encode(buf, &h);
	assert_int_equal(wbp_parse(buf, WBP_HDR_SIZE, &lh, &m, &data, &why), WBP_HDR_SIZE);
	assert_int_equal(m.type, WBP_T_PING);
	wbp_msg_free(&m);
}

static Wbrep__Extent ext[WBP_MAX_EXTENTS + 1];
static Wbrep__Extent *extp[WBP_MAX_EXTENTS + 1];

static void rec_init(Wbrep__RecordHeader *r, size_t n)
{
	wbrep__record_header__init(r);
	r->seq = 7;
	r->gen = 3;
	for (size_t i = 0; i <= WBP_MAX_EXTENTS; i++) {
		wbrep__extent__init(&ext[i]);
		ext[i].lba = i * 2;
		ext[i].nblocks = 1;
		ext[i].has_crc = 1;
		ext[i].crc = 0x1234;
		extp[i] = &ext[i];
	}
	r->n_extents = n;
	r->extents = extp;
}

static void test_record(void **state)
{
	struct wbp_limits lg = lim_geo();
	Wbrep__RecordHeader r;

	rec_init(&r, 3);
	expect(WBP_T_RECORD, &r.base, 3 * 4096, lg, 0, NULL);
	/* 248 extents with 1 MiB of data */
	rec_init(&r, WBP_MAX_EXTENTS);
	ext[0].nblocks = 256 - 247;
	expect(WBP_T_RECORD, &r.base, 256 * 4096, lg, 0, NULL);
	/* zero record: no data, no crc */
	rec_init(&r, 2);
	r.has_flags = 1;
	r.flags = WBP_REC_F_ZERO | WBP_REC_F_GEN_END;
	ext[0].has_crc = ext[1].has_crc = 0;
	ext[1].nblocks = 998; /* ends exactly at the device end */
	expect(WBP_T_RECORD, &r.base, 0, lg, 0, NULL);
	/* the empty record that ends a generation: no extents, no data */
	rec_init(&r, 0);
	r.has_flags = 1;
	r.flags = WBP_REC_F_GEN_END;
	expect(WBP_T_RECORD, &r.base, 0, lg, 0, NULL);
	expect(WBP_T_RECORD, &r.base, 4096, lg, -EINVAL, "add up");

#define BAD_REC(n, change, dlen, why)                                                              \
	do {                                                                                       \
		rec_init(&r, n);                                                                   \
		change;                                                                            \
		expect(WBP_T_RECORD, &r.base, dlen, lg, -EINVAL, why);                             \
	} while (0)
	BAD_REC(1, r.seq = 0, 4096, "seq");
	BAD_REC(1, r.gen = 0, 4096, "seq");
	BAD_REC(1, (r.has_flags = 1, r.flags = 4), 4096, "unknown flags");
	BAD_REC(0, (void)0, 0, "extent count");
	BAD_REC(0, (r.has_flags = 1, r.flags = WBP_REC_F_ZERO), 0, "extent count");
	BAD_REC(WBP_MAX_EXTENTS + 1, (void)0, (WBP_MAX_EXTENTS + 1) * 4096, "extent count");
	BAD_REC(2, ext[1].nblocks = 0, 4096, "empty extent");
	BAD_REC(1, (ext[0].lba = UINT64_MAX, ext[0].nblocks = 1), 4096, "overflows");
	BAD_REC(1, (ext[0].lba = UINT64_MAX - 1, ext[0].nblocks = 2), 8192, "overflows");
	BAD_REC(1, ext[0].lba = 1000, 4096, "past the device");
	BAD_REC(1, (ext[0].lba = 999, ext[0].nblocks = 2), 8192, "past the device");
	BAD_REC(3, (void)0, 2 * 4096, "add up");
	BAD_REC(3, (void)0, 4 * 4096, "add up");
	BAD_REC(3, (void)0, 3 * 4096 - 1, "add up");
	BAD_REC(2, (ext[0].nblocks = 0xffffffffu, ext[0].lba = 0), 4096, "past the device");
	BAD_REC(3, (r.has_data_len = 1, r.data_len = 4096), 3 * 4096, "data_len differs");
	BAD_REC(1, (r.has_flags = 1, r.flags = WBP_REC_F_ZERO, ext[0].has_crc = 0), 4096, "add up");
	BAD_REC(1, (r.has_flags = 1, r.flags = WBP_REC_F_ZERO), 0, "zero extent with a data crc");
	/* over the agreed record size: refused in the header already */
	rec_init(&r, 1);
	ext[0].nblocks = 257;
	expect(WBP_T_RECORD, &r.base, 257 * 4096, lg, -EMSGSIZE, NULL);
	/* and before the hello */
	rec_init(&r, 1);
	expect(WBP_T_RECORD, &r.base, 4096, lim_hello(), -EPROTO, NULL);
}

static void test_ack_barrier_ping_error(void **state)
{
	struct wbp_limits lg = lim_geo();
	Wbrep__Ack a = WBREP__ACK__INIT;
	Wbrep__Barrier b = WBREP__BARRIER__INIT;
	Wbrep__Ping p = WBREP__PING__INIT;
	Wbrep__PeerError e = WBREP__PEER_ERROR__INIT;
	char text[WBP_TEXT_MAX + 2];

	a.seq = 9;
	a.level = WBREP__ACK_LEVEL__ACK_IN_MEMORY;
	expect(WBP_T_ACK, &a.base, 0, lg, 0, NULL);
	a.level = WBREP__ACK_LEVEL__ACK_NONE;
	expect(WBP_T_ACK, &a.base, 0, lg, -EINVAL, "level");
	a.level = (Wbrep__AckLevel)5; /* past ACK_WRITTEN (4) */
	expect(WBP_T_ACK, &a.base, 0, lg, -EINVAL, "level");
	a.level = WBREP__ACK_LEVEL__ACK_DURABLE;
	a.has_code = 1;
	a.code = -5;
	expect(WBP_T_ACK, &a.base, 0, lg, -EINVAL, "errno");
	a.code = 4096;
	expect(WBP_T_ACK, &a.base, 0, lg, -EINVAL, "errno");
	a.code = 5;
	expect(WBP_T_ACK, &a.base, 0, lg, 0, NULL);
	expect(WBP_T_ACK, &a.base, 0, lim_hello(), -EPROTO, NULL);
	a.has_code = 0;
	/* a late DURABLE riding with an ack: at most its seq */
	a.level = WBREP__ACK_LEVEL__ACK_IN_MEMORY;
	a.has_durable_seq = 1;
	a.durable_seq = 9;
	expect(WBP_T_ACK, &a.base, 0, lg, 0, NULL);
	a.durable_seq = 10;
	expect(WBP_T_ACK, &a.base, 0, lg, -EINVAL, "durable_seq");
	b.id = 1;
	b.seq = 10;
	b.has_flush = b.flush = 1;
	expect(WBP_T_BARRIER, &b.base, 0, lg, 0, NULL);
	expect(WBP_T_PING, &p.base, 0, lim_hello(), 0, NULL);
	p.has_cookie = 1;
	p.cookie = ~0ull;
	expect(WBP_T_PONG, &p.base, 0, lim_hello(), 0, NULL);
	e.code = 71;
	e.text = "split brain detected";
	expect(WBP_T_ERROR, &e.base, 0, lim_hello(), 0, NULL);
	e.code = 0;
	expect(WBP_T_ERROR, &e.base, 0, lim_hello(), -EINVAL, "errno");
	e.code = 71;
	e.text = "bad\x1b[31m";
	expect(WBP_T_ERROR, &e.base, 0, lim_hello(), -EINVAL, "printable");
	memset(text, 'x', sizeof(text));
	text[WBP_TEXT_MAX + 1] = 0;
	e.text = text;
	expect(WBP_T_ERROR, &e.base, 0, lim_hello(), -EINVAL, "1024");
	text[WBP_TEXT_MAX] = 0;
	expect(WBP_T_ERROR, &e.base, 0, lim_hello(), 0, NULL);
}

/* online grow: a size query takes any id; a reply's sizes are whole
 * blocks, max_size not below size, code a positive errno; both only after
 * the hello */
static void test_size(void **state)
{
	struct wbp_limits lg = lim_geo();
	Wbrep__SizeQuery q = WBREP__SIZE_QUERY__INIT;
	Wbrep__SizeReply r = WBREP__SIZE_REPLY__INIT;

	(void)state;
	q.id = ~0ull;
	expect(WBP_T_SIZE_QUERY, &q.base, 0, lg, 0, NULL);
	expect(WBP_T_SIZE_QUERY, &q.base, 0, lim_hello(), -EPROTO, NULL);
	r.id = 1;
	r.has_size = r.has_max_size = 1;
	r.size = 64ull << 20;
	r.max_size = 128ull << 20;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, 0, NULL);
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lim_hello(), -EPROTO, NULL);
	r.max_size = r.size;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, 0, NULL);
	r.max_size = r.size - 4096;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, -EINVAL, "below");
	r.max_size = r.size + 512;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, -EINVAL, "whole number");
	r.max_size = r.size;
	r.size += 1;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, -EINVAL, "whole number");
	r.has_size = r.has_max_size = 0;
	r.has_code = 1;
	r.code = 95;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, 0, NULL);
	r.code = -1;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, -EINVAL, "code");
	r.code = 4096;
	expect(WBP_T_SIZE_REPLY, &r.base, 0, lg, -EINVAL, "code");
}

/* wbctl pause-sync: a peer-state frame, after the hello only, no data */
static void test_peer_state(void **state)
{
	struct wbp_limits lg = lim_geo();
	Wbrep__PeerState ps = WBREP__PEER_STATE__INIT;
	uint8_t c[WBP_HDR_SIZE];
	struct wbp_hdr h = {.version = 1, .type = WBP_T_PEER_STATE, .data_len = 1}, o;

	(void)state;
	ps.has_sync_paused = ps.sync_paused = 1;
	expect(WBP_T_PEER_STATE, &ps.base, 0, lg, 0, NULL);
	expect(WBP_T_PEER_STATE, &ps.base, 0, lim_hello(), -EPROTO, NULL);
	ps.has_sync_paused = 0; /* no change: still a valid frame */
	expect(WBP_T_PEER_STATE, &ps.base, 0, lg, 0, NULL);
	wbp_hdr_encode(c, &h);
	assert_int_equal(wbp_hdr_decode(c, &lg, &o), -EPROTO); /* data on it */
	assert_string_equal(wbp_type_name(WBP_T_PEER_STATE), "peer-state");
}

static void test_bitmap(void **state)
{
	struct wbp_limits lg = lim_geo(); /* 1000 blocks = 63 regions of 64 KiB */
	Wbrep__BitmapChunk c = WBREP__BITMAP_CHUNK__INIT;

#define BM(rb, tot, first, n, dlen, rc, why)                                                       \
	do {                                                                                       \
		c.region_bytes = rb;                                                               \
		c.total_regions = tot;                                                             \
		c.first_region = first;                                                            \
		c.nregions = n;                                                                    \
		expect(WBP_T_BITMAP, &c.base, dlen, lg, rc, why);                                  \
	} while (0)
	BM(65536, 63, 0, 63, 8, 0, NULL);
	BM(65536, 63, 60, 3, 1, 0, NULL);
	BM(65536, 63, 0, 8, 1, 0, NULL);
	BM(4096, 1000, 0, 1000, 125, 0, NULL);
	BM(65536, 63, 0, 63, 7, -EINVAL, "ceil");
	BM(65536, 63, 0, 63, 9, -EINVAL, "ceil");
	BM(65536, 63, 60, 4, 1, -EINVAL, "outside");
	BM(65536, 63, 64, 1, 1, -EINVAL, "outside");
	BM(65536, 63, 0, 0, 0, -EINVAL, "outside");
	BM(65536, 64, 0, 64, 8, -EINVAL, "device size");
	BM(65536 + 4096, 63, 0, 63, 8, -EINVAL, "power of 2");
	BM(2048, 2000, 0, 8, 1, -EINVAL, "power of 2");
	BM(0, 63, 0, 8, 1, -EINVAL, "power of 2");
	BM(1u << 31, 1, 0, 1, 1, -EINVAL, "power of 2");
	c.region_bytes = 65536;
	c.total_regions = UINT64_MAX;
	c.first_region = UINT64_MAX - 1;
	c.nregions = 8;
	expect(WBP_T_BITMAP, &c.base, 1, lg, -EINVAL, "outside");
	/* a resync's first chunk: the target's log restarts at (seq, rebase_gen) */
	c.has_rebase_gen = 1;
	c.rebase_gen = 0;
	BM(65536, 63, 0, 63, 8, -EINVAL, "rebase generation");
	c.rebase_gen = 7;
	c.has_full = c.full = 1;
	BM(65536, 63, 0, 63, 8, 0, NULL);
	/* a discard's fork seq: >= 1, <= seq, with a rebase, not full */
	c.has_fork_seq = 1;
	c.fork_seq = 40;
	BM(65536, 63, 0, 63, 8, -EINVAL, "fork seq");
	c.full = 0;
	c.has_seq = 1;
	c.seq = 40;
	BM(65536, 63, 0, 63, 8, 0, NULL);
	c.seq = 39;
	BM(65536, 63, 0, 63, 8, -EINVAL, "fork seq");
	c.seq = 100;
	c.fork_seq = 0;
	BM(65536, 63, 0, 63, 8, -EINVAL, "fork seq");
	c.fork_seq = 40;
	c.has_rebase_gen = 0;
	BM(65536, 63, 0, 63, 8, -EINVAL, "fork seq");
}

static void test_resync_verify(void **state)
{
	struct wbp_limits lg = lim_geo();
	Wbrep__ResyncRequest q = WBREP__RESYNC_REQUEST__INIT;
	Wbrep__ResyncData d = WBREP__RESYNC_DATA__INIT;
	Wbrep__VerifyRequest vq = WBREP__VERIFY_REQUEST__INIT;
	Wbrep__VerifyReply vr = WBREP__VERIFY_REPLY__INIT;
	uint32_t crcs[5] = {1, 2, 3, 4, 5};

	q.lba = 10;
	q.nblocks = 256;
	q.has_crc = 1;
	expect(WBP_T_RESYNC_REQ, &q.base, 0, lg, 0, NULL);
	q.nblocks = 257;
	expect(WBP_T_RESYNC_REQ, &q.base, 0, lg, -EINVAL, "maximum record");
	q.nblocks = 0;
	expect(WBP_T_RESYNC_REQ, &q.base, 0, lg, -EINVAL, "empty");
	q.lba = 999;
	q.nblocks = 2;
	expect(WBP_T_RESYNC_REQ, &q.base, 0, lg, -EINVAL, "past the device");
	q.lba = UINT64_MAX;
	q.nblocks = 1;
	expect(WBP_T_RESYNC_REQ, &q.base, 0, lg, -EINVAL, "overflows");
	q.lba = 0;
	expect(WBP_T_RESYNC_REQ, &q.base, 4096, lg, -EPROTO, NULL); /* data on a request */
	/* the resume point: at most the end of the device */
	q.has_durable_below = 1;
	q.durable_below = lg.dev_blocks;
	expect(WBP_T_RESYNC_REQ, &q.base, 0, lg, 0, NULL);
	q.durable_below = lg.dev_blocks + 1;
	expect(WBP_T_RESYNC_REQ, &q.base, 0, lg, -EINVAL, "durable_below");
	q.has_durable_below = 0;

	d.lba = 0;
	d.nblocks = 4;
	expect(WBP_T_RESYNC_DATA, &d.base, 4 * 4096, lg, 0, NULL);
	expect(WBP_T_RESYNC_DATA, &d.base, 3 * 4096, lg, -EINVAL, "data length");
	expect(WBP_T_RESYNC_DATA, &d.base, 0, lg, -EINVAL, "data length");
	d.has_same = d.same = 1;
	expect(WBP_T_RESYNC_DATA, &d.base, 0, lg, 0, NULL);
	expect(WBP_T_RESYNC_DATA, &d.base, 4 * 4096, lg, -EINVAL, "data length");
	d.has_code = 1;
	d.code = 5;
	expect(WBP_T_RESYNC_DATA, &d.base, 0, lg, -EINVAL, "both");
	d.has_same = d.same = 0;
	expect(WBP_T_RESYNC_DATA, &d.base, 0, lg, 0, NULL);
	d.code = -1;
	expect(WBP_T_RESYNC_DATA, &d.base, 0, lg, -EINVAL, "errno");
	d.code = 0;
	d.lba = 998;
	expect(WBP_T_RESYNC_DATA, &d.base, 4 * 4096, lg, -EINVAL, "past the device");

	{
		Wbrep__ResyncDone rd = WBREP__RESYNC_DONE__INIT;

		rd.regions = 63;
		rd.has_bytes = rd.has_same = 1;
		rd.bytes = 4 * 4096;
		expect(WBP_T_RESYNC_DONE, &rd.base, 0, lg, 0, NULL);
		expect(WBP_T_RESYNC_DONE, &rd.base, 4096, lg, -EPROTO, NULL); /* no data */
		expect(WBP_T_RESYNC_DONE, &rd.base, 0, lim_hello(), -EPROTO,
		       NULL); /* before the hello */
		rd.regions = 1ull << 52;
		expect(WBP_T_RESYNC_DONE, &rd.base, 0, lg, -EINVAL, "larger than any device");
		rd.regions = 1;
		rd.same = 1ull << 62;
		expect(WBP_T_RESYNC_DONE, &rd.base, 0, lg, -EINVAL, "larger than any device");
	}

	vq.lba = 0;
	vq.nblocks = 256;
	expect(WBP_T_VERIFY_REQ, &vq.base, 0, lg, 0, NULL);
	vq.nblocks = 0;
	expect(WBP_T_VERIFY_REQ, &vq.base, 0, lg, -EINVAL, "empty");
	vr.lba = 996;
	vr.nblocks = 4;
	vr.n_crcs = 4;
	vr.crcs = crcs;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, 0, NULL);
	/* data without the data flag */
	expect(WBP_T_VERIFY_REPLY, &vr.base, 4096, lg, -EINVAL, "without the data flag");
	vr.has_data = vr.data = 1; /* a read from a peer: blocks, not crcs */
	expect(WBP_T_VERIFY_REPLY, &vr.base, 4 * 4096, lg, -EINVAL, "both blocks and crcs");
	vr.n_crcs = 0;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 4 * 4096, lg, 0, NULL);
	expect(WBP_T_VERIFY_REPLY, &vr.base, 3 * 4096, lg, -EINVAL, "data length");
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "data length");
	vr.has_as_of = 1; /* a primary's copy for a secondary: as of a seq */
	vr.as_of = 77;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 4 * 4096, lg, 0, NULL);
	vr.as_of = 0;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 4 * 4096, lg, -EINVAL, "as_of without blocks");
	vr.as_of = 77;
	vr.has_code = 1;
	vr.code = 5; /* the peer's read failed too: no data */
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "as_of without blocks");
	vr.has_as_of = 0;
	vr.as_of = 0;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, 0, NULL);
	expect(WBP_T_VERIFY_REPLY, &vr.base, 4 * 4096, lg, -EINVAL, "data length");
	vr.has_code = vr.code = 0;
	vr.has_data = vr.data = 0;
	vr.n_crcs = 4;
	vr.lba = 997;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "past the device");
	vr.lba = 0;
	vr.n_crcs = 3; /* one crc short */
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "one crc per block");
	vr.n_crcs = 5; /* one too many */
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "one crc per block");
	vr.n_crcs = 0; /* none, no error code */
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "one crc per block");
	vr.has_code = 1;
	vr.code = 5; /* the replying node could not read: no crcs */
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, 0, NULL);
	vr.n_crcs = 4;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "one crc per block");
	vr.n_crcs = 0;
	vr.code = 9999;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "errno");
	vr.code = -1;
	expect(WBP_T_VERIFY_REPLY, &vr.base, 0, lg, -EINVAL, "errno");
	vq.lba = 999;
	vq.nblocks = 2;
	expect(WBP_T_VERIFY_REQ, &vq.base, 0, lg, -EINVAL, "past the device");
	vq.lba = 0;
	vq.nblocks = 257;
	expect(WBP_T_VERIFY_REQ, &vq.base, 0, lg, -EINVAL, "maximum record");
	vq.has_data = vq.data = 1; /* a read: at most one record's data */
	expect(WBP_T_VERIFY_REQ, &vq.base, 0, lg, -EINVAL, "maximum record");
	vq.nblocks = 256;
	expect(WBP_T_VERIFY_REQ, &vq.base, 0, lg, 0, NULL);
}

static void test_stream_and_data(void **state)
{
	struct wbp_limits lg = lim_geo();
	Wbrep__RecordHeader r;
	Wbrep__Ping p = WBREP__PING__INIT;
	uint8_t *f1, *f2, buf[3 * 4096 + 512];
	size_t l1, l2, off = 0;
	const uint8_t *data;
	const char *why;
	struct wbp_msg m;
	ssize_t n;

	rec_init(&r, 2);
	ext[1].nblocks = 2;
	assert_int_equal(wbp_pack(WBP_T_RECORD, &r.base, 3 * 4096, &lg, &f1, &l1, &why), 0);
	p.has_cookie = 1;
	p.cookie = 42;
	assert_int_equal(wbp_pack(WBP_T_PING, &p.base, 0, &lg, &f2, &l2, &why), 0);
	memcpy(buf, f1, l1);
	off = l1;
	for (int i = 0; i < 3 * 4096; i++)
		buf[off++] = (uint8_t)(i * 7);
	memcpy(buf + off, f2, l2);
	off += l2;
	/* a partial frame, data included, is "need more" */
	assert_int_equal(wbp_parse(buf, l1 + 3 * 4096 - 1, &lg, &m, &data, &why), 0);
	n = wbp_parse(buf, off, &lg, &m, &data, &why);
	assert_int_equal(n, (ssize_t)(l1 + 3 * 4096));
	assert_int_equal(m.rec->n_extents, 2);
	assert_int_equal(m.rec->extents[1]->nblocks, 2);
	assert_ptr_equal(data, buf + l1);
	assert_int_equal(data[4097], (uint8_t)(4097 * 7));
	wbp_msg_free(&m);
	assert_int_equal(wbp_parse(buf + n, off - (size_t)n, &lg, &m, &data, &why), (ssize_t)l2);
	assert_int_equal(m.type, WBP_T_PING);
	assert_int_equal(m.ping->cookie, 42);
	wbp_msg_free(&m);
	free(f1);
	free(f2);
	/* pack refuses a type/message mismatch and unknown types */
	assert_int_equal(wbp_pack(WBP_T_ACK, &p.base, 0, &lg, &f1, &l1, &why), -EINVAL);
	assert_null(f1);
	assert_int_equal(wbp_pack(99, &p.base, 0, &lg, &f1, &l1, &why), -EINVAL);
}

static void test_agree(void **state)
{
	Wbrep__Hello a, b;
	struct wbp_limits l;
	const char *why;

	hello_init(&a);
	hello_init(&b);
	b.node = "beta";
	b.max_record_bytes = 512u << 10;
	b.size = (1u << 30) - 8192;
	b.version = 5;
	assert_int_equal(wbp_agree(&a, &b, &l, &why), 0);
	assert_int_equal(l.block_size, 4096);
	assert_int_equal(l.max_data, 512u << 10);
	assert_int_equal(l.dev_blocks, ((1u << 30) - 8192) / 4096);
	assert_int_equal(wbp_agree(&b, &a, &l, &why), 0);
	assert_int_equal(l.max_data, 512u << 10);
	b.node = "alpha";
	assert_int_equal(wbp_agree(&a, &b, &l, &why), -EPROTO);
	assert_non_null(strstr(why, "node"));
	assert_int_equal(l.block_size, 0); /* nothing agreed */
	b.node = "beta";
	b.resource = "r1";
	assert_int_equal(wbp_agree(&a, &b, &l, &why), -EPROTO);
	assert_non_null(strstr(why, "resource"));
	b.resource = "r0";
	a.cluster = "c1";
	b.cluster = "c2";
	assert_int_equal(wbp_agree(&a, &b, &l, &why), -EPROTO);
	assert_non_null(strstr(why, "cluster"));
	b.cluster = NULL;
	assert_int_equal(wbp_agree(&a, &b, &l, &why), 0);
	b.block_size = 8192;
	assert_int_equal(wbp_agree(&a, &b, &l, &why), -EPROTO);
	assert_non_null(strstr(why, "block"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc_and_header),
	    cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_undecodable),
	    cmocka_unit_test(test_record),
	    cmocka_unit_test(test_ack_barrier_ping_error),
	    cmocka_unit_test(test_bitmap),
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_peer_state),
	    cmocka_unit_test(test_resync_verify),
	    cmocka_unit_test(test_stream_and_data),
	    cmocka_unit_test(test_agree),
	};

	for (size_t i = 0; i < sizeof(uuids); i++)
		((uint8_t *)uuids)[i] = (uint8_t)(i * 31 + 7);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
