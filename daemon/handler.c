// SPDX-License-Identifier: GPL-2.0-only
/*
 * handler.c - [global] event-handler (see handler.h).
 */
#include "daemon/handler.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/wbconf.h"
#include "daemon/wbd_log.h"

struct kid {
	pid_t pid; /* 0: free */
	uint64_t start_ms;
	char what[96]; /* "split-brain r0 (event 12)" */
	/* wbd_handler_run: told the status; NULL for an event's program */
	void (*done)(int status, void *arg);
	void *arg;
};

struct wbd_handler {
	struct event_base *base;
	struct event *sigchld, *tick;
	char *node;
	char *path;
	uint32_t kinds, timeout_ms;
	struct kid kids[WBD_HANDLER_MAX];
	struct wbd_log_rl rl_full;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned running(const struct wbd_handler *h)
{
	unsigned n = 0;

	for (unsigned i = 0; i < WBD_HANDLER_MAX; i++)
		n += h->kids[i].pid != 0;
	return n;
}

static void tick_arm(struct wbd_handler *h)
{
	struct timeval tv = {1, 0};

	evtimer_add(h->tick, &tv);
}

/* Each finished program: its status logged unless 0. Only our own PIDs
 * are waited for (nothing else of the daemon's is reaped here). */
static void reap(struct wbd_handler *h)
{
	for (unsigned i = 0; i < WBD_HANDLER_MAX; i++) {
		struct kid *k = &h->kids[i];
		int st;
		pid_t r;

		if (!k->pid)
			continue;
		r = waitpid(k->pid, &st, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			continue;
		if (k->done) {
			void (*done)(int, void *) = k->done;

			k->pid = 0;
			k->done = NULL;
			done(r < 0 ? -1 : st, k->arg);
			continue;
		}
		if (r < 0)
			wbd_warn("event handler for %s: waitpid: %s", k->what, strerror(errno));
		else if (WIFEXITED(st) && WEXITSTATUS(st))
			wbd_warn("event handler for %s exited with status %d", k->what,
				 WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			wbd_warn("event handler for %s was killed by signal %d", k->what,
				 WTERMSIG(st));
		else
			wbd_debug("event handler for %s done", k->what);
		k->pid = 0;
	}
	if (!running(h))
		evtimer_del(h->tick);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reap(arg);
}

/* Once a second while programs run: reap (a SIGCHLD may have come before
 * the PID was recorded) and kill those past the timeout. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_handler *h = arg;
	uint64_t now = now_ms();

	(void)fd;
	(void)what;
	reap(h);
	for (unsigned i = 0; i < WBD_HANDLER_MAX; i++) {
		struct kid *k = &h->kids[i];

		if (k->pid && now - k->start_ms >= h->timeout_ms) {
			wbd_warn("event handler for %s still runs after %u ms: killed", k->what,
				 h->timeout_ms);
			kill(-k->pid, SIGKILL);
			k->start_ms = now; /* again only after another timeout */
		}
	}
	if (running(h))
		tick_arm(h);
}

int wbd_handler_new(struct event_base *base, const char *node, struct wbd_handler **out)
{
	struct wbd_handler *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->base = base;
	h->node = strdup(node ? node : "");
	h->timeout_ms = 60000;
	h->tick = evtimer_new(base, on_tick, h);
	h->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, h);
	if (!h->node || !h->tick || !h->sigchld || evsignal_add(h->sigchld, NULL)) {
		wbd_handler_free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

int wbd_handler_set(struct wbd_handler *h, const char *path, uint32_t kinds, uint32_t timeout_ms)
{
	char *p = NULL;

	if (!h)
		return 0;
	if (path && !(p = strdup(path)))
		return -ENOMEM;
	if (path && access(path, X_OK))
		wbd_warn("event-handler %s: %s (events will not run it until it is there)", path,
			 strerror(errno));
	free(h->path);
	h->path = p;
	h->kinds = kinds;
	h->timeout_ms = timeout_ms ? timeout_ms : 60000;
	return 0;
}

/* posix_spawn of path as a handler: stdin /dev/null, nothing of the
 * daemon's open past stderr (devices held O_EXCL, sockets), default
 * signals, unblocked, a session of its own (the timeout kills its whole
 * process group). 0 or an errno. */
static int spawn(const char *path, char *const argv[], char *const envp[], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETSID);
	rc = posix_spawn(pid, path, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

static struct kid *kid_free_slot(struct wbd_handler *h)
{
	for (unsigned i = 0; i < WBD_HANDLER_MAX; i++)
		if (!h->kids[i].pid)
			return &h->kids[i];
	return NULL;
}

/* k runs pid now: its timeout starts */
static void kid_started(struct wbd_handler *h, struct kid *k, pid_t pid)
{
	k->pid = pid;
	k->start_ms = now_ms();
	if (!evtimer_pending(h->tick, NULL))
		tick_arm(h);
}

int wbd_handler_run(struct wbd_handler *h, const char *path, char *const argv[], char *const vars[],
		    const char *what, void (*done)(int status, void *arg), void *arg)
{
	char e_node[96], *envp[16];
	unsigned n = 0;
	struct kid *k = kid_free_slot(h);
	pid_t pid;
	int rc;

	if (!k)
		return -EAGAIN;
	envp[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	snprintf(e_node, sizeof(e_node), "WB_NODE=%s", h->node);
	envp[n++] = e_node;
	for (unsigned i = 0; vars && vars[i] && n < 15; i++)
		envp[n++] = vars[i];
	envp[n] = NULL;
	snprintf(k->what, sizeof(k->what), "%s", what);
	rc = spawn(path, argv, envp, &pid);
	if (rc) {
		wbd_warn("%s: cannot run %s: %s", what, path, strerror(rc));
		return -rc;
	}
	k->done = done;
	k->arg = arg;
	kid_started(h, k, pid);
	wbd_info("%s: %s started (pid %d)", what, path, (int)pid);
	return 0;
}

void wbd_handler_event(struct wbd_handler *h, const struct wbd_event *ev)
{
	char e_kind[64], e_res[96], e_msg[600], e_mode[64], e_reason[200], e_seq[48], e_time[48],
	    e_node[96];
	char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			e_kind,
			e_res,
			e_msg,
			e_mode,
			e_reason,
			e_seq,
			e_time,
			e_node,
			NULL};
	char *argv[4];
	struct kid *k;
	pid_t pid;
	int rc;

	if (!h || !h->path || !ev->kind || !(h->kinds & wbconf_event_kind(ev->kind)))
		return;
	k = kid_free_slot(h);
	if (!k) {
		wbd_warn_rl(&h->rl_full,
			    "event handler: %u still running, not run for %s %s (event %llu)",
			    WBD_HANDLER_MAX, ev->kind, ev->res[0] ? ev->res : "-",
			    (unsigned long long)ev->seq);
		return;
	}
	snprintf(e_kind, sizeof(e_kind), "WB_EVENT_KIND=%s", ev->kind);
	snprintf(e_res, sizeof(e_res), "WB_EVENT_RESOURCE=%s", ev->res);
	snprintf(e_msg, sizeof(e_msg), "WB_EVENT_MESSAGE=%s", ev->msg ? ev->msg : "");
	snprintf(e_mode, sizeof(e_mode), "WB_EVENT_MODE=%s", ev->mode ? ev->mode : "");
	snprintf(e_reason, sizeof(e_reason), "WB_EVENT_REASON=%s", ev->reason ? ev->reason : "");
	snprintf(e_seq, sizeof(e_seq), "WB_EVENT_SEQ=%llu", (unsigned long long)ev->seq);
	snprintf(e_time, sizeof(e_time), "WB_EVENT_TIME_MS=%llu", (unsigned long long)ev->time_ms);
	snprintf(e_node, sizeof(e_node), "WB_NODE=%s", h->node);
	argv[0] = h->path;
	argv[1] = (char *)ev->kind;
	argv[2] = (char *)(ev->res[0] ? ev->res : "-");
	argv[3] = NULL;
	rc = spawn(h->path, argv, envp, &pid);
	if (rc) {
		wbd_warn("event handler %s for %s %s (event %llu): cannot run it: %s", h->path,
			 ev->kind, argv[2], (unsigned long long)ev->seq, strerror(rc));
		return;
	}
	snprintf(k->what, sizeof(k->what), "%s %s (event %llu)", ev->kind, argv[2],
		 (unsigned long long)ev->seq);
	k->done = NULL;
	kid_started(h, k, pid);
	wbd_debug("event handler %s started for %s: pid %d", h->path, k->what, (int)pid);
}

void wbd_handler_forget(struct wbd_handler *h, void *arg)
{
	for (unsigned i = 0; h && i < WBD_HANDLER_MAX; i++)
		if (h->kids[i].pid && h->kids[i].done && h->kids[i].arg == arg)
			h->kids[i].done = NULL;
}

void wbd_handler_free(struct wbd_handler *h)
{
	if (!h)
		return;
	if (h->sigchld)
		event_free(h->sigchld);
	if (h->tick)
		event_free(h->tick);
	free(h->path);
	free(h->node);
	free(h);
}
