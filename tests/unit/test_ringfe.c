// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_ringfe.c - unit tests of daemon/ringfe.c (the ring frontend of
 * wbrepd) against tests/ringsim (the kernel side of the ring in userspace)
 * with the "ram" engine: read/write/flush/FUA/discard/write-zeroes round
 * trips through the shared slots, REISSUE after the daemon went away and a
 * new session attached, malformed SQEs (bad op, length over the slot, sector
 * beyond the device, unaligned, bad flags, wrong data offset, bad tag,
 * duplicate tag), a runaway SQ tail, the kernel fencing a session on a
 * garbage CQE, and a bad geometry. Also the parser wbd_ringfe_parse_sqe(),
 * a close while an engine still holds requests (the frontend and the
 * mapped slots live until the last one completes), and the replication
 * gate: writes refused before the engine when not writable, completions of
 * writes and flushes held until released (reads never), failed reads
 * offered to reread (passthrough over the fault backend).
 *
 * The tests drive ringfe by hand (process, engine run, flush = kick = reap)
 * in bounded loops, without io loops; test_io_loop runs the rings on an io
 * loop (daemon/ioloop.c) as wbrepd does: payloads reach the engine in its
 * RAM-buffer pages with their crcs (or with crcs only when no page is
 * free), completions come back, and the transport is released on the io
 * loop after close. Linked with libwbringsim.a by tests/ringsim/module.mk;
 * also built and run under ThreadSanitizer (make test, build-tsan/).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "daemon/ioloop.h"
#include "daemon/ringfe.h"
#include "engine/io.h"
#include "engine/pagebuf.h"
#include "engine/wbengine.h"
#include "tests/ringsim/ringsim.h"

#define NSLOTS	  8u
#define SLOT_SIZE (16u * 1024u)
#define DEV_BYTES (1024u * 1024u)
#define BS	  4096u

struct fx {
	struct ringsim *rs;
	struct wb_engine *e;
	struct wbd_ringfe *fe;
};

static void quiet(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

static int setup(void **state)
{
	struct ringsim_params p = {NSLOTS, SLOT_SIZE, DEV_BYTES / 512};
	struct wb_engine_params ep = {.name = "t", .size = DEV_BYTES};
	struct wbd_ringfe_transport t;
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	wb_msg_set_sink(quiet, NULL, WB_LOG_DEBUG);
	assert_int_equal(ringsim_create(&p, &f->rs), 0);
	assert_int_equal(wb_engine_open("ram", &ep, &f->e), 0);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	wbd_ringfe_close(f->fe);
	ringsim_destroy(f->rs);
	wb_engine_close(f->e);
	wb_msg_set_sink(NULL, NULL, WB_LOG_INFO);
	free(f);
	return 0;
}

/* Run frontend + engine + reap until nothing moves (bounded). */
static void pump(struct fx *f)
{
	for (int i = 0; i < 50; i++) {
		int a = wbd_ringfe_process(f->fe);
		int b = wb_engine_run(f->e, 0);

		wbd_ringfe_flush(f->fe);
		if (a <= 0 && b <= 0 && i > 2)
			break;
	}
}

static void fill(uint8_t *p, uint32_t len, uint64_t off, uint8_t stamp)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)((off + i) * 131u + stamp);
}

static void io_init(struct ringsim_io *io, uint8_t op, uint16_t flags, uint64_t off, uint32_t len,
		    void *buf)
{
	memset(io, 0, sizeof(*io));
	io->op = op;
	io->flags = flags;
	io->sector = off / 512;
	io->len = len;
	io->buf = buf;
}

static void do_io(struct fx *f, uint8_t op, uint16_t flags, uint64_t off, uint32_t len, void *buf,
		  int want)
{
	struct ringsim_io io;

	io_init(&io, op, flags, off, len, buf);
	ringsim_queue(f->rs, &io);
	pump(f);
	assert_true(io.done);
	assert_int_equal(io.result, want);
}

static void test_read_write(void **state)
{
	struct fx *f = *state;
	uint8_t w[3 * BS], r[3 * BS];
	struct wbd_ringfe_stats st;

	fill(w, sizeof(w), 8192, 7);
	do_io(f, WBREP_OP_WRITE, 0, 8192, sizeof(w), w, 0);
	memset(r, 0xee, sizeof(r));
	do_io(f, WBREP_OP_READ, 0, 8192, sizeof(r), r, 0);
	assert_memory_equal(r, w, sizeof(w));
	/* a full slot, last blocks of the device */
	{
		static uint8_t big[SLOT_SIZE], back[SLOT_SIZE];

		fill(big, sizeof(big), DEV_BYTES - SLOT_SIZE, 9);
		do_io(f, WBREP_OP_WRITE, 0, DEV_BYTES - SLOT_SIZE, SLOT_SIZE, big, 0);
		do_io(f, WBREP_OP_READ, 0, DEV_BYTES - SLOT_SIZE, SLOT_SIZE, back, 0);
		assert_memory_equal(back, big, SLOT_SIZE);
	}
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.writes, 2);
	assert_int_equal(st.reads, 2);
	assert_int_equal(st.completed, 4);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.inflight, 0);
}

static void test_flush_fua_discard(void **state)
{
	struct fx *f = *state;
	uint8_t w[2 * BS], r[2 * BS], z[2 * BS] = {0};
	struct wbd_ringfe_stats st;

	fill(w, sizeof(w), 0, 3);
	do_io(f, WBREP_OP_WRITE, WBREP_F_FUA, 0, sizeof(w), w, 0);
	do_io(f, WBREP_OP_FLUSH, 0, 0, 0, NULL, 0);
	do_io(f, WBREP_OP_WRITE, WBREP_F_PREFLUSH | WBREP_F_FUA, 2 * BS, sizeof(w), w, 0);
	do_io(f, WBREP_OP_READ, 0, 2 * BS, sizeof(r), r, 0);
	assert_memory_equal(r, w, sizeof(w));
	do_io(f, WBREP_OP_DISCARD, 0, 0, sizeof(w), NULL, 0);
	do_io(f, WBREP_OP_READ, 0, 0, sizeof(r), r, 0);
	assert_memory_equal(r, z, sizeof(z));
	do_io(f, WBREP_OP_WRITE_ZEROES, 0, 2 * BS, BS, NULL, 0);
	do_io(f, WBREP_OP_READ, 0, 2 * BS, sizeof(r), r, 0);
	assert_memory_equal(r, z, BS);
	assert_memory_equal(r + BS, w + BS, BS);
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.flushes, 1);
	assert_int_equal(st.fua, 2);
	assert_int_equal(st.preflush, 1);
	assert_int_equal(st.discards, 1);
	assert_int_equal(st.write_zeroes, 1);
	assert_int_equal(st.errors, 0);
}

/* More requests than slots: the ring recycles slots and generations. */
static void test_queue_deeper_than_ring(void **state)
{
	struct fx *f = *state;
	enum { N = 3 * NSLOTS };
	static uint8_t bufs[N][BS], back[BS];
	struct ringsim_io io[N];
	struct ringsim_stats st;

	for (int i = 0; i < N; i++) {
		fill(bufs[i], BS, (uint64_t)i * BS, 11);
		io_init(&io[i], WBREP_OP_WRITE, 0, (uint64_t)i * BS, BS, bufs[i]);
		ringsim_queue(f->rs, &io[i]);
	}
	ringsim_get_stats(f->rs, &st);
	assert_int_equal(st.inflight, NSLOTS);
	assert_int_equal(st.pending, N - NSLOTS);
	pump(f);
	for (int i = 0; i < N; i++) {
		assert_true(io[i].done);
		assert_int_equal(io[i].result, 0);
		assert_int_equal(io[i].posts, 1);
	}
	for (int i = 0; i < N; i++) {
		do_io(f, WBREP_OP_READ, 0, (uint64_t)i * BS, BS, back, 0);
		assert_memory_equal(back, bufs[i], BS);
	}
}

/* Daemon dies with requests in its hands; the next session gets them again
 * with REISSUE and the application sees success. */
static void test_reissue_after_reattach(void **state)
{
	struct fx *f = *state;
	enum { N = 5 };
	static uint8_t bufs[N][BS], back[BS];
	struct wbd_ringfe_transport t;
	struct ringsim_io io[N];
	struct wbd_ringfe_stats fst;
	struct ringsim_stats st;

	for (int i = 0; i < N; i++) {
		fill(bufs[i], BS, (uint64_t)i * BS, 21);
		io_init(&io[i], WBREP_OP_WRITE, WBREP_F_FUA, (uint64_t)(i + 40) * BS, BS, bufs[i]);
		ringsim_queue(f->rs, &io[i]);
	}
	/* the daemon took the SQEs but crashed before completing them */
	assert_int_equal(wbd_ringfe_process(f->fe), N);
	ringsim_detach(f->rs);
	wbd_ringfe_close(f->fe); /* its late CQEs go to a dead session */
	f->fe = NULL;
	for (int i = 0; i < N; i++)
		assert_false(io[i].done);
	ringsim_get_stats(f->rs, &st);
	assert_int_equal(st.pending, N);
	assert_int_equal(st.session, 0);

	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(t.geo.reissued, N);
	assert_int_equal(t.geo.session, 2);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
	pump(f);
	for (int i = 0; i < N; i++) {
		assert_true(io[i].done);
		assert_int_equal(io[i].result, 0);
		assert_int_equal(io[i].posts, 2);
	}
	wbd_ringfe_get_stats(f->fe, &fst);
	assert_int_equal(fst.reissued, N);
	ringsim_get_stats(f->rs, &st);
	assert_int_equal(st.reissued, N);
	assert_int_equal(st.fences, 0);
	for (int i = 0; i < N; i++) {
		do_io(f, WBREP_OP_READ, 0, (uint64_t)(i + 40) * BS, BS, back, 0);
		assert_memory_equal(back, bufs[i], BS);
	}
}

/* An engine that holds every request until the test completes it. */
struct hold_eng {
	struct wb_engine eng;
	struct wb_req *held[NSLOTS];
	int n;
};

static int hold_submit(struct wb_engine *e, struct wb_req *r)
{
	struct hold_eng *h = (struct hold_eng *)e;

	assert_true(h->n < (int)NSLOTS);
	h->held[h->n++] = r;
	return 0;
}

static int hold_run(struct wb_engine *e, int wait)
{
	(void)e;
	(void)wait;
	return 0;
}

static const struct wb_engine_ops hold_ops = {
    .abi_version = WB_ENGINE_ABI_VERSION,
    .name = "hold",
    .submit = hold_submit,
    .run = hold_run,
};

static struct wbd_ringfe_transport released_t;
static int released;

static void count_release(void *ctx)
{
	(void)ctx;
	released++;
	released_t.release(released_t.ctx);
}

/* Close while the engine holds 3 requests: nothing of the frontend or the
 * transport's mappings goes before the last completion (ASan in SAN=1 sees
 * a use after free; here: release runs exactly then), and the completions
 * still reach the producer. */
static void test_close_with_requests_in_flight(void **state)
{
	struct fx *f = *state;
	struct hold_eng h = {.eng = {.ops = &hold_ops, .name = "hold"}};
	static uint8_t bufs[3][BS];
	struct wbd_ringfe_transport t;
	struct ringsim_io io[3];
	struct wbd_ringfe *fe;

	wbd_ringfe_close(f->fe); /* the fixture's frontend, on the ram engine */
	f->fe = NULL;
	ringsim_detach(f->rs);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	released_t = t;
	released = 0;
	t.release = count_release;
	assert_int_equal(wbd_ringfe_open(NULL, &t, &h.eng, &fe), 0);
	for (int i = 0; i < 3; i++) {
		fill(bufs[i], BS, (uint64_t)i * BS, 5);
		io_init(&io[i], WBREP_OP_WRITE, 0, (uint64_t)i * BS, BS, bufs[i]);
		ringsim_queue(f->rs, &io[i]);
	}
	assert_int_equal(wbd_ringfe_process(fe), 3);
	assert_int_equal(h.n, 3);
	/* the engine's buffers point into the mapped data slots */
	assert_memory_equal(h.held[2]->buf, bufs[2], BS);
	wbd_ringfe_close(fe);
	assert_int_equal(released, 0);
	h.held[0]->done(h.held[0], 0);
	h.held[1]->done(h.held[1], -EIO);
	assert_int_equal(released, 0);
	assert_memory_equal(h.held[2]->buf, bufs[2], BS); /* still mapped */
	h.held[2]->done(h.held[2], 0);
	assert_int_equal(released, 1);
	for (int i = 0; i < 3; i++)
		assert_true(io[i].done);
	assert_int_equal(io[0].result, 0);
	assert_int_equal(io[1].result, -EIO);
	assert_int_equal(io[2].result, 0);
	/* the fixture's teardown closes f->fe: give it a fresh one */
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
}

/* An engine with a RAM buffer (op pagebuf) that keeps what it is given in
 * a flat "disk" and checks how the frontend handed each write over. */
struct page_eng {
	struct wb_engine eng;
	struct wb_pagebuf *pb;
	struct wb_req *held[NSLOTS];
	int n;
	int paged, crcs_only, plain, bad;
	uint8_t disk[DEV_BYTES];
};

static struct wb_pagebuf *pe_pagebuf(struct wb_engine *e)
{
	return ((struct page_eng *)e)->pb;
}

static int pe_submit(struct wb_engine *e, struct wb_req *r)
{
	struct page_eng *pe = (struct page_eng *)e;
	uint32_t nb = r->len / BS;

	if (r->op == WB_REQ_WRITE && r->pages) {
		pe->paged++;
		if (r->buf)
			pe->bad++;
		for (uint32_t i = 0; i < nb; i++) {
			if (!r->pages[i]->crc_ok ||
			    r->pages[i]->crc != wb_crc32c(0, r->pages[i]->data, BS))
				pe->bad++;
			memcpy(pe->disk + r->off + i * BS, r->pages[i]->data, BS);
		}
	} else if (r->op == WB_REQ_WRITE) {
		if (r->crcs)
			pe->crcs_only++;
		else
			pe->plain++;
		for (uint32_t i = 0; r->crcs && i < nb; i++)
			if (r->crcs[i] != wb_crc32c(0, (uint8_t *)r->buf + i * BS, BS))
				pe->bad++;
		memcpy(pe->disk + r->off, r->buf, r->len);
	} else if (r->op == WB_REQ_READ) {
		memcpy(r->buf, pe->disk + r->off, r->len);
	}
	if (pe->n >= (int)NSLOTS)
		return -EBUSY;
	pe->held[pe->n++] = r;
	return 0;
}

static int pe_run(struct wb_engine *e, int wait)
{
	struct page_eng *pe = (struct page_eng *)e;
	int n = pe->n;

	(void)wait;
	pe->n = 0;
	for (int i = 0; i < n; i++) {
		struct wb_req *r = pe->held[i];

		if (r->op == WB_REQ_WRITE && r->pages) /* the engine owns them */
			wb_pagebuf_release(pe->pb, r->pages, r->len / BS);
		r->done(r, 0);
	}
	return n;
}

static const struct wb_engine_ops pe_ops = {
    .abi_version = WB_ENGINE_ABI_VERSION,
    .name = "pages",
    .submit = pe_submit,
    .run = pe_run,
    .pagebuf = pe_pagebuf,
};

static _Atomic int io_ended;

static void count_end(struct ringsim_io *io)
{
	(void)io;
	atomic_fetch_add(&io_ended, 1);
}

static _Atomic int released_io;

static void count_release_io(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&released_io, 1);
	released_t.release(released_t.ctx);
}

/* Engine loop of the test: events (the io loops' messages), engine runs,
 * until n requests ended or the transport was released (bounded). */
static void io_pump(struct event_base *base, struct page_eng *pe, int n, int want_release)
{
	for (int i = 0; i < 200000; i++) {
		if (n && atomic_load(&io_ended) >= n)
			return;
		if (want_release && atomic_load(&released_io))
			return;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (!pe_run(&pe->eng, 0))
			usleep(50);
	}
}

static void test_io_loop(void **state)
{
	struct fx *f = *state;
	static struct page_eng pe;
	enum { N = 6, NPG = 64 };
	static uint8_t bufs[N][4 * BS], back[4 * BS];
	struct wb_page *hog[NPG];
	struct wbd_ringfe_transport t;
	struct ringsim_io io[N + 2];
	struct wbd_ringfe_stats st;
	struct event_base *base;
	struct wbd_ringfe *fe;

	memset(&pe, 0, sizeof(pe));
	pe.eng.ops = &pe_ops;
	snprintf(pe.eng.name, sizeof(pe.eng.name), "pages");
	assert_int_equal(wb_pagebuf_create(NPG, &pe.pb), 0);
	assert_int_equal(evthread_use_pthreads(), 0);
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(wbd_ioloop_start(base, 1), 0);

	wbd_ringfe_close(f->fe); /* the fixture's, without io loops */
	f->fe = NULL;
	ringsim_detach(f->rs);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	released_t = t;
	atomic_store(&released_io, 0);
	t.release = count_release_io;
	assert_int_equal(wbd_ringfe_open(base, &t, &pe.eng, &fe), 0);

	/* N writes of 1..4 blocks: each in RAM-buffer pages, checksummed */
	atomic_store(&io_ended, 0);
	for (int i = 0; i < N; i++) {
		uint32_t len = (uint32_t)(i % 4 + 1) * BS;

		fill(bufs[i], len, (uint64_t)i * 4 * BS, 9);
		io_init(&io[i], WBREP_OP_WRITE, 0, (uint64_t)i * 4 * BS, len, bufs[i]);
		io[i].end = count_end;
		ringsim_queue(f->rs, &io[i]);
	}
	io_pump(base, &pe, N, 0);
	assert_int_equal(atomic_load(&io_ended), N);
	for (int i = 0; i < N; i++)
		assert_int_equal(io[i].result, 0);
	assert_int_equal(pe.paged, N);
	assert_int_equal(pe.crcs_only + pe.plain + pe.bad, 0);
	for (int i = 0; i < N; i++)
		assert_memory_equal(pe.disk + i * 4 * BS, bufs[i], (i % 4 + 1) * BS);
	assert_int_equal(wb_pagebuf_free(pe.pb), NPG); /* every page came back */

	/* no page free: the payload goes with its crcs, the engine copies */
	assert_int_equal(wb_pagebuf_reserve(pe.pb, NPG, hog), 0);
	fill(bufs[0], 2 * BS, 0, 77);
	io_init(&io[N], WBREP_OP_WRITE, 0, 0, 2 * BS, bufs[0]);
	io[N].end = count_end;
	ringsim_queue(f->rs, &io[N]);
	io_pump(base, &pe, N + 1, 0);
	assert_int_equal(io[N].result, 0);
	assert_int_equal(pe.crcs_only, 1);
	assert_int_equal(pe.bad, 0);
	wb_pagebuf_release(pe.pb, hog, NPG);

	/* a read back through the shared slot */
	io_init(&io[N + 1], WBREP_OP_READ, 0, 0, 2 * BS, back);
	io[N + 1].end = count_end;
	ringsim_queue(f->rs, &io[N + 1]);
	io_pump(base, &pe, N + 2, 0);
	assert_int_equal(io[N + 1].result, 0);
	assert_memory_equal(back, bufs[0], 2 * BS);

	wbd_ringfe_get_stats(fe, &st);
	assert_int_equal(st.writes, N + 1);
	assert_int_equal(st.paged, N);
	assert_int_equal(st.completed, N + 2);
	assert_int_equal(st.inflight, 0);

	/* close: the io loop releases the transport */
	wbd_ringfe_close(fe);
	io_pump(base, &pe, 0, 1);
	assert_int_equal(atomic_load(&released_io), 1);
	wbd_ioloop_stop();
	event_base_free(base);
	wb_pagebuf_destroy(pe.pb);
	/* the fixture's teardown closes f->fe: give it a fresh one */
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
}

struct mangle {
	int kind;
	uint64_t tag;
};

enum {
	M_OP,
	M_LEN_OVER_SLOT,
	M_SECTOR_BEYOND,
	M_LEN_BEYOND,
	M_UNALIGNED,
	M_FLAGS,
	M_DATA_OFF,
	M_FLUSH_LEN,
	M_ZERO_LEN,
	M_SECTOR_HUGE,
	M_BAD_TAG,
	M_DUP_TAG,
};

static void mangle_fn(struct wbrep_sqe *sqe, void *arg)
{
	struct mangle *m = arg;

	switch (m->kind) {
	case M_OP:
		sqe->op = 9;
		break;
	case M_LEN_OVER_SLOT:
		sqe->len = SLOT_SIZE + BS;
		break;
	case M_SECTOR_BEYOND:
		sqe->sector = DEV_BYTES / 512;
		break;
	case M_LEN_BEYOND:
		sqe->sector = (DEV_BYTES - BS) / 512;
		sqe->len = 2 * BS;
		break;
	case M_UNALIGNED:
		sqe->sector = 3;
		break;
	case M_FLAGS:
		sqe->flags |= 0x80;
		break;
	case M_DATA_OFF:
		sqe->data_off += SLOT_SIZE;
		break;
	case M_FLUSH_LEN:
		sqe->op = WBREP_OP_FLUSH;
		sqe->len = BS;
		break;
	case M_ZERO_LEN:
		sqe->len = 0;
		break;
	case M_SECTOR_HUGE:
		sqe->sector = UINT64_MAX - 7;
		break;
	case M_BAD_TAG:
		sqe->tag = wbrep_tag(NSLOTS + 5, 1);
		break;
	case M_DUP_TAG:
		sqe->tag = m->tag;
		break;
	}
}

/* Each malformed SQE with a valid tag is completed with -EINVAL and the
 * session keeps working; nothing reaches the engine. */
/* replication gate (wbd_ringfe_set_gate): what a secondary and the ack
 * gate of a primary do to the ring frontend */
struct gate_st {
	bool writable;
	unsigned offered;
	struct wb_req *held;
	void (*release)(struct wb_req *wr, int err);
};

static bool gate_writable(void *ctx)
{
	return ((struct gate_st *)ctx)->writable;
}

static bool gate_hold(void *ctx, struct wb_req *wr, void (*release)(struct wb_req *wr, int err))
{
	struct gate_st *g = ctx;

	g->offered++;
	if (g->held)
		return false;
	g->held = wr;
	g->release = release;
	return true;
}

static void test_gate(void **state)
{
	struct fx *f = *state;
	struct gate_st g = {.writable = false};
	struct wbd_ringfe_gate gate = {.writable = gate_writable, .hold = gate_hold, .ctx = &g};
	uint8_t w[BS], r[BS], z[BS] = {0};
	struct ringsim_io io;
	struct wbd_ringfe_stats st;

	wbd_ringfe_set_gate(f->fe, &gate);
	/* not writable: EROFS before the engine, data unchanged */
	fill(w, sizeof(w), 0, 5);
	do_io(f, WBREP_OP_WRITE, 0, 0, BS, w, -EROFS);
	do_io(f, WBREP_OP_DISCARD, 0, 0, BS, NULL, -EROFS);
	do_io(f, WBREP_OP_WRITE_ZEROES, 0, 0, BS, NULL, -EROFS);
	do_io(f, WBREP_OP_READ, 0, 0, BS, r, 0);
	assert_memory_equal(r, z, BS);
	assert_int_equal(g.offered, 0); /* a read is never offered */
	/* writable: a write's completion waits for release */
	g.writable = true;
	io_init(&io, WBREP_OP_WRITE, 0, 0, BS, w);
	ringsim_queue(f->rs, &io);
	pump(f);
	assert_int_equal(g.offered, 1);
	assert_non_null(g.held);
	assert_false(io.done);
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.inflight, 1);
	g.release(g.held, 0);
	pump(f);
	assert_true(io.done);
	assert_int_equal(io.result, 0);
	/* a release with an error fails the request */
	g.held = NULL;
	io_init(&io, WBREP_OP_FLUSH, 0, 0, 0, NULL);
	ringsim_queue(f->rs, &io);
	pump(f);
	assert_false(io.done);
	g.release(g.held, -ESHUTDOWN);
	pump(f);
	assert_true(io.done);
	assert_int_equal(io.result, -ESHUTDOWN);
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.inflight, 0);
	do_io(f, WBREP_OP_READ, 0, 0, BS, r, 0);
	assert_memory_equal(r, w, BS);
}

/* Close with a write the gate holds (the peers have not confirmed it): the
 * engine cannot finish it, so close does not wait (no drain that gives up,
 * nothing logged at error level); the release completes it and frees the
 * frontend. */
static int nerr;

static void count_errors(int level, const char *msg, void *ctx)
{
	(void)msg;
	(void)ctx;
	if (level <= WB_LOG_ERR)
		nerr++;
}

static void test_close_with_held_write(void **state)
{
	struct fx *f = *state;
	struct gate_st g = {.writable = true};
	struct wbd_ringfe_gate gate = {.writable = gate_writable, .hold = gate_hold, .ctx = &g};
	struct wbd_ringfe_transport t;
	uint8_t w[BS];
	struct ringsim_io io;

	wbd_ringfe_set_gate(f->fe, &gate);
	fill(w, sizeof(w), 0, 9);
	io_init(&io, WBREP_OP_WRITE, 0, 0, BS, w);
	ringsim_queue(f->rs, &io);
	pump(f);
	assert_non_null(g.held);
	nerr = 0;
	wb_msg_set_sink(count_errors, NULL, WB_LOG_DEBUG);
	wbd_ringfe_close(f->fe);
	f->fe = NULL;
	assert_int_equal(nerr, 0);
	assert_false(io.done);
	g.release(g.held, 0); /* the last completion frees the frontend */
	assert_true(io.done);
	assert_int_equal(io.result, 0);
	wb_msg_set_sink(quiet, NULL, WB_LOG_DEBUG);
	/* the fixture's teardown closes f->fe: give it a fresh one */
	ringsim_detach(f->rs);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
}

/* A read the engine fails is offered to the gate's reread (a replication
 * primary asks a peer: daemon/repl_peerread.c); its completion waits for
 * the release, which may bring the data after all. The engine here is
 * passthrough over the fault backend, whose next read fails with EIO. */
struct reread_st {
	unsigned offered;
	int err;
	bool take;
	struct wb_req *held;
	void (*release)(struct wb_req *wr, int err);
};

static bool gate_reread(void *ctx, struct wb_req *wr, int err,
			void (*release)(struct wb_req *wr, int err))
{
	struct reread_st *g = ctx;

	g->offered++;
	g->err = err;
	if (!g->take)
		return false;
	g->held = wr;
	g->release = release;
	return true;
}

static void test_reread(void **state)
{
	struct fx *f = *state;
	struct reread_st g = {.take = true};
	struct wbd_ringfe_gate gate = {.reread = gate_reread, .ctx = &g};
	struct wb_engine_params ep = {.name = "t", .size = DEV_BYTES};
	struct wb_fault_cfg fc = {.seed = 1};
	struct wbd_ringfe_transport t;
	struct wb_io *io;
	uint8_t w[2 * BS], r[2 * BS], peer[2 * BS];
	struct ringsim_io q;
	struct wbd_ringfe_stats st;

	/* the fixture's ram engine makes no read errors: passthrough over
	 * the fault backend instead */
	wbd_ringfe_close(f->fe);
	ringsim_detach(f->rs);
	wb_engine_close(f->e);
	assert_int_equal(wb_io_fault_open("bak", DEV_BYTES, &fc, &io), 0);
	ep.backing_io = io;
	assert_int_equal(wb_engine_open("passthrough", &ep, &f->e), 0);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
	wbd_ringfe_set_gate(f->fe, &gate);

	fill(w, sizeof(w), 8192, 3);
	do_io(f, WBREP_OP_WRITE, 0, 8192, sizeof(w), w, 0);
	do_io(f, WBREP_OP_READ, 0, 8192, sizeof(r), r, 0);
	assert_memory_equal(r, w, sizeof(w));
	assert_int_equal(g.offered, 0); /* a good read is not offered */

	/* a failed read waits for the release, which brings the data */
	wb_io_fault_fail_nth(io, WB_IO_READ, 0, -EIO);
	memset(r, 0xee, sizeof(r));
	io_init(&q, WBREP_OP_READ, 0, 8192, sizeof(r), r);
	ringsim_queue(f->rs, &q);
	pump(f);
	assert_int_equal(g.offered, 1);
	assert_int_equal(g.err, -EIO);
	assert_non_null(g.held);
	assert_false(q.done);
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.inflight, 1);
	fill(peer, sizeof(peer), 8192, 3); /* what a peer would hold */
	memcpy(g.held->buf, peer, sizeof(peer));
	g.release(g.held, 0);
	pump(f);
	assert_true(q.done);
	assert_int_equal(q.result, 0);
	assert_memory_equal(r, w, sizeof(w));

	/* released with the error: the read fails */
	g.held = NULL;
	wb_io_fault_fail_nth(io, WB_IO_READ, 0, -EIO);
	io_init(&q, WBREP_OP_READ, 0, 8192, BS, r);
	ringsim_queue(f->rs, &q);
	pump(f);
	assert_int_equal(g.offered, 2);
	assert_false(q.done);
	g.release(g.held, -EIO);
	pump(f);
	assert_true(q.done);
	assert_int_equal(q.result, -EIO);

	/* not taken: the error at once */
	g.take = false;
	wb_io_fault_fail_nth(io, WB_IO_READ, 0, -EIO);
	do_io(f, WBREP_OP_READ, 0, 8192, BS, r, -EIO);
	assert_int_equal(g.offered, 3);
	/* a failed write is never offered */
	wb_io_fault_fail_nth(io, WB_IO_WRITE, 0, -EIO);
	do_io(f, WBREP_OP_WRITE, 0, 8192, BS, w, -EIO);
	assert_int_equal(g.offered, 3);
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.inflight, 0);

	/* teardown closes the engine; the backend is this test's */
	wbd_ringfe_close(f->fe);
	ringsim_detach(f->rs);
	wb_engine_close(f->e);
	wb_io_close(io);
	assert_int_equal(wb_engine_open("ram",
					&(struct wb_engine_params){.name = "t", .size = DEV_BYTES},
					&f->e),
			 0);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
}

static void test_malformed_sqe_einval(void **state)
{
	struct fx *f = *state;
	uint8_t buf[BS] = {1};
	struct wbd_ringfe_stats st;
	struct ringsim_stats rst;
	struct wb_engine_stats est;
	int kinds[] = {M_OP,	M_LEN_OVER_SLOT, M_SECTOR_BEYOND, M_LEN_BEYOND, M_UNALIGNED,
		       M_FLAGS, M_DATA_OFF,	 M_FLUSH_LEN,	  M_ZERO_LEN,	M_SECTOR_HUGE};
	int n = (int)(sizeof(kinds) / sizeof(kinds[0]));

	for (int i = 0; i < n; i++) {
		struct mangle m = {.kind = kinds[i]};
		struct ringsim_io io;

		io_init(&io, WBREP_OP_WRITE, 0, 0, BS, buf);
		assert_int_equal(ringsim_queue_mangled(f->rs, &io, mangle_fn, &m), 0);
		pump(f);
		assert_true(io.done);
		assert_int_equal(io.result, -EINVAL);
	}
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.bad_sqes, n);
	assert_int_equal(st.errors, n);
	assert_int_equal(st.submitted, 0);
	assert_int_equal(wb_engine_stats(f->e, &est), 0);
	assert_int_equal(est.writes, 0);
	ringsim_get_stats(f->rs, &rst);
	assert_int_equal(rst.fences, 0);
	do_io(f, WBREP_OP_WRITE, 0, 0, BS, buf, 0);
}

/* A tag naming no slot is dropped (it cannot be answered); a tag that is
 * already in flight is never completed twice. The kernel keeps those
 * requests; a new session gets them again. */
static void test_bad_and_dup_tag(void **state)
{
	struct fx *f = *state;
	uint8_t a[BS], b[BS], c[BS], back[BS];
	struct ringsim_io ioa, iob, ioc;
	struct mangle bad = {.kind = M_BAD_TAG}, dup = {.kind = M_DUP_TAG};
	struct wbd_ringfe_transport t;
	struct wbd_ringfe_stats st;
	struct ringsim_stats rst;

	fill(a, BS, 0, 1);
	fill(b, BS, BS, 2);
	fill(c, BS, 2 * BS, 3);
	io_init(&ioa, WBREP_OP_WRITE, 0, 0, BS, a);
	assert_int_equal(ringsim_queue_mangled(f->rs, &ioa, mangle_fn, &bad), 0);
	/* iob is held by the engine (not run) when ioc arrives with its tag */
	io_init(&iob, WBREP_OP_WRITE, 0, BS, BS, b);
	ringsim_queue(f->rs, &iob);
	assert_int_equal(wbd_ringfe_process(f->fe), 1);
	dup.tag = iob.tag;
	io_init(&ioc, WBREP_OP_WRITE, 0, 2 * BS, BS, c);
	assert_int_equal(ringsim_queue_mangled(f->rs, &ioc, mangle_fn, &dup), 0);
	pump(f);
	assert_false(ioa.done);
	assert_true(iob.done);
	assert_int_equal(iob.result, 0);
	assert_false(ioc.done);
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.bad_sqes, 2);
	assert_int_equal(st.completed, 1);
	ringsim_get_stats(f->rs, &rst);
	assert_int_equal(rst.fences, 0);
	assert_int_equal(rst.inflight, 2);

	/* the daemon restarts: the two stuck requests are re-posted intact */
	ringsim_detach(f->rs);
	wbd_ringfe_close(f->fe);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(t.geo.reissued, 2);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
	pump(f);
	assert_true(ioa.done);
	assert_int_equal(ioa.result, 0);
	assert_true(ioc.done);
	assert_int_equal(ioc.result, 0);
	do_io(f, WBREP_OP_READ, 0, 0, BS, back, 0);
	assert_memory_equal(back, a, BS);
	do_io(f, WBREP_OP_READ, 0, 2 * BS, BS, back, 0);
	assert_memory_equal(back, c, BS);
}

static void test_sq_tail_runaway(void **state)
{
	struct fx *f = *state;
	struct wbd_ringfe_stats st;

	assert_int_equal(ringsim_bump_sq_tail(f->rs, NSLOTS + 1), 0);
	assert_int_equal(wbd_ringfe_process(f->fe), -EPROTO);
	assert_int_equal(wbd_ringfe_process(f->fe), -ESHUTDOWN);
	wbd_ringfe_get_stats(f->fe, &st);
	assert_int_equal(st.gone, 1);
	assert_int_equal(st.submitted, 0);
}

/* A garbage CQE (here written behind ringfe's back) fences the session in
 * the kernel model; ringfe notices and stops; the request goes to the next
 * session with REISSUE. */
static void test_kernel_fences_garbage_cqe(void **state)
{
	struct fx *f = *state;
	uint8_t buf[BS], back[BS];
	struct ringsim_io io;
	struct ringsim_stats rst;
	struct wbd_ringfe_transport t;
	struct wbrep_cq_ctl *cqc = ringsim_cq_region(f->rs);
	struct wbrep_cqe *cqes = (struct wbrep_cqe *)((char *)cqc + WBREP_CQE_OFF);
	uint32_t tail = cqc->cq_tail;

	fill(buf, BS, 0, 5);
	io_init(&io, WBREP_OP_WRITE, 0, 0, BS, buf);
	ringsim_queue(f->rs, &io);
	cqes[tail & (NSLOTS - 1)].tag = io.tag ^ (1ull << 32); /* stale generation */
	cqes[tail & (NSLOTS - 1)].result = 0;
	cqes[tail & (NSLOTS - 1)].rsvd = 0;
	__atomic_store_n(&cqc->cq_tail, tail + 1, __ATOMIC_RELEASE);
	assert_int_equal(ringsim_reap(f->rs), -ESHUTDOWN);
	ringsim_get_stats(f->rs, &rst);
	assert_int_equal(rst.fences, 1);
	assert_non_null(strstr(ringsim_fence_reason(f->rs), "stale tag"));
	assert_int_equal(wbd_ringfe_process(f->fe), -ESHUTDOWN);
	assert_false(io.done);
	wbd_ringfe_close(f->fe);
	assert_int_equal(ringsim_attach(f->rs, &t), 0);
	assert_int_equal(wbd_ringfe_open(NULL, &t, f->e, &f->fe), 0);
	pump(f);
	assert_true(io.done);
	assert_int_equal(io.result, 0);
	assert_int_equal(io.posts, 2);
	do_io(f, WBREP_OP_READ, 0, 0, BS, back, 0);
	assert_memory_equal(back, buf, BS);
}

static void test_attach_busy_and_bad_geometry(void **state)
{
	struct fx *f = *state;
	struct wbd_ringfe_transport t, t2;
	struct wbd_ringfe *fe2 = NULL;
	struct ringsim_params p = {NSLOTS, SLOT_SIZE, DEV_BYTES / 512};
	struct ringsim *rs2;

	assert_int_equal(ringsim_attach(f->rs, &t), -EBUSY);
	assert_int_equal(ringsim_create(&p, &rs2), 0);
	assert_int_equal(ringsim_attach(rs2, &t2), 0);
	t2.geo.nslots = 6; /* not a power of two */
	assert_int_equal(wbd_ringfe_open(NULL, &t2, f->e, &fe2), -EPROTO);
	assert_null(fe2);
	assert_int_equal(ringsim_attach(rs2, &t2), 0); /* release() detached it */
	t2.geo.slot_size = 1000;
	assert_int_equal(wbd_ringfe_open(NULL, &t2, f->e, &fe2), -EPROTO);
	ringsim_destroy(rs2);
	p.nslots = 3;
	assert_int_equal(ringsim_create(&p, &rs2), -EINVAL);
}

static void test_parse_sqe(void **state)
{
	struct wbrep_attach geo = {
	    .nslots = NSLOTS, .slot_size = SLOT_SIZE, .dev_sectors = DEV_BYTES / 512};
	static char data[NSLOTS * SLOT_SIZE];
	struct wbrep_sqe sqe = {0};
	struct wb_req r;
	int ok;

	(void)state;
	sqe.tag = wbrep_tag(3, 77);
	sqe.op = WBREP_OP_READ;
	sqe.sector = 16;
	sqe.len = 2 * BS;
	sqe.data_off = 3ull * SLOT_SIZE;
	sqe.flags = WBREP_F_FUA | WBREP_F_REISSUE;
	assert_int_equal(wbd_ringfe_parse_sqe(&sqe, &geo, data, &r, &ok), 3);
	assert_true(ok);
	assert_int_equal(r.op, WB_REQ_READ);
	assert_int_equal(r.off, 8192);
	assert_int_equal(r.len, 2 * BS);
	assert_int_equal(r.flags, WB_REQ_F_FUA);
	assert_ptr_equal(r.buf, data + 3 * SLOT_SIZE);
	sqe.op = 0;
	assert_int_equal(wbd_ringfe_parse_sqe(&sqe, &geo, data, &r, &ok), -EINVAL);
	assert_true(ok);
	sqe.op = WBREP_OP_READ;
	sqe.tag = wbrep_tag(NSLOTS, 1);
	assert_int_equal(wbd_ringfe_parse_sqe(&sqe, &geo, data, &r, &ok), -EINVAL);
	assert_false(ok);
	sqe.tag = wbrep_tag(0xffffffffu, 1);
	assert_int_equal(wbd_ringfe_parse_sqe(&sqe, &geo, data, &r, &ok), -EINVAL);
	assert_false(ok);
	/* flush: len 0, offset ignored but sector still sane */
	sqe.tag = wbrep_tag(0, 1);
	sqe.data_off = 0;
	sqe.op = WBREP_OP_FLUSH;
	sqe.len = 0;
	assert_int_equal(wbd_ringfe_parse_sqe(&sqe, &geo, data, &r, &ok), 0);
	assert_int_equal(r.op, WB_REQ_FLUSH);
	assert_int_equal(r.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_fua_discard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_deeper_than_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reissue_after_reattach, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_with_held_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_sqe_einval, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_and_dup_tag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sq_tail_runaway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_fences_garbage_cqe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attach_busy_and_bad_geometry, setup, teardown),
	    cmocka_unit_test(test_parse_sqe),
	    cmocka_unit_test_setup_teardown(test_close_with_requests_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_io_loop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
