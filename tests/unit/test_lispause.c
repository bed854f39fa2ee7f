// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_lispause.c - daemon/lispause.c: a listener whose accept() fails with
 * EMFILE (the open-file limit lowered below the next descriptor) is
 * disabled instead of retried at once (loop passes do not call accept
 * again), says so once with the error, and stays quiet within its log
 * interval; the timer enables it again (fired by hand: no waiting), and
 * once descriptors are back the pending connection is accepted. The next
 * message counts the failures it did not log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "daemon/lispause.h"
#include "daemon/wbd_log.h"

static char seen[16][512];
static unsigned nseen;
static int naccepted;
static struct wbd_lispause lp;

static void hook(int level, const char *msg, void *arg)
{
	if (nseen < 16)
		snprintf(seen[nseen], sizeof(seen[0]), "%s", msg);
	nseen++;
}

static void accept_cb(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	naccepted++;
	close(fd);
}

static void error_cb(struct evconnlistener *el, void *arg)
{
	wbd_lispause_failed(arg);
}

static void loop_passes(struct event_base *base, int n)
{
	for (int i = 0; i < n; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void test_emfile_pause(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct event_base *base = event_base_new();
	struct evconnlistener *lis;
	struct rlimit old, low;
	int cfd, spare;

	assert_non_null(base);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lis = evconnlistener_new_bind(base, accept_cb, &lp,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 8,
				      (struct sockaddr *)&sa, sizeof(sa));
	assert_non_null(lis);
	assert_int_equal(wbd_lispause_init(&lp, base, lis, "test listener"), 0);
	lp.log_ms = 3600 * 1000; /* one message in this test, until moved back */
	evconnlistener_set_error_cb(lis, error_cb);
	assert_int_equal(getsockname(evconnlistener_get_fd(lis), (struct sockaddr *)&sa, &sl), 0);

	/* a client waits in the backlog; then no descriptor is left */
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cfd >= 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	spare = dup(0); /* the lowest free descriptor: everything below is in use */
	assert_true(spare >= 0);
	close(spare);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)spare;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

	/* accept fails: paused, logged once with the error */
	loop_passes(base, 1);
	assert_int_equal(lp.npause, 1);
	assert_int_equal(nseen, 1);
	assert_non_null(strstr(seen[0], "test listener: accept failed: Too many open files; "
					"pausing the listener for 1000 ms"));
	/* disabled: the readable socket is not accepted from again */
	loop_passes(base, 100);
	assert_int_equal(lp.npause, 1);
	assert_int_equal(naccepted, 0);

	/* the timer: enabled, fails again, quiet within the log interval */
	event_active(lp.retry, EV_TIMEOUT, 1);
	loop_passes(base, 3);
	assert_int_equal(lp.npause, 2);
	assert_int_equal(nseen, 1);
	assert_int_equal(naccepted, 0);

	/* the interval is over: the next message counts both failures */
	lp.last_log_ms -= lp.log_ms;
	event_active(lp.retry, EV_TIMEOUT, 1);
	loop_passes(base, 3);
	assert_int_equal(lp.npause, 3);
	assert_int_equal(nseen, 2);
	assert_non_null(strstr(
	    seen[1], "pausing the listener for 1000 ms (2 failures since the last message)"));

	/* descriptors back: the next try accepts the waiting client */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	event_active(lp.retry, EV_TIMEOUT, 1);
	loop_passes(base, 3);
	assert_int_equal(naccepted, 1);
	assert_int_equal(lp.npause, 3);

	close(cfd);
	wbd_lispause_fini(&lp);
	assert_null(lp.retry);
	evconnlistener_free(lis);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_emfile_pause),
	};

	wbd_log_setup(WBD_LOG_STDERR, WB_LOG_INFO);
	wbd_log_set_hook(hook, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
