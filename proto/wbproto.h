/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbproto.h - wire framing of wbrep (control socket and replication links),
 * public header of libwbproto.a. Messages are defined in proto/wbrep.proto;
 * protobuf-c code is generated into $(B)/gen/proto/wbrep.pb-c.h.
 *
 * A frame is
 *     le32 len    payload bytes that follow the 8-byte header
 *     le16 type   enum wbproto_type: which message the payload holds
 *     le16 flags  WBPROTO_F_*; unknown bits are rejected
 *     payload     protobuf (or raw bytes with WBPROTO_F_RAW)
 * Decoding is incremental: wbproto_next() looks at a byte buffer that may
 * hold a partial frame or several frames and consumes at most one. Garbage
 * (oversize length, unknown type or flags, undecodable payload) is rejected
 * with a distinct negative errno (see below) so the caller can reply or drop
 * the connection. Described in docs/control-protocol.md.
 *
 * Ownership: a decoded frame's msg is malloc'd by protobuf-c and freed with
 * wbproto_frame_free(); payload points into the caller's buffer.
 */
#ifndef WB_PROTO_H
#define WB_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/wbrep.pb-c.h"

#define WBPROTO_HDR_SIZE     8
#define WBPROTO_MAX_PAYLOAD  (16u << 20) /* absolute limit of any frame */
#define WBPROTO_CTL_MAX	     (1u << 20)	 /* limit on the control socket */
#define WBPROTO_CTL_VERSION  1		 /* CtlRequest.version */
#define WBPROTO_PEER_VERSION 1		 /* Hello.version */

enum wbproto_type {
	WBPROTO_T_CTL_REQUEST = 1,  /* Wbrep__CtlRequest */
	WBPROTO_T_CTL_RESPONSE = 2, /* Wbrep__CtlResponse */
	WBPROTO_T_CTL_EVENT = 3,    /* Wbrep__CtlEvent */
	/* 4..15 reserved for control */
	/* 16..21: kept for compatibility of this table only; replication
	 * links use the peer framing of proto/peerproto.h instead */
	WBPROTO_T_HELLO = 16,	    /* Wbrep__Hello */
	WBPROTO_T_RECORD = 17,	    /* Wbrep__RecordHeader */
	WBPROTO_T_RECORD_DATA = 18, /* raw bytes (WBPROTO_F_RAW) */
	WBPROTO_T_ACK = 19,	    /* Wbrep__Ack */
	WBPROTO_T_PING = 20,	    /* Wbrep__Ping */
	WBPROTO_T_PONG = 21,	    /* Wbrep__Ping; 22..63 reserved for peers */
};

#define WBPROTO_F_RAW	(1u << 0) /* payload is raw bytes, not protobuf */
#define WBPROTO_F_LAST	(1u << 1) /* last data frame of a record */
#define WBPROTO_F_KNOWN (WBPROTO_F_RAW | WBPROTO_F_LAST)

struct wbproto_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
};

struct wbproto_frame {
	struct wbproto_hdr hdr;
	const uint8_t *payload; /* into the decoded buffer, hdr.len bytes */
	ProtobufCMessage *msg;	/* unpacked message, NULL for raw frames */
};

/* Message descriptor of a frame type; NULL for unknown or raw types. */
const ProtobufCMessageDescriptor *wbproto_type_desc(uint16_t type);
/* Name of a frame type for messages ("ctl-request"), "unknown" if none. */
const char *wbproto_type_name(uint16_t type);

void wbproto_hdr_encode(uint8_t out[WBPROTO_HDR_SIZE], const struct wbproto_hdr *h);
/*
 * Check the header at buf (len bytes available). Returns 0 and *h when a
 * full header is there and is valid; -EAGAIN: fewer than 8 bytes;
 * -EMSGSIZE: len > max_payload; -EPROTO: unknown type, or flags unknown or
 * inconsistent with the type (raw flag on a protobuf type and vice versa).
 */
int wbproto_hdr_decode(const uint8_t *buf, size_t len, size_t max_payload, struct wbproto_hdr *h);

/*
 * Decode the next frame at buf. Returns the number of bytes it occupies
 * (> 0) with *f filled in (free with wbproto_frame_free), 0 when the buffer
 * holds only part of a frame (call again with more bytes), or a header
 * error above, or -EBADMSG: payload is not a valid message of that type.
 * max_payload: at most WBPROTO_MAX_PAYLOAD (larger values are clamped).
 */
ssize_t wbproto_next(const uint8_t *buf, size_t len, size_t max_payload, struct wbproto_frame *f);
void wbproto_frame_free(struct wbproto_frame *f);
/* 1 if an unpacked message (and every nested one) has only field numbers
 * that protobuf allows in its unknown fields (see wbproto.c), else 0. Used
 * by wbproto_next and by the peer framing (proto/peerproto.h). */
int wbproto_msg_sane(const ProtobufCMessage *m);

/* Pack msg (NULL for an empty payload) as a frame of `type` into a malloc'd
 * buffer (*out, *outlen; caller frees). -EINVAL if msg does not match type,
 * -EMSGSIZE if too big, -ENOMEM. */
int wbproto_pack(uint16_t type, uint16_t flags, const ProtobufCMessage *msg, uint8_t **out,
		 size_t *outlen);

/*
 * Stream decoder for blocking readers (wbctl, tests): feed bytes, take
 * frames out. Ownership: the decoder owns its buffer (wbproto_dec_free).
 */
struct wbproto_dec {
	uint8_t *buf;
	size_t len, cap;
	size_t skip; /* bytes of the frame last returned, dropped on the next call */
	size_t max_payload;
};
void wbproto_dec_init(struct wbproto_dec *d, size_t max_payload);
int wbproto_dec_feed(struct wbproto_dec *d, const void *data, size_t n);
/* 1 = *f holds a frame (free it before the next call: its payload points
 * into the decoder), 0 = need more bytes, < 0 = error (as wbproto_next). */
int wbproto_dec_next(struct wbproto_dec *d, struct wbproto_frame *f);
void wbproto_dec_free(struct wbproto_dec *d);

/*
 * Validate a decoded control request without any daemon state: protocol
 * version, known op, resource present when the op needs one, resource name
 * well formed (1..63 chars of [A-Za-z0-9_.-], not starting with '_.-'),
 * mode "writeback"|"writethrough" for CTL_MODE. Returns 0, or -errno with
 * *why set to a message for the user (static string):
 * -EPROTONOSUPPORT (version), -EOPNOTSUPP (op), -EINVAL (arguments).
 */
int wbproto_ctl_check(const Wbrep__CtlRequest *rq, const char **why);
/* 1 if s is a valid resource name for the control protocol, else 0. */
int wbproto_res_name_ok(const char *s);

/* Short description of an error code from the functions above. */
const char *wbproto_strerror(int err);

#endif /* WB_PROTO_H */
