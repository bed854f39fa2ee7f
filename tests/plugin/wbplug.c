// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbplug.c - a tiny engine plugin for tests/unit/test_registry.c.
 *
 * Built by the test itself (cc -shared) in several variants selected by
 * macros: PLUG_NAME (engine name), PLUG_ABI (ABI version it claims),
 * PLUG_NO_SUBMIT (leave a mandatory op NULL), PLUG_NO_SYMBOL (do not export
 * wb_engine_plugin_ops). Built with an older PLUG_ABI, the table is filled
 * past its version with traps (what follows a short table in memory): the
 * host must never call them, they would return -EXDEV. The engine itself is
 * a 1 MiB RAM disk that completes requests synchronously inside run() — just
 * enough to prove that a loaded plugin is callable through the registry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wbengine.h"

#ifndef PLUG_NAME
#define PLUG_NAME "testplug"
#endif
#ifndef PLUG_ABI
#define PLUG_ABI WB_ENGINE_ABI_VERSION
#endif

struct plug {
	struct wb_engine e;
	struct wb_req *q[64];
	int nq;
	char data[1 << 20];
};

static int plug_open(const struct wb_engine_params *p, struct wb_engine **out)
{
	struct plug *pl = calloc(1, sizeof(*pl));

	(void)p;
	if (!pl)
		return -ENOMEM;
	*out = &pl->e;
	return 0;
}

static void plug_close(struct wb_engine *e)
{
	free(e);
}

static int plug_submit(struct wb_engine *e, struct wb_req *r)
{
	struct plug *pl = (struct plug *)e;

	if (pl->nq == 64 || (r->op != WB_REQ_FLUSH && r->off + r->len > sizeof(pl->data)))
		return -EINVAL;
	if (r->op == WB_REQ_WRITE)
		memcpy(pl->data + r->off, r->buf, r->len);
	else if (r->op == WB_REQ_READ)
		memcpy(r->buf, pl->data + r->off, r->len);
	pl->q[pl->nq++] = r;
	return 0;
}

static int plug_run(struct wb_engine *e, int wait)
{
	struct plug *pl = (struct plug *)e;
	int n = pl->nq;

	(void)wait;
	for (int i = 0; i < n; i++)
		pl->q[i]->done(pl->q[i], 0);
	pl->nq = 0;
	return n;
}

static int plug_stats(struct wb_engine *e, struct wb_engine_stats *st)
{
	(void)e;
	memset(st, 0, sizeof(*st));
	st->size = 1 << 20;
	return 0;
}

#if PLUG_ABI < WB_ENGINE_ABI_VERSION
static int plug_trap_params(struct wb_engine *e, const struct wb_engine_params *p)
{
	(void)e;
	(void)p;
	return -EXDEV;
}
static int plug_trap_role(struct wb_engine *e, enum wb_role role)
{
	(void)e;
	(void)role;
	return -EXDEV;
}
static int plug_trap_hooks(struct wb_engine *e, const struct wb_repl_hooks *h)
{
	(void)e;
	(void)h;
	return -EXDEV;
}
static int plug_trap_pos(struct wb_engine *e, unsigned peer, uint64_t seq)
{
	(void)e;
	(void)peer;
	(void)seq;
	return -EXDEV;
}
static int plug_trap_meta(struct wb_engine *e, struct wb_meta *m)
{
	(void)e;
	(void)m;
	return -EXDEV;
}
static int plug_trap_upgrade(const struct wb_engine_params *p)
{
	(void)p;
	return -EXDEV;
}
static int plug_trap_bm_info(struct wb_engine *e, unsigned peer, struct wb_bm_info *out)
{
	(void)e;
	(void)peer;
	(void)out;
	return -EXDEV;
}
#endif

#ifdef PLUG_NO_SYMBOL
#define PLUG_SYM wb_engine_other_ops
#else
#define PLUG_SYM wb_engine_plugin_ops
#endif

extern const struct wb_engine_ops PLUG_SYM;
const struct wb_engine_ops PLUG_SYM = {
    .abi_version = PLUG_ABI,
    .name = PLUG_NAME,
    .description = "test plugin",
    .open = plug_open,
    .close = plug_close,
#ifndef PLUG_NO_SUBMIT
    .submit = plug_submit,
#endif
    .run = plug_run,
    .stats = plug_stats,
#if PLUG_ABI < 2
    .set_params = plug_trap_params,
#endif
#if PLUG_ABI < 4
    .set_role = plug_trap_role,
    .set_repl_hooks = plug_trap_hooks,
    .set_peer_pos = plug_trap_pos,
#endif
#if PLUG_ABI < 6
    .meta = plug_trap_meta,
    .upgrade = plug_trap_upgrade,
#endif
#if PLUG_ABI < 7
    .bm_info = plug_trap_bm_info,
#endif
};
