// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbproto.c - frame encoding/decoding for wbrep wires (see proto/wbproto.h
 * and docs/control-protocol.md). Owns the frame-type table (type number ->
 * protobuf-c descriptor), header validation, the incremental decoder and
 * the stream buffer used by blocking readers.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/byteorder.h"
#include "proto/wbproto.h"

struct type_ent {
	uint16_t type;
	const char *name;
	const ProtobufCMessageDescriptor *desc; /* NULL: raw payload */
};

static const struct type_ent types[] = {
    {WBPROTO_T_CTL_REQUEST, "ctl-request", &wbrep__ctl_request__descriptor},
    {WBPROTO_T_CTL_RESPONSE, "ctl-response", &wbrep__ctl_response__descriptor},
    {WBPROTO_T_CTL_EVENT, "ctl-event", &wbrep__ctl_event__descriptor},
    {WBPROTO_T_HELLO, "hello", &wbrep__hello__descriptor},
    {WBPROTO_T_RECORD, "record", &wbrep__record_header__descriptor},
    {WBPROTO_T_RECORD_DATA, "record-data", NULL},
    {WBPROTO_T_ACK, "ack", &wbrep__ack__descriptor},
    {WBPROTO_T_PING, "ping", &wbrep__ping__descriptor},
    {WBPROTO_T_PONG, "pong", &wbrep__ping__descriptor},
};

static const struct type_ent *type_find(uint16_t type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return &types[i];
	return NULL;
}

const ProtobufCMessageDescriptor *wbproto_type_desc(uint16_t type)
{
	const struct type_ent *t = type_find(type);

	return t ? t->desc : NULL;
}

const char *wbproto_type_name(uint16_t type)
{
	const struct type_ent *t = type_find(type);

	return t ? t->name : "unknown";
}

void wbproto_hdr_encode(uint8_t out[WBPROTO_HDR_SIZE], const struct wbproto_hdr *h)
{
	wb_store_le32(out, h->len);
	wb_store_le16(out + 4, h->type);
	wb_store_le16(out + 6, h->flags);
}

int wbproto_hdr_decode(const uint8_t *buf, size_t len, size_t max_payload, struct wbproto_hdr *h)
{
	const struct type_ent *t;

	if (len < WBPROTO_HDR_SIZE)
		return -EAGAIN;
	if (max_payload > WBPROTO_MAX_PAYLOAD)
		max_payload = WBPROTO_MAX_PAYLOAD;
	h->len = wb_load_le32(buf);
	h->type = wb_load_le16(buf + 4);
	h->flags = wb_load_le16(buf + 6);
	if (h->len > max_payload)
		return -EMSGSIZE;
	t = type_find(h->type);
	if (!t || (h->flags & ~WBPROTO_F_KNOWN))
		return -EPROTO;
	/* raw flag exactly on the raw types */
	if (!!(h->flags & WBPROTO_F_RAW) != !t->desc)
		return -EPROTO;
	return 0;
}

#define WBPROTO_FIELD_MAX 536870911u /* 2^29 - 1, the largest protobuf field number */

/*
 * protobuf-c keeps unknown fields as they came, including field number 0
 * (invalid in protobuf; accepted when its tag is a non-canonical multi-byte
 * varint) and numbers above 2^29 - 1. Such a message cannot be packed again
 * and read back, so it is refused as undecodable (found by fuzz_ctl).
 * Nested messages are checked too; the depth is bounded by the schema.
 */
static bool msg_tags_ok(const ProtobufCMessage *m, unsigned depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (depth > 16)
		return false;
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0 || m->unknown_fields[i].tag > WBPROTO_FIELD_MAX)
			return false;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const char *base = (const char *)m + fd->offset;

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)base;

			for (size_t k = 0; k < n; k++)
				if (v[k] && !msg_tags_ok(v[k], depth + 1))
					return false;
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)base;

			if (sub && !msg_tags_ok(sub, depth + 1))
				return false;
		}
	}
	return true;
}

int wbproto_msg_sane(const ProtobufCMessage *m)
{
	return msg_tags_ok(m, 0);
}

ssize_t wbproto_next(const uint8_t *buf, size_t len, size_t max_payload, struct wbproto_frame *f)
{
	const ProtobufCMessageDescriptor *desc;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = wbproto_hdr_decode(buf, len, max_payload, &f->hdr);
	if (rc == -EAGAIN)
		return 0;
	if (rc)
		return rc;
	if (len - WBPROTO_HDR_SIZE < f->hdr.len)
		return 0;
	f->payload = buf + WBPROTO_HDR_SIZE;
	desc = wbproto_type_desc(f->hdr.type);
	if (desc) {
		/* protobuf-c checks required fields and lengths; NULL = invalid */
		f->msg = protobuf_c_message_unpack(desc, NULL, f->hdr.len, f->payload);
		if (!f->msg)
			return -EBADMSG;
		if (!msg_tags_ok(f->msg, 0)) {
			protobuf_c_message_free_unpacked(f->msg, NULL);
			f->msg = NULL;
			return -EBADMSG;
		}
	}
	return (ssize_t)(WBPROTO_HDR_SIZE + f->hdr.len);
}

void wbproto_frame_free(struct wbproto_frame *f)
{
	if (f && f->msg) {
		protobuf_c_message_free_unpacked(f->msg, NULL);
		f->msg = NULL;
	}
}

int wbproto_pack(uint16_t type, uint16_t flags, const ProtobufCMessage *msg, uint8_t **out,
		 size_t *outlen)
{
	const ProtobufCMessageDescriptor *desc = wbproto_type_desc(type);
	struct wbproto_hdr h = {.type = type, .flags = flags};
	size_t plen = 0;
	uint8_t *buf;

	*out = NULL;
	*outlen = 0;
	if (!type_find(type) || (flags & ~WBPROTO_F_KNOWN) || (msg && msg->descriptor != desc) ||
	    (!!(flags & WBPROTO_F_RAW) != !desc) || (desc && !msg))
		return -EINVAL;
	if (msg)
		plen = protobuf_c_message_get_packed_size(msg);
	if (plen > WBPROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	buf = malloc(WBPROTO_HDR_SIZE + plen);
	if (!buf)
		return -ENOMEM;
	h.len = (uint32_t)plen;
	wbproto_hdr_encode(buf, &h);
	if (msg)
		protobuf_c_message_pack(msg, buf + WBPROTO_HDR_SIZE);
	*out = buf;
	*outlen = WBPROTO_HDR_SIZE + plen;
	return 0;
}

void wbproto_dec_init(struct wbproto_dec *d, size_t max_payload)
{
	memset(d, 0, sizeof(*d));
	d->max_payload = max_payload;
}

static void dec_drop_skip(struct wbproto_dec *d)
{
	if (!d->skip)
		return;
	memmove(d->buf, d->buf + d->skip, d->len - d->skip);
	d->len -= d->skip;
	d->skip = 0;
}

int wbproto_dec_feed(struct wbproto_dec *d, const void *data, size_t n)
{
	dec_drop_skip(d);
	if (d->len + n > d->cap) {
		size_t nc = d->cap ? d->cap : 4096;
		uint8_t *nb;

		while (nc < d->len + n)
			nc *= 2;
		nb = realloc(d->buf, nc);
		if (!nb)
			return -ENOMEM;
		d->buf = nb;
		d->cap = nc;
	}
	memcpy(d->buf + d->len, data, n);
	d->len += n;
	return 0;
}

int wbproto_dec_next(struct wbproto_dec *d, struct wbproto_frame *f)
{
	ssize_t n;

	dec_drop_skip(d);
	n = wbproto_next(d->buf, d->len, d->max_payload, f);
	if (n <= 0)
		return (int)n;
	d->skip = (size_t)n;
	return 1;
}

void wbproto_dec_free(struct wbproto_dec *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

int wbproto_res_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || (i && (ch == '_' || ch == '-' || ch == '.'))))
			return 0;
	}
	return 1;
}

int wbproto_ctl_check(const Wbrep__CtlRequest *rq, const char **why)
{
	int need_res;

	*why = NULL;
	if (rq->version != WBPROTO_CTL_VERSION) {
		*why = "unsupported control protocol version";
		return -EPROTONOSUPPORT;
	}
	switch ((int)rq->op) {
	case WBREP__CTL_OP__CTL_STATUS:
	case WBREP__CTL_OP__CTL_RELOAD:
	case WBREP__CTL_OP__CTL_EVENTS:
		need_res = 0;
		break;
	case WBREP__CTL_OP__CTL_UP:
	case WBREP__CTL_OP__CTL_DOWN:
	case WBREP__CTL_OP__CTL_FLUSH:
	case WBREP__CTL_OP__CTL_MODE:
	case WBREP__CTL_OP__CTL_DRAIN:
	case WBREP__CTL_OP__CTL_PRIMARY:
	case WBREP__CTL_OP__CTL_SECONDARY:
	case WBREP__CTL_OP__CTL_CONNECT:
	case WBREP__CTL_OP__CTL_DISCONNECT:
	case WBREP__CTL_OP__CTL_VERIFY:
	case WBREP__CTL_OP__CTL_SNAPSHOT:
	case WBREP__CTL_OP__CTL_SNAPSHOT_DROP:
	case WBREP__CTL_OP__CTL_RESIZE:
	case WBREP__CTL_OP__CTL_FORGET_PEER:
	case WBREP__CTL_OP__CTL_PAUSE_SYNC:
	case WBREP__CTL_OP__CTL_RESUME_SYNC:
		need_res = 1;
		break;
	default:
		*why = "unknown operation";
		return -EOPNOTSUPP;
	}
	if (need_res && !rq->resource) {
		*why = "this operation needs a resource name";
		return -EINVAL;
	}
	if (rq->resource && !wbproto_res_name_ok(rq->resource)) {
		*why = "invalid resource name";
		return -EINVAL;
	}
	if (rq->op == WBREP__CTL_OP__CTL_MODE &&
	    (!rq->mode || (strcmp(rq->mode, "writeback") && strcmp(rq->mode, "writethrough") &&
			   strcmp(rq->mode, "config")))) {
		*why = "mode must be writeback, writethrough or config";
		return -EINVAL;
	}
	if (rq->has_force && rq->op != WBREP__CTL_OP__CTL_PRIMARY) {
		*why = "force is an argument of primary only";
		return -EINVAL;
	}
	if (rq->has_discard_my_data && rq->op != WBREP__CTL_OP__CTL_CONNECT) {
		*why = "discard_my_data is an argument of connect only";
		return -EINVAL;
	}
	if (rq->node && rq->op != WBREP__CTL_OP__CTL_FORGET_PEER) {
		*why = "node is an argument of forget_peer only";
		return -EINVAL;
	}
	if (rq->op == WBREP__CTL_OP__CTL_FORGET_PEER &&
	    (!rq->node || !wbproto_res_name_ok(rq->node))) {
		*why = "forget_peer needs a valid node name";
		return -EINVAL;
	}
	if ((rq->has_generation || rq->has_at_ms) && rq->op != WBREP__CTL_OP__CTL_SNAPSHOT &&
	    rq->op != WBREP__CTL_OP__CTL_SNAPSHOT_DROP) {
		*why = "generation and at_ms are arguments of the snapshot ops only";
		return -EINVAL;
	}
	if ((rq->has_size || rq->has_assume_clean || rq->has_assume_peer_space || rq->has_log) &&
	    rq->op != WBREP__CTL_OP__CTL_RESIZE) {
		*why = "size, assume_clean, assume_peer_space and log are arguments of resize only";
		return -EINVAL;
	}
	if (rq->has_log && rq->log &&
	    ((rq->has_assume_clean && rq->assume_clean) ||
	     (rq->has_assume_peer_space && rq->assume_peer_space))) {
		*why = "log grows this node's log: assume_clean and assume_peer_space are for the "
		       "device";
		return -EINVAL;
	}
	if (rq->has_size && rq->size % 4096) {
		*why = "the size must be a multiple of 4096 bytes";
		return -EINVAL;
	}
	if (rq->op == WBREP__CTL_OP__CTL_SNAPSHOT &&
	    !((rq->has_generation && rq->generation) ^ (rq->has_at_ms && rq->at_ms))) {
		*why = "snapshot needs a generation (> 0) or a time (at_ms > 0), not both";
		return -EINVAL;
	}
	if (rq->op == WBREP__CTL_OP__CTL_SNAPSHOT_DROP &&
	    (!rq->has_generation || !rq->generation || rq->has_at_ms)) {
		*why = "snapshot-drop needs a generation (> 0)";
		return -EINVAL;
	}
	return 0;
}

const char *wbproto_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case -EAGAIN:
		return "incomplete frame";
	case -EMSGSIZE:
		return "frame too large";
	case -EPROTO:
		return "unknown frame type or flags";
	case -EBADMSG:
		return "undecodable message payload";
	case -EINVAL:
		return "invalid arguments";
	case -ENOMEM:
		return "out of memory";
	default:
		return "frame error";
	}
}
