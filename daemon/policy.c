// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy.c - the per-resource mode decision (see policy.h for the table).
 * Owns nothing but the order of the checks: quorum (and the corosync
 * connection it depends on) first, then the force flag, the local log and
 * the peer count.
 */
#include <stdio.h>

#include "conf/wbconf.h"
#include "daemon/policy.h"

_Static_assert((int)WBD_POLICY_NOQ_SUSPEND_IO == (int)WBCONF_NOQ_SUSPEND_IO, "noq enum");
_Static_assert((int)WBD_POLICY_NOQ_IO_ERROR == (int)WBCONF_NOQ_IO_ERROR, "noq enum");

static enum wbd_policy_mode no_quorum_mode(int on_no_quorum)
{
	return on_no_quorum == WBD_POLICY_NOQ_IO_ERROR ? WBD_POLICY_IO_ERROR : WBD_POLICY_SUSPEND;
}

static const char *noq_name(int on_no_quorum)
{
	return on_no_quorum == WBD_POLICY_NOQ_IO_ERROR ? "io-error" : "suspend-io";
}

enum wbd_policy_mode wbd_policy_decide(const struct wbd_policy_facts *f, char *reason,
				       size_t reason_len)
{
	char scratch[8];
	enum wbd_policy_mode m;

	if (!reason || !reason_len) {
		reason = scratch;
		reason_len = sizeof(scratch);
	}
	if (!f->connected) {
		m = no_quorum_mode(f->on_no_quorum);
		snprintf(reason, reason_len, "corosync connection lost: on-no-quorum = %s",
			 noq_name(f->on_no_quorum));
	} else if (!f->quorate) {
		m = no_quorum_mode(f->on_no_quorum);
		snprintf(reason, reason_len, "not quorate: on-no-quorum = %s",
			 noq_name(f->on_no_quorum));
	} else if (f->force_write_through) {
		m = WBD_POLICY_WRITETHROUGH;
		snprintf(reason, reason_len, "quorate, write-through forced");
	} else if (!f->log_healthy) {
		m = WBD_POLICY_WRITETHROUGH;
		snprintf(reason, reason_len, "quorate, local log not healthy");
	} else if (f->healthy_peers < f->wb_min_peers) {
		m = WBD_POLICY_WRITETHROUGH;
		snprintf(reason, reason_len, "quorate, only %u/%u peers UpToDate", f->healthy_peers,
			 f->wb_min_peers);
	} else {
		m = WBD_POLICY_WRITEBACK;
		snprintf(reason, reason_len, "quorate, %u/%u peers UpToDate", f->healthy_peers,
			 f->wb_min_peers);
	}
	return m;
}

const char *wbd_policy_mode_name(enum wbd_policy_mode m)
{
	switch (m) {
	case WBD_POLICY_WRITEBACK:
		return "writeback";
	case WBD_POLICY_WRITETHROUGH:
		return "writethrough";
	case WBD_POLICY_SUSPEND:
		return "suspend-io";
	case WBD_POLICY_IO_ERROR:
		return "io-error";
	}
	return "?";
}
