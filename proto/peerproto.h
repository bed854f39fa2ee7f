/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * peerproto.h - framing and validation of the replication (peer) protocol,
 * part of libwbproto.a. Messages are in proto/wbrep.proto; the protocol is
 * described in docs/wire-protocol.md.
 *
 * A peer frame is
 *     le32 magic     WBP_MAGIC ("WBP1")
 *     u8   version   WBP_FRAME_VERSION
 *     u8   type      enum wbp_type
 *     le16 flags     none defined yet: must be 0
 *     le32 msg_len   bytes of the protobuf message that follows the header
 *     le32 data_len  raw bytes that follow the message (records, resync
 *                    data, bitmap chunks only; 0 for every other type)
 *     le32 hdr_crc   crc32c of the 16 bytes above
 *     msg            protobuf message of `type`
 *     data           raw bytes, never copied into protobuf: a receiver
 *                    decodes header and message first and then reads the
 *                    data straight into a buffer it owns.
 *
 * Every frame is untrusted. wbp_hdr_decode() checks the header against
 * struct wbp_limits (before the hello: no geometry, only hello, ping, pong
 * and error are accepted; after it: data lengths capped by the agreed
 * maximum record size). wbp_msg_decode() unpacks the message and runs
 * wbp_msg_check(): required fields, enum ranges, counts, name syntax, extent
 * arithmetic without overflow, extents summing to the data length, ranges
 * inside the device. Senders call the same check (wbp_pack) so a node never
 * sends what a peer refuses.
 *
 * Errors (negative errno): -EBADMSG bad magic/crc or undecodable protobuf;
 * -EPROTONOSUPPORT unknown frame or protocol version; -EPROTO unknown type
 * or flags, a type not allowed yet, data on a type that has none;
 * -EMSGSIZE a length over its cap; -EINVAL a message that decodes but
 * breaks a rule (wbp_msg_check gives the reason).
 *
 * No dependency on the engine: WBP_REC_F_* mirror the engine's WB_REC_F_*
 * (the replication glue asserts that they are equal).
 *
 * Ownership: a struct wbp_msg holds a protobuf-c message malloc'd by
 * protobuf-c; wbp_msg_free() releases it. Data never belongs to it.
 */
#ifndef WB_PROTO_PEERPROTO_H
#define WB_PROTO_PEERPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/wbrep.pb-c.h"

#define WBP_MAGIC	   0x31504257u /* "WBP1" as little-endian bytes */
#define WBP_FRAME_VERSION  1
#define WBP_PROTO_VERSION  1 /* Hello.version spoken by this build */
#define WBP_PROTO_MIN	   1 /* oldest Hello.version accepted */
#define WBP_HDR_SIZE	   20
#define WBP_MSG_MAX	   (64u << 10) /* cap of any protobuf message */
#define WBP_DATA_LIMIT	   (16u << 20) /* cap of max_record_bytes in a hello */
#define WBP_BLOCK_SIZE	   4096u       /* the only block size of version 1 */
#define WBP_MAX_EXTENTS	   248	       /* = engine WB_REC_MAX_EXT */
#define WBP_UUID_LEN	   16
#define WBP_ASB_MAX	   2	      /* Hello.after_sb_1pri: 0..2 (= enum wbconf_after_sb) */
#define WBP_ASB0_MAX	   4	      /* Hello.after_sb_0pri: 0..4 (= enum wbconf_after_sb0) */
#define WBP_UUID_HISTORY   32	      /* cap of Hello.uuid_history */
#define WBP_TEXT_MAX	   1024	      /* cap of PeerError.text */
#define WBP_NAME_MAX	   63	      /* node / resource / cluster names */
#define WBP_REGION_MAX	   (1u << 30) /* cap of BitmapChunk.region_bytes */
#define WBP_REC_F_GEN_END  (1u << 0)  /* = WB_REC_F_GEN_END */
#define WBP_REC_F_ZERO	   (1u << 1)  /* = WB_REC_F_ZERO: no data follows */
#define WBP_REC_F_KNOWN	   (WBP_REC_F_GEN_END | WBP_REC_F_ZERO)
#define WBP_FRAME_MAX(lim) ((size_t)WBP_HDR_SIZE + WBP_MSG_MAX + (lim)->max_data)

enum wbp_type {
	WBP_T_HELLO = 1,	/* Wbrep__Hello */
	WBP_T_RECORD = 2,	/* Wbrep__RecordHeader + data */
	WBP_T_ACK = 3,		/* Wbrep__Ack */
	WBP_T_BARRIER = 4,	/* Wbrep__Barrier */
	WBP_T_BITMAP = 5,	/* Wbrep__BitmapChunk + data */
	WBP_T_RESYNC_REQ = 6,	/* Wbrep__ResyncRequest */
	WBP_T_RESYNC_DATA = 7,	/* Wbrep__ResyncData + data */
	WBP_T_VERIFY_REQ = 8,	/* Wbrep__VerifyRequest */
	WBP_T_VERIFY_REPLY = 9, /* Wbrep__VerifyReply */
	WBP_T_PING = 10,	/* Wbrep__Ping */
	WBP_T_PONG = 11,	/* Wbrep__Ping */
	WBP_T_ERROR = 12,	/* Wbrep__PeerError */
	WBP_T_RESYNC_DONE = 13, /* Wbrep__ResyncDone */
	WBP_T_SIZE_QUERY = 14,	/* Wbrep__SizeQuery (online grow) */
	WBP_T_SIZE_REPLY = 15,	/* Wbrep__SizeReply */
	WBP_T_PEER_STATE = 16,	/* Wbrep__PeerState (wbctl pause-sync) */
	WBP_T_COUNT		/* 17..255 reserved */
};

/* What a receiver accepts; from the agreed geometry after the hello. */
struct wbp_limits {
	uint32_t block_size; /* 0 = no hello yet: only hello/ping/pong/error */
	uint32_t max_data;   /* largest data payload (a record's data) */
	uint64_t dev_blocks; /* device size in blocks; ranges must end inside */
};

struct wbp_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t msg_len;
	uint32_t data_len;
};

struct wbp_msg {
	uint8_t type;
	uint32_t data_len; /* raw bytes after the message (not held here) */
	union {
		ProtobufCMessage *base;
		Wbrep__Hello *hello;
		Wbrep__RecordHeader *rec;
		Wbrep__Ack *ack;
		Wbrep__Barrier *barrier;
		Wbrep__BitmapChunk *bitmap;
		Wbrep__ResyncRequest *rsreq;
		Wbrep__ResyncData *rsdata;
		Wbrep__VerifyRequest *vreq;
		Wbrep__VerifyReply *vrep;
		Wbrep__Ping *ping;
		Wbrep__PeerError *error;
		Wbrep__ResyncDone *rsdone;
		Wbrep__SizeQuery *szq;
		Wbrep__SizeReply *szr;
		Wbrep__PeerState *pstate;
	};
};

/* Limits before the hello (no geometry). */
void wbp_limits_init(struct wbp_limits *lim);

const char *wbp_type_name(unsigned type); /* "record", "unknown" */
const ProtobufCMessageDescriptor *wbp_type_desc(unsigned type);
/* CRC-32C (Castagnoli; init ~0, final xor ~0), the same value as the
 * engine's wb_crc32c(0, ...). Bitwise: meant for headers, not data. */
uint32_t wbp_crc32c(const void *buf, size_t len);
/* Strength of an ack level: RECEIVED 1 < IN_MEMORY 2 < WRITTEN 3 <
 * DURABLE 4, else 0. */
int wbp_ack_rank(int level);
/* What an ack says a peer holds, as positions (seq + 1; 0 = nothing):
 * *dur every record below is durable in its log (a DURABLE ack's seq, or
 * the durable_seq a weaker ack carries), *wr every record below is at
 * least written to its log (a WRITTEN or DURABLE ack's seq, or *dur), *mem
 * every record below is at least in its memory (an IN_MEMORY ack's seq or
 * a stronger one's). */
void wbp_ack_positions(const Wbrep__Ack *a, uint64_t *mem, uint64_t *wr, uint64_t *dur);

void wbp_hdr_encode(uint8_t out[WBP_HDR_SIZE], const struct wbp_hdr *h);
/* Check a header (WBP_HDR_SIZE bytes). 0 and *h, or an error above. */
int wbp_hdr_decode(const uint8_t in[WBP_HDR_SIZE], const struct wbp_limits *lim, struct wbp_hdr *h);

/*
 * Rules of each message type given the frame's data length and the limits.
 * 0, or -EINVAL with *why (static string) naming the broken rule
 * (-EPROTONOSUPPORT for a hello whose version is below WBP_PROTO_MIN).
 */
int wbp_msg_check(unsigned type, const ProtobufCMessage *msg, uint32_t data_len,
		  const struct wbp_limits *lim, const char **why);

/* Unpack h->msg_len bytes at buf and check them. 0 and *out (free with
 * wbp_msg_free), -EBADMSG, or -EINVAL (*why set). */
int wbp_msg_decode(const struct wbp_hdr *h, const uint8_t *buf, const struct wbp_limits *lim,
		   struct wbp_msg *out, const char **why);
void wbp_msg_free(struct wbp_msg *m);

/*
 * Header + message of one frame into a malloc'd buffer (*out, *outlen;
 * caller frees); the data_len raw bytes are the caller's to send right
 * after it. msg is checked with wbp_msg_check first (-EINVAL, *why).
 */
int wbp_pack(unsigned type, const ProtobufCMessage *msg, uint32_t data_len,
	     const struct wbp_limits *lim, uint8_t **out, size_t *outlen, const char **why);

/*
 * One-shot parse of a whole frame in buf (tests, fuzzing, tools). Returns
 * the bytes it occupies (> 0) with *out and *data (points into buf,
 * out->data_len bytes), 0 if buf holds only part of it, or an error.
 */
ssize_t wbp_parse(const uint8_t *buf, size_t len, const struct wbp_limits *lim, struct wbp_msg *out,
		  const uint8_t **data, const char **why);

/*
 * Geometry and version both sides use after the hellos (each side's hello
 * already passed wbp_msg_check): same block size, max_data = the smaller
 * max_record_bytes, dev_blocks = the smaller size, cluster names equal when
 * both are set, different node names. 0 and *lim, or -EPROTO with *why.
 */
int wbp_agree(const Wbrep__Hello *mine, const Wbrep__Hello *theirs, struct wbp_limits *lim,
	      const char **why);

const char *wbp_strerror(int err);

#endif /* WB_PROTO_PEERPROTO_H */
