// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_policy.c - unit tests of daemon/policy.c: every row of the DESIGN.md
 * write-back / write-through / quorum table, the precedence edges (quorum
 * beats peers and force, a lost corosync connection is not quorate), the
 * wb-min-peers boundary and the reason strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/policy.h"

static struct wbd_policy_facts good(void)
{
	return (struct wbd_policy_facts){
	    .connected = true,
	    .quorate = true,
	    .log_healthy = true,
	    .healthy_peers = 2,
	    .wb_min_peers = 1,
	    .on_no_quorum = WBD_POLICY_NOQ_SUSPEND_IO,
	    .force_write_through = false,
	};
}

static enum wbd_policy_mode decide(const struct wbd_policy_facts *f, char *why)
{
	return wbd_policy_decide(f, why, 128);
}

static void t_writeback(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	assert_int_equal(decide(&f, why), WBD_POLICY_WRITEBACK);
	assert_string_equal(why, "quorate, 2/1 peers UpToDate");
	f.healthy_peers = 1; /* exactly wb-min-peers is enough */
	assert_int_equal(decide(&f, why), WBD_POLICY_WRITEBACK);
	assert_string_equal(why, "quorate, 1/1 peers UpToDate");
	f.healthy_peers = 0;
	f.wb_min_peers = 0; /* single node allowed write-back by configuration */
	assert_int_equal(decide(&f, why), WBD_POLICY_WRITEBACK);
	assert_string_equal(why, "quorate, 0/0 peers UpToDate");
}

static void t_short_of_peers(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	f.healthy_peers = 1;
	f.wb_min_peers = 2;
	assert_int_equal(decide(&f, why), WBD_POLICY_WRITETHROUGH);
	assert_string_equal(why, "quorate, only 1/2 peers UpToDate");
	f.healthy_peers = 0;
	f.wb_min_peers = 1;
	assert_int_equal(decide(&f, why), WBD_POLICY_WRITETHROUGH);
	assert_string_equal(why, "quorate, only 0/1 peers UpToDate");
}

static void t_log_unhealthy(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	f.log_healthy = false;
	assert_int_equal(decide(&f, why), WBD_POLICY_WRITETHROUGH);
	assert_string_equal(why, "quorate, local log not healthy");
}

static void t_not_quorate(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	f.quorate = false;
	assert_int_equal(decide(&f, why), WBD_POLICY_SUSPEND);
	assert_string_equal(why, "not quorate: on-no-quorum = suspend-io");
	f.on_no_quorum = WBD_POLICY_NOQ_IO_ERROR;
	assert_int_equal(decide(&f, why), WBD_POLICY_IO_ERROR);
	assert_string_equal(why, "not quorate: on-no-quorum = io-error");
}

/* Not quorate wins over everything else that would allow or force a mode. */
static void t_quorum_precedence(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	f.quorate = false;
	f.healthy_peers = 30;
	f.wb_min_peers = 0;
	assert_int_equal(decide(&f, why), WBD_POLICY_SUSPEND);
	f.force_write_through = true;
	assert_int_equal(decide(&f, why), WBD_POLICY_SUSPEND);
	f.log_healthy = false;
	f.on_no_quorum = WBD_POLICY_NOQ_IO_ERROR;
	assert_int_equal(decide(&f, why), WBD_POLICY_IO_ERROR);
	assert_string_equal(why, "not quorate: on-no-quorum = io-error");
}

/* A lost corosync connection is not quorate, even if the last known quorum
 * state said quorate. */
static void t_conn_lost(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	f.connected = false;
	assert_int_equal(decide(&f, why), WBD_POLICY_SUSPEND);
	assert_string_equal(why, "corosync connection lost: on-no-quorum = suspend-io");
	f.on_no_quorum = WBD_POLICY_NOQ_IO_ERROR;
	f.force_write_through = true;
	assert_int_equal(decide(&f, why), WBD_POLICY_IO_ERROR);
	assert_string_equal(why, "corosync connection lost: on-no-quorum = io-error");
}

static void t_force(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	f.force_write_through = true;
	assert_int_equal(decide(&f, why), WBD_POLICY_WRITETHROUGH);
	assert_string_equal(why, "quorate, write-through forced");
	f.healthy_peers = 0;
	f.log_healthy = false;
	assert_int_equal(decide(&f, why), WBD_POLICY_WRITETHROUGH);
}

/* Unknown on-no-quorum values fail safe (suspend, never write-back). */
static void t_unknown_noq(void **st)
{
	struct wbd_policy_facts f = good();
	char why[128];

	f.quorate = false;
	f.on_no_quorum = 77;
	assert_int_equal(decide(&f, why), WBD_POLICY_SUSPEND);
}

static void t_reason_buffers(void **st)
{
	struct wbd_policy_facts f = good();
	char small[8];

	memset(small, 'x', sizeof(small));
	assert_int_equal(wbd_policy_decide(&f, small, sizeof(small)), WBD_POLICY_WRITEBACK);
	assert_string_equal(small, "quorate");
	assert_int_equal(wbd_policy_decide(&f, NULL, 0), WBD_POLICY_WRITEBACK);
	f.quorate = false;
	assert_int_equal(wbd_policy_decide(&f, NULL, 0), WBD_POLICY_SUSPEND);
}

static void t_names(void **st)
{
	assert_string_equal(wbd_policy_mode_name(WBD_POLICY_WRITEBACK), "writeback");
	assert_string_equal(wbd_policy_mode_name(WBD_POLICY_WRITETHROUGH), "writethrough");
	assert_string_equal(wbd_policy_mode_name(WBD_POLICY_SUSPEND), "suspend-io");
	assert_string_equal(wbd_policy_mode_name(WBD_POLICY_IO_ERROR), "io-error");
	assert_string_equal(wbd_policy_mode_name((enum wbd_policy_mode)9), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_writeback),
	    cmocka_unit_test(t_short_of_peers),
	    cmocka_unit_test(t_log_unhealthy),
	    cmocka_unit_test(t_not_quorate),
	    cmocka_unit_test(t_quorum_precedence),
	    cmocka_unit_test(t_conn_lost),
	    cmocka_unit_test(t_force),
	    cmocka_unit_test(t_unknown_noq),
	    cmocka_unit_test(t_reason_buffers),
	    cmocka_unit_test(t_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
