// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbtlsstream.c - the TLS link ceiling of the repl bench section: N bytes
 * over TLS 1.3 on 127.0.0.1 with the TLS work of a replication link and
 * nothing else (no engine, no event loop, no copies besides OpenSSL's).
 * As daemon/tls.c and peerlink.c set a link up: TLS 1.3 only, default
 * cipher suites, mutual certificate authentication against ca.crt with
 * the peer's name checked, no tickets, TCP_NODELAY, default socket
 * buffers (the daemon sets none); once up, the SSL reads the socket
 * through a BIO_f_buffer of 1 MiB (WBD_TLS_RBUF) and writes it through
 * one of 256 KiB (WBD_TLS_WBUF). The sender (alpha) SSL_writes 1 MiB
 * buffers, whole (no partial writes, blocking socket); the receiver (beta,
 * then gamma) SSL_reads into a 1 MiB buffer and counts the bytes until
 * the sender's close_notify. Every end is its own process, so the two
 * ends of a stream can use both CPUs as two nodes do; --streams 2 runs two
 * pairs at once (the 3-node primary sends every byte to both peers).
 *
 *   wbtlsstream DIR BYTES [--streams K] [--send-bytes M]
 *   wbtlsstream DIR BYTES --ping N
 * DIR holds ca.crt and alpha/beta/gamma.{crt,key} (section_repl.sh's
 * repl_certs). --send-bytes (tests): the senders send M bytes while the
 * receivers are held to BYTES, so the byte check must fail. Prints one
 * JSON object on stdout; exit 0 when every end exited 0, both ends agree
 * on protocol and cipher and every receiver got exactly BYTES, else 1
 * with the reason on stderr. Time of a stream: from the senders' fork to
 * its receiver's exit (handshake included); CPU: utime + stime of each
 * end (wait4), in ms per MiB of BYTES.
 *
 * --ping N: the floor of a protocol C write at QD1 instead of a stream:
 * one pair, the sender SSL_writes a message of BYTES (a 4 KiB record's
 * frame), flushes it and waits for a 32-byte reply (an ack frame), N + N/10
 * times (the first N/10 are not counted); the receiver reads each message
 * whole and answers it at once. Both ends block in read(2), as an idle
 * io loop blocks in epoll_wait, so each round trip pays the two wake-ups
 * and the TLS work of a record and its ack and nothing else. Prints the
 * round trips' p50 / p99 / mean in µs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define WTS_BUF		(1024 * 1024) /* per SSL_write / SSL_read */
#define WTS_RBUF	(1024 * 1024) /* daemon/tls.h WBD_TLS_RBUF */
#define WTS_WBUF	(256 * 1024)  /* daemon/tls.h WBD_TLS_WBUF */
#define WTS_MAX_STREAMS 2
#define WTS_MSG		512
#define WTS_ACK		32 /* --ping: the reply's size */

static const char *const wts_recv_names[WTS_MAX_STREAMS] = {"beta", "gamma"};

/* one end of a stream: a child process and the pipe it reports on */
struct wts_end {
	pid_t pid;
	int rfd;
	bool done;
	double t_exit;
	int status;
	struct rusage ru;
	char msg[WTS_MSG]; /* "ok BYTES PROTO CIPHER" or "error: ..." */
};

static double wts_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* report the first error on the queue (or errno's text) on FD, exit 1 */
static void __attribute__((noreturn)) wts_die(int fd, const char *who, const char *what)
{
	char buf[WTS_MSG], e[256] = "";
	unsigned long err = ERR_get_error();

	if (err)
		ERR_error_string_n(err, e, sizeof(e));
	else if (errno)
		snprintf(e, sizeof(e), "%s", strerror(errno));
	int n = snprintf(buf, sizeof(buf), "error: %s: %s%s%s", who, what, *e ? ": " : "", e);
	if (write(fd, buf, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

static SSL_CTX *wts_ctx(int fd, const char *dir, const char *name)
{
	char cert[4096], key[4096], ca[4096];
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	snprintf(cert, sizeof(cert), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		wts_die(fd, name, "TLS 1.3 context");
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		wts_die(fd, name, cert);
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		wts_die(fd, name, ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	return ctx;
}

/* BIO_f_buffer over the socket, as daemon/tls.c tls_buffered() */
static BIO *wts_buffered(int fd, bool wr, long size)
{
	BIO *buf = BIO_new(BIO_f_buffer());
	BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE);

	if (!buf || !sock ||
	    (wr ? BIO_set_write_buffer_size(buf, size) : BIO_set_read_buffer_size(buf, size)) != 1)
		return NULL;
	return BIO_push(buf, sock);
}

/* the SSL of one end on a connected socket: handshake done, peer checked,
 * buffered BIOs installed (as pl_read_ahead() once a link is up) */
static SSL *wts_ssl(int rfd, const char *dir, const char *self, const char *peer, int sock,
		    bool server)
{
	SSL_CTX *ctx = wts_ctx(rfd, dir, self);
	SSL *ssl = SSL_new(ctx);
	int one = 1;
	BIO *rb, *wb;

	if (setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		wts_die(rfd, self, "TCP_NODELAY");
	if (!ssl || SSL_set_fd(ssl, sock) != 1 || SSL_set1_host(ssl, peer) != 1 ||
	    (!server && SSL_set_tlsext_host_name(ssl, peer) != 1))
		wts_die(rfd, self, "SSL_new");
	if ((server ? SSL_accept(ssl) : SSL_connect(ssl)) != 1)
		wts_die(rfd, self, "handshake");
	rb = wts_buffered(sock, false, WTS_RBUF);
	wb = wts_buffered(sock, true, WTS_WBUF);
	if (!rb || !wb)
		wts_die(rfd, self, "buffer BIOs");
	SSL_set0_rbio(ssl, rb);
	SSL_set0_wbio(ssl, wb);
	return ssl;
}

static void wts_report(int rfd, SSL *ssl, unsigned long long bytes)
{
	char buf[WTS_MSG];
	int n = snprintf(buf, sizeof(buf), "ok %llu %s %s", bytes, SSL_get_version(ssl),
			 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));

	if (write(rfd, buf, (size_t)n) != n)
		_exit(2);
}

/* a receiver's SSL: the sender's connection accepted on LFD, handshake done */
static SSL *wts_accept(int rfd, const char *dir, const char *self, int lfd)
{
	int sock = accept(lfd, NULL, NULL);

	if (sock < 0)
		wts_die(rfd, self, "accept");
	close(lfd);
	return wts_ssl(rfd, dir, self, "alpha", sock, true);
}

/* a receiver's end: its close_notify (the sender may wait for it), then
 * its report of GOT bytes */
static void __attribute__((noreturn)) wts_recv_end(int rfd, SSL *ssl, unsigned long long got)
{
	SSL_shutdown(ssl);
	BIO_flush(SSL_get_wbio(ssl));
	wts_report(rfd, ssl, got);
	_exit(0);
}

static void __attribute__((noreturn))
wts_receiver(int rfd, const char *dir, const char *self, int lfd)
{
	unsigned long long got = 0;
	char *buf = malloc(WTS_BUF);
	SSL *ssl;

	if (!buf)
		wts_die(rfd, self, "malloc");
	ssl = wts_accept(rfd, dir, self, lfd);
	for (;;) {
		size_t n = 0;

		if (SSL_read_ex(ssl, buf, WTS_BUF, &n) == 1) {
			got += n;
			continue;
		}
		if (SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN)
			break;
		wts_die(rfd, self, "SSL_read");
	}
	wts_recv_end(rfd, ssl, got);
}

static void __attribute__((noreturn))
wts_sender(int rfd, const char *dir, const char *peer, int port, unsigned long long bytes)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	unsigned long long left = bytes;
	unsigned char *buf = malloc(WTS_BUF);
	int sock = socket(AF_INET, SOCK_STREAM, 0);
	char tmp[64];
	size_t n;
	SSL *ssl;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!buf || sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		wts_die(rfd, "alpha", "connect");
	for (size_t i = 0; i < WTS_BUF; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	ssl = wts_ssl(rfd, dir, "alpha", peer, sock, false);
	while (left) {
		size_t len = left < WTS_BUF ? (size_t)left : WTS_BUF;

		if (SSL_write_ex(ssl, buf, len, &n) != 1 || n != len)
			wts_die(rfd, "alpha", "SSL_write");
		left -= len;
	}
	if (BIO_flush(SSL_get_wbio(ssl)) != 1)
		wts_die(rfd, "alpha", "flush");
	SSL_shutdown(ssl);
	if (BIO_flush(SSL_get_wbio(ssl)) != 1)
		wts_die(rfd, "alpha", "flush close_notify");
	/* until the receiver's close_notify: it has read everything */
	if (SSL_read_ex(ssl, tmp, sizeof(tmp), &n) == 1 ||
	    SSL_get_error(ssl, 0) != SSL_ERROR_ZERO_RETURN)
		wts_die(rfd, "alpha", "waiting for the receiver's close_notify");
	wts_report(rfd, ssl, bytes);
	_exit(0);
}

/* --ping: answer every message of SIZE bytes with WTS_ACK bytes */
static void __attribute__((noreturn))
wts_ping_receiver(int rfd, const char *dir, const char *self, int lfd, size_t size)
{
	unsigned long long got = 0;
	unsigned char *buf = malloc(size), ack[WTS_ACK] = {0};
	SSL *ssl;

	if (!buf)
		wts_die(rfd, self, "malloc");
	ssl = wts_accept(rfd, dir, self, lfd);
	for (;;) {
		size_t have = 0, n = 0;

		while (have < size) {
			if (SSL_read_ex(ssl, buf + have, size - have, &n) == 1) {
				have += n;
				continue;
			}
			if (have == 0 && SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN)
				goto done;
			wts_die(rfd, self, "SSL_read");
		}
		got += size;
		if (SSL_write_ex(ssl, ack, sizeof(ack), &n) != 1 ||
		    BIO_flush(SSL_get_wbio(ssl)) != 1)
			wts_die(rfd, self, "SSL_write (reply)");
	}
done:
	wts_recv_end(rfd, ssl, got);
}

static int wts_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* --ping: N timed round trips of SIZE bytes out, WTS_ACK back; reports
 * "ok BYTES PROTO CIPHER P50 P99 MEAN" (µs) */
static void __attribute__((noreturn))
wts_ping_sender(int rfd, const char *dir, const char *peer, int port, size_t size, long rounds)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	long warm = rounds / 10, total = warm + rounds;
	unsigned char *buf = malloc(size), ack[WTS_ACK];
	double *us = calloc((size_t)rounds, sizeof(*us)), sum = 0;
	int sock = socket(AF_INET, SOCK_STREAM, 0), len;
	char msg[WTS_MSG];
	SSL *ssl;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!buf || !us || sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)))
		wts_die(rfd, "alpha", "connect");
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	ssl = wts_ssl(rfd, dir, "alpha", peer, sock, false);
	for (long r = 0; r < total; r++) {
		double t0 = wts_now();
		size_t n = 0, have = 0;

		if (SSL_write_ex(ssl, buf, size, &n) != 1 || n != size ||
		    BIO_flush(SSL_get_wbio(ssl)) != 1)
			wts_die(rfd, "alpha", "SSL_write");
		while (have < sizeof(ack)) {
			if (SSL_read_ex(ssl, ack + have, sizeof(ack) - have, &n) != 1)
				wts_die(rfd, "alpha", "SSL_read (reply)");
			have += n;
		}
		if (r >= warm)
			us[r - warm] = (wts_now() - t0) * 1e6;
	}
	SSL_shutdown(ssl);
	if (BIO_flush(SSL_get_wbio(ssl)) != 1)
		wts_die(rfd, "alpha", "flush close_notify");
	for (long r = 0; r < rounds; r++)
		sum += us[r];
	qsort(us, (size_t)rounds, sizeof(*us), wts_cmp_double);
	len = snprintf(msg, sizeof(msg), "ok %llu %s %s %.2f %.2f %.2f",
		       (unsigned long long)size * (unsigned long long)total, SSL_get_version(ssl),
		       SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), us[(rounds - 1) / 2],
		       us[(rounds * 99 - 1) / 100], sum / (double)rounds);
	if (write(rfd, msg, (size_t)len) != len)
		_exit(2);
	_exit(0);
}

/* fork one end: 0 in the parent (E has the pipe's read end), the pipe's
 * write end in the child (which dies with us), or -errno */
static int wts_fork(struct wts_end *e)
{
	int p[2];

	if (pipe(p))
		return -errno;
	e->pid = fork();
	if (e->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (e->pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		return p[1];
	}
	close(p[1]);
	e->rfd = p[0];
	return 0;
}

static int wts_listen(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		fprintf(stderr, "wbtlsstream: listen on 127.0.0.1: %s\n", strerror(errno));
		exit(1);
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static double wts_cpu_s(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* reap every end (recording its exit time), then read its report */
static void wts_reap(struct wts_end *ends, int n)
{
	for (int left = n; left > 0;) {
		struct rusage ru;
		int status;
		pid_t pid = wait4(-1, &status, 0, &ru);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++)
			if (ends[i].pid == pid && !ends[i].done) {
				ends[i].done = true;
				ends[i].t_exit = wts_now();
				ends[i].status = status;
				ends[i].ru = ru;
				left--;
			}
	}
	for (int i = 0; i < n; i++) {
		ssize_t got = read(ends[i].rfd, ends[i].msg, sizeof(ends[i].msg) - 1);

		ends[i].msg[got > 0 ? got : 0] = 0;
		close(ends[i].rfd);
	}
}

static void wts_usage(void)
{
	fprintf(stderr, "usage: wbtlsstream DIR BYTES [--streams 1|2] [--send-bytes M]\n"
			"       wbtlsstream DIR BYTES --ping N\n");
	exit(1);
}

/* --ping: one receiver, one sender, their round trips as JSON */
static int wts_ping(const char *dir, size_t size, long rounds)
{
	struct wts_end ends[2] = {0}; /* receiver, sender */
	char proto[2][64], cipher[2][128];
	unsigned long long n[2];
	double p50 = 0, p99 = 0, mean = 0;
	int port, lfd = wts_listen(&port), fd;

	fd = wts_fork(&ends[0]);
	if (fd > 0)
		wts_ping_receiver(fd, dir, "beta", lfd, size);
	close(lfd);
	if (fd == 0)
		fd = wts_fork(&ends[1]);
	if (fd > 0)
		wts_ping_sender(fd, dir, "beta", port, size, rounds);
	if (fd < 0) {
		fprintf(stderr, "wbtlsstream: fork: %s\n", strerror(-fd));
		return 1;
	}
	wts_reap(ends, 2);
	for (int i = 0; i < 2; i++) {
		struct wts_end *e = &ends[i];
		int want = i ? 6 : 3;

		if (!WIFEXITED(e->status) || WEXITSTATUS(e->status) ||
		    sscanf(e->msg, "ok %llu %63s %127s %lf %lf %lf", &n[i], proto[i], cipher[i],
			   &p50, &p99, &mean) < want) {
			fprintf(stderr, "wbtlsstream: %s (pid %d, status 0x%x): %s\n",
				i ? "sender" : "receiver", (int)e->pid, e->status,
				e->msg[0] ? e->msg : "no report");
			return 1;
		}
	}
	if (n[0] != n[1] || strcmp(proto[0], proto[1]) || strcmp(cipher[0], cipher[1])) {
		fprintf(stderr, "wbtlsstream: ends disagree: %llu %s %s vs %llu %s %s\n", n[0],
			proto[0], cipher[0], n[1], proto[1], cipher[1]);
		return 1;
	}
	printf("{\"tool\": \"wbtlsstream\", \"mode\": \"ping\", \"openssl\": \"%s\", "
	       "\"protocol\": \"%s\", \"cipher\": \"%s\", \"size\": %zu, \"reply\": %d, "
	       "\"round_trips\": %ld, \"p50_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f}\n",
	       OpenSSL_version(OPENSSL_VERSION), proto[0], cipher[0], size, WTS_ACK, rounds, p50,
	       p99, mean);
	return 0;
}

int main(int argc, char **argv)
{
	struct wts_end ends[2 * WTS_MAX_STREAMS] = {0}; /* receivers, then senders */
	unsigned long long bytes, send_bytes, got[WTS_MAX_STREAMS];
	char proto[WTS_MAX_STREAMS * 2][64], cipher[WTS_MAX_STREAMS * 2][128];
	int k = 1, lfd[WTS_MAX_STREAMS], port[WTS_MAX_STREAMS], bad = 0;
	long ping = 0;
	const char *dir;
	double t0, mib, secs = 0;
	char *end;

	if (argc < 3)
		wts_usage();
	dir = argv[1];
	bytes = strtoull(argv[2], &end, 10);
	if (*end || !bytes)
		wts_usage();
	send_bytes = bytes;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--streams") && i + 1 < argc)
			k = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--send-bytes") && i + 1 < argc)
			send_bytes = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--ping") && i + 1 < argc)
			ping = atol(argv[++i]);
		else
			wts_usage();
	}
	if (k < 1 || k > WTS_MAX_STREAMS || ping < 0 || (ping && (k != 1 || bytes > WTS_BUF)))
		wts_usage();
	signal(SIGPIPE, SIG_IGN);
	if (ping)
		return wts_ping(dir, (size_t)bytes, ping);
	mib = (double)bytes / (1024.0 * 1024.0);

	for (int i = 0; i < k; i++) {
		int fd;

		lfd[i] = wts_listen(&port[i]);
		fd = wts_fork(&ends[i]);
		if (fd < 0) {
			fprintf(stderr, "wbtlsstream: fork: %s\n", strerror(-fd));
			return 1;
		}
		if (fd > 0)
			wts_receiver(fd, dir, wts_recv_names[i], lfd[i]);
		close(lfd[i]);
	}
	t0 = wts_now();
	for (int i = 0; i < k; i++) {
		int fd = wts_fork(&ends[k + i]);

		if (fd < 0) {
			fprintf(stderr, "wbtlsstream: fork: %s\n", strerror(-fd));
			return 1;
		}
		if (fd > 0)
			wts_sender(fd, dir, wts_recv_names[i], port[i], send_bytes);
	}
	wts_reap(ends, 2 * k);

	for (int i = 0; i < 2 * k; i++) {
		struct wts_end *e = &ends[i];
		const char *who = i < k ? "receiver" : "sender";
		unsigned long long n = 0;

		proto[i][0] = cipher[i][0] = 0;
		if (!WIFEXITED(e->status) || WEXITSTATUS(e->status) ||
		    sscanf(e->msg, "ok %llu %63s %127s", &n, proto[i], cipher[i]) != 3) {
			fprintf(stderr, "wbtlsstream: %s %d (pid %d, status 0x%x): %s\n", who,
				i % k, (int)e->pid, e->status, e->msg[0] ? e->msg : "no report");
			bad = 1;
			continue;
		}
		if (i < k) {
			got[i] = n;
			if (n != bytes) {
				fprintf(stderr,
					"wbtlsstream: receiver %d (%s) got %llu bytes, "
					"%llu expected (sender sent %llu)\n",
					i, wts_recv_names[i], n, bytes, send_bytes);
				bad = 1;
			}
			if (e->t_exit - t0 > secs)
				secs = e->t_exit - t0;
		}
	}
	for (int i = 1; !bad && i < 2 * k; i++)
		if (strcmp(proto[i], proto[0]) || strcmp(cipher[i], cipher[0])) {
			fprintf(stderr, "wbtlsstream: ends disagree: %s %s vs %s %s\n", proto[i],
				cipher[i], proto[0], cipher[0]);
			bad = 1;
		}
	if (bad)
		return 1;

	printf("{\"tool\": \"wbtlsstream\", \"openssl\": \"%s\", \"protocol\": \"%s\", "
	       "\"cipher\": \"%s\", \"streams\": %d, \"bytes_per_stream\": %llu, "
	       "\"secs\": %.4f, \"mibps_per_stream\": %.1f, \"mibps_total\": %.1f, "
	       "\"per_stream\": [",
	       OpenSSL_version(OPENSSL_VERSION), proto[0], cipher[0], k, bytes, secs, mib / secs,
	       k * mib / secs);
	for (int i = 0; i < k; i++) {
		double s = ends[i].t_exit - t0;

		printf("%s{\"peer\": \"%s\", \"bytes_received\": %llu, \"secs\": %.4f, "
		       "\"mibps\": %.1f, \"cpu_ms_per_mib_send\": %.3f, "
		       "\"cpu_ms_per_mib_recv\": %.3f}",
		       i ? ", " : "", wts_recv_names[i], got[i], s, mib / s,
		       1000.0 * wts_cpu_s(&ends[k + i].ru) / mib,
		       1000.0 * wts_cpu_s(&ends[i].ru) / mib);
	}
	printf("]}\n");
	return 0;
}
