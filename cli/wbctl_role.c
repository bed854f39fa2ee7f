// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_role.c - `wbctl primary RES [--force]`, `wbctl secondary RES`,
 * `wbctl connect RES [--discard-my-data]`, `wbctl disconnect RES`,
 * `wbctl forget-peer RES NODE`, `wbctl pause-sync RES`, `wbctl resume-sync RES` and
 * `wbctl resize RES [--size SIZE] [--assume-clean] [--assume-peer-has-space] [--log]`
 * (docs/wbctl.md, docs/replication.md "Roles", "Growing a replicated
 * device"). One request each; the daemon decides and says why it refuses
 * (exit 1, message on stderr).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/wbctl.h"

struct role_opts {
	bool flag; /* --force / --discard-my-data */
};

static int role_opt(int o, const char *arg, void *st)
{
	struct role_opts *ro = st;

	if (o != 'f')
		return EX_USAGE;
	ro->flag = true;
	return EX_OK;
}

/* Send rq for RES: a refusal on stderr (EX_FAIL), else "RES: okmsg", or
 * with okmsg NULL "RES: " and what the daemon says it did. */
static int answer(struct gopts *g, Wbrep__CtlRequest *rq, const char *res, const char *okmsg)
{
	Wbrep__CtlResponse *r;
	int ex = wbctl_request(g, rq, &r);

	if (ex)
		return ex;
	if (r->code) {
		wbctl_refused(res, r);
		ex = EX_FAIL;
	} else {
		printf("%s: %s\n", res,
		       okmsg			   ? okmsg
		       : r->message && *r->message ? r->message
						   : "done");
	}
	wbrep__ctl_response__free_unpacked(r, NULL);
	return ex;
}

/* RES and at most the one option `flag` (NULL: none). */
static int role_cmd(struct gopts *g, int argc, char **argv, Wbrep__CtlOp op, const char *flag,
		    const char *okmsg)
{
	struct option lo[] = {{flag ? flag : "", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	struct role_opts ro = {0};
	const char *res;
	int n, ex;

	ex = wbctl_args(argc, argv, "", flag ? lo : lo + 1, role_opt, &ro, &res, 1, &n);
	if (ex)
		return ex;
	if (n != 1) {
		fprintf(stderr, "%s %s: expected a resource name (see %s %s --help)\n", wbctl_prog,
			argv[0], wbctl_prog, argv[0]);
		return EX_USAGE;
	}
	rq.op = op;
	rq.resource = (char *)res;
	if (op == WBREP__CTL_OP__CTL_PRIMARY && ro.flag)
		rq.has_force = rq.force = 1;
	if (op == WBREP__CTL_OP__CTL_CONNECT && ro.flag)
		rq.has_discard_my_data = rq.discard_my_data = 1;
	return answer(g, &rq, res, okmsg);
}

int wbctl_cmd_primary(struct gopts *g, int argc, char **argv)
{
	return role_cmd(g, argc, argv, WBREP__CTL_OP__CTL_PRIMARY, "force", "primary");
}

int wbctl_cmd_secondary(struct gopts *g, int argc, char **argv)
{
	return role_cmd(g, argc, argv, WBREP__CTL_OP__CTL_SECONDARY, NULL, "secondary");
}

int wbctl_cmd_connect(struct gopts *g, int argc, char **argv)
{
	return role_cmd(g, argc, argv, WBREP__CTL_OP__CTL_CONNECT, "discard-my-data", "connecting");
}

int wbctl_cmd_disconnect(struct gopts *g, int argc, char **argv)
{
	return role_cmd(g, argc, argv, WBREP__CTL_OP__CTL_DISCONNECT, NULL, "disconnected");
}

int wbctl_cmd_pause_sync(struct gopts *g, int argc, char **argv)
{
	return role_cmd(g, argc, argv, WBREP__CTL_OP__CTL_PAUSE_SYNC, NULL, NULL);
}

int wbctl_cmd_resume_sync(struct gopts *g, int argc, char **argv)
{
	return role_cmd(g, argc, argv, WBREP__CTL_OP__CTL_RESUME_SYNC, NULL, NULL);
}

int wbctl_cmd_forget_peer(struct gopts *g, int argc, char **argv)
{
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	const char *pos[2];
	int n, ex;

	ex = wbctl_args(argc, argv, "", NULL, NULL, NULL, pos, 2, &n);
	if (ex)
		return ex;
	if (n != 2) {
		fprintf(stderr, "%s forget-peer: expected RES NODE (see %s forget-peer --help)\n",
			wbctl_prog, wbctl_prog);
		return EX_USAGE;
	}
	rq.op = WBREP__CTL_OP__CTL_FORGET_PEER;
	rq.resource = (char *)pos[0];
	rq.node = (char *)pos[1];
	return answer(g, &rq, pos[0], NULL);
}

struct resize_opts {
	uint64_t size;
	bool clean, space, log;
};

static int resize_opt(int o, const char *arg, void *st)
{
	struct resize_opts *ro = st;

	switch (o) {
	case 's':
		if (wbconf_parse_size(arg, &ro->size) || !ro->size) {
			fprintf(
			    stderr,
			    "%s resize: --size: '%s' is not a size (bytes, or with K, M, G, T)\n",
			    wbctl_prog, arg);
			return EX_USAGE;
		}
		return EX_OK;
	case 'c':
		ro->clean = true;
		return EX_OK;
	case 'p':
		ro->space = true;
		return EX_OK;
	case 'l':
		ro->log = true;
		return EX_OK;
	}
	return EX_USAGE;
}

int wbctl_cmd_resize(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"size", required_argument, NULL, 's'},
					   {"assume-clean", no_argument, NULL, 'c'},
					   {"assume-peer-has-space", no_argument, NULL, 'p'},
					   {"log", no_argument, NULL, 'l'},
					   {NULL, 0, NULL, 0}};
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	struct resize_opts ro = {0};
	const char *res;
	int n, ex;

	ex = wbctl_args(argc, argv, "", lo, resize_opt, &ro, &res, 1, &n);
	if (ex)
		return ex;
	if (n != 1) {
		fprintf(stderr, "%s resize: expected a resource name (see %s resize --help)\n",
			wbctl_prog, wbctl_prog);
		return EX_USAGE;
	}
	if (ro.log && (ro.clean || ro.space)) {
		fprintf(stderr,
			"%s resize: --log grows this node's log only: --assume-clean and "
			"--assume-peer-has-space are for the device\n",
			wbctl_prog);
		return EX_USAGE;
	}
	rq.op = WBREP__CTL_OP__CTL_RESIZE;
	rq.resource = (char *)res;
	rq.has_log = rq.log = ro.log;
	rq.has_size = 1;
	rq.size = ro.size;
	rq.has_assume_clean = rq.assume_clean = ro.clean;
	rq.has_assume_peer_space = rq.assume_peer_space = ro.space;
	return answer(g, &rq, res, NULL);
}
