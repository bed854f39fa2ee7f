// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl.c - the wbrep command-line tool. Talks to wbrepd over the control
 * socket (proto/wbproto.h frames, docs/control-protocol.md) and checks
 * configuration files (conf/wbconf.h) without a daemon.
 *
 * Owns the subcommand table, the client side of the control protocol and
 * the human / JSON renderings of status (schema in docs/wbctl.md).
 * Exit codes: 0 ok, 1 the daemon refused or the command failed, 2 usage
 * error, 3 cannot connect to the daemon, 4 the configuration has errors.
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

#include "conf/wbconf.h"
#include "proto/wbproto.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_CONNECT = 3, EX_CONFIG = 4 };

struct gopts {
	const char *socket; /* -s */
	const char *config; /* -c */
	int fd;
};

struct cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*fn)(struct gopts *g, int argc, char **argv);
};

static const struct cmd cmds[];
static const char *prog = "wbctl";

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

/* Send one request, wait for its response (*out, free with
 * wbrep__ctl_response__free_unpacked). Returns an exit code. */
static int ctl_call(struct gopts *g, Wbrep__CtlOp op, const char *res, const char *mode,
		    Wbrep__CtlResponse **out)
{
	static uint64_t next_id = 1;
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	struct wbproto_dec dec;
	struct wbproto_frame f;
	uint8_t *buf, in[4096];
	size_t len;
	int rc, ex = EX_CONNECT;

	*out = NULL;
	if (g->fd < 0 && (ex = ctl_connect(g)) != EX_OK)
		return ex;
	rq.version = WBPROTO_CTL_VERSION;
	rq.op = op;
	rq.has_id = 1;
	rq.id = next_id++;
	rq.resource = (char *)res;
	rq.mode = (char *)mode;
	if (wbproto_pack(WBPROTO_T_CTL_REQUEST, 0, &rq.base, &buf, &len))
		return EX_FAIL;
	rc = write_all(g->fd, buf, len);
	free(buf);
	if (rc) {
		fprintf(stderr, "%s: sending the request failed: %s\n", prog, strerror(-rc));
		return EX_CONNECT;
	}
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

/* For actions: call, print the error if any, map to an exit code. */
static int ctl_simple(struct gopts *g, Wbrep__CtlOp op, const char *res, const char *mode,
		      const char *okmsg)
{
	Wbrep__CtlResponse *r;
	int ex = ctl_call(g, op, res, mode, &r);

	if (ex)
		return ex;
	if (r->code) {
		fprintf(stderr, "%s: %s%s%s\n", prog, res ? res : "", res ? ": " : "",
			r->message ? r->message : strerror(r->code));
		ex = EX_FAIL;
	} else if (okmsg) {
		printf("%s\n", okmsg);
	}
	wbrep__ctl_response__free_unpacked(r, NULL);
	return ex;
}

/* ---- status rendering ---------------------------------------------------- */

static void human_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double d = (double)v;
	int i = 0;

	while (d >= 1024 && i < 5) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, len, "%.1f %s", d, u[i]);
}

static void human_ms(uint64_t ms, char *buf, size_t len)
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

static void bar(uint64_t used, uint64_t total, char *buf, size_t width)
{
	size_t fill = total ? (size_t)((double)used / (double)total * (double)width + 0.5) : 0;

	if (fill > width)
		fill = width;
	buf[0] = '[';
	for (size_t i = 0; i < width; i++)
		buf[1 + i] = i < fill ? '#' : '.';
	buf[width + 1] = ']';
	buf[width + 2] = 0;
}

static const char *s_or(const char *s, const char *def)
{
	return s && *s ? s : def;
}

static void print_human(const Wbrep__ResourceStatus *r)
{
	char a[32], b[32], c[32], pb[64];
	unsigned pct = r->log_size ? (unsigned)(r->log_used * 100 / r->log_size) : 0;

	printf("%s: %s, %s, %s (engine %s%s)\n", r->name, s_or(r->state, "?"), s_or(r->role, "?"),
	       s_or(r->mode, "?"), s_or(r->engine, "?"), r->engine_state ? ", FAILED" : "");
	if (!r->state || strcmp(r->state, "up")) {
		printf("  (engine not open: no statistics; 'wbctl up %s' starts it)\n", r->name);
		return;
	}
	human_bytes(r->size, a, sizeof(a));
	printf("  size       %s\n", a);
	if (r->log_size) {
		bar(r->log_used, r->log_size, pb, 30);
		human_bytes(r->log_used, a, sizeof(a));
		human_bytes(r->log_size, b, sizeof(b));
		printf("  log        %s %3u%%  %s of %s\n", pb, pct, a, b);
	} else {
		printf("  log        none\n");
	}
	human_bytes(r->dirty_bytes, a, sizeof(a));
	if (!r->dirty_bytes) {
		printf("  dirty      clean\n");
	} else if (r->destage_rate) {
		human_bytes(r->destage_rate, b, sizeof(b));
		human_ms(r->destage_eta_ms, c, sizeof(c));
		printf("  dirty      %s dirty, destaging at %s/s, ETA %s\n", a, b, c);
	} else {
		printf("  dirty      %s dirty, destage idle\n", a);
	}
	printf("  generation head %llu, durable %llu, oldest %llu\n",
	       (unsigned long long)r->gen_head, (unsigned long long)r->gen_durable,
	       (unsigned long long)r->gen_oldest);
	printf("  seq        head %llu, tail %llu\n", (unsigned long long)r->seq_head,
	       (unsigned long long)r->seq_tail);
	human_bytes(r->ram_pages_used * 4096, a, sizeof(a));
	human_bytes(r->ram_pages_total * 4096, b, sizeof(b));
	printf("  ram        %s of %s (%llu/%llu pages)\n", a, b,
	       (unsigned long long)r->ram_pages_used, (unsigned long long)r->ram_pages_total);
	human_bytes(r->extent_mem_bytes, a, sizeof(a));
	printf("  extents    %llu (%s)\n", (unsigned long long)r->extents, a);
	human_bytes(r->bytes_read, a, sizeof(a));
	human_bytes(r->bytes_written, b, sizeof(b));
	printf("  io         %llu reads (%s), %llu writes (%s), %llu flushes, %llu discards\n",
	       (unsigned long long)r->reads, a, (unsigned long long)r->writes, b,
	       (unsigned long long)r->flushes, (unsigned long long)r->discards);
	human_bytes(r->destaged_bytes, a, sizeof(a));
	printf("  destaged   %s total, %llu throttle events\n", a,
	       (unsigned long long)r->throttle_events);
	printf("  clients    %u nbd, peers %u/%u connected\n", r->nbd_clients, r->peers_connected,
	       r->peers_total);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

#define JU(name, v) printf("\"%s\": %llu", name, (unsigned long long)(v))

static void print_json_res(const Wbrep__ResourceStatus *r)
{
	printf("    {\"name\": ");
	json_str(r->name);
	printf(", \"engine\": ");
	json_str(r->engine);
	printf(", \"state\": ");
	json_str(r->state);
	printf(", \"role\": ");
	json_str(r->role);
	printf(", \"mode\": ");
	json_str(r->mode);
	printf(", \"engine_state\": \"%s\",\n     ", r->engine_state ? "failed" : "ok");
	JU("size", r->size);
	printf(", ");
	JU("dirty_bytes", r->dirty_bytes);
	printf(",\n     \"log\": {");
	JU("size", r->log_size);
	printf(", ");
	JU("used", r->log_used);
	printf("},\n     \"generation\": {");
	JU("head", r->gen_head);
	printf(", ");
	JU("durable", r->gen_durable);
	printf(", ");
	JU("oldest", r->gen_oldest);
	printf("},\n     \"seq\": {");
	JU("head", r->seq_head);
	printf(", ");
	JU("tail", r->seq_tail);
	printf("},\n     \"destage\": {");
	JU("rate", r->destage_rate);
	printf(", ");
	JU("eta_ms", r->destage_eta_ms);
	printf(", ");
	JU("total_bytes", r->destaged_bytes);
	printf(", ");
	JU("throttle_events", r->throttle_events);
	printf("},\n     \"io\": {");
	JU("reads", r->reads);
	printf(", ");
	JU("writes", r->writes);
	printf(", ");
	JU("flushes", r->flushes);
	printf(", ");
	JU("discards", r->discards);
	printf(", ");
	JU("bytes_read", r->bytes_read);
	printf(", ");
	JU("bytes_written", r->bytes_written);
	printf("},\n     \"ram_pages\": {");
	JU("total", r->ram_pages_total);
	printf(", ");
	JU("used", r->ram_pages_used);
	printf("},\n     \"extents\": {");
	JU("count", r->extents);
	printf(", ");
	JU("mem_bytes", r->extent_mem_bytes);
	printf("},\n     ");
	JU("nbd_clients", r->nbd_clients);
	printf(", \"peers\": {");
	JU("connected", r->peers_connected);
	printf(", ");
	JU("total", r->peers_total);
	printf("}}");
}

/* ---- subcommands --------------------------------------------------------- */

static volatile sig_atomic_t stop_watch;

static void on_sigint(int sig)
{
	stop_watch = 1;
}

static int cmd_status(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
					   {"watch", no_argument, NULL, 'w'},
					   {"count", required_argument, NULL, 'n'},
					   {"interval", required_argument, NULL, 'i'},
					   {NULL, 0, NULL, 0}};
	bool json = false, watch = false;
	long count = -1, interval = 1;
	const char *res = NULL;
	int o, ex = EX_OK;

	optind = 1;
	while ((o = getopt_long(argc, argv, "+jwn:i:", lo, NULL)) != -1) {
		switch (o) {
		case 'j':
			json = true;
			break;
		case 'w':
			watch = true;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'i':
			interval = strtol(optarg, NULL, 10);
			break;
		default:
			return EX_USAGE;
		}
	}
	if (optind < argc)
		res = argv[optind++];
	if (optind < argc || count == 0 || interval < 1 || interval > 3600) {
		fprintf(stderr, "%s status: bad arguments (see %s status --help)\n", prog, prog);
		return EX_USAGE;
	}
	if (!watch)
		count = 1;
	signal(SIGINT, on_sigint);
	for (long it = 0; !stop_watch && (count < 0 || it < count); it++) {
		Wbrep__CtlResponse *r;
		Wbrep__StatusReply *st;

		if (it)
			sleep((unsigned)interval);
		if (stop_watch)
			break;
		ex = ctl_call(g, WBREP__CTL_OP__CTL_STATUS, res, NULL, &r);
		if (ex)
			return ex;
		if (r->code) {
			fprintf(stderr, "%s: %s%s%s\n", prog, res ? res : "", res ? ": " : "",
				r->message ? r->message : strerror(r->code));
			wbrep__ctl_response__free_unpacked(r, NULL);
			return EX_FAIL;
		}
		st = r->status;
		if (watch && !json && isatty(STDOUT_FILENO))
			printf("\033[H\033[2J");
		if (json) {
			printf("{\"version\": 1, \"resources\": [\n");
			for (size_t i = 0; st && i < st->n_resources; i++) {
				print_json_res(st->resources[i]);
				printf("%s\n", i + 1 < st->n_resources ? "," : "");
			}
			printf("]}\n");
		} else if (!st || !st->n_resources) {
			printf("no resources\n");
		} else {
			for (size_t i = 0; i < st->n_resources; i++) {
				if (i)
					printf("\n");
				print_human(st->resources[i]);
			}
		}
		fflush(stdout);
		wbrep__ctl_response__free_unpacked(r, NULL);
	}
	return ex;
}

static int need_res(int argc, char **argv, int nargs, const char *cmd)
{
	if (argc != 1 + nargs) {
		fprintf(stderr, "%s %s: expected %d argument%s (see %s %s --help)\n", prog, cmd,
			nargs, nargs == 1 ? "" : "s", prog, cmd);
		return EX_USAGE;
	}
	return EX_OK;
}

static int cmd_up(struct gopts *g, int argc, char **argv)
{
	return need_res(argc, argv, 1, "up")
		   ?: ctl_simple(g, WBREP__CTL_OP__CTL_UP, argv[1], NULL, NULL);
}

static int cmd_down(struct gopts *g, int argc, char **argv)
{
	return need_res(argc, argv, 1, "down")
		   ?: ctl_simple(g, WBREP__CTL_OP__CTL_DOWN, argv[1], NULL, NULL);
}

static int cmd_flush(struct gopts *g, int argc, char **argv)
{
	return need_res(argc, argv, 1, "flush")
		   ?: ctl_simple(g, WBREP__CTL_OP__CTL_FLUSH, argv[1], NULL, NULL);
}

static int cmd_mode(struct gopts *g, int argc, char **argv)
{
	int ex = need_res(argc, argv, 2, "mode");

	if (ex)
		return ex;
	if (strcmp(argv[2], "writeback") && strcmp(argv[2], "writethrough")) {
		fprintf(stderr, "%s mode: mode must be writeback or writethrough\n", prog);
		return EX_USAGE;
	}
	return ctl_simple(g, WBREP__CTL_OP__CTL_MODE, argv[1], argv[2], NULL);
}

static int cmd_reload(struct gopts *g, int argc, char **argv)
{
	return need_res(argc, argv, 0, "reload")
		   ?: ctl_simple(g, WBREP__CTL_OP__CTL_RELOAD, NULL, NULL, NULL);
}

static int cmd_config(struct gopts *g, int argc, char **argv)
{
	struct wbconf_errors errs = {0};
	struct wbconf *c = NULL;
	const char *file;
	int rc;

	if (argc < 2 || strcmp(argv[1], "check") || argc > 3) {
		fprintf(stderr, "%s config: usage: %s config check [FILE]\n", prog, prog);
		return EX_USAGE;
	}
	file = argc == 3 ? argv[2] : g->config ? g->config : WBCONF_DEFAULT_PATH;
	rc = wbconf_load(file, NULL, &c, &errs);
	if (rc) {
		wbconf_errors_print(&errs, stdout);
		printf("%s: %zu error%s\n", file, errs.n + errs.dropped,
		       errs.n + errs.dropped == 1 ? "" : "s");
		wbconf_errors_free(&errs);
		return EX_CONFIG;
	}
	printf("%s: OK (%zu resource%s, %zu node%s)\n", file, c->nres, c->nres == 1 ? "" : "s",
	       c->nnodes, c->nnodes == 1 ? "" : "s");
	wbconf_free(c);
	return EX_OK;
}

static int cmd_help(struct gopts *g, int argc, char **argv);

static const struct cmd cmds[] = {
    {"status", "[RES] [--json] [--watch [--interval SEC] [--count N]]",
     "Show resources: state, mode, log use, dirty bytes, generations, destage rate and ETA.\n"
     "  --json       machine-readable output (schema: docs/wbctl.md)\n"
     "  --watch      repeat every --interval seconds (default 1) until Ctrl-C or --count",
     cmd_status},
    {"up", "RES", "Open the resource's engine and start its frontends.", cmd_up},
    {"down", "RES", "Stop the frontends, flush, close the engine.", cmd_down},
    {"flush", "RES", "Make every completed write durable (waits for the flush).", cmd_flush},
    {"mode", "RES writeback|writethrough",
     "Force the cache mode (writethrough drains the log first).", cmd_mode},
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
