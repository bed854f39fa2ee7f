/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbctl.h - internals of wbctl shared by its files: wbctl.c (command table,
 * connection, simple commands, config check), wbctl_status.c (status and
 * show: human, verbose and JSON renderings) and wbctl_drain.c (drain and
 * mode, with their progress display). Not a library: only cli/ includes it.
 */
#ifndef WB_CLI_WBCTL_H
#define WB_CLI_WBCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/wbconf.h"
#include "proto/wbproto.h"

/* Exit codes (docs/wbctl.md). */
enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_CONNECT = 3, EX_CONFIG = 4, EX_INTR = 130 };

struct gopts {
	const char *socket; /* -s */
	const char *config; /* -c */
	int fd;
};

extern const char *const wbctl_prog;

/*
 * Options of a subcommand, wherever they stand on the line (before, between
 * or after its arguments; "--" ends them): every option is passed to
 * opt(o, optarg, st), which returns an exit code (EX_OK to go on); the
 * other words are stored in pos[] (at most maxpos, *npos of them). Returns
 * EX_OK or EX_USAGE (message printed).
 */
int wbctl_args(int argc, char **argv, const char *so, const struct option *lo,
	       int (*opt)(int o, const char *arg, void *st), void *st, const char **pos, int maxpos,
	       int *npos);
/* A whole number in [min, max] from an option value, else EX_USAGE. */
int wbctl_num(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
/* config check (wbctl_tls.c): the TLS files of c's node, as its peers will
 * check them; the problems printed ("FILE: [global] KEY: ..."), their
 * number returned; a certificate expiring within WBCONF_TLS_WARN_DAYS is
 * printed as a warning, not counted. 0 when TLS is not used. */
unsigned wbctl_check_tls(const struct wbconf *c, const char *file);

/* Send one request and wait for its response (*out: free with
 * wbrep__ctl_response__free_unpacked). Returns an exit code. */
int wbctl_call(struct gopts *g, Wbrep__CtlOp op, const char *res, const char *mode,
	       Wbrep__CtlResponse **out);
/* Same with every field of the request the caller set (version and id are
 * filled in here). */
int wbctl_request(struct gopts *g, Wbrep__CtlRequest *rq, Wbrep__CtlResponse **out);
/* Only send it (connecting first if needed): EX_OK or an exit code; the
 * caller reads what comes back (wbctl events). */
int wbctl_send(struct gopts *g, Wbrep__CtlRequest *rq);
/* Print a refused request's message as "wbctl: RES: message". */
void wbctl_refused(const char *res, const Wbrep__CtlResponse *r);
/* For actions: call, print the refusal if any (okmsg on success, if set),
 * map to an exit code. */
int wbctl_simple(struct gopts *g, Wbrep__CtlOp op, const char *res, const char *mode,
		 const char *okmsg);
/* Status of one resource: EX_OK and *out (free it; *rs points into it). */
int wbctl_status_of(struct gopts *g, const char *res, Wbrep__CtlResponse **out,
		    const Wbrep__ResourceStatus **rs);

/* s as a JSON string literal (NULL = ""). */
void wbctl_json_str(const char *s);
/* " (N of them unreadable there)" for a verify's unreadable bytes, "" for
 * none (a static buffer: use it before the next call) */
const char *wbctl_unreadable(uint64_t bytes);
void wbctl_ms(uint64_t ms, char *buf, size_t len);
void wbctl_bar(uint64_t done, uint64_t total, char *buf, size_t width);
/* Ctrl-C while following something (status --watch, drain, verify) ends
 * the loop, not the program: catch it from wbctl_sigint_catch() until
 * wbctl_sigint_release() (back to the default); wbctl_sigint_caught()
 * says whether it came. */
void wbctl_sigint_catch(void);
bool wbctl_sigint_caught(void);
void wbctl_sigint_release(void);
/* After Ctrl-C while following WHAT ("drain", "verify") of RES: end the
 * progress line on a tty, say that it goes on in the daemon. EX_INTR. */
int wbctl_follow_interrupted(const char *res, const char *what, bool tty);

int wbctl_cmd_status(struct gopts *g, int argc, char **argv);
int wbctl_cmd_show(struct gopts *g, int argc, char **argv);
int wbctl_cmd_drain(struct gopts *g, int argc, char **argv);
int wbctl_cmd_mode(struct gopts *g, int argc, char **argv);
int wbctl_cmd_primary(struct gopts *g, int argc, char **argv);
int wbctl_cmd_secondary(struct gopts *g, int argc, char **argv);
int wbctl_cmd_connect(struct gopts *g, int argc, char **argv);
int wbctl_cmd_disconnect(struct gopts *g, int argc, char **argv);
int wbctl_cmd_forget_peer(struct gopts *g, int argc, char **argv);
int wbctl_cmd_pause_sync(struct gopts *g, int argc, char **argv);
int wbctl_cmd_resume_sync(struct gopts *g, int argc, char **argv);
int wbctl_cmd_resize(struct gopts *g, int argc, char **argv);
int wbctl_cmd_events(struct gopts *g, int argc, char **argv);
int wbctl_cmd_verify(struct gopts *g, int argc, char **argv);
int wbctl_cmd_snapshot(struct gopts *g, int argc, char **argv);
int wbctl_cmd_snapshot_drop(struct gopts *g, int argc, char **argv);
int wbctl_cmd_snapshots(struct gopts *g, int argc, char **argv);
/* wbctl snapshot --at TIME: ms since the epoch, 0 = not a time
 * (wbctl_snap.c says which forms) */
uint64_t wbctl_parse_time_ms(const char *s, uint64_t now_ms);

#endif /* WB_CLI_WBCTL_H */
