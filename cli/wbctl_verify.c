// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_verify.c - `wbctl verify RES [--json] [--no-wait | --resync]` (docs/wbctl.md,
 * docs/replication.md "Online verify").
 *
 * Asks the primary's wbrepd to compare its device with every connected
 * secondary (CTL_VERIFY; it runs in the daemon), then follows it through
 * CTL_STATUS like drain does: a progress bar with rate and ETA on a
 * terminal, a line a second otherwise, and at the end one line per peer
 * (out-of-sync blocks and bytes, compared and skipped bytes), or one JSON
 * object with --json. Exit 0 when the verify ran to its end (whatever it
 * found: the count is the answer), 1 refused or aborted, 130 Ctrl-C (the
 * verify goes on in the daemon).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/wbctl.h"

struct verify_opts {
	bool json, no_wait, resync;
};

static int verify_opt(int o, const char *arg, void *st)
{
	struct verify_opts *v = st;

	switch (o) {
	case 'j':
		v->json = true;
		return EX_OK;
	case 'n':
		v->no_wait = true;
		return EX_OK;
	case 'r':
		v->resync = true;
		return EX_OK;
	default:
		return EX_USAGE;
	}
}

static void progress(const char *res, const Wbrep__ResourceStatus *r, bool tty)
{
	uint64_t total = r->verify_total_bytes, done = r->verify_done_bytes;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	char a[32], b[32], c[32], pb[64];

	wbconf_fmt_size(total - done, a, sizeof(a));
	wbconf_fmt_size(r->verify_rate, b, sizeof(b));
	wbctl_ms(r->verify_eta_ms, c, sizeof(c));
	if (tty) {
		wbctl_bar(done, total, pb, 30);
		printf("\r%s: verify %s %3u%%  %s left, %s/s, ETA %s\033[K", res, pb, pct, a, b, c);
	} else {
		printf("%s: verify %u%%, %s left, %s/s, ETA %s\n", res, pct, a, b, c);
	}
	fflush(stdout);
}

static void result_json(const char *res, const Wbrep__ResourceStatus *r)
{
	printf("{\"resource\": ");
	wbctl_json_str(res);
	printf(", \"state\": ");
	wbctl_json_str(r->verify_state);
	printf(", \"total_bytes\": %llu, \"done_bytes\": %llu, \"peers\": [",
	       (unsigned long long)r->verify_total_bytes, (unsigned long long)r->verify_done_bytes);
	for (size_t i = 0, n = 0; i < r->n_peers; i++) {
		const Wbrep__PeerStatus *p = r->peers[i];

		if (!p->verify_state)
			continue;
		printf("%s{\"node\": ", n++ ? ", " : "");
		wbctl_json_str(p->node);
		printf(", \"state\": ");
		wbctl_json_str(p->verify_state);
		printf(", \"oos_blocks\": %llu, \"oos_bytes\": %llu, \"unreadable_blocks\": %llu, "
		       "\"compared_bytes\": %llu, \"skipped_bytes\": %llu}",
		       (unsigned long long)p->verify_oos_bytes / 4096,
		       (unsigned long long)p->verify_oos_bytes,
		       (unsigned long long)p->verify_unreadable_bytes / 4096,
		       (unsigned long long)p->verify_compared_bytes,
		       (unsigned long long)p->verify_skipped_bytes);
	}
	printf("]}\n");
}

const char *wbctl_unreadable(uint64_t bytes)
{
	static char buf[64];

	if (!bytes)
		return "";
	snprintf(buf, sizeof(buf), " (%llu of them unreadable there)",
		 (unsigned long long)bytes / 4096);
	return buf;
}

static void result_human(const char *res, const Wbrep__ResourceStatus *r)
{
	for (size_t i = 0; i < r->n_peers; i++) {
		const Wbrep__PeerStatus *p = r->peers[i];
		char a[32], b[32], c[32];

		if (!p->verify_state)
			continue;
		wbconf_fmt_size(p->verify_oos_bytes, a, sizeof(a));
		wbconf_fmt_size(p->verify_compared_bytes, b, sizeof(b));
		wbconf_fmt_size(p->verify_skipped_bytes, c, sizeof(c));
		printf("%s: peer %s: verify %s: %llu block%s (%s) out of sync%s, %s compared, %s "
		       "skipped\n",
		       res, p->node, p->verify_state,
		       (unsigned long long)p->verify_oos_bytes / 4096,
		       p->verify_oos_bytes == 4096 ? "" : "s", a,
		       wbctl_unreadable(p->verify_unreadable_bytes), b, c);
	}
}

/* Follow the verify until the daemon says it ended; *oos: the blocks it
 * found out of sync on every peer together. */
static int follow(struct gopts *g, const char *res, const struct verify_opts *vo, uint64_t *oos)
{
	bool tty = !vo->json && isatty(STDOUT_FILENO);
	time_t last = 0;
	int ex;

	wbctl_sigint_catch();
	for (;;) {
		const Wbrep__ResourceStatus *r;
		Wbrep__CtlResponse *resp;

		ex = wbctl_status_of(g, res, &resp, &r);
		if (ex)
			break;
		if (!r->verify_state || strcmp(r->verify_state, "running")) {
			if (tty)
				printf("\n");
			if (vo->json)
				result_json(res, r);
			else
				result_human(res, r);
			ex = r->verify_state && !strcmp(r->verify_state, "done") ? EX_OK : EX_FAIL;
			for (size_t i = 0; i < r->n_peers; i++)
				*oos += r->peers[i]->verify_oos_bytes / 4096;
			if (ex && !vo->json)
				fprintf(stderr, "%s: %s: verify %s\n", wbctl_prog, res,
					r->verify_state ? r->verify_state : "did not run");
			wbrep__ctl_response__free_unpacked(resp, NULL);
			break;
		}
		if (!vo->json && (tty || time(NULL) != last)) {
			progress(res, r, tty);
			last = time(NULL);
		}
		wbrep__ctl_response__free_unpacked(resp, NULL);
		usleep(200000);
		if (wbctl_sigint_caught()) {
			ex = wbctl_follow_interrupted(res, "verify", tty);
			break;
		}
	}
	wbctl_sigint_release();
	return ex;
}

int wbctl_cmd_verify(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
					   {"no-wait", no_argument, NULL, 'n'},
					   {"resync", no_argument, NULL, 'r'},
					   {NULL, 0, NULL, 0}};
	struct verify_opts vo = {0};
	uint64_t oos = 0;
	const char *res;
	int n, ex;

	ex = wbctl_args(argc, argv, "", lo, verify_opt, &vo, &res, 1, &n);
	if (ex)
		return ex;
	if (n != 1) {
		fprintf(stderr, "%s verify: expected a resource name (see %s verify --help)\n",
			wbctl_prog, wbctl_prog);
		return EX_USAGE;
	}
	if (vo.no_wait && vo.resync) {
		fprintf(stderr, "%s verify: --resync waits for the end: not with --no-wait\n",
			wbctl_prog);
		return EX_USAGE;
	}
	ex = wbctl_simple(g, WBREP__CTL_OP__CTL_VERIFY, res, NULL, NULL);
	if (ex)
		return ex;
	if (vo.no_wait) {
		if (vo.json)
			printf("{\"resource\": \"%s\", \"state\": \"running\"}\n", res);
		else
			printf("%s: verify started ('wbctl status %s' shows it)\n", res, res);
		return EX_OK;
	}
	ex = follow(g, res, &vo, &oos);
	if (ex || !vo.resync || !oos)
		return ex;
	/* what the operator would do next: a reconnect starts the bitmap
	 * resync of the marked blocks (docs/replication.md "Online verify") */
	if (!vo.json)
		printf("%s: %llu block%s out of sync: reconnecting the peers, a bitmap resync "
		       "writes %s\n",
		       res, (unsigned long long)oos, oos == 1 ? "" : "s", oos == 1 ? "it" : "them");
	ex = wbctl_simple(g, WBREP__CTL_OP__CTL_DISCONNECT, res, NULL, NULL);
	if (!ex)
		ex = wbctl_simple(g, WBREP__CTL_OP__CTL_CONNECT, res, NULL, NULL);
	return ex;
}
