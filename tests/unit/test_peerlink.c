// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_peerlink.c - CMocka tests of daemon/peerlink.c, peerlisten.c and
 * tls.c: two link endpoints on loopback in one libevent loop. Node
 * "alpha" is passive (listener on 127.0.0.1, a free port), "beta" active.
 * Certificates are made in a temp dir with the OpenSSL API (a CA, a second
 * CA, valid, expired and wrongly named leaf certificates).
 *
 * Cases: hello exchanged and geometry agreed; frames and data payloads
 * delivered intact and in order, payloads released once; invalid frames
 * refused by the sender; ping timeout; reconnect after the listener
 * restarts; send-queue bound with congestion policy block and disconnect;
 * the hello hook refusing a peer; TLS refusals (expired, wrong CA, wrong
 * name, no certificate, plain client on the TLS port, expired server
 * certificate), each with its reason in the log; malformed frames from a
 * raw client on a plain listener; with io loops, the passive link on
 * another loop than the listener's; record payloads read into RAM-buffer
 * pages with their crcs (cfg.pagebuf), a record with a wrong data crc
 * refused on the io loop before the frame callback, a full buffer falling
 * back to a buffer of its own. Log lines are captured with
 * wbd_log_set_hook (and still go to stderr). Waits are bounded by generous deadlines, not timed.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "daemon/ioloop.h"
#include "daemon/peerlink.h"
#include "daemon/peerlink_int.h"
#include "daemon/tls.h"
#include "daemon/wbd_log.h"
#include "engine/pagebuf.h"
#include "engine/wbengine.h"

#define DEADLINE_S 60
#define REC_BLOCKS 64 /* beta's max record: 256 KiB */

static char dir[64] = "/tmp/wbrep-peerlink-XXXXXX";
static struct event_base *base;
static SSL_CTX *ctx_alpha, *ctx_beta, *ctx_beta_expired, *ctx_beta_ca2, *ctx_mallory, *ctx_nocert,
    *ctx_alpha_expired;

/* ---- certificates ------------------------------------------------------ */

static X509 *mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long nb, long na)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_NAME *name;
	char san[96];
	static long serial = 1;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	{
		const char *ext[][2] = {
		    {"basicConstraints", issuer ? "critical,CA:FALSE" : "critical,CA:TRUE"},
		    {"keyUsage", issuer ? "critical,digitalSignature" : "critical,keyCertSign"},
		    {"subjectAltName", issuer ? san : NULL},
		};

		for (size_t i = 0; i < 3; i++) {
			X509_EXTENSION *e;

			if (!ext[i][1])
				continue;
			e = X509V3_EXT_conf(NULL, &v3, ext[i][0], ext[i][1]);
			assert_non_null(e);
			X509_add_ext(x, e, -1);
			X509_EXTENSION_free(e);
		}
	}
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	char p[160];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s.crt", dir, name);
	assert_non_null(f = fopen(p, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	if (!k)
		return;
	snprintf(p, sizeof(p), "%s/%s.key", dir, name);
	assert_non_null(f = fopen(p, "w"));
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

static SSL_CTX *mkctx(const char *name, const char *ca)
{
	char c[160], k[160], a[160];
	SSL_CTX *ctx;

	snprintf(c, sizeof(c), "%s/%s.crt", dir, name);
	snprintf(k, sizeof(k), "%s/%s.key", dir, name);
	snprintf(a, sizeof(a), "%s/%s.crt", dir, ca);
	assert_int_equal(wbd_tls_ctx_new(name ? c : NULL, name ? k : NULL, a, &ctx), 0);
	return ctx;
}

static void make_certs(void)
{
	EVP_PKEY *ka = EVP_EC_gen("P-256"), *kb = EVP_EC_gen("P-256"), *kc = EVP_EC_gen("P-256"),
		 *kc2 = EVP_EC_gen("P-256");
	X509 *ca = mkcert(kc, "wbrep test CA", NULL, NULL, -3600, 86400 * 30);
	X509 *ca2 = mkcert(kc2, "other CA", NULL, NULL, -3600, 86400 * 30);
	const long day = 86400;
	struct {
		const char *file, *cn;
		X509 *issuer;
		EVP_PKEY *ikey, *key;
		long nb, na;
	} leaves[] = {
	    {"alpha", "alpha", ca, kc, ka, -3600, 30 * day},
	    {"beta", "beta", ca, kc, kb, -3600, 30 * day},
	    {"beta_expired", "beta", ca, kc, kb, -2 * day, -day},
	    {"beta_ca2", "beta", ca2, kc2, kb, -3600, 30 * day},
	    {"mallory", "mallory", ca, kc, kb, -3600, 30 * day},
	    {"alpha_expired", "alpha", ca, kc, ka, -2 * day, -day},
	    {"beta_future", "beta", ca, kc, kb, day, 30 * day},
	};

	write_pem("ca", ca, NULL);
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		X509 *x = mkcert(leaves[i].key, leaves[i].cn, leaves[i].issuer, leaves[i].ikey,
				 leaves[i].nb, leaves[i].na);

		write_pem(leaves[i].file, x, leaves[i].key);
		X509_free(x);
	}
	X509_free(ca);
	X509_free(ca2);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(kc);
	EVP_PKEY_free(kc2);
}

/* ---- log capture ------------------------------------------------------- */

/* the io loops log too (threaded group): under a lock */
static char logbuf[1 << 18];
static size_t loglen;
static pthread_mutex_t loglock = PTHREAD_MUTEX_INITIALIZER;
static bool threaded; /* the group with io loops: links live there */
static bool skew;     /* io loops: the passive link away from the listener's loop */

static void log_hook(int level, const char *msg, void *arg)
{
	size_t n = strlen(msg);

	pthread_mutex_lock(&loglock);
	if (loglen + n + 2 >= sizeof(logbuf))
		loglen = 0; /* a test's own lines fit many times over */
	memcpy(logbuf + loglen, msg, n);
	loglen += n;
	logbuf[loglen++] = '\n';
	logbuf[loglen] = 0;
	pthread_mutex_unlock(&loglock);
}

static void log_reset(void)
{
	pthread_mutex_lock(&loglock);
	loglen = 0;
	logbuf[0] = 0;
	pthread_mutex_unlock(&loglock);
}

static bool log_has_now(const char *s)
{
	bool r;

	pthread_mutex_lock(&loglock);
	r = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&loglock);
	return r;
}

/* With io loops a line may come a little later: wait up to 5 s for it
 * (running the engine loop meanwhile). */
static bool log_has(const char *s)
{
	for (int i = 0; threaded && i < 5000 && !log_has_now(s); i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	return log_has_now(s);
}

static void log_dump(void)
{
	pthread_mutex_lock(&loglock);
	printf("---- log since the test started:\n%s----\n", logbuf);
	pthread_mutex_unlock(&loglock);
}

/* ---- one side of a link ------------------------------------------------ */

struct side {
	const char *name;
	struct wbd_peerlink *l;
	uint32_t max_record;
	int ups, downs, connecting, last_err, writable, nframes, nacks, bad;
	uint64_t next_seq, acked, bytes;
	bool ack_records, refuse_hello;
	char peer_seen[64];
	uint32_t agreed_max;
	size_t rx_max;	       /* most received bytes the link held at once */
	struct wb_pagebuf *pb; /* cfg.pagebuf, or NULL */
	int paged;	       /* records whose payload came in pages */
	int mem_acked;	       /* records the io loop acked IN_MEMORY already */
	int nmem;	       /* IN_MEMORY acks received */
	uint64_t mem_seq;      /* the newest of them */
};

static bool with_crc;	 /* send_rec*: real extent crcs (else 0) */
static uint64_t bad_seq; /* send_rec*: this record's first crc is wrong */

static struct side A, B;
static int puts_called, payloads_out; /* releases; payloads the links took */

static void fill(uint8_t *p, size_t len, uint64_t seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 131 + i * 7 + (i >> 12));
}

static void cb_hello(struct wbd_peerlink *l, Wbrep__Hello *h, void *arg)
{
	struct side *s = arg;
	static uint8_t uuid[16] = {7, 7, 7};

	h->version = WBP_PROTO_VERSION;
	h->node = (char *)s->name;
	h->resource = "r0";
	h->has_role = h->has_block_size = h->has_max_record_bytes = h->has_size = 1;
	h->role = s == &B ? WBREP__ROLE__ROLE_PRIMARY : WBREP__ROLE__ROLE_SECONDARY;
	h->block_size = 4096;
	h->max_record_bytes = s->max_record;
	h->size = 1ull << 30;
	h->has_data_uuid = 1;
	h->data_uuid.len = 16;
	h->data_uuid.data = uuid;
}

static int cb_hello_check(struct wbd_peerlink *l, const Wbrep__Hello *p,
			  const struct wbp_limits *lim, const char **why, void *arg)
{
	struct side *s = arg;

	snprintf(s->peer_seen, sizeof(s->peer_seen), "%s", p->node);
	s->agreed_max = lim->max_data;
	if (s->refuse_hello) {
		*why = "data generations diverged (split brain); resolve by hand";
		return -EPROTO;
	}
	return 0;
}

static void cb_state(struct wbd_peerlink *l, enum wbd_pl_state st, int err, void *arg)
{
	struct side *s = arg;

	if (st == WBD_PL_UP)
		s->ups++;
	else if (st == WBD_PL_CONNECTING)
		s->connecting++;
	else if (err)
		s->downs++, s->last_err = err;
}

static void cb_frame(struct wbd_peerlink *l, const struct wbp_msg *m, void *data, void *arg)
{
	struct side *s = arg;

	s->nframes++;
	if (wbd_peerlink_rx_buffered(l) > s->rx_max)
		s->rx_max = wbd_peerlink_rx_buffered(l);
	if (m->type == WBP_T_RECORD) {
		static uint8_t want[REC_BLOCKS * 4096];
		Wbrep__Ack a = WBREP__ACK__INIT;

		if (m->rec->seq != s->next_seq)
			s->bad++;
		s->next_seq = m->rec->seq + 1;
		s->mem_acked += wbd_peerlink_mem_acked(l);
		uint32_t np;
		struct wb_page **pg = wbd_peerlink_take_pages(l, &np);

		fill(want, m->data_len, m->rec->seq);
		if (pg) { /* cfg.pagebuf: data NULL, each page's crc set */
			s->paged++;
			if (data || np * 4096ull != m->data_len)
				s->bad++;
			for (uint32_t i = 0; i < np && !s->bad; i++)
				if (memcmp(pg[i]->data, want + (size_t)i * 4096, 4096) ||
				    !pg[i]->crc_ok || pg[i]->crc != wb_crc32c(0, pg[i]->data, 4096))
					s->bad++;
			wb_pagebuf_release(s->pb, pg, np);
			free(pg);
		} else if (m->data_len && memcmp(want, data, m->data_len)) {
			s->bad++;
		}
		s->bytes += m->data_len;
		if (s->ack_records) {
			a.seq = m->rec->seq;
			a.level = WBREP__ACK_LEVEL__ACK_DURABLE;
			if (wbd_peerlink_send(l, WBP_T_ACK, &a.base, NULL))
				s->bad++;
		}
	} else if (m->type == WBP_T_ACK && m->ack->level == WBREP__ACK_LEVEL__ACK_IN_MEMORY) {
		s->nmem++;
		if (m->ack->seq <= s->mem_seq)
			s->bad++;
		s->mem_seq = m->ack->seq;
	} else if (m->type == WBP_T_ACK) {
		s->nacks++;
		if (m->ack->seq != s->acked + 1 || m->ack->level != WBREP__ACK_LEVEL__ACK_DURABLE)
			s->bad++;
		s->acked = m->ack->seq;
	}
}

static void cb_writable(struct wbd_peerlink *l, void *arg)
{
	((struct side *)arg)->writable++;
}

static const struct wbd_peerlink_ops ops = {
    .hello = cb_hello,
    .hello_check = cb_hello_check,
    .state = cb_state,
    .frame = cb_frame,
    .writable = cb_writable,
};

static struct wbd_peerlisten *lis;
static uint16_t port;

static struct wbd_peerlink *lookup(const char *res, const char *node, void *arg)
{
	return !strcmp(res, "r0") && !strcmp(node, "beta") && A.l ? A.l : NULL;
}

static void cb_put(const void *data, size_t len, void *cookie)
{
	puts_called++;
	free((void *)data);
}

static struct wbd_peerlink_cfg cfg_base(struct side *s, const char *peer)
{
	struct wbd_peerlink_cfg c = {
	    .resource = "r0",
	    .local = s->name,
	    .peer = peer,
	    .ping_interval_ms = 200,
	    .ping_timeout_ms = 30000,
	    .backoff_min_ms = 20,
	    .backoff_max_ms = 200,
	    .ops = &ops,
	    .arg = s,
	};
	return c;
}

/* alpha passive behind a listener (tls_a for both), beta active (tls_b) */
static void setup_pair(SSL_CTX *tls_a, SSL_CTX *tls_b, struct wbd_peerlink_cfg *ca,
		       struct wbd_peerlink_cfg *cb)
{
	struct wbd_peerlink_cfg a = cfg_base(&A, "beta"), b = cfg_base(&B, "alpha");

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.name = "alpha";
	B.name = "beta";
	A.max_record = 1u << 20;
	B.max_record = REC_BLOCKS * 4096;
	A.next_seq = B.next_seq = 1;
	A.ack_records = true;
	puts_called = 0;
	log_reset();
	if (ca)
		a = *ca;
	if (cb)
		b = *cb;
	a.tls = tls_a;
	b.tls = tls_b;
	assert_int_equal(
	    wbd_peerlisten_new(base, "127.0.0.1", port, tls_a, NULL, lookup, NULL, &lis), 0);
	port = wbd_peerlisten_port(lis);
	assert_int_not_equal(port, 0);
	b.host = "127.0.0.1";
	b.port = port;
	if (threaded && skew) /* the next pick is loop 1 */
		while (wbd_ioloop_pick() != wbd_ioloop_nth(0))
			;
	assert_int_equal(wbd_peerlink_new(base, &a, &A.l), 0);
	if (threaded && skew) /* the listener hands the connection over */
		assert_ptr_not_equal(wbd_peerlink_loop(A.l), wbd_ioloop_nth(0));
	assert_int_equal(wbd_peerlink_new(base, &b, &B.l), 0);
	wbd_peerlink_start(A.l);
	wbd_peerlink_start(B.l);
}

static bool wait_for(bool (*pred)(void));

static bool all_released(void)
{
	return puts_called >= payloads_out;
}

/* Every payload handed to a link comes back (put) before the next test
 * counts its own: with io loops, releases of a freed link arrive later. */
static void teardown_pair(void)
{
	if (!lis && !A.l && !B.l)
		return;
	wbd_peerlink_free(B.l);
	wbd_peerlink_free(A.l);
	A.l = B.l = NULL;
	wbd_peerlisten_free(lis);
	lis = NULL;
	port = 0;
	assert_true(wait_for(all_released));
	payloads_out = 0;
}

static int teardown(void **state)
{
	teardown_pair();
	return 0;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static bool wait_for(bool (*pred)(void))
{
	time_t end = time(NULL) + DEADLINE_S;

	while (!pred()) {
		if (time(NULL) > end) {
			log_dump();
			return false;
		}
		event_base_loop(base, EVLOOP_ONCE);
	}
	return true;
}

/* payloads are released on the engine loop after the io loop let them go */
static int want_puts;
static bool puts_done(void)
{
	return puts_called >= want_puts;
}

static bool both_up(void)
{
	return wbd_peerlink_state(A.l) == WBD_PL_UP && wbd_peerlink_state(B.l) == WBD_PL_UP;
}

/* Separately allocated 4 KiB blocks, sent as segments (like an engine
 * record reference); released together by one put. */
struct blocks {
	uint32_t n;
	void *b[REC_BLOCKS];
};

static void cb_put_blocks(const void *data, size_t len, void *cookie)
{
	struct blocks *bl = cookie;

	puts_called++;
	if (data != bl->b[bl->n - 1] || len != 4096)
		B.bad++;
	for (uint32_t i = 0; i < bl->n; i++)
		free(bl->b[i]);
	free(bl);
}

static int send_rec_blocks(uint64_t seq, uint32_t n)
{
	Wbrep__RecordHeader r = WBREP__RECORD_HEADER__INIT;
	Wbrep__Extent e[2] = {WBREP__EXTENT__INIT, WBREP__EXTENT__INIT}, *ep[2] = {&e[0], &e[1]};
	struct blocks *bl = calloc(1, sizeof(*bl));
	struct wbd_payload p = {
	    .len = (size_t)n * 4096, .nsegs = n, .seg_len = 4096, .put = cb_put_blocks};
	uint8_t all[REC_BLOCKS * 4096];
	int rc;

	assert_non_null(bl);
	assert_true(n >= 2 && n <= REC_BLOCKS);
	fill(all, p.len, seq);
	bl->n = n;
	for (uint32_t i = 0; i < n; i++) {
		assert_non_null(bl->b[i] = malloc(4096));
		memcpy(bl->b[i], all + (size_t)i * 4096, 4096);
	}
	p.segs = (const void *const *)bl->b;
	p.cookie = bl;
	r.seq = seq;
	r.gen = 1 + seq / 10;
	e[0].lba = seq * 64;
	e[0].nblocks = 1;
	e[1].lba = seq * 64 + 10;
	e[1].nblocks = n - 1;
	if (with_crc) {
		e[0].has_crc = e[1].has_crc = 1;
		e[0].crc = wb_crc32c(0, all, 4096) ^ (seq == bad_seq);
		e[1].crc = wb_crc32c(0, all + 4096, (size_t)(n - 1) * 4096);
	}
	r.n_extents = 2;
	r.extents = ep;
	rc = wbd_peerlink_send(B.l, WBP_T_RECORD, &r.base, &p);
	if (rc)
		cb_put_blocks(bl->b[n - 1], 4096, bl), puts_called--;
	else
		payloads_out++;
	return rc;
}

static int send_rec(uint64_t seq, uint32_t blocks)
{
	Wbrep__RecordHeader r = WBREP__RECORD_HEADER__INIT;
	Wbrep__Extent e = WBREP__EXTENT__INIT, *ep = &e;
	struct wbd_payload p = {.len = (size_t)blocks * 4096, .put = cb_put};
	uint8_t *d = malloc(p.len);
	int rc;

	assert_non_null(d);
	fill(d, p.len, seq);
	p.data = d;
	r.seq = seq;
	r.gen = 1 + seq / 10;
	e.lba = seq * 64;
	e.nblocks = blocks;
	if (with_crc) {
		e.has_crc = 1;
		e.crc = wb_crc32c(0, d, p.len) ^ (seq == bad_seq);
	}
	r.n_extents = 1;
	r.extents = &ep;
	rc = wbd_peerlink_send(B.l, WBP_T_RECORD, &r.base, blocks ? &p : NULL);
	if (rc)
		free(d);
	else if (blocks)
		payloads_out++;
	return rc;
}

/* ---- tests ------------------------------------------------------------- */

static uint64_t want_acks;
static bool acks_done(void)
{
	return B.acked >= want_acks;
}

static void test_exchange(void **state)
{
	int n = 40;

	setup_pair(ctx_alpha, ctx_beta, NULL, NULL);
	assert_true(wait_for(both_up));
	assert_string_equal(A.peer_seen, "beta");
	assert_string_equal(B.peer_seen, "alpha");
	assert_int_equal(A.agreed_max, REC_BLOCKS * 4096); /* the smaller one */
	assert_int_equal(B.agreed_max, REC_BLOCKS * 4096);
	assert_int_equal(wbd_peerlink_limits(B.l)->dev_blocks, (1u << 30) / 4096);
	assert_string_equal(wbd_peerlink_peer_hello(B.l)->node, "alpha");
	for (int i = 1; i <= n; i++) {
		uint32_t nb = 2 + (uint32_t)(i * 13) % (REC_BLOCKS - 1);

		if (i % 2) /* odd: one buffer; even: separate blocks as segments */
			assert_int_equal(send_rec((uint64_t)i, nb), 0);
		else
			assert_int_equal(send_rec_blocks((uint64_t)i, nb), 0);
	}
	/* a record over the agreed size and an invalid one are refused */
	assert_int_equal(send_rec(41, REC_BLOCKS + 1), -EINVAL);
	assert_int_equal(send_rec(0, 1), -EINVAL);
	want_acks = (uint64_t)n;
	assert_true(wait_for(acks_done));
	assert_int_equal(A.nframes, n);
	assert_int_equal(A.bad, 0);
	assert_int_equal(B.bad, 0);
	assert_int_equal(A.next_seq, n + 1);
	want_puts = n;
	assert_true(wait_for(puts_done));
	assert_int_equal(puts_called, n);
	assert_true(log_has("up, TLS 1.3"));
	teardown_pair();
}

/* io loops: the passive link on another loop than the listener's, which
 * hands it the socket and TLS session after the hello (peerlisten.c) */
static void test_exchange_moved(void **state)
{
	skew = true;
	test_exchange(state);
	skew = false;
}

static bool b_timed_out(void)
{
	return B.last_err == -ETIMEDOUT;
}

static bool reconnected(void)
{
	return both_up() && B.ups >= 2 && A.ups >= 2;
}

static void test_ping_timeout(void **state)
{
	struct wbd_peerlink_cfg b = cfg_base(&B, "alpha");

	b.ping_interval_ms = 50;
	b.ping_timeout_ms = 600;
	setup_pair(ctx_alpha, ctx_beta, NULL, &b);
	assert_true(wait_for(both_up));
	wbd_peerlink_pause_rx(A.l, true); /* alpha stops answering */
	assert_true(wait_for(b_timed_out));
	assert_true(log_has("ping timeout"));
	assert_int_equal(A.downs, 0); /* the paused side does not blame its peer */
	wbd_peerlink_pause_rx(A.l, false);
	assert_true(wait_for(reconnected));
	teardown_pair();
}

static bool b_retrying(void)
{
	return B.connecting >= 4 && B.downs >= 3;
}

static bool one_frame(void)
{
	return A.nframes >= 1;
}

static void test_reconnect(void **state)
{
	setup_pair(ctx_alpha, ctx_beta, NULL, NULL);
	assert_true(wait_for(both_up));
	wbd_peerlisten_free(lis); /* the listener goes away ... */
	lis = NULL;
	wbd_peerlink_drop(A.l, -ECONNRESET, "test: listener restart");
	assert_true(wait_for(b_retrying)); /* ... beta keeps trying with backoff */
	assert_int_equal(wbd_peerlink_state(A.l), WBD_PL_IDLE);
	assert_true(log_has("reconnecting in"));
	assert_true(log_has("Connection refused"));
	assert_int_equal(
	    wbd_peerlisten_new(base, "127.0.0.1", port, ctx_alpha, NULL, lookup, NULL, &lis), 0);
	assert_true(wait_for(reconnected));
	assert_int_equal(send_rec(1, 3), 0);
	assert_true(wait_for(one_frame));
	assert_int_equal(A.bad, 0);
	teardown_pair();
}

static bool reconnected3(void)
{
	return both_up() && B.ups >= 3 && A.ups >= 3;
}

/* a role change's redo: the active side (beta) reconnects without its
 * backoff, and a later drop backs off from backoff_min_ms again */
static void test_redo(void **state)
{
	setup_pair(ctx_alpha, ctx_beta, NULL, NULL);
	assert_true(wait_for(both_up));
	wbd_peerlink_redo(B.l, "test: role change");
	assert_true(log_has("reconnecting in 0 ms"));
	assert_true(wait_for(reconnected));
	wbd_peerlink_drop(B.l, -ECONNRESET, "test: plain drop");
	assert_true(log_has("reconnecting in 20 ms"));
	assert_true(wait_for(reconnected3));
	assert_int_equal(send_rec(1, 3), 0);
	assert_true(wait_for(one_frame));
	assert_int_equal(A.bad, 0);
	teardown_pair();
}

/* a node moved (docs/configuration.md, "Changing an address"): the
 * active side (beta) drops its connection for the new address at once;
 * one waiting out its backoff tries the new address now; the passive
 * side and the same address change nothing */
static void test_readdress(void **state)
{
	struct wbd_peerlisten *lis2;
	char want[128];

	setup_pair(ctx_alpha, ctx_beta, NULL, NULL);
	assert_true(wait_for(both_up));
	assert_int_equal(wbd_peerlink_readdress(B.l, "127.0.0.1", port), 0);
	assert_int_equal(wbd_peerlink_readdress(A.l, "127.0.0.1", 1), 0);
	/* alpha moves: a listener on a new port, the old one closed (the
	 * connection that is up stays up) */
	assert_int_equal(
	    wbd_peerlisten_new(base, "127.0.0.1", 0, ctx_alpha, NULL, lookup, NULL, &lis2), 0);
	wbd_peerlisten_free(lis);
	lis = lis2;
	assert_int_equal(wbd_peerlink_readdress(B.l, "127.0.0.1", wbd_peerlisten_port(lis)), 1);
	snprintf(want, sizeof(want),
		 "its address changed from 127.0.0.1:%u to 127.0.0.1:%u: reconnecting", port,
		 wbd_peerlisten_port(lis));
	assert_true(wait_for(reconnected));
	assert_true(log_has(want));
	assert_true(log_has("reconnecting in 0 ms"));
	/* again, while beta backs off from a listener that went away */
	port = wbd_peerlisten_port(lis);
	wbd_peerlisten_free(lis);
	lis = NULL;
	wbd_peerlink_drop(B.l, -ECONNRESET, "test: alpha away");
	assert_true(wait_for(b_retrying));
	assert_int_equal(
	    wbd_peerlisten_new(base, "127.0.0.1", 0, ctx_alpha, NULL, lookup, NULL, &lis), 0);
	assert_int_equal(wbd_peerlink_readdress(B.l, "127.0.0.1", wbd_peerlisten_port(lis)), 1);
	/* "connecting now" from its backoff, or "reconnecting" when a try
	 * was in flight */
	snprintf(want, sizeof(want),
		 "its address changed from 127.0.0.1:%u to 127.0.0.1:%u: ", port,
		 wbd_peerlisten_port(lis));
	assert_true(wait_for(reconnected3));
	assert_true(log_has(want));
	assert_int_equal(send_rec(1, 3), 0);
	assert_true(wait_for(one_frame));
	assert_int_equal(A.bad, 0);
	teardown_pair();
}

static bool all_received(void)
{
	return A.next_seq > want_acks;
}

/* test_sndq_block: the step running, for failure messages */
static const char *sndq_step;

/* Fail naming the step, the link states and why beta's link went down,
 * with the log so far. */
static void sndq_fail(const char *what, int rc, uint64_t seq)
{
	log_dump();
	fail_msg("sndq-block, %s: %s (send rc %d at seq %llu; beta %s, %d down(s), last error "
		 "%d %s; alpha %s; %zu bytes queued; see the log above)",
		 sndq_step, what, rc, (unsigned long long)seq,
		 wbd_pl_state_name(wbd_peerlink_state(B.l)), B.downs, B.last_err,
		 B.last_err ? strerror(-B.last_err) : "",
		 wbd_pl_state_name(wbd_peerlink_state(A.l)), wbd_peerlink_queued(B.l));
}

/*
 * The send cap with congestion policy block: alpha stops reading, beta
 * sends until -EAGAIN and stays within the cap; alpha reads again, every
 * record arrives in order. Beta's pings are unanswered while alpha does
 * not read (they queue behind the records), so beta's ping timeout is out
 * of reach here: how long the stalled phase and the drain of its backlog
 * take depends on the machine's load (once more than 30 s under TSan at
 * load ~20 on one CPU), and the ping timeout is test_ping_timeout's
 * subject, not this test's.
 */
static void test_sndq_block(void **state)
{
	struct wbd_peerlink_cfg b = cfg_base(&B, "alpha");
	const size_t cap = 512u << 10;
	uint64_t seq = 1, total = 4096; /* 1 GiB: far more than socket buffers */
	int eagain = 0;

	b.sndq_max = cap;
	b.ping_timeout_ms = UINT32_MAX; /* ~49 days: see above */
	sndq_step = "link up";
	setup_pair(ctx_alpha, ctx_beta, NULL, &b);
	if (!wait_for(both_up))
		sndq_fail("the link did not come up", 0, 0);
	wbd_peerlink_pause_rx(A.l, true);
	sndq_step = "alpha not reading, beta sending until the queue is full";
	while (seq <= total) {
		int rc = send_rec(seq, REC_BLOCKS), w = B.writable;

		if (wbd_peerlink_queued(B.l) > cap)
			sndq_fail("more than the cap queued", rc, seq);
		if (B.downs)
			sndq_fail("beta's link went down", rc, seq);
		if (rc == 0) {
			seq++;
			continue;
		}
		if (rc != -EAGAIN)
			sndq_fail("a send failed otherwise than -EAGAIN", rc, seq);
		eagain++;
		/* give the loop 100 passes to drain into the socket; when the
		 * kernel buffers are full too, the producer stays blocked */
		for (int i = 0; i < 100 && B.writable == w; i++)
			event_base_loop(base, EVLOOP_NONBLOCK);
		if (B.writable == w)
			break;
	}
	if (!eagain || seq > total)
		sndq_fail("the stalled reader did not stop the producer", 0, seq);
	total = seq + 20; /* then 20 more once it reads again */
	wbd_peerlink_pause_rx(A.l, false);
	sndq_step = "alpha reading again, beta sending 20 more records";
	while (seq <= total) {
		int rc = send_rec(seq, REC_BLOCKS);

		if (wbd_peerlink_queued(B.l) > cap)
			sndq_fail("more than the cap queued", rc, seq);
		if (B.downs)
			sndq_fail("beta's link went down", rc, seq);
		if (rc == -EAGAIN) {
			event_base_loop(base, EVLOOP_ONCE);
			continue;
		}
		if (rc)
			sndq_fail("a send failed otherwise than -EAGAIN", rc, seq);
		seq++;
	}
	want_acks = total;
	sndq_step = "alpha receiving the backlog";
	if (!wait_for(all_received))
		sndq_fail("not every record arrived", 0, A.next_seq);
	if (B.downs)
		sndq_fail("beta's link went down", 0, A.next_seq);
	assert_int_equal(A.bad, 0);
	assert_int_equal(A.bytes, total * REC_BLOCKS * 4096);
	/* alpha read a backlog of many MiB: the receive cap held (frames
	 * waiting for the engine loop: below the cap + one frame) */
	assert_true(A.rx_max <= wbd_pl_rx_cap(wbd_peerlink_limits(A.l)) +
				    WBP_FRAME_MAX(wbd_peerlink_limits(A.l)));
	assert_true(B.writable > 0);
	want_puts = (int)total;
	sndq_step = "payloads released";
	if (!wait_for(puts_done))
		sndq_fail("not every payload was released", puts_called, (uint64_t)want_puts);
	teardown_pair();
	assert_int_equal(puts_called, (int)total);
}

static bool b_nobufs(void)
{
	return B.last_err == -ENOBUFS;
}

static void test_sndq_disconnect(void **state)
{
	struct wbd_peerlink_cfg b = cfg_base(&B, "alpha");
	const size_t cap = 512u << 10;
	uint64_t seq = 1;
	int rc = 0, sent = 0;

	b.sndq_max = cap;
	b.congestion = WBD_PL_CONG_DISCONNECT;
	setup_pair(ctx_alpha, ctx_beta, NULL, &b);
	assert_true(wait_for(both_up));
	wbd_peerlink_pause_rx(A.l, true);
	while (sent < 1000) {
		rc = send_rec(seq, REC_BLOCKS);
		if (rc)
			break;
		sent++;
		seq++;
		assert_true(wbd_peerlink_queued(B.l) <= cap);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_true(wait_for(b_nobufs)); /* the state follows from the io loop */
	assert_true(log_has("congestion policy disconnect"));
	want_puts = sent; /* dropped payloads are released too, from the loop */
	assert_true(wait_for(puts_done));
	assert_int_equal(puts_called, sent);
	wbd_peerlink_pause_rx(A.l, false);
	assert_true(wait_for(reconnected));
	teardown_pair();
}

static bool b_refused(void)
{
	return B.last_err == -ECONNREFUSED || B.downs >= 2;
}

static void test_hello_refused(void **state)
{
	setup_pair(ctx_alpha, ctx_beta, NULL, NULL);
	A.refuse_hello = true;
	assert_true(wait_for(b_refused));
	assert_int_equal(A.ups + B.ups, 0);
	assert_true(log_has("refused: data generations diverged"));
	assert_true(log_has("peer closed the link: data generations diverged"));
	teardown_pair();
}

/* A client with `ctx` never gets the link up; the log names `reason`. */
static void refused_case(SSL_CTX *srv, SSL_CTX *cli, const char *reason)
{
	setup_pair(srv, cli, NULL, NULL);
	if (!wait_for(b_refused))
		fail_msg("no refusal for '%s'", reason);
	for (int i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(A.ups + B.ups, 0);
	if (!log_has(reason)) {
		log_dump();
		fail_msg("log does not say '%s'", reason);
	}
	teardown_pair();
}

static void test_tls_refusals(void **state)
{
	refused_case(ctx_alpha, ctx_beta_expired, "certificate has expired");
	refused_case(ctx_alpha, ctx_beta_ca2, "unable to get local issuer certificate");
	refused_case(ctx_alpha, ctx_mallory, "does not name 'beta'");
	refused_case(ctx_alpha, ctx_nocert, "peer did not return a certificate");
	refused_case(ctx_alpha, NULL, "refused: TLS handshake failed");
	refused_case(ctx_alpha_expired, ctx_beta, "certificate has expired");
	/* a TLS client on a plain listener: not a hello */
	refused_case(NULL, ctx_beta, "first frame is not a hello");
}

static bool certs_seen(void)
{
	int64_t now = (int64_t)time(NULL);

	return wbd_peerlink_peer_cert_expiry(A.l) > now && wbd_peerlink_peer_cert_expiry(B.l) > now;
}

/* A reload's certificate rotation (daemon/tls.c): the strict load refuses
 * what peers would refuse, with the reason; a context put behind a handle
 * is what the next connections made from the handle present. */
static void test_tls_replace(void **state)
{
	char c[160], k[160], ka[160], a[160], err[512];
	SSL_CTX *h, *nw;
	struct wbd_tls_info ti;

	(void)state;
	snprintf(a, sizeof(a), "%s/ca.crt", dir);
	snprintf(ka, sizeof(ka), "%s/alpha.key", dir);
	snprintf(c, sizeof(c), "%s/beta_expired.crt", dir);
	snprintf(k, sizeof(k), "%s/beta_expired.key", dir);
	assert_int_equal(wbd_tls_ctx_load(c, k, a, true, &nw, err, sizeof(err)), -EKEYEXPIRED);
	assert_null(nw);
	assert_non_null(strstr(err, "has expired"));
	snprintf(c, sizeof(c), "%s/beta_future.crt", dir);
	snprintf(k, sizeof(k), "%s/beta_future.key", dir);
	assert_int_equal(wbd_tls_ctx_load(c, k, a, true, &nw, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, "not valid yet"));
	assert_int_equal(wbd_tls_ctx_load(c, ka, a, true, &nw, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tls-key does not match tls-cert"));
	/* a good beta behind the handle, then the expired one (loaded as at
	 * start: not strict) put behind it: the peer refuses what the handle
	 * makes now */
	h = mkctx("beta", "ca");
	assert_int_equal(wbd_tls_cert_info(h, &ti), 0);
	assert_non_null(strstr(ti.subject, "CN=beta"));
	assert_true(ti.not_after > (int64_t)time(NULL));
	snprintf(c, sizeof(c), "%s/beta_expired.crt", dir);
	snprintf(k, sizeof(k), "%s/beta_expired.key", dir);
	assert_int_equal(wbd_tls_ctx_load(c, k, a, false, &nw, err, sizeof(err)), 0);
	assert_int_equal(wbd_tls_ctx_replace(h, nw), 0);
	SSL_CTX_free(nw); /* the handle holds it */
	assert_int_equal(wbd_tls_cert_info(h, &ti), 0);
	assert_true(ti.not_after < (int64_t)time(NULL));
	refused_case(ctx_alpha, h, "certificate has expired");
	/* the good one again; a loaded context is no handle */
	snprintf(c, sizeof(c), "%s/beta.crt", dir);
	snprintf(k, sizeof(k), "%s/beta.key", dir);
	assert_int_equal(wbd_tls_ctx_load(c, k, a, true, &nw, err, sizeof(err)), 0);
	assert_int_equal(wbd_tls_ctx_replace(nw, h), -EINVAL);
	assert_int_equal(wbd_tls_ctx_replace(h, nw), 0);
	SSL_CTX_free(nw);
	setup_pair(ctx_alpha, h, NULL, NULL);
	assert_true(wait_for(both_up));
	/* each side keeps when the other's certificate expires (status) */
	assert_true(wait_for(certs_seen));
	teardown_pair();
	SSL_CTX_free(h);
}

static int raw_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static const char *want_log;
static bool logged(void)
{
	return log_has(want_log);
}

static void raw_hello(int fd, const char *res)
{
	Wbrep__Hello h = WBREP__HELLO__INIT;
	struct wbp_limits pre;
	const char *why;
	uint8_t *buf;
	size_t len;

	wbp_limits_init(&pre);
	cb_hello(NULL, &h, &B);
	h.resource = (char *)res;
	assert_int_equal(wbp_pack(WBP_T_HELLO, &h.base, 0, &pre, &buf, &len, &why), 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	free(buf);
}

static bool a_up(void)
{
	return wbd_peerlink_state(A.l) == WBD_PL_UP;
}

static void test_plain_malformed(void **state)
{
	struct wbp_hdr h = {.version = 1, .type = WBP_T_RECORD, .msg_len = 2};
	uint8_t hb[WBP_HDR_SIZE];
	int fd, fds[33];

	setup_pair(NULL, NULL, NULL, NULL);
	assert_true(wait_for(both_up));
	assert_true(log_has("up, plain TCP"));
	wbd_peerlink_stop(B.l); /* the raw client plays beta from here */
	/* garbage */
	fd = raw_connect();
	assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n\r\n", 20), 20);
	want_log = "first frame is not a hello: bad magic";
	assert_true(wait_for(logged));
	close(fd);
	/* a hello for a resource nobody has */
	fd = raw_connect();
	raw_hello(fd, "r9");
	want_log = "no link for resource r9 with node beta";
	assert_true(wait_for(logged));
	close(fd);
	/* a valid hello, then a record header over the agreed size */
	fd = raw_connect();
	raw_hello(fd, "r0");
	assert_true(wait_for(a_up));
	h.data_len = REC_BLOCKS * 4096 + 4096;
	wbp_hdr_encode(hb, &h);
	assert_int_equal(write(fd, hb, sizeof(hb)), (ssize_t)sizeof(hb));
	want_log = "bad frame header (type 2): frame longer than allowed";
	assert_true(wait_for(logged));
	assert_int_equal(A.nframes, 0);
	close(fd);
	/* connections that never send a hello: at most 32 wait */
	for (int i = 0; i < 33; i++) {
		fds[i] = raw_connect();
		for (int k = 0; k < 5; k++)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	want_log = "refused: 32 connections already wait for their hello";
	assert_true(wait_for(logged));
	for (int i = 0; i < 33; i++)
		close(fds[i]);
	teardown_pair();
}

static bool a_refused_crc(void)
{
	return log_has_now("data crc mismatch") && B.last_err == -ECONNREFUSED;
}

/*
 * Record payloads into RAM-buffer pages (cfg.pagebuf, what a secondary's
 * links do for its engine, ABI 10): delivered in pages with each page's
 * crc set, the data intact; a record whose data does not match its extent
 * crc is refused on the link's io loop (error frame to the sender) and the
 * frame callback never sees it; every page is back in the buffer at the
 * end. Then a buffer too small for a record: the payload comes in a
 * buffer of its own, as without pages.
 */
static void test_pages(void **state)
{
	struct wb_pagebuf *pb;
	struct wbd_peerlink_cfg a = cfg_base(&A, "beta");
	int n = 12;

	assert_int_equal(wb_pagebuf_create(4 * REC_BLOCKS, &pb), 0);
	a.pagebuf = pb;
	with_crc = true;
	bad_seq = (uint64_t)n + 1;
	setup_pair(ctx_alpha, ctx_beta, &a, NULL);
	A.pb = pb;
	assert_true(wait_for(both_up));
	for (int i = 1; i <= n; i++) {
		uint32_t nb = 2 + (uint32_t)(i * 13) % (REC_BLOCKS - 1);

		if (i % 2)
			assert_int_equal(send_rec((uint64_t)i, nb), 0);
		else
			assert_int_equal(send_rec_blocks((uint64_t)i, nb), 0);
	}
	want_acks = (uint64_t)n;
	assert_true(wait_for(acks_done));
	assert_int_equal(A.nframes, n);
	assert_int_equal(A.paged, n);
	assert_int_equal(A.bad, 0);
	/* data crc wrong: refused before the frame callback */
	assert_int_equal(send_rec(bad_seq, 3), 0);
	assert_true(wait_for(a_refused_crc));
	assert_true(log_has("record 13 refused: extent 0: data crc mismatch"));
	assert_int_equal(A.nframes, n);
	teardown_pair();
	assert_int_equal(wb_pagebuf_free(pb), wb_pagebuf_total(pb));

	/* no room in the buffer: a buffer of its own */
	wb_pagebuf_destroy(pb);
	assert_int_equal(wb_pagebuf_create(1, &pb), 0);
	a.pagebuf = pb;
	bad_seq = 0;
	setup_pair(ctx_alpha, ctx_beta, &a, NULL);
	A.pb = pb;
	assert_true(wait_for(both_up));
	assert_int_equal(send_rec(1, 4), 0);
	assert_int_equal(send_rec(2, 1), 0); /* fits: in the page */
	want_acks = 2;
	assert_true(wait_for(acks_done));
	assert_int_equal(A.nframes, 2);
	assert_int_equal(A.paged, 1);
	assert_int_equal(A.bad, 0);
	teardown_pair();
	with_crc = false;
	assert_int_equal(wb_pagebuf_free(pb), wb_pagebuf_total(pb));
	wb_pagebuf_destroy(pb); /* the links' references are gone: frees it */
}

/* The same links with their cores on two io loops (the daemon's way):
 * the engine loop is this thread's base. */
static bool b_three_mem(void)
{
	return B.nmem >= 3;
}

static bool a_five(void)
{
	return A.nframes >= 5;
}

/* a secondary's IN_MEMORY acks from the io loop (wbd_peerlink_set_mem_acks):
 * a record whose data is in pages and checked is acked there, before the
 * frame callback (which sees wbd_peerlink_mem_acked); none when off, none
 * for a record in a buffer of its own (no page free) */
static void test_mem_acks(void **state)
{
	struct wb_pagebuf *pb;
	struct wbd_peerlink_cfg a = cfg_base(&A, "beta");

	assert_int_equal(wb_pagebuf_create(6, &pb), 0); /* three records of 2 */
	a.pagebuf = pb;
	with_crc = true;
	bad_seq = 0;
	setup_pair(ctx_alpha, ctx_beta, &a, NULL);
	A.pb = pb;
	A.ack_records = false; /* alpha's engine side acks nothing itself */
	assert_true(wait_for(both_up));
	wbd_peerlink_set_mem_acks(A.l, true);
	for (uint64_t i = 1; i <= 3; i++)
		assert_int_equal(send_rec(i, 2), 0);
	assert_true(wait_for(b_three_mem));
	assert_int_equal(B.mem_seq, 3);
	assert_int_equal(A.mem_acked, 3);
	assert_int_equal(A.paged, 3);
	assert_int_equal(send_rec(4, 7), 0); /* more than 6 pages: a buffer of its own */
	wbd_peerlink_set_mem_acks(A.l, false);
	assert_int_equal(send_rec(5, 2), 0);
	assert_true(wait_for(a_five));
	assert_int_equal(A.mem_acked, 3);
	assert_int_equal(A.paged, 4);
	assert_int_equal(B.nmem, 3);
	assert_int_equal(B.acked, 0);
	assert_int_equal(A.bad + B.bad, 0);
	teardown_pair();
	with_crc = false;
	assert_int_equal(wb_pagebuf_free(pb), wb_pagebuf_total(pb));
	wb_pagebuf_destroy(pb);
}

static int io_setup(void **state)
{
	threaded = true;
	return wbd_ioloop_start(base, 2);
}

static int io_teardown(void **state)
{
	wbd_ioloop_stop(); /* runs what is still queued, here */
	threaded = false;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_exchange, teardown),
	    cmocka_unit_test_teardown(test_ping_timeout, teardown),
	    cmocka_unit_test_teardown(test_reconnect, teardown),
	    cmocka_unit_test_teardown(test_redo, teardown),
	    cmocka_unit_test_teardown(test_readdress, teardown),
	    cmocka_unit_test_teardown(test_sndq_block, teardown),
	    cmocka_unit_test_teardown(test_sndq_disconnect, teardown),
	    cmocka_unit_test_teardown(test_hello_refused, teardown),
	    cmocka_unit_test_teardown(test_tls_refusals, teardown),
	    cmocka_unit_test_teardown(test_tls_replace, teardown),
	    cmocka_unit_test_teardown(test_plain_malformed, teardown),
	    cmocka_unit_test_teardown(test_pages, teardown),
	    cmocka_unit_test_teardown(test_mem_acks, teardown),
	};
	const struct CMUnitTest io_tests[] = {
	    cmocka_unit_test_teardown(test_exchange, teardown),
	    cmocka_unit_test_teardown(test_exchange_moved, teardown),
	    cmocka_unit_test_teardown(test_ping_timeout, teardown),
	    cmocka_unit_test_teardown(test_redo, teardown),
	    cmocka_unit_test_teardown(test_readdress, teardown),
	    cmocka_unit_test_teardown(test_sndq_block, teardown),
	    cmocka_unit_test_teardown(test_sndq_disconnect, teardown),
	    cmocka_unit_test_teardown(test_hello_refused, teardown),
	    cmocka_unit_test_teardown(test_pages, teardown),
	    cmocka_unit_test_teardown(test_mem_acks, teardown),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN); /* as wbrepd does (daemon/main.c) */
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	wbd_log_setup(WBD_LOG_STDERR, WB_LOG_DEBUG);
	wbd_log_set_hook(log_hook, NULL);
	make_certs();
	ctx_alpha = mkctx("alpha", "ca");
	ctx_beta = mkctx("beta", "ca");
	ctx_beta_expired = mkctx("beta_expired", "ca");
	ctx_beta_ca2 = mkctx("beta_ca2", "ca");
	ctx_mallory = mkctx("mallory", "ca");
	ctx_nocert = mkctx(NULL, "ca");
	ctx_alpha_expired = mkctx("alpha_expired", "ca");
	base = event_base_new();
	{
		struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
		struct timeval tv = {0, 20000};

		event_add(tick, &tv);
		rc = cmocka_run_group_tests(tests, NULL, NULL);
		rc |= cmocka_run_group_tests_name("io_loops", io_tests, io_setup, io_teardown);
		event_free(tick);
	}
	event_base_free(base);
	SSL_CTX_free(ctx_alpha);
	SSL_CTX_free(ctx_beta);
	SSL_CTX_free(ctx_beta_expired);
	SSL_CTX_free(ctx_beta_ca2);
	SSL_CTX_free(ctx_mallory);
	SSL_CTX_free(ctx_nocert);
	SSL_CTX_free(ctx_alpha_expired);
	if (!rc) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			return 1;
	}
	return rc;
}
