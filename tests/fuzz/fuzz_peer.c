// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_peer.c - libFuzzer target for the replication frame codec
 * (proto/peerproto.c): header checks, protobuf-c unpacking and every
 * message rule of wbp_msg_check, driven the way a link drives them: frames
 * are parsed one after another from the input; a valid hello is agreed
 * against a fixed local hello (wbp_agree) and its limits apply to the
 * frames that follow.
 *
 * Input: byte 0 bit 0 = start with a geometry already agreed (4 KiB blocks,
 * 1 MiB records, 1000-block device) instead of none; the rest is the byte
 * stream. Checked invariants (__builtin_trap on violation):
 *   - a frame consumes more than a header and no more than the input;
 *   - its data length is within the limits and the type may carry data;
 *   - a record's extents lie inside the device without overflow and add up
 *     to its data length (0 for zero records);
 *   - a verify request's range lies inside the device; a verify reply has
 *     one crc per block, or an error code and none; with data set, no crcs
 *     and nblocks blocks of data (none with an error code);
 *   - a bitmap chunk lies inside its bitmap and carries ceil(nregions / 8)
 *     bytes; resync data carries nblocks blocks unless same or code; a
 *     resync request / data range lies inside the device;
 *   - a size reply's sizes are whole blocks, max_size not below size, its
 *     code a positive errno;
 *   - an agreed geometry is no larger than either side's;
 *   - every accepted message packs again (wbp_pack accepts it) and the
 *     packed frame parses again to the same type and data length.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peerproto.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const Wbrep__RecordHeader *r, uint32_t dlen, const struct wbp_limits *l)
{
	uint64_t blocks = 0;

	CHECK(r->seq && r->gen);
	CHECK(r->n_extents >= 1 && r->n_extents <= WBP_MAX_EXTENTS);
	for (size_t i = 0; i < r->n_extents; i++) {
		const Wbrep__Extent *x = r->extents[i];

		CHECK(x->nblocks && x->lba + x->nblocks > x->lba);
		CHECK(!l->dev_blocks || x->lba + x->nblocks <= l->dev_blocks);
		blocks += x->nblocks;
	}
	if (r->has_flags && (r->flags & WBP_REC_F_ZERO))
		CHECK(dlen == 0);
	else
		CHECK(blocks * l->block_size == dlen);
}

static void repack(const struct wbp_msg *m, const struct wbp_limits *l)
{
	uint8_t *buf, *full;
	size_t len;
	const char *why;
	const uint8_t *d;
	struct wbp_msg m2;

	CHECK(wbp_pack(m->type, m->base, m->data_len, l, &buf, &len, &why) == 0);
	full = calloc(1, len + m->data_len);
	CHECK(full);
	memcpy(full, buf, len);
	CHECK(wbp_parse(full, len + m->data_len, l, &m2, &d, &why) == (ssize_t)(len + m->data_len));
	CHECK(m2.type == m->type && m2.data_len == m->data_len);
	wbp_msg_free(&m2);
	free(full);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Wbrep__Hello mine = WBREP__HELLO__INIT;
	struct wbp_limits lim;
	size_t off = 1;

	if (size < 1)
		return 0;
	mine.version = WBP_PROTO_VERSION;
	mine.node = "local";
	mine.resource = "r0";
	mine.has_role = mine.has_block_size = mine.has_max_record_bytes = mine.has_size = 1;
	mine.role = WBREP__ROLE__ROLE_SECONDARY;
	mine.block_size = WBP_BLOCK_SIZE;
	mine.max_record_bytes = 1u << 20;
	mine.size = 1000 * 4096;
	wbp_limits_init(&lim);
	if (data[0] & 1) {
		lim.block_size = WBP_BLOCK_SIZE;
		lim.max_data = 1u << 20;
		lim.dev_blocks = 1000;
	}
	while (off < size) {
		struct wbp_msg m;
		const uint8_t *d;
		const char *why;
		ssize_t n = wbp_parse(data + off, size - off, &lim, &m, &d, &why);

		if (n <= 0)
			break;
		CHECK((size_t)n >= WBP_HDR_SIZE && (size_t)n <= size - off);
		CHECK(m.data_len <= lim.max_data);
		CHECK(d + m.data_len == data + off + n);
		if (m.data_len)
			CHECK(m.type == WBP_T_RECORD || m.type == WBP_T_BITMAP ||
			      m.type == WBP_T_RESYNC_DATA || m.type == WBP_T_VERIFY_REPLY);
		if (m.type == WBP_T_RECORD)
			check_record(m.rec, m.data_len, &lim);
		if (m.type == WBP_T_VERIFY_REQ)
			CHECK(m.vreq->nblocks && m.vreq->lba + m.vreq->nblocks > m.vreq->lba &&
			      m.vreq->lba + m.vreq->nblocks <= lim.dev_blocks);
		if (m.type == WBP_T_VERIFY_REPLY && m.vrep->has_data && m.vrep->data)
			CHECK(m.vrep->n_crcs == 0 &&
			      m.data_len == (m.vrep->has_code && m.vrep->code
						 ? 0
						 : (uint64_t)m.vrep->nblocks * lim.block_size));
		else if (m.type == WBP_T_VERIFY_REPLY)
			CHECK(m.data_len == 0 && (m.vrep->has_code && m.vrep->code
						      ? m.vrep->n_crcs == 0
						      : m.vrep->n_crcs == m.vrep->nblocks));
		if (m.type == WBP_T_SIZE_REPLY)
			CHECK((!m.szr->has_code || (m.szr->code >= 0 && m.szr->code < 4096)) &&
			      !(m.szr->size % lim.block_size) &&
			      !(m.szr->max_size % lim.block_size) &&
			      (!m.szr->has_size || !m.szr->has_max_size ||
			       m.szr->max_size >= m.szr->size));
		if (m.type == WBP_T_BITMAP)
			CHECK(m.bitmap->nregions &&
			      m.bitmap->first_region <= m.bitmap->total_regions &&
			      m.bitmap->nregions <=
				  m.bitmap->total_regions - m.bitmap->first_region &&
			      m.data_len == (m.bitmap->nregions + 7) / 8);
		if (m.type == WBP_T_RESYNC_DATA) {
			CHECK(m.rsdata->nblocks && m.rsdata->lba < lim.dev_blocks &&
			      m.rsdata->nblocks <= lim.dev_blocks - m.rsdata->lba);
			CHECK(m.data_len == ((m.rsdata->has_same && m.rsdata->same) ||
						     (m.rsdata->has_code && m.rsdata->code)
						 ? 0
						 : (uint64_t)m.rsdata->nblocks * lim.block_size));
		}
		if (m.type == WBP_T_RESYNC_REQ)
			CHECK(m.rsreq->nblocks && m.rsreq->lba < lim.dev_blocks &&
			      m.rsreq->nblocks <= lim.dev_blocks - m.rsreq->lba);
		repack(&m, &lim);
		if (m.type == WBP_T_HELLO) {
			struct wbp_limits agreed;

			if (wbp_agree(&mine, m.hello, &agreed, &why) == 0) {
				CHECK(agreed.block_size == WBP_BLOCK_SIZE);
				CHECK(agreed.max_data <= mine.max_record_bytes &&
				      agreed.max_data <= m.hello->max_record_bytes);
				CHECK(agreed.dev_blocks * agreed.block_size <= mine.size &&
				      agreed.dev_blocks * agreed.block_size <= m.hello->size);
				lim = agreed;
			} else {
				CHECK(why && why[0]);
			}
		}
		wbp_msg_free(&m);
		off += (size_t)n;
	}
	return 0;
}
