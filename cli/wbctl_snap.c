// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_snap.c - snapshots of older generations (docs/snapshots.md):
 *
 *   wbctl snapshot RES (--gen N | --at TIME) [--json]
 *       open the device as it was when generation N ended (or the newest
 *       generation that ended at or before TIME) as the read-only NBD
 *       export RES@N; prints the export's name
 *   wbctl snapshot-drop RES N
 *   wbctl snapshots RES [--json]
 *       the generations one can be taken of now and the open ones
 *
 * TIME: seconds since the epoch ("@1796323345.5"), "YYYY-MM-DDTHH:MM:SS"
 * (UTC, an optional trailing Z), or "-N" / "-Ns" / "-Nm" / "-Nh": that long
 * ago. Exit 0 done, 1 refused (the daemon's reason printed), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/wbctl.h"

struct snap_opts {
	bool json;
	const char *gen, *at;
};

static int snap_opt(int o, const char *arg, void *st)
{
	struct snap_opts *s = st;

	switch (o) {
	case 'j':
		s->json = true;
		return EX_OK;
	case 'g':
		s->gen = arg;
		return EX_OK;
	case 'a':
		s->at = arg;
		return EX_OK;
	default:
		return EX_USAGE;
	}
}

/* TIME (above) to ms since the epoch; 0: not a time. */
uint64_t wbctl_parse_time_ms(const char *s, uint64_t now_ms)
{
	char *end;
	struct tm tm;
	const char *p;

	if (!s || !*s)
		return 0;
	if (s[0] == '@') {
		double v;

		errno = 0;
		v = strtod(s + 1, &end);
		return !errno && !*end && end != s + 1 && v > 0 && v < 1e11 ? (uint64_t)(v * 1000)
									    : 0;
	}
	if (s[0] == '-') {
		unsigned long long n;
		uint64_t mul = 1000;

		errno = 0;
		n = strtoull(s + 1, &end, 10);
		if (errno || end == s + 1)
			return 0;
		if (*end == 'm')
			mul = 60000;
		else if (*end == 'h')
			mul = 3600000;
		else if (*end && *end != 's')
			return 0;
		if (*end && end[1])
			return 0;
		return n * mul < now_ms ? now_ms - n * mul : 0;
	}
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!p || (*p && strcmp(p, "Z")))
		return 0;
	{
		time_t t = timegm(&tm);

		return t > 0 ? (uint64_t)t * 1000 : 0;
	}
}

static void fmt_time(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static void snap_json(const Wbrep__SnapshotStatus *s)
{
	printf("{\"generation\": %llu, \"time_ms\": %llu, \"export\": ",
	       (unsigned long long)s->generation, (unsigned long long)s->time_ms);
	wbctl_json_str(s->export);
	printf(", \"extents\": %llu, \"nbd_clients\": %u}", (unsigned long long)s->extents,
	       (unsigned)s->nbd_clients);
}

int wbctl_cmd_snapshot(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
					   {"gen", required_argument, NULL, 'g'},
					   {"at", required_argument, NULL, 'a'},
					   {NULL, 0, NULL, 0}};
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	Wbrep__CtlResponse *resp;
	struct snap_opts so = {0};
	struct timespec ts;
	const char *res;
	int n, ex;
	long v;

	ex = wbctl_args(argc, argv, "", lo, snap_opt, &so, &res, 1, &n);
	if (ex)
		return ex;
	if (n != 1 || !so.gen == !so.at) {
		fprintf(stderr,
			"%s snapshot: expected RES and one of --gen N or --at TIME (see %s help "
			"snapshot)\n",
			wbctl_prog, wbctl_prog);
		return EX_USAGE;
	}
	rq.op = WBREP__CTL_OP__CTL_SNAPSHOT;
	rq.resource = (char *)res;
	if (so.gen) {
		if (wbctl_num("snapshot", "--gen", so.gen, 1, 0x7fffffffffffffffL, &v))
			return EX_USAGE;
		rq.has_generation = 1;
		rq.generation = (uint64_t)v;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		rq.has_at_ms = 1;
		rq.at_ms = wbctl_parse_time_ms(so.at, (uint64_t)ts.tv_sec * 1000 +
							  (uint64_t)ts.tv_nsec / 1000000);
		if (!rq.at_ms) {
			fprintf(stderr,
				"%s snapshot: --at %s: expected @SECONDS, YYYY-MM-DDTHH:MM:SS[Z] "
				"(UTC) or -N[s|m|h]\n",
				wbctl_prog, so.at);
			return EX_USAGE;
		}
	}
	ex = wbctl_request(g, &rq, &resp);
	if (ex)
		return ex;
	if (resp->code) {
		wbctl_refused(res, resp);
		wbrep__ctl_response__free_unpacked(resp, NULL);
		return EX_FAIL;
	}
	if (!resp->snapshot) {
		fprintf(stderr, "%s: %s: the daemon opened a snapshot but did not say which\n",
			wbctl_prog, res);
		wbrep__ctl_response__free_unpacked(resp, NULL);
		return EX_FAIL;
	}
	if (so.json) {
		snap_json(resp->snapshot);
		printf("\n");
	} else {
		char t[64];

		fmt_time(resp->snapshot->time_ms, t, sizeof(t));
		printf("%s: generation %llu (ended %s) is the read-only NBD export %s\n", res,
		       (unsigned long long)resp->snapshot->generation, t, resp->snapshot->export);
	}
	wbrep__ctl_response__free_unpacked(resp, NULL);
	return EX_OK;
}

int wbctl_cmd_snapshot_drop(struct gopts *g, int argc, char **argv)
{
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	Wbrep__CtlResponse *resp;
	const char *pos[2];
	int n, ex;
	long v;

	ex = wbctl_args(argc, argv, "", NULL, NULL, NULL, pos, 2, &n);
	if (ex)
		return ex;
	if (n != 2) {
		fprintf(stderr, "%s snapshot-drop: expected RES GENERATION\n", wbctl_prog);
		return EX_USAGE;
	}
	if (wbctl_num("snapshot-drop", "GENERATION", pos[1], 1, 0x7fffffffffffffffL, &v))
		return EX_USAGE;
	rq.op = WBREP__CTL_OP__CTL_SNAPSHOT_DROP;
	rq.resource = (char *)pos[0];
	rq.has_generation = 1;
	rq.generation = (uint64_t)v;
	ex = wbctl_request(g, &rq, &resp);
	if (ex)
		return ex;
	ex = resp->code ? EX_FAIL : EX_OK;
	if (resp->code)
		wbctl_refused(pos[0], resp);
	else
		printf("%s: snapshot of generation %ld closed\n", pos[0], v);
	wbrep__ctl_response__free_unpacked(resp, NULL);
	return ex;
}

int wbctl_cmd_snapshots(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct snap_opts so = {0};
	const Wbrep__ResourceStatus *r;
	Wbrep__CtlResponse *resp;
	const char *res;
	char a[64], b[64];
	int n, ex;

	ex = wbctl_args(argc, argv, "", lo, snap_opt, &so, &res, 1, &n);
	if (ex)
		return ex;
	if (n != 1) {
		fprintf(stderr, "%s snapshots: expected a resource name\n", wbctl_prog);
		return EX_USAGE;
	}
	ex = wbctl_status_of(g, res, &resp, &r);
	if (ex)
		return ex;
	if (so.json) {
		printf("{\"resource\": ");
		wbctl_json_str(res);
		if (r->has_snap_gen_oldest)
			printf(", \"readable\": {\"oldest\": %llu, \"newest\": %llu, "
			       "\"oldest_time_ms\": "
			       "%llu, \"newest_time_ms\": %llu}",
			       (unsigned long long)r->snap_gen_oldest,
			       (unsigned long long)r->snap_gen_newest,
			       (unsigned long long)r->snap_oldest_ms,
			       (unsigned long long)r->snap_newest_ms);
		else
			printf(", \"readable\": null");
		printf(", \"dropped\": %llu, \"snapshots\": [",
		       (unsigned long long)r->snapshots_dropped);
		for (size_t i = 0; i < r->n_snapshots; i++) {
			printf("%s", i ? ", " : "");
			snap_json(r->snapshots[i]);
		}
		printf("]}\n");
	} else {
		if (r->has_snap_gen_oldest) {
			fmt_time(r->snap_oldest_ms, a, sizeof(a));
			fmt_time(r->snap_newest_ms, b, sizeof(b));
			printf("%s: generations %llu..%llu can be read (ended %s .. %s)\n", res,
			       (unsigned long long)r->snap_gen_oldest,
			       (unsigned long long)r->snap_gen_newest, a, b);
		} else {
			printf("%s: no ended generation is in the log now\n", res);
		}
		for (size_t i = 0; i < r->n_snapshots; i++) {
			const Wbrep__SnapshotStatus *s = r->snapshots[i];

			fmt_time(s->time_ms, a, sizeof(a));
			printf("  %s  generation %llu, ended %s, %u client%s\n", s->export,
			       (unsigned long long)s->generation, a, (unsigned)s->nbd_clients,
			       s->nbd_clients == 1 ? "" : "s");
		}
		if (r->snapshots_dropped)
			printf("  (%llu dropped by the engine since up: the log needed the space, "
			       "write-through or a resync)\n",
			       (unsigned long long)r->snapshots_dropped);
	}
	wbrep__ctl_response__free_unpacked(resp, NULL);
	return EX_OK;
}
