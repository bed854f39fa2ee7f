/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nbd_proto.h - NBD wire format (newstyle fixed handshake, simple replies):
 * constants and pure encode/parse functions. No I/O, no allocation, so the
 * whole parser is unit-tested and fuzzed (tests/unit/test_nbd_proto.c,
 * tests/fuzz/fuzz_nbd.c). The connection state machine using it is
 * daemon/nbd_opt.c (handshake) and daemon/nbd.c (transmission). Protocol
 * reference: docs/nbd.md and the upstream NBD protocol document
 * (doc/proto.md in the nbd project).
 *
 * All multi-byte fields on the wire are big-endian.
 */
#ifndef WB_DAEMON_NBD_PROTO_H
#define WB_DAEMON_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBDP_MAGIC		0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBDP_IHAVEOPT		0x49484156454f5054ull /* "IHAVEOPT" */
#define NBDP_REP_MAGIC		0x0003e889045565a9ull
#define NBDP_REQUEST_MAGIC	0x25609513u
#define NBDP_SIMPLE_REPLY_MAGIC 0x67446698u

/* handshake flags (server) and client flags */
#define NBDP_FLAG_FIXED_NEWSTYLE   (1u << 0)
#define NBDP_FLAG_NO_ZEROES	   (1u << 1)
#define NBDP_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBDP_FLAG_C_NO_ZEROES	   (1u << 1)

/* options */
#define NBDP_OPT_EXPORT_NAME	  1
#define NBDP_OPT_ABORT		  2
#define NBDP_OPT_LIST		  3
#define NBDP_OPT_STARTTLS	  5
#define NBDP_OPT_INFO		  6
#define NBDP_OPT_GO		  7
#define NBDP_OPT_STRUCTURED_REPLY 8

/* option reply types */
#define NBDP_REP_ACK	      1u
#define NBDP_REP_SERVER	      2u
#define NBDP_REP_INFO	      3u
#define NBDP_REP_FLAG_ERROR   (1u << 31)
#define NBDP_REP_ERR_UNSUP    (NBDP_REP_FLAG_ERROR | 1u)
#define NBDP_REP_ERR_POLICY   (NBDP_REP_FLAG_ERROR | 2u)
#define NBDP_REP_ERR_INVALID  (NBDP_REP_FLAG_ERROR | 3u)
#define NBDP_REP_ERR_PLATFORM (NBDP_REP_FLAG_ERROR | 4u)
#define NBDP_REP_ERR_TLS_REQD (NBDP_REP_FLAG_ERROR | 5u)
#define NBDP_REP_ERR_UNKNOWN  (NBDP_REP_FLAG_ERROR | 6u)
#define NBDP_REP_ERR_SHUTDOWN (NBDP_REP_FLAG_ERROR | 7u)
#define NBDP_REP_ERR_TOO_BIG  (NBDP_REP_FLAG_ERROR | 9u)

/* NBDP_REP_INFO types */
#define NBDP_INFO_EXPORT      0
#define NBDP_INFO_NAME	      1
#define NBDP_INFO_DESCRIPTION 2
#define NBDP_INFO_BLOCK_SIZE  3

/* transmission flags */
#define NBDP_FLAG_HAS_FLAGS	    (1u << 0)
#define NBDP_FLAG_READ_ONLY	    (1u << 1)
#define NBDP_FLAG_SEND_FLUSH	    (1u << 2)
#define NBDP_FLAG_SEND_FUA	    (1u << 3)
#define NBDP_FLAG_ROTATIONAL	    (1u << 4)
#define NBDP_FLAG_SEND_TRIM	    (1u << 5)
#define NBDP_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBDP_FLAG_CAN_MULTI_CONN    (1u << 8)

/* commands and command flags */
#define NBDP_CMD_READ	      0
#define NBDP_CMD_WRITE	      1
#define NBDP_CMD_DISC	      2
#define NBDP_CMD_FLUSH	      3
#define NBDP_CMD_TRIM	      4
#define NBDP_CMD_CACHE	      5
#define NBDP_CMD_WRITE_ZEROES 6
#define NBDP_CMD_FLAG_FUA     (1u << 0)
#define NBDP_CMD_FLAG_NO_HOLE (1u << 1)

/* error values in replies */
#define NBDP_EPERM     1
#define NBDP_EIO       5
#define NBDP_ENOMEM    12
#define NBDP_EINVAL    22
#define NBDP_ENOSPC    28
#define NBDP_EOVERFLOW 75
#define NBDP_ENOTSUP   95
#define NBDP_ESHUTDOWN 108

#define NBDP_GREETING_LEN	   18 /* NBDMAGIC, IHAVEOPT, 16-bit flags */
#define NBDP_OPT_HDR_LEN	   16 /* IHAVEOPT, option, length */
#define NBDP_OPT_REPLY_HDR_LEN	   20 /* magic, option, type, length */
#define NBDP_REQUEST_LEN	   28
#define NBDP_SIMPLE_REPLY_LEN	   16
#define NBDP_EXPORT_NAME_REPLY_LEN 134		/* size, flags, 124 zeroes */
#define NBDP_OPT_MAX_LEN	   (64u * 1024) /* longer option data: disconnect */
#define NBDP_NAME_MAX		   4096		/* spec limit on export names */
#define NBDP_INFO_REQ_MAX	   32		/* info requests we keep per INFO/GO */

/* Server greeting; returns NBDP_GREETING_LEN. */
size_t wbd_nbd_encode_greeting(uint8_t *out);
/* Client flags after the greeting. 0, or -EPROTO for unknown bits / no
 * FIXED_NEWSTYLE (the server then disconnects). */
int wbd_nbd_parse_client_flags(const uint8_t *in, uint32_t *flags);
/* Option header. 0, -EBADMSG for a bad magic, -EMSGSIZE when the length
 * exceeds NBDP_OPT_MAX_LEN (disconnect in both cases). */
int wbd_nbd_parse_opt_hdr(const uint8_t *in, uint32_t *opt, uint32_t *len);
/* Option reply header; returns NBDP_OPT_REPLY_HDR_LEN. */
size_t wbd_nbd_encode_opt_reply(uint8_t *out, uint32_t opt, uint32_t type, uint32_t len);

/* NBDP_OPT_INFO / NBDP_OPT_GO payload: u32 name length, name, u16 count,
 * count x u16 info type. name gets a NUL-terminated copy (namecap >
 * NBDP_NAME_MAX advisable). Info types beyond max are counted in *ninfo but
 * not stored. 0, or -EINVAL for a malformed payload (lengths that do not add
 * up, a NUL inside the name), -ENAMETOOLONG when the name does not fit. */
int wbd_nbd_parse_info_req(const uint8_t *in, uint32_t len, char *name, size_t namecap,
			   uint16_t *infos, unsigned max, unsigned *ninfo);
/* NBDP_OPT_EXPORT_NAME payload: the bare name. Same errors. */
int wbd_nbd_parse_export_name(const uint8_t *in, uint32_t len, char *name, size_t namecap);
/* A snapshot's export name "RES@GEN" (docs/snapshots.md): 1 with res (a
 * NUL-terminated copy of RES) and *gen (decimal, > 0, no sign, no
 * overflow) set; 0 when name is no snapshot's (no '@', or the first '@'
 * leads it: a resource's name, looked up as it is); -EINVAL when it has that form but RES does
 * not fit rescap or GEN is not such a number. */
int wbd_nbd_snap_name(const char *name, char *res, size_t rescap, uint64_t *gen);

/* NBDP_REP_INFO bodies; return their length (12 resp. 14). */
size_t wbd_nbd_encode_info_export(uint8_t *out, uint64_t size, uint16_t tflags);
size_t wbd_nbd_encode_info_block_size(uint8_t *out, uint32_t min, uint32_t pref, uint32_t max);
/* NBDP_REP_SERVER body for LIST: u32 length + name; returns 4 + strlen(name). */
size_t wbd_nbd_encode_server_entry(uint8_t *out, size_t cap, const char *name);
/* Reply to NBDP_OPT_EXPORT_NAME; returns 10 (no_zeroes) or 134. */
size_t wbd_nbd_encode_export_name_reply(uint8_t *out, uint64_t size, uint16_t tflags,
					bool no_zeroes);

/* Transmission phase. */
struct wbd_nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t handle; /* opaque cookie, echoed */
	uint64_t off;
	uint32_t len;
};

/* 0, or -EBADMSG for a bad magic (disconnect). */
int wbd_nbd_parse_request(const uint8_t *in, struct wbd_nbd_request *r);
/* Returns NBDP_SIMPLE_REPLY_LEN. */
size_t wbd_nbd_encode_simple_reply(uint8_t *out, uint32_t err, uint64_t handle);

/* What the server does with a parsed request header, decided without I/O. */
struct wbd_nbd_verdict {
	uint32_t err;	  /* 0 = execute, else the NBDP_E* to reply with */
	uint32_t payload; /* bytes of write payload that follow the header */
	bool disconnect;  /* after replying (or at once for DISC), close */
};

/* Export properties the checks need. */
struct wbd_nbd_export_geom {
	uint64_t size;	  /* bytes */
	uint32_t align;	  /* offsets/lengths must be multiples (4096) */
	uint32_t max_len; /* largest read/write payload accepted */
	uint16_t tflags;  /* transmission flags advertised */
};

/*
 * Classify a request: unknown command -> EINVAL; flags we do not know or
 * did not advertise -> EINVAL; beyond the end -> EINVAL (read, trim),
 * ENOSPC (write, write-zeroes); unaligned -> EINVAL; read/write longer than
 * max_len -> EINVAL (write: also disconnect, because the payload cannot be
 * trusted to be skipped); DISC -> disconnect. payload is set for writes so
 * the caller can consume it before replying.
 */
void wbd_nbd_classify_request(const struct wbd_nbd_request *r, const struct wbd_nbd_export_geom *g,
			      struct wbd_nbd_verdict *v);

/* TLS policy of an export; the values of conf's enum wbconf_tls. */
enum wbd_nbd_tls_mode { WBD_NBD_TLS_OFF = 0, WBD_NBD_TLS_ALLOW = 1, WBD_NBD_TLS_REQUIRE = 2 };

/* What the handshake does with an option, as far as TLS is concerned. */
enum wbd_nbd_tls_action {
	NBDP_TLSA_PASS,	 /* handle it as usual (the export's own mode still applies) */
	NBDP_TLSA_START, /* STARTTLS accepted: reply ACK, then the TLS handshake */
	NBDP_TLSA_REPLY, /* reply with the error in *err */
	NBDP_TLSA_CLOSE, /* close the connection (EXPORT_NAME has no error reply) */
};

/*
 * Decide, without I/O, what TLS means for option opt with len bytes of data
 * (docs/nbd.md "TLS"). mode: the policy of the listener's export; can_tls:
 * the server has a certificate; tls_on: the session is already encrypted;
 * pending: bytes the client sent after this option. STARTTLS on a plain
 * session is accepted when can_tls and mode != off, len == 0 and nothing
 * follows it (data pipelined behind STARTTLS would be plain text the
 * client believes encrypted: closed). With mode require and no TLS yet,
 * everything but STARTTLS and ABORT is NBDP_REP_ERR_TLS_REQD and
 * EXPORT_NAME closes. *err is set for NBDP_TLSA_REPLY.
 */
enum wbd_nbd_tls_action wbd_nbd_tls_gate(uint32_t opt, uint32_t len, int mode, bool can_tls,
					 bool tls_on, size_t pending, uint32_t *err);

const char *wbd_nbd_cmd_name(uint16_t type);
const char *wbd_nbd_opt_name(uint32_t opt);

#endif /* WB_DAEMON_NBD_PROTO_H */
