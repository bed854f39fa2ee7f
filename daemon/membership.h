/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * membership.h - corosync membership and quorum of wbrepd (issue 11).
 *
 * One struct wbd_memb per daemon: it joins one CPG group (default "wbrep":
 * one group per daemon, per-resource state will travel in CPG messages, see
 * docs/cluster.md), tracks votequorum (CS_TRACK_CHANGES | CS_TRACK_CURRENT)
 * and reads node names from cmap (nodelist.node.X.{nodeid,name}). The three
 * corosync fds are events on the caller's libevent base and are dispatched
 * with CS_DISPATCH_ALL on that base's thread; this module owns the handles,
 * the events and the retry timer and touches nothing else.
 *
 * Facts are reported through one callback, called on the base's thread after
 * a dispatch round whenever they differ from the last report (and once right
 * after start). When corosync is absent, or the connection drops (any
 * dispatch error), the facts say connected = quorate = false at once and the
 * module reconnects with exponential backoff (100 ms doubling to 5 s).
 * After a (re)connect quorate stays false until votequorum reports quorate.
 *
 * CPG state: each daemon multicasts a CpgState (its node name, and per
 * resource up, role, disk state, data UUID and seq) with
 * wbd_memb_publish; the facts carry every group process with the last
 * state it sent (procs[]), so the policy knows which wbrep node a corosync
 * node id is and whether its replica is healthy, from the peers themselves
 * (docs/cluster.md "CPG state"). A message that fails the checks of
 * daemon/cpgmsg.c is dropped and logged.
 */
#ifndef WB_DAEMON_MEMBERSHIP_H
#define WB_DAEMON_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/cpgmsg.h"

struct event_base;
struct wbd_memb;

#define WBD_MEMB_MAX_NODES 32
#define WBD_MEMB_NAME_MAX  64

struct wbd_memb_node {
	uint32_t nodeid;
	char name[WBD_MEMB_NAME_MAX]; /* cmap nodelist name, "" if unknown */
};

struct wbd_memb_facts {
	bool connected;	       /* CPG, votequorum and cmap connections all up */
	bool quorate;	       /* last votequorum report (false if !connected) */
	uint32_t local_nodeid; /* 0 if !connected */
	uint32_t ring_nodeid;  /* ring id of the last votequorum nodelist report */
	uint64_t ring_seq;
	/* quorum members: nodes votequorum reports as MEMBER, sorted by id */
	uint32_t n_members;
	struct wbd_memb_node members[WBD_MEMB_MAX_NODES];
	/* processes in the CPG group (one per wbrepd), node ids sorted */
	uint32_t n_group;
	uint32_t group[WBD_MEMB_MAX_NODES];
	/* the same processes with the state each last multicast (CpgState,
	 * docs/cluster.md "CPG state"); has_state false until its first
	 * message; in the CPG's member order */
	uint32_t n_procs;
	struct wbd_memb_proc {
		uint32_t nodeid, pid;
		bool has_state;
		struct wbd_cpg_state st;
	} procs[WBD_MEMB_MAX_NODES];
};

/* Called on the event base's thread; must not call wbd_memb_stop(). */
typedef void (*wbd_memb_fn)(const struct wbd_memb_facts *f, void *arg);

/* Start on base. group: CPG group name (NULL = "wbrep", < 128 bytes). The
 * first connection attempt happens before return; a missing corosync is not
 * an error (reported as !connected, retried). 0 and *out, or -errno. */
int wbd_memb_start(struct event_base *base, const char *group, wbd_memb_fn fn, void *arg,
		   struct wbd_memb **out);
/* Leave the group, close the handles, free. NULL is a no-op. */
void wbd_memb_stop(struct wbd_memb *m);
/* Copy of the current facts. */
void wbd_memb_facts(const struct wbd_memb *m, struct wbd_memb_facts *out);
/* Announce this daemon's state to the group (st->serial is set here). It is
 * multicast when it differs from the last one sent, when only its seqs
 * changed and the last one is a second old, when a process joined the
 * group since, or when the last send failed (flow control: retried at the
 * next call). Call it whenever the state may have changed and
 * periodically. */
void wbd_memb_publish(struct wbd_memb *m, const struct wbd_cpg_state *st);
/* The process of facts f that announced node name `node`, and whose node
 * is a quorum member: NULL if none. */
const struct wbd_memb_proc *wbd_memb_find(const struct wbd_memb_facts *f, const char *node);
/* Current retry delay in ms (0 while connected); for tests and status. */
uint32_t wbd_memb_backoff_ms(const struct wbd_memb *m);
/* Tests: fire the pending retry timer now (the next loop pass runs it)
 * instead of waiting its delay out. */
void wbd_memb_retry_now(struct wbd_memb *m);

#endif /* WB_DAEMON_MEMBERSHIP_H */
