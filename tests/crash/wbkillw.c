// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbkillw.c - writer and checker of the kill -9 test (test_kill9.sh).
 *
 *   wbkillw write --dir D --engine E --seed N --round R [--size BYTES]
 *       formats the engine on D/log.img + D/backing.img (io_uring backend,
 *       real files), then writes stamped blocks (ttmodel.h) with random
 *       FUA and flushes at queue depth up to 16 until it is killed. Every
 *       event goes to the journal D/journal before (submit) or right after
 *       (completion) it happens: "S wid lba n fua", "C wid ok", "F fid",
 *       "D fid ok"; the journal is fdatasync'd after every acknowledged flush.
 *   wbkillw check --dir D --engine E --round R [--size BYTES]
 *       replays the journal into the model, reopens the engine (recovery)
 *       and checks every block like the torture checker. The last line is
 *       "violations: V"; exit 1 if V > 0.
 * A line the writer did not get to write only makes the model more
 * permissive (an unjournaled ack is treated as never acknowledged).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/wbengine.h"
#include "tests/crash/ttmodel.h"

#define KW_QD 16

struct kw {
	const char *dir, *engine;
	uint64_t seed, size, rng;
	uint32_t round;
	int jfd;
	struct wb_io *log, *back;
	struct wb_engine *e;
	struct tt_model *m;
	unsigned inflight;
	uint64_t next_fid;
};

struct kw_op {
	struct wb_req r;
	struct kw *k;
	uint64_t id, lba;
	uint32_t n;
};

static uint64_t rnd(struct kw *k)
{
	uint64_t z = (k->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void jwrite(struct kw *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jwrite(struct kw *k, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(k->jfd, line, n) != n) {
		perror("wbkillw: journal write");
		exit(2);
	}
}

static void quiet(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= WB_LOG_ERR)
		fprintf(stderr, "wbkillw: %s\n", msg);
}

static int kw_open(struct kw *k, int create)
{
	char p[512];
	struct wb_engine_params prm = {0};
	unsigned fl = create ? WB_IO_OPEN_CREATE : 0;
	int ret;

	snprintf(p, sizeof(p), "%s/log.img", k->dir);
	ret = wb_io_uring_open(p, create ? 4 * k->size : 0, fl, 64, &k->log);
	if (ret < 0)
		return ret;
	snprintf(p, sizeof(p), "%s/backing.img", k->dir);
	/* + the identity block after the exported range (engine/bind.h) */
	ret = wb_io_uring_open(p, create ? k->size + 4096 : 0, fl, 64, &k->back);
	if (ret < 0)
		return ret;
	prm.name = "kill9";
	prm.log_io = k->log;
	prm.backing_io = k->back;
	prm.size = k->size;
	if (create) {
		ret = wb_engine_format(k->engine, &prm);
		if (ret < 0)
			return ret;
	}
	return wb_engine_open(k->engine, &prm, &k->e);
}

static void kw_admitted(struct wb_req *r)
{
	free(r->buf);
	r->buf = NULL;
}

static void kw_done(struct wb_req *r, int err)
{
	struct kw_op *o = (struct kw_op *)r;
	struct kw *k = o->k;

	k->inflight--;
	if (r->op == WB_REQ_FLUSH) {
		jwrite(k, "D %" PRIu64 " %d\n", o->id, !err);
		if (!err && fdatasync(k->jfd) < 0) {
			perror("wbkillw: fdatasync journal");
			exit(2);
		}
	} else {
		jwrite(k, "C %" PRIu64 " %d\n", o->id, !err);
	}
	if (err)
		fprintf(stderr, "wbkillw: request failed: %s\n", strerror(-err));
	free(o);
}

static int kw_write(struct kw *k)
{
	uint64_t nb = k->size / TT_BLOCK;
	struct kw_op *o = calloc(1, sizeof(*o));
	uint32_t n = 1 + rnd(k) % 8;
	uint8_t *buf;
	int fua = !(rnd(k) % 10), ret;

	if (!o)
		return -ENOMEM;
	o->k = k;
	o->n = n;
	o->lba = rnd(k) % (nb - n + 1);
	buf = malloc((size_t)n * TT_BLOCK);
	if (!buf) {
		free(o);
		return -ENOMEM;
	}
	o->id = tt_write_submit(k->m, o->lba, n, fua, 0);
	for (uint32_t i = 0; i < n; i++)
		tt_stamp(buf + (size_t)i * TT_BLOCK, k->round, o->lba + i, o->id);
	o->r = (struct wb_req){.op = WB_REQ_WRITE,
			       .flags = fua ? WB_REQ_F_FUA : 0,
			       .off = o->lba * TT_BLOCK,
			       .len = n * TT_BLOCK,
			       .buf = buf,
			       .done = kw_done,
			       .admitted = kw_admitted};
	jwrite(k, "S %" PRIu64 " %" PRIu64 " %u %d\n", o->id, o->lba, n, fua);
	k->inflight++;
	ret = wb_engine_submit(k->e, &o->r);
	if (ret < 0) {
		free(buf); /* else kw_admitted frees it: the engine borrows it */
		k->inflight--;
		jwrite(k, "C %" PRIu64 " 0\n", o->id);
		free(o);
	}
	return ret;
}

static int kw_flush(struct kw *k)
{
	struct kw_op *o = calloc(1, sizeof(*o));
	int ret;

	if (!o)
		return -ENOMEM;
	o->k = k;
	o->id = ++k->next_fid;
	o->r = (struct wb_req){.op = WB_REQ_FLUSH, .done = kw_done};
	jwrite(k, "F %" PRIu64 "\n", o->id);
	k->inflight++;
	ret = wb_engine_submit(k->e, &o->r);
	if (ret < 0) {
		k->inflight--;
		jwrite(k, "D %" PRIu64 " 0\n", o->id);
		free(o);
	}
	return ret;
}

static int do_write(struct kw *k)
{
	char p[512];
	int ret;

	snprintf(p, sizeof(p), "%s/journal", k->dir);
	k->jfd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (k->jfd < 0) {
		perror(p);
		return 2;
	}
	k->m = tt_model_new(k->size / TT_BLOCK, k->round, k->seed);
	ret = kw_open(k, 1);
	if (ret < 0) {
		fprintf(stderr, "wbkillw: open engine %s in %s: %s\n", k->engine, k->dir,
			strerror(-ret));
		return 2;
	}
	fprintf(stderr, "wbkillw: writing (pid %d)\n", (int)getpid());
	for (uint64_t step = 0; step < 100000000ull; step++) {
		if (k->inflight < 1 + step % KW_QD) {
			ret = rnd(k) % 8 ? kw_write(k) : kw_flush(k);
			if (ret < 0 && ret != -EAGAIN && ret != -EBUSY) {
				fprintf(stderr, "wbkillw: submit: %s\n", strerror(-ret));
				return 2;
			}
		}
		ret = wb_engine_run(k->e, k->inflight >= KW_QD);
		if (ret < 0 && ret != -EAGAIN && ret != -EINTR) {
			fprintf(stderr, "wbkillw: run: %s\n", strerror(-ret));
			return 2;
		}
	}
	return 0;
}

static int do_check(struct kw *k)
{
	char p[512], line[256];
	uint64_t *fts = NULL, nf = 0, capf = 0, v = 0, nb = k->size / TT_BLOCK;
	uint64_t *wl = NULL, capw = 0; /* wid -> lba, n (packed) */
	uint8_t *buf;
	FILE *f;
	int ret;

	k->m = tt_model_new(nb, k->round, k->seed);
	snprintf(p, sizeof(p), "%s/journal", k->dir);
	f = fopen(p, "r");
	if (!f) {
		perror(p);
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t a, b;
		unsigned n;
		int x;

		if (!strchr(line, '\n'))
			break; /* torn last line */
		if (sscanf(line, "S %" SCNu64 " %" SCNu64 " %u %d", &a, &b, &n, &x) == 4) {
			uint64_t wid = tt_write_submit(k->m, b, n, x, 0);

			if (wid != a) {
				fprintf(stderr,
					"wbkillw: journal out of order at write %" PRIu64 "\n", a);
				return 2;
			}
			if (a >= capw) {
				capw = 2 * a + 16;
				wl = realloc(wl, capw * 2 * sizeof(*wl));
				if (!wl)
					return 2;
			}
			wl[2 * a] = b;
			wl[2 * a + 1] = n;
		} else if (sscanf(line, "C %" SCNu64 " %d", &a, &x) == 2 && a < capw) {
			tt_write_done(k->m, a, wl[2 * a], wl[2 * a + 1], x);
		} else if (sscanf(line, "F %" SCNu64, &a) == 1) {
			if (a >= capf) {
				capf = 2 * a + 16;
				fts = realloc(fts, capf * sizeof(*fts));
				if (!fts)
					return 2;
			}
			fts[a] = tt_tick(k->m);
			nf++;
		} else if (sscanf(line, "D %" SCNu64 " %d", &a, &x) == 2 && a < capf) {
			if (x)
				tt_flush_done(k->m, fts[a]);
			else
				tt_tick(k->m);
		}
	}
	fclose(f);
	ret = kw_open(k, 0);
	if (ret < 0) {
		printf("VIOLATION round %u: engine %s did not reopen: %s\nviolations: 1\n",
		       k->round, k->engine, strerror(-ret));
		return 1;
	}
	buf = wb_io_alloc(16 * TT_BLOCK);
	for (uint64_t lba = 0; lba < nb; lba += 16) {
		uint32_t n = nb - lba < 16 ? nb - lba : 16;

		ret = wb_engine_read(k->e, buf, n * TT_BLOCK, lba * TT_BLOCK);
		if (ret < 0) {
			printf("VIOLATION round %u: read lba %" PRIu64 ": %s\n", k->round, lba,
			       strerror(-ret));
			v++;
			continue;
		}
		v += tt_check_durable(k->m, lba, n, buf, stdout);
	}
	uint64_t writes, durable;

	tt_model_counts(k->m, &writes, &durable);
	printf("round %u: %" PRIu64 " writes journaled, %" PRIu64 " flushes, %" PRIu64
	       " blocks durable\nviolations: %" PRIu64 "\n",
	       k->round, writes, nf, durable, v);
	wb_io_free(buf);
	wb_engine_close(k->e);
	wb_io_close(k->log);
	wb_io_close(k->back);
	tt_model_free(k->m);
	free(wl);
	free(fts);
	return v ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"dir", 1, NULL, 'd'},   {"engine", 1, NULL, 'e'}, {"seed", 1, NULL, 's'},
	    {"round", 1, NULL, 'r'}, {"size", 1, NULL, 'S'},   {NULL, 0, NULL, 0},
	};
	struct kw k = {.engine = "passthrough", .seed = 1, .size = 16u << 20};
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	wb_msg_set_sink(quiet, NULL, WB_LOG_DEBUG);
	if (argc < 2)
		goto usage;
	while ((c = getopt_long(argc - 1, argv + 1, "d:e:s:r:S:", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			k.dir = optarg;
			break;
		case 'e':
			k.engine = optarg;
			break;
		case 's':
			k.seed = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			k.round = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			k.size = strtoull(optarg, NULL, 0);
			break;
		default:
			goto usage;
		}
	}
	if (!k.dir || k.size < 16 * TT_BLOCK || k.size % TT_BLOCK)
		goto usage;
	k.rng = k.seed * 0x100000001B3ull + k.round;
	if (!strcmp(argv[1], "write"))
		return do_write(&k);
	if (!strcmp(argv[1], "check"))
		return do_check(&k);
usage:
	fprintf(stderr, "usage: wbkillw write|check --dir D [--engine E] [--seed N] [--round R]"
			" [--size BYTES]\n");
	return 2;
}
