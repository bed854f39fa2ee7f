// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_role.c - `wbctl primary RES [--force]`, `wbctl secondary RES`,
 * `wbctl connect RES [--discard-my-data]` and `wbctl disconnect RES`
 * (docs/wbctl.md, docs/replication.md "Roles"). One request each; the
 * daemon decides and says why it refuses (exit 1, message on stderr).
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

/* RES and at most the one option `flag` (NULL: none). */
static int role_cmd(struct gopts *g, int argc, char **argv, Wbrep__CtlOp op, const char *flag,
		    const char *okmsg)
{
	struct option lo[] = {{flag ? flag : "", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
	Wbrep__CtlRequest rq = WBREP__CTL_REQUEST__INIT;
	Wbrep__CtlResponse *r;
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
	ex = wbctl_request(g, &rq, &r);
	if (ex)
		return ex;
	if (r->code) {
		wbctl_refused(res, r);
		ex = EX_FAIL;
	} else {
		printf("%s: %s\n", res, okmsg);
	}
	wbrep__ctl_response__free_unpacked(r, NULL);
	return ex;
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
