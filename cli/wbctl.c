// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl.c - the wbrep command-line tool. Talks to wbrepd over the control
 * socket (proto/wbproto.h frames, docs/control-protocol.md) and checks
 * configuration files (conf/wbconf.h) without a daemon.
 *
 * Owns the subcommand table, option parsing, the client side of the control
 * protocol, the simple actions (up, down, flush, reload) and config check.
 * Status renderings live in wbctl_status.c, drain and mode in
 * wbctl_drain.c (cli/wbctl.h). Exit codes: 0 ok, 1 the daemon refused or
 * the command failed, 2 usage error, 3 cannot connect to the daemon, 4 the
 * configuration has errors, 130 interrupted (docs/wbctl.md).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/wbctl.h"
#include "conf/wbconf.h"

struct cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*fn)(struct gopts *g, int argc, char **argv);
};

static const struct cmd cmds[];
const char *const wbctl_prog = "wbctl";
#define prog wbctl_prog

/* ---- options ------------------------------------------------------------- */

int wbctl_args(int argc, char **argv, const char *so, const struct option *lo,
	       int (*opt)(int o, const char *arg, void *st), void *st, const char **pos, int maxpos,
	       int *npos)
{
	char fmt[64];
	int o, ex;

	/* leading '-': words that are not options come back as 1, in order,
	 * so options may follow the arguments (even with POSIXLY_CORRECT);
	 * ':' first: report a missing value ourselves */
	snprintf(fmt, sizeof(fmt), "-:%s", so);
	*npos = 0;
	optind = 0; /* full re-initialisation of getopt */
	opterr = 0;
	while ((o = getopt_long(argc, argv, fmt, lo, NULL)) != -1) {
		if (o == 1) {
			if (*npos >= maxpos) {
				fprintf(stderr,
					"%s %s: unexpected argument '%s' (see %s %s --help)\n",
					prog, argv[0], optarg, prog, argv[0]);
				return EX_USAGE;
			}
			pos[(*npos)++] = optarg;
			continue;
		}
		if (o == '?' || o == ':') {
			fprintf(stderr, "%s %s: %s '%s' (see %s %s --help)\n", prog, argv[0],
				o == '?' ? "unknown option" : "missing value for option",
				argv[optind - 1], prog, argv[0]);
			return EX_USAGE;
		}
		ex = opt ? opt(o, optarg, st) : EX_USAGE;
		if (ex)
			return ex;
	}
	for (; optind < argc; optind++) { /* after "--" */
		if (*npos >= maxpos) {
			fprintf(stderr, "%s %s: unexpected argument '%s' (see %s %s --help)\n",
				prog, argv[0], argv[optind], prog, argv[0]);
			return EX_USAGE;
		}
		pos[(*npos)++] = argv[optind];
	}
	return EX_OK;
}

int wbctl_num(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "%s %s: %s must be a whole number %ld..%ld, not '%s'\n", prog, cmd,
			opt, min, max, s);
		return EX_USAGE;
	}
	*out = v;
	return EX_OK;
}

/* ---- connection ---------------------------------------------------------- */

static const char *socket_path(struct gopts *g, int *ex)
{
	static char buf[256];
	struct wbconf_errors errs = {0};
	struct wbconf *c = NULL;
	const char *cfg = g->config ? g->config : WBCONF_DEFAULT_PATH;
	int rc;

	*ex = EX_OK;
	if (g->socket)
		return g->socket;
	if (!g->config && access(cfg, F_OK))
		return WBCONF_DEFAULT_CTL_SOCKET;
	rc = wbconf_load(cfg, NULL, &c, &errs);
	if (rc) {
		fprintf(stderr, "%s: cannot take the socket path from %s:\n", prog, cfg);
		wbconf_errors_print(&errs, stderr);
		wbconf_errors_free(&errs);
		*ex = EX_CONFIG;
		return NULL;
	}
	snprintf(buf, sizeof(buf), "%s", c->global.control_socket);
	wbconf_free(c);
	return buf;
}

static int ctl_connect(struct gopts *g)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path;
	int ex, fd;

	path = socket_path(g, &ex);
	if (!path)
		return ex;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", prog, path);
		return EX_USAGE;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "%s: cannot connect to wbrepd at %s: %s\n", prog, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return EX_CONNECT;
	}
	g->fd = fd;
	return EX_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int wbctl_call(struct gopts *g, Wbrep__CtlOp op, const char *res, const char *mode,
	       Wbrep__CtlResponse **out)
{
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;

	rq.op = op;
	rq.resource = (char *)res;
	rq.mode = (char *)mode;
	return wbctl_request(g, &rq, out);
}

int wbctl_send(struct gopts *g, Wbrep__CtlRequest *rq)
{
	static uint64_t next_id = 1;
	uint8_t *buf;
	size_t len;
	int rc, ex;

	if (g->fd < 0 && (ex = ctl_connect(g)) != EX_OK)
		return ex;
	rq->version = WBPROTO_CTL_VERSION;
	rq->has_id = 1;
	rq->id = next_id++;
	if (wbproto_pack(WBPROTO_T_CTL_REQUEST, 0, &rq->base, &buf, &len))
		return EX_FAIL;
	rc = write_all(g->fd, buf, len);
	free(buf);
	if (rc) {
		fprintf(stderr, "%s: sending the request failed: %s\n", prog, strerror(-rc));
		return EX_CONNECT;
	}
	return EX_OK;
}

int wbctl_request(struct gopts *g, Wbrep__CtlRequest *rq, Wbrep__CtlResponse **out)
{
	struct wbproto_dec dec;
	struct wbproto_frame f;
	uint8_t in[4096];
	int rc, ex;

	*out = NULL;
	ex = wbctl_send(g, rq);
	if (ex)
		return ex;
	ex = EX_CONNECT;
	wbproto_dec_init(&dec, WBPROTO_CTL_MAX);
	for (;;) {
		ssize_t n;

		rc = wbproto_dec_next(&dec, &f);
		if (rc < 0) {
			fprintf(stderr, "%s: bad reply from wbrepd: %s\n", prog,
				wbproto_strerror(rc));
			ex = EX_FAIL;
			break;
		}
		if (rc == 1) {
			if (f.hdr.type == WBPROTO_T_CTL_RESPONSE) {
				*out = (Wbrep__CtlResponse *)f.msg;
				f.msg = NULL;
				ex = EX_OK;
				break;
			}
			wbproto_frame_free(&f); /* events etc.: not asked for, skip */
			continue;
		}
		n = recv(g->fd, in, sizeof(in), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "%s: wbrepd closed the connection\n", prog);
			break;
		}
		if (wbproto_dec_feed(&dec, in, (size_t)n)) {
			ex = EX_FAIL;
			break;
		}
	}
	wbproto_dec_free(&dec);
	return ex;
}

void wbctl_refused(const char *res, const Wbrep__CtlResponse *r)
{
	fprintf(stderr, "%s: %s%s%s\n", prog, res ? res : "", res ? ": " : "",
		r->message ? r->message : strerror(r->code));
}

int wbctl_simple(struct gopts *g, Wbrep__CtlOp op, const char *res, const char *mode,
		 const char *okmsg)
{
	Wbrep__CtlResponse *r;
	int ex = wbctl_call(g, op, res, mode, &r);

	if (ex)
		return ex;
	if (r->code) {
		wbctl_refused(res, r);
		ex = EX_FAIL;
	} else if (okmsg) {
		printf("%s\n", okmsg);
	}
	wbrep__ctl_response__free_unpacked(r, NULL);
	return ex;
}

int wbctl_status_of(struct gopts *g, const char *res, Wbrep__CtlResponse **out,
		    const Wbrep__ResourceStatus **rs)
{
	int ex = wbctl_call(g, WBREP__CTL_OP__CTL_STATUS, res, NULL, out);

	if (ex)
		return ex;
	if ((*out)->code || !(*out)->status || (*out)->status->n_resources != 1) {
		if ((*out)->code)
			wbctl_refused(res, *out);
		else
			fprintf(stderr, "%s: %s: no status in the reply\n", prog, res);
		wbrep__ctl_response__free_unpacked(*out, NULL);
		*out = NULL;
		return EX_FAIL;
	}
	*rs = (*out)->status->resources[0];
	return EX_OK;
}

/* ---- units ----------------------------------------------------------------- */

void wbctl_ms(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = (ms + 999) / 1000;

	if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
}

void wbctl_bar(uint64_t done, uint64_t total, char *buf, size_t width)
{
	size_t fill = total ? (size_t)((double)done / (double)total * (double)width + 0.5) : 0;

	if (fill > width)
		fill = width;
	buf[0] = '[';
	for (size_t i = 0; i < width; i++)
		buf[1 + i] = i < fill ? '#' : '.';
	buf[width + 1] = ']';
	buf[width + 2] = 0;
}

static volatile sig_atomic_t sigint_seen;

static void on_sigint(int sig)
{
	sigint_seen = 1;
}

void wbctl_sigint_catch(void)
{
	sigint_seen = 0;
	signal(SIGINT, on_sigint);
}

bool wbctl_sigint_caught(void)
{
	return sigint_seen;
}

void wbctl_sigint_release(void)
{
	signal(SIGINT, SIG_DFL);
}

int wbctl_follow_interrupted(const char *res, const char *what, bool tty)
{
	if (tty)
		printf("\n");
	fprintf(stderr,
		"%s: %s: interrupted; the %s goes on in the background ('wbctl status %s' shows "
		"it)\n",
		wbctl_prog, res, what, res);
	return EX_INTR;
}

/* ---- subcommands --------------------------------------------------------- */

/* ---- simple commands ----------------------------------------------------- */

/* A command that takes exactly nargs words and no options. */
static int plain_args(int argc, char **argv, int nargs, const char **pos)
{
	static const struct option none[] = {{NULL, 0, NULL, 0}};
	int n, ex = wbctl_args(argc, argv, "", none, NULL, NULL, pos, nargs, &n);

	if (ex)
		return ex;
	if (n != nargs) {
		fprintf(stderr, "%s %s: expected %d argument%s (see %s %s --help)\n", prog, argv[0],
			nargs, nargs == 1 ? "" : "s", prog, argv[0]);
		return EX_USAGE;
	}
	return EX_OK;
}

static int cmd_up(struct gopts *g, int argc, char **argv)
{
	const char *res;

	return plain_args(argc, argv, 1, &res)
		   ?: wbctl_simple(g, WBREP__CTL_OP__CTL_UP, res, NULL, NULL);
}

static int cmd_down(struct gopts *g, int argc, char **argv)
{
	const char *res;

	return plain_args(argc, argv, 1, &res)
		   ?: wbctl_simple(g, WBREP__CTL_OP__CTL_DOWN, res, NULL, NULL);
}

static int cmd_flush(struct gopts *g, int argc, char **argv)
{
	const char *res;

	return plain_args(argc, argv, 1, &res)
		   ?: wbctl_simple(g, WBREP__CTL_OP__CTL_FLUSH, res, NULL, NULL);
}

static int cmd_reload(struct gopts *g, int argc, char **argv)
{
	return plain_args(argc, argv, 0, NULL)
		   ?: wbctl_simple(g, WBREP__CTL_OP__CTL_RELOAD, NULL, NULL, NULL);
}

static int cmd_config(struct gopts *g, int argc, char **argv)
{
	struct wbconf_errors errs = {0};
	struct wbconf *c = NULL;
	static const struct option none[] = {{NULL, 0, NULL, 0}};
	const char *file, *pos[2];
	int n, rc, ex;

	ex = wbctl_args(argc, argv, "", none, NULL, NULL, pos, 2, &n);
	if (ex || n < 1 || strcmp(pos[0], "check")) {
		fprintf(stderr, "%s config: usage: %s config check [FILE]\n", prog, prog);
		return EX_USAGE;
	}
	file = n == 2 ? pos[1] : g->config ? g->config : WBCONF_DEFAULT_PATH;
	rc = wbconf_load(file, NULL, &c, &errs);
	/* on the node the file is for: its devices must be there */
	if (!rc && wbconf_on_this_host(c))
		rc = wbconf_check_devices(c, &errs);
	/* ... and its TLS files as its peers will see them */
	if (!rc && wbconf_on_this_host(c)) {
		unsigned bad = wbctl_check_tls(c, file);

		if (bad) {
			printf("%s: %u error%s\n", file, bad, bad == 1 ? "" : "s");
			wbconf_free(c);
			return EX_CONFIG;
		}
	}
	if (rc) {
		wbconf_errors_print(&errs, stdout);
		printf("%s: %zu error%s\n", file, errs.n + errs.dropped,
		       errs.n + errs.dropped == 1 ? "" : "s");
		wbconf_errors_free(&errs);
		wbconf_free(c);
		return EX_CONFIG;
	}
	printf("%s: OK (%zu resource%s, %zu node%s)\n", file, c->nres, c->nres == 1 ? "" : "s",
	       c->nnodes, c->nnodes == 1 ? "" : "s");
	if (c->nres_elsewhere)
		printf(
		    "%s: %zu more resource%s on other nodes only (their \"nodes\" leave out %s)\n",
		    file, c->nres_elsewhere, c->nres_elsewhere == 1 ? "" : "s",
		    c->global.node_name);
	if (!wbconf_on_this_host(c))
		printf("%s: device paths not checked: this host is not node %s\n", file,
		       c->global.node_name);
	wbconf_free(c);
	return EX_OK;
}

static int cmd_help(struct gopts *g, int argc, char **argv);

static const struct cmd cmds[] = {
    {"status", "[RES] [-v] [--json | --shell] [--watch [--interval SEC] [--count N]]",
     "Show resources: state, mode, log use, dirty bytes, generations, destage rate and ETA.\n"
     "  -v, --verbose  also the settings in force (engine, ack, devices, watermarks, rates,\n"
     "                 log segment) and whether the file on disk differs from them\n"
     "  --json         machine-readable output (schema: docs/wbctl.md)\n"
     "  --shell        NAME='VALUE' lines for a shell's eval (DRBD's sh-status; docs/wbctl.md)\n"
     "  --watch        repeat every --interval seconds (default 1) until Ctrl-C or --count,\n"
     "                 with a timestamp per frame\n"
     "  Options may come before or after RES.",
     wbctl_cmd_status},
    {"show", "RES [--json]", "Same as status -v RES.", wbctl_cmd_show},
    {"up", "RES", "Open the resource's engine and start its frontends.", cmd_up},
    {"down", "RES", "Stop the frontends, flush, close the engine.", cmd_down},
    {"flush", "RES", "Make every completed write durable (waits for the flush).", cmd_flush},
    {"drain", "RES [--timeout SEC] [--interval SEC]",
     "Write back every dirty byte and wait until the log is clean.\n"
     "  Write-through while it runs (so it ends), then the mode in force again. A progress\n"
     "  bar with ETA on a terminal, a line every --interval seconds (default 1) otherwise.\n"
     "  Exit 0 clean, 1 failed or --timeout passed (the drain goes on), 130 Ctrl-C (it goes\n"
     "  on in the background).",
     wbctl_cmd_drain},
    {"mode", "RES [writeback|writethrough|config] [--wait]",
     "Without a mode: show the mode in force and why (quorum, peers, forced, ...).\n"
     "  With one: force it until the next down (shown as forced); config = back to the\n"
     "  configuration's cache-mode. Write-back still needs quorum and enough peers.\n"
     "  Writethrough drains the log in the background; --wait waits until it is clean.",
     wbctl_cmd_mode},
    {"events", "[RES] [--json]",
     "Follow mode, peer and quorum events (of RES and daemon-wide ones) as they happen,\n"
     "  one line each, until interrupted or wbrepd goes away (exit 1 then).",
     wbctl_cmd_events},
    {"primary", "RES [--force]",
     "Promote this node (replication, docs/replication.md \"Roles\"). Refused while a\n"
     "  connected peer is primary, when [global] cluster = corosync and this node is not\n"
     "  quorate, and (unless --force) when this node's disk is not UpToDate or a connected\n"
     "  secondary holds more records.",
     wbctl_cmd_primary},
    {"secondary", "RES",
     "Demote this node: refuse new writes, flush, wait until the peers acknowledged what\n"
     "  was written, then apply the primary's records only.",
     wbctl_cmd_secondary},
    {"connect", "RES [--discard-my-data]",
     "Start the resource's peer links again (after disconnect or a refusal).", wbctl_cmd_connect},
    {"disconnect", "RES", "Stop the resource's peer links (StandAlone) until connect.",
     wbctl_cmd_disconnect},
    {"forget-peer", "RES NODE",
     "A node removed by 'wbctl reload' gives up its dirty-bitmap slot now instead of at\n"
     "  the resource's next up (marked whole, free for another node; the node added back\n"
     "  gets a full sync). Status lists such nodes as 'removed'. DRBD's forget-peer.",
     wbctl_cmd_forget_peer},
    {"pause-sync", "RES",
     "Resyncs of RES, to or from this node, ask for no more data until resume-sync (the\n"
     "  peers are told; what is in flight completes; writes still replicate). Lasts until\n"
     "  resume-sync or wbrepd restarts; a resync that starts meanwhile waits. DRBD's\n"
     "  pause-sync.",
     wbctl_cmd_pause_sync},
    {"resume-sync", "RES", "Undo pause-sync on this node (a peer's own pause still holds).",
     wbctl_cmd_resume_sync},
    {"resize",
     "RES [--size SIZE] [--assume-clean] [--assume-peer-has-space] | RES --log [--size SIZE]",
     "Grow the device online to SIZE (default: as large as this node's backing and, on a\n"
     "  replicated primary, every peer's allows; grow the backings first, e.g. lvextend).\n"
     "  The secondaries follow and resync the new range, unless --assume-clean (it is alike\n"
     "  everywhere already). A peer not connected refuses it unless --assume-peer-has-space\n"
     "  (it grows when it connects). New NBD clients see the new size; shrinking is refused.\n"
     "  --log: grow this node's log instead, into its grown log device (SIZE: the log's\n"
     "  bytes, default the whole device), on any node and role; nothing is resynced.",
     wbctl_cmd_resize},
    {"verify", "RES [--json] [--no-wait | --resync]",
     "On the primary: compare every block with each connected secondary while writes go\n"
     "  on (docs/replication.md \"Online verify\"), at most verify-rate bytes/s. Blocks that\n"
     "  differ are logged and marked for resync. Follows it like drain and prints, per peer,\n"
     "  the blocks out of sync (--json: one object); --no-wait only starts it (progress:\n"
     "  status); --resync: when blocks were found, reconnect the peers at the end so that\n"
     "  a bitmap resync writes them. Exit 0 when it ran to the end, 1 refused or aborted,\n"
     "  130 Ctrl-C.",
     wbctl_cmd_verify},
    {"snapshot", "RES (--gen N | --at TIME) [--json]",
     "Open the device as it was when generation N ended (docs/snapshots.md), or the newest\n"
     "  generation that ended at or before TIME (@SECONDS, YYYY-MM-DDTHH:MM:SS[Z] in UTC, or\n"
     "  -N[s|m|h] ago), as the read-only NBD export RES@N. It lasts until snapshot-drop,\n"
     "  down, write-through or the log needing its space ('snapshots' lists them).",
     wbctl_cmd_snapshot},
    {"snapshot-drop", "RES N", "Close the snapshot of generation N (its clients disconnect).",
     wbctl_cmd_snapshot_drop},
    {"snapshots", "RES [--json]",
     "The generations a snapshot can be taken of now (with when they ended) and the open\n"
     "  snapshots with their NBD exports.",
     wbctl_cmd_snapshots},
    {"reload", "", "Re-read the configuration file (like SIGHUP).", cmd_reload},
    {"config", "check [FILE]",
     "Check a configuration file; print every error as FILE:LINE: [section] key: message.\n"
     "  FILE defaults to -c FILE, else " WBCONF_DEFAULT_PATH ". Needs no daemon; exit 4 on\n"
     "  errors.",
     cmd_config},
    {"help", "[COMMAND]", "Show help for all commands or one.", cmd_help},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-s SOCKET] [-c CONFIG] COMMAND [ARGS]\n"
		"  -s, --socket SOCKET  control socket (default: control-socket from the config,\n"
		"                       else %s)\n"
		"  -c, --config CONFIG  configuration file (default %s)\n"
		"  -h, --help           this help\n\ncommands:\n",
		prog, WBCONF_DEFAULT_CTL_SOCKET, WBCONF_DEFAULT_PATH);
	for (const struct cmd *c = cmds; c->name; c++) {
		int n = (int)strcspn(c->help, "\n");

		fprintf(f, "  %s%s%s\n      %.*s\n", c->name, c->args[0] ? " " : "", c->args, n,
			c->help);
	}
	fprintf(f,
		"\n'%s COMMAND --help' describes one command.\n"
		"Exit codes: 0 ok, 1 failed, 2 usage, 3 no daemon, 4 config errors.\n",
		prog);
}

static const struct cmd *cmd_find(const char *name)
{
	for (const struct cmd *c = cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void cmd_usage(const struct cmd *c)
{
	printf("usage: %s %s %s\n%s\n", prog, c->name, c->args, c->help);
}

static int cmd_help(struct gopts *g, int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		usage(stdout);
		return EX_OK;
	}
	c = cmd_find(argv[1]);
	if (!c) {
		fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
		return EX_USAGE;
	}
	cmd_usage(c);
	return EX_OK;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"socket", required_argument, NULL, 's'},
					   {"config", required_argument, NULL, 'c'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	struct gopts g = {.fd = -1};
	const struct cmd *c;
	int o, ex;

	while ((o = getopt_long(argc, argv, "+s:c:h", lo, NULL)) != -1) {
		switch (o) {
		case 's':
			g.socket = optarg;
			break;
		case 'c':
			g.config = optarg;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	c = cmd_find(argv[optind]);
	if (!c) {
		fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	for (int i = optind + 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			cmd_usage(c);
			return EX_OK;
		}
	}
	ex = c->fn(&g, argc - optind, argv + optind);
	if (g.fd >= 0)
		close(g.fd);
	return ex;
}
