// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbringd.c - a tiny standalone ring daemon for the VM test: one engine
 * (registry: "passthrough" on a device/file, or "ram") served to one
 * dm-wbrep ring through daemon/ringfe.c. No config, no replication.
 *
 *   wbringd -r RING -e passthrough -b /dev/vda [-s BYTES] [-R]
 *   wbringd -r RING -e ram -s BYTES
 *   wbringd -S RING        print the kernel's status of RING (generic netlink)
 *                          as key=value words and exit (1: no such ring)
 *
 * -R: when the session ends (fenced, target removed), attach again until
 * SIGTERM. SIGTERM/SIGINT: detach cleanly (in-flight requests finish first)
 * and exit 0. Exit 3 when the session ended without -R. Writes "ready" to
 * stdout once attached, so scripts can wait for it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/ringfe.h"
#include "daemon/ringfe_genl.h"
#include "engine/wbengine.h"
#include "tests/ringsim/engdrv.h"

struct wbringd {
	struct event_base *base;
	struct wb_engine *e;
	struct wbd_ringfe *fe;
	struct engdrv *drv;
	const char *ring;
	int reattach, ended;
	struct event *retry_ev;
};

static void on_gone(struct wbd_ringfe *fe, void *ctx);

static int do_attach(struct wbringd *d)
{
	int ret = wbd_ringfe_attach(d->base, d->ring, d->e, &d->fe, true);

	if (ret)
		return ret;
	wbd_ringfe_set_kick(d->fe, engdrv_kick, d->drv);
	wbd_ringfe_set_gone(d->fe, on_gone, d);
	printf("ready\n");
	fflush(stdout);
	return 0;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbringd *d = arg;
	struct timeval tv = {0, 200000};

	if (d->fe) {
		wbd_ringfe_close(d->fe);
		d->fe = NULL;
	}
	if (do_attach(d))
		evtimer_add(d->retry_ev, &tv);
}

static void on_gone(struct wbd_ringfe *fe, void *ctx)
{
	struct wbringd *d = ctx;
	struct timeval tv = {0, 0};

	if (!d->reattach) {
		d->ended = 1;
		event_base_loopbreak(d->base);
		return;
	}
	evtimer_add(d->retry_ev, &tv); /* close + attach outside the callback */
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct wbringd *d = arg;

	event_base_loopbreak(d->base);
}

static int print_status(const char *ring)
{
	struct wbd_ringfe_kstatus st;
	int ret = wbd_ringfe_kstatus(ring, &st);

	if (ret) {
		fprintf(stderr, "wbringd: status of %s: %s\n", ring, strerror(-ret));
		return 1;
	}
	printf("session=%u nslots=%u slot_size=%u inflight=%u pending=%u fences=%u "
	       "queue_timeout_ms=%u dev_sectors=%llu completed=%llu timeouts=%llu reissued=%llu\n",
	       st.session, st.nslots, st.slot_size, st.inflight, st.pending, st.fences,
	       st.queue_timeout_ms, (unsigned long long)st.dev_sectors,
	       (unsigned long long)st.completed, (unsigned long long)st.timeouts,
	       (unsigned long long)st.reissued);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: wbringd -r RING -e ENGINE [-b BACKING] [-s BYTES] [-R]\n"
			"       wbringd -S RING\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct wb_engine_params p = {.name = "wbringd"};
	const char *engine = "passthrough", *backing = NULL;
	struct event *sigterm, *sigint;
	struct wbringd d = {0};
	struct wb_io *io = NULL;
	int c, ret, rc = 1;

	while ((c = getopt(argc, argv, "r:e:b:s:RS:")) != -1) {
		switch (c) {
		case 'S':
			return print_status(optarg);
		case 'r':
			d.ring = optarg;
			break;
		case 'e':
			engine = optarg;
			break;
		case 'b':
			backing = optarg;
			break;
		case 's':
			p.size = strtoull(optarg, NULL, 0);
			break;
		case 'R':
			d.reattach = 1;
			break;
		default:
			return usage();
		}
	}
	if (!d.ring)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	if (backing) {
		/* the dm-wbrep target holds its lower device exclusively */
		ret = wb_io_uring_open(backing, 0, WB_IO_OPEN_SHARED, 64, &io);
		if (ret) {
			fprintf(stderr, "wbringd: %s: %s\n", backing, strerror(-ret));
			return 1;
		}
		p.backing_io = io;
	}
	ret = wb_engine_open(engine, &p, &d.e);
	if (ret) {
		fprintf(stderr, "wbringd: engine %s: %s\n", engine, strerror(-ret));
		goto out_io;
	}
	d.base = event_base_new();
	if (!d.base || engdrv_new(d.base, d.e, &d.drv))
		goto out_engine;
	d.retry_ev = evtimer_new(d.base, retry_cb, &d);
	sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	ret = do_attach(&d);
	if (ret) {
		fprintf(stderr, "wbringd: attach %s: %s\n", d.ring, strerror(-ret));
		goto out_loop;
	}
	event_base_dispatch(d.base);
	rc = d.ended ? 3 : 0;
out_loop:
	wbd_ringfe_close(d.fe);
	event_free(sigterm);
	event_free(sigint);
	event_free(d.retry_ev);
	engdrv_free(d.drv);
out_engine:
	if (d.base)
		event_base_free(d.base);
	wb_engine_close(d.e);
out_io:
	wb_io_close(io);
	return rc;
}
