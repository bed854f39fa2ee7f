// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_events.c - `wbctl events [RES] [--json]`: sends CTL_EVENTS and
 * prints every CtlEvent frame wbrepd pushes (docs/control-protocol.md),
 * one line each, flushed per line, until interrupted or the daemon closes
 * the connection (exit 1). Frames come from the daemon's socket and are
 * decoded with the bounded control decoder (proto/wbproto.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cli/wbctl.h"

struct ev_opts {
	bool json;
};

static int ev_opt(int o, const char *arg, void *st)
{
	struct ev_opts *e = st;

	if (o == 'j') {
		e->json = true;
		return EX_OK;
	}
	return EX_USAGE;
}

static void print_event(const Wbrep__CtlEvent *ev, bool json)
{
	if (json) {
		printf("{\"seq\": %llu, \"time_ms\": %llu, \"resource\": ",
		       (unsigned long long)ev->seq, (unsigned long long)ev->time_ms);
		wbctl_json_str(ev->resource);
		printf(", \"kind\": ");
		wbctl_json_str(ev->kind);
		printf(", \"mode\": ");
		wbctl_json_str(ev->mode);
		printf(", \"reason\": ");
		wbctl_json_str(ev->reason);
		printf(", \"message\": ");
		wbctl_json_str(ev->message);
		printf("}\n");
	} else {
		time_t t = (time_t)(ev->time_ms / 1000);
		struct tm tm;
		char ts[32];

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		printf("%s.%03uZ %s %s: %s\n", ts, (unsigned)(ev->time_ms % 1000),
		       ev->resource ? ev->resource : "-", ev->kind ? ev->kind : "?",
		       ev->message ? ev->message : "");
	}
	fflush(stdout);
}

int wbctl_cmd_events(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	struct ev_opts e = {0};
	struct wbproto_dec dec;
	struct wbproto_frame f;
	const char *pos[1], *res;
	uint8_t in[4096];
	bool answered = false;
	int n, ex, rc;

	ex = wbctl_args(argc, argv, "j", lo, ev_opt, &e, pos, 1, &n);
	if (ex)
		return ex;
	res = n ? pos[0] : NULL;
	rq.op = WBREP__CTL_OP__CTL_EVENTS;
	rq.resource = (char *)res;
	ex = wbctl_send(g, &rq);
	if (ex)
		return ex;
	wbproto_dec_init(&dec, WBPROTO_CTL_MAX);
	for (;;) {
		ssize_t got;

		rc = wbproto_dec_next(&dec, &f);
		if (rc < 0) {
			fprintf(stderr, "%s: bad frame from wbrepd: %s\n", wbctl_prog,
				wbproto_strerror(rc));
			ex = EX_FAIL;
			break;
		}
		if (rc == 1) {
			if (f.hdr.type == WBPROTO_T_CTL_RESPONSE && !answered) {
				const Wbrep__CtlResponse *r = (const Wbrep__CtlResponse *)f.msg;

				answered = true;
				if (r->code) {
					wbctl_refused(res, r);
					wbproto_frame_free(&f);
					ex = EX_FAIL;
					break;
				}
			} else if (f.hdr.type == WBPROTO_T_CTL_EVENT) {
				print_event((const Wbrep__CtlEvent *)f.msg, e.json);
			}
			wbproto_frame_free(&f);
			continue;
		}
		got = recv(g->fd, in, sizeof(in), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			fprintf(stderr, "%s: wbrepd closed the connection\n", wbctl_prog);
			ex = EX_FAIL;
			break;
		}
		if (wbproto_dec_feed(&dec, in, (size_t)got)) {
			ex = EX_FAIL;
			break;
		}
	}
	wbproto_dec_free(&dec);
	return ex;
}
