// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_membership.c - unit tests of daemon/membership.c without a corosync
 * (the unit test runs in the root network namespace, where no corosync of
 * ours listens; if one is reachable the tests that need its absence skip):
 * the first report says not connected / not quorate at once, the reconnect
 * backoff doubles from 100 ms and stays under its 5 s cap, unchanged facts
 * are not re-reported, and bad group names are refused. The behaviour
 * against a real corosync is tested in tests/cluster/test_membership.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/membership.h"

struct rec {
	int calls;
	struct wbd_memb_facts last;
};

static void on_facts(const struct wbd_memb_facts *f, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->last = *f;
}

static void t_absent(void **st)
{
	struct event_base *base = event_base_new();
	struct wbd_memb *m = NULL;
	struct wbd_memb_facts f;
	struct rec r = {0};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 800 * 1000};

	assert_non_null(base);
	assert_int_equal(wbd_memb_start(base, "wbrep-unit", on_facts, &r, &m), 0);
	wbd_memb_facts(m, &f);
	if (f.connected) {
		wbd_memb_stop(m);
		event_base_free(base);
		skip(); /* a corosync is reachable here */
	}
	/* reported at once, before any event loop ran */
	assert_int_equal(r.calls, 1);
	assert_false(r.last.connected);
	assert_false(r.last.quorate);
	assert_int_equal(r.last.n_members, 0);
	assert_int_equal(wbd_memb_backoff_ms(m), 100);
	/* 800 ms of retries: 100 + 200 + 400 elapsed, next delay 800 */
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_in_range(wbd_memb_backoff_ms(m), 400, 1600);
	assert_int_equal(r.calls, 1); /* unchanged facts are not re-reported */
	wbd_memb_stop(m);
	event_base_free(base);
}

static void t_backoff_cap(void **st)
{
	struct event_base *base = event_base_new();
	struct wbd_memb *m = NULL;
	struct wbd_memb_facts f;
	struct rec r = {0};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 1};

	assert_int_equal(wbd_memb_start(base, NULL, on_facts, &r, &m), 0);
	wbd_memb_facts(m, &f);
	if (f.connected) {
		wbd_memb_stop(m);
		event_base_free(base);
		skip();
	}
	/* 100 200 400 800 1600 3200 5000 5000: fire the timer by hand 9 times
	 * (the first one waited out, the rest made due at once) */
	for (int i = 0; i < 9; i++) {
		uint32_t before = wbd_memb_backoff_ms(m);

		if (i) {
			wbd_memb_retry_now(m);
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		} else {
			tv.tv_sec = before / 1000;
			tv.tv_usec = (before % 1000) * 1000 + 50 * 1000;
			event_base_loopexit(base, &tv);
			event_base_dispatch(base);
		}
		assert_true(wbd_memb_backoff_ms(m) == (before * 2 > 5000 ? 5000 : before * 2));
		if (before == 5000)
			break;
	}
	assert_int_equal(wbd_memb_backoff_ms(m), 5000);
	assert_int_equal(r.calls, 1);
	wbd_memb_stop(m);
	event_base_free(base);
}

static void t_bad_group(void **st)
{
	struct event_base *base = event_base_new();
	struct wbd_memb *m = NULL;
	char longname[200];

	memset(longname, 'g', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(wbd_memb_start(base, "", on_facts, NULL, &m), -EINVAL);
	assert_int_equal(wbd_memb_start(base, longname, on_facts, NULL, &m), -EINVAL);
	assert_null(m);
	wbd_memb_stop(NULL);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_absent),
	    cmocka_unit_test(t_backoff_cap),
	    cmocka_unit_test(t_bad_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
