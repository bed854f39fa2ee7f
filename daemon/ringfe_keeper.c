// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringfe_keeper.c - wbrepd's ring frontend of one resource: keeps a
 * struct wbd_ringfe attached to the named dm-wbrep ring across missing
 * targets, unloaded modules and ended sessions (ringfe_keeper.h). Owns the
 * frontend, the retry timer and the netlink events subscription.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/ringfe_genl.h"
#include "daemon/ringfe_keeper.h"
#include "daemon/wbd_log.h"

struct wbd_ringfe_keeper {
	struct event_base *base;
	struct wb_engine *e;
	struct wbd_ringfe *fe;
	struct event *retry_ev;
	void (*kick)(void *ctx);
	void *kick_ctx;
	struct wbd_ringfe_gate gate;
	char ring[WBREP_NAME_MAX];
	struct wbd_ringfe_events *events; /* NULL: timer only */
	int last_err;			  /* last attach error logged, to log changes once */
	unsigned busy_retries;		  /* after a close: the old session goes on the io loop */
};

static void keeper_retry(struct wbd_ringfe_keeper *k, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(k->retry_ev, &tv);
}

static void keeper_ring_added(void *ctx)
{
	struct wbd_ringfe_keeper *k = ctx;

	if (k->fe)
		return;
	wbd_info("ring %s: target created (netlink event), attaching", k->ring);
	keeper_retry(k, 0);
}

static void keeper_gone(struct wbd_ringfe *fe, void *ctx)
{
	/* close + attach again outside ringfe's callback */
	keeper_retry(ctx, 0);
}

static void keeper_attach_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_ringfe_keeper *k = arg;
	uint64_t eng_size, dev_bytes;
	struct wb_engine_stats st;
	int ret;

	if (k->fe) {
		wbd_ringfe_close(k->fe);
		k->fe = NULL;
		k->busy_retries = 200; /* x 10 ms */
	}
	/* Subscribe to the module's "events" group so a target created later
	 * is attached at once; without it (module not loaded yet) the retry
	 * timer does the job and the next retry tries to subscribe again. */
	if (!k->events)
		wbd_ringfe_events_open(k->base, k->ring, keeper_ring_added, k, &k->events);
	ret = wbd_ringfe_attach(k->base, k->ring, k->e, &k->fe, false);
	if (ret == -EBUSY && k->busy_retries) {
		/* our own old session, released by its io loop in a moment */
		k->busy_retries--;
		keeper_retry(k, 10);
		return;
	}
	if (ret) {
		/* no target yet (-ENOENT), no module (-ENOENT on the device),
		 * another daemon (-EBUSY): keep trying, log each new reason once */
		if (ret != k->last_err)
			wbd_warn("ring %s: cannot attach (%s), retrying every second", k->ring,
				 strerror(-ret));
		k->last_err = ret;
		keeper_retry(k, 1000);
		return;
	}
	k->last_err = 0;
	k->busy_retries = 0;
	wbd_ringfe_set_kick(k->fe, k->kick, k->kick_ctx);
	wbd_ringfe_set_gone(k->fe, keeper_gone, k);
	wbd_ringfe_set_gate(k->fe, &k->gate);
	eng_size = wb_engine_stats(k->e, &st) ? 0 : st.size;
	dev_bytes = wbd_ringfe_geo(k->fe)->dev_sectors * 512;
	if (eng_size && dev_bytes > eng_size)
		wbd_warn("ring %s: the dm target (%llu bytes) is larger than the resource (%llu "
			 "bytes); I/O beyond the end fails",
			 k->ring, (unsigned long long)dev_bytes, (unsigned long long)eng_size);
	wbd_ringfe_process(k->fe); /* requests re-posted at attach */
}

int wbd_ringfe_keeper_start(struct event_base *base, const char *ring, struct wb_engine *e,
			    void (*kick)(void *ctx), void *kick_ctx,
			    const struct wbd_ringfe_gate *gate, struct wbd_ringfe_keeper **out)
{
	struct wbd_ringfe_keeper *k;

	if (strlen(ring) >= WBREP_NAME_MAX) {
		wbd_err("ring %s: name too long", ring);
		return -ENAMETOOLONG;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->retry_ev = evtimer_new(base, keeper_attach_cb, k);
	if (!k->retry_ev) {
		free(k);
		return -ENOMEM;
	}
	k->base = base;
	k->e = e;
	k->kick = kick;
	k->kick_ctx = kick_ctx;
	if (gate)
		k->gate = *gate;
	strcpy(k->ring, ring);
	*out = k;
	keeper_attach_cb(-1, 0, k);
	return 0;
}

void wbd_ringfe_keeper_admit(struct wbd_ringfe_keeper *k)
{
	if (k && k->fe)
		wbd_ringfe_process(k->fe); /* what waited in the ring */
}

void wbd_ringfe_keeper_stop(struct wbd_ringfe_keeper *k)
{
	if (!k)
		return;
	event_free(k->retry_ev);
	wbd_ringfe_events_close(k->events);
	/* drains what the engine holds, publishes those completions and
	 * detaches; SQEs not taken yet stay with the kernel (REISSUE) */
	wbd_ringfe_close(k->fe);
	free(k);
}
