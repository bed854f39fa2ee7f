// SPDX-License-Identifier: GPL-2.0-only
/*
 * main.c - wbrepd: command line, configuration, pid-file lock, daemonizing,
 * signals (SIGTERM/SIGINT clean shutdown, SIGHUP reload) and the libevent
 * main loop that serves every configured resource (daemon/resource.h) and
 * the control socket (daemon/ctl.h, handlers in daemon/wbd_ctl.c).
 * Behaviour is described in docs/daemon.md.
 *
 * Owns: the struct wbd (configuration, resources, event base, pid file).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/wbconf.h"
#include "daemon/resource.h"
#include "daemon/wbd.h"
#include "daemon/wbd_log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wbrepd [-c FILE] [-f] [-v]...   run the daemon\n"
		"       wbrepd [-c FILE] --create-md RES [--force [--discard-dirty]]\n"
		"                                       format the log of RES\n"
		"       wbrepd [-c FILE] --create-md RES --upgrade\n"
		"                                       upgrade RES's log to the current format\n"
		"       wbrepd [-c FILE] --check        check the configuration and exit\n"
		"       wbrepd --list-engines           list the available engines\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"  -f, --foreground   do not daemonize; log to stderr\n"
		"  -v, --verbose      more logging (repeat for debug)\n"
		"  -n, --node NAME    this node's name (default: [global] node-name, hostname)\n",
		WBCONF_DEFAULT_PATH);
}

static int list_engines(void)
{
	const char *names[32];
	int n = wb_engine_list(names, 32);

	for (int i = 0; i < n && i < 32; i++) {
		const struct wb_engine_ops *o = wb_engine_find(names[i]);

		printf("%-12s %s\n", names[i], o && o->description ? o->description : "");
	}
	return 0;
}

static int load_conf(const char *path, const char *node, struct wbconf **out)
{
	struct wbconf_errors errs = {0};
	int ret = wbconf_load(path, node, out, &errs);

	if (ret) {
		wbconf_errors_print(&errs, stderr);
		fprintf(stderr, "wbrepd: configuration %s is not valid\n", path);
	}
	wbconf_errors_free(&errs);
	return ret;
}

static int mkdir_parent(const char *path)
{
	char d[4096];
	char *s;

	snprintf(d, sizeof(d), "%s", path);
	s = strrchr(d, '/');
	if (!s || s == d)
		return 0;
	*s = 0;
	if (mkdir(d, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Lock the pid file (flock) so two daemons cannot drive the same resources. */
/*
 * The pid file is the lock. An exiting daemon unlinks it while it still
 * holds the lock (main), then closes it: unlinking after the release would
 * let a new daemon lock the file in between and then lose it to the unlink,
 * so a third could lock a fresh file and run beside it. The other side of
 * that order is here: a lock won on a file that is no longer the one at
 * `path` (the previous holder unlinked it between our open and our flock)
 * is worthless, so we let go and try the new file.
 */
static int pidfile_lock(const char *path)
{
	char buf[32] = "";
	int fd, tries = 0;

	mkdir_parent(path);
again:
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "wbrepd: cannot open pid file %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno;
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		if (err == EWOULDBLOCK)
			fprintf(stderr,
				"wbrepd: another wbrepd (pid %s) holds %s; refusing to drive the "
				"same resources twice\n",
				buf[0] ? buf : "?", path);
		else
			fprintf(stderr, "wbrepd: cannot lock %s: %s\n", path, strerror(err));
		close(fd);
		return -EBUSY;
	}
	{
		struct stat a, b;

		if (fstat(fd, &a) == 0 &&
		    (stat(path, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
			close(fd); /* the file we locked was unlinked: a stale lock */
			if (++tries < 10)
				goto again;
			fprintf(stderr, "wbrepd: pid file %s keeps being replaced\n", path);
			return -EBUSY;
		}
	}
	return fd;
}

static void pidfile_write(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", getpid());

	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n)
		wbd_warn("cannot write the pid file: %s", strerror(errno));
}

/* Fork into the background; the parent exits when the child reports that
 * startup finished (status byte on a pipe). Returns the pipe's write end in
 * the child. */
static int daemonize(void)
{
	int p[2];
	pid_t pid;
	char st = 1;

	if (pipe(p)) {
		perror("wbrepd: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("wbrepd: fork");
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(p[0]);
	setsid();
	if (chdir("/"))
		return -1;
	return p[1];
}

static void ready(int fd, int ok)
{
	char st = ok ? 0 : 1;
	int nul;

	if (fd < 0)
		return;
	if (write(fd, &st, 1) != 1)
		wbd_warn("cannot report readiness to the parent");
	close(fd);
	nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
}

struct main_args {
	const char *path, *node, *create_md;
	bool fg, force, check, discard_dirty, upgrade;
	int verbose;
};

/* The command line: -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct main_args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},      {"node", required_argument, NULL, 'n'},
	    {"list-engines", no_argument, NULL, 'L'}, {"create-md", required_argument, NULL, 'M'},
	    {"force", no_argument, NULL, 'F'},	      {"check", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},	      {"discard-dirty", no_argument, NULL, 'D'},
	    {"upgrade", no_argument, NULL, 'U'},      {0},
	};
	int c;

	a->path = WBCONF_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:fvn:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->path = optarg;
			break;
		case 'f':
			a->fg = true;
			break;
		case 'v':
			a->verbose++;
			break;
		case 'n':
			a->node = optarg;
			break;
		case 'L':
			return list_engines();
		case 'M':
			a->create_md = optarg;
			break;
		case 'F':
			a->force = true;
			break;
		case 'C':
			a->check = true;
			break;
		case 'D':
			a->discard_dirty = true;
			break;
		case 'U':
			a->upgrade = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (a->upgrade && !a->create_md)) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* The daemon changes to / when it daemonizes: a relative -c must still
 * name the same file at SIGHUP (messages keep the name given). NULL when
 * it cannot be made absolute (said on stderr). */
static const char *abs_conf_path(const char *path)
{
	static char cwd[4096], abspath[4096 + 256];

	if (path[0] == '/')
		return path;
	if (!getcwd(cwd, sizeof(cwd)) ||
	    snprintf(abspath, sizeof(abspath), "%s/%s", cwd, path) >= (int)sizeof(abspath)) {
		fprintf(stderr, "wbrepd: cannot make %s an absolute path\n", path);
		return NULL;
	}
	return abspath;
}

/* --create-md RES [--upgrade | --force [--discard-dirty]]: the exit code. */
static int run_create_md(struct wbconf *conf, const struct main_args *a)
{
	const struct wbconf_resource *r = wbconf_resource_find(conf, a->create_md);
	const struct wbconf_node *me;
	int pidfd, ret;

	if (!r) {
		fprintf(stderr, "wbrepd: no resource %s in %s\n", a->create_md, a->path);
		return 1;
	}
	pidfd = pidfile_lock(conf->global.pid_file);
	if (pidfd < 0)
		return 1;
	if ((a->discard_dirty && !a->force) || (a->upgrade && a->force)) {
		fprintf(stderr, "wbrepd: %s\n",
			a->upgrade ? "--upgrade does not go with --force"
				   : "--discard-dirty only goes with --force");
		return 2;
	}
	me = wbconf_node_find(conf, conf->global.node_name);
	ret = a->upgrade
		  ? wbd_resource_upgrade_md(r, me ? me->node_id : 0)
		  : wbd_resource_create_md(r, a->force, a->discard_dirty, me ? me->node_id : 0);
	close(pidfd);
	return ret ? 1 : 0;
}

/* The daemon itself: pid file, daemonize, run until a signal ends it. */
static int run_daemon(struct wbd *d, const struct main_args *a)
{
	int level = d->conf->global.log_level, readyfd = -1, pidfd, ret;

	if (a->verbose)
		level = a->verbose > 1 ? WB_LOG_DEBUG
				       : (level < WB_LOG_INFO ? WB_LOG_INFO : WB_LOG_DEBUG);
	pidfd = pidfile_lock(d->conf->global.pid_file);
	if (pidfd < 0)
		return 1;
	if (!a->fg) {
		readyfd = daemonize();
		if (readyfd < 0)
			return 1;
	}
	wbd_log_setup(a->fg ? d->conf->global.log_target : WBD_LOG_SYSLOG, level);
	pidfile_write(pidfd);
	signal(SIGPIPE, SIG_IGN);
	/* a write past RLIMIT_FSIZE fails with EFBIG (an I/O error the engine
	 * reports), it does not kill the daemon */
	signal(SIGXFSZ, SIG_IGN);
	ret = wbd_start(d);
	ready(readyfd, ret == 0);
	if (!ret)
		ret = wbd_run(d);
	wbd_stop(d);
	unlink(d->conf->global.pid_file); /* while locked: see pidfile_lock */
	close(pidfd);
	wbd_info("exiting (%s)", ret ? "error" : "clean");
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct main_args a = {0};
	struct wbd d = {0};
	int ret = parse_args(argc, argv, &a);

	if (ret >= 0)
		return ret;
	d.conf_path = abs_conf_path(a.path);
	if (!d.conf_path)
		return 1;
	wbd_log_setup(WBD_LOG_STDERR, a.verbose ? WB_LOG_DEBUG : WB_LOG_INFO);
	if (load_conf(a.path, a.node, &d.conf))
		return 1;
	if (a.check) {
		printf("%s: OK (%zu resources)\n", a.path, d.conf->nres);
		ret = 0;
	} else if (a.create_md) {
		ret = run_create_md(d.conf, &a);
	} else {
		d.node = a.node;
		d.verbose = a.verbose;
		ret = run_daemon(&d, &a);
	}
	wbconf_free(d.conf);
	return ret;
}
