/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ringfe_keeper.h - the ring frontend of one wbrepd resource (config key
 * `ring`). Attaches now if it can, else retries every second (target not
 * created yet, module not loaded, ring served by someone else) and at once
 * when the module's netlink "events" group announces the ring, and attaches
 * again whenever the session ends (fenced, target removed and re-created).
 * The owner's kick runs its engine.
 *
 * Ownership: the resource holds the handle (struct wbd_resource.ring) from
 * start to stop; stop drains the requests the engine holds, publishes their
 * completions, detaches (requests not taken yet are re-posted to the next
 * session) and frees the keeper.
 */
#ifndef WB_DAEMON_RINGFE_KEEPER_H
#define WB_DAEMON_RINGFE_KEEPER_H

#include "daemon/ringfe.h"

struct wbd_ringfe_keeper;

int wbd_ringfe_keeper_start(struct event_base *base, const char *ring, struct wb_engine *e,
			    void (*kick)(void *ctx), void *kick_ctx,
			    const struct wbd_ringfe_gate *gate, struct wbd_ringfe_keeper **out);
/* NULL is a no-op. */
void wbd_ringfe_keeper_stop(struct wbd_ringfe_keeper *k);
/* Admission (gate.admit) changed: consume what waited in the ring. NULL is
 * a no-op. */
void wbd_ringfe_keeper_admit(struct wbd_ringfe_keeper *k);

#endif /* WB_DAEMON_RINGFE_KEEPER_H */
