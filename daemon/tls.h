/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tls.h - the TLS context of replication links: one SSL_CTX per daemon
 * built from [global] tls-cert, tls-key, tls-ca (docs/configuration.md),
 * used for both directions (connect and accept). TLS 1.3 only, mutual
 * authentication (a peer without a certificate that chains to tls-ca is
 * refused), no session tickets or resumption. The peer's expected name
 * (its [node] name) must appear in the certificate's subjectAltName DNS
 * entries, or in its CN when it has none (X509_check_host rules).
 *
 * Ownership: wbd_tls_ctx_new() returns an SSL_CTX the caller frees with
 * SSL_CTX_free(); every SSL made from it holds its own reference.
 */
#ifndef WB_DAEMON_TLS_H
#define WB_DAEMON_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/*
 * Load cert (PEM chain), key and ca (PEM bundle). cert and key may both be
 * NULL only for tests (a client without a certificate, which every peer
 * refuses); the configuration parser requires all three. A certificate
 * that has expired or is not valid yet is loaded with a warning (peers
 * refuse it and say so). Returns 0 and *out, or -errno with the reason
 * logged (unreadable file, key not matching the certificate, ...).
 */
int wbd_tls_ctx_new(const char *cert, const char *key, const char *ca, SSL_CTX **out);
/* The same, with the reason in err instead of the log. */
int wbd_tls_ctx_open(const char *cert, const char *key, const char *ca, SSL_CTX **out, char *err,
		     size_t len);

/*
 * Certificate rotation (a reload, docs/configuration.md "Replication
 * links"): wbd_tls_ctx_load() builds a context from the files as
 * wbd_tls_ctx_new() does, without logging: the reason goes into err;
 * strict also refuses an own certificate that has expired or is not valid
 * yet (-EKEYEXPIRED, -EKEYREJECTED). wbd_tls_ctx_replace() makes every
 * later wbd_tls_ssl_new() on the handle (a context from wbd_tls_ctx_new)
 * use nw (it takes its own reference); connections made before keep
 * theirs. Thread-safe against wbd_tls_ssl_new() on other threads.
 */
int wbd_tls_ctx_load(const char *cert, const char *key, const char *ca, bool strict, SSL_CTX **out,
		     char *err, size_t len);
int wbd_tls_ctx_replace(SSL_CTX *handle, SSL_CTX *nw);

/* The certificate new connections on the handle present: subject, serial
 * (hex), validity (seconds since the epoch). -ENOENT without one. */
struct wbd_tls_info {
	char subject[256];
	char serial[80];
	int64_t not_before, not_after;
};
int wbd_tls_cert_info(SSL_CTX *handle, struct wbd_tls_info *out);
/* When the certificate the peer of ssl presented expires (seconds since
 * the epoch), 0 when none. */
int64_t wbd_tls_peer_not_after(SSL *ssl);

/* A new SSL for one connection. Client side: the handshake itself checks
 * that the server's certificate names peer_name. NULL on failure (logged). */
SSL *wbd_tls_ssl_new(SSL_CTX *ctx, bool server, const char *peer_name);

/*
 * Once a replication link is up: its SSL reads the socket through a
 * buffer of WBD_TLS_RBUF bytes (BIO_f_buffer over the socket; the write
 * side: wbd_tls_write_buffered), so that one read(2) takes in many TLS records instead
 * of one record header and one record body each. Records buffered there
 * are not in the socket any more: the caller must keep decrypting while
 * wbd_tls_read_pending() says so (peerlink.c, pl_kick). 0, or -ENOMEM
 * with the SSL unchanged.
 */
#define WBD_TLS_RBUF (1024 * 1024)
int wbd_tls_read_buffered(SSL *ssl, int fd);

/*
 * Once a replication link is up: its SSL writes the socket through a
 * buffer of WBD_TLS_WBUF bytes (BIO_f_buffer), so that the 16 KiB TLS
 * records of one pass of the link's writer leave in one write(2) instead
 * of one each. The caller must flush (wbd_tls_flush) once its pass is
 * done, and again when the socket is writable after a flush that did not
 * finish. 0, or -ENOMEM with the SSL unchanged.
 */
#define WBD_TLS_WBUF (256 * 1024)
int wbd_tls_write_buffered(SSL *ssl, int fd);
/* Write what the buffer holds: 1 all of it (or nothing was held), 0 the
 * socket is full (flush again once it is writable), -1 error. */
int wbd_tls_flush(SSL *ssl);

/* Bytes this SSL holds that a read of the socket would not report:
 * decrypted or not, in the SSL or in the buffer below it. */
bool wbd_tls_read_pending(SSL *ssl);

/*
 * Decrypt up to len bytes of the link straight into buf, past the
 * bufferevent (peerlink.c, pl_rx_direct: a frame's payload into its
 * pages or buffer, without the copy through the bufferevent's input).
 * Only when the bufferevent's input is empty, so that the byte order
 * holds. > 0: bytes read; 0: nothing now (the socket is empty, or the SSL
 * must write first: the bufferevent's own read takes over); < 0: the
 * connection is lost (-ECONNRESET, the reason in why).
 */
long wbd_tls_read_into(SSL *ssl, void *buf, size_t len, char *why, size_t whylen);

/* After the handshake: 0 if the peer presented a certificate that verified
 * and names `name`, else -EACCES with the reason in why. */
int wbd_tls_peer_check(SSL *ssl, const char *name, char *why, size_t whylen);

/*
 * Why a handshake failed: the certificate verification result when there
 * is one ("certificate has expired", "unable to get local issuer
 * certificate", "hostname mismatch" ...), then the OpenSSL error queue
 * (errs: the codes bufferevent_get_openssl_error() returned, n of them),
 * e.g. "wrong version number" for a plain client on a TLS port.
 */
void wbd_tls_describe_error(SSL *ssl, const unsigned long *errs, size_t n, char *buf, size_t len);

#endif /* WB_DAEMON_TLS_H */
