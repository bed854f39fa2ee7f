/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ctl.h - the wbrepd control-socket server (unix socket, protobuf frames from
 * proto/wbproto.h; the protocol is in docs/control-protocol.md).
 *
 * The server listens on a unix socket (mode 0600, a stale socket file is
 * removed at start), accepts several clients, decodes and validates every
 * request frame (known type, resource name well formed and existing, fields
 * in range) and dispatches it to a handler table the daemon provides. The
 * table uses plain C structs, so the daemon does not see protobuf. Bad input
 * (garbage, unknown type, oversize frame) gets an error reply or a clean
 * disconnect, never a crash.
 *
 * Asynchronous actions: up/down/flush/mode/reload/drain handlers receive a
 * struct wbd_ctl_req *. They return 0 (done, success), a negative errno (done,
 * failed; err holds a message for the user) or -EINPROGRESS: the daemon then
 * calls wbd_ctl_complete(req, ...) exactly once later, even if the client has
 * gone or wbd_ctl_stop() ran meanwhile (the request then only gets freed).
 *
 * Ownership: wbd_ctl_start() copies the handler table; ctx stays the
 * caller's. Status arrays returned by the status handler are malloc'd by the
 * daemon and freed by ctl with free().
 */
#ifndef WB_DAEMON_CTL_H
#define WB_DAEMON_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/wbconf.h"
#include "engine/wbengine.h"

struct event_base;
struct wbd_event;
struct wbd_ctl;
struct wbd_ctl_req;

/* One replication peer of a resource (docs/replication.md, "Status"). */
#define WBD_CTL_MAX_PEERS 16
struct wbd_ctl_peer_status {
	char node[64];
	char connection[16];  /* "Connected", "Connecting", "StandAlone" */
	char role[16];	      /* "primary", "secondary", "unknown" */
	char disk[16];	      /* "UpToDate", "Outdated", "DUnknown" */
	char replication[16]; /* "Established", "Congested", "CatchingUp", "Off", ... */
	bool has_seq_lag, has_oos;
	int64_t seq_lag;   /* records the peer lacks; < 0: it holds more */
	uint64_t oos;	   /* bytes out of sync, when known */
	uint64_t acked;	   /* every seq below is acked durable (primary) */
	char problem[400]; /* last refusal of this link, "" if none */
	/* the last online verify against this peer; verify_state "" = none */
	char verify_state[96]; /* "running", "done", "aborted: why" */
	uint64_t verify_oos, verify_skipped, verify_compared; /* bytes */
	uint64_t verify_unread; /* of verify_oos: unreadable on the peer */
	/* a resync with this peer runs (docs/replication.md, "Resync") */
	bool resync;
	uint64_t rs_total, rs_done, rs_rate, rs_eta_ms;
	bool rs_throttled;
	bool rs_paused;	    /* it asks for no data (wbctl pause-sync here or there) */
	bool peer_paused;   /* the peer's operator paused its resyncs */
	char rs_after[64];  /* "" or the resource it waits for (resync-after) */
	bool rs_hook;	    /* the log drains / before-resync-target runs */
	bool has_rs_window; /* target: c-delay-target's window, last queueing */
	uint64_t rs_window, rs_queue_us;
	/* primary: the link's send queue (bytes, cap); congested: full */
	bool has_sndq, congested;
	uint64_t sndq, sndq_max;
	/* records the log keeps for the peer (its hold), when it holds */
	bool has_kept;
	uint64_t kept;
	int64_t cert_not_after; /* the peer's TLS certificate; 0: none seen */
};

/* An open snapshot of a resource (res_snap.c). */
#define WBD_CTL_MAX_SNAPS 8
struct wbd_ctl_snap_status {
	uint64_t gen, time_ms, extents;
	uint32_t clients;
	char export_name[96];
};

/* Per-resource status; strings are NUL-terminated (truncated if longer). */
struct wbd_ctl_res_status {
	char name[64];
	char engine[32];
	char state[16]; /* "up", "down", "failed", "starting", ... */
	char role[16];	/* "primary", "secondary", "standalone" */
	char mode[16];	/* "writeback", "writethrough", "suspended" */
	struct wb_engine_stats st;
	uint32_t nbd_clients;	  /* connected NBD clients */
	uint32_t peers_connected; /* healthy replication links */
	uint32_t peers_total;	  /* configured peers */
	char reason[256];	  /* state "failed": why */
	char cache_mode[16];	  /* the configuration's cache-mode */
	bool mode_forced;	  /* mode set by wbctl mode, not cache-mode */
	bool draining;		  /* wbctl drain runs */
	/* the mode policy (daemon/modectl.h) */
	char mode_reason[208];	/* why the mode in force */
	char policy_mode[16];	/* writeback, writethrough, suspend-io, io-error */
	uint32_t mode_code;	/* enum wbd_policy_mode (metric wbrep_mode) */
	bool suspended;		/* no quorum: I/O waits or fails */
	uint64_t mode_changes;	/* since the daemon started */
	uint64_t mode_since_ms; /* last change, ms since the epoch */
	/* the settings in force; only read during the status call */
	const struct wbconf_resource *conf;
	/* replication (roles); npeers = 0 for a single-node resource */
	char disk_state[16];   /* "UpToDate", "Outdated", "Consistent", "" = n/a */
	char disk_reason[200]; /* why not UpToDate, "" = it is, or n/a */
	bool sync_paused;      /* wbctl pause-sync on this node */
	bool has_uuid;
	uint8_t data_uuid[16];
	char repl_problem[400]; /* "" or why a link is refused (split brain) */
	/* online verify (wbctl verify); verify_state "" = never ran */
	char verify_state[16]; /* "running", "done", "aborted" */
	uint64_t verify_done, verify_total, verify_eta_ms, verify_rate;
	/* reads that failed here since up; of them, served by a peer; bytes
	 * written back here from peers' copies (read repair) */
	uint64_t read_errors, reads_from_peers, read_repaired;
	unsigned npeers;
	struct wbd_ctl_peer_status peers[WBD_CTL_MAX_PEERS];
	/* nodes removed by a reload, their bitmap slot kept until the next up */
	unsigned nremoved;
	char removed[WBD_CTL_MAX_PEERS][64];
	/* snapshots: the generations one can be taken of now (has_span), the
	 * open ones */
	bool has_span;
	uint64_t span_oldest, span_newest, span_oldest_ms, span_newest_ms;
	unsigned nsnaps;
	struct wbd_ctl_snap_status snaps[WBD_CTL_MAX_SNAPS];
};

/* Daemon-wide part of a status reply; strings only read during the call. */
struct Wbrep__CpgMember;
struct wbd_ctl_daemon_info {
	const char *config_path;
	bool config_differs;	  /* the file changed since it was applied */
	const char *reload_error; /* why the last reload was refused, or NULL */
	/* cluster membership ([global] cluster); cluster NULL = none */
	const char *cluster;
	bool cluster_connected, quorate;
	uint32_t n_members;
	const uint32_t *member_ids;	 /* n_members entries */
	const char *const *member_names; /* n_members entries */
	/* the CPG group's processes and their announced state */
	size_t n_group;
	struct Wbrep__CpgMember *const *group;
	/* the certificate new TLS connections present; tls_path NULL: none */
	const char *tls_path;
	char tls_subject[256], tls_serial[80];
	int64_t tls_not_before, tls_not_after;
};

struct wbd_ctl_handlers {
	/* res == NULL: all resources. The daemon mallocs *out (n entries, may
	 * be 0 with *out == NULL); ctl frees it. -ENOENT: no such resource. */
	int (*status)(void *ctx, const char *res, struct wbd_ctl_res_status **out, size_t *n);
	/* Optional: 1 if the resource is configured, else 0. When set, ctl
	 * answers ENOENT itself before calling an action handler. */
	int (*exists)(void *ctx, const char *res);
	/* Actions (each optional: NULL = ENOTSUP reply). arg: mode name for
	 * mode ("writeback"|"writethrough", validated by ctl); "force" for
	 * primary with CtlRequest.force; "discard-my-data" for connect with
	 * CtlRequest.discard_my_data; else NULL. reload gets res == NULL. */
	int (*up)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		  size_t errlen);
	int (*down)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		    size_t errlen);
	int (*flush)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		     char *err, size_t errlen);
	int (*mode)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		    size_t errlen);
	int (*reload)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		      char *err, size_t errlen);
	/* Optional: daemon-wide status (config file, last reload). */
	int (*info)(void *ctx, struct wbd_ctl_daemon_info *out);
	int (*drain)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		     char *err, size_t errlen);
	/* replication roles and links (docs/replication.md) */
	int (*primary)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		       char *err, size_t errlen);
	int (*secondary)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			 char *err, size_t errlen);
	int (*connect)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		       char *err, size_t errlen);
	int (*disconnect)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			  char *err, size_t errlen);
	/* online verify (primary): starts it, returns at once */
	int (*verify)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		      char *err, size_t errlen);
	/* snapshots (docs/snapshots.md): arg "gen=N" or "at=MS" (open), "gen=N"
	 * (drop); a successful open tells what it opened with
	 * wbd_ctl_req_snapshot() */
	int (*snapshot)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			char *err, size_t errlen);
	int (*snapshot_drop)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			     char *err, size_t errlen);
	/* online grow: arg "SIZE,ASSUME_CLEAN,ASSUME_PEER_SPACE" (0/1); the
	 * success message says what it did */
	int (*resize)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		      char *err, size_t errlen);
	/* a removed node's bitmap slot freed (arg: the node); the success
	 * message says which */
	int (*forget_peer)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			   char *err, size_t errlen);
	/* wbctl pause-sync / resume-sync; the success message says what it did */
	int (*pause_sync)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			  char *err, size_t errlen);
	int (*resume_sync)(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			   char *err, size_t errlen);
};

/* Listen on `path`. 0 and *out, or -errno (logged). */
int wbd_ctl_start(struct event_base *base, const char *path, const struct wbd_ctl_handlers *h,
		  void *ctx, struct wbd_ctl **out);
/* Close the listener and every connection, unlink the socket file. */
void wbd_ctl_stop(struct wbd_ctl *c);
/* Push an event (daemon/events.h) to every client that sent CTL_EVENTS
 * (and named its resource, or none). A client with CTL_EVENT_BACKLOG
 * (256 KiB) unread is dropped. c NULL: nothing. */
void wbd_ctl_event(struct wbd_ctl *c, const struct wbd_event *ev);
/* Finish a request whose handler returned -EINPROGRESS. err = 0 or -errno;
 * msg = text for the user (NULL = strerror). Frees req. */
void wbd_ctl_complete(struct wbd_ctl_req *req, int err, const char *msg);

/* The snapshot a CTL_SNAPSHOT handler opened (CtlResponse.snapshot). */
void wbd_ctl_req_snapshot(struct wbd_ctl_req *req, const struct wbd_ctl_snap_status *snap);

#endif /* WB_DAEMON_CTL_H */
