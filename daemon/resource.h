/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * resource.h - one wbrep resource inside wbrepd: its configuration, the
 * opened log and backing devices (wb_io), the engine instance, the engine's
 * place in the libevent loop (completion fd, timer, kick) and its frontends
 * (NBD export + listeners). Up and down are synchronous; see docs/daemon.md.
 *
 * Ownership: the daemon owns the struct (wbd_resource_new/free) and the
 * struct wbconf it points into (conf stays valid until the daemon replaces
 * it with wbd_resource_set_conf at reload). Everything opened by up() is
 * owned by the resource and released by down().
 */
#ifndef WB_DAEMON_RESOURCE_H
#define WB_DAEMON_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/wbconf.h"
#include "daemon/modectl.h"
#include "daemon/nbd.h"
#include "engine/wbengine.h"

struct event_base;
struct event;
struct wbd_repl;
struct wbd_ringfe_keeper;
struct wbd_repl_env;
struct wbd_memb_facts;

enum wbd_res_state { WBD_RES_DOWN = 0, WBD_RES_UP = 1, WBD_RES_FAILED = 2 };

/* A snapshot's read-only NBD export "RES@GEN" (res_snap.c); gen 0: a free
 * slot (reused only when nothing of it is in flight). */
#define WBD_MAX_SNAPS 8
struct wbd_snapex {
	struct wbd_nbd_export ex;
	uint64_t gen, time_ns;
	uint32_t id; /* the engine's snapshot */
};

/* The destage rate shown is measured over the last WBD_RATE_SAMPLES - 1
 * seconds (at most), from the engine's destaged_bytes counter. */
#define WBD_RATE_SAMPLES 4

struct wbd_resource {
	char name[WBCONF_NAME_MAX + 1];
	const struct wbconf_resource *conf;
	struct event_base *base;
	const struct wbd_nbd_lookup *lk; /* the daemon's export lookup */
	enum wbd_res_state state;
	char last_error[256];
	struct wb_io *backing, *log;
	struct wb_engine *engine;
	struct event *ev_fd, *ev_timer, *ev_kick;
	bool kick_pending;
	struct wbd_nbd_export ex;
	struct wbd_nbd_listener *nbd_tcp, *nbd_unix;
	struct wbd_ringfe_keeper *ring; /* config key `ring`, NULL without */
	unsigned ctl_inflight;		/* control-socket flushes in flight */
	/* cache mode: the configuration's cache-mode unless forced */
	int mode_forced; /* -1: none, else the enum wb_mode wbctl mode set */
	bool draining;	 /* wbctl drain: write-through until clean */
	bool drain_flushed;
	/* why the engine failed: the first error message about this
	 * resource since up (wbd_resource_note_error) */
	char fail_reason[256];
	bool fail_told; /* the "engine" event of this failure was sent */
	/* destage rate: destaged_bytes sampled every second */
	struct event *ev_sample;
	struct {
		uint64_t ms, bytes;
	} samples[WBD_RATE_SAMPLES];
	unsigned nsamples;
	/* replication (daemon/repl.h): env set by the daemon before up when
	 * the configuration has other nodes; repl lives from up to down */
	const struct wbd_repl_env *renv;
	struct wbd_repl *repl;
	/* [global] cluster = corosync: the daemon's membership facts (set
	 * before up, NULL with cluster = none); the mode policy reads them */
	const struct wbd_memb_facts *memb;
	struct wbd_modectl mc; /* the mode in force and why (modectl.h) */
	/* roles (res_role.c): writes refused by the frontends (a secondary,
	 * or a demotion running); a wbctl primary/secondary in progress */
	bool writes_off;
	struct wbd_role_change *role_chg;
	/* open snapshots and their exports (res_snap.c) */
	struct wbd_snapex snaps[WBD_MAX_SNAPS];
	uint64_t snaps_dropped_seen; /* the engine's snapshots_dropped */
	uint64_t read_errors;	     /* reads that failed here since up */
};

struct wbd_resource *wbd_resource_new(struct event_base *base, const struct wbconf_resource *conf,
				      const struct wbd_nbd_lookup *lk);
void wbd_resource_free(struct wbd_resource *r); /* downs it first */
void wbd_resource_set_conf(struct wbd_resource *r, const struct wbconf_resource *conf);

/* Open devices and engine, start the frontends. A log that is all zeroes
 * (new) is formatted; one with content is opened, never overwritten.
 * 0 or -errno, with a message in err (also logged). */
int wbd_resource_up(struct wbd_resource *r, char *err, size_t errlen);
/* Stop the listeners, refuse new requests, complete what is in flight,
 * flush, close the engine and the devices. */
void wbd_resource_down(struct wbd_resource *r);
static inline bool wbd_resource_is_up(const struct wbd_resource *r)
{
	return r->state == WBD_RES_UP;
}

/* Asynchronous flush of the engine; done(arg, err) from the event loop. */
int wbd_resource_flush(struct wbd_resource *r, void (*done)(void *arg, int err), void *arg);
/* Force the cache mode (wbctl mode) until the next down; mode < 0 returns
 * to the configuration's cache-mode. It is a fact for the mode policy
 * (modectl.h): forced write-through wins, write-back still needs quorum and
 * enough peers. A drain in progress finishes first and then goes to the
 * decided mode. 0, -ENODEV (not up), -EOPNOTSUPP (the engine cannot run
 * write-back: passthrough). */
int wbd_resource_set_mode(struct wbd_resource *r, int mode);
/* After a reload: the mode policy decides again (new cache-mode,
 * wb-min-peers, on-no-quorum). */
void wbd_resource_conf_mode(struct wbd_resource *r);
/* A reload gave this node peers (docs/configuration.md, "From one node to
 * a pair"): replication starts on r if it is up, as primary. 0 or -errno
 * with err. */
int wbd_resource_start_repl(struct wbd_resource *r, char *err, size_t errlen);
/* Put the engine in the mode the policy decided (modectl.h), unless a
 * drain runs (it ends in that mode). */
void wbd_resource_sync_mode(struct wbd_resource *r);
/* wbctl drain: write back every dirty byte. Switches the engine to
 * write-through (so the log only shrinks), flushes, and when the log is
 * clean goes back to the mode in force. Progress: wbd_resource_stats and
 * r->draining. 0 or -errno (-ENODEV not up, -EIO engine failed). */
int wbd_resource_drain(struct wbd_resource *r);
/* Engine statistics with the destage rate and ETA replaced by the rate
 * measured over the last seconds (0 = idle); finishes a drain that is
 * done. -ENODEV when not up. */
int wbd_resource_stats(struct wbd_resource *r, struct wb_engine_stats *st);
/* An error was logged; msg starts with "NAME: " if it is about r. Kept as
 * the failure reason when it is the first one since up. */
void wbd_resource_note_error(struct wbd_resource *r, const char *msg);

/* wbctl resize (res_grow.c): grow the device to size bytes (a multiple of
 * 4096: wbproto_ctl_check; 0: the largest
 * this node and, on a replicated primary, every connected peer allows;
 * assume_clean: do not resync the new range; peer_space: peers not
 * connected will hold it). -EINPROGRESS: done(arg, err, msg) follows;
 * 0: nothing to do (err says why); else -errno with err set. */
int wbd_resource_resize(struct wbd_resource *r, uint64_t size, bool assume_clean, bool peer_space,
			void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
			size_t errlen);
/* `wbctl resize RES --log` (res_grow.c, docs/engine.md "Growing the log"):
 * grow this node's log data area into its grown log device (bytes: the
 * log's size to use, 0 = the whole device). Local to this node, any role.
 * Returns like wbd_resource_resize. */
int wbd_resource_grow_log(struct wbd_resource *r, uint64_t bytes,
			  void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
			  size_t errlen);
/* Roles at run time (res_role.c, docs/replication.md "Roles"). Promote:
 * 0 or -errno with err set. Demote: stops the frontends' writes, flushes,
 * waits for the peers' acks of what was written, then switches the engine;
 * -EINPROGRESS and done(arg, err, msg) later, or an error at once. */
int wbd_resource_primary(struct wbd_resource *r, bool force, char *err, size_t errlen);
int wbd_resource_secondary(struct wbd_resource *r,
			   void (*done)(void *arg, int err, const char *msg), void *arg, char *err,
			   size_t errlen);
/* Snapshots of older generations (res_snap.c, docs/snapshots.md): open
 * one of generation gen (0: the newest that ended at or before at_ms), as
 * the read-only NBD export "RES@GEN"; *gen_out = the generation. Drop one.
 * 0 or -errno with err set. */
int wbd_resource_snapshot(struct wbd_resource *r, uint64_t gen, uint64_t at_ms, uint64_t *gen_out,
			  char *err, size_t errlen);
int wbd_resource_snapshot_drop(struct wbd_resource *r, uint64_t gen, char *err, size_t errlen);
/* The export of generation gen, NULL: none open. */
struct wbd_nbd_export *wbd_resource_snap_export(struct wbd_resource *r, uint64_t gen);
/* Close the exports of snapshots the engine dropped by itself (log full,
 * write-through, resync); every second and before a lookup or status. */
void wbd_resource_snap_sync(struct wbd_resource *r);
/* down: close every snapshot export (quiesce, then detach once nothing
 * is in flight); requests in flight on them */
void wbd_resource_snap_quiesce(struct wbd_resource *r);
unsigned wbd_resource_snap_inflight(const struct wbd_resource *r);
void wbd_resource_snap_detach(struct wbd_resource *r);

/* Frontend hook: may writes go to the engine now? */
bool wbd_resource_writable(void *ctx);
/* down: a demotion in progress ends (done with -ESHUTDOWN). */
void wbd_resource_role_cancel(struct wbd_resource *r);

/* --create-md: format the log of a resource (devices opened and closed
 * here), with this node's node_id (0 = none) in its metadata. A log that is
 * not certainly new (wb_log_probe: not BLANK) is refused unless force; one
 * that holds records (data possibly not on the backing device) also needs
 * discard_dirty. 0 or -errno (logged). */
int wbd_resource_create_md(const struct wbconf_resource *conf, bool force, bool discard_dirty,
			   uint32_t node_id);
/* --create-md --upgrade: the engine's offline upgrade of the log to the
 * current format (wblog 1 -> 2), records kept. 0 (also when there was
 * nothing to do) or -errno (logged). */
int wbd_resource_upgrade_md(const struct wbconf_resource *conf, uint32_t node_id);

/* Open parameters from the configuration (exposed for tests). */
void wbd_resource_params(const struct wbconf_resource *conf, struct wb_engine_params *p);

#endif /* WB_DAEMON_RESOURCE_H */
