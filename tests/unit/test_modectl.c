// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_modectl.c - unit tests of the mode wiring (daemon/modectl.c): a
 * resource on the "ram" engine, its NBD export and the daemon's membership
 * facts; every change of a fact goes through wbd_modectl_eval and the test
 * checks the effects: the engine's mode, the export's admission, what
 * happens to completions (held, released, failed), the events with their
 * reasons, the counters. No corosync and no replication here (the
 * integration tests cover those: tests/integration/test_repl.sh,
 * tests/cluster/test_policy.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf/wbconf.h"
#include "daemon/events.h"
#include "daemon/membership.h"
#include "daemon/resource.h"

#define MAX_EV 16

struct fx {
	struct wbconf *conf;
	struct wbd_resource r;
	struct wbd_memb_facts memb;
	/* events seen */
	unsigned nev;
	char ev_kind[MAX_EV][16], ev_mode[MAX_EV][16], ev_msg[MAX_EV][256];
};

struct rel {
	struct wb_req wr;
	unsigned calls;
	int err;
};

static void on_event(void *arg, const struct wbd_event *ev)
{
	struct fx *f = arg;

	if (f->nev == MAX_EV)
		return;
	snprintf(f->ev_kind[f->nev], sizeof(f->ev_kind[0]), "%s", ev->kind);
	snprintf(f->ev_mode[f->nev], sizeof(f->ev_mode[0]), "%s", ev->mode ? ev->mode : "");
	snprintf(f->ev_msg[f->nev], sizeof(f->ev_msg[0]), "%s", ev->msg);
	f->nev++;
}

static void released(struct wb_req *wr, int err)
{
	struct rel *r = (struct rel *)wr;

	r->calls++;
	r->err = err;
}

static struct fx *setup_conf(const char *extra, bool corosync)
{
	static struct fx f;
	char buf[512];
	struct wb_engine_params p;
	struct wb_engine_stats st;
	int n;

	memset(&f, 0, sizeof(f));
	n = snprintf(buf, sizeof(buf),
		     "[resource r0]\nengine = ram\nbacking = /dev/null\nsize = 1M\n%s", extra);
	assert_int_equal(wbconf_parse_buf(buf, (size_t)n, "test.conf", "n1", &f.conf, NULL), 0);
	f.r.conf = wbconf_resource_find(f.conf, "r0");
	assert_non_null(f.r.conf);
	snprintf(f.r.name, sizeof(f.r.name), "r0");
	f.r.mode_forced = -1;
	wbd_resource_params(f.r.conf, &p);
	assert_int_equal(wb_engine_open("ram", &p, &f.r.engine), 0);
	assert_int_equal(wb_engine_stats(f.r.engine, &st), 0);
	wbd_nbd_export_init(&f.r.ex, "r0", st.size, f.r.engine, NULL, NULL);
	f.r.mc.wb_capable = true;
	f.r.memb = corosync ? &f.memb : NULL;
	wbd_events_set_sink(on_event, &f);
	return &f;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	wbd_modectl_down(&f->r);
	wbd_events_set_sink(NULL, NULL);
	wb_engine_close(f->r.engine);
	wbconf_free(f->conf);
	return 0;
}

static enum wb_mode engine_mode(struct fx *f)
{
	struct wb_engine_stats st;

	assert_int_equal(wb_engine_stats(f->r.engine, &st), 0);
	return (enum wb_mode)st.mode;
}

static void set_quorum(struct fx *f, bool connected, bool quorate)
{
	f->memb.connected = connected;
	f->memb.quorate = connected && quorate;
	wbd_modectl_eval(&f->r, "membership");
}

/* cluster = none, no peers: write-back as configured, decided at up */
static void t_single_node(void **state)
{
	struct fx *f = *state = setup_conf("", false);

	wb_engine_set_mode(f->r.engine, WB_MODE_WRITETHROUGH); /* up starts here */
	wbd_modectl_up(&f->r);
	assert_int_equal(f->r.mc.mode, WBD_POLICY_WRITEBACK);
	assert_int_equal(engine_mode(f), WB_MODE_WRITEBACK);
	assert_int_equal(f->r.ex.admit, WBD_NBD_ADMIT_OPEN);
	assert_string_equal(f->r.mc.reason, "quorate, 0/0 peers UpToDate");
	assert_int_equal(f->nev, 1);
	assert_string_equal(f->ev_kind[0], "mode");
	assert_string_equal(f->ev_msg[0],
			    "mode writethrough -> writeback (up): quorate, 0/0 peers UpToDate");
	/* a completion is the engine's: not held */
	struct rel c = {0};
	assert_false(wbd_modectl_hold(&f->r, &c.wr, released));
}

/* corosync: not connected at up -> suspended; quorum -> write-back; the
 * completion held meanwhile is released only then */
static void t_suspend_resume(void **state)
{
	struct fx *f = *state = setup_conf("", true);
	struct rel c = {0};

	wbd_modectl_up(&f->r);
	assert_int_equal(f->r.mc.mode, WBD_POLICY_SUSPEND);
	assert_string_equal(f->r.mc.reason, "corosync connection lost: on-no-quorum = suspend-io");
	assert_int_equal(engine_mode(f), WB_MODE_WRITETHROUGH);
	assert_int_equal(f->r.ex.admit, WBD_NBD_ADMIT_HOLD);
	assert_true(wbd_modectl_hold(&f->r, &c.wr, released));
	assert_int_equal(c.calls, 0);
	set_quorum(f, true, false); /* connected, not yet quorate: still nothing */
	assert_int_equal(f->r.mc.mode, WBD_POLICY_SUSPEND);
	assert_string_equal(f->r.mc.reason, "not quorate: on-no-quorum = suspend-io");
	assert_int_equal(c.calls, 0);
	set_quorum(f, true, true);
	assert_int_equal(f->r.mc.mode, WBD_POLICY_WRITEBACK);
	assert_int_equal(engine_mode(f), WB_MODE_WRITEBACK);
	assert_int_equal(f->r.ex.admit, WBD_NBD_ADMIT_OPEN);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	/* quorum lost again: write-back stops at once */
	set_quorum(f, true, false);
	assert_int_equal(engine_mode(f), WB_MODE_WRITETHROUGH);
	assert_int_equal(f->r.ex.admit, WBD_NBD_ADMIT_HOLD);
	assert_string_equal(f->ev_msg[f->nev - 1], "mode writeback -> suspend-io (membership): "
						   "not quorate: on-no-quorum = suspend-io");
	assert_int_equal(f->r.mc.changes, 3);
}

/* on-no-quorum = io-error: held completions and new ones fail with EIO */
static void t_io_error(void **state)
{
	struct fx *f = *state = setup_conf("on-no-quorum = io-error\n", true);
	struct rel a = {0}, b = {0};

	f->memb.connected = f->memb.quorate = true;
	wbd_modectl_up(&f->r);
	assert_int_equal(f->r.mc.mode, WBD_POLICY_WRITEBACK);
	set_quorum(f, false, false); /* corosync died */
	assert_int_equal(f->r.mc.mode, WBD_POLICY_IO_ERROR);
	assert_string_equal(f->r.mc.reason, "corosync connection lost: on-no-quorum = io-error");
	assert_int_equal(f->r.ex.admit, WBD_NBD_ADMIT_FAIL);
	assert_int_equal(engine_mode(f), WB_MODE_WRITETHROUGH);
	assert_true(wbd_modectl_hold(&f->r, &a.wr, released));
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.err, -EIO);
	/* a reload to suspend-io holds instead; back to io-error fails it */
	f->r.mc.mode = WBD_POLICY_SUSPEND;
	assert_true(wbd_modectl_hold(&f->r, &b.wr, released));
	assert_int_equal(b.calls, 0);
	wbd_modectl_eval(&f->r, "reload");
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, -EIO);
}

/* forced write-through (wbctl mode / cache-mode) and an engine that
 * cannot cache; quorum still wins over the force */
static void t_forced(void **state)
{
	struct fx *f = *state = setup_conf("", true);

	f->memb.connected = f->memb.quorate = true;
	wbd_modectl_up(&f->r);
	assert_int_equal(engine_mode(f), WB_MODE_WRITEBACK);
	f->r.mode_forced = WB_MODE_WRITETHROUGH;
	wbd_modectl_eval(&f->r, "wbctl mode");
	assert_int_equal(f->r.mc.mode, WBD_POLICY_WRITETHROUGH);
	assert_int_equal(engine_mode(f), WB_MODE_WRITETHROUGH);
	assert_string_equal(f->r.mc.reason, "quorate, write-through forced");
	assert_string_equal(f->ev_msg[f->nev - 1], "mode writeback -> writethrough (wbctl mode): "
						   "quorate, write-through forced");
	set_quorum(f, true, false);
	assert_int_equal(f->r.mc.mode, WBD_POLICY_SUSPEND);
	f->r.mode_forced = -1;
	f->r.mc.wb_capable = false;
	set_quorum(f, true, true);
	assert_int_equal(f->r.mc.mode, WBD_POLICY_WRITETHROUGH);
	assert_string_equal(f->r.mc.reason, "quorate, the engine caches nothing");
}

/* nothing changed: no event, no count */
static void t_no_change_no_event(void **state)
{
	struct fx *f = *state = setup_conf("", false);
	unsigned n;

	wbd_modectl_up(&f->r);
	n = f->nev;
	for (int i = 0; i < 3; i++)
		wbd_modectl_eval(&f->r, "engine check");
	assert_int_equal(f->nev, n);
	assert_int_equal(f->r.mc.changes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(t_single_node, teardown),
	    cmocka_unit_test_teardown(t_suspend_resume, teardown),
	    cmocka_unit_test_teardown(t_io_error, teardown),
	    cmocka_unit_test_teardown(t_forced, teardown),
	    cmocka_unit_test_teardown(t_no_change_no_event, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
