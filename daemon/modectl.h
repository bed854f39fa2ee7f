/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * modectl.h - the one place that decides the mode in force of a resource
 * (issue 11, docs/cluster.md "Mode control"): it gathers the facts
 * (corosync connected and quorate from the daemon's membership, or both
 * true with cluster = none; the engine healthy; peers that are corosync
 * members, connected and UpToDate from daemon/repl.c; write-through forced
 * by cache-mode or wbctl mode), asks wbd_policy_decide (daemon/policy.h)
 * and applies the answer to the three places that acknowledge I/O:
 *
 *   mode          engine         ack gate (repl)        admission (NBD, ring)
 *   writeback     write-back     PEERS                  open
 *   writethrough  write-through  PEERS, or BACKING      open
 *                                when peers are short
 *   suspend-io    write-through  CLOSED: nothing acked  new requests wait
 *   io-error      write-through  FAIL: -EIO             new requests fail EIO
 *
 * It is re-evaluated on every membership change, peer change (repl's
 * changed callback), wbctl mode, reload, and once a second (the engine's
 * health). A resource comes up in write-through and enters write-back only
 * once the policy holds. Every mode change is an event (daemon/events.h).
 *
 * Ownership: struct wbd_modectl is embedded in struct wbd_resource; it
 * owns the list of completions it holds itself while suspended (resources
 * without replication; with replication repl's gate holds them).
 * Threads: the resource's event base.
 */
#ifndef WB_DAEMON_MODECTL_H
#define WB_DAEMON_MODECTL_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/policy.h"
#include "engine/wbengine.h"

struct wbd_resource;
struct wbd_mc_held;
struct wbd_memb_facts;

struct wbd_modectl {
	bool active;		   /* between up and down */
	bool wb_capable;	   /* the engine can run write-back */
	enum wbd_policy_mode mode; /* in force */
	char reason[160];	   /* why (wbd_policy_decide), for status and events */
	uint64_t changes;	   /* mode changes since the daemon started */
	uint64_t since_ms;	   /* CLOCK_REALTIME of the last change (or up) */
	unsigned healthy;	   /* healthy peers at the last evaluation */
	/* completions held while suspended (no replication gate) */
	struct wbd_mc_held *held, **held_tail;
	unsigned nheld;
};

/* Up: start in write-through (the engine is switched by the caller), then
 * evaluate. Down: stop, fail what is held with -ESHUTDOWN. */
void wbd_modectl_up(struct wbd_resource *r);
void wbd_modectl_down(struct wbd_resource *r);
/* Gather the facts, decide, apply; emits the events. trigger names what
 * changed ("membership", "peer change", "wbctl mode", ...). */
void wbd_modectl_eval(struct wbd_resource *r, const char *trigger);
/* The daemon's membership changed (r->memb holds the new facts, old the
 * previous ones): drop the links of peers that left, then evaluate. */
void wbd_modectl_membership(struct wbd_resource *r, const struct wbd_memb_facts *old);
/* The NBD export's hold hook: a completed write, trim, write-zeroes or
 * flush; true = taken (release(wr, err) later, or already). */
bool wbd_modectl_hold(struct wbd_resource *r, struct wb_req *wr,
		      void (*release)(struct wb_req *wr, int err));
/* The same, the reply possibly from the io loop (daemon/repl.h). */
struct wbd_repl_fast;
bool wbd_modectl_hold_fast(struct wbd_resource *r, struct wb_req *wr,
			   void (*release)(struct wb_req *wr, int err), struct wbd_repl_fast *f);
/* After every engine run: release what the backing device now holds. */
void wbd_modectl_after_run(struct wbd_resource *r);
/* The ring frontend's admission (enum wbd_ringfe_admit), same as NBD's. */
int wbd_modectl_ring_admit(const struct wbd_resource *r);
/* The engine mode the decision needs (write-back only in write-back). */
enum wb_mode wbd_modectl_engine_mode(const struct wbd_resource *r);
/* Status / JSON name of a mode: "writeback", "writethrough", "suspended"
 * (suspend-io and io-error both; the reason says which). */
const char *wbd_modectl_name(enum wbd_policy_mode m);

#endif /* WB_DAEMON_MODECTL_H */
