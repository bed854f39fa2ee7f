/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * wbrep_genl.h - generic netlink family "wbrep" of the dm-wbrep module.
 *
 * Control and events for rings (see wbrep_ring.h for the data path):
 *   WBREP_CMD_STATUS  request: optional WBREP_A_RING_NAME; reply/dump: one
 *                     message per ring with the WBREP_A_* status attributes.
 *   WBREP_CMD_EVENT   multicast on group WBREP_GENL_MCGRP_EVENTS:
 *                     WBREP_A_RING_NAME, WBREP_A_EVENT, WBREP_A_SESSION.
 * Userspace: libnl-genl (genl_ctrl_resolve, genl_ctrl_resolve_grp).
 */
#ifndef _UAPI_WBREP_GENL_H
#define _UAPI_WBREP_GENL_H

#define WBREP_GENL_NAME		"wbrep"
#define WBREP_GENL_VERSION	1
#define WBREP_GENL_MCGRP_EVENTS	"events"

enum wbrep_genl_cmd {
	WBREP_CMD_UNSPEC,
	WBREP_CMD_STATUS,
	WBREP_CMD_EVENT,
	__WBREP_CMD_MAX,
};
#define WBREP_CMD_MAX (__WBREP_CMD_MAX - 1)

enum wbrep_genl_attr {
	WBREP_A_UNSPEC,
	WBREP_A_RING_NAME,	/* string */
	WBREP_A_SESSION,	/* u32: current session id, 0 = none */
	WBREP_A_EVENT,		/* u32: enum wbrep_event */
	WBREP_A_DEV_SECTORS,	/* u64 */
	WBREP_A_NSLOTS,		/* u32 */
	WBREP_A_SLOT_SIZE,	/* u32 */
	WBREP_A_INFLIGHT,	/* u32: requests posted to the session */
	WBREP_A_PENDING,	/* u32: requests waiting for a slot or a session */
	WBREP_A_COMPLETED,	/* u64: requests completed */
	WBREP_A_FENCES,		/* u32: sessions fenced */
	WBREP_A_TIMEOUTS,	/* u64: requests failed by the queue timeout */
	WBREP_A_REISSUED,	/* u64: requests re-posted to a new session */
	WBREP_A_QUEUE_TIMEOUT_MS, /* u32 */
	__WBREP_A_MAX,
};
#define WBREP_A_MAX (__WBREP_A_MAX - 1)

enum wbrep_event {
	WBREP_EV_ATTACHED = 1,
	WBREP_EV_DETACHED = 2,	/* clean detach or daemon exit */
	WBREP_EV_FENCED = 3,	/* malformed completion: session cut off */
	WBREP_EV_RING_ADDED = 4,
	WBREP_EV_RING_REMOVED = 5,
};

#endif /* _UAPI_WBREP_GENL_H */
