// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_drain.c - `wbctl drain RES` and `wbctl mode RES ...`.
 *
 * drain asks wbrepd to write back every dirty byte (CTL_DRAIN: the engine
 * runs write-through until its log is clean, then goes back to the mode in
 * force) and follows it through CTL_STATUS until the daemon says it is
 * over: a progress bar with rate and ETA on a terminal (what dm-writecache's
 * flush message and bcache's detach give), one plain line every --interval
 * seconds otherwise. mode forces the cache mode; for writethrough it says
 * that the log drains in the background, or with --wait follows that drain
 * the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/wbctl.h"
#include "engine/clock.h"

struct drain_opts {
	long timeout, interval;
	bool wait;
};

static int drain_opt(int o, const char *arg, void *st)
{
	struct drain_opts *d = st;

	switch (o) {
	case 't':
		return wbctl_num("drain", "--timeout", arg, 1, 86400 * 365, &d->timeout);
	case 'i':
		return wbctl_num("drain", "--interval", arg, 1, 3600, &d->interval);
	case 'W':
		d->wait = true;
		return EX_OK;
	default:
		return EX_USAGE;
	}
}

/* One progress report. total: dirty bytes when we started watching (or the
 * most seen since). */
static void progress(const char *res, const Wbrep__ResourceStatus *r, uint64_t total, bool tty)
{
	uint64_t left = r->dirty_bytes, done = total > left ? total - left : 0;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	char a[32], b[32], c[32], pb[64];

	wbconf_fmt_size(left, a, sizeof(a));
	wbconf_fmt_size(r->destage_rate, b, sizeof(b));
	wbctl_ms(r->destage_eta_ms, c, sizeof(c));
	if (tty) {
		wbctl_bar(done, total, pb, 30);
		printf("\r%s: drain %s %3u%%  %s left, %s%s%s%s\033[K", res, pb, pct, a,
		       r->destage_rate ? b : "idle", r->destage_rate ? "/s, ETA " : "",
		       r->destage_rate ? c : "", "");
	} else {
		printf("%s: drain %u%%, %s left, %s%s%s\n", res, pct, a,
		       r->destage_rate ? b : "destage idle", r->destage_rate ? "/s, ETA " : "",
		       r->destage_rate ? c : "");
	}
	fflush(stdout);
}

/*
 * Follow a drain until the daemon reports it over. Exit codes: EX_OK the log
 * was clean, EX_FAIL the resource went down or failed or the timeout
 * passed, EX_INTR Ctrl-C (the drain goes on in the daemon).
 */
static int follow_drain(struct gopts *g, const char *res, const struct drain_opts *d)
{
	bool tty = isatty(STDOUT_FILENO);
	uint64_t start = wb_now_ms(), last_line = 0, total = 0, first = 0;
	int ex = EX_OK;
	bool seen = false;

	wbctl_sigint_catch();
	for (;;) {
		const Wbrep__ResourceStatus *r;
		Wbrep__CtlResponse *resp;
		uint64_t t;
		char a[32], b[32];

		ex = wbctl_status_of(g, res, &resp, &r);
		if (ex)
			break;
		if (!seen) {
			first = r->destaged_bytes;
			seen = true;
		}
		if (r->dirty_bytes > total)
			total = r->dirty_bytes;
		if (!r->state || strcmp(r->state, "up")) {
			if (tty)
				printf("\n");
			fprintf(stderr, "%s: %s: drain stopped: the resource is %s%s%s\n",
				wbctl_prog, res, r->state ? r->state : "?", r->reason ? ": " : "",
				r->reason ? r->reason : "");
			wbrep__ctl_response__free_unpacked(resp, NULL);
			ex = EX_FAIL;
			break;
		}
		if (!r->draining) {
			/* the daemon ends a drain only when the log is clean */
			progress(res, r, total, tty);
			if (tty)
				printf("\n");
			wbconf_fmt_size(r->destaged_bytes - first, a, sizeof(a));
			wbctl_ms(wb_now_ms() - start, b, sizeof(b));
			printf("%s: clean: %s written back in %s, mode %s%s\n", res, a, b,
			       r->mode ? r->mode : "?", r->mode_forced ? " [forced]" : "");
			wbrep__ctl_response__free_unpacked(resp, NULL);
			ex = EX_OK;
			break;
		}
		t = wb_now_ms();
		if (tty || !last_line || t - last_line >= (uint64_t)d->interval * 1000) {
			progress(res, r, total, tty);
			last_line = t;
		}
		wbrep__ctl_response__free_unpacked(resp, NULL);
		if (d->timeout && t - start >= (uint64_t)d->timeout * 1000) {
			if (tty)
				printf("\n");
			fprintf(stderr,
				"%s: %s: not clean after %lds; the drain goes on in the background "
				"('wbctl status %s' shows it)\n",
				wbctl_prog, res, d->timeout, res);
			ex = EX_FAIL;
			break;
		}
		usleep(tty ? 250000 : 200000);
		if (wbctl_sigint_caught()) {
			ex = wbctl_follow_interrupted(res, "drain", tty);
			break;
		}
	}
	wbctl_sigint_release();
	return ex;
}

/* CTL_DRAIN, then follow it. */
static int start_and_follow(struct gopts *g, const char *res, const struct drain_opts *d)
{
	return wbctl_simple(g, WBREP__CTL_OP__CTL_DRAIN, res, NULL, NULL)
		   ?: follow_drain(g, res, d);
}

int wbctl_cmd_drain(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"timeout", required_argument, NULL, 't'},
					   {"interval", required_argument, NULL, 'i'},
					   {NULL, 0, NULL, 0}};
	struct drain_opts d = {.interval = 1};
	const char *res;
	int n, ex;

	ex = wbctl_args(argc, argv, "t:i:", lo, drain_opt, &d, &res, 1, &n);
	if (ex)
		return ex;
	if (n != 1) {
		fprintf(stderr, "%s drain: expected 1 argument (see %s drain --help)\n", wbctl_prog,
			wbctl_prog);
		return EX_USAGE;
	}
	return start_and_follow(g, res, &d);
}

int wbctl_cmd_mode(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"wait", no_argument, NULL, 'W'},
					   {"timeout", required_argument, NULL, 't'},
					   {"interval", required_argument, NULL, 'i'},
					   {NULL, 0, NULL, 0}};
	struct drain_opts d = {.interval = 1};
	const Wbrep__ResourceStatus *st;
	Wbrep__CtlResponse *r;
	const char *pos[2];
	char a[32];
	int n, ex;

	ex = wbctl_args(argc, argv, "Wt:i:", lo, drain_opt, &d, pos, 2, &n);
	if (ex)
		return ex;
	if (n == 1 && !d.wait) { /* show the mode in force and why */
		ex = wbctl_status_of(g, pos[0], &r, &st);
		if (ex)
			return ex;
		printf("%s: %s%s: %s\n", pos[0], st->mode ? st->mode : "?",
		       st->mode_forced ? " [forced]" : "", st->mode_reason ? st->mode_reason : "-");
		wbrep__ctl_response__free_unpacked(r, NULL);
		return EX_OK;
	}
	if (n != 2) {
		fprintf(stderr, "%s mode: expected RES [MODE] (see %s mode --help)\n", wbctl_prog,
			wbctl_prog);
		return EX_USAGE;
	}
	if (strcmp(pos[1], "writeback") && strcmp(pos[1], "writethrough") &&
	    strcmp(pos[1], "config")) {
		fprintf(stderr, "%s mode: mode must be writeback, writethrough or config\n",
			wbctl_prog);
		return EX_USAGE;
	}
	ex = wbctl_call(g, WBREP__CTL_OP__CTL_MODE, pos[0], pos[1], &r);
	if (ex)
		return ex;
	if (r->code) {
		wbctl_refused(pos[0], r);
		wbrep__ctl_response__free_unpacked(r, NULL);
		return EX_FAIL;
	}
	wbrep__ctl_response__free_unpacked(r, NULL);
	ex = wbctl_status_of(g, pos[0], &r, &st);
	if (ex)
		return ex;
	printf("%s: %s%s: %s\n", pos[0], st->mode ? st->mode : "?",
	       st->mode_forced ? " [forced]" : " (cache-mode of the configuration)",
	       st->mode_reason ? st->mode_reason : "-");
	if (st->mode && !strcmp(st->mode, "writethrough") && !d.wait) {
		wbconf_fmt_size(st->dirty_bytes, a, sizeof(a));
		printf(
		    "%s: dirty data is written back in the background (%s dirty now); "
		    "'wbctl drain %s' or 'wbctl mode %s writethrough --wait' waits until clean\n",
		    pos[0], a, pos[0], pos[0]);
	}
	wbrep__ctl_response__free_unpacked(r, NULL);
	if (!d.wait)
		return EX_OK;
	/* wait until clean: a drain ends in the mode now in force */
	return start_and_follow(g, pos[0], &d);
}
