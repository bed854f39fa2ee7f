// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbtorture.c - crash torture of a cache engine over fault-injection devices.
 *
 *   wbtorture [--engine NAME] --seed N --iterations K [--ops M] [--size BYTES]
 *             [--log-size BYTES] [--start I] [--ack log|memory] [--ship] [--plugin PATH]
 *             [--verbose]
 *   wbtorture --list-engines
 *
 * Each iteration (its own PRNG stream derived from seed and iteration
 * number): two fresh fault devices (log, backing) with random drop / tear /
 * reorder / completion-batch settings, format + open the engine, then up to
 * M steps of random asynchronous requests (queue depth up to 32): stamped
 * writes (some FUA, some PREFLUSH), reads checked against the model, flushes,
 * discards / write-zeroes, and now and then a clean close + reopen. At a
 * random step (possibly with requests in flight, possibly after draining)
 * power is cut on both devices, the engine is closed, power comes back, the
 * engine is reopened (recovery) and every block is read and checked against
 * the durability model of ttmodel.h.
 *
 * --ship (engines with the replication ops): a lagging peer on top: the
 * ship hook keeps references to up to `keep` records (random per
 * iteration), the peer position holds the log tail at the oldest kept one
 * (random peer_retention_records), so destage, release, eviction and the
 * empty GEN_END records run under the holds; a kept reference's data must
 * still match its extent crcs when it is put.
 *
 * --engine defaults to wblog, the product engine (passthrough and ram are
 * tortured only when named).
 *
 * Output: one line per violation (seed, iteration, LBA, sector, what was
 * found, the legal candidates and the block's history), with --verbose a
 * line per iteration, and always as the last line
 * "iterations: K, violations: V". Exit 1 if V > 0, 2 on a setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/wbengine.h"
#include "tests/crash/ttmodel.h"

#define TT_MAX_QD     32
#define TT_MAX_BLOCKS 16
#define TT_STUCK      200000

enum { OP_WRITE = 1, OP_READ, OP_FLUSH, OP_ZERO };

struct top {
	struct wb_req r;
	struct tt *t;
	struct top *prev, *next;
	int kind;
	uint64_t wid, ts, lba;
	uint32_t n;
	void *buf;
};

#define TT_SHIP_MAX 64

struct tt {
	/* options */
	const char *engine;
	uint64_t seed, size, log_size;
	unsigned iterations, start, ops;
	int verbose;
	int ack_memory; /* --ack memory: engine acks from RAM (wb_engine_params.ack_memory) */
	int ship;	/* --ship: a lagging peer keeps references, holds the tail */
	/* iteration state */
	uint32_t iter;
	uint64_t rng;
	struct wb_io *log, *back;
	struct wb_engine *e;
	struct wb_engine_params p;
	struct tt_model *m;
	struct top *inflight_list;
	unsigned inflight, qd;
	int cut;
	uint64_t v_iter, v_total;
	uint64_t st_writes, st_reads, st_flushes, st_reopens;
	/* --ship */
	struct wb_rec_ref *kept[TT_SHIP_MAX];
	unsigned nkept, keep, kept_blocks;
	uint64_t st_shipped, st_dropped;
};

static struct tt *tt_global; /* for the watchdog and the message sink */

static uint64_t rnd(struct tt *t)
{
	uint64_t z = (t->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static unsigned rndn(struct tt *t, unsigned n)
{
	return n ? (unsigned)(rnd(t) % n) : 0;
}

static void violation(struct tt *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct tt *t, const char *fmt, ...)
{
	va_list ap;

	t->v_iter++;
	printf("VIOLATION seed %" PRIu64 " iteration %u: ", t->seed, t->iter);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void msg_sink(int level, const char *msg, void *ctx)
{
	struct tt *t = ctx;

	/* Errors after a power cut are expected; otherwise show errors. */
	if (t->verbose || (level <= WB_LOG_ERR && !t->cut))
		fprintf(stderr, "[iter %u] %s\n", t->iter, msg);
}

static void watchdog(int sig)
{
	char buf[200];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof(buf),
		     "VIOLATION seed %" PRIu64 " iteration %u: engine hung (no progress for "
		     "300 s)\niterations: %u, violations: %" PRIu64 "\n",
		     tt_global->seed, tt_global->iter, tt_global->iter - tt_global->start,
		     tt_global->v_total + tt_global->v_iter + 1);
	if (write(1, buf, n) < 0)
		_exit(1);
	_exit(1);
}

static void top_unlink(struct tt *t, struct top *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		t->inflight_list = o->next;
	if (o->next)
		o->next->prev = o->prev;
	t->inflight--;
}

static void top_done(struct wb_req *r, int err)
{
	struct top *o = (struct top *)r;
	struct tt *t = o->t;

	top_unlink(t, o);
	if (err && !t->cut)
		violation(t, "request %s lba %" PRIu64 " n %u failed without a fault: %s",
			  o->kind == OP_READ	? "read"
			  : o->kind == OP_FLUSH ? "flush"
						: "write",
			  o->lba, o->n, strerror(-err));
	switch (o->kind) {
	case OP_WRITE:
	case OP_ZERO:
		/* an ack after the power cut proves nothing */
		tt_write_done(t->m, o->wid, o->lba, o->n, !err && !t->cut);
		if (!err && !t->cut && (o->r.flags & WB_REQ_F_PREFLUSH))
			tt_flush_done(t->m, o->ts);
		break;
	case OP_FLUSH:
		if (!err && !t->cut)
			tt_flush_done(t->m, o->ts);
		else
			tt_tick(t->m);
		break;
	case OP_READ: {
		uint64_t c = tt_tick(t->m);

		if (!err && !t->cut)
			t->v_iter += tt_check_read(t->m, o->lba, o->n, o->buf, o->ts, c, stdout);
		break;
	}
	}
	wb_io_free(o->buf);
	free(o);
}

static struct top *top_new(struct tt *t, int kind, uint64_t lba, uint32_t n)
{
	struct top *o = calloc(1, sizeof(*o));

	if (!o) {
		fprintf(stderr, "wbtorture: out of memory\n");
		exit(2);
	}
	o->t = t;
	o->kind = kind;
	o->lba = lba;
	o->n = n;
	o->r.done = top_done;
	o->r.off = lba * TT_BLOCK;
	o->r.len = n * TT_BLOCK;
	return o;
}

static int top_submit(struct tt *t, struct top *o)
{
	int ret;

	o->next = t->inflight_list;
	o->prev = NULL;
	if (o->next)
		o->next->prev = o;
	t->inflight_list = o;
	t->inflight++;
	ret = wb_engine_submit(t->e, &o->r);
	if (ret < 0) {
		top_unlink(t, o);
		if (o->kind == OP_WRITE || o->kind == OP_ZERO)
			tt_write_cancel(t->m, o->wid, o->lba, o->n);
		if (ret != -EAGAIN && ret != -EBUSY)
			violation(t, "submit of op %d lba %" PRIu64 " n %u refused: %s", o->kind,
				  o->lba, o->n, strerror(-ret));
		wb_io_free(o->buf);
		free(o);
	}
	return ret;
}

static void pick_range(struct tt *t, uint64_t *lba, uint32_t *n)
{
	uint64_t nb = t->size / TT_BLOCK;
	uint32_t max = rndn(t, 4) ? 4 : TT_MAX_BLOCKS;

	*n = 1 + rndn(t, max);
	if (*n > nb)
		*n = nb;
	*lba = rnd(t) % (nb - *n + 1);
}

/* Engine ABI 5: a write's buffer is borrowed until admitted() (before
 * done, or from the submit wrapper for older engines). Scribble over it
 * then: a later read of it by the engine would show up as garbage. */
static void tt_admitted(struct wb_req *r)
{
	memset(r->buf, 0xee, r->len);
	free(r->buf);
	r->buf = NULL;
}

static void do_write(struct tt *t, int zero)
{
	uint64_t lba;
	uint32_t n;
	struct top *o;
	uint8_t *buf = NULL;

	pick_range(t, &lba, &n);
	o = top_new(t, zero ? OP_ZERO : OP_WRITE, lba, n);
	if (zero) {
		o->r.op = rndn(t, 2) ? WB_REQ_DISCARD : WB_REQ_WRITE_ZEROES;
	} else {
		o->r.op = WB_REQ_WRITE;
		if (!rndn(t, 10))
			o->r.flags |= WB_REQ_F_FUA;
		if (!rndn(t, 20))
			o->r.flags |= WB_REQ_F_PREFLUSH;
		buf = malloc((size_t)n * TT_BLOCK);
		if (!buf) {
			fprintf(stderr, "wbtorture: out of memory\n");
			exit(2);
		}
		o->r.buf = buf;
		o->r.admitted = tt_admitted;
	}
	o->wid = tt_write_submit(t->m, lba, n, o->r.flags & WB_REQ_F_FUA, zero);
	for (uint32_t i = 0; buf && i < n; i++)
		tt_stamp(buf + (size_t)i * TT_BLOCK, t->iter, lba + i, o->wid);
	/* PREFLUSH: the flush is submitted with the write, i.e. now */
	o->ts = tt_tick(t->m);
	if (top_submit(t, o) == 0)
		t->st_writes++;
	else
		free(buf); /* refused: not borrowed, o is gone */
}

static void do_read(struct tt *t)
{
	uint64_t lba;
	uint32_t n;
	struct top *o;

	pick_range(t, &lba, &n);
	o = top_new(t, OP_READ, lba, n);
	o->r.op = WB_REQ_READ;
	o->buf = wb_io_alloc((size_t)n * TT_BLOCK);
	if (!o->buf) {
		fprintf(stderr, "wbtorture: out of memory\n");
		exit(2);
	}
	memset(o->buf, 0xa5, (size_t)n * TT_BLOCK);
	o->r.buf = o->buf;
	o->ts = tt_tick(t->m);
	if (top_submit(t, o) == 0)
		t->st_reads++;
}

static void do_flush(struct tt *t)
{
	struct top *o = top_new(t, OP_FLUSH, 0, 0);

	o->r.op = WB_REQ_FLUSH;
	o->r.len = 0;
	o->ts = tt_tick(t->m);
	if (top_submit(t, o) == 0)
		t->st_flushes++;
}

/* Run the engine until fewer than `below` requests are in flight. */
static int drain(struct tt *t, unsigned below)
{
	unsigned idle = 0;

	while (t->inflight >= below && t->inflight) {
		unsigned before = t->inflight;
		int ret = wb_engine_run(t->e, 0);

		if (ret < 0 && ret != -EAGAIN && ret != -EINTR && !t->cut) {
			violation(t, "wb_engine_run: %s", strerror(-ret));
			return -1;
		}
		idle = t->inflight == before && ret <= 0 ? idle + 1 : 0;
		if (idle > TT_STUCK) {
			violation(t, "engine makes no progress with %u requests in flight",
				  t->inflight);
			return -1;
		}
	}
	return 0;
}

/* --ship: the hook keeps what fits (a peer's send queue); the main loop
 * (ship_step) puts the oldest and moves the peer position. */
static void ship_hook(void *arg, struct wb_rec_ref *r)
{
	struct tt *t = arg;

	t->st_shipped++;
	/* kept pages count against the RAM buffer: a sender that keeps too
	 * many would throttle the writers this loop waits for */
	if (t->nkept == TT_SHIP_MAX ||
	    t->kept_blocks + r->nblocks > (t->p.ram_pages ? t->p.ram_pages : 16384) / 4)
		return;
	wb_engine_rec_get(t->e, r);
	t->kept[t->nkept++] = r;
	t->kept_blocks += r->nblocks;
}

static void ship_dropped(void *arg, unsigned peer, uint64_t seq)
{
	struct tt *t = arg;

	(void)peer;
	(void)seq;
	t->st_dropped++;
}

/* Put the oldest kept reference; its data must still be what it was. */
static void ship_put_oldest(struct tt *t)
{
	struct wb_rec_ref *r = t->kept[0];
	uint32_t i, b = 0;

	for (i = 0; i < r->rec.nextents && r->nblocks; i++) {
		uint32_t crc = 0, k;

		for (k = 0; k < r->rec.ext[i].nblocks; k++, b++)
			crc = wb_crc32c(crc, r->blocks[b], TT_BLOCK);
		if (crc != r->rec.ext[i].crc)
			violation(t, "shipped record seq %llu: extent %u data changed while held",
				  (unsigned long long)r->rec.seq, i);
	}
	t->kept_blocks -= r->nblocks;
	wb_engine_rec_put(t->e, r);
	memmove(t->kept, t->kept + 1, --t->nkept * sizeof(t->kept[0]));
}

static void ship_step(struct tt *t)
{
	if (!t->ship || !t->e)
		return;
	while (t->nkept > t->keep)
		ship_put_oldest(t);
	/* -ENOENT: already released (dropped): the peer would resync */
	wb_engine_set_peer_pos(t->e, 0, t->nkept ? t->kept[0]->rec.seq : 0);
}

static int engine_open(struct tt *t)
{
	int ret = wb_engine_open(t->engine, &t->p, &t->e);

	if (ret < 0) {
		t->e = NULL;
		violation(t, "engine %s did not (re)open: %s", t->engine, strerror(-ret));
		return ret;
	}
	if (t->ship) {
		struct wb_repl_hooks h = {
		    .ship = ship_hook, .peer_dropped = ship_dropped, .arg = t};

		ret = wb_engine_set_repl_hooks(t->e, &h);
		if (ret < 0) {
			fprintf(stderr, "wbtorture: --ship: engine %s: %s\n", t->engine,
				strerror(-ret));
			exit(2);
		}
	}
	return 0;
}

/* Close the engine; every request must have completed by then. */
static void engine_close(struct tt *t)
{
	while (t->nkept) /* every reference is put before close */
		ship_put_oldest(t);
	wb_engine_close(t->e);
	t->e = NULL;
	if (t->inflight) {
		if (!t->cut) {
			violation(t, "engine closed with %u requests never completed", t->inflight);
			for (struct top *o = t->inflight_list; o; o = o->next)
				fprintf(
				    stderr,
				    "  never completed: kind %d lba %llu blocks %u flags 0x%x\n",
				    o->kind, (unsigned long long)o->lba, o->n, o->r.flags);
		}
		/* the engine is gone: nobody will touch them any more */
		while (t->inflight_list) {
			struct top *o = t->inflight_list;

			top_unlink(t, o);
			if (o->kind == OP_WRITE || o->kind == OP_ZERO)
				tt_write_done(t->m, o->wid, o->lba, o->n, 0);
			wb_io_free(o->buf);
			free(o);
		}
	}
}

static void reopen(struct tt *t)
{
	engine_close(t);
	/* close makes everything durable: a flush after every completion */
	tt_flush_done(t->m, tt_tick(t->m));
	t->st_reopens++;
	engine_open(t);
}

/* Read every block after recovery and check it against the model. */
static void verify(struct tt *t)
{
	uint64_t nb = t->size / TT_BLOCK;
	uint32_t chunk = TT_MAX_BLOCKS;
	uint8_t *buf = wb_io_alloc(chunk * TT_BLOCK);

	for (uint64_t lba = 0; t->e && lba < nb; lba += chunk) {
		uint32_t n = nb - lba < chunk ? nb - lba : chunk;
		struct wb_req r = {
		    .op = WB_REQ_READ, .off = lba * TT_BLOCK, .len = n * TT_BLOCK, .buf = buf};
		int ret = wb_engine_sync(t->e, &r);

		if (ret < 0) {
			violation(t, "read of lba %" PRIu64 " after recovery failed: %s", lba,
				  strerror(-ret));
			continue;
		}
		t->v_iter += tt_check_durable(t->m, lba, n, buf, stdout);
	}
	wb_io_free(buf);
}

static void fault_cfg(struct tt *t, struct wb_fault_cfg *c)
{
	static const unsigned drops[] = {0, 100, 500, 1000}, tears[] = {0, 200, 500},
			      batches[] = {0, 1, 2, 4, 8};

	memset(c, 0, sizeof(*c));
	c->seed = rnd(t);
	c->drop_permille = drops[rndn(t, 4)];
	c->tear_permille = tears[rndn(t, 3)];
	if (c->drop_permille + c->tear_permille > 1000)
		c->tear_permille = 1000 - c->drop_permille;
	c->reorder = rndn(t, 2);
	c->complete_batch = batches[rndn(t, 5)];
}

static int iteration(struct tt *t)
{
	struct wb_fault_cfg lc, bc;
	unsigned cut_at, drain_first, step;
	uint64_t writes, durable;
	int ret;

	t->rng = t->seed * 0x100000001B3ull + t->iter * 0x9E3779B97F4A7C15ull + 1;
	rnd(t);
	fault_cfg(t, &lc);
	fault_cfg(t, &bc);
	t->qd = 1 + rndn(t, TT_MAX_QD);
	cut_at = rndn(t, t->ops + 1);
	drain_first = !rndn(t, 4);
	t->cut = 0;
	t->v_iter = 0;
	t->m = tt_model_new(t->size / TT_BLOCK, t->iter, t->seed);
	if (!t->m)
		return -ENOMEM;
	ret = wb_io_fault_open("log", t->log_size, &lc, &t->log);
	if (!ret)
		/* + the identity block after the exported range (engine/bind.h) */
		ret = wb_io_fault_open("backing", t->size + 4096, &bc, &t->back);
	if (ret < 0)
		return ret;
	memset(&t->p, 0, sizeof(t->p));
	t->p.name = "torture";
	t->p.log_io = t->log;
	t->p.backing_io = t->back;
	t->p.size = t->size;
	t->p.ram_pages = rndn(t, 2) ? 0 : 64 + rndn(t, 1024);
	t->p.ack_memory = (uint32_t)t->ack_memory;
	if (t->ship) { /* drawn only with --ship: other runs keep their streams */
		t->keep = rndn(t, TT_SHIP_MAX + 1);
		t->p.peer_retention_records = rndn(t, 2) ? 0 : 1 + rndn(t, 256);
	}
	ret = wb_engine_format(t->engine, &t->p);
	if (ret < 0) {
		fprintf(stderr, "wbtorture: format with engine %s failed: %s\n", t->engine,
			strerror(-ret));
		return ret;
	}
	if (engine_open(t) < 0)
		goto out_free;
	for (step = 0; step < cut_at && t->e; step++) {
		unsigned r = rndn(t, 1000);

		if (t->inflight < t->qd) {
			if (r < 550)
				do_write(t, 0);
			else if (r < 760)
				do_read(t);
			else if (r < 840)
				do_flush(t);
			else if (r < 870)
				do_write(t, 1);
			else if (r < 874)
				reopen(t);
		}
		if (!t->e)
			break;
		for (unsigned k = rndn(t, 3); k > 0; k--)
			if (wb_engine_run(t->e, 0) < 0)
				break;
		ship_step(t);
		if (drain(t, t->qd) < 0)
			goto out_stuck;
	}
	if (t->e && drain_first && drain(t, 1) < 0)
		goto out_stuck;
	/* Power cut on both devices at the same instant. */
	t->cut = 1;
	tt_tick(t->m);
	wb_io_fault_power_cut(t->log);
	wb_io_fault_power_cut(t->back);
	if (t->e)
		engine_close(t);
	wb_io_fault_power_on(t->log);
	wb_io_fault_power_on(t->back);
	t->cut = 0;
	if (engine_open(t) == 0) {
		verify(t);
		engine_close(t);
	}
out_free:
	tt_model_counts(t->m, &writes, &durable);
	if (t->verbose)
		printf("iteration %u: qd %u cut at step %u%s, %" PRIu64 " writes, %" PRIu64
		       " durable blocks, log drop/tear/reorder/batch %u/%u/%u/%u backing "
		       "%u/%u/%u/%u: %" PRIu64 " violations\n",
		       t->iter, t->qd, cut_at, drain_first ? " (drained)" : "", writes, durable,
		       lc.drop_permille, lc.tear_permille, lc.reorder, lc.complete_batch,
		       bc.drop_permille, bc.tear_permille, bc.reorder, bc.complete_batch,
		       t->v_iter);
	tt_model_free(t->m);
	t->m = NULL;
	wb_io_close(t->log);
	wb_io_close(t->back);
	t->log = t->back = NULL;
	t->v_total += t->v_iter;
	return 0;
out_stuck:
	/* The engine holds our requests; it cannot be closed safely. */
	t->v_total += t->v_iter;
	return -EDEADLK;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: wbtorture [--engine NAME] --seed N --iterations K [--ops M] [--size BYTES]\n"
	    "                 [--log-size BYTES] [--start I] [--ack log|memory] [--plugin PATH]\n"
	    "                 [--verbose]\n"
	    "       wbtorture --list-engines [--plugin PATH]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"engine", 1, NULL, 'e'},	    {"seed", 1, NULL, 's'},   {"iterations", 1, NULL, 'i'},
	    {"ops", 1, NULL, 'o'},	    {"size", 1, NULL, 'S'},   {"log-size", 1, NULL, 'L'},
	    {"start", 1, NULL, 'b'},	    {"plugin", 1, NULL, 'p'}, {"verbose", 0, NULL, 'v'},
	    {"list-engines", 0, NULL, 'l'}, {"help", 0, NULL, 'h'},   {"ack", 1, NULL, 'a'},
	    {"ship", 0, NULL, 'P'},	    {NULL, 0, NULL, 0},
	};
	struct tt t = {.engine = "wblog", /* the product engine */
		       .seed = 1,
		       .iterations = 10,
		       .ops = 2000,
		       .size = 4u << 20,
		       .log_size = 8u << 20};
	int c, list = 0, ret = 0;
	unsigned done = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	tt_global = &t;
	wb_msg_set_sink(msg_sink, &t, WB_LOG_DEBUG);
	while ((c = getopt_long(argc, argv, "e:s:i:o:S:L:b:p:a:Pvlh", lo, NULL)) != -1) {
		switch (c) {
		case 'e':
			t.engine = optarg;
			break;
		case 's':
			t.seed = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			t.iterations = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			t.ops = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			t.size = strtoull(optarg, NULL, 0);
			break;
		case 'L':
			t.log_size = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			t.start = strtoul(optarg, NULL, 0);
			break;
		case 'p': {
			char err[512];

			if (wb_engine_load_plugin(optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "wbtorture: %s\n", err);
				return 2;
			}
			break;
		}
		case 'a':
			if (strcmp(optarg, "log") && strcmp(optarg, "memory")) {
				fprintf(stderr, "wbtorture: --ack takes log or memory, not %s\n",
					optarg);
				return 2;
			}
			t.ack_memory = !strcmp(optarg, "memory");
			break;
		case 'P':
			t.ship = 1;
			break;
		case 'v':
			t.verbose = 1;
			break;
		case 'l':
			list = 1;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (list) {
		const char *names[64];
		int n = wb_engine_list(names, 64);

		for (int i = 0; i < n && i < 64; i++)
			printf("%s\n", names[i]);
		return 0;
	}
	if (!wb_engine_find(t.engine)) {
		fprintf(stderr, "wbtorture: unknown engine %s (see --list-engines)\n", t.engine);
		return 2;
	}
	if (t.size < 64 * TT_BLOCK || t.size % TT_BLOCK || t.log_size % TT_BLOCK) {
		fprintf(stderr, "wbtorture: --size must be a multiple of 4096, >= 256 KiB\n");
		return 2;
	}
	printf("wbtorture: engine %s seed %" PRIu64 " iterations %u ops %u size %" PRIu64
	       " log %" PRIu64 " ack %s%s\n",
	       t.engine, t.seed, t.iterations, t.ops, t.size, t.log_size,
	       t.ack_memory ? "memory" : "log", t.ship ? " ship" : "");
	signal(SIGALRM, watchdog);
	for (t.iter = t.start; t.iter < t.start + t.iterations; t.iter++) {
		alarm(300);
		ret = iteration(&t);
		if (ret < 0)
			break;
		done++;
	}
	alarm(0);
	if (ret < 0 && ret != -EDEADLK) {
		fprintf(stderr, "wbtorture: iteration %u could not run: %s\n", t.iter,
			strerror(-ret));
		printf("iterations: %u, violations: %" PRIu64 "\n", done, t.v_total);
		return 2;
	}
	if (ret == -EDEADLK)
		done++;
	if (t.ship)
		printf("shipped: %" PRIu64 " records, peers dropped: %" PRIu64 "\n", t.st_shipped,
		       t.st_dropped);
	printf("iterations: %u, violations: %" PRIu64 "\n", done, t.v_total);
	return t.v_total ? 1 : 0;
}
