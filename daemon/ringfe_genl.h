/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ringfe_genl.h - the dm-wbrep module's generic netlink family, as the ring
 * frontend uses it: the kernel's status of a ring, and a callback when a
 * ring of a given name is created (the "events" multicast group).
 */
#ifndef WB_DAEMON_RINGFE_GENL_H
#define WB_DAEMON_RINGFE_GENL_H

#include <stdint.h>

struct event_base;

/* Kernel-side status of a ring through generic netlink (WBREP_CMD_STATUS).
 * -ENOENT: no such ring or module not loaded. */
struct wbd_ringfe_kstatus {
	uint32_t session, nslots, slot_size, inflight, pending, fences, queue_timeout_ms;
	uint64_t dev_sectors, completed, timeouts, reissued;
	int found;
};
int wbd_ringfe_kstatus(const char *ring, struct wbd_ringfe_kstatus *st);

/* Subscribe to the "events" group: added(ctx) runs from the event loop each
 * time the kernel announces a ring named `ring`. -ENOENT: the module is not
 * loaded (no family); other failures are logged. Close frees. */
struct wbd_ringfe_events;
int wbd_ringfe_events_open(struct event_base *base, const char *ring, void (*added)(void *ctx),
			   void *ctx, struct wbd_ringfe_events **out);
void wbd_ringfe_events_close(struct wbd_ringfe_events *w);

#endif /* WB_DAEMON_RINGFE_GENL_H */
