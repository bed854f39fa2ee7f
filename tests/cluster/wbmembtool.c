// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbmembtool.c - runs daemon/membership.c (wbd_memb_*) on a libevent base
 * and prints one line per change of the membership facts, for the cluster
 * tests (run it inside a node's network namespace):
 *
 *   1795587030.162 n1 connected=1 quorate=1 local=1 ring=1.d members=2 [1:n1,2:n2] group=[1,2]
 *
 * Usage: wbmembtool [-g group] [-l label]. Runs until SIGTERM/SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/membership.h"
#include "daemon/wbd_log.h"

static const char *label = "?";

static void on_facts(const struct wbd_memb_facts *f, void *arg)
{
	struct timespec ts;
	char mem[1024], grp[512];
	size_t off = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	mem[0] = grp[0] = 0;
	for (uint32_t i = 0; i < f->n_members && off < sizeof(mem); i++)
		off += snprintf(mem + off, sizeof(mem) - off, "%s%u:%s", i ? "," : "",
				f->members[i].nodeid, f->members[i].name);
	off = 0;
	for (uint32_t i = 0; i < f->n_group && off < sizeof(grp); i++)
		off += snprintf(grp + off, sizeof(grp) - off, "%s%u", i ? "," : "", f->group[i]);
	printf("%lld.%03ld %s connected=%d quorate=%d local=%u ring=%x.%llx members=%u [%s] "
	       "group=[%s]\n",
	       (long long)ts.tv_sec, ts.tv_nsec / 1000000, label, f->connected, f->quorate,
	       f->local_nodeid, f->ring_nodeid, (unsigned long long)f->ring_seq, f->n_members, mem,
	       grp);
	fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	const char *group = NULL;
	struct event_base *base;
	struct event *sigterm, *sigint;
	struct wbd_memb *m = NULL;
	int opt, rc;

	while ((opt = getopt(argc, argv, "g:l:")) != -1) {
		switch (opt) {
		case 'g':
			group = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-g group] [-l label]\n", argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	wbd_log_setup(WBD_LOG_STDERR, WB_LOG_INFO);
	base = event_base_new();
	if (!base)
		return 1;
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	rc = wbd_memb_start(base, group, on_facts, NULL, &m);
	if (rc) {
		fprintf(stderr, "wbd_memb_start: %s\n", strerror(-rc));
		return 1;
	}
	event_base_dispatch(base);
	wbd_memb_stop(m);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	return 0;
}
