/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy.h - the write-back / write-through / no-quorum decision of a
 * resource (DESIGN.md, "Write-back, write-through, quorum").
 *
 * A pure function of facts: no I/O, no clock, no global state, so every row
 * of the table and every edge is unit tested (tests/unit/test_policy.c).
 * The caller (membership + resource code) gathers the facts and applies the
 * mode; this module only decides and explains why.
 *
 *   corosync connection lost          -> on-no-quorum (treated as not quorate)
 *   not quorate                       -> on-no-quorum: SUSPEND or IO_ERROR
 *   forced write-through              -> WRITETHROUGH
 *   local log unhealthy               -> WRITETHROUGH
 *   healthy peers < wb-min-peers      -> WRITETHROUGH
 *   otherwise                         -> WRITEBACK
 *
 * Quorum is checked first: a node without quorum never acknowledges a write,
 * whatever its peers or the force flag say.
 */
#ifndef WB_DAEMON_POLICY_H
#define WB_DAEMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wbd_policy_mode {
	WBD_POLICY_WRITEBACK = 0,
	WBD_POLICY_WRITETHROUGH = 1,
	WBD_POLICY_SUSPEND = 2,	 /* not quorate, on-no-quorum = suspend-io */
	WBD_POLICY_IO_ERROR = 3, /* not quorate, on-no-quorum = io-error */
};

/* Same values as enum wbconf_no_quorum (conf/wbconf.h). */
enum wbd_policy_noq { WBD_POLICY_NOQ_SUSPEND_IO = 0, WBD_POLICY_NOQ_IO_ERROR = 1 };

struct wbd_policy_facts {
	bool connected;		  /* corosync connection up */
	bool quorate;		  /* votequorum says quorate (ignored if !connected) */
	bool log_healthy;	  /* local log device usable for write-back */
	uint32_t healthy_peers;	  /* peers that are members, connected and UpToDate */
	uint32_t wb_min_peers;	  /* [resource] wb-min-peers */
	int on_no_quorum;	  /* enum wbd_policy_noq */
	bool force_write_through; /* cache-mode = writethrough or wbctl mode override */
};

/* The decision and, in reason (NUL-terminated, truncated to reason_len), why,
 * e.g. "quorate, 2/1 peers UpToDate". reason may be NULL. */
enum wbd_policy_mode wbd_policy_decide(const struct wbd_policy_facts *f, char *reason,
				       size_t reason_len);

/* "writeback", "writethrough", "suspend-io", "io-error"; "?" otherwise. */
const char *wbd_policy_mode_name(enum wbd_policy_mode m);

#endif /* WB_DAEMON_POLICY_H */
