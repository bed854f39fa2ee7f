// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbbench_engine.c - engine benchmark driver behind tests/bench/run.sh.
 *
 * Drives one engine through its asynchronous API (wb_engine_submit +
 * wb_engine_run) on files opened with the "uring" io backend, and prints one
 * JSON object per measurement on stdout. run.sh runs the peer (fio, raw
 * O_DIRECT on a file of the same size) and builds the table.
 *
 *   wbbench_engine --case C --dir DIR [--engine NAME|auto] [--size BYTES]
 *                  [--log-size BYTES] [--bs BYTES] [--qd N] [--runtime SEC]
 *                  [--span BYTES] [--max-bytes BYTES] [--destage default|hold|drain]
 * Cases:
 *   randwrite  random writes of bs over the device, qd deep, for runtime
 *              seconds or max-bytes (default: 3/4 of the log, so the case
 *              measures what the log absorbs, not a full log waiting for
 *              destage); --destage picks the destage setting (see enum wm);
 *              a second line reports the engine's stats after the load
 *   seqwrite   the same, sequential (wrapping)
 *   sustained  randwrite for runtime seconds with no byte cap (max-bytes
 *              default: unbounded): the log fills and the writers run at
 *              the rate destage frees it (issue 8's headline number)
 *   randread   prefill span bytes (1 MiB writes, flush, destage held), then
 *              random reads of bs, every block checked against its stamp
 *   replay     fill span bytes of the log (1 MiB writes, flush, close with
 *              destage held), reopen: the open time is the recovery time; then
 *              destage at full speed until dirty_bytes is 0: destage rate
 *              (engines without a log report 0 bytes)
 *   extmap     1M random extents in a wb_extmap: bytes per extent
 * WBBENCH_DEBUG=1 prints open/close times and drain progress on stderr.
 * --engine auto = "wblog" when it is registered, else "passthrough".
 * Files DIR/backing.img (size) and DIR/log.img (log-size) are created if
 * missing; run.sh pre-writes them so that no case pays for block allocation.
 * Exit status: 0, or 1 on any error (the message says which).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/extmap.h"
#include "engine/wbengine.h"

#define MAX_QD 256

/*
 * Destage settings per case. WM_DEFAULT: the engine's defaults (what a
 * resource without destage keys in its config gets). WM_HOLD: nothing is
 * destaged (watermarks at the top, minimum rate 1 byte/s), so the log keeps
 * what was written. WM_DRAIN: destage at full speed down to an empty log (a
 * minimum rate far above any device, so the rate limiter never holds it back
 * below the low watermark).
 */
enum wm { WM_DEFAULT, WM_HOLD, WM_DRAIN };
static const char *const wm_name[] = {"default", "hold", "drain"};

struct opts {
	const char *kase, *dir, *engine;
	uint64_t size, log_size, span, max_bytes;
	uint32_t bs;
	unsigned qd;
	double runtime;
	enum wm wm; /* destage setting of the write cases */
};

struct bench {
	struct opts o;
	const char *engine; /* resolved name */
	struct wb_io *log_io, *back_io;
	struct wb_engine *e;
};

struct load;

struct slot {
	struct wb_req r;
	void *buf;
	uint64_t t_submit;
	struct load *ld;
};

struct load {
	struct wb_engine *e;
	uint8_t op; /* WB_REQ_READ / WB_REQ_WRITE */
	int random, verify;
	uint32_t bs;
	uint64_t span, next_off, rng;
	uint64_t deadline, max_bytes, issued_bytes;
	uint64_t ops, bytes, lat_sum, t_start, t_end;
	unsigned inflight;
	int err, stop;
	struct slot slots[MAX_QD];
	unsigned qd;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Every 4 KiB block written carries its byte offset in its first 8 bytes. */
static void stamp(void *buf, uint32_t len, uint64_t off)
{
	for (uint32_t i = 0; i < len; i += WB_BLOCK_SIZE)
		*(uint64_t *)((char *)buf + i) = off + i;
}

static int check_stamp(const void *buf, uint32_t len, uint64_t off)
{
	for (uint32_t i = 0; i < len; i += WB_BLOCK_SIZE)
		if (*(const uint64_t *)((const char *)buf + i) != off + i)
			return -1;
	return 0;
}

static void slot_issue(struct slot *s);

static void slot_done(struct wb_req *r, int err)
{
	struct slot *s = r->priv;
	struct load *ld = s->ld;
	uint64_t t = now_ns();

	ld->inflight--;
	ld->t_end = t;
	if (err) {
		fprintf(stderr, "wbbench: %s at offset %llu failed: %s\n",
			ld->op == WB_REQ_READ ? "read" : "write", (unsigned long long)r->off,
			strerror(-err));
		ld->err = err;
		ld->stop = 1;
		return;
	}
	if (ld->verify && check_stamp(s->buf, r->len, r->off)) {
		fprintf(stderr, "wbbench: read at offset %llu returned wrong data (stamp %llu)\n",
			(unsigned long long)r->off, (unsigned long long)*(uint64_t *)s->buf);
		ld->err = -EIO;
		ld->stop = 1;
		return;
	}
	ld->ops++;
	ld->bytes += r->len;
	ld->lat_sum += t - s->t_submit;
	if (t >= ld->deadline || (ld->max_bytes && ld->issued_bytes >= ld->max_bytes))
		ld->stop = 1;
	if (!ld->stop)
		slot_issue(s);
}

static void slot_issue(struct slot *s)
{
	struct load *ld = s->ld;
	struct wb_req *r = &s->r;
	uint64_t off;
	int ret;

	if (ld->random) {
		off = (rnd(&ld->rng) % (ld->span / ld->bs)) * ld->bs;
	} else {
		if (ld->next_off + ld->bs > ld->span)
			ld->next_off = 0;
		off = ld->next_off;
		ld->next_off += ld->bs;
	}
	memset(r, 0, sizeof(*r));
	r->op = ld->op;
	r->len = ld->bs;
	r->off = off;
	r->buf = s->buf;
	r->done = slot_done;
	r->priv = s;
	if (ld->op == WB_REQ_WRITE)
		stamp(s->buf, ld->bs, off);
	s->t_submit = now_ns();
	ret = wb_engine_submit(ld->e, r);
	if (ret < 0) {
		fprintf(stderr, "wbbench: submit at offset %llu: %s\n", (unsigned long long)off,
			strerror(-ret));
		ld->err = ret;
		ld->stop = 1;
		return;
	}
	ld->inflight++;
	ld->issued_bytes += ld->bs;
}

/* Run a load to its end; 0 or -errno. */
static int load_run(struct load *ld)
{
	unsigned i;
	int ret = 0;

	for (i = 0; i < ld->qd; i++) {
		ld->slots[i].ld = ld;
		ld->slots[i].buf = wb_io_alloc(ld->bs);
		if (!ld->slots[i].buf) {
			fprintf(stderr, "wbbench: out of memory\n");
			ret = -ENOMEM;
			goto out_free;
		}
		memset(ld->slots[i].buf, 0xa5, ld->bs);
	}
	ld->t_start = ld->t_end = now_ns();
	for (i = 0; i < ld->qd && !ld->stop; i++)
		slot_issue(&ld->slots[i]);
	while (ld->inflight) {
		int n = wb_engine_run(ld->e, 1);

		if (n < 0 && n != -EINTR && n != -EAGAIN) {
			fprintf(stderr, "wbbench: engine run: %s\n", strerror(-n));
			ret = n;
			break;
		}
	}
	if (!ret)
		ret = ld->err;
out_free:
	for (i = 0; i < ld->qd; i++)
		wb_io_free(ld->slots[i].buf);
	return ret;
}

static void load_init(struct load *ld, struct wb_engine *e, uint8_t op, int random, uint32_t bs,
		      unsigned qd, uint64_t span, double runtime, uint64_t max_bytes)
{
	memset(ld, 0, sizeof(*ld));
	ld->e = e;
	ld->op = op;
	ld->random = random;
	ld->bs = bs;
	ld->qd = qd;
	ld->span = span;
	ld->rng = 0x9e3779b97f4a7c15ull ^ now_ns();
	ld->deadline = now_ns() + (uint64_t)(runtime * 1e9);
	ld->max_bytes = max_bytes;
}

static void print_load(const struct bench *b, const char *kase, const char *wm,
		       const struct load *ld)
{
	double secs = (double)(ld->t_end - ld->t_start) / 1e9;

	if (secs <= 0)
		secs = 1e-9;
	printf("{\"case\":\"%s\",\"engine\":\"%s\",\"destage\":\"%s\",\"bs\":%u,\"qd\":%u,"
	       "\"ops\":%llu,\"bytes\":%llu,\"secs\":%.3f,\"iops\":%.0f,\"mbps\":%.1f,"
	       "\"lat_us\":%.1f}\n",
	       kase, b->engine, wm, ld->bs, ld->qd, (unsigned long long)ld->ops,
	       (unsigned long long)ld->bytes, secs, (double)ld->ops / secs,
	       (double)ld->bytes / secs / 1048576.0,
	       ld->ops ? (double)ld->lat_sum / (double)ld->ops / 1000.0 : 0.0);
	fflush(stdout);
}

/* ---- setup ---- */

static int open_ios(struct bench *b)
{
	char path[4096];
	int ret;

	snprintf(path, sizeof(path), "%s/backing.img", b->o.dir);
	/* + the identity block after the exported range (engine/bind.h) */
	ret = wb_io_uring_open(path, b->o.size + 4096, WB_IO_OPEN_CREATE, 256, &b->back_io);
	if (ret) {
		fprintf(stderr, "wbbench: cannot open %s: %s\n", path, strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), "%s/log.img", b->o.dir);
	ret = wb_io_uring_open(path, b->o.log_size, WB_IO_OPEN_CREATE, 256, &b->log_io);
	if (ret) {
		fprintf(stderr, "wbbench: cannot open %s: %s\n", path, strerror(-ret));
		return ret;
	}
	return 0;
}

static int engine_open(struct bench *b, int format, enum wm wm)
{
	struct wb_engine_params p = {
	    .name = "bench",
	    .log_io = b->log_io,
	    .backing_io = b->back_io,
	    .size = b->o.size,
	};
	uint64_t tf = now_ns(), t0;
	int ret;

	if (wm == WM_HOLD) {
		p.destage_low_pct = 99;
		p.destage_high_pct = 100;
		p.destage_min_rate = 1;
	} else if (wm == WM_DRAIN) {
		p.destage_low_pct = 1;
		p.destage_high_pct = 90;
		p.destage_min_rate = 64ull << 30;
	}
	if (format) {
		ret = wb_engine_format(b->engine, &p);
		if (ret && ret != -EOPNOTSUPP) {
			fprintf(stderr, "wbbench: format (%s): %s\n", b->engine, strerror(-ret));
			return ret;
		}
	}
	t0 = now_ns();
	ret = wb_engine_open(b->engine, &p, &b->e);
	if (getenv("WBBENCH_DEBUG"))
		fprintf(stderr, "format+open: %.3f s + %.3f s\n", (double)(t0 - tf) / 1e9,
			(double)(now_ns() - t0) / 1e9);
	if (ret)
		fprintf(stderr, "wbbench: open (%s): %s\n", b->engine, strerror(-ret));
	return ret;
}

static void engine_close(struct bench *b)
{
	uint64_t t0 = now_ns();

	wb_engine_close(b->e);
	if (getenv("WBBENCH_DEBUG"))
		fprintf(stderr, "close: %.3f s\n", (double)(now_ns() - t0) / 1e9);
	b->e = NULL;
}

static int stats(struct bench *b, struct wb_engine_stats *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	ret = wb_engine_stats(b->e, st);
	if (ret)
		fprintf(stderr, "wbbench: stats: %s\n", strerror(-ret));
	return ret;
}

/* Sequential 1 MiB writes over [0, span), then a flush. */
static int prefill(struct bench *b, uint64_t span)
{
	struct load ld;
	int ret;

	load_init(&ld, b->e, WB_REQ_WRITE, 0, 1u << 20, 8, span, 3600, span);
	ret = load_run(&ld);
	if (!ret)
		ret = wb_engine_flush(b->e);
	if (ret)
		fprintf(stderr, "wbbench: prefill of %llu bytes: %s\n", (unsigned long long)span,
			strerror(-ret));
	return ret;
}

/* ---- cases ---- */

/* kase: the name printed (randwrite, seqwrite, sustained); max_bytes 0 =
 * 3/4 of the log, except for sustained (unbounded: time only) */
static int case_write(struct bench *b, const char *kase, int random)
{
	struct wb_engine_stats st;
	struct load ld;
	int sustained = !strcmp(kase, "sustained");
	uint64_t maxb = b->o.max_bytes ? b->o.max_bytes
			: sustained    ? UINT64_MAX
				       : b->o.log_size * 3 / 4;
	int ret;

	ret = engine_open(b, 1, b->o.wm);
	if (ret)
		return ret;
	load_init(&ld, b->e, WB_REQ_WRITE, random, b->o.bs, b->o.qd, b->o.size, b->o.runtime, maxb);
	ret = load_run(&ld);
	if (!ret)
		ret = stats(b, &st);
	if (!ret) {
		print_load(b, kase, wm_name[b->o.wm], &ld);
		/* what the engine did meanwhile: destage, throttling, map size */
		printf("{\"case\":\"%s_stats\",\"engine\":\"%s\",\"qd\":%u,\"destage\":\"%s\","
		       "\"destaged_bytes\":%llu,\"throttle_events\":%llu,\"log_used\":%llu,"
		       "\"dirty_bytes\":%llu,\"seq_head\":%llu,\"extents\":%llu,"
		       "\"extent_mem_bytes\":%llu}\n",
		       kase, b->engine, b->o.qd, wm_name[b->o.wm],
		       (unsigned long long)st.destaged_bytes,
		       (unsigned long long)st.throttle_events, (unsigned long long)st.log_used,
		       (unsigned long long)st.dirty_bytes, (unsigned long long)st.seq_head,
		       (unsigned long long)st.extents, (unsigned long long)st.extent_mem_bytes);
		fflush(stdout);
	}
	/*
	 * Make the log durable before close (not timed): wblog's close would
	 * otherwise destage the whole log while it waits for its final flush,
	 * which costs wall time and says nothing about this case.
	 */
	if (!ret)
		ret = wb_engine_flush(b->e);
	engine_close(b);
	return ret;
}

static int case_randread(struct bench *b)
{
	uint64_t span = b->o.span ? b->o.span : 128ull << 20;
	struct load ld;
	int ret;

	if (span > b->o.size)
		span = b->o.size;
	ret = engine_open(b, 1, WM_HOLD);
	if (ret)
		return ret;
	ret = prefill(b, span);
	if (!ret) {
		load_init(&ld, b->e, WB_REQ_READ, 1, b->o.bs, b->o.qd, span, b->o.runtime, 0);
		ld.verify = 1;
		ret = load_run(&ld);
		if (!ret)
			print_load(b, "randread", wm_name[WM_HOLD], &ld);
	}
	engine_close(b);
	return ret;
}

static int wait_drained(struct bench *b, double timeout_s, struct wb_engine_stats *st)
{
	uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9), last = 0;
	int ret;

	for (;;) {
		ret = stats(b, st);
		if (ret)
			return ret;
		if (!st->dirty_bytes)
			return 0;
		if (getenv("WBBENCH_DEBUG") && now_ns() - last > 1000000000ull) {
			last = now_ns();
			fprintf(stderr, "dirty %llu used %llu destaged %llu timeout %d ms\n",
				(unsigned long long)st->dirty_bytes,
				(unsigned long long)st->log_used,
				(unsigned long long)st->destaged_bytes, wb_engine_timeout_ms(b->e));
		}
		if (now_ns() > deadline) {
			fprintf(stderr,
				"wbbench: destage did not finish in %.0f s (%llu bytes dirty)\n",
				timeout_s, (unsigned long long)st->dirty_bytes);
			return -ETIMEDOUT;
		}
		int fd = wb_engine_fd(b->e), tmo = wb_engine_timeout_ms(b->e);

		if (tmo < 0 || tmo > 20)
			tmo = 20;
		if (fd >= 0) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};

			poll(&pfd, 1, tmo);
		}
		ret = wb_engine_run(b->e, 0);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
			fprintf(stderr, "wbbench: engine run: %s\n", strerror(-ret));
			return ret;
		}
	}
}

static int case_replay(struct bench *b)
{
	uint64_t span = b->o.span ? b->o.span : b->o.log_size * 3 / 4;
	struct wb_engine_stats st;
	uint64_t t0, t1, dirty0, destaged0;
	int ret;

	if (span > b->o.size)
		span = b->o.size;
	ret = engine_open(b, 1, WM_HOLD);
	if (ret)
		return ret;
	ret = prefill(b, span);
	engine_close(b);
	if (ret)
		return ret;

	t0 = now_ns();
	ret = engine_open(b, 0, WM_DRAIN);
	t1 = now_ns();
	if (ret)
		return ret;
	ret = stats(b, &st);
	if (ret)
		goto out_close;
	printf("{\"case\":\"replay\",\"engine\":\"%s\",\"written\":%llu,\"log_used\":%llu,"
	       "\"dirty\":%llu,\"secs\":%.3f,\"mbps\":%.1f}\n",
	       b->engine, (unsigned long long)span, (unsigned long long)st.log_used,
	       (unsigned long long)st.dirty_bytes, (double)(t1 - t0) / 1e9,
	       (double)st.log_used / ((double)(t1 - t0) / 1e9) / 1048576.0);
	fflush(stdout);

	dirty0 = st.dirty_bytes;
	destaged0 = st.destaged_bytes;
	t0 = now_ns();
	ret = wait_drained(b, 120, &st);
	t1 = now_ns();
	if (ret)
		goto out_close;
	printf("{\"case\":\"destage\",\"engine\":\"%s\",\"bytes\":%llu,\"destaged\":%llu,"
	       "\"secs\":%.3f,\"mbps\":%.1f,\"engine_rate_mbps\":%.1f}\n",
	       b->engine, (unsigned long long)dirty0,
	       (unsigned long long)(st.destaged_bytes - destaged0), (double)(t1 - t0) / 1e9,
	       (double)dirty0 / ((double)(t1 - t0) / 1e9) / 1048576.0,
	       (double)st.destage_rate / 1048576.0);
out_close:
	engine_close(b);
	return ret;
}

static int case_extmap(struct bench *b)
{
	struct wb_extmap *m;
	uint64_t s = 0x5eed;
	uint64_t t0 = now_ns(), t1;
	int ret = wb_extmap_create(&m);

	if (ret)
		return ret;
	for (uint64_t i = 0; i < 1000000 && !ret; i++)
		ret = wb_extmap_insert(m, rnd(&s) % (1ull << 34), 1 + (uint32_t)(rnd(&s) % 8),
				       rnd(&s) % (1ull << 36), i + 1);
	t1 = now_ns();
	if (!ret)
		printf("{\"case\":\"extmap\",\"extents\":%llu,\"mem_bytes\":%llu,"
		       "\"bytes_per_extent\":%.2f,\"insert_ms\":%.0f}\n",
		       (unsigned long long)wb_extmap_count(m),
		       (unsigned long long)wb_extmap_mem_bytes(m),
		       (double)wb_extmap_mem_bytes(m) / (double)wb_extmap_count(m),
		       (double)(t1 - t0) / 1e6);
	wb_extmap_destroy(m);
	return ret;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'g':
	case 'G':
		v <<= 30;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		break;
	case 'k':
	case 'K':
		v <<= 10;
		break;
	default:
		break;
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: wbbench_engine --case randwrite|seqwrite|sustained|randread|replay|extmap"
		" --dir DIR [--engine NAME|auto] [--size B] [--log-size B] [--bs B]"
		" [--qd N] [--runtime S] [--span B] [--max-bytes B]"
		" [--destage default|hold|drain]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	/* clang-format off */
	static const struct option lo[] = {
	    {"case", 1, 0, 'c'},
	    {"dir", 1, 0, 'd'},
	    {"engine", 1, 0, 'e'},
	    {"size", 1, 0, 's'},
	    {"log-size", 1, 0, 'l'},
	    {"bs", 1, 0, 'b'},
	    {"qd", 1, 0, 'q'},
	    {"runtime", 1, 0, 't'},
	    {"span", 1, 0, 'p'},
	    {"max-bytes", 1, 0, 'm'},
	    {"destage", 1, 0, 'w'},
	    {0, 0, 0, 0},
	};
	/* clang-format on */
	struct bench b = {.o = {.engine = "auto",
				.size = 1ull << 30,
				.log_size = 512ull << 20,
				.bs = 4096,
				.qd = 1,
				.runtime = 10}};
	int c, ret;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			b.o.kase = optarg;
			break;
		case 'd':
			b.o.dir = optarg;
			break;
		case 'e':
			b.o.engine = optarg;
			break;
		case 's':
			b.o.size = parse_size(optarg);
			break;
		case 'l':
			b.o.log_size = parse_size(optarg);
			break;
		case 'b':
			b.o.bs = (uint32_t)parse_size(optarg);
			break;
		case 'q':
			b.o.qd = (unsigned)atoi(optarg);
			break;
		case 't':
			b.o.runtime = atof(optarg);
			break;
		case 'p':
			b.o.span = parse_size(optarg);
			break;
		case 'm':
			b.o.max_bytes = parse_size(optarg);
			break;
		case 'w':
			for (c = 0; c < 3 && strcmp(optarg, wm_name[c]); c++)
				;
			if (c == 3)
				usage();
			b.o.wm = (enum wm)c;
			break;
		default:
			usage();
		}
	}
	if (!b.o.kase || b.o.qd < 1 || b.o.qd > MAX_QD || !b.o.bs || b.o.bs % WB_BLOCK_SIZE ||
	    b.o.size % WB_BLOCK_SIZE || b.o.size < b.o.bs)
		usage();
	if (!strcmp(b.o.kase, "extmap"))
		return case_extmap(&b) ? 1 : 0;
	if (!b.o.dir)
		usage();
	b.engine = b.o.engine;
	if (!strcmp(b.engine, "auto"))
		b.engine = wb_engine_find("wblog") ? "wblog" : "passthrough";
	if (!wb_engine_find(b.engine)) {
		fprintf(stderr, "wbbench: engine \"%s\" is not registered\n", b.engine);
		return 1;
	}
	ret = open_ios(&b);
	if (ret)
		goto out;
	if (!strcmp(b.o.kase, "randwrite") || !strcmp(b.o.kase, "sustained"))
		ret = case_write(&b, b.o.kase, 1);
	else if (!strcmp(b.o.kase, "seqwrite"))
		ret = case_write(&b, b.o.kase, 0);
	else if (!strcmp(b.o.kase, "randread"))
		ret = case_randread(&b);
	else if (!strcmp(b.o.kase, "replay"))
		ret = case_replay(&b);
	else
		usage();
out:
	wb_io_close(b.back_io);
	wb_io_close(b.log_io);
	return ret ? 1 : 0;
}
