// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringbench.c - ring round trips per second: tests/ringsim (the kernel side)
 * + daemon/ringfe.c (the daemon side, in its own thread with a libevent
 * loop, with or without io loops: -i) + a "null" engine registered here that
 * completes every request on the next run without touching data.
 *
 * An "application" thread keeps QD requests of 4 KiB in flight: a write's
 * data is copied into its slot when posted, a read's out of its slot when
 * completed (the two copies the kernel target makes). Completions arrive in
 * the daemon thread (the kick reaps, like the ioctl) and are handed to the
 * application thread, which re-queues them as one batch.
 *
 *   ringbench [-q QD] [-t SECONDS] [-o read|write] [-n NSLOTS] [-i IOLOOPS]
 *
 * -i N (default 0): the rings on N io loops (daemon/ioloop.c), the engine on
 * the daemon thread, as wbrepd runs it; 0: both on the daemon thread.
 *
 * Prints one line: "ringbench op=write qd=32 ops=N secs=S ops_per_sec=X".
 * Exit 0, or 1 with a message when anything failed (a request error, a
 * fence, a request that never completed).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "daemon/ioloop.h"
#include "daemon/ringfe.h"
#include "tests/ringsim/engdrv.h"
#include "engine/wbengine.h"
#include "tests/ringsim/ringsim.h"

#define BS 4096u

/* ---- null engine ---- */

struct null_engine {
	struct wb_engine e;
	struct wb_req *head, *tail;
	uint64_t n;
};

static int null_open(const struct wb_engine_params *p, struct wb_engine **out)
{
	struct null_engine *ne = calloc(1, sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	*out = &ne->e;
	return 0;
}

static void null_close(struct wb_engine *e)
{
	free(e);
}

static int null_submit(struct wb_engine *e, struct wb_req *r)
{
	struct null_engine *ne = (struct null_engine *)e;

	r->ep[0] = 0;
	if (ne->tail)
		ne->tail->ep[0] = (uintptr_t)r;
	else
		ne->head = r;
	ne->tail = r;
	return 0;
}

static int null_run(struct wb_engine *e, int wait)
{
	struct null_engine *ne = (struct null_engine *)e;
	struct wb_req *r = ne->head;
	int n = 0;

	ne->head = ne->tail = NULL;
	while (r) {
		struct wb_req *next = (struct wb_req *)(uintptr_t)r->ep[0];

		r->done(r, 0);
		r = next;
		n++;
	}
	ne->n += n;
	return n;
}

static int null_stats(struct wb_engine *e, struct wb_engine_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->writes = ((struct null_engine *)e)->n;
	return 0;
}

static int null_set_mode(struct wb_engine *e, enum wb_mode mode)
{
	return 0;
}

static const struct wb_engine_ops null_ops = {
    .abi_version = WB_ENGINE_ABI_VERSION,
    .name = "null",
    .description = "completes everything at once, no data (ring benchmark)",
    .open = null_open,
    .close = null_close,
    .submit = null_submit,
    .run = null_run,
    .stats = null_stats,
    .set_mode = null_set_mode,
};

/* ---- the benchmark ---- */

struct bench {
	struct ringsim *rs;
	struct wb_engine *e;
	struct event_base *base;
	struct wbd_ringfe *fe;
	struct engdrv *drv;
	pthread_mutex_t m;
	pthread_cond_t cv;
	struct ringsim_io *done_head; /* completed, not yet re-queued */
	int ndone, errors;
	char *bufs;
};

static void on_end(struct ringsim_io *io)
{
	struct bench *b = io->priv;

	pthread_mutex_lock(&b->m);
	if (io->result)
		b->errors++;
	io->next = b->done_head;
	b->done_head = io;
	if (!b->ndone++)
		pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->m);
}

static void *daemon_thread(void *arg)
{
	struct bench *b = arg;

	event_base_dispatch(b->base);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct ringsim_params rp = {64, 128 * 1024, 2048ull * 1024 * 2}; /* 2 GiB */
	struct wb_engine_params ep = {.name = "ringbench"};
	unsigned int qd = 32, secs = 3, i;
	struct wbd_ringfe_transport t;
	struct ringsim_io *ios, **batch;
	struct bench b = {0};
	uint8_t op = WBREP_OP_WRITE;
	uint64_t ops = 0, blocks = rp.dev_sectors / 8, seed = 88172645463325252ull;
	double t0, el;
	pthread_t th;
	int c, rc = 1, nio = 0;

	while ((c = getopt(argc, argv, "q:t:o:n:i:")) != -1) {
		switch (c) {
		case 'q':
			qd = (unsigned int)atoi(optarg);
			break;
		case 't':
			secs = (unsigned int)atoi(optarg);
			break;
		case 'o':
			op = !strcmp(optarg, "read") ? WBREP_OP_READ : WBREP_OP_WRITE;
			break;
		case 'n':
			rp.nslots = (uint32_t)atoi(optarg);
			break;
		case 'i':
			nio = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: ringbench [-q QD] [-t SECONDS] [-o read|write] "
					"[-n NSLOTS] [-i IOLOOPS]\n");
			return 2;
		}
	}
	if (!qd || qd > 1024 || !secs) {
		fprintf(stderr, "ringbench: bad -q or -t\n");
		return 2;
	}
	evthread_use_pthreads();
	pthread_mutex_init(&b.m, NULL);
	pthread_cond_init(&b.cv, NULL);
	if (wb_engine_register(&null_ops) || wb_engine_open("null", &ep, &b.e) ||
	    ringsim_create(&rp, &b.rs) || !(b.base = event_base_new()) ||
	    ringsim_attach(b.rs, &t) || engdrv_new(b.base, b.e, &b.drv) ||
	    (nio > 0 && wbd_ioloop_start(b.base, (unsigned)nio)) ||
	    wbd_ringfe_open(b.base, &t, b.e, &b.fe)) {
		fprintf(stderr, "ringbench: setup failed\n");
		return 1;
	}
	wbd_ringfe_set_kick(b.fe, engdrv_kick, b.drv);
	ios = calloc(qd, sizeof(*ios));
	batch = calloc(qd, sizeof(*batch));
	if (!ios || !batch || posix_memalign((void **)&b.bufs, BS, (size_t)qd * BS)) {
		fprintf(stderr, "ringbench: out of memory\n");
		return 1;
	}
	memset(b.bufs, 0x5a, (size_t)qd * BS);
	if (pthread_create(&th, NULL, daemon_thread, &b)) {
		fprintf(stderr, "ringbench: pthread_create failed\n");
		return 1;
	}
	for (i = 0; i < qd; i++) {
		ios[i].op = op;
		ios[i].len = BS;
		ios[i].buf = b.bufs + (size_t)i * BS;
		ios[i].end = on_end;
		ios[i].priv = &b;
		batch[i] = &ios[i];
	}
	t0 = now_s();
	for (;;) {
		unsigned int n = 0;
		struct ringsim_io *io;
		int stop = now_s() - t0 >= secs;

		if (!ops || !stop) {
			if (!ops)
				n = qd;
			for (i = 0; i < n; i++) {
				seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
				batch[i]->sector = (seed % blocks) * 8;
			}
			if (n)
				ringsim_queue_many(b.rs, batch, n);
			ops += n;
		}
		if (stop)
			break;
		pthread_mutex_lock(&b.m);
		while (!b.ndone)
			pthread_cond_wait(&b.cv, &b.m);
		n = 0;
		while ((io = b.done_head)) {
			b.done_head = io->next;
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			io->sector = (seed % blocks) * 8;
			batch[n++] = io;
		}
		b.ndone = 0;
		pthread_mutex_unlock(&b.m);
		if (now_s() - t0 < secs) {
			ringsim_queue_many(b.rs, batch, n);
			ops += n;
		} else {
			/* put them back: they count as done */
			pthread_mutex_lock(&b.m);
			for (i = 0; i < n; i++) {
				batch[i]->next = b.done_head;
				b.done_head = batch[i];
			}
			b.ndone += n;
			pthread_mutex_unlock(&b.m);
			break;
		}
	}
	el = now_s() - t0;
	/* wait (bounded) for everything in flight */
	for (i = 0; i < 5000; i++) {
		struct ringsim_stats st;

		ringsim_get_stats(b.rs, &st);
		if (!st.inflight && !st.pending)
			break;
		usleep(1000);
	}
	event_base_loopbreak(b.base);
	pthread_join(th, NULL);
	{
		struct ringsim_stats st;
		struct wbd_ringfe_stats fst;

		ringsim_get_stats(b.rs, &st);
		wbd_ringfe_get_stats(b.fe, &fst);
		if (st.inflight || st.pending || st.fences || b.errors || fst.bad_sqes) {
			fprintf(
			    stderr,
			    "ringbench: inflight %u pending %u fences %llu errors %d bad %llu\n",
			    st.inflight, st.pending, (unsigned long long)st.fences, b.errors,
			    (unsigned long long)fst.bad_sqes);
		} else {
			rc = 0;
		}
		if (st.completed != ops)
			fprintf(stderr, "ringbench: note: %llu queued, %llu completed\n",
				(unsigned long long)ops, (unsigned long long)st.completed);
		printf("ringbench op=%s qd=%u ops=%llu secs=%.3f ops_per_sec=%.0f\n",
		       op == WBREP_OP_READ ? "read" : "write", qd, (unsigned long long)st.completed,
		       el, (double)st.completed / el);
	}
	wbd_ringfe_close(b.fe);
	if (nio > 0)
		wbd_ioloop_stop(); /* runs what the close posted */
	engdrv_free(b.drv);
	event_base_free(b.base);
	ringsim_destroy(b.rs);
	wb_engine_close(b.e);
	free(ios);
	free(batch);
	free(b.bufs);
	return rc;
}
