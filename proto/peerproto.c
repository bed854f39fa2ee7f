// SPDX-License-Identifier: GPL-2.0-only
/*
 * peerproto.c - frames of the replication protocol (proto/peerproto.h,
 * docs/wire-protocol.md). Owns the peer frame-type table, the header codec
 * with its crc32c, the per-message validation rules that sender and
 * receiver share (wbp_msg_check), and the geometry agreement after the
 * hellos. Holds no state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/byteorder.h"
#include "proto/peerproto.h"
#include "proto/wbproto.h"

struct wbp_type_ent {
	const char *name;
	const ProtobufCMessageDescriptor *desc;
	bool data;	/* may carry raw data after the message */
	bool pre_hello; /* allowed before the geometry is agreed */
};

static const struct wbp_type_ent wbp_types[WBP_T_COUNT] = {
    [WBP_T_HELLO] = {"hello", &wbrep__hello__descriptor, false, true},
    [WBP_T_RECORD] = {"record", &wbrep__record_header__descriptor, true, false},
    [WBP_T_ACK] = {"ack", &wbrep__ack__descriptor, false, false},
    [WBP_T_BARRIER] = {"barrier", &wbrep__barrier__descriptor, false, false},
    [WBP_T_BITMAP] = {"bitmap", &wbrep__bitmap_chunk__descriptor, true, false},
    [WBP_T_RESYNC_REQ] = {"resync-request", &wbrep__resync_request__descriptor, false, false},
    [WBP_T_RESYNC_DATA] = {"resync-data", &wbrep__resync_data__descriptor, true, false},
    [WBP_T_VERIFY_REQ] = {"verify-request", &wbrep__verify_request__descriptor, false, false},
    [WBP_T_VERIFY_REPLY] = {"verify-reply", &wbrep__verify_reply__descriptor, true, false},
    [WBP_T_PING] = {"ping", &wbrep__ping__descriptor, false, true},
    [WBP_T_PONG] = {"pong", &wbrep__ping__descriptor, false, true},
    [WBP_T_ERROR] = {"error", &wbrep__peer_error__descriptor, false, true},
    [WBP_T_RESYNC_DONE] = {"resync-done", &wbrep__resync_done__descriptor, false, false},
    [WBP_T_SIZE_QUERY] = {"size-query", &wbrep__size_query__descriptor, false, false},
    [WBP_T_SIZE_REPLY] = {"size-reply", &wbrep__size_reply__descriptor, false, false},
    [WBP_T_PEER_STATE] = {"peer-state", &wbrep__peer_state__descriptor, false, false},
};

static const struct wbp_type_ent *wbp_type(unsigned type)
{
	if (type >= WBP_T_COUNT || !wbp_types[type].desc)
		return NULL;
	return &wbp_types[type];
}

const char *wbp_type_name(unsigned type)
{
	const struct wbp_type_ent *t = wbp_type(type);

	return t ? t->name : "unknown";
}

const ProtobufCMessageDescriptor *wbp_type_desc(unsigned type)
{
	const struct wbp_type_ent *t = wbp_type(type);

	return t ? t->desc : NULL;
}

void wbp_limits_init(struct wbp_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
}

uint32_t wbp_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = ~0u;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

int wbp_ack_rank(int level)
{
	switch (level) {
	case WBREP__ACK_LEVEL__ACK_RECEIVED:
		return 1;
	case WBREP__ACK_LEVEL__ACK_IN_MEMORY:
		return 2;
	case WBREP__ACK_LEVEL__ACK_WRITTEN:
		return 3;
	case WBREP__ACK_LEVEL__ACK_DURABLE:
		return 4;
	default:
		return 0;
	}
}

void wbp_ack_positions(const Wbrep__Ack *a, uint64_t *mem, uint64_t *wr, uint64_t *dur)
{
	int rank = wbp_ack_rank(a->level);

	*dur = a->level == WBREP__ACK_LEVEL__ACK_DURABLE ? a->seq + 1
	       : a->has_durable_seq			 ? a->durable_seq + 1
							 : 0;
	*wr = rank >= wbp_ack_rank(WBREP__ACK_LEVEL__ACK_WRITTEN) ? a->seq + 1 : 0;
	if (*dur > *wr)
		*wr = *dur; /* durable is written too */
	*mem = rank >= wbp_ack_rank(WBREP__ACK_LEVEL__ACK_IN_MEMORY) ? a->seq + 1 : 0;
}

void wbp_hdr_encode(uint8_t out[WBP_HDR_SIZE], const struct wbp_hdr *h)
{
	wb_store_le32(out, WBP_MAGIC);
	out[4] = h->version;
	out[5] = h->type;
	wb_store_le16(out + 6, h->flags);
	wb_store_le32(out + 8, h->msg_len);
	wb_store_le32(out + 12, h->data_len);
	wb_store_le32(out + 16, wbp_crc32c(out, 16));
}

int wbp_hdr_decode(const uint8_t in[WBP_HDR_SIZE], const struct wbp_limits *lim, struct wbp_hdr *h)
{
	const struct wbp_type_ent *t;

	if (wb_load_le32(in) != WBP_MAGIC || wb_load_le32(in + 16) != wbp_crc32c(in, 16))
		return -EBADMSG;
	h->version = in[4];
	h->type = in[5];
	h->flags = wb_load_le16(in + 6);
	h->msg_len = wb_load_le32(in + 8);
	h->data_len = wb_load_le32(in + 12);
	if (h->version != WBP_FRAME_VERSION)
		return -EPROTONOSUPPORT;
	t = wbp_type(h->type);
	if (!t || h->flags)
		return -EPROTO;
	if (!lim->block_size && !t->pre_hello)
		return -EPROTO;
	if (h->data_len && !t->data)
		return -EPROTO;
	if (h->msg_len > WBP_MSG_MAX || h->data_len > lim->max_data)
		return -EMSGSIZE;
	return 0;
}

#define WHY(s)                                                                                     \
	do {                                                                                       \
		*why = (s);                                                                        \
		return -EINVAL;                                                                    \
	} while (0)

static bool printable(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n >= max || (unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* [lba, lba + nblocks): non-empty, no overflow, inside the device, at most
 * one data payload long. */
static int range_check(uint64_t lba, uint32_t nblocks, const struct wbp_limits *lim,
		       const char **why)
{
	if (!nblocks)
		WHY("empty block range");
	if (lba > UINT64_MAX - nblocks)
		WHY("block range overflows");
	if (lim->dev_blocks && lba + nblocks > lim->dev_blocks)
		WHY("block range ends past the device");
	if ((uint64_t)nblocks * lim->block_size > lim->max_data)
		WHY("block range longer than the agreed maximum record size");
	return 0;
}

static int hello_check(const Wbrep__Hello *m, const char **why)
{
	if (m->version < WBP_PROTO_MIN) {
		*why = "peer protocol version too old";
		return -EPROTONOSUPPORT;
	}
	if (!wbproto_res_name_ok(m->node))
		WHY("hello: invalid node name");
	if (!wbproto_res_name_ok(m->resource))
		WHY("hello: invalid resource name");
	if (m->cluster && !wbproto_res_name_ok(m->cluster))
		WHY("hello: invalid cluster name");
	if (m->has_node_id && (m->node_id < 1 || m->node_id > 255))
		WHY("hello: node id out of range 1..255");
	if (m->has_data_uuid && m->data_uuid.len != WBP_UUID_LEN)
		WHY("hello: data uuid is not 16 bytes");
	if (m->n_uuid_history > WBP_UUID_HISTORY)
		WHY("hello: more than 32 uuids in the history");
	for (size_t i = 0; i < m->n_uuid_history; i++)
		if (m->uuid_history[i].len != WBP_UUID_LEN)
			WHY("hello: history uuid is not 16 bytes");
	if (!m->has_role ||
	    (m->role != WBREP__ROLE__ROLE_NONE && m->role != WBREP__ROLE__ROLE_SECONDARY &&
	     m->role != WBREP__ROLE__ROLE_PRIMARY))
		WHY("hello: missing or unknown role");
	if (!m->has_block_size || m->block_size != WBP_BLOCK_SIZE)
		WHY("hello: block size missing or not 4096");
	if (!m->has_max_record_bytes || m->max_record_bytes < m->block_size ||
	    m->max_record_bytes % m->block_size || m->max_record_bytes > WBP_DATA_LIMIT)
		WHY("hello: max record bytes missing, not a multiple of the block size or over 16 "
		    "MiB");
	if (!m->has_size || !m->size || m->size % m->block_size)
		WHY("hello: size missing, zero or not a multiple of the block size");
	if (m->has_seq_tail && m->has_seq_head && m->seq_head < UINT64_MAX &&
	    m->seq_tail > m->seq_head + 1)
		WHY("hello: seq tail past seq head");
	if (m->has_gen_tail && m->has_gen_head && m->gen_tail > m->gen_head)
		WHY("hello: generation tail past generation head");
	if (m->has_data_head && (!m->has_seq_head || m->data_head > m->seq_head))
		WHY("hello: data head past seq head");
	if (m->has_seq_durable && (!m->has_seq_head || m->seq_durable > m->seq_head))
		WHY("hello: durable head past seq head");
	if (m->has_after_sb_1pri && m->after_sb_1pri > WBP_ASB_MAX)
		WHY("hello: unknown after-sb-1pri policy");
	if (m->has_after_sb_0pri && m->after_sb_0pri > WBP_ASB0_MAX)
		WHY("hello: unknown after-sb-0pri policy");
	return 0;
}

static int record_check(const Wbrep__RecordHeader *m, uint32_t data_len,
			const struct wbp_limits *lim, const char **why)
{
	uint64_t blocks = 0, want;

	if (!m->seq || !m->gen)
		WHY("record: seq and generation start at 1");
	if (m->has_flags && (m->flags & ~WBP_REC_F_KNOWN))
		WHY("record: unknown flags");
	/* no extents: only the empty record that ends a generation (a flush
	 * after the generation's last record was placed, docs/engine.md) */
	if (!m->n_extents && !(m->has_flags && (m->flags & WBP_REC_F_GEN_END)))
		WHY("record: extent count not in 1..248 (0 only with GEN_END)");
	if (m->n_extents > WBP_MAX_EXTENTS)
		WHY("record: extent count not in 1..248");
	for (size_t i = 0; i < m->n_extents; i++) {
		const Wbrep__Extent *x = m->extents[i];

		if (!x->nblocks)
			WHY("record: empty extent");
		if (x->lba > UINT64_MAX - x->nblocks)
			WHY("record: extent overflows");
		if (lim->dev_blocks && x->lba + x->nblocks > lim->dev_blocks)
			WHY("record: extent ends past the device");
		if (m->has_flags && (m->flags & WBP_REC_F_ZERO) && x->has_crc && x->crc)
			WHY("record: zero extent with a data crc");
		blocks += x->nblocks; /* <= 248 * (2^32 - 1): no overflow */
	}
	want = (m->has_flags && (m->flags & WBP_REC_F_ZERO)) ? 0 : blocks * lim->block_size;
	if (want != data_len)
		WHY("record: extents do not add up to the data length");
	if (m->has_data_len && m->data_len != data_len)
		WHY("record: data_len differs from the frame's data length");
	if (data_len > lim->max_data)
		WHY("record: data longer than the agreed maximum record size");
	return 0;
}

static int bitmap_check(const Wbrep__BitmapChunk *m, uint32_t data_len,
			const struct wbp_limits *lim, const char **why)
{
	uint64_t total;

	if (m->region_bytes < lim->block_size || m->region_bytes > WBP_REGION_MAX ||
	    (m->region_bytes & (m->region_bytes - 1)))
		WHY("bitmap: region size not a power of 2 in block size..1 GiB");
	if (!m->nregions || m->first_region > m->total_regions ||
	    m->nregions > m->total_regions - m->first_region)
		WHY("bitmap: chunk outside the bitmap");
	if (lim->dev_blocks) {
		uint64_t per = m->region_bytes / lim->block_size;

		total = lim->dev_blocks / per + !!(lim->dev_blocks % per);
		if (m->total_regions != total)
			WHY("bitmap: region count does not match the device size");
	}
	if (data_len != m->nregions / 8 + !!(m->nregions % 8))
		WHY("bitmap: data length is not ceil(nregions / 8)");
	if (m->has_rebase_gen && !m->rebase_gen)
		WHY("bitmap: rebase generation 0");
	if (m->has_fork_seq && (!m->fork_seq || !m->has_rebase_gen || (m->has_full && m->full) ||
				(m->has_seq && m->fork_seq > m->seq)))
		WHY("bitmap: fork seq 0, past the bitmap's seq, or without a rebase");
	return 0;
}

static int ack_check(const Wbrep__Ack *m, const char **why)
{
	if (!wbp_ack_rank(m->level))
		WHY("ack: unknown level");
	if (m->has_code && (m->code < 0 || m->code > 4095))
		WHY("ack: code is not an errno value");
	if (m->has_durable_seq && m->durable_seq > m->seq)
		WHY("ack: durable_seq past seq");
	return 0;
}

static int resync_data_check(const Wbrep__ResyncData *m, uint32_t data_len,
			     const struct wbp_limits *lim, const char **why)
{
	int code = m->has_code ? m->code : 0;
	bool same = m->has_same && m->same;
	int rc;

	rc = range_check(m->lba, m->nblocks, lim, why);
	if (rc)
		return rc;
	if (code < 0 || code > 4095)
		WHY("resync data: code is not an errno value");
	if (same && code)
		WHY("resync data: both 'same' and an error code");
	if (data_len != ((same || code) ? 0 : (uint64_t)m->nblocks * lim->block_size))
		WHY("resync data: data length does not match the block range");
	return 0;
}

static int resync_done_check(const Wbrep__ResyncDone *m, const char **why)
{
	/* a device holds at most 2^64 bytes, 2^52 blocks */
	if (m->regions >> 52 || (m->has_bytes && m->bytes >> 62) || (m->has_same && m->same >> 62))
		WHY("resync done: counts larger than any device");
	return 0;
}

static int verify_reply_check(const Wbrep__VerifyReply *m, uint32_t data_len,
			      const struct wbp_limits *lim, const char **why)
{
	bool data = m->has_data && m->data;
	bool code = m->has_code && m->code;
	int rc;

	rc = range_check(m->lba, m->nblocks, lim, why);
	if (rc)
		return rc;
	if (m->has_code && (m->code < 0 || m->code > 4095))
		WHY("verify reply: code is not an errno value");
	if (m->has_as_of && (!data || code || !m->as_of))
		WHY("verify reply: as_of without blocks");
	if (data) {
		if (m->n_crcs)
			WHY("verify reply: both blocks and crcs");
		if (data_len != (code ? 0 : (uint64_t)m->nblocks * lim->block_size))
			WHY("verify reply: data length does not match the block range");
		return 0;
	}
	if (data_len)
		WHY("verify reply: data without the data flag");
	if (code ? m->n_crcs != 0 : m->n_crcs != m->nblocks)
		WHY("verify reply: not one crc per block (or crcs with an error code)");
	return 0;
}

static int error_check(const Wbrep__PeerError *m, const char **why)
{
	if (m->code <= 0 || m->code > 4095)
		WHY("error: code is not an errno value");
	if (m->text && !printable(m->text, WBP_TEXT_MAX))
		WHY("error: text not printable ASCII or longer than 1024 bytes");
	return 0;
}

int wbp_msg_check(unsigned type, const ProtobufCMessage *msg, uint32_t data_len,
		  const struct wbp_limits *lim, const char **why)
{
	const struct wbp_type_ent *t = wbp_type(type);

	*why = NULL;
	if (!t || !msg || msg->descriptor != t->desc)
		WHY("message does not match the frame type");
	if (!lim->block_size && !t->pre_hello)
		WHY("frame type not allowed before the hello");
	if (data_len && !t->data)
		WHY("frame type carries no data");
	if (data_len > lim->max_data)
		WHY("data longer than the agreed maximum record size");
	switch (type) {
	case WBP_T_HELLO:
		return hello_check((const Wbrep__Hello *)msg, why);
	case WBP_T_RECORD:
		return record_check((const Wbrep__RecordHeader *)msg, data_len, lim, why);
	case WBP_T_ACK:
		return ack_check((const Wbrep__Ack *)msg, why);
	case WBP_T_BITMAP:
		return bitmap_check((const Wbrep__BitmapChunk *)msg, data_len, lim, why);
	case WBP_T_RESYNC_REQ: {
		const Wbrep__ResyncRequest *m = (const Wbrep__ResyncRequest *)msg;

		if (m->has_durable_below && m->durable_below > lim->dev_blocks)
			WHY("resync request: durable_below past the device");
		return range_check(m->lba, m->nblocks, lim, why);
	}
	case WBP_T_RESYNC_DATA:
		return resync_data_check((const Wbrep__ResyncData *)msg, data_len, lim, why);
	case WBP_T_RESYNC_DONE:
		return resync_done_check((const Wbrep__ResyncDone *)msg, why);
	case WBP_T_VERIFY_REQ: {
		const Wbrep__VerifyRequest *m = (const Wbrep__VerifyRequest *)msg;

		return range_check(m->lba, m->nblocks, lim, why);
	}
	case WBP_T_VERIFY_REPLY:
		return verify_reply_check((const Wbrep__VerifyReply *)msg, data_len, lim, why);
	case WBP_T_ERROR:
		return error_check((const Wbrep__PeerError *)msg, why);
	case WBP_T_SIZE_REPLY: {
		const Wbrep__SizeReply *m = (const Wbrep__SizeReply *)msg;

		if (m->has_code && (m->code < 0 || m->code > 4095)) {
			*why = "size reply: code out of range";
			return -EINVAL;
		}
		if ((m->has_size && m->size % lim->block_size) ||
		    (m->has_max_size && m->max_size % lim->block_size)) {
			*why = "size reply: a size that is not a whole number of blocks";
			return -EINVAL;
		}
		if (m->has_size && m->has_max_size && m->max_size < m->size) {
			*why = "size reply: max_size below size";
			return -EINVAL;
		}
		return 0;
	}
	default: /* barrier, ping, pong, size query, peer state: any values */
		return 0;
	}
}

int wbp_msg_decode(const struct wbp_hdr *h, const uint8_t *buf, const struct wbp_limits *lim,
		   struct wbp_msg *out, const char **why)
{
	const ProtobufCMessageDescriptor *desc = wbp_type_desc(h->type);
	int rc;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (!desc)
		return -EPROTO;
	out->base = protobuf_c_message_unpack(desc, NULL, h->msg_len, buf);
	if (!out->base || !wbproto_msg_sane(out->base)) {
		*why = "undecodable message";
		rc = -EBADMSG;
		goto out_free;
	}
	rc = wbp_msg_check(h->type, out->base, h->data_len, lim, why);
	if (rc)
		goto out_free;
	out->type = h->type;
	out->data_len = h->data_len;
	return 0;
out_free:
	wbp_msg_free(out);
	return rc;
}

void wbp_msg_free(struct wbp_msg *m)
{
	if (m && m->base) {
		protobuf_c_message_free_unpacked(m->base, NULL);
		m->base = NULL;
	}
}

int wbp_pack(unsigned type, const ProtobufCMessage *msg, uint32_t data_len,
	     const struct wbp_limits *lim, uint8_t **out, size_t *outlen, const char **why)
{
	struct wbp_hdr h = {.version = WBP_FRAME_VERSION, .type = (uint8_t)type};
	size_t plen;
	uint8_t *buf;
	int rc;

	*out = NULL;
	*outlen = 0;
	rc = wbp_msg_check(type, msg, data_len, lim, why);
	if (rc)
		return rc;
	plen = protobuf_c_message_get_packed_size(msg);
	if (plen > WBP_MSG_MAX) {
		*why = "message over 64 KiB";
		return -EMSGSIZE;
	}
	buf = malloc(WBP_HDR_SIZE + plen);
	if (!buf)
		return -ENOMEM;
	h.msg_len = (uint32_t)plen;
	h.data_len = data_len;
	wbp_hdr_encode(buf, &h);
	protobuf_c_message_pack(msg, buf + WBP_HDR_SIZE);
	*out = buf;
	*outlen = WBP_HDR_SIZE + plen;
	return 0;
}

ssize_t wbp_parse(const uint8_t *buf, size_t len, const struct wbp_limits *lim, struct wbp_msg *out,
		  const uint8_t **data, const char **why)
{
	struct wbp_hdr h;
	size_t need;
	int rc;

	memset(out, 0, sizeof(*out));
	*data = NULL;
	*why = NULL;
	if (len < WBP_HDR_SIZE)
		return 0;
	rc = wbp_hdr_decode(buf, lim, &h);
	if (rc)
		return rc;
	need = (size_t)WBP_HDR_SIZE + h.msg_len + h.data_len; /* capped: no overflow */
	if (len < need)
		return 0;
	rc = wbp_msg_decode(&h, buf + WBP_HDR_SIZE, lim, out, why);
	if (rc)
		return rc;
	*data = buf + WBP_HDR_SIZE + h.msg_len;
	return (ssize_t)need;
}

int wbp_agree(const Wbrep__Hello *mine, const Wbrep__Hello *theirs, struct wbp_limits *lim,
	      const char **why)
{
	uint64_t size;

	*why = NULL;
	wbp_limits_init(lim);
	if ((mine->version < theirs->version ? mine->version : theirs->version) < WBP_PROTO_MIN) {
		*why = "no common protocol version";
		return -EPROTO;
	}
	if (mine->block_size != theirs->block_size) {
		*why = "block sizes differ";
		return -EPROTO;
	}
	if (mine->cluster && theirs->cluster && strcmp(mine->cluster, theirs->cluster)) {
		*why = "cluster names differ";
		return -EPROTO;
	}
	if (strcmp(mine->resource, theirs->resource)) {
		*why = "resource names differ";
		return -EPROTO;
	}
	if (!strcmp(mine->node, theirs->node)) {
		*why = "peer has this node's name";
		return -EPROTO;
	}
	size = mine->size < theirs->size ? mine->size : theirs->size;
	lim->block_size = mine->block_size;
	lim->max_data = mine->max_record_bytes < theirs->max_record_bytes
			    ? mine->max_record_bytes
			    : theirs->max_record_bytes;
	lim->dev_blocks = size / lim->block_size;
	return 0;
}

const char *wbp_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case -EBADMSG:
		return "bad magic, header crc or message encoding";
	case -EPROTONOSUPPORT:
		return "unsupported frame or protocol version";
	case -EPROTO:
		return "unknown or unexpected frame type, flags or data";
	case -EMSGSIZE:
		return "frame longer than allowed";
	case -EINVAL:
		return "invalid message";
	case -ENOMEM:
		return "out of memory";
	default:
		return "frame error";
	}
}
