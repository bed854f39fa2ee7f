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

#define NBD_MAGIC	       0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT	       0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC	       0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC      0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

/* handshake flags (server) and client flags */
#define NBD_FLAG_FIXED_NEWSTYLE	  (1u << 0)
#define NBD_FLAG_NO_ZEROES	  (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES	  (1u << 1)

/* options */
#define NBD_OPT_EXPORT_NAME	 1
#define NBD_OPT_ABORT		 2
#define NBD_OPT_LIST		 3
#define NBD_OPT_STARTTLS	 5
#define NBD_OPT_INFO		 6
#define NBD_OPT_GO		 7
#define NBD_OPT_STRUCTURED_REPLY 8

/* option reply types */
#define NBD_REP_ACK	     1u
#define NBD_REP_SERVER	     2u
#define NBD_REP_INFO	     3u
#define NBD_REP_FLAG_ERROR   (1u << 31)
#define NBD_REP_ERR_UNSUP    (NBD_REP_FLAG_ERROR | 1u)
#define NBD_REP_ERR_POLICY   (NBD_REP_FLAG_ERROR | 2u)
#define NBD_REP_ERR_INVALID  (NBD_REP_FLAG_ERROR | 3u)
#define NBD_REP_ERR_PLATFORM (NBD_REP_FLAG_ERROR | 4u)
#define NBD_REP_ERR_TLS_REQD (NBD_REP_FLAG_ERROR | 5u)
#define NBD_REP_ERR_UNKNOWN  (NBD_REP_FLAG_ERROR | 6u)
#define NBD_REP_ERR_SHUTDOWN (NBD_REP_FLAG_ERROR | 7u)
#define NBD_REP_ERR_TOO_BIG  (NBD_REP_FLAG_ERROR | 9u)

/* NBD_REP_INFO types */
#define NBD_INFO_EXPORT	     0
#define NBD_INFO_NAME	     1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE  3

/* transmission flags */
#define NBD_FLAG_HAS_FLAGS	   (1u << 0)
#define NBD_FLAG_READ_ONLY	   (1u << 1)
#define NBD_FLAG_SEND_FLUSH	   (1u << 2)
#define NBD_FLAG_SEND_FUA	   (1u << 3)
#define NBD_FLAG_ROTATIONAL	   (1u << 4)
#define NBD_FLAG_SEND_TRIM	   (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_CAN_MULTI_CONN	   (1u << 8)

/* commands and command flags */
#define NBD_CMD_READ	     0
#define NBD_CMD_WRITE	     1
#define NBD_CMD_DISC	     2
#define NBD_CMD_FLUSH	     3
#define NBD_CMD_TRIM	     4
#define NBD_CMD_CACHE	     5
#define NBD_CMD_WRITE_ZEROES 6
#define NBD_CMD_FLAG_FUA     (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)

/* error values in replies */
#define NBD_EPERM     1
#define NBD_EIO	      5
#define NBD_ENOMEM    12
#define NBD_EINVAL    22
#define NBD_ENOSPC    28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP   95
#define NBD_ESHUTDOWN 108

#define NBD_GREETING_LEN	  18 /* NBDMAGIC, IHAVEOPT, 16-bit flags */
#define NBD_OPT_HDR_LEN		  16 /* IHAVEOPT, option, length */
#define NBD_OPT_REPLY_HDR_LEN	  20 /* magic, option, type, length */
#define NBD_REQUEST_LEN		  28
#define NBD_SIMPLE_REPLY_LEN	  16
#define NBD_EXPORT_NAME_REPLY_LEN 134	       /* size, flags, 124 zeroes */
#define NBD_OPT_MAX_LEN		  (64u * 1024) /* longer option data: disconnect */
#define NBD_NAME_MAX		  4096	       /* spec limit on export names */
#define NBD_INFO_REQ_MAX	  32	       /* info requests we keep per INFO/GO */

/* Server greeting; returns NBD_GREETING_LEN. */
size_t nbd_encode_greeting(uint8_t *out);
/* Client flags after the greeting. 0, or -EPROTO for unknown bits / no
 * FIXED_NEWSTYLE (the server then disconnects). */
int nbd_parse_client_flags(const uint8_t *in, uint32_t *flags);
/* Option header. 0, -EBADMSG for a bad magic, -EMSGSIZE when the length
 * exceeds NBD_OPT_MAX_LEN (disconnect in both cases). */
int nbd_parse_opt_hdr(const uint8_t *in, uint32_t *opt, uint32_t *len);
/* Option reply header; returns NBD_OPT_REPLY_HDR_LEN. */
size_t nbd_encode_opt_reply(uint8_t *out, uint32_t opt, uint32_t type, uint32_t len);

/* NBD_OPT_INFO / NBD_OPT_GO payload: u32 name length, name, u16 count,
 * count x u16 info type. name gets a NUL-terminated copy (namecap >
 * NBD_NAME_MAX advisable). Info types beyond max are counted in *ninfo but
 * not stored. 0, or -EINVAL for a malformed payload (lengths that do not add
 * up, a NUL inside the name), -ENAMETOOLONG when the name does not fit. */
int nbd_parse_info_req(const uint8_t *in, uint32_t len, char *name, size_t namecap, uint16_t *infos,
		       unsigned max, unsigned *ninfo);
/* NBD_OPT_EXPORT_NAME payload: the bare name. Same errors. */
int nbd_parse_export_name(const uint8_t *in, uint32_t len, char *name, size_t namecap);

/* NBD_REP_INFO bodies; return their length (12 resp. 14). */
size_t nbd_encode_info_export(uint8_t *out, uint64_t size, uint16_t tflags);
size_t nbd_encode_info_block_size(uint8_t *out, uint32_t min, uint32_t pref, uint32_t max);
/* NBD_REP_SERVER body for LIST: u32 length + name; returns 4 + strlen(name). */
size_t nbd_encode_server_entry(uint8_t *out, size_t cap, const char *name);
/* Reply to NBD_OPT_EXPORT_NAME; returns 10 (no_zeroes) or 134. */
size_t nbd_encode_export_name_reply(uint8_t *out, uint64_t size, uint16_t tflags, bool no_zeroes);

/* Transmission phase. */
struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t handle; /* opaque cookie, echoed */
	uint64_t off;
	uint32_t len;
};

/* 0, or -EBADMSG for a bad magic (disconnect). */
int nbd_parse_request(const uint8_t *in, struct nbd_request *r);
/* Returns NBD_SIMPLE_REPLY_LEN. */
size_t nbd_encode_simple_reply(uint8_t *out, uint32_t err, uint64_t handle);

/* What the server does with a parsed request header, decided without I/O. */
struct nbd_verdict {
	uint32_t err;	  /* 0 = execute, else the NBD_E* to reply with */
	uint32_t payload; /* bytes of write payload that follow the header */
	bool disconnect;  /* after replying (or at once for DISC), close */
};

/* Export properties the checks need. */
struct nbd_export_geom {
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
void nbd_classify_request(const struct nbd_request *r, const struct nbd_export_geom *g,
			  struct nbd_verdict *v);

/* TLS policy of an export; the values of conf's enum wbconf_tls. */
enum nbd_tls_mode { NBD_TLS_OFF = 0, NBD_TLS_ALLOW = 1, NBD_TLS_REQUIRE = 2 };

/* What the handshake does with an option, as far as TLS is concerned. */
enum nbd_tls_action {
	NBD_TLSA_PASS,	/* handle it as usual (the export's own mode still applies) */
	NBD_TLSA_START, /* STARTTLS accepted: reply ACK, then the TLS handshake */
	NBD_TLSA_REPLY, /* reply with the error in *err */
	NBD_TLSA_CLOSE, /* close the connection (EXPORT_NAME has no error reply) */
};

/*
 * Decide, without I/O, what TLS means for option opt with len bytes of data
 * (docs/nbd.md "TLS"). mode: the policy of the listener's export; can_tls:
 * the server has a certificate; tls_on: the session is already encrypted;
 * pending: bytes the client sent after this option. STARTTLS on a plain
 * session is accepted when can_tls and mode != off, len == 0 and nothing
 * follows it (data pipelined behind STARTTLS would be plain text the
 * client believes encrypted: closed). With mode require and no TLS yet,
 * everything but STARTTLS and ABORT is NBD_REP_ERR_TLS_REQD and
 * EXPORT_NAME closes. *err is set for NBD_TLSA_REPLY.
 */
enum nbd_tls_action nbd_tls_gate(uint32_t opt, uint32_t len, int mode, bool can_tls, bool tls_on,
				 size_t pending, uint32_t *err);

const char *nbd_cmd_name(uint16_t type);
const char *nbd_opt_name(uint32_t opt);

#endif /* WB_DAEMON_NBD_PROTO_H */
