// SPDX-License-Identifier: GPL-2.0-only
/*
 * registry.c - the engine registry, plugin loading and the generic entry
 * points (wb_engine_format/open) plus the synchronous request wrappers.
 *
 * Built-in engines ("wblog", "passthrough", "ram") are registered on first
 * use of any registry function. Plugins are shared objects exporting
 * `const struct wb_engine_ops wb_engine_plugin_ops`. A plugin built against
 * any ABI version from WB_ENGINE_ABI_MIN to WB_ENGINE_ABI_VERSION is taken
 * (tables only grow at the end; the wrappers in wbengine.h call only the ops
 * its version has, SQLite's VFS rule); a newer or older one, one that lacks
 * a mandatory op, or whose name is already taken is refused with a message
 * for the user.
 *
 * Owns: the table of registered ops (pointers to const tables owned by their
 * engine) and the dlopen handles of loaded plugins, which stay loaded for the
 * life of the process (their ops may be in use anywhere). Not thread safe:
 * register and load before starting threads.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/wbengine.h"

#define REG_MAX 32

extern const struct wb_engine_ops wb_passthrough_ops;
extern const struct wb_engine_ops wb_ram_ops;
extern const struct wb_engine_ops wb_wblog_ops;

static const struct wb_engine_ops *reg_ops[REG_MAX];
static int reg_n;
static int reg_ready;

/* 0 if ops can be registered, else -errno and *why for the user. */
static int reg_check(const struct wb_engine_ops *ops, const char **why)
{
	*why = NULL;
	if (!ops->name || !ops->name[0])
		*why = "has no name";
	else if (!ops->open || !ops->close || !ops->submit || !ops->run || !ops->stats)
		*why = "lacks a mandatory operation (open, close, submit, run, stats)";
	else if (strlen(ops->name) >= 64)
		*why = "has a name longer than 63 characters";
	if (*why)
		return -EINVAL;
	for (int i = 0; i < reg_n; i++) {
		if (!strcmp(reg_ops[i]->name, ops->name)) {
			*why = "has a name that is already registered";
			return -EEXIST;
		}
	}
	if (reg_n == REG_MAX) {
		*why = "does not fit: the registry is full";
		return -ENOSPC;
	}
	return 0;
}

static int reg_add(const struct wb_engine_ops *ops, char *err, size_t errlen, const char *what)
{
	const char *why;
	int ret;

	if (ops->abi_version < WB_ENGINE_ABI_MIN || ops->abi_version > WB_ENGINE_ABI_VERSION) {
		snprintf(err, errlen, "%s has engine ABI version %u, this wbrep takes %u..%u", what,
			 ops->abi_version, WB_ENGINE_ABI_MIN, WB_ENGINE_ABI_VERSION);
		return -EPROTO;
	}
	ret = reg_check(ops, &why);
	if (ret) {
		snprintf(err, errlen, "%s (engine \"%s\") %s", what, ops->name ? ops->name : "",
			 why);
		return ret;
	}
	reg_ops[reg_n++] = ops;
	return 0;
}

static void reg_init(void)
{
	char err[256];

	if (reg_ready)
		return;
	reg_ready = 1;
	if (reg_add(&wb_wblog_ops, err, sizeof(err), "built-in engine") < 0)
		wb_msg(WB_LOG_ERR, "%s", err);
	if (reg_add(&wb_passthrough_ops, err, sizeof(err), "built-in engine") < 0)
		wb_msg(WB_LOG_ERR, "%s", err);
	if (reg_add(&wb_ram_ops, err, sizeof(err), "built-in engine") < 0)
		wb_msg(WB_LOG_ERR, "%s", err);
}

int wb_engine_register(const struct wb_engine_ops *ops)
{
	char err[256];
	int ret;

	reg_init();
	if (!ops)
		return -EINVAL;
	ret = reg_add(ops, err, sizeof(err), "engine");
	if (ret < 0)
		wb_msg(WB_LOG_ERR, "cannot register: %s", err);
	return ret;
}

const struct wb_engine_ops *wb_engine_find(const char *name)
{
	reg_init();
	for (int i = 0; name && i < reg_n; i++)
		if (!strcmp(reg_ops[i]->name, name))
			return reg_ops[i];
	return NULL;
}

int wb_engine_list(const char **names, int max)
{
	reg_init();
	for (int i = 0; i < reg_n && i < max; i++)
		names[i] = reg_ops[i]->name;
	return reg_n;
}

int wb_engine_load_plugin(const char *path, char *err, size_t errlen)
{
	const struct wb_engine_ops *ops;
	char what[300], dummy[8];
	void *h;
	int ret;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = 0;
	reg_init();
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load plugin %s: %s", path, dlerror());
		ret = -ENOENT;
		goto out_err;
	}
	ops = dlsym(h, "wb_engine_plugin_ops");
	if (!ops) {
		snprintf(err, errlen, "plugin %s does not export wb_engine_plugin_ops", path);
		ret = -ENOENT;
		goto out_close;
	}
	snprintf(what, sizeof(what), "plugin %s", path);
	ret = reg_add(ops, err, errlen, what);
	if (ret < 0)
		goto out_close;
	wb_msg(WB_LOG_INFO, "loaded engine \"%s\" from plugin %s", ops->name, path);
	return 0; /* h stays open for the life of the process */
out_close:
	dlclose(h);
out_err:
	wb_msg(WB_LOG_ERR, "%s", err);
	return ret;
}

static const struct wb_engine_ops *reg_lookup(const char *engine)
{
	const struct wb_engine_ops *ops = wb_engine_find(engine);
	char known[256] = "";

	if (ops)
		return ops;
	for (int i = 0; i < reg_n; i++) {
		size_t l = strlen(known);

		snprintf(known + l, sizeof(known) - l, "%s%s", i ? ", " : "", reg_ops[i]->name);
	}
	wb_msg(WB_LOG_ERR, "unknown engine \"%s\" (known: %s)", engine ? engine : "(null)", known);
	return NULL;
}

int wb_engine_format(const char *engine, const struct wb_engine_params *p)
{
	const struct wb_engine_ops *ops = reg_lookup(engine);

	if (!ops)
		return -ENOENT;
	return ops->format ? ops->format(p) : 0;
}

int wb_engine_upgrade(const char *engine, const struct wb_engine_params *p)
{
	const struct wb_engine_ops *ops = reg_lookup(engine);

	if (!ops)
		return -ENOENT;
	return WB_OPS_HAS(ops, 6, upgrade) ? ops->upgrade(p) : 1;
}

int wb_engine_open(const char *engine, const struct wb_engine_params *p, struct wb_engine **out)
{
	const struct wb_engine_ops *ops = reg_lookup(engine);
	int ret;

	if (!ops)
		return -ENOENT;
	*out = NULL;
	ret = ops->open(p, out);
	if (ret < 0)
		return ret;
	if (!(*out)->ops)
		(*out)->ops = ops;
	if (!(*out)->name[0])
		snprintf((*out)->name, sizeof((*out)->name), "%s", p->name ? p->name : engine);
	return 0;
}

/* Synchronous wrappers. */
struct sync_state {
	int done;
	int err;
};

static void sync_done(struct wb_req *r, int err)
{
	struct sync_state *s = r->priv;

	s->err = err;
	s->done = 1;
}

int wb_engine_sync(struct wb_engine *e, struct wb_req *r)
{
	struct sync_state s = {0, 0};
	int ret, logged = 0;

	r->done = sync_done;
	r->priv = &s;
	ret = wb_engine_submit(e, r);
	if (ret < 0) {
		r->priv = NULL; /* s goes out of scope */
		return ret;
	}
	/* done() is called exactly once: we must not return before it. */
	while (!s.done) {
		ret = wb_engine_run(e, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && !logged++)
			wb_msg(WB_LOG_ERR, "%s: engine run: %s (still waiting for a request)",
			       e->name, strerror(-ret));
	}
	return s.err;
}

int wb_engine_read(struct wb_engine *e, void *buf, uint32_t len, uint64_t off)
{
	struct wb_req r = {.op = WB_REQ_READ, .len = len, .off = off, .buf = buf};

	return wb_engine_sync(e, &r);
}

int wb_engine_write(struct wb_engine *e, const void *buf, uint32_t len, uint64_t off,
		    unsigned flags)
{
	struct wb_req r = {
	    .op = WB_REQ_WRITE, .flags = flags, .len = len, .off = off, .buf = (void *)buf};

	return wb_engine_sync(e, &r);
}

int wb_engine_flush(struct wb_engine *e)
{
	struct wb_req r = {.op = WB_REQ_FLUSH};

	return wb_engine_sync(e, &r);
}

static void meta_sync_done(void *arg, int err)
{
	struct sync_state *s = arg;

	s->err = err;
	s->done = 1;
}

int wb_engine_meta_update_sync(struct wb_engine *e, enum wb_meta_op op, const struct wb_meta *m)
{
	struct sync_state s = {0, 0};
	int ret, logged = 0;

	ret = wb_engine_meta_update(e, op, m, meta_sync_done, &s);
	if (ret < 0)
		return ret;
	while (!s.done) {
		ret = wb_engine_run(e, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && !logged++)
			wb_msg(WB_LOG_ERR,
			       "%s: engine run: %s (still waiting for a metadata update)", e->name,
			       strerror(-ret));
	}
	return s.err;
}
